/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzz target: the component wire format (src/protocol/component-wire.c,
 * issue 11 §2), the one reader and writer of the component dictionaries
 * that lvssd and the writer library send each other, and the writer
 * library's use of what it read, lvss_writer_components_from_wire()
 * (src/writer/components.c; the writer library reads the list through
 * lvss_event_context_read(), fuzz-event-context). lvssd's use, the
 * fan-out's read of an answer's out["components"]
 * (src/coordinator/fanout.c), is the same lvss_component_wire_read_list(),
 * each component handed to the session.
 * The input is a D-Bus value sent by another process.
 *
 * sd-bus validates the wire format before a reader sees a message, so what
 * a peer controls is any well-typed value: any signature in the variant and
 * any values in it. Fuzzing the raw wire bytes would spend the time in
 * sd-bus's own validation; instead the input is decoded into such a value
 * (the encoding, which gen-components-seeds.py also writes; decoded by
 * dbus-value.c, which fuzz-event-context shares):
 *
 *   input    := flags signature value-of-signature
 *   flags    := 1 byte; bit 0 = read_only (BackupComplete onward)
 *   a value  := y, b: 1 byte    n, q: 2 bytes    i, u: 4    x, t, d: 8 (LE)
 *               s, o, g: bytes up to a NUL (or the end)
 *               a<T>: a count byte, then that many T values
 *               v: a NUL-terminated signature, then one value of it
 *               (...), {..}: the members in order
 *
 * Missing bytes read as zero. A value sd-bus refuses to build (bad UTF-8,
 * bad object path, unix fds) ends the run: a peer cannot send it either.
 *
 * The contract checked:
 * - no crash, and lvss_component_wire_read_list() returns 0 exactly when
 *   the variant holds aa{sv} and every component follows the rules of
 *   component-wire.h, found by an independent walk of the message (known
 *   keys of their type and each at most once, a non-empty name, strings
 *   valid by basic/utf8.h, type and file_restore_status in range); unknown
 *   keys are skipped; otherwise -EBADMSG and the callback was never called;
 * - what it read, appended again with lvss_component_wire_append() and read
 *   back, is the same field by field (absent stays absent, "" stays "");
 * - the writer library makes a handler's set of what the module read, and
 *   that set, written back with lvss_writer_components_append_entry() and
 *   read again, is the same; its getters and setters behave (setters refuse
 *   with VSS_E_BAD_STATE when read-only).
 */

#include <errno.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>

#include "basic/utf8.h"
#include "dbus-value.h"
#include "fuzz.h"
#include "protocol/component-wire.h"
#include "writer/components.h"

/* What the reader should decide, found independently: is this an aa{sv} whose components follow the rules? */
static bool expect_valid(sd_bus_message *m) {
        static const struct {
                const char *key, *type;
        } known[] = {
                { "type", "u" },
                { "logical_path", "s" },
                { "name", "s" },
                { "selected", "b" },
                { "backup_succeeded", "b" },
                { "backup_metadata", "s" },
                { "backup_stamp", "s" },
                { "previous_backup_stamp", "s" },
                { "restore_metadata", "s" },
                { "file_restore_status", "u" },
                { "pre_restore_failure_msg", "s" },
                { "post_restore_failure_msg", "s" },
        };
        const char *contents;
        char type;
        bool valid = true;

        fuzz_check(sd_bus_message_peek_type(m, &type, &contents) > 0);
        if (type != 'v' || strcmp(contents, "aa{sv}") != 0)
                return false;
        fuzz_check(sd_bus_message_enter_container(m, 'v', "aa{sv}") > 0);
        fuzz_check(sd_bus_message_enter_container(m, 'a', "a{sv}") > 0);
        while (sd_bus_message_enter_container(m, 'a', "{sv}") > 0) {
                bool seen[sizeof known / sizeof known[0]] = {};
                bool has_name = false;

                while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                        const char *key;
                        size_t i;

                        fuzz_check(sd_bus_message_read_basic(m, 's', &key) > 0);
                        fuzz_check(sd_bus_message_peek_type(m, &type, &contents) > 0);
                        for (i = 0; i < sizeof known / sizeof known[0]; i++)
                                if (strcmp(key, known[i].key) == 0)
                                        break;
                        if (i == sizeof known / sizeof known[0]) {
                                fuzz_check(sd_bus_message_skip(m, "v") >= 0);
                        } else if (seen[i] || strcmp(contents, known[i].type) != 0) {
                                valid = false;
                                fuzz_check(sd_bus_message_skip(m, "v") >= 0);
                        } else {
                                seen[i] = true;
                                fuzz_check(sd_bus_message_enter_container(m, 'v', contents) > 0);
                                if (known[i].type[0] == 's') {
                                        const char *v;

                                        fuzz_check(sd_bus_message_read_basic(m, 's', &v) > 0);
                                        if (!lvss_utf8_valid(v))
                                                valid = false;
                                        if (strcmp(key, "name") == 0)
                                                has_name = *v != 0;
                                } else if (known[i].type[0] == 'u') {
                                        uint32_t v;

                                        fuzz_check(sd_bus_message_read_basic(m, 'u', &v) > 0);
                                        if (v > (strcmp(key, "type") == 0 ? 2u : 3u)) /* FILEGROUP, RS_FAILED */
                                                valid = false;
                                } else
                                        fuzz_check(sd_bus_message_skip(m, "b") >= 0);
                                fuzz_check(sd_bus_message_exit_container(m) >= 0);
                        }
                        fuzz_check(sd_bus_message_exit_container(m) >= 0);
                }
                if (!has_name)
                        valid = false;
                fuzz_check(sd_bus_message_exit_container(m) >= 0);
        }
        return valid;
}

static bool str_eq(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

/* The module itself: what lvss_component_wire_read_list() gave, kept in order. */
typedef struct wire_list {
        lvss_wire_component items[256 * 2];
        size_t n;
} wire_list;

static int collect(const lvss_wire_component *c, void *userdata) {
        wire_list *l = userdata;

        fuzz_check(l->n < sizeof l->items / sizeof l->items[0]);
        l->items[l->n++] = *c;
        return 0;
}

static void check_same_wire(const lvss_wire_component *x, const lvss_wire_component *y) {
        fuzz_check(x->type == y->type);
        fuzz_check(str_eq(x->logical_path, y->logical_path));
        fuzz_check(str_eq(x->name, y->name));
        fuzz_check(x->selected == y->selected);
        fuzz_check(x->backup_succeeded == y->backup_succeeded);
        fuzz_check(str_eq(x->backup_metadata, y->backup_metadata));
        fuzz_check(str_eq(x->backup_stamp, y->backup_stamp));
        fuzz_check(str_eq(x->previous_backup_stamp, y->previous_backup_stamp));
        fuzz_check(str_eq(x->restore_metadata, y->restore_metadata));
        fuzz_check(x->has_file_restore_status == y->has_file_restore_status);
        fuzz_check(!x->has_file_restore_status || x->file_restore_status == y->file_restore_status);
        fuzz_check(str_eq(x->pre_restore_failure_msg, y->pre_restore_failure_msg));
        fuzz_check(str_eq(x->post_restore_failure_msg, y->post_restore_failure_msg));
}

/* Append what was read with the module, read it back, compare. */
static void wire_round_trip(const wire_list *l) {
        sd_bus_message *m = NULL;
        wire_list *back = calloc(1, sizeof *back);
        const char *key;

        fuzz_check(back);
        fuzz_check(fuzz_new_message(&m) >= 0);
        fuzz_check(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        fuzz_check(lvss_component_wire_open_list(m) >= 0);
        for (size_t i = 0; i < l->n; i++)
                fuzz_check(lvss_component_wire_append(m, &l->items[i]) >= 0);
        fuzz_check(lvss_component_wire_close_list(m) >= 0);
        fuzz_check(sd_bus_message_close_container(m) >= 0);
        fuzz_check(fuzz_seal(m) >= 0);
        fuzz_check(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
        fuzz_check(sd_bus_message_enter_container(m, 'e', "sv") > 0);
        fuzz_check(sd_bus_message_read_basic(m, 's', &key) > 0);
        fuzz_check(strcmp(key, LVSS_CW_ENTRY) == 0);
        fuzz_check(lvss_component_wire_read_list(m, collect, back) == 0);
        fuzz_check(back->n == l->n);
        for (size_t i = 0; i < l->n; i++)
                check_same_wire(&l->items[i], &back->items[i]);
        sd_bus_message_unref(m);
        free(back);
}

static void check_same(vss_writer_components *a, vss_writer_components *b) {
        fuzz_check(a->n_items == b->n_items);
        fuzz_check(a->read_only == b->read_only);
        for (unsigned i = 0; i < a->n_items; i++) {
                const vss_component *x = a->items[i], *y = b->items[i];

                fuzz_check(x->owner == a && y->owner == b);
                fuzz_check(x->type == y->type);
                fuzz_check(str_eq(x->logical_path, y->logical_path));
                fuzz_check(str_eq(x->name, y->name));
                fuzz_check(x->selected == y->selected);
                fuzz_check(x->backup_succeeded == y->backup_succeeded);
                fuzz_check(str_eq(x->backup_metadata, y->backup_metadata));
                fuzz_check(str_eq(x->backup_stamp, y->backup_stamp));
                fuzz_check(str_eq(x->previous_backup_stamp, y->previous_backup_stamp));
                fuzz_check(str_eq(x->restore_metadata, y->restore_metadata));
                fuzz_check(x->file_restore_status == y->file_restore_status);
                fuzz_check(str_eq(x->pre_restore_failure_msg, y->pre_restore_failure_msg));
                fuzz_check(str_eq(x->post_restore_failure_msg, y->post_restore_failure_msg));
        }
}

/* Write @c as the `components` entry, then read it back as the writer library does. */
static vss_writer_components *round_trip(vss_writer_components *c) {
        sd_bus_message *m = NULL;
        vss_writer_components *back = NULL;
        wire_list *l = calloc(1, sizeof *l);
        const char *key;

        fuzz_check(l);
        fuzz_check(fuzz_new_message(&m) >= 0);
        fuzz_check(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        fuzz_check(lvss_writer_components_append_entry(m, c) >= 0);
        fuzz_check(sd_bus_message_close_container(m) >= 0);
        fuzz_check(fuzz_seal(m) >= 0);
        fuzz_check(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
        fuzz_check(sd_bus_message_enter_container(m, 'e', "sv") > 0);
        fuzz_check(sd_bus_message_read_basic(m, 's', &key) > 0);
        fuzz_check(strcmp(key, "components") == 0);
        fuzz_check(lvss_component_wire_read_list(m, collect, l) == 0);
        fuzz_check(lvss_writer_components_from_wire(l->items, l->n, c->read_only, &back) == 0);
        sd_bus_message_unref(m); /* after: the wire strings are the message's */
        free(l);
        return back;
}

static void use_api(vss_writer_components *c) {
        unsigned n;
        vss_component *item;

        fuzz_check(vss_writer_components_get_count(c, &n) == VSS_S_OK);
        fuzz_check(n == c->n_items);
        fuzz_check(vss_writer_components_get_component(c, n, &item) == VSS_E_OBJECT_NOT_FOUND);
        for (unsigned i = 0; i < n; i++) {
                const char *s;
                vss_hresult hr;

                fuzz_check(vss_writer_components_get_component(c, i, &item) == VSS_S_OK);
                s = vss_component_get_logical_path(item);
                fuzz_check(!s || *s);
                fuzz_check(vss_component_get_name(item));
                fuzz_check((unsigned) vss_component_get_type(item) <= VSS_CT_FILEGROUP);
                fuzz_check((unsigned) vss_component_get_file_restore_status(item) <= VSS_RS_FAILED);
                (void) vss_component_is_selected(item);
                (void) vss_component_get_backup_succeeded(item);
                (void) vss_component_get_backup_metadata(item);
                (void) vss_component_get_previous_backup_stamp(item);
                (void) vss_component_get_restore_metadata(item);

                hr = vss_component_set_backup_stamp(item, "fuzz-stamp");
                fuzz_check(hr == (c->read_only ? VSS_E_BAD_STATE : VSS_S_OK));
                if (!c->read_only)
                        fuzz_check(str_eq(vss_component_get_backup_stamp(item), "fuzz-stamp"));
                fuzz_check(vss_component_set_backup_metadata(item, "\xff") == VSS_E_INVALIDARG);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_input in = { .p = data, .n = size };
        sd_bus_message *m = NULL;
        vss_writer_components *c = NULL, *back;
        wire_list *wl;
        uint8_t flags;
        char *sig;
        size_t k;
        bool valid;
        int r;

        fuzz_take(&in, &flags, 1);
        sig = fuzz_take_string(&in);
        k = strlen(sig);
        if (k == 0 || k > 255 || fuzz_type_len(sig) != k) {
                free(sig);
                return 0;
        }

        fuzz_check(fuzz_new_message(&m) >= 0);
        r = sd_bus_message_open_container(m, 'v', sig);
        if (r >= 0)
                r = fuzz_append_value(m, &in, sig);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        free(sig);
        if (r >= 0)
                r = fuzz_seal(m);
        if (r < 0) {
                /* not a value a peer can send */
                sd_bus_message_unref(m);
                return 0;
        }

        valid = expect_valid(m);

        /* The module: all or nothing, and a faithful round trip. */
        wl = calloc(1, sizeof *wl);
        fuzz_check(wl);
        fuzz_check(sd_bus_message_rewind(m, true) >= 0);
        r = lvss_component_wire_read_list(m, collect, wl);
        if (r != -ENOMEM) {
                if ((r == 0) != valid)
                        fprintf(stderr, "lvss_component_wire_read_list() says %d, the message is %s\n", r,
                                valid ? "valid" : "not valid");
                fuzz_check((r == 0) == valid);
                fuzz_check(r == 0 || r == -EBADMSG);
                fuzz_check(r == 0 || wl->n == 0);
        }

        /* The writer library on top of it: what a handler gets of the list the module read
         * (writer.c, after lvss_event_context_read()). */
        if (r == 0) {
                wire_round_trip(wl);
                r = lvss_writer_components_from_wire(wl->items, wl->n, flags & 1, &c);
                fuzz_check(r == 0 || r == -ENOMEM);
        }
        if (r == 0) {
                back = round_trip(c);
                check_same(c, back);
                use_api(c);
                lvss_writer_components_free(back);
                lvss_writer_components_free(c);
        }
        sd_bus_message_unref(m); /* last: the wire strings are the message's */
        free(wl);
        return 0;
}

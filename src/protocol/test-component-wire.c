/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Unit test of the component wire format (component-wire.h, issue 11 §2
 * "the component wire format ... one module, both directions, a round-trip
 * test"): lvssd and the writer library both write and read the component
 * dictionaries through it, so what one appends the other must read back
 * field by field, and what neither may send is refused the same way on
 * both sides.
 *
 * Messages are real sd-bus messages on one end of a socketpair (a message
 * needs a started bus), sealed and read as a receiver would.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "protocol/component-wire.h"
#include "protocol/test-bus.h"


static sd_bus_message *new_message(void) {
        sd_bus_message *m = NULL;

        assert_int_equal(sd_bus_message_new_signal(test_bus, &m, "/test", "org.lvss.Test", "Components"), 0);
        return m;
}

static void seal(sd_bus_message *m) {
        static uint64_t cookie;

        assert_int_equal(sd_bus_message_seal(m, ++cookie, 0), 0);
        assert_int_equal(sd_bus_message_rewind(m, true), 1);
}

/* A message holding a{sv} with only the `components` entry, as both sides send it. */
static sd_bus_message *message_with(const lvss_wire_component *items, size_t n) {
        sd_bus_message *m = new_message();

        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_int_equal(lvss_component_wire_open_list(m), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(lvss_component_wire_append(m, &items[i]), 0);
        assert_int_equal(lvss_component_wire_close_list(m), 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);
        return m;
}

/* Position @m (made by message_with) at the entry's variant, as the two readers are. */
static void enter_entry(sd_bus_message *m) {
        const char *key;

        assert_int_equal(sd_bus_message_enter_container(m, 'a', "{sv}"), 1);
        assert_int_equal(sd_bus_message_enter_container(m, 'e', "sv"), 1);
        assert_int_equal(sd_bus_message_read_basic(m, 's', &key), 1);
        assert_string_equal(key, "components");
}

typedef struct collected {
        lvss_wire_component *items;
        size_t n, allocated;
        size_t calls;
        int fail_at; /* return -ENOENT from this call (1-based); 0: never */
} collected;

static int collect(const lvss_wire_component *c, void *userdata) {
        collected *l = userdata;

        l->calls++;
        if (l->fail_at > 0 && l->calls == (size_t) l->fail_at)
                return -ENOENT;
        if (l->n == l->allocated) {
                l->allocated = l->allocated ? l->allocated * 2 : 16;
                l->items = reallocarray(l->items, l->allocated, sizeof *l->items);
                assert_non_null(l->items);
        }
        l->items[l->n++] = *c;
        return 0;
}

static void assert_str_same(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b); /* NULL (absent) stays NULL */
        else
                assert_string_equal(a, b);
}

static void assert_same(const lvss_wire_component *x, const lvss_wire_component *y) {
        assert_int_equal(x->type, y->type);
        assert_str_same(x->logical_path, y->logical_path);
        assert_str_same(x->name, y->name);
        assert_int_equal(x->selected, y->selected);
        assert_int_equal(x->backup_succeeded, y->backup_succeeded);
        assert_str_same(x->backup_metadata, y->backup_metadata);
        assert_str_same(x->backup_stamp, y->backup_stamp);
        assert_str_same(x->previous_backup_stamp, y->previous_backup_stamp);
        assert_str_same(x->restore_metadata, y->restore_metadata);
        assert_int_equal(x->has_file_restore_status, y->has_file_restore_status);
        assert_int_equal(x->file_restore_status, y->file_restore_status);
        assert_str_same(x->pre_restore_failure_msg, y->pre_restore_failure_msg);
        assert_str_same(x->post_restore_failure_msg, y->post_restore_failure_msg);
}

/* Append @items, read them back with lvss_component_wire_read_list(), compare every field. */
static void round_trip(const lvss_wire_component *items, size_t n) {
        sd_bus_message *m = message_with(items, n);
        collected back = {};

        enter_entry(m);
        assert_int_equal(lvss_component_wire_read_list(m, collect, &back), 0);
        /* the reader leaves @m after the variant: the dict entry closes */
        assert_int_equal(sd_bus_message_exit_container(m), 1);
        assert_int_equal(back.n, n);
        for (size_t i = 0; i < n; i++)
                assert_same(&items[i], &back.items[i]);
        free(back.items);
        sd_bus_message_unref(m);
}

static const lvss_wire_component full = {
        .type = VSS_CT_FILEGROUP,
        .logical_path = "etc/app",
        .name = "config",
        .selected = true,
        .backup_succeeded = true,
        .backup_metadata = "<meta/>",
        .backup_stamp = "lsn=42",
        .previous_backup_stamp = "lsn=41",
        .restore_metadata = "restore: d\xc3\xa9j\xc3\xa0 \xf0\x9f\x98\x80",
        .has_file_restore_status = true,
        .file_restore_status = VSS_RS_FAILED,
        .pre_restore_failure_msg = "pre",
        .post_restore_failure_msg = "post",
};

/* Every field, set; then only the name, everything else absent; then present but empty strings. */
static void test_round_trip_fields(void **state) {
        lvss_wire_component minimal = { .name = "main" };
        lvss_wire_component empty = full;

        round_trip(&full, 1);
        round_trip(&minimal, 1);

        empty.logical_path = "";
        empty.backup_metadata = "";
        empty.backup_stamp = "";
        empty.previous_backup_stamp = "";
        empty.restore_metadata = "";
        empty.pre_restore_failure_msg = "";
        empty.post_restore_failure_msg = "";
        empty.has_file_restore_status = false;
        empty.file_restore_status = 0;
        empty.selected = false;
        empty.type = VSS_CT_UNDEFINED;
        round_trip(&empty, 1);
}

/* What lvssd sends in a backup (no file_restore_status) and a restore, and the writer's answer. */
static void test_round_trip_list(void **state) {
        lvss_wire_component items[3] = { full, full, { .type = VSS_CT_DATABASE, .name = "db", .selected = true } };

        items[0].has_file_restore_status = false;
        items[0].file_restore_status = 0;
        items[1].logical_path = NULL;
        items[1].name = "other";
        round_trip(items, 3);
        round_trip(items, 0); /* an empty list is a list */
}

/* Limits: a 1 MiB string travels whole; LVSS_COMPONENT_WIRE_MAX components are read, one more is refused. */
static void test_limits(void **state) {
        size_t big = (size_t) 1 << 20;
        char *s = malloc(big + 1);
        lvss_wire_component c = full, *many;
        sd_bus_message *m;
        collected back = {};

        assert_non_null(s);
        memset(s, 'x', big);
        s[big] = 0;
        c.backup_metadata = s;
        round_trip(&c, 1);
        free(s);

        many = calloc(LVSS_COMPONENT_WIRE_MAX + 1, sizeof *many);
        assert_non_null(many);
        for (size_t i = 0; i <= LVSS_COMPONENT_WIRE_MAX; i++)
                many[i].name = "n";
        round_trip(many, LVSS_COMPONENT_WIRE_MAX);

        m = message_with(many, LVSS_COMPONENT_WIRE_MAX + 1);
        enter_entry(m);
        assert_int_equal(lvss_component_wire_read_list(m, collect, &back), -EBADMSG);
        assert_int_equal(back.calls, 0); /* nothing half applied */
        sd_bus_message_unref(m);
        free(many);
}

/* What the reader would refuse, the writer refuses to append: -EINVAL, and the message stays usable. */
static void test_append_refuses(void **state) {
        lvss_wire_component bad[] = { full, full, full, full, full, full, full, full };
        sd_bus_message *m = new_message();
        size_t n = 0;

        bad[n++].name = NULL;
        bad[n++].name = "";
        bad[n++].type = VSS_CT_FILEGROUP + 1;
        bad[n++].file_restore_status = VSS_RS_FAILED + 1;
        bad[n++].backup_stamp = "\xff";                  /* not UTF-8 */
        bad[n++].restore_metadata = "\xef\xbf\xbe";      /* U+FFFE, a non-character */
        bad[n++].logical_path = "\xed\xa0\x80";          /* a surrogate */
        bad[n++].post_restore_failure_msg = "\xc0\x80";  /* an overlong NUL */

        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_int_equal(lvss_component_wire_open_list(m), 0);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(lvss_component_wire_valid(&bad[i]), -EINVAL);
                assert_int_equal(lvss_component_wire_append(m, &bad[i]), -EINVAL);
        }
        assert_int_equal(lvss_component_wire_append(m, NULL), -EINVAL);
        assert_int_equal(lvss_component_wire_append(NULL, &full), -EINVAL);
        /* a status out of range is not sent when it is not sent at all */
        bad[3].has_file_restore_status = false;
        assert_int_equal(lvss_component_wire_append(m, &bad[3]), 0);
        assert_int_equal(lvss_component_wire_close_list(m), 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);
        sd_bus_message_unref(m);
}

/* ---- the reader on hand-built values a peer could send ---------------------------------- */

typedef enum {
        ENT_END,
        ENT_S, /* key, string */
        ENT_U, /* key, uint32 */
        ENT_B, /* key, bool */
        ENT_AS, /* key, one string in an "as" (an unknown key with a container value) */
        ENT_NEXT, /* next component */
} ent;

/* Build the entry's variant from (kind, key, value) triples, ENT_NEXT between components, ENT_END last. */
static sd_bus_message *message_raw(const char *variant_sig, ...) {
        sd_bus_message *m = new_message();
        va_list ap;

        assert_true(sd_bus_message_open_container(m, 'v', variant_sig) >= 0);
        if (strcmp(variant_sig, "aa{sv}") == 0) {
                assert_true(sd_bus_message_open_container(m, 'a', "a{sv}") >= 0);
                assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
                va_start(ap, variant_sig);
                for (;;) {
                        ent kind = va_arg(ap, ent);
                        const char *key;

                        if (kind == ENT_END)
                                break;
                        if (kind == ENT_NEXT) {
                                assert_true(sd_bus_message_close_container(m) >= 0);
                                assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
                                continue;
                        }
                        key = va_arg(ap, const char *);
                        switch (kind) {
                        case ENT_S:
                                assert_true(sd_bus_message_append(m, "{sv}", key, "s", va_arg(ap, const char *)) >= 0);
                                break;
                        case ENT_U:
                                assert_true(sd_bus_message_append(m, "{sv}", key, "u", va_arg(ap, uint32_t)) >= 0);
                                break;
                        case ENT_B:
                                assert_true(sd_bus_message_append(m, "{sv}", key, "b", va_arg(ap, int)) >= 0);
                                break;
                        default:
                                assert_true(sd_bus_message_append(m, "{sv}", key, "as", 1, va_arg(ap, const char *)) >= 0);
                                break;
                        }
                }
                va_end(ap);
                assert_true(sd_bus_message_close_container(m) >= 0);
                assert_true(sd_bus_message_close_container(m) >= 0);
        } else
                assert_true(sd_bus_message_append(m, "s", "not components") >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);
        return m;
}

static int read_raw(sd_bus_message *m, collected *back) {
        int r = lvss_component_wire_read_list(m, collect, back);

        sd_bus_message_unref(m);
        return r;
}

/* component-wire.h: each refusal is -EBADMSG for the whole list, and the callback never ran. */
static void test_read_refuses(void **state) {
        collected back = {};

#define REFUSED(msg)                                                    \
        do {                                                            \
                back = (collected) {};                                  \
                assert_int_equal(read_raw(msg, &back), -EBADMSG);       \
                assert_int_equal(back.calls, 0);                        \
                free(back.items);                                       \
        } while (0)

        /* the variant holds something else */
        REFUSED(message_raw("s", ENT_END));
        /* a known key with another type, in the first or a later component */
        REFUSED(message_raw("aa{sv}", ENT_U, "name", (uint32_t) 1, ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_S, "type", "FILEGROUP", ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_U, "selected", (uint32_t) 1, ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_B, "backup_stamp", 1, ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_NEXT, ENT_S, "name", "b", ENT_B,
                            "file_restore_status", 0, ENT_END));
        /* a key twice */
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_S, "name", "a", ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_B, "selected", 1, ENT_B, "selected", 1, ENT_END));
        /* no name, an empty name */
        REFUSED(message_raw("aa{sv}", ENT_S, "logical_path", "x", ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "", ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_NEXT, ENT_END));
        /* enums out of range */
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_U, "type", (uint32_t) VSS_CT_FILEGROUP + 1, ENT_END));
        REFUSED(message_raw("aa{sv}", ENT_S, "name", "a", ENT_U, "file_restore_status",
                            (uint32_t) VSS_RS_FAILED + 1, ENT_END));
#undef REFUSED
}

/* Unknown keys, of any type, are skipped (a newer peer may send more); absent keys read as absent. */
static void test_read_skips_unknown(void **state) {
        sd_bus_message *m = message_raw("aa{sv}", ENT_AS, "future", "x", ENT_S, "name", "a", ENT_U, "another",
                                        (uint32_t) 7, ENT_U, "type", (uint32_t) VSS_CT_DATABASE, ENT_END);
        collected back = {};

        assert_int_equal(lvss_component_wire_read_list(m, collect, &back), 0);
        assert_int_equal(back.n, 1);
        /* the strings are borrowed from the message: checked before it goes */
        assert_string_equal(back.items[0].name, "a");
        assert_int_equal(back.items[0].type, VSS_CT_DATABASE);
        assert_null(back.items[0].logical_path);
        assert_null(back.items[0].backup_metadata);
        assert_false(back.items[0].selected);
        assert_false(back.items[0].has_file_restore_status);
        free(back.items);
        sd_bus_message_unref(m);
}

/*
 * A string with U+FFFE: lvss's rule (basic/utf8.h) refuses it. sd-bus
 * refuses it too when it is appended, so a peer cannot send one; if this
 * sd-bus ever lets it through, the reader must still refuse it.
 */
static void test_read_noncharacter(void **state) {
        sd_bus_message *m = new_message();
        collected back = {};
        int r;

        assert_true(sd_bus_message_open_container(m, 'v', "aa{sv}") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "a{sv}") >= 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "name", "s", "a") >= 0);
        r = sd_bus_message_append(m, "{sv}", "backup_stamp", "s", "\xef\xbf\xbe");
        if (r < 0) {
                assert_int_equal(r, -EINVAL);
                sd_bus_message_unref(m);
                return;
        }
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);
        assert_int_equal(read_raw(m, &back), -EBADMSG);
        assert_int_equal(back.calls, 0);
}

/* A callback's error stops the walk and is returned; arguments are checked. */
static void test_callback_error(void **state) {
        lvss_wire_component items[3] = { full, full, full };
        sd_bus_message *m = message_with(items, 3);
        collected back = { .fail_at = 2 };

        enter_entry(m);
        assert_int_equal(lvss_component_wire_read_list(m, NULL, NULL), -EINVAL);
        assert_int_equal(lvss_component_wire_read_list(NULL, collect, &back), -EINVAL);
        assert_int_equal(lvss_component_wire_read_list(m, collect, &back), -ENOENT);
        assert_int_equal(back.calls, 2);
        assert_int_equal(back.n, 1);
        free(back.items);
        sd_bus_message_unref(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_fields),
                cmocka_unit_test(test_round_trip_list),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_append_refuses),
                cmocka_unit_test(test_read_refuses),
                cmocka_unit_test(test_read_skips_unknown),
                cmocka_unit_test(test_read_noncharacter),
                cmocka_unit_test(test_callback_error),
        };

        return cmocka_run_group_tests(tests, test_bus_setup, test_bus_teardown);
}

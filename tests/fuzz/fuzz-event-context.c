/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzz target: the reader of a writer event's context,
 * lvss_event_context_read() (src/protocol/event-context.c, issue 11 §2: one
 * module, both directions), which the writer library runs on the a{sv} of
 * every Writer1.Event call lvssd (or anyone who reaches the writer's
 * connection) sends it.
 *
 * The input is one D-Bus value, the one the reader finds where the context
 * should be, decoded by dbus-value.c (the encoding is in dbus-value.h;
 * gen-event-context-seeds.py writes the seeds):
 *
 *   input := signature value-of-signature
 *
 * The contract checked:
 * - no crash; the result is 0, -EBADMSG or -ENOMEM, and on failure the
 *   output is untouched;
 * - 0 exactly when the value is an a{sv} whose known keys (spelled out here,
 *   not taken from event-context.h) each hold their type, snapshot_set_id
 *   16 bytes, and whose `components` list lvss_component_wire_read_list()
 *   accepts (its own rules, fuzzed by fuzz-components), found by an
 *   independent walk of the message; unknown keys are skipped;
 * - what was read is what the walk saw, key by key, the last time each key
 *   came: backup_type and restore_type clamped to "undefined" above the
 *   last type this library knows; an absent key reads as zero / false / no
 *   list; the value is read whole.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "dbus-value.h"
#include "fuzz.h"
#include "protocol/component-wire.h"
#include "protocol/event-context.h"

enum {
        K_BACKUP_TYPE,
        K_SELECT_COMPONENTS,
        K_BOOTABLE_SYSTEM_STATE,
        K_PARTIAL_FILE_SUPPORT,
        K_CONTEXT,
        K_RESTORE_TYPE,
        K_SNAPSHOT_SET_ID,
        K_VOLUMES,
        K_SNAPSHOT_VOLUMES,
        K_SET_ATOMIC,
        K_AUTO_RECOVERY,
        K_SNAPSHOT_PATHS,
        K_COMPONENTS,
        K_COUNT,
};

/* The keys and their types as docs/dbus-interface.md lists them. */
static const struct {
        const char *key, *signature;
} known[K_COUNT] = {
        [K_BACKUP_TYPE] = { "backup_type", "u" },
        [K_SELECT_COMPONENTS] = { "select_components", "b" },
        [K_BOOTABLE_SYSTEM_STATE] = { "bootable_system_state", "b" },
        [K_PARTIAL_FILE_SUPPORT] = { "partial_file_support", "b" },
        [K_CONTEXT] = { "context", "i" },
        [K_RESTORE_TYPE] = { "restore_type", "u" },
        [K_SNAPSHOT_SET_ID] = { "snapshot_set_id", "ay" },
        [K_VOLUMES] = { "volumes", "as" },
        [K_SNAPSHOT_VOLUMES] = { "snapshot_volumes", "a(ssb)" },
        [K_SET_ATOMIC] = { "set_atomic", "b" },
        [K_AUTO_RECOVERY] = { "auto_recovery", "b" },
        [K_SNAPSHOT_PATHS] = { "snapshot_paths", "a{ss}" },
        [K_COMPONENTS] = { "components", "aa{sv}" },
};

/* What the walk found: whether the reader must accept, and each known key's last value as text
 * (NULL: the key did not come). */
typedef struct walk {
        bool valid;
        bool unsure; /* out of memory in the walk's own use of component-wire: no verdict */
        char *text[K_COUNT];
} walk;

/* Strings carry their length, so that no two different lists print the same. */
static void print_string(FILE *f, const char *s) {
        fprintf(f, "'%zu:%s'", strlen(s), s);
}

static void print_id(FILE *f, const uint8_t *bytes) {
        for (size_t i = 0; i < 16; i++)
                fprintf(f, "%02x", bytes[i]);
}

static uint32_t clamp(unsigned k, uint32_t u) {
        if (k == K_BACKUP_TYPE)
                return u <= VSS_BT_OTHER ? u : VSS_BT_UNDEFINED;
        if (k == K_RESTORE_TYPE)
                return u <= VSS_RTYPE_OTHER ? u : VSS_RTYPE_UNDEFINED;
        return u;
}

static int count_component(const lvss_wire_component *c, void *userdata) {
        (*(size_t *) userdata)++;
        return 0;
}

/* The value of known key @k, whose variant (of the right type) is next in @m, printed to @f.
 * Return: 1, 0 when the reader must refuse it, -ENOMEM when the walk cannot tell. */
static int walk_value(sd_bus_message *m, unsigned k, FILE *f) {
        const char *a, *b;
        const void *p;
        uint32_t u;
        int32_t i;
        size_t n;
        int flag;

        if (k == K_COMPONENTS) {
                int r;

                n = 0;
                r = lvss_component_wire_read_list(m, count_component, &n);
                if (r == -ENOMEM)
                        return r;
                fuzz_check(r == 0 || r == -EBADMSG);
                fprintf(f, "%zu components", n);
                return r == 0;
        }

        fuzz_check(sd_bus_message_enter_container(m, 'v', known[k].signature) > 0);
        switch (known[k].signature[0]) {
        case 'u':
                fuzz_check(sd_bus_message_read_basic(m, 'u', &u) > 0);
                fprintf(f, "%" PRIu32, clamp(k, u));
                break;
        case 'i':
                fuzz_check(sd_bus_message_read_basic(m, 'i', &i) > 0);
                fprintf(f, "%" PRIi32, i);
                break;
        case 'b':
                fuzz_check(sd_bus_message_read_basic(m, 'b', &flag) > 0);
                fputs(flag ? "true" : "false", f);
                break;
        default:
                if (k == K_SNAPSHOT_SET_ID) {
                        fuzz_check(sd_bus_message_read_array(m, 'y', &p, &n) > 0);
                        if (n != 16)
                                return 0;
                        print_id(f, p);
                        break;
                }
                fuzz_check(sd_bus_message_enter_container(m, 'a', known[k].signature + 1) > 0);
                for (;;) {
                        int r;

                        if (k == K_VOLUMES)
                                r = sd_bus_message_read_basic(m, 's', &a);
                        else if (k == K_SNAPSHOT_VOLUMES)
                                r = sd_bus_message_read(m, "(ssb)", &a, &b, &flag);
                        else
                                r = sd_bus_message_read(m, "{ss}", &a, &b);
                        fuzz_check(r >= 0);
                        if (r == 0)
                                break;
                        fputc('[', f);
                        print_string(f, a);
                        if (k != K_VOLUMES) {
                                fputc(' ', f);
                                print_string(f, b);
                        }
                        if (k == K_SNAPSHOT_VOLUMES)
                                fputs(flag ? " true" : " false", f);
                        fputc(']', f);
                }
                fuzz_check(sd_bus_message_exit_container(m) >= 0);
                break;
        }
        fuzz_check(sd_bus_message_exit_container(m) >= 0);
        return 1;
}

/* Walk the value at the start of @m without the module: its verdict and what it holds. */
static void walk_message(sd_bus_message *m, walk *w) {
        const char *contents;
        char type;

        w->valid = false;
        fuzz_check(sd_bus_message_peek_type(m, &type, &contents) > 0);
        if (type != 'a' || strcmp(contents, "{sv}") != 0)
                return;
        fuzz_check(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                const char *key;
                unsigned k;

                fuzz_check(sd_bus_message_read_basic(m, 's', &key) > 0);
                fuzz_check(sd_bus_message_peek_type(m, &type, &contents) > 0);
                for (k = 0; k < K_COUNT; k++)
                        if (strcmp(key, known[k].key) == 0)
                                break;
                if (k == K_COUNT) {
                        fuzz_check(sd_bus_message_skip(m, "v") >= 0);
                } else if (strcmp(contents, known[k].signature) != 0) {
                        return; /* a known key with another type */
                } else {
                        size_t size = 0;
                        char *text = NULL;
                        FILE *f = open_memstream(&text, &size);
                        int r;

                        fuzz_check(f);
                        r = walk_value(m, k, f);
                        fuzz_check(fclose(f) == 0);
                        free(w->text[k]); /* a key twice counts the last time */
                        w->text[k] = text;
                        if (r <= 0) {
                                w->unsure = r < 0;
                                return;
                        }
                }
                fuzz_check(sd_bus_message_exit_container(m) >= 0);
        }
        fuzz_check(sd_bus_message_exit_container(m) >= 0);
        w->valid = true;
}

/* Key @k of what the reader gave, printed as walk_value() prints it; NULL when it says the key
 * did not come (the keys without a has_ flag: their value must then be zero, checked by the
 * caller). */
static char *print_read(const lvss_event_context_received *c, unsigned k) {
        size_t size = 0;
        char *text = NULL;
        FILE *f = open_memstream(&text, &size);

        fuzz_check(f);
        switch (k) {
        case K_BACKUP_TYPE:
                fprintf(f, "%" PRIu32, c->backup_type);
                break;
        case K_SELECT_COMPONENTS:
                fputs(c->select_components ? "true" : "false", f);
                break;
        case K_BOOTABLE_SYSTEM_STATE:
                fputs(c->bootable_system_state ? "true" : "false", f);
                break;
        case K_PARTIAL_FILE_SUPPORT:
                fputs(c->partial_file_support ? "true" : "false", f);
                break;
        case K_CONTEXT:
                fprintf(f, "%" PRIi32, c->context);
                break;
        case K_RESTORE_TYPE:
                fprintf(f, "%" PRIu32, c->restore_type);
                break;
        case K_SNAPSHOT_SET_ID:
                print_id(f, c->set_id.bytes);
                break;
        case K_VOLUMES:
                for (size_t i = 0; i < c->n_volumes; i++) {
                        fputc('[', f);
                        print_string(f, c->volumes[i]);
                        fputc(']', f);
                }
                break;
        case K_SNAPSHOT_VOLUMES:
                for (size_t i = 0; i < c->n_snapshot_volumes; i++) {
                        fuzz_check(!c->snapshot_volumes[i].snapshot_path);
                        fputc('[', f);
                        print_string(f, c->snapshot_volumes[i].volume);
                        fputc(' ', f);
                        print_string(f, c->snapshot_volumes[i].provider);
                        fputs(c->snapshot_volumes[i].atomic ? " true" : " false", f);
                        fputc(']', f);
                }
                break;
        case K_SET_ATOMIC:
                fputs(c->set_atomic ? "true" : "false", f);
                break;
        case K_AUTO_RECOVERY:
                fputs(c->auto_recovery ? "true" : "false", f);
                break;
        case K_SNAPSHOT_PATHS:
                for (size_t i = 0; i < c->n_snapshot_paths; i++) {
                        fuzz_check(!c->snapshot_paths[i].provider);
                        fputc('[', f);
                        print_string(f, c->snapshot_paths[i].volume);
                        fputc(' ', f);
                        print_string(f, c->snapshot_paths[i].snapshot_path);
                        fputc(']', f);
                }
                break;
        default:
                fprintf(f, "%zu components", c->n_components);
                break;
        }
        fuzz_check(fclose(f) == 0);
        return text;
}

/* Whether key @k came, by the reader's has_ flag; -1 for a key without one. */
static int read_has(const lvss_event_context_received *c, unsigned k) {
        switch (k) {
        case K_RESTORE_TYPE:
                return c->has_restore_type;
        case K_SNAPSHOT_SET_ID:
                return c->has_set_id;
        case K_VOLUMES:
                return c->has_volumes;
        case K_SNAPSHOT_VOLUMES:
                return c->has_snapshot_kind;
        case K_SNAPSHOT_PATHS:
                return c->has_snapshot_paths;
        case K_COMPONENTS:
                return c->has_components;
        default:
                return -1;
        }
}

static void check_read(const lvss_event_context_received *c, const walk *w) {
        static const lvss_event_context_received zero = {};

        for (unsigned k = 0; k < K_COUNT; k++) {
                char *text = print_read(c, k), *zero_text = print_read(&zero, k);
                int has = read_has(c, k);

                if (has >= 0)
                        fuzz_check(has == !!w->text[k]);
                /* absent: what an all-zero context says (no list, false, 0, the null id) */
                if (strcmp(text, w->text[k] ? w->text[k] : zero_text) != 0)
                        fprintf(stderr, "%s: read %s, the message holds %s\n", known[k].key, text,
                                w->text[k] ? w->text[k] : "nothing");
                fuzz_check(strcmp(text, w->text[k] ? w->text[k] : zero_text) == 0);
                free(text);
                free(zero_text);
        }
        for (size_t i = 0; i < c->n_components; i++)
                fuzz_check(lvss_component_wire_valid(&c->components[i]) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_input in = { .p = data, .n = size };
        lvss_event_context_received got, before;
        sd_bus_message *m = NULL;
        walk w = {};
        char *sig;
        size_t k;
        int r;

        sig = fuzz_take_string(&in);
        k = strlen(sig);
        if (k == 0 || k > 255 || fuzz_type_len(sig) != k) {
                free(sig);
                return 0;
        }
        fuzz_check(fuzz_new_message(&m) >= 0);
        r = fuzz_append_value(m, &in, sig);
        free(sig);
        if (r >= 0)
                r = fuzz_seal(m);
        if (r < 0) {
                /* not a value a peer can send */
                sd_bus_message_unref(m);
                return 0;
        }

        walk_message(m, &w);

        fuzz_check(sd_bus_message_rewind(m, true) >= 0);
        memset(&got, 0xa5, sizeof got);
        before = got;
        r = lvss_event_context_read(m, &got);
        fuzz_check(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0)
                fuzz_check(memcmp(&got, &before, sizeof got) == 0); /* untouched */
        if (r != -ENOMEM && !w.unsure) {
                if ((r == 0) != w.valid)
                        fprintf(stderr, "lvss_event_context_read() says %d, the message is %s\n", r,
                                w.valid ? "valid" : "not valid");
                fuzz_check((r == 0) == w.valid);
        }
        if (r == 0) {
                const char *contents;
                char type;

                fuzz_check(sd_bus_message_peek_type(m, &type, &contents) == 0); /* read whole */
                check_read(&got, &w);
                lvss_event_context_received_done(&got);
        }

        for (unsigned i = 0; i < K_COUNT; i++)
                free(w.text[i]);
        sd_bus_message_unref(m); /* last: what was read borrowed its strings */
        return 0;
}

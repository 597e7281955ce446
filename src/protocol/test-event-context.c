/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Unit test of a writer event's context as plain data (event-context.h,
 * issue 11 §2 "D-Bus stays at the edge; the layers run one way"): lvssd's
 * session fills an lvss_event_context, the fan-out packs it with
 * lvss_event_context_append(). The wire format must not change by one byte
 * (the writer library, src/writer/writer.c, reads it as before), so each
 * case packs a context as a session in that state fills it, reads the
 * message back key by key with a reader that knows nothing of the module
 * (it prints any D-Bus value), and compares every key, its signature and
 * its value, in order, with a list written out here from what lvssd sent
 * before the change (session_context(), context_append_set(),
 * context_append_snapshot_kind() and entry_append_components() of
 * src/coordinator before issue 11 §2's second step). The type signatures
 * and the values in their order are what makes the bytes.
 *
 * The other direction (issue 11 §2 "one module, both directions, a
 * round-trip test"): every case is also read back with
 * lvss_event_context_read(), the writer library's reader, and must come back
 * as it was filled, entry for entry. Then what the reader refuses, clamps
 * and skips, on contexts built by hand, and its allocation failures.
 *
 * Messages are real sd-bus messages on one end of a socketpair (a message
 * needs a started bus), sealed and read as a receiver would.
 */

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "basic/test-alloc.h"
#include "basic/util.h"
#include "protocol/event-context.h"
#include "protocol/test-bus.h"


/* ---- a reader that knows any D-Bus value, and nothing of the module ------------------------- */

static void render(sd_bus_message *m, char type, const char *contents, FILE *out);

/* The values of the container @m is in, until its end, separated by ", ". */
static void render_items(sd_bus_message *m, FILE *out) {
        const char *contents;
        char type;
        bool first = true;

        while (sd_bus_message_peek_type(m, &type, &contents) > 0) {
                fputs(first ? "" : ", ", out);
                first = false;
                render(m, type, contents, out);
        }
}

/* One value: u, i, y as numbers (y in hex), b as true/false, s quoted; [array], (struct),
 * {key: value}, and a variant as its signature, ':', its value. */
static void render(sd_bus_message *m, char type, const char *contents, FILE *out) {
        const char *s;
        uint32_t u;
        int32_t i;
        uint8_t y;
        int b;

        switch (type) {
        case 'u':
                assert_int_equal(sd_bus_message_read_basic(m, type, &u), 1);
                fprintf(out, "%" PRIu32, u);
                return;
        case 'i':
                assert_int_equal(sd_bus_message_read_basic(m, type, &i), 1);
                fprintf(out, "%" PRIi32, i);
                return;
        case 'y':
                assert_int_equal(sd_bus_message_read_basic(m, type, &y), 1);
                fprintf(out, "%02x", y);
                return;
        case 'b':
                assert_int_equal(sd_bus_message_read_basic(m, type, &b), 1);
                fputs(b ? "true" : "false", out);
                return;
        case 's':
                assert_int_equal(sd_bus_message_read_basic(m, type, &s), 1);
                fprintf(out, "'%s'", s);
                return;
        case 'v':
                fprintf(out, "%s:", contents);
                break;
        case 'a':
                fputc('[', out);
                break;
        case 'r':
                fputc('(', out);
                break;
        case 'e':
                fputc('{', out);
                break;
        default:
                fail_msg("type '%c' is not in any context", type);
        }
        assert_int_equal(sd_bus_message_enter_container(m, type, contents), 1);
        if (type == 'e') {
                const char *kc;
                char kt;

                assert_int_equal(sd_bus_message_peek_type(m, &kt, &kc), 1);
                render(m, kt, kc, out);
                fputs(": ", out);
                assert_int_equal(sd_bus_message_peek_type(m, &kt, &kc), 1);
                render(m, kt, kc, out);
        } else if (type == 'v') {
                const char *vc;
                char vt;

                assert_int_equal(sd_bus_message_peek_type(m, &vt, &vc), 1);
                render(m, vt, vc, out);
        } else
                render_items(m, out);
        assert_int_equal(sd_bus_message_exit_container(m), 1);
        fputs(type == 'a' ? "]" : type == 'r' ? ")" : type == 'e' ? "}" : "", out);
}

/* One entry of the context as the test expects it: the key, the signature in its variant, the
 * value as render() prints it. */
typedef struct expect {
        const char *key;
        const char *signature;
        const char *value;
} expect;

/* ---- reading back ---------------------------------------------------------------------------- */

static const vss_id null_id = {};

static void assert_same_component(const lvss_wire_component *x, const lvss_wire_component *y) {
        assert_int_equal(x->type, y->type);
        assert_true(streq_ptr(x->logical_path, y->logical_path));
        assert_true(streq_ptr(x->name, y->name));
        assert_int_equal(x->selected, y->selected);
        assert_int_equal(x->backup_succeeded, y->backup_succeeded);
        assert_true(streq_ptr(x->backup_metadata, y->backup_metadata));
        assert_true(streq_ptr(x->backup_stamp, y->backup_stamp));
        assert_true(streq_ptr(x->previous_backup_stamp, y->previous_backup_stamp));
        assert_true(streq_ptr(x->restore_metadata, y->restore_metadata));
        assert_int_equal(x->has_file_restore_status, y->has_file_restore_status);
        assert_int_equal(x->file_restore_status, y->file_restore_status);
        assert_true(streq_ptr(x->pre_restore_failure_msg, y->pre_restore_failure_msg));
        assert_true(streq_ptr(x->post_restore_failure_msg, y->post_restore_failure_msg));
}

/* What the reader must give for a context packed from @c: every entry that was sent, with what
 * it was filled with, and nothing of what was not sent. */
static void check_read(const lvss_event_context *c, const lvss_event_context_received *got) {
        bool kind = c->has_set && c->has_snapshot_kind, paths = c->has_set && c->has_snapshot_paths;
        size_t n_paths = 0;

        assert_int_equal(got->backup_type, c->backup_type);
        assert_int_equal(got->select_components, c->select_components);
        assert_int_equal(got->bootable_system_state, c->bootable_system_state);
        assert_int_equal(got->partial_file_support, c->partial_file_support);
        assert_int_equal(got->context, c->context);
        assert_int_equal(got->has_restore_type, c->has_restore_type);
        assert_int_equal(got->restore_type, c->has_restore_type ? c->restore_type : VSS_RTYPE_UNDEFINED);

        assert_int_equal(got->has_set_id, c->has_set);
        assert_memory_equal(&got->set_id, c->has_set ? &c->set_id : &null_id, sizeof(vss_id));
        assert_int_equal(got->has_volumes, c->has_set);
        assert_int_equal(got->n_volumes, c->has_set ? c->n_snapshots : 0);
        for (size_t i = 0; i < got->n_volumes; i++)
                assert_string_equal(got->volumes[i], c->snapshots[i].volume);

        assert_int_equal(got->has_snapshot_kind, kind);
        assert_int_equal(got->n_snapshot_volumes, kind ? c->n_snapshots : 0);
        for (size_t i = 0; i < got->n_snapshot_volumes; i++) {
                assert_string_equal(got->snapshot_volumes[i].volume, c->snapshots[i].volume);
                assert_string_equal(got->snapshot_volumes[i].provider, c->snapshots[i].provider);
                assert_int_equal(got->snapshot_volumes[i].atomic, c->snapshots[i].atomic);
                assert_null(got->snapshot_volumes[i].snapshot_path);
        }
        assert_int_equal(got->set_atomic, kind && c->set_atomic);
        assert_int_equal(got->auto_recovery, kind && c->auto_recovery);

        assert_int_equal(got->has_snapshot_paths, paths);
        for (size_t i = 0; paths && i < c->n_snapshots; i++) {
                if (!c->snapshots[i].snapshot_path)
                        continue; /* not made: not sent */
                assert_true(n_paths < got->n_snapshot_paths);
                assert_string_equal(got->snapshot_paths[n_paths].volume, c->snapshots[i].volume);
                assert_string_equal(got->snapshot_paths[n_paths].snapshot_path, c->snapshots[i].snapshot_path);
                assert_null(got->snapshot_paths[n_paths].provider);
                n_paths++;
        }
        assert_int_equal(got->n_snapshot_paths, n_paths);

        assert_int_equal(got->has_components, c->has_components);
        assert_int_equal(got->n_components, c->has_components ? c->n_components : 0);
        for (size_t i = 0; i < got->n_components; i++)
                assert_same_component(&got->components[i], &c->components[i]);
}

/* Pack @c into a{sv} as the fan-out does (the entries inside the open dictionary), read it back as
 * the writer library does (check_read()), and compare the entries, key by key and in order, with
 * @want. */
static void check(const lvss_event_context *c, const expect *want, size_t n_want) {
        sd_bus_message *m = NULL;
        size_t n = 0;

        assert_int_equal(sd_bus_message_new_signal(test_bus, &m, "/test", "org.lvss.Test", "Context"), 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_int_equal(lvss_event_context_append(m, c), 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_int_equal(sd_bus_message_seal(m, 1, 0), 0);
        assert_int_equal(sd_bus_message_rewind(m, true), 1);
        assert_string_equal(sd_bus_message_get_signature(m, true), "a{sv}");

        /* the writer library's side: the same data back (its strings are the message's) */
        {
                _cleanup_(lvss_event_context_received_done) lvss_event_context_received got = {};
                const char *contents;
                char type;

                assert_int_equal(lvss_event_context_read(m, &got), 0);
                check_read(c, &got);
                assert_int_equal(sd_bus_message_peek_type(m, &type, &contents), 0); /* read whole */
        }
        assert_int_equal(sd_bus_message_rewind(m, true), 1);

        assert_int_equal(sd_bus_message_enter_container(m, 'a', "{sv}"), 1);
        for (;; n++) {
                _cleanup_(freep) char *text = NULL;
                const char *key, *contents;
                size_t size = 0;
                char type;
                FILE *out;
                int r;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                assert_true(r >= 0);
                if (r == 0)
                        break;
                if (n >= n_want)
                        fail_msg("an entry more than the %zu expected", n_want);
                assert_int_equal(sd_bus_message_read_basic(m, 's', &key), 1);
                assert_string_equal(key, want[n].key);
                assert_int_equal(sd_bus_message_peek_type(m, &type, &contents), 1);
                assert_int_equal(type, 'v');
                assert_string_equal(contents, want[n].signature);
                out = open_memstream(&text, &size);
                assert_non_null(out);
                assert_int_equal(sd_bus_message_enter_container(m, 'v', contents), 1);
                render_items(m, out);
                assert_int_equal(sd_bus_message_exit_container(m), 1);
                assert_int_equal(fclose(out), 0);
                if (strcmp(text, want[n].value) != 0)
                        fail_msg("%s: got %s, expected %s", key, text, want[n].value);
                assert_int_equal(sd_bus_message_exit_container(m), 1);
        }
        assert_int_equal(n, n_want);
        assert_int_equal(sd_bus_message_exit_container(m), 1);
        sd_bus_message_unref(m);
}

#define CHECK(c, ...)                                                     \
        do {                                                              \
                const expect want_[] = { __VA_ARGS__ };                   \
                check((c), want_, sizeof want_ / sizeof want_[0]);        \
        } while (0)

/* ---- the cases: a session in each state -------------------------------------------------- */

static const vss_id set_id = { .bytes = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                          0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe } };
#define SET_ID "[01, 23, 45, 67, 89, ab, cd, ef, 10, 32, 54, 76, 98, ba, dc, fe]"

/* A backup session: SetBackupState(select, not bootable, full, partial), the default context. */
static lvss_event_context backup_session(void) {
        return (lvss_event_context) {
                .backup_type = VSS_BT_FULL,
                .select_components = true,
                .bootable_system_state = false,
                .partial_file_support = true,
                .context = VSS_CTX_BACKUP,
        };
}

/* Identify, or any event before StartSnapshotSet without components: the five entries always sent. */
static void test_backup_without_set(void **state) {
        lvss_event_context c = backup_session();

        c.context = VSS_CTX_APP_ROLLBACK | VSS_VOLSNAP_ATTR_NO_AUTORECOVERY;
        c.bootable_system_state = true;
        /* what belongs to the set or to a restore is ignored without its flag */
        c.restore_type = VSS_RTYPE_IMPORT;
        c.set_id = set_id;
        c.has_snapshot_kind = true;
        c.has_snapshot_paths = true;
        CHECK(&c, { "backup_type", "u", "1" }, { "select_components", "b", "true" },
              { "bootable_system_state", "b", "true" }, { "partial_file_support", "b", "true" },
              { "context", "i", "11" });
}

/* The two volumes of the set as the session sees them: /srv/a made (copy), /srv/b not (btrfs). */
static lvss_event_snapshot two_volumes[2] = {
        { .volume = "/srv/a", .provider = "copy", .atomic = false, .snapshot_path = "/srv/.lvss/a" },
        { .volume = "/srv/b", .provider = "btrfs", .atomic = true, .snapshot_path = NULL },
};

/* A backup writer's components: the session sends "selected" true and no file_restore_status. */
static lvss_wire_component backup_components[2] = {
        { .type = VSS_CT_DATABASE, .logical_path = "", .name = "main", .selected = true,
          .backup_succeeded = true, .backup_metadata = "<m/>", .backup_stamp = "lsn=7" },
        { .type = VSS_CT_FILEGROUP, .logical_path = "etc", .name = "config", .selected = true,
          .previous_backup_stamp = "lsn=3" },
};
#define BACKUP_COMPONENTS                                                                                      \
        "[[{'type': u:1}, {'logical_path': s:''}, {'name': s:'main'}, {'selected': b:true}, "          \
        "{'backup_succeeded': b:true}, {'backup_metadata': s:'<m/>'}, {'backup_stamp': s:'lsn=7'}], "         \
        "[{'type': u:2}, {'logical_path': s:'etc'}, {'name': s:'config'}, {'selected': b:true}, "             \
        "{'backup_succeeded': b:false}, {'previous_backup_stamp': s:'lsn=3'}]]"

/* PrepareForBackup after StartSnapshotSet and AddToSnapshotSet: the set's id and volumes, not
 * what it is made of (not prepared yet), no paths; the writer's components. */
static void test_backup_set_started(void **state) {
        lvss_event_context c = backup_session();

        c.has_set = true;
        c.set_id = set_id;
        c.snapshots = two_volumes;
        c.n_snapshots = 2;
        c.has_components = true;
        c.components = backup_components;
        c.n_components = 2;
        CHECK(&c, { "backup_type", "u", "1" }, { "select_components", "b", "true" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "true" },
              { "context", "i", "0" }, { "snapshot_set_id", "ay", SET_ID },
              { "volumes", "as", "['/srv/a', '/srv/b']" }, { "components", "aa{sv}", BACKUP_COMPONENTS });
}

/* PrepareForSnapshot, Freeze, Thaw: the set is prepared (its kind), no paths yet. */
static void test_backup_set_prepared(void **state) {
        lvss_event_context c = backup_session();

        c.has_set = true;
        c.set_id = set_id;
        c.snapshots = two_volumes;
        c.n_snapshots = 2;
        c.has_snapshot_kind = true;
        c.set_atomic = false;
        c.auto_recovery = true;
        c.has_components = true;
        c.components = backup_components;
        c.n_components = 2;
        CHECK(&c, { "backup_type", "u", "1" }, { "select_components", "b", "true" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "true" },
              { "context", "i", "0" }, { "snapshot_set_id", "ay", SET_ID },
              { "volumes", "as", "['/srv/a', '/srv/b']" },
              { "snapshot_volumes", "a(ssb)", "[('/srv/a', 'copy', false), ('/srv/b', 'btrfs', true)]" },
              { "set_atomic", "b", "false" }, { "auto_recovery", "b", "true" },
              { "components", "aa{sv}", BACKUP_COMPONENTS });
}

/* PostSnapshot, BackupComplete: with the paths of the copies made (only /srv/a's). */
static void test_backup_set_with_paths(void **state) {
        lvss_event_context c = backup_session();

        c.backup_type = VSS_BT_INCREMENTAL;
        c.select_components = false;
        c.has_set = true;
        c.set_id = set_id;
        c.snapshots = two_volumes;
        c.n_snapshots = 2;
        c.has_snapshot_kind = true;
        c.set_atomic = true;
        c.auto_recovery = false;
        c.has_snapshot_paths = true;
        c.has_components = true;
        c.components = backup_components;
        c.n_components = 2;
        CHECK(&c, { "backup_type", "u", "2" }, { "select_components", "b", "false" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "true" },
              { "context", "i", "0" }, { "snapshot_set_id", "ay", SET_ID },
              { "volumes", "as", "['/srv/a', '/srv/b']" },
              { "snapshot_volumes", "a(ssb)", "[('/srv/a', 'copy', false), ('/srv/b', 'btrfs', true)]" },
              { "set_atomic", "b", "true" }, { "auto_recovery", "b", "false" },
              { "snapshot_paths", "a{ss}", "[{'/srv/a': '/srv/.lvss/a'}]" },
              { "components", "aa{sv}", BACKUP_COMPONENTS });

        /* the paths without the kind (a set whose prepared mark is gone): paths only */
        c.has_snapshot_kind = false;
        c.has_components = false;
        CHECK(&c, { "backup_type", "u", "2" }, { "select_components", "b", "false" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "true" },
              { "context", "i", "0" }, { "snapshot_set_id", "ay", SET_ID },
              { "volumes", "as", "['/srv/a', '/srv/b']" },
              { "snapshot_paths", "a{ss}", "[{'/srv/a': '/srv/.lvss/a'}]" });
}

/* A set with no volume yet (StartSnapshotSet only): the entries are there, empty. */
static void test_backup_set_empty(void **state) {
        lvss_event_context c = backup_session();

        c.has_set = true;
        c.has_snapshot_paths = true;
        c.has_components = true; /* a writer with no component in a session without selection */
        CHECK(&c, { "backup_type", "u", "1" }, { "select_components", "b", "true" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "true" },
              { "context", "i", "0" },
              { "snapshot_set_id", "ay", "[00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00]" },
              { "volumes", "as", "[]" }, { "snapshot_paths", "a{ss}", "[]" }, { "components", "aa{sv}", "[]" });
}

/* A restore session (PreRestore, PostRestore): restore_type; the components carry "selected" as
 * selected for restore and always a file_restore_status. */
static void test_restore(void **state) {
        lvss_wire_component components[2] = {
                { .type = VSS_CT_DATABASE, .logical_path = "", .name = "main", .selected = true,
                  .backup_metadata = "<m/>", .restore_metadata = "r",
                  .has_file_restore_status = true, .file_restore_status = VSS_RS_ALL },
                { .type = VSS_CT_FILEGROUP, .logical_path = "logs", .name = "wal", .selected = false,
                  .has_file_restore_status = true, .file_restore_status = VSS_RS_UNDEFINED },
        };
        lvss_event_context c = {
                .backup_type = VSS_BT_UNDEFINED,
                .select_components = true,
                .context = VSS_CTX_BACKUP,
                .has_restore_type = true,
                .restore_type = VSS_RTYPE_BY_COPY,
                .has_components = true,
                .components = components,
                .n_components = 2,
        };

        CHECK(&c, { "backup_type", "u", "0" }, { "select_components", "b", "true" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "false" },
              { "context", "i", "0" }, { "restore_type", "u", "1" },
              { "components", "aa{sv}",
                "[[{'type': u:1}, {'logical_path': s:''}, {'name': s:'main'}, {'selected': b:true}, "
                "{'backup_succeeded': b:false}, {'backup_metadata': s:'<m/>'}, {'restore_metadata': s:'r'}, "
                "{'file_restore_status': u:2}], "
                "[{'type': u:2}, {'logical_path': s:'logs'}, {'name': s:'wal'}, {'selected': b:false}, "
                "{'backup_succeeded': b:false}, {'file_restore_status': u:0}]]" });

        /* Identify in a restore session: no components entry */
        c.has_components = false;
        CHECK(&c, { "backup_type", "u", "0" }, { "select_components", "b", "true" },
              { "bootable_system_state", "b", "false" }, { "partial_file_support", "b", "false" },
              { "context", "i", "0" }, { "restore_type", "u", "1" });
}

/* What is refused, before anything is appended: NULL arguments, an array missing with its count,
 * a component the reader would refuse. */
static void test_refuses(void **state) {
        lvss_wire_component bad = { .name = "" };
        lvss_event_context c = backup_session();
        sd_bus_message *m = NULL;
        const char *contents;
        char type;

        assert_int_equal(sd_bus_message_new_signal(test_bus, &m, "/test", "org.lvss.Test", "Context"), 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_int_equal(lvss_event_context_append(NULL, &c), -EINVAL);
        assert_int_equal(lvss_event_context_append(m, NULL), -EINVAL);

        c.has_set = true;
        c.n_snapshots = 1;
        assert_int_equal(lvss_event_context_append(m, &c), -EINVAL);
        c = backup_session();
        c.has_components = true;
        c.n_components = 1;
        assert_int_equal(lvss_event_context_append(m, &c), -EINVAL);
        c.components = &bad;
        assert_int_equal(lvss_event_context_append(m, &c), -EINVAL);

        /* nothing was appended */
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_int_equal(sd_bus_message_seal(m, 1, 0), 0);
        assert_int_equal(sd_bus_message_rewind(m, true), 1);
        assert_int_equal(sd_bus_message_enter_container(m, 'a', "{sv}"), 1);
        assert_int_equal(sd_bus_message_peek_type(m, &type, &contents), 0);
        sd_bus_message_unref(m);
}

/* lvss_event_context_done() frees the arrays (ASan / valgrind see a leak otherwise) and resets them. */
static void test_done(void **state) {
        lvss_event_context c = backup_session();

        lvss_event_context_done(NULL);
        c.snapshots = calloc(2, sizeof *c.snapshots);
        c.n_snapshots = 2;
        c.components = calloc(3, sizeof *c.components);
        c.n_components = 3;
        assert_non_null(c.snapshots);
        assert_non_null(c.components);
        lvss_event_context_done(&c);
        assert_null(c.snapshots);
        assert_null(c.components);
        assert_int_equal(c.n_snapshots, 0);
        assert_int_equal(c.n_components, 0);
        lvss_event_context_done(&c); /* twice is harmless */
}

/* ---- the reader on contexts built by hand ------------------------------------------------------ */

static sd_bus_message *new_message(void) {
        sd_bus_message *m = NULL;

        assert_int_equal(sd_bus_message_new_signal(test_bus, &m, "/test", "org.lvss.Test", "Context"), 0);
        return m;
}

static void seal(sd_bus_message *m) {
        static uint64_t cookie;

        assert_int_equal(sd_bus_message_seal(m, ++cookie, 0), 0);
        assert_true(sd_bus_message_rewind(m, true) >= 0); /* 0: an empty body */
}

/* One entry {@key: <ay of @n bytes>}. */
static void append_id_entry(sd_bus_message *m, const char *key, size_t n) {
        static const uint8_t bytes[32] = { 1, 2, 3 };

        assert_true(n <= sizeof bytes);
        assert_true(sd_bus_message_open_container(m, 'e', "sv") >= 0);
        assert_true(sd_bus_message_append_basic(m, 's', key) >= 0);
        assert_true(sd_bus_message_open_container(m, 'v', "ay") >= 0);
        assert_true(sd_bus_message_append_array(m, 'y', bytes, n) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
}

/* Read @m (sealed, at its start) and expect @want; on failure the output must be untouched. */
static void read_expect(sd_bus_message *m, int want) {
        lvss_event_context_received got, before;
        int r;

        memset(&got, 0xa5, sizeof got);
        before = got;
        r = lvss_event_context_read(m, &got);
        if (r != want)
                fail_msg("lvss_event_context_read() = %d, expected %d", r, want);
        if (r < 0)
                assert_memory_equal(&got, &before, sizeof got);
        else
                lvss_event_context_received_done(&got);
}

/* Each known key with a value of another type refuses the whole context, as the writer library
 * refused it before (-EBADMSG: "Malformed event context: Bad message"); so does a snapshot_set_id
 * that is not 16 bytes, and a component list that component-wire.h refuses. The good entries
 * before it are not half applied: the output is untouched. */
static void test_read_wrong_types(void **state) {
        static const struct {
                const char *key, *signature;
        } wrong[] = {
                { LVSS_EC_BACKUP_TYPE, "i" },
                { LVSS_EC_SELECT_COMPONENTS, "u" },
                { LVSS_EC_BOOTABLE_SYSTEM_STATE, "s" },
                { LVSS_EC_PARTIAL_FILE_SUPPORT, "i" },
                { LVSS_EC_CONTEXT, "u" },
                { LVSS_EC_RESTORE_TYPE, "i" },
                { LVSS_EC_SNAPSHOT_SET_ID, "s" },
                { LVSS_EC_VOLUMES, "s" },
                { LVSS_EC_VOLUMES, "ao" },
                { LVSS_EC_SNAPSHOT_VOLUMES, "a(ss)" },
                { LVSS_EC_SNAPSHOT_VOLUMES, "a{ss}" },
                { LVSS_EC_SET_ATOMIC, "u" },
                { LVSS_EC_AUTO_RECOVERY, "s" },
                { LVSS_EC_SNAPSHOT_PATHS, "a(ss)" },
                { LVSS_EC_SNAPSHOT_PATHS, "as" },
                { LVSS_CW_ENTRY, "as" },
                { LVSS_CW_ENTRY, "a{sv}" },
        };

        for (size_t i = 0; i < ELEMENTSOF(wrong); i++) {
                sd_bus_message *m = new_message();
                const char *sig = wrong[i].signature;
                int r;

                assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
                assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_BACKUP_TYPE, "u", 1) >= 0);
                if (strcmp(sig, "s") == 0)
                        r = sd_bus_message_append(m, "{sv}", wrong[i].key, sig, "1");
                else if (strcmp(sig, "i") == 0 || strcmp(sig, "u") == 0)
                        r = sd_bus_message_append(m, "{sv}", wrong[i].key, sig, 1);
                else if (strcmp(sig, "ao") == 0)
                        r = sd_bus_message_append(m, "{sv}", wrong[i].key, sig, 1, "/srv");
                else if (strcmp(sig, "as") == 0)
                        r = sd_bus_message_append(m, "{sv}", wrong[i].key, sig, 1, "/srv");
                else if (strcmp(sig, "a{sv}") == 0)
                        r = sd_bus_message_append(m, "{sv}", wrong[i].key, sig, 1, "name", "s", "n");
                else /* a(ss), a{ss} */
                        r = sd_bus_message_append(m, "{sv}", wrong[i].key, sig, 1, "/srv", "/copy");
                assert_true(r >= 0);
                assert_true(sd_bus_message_close_container(m) >= 0);
                seal(m);
                read_expect(m, -EBADMSG);
                sd_bus_message_unref(m);
        }

        /* the set id is 16 bytes, not fewer nor more */
        for (size_t n = 15; n <= 17; n++) {
                sd_bus_message *m = new_message();

                assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
                append_id_entry(m, LVSS_EC_SNAPSHOT_SET_ID, n);
                assert_true(sd_bus_message_close_container(m) >= 0);
                seal(m);
                read_expect(m, n == 16 ? 0 : -EBADMSG);
                sd_bus_message_unref(m);
        }

        /* a component without a name: refused by component-wire.h's rules, so the context is */
        {
                sd_bus_message *m = new_message();

                assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
                assert_true(sd_bus_message_append(m, "{sv}", LVSS_CW_ENTRY, LVSS_CW_SIGNATURE, 1, 1,
                                                  LVSS_CW_TYPE, "u", 1) >= 0);
                assert_true(sd_bus_message_close_container(m) >= 0);
                seal(m);
                read_expect(m, -EBADMSG);
                sd_bus_message_unref(m);
        }
}

/* Where the context should be, something else, or nothing: the Event's arguments cut short
 * before it ("uay" only), a variant holding the a{sv}, dictionaries of another type. */
static void test_read_malformed(void **state) {
        static const uint8_t session[16] = { 7 };
        sd_bus_message *m;
        uint32_t event;
        const void *p;
        size_t n;

        m = new_message(); /* truncated: the Event's first two arguments, then the end */
        assert_true(sd_bus_message_append(m, "u", 1) >= 0);
        assert_true(sd_bus_message_append_array(m, 'y', session, sizeof session) >= 0);
        seal(m);
        assert_int_equal(sd_bus_message_read_basic(m, 'u', &event), 1);
        assert_int_equal(sd_bus_message_read_array(m, 'y', &p, &n), 1);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        m = new_message(); /* an empty body */
        seal(m);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        m = new_message();
        assert_true(sd_bus_message_append(m, "s", "backup_type") >= 0);
        seal(m);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        m = new_message();
        assert_true(sd_bus_message_append(m, "v", "a{sv}", 1, LVSS_EC_BACKUP_TYPE, "u", 1) >= 0);
        seal(m);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        m = new_message();
        assert_true(sd_bus_message_append(m, "a{su}", 1, LVSS_EC_BACKUP_TYPE, 1) >= 0);
        seal(m);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        m = new_message();
        assert_true(sd_bus_message_append(m, "a(sv)", 1, LVSS_EC_BACKUP_TYPE, "u", 1) >= 0);
        seal(m);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        m = new_message();
        assert_true(sd_bus_message_append(m, "as", 1, LVSS_EC_BACKUP_TYPE) >= 0);
        seal(m);
        read_expect(m, -EBADMSG);
        sd_bus_message_unref(m);

        /* an empty a{sv} is a context with nothing in it */
        m = new_message();
        assert_true(sd_bus_message_append(m, "a{sv}", 0) >= 0);
        seal(m);
        read_expect(m, 0);
        sd_bus_message_unref(m);

        m = new_message();
        assert_int_equal(lvss_event_context_read(NULL, &(lvss_event_context_received) {}), -EINVAL);
        assert_int_equal(lvss_event_context_read(m, NULL), -EINVAL);
        sd_bus_message_unref(m);
        lvss_event_context_received_done(NULL);
}

/* A type this library does not know reads as "undefined", as it did in the writer library:
 * backup_type above VSS_BT_OTHER, restore_type above VSS_RTYPE_OTHER. The last known value of
 * each stays itself. */
static void test_read_clamps(void **state) {
        static const struct {
                const char *key;
                uint32_t sent, read;
        } cases[] = {
                { LVSS_EC_BACKUP_TYPE, VSS_BT_OTHER, VSS_BT_OTHER },
                { LVSS_EC_BACKUP_TYPE, VSS_BT_OTHER + 1, VSS_BT_UNDEFINED },
                { LVSS_EC_BACKUP_TYPE, UINT32_MAX, VSS_BT_UNDEFINED },
                { LVSS_EC_RESTORE_TYPE, VSS_RTYPE_OTHER, VSS_RTYPE_OTHER },
                { LVSS_EC_RESTORE_TYPE, VSS_RTYPE_OTHER + 1, VSS_RTYPE_UNDEFINED },
                { LVSS_EC_RESTORE_TYPE, UINT32_MAX, VSS_RTYPE_UNDEFINED },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(lvss_event_context_received_done) lvss_event_context_received got = {};
                sd_bus_message *m = new_message();
                bool restore = strcmp(cases[i].key, LVSS_EC_RESTORE_TYPE) == 0;

                assert_true(sd_bus_message_append(m, "a{sv}", 1, cases[i].key, "u", cases[i].sent) >= 0);
                seal(m);
                assert_int_equal(lvss_event_context_read(m, &got), 0);
                assert_int_equal(restore ? got.restore_type : got.backup_type, cases[i].read);
                assert_int_equal(got.has_restore_type, restore); /* it came, whatever its value */
                sd_bus_message_unref(m);
        }
}

/* Unknown keys are skipped whatever they hold (a newer lvssd may send more), a near miss of a
 * known key among them; a key that comes twice counts the last time, lists included; the order of
 * the keys does not matter. */
static void test_read_unknown_and_repeated(void **state) {
        _cleanup_(lvss_event_context_received_done) lvss_event_context_received got = {};
        sd_bus_message *m = new_message();

        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_VOLUMES, "as", 1, "/old") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "future", "a(sv)", 1, "x", "i", 7) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "Backup_Type", "s", "FULL") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "backup_typ", "u", 3) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_BACKUP_TYPE, "u", VSS_BT_LOG) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "nested", "v", "as", 2, "a", "b") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_SNAPSHOT_PATHS, "a{ss}", 1, "/a", "/old-copy") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_VOLUMES, "as", 2, "/a", "/b") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_SNAPSHOT_PATHS, "a{ss}", 1, "/b", "/copy-b") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_BACKUP_TYPE, "u", VSS_BT_COPY) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", LVSS_EC_SNAPSHOT_VOLUMES, "a(ssb)", 1, "/a", "copy", 1) >= 0);
        append_id_entry(m, "snapshot_set", 3); /* unknown: not held to 16 bytes */
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);

        assert_int_equal(lvss_event_context_read(m, &got), 0);
        assert_int_equal(got.backup_type, VSS_BT_COPY);
        assert_true(got.has_volumes);
        assert_int_equal(got.n_volumes, 2);
        assert_string_equal(got.volumes[0], "/a");
        assert_string_equal(got.volumes[1], "/b");
        assert_true(got.has_snapshot_paths);
        assert_int_equal(got.n_snapshot_paths, 1);
        assert_string_equal(got.snapshot_paths[0].volume, "/b");
        assert_string_equal(got.snapshot_paths[0].snapshot_path, "/copy-b");
        /* snapshot_volumes without volumes' order, and without set_atomic: as it came */
        assert_true(got.has_snapshot_kind);
        assert_int_equal(got.n_snapshot_volumes, 1);
        assert_string_equal(got.snapshot_volumes[0].provider, "copy");
        assert_true(got.snapshot_volumes[0].atomic);
        assert_false(got.set_atomic);
        assert_false(got.has_set_id);
        assert_false(got.has_restore_type);
        assert_false(got.has_components);
        sd_bus_message_unref(m);
}

/* ---- allocation failures ---------------------------------------------------------------------- */

/*
 * The test is linked with libtestalloc and its -Wl,--wrap= flags
 * (basic/test-alloc.h; the test-bcd pattern), so the Nth allocation of
 * a read can be made to fail. sd-bus's own allocations are inside libsystemd
 * and are not counted: the reader's arrays and component-wire's list are.
 * The read runs for N = 0, 1, 2, ... until it gets through without reaching
 * N; every run that met a failure returns -ENOMEM with the output untouched
 * and nothing left allocated (ASan, valgrind: `meson test --wrap=valgrind`).
 */

/* Every list of the context, each long enough to grow more than once (the arrays start at 4). */
static void test_read_allocation_failures(void **state) {
        lvss_event_snapshot volumes[9];
        lvss_wire_component components[6];
        lvss_event_context c = backup_session();
        sd_bus_message *m = new_message();
        long n;

        for (size_t i = 0; i < ELEMENTSOF(volumes); i++)
                volumes[i] = two_volumes[i % 2];
        for (size_t i = 0; i < ELEMENTSOF(components); i++)
                components[i] = backup_components[i % 2];
        c.has_restore_type = true;
        c.restore_type = VSS_RTYPE_IMPORT;
        c.has_set = true;
        c.set_id = set_id;
        c.snapshots = volumes;
        c.n_snapshots = ELEMENTSOF(volumes);
        c.has_snapshot_kind = true;
        c.has_snapshot_paths = true;
        c.has_components = true;
        c.components = components;
        c.n_components = ELEMENTSOF(components);

        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_int_equal(lvss_event_context_append(m, &c), 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);

        for (n = 0;; n++) {
                lvss_event_context_received got, before;
                bool failed;
                int r;

                memset(&got, 0xa5, sizeof got);
                before = got;
                assert_int_equal(sd_bus_message_rewind(m, true), 1);
                test_alloc_arm(n);
                r = lvss_event_context_read(m, &got);
                failed = test_alloc_disarm();
                if (!failed) {
                        assert_int_equal(r, 0);
                        check_read(&c, &got);
                        lvss_event_context_received_done(&got);
                        break;
                }
                if (r != -ENOMEM)
                        fail_msg("allocation %ld failing: %d", n, r);
                assert_memory_equal(&got, &before, sizeof got);
        }
        /* volumes, snapshot_volumes, snapshot_paths: two each; component-wire's list and ours */
        assert_true(n >= 8);
        sd_bus_message_unref(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backup_without_set),
                cmocka_unit_test(test_backup_set_started),
                cmocka_unit_test(test_backup_set_prepared),
                cmocka_unit_test(test_backup_set_with_paths),
                cmocka_unit_test(test_backup_set_empty),
                cmocka_unit_test(test_restore),
                cmocka_unit_test(test_refuses),
                cmocka_unit_test(test_done),
                cmocka_unit_test(test_read_wrong_types),
                cmocka_unit_test(test_read_malformed),
                cmocka_unit_test(test_read_clamps),
                cmocka_unit_test(test_read_unknown_and_repeated),
                cmocka_unit_test(test_read_allocation_failures),
        };

        return cmocka_run_group_tests(tests, test_bus_setup, test_bus_teardown);
}

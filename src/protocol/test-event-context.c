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

#include "basic/util.h"
#include "protocol/event-context.h"

static sd_bus *bus;
static int peer_fd = -1;

static int setup(void **state) {
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -1;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, fds[0], fds[0]) < 0 || sd_bus_start(bus) < 0)
                return -1;
        peer_fd = fds[1];
        return 0;
}

static int teardown(void **state) {
        sd_bus_close(bus); /* no flush: the peer never answers the authentication */
        sd_bus_unref(bus);
        close(peer_fd);
        return 0;
}

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

/* Pack @c into a{sv} as the fan-out does (the entries inside the open dictionary), and compare
 * the entries, key by key and in order, with @want. */
static void check(const lvss_event_context *c, const expect *want, size_t n_want) {
        sd_bus_message *m = NULL;
        size_t n = 0;

        assert_int_equal(sd_bus_message_new_signal(bus, &m, "/test", "org.lvss.Test", "Context"), 0);
        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_int_equal(lvss_event_context_append(m, c), 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_int_equal(sd_bus_message_seal(m, 1, 0), 0);
        assert_int_equal(sd_bus_message_rewind(m, true), 1);
        assert_string_equal(sd_bus_message_get_signature(m, true), "a{sv}");

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

        assert_int_equal(sd_bus_message_new_signal(bus, &m, "/test", "org.lvss.Test", "Context"), 0);
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
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

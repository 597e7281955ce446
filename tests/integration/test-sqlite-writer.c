/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-writer-sqlite end to end: a real lvssd, the bundled SQLite writer, a
 * real insert load (lvss-sqlite-load), the public requester API.
 *
 * Acceptance (issue 4) A4: "SQLite end to end: backup under an insert load,
 * restore into a new directory, integrity_check ok, no acknowledged row
 * before Freeze missing; a corrupted database file makes PostRestore fail
 * with the message." And providers-and-writers.md: lvss-writer-sqlite's
 * "PostRestore runs PRAGMA integrity_check and fails the component with its
 * message if not ok"; each shadow copy, "restored to a fresh directory,
 * starts, passes the server's own consistency check, and contains every
 * transaction acknowledged before Freeze". WS-12: a PostRestore failure is
 * FAILED_AT_POST_RESTORE with the writer's message for the component.
 *
 * "Restore into a new directory": the backup copies the database files out
 * of the shadow copy, while it exists, to a backup directory (the backup
 * medium). The restore starts the writer on a database path in a fresh
 * directory (the application restarted on the restored location), then runs
 * the restore session from the saved document: InitializeForRestore,
 * SetSelectedForRestore, PreRestore, the copy from the backup directory,
 * SetFileRestoreStatus, PostRestore, where the writer checks integrity.
 *
 * The load acknowledges each row (appends "ID AT_USEC" to its log) after its
 * COMMIT returned; the writer writes the CLOCK_REALTIME microsecond at which
 * it held the write lock (--freeze-stamp). Every row acknowledged before
 * that instant was committed before the lock, so it must be in the copy.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "documents/bcd.h"
#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 5000,
        .event_timeout_ms = 20000,
};

#define INSTANCE "itest"
#define LOGICAL_PATH "sqlite"
#define DB_NAME "app.db"

typedef struct sq {
        char *app_dir, *db, *ack, *stamp, *backup_dir, *restore_dir, *restored_db;
} sq;

static char *xpath(const char *dir, const char *name) {
        char *p = NULL;
        CHECK(asprintf(&p, "%s/%s", dir, name) > 0, "out of memory");
        return p;
}

static void sq_init(itest_env *env, sq *s) {
        s->app_dir = xpath(env->dir, "app");
        s->db = xpath(s->app_dir, DB_NAME);
        s->ack = xpath(env->dir, "ack.log");
        s->stamp = xpath(env->dir, "freeze.usec");
        s->backup_dir = xpath(env->dir, "backup");
        s->restore_dir = xpath(env->dir, "restored");
        s->restored_db = xpath(s->restore_dir, DB_NAME);
        CHECK(mkdir(s->app_dir, 0755) == 0 && mkdir(s->backup_dir, 0755) == 0 && mkdir(s->restore_dir, 0755) == 0,
              "mkdir: %m");
}

static void sq_done(sq *s) {
        free(s->app_dir);
        free(s->db);
        free(s->ack);
        free(s->stamp);
        free(s->backup_dir);
        free(s->restore_dir);
        free(s->restored_db);
}

static char *program(itest_env *env, const char *rel) {
        return xpath(env->build_root, rel);
}

/* lvss-writer-sqlite on @db, instance INSTANCE; waits until it subscribed. Under valgrind when the suite is. */
static itest_proc *start_writer(itest_env *env, const char *db, const char *stamp) {
        char *path = program(env, "writers/sqlite/lvss-writer-sqlite");
        const char *argv[] = { path, "--instance", INSTANCE, "--freeze-stamp", stamp, db, NULL };
        itest_proc *p = itest_spawn_program(env, "lvss-writer-sqlite", argv, true, true);
        itest_wait_line_must(env, p, "lvss-writer-sqlite: writer 'SQLite' (instance '" INSTANCE "') subscribed",
                             itest_ms(env, 10000));
        free(path);
        return p;
}

static void stop_writer(itest_env *env, itest_proc *p) {
        int code = itest_program_stop(env, p, itest_ms(env, 15000));
        CHECK(code == 0, "lvss-writer-sqlite exited with %d on SIGTERM", code);
}

static void copy_file(const char *from, const char *to) {
        int in = open(from, O_RDONLY | O_CLOEXEC), out;
        char buf[65536];
        ssize_t k;

        CHECK(in >= 0, "open %s: %m", from);
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(out >= 0, "create %s: %m", to);
        while ((k = read(in, buf, sizeof buf)) > 0)
                CHECK(write(out, buf, (size_t) k) == k, "write %s: %m", to);
        CHECK(k == 0, "read %s: %m", from);
        CHECK(fsync(out) == 0 && close(out) == 0, "close %s: %m", to);
        close(in);
}

static bool exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0;
}

/* The database files of a directory (the database and its -wal: the writer's component) to another. */
static void copy_database(const char *from_dir, const char *to_dir) {
        char *f = xpath(from_dir, DB_NAME), *t = xpath(to_dir, DB_NAME);
        char *fw = xpath(from_dir, DB_NAME "-wal"), *tw = xpath(to_dir, DB_NAME "-wal");
        CHECK(exists(f), "%s is not there", f);
        copy_file(f, t);
        unlink(tw);
        if (exists(fw))
                copy_file(fw, tw);
        free(f);
        free(t);
        free(fw);
        free(tw);
}

typedef struct sqlite_component {
        vss_id instance_id, writer_id;
        bool found;
} sqlite_component;

/*
 * A backup of @app_dir in component mode with the SQLite writer's component;
 * while the shadow copy exists, its database files go to @backup_dir.
 * Returns the saved document (owned); *ret the writer's ids.
 */
static char *backup(itest_env *env, const sq *s, sqlite_component *ret) {
        vss_backup_components *bc = itest_requester(env, true);
        sqlite_component sc = { 0 };
        unsigned n = 0;
        vss_id snap;
        vss_snapshot_prop prop = { .size = sizeof(vss_snapshot_prop) };
        char *xml = NULL;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_get_writer_metadata_count(bc, &n), VSS_S_OK, "vss_get_writer_metadata_count");
        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *md = NULL;
                vss_id iid, wid;
                const char *name = NULL, *instance = NULL;
                unsigned nc = 0;

                CHECK_HR(vss_get_writer_metadata(bc, i, &iid, &md), VSS_S_OK, "vss_get_writer_metadata");
                CHECK_HR(vss_examine_writer_metadata_get_identity(md, NULL, &wid, &name, &instance, NULL, NULL),
                         VSS_S_OK, "get_identity");
                if (!name || strcmp(name, "SQLite") != 0 || !instance || strcmp(instance, INSTANCE) != 0)
                        continue;
                CHECK_HR(vss_examine_writer_metadata_get_file_counts(md, NULL, NULL, &nc), VSS_S_OK, "file counts");
                CHECK(nc == 1, "the SQLite writer declares %u components, expected 1 (one database)", nc);
                const vss_component_info *ci = NULL;
                CHECK_HR(vss_examine_writer_metadata_get_component(md, 0, &ci), VSS_S_OK, "get_component");
                CHECK(ci->type == VSS_CT_DATABASE && ci->logical_path && strcmp(ci->logical_path, LOGICAL_PATH) == 0 &&
                              strcmp(ci->component_name, DB_NAME) == 0,
                      "unexpected component %s/%s", ci->logical_path ? ci->logical_path : "", ci->component_name);
                CHECK_HR(vss_add_component(bc, &iid, &wid, VSS_CT_DATABASE, LOGICAL_PATH, DB_NAME), VSS_S_OK,
                         "vss_add_component");
                sc = (sqlite_component) { iid, wid, true };
        }
        CHECK(sc.found, "the SQLite writer did not identify");

        CHECK_HR(vss_start_snapshot_set(bc, &(vss_id) { { 0 } }), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, s->app_dir, NULL, &snap), VSS_S_OK, "vss_add_to_snapshot_set");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);

        /* the copy to the backup medium, from the shadow copy, while it exists */
        CHECK_HR(vss_get_snapshot_properties(bc, &snap, &prop), VSS_S_OK, "vss_get_snapshot_properties");
        copy_database(prop.snapshot_path, s->backup_dir);
        vss_free_snapshot_properties(&prop);

        CHECK_HR(vss_set_backup_succeeded(bc, &sc.instance_id, &sc.writer_id, VSS_CT_DATABASE, LOGICAL_PATH, DB_NAME,
                                          true),
                 VSS_S_OK, "vss_set_backup_succeeded");
        STEP_OK(env, bc, vss_backup_complete);
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        CHECK(st.n == 1 && st.v[0].s.state == VSS_WS_STABLE && st.v[0].s.failure == VSS_S_OK,
              "the SQLite writer is not stable after BackupComplete: %u entries, state %s, %s", (unsigned) st.n,
              st.n ? vss_writer_state_name(st.v[0].s.state) : "-", st.n ? itest_hr_str(st.v[0].s.failure) : "-");
        itest_statuses_free(&st);
        CHECK_HR(vss_save_as_xml(bc, &xml), VSS_S_OK, "vss_save_as_xml");
        itest_requester_release(env, bc);
        *ret = sc;
        return xml;
}

/* The status entry of the SQLite writer class in a gathered list. */
static const vss_writer_status *sqlite_status(const itest_statuses *st, const vss_id *writer_id) {
        for (size_t i = 0; i < st->n; i++)
                if (vss_id_equal(&st->v[i].s.writer_id, writer_id) && st->v[i].s.instance_name &&
                    strcmp(st->v[i].s.instance_name, INSTANCE) == 0)
                        return &st->v[i].s;
        FAIL("no status entry for the SQLite writer (%zu entries)", st->n);
}

typedef struct restore_run {
        vss_backup_components *bc;
        vss_id sid;
} restore_run;

/* InitializeForRestore, select the database, PreRestore; the writer must be stable after it (WS-12). */
static void restore_begin(itest_env *env, const char *xml, const vss_id *writer_id, restore_run *rr) {
        CHECK_HR(vss_create_backup_components(&rr->bc), VSS_S_OK, "vss_create_backup_components");
        if (env->n_requesters < sizeof env->requesters / sizeof env->requesters[0])
                env->requesters[env->n_requesters++] = rr->bc;
        rr->sid = itest_session_id(rr->bc);
        CHECK_HR(vss_initialize_for_restore(rr->bc, xml), VSS_S_OK, "vss_initialize_for_restore");
        CHECK_HR(vss_set_selected_for_restore(rr->bc, writer_id, VSS_CT_DATABASE, LOGICAL_PATH, DB_NAME, true), VSS_S_OK,
                 "vss_set_selected_for_restore");
        STEP_OK(env, rr->bc, vss_pre_restore);
        itest_statuses st;
        itest_gather_status(env, rr->bc, &st);
        const vss_writer_status *e = sqlite_status(&st, writer_id);
        CHECK(e->state == VSS_WS_STABLE && e->last_event == VSS_EVENT_PRE_RESTORE,
              "WS-12: after PreRestore the SQLite writer is %s (last event %s)", vss_writer_state_name(e->state),
              vss_writer_event_name(e->last_event));
        itest_statuses_free(&st);
}

/* SetFileRestoreStatus(ALL), PostRestore; returns the gathered status (caller frees). */
static void restore_end(itest_env *env, restore_run *rr, const vss_id *writer_id, itest_statuses *st) {
        CHECK_HR(vss_set_file_restore_status(rr->bc, writer_id, VSS_CT_DATABASE, LOGICAL_PATH, DB_NAME, VSS_RS_ALL),
                 VSS_S_OK, "vss_set_file_restore_status");
        STEP_OK(env, rr->bc, vss_post_restore);
        itest_gather_status(env, rr->bc, st);
}

static uint64_t read_stamp(const char *path) {
        char *t = itest_read_file(path);
        CHECK(t && *t, "the writer wrote no freeze stamp to %s", path);
        uint64_t v = strtoull(t, NULL, 10);
        free(t);
        CHECK(v > 0, "bad freeze stamp in %s", path);
        return v;
}

/* PRAGMA integrity_check's first row for @db (owned). */
static char *integrity(const char *db) {
        sqlite3 *h = NULL;
        sqlite3_stmt *st = NULL;
        char *answer = NULL;

        CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK, "open %s: %s", db,
              sqlite3_errmsg(h));
        if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                answer = strdup((const char *) sqlite3_column_text(st, 0));
        else
                answer = strdup(sqlite3_errmsg(h));
        sqlite3_finalize(st);
        sqlite3_close(h);
        return answer;
}

static void exec_sql(const char *db, const char *sql) {
        sqlite3 *h = NULL;
        char *err = NULL;
        CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK, "open %s", db);
        CHECK(sqlite3_exec(h, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err ? err : "?");
        sqlite3_close(h);
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? -1 : x > y;
}

/*
 * A4: our own look at the restored copy: integrity_check says ok, and every
 * row the load acknowledged before the writer's Freeze stamp is in it.
 */
static void check_restored_copy(const sq *s, uint64_t stamp) {
        char *ok = integrity(s->restored_db);
        CHECK(strcmp(ok, "ok") == 0, "A4: integrity_check of the restored database: %s", ok);
        free(ok);
        sqlite3 *h = NULL;
        sqlite3_stmt *q = NULL;
        CHECK(sqlite3_open_v2(s->restored_db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open the restored copy");
        CHECK(sqlite3_prepare_v2(h, "SELECT id FROM t ORDER BY id", -1, &q, NULL) == SQLITE_OK, "SELECT: %s",
              sqlite3_errmsg(h));
        size_t n_rows = 0, cap = 1024;
        int64_t *rows = malloc(cap * sizeof *rows);
        while (sqlite3_step(q) == SQLITE_ROW) {
                if (n_rows == cap)
                        rows = realloc(rows, (cap *= 2) * sizeof *rows);
                CHECK(rows, "out of memory");
                rows[n_rows++] = sqlite3_column_int64(q, 0);
        }
        sqlite3_finalize(q);
        sqlite3_close(h);

        FILE *f = fopen(s->ack, "re");
        CHECK(f, "open %s: %m", s->ack);
        long long id;
        unsigned long long at;
        size_t before = 0, missing = 0, after = 0;
        int64_t first_missing = 0;
        while (fscanf(f, "%lld %llu", &id, &at) == 2) {
                if (at >= stamp) {
                        after++;
                        continue;
                }
                before++;
                int64_t key = id;
                if (!bsearch(&key, rows, n_rows, sizeof *rows, cmp_i64) && missing++ == 0)
                        first_missing = key;
        }
        fclose(f);
        free(rows);
        itest_note("restored copy: %zu rows; %zu acknowledged before Freeze, %zu after", n_rows, before, after);
        CHECK(before >= 300, "A4: only %zu rows acknowledged before Freeze: the check proves little", before);
        CHECK(after > 0, "A4: no row acknowledged after Freeze: the backup did not run under load");
        CHECK(missing == 0,
              "A4: %zu of %zu rows acknowledged before Freeze are missing from the restore (first: %" PRId64 ")",
              missing, before, first_missing);
}

/* Waits until the load acknowledged @more rows beyond what it has now: it is not blocked. */
static void check_load_goes_on(itest_env *env, const sq *s, size_t more) {
        char *acks = itest_read_file(s->ack);
        size_t now = 0;
        for (const char *p = acks; p && *p; p++)
                now += *p == '\n';
        free(acks);
        CHECK(itest_wait_file_lines(env, s->ack, now + more, itest_ms(env, 20000)),
              "the load made no progress after the backup: the database stayed locked");
}

/* ---- A4: backup under load, restore into a new directory ------------------------------------ */

static void test_sqlite_backup_under_load_restore_elsewhere(void **state) {
        itest_env *env = *state;
        sq s;
        sqlite_component sc;

        sq_init(env, &s);
        itest_start_lvssd(env, &opts);

        /* the load first: it creates the database (WAL) and acknowledges rows */
        char *load_path = program(env, "writers/sqlite/lvss-sqlite-load");
        const char *load_argv[] = { load_path, s.db, s.ack, NULL };
        itest_proc *load = itest_spawn_program(env, "lvss-sqlite-load", load_argv, false, true);
        CHECK(itest_wait_file_lines(env, s.ack, 300, itest_ms(env, 20000)), "the load acknowledged nothing");
        itest_proc *w = start_writer(env, s.db, s.stamp);

        char *xml = backup(env, &s, &sc);
        uint64_t stamp = read_stamp(s.stamp);

        /* the load goes on after Thaw (the writer released its lock) */
        check_load_goes_on(env, &s, 100);
        CHECK(itest_program_stop(env, load, itest_ms(env, 15000)) == 0, "lvss-sqlite-load failed");
        stop_writer(env, w);

        /* the document carries the SQLite writer's component */
        lvss_bcd *bcd = NULL;
        CHECK(lvss_bcd_from_xml(xml, &bcd) >= 0, "the saved document does not parse");
        CHECK(bcd->n_components == 1 && bcd->components[0].type == VSS_CT_DATABASE &&
                      strcmp(bcd->components[0].name, DB_NAME) == 0 && bcd->components[0].backup_succeeded,
              "the saved document does not hold the database component");
        lvss_bcd_free(bcd);

        /* the application restarts on a fresh directory; the restore session fills it */
        itest_proc *w2 = start_writer(env, s.restored_db, s.stamp);
        CHECK(!exists(s.restored_db), "the fresh directory is not empty");
        restore_run rr;
        restore_begin(env, xml, &sc.writer_id, &rr);
        copy_database(s.backup_dir, s.restore_dir);
        itest_statuses st;
        restore_end(env, &rr, &sc.writer_id, &st);
        const vss_writer_status *e = sqlite_status(&st, &sc.writer_id);
        CHECK(e->state == VSS_WS_STABLE && e->failure == VSS_S_OK && e->last_event == VSS_EVENT_POST_RESTORE,
              "A4: after PostRestore the SQLite writer is %s / %s (%s), last event %s", vss_writer_state_name(e->state),
              itest_hr_str(e->failure), e->application_message ? e->application_message : "",
              vss_writer_event_name(e->last_event));
        CHECK(vss_id_equal(&e->session_id, &rr.sid), "status from another session");
        itest_statuses_free(&st);
        /* the writer says so in its log (written before it answered PostRestore) */
        char line[256];
        snprintf(line, sizeof line, "lvss-writer-sqlite: session %s: PostRestore: 1 database checked, all ok",
                 itest_id_str(&rr.sid));
        itest_wait_line_must(env, w2, line, itest_ms(env, 10000));
        itest_requester_release(env, rr.bc);
        stop_writer(env, w2);

        check_restored_copy(&s, stamp);

        free(load_path);
        free(xml);
        sq_done(&s);
}

/* ---- A4: a corrupted database fails PostRestore with integrity_check's message -------------------- */

static void test_sqlite_corrupted_database_fails_post_restore(void **state) {
        itest_env *env = *state;
        sq s;
        sqlite_component sc;

        sq_init(env, &s);
        itest_start_lvssd(env, &opts);
        /* a database of a few dozen pages */
        exec_sql(s.db, "PRAGMA journal_mode=WAL;"
                       "CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT);"
                       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                       " INSERT INTO t (payload) SELECT printf('row %d of the corruption test', i) FROM n;");
        itest_proc *w = start_writer(env, s.db, s.stamp);
        char *xml = backup(env, &s, &sc);
        stop_writer(env, w);

        itest_proc *w2 = start_writer(env, s.restored_db, s.stamp);
        restore_run rr;
        restore_begin(env, xml, &sc.writer_id, &rr);
        copy_database(s.backup_dir, s.restore_dir);

        /* the copy went wrong: one page of table t is overwritten (after folding the -wal into the file) */
        exec_sql(s.restored_db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;");
        sqlite3 *h = NULL;
        sqlite3_stmt *q = NULL;
        int page_size = 0, root = 0;
        CHECK(sqlite3_open_v2(s.restored_db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open");
        CHECK(sqlite3_prepare_v2(h, "SELECT (SELECT page_size FROM pragma_page_size), rootpage FROM sqlite_master "
                                    "WHERE name = 't'", -1, &q, NULL) == SQLITE_OK &&
                      sqlite3_step(q) == SQLITE_ROW,
              "reading the layout: %s", sqlite3_errmsg(h));
        page_size = sqlite3_column_int(q, 0);
        root = sqlite3_column_int(q, 1);
        sqlite3_finalize(q);
        sqlite3_close(h);
        CHECK(page_size > 0 && root > 1, "page size %d, root page %d", page_size, root);
        int fd = open(s.restored_db, O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0, "open %s: %m", s.restored_db);
        static const unsigned char garbage[16] = { 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef,
                                                   0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef };
        CHECK(pwrite(fd, garbage, sizeof garbage, (off_t) (root - 1) * page_size) == (ssize_t) sizeof garbage,
              "pwrite: %m");
        CHECK(fsync(fd) == 0 && close(fd) == 0, "close: %m");
        char *expected = integrity(s.restored_db);
        CHECK(strcmp(expected, "ok") != 0, "the corruption went unnoticed by integrity_check");
        itest_note("integrity_check of the corrupted copy: %s", expected);

        itest_statuses st;
        restore_end(env, &rr, &sc.writer_id, &st);
        const vss_writer_status *e = sqlite_status(&st, &sc.writer_id);
        /* WS-12 / WS-4: FAILED_AT_POST_RESTORE, and the writer's message is integrity_check's answer */
        CHECK(e->state == VSS_WS_FAILED_AT_POST_RESTORE && e->failure == VSS_E_WRITERERROR_NONRETRYABLE,
              "A4: after PostRestore of a corrupted database the writer is %s / %s", vss_writer_state_name(e->state),
              itest_hr_str(e->failure));
        CHECK(e->application_message && strcmp(e->application_message, expected) == 0,
              "A4: the status message is \"%s\", integrity_check says \"%s\"",
              e->application_message ? e->application_message : "(none)", expected);
        CHECK((uint32_t) e->application_result == UINT32_C(0xA0000000) + SQLITE_CORRUPT,
              "the application result 0x%08" PRIX32 " does not carry SQLITE_CORRUPT", (uint32_t) e->application_result);
        itest_statuses_free(&st);

        /* and the component's failure message is in the restore session's document */
        char *doc = NULL;
        lvss_bcd *bcd = NULL;
        CHECK_HR(vss_save_as_xml(rr.bc, &doc), VSS_S_OK, "vss_save_as_xml in the restore session");
        CHECK(lvss_bcd_from_xml(doc, &bcd) >= 0 && bcd->n_components == 1, "the restore document");
        CHECK(bcd->components[0].post_restore_failure_msg &&
                      strcmp(bcd->components[0].post_restore_failure_msg, expected) == 0,
              "WS-12: the component's post-restore failure message is \"%s\"",
              bcd->components[0].post_restore_failure_msg ? bcd->components[0].post_restore_failure_msg : "(none)");
        lvss_bcd_free(bcd);
        free(doc);

        itest_requester_release(env, rr.bc);
        stop_writer(env, w2);
        free(expected);
        free(xml);
        sq_done(&s);
}


/* ---- A4 with the tools: vshadow -bc -exec under load, vshadow -r -exec into a new directory ----------- */

static int run_vshadow(itest_env *env, const char *const *args, char **ret_out) {
        const char *argv[16];
        size_t n = 0;
        char *path = program(env, "tools/vshadow");
        argv[n++] = path;
        for (size_t i = 0; args[i] && n < 15; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        itest_proc *p = itest_spawn_program(env, "vshadow", argv, true, true);
        int code = itest_program_exit(env, p, itest_ms(env, 60000));
        *ret_out = itest_stream_text(&p->out);
        free(path);
        return code;
}

static void test_sqlite_vshadow_round_trip(void **state) {
        itest_env *env = *state;
        sq s;
        char *out = NULL, *text = NULL, *bcd = NULL, *bc_arg = NULL, *r_arg = NULL, *exec_b = NULL, *exec_r = NULL;

        sq_init(env, &s);
        itest_start_lvssd(env, &opts);
        char *load_path = program(env, "writers/sqlite/lvss-sqlite-load");
        const char *load_argv[] = { load_path, s.db, s.ack, NULL };
        itest_proc *load = itest_spawn_program(env, "lvss-sqlite-load", load_argv, false, true);
        CHECK(itest_wait_file_lines(env, s.ack, 300, itest_ms(env, 20000)), "the load acknowledged nothing");
        itest_proc *w = start_writer(env, s.db, s.stamp);

        /* the backup: -exec copies the database files out of the shadow copy while it exists */
        bcd = xpath(env->dir, "sqlite.xml");
        char *backup_sh = xpath(env->dir, "backup.sh"), *restore_sh = xpath(env->dir, "restore.sh");
        CHECK(asprintf(&text,
                       "#!/bin/sh\n"
                       "set -e\n"
                       "cp \"$LVSS_SHADOW_1/" DB_NAME "\" '%s/'\n"
                       "if [ -f \"$LVSS_SHADOW_1/" DB_NAME "-wal\" ]; then cp \"$LVSS_SHADOW_1/" DB_NAME "-wal\" '%s/'; fi\n",
                       s.backup_dir, s.backup_dir) > 0,
              "out of memory");
        itest_write_file(backup_sh, text, strlen(text));
        free(text);
        CHECK(asprintf(&text,
                       "#!/bin/sh\n"
                       "set -e\n"
                       "test \"$LVSS_RESTORE\" = 1\n"
                       "cp '%s/" DB_NAME "' '%s/'\n"
                       "if [ -f '%s/" DB_NAME "-wal' ]; then cp '%s/" DB_NAME "-wal' '%s/'; fi\n",
                       s.backup_dir, s.restore_dir, s.backup_dir, s.backup_dir, s.restore_dir) > 0,
              "out of memory");
        itest_write_file(restore_sh, text, strlen(text));
        free(text);
        CHECK(chmod(backup_sh, 0755) == 0 && chmod(restore_sh, 0755) == 0, "chmod: %m");
        CHECK(asprintf(&bc_arg, "-bc=%s", bcd) > 0 && asprintf(&r_arg, "-r=%s", bcd) > 0 &&
                      asprintf(&exec_b, "-exec=%s", backup_sh) > 0 && asprintf(&exec_r, "-exec=%s", restore_sh) > 0,
              "out of memory");

        int code = run_vshadow(env, (const char *const[]) { bc_arg, exec_b, s.app_dir, NULL }, &out);
        CHECK(code == 0, "vshadow -bc -exec exited with %d\n%s", code, out);
        free(out);
        uint64_t stamp = read_stamp(s.stamp);
        check_load_goes_on(env, &s, 100);
        CHECK(itest_program_stop(env, load, itest_ms(env, 15000)) == 0, "lvss-sqlite-load failed");
        stop_writer(env, w);

        /* the restore: the application restarted on a fresh directory; -exec copies the files back */
        itest_proc *w2 = start_writer(env, s.restored_db, s.stamp);
        code = run_vshadow(env, (const char *const[]) { r_arg, exec_r, NULL }, &out);
        CHECK(code == 0, "A4: vshadow -r -exec exited with %d\n%s", code, out);
        const char *post = strstr(out, "Writer status after PostRestore:");
        CHECK(post && strstr(post, "Writer name: 'SQLite'") && strstr(post, "   State: [1] Stable\n"),
              "A4: the SQLite writer is not stable after PostRestore\n%s", out);
        const char *sess = strstr(out, "Session: {");
        CHECK(sess, "vshadow printed no session id\n%s", out);
        char line[256];
        snprintf(line, sizeof line, "lvss-writer-sqlite: session %.38s: PostRestore: 1 database checked, all ok",
                 sess + strlen("Session: "));
        free(out);
        itest_wait_line_must(env, w2, line, itest_ms(env, 10000));
        stop_writer(env, w2);
        check_restored_copy(&s, stamp);

        free(load_path);
        free(bcd);
        free(backup_sh);
        free(restore_sh);
        free(bc_arg);
        free(r_arg);
        free(exec_b);
        free(exec_r);
        sq_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_sqlite_backup_under_load_restore_elsewhere),
                ITEST(test_sqlite_corrupted_database_fails_post_restore),
                ITEST(test_sqlite_vshadow_round_trip),
        };
        return ITEST_MAIN("lvss-writer-sqlite end to end", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Unit tests: the catalog (architecture.md "State"; the ordering rule of
 * providers-and-writers.md). Each test uses its own database file in a
 * temporary directory; "restart" is close and reopen.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "catalog/catalog-queue.h"
#include "basic/test-run-dir.h"
#include "basic/util.h"

static char base_dir[256];
static unsigned db_counter;

static int group_setup(void **state) {
        const char *tmp = getenv("TMPDIR");

        snprintf(base_dir, sizeof base_dir, "%s/test-catalog-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        /* removed with its databases at every exit, meson's timeout (SIGTERM) too */
        return test_run_dir_make(base_dir) == 0 ? 0 : -1;
}

static int group_teardown(void **state) {
        test_run_dirs_remove();
        return 0;
}

static void new_db_path(char *ret, size_t size) {
        snprintf(ret, size, "%s/catalog-%u.db", base_dir, db_counter++);
}

static vss_id make_id(uint8_t seed) {
        vss_id id;
        for (int i = 0; i < 16; i++)
                id.bytes[i] = (uint8_t) (seed * 17 + i);
        return id;
}

/* Direct SQLite access, to look behind the catalog's back. */
static sqlite3 *raw_open(const char *path) {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
        return db;
}

static char *raw_text(sqlite3 *db, const char *sql) {
        sqlite3_stmt *stmt = NULL;
        char *s = NULL;
        int rc;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
                const unsigned char *v = sqlite3_column_text(stmt, 0);
                s = strdup(v ? (const char *) v : "(null)");
        } else
                assert_int_equal(rc, SQLITE_DONE);
        sqlite3_finalize(stmt);
        return s;
}

static int64_t raw_int(sqlite3 *db, const char *sql) {
        char *s = raw_text(db, sql);
        int64_t v;

        assert_non_null(s);
        v = strtoll(s, NULL, 10);
        free(s);
        return v;
}

static lvss_catalog *open_new(char *path, size_t size) {
        lvss_catalog *c = NULL;

        new_db_path(path, size);
        assert_int_equal(lvss_catalog_open(path, &c), 0);
        assert_non_null(c);
        return c;
}

static lvss_catalog_snapshot make_snapshot(uint8_t seed, const vss_id *session, bool persistent, const char *state) {
        static char volumes[256][32], paths[256][64];

        snprintf(volumes[seed], sizeof volumes[seed], "/srv/vol%u", seed);
        snprintf(paths[seed], sizeof paths[seed], "/var/lib/lvss/shadow/set/snap%u", seed);
        return (lvss_catalog_snapshot) {
                .snapshot_id = make_id(seed),
                .set_id = make_id(200),
                .session_id = session ? *session : (vss_id) {},
                .provider_id = make_id(201),
                .volume = volumes[seed],
                .snapshot_path = paths[seed],
                .state = state,
                .persistent = persistent,
                .context = persistent ? VSS_CTX_CLIENT_ACCESSIBLE : VSS_CTX_BACKUP,
                .attributes = persistent ? 0x8000000du : 0,
                .created_usec = 1000 + seed,
        };
}

/* ---- tests --------------------------------------------------------------- */

static void test_open_arguments(void **state) {
        lvss_catalog *c = NULL;
        char path[512];

        assert_null(lvss_catalog_close(NULL));
        assert_int_equal(lvss_catalog_open(NULL, &c), -EINVAL);
        new_db_path(path, sizeof path);
        assert_int_equal(lvss_catalog_open(path, NULL), -EINVAL);
        snprintf(path, sizeof path, "%s/no/such/dir/catalog.db", base_dir);
        assert_int_equal(lvss_catalog_open(path, &c), -EIO);
        assert_null(c);
}

static void test_open_settings(void **state) {
        char path[512], *s;
        lvss_catalog *c = open_new(path, sizeof path);
        sqlite3 *db;

        db = raw_open(path);
        s = raw_text(db, "PRAGMA journal_mode");
        assert_string_equal(s, "wal");
        free(s);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 5); /* the latest: issue 11 §5 */
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                     "name IN ('sessions', 'snapshots', 'writer_status')"),
                         3);
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_check(c), 1);
        lvss_catalog_close(c);
}

static void test_sessions(void **state) {
        char path[512], *st = NULL, *reason = NULL;
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id a = make_id(1), unknown = make_id(99), null_id = {};

        assert_int_equal(lvss_catalog_session_begin(c, &a, 1000, 4242, 111), 0);
        assert_int_equal(lvss_catalog_session_begin(c, &a, 1000, 4242, 111), -EEXIST);
        assert_int_equal(lvss_catalog_session_begin(c, &null_id, 0, 1, 1), -EINVAL);
        assert_int_equal(lvss_catalog_session_begin(NULL, &a, 0, 1, 1), -EINVAL);

        assert_int_equal(lvss_catalog_session_get(c, &a, &st, &reason), 0);
        assert_string_equal(st, "active");
        assert_null(reason);
        free(st);

        /* Values are bound, never pasted into SQL. */
        const char *nasty = "'; DROP TABLE sessions; --";
        assert_int_equal(lvss_catalog_session_end(c, &a, "completed", nasty, 222), 0);
        assert_int_equal(lvss_catalog_session_get(c, &a, &st, &reason), 0);
        assert_string_equal(st, "completed");
        assert_string_equal(reason, nasty);
        free(st);
        free(reason);

        /* The first end wins. */
        assert_int_equal(lvss_catalog_session_end(c, &a, "aborted", "later", 333), 0);
        assert_int_equal(lvss_catalog_session_get(c, &a, &st, NULL), 0);
        assert_string_equal(st, "completed");
        free(st);

        assert_int_equal(lvss_catalog_session_end(c, &unknown, "ended", NULL, 1), -ENOENT);
        assert_int_equal(lvss_catalog_session_end(c, &a, "bogus", NULL, 1), -EINVAL);
        assert_int_equal(lvss_catalog_session_end(c, &a, NULL, NULL, 1), -EINVAL);
        st = (char *) 0x1;
        assert_int_equal(lvss_catalog_session_get(c, &unknown, &st, &reason), -ENOENT);
        assert_ptr_equal(st, (char *) 0x1); /* untouched on failure */
        lvss_catalog_close(c);
}

static void test_abort_active_at_restart(void **state) {
        char path[512], *st = NULL, *reason = NULL;
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id a = make_id(1), b = make_id(2), d = make_id(3);

        assert_int_equal(lvss_catalog_session_begin(c, &a, 0, 10, 1), 0);
        assert_int_equal(lvss_catalog_session_begin(c, &b, 0, 11, 2), 0);
        assert_int_equal(lvss_catalog_session_begin(c, &d, 0, 12, 3), 0);
        assert_int_equal(lvss_catalog_session_end(c, &b, "ended", "released", 4), 0);
        lvss_catalog_close(c); /* lvssd dies */

        assert_int_equal(lvss_catalog_open(path, &c), 0);
        assert_int_equal(lvss_catalog_sessions_abort_active(c, "lvssd restarted", 5), 2);
        assert_int_equal(lvss_catalog_session_get(c, &a, &st, &reason), 0);
        assert_string_equal(st, "aborted");
        assert_string_equal(reason, "lvssd restarted");
        free(st);
        free(reason);
        assert_int_equal(lvss_catalog_session_get(c, &d, &st, NULL), 0);
        assert_string_equal(st, "aborted");
        free(st);
        assert_int_equal(lvss_catalog_session_get(c, &b, &st, &reason), 0);
        assert_string_equal(st, "ended");
        assert_string_equal(reason, "released");
        free(st);
        free(reason);
        assert_int_equal(lvss_catalog_sessions_abort_active(c, "again", 6), 0);
        lvss_catalog_close(c);
}

typedef struct collected {
        lvss_catalog_snapshot s[16];
        char volume[16][64], path[16][64], state[16][16];
        size_t n;
        lvss_catalog *remove_from; /* remove each row while iterating */
        int fail_at;               /* return -EINTR at this call (1-based); 0 never */
} collected;

static int collect(const lvss_catalog_snapshot *s, void *userdata) {
        collected *c = userdata;
        size_t i = c->n++;

        assert_true(i < 16);
        c->s[i] = *s;
        snprintf(c->volume[i], sizeof c->volume[i], "%s", s->volume);
        snprintf(c->path[i], sizeof c->path[i], "%s", strempty(s->snapshot_path));
        snprintf(c->state[i], sizeof c->state[i], "%s", s->state);
        if (c->fail_at > 0 && (size_t) c->fail_at == c->n)
                return -EINTR;
        if (c->remove_from)
                assert_int_equal(lvss_catalog_snapshot_remove(c->remove_from, &s->snapshot_id), 0);
        return 0;
}

static void test_snapshots(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id sess = make_id(1), unknown = make_id(99);
        lvss_catalog_snapshot a = make_snapshot(10, &sess, false, "creating");
        lvss_catalog_snapshot b = make_snapshot(11, &sess, true, "creating");
        collected got = {};

        assert_int_equal(lvss_catalog_session_begin(c, &sess, 0, 1, 1), 0);
        assert_int_equal(lvss_catalog_snapshot_add(c, &a), 0);
        assert_int_equal(lvss_catalog_snapshot_add(c, &a), -EEXIST);
        assert_int_equal(lvss_catalog_snapshot_add(c, &b), 0);

        /* A snapshot of an unknown session breaks a foreign key. */
        lvss_catalog_snapshot bad = make_snapshot(12, &unknown, false, "creating");
        assert_int_equal(lvss_catalog_snapshot_add(c, &bad), -ENOENT);
        bad = make_snapshot(12, &sess, false, "bogus");
        assert_int_equal(lvss_catalog_snapshot_add(c, &bad), -EINVAL);
        assert_int_equal(lvss_catalog_snapshot_add(c, NULL), -EINVAL);

        /* issue 11 §1: a set's rows in one transaction, all or none */
        lvss_catalog_snapshot batch[3] = { make_snapshot(20, &sess, false, "creating"),
                                           make_snapshot(21, &sess, false, "creating"),
                                           make_snapshot(10, &sess, false, "creating") /* a's id: EEXIST */ };
        assert_int_equal(lvss_catalog_snapshots_add(c, batch, 3), -EEXIST);
        /* set_state says -ENOENT for a row that is not there */
        assert_int_equal(lvss_catalog_snapshot_set_state(c, &batch[0].snapshot_id, "creating"), -ENOENT);
        assert_int_equal(lvss_catalog_snapshot_set_state(c, &batch[1].snapshot_id, "creating"), -ENOENT);
        batch[2] = make_snapshot(22, &sess, false, "bogus");
        assert_int_equal(lvss_catalog_snapshots_add(c, batch, 3), -EINVAL);
        assert_int_equal(lvss_catalog_snapshot_set_state(c, &batch[0].snapshot_id, "creating"), -ENOENT);
        assert_int_equal(lvss_catalog_snapshots_add(c, NULL, 1), -EINVAL);
        assert_int_equal(lvss_catalog_snapshots_add(c, NULL, 0), 0);
        batch[2] = make_snapshot(22, &sess, false, "creating");
        assert_int_equal(lvss_catalog_snapshots_add(c, batch, 3), 0);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(lvss_catalog_snapshot_set_state(c, &batch[i].snapshot_id, "creating"), 0);
                assert_int_equal(lvss_catalog_snapshot_remove(c, &batch[i].snapshot_id), 0);
        }

        assert_int_equal(lvss_catalog_snapshot_set_state(c, &b.snapshot_id, "created"), 0);
        assert_int_equal(lvss_catalog_snapshot_set_state(c, &unknown, "created"), -ENOENT);
        assert_int_equal(lvss_catalog_snapshot_set_state(c, &b.snapshot_id, "deleted"), -EINVAL);

        assert_int_equal(lvss_catalog_foreach_snapshot(c, collect, &got), 2);
        assert_int_equal(got.n, 2);
        /* ordered by creation time: a, then b; every field comes back */
        assert_true(vss_id_equal(&got.s[0].snapshot_id, &a.snapshot_id));
        assert_true(vss_id_equal(&got.s[0].set_id, &a.set_id));
        assert_true(vss_id_equal(&got.s[0].session_id, &sess));
        assert_true(vss_id_equal(&got.s[0].provider_id, &a.provider_id));
        assert_string_equal(got.volume[0], a.volume);
        assert_string_equal(got.path[0], a.snapshot_path);
        assert_string_equal(got.state[0], "creating");
        assert_false(got.s[0].persistent);
        assert_int_equal(got.s[0].context, VSS_CTX_BACKUP);
        assert_int_equal(got.s[0].created_usec, a.created_usec);
        assert_true(vss_id_equal(&got.s[1].snapshot_id, &b.snapshot_id));
        assert_string_equal(got.state[1], "created");
        assert_true(got.s[1].persistent);
        assert_int_equal(got.s[1].context, VSS_CTX_CLIENT_ACCESSIBLE);
        assert_int_equal(got.s[1].attributes, 0x8000000du);

        /* Ids are stored as braced lowercase text. */
        sqlite3 *db = raw_open(path);
        char *id = raw_text(db, "SELECT id FROM snapshots ORDER BY created_usec LIMIT 1"), expect[VSS_ID_STRING_MAX];
        vss_id_format(&a.snapshot_id, expect);
        assert_string_equal(id, expect);
        free(id);
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_snapshot_remove(c, &a.snapshot_id), 0);
        assert_int_equal(lvss_catalog_snapshot_remove(c, &a.snapshot_id), 0); /* idempotent */
        got = (collected) {};
        assert_int_equal(lvss_catalog_foreach_snapshot(c, collect, &got), 1);
        assert_true(vss_id_equal(&got.s[0].snapshot_id, &b.snapshot_id));
        assert_int_equal(lvss_catalog_foreach_snapshot(c, NULL, NULL), -EINVAL);
        lvss_catalog_close(c);
}

static bool collected_has(const collected *g, uint8_t seed) {
        vss_id id = make_id(seed);
        for (size_t i = 0; i < g->n; i++)
                if (vss_id_equal(&g->s[i].snapshot_id, &id))
                        return true;
        return false;
}

static void test_foreach_orphan(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id active = make_id(1), ended = make_id(2), aborted = make_id(3);
        collected got = {};

        assert_int_equal(lvss_catalog_session_begin(c, &active, 0, 1, 1), 0);
        assert_int_equal(lvss_catalog_session_begin(c, &ended, 0, 2, 1), 0);
        assert_int_equal(lvss_catalog_session_begin(c, &aborted, 0, 3, 1), 0);
        assert_int_equal(lvss_catalog_session_end(c, &ended, "ended", NULL, 2), 0);
        assert_int_equal(lvss_catalog_session_end(c, &aborted, "aborted", "connection lost", 2), 0);

        const lvss_catalog_snapshot all[] = {
                make_snapshot(20, &active, false, "created"),  /* session alive: kept */
                make_snapshot(21, &active, false, "creating"), /* session alive: kept */
                make_snapshot(22, &active, true, "creating"),  /* session alive: kept */
                make_snapshot(23, &ended, false, "created"),   /* orphan: auto-release */
                make_snapshot(24, &ended, true, "created"),    /* persistent: kept */
                make_snapshot(25, &ended, true, "creating"),   /* orphan: never finished */
                make_snapshot(26, &aborted, false, "creating"), /* orphan (once, though both rules match) */
                make_snapshot(27, &aborted, true, "created"),  /* persistent: kept */
                make_snapshot(28, NULL, false, "created"),     /* no session, auto-release: orphan */
                make_snapshot(29, NULL, true, "created"),      /* no session, persistent: kept */
        };
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                assert_int_equal(lvss_catalog_snapshot_add(c, &all[i]), 0);

        assert_int_equal(lvss_catalog_foreach_orphan(c, collect, &got), 4);
        assert_int_equal(got.n, 4);
        assert_true(collected_has(&got, 23));
        assert_true(collected_has(&got, 25));
        assert_true(collected_has(&got, 26));
        assert_true(collected_has(&got, 28));
        assert_true(vss_id_is_null(&got.s[3].session_id)); /* 28, the newest; NULL session reads as null id */

        /* A negative return stops the walk and is returned. */
        got = (collected) { .fail_at = 2 };
        assert_int_equal(lvss_catalog_foreach_orphan(c, collect, &got), -EINTR);
        assert_int_equal(got.n, 2);

        /* The start-up clean-up: the callback deletes and removes the row. */
        got = (collected) { .remove_from = c };
        assert_int_equal(lvss_catalog_foreach_orphan(c, collect, &got), 4);
        got = (collected) {};
        assert_int_equal(lvss_catalog_foreach_orphan(c, collect, &got), 0);
        assert_int_equal(lvss_catalog_foreach_snapshot(c, collect, &got), 6);

        /* The active session dies: its auto-release and creating ones become orphans. */
        assert_int_equal(lvss_catalog_sessions_abort_active(c, "restart", 9), 1);
        got = (collected) {};
        assert_int_equal(lvss_catalog_foreach_orphan(c, collect, &got), 3);
        assert_true(collected_has(&got, 20));
        assert_true(collected_has(&got, 21));
        assert_true(collected_has(&got, 22));
        lvss_catalog_close(c);
}

static lvss_catalog_status status_row(const vss_id *session, uint8_t instance, vss_writer_event event) {
        return (lvss_catalog_status) {
                .session_id = *session,
                .instance_id = make_id(instance),
                .writer_id = make_id(70),
                .writer_name = "w",
                .state = VSS_WS_STABLE,
                .event = event,
                .ok = true,
        };
}

/* issue 11 §5: the history of several events in one transaction: every row of every
 * batch, in order; none when one row of one batch is bad; and the catalog's other
 * writes work as before afterwards. */
static void test_status_add_batches(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id sess = make_id(1), other = make_id(2), unknown = make_id(99);
        lvss_catalog_status a[2], b[3];
        const lvss_catalog_status *rows[2] = { a, b };
        size_t n[2] = { 2, 3 };
        sqlite3 *db;

        assert_int_equal(lvss_catalog_session_begin(c, &sess, 0, 1, 100), 0);
        assert_int_equal(lvss_catalog_session_begin(c, &other, 0, 1, 100), 0);
        for (uint8_t i = 0; i < 2; i++)
                a[i] = status_row(&sess, (uint8_t) (10 + i), VSS_EVENT_PREPARE_BACKUP);
        for (uint8_t i = 0; i < 3; i++)
                b[i] = status_row(&other, (uint8_t) (20 + i), VSS_EVENT_FREEZE);
        assert_int_equal(lvss_catalog_status_add_batches(c, rows, n, 2), 0);
        assert_int_equal(lvss_catalog_status_add_batches(c, rows, n, 0), 0);
        assert_int_equal(lvss_catalog_status_add_batches(c, NULL, n, 1), -EINVAL);

        b[1].session_id = unknown; /* one bad row in the second batch: nothing of either */
        assert_int_equal(lvss_catalog_status_add_batches(c, rows, n, 2), -ENOENT);
        /* a durable write after it still works (the history's synchronous=NORMAL is undone) */
        assert_int_equal(lvss_catalog_session_end(c, &sess, "completed", NULL, 200), 0);

        db = raw_open(path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status"), 5);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status WHERE event = 4"), 3);
        /* in order: the first batch's rows before the second's */
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status AS x, writer_status AS y "
                                     "WHERE x.event = 4 AND y.event <> 4 AND x.id < y.id"), 0);
        sqlite3_close(db);
        lvss_catalog_close(c);
}

typedef struct QueueDone {
        unsigned calls;
        int r[8];
} QueueDone;

static void queue_done(int r, void *data, void *userdata) {
        QueueDone *d = userdata;
        const lvss_catalog_status_rows *h = data;

        assert_true(h->n >= 1);
        assert_true(h->rows[0].instance_id.bytes[0] < 8);
        d->r[h->rows[0].instance_id.bytes[0]] = r;
        d->calls++;
}

/* issue 11 §5: history jobs queued behind a slow write run as one transaction on the
 * catalog thread; each still gets its own result: one session's refused rows (an
 * unknown session) must not lose the others'. */
static void test_queue_history_joined(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id sess = make_id(1), unknown = make_id(99);
        lvss_catalog_queue *q = NULL;
        sd_event *e = NULL;
        QueueDone d = {};
        sqlite3 *db;

        assert_int_equal(lvss_catalog_session_begin(c, &sess, 0, 1, 100), 0);
        lvss_catalog_close(c);
        assert_int_equal(sd_event_new(&e), 0);
        /* the thread waits 300 ms before each batch: the jobs after the first queue up meanwhile */
        assert_int_equal(setenv("LVSS_TEST_CATALOG_DELAY_MS", "300", 1), 0);
        assert_int_equal(lvss_catalog_queue_new(path, e, &q), 0);
        (void) unsetenv("LVSS_TEST_CATALOG_DELAY_MS");
        for (uint8_t i = 0; i < 6; i++) {
                lvss_catalog_status *rows = calloc(2, sizeof *rows);
                assert_non_null(rows);
                for (size_t k = 0; k < 2; k++) {
                        rows[k] = status_row(i == 3 ? &unknown : &sess, i, VSS_EVENT_THAW);
                        rows[k].writer_name = strdup("w");
                        rows[k].instance_id.bytes[0] = i;
                        rows[k].instance_id.bytes[1] = (uint8_t) (0x80 + k);
                }
                assert_int_equal(lvss_catalog_queue_status_add_many(q, rows, 2, queue_done, &d), 0);
        }
        while (d.calls < 6)
                assert_true(sd_event_run(e, 10 * 1000000ULL) >= 0);
        lvss_catalog_queue_free(q);
        sd_event_unref(e);

        for (int i = 0; i < 6; i++)
                assert_int_equal(d.r[i], i == 3 ? -ENOENT : 0);
        db = raw_open(path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status"), 10);
        sqlite3_close(db);
}

/* One transaction for a fan-out's rows: all of them, or none when one is bad. */
static void test_status_add_many(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id sess = make_id(1);
        lvss_catalog_status rows[3];
        sqlite3 *db;

        assert_int_equal(lvss_catalog_session_begin(c, &sess, 0, 1, 100), 0);
        for (size_t i = 0; i < 3; i++)
                rows[i] = (lvss_catalog_status) {
                        .session_id = sess,
                        .instance_id = make_id(60 + (int) i),
                        .writer_id = make_id(70),
                        .writer_name = "w",
                        .state = VSS_WS_STABLE,
                        .event = VSS_EVENT_PREPARE_BACKUP,
                        .ok = true,
                };
        assert_int_equal(lvss_catalog_status_add_many(c, rows, 3), 0);
        assert_int_equal(lvss_catalog_status_add_many(c, rows, 0), 0);
        assert_int_equal(lvss_catalog_status_add_many(c, NULL, 1), -EINVAL);

        rows[2].session_id = make_id(99); /* unknown session: the whole batch fails */
        assert_int_equal(lvss_catalog_status_add_many(c, rows, 3), -ENOENT);

        db = raw_open(path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status"), 3);
        sqlite3_close(db);
        lvss_catalog_close(c);
}

static void test_status_add(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id sess = make_id(1), unknown = make_id(98);
        lvss_catalog_status s = {
                .session_id = sess,
                .instance_id = make_id(50),
                .writer_id = make_id(51),
                .writer_name = "lvss-writer-sqlite",
                .instance_name = "main",
                .state = VSS_WS_FAILED_AT_FREEZE,
                .failure = VSS_E_WRITERERROR_TIMEOUT,
                .application_result = VSS_S_OK,
                .application_message = "it's \"late\"",
                .event = VSS_EVENT_FREEZE,
                .ok = false,
                .sent_usec = 12345,
                .duration_usec = 10 * USEC_PER_SEC,
        };
        sqlite3 *db;
        char *v;

        assert_int_equal(lvss_catalog_session_begin(c, &sess, 0, 1, 1), 0);
        assert_int_equal(lvss_catalog_status_add(c, &s), 0);
        s.event = VSS_EVENT_ABORT;
        s.ok = true;
        s.writer_name = NULL;
        s.answered_by_lvssd = true; /* issue 11 §5 */
        assert_int_equal(lvss_catalog_status_add(c, &s), 0);
        s.answered_by_lvssd = false;
        s.session_id = (vss_id) {}; /* no session: stored as NULL */
        assert_int_equal(lvss_catalog_status_add(c, &s), 0);
        s.session_id = unknown;
        assert_int_equal(lvss_catalog_status_add(c, &s), -ENOENT);
        assert_int_equal(lvss_catalog_status_add(c, NULL), -EINVAL);

        db = raw_open(path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status"), 3);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_status WHERE session_id IS NULL"), 1);
        assert_int_equal(raw_int(db, "SELECT failure FROM writer_status ORDER BY id LIMIT 1"),
                         (int64_t) VSS_E_WRITERERROR_TIMEOUT);
        assert_int_equal(raw_int(db, "SELECT state FROM writer_status ORDER BY id LIMIT 1"), VSS_WS_FAILED_AT_FREEZE);
        assert_int_equal(raw_int(db, "SELECT duration_usec FROM writer_status ORDER BY id LIMIT 1"),
                         10 * USEC_PER_SEC);
        /* issue 11 §5: who answered; only the second row was lvssd's */
        assert_int_equal(raw_int(db, "SELECT group_concat(answered_by_lvssd, '') FROM writer_status"), 10);
        v = raw_text(db, "SELECT application_message FROM writer_status ORDER BY id LIMIT 1");
        assert_string_equal(v, "it's \"late\"");
        free(v);
        v = raw_text(db, "SELECT writer_name FROM writer_status ORDER BY id DESC LIMIT 1");
        assert_string_equal(v, "(null)");
        free(v);
        sqlite3_close(db);
        lvss_catalog_close(c);
}

static char *schema_of(const char *path) {
        sqlite3 *db = raw_open(path);
        char *s = raw_text(db, "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master ORDER BY name)");
        sqlite3_close(db);
        return s;
}

static void test_reopen_keeps_data_and_migration_is_noop(void **state) {
        char path[512], *before, *after, *st = NULL;
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id sess = make_id(1);
        lvss_catalog_snapshot a = make_snapshot(40, &sess, true, "created");
        collected got = {};
        sqlite3 *db;

        assert_int_equal(lvss_catalog_session_begin(c, &sess, 0, 1, 1), 0);
        assert_int_equal(lvss_catalog_snapshot_add(c, &a), 0);
        lvss_catalog_close(c);

        before = schema_of(path);
        assert_non_null(before);
        assert_int_equal(lvss_catalog_open(path, &c), 0);
        after = schema_of(path);
        assert_string_equal(before, after);
        free(before);
        free(after);

        db = raw_open(path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 5); /* the latest: issue 11 §5 */
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_session_get(c, &sess, &st, NULL), 0);
        assert_string_equal(st, "active");
        free(st);
        assert_int_equal(lvss_catalog_foreach_snapshot(c, collect, &got), 1);
        assert_true(vss_id_equal(&got.s[0].snapshot_id, &a.snapshot_id));
        assert_string_equal(got.volume[0], a.volume);
        assert_int_equal(lvss_catalog_check(c), 1);

        /* Two catalogs on one file (a second lvssd, a tool): both work. */
        lvss_catalog *c2 = NULL;
        assert_int_equal(lvss_catalog_open(path, &c2), 0);
        assert_int_equal(lvss_catalog_snapshot_set_state(c2, &a.snapshot_id, "created"), 0);
        lvss_catalog_close(c2);
        lvss_catalog_close(c);
}

/* Issue 8 item 4: a writer class's owner is recorded once, survives a reopen, and a takeover replaces it. */
static void test_writer_owners(void **state) {
        char path[512];
        lvss_catalog *c = open_new(path, sizeof path);
        vss_id cls = make_id(60), other = make_id(61), null_id = {};
        uid_t uid = 12345;
        uint64_t since = 0;

        assert_int_equal(lvss_catalog_writer_owner_get(c, &cls, &uid, NULL), -ENOENT);
        assert_int_equal(uid, 12345); /* untouched on failure */
        assert_int_equal(lvss_catalog_writer_owner_get(c, &null_id, &uid, NULL), -EINVAL);
        assert_int_equal(lvss_catalog_writer_owner_set(c, &null_id, 1, "x", 1), -EINVAL);

        assert_int_equal(lvss_catalog_writer_owner_set(c, &cls, 1001, "impostor", 100), 0);
        assert_int_equal(lvss_catalog_writer_owner_get(c, &cls, &uid, &since), 0);
        assert_int_equal(uid, 1001);
        assert_int_equal(since, 100);
        assert_int_equal(lvss_catalog_writer_owner_get(c, &other, &uid, NULL), -ENOENT);

        lvss_catalog_close(c);
        assert_int_equal(lvss_catalog_open(path, &c), 0);
        assert_int_equal(lvss_catalog_writer_owner_get(c, &cls, &uid, NULL), 0);
        assert_int_equal(uid, 1001);

        /* the classes bound to a uid are counted (MaxWriterClassesPerUser=) */
        unsigned n = 99;
        assert_int_equal(lvss_catalog_writer_owner_count(c, 1001, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(lvss_catalog_writer_owner_count(c, 1002, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(lvss_catalog_writer_owner_count(c, 1001, NULL), -EINVAL);

        /* root takes the class over: one row, the new uid */
        assert_int_equal(lvss_catalog_writer_owner_set(c, &cls, 0, "lvss-writer-sqlite", 200), 0);
        assert_int_equal(lvss_catalog_writer_owner_get(c, &cls, &uid, &since), 0);
        assert_int_equal(uid, 0);
        assert_int_equal(since, 200);
        assert_int_equal(lvss_catalog_writer_owner_count(c, 1001, &n), 0);
        assert_int_equal(n, 0);
        lvss_catalog_close(c);

        sqlite3 *db = raw_open(path);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_owners"), 1);
        sqlite3_close(db);
}

static void test_newer_schema_refused(void **state) {
        char path[512];
        lvss_catalog *c = NULL;
        sqlite3 *db;

        new_db_path(path, sizeof path);
        db = raw_open(path);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_open(path, &c), -EPROTONOSUPPORT);
        assert_null(c);

        db = raw_open(path); /* untouched */
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master"), 0);
        sqlite3_close(db);
}

static void test_partial_schema_migrates(void **state) {
        char path[512];
        lvss_catalog *c = NULL;
        sqlite3 *db;

        /* A file from before the catalog existed (version 0) with a stray table:
         * migration 1 runs and keeps what was there. */
        new_db_path(path, sizeof path);
        db = raw_open(path);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('keep');", NULL,
                                      NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_open(path, &c), 0);
        lvss_catalog_close(c);
        db = raw_open(path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 5); /* the latest: issue 11 §5 */
        assert_int_equal(raw_int(db, "SELECT count(*) FROM notes"), 1);
        sqlite3_close(db);
}

typedef struct frozen_seen {
        char list[256];
        bool remove_in_cb;
        lvss_catalog *c;
} frozen_seen;

static int frozen_collect(const char *mount_point, const char *device, void *userdata) {
        frozen_seen *f = userdata;
        size_t n = strlen(f->list);

        snprintf(f->list + n, sizeof f->list - n, "%s=%s;", mount_point, device);
        if (f->remove_in_cb)
                assert_int_equal(lvss_catalog_frozen_remove(f->c, mount_point), 0);
        return 0;
}

/* Issue 10 part 3: the frozen file systems survive a restart, latest first; a
 * version-2 catalog (issue 8) migrates to 3 and keeps its rows. */
static void test_frozen_filesystems(void **state) {
        char path[512];
        lvss_catalog *c = NULL;
        vss_id sess = make_id(70);
        frozen_seen seen = {};
        sqlite3 *db;

        new_db_path(path, sizeof path);
        db = raw_open(path);
        /* version 2 as issue 8 left it: migrations 1 and 2 by hand (of 1, the table migration 5 alters) */
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE writer_status (id INTEGER PRIMARY KEY, session_id TEXT, instance_id TEXT NOT NULL, "
                                          "writer_id TEXT NOT NULL, writer_name TEXT, instance_name TEXT, state INTEGER NOT NULL, "
                                          "failure INTEGER NOT NULL, application_result INTEGER NOT NULL, "
                                          "application_message TEXT, event INTEGER NOT NULL, ok INTEGER NOT NULL, "
                                          "sent_usec INTEGER NOT NULL, duration_usec INTEGER NOT NULL);"
                                          "CREATE TABLE writer_owners (writer_id TEXT PRIMARY KEY NOT NULL, "
                                          "uid INTEGER NOT NULL, writer_name TEXT, since_usec INTEGER NOT NULL);"
                                          "INSERT INTO writer_owners VALUES ('x', 7, 'w', 1);"
                                          "PRAGMA user_version = 2;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(lvss_catalog_open(path, &c), 0);
        db = raw_open(path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 5); /* the latest: issue 11 §5 */
        assert_int_equal(raw_int(db, "SELECT count(*) FROM writer_owners"), 1);
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_frozen_add(c, NULL, "7:0", &sess, 1), -EINVAL);
        assert_int_equal(lvss_catalog_frozen_add(c, "/mnt/a", "7:1", &sess, 10), 0);
        assert_int_equal(lvss_catalog_frozen_add(c, "/mnt/b", "7:2", &sess, 20), 0);
        assert_int_equal(lvss_catalog_frozen_add(c, "/mnt/c", "7:3", &sess, 30), 0);
        assert_int_equal(lvss_catalog_frozen_remove(c, "/mnt/b"), 0);
        assert_int_equal(lvss_catalog_frozen_remove(c, "/mnt/none"), 0);
        lvss_catalog_close(c);

        assert_int_equal(lvss_catalog_open(path, &c), 0);
        seen.c = c;
        seen.remove_in_cb = true;
        assert_int_equal(lvss_catalog_foreach_frozen(c, frozen_collect, &seen), 0);
        assert_string_equal(seen.list, "/mnt/c=7:3;/mnt/a=7:1;");
        seen = (frozen_seen) { .c = c };
        assert_int_equal(lvss_catalog_foreach_frozen(c, frozen_collect, &seen), 0);
        assert_string_equal(seen.list, "");
        lvss_catalog_close(c);
}

static int limit_collect(const char *volume, uint64_t bytes, unsigned pct, void *userdata) {
        char *list = userdata;
        size_t len = strlen(list);

        snprintf(list + len, 512 - len, "%s=%llu/%u;", volume, (unsigned long long) bytes, pct);
        return 0;
}

/* Issue 12 §2: shadow storage limits survive a restart, a later one replaces an earlier
 * one; a version-3 catalog (issue 10) migrates to 4 and keeps its rows. */
static void test_storage_limits(void **state) {
        char path[512], list[512] = "";
        lvss_catalog *c = NULL;
        sqlite3 *db;

        new_db_path(path, sizeof path);
        db = raw_open(path);
        /* version 3 as issue 10 left it: the tables this test reads, and the one migration 5 alters, by hand */
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE writer_status (id INTEGER PRIMARY KEY, session_id TEXT, instance_id TEXT NOT NULL, "
                                          "writer_id TEXT NOT NULL, writer_name TEXT, instance_name TEXT, state INTEGER NOT NULL, "
                                          "failure INTEGER NOT NULL, application_result INTEGER NOT NULL, "
                                          "application_message TEXT, event INTEGER NOT NULL, ok INTEGER NOT NULL, "
                                          "sent_usec INTEGER NOT NULL, duration_usec INTEGER NOT NULL);"
                                          "CREATE TABLE frozen_filesystems (mount_point TEXT PRIMARY KEY NOT NULL, "
                                          "device TEXT NOT NULL, session_id TEXT, frozen_usec INTEGER NOT NULL);"
                                          "INSERT INTO frozen_filesystems VALUES ('/mnt/x', '7:9', NULL, 5);"
                                          "PRAGMA user_version = 3;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(lvss_catalog_open(path, &c), 0);
        db = raw_open(path);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), 5);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM frozen_filesystems"), 1);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM shadow_storage"), 0);
        sqlite3_close(db);

        assert_int_equal(lvss_catalog_storage_limit_set(c, "relative", 1, 0), -EINVAL);
        assert_int_equal(lvss_catalog_storage_limit_set(c, "/srv", 0, 101), -EINVAL);
        assert_int_equal(lvss_catalog_storage_limit_set(c, "/srv", 1ULL << 30, 0), 0);
        assert_int_equal(lvss_catalog_storage_limit_set(c, "/data", 0, 20), 0);
        assert_int_equal(lvss_catalog_storage_limit_set(c, "/srv", 0, 0), 0); /* UNBOUNDED replaces 1G */
        lvss_catalog_close(c);

        assert_int_equal(lvss_catalog_open(path, &c), 0);
        assert_int_equal(lvss_catalog_foreach_storage_limit(c, limit_collect, list), 0);
        assert_string_equal(list, "/data=0/20;/srv=0/0;");
        lvss_catalog_close(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_storage_limits),
                cmocka_unit_test(test_frozen_filesystems),
                cmocka_unit_test(test_open_arguments),
                cmocka_unit_test(test_open_settings),
                cmocka_unit_test(test_sessions),
                cmocka_unit_test(test_abort_active_at_restart),
                cmocka_unit_test(test_snapshots),
                cmocka_unit_test(test_foreach_orphan),
                cmocka_unit_test(test_status_add),
                cmocka_unit_test(test_status_add_many),
                cmocka_unit_test(test_status_add_batches),
                cmocka_unit_test(test_queue_history_joined),
                cmocka_unit_test(test_reopen_keeps_data_and_migration_is_noop),
                cmocka_unit_test(test_writer_owners),
                cmocka_unit_test(test_newer_schema_refused),
                cmocka_unit_test(test_partial_schema_migrates),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

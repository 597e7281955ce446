/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The catalog: one SQLite database that survives lvssd.
 *
 * Ordering rule. A snapshot row is written (state "creating") before the
 * provider makes anything on disk, moves to "created" once the snapshot is
 * complete, and is removed only after the provider deleted it. A crash at any
 * point therefore leaves either nothing, or a row pointing at whatever
 * exists; at start-up lvssd marks the sessions that were "active" as aborted
 * (lvss_catalog_sessions_abort_active) and then deletes every orphan
 * (lvss_catalog_foreach_orphan: auto-release snapshots of sessions that are
 * gone, and "creating" leftovers) through the provider before removing its
 * row. For that rule to hold, every write is durable when the call returns:
 * one statement per call (its own implicit transaction), WAL with
 * synchronous=FULL.
 *
 * Schema. Versioned by PRAGMA user_version: migrations[i] takes the database
 * from version i to i + 1 and sets user_version itself, inside one
 * BEGIN IMMEDIATE transaction, so two lvssd racing on a new file migrate it
 * once. A database newer than this lvssd is refused, never downgraded.
 *
 * Values. Ids are stored as their braced lowercase text (vss_id_format); a
 * null session id is stored as NULL (a snapshot or status that belongs to no
 * session), so the foreign keys to sessions(id) hold. All SQL is constant
 * text; values are always bound parameters.
 *
 * Errors. SQLite errors are logged to stderr ("lvssd: catalog: ...", with
 * SQLite's message) and returned as -EIO, except a duplicate id (-EEXIST), a
 * reference to an unknown session (-ENOENT) and out of memory (-ENOMEM).
 */

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sqlite3.h>

#include "catalog/catalog.h"
#include "basic/util.h"

#define BUSY_TIMEOUT_MSEC 5000

struct lvss_catalog {
        sqlite3 *db;
};

/* Each entry takes the schema from version (index) to (index + 1) and sets
 * PRAGMA user_version itself. Append only; never edit a released entry. */
static const char *const migrations[] = {
        /* 1: sessions, snapshots, writer-status history */
        "CREATE TABLE sessions ("
        "        id TEXT PRIMARY KEY NOT NULL,"
        "        uid INTEGER NOT NULL,"
        "        pid INTEGER NOT NULL,"
        "        started_usec INTEGER NOT NULL,"
        "        ended_usec INTEGER,"
        "        state TEXT NOT NULL,"
        "        reason TEXT"
        ");"
        "CREATE INDEX sessions_by_state ON sessions(state);"
        "CREATE TABLE snapshots ("
        "        id TEXT PRIMARY KEY NOT NULL,"
        "        set_id TEXT NOT NULL,"
        "        session_id TEXT REFERENCES sessions(id),"
        "        provider_id TEXT NOT NULL,"
        "        volume TEXT NOT NULL,"
        "        snapshot_path TEXT,"
        "        state TEXT NOT NULL,"
        "        persistent INTEGER NOT NULL,"
        "        context INTEGER NOT NULL,"
        "        attributes INTEGER NOT NULL,"
        "        created_usec INTEGER NOT NULL"
        ");"
        "CREATE INDEX snapshots_by_set ON snapshots(set_id);"
        "CREATE INDEX snapshots_by_session ON snapshots(session_id);"
        "CREATE TABLE writer_status ("
        "        id INTEGER PRIMARY KEY," /* the rowid, kept stable by VACUUM */
        "        session_id TEXT REFERENCES sessions(id),"
        "        instance_id TEXT NOT NULL,"
        "        writer_id TEXT NOT NULL,"
        "        writer_name TEXT,"
        "        instance_name TEXT,"
        "        state INTEGER NOT NULL,"
        "        failure INTEGER NOT NULL,"
        "        application_result INTEGER NOT NULL,"
        "        application_message TEXT,"
        "        event INTEGER NOT NULL,"
        "        ok INTEGER NOT NULL,"
        "        sent_usec INTEGER NOT NULL,"
        "        duration_usec INTEGER NOT NULL"
        ");"
        "CREATE INDEX writer_status_by_session ON writer_status(session_id);"
        "PRAGMA user_version = 1;",
        /* 2: the uid each writer class is bound to (issue 8 item 4) */
        "CREATE TABLE writer_owners ("
        "        writer_id TEXT PRIMARY KEY NOT NULL,"
        "        uid INTEGER NOT NULL,"
        "        writer_name TEXT,"
        "        since_usec INTEGER NOT NULL"
        ");"
        "PRAGMA user_version = 2;",
        /* 3: the file systems the exec provider froze (issue 10 part 3): a row is
         * written before FIFREEZE and removed after FITHAW; start-up thaws what is left */
        "CREATE TABLE frozen_filesystems ("
        "        mount_point TEXT PRIMARY KEY NOT NULL,"
        "        device TEXT NOT NULL,"
        "        session_id TEXT,"
        "        frozen_usec INTEGER NOT NULL"
        ");"
        "PRAGMA user_version = 3;",
        /* 4: shadow storage limits set at run time (vssadmin resize shadowstorage, issue 12 §2);
         * they win over lvssd.conf's MaxSize= of the same volume */
        "CREATE TABLE shadow_storage ("
        "        volume TEXT PRIMARY KEY NOT NULL,"
        "        max_bytes INTEGER NOT NULL,"
        "        max_percent INTEGER NOT NULL"
        ");"
        "PRAGMA user_version = 4;",
        /* 5: who answered the event (issue 11 §5): 1 when lvssd answered for a writer that
         * declared it does not handle it, 0 for the writer's own answer (every older row) */
        "ALTER TABLE writer_status ADD COLUMN answered_by_lvssd INTEGER NOT NULL DEFAULT 0;"
        "PRAGMA user_version = 5;",
};

#define SNAPSHOT_COLUMNS                                                                               \
        "s.id, s.set_id, s.session_id, s.provider_id, s.volume, s.snapshot_path, s.state, s.persistent, " \
        "s.context, s.attributes, s.created_usec"

static void finalizep(sqlite3_stmt **s) {
        if (*s)
                sqlite3_finalize(*s);
        *s = NULL;
}

static int errno_from_sqlite(int rc) {
        switch (rc) {
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE:
                return -EEXIST;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
                return -ENOENT;
        case SQLITE_NOMEM:
                return -ENOMEM;
        default:
                /* "database or disk is full": say so (issue 8 item 6) */
                return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
        }
}

/* Logs @what with SQLite's message for @rc and returns the errno for it. */
static int log_sqlite(sqlite3 *db, int rc, const char *what) {
        fprintf(stderr, "lvssd: catalog: %s: %s\n", what,
                db && sqlite3_extended_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return errno_from_sqlite(rc);
}

static bool session_state_valid_end(const char *state) {
        return state && (strcmp(state, "completed") == 0 || strcmp(state, "aborted") == 0 ||
                         strcmp(state, "ended") == 0);
}

static bool snapshot_state_valid(const char *state) {
        return state && (strcmp(state, "creating") == 0 || strcmp(state, "created") == 0);
}

/*
 * Binds the values after @types to the parameters of @stmt, in order:
 *   'i' int64_t   't' const char * (NULL binds NULL)
 *   'd' const vss_id * as braced text
 *   's' const vss_id * as braced text, the null id (or NULL) as NULL
 */
static int bind_values(sqlite3_stmt *stmt, const char *types, va_list ap) {
        int idx = 1, rc = SQLITE_OK;

        for (const char *t = types; *t && rc == SQLITE_OK; t++, idx++) {
                char id[VSS_ID_STRING_MAX];
                const vss_id *v;

                switch (*t) {
                case 'i':
                        rc = sqlite3_bind_int64(stmt, idx, va_arg(ap, int64_t));
                        break;
                case 't': {
                        const char *s = va_arg(ap, const char *);
                        rc = s ? sqlite3_bind_text(stmt, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(stmt, idx);
                        break;
                }
                case 'd':
                case 's':
                        v = va_arg(ap, const vss_id *);
                        if (*t == 's' && vss_id_is_null(v)) {
                                rc = sqlite3_bind_null(stmt, idx);
                                break;
                        }
                        vss_id_format(v, id);
                        rc = sqlite3_bind_text(stmt, idx, id, -1, SQLITE_TRANSIENT);
                        break;
                default:
                        rc = SQLITE_MISUSE;
                }
        }
        return rc;
}

/* Prepares @sql and binds the values described by @types (see bind_values). */
static int prepare(lvss_catalog *c, sqlite3_stmt **ret, const char *sql, const char *types, ...) {
        sqlite3_stmt *stmt = NULL;
        va_list ap;
        int rc;

        rc = sqlite3_prepare_v2(c->db, sql, -1, &stmt, NULL);
        if (rc != SQLITE_OK)
                return log_sqlite(c->db, rc, "prepare");

        va_start(ap, types);
        rc = bind_values(stmt, types, ap);
        va_end(ap);
        if (rc != SQLITE_OK) {
                int r = log_sqlite(c->db, rc, "bind");
                sqlite3_finalize(stmt);
                return r;
        }

        *ret = stmt;
        return 0;
}

/* Steps a statement that returns no rows; returns the number of rows changed. */
static int step_done(lvss_catalog *c, sqlite3_stmt *stmt, const char *what) {
        int rc = sqlite3_step(stmt);

        if (rc != SQLITE_DONE)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), what);
        return sqlite3_changes(c->db);
}

/* Runs constant SQL (pragmas, migrations); no values. */
static int exec(lvss_catalog *c, const char *sql, const char *what) {
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

        if (rc != SQLITE_OK)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), what);
        return 0;
}

/* The first column of the first row of a constant query, as text (owned). */
static int query_text(lvss_catalog *c, const char *sql, char **ret) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        const unsigned char *v;
        char *s;
        int r, rc;

        r = prepare(c, &stmt, sql, "");
        if (r < 0)
                return r;
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return log_sqlite(c->db, rc == SQLITE_DONE ? SQLITE_ERROR : sqlite3_extended_errcode(c->db), sql);
        v = sqlite3_column_text(stmt, 0);
        s = strdup(v ? (const char *) v : "");
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int user_version(lvss_catalog *c, int *ret) {
        _cleanup_(freep) char *v = NULL;
        char *end;
        long l;
        int r;

        r = query_text(c, "PRAGMA user_version", &v);
        if (r < 0)
                return r;
        if (!v)
                return -EIO;
        errno = 0;
        l = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != 0 || l < INT_MIN || l > INT_MAX)
                return -EBADMSG; /* SQLite answers an int */
        *ret = (int) l;
        return 0;
}

static int migrate(lvss_catalog *c) {
        int r, version;

        r = user_version(c, &version);
        if (r < 0)
                return r;
        if (version == (int) ELEMENTSOF(migrations))
                return 0; /* the common case: nothing to do, no write lock taken */

        r = exec(c, "BEGIN IMMEDIATE", "begin migration");
        if (r < 0)
                return r;
        /* Again, under the write lock: another lvssd may have migrated meanwhile. */
        r = user_version(c, &version);
        if (r < 0)
                goto rollback;
        if (version < 0 || version > (int) ELEMENTSOF(migrations)) {
                fprintf(stderr, "lvssd: catalog: schema version %d is newer than this lvssd knows (%zu)\n", version,
                        ELEMENTSOF(migrations));
                r = -EPROTONOSUPPORT;
                goto rollback;
        }
        for (size_t i = (size_t) version; i < ELEMENTSOF(migrations); i++) {
                r = exec(c, migrations[i], "migration");
                if (r < 0)
                        goto rollback;
        }
        r = exec(c, "COMMIT", "commit migration");
        if (r < 0)
                goto rollback;
        return 0;

rollback:
        (void) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

int lvss_catalog_open(const char *path, lvss_catalog **ret) {
        _cleanup_(freep) char *mode = NULL, *fk = NULL;
        lvss_catalog *c;
        int r, rc;

        if (!path || !ret)
                return -EINVAL;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (rc != SQLITE_OK) {
                fprintf(stderr, "lvssd: catalog: cannot open %s: %s\n", path,
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                r = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
                goto fail;
        }
        sqlite3_extended_result_codes(c->db, 1);
        sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MSEC);
        (void) sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

        r = query_text(c, "PRAGMA journal_mode = WAL", &mode);
        if (r < 0)
                goto fail;
        if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
                fprintf(stderr, "lvssd: catalog: %s: cannot use WAL (journal mode is %s)\n", path, mode);
                r = -EIO;
                goto fail;
        }
        r = exec(c, "PRAGMA synchronous = FULL", "synchronous");
        if (r < 0)
                goto fail;
        r = exec(c, "PRAGMA foreign_keys = ON", "foreign keys");
        if (r < 0)
                goto fail;
        r = query_text(c, "PRAGMA foreign_keys", &fk);
        if (r < 0)
                goto fail;
        if (strcmp(fk, "1") != 0) {
                fprintf(stderr, "lvssd: catalog: this SQLite does not enforce foreign keys\n");
                r = -EIO;
                goto fail;
        }

        r = migrate(c);
        if (r < 0)
                goto fail;

        *ret = c;
        return 0;

fail:
        lvss_catalog_close(c);
        return r;
}

lvss_catalog *lvss_catalog_close(lvss_catalog *c) {
        if (!c)
                return NULL;
        if (c->db) {
                int rc = sqlite3_close(c->db);
                if (rc != SQLITE_OK)
                        log_sqlite(c->db, rc, "close");
        }
        free(c);
        return NULL;
}

/* ---- sessions ------------------------------------------------------------ */

int lvss_catalog_session_begin(lvss_catalog *c, const vss_id *session_id, uid_t uid, pid_t pid, uint64_t usec) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !session_id || vss_id_is_null(session_id))
                return -EINVAL;

        r = prepare(c, &stmt,
                    "INSERT INTO sessions (id, uid, pid, started_usec, ended_usec, state, reason) "
                    "VALUES (?, ?, ?, ?, NULL, 'active', NULL)",
                    "diii", session_id, (int64_t) uid, (int64_t) pid, (int64_t) usec);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "session begin");
        return r < 0 ? r : 0;
}

/* The first end wins: ending a session that already ended changes nothing
 * and is not an error (a release after a dropped connection, say). */
int lvss_catalog_session_end(lvss_catalog *c, const vss_id *session_id, const char *state, const char *reason,
                             uint64_t usec) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !session_id || !session_state_valid_end(state))
                return -EINVAL;

        r = prepare(c, &stmt,
                    "UPDATE sessions SET state = ?, reason = ?, ended_usec = ? WHERE id = ? AND state = 'active'",
                    "ttid", state, reason, (int64_t) usec, session_id);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "session end");
        if (r != 0)
                return r < 0 ? r : 0;

        /* Nothing changed: unknown, or already ended. */
        r = lvss_catalog_session_get(c, session_id, NULL, NULL);
        return r < 0 ? r : 0;
}

int lvss_catalog_session_get(lvss_catalog *c, const vss_id *session_id, char **ret_state, char **ret_reason) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        _cleanup_(freep) char *state = NULL, *reason = NULL;
        const unsigned char *v;
        int r, rc;

        if (!c || !session_id)
                return -EINVAL;

        r = prepare(c, &stmt, "SELECT state, reason FROM sessions WHERE id = ?", "d", session_id);
        if (r < 0)
                return r;
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), "session get");

        if (ret_state) {
                v = sqlite3_column_text(stmt, 0);
                state = strdup(v ? (const char *) v : "");
                if (!state)
                        return -ENOMEM;
        }
        if (ret_reason) {
                v = sqlite3_column_text(stmt, 1);
                if (v) {
                        reason = strdup((const char *) v);
                        if (!reason)
                                return -ENOMEM;
                }
        }

        if (ret_state)
                *ret_state = TAKE_PTR(state);
        if (ret_reason)
                *ret_reason = TAKE_PTR(reason);
        return 0;
}

int lvss_catalog_sessions_abort_active(lvss_catalog *c, const char *reason, uint64_t usec) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c)
                return -EINVAL;

        r = prepare(c, &stmt,
                    "UPDATE sessions SET state = 'aborted', reason = ?, ended_usec = ? WHERE state = 'active'", "ti",
                    reason, (int64_t) usec);
        if (r < 0)
                return r;
        return step_done(c, stmt, "abort active sessions");
}

/* ---- snapshots ----------------------------------------------------------- */

static bool snapshot_row_valid(const lvss_catalog_snapshot *s) {
        return s && !vss_id_is_null(&s->snapshot_id) && s->volume && snapshot_state_valid(s->state);
}

int lvss_catalog_snapshot_add(lvss_catalog *c, const lvss_catalog_snapshot *s) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !snapshot_row_valid(s))
                return -EINVAL;

        r = prepare(c, &stmt,
                    "INSERT INTO snapshots (id, set_id, session_id, provider_id, volume, snapshot_path, state, "
                    "persistent, context, attributes, created_usec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    "ddsdtttiiii", &s->snapshot_id, &s->set_id, &s->session_id, &s->provider_id, s->volume,
                    s->snapshot_path, s->state, (int64_t) s->persistent, (int64_t) s->context,
                    (int64_t) s->attributes, (int64_t) s->created_usec);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "snapshot add");
        return r < 0 ? r : 0;
}

/* Issue 11 §1: the rows of a new set in one transaction, so one fsync (synchronous=FULL) for
 * all of them; all or none: on a failure none of @rows is in the catalog. */
int lvss_catalog_snapshots_add(lvss_catalog *c, const lvss_catalog_snapshot *rows, size_t n) {
        int r;

        if (!c || (!rows && n > 0))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!snapshot_row_valid(&rows[i]))
                        return -EINVAL;
        if (n == 0)
                return 0;
        r = exec(c, "BEGIN IMMEDIATE", "begin snapshot rows");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = lvss_catalog_snapshot_add(c, &rows[i]);
                if (r < 0) {
                        (void) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
                        return r;
                }
        }
        r = exec(c, "COMMIT", "commit snapshot rows");
        if (r < 0)
                (void) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

int lvss_catalog_snapshot_set_state(lvss_catalog *c, const vss_id *snapshot_id, const char *state) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !snapshot_id || !snapshot_state_valid(state))
                return -EINVAL;

        r = prepare(c, &stmt, "UPDATE snapshots SET state = ? WHERE id = ?", "td", state, snapshot_id);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "snapshot state");
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

/* A provider may learn the real path only at commit (exec): the row follows. */
int lvss_catalog_snapshot_set_path(lvss_catalog *c, const vss_id *snapshot_id, const char *snapshot_path) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !snapshot_id || !snapshot_path || snapshot_path[0] != '/')
                return -EINVAL;

        r = prepare(c, &stmt, "UPDATE snapshots SET snapshot_path = ? WHERE id = ?", "td", snapshot_path,
                    snapshot_id);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "snapshot path");
        if (r < 0)
                return r;
        return r == 0 ? -ENOENT : 0;
}

/* Removing a row that is not there is success: the removal is the last step
 * of a deletion, and may be repeated after a crash. */
int lvss_catalog_snapshot_remove(lvss_catalog *c, const vss_id *snapshot_id) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !snapshot_id)
                return -EINVAL;

        r = prepare(c, &stmt, "DELETE FROM snapshots WHERE id = ?", "d", snapshot_id);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "snapshot remove");
        return r < 0 ? r : 0;
}

typedef struct snapshot_row {
        lvss_catalog_snapshot s;
        char *volume, *snapshot_path, *state;
} snapshot_row;

typedef struct snapshot_rows {
        snapshot_row *rows;
        size_t n;
} snapshot_rows;

static void snapshot_rows_done(snapshot_rows *r) {
        for (size_t i = 0; i < r->n; i++) {
                free(r->rows[i].volume);
                free(r->rows[i].snapshot_path);
                free(r->rows[i].state);
        }
        free(r->rows);
        *r = (snapshot_rows) {};
}

static int column_id(lvss_catalog *c, sqlite3_stmt *stmt, int col, bool nullable, vss_id *ret) {
        const unsigned char *v = sqlite3_column_text(stmt, col);

        if (!v && nullable) {
                *ret = (vss_id) {};
                return 0;
        }
        if (!v || vss_id_parse((const char *) v, ret) != VSS_S_OK) {
                fprintf(stderr, "lvssd: catalog: malformed id in column %s: %s\n", sqlite3_column_name(stmt, col),
                        v ? (const char *) v : "NULL");
                return -EBADMSG;
        }
        return 0;
}

static int column_strdup(sqlite3_stmt *stmt, int col, char **ret) {
        const unsigned char *v = sqlite3_column_text(stmt, col);

        if (!v) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup((const char *) v);
        return *ret ? 0 : -ENOMEM;
}

/* Reads every row first, so the callbacks may write to the catalog (remove
 * the row they were given) without a statement still reading the table. */
static int foreach_query(lvss_catalog *c, const char *sql, lvss_catalog_snapshot_cb cb, void *userdata) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        _cleanup_(snapshot_rows_done) snapshot_rows rows = {};
        size_t allocated = 0;
        int r, rc;

        if (!c || !cb)
                return -EINVAL;

        r = prepare(c, &stmt, sql, "");
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                snapshot_row *row;

                if (rows.n == allocated) {
                        size_t k = allocated ? allocated * 2 : 16;
                        snapshot_row *p = reallocarray(rows.rows, k, sizeof *p);
                        if (!p)
                                return -ENOMEM;
                        rows.rows = p;
                        allocated = k;
                }
                row = &rows.rows[rows.n];
                *row = (snapshot_row) {};
                rows.n++;

                if ((r = column_id(c, stmt, 0, false, &row->s.snapshot_id)) < 0 ||
                    (r = column_id(c, stmt, 1, false, &row->s.set_id)) < 0 ||
                    (r = column_id(c, stmt, 2, true, &row->s.session_id)) < 0 ||
                    (r = column_id(c, stmt, 3, false, &row->s.provider_id)) < 0 ||
                    (r = column_strdup(stmt, 4, &row->volume)) < 0 ||
                    (r = column_strdup(stmt, 5, &row->snapshot_path)) < 0 ||
                    (r = column_strdup(stmt, 6, &row->state)) < 0)
                        return r;
                row->s.volume = row->volume;
                row->s.snapshot_path = row->snapshot_path;
                row->s.state = row->state;
                row->s.persistent = sqlite3_column_int64(stmt, 7) != 0;
                row->s.context = (int32_t) sqlite3_column_int64(stmt, 8);
                row->s.attributes = (uint32_t) sqlite3_column_int64(stmt, 9);
                row->s.created_usec = (uint64_t) sqlite3_column_int64(stmt, 10);
        }
        if (rc != SQLITE_DONE)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), "snapshot query");
        finalizep(&stmt);

        for (size_t i = 0; i < rows.n; i++) {
                r = cb(&rows.rows[i].s, userdata);
                if (r < 0)
                        return r;
        }
        return (int) rows.n;
}

/* Orphans: auto-release snapshots whose session is not active (or that have
 * no session), and "creating" snapshots whose session is not active. */
int lvss_catalog_foreach_orphan(lvss_catalog *c, lvss_catalog_snapshot_cb cb, void *userdata) {
        return foreach_query(c,
                             "SELECT " SNAPSHOT_COLUMNS " FROM snapshots AS s "
                             "LEFT JOIN sessions AS ss ON ss.id = s.session_id "
                             "WHERE (ss.state IS NULL OR ss.state <> 'active') "
                             "AND (s.persistent = 0 OR s.state = 'creating') "
                             "ORDER BY s.created_usec, s.id",
                             cb, userdata);
}

int lvss_catalog_foreach_snapshot(lvss_catalog *c, lvss_catalog_snapshot_cb cb, void *userdata) {
        return foreach_query(c, "SELECT " SNAPSHOT_COLUMNS " FROM snapshots AS s ORDER BY s.created_usec, s.id", cb,
                             userdata);
}

/* ---- writer status ------------------------------------------------------- */

static int status_prepare(lvss_catalog *c, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v3(
                c->db,
                "INSERT INTO writer_status (session_id, instance_id, writer_id, writer_name, instance_name, "
                "state, failure, application_result, application_message, event, ok, sent_usec, duration_usec, "
                "answered_by_lvssd) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
        return rc == SQLITE_OK ? 0 : log_sqlite(c->db, rc, "prepare status add");
}

static int bind_status(sqlite3_stmt *stmt, const char *types, ...) {
        va_list ap;
        int rc;

        va_start(ap, types);
        rc = bind_values(stmt, types, ap);
        va_end(ap);
        return rc;
}

/* One row through @stmt (from status_prepare), which is reused row after row. */
static int status_insert(lvss_catalog *c, sqlite3_stmt *stmt, const lvss_catalog_status *s) {
        int r, rc;

        (void) sqlite3_reset(stmt);
        rc = bind_status(stmt, "sddttiiitiiiii", &s->session_id, &s->instance_id, &s->writer_id, s->writer_name,
                         s->instance_name, (int64_t) s->state, (int64_t) s->failure,
                         (int64_t) s->application_result, s->application_message, (int64_t) s->event,
                         (int64_t) s->ok, (int64_t) s->sent_usec, (int64_t) s->duration_usec,
                         (int64_t) s->answered_by_lvssd);
        if (rc != SQLITE_OK)
                return log_sqlite(c->db, rc, "bind status add");
        r = step_done(c, stmt, "status add");
        return r < 0 ? r : 0;
}

int lvss_catalog_status_add(lvss_catalog *c, const lvss_catalog_status *s) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !s)
                return -EINVAL;
        r = status_prepare(c, &stmt);
        return r < 0 ? r : status_insert(c, stmt, s);
}

/*
 * One transaction and one compiled statement for all the outcomes of one
 * event (a fan-out to N writers is not N transactions), or of several events
 * queued together (lvss_catalog_status_add_batches: the catalog thread joins
 * the history jobs waiting for it). All or nothing.
 *
 * issue 11 §5: without a sync. These rows are history: nothing waits for
 * them and nothing recovers from them, so they need not be on disk before the
 * next event goes out. The transaction is committed with synchronous=NORMAL
 * (WAL): it is in the WAL file when the call returns, so it survives lvssd
 * being killed; the next durable write (a set's rows, a session's row) or
 * checkpoint syncs it; a power loss before that may lose it, never corrupt
 * the catalog. Every other write keeps synchronous=FULL (an fsync per
 * commit), which is restored before this returns.
 */
int lvss_catalog_status_add_batches(lvss_catalog *c, const lvss_catalog_status *const *rows, const size_t *n,
                                    size_t n_batches) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        size_t total = 0;
        int r, q;

        if (!c || (n_batches > 0 && (!rows || !n)))
                return -EINVAL;
        for (size_t b = 0; b < n_batches; b++) {
                if (!rows[b] && n[b] > 0)
                        return -EINVAL;
                total += n[b];
        }
        if (total == 0)
                return 0;
        r = status_prepare(c, &stmt);
        if (r < 0)
                return r;
        r = exec(c, "PRAGMA synchronous = NORMAL", "history synchronous");
        if (r < 0)
                return r;
        r = exec(c, "BEGIN IMMEDIATE", "begin status");
        for (size_t b = 0; r >= 0 && b < n_batches; b++)
                for (size_t i = 0; r >= 0 && i < n[b]; i++)
                        r = status_insert(c, stmt, &rows[b][i]);
        if (r >= 0)
                r = exec(c, "COMMIT", "commit status");
        if (r < 0)
                (void) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        /* every other write stays durable when it returns */
        q = exec(c, "PRAGMA synchronous = FULL", "synchronous");
        return r < 0 ? r : q;
}

int lvss_catalog_status_add_many(lvss_catalog *c, const lvss_catalog_status *rows, size_t n) {
        if (!c || (!rows && n > 0))
                return -EINVAL;
        return lvss_catalog_status_add_batches(c, &rows, &n, 1);
}

/* ---- writer owners -------------------------------------------------------- */

int lvss_catalog_writer_owner_get(lvss_catalog *c, const vss_id *writer_id, uid_t *ret_uid, uint64_t *ret_since_usec) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r, rc;

        if (!c || !writer_id || vss_id_is_null(writer_id))
                return -EINVAL;

        r = prepare(c, &stmt, "SELECT uid, since_usec FROM writer_owners WHERE writer_id = ?", "d", writer_id);
        if (r < 0)
                return r;
        rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), "writer owner get");
        if (ret_uid)
                *ret_uid = (uid_t) sqlite3_column_int64(stmt, 0);
        if (ret_since_usec)
                *ret_since_usec = (uint64_t) sqlite3_column_int64(stmt, 1);
        return 0;
}

/* An upsert: the first owner is inserted, a takeover (root) replaces the uid. */
int lvss_catalog_writer_owner_set(lvss_catalog *c, const vss_id *writer_id, uid_t uid, const char *writer_name,
                                  uint64_t usec) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !writer_id || vss_id_is_null(writer_id))
                return -EINVAL;

        r = prepare(c, &stmt,
                    "INSERT INTO writer_owners (writer_id, uid, writer_name, since_usec) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (writer_id) DO UPDATE SET uid = excluded.uid, writer_name = excluded.writer_name, "
                    "since_usec = excluded.since_usec",
                    "diti", writer_id, (int64_t) uid, writer_name, (int64_t) usec);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "writer owner set");
        return r < 0 ? r : 0;
}

int lvss_catalog_writer_owner_count(lvss_catalog *c, uid_t uid, unsigned *ret) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r, rc;

        if (!c || !ret)
                return -EINVAL;

        r = prepare(c, &stmt, "SELECT COUNT(*) FROM writer_owners WHERE uid = ?", "i", (int64_t) uid);
        if (r < 0)
                return r;
        rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), "writer owner count");
        *ret = (unsigned) sqlite3_column_int64(stmt, 0);
        return 0;
}

/* ---- frozen file systems (issue 10 part 3) --------------------------------- */

int lvss_catalog_frozen_add(lvss_catalog *c, const char *mount_point, const char *device, const vss_id *session_id,
                            uint64_t usec) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !mount_point || !device || !session_id)
                return -EINVAL;

        r = prepare(c, &stmt,
                    "INSERT INTO frozen_filesystems (mount_point, device, session_id, frozen_usec) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (mount_point) DO UPDATE SET device = excluded.device, "
                    "session_id = excluded.session_id, frozen_usec = excluded.frozen_usec",
                    "ttdi", mount_point, device, session_id, (int64_t) usec);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "frozen file system add");
        return r < 0 ? r : 0;
}

int lvss_catalog_frozen_remove(lvss_catalog *c, const char *mount_point) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !mount_point)
                return -EINVAL;

        r = prepare(c, &stmt, "DELETE FROM frozen_filesystems WHERE mount_point = ?", "t", mount_point);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "frozen file system remove");
        return r < 0 ? r : 0;
}

int lvss_catalog_foreach_frozen(lvss_catalog *c, lvss_catalog_frozen_cb cb, void *userdata) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        char **mp = NULL, **dev = NULL;
        size_t n = 0;
        int r = 0, rc;

        if (!c || !cb)
                return -EINVAL;

        /* Collected first: @cb may change the table. Thawed in reverse order of freezing. */
        r = prepare(c, &stmt, "SELECT mount_point, device FROM frozen_filesystems ORDER BY frozen_usec DESC, "
                    "mount_point DESC", "");
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const char *a = (const char *) sqlite3_column_text(stmt, 0);
                const char *b = (const char *) sqlite3_column_text(stmt, 1);
                char **x = reallocarray(mp, n + 1, sizeof *x), **y;

                if (x)
                        mp = x;
                y = reallocarray(dev, n + 1, sizeof *y);
                if (y)
                        dev = y;
                if (!x || !y) {
                        r = -ENOMEM;
                        break;
                }
                mp[n] = strdup(a ?: "");
                dev[n] = strdup(b ?: "");
                n++;
                if (!mp[n - 1] || !dev[n - 1]) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = log_sqlite(c->db, sqlite3_extended_errcode(c->db), "frozen file systems");
        finalizep(&stmt);
        for (size_t i = 0; r == 0 && i < n; i++)
                r = cb(mp[i], dev[i], userdata);
        for (size_t i = 0; i < n; i++) {
                free(mp[i]);
                free(dev[i]);
        }
        free(mp);
        free(dev);
        return r;
}

/* ---- integrity ----------------------------------------------------------- */

int lvss_catalog_check(lvss_catalog *c) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        bool ok = false;
        int r, rc, rows = 0;

        if (!c)
                return -EINVAL;

        r = prepare(c, &stmt, "PRAGMA integrity_check", "");
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const unsigned char *v = sqlite3_column_text(stmt, 0);

                if (rows++ == 0 && v && strcmp((const char *) v, "ok") == 0)
                        ok = true;
                else
                        fprintf(stderr, "lvssd: catalog: integrity: %s\n", v ? (const char *) v : "?");
        }
        if (rc != SQLITE_DONE)
                return log_sqlite(c->db, sqlite3_extended_errcode(c->db), "integrity check");
        return ok && rows == 1;
}

/* ---- shadow storage limits (issue 12 §2) ------------------------------------ */

int lvss_catalog_storage_limit_set(lvss_catalog *c, const char *volume, uint64_t max_bytes, unsigned max_percent) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r;

        if (!c || !volume || volume[0] != '/' || max_percent > 100 || max_bytes > INT64_MAX)
                return -EINVAL;
        r = prepare(c, &stmt,
                    "INSERT INTO shadow_storage (volume, max_bytes, max_percent) VALUES (?, ?, ?) "
                    "ON CONFLICT (volume) DO UPDATE SET max_bytes = excluded.max_bytes, "
                    "max_percent = excluded.max_percent",
                    "tii", volume, (int64_t) max_bytes, (int64_t) max_percent);
        if (r < 0)
                return r;
        r = step_done(c, stmt, "shadow storage limit");
        return r < 0 ? r : 0;
}

int lvss_catalog_foreach_storage_limit(lvss_catalog *c, lvss_catalog_storage_limit_cb cb, void *userdata) {
        _cleanup_(finalizep) sqlite3_stmt *stmt = NULL;
        int r, rc;

        if (!c || !cb)
                return -EINVAL;
        r = prepare(c, &stmt, "SELECT volume, max_bytes, max_percent FROM shadow_storage ORDER BY volume", "");
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
                const char *volume = (const char *) sqlite3_column_text(stmt, 0);
                int64_t bytes = sqlite3_column_int64(stmt, 1), pct = sqlite3_column_int64(stmt, 2);

                if (!volume || bytes < 0 || pct < 0 || pct > 100)
                        continue; /* not a row this lvssd wrote */
                r = cb(volume, (uint64_t) bytes, (unsigned) pct, userdata);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE) {
                fprintf(stderr, "lvssd: catalog: shadow storage limits: %s\n", sqlite3_errmsg(c->db));
                return -EIO;
        }
        return 0;
}

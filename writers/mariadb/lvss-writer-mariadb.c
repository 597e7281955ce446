/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-writer-mariadb — the MariaDB writer (issue 9 part 4), on the public writer API.
 *
 * How it makes a shadow copy of a running MariaDB 10.11 server consistent
 * (app-consistency.md §4):
 *
 * - It asks the server where its files are: @@datadir,
 *   @@innodb_log_group_home_dir (the InnoDB redo log), @@log_bin_basename
 *   (the binlog) and @@aria_log_dir_path. Each is a VSS_CT_DATABASE
 *   component with its real path.
 * - PrepareForSnapshot vetoes (VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, a
 *   message naming the volumes) unless all of those files lie on ONE volume
 *   of the set whose snapshot is atomic: InnoDB keeps writing redo and
 *   flushing pages under BLOCK_COMMIT, so the copy recovers only when every
 *   file is captured at one instant. Otherwise it opens a connection of its
 *   own and runs `BACKUP STAGE START`.
 * - Freeze runs `BACKUP STAGE BLOCK_COMMIT`: when it returns, that is the
 *   backup instant (logged, and written to --freeze-stamp). In the same
 *   session it reads the binlog file and position (SHOW MASTER STATUS) and
 *   @@gtid_binlog_pos; PostSnapshot keeps them in the datadir component's
 *   backup metadata.
 * - Thaw runs `BACKUP STAGE END`. Abort, the library's deadman (the freeze
 *   timeout) and BackupShutdown end the stage at once.
 * - Every statement is bounded (max_statement_time, lock_wait_timeout, and
 *   the client's read timeout) by half the freeze timeout, so Freeze always
 *   answers before its deadline. A second writer against the same server
 *   waits for MariaDB's one BACKUP STAGE at a time only that long, and fails
 *   with a message that says so.
 * - While it holds a stage, the server connection is in the poll loop: a
 *   lost connection (the server died or killed the session, which releases
 *   the stage) is noticed at once, logged, and reported as the failure of
 *   the next event.
 * - PreRestore refuses to restore over a datadir a running server uses (a
 *   lock on ibdata1). PostRestore removes `#sql*` files left by interrupted
 *   ALTERs and checks the restored datadir, saying what it found.
 *
 * Failures carry the server's own words ("ERROR 1205 (HY000): Lock wait
 * timeout exceeded; ...") as the application message, and as the
 * application result a customer HRESULT 0xA000xxxx whose low 16 bits are
 * the server's error number.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mysql.h>
#include <errmsg.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lvss/vss.h>

#include "basic/util.h"
#include "config.h"
#include "writers/common/writer-program.h"

#define PROG "lvss-writer-mariadb"

/* The writer class id of lvss-writer-mariadb (fixed: it identifies the kind of writer). */
static const vss_id mariadb_writer_id = { { 0x5b, 0x1e, 0x7a, 0x3c, 0x92, 0x4d, 0x4e, 0x0b, 0xa6, 0x71, 0x2f,
                                            0xd8, 0x0c, 0x44, 0x9e, 0x13 } };

#define LOGICAL_PATH "mariadb"
#define DEFAULT_NAME "MariaDB"
#define DEFAULT_DB_SOCKET "/run/mysqld/mysqld.sock"
#define DEFAULT_DB_USER "root"
#define DEFAULT_FREEZE_TIMEOUT_MS 10000U

/* A customer-defined failure HRESULT carrying a MariaDB error number. */
#define MARIADB_HRESULT(err) VSS_HR(UINT32_C(0xA0000000) | ((uint32_t) (err) & 0xFFFFu))

enum { LOC_DATADIR, LOC_REDO, LOC_BINLOG, LOC_ARIA, _LOC_MAX };
static const char *const loc_name[_LOC_MAX] = { "datadir", "innodb-redo", "binlog", "aria-log" };

typedef struct location {
        char *dir;      /* absolute, no trailing slash; NULL: not used (binlog off) */
        char *filespec; /* the files in it */
} location;

typedef struct writer_context {
        location loc[_LOC_MAX];
        uint32_t freeze_timeout_ms;
        MYSQL *m;              /* our session, from PrepareForSnapshot to Thaw/Abort */
        bool staged;           /* BACKUP STAGE START held */
        bool blocked;          /* BACKUP STAGE BLOCK_COMMIT held */
        char *lost;            /* the connection dropped while a stage was held: what happened (owned) */
        uint64_t frozen_since; /* CLOCK_MONOTONIC µs when BLOCK_COMMIT returned */
        char *metadata;        /* binlog position and GTID of the last freeze (owned) */
} writer_context;

static void help(void);

/* The common options (--socket, --name, --instance, --freeze-timeout, --freeze-stamp) and the signalfd. */
static writer_program program = WRITER_PROGRAM_INIT(PROG, help, DEFAULT_NAME, DEFAULT_FREEZE_TIMEOUT_MS);
static const char *arg_db_socket = DEFAULT_DB_SOCKET;
static const char *arg_db_user = DEFAULT_DB_USER;
static const char *arg_db_password_file = NULL;
static const char *arg_datadir = NULL;
static char *db_password = NULL;

/* ---- logging ----------------------------------------------------------------- */

/* One line per event, with the session id (cli.md). */
#define log_event(w, event, ...) writer_program_log_event(&program, (w), (event), __VA_ARGS__)

/* ---- the server -------------------------------------------------------------- */

/* The bound of every statement: half the freeze timeout (so Freeze answers before its deadline). */
static uint32_t statement_bound_ms(uint32_t freeze_timeout_ms) {
        return freeze_timeout_ms / 2 > 0 ? freeze_timeout_ms / 2 : 1;
}

static bool connection_lost(unsigned err) {
        return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == CR_SERVER_LOST_EXTENDED;
}

/* "ERROR 1205 (HY000): Lock wait timeout exceeded; ..." — the server's (or the client library's) words. */
static void server_words(MYSQL *m, char *buf, size_t size) {
        snprintf(buf, size, "ERROR %u (%s): %s", mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
}

/* A new session, every wait bounded; NULL with the reason in @err. */
static MYSQL *db_connect(uint32_t bound_ms, char *err, size_t err_size) {
        unsigned timeout_s = bound_ms / 1000 + 1;
        MYSQL *m = mysql_init(NULL);

        if (!m) {
                snprintf(err, err_size, "out of memory");
                return NULL;
        }
        (void) mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
        (void) mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
        (void) mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
        if (!mysql_real_connect(m, "localhost", arg_db_user, db_password, NULL, 0, arg_db_socket, 0)) {
                char words[768];

                server_words(m, words, sizeof words);
                snprintf(err, err_size, "cannot connect to the server at %s as %s: %s", arg_db_socket, arg_db_user,
                         words);
                mysql_close(m);
                return NULL;
        }
        return m;
}

static bool db_exec(MYSQL *m, const char *sql) {
        MYSQL_RES *res;

        if (mysql_real_query(m, sql, (unsigned long) strlen(sql)) != 0)
                return false;
        res = mysql_store_result(m);
        mysql_free_result(res);
        return mysql_errno(m) == 0;
}

/*
 * Bounds every later statement of the session (the server's side of the
 * bound). A lock wait gives up first (at 80 % of the bound, whole seconds),
 * so that waiting for another session's BACKUP STAGE is reported as what it
 * is, not as a statement timeout.
 */
static bool db_bound_session(MYSQL *m, uint32_t bound_ms) {
        unsigned lock_s = bound_ms * 4 / 5 / 1000;
        char sql[160];

        snprintf(sql, sizeof sql, "SET SESSION max_statement_time = %.3f, lock_wait_timeout = %u",
                 (double) bound_ms / 1000.0, lock_s > 0 ? lock_s : 1);
        return db_exec(m, sql);
}

/* ---- where the server's files are ---------------------------------------------- */

static void location_clear(location *l) {
        free(l->dir);
        free(l->filespec);
        l->dir = l->filespec = NULL;
}

/* @path made absolute (relative to @datadir) and canonical; owned, NULL on failure. */
static char *resolve_dir(const char *datadir, const char *path) {
        _cleanup_(freep) char *joined = NULL;
        char *r;
        size_t n;

        if (!path || !*path)
                return NULL;
        if (path[0] != '/') {
                if (asprintf(&joined, "%s/%s", datadir, path) < 0)
                        return NULL;
                path = joined;
        }
        r = realpath(path, NULL);
        if (!r)
                return NULL;
        n = strlen(r);
        while (n > 1 && r[n - 1] == '/')
                r[--n] = 0;
        return r;
}

/* Asks the server for its datadir, redo log, binlog and Aria log locations. */
static int discover(writer_context *ctx, MYSQL *m, char *err, size_t err_size) {
        location found[_LOC_MAX] = {};
        MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        static const char sql[] =
                "SELECT @@datadir, @@innodb_log_group_home_dir, @@log_bin_basename, @@aria_log_dir_path";
        int r = -EIO;

        if (mysql_real_query(m, sql, (unsigned long) strlen(sql)) != 0 || !(res = mysql_store_result(m)) ||
            !(row = mysql_fetch_row(res))) {
                char words[768];
                server_words(m, words, sizeof words);
                snprintf(err, err_size, "cannot ask the server where its files are: %s", words);
                goto finish;
        }
        found[LOC_DATADIR].dir = resolve_dir("/", row[0]);
        if (!found[LOC_DATADIR].dir) {
                snprintf(err, err_size, "the server's datadir '%s' cannot be resolved: %s", strempty(row[0]),
                         strerror(errno));
                goto finish;
        }
        found[LOC_DATADIR].filespec = strdup("*");
        found[LOC_REDO].dir = resolve_dir(found[LOC_DATADIR].dir, row[1] && *row[1] ? row[1] : ".");
        found[LOC_REDO].filespec = strdup("ib_logfile*");
        if (row[2] && *row[2]) {
                _cleanup_(freep) char *copy = strdup(row[2]);
                char *slash = copy ? strrchr(copy, '/') : NULL;

                if (slash) {
                        *slash = 0;
                        found[LOC_BINLOG].dir = resolve_dir(found[LOC_DATADIR].dir, *copy ? copy : "/");
                        if (asprintf(&found[LOC_BINLOG].filespec, "%s.*", slash + 1) < 0)
                                found[LOC_BINLOG].filespec = NULL;
                } else {
                        found[LOC_BINLOG].dir = strdup(found[LOC_DATADIR].dir);
                        if (copy && asprintf(&found[LOC_BINLOG].filespec, "%s.*", copy) < 0)
                                found[LOC_BINLOG].filespec = NULL;
                }
        }
        found[LOC_ARIA].dir = resolve_dir(found[LOC_DATADIR].dir, row[3] && *row[3] ? row[3] : ".");
        found[LOC_ARIA].filespec = strdup("aria_log*");
        for (size_t i = 0; i < _LOC_MAX; i++)
                if ((i != LOC_BINLOG || (row[2] && *row[2])) && (!found[i].dir || !found[i].filespec)) {
                        snprintf(err, err_size, "the server's %s location cannot be resolved", loc_name[i]);
                        goto finish;
                }
        for (size_t i = 0; i < _LOC_MAX; i++) {
                location_clear(&ctx->loc[i]);
                ctx->loc[i] = found[i];
                found[i] = (location) {};
        }
        r = 0;
finish:
        mysql_free_result(res);
        for (size_t i = 0; i < _LOC_MAX; i++)
                location_clear(&found[i]);
        return r;
}

/* ---- the backup stage ---------------------------------------------------------- */

/* Ends whatever stage is held and drops the session. Returns whether a stage was held. */
static bool release_stage(writer_context *ctx, char *err, size_t err_size) {
        bool held = ctx->staged;

        if (err_size > 0)
                err[0] = 0;
        if (ctx->m && ctx->staged && !db_exec(ctx->m, "BACKUP STAGE END") && err_size > 0)
                /* Closing the session below ends the stage anyway. */
                server_words(ctx->m, err, err_size);
        mysql_close(ctx->m);
        ctx->m = NULL;
        ctx->staged = ctx->blocked = false;
        ctx->frozen_since = 0;
        return held;
}

/* Records the failure of the current event with the server's words (WS-4). */
static bool fail_server(vss_writer *w, const char *event, vss_hresult hr, unsigned err, const char *fmt, ...)
        _printf_(5, 6);

static bool fail_server(vss_writer *w, const char *event, vss_hresult hr, unsigned err, const char *fmt, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        log_event(w, event, "failed: %s (%s)", message, vss_hresult_name(hr));
        (void) vss_writer_set_failure_ex(w, hr, MARIADB_HRESULT(err), message);
        return false;
}

/* After a failed statement on our session: the failure, with the server's words; the stage is ended. */
static bool fail_statement(vss_writer *w, writer_context *ctx, const char *event, const char *what) {
        char words[768], ignored[8];
        unsigned err = mysql_errno(ctx->m);
        vss_hresult hr = connection_lost(err) ? VSS_E_WRITERERROR_RETRYABLE : VSS_E_WRITERERROR_NONRETRYABLE;
        const char *why = "";

        server_words(ctx->m, words, sizeof words);
        if (err == 1205 /* ER_LOCK_WAIT_TIMEOUT */ && strcmp(what, "BACKUP STAGE START") == 0) {
                why = "another session holds a BACKUP STAGE (MariaDB allows one at a time); ";
                hr = VSS_E_WRITERERROR_RETRYABLE;
        } else if (err == 1969 /* ER_STATEMENT_TIMEOUT */ || err == 1205)
                hr = VSS_E_WRITERERROR_RETRYABLE;
        release_stage(ctx, ignored, sizeof ignored);
        return fail_server(w, event, hr, err, "%s: %s%s", what, why, words);
}

/* ---- handlers ----------------------------------------------------------------- */

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        writer_context *ctx = userdata;
        const uint32_t mask = VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED;
        char err[1024];
        MYSQL *m;
        vss_hresult hr;

        /* The server may have been reconfigured since: ask again (keep what we knew when it is down). */
        m = db_connect(statement_bound_ms(ctx->freeze_timeout_ms), err, sizeof err);
        if (!m || discover(ctx, m, err, sizeof err) < 0)
                log_event(w, "Identify", "%s; using the locations known before", err);
        mysql_close(m);
        if (!ctx->loc[LOC_DATADIR].dir) {
                log_event(w, "Identify", "the datadir is not known");
                return false;
        }

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                           VSS_WRE_ALWAYS, false);
        for (size_t i = 0; i < _LOC_MAX && VSS_SUCCEEDED(hr); i++) {
                location *l = &ctx->loc[i];

                if (!l->dir)
                        continue;
                hr = vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, LOGICAL_PATH, loc_name[i], l->dir,
                                                              NULL, 0, false, false, true, true, 0);
                if (VSS_SUCCEEDED(hr) && i == LOC_DATADIR)
                        hr = vss_create_writer_metadata_add_database_files(md, LOGICAL_PATH, loc_name[i], l->dir,
                                                                           l->filespec, mask);
                else if (VSS_SUCCEEDED(hr))
                        hr = vss_create_writer_metadata_add_database_log_files(md, LOGICAL_PATH, loc_name[i],
                                                                               l->dir, l->filespec, mask);
        }
        if (VSS_FAILED(hr)) {
                log_event(w, "Identify", "cannot describe the server's files: %s (%s)", vss_hresult_text(hr),
                          strempty(vss_hresult_name(hr)));
                return false;
        }
        log_event(w, "Identify", "datadir %s, redo log %s, binlog %s, Aria log %s", ctx->loc[LOC_DATADIR].dir,
                  ctx->loc[LOC_REDO].dir, ctx->loc[LOC_BINLOG].dir ? ctx->loc[LOC_BINLOG].dir : "(off)",
                  ctx->loc[LOC_ARIA].dir);
        return true;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        log_event(w, "PrepareForBackup", NULL);
        return true;
}

/* The volume of the set @path lies on (the longest matching volume path), or -1. */
static int volume_of(vss_writer *w, unsigned n, const char *path) {
        size_t best_len = 0;
        int best = -1;

        for (unsigned i = 0; i < n; i++) {
                const char *v = NULL;
                size_t len;

                if (VSS_FAILED(vss_writer_get_snapshot_volume(w, i, &v, NULL, NULL)) || !v)
                        continue;
                len = strlen(v);
                while (len > 1 && v[len - 1] == '/')
                        len--;
                if (path_is_under(path, v) && (best < 0 || len > best_len)) {
                        best = (int) i;
                        best_len = len;
                }
        }
        return best;
}

/*
 * Whether every file of the server is captured at one instant: all its
 * locations on one volume of the set, snapshotted atomically. Else vetoes
 * with a message naming the locations and volumes.
 */
static bool check_one_instant(vss_writer *w, writer_context *ctx) {
        char message[2048] = "";
        size_t len = 0;
        unsigned n = 0;
        int vol[_LOC_MAX], first = -1;
        bool split = false;
        vss_hresult hr;

        hr = vss_writer_get_snapshot_volume_count(w, &n);
        if (VSS_FAILED(hr))
                return fail_server(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE, 0,
                                   "cannot see the volumes of the snapshot set: %s", vss_hresult_text(hr));
        for (size_t i = 0; i < _LOC_MAX; i++) {
                vol[i] = -1;
                if (!ctx->loc[i].dir)
                        continue;
                vol[i] = volume_of(w, n, ctx->loc[i].dir);
                if (vol[i] < 0)
                        return fail_server(w, "PrepareForSnapshot", VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, 0,
                                           "the %s %s is not in the snapshot set: the copy would not hold all of "
                                           "MariaDB's files",
                                           loc_name[i], ctx->loc[i].dir);
                if (first < 0)
                        first = vol[i];
                else if (vol[i] != first)
                        split = true;
        }
        if (split) {
                for (size_t i = 0; i < _LOC_MAX && len < sizeof message; i++) {
                        const char *v = NULL;

                        if (vol[i] < 0)
                                continue;
                        (void) vss_writer_get_snapshot_volume(w, (unsigned) vol[i], &v, NULL, NULL);
                        len += (size_t) snprintf(message + len, sizeof message - len, "%s%s %s on volume %s",
                                                 len ? ", " : "", loc_name[i], ctx->loc[i].dir, strempty(v));
                }
                return fail_server(w, "PrepareForSnapshot", VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, 0,
                                   "MariaDB's files are on more than one volume of the set (%s): they would not be "
                                   "captured at one instant, and InnoDB writes redo and pages during BLOCK_COMMIT",
                                   message);
        }
        if (first >= 0) {
                const char *v = NULL, *provider = NULL;
                bool atomic = false;

                hr = vss_writer_get_snapshot_volume(w, (unsigned) first, &v, &provider, &atomic);
                if (VSS_FAILED(hr))
                        return fail_server(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE, 0,
                                           "cannot see volume %d of the snapshot set: %s", first,
                                           vss_hresult_text(hr));
                if (!atomic)
                        return fail_server(w, "PrepareForSnapshot", VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, 0,
                                           "volume %s (provider %s) is not snapshotted at one instant: MariaDB's "
                                           "files would not be consistent, InnoDB writes redo and pages during "
                                           "BLOCK_COMMIT",
                                           strempty(v), strempty(provider));
        }
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        uint32_t bound = statement_bound_ms(ctx->freeze_timeout_ms);
        char err[1024];
        bool affected = false;

        /* A new snapshot set: nothing of an earlier one may linger. */
        release_stage(ctx, err, sizeof err);
        free(ctx->lost);
        ctx->lost = NULL;
        free(ctx->metadata);
        ctx->metadata = NULL;

        for (size_t i = 0; i < _LOC_MAX; i++)
                if (ctx->loc[i].dir && vss_writer_is_path_affected(w, ctx->loc[i].dir))
                        affected = true;
        if (!affected) {
                log_event(w, "PrepareForSnapshot", "the server's files are not in the snapshot set, skipped");
                return true;
        }
        if (!check_one_instant(w, ctx))
                return false;

        ctx->m = db_connect(bound, err, sizeof err);
        if (!ctx->m)
                return fail_server(w, "PrepareForSnapshot", VSS_E_WRITERERROR_RETRYABLE, 0, "%s", err);
        if (!db_bound_session(ctx->m, bound))
                return fail_statement(w, ctx, "PrepareForSnapshot", "SET SESSION max_statement_time");
        if (!db_exec(ctx->m, "BACKUP STAGE START"))
                return fail_statement(w, ctx, "PrepareForSnapshot", "BACKUP STAGE START");
        ctx->staged = true;
        log_event(w, "PrepareForSnapshot", "BACKUP STAGE START held, datadir %s", ctx->loc[LOC_DATADIR].dir);
        return true;
}

/* One row of one column (owned), "" for an empty result or NULL; NULL on failure. */
static char *db_query_value(MYSQL *m, const char *sql, unsigned column) {
        MYSQL_RES *res;
        MYSQL_ROW row;
        char *v;

        if (mysql_real_query(m, sql, (unsigned long) strlen(sql)) != 0)
                return NULL;
        res = mysql_store_result(m);
        if (!res)
                return mysql_errno(m) == 0 ? strdup("") : NULL;
        row = mysql_fetch_row(res);
        v = strdup(row && mysql_num_fields(res) > column && row[column] ? row[column] : "");
        mysql_free_result(res);
        return v;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        _cleanup_(freep) char *file = NULL, *pos = NULL, *gtid = NULL;
        uint64_t start = now_usec(CLOCK_MONOTONIC), stamp;

        if (ctx->lost) {
                char *lost = ctx->lost;
                bool r;

                ctx->lost = NULL;
                r = fail_server(w, "Freeze", VSS_E_WRITERERROR_RETRYABLE, 0, "%s", lost);
                free(lost);
                return r;
        }
        if (!ctx->staged) {
                log_event(w, "Freeze", "nothing to freeze");
                return true;
        }
        if (!db_exec(ctx->m, "BACKUP STAGE BLOCK_COMMIT"))
                return fail_statement(w, ctx, "Freeze", "BACKUP STAGE BLOCK_COMMIT");
        /* Taken when BLOCK_COMMIT returned: whatever committed before this instant is in the copy. */
        stamp = now_usec(CLOCK_REALTIME);
        ctx->blocked = true;
        ctx->frozen_since = now_usec(CLOCK_MONOTONIC);

        /* In the same session, while commits are blocked: the binlog position of the copy. */
        file = db_query_value(ctx->m, "SHOW MASTER STATUS", 0);
        pos = file ? db_query_value(ctx->m, "SHOW MASTER STATUS", 1) : NULL;
        gtid = pos ? db_query_value(ctx->m, "SELECT @@gtid_binlog_pos", 0) : NULL;
        if (!gtid)
                return fail_statement(w, ctx, "Freeze", "reading the binlog position");
        free(ctx->metadata);
        if (asprintf(&ctx->metadata, "binlog_file=%s;binlog_pos=%s;gtid_binlog_pos=%s;block_commit_usec=%" PRIu64,
                     file, pos, gtid, stamp) < 0)
                ctx->metadata = NULL;

        fprintf(stderr, PROG ": BLOCK_COMMIT held on %s at %" PRIu64 "\n", ctx->loc[LOC_DATADIR].dir, stamp);
        if (program.freeze_stamp) {
                int r = writer_program_write_freeze_stamp(program.freeze_stamp, stamp);
                if (r < 0)
                        log_event(w, "Freeze", "cannot write the freeze stamp to %s: %s", program.freeze_stamp,
                                  strerror(-r));
        }
        log_event(w, "Freeze", "BACKUP STAGE BLOCK_COMMIT held (took %.1f ms), binlog %s:%s, gtid_binlog_pos '%s'",
                  (double) (ctx->frozen_since - start) / 1000.0, *file ? file : "(off)", *pos ? pos : "-", gtid);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        uint64_t since = ctx->frozen_since;
        char err[768];

        if (ctx->lost) {
                char *lost = ctx->lost;
                bool r;

                ctx->lost = NULL;
                r = fail_server(w, "Thaw", VSS_E_WRITERERROR_RETRYABLE, 0, "%s", lost);
                free(lost);
                return r;
        }
        if (!ctx->blocked) {
                release_stage(ctx, err, sizeof err);
                log_event(w, "Thaw", "nothing was frozen (Abort came first)");
                return true;
        }
        release_stage(ctx, err, sizeof err);
        if (err[0])
                /* The session is closed now, which ends the stage in the server too. */
                log_event(w, "Thaw", "BACKUP STAGE END failed (%s); the session is closed, which ends it", err);
        log_event(w, "Thaw", "BACKUP STAGE END, commits were blocked for %.1f ms",
                  (double) (now_usec(CLOCK_MONOTONIC) - since) / 1000.0);
        return true;
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        unsigned n = 0;
        bool kept = false;

        if (ctx->metadata && VSS_SUCCEEDED(vss_writer_components_get_count(c, &n)))
                for (unsigned i = 0; i < n; i++) {
                        vss_component *comp = NULL;
                        const char *name;

                        if (VSS_FAILED(vss_writer_components_get_component(c, i, &comp)))
                                continue;
                        name = vss_component_get_name(comp);
                        if (name && strcmp(name, loc_name[LOC_DATADIR]) == 0 &&
                            VSS_SUCCEEDED(vss_component_set_backup_metadata(comp, ctx->metadata)))
                                kept = true;
                }
        log_event(w, "PostSnapshot", "%s%s", ctx->metadata ? ctx->metadata : "no freeze",
                  ctx->metadata ? (kept ? " (in the backup metadata)" : " (no component selected to keep it)") : "");
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        uint64_t since = ctx->frozen_since;
        char err[768];
        bool held = release_stage(ctx, err, sizeof err);

        if (since > 0)
                log_event(w, "Abort", "BACKUP STAGE ended, commits were blocked for %.1f ms%s%s",
                          (double) (now_usec(CLOCK_MONOTONIC) - since) / 1000.0, err[0] ? "; END said: " : "", err);
        else
                log_event(w, "Abort", "%s", held ? "BACKUP STAGE ended" : "nothing held");
        return true;
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        log_event(w, "BackupComplete", NULL);
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        writer_context *ctx = userdata;
        char err[768];

        if (release_stage(ctx, err, sizeof err))
                log_event(w, "BackupShutdown", "BACKUP STAGE ended");
        else
                log_event(w, "BackupShutdown", NULL);
        return true;
}

/* Whether a restore of the datadir component runs in this session (NULL: none). */
static vss_component *datadir_component(vss_writer_components *c) {
        unsigned n = 0;

        if (VSS_FAILED(vss_writer_components_get_count(c, &n)))
                return NULL;
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp = NULL;
                const char *name;

                if (VSS_FAILED(vss_writer_components_get_component(c, i, &comp)))
                        continue;
                name = vss_component_get_name(comp);
                if (name && strcmp(name, loc_name[LOC_DATADIR]) == 0)
                        return comp;
        }
        return NULL;
}

/* The pid of a process holding InnoDB's lock on @datadir/ibdata1 (a running server), 0 for none. */
static pid_t datadir_user(const char *datadir) {
        _cleanup_(freep) char *path = NULL;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        int fd;

        if (asprintf(&path, "%s/ibdata1", datadir) < 0)
                return 0;
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return 0;
        if (fcntl(fd, F_GETLK, &fl) < 0)
                fl.l_type = F_UNLCK;
        close(fd);
        return fl.l_type == F_UNLCK ? 0 : (fl.l_pid > 0 ? fl.l_pid : 1);
}

static bool on_pre_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        vss_component *comp = datadir_component(c);
        const char *datadir = ctx->loc[LOC_DATADIR].dir;
        char message[1024];
        pid_t pid;

        if (!comp || !datadir) {
                log_event(w, "PreRestore", "the datadir is not restored");
                return true;
        }
        pid = datadir_user(datadir);
        if (pid > 0) {
                snprintf(message, sizeof message,
                         "a running server uses %s (pid %d holds the lock on ibdata1): stop it before restoring "
                         "over it",
                         datadir, (int) pid);
                (void) vss_component_set_pre_restore_failure_msg(comp, message);
                return fail_server(w, "PreRestore", VSS_E_WRITERERROR_NONRETRYABLE, 0, "%s", message);
        }
        log_event(w, "PreRestore", "%s is not in use by a server", datadir);
        return true;
}

/* Removes #sql* files in @dir; returns how many, or -errno. */
static int remove_sql_leftovers(const char *dir, unsigned *ret_subdirs) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (strncmp(de->d_name, "#sql", 4) == 0) {
                        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                                n++;
                        continue;
                }
                if (ret_subdirs && de->d_type == DT_DIR) {
                        _cleanup_(freep) char *sub = NULL;
                        int k;

                        if (strcmp(de->d_name, "#innodb_redo") == 0 || strcmp(de->d_name, "#innodb_temp") == 0)
                                continue;
                        (*ret_subdirs)++;
                        if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0)
                                continue;
                        k = remove_sql_leftovers(sub, NULL);
                        if (k > 0)
                                n += k;
                }
        }
        closedir(d);
        return n;
}

static bool file_exists(const char *dir, const char *name) {
        _cleanup_(freep) char *path = NULL;
        struct stat st;

        return asprintf(&path, "%s/%s", dir, name) >= 0 && stat(path, &st) == 0;
}

static bool on_post_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        vss_component *comp = datadir_component(c);
        const char *datadir = ctx->loc[LOC_DATADIR].dir;
        char missing[512] = "", message[1024];
        size_t len = 0;
        unsigned databases = 0;
        int removed;
        struct {
                const char *dir, *name;
        } needed[] = {
                { datadir, "ibdata1" },
                { ctx->loc[LOC_REDO].dir, "ib_logfile0" },
                { datadir, "mysql" },
                { ctx->loc[LOC_ARIA].dir, "aria_log_control" },
        };

        if (!comp || !datadir) {
                log_event(w, "PostRestore", "the datadir was not restored");
                return true;
        }
        if (vss_component_get_file_restore_status(comp) == VSS_RS_NONE) {
                log_event(w, "PostRestore", "no file of the datadir was restored, nothing to check");
                return true;
        }
        removed = remove_sql_leftovers(datadir, &databases);
        if (removed < 0) {
                snprintf(message, sizeof message, "the restored datadir %s cannot be read: %s", datadir,
                         strerror(-removed));
                (void) vss_component_set_post_restore_failure_msg(comp, message);
                return fail_server(w, "PostRestore", VSS_E_WRITERERROR_NONRETRYABLE, 0, "%s", message);
        }
        for (size_t i = 0; i < ELEMENTSOF(needed); i++)
                if (needed[i].dir && !file_exists(needed[i].dir, needed[i].name) && len < sizeof missing)
                        len += (size_t) snprintf(missing + len, sizeof missing - len, "%s%s/%s", len ? ", " : "",
                                                 needed[i].dir, needed[i].name);
        if (len > 0) {
                snprintf(message, sizeof message, "the restored datadir %s lacks %s: the server cannot recover it",
                         datadir, missing);
                (void) vss_component_set_post_restore_failure_msg(comp, message);
                return fail_server(w, "PostRestore", VSS_E_WRITERERROR_NONRETRYABLE, 0, "%s", message);
        }
        log_event(w, "PostRestore",
                  "%s: ibdata1, ib_logfile0, aria_log_control and %u database directories found, %d #sql leftover%s "
                  "removed; the server recovers it when it starts",
                  datadir, databases, removed, removed == 1 ? "" : "s");
        return true;
}

/* ---- arguments ------------------------------------------------------------------ */

static void help(void) {
        printf("Usage: " PROG " [OPTIONS]\n\n"
               "The lvss writer for a MariaDB server: holds BACKUP STAGE BLOCK_COMMIT from\n"
               "Freeze to Thaw, and vetoes snapshot sets that would not capture all of the\n"
               "server's files at one instant.\n\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "     --socket PATH         The lvssd socket (default: $LVSS_SOCKET, else the default)\n"
               "     --name NAME           Writer name (default: " DEFAULT_NAME ")\n"
               "     --instance NAME       Writer instance name (default: none)\n"
               "     --freeze-timeout MS   Longest time commits stay blocked (default 10000);\n"
               "                           every statement is bounded by half of it\n"
               "     --freeze-stamp FILE   Write the CLOCK_REALTIME microsecond of each\n"
               "                           BLOCK_COMMIT to FILE\n"
               "     --db-socket PATH      The server's socket (default " DEFAULT_DB_SOCKET ")\n"
               "     --db-user USER        Connect as USER (default " DEFAULT_DB_USER "); needs RELOAD\n"
               "     --db-password-file FILE  The password, first line of FILE (default: none)\n"
               "     --datadir DIR         The datadir when the server is down at start (restores)\n\n"
               "See lvss-writer-mariadb(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_DB_SOCKET = WRITER_ARG_PROGRAM,
                ARG_DB_USER,
                ARG_DB_PASSWORD_FILE,
                ARG_DATADIR,
        };
        static const struct option options[] = {
                WRITER_COMMON_OPTIONS,
                WRITER_FREEZE_STAMP_OPTION,
                { "db-socket", required_argument, NULL, ARG_DB_SOCKET },
                { "db-user", required_argument, NULL, ARG_DB_USER },
                { "db-password-file", required_argument, NULL, ARG_DB_PASSWORD_FILE },
                { "datadir", required_argument, NULL, ARG_DATADIR },
                {}
        };
        int c;

        while ((c = writer_program_next_option(&program, argc, argv, options)) >= WRITER_ARG_PROGRAM)
                switch (c) {
                case ARG_DB_SOCKET:
                        arg_db_socket = optarg;
                        break;
                case ARG_DB_USER:
                        if (!*optarg) {
                                fprintf(stderr, PROG ": --db-user must not be empty\n");
                                return -EINVAL;
                        }
                        arg_db_user = optarg;
                        break;
                case ARG_DB_PASSWORD_FILE:
                        arg_db_password_file = optarg;
                        break;
                case ARG_DATADIR:
                        arg_datadir = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (c != WRITER_OPTIONS_END)
                return c;

        if (optind < argc) {
                fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int read_password(const char *path) {
        FILE *f = fopen(path, "re");
        char buf[512];
        size_t n;

        if (!f)
                return -errno;
        if (!fgets(buf, sizeof buf, f))
                buf[0] = 0;
        fclose(f);
        n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = 0;
        db_password = strdup(buf);
        explicit_bzero(buf, sizeof buf);
        return db_password ? 0 : -ENOMEM;
}

/* ---- main loop ------------------------------------------------------------------ */

/* The server closed our session while a stage was held: the stage is gone; say so now, fail the next event. */
static void check_session(void *userdata) {
        writer_context *ctx = userdata;
        char byte;
        ssize_t k = recv(mysql_get_socket(ctx->m), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        const char *stage = ctx->blocked ? "BLOCK_COMMIT" : "BACKUP STAGE START";
        const char *how;
        char ignored[8];

        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        how = k == 0 ? "closed by the server" : k < 0 ? strerror(errno) : "the server ended the session";

        free(ctx->lost);
        if (asprintf(&ctx->lost, "lost the connection to the server at %s while %s was held (%s)", arg_db_socket,
                     stage, how) < 0)
                ctx->lost = NULL;
        fprintf(stderr, PROG ": %s; the stage is gone with the session\n",
                ctx->lost ? ctx->lost : "lost the connection to the server");
        ctx->staged = false;
        release_stage(ctx, ignored, sizeof ignored);
}

/* The server session's socket while a stage is held (the fd writer_program_run() watches). */
static int session_fd(void *userdata) {
        writer_context *ctx = userdata;

        return ctx->m && ctx->staged ? (int) mysql_get_socket(ctx->m) : -1;
}

int main(int argc, char *argv[]) {
        writer_context ctx = {};
        vss_writer *w = NULL;
        static const vss_writer_callbacks callbacks = {
                .size = sizeof(vss_writer_callbacks),
                .on_identify = on_identify,
                .on_prepare_backup = on_prepare_backup,
                .on_prepare_snapshot = on_prepare_snapshot,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_post_snapshot = on_post_snapshot,
                .on_abort = on_abort,
                .on_backup_complete = on_backup_complete,
                .on_backup_shutdown = on_backup_shutdown,
                .on_pre_restore = on_pre_restore,
                .on_post_restore = on_post_restore,
        };
        char err[1024], ignored[8];
        MYSQL *m;
        int r, ret = EXIT_FAILURE;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;

        if (writer_program_setup(&program) < 0)
                return EXIT_FAILURE;
        if (arg_db_password_file) {
                r = read_password(arg_db_password_file);
                if (r < 0) {
                        fprintf(stderr, PROG ": cannot read the password file %s: %s\n", arg_db_password_file,
                                strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        if (mysql_library_init(0, NULL, NULL) != 0) {
                fprintf(stderr, PROG ": cannot initialize the MariaDB client library\n");
                return EXIT_FAILURE;
        }
        ctx.freeze_timeout_ms = program.freeze_timeout_ms;

        /* The server tells where its files are; a restore may run while it is down (--datadir). */
        m = db_connect(statement_bound_ms(ctx.freeze_timeout_ms), err, sizeof err);
        if (m && discover(&ctx, m, err, sizeof err) < 0) {
                mysql_close(m);
                m = NULL;
        }
        mysql_close(m);
        if (!ctx.loc[LOC_DATADIR].dir) {
                if (!arg_datadir) {
                        fprintf(stderr, PROG ": %s\n", err);
                        goto finish;
                }
                ctx.loc[LOC_DATADIR].dir = resolve_dir("/", arg_datadir);
                ctx.loc[LOC_REDO].dir = ctx.loc[LOC_DATADIR].dir ? strdup(ctx.loc[LOC_DATADIR].dir) : NULL;
                ctx.loc[LOC_ARIA].dir = ctx.loc[LOC_DATADIR].dir ? strdup(ctx.loc[LOC_DATADIR].dir) : NULL;
                ctx.loc[LOC_DATADIR].filespec = strdup("*");
                ctx.loc[LOC_REDO].filespec = strdup("ib_logfile*");
                ctx.loc[LOC_ARIA].filespec = strdup("aria_log*");
                if (!ctx.loc[LOC_DATADIR].dir || !ctx.loc[LOC_REDO].dir || !ctx.loc[LOC_ARIA].dir) {
                        fprintf(stderr, PROG ": --datadir %s: %s\n", arg_datadir, strerror(errno ? errno : ENOMEM));
                        goto finish;
                }
                fprintf(stderr, PROG ": %s; using --datadir %s until the server answers\n", err,
                        ctx.loc[LOC_DATADIR].dir);
        }

        w = writer_program_start(&program, &mariadb_writer_id, &callbacks, &ctx);
        if (!w)
                goto finish;
        fprintf(stderr, PROG ": writer '%s'%s%s%s subscribed, server at %s, datadir %s\n", program.name,
                program.instance ? " (instance '" : "", strempty(program.instance), program.instance ? "')" : "",
                arg_db_socket, ctx.loc[LOC_DATADIR].dir);

        ret = writer_program_run(&program, w,
                                 &(writer_program_watch) {
                                         .fd = session_fd, .ready = check_session, .userdata = &ctx });

finish:
        /* Never leave the server in a backup stage: end it first, then leave lvssd. */
        if (release_stage(&ctx, ignored, sizeof ignored))
                fprintf(stderr, PROG ": ended the backup stage on exit\n");
        w = vss_writer_release(w);
        for (size_t i = 0; i < _LOC_MAX; i++)
                location_clear(&ctx.loc[i]);
        free(ctx.lost);
        free(ctx.metadata);
        if (db_password) {
                explicit_bzero(db_password, strlen(db_password));
                free(db_password);
        }
        mysql_library_end();
        return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-writer-postgresql — the PostgreSQL writer (libpq), on the public
 * writer API. See lvss-writer-postgresql(8) and app-consistency.md §3.
 *
 * Identify asks the server where its files are: the data directory
 * (SHOW data_directory), every tablespace (pg_tablespace_location()) and the
 * real path of pg_wal; one VSS_CT_DATABASE component each. The paths of the
 * last successful answer are kept: when the server cannot be reached at
 * Identify, those are declared (and said so); when it never answered, the
 * writer declares nothing, says why, and stays registered.
 *
 * PrepareForSnapshot reads what the set gives (issue 9 part 1) and picks one
 * of two strategies:
 *
 * - "checkpoint": one atomic snapshot instant covers every path of the
 *   server (all of them on one volume whose snapshot is atomic, or an atomic
 *   set). CHECKPOINT now, so that recovery of the copy is short; nothing is
 *   held during Freeze: the copy is a crash image PostgreSQL recovers from.
 * - "backup mode": otherwise, and only for auto-recovery copies. On a
 *   connection it keeps: a temporary physical replication slot that reserves
 *   WAL, then pg_backup_start(label, fast => true). Thaw: pg_backup_stop().
 *   PostSnapshot writes backup_label, tablespace_map and the WAL from the
 *   start through the stop segment into the writable copy, removes what a
 *   base backup must not carry, and records label and LSNs in each
 *   component's backup metadata. Without auto-recovery it vetoes.
 *
 * Abort, a lost connection or the freeze timeout (the library's deadman
 * calls on_abort) close the kept connection: the server ends the backup and
 * drops the temporary slot by itself.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lvss/vss.h>

#include "basic/util.h"
#include "config.h"
#include "writers/common/writer-program.h"

/* The writer class id of lvss-writer-postgresql. */
static const vss_id pg_writer_id = { { 0x5e, 0x0b, 0x7c, 0x31, 0x9a, 0x42, 0x4d, 0x61, 0x8f, 0x13, 0x27, 0xc4, 0x60,
                                       0xa9, 0x1d, 0x55 } };

#define LOGICAL_PATH "postgresql"
#define DEFAULT_NAME "PostgreSQL"
#define DEFAULT_FREEZE_TIMEOUT_MS 60000U
#define DEFAULT_CONNECT_TIMEOUT_S 10U

/* A customer-defined failure HRESULT for a server error. */
#define PG_HRESULT VSS_HR(UINT32_C(0xA0500001))

typedef struct pg_path {
        char *component; /* "data", "pg_wal", "tablespace-NAME" */
        char *path;      /* real path */
} pg_path;

typedef enum strategy {
        STRATEGY_NONE,
        STRATEGY_CHECKPOINT,
        STRATEGY_BACKUP_MODE,
} strategy;

typedef struct writer_context {
        char *conninfo;
        pg_path *paths;
        size_t n_paths;
        uint32_t freeze_timeout_ms;

        /* the running snapshot set */
        strategy strategy;
        PGconn *backup_conn; /* backup mode: from pg_backup_start to pg_backup_stop */
        bool in_backup;
        char label[128], slot[64];
        char start_lsn[32], stop_lsn[32], checkpoint_lsn[32];
        char *labelfile, *spcmapfile;
        char start_wal[32], stop_wal[32];
        char session[VSS_ID_STRING_MAX]; /* of the backup, for what the poll loop logs */
        char lost[512];                   /* the server's words when the kept connection broke */
} writer_context;

static void help(void);

/* The common options (--socket, --name, --instance, --freeze-timeout) and the signalfd. */
static writer_program program =
        WRITER_PROGRAM_INIT("lvss-writer-postgresql", help, DEFAULT_NAME, DEFAULT_FREEZE_TIMEOUT_MS);
static unsigned arg_connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S;

/* ---- logging ----------------------------------------------------------------- */

/* One line per event, with the session id (cli.md). */
#define log_event(w, event, ...) writer_program_log_event(&program, (w), (event), __VA_ARGS__)

/* Records a failure of the current event: the message goes to the status and the log (WS-4). */
static bool fail_event(vss_writer *w, const char *event, vss_hresult hr, const char *fmt, ...) _printf_(4, 5);

static bool fail_event(vss_writer *w, const char *event, vss_hresult hr, const char *fmt, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof message, fmt, ap);
        va_end(ap);
        log_event(w, event, "failed: %s (%s)", message, strempty(vss_hresult_name(hr)));
        (void) vss_writer_set_failure_ex(w, hr, PG_HRESULT, message);
        return false;
}

/* ---- libpq ---------------------------------------------------------------------- */

static bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static void quiet_notices(void *arg, const char *message) {
}

/* The server's words for a failure: "SQLSTATE XXXXX: message", or libpq's, on one line. */
static void pg_error(PGconn *c, PGresult *r, char *buf, size_t size) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        if (state && msg)
                snprintf(buf, size, "SQLSTATE %s: %s", state, msg);
        else
                snprintf(buf, size, "%s", c ? PQerrorMessage(c) : "out of memory");
        for (char *p = buf; *p; p++)
                if (*p == '\n' || *p == '\t')
                        *p = (p[1] ? ' ' : 0);
}

static PGconn *pg_connect(const char *conninfo, char *err, size_t size) {
        char timeout[16];
        const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
        const char *values[] = { conninfo, timeout, "lvss-writer-postgresql", NULL };
        PGconn *c;

        snprintf(timeout, sizeof timeout, "%u", arg_connect_timeout_s);
        /* expand_dbname: the first "dbname" is the whole connection string; ours come after it only as defaults. */
        c = PQconnectdbParams(keys, values, 1);
        if (!c || PQstatus(c) != CONNECTION_OK) {
                pg_error(c, NULL, err, size);
                PQfinish(c);
                return NULL;
        }
        PQsetNoticeProcessor(c, quiet_notices, NULL);
        return c;
}

/* Runs @sql; on success the result (owned), else NULL with the server's words in @err. */
static PGresult *pg_query(PGconn *c, const char *sql, char *err, size_t size) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                return r;
        pg_error(c, r, err, size);
        PQclear(r);
        return NULL;
}

/* As pg_query, with one text parameter. */
static PGresult *pg_query1(PGconn *c, const char *sql, const char *param, char *err, size_t size) {
        PGresult *r = PQexecParams(c, sql, 1, NULL, &param, NULL, NULL, 0);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                return r;
        pg_error(c, r, err, size);
        PQclear(r);
        return NULL;
}

/* ---- the server's paths ------------------------------------------------------------ */

static void paths_free(pg_path *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].component);
                free(p[i].path);
        }
        free(p);
}

static int paths_add(pg_path **p, size_t *n, const char *component, const char *path) {
        pg_path *np = realloc(*p, (*n + 1) * sizeof **p);
        char *real;

        if (!np)
                return -ENOMEM;
        *p = np;
        real = realpath(path, NULL);
        if (!real)
                return negative_errno(); /* never 0: the caller reads the new entry then */
        np[*n] = (pg_path) { .component = strdup(component), .path = real };
        if (!np[*n].component) {
                free(real);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

/* Asks the server for its paths; replaces ctx->paths on success. */
static bool query_paths(writer_context *ctx, char *err, size_t size) {
        PGconn *c = pg_connect(ctx->conninfo, err, size);
        PGresult *r = NULL;
        pg_path *p = NULL;
        size_t n = 0;
        char *wal = NULL;
        int e = 0;

        if (!c)
                return false;
        r = pg_query(c, "SHOW data_directory", err, size);
        if (!r)
                goto fail;
        e = paths_add(&p, &n, "data", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (e < 0)
                goto fail_errno;
        /* set when paths_add() returns >= 0 (clang 14 misses that negative_errno() < 0) */
        /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage) */
        if (asprintf(&wal, "%s/pg_wal", p[0].path) < 0) {
                wal = NULL;
                e = -ENOMEM;
                goto fail_errno;
        }
        e = paths_add(&p, &n, "pg_wal", wal);
        if (e < 0)
                goto fail_errno;
        r = pg_query(c,
                     "SELECT spcname, pg_tablespace_location(oid) FROM pg_tablespace "
                     "WHERE pg_tablespace_location(oid) <> '' ORDER BY spcname",
                     err, size);
        if (!r)
                goto fail;
        for (int i = 0; i < PQntuples(r) && e >= 0; i++) {
                char name[256];

                snprintf(name, sizeof name, "tablespace-%s", PQgetvalue(r, i, 0));
                e = paths_add(&p, &n, name, PQgetvalue(r, i, 1));
        }
        PQclear(r);
        if (e < 0)
                goto fail_errno;

        paths_free(ctx->paths, ctx->n_paths);
        ctx->paths = p;
        ctx->n_paths = n;
        free(wal);
        PQfinish(c);
        return true;

fail_errno:
        snprintf(err, size, "cannot resolve the server's paths: %s", strerror(-e));
fail:
        paths_free(p, n);
        free(wal);
        PQfinish(c);
        return false;
}

static const char *path_of(writer_context *ctx, const char *component) {
        for (size_t i = 0; i < ctx->n_paths; i++)
                if (streq(ctx->paths[i].component, component))
                        return ctx->paths[i].path;
        return NULL;
}

/* The index of the set's volume that holds @path (the deepest), or -1. */
static int volume_of(vss_writer *w, const char *path) {
        unsigned n = 0;
        size_t best_len = 0;
        int best = -1;

        if (VSS_FAILED(vss_writer_get_snapshot_volume_count(w, &n)))
                return -1;
        for (unsigned i = 0; i < n; i++) {
                const char *v = NULL;
                _cleanup_(freep) char *real = NULL;

                if (VSS_FAILED(vss_writer_get_snapshot_volume(w, i, &v, NULL, NULL)) || !v)
                        continue;
                real = realpath(v, NULL);
                if (path_is_under(path, real ? real : v) && strlen(real ? real : v) >= best_len) {
                        best_len = strlen(real ? real : v);
                        best = (int) i;
                }
        }
        return best;
}

/* ---- files in the copy -------------------------------------------------------------- */

/* Where @path (a live path of the server) is in the writable copy, or NULL (owned). */
static char *path_in_copy(vss_writer *w, const char *path) {
        int i = volume_of(w, path);
        const char *v = NULL, *snap = NULL;
        _cleanup_(freep) char *real = NULL;
        char *ret;

        if (i < 0 || VSS_FAILED(vss_writer_get_snapshot_volume(w, (unsigned) i, &v, NULL, NULL)) ||
            VSS_FAILED(vss_writer_get_snapshot_path(w, v, &snap)) || !snap)
                return NULL;
        real = realpath(v, NULL);
        if (asprintf(&ret, "%s%s", snap, path + strlen(real ? real : v)) < 0)
                return NULL;
        return ret;
}

static int write_file(const char *path, const void *data, size_t size, uid_t uid, gid_t gid) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        const char *p = data;

        if (fd < 0)
                return -errno;
        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        int e = -errno;
                        close(fd);
                        return e;
                }
                p += k;
                size -= (size_t) k;
        }
        if (fchown(fd, uid, gid) < 0 || fsync(fd) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return close(fd) < 0 ? -errno : 0;
}

static int copy_file(const char *from, const char *to, uid_t uid, gid_t gid) {
        int in = open(from, O_RDONLY | O_CLOEXEC), out, e = 0;
        char buf[65536];
        ssize_t k;

        if (in < 0)
                return -errno;
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (out < 0) {
                e = -errno;
                close(in);
                return e;
        }
        while ((k = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t) k) != k) {
                        e = errno ? -errno : -EIO;
                        break;
                }
        if (k < 0)
                e = -errno;
        if (e == 0 && (fchown(out, uid, gid) < 0 || fsync(out) < 0))
                e = -errno;
        close(in);
        if (close(out) < 0 && e == 0)
                e = -errno;
        return e;
}

/* Removes the contents of @dir (not @dir itself); a missing @dir is fine. */
static int empty_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int e = 0;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                _cleanup_(freep) char *p = NULL;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                        return closedir(d), -ENOMEM;
                if (de->d_type == DT_DIR) {
                        e = empty_dir(p);
                        if (e == 0 && rmdir(p) < 0)
                                e = -errno;
                } else if (unlink(p) < 0)
                        e = -errno;
                if (e < 0)
                        break;
        }
        closedir(d);
        return e;
}

/* ---- strategy ----------------------------------------------------------------------- */

static void backup_reset(writer_context *ctx) {
        if (ctx->backup_conn)
                /* Closing the session ends a running backup and drops the temporary slot. */
                PQfinish(ctx->backup_conn);
        ctx->backup_conn = NULL;
        ctx->in_backup = false;
        free(ctx->labelfile);
        free(ctx->spcmapfile);
        ctx->labelfile = ctx->spcmapfile = NULL;
        ctx->start_lsn[0] = ctx->stop_lsn[0] = ctx->checkpoint_lsn[0] = 0;
        ctx->start_wal[0] = ctx->stop_wal[0] = 0;
        ctx->lost[0] = 0;
}

/* Whether one atomic instant covers every path; else the paths and volumes, said in @why. */
static bool covered_atomically(vss_writer *w, writer_context *ctx, char *why, size_t size) {
        bool set_atomic = false, atomic = true;
        int first = -2;
        size_t len = 0;

        why[0] = 0;
        if (VSS_SUCCEEDED(vss_writer_is_set_atomic(w, &set_atomic)) && set_atomic)
                return true;
        for (size_t i = 0; i < ctx->n_paths; i++) {
                int v = volume_of(w, ctx->paths[i].path);
                const char *vol = "(not in the set)", *provider = "-";
                bool a = false;

                if (v >= 0)
                        (void) vss_writer_get_snapshot_volume(w, (unsigned) v, &vol, &provider, &a);
                if (v < 0 || !a || (first != -2 && v != first))
                        atomic = false;
                if (first == -2)
                        first = v;
                if (len < size)
                        len += (size_t) snprintf(why + len, size - len, "%s%s on %s (%s%s)", len ? ", " : "",
                                                 ctx->paths[i].path, vol, provider, a ? ", atomic" : ", not atomic");
        }
        return atomic && first >= 0;
}

/* ---- handlers ----------------------------------------------------------------- */

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        writer_context *ctx = userdata;
        const uint32_t mask = VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED;
        char err[512];
        vss_hresult hr;

        if (!query_paths(ctx, err, sizeof err)) {
                if (ctx->n_paths == 0) {
                        log_event(w, "Identify", "the server cannot be reached, no components: %s", err);
                        return true;
                }
                log_event(w, "Identify", "the server cannot be reached, declaring its last known paths: %s", err);
        }

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                           VSS_WRE_ALWAYS, false);
        for (size_t i = 0; i < ctx->n_paths && VSS_SUCCEEDED(hr); i++) {
                pg_path *p = &ctx->paths[i];

                hr = vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, LOGICAL_PATH, p->component,
                                                              p->path, NULL, 0, false, false, true, true, 0);
                if (VSS_SUCCEEDED(hr)) {
                        if (streq(p->component, "pg_wal"))
                                hr = vss_create_writer_metadata_add_database_log_files(md, LOGICAL_PATH,
                                                                                       p->component, p->path, "*",
                                                                                       mask);
                        else
                                hr = vss_create_writer_metadata_add_database_files(md, LOGICAL_PATH, p->component,
                                                                                   p->path, "*", mask);
                }
        }
        if (VSS_FAILED(hr)) {
                log_event(w, "Identify", "cannot describe the server: %s (%s)", vss_hresult_text(hr),
                          strempty(vss_hresult_name(hr)));
                return false;
        }
        for (size_t i = 0; i < ctx->n_paths; i++)
                log_event(w, "Identify", "component %s: %s", ctx->paths[i].component, ctx->paths[i].path);
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        char err[512], why[2048];
        bool auto_recovery = false;
        PGresult *r;
        vss_id set;
        char sid[VSS_ID_STRING_MAX];

        backup_reset(ctx);
        ctx->strategy = STRATEGY_NONE;
        if (ctx->n_paths == 0 && !query_paths(ctx, err, sizeof err))
                return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_RETRYABLE,
                                  "the server cannot be reached: %s", err);

        {
                size_t in_set = 0;

                for (size_t i = 0; i < ctx->n_paths; i++)
                        if (volume_of(w, ctx->paths[i].path) >= 0)
                                in_set++;
                if (in_set == 0) {
                        log_event(w, "PrepareForSnapshot", "none of the server's paths is in the set, nothing to do");
                        return true;
                }
                if (in_set < ctx->n_paths) {
                        (void) covered_atomically(w, ctx, why, sizeof why);
                        return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE,
                                          "only some of the server's paths are in the snapshot set, a copy of them "
                                          "cannot be restored (vetoed): %s",
                                          why);
                }
        }
        if (covered_atomically(w, ctx, why, sizeof why)) {
                ctx->strategy = STRATEGY_CHECKPOINT;
                ctx->backup_conn = pg_connect(ctx->conninfo, err, sizeof err);
                if (!ctx->backup_conn)
                        return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_RETRYABLE,
                                          "the server cannot be reached: %s", err);
                r = pg_query(ctx->backup_conn, "CHECKPOINT", err, sizeof err);
                if (!r) {
                        backup_reset(ctx);
                        return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE,
                                          "CHECKPOINT failed: %s", err);
                }
                PQclear(r);
                PQfinish(ctx->backup_conn);
                ctx->backup_conn = NULL;
                log_event(w, "PrepareForSnapshot",
                          "strategy checkpoint: one atomic snapshot covers every path; checkpointed, nothing held");
                return true;
        }

        (void) vss_writer_is_auto_recovery(w, &auto_recovery);
        if (!auto_recovery)
                return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE,
                                  "the server's files are not captured at one instant and the shadow copies are "
                                  "not auto-recovery copies, so backup_label and the WAL cannot be written into "
                                  "them (vetoed): %s",
                                  why);

        ctx->strategy = STRATEGY_BACKUP_MODE;
        if (VSS_SUCCEEDED(vss_writer_get_session_id(w, &set)))
                vss_id_format(&set, ctx->session);
        else
                snprintf(ctx->session, sizeof ctx->session, "none");
        if (VSS_FAILED(vss_writer_get_current_snapshot_set_id(w, &set)))
                set = (vss_id) {};
        vss_id_format(&set, sid);
        snprintf(ctx->label, sizeof ctx->label, "lvss %s", sid);
        snprintf(ctx->slot, sizeof ctx->slot, "lvss_%.8s_%d", sid + (sid[0] == '{'), (int) getpid());
        for (char *p = ctx->slot; *p; p++)
                if (*p == '-')
                        *p = '_';
        ctx->backup_conn = pg_connect(ctx->conninfo, err, sizeof err);
        if (!ctx->backup_conn)
                return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_RETRYABLE,
                                  "the server cannot be reached: %s", err);
        r = pg_query1(ctx->backup_conn, "SELECT pg_create_physical_replication_slot($1, true, true)", ctx->slot, err,
                      sizeof err);
        if (!r) {
                backup_reset(ctx);
                return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE,
                                  "cannot create the temporary replication slot: %s", err);
        }
        PQclear(r);
        r = pg_query1(ctx->backup_conn, "SELECT s, pg_walfile_name(s) FROM pg_backup_start($1, fast => true) s",
                      ctx->label, err, sizeof err);
        if (!r) {
                backup_reset(ctx);
                return fail_event(w, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE,
                                  "pg_backup_start failed: %s", err);
        }
        snprintf(ctx->start_lsn, sizeof ctx->start_lsn, "%s", PQgetvalue(r, 0, 0));
        snprintf(ctx->start_wal, sizeof ctx->start_wal, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        ctx->in_backup = true;
        log_event(w, "PrepareForSnapshot", "strategy backup mode: %s; backup started at %s (%s), slot %s", why,
                  ctx->start_lsn, ctx->start_wal, ctx->slot);
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;

        /* The instant of the freeze: whatever the server acknowledged before it is in the copy. */
        log_event(w, "Freeze", "%s (frozen at %" PRIu64 ")",
                  ctx->strategy == STRATEGY_BACKUP_MODE ? "in backup mode, nothing else held" : "nothing held",
                  now_usec(CLOCK_REALTIME));
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        char err[512];
        PGresult *r;

        if (ctx->strategy != STRATEGY_BACKUP_MODE) {
                log_event(w, "Thaw", "nothing was held");
                return true;
        }
        if (ctx->lost[0]) {
                char lost[sizeof ctx->lost];

                snprintf(lost, sizeof lost, "%s", ctx->lost);
                backup_reset(ctx);
                return fail_event(w, "Thaw", VSS_E_WRITERERROR_RETRYABLE,
                                  "the connection to the server broke during the backup, which ended it: %s", lost);
        }
        if (!ctx->in_backup || !ctx->backup_conn) {
                log_event(w, "Thaw", "no backup is running (Abort came first)");
                return true;
        }
        r = pg_query(ctx->backup_conn,
                     "SELECT lsn, pg_walfile_name(lsn), labelfile, coalesce(spcmapfile, '') "
                     "FROM pg_backup_stop(false)",
                     err, sizeof err);
        ctx->in_backup = false;
        if (!r) {
                backup_reset(ctx);
                return fail_event(w, "Thaw", VSS_E_WRITERERROR_NONRETRYABLE, "pg_backup_stop failed: %s", err);
        }
        snprintf(ctx->stop_lsn, sizeof ctx->stop_lsn, "%s", PQgetvalue(r, 0, 0));
        snprintf(ctx->stop_wal, sizeof ctx->stop_wal, "%s", PQgetvalue(r, 0, 1));
        ctx->labelfile = strdup(PQgetvalue(r, 0, 2));
        ctx->spcmapfile = strdup(PQgetvalue(r, 0, 3));
        PQclear(r);
        if (!ctx->labelfile || !ctx->spcmapfile) {
                backup_reset(ctx);
                return fail_event(w, "Thaw", VSS_E_WRITERERROR_OUTOFRESOURCES, "out of memory");
        }
        log_event(w, "Thaw", "backup stopped at %s (%s)", ctx->stop_lsn, ctx->stop_wal);
        return true;
}

/* Writes backup_label, tablespace_map and the WAL into the copy; NULL on success, else what failed. */
static bool repair_copy(vss_writer *w, writer_context *ctx, char *err, size_t size) {
        static const char *const remove_files[] = { "postmaster.pid", "postmaster.opts", "backup_label.old",
                                                    "tablespace_map.old" };
        static const char *const empty_dirs[] = { "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
                                                  "pg_snapshots", "pg_stat_tmp", "pg_subtrans" };
        const char *data = path_of(ctx, "data"), *wal = path_of(ctx, "pg_wal");
        _cleanup_(freep) char *copy_data = NULL, *copy_wal = NULL;
        struct stat st;
        DIR *d;
        struct dirent *de;
        unsigned copied = 0;
        int e;

        copy_data = path_in_copy(w, data);
        copy_wal = path_in_copy(w, wal);
        if (!copy_data || !copy_wal) {
                snprintf(err, size, "no writable shadow copy of %s", !copy_data ? data : wal);
                return false;
        }
        if (stat(copy_data, &st) < 0) {
                snprintf(err, size, "%s: %s", copy_data, strerror(errno));
                return false;
        }

        for (size_t i = 0; i < ELEMENTSOF(remove_files); i++) {
                _cleanup_(freep) char *p = NULL;
                if (asprintf(&p, "%s/%s", copy_data, remove_files[i]) < 0)
                        return snprintf(err, size, "out of memory"), false;
                if (unlink(p) < 0 && errno != ENOENT) {
                        snprintf(err, size, "cannot remove %s: %s", p, strerror(errno));
                        return false;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(empty_dirs); i++) {
                _cleanup_(freep) char *p = NULL;
                if (asprintf(&p, "%s/%s", copy_data, empty_dirs[i]) < 0)
                        return snprintf(err, size, "out of memory"), false;
                e = empty_dir(p);
                if (e < 0) {
                        snprintf(err, size, "cannot empty %s: %s", p, strerror(-e));
                        return false;
                }
        }

        /* The WAL from the start segment through the stop segment (same timeline: names sort). */
        d = opendir(wal);
        if (!d) {
                snprintf(err, size, "%s: %s", wal, strerror(errno));
                return false;
        }
        while ((de = readdir(d))) {
                _cleanup_(freep) char *from = NULL, *to = NULL;

                if (strlen(de->d_name) != 24 || strspn(de->d_name, "0123456789ABCDEF") != 24 ||
                    strncmp(de->d_name, ctx->start_wal, 8) != 0 || strcmp(de->d_name, ctx->start_wal) < 0 ||
                    strcmp(de->d_name, ctx->stop_wal) > 0)
                        continue;
                if (asprintf(&from, "%s/%s", wal, de->d_name) < 0 ||
                    asprintf(&to, "%s/%s", copy_wal, de->d_name) < 0) {
                        closedir(d);
                        return snprintf(err, size, "out of memory"), false;
                }
                e = copy_file(from, to, st.st_uid, st.st_gid);
                if (e < 0) {
                        closedir(d);
                        snprintf(err, size, "cannot copy %s to %s: %s", from, to, strerror(-e));
                        return false;
                }
                copied++;
        }
        closedir(d);
        if (copied == 0) {
                snprintf(err, size, "no WAL segment from %s through %s in %s", ctx->start_wal, ctx->stop_wal, wal);
                return false;
        }

        {
                _cleanup_(freep) char *label = NULL, *map = NULL;

                if (asprintf(&label, "%s/backup_label", copy_data) < 0 ||
                    asprintf(&map, "%s/tablespace_map", copy_data) < 0)
                        return snprintf(err, size, "out of memory"), false;
                e = write_file(label, ctx->labelfile, strlen(ctx->labelfile), st.st_uid, st.st_gid);
                if (e == 0 && *ctx->spcmapfile)
                        e = write_file(map, ctx->spcmapfile, strlen(ctx->spcmapfile), st.st_uid, st.st_gid);
                if (e < 0) {
                        snprintf(err, size, "cannot write backup_label or tablespace_map in %s: %s", copy_data,
                                 strerror(-e));
                        return false;
                }
        }
        log_event(w, "PostSnapshot", "wrote backup_label%s and %u WAL segment%s (%s..%s) into %s",
                  *ctx->spcmapfile ? ", tablespace_map" : "", copied, copied == 1 ? "" : "s", ctx->start_wal,
                  ctx->stop_wal, copy_data);
        return true;
}

static void set_components_metadata(vss_writer *w, writer_context *ctx, vss_writer_components *c) {
        unsigned n = 0;

        if (ctx->strategy == STRATEGY_NONE || VSS_FAILED(vss_writer_components_get_count(c, &n)))
                return;
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp = NULL;
                const char *path;
                char md[1024];
                vss_hresult hr;

                if (VSS_FAILED(vss_writer_components_get_component(c, i, &comp)))
                        continue;
                path = path_of(ctx, strempty(vss_component_get_name(comp)));
                if (ctx->strategy == STRATEGY_BACKUP_MODE)
                        snprintf(md, sizeof md, "strategy=backup-mode\nlabel=%s\nstart_lsn=%s\nstop_lsn=%s\npath=%s\n",
                                 ctx->label, ctx->start_lsn, ctx->stop_lsn, strempty(path));
                else
                        snprintf(md, sizeof md, "strategy=checkpoint\npath=%s\n", strempty(path));
                hr = vss_component_set_backup_metadata(comp, md);
                if (VSS_FAILED(hr))
                        log_event(w, "PostSnapshot", "cannot set the backup metadata of %s: %s",
                                  strempty(vss_component_get_name(comp)), vss_hresult_text(hr));
        }
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        char err[1024];
        bool ok = true;

        if (ctx->strategy == STRATEGY_BACKUP_MODE) {
                if (!ctx->labelfile)
                        ok = fail_event(w, "PostSnapshot", VSS_E_WRITERERROR_RECOVERY_FAILED,
                                        "the backup did not stop cleanly: the copy cannot be made consistent");
                else if (!repair_copy(w, ctx, err, sizeof err))
                        ok = fail_event(w, "PostSnapshot", VSS_E_WRITERERROR_RECOVERY_FAILED,
                                        "cannot complete the copy: %s", err);
        }
        set_components_metadata(w, ctx, c);
        if (ok && ctx->strategy == STRATEGY_CHECKPOINT)
                log_event(w, "PostSnapshot", "crash-consistent copy (one atomic instant)");
        backup_reset(ctx);
        return ok;
}

static bool on_abort(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        bool was = ctx->in_backup, lost = ctx->lost[0] != 0;

        backup_reset(ctx);
        log_event(w, "Abort", "%s",
                  !was  ? "nothing held"
                  : lost ? "backup mode had already ended with the lost connection to the server"
                         : "backup mode ended, slot dropped");
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        writer_context *ctx = userdata;

        backup_reset(ctx);
        log_event(w, "BackupShutdown", NULL);
        return true;
}

/* The data directory of a restore: from the component's backup metadata, else what Identify found. */
static char *restore_data_dir(writer_context *ctx, vss_writer_components *c) {
        unsigned n = 0;

        if (VSS_SUCCEEDED(vss_writer_components_get_count(c, &n)))
                for (unsigned i = 0; i < n; i++) {
                        vss_component *comp = NULL;
                        const char *md, *p;

                        if (VSS_FAILED(vss_writer_components_get_component(c, i, &comp)) ||
                            !streq(strempty(vss_component_get_name(comp)), "data"))
                                continue;
                        md = vss_component_get_backup_metadata(comp);
                        p = md ? strstr(md, "path=") : NULL;
                        if (p && p[5] && p[5] != '\n')
                                return strndup(p + 5, strcspn(p + 5, "\n"));
                }
        return path_of(ctx, "data") ? strdup(path_of(ctx, "data")) : NULL;
}

/*
 * The pid of a server that runs in @data, or 0: postmaster.pid names a live
 * process whose working directory is @data (the postmaster's chdir). A
 * postmaster.pid that came with a restored copy names no such process.
 */
static long running_server(const char *data) {
        _cleanup_(freep) char *pidfile = NULL, *cwd_link = NULL, *cwd = NULL, *real = NULL;
        FILE *f;
        long pid = 0;

        if (asprintf(&pidfile, "%s/postmaster.pid", data) < 0)
                return 0;
        f = fopen(pidfile, "re");
        if (!f)
                return 0;
        if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
        fclose(f);
        if (pid <= 0 || (kill((pid_t) pid, 0) < 0 && errno != EPERM))
                return 0;
        if (asprintf(&cwd_link, "/proc/%ld/cwd", pid) < 0)
                return pid;
        cwd = realpath(cwd_link, NULL);
        /* Not readable (another user, no /proc): assume it is the server. A zombie has no cwd. */
        if (!cwd)
                return errno == ENOENT ? 0 : pid;
        real = realpath(data, NULL);
        return real && streq(cwd, real) ? pid : 0;
}

static bool on_pre_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        _cleanup_(freep) char *data = restore_data_dir(ctx, c);
        long pid;

        if (!data) {
                log_event(w, "PreRestore", "no data directory known, nothing to check");
                return true;
        }
        pid = running_server(data);
        if (pid > 0)
                return fail_event(w, "PreRestore", VSS_E_WRITERERROR_NONRETRYABLE,
                                  "a running server (pid %ld) uses %s: stop it before restoring", pid, data);
        log_event(w, "PreRestore", "%s: no running server", data);
        return true;
}

/* What pg_control says: DBState at offset 16 (after system id, version, catalog version). */
static const char *control_state(const char *data) {
        static const char *const states[] = { "starting up", "shut down", "shut down in recovery", "shutting down",
                                              "in crash recovery", "in archive recovery", "in production" };
        _cleanup_(freep) char *p = NULL;
        unsigned char buf[20];
        int32_t state;
        FILE *f;

        if (asprintf(&p, "%s/global/pg_control", data) < 0)
                return NULL;
        f = fopen(p, "re");
        if (!f)
                return NULL;
        if (fread(buf, 1, sizeof buf, f) != sizeof buf) {
                fclose(f);
                return NULL;
        }
        fclose(f);
        memcpy(&state, buf + 16, sizeof state);
        return state >= 0 && state < (int32_t) ELEMENTSOF(states) ? states[state] : "unknown";
}

static bool on_post_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        _cleanup_(freep) char *data = restore_data_dir(ctx, c), *label = NULL, *tblspc = NULL;
        char found[1024];
        const char *state;
        unsigned links = 0, broken = 0, removed = 0;
        bool has_label;
        DIR *d;
        struct dirent *de;

        if (!data) {
                log_event(w, "PostRestore", "no data directory known, nothing to check");
                return true;
        }
        state = control_state(data);
        if (!state)
                return fail_event(w, "PostRestore", VSS_E_WRITERERROR_NONRETRYABLE,
                                  "%s is not a PostgreSQL data directory (no readable global/pg_control)", data);
        if (asprintf(&label, "%s/backup_label", data) < 0 || asprintf(&tblspc, "%s/pg_tblspc", data) < 0)
                return fail_event(w, "PostRestore", VSS_E_WRITERERROR_OUTOFRESOURCES, "out of memory");
        has_label = access(label, F_OK) == 0;
        /* A crash image carries the live server's postmaster.pid and postmaster.opts: not ours to keep. */
        if (running_server(data) == 0) {
                static const char *const stale[] = { "postmaster.pid", "postmaster.opts" };

                for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
                        _cleanup_(freep) char *p = NULL;

                        if (asprintf(&p, "%s/%s", data, stale[i]) >= 0 && unlink(p) == 0)
                                removed++;
                }
        }
        d = opendir(tblspc);
        while (d && (de = readdir(d))) {
                _cleanup_(freep) char *p = NULL;
                struct stat st;

                if (de->d_name[0] == '.' || asprintf(&p, "%s/%s", tblspc, de->d_name) < 0)
                        continue;
                links++;
                if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        broken++;
        }
        if (d)
                closedir(d);
        snprintf(found, sizeof found, "%s: pg_control says \"%s\", %s, %u tablespace link%s%s%s", data, state,
                 has_label ? "backup_label present (recovery replays to the end of the backup)"
                           : "no backup_label (crash recovery from the last checkpoint)",
                 links, links == 1 ? "" : "s", broken ? " (some broken)" : "",
                 removed ? ", removed the copied postmaster.pid/opts" : "");
        if (broken)
                return fail_event(w, "PostRestore", VSS_E_WRITERERROR_NONRETRYABLE,
                                  "%s: %u tablespace link%s point%s nowhere", found, broken, broken == 1 ? "" : "s",
                                  broken == 1 ? "s" : "");
        log_event(w, "PostRestore", "%s", found);
        (void) vss_writer_set_failure_ex(w, VSS_S_OK, VSS_S_OK, found);
        return true;
}

/* ---- arguments ------------------------------------------------------------------ */

static void help(void) {
        printf("Usage: lvss-writer-postgresql [OPTIONS] CONNINFO\n\n"
               "The lvss writer for a PostgreSQL server: CHECKPOINT before an atomic snapshot,\n"
               "else backup mode with backup_label and WAL written into auto-recovery copies.\n"
               "CONNINFO is a libpq connection string or URI (a superuser, or a role with\n"
               "pg_checkpoint, pg_backup_start/stop and REPLICATION).\n\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "     --socket PATH         The lvssd socket (default: $LVSS_SOCKET, else the default)\n"
               "     --name NAME           Writer name (default: " DEFAULT_NAME ")\n"
               "     --instance NAME       Writer instance name (default: none)\n"
               "     --freeze-timeout MS   Longest time frozen before ending backup mode (default 60000)\n"
               "     --connect-timeout S   Seconds to wait for the server (default 10)\n\n"
               "See lvss-writer-postgresql(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CONNECT_TIMEOUT = WRITER_ARG_PROGRAM,
        };
        static const struct option options[] = {
                WRITER_COMMON_OPTIONS,
                { "connect-timeout", required_argument, NULL, ARG_CONNECT_TIMEOUT },
                {}
        };
        unsigned long v;
        int c;

        program.freeze_timeout_what = "a number"; /* its words for a bad --freeze-timeout */

        while ((c = writer_program_next_option(&program, argc, argv, options)) >= WRITER_ARG_PROGRAM)
                switch (c) {
                case ARG_CONNECT_TIMEOUT:
                        if (writer_program_parse_number(&program, "--connect-timeout", "a number", optarg, 3600,
                                                        &v) < 0)
                                return -EINVAL;
                        arg_connect_timeout_s = (unsigned) v;
                        break;
                default:
                        return -EINVAL;
                }
        if (c != WRITER_OPTIONS_END)
                return c;

        if (argc - optind != 1) {
                fprintf(stderr, "lvss-writer-postgresql: needs exactly one connection string (see --help)\n");
                return -EINVAL;
        }
        return 1;
}

/* ---- main loop ------------------------------------------------------------------ */

/*
 * The kept connection is watched too: when the server goes away during a
 * backup, the backup has ended there; the writer says so at once and fails
 * Thaw (or PostSnapshot) with the server's words.
 */
static void watch_backup_conn(void *userdata) {
        writer_context *ctx = userdata;
        PGconn *c = ctx->backup_conn;
        PGresult *r;

        if (PQconsumeInput(c) == 1 && PQstatus(c) == CONNECTION_OK) {
                while (!PQisBusy(c) && (r = PQgetResult(c)))
                        PQclear(r);
                return;
        }
        pg_error(c, NULL, ctx->lost, sizeof ctx->lost);
        if (!ctx->lost[0])
                snprintf(ctx->lost, sizeof ctx->lost, "connection lost");
        fprintf(stderr, "lvss-writer-postgresql: session %s: lost the connection to the server in backup mode: %s\n",
                ctx->session, ctx->lost);
        PQfinish(ctx->backup_conn);
        ctx->backup_conn = NULL;
}

/* The kept connection's socket while in backup mode (the fd writer_program_run() watches). */
static int backup_conn_fd(void *userdata) {
        writer_context *ctx = userdata;

        return ctx->in_backup && ctx->backup_conn ? PQsocket(ctx->backup_conn) : -1;
}

int main(int argc, char *argv[]) {
        writer_context ctx = {};
        vss_writer *w = NULL;
        static const vss_writer_callbacks callbacks = {
                .size = sizeof(vss_writer_callbacks),
                .on_identify = on_identify,
                .on_prepare_snapshot = on_prepare_snapshot,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_post_snapshot = on_post_snapshot,
                .on_abort = on_abort,
                .on_backup_shutdown = on_backup_shutdown,
                .on_pre_restore = on_pre_restore,
                .on_post_restore = on_post_restore,
        };
        PQconninfoOption *parsed;
        char *parse_err = NULL, err[512];
        int r, ret = EXIT_FAILURE;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;

        parsed = PQconninfoParse(argv[optind], &parse_err);
        if (!parsed) {
                if (parse_err)
                        parse_err[strcspn(parse_err, "\n")] = 0;
                fprintf(stderr, "lvss-writer-postgresql: bad connection string: %s\n",
                        parse_err ? parse_err : "out of memory");
                PQfreemem(parse_err);
                return EXIT_USAGE;
        }
        PQconninfoFree(parsed);

        if (writer_program_setup(&program) < 0)
                return EXIT_FAILURE;
        ctx.conninfo = strdup(argv[optind]);
        if (!ctx.conninfo) {
                fprintf(stderr, "lvss-writer-postgresql: out of memory\n");
                return EXIT_FAILURE;
        }
        ctx.freeze_timeout_ms = program.freeze_timeout_ms;

        /* Ask once now, to say early what is wrong; the writer stays useful when the server comes later. */
        if (!query_paths(&ctx, err, sizeof err))
                fprintf(stderr, "lvss-writer-postgresql: cannot reach the server (will ask again at Identify): %s\n",
                        err);

        w = writer_program_start(&program, &pg_writer_id, &callbacks, &ctx);
        if (!w)
                goto finish;
        fprintf(stderr, "lvss-writer-postgresql: writer '%s'%s%s%s subscribed, %zu path%s known\n", program.name,
                program.instance ? " (instance '" : "", strempty(program.instance), program.instance ? "')" : "",
                ctx.n_paths, ctx.n_paths == 1 ? "" : "s");

        ret = writer_program_run(&program, w,
                                 &(writer_program_watch) {
                                         .fd = backup_conn_fd, .ready = watch_backup_conn, .userdata = &ctx });

finish:
        /* Never leave the server in backup mode. */
        if (ctx.in_backup)
                fprintf(stderr, "lvss-writer-postgresql: ended backup mode on exit\n");
        backup_reset(&ctx);
        w = vss_writer_release(w);
        paths_free(ctx.paths, ctx.n_paths);
        free(ctx.conninfo);
        return ret;
}

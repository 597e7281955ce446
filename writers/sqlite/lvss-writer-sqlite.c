/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-writer-sqlite — the bundled SQLite writer, on the public writer API.
 *
 * How it makes a shadow copy of a live SQLite database consistent:
 *
 * - PrepareForSnapshot opens a connection of its own to every database in
 *   the snapshot set.
 * - Freeze first runs `PRAGMA wal_checkpoint(TRUNCATE)`, so that the main
 *   database file holds everything committed so far and the -wal file is
 *   empty, then `BEGIN IMMEDIATE`: that takes SQLite's write lock (the WAL
 *   write lock, or RESERVED in rollback-journal mode) and keeps it. From
 *   then on no other connection can commit: every application writer waits
 *   in its busy handler, readers go on. The files on disk are therefore a
 *   consistent database while the provider copies them, and every
 *   transaction acknowledged before the lock was taken is in them.
 * - Thaw rolls the empty transaction back, which releases the lock; the
 *   waiting writers proceed.
 * - Abort (from the coordinator, or from the library's own deadman timer
 *   when Thaw does not come in time, WS-6) releases the lock at once.
 *
 * BEGIN IMMEDIATE waits for a writer transaction that is in flight when
 * Freeze arrives (see busy_handler()), but only for half the freeze timeout
 * in all, so that the Freeze reply always beats the coordinator's Freeze
 * deadline. A lock that cannot be had is VSS_E_WRITERERROR_RETRYABLE; any
 * other SQLite failure is VSS_E_WRITERERROR_NONRETRYABLE. Both carry the
 * SQLite message as the application message, and as the application result
 * a customer HRESULT 0xA000xxxx whose low 16 bits are the SQLite extended
 * result code.
 *
 * The program runs its own poll loop on vss_writer_get_fd() (which includes
 * the deadman timer) and a signalfd: SIGTERM and SIGINT end it cleanly,
 * releasing any lock first.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <lvss/vss.h>

#include "basic/util.h"
#include "config.h"
#include "writers/common/writer-program.h"

/* The writer class id of lvss-writer-sqlite (fixed: it identifies the kind of writer). */
static const vss_id sqlite_writer_id = { { 0xad, 0x4d, 0x04, 0x04, 0xe8, 0xb5, 0x4f, 0xb9, 0xbd, 0x21, 0x8c,
                                           0x71, 0x56, 0x22, 0x67, 0xd2 } };

#define LOGICAL_PATH "sqlite"
#define DEFAULT_NAME "SQLite"
#define DEFAULT_FREEZE_TIMEOUT_MS 60000U

/* A customer-defined failure HRESULT carrying a SQLite result code. */
#define SQLITE_HRESULT(rc) VSS_HR(UINT32_C(0xA0000000) | ((uint32_t) (rc) & 0xFFFFu))

typedef struct database {
        char *path; /* absolute */
        char *dir;
        char *name; /* basename: the component name */
        char *wal_name;
        sqlite3 *db;       /* our connection, between PrepareForSnapshot and Thaw/Abort */
        bool locked;       /* BEGIN IMMEDIATE is held */
        uint64_t busy_deadline; /* CLOCK_MONOTONIC µs: when busy_handler() gives up */
} database;

typedef struct writer_context {
        database *databases;
        size_t n_databases;
        uint32_t freeze_timeout_ms;
        const char *freeze_stamp;
        uint64_t frozen_since; /* CLOCK_MONOTONIC µs when every lock was held; 0 when not frozen */
} writer_context;

static void help(void);

/* The common options (--socket, --name, --instance, --freeze-timeout, --freeze-stamp) and the signalfd. */
static writer_program program =
        WRITER_PROGRAM_INIT("lvss-writer-sqlite", help, DEFAULT_NAME, DEFAULT_FREEZE_TIMEOUT_MS);

/* ---- logging ----------------------------------------------------------------- */

/* One line per event, with the session id (cli.md). */
#define log_event(w, event, ...) writer_program_log_event(&program, (w), (event), __VA_ARGS__)

/* ---- SQLite helpers ------------------------------------------------------------ */

static bool sqlite_busy(int rc) {
        return (rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED;
}

/* Records the failure of the current event with SQLite's words (WS-4). */
static bool fail_sqlite(vss_writer *w, const char *event, database *d, const char *what, int rc) {
        char message[1024];
        const char *errmsg = d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc);
        vss_hresult hr = sqlite_busy(rc) ? VSS_E_WRITERERROR_RETRYABLE : VSS_E_WRITERERROR_NONRETRYABLE;

        snprintf(message, sizeof message, "%s: %s: %s", d->path, what, errmsg);
        log_event(w, event, "failed: %s (%s)", message, vss_hresult_name(hr));
        (void) vss_writer_set_failure_ex(w, hr, SQLITE_HRESULT(rc), message);
        return false;
}

/*
 * SQLite's locks cannot be waited for, only retried: its busy handler is
 * called until it gives up. The stock one (sqlite3_busy_timeout) sleeps
 * 1, 2, 5, ... up to 100 ms between attempts; against an application that
 * commits in a tight loop, each attempt only wins if it falls into the few
 * microseconds between one COMMIT and the next BEGIN, so Freeze could take
 * seconds. Retrying every 50 µs for the first 100 ms (then every
 * millisecond) takes the lock within a few milliseconds under such a load,
 * and costs nothing when the database is idle.
 */
static int busy_handler(void *userdata, int count) {
        database *d = userdata;
        struct timespec ts = { .tv_nsec = count < 2000 ? 50 * 1000 : 1000 * 1000 };

        if (now_usec(CLOCK_MONOTONIC) >= d->busy_deadline)
                return 0;
        (void) nanosleep(&ts, NULL);
        return 1;
}

static void set_busy_deadline(database *d, uint64_t deadline_usec) {
        d->busy_deadline = deadline_usec;
        sqlite3_busy_handler(d->db, busy_handler, d);
}

/* Drops the lock (if held) and the connection. Safe to call at any time, twice. */
static void database_release(database *d) {
        if (!d->db)
                return;
        if (d->locked || !sqlite3_get_autocommit(d->db)) {
                int rc = sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        fprintf(stderr, "lvss-writer-sqlite: %s: ROLLBACK failed: %s\n", d->path,
                                sqlite3_errmsg(d->db));
        }
        d->locked = false;
        /* sqlite3_close_v2 also releases every lock this connection holds. */
        sqlite3_close_v2(d->db);
        d->db = NULL;
}

static bool release_all(writer_context *ctx) {
        bool any = false;

        for (size_t i = 0; i < ctx->n_databases; i++) {
                any = any || ctx->databases[i].locked;
                database_release(&ctx->databases[i]);
        }
        ctx->frozen_since = 0;
        return any;
}

/* ---- handlers ----------------------------------------------------------------- */

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        writer_context *ctx = userdata;
        const uint32_t mask = VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED;
        vss_hresult hr;

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                           VSS_WRE_ALWAYS, false);
        for (size_t i = 0; i < ctx->n_databases && VSS_SUCCEEDED(hr); i++) {
                database *d = &ctx->databases[i];

                hr = vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, LOGICAL_PATH, d->name, d->path,
                                                              NULL, 0, false, false, true, true, 0);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_create_writer_metadata_add_database_files(md, LOGICAL_PATH, d->name, d->dir,
                                                                           d->name, mask);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_create_writer_metadata_add_database_log_files(md, LOGICAL_PATH, d->name, d->dir,
                                                                               d->wal_name, mask);
        }
        if (VSS_FAILED(hr)) {
                log_event(w, "Identify", "cannot describe the databases: %s (%s)", vss_hresult_text(hr),
                          strempty(vss_hresult_name(hr)));
                return false;
        }
        log_event(w, "Identify", "%zu database%s", ctx->n_databases, ctx->n_databases == 1 ? "" : "s");
        return true;
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        log_event(w, "PrepareForBackup", NULL);
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        unsigned opened = 0;

        /* A new snapshot set: nothing of an earlier one may linger. */
        release_all(ctx);

        for (size_t i = 0; i < ctx->n_databases; i++) {
                database *d = &ctx->databases[i];
                sqlite3_stmt *st = NULL;
                int rc;

                if (!vss_writer_is_path_affected(w, d->path)) {
                        log_event(w, "PrepareForSnapshot", "%s is not in the snapshot set, skipped", d->path);
                        continue;
                }
                rc = sqlite3_open_v2(d->path, &d->db, SQLITE_OPEN_READWRITE, NULL);
                if (rc != SQLITE_OK) {
                        bool r = fail_sqlite(w, "PrepareForSnapshot", d, "cannot open", rc);
                        release_all(ctx);
                        return r;
                }
                sqlite3_extended_result_codes(d->db, 1);
                sqlite3_busy_timeout(d->db, (int) (ctx->freeze_timeout_ms / 2));

                /* Not an error, but worth saying: in rollback-journal mode the lock also blocks readers. */
                rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode", -1, &st, NULL);
                if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
                        const char *mode = (const char *) sqlite3_column_text(st, 0);
                        if (mode && strcasecmp(mode, "wal") != 0)
                                log_event(w, "PrepareForSnapshot", "%s is in journal mode '%s', not WAL", d->path,
                                          mode);
                } else if (rc != SQLITE_OK || sqlite3_errcode(d->db) != SQLITE_OK) {
                        int err = rc != SQLITE_OK ? rc : sqlite3_extended_errcode(d->db);
                        bool r;

                        sqlite3_finalize(st);
                        r = fail_sqlite(w, "PrepareForSnapshot", d, "cannot read the journal mode", err);
                        release_all(ctx);
                        return r;
                }
                sqlite3_finalize(st);
                opened++;
        }

        log_event(w, "PrepareForSnapshot", "%u database%s to freeze", opened, opened == 1 ? "" : "s");
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        uint64_t deadline = start + (uint64_t) ctx->freeze_timeout_ms * USEC_PER_MSEC / 2;
        uint64_t checkpoint_usec = 0, lock_usec = 0, t;
        uint64_t stamp;
        unsigned frozen = 0;

        for (size_t i = 0; i < ctx->n_databases; i++) {
                database *d = &ctx->databases[i];
                int rc, wal_frames = -1, checkpointed = -1;

                if (!d->db)
                        continue;

                set_busy_deadline(d, deadline);
                t = now_usec(CLOCK_MONOTONIC);
                rc = sqlite3_wal_checkpoint_v2(d->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &wal_frames, &checkpointed);
                checkpoint_usec += now_usec(CLOCK_MONOTONIC) - t;
                if (sqlite_busy(rc))
                        /* Readers kept it from finishing: the -wal file is part of the component, so the
                         * copy is still complete. Say so and go on. */
                        log_event(w, "Freeze", "%s: checkpoint incomplete (%s), the -wal file carries the rest",
                                  d->path, sqlite3_errmsg(d->db));
                else if (rc != SQLITE_OK) {
                        bool r = fail_sqlite(w, "Freeze", d, "PRAGMA wal_checkpoint(TRUNCATE)", rc);
                        release_all(ctx);
                        return r;
                }

                set_busy_deadline(d, deadline);
                t = now_usec(CLOCK_MONOTONIC);
                rc = sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
                lock_usec += now_usec(CLOCK_MONOTONIC) - t;
                if (rc != SQLITE_OK) {
                        bool r = fail_sqlite(w, "Freeze", d, "BEGIN IMMEDIATE", rc);
                        release_all(ctx);
                        return r;
                }
                d->locked = true;
                frozen++;
        }

        /* Taken after every lock is held: whatever committed before this instant is in the copy. */
        stamp = now_usec(CLOCK_REALTIME);
        for (size_t i = 0; i < ctx->n_databases; i++)
                if (ctx->databases[i].locked)
                        fprintf(stderr, "lvss-writer-sqlite: frozen %s at %" PRIu64 "\n", ctx->databases[i].path,
                                stamp);
        if (ctx->freeze_stamp) {
                int r = writer_program_write_freeze_stamp(ctx->freeze_stamp, stamp);
                if (r < 0)
                        log_event(w, "Freeze", "cannot write the freeze stamp to %s: %s", ctx->freeze_stamp,
                                  strerror(-r));
        }
        ctx->frozen_since = now_usec(CLOCK_MONOTONIC);
        log_event(w, "Freeze", "%u database%s frozen (checkpoint %.1f ms, waiting for the lock %.1f ms)", frozen,
                  frozen == 1 ? "" : "s", (double) checkpoint_usec / 1000.0, (double) lock_usec / 1000.0);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        uint64_t since = ctx->frozen_since;
        unsigned thawed = 0;

        for (size_t i = 0; i < ctx->n_databases; i++)
                if (ctx->databases[i].locked)
                        thawed++;
        release_all(ctx);
        if (since > 0)
                log_event(w, "Thaw", "%u database%s thawed, commits were held for %.1f ms", thawed,
                          thawed == 1 ? "" : "s", (double) (now_usec(CLOCK_MONOTONIC) - since) / 1000.0);
        else
                log_event(w, "Thaw", "nothing was frozen (Abort came first)");
        return true;
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        log_event(w, "PostSnapshot", NULL);
        return true;
}

static bool on_abort(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        bool was_frozen = release_all(ctx);

        log_event(w, "Abort", "%s", was_frozen ? "lock released" : "nothing held");
        return true;
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        log_event(w, "BackupComplete", NULL);
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        writer_context *ctx = userdata;

        release_all(ctx);
        log_event(w, "BackupShutdown", NULL);
        return true;
}

static bool on_pre_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        log_event(w, "PreRestore", NULL);
        return true;
}

/* Runs PRAGMA integrity_check; returns NULL when the answer is "ok", else what is wrong (owned). */
static char *integrity_problem(const char *path) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        char *problem = NULL;
        int rc;

        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
        if (rc == SQLITE_OK) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        const char *answer = (const char *) sqlite3_column_text(st, 0);
                        if (!answer || strcmp(answer, "ok") != 0)
                                problem = strdup(answer ? answer : "integrity_check gave no answer");
                        rc = SQLITE_OK;
                }
        }
        if (rc != SQLITE_OK && !problem && asprintf(&problem, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) < 0)
                problem = NULL;
        sqlite3_finalize(st);
        sqlite3_close_v2(db);
        return problem;
}

static bool on_post_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        writer_context *ctx = userdata;
        unsigned n = 0, checked = 0;
        bool ok = true;

        if (VSS_FAILED(vss_writer_components_get_count(c, &n)))
                n = 0;
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp = NULL;
                const char *name;
                database *d = NULL;
                char *problem;

                if (VSS_FAILED(vss_writer_components_get_component(c, i, &comp)))
                        continue;
                name = vss_component_get_name(comp);
                for (size_t k = 0; k < ctx->n_databases; k++)
                        if (name && strcmp(ctx->databases[k].name, name) == 0)
                                d = &ctx->databases[k];
                if (!d || vss_component_get_file_restore_status(comp) == VSS_RS_NONE)
                        continue;

                checked++;
                problem = integrity_problem(d->path);
                if (!problem)
                        continue;
                log_event(w, "PostRestore", "%s: integrity check failed: %s", d->path, problem);
                (void) vss_component_set_post_restore_failure_msg(comp, problem);
                (void) vss_writer_set_failure_ex(w, VSS_E_WRITERERROR_NONRETRYABLE, SQLITE_HRESULT(SQLITE_CORRUPT),
                                                 problem);
                free(problem);
                ok = false;
        }
        log_event(w, "PostRestore", "%u database%s checked%s", checked, checked == 1 ? "" : "s",
                  ok ? ", all ok" : "");
        return ok;
}

/* ---- arguments ------------------------------------------------------------------ */

static void help(void) {
        printf("Usage: lvss-writer-sqlite [OPTIONS] DATABASE...\n\n"
               "The lvss writer for SQLite databases: holds the write lock of each database\n"
               "from Freeze to Thaw so that shadow copies are consistent.\n\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "     --socket PATH         The lvssd socket (default: $LVSS_SOCKET, else the default)\n"
               "     --name NAME           Writer name (default: " DEFAULT_NAME ")\n"
               "     --instance NAME       Writer instance name (default: none)\n"
               "     --freeze-timeout MS   Longest time frozen before thawing on its own (default 60000)\n"
               "     --freeze-stamp FILE   Write the CLOCK_REALTIME microsecond of each freeze to FILE\n\n"
               "See lvss-writer-sqlite(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                WRITER_COMMON_OPTIONS,
                WRITER_FREEZE_STAMP_OPTION,
                {}
        };
        int r;

        r = writer_program_next_option(&program, argc, argv, options); /* the common options are all there is */
        if (r != WRITER_OPTIONS_END)
                return r;

        if (optind >= argc) {
                fprintf(stderr, "lvss-writer-sqlite: no database given (see --help)\n");
                return -EINVAL;
        }
        return 1;
}

/* Absolute path of @arg; the file itself need not exist yet, its directory must. */
static int database_init(database *d, const char *arg) {
        const char *slash = strrchr(arg, '/');
        const char *base = slash ? slash + 1 : arg;
        char *parent, *dir;

        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return -EISDIR;
        if (!slash)
                parent = strdup(".");
        else if (slash == arg)
                parent = strdup("/");
        else
                parent = strndup(arg, (size_t) (slash - arg));
        if (!parent)
                return -ENOMEM;
        dir = realpath(parent, NULL);
        free(parent);
        if (!dir)
                return negative_errno(); /* never 0: the caller reads d->name then */
        d->dir = dir;
        d->name = strdup(base);
        if (!d->name)
                return -ENOMEM;
        if (asprintf(&d->path, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", base) < 0) {
                d->path = NULL;
                return -ENOMEM;
        }
        if (asprintf(&d->wal_name, "%s-wal", base) < 0) {
                d->wal_name = NULL;
                return -ENOMEM;
        }
        return 0;
}

static void context_done(writer_context *ctx) {
        for (size_t i = 0; i < ctx->n_databases; i++) {
                database *d = &ctx->databases[i];

                database_release(d);
                free(d->path);
                free(d->dir);
                free(d->name);
                free(d->wal_name);
        }
        free(ctx->databases);
        ctx->databases = NULL;
        ctx->n_databases = 0;
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
        int r, ret = EXIT_FAILURE;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;

        if (writer_program_setup(&program) < 0)
                return EXIT_FAILURE;

        ctx.databases = calloc((size_t) (argc - optind), sizeof *ctx.databases);
        if (!ctx.databases) {
                fprintf(stderr, "lvss-writer-sqlite: out of memory\n");
                return EXIT_FAILURE;
        }
        ctx.freeze_timeout_ms = program.freeze_timeout_ms;
        ctx.freeze_stamp = program.freeze_stamp;
        for (int i = optind; i < argc; i++) {
                database *d = &ctx.databases[ctx.n_databases++];

                r = database_init(d, argv[i]);
                if (r < 0) {
                        fprintf(stderr, "lvss-writer-sqlite: cannot use database %s: %s\n", argv[i], strerror(-r));
                        ret = EXIT_USAGE;
                        goto finish;
                }
                /* The component name is the file name: it must be unique within the writer. */
                for (size_t k = 0; k + 1 < ctx.n_databases; k++)
                        /* set when database_init() returns >= 0 (clang 14 misses that negative_errno() < 0) */
                        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
                        if (strcmp(ctx.databases[k].name, d->name) == 0) {
                                fprintf(stderr, "lvss-writer-sqlite: two databases are named '%s' (%s, %s); "
                                                "run one writer instance for each\n",
                                        d->name, ctx.databases[k].path, d->path);
                                ret = EXIT_USAGE;
                                goto finish;
                        }
        }

        w = writer_program_start(&program, &sqlite_writer_id, &callbacks, &ctx);
        if (!w)
                goto finish;
        fprintf(stderr, "lvss-writer-sqlite: writer '%s'%s%s%s subscribed, %zu database%s\n", program.name,
                program.instance ? " (instance '" : "", strempty(program.instance), program.instance ? "')" : "",
                ctx.n_databases, ctx.n_databases == 1 ? "" : "s");

        ret = writer_program_run(&program, w, NULL);

finish:
        /* Never leave a database locked: thaw first, then leave lvssd. */
        if (release_all(&ctx))
                fprintf(stderr, "lvss-writer-sqlite: released the freeze lock on exit\n");
        w = vss_writer_release(w);
        context_done(&ctx);
        return ret;
}

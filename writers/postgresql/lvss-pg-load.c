/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-pg-load — a write load for testing lvss-writer-postgresql.
 *
 * `lvss-pg-load --setup CONNINFO ACK_LOG` creates its tables (idempotent) and
 * exits. `lvss-pg-load CONNINFO ACK_LOG` commits numbered transactions for
 * ever: transaction ID inserts ID into load_a and into load_b and sets the
 * counter row of load_counter to ID, all in one transaction. IDs start at
 * max(id)+1 of load_a. After the server acknowledged the COMMIT, it appends
 * "ID AT_USEC LATENCY_USEC" to ACK_LOG, flushed per line: AT_USEC is
 * CLOCK_REALTIME in microseconds taken after COMMIT returned (the id is
 * "acknowledged" at that instant), LATENCY_USEC how long the transaction took
 * from sending BEGIN to the reply to COMMIT (CLOCK_MONOTONIC).
 *
 * Before it sends BEGIN of transaction ID it also writes "ID" to
 * ACK_LOG.attempt (overwritten, not flushed to disk): the highest id ever
 * attempted, which a restored copy must never exceed.
 *
 * A lost connection or any failure: one line on stderr, exit 1. SIGTERM or
 * SIGINT end it after the current transaction (exit 0).
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "basic/util.h"
#include "writers/common/load-util.h"

/* The server's notices (a shutdown warning) are not ours to print: failures say it in one line. */
static void quiet_notices(void *arg, const char *message) {
}

static const char setup_sql[] =
        "CREATE TABLE IF NOT EXISTS load_a (id bigint PRIMARY KEY, at_usec bigint NOT NULL, payload text);"
        "CREATE TABLE IF NOT EXISTS load_b (id bigint PRIMARY KEY, a_id bigint NOT NULL);"
        "CREATE TABLE IF NOT EXISTS load_counter (k int PRIMARY KEY, last_id bigint NOT NULL);"
        "INSERT INTO load_counter VALUES (1, 0) ON CONFLICT (k) DO NOTHING;";

/* One clear line: what failed and the server's words (SQLSTATE and text). */
static int fail_result(PGconn *c, PGresult *r, const char *what) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char conn_msg[512];

        if (!msg) {
                snprintf(conn_msg, sizeof conn_msg, "%s", c ? PQerrorMessage(c) : "out of memory");
                conn_msg[strcspn(conn_msg, "\n")] = 0;
                msg = conn_msg;
        }
        if (c && PQstatus(c) == CONNECTION_BAD)
                fprintf(stderr, "lvss-pg-load: %s: lost the connection: %s\n", what, msg);
        else
                fprintf(stderr, "lvss-pg-load: %s failed: %s%s%s%s\n", what, state ? "SQLSTATE " : "", strempty(state),
                        state ? ": " : "", msg);
        PQclear(r);
        return EXIT_FAILURE;
}

static bool exec_ok(PGconn *c, const char *sql, const char *what, PGresult **ret) {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                fail_result(c, r, what);
                return false;
        }
        if (ret)
                *ret = r;
        else
                PQclear(r);
        return true;
}

static void help(void) {
        printf("Usage: lvss-pg-load [--setup] CONNINFO ACK_LOG\n\n"
               "A PostgreSQL write load for testing lvss-writer-postgresql: commits numbered\n"
               "transactions (each inserts into load_a and load_b and updates load_counter)\n"
               "until SIGTERM or SIGINT, and appends \"ID AT_USEC LATENCY_USEC\" to ACK_LOG\n"
               "after each acknowledged COMMIT.\n\n"
               "Options:\n"
               "  -h --help     Show this help\n"
               "     --setup    Create the tables (idempotent) and exit\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "setup", no_argument, NULL, 's' },
                {}
        };
        _cleanup_(freep) char *attempt_path = NULL;
        PGconn *c = NULL;
        PGresult *r = NULL;
        FILE *ack = NULL;
        bool setup = false;
        int64_t id;
        int opt, ret = EXIT_FAILURE;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case 's':
                        setup = true;
                        break;
                default:
                        return 2;
                }
        if (argc - optind != 2) {
                fprintf(stderr, "lvss-pg-load: needs CONNINFO and ACK_LOG (see --help)\n");
                return 2;
        }

        if (load_catch_signals("lvss-pg-load") < 0)
                return EXIT_FAILURE;
        signal(SIGPIPE, SIG_IGN);

        c = PQconnectdb(argv[optind]);
        if (!c || PQstatus(c) != CONNECTION_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", c ? PQerrorMessage(c) : "out of memory");
                msg[strcspn(msg, "\n")] = 0;
                fprintf(stderr, "lvss-pg-load: cannot connect: %s\n", msg);
                goto finish;
        }
        PQsetNoticeProcessor(c, quiet_notices, NULL);
        if (!exec_ok(c, "SET client_min_messages = warning", "SET", NULL))
                goto finish;
        if (setup) {
                if (exec_ok(c, setup_sql, "creating the tables", NULL))
                        ret = EXIT_SUCCESS;
                goto finish;
        }

        ack = fopen(argv[optind + 1], "ae");
        if (!ack) {
                fprintf(stderr, "lvss-pg-load: cannot open %s: %s\n", argv[optind + 1], strerror(errno));
                goto finish;
        }
        if (asprintf(&attempt_path, "%s.attempt", argv[optind + 1]) < 0) {
                attempt_path = NULL;
                fprintf(stderr, "lvss-pg-load: out of memory\n");
                goto finish;
        }
        if (!exec_ok(c, "SELECT coalesce(max(id), 0) + 1 FROM load_a", "reading max(id)", &r))
                goto finish;
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        r = NULL;

        while (!load_stop) {
                char sql[512];
                uint64_t start;
                FILE *f;

                f = fopen(attempt_path, "we");
                if (!f || fprintf(f, "%" PRId64 "\n", id) < 0 || fclose(f) != 0) {
                        fprintf(stderr, "lvss-pg-load: cannot write %s: %s\n", attempt_path, strerror(errno));
                        goto finish;
                }
                start = now_usec(CLOCK_MONOTONIC);
                /* One round trip: the statements run as one implicit transaction ending in COMMIT. */
                snprintf(sql, sizeof sql,
                         "BEGIN;"
                         "INSERT INTO load_a VALUES (%" PRId64 ", %" PRIu64 ", 'lvss-pg-load pid %d');"
                         "INSERT INTO load_b VALUES (%" PRId64 ", %" PRId64 ");"
                         "UPDATE load_counter SET last_id = %" PRId64 " WHERE k = 1;"
                         "COMMIT;",
                         id, now_usec(CLOCK_REALTIME), (int) getpid(), id, id, id);
                if (!exec_ok(c, sql, "transaction", NULL))
                        goto finish;
                if (!load_ack(ack, "lvss-pg-load", argv[optind + 1], (uint64_t) id, start))
                        goto finish;
                id++;
        }
        ret = EXIT_SUCCESS;

finish:
        PQfinish(c);
        if (ack && fclose(ack) != 0 && ret == EXIT_SUCCESS)
                ret = EXIT_FAILURE;
        return ret;
}

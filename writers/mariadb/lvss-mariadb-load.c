/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-mariadb-load — a write load for testing lvss-writer-mariadb (issue 9 part 5).
 *
 * `lvss-mariadb-load --setup [--user U] SOCKET ACK_LOG` creates the database
 * lvss_load and its two InnoDB tables (idempotent) and exits.
 *
 * `lvss-mariadb-load [--user U] SOCKET ACK_LOG` commits numbered
 * transactions for ever, ids starting at max(id)+1. Each transaction
 * inserts one row into orders and two into order_lines (more than one
 * table). After the server acknowledged the COMMIT it appends
 * "ID AT_USEC LATENCY_USEC" to ACK_LOG, flushed per line: AT_USEC is
 * CLOCK_REALTIME in µs taken after the COMMIT returned, LATENCY_USEC the
 * time from BEGIN to the COMMIT's reply. A consistent shadow copy whose
 * backup instant is T holds every id acknowledged before T, and no id
 * greater than the last one attempted (the last id written to stderr on
 * exit, or the last acknowledged + 1).
 *
 * SIGTERM or SIGINT end it after the current transaction. A lost
 * connection (or any other failure) is one line on stderr and exit 1.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/util.h"
#include "writers/common/load-util.h"

#define PROG "lvss-mariadb-load"


static int fail(MYSQL *m, const char *what) {
        unsigned err = mysql_errno(m);

        if (err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == CR_SERVER_LOST_EXTENDED)
                fprintf(stderr, PROG ": lost the connection to the server at %s: ERROR %u (%s): %s\n", what, err,
                        mysql_sqlstate(m), mysql_error(m));
        else
                fprintf(stderr, PROG ": %s: ERROR %u (%s): %s\n", what, err, mysql_sqlstate(m), mysql_error(m));
        return EXIT_FAILURE;
}

static bool query(MYSQL *m, const char *sql) {
        return mysql_real_query(m, sql, (unsigned long) strlen(sql)) == 0;
}

static void help(void) {
        printf("Usage: " PROG " [--setup] [--user USER] SOCKET ACK_LOG\n\n"
               "A write load for MariaDB (lvss tests and benchmarks): commits numbered\n"
               "transactions over two InnoDB tables of database lvss_load, and appends\n"
               "\"ID AT_USEC LATENCY_USEC\" to ACK_LOG after each acknowledged COMMIT.\n\n"
               "  -h --help       Show this help\n"
               "     --setup      Create the database and tables (idempotent), then exit\n"
               "     --user USER  Connect as USER (default: root)\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "setup", no_argument, NULL, 's' },
                { "user", required_argument, NULL, 'u' },
                {}
        };
        const char *user = "root", *sock, *ack_path;
        bool setup = false;
        MYSQL *m = NULL;
        FILE *ack = NULL;
        char sql[512];
        uint64_t id = 1;
        int c, ret = EXIT_FAILURE;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case 's':
                        setup = true;
                        break;
                case 'u':
                        user = optarg;
                        break;
                default:
                        return 2;
                }
        if (argc - optind != 2) {
                fprintf(stderr, PROG ": needs SOCKET and ACK_LOG (see --help)\n");
                return 2;
        }
        sock = argv[optind];
        ack_path = argv[optind + 1];

        if (load_catch_signals(PROG) < 0)
                return EXIT_FAILURE;

        m = mysql_init(NULL);
        if (!m) {
                fprintf(stderr, PROG ": out of memory\n");
                return EXIT_FAILURE;
        }
        if (!mysql_real_connect(m, "localhost", user, NULL, NULL, 0, sock, 0)) {
                fprintf(stderr, PROG ": cannot connect to %s as %s: ERROR %u (%s): %s\n", sock, user, mysql_errno(m),
                        mysql_sqlstate(m), mysql_error(m));
                goto finish;
        }

        if (setup) {
                static const char *const ddl[] = {
                        "CREATE DATABASE IF NOT EXISTS lvss_load",
                        "CREATE TABLE IF NOT EXISTS lvss_load.orders (id BIGINT PRIMARY KEY, at_usec BIGINT NOT NULL,"
                        " payload VARCHAR(100) NOT NULL) ENGINE=InnoDB",
                        "CREATE TABLE IF NOT EXISTS lvss_load.order_lines (order_id BIGINT NOT NULL, line INT NOT NULL,"
                        " amount INT NOT NULL, PRIMARY KEY (order_id, line)) ENGINE=InnoDB",
                };
                for (size_t i = 0; i < ELEMENTSOF(ddl); i++)
                        if (!query(m, ddl[i])) {
                                ret = fail(m, ddl[i]);
                                goto finish;
                        }
                ret = EXIT_SUCCESS;
                goto finish;
        }

        ack = fopen(ack_path, "ae");
        if (!ack) {
                fprintf(stderr, PROG ": cannot open %s: %s\n", ack_path, strerror(errno));
                goto finish;
        }

        if (!query(m, "SELECT COALESCE(MAX(id), 0) FROM lvss_load.orders")) {
                ret = fail(m, "SELECT MAX(id)");
                goto finish;
        }
        MYSQL_RES *res = mysql_store_result(m);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (!row || !row[0]) {
                mysql_free_result(res);
                ret = fail(m, "SELECT MAX(id)");
                goto finish;
        }
        id = strtoull(row[0], NULL, 10) + 1;
        mysql_free_result(res);

        for (; !load_stop; id++) {
                uint64_t begin = now_usec(CLOCK_MONOTONIC);

                if (!query(m, "START TRANSACTION")) {
                        ret = fail(m, "START TRANSACTION");
                        goto finish;
                }
                snprintf(sql, sizeof sql,
                         "INSERT INTO lvss_load.orders (id, at_usec, payload) VALUES (%" PRIu64 ", %" PRIu64
                         ", 'order %" PRIu64 " of " PROG "')",
                         id, now_usec(CLOCK_REALTIME), id);
                if (!query(m, sql)) {
                        ret = fail(m, "INSERT INTO orders");
                        goto finish;
                }
                snprintf(sql, sizeof sql,
                         "INSERT INTO lvss_load.order_lines (order_id, line, amount)"
                         " VALUES (%" PRIu64 ", 1, %u), (%" PRIu64 ", 2, %u)",
                         id, (unsigned) (id % 1000), id, (unsigned) (id % 997));
                if (!query(m, sql)) {
                        ret = fail(m, "INSERT INTO order_lines");
                        goto finish;
                }
                if (!query(m, "COMMIT")) {
                        snprintf(sql, sizeof sql, "COMMIT of transaction %" PRIu64 " (not acknowledged)", id);
                        ret = fail(m, sql);
                        goto finish;
                }
                if (!load_ack(ack, PROG, ack_path, id, begin))
                        goto finish;
        }
        ret = EXIT_SUCCESS;

finish:
        mysql_close(m);
        if (ack && fclose(ack) != 0 && ret == EXIT_SUCCESS)
                ret = EXIT_FAILURE;
        return ret;
}

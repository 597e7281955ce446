/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-sqlite-load — a write load for testing lvss-writer-sqlite.
 *
 * `lvss-sqlite-load DATABASE ACK_LOG` inserts rows into table t of
 * DATABASE (WAL mode), one transaction per row, for ever. After each COMMIT
 * has returned it appends "ID AT_USEC" to ACK_LOG, AT_USEC being
 * CLOCK_REALTIME in microseconds taken after the commit returned: a row is
 * "acknowledged" at that instant. A consistent shadow copy taken with a
 * freeze at time F must hold every row acknowledged before F (the demo and
 * the tests check exactly that).
 *
 * busy_timeout is 60 s, so the load simply waits while a writer holds the
 * database frozen. SIGTERM or SIGINT end it after the current row.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "basic/util.h"
#include "writers/common/load-util.h"

static int fail(sqlite3 *db, const char *what) {
        fprintf(stderr, "lvss-sqlite-load: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
        return EXIT_FAILURE;
}

int main(int argc, char *argv[]) {
        sqlite3 *db = NULL;
        sqlite3_stmt *insert = NULL;
        FILE *ack = NULL;
        char payload[128];
        int rc, ret = EXIT_FAILURE;
        uint64_t n = 0;

        if (argc != 3) {
                fprintf(stderr, "Usage: lvss-sqlite-load DATABASE ACK_LOG\n");
                return 2;
        }

        if (load_catch_signals("lvss-sqlite-load") < 0)
                return EXIT_FAILURE;

        ack = fopen(argv[2], "ae");
        if (!ack) {
                fprintf(stderr, "lvss-sqlite-load: cannot open %s: %s\n", argv[2], strerror(errno));
                return EXIT_FAILURE;
        }

        rc = sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (rc != SQLITE_OK) {
                ret = fail(db, argv[1]);
                goto finish;
        }
        sqlite3_busy_timeout(db, 60000);
        if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
                ret = fail(db, "PRAGMA journal_mode=WAL");
                goto finish;
        }
        if (sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT, at_usec INTEGER)",
                         NULL, NULL, NULL) != SQLITE_OK) {
                ret = fail(db, "CREATE TABLE");
                goto finish;
        }
        if (sqlite3_prepare_v2(db, "INSERT INTO t (payload, at_usec) VALUES (?, ?)", -1, &insert, NULL) !=
            SQLITE_OK) {
                ret = fail(db, "INSERT");
                goto finish;
        }

        while (!load_stop) {
                sqlite3_int64 id;
                uint64_t at;

                /* IMMEDIATE: wait for the write lock up front, in the busy handler (a freeze). */
                if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
                        ret = fail(db, "BEGIN IMMEDIATE");
                        goto finish;
                }
                snprintf(payload, sizeof payload, "row %" PRIu64 " of lvss-sqlite-load, pid %d", n, (int) getpid());
                sqlite3_bind_text(insert, 1, payload, -1, SQLITE_STATIC);
                sqlite3_bind_int64(insert, 2, (sqlite3_int64) now_usec(CLOCK_REALTIME));
                rc = sqlite3_step(insert);
                sqlite3_reset(insert);
                if (rc != SQLITE_DONE) {
                        ret = fail(db, "INSERT");
                        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                        goto finish;
                }
                id = sqlite3_last_insert_rowid(db);
                if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
                        ret = fail(db, "COMMIT");
                        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                        goto finish;
                }
                at = now_usec(CLOCK_REALTIME);
                if (fprintf(ack, "%lld %" PRIu64 "\n", (long long) id, at) < 0 || fflush(ack) != 0) {
                        fprintf(stderr, "lvss-sqlite-load: cannot write %s: %s\n", argv[2], strerror(errno));
                        goto finish;
                }
                n++;
        }
        ret = EXIT_SUCCESS;

finish:
        sqlite3_finalize(insert);
        sqlite3_close_v2(db);
        if (ack && fclose(ack) != 0 && ret == EXIT_SUCCESS)
                ret = EXIT_FAILURE;
        return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §5 "batch the catalog history rows": lvssd writes the writer-status
 * history (one row per writer per event, the catalog's writer_status table)
 * on its catalog thread without anyone waiting, a fan-out's rows in one
 * transaction, and history jobs queued one after another in one transaction
 * (not synced on their own: nothing recovers from them). None of that may
 * lose a row:
 *
 *   - test_rows_after_clean_stop: N writers through a whole backup session
 *     (PrepareForBackup … BackupComplete, the final GatherWriterStatus,
 *     Release's BackupShutdown); lvssd stopped with SIGTERM right after the session;
 *     the catalog then has, for each event of the sequence, exactly N rows
 *     for the session, one per writer, all ok.
 *   - test_rows_after_kill: the same with SIGKILL instead, once the session's
 *     own end row (queued after its history) is in the catalog: every history
 *     row is there too (kill -9 semantics as before: what the catalog thread
 *     committed survives lvssd, synced or not).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define N_WRITERS 8

/* Every event a writer gets in a backup session after Identify, in order (each answered
 * ok). Identify's answers make the session's status entries; lvssd has never written a
 * history row for them (session_identify_record()). */
static const vss_writer_event sequence[] = {
        VSS_EVENT_PREPARE_BACKUP, VSS_EVENT_PREPARE_SNAPSHOT, VSS_EVENT_FREEZE,          VSS_EVENT_THAW,
        VSS_EVENT_POST_SNAPSHOT,  VSS_EVENT_BACKUP_COMPLETE,  VSS_EVENT_BACKUP_SHUTDOWN,
};

/* A whole backup session with every writer; returns its id once its catalog row says it ended. */
static vss_id backup_session(itest_env *env, itest_writer *const *ws, size_t n) {
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc), snap;
        itest_statuses st = {};
        char *reason = NULL, *end;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, &snap);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_backup_complete);
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, ws, n);
        for (size_t i = 0; i < n; i++)
                CHECK_STATUS(&st, ws[i], VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);

        end = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 30000));
        CHECK(end && strcmp(end, "completed") == 0, "the session ended as '%s' (%s)", end ? end : "?",
              reason ? reason : "");
        free(end);
        free(reason);
        return sid;
}

/* The history of session @sid: per event, N rows, N distinct writers, all ok; nothing else. */
static void check_history(itest_env *env, const vss_id *sid, itest_writer *const *ws, size_t n) {
        char sql[512], want[1024] = "";
        size_t len = 0;
        char *got;

        for (size_t i = 0; i < sizeof sequence / sizeof sequence[0]; i++)
                len += (size_t) snprintf(want + len, sizeof want - len, "%s%s %zu rows, %zu writers, %zu ok",
                                         i ? "\n" : "", vss_writer_event_name(sequence[i]), n, n, n);
        snprintf(sql, sizeof sql,
                 "SELECT event || ' ' || count(*) || ' rows, ' || count(DISTINCT instance_id) || ' writers, ' || "
                 "sum(ok) || ' ok' FROM writer_status WHERE session_id = '%s' GROUP BY event ORDER BY min(id)",
                 itest_id_str(sid));
        got = itest_catalog_query(env, sql);
        CHECK(got, "cannot read the history from the catalog");
        /* the query says events by number: name them */
        char named[1024] = "";
        len = 0;
        for (char *line = strtok(got, "\n"); line; line = strtok(NULL, "\n")) {
                char *rest = NULL;
                unsigned long e = strtoul(line, &rest, 10);
                const char *name = vss_writer_event_name((vss_writer_event) e);
                len += (size_t) snprintf(named + len, sizeof named - len, "%s%s%s", len ? "\n" : "",
                                         name ? name : "?", rest);
        }
        free(got);
        CHECK(strcmp(named, want) == 0, "the catalog's history of the session is\n%s\nexpected\n%s", named, want);

        /* and each row names its own writer */
        for (size_t i = 0; i < n; i++) {
                snprintf(sql, sizeof sql,
                         "SELECT count(*) FROM writer_status WHERE session_id = '%s' AND instance_id = '%s' "
                         "AND writer_name = '%s'",
                         itest_id_str(sid), itest_id_str(&ws[i]->instance_id), ws[i]->name);
                got = itest_catalog_query(env, sql);
                CHECK(got && strtoul(got, NULL, 10) == sizeof sequence / sizeof sequence[0],
                      "writer '%s' has %s history rows, expected %zu", ws[i]->name, got ? got : "?",
                      sizeof sequence / sizeof sequence[0]);
                free(got);
        }
}

static void start(itest_env *env, itest_writer **ws) {
        itest_lvssd_opts opts = { .identify_timeout_ms = 20000, .event_timeout_ms = 30000 };

        itest_start_lvssd(env, &opts);
        /* under valgrind: lvssd (what this checks) and two writers; the rest natively */
        env->valgrind_writers_max = 2;
        for (size_t i = 0; i < N_WRITERS; i++) {
                char name[32];
                snprintf(name, sizeof name, "w%zu", i);
                ws[i] = WRITER(env, name);
        }
}

static void test_rows_after_clean_stop(void **state) {
        itest_env *env = *state;
        itest_writer *ws[N_WRITERS];
        itest_proc *p;
        vss_id sid;

        start(env, ws);
        sid = backup_session(env, ws, N_WRITERS);

        /* stop lvssd at once: whatever history is still queued must be written before it exits */
        p = env->lvssd;
        p->killed_by_test = true;
        p->may_die = true;
        CHECK(kill(p->pid, SIGTERM) == 0, "kill: %m");
        CHECK(itest_wait_exit(env, p, itest_ms(env, 30000)), "lvssd did not exit after SIGTERM");
        CHECK((WIFEXITED(p->wstatus) && WEXITSTATUS(p->wstatus) == 0) ||
                      (WIFSIGNALED(p->wstatus) && WTERMSIG(p->wstatus) == SIGTERM) ||
                      (p->valgrind && WIFEXITED(p->wstatus) && WEXITSTATUS(p->wstatus) == 99),
              "lvssd stopped badly on SIGTERM (status 0x%x)", (unsigned) p->wstatus);
        check_history(env, &sid, ws, N_WRITERS);
}

static void test_rows_after_kill(void **state) {
        itest_env *env = *state;
        itest_writer *ws[N_WRITERS];
        vss_id sid;

        start(env, ws);
        sid = backup_session(env, ws, N_WRITERS);
        /* the session's end row is in the catalog (backup_session waited for it): it was
         * queued after the session's last history rows, and the thread runs jobs in order */
        itest_kill_lvssd(env);
        check_history(env, &sid, ws, N_WRITERS);
}

int main(void) {
        static const struct CMUnitTest tests[] = {
                ITEST(test_rows_after_clean_stop),
                ITEST(test_rows_after_kill),
        };
        return ITEST_MAIN("test-history-rows", tests);
}

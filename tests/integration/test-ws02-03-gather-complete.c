/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-2 Where to gather: vss_gather_writer_status works at any point of the
 * requester's own session and reports that session only.
 * WS-3 Completion: a gather after a successful BackupComplete marks the
 * writers' part completed (the writer is told, the admin view shows it); a
 * session never gathered after BackupComplete stays in progress until the
 * requester object is released.
 * issue 11 §2: a session released without that gather is shown and told as
 * what happened ("released without the final GatherWriterStatus", "ended
 * without BackupComplete"; the writer: VSS_SESSION_RELEASED), never as
 * "ended" read as completed.
 */

#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 1500,
};

/* the note before each gather (CHECK_ALL_STATUS) */
#define WS02_GATHER "WS-2: gather "

/* WS-2: a gather at every point of a backup answers, with this session's ids. */
static void test_ws02_gather_at_every_point(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "a");
        itest_writer *b = WRITER(env, "b", "--instance", "b1");
        itest_writer *const ws[] = { a, b };
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);

        /* before any Identify of this session: it works and lists nobody (WS-1) */
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, NULL, 0);
        itest_statuses_free(&st);

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 2, VSS_WS_STABLE, WS02_GATHER "after GatherWriterMetadata");
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 2, VSS_WS_STABLE, WS02_GATHER "after PrepareForBackup");
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 2, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, WS02_GATHER "after DoSnapshotSet");
        STEP_OK(env, bc, vss_backup_complete);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 2, VSS_WS_STABLE, WS02_GATHER "after BackupComplete");
}

/* WS-2 (and WS-8): two sessions at once; each sees its own statuses only. */
static void test_ws02_each_session_sees_only_itself(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *f = WRITER(env, "fails-prepare", "--fail-at", "PrepareForBackup", "--fail-mode", "set",
                                 "--fail-code", "VSS_E_WRITERERROR_RETRYABLE");
        itest_writer *g = WRITER(env, "good");
        itest_writer *const ws[] = { f, g };

        vss_backup_components *bc1 = itest_requester(env, false);
        vss_id s1 = itest_session_id(bc1);
        STEP_OK(env, bc1, vss_gather_writer_metadata);
        itest_start_set(env, bc1, NULL);
        itest_step(env, bc1, vss_prepare_for_backup, "vss_prepare_for_backup (s1)", itest_step_bound(env), NULL);
        itest_gather_status(env, bc1, &st);
        itest_check_status_set(&st, &s1, ws, 2);
        CHECK_STATUS(&st, f, VSS_WS_FAILED_AT_PREPARE_BACKUP, VSS_E_WRITERERROR_RETRYABLE, VSS_S_OK, NULL);
        CHECK_STATUS(&st, g, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        vss_backup_components *bc2 = itest_requester(env, false);
        vss_id s2 = itest_session_id(bc2);
        CHECK(!vss_id_equal(&s1, &s2), "two sessions share the id %s", itest_id_str(&s1));
        STEP_OK(env, bc2, vss_gather_writer_metadata);
        itest_gather_status(env, bc2, &st);
        itest_check_status_set(&st, &s2, ws, 2);
        /* session 1's failure is not session 2's */
        CHECK_STATUS(&st, f, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        CHECK_STATUS(&st, g, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        /* and session 2's Identify did not touch session 1's status */
        itest_gather_status(env, bc1, &st);
        itest_check_status_set(&st, &s1, ws, 2);
        CHECK_STATUS(&st, f, VSS_WS_FAILED_AT_PREPARE_BACKUP, VSS_E_WRITERERROR_RETRYABLE, VSS_S_OK, NULL);
        const itest_status *e = itest_status_for(&st, f);
        CHECK(e->s.last_event == VSS_EVENT_PREPARE_BACKUP,
              "WS-2: session 1's last event for the writer is %s, expected PrepareForBackup",
              vss_writer_event_name(e->s.last_event));
        itest_statuses_free(&st);
}

static void run_to_backup_complete(itest_env *env, vss_backup_components *bc) {
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_backup_complete);
}

static void check_admin(itest_env *env, itest_writer *w, const vss_id *sid, const char *text, int active) {
        itest_admin a = { 0 };

        itest_list_writers(env, &a);
        const itest_admin_entry *e = itest_admin_for(&a, w);
        CHECK(e, "the admin view does not list %s", w->p.label);
        CHECK(vss_id_equal(&e->session_id, sid), "admin view: %s's status comes from session %s, expected %s",
              w->p.label, itest_id_str(&e->session_id), itest_id_str(sid));
        CHECK(strcmp(e->session_state, text) == 0, "admin view: %s's session is '%s', expected '%s'", w->p.label,
              e->session_state, text);
        if (active >= 0)
                CHECK(e->session_active == (active != 0), "admin view: session active is %d, expected %d",
                      e->session_active, active);
        itest_admin_free(&a);
}

/* WS-3: the gather after BackupComplete completes the session: the writer is
 * told, the admin view and the catalog say "completed". */
static void test_ws03_gather_after_backup_complete_completes(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        run_to_backup_complete(env, bc);
        itest_wait_event(env, w, "BackupComplete", &sid, "ok", itest_ms(env, 5000));

        check_admin(env, w, &sid, "in progress", 1);
        CHECK(itest_find_line(&w->p.out, "session completed", 0, SIZE_MAX) < 0,
              "WS-3: the writer's session turned completed before the gather");

        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, w, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        /* the writer is told */
        itest_wait_line_must(env, &w->p, "session completed", itest_ms(env, 5000));
        check_admin(env, w, &sid, "completed", -1);

        itest_requester_release(env, bc);
        itest_wait_event(env, w, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
        char *reason = NULL, *s = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 10000));
        CHECK(strcmp(s, "completed") == 0, "WS-3: catalog records the session as '%s' (%s), expected 'completed'", s,
              reason ? reason : "");
        free(s);
        free(reason);
}

/* WS-3: without the gather, the session stays in progress until release, and
 * is never marked completed. */
static void test_ws03_not_gathered_stays_in_progress(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        run_to_backup_complete(env, bc);
        itest_wait_event(env, w, "BackupComplete", &sid, "ok", itest_ms(env, 5000));

        check_admin(env, w, &sid, "in progress", 1);
        char *s = NULL;
        CHECK(itest_catalog_session(env, &sid, &s, NULL), "the catalog has no session %s", itest_id_str(&sid));
        CHECK(strcmp(s, "active") == 0, "WS-3: catalog says '%s' before release, expected 'active'", s);
        free(s);

        itest_requester_release(env, bc);
        itest_wait_event(env, w, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));

        char *reason = NULL;
        s = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 10000));
        CHECK(strcmp(s, "ended") == 0,
              "WS-3: a released session never gathered after BackupComplete is recorded '%s' (%s), expected 'ended'", s,
              reason ? reason : "");
        /* issue 11 §2: the record, the admin view and the writer say what happened */
        CHECK(reason && strstr(reason, "after BackupComplete, without the final GatherWriterStatus"),
              "issue 11 §2: the catalog's reason is '%s', expected it to say the final gather never came",
              reason ? reason : "");
        free(s);
        free(reason);
        itest_wait_line_must(env, &w->p, "session released", itest_ms(env, 5000));
        CHECK(itest_find_line(&w->p.out, "session completed", 0, SIZE_MAX) < 0,
              "WS-3: the writer was told 'completed' though the requester never gathered after BackupComplete");
        check_admin(env, w, &sid, "released without the final GatherWriterStatus", 0);
}

/* issue 11 §2: released after DoSnapshotSet, BackupComplete never called: the
 * admin view says "ended without BackupComplete", the writer is told
 * VSS_SESSION_RELEASED (neither completed nor aborted: no Abort went out),
 * the catalog's reason says so. */
static void test_released_without_backup_complete(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        itest_wait_event(env, w, "PostSnapshot", &sid, "ok", itest_ms(env, 5000));
        check_admin(env, w, &sid, "in progress", 1);

        itest_requester_release(env, bc);
        itest_wait_event(env, w, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
        char *reason = NULL, *s = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 10000));
        CHECK(strcmp(s, "ended") == 0, "a session released before BackupComplete is recorded '%s', expected 'ended'",
              s);
        CHECK(reason && strstr(reason, "before BackupComplete"),
              "issue 11 §2: the catalog's reason is '%s', expected it to say BackupComplete never came",
              reason ? reason : "");
        free(s);
        free(reason);
        itest_wait_line_must(env, &w->p, "session released", itest_ms(env, 5000));
        CHECK(itest_find_line(&w->p.out, "session completed", 0, SIZE_MAX) < 0 &&
                      itest_find_line(&w->p.out, "session aborted", 0, SIZE_MAX) < 0,
              "issue 11 §2: the writer was told completed or aborted for a session released before BackupComplete");
        CHECK(itest_find_line(&w->p.out, "event Abort", 0, SIZE_MAX) < 0, "no Abort goes out at a release");
        check_admin(env, w, &sid, "ended without BackupComplete", 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws02_gather_at_every_point),
                ITEST(test_ws02_each_session_sees_only_itself),
                ITEST(test_ws03_gather_after_backup_complete_completes),
                ITEST(test_ws03_not_gathered_stays_in_progress),
                ITEST(test_released_without_backup_complete),
        };
        return ITEST_MAIN("WS-2 WS-3 gather and completion", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-7 Veto. A failure at PrepareForSnapshot or Freeze by a participating
 * writer vetoes the set: every participating writer that got
 * PrepareForSnapshot receives Abort, frozen writers are released, no shadow
 * copy is left, and vss_do_snapshot_set completes with the vetoing writer's
 * failure code. A failure at Thaw or PostSnapshot does not veto: the set is
 * kept, the failing writer's status says so, and a Thaw failure sends that
 * writer Abort. Abort is never sent after a writer has finished PostSnapshot.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 1500,
};

static bool cond_no_shadow(itest_env *env, void *userdata) {
        return itest_shadow_dir_count(env) == 0 && itest_catalog_snapshot_count(env, userdata) == 0;
}

static void check_no_shadow_left(itest_env *env, const vss_id *sid) {
        CHECK(itest_wait_state(env, cond_no_shadow, (void *) sid, itest_ms(env, 10000)),
              "WS-7: %d shadow copy dir(s) under %s/shadows and %d catalog row(s) left after a vetoed set",
              itest_shadow_dir_count(env), env->state_dir, itest_catalog_snapshot_count(env, sid));
}

/* No event of the snapshot sequence after @from, in the writer's output so far. */
static void check_no_event_after(itest_writer *w, const char *event, const vss_id *sid, size_t from, const char *why) {
        ssize_t i = itest_find_event(w, event, sid, NULL, from, SIZE_MAX);
        if (i >= 0) {
                itest_dump_stream(w->p.label, &w->p.out);
                FAIL("WS-7: %s got %s (line %zd): %s", w->p.label, event, i, why);
        }
}

static vss_backup_components *prepared(itest_env *env, bool select, vss_id *ret_sid, vss_id *ret_snap) {
        vss_backup_components *bc = itest_requester(env, select);
        *ret_sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        return bc;
}

/* WS-7: a veto at PrepareForSnapshot. */
static void test_ws07_veto_at_prepare_snapshot(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "vetoes", "--fail-at", "PrepareForSnapshot", "--fail-code",
                                 "VSS_E_WRITERERROR_RETRYABLE", "--app-message", "busy");
        itest_writer *g1 = WRITER(env, "good1");
        itest_writer *g2 = WRITER(env, "good2");
        itest_writer *const all[] = { v, g1, g2 };

        vss_backup_components *bc = prepared(env, false, &sid, NULL);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK_HR(hr, VSS_E_WRITERERROR_RETRYABLE, "WS-7: DoSnapshotSet vetoed at PrepareForSnapshot");

        for (size_t i = 0; i < 3; i++) {
                size_t ps = itest_wait_event(env, all[i], "PrepareForSnapshot", &sid, "begin", itest_ms(env, 5000));
                itest_wait_event(env, all[i], "Abort", &sid, "ok", itest_ms(env, 5000));
                check_no_event_after(all[i], "Freeze", &sid, ps, "Freeze after a veto at PrepareForSnapshot");
                check_no_event_after(all[i], "Thaw", &sid, ps, "Thaw after a veto at PrepareForSnapshot");
                check_no_event_after(all[i], "PostSnapshot", &sid, ps, "PostSnapshot after a veto");
        }

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, all, 3);
        CHECK_STATUS(&st, v, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, VSS_E_WRITERERROR_RETRYABLE, VSS_S_OK, "busy");
        CHECK_STATUS(&st, g1, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        CHECK_STATUS(&st, g2, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        check_no_shadow_left(env, &sid);
}

/* WS-7: a veto at Freeze: the writers already frozen are released by Abort. */
static void test_ws07_veto_at_freeze(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "vetoes", "--fail-at", "Freeze", "--fail-mode", "return", "--freeze-timeout",
                                 "10000");
        itest_writer *g = WRITER(env, "good", "--freeze-timeout", "10000");
        itest_writer *const all[] = { v, g };

        vss_backup_components *bc = prepared(env, false, &sid, NULL);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK_HR(hr, VSS_E_WRITERERROR_NONRETRYABLE, "WS-7: DoSnapshotSet vetoed at Freeze (handler returned false)");

        size_t gf = itest_wait_event(env, g, "Freeze", &sid, "ok", itest_ms(env, 5000));
        itest_wait_event(env, g, "Abort", &sid, "ok", itest_ms(env, 5000)); /* after Freeze: released */
        itest_wait_event(env, v, "Freeze", &sid, "fail", itest_ms(env, 5000));
        itest_wait_event(env, v, "Abort", &sid, "ok", itest_ms(env, 5000));
        check_no_event_after(g, "PostSnapshot", &sid, gf, "PostSnapshot after a veto at Freeze");
        check_no_event_after(v, "PostSnapshot", &sid, 0, "PostSnapshot after a veto at Freeze");

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, all, 2);
        CHECK_STATUS(&st, v, VSS_WS_FAILED_AT_FREEZE, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK, NULL);
        CHECK_STATUS(&st, g, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        check_no_shadow_left(env, &sid);
}

static void check_snapshot_readable(itest_env *env, vss_backup_components *bc, const vss_id *snap) {
        vss_snapshot_prop p = { .size = sizeof(vss_snapshot_prop) };
        CHECK_HR(vss_get_snapshot_properties(bc, snap, &p), VSS_S_OK, "vss_get_snapshot_properties");
        CHECK(p.snapshot_path, "no snapshot path");
        char *orig = NULL, *copy = NULL;
        CHECK(asprintf(&orig, "%s/a.txt", env->data_dir) > 0 && asprintf(&copy, "%s/a.txt", p.snapshot_path) > 0, "x");
        char *a = itest_read_file(orig), *b = itest_read_file(copy);
        CHECK(a && b && strcmp(a, b) == 0, "WS-7: the kept shadow copy at %s does not hold the data (%s)",
              p.snapshot_path, b ? b : "missing");
        free(a);
        free(b);
        free(orig);
        free(copy);
        vss_free_snapshot_properties(&p);
}

/* WS-7: a failure at Thaw does not veto; that writer gets Abort, nobody else. */
static void test_ws07_thaw_failure_keeps_set(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        vss_id sid, snap;

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "fails-thaw", "--fail-at", "Thaw", "--fail-mode", "set", "--fail-code",
                                 "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT");
        itest_writer *g = WRITER(env, "good");
        itest_writer *const all[] = { v, g };

        vss_backup_components *bc = prepared(env, false, &sid, NULL);
        itest_start_set(env, bc, &snap);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL), VSS_S_OK,
                 "WS-7: a Thaw failure must not veto the set");

        size_t tf = itest_wait_event(env, v, "Thaw", &sid, "fail", itest_ms(env, 5000));
        size_t ab = itest_wait_event(env, v, "Abort", &sid, "ok", itest_ms(env, 5000));
        CHECK(ab > tf, "Abort before the Thaw failure");

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, all, 2);
        CHECK_STATUS(&st, v, VSS_WS_FAILED_AT_THAW, VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, VSS_S_OK, NULL);
        CHECK_STATUS(&st, g, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        CHECK(itest_shadow_dir_count(env) == 1, "WS-7: %d shadow copies after a set kept despite a Thaw failure",
              itest_shadow_dir_count(env));
        check_snapshot_readable(env, bc, &snap);

        itest_requester_release(env, bc);
        itest_wait_event(env, g, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
        itest_wait_event(env, v, "BackupShutdown", &sid, NULL, itest_ms(env, 5000));
        CHECK(itest_count_events(g, "Abort", NULL, NULL) == 0, "WS-7: a writer that thawed fine got Abort");
        /* Abort never after a finished PostSnapshot */
        ssize_t ps = itest_find_event(v, "PostSnapshot", &sid, "ok", 0, SIZE_MAX);
        if (ps >= 0)
                check_no_event_after(v, "Abort", &sid, (size_t) ps, "Abort after PostSnapshot finished");
}

/* WS-7: a failure at PostSnapshot does not veto, and no writer ever gets
 * Abort after PostSnapshot, not even from vss_abort_backup. */
static void test_ws07_post_snapshot_failure_keeps_set(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        vss_id sid, snap;

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "fails-post-snapshot", "--fail-at", "PostSnapshot", "--fail-mode", "set",
                                 "--fail-code", "VSS_E_WRITERERROR_RETRYABLE");
        itest_writer *g = WRITER(env, "good");
        itest_writer *const all[] = { v, g };

        vss_backup_components *bc = prepared(env, false, &sid, NULL);
        itest_start_set(env, bc, &snap);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL), VSS_S_OK,
                 "WS-7: a PostSnapshot failure must not veto the set");
        itest_wait_event(env, v, "PostSnapshot", &sid, "fail", itest_ms(env, 5000));

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, all, 2);
        CHECK_STATUS(&st, v, VSS_WS_FAILED_AT_POST_SNAPSHOT, VSS_E_WRITERERROR_RETRYABLE, VSS_S_OK, NULL);
        CHECK_STATUS(&st, g, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        CHECK(itest_shadow_dir_count(env) == 1, "WS-7: %d shadow copies after a kept set", itest_shadow_dir_count(env));
        check_snapshot_readable(env, bc, &snap);

        vss_hresult hr = vss_abort_backup(bc);
        itest_note("vss_abort_backup after PostSnapshot: %s", itest_hr_str(hr));
        itest_requester_release(env, bc);
        itest_wait_event(env, g, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
        itest_wait_event(env, v, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
        CHECK(itest_count_events(g, "Abort", NULL, NULL) == 0, "WS-7: Abort sent after PostSnapshot finished (good)");
        CHECK(itest_count_events(v, "Abort", NULL, NULL) == 0,
              "WS-7: Abort sent after PostSnapshot finished (failing writer)");
}

/* WS-7 (participation): in component mode a writer without a selected
 * component gets nothing of the snapshot sequence, not even the veto's Abort. */
static void test_ws07_veto_spares_non_participants(void **state) {
        itest_env *env = *state;
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "vetoes", "--fail-at", "Freeze", "--fail-code", "VSS_E_WRITERERROR_TIMEOUT");
        itest_writer *n = WRITER(env, "not-selected");

        vss_backup_components *bc = prepared(env, true, &sid, NULL);
        CHECK_HR(vss_add_component(bc, &v->instance_id, &v->writer_id, VSS_CT_FILEGROUP, "", "data"), VSS_S_OK,
                 "vss_add_component");
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK_HR(hr, VSS_E_WRITERERROR_TIMEOUT, "WS-7: DoSnapshotSet vetoed at Freeze");
        itest_wait_event(env, v, "Abort", &sid, "ok", itest_ms(env, 5000));

        size_t pb = itest_wait_event(env, n, "PrepareForBackup", &sid, "ok", itest_ms(env, 5000));
        itest_requester_release(env, bc);
        itest_wait_event(env, n, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
        check_no_event_after(n, "PrepareForSnapshot", &sid, pb, "a non-participating writer");
        check_no_event_after(n, "Freeze", &sid, pb, "a non-participating writer");
        check_no_event_after(n, "Abort", &sid, pb, "a non-participating writer");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws07_veto_at_prepare_snapshot),
                ITEST(test_ws07_veto_at_freeze),
                ITEST(test_ws07_thaw_failure_keeps_set),
                ITEST(test_ws07_post_snapshot_failure_keeps_set),
                ITEST(test_ws07_veto_spares_non_participants),
        };
        return ITEST_MAIN("WS-7 veto", tests);
}

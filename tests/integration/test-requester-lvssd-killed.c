/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 "What is left" item 6: a vss_backup_components released in the
 * same process after its lvssd was SIGKILLed. Every other crash test runs its
 * requester in a child process; here the requester is the test process itself,
 * so a heap error in liblvss's requester (src/requester/backup.c) shows up in
 * this process, under ASan (make check-asan) and plainly (glibc aborts on a
 * corrupted heap). The cases: an idle object with the writers' metadata kept,
 * an object with a step running (its handle released before and after the
 * object), and an object used for a failing call first. Each call after the
 * kill must fail with a VSS error and the release must return.
 */

#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

/* The writer's line that says it is inside @event now (it hangs there). */
static void wait_writer_inside(itest_env *env, itest_writer *w, const char *event) {
        itest_wait_event(env, w, event, NULL, "hang", itest_ms(env, 10000));
}

/* Issue 11 item 6: idle object holding the writers' metadata, lvssd SIGKILLed, then release. */
static void test_release_idle_after_kill(void **state) {
        itest_env *env = *state;
        unsigned n = 0;

        itest_start_lvssd(env, &opts);
        WRITER(env, "w1");
        WRITER(env, "w2");
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_get_writer_metadata_count(bc, &n), VSS_S_OK, "vss_get_writer_metadata_count");
        CHECK(n == 2, "2 writers' metadata expected, got %u", n);

        itest_kill_lvssd(env);

        /* The kept metadata is still there; the release returns. */
        CHECK_HR(vss_get_writer_metadata_count(bc, &n), VSS_S_OK, "vss_get_writer_metadata_count after the kill");
        itest_requester_release(env, bc);
}

/* Issue 11 item 6: a call after the kill fails with a VSS error, then the release. */
static void test_call_then_release_after_kill(void **state) {
        itest_env *env = *state;
        vss_async *a = NULL;

        itest_start_lvssd(env, &opts);
        WRITER(env, "w1");
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);

        itest_kill_lvssd(env);

        vss_hresult hr = vss_gather_writer_status(bc, &a);
        CHECK(VSS_FAILED(hr), "GatherWriterStatus to a killed lvssd: %s, expected a failure", itest_hr_str(hr));
        CHECK(!a, "a failed call handed out a vss_async");
        hr = vss_prepare_for_backup(bc, &a);
        CHECK(VSS_FAILED(hr), "PrepareForBackup to a killed lvssd: %s, expected a failure", itest_hr_str(hr));
        itest_requester_release(env, bc);
}

/* Start PrepareForBackup with @w hanging in it; returns its handle once @w is inside. */
static vss_async *start_hanging_prepare(itest_env *env, vss_backup_components *bc, itest_writer *w) {
        vss_async *a = NULL;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        CHECK_HR(vss_prepare_for_backup(bc, &a), VSS_S_OK, "vss_prepare_for_backup");
        CHECK(a, "no vss_async");
        wait_writer_inside(env, w, "PrepareForBackup");
        return a;
}

/* Issue 11 item 6: a step running when lvssd is killed; the object is released first, its handle after. */
static void test_release_pending_after_kill(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "hang", "--hang-at", "PrepareForBackup");
        vss_backup_components *bc = itest_requester(env, false);
        vss_async *a = start_hanging_prepare(env, bc, w);

        itest_kill_lvssd(env);

        itest_requester_release(env, bc);
        /* The handle outlives the object and answers from what it stored: the step failed. */
        vss_hresult st = VSS_S_OK;
        CHECK_HR(vss_async_query_status(a, &st), VSS_S_OK, "vss_async_query_status after the release");
        CHECK(VSS_FAILED(st), "the step cut off by the kill reads %s, expected a failure", itest_hr_str(st));
        vss_async_release(a);
}

/* Issue 11 item 6: the same, waiting on the step first, then releasing the handle, then the object. */
static void test_wait_then_release_after_kill(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "hang", "--hang-at", "PrepareForBackup");
        vss_backup_components *bc = itest_requester(env, false);
        vss_async *a = start_hanging_prepare(env, bc, w);

        itest_kill_lvssd(env);

        vss_hresult hr = vss_async_wait(a, itest_ms(env, 10000));
        CHECK(VSS_FAILED(hr) && hr != VSS_S_ASYNC_PENDING, "waiting on the step after the kill: %s, expected a failure",
              itest_hr_str(hr));
        vss_async_release(a);
        itest_requester_release(env, bc);
}

/* A persistent set through DoSnapshotSet; with @hang_freeze the writer hangs in Freeze and the step is still
 * running when this returns. Returns the DoSnapshotSet handle (finished unless @hang_freeze). */
static vss_async *persistent_set(itest_env *env, vss_backup_components *bc, itest_writer *w, bool hang_freeze) {
        vss_async *a = NULL;

        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
        if (hang_freeze)
                wait_writer_inside(env, w, "Freeze");
        else
                CHECK_HR(vss_async_wait(a, itest_step_bound(env)), VSS_S_OK, "DoSnapshotSet");
        return a;
}

/* Issue 11 item 6, as test-catalog-thread's requester: a persistent set made, lvssd SIGKILLed and started
 * again on the same state, then the old object released (its handle first). */
static void test_release_after_set_and_restart(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        vss_backup_components *bc = itest_requester(env, false);
        vss_async *a = persistent_set(env, bc, w, false);

        itest_kill_lvssd(env);
        itest_restart_lvssd(env, NULL);

        vss_async_release(a);
        itest_requester_release(env, bc);
}

/* Issue 11 item 6: DoSnapshotSet running (the writer hangs in Freeze) when lvssd is SIGKILLed; the object
 * released while its handle is held. */
static void test_release_during_set_after_kill(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "hang", "--hang-at", "Freeze");
        vss_backup_components *bc = itest_requester(env, false);
        vss_async *a = persistent_set(env, bc, w, true);

        itest_kill_lvssd(env);

        itest_requester_release(env, bc);
        vss_hresult st = VSS_S_OK;
        CHECK_HR(vss_async_query_status(a, &st), VSS_S_OK, "vss_async_query_status after the release");
        CHECK(VSS_FAILED(st), "DoSnapshotSet cut off by the kill reads %s, expected a failure", itest_hr_str(st));
        vss_async_release(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_release_idle_after_kill),
                ITEST(test_call_then_release_after_kill),
                ITEST(test_release_pending_after_kill),
                ITEST(test_wait_then_release_after_kill),
                ITEST(test_release_after_set_and_restart),
                ITEST(test_release_during_set_after_kill),
        };
        return ITEST_MAIN("requester-lvssd-killed", tests);
}

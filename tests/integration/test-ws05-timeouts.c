/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-5 Timeouts and the dead. Every event has a reply deadline (here: events
 * 1.5 s, Freeze = the writer's freeze timeout, 2 s). A writer that misses it,
 * or whose connection drops while the event is outstanding, gets
 * VSS_WS_FAILED_AT_<E> with failure VSS_E_WRITER_NOT_RESPONDING, and no call
 * of the requester waits on it longer than that deadline (checked with a
 * generous margin). Identify is covered by test-ws01-identify.
 *
 * Most of this test's time is those deadlines waited out, so under valgrind
 * they are scaled by at most 3 (itest_cap_deadlines), not by the whole
 * factor: 4.5 s and 6 s, still far above an event's round trip there. The
 * margins of the checks keep the whole factor.
 */

#include <inttypes.h>
#include <string.h>

#include "harness.h"

#define EVENT_TIMEOUT_MS 1500
#define FREEZE_TIMEOUT_MS "2000"
#define FREEZE_TIMEOUT 2000
#define DEADLINE_FACTOR_MAX 3

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = EVENT_TIMEOUT_MS,
};

typedef enum how_t {
        HANG,
        CRASH,
} how_t;

static const struct {
        const char *event;
        vss_writer_state failed;
} events[] = {
        { "PrepareForBackup", VSS_WS_FAILED_AT_PREPARE_BACKUP },
        { "PrepareForSnapshot", VSS_WS_FAILED_AT_PREPARE_SNAPSHOT },
        { "Freeze", VSS_WS_FAILED_AT_FREEZE },
        { "Thaw", VSS_WS_FAILED_AT_THAW },
        { "PostSnapshot", VSS_WS_FAILED_AT_POST_SNAPSHOT },
        { "BackupComplete", VSS_WS_FAILED_AT_BACKUP_COMPLETE },
};

/*
 * The call may wait on the silent writer for its deadline, plus a margin for
 * scheduling (1 s + a quarter of the deadline, scaled) - not for a second
 * deadline spent waiting on the same writer (e.g. for its reply to an Abort
 * sent after it already missed the event's deadline): "no call of the
 * requester ever waits on a writer longer than that deadline".
 */
static void check_bound(itest_env *env, const char *what, uint64_t elapsed_ms, unsigned deadline_ms) {
        unsigned bound = deadline_ms + itest_ms(env, 1000) + deadline_ms / 4;
        CHECK(elapsed_ms <= bound, "WS-5: %s took %" PRIu64 " ms; the writer's deadline is %u ms (bound %u ms)", what,
              elapsed_ms, deadline_ms, bound);
}

static void unresponsive_at(itest_env *env, size_t k, how_t how) {
        const char *event = events[k].event;
        bool in_snapshot = strcmp(event, "PrepareForSnapshot") == 0 || strcmp(event, "Freeze") == 0 ||
                           strcmp(event, "Thaw") == 0 || strcmp(event, "PostSnapshot") == 0;
        bool veto = strcmp(event, "PrepareForSnapshot") == 0 || strcmp(event, "Freeze") == 0;
        bool complete = strcmp(event, "BackupComplete") == 0;
        itest_statuses st = { 0 };
        uint64_t elapsed;
        vss_hresult hr;

        itest_cap_deadlines(env, DEADLINE_FACTOR_MAX);
        unsigned deadline = itest_deadline_ms(env, strcmp(event, "Freeze") == 0 ? FREEZE_TIMEOUT : EVENT_TIMEOUT_MS);
        itest_start_lvssd(env, &opts);
        itest_writer *bad = WRITER(env, how == HANG ? "hangs" : "dies", how == HANG ? "--hang-at" : "--crash-at",
                                   event, "--freeze-timeout", FREEZE_TIMEOUT_MS);
        itest_writer *good = WRITER(env, "good", "--freeze-timeout", FREEZE_TIMEOUT_MS);
        itest_writer *const ws[] = { bad, good };

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);

        hr = itest_step(env, bc, vss_prepare_for_backup, "vss_prepare_for_backup",
                        deadline + itest_margin_ms(env) + itest_ms(env, 10000), &elapsed);
        if (strcmp(event, "PrepareForBackup") == 0)
                check_bound(env, "PrepareForBackup", elapsed, deadline);
        else
                CHECK_HR(hr, VSS_S_OK, "PrepareForBackup");

        if (in_snapshot || complete) {
                hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set",
                                deadline + itest_margin_ms(env) + itest_ms(env, 10000), &elapsed);
                if (in_snapshot)
                        check_bound(env, "DoSnapshotSet", elapsed, deadline);
                if (veto)
                        CHECK_HR(hr, VSS_E_WRITER_NOT_RESPONDING,
                                 "WS-5/WS-7: DoSnapshotSet vetoed by a writer not responding at %s", event);
                else
                        CHECK_HR(hr, VSS_S_OK, "WS-7: DoSnapshotSet with a writer not responding at %s", event);
        }
        if (complete) {
                hr = itest_step(env, bc, vss_backup_complete, "vss_backup_complete",
                                deadline + itest_margin_ms(env) + itest_ms(env, 10000), &elapsed);
                check_bound(env, "BackupComplete", elapsed, deadline);
        }

        /* the writer did get the event, and hung or died in it */
        itest_wait_event(env, bad, event, &sid, how == HANG ? "hang" : "crash", itest_ms(env, 5000));
        if (how == CRASH)
                CHECK(itest_wait_exit(env, &bad->p, itest_ms(env, 5000)), "the crashing writer is still alive");

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, ws, 2);
        CHECK_STATUS(&st, bad, events[k].failed, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        if (!veto) {
                vss_writer_state g = VSS_WS_STABLE;
                if (in_snapshot)
                        g = VSS_WS_WAITING_FOR_BACKUP_COMPLETE;
                CHECK_STATUS(&st, good, g, VSS_S_OK, VSS_S_OK, NULL);
        }
        itest_statuses_free(&st);

        /* releasing the object (BackupShutdown) does not wait on the silent writer either */
        uint64_t t0 = itest_now_mono_usec();
        itest_requester_release(env, bc);
        check_bound(env, "release (BackupShutdown)", (itest_now_mono_usec() - t0) / 1000,
                    itest_deadline_ms(env, EVENT_TIMEOUT_MS));
        itest_wait_event(env, good, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));
}

static void test_ws05_hang_at_prepare_backup(void **state) { unresponsive_at(*state, 0, HANG); }
static void test_ws05_hang_at_prepare_snapshot(void **state) { unresponsive_at(*state, 1, HANG); }
static void test_ws05_hang_at_freeze(void **state) { unresponsive_at(*state, 2, HANG); }
static void test_ws05_hang_at_thaw(void **state) { unresponsive_at(*state, 3, HANG); }
static void test_ws05_hang_at_post_snapshot(void **state) { unresponsive_at(*state, 4, HANG); }
static void test_ws05_hang_at_backup_complete(void **state) { unresponsive_at(*state, 5, HANG); }
static void test_ws05_crash_at_prepare_backup(void **state) { unresponsive_at(*state, 0, CRASH); }
static void test_ws05_crash_at_prepare_snapshot(void **state) { unresponsive_at(*state, 1, CRASH); }
static void test_ws05_crash_at_freeze(void **state) { unresponsive_at(*state, 2, CRASH); }
static void test_ws05_crash_at_thaw(void **state) { unresponsive_at(*state, 3, CRASH); }
static void test_ws05_crash_at_post_snapshot(void **state) { unresponsive_at(*state, 4, CRASH); }
static void test_ws05_crash_at_backup_complete(void **state) { unresponsive_at(*state, 5, CRASH); }

/* WS-5: a reply that comes after the deadline does not change the verdict. */
static void test_ws05_late_reply_stays_not_responding(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        itest_admin a = { 0 };
        uint64_t elapsed;

        itest_cap_deadlines(env, DEADLINE_FACTOR_MAX);
        itest_start_lvssd(env, &opts);
        itest_writer *late = WRITER(env, "late", "--hang-at", "PrepareForBackup", "--hang-ms", "3500");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        itest_step(env, bc, vss_prepare_for_backup, "vss_prepare_for_backup", itest_step_bound(env), &elapsed);
        check_bound(env, "PrepareForBackup", elapsed, itest_deadline_ms(env, EVENT_TIMEOUT_MS));

        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, late, VSS_WS_FAILED_AT_PREPARE_BACKUP, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        /* the handler finishes late and replies ... */
        itest_wait_event(env, late, "PrepareForBackup", &sid, "ok", itest_ms(env, 10000));
        /* ... and a round trip through the same writer connection (ListWriters'
         * Identify) guarantees lvssd has read that late reply */
        itest_list_writers(env, &a);
        itest_admin_free(&a);

        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, late, VSS_WS_FAILED_AT_PREPARE_BACKUP, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws05_hang_at_prepare_backup),
                ITEST(test_ws05_hang_at_prepare_snapshot),
                ITEST(test_ws05_hang_at_freeze),
                ITEST(test_ws05_hang_at_thaw),
                ITEST(test_ws05_hang_at_post_snapshot),
                ITEST(test_ws05_hang_at_backup_complete),
                ITEST(test_ws05_crash_at_prepare_backup),
                ITEST(test_ws05_crash_at_prepare_snapshot),
                ITEST(test_ws05_crash_at_freeze),
                ITEST(test_ws05_crash_at_thaw),
                ITEST(test_ws05_crash_at_post_snapshot),
                ITEST(test_ws05_crash_at_backup_complete),
                ITEST(test_ws05_late_reply_stays_not_responding),
        };
        return ITEST_MAIN("WS-5 timeouts and the dead", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-8 No stale answers inside a session. A new session starts every writer
 * at VSS_WS_STABLE with no failure: the failure of an earlier snapshot set or
 * of an earlier backup is not reported in it (the seed's stale conditions).
 * A writer still busy with an event shows the waiting state of that event
 * with event_in_progress = true, and vss_gather_writer_status never waits
 * for it.
 */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 1500,
};

static void check_fresh_session(itest_env *env, itest_writer *f, itest_writer *g) {
        itest_writer *const all[] = { f, g };

        vss_backup_components *bc = itest_requester(env, false);
        vss_id s2 = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_ALL_STATUS(env, bc, &s2, all, 2, VSS_WS_STABLE, "WS-8: the next session, after GatherWriterMetadata");

        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_ALL_STATUS(env, bc, &s2, all, 2, VSS_WS_STABLE, "WS-8: the next session, after PrepareForBackup");
}

/* WS-8: "a failure of a previous shadow copy creation" is not reported. */
static void test_ws08_failed_snapshot_set_not_reported_later(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *f = WRITER(env, "fails-prepare-snapshot", "--fail-at", "PrepareForSnapshot", "--fail-code",
                                 "VSS_E_WRITERERROR_RETRYABLE", "--app-result", "0x80040002", "--app-message", "stale?");
        itest_writer *g = WRITER(env, "good");

        vss_backup_components *bc = itest_requester(env, false);
        vss_id s1 = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, f, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, VSS_E_WRITERERROR_RETRYABLE, (vss_hresult) 0x80040002,
                     "stale?");
        itest_statuses_free(&st);
        itest_requester_release(env, bc);
        itest_wait_event(env, f, "BackupShutdown", &s1, NULL, itest_ms(env, 5000));

        check_fresh_session(env, f, g);
}

/* WS-8: "an error in an early backup operation" is not reported. */
static void test_ws08_failed_backup_not_reported_later(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *f = WRITER(env, "fails-backup-complete", "--fail-at", "BackupComplete", "--fail-mode", "return");
        itest_writer *g = WRITER(env, "good");

        vss_backup_components *bc = itest_requester(env, false);
        vss_id s1 = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        itest_step(env, bc, vss_backup_complete, "vss_backup_complete", itest_step_bound(env), NULL);
        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, f, VSS_WS_FAILED_AT_BACKUP_COMPLETE, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);
        itest_wait_event(env, f, "BackupShutdown", &s1, NULL, itest_ms(env, 5000));

        check_fresh_session(env, f, g);
}

/* The status list as it is now, strings dropped (only fixed-size fields are checked). */
static void raw_status(itest_env *env, vss_backup_components *bc, itest_statuses *st, uint64_t *ret_done_usec) {
        vss_async *g = NULL;
        unsigned n = 0;

        CHECK_HR(vss_gather_writer_status(bc, &g), VSS_S_OK, "vss_gather_writer_status");
        CHECK_HR(vss_async_wait(g, itest_step_bound(env)), VSS_S_OK, "the gather's result");
        vss_async_release(g);
        if (ret_done_usec)
                *ret_done_usec = itest_now_mono_usec();
        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_S_OK, "count");
        st->v = calloc(n ? n : 1, sizeof *st->v);
        st->n = n;
        for (unsigned i = 0; i < n; i++) {
                st->v[i].s.size = sizeof st->v[i].s;
                CHECK_HR(vss_get_writer_status(bc, i, &st->v[i].s), VSS_S_OK, "vss_get_writer_status");
                st->v[i].s.writer_name = st->v[i].s.instance_name = st->v[i].s.application_message = NULL;
        }
        CHECK_HR(vss_free_writer_status(bc), VSS_S_OK, "free");
}

/* WS-8: "an unresponsive writer currently processing an event". The
 * requester cancels BackupComplete while one writer is still busy in it
 * (docs/dbus-interface.md: the cancelled step's fan-out goes on detached).
 * A gather then answers at once - before the busy writer is done - and shows
 * that writer in the waiting state of the event (the state it had) with
 * event_in_progress set, not failed; once it answers, its answer is
 * recorded. */
static void test_ws08_busy_writer_shows_in_progress(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts slow_opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 10000 };
        vss_async *a = NULL;
        itest_statuses st = { 0 };
        itest_admin adm = { 0 };
        uint64_t gathered;

        itest_start_lvssd(env, &slow_opts);
        itest_writer *slow = WRITER(env, "slow-backup-complete", "--hang-at", "BackupComplete", "--hang-ms", "4000");
        itest_writer *quick = WRITER(env, "quick");
        itest_writer *const all[] = { slow, quick };

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);

        uint64_t before = itest_now_real_usec();
        CHECK_HR(vss_backup_complete(bc, &a), VSS_S_OK, "vss_backup_complete");
        itest_wait_event(env, slow, "BackupComplete", &sid, "begin", itest_ms(env, 5000));
        itest_wait_event(env, quick, "BackupComplete", &sid, "ok", itest_ms(env, 5000));
        vss_hresult hr = vss_async_cancel(a);
        CHECK(hr == VSS_S_OK || hr == VSS_S_ASYNC_CANCELLED, "vss_async_cancel: %s", itest_hr_str(hr));
        CHECK_HR(vss_async_wait(a, itest_ms(env, 3000)), VSS_S_ASYNC_CANCELLED, "the cancelled BackupComplete");
        vss_async_release(a);

        raw_status(env, bc, &st, &gathered);
        /* it did not wait: the slow writer is still inside BackupComplete */
        ssize_t done = itest_find_event(slow, "BackupComplete", &sid, "ok", 0, SIZE_MAX);
        CHECK(done < 0 || slow->p.out.lines[done].mono_usec > gathered,
              "WS-8: vss_gather_writer_status returned only after the busy writer finished");
        itest_check_status_set(&st, &sid, all, 2);
        const vss_writer_status *s = &itest_status_for(&st, slow)->s, *q = &itest_status_for(&st, quick)->s;
        CHECK(s->state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE && s->event_in_progress &&
                      s->last_event == VSS_EVENT_BACKUP_COMPLETE && s->failure == VSS_S_OK &&
                      s->last_event_duration_usec == 0,
              "WS-8: the writer busy in BackupComplete shows %s, in progress %d, last event %s, failure %s, duration "
              "%" PRIu64 "; expected VSS_WS_WAITING_FOR_BACKUP_COMPLETE, in progress, BackupComplete, no failure, 0",
              vss_writer_state_name(s->state), s->event_in_progress, vss_writer_event_name(s->last_event),
              itest_hr_str(s->failure), s->last_event_duration_usec);
        CHECK(s->last_event_usec + 2000 >= before, "WS-9: the event in progress was sent at %" PRIu64
              ", before the call (%" PRIu64 ")", s->last_event_usec, before);
        /* the quick writer's reply may or may not have reached lvssd before the
         * cancel (it prints "ok" just before replying); either way it is consistent */
        CHECK(q->last_event == VSS_EVENT_BACKUP_COMPLETE && q->failure == VSS_S_OK &&
                      (q->event_in_progress ? q->state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE
                                            : q->state == VSS_WS_STABLE),
              "WS-8: the quick writer shows %s, in progress %d, last event %s, failure %s",
              vss_writer_state_name(q->state), q->event_in_progress, vss_writer_event_name(q->last_event),
              itest_hr_str(q->failure));
        free(st.v);
        st.v = NULL;

        /* the late answer is recorded: wait for it, then a round trip through the
         * same writer connection (ListWriters' Identify) fences it */
        itest_wait_event(env, slow, "BackupComplete", &sid, "ok", itest_ms(env, 10000));
        itest_list_writers(env, &adm);
        itest_admin_free(&adm);
        raw_status(env, bc, &st, NULL);
        s = &itest_status_for(&st, slow)->s;
        CHECK(s->state == VSS_WS_STABLE && !s->event_in_progress && s->failure == VSS_S_OK &&
                      s->last_event_duration_usec >= (uint64_t) itest_ms(env, 4000) * 1000u,
              "WS-8/9: after its late answer the writer shows %s, in progress %d, failure %s, duration %" PRIu64
              " us; expected VSS_WS_STABLE, done, no failure, >= %u ms",
              vss_writer_state_name(s->state), s->event_in_progress, itest_hr_str(s->failure),
              s->last_event_duration_usec, itest_ms(env, 4000));
        q = &itest_status_for(&st, quick)->s;
        CHECK(q->state == VSS_WS_STABLE && !q->event_in_progress && q->last_event == VSS_EVENT_BACKUP_COMPLETE &&
                      q->failure == VSS_S_OK,
              "WS-8: the writer done with BackupComplete shows %s, in progress %d, last event %s, failure %s",
              vss_writer_state_name(q->state), q->event_in_progress, vss_writer_event_name(q->last_event),
              itest_hr_str(q->failure));
        free(st.v);
        st.v = NULL;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws08_failed_snapshot_set_not_reported_later),
                ITEST(test_ws08_failed_backup_not_reported_later),
                ITEST(test_ws08_busy_writer_shows_in_progress),
        };
        return ITEST_MAIN("WS-8 no stale answers", tests);
}

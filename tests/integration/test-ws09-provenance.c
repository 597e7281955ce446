/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-9 Provenance. Every status entry carries the session id, the last event
 * sent, when it was sent, whether it is still in progress, and how long the
 * writer took. The admin view gives, for each writer, the session and time
 * its status comes from and whether that session is still active.
 */

#include <inttypes.h>
#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

/* Slack for comparing our CLOCK_REALTIME readings with lvssd's (same clock, µs rounding). */
#define SLACK_USEC 2000

static void check_entry(const itest_statuses *st, const itest_writer *w, const vss_id *sid, vss_writer_event ev,
                        uint64_t t0, uint64_t t1, const char *step) {
        const itest_status *e = itest_status_for(st, w);
        CHECK(e, "%s: no entry for %s", step, w->p.label);
        const vss_writer_status *s = &e->s;
        CHECK(vss_id_equal(&s->session_id, sid), "WS-9 %s: %s's entry names session %s, expected %s", step,
              w->p.label, itest_id_str(&s->session_id), itest_id_str(sid));
        CHECK(s->last_event == ev, "WS-9 %s: %s's last event is %s, expected %s", step, w->p.label,
              vss_writer_event_name(s->last_event), vss_writer_event_name(ev));
        CHECK(!s->event_in_progress, "WS-9 %s: %s's event still in progress after the step", step, w->p.label);
        CHECK(s->last_event_usec + SLACK_USEC >= t0 && s->last_event_usec <= t1 + SLACK_USEC,
              "WS-9 %s: %s's event was sent at %" PRIu64 ", outside the call [%" PRIu64 ", %" PRIu64 "]", step,
              w->p.label, s->last_event_usec, t0, t1);
        CHECK(s->last_event_duration_usec <= t1 - t0 + SLACK_USEC,
              "WS-9 %s: %s took %" PRIu64 " us, longer than the whole call (%" PRIu64 " us)", step, w->p.label,
              s->last_event_duration_usec, t1 - t0);
        CHECK(s->writer_name && strcmp(s->writer_name, w->name) == 0, "WS-9 %s: writer name '%s', expected '%s'", step,
              s->writer_name ? s->writer_name : "(null)", w->name);
        CHECK(vss_id_equal(&s->writer_id, &w->writer_id), "WS-9 %s: writer id %s, expected %s", step,
              itest_id_str(&s->writer_id), itest_id_str(&w->writer_id));
}

/* WS-9: session, last event, when, in progress, duration, after every step. */
static void test_ws09_status_carries_provenance(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        uint64_t t0, t1;

        itest_start_lvssd(env, &opts);
        itest_writer *slow = WRITER(env, "slow", "--instance", "slow-1", "--hang-at", "PrepareForBackup", "--hang-ms",
                                    "400");
        itest_writer *quick = WRITER(env, "quick");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);

        t0 = itest_now_real_usec();
        STEP_OK(env, bc, vss_gather_writer_metadata);
        t1 = itest_now_real_usec();
        itest_gather_status(env, bc, &st);
        check_entry(&st, slow, &sid, VSS_EVENT_IDENTIFY, t0, t1, "after GatherWriterMetadata");
        check_entry(&st, quick, &sid, VSS_EVENT_IDENTIFY, t0, t1, "after GatherWriterMetadata");
        const itest_status *e = itest_status_for(&st, slow);
        CHECK(e->s.instance_name && strcmp(e->s.instance_name, "slow-1") == 0, "WS-9: instance name '%s'",
              e->s.instance_name ? e->s.instance_name : "(null)");
        itest_statuses_free(&st);

        itest_start_set(env, bc, NULL);
        t0 = itest_now_real_usec();
        STEP_OK(env, bc, vss_prepare_for_backup);
        t1 = itest_now_real_usec();
        itest_gather_status(env, bc, &st);
        check_entry(&st, slow, &sid, VSS_EVENT_PREPARE_BACKUP, t0, t1, "after PrepareForBackup");
        check_entry(&st, quick, &sid, VSS_EVENT_PREPARE_BACKUP, t0, t1, "after PrepareForBackup");
        uint64_t sd = itest_status_for(&st, slow)->s.last_event_duration_usec;
        uint64_t qd = itest_status_for(&st, quick)->s.last_event_duration_usec;
        uint64_t hang = (uint64_t) itest_ms(env, 400) * 1000u;
        CHECK(sd >= hang, "WS-9: the writer that took %" PRIu64 " us in PrepareForBackup is said to have taken %" PRIu64
              " us", hang, sd);
        CHECK(qd < sd, "WS-9: the quick writer took %" PRIu64 " us, the slow one %" PRIu64 " us", qd, sd);
        itest_statuses_free(&st);

        t0 = itest_now_real_usec();
        STEP_OK(env, bc, vss_do_snapshot_set);
        t1 = itest_now_real_usec();
        itest_gather_status(env, bc, &st);
        check_entry(&st, slow, &sid, VSS_EVENT_POST_SNAPSHOT, t0, t1, "after DoSnapshotSet");
        check_entry(&st, quick, &sid, VSS_EVENT_POST_SNAPSHOT, t0, t1, "after DoSnapshotSet");
        itest_statuses_free(&st);

        t0 = itest_now_real_usec();
        STEP_OK(env, bc, vss_backup_complete);
        t1 = itest_now_real_usec();
        itest_gather_status(env, bc, &st);
        check_entry(&st, slow, &sid, VSS_EVENT_BACKUP_COMPLETE, t0, t1, "after BackupComplete");
        check_entry(&st, quick, &sid, VSS_EVENT_BACKUP_COMPLETE, t0, t1, "after BackupComplete");
        itest_statuses_free(&st);
}

static const itest_admin_entry *admin_entry(itest_env *env, itest_admin *a, itest_writer *w) {
        itest_list_writers(env, a);
        const itest_admin_entry *e = itest_admin_for(a, w);
        CHECK(e, "the admin view does not list %s", w->p.label);
        return e;
}

/* WS-9 (admin view): which session a writer's status comes from, when, and
 * whether that session is still active; an old failure reads as old. */
static void test_ws09_admin_view_provenance(void **state) {
        itest_env *env = *state;
        itest_admin a = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *f = WRITER(env, "fails-prepare", "--fail-at", "PrepareForBackup", "--fail-mode", "set",
                                 "--fail-code", "VSS_E_WRITERERROR_RETRYABLE");
        WRITER(env, "good");

        vss_backup_components *bc1 = itest_requester(env, false);
        vss_id s1 = itest_session_id(bc1);
        STEP_OK(env, bc1, vss_gather_writer_metadata);
        itest_start_set(env, bc1, NULL);
        uint64_t t0 = itest_now_real_usec();
        itest_step(env, bc1, vss_prepare_for_backup, "vss_prepare_for_backup", itest_step_bound(env), NULL);
        uint64_t t1 = itest_now_real_usec();

        const itest_admin_entry *e = admin_entry(env, &a, f);
        CHECK(e->state == VSS_WS_FAILED_AT_PREPARE_BACKUP && e->failure == VSS_E_WRITERERROR_RETRYABLE,
              "admin view: %s / %s", vss_writer_state_name(e->state), itest_hr_str(e->failure));
        CHECK(vss_id_equal(&e->session_id, &s1), "WS-9: admin status from session %s, expected %s",
              itest_id_str(&e->session_id), itest_id_str(&s1));
        CHECK(e->session_active && strcmp(e->session_state, "in progress") == 0,
              "WS-9: session 1 should be active / 'in progress': %d / '%s'", e->session_active, e->session_state);
        CHECK(e->last_event == VSS_EVENT_PREPARE_BACKUP, "WS-9: admin last event %s",
              vss_writer_event_name(e->last_event));
        CHECK(e->last_event_usec + SLACK_USEC >= t0 && e->last_event_usec <= t1 + SLACK_USEC,
              "WS-9: admin time %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", e->last_event_usec, t0, t1);
        itest_admin_free(&a);

        /* the admin view's own Identify did not overwrite that status */
        e = admin_entry(env, &a, f);
        CHECK(vss_id_equal(&e->session_id, &s1) && e->state == VSS_WS_FAILED_AT_PREPARE_BACKUP,
              "WS-9: a second ListWriters shows %s from session %s (its own Identify must not count)",
              vss_writer_state_name(e->state), itest_id_str(&e->session_id));
        itest_admin_free(&a);

        itest_requester_release(env, bc1);
        itest_wait_event(env, f, "BackupShutdown", &s1, NULL, itest_ms(env, 5000));
        char *cs = itest_wait_session_end(env, &s1, NULL, itest_ms(env, 10000));
        free(cs);
        e = admin_entry(env, &a, f);
        CHECK(vss_id_equal(&e->session_id, &s1), "WS-9: after release, admin status from session %s, expected %s",
              itest_id_str(&e->session_id), itest_id_str(&s1));
        CHECK(!e->session_active, "WS-9: a released session is still shown as active");
        CHECK(strcmp(e->session_state, "in progress") != 0 && strcmp(e->session_state, "none") != 0,
              "WS-9: a released session is shown as '%s'", e->session_state);
        CHECK(e->state >= VSS_WS_FAILED_AT_IDENTIFY && e->state <= VSS_WS_FAILED_AT_BACKUPSHUTDOWN,
              "WS-9: the old failure is gone from the admin view (BackupShutdown keeps a failed state): %s",
              vss_writer_state_name(e->state));
        itest_admin_free(&a);

        /* a new session: the admin view now follows it */
        vss_backup_components *bc2 = itest_requester(env, false);
        vss_id s2 = itest_session_id(bc2);
        STEP_OK(env, bc2, vss_gather_writer_metadata);
        e = admin_entry(env, &a, f);
        CHECK(vss_id_equal(&e->session_id, &s2), "WS-9: admin status from session %s, expected the new %s",
              itest_id_str(&e->session_id), itest_id_str(&s2));
        CHECK(e->session_active && strcmp(e->session_state, "in progress") == 0,
              "WS-9: session 2 should be active / 'in progress': %d / '%s'", e->session_active, e->session_state);
        CHECK(e->state == VSS_WS_STABLE && e->failure == VSS_S_OK, "WS-8/9: new session shows %s / %s",
              vss_writer_state_name(e->state), itest_hr_str(e->failure));
        itest_admin_free(&a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws09_status_carries_provenance),
                ITEST(test_ws09_admin_view_provenance),
        };
        return ITEST_MAIN("WS-9 provenance", tests);
}

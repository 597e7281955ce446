/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Scale and isolation (WS-1, WS-4, WS-5 at scale):
 * - with 100 test writers (some failing Identify, PostSnapshot or
 *   BackupComplete) the whole backup sequence completes and every status is
 *   right after every step;
 * - one hung writer among 10 does not delay the others' events: theirs come
 *   before the hung writer's deadline expires (WS-5: events go to all at
 *   once, never one writer after another).
 *
 * Under valgrind only lvssd and the first few writers run under it; the rest
 * run natively (100 valgrind processes do not fit on a small machine).
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define N_WRITERS 100

typedef enum role {
        GOOD,
        FAIL_IDENTIFY,
        FAIL_POST_SNAPSHOT,
        FAIL_BACKUP_COMPLETE,
} role;

static const char *const post_codes[] = {
        "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT", "VSS_E_WRITERERROR_OUTOFRESOURCES", "VSS_E_WRITERERROR_RETRYABLE",
        "VSS_E_WRITERERROR_TIMEOUT",
};

static vss_hresult post_code(size_t i) {
        vss_hresult hr = 0;
        vss_hresult_from_name(post_codes[i % 4], &hr);
        return hr;
}

/* WS-1/WS-4 at scale: 100 writers, every status right after every step. */
static void test_scale_100_writers(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 20000, .event_timeout_ms = 20000 };
        itest_writer *w[N_WRITERS], *listed[N_WRITERS];
        role r[N_WRITERS];
        char names[N_WRITERS][32], msgs[N_WRITERS][48];
        itest_statuses st = { 0 };
        size_t n_listed = 0;
        uint64_t ms;

        env->valgrind_writers_max = 4;
        itest_start_lvssd(env, &opts);
        for (size_t i = 0; i < N_WRITERS; i++) {
                snprintf(names[i], sizeof names[i], "w%03zu", i);
                snprintf(msgs[i], sizeof msgs[i], "writer %zu failed", i);
                if (i % 25 == 3) {
                        r[i] = FAIL_IDENTIFY;
                        w[i] = itest_writer_spawn(env, names[i], (const char *const[]) { "--fail-at", "Identify", NULL });
                } else if (i % 12 == 5) {
                        r[i] = FAIL_POST_SNAPSHOT;
                        w[i] = itest_writer_spawn(env, names[i],
                                                  (const char *const[]) { "--fail-at", "PostSnapshot", "--fail-mode",
                                                                          "set", "--fail-code", post_codes[i % 4],
                                                                          "--app-message", msgs[i], NULL });
                } else if (i % 12 == 7) {
                        r[i] = FAIL_BACKUP_COMPLETE;
                        w[i] = itest_writer_spawn(env, names[i],
                                                  (const char *const[]) { "--fail-at", "BackupComplete", "--fail-mode",
                                                                          "return", NULL });
                } else {
                        r[i] = GOOD;
                        w[i] = itest_writer_spawn(env, names[i], (const char *const[]) { "--instance", names[i], NULL });
                }
        }
        for (size_t i = 0; i < N_WRITERS; i++) {
                itest_writer_wait_subscribed(env, w[i], itest_ms(env, 60000));
                if (r[i] != FAIL_IDENTIFY)
                        listed[n_listed++] = w[i];
        }
        itest_note("%zu writers subscribed, %zu should identify", (size_t) N_WRITERS, n_listed);

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        unsigned bound = itest_ms(env, 60000);

        CHECK_HR(itest_step(env, bc, vss_gather_writer_metadata, "GatherWriterMetadata", bound, &ms), VSS_S_OK,
                 "GatherWriterMetadata");
        unsigned md = 0;
        CHECK_HR(vss_get_writer_metadata_count(bc, &md), VSS_S_OK, "metadata count");
        CHECK(md == n_listed, "WS-1: %u writers in the metadata, expected %zu", md, n_listed);
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, listed, n_listed);
        for (size_t i = 0; i < n_listed; i++)
                CHECK_STATUS(&st, listed[i], VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        itest_start_set(env, bc, NULL);
        CHECK_HR(itest_step(env, bc, vss_prepare_for_backup, "PrepareForBackup", bound, &ms), VSS_S_OK,
                 "PrepareForBackup");
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, listed, n_listed);
        for (size_t i = 0; i < n_listed; i++)
                CHECK_STATUS(&st, listed[i], VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        CHECK_HR(itest_step(env, bc, vss_do_snapshot_set, "DoSnapshotSet", bound, &ms), VSS_S_OK, "DoSnapshotSet");
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, listed, n_listed);
        for (size_t i = 0; i < N_WRITERS; i++) {
                if (r[i] == FAIL_IDENTIFY)
                        continue;
                if (r[i] == FAIL_POST_SNAPSHOT)
                        CHECK_STATUS(&st, w[i], VSS_WS_FAILED_AT_POST_SNAPSHOT, post_code(i), VSS_S_OK, msgs[i]);
                else
                        CHECK_STATUS(&st, w[i], VSS_WS_WAITING_FOR_BACKUP_COMPLETE, VSS_S_OK, VSS_S_OK, NULL);
        }
        itest_statuses_free(&st);

        itest_step(env, bc, vss_backup_complete, "BackupComplete", bound, &ms);
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, listed, n_listed);
        for (size_t i = 0; i < N_WRITERS; i++) {
                if (r[i] == FAIL_BACKUP_COMPLETE)
                        CHECK_STATUS(&st, w[i], VSS_WS_FAILED_AT_BACKUP_COMPLETE, VSS_E_WRITERERROR_NONRETRYABLE,
                                     VSS_S_OK, NULL);
                else if (r[i] == GOOD)
                        CHECK_STATUS(&st, w[i], VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        }
        itest_statuses_free(&st);

        itest_requester_release(env, bc);
        for (size_t i = 0; i < N_WRITERS; i++) {
                if (r[i] == FAIL_IDENTIFY) {
                        CHECK(itest_count_events(w[i], "PrepareForBackup", &sid, NULL) == 0,
                              "WS-1: %s (Identify failed) got PrepareForBackup", w[i]->p.label);
                        continue;
                }
                itest_wait_event(env, w[i], "BackupShutdown", &sid, "ok", itest_ms(env, 30000));
                CHECK(itest_count_events(w[i], "Freeze", &sid, "begin") == 1, "%s: Freeze count", w[i]->p.label);
        }
}

/* One hung writer among ten at @event: the others' @event lines come before
 * its deadline; the call returns within that deadline (+ margin). */
static void one_hung_among_ten(itest_env *env, const char *event, itest_async_fn fn, vss_writer_state hung_state,
                               vss_writer_state good_state) {
        itest_lvssd_opts opts = { .identify_timeout_ms = 4000, .event_timeout_ms = 4000 };
        itest_writer *good[9];
        itest_statuses st = { 0 };
        vss_async *a = NULL;
        char name[16];

        itest_start_lvssd(env, &opts);
        itest_writer *hung = itest_writer_spawn(env, "hung", (const char *const[]) { "--hang-at", event, NULL });
        for (size_t i = 0; i < 9; i++) {
                snprintf(name, sizeof name, "good%zu", i);
                good[i] = itest_writer_spawn(env, name, NULL);
        }
        itest_writer_wait_subscribed(env, hung, itest_ms(env, 20000));
        for (size_t i = 0; i < 9; i++)
                itest_writer_wait_subscribed(env, good[i], itest_ms(env, 20000));

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        if (fn != vss_prepare_for_backup) {
                STEP_OK(env, bc, vss_prepare_for_backup);
                STEP_OK(env, bc, vss_do_snapshot_set);
        }

        unsigned deadline = itest_ms(env, 4000);
        uint64_t t0 = itest_now_mono_usec();
        CHECK_HR(fn(bc, &a), VSS_S_OK, "start %s", event);
        itest_wait_event(env, hung, event, &sid, "hang", deadline);
        for (size_t i = 0; i < 9; i++) {
                size_t l = itest_wait_event(env, good[i], event, &sid, "ok", itest_ms(env, 4000 + 4000));
                uint64_t ms = (good[i]->p.out.lines[l].mono_usec - t0) / 1000;
                CHECK(ms < deadline, "WS-5: %s finished %s %" PRIu64 " ms after the call, not before the hung writer's "
                      "deadline (%u ms): events went one writer after another",
                      good[i]->p.label, event, ms, deadline);
        }
        CHECK(vss_async_wait(a, deadline + itest_margin_ms(env)) != VSS_S_ASYNC_PENDING,
              "WS-5: %s did not return within the deadline (%u ms) + margin", event, deadline);
        uint64_t ms = (itest_now_mono_usec() - t0) / 1000;
        itest_note("%s with one hung writer: %" PRIu64 " ms (deadline %u ms)", event, ms, deadline);
        vss_async_release(a);

        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, hung, hung_state, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        for (size_t i = 0; i < 9; i++)
                CHECK_STATUS(&st, good[i], good_state, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

static void test_scale_hung_writer_at_prepare_backup(void **state) {
        one_hung_among_ten(*state, "PrepareForBackup", vss_prepare_for_backup, VSS_WS_FAILED_AT_PREPARE_BACKUP,
                           VSS_WS_STABLE);
}

static void test_scale_hung_writer_at_backup_complete(void **state) {
        one_hung_among_ten(*state, "BackupComplete", vss_backup_complete, VSS_WS_FAILED_AT_BACKUP_COMPLETE,
                           VSS_WS_STABLE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_scale_100_writers),
                ITEST(test_scale_hung_writer_at_prepare_backup),
                ITEST(test_scale_hung_writer_at_backup_complete),
        };
        return ITEST_MAIN("scale", tests);
}

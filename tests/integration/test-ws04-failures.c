/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-4 Failure = state + code. A writer fails event E when its handler
 * returns false or when it called vss_writer_set_failure[_ex] during E
 * (either path); its state becomes VSS_WS_FAILED_AT_<E>, failure holds the
 * code it set (VSS_E_WRITERERROR_NONRETRYABLE if none), application_result /
 * application_message what it passed to _ex. Only the codes of
 * vss-reference.md 4.3 may be set; any other is refused with VSS_E_INVALIDARG
 * at the call (and, refused, changes nothing).
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 1500,
};

typedef struct fail_case {
        const char *name;
        const char *args[14];
        vss_hresult failure;
        vss_hresult app_result;
        const char *message;
} fail_case;

#define RETRYABLE "VSS_E_WRITERERROR_RETRYABLE"

static const fail_case cases[] = {
        /* without a code: NONRETRYABLE, whichever path */
        { "return-nocode", { "--fail-mode", "return" }, VSS_E_WRITERERROR_NONRETRYABLE, 0, NULL },
        { "both-nocode", { "--fail-mode", "both" }, VSS_E_WRITERERROR_NONRETRYABLE, 0, NULL },
        { "set-nocode", { "--fail-mode", "set" }, VSS_E_WRITERERROR_NONRETRYABLE, 0, NULL },
        /* every code SetWriterFailure allows, by "set failure + return true" ... */
        { "set-inconsistent", { "--fail-mode", "set", "--fail-code", "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT" },
          VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, 0, NULL },
        { "set-nonretryable", { "--fail-mode", "set", "--fail-code", "VSS_E_WRITERERROR_NONRETRYABLE" },
          VSS_E_WRITERERROR_NONRETRYABLE, 0, NULL },
        { "set-outofresources", { "--fail-mode", "set", "--fail-code", "VSS_E_WRITERERROR_OUTOFRESOURCES" },
          VSS_E_WRITERERROR_OUTOFRESOURCES, 0, NULL },
        { "set-retryable", { "--fail-mode", "set", "--fail-code", RETRYABLE }, VSS_E_WRITERERROR_RETRYABLE, 0, NULL },
        { "set-timeout", { "--fail-mode", "set", "--fail-code", "VSS_E_WRITERERROR_TIMEOUT" },
          VSS_E_WRITERERROR_TIMEOUT, 0, NULL },
        /* ... and by "set failure (with an application message and result) + return false" */
        { "both-inconsistent",
          { "--fail-mode", "both", "--fail-code", "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT", "--app-result",
            "0x80004005", "--app-message", "torn page in table t1" },
          VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, (vss_hresult) 0x80004005, "torn page in table t1" },
        { "both-nonretryable",
          { "--fail-mode", "both", "--fail-code", "VSS_E_WRITERERROR_NONRETRYABLE", "--app-result", "0x8000ffff",
            "--app-message", "catalog is corrupt" },
          VSS_E_WRITERERROR_NONRETRYABLE, (vss_hresult) 0x8000FFFF, "catalog is corrupt" },
        { "both-outofresources",
          { "--fail-mode", "both", "--fail-code", "VSS_E_WRITERERROR_OUTOFRESOURCES", "--app-result", "0x80070070",
            "--app-message", "no space left on device" },
          VSS_E_WRITERERROR_OUTOFRESOURCES, (vss_hresult) 0x80070070, "no space left on device" },
        { "both-retryable",
          { "--fail-mode", "both", "--fail-code", RETRYABLE, "--app-result", "0x00000001", "--app-message",
            "checkpoint running, try again" },
          VSS_E_WRITERERROR_RETRYABLE, 1, "checkpoint running, try again" },
        { "both-timeout",
          { "--fail-mode", "both", "--fail-code", "VSS_E_WRITERERROR_TIMEOUT", "--app-result", "0x800705B4",
            "--app-message", "lock wait timed out" },
          VSS_E_WRITERERROR_TIMEOUT, (vss_hresult) 0x800705B4, "lock wait timed out" },
        /* PARTIAL_FAILURE: SetWriterFailureEx only */
        { "set-partial-message",
          { "--fail-mode", "set", "--fail-code", "VSS_E_WRITERERROR_PARTIAL_FAILURE", "--app-message",
            "2 of 3 files" },
          VSS_E_WRITERERROR_PARTIAL_FAILURE, 0, "2 of 3 files" },
        { "both-partial-result",
          { "--fail-mode", "both", "--fail-code", "VSS_E_WRITERERROR_PARTIAL_FAILURE", "--app-result",
            "0x8007000E" },
          VSS_E_WRITERERROR_PARTIAL_FAILURE, (vss_hresult) 0x8007000E, NULL },
        /* a message with "set" and an application result */
        { "set-outofresources-message",
          { "--fail-mode", "set", "--fail-code", "VSS_E_WRITERERROR_OUTOFRESOURCES", "--app-result", "0x80070008",
            "--app-message", "cannot allocate the freeze buffer" },
          VSS_E_WRITERERROR_OUTOFRESOURCES, (vss_hresult) 0x80070008, "cannot allocate the freeze buffer" },
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* Start one writer per case, all failing at @event. */
static void start_case_writers(itest_env *env, const char *event, itest_writer **ws) {
        for (size_t i = 0; i < N_CASES; i++) {
                const char *args[20];
                size_t n = 0;
                args[n++] = "--fail-at";
                args[n++] = event;
                for (size_t k = 0; cases[i].args[k]; k++)
                        args[n++] = cases[i].args[k];
                args[n] = NULL;
                ws[i] = itest_writer_spawn(env, cases[i].name, args);
        }
        for (size_t i = 0; i < N_CASES; i++)
                itest_writer_wait_subscribed(env, ws[i], itest_ms(env, 15000));
}

/* WS-4: every allowed code, with and without application result and message,
 * by both failure paths, at PrepareForBackup. */
static void test_ws04_every_code_and_path(void **state) {
        itest_env *env = *state;
        itest_writer *ws[N_CASES + 1];
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        start_case_writers(env, "PrepareForBackup", ws);
        itest_writer *good = ws[N_CASES] = WRITER(env, "good");

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        vss_hresult hr = itest_step(env, bc, vss_prepare_for_backup, "vss_prepare_for_backup", itest_step_bound(env),
                                    NULL);
        itest_note("PrepareForBackup with failing writers: %s", itest_hr_str(hr));

        /* each handler saw the event and reported failing it */
        for (size_t i = 0; i < N_CASES; i++)
                itest_wait_event(env, ws[i], "PrepareForBackup", &sid, "fail", itest_ms(env, 5000));

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, ws, N_CASES + 1);
        for (size_t i = 0; i < N_CASES; i++) {
                itest_note("WS-4 case %s", cases[i].name);
                CHECK_STATUS(&st, ws[i], VSS_WS_FAILED_AT_PREPARE_BACKUP, cases[i].failure, cases[i].app_result,
                             cases[i].message);
        }
        CHECK_STATUS(&st, good, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

/* One event, two failing writers (one per path) and a good one. */
static void fail_at(itest_env *env, const char *event, vss_writer_state failed_state) {
        itest_statuses st = { 0 };
        bool snapshot = strcmp(event, "PrepareForSnapshot") == 0 || strcmp(event, "Freeze") == 0 ||
                        strcmp(event, "Thaw") == 0 || strcmp(event, "PostSnapshot") == 0;
        bool veto = strcmp(event, "PrepareForSnapshot") == 0 || strcmp(event, "Freeze") == 0;
        bool complete = strcmp(event, "BackupComplete") == 0;

        itest_start_lvssd(env, &opts);
        itest_writer *set = WRITER(env, "fails-by-set", "--fail-at", event, "--fail-mode", "set", "--fail-code",
                                   RETRYABLE, "--app-result", "0x80040001", "--app-message", "could not settle");
        itest_writer *ret = WRITER(env, "fails-by-return", "--fail-at", event, "--fail-mode", "return");
        itest_writer *good = WRITER(env, "good");
        itest_writer *const ws[] = { set, ret, good };

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        if (snapshot || complete) {
                vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set",
                                            itest_step_bound(env), NULL);
                if (!veto)
                        CHECK_HR(hr, VSS_S_OK, "WS-7: DoSnapshotSet with a failure at %s", event);
        }
        if (complete)
                itest_step(env, bc, vss_backup_complete, "vss_backup_complete", itest_step_bound(env), NULL);

        itest_wait_event(env, set, event, &sid, "fail", itest_ms(env, 5000));
        itest_wait_event(env, ret, event, &sid, "fail", itest_ms(env, 5000));

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, ws, 3);
        CHECK_STATUS(&st, set, failed_state, VSS_E_WRITERERROR_RETRYABLE, (vss_hresult) 0x80040001,
                     "could not settle");
        CHECK_STATUS(&st, ret, failed_state, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK, NULL);
        if (!veto)
                CHECK_STATUS(&st, good, complete ? VSS_WS_STABLE : VSS_WS_WAITING_FOR_BACKUP_COMPLETE, VSS_S_OK,
                             VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

static void test_ws04_fail_at_prepare_snapshot(void **state) {
        fail_at(*state, "PrepareForSnapshot", VSS_WS_FAILED_AT_PREPARE_SNAPSHOT);
}

static void test_ws04_fail_at_freeze(void **state) {
        fail_at(*state, "Freeze", VSS_WS_FAILED_AT_FREEZE);
}

static void test_ws04_fail_at_thaw(void **state) {
        fail_at(*state, "Thaw", VSS_WS_FAILED_AT_THAW);
}

static void test_ws04_fail_at_post_snapshot(void **state) {
        fail_at(*state, "PostSnapshot", VSS_WS_FAILED_AT_POST_SNAPSHOT);
}

static void test_ws04_fail_at_backup_complete(void **state) {
        fail_at(*state, "BackupComplete", VSS_WS_FAILED_AT_BACKUP_COMPLETE);
}

/* ---- refused codes: a writer inside the test process ------------------------------ */

typedef struct refused_call {
        const char *what;
        bool ex;
        vss_hresult code;
        vss_hresult got;
} refused_call;

static struct {
        pthread_mutex_t lock;
        bool identify_ran, prepare_ran;
        vss_hresult in_identify;
        refused_call calls[8];
        size_t n_calls;
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool my_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL, VSS_WRE_NEVER,
                                                      false);
        vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", "data", "data", NULL, 0, false, true, true,
                                                 true, 0);
        vss_hresult hr = vss_writer_set_failure(w, VSS_E_WRITERERROR_RETRYABLE);
        pthread_mutex_lock(&rec.lock);
        rec.identify_ran = true;
        rec.in_identify = hr;
        pthread_mutex_unlock(&rec.lock);
        return true;
}

static bool my_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        static const refused_call calls[] = {
                { "set_failure(VSS_E_WRITERERROR_PARTIAL_FAILURE) (only _ex may)", false,
                  VSS_E_WRITERERROR_PARTIAL_FAILURE, 0 },
                { "set_failure(VSS_S_OK) (only _ex may)", false, VSS_S_OK, 0 },
                { "set_failure(VSS_E_BAD_STATE)", false, VSS_E_BAD_STATE, 0 },
                { "set_failure(VSS_E_WRITER_NOT_RESPONDING)", false, VSS_E_WRITER_NOT_RESPONDING, 0 },
                { "set_failure(VSS_E_WRITERERROR_RECOVERY_FAILED)", false, VSS_E_WRITERERROR_RECOVERY_FAILED, 0 },
                { "set_failure(0x80004005)", false, (vss_hresult) 0x80004005, 0 },
                { "set_failure_ex(VSS_E_UNEXPECTED)", true, VSS_E_UNEXPECTED, 0 },
                { "set_failure_ex(VSS_E_WRITER_NOT_RESPONDING)", true, VSS_E_WRITER_NOT_RESPONDING, 0 },
        };
        pthread_mutex_lock(&rec.lock);
        rec.prepare_ran = true;
        rec.n_calls = 0;
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
                refused_call r = calls[i];
                r.got = r.ex ? vss_writer_set_failure_ex(w, r.code, (vss_hresult) 0x80004005, "must not stick")
                             : vss_writer_set_failure(w, r.code);
                rec.calls[rec.n_calls++] = r;
        }
        pthread_mutex_unlock(&rec.lock);
        return true; /* nothing was accepted: the event succeeds */
}

static void *writer_thread(void *w) {
        vss_writer_run(w);
        return NULL;
}

/* WS-4: a code VSS does not allow is refused at the call with
 * VSS_E_INVALIDARG and leaves the status untouched; set_failure in on_identify
 * or outside any handler is VSS_E_BAD_STATE (writer.h). */
static void test_ws04_refused_codes(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        vss_writer *w = NULL;
        vss_writer_options o = { .size = sizeof o };
        vss_writer_callbacks cb = { .size = sizeof cb, .on_identify = my_identify, .on_prepare_backup = my_prepare_backup };
        pthread_t t;

        itest_start_lvssd(env, &opts);
        for (int i = 0; i < 16; i++)
                o.writer_id.bytes[i] = (uint8_t) (0xA0 + i);
        o.writer_name = "in-process";
        o.usage = VSS_UT_USERDATA;
        o.source = VSS_ST_OTHER;
        CHECK_HR(vss_writer_initialize(&o, &cb, NULL, &w), VSS_S_OK, "vss_writer_initialize");
        CHECK_HR(vss_writer_set_failure(w, VSS_E_WRITERERROR_RETRYABLE), VSS_E_BAD_STATE,
                 "WS-4: set_failure outside any handler (not subscribed)");
        CHECK_HR(vss_writer_subscribe(w), VSS_S_OK, "vss_writer_subscribe");
        CHECK_HR(vss_writer_set_failure(w, VSS_E_WRITERERROR_RETRYABLE), VSS_E_BAD_STATE,
                 "WS-4: set_failure outside any handler (subscribed)");
        CHECK(pthread_create(&t, NULL, writer_thread, w) == 0, "pthread_create");

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);

        pthread_mutex_lock(&rec.lock);
        bool id_ran = rec.identify_ran, pb_ran = rec.prepare_ran;
        vss_hresult in_id = rec.in_identify;
        refused_call calls[8];
        size_t n = rec.n_calls;
        memcpy(calls, rec.calls, sizeof calls);
        pthread_mutex_unlock(&rec.lock);

        itest_gather_status(env, bc, &st);
        itest_requester_release(env, bc); /* BackupShutdown, while the writer still runs */
        vss_writer_stop(w);
        pthread_join(t, NULL);

        CHECK(id_ran && pb_ran, "the in-process writer's handlers did not run (identify %d, prepare %d)", id_ran,
              pb_ran);
        CHECK_HR(in_id, VSS_E_BAD_STATE, "WS-4: set_failure inside on_identify");
        CHECK(n == 8, "recorded %zu calls", n);
        for (size_t i = 0; i < n; i++)
                CHECK_HR(calls[i].got, VSS_E_INVALIDARG, "WS-4: %s inside on_prepare_backup", calls[i].what);

        /* refused calls change nothing: the event succeeded */
        CHECK(st.n == 1, "%zu status entries, expected 1", st.n);
        CHECK(vss_id_equal(&st.v[0].s.session_id, &sid), "entry from session %s", itest_id_str(&st.v[0].s.session_id));
        CHECK(st.v[0].s.state == VSS_WS_STABLE && st.v[0].s.failure == VSS_S_OK &&
                      st.v[0].s.application_result == VSS_S_OK &&
                      (!st.v[0].s.application_message || !*st.v[0].s.application_message),
              "WS-4: after refused calls only, the status is %s / %s / 0x%08X / %s; expected Stable, no failure",
              vss_writer_state_name(st.v[0].s.state), itest_hr_str(st.v[0].s.failure),
              (unsigned) st.v[0].s.application_result,
              st.v[0].s.application_message ? st.v[0].s.application_message : "(none)");
        itest_statuses_free(&st);
        vss_writer_release(w);
}

/*
 * WS-4 + issue 11 §3 (one UTF-8 rule): an application message with a
 * Unicode non-character (U+FFFE) is well-formed UTF-8 that sd-bus refuses.
 * The writer library applies sd-bus's rule at the call, so
 * vss_writer_set_failure_ex refuses it (VSS_E_INVALIDARG, changing nothing)
 * and the handler's "return false" still reaches lvssd: FAILED_AT_PREPARE_BACKUP
 * with NONRETRYABLE and no message, not a reply sd-bus could not build
 * (which lvssd saw as a writer that never answered).
 */
static void test_ws04_noncharacter_message(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *bad = WRITER(env, "nonchar-message", "--fail-at", "PrepareForBackup", "--fail-mode", "both",
                                   "--fail-code", RETRYABLE, "--app-result", "0x80004005", "--app-message",
                                   "bad \xef\xbf\xbe here");
        itest_writer *good = WRITER(env, "good");
        itest_writer *const ws[] = { bad, good };

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        vss_hresult hr = itest_step(env, bc, vss_prepare_for_backup, "vss_prepare_for_backup", itest_step_bound(env),
                                    NULL);
        itest_note("PrepareForBackup with a U+FFFE message: %s", itest_hr_str(hr));
        itest_wait_event(env, bad, "PrepareForBackup", &sid, "fail", itest_ms(env, 5000));

        /* the call itself said why: lvss-test-writer logs the refusal (stderr, before "event ... fail") */
        CHECK(bad->p.log_path, "the writer has no log file");
        char *log = itest_read_file(bad->p.log_path);
        CHECK(log && strstr(log, "refused: VSS_E_INVALIDARG"),
              "vss_writer_set_failure_ex with U+FFFE was not refused with VSS_E_INVALIDARG; the writer said:\n%s",
              log ? log : "(no log)");
        free(log);

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, ws, 2);
        CHECK_STATUS(&st, bad, VSS_WS_FAILED_AT_PREPARE_BACKUP, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK, NULL);
        CHECK_STATUS(&st, good, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws04_every_code_and_path),
                ITEST(test_ws04_fail_at_prepare_snapshot),
                ITEST(test_ws04_fail_at_freeze),
                ITEST(test_ws04_fail_at_thaw),
                ITEST(test_ws04_fail_at_post_snapshot),
                ITEST(test_ws04_fail_at_backup_complete),
                ITEST(test_ws04_refused_codes),
                ITEST(test_ws04_noncharacter_message),
        };
        return ITEST_MAIN("WS-4 failures", tests);
}

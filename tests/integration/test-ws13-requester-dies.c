/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-13 The requester disappears. When a requester's connection drops
 * mid-session (here: SIGKILL of the requester process), the coordinator
 * aborts the session: Abort to the writers that got PrepareForBackup and have
 * not finished PostSnapshot (frozen ones at once), BackupShutdown to all,
 * auto-release shadow copies deleted, the session recorded as aborted with
 * the reason.
 */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef enum stop_at {
        STOP_AFTER_PREPARE,      /* PrepareForBackup done */
        STOP_IN_DO_SNAPSHOT,     /* DoSnapshotSet running */
        STOP_AFTER_SNAPSHOT,     /* DoSnapshotSet done: a shadow copy exists */
        STOP_AFTER_BACKUP_COMPLETE,
} stop_at;

typedef struct child_arg {
        const char *volume;
        stop_at stop;
} child_arg;

/* @hr is what the call that filled *@a returned (the call is made before this runs). */
static vss_hresult wait_op(vss_hresult hr, vss_async **a) {
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

/* The requester process: goes as far as told, says so, then waits to be killed. */
static int requester_main(int fd, void *userdata) {
        const child_arg *arg = userdata;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id sid, set, snap;
        char s[VSS_ID_STRING_MAX];
        vss_hresult hr;

        if ((hr = vss_create_backup_components(&bc)) != VSS_S_OK || (hr = vss_get_session_id(bc, &sid)) != VSS_S_OK)
                goto fail;
        vss_id_format(&sid, s);
        itest_child_say(fd, "session %s", s);
        if ((hr = vss_initialize_for_backup(bc, NULL)) != VSS_S_OK ||
            (hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false)) != VSS_S_OK)
                goto fail;
        if ((hr = wait_op(vss_gather_writer_metadata(bc, &a), &a)) != VSS_S_OK)
                goto fail;
        if ((hr = vss_start_snapshot_set(bc, &set)) != VSS_S_OK ||
            (hr = vss_add_to_snapshot_set(bc, arg->volume, NULL, &snap)) != VSS_S_OK)
                goto fail;
        if ((hr = wait_op(vss_prepare_for_backup(bc, &a), &a)) != VSS_S_OK)
                goto fail;
        if (arg->stop == STOP_AFTER_PREPARE) {
                itest_child_say(fd, "stopped");
                for (;;)
                        pause();
        }
        if ((hr = vss_do_snapshot_set(bc, &a)) != VSS_S_OK)
                goto fail;
        if (arg->stop == STOP_IN_DO_SNAPSHOT) {
                itest_child_say(fd, "stopped");
                hr = vss_async_wait(a, VSS_INFINITE);
                itest_child_say(fd, "do-snapshot-set returned 0x%08X", (unsigned) hr);
                for (;;)
                        pause();
        }
        if ((hr = wait_op(VSS_S_OK, &a)) != VSS_S_OK)
                goto fail;
        vss_snapshot_prop p = { .size = sizeof(vss_snapshot_prop) };
        if ((hr = vss_get_snapshot_properties(bc, &snap, &p)) != VSS_S_OK)
                goto fail;
        itest_child_say(fd, "snapshot-path %s", p.snapshot_path);
        vss_free_snapshot_properties(&p);
        if (arg->stop == STOP_AFTER_BACKUP_COMPLETE && (hr = wait_op(vss_backup_complete(bc, &a), &a)) != VSS_S_OK)
                goto fail;
        itest_child_say(fd, "stopped");
        for (;;)
                pause();
fail:
        itest_child_say(fd, "error 0x%08X", (unsigned) hr);
        return 1;
}

static itest_proc *start_requester(itest_env *env, child_arg *arg, vss_id *ret_sid) {
        itest_proc *req = itest_spawn_child(env, "requester", requester_main, arg);
        size_t l = itest_wait_line_must(env, req, "session ", itest_ms(env, 10000));
        CHECK(vss_id_parse(req->out.lines[l].text + strlen("session "), ret_sid) == VSS_S_OK, "session line");
        return req;
}

static bool cond_cleaned(itest_env *env, void *userdata) {
        const vss_id *sid = userdata;
        char *state = NULL;
        bool ok = itest_catalog_session(env, sid, &state, NULL) && state && strcmp(state, "active") != 0 &&
                  itest_catalog_snapshot_count(env, sid) == 0 && itest_shadow_dir_count(env) == 0;
        free(state);
        return ok;
}

/* The session is aborted with a reason, and nothing of it is left on disk. */
static void check_session_aborted_and_clean(itest_env *env, const vss_id *sid) {
        char *state = NULL, *reason = NULL;

        itest_wait_state(env, cond_cleaned, (void *) sid, itest_ms(env, 15000));
        CHECK(itest_catalog_session(env, sid, &state, &reason), "WS-13: the catalog has no session %s",
              itest_id_str(sid));
        itest_note("catalog: session %s: %s (%s)", itest_id_str(sid), state ? state : "(null)",
                   reason ? reason : "(null)");
        CHECK(state && strcmp(state, "aborted") == 0, "WS-13: the session is recorded as '%s', expected 'aborted'",
              state ? state : "(null)");
        CHECK(reason && *reason, "WS-13: the aborted session is recorded without a reason");
        free(state);
        free(reason);
        CHECK(itest_shadow_dir_count(env) == 0, "WS-13: %d shadow copy dir(s) left under %s/shadows",
              itest_shadow_dir_count(env), env->state_dir);
        CHECK(itest_catalog_snapshot_count(env, sid) == 0, "WS-13: %d snapshot row(s) of the dead session in the catalog",
              itest_catalog_snapshot_count(env, sid));
}

static uint64_t ms_between(uint64_t from_usec, uint64_t to_usec) {
        return to_usec > from_usec ? (to_usec - from_usec) / 1000 : 0;
}

/* WS-13 (the case): SIGKILL the requester while one writer is frozen
 * and another is still slow in Freeze: the frozen writer's on_abort runs at
 * once (not after the slow one), BackupShutdown follows, no shadow copy is
 * left, the session is recorded as aborted. */
static void test_ws13_kill_requester_after_freeze(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };
        child_arg arg = { env->data_dir, STOP_IN_DO_SNAPSHOT };
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *frozen = WRITER(env, "frozen", "--freeze-timeout", "20000");
        itest_writer *slow = WRITER(env, "slow-freeze", "--freeze-timeout", "20000", "--hang-at", "Freeze",
                                    "--hang-ms", "6000");
        itest_proc *req = start_requester(env, &arg, &sid);

        itest_wait_event(env, frozen, "Freeze", &sid, "ok", itest_ms(env, 15000));
        size_t sb = itest_wait_event(env, slow, "Freeze", &sid, "begin", itest_ms(env, 5000));
        itest_wait_line_must(env, req, "stopped", itest_ms(env, 5000));

        uint64_t t_kill = itest_now_mono_usec();
        itest_kill_proc(env, req);

        size_t ab = itest_wait_event(env, frozen, "Abort", &sid, "begin", itest_ms(env, 20000));
        uint64_t ms = ms_between(t_kill, frozen->p.out.lines[ab].mono_usec);
        itest_note("frozen writer: Abort %" PRIu64 " ms after the requester died", ms);
        CHECK(ms <= itest_ms(env, 3000),
              "WS-13: the frozen writer's on_abort ran %" PRIu64 " ms after the requester died, not at once "
              "(the other writer is still in Freeze for %u ms)",
              ms, itest_ms(env, 6000));
        CHECK(itest_find_event(slow, "Freeze", &sid, "ok", sb, SIZE_MAX) < 0 ||
                      slow->p.out.lines[itest_find_event(slow, "Freeze", &sid, "ok", sb, SIZE_MAX)].mono_usec >
                              frozen->p.out.lines[ab].mono_usec,
              "WS-13: the frozen writer was aborted only after the slow writer's Freeze returned");
        itest_wait_event(env, frozen, "Abort", &sid, "ok", itest_ms(env, 5000));

        /* the slow one is aborted when its Freeze returns, within its freeze timeout */
        size_t sa = itest_wait_event(env, slow, "Abort", &sid, "begin", itest_ms(env, 30000));
        CHECK(ms_between(slow->p.out.lines[sb].mono_usec, slow->p.out.lines[sa].mono_usec) < slow->freeze_timeout_ms,
              "WS-6/13: the slow writer was released after its freeze timeout");

        itest_wait_event(env, frozen, "BackupShutdown", &sid, "ok", itest_ms(env, 10000));
        itest_wait_event(env, slow, "BackupShutdown", &sid, "ok", itest_ms(env, 30000));
        CHECK(itest_find_event(frozen, "PostSnapshot", &sid, NULL, 0, SIZE_MAX) < 0,
              "WS-13: the set went on to PostSnapshot after the requester died");
        check_session_aborted_and_clean(env, &sid);
}

/* WS-13: requester dies after PrepareForBackup: Abort, then BackupShutdown. */
static void test_ws13_kill_requester_after_prepare_backup(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };
        child_arg arg = { env->data_dir, STOP_AFTER_PREPARE };
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *w1 = WRITER(env, "w1");
        itest_writer *w2 = WRITER(env, "w2");
        itest_proc *req = start_requester(env, &arg, &sid);
        itest_wait_line_must(env, req, "stopped", itest_ms(env, 15000));
        itest_kill_proc(env, req);

        itest_writer *const ws[] = { w1, w2 };
        for (size_t i = 0; i < 2; i++) {
                size_t ab = itest_wait_event(env, ws[i], "Abort", &sid, "ok", itest_ms(env, 10000));
                size_t bs = itest_wait_event(env, ws[i], "BackupShutdown", &sid, "ok", itest_ms(env, 10000));
                CHECK(bs > ab, "WS-13: BackupShutdown before Abort");
        }
        check_session_aborted_and_clean(env, &sid);
}

/* WS-13: requester dies after DoSnapshotSet: no Abort (PostSnapshot is done),
 * BackupShutdown, and the auto-release shadow copy is deleted. */
static void kill_after_snapshot(itest_env *env, stop_at stop) {
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };
        child_arg arg = { env->data_dir, stop };
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        itest_proc *req = start_requester(env, &arg, &sid);
        size_t l = itest_wait_line_must(env, req, "snapshot-path ", itest_ms(env, 15000));
        const char *path = req->out.lines[l].text + strlen("snapshot-path ");
        itest_wait_line_must(env, req, "stopped", itest_ms(env, 15000));
        CHECK(access(path, F_OK) == 0, "the shadow copy %s does not exist", path);
        CHECK(itest_shadow_dir_count(env) == 1, "%d shadow copies before the kill", itest_shadow_dir_count(env));
        char *keep = strdup(path);

        itest_kill_proc(env, req);
        itest_wait_event(env, w, "BackupShutdown", &sid, "ok", itest_ms(env, 10000));
        CHECK(itest_count_events(w, "Abort", NULL, NULL) == 0,
              "WS-13/WS-7: Abort sent to a writer that had finished PostSnapshot");
        check_session_aborted_and_clean(env, &sid);
        CHECK(access(keep, F_OK) != 0, "WS-13: the auto-release shadow copy %s is still there", keep);
        free(keep);
}

static void test_ws13_kill_requester_after_snapshot(void **state) {
        kill_after_snapshot(*state, STOP_AFTER_SNAPSHOT);
}

/* WS-13 and WS-3: a session never gathered after BackupComplete ends, when
 * its requester dies, as aborted. */
static void test_ws13_kill_requester_after_backup_complete(void **state) {
        kill_after_snapshot(*state, STOP_AFTER_BACKUP_COMPLETE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws13_kill_requester_after_freeze),
                ITEST(test_ws13_kill_requester_after_prepare_backup),
                ITEST(test_ws13_kill_requester_after_snapshot),
                ITEST(test_ws13_kill_requester_after_backup_complete),
        };
        return ITEST_MAIN("WS-13 the requester disappears", tests);
}

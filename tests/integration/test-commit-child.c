/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §1/§5: the commit child is a worker (src/coordinator/worker.c),
 * forked before Freeze goes out, and Thaw goes out when it says "done" on
 * its socket, not when it exits (WS-6: the freeze window is the time from
 * Freeze to Thaw; the fork, the child's start-up and its exit are no longer
 * in it).
 *   - test_thaw_before_commit_child_exits: while a writer is inside Freeze,
 *     lvssd already has its commit child, waiting; the writer gets Thaw while
 *     that child still lives (the test hook LVSS_TEST_COMMIT_LINGER_MS keeps
 *     it alive after its "done", as a slow exit would); it is reaped later
 *     and the set is made.
 *   - test_vetoed_prefork_makes_nothing: a writer vetoes Freeze (WS-7): the
 *     child forked before Freeze is told to abort, makes nothing (no copy on
 *     disk, no catalog row) and is gone; lvssd has no child left.
 *   - test_paths_resolved_before_go: the child resolves the copy's paths (the
 *     providers' ready_commit) before it waits for "go": the storage area moved
 *     away inside the freeze window does not fail the commit.
 *   - test_freeze_after_child_ready: Freeze goes out only once that child is
 *     ready (a slow start-up, the test hook LVSS_TEST_COMMIT_READY_DELAY_MS).
 *   - test_ready_failure_vetoes_before_freeze: a ready_commit that fails
 *     vetoes the set before any writer is frozen.
 *   - test_flush_outlasts_hold_window: a flush still running when the hold
 *     window ends fails the set with VSS_E_FLUSH_WRITES_TIMEOUT (the child
 *     marks its flush done in a page shared with lvssd, not on its socket;
 *     a commit that hangs after its flush, VSS_E_HOLD_WRITES_TIMEOUT, is
 *     test-hold-window's test_ws6_provider_hangs_in_commit).
 * lvssd SIGKILLed between the fork and "go" is test-crash's
 * test_crash_in_freeze (the child dies with lvssd, nothing frozen, no copy).
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 3000,
};

/* The pid of the last commit child lvssd forked (its log: "commit: runs in a worker (pid N"), or 0. */
static pid_t commit_child_pid(itest_env *env) {
        static const char key[] = ": commit: runs in a worker (pid ";
        char *log = itest_read_file(env->lvssd->log_path);
        pid_t pid = 0;

        for (const char *p = log ? strstr(log, key) : NULL; p; p = strstr(p + 1, key))
                pid = (pid_t) atoi(p + strlen(key));
        free(log);
        return pid;
}

static bool lvssd_log_has(itest_env *env, const char *what) {
        char *log = itest_read_file(env->lvssd->log_path);
        bool r = log && strstr(log, what);

        free(log);
        return r;
}

/* @pid runs (not a zombie) as a child of @ppid. */
static bool child_alive(pid_t pid, pid_t ppid) {
        char *path = itest_xprintf("/proc/%d/stat", (int) pid);
        char *stat = itest_read_file(path);
        const char *p = stat ? strrchr(stat, ')') : NULL;
        char state = 0;
        int parent = 0;
        bool r;

        r = p && sscanf(p, ") %c %d", &state, &parent) == 2 && state != 'Z' && state != 'X' && parent == (int) ppid;
        free(stat);
        free(path);
        return r;
}

/* Waits until @pid has exited (its pidfd says so), then until lvssd has no child left, that is
 * it has reaped it (polled: a reaping has no event the test can wait on). */
static bool wait_reaped(itest_env *env, pid_t pid, unsigned timeout_ms) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);

        if (fd >= 0) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, (int) timeout_ms);
                close(fd);
                if (r <= 0)
                        return false;
        } else if (errno != ESRCH)
                FAIL("pidfd_open(%d): %m", (int) pid);
        while (itest_children_in_state(env->lvssd->pid, 0) != 0) {
                if (itest_now_mono_usec() >= deadline)
                        return false;
                (void) poll(NULL, 0, 10);
        }
        return true;
}

/* Issue 11 §5 (WS-6's freeze window): Thaw on the child's "done", before it exits. */
static void test_thaw_before_commit_child_exits(void **state) {
        itest_env *env = *state;
        unsigned linger = itest_ms(env, 2500);
        char *v = itest_xprintf("%u", linger);
        vss_async *a = NULL;
        vss_id sid;

        CHECK(setenv("LVSS_TEST_COMMIT_LINGER_MS", v, 1) == 0, "setenv: %m");
        itest_start_lvssd(env, &opts);
        (void) unsetenv("LVSS_TEST_COMMIT_LINGER_MS");
        free(v);
        /* it stays in Freeze a while: the test looks at lvssd's children meanwhile */
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "60000", "--hang-at", "Freeze", "--hang-ms", "500");

        vss_backup_components *bc = itest_requester(env, false);
        sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "DoSnapshotSet starts");

        /* Freeze has reached the writer: the commit child exists already and waits for "go" */
        itest_wait_event(env, w, "Freeze", &sid, "begin", itest_ms(env, 10000));
        pid_t child = commit_child_pid(env);
        CHECK(child > 0 && child_alive(child, env->lvssd->pid),
              "issue 11 §5: no commit child forked before Freeze (log pid %d)", (int) child);
        CHECK(!lvssd_log_has(env, "commit: making"), "the commit started while a writer was still in Freeze");

        /* Thaw reaches the writer while that child is still alive: it lingers after its "done" */
        itest_wait_event(env, w, "Thaw", &sid, "begin", itest_ms(env, 10000));
        bool alive = child_alive(child, env->lvssd->pid);
        CHECK(lvssd_log_has(env, "the commit child lingers"), "the test hook did not run: the test proves nothing");
        CHECK(alive, "issue 11 §5: Thaw came only after the commit child (pid %d) exited", (int) child);

        CHECK_HR(vss_async_wait(a, itest_step_bound(env)), VSS_S_OK, "DoSnapshotSet with a lingering commit child");
        a = vss_async_release(a);
        itest_wait_event(env, w, "Thaw", &sid, "ok", itest_ms(env, 5000));
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the set's copy is not in the catalog");

        /* the child is reaped once it exits (through sd-event): no child is left */
        CHECK(wait_reaped(env, child, linger + itest_ms(env, 10000)), "the commit child (pid %d) is never reaped",
              (int) child);
}

static bool cond_no_shadow(itest_env *env, void *userdata) {
        return itest_shadow_dir_count(env) == 0 && itest_catalog_snapshot_count(env, userdata) == 0;
}

/* Issue 11 §5 with WS-7: a veto at Freeze aborts the commit child forked before it. */
static void test_vetoed_prefork_makes_nothing(void **state) {
        itest_env *env = *state;
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "vetoes", "--fail-at", "Freeze", "--fail-mode", "return", "--freeze-timeout",
                                 "10000");

        vss_backup_components *bc = itest_requester(env, false);
        sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK_HR(hr, VSS_E_WRITERERROR_NONRETRYABLE, "WS-7: DoSnapshotSet vetoed at Freeze");
        itest_wait_event(env, v, "Abort", &sid, "ok", itest_ms(env, 5000));

        pid_t child = commit_child_pid(env);
        CHECK(child > 0, "issue 11 §5: no commit child was forked before Freeze");
        CHECK(lvssd_log_has(env, "is told to abort: it makes nothing"), "the commit child was not told to abort");
        CHECK(wait_reaped(env, child, itest_ms(env, 10000)),
              "the aborted commit child (pid %d) still runs, or lvssd has another child left", (int) child);
        CHECK(!lvssd_log_has(env, "commit: making"), "the commit was started after a veto");
        CHECK(itest_wait_state(env, cond_no_shadow, &sid, itest_ms(env, 10000)),
              "the aborted commit made something: %d shadow dir(s), %d catalog row(s)", itest_shadow_dir_count(env),
              itest_catalog_snapshot_count(env, &sid));
}

/* Waits (inotify on lvssd's log, no polling) until lvssd's log has @what; false after @timeout_ms. */
static bool wait_lvssd_log(itest_env *env, const char *what, unsigned timeout_ms) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;

        for (;;) {
                char *log = itest_read_file(env->lvssd->log_path);
                size_t lines = 0;
                bool found = log && strstr(log, what);

                for (const char *p = log; p && (p = strchr(p, '\n')); p++)
                        lines++;
                free(log);
                if (found)
                        return true;
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline ||
                    !itest_wait_file_lines(env, env->lvssd->log_path, lines + 1, (unsigned) ((deadline - now) / 1000u)))
                        return itest_lvssd_log_has(env, what);
        }
}

/*
 * Issue 11 §1/§5 (WS-6: what the commit does while writers are frozen): the
 * commit child resolves the copy's paths before it waits for "go"
 * (ready_commit), not inside the freeze window. While the writer is inside
 * Freeze, after the child said it is ready and before the commit starts,
 * the storage area is renamed away; during Thaw it is put back. The copy
 * is made where the child looked before "go": DoSnapshotSet succeeds and
 * the copy is in the catalog. A commit that resolved its paths after "go"
 * would find no set directory and fail the set.
 */
static void test_paths_resolved_before_go(void **state) {
        itest_env *env = *state;
        char *shadows = itest_xprintf("%s/shadows", env->state_dir);
        char *moved = itest_xprintf("%s/shadows-moved", env->state_dir);
        vss_async *a = NULL;
        vss_id sid;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "60000", "--hang-at", "Freeze", "--hang-at", "Thaw",
                                 "--hang-ms", "3000"); /* scaled by the harness (valgrind) */
        vss_backup_components *bc = itest_requester(env, false);
        sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "DoSnapshotSet starts");

        itest_wait_event(env, w, "Freeze", &sid, "begin", itest_ms(env, 10000));
        CHECK(wait_lvssd_log(env, "commit: the child is ready", itest_ms(env, 10000)),
              "issue 11 §5: the commit child did not get ready before the commit");
        CHECK(rename(shadows, moved) == 0, "rename %s: %m", shadows);
        CHECK(!lvssd_log_has(env, "commit: making"),
              "the commit started before the storage area was moved: the test proves nothing");

        itest_wait_event(env, w, "Thaw", &sid, "begin", itest_ms(env, 15000));
        CHECK(rename(moved, shadows) == 0, "rename %s back: %m", moved);
        CHECK_HR(vss_async_wait(a, itest_step_bound(env)), VSS_S_OK,
                 "issue 11 §5: DoSnapshotSet with the storage area moved away inside the freeze window");
        a = vss_async_release(a);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the set's copy is not in the catalog");
        CHECK(itest_shadow_dir_count(env) == 1, "the copy is not in the storage area");
        free(shadows);
        free(moved);
}

/* lvssd started with @o and the commit child's test hook @hook set to @ms, one writer (a freeze
 * timeout far beyond any window: a thaw is lvssd's doing), and a set of one volume whose
 * DoSnapshotSet has started: its call, *@ret_w, *@ret_sid. */
static vss_async *hooked_set(itest_env *env, const char *hook, unsigned ms, const itest_lvssd_opts *o,
                             itest_writer **ret_w, vss_id *ret_sid) {
        char *v = itest_xprintf("%u", ms);
        vss_async *a = NULL;

        CHECK(setenv(hook, v, 1) == 0, "setenv: %m");
        itest_start_lvssd(env, o);
        (void) unsetenv(hook);
        free(v);
        *ret_w = WRITER(env, "w", "--freeze-timeout", "60000");
        vss_backup_components *bc = itest_requester(env, false);
        *ret_sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "DoSnapshotSet starts");
        return a;
}

/* The same, the commit child waiting @delay_ms before ready_commit. */
static vss_async *slow_child_set(itest_env *env, unsigned delay_ms, itest_writer **ret_w, vss_id *ret_sid) {
        return hooked_set(env, "LVSS_TEST_COMMIT_READY_DELAY_MS", delay_ms, &opts, ret_w, ret_sid);
}

/*
 * Issue 11 §5 (WS-6: nothing of the commit's start-up inside the freeze
 * window): Freeze goes out only once the commit child forked before it is
 * ready. The test hook LVSS_TEST_COMMIT_READY_DELAY_MS makes the child start
 * slowly; by the time the writer's Freeze handler starts, lvssd's log must
 * already have the child's "ready" line. Before, Freeze went out at once and
 * the child's start-up raced the writers' Freeze.
 */
static void test_freeze_after_child_ready(void **state) {
        itest_env *env = *state;
        unsigned delay = itest_ms(env, 1000);
        itest_writer *w;
        vss_id sid;

        vss_async *a = slow_child_set(env, delay, &w, &sid);

        itest_wait_event(env, w, "Freeze", &sid, "begin", itest_ms(env, 15000));
        CHECK(lvssd_log_has(env, "the commit child waits"), "the test hook did not run: the test proves nothing");
        CHECK(lvssd_log_has(env, "commit: the child is ready"),
              "issue 11 §5: Freeze reached the writer before the commit child was ready");
        CHECK_HR(vss_async_wait(a, itest_step_bound(env)), VSS_S_OK, "DoSnapshotSet with a slow commit child");
        a = vss_async_release(a);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the set's copy is not in the catalog");
}

/*
 * Issue 11 §5 with WS-7: a ready_commit that fails vetoes the set before
 * Freeze. While the slow child waits (the test hook), the storage area is
 * moved away, so its ready_commit cannot find the set directory: DoSnapshotSet
 * fails, no writer ever gets Freeze, the writer gets Abort, and nothing is
 * made. Before, Freeze went out and the failure came after "go", with the
 * writers frozen.
 */
static void test_ready_failure_vetoes_before_freeze(void **state) {
        itest_env *env = *state;
        char *shadows = itest_xprintf("%s/shadows", env->state_dir);
        char *moved = itest_xprintf("%s/shadows-moved", env->state_dir);
        unsigned delay = itest_ms(env, 1500);
        itest_writer *w;
        vss_id sid;

        vss_async *a = slow_child_set(env, delay, &w, &sid);

        CHECK(wait_lvssd_log(env, "the commit child waits", itest_ms(env, 10000)),
              "the test hook did not run: the test proves nothing");
        CHECK(rename(shadows, moved) == 0, "rename %s: %m", shadows);
        vss_hresult hr = vss_async_wait(a, itest_step_bound(env));
        a = vss_async_release(a);
        CHECK(rename(moved, shadows) == 0, "rename %s back: %m", moved);
        CHECK(VSS_FAILED(hr), "DoSnapshotSet succeeded without a storage area: %s", itest_hr_str(hr));
        itest_wait_event(env, w, "Abort", &sid, "ok", itest_ms(env, 5000));
        CHECK(itest_count_events(w, "Freeze", &sid, "begin") == 0,
              "issue 11 §5: the writer was frozen although the commit could not get ready");
        CHECK(lvssd_log_has(env, "the set is vetoed before Freeze"), "lvssd did not say why the set was vetoed");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "a copy of the vetoed set is in the catalog");
        free(shadows);
        free(moved);
}

/*
 * WS-6 (VSS_E_FLUSH_WRITES_TIMEOUT "while flushing"): the commit child's
 * flush outlasts the hold window (the test hook LVSS_TEST_COMMIT_FLUSH_DELAY_MS
 * holds it after pre_commit, before it marks the flush done). The set fails
 * with VSS_E_FLUSH_WRITES_TIMEOUT, not VSS_E_HOLD_WRITES_TIMEOUT; the writer
 * gets Abort and never Thaw; nothing is made and lvssd has no child left.
 * Since issue 11 §5 the child marks its flush in a shared page that lvssd
 * reads only when the window ends: this case and the hung commit (HOLD) read
 * the two values of that mark.
 */
static void test_flush_outlasts_hold_window(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts o = opts;
        itest_writer *w;
        vss_id sid;

        o.hold_window_ms = itest_ms(env, 1000);
        vss_async *a = hooked_set(env, "LVSS_TEST_COMMIT_FLUSH_DELAY_MS", 60000, &o, &w, &sid);
        vss_hresult hr = vss_async_wait(a, itest_step_bound(env));
        a = vss_async_release(a);
        CHECK(lvssd_log_has(env, "the commit child flushes for"), "the test hook did not run: the test proves nothing");
        CHECK_HR(hr, VSS_E_FLUSH_WRITES_TIMEOUT, "WS-6: DoSnapshotSet whose flush outlasted the hold window");
        itest_wait_event(env, w, "Abort", &sid, "ok", itest_ms(env, 5000));
        CHECK(itest_count_events(w, "Freeze", &sid, "ok") == 1, "the writer was not frozen: the test proves nothing");
        CHECK(itest_find_event(w, "Thaw", &sid, NULL, 0, SIZE_MAX) < 0, "WS-6: the writer got Thaw for a failed set");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "a copy of the failed set is in the catalog");
        pid_t child = commit_child_pid(env);
        CHECK(child > 0, "lvssd's log names no commit child");
        CHECK(wait_reaped(env, child, itest_ms(env, 10000)), "the killed commit child (pid %d) is not reaped",
              (int) child);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_thaw_before_commit_child_exits),
                ITEST(test_vetoed_prefork_makes_nothing),
                ITEST(test_paths_resolved_before_go),
                ITEST(test_freeze_after_child_ready),
                ITEST(test_ready_failure_vetoes_before_freeze),
                ITEST(test_flush_outlasts_hold_window),
        };
        return ITEST_MAIN("commit-child", tests);
}

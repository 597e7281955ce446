/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-6 The freeze window is bounded (issue 5): a provider that hangs in
 * commit makes the set fail with VSS_E_HOLD_WRITES_TIMEOUT within the hold
 * window plus a small margin; every writer is thawed by lvssd's Abort (long
 * before its own freeze timeout), the provider's program is ended, and the
 * whole set is undone: nothing of it in the catalog or on disk, the copy
 * another provider had already made in the same window included. lvssd then
 * takes the next set.
 *
 * The hanging provider is the harness's fake exec provider (a shell script
 * in the test's directory) told to block in commit; the hold window is short
 * (--hold-window), the writers' freeze timeout long.
 */

#include <inttypes.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define HOLD_WINDOW_MS 1500

static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        return s;
}

/* The fake's commit program, ended by the test if lvssd does not (teardown too). */
static int program_pidfd = -1;

static void program_kill(void) {
        if (program_pidfd >= 0) {
                (void) pidfd_send_signal(program_pidfd, SIGKILL, NULL, 0);
                close(program_pidfd);
                program_pidfd = -1;
        }
}

static int hold_teardown(void **state) {
        program_kill();
        return itest_teardown(state);
}

static uint64_t ms_since(uint64_t from_usec, uint64_t to_usec) {
        return to_usec > from_usec ? (to_usec - from_usec) / 1000 : 0;
}

/* How many entries STATE_DIR/shadows/<set> has (0 when it is gone). */
static int set_dir_entries(itest_env *env, const vss_id *set) {
        char *p = xprintf("%s/shadows/%s", env->state_dir, itest_id_str(set) + 1);
        p[strlen(p) - 1] = 0; /* the closing brace */
        DIR *d = opendir(p);
        int n = 0;
        struct dirent *e;

        free(p);
        if (!d)
                return 0;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* WS-6: the provider hangs in commit; the set fails with VSS_E_HOLD_WRITES_TIMEOUT in window + margin. */
static void test_ws6_provider_hangs_in_commit(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 20000,
                                  .hold_window_ms = HOLD_WINDOW_MS };
        unsigned margin = itest_margin_ms(env);
        vss_id fake_id, set, snap_copy, snap_fake;
        vss_async *a = NULL;

        char *fake = itest_fake_provider(env);
        char *hang = xprintf("%s/hang-commit", fake);
        itest_write_file(hang, "", 0);
        char *text = xprintf("[Coordinator]\nExecProvider=hangs:%s/fake-provider\n", fake);
        char *config = xprintf("%s/lvssd.conf", env->dir);
        itest_write_file(config, text, strlen(text));
        itest_start_lvssd_config(env, &opts, config);
        CHECK_HR(itest_provider_id(env->socket_path, "hangs", &fake_id), VSS_S_OK, "the fake provider is listed");

        /* freeze timeouts far beyond the window: a thaw within it is lvssd's doing */
        itest_writer *w1 = WRITER(env, "w1", "--freeze-timeout", "30000");
        itest_writer *w2 = WRITER(env, "w2", "--freeze-timeout", "30000");
        itest_writer *ws[] = { w1, w2 };

        /* two volumes, two providers, one window: copy commits first, then the fake hangs */
        char *second = xprintf("%s/second", env->dir);
        CHECK(mkdir(second, 0755) == 0, "mkdir %s: %m", second);
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, second, NULL, &snap_copy), VSS_S_OK, "add %s (copy)", second);
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &fake_id, &snap_fake), VSS_S_OK, "add %s (fake)",
                 env->data_dir);
        STEP_OK(env, bc, vss_prepare_for_backup);

        uint64_t t0 = itest_now_mono_usec();
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
        char *marker = xprintf("%s/commit-started", fake);
        CHECK(itest_wait_file_lines(env, marker, 1, itest_ms(env, 10000)), "the fake provider's commit never started");
        char *pid_text = itest_read_file(marker);
        pid_t pid = pid_text ? (pid_t) atoi(pid_text) : 0;
        CHECK(pid > 0, "bad pid in %s", marker);
        program_pidfd = pidfd_open(pid, 0);
        CHECK(program_pidfd >= 0, "pidfd_open(%d): %m", (int) pid);
        itest_note("the fake provider's commit (pid %d) hangs", (int) pid);

        vss_hresult hr = vss_async_wait(a, HOLD_WINDOW_MS + 3 * margin);
        uint64_t t_end = itest_now_mono_usec();
        CHECK(hr != VSS_S_ASYNC_PENDING, "WS-6: DoSnapshotSet still runs %u ms after it started (hold window %u ms)",
              HOLD_WINDOW_MS + 3 * margin, HOLD_WINDOW_MS);
        vss_async_release(a);
        uint64_t elapsed = ms_since(t0, t_end);
        itest_note("DoSnapshotSet -> %s in %" PRIu64 " ms (hold window %u ms)", itest_hr_str(hr), elapsed,
                   HOLD_WINDOW_MS);
        CHECK_HR(hr, VSS_E_HOLD_WRITES_TIMEOUT, "WS-6: DoSnapshotSet with a provider that hangs in commit");
        CHECK(elapsed >= HOLD_WINDOW_MS, "WS-6: the set failed after %" PRIu64 " ms, before the %u ms window closed",
              elapsed, HOLD_WINDOW_MS);
        CHECK(elapsed <= HOLD_WINDOW_MS + margin, "WS-6: the set failed after %" PRIu64 " ms, bound %u + %u ms",
              elapsed, HOLD_WINDOW_MS, margin);

        /* every writer was frozen, then thawed by lvssd's Abort within the window + margin, never by Thaw */
        for (size_t i = 0; i < 2; i++) {
                itest_writer *w = ws[i];
                size_t fr = itest_wait_event(env, w, "Freeze", &sid, "ok", itest_ms(env, 2000));
                size_t ab = itest_wait_event(env, w, "Abort", &sid, "ok", itest_ms(env, 2000));
                uint64_t at = ms_since(t0, w->p.out.lines[ab].mono_usec);
                CHECK(fr < ab, "%s: Abort before Freeze", w->p.label);
                CHECK(at <= HOLD_WINDOW_MS + margin, "WS-6: %s was thawed (Abort) %" PRIu64 " ms after DoSnapshotSet "
                      "began, bound %u + %u ms", w->p.label, at, HOLD_WINDOW_MS, margin);
                CHECK(itest_find_event(w, "Thaw", &sid, NULL, 0, SIZE_MAX) < 0, "%s got Thaw for a failed set",
                      w->p.label);
                CHECK(itest_find_event(w, "PostSnapshot", &sid, NULL, 0, SIZE_MAX) < 0,
                      "%s got PostSnapshot for a failed set", w->p.label);
        }

        /* the provider's program is ended with the commit */
        struct pollfd p = { .fd = program_pidfd, .events = POLLIN };
        if (poll(&p, 1, (int) margin) <= 0) {
                program_kill();
                FAIL("WS-6: the provider's commit program (pid %d) still runs %u ms after the set failed", (int) pid,
                     margin);
        }
        close(program_pidfd);
        program_pidfd = -1;

        /* the set is undone: the provider's abort ran, nothing of the set is left anywhere */
        char *calls_path = xprintf("%s/calls", fake);
        char *calls = itest_read_file(calls_path);
        char *abort_call = xprintf("abort %.36s %.36s ", itest_id_str(&set) + 1, itest_id_str(&snap_fake) + 1);
        CHECK(calls && strstr(calls, abort_call), "the fake provider's abort was not called (\"%s\"); calls:\n%s",
              abort_call, calls ? calls : "(none)");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "%d snapshot row(s) of the failed set in the catalog",
              itest_catalog_snapshot_count(env, &sid));
        CHECK(set_dir_entries(env, &set) == 0, "%d entr(y/ies) of the failed set left in the storage area",
              set_dir_entries(env, &set));
        char *fake_copy = xprintf("%s/snaps/%.36s", fake, itest_id_str(&snap_fake) + 1);
        struct stat st;
        CHECK(lstat(fake_copy, &st) < 0, "the fake provider's copy %s is left", fake_copy);
        vss_snapshot_prop prop;
        vss_hresult phr = vss_get_snapshot_properties(bc, &snap_copy, &prop);
        if (VSS_SUCCEEDED(phr))
                vss_free_snapshot_properties(&prop);
        CHECK(VSS_FAILED(phr), "the copy provider's shadow copy of the failed set still has properties");

        /* nobody is left frozen or busy */
        itest_statuses sts;
        itest_gather_status(env, bc, &sts);
        itest_check_status_set(&sts, &sid, ws, 2);
        for (size_t i = 0; i < sts.n; i++) {
                CHECK(sts.v[i].s.state != VSS_WS_WAITING_FOR_THAW, "%s is still reported frozen (waiting for thaw)", sts.v[i].writer_name);
                CHECK(!sts.v[i].s.event_in_progress, "%s still has an event in progress", sts.v[i].writer_name);
        }
        itest_statuses_free(&sts);
        itest_requester_release(env, bc);

        /* the next set goes through (the window is over, the set no longer "in progress") */
        unlink(hang);
        bc = itest_requester(env, false);
        vss_id sid2 = itest_session_id(bc), set2, snap2;
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set2), VSS_S_OK, "the next StartSnapshotSet");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &fake_id, &snap2), VSS_S_OK, "add (fake)");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        for (size_t i = 0; i < 2; i++)
                itest_wait_event(env, ws[i], "Thaw", &sid2, "ok", itest_ms(env, 2000));
        itest_requester_release(env, bc);

        free(fake_copy);
        free(abort_call);
        free(calls);
        free(calls_path);
        free(pid_text);
        free(marker);
        free(second);
        free(config);
        free(text);
        free(hang);
        free(fake);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ws6_provider_hangs_in_commit, itest_setup, hold_teardown),
        };
        return ITEST_MAIN("hold-window", tests);
}

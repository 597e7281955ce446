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
 *
 * Issue 8 item 3: the hold window of a set is also bounded by its writers.
 * A writer's library thaws the application on its own once its freeze
 * timeout has passed since Freeze, so a copy made later is not consistent.
 * lvssd ends the commit at the earliest freeze deadline of the writers it
 * froze, less a margin (--freeze-margin, default 1 s, at most a quarter of
 * the freeze timeout), when that comes before the configured hold window.
 * Both orders of the two limits are tested with a provider whose commit
 * waits until the test lets it go on (and then succeeds): a commit released
 * only after the short-timeout writer was thawed must not make a "successful"
 * set. And the tools act on writer status: `vssadmin create shadow` exits 1
 * when a writer taking part failed, naming it and its failure in one line.
 *
 * Issue 11 §5: the catalog thread writes nothing of a Freeze while the
 * writers are frozen (test_freeze_rows_after_the_window), nor does another
 * session's fan-out or end (test_freeze_rows_not_by_another_session); a
 * session that ends frozen leaves no window open
 * (test_freeze_window_ends_with_the_session).
 */

#include <inttypes.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define HOLD_WINDOW_MS 1500

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
        char *p = itest_xprintf("%s/shadows/%s", env->state_dir, itest_id_str(set) + 1);
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
        char *hang = itest_xprintf("%s/hang-commit", fake);
        itest_write_file(hang, "", 0);
        char *text = itest_xprintf("[Coordinator]\nExecProvider=hangs:%s/provider\n", fake);
        char *config = itest_xprintf("%s/lvssd.conf", env->dir);
        itest_write_file(config, text, strlen(text));
        itest_start_lvssd_config(env, &opts, config);
        CHECK_HR(itest_provider_id(env->socket_path, "hangs", &fake_id), VSS_S_OK, "the fake provider is listed");

        /* freeze timeouts far beyond the window: a thaw within it is lvssd's doing */
        itest_writer *w1 = WRITER(env, "w1", "--freeze-timeout", "30000");
        itest_writer *w2 = WRITER(env, "w2", "--freeze-timeout", "30000");
        itest_writer *ws[] = { w1, w2 };

        /* two volumes, two providers, one window: copy commits first, then the fake hangs */
        char *second = itest_xprintf("%s/second", env->dir);
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
        char *marker = itest_xprintf("%s/commit-started", fake);
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
        char *calls_path = itest_xprintf("%s/calls", fake);
        char *calls = itest_read_file(calls_path);
        char *abort_call = itest_xprintf("abort %.36s %.36s ", itest_id_str(&set) + 1, itest_id_str(&snap_fake) + 1);
        CHECK(calls && strstr(calls, abort_call), "the fake provider's abort was not called (\"%s\"); calls:\n%s",
              abort_call, calls ? calls : "(none)");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "%d snapshot row(s) of the failed set in the catalog",
              itest_catalog_snapshot_count(env, &sid));
        CHECK(set_dir_entries(env, &set) == 0, "%d entr(y/ies) of the failed set left in the storage area",
              set_dir_entries(env, &set));
        char *fake_copy = itest_xprintf("%s/snaps/%.36s", fake, itest_id_str(&snap_fake) + 1);
        struct stat st;
        CHECK(lstat(fake_copy, &st) < 0, "the fake provider's copy %s is left", fake_copy);
        vss_snapshot_prop prop = { .size = sizeof(vss_snapshot_prop) };
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

/* ---- issue 8 item 3: the hold window is bounded by the writers' freeze timeouts --------------- */

/* lvssd's documented default --freeze-margin, and the rule: at most a quarter of the freeze timeout. */
#define FREEZE_MARGIN_MS 1000u

static unsigned lvssd_margin_ms(unsigned freeze_timeout_ms) {
        return freeze_timeout_ms / 4 < FREEZE_MARGIN_MS ? freeze_timeout_ms / 4 : FREEZE_MARGIN_MS;
}

/*
 * An exec provider (DIR/slow-provider, DIR = <test dir>/slow) whose commit
 * appends its pid to DIR/commit-started, then waits until a line is written
 * to the FIFO DIR/go, then copies the volume like a real one and succeeds.
 * The commit is "slow" exactly as long as the test wants, no sleeping.
 */
static char *slow_provider(itest_env *env) {
        char *dir = itest_xprintf("%s/slow", env->dir);
        char *program = itest_xprintf("%s/slow-provider", dir);
        char *fifo = itest_xprintf("%s/go", dir);

        CHECK(strchr(dir, '\'') == NULL, "a quote in %s", dir);
        CHECK(mkdir(dir, 0755) == 0, "mkdir %s: %m", dir);
        CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s: %m", fifo);
        char *script = itest_xprintf(
                "#!/bin/sh\n"
                "# A slow lvss exec provider for test-hold-window: commit waits for the test.\n"
                "D='%s'\n"
                "echo \"$*\" >> \"$D/calls\"\n"
                "case \"$1\" in\n"
                "is-supported) [ -d \"$2\" ] ;;\n"
                "prepare) [ -d \"$4\" ] ;;\n"
                "commit)\n"
                "        echo $$ >> \"$D/commit-started\"\n"
                "        read -r _ < \"$D/go\" || exit 1\n"
                "        mkdir -p \"$D/snaps/$3\" && cp -a \"$4/.\" \"$D/snaps/$3/\" && echo \"$D/snaps/$3\" ;;\n"
                "delete) rm -rf -- \"$2\" ;;\n"
                "abort) rm -rf -- \"$D/snaps/$3\" ;;\n"
                "*) echo \"slow-provider: unknown step $1\" >&2; exit 2 ;;\n"
                "esac\n",
                dir);
        itest_write_file(program, script, strlen(script));
        CHECK(chmod(program, 0755) == 0, "chmod %s: %m", program);
        free(script);
        free(program);
        free(fifo);
        return dir;
}

/* Lets the slow commit go on. False when no commit waits any more (lvssd already ended it). */
static bool slow_release(const char *dir) {
        char *fifo = itest_xprintf("%s/go", dir);
        int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        bool ok = false;

        if (fd >= 0) {
                ok = write(fd, "go\n", 3) == 3;
                close(fd);
        } else
                CHECK(errno == ENXIO, "open %s: %m", fifo);
        free(fifo);
        return ok;
}

/*
 * slow_release for a commit that is known to wait: its script writes its line
 * to commit-started just before it opens the FIFO, so the reader may not be
 * there yet when the test sees the line; poll for it (generous deadline).
 */
static bool slow_release_waiting(itest_env *env, const char *dir) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 10000) * 1000u;

        for (;;) {
                if (slow_release(dir))
                        return true;
                if (itest_now_mono_usec() >= deadline)
                        return false;
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                (void) nanosleep(&ts, NULL);
        }
}

/* Starts lvssd with the slow provider and @hold_ms as its hold window; returns the provider's id. */
static vss_id slow_lvssd(itest_env *env, const char *dir, unsigned hold_ms) {
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 20000, .hold_window_ms = hold_ms };
        char *text = itest_xprintf("[Coordinator]\nExecProvider=slow:%s/slow-provider\n", dir);
        char *config = itest_xprintf("%s/lvssd.conf", env->dir);
        vss_id id;

        itest_write_file(config, text, strlen(text));
        itest_start_lvssd_config(env, &opts, config);
        CHECK_HR(itest_provider_id(env->socket_path, "slow", &id), VSS_S_OK, "the slow provider is listed");
        free(config);
        free(text);
        return id;
}

typedef struct slow_set {
        vss_backup_components *bc;
        vss_id sid, set, snap;
        uint64_t t0;
        vss_async *a;
} slow_set;

/* A set of env->data_dir on the slow provider, DoSnapshotSet started; returns once the commit waits. */
static void slow_set_begin(itest_env *env, const vss_id *provider, const char *dir, size_t n_commit,
                           itest_writer *const *ws, size_t n, slow_set *ret) {
        char *marker = itest_xprintf("%s/commit-started", dir);

        ret->bc = itest_requester(env, false);
        ret->sid = itest_session_id(ret->bc);
        STEP_OK(env, ret->bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(ret->bc, &ret->set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(ret->bc, env->data_dir, provider, &ret->snap), VSS_S_OK, "add %s (slow)",
                 env->data_dir);
        STEP_OK(env, ret->bc, vss_prepare_for_backup);

        ret->t0 = itest_now_mono_usec();
        CHECK_HR(vss_do_snapshot_set(ret->bc, &ret->a), VSS_S_OK, "vss_do_snapshot_set");
        /* the writers' lines are read (and stamped) as they come, before waiting on the file */
        for (size_t i = 0; i < n; i++)
                itest_wait_event(env, ws[i], "Freeze", &ret->sid, "ok", itest_ms(env, 10000));
        CHECK(itest_wait_file_lines(env, marker, n_commit, itest_ms(env, 10000)),
              "the slow provider's commit #%zu never started", n_commit);
        free(marker);
}

/* Waits (bounded) for DoSnapshotSet; returns its result and the time it took, in ms. */
static vss_hresult slow_set_wait(itest_env *env, slow_set *st, unsigned bound_ms, uint64_t *ret_ms) {
        vss_hresult hr = vss_async_wait(st->a, bound_ms);
        uint64_t t_end = itest_now_mono_usec();

        CHECK(hr != VSS_S_ASYNC_PENDING, "DoSnapshotSet still runs %u ms after it started", bound_ms);
        st->a = vss_async_release(st->a);
        *ret_ms = ms_since(st->t0, t_end);
        itest_note("DoSnapshotSet -> %s in %" PRIu64 " ms", itest_hr_str(hr), *ret_ms);
        return hr;
}

/* Nothing of the failed set anywhere; every writer got Abort and neither Thaw nor PostSnapshot. */
static void check_set_undone(itest_env *env, const char *dir, slow_set *st, itest_writer *const *ws, size_t n) {
        char *copy = itest_xprintf("%s/snaps/%.36s", dir, itest_id_str(&st->snap) + 1);
        struct stat sb;

        for (size_t i = 0; i < n; i++) {
                itest_wait_event(env, ws[i], "Abort", &st->sid, "ok", itest_ms(env, 5000));
                CHECK(itest_find_event(ws[i], "Thaw", &st->sid, NULL, 0, SIZE_MAX) < 0,
                      "item 8.3: %s got Thaw for a set whose hold window was over", ws[i]->p.label);
                CHECK(itest_find_event(ws[i], "PostSnapshot", &st->sid, NULL, 0, SIZE_MAX) < 0,
                      "item 8.3: %s got PostSnapshot for a failed set", ws[i]->p.label);
        }
        CHECK(itest_catalog_snapshot_count(env, &st->sid) == 0, "%d snapshot row(s) of the failed set in the catalog",
              itest_catalog_snapshot_count(env, &st->sid));
        CHECK(lstat(copy, &sb) < 0, "item 8.3: the failed set's shadow copy %s is left", copy);
        vss_snapshot_prop prop = { .size = sizeof(vss_snapshot_prop) };
        vss_hresult phr = vss_get_snapshot_properties(st->bc, &st->snap, &prop);
        if (VSS_SUCCEEDED(phr))
                vss_free_snapshot_properties(&prop);
        CHECK(VSS_FAILED(phr), "item 8.3: the failed set's shadow copy still has properties");
        free(copy);
}

/*
 * Issue 8 item 3, the order of the report: a writer's freeze timeout (3 s)
 * is shorter than the hold window (8 s) and the commit is slow. lvssd ends
 * the commit before that writer's own timer fires: the set fails with
 * VSS_E_HOLD_WRITES_TIMEOUT no earlier than its freeze timeout less lvssd's
 * margin and before the freeze timeout, every writer gets Abort (the writer
 * with the short timeout exactly once: its own timer never fired), nothing
 * of the set is left. The commit is let go on once that writer got Abort,
 * whoever sent it: before the fix the copy was then made after the writer
 * had thawed itself, and DoSnapshotSet succeeded. Then a set whose commit is
 * quick goes through with the same writers: the bound fails no set needlessly.
 */
static void test_item3_freeze_timeout_shorter_than_hold_window(void **state) {
        itest_env *env = *state;
        unsigned margin = itest_margin_ms(env);
        unsigned hold_ms = itest_ms(env, 8000);
        char *dir = slow_provider(env);
        vss_id provider = slow_lvssd(env, dir, hold_ms);
        itest_writer *quick = WRITER(env, "short-freeze-timeout", "--freeze-timeout", "3000");
        itest_writer *calm = WRITER(env, "long-freeze-timeout", "--freeze-timeout", "30000");
        itest_writer *ws[] = { quick, calm };
        unsigned freeze_ms = quick->freeze_timeout_ms; /* as scaled by the harness */
        unsigned lower_ms = freeze_ms - lvssd_margin_ms(freeze_ms);
        slow_set st = { 0 };
        uint64_t ms;

        CHECK(freeze_ms < hold_ms, "setup: the freeze timeout %u ms is not shorter than the hold window %u ms",
              freeze_ms, hold_ms);
        slow_set_begin(env, &provider, dir, 1, ws, 2, &st);

        /* the short-timeout writer is thawed (Abort) by lvssd or, before the fix, by its own timer */
        itest_wait_event(env, quick, "Abort", &st.sid, "begin", freeze_ms + margin);
        bool released = slow_release(dir);
        itest_note("the commit %s after %s got Abort", released ? "was let go on" : "was already ended",
                   quick->p.label);

        vss_hresult hr = slow_set_wait(env, &st, hold_ms + margin, &ms);
        CHECK_HR(hr, VSS_E_HOLD_WRITES_TIMEOUT,
                 "item 8.3: DoSnapshotSet whose commit outlasted writer %s's freeze timeout of %u ms",
                 quick->p.label, freeze_ms);
        CHECK(ms >= lower_ms, "item 8.3: the set failed after %" PRIu64 " ms, before the effective hold window "
              "(freeze timeout %u ms less the margin) was over", ms, freeze_ms);
        CHECK(ms <= freeze_ms + margin, "item 8.3: the set failed after %" PRIu64 " ms, bound: the freeze timeout "
              "%u ms + %u ms", ms, freeze_ms, margin);
        check_set_undone(env, dir, &st, ws, 2);
        CHECK(itest_count_events(quick, "Abort", &st.sid, "begin") == 1,
              "item 8.3: %s was thawed by its own freeze timeout before lvssd's Abort (%zu Abort events)",
              quick->p.label, itest_count_events(quick, "Abort", &st.sid, "begin"));
        itest_requester_release(env, st.bc);

        /* a commit that is done in time makes the set, with the same writers */
        slow_set st2 = { 0 };
        slow_set_begin(env, &provider, dir, 2, ws, 2, &st2);
        CHECK(slow_release_waiting(env, dir), "the second commit does not wait");
        CHECK_HR(slow_set_wait(env, &st2, itest_step_bound(env), &ms), VSS_S_OK, "a set whose commit is quick");
        for (size_t i = 0; i < 2; i++) {
                itest_wait_event(env, ws[i], "Thaw", &st2.sid, "ok", itest_ms(env, 5000));
                CHECK(itest_find_event(ws[i], "Abort", &st2.sid, NULL, 0, SIZE_MAX) < 0, "%s got Abort",
                      ws[i]->p.label);
        }
        itest_requester_release(env, st2.bc);
        free(dir);
}

/*
 * Issue 8 item 3, the other order: the hold window (2 s) is shorter than
 * every writer's freeze timeout (12 s: its deadline less the margin, 11 s,
 * is well after the window and the test's margin). The configured hold window binds: the set fails
 * with VSS_E_HOLD_WRITES_TIMEOUT no earlier than the window and within it
 * plus a margin, the writers are released by lvssd's Abort, nothing is left,
 * and the commit let go on afterwards changes nothing.
 */
static void test_item3_hold_window_shorter_than_freeze_timeout(void **state) {
        itest_env *env = *state;
        unsigned margin = itest_margin_ms(env);
        unsigned hold_ms = itest_ms(env, 2000);
        char *dir = slow_provider(env);
        vss_id provider = slow_lvssd(env, dir, hold_ms);
        itest_writer *w1 = WRITER(env, "w1", "--freeze-timeout", "12000");
        itest_writer *w2 = WRITER(env, "w2", "--freeze-timeout", "30000");
        itest_writer *ws[] = { w1, w2 };
        slow_set st = { 0 };
        uint64_t ms;

        CHECK(w1->freeze_timeout_ms - lvssd_margin_ms(w1->freeze_timeout_ms) > hold_ms + margin,
              "setup: the freeze deadline must come well after the hold window");
        slow_set_begin(env, &provider, dir, 1, ws, 2, &st);
        vss_hresult hr = slow_set_wait(env, &st, hold_ms + 3 * margin, &ms);
        (void) slow_release(dir);
        CHECK_HR(hr, VSS_E_HOLD_WRITES_TIMEOUT, "WS-6: DoSnapshotSet whose commit outlasted the hold window");
        CHECK(ms >= hold_ms, "WS-6: the set failed after %" PRIu64 " ms, before the %u ms hold window closed", ms,
              hold_ms);
        CHECK(ms <= hold_ms + margin, "WS-6: the set failed after %" PRIu64 " ms, bound %u + %u ms", ms, hold_ms,
              margin);
        check_set_undone(env, dir, &st, ws, 2);
        for (size_t i = 0; i < 2; i++)
                CHECK(itest_count_events(ws[i], "Abort", &st.sid, "begin") == 1,
                      "%s was thawed by its own freeze timeout, not by lvssd", ws[i]->p.label);
        itest_requester_release(env, st.bc);
        free(dir);
}

/* The catalog's history rows of session @sid for @event (-1 when the catalog cannot be read). */
static int history_rows(itest_env *env, const vss_id *sid, vss_writer_event event) {
        char *sql = itest_xprintf("SELECT count(*) FROM writer_status WHERE session_id = '%s' AND event = %d",
                                  itest_id_str(sid), (int) event);
        char *got = itest_catalog_query(env, sql);
        int n = got ? atoi(got) : -1;

        free(got);
        free(sql);
        return n;
}

/*
 * Issue 11 §5, nothing of lvssd's own in the freeze window: the history rows
 * of a Freeze wait in memory for the fan-out that ends the window (Thaw, or
 * Abort), so that the catalog thread does not take the CPU from the commit
 * while writers are frozen. While the slow commit waits, a second session is
 * opened: OpenSession is answered once that session's catalog row is written,
 * and the catalog thread writes in the order it is given, so every row queued
 * before it is on disk by then. The set's PrepareForSnapshot rows are (one
 * per writer); its Freeze rows are not. Once the commit goes on, the set is
 * made, and the Freeze rows are written with Thaw's. Before the change the
 * Freeze rows were on disk while the commit waited.
 */
static void test_freeze_rows_after_the_window(void **state) {
        itest_env *env = *state;
        char *dir = slow_provider(env);
        vss_id provider = slow_lvssd(env, dir, itest_ms(env, 30000));
        itest_writer *ws[] = { WRITER(env, "w1"), WRITER(env, "w2") };
        slow_set st = { 0 };
        char *reason = NULL;
        uint64_t ms;

        slow_set_begin(env, &provider, dir, 1, ws, 2, &st);
        vss_backup_components *other = itest_requester(env, false); /* answered after its catalog row */
        int prepared = history_rows(env, &st.sid, VSS_EVENT_PREPARE_SNAPSHOT);
        int frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        itest_note("while the commit waits: %d PrepareForSnapshot rows, %d Freeze rows", prepared, frozen);
        CHECK(prepared == 2, "the catalog has %d PrepareForSnapshot rows of the set's session while the commit "
              "waits, expected 2 (one per writer)", prepared);
        CHECK(frozen == 0, "issue 11 §5: the catalog has %d Freeze rows while the writers are frozen: the catalog "
              "thread wrote them in the freeze window", frozen);

        CHECK(slow_release_waiting(env, dir), "the slow commit was not waiting");
        CHECK_HR(slow_set_wait(env, &st, itest_ms(env, 20000), &ms), VSS_S_OK, "DoSnapshotSet");
        STEP_OK(env, st.bc, vss_backup_complete);
        itest_requester_release(env, st.bc);
        itest_requester_release(env, other);
        free(itest_wait_session_end(env, &st.sid, &reason, itest_ms(env, 30000)));
        free(reason);
        /* the session's end row is queued after its history: every row is on disk now */
        frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        int thawed = history_rows(env, &st.sid, VSS_EVENT_THAW);
        CHECK(frozen == 2 && thawed == 2, "after the session: %d Freeze and %d Thaw rows, expected 2 and 2", frozen,
              thawed);
        free(dir);
}

/* A barrier on the catalog: OpenSession is answered once the new session's row is written, and the
 * catalog thread writes in the order it is given, so every row queued before is on disk then. */
static vss_backup_components *catalog_barrier(itest_env *env) {
        return itest_requester(env, false);
}

/*
 * Issue 11 §5, no other session writes a frozen session's rows: while the
 * set's commit waits (its writers frozen), a second session B gathers the
 * writers' metadata (an Identify fan-out to both; it makes no history rows
 * of its own) and then ends (a BackupShutdown fan-out to both, then its end
 * row). The rule (manager.h): while any session's writers are frozen, lvssd
 * writes no rows that nobody waits for, and never a frozen session's rows
 * but at its own asking. So after B's Identify the catalog has none of the
 * set's Freeze rows, nor after B's GetRecordStatus (whose answer waits for
 * B's rows, not the frozen session's); after B's end (its end row is written after its
 * history) B's BackupShutdown rows are there, still none of the Freeze rows.
 * Once the commit goes on, the Thaw fan-out ends the window: the Freeze and
 * Thaw rows are on disk before the session ends. Before the change B's
 * Identify fan-out wrote every queued row, the frozen session's Freeze rows
 * with them.
 */
static void test_freeze_rows_not_by_another_session(void **state) {
        itest_env *env = *state;
        char *dir = slow_provider(env);
        vss_id provider = slow_lvssd(env, dir, itest_ms(env, 30000));
        itest_writer *ws[] = { WRITER(env, "w1"), WRITER(env, "w2") };
        slow_set st = { 0 };
        char *reason = NULL;
        uint64_t ms;

        slow_set_begin(env, &provider, dir, 1, ws, 2, &st);
        vss_backup_components *b = itest_requester(env, false);
        vss_id bsid = itest_session_id(b);
        STEP_OK(env, b, vss_gather_writer_metadata);
        vss_backup_components *barrier = catalog_barrier(env);
        int frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        itest_note("after B's Identify, the commit waiting: %d Freeze rows of the set", frozen);
        CHECK(frozen == 0, "issue 11 §5: another session's fan-out wrote %d Freeze rows of the frozen session "
              "while its commit waits", frozen);
        /* B's GetRecordStatus is answered once B's rows are written: not the frozen session's */
        bool complete = false;
        CHECK_HR(vss_get_session_record_status(b, &complete, NULL), VSS_S_OK, "B's record status");
        CHECK(complete, "B's record is incomplete");
        frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        CHECK(frozen == 0, "issue 11 §5: another session's GetRecordStatus wrote %d Freeze rows of the frozen "
              "session", frozen);

        itest_requester_release(env, b);
        free(itest_wait_session_end(env, &bsid, &reason, itest_ms(env, 30000)));
        free(reason);
        reason = NULL;
        frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        int shut = history_rows(env, &bsid, VSS_EVENT_BACKUP_SHUTDOWN);
        itest_note("after B's end, the commit waiting: %d Freeze rows of the set, %d BackupShutdown rows of B",
                   frozen, shut);
        CHECK(shut == 2, "B's end row is written after its history: %d BackupShutdown rows of B, expected 2", shut);
        CHECK(frozen == 0, "issue 11 §5: B's end wrote %d Freeze rows of the frozen session", frozen);

        CHECK(slow_release_waiting(env, dir), "the slow commit was not waiting");
        CHECK_HR(slow_set_wait(env, &st, itest_ms(env, 20000), &ms), VSS_S_OK, "DoSnapshotSet");
        /* the Thaw fan-out ended the window: the Freeze rows go with its own */
        itest_requester_release(env, barrier);
        barrier = catalog_barrier(env);
        frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        int thawed = history_rows(env, &st.sid, VSS_EVENT_THAW);
        CHECK(frozen == 2 && thawed == 2, "after the Thaw: %d Freeze and %d Thaw rows, expected 2 and 2", frozen,
              thawed);
        STEP_OK(env, st.bc, vss_backup_complete);
        itest_requester_release(env, st.bc);
        itest_requester_release(env, barrier);
        free(itest_wait_session_end(env, &st.sid, &reason, itest_ms(env, 30000)));
        free(reason);
        free(dir);
}

/*
 * Issue 11 §5, a freeze window never stays open: the requester of the set
 * goes away while its commit waits (its writers frozen). lvssd ends the
 * commit, sends Abort and ends the session; its rows are written at its end.
 * Afterwards nothing is frozen any more, so a later session's fan-out writes
 * its rows at once: B's PrepareForBackup rows are on disk before B ends. (A count of
 * frozen sessions left up by a session that ended frozen would hold B's rows
 * in memory until lvssd stops.) Before the change nothing was ever held, so
 * this passes there too; it fails when the window is not ended by the
 * session's Abort and free (checked by taking those out).
 */
static void test_freeze_window_ends_with_the_session(void **state) {
        itest_env *env = *state;
        char *dir = slow_provider(env);
        vss_id provider = slow_lvssd(env, dir, itest_ms(env, 30000));
        itest_writer *ws[] = { WRITER(env, "w1"), WRITER(env, "w2") };
        slow_set st = { 0 };
        char *reason = NULL;

        slow_set_begin(env, &provider, dir, 1, ws, 2, &st);
        /* the requester goes while the commit waits */
        st.a = vss_async_release(st.a);
        itest_requester_release(env, st.bc);
        for (size_t i = 0; i < 2; i++)
                itest_wait_event(env, ws[i], "Abort", &st.sid, "ok", itest_ms(env, 10000));
        free(itest_wait_session_end(env, &st.sid, &reason, itest_ms(env, 30000)));
        free(reason);
        int frozen = history_rows(env, &st.sid, VSS_EVENT_FREEZE);
        int aborted = history_rows(env, &st.sid, VSS_EVENT_ABORT);
        CHECK(frozen == 2 && aborted == 2, "after the frozen session's end: %d Freeze and %d Abort rows, expected 2 "
              "and 2", frozen, aborted);

        vss_backup_components *b = itest_requester(env, false);
        vss_id bsid = itest_session_id(b);
        STEP_OK(env, b, vss_gather_writer_metadata);
        vss_id bset;
        CHECK_HR(vss_start_snapshot_set(b, &bset), VSS_S_OK, "vss_start_snapshot_set (the other set is over)");
        STEP_OK(env, b, vss_prepare_for_backup);
        vss_backup_components *barrier = catalog_barrier(env);
        int prepared = history_rows(env, &bsid, VSS_EVENT_PREPARE_BACKUP);
        itest_note("after the frozen session ended, B's PrepareForBackup: %d rows on disk at once", prepared);
        CHECK(prepared == 2, "issue 11 §5: B's PrepareForBackup rows are not written when its fan-out ends (%d, "
              "expected 2): a freeze window stayed open after its session ended", prepared);
        itest_requester_release(env, barrier);
        itest_requester_release(env, b);
        (void) slow_release(dir); /* a commit lvssd did not end (it should have) */
        free(dir);
}

/*
 * Issue 8 item 3 (the tools act on writer status): `vssadmin create shadow`
 * exits 1 when a writer taking part ends the backup failed (here at
 * PostSnapshot, which vetoes nothing), with that writer and its failure in
 * one line on stderr. With writers that are fine it still exits 0.
 */
static void test_item3_vssadmin_create_shadow_writer_fails(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 20000 };
        char *vssadmin = itest_xprintf("%s/tools/vssadmin", env->build_root);
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "create", "shadow", "--for", env->data_dir,
                               NULL };

        itest_start_lvssd(env, &opts);
        (void) WRITER(env, "good");

        itest_proc *p = itest_spawn_program(env, "vssadmin create shadow", argv, true, false);
        int code = itest_program_exit(env, p, itest_ms(env, 60000));
        char *err = itest_read_file(p->log_path);
        CHECK(code == 0, "vssadmin create shadow with a good writer exited %d:\n%s", code, err ? err : "");
        free(err);

        (void) WRITER(env, "bad", "--fail-at", "PostSnapshot", "--fail-code",
                                   "VSS_E_WRITERERROR_RETRYABLE", "--app-message", "bad: cannot note the backup");
        p = itest_spawn_program(env, "vssadmin create shadow", argv, true, false);
        code = itest_program_exit(env, p, itest_ms(env, 60000));
        err = itest_read_file(p->log_path);
        itest_note("vssadmin create shadow with a failing writer: exit %d\n%s", code, err ? err : "");
        CHECK(code == 1, "item 8.3: vssadmin create shadow with writer 'bad' failing PostSnapshot exited %d:\n%s",
              code, err ? err : "");
        /* one line names the writer, the event and the failure */
        bool found = false;
        for (char *line = err, *next; line && *line && !found; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                found = strstr(line, "writer 'bad'") && strstr(line, "PostSnapshot") &&
                        strstr(line, "VSS_E_WRITERERROR_RETRYABLE") && strstr(line, "bad: cannot note the backup");
        }
        CHECK(found, "item 8.3: no line on stderr names writer 'bad', PostSnapshot and its failure:\n%s",
              err ? err : "");
        free(err);
        free(vssadmin);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ws6_provider_hangs_in_commit, itest_setup, hold_teardown),
                ITEST(test_item3_freeze_timeout_shorter_than_hold_window),
                ITEST(test_item3_hold_window_shorter_than_freeze_timeout),
                ITEST(test_item3_vssadmin_create_shadow_writer_fails),
                ITEST(test_freeze_rows_after_the_window),
                ITEST(test_freeze_rows_not_by_another_session),
                ITEST(test_freeze_window_ends_with_the_session),
        };
        return ITEST_MAIN("hold-window", tests);
}

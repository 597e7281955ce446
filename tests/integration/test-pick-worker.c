/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §1 ("What is left" item 3): one worker per session answers
 * IsVolumeSupported / AddToSnapshotSet volume after volume, instead of a
 * fork per volume (src/coordinator/worker.c, worker_ask()).
 *
 * The provider is an exec provider (ExecProvider=pick:PROGRAM), a shell
 * script this test writes: each call appends "STEP VOLUME $PPID" to
 * DIR/calls. The exec provider runs it straight from the worker (fork +
 * execve, no shell between), so $PPID is the worker that asked. When a
 * volume is named in DIR/hang, its is-supported says "hanging PID" in
 * DIR/hanging and blocks reading a FIFO nobody writes (a shell builtin).
 *   - test_one_worker_per_set: four AddToSnapshotSet and an IsVolumeSupported
 *     cost one worker (one distinct $PPID, not lvssd itself); it is ended
 *     when the set moves on (PrepareForBackup), and lvssd holds as many
 *     descriptors after the session as before it. Failed before (5 pids).
 *   - test_hang_in_second_volume: the second volume's check hangs: it is
 *     killed at ProviderStepTimeoutMS= and AddToSnapshotSet fails with
 *     today's VSS_E_UNEXPECTED_PROVIDER_ERROR; the hung program and the
 *     worker are gone; a third AddToSnapshotSet works, in a new worker.
 *   - test_idle_worker_ends: a worker asked nothing for 5 s ends; the next
 *     IsVolumeSupported forks a new one.
 *   - test_worker_dies_with_lvssd: lvssd SIGKILLed while its idle worker
 *     lives: the worker is gone afterwards (PR_SET_PDEATHSIG).
 * The other guarantees (the loop answers while a check hangs, another
 * session's Thaw goes through) are test-provider-hang's test_hang_is_supported.
 */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define STEP_DEADLINE_MS(env) itest_ms(env, 2500)
#define N_VOLUMES 4

typedef struct pick {
        itest_exec_provider prov; /* "pick" */
        char *volumes[N_VOLUMES];
} pick;

static void pick_start(itest_env *env, pick *p) {
        itest_exec_provider_write(env, &p->prov, "pick",
                                  "# test-pick-worker's exec provider (issue 11 §1)\n"
                                  "echo \"$1 $2 $PPID\" >> \"$D/calls\"\n"
                                  "if [ \"$1\" = is-supported ] && [ -f \"$D/hang\" ] && [ \"$(cat \"$D/hang\")\" = \"$2\" ]; then\n"
                                  "    echo \"hanging $$\" >> \"$D/hanging\"\n"
                                  "    read x < \"$D/fifo\"\n"
                                  "fi\n"
                                  "exit 0\n");
        for (size_t i = 0; i < N_VOLUMES; i++) {
                p->volumes[i] = itest_xprintf("%s/v%zu", env->dir, i);
                CHECK(mkdir(p->volumes[i], 0755) == 0, "mkdir %s: %m", p->volumes[i]);
        }

        /* the exec provider's own step timeout stays far beyond the worker's deadline */
        itest_lvssd_opts o = { .event_timeout_ms = 60000 };
        itest_exec_provider_start(env, &p->prov, &o, "ProviderStepTimeoutMS=%u\n", STEP_DEADLINE_MS(env));
}

static void pick_done(pick *p) {
        for (size_t i = 0; i < N_VOLUMES; i++)
                free(p->volumes[i]);
        itest_exec_provider_free(&p->prov);
}

/* The $PPID of each is-supported call so far, in order; returns how many (at most @max). */
static size_t call_ppids(pick *p, pid_t *ppids, size_t max) {
        char *path = itest_xprintf("%s/calls", p->prov.dir);
        char *text = itest_read_file(path);
        size_t n = 0;

        for (char *line = text ? strtok(text, "\n") : NULL; line && n < max; line = strtok(NULL, "\n")) {
                int ppid = 0;
                if (strncmp(line, "is-supported ", 13) == 0 && sscanf(strrchr(line, ' '), " %d", &ppid) == 1)
                        ppids[n++] = (pid_t) ppid;
        }
        free(text);
        free(path);
        return n;
}

static size_t distinct(const pid_t *pids, size_t n) {
        size_t d = 0;

        for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t j = 0; j < i; j++)
                        seen = seen || pids[j] == pids[i];
                d += !seen;
        }
        return d;
}

/* @pid is gone or a zombie (not ours to reap once its parent died). */
static bool pid_dead(pid_t pid) {
        char *path = itest_xprintf("/proc/%d/stat", (int) pid);
        char *stat = itest_read_file(path);
        const char *q = stat ? strrchr(stat, ')') : NULL;
        char state = 0;
        bool r = !q || sscanf(q, ") %c", &state) != 1 || state == 'Z' || state == 'X';

        free(stat);
        free(path);
        return r;
}

static bool pid_dead_cond(itest_env *env, void *userdata) {
        return pid_dead(*(pid_t *) userdata);
}

static int count_fds(pid_t pid) {
        char *path = itest_xprintf("/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;

        CHECK(d, "opendir %s: %m", path);
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        free(path);
        return n;
}

static bool fds_back(itest_env *env, void *userdata) {
        return count_fds(env->lvssd->pid) == *(int *) userdata;
}

/* No descriptor left of the worker(s): lvssd holds @before again (its end of a worker's socket and
 * status pipe are closed once the worker is reaped, on the loop: polled). */
static void check_fds(itest_env *env, int before) {
        CHECK(itest_poll_until(env, fds_back, &before, itest_ms(env, 5000)),
              "§1: lvssd holds %d descriptors once its workers are gone, %d before the first", count_fds(env->lvssd->pid),
              before);
}

/* Issue 11 §1: a set of four volumes (and an IsVolumeSupported in the same session) costs one
 * worker, ended when the set moves on; no descriptor of lvssd is left behind. */
static void test_one_worker_per_set(void **state) {
        itest_env *env = *state;
        pick p = {};
        pid_t ppids[16];
        vss_id set, snap;
        bool ok = false;

        pick_start(env, &p);
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        /* with the requester connected and no worker yet (the provider id's connection is closed by
         * now: lvssd answered two calls of this one since) */
        int fds_before = count_fds(env->lvssd->pid);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        for (size_t i = 0; i < N_VOLUMES; i++)
                CHECK_HR(vss_add_to_snapshot_set(bc, p.volumes[i], &p.prov.id, &snap), VSS_S_OK, "add %s", p.volumes[i]);
        CHECK_HR(vss_is_volume_supported(bc, &p.prov.id, p.volumes[0], &ok), VSS_S_OK, "vss_is_volume_supported");
        CHECK(ok, "the exec provider takes %s", p.volumes[0]);

        size_t n = call_ppids(&p, ppids, 16);
        CHECK(n == N_VOLUMES + 1, "%zu is-supported calls, expected %d", n, N_VOLUMES + 1);
        CHECK(distinct(ppids, n) == 1, "§1: %zu workers answered %zu checks of one set (one expected)",
              distinct(ppids, n), n);
        pid_t worker = ppids[0];
        CHECK(worker != env->lvssd->pid, "the checks ran in lvssd itself, not in a worker");
        CHECK(!pid_dead(worker), "the worker (pid %d) is gone before the set moved on", (int) worker);

        /* the set moves on: the worker ends */
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK(itest_poll_until(env, pid_dead_cond, &worker, itest_ms(env, 5000)),
              "§1: the worker (pid %d) still runs after PrepareForBackup", (int) worker);
        check_fds(env, fds_before);
        itest_requester_release(env, bc);
        CHECK(itest_poll_until(env, itest_lvssd_childless, NULL, itest_ms(env, 5000)), "%d child(ren) of lvssd left",
              itest_children_in_state(env->lvssd->pid, 0));
        pick_done(&p);
}

/* Issue 11 §1: a hang in the second volume's check: killed at the deadline, today's error; the
 * third volume is checked by a new worker. */
static void test_hang_in_second_volume(void **state) {
        itest_env *env = *state;
        pick p = {};
        pid_t ppids[16];
        vss_id set, snap;

        pick_start(env, &p);
        char *hang = itest_xprintf("%s/hang", p.prov.dir);
        itest_write_file(hang, p.volumes[1], strlen(p.volumes[1]));
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        /* with the requester connected and no worker yet (the provider id's connection is closed by
         * now: lvssd answered two calls of this one since) */
        int fds_before = count_fds(env->lvssd->pid);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, p.volumes[0], &p.prov.id, &snap), VSS_S_OK, "add %s", p.volumes[0]);

        uint64_t start = itest_now_mono_usec();
        CHECK_HR(vss_add_to_snapshot_set(bc, p.volumes[1], &p.prov.id, &snap), VSS_E_UNEXPECTED_PROVIDER_ERROR,
                 "§1: AddToSnapshotSet whose provider hangs in is-supported");
        uint64_t took = (itest_now_mono_usec() - start) / 1000;
        itest_note("AddToSnapshotSet failed after %" PRIu64 " ms (deadline %u ms)", took, STEP_DEADLINE_MS(env));
        CHECK(took + 100 >= STEP_DEADLINE_MS(env), "AddToSnapshotSet failed before the deadline (%" PRIu64 " ms)",
              took);
        char *hanging = itest_xprintf("%s/hanging", p.prov.dir);
        char *text = itest_read_file(hanging);
        CHECK(text && strncmp(text, "hanging ", 8) == 0, "the program never hung");
        pid_t hung = (pid_t) atoi(text + 8);
        CHECK(hung > 0, "no pid in %s", text);
        CHECK(itest_poll_until(env, pid_dead_cond, &hung, itest_ms(env, 5000)), "the hung program (pid %d) still runs",
              (int) hung);
        size_t n = call_ppids(&p, ppids, 16);
        CHECK(n == 2 && ppids[0] == ppids[1], "the first two checks ran in one worker (%zu calls)", n);
        pid_t first = ppids[0];
        CHECK(itest_poll_until(env, pid_dead_cond, &first, itest_ms(env, 5000)),
              "§1: the worker killed at its deadline (pid %d) is still there", (int) first);

        /* the next request forks a new worker */
        CHECK_HR(vss_add_to_snapshot_set(bc, p.volumes[2], &p.prov.id, &snap), VSS_S_OK, "add %s after the hang",
                 p.volumes[2]);
        n = call_ppids(&p, ppids, 16);
        CHECK(n == 3 && ppids[2] != first && ppids[2] != env->lvssd->pid,
              "§1: the third check ran in pid %d (the killed worker was %d)", n == 3 ? (int) ppids[2] : 0,
              (int) first);
        /* the set moves on: the new worker ends, and lvssd holds what it held before the first */
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK(itest_poll_until(env, itest_lvssd_childless, NULL, itest_ms(env, 5000)), "%d child(ren) of lvssd left",
              itest_children_in_state(env->lvssd->pid, 0));
        check_fds(env, fds_before);
        itest_requester_release(env, bc);
        free(text);
        free(hanging);
        free(hang);
        pick_done(&p);
}

/* Issue 11 §1: a worker nobody asks anything ends on its own (WORKER_IDLE_USEC, 5 s, worker.h); the
 * session's next IsVolumeSupported gets a new one. */
static void test_idle_worker_ends(void **state) {
        itest_env *env = *state;
        pick p = {};
        pid_t ppids[4];
        bool ok = false;

        pick_start(env, &p);
        vss_backup_components *bc = itest_requester(env, false);
        CHECK_HR(vss_is_volume_supported(bc, &p.prov.id, p.volumes[0], &ok), VSS_S_OK, "vss_is_volume_supported");
        CHECK(ok && call_ppids(&p, ppids, 4) == 1, "one is-supported call, answered yes, expected");
        pid_t worker = ppids[0];
        CHECK(!pid_dead(worker), "§1: the worker (pid %d) ended with its first answer", (int) worker);
        CHECK(itest_poll_until(env, pid_dead_cond, &worker, itest_ms(env, 20000)),
              "§1: the idle worker (pid %d) never ended", (int) worker);
        CHECK(itest_lvssd_log_has(env, "is_volume_supported: idle for"), "lvssd's log does not say the worker idled");
        CHECK_HR(vss_is_volume_supported(bc, &p.prov.id, p.volumes[1], &ok), VSS_S_OK, "IsVolumeSupported after the idle end");
        CHECK(ok && call_ppids(&p, ppids, 4) == 2 && ppids[1] != worker, "§1: the next check ran in a new worker");
        itest_requester_release(env, bc);
        pick_done(&p);
}

/* Issue 11 §1: lvssd SIGKILLed while its (idle) worker lives: the worker dies with it. */
static void test_worker_dies_with_lvssd(void **state) {
        itest_env *env = *state;
        pick p = {};
        pid_t ppids[4];
        vss_id set, snap;

        pick_start(env, &p);
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, p.volumes[0], &p.prov.id, &snap), VSS_S_OK, "add %s", p.volumes[0]);
        CHECK(call_ppids(&p, ppids, 4) == 1, "one is-supported call expected");
        pid_t worker = ppids[0];
        CHECK(!pid_dead(worker), "the worker (pid %d) is gone before lvssd was killed: the test proves nothing",
              (int) worker);

        itest_kill_lvssd(env);
        CHECK(itest_poll_until(env, pid_dead_cond, &worker, itest_ms(env, 5000)),
              "§1: the worker (pid %d) outlived lvssd", (int) worker);
        pick_done(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_one_worker_per_set),
                ITEST(test_hang_in_second_volume),
                ITEST(test_idle_worker_ends),
                ITEST(test_worker_dies_with_lvssd),
        };
        return ITEST_MAIN("pick-worker", tests);
}

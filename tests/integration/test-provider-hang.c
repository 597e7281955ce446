/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §1 "Nothing blocks lvssd's loop", the providers: "every provider
 * step ... runs in a worker ..., bounded by its deadline; a test for each: a
 * provider program that hangs in every step ... while each of these runs,
 * `vssadmin list writers` answers at once and another session's Thaw is not
 * delayed".
 *
 * The provider is an exec provider (ExecProvider=hang:PROGRAM), a shell
 * script this test writes. Each call is appended to DIR/calls; when its step
 * is named in DIR/hang it says "hanging STEP PID" in DIR/hanging and blocks
 * reading a FIFO nobody writes (a shell builtin: no grandchild). Its own step
 * timeout (EventTimeoutMS, the exec provider's) is far beyond the worker's
 * deadline ProviderStepTimeoutMS=, so what ends the hung step is lvssd's
 * worker deadline; the commit is bounded by the hold window (WS-6).
 *
 * One test per step: is-supported, prepare (begin_prepare), commit,
 * finalize (after PostSnapshot, auto-recovery), delete (DeleteShadows).
 * While the step hangs: ListWriters answers within a bound far below the
 * deadline, and another session gets through: where the set is free (the
 * hung IsVolumeSupported, the hung delete) a whole backup of another volume
 * with the copy provider, its writer frozen and thawed; where the hung
 * session holds the set (WS-10: one set in creation at a time), a metadata
 * gather of a second requester (a fan-out to the writer through the loop).
 * Then the hung step fails with its VSS error, and nothing is left: no child
 * of lvssd, the hung program gone, no catalog row or copy of a failed set,
 * the writer not left frozen.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "harness.h"
#include "protocol/protocol.h"

/*
 * The worker's deadline; every "answers at once" bound is a fraction of it. Scaled by at
 * most 4, not by the harness's factor (6 under valgrind): each hang case waits the whole
 * deadline, and what must fit inside it is a ListWriters and another session's backup,
 * which take hundreds of ms under valgrind, and seconds on a loaded machine. A deadline too
 * short for them fails loudly ("the program stopped hanging before the other session was
 * done"), never silently: with at most 3 (7.5 s), it did so once in make check-valgrind's
 * lanes at a load of 30, the other backup taking about 10 s.
 */
#define HANG_FACTOR_MAX 4
static unsigned hang_ms(const itest_env *env, unsigned ms) {
        return ms * (env->factor < HANG_FACTOR_MAX ? env->factor : HANG_FACTOR_MAX);
}
#define STEP_DEADLINE_MS(env) hang_ms(env, 2500)
#define ANSWER_BOUND_MS(env) hang_ms(env, 1000)
#define HOLD_WINDOW_MS 2000

typedef struct hang {
        itest_exec_provider prov; /* "hang"; prov.config: for a restart */
        char *other; /* a second volume, for the other session */
} hang;

static void hang_start(itest_env *env, hang *h, const char *step) {
        itest_exec_provider_write(env, &h->prov, "hang",
                                  "# test-provider-hang's exec provider (issue 11 §1)\n"
                                  "echo \"$*\" >> \"$D/calls\"\n"
                                  "step=$1\n"
                                  "if [ -f \"$D/hang\" ] && [ \"$(cat \"$D/hang\")\" = \"$step\" ]; then\n"
                                  "    echo \"hanging $step $$\" >> \"$D/hanging\"\n"
                                  "    read x < \"$D/fifo\"\n"
                                  "fi\n"
                                  "if [ -f \"$D/fail\" ] && [ \"$(cat \"$D/fail\")\" = \"$step\" ]; then\n"
                                  "    exit 1\n"
                                  "fi\n"
                                  ITEST_EXEC_PROVIDER_STEPS);
        char *snaps = itest_xprintf("%s/snaps", h->prov.dir);
        CHECK(mkdir(snaps, 0755) == 0, "mkdir %s: %m", snaps);
        if (step) {
                char *f = itest_xprintf("%s/hang", h->prov.dir);
                itest_write_file(f, step, strlen(step));
                free(f);
        }
        h->other = itest_xprintf("%s/other", env->dir);
        CHECK(mkdir(h->other, 0755) == 0, "mkdir %s: %m", h->other);
        char *file = itest_xprintf("%s/file", h->other);
        itest_write_file(file, "other\n", 6);

        /* the exec provider's own step timeout (EventTimeoutMS) stays far beyond the worker's deadline */
        itest_lvssd_opts o = { .event_timeout_ms = 60000, .hold_window_ms = HOLD_WINDOW_MS };
        /* IdleTimeoutMS= below the deadline: a connection waiting for its DeleteShadows answer is not idle */
        itest_exec_provider_start(env, &h->prov, &o, "ProviderStepTimeoutMS=%u\nIdleTimeoutMS=%u\n",
                                  STEP_DEADLINE_MS(env), itest_ms(env, 1000));
        free(file);
        free(snaps);
}

static void hang_done(hang *h) {
        itest_exec_provider_free(&h->prov);
        free(h->other);
}

static void hang_set(hang *h, const char *step) {
        char *f = itest_xprintf("%s/hang", h->prov.dir);
        if (step)
                itest_write_file(f, step, strlen(step));
        else
                (void) unlink(f);
        free(f);
}

/* The program fails (exit 1) in @step (NULL: in none). */
static void hang_fail(hang *h, const char *step) {
        char *f = itest_xprintf("%s/fail", h->prov.dir);
        if (step)
                itest_write_file(f, step, strlen(step));
        else
                (void) unlink(f);
        free(f);
}

/* Waits until the program says it hangs in @step; returns its pid. */
static pid_t wait_hanging(itest_env *env, hang *h, const char *step) {
        char *path = itest_xprintf("%s/hanging", h->prov.dir);
        CHECK(itest_wait_file_lines(env, path, 1, itest_ms(env, 20000)), "the provider program never hung in %s",
              step);
        char *text = itest_read_file(path);
        char want[64];
        int pid = 0;

        snprintf(want, sizeof want, "hanging %s ", step);
        CHECK(text && strncmp(text, want, strlen(want)) == 0, "the program hung in something else: %s",
              text ? text : "(nothing)");
        pid = atoi(text + strlen(want));
        CHECK(pid > 0, "no pid in %s", text);
        free(text);
        free(path);
        return (pid_t) pid;
}

typedef struct answer {
        bool done;
        vss_hresult hr;
} answer;

static int on_answer(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        answer *a = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        a->done = true;
        a->hr = e ? lvss_bus_error_to_hresult(e, -sd_bus_message_get_errno(m)) : VSS_S_OK;
        if (e)
                itest_note("ListWriters: %s", e->message ? e->message : e->name);
        return 0;
}

/* ListWriters (the call `vssadmin list writers` makes), everything bounded by @timeout_ms: the
 * connection's authentication too (sd_bus_call() waits for that without a bound). VSS_E_TIMEOUT-ish
 * failure (VSS_E_UNEXPECTED) when no answer came in time. */
static vss_hresult list_writers_within(itest_env *env, unsigned timeout_ms) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        sd_bus *bus = NULL;
        answer a = {};
        int r;

        r = lvss_bus_connect(env->socket_path, &bus);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call_method_async(bus, NULL, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "ListWriters",
                                     on_answer, &a, "");
        while (r >= 0 && !a.done) {
                uint64_t now = itest_now_mono_usec();

                if (now >= deadline) {
                        itest_note("ListWriters: no answer within %u ms", timeout_ms);
                        a.hr = VSS_E_UNEXPECTED;
                        break;
                }
                r = sd_bus_process(bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(bus, deadline - now);
        }
        if (r < 0 && !a.done) {
                itest_note("ListWriters: %s", strerror(-r));
                a.hr = lvss_bus_error_to_hresult(NULL, r);
        }
        sd_bus_close_unref(bus);
        return a.hr;
}

static bool pid_gone(pid_t pid) {
        return kill(pid, 0) < 0 && errno == ESRCH;
}

static bool hung_program_gone(itest_env *env, void *userdata) {
        return pid_gone(*(pid_t *) userdata);
}

/* After the hung step failed: the program and lvssd's worker are gone. */
static void check_nothing_running(itest_env *env, pid_t hung) {
        CHECK(itest_poll_until(env, hung_program_gone, &hung, itest_ms(env, 5000)),
              "§1: the hung provider program (pid %d) still runs after its step failed", (int) hung);
        CHECK(itest_poll_until(env, itest_lvssd_childless, NULL, itest_ms(env, 5000)),
              "§1: %d child(ren) of lvssd left after the hung step failed", itest_children_in_state(env->lvssd->pid, 0));
}

static int dir_entries(const char *p) {
        DIR *d = opendir(p);
        int n = 0;
        struct dirent *e;

        if (!d)
                return 0;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* "Another session's Thaw is not delayed": a whole backup of @volume (copy provider) by a second requester. */
static void other_backup(itest_env *env, itest_writer *w, const char *volume) {
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc), set, snap;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "the other session's StartSnapshotSet");
        CHECK_HR(vss_add_to_snapshot_set(bc, volume, NULL, &snap), VSS_S_OK, "the other session adds %s", volume);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        itest_wait_event(env, w, "Thaw", &sid, "ok", itest_ms(env, 5000));
        itest_requester_release(env, bc);
}

/* Where the hung session holds the set: a second requester's metadata gather goes through the loop. */
static void other_gather(itest_env *env) {
        vss_backup_components *bc = itest_requester(env, false);

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_requester_release(env, bc);
}

/*
 * §1, what every hang case checks while the program hangs in @what: ListWriters answers within
 * the bound, and another session gets through the loop: a whole backup of @volume with Thaw
 * (@w's), or, where the hung session holds the set (@volume NULL), a metadata gather followed by
 * ListWriters again. The program must still hang afterwards, or the case proves nothing.
 */
static void check_loop_free_while(itest_env *env, pid_t hung, const char *what, itest_writer *w,
                                  const char *volume) {
        CHECK_HR(list_writers_within(env, ANSWER_BOUND_MS(env)), VSS_S_OK, "§1: ListWriters while %s hangs", what);
        if (volume)
                other_backup(env, w, volume);
        else {
                other_gather(env);
                CHECK_HR(list_writers_within(env, ANSWER_BOUND_MS(env)), VSS_S_OK, "§1: ListWriters while %s hangs",
                         what);
        }
        CHECK(!pid_gone(hung), "the program stopped hanging in %s before the other session was done: the test "
              "proves nothing (raise the deadline)", what);
}

/* ---- is-supported ------------------------------------------------------------------------------ */

static int is_supported_child(int fd, void *userdata) {
        const hang *h = userdata;
        vss_backup_components *bc = NULL;
        vss_hresult hr;
        bool ok = false;

        if ((hr = vss_create_backup_components(&bc)) == VSS_S_OK &&
            (hr = vss_initialize_for_backup(bc, NULL)) == VSS_S_OK)
                hr = vss_is_volume_supported(bc, &h->prov.id, h->other, &ok);
        itest_child_say(fd, "is-supported 0x%08X", (unsigned) hr);
        vss_backup_components_release(bc);
        return 0;
}

/* §1: is_volume_supported (IsVolumeSupported) hangs: the loop answers, another session makes a whole
 * backup with Thaw, and the call fails with VSS_E_UNEXPECTED_PROVIDER_ERROR at the worker's deadline. */
static void test_hang_is_supported(void **state) {
        itest_env *env = *state;
        hang h = {};

        hang_start(env, &h, "is-supported");
        itest_writer *w = WRITER(env, "w");
        itest_proc *req = itest_spawn_child(env, "requester", is_supported_child, &h);
        uint64_t start = itest_now_mono_usec();
        pid_t hung = wait_hanging(env, &h, "is-supported");

        check_loop_free_while(env, hung, "is-supported", w, env->data_dir);

        CHECK_HR(itest_child_result(env, req, "is-supported"), VSS_E_UNEXPECTED_PROVIDER_ERROR,
                 "§1: IsVolumeSupported whose provider hangs");
        uint64_t took = (itest_now_mono_usec() - start) / 1000;
        itest_note("IsVolumeSupported failed after %" PRIu64 " ms (deadline %u ms)", took, STEP_DEADLINE_MS(env));
        CHECK(took + 100 >= STEP_DEADLINE_MS(env), "IsVolumeSupported failed before the deadline (%" PRIu64 " ms)",
              took);
        itest_wait_child_ok(env, req);
        check_nothing_running(env, hung);
        hang_done(&h);
}

/* ---- prepare, commit, finalize: the hung session holds the set --------------------------------- */

/* A backup of env->data_dir with the hang provider, DoSnapshotSet started; returns its async. */
static vss_async *start_hung_set(itest_env *env, hang *h, vss_backup_components **ret_bc, vss_id *ret_sid) {
        vss_backup_components *bc = itest_requester(env, false);
        vss_id set, snap;
        vss_async *a = NULL;

        *ret_sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &h->prov.id, &snap), VSS_S_OK, "add %s to the hang provider",
                 env->data_dir);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
        *ret_bc = bc;
        return a;
}

static void run_hung_set(itest_env *env, const char *step, vss_hresult expected, const char *rule) {
        hang h = {};
        vss_backup_components *bc;
        vss_id sid;

        hang_start(env, &h, step);
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "60000");
        vss_async *a = start_hung_set(env, &h, &bc, &sid);
        pid_t hung = wait_hanging(env, &h, step);

        check_loop_free_while(env, hung, step, NULL, NULL);
        CHECK_HR(vss_async_wait(a, 0), VSS_S_ASYNC_PENDING, "DoSnapshotSet while %s hangs", step);

        vss_hresult hr = vss_async_wait(a, itest_ms(env, 20000));
        vss_async_release(a);
        CHECK_HR(hr, expected, "%s: DoSnapshotSet whose provider hangs in %s", rule, step);
        check_nothing_running(env, hung);

        /* nothing of the failed set is left, and the writer is not left frozen */
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "%d snapshot row(s) of the failed set",
              itest_catalog_snapshot_count(env, &sid));
        char *snaps = itest_xprintf("%s/snaps", h.prov.dir);
        CHECK(dir_entries(snaps) == 0, "%d copy(ies) of the failed set left in %s", dir_entries(snaps), snaps);
        free(snaps);
        size_t frozen = itest_count_events(w, "Freeze", &sid, "ok");
        size_t released = itest_count_events(w, "Thaw", &sid, "ok") + itest_count_events(w, "Abort", &sid, "ok");
        CHECK(frozen == 0 || released > 0, "the writer was frozen and never got Thaw or Abort");

        /* and lvssd takes the next set, with the same provider, once it no longer hangs */
        hang_set(&h, NULL);
        itest_requester_release(env, bc);
        other_backup(env, w, h.other);
        hang_done(&h);
}

/* §1: begin_prepare hangs (the exec program's "prepare"): DoSnapshotSet fails with
 * VSS_E_UNEXPECTED_PROVIDER_ERROR at ProviderStepTimeoutMS=, the set undone. */
static void test_hang_prepare(void **state) {
        run_hung_set(*state, "prepare", VSS_E_UNEXPECTED_PROVIDER_ERROR, "§1");
}

/* §1 and WS-6: commit hangs: killed at the hold window, VSS_E_HOLD_WRITES_TIMEOUT, the writer gets Abort. */
static void test_hang_commit(void **state) {
        run_hung_set(*state, "commit", VSS_E_HOLD_WRITES_TIMEOUT, "WS-6");
}

/* §1: finalize hangs (after PostSnapshot, auto-recovery: the program said "writable"): the copy
 * cannot be known read-only, so the set is undone and DoSnapshotSet fails with
 * VSS_E_UNEXPECTED_PROVIDER_ERROR at ProviderStepTimeoutMS=. */
static void test_hang_finalize(void **state) {
        run_hung_set(*state, "finalize", VSS_E_UNEXPECTED_PROVIDER_ERROR, "§1");
}

/* ---- delete (DeleteShadows) --------------------------------------------------------------------- */

static int delete_child(int fd, void *userdata) {
        itest_env *env = userdata;
        uint32_t n = 0;
        vss_hresult hr = itest_delete_shadows(env->socket_path, "all", NULL, NULL, false, &n);

        itest_child_say(fd, "delete 0x%08X %u", (unsigned) hr, (unsigned) n);
        return 0;
}

/* §1: delete_snapshot hangs (vssadmin delete shadows): the loop answers, another session makes a
 * whole backup with Thaw, the call fails with VSS_E_UNEXPECTED_PROVIDER_ERROR at the deadline and the
 * copy is still listed; deleting again, with the program no longer hanging, deletes it. */
static void test_hang_delete(void **state) {
        itest_env *env = *state;
        hang h = {};
        vss_id set, snap;

        hang_start(env, &h, NULL);
        itest_writer *w = WRITER(env, "w");
        /* a persistent copy (VSS_CTX_APP_ROLLBACK): kept after its session, the admin's to delete */
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &h.prov.id, &snap), VSS_S_OK, "add");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        itest_requester_release(env, bc);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the persistent copy is not in the catalog");

        hang_set(&h, "delete");
        itest_proc *del = itest_spawn_child(env, "delete", delete_child, env);
        pid_t hung = wait_hanging(env, &h, "delete");
        check_loop_free_while(env, hung, "delete", w, h.other);

        CHECK_HR(itest_child_result(env, del, "delete"), VSS_E_UNEXPECTED_PROVIDER_ERROR,
                 "§1: DeleteShadows whose provider hangs");
        itest_wait_child_ok(env, del);
        check_nothing_running(env, hung);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "§1: the copy whose deletion was killed is no longer "
              "listed (it may still exist)");

        hang_set(&h, NULL);
        uint32_t n = 0;
        CHECK_HR(itest_delete_shadows(env->socket_path, "shadow", &snap, NULL, false, &n), VSS_S_OK,
                 "DeleteShadows again");
        CHECK(n == 1, "deleted %u, expected 1", n);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "the copy is still listed");
        char *snaps = itest_xprintf("%s/snaps", h.prov.dir);
        CHECK(dir_entries(snaps) == 0, "%d copy(ies) left in %s", dir_entries(snaps), snaps);
        free(snaps);
        hang_done(&h);
}

/* ---- clean-ups: abort, the auto-release deletion, finalize after an interruption ---------------- */

/*
 * Issue 11 §1, what was left on the loop (note11.md "What is left" item 2):
 * a provider's abort, the auto-release deletion when a session ends, and
 * finalize when a session is interrupted after its commit. Each hangs here:
 * while it does, ListWriters answers at once and another session gets
 * through; the clean-up is cut at ProviderStepTimeoutMS= (lvssd's log says
 * so), no process is left, and nothing of the copies is left that the
 * catalog does not name: a copy whose clean-up was cut keeps its row, and the
 * next start-up (the program no longer hanging) deletes it.
 */

static bool log_says_cut(itest_env *env, const char *step) {
        char what[96];

        snprintf(what, sizeof what, "%s: the providers did not finish within", step);
        return itest_lvssd_log_has(env, what);
}

static char *snaps_dir(const hang *h) {
        return itest_xprintf("%s/snaps", h->prov.dir);
}

/* lvssd killed and started again with @h's configuration: its start-up deletes what the catalog
 * still names; then nothing is left, in the catalog or on disk. */
static void restart_leaves_nothing(itest_env *env, hang *h, itest_writer *w) {
        itest_writer_kill(env, w); /* it would lose lvssd below */
        hang_set(h, NULL);
        hang_fail(h, NULL);
        itest_kill_lvssd(env);
        itest_restart_lvssd(env, h->prov.config);
        CHECK(itest_catalog_snapshot_count(env, NULL) == 0, "%d snapshot row(s) left after the start-up",
              itest_catalog_snapshot_count(env, NULL));
        char *snaps = snaps_dir(h);
        CHECK(dir_entries(snaps) == 0, "%d copy(ies) left in %s after the start-up", dir_entries(snaps), snaps);
        free(snaps);
}

/* §1: abort (the undo of a failed set) hangs. The program fails its finalize (auto-recovery: the copy
 * cannot be made read-only), so the set is undone, and the program's abort hangs: ListWriters
 * answers, a second requester's gather goes through (the hung session holds the set, WS-10), and
 * DoSnapshotSet fails with VSS_E_UNEXPECTED_PROVIDER_ERROR once the abort is cut at its deadline. */
static void test_hang_abort(void **state) {
        itest_env *env = *state;
        hang h = {};
        vss_backup_components *bc;
        vss_id sid;

        hang_start(env, &h, "abort");
        hang_fail(&h, "finalize");
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "60000");
        vss_async *a = start_hung_set(env, &h, &bc, &sid);
        pid_t hung = wait_hanging(env, &h, "abort");

        check_loop_free_while(env, hung, "abort", NULL, NULL);
        CHECK_HR(vss_async_wait(a, 0), VSS_S_ASYNC_PENDING, "DoSnapshotSet ends only once its undo is done");

        vss_hresult hr = vss_async_wait(a, itest_ms(env, 20000));
        vss_async_release(a);
        CHECK_HR(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR, "§1: DoSnapshotSet whose finalize failed and abort hangs");
        CHECK(log_says_cut(env, "abort"), "§1: lvssd's log does not say the abort was cut at its deadline");
        check_nothing_running(env, hung);
        CHECK(itest_count_events(w, "Thaw", &sid, "ok") == 1, "the writer was not thawed");
        /* the copy the abort could not undo is named by the catalog, for the next start-up */
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "§1: %d row(s) of the copy whose abort was cut "
              "(expected 1: the next start-up deletes it)", itest_catalog_snapshot_count(env, &sid));
        itest_requester_release(env, bc);
        restart_leaves_nothing(env, &h, w);
        hang_done(&h);
}

typedef struct release_arg {
        const hang *h;
        const char *volume;
} release_arg;

/* In a requester child: a backup of @ra->volume with the hang provider, up to PrepareForBackup done
 * (gather, the set with the volume, prepare); *ret_bc is set whatever the result. */
static vss_hresult child_backup_prepared(const release_arg *ra, vss_backup_components **ret_bc) {
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id set, snap;
        vss_hresult hr;

        if ((hr = vss_create_backup_components(&bc)) == VSS_S_OK && (hr = vss_initialize_for_backup(bc, NULL)) == VSS_S_OK &&
            (hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false)) == VSS_S_OK &&
            (hr = vss_gather_writer_metadata(bc, &a)) == VSS_S_OK)
                hr = vss_async_wait(a, 30000);
        a = vss_async_release(a);
        if (hr == VSS_S_OK && (hr = vss_start_snapshot_set(bc, &set)) == VSS_S_OK &&
            (hr = vss_add_to_snapshot_set(bc, ra->volume, &ra->h->prov.id, &snap)) == VSS_S_OK &&
            (hr = vss_prepare_for_backup(bc, &a)) == VSS_S_OK)
                hr = vss_async_wait(a, 30000);
        vss_async_release(a);
        *ret_bc = bc;
        return hr;
}

/* A whole backup with the hang provider (auto-release copy), then Release: says "made 0x…",
 * "session {id}", then "released 0x00000000 MS" once vss_backup_components_release() returned. */
static int release_child(int fd, void *userdata) {
        const release_arg *ra = userdata;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id set;
        char id[VSS_ID_STRING_MAX];
        vss_hresult hr = child_backup_prepared(ra, &bc);

        if (hr == VSS_S_OK && (hr = vss_do_snapshot_set(bc, &a)) == VSS_S_OK)
                hr = vss_async_wait(a, 30000);
        a = vss_async_release(a);
        itest_child_say(fd, "made 0x%08X", (unsigned) hr);
        if (bc && vss_get_session_id(bc, &set) == VSS_S_OK) {
                vss_id_format(&set, id);
                itest_child_say(fd, "session %s", id);
        }
        uint64_t t0 = itest_now_mono_usec();
        vss_backup_components_release(bc);
        itest_child_say(fd, "released 0x00000000 %llu", (unsigned long long) ((itest_now_mono_usec() - t0) / 1000));
        return 0;
}

/* §1: the auto-release deletion at the end of a session hangs (the program's delete, Release):
 * ListWriters answers, another session makes a whole backup with Thaw; the deletion is cut at its
 * deadline, Release is answered then (not before), the session ends, and the copy keeps its row
 * until the next start-up deletes it. */
static void test_hang_auto_release_delete(void **state) {
        itest_env *env = *state;
        hang h = {};

        hang_start(env, &h, "delete");
        itest_writer *w = WRITER(env, "w");
        release_arg ra = { &h, env->data_dir };
        itest_proc *req = itest_spawn_child(env, "requester", release_child, &ra);
        CHECK_HR(itest_child_result(env, req, "made"), VSS_S_OK, "the backup before the Release");
        size_t l = itest_wait_line_must(env, req, "session ", itest_ms(env, 20000));
        vss_id sid;
        CHECK(vss_id_parse(req->out.lines[l].text + strlen("session "), &sid) == VSS_S_OK, "no session id in '%s'",
              req->out.lines[l].text);
        pid_t hung = wait_hanging(env, &h, "delete");

        check_loop_free_while(env, hung, "the auto-release deletion", w, h.other);
        CHECK(itest_wait_line(env, &req->out, "released ", 0) < 0, "§1: Release was answered before the "
              "deletion of its copies ended");

        CHECK_HR(itest_child_result(env, req, "released"), VSS_S_OK, "Release whose deletion hangs");
        itest_wait_child_ok(env, req);
        CHECK(log_says_cut(env, "delete"), "§1: lvssd's log does not say the deletion was cut at its deadline");
        check_nothing_running(env, hung);
        char *state_text = NULL;
        CHECK(itest_catalog_session(env, &sid, &state_text, NULL) && strcmp(state_text, "active") != 0,
              "the released session is still '%s' in the catalog", state_text ? state_text : "(no row)");
        free(state_text);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "§1: %d row(s) of the copy whose deletion was cut "
              "(expected 1: the next start-up deletes it)", itest_catalog_snapshot_count(env, &sid));
        restart_leaves_nothing(env, &h, w);
        hang_done(&h);
}

/* A backup with the hang provider, DoSnapshotSet started; says "started" and waits to be killed. */
static int interrupted_child(int fd, void *userdata) {
        const release_arg *ra = userdata;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_hresult hr = child_backup_prepared(ra, &bc);

        if (hr == VSS_S_OK)
                hr = vss_do_snapshot_set(bc, &a);
        itest_child_say(fd, "started 0x%08X", (unsigned) hr);
        for (;;)
                pause(); /* killed by the test */
        return 0;
}

static bool session_ended_clean(itest_env *env, void *userdata) {
        const vss_id *sid = userdata;
        char *st = NULL;
        bool ended = itest_catalog_session(env, sid, &st, NULL) && strcmp(st, "active") != 0;

        free(st);
        return ended && itest_catalog_snapshot_count(env, NULL) == 0;
}

/* §1: finalize after an interruption hangs. The requester dies after the commit, while its writer is
 * in PostSnapshot: the session's writable copy (auto-recovery) is to be made read-only, and the
 * program's finalize hangs. ListWriters answers, another session makes a whole backup with Thaw;
 * the finalize is cut at its deadline, then the auto-release deletion (queued behind it) deletes
 * the copy: the session ends with nothing left. */
static void test_hang_finalize_interrupted(void **state) {
        itest_env *env = *state;
        hang h = {};

        hang_start(env, &h, "finalize");
        itest_writer *w = WRITER(env, "w", "--hang-at", "PostSnapshot", "--hang-ms", "500");
        release_arg ra = { &h, env->data_dir };
        itest_proc *req = itest_spawn_child(env, "requester", interrupted_child, &ra);
        CHECK_HR(itest_child_result(env, req, "started"), VSS_S_OK, "DoSnapshotSet");
        size_t l = itest_wait_event(env, w, "PostSnapshot", NULL, "begin", itest_ms(env, 20000));
        vss_id sid;
        const char *line = w->p.out.lines[l].text, *brace = strchr(line, '{');
        char id[VSS_ID_STRING_MAX] = "";
        if (brace)
                snprintf(id, sizeof id, "%.38s", brace);
        CHECK(vss_id_parse(id, &sid) == VSS_S_OK, "no session id in '%s'", line);
        itest_kill_proc(env, req); /* interrupted after its commit */
        pid_t hung = wait_hanging(env, &h, "finalize");

        check_loop_free_while(env, hung, "the interrupted session's finalize", w, h.other);

        CHECK(itest_poll_until(env, session_ended_clean, &sid, itest_ms(env, 20000)),
              "§1: the interrupted session did not end with its copy deleted (%d snapshot row(s))",
              itest_catalog_snapshot_count(env, NULL));
        CHECK(log_says_cut(env, "finalize"), "§1: lvssd's log does not say the finalize was cut at its deadline");
        check_nothing_running(env, hung);
        char *snaps = snaps_dir(&h);
        CHECK(dir_entries(snaps) == 0, "%d copy(ies) of the interrupted session left in %s", dir_entries(snaps),
              snaps);
        free(snaps);
        hang_done(&h);
}

/* ---- the first owner row of a writer class ---------------------------------------------------- */

/* every catalog write's delay: scaled, but below the writer library's 25 s call timeout (its
 * SubscribeWriter waits for the row) */
#define OWNER_DELAY_MS 3000
static unsigned owner_delay_ms(const itest_env *env) {
        unsigned ms = itest_ms(env, OWNER_DELAY_MS);
        return ms < 20000 ? ms : 20000;
}

static bool owner_row_queued(itest_env *env, void *userdata) {
        return itest_lvssd_log_has(env, "goes into the catalog; subscribed once it is on disk");
}

/* §1: the first owner row of a writer class (issue 8 item 4: the class belongs to the uid that
 * first subscribes it) was a catalog write the loop waited for. It goes through the catalog thread
 * now, and the writer's SubscribeWriter waits for it, durable first. With every catalog write
 * delayed (LVSS_TEST_CATALOG_DELAY_MS), a writer of a new class subscribes: while its row is on its
 * way ListWriters answers at once, and the writer is subscribed only once the catalog names its uid. */
static void test_owner_row_off_loop(void **state) {
        itest_env *env = *state;
        char delay[32];
        itest_lvssd_opts o = {};

        snprintf(delay, sizeof delay, "%u", owner_delay_ms(env));
        CHECK(setenv("LVSS_TEST_CATALOG_DELAY_MS", delay, 1) == 0, "setenv: %m");
        itest_start_lvssd(env, &o);
        (void) unsetenv("LVSS_TEST_CATALOG_DELAY_MS");

        itest_writer *w = itest_writer_spawn(env, "w", (const char *const[]) { NULL });
        /* (an lvssd that writes the row on its loop says nothing first: the check below still runs) */
        (void) itest_poll_until(env, owner_row_queued, NULL, owner_delay_ms(env) / 2);
        CHECK_HR(list_writers_within(env, ANSWER_BOUND_MS(env)), VSS_S_OK,
                 "§1: ListWriters while a new writer class's owner row is written");
        (void) itest_pump(env, 0);
        CHECK(itest_find_line(&w->p.out, "subscribed ", 0, SIZE_MAX) < 0,
              "the writer was subscribed before the checks were done: the test proves nothing (raise the delay)");

        itest_writer_wait_subscribed(env, w, 4 * owner_delay_ms(env));
        char *q = itest_xprintf("SELECT uid FROM writer_owners WHERE writer_id = '%s'", itest_id_str(&w->writer_id));
        char *v = itest_catalog_query(env, q);
        CHECK(v && strtoul(v, NULL, 10) == 0 && v[0] == '0', "§1: the subscribed writer's class has no owner row on disk: '%s'",
              v ? v : "(error)");
        free(v);
        free(q);
}

/* ---- the copy provider and many files (suite apps-slow) ---------------------------------------- */

#define BULK_DIRS 200
#define BULK_FILES_PER_DIR 500

typedef struct log_pid {
        const char *what; /* "post_commit: runs in a worker (pid " */
        pid_t pid;
} log_pid;

static bool log_has_pid(itest_env *env, void *userdata) {
        log_pid *lp = userdata;
        char *log = itest_read_file(env->lvssd->log_path);
        const char *at = log ? strstr(log, lp->what) : NULL;

        if (at)
                lp->pid = (pid_t) atoi(at + strlen(lp->what));
        free(log);
        return at && lp->pid > 0;
}

/* While the copy provider's @step runs (its worker alive before and after), ListWriters answers. */
static void check_answers_during(itest_env *env, const char *step) {
        char what[96];
        log_pid lp = { .what = what };

        snprintf(what, sizeof what, "%s: runs in a worker (pid ", step);
        CHECK(itest_poll_until(env, log_has_pid, &lp, itest_ms(env, 120000)), "lvssd never ran %s in a worker", step);
        CHECK(!pid_gone(lp.pid), "%s was over before the test looked: the test proves nothing (more files)", step);
        CHECK_HR(list_writers_within(env, ANSWER_BOUND_MS(env)), VSS_S_OK, "§1: ListWriters while %s runs", step);
        CHECK(!pid_gone(lp.pid), "%s ended before ListWriters answered: the test proves nothing (more files)",
              step);
        itest_note("ListWriters answered while %s (worker pid %d) was still making %d files read-only", step,
                   (int) lp.pid, BULK_DIRS * BULK_FILES_PER_DIR);
}

/*
 * §1 "10 GB of files to make read-only in the copy provider — while each of
 * these runs, `vssadmin list writers` answers at once": the per-file cost is
 * the point, so the volume is many small files (BULK_DIRS x
 * BULK_FILES_PER_DIR, cheap to make; 10 GB of sparse files would be a few
 * files and cost nothing per file). Two backups with the copy provider and a
 * writer: without auto-recovery (post_commit makes the copy read-only) and
 * with it (finalize does, after PostSnapshot). While each runs, ListWriters
 * answers; the backup succeeds. Suite apps-slow (the copy of the files
 * takes seconds, far more under valgrind).
 */
static void test_copy_many_files_bulk(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts o = { .hold_window_ms = 120000 };
        char *vol = itest_xprintf("%s/bulk", env->dir);

        CHECK(mkdir(vol, 0755) == 0, "mkdir %s: %m", vol);
        for (int d = 0; d < BULK_DIRS; d++) {
                char *dir = itest_xprintf("%s/d%03d", vol, d);
                CHECK(mkdir(dir, 0755) == 0, "mkdir %s: %m", dir);
                for (int f = 0; f < BULK_FILES_PER_DIR; f++) {
                        char name[32];
                        snprintf(name, sizeof name, "f%04d", f);
                        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        CHECK(dfd >= 0, "open %s: %m", dir);
                        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        CHECK(fd >= 0, "create %s/%s: %m", dir, name);
                        close(fd);
                        close(dfd);
                }
                free(dir);
        }
        itest_start_lvssd(env, &o);
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "600000");

        for (int autorecovery = 0; autorecovery < 2; autorecovery++) {
                vss_backup_components *bc = itest_requester(env, false);
                vss_id sid = itest_session_id(bc), set, snap;
                vss_async *a = NULL;

                if (!autorecovery)
                        CHECK_HR(vss_set_context(bc, VSS_CTX_BACKUP | VSS_VOLSNAP_ATTR_NO_AUTORECOVERY), VSS_S_OK,
                                 "vss_set_context");
                STEP_OK(env, bc, vss_gather_writer_metadata);
                CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
                CHECK_HR(vss_add_to_snapshot_set(bc, vol, NULL, &snap), VSS_S_OK, "add %s", vol);
                STEP_OK(env, bc, vss_prepare_for_backup);
                CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
                check_answers_during(env, autorecovery ? "finalize" : "post_commit");
                vss_hresult hr = vss_async_wait(a, itest_ms(env, 300000));
                vss_async_release(a);
                CHECK_HR(hr, VSS_S_OK, "DoSnapshotSet of %d files", BULK_DIRS * BULK_FILES_PER_DIR);
                itest_wait_event(env, w, "Thaw", &sid, "ok", itest_ms(env, 5000));
                itest_requester_release(env, bc);
        }
        free(vol);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_hang_is_supported),
                ITEST(test_hang_prepare),
                ITEST(test_hang_commit),
                ITEST(test_hang_finalize),
                ITEST(test_hang_delete),
                ITEST(test_hang_abort),
                ITEST(test_hang_auto_release_delete),
                ITEST(test_hang_finalize_interrupted),
                ITEST(test_owner_row_off_loop),
                ITEST(test_copy_many_files_bulk), /* alone: suite apps-slow (LVSS_TEST_ONLY) */
        };
        /* LVSS_TEST_ONLY=NAME runs that test alone (to show one failing against an older lvssd) */
        const char *only = getenv("LVSS_TEST_ONLY");
        for (size_t i = 0; only && i < sizeof tests / sizeof tests[0]; i++)
                if (strcmp(tests[i].name, only) == 0)
                        return itest_main("test-provider-hang", &tests[i], 1);
        /* without LVSS_TEST_ONLY: all but the bulk test (apps-slow) */
        return itest_main("test-provider-hang", tests, sizeof tests / sizeof tests[0] - 1);
}

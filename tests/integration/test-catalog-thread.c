/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §1 "the catalog is written off the event path, with writes that
 * must be durable before a step continues (a snapshot row before its snapshot
 * exists) still durable". lvssd runs with the test hook
 * LVSS_TEST_CATALOG_DELAY_MS: its catalog thread waits that long before each
 * batch of writes (a slow disk under the catalog).
 *
 *   - test_slow_catalog_loop_free: while a set's rows are being written,
 *     `vssadmin list writers` answers at once and another session's event
 *     (its GatherWriterMetadata: Identify to the writers and back) is not
 *     delayed; then the set is made and thawed as usual. Before the catalog
 *     thread both waited for the write (the rows were written on the loop).
 *   - test_kill_after_created: the "created" mark is on disk before the
 *     requester is told a persistent copy exists: DoSnapshotSet returns, lvssd
 *     is killed (SIGKILL) at once, and the next start-up lists the copy as
 *     "created" and keeps it on disk. Had lvssd answered before the mark was
 *     written, the restart would delete the copy as unfinished.
 *   - test_kill_while_rows_written: a snapshot row before its snapshot: lvssd
 *     killed while the set's rows are being written has started no commit,
 *     and the next start-up finds nothing of the set (no row, no copy).
 *   - test_admin_call_waits_for_catalog: an admin call (ListShadows) waiting
 *     for the slow catalog keeps its connection: IdleTimeoutMS does not close
 *     it (it did before Manager.admin_queries counted as activity).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define strempty(s) ((s) ? (s) : "")

/* the catalog's delay; the bound for what must not wait for it is well under it */
#define DELAY_MS 1200
#define AT_ONCE_MS 600

/*
 * The catalog's delay and the bounds that go with it are scaled by at most 2,
 * not by the harness's factor (6 under valgrind): what the test checks is the
 * ratio of the two (an answer well within the delay), and under valgrind
 * lvssd's answers while the catalog is slow take tens of ms (43 ms for
 * vssadmin list writers, 20 ms for a GatherWriterMetadata), far below the
 * 1200 ms bound. Scaled by 6 the delays made the test wait 195 s under
 * valgrind, almost all of it idle (issue 11 "What is left" item 0).
 */
static unsigned catalog_ms(const itest_env *env, unsigned ms) {
        return ms * (env->factor < 2 ? env->factor : 2);
}

static bool log_has(itest_env *env, void *userdata) {
        return itest_lvssd_log_has(env, userdata);
}

static bool no_rows(itest_env *env, void *userdata) {
        return itest_catalog_snapshot_count(env, userdata) == 0;
}

static void start_slow_lvssd(itest_env *env, const itest_lvssd_opts *opts) {
        char delay[32];

        snprintf(delay, sizeof delay, "%u", catalog_ms(env, DELAY_MS));
        CHECK(setenv("LVSS_TEST_CATALOG_DELAY_MS", delay, 1) == 0, "setenv: %m");
        itest_start_lvssd(env, opts);
        (void) unsetenv("LVSS_TEST_CATALOG_DELAY_MS");
}

/* DoSnapshotSet started; returns once lvssd logged that the set's rows are queued behind the slow catalog. */
static vss_async *do_set_until_rows(itest_env *env, vss_backup_components *bc, vss_id *ret_snap) {
        vss_id set;
        vss_async *a = NULL;

        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, ret_snap), VSS_S_OK, "add %s", env->data_dir);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
        CHECK(itest_wait_state(env, log_has, (void *) "the catalog write of the set's rows is delayed",
                               itest_ms(env, 10000)),
              "lvssd never queued the set's rows: the test proves nothing");
        return a;
}

static void test_slow_catalog_loop_free(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 10000, .event_timeout_ms = 30000,
                                  .hold_window_ms = catalog_ms(env, 4 * DELAY_MS) };
        uint64_t ms = 0;
        vss_id snap;

        start_slow_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "60000");
        vss_backup_components *a = itest_requester(env, false), *b = itest_requester(env, false);
        vss_id sid_a = itest_session_id(a), sid_b = itest_session_id(b);
        STEP_OK(env, a, vss_gather_writer_metadata);

        vss_async *set = do_set_until_rows(env, a, &snap);
        CHECK(!itest_lvssd_log_has(env, "commit: making"), "the commit started before the rows were written");

        /* §1: the loop answers while the rows are written */
        char *vssadmin = itest_xprintf("%s/tools/vssadmin", env->build_root);
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "list", "writers", NULL };
        uint64_t t0 = itest_now_mono_usec();
        itest_proc *p = itest_spawn_program(env, "vssadmin list writers", argv, false, true);
        CHECK(itest_program_exit(env, p, itest_ms(env, DELAY_MS)) == 0, "vssadmin list writers failed");
        ms = (itest_now_mono_usec() - t0) / 1000;
        itest_note("vssadmin list writers answered in %llu ms while the catalog was slow", (unsigned long long) ms);
        CHECK(ms < catalog_ms(env, AT_ONCE_MS), "§1: vssadmin list writers took %llu ms while the set's rows were "
              "written (the catalog waits %u ms)", (unsigned long long) ms, catalog_ms(env, DELAY_MS));
        free(vssadmin);

        /* §1: another session's event is not delayed (the writer answers Identify while frozen) */
        CHECK_HR(itest_step(env, b, vss_gather_writer_metadata, "GatherWriterMetadata (session B)",
                            itest_step_bound(env), &ms), VSS_S_OK, "session B's GatherWriterMetadata");
        itest_note("session B's GatherWriterMetadata took %llu ms while the catalog was slow",
                   (unsigned long long) ms);
        CHECK(ms < catalog_ms(env, AT_ONCE_MS), "§1: session B's GatherWriterMetadata took %llu ms while session A's "
              "rows were written", (unsigned long long) ms);
        itest_wait_event(env, w, "Identify", &sid_b, "ok", itest_ms(env, 5000));

        /* the set is made once the rows are written, and thawed */
        vss_hresult hr = vss_async_wait(set, itest_step_bound(env));
        vss_async_release(set);
        CHECK_HR(hr, VSS_S_OK, "session A's DoSnapshotSet");
        itest_wait_event(env, w, "Thaw", &sid_a, "ok", itest_ms(env, 5000));
        CHECK(itest_catalog_snapshot_count(env, &sid_a) == 1, "session A's row is not in the catalog");
        itest_requester_release(env, b);
        itest_requester_release(env, a);
        /* the release's deletions are queued before its answer; the row goes once the slow catalog
         * wrote it (a row count to wait for, bounded by a few of its delays) */
        CHECK(itest_wait_state(env, no_rows, &sid_a, itest_ms(env, 4 * DELAY_MS)),
              "the auto-release set outlives its release: %d row(s)", itest_catalog_snapshot_count(env, &sid_a));
}

/*
 * The requester of the kill tests runs in a child process: it says
 * "DoSnapshotSet 0x..." once DoSnapshotSet returned (@arg "wait") or once
 * DoSnapshotSet was started (@arg "start"), then waits to be killed by the
 * test, which kills lvssd first. (A requester whose lvssd was killed is not
 * released in the test process: see the report of issue 11 part C.)
 */
static int requester_child(int fd, void *arg) {
        itest_env *env = itest_current();
        vss_backup_components *bc = itest_requester(env, false);
        vss_id set, snap;
        vss_async *a = NULL;
        vss_hresult hr;

        hr = vss_set_context(bc, VSS_CTX_APP_ROLLBACK);
        if (hr == VSS_S_OK && (hr = vss_gather_writer_metadata(bc, &a)) == VSS_S_OK)
                hr = vss_async_wait(a, itest_step_bound(env));
        a = vss_async_release(a);
        if (hr == VSS_S_OK)
                hr = vss_start_snapshot_set(bc, &set);
        if (hr == VSS_S_OK)
                hr = vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap);
        if (hr == VSS_S_OK && (hr = vss_prepare_for_backup(bc, &a)) == VSS_S_OK)
                hr = vss_async_wait(a, itest_step_bound(env));
        a = vss_async_release(a);
        char sid[VSS_ID_STRING_MAX], snap_id[VSS_ID_STRING_MAX];
        vss_id id = itest_session_id(bc);
        vss_id_format(&id, sid);
        vss_id_format(&snap, snap_id);
        itest_child_say(fd, "session %s snapshot %s", sid, snap_id);
        if (hr == VSS_S_OK)
                hr = vss_do_snapshot_set(bc, &a);
        if (hr == VSS_S_OK && strcmp(arg, "wait") == 0)
                hr = vss_async_wait(a, itest_step_bound(env));
        itest_child_say(fd, "DoSnapshotSet 0x%08X", (unsigned) hr);
        pause(); /* killed by the test */
        return 0;
}

static itest_proc *start_requester_child(itest_env *env, const char *arg, vss_id *ret_sid, vss_id *ret_snap) {
        itest_proc *p = itest_spawn_child(env, "requester", requester_child, (void *) arg);
        size_t i = itest_wait_line_must(env, p, "session ", itest_ms(env, 30000));
        char sid[64] = "", snap[64] = "";

        p->may_die = true;
        CHECK(sscanf(p->out.lines[i].text, "session %63s snapshot %63s", sid, snap) == 2 &&
                      vss_id_parse(sid, ret_sid) == VSS_S_OK && vss_id_parse(snap, ret_snap) == VSS_S_OK,
              "the requester child said \"%s\"", p->out.lines[i].text);
        return p;
}

static void test_kill_after_created(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 10000, .event_timeout_ms = 30000,
                                  .hold_window_ms = catalog_ms(env, 4 * DELAY_MS) };
        itest_shadow_list l;
        vss_id sid, snap;
        struct stat st;

        start_slow_lvssd(env, &opts);
        (void) WRITER(env, "w", "--freeze-timeout", "60000");
        itest_proc *req = start_requester_child(env, "wait", &sid, &snap);
        CHECK(itest_wait_state(env, log_has, (void *) "the catalog write of the set's rows is delayed",
                               itest_ms(env, 10000)),
              "lvssd never queued the set's rows: the test proves nothing");
        CHECK_HR(itest_child_result(env, req, "DoSnapshotSet"), VSS_S_OK, "DoSnapshotSet of a persistent set");

        /* told: the copy exists. lvssd dies now, before anything else can happen */
        itest_kill_lvssd(env);
        itest_kill_proc(env, req);
        itest_restart_lvssd(env, NULL);

        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows after the restart");
        const itest_shadow *s = itest_shadow_find(&l, &snap);
        CHECK(s && strcmp(s->state, "created") == 0, "§1: the persistent copy DoSnapshotSet reported is %s after "
              "lvssd was killed and restarted", s ? s->state : "not listed");
        CHECK(s->snapshot_path && lstat(s->snapshot_path, &st) == 0, "§1: the persistent copy %s the requester was "
              "told of is gone after the restart", strempty(s->snapshot_path));
        itest_note("the persistent copy %s is %s at %s after the restart", itest_id_str(&snap), s->state,
                   s->snapshot_path);
        itest_shadow_list_free(&l);
        uint32_t deleted = 0;
        CHECK_HR(itest_delete_shadows(env->socket_path, "shadow", &snap, NULL, false, &deleted), VSS_S_OK,
                 "delete the persistent copy");
        CHECK(deleted == 1, "%u deleted", deleted);
        (void) sid;
}

static void test_kill_while_rows_written(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 10000, .event_timeout_ms = 30000,
                                  .hold_window_ms = catalog_ms(env, 4 * DELAY_MS) };
        vss_id sid, snap;

        start_slow_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w", "--freeze-timeout", "60000");
        w->p.may_die = true; /* it loses lvssd while frozen */
        itest_proc *req = start_requester_child(env, "start", &sid, &snap);
        CHECK_HR(itest_child_result(env, req, "DoSnapshotSet"), VSS_S_OK, "vss_do_snapshot_set");
        CHECK(itest_wait_state(env, log_has, (void *) "the catalog write of the set's rows is delayed",
                               itest_ms(env, 10000)),
              "lvssd never queued the set's rows: the test proves nothing");
        itest_kill_lvssd(env);
        itest_kill_proc(env, req);
        CHECK(!itest_lvssd_log_has(env, "commit: making"), "§1: a commit started before the set's rows were "
              "written");

        itest_restart_lvssd(env, NULL);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "%d row(s) of the killed set after the restart",
              itest_catalog_snapshot_count(env, &sid));
        CHECK(itest_shadow_dir_count(env) == 0, "%d shadow cop(y/ies) in the storage area after the restart",
              itest_shadow_dir_count(env));
        (void) snap;
}

/*
 * An admin call waiting for the slow catalog is not an idle connection:
 * ListShadows is answered after the writes queued before it, however long
 * they take, and lvssd's IdleTimeoutMS (here 500 ms, under the catalog's
 * delay) does not close the connection meanwhile. Before this was fixed the
 * call failed once the idle deadline passed (VSS_E_WRITER_INFRASTRUCTURE:
 * lvssd closed the connection).
 */
static void test_admin_call_waits_for_catalog(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 10000, .event_timeout_ms = 30000 };
        char *config = itest_write_config(env, "[Coordinator]\nIdleTimeoutMS=500\n");
        char delay[32];
        itest_shadow_list l;
        vss_id sid, snap;

        snprintf(delay, sizeof delay, "%u", catalog_ms(env, DELAY_MS));
        CHECK(setenv("LVSS_TEST_CATALOG_DELAY_MS", delay, 1) == 0, "setenv: %m");
        itest_start_lvssd_config(env, &opts, config);
        (void) unsetenv("LVSS_TEST_CATALOG_DELAY_MS");
        free(config);
        (void) WRITER(env, "w", "--freeze-timeout", "60000");
        /* a write in flight: the requester child's session row (then its set's rows) */
        itest_proc *req = start_requester_child(env, "start", &sid, &snap);
        CHECK(itest_wait_state(env, log_has, (void *) "the catalog write of the set's rows is delayed",
                               itest_ms(env, 10000)),
              "lvssd never queued the set's rows: the test proves nothing");
        uint64_t t0 = itest_now_mono_usec();
        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK,
                 "ListShadows while the catalog is slower than IdleTimeoutMS");
        uint64_t ms = (itest_now_mono_usec() - t0) / 1000;
        itest_note("ListShadows answered after %llu ms (IdleTimeoutMS 500)", (unsigned long long) ms);
        CHECK(ms >= 500, "ListShadows answered in %llu ms: it did not wait for the slow catalog, the test proves "
              "nothing", (unsigned long long) ms);
        itest_shadow_list_free(&l);
        CHECK_HR(itest_child_result(env, req, "DoSnapshotSet"), VSS_S_OK, "vss_do_snapshot_set");
        itest_kill_proc(env, req);
}

int main(void) {
        static const struct CMUnitTest tests[] = {
                ITEST(test_slow_catalog_loop_free),
                ITEST(test_kill_after_created),
                ITEST(test_kill_while_rows_written),
                ITEST(test_admin_call_waits_for_catalog),
        };
        return ITEST_MAIN("test-catalog-thread", tests);
}

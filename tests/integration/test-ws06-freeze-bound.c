/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-6 The freeze window is bounded. Each writer library thaws its
 * application on its own (calls on_abort) when Thaw has not arrived within
 * its freeze timeout of Freeze, or as soon as its connection to the
 * coordinator drops, and reports VSS_E_WRITERERROR_TIMEOUT at Thaw. The
 * provider's commit may take at most the hold window; past it the set fails
 * with VSS_E_HOLD_WRITES_TIMEOUT (or VSS_E_FLUSH_WRITES_TIMEOUT while
 * flushing). No application stays frozen because a requester, the
 * coordinator or a provider died.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* The requester for the lvssd-killing test runs in its own process, so the
 * test process does not depend on how liblvss reacts to a dead coordinator. */
static int requester_to_freeze(int fd, void *arg) {
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id sid, set, snap;
        char s[VSS_ID_STRING_MAX];
        const char *dir = arg;
        vss_hresult hr;

        if ((hr = vss_create_backup_components(&bc)) != VSS_S_OK)
                goto fail;
        if ((hr = vss_get_session_id(bc, &sid)) != VSS_S_OK)
                goto fail;
        vss_id_format(&sid, s);
        itest_child_say(fd, "session %s", s);
        if ((hr = vss_initialize_for_backup(bc, NULL)) != VSS_S_OK ||
            (hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false)) != VSS_S_OK)
                goto fail;
        if ((hr = vss_gather_writer_metadata(bc, &a)) != VSS_S_OK || (hr = vss_async_wait(a, VSS_INFINITE)) != VSS_S_OK)
                goto fail;
        a = vss_async_release(a);
        if ((hr = vss_start_snapshot_set(bc, &set)) != VSS_S_OK ||
            (hr = vss_add_to_snapshot_set(bc, dir, NULL, &snap)) != VSS_S_OK)
                goto fail;
        if ((hr = vss_prepare_for_backup(bc, &a)) != VSS_S_OK || (hr = vss_async_wait(a, VSS_INFINITE)) != VSS_S_OK)
                goto fail;
        a = vss_async_release(a);
        if ((hr = vss_do_snapshot_set(bc, &a)) != VSS_S_OK)
                goto fail;
        itest_child_say(fd, "do-snapshot-set started");
        hr = vss_async_wait(a, VSS_INFINITE);
        itest_child_say(fd, "do-snapshot-set returned 0x%08X", (unsigned) hr);
        return 0;
fail:
        itest_child_say(fd, "error 0x%08X", (unsigned) hr);
        return 1;
}

static uint64_t line_ms_after(const itest_writer *w, size_t line, uint64_t t0_usec) {
        uint64_t t = w->p.out.lines[line].mono_usec;
        return t > t0_usec ? (t - t0_usec) / 1000 : 0;
}

/* WS-6: lvssd dies (SIGKILL) while writers are frozen: every frozen writer
 * thaws (on_abort) at once, well within its freeze timeout; the one still in
 * its Freeze handler thaws as soon as the handler returns. */
static void test_ws06_kill_lvssd_after_freeze(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };

        itest_start_lvssd(env, &opts);
        /* a long freeze timeout: an Abort well before it can only come from the dropped connection */
        itest_writer *frozen = WRITER(env, "frozen", "--freeze-timeout", "20000");
        itest_writer *slow = WRITER(env, "slow-freeze", "--freeze-timeout", "20000", "--hang-at", "Freeze",
                                    "--hang-ms", "3000");
        itest_proc *req = itest_spawn_child(env, "requester", requester_to_freeze, env->data_dir);

        size_t l = itest_wait_line_must(env, req, "session ", itest_ms(env, 10000));
        vss_id sid;
        CHECK(vss_id_parse(req->out.lines[l].text + strlen("session "), &sid) == VSS_S_OK, "session line");

        size_t fb = itest_wait_event(env, frozen, "Freeze", &sid, "begin", itest_ms(env, 15000));
        itest_wait_event(env, frozen, "Freeze", &sid, "ok", itest_ms(env, 5000));
        size_t sb = itest_wait_event(env, slow, "Freeze", &sid, "begin", itest_ms(env, 5000));
        CHECK(itest_find_event(frozen, "Thaw", NULL, NULL, 0, SIZE_MAX) < 0, "Thaw came before the slow writer froze");

        uint64_t t_kill = itest_now_mono_usec();
        itest_kill_lvssd(env);

        size_t ab = itest_wait_event(env, frozen, "Abort", NULL, "begin", itest_ms(env, 20000));
        uint64_t after_kill = line_ms_after(frozen, ab, t_kill);
        uint64_t after_freeze = line_ms_after(frozen, ab, frozen->p.out.lines[fb].mono_usec);
        itest_note("frozen writer: on_abort %" PRIu64 " ms after lvssd died, %" PRIu64 " ms after Freeze", after_kill,
                   after_freeze);
        CHECK(after_freeze < frozen->freeze_timeout_ms,
              "WS-6: the frozen writer thawed %" PRIu64 " ms after Freeze, its freeze timeout is %u ms", after_freeze,
              frozen->freeze_timeout_ms);
        CHECK(after_kill <= itest_margin_ms(env),
              "WS-6: the frozen writer thawed %" PRIu64 " ms after its connection dropped, not at once", after_kill);
        itest_wait_event(env, frozen, "Abort", NULL, "ok", itest_ms(env, 5000));

        /* the slow one: its Freeze handler returns after 3 s, then it must thaw too */
        size_t sa = itest_wait_event(env, slow, "Abort", NULL, "begin", itest_ms(env, 25000));
        uint64_t slow_after_freeze = line_ms_after(slow, sa, slow->p.out.lines[sb].mono_usec);
        itest_note("slow writer: on_abort %" PRIu64 " ms after Freeze began", slow_after_freeze);
        CHECK(slow_after_freeze < slow->freeze_timeout_ms,
              "WS-6: the slow writer thawed %" PRIu64 " ms after Freeze, its freeze timeout is %u ms",
              slow_after_freeze, slow->freeze_timeout_ms);
        CHECK(itest_find_event(slow, "Freeze", &sid, "ok", sb, sa) >= 0,
              "the slow writer's Abort came before its Freeze handler returned");

        /* both notice the coordinator is gone and exit cleanly */
        itest_wait_line_must(env, &frozen->p, "disconnected", itest_ms(env, 10000));
        itest_wait_line_must(env, &slow->p, "disconnected", itest_ms(env, 10000));
        CHECK(itest_wait_exit(env, &frozen->p, itest_ms(env, 10000)), "the frozen writer did not exit");
        CHECK(itest_wait_exit(env, &slow->p, itest_ms(env, 10000)), "the slow writer did not exit");
        /* the test writer exits 0 after "disconnected": a hang-ms writer is not expected to die */
        slow->p.may_die = false;
}

/* WS-6: Thaw would be late (another writer is slow to freeze): the
 * library's deadman thaws the frozen application within its freeze timeout.
 * Issue 8 item 3: lvssd knows that writer's freeze deadline; once it has
 * passed no copy may be made, so no commit starts and no late Thaw is sent:
 * DoSnapshotSet fails with VSS_E_HOLD_WRITES_TIMEOUT, every writer gets
 * Abort, no shadow copy is left. (Before, the copy was made after the
 * application had thawed, the late Thaw failed with
 * VSS_E_WRITERERROR_TIMEOUT, and the set was reported made.) */
static void test_ws06_deadman_thaws_before_late_thaw(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *quick = WRITER(env, "short-freeze-timeout", "--freeze-timeout", "1500");
        itest_writer *slow = WRITER(env, "slow-freeze", "--freeze-timeout", "20000", "--hang-at", "Freeze",
                                    "--hang-ms", "5000");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set",
                                    itest_ms(env, 20000) + itest_margin_ms(env), NULL);
        itest_note("DoSnapshotSet: %s", itest_hr_str(hr));
        CHECK_HR(hr, VSS_E_HOLD_WRITES_TIMEOUT,
                 "item 8.3: DoSnapshotSet after a writer's freeze timeout passed while another was freezing");

        size_t fb = itest_wait_event(env, quick, "Freeze", &sid, "begin", itest_ms(env, 5000));
        size_t fo = itest_wait_event(env, quick, "Freeze", &sid, "ok", itest_ms(env, 5000));
        size_t ab = itest_wait_event(env, quick, "Abort", NULL, "begin", itest_ms(env, 5000));
        uint64_t ms = line_ms_after(quick, ab, quick->p.out.lines[fb].mono_usec);
        itest_note("deadman: on_abort %" PRIu64 " ms after Freeze (freeze timeout %u ms)", ms, quick->freeze_timeout_ms);
        CHECK(ms <= quick->freeze_timeout_ms + itest_margin_ms(env),
              "WS-6: on_abort ran %" PRIu64 " ms after Freeze, freeze timeout %u ms", ms, quick->freeze_timeout_ms);
        CHECK(ms + 200 >= quick->freeze_timeout_ms,
              "WS-6: on_abort ran %" PRIu64 " ms after Freeze, before the freeze timeout of %u ms expired", ms,
              quick->freeze_timeout_ms);
        CHECK(itest_find_event(quick, "Thaw", NULL, NULL, fo, ab) < 0, "Thaw arrived before the deadman");
        /* The slow writer was still in Freeze when the deadman fired */
        size_t so = itest_wait_event(env, slow, "Freeze", &sid, "ok", itest_ms(env, 10000));
        CHECK(slow->p.out.lines[so].mono_usec > quick->p.out.lines[ab].mono_usec,
              "setup: the slow writer finished Freeze before the deadman fired");

        /* lvssd released both with Abort; nobody got a (late) Thaw, nothing was made */
        itest_wait_event(env, quick, "Abort", &sid, "ok", itest_ms(env, 5000));
        itest_wait_event(env, slow, "Abort", &sid, "ok", itest_ms(env, 5000));
        CHECK(itest_find_event(quick, "Thaw", &sid, NULL, 0, SIZE_MAX) < 0,
              "item 8.3: Thaw was sent after the writer's freeze timeout had passed");
        CHECK(itest_find_event(slow, "Thaw", &sid, NULL, 0, SIZE_MAX) < 0,
              "item 8.3: Thaw was sent for a set that could not be made");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "item 8.3: %d shadow cop(y/ies) of the set recorded",
              itest_catalog_snapshot_count(env, &sid));
        CHECK(itest_shadow_dir_count(env) == 0, "item 8.3: %d shadow cop(y/ies) left in the storage area",
              itest_shadow_dir_count(env));

        itest_gather_status(env, bc, &st);
        const itest_status *e = itest_status_for(&st, quick);
        CHECK(e, "no status for the writer");
        CHECK(e->s.state != VSS_WS_WAITING_FOR_THAW && !e->s.event_in_progress,
              "the writer is still reported frozen");
        itest_statuses_free(&st);
}

/* The hold window itself (WS-6: a provider's commit that overruns it fails the
 * set with VSS_E_HOLD_WRITES_TIMEOUT, every writer is released, nothing is
 * left) is tested in test-hold-window.c with a provider that blocks in commit:
 * a copy that is merely large finishes inside any window where the file
 * system clones files (reflink), so it cannot test the bound. */

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws06_kill_lvssd_after_freeze),
                ITEST(test_ws06_deadman_thaws_before_late_thaw),
        };
        return ITEST_MAIN("WS-6 the freeze window is bounded", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §5 "skip events a writer does not handle": the writer library
 * declares at SubscribeWriterWithEvents the events its application's
 * callbacks need (lvss_writer_events_wanted(), basic/state.h); lvssd sends
 * only those, plus Identify, Freeze, Thaw, Abort and BackupShutdown, and
 * answers every other event itself as a handler that does nothing would
 * (WS-4: the same state, no failure, duration 0), saying so (WS-9: the admin
 * view, vssadmin, the history rows).
 *
 *   - test_freeze_thaw_only: a liblvss writer with only on_freeze, on_thaw,
 *     on_abort and on_backup_shutdown goes through a whole backup. The
 *     requester's vss_gather_writer_status after PrepareForBackup,
 *     DoSnapshotSet and BackupComplete shows the states of the WS table
 *     (STABLE, WAITING_FOR_BACKUP_COMPLETE, STABLE); the writer's session
 *     state turns completed at the final gather (WS-3); its log has only
 *     Identify, Freeze, Thaw, BackupShutdown; the history rows say lvssd
 *     answered PrepareForBackup, PrepareForSnapshot, PostSnapshot and
 *     BackupComplete for it, in 0 µs; ListWriters and
 *     `vssadmin list writers` (text and --json) say lvssd answered its last
 *     event (BackupComplete).
 *   - test_mixed_session: in one session, a liblvss writer with every
 *     handler, an old writer (raw sd-bus: SubscribeWriter, no declaration),
 *     the freeze/thaw writer, and a raw writer that declares only
 *     PostSnapshot and prints every event it is sent. Each gets exactly its
 *     own events (the raw declared writer fails the test if lvssd sends it
 *     an event it did not declare and that lvssd may skip), every status is
 *     the WS table's after each step, and only the skipped events are
 *     answered by lvssd in the history.
 *   - test_veto_at_prepare_snapshot, test_veto_at_freeze (WS-7): another
 *     writer vetoes the set; the freeze/thaw writer, whose PrepareForSnapshot
 *     lvssd answered, still receives Abort (and, at Freeze, was frozen and
 *     is released by it), and its status is STABLE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/abi.h"
#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 5000,
        .event_timeout_ms = 5000,
};

#define FREEZE_THAW "--handlers", "Freeze,Thaw,Abort,BackupShutdown"

/* the note before each gather (CHECK_ALL_STATUS) */
#define WS04_GATHER "WS-4 (a skipped event moves the state as a no-op handler): gather "

/* The events @w printed as answered in session @sid, space-separated in event order (owned). */
static char *events_seen(itest_writer *w, const vss_id *sid) {
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        bool first = true;

        if (!f)
                abort();
        for (int e = VSS_EVENT_IDENTIFY; e < VSS_EVENT_COUNT; e++) {
                const char *name = vss_writer_event_name((vss_writer_event) e);
                for (size_t n = itest_count_events(w, name, sid, "ok"); n > 0; n--) {
                        fprintf(f, "%s%s", first ? "" : " ", name);
                        first = false;
                }
        }
        fclose(f);
        return s;
}

static void check_events_seen(itest_writer *w, const vss_id *sid, const char *want, const char *rule) {
        char *got = events_seen(w, sid);

        CHECK(strcmp(got, want) == 0, "%s: %s was sent '%s', expected '%s'", rule, w->p.label, got, want);
        free(got);
}

/* The events lvssd answered for @name in @sid, as numbers in event order, from the history rows (WS-9). */
static void check_history(itest_env *env, const vss_id *sid, const char *name, const char *want_by_lvssd) {
        char *sql = itest_xprintf("SELECT coalesce(group_concat(event, ' '), '') FROM (SELECT event FROM writer_status WHERE "
                                  "session_id = '%s' AND writer_name = '%s' AND answered_by_lvssd = 1 ORDER BY id)",
                                  itest_id_str(sid), name);
        char *got = itest_catalog_query(env, sql);
        CHECK(got, "the history rows of %s cannot be read", name);
        CHECK(strcmp(got, want_by_lvssd) == 0, "WS-9: the history says lvssd answered events '%s' for %s, expected '%s'",
              got, name, want_by_lvssd);
        free(got);
        free(sql);
        /* answered by lvssd: ok, no failure, 0 µs */
        sql = itest_xprintf("SELECT count(*) FROM writer_status WHERE session_id = '%s' AND writer_name = '%s' AND "
                            "answered_by_lvssd = 1 AND (ok <> 1 OR failure <> 0 OR duration_usec <> 0)",
                            itest_id_str(sid), name);
        got = itest_catalog_query(env, sql);
        CHECK(got && strcmp(got, "0") == 0, "WS-4/WS-9: %s rows of %s answered by lvssd are not ok in 0 µs",
              got ? got : "?", name);
        free(got);
        free(sql);
}

static char *run_vssadmin(itest_env *env, bool json) {
        char *vssadmin = itest_xprintf("%s/tools/vssadmin", env->build_root);
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "list", "writers", json ? "--json" : NULL, NULL };
        itest_proc *p = itest_spawn_program(env, json ? "vssadmin list writers --json" : "vssadmin list writers", argv,
                                            true, true);
        int code = itest_program_exit(env, p, itest_step_bound(env));
        char *out = itest_stream_text(&p->out);

        CHECK(code == 0, "vssadmin list writers exited with %d:\n%s", code, out);
        free(vssadmin);
        return out;
}

/* The text of one writer's block (text) or object (JSON) in vssadmin's output: from @key to @next (owned). */
static char *writer_part(const char *out, const char *key, const char *next) {
        const char *a = strstr(out, key), *b;

        CHECK(a, "vssadmin does not list '%s':\n%s", key, out);
        b = strstr(a + strlen(key), next);
        return strndup(a, b ? (size_t) (b - a) : strlen(a));
}

/* (a) and (e): a writer with only Freeze/Thaw (and Abort, BackupShutdown) handlers. */
static void test_freeze_thaw_only(void **state) {
        itest_env *env = *state;
        itest_admin a = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *ft = WRITER(env, "ft", FREEZE_THAW);
        itest_writer *const ws[] = { ft };
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 1, VSS_WS_STABLE, WS04_GATHER "after PrepareForBackup");
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 1, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, WS04_GATHER "after DoSnapshotSet");
        STEP_OK(env, bc, vss_backup_complete);

        /* (e) WS-9: the admin view says lvssd answered BackupComplete, in no time */
        itest_list_writers(env, &a);
        const itest_admin_entry *e = itest_admin_for(&a, ft);
        CHECK(e, "the admin view does not list ft");
        CHECK(e->last_event == VSS_EVENT_BACKUP_COMPLETE && e->answered_by_lvssd && e->duration_usec == 0 &&
                      e->state == VSS_WS_STABLE && e->failure == VSS_S_OK,
              "WS-9: the admin view shows ft at %s, answered by lvssd %d, %llu us, state %s, expected BackupComplete "
              "answered by lvssd in 0 us, VSS_WS_STABLE",
              vss_writer_event_name(e->last_event), e->answered_by_lvssd, (unsigned long long) e->duration_usec,
              vss_writer_state_name(e->state));
        itest_admin_free(&a);

        char *text = run_vssadmin(env, false);
        char *part = writer_part(text, "Writer name: 'ft'", "Writer name:");
        CHECK(strstr(part, "Last event: BackupComplete, answered by lvssd (the writer does not handle it)"),
              "WS-9: vssadmin list writers does not say lvssd answered:\n%s", part);
        free(part);
        free(text);
        char *json = run_vssadmin(env, true);
        part = writer_part(json, "\"writer_name\": \"ft\"", "\"writer_name\"");
        CHECK(strstr(part, "\"last_event_answered_by\": \"lvssd\""),
              "WS-9: vssadmin list writers --json does not say lvssd answered:\n%s", part);
        free(part);
        free(json);

        /* WS-3: the gather after BackupComplete completes the session, and the writer is told */
        CHECK_ALL_STATUS(env, bc, &sid, ws, 1, VSS_WS_STABLE, WS04_GATHER "after BackupComplete");
        itest_wait_line_must(env, &ft->p, "session completed", itest_ms(env, 5000));
        itest_requester_release(env, bc);
        itest_wait_event(env, ft, "BackupShutdown", &sid, "ok", itest_ms(env, 5000));

        char *reason = NULL, *end = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 30000));
        CHECK(end && strcmp(end, "completed") == 0, "the session ended as '%s'", end ? end : "?");
        free(end);
        free(reason);

        check_events_seen(ft, &sid, "Identify Freeze Thaw BackupShutdown", "issue 11 §5");
        /* PrepareForBackup 2, PrepareForSnapshot 3, PostSnapshot 6, BackupComplete 8 */
        check_history(env, &sid, "ft", "2 3 6 8");
}

/* (b), (c), (d): one writer of each kind in one session. */
static void test_mixed_session(void **state) {
        itest_env *env = *state;

        itest_start_lvssd(env, &opts);
        itest_writer *all = WRITER(env, "all");
        itest_writer *old = WRITER(env, "old", "--raw-identify", "old-writer");
        itest_writer *ft = WRITER(env, "ft", FREEZE_THAW);
        itest_writer *decl = WRITER(env, "decl", "--raw-identify", "declared", "--handlers", "PostSnapshot");
        itest_writer *const ws[] = { all, old, ft, decl };
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 4, VSS_WS_STABLE, WS04_GATHER "after GatherWriterMetadata");
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 4, VSS_WS_STABLE, WS04_GATHER "after PrepareForBackup");
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 4, VSS_WS_WAITING_FOR_BACKUP_COMPLETE, WS04_GATHER "after DoSnapshotSet");
        STEP_OK(env, bc, vss_backup_complete);
        CHECK_ALL_STATUS(env, bc, &sid, ws, 4, VSS_WS_STABLE, WS04_GATHER "after BackupComplete");
        itest_wait_line_must(env, &all->p, "session completed", itest_ms(env, 5000));
        itest_wait_line_must(env, &ft->p, "session completed", itest_ms(env, 5000));
        itest_requester_release(env, bc);
        for (size_t i = 0; i < 4; i++)
                itest_wait_event(env, ws[i], "BackupShutdown", &sid, "ok", itest_ms(env, 5000));

        char *reason = NULL, *end = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 30000));
        CHECK(end && strcmp(end, "completed") == 0, "the session ended as '%s'", end ? end : "?");
        free(end);
        free(reason);

        static const char every[] =
                "Identify PrepareForBackup PrepareForSnapshot Freeze Thaw PostSnapshot BackupComplete BackupShutdown";
        /* (b) every handler: every event */
        check_events_seen(all, &sid, every, "issue 11 §5 (b)");
        /* (c) an old writer (no declaration): every event, as before */
        check_events_seen(old, &sid, every, "issue 11 §5 (c)");
        /* (a) in a mixed set */
        check_events_seen(ft, &sid, "Identify Freeze Thaw BackupShutdown", "issue 11 §5 (a)");
        /* (d) declared PostSnapshot only: that, and what lvssd always sends; nothing else */
        check_events_seen(decl, &sid, "Identify Freeze Thaw PostSnapshot BackupShutdown",
                          "issue 11 §5: lvssd sent an undeclared event");

        check_history(env, &sid, "all", "");
        check_history(env, &sid, "old", "");
        check_history(env, &sid, "ft", "2 3 6 8");
        check_history(env, &sid, "decl", "2 3 8");
}

/* WS-7 with a skipped PrepareForSnapshot: a veto by another writer still sends the freeze/thaw
 * writer Abort (lvssd answered PrepareForSnapshot for it, so it counts as having got it), and a
 * frozen one is released by it; its status is the table's. */
static void veto_case(itest_env *env, const char *veto_at, vss_hresult want_hr, const char *ft_events) {
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *v = WRITER(env, "vetoes", "--fail-at", veto_at, "--fail-mode", "return");
        itest_writer *ft = WRITER(env, "ft", FREEZE_THAW);
        itest_writer *const ws[] = { v, ft };
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK_HR(hr, want_hr, "WS-7: DoSnapshotSet vetoed at %s", veto_at);
        itest_wait_event(env, ft, "Abort", &sid, "ok", itest_ms(env, 5000));
        check_events_seen(ft, &sid, ft_events, "WS-7 with a skipped PrepareForSnapshot");

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, ws, 2);
        CHECK_STATUS(&st, ft, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

static void test_veto_at_prepare_snapshot(void **state) {
        veto_case(*state, "PrepareForSnapshot", VSS_E_WRITERERROR_NONRETRYABLE, "Identify Abort");
}

static void test_veto_at_freeze(void **state) {
        veto_case(*state, "Freeze", VSS_E_WRITERERROR_NONRETRYABLE, "Identify Freeze Abort");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_freeze_thaw_only, itest_setup, itest_teardown),
                cmocka_unit_test_setup_teardown(test_mixed_session, itest_setup, itest_teardown),
                cmocka_unit_test_setup_teardown(test_veto_at_prepare_snapshot, itest_setup, itest_teardown),
                cmocka_unit_test_setup_teardown(test_veto_at_freeze, itest_setup, itest_teardown),
        };
        return itest_main("writer-events", tests, sizeof tests / sizeof tests[0]);
}

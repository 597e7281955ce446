/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 10 part 2: lvss-freeze-hook and lvssd's external sessions (cli.md
 * "lvss-freeze-hook", app-consistency.md §5). A real lvssd, real test
 * writers, and the real lvss-freeze-hook binary run as a child process: the
 * session outlives the hook process (freeze exits, the writers stay frozen
 * under lvssd's hold limit), one line per failing writer, exit codes 0/1/2,
 * conflicts refused with nothing left frozen, the hold limit, freezeFail,
 * lvssd's stop and death while a freeze is held.
 */

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef struct hook_run {
        int code;
        char *err; /* stdout and stderr together */
} hook_run;

static void hook_run_free(hook_run *r) {
        free(r->err);
        r->err = NULL;
}

/* Under valgrind (LVSS_TEST_VALGRIND=1) the hook itself runs under it only in the tests that set
 * this (freeze, thaw, a failed freeze: every path of the program): each run costs seconds there. */
static bool hook_valgrind;

/* Runs lvss-freeze-hook --socket SOCKET @args... and waits for it to exit. */
static hook_run hook(itest_env *env, const char *const *args) {
        const char *argv[16];
        size_t n = 0;
        hook_run r;

        char *path = itest_xprintf("%s/tools/lvss-freeze-hook", env->build_root);
        argv[n++] = path;
        argv[n++] = "--socket";
        argv[n++] = env->socket_path;
        for (size_t i = 0; args[i] && n < 15; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        itest_proc *p = itest_spawn_program(env, "lvss-freeze-hook", argv, hook_valgrind, true);
        r.code = itest_program_exit(env, p, itest_ms(env, 60000));
        r.err = itest_stream_text(&p->out);
        char shown[256] = "";
        for (size_t i = 3; argv[i]; i++)
                snprintf(shown + strlen(shown), sizeof shown - strlen(shown), " %s", argv[i]);
        itest_note("lvss-freeze-hook%s -> %d:\n%s", shown, r.code, r.err);
        free(path);
        return r;
}
#define HOOK(env, ...) hook(env, (const char *const[]) { __VA_ARGS__, NULL })

/* Runs the hook with @args; checks that it exited @code and, with @needle, that its output says
 * @needle; @what names the call in the failure. */
static void hook_expect(itest_env *env, int code, const char *needle, const char *what, const char *const *args) {
        hook_run r = hook(env, args);
        CHECK(r.code == code && (!needle || strstr(r.err, needle)), "%s exited %d, expected %d%s%s:\n%s", what,
              r.code, code, needle ? " saying " : "", needle ? needle : "", r.err);
        hook_run_free(&r);
}
#define HOOK_EXPECT(env, code, needle, what, ...)                                                                    \
        hook_expect(env, code, needle, what, (const char *const[]) { __VA_ARGS__, NULL })

/* Part 2: a thaw that finds nothing held (exit 1, "no freeze is held"); @what says after what. */
static void check_nothing_held(itest_env *env, const char *what) {
        HOOK_EXPECT(env, 1, "no freeze is held", what, "thaw");
}

static itest_writer *w_plain(itest_env *env, const char *name) {
        return WRITER(env, name, "--instance", "inst");
}

/* Every writer of @ws in ListWriters: in @state; returns the session id of the first. */
static vss_id check_listed(itest_env *env, itest_writer *const *ws, size_t n, vss_writer_state state,
                           const char *state_prefix) {
        itest_admin a;
        vss_id sid = {};

        itest_list_writers(env, &a);
        for (size_t i = 0; i < n; i++) {
                const itest_admin_entry *e = itest_admin_for(&a, ws[i]);
                CHECK(e, "writer %s is not listed", ws[i]->name);
                CHECK(e->state == state, "writer %s is in state %u, expected %u", ws[i]->name, (unsigned) e->state,
                      (unsigned) state);
                if (state_prefix) {
                        CHECK(e->session_state && strncmp(e->session_state, state_prefix, strlen(state_prefix)) == 0,
                              "writer %s: session state '%s', expected '%s...'", ws[i]->name,
                              e->session_state ? e->session_state : "(null)", state_prefix);
                        /* provenance: the caller, its pid and uid, also once the hook has exited */
                        CHECK(strstr(e->session_state, "external: lvss-freeze-hook (") &&
                                      strstr(e->session_state, ", pid ") && strstr(e->session_state, ", uid 0"),
                              "writer %s: no provenance in '%s'", ws[i]->name, e->session_state);
                }
                if (i == 0)
                        sid = e->session_id;
                else
                        CHECK(memcmp(&sid, &e->session_id, sizeof sid) == 0, "writers in different sessions");
        }
        itest_admin_free(&a);
        return sid;
}

/* Part 2: `freeze` with @args exits 0 and leaves every writer of @ws frozen (WaitingForThaw); the
 * session's id. */
#define FREEZE_HELD(env, ws, n, state_prefix, ...)                                                                  \
        freeze_held(env, ws, n, state_prefix, (const char *const[]) { __VA_ARGS__, NULL })
static vss_id freeze_held(itest_env *env, itest_writer *const *ws, size_t n, const char *state_prefix,
                          const char *const *args) {
        hook_expect(env, 0, NULL, args[0], args);
        return check_listed(env, ws, n, VSS_WS_WAITING_FOR_THAW, state_prefix);
}

/* No writer of @ws is frozen (ListWriters). */
static void check_not_frozen(itest_env *env, itest_writer *const *ws, size_t n) {
        itest_admin a;

        itest_list_writers(env, &a);
        for (size_t i = 0; i < n; i++) {
                const itest_admin_entry *e = itest_admin_for(&a, ws[i]);
                CHECK(e && e->state != VSS_WS_WAITING_FOR_THAW, "writer %s is still frozen", ws[i]->name);
        }
        itest_admin_free(&a);
}

/* The session of writer @w (ListWriters). */
static vss_id session_of(itest_env *env, const itest_writer *w) {
        itest_admin a;

        itest_list_writers(env, &a);
        const itest_admin_entry *e = itest_admin_for(&a, w);
        CHECK(e, "writer %s is not listed", w->name);
        vss_id sid = e->session_id;
        itest_admin_free(&a);
        return sid;
}

/* Part 2: each writer of @ws got Abort (ok) in session @sid and never Thaw. */
static void check_aborted_not_thawed(itest_env *env, itest_writer *const *ws, size_t n, const vss_id *sid) {
        for (size_t i = 0; i < n; i++) {
                itest_wait_event(env, ws[i], "Abort", sid, "ok", itest_margin_ms(env));
                CHECK(itest_count_events(ws[i], "Thaw", sid, NULL) == 0, "%s got Thaw", ws[i]->name);
        }
}

static void check_catalog(itest_env *env, const vss_id *sid, const char *state, const char *reason_part) {
        char *st = NULL, *reason = NULL;

        CHECK(itest_catalog_session(env, sid, &st, &reason), "no catalog row for session %s", itest_id_str(sid));
        CHECK(st && strcmp(st, state) == 0, "catalog: session %s is '%s', expected '%s'", itest_id_str(sid),
              st ? st : "(null)", state);
        if (reason_part)
                CHECK(reason && strstr(reason, reason_part), "catalog: reason '%s' lacks '%s'",
                      reason ? reason : "(null)", reason_part);
        free(st);
        free(reason);
}

/* Part 2 (VMware's freezeFail): abort the held session: every writer thawed (Abort), exit 0, the
 * session recorded aborted; a thaw afterwards finds nothing held. */
static void freeze_fail_in(itest_env *env, itest_writer *const *ws) {
        vss_id sid = FREEZE_HELD(env, ws, 2, NULL, "freeze");
        HOOK_EXPECT(env, 0, NULL, "freezeFail", "freezeFail");
        check_aborted_not_thawed(env, ws, 2, &sid);
        check_not_frozen(env, ws, 2);
        check_catalog(env, &sid, "aborted", NULL); /* before freezeFail exited */
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "an aborted external set is left in the catalog");
        check_nothing_held(env, "thaw after freezeFail");
}

/* Part 2: freeze -> every writer Frozen after the hook process has exited (the session outlives it),
 * listed with provenance; thaw -> Thaw, PostSnapshot, BackupComplete, every writer stable; exit 0 both;
 * the set is recorded with the external provider; pre/post; then freezeFail (above). */
static void test_freeze_thaw(void **state) {
        itest_env *env = *state;
        hook_valgrind = true;
        itest_start_lvssd(env, NULL);
        itest_writer *ws[2] = { w_plain(env, "w1"), w_plain(env, "w2") };

        vss_id sid = FREEZE_HELD(env, ws, 2, "in progress, external: ", "freeze");
        for (size_t i = 0; i < 2; i++) {
                itest_wait_event(env, ws[i], "Freeze", &sid, "ok", itest_margin_ms(env));
                CHECK(itest_count_events(ws[i], "Thaw", &sid, NULL) == 0, "%s: thawed before thaw", ws[i]->name);
        }
        check_catalog(env, &sid, "active", NULL);

        HOOK_EXPECT(env, 0, NULL, "thaw", "thaw");
        check_catalog(env, &sid, "completed", NULL); /* before thaw exited */
        for (size_t i = 0; i < 2; i++) {
                itest_wait_event(env, ws[i], "BackupShutdown", &sid, "ok", itest_margin_ms(env));
                CHECK(itest_count_events(ws[i], "Thaw", &sid, "ok") == 1, "%s: no Thaw", ws[i]->name);
                CHECK(itest_count_events(ws[i], "PostSnapshot", &sid, "ok") == 1, "%s: no PostSnapshot",
                      ws[i]->name);
                CHECK(itest_count_events(ws[i], "BackupComplete", &sid, "ok") == 1, "%s: no BackupComplete",
                      ws[i]->name);
                CHECK(itest_count_events(ws[i], "Abort", &sid, NULL) == 0, "%s: aborted", ws[i]->name);
        }
        check_listed(env, ws, 2, VSS_WS_STABLE, "completed, external: ");
        check_catalog(env, &sid, "completed", NULL);
        /* the set made outside is recorded, with the external provider */
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the external set is not in the catalog");
        char *q = itest_xprintf("SELECT snapshot_path FROM snapshots WHERE state = 'created'");
        char *path = itest_catalog_query(env, q);
        CHECK(path && strcmp(path, "external:/") == 0, "snapshot path '%s'", path ? path : "(null)");
        free(path);
        free(q);

        hook_valgrind = false; /* every path of the program has run under valgrind (if on) */
        /* pre / post are the same actions (cloud pre/post scripts) */
        FREEZE_HELD(env, ws, 2, NULL, "pre");
        HOOK_EXPECT(env, 0, NULL, "post", "post");
        check_listed(env, ws, 2, VSS_WS_STABLE, NULL);

        freeze_fail_in(env, ws);
}

/* Part 2: a vetoing writer -> freeze exits 1 naming it; every writer thawed (Abort) and the session
 * aborted before the hook exits; a later thaw finds nothing held. */
static void test_veto(void **state) {
        itest_env *env = *state;
        hook_valgrind = true;
        itest_start_lvssd(env, NULL);
        itest_writer *ok = w_plain(env, "calm");
        itest_writer *bad = WRITER(env, "vetoer", "--instance", "db1", "--fail-at", "Freeze", "--app-message",
                                   "cannot lock");

        hook_run r = HOOK(env, "freeze");
        CHECK(r.code == 1, "freeze exited %d, expected 1", r.code);
        CHECK(strstr(r.err, "lvss-freeze-hook: writer 'vetoer' (instance 'db1'): VSS_E_"),
              "the vetoing writer is not named:\n%s", r.err);
        CHECK(!strstr(r.err, "writer 'calm'"), "the calm writer is named as failing:\n%s", r.err);
        hook_run_free(&r);

        itest_writer *calm[1] = { ok };
        check_not_frozen(env, calm, 1);
        vss_id sid = session_of(env, ok);
        /* before the hook exited, the session was aborted (the catalog says so) and every writer was
         * sent Abort (the line may still be on its way through the pipe) */
        check_catalog(env, &sid, "aborted", NULL);
        itest_wait_event(env, ok, "Abort", &sid, "ok", itest_margin_ms(env));
        (void) bad;
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "a vetoed external set is left in the catalog");

        check_nothing_held(env, "thaw after a failed freeze");
}

/* Part 2: bad input -> one clear line: thaw without freeze (exit 1), freezeFail with nothing held
 * (exit 0, documented), a missing volume (exit 1, VSS_E_OBJECT_NOT_FOUND), no lvssd (exit 1). */
static void test_bad_input(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        itest_start_lvssd(env, NULL);
        w_plain(env, "w1");

        HOOK_EXPECT(env, 1, "lvss-freeze-hook: thaw: no freeze is held (VSS_E_BAD_STATE)", "thaw without freeze",
                    "thaw");
        HOOK_EXPECT(env, 0, "no freeze is held", "freezeFail with nothing held", "freezeFail");
        hook_run r = HOOK(env, "--volume", "/no/such/dir", "freeze");
        CHECK(r.code == 1 && strstr(r.err, "/no/such/dir") && strstr(r.err, "VSS_E_OBJECT_NOT_FOUND"),
              "a missing volume exited %d", r.code);
        hook_run_free(&r);

        /* no lvssd at that socket */
        char *sock = itest_xprintf("%s/none.sock", env->dir);
        r = HOOK(env, "--socket", sock, "freeze");
        CHECK(r.code == 1 && strstr(r.err, "cannot reach lvssd at") && strstr(r.err, "VSS_E_WRITER_INFRASTRUCTURE"),
              "no lvssd: exited %d", r.code);
        hook_run_free(&r);
        free(sock);
}

/* Part 2, the program: --help, --version (exit 0); bad usage (exit 2, one line), no lvssd needed. */
static void test_usage(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        HOOK_EXPECT(env, 0, "Usage: lvss-freeze-hook", "--help", "--help");
        HOOK_EXPECT(env, 0, "lvss-freeze-hook ", "--version", "--version");
        HOOK_EXPECT(env, 2, "one ACTION only", "two actions", "freeze", "thaw");
        HOOK_EXPECT(env, 2, NULL, "a bad option", "--bogus", "freeze");
        HOOK_EXPECT(env, 2, "unknown ACTION 'melt'", "a bad action", "melt");
        HOOK_EXPECT(env, 2, "--hold-limit soon", "a bad hold limit", "--hold-limit", "soon", "freeze");
}

/* Part 2: a freeze while another backup's snapshot set is in creation -> refused, nothing frozen. */
static void freeze_during_backup_in(itest_env *env, itest_writer *w) {
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);

        hook_run r = HOOK(env, "freeze");
        CHECK(r.code == 1, "freeze exited %d", r.code);
        CHECK(strstr(r.err, "another backup's snapshot set is in creation") &&
                      strstr(r.err, "VSS_E_SNAPSHOT_SET_IN_PROGRESS"),
              "message:\n%s", r.err);
        hook_run_free(&r);
        CHECK(itest_count_events(w, "Freeze", NULL, NULL) == 0, "a writer got Freeze");
        itest_requester_release(env, bc);

}

/* Part 2: a freeze during a backup's set (above); then two overlapping freezes -> the second is
 * refused naming the holder, the first stays held; a normal backup's StartSnapshotSet is refused
 * while the freeze is held. */
static void test_overlapping(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        itest_start_lvssd(env, NULL);
        itest_writer *ws[1] = { w_plain(env, "w1") };

        freeze_during_backup_in(env, ws[0]);
        /* once that set is gone, a freeze works */
        HOOK_EXPECT(env, 0, NULL, "freeze", "freeze");
        hook_run r = HOOK(env, "freeze");
        CHECK(r.code == 1, "the second freeze exited %d", r.code);
        CHECK(strstr(r.err, "a freeze is already held by external: lvss-freeze-hook (") &&
                      strstr(r.err, "VSS_E_SNAPSHOT_SET_IN_PROGRESS"),
              "message:\n%s", r.err);
        hook_run_free(&r);
        vss_id sid = check_listed(env, ws, 1, VSS_WS_WAITING_FOR_THAW, "in progress, external: ");

        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        vss_id set;
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_E_SNAPSHOT_SET_IN_PROGRESS, "StartSnapshotSet while held");
        itest_requester_release(env, bc);

        HOOK_EXPECT(env, 0, NULL, "thaw", "thaw");
        check_listed(env, ws, 1, VSS_WS_STABLE, "completed, external: ");
        itest_wait_event(env, ws[0], "BackupShutdown", &sid, "ok", itest_margin_ms(env));
        CHECK(itest_count_events(ws[0], "Freeze", &sid, "ok") == 1, "more than one Freeze");
        CHECK(itest_count_events(ws[0], "Freeze", NULL, "begin") == 1, "the refused freeze sent Freeze");
}

/* Part 2: past the hold limit (the client's --hold-limit 500, smaller than ExternalHoldLimitMS) lvssd
 * thaws every writer (Abort), records the session aborted, and the later thaw exits 1 with one line
 * per writer and "held past the hold limit: thawed before thaw came". */
static void test_hold_limit(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        itest_start_lvssd(env, NULL);
        itest_writer *ws[2] = { w_plain(env, "w1"), WRITER(env, "w2", "--instance", "second") };

        uint64_t start = itest_now_mono_usec();
        hook_run r = HOOK(env, "--hold-limit", "500", "freeze");
        CHECK(r.code == 0, "freeze exited %d", r.code);
        CHECK(strstr(r.err, "at most 500 ms"), "the hold limit is not the client's:\n%s", r.err);
        hook_run_free(&r);
        vss_id sid = session_of(env, ws[0]);

        /* the event: each writer's Abort, sent by lvssd when the limit passed */
        for (size_t i = 0; i < 2; i++) {
                size_t k = itest_wait_event(env, ws[i], "Abort", &sid, "ok", itest_ms(env, 500) + itest_margin_ms(env));
                CHECK(ws[i]->p.out.lines[k].mono_usec - start >= 500 * 1000,
                      "%s thawed %llu ms after the freeze began, before the 500 ms hold limit", ws[i]->name,
                      (unsigned long long) ((ws[i]->p.out.lines[k].mono_usec - start) / 1000));
                CHECK(itest_count_events(ws[i], "Thaw", &sid, NULL) == 0, "%s got Thaw", ws[i]->name);
        }
        free(itest_wait_session_end(env, &sid, NULL, itest_margin_ms(env)));
        check_catalog(env, &sid, "aborted", "held past the hold limit");
        check_not_frozen(env, ws, 2);

        hook_valgrind = true; /* the held-out report's path, under valgrind (if on) */
        r = HOOK(env, "thaw");
        hook_valgrind = false;
        CHECK(r.code == 1, "the late thaw exited %d", r.code);
        CHECK(strstr(r.err, "lvss-freeze-hook: writer 'w1' (instance 'inst'): VSS_E_HOLD_WRITES_TIMEOUT") &&
                      strstr(r.err, "lvss-freeze-hook: writer 'w2' (instance 'second'): VSS_E_HOLD_WRITES_TIMEOUT") &&
                      strstr(r.err, "lvss-freeze-hook: held past the hold limit: thawed before thaw came"),
              "the late thaw does not say so:\n%s", r.err);
        hook_run_free(&r);
        /* said once: the next thaw finds nothing held */
        check_nothing_held(env, "second late thaw");
}

/* Part 2: lvssd stopped (SIGTERM) while a freeze is held: every writer thawed (Abort from lvssd),
 * the session recorded aborted with the reason. */
static void test_sigterm_while_held(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        itest_start_lvssd(env, NULL);
        itest_writer *ws[2] = { w_plain(env, "w1"), w_plain(env, "w2") };

        vss_id sid = FREEZE_HELD(env, ws, 2, NULL, "freeze");
        CHECK(kill(env->lvssd->pid, SIGTERM) == 0, "kill");
        for (size_t i = 0; i < 2; i++)
                itest_wait_event(env, ws[i], "Abort", &sid, "ok", itest_margin_ms(env));
        CHECK(itest_wait_exit(env, env->lvssd, itest_margin_ms(env)), "lvssd did not stop");
        CHECK(WIFEXITED(env->lvssd->wstatus) && WEXITSTATUS(env->lvssd->wstatus) == 0, "lvssd stopped badly");
        check_catalog(env, &sid, "aborted", "lvssd is stopping");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "the aborted external set is left in the catalog");
        /* the writers' own Abort came from lvssd, not from their deadman: they got it before the drop */
        for (size_t i = 0; i < 2; i++)
                CHECK(itest_count_events(ws[i], "Abort", &sid, NULL) == 2, "%s: Abort not once", ws[i]->name);
        itest_restart_lvssd(env, NULL);
}

/* Part 2 / WS-6: lvssd killed (SIGKILL) while a freeze is held: the writers thaw by themselves when
 * the connection drops (their deadman); the restarted lvssd records the session aborted and forgets
 * the unfinished external set. */
static void test_sigkill_while_held(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        itest_start_lvssd(env, NULL);
        itest_writer *ws[2] = { w_plain(env, "w1"), w_plain(env, "w2") };

        vss_id sid = FREEZE_HELD(env, ws, 2, NULL, "freeze");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the held set is not in the catalog");
        itest_kill_lvssd(env);
        for (size_t i = 0; i < 2; i++)
                itest_wait_event(env, ws[i], "Abort", &sid, "ok", itest_margin_ms(env));
        itest_restart_lvssd(env, NULL);
        check_catalog(env, &sid, "aborted", NULL);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "the unfinished external set survives the restart");
        check_nothing_held(env, "thaw after the restart");
}

/* Part 2 (cli.md: "every writer (or those of --volume)"): with --volume only the writers with a
 * component whose files lie on one of the volumes are frozen; the set records those volumes. */
static void test_volume_selection(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        char *a = itest_xprintf("%s/vol-a", env->dir), *b = itest_xprintf("%s/vol-b", env->dir);
        CHECK(mkdir(a, 0755) == 0 && mkdir(b, 0755) == 0, "mkdir");
        char *a_db = itest_xprintf("%s/db", a);
        CHECK(mkdir(a_db, 0755) == 0, "mkdir");
        itest_start_lvssd(env, NULL);
        itest_writer *on_a = WRITER(env, "on-a", "--instance", "x", "--path", a_db);
        itest_writer *on_b = WRITER(env, "on-b", "--instance", "y", "--path", b);

        hook_run r = HOOK(env, "--volume", a, "freeze");
        CHECK(r.code == 0, "freeze --volume exited %d", r.code);
        CHECK(strstr(r.err, "1 writer frozen"), "not one writer frozen:\n%s", r.err);
        hook_run_free(&r);
        itest_writer *frozen[1] = { on_a };
        vss_id sid = check_listed(env, frozen, 1, VSS_WS_WAITING_FOR_THAW, "in progress, external: ");
        CHECK(itest_count_events(on_b, "Freeze", NULL, NULL) == 0, "the writer on another volume got Freeze");
        CHECK(itest_count_events(on_b, "PrepareForSnapshot", NULL, NULL) == 0,
              "the writer on another volume got PrepareForSnapshot");
        char *q = itest_xprintf("SELECT volume FROM snapshots WHERE state = 'creating'");
        char *vol = itest_catalog_query(env, q);
        CHECK(vol && strcmp(vol, a) == 0, "the set records '%s', expected '%s'", vol ? vol : "(null)", a);
        free(vol);
        free(q);

        HOOK_EXPECT(env, 0, "1 writer stable", "thaw", "thaw");
        itest_wait_event(env, on_a, "Thaw", &sid, "ok", itest_margin_ms(env));
        CHECK(itest_count_events(on_b, "Thaw", NULL, NULL) == 0, "the writer on another volume got Thaw");
        free(a);
        free(b);
        free(a_db);
}

/* Part 2 ("nothing is ever left frozen"): the freeze's caller dies before its answer (qemu-ga killed,
 * a caller's own timeout): it will never thaw, so lvssd thaws every writer as soon as they are frozen,
 * long before the hold limit (600 s here), and records the session aborted. */
static void test_caller_gone(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        char *conf = itest_write_config(env, "[Coordinator]\nExternalHoldLimitMS=600000\n");
        itest_start_lvssd_config(env, NULL, conf);
        itest_writer *slow = WRITER(env, "slow", "--instance", "s", "--hang-at", "Freeze", "--hang-ms", "500");

        char *path = itest_xprintf("%s/tools/lvss-freeze-hook", env->build_root);
        const char *argv[] = { path, "--socket", env->socket_path, "--hold-limit", "600000", "freeze", NULL };
        itest_proc *p = itest_spawn_program(env, "lvss-freeze-hook", argv, false, true);
        size_t k = itest_wait_event(env, slow, "Freeze", NULL, "begin", itest_margin_ms(env));
        char *line = slow->p.out.lines[k].text;
        vss_id sid;
        char *brace = strchr(line, '{');
        char idbuf[VSS_ID_STRING_MAX] = "";
        if (brace)
                snprintf(idbuf, sizeof idbuf, "%.38s", brace);
        CHECK(brace && vss_id_parse(idbuf, &sid) == VSS_S_OK, "no session id in '%s'", line);
        itest_kill_proc(env, p);

        itest_wait_event(env, slow, "Freeze", &sid, "ok", itest_ms(env, 500) + itest_margin_ms(env));
        check_aborted_not_thawed(env, &slow, 1, &sid);
        free(itest_wait_session_end(env, &sid, NULL, itest_margin_ms(env)));
        check_catalog(env, &sid, "aborted", "caller went away");
        check_nothing_held(env, "thaw");
        free(path);
        free(conf);
}

/* Part 2 (VMware: freezeFail after a freeze that timed out on its side): freezeFail while the freeze
 * is still on its way exits 0; that freeze then fails (exit 1) and every writer is thawed (Abort). */
static void test_freeze_fail_during_freeze(void **state) {
        itest_env *env = *state;
        hook_valgrind = false;
        itest_start_lvssd(env, NULL);
        itest_writer *slow = WRITER(env, "slow", "--instance", "s", "--hang-at", "Freeze", "--hang-ms", "500");

        char *path = itest_xprintf("%s/tools/lvss-freeze-hook", env->build_root);
        const char *argv[] = { path, "--socket", env->socket_path, "freeze", NULL };
        itest_proc *p = itest_spawn_program(env, "lvss-freeze-hook freeze", argv, false, true);
        itest_wait_event(env, slow, "Freeze", NULL, "begin", itest_margin_ms(env));
        HOOK_EXPECT(env, 0, NULL, "freezeFail during the freeze", "freezeFail");
        int code = itest_program_exit(env, p, itest_ms(env, 500) + itest_margin_ms(env));
        char *out = itest_stream_text(&p->out);
        CHECK(code == 1, "the freeze exited %d after freezeFail, expected 1:\n%s", code, out);
        free(out);
        vss_id sid = session_of(env, slow);
        check_aborted_not_thawed(env, &slow, 1, &sid);
        check_catalog(env, &sid, "aborted", "freezeFail");
        free(path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_freeze_thaw),
                ITEST(test_veto),
                ITEST(test_bad_input),
                ITEST(test_usage),
                ITEST(test_overlapping),
                ITEST(test_hold_limit),
                ITEST(test_sigterm_while_held),
                ITEST(test_sigkill_while_held),
                ITEST(test_volume_selection),
                ITEST(test_caller_gone),
                ITEST(test_freeze_fail_during_freeze),
        };
        return ITEST_MAIN("freeze-hook", tests);
}

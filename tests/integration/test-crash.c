/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 5, crash tests: lvssd is killed (SIGKILL) inside each step of
 * DoSnapshotSet (PrepareForSnapshot, Freeze, the provider's commit, Thaw,
 * PostSnapshot) and of deletion (Release's BackupShutdown, DeleteShadows).
 * What must hold afterwards (architecture.md "State", providers-and-writers.md,
 * WS-6):
 *   - no writer stays frozen: each one that got PrepareForSnapshot ran
 *     on_abort (the library thaws on disconnect) or had finished Thaw, soon
 *     after the kill;
 *   - lvssd started again on the same state directory records the killed
 *     session as aborted, deletes its auto-release and unfinished copies (row
 *     and disk), keeps and lists the persistent copies (made before the
 *     crash, contents intact), its catalog passes PRAGMA integrity_check and
 *     foreign_key_check, and it takes a new snapshot set.
 *
 * How lvssd is held inside a step, with no sleeps: a test writer hanging in
 * that event (--hang-at E --hang-ms: it comes back later and then sees lvssd
 * gone), killed as soon as its `event E ... begin` line appears; the commit
 * and DeleteShadows by the harness's fake exec provider, which writes a
 * marker file (waited for with inotify) and blocks until it is killed.
 *
 * The requester is a child process: it drives the session and is blocked in
 * DoSnapshotSet or Release when lvssd dies.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/*
 * How long the writer that holds lvssd inside a step stays in its handler
 * (scaled by the harness). Each such case waits it out, so under valgrind the
 * deadlines passed on are scaled by at most 3 (itest_cap_deadlines), not 6:
 * 9 s, and what must fit in it before the kill (the other writer's answer
 * to the same event, a catalog read) takes well under a second there. The
 * test checks that the kill came in time (crash_in), so a hang too short
 * fails loudly, never silently.
 */
#define HANG_MS "3000"
#define DEADLINE_FACTOR_MAX 3
#define KEEP_TEXT "a persistent shadow copy made before the crash\n"

static bool streq(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* "5d3c3a8e-..." (no braces): how providers name ids on disk. */
static const char *id_name(const vss_id *id) {
        return itest_id_str(id) + 1;
}

static bool id_name_is(const char *name, const vss_id *id) {
        return strncmp(name, id_name(id), 36) == 0;
}

/*
 * The fake's commit or delete program, blocked when lvssd is killed, and,
 * for commit, lvssd's commit child that runs it: pidfds on them, so that the
 * test can tell when they end and the teardown can end them whatever
 * happens. The test process is a child subreaper, so that what lvssd leaves
 * behind when it is killed is reparented to it and reaped here.
 */
typedef struct stray {
        pid_t pid;
        int pidfd;
} stray;

static stray strays[2] = { { 0, -1 }, { 0, -1 } }; /* [0] the program, [1] the commit child */

static void stray_reap(stray *s) {
        if (s->pid > 0)
                (void) waitpid(s->pid, NULL, WNOHANG); /* ours only when reparented to us */
}

static void strays_kill(void) {
        for (size_t i = 0; i < 2; i++) {
                stray *s = &strays[i];
                if (s->pidfd < 0)
                        continue;
                (void) pidfd_send_signal(s->pidfd, SIGKILL, NULL, 0);
                struct pollfd p = { .fd = s->pidfd, .events = POLLIN };
                (void) poll(&p, 1, 10000);
                close(s->pidfd);
                stray_reap(s);
                *s = (stray) { 0, -1 };
        }
}

static int crash_teardown(void **state) {
        strays_kill();
        int r = itest_teardown(state);
        /* whatever else lvssd left behind and is dead by now */
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        return r;
}

/* ---- the environment of every crash test ----------------------------------- */

typedef struct crash {
        itest_env *env;
        char *config; /* ExecProvider=fake:... */
        char *fake;   /* the fake provider's directory */
        vss_id fake_id;
        /* a persistent shadow copy (copy provider) made before the crash */
        char *keep_volume;
        vss_id keep_set, keep_snap;
        char *keep_path;
} crash;

static void crash_free(crash *c) {
        free(c->config);
        free(c->fake);
        free(c->keep_volume);
        free(c->keep_path);
}

/* A persistent shadow copy of @volume through @provider (NULL: default), with a full backup sequence. */
static void make_persistent(itest_env *env, const char *volume, const vss_id *provider, vss_id *ret_set,
                            vss_id *ret_snap, char **ret_path) {
        vss_backup_components *bc = itest_requester(env, false);
        vss_snapshot_prop p = { .size = sizeof(vss_snapshot_prop) };

        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context(APP_ROLLBACK)");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, ret_set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, volume, provider, ret_snap), VSS_S_OK, "vss_add_to_snapshot_set(%s)",
                 volume);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK_HR(vss_get_snapshot_properties(bc, ret_snap, &p), VSS_S_OK, "vss_get_snapshot_properties");
        *ret_path = strdup(p.snapshot_path);
        vss_free_snapshot_properties(&p);
        STEP_OK(env, bc, vss_backup_complete);
        itest_requester_release(env, bc);
}

/* lvssd with the fake provider configured, and a persistent shadow copy that every crash must spare. */
static void crash_start(itest_env *env, crash *c) {
        /* deadlines long enough never to be what ends a step here */
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 20000 };

        memset(c, 0, sizeof *c);
        c->env = env;
        itest_cap_deadlines(env, DEADLINE_FACTOR_MAX);
        c->fake = itest_fake_provider(env);
        char *text = itest_xprintf("# issue 5 crash tests\n[Coordinator]\nExecProvider=fake:%s/provider\n", c->fake);
        c->config = itest_xprintf("%s/lvssd.conf", env->dir);
        itest_write_file(c->config, text, strlen(text));
        free(text);
        itest_start_lvssd_config(env, &opts, c->config);
        CHECK_HR(itest_provider_id(env->socket_path, "fake", &c->fake_id), VSS_S_OK,
                 "ListProviders lists the ExecProvider=fake");

        c->keep_volume = itest_xprintf("%s/keep", env->dir);
        char *f = itest_xprintf("%s/keep.txt", c->keep_volume);
        CHECK(mkdir(c->keep_volume, 0755) == 0, "mkdir %s: %m", c->keep_volume);
        itest_write_file(f, KEEP_TEXT, strlen(KEEP_TEXT));
        free(f);
        make_persistent(env, c->keep_volume, NULL, &c->keep_set, &c->keep_snap, &c->keep_path);
        itest_note("persistent shadow copy %s at %s", itest_id_str(&c->keep_snap), c->keep_path);
}

/* ---- the requester child ------------------------------------------------------ */

typedef struct req_arg {
        const char *volume;
        vss_id provider_id; /* null: the default */
        int32_t context;
        bool release; /* Release after DoSnapshotSet: the step to die in is BackupShutdown */
} req_arg;

static vss_hresult wait_op(vss_hresult hr, vss_async **a) {
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

static int requester_main(int fd, void *userdata) {
        const req_arg *arg = userdata;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id sid, set, snap;
        char s1[VSS_ID_STRING_MAX], s2[VSS_ID_STRING_MAX];
        vss_hresult hr;

        if ((hr = vss_create_backup_components(&bc)) != VSS_S_OK || (hr = vss_get_session_id(bc, &sid)) != VSS_S_OK)
                goto fail;
        vss_id_format(&sid, s1);
        itest_child_say(fd, "session %s", s1);
        if ((hr = vss_initialize_for_backup(bc, NULL)) != VSS_S_OK ||
            (hr = vss_set_context(bc, arg->context)) != VSS_S_OK ||
            (hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false)) != VSS_S_OK)
                goto fail;
        if ((hr = wait_op(vss_gather_writer_metadata(bc, &a), &a)) != VSS_S_OK)
                goto fail;
        if ((hr = vss_start_snapshot_set(bc, &set)) != VSS_S_OK ||
            (hr = vss_add_to_snapshot_set(bc, arg->volume,
                                          vss_id_is_null(&arg->provider_id) ? NULL : &arg->provider_id, &snap)) !=
                    VSS_S_OK)
                goto fail;
        vss_id_format(&set, s1);
        vss_id_format(&snap, s2);
        itest_child_say(fd, "set %s snapshot %s", s1, s2);
        if ((hr = wait_op(vss_prepare_for_backup(bc, &a), &a)) != VSS_S_OK)
                goto fail;
        hr = wait_op(vss_do_snapshot_set(bc, &a), &a);
        itest_child_say(fd, "do-snapshot-set 0x%08" PRIX32, (uint32_t) hr);
        if (arg->release && hr == VSS_S_OK) {
                itest_child_say(fd, "releasing");
                bc = vss_backup_components_release(bc); /* waits for BackupShutdown */
                itest_child_say(fd, "released");
        }
        vss_backup_components_release(bc);
        return 0;
fail:
        itest_child_say(fd, "error 0x%08" PRIX32, (uint32_t) hr);
        vss_backup_components_release(bc);
        return 1;
}

typedef struct req_ids {
        vss_id sid, set, snap;
} req_ids;

static itest_proc *start_requester(itest_env *env, req_arg *arg, req_ids *ids) {
        itest_proc *req = itest_spawn_child(env, "requester", requester_main, arg);
        size_t l = itest_wait_line_must(env, req, "session ", itest_ms(env, 10000));
        CHECK(vss_id_parse(req->out.lines[l].text + strlen("session "), &ids->sid) == VSS_S_OK, "session line");
        l = itest_wait_line_must(env, req, "set ", itest_ms(env, 20000));
        char set[64], snap[64];
        CHECK(sscanf(req->out.lines[l].text, "set %63s snapshot %63s", set, snap) == 2 &&
                      vss_id_parse(set, &ids->set) == VSS_S_OK && vss_id_parse(snap, &ids->snap) == VSS_S_OK,
              "bad line \"%s\"", req->out.lines[l].text);
        return req;
}

/* ---- after the kill ------------------------------------------------------------- */

/*
 * WS-6: lvssd is gone, so the writer's library thaws it: a writer that got
 * PrepareForSnapshot of @sid ran on_abort (its `event Abort` line) or had
 * finished Thaw, and then exited (it saw the connection drop), all within
 * @bound_ms of @killed_usec.
 */
static void check_writer_released(itest_env *env, itest_writer *w, const vss_id *sid, uint64_t killed_usec,
                                  unsigned bound_ms, bool must_have_prepared) {
        uint64_t deadline = killed_usec + (uint64_t) bound_ms * 1000u, now = itest_now_mono_usec();
        unsigned left = now >= deadline ? 0 : (unsigned) ((deadline - now) / 1000);

        if (!itest_wait_exit(env, &w->p, left)) {
                itest_dump_stream(w->p.label, &w->p.out);
                FAIL("WS-6: %s still runs %u ms after lvssd was killed: it did not notice the connection drop",
                     w->p.label, bound_ms);
        }
        ssize_t prep = itest_find_event(w, "PrepareForSnapshot", sid, "begin", 0, SIZE_MAX);
        if (prep < 0) {
                CHECK(!must_have_prepared, "%s never got PrepareForSnapshot", w->p.label);
                return;
        }
        ssize_t abort_line = itest_find_event(w, "Abort", NULL, "ok", (size_t) prep, SIZE_MAX);
        ssize_t thaw_line = itest_find_event(w, "Thaw", sid, "ok", (size_t) prep, SIZE_MAX);
        if (abort_line < 0 && thaw_line < 0) {
                itest_dump_stream(w->p.label, &w->p.out);
                FAIL("WS-6: %s got PrepareForSnapshot but neither ran on_abort nor finished Thaw after lvssd died",
                     w->p.label);
        }
        ssize_t first = abort_line >= 0 ? abort_line : thaw_line;
        uint64_t at = w->p.out.lines[first].mono_usec;
        CHECK(at <= deadline, "WS-6: %s was released %" PRIu64 " ms after lvssd was killed, bound %u ms", w->p.label,
              at > killed_usec ? (at - killed_usec) / 1000 : 0, bound_ms);
        CHECK(itest_find_line(&w->p.out, "disconnected", (size_t) prep, SIZE_MAX) >= 0,
              "%s exited without seeing the connection drop", w->p.label);
}

/* Everything in STATE_DIR/shadows/<set>/<entry> belongs to a listed shadow copy. */
static void check_storage_only_listed(itest_env *env, const itest_shadow_list *l) {
        char *root = itest_xprintf("%s/shadows", env->state_dir);
        DIR *d = opendir(root);
        struct dirent *e;

        CHECK(d, "opendir %s: %m", root);
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char *set = itest_xprintf("%s/%s", root, e->d_name);
                DIR *s = opendir(set);
                struct dirent *f;
                CHECK(s, "%s is not a directory", set);
                while ((f = readdir(s))) {
                        bool known = false;
                        if (f->d_name[0] == '.')
                                continue;
                        for (size_t i = 0; i < l->n && !known; i++)
                                known = id_name_is(e->d_name, &l->v[i].set_id) &&
                                        id_name_is(f->d_name, &l->v[i].snapshot_id);
                        CHECK(known, "%s/%s is left in the storage area but belongs to no listed shadow copy", set,
                              f->d_name);
                }
                closedir(s);
                free(set);
        }
        closedir(d);
        free(root);
}

/* The fake's DIR/snaps holds only listed shadow copies. */
static void check_fake_only_listed(const crash *c, const itest_shadow_list *l) {
        char *root = itest_xprintf("%s/snaps", c->fake);
        DIR *d = opendir(root);
        struct dirent *e;

        CHECK(d, "opendir %s: %m", root);
        while ((e = readdir(d))) {
                bool known = false;
                if (e->d_name[0] == '.')
                        continue;
                char *path = itest_xprintf("%s/%s", root, e->d_name);
                for (size_t i = 0; i < l->n && !known; i++)
                        known = streq(l->v[i].snapshot_path, path);
                CHECK(known, "the fake provider still has %s, which no listed shadow copy names", path);
                free(path);
        }
        closedir(d);
        free(root);
}

static void check_catalog_sound(itest_env *env) {
        char *ic = itest_catalog_query(env, "PRAGMA integrity_check");
        CHECK(streq(ic, "ok"), "PRAGMA integrity_check says: %s", ic ? ic : "(query failed)");
        free(ic);
        char *fk = itest_catalog_query(env, "PRAGMA foreign_key_check");
        CHECK(fk && *fk == 0, "PRAGMA foreign_key_check finds: %s", fk ? fk : "(query failed)");
        free(fk);
}

static void check_keep_intact(const crash *c, const itest_shadow_list *l) {
        const itest_shadow *k = itest_shadow_find(l, &c->keep_snap);
        CHECK(k, "the persistent shadow copy %s made before the crash is not listed", itest_id_str(&c->keep_snap));
        CHECK(k->persistent && streq(k->state, "created") && streq(k->snapshot_path, c->keep_path),
              "the persistent shadow copy is listed as %s, %s, at %s (expected persistent, created, at %s)",
              k->persistent ? "persistent" : "auto-release", k->state, k->snapshot_path, c->keep_path);
        CHECK(vss_id_equal(&k->set_id, &c->keep_set), "the persistent shadow copy changed sets");
        char *f = itest_xprintf("%s/keep.txt", c->keep_path);
        char *text = itest_read_file(f);
        CHECK(streq(text, KEEP_TEXT), "the persistent shadow copy's %s holds \"%s\"", f, text ? text : "(nothing)");
        free(text);
        free(f);
}

/*
 * After the restart: the killed session (when @ids) is aborted, none of its
 * copies is left (row or disk), no auto-release or unfinished copy of
 * anyone survives, the persistent copies are listed and intact, the catalog
 * is sound.
 */
static void check_recovered(crash *c, const req_ids *ids) {
        itest_env *env = c->env;
        itest_shadow_list l;

        if (ids) {
                char *state = NULL, *reason = NULL;
                CHECK(itest_catalog_session(env, &ids->sid, &state, &reason), "the catalog has no session %s",
                      itest_id_str(&ids->sid));
                itest_note("after the restart, session %s is '%s' (%s)", itest_id_str(&ids->sid),
                           state ? state : "(null)", reason ? reason : "(null)");
                CHECK(streq(state, "aborted"), "the killed session is recorded as '%s', expected 'aborted'",
                      state ? state : "(null)");
                CHECK(reason && *reason, "the killed session is recorded as aborted without a reason");
                free(state);
                free(reason);
                CHECK(itest_catalog_snapshot_count(env, &ids->sid) == 0,
                      "%d snapshot row(s) of the killed session survive the restart",
                      itest_catalog_snapshot_count(env, &ids->sid));
                char *p = itest_xprintf("%s/snaps/%s", c->fake, id_name(&ids->snap));
                struct stat st;
                CHECK(lstat(p, &st) < 0, "the fake provider's copy %s of the killed session survives", p);
                free(p);
        }
        char *n = itest_catalog_query(env, "SELECT count(*) FROM snapshots WHERE persistent = 0 OR state <> 'created'");
        CHECK(streq(n, "0"), "%s auto-release or unfinished snapshot row(s) survive the restart", n ? n : "?");
        free(n);

        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows");
        char *rows = itest_catalog_query(env, "SELECT count(*) FROM snapshots");
        CHECK(rows && (size_t) atoi(rows) == l.n, "ListShadows lists %zu, the catalog has %s", l.n, rows);
        free(rows);
        check_keep_intact(c, &l);
        check_storage_only_listed(env, &l);
        check_fake_only_listed(c, &l);
        itest_shadow_list_free(&l);
        check_catalog_sound(env);
}

/* The restarted lvssd takes a new snapshot set (nothing is left "in progress"), and releases it. */
static void check_usable(itest_env *env) {
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc), set, snap;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK,
                 "a new StartSnapshotSet after the restart (no set may be left in progress)");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "vss_add_to_snapshot_set");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "the new set is not in the catalog");
        itest_requester_release(env, bc);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "the new auto-release set outlives its release");
}

static pid_t parent_of(pid_t pid) {
        char *path = itest_xprintf("/proc/%d/stat", (int) pid);
        char *text = itest_read_file(path);
        char *close_paren = text ? strrchr(text, ')') : NULL;
        int ppid = 0;

        if (!close_paren || sscanf(close_paren, ") %*c %d", &ppid) != 1)
                ppid = 0;
        free(text);
        free(path);
        return (pid_t) ppid;
}

/* Wait for the fake's marker @name (its pid); keep pidfds on it and, when
 * its parent is not lvssd itself, on that parent (the commit child). */
static pid_t wait_fake_blocked(itest_env *env, const crash *c, const char *name) {
        char *path = itest_xprintf("%s/%s", c->fake, name);
        CHECK(itest_wait_file_lines(env, path, 1, itest_ms(env, 20000)), "the fake provider never wrote %s", path);
        char *text = itest_read_file(path);
        pid_t pid = text ? (pid_t) atoi(text) : 0;
        CHECK(pid > 0, "bad pid in %s: %s", path, text ? text : "(nothing)");
        free(text);
        free(path);
        strays_kill();
        strays[0] = (stray) { pid, pidfd_open(pid, 0) };
        CHECK(strays[0].pidfd >= 0, "pidfd_open(%d): %m (the fake provider is not blocked?)", (int) pid);
        pid_t ppid = parent_of(pid);
        if (ppid > 0 && ppid != env->lvssd->pid) {
                strays[1] = (stray) { ppid, pidfd_open(ppid, 0) };
                CHECK(strays[1].pidfd >= 0, "pidfd_open(%d): %m", (int) ppid);
        }
        return pid;
}

/*
 * The provider program that the killed lvssd ran, and the commit child that
 * ran it, must not outlive lvssd by more than @bound_ms: the commit child
 * holds the hold window's promise (WS-6) and, while it lives, could still
 * make a shadow copy behind the restarted lvssd's back.
 */
static void check_strays_gone(itest_env *env, const char *what, uint64_t killed_usec, unsigned bound_ms) {
        uint64_t deadline = killed_usec + (uint64_t) bound_ms * 1000u;
        static const char *const names[] = { "program", "commit child of lvssd" };

        (void) env;
        for (size_t i = 0; i < 2; i++) {
                stray *s = &strays[i];
                if (s->pidfd < 0)
                        continue;
                uint64_t now = itest_now_mono_usec();
                struct pollfd p = { .fd = s->pidfd, .events = POLLIN };
                int r = poll(&p, 1, now >= deadline ? 0 : (int) ((deadline - now) / 1000));
                if (r <= 0) {
                        pid_t pid = s->pid;
                        strays_kill(); /* ends it, and whatever waits for it */
                        FAIL("the provider's %s %s (pid %d), started by the killed lvssd, still runs %u ms after "
                             "the kill: it holds on to what lvssd held and can still act behind the restarted "
                             "lvssd's back", what, names[i], (int) pid, bound_ms);
                }
        }
        for (size_t i = 0; i < 2; i++) {
                if (strays[i].pidfd >= 0)
                        close(strays[i].pidfd);
                stray_reap(&strays[i]);
                strays[i] = (stray) { 0, -1 };
        }
}

/* ---- the tests --------------------------------------------------------------------- */

typedef struct scenario {
        const char *step;    /* the writer event lvssd is killed in; NULL: the provider's commit */
        int32_t context;
        bool fake;           /* the set's volume goes to the fake provider */
        bool release;        /* the set is made, then Release: the step is BackupShutdown */
        const char *row_state; /* the killed set's row before the kill: "creating", "created", or NULL: none */
        bool before_go;      /* issue 11 §5: lvssd's commit child, forked before Freeze, waits for "go" */
} scenario;

/* Issue 11 §5: the pid of the commit child lvssd forked before Freeze (its log: "commit: runs in a
 * worker (pid N"), watched as a stray: it must die with lvssd, before "go", having made nothing. */
static void watch_commit_before_go(itest_env *env) {
        static const char key[] = ": commit: runs in a worker (pid ";
        char *log = itest_read_file(env->lvssd->log_path);
        const char *last = NULL;
        pid_t pid = 0;

        for (const char *p = log ? strstr(log, key) : NULL; p; p = strstr(p + 1, key))
                last = p; /* the last one: the set of this session (the first made the kept copy) */
        if (last)
                pid = (pid_t) atoi(last + strlen(key));
        CHECK(pid > 0 && parent_of(pid) == env->lvssd->pid,
              "issue 11 §5: lvssd has no commit child forked before Freeze (log pid %d)", (int) pid);
        CHECK(!strstr(last, "commit: making"), "the commit was told to go while a writer was still in Freeze");
        free(log);
        strays_kill();
        strays[1] = (stray) { pid, pidfd_open(pid, 0) };
        CHECK(strays[1].pidfd >= 0, "pidfd_open(%d): %m", (int) pid);
}

static void crash_in(itest_env *env, const scenario *sc) {
        crash c;
        req_ids ids;
        pid_t fake_pid = 0;
        char *copy_path = NULL;

        crash_start(env, &c);
        itest_writer *hang = NULL;
        if (sc->step)
                hang = WRITER(env, "hangs", "--freeze-timeout", "30000", "--hang-at", sc->step, "--hang-ms",
                            HANG_MS);
        itest_writer *calm = WRITER(env, "calm", "--freeze-timeout", "30000");
        if (!sc->step) {
                char *f = itest_xprintf("%s/hang-commit", c.fake);
                itest_write_file(f, "", 0);
                free(f);
        }

        req_arg arg = { .volume = env->data_dir, .context = sc->context, .release = sc->release };
        if (sc->fake)
                arg.provider_id = c.fake_id;
        itest_proc *req = start_requester(env, &arg, &ids);

        /* lvssd is inside the step: one writer hangs in it, the other has finished it (lvssd
         * sends the event to both at once, but on a busy machine it may be killed between the
         * two sends if the test waited only for the first) */
        uint64_t hang_seen = 0;
        if (sc->step) {
                itest_wait_event(env, hang, sc->step, &ids.sid, "begin", itest_ms(env, 20000));
                hang_seen = itest_now_mono_usec();
                itest_wait_event(env, calm, sc->step, &ids.sid, "ok", itest_ms(env, 20000));
        } else
                fake_pid = wait_fake_blocked(env, &c, "commit-started");
        if (fake_pid)
                itest_note("the fake provider's commit (pid %d) blocks", (int) fake_pid);

        if (sc->before_go)
                watch_commit_before_go(env);
        int rows = itest_catalog_snapshot_count(env, &ids.sid);
        if (sc->before_go) {
                /* the set's row is written before Freeze ("creating"); its copy must never be made */
                char *q = itest_xprintf("SELECT snapshot_path FROM snapshots WHERE id = '%s'", itest_id_str(&ids.snap));
                copy_path = itest_catalog_query(env, q);
                free(q);
                CHECK(copy_path && copy_path[0] == '/', "the set's row has no planned copy path before Freeze");
        }
        if (sc->row_state) {
                char *q = itest_xprintf("SELECT state FROM snapshots WHERE id = '%s'", itest_id_str(&ids.snap));
                char *st = itest_catalog_query(env, q);
                CHECK(rows == 1 && streq(st, sc->row_state),
                      "before the kill the set's row should be '%s': %d row(s), state %s", sc->row_state, rows,
                      st ? st : "(none)");
                free(st);
                free(q);
                if (!sc->fake) {
                        /* the copy provider's copy is on disk: recovery must delete it (or keep it listed) */
                        q = itest_xprintf("SELECT snapshot_path FROM snapshots WHERE id = '%s'", itest_id_str(&ids.snap));
                        copy_path = itest_catalog_query(env, q);
                        struct stat sb;
                        CHECK(copy_path && lstat(copy_path, &sb) == 0, "before the kill the copy %s is not on disk",
                              copy_path ? copy_path : "(no path)");
                        free(q);
                }
        }
        itest_note("lvssd is inside %s (session %s, %d snapshot row(s)): SIGKILL", sc->step ? sc->step : "commit",
                   itest_id_str(&ids.sid), rows);
        uint64_t killed = itest_now_mono_usec();
        itest_kill_lvssd(env);
        /* the kill came while the hanging writer was still in its handler (a quarter of the hang to spare) */
        if (sc->step)
                CHECK((killed - hang_seen) / 1000 < itest_deadline_ms(env, (unsigned) atoi(HANG_MS)) * 3 / 4,
                      "lvssd was killed %" PRIu64 " ms after the writer began to hang in %s for %u ms: the "
                      "step may have ended first (HANG_MS too short for this machine)",
                      (killed - hang_seen) / 1000, sc->step, itest_deadline_ms(env, (unsigned) atoi(HANG_MS)));

        if (sc->before_go) {
                /* issue 11 §5: the child dies with lvssd (PR_SET_PDEATHSIG, or the closed socket says
                 * abort) without making the copy */
                check_strays_gone(env, "commit, forked before Freeze and not told to go,", killed,
                                  itest_margin_ms(env));
                struct stat sb;
                CHECK(!copy_path || (lstat(copy_path, &sb) < 0 && errno == ENOENT),
                      "issue 11 §5: the commit child, never told to go, made the copy %s", copy_path);
        }
        itest_restart_lvssd(env, c.config);
        check_recovered(&c, &ids);
        if (copy_path) {
                struct stat sb;
                CHECK(lstat(copy_path, &sb) < 0 && errno == ENOENT, "the killed session's copy %s survives the restart",
                      copy_path);
        }
        check_usable(env);

        for (size_t i = 0; i < 2; i++) {
                struct pollfd p = { .fd = strays[i].pidfd, .events = POLLIN };
                if (strays[i].pidfd >= 0 && poll(&p, 1, 0) == 0)
                        itest_note("pid %d (%s) that the killed lvssd started still runs", (int) strays[i].pid,
                                   i == 0 ? "the fake provider's commit" : "lvssd's commit child");
        }
        /* WS-6: nobody stays frozen because the coordinator died */
        check_writer_released(env, calm, &ids.sid, killed, itest_margin_ms(env), true);
        if (hang)
                check_writer_released(env, hang, &ids.sid, killed,
                                      itest_deadline_ms(env, (unsigned) atoi(HANG_MS)) + itest_margin_ms(env),
                                      true);
        if (!sc->step)
                check_strays_gone(env, "commit", killed, itest_margin_ms(env));
        (void) req;
        free(copy_path);
        crash_free(&c);
}

/* Killed in PrepareForSnapshot (a writer is still preparing, the other is prepared). */
static void test_crash_in_prepare_for_snapshot(void **state) {
        scenario sc = { .step = "PrepareForSnapshot", .context = VSS_CTX_BACKUP };
        crash_in(*state, &sc);
}

/* Killed in Freeze: one writer frozen, the other still freezing; lvssd's commit child, forked
 * before Freeze, waits for "go" (issue 11 §5: it dies with lvssd and makes nothing). */
static void test_crash_in_freeze(void **state) {
        scenario sc = { .step = "Freeze", .context = VSS_CTX_BACKUP, .before_go = true };
        crash_in(*state, &sc);
}

/* Killed in the provider's commit (inside the hold window, both writers frozen), of a persistent set:
 * an unfinished persistent copy ("creating") must go too. */
static void test_crash_in_commit(void **state) {
        scenario sc = { .context = VSS_CTX_APP_ROLLBACK, .fake = true, .row_state = "creating" };
        crash_in(*state, &sc);
}

/* Killed in Thaw: the copy exists on disk, its persistent row still says "creating". */
static void test_crash_in_thaw(void **state) {
        scenario sc = { .step = "Thaw", .context = VSS_CTX_APP_ROLLBACK, .row_state = "creating" };
        crash_in(*state, &sc);
}

/* Killed in PostSnapshot of an auto-recovery set (issue 9 part 2, the default): the copy is
 * made but still writable, so its row stays "creating" until finalize, and the restarted lvssd
 * deletes it rather than keep a writable copy. */
static void test_crash_in_post_snapshot(void **state) {
        scenario sc = { .step = "PostSnapshot", .context = VSS_CTX_BACKUP, .row_state = "creating" };
        crash_in(*state, &sc);
}

/* Killed in PostSnapshot without auto-recovery (-nar): the read-only auto-release copy is made ("created"). */
static void test_crash_in_post_snapshot_nar(void **state) {
        scenario sc = { .step = "PostSnapshot",
                        .context = VSS_CTX_BACKUP | VSS_VOLSNAP_ATTR_NO_AUTORECOVERY,
                        .row_state = "created" };
        crash_in(*state, &sc);
}

/* Killed in Release's BackupShutdown: the auto-release copy exists and is about to be deleted. */
static void test_crash_in_backup_shutdown(void **state) {
        scenario sc = { .step = "BackupShutdown", .context = VSS_CTX_BACKUP, .release = true, .row_state = "created" };
        crash_in(*state, &sc);
}

typedef struct delete_arg {
        const char *socket_path;
        vss_id set;
} delete_arg;

static int deleter_main(int fd, void *userdata) {
        const delete_arg *a = userdata;
        uint32_t n = 0;
        vss_hresult hr = itest_delete_shadows(a->socket_path, "set", &a->set, NULL, false, &n);
        itest_child_say(fd, "deleted %" PRIu32 " 0x%08" PRIX32, n, (uint32_t) hr);
        return 0;
}

/* Killed in DeleteShadows, while the provider deletes a persistent copy: the copy is still listed after the
 * restart (its row goes only after the copy is gone), intact, and can be deleted then. */
static void test_crash_in_delete_shadows(void **state) {
        itest_env *env = *state;
        crash c;
        vss_id set, snap;
        char *path = NULL;
        itest_shadow_list l;

        crash_start(env, &c);
        itest_writer *calm = WRITER(env, "calm");
        make_persistent(env, env->data_dir, &c.fake_id, &set, &snap, &path);
        itest_note("persistent shadow copy %s by the fake provider at %s", itest_id_str(&snap), path);
        char *hang = itest_xprintf("%s/hang-delete", c.fake);
        itest_write_file(hang, "", 0);

        delete_arg arg = { env->socket_path, set };
        itest_spawn_child(env, "deleter", deleter_main, &arg);
        pid_t fake_pid = wait_fake_blocked(env, &c, "delete-started");
        itest_note("lvssd is inside DeleteShadows (the fake's delete, pid %d): SIGKILL", (int) fake_pid);
        uint64_t killed = itest_now_mono_usec();
        itest_kill_lvssd(env);
        /* the delete program ran in lvssd itself: it must die with it */
        check_strays_gone(env, "delete", killed, itest_margin_ms(env));
        CHECK(unlink(hang) == 0, "unlink %s: %m", hang);

        itest_restart_lvssd(env, c.config);
        check_recovered(&c, NULL);
        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows");
        const itest_shadow *s = itest_shadow_find(&l, &snap);
        CHECK(s && s->persistent && streq(s->state, "created") && streq(s->snapshot_path, path),
              "the persistent copy whose deletion was interrupted is not listed as it was (created, at %s)", path);
        itest_shadow_list_free(&l);
        char *f = itest_xprintf("%s/a.txt", path);
        char *text = itest_read_file(f);
        CHECK(text && strstr(text, "alpha"), "the copy whose deletion was interrupted lost %s", f);
        free(text);
        free(f);

        uint32_t n = 0;
        CHECK_HR(itest_delete_shadows(env->socket_path, "set", &set, NULL, false, &n), VSS_S_OK,
                 "DeleteShadows again after the restart");
        CHECK(n == 1, "DeleteShadows deleted %" PRIu32 " copies, expected 1", n);
        struct stat st;
        CHECK(lstat(path, &st) < 0, "%s is still on disk after DeleteShadows", path);
        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows");
        CHECK(!itest_shadow_find(&l, &snap), "the deleted copy is still listed");
        check_keep_intact(&c, &l);
        itest_shadow_list_free(&l);
        check_catalog_sound(env);
        check_usable(env);
        (void) calm;
        free(hang);
        free(path);
        crash_free(&c);
}

/*
 * Issue 11 §4: a shadow copy whose catalog row cannot be marked "created" is
 * not reported as made. The catalog is the real one; a trigger the test adds
 * makes exactly that UPDATE fail. Without a fix, DoSnapshotSet succeeded, the
 * row stayed "creating", and the next start-up deleted the persistent copy
 * the requester had been told exists. Now DoSnapshotSet fails with
 * VSS_E_UNEXPECTED_PROVIDER_ERROR and leaves no copy (disk or row); a copy
 * DoSnapshotSet did report must survive the restart. @writable: an
 * auto-recovery set, whose rows become "created" at finalize.
 */
static void catalog_refuses_created(itest_env *env, bool writable) {
        crash c;
        vss_id set, snap, sid;
        vss_snapshot_prop p = { .size = sizeof(vss_snapshot_prop) };
        itest_shadow_list l;
        char *path = NULL;

        crash_start(env, &c);
        itest_writer *calm = WRITER(env, "calm");
        if (writable) {
                char *says = itest_xprintf("%s/prepare-says", c.fake);
                itest_write_file(says, "writable\n", strlen("writable\n"));
                free(says);
        }
        char *r = itest_catalog_query(env, "CREATE TRIGGER test_refuses_created BEFORE UPDATE OF state ON snapshots "
                                           "WHEN NEW.state = 'created' BEGIN SELECT RAISE(ABORT, 'refused by "
                                           "test-crash'); END");
        CHECK(r, "cannot add the trigger to the catalog");
        free(r);

        vss_backup_components *bc = itest_requester(env, false);
        sid = itest_session_id(bc);
        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context(APP_ROLLBACK)");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &c.fake_id, &snap), VSS_S_OK,
                 "vss_add_to_snapshot_set(%s)", env->data_dir);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        if (hr == VSS_S_OK) {
                CHECK_HR(vss_get_snapshot_properties(bc, &snap, &p), VSS_S_OK, "vss_get_snapshot_properties");
                path = strdup(p.snapshot_path);
                vss_free_snapshot_properties(&p);
                itest_note("DoSnapshotSet reported shadow copy %s at %s", itest_id_str(&snap), path);
        }
        itest_requester_release(env, bc);
        r = itest_catalog_query(env, "DROP TRIGGER test_refuses_created");
        CHECK(r, "cannot drop the trigger");
        free(r);

        itest_kill_lvssd(env);
        itest_restart_lvssd(env, c.config);
        if (hr == VSS_S_OK) {
                /* the requester was told the copy exists: the restart must keep it */
                CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows");
                const itest_shadow *s = itest_shadow_find(&l, &snap);
                struct stat st;
                CHECK(s && streq(s->state, "created") && lstat(path, &st) == 0,
                      "DoSnapshotSet reported the persistent shadow copy %s at %s, and lvssd's restart deleted it",
                      itest_id_str(&snap), path);
                itest_shadow_list_free(&l);
        }
        CHECK_HR(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR, "DoSnapshotSet while the catalog cannot record the copy");
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "%d snapshot row(s) of the failed set are left",
              itest_catalog_snapshot_count(env, &sid));
        char *copy = itest_xprintf("%s/snaps/%s", c.fake, id_name(&snap));
        struct stat st;
        CHECK(lstat(copy, &st) < 0, "the failed set's copy %s is left on disk", copy);
        free(copy);
        check_recovered(&c, NULL);
        check_usable(env);
        (void) calm;
        free(path);
        crash_free(&c);
}

static void test_catalog_refuses_created(void **state) {
        catalog_refuses_created(*state, false);
}

static void test_catalog_refuses_created_auto_recovery(void **state) {
        catalog_refuses_created(*state, true);
}

#define CRASH_TEST(fn) cmocka_unit_test_setup_teardown(fn, itest_setup, crash_teardown)

int main(void) {
        /* what the killed lvssd leaves running comes to us: we can reap it */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                perror("prctl(PR_SET_CHILD_SUBREAPER)");
        const struct CMUnitTest tests[] = {
                CRASH_TEST(test_crash_in_prepare_for_snapshot),
                CRASH_TEST(test_crash_in_freeze),
                CRASH_TEST(test_crash_in_commit),
                CRASH_TEST(test_crash_in_thaw),
                CRASH_TEST(test_crash_in_post_snapshot),
                CRASH_TEST(test_crash_in_post_snapshot_nar),
                CRASH_TEST(test_crash_in_backup_shutdown),
                CRASH_TEST(test_crash_in_delete_shadows),
                CRASH_TEST(test_catalog_refuses_created),
                CRASH_TEST(test_catalog_refuses_created_auto_recovery),
        };
        return ITEST_MAIN("crash", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 9 part 2: auto-recovery shadow copies (app-consistency.md §2), with a
 * real lvssd and real lvss-test-writer processes (--write-copy: in
 * PostSnapshot the writer writes repaired.txt into its volume's shadow copy at
 * vss_writer_get_snapshot_path() and says how that went).
 *
 *   - copy provider, default backup context: the writer sees
 *     auto_recovery=1, its write lands in the copy, and once DoSnapshotSet is
 *     done the tree is read-only (immutable: a write is refused even to root,
 *     the modes are the volume's) and the catalog row says "created";
 *   - copy provider with VSS_VOLSNAP_ATTR_NO_AUTORECOVERY: the writer sees
 *     auto_recovery=0, the copy is read-only already in PostSnapshot with the
 *     volume's modes, and the writer's write (as root) is refused with EPERM
 *     (on btrfs with EROFS, in test-btrfs-set);
 *   - a writer killed (SIGKILL) in PostSnapshot after writing: the copy is
 *     read-only all the same, with the file;
 *   - a writer that hangs in PostSnapshot past lvssd's event deadline: the
 *     copy is read-only when DoSnapshotSet is done, the writer not responding;
 *   - the session cancelled after the commit (a writer hangs in PostSnapshot,
 *     the requester cancels DoSnapshotSet): the persistent copy is read-only;
 *   - vshadow -nar: the writer sees auto_recovery=0; vshadow without it: 1;
 *   - an exec provider whose prepare says "writable": commit gets
 *     LVSS_WRITABLE=1, the writer's write lands in the copy, and
 *     "PROGRAM finalize PATH" has run when DoSnapshotSet is done; one that does
 *     not say it: auto_recovery=0, LVSS_WRITABLE unset, no finalize; a
 *     finalize that fails: DoSnapshotSet fails with
 *     VSS_E_UNEXPECTED_PROVIDER_ERROR and the copy is deleted.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 5000,
        .event_timeout_ms = 10000,
};

/* The rest of the writer's first line starting "@what @event {sid} " (borrowed). */
static const char *line_after(itest_writer *w, const char *what, const char *event, const vss_id *sid) {
        char *prefix = itest_xprintf("%s %s %s ", what, event, itest_id_str(sid));
        ssize_t i = itest_find_line(&w->p.out, prefix, 0, w->p.out.n_lines);
        CHECK(i >= 0, "issue 9 part 2: %s printed no \"%s\" line", w->p.label, prefix);
        const char *rest = w->p.out.lines[i].text + strlen(prefix);
        free(prefix);
        return rest;
}

/* "volumes=1 set_atomic=0 auto_recovery=@want" in @w's PostSnapshot. */
static void check_auto_recovery_seen(itest_writer *w, const vss_id *sid, int want) {
        const char *got = line_after(w, "snapshot", "PostSnapshot", sid);
        char *tail = itest_xprintf("auto_recovery=%d", want);
        size_t gl = strlen(got), tl = strlen(tail);
        CHECK(gl >= tl && strcmp(got + gl - tl, tail) == 0, "issue 9 part 2: %s sees \"%s\" in PostSnapshot, expected %s",
              w->p.label, got, tail);
        free(tail);
}

/* Whether a write into @path (a file: opened for writing; a directory: a new
 * entry in it) is refused, as it must be in a finished copy, even to root. */
static bool write_refused(const char *path, bool is_dir) {
        if (is_dir) {
                char *probe = itest_xprintf("%s/.probe", path);
                int r = mkdir(probe, 0700);

                if (r == 0)
                        rmdir(probe);
                free(probe);
                return r < 0 && (errno == EPERM || errno == EROFS || errno == EACCES);
        }
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                close(fd);
                return false;
        }
        return errno == EPERM || errno == EROFS || errno == EACCES;
}

/* How a finished copy must refuse writes. */
typedef enum ro_check {
        RO_REFUSED, /* the copy provider: immutable, a write is refused even to root (the test) */
        RO_MODES,   /* the fake exec provider's finalize: chmod -R a-w, no write bit left */
} ro_check;

static bool is_read_only(const char *path, bool is_dir, ro_check how) {
        struct stat st;

        if (how == RO_REFUSED)
                return write_refused(path, is_dir);
        return lstat(path, &st) == 0 && (st.st_mode & 0222) == 0;
}

/* The copy @path holds the writer's file (@has_file), and neither that file
 * nor the copy's root takes a write, @how. */
static void check_copy(const char *path, bool has_file, ro_check how) {
        char *f = itest_xprintf("%s/repaired.txt", path);
        struct stat st;

        if (has_file) {
                char *t = itest_read_file(f);
                CHECK(t && strcmp(t, "repaired\n") == 0, "issue 9 part 2: %s holds \"%s\"", f, t ? t : "(nothing)");
                free(t);
                CHECK(lstat(f, &st) == 0, "lstat %s: %m", f);
                CHECK(is_read_only(f, false, how), "issue 9 part 2: %s takes a write (mode %04o)", f,
                      (unsigned) (st.st_mode & 07777));
        } else
                CHECK(lstat(f, &st) < 0, "issue 9 part 2: %s exists", f);
        CHECK(lstat(path, &st) == 0 && S_ISDIR(st.st_mode), "issue 9 part 2: the copy %s is no directory", path);
        CHECK(is_read_only(path, true, how), "issue 9 part 2: the copy %s takes a new file (mode %04o)", path,
              (unsigned) (st.st_mode & 07777));
        free(f);
}

typedef struct run {
        vss_backup_components *bc;
        vss_id sid, set, snap;
        char *path; /* the shadow copy */
        uint32_t attributes;
} run;

/* A backup of env->data_dir in @context with @provider (NULL: lvssd chooses), up to
 * DoSnapshotSet done; @w's PostSnapshot ends in @post. */
static void backup(itest_env *env, itest_writer *w, int32_t context, const vss_id *provider, const char *post,
                   run *ret) {
        vss_snapshot_prop p = { .size = sizeof(vss_snapshot_prop) };

        ret->bc = itest_requester(env, false);
        ret->sid = itest_session_id(ret->bc);
        CHECK_HR(vss_set_context(ret->bc, context), VSS_S_OK, "vss_set_context(0x%x)", (unsigned) context);
        STEP_OK(env, ret->bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(ret->bc, &ret->set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(ret->bc, env->data_dir, provider, &ret->snap), VSS_S_OK,
                 "vss_add_to_snapshot_set(%s)", env->data_dir);
        STEP_OK(env, ret->bc, vss_prepare_for_backup);
        STEP_OK(env, ret->bc, vss_do_snapshot_set);
        itest_wait_event(env, w, "PostSnapshot", &ret->sid, post, itest_ms(env, 10000));
        CHECK_HR(vss_get_snapshot_properties(ret->bc, &ret->snap, &p), VSS_S_OK, "vss_get_snapshot_properties");
        ret->path = strdup(p.snapshot_path);
        CHECK(ret->path, "out of memory");
        ret->attributes = p.attributes;
        vss_free_snapshot_properties(&p);
}

static void run_done(itest_env *env, run *r) {
        itest_requester_release(env, r->bc);
        free(r->path);
}

static char *catalog_state(itest_env *env, const vss_id *snap) {
        char *q = itest_xprintf("SELECT state FROM snapshots WHERE id = '%s'", itest_id_str(snap));
        char *st = itest_catalog_query(env, q);
        free(q);
        return st;
}

/* Issue 9 part 2: copy provider, default context: writable in PostSnapshot, read-only after. */
static void test_copy_auto_recovery(void **state) {
        itest_env *env = *state;
        run r;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "repairs", "--show-snapshot", "--write-copy", "repaired.txt", "--path",
                                 env->data_dir);
        backup(env, w, VSS_CTX_BACKUP, NULL, "ok", &r);

        check_auto_recovery_seen(w, &r.sid, 1);
        CHECK(r.attributes & VSS_VOLSNAP_ATTR_AUTORECOVER, "issue 9 part 2: attributes 0x%08x lack AUTORECOVER",
              (unsigned) r.attributes);
        const char *line = line_after(w, "copy-write", "PostSnapshot", &r.sid);
        CHECK(strncmp(line, "ok ", 3) == 0, "issue 9 part 2: the write into the auto-recovery copy: \"%s\"", line);
        /* DoSnapshotSet is done: the copy holds the repair and is read-only */
        check_copy(r.path, true, RO_REFUSED);
        char *orig = itest_xprintf("%s/repaired.txt", env->data_dir);
        CHECK(access(orig, F_OK) < 0, "issue 9 part 2: the repair went to the volume %s", orig);
        free(orig);
        char *st = catalog_state(env, &r.snap);
        CHECK(st && strcmp(st, "created") == 0, "issue 9 part 2: the finalized copy's row says %s",
              st ? st : "(none)");
        free(st);
        STEP_OK(env, r.bc, vss_backup_complete);
        run_done(env, &r);
}

/* Issue 9 part 2: VSS_VOLSNAP_ATTR_NO_AUTORECOVERY: auto_recovery=0 and the copy is read-only in PostSnapshot. */
static void test_copy_no_auto_recovery(void **state) {
        itest_env *env = *state;
        run r;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "nar", "--show-snapshot", "--write-copy", "mode-only", "--path",
                                 env->data_dir);
        backup(env, w, VSS_CTX_BACKUP | VSS_VOLSNAP_ATTR_NO_AUTORECOVERY, NULL, "ok", &r);

        check_auto_recovery_seen(w, &r.sid, 0);
        CHECK(!(r.attributes & VSS_VOLSNAP_ATTR_AUTORECOVER) && (r.attributes & VSS_VOLSNAP_ATTR_NO_AUTORECOVERY),
              "issue 9 part 2: -nar copy's attributes 0x%08x", (unsigned) r.attributes);
        /* The copy keeps the volume's modes (a restore gives them back), and its
         * immutability refuses the writer's write, though the writer is root. */
        const char *line = line_after(w, "copy-mode", "PostSnapshot", &r.sid);
        CHECK(strstr(line, "mode=0755"), "issue 9: the copy's root lost the volume's mode: \"%s\"", line);
        line = line_after(w, "copy-write", "PostSnapshot", &r.sid);
        CHECK(strncmp(line, "fail ", 5) == 0 && strstr(line, " EPERM"), "issue 9 part 2: without auto-recovery "
              "the writer's write into the copy in PostSnapshot was not refused: \"%s\"", line);
        check_copy(r.path, false, RO_REFUSED);
        run_done(env, &r);
}

/* Issue 9 part 2: a writer killed in PostSnapshot, after writing, leaves a read-only copy. */
static void test_copy_writer_crash(void **state) {
        itest_env *env = *state;
        run r;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "dies", "--write-copy", "repaired.txt", "--crash-at", "PostSnapshot", "--path",
                                 env->data_dir);
        backup(env, w, VSS_CTX_BACKUP, NULL, "crash", &r);

        const char *line = line_after(w, "copy-mode", "PostSnapshot", &r.sid);
        CHECK(strstr(line, "write-bits=1"), "issue 9 part 2: the auto-recovery copy was not writable: \"%s\"", line);
        line = line_after(w, "copy-write", "PostSnapshot", &r.sid);
        CHECK(strncmp(line, "ok ", 3) == 0, "issue 9 part 2: the write before the crash: \"%s\"", line);
        check_copy(r.path, true, RO_REFUSED);
        run_done(env, &r);
}

/* Issue 9 part 2: a writer that times out in PostSnapshot (hangs past lvssd's event
 * deadline) leaves a read-only copy too, and its status says so (WS-5). */
static void test_copy_writer_timeout(void **state) {
        itest_env *env = *state;
        const itest_lvssd_opts quick = { .identify_timeout_ms = 5000, .event_timeout_ms = 1000 };
        run r;

        itest_start_lvssd(env, &quick);
        itest_writer *w = WRITER(env, "stuck", "--write-copy", "repaired.txt", "--hang-at", "PostSnapshot", "--path",
                                 env->data_dir);
        backup(env, w, VSS_CTX_BACKUP, NULL, "hang", &r);
        check_copy(r.path, true, RO_REFUSED);
        itest_statuses st;
        itest_gather_status(env, r.bc, &st);
        CHECK_STATUS(&st, w, VSS_WS_FAILED_AT_POST_SNAPSHOT, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        run_done(env, &r);
}

/* Issue 9 part 2: DoSnapshotSet cancelled while a writer is busy in PostSnapshot: the
 * (persistent, so kept) copy is made read-only by the abort. */
static void test_copy_cancel_after_commit(void **state) {
        itest_env *env = *state;
        vss_async *a = NULL;
        vss_id set, snap;

        itest_start_lvssd(env, &opts);
        /* busy in PostSnapshot for 3 s after its write: the cancel comes meanwhile */
        itest_writer *w = WRITER(env, "busy", "--write-copy", "repaired.txt", "--hang-at", "PostSnapshot", "--hang-ms",
                                 "3000", "--path", env->data_dir);
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context(APP_ROLLBACK)");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "vss_add_to_snapshot_set");
        STEP_OK(env, bc, vss_prepare_for_backup);
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
        char *prefix = itest_xprintf("copy-write PostSnapshot %s ", itest_id_str(&sid));
        itest_wait_line_must(env, &w->p, prefix, itest_ms(env, 10000));
        free(prefix);
        const char *line = line_after(w, "copy-write", "PostSnapshot", &sid);
        CHECK(strncmp(line, "ok ", 3) == 0, "issue 9 part 2: the write into the auto-recovery copy: \"%s\"", line);

        CHECK(itest_find_event(w, "PostSnapshot", &sid, "ok", 0, SIZE_MAX) < 0,
              "the writer finished PostSnapshot before the cancel: the test did not test the abort path");
        vss_hresult hr = vss_async_cancel(a);
        CHECK(hr == VSS_S_OK || hr == VSS_S_ASYNC_CANCELLED, "vss_async_cancel: %s", itest_hr_str(hr));
        a = vss_async_release(a);

        /* The cancel starts the Abort that undoes the set; the finalize of the committed copy
         * runs in a worker, and that Abort, and the Release queued behind it, end once it is
         * done: after Release the persistent copy is settled. */
        itest_requester_release(env, bc);
        char *q = itest_xprintf("SELECT snapshot_path FROM snapshots WHERE id = '%s'", itest_id_str(&snap));
        char *path = itest_catalog_query(env, q);
        CHECK(path && *path, "issue 9 part 2: the persistent copy of the cancelled set is not in the catalog");
        check_copy(path, true, RO_REFUSED);
        char *st = catalog_state(env, &snap);
        CHECK(st && strcmp(st, "created") == 0, "issue 9 part 2: the cancelled set's finalized copy's row says %s",
              st ? st : "(none)");
        free(st);
        free(q);
        free(path);
}

/* Issue 9 part 2: vshadow -nar sets VSS_VOLSNAP_ATTR_NO_AUTORECOVERY; without it the copies are auto-recovery. */
static void test_vshadow_nar(void **state) {
        itest_env *env = *state;
        char *vshadow = itest_xprintf("%s/tools/vshadow", env->build_root);

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "sees", "--show-snapshot", "--path", env->data_dir);
        for (int nar = 0; nar < 2; nar++) {
                const char *argv[] = { vshadow, nar ? "-nar" : env->data_dir, nar ? env->data_dir : NULL, NULL };
                size_t from = w->p.out.n_lines;
                itest_proc *p = itest_spawn_program(env, nar ? "vshadow-nar" : "vshadow", argv, true, false);
                int code = itest_program_exit(env, p, itest_ms(env, 60000));
                char *out = itest_stream_text(&p->out);
                CHECK(code == 0, "vshadow%s exited with %d\n%s", nar ? " -nar" : "", code, out);
                free(out);
                ssize_t i = -1;
                for (size_t k = from; k < w->p.out.n_lines && i < 0; k++)
                        if (strncmp(w->p.out.lines[k].text, "snapshot PostSnapshot ", 22) == 0)
                                i = (ssize_t) k;
                CHECK(i >= 0, "issue 9 part 2: the writer saw no PostSnapshot of vshadow%s", nar ? " -nar" : "");
                const char *want = nar ? "auto_recovery=0" : "auto_recovery=1";
                CHECK(strstr(w->p.out.lines[i].text, want), "issue 9 part 2: vshadow%s: the writer saw \"%s\", expected %s",
                      nar ? " -nar" : "", w->p.out.lines[i].text, want);
        }
        free(vshadow);
}

static void start_with_fake(itest_env *env, const char *says, char **ret_fake) {
        char *fake = itest_fake_provider(env);
        char *config = itest_xprintf("%s/lvssd.conf", env->dir);
        char *body = itest_xprintf("# issue 9 part 2\n[Coordinator]\nExecProvider=fakeexec:%s/provider\n"
                                   "DefaultProvider=fakeexec\n",
                                   fake);
        if (says) {
                char *p = itest_xprintf("%s/prepare-says", fake);
                itest_write_file(p, says, strlen(says));
                free(p);
        }
        itest_write_file(config, body, strlen(body));
        itest_start_lvssd_config(env, &opts, config);
        free(body);
        free(config);
        *ret_fake = fake;
}

static char *fake_calls(const char *fake) {
        char *p = itest_xprintf("%s/calls", fake);
        char *calls = itest_read_file(p);
        free(p);
        CHECK(calls, "the fake provider recorded no calls");
        return calls;
}

/* Issue 9 part 2: an exec provider that says "writable": LVSS_WRITABLE=1 at commit, finalize after PostSnapshot. */
static void test_exec_writable(void **state) {
        itest_env *env = *state;
        char *fake;
        vss_id id;
        run r;

        start_with_fake(env, "atomic\nwritable\n", &fake);
        CHECK_HR(itest_provider_id(env->socket_path, "fakeexec", &id), VSS_S_OK, "the exec provider's id");
        itest_writer *w = WRITER(env, "repairs", "--show-snapshot", "--write-copy", "repaired.txt", "--path",
                                 env->data_dir);
        backup(env, w, VSS_CTX_BACKUP, &id, "ok", &r);

        check_auto_recovery_seen(w, &r.sid, 1);
        const char *line = line_after(w, "copy-write", "PostSnapshot", &r.sid);
        CHECK(strncmp(line, "ok ", 3) == 0, "issue 9 part 2: the write into the exec copy: \"%s\"", line);
        char *calls = fake_calls(fake);
        CHECK(strstr(calls, "commit-env LVSS_WRITABLE=1\n"), "issue 9 part 2: commit did not get LVSS_WRITABLE=1:\n%s",
              calls);
        char *fin = itest_xprintf("finalize %s\n", r.path);
        CHECK(strstr(calls, fin), "issue 9 part 2: no \"%s\" when DoSnapshotSet was done; calls:\n%s", fin, calls);
        check_copy(r.path, true, RO_MODES); /* the fake's finalize is chmod -R a-w */
        free(fin);
        free(calls);
        run_done(env, &r);
        free(fake);
}

/* Issue 9 part 2: a finalize that fails leaves no writable copy behind: DoSnapshotSet fails
 * with VSS_E_UNEXPECTED_PROVIDER_ERROR, the copy is deleted, the catalog holds no row of it. */
static void test_exec_finalize_fails(void **state) {
        itest_env *env = *state;
        char *fake;
        vss_id id, set, snap;

        start_with_fake(env, "writable\n", &fake);
        char *marker = itest_xprintf("%s/finalize-fails", fake);
        itest_write_file(marker, "", 0);
        CHECK_HR(itest_provider_id(env->socket_path, "fakeexec", &id), VSS_S_OK, "the exec provider's id");
        itest_writer *w = WRITER(env, "repairs", "--write-copy", "repaired.txt", "--path", env->data_dir);
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &id, &snap), VSS_S_OK, "vss_add_to_snapshot_set");
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_async *a = NULL;
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_S_OK, "vss_do_snapshot_set");
        vss_hresult hr = vss_async_wait(a, itest_ms(env, 30000));
        a = vss_async_release(a);
        CHECK_HR(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR, "issue 9 part 2: DoSnapshotSet with a failing finalize");
        itest_wait_event(env, w, "PostSnapshot", &sid, "ok", itest_ms(env, 10000));

        char *calls = fake_calls(fake);
        char *copy = itest_xprintf("%s/snaps/%.36s", fake, itest_id_str(&snap) + 1);
        CHECK(strstr(calls, "finalize "), "issue 9 part 2: finalize was not called:\n%s", calls);
        CHECK(access(copy, F_OK) < 0, "issue 9 part 2: the copy %s that could not be made read-only is left", copy);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 0, "issue 9 part 2: %d catalog row(s) of the failed set",
              itest_catalog_snapshot_count(env, &sid));
        free(copy);
        free(calls);
        free(marker);
        itest_requester_release(env, bc);
        free(fake);
}

/* Issue 9 part 2: an exec provider that does not say "writable": no auto-recovery, no finalize. */
static void test_exec_not_writable(void **state) {
        itest_env *env = *state;
        char *fake;
        vss_id id;
        run r;

        start_with_fake(env, "atomic\n", &fake);
        CHECK_HR(itest_provider_id(env->socket_path, "fakeexec", &id), VSS_S_OK, "the exec provider's id");
        itest_writer *w = WRITER(env, "sees", "--show-snapshot", "--path", env->data_dir);
        backup(env, w, VSS_CTX_BACKUP, &id, "ok", &r);

        check_auto_recovery_seen(w, &r.sid, 0);
        char *calls = fake_calls(fake);
        CHECK(strstr(calls, "commit-env LVSS_WRITABLE=\n"), "issue 9 part 2: commit got LVSS_WRITABLE:\n%s", calls);
        CHECK(!strstr(calls, "finalize "), "issue 9 part 2: finalize was called:\n%s", calls);
        free(calls);
        run_done(env, &r);
        free(fake);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_copy_auto_recovery),
                ITEST(test_copy_no_auto_recovery),
                ITEST(test_copy_writer_crash),
                ITEST(test_copy_writer_timeout),
                ITEST(test_copy_cancel_after_commit),
                ITEST(test_vshadow_nar),
                ITEST(test_exec_writable),
                ITEST(test_exec_finalize_fails),
                ITEST(test_exec_not_writable),
        };
        return ITEST_MAIN("auto-recovery", tests);
}

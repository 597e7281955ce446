/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 10 part 3: an exec provider named in FreezeFilesystems= has the file
 * systems of its volumes frozen (FIFREEZE) around its commit and thawed in
 * reverse on every path, lvssd's crash included. Real parts: a real lvssd,
 * real ext4 and xfs file systems on loop devices, a real exec provider
 * program (a shell script this test writes) that uses util-linux fsfreeze.
 *
 * The oracle for "frozen" (in the program and in this test): FIFREEZE on a
 * frozen file system fails with EBUSY (`fsfreeze --freeze` says "Device or
 * resource busy"); for "thawed": FITHAW fails with EINVAL (`fsfreeze
 * --unfreeze`: "Invalid argument"), and then a write succeeds. The test
 * never writes to a file system that may be frozen: it asks FITHAW first
 * (which, on a frozen one, would fail the check and thaw it).
 *
 *   - test_ext4_and_xfs: a set of three volumes (two on ext4, one on xfs):
 *     at each commit call the volume's file system is frozen; each file
 *     system is frozen once, in mount point order, and thawed after the
 *     commit; the catalog keeps no row;
 *   - test_commit_fails: the program's commit fails: DoSnapshotSet fails,
 *     the file system is thawed (the log names it), no copy is left;
 *   - test_freeze_busy: someone else froze the xfs file system: FIFREEZE
 *     fails with EBUSY, the error names its mount point, the ext4 one frozen
 *     before it is thawed, the program's commit never runs, and the other
 *     freezer's freeze is left alone;
 *   - test_hang: the program hangs in commit past the hold window: it is
 *     killed and the file system thawed by lvssd;
 *   - test_hang_step_deadline: the same past the program's own step
 *     deadline: the exec provider kills it, the commit thaws;
 *   - test_state_fs_refused: a volume on the file system of lvssd's state
 *     directory: DoSnapshotSet vetoes (VSS_E_PROVIDER_VETO) before any
 *     writer or commit, the log names the file system;
 *   - test_crash: lvssd SIGKILLed while the program's commit waits (on a
 *     FIFO outside the frozen file system): the file system stays frozen and
 *     recorded in the catalog; lvssd restarted on the same state directory
 *     thaws it at start-up and logs it.
 *
 * The file systems are sparse images on loop devices (autoclear, unlinked at
 * once), mounted in a private mount namespace of this process (lvssd, its
 * children, see it); main() thaws, unmounts and detaches them on every exit,
 * and a SIGTERM/SIGINT handler does too. Without root, losetup, mkfs.ext4 or
 * mkfs.xfs the test says why and exits 77.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SKIP_EXIT 77
#define N_FS 2
#define streq(a, b) (strcmp((a), (b)) == 0)

static char fs_dir[256];
static const struct fs_kind {
        const char *type; /* mounted on fs_dir/TYPE */
        long long size;
        const char *mkfs_force;
} fs_kinds[N_FS] = {
        { "ext4", 64LL << 20, "-F" },
        { "xfs", 320LL << 20, "-f" }, /* mkfs.xfs wants 300 MiB */
};
static itest_loop_fs fss[N_FS] = { { .loop_fd = -1 }, { .loop_fd = -1 } };
#define EXT4 (&fss[0])
#define XFS (&fss[1])

static const itest_lvssd_opts opts = { .hold_window_ms = 10000 };

/* ---- tools and file systems ----------------------------------------------------- */

static int fs_ioctl(const char *mnt, unsigned long req) {
        int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0, unused = 0; /* FIFREEZE/FITHAW ignore their argument */

        if (fd < 0)
                return -errno;
        if (ioctl(fd, req, &unused) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* Idempotent; the test process only: thaw, unmount, detach. */
static void fs_cleanup(void) {
        for (size_t i = 0; i < N_FS; i++) {
                itest_loop_fs *f = &fss[i];

                if (f->mounted)
                        (void) fs_ioctl(f->mnt, FITHAW);
                itest_loop_fs_release("test-exec-fsfreeze", f);
        }
        if (fs_dir[0]) {
                (void) rmdir(fs_dir);
                fs_dir[0] = 0;
        }
}

static void fs_release_in_signal(void) {
        for (size_t i = 0; i < N_FS; i++) {
                itest_loop_fs *f = &fss[i];

                if (f->mounted) {
                        int fd = open(f->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (fd >= 0) {
                                (void) ioctl(fd, FITHAW, 0);
                                close(fd);
                        }
                }
                itest_loop_fs_release_in_signal(f);
        }
        (void) rmdir(fs_dir);
}

/* fs_dir/TYPE.img mounted on fs_dir/TYPE. 0 ready, SKIP_EXIT (said why), or 1. */
static int fs_make(size_t i) {
        const struct fs_kind *k = &fs_kinds[i];
        itest_loop_fs *f = &fss[i];

        snprintf(f->image, sizeof f->image, "%s/%s.img", fs_dir, k->type);
        snprintf(f->mnt, sizeof f->mnt, "%s/%s", fs_dir, k->type);
        return itest_loop_fs_make("test-exec-fsfreeze", f, k->type, k->size, k->mkfs_force, "e2fsprogs, xfsprogs");
}

static int fs_setup(void) {
        int r = itest_private_fs_dir("test-exec-fsfreeze", "fsfreeze", "loop devices, mounts, FIFREEZE", fs_dir, sizeof fs_dir);

        if (r != 0)
                return r;
        for (size_t i = 0; i < N_FS; i++) {
                r = fs_make(i);
                if (r != 0)
                        return r;
        }
        printf("test-exec-fsfreeze: ext4 on %s at %s, xfs on %s at %s\n", EXT4->loop_dev, EXT4->mnt, XFS->loop_dev,
               XFS->mnt);
        return 0;
}

/* ---- the oracle --------------------------------------------------------------------- */

/* Frozen: FIFREEZE fails with EBUSY. (When it succeeds, it was not: thawed again at once.) */
static bool is_frozen(const itest_loop_fs *f) {
        int r = fs_ioctl(f->mnt, FIFREEZE);

        if (r == 0) {
                (void) fs_ioctl(f->mnt, FITHAW);
                return false;
        }
        CHECK(r == -EBUSY, "FIFREEZE %s: %s (expected EBUSY or success)", f->mnt, strerror(-r));
        return true;
}

/* Thawed: FITHAW fails with EINVAL, and then a write succeeds. */
static void check_thawed(const itest_loop_fs *f, const char *what) {
        int r = fs_ioctl(f->mnt, FITHAW);

        CHECK(r == -EINVAL, "issue 10 part 3 (%s): %s was still frozen (FITHAW: %s)", what, f->mnt,
              r == 0 ? "succeeded" : strerror(-r));
        char *path = itest_xprintf("%s/written-after", f->mnt);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0 && write(fd, "x\n", 2) == 2 && fsync(fd) == 0, "a write to %s after the thaw: %m", path);
        close(fd);
        CHECK(unlink(path) == 0, "unlink %s: %m", path);
        free(path);
}

/* ---- the exec provider program ---------------------------------------------------- */

/* the exec provider "fsf": its directory (calls, mode, fifo, snaps) is not on the frozen file systems */
typedef itest_exec_provider prog;

/*
 * The program: every call appended to DIR/calls; commit checks with
 * fsfreeze that the volume's file system is frozen ("frozen VOLUME", else
 * "NOT-FROZEN VOLUME" or "oracle-error ..."), then does what DIR/mode says:
 * "fail" (exit 3), "wait" (writes "waiting PID" and blocks reading DIR/fifo,
 * which nobody writes), else makes DIR/snaps/SNAP and prints it.
 */
static void prog_start(itest_env *env, prog *p, const itest_lvssd_opts *o, const char *mode) {
        itest_exec_provider_write(env, p, "fsf",
                                  "# test-exec-fsfreeze's exec provider (issue 10 part 3)\n"
                                  "echo \"$*\" >> \"$D/calls\"\n"
                                  "case \"$1\" in\n"
                                  "is-supported|prepare|finalize) exit 0 ;;\n"
                                  "commit)\n"
                                  "    if out=$(fsfreeze --freeze \"$4\" 2>&1); then\n"
                                  "        fsfreeze --unfreeze \"$4\"\n"
                                  "        echo \"NOT-FROZEN $4\" >> \"$D/calls\"\n"
                                  "    else\n"
                                  "        case \"$out\" in\n"
                                  "        *'Device or resource busy'*) echo \"frozen $4\" >> \"$D/calls\" ;;\n"
                                  "        *) echo \"oracle-error $4 $out\" >> \"$D/calls\" ;;\n"
                                  "        esac\n"
                                  "    fi\n"
                                  "    case \"$(cat \"$D/mode\" 2>/dev/null)\" in\n"
                                  "    fail) echo 'fsf: commit refused on purpose' >&2; exit 3 ;;\n"
                                  "    wait) echo \"waiting $$\" >> \"$D/calls\"; read x < \"$D/fifo\" ;;\n"
                                  "    esac\n"
                                  "    mkdir -p \"$D/snaps/$3\" && echo \"$D/snaps/$3\" ;;\n"
                                  "delete) rm -rf \"$2\" ;;\n"
                                  "abort) rm -rf \"$D/snaps/$3\" ;;\n"
                                  "esac\n"
                                  "exit 0\n");
        if (mode) {
                char *m = itest_xprintf("%s/mode", p->dir);
                itest_write_file(m, mode, strlen(mode));
                free(m);
        }
        itest_exec_provider_start(env, p, o, "FreezeFilesystems=fsf\n");
}

static void prog_done(prog *p) {
        itest_exec_provider_free(p);
}

static char *prog_calls(const prog *p) {
        char *path = itest_xprintf("%s/calls", p->dir);
        char *calls = itest_read_file(path);
        free(path);
        return calls ? calls : strdup("");
}

/* A directory on @f for a volume. */
static char *volume_on(const itest_loop_fs *f, const char *name) {
        char *v = itest_xprintf("%s/%s", f->mnt, name);
        CHECK(mkdir(v, 0755) == 0 || errno == EEXIST, "mkdir %s: %m", v);
        return v;
}

static size_t count_of(const char *hay, const char *needle) {
        size_t n = 0;
        for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
                n++;
        return n;
}

static char *catalog_frozen(itest_env *env) {
        char *rows = itest_catalog_query(env, "SELECT mount_point FROM frozen_filesystems");
        CHECK(rows, "the catalog has no frozen_filesystems table");
        return rows;
}

/* A requester for a set of @n volumes of the exec provider, up to DoSnapshotSet (not waited for). */
static vss_backup_components *set_of(itest_env *env, const prog *p, const char *const *vols, size_t n) {
        vss_backup_components *bc = itest_requester(env, false);
        vss_id set, snap;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        for (size_t i = 0; i < n; i++)
                CHECK_HR(vss_add_to_snapshot_set(bc, vols[i], &p->id, &snap), VSS_S_OK, "vss_add_to_snapshot_set(%s)",
                         vols[i]);
        STEP_OK(env, bc, vss_prepare_for_backup);
        return bc;
}

/* A set of the one volume @name on @f (made; into *@ret_volume), up to DoSnapshotSet. */
static vss_backup_components *set_of_one(itest_env *env, const prog *p, const itest_loop_fs *f, const char *name,
                                         char **ret_volume) {
        *ret_volume = volume_on(f, name);
        const char *vols[] = { *ret_volume };
        return set_of(env, p, vols, 1);
}

/* DoSnapshotSet fails with @expected (issue 10 part 3: @what). */
static void do_set_fails(itest_env *env, vss_backup_components *bc, vss_hresult expected, const char *what) {
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK_HR(hr, expected, "issue 10 part 3: DoSnapshotSet %s", what);
}

/* Issue 10 part 3: the program's commit of @volume found its file system frozen (@what: the commit that ...). */
static void check_frozen_at_commit(const prog *p, const char *volume, const char *what) {
        char *calls = prog_calls(p);
        char *want = itest_xprintf("frozen %s\n", volume);
        CHECK(strstr(calls, want), "issue 10 part 3: not frozen at the commit%s:\n%s", what, calls);
        free(want);
        free(calls);
}

/* Issue 10 part 3: the program's commit never ran (@what: why it should not have). */
static void check_no_commit(const prog *p, const char *what) {
        char *calls = prog_calls(p);
        CHECK(!strstr(calls, "commit "), "issue 10 part 3: the program's commit ran%s:\n%s", what, calls);
        free(calls);
}

/* lvssd's log has the line @prefix followed by @f's mount point and @suffix. */
static void check_log_names(itest_env *env, const char *prefix, const itest_loop_fs *f, const char *suffix) {
        char *line = itest_xprintf("%s%s%s", prefix, f->mnt, suffix);
        CHECK(itest_lvssd_log_has(env, line), "issue 10 part 3: the log does not say \"%s\"", line);
        free(line);
}

/* Issue 10 part 3: the catalog lists no frozen file system (@when). */
static void check_catalog_unfrozen(itest_env *env, const char *when) {
        char *rows = catalog_frozen(env);
        CHECK(streq(rows, ""), "issue 10 part 3: %s the catalog still lists frozen file systems: %s", when, rows);
        free(rows);
}

/* ---- the tests ----------------------------------------------------------------------- */

/* Issue 10 part 3: frozen at commit, each file system once, in order, thawed after; ext4 and xfs. */
static void test_ext4_and_xfs(void **state) {
        itest_env *env = *state;
        prog p = {};

        prog_start(env, &p, &opts, NULL);
        char *a = volume_on(EXT4, "a"), *b = volume_on(EXT4, "b"), *x = volume_on(XFS, "x");
        const char *vols[] = { x, a, b };
        vss_backup_components *bc = set_of(env, &p, vols, 3);
        STEP_OK(env, bc, vss_do_snapshot_set);

        char *calls = prog_calls(&p);
        for (size_t i = 0; i < 3; i++) {
                char *want = itest_xprintf("frozen %s\n", vols[i]);
                CHECK(strstr(calls, want), "issue 10 part 3: the file system of %s was not frozen at its commit:\n%s",
                      vols[i], calls);
                free(want);
        }
        CHECK(!strstr(calls, "NOT-FROZEN") && !strstr(calls, "oracle-error"), "issue 10 part 3: calls:\n%s", calls);
        check_thawed(EXT4, "after the backup");
        check_thawed(XFS, "after the backup");

        /* each once, in mount point order (ext4 < xfs), thawed in reverse */
        char *log = itest_read_file(env->lvssd->log_path);
        CHECK(log, "no lvssd log");
        char *fe = itest_xprintf("froze the file system mounted on %s\n", EXT4->mnt);
        char *fx = itest_xprintf("froze the file system mounted on %s\n", XFS->mnt);
        char *te = itest_xprintf("thawed the file system mounted on %s\n", EXT4->mnt);
        char *tx = itest_xprintf("thawed the file system mounted on %s\n", XFS->mnt);
        CHECK(count_of(log, fe) == 1 && count_of(log, fx) == 1,
              "issue 10 part 3: each file system is frozen once (ext4 %zu times, xfs %zu times)", count_of(log, fe),
              count_of(log, fx));
        CHECK(strstr(log, fe) < strstr(log, fx), "issue 10 part 3: xfs was frozen before ext4");
        CHECK(strstr(log, tx) && strstr(log, te) && strstr(log, tx) < strstr(log, te),
              "issue 10 part 3: not thawed in reverse order:\n%s", log);
        check_catalog_unfrozen(env, "after the backup");
        STEP_OK(env, bc, vss_backup_complete);
        itest_requester_release(env, bc);

        free(fe);
        free(fx);
        free(te);
        free(tx);
        free(log);
        free(calls);
        free(a);
        free(b);
        free(x);
        prog_done(&p);
}

/* Issue 10 part 3: the program's commit fails: thawed, named in the log, no copy left. */
static void test_commit_fails(void **state) {
        itest_env *env = *state;
        prog p = {};

        prog_start(env, &p, &opts, "fail");
        char *v;
        vss_backup_components *bc = set_of_one(env, &p, XFS, "f", &v);
        do_set_fails(env, bc, VSS_E_UNEXPECTED_PROVIDER_ERROR, "with a failing commit");

        check_frozen_at_commit(&p, v, " that failed");
        check_thawed(XFS, "after a failed commit");
        check_log_names(env, "thawed the file system mounted on ", XFS, "");
        CHECK(itest_catalog_snapshot_count(env, NULL) == 0, "issue 10 part 3: a failed commit left a snapshot row");
        check_catalog_unfrozen(env, "after a failed commit");
        itest_requester_release(env, bc);

        free(v);
        prog_done(&p);
}

/* Issue 10 part 3: FIFREEZE fails (EBUSY: someone else froze xfs): the error names it, ext4 (frozen
 * first) is thawed, no commit runs, and the other freezer's freeze is not undone. */
static void test_freeze_busy(void **state) {
        itest_env *env = *state;
        prog p = {};

        prog_start(env, &p, &opts, NULL);
        char *a = volume_on(EXT4, "a"), *x = volume_on(XFS, "x");
        const char *vols[] = { a, x };
        vss_backup_components *bc = set_of(env, &p, vols, 2);
        CHECK(fs_ioctl(XFS->mnt, FIFREEZE) == 0, "FIFREEZE %s (the other freezer)", XFS->mnt);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        bool still = is_frozen(XFS); /* asked before the other freezer thaws, next line */
        CHECK(fs_ioctl(XFS->mnt, FITHAW) == 0, "FITHAW %s (the other freezer)", XFS->mnt);
        CHECK_HR(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR, "issue 10 part 3: DoSnapshotSet with xfs frozen by another");
        CHECK(still, "issue 10 part 3: lvss thawed a freeze that was not its own");
        check_thawed(EXT4, "after a FIFREEZE that failed on the next file system");

        check_log_names(env, "cannot freeze the file system mounted on ", XFS, ": Device or resource busy");
        check_no_commit(&p, " without the freeze");
        CHECK(itest_catalog_snapshot_count(env, NULL) == 0, "issue 10 part 3: a failed freeze left a snapshot row");
        check_catalog_unfrozen(env, "after a failed freeze");
        itest_requester_release(env, bc);

        free(a);
        free(x);
        prog_done(&p);
}

/* Waits until the program says "waiting PID" in its calls; the pid. */
static pid_t wait_waiting(itest_env *env, const prog *p, size_t lines) {
        char *path = itest_xprintf("%s/calls", p->dir);
        CHECK(itest_wait_file_lines(env, path, lines, itest_ms(env, 20000)), "the program's commit did not start");
        char *calls = prog_calls(p);
        const char *w = strstr(calls, "waiting ");
        CHECK(w, "the program does not wait:\n%s", calls);
        pid_t pid = (pid_t) atoi(w + 8);
        free(calls);
        free(path);
        return pid;
}

/* Bounded poll: is @pid gone (reaped by whoever is its parent)? */
static bool pid_gone(itest_env *env, pid_t pid) {
        uint64_t end = itest_now_mono_usec() + (uint64_t) itest_ms(env, 10000) * 1000;

        while (kill(pid, 0) == 0 || errno != ESRCH) {
                if (itest_now_mono_usec() > end)
                        return false;
                itest_pump(env, 20);
        }
        return true;
}

/* Issue 10 part 3: the program hangs in commit past the hold window: killed, and the file system thawed. */
static void test_hang(void **state) {
        itest_env *env = *state;
        const itest_lvssd_opts short_window = { .hold_window_ms = 3000 };
        prog p = {};

        prog_start(env, &p, &short_window, "wait");
        char *v;
        vss_backup_components *bc = set_of_one(env, &p, EXT4, "h", &v);
        do_set_fails(env, bc, VSS_E_HOLD_WRITES_TIMEOUT, "with a commit that hangs");
        pid_t pid = wait_waiting(env, &p, 1);
        check_frozen_at_commit(&p, v, " that hung");
        check_thawed(EXT4, "after the hold window killed the commit");
        check_log_names(env, "thawed the file system mounted on ", EXT4, " (the commit did not)");
        CHECK(pid_gone(env, pid), "issue 10 part 3: the program (pid %d) outlived its deadline", (int) pid);
        check_catalog_unfrozen(env, "after the hold window");
        itest_requester_release(env, bc);

        free(v);
        prog_done(&p);
}

/* Issue 10 part 3: the program hangs in commit past its own step deadline (EventTimeoutMS, shorter
 * than the hold window here): the exec provider kills it, the commit thaws and fails. */
static void test_hang_step_deadline(void **state) {
        itest_env *env = *state;
        const itest_lvssd_opts short_step = { .event_timeout_ms = 1500, .hold_window_ms = 30000 };
        prog p = {};

        prog_start(env, &p, &short_step, "wait");
        char *v;
        vss_backup_components *bc = set_of_one(env, &p, XFS, "s", &v);
        do_set_fails(env, bc, VSS_E_UNEXPECTED_PROVIDER_ERROR, "with a commit past its deadline");
        pid_t pid = wait_waiting(env, &p, 1);
        check_frozen_at_commit(&p, v, " that hung");
        check_thawed(XFS, "after the step deadline killed the program");
        char *line = itest_xprintf("thawed the file system mounted on %s\n", XFS->mnt);
        char *log = itest_read_file(env->lvssd->log_path);
        CHECK(log && strstr(log, line), "issue 10 part 3: the commit did not thaw it itself:\n%s", log ? log : "");
        CHECK(pid_gone(env, pid), "issue 10 part 3: the program (pid %d) outlived its deadline", (int) pid);
        check_catalog_unfrozen(env, "after the step deadline");
        itest_requester_release(env, bc);

        free(log);
        free(line);
        free(v);
        prog_done(&p);
}

/* Issue 10 part 3: never freeze the file system of lvssd's own state: vetoed at DoSnapshotSet. */
static void test_state_fs_refused(void **state) {
        itest_env *env = *state;
        prog p = {};

        prog_start(env, &p, &opts, NULL);
        const char *vols[] = { env->data_dir }; /* in the test directory, beside the state directory */
        vss_backup_components *bc = set_of(env, &p, vols, 1);
        do_set_fails(env, bc, VSS_E_PROVIDER_VETO, "of a volume on lvssd's state file system");
        CHECK(itest_lvssd_log_has(env, "holds lvssd's state directory: lvss never freezes it"),
              "issue 10 part 3: the log does not say why");
        CHECK(!itest_lvssd_log_has(env, "froze the file system"), "issue 10 part 3: something was frozen");
        check_no_commit(&p, " for a refused set");
        CHECK(itest_catalog_snapshot_count(env, NULL) == 0, "issue 10 part 3: the refused set left a snapshot row");
        itest_requester_release(env, bc);
        prog_done(&p);
}

typedef struct crash_arg {
        const char *volume;
        vss_id provider;
} crash_arg;

/* The requester of test_crash, in a process of its own: it may die with lvssd's connection. */
static int crash_requester(int fd, void *userdata) {
        crash_arg *a = userdata;
        vss_backup_components *bc = NULL;
        vss_async *as = NULL;
        vss_id set, snap;

        if (vss_create_backup_components(&bc) != VSS_S_OK || vss_initialize_for_backup(bc, NULL) != VSS_S_OK ||
            vss_set_backup_state(bc, false, false, VSS_BT_FULL, false) != VSS_S_OK)
                return 1;
        if (vss_gather_writer_metadata(bc, &as) != VSS_S_OK || vss_async_wait(as, 30000) != VSS_S_OK)
                return 2;
        as = vss_async_release(as);
        if (vss_start_snapshot_set(bc, &set) != VSS_S_OK ||
            vss_add_to_snapshot_set(bc, a->volume, &a->provider, &snap) != VSS_S_OK)
                return 1;
        if (vss_prepare_for_backup(bc, &as) != VSS_S_OK || vss_async_wait(as, 30000) != VSS_S_OK)
                return 2;
        as = vss_async_release(as);
        itest_child_say(fd, "prepared");
        if (vss_do_snapshot_set(bc, &as) != VSS_S_OK)
                return 3;
        itest_child_say(fd, "do %08x", (unsigned) vss_async_wait(as, 60000));
        vss_async_release(as);
        vss_backup_components_release(bc);
        return 0;
}

/* Issue 10 part 3: lvssd dies while the file system is frozen; its restart thaws it (the catalog said so). */
static void test_crash(void **state) {
        itest_env *env = *state;
        prog p = {};

        prog_start(env, &p, &opts, "wait");
        char *v = volume_on(XFS, "c");
        crash_arg arg = { .volume = v, .provider = p.id };
        itest_spawn_child(env, "requester", crash_requester, &arg);
        (void) wait_waiting(env, &p, 5); /* is-supported, prepare, commit, frozen, waiting */
        check_frozen_at_commit(&p, v, "");
        char *rows = catalog_frozen(env);
        CHECK(streq(rows, XFS->mnt), "issue 10 part 3: while frozen, the catalog lists \"%s\", expected %s", rows,
              XFS->mnt);
        free(rows);

        itest_kill_lvssd(env);
        CHECK(is_frozen(XFS), "issue 10 part 3: the file system was thawed by nobody, yet it is not frozen");
        itest_restart_lvssd(env, p.config);
        check_log_names(env, "recovery: thawed the file system mounted on ", XFS, "");
        check_thawed(XFS, "after lvssd's restart");
        check_catalog_unfrozen(env, "after lvssd's restart");

        free(v);
        prog_done(&p);
}

/* Issue 10 part 3, bad input: FreezeFilesystems= naming no exec provider (unknown, or the copy
 * provider) stops lvssd at start-up with one clear line. */
static void test_bad_config(void **state) {
        itest_env *env = *state;
        static const char *const names[] = { "nosuch", "copy" };

        for (size_t i = 0; i < 2; i++) {
                char *config = itest_write_config(env, "[Coordinator]\nFreezeFilesystems=%s\n", names[i]);
                char *lvssd = itest_xprintf("%s/src/coordinator/lvssd", env->build_root);
                char *state_dir = itest_xprintf("%s/bad-state", env->dir);
                char *sock = itest_xprintf("%s/bad.sock", env->dir);
                const char *argv[] = { lvssd, "--state-dir", state_dir, "--socket", sock, "--config", config, NULL };
                itest_proc *p = itest_spawn_program(env, "lvssd-bad", argv, true, true);
                int code = itest_program_exit(env, p, itest_ms(env, 20000));
                char *out = itest_stream_text(&p->out);
                char *want = itest_xprintf("FreezeFilesystems=%s: no exec provider of that name", names[i]);
                CHECK(code != 0 && strstr(out, want), "issue 10 part 3: lvssd with FreezeFilesystems=%s exited %d:\n%s",
                      names[i], code, out);
                free(want);
                free(out);
                free(sock);
                free(state_dir);
                free(lvssd);
                free(config);
        }
}

int main(void) {
        static const struct CMUnitTest tests[] = {
                ITEST(test_bad_config),
                ITEST(test_ext4_and_xfs),
                ITEST(test_commit_fails),
                ITEST(test_freeze_busy),
                ITEST(test_hang),
                ITEST(test_hang_step_deadline),
                ITEST(test_state_fs_refused),
                ITEST(test_crash),
        };

        return ITEST_MAIN_WITH_FS("test-exec-fsfreeze", tests, fs_setup, fs_cleanup, fs_release_in_signal);
}

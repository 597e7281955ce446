/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Unit tests: the btrfs provider (providers-and-writers.md "Provider
 * contract"), run in-process against a real btrfs: a sparse 256 MiB image in
 * a temporary directory, attached with "losetup --find --show", made with
 * mkfs.btrfs and mounted on a temporary directory, with two subvolumes of
 * data. pre_commit and commit run in a forked child, as lvssd runs them.
 *
 * Needs root, losetup, mkfs.btrfs and a kernel with btrfs; without them the
 * test says why and exits 77 (meson's "skipped").
 *
 * Nothing is left behind, whatever happens. Right after "losetup" the test
 * opens the loop device, sets LO_FLAGS_AUTOCLEAR and unlinks the image: the
 * device detaches itself, and the image goes, once nobody holds it. The file
 * system is mounted in a mount namespace of this process (unshare), so the
 * mount dies with it. Even a SIGKILL leaves only empty directories. On top
 * of that the group teardown, an atexit handler and a SIGTERM/SIGINT handler
 * unmount, "losetup -d" and remove the files. Children never run the atexit
 * handler (_exit).
 *
 * The killed-commit tests stop the child at the snapshot ioctl
 * (BTRFS_IOC_SNAP_CREATE_V2) with a seccomp filter (SECCOMP_RET_TRAP): its
 * SIGSYS handler either performs the ioctl itself (marking it so the filter
 * lets it through) and returns its result, or, at the chosen ioctl, writes a
 * byte on a pipe and waits to be killed. So a commit is killed exactly
 * before its first snapshot or between two, with no sleeps and no races.
 */

#include <btrfsutil.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/btrfs.h>
#include <linux/filter.h>
#include <linux/loop.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <cmocka.h>

#include "basic/util.h"
#include "providers/provider.h"

#define SKIP_EXIT 77
#define IMAGE_SIZE "256M"

static pid_t main_pid;
static char base_dir[256];   /* the temporary directory of this run */
static char image[300];      /* base_dir/btrfs.img */
static char mnt[300];        /* base_dir/mnt: the btrfs file system (top-level subvolume) */
static char loop_dev[64];    /* "/dev/loopN" while attached */
static int loop_fd = -1;     /* holds the device (autoclear) until cleanup */
static volatile sig_atomic_t mounted;
static char vol1[400], vol2[400], nested[512], plain[400], fs_storage[400], off_storage[400];

/* ---- environment: run a program, set up and tear down the file system ---- */

/* Runs @argv; its stdout goes to @out (when given), else to /dev/null.
 * Returns its exit status, 127 when it cannot be found, or a negative errno. */
static int run(char *const argv[], char *out, size_t out_size) {
        int pipefd[2], status;
        size_t n = 0;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (dup2(out ? pipefd[1] : null, STDOUT_FILENO) < 0)
                        _exit(126);
                execvp(argv[0], argv);
                for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                        char path[256];

                        snprintf(path, sizeof path, "%s/%s", dirs[i], argv[0]);
                        execv(path, argv);
                }
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                ssize_t k;

                if (!out || n + 1 >= out_size) {
                        char sink[256];
                        k = read(pipefd[0], sink, sizeof sink);
                } else
                        k = read(pipefd[0], out + n, out_size - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (out && n + 1 < out_size)
                        n += (size_t) k;
        }
        close(pipefd[0]);
        if (out && out_size > 0)
                out[n] = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* rm -rf for the test's own directories on ordinary file systems. */
static void remove_tree(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        if (lstat(path, &st) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                unlink(path);
                return;
        }
        d = opendir(path);
        if (d) {
                while ((de = readdir(d))) {
                        char sub[4096];

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                        remove_tree(sub);
                }
                closedir(d);
        }
        rmdir(path);
}

/* Is the loop device still attached to our image? */
static bool loop_attached(void) {
        char path[128], backing[512];
        const char *name;
        ssize_t k;
        int fd;

        if (!loop_dev[0])
                return false;
        name = strrchr(loop_dev, '/') + 1;
        snprintf(path, sizeof path, "/sys/block/%s/loop/backing_file", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        k = read(fd, backing, sizeof backing - 1);
        close(fd);
        if (k <= 0)
                return false;
        backing[k] = 0;
        backing[strcspn(backing, "\n")] = 0;
        return strncmp(backing, image, strlen(image)) == 0;
}

/* Idempotent; only the test process itself, never a forked child. */
static void cleanup(void) {
        if (getpid() != main_pid)
                return;
        if (mounted) {
                if (umount2(mnt, 0) < 0 && errno != EINVAL && errno != ENOENT) {
                        fprintf(stderr, "test-btrfs: umount %s: %m, detaching it lazily\n", mnt);
                        (void) umount2(mnt, MNT_DETACH);
                }
                mounted = 0;
        }
        closep(&loop_fd);
        if (loop_attached()) {
                char *argv[] = { (char *) "losetup", (char *) "-d", loop_dev, NULL };
                int r = run(argv, NULL, 0);
                /* Autoclear may have beaten us to it. */
                if (r != 0 && loop_attached())
                        fprintf(stderr, "test-btrfs: losetup -d %s failed (%d)\n", loop_dev, r);
        }
        loop_dev[0] = 0;
        if (base_dir[0]) {
                remove_tree(base_dir);
                base_dir[0] = 0;
        }
}

/* SIGTERM (meson's timeout), SIGINT: the async-signal-safe part of cleanup(). */
static void on_fatal_signal(int sig) {
        if (getpid() == main_pid) {
                if (mounted)
                        (void) umount2(mnt, MNT_DETACH);
                if (loop_fd >= 0) {
                        (void) ioctl(loop_fd, LOOP_CLR_FD, 0);
                        close(loop_fd);
                }
                (void) unlink(image);
                (void) rmdir(mnt);
                (void) rmdir(off_storage);
                (void) rmdir(base_dir);
        }
        signal(sig, SIG_DFL);
        raise(sig);
}

static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

/* Setup-time variant: no cmocka asserts outside a test. */
static int put_file(const char *dir, const char *name, const void *data, size_t size, mode_t mode) {
        char path[600];
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return -EIO;
        }
        close(fd);
        return 0;
}

static int fill_volume(const char *dir, unsigned seed) {
        char p[600];
        uint8_t *big;
        int r;

        big = malloc(1024 * 1024);
        if (!big)
                return -ENOMEM;
        for (size_t i = 0; i < 1024 * 1024; i++)
                big[i] = (uint8_t) (((i + seed) * 2654435761u) >> 13);

        r = put_file(dir, "hello.txt", "hello, world\n", 13, 0644);
        if (r == 0)
                r = put_file(dir, "big.bin", big, 1024 * 1024, 0755);
        if (r == 0)
                r = put_file(dir, "doomed", "to be deleted\n", 14, 0600);
        if (r == 0)
                r = put_file(dir, "empty", "", 0, 0600);
        snprintf(p, sizeof p, "%s/sub", dir);
        if (r == 0 && mkdir(p, 0750) < 0)
                r = -errno;
        if (r == 0)
                r = put_file(p, "leaf.txt", big + 100, 3000, 0400);
        snprintf(p, sizeof p, "%s/sub/link", dir);
        if (r == 0 && symlink("../hello.txt", p) < 0)
                r = -errno;
        free(big);
        return r;
}

/* 0: ready; SKIP_EXIT: the environment cannot run this test (printed why);
 * else a negative errno. */
static int setup_file_system(void) {
        char *mkfs_argv[] = { (char *) "mkfs.btrfs", (char *) "-q", (char *) "-f", loop_dev, NULL };
        char *truncate_argv[] = { (char *) "truncate", (char *) "-s", (char *) IMAGE_SIZE, image, NULL };
        char *losetup_argv[] = { (char *) "losetup", (char *) "--find", (char *) "--show", image, NULL };
        struct loop_info64 info = {};
        enum btrfs_util_error e;
        const char *tmp = getenv("TMPDIR");
        char out[256];
        int r;

        if (geteuid() != 0) {
                printf("test-btrfs: skipped: needs root (loop devices, mount)\n");
                return SKIP_EXIT;
        }

        snprintf(base_dir, sizeof base_dir, "%s/test-btrfs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(base_dir)) {
                base_dir[0] = 0;
                return -errno;
        }
        snprintf(image, sizeof image, "%s/btrfs.img", base_dir);
        snprintf(mnt, sizeof mnt, "%s/mnt", base_dir);
        if (mkdir(mnt, 0755) < 0)
                return -errno;

        r = run(truncate_argv, NULL, 0);
        if (r != 0) {
                fprintf(stderr, "test-btrfs: truncate -s %s %s failed (%d)\n", IMAGE_SIZE, image, r);
                return r < 0 ? r : -EIO;
        }

        r = run(losetup_argv, out, sizeof out);
        if (r == 127) {
                printf("test-btrfs: skipped: losetup not found\n");
                return SKIP_EXIT;
        }
        if (r != 0) {
                printf("test-btrfs: skipped: losetup --find --show failed (%d): no loop devices here?\n", r);
                return SKIP_EXIT;
        }
        out[strcspn(out, "\n")] = 0;
        if (strncmp(out, "/dev/", 5) != 0 || strlen(out) >= sizeof loop_dev) {
                fprintf(stderr, "test-btrfs: losetup printed '%s'\n", out);
                return -EIO;
        }
        memcpy(loop_dev, out, strlen(out) + 1); /* length checked above */

        /* Held open from now on, the device can detach itself (autoclear)
         * only once we let go, and takes the unlinked image with it. */
        loop_fd = open(loop_dev, O_RDONLY | O_CLOEXEC);
        if (loop_fd < 0)
                return -errno;
        if (ioctl(loop_fd, LOOP_GET_STATUS64, &info) < 0)
                return -errno;
        info.lo_flags |= LO_FLAGS_AUTOCLEAR;
        if (ioctl(loop_fd, LOOP_SET_STATUS64, &info) < 0)
                return -errno;
        if (unlink(image) < 0)
                return -errno;

        r = run(mkfs_argv, NULL, 0);
        if (r == 127) {
                printf("test-btrfs: skipped: mkfs.btrfs not found\n");
                return SKIP_EXIT;
        }
        if (r != 0) {
                fprintf(stderr, "test-btrfs: mkfs.btrfs %s failed (%d)\n", loop_dev, r);
                return -EIO;
        }

        /* A mount namespace of our own: the mount cannot outlive the test. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                fprintf(stderr, "test-btrfs: no private mount namespace (%m), mounting in the current one\n");
        if (mount(loop_dev, mnt, "btrfs", 0, NULL) < 0) {
                if (errno == ENODEV) {
                        printf("test-btrfs: skipped: the kernel has no btrfs (mount: ENODEV)\n");
                        return SKIP_EXIT;
                }
                fprintf(stderr, "test-btrfs: mount %s on %s: %m\n", loop_dev, mnt);
                return -errno;
        }
        mounted = 1;

        snprintf(vol1, sizeof vol1, "%s/vol1", mnt);
        snprintf(vol2, sizeof vol2, "%s/vol2", mnt);
        snprintf(nested, sizeof nested, "%s/nested", vol2);
        snprintf(plain, sizeof plain, "%s/plain", mnt);
        snprintf(fs_storage, sizeof fs_storage, "%s/storage", mnt);
        snprintf(off_storage, sizeof off_storage, "%s/storage", base_dir);

        const char *subvols[] = { vol1, vol2, nested };
        for (size_t i = 0; i < ELEMENTSOF(subvols); i++) {
                e = btrfs_util_create_subvolume(subvols[i], 0, NULL, NULL);
                if (e != BTRFS_UTIL_OK) {
                        fprintf(stderr, "test-btrfs: create subvolume %s: %s\n", subvols[i], btrfs_util_strerror(e));
                        return -EIO;
                }
        }
        if (mkdir(plain, 0755) < 0)
                return -errno;
        r = fill_volume(vol1, 1);
        if (r == 0)
                r = fill_volume(vol2, 2);
        if (r == 0)
                r = fill_volume(nested, 3);
        if (r == 0)
                r = fill_volume(plain, 4);
        return r;
}

static int group_teardown(void **state) {
        cleanup();
        return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static unsigned count_entries(const char *path) {
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void id_name(const vss_id *id, char ret[VSS_ID_STRING_MAX]) {
        char s[VSS_ID_STRING_MAX];
        vss_id_format(id, s);
        memcpy(ret, s + 1, 36);
        ret[36] = 0;
}

static void snapshot_init(lvss_snapshot *s, uint8_t set_byte, uint8_t snap_byte, const char *vol) {
        *s = (lvss_snapshot) { .volume = (char *) vol };
        for (int i = 0; i < 16; i++) {
                s->set_id.bytes[i] = (uint8_t) (set_byte + i);
                s->snapshot_id.bytes[i] = (uint8_t) (snap_byte + i);
        }
}

static void expect_path(const lvss_snapshot *s, const char *dir) {
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], want[800];

        id_name(&s->set_id, set);
        id_name(&s->snapshot_id, snap);
        snprintf(want, sizeof want, "%s/%s/%s", dir, set, snap);
        assert_non_null(s->snapshot_path);
        assert_string_equal(s->snapshot_path, want);
}

/* The set directory of a snapshot path. */
static void set_dir_of(const char *path, char *ret, size_t size) {
        snprintf(ret, size, "%s", path);
        *strrchr(ret, '/') = 0;
}

static bool is_read_only_subvolume(const char *path) {
        bool ro = false;

        if (btrfs_util_is_subvolume(path) != BTRFS_UTIL_OK)
                return false;
        return btrfs_util_get_subvolume_read_only(path, &ro) == BTRFS_UTIL_OK && ro;
}

static void compare_files(const char *a, const char *b) {
        static uint8_t ba[65536], bb[65536];
        int fa, fb;

        fa = open(a, O_RDONLY | O_CLOEXEC);
        fb = open(b, O_RDONLY | O_CLOEXEC);
        assert_true(fa >= 0);
        assert_true(fb >= 0);
        for (;;) {
                ssize_t ka = read(fa, ba, sizeof ba), kb = read(fb, bb, sizeof bb);
                assert_true(ka >= 0);
                assert_int_equal(ka, kb);
                if (ka == 0)
                        break;
                assert_memory_equal(ba, bb, (size_t) ka);
        }
        close(fa);
        close(fb);
}

/* @dst holds what @src holds: types, modes, owners, mtimes, contents, link
 * targets. A subvolume nested in @src (its own st_dev) is an empty directory
 * in @dst: snapshots stop at subvolume boundaries. */
static void compare_trees(const char *src, const char *dst) {
        struct stat root;
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        assert_int_equal(lstat(src, &root), 0);
        d = opendir(src);
        assert_non_null(d);
        while ((de = readdir(d))) {
                char a[4096], b[4096];
                struct stat sa, sb;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(a, sizeof a, "%s/%s", src, de->d_name);
                snprintf(b, sizeof b, "%s/%s", dst, de->d_name);
                assert_int_equal(lstat(a, &sa), 0);
                assert_int_equal(lstat(b, &sb), 0);
                n++;
                assert_int_equal(sa.st_mode & S_IFMT, sb.st_mode & S_IFMT);
                if (S_ISDIR(sa.st_mode) && sa.st_dev != root.st_dev) {
                        assert_int_equal(count_entries(b), 0); /* a nested subvolume */
                        continue;
                }
                assert_int_equal(sa.st_mode, sb.st_mode);
                assert_int_equal(sa.st_uid, sb.st_uid);
                assert_int_equal(sa.st_gid, sb.st_gid);
                assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
                assert_int_equal(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
                if (S_ISLNK(sa.st_mode)) {
                        char ta[4096], tb[4096];
                        ssize_t ka = readlink(a, ta, sizeof ta), kb = readlink(b, tb, sizeof tb);
                        assert_true(ka > 0);
                        assert_int_equal(ka, kb);
                        assert_memory_equal(ta, tb, (size_t) ka);
                } else if (S_ISDIR(sa.st_mode))
                        compare_trees(a, b);
                else {
                        assert_int_equal(sa.st_size, sb.st_size);
                        compare_files(a, b);
                }
        }
        closedir(d);
        assert_int_equal(count_entries(dst), n);
}

static void file_equals(const char *dir, const char *name, const char *content) {
        char path[800], buf[256];
        ssize_t k;
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        k = read(fd, buf, sizeof buf);
        close(fd);
        assert_int_equal(k, (ssize_t) strlen(content));
        assert_memory_equal(buf, content, (size_t) k);
}

typedef struct child_result {
        int r;
        vss_hresult hr;
} child_result;

/* pre_commit + commit in a forked child, as lvssd does; *@ret_hr from the child. */
static int commit_in_child(lvss_provider *prov, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        child_result res = { .r = -EIO, .hr = VSS_S_OK };
        int pipefd[2], status;
        pid_t pid;

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                child_result c = { .hr = VSS_S_OK };

                close(pipefd[0]);
                c.r = prov->ops->pre_commit(prov, snaps, n, &c.hr);
                if (c.r == 0)
                        c.r = prov->ops->commit(prov, snaps, n, &c.hr);
                (void) !write(pipefd[1], &c, sizeof c);
                _exit(0);
        }
        close(pipefd[1]);
        assert_int_equal(read(pipefd[0], &res, sizeof res), (ssize_t) sizeof res);
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (ret_hr)
                *ret_hr = res.hr;
        return res.r;
}

/* ---- tests --------------------------------------------------------------- */

static void test_ops_and_new(void **state) {
        char s[VSS_ID_STRING_MAX];
        lvss_provider *p = NULL;

        assert_int_equal(lvss_provider_btrfs_new(NULL, &p), -EINVAL);
        assert_int_equal(lvss_provider_btrfs_new("relative/storage", &p), -EINVAL);
        assert_int_equal(lvss_provider_btrfs_new("/", &p), -EINVAL);
        assert_int_equal(lvss_provider_btrfs_new(off_storage, NULL), -EINVAL);
        assert_null(p);

        assert_int_equal(lvss_provider_btrfs_new(off_storage, &p), 0);
        assert_non_null(p);
        assert_true(exists(off_storage)); /* created */
        assert_string_equal(p->ops->name, "btrfs");
        assert_true(vss_id_equal(&p->ops->id, &LVSS_PROVIDER_BTRFS_ID));
        vss_id_format(&LVSS_PROVIDER_BTRFS_ID, s);
        assert_string_equal(s, "{5d3c3a8e-2f5b-4c1e-9a57-6c0f3b1d2e02}");
        assert_false(vss_id_equal(&LVSS_PROVIDER_BTRFS_ID, &LVSS_PROVIDER_COPY_ID));
        assert_non_null(p->ops->type);
        assert_non_null(p->ops->version);
        assert_null(lvss_provider_free(p));
}

static void test_volume_supported(void **state) {
        char p[700];
        lvss_provider *prov = NULL;

        assert_int_equal(lvss_provider_btrfs_new(off_storage, &prov), 0);

        assert_true(prov->ops->is_volume_supported(prov, vol1));
        assert_true(prov->ops->is_volume_supported(prov, vol2));
        assert_true(prov->ops->is_volume_supported(prov, nested)); /* a subvolume inside a subvolume */
        assert_true(prov->ops->is_volume_supported(prov, mnt));    /* the top-level subvolume, id 5 */
        snprintf(p, sizeof p, "%s/sub/..", vol1);                 /* resolves to a subvolume root */
        assert_true(prov->ops->is_volume_supported(prov, p));

        assert_false(prov->ops->is_volume_supported(prov, NULL));
        assert_false(prov->ops->is_volume_supported(NULL, vol1));
        assert_false(prov->ops->is_volume_supported(prov, "vol1"));  /* relative */
        assert_false(prov->ops->is_volume_supported(prov, plain));   /* a plain directory on btrfs */
        snprintf(p, sizeof p, "%s/sub", vol1);                       /* a directory inside a subvolume */
        assert_false(prov->ops->is_volume_supported(prov, p));
        snprintf(p, sizeof p, "%s/hello.txt", vol1);                 /* a file */
        assert_false(prov->ops->is_volume_supported(prov, p));
        snprintf(p, sizeof p, "%s/missing", vol1);
        assert_false(prov->ops->is_volume_supported(prov, p));
        assert_false(prov->ops->is_volume_supported(prov, base_dir)); /* not btrfs */
        assert_false(prov->ops->is_volume_supported(prov, off_storage));

        lvss_provider_free(prov);
}

/* Storage on the volumes' file system: <storage>/<set>/<snapshot>. Two
 * volumes, one set, one commit in a child. */
static void test_round_trip_storage_on_same_fs(void **state) {
        char set_dir[800], p[900];
        lvss_provider *prov = NULL;
        lvss_snapshot a, b, *snaps[2] = { &a, &b };
        struct btrfs_util_subvolume_info src_info, snap_info;
        vss_hresult hr = VSS_S_OK;
        struct stat st;
        int fd;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        snapshot_init(&a, 0x10, 0x40, vol1);
        snapshot_init(&b, 0x10, 0x50, vol2);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 2, &hr), 0);
        expect_path(&a, fs_storage);
        expect_path(&b, fs_storage);
        set_dir_of(a.snapshot_path, set_dir, sizeof set_dir);
        assert_int_equal(stat(set_dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_false(exists(a.snapshot_path));
        assert_false(exists(b.snapshot_path));
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 2, &hr), 0);

        assert_int_equal(commit_in_child(prov, snaps, 2, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 2, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 2, &hr), 0); /* harmless again */

        /* Read-only subvolumes, snapshots of their volumes, same contents. */
        assert_true(is_read_only_subvolume(a.snapshot_path));
        assert_true(is_read_only_subvolume(b.snapshot_path));
        assert_int_equal(btrfs_util_subvolume_info(vol1, 0, &src_info), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_subvolume_info(a.snapshot_path, 0, &snap_info), BTRFS_UTIL_OK);
        assert_memory_equal(snap_info.parent_uuid, src_info.uuid, 16);
        compare_trees(vol1, a.snapshot_path);
        compare_trees(vol2, b.snapshot_path); /* vol2/nested: an empty directory */
        snprintf(p, sizeof p, "%s/nested", b.snapshot_path);
        assert_int_equal(count_entries(p), 0);

        /* Nobody writes into a snapshot. */
        snprintf(p, sizeof p, "%s/hello.txt", a.snapshot_path);
        fd = open(p, O_WRONLY | O_CLOEXEC);
        assert_true(fd < 0);
        assert_int_equal(errno, EROFS);
        snprintf(p, sizeof p, "%s/new-dir", a.snapshot_path);
        assert_int_equal(mkdir(p, 0755), -1);
        assert_int_equal(errno, EROFS);

        /* Writes to the volume after commit do not show in the snapshot. */
        snprintf(p, sizeof p, "%s/hello.txt", vol1);
        write_file(p, "changed after the snapshot\n", 27, 0644);
        snprintf(p, sizeof p, "%s/after.txt", vol1);
        write_file(p, "new\n", 4, 0644);
        snprintf(p, sizeof p, "%s/doomed", vol1);
        assert_int_equal(unlink(p), 0);
        file_equals(a.snapshot_path, "hello.txt", "hello, world\n");
        file_equals(a.snapshot_path, "doomed", "to be deleted\n");
        snprintf(p, sizeof p, "%s/after.txt", a.snapshot_path);
        assert_false(exists(p));
        /* ... and the volume is as written. */
        file_equals(vol1, "hello.txt", "changed after the snapshot\n");
        /* Put vol1 back for the other tests. */
        snprintf(p, sizeof p, "%s/hello.txt", vol1);
        write_file(p, "hello, world\n", 13, 0644);
        snprintf(p, sizeof p, "%s/after.txt", vol1);
        assert_int_equal(unlink(p), 0);
        snprintf(p, sizeof p, "%s/doomed", vol1);
        write_file(p, "to be deleted\n", 14, 0600);

        /* A second commit onto a snapshot that exists is refused, the snapshot untouched. */
        hr = VSS_S_OK;
        assert_int_equal(commit_in_child(prov, snaps, 2, &hr), -EEXIST);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_true(is_read_only_subvolume(a.snapshot_path));

        /* Delete one: the set directory stays for the other; then the other. */
        assert_int_equal(prov->ops->delete_snapshot(prov, a.snapshot_path), 0);
        assert_false(exists(a.snapshot_path));
        assert_int_equal(count_entries(set_dir), 1);
        assert_int_equal(prov->ops->delete_snapshot(prov, a.snapshot_path), 0); /* idempotent */
        assert_int_equal(prov->ops->delete_snapshot(prov, b.snapshot_path), 0);
        assert_false(exists(b.snapshot_path));
        assert_false(exists(set_dir));
        assert_int_equal(count_entries(fs_storage), 0);
        assert_int_equal(prov->ops->abort(prov, snaps, 2), 0); /* nothing left: still success */

        /* The volumes are untouched. */
        assert_int_equal(btrfs_util_is_subvolume(vol1), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_is_subvolume(vol2), BTRFS_UTIL_OK);

        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(prov);
}

/* Issue 11 §5: pre_commit calls no syncfs; the snapshot ioctl flushes the
 * volume itself. Data written just before the commit, never synced (still
 * in the page cache, not yet allocated on disk), is in the snapshot; a
 * pre_commit given a snapshot without a volume still fails with EINVAL. */
static void test_unsynced_data_in_snapshot(void **state) {
        const size_t size = 4u << 20;
        _cleanup_(freep) uint8_t *data = malloc(size), *back = malloc(size);
        char set_dir[800], p[900];
        lvss_provider *prov = NULL;
        lvss_snapshot a, bad, *snaps[1] = { &a }, *bads[1] = { &bad };
        vss_hresult hr = VSS_S_OK;
        size_t got = 0;
        int fd;

        assert_non_null(data);
        assert_non_null(back);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) (i * 131u + (i >> 12));
        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);

        bad = (lvss_snapshot) { .volume = NULL };
        assert_int_equal(prov->ops->pre_commit(prov, bads, 1, &hr), -EINVAL);
        assert_true(VSS_FAILED(hr));
        hr = VSS_S_OK;

        snapshot_init(&a, 0x60, 0x61, vol1);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);
        set_dir_of(a.snapshot_path, set_dir, sizeof set_dir);

        /* written, not synced: right before the commit, as a frozen writer's application leaves it */
        snprintf(p, sizeof p, "%s/unsynced.bin", vol1);
        write_file(p, data, size, 0644);
        assert_int_equal(commit_in_child(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(unlink(p), 0);

        snprintf(p, sizeof p, "%s/unsynced.bin", a.snapshot_path);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        while (got < size) {
                ssize_t k = read(fd, back + got, size - got);
                assert_true(k > 0);
                got += (size_t) k;
        }
        assert_int_equal(read(fd, back, 1), 0);
        close(fd);
        assert_memory_equal(back, data, size);

        assert_int_equal(prov->ops->delete_snapshot(prov, a.snapshot_path), 0);
        assert_false(exists(set_dir));
        free(a.snapshot_path);
        lvss_provider_free(prov);
}

/* Storage elsewhere: the snapshot goes next to the volume, in
 * <parent>/.lvss-snapshots/<set>/<snapshot>. */
static void test_round_trip_next_to_volume(void **state) {
        char dir[700], set_dir[800];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;
        struct stat st;

        assert_int_equal(lvss_provider_btrfs_new(off_storage, &prov), 0);
        snapshot_init(&s, 0x20, 0x60, vol1);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        snprintf(dir, sizeof dir, "%s/.lvss-snapshots", mnt);
        expect_path(&s, dir);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(commit_in_child(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_true(is_read_only_subvolume(s.snapshot_path));
        compare_trees(vol1, s.snapshot_path);
        assert_int_equal(count_entries(off_storage), 0); /* nothing in the other file system */

        set_dir_of(s.snapshot_path, set_dir, sizeof set_dir);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_false(exists(s.snapshot_path));
        assert_false(exists(set_dir));
        assert_true(exists(dir)); /* .lvss-snapshots stays */
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0); /* idempotent */

        free(s.snapshot_path);
        lvss_provider_free(prov);
}

/* Issue 9 part 2: a writable (auto-recovery) snapshot is a writable subvolume
 * after commit and post_commit; finalize makes it read-only, with what was
 * written into it; finalize again, or of a snapshot gone, is harmless; a
 * snapshot not marked writable is read-only from commit on and finalize
 * leaves it so. */
static void test_writable_then_finalize(void **state) {
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;
        char p[800];
        bool ro = true;

        assert_int_equal(lvss_provider_btrfs_new(off_storage, &prov), 0);
        assert_non_null(prov->ops->finalize);
        snapshot_init(&s, 0x28, 0x68, vol1);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_true(s.can_write);
        s.writable = true;
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(commit_in_child(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(btrfs_util_get_subvolume_read_only(s.snapshot_path, &ro), BTRFS_UTIL_OK);
        assert_false(ro);
        compare_trees(vol1, s.snapshot_path);
        snprintf(p, sizeof p, "%s/repaired.txt", s.snapshot_path);
        write_file(p, "repaired\n", 9, 0644);

        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0);
        assert_true(is_read_only_subvolume(s.snapshot_path));
        file_equals(s.snapshot_path, "repaired.txt", "repaired\n");
        assert_true(open(p, O_WRONLY | O_CLOEXEC) < 0 && errno == EROFS);
        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0); /* again */

        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_false(exists(s.snapshot_path));
        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0); /* gone */
        free(s.snapshot_path);

        /* not writable: read-only from commit on */
        snapshot_init(&s, 0x29, 0x69, vol1);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(commit_in_child(prov, snaps, 1, &hr), 0);
        assert_true(is_read_only_subvolume(s.snapshot_path));
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0);
        assert_true(is_read_only_subvolume(s.snapshot_path));
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        free(s.snapshot_path);
        lvss_provider_free(prov);
}

/* The top-level subvolume, mounted on its own: its parent is another file
 * system, so the snapshot goes inside it, <volume>/.lvss-snapshots/... */
static void test_top_level_subvolume(void **state) {
        char dir[700], p[900];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;

        assert_int_equal(lvss_provider_btrfs_new(off_storage, &prov), 0);
        snapshot_init(&s, 0x30, 0x70, mnt);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        snprintf(dir, sizeof dir, "%s/.lvss-snapshots", mnt);
        expect_path(&s, dir);
        assert_int_equal(commit_in_child(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_true(is_read_only_subvolume(s.snapshot_path));

        /* The plain directory is in it; the subvolumes are empty directories. */
        snprintf(p, sizeof p, "%s/plain", s.snapshot_path);
        compare_trees(plain, p);
        snprintf(p, sizeof p, "%s/vol1", s.snapshot_path);
        assert_true(exists(p));
        assert_int_equal(count_entries(p), 0);

        assert_int_equal(prov->ops->delete_snapshot(prov, s.snapshot_path), 0);
        assert_false(exists(s.snapshot_path));
        free(s.snapshot_path);
        lvss_provider_free(prov);

        /* With the storage area on the file system, the storage area it is. */
        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        snapshot_init(&s, 0x31, 0x71, mnt);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        expect_path(&s, fs_storage);
        assert_int_equal(commit_in_child(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_true(is_read_only_subvolume(s.snapshot_path));
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_false(exists(s.snapshot_path));
        assert_int_equal(count_entries(fs_storage), 0);
        free(s.snapshot_path);
        lvss_provider_free(prov);
}

static void test_unsupported_volume_vetoed(void **state) {
        char file[700], dir[700];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        snprintf(file, sizeof file, "%s/hello.txt", vol1);
        snprintf(dir, sizeof dir, "%s/sub", vol1);

        const char *bad[] = { plain, dir, file, "relative", base_dir, off_storage };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snapshot_init(&s, 0x11, 0x22, bad[i]);
                hr = VSS_S_OK;
                assert_true(prov->ops->begin_prepare(prov, snaps, 1, &hr) < 0);
                assert_int_equal(hr, VSS_E_PROVIDER_VETO);
                assert_null(s.snapshot_path);
        }
        assert_int_equal(count_entries(fs_storage), 0);

        /* One bad volume vetoes the whole set, and nothing is made for the good one. */
        lvss_snapshot good, *pair[2] = { &good, &s };
        snapshot_init(&good, 0x12, 0x23, vol1);
        snapshot_init(&s, 0x12, 0x24, plain);
        hr = VSS_S_OK;
        assert_true(prov->ops->begin_prepare(prov, pair, 2, &hr) < 0);
        assert_int_equal(hr, VSS_E_PROVIDER_VETO);
        assert_null(good.snapshot_path);
        assert_int_equal(count_entries(fs_storage), 0);

        /* Bad arguments: an error and a result, never a crash. */
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->begin_prepare(prov, NULL, 1, &hr), -EINVAL);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_int_equal(prov->ops->begin_prepare(NULL, snaps, 1, NULL), -EINVAL);
        lvss_snapshot *null_snap[1] = { NULL };
        assert_int_equal(prov->ops->commit(prov, null_snap, 1, &hr), -EINVAL);
        snapshot_init(&s, 0x11, 0x22, vol1); /* no snapshot_path yet */
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), -EINVAL);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), -EINVAL);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), -EINVAL);
        assert_int_equal(prov->ops->abort(prov, NULL, 1), -EINVAL);
        assert_int_equal(prov->ops->abort(prov, NULL, 0), 0);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0); /* nothing was made */
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 0, &hr), 0);

        lvss_provider_free(prov);
}

/* end_prepare vetoes a volume gone meanwhile; commit never writes outside a set dir. */
static void test_end_prepare_and_bad_paths(void **state) {
        char vol3[700], p[900];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        snprintf(vol3, sizeof vol3, "%s/vol3", mnt);
        assert_int_equal(btrfs_util_create_subvolume(vol3, 0, NULL, NULL), BTRFS_UTIL_OK);
        snapshot_init(&s, 0x40, 0x80, vol3);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(btrfs_util_delete_subvolume(vol3, 0), BTRFS_UTIL_OK);
        hr = VSS_S_OK;
        assert_true(prov->ops->end_prepare(prov, snaps, 1, &hr) < 0);
        assert_int_equal(hr, VSS_E_PROVIDER_VETO);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_int_equal(count_entries(fs_storage), 0);
        free(s.snapshot_path);

        /* A snapshot path that is not a place of this provider. */
        snapshot_init(&s, 0x41, 0x81, vol1);
        snprintf(p, sizeof p, "%s/not-a-snapshot", plain);
        s.snapshot_path = strdup(p);
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), -EPERM);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_false(exists(p));
        free(s.snapshot_path);

        lvss_provider_free(prov);
}

/*
 * Issue 11 §1/§5: ready_commit, which the commit child runs before it waits
 * for "go", does commit's path work and keeps what it opened; commit then
 * resolves no path. After ready_commit both paths are made to point
 * elsewhere: the storage area is renamed away and a decoy directory, with
 * the same set directory in it, takes its place; the volume is renamed away
 * and a decoy subvolume takes its place. The snapshot is made where
 * ready_commit looked, of the volume it opened: in the renamed storage
 * area, a snapshot of the real vol1 (its contents, its UUID as parent), and
 * the decoys stay empty. commit gives back what ready_commit kept.
 */
static void test_ready_commit_resolves_no_path_after(void **state) {
        char set[VSS_ID_STRING_MAX], set_dir[800], moved_storage[500], moved_vol[500], moved_snap[900];
        struct btrfs_util_subvolume_info vol_info, snap_info;
        lvss_provider *prov = NULL;
        lvss_snapshot a, *snaps[1] = { &a };
        vss_hresult hr = VSS_S_OK;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        assert_non_null(prov->ops->ready_commit);
        assert_non_null(prov->ops->release_commit);
        snapshot_init(&a, 0x90, 0x91, vol1);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);
        expect_path(&a, fs_storage);
        set_dir_of(a.snapshot_path, set_dir, sizeof set_dir);
        id_name(&a.set_id, set);
        assert_int_equal(btrfs_util_subvolume_info(vol1, 0, &vol_info), BTRFS_UTIL_OK);

        assert_int_equal(prov->ops->ready_commit(prov, snaps, 1, &hr), 0);
        assert_non_null(a.commit_ready);

        /* Every path lookup now finds a decoy. */
        snprintf(moved_storage, sizeof moved_storage, "%s/storage-moved", mnt);
        snprintf(moved_vol, sizeof moved_vol, "%s/vol1-moved", mnt);
        assert_int_equal(rename(fs_storage, moved_storage), 0);
        assert_int_equal(mkdir(fs_storage, 0700), 0);
        assert_int_equal(mkdir(set_dir, 0700), 0);
        assert_int_equal(rename(vol1, moved_vol), 0);
        assert_int_equal(btrfs_util_create_subvolume(vol1, 0, NULL, NULL), BTRFS_UTIL_OK);

        assert_int_equal(prov->ops->pre_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_null(a.commit_ready); /* given back */

        /* Made where ready_commit looked, of the volume it opened; nothing in the decoys. */
        assert_false(exists(a.snapshot_path));
        assert_int_equal(count_entries(set_dir), 0);
        assert_int_equal(count_entries(vol1), 0);
        snprintf(moved_snap, sizeof moved_snap, "%s/%s/%s", moved_storage, set, strrchr(a.snapshot_path, '/') + 1);
        assert_true(is_read_only_subvolume(moved_snap));
        assert_int_equal(btrfs_util_subvolume_info(moved_snap, 0, &snap_info), BTRFS_UTIL_OK);
        assert_memory_equal(snap_info.parent_uuid, vol_info.uuid, 16);

        /* Everything back in its place; then the snapshot is the volume's, and goes as usual. */
        assert_int_equal(rmdir(set_dir), 0);
        assert_int_equal(rmdir(fs_storage), 0);
        assert_int_equal(rename(moved_storage, fs_storage), 0);
        assert_int_equal(btrfs_util_delete_subvolume(vol1, 0), BTRFS_UTIL_OK);
        assert_int_equal(rename(moved_vol, vol1), 0);
        compare_trees(vol1, a.snapshot_path);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->delete_snapshot(prov, a.snapshot_path), 0);
        assert_false(exists(set_dir));
        assert_int_equal(count_entries(fs_storage), 0);

        free(a.snapshot_path);
        lvss_provider_free(prov);
}

/*
 * Issue 11 §1/§5: a ready_commit that fails (the name of a snapshot taken,
 * a volume gone since end_prepare) keeps nothing, makes nothing, and fails
 * with the hresult commit gave for the same cause
 * (VSS_E_UNEXPECTED_PROVIDER_ERROR), which the commit child reports at once:
 * lvssd vetoes the set before Freeze. A name taken after ready_commit fails
 * commit (the ioctl never replaces), the intruder untouched. release_commit
 * gives back what a ready_commit kept when commit does not run.
 */
static void test_ready_commit_fails_leaving_nothing(void **state) {
        char set_dir[800], gone[500], p[900];
        lvss_provider *prov = NULL;
        lvss_snapshot a, b, *snaps[2] = { &a, &b };
        vss_hresult hr = VSS_S_OK;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        assert_non_null(prov->ops->ready_commit);
        snapshot_init(&a, 0x98, 0xa0, vol1);
        snapshot_init(&b, 0x98, 0xb0, vol2);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 2, &hr), 0);
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 2, &hr), 0);
        set_dir_of(a.snapshot_path, set_dir, sizeof set_dir);

        /* The second snapshot's name is taken: the first, ready already, is given back too. */
        assert_int_equal(mkdir(b.snapshot_path, 0700), 0);
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->ready_commit(prov, snaps, 2, &hr), -EEXIST);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_null(a.commit_ready);
        assert_null(b.commit_ready);
        assert_false(exists(a.snapshot_path));
        assert_int_equal(count_entries(set_dir), 1); /* the intruder alone */
        assert_int_equal(rmdir(b.snapshot_path), 0);

        /* A volume gone since end_prepare. */
        snprintf(gone, sizeof gone, "%s/vol2-gone", mnt);
        assert_int_equal(rename(vol2, gone), 0);
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->ready_commit(prov, snaps, 2, &hr), -ENOENT);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_null(a.commit_ready);
        assert_null(b.commit_ready);
        assert_int_equal(count_entries(set_dir), 0);
        assert_int_equal(rename(gone, vol2), 0);

        /* Ready, then a name taken before commit: commit fails, the intruder stays as it was. */
        assert_int_equal(prov->ops->ready_commit(prov, snaps, 2, &hr), 0);
        assert_non_null(a.commit_ready);
        assert_non_null(b.commit_ready);
        assert_int_equal(mkdir(a.snapshot_path, 0700), 0);
        snprintf(p, sizeof p, "%s/mine", a.snapshot_path);
        write_file(p, "not a snapshot\n", 15, 0600);
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->commit(prov, snaps, 2, &hr), -EEXIST);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_null(a.commit_ready);
        assert_null(b.commit_ready);
        assert_false(exists(b.snapshot_path));
        file_equals(a.snapshot_path, "mine", "not a snapshot\n");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(rmdir(a.snapshot_path), 0);

        /* Ready, and commit does not run: release_commit gives it all back (twice: harmless). */
        assert_int_equal(prov->ops->ready_commit(prov, snaps, 2, &hr), 0);
        assert_non_null(a.commit_ready);
        lvss_provider_release_commit(prov, snaps, 2);
        assert_null(a.commit_ready);
        assert_null(b.commit_ready);
        lvss_provider_release_commit(prov, snaps, 2);
        lvss_provider_release_commit(NULL, snaps, 2);
        lvss_provider_release_commit(prov, NULL, 2);
        assert_int_equal(prov->ops->ready_commit(prov, NULL, 1, &hr), -EINVAL);
        assert_int_equal(prov->ops->ready_commit(NULL, snaps, 2, &hr), -EINVAL);

        assert_int_equal(prov->ops->abort(prov, snaps, 2), 0);
        assert_false(exists(set_dir));
        assert_int_equal(count_entries(fs_storage), 0);
        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(prov);
}

static void test_delete_refuses_foreign_paths(void **state) {
        char set_dir[800], p[900], q[900];
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];
        lvss_provider *prov = NULL;
        lvss_snapshot s;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);

        /* Missing paths are success. */
        snapshot_init(&s, 0x50, 0x90, vol1);
        id_name(&s.set_id, set);
        id_name(&s.snapshot_id, snap);
        snprintf(p, sizeof p, "%s/%s/%s", fs_storage, set, snap);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), 0);

        /* Subvolumes that are not at a place of this provider. */
        assert_int_equal(prov->ops->delete_snapshot(prov, vol1), -EPERM);
        assert_int_equal(prov->ops->delete_snapshot(prov, nested), -EPERM);
        snprintf(p, sizeof p, "%s/../vol1", fs_storage);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), -EPERM);
        assert_int_equal(btrfs_util_is_subvolume(vol1), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_is_subvolume(nested), BTRFS_UTIL_OK);

        /* At a place of this provider, but not a subvolume: a plain directory, a file. */
        snprintf(set_dir, sizeof set_dir, "%s/%s", fs_storage, set);
        assert_int_equal(mkdir(set_dir, 0700), 0);
        snprintf(p, sizeof p, "%s/%s", set_dir, snap);
        assert_int_equal(mkdir(p, 0755), 0);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), -EPERM);
        assert_true(exists(p));
        assert_int_equal(rmdir(p), 0);
        write_file(p, "x", 1, 0600);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), -EPERM);
        assert_true(exists(p));
        assert_int_equal(unlink(p), 0);
        /* A name that is not an id. */
        snprintf(q, sizeof q, "%s/not-an-id", set_dir);
        assert_int_equal(btrfs_util_create_subvolume(q, 0, NULL, NULL), BTRFS_UTIL_OK);
        assert_int_equal(prov->ops->delete_snapshot(prov, q), -EPERM);
        assert_int_equal(btrfs_util_is_subvolume(q), BTRFS_UTIL_OK);
        assert_int_equal(btrfs_util_delete_subvolume(q, 0), BTRFS_UTIL_OK);
        /* A set directory that is not an id. */
        snprintf(q, sizeof q, "%s/not-a-set", fs_storage);
        assert_int_equal(mkdir(q, 0700), 0);
        snprintf(q, sizeof q, "%s/not-a-set/%s", fs_storage, snap);
        assert_int_equal(btrfs_util_create_subvolume(q, 0, NULL, NULL), BTRFS_UTIL_OK);
        assert_int_equal(prov->ops->delete_snapshot(prov, q), -EPERM);
        assert_int_equal(btrfs_util_delete_subvolume(q, 0), BTRFS_UTIL_OK);
        snprintf(q, sizeof q, "%s/not-a-set", fs_storage);
        assert_int_equal(rmdir(q), 0);
        assert_int_equal(rmdir(set_dir), 0);

        /* Bad arguments. */
        assert_int_equal(prov->ops->delete_snapshot(prov, "relative/path"), -EINVAL);
        assert_int_equal(prov->ops->delete_snapshot(prov, NULL), -EINVAL);
        assert_int_equal(prov->ops->delete_snapshot(NULL, p), -EINVAL);
        assert_int_equal(count_entries(fs_storage), 0);

        lvss_provider_free(prov);
}

/* ---- a commit killed halfway --------------------------------------------- */

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#define CTX_ARG0(uc) ((uc)->uc_mcontext.gregs[REG_RDI])
#define CTX_ARG1(uc) ((uc)->uc_mcontext.gregs[REG_RSI])
#define CTX_ARG2(uc) ((uc)->uc_mcontext.gregs[REG_RDX])
#define CTX_RESULT(uc) ((uc)->uc_mcontext.gregs[REG_RAX])
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define CTX_ARG0(uc) ((uc)->uc_mcontext.regs[0])
#define CTX_ARG1(uc) ((uc)->uc_mcontext.regs[1])
#define CTX_ARG2(uc) ((uc)->uc_mcontext.regs[2])
#define CTX_RESULT(uc) ((uc)->uc_mcontext.regs[0])
#endif

/* The 4th ioctl argument (unused by the kernel) that lets an ioctl through. */
#define PASS_MAGIC 0x1f55u

static int sigsys_pipe = -1;
static volatile sig_atomic_t snapshots_to_allow;

#ifdef TEST_AUDIT_ARCH
static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
        ucontext_t *uc = ctx;
        int saved = errno;

        if (snapshots_to_allow > 0) {
                long r;

                snapshots_to_allow--;
                r = syscall(__NR_ioctl, (long) CTX_ARG0(uc), (long) CTX_ARG1(uc), (long) CTX_ARG2(uc),
                            (long) PASS_MAGIC);
                CTX_RESULT(uc) = r < 0 ? -errno : r;
                errno = saved;
                return;
        }
        (void) !write(sigsys_pipe, "k", 1);
        for (;;)
                pause();
}

static int install_trap(void) {
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])), /* request (low word) */
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) BTRFS_IOC_SNAP_CREATE_V2, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])), /* the pass mark */
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PASS_MAGIC, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return -errno;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
}
#else
static int install_trap(void) {
        return -EOPNOTSUPP;
}
#endif

/* Two volumes, one set; the commit child is killed at snapshot number
 * @allow + 1 (so @allow snapshots exist); abort removes everything. */
static void killed_commit(unsigned allow, uint8_t id_byte) {
        char set_dir[800];
        lvss_provider *prov = NULL;
        lvss_snapshot a, b, *snaps[2] = { &a, &b };
        vss_hresult hr = VSS_S_OK;
        int pipefd[2], status;
        char byte = 0;
        pid_t pid;

        assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
        snapshot_init(&a, id_byte, 0xa0, vol1);
        snapshot_init(&b, id_byte, 0xb0, vol2);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 2, &hr), 0);
        set_dir_of(a.snapshot_path, set_dir, sizeof set_dir);

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(pipefd[0]);
                sigsys_pipe = pipefd[1];
                snapshots_to_allow = (sig_atomic_t) allow;
                if (prov->ops->pre_commit(prov, snaps, 2, NULL) < 0)
                        _exit(1);
                if (install_trap() < 0) {
                        (void) !write(pipefd[1], "n", 1); /* cannot trap here: skip */
                        _exit(0);
                }
                prov->ops->commit(prov, snaps, 2, NULL);
                _exit(0); /* not reached when the trap works: EOF for the parent */
        }
        close(pipefd[1]);
        assert_int_equal(read(pipefd[0], &byte, 1), 1);
        close(pipefd[0]);
        if (byte == 'n') {
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_int_equal(prov->ops->abort(prov, snaps, 2), 0);
                free(a.snapshot_path);
                free(b.snapshot_path);
                lvss_provider_free(prov);
                skip();
        }
        assert_int_equal(byte, 'k');
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Each snapshot is complete or absent. */
        if (allow >= 1) {
                assert_true(is_read_only_subvolume(a.snapshot_path));
                compare_trees(vol1, a.snapshot_path);
        } else
                assert_false(exists(a.snapshot_path));
        assert_false(exists(b.snapshot_path));
        assert_int_equal(count_entries(set_dir), allow);

        /* abort removes what exists, set directory included. */
        assert_int_equal(prov->ops->abort(prov, snaps, 2), 0);
        assert_false(exists(a.snapshot_path));
        assert_false(exists(b.snapshot_path));
        assert_false(exists(set_dir));
        assert_int_equal(count_entries(fs_storage), 0);
        assert_int_equal(prov->ops->abort(prov, snaps, 2), 0);

        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(prov);
}

static void test_killed_commit_before_first_snapshot(void **state) {
        killed_commit(0, 0x60);
}

static void test_killed_commit_between_snapshots(void **state) {
        killed_commit(1, 0x61);
}

/* SIGKILL at whatever moment the scheduler gives: any outcome is fine as
 * long as abort leaves nothing. */
static void test_killed_commit_anywhere(void **state) {
        for (uint8_t round = 0; round < 8; round++) {
                char set_dir[800];
                lvss_provider *prov = NULL;
                lvss_snapshot a, b, *snaps[2] = { &a, &b };
                vss_hresult hr = VSS_S_OK;
                int pipefd[2], status;
                char byte = 0;
                pid_t pid;

                assert_int_equal(lvss_provider_btrfs_new(fs_storage, &prov), 0);
                snapshot_init(&a, (uint8_t) (0x70 + round), 0xc0, vol1);
                snapshot_init(&b, (uint8_t) (0x70 + round), 0xd0, vol2);
                assert_int_equal(prov->ops->begin_prepare(prov, snaps, 2, &hr), 0);
                set_dir_of(a.snapshot_path, set_dir, sizeof set_dir);

                assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        close(pipefd[0]);
                        (void) !write(pipefd[1], "g", 1);
                        prov->ops->commit(prov, snaps, 2, NULL);
                        _exit(0);
                }
                close(pipefd[1]);
                assert_int_equal(read(pipefd[0], &byte, 1), 1);
                close(pipefd[0]);
                (void) kill(pid, SIGKILL);
                assert_int_equal(waitpid(pid, &status, 0), pid);

                /* Whatever exists is a complete, read-only snapshot. */
                if (exists(a.snapshot_path))
                        assert_true(is_read_only_subvolume(a.snapshot_path));
                if (exists(b.snapshot_path))
                        assert_true(is_read_only_subvolume(b.snapshot_path));

                assert_int_equal(prov->ops->abort(prov, snaps, 2), 0);
                assert_false(exists(a.snapshot_path));
                assert_false(exists(b.snapshot_path));
                assert_false(exists(set_dir));

                free(a.snapshot_path);
                free(b.snapshot_path);
                lvss_provider_free(prov);
        }
        assert_int_equal(count_entries(fs_storage), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ops_and_new),
                cmocka_unit_test(test_volume_supported),
                cmocka_unit_test(test_round_trip_storage_on_same_fs),
                cmocka_unit_test(test_unsynced_data_in_snapshot),
                cmocka_unit_test(test_round_trip_next_to_volume),
                cmocka_unit_test(test_writable_then_finalize),
                cmocka_unit_test(test_top_level_subvolume),
                cmocka_unit_test(test_unsupported_volume_vetoed),
                cmocka_unit_test(test_end_prepare_and_bad_paths),
                cmocka_unit_test(test_ready_commit_resolves_no_path_after),
                cmocka_unit_test(test_ready_commit_fails_leaving_nothing),
                cmocka_unit_test(test_delete_refuses_foreign_paths),
                cmocka_unit_test(test_killed_commit_before_first_snapshot),
                cmocka_unit_test(test_killed_commit_between_snapshots),
                cmocka_unit_test(test_killed_commit_anywhere),
        };
        struct sigaction sa = { .sa_handler = on_fatal_signal };
        int r;

        main_pid = getpid();
        if (atexit(cleanup) != 0)
                return EXIT_FAILURE;
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);

        r = setup_file_system();
        if (r == SKIP_EXIT) {
                cleanup();
                return SKIP_EXIT;
        }
        if (r < 0) {
                fprintf(stderr, "test-btrfs: setup failed: %s\n", strerror(-r));
                cleanup();
                return EXIT_FAILURE;
        }
        printf("test-btrfs: btrfs on %s (image %s) mounted on %s\n", loop_dev, image, mnt);
        fflush(stdout);

        return cmocka_run_group_tests(tests, NULL, group_teardown);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Unit tests: the copy provider (providers-and-writers.md "Provider
 * contract"), run in-process on a tree made in a temporary directory.
 *
 * The killed-commit tests stop the child at a chosen system call with a
 * seccomp filter (SECCOMP_RET_TRAP): its SIGSYS handler writes one byte on a
 * pipe and waits; the parent reads the byte, so it knows exactly where the
 * child is, and kills it. No sleeps, no races.
 */

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "basic/util.h"
#include "basic/fs-util.h"
#include "providers/provider.h"
#include "basic/test-run-dir.h"

static char base_dir[256]; /* the temporary directory of this run */
static char volume[300];   /* the tree to snapshot */
static unsigned storage_counter;

/* ---- helpers ------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void set_mtime(const char *path, time_t t) {
        const struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t, .tv_nsec = 123456789 } };
        assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* rm -rf for the test's own directories (immutable attributes cleared and
 * dirs made u+rwx first). */
static void remove_tree(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        lvss_clear_immutable_tree(path);
        if (lstat(path, &st) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                unlink(path);
                return;
        }
        chmod(path, st.st_mode | 0700);
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

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
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

/*
 * Issue 9: a finished copy is read-only and keeps the volume's modes (a
 * restore gives the files back with them). Run as root, the provider makes
 * @path immutable: the mode is @src_mode and a change is refused even to
 * root. Without root (no CAP_LINUX_IMMUTABLE) it takes the write bits away.
 */
static void assert_read_only_entry(const char *path, mode_t src_mode) {
        struct stat st;
        int fd;

        assert_int_equal(lstat(path, &st), 0);
        if (geteuid() != 0) {
                assert_int_equal(st.st_mode & 07777, src_mode & 07777 & ~0222u);
                return;
        }
        assert_int_equal(st.st_mode & 07777, src_mode & 07777);
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(lvss_is_immutable_fd(fd));
        close(fd);
        if (S_ISDIR(st.st_mode)) {
                char probe[4096];

                snprintf(probe, sizeof probe, "%s/.probe", path);
                assert_int_equal(mkdir(probe, 0700), -1);
        } else
                assert_int_equal(open(path, O_WRONLY | O_CLOEXEC), -1);
        assert_int_equal(errno, EPERM);
}

/* Every directory, regular file and symlink of @src is in @dst with the same
 * content, mode and mtime, read-only when @read_only; nothing else is in
 * @dst (sockets, fifos, devices are not copied). */
static void compare_trees(const char *src, const char *dst, bool read_only) {
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

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
                if (!S_ISDIR(sa.st_mode) && !S_ISREG(sa.st_mode) && !S_ISLNK(sa.st_mode)) {
                        assert_false(exists(b));
                        continue;
                }
                n++;
                assert_int_equal(lstat(b, &sb), 0);
                assert_int_equal(sa.st_mode & S_IFMT, sb.st_mode & S_IFMT);
                assert_int_equal(sa.st_uid, sb.st_uid);
                assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
                assert_int_equal(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
                if (S_ISLNK(sa.st_mode)) {
                        char ta[4096], tb[4096];
                        ssize_t ka = readlink(a, ta, sizeof ta), kb = readlink(b, tb, sizeof tb);
                        assert_true(ka > 0);
                        assert_int_equal(ka, kb);
                        assert_memory_equal(ta, tb, (size_t) ka);
                        continue;
                }
                if (read_only)
                        assert_read_only_entry(b, sa.st_mode);
                else
                        assert_int_equal(sb.st_mode & 07777, sa.st_mode & 07777);
                if (S_ISDIR(sa.st_mode))
                        compare_trees(a, b, read_only);
                else {
                        assert_int_equal(sa.st_size, sb.st_size);
                        compare_files(a, b);
                }
        }
        closedir(d);
        assert_int_equal(count_entries(dst), n);
}

static void make_storage(char *ret, size_t size) {
        snprintf(ret, size, "%s/storage%u", base_dir, storage_counter++);
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

/* ---- setup: the volume ---------------------------------------------------- */

static int group_setup(void **state) {
        char p[512];
        uint8_t *big;
        const char *tmp = getenv("TMPDIR");
        int fd;

        snprintf(base_dir, sizeof base_dir, "%s/test-copy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (test_run_dir_make(base_dir) < 0) /* removed on every exit, killed or failed too */
                return -1;
        snprintf(volume, sizeof volume, "%s/volume", base_dir);
        if (mkdir(volume, 0755) < 0)
                return -1;

        big = malloc(1024 * 1024);
        if (!big)
                return -1;
        for (size_t i = 0; i < 1024 * 1024; i++)
                big[i] = (uint8_t) ((i * 2654435761u) >> 13);

        snprintf(p, sizeof p, "%s/hello.txt", volume);
        write_file(p, "hello, world\n", 13, 0644);
        set_mtime(p, 1000000000);
        snprintf(p, sizeof p, "%s/empty", volume);
        write_file(p, "", 0, 0600);
        snprintf(p, sizeof p, "%s/big.bin", volume);
        write_file(p, big, 1024 * 1024, 0755);
        snprintf(p, sizeof p, "%s/odd", volume);
        write_file(p, big, 4097, 0640);

        /* A sparse file: a hole, then data, then a hole up to 2 MiB. */
        snprintf(p, sizeof p, "%s/sparse", volume);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || pwrite(fd, big, 5000, 700000) != 5000 || ftruncate(fd, 2 * 1024 * 1024) < 0)
                return -1;
        close(fd);

        snprintf(p, sizeof p, "%s/sub", volume);
        mkdir(p, 0750);
        snprintf(p, sizeof p, "%s/sub/deeper", volume);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/sub/deeper/leaf.txt", volume);
        write_file(p, big + 100, 3000, 0400);
        snprintf(p, sizeof p, "%s/sub/deeper/emptydir", volume);
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/sub/link", volume);
        if (symlink("../hello.txt", p) < 0)
                return -1;
        set_mtime(p, 1100000000);
        snprintf(p, sizeof p, "%s/dangling", volume);
        if (symlink("does/not/exist", p) < 0)
                return -1;
        snprintf(p, sizeof p, "%s/fifo", volume);
        if (mkfifo(p, 0644) < 0)
                return -1;
        /* A directory without write permission: the copy must still fill it. */
        snprintf(p, sizeof p, "%s/sub/deeper", volume);
        chmod(p, 0555);
        set_mtime(p, 1200000000);
        snprintf(p, sizeof p, "%s/sub", volume);
        set_mtime(p, 1300000000);

        free(big);
        return 0;
}

static int group_teardown(void **state) {
        remove_tree(base_dir);
        test_run_dirs_remove(); /* and /dev/shm's, if test_other_file_system made one */
        return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_ops_and_new(void **state) {
        char storage[512];
        lvss_provider *p = NULL;

        assert_null(lvss_provider_free(NULL));
        assert_int_equal(lvss_provider_copy_new(NULL, &p), -EINVAL);
        assert_int_equal(lvss_provider_copy_new("relative/storage", &p), -EINVAL);
        assert_null(p);

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, NULL), -EINVAL);
        assert_int_equal(lvss_provider_copy_new(storage, &p), 0);
        assert_non_null(p);
        assert_true(exists(storage)); /* created */
        assert_string_equal(p->ops->name, "copy");
        assert_true(vss_id_equal(&p->ops->id, &LVSS_PROVIDER_COPY_ID));
        assert_non_null(p->ops->type);
        assert_non_null(p->ops->version);
        assert_null(lvss_provider_free(p));
}

static void test_volume_supported(void **state) {
        char storage[512], p[700];
        lvss_provider *prov = NULL;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);

        assert_true(prov->ops->is_volume_supported(prov, volume));
        snprintf(p, sizeof p, "%s/sub", volume);
        assert_true(prov->ops->is_volume_supported(prov, p));

        assert_false(prov->ops->is_volume_supported(prov, NULL));
        assert_false(prov->ops->is_volume_supported(NULL, volume));
        assert_false(prov->ops->is_volume_supported(prov, "volume"));    /* relative */
        assert_false(prov->ops->is_volume_supported(prov, "tmp"));
        snprintf(p, sizeof p, "%s/hello.txt", volume);                  /* not a directory */
        assert_false(prov->ops->is_volume_supported(prov, p));
        snprintf(p, sizeof p, "%s/missing", volume);
        assert_false(prov->ops->is_volume_supported(prov, p));
        assert_false(prov->ops->is_volume_supported(prov, storage));   /* the storage dir itself */
        snprintf(p, sizeof p, "%s/inside", storage);                    /* inside the storage dir */
        assert_int_equal(mkdir(p, 0755), 0);
        assert_false(prov->ops->is_volume_supported(prov, p));
        assert_int_equal(rmdir(p), 0);
        assert_false(prov->ops->is_volume_supported(prov, base_dir)); /* contains the storage dir */
        assert_false(prov->ops->is_volume_supported(prov, "/"));
        /* ".." and symlinks leading to a directory containing the storage dir are seen through. */
        snprintf(p, sizeof p, "%s/volume/sub/../../", base_dir);
        assert_false(prov->ops->is_volume_supported(prov, p));
        snprintf(p, sizeof p, "%s/alias", base_dir);
        assert_int_equal(symlink(base_dir, p), 0);
        assert_false(prov->ops->is_volume_supported(prov, p));
        assert_int_equal(unlink(p), 0);
        /* A symlink to the volume is fine. */
        assert_int_equal(symlink(volume, p), 0);
        assert_true(prov->ops->is_volume_supported(prov, p));
        assert_int_equal(unlink(p), 0);
        lvss_provider_free(prov);
}

static void test_snapshot_round_trip(void **state) {
        char storage[512], expect[700], set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], p[800];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;
        struct stat st;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snapshot_init(&s, 0x10, 0x40, volume);
        id_name(&s.set_id, set);
        id_name(&s.snapshot_id, snap);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_non_null(s.snapshot_path);
        snprintf(expect, sizeof expect, "%s/%s/%s", storage, set, snap);
        assert_string_equal(s.snapshot_path, expect);
        snprintf(p, sizeof p, "%s/%s", storage, set);
        assert_true(exists(p));
        assert_false(exists(s.snapshot_path));

        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->pre_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        snprintf(p, sizeof p, "%s.partial", s.snapshot_path);
        assert_false(exists(p));
        compare_trees(volume, s.snapshot_path, false);
        /* The root keeps the volume's mode too. */
        assert_int_equal(stat(s.snapshot_path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);

        /* Holes stay holes: the copy takes what the estimate counted. */
        snprintf(p, sizeof p, "%s/sparse", s.snapshot_path);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_size, 2 * 1024 * 1024);
        assert_true((uint64_t) st.st_blocks * 512 < 1024 * 1024);

        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        compare_trees(volume, s.snapshot_path, true);
        assert_read_only_entry(s.snapshot_path, 0755);
        /* post_commit again is harmless */
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);

        /* A second commit onto a complete snapshot is refused, the snapshot untouched. */
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), -EEXIST);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        compare_trees(volume, s.snapshot_path, true);

        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_false(exists(s.snapshot_path));
        assert_int_equal(count_entries(storage), 0); /* the set dir went too */
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0); /* idempotent */

        free(s.snapshot_path);
        lvss_provider_free(prov);
}

/* Issue 9 part 2: a writable (auto-recovery) snapshot stays writable after
 * post_commit; finalize makes it read-only with what was added; finalize of a
 * read-only snapshot, a repeated finalize and one of a snapshot already gone
 * are harmless. */
/*
 * Issue 11 §1/§5: ready_commit (in the commit child, before "go") opens the
 * set directory and the volume; pre_commit and commit resolve no path after
 * it. The storage area is renamed away after ready_commit and a decoy with
 * the same set directory takes its place: the copy is made in the renamed
 * area, the decoy stays empty, and commit gives back what was kept. A
 * ready_commit whose name is taken fails with the hresult commit gave for it
 * (VSS_E_UNEXPECTED_PROVIDER_ERROR), keeping and making nothing.
 */
static void test_ready_commit_resolves_no_path_after(void **state) {
        char storage[512], moved[600], set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], decoy[700], made[800];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;

        make_storage(storage, sizeof storage);
        snprintf(moved, sizeof moved, "%s-moved", storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        assert_non_null(prov->ops->ready_commit);
        snapshot_init(&s, 0x18, 0x48, volume);
        id_name(&s.set_id, set);
        id_name(&s.snapshot_id, snap);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);

        /* The name taken: nothing kept, nothing made. */
        assert_int_equal(mkdir(s.snapshot_path, 0700), 0);
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->ready_commit(prov, snaps, 1, &hr), -EEXIST);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_null(s.commit_ready);
        assert_int_equal(count_entries(s.snapshot_path), 0);
        assert_int_equal(rmdir(s.snapshot_path), 0);

        assert_int_equal(prov->ops->ready_commit(prov, snaps, 1, &hr), 0);
        assert_non_null(s.commit_ready);
        assert_int_equal(rename(storage, moved), 0);
        snprintf(decoy, sizeof decoy, "%s/%s", storage, set);
        assert_int_equal(mkdir(storage, 0700), 0);
        assert_int_equal(mkdir(decoy, 0700), 0);

        assert_int_equal(prov->ops->pre_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_null(s.commit_ready); /* given back */
        assert_int_equal(count_entries(decoy), 0);
        snprintf(made, sizeof made, "%s/%s/%s", moved, set, snap);
        compare_trees(volume, made, false);

        assert_int_equal(rmdir(decoy), 0);
        assert_int_equal(rmdir(storage), 0);
        assert_int_equal(rename(moved, storage), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_int_equal(count_entries(storage), 0);

        free(s.snapshot_path);
        lvss_provider_free(prov);
}

static void test_writable_then_finalize(void **state) {
        char storage[512], p[800];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;
        struct stat st;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        assert_non_null(prov->ops->finalize);
        snapshot_init(&s, 0x18, 0x48, volume);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_true(s.can_write);
        s.writable = true;
        assert_int_equal(prov->ops->end_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->pre_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);

        /* writable after post_commit: the root keeps the volume's mode, a writer adds a file */
        assert_int_equal(stat(s.snapshot_path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        snprintf(p, sizeof p, "%s/repaired.txt", s.snapshot_path);
        write_file(p, "repaired\n", 9, 0644);

        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0);
        assert_read_only_entry(s.snapshot_path, 0755);
        assert_read_only_entry(p, 0644);
        snprintf(p, sizeof p, "%s/hello.txt", s.snapshot_path);
        assert_read_only_entry(p, 0644);
        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0); /* again: harmless */

        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_false(exists(s.snapshot_path));
        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0); /* gone: success */
        free(s.snapshot_path);

        /* not writable: read-only at post_commit, finalize leaves it alone */
        snapshot_init(&s, 0x19, 0x49, volume);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_read_only_entry(s.snapshot_path, 0755);
        assert_int_equal(prov->ops->finalize(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        free(s.snapshot_path);

        hr = VSS_S_OK;
        assert_int_equal(prov->ops->finalize(NULL, snaps, 1, &hr), -EINVAL);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        lvss_provider_free(prov);
}

static void test_two_volumes_one_set(void **state) {
        char storage[512], vol2[700], set[VSS_ID_STRING_MAX], p[800];
        lvss_provider *prov = NULL;
        lvss_snapshot a, b, *snaps[2] = { &a, &b };
        vss_hresult hr = VSS_S_OK;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snprintf(vol2, sizeof vol2, "%s/sub", volume);
        snapshot_init(&a, 0x20, 0x50, volume);
        snapshot_init(&b, 0x20, 0x60, vol2);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 2, &hr), 0);
        assert_int_equal(prov->ops->pre_commit(prov, snaps, 2, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 2, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 2, &hr), 0);
        compare_trees(volume, a.snapshot_path, true);
        compare_trees(vol2, b.snapshot_path, true);
        id_name(&a.set_id, set);
        snprintf(p, sizeof p, "%s/%s", storage, set);
        assert_int_equal(count_entries(p), 4); /* two snapshots, each with its ".<id>.volume" note (issue 12 §2) */

        /* Deleting one keeps the set directory for the other. */
        assert_int_equal(prov->ops->delete_snapshot(prov, a.snapshot_path), 0);
        assert_false(exists(a.snapshot_path));
        assert_int_equal(count_entries(p), 2); /* b and its note */
        assert_int_equal(prov->ops->delete_snapshot(prov, b.snapshot_path), 0);
        assert_false(exists(p));

        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(prov);
}

static void test_delete(void **state) {
        char storage[512], p[800];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snapshot_init(&s, 0x30, 0x70, volume);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->delete_snapshot(prov, s.snapshot_path), 0);
        assert_false(exists(s.snapshot_path));
        assert_int_equal(count_entries(storage), 0);

        /* Missing paths are success. */
        assert_int_equal(prov->ops->delete_snapshot(prov, s.snapshot_path), 0);
        snprintf(p, sizeof p, "%s/no-such-set/no-such-snapshot", storage);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), 0);

        /* Nothing outside the storage area is ever removed. */
        snprintf(p, sizeof p, "%s/hello.txt", volume);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), -EPERM);
        assert_true(exists(p));
        snprintf(p, sizeof p, "%s/../volume", storage);
        assert_int_equal(prov->ops->delete_snapshot(prov, p), -EPERM);
        assert_true(exists(volume));
        assert_int_equal(prov->ops->delete_snapshot(prov, "relative/path"), -EINVAL);
        assert_int_equal(prov->ops->delete_snapshot(prov, NULL), -EINVAL);
        assert_int_equal(prov->ops->delete_snapshot(NULL, p), -EINVAL);

        free(s.snapshot_path);
        lvss_provider_free(prov);
}

static void test_unsupported_volume_vetoed(void **state) {
        char storage[512], file[700];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snprintf(file, sizeof file, "%s/hello.txt", volume);

        const char *bad[] = { file, "relative", storage, base_dir };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                snapshot_init(&s, 0x11, 0x22, bad[i]);
                hr = VSS_S_OK;
                assert_true(prov->ops->begin_prepare(prov, snaps, 1, &hr) < 0);
                assert_int_equal(hr, VSS_E_PROVIDER_VETO);
                assert_null(s.snapshot_path);
        }
        assert_int_equal(count_entries(storage), 0);

        /* Bad arguments: an error and a result, never a crash. */
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->begin_prepare(prov, NULL, 1, &hr), -EINVAL);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_int_equal(prov->ops->begin_prepare(NULL, snaps, 1, NULL), -EINVAL);
        lvss_snapshot *null_snap[1] = { NULL };
        assert_int_equal(prov->ops->commit(prov, null_snap, 1, &hr), -EINVAL);
        snapshot_init(&s, 0x11, 0x22, volume); /* no snapshot_path yet */
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), -EINVAL);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), -EINVAL);
        assert_int_equal(prov->ops->abort(prov, NULL, 1), -EINVAL);
        assert_int_equal(prov->ops->abort(prov, NULL, 0), 0);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0); /* nothing was made */
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 0, &hr), 0);

        lvss_provider_free(prov);
}

/* Storage on another file system (tmpfs in /dev/shm when there is one):
 * no reflink, copy_file_range refuses (EXDEV), the pread/pwrite path and the
 * space walk run. */
static void test_other_file_system(void **state) {
        char shm[64] = "/dev/shm/test-copy-XXXXXX", storage[512];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;
        struct stat a, b;

        if (stat("/dev/shm", &a) < 0 || stat(volume, &b) < 0 || a.st_dev == b.st_dev || access("/dev/shm", W_OK) < 0)
                skip();
        /* removed whatever happens (a failed assertion here, a kill): the storage goes inside */
        assert_int_equal(test_run_dir_make(shm), 0);
        snprintf(storage, sizeof storage, "%s/storage", shm);

        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snapshot_init(&s, 0xe0, 0xf0, volume);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->pre_commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, snaps, 1, &hr), 0);
        compare_trees(volume, s.snapshot_path, true);
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_int_equal(count_entries(storage), 0);
        assert_int_equal(rmdir(storage), 0);

        free(s.snapshot_path);
        lvss_provider_free(prov);
}

/* ---- a commit killed halfway --------------------------------------------- */

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

typedef enum stop_at {
        STOP_AT_FIRST_CREATE, /* the first file created in the copy: mid-way */
        STOP_AT_RENAME,       /* everything copied, not yet renamed */
} stop_at;

static int sigsys_pipe = -1;

static void on_sigsys(int sig) {
        (void) !write(sigsys_pipe, "k", 1);
        for (;;)
                pause();
}

#ifdef TEST_AUDIT_ARCH
static int install_trap(stop_at where) {
        struct sock_filter filter_create[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 3),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])), /* flags (low word) */
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_CREAT, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_filter filter_rename[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_renameat2, 1, 0),
#ifdef __NR_renameat
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_renameat, 0, 1),
#else
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_renameat2, 0, 1),
#endif
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = where == STOP_AT_RENAME
                                         ? (struct sock_fprog) { .len = ELEMENTSOF(filter_rename), .filter = filter_rename }
                                         : (struct sock_fprog) { .len = ELEMENTSOF(filter_create), .filter = filter_create };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
}
#else
static int install_trap(stop_at where) {
        return -EOPNOTSUPP;
}
#endif

static void killed_commit(stop_at where) {
        char storage[512], set_dir[700], partial[800], set[VSS_ID_STRING_MAX];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;
        int pipefd[2], status;
        char byte = 0;
        pid_t pid;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snapshot_init(&s, 0x80, 0x90 + (uint8_t) where, volume);
        id_name(&s.set_id, set);
        snprintf(set_dir, sizeof set_dir, "%s/%s", storage, set);

        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);
        assert_int_equal(prov->ops->pre_commit(prov, snaps, 1, &hr), 0);
        snprintf(partial, sizeof partial, "%s.partial", s.snapshot_path);

        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct sigaction sa = { .sa_handler = on_sigsys };

                close(pipefd[0]);
                sigsys_pipe = pipefd[1];
                if (sigaction(SIGSYS, &sa, NULL) < 0 || install_trap(where) < 0) {
                        (void) !write(pipefd[1], "n", 1); /* cannot trap here: skip */
                        _exit(0);
                }
                prov->ops->commit(prov, snaps, 1, NULL);
                _exit(0); /* not reached when the trap works: EOF for the parent */
        }
        close(pipefd[1]);
        assert_int_equal(read(pipefd[0], &byte, 1), 1);
        close(pipefd[0]);
        if (byte == 'n') {
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
                free(s.snapshot_path);
                lvss_provider_free(prov);
                skip();
        }
        assert_int_equal(byte, 'k');
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* Only the ".partial" directory: nothing that looks complete. */
        assert_false(exists(s.snapshot_path));
        assert_true(exists(partial));
        assert_int_equal(count_entries(set_dir), 2); /* and the ".<id>.volume" note (issue 12 §2) */
        if (where == STOP_AT_RENAME)
                compare_trees(volume, partial, false); /* all there, just not renamed */

        /* abort removes it, set directory included. */
        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_false(exists(partial));
        assert_false(exists(set_dir));
        assert_int_equal(count_entries(storage), 0);

        free(s.snapshot_path);
        lvss_provider_free(prov);
}

static void test_killed_commit_midway(void **state) {
        killed_commit(STOP_AT_FIRST_CREATE);
}

static void test_killed_commit_before_rename(void **state) {
        killed_commit(STOP_AT_RENAME);
}

/* A ".partial" left by a killed commit does not stop the next attempt. */
static void test_commit_over_leftover_partial(void **state) {
        char storage[512], partial[800], junk[900];
        lvss_provider *prov = NULL;
        lvss_snapshot s, *snaps[1] = { &s };
        vss_hresult hr = VSS_S_OK;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snapshot_init(&s, 0xa0, 0xb0, volume);
        assert_int_equal(prov->ops->begin_prepare(prov, snaps, 1, &hr), 0);

        snprintf(partial, sizeof partial, "%s.partial", s.snapshot_path);
        assert_int_equal(mkdir(partial, 0500), 0);
        snprintf(junk, sizeof junk, "%s/junk", partial);
        assert_int_equal(chmod(partial, 0700), 0);
        write_file(junk, "x", 1, 0400);
        assert_int_equal(chmod(partial, 0500), 0);

        assert_int_equal(prov->ops->commit(prov, snaps, 1, &hr), 0);
        assert_false(exists(partial));
        compare_trees(volume, s.snapshot_path, false);

        assert_int_equal(prov->ops->abort(prov, snaps, 1), 0);
        assert_int_equal(count_entries(storage), 0);
        free(s.snapshot_path);
        lvss_provider_free(prov);
}

/* VSS_E_INSUFFICIENT_STORAGE: a 64 KiB tmpfs as the storage area, mounted in
 * a private mount namespace of a child (needs root; skipped otherwise). */
static void test_insufficient_storage(void **state) {
        char storage[512];
        int pipefd[2], status;
        char byte = 0;
        pid_t pid;

        make_storage(storage, sizeof storage);
        assert_int_equal(mkdir(storage, 0700), 0);
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                lvss_provider *prov = NULL;
                lvss_snapshot s, *snaps[1] = { &s };
                vss_hresult hr = VSS_S_OK;
                int r;

                close(pipefd[0]);
                if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("tmpfs", storage, "tmpfs", 0, "size=64k") < 0) {
                        (void) !write(pipefd[1], "n", 1);
                        _exit(0);
                }
                snapshot_init(&s, 0xc0, 0xd0, volume);
                r = lvss_provider_copy_new(storage, &prov);
                if (r == 0)
                        r = prov->ops->begin_prepare(prov, snaps, 1, &hr);
                (void) !write(pipefd[1], r == -ENOSPC && hr == VSS_E_INSUFFICIENT_STORAGE ? "y" : "f", 1);
                _exit(0);
        }
        close(pipefd[1]);
        assert_int_equal(read(pipefd[0], &byte, 1), 1);
        close(pipefd[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (byte == 'n')
                skip();
        assert_int_equal(byte, 'y');
}

/* Blocks under @path (not following symlinks), in bytes, as the provider counts them. */
static uint64_t tree_bytes(const char *path) {
        struct stat st;
        uint64_t sum;
        DIR *d;
        struct dirent *de;

        if (lstat(path, &st) < 0)
                return 0;
        sum = (uint64_t) st.st_blocks * 512;
        if (!S_ISDIR(st.st_mode))
                return sum;
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d))) {
                char sub[1024];

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                sum += tree_bytes(sub);
        }
        closedir(d);
        return sum;
}

/* Issue 12 §2: a volume's storage limit counts its own copies (found by
 * their notes), refuses a set that would pass it with
 * VSS_E_INSUFFICIENT_STORAGE before anything is made, and frees up again
 * when a copy is deleted; another volume is not limited. */
static void test_storage_limit(void **state) {
        char storage[512], set[VSS_ID_STRING_MAX], p[800], other[400];
        lvss_provider *prov = NULL;
        lvss_snapshot a, b, c, *one[1];
        vss_hresult hr = VSS_S_OK;
        uint64_t copy_size;

        make_storage(storage, sizeof storage);
        assert_int_equal(lvss_provider_copy_new(storage, &prov), 0);
        snapshot_init(&a, 0x70, 0x71, volume);
        snapshot_init(&b, 0x72, 0x73, volume);
        snprintf(other, sizeof other, "%s/sub", volume);
        snapshot_init(&c, 0x74, 0x75, other);

        /* A first copy, before any limit. */
        one[0] = &a;
        assert_int_equal(prov->ops->begin_prepare(prov, one, 1, &hr), 0);
        assert_int_equal(prov->ops->commit(prov, one, 1, &hr), 0);
        assert_int_equal(prov->ops->post_commit(prov, one, 1, &hr), 0);
        copy_size = tree_bytes(a.snapshot_path);
        assert_true(copy_size > 0);

        /* Room for one and a half copies: the second does not fit. */
        assert_int_equal(lvss_provider_copy_set_limit(prov, volume, copy_size + copy_size / 2, 0), 0);
        one[0] = &b;
        hr = VSS_S_OK;
        assert_int_equal(prov->ops->begin_prepare(prov, one, 1, &hr), -ENOSPC);
        assert_int_equal(hr, VSS_E_INSUFFICIENT_STORAGE);
        id_name(&b.set_id, set);
        snprintf(p, sizeof p, "%s/%s", storage, set);
        assert_false(exists(p)); /* nothing made: no set directory, no note */
        assert_int_equal(prov->ops->abort(prov, one, 1), 0);

        /* Another volume has no limit. */
        one[0] = &c;
        assert_int_equal(prov->ops->begin_prepare(prov, one, 1, &hr), 0);
        assert_int_equal(prov->ops->abort(prov, one, 1), 0);

        /* With the first copy deleted (its note too) the second fits. */
        assert_int_equal(prov->ops->delete_snapshot(prov, a.snapshot_path), 0);
        id_name(&a.set_id, set);
        snprintf(p, sizeof p, "%s/%s", storage, set);
        assert_false(exists(p));
        one[0] = &b;
        assert_int_equal(prov->ops->begin_prepare(prov, one, 1, &hr), 0);
        assert_int_equal(prov->ops->abort(prov, one, 1), 0);

        /* 100 % of the storage file system: fits; a limit replaced by "none" too. */
        assert_int_equal(lvss_provider_copy_set_limit(prov, volume, 0, 100), 0);
        assert_int_equal(prov->ops->begin_prepare(prov, one, 1, &hr), 0);
        assert_int_equal(prov->ops->abort(prov, one, 1), 0);
        assert_int_equal(lvss_provider_copy_set_limit(prov, volume, 0, 101), -EINVAL);
        assert_int_equal(lvss_provider_copy_set_limit(prov, "relative", 1, 0), -EINVAL);

        free(a.snapshot_path);
        free(b.snapshot_path);
        free(c.snapshot_path);
        lvss_provider_free(prov);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ops_and_new),
                cmocka_unit_test(test_volume_supported),
                cmocka_unit_test(test_snapshot_round_trip),
                cmocka_unit_test(test_ready_commit_resolves_no_path_after),
                cmocka_unit_test(test_writable_then_finalize),
                cmocka_unit_test(test_two_volumes_one_set),
                cmocka_unit_test(test_delete),
                cmocka_unit_test(test_unsupported_volume_vetoed),
                cmocka_unit_test(test_other_file_system),
                cmocka_unit_test(test_killed_commit_midway),
                cmocka_unit_test(test_killed_commit_before_rename),
                cmocka_unit_test(test_commit_over_leftover_partial),
                cmocka_unit_test(test_insufficient_storage),
                cmocka_unit_test(test_storage_limit),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The btrfs provider: a read-only btrfs snapshot of a subvolume, made with
 * libbtrfsutil. Commit is one ioctl, O(1) whatever the size of the volume.
 *
 * Volumes. A volume is the root directory of a btrfs subvolume, any of them,
 * the top-level one (id 5) included. Subvolumes nested inside the volume are
 * not part of its snapshot (btrfs semantics): they show as empty directories,
 * as a mount point does for the copy provider.
 *
 * Layout. A snapshot must live on the file system of its source, so its
 * place is chosen per volume, first that works of:
 *   1. @storage_dir/<set id>/<snapshot id>, when the storage area is on the
 *      same btrfs file system as the volume;
 *   2. <volume's parent>/.lvss-snapshots/<set id>/<snapshot id>, when that
 *      parent is on the same file system (the usual "@home next to @" case);
 *   3. <volume>/.lvss-snapshots/<set id>/<snapshot id>, for a subvolume
 *      mounted on its own (its parent is another file system). A later
 *      snapshot of that volume shows the earlier ones as empty directories.
 * "Same file system" is the fsid of BTRFS_IOC_FS_INFO: st_dev differs for
 * every subvolume and cannot tell. Directories are created 0700 (snapshots
 * keep the owners and modes of their volumes: who may look in is the
 * administrator's decision). A candidate whose directory cannot be made
 * because it is read-only or not ours (EROFS, EACCES, EPERM) gives way to the
 * next one. ".lvss-snapshots" itself is never removed: another set may be
 * creating its set directory there at the same moment.
 *
 * Consistency. The flush (VSS's pre_commit) is the snapshot ioctl's own:
 * the kernel writes out the volume's dirty data and waits for it before it
 * takes the snapshot, so pre_commit calls no syncfs (issue 11 §5: a syncfs
 * first committed one more btrfs transaction inside the freeze window, 2-4
 * ms on a loop device, the largest fixed cost over raw libbtrfsutil). The
 * snapshot ioctl is atomic: a commit killed at any instant leaves each
 * snapshot either complete or absent, so there is no ".partial" name, and
 * creating a snapshot commits a btrfs transaction, so a snapshot that exists
 * is on disk. post_commit checks that each snapshot is there, is read-only
 * and, when the volume has a subvolume UUID, that it is a snapshot of that
 * volume.
 *
 * The freeze window (issue 11 §5). ready_commit, which the commit child runs
 * before it waits for "go", does all of commit's path work: it resolves and
 * opens each set directory (checked to be a place of this provider) and
 * each volume (checked to be a subvolume root), checks that the snapshot's
 * name is free, and keeps the two descriptors in the snapshot. After "go",
 * commit is the snapshot ioctl per volume, on those descriptors, and nothing
 * else: no path is looked up while writers are frozen.
 *
 * Removal (abort, delete) only ever deletes a subvolume of the same file
 * system at <storage>/<set>/<snapshot> or .../.lvss-snapshots/<set>/<snapshot>
 * where <set> and <snapshot> are ids; anything else is refused with -EPERM.
 * The set directory goes with its last snapshot.
 */

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "basic/fs-util.h"
#include "basic/util.h"
#include "providers/provider.h"
#include "providers/storage-area.h"

#define SNAPSHOT_DIR ".lvss-snapshots"
#define log_error(...) lvss_storage_area_log("btrfs", __VA_ARGS__)
#define ID_NAME_LEN 36

/* {5d3c3a8e-2f5b-4c1e-9a57-6c0f3b1d2e02}, RFC 4122 byte order. */
const vss_id LVSS_PROVIDER_BTRFS_ID = {
        .bytes = { 0x5d, 0x3c, 0x3a, 0x8e, 0x2f, 0x5b, 0x4c, 0x1e,
                   0x9a, 0x57, 0x6c, 0x0f, 0x3b, 0x1d, 0x2e, 0x02 },
};

typedef struct btrfs_provider {
        lvss_storage_area area; /* first: the storage-area base (storage-area.h) */
} btrfs_provider;

typedef struct fs_id {
        uint8_t bytes[BTRFS_FSID_SIZE];
} fs_id;

static btrfs_provider *provider_data(lvss_provider *p) {
        return p ? p->data : NULL;
}

/*
 * A libbtrfsutil result as a negative errno. For the codes that stand for a
 * failed system call, libbtrfsutil leaves that call's errno: callers set
 * errno to 0 first, so a stale value is never taken for the cause.
 */
static int btrfs_errno(enum btrfs_util_error e) {
        switch (e) {
        case BTRFS_UTIL_OK:
                return 0;
        case BTRFS_UTIL_ERROR_NO_MEMORY:
                return -ENOMEM;
        case BTRFS_UTIL_ERROR_INVALID_ARGUMENT:
                return -EINVAL;
        case BTRFS_UTIL_ERROR_NOT_BTRFS:
                return -EMEDIUMTYPE;
        case BTRFS_UTIL_ERROR_NOT_SUBVOLUME:
                return -ENOTDIR;
        case BTRFS_UTIL_ERROR_SUBVOLUME_NOT_FOUND:
                return -ENOENT;
        default:
                return negative_errno();
        }
}

/* Is @name a file name this provider makes: an id, 36 characters? */
static bool name_is_id(const char *name, size_t len) {
        char buf[ID_NAME_LEN + 1];
        vss_id id;

        if (len != ID_NAME_LEN)
                return false;
        memcpy(buf, name, len);
        buf[len] = 0;
        return vss_id_parse(buf, &id) == VSS_S_OK;
}

/* The btrfs file system @fd is on; -EMEDIUMTYPE when it is not btrfs. */
static int fs_id_of(int fd, fs_id *ret) {
        struct btrfs_ioctl_fs_info_args args = {};
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return -errno;
        if ((unsigned long) sfs.f_type != (unsigned long) BTRFS_SUPER_MAGIC)
                return -EMEDIUMTYPE;
        if (ioctl(fd, BTRFS_IOC_FS_INFO, &args) < 0)
                return -errno;
        memcpy(ret->bytes, args.fsid, sizeof ret->bytes);
        return 0;
}

static bool fs_id_equal(const fs_id *a, const fs_id *b) {
        return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* 1 when @fd is on the btrfs file system @want, 0 when not (or not btrfs). */
static int fd_on_fs(int fd, const fs_id *want) {
        fs_id id;
        int r;

        r = fs_id_of(fd, &id);
        if (r == -EMEDIUMTYPE || r == -ENOTTY)
                return 0;
        if (r < 0)
                return r;
        return fs_id_equal(&id, want);
}

/* ---- volumes ------------------------------------------------------------- */

/* Opens @volume when it is the root of a btrfs subvolume. 0 or a negative
 * errno and, when given, *@ret_why says why (static text). */
static int volume_open(const char *volume, int *ret_fd, const char **ret_why) {
        _cleanup_(closep) int fd = -1;
        const char *why = NULL;
        enum btrfs_util_error e;
        int r;

        if (!volume || volume[0] != '/') {
                why = "not an absolute path";
                r = -EINVAL;
                goto out;
        }
        fd = open(volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        errno = 0;
        e = btrfs_util_is_subvolume_fd(fd);
        if (e != BTRFS_UTIL_OK) {
                why = e == BTRFS_UTIL_ERROR_NOT_BTRFS       ? "not on a btrfs file system"
                      : e == BTRFS_UTIL_ERROR_NOT_SUBVOLUME ? "not the root of a btrfs subvolume"
                                                            : btrfs_util_strerror(e);
                r = btrfs_errno(e);
                goto out;
        }
        r = 0;
        if (ret_fd)
                *ret_fd = TAKE_FD(fd);
out:
        if (ret_why)
                *ret_why = why ?: (r < 0 ? strerror(-r) : NULL);
        return r;
}

static bool btrfs_is_volume_supported(lvss_provider *p, const char *volume) {
        return provider_data(p) && volume_open(volume, NULL, NULL) == 0;
}

/* ---- snapshot paths ------------------------------------------------------ */

/* Is @canon (canonical) a set directory: <storage>/<id> or
 * <anything>/.lvss-snapshots/<id>? */
static bool is_set_dir(btrfs_provider *bp, const char *canon) {
        const char *slash = strrchr(canon, '/'), *up;

        if (!slash || !name_is_id(slash + 1, strlen(slash + 1)))
                return false;

        if (lvss_storage_area_is_set_dir(&bp->area, canon))
                return true;

        /* The component before the set: ".lvss-snapshots". */
        for (up = slash; up > canon && up[-1] != '/'; up--)
                ;
        return up > canon && (size_t) (slash - up) == strlen(SNAPSHOT_DIR) &&
               strncmp(up, SNAPSHOT_DIR, strlen(SNAPSHOT_DIR)) == 0;
}

/* Splits @path into its set directory (canonicalised, checked, opened) and
 * its last component, which must be an id. -EPERM for a path that is not a
 * place of this provider; -ENOENT when the set directory is missing. */
static int open_set_dir(btrfs_provider *bp, const char *path, int *ret_fd, const char **ret_base,
                        char **ret_set_dir) {
        _cleanup_(freep) char *parent = NULL, *canon = NULL;
        const char *base;
        int fd;

        if (!path || path[0] != '/')
                return -EINVAL;
        base = strrchr(path, '/') + 1;
        if (*base == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
                return -EINVAL;
        if (!name_is_id(base, strlen(base)))
                return -EPERM;

        parent = strndup(path, (size_t) (base - path));
        if (!parent)
                return -ENOMEM;
        canon = realpath(parent, NULL);
        if (!canon)
                return errno == ENOTDIR ? -ENOENT : negative_errno();
        if (!is_set_dir(bp, canon))
                return -EPERM;

        fd = open(canon, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno(); /* never 0: the callers use *ret_fd and *ret_base then */
        *ret_fd = fd;
        *ret_base = base;
        if (ret_set_dir)
                *ret_set_dir = TAKE_PTR(canon);
        return 0;
}

/*
 * Makes (or opens) the set directory in @dir_fd, a directory that is on the
 * volume's file system @fs, and checks that the snapshot is not there yet.
 * -EAGAIN: not usable (another file system, read-only, not ours), try the
 * next place.
 */
static int make_set_dir(int dir_fd, const char *set, const char *snap, const fs_id *fs) {
        _cleanup_(closep) int fd = -1;
        struct stat st;
        int r;

        if (mkdirat(dir_fd, set, 0700) < 0) {
                if (errno == EROFS || errno == EACCES || errno == EPERM)
                        return -EAGAIN;
                if (errno != EEXIST)
                        return -errno;
        }
        fd = openat(dir_fd, set, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP || errno == ENOTDIR || errno == EACCES ? -EAGAIN : -errno;
        r = fd_on_fs(fd, fs);
        if (r < 0)
                return r;
        if (r == 0)
                return -EAGAIN; /* something else is mounted there */

        /* Snapshot ids are new: something already there is not ours to reuse. */
        if (fstatat(fd, snap, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;
        return 0;
}

/* "<base>/.lvss-snapshots", made 0700 and opened, when @base_fd is on @fs. */
static int open_snapshot_dir(int base_fd, const fs_id *fs, int *ret_fd) {
        int fd, r;

        if (mkdirat(base_fd, SNAPSHOT_DIR, 0700) < 0) {
                if (errno == EROFS || errno == EACCES || errno == EPERM)
                        return -EAGAIN;
                if (errno != EEXIST)
                        return -errno;
        }
        fd = openat(base_fd, SNAPSHOT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ELOOP || errno == ENOTDIR || errno == EACCES ? -EAGAIN : -errno;
        r = fd_on_fs(fd, fs);
        if (r <= 0) {
                close(fd);
                return r < 0 ? r : -EAGAIN;
        }
        *ret_fd = fd;
        return 0;
}

/* Chooses and prepares the place of @s (see the top of this file). */
static int prepare_path(btrfs_provider *bp, lvss_snapshot *s) {
        _cleanup_(closep) int vfd = -1;
        _cleanup_(freep) char *canon = NULL;
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];
        fs_id fs;
        char *path = NULL;
        int r;

        r = volume_open(s->volume, &vfd, NULL);
        if (r < 0)
                return r;
        r = fs_id_of(vfd, &fs);
        if (r < 0)
                return r;
        canon = realpath(s->volume, NULL);
        if (!canon)
                return -errno;
        lvss_provider_id_name(&s->set_id, set);
        lvss_provider_id_name(&s->snapshot_id, snap);

        for (unsigned place = 0; place < 3 && !path; place++) {
                _cleanup_(closep) int base_fd = -1, dir_fd = -1;
                _cleanup_(freep) char *dir = NULL;

                if (place == 0) {
                        base_fd = open(bp->area.storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (base_fd < 0)
                                continue; /* gone: the next place will do */
                        r = fd_on_fs(base_fd, &fs);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                continue;
                        dir = strdup(bp->area.storage);
                        dir_fd = TAKE_FD(base_fd);
                } else {
                        _cleanup_(freep) char *base = NULL;
                        char *slash;

                        base = strdup(canon);
                        if (!base)
                                return -ENOMEM;
                        if (place == 1) {
                                if (strcmp(base, "/") == 0)
                                        continue; /* no parent */
                                slash = strrchr(base, '/');
                                slash[slash == base ? 1 : 0] = 0;
                        }
                        base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (base_fd < 0)
                                return -errno;
                        r = fd_on_fs(base_fd, &fs);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                continue;
                        r = open_snapshot_dir(base_fd, &fs, &dir_fd);
                        if (r == -EAGAIN)
                                continue;
                        if (r < 0)
                                return r;
                        if (asprintf(&dir, "%s/" SNAPSHOT_DIR, strcmp(base, "/") == 0 ? "" : base) < 0)
                                dir = NULL;
                }
                if (!dir)
                        return -ENOMEM;

                r = make_set_dir(dir_fd, set, snap, &fs);
                if (r == -EAGAIN)
                        continue;
                if (r < 0)
                        return r;
                if (asprintf(&path, "%s/%s/%s", dir, set, snap) < 0)
                        return -ENOMEM;
        }
        if (!path)
                return -EROFS; /* no writable place on the volume's file system */

        free(s->snapshot_path);
        s->snapshot_path = path;
        return 0;
}

/* Removes the set directory of @path when empty. */
static void remove_empty_set_dir(const char *path) {
        _cleanup_(freep) char *dir = NULL;
        const char *slash = strrchr(path, '/');

        if (!slash || slash == path)
                return;
        dir = strndup(path, (size_t) (slash - path));
        if (dir)
                (void) rmdir(dir);
}

static int btrfs_begin_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        btrfs_provider *bp = provider_data(p);
        size_t done;
        int r = 0;

        if (!bp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->volume)
                        return lvss_provider_fail(ret_hr, -EINVAL);

        for (size_t i = 0; i < n; i++) {
                const char *why;

                r = volume_open(snaps[i]->volume, NULL, &why);
                if (r < 0) {
                        log_error("%s: volume not supported: %s", snaps[i]->volume, why);
                        return lvss_provider_veto(ret_hr, r);
                }
                /* One btrfs snapshot is one instant of the subvolume (issue 9 part 1). */
                snaps[i]->atomic = true;
                /* A snapshot can be writable, then made read-only (issue 9 part 2). */
                snaps[i]->can_write = true;
        }

        (void) lvss_mkdir_parents(bp->area.storage, 0700); /* in case it went since lvss_provider_btrfs_new() */

        for (done = 0; done < n; done++) {
                r = prepare_path(bp, snaps[done]);
                if (r < 0) {
                        log_error("%s: cannot prepare the snapshot directory: %s", snaps[done]->volume,
                                  strerror(-r));
                        break;
                }
        }
        if (r >= 0)
                return 0;

        /* Undo: the set directories made so far, when still empty. */
        for (size_t i = 0; i < done; i++)
                if (snaps[i]->snapshot_path)
                        remove_empty_set_dir(snaps[i]->snapshot_path);
        return lvss_provider_fail(ret_hr, r);
}

static int btrfs_end_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        btrfs_provider *bp = provider_data(p);

        if (!bp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int set_fd = -1;
                const char *why, *base;
                int r;

                if (!snaps[i] || !snaps[i]->volume || !snaps[i]->snapshot_path)
                        return lvss_provider_fail(ret_hr, -EINVAL);
                r = volume_open(snaps[i]->volume, NULL, &why);
                if (r < 0) {
                        log_error("%s: volume not supported: %s", snaps[i]->volume, why);
                        return lvss_provider_veto(ret_hr, r);
                }
                r = open_set_dir(bp, snaps[i]->snapshot_path, &set_fd, &base, NULL);
                if (r < 0) {
                        log_error("%s: %s", snaps[i]->snapshot_path, strerror(-r));
                        return lvss_provider_fail(ret_hr, r);
                }
        }
        return 0;
}

/* ---- ready_commit, pre_commit and commit (in the child) ------------------ */

/*
 * Issue 11 §5: what commit needs of one snapshot, found and opened by
 * ready_commit before the commit child waits for "go", so that inside the
 * freeze window commit is the snapshot ioctl and nothing else. The set
 * directory and the volume are held by descriptor: whatever happens to
 * their paths after this (a rename, something mounted over them), the
 * snapshot goes where the checks were made.
 */
typedef struct btrfs_ready {
        int set_fd;                 /* the set directory, checked to be a place of this provider */
        int volume_fd;              /* the volume, checked to be the root of a subvolume */
        char name[ID_NAME_LEN + 1]; /* the snapshot's name in the set directory */
} btrfs_ready;

static void ready_free(void *ready) {
        btrfs_ready *rd = ready;

        if (!rd)
                return;
        closep(&rd->set_fd);
        closep(&rd->volume_fd);
        free(rd);
}

/* The path work of one snapshot's commit. *@ret owned: ready_free(). */
static int ready_one(lvss_storage_area *a, const lvss_snapshot *s, void **ret) {
        btrfs_provider *bp = (btrfs_provider *) a; /* the area is its first member */
        _cleanup_(closep) int set_fd = -1, vfd = -1;
        const char *base = NULL;
        btrfs_ready *rd;
        struct stat st;
        int r;

        r = open_set_dir(bp, s->snapshot_path, &set_fd, &base, NULL);
        if (r < 0)
                return r;
        /* open_set_dir() checked that @base is an id: ID_NAME_LEN characters */
        if (!base || strlen(base) != ID_NAME_LEN)
                return -EINVAL;
        /* Snapshot ids are new: a name already taken is not ours to reuse. */
        if (fstatat(set_fd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;

        r = volume_open(s->volume, &vfd, NULL);
        if (r < 0)
                return r;

        rd = malloc(sizeof *rd);
        if (!rd)
                return -ENOMEM;
        rd->set_fd = TAKE_FD(set_fd);
        rd->volume_fd = TAKE_FD(vfd);
        memcpy(rd->name, base, ID_NAME_LEN + 1);
        *ret = rd;
        return 0;
}

static int commit_one(lvss_storage_area *a, lvss_snapshot *s) {
        btrfs_ready *rd = s->commit_ready;
        enum btrfs_util_error e;
        int r;

        if (!rd) {
                /* ready_commit did not run (a caller of commit alone): the path work now */
                void *ready = NULL;
                r = ready_one(a, s, &ready);
                if (r < 0)
                        return r;
                s->commit_ready = rd = ready;
        }

        /* The snapshot: one ioctl, complete or absent. A name taken since ready_commit fails it
         * (EEXIST): the ioctl never replaces. */
        errno = 0;
        /* set when ready_one() returns >= 0 (clang 14 misses that negative_errno() < 0) */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        e = btrfs_util_create_snapshot_fd2(rd->volume_fd, rd->set_fd, rd->name,
                                           s->writable ? 0 : BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL);
        return btrfs_errno(e);
}

/* The flush: the snapshot ioctl's own (see the top); only the arguments are checked. */
static int btrfs_pre_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        if (!provider_data(p) || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->volume)
                        return lvss_provider_fail(ret_hr, -EINVAL);
        return 0;
}

/* ---- post_commit, abort, delete ------------------------------------------ */

static bool uuid_is_null(const uint8_t u[16]) {
        for (size_t i = 0; i < 16; i++)
                if (u[i])
                        return false;
        return true;
}

static int post_commit_one(btrfs_provider *bp, const lvss_snapshot *s) {
        _cleanup_(closep) int set_fd = -1, fd = -1, vfd = -1;
        struct btrfs_util_subvolume_info info, vinfo;
        enum btrfs_util_error e;
        const char *base;
        bool ro = false;
        int r;

        r = open_set_dir(bp, s->snapshot_path, &set_fd, &base, NULL);
        if (r < 0)
                return r;
        fd = openat(set_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        errno = 0;
        e = btrfs_util_is_subvolume_fd(fd);
        if (e == BTRFS_UTIL_OK) {
                errno = 0;
                e = btrfs_util_get_subvolume_read_only_fd(fd, &ro);
        }
        if (e != BTRFS_UTIL_OK) {
                log_error("%s: not a snapshot: %s", s->snapshot_path, btrfs_util_strerror(e));
                return btrfs_errno(e);
        }
        if (!ro && !s->writable) {
                log_error("%s: the snapshot is not read-only", s->snapshot_path);
                return -EIO;
        }

        /* Of this volume? Only when the volume has a UUID to compare with
         * (a top-level subvolume made by an old mkfs has none). */
        vfd = open(s->volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (vfd < 0)
                return -errno;
        errno = 0;
        e = btrfs_util_subvolume_info_fd(vfd, 0, &vinfo);
        if (e == BTRFS_UTIL_OK) {
                errno = 0;
                e = btrfs_util_subvolume_info_fd(fd, 0, &info);
        }
        if (e != BTRFS_UTIL_OK) {
                log_error("%s: cannot read the subvolume information: %s", s->snapshot_path, btrfs_util_strerror(e));
                return btrfs_errno(e);
        }
        if (!uuid_is_null(vinfo.uuid) && memcmp(vinfo.uuid, info.parent_uuid, sizeof info.parent_uuid) != 0) {
                log_error("%s: not a snapshot of %s", s->snapshot_path, s->volume);
                return -EIO;
        }
        return 0;
}

static int btrfs_post_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        btrfs_provider *bp = provider_data(p);

        if (!bp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->volume || !snaps[i]->snapshot_path)
                        return lvss_provider_fail(ret_hr, -EINVAL);

        for (size_t i = 0; i < n; i++) {
                int r = post_commit_one(bp, snaps[i]);
                if (r < 0) {
                        log_error("%s: snapshot check failed: %s", snaps[i]->snapshot_path, strerror(-r));
                        return lvss_provider_fail(ret_hr, r);
                }
        }
        return 0;
}

/* After PostSnapshot (issue 9 part 2): a snapshot left writable for
 * auto-recovery becomes read-only. Idempotent; a snapshot already gone
 * (aborted) is success. */
static int finalize_one(btrfs_provider *bp, const lvss_snapshot *s) {
        _cleanup_(closep) int set_fd = -1, fd = -1;
        enum btrfs_util_error e;
        const char *base;
        int r;

        r = open_set_dir(bp, s->snapshot_path, &set_fd, &base, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        /* set when open_set_dir() returns >= 0 (clang 14 misses that negative_errno() < 0) */
        /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage) */
        fd = openat(set_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        errno = 0;
        e = btrfs_util_is_subvolume_fd(fd);
        if (e == BTRFS_UTIL_OK) {
                errno = 0;
                e = btrfs_util_set_subvolume_read_only_fd(fd, true);
        }
        if (e != BTRFS_UTIL_OK) {
                log_error("%s: cannot make the snapshot read-only: %s", s->snapshot_path, btrfs_util_strerror(e));
                return btrfs_errno(e);
        }
        return 0;
}

static int btrfs_finalize(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        btrfs_provider *bp = provider_data(p);
        int r = 0;

        if (!bp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->snapshot_path)
                        return lvss_provider_fail(ret_hr, -EINVAL);

        /* Every snapshot, even after one failed: none stays writable that can be helped. */
        for (size_t i = 0; i < n; i++) {
                int k;

                if (!snaps[i]->writable)
                        continue;
                k = finalize_one(bp, snaps[i]);
                if (k < 0 && r >= 0)
                        r = k;
        }
        return r < 0 ? lvss_provider_fail(ret_hr, r) : 0;
}

/* Deletes the snapshot at @path, then its set directory when empty. Refuses
 * (-EPERM) what this provider does not make; a missing path is success. */
static int remove_snapshot_path(lvss_storage_area *a, const char *path) {
        btrfs_provider *bp = (btrfs_provider *) a;
        _cleanup_(closep) int set_fd = -1, fd = -1;
        _cleanup_(freep) char *set_dir = NULL;
        enum btrfs_util_error e;
        const char *base;
        fs_id fs;
        struct stat st;
        int r;

        r = open_set_dir(bp, path, &set_fd, &base, &set_dir);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;

        /* set when open_set_dir() returns >= 0 (clang 14 misses that negative_errno() < 0) */
        /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage) */
        if (fstatat(set_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return -errno;
                goto set_dir;
        }
        if (!S_ISDIR(st.st_mode))
                return -EPERM;
        fd = openat(set_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;

        /* A subvolume of the set directory's own file system, nothing else
         * (a plain directory, another file system mounted there). */
        errno = 0;
        e = btrfs_util_is_subvolume_fd(fd);
        if (e == BTRFS_UTIL_ERROR_NOT_BTRFS || e == BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
                return -EPERM;
        if (e != BTRFS_UTIL_OK)
                return btrfs_errno(e);
        r = fs_id_of(set_fd, &fs);
        if (r < 0)
                return r == -EMEDIUMTYPE ? -EPERM : r;
        r = fd_on_fs(fd, &fs);
        if (r < 0)
                return r;
        if (r == 0)
                return -EPERM;
        closep(&fd);

        errno = 0;
        e = btrfs_util_delete_subvolume_fd(set_fd, base, 0);
        if (e != BTRFS_UTIL_OK) {
                r = btrfs_errno(e);
                if (r != -ENOENT)
                        return r;
        }

set_dir:
        /* The set directory goes with its last snapshot. */
        if (rmdir(set_dir) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
                return -errno;
        return 0;
}

static const lvss_provider_ops btrfs_ops = {
        .name = "btrfs",
        /* LVSS_PROVIDER_BTRFS_ID (an extern object cannot initialise a static table; test-btrfs checks they agree) */
        .id = { .bytes = { 0x5d, 0x3c, 0x3a, 0x8e, 0x2f, 0x5b, 0x4c, 0x1e,
                           0x9a, 0x57, 0x6c, 0x0f, 0x3b, 0x1d, 0x2e, 0x02 } },
        .type = "system",
        .version = "0.1",
        .is_volume_supported = btrfs_is_volume_supported,
        .begin_prepare = btrfs_begin_prepare,
        .end_prepare = btrfs_end_prepare,
        .ready_commit = lvss_storage_area_ready_commit,
        .release_commit = lvss_storage_area_release_commit,
        .pre_commit = btrfs_pre_commit,
        .commit = lvss_storage_area_commit,
        .post_commit = btrfs_post_commit,
        .finalize = btrfs_finalize,
        .abort = lvss_storage_area_abort,
        .delete_snapshot = lvss_storage_area_delete_snapshot,
        .free = lvss_storage_area_free,
};

int lvss_provider_btrfs_new(const char *storage_dir, lvss_provider **ret) {
        /* abort_unprepared stays false: without a path, begin_prepare made nothing */
        int r = lvss_storage_area_provider_new(&btrfs_ops, storage_dir, sizeof(btrfs_provider), remove_snapshot_path,
                                               ret);
        if (r < 0)
                return r;
        lvss_storage_area *a = lvss_storage_area_of(*ret);
        a->ready_one = ready_one;
        a->commit_one = commit_one;
        a->ready_free = ready_free;
        return 0;
}

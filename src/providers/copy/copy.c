/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The copy provider: a snapshot of any directory, made by copying it.
 *
 * Layout. Every snapshot lives at @storage_dir/<set id>/<snapshot id> (ids in
 * the 36-character form, no braces). The storage directory is created 0700
 * when missing: the copies keep the owners and modes of the originals, so
 * who may look into the storage area is the administrator's decision.
 *
 * Volumes. A volume is an absolute path to a directory that neither contains
 * the storage directory nor lies inside it (compared as canonical paths and,
 * to see through bind mounts, by walking ".." from one to the other). A
 * volume containing the storage directory would copy its own copies. Like the
 * block-level providers the copy stays on the volume's file system: a mount
 * point inside the volume becomes an empty directory.
 *
 * begin_prepare chooses the paths, creates the set directory and estimates
 * the space. When the volume and the storage area are on the same file
 * system and a FICLONE probe inside the storage area works, the copy will be
 * reflinks (metadata only) and the estimate is skipped. Otherwise the volume
 * is walked once, summing st_blocks (metadata only, no data read; it stops as
 * soon as the sum passes the free space), and the set is refused with
 * VSS_E_INSUFFICIENT_STORAGE when the volumes together need more than
 * statvfs says is available to unprivileged users (f_bavail: snapshots do
 * not eat the blocks reserved for root). Hard links count once per name,
 * as they are copied.
 *
 * commit runs in a forked child inside the hold window and may be killed at
 * any instant. It copies into "<snapshot id>.partial" and renames that to
 * "<snapshot id>" (RENAME_NOREPLACE) only once the whole tree is there, so a
 * path that looks complete is complete; abort and delete remove both names.
 * Its path work is done before the freeze window (issue 11 §5): ready_commit,
 * which the commit child runs before it waits for "go", opens the set
 * directory and the volume and checks the name is free; pre_commit's syncfs
 * and commit then work on those descriptors. The copy itself stays inside
 * the window: it is the snapshot.
 * Walking is relative (openat/fdopendir, never following symlinks), so path
 * length never matters; depth is bounded by the open file limit (three
 * descriptors per level). Per entry: directories (owner, mode, mtime; made
 * 0700 while being filled), regular files (FICLONE, else copy_file_range,
 * else pread/pwrite; for a sparse file only its data segments, found with
 * SEEK_DATA/SEEK_HOLE), symlinks (readlink + symlinkat); sockets,
 * fifos and devices are skipped. Owners are copied when allowed (as root).
 * Hard links become separate files; extended attributes and ACLs are not
 * copied. Entries that vanish while being copied are skipped: processes
 * outside the writers are not frozen.
 *
 * Storage limits (issue 12 §2, lvssd.conf [Volume PATH] MaxSize=). Each
 * snapshot has a note beside it, ".<snapshot id>.volume" in its set
 * directory, naming the volume it copies, so the copies of one volume can be
 * found without the catalog (a step runs in a forked worker). For a volume
 * with a limit, begin_prepare adds up the blocks of that volume's copies and
 * of the volume itself (a reflink copy counts whole: its blocks are shared
 * only until the volume changes) and refuses the set with
 * VSS_E_INSUFFICIENT_STORAGE when the sum would pass the limit, before
 * anything is frozen or made. A limit in percent is of the size of the file
 * system holding the storage area. lvssd then deletes the volume's oldest
 * copies no session uses, as far as the new copy needs (its size is
 * lvss_provider_copy_tree_bytes() of the volume, the same walk as here), and
 * calls begin_prepare once more (coordinator/admin.c, admin_make_room()).
 *
 * post_commit (finalize for an auto-recovery copy) makes the tree read-only
 * (immutable, bottom-up so a directory is done after its contents; see
 * make_read_only()) and calls syncfs on the storage area, so a snapshot the
 * coordinator then records as "created" is on disk.
 */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "basic/fs-util.h"
#include "basic/util.h"
#include "providers/provider.h"
#include "providers/storage-area.h"

#define log_error(...) lvss_storage_area_log("copy", __VA_ARGS__)

#define PARTIAL_SUFFIX ".partial"
#define VOLUME_SUFFIX ".volume" /* the note ".<snapshot id>.volume" naming a snapshot's volume (storage limits) */
#define WALK_MAX_UP 4096                     /* ".." steps before giving up: a guard, loops cannot happen */
#define RW_BUFFER_SIZE ((size_t) 128 * 1024) /* pread/pwrite fallback */
#define CFR_CHUNK ((uint64_t) 1 << 30)       /* one copy_file_range call */
#define SYMLINK_MAX ((size_t) 64 * 1024)

typedef struct copy_limit {
        char *volume; /* canonical when it existed at lvss_provider_copy_set_limit() */
        uint64_t max_bytes;
        unsigned max_percent;
} copy_limit;

typedef struct copy_provider {
        lvss_storage_area area; /* first: the storage-area base (storage-area.h) */
        int reflink;            /* -1 not probed yet, 0 no, 1 FICLONE works inside the storage area */
        copy_limit *limits;     /* issue 12 §2: per volume */
        size_t n_limits;
} copy_provider;

typedef struct copy_context {
        const char *volume; /* for messages */
        dev_t dev;          /* the volume's file system: the copy does not leave it */
        dev_t storage_dev;
        ino_t storage_ino;
        bool try_clone;
        bool try_copy_file_range;
        uint8_t *buffer; /* RW_BUFFER_SIZE, allocated on first use */
} copy_context;

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
        *d = NULL;
}

static copy_provider *provider_data(lvss_provider *p) {
        return p ? p->data : NULL;
}

static bool dot_or_dot_dot(const char *name) {
        return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

static bool stat_same(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A DIR over a duplicate of @fd (which stays the caller's). */
static DIR *opendir_dup(int fd) {
        int k;
        DIR *d;

        k = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (k < 0)
                return NULL;
        d = fdopendir(k);
        if (!d) {
                int saved = errno;
                close(k);
                errno = saved;
        }
        return d;
}

/* The next entry that is not "." or ".."; NULL with errno 0 at the end. */
static struct dirent *readdir_no_dot(DIR *d) {
        struct dirent *de;

        do {
                errno = 0;
                de = readdir(d);
        } while (de && dot_or_dot_dot(de->d_name));
        return de;
}

/* Is @target the directory @fd or one of its ancestors? Walks "..", so bind
 * mounts and symlinks in the paths hide nothing. 1 yes, 0 no. */
static int dir_is_at_or_below(int fd, const struct stat *target) {
        _cleanup_(closep) int cur = -1;

        cur = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;

        for (unsigned i = 0; i < WALK_MAX_UP; i++) {
                _cleanup_(closep) int up = -1;
                struct stat st, st_up;

                if (fstat(cur, &st) < 0)
                        return -errno;
                if (stat_same(&st, target))
                        return 1;

                up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (up < 0)
                        return -errno;
                if (fstat(up, &st_up) < 0)
                        return -errno;
                if (stat_same(&st_up, &st))
                        return 0; /* reached "/" */
                closep(&cur);
                cur = TAKE_FD(up);
        }
        return -ELOOP;
}

/* Owner (when allowed), mode and times of @st onto the open @fd. */
static int copy_attributes_fd(int fd, const struct stat *st) {
        const struct timespec ts[2] = { st->st_atim, st->st_mtim };

        /* Before fchmod: a chown clears the set-id bits. Only root may give
         * files away; anyone else keeps them as their own. */
        if (fchown(fd, st->st_uid, st->st_gid) < 0 && errno != EPERM && errno != EINVAL)
                return -errno;
        if (fchmod(fd, st->st_mode & 07777) < 0)
                return -errno;
        if (futimens(fd, ts) < 0)
                return -errno;
        return 0;
}

/* ---- volumes ------------------------------------------------------------- */

/* 0 when @volume may be snapshotted into @cp's storage area, else a
 * negative errno and, when given, *@ret_why says why (static text). */
static int volume_check(copy_provider *cp, const char *volume, const char **ret_why) {
        _cleanup_(freep) char *canon = NULL;
        _cleanup_(closep) int vfd = -1, sfd = -1;
        const char *why = NULL;
        struct stat vst, sst;
        int r;

        if (!cp || !volume || volume[0] != '/') {
                why = "not an absolute path";
                r = -EINVAL;
                goto out;
        }

        canon = realpath(volume, NULL);
        if (!canon) {
                r = -errno;
                goto out;
        }
        vfd = open(canon, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (vfd < 0 || fstat(vfd, &vst) < 0) {
                r = -errno;
                goto out;
        }

        sfd = open(cp->area.storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0 || fstat(sfd, &sst) < 0) {
                why = "the storage area is not accessible";
                r = -errno;
                goto out;
        }

        /* The paths first, then the directories themselves (bind mounts). */
        r = path_is_under(canon, cp->area.storage) ? 1 : dir_is_at_or_below(vfd, &sst);
        if (r > 0) {
                why = "inside the storage area";
                r = -EINVAL;
                goto out;
        }
        if (r == 0)
                r = path_is_under(cp->area.storage, canon) ? 1 : dir_is_at_or_below(sfd, &vst);
        if (r > 0) {
                why = "contains the storage area, the copy would copy itself";
                r = -EINVAL;
        }

out:
        if (ret_why)
                *ret_why = why ?: (r < 0 ? strerror(-r) : NULL);
        return r;
}

static bool copy_is_volume_supported(lvss_provider *p, const char *volume) {
        return volume_check(provider_data(p), volume, NULL) == 0;
}

/* ---- removal ------------------------------------------------------------- */

/* rm -rf of @name in @parent_fd. The immutable attribute is cleared and
 * directories are made u+rwx first, so that a finished (read-only) copy can
 * go, also one made read-only by its modes when lvssd is not root. Never
 * leaves the file system @dev: something mounted inside a snapshot is
 * refused (-EBUSY), not emptied. A missing @name is success. */
static int remove_at(int parent_fd, const char *name, dev_t dev) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_(closep) int fd = -1;
        struct dirent *de;
        struct stat st;
        int r = 0;

        if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(parent_fd, name, 0) >= 0 || errno == ENOENT)
                        return 0;
                /* An immutable file (a finished copy) first loses the attribute. */
                if (errno != EPERM || lvss_clear_immutable_at(parent_fd, name) < 0)
                        return -EPERM;
                if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        if (st.st_dev != dev)
                return -EBUSY;
        r = lvss_clear_immutable_at(parent_fd, name);
        if (r < 0)
                return r;

        if ((st.st_mode & 0700) != 0700 && fchmodat(parent_fd, name, (st.st_mode & 07777) | 0700, 0) < 0)
                return -errno;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = opendir_dup(fd);
        if (!d)
                return -errno;

        while ((de = readdir_no_dot(d))) {
                int k = remove_at(fd, de->d_name, dev);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (errno != 0 && r == 0)
                r = -errno;
        if (r < 0)
                return r;

        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Removes @path and @path.partial, then the set directory when empty.
 * Refuses (-EPERM) a path that is not storage/<set>/<name>; a missing path
 * is success. */
static int remove_snapshot_path(lvss_storage_area *a, const char *path) {
        copy_provider *cp = (copy_provider *) a;
        _cleanup_(freep) char *parent = NULL, *canon = NULL, *partial = NULL;
        _cleanup_(closep) int pfd = -1;
        const char *base = NULL;
        struct stat st;
        int r, k;

        if (!cp || !path || path[0] != '/')
                return -EINVAL;
        base = strrchr(path, '/') + 1;
        if (*base == 0 || dot_or_dot_dot(base))
                return -EINVAL;

        parent = strndup(path, (size_t) (base - path));
        if (!parent)
                return -ENOMEM;
        canon = realpath(parent, NULL);
        if (!canon)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        if (!lvss_storage_area_is_set_dir(&cp->area, canon))
                return -EPERM;

        pfd = open(canon, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (fstat(pfd, &st) < 0)
                return -errno;

        if (asprintf(&partial, "%s" PARTIAL_SUFFIX, base) < 0) {
                partial = NULL;
                return -ENOMEM;
        }
        r = remove_at(pfd, base, st.st_dev);
        k = remove_at(pfd, partial, st.st_dev);
        if (r == 0)
                r = k;
        if (r < 0)
                return r;
        /* the note naming its volume goes last: a copy without it would escape its volume's limit */
        free(partial);
        if (asprintf(&partial, ".%s" VOLUME_SUFFIX, base) < 0) {
                partial = NULL;
                return -ENOMEM;
        }
        if (unlinkat(pfd, partial, 0) < 0 && errno != ENOENT)
                return -errno;

        /* The set directory goes with its last snapshot. */
        if (rmdir(canon) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
                return -errno;
        return 0;
}

/* ---- begin_prepare: paths and space ------------------------------------- */

/* Does FICLONE work inside the storage area? Probed once with two unnamed
 * temporary files; anything that fails means no. */
static bool probe_reflink(copy_provider *cp, int storage_fd) {
        static const char block[4096] = { 'l', 'v', 's', 's' };
        _cleanup_(closep) int a = -1, b = -1;

        if (cp->reflink >= 0)
                return cp->reflink > 0;

        cp->reflink = 0;
        a = openat(storage_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        b = openat(storage_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (a < 0 || b < 0)
                return false;
        if (pwrite(a, block, sizeof block, 0) != (ssize_t) sizeof block)
                return false;
        if (ioctl(b, FICLONE, a) < 0)
                return false;
        cp->reflink = 1;
        return true;
}

/* Adds the blocks used under @fd (same file system only) to *@sum; stops and
 * returns 1 as soon as the sum passes @limit. Metadata only. */
static int usage_walk(int fd, dev_t dev, uint64_t limit, uint64_t *sum) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir_dup(fd);
        if (!d)
                return -errno;

        while ((de = readdir_no_dot(d))) {
                _cleanup_(closep) int sub = -1;
                struct stat st;
                int r;

                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                *sum += (uint64_t) st.st_blocks * 512;
                if (*sum > limit)
                        return 1;
                if (!S_ISDIR(st.st_mode) || st.st_dev != dev)
                        continue;

                sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue;
                        return -errno;
                }
                r = usage_walk(sub, dev, limit, sum);
                if (r != 0)
                        return r;
        }
        return errno != 0 ? -errno : 0;
}

/* Removes the volume notes of @snaps, then their set directories when empty (begin_prepare's undo). */
static void remove_empty_set_dirs(int storage_fd, lvss_snapshot *const *snaps, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];
                char note[2 * VSS_ID_STRING_MAX + 1 + sizeof VOLUME_SUFFIX];

                lvss_provider_id_name(&snaps[i]->set_id, set);
                lvss_provider_id_name(&snaps[i]->snapshot_id, snap);
                snprintf(note, sizeof note, "%s/.%s" VOLUME_SUFFIX, set, snap);
                (void) unlinkat(storage_fd, note, 0);
        }
        for (size_t i = 0; i < n; i++) {
                char set[VSS_ID_STRING_MAX];

                lvss_provider_id_name(&snaps[i]->set_id, set);
                (void) unlinkat(storage_fd, set, AT_REMOVEDIR);
        }
}

/* ---- storage limits (issue 12 §2) ----------------------------------------- */

static const copy_limit *limit_of(const copy_provider *cp, const char *volume) {
        for (size_t i = 0; i < cp->n_limits; i++)
                if (streq_ptr(cp->limits[i].volume, volume))
                        return &cp->limits[i];
        return NULL;
}

/* The volume a snapshot's note names, into @buf; -ENOENT without a note. */
static int read_note(int set_fd, const char *note, char *buf, size_t size) {
        _cleanup_(closep) int fd = -1;
        ssize_t k;

        fd = openat(set_fd, note, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        k = read(fd, buf, size - 1);
        if (k < 0)
                return -errno;
        buf[k] = 0;
        return 0;
}

/* Adds the blocks of every copy of @volume in the storage area (finished or
 * .partial) to *@sum. Metadata only. */
static int volume_usage(int storage_fd, const char *volume, uint64_t *sum) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir_dup(storage_fd);
        if (!d)
                return -errno;
        while ((de = readdir_no_dot(d))) {
                _cleanup_(closedirp) DIR *sd = NULL;
                _cleanup_(closep) int set_fd = -1;
                struct dirent *ne;

                set_fd = openat(storage_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (set_fd < 0)
                        continue; /* not a set directory */
                sd = opendir_dup(set_fd);
                if (!sd)
                        return -errno;
                while ((ne = readdir_no_dot(sd))) {
                        size_t len = strlen(ne->d_name);
                        char named[PATH_MAX], snap[NAME_MAX + 1];

                        if (ne->d_name[0] != '.' || len <= 1 + strlen(VOLUME_SUFFIX) ||
                            strcmp(ne->d_name + len - strlen(VOLUME_SUFFIX), VOLUME_SUFFIX) != 0)
                                continue;
                        if (read_note(set_fd, ne->d_name, named, sizeof named) < 0 || !streq_ptr(named, volume))
                                continue;
                        len -= 1 + strlen(VOLUME_SUFFIX);
                        for (int partial = 0; partial < 2; partial++) {
                                _cleanup_(closep) int fd = -1;
                                struct stat st;
                                int r;

                                snprintf(snap, sizeof snap, "%.*s%s", (int) len, ne->d_name + 1,
                                         partial ? PARTIAL_SUFFIX : "");
                                fd = openat(set_fd, snap, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                                if (fd < 0 || fstat(fd, &st) < 0)
                                        continue;
                                *sum += (uint64_t) st.st_blocks * 512;
                                r = usage_walk(fd, st.st_dev, UINT64_MAX, sum);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        return 0;
}

static int limit_bytes(const copy_limit *l, int storage_fd, uint64_t *ret);

/* Refuses (-ENOSPC, said in the log) a copy of @s's volume that would take
 * its copies past the volume's limit; @need is what the copy takes. */
static int check_limit(copy_provider *cp, int storage_fd, const lvss_snapshot *s, uint64_t need) {
        const copy_limit *l = limit_of(cp, s->volume);
        uint64_t max = 0, used = 0;
        int r;

        if (!l || (!l->max_bytes && !l->max_percent))
                return 0;
        r = limit_bytes(l, storage_fd, &max);
        if (r < 0)
                return r;
        r = volume_usage(storage_fd, s->volume, &used);
        if (r < 0) {
                log_error("%s: cannot add up the space its shadow copies use: %s", s->volume, strerror(-r));
                return r;
        }
        if (used > max || need > max - used) {
                log_error("%s: the shadow storage limit would be exceeded: maximum %" PRIu64 " bytes, its shadow "
                          "copies use %" PRIu64 ", this one needs about %" PRIu64 " (vssadmin delete shadows "
                          "--for, or a larger MaxSize=)",
                          s->volume, max, used, need);
                return -ENOSPC;
        }
        return 0;
}

/* The limit of @l in bytes (a percentage of the storage area's file system); 0: none. */
static int limit_bytes(const copy_limit *l, int storage_fd, uint64_t *ret) {
        struct statvfs sv;

        if (!l || (!l->max_bytes && !l->max_percent)) {
                *ret = 0;
                return 0;
        }
        if (l->max_bytes) {
                *ret = l->max_bytes;
                return 0;
        }
        if (fstatvfs(storage_fd, &sv) < 0)
                return -errno;
        *ret = (uint64_t) sv.f_blocks * (uint64_t) sv.f_frsize / 100 * l->max_percent;
        return 0;
}

int lvss_provider_copy_usage(lvss_provider *p, const char *volume, uint64_t *ret_used, uint64_t *ret_max) {
        copy_provider *cp = provider_data(p);
        _cleanup_(closep) int storage_fd = -1;
        _cleanup_(freep) char *canon = NULL;
        uint64_t used = 0, max = 0;
        int r;

        if (!cp || !streq_ptr(p->ops->name, "copy") || !volume || !ret_used || !ret_max)
                return -EINVAL;
        canon = realpath(volume, NULL);
        storage_fd = open(cp->area.storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (storage_fd < 0)
                return -errno;
        r = limit_bytes(limit_of(cp, canon ? canon : volume), storage_fd, &max);
        if (r >= 0)
                r = volume_usage(storage_fd, canon ? canon : volume, &used);
        if (r < 0)
                return r;
        *ret_used = used;
        *ret_max = max;
        return 0;
}

int lvss_provider_copy_tree_bytes(const char *path, uint64_t *ret) {
        _cleanup_(closep) int fd = -1;
        struct stat st;
        uint64_t sum;
        int r;

        if (!path || !ret)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        sum = (uint64_t) st.st_blocks * 512;
        r = usage_walk(fd, st.st_dev, UINT64_MAX, &sum);
        if (r < 0)
                return r;
        *ret = sum;
        return 0;
}

int lvss_provider_copy_limit_at(lvss_provider *p, size_t i, const char **ret_volume, uint64_t *ret_max_bytes,
                                unsigned *ret_max_percent) {
        copy_provider *cp = provider_data(p);

        if (!cp || !streq_ptr(p->ops->name, "copy") || !ret_volume || !ret_max_bytes || !ret_max_percent)
                return -EINVAL;
        if (i >= cp->n_limits)
                return -ENOENT;
        *ret_volume = cp->limits[i].volume;
        *ret_max_bytes = cp->limits[i].max_bytes;
        *ret_max_percent = cp->limits[i].max_percent;
        return 0;
}

int lvss_provider_copy_set_limit(lvss_provider *p, const char *volume, uint64_t max_bytes, unsigned max_percent) {
        copy_provider *cp = provider_data(p);
        _cleanup_(freep) char *canon = NULL;
        copy_limit *l;

        if (!cp || !streq_ptr(p->ops->name, "copy") || !volume || volume[0] != '/' || max_percent > 100)
                return -EINVAL;
        canon = realpath(volume, NULL);
        if (!canon) {
                canon = strdup(volume); /* not there yet: compared as written */
                if (!canon)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < cp->n_limits; i++)
                if (streq_ptr(cp->limits[i].volume, canon)) {
                        cp->limits[i].max_bytes = max_bytes;
                        cp->limits[i].max_percent = max_percent;
                        return 0;
                }
        l = reallocarray(cp->limits, cp->n_limits + 1, sizeof *l);
        if (!l)
                return -ENOMEM;
        cp->limits = l;
        cp->limits[cp->n_limits++] = (copy_limit) {
                .volume = TAKE_PTR(canon),
                .max_bytes = max_bytes,
                .max_percent = max_percent,
        };
        return 0;
}

static int prepare_paths(copy_provider *cp, int storage_fd, lvss_snapshot *s) {
        _cleanup_(closep) int set_fd = -1;
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], partial[VSS_ID_STRING_MAX + sizeof PARTIAL_SUFFIX];
        struct stat st;
        char *path;

        lvss_provider_id_name(&s->set_id, set);
        lvss_provider_id_name(&s->snapshot_id, snap);
        snprintf(partial, sizeof partial, "%s" PARTIAL_SUFFIX, snap);

        if (mkdirat(storage_fd, set, 0755) < 0 && errno != EEXIST)
                return -errno;
        set_fd = openat(storage_fd, set, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (set_fd < 0)
                return -errno;

        char note[VSS_ID_STRING_MAX + 1 + sizeof VOLUME_SUFFIX];
        snprintf(note, sizeof note, ".%s" VOLUME_SUFFIX, snap);

        /* Snapshot ids are new: something already there is not ours to reuse. */
        const char *const names[] = { snap, partial, note };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                if (fstatat(set_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return -EEXIST;
                if (errno != ENOENT)
                        return -errno;
        }

        /* The note naming the volume (storage limits): written before the copy can exist. */
        {
                _cleanup_(closep) int fd = -1;
                size_t len = strlen(s->volume);

                fd = openat(set_fd, note, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return -errno;
                if (write(fd, s->volume, len) != (ssize_t) len)
                        return errno > 0 ? -errno : -EIO;
        }

        if (asprintf(&path, "%s/%s/%s", cp->area.storage, set, snap) < 0)
                return -ENOMEM;
        free(s->snapshot_path);
        s->snapshot_path = path;
        return 0;
}

static int copy_begin_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        copy_provider *cp = provider_data(p);
        _cleanup_(closep) int storage_fd = -1;
        struct statvfs sv;
        struct stat sst;
        uint64_t avail, need = 0;
        int r;

        if (!cp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->volume)
                        return lvss_provider_fail(ret_hr, -EINVAL);

        r = lvss_mkdir_parents(cp->area.storage, 0700); /* in case it went since lvss_provider_copy_new() */
        if (r < 0)
                goto fail_log;

        for (size_t i = 0; i < n; i++) {
                const char *why;

                r = volume_check(cp, snaps[i]->volume, &why);
                if (r < 0) {
                        log_error("%s: volume not supported: %s", snaps[i]->volume, why);
                        return lvss_provider_veto(ret_hr, r);
                }
                /* Files are copied one after the other: never one instant (issue 9 part 1). */
                snaps[i]->atomic = false;
                /* The tree can stay writable until finalize (issue 9 part 2). */
                snaps[i]->can_write = true;
        }
        storage_fd = open(cp->area.storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (storage_fd < 0 || fstat(storage_fd, &sst) < 0 || fstatvfs(storage_fd, &sv) < 0) {
                r = -errno;
                goto fail_log;
        }
        avail = (uint64_t) sv.f_bavail * (uint64_t) sv.f_frsize;

        for (size_t i = 0; i < n; i++) {
                r = prepare_paths(cp, storage_fd, snaps[i]);
                if (r < 0) {
                        log_error("%s: cannot prepare the snapshot directory: %s", snaps[i]->volume, strerror(-r));
                        goto fail_undo;
                }
        }

        /* The space estimate (see the top of this file). */
        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int vfd = -1;
                struct stat vst;

                vfd = open(snaps[i]->volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (vfd < 0 || fstat(vfd, &vst) < 0) {
                        r = -errno;
                        log_error("%s: %s", snaps[i]->volume, strerror(-r));
                        goto fail_undo;
                }
                if (limit_of(cp, snaps[i]->volume)) {
                        /* issue 12 §2: this volume's copies have a limit; its whole size counts */
                        uint64_t one = (uint64_t) vst.st_blocks * 512;

                        r = usage_walk(vfd, vst.st_dev, UINT64_MAX, &one);
                        if (r >= 0)
                                r = check_limit(cp, storage_fd, snaps[i], one);
                        if (r < 0)
                                goto fail_undo;
                }
                if (vst.st_dev == sst.st_dev && probe_reflink(cp, storage_fd))
                        continue;

                need += (uint64_t) vst.st_blocks * 512;
                r = need > avail ? 1 : usage_walk(vfd, vst.st_dev, avail, &need);
                if (r < 0) {
                        log_error("%s: cannot estimate the space needed: %s", snaps[i]->volume, strerror(-r));
                        goto fail_undo;
                }
                if (r > 0) {
                        log_error("%s: not enough space in %s (%" PRIu64 " bytes available)", snaps[i]->volume,
                                  cp->area.storage, avail);
                        r = -ENOSPC;
                        goto fail_undo;
                }
        }
        return 0;

fail_undo:
        remove_empty_set_dirs(storage_fd, snaps, n);
        return lvss_provider_fail(ret_hr, r);
fail_log:
        log_error("%s: %s", cp->area.storage, strerror(-r));
        return lvss_provider_fail(ret_hr, r);
}

static int copy_end_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        copy_provider *cp = provider_data(p);

        if (!cp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++) {
                const char *why;
                int r;

                if (!snaps[i] || !snaps[i]->volume || !snaps[i]->snapshot_path)
                        return lvss_provider_fail(ret_hr, -EINVAL);
                r = volume_check(cp, snaps[i]->volume, &why);
                if (r < 0) {
                        log_error("%s: volume not supported: %s", snaps[i]->volume, why);
                        return lvss_provider_veto(ret_hr, r);
                }
        }
        return 0;
}

/* ---- pre_commit and commit (in the child) -------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off) {
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
                off += k;
        }
        return 0;
}

/*
 * Copies @len bytes (UINT64_MAX: up to the end of file) at @off of @in to
 * the same offset of @out: copy_file_range, else pread/pwrite. @whole_file:
 * the range is the whole of a file that claims data, so a copy_file_range
 * that gives nothing at once means a pseudo file (read it instead), not an
 * empty one.
 */
static int copy_range(copy_context *ctx, int in, int out, off_t off, uint64_t len, bool whole_file) {
        uint64_t copied = 0;

        while (ctx->try_copy_file_range && copied < len) {
                off_t a = off + (off_t) copied, b = a;
                ssize_t k = copy_file_range(in, &a, out, &b, len - copied < CFR_CHUNK ? len - copied : CFR_CHUNK, 0);

                if (k > 0) {
                        copied += (uint64_t) k;
                        continue;
                }
                if (k == 0) {
                        if (copied == 0 && whole_file)
                                break;
                        return 0; /* end of file (it may have shrunk meanwhile) */
                }
                if (errno == EINTR)
                        continue;
                if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                        return -errno;
                /* This pair of files (EINVAL) or this file system cannot:
                 * read/write carries on from where it got. */
                if (errno != EINVAL)
                        ctx->try_copy_file_range = false;
                break;
        }

        if (copied < len && !ctx->buffer) {
                ctx->buffer = malloc(RW_BUFFER_SIZE);
                if (!ctx->buffer)
                        return -ENOMEM;
        }
        while (copied < len) {
                ssize_t k = pread(in, ctx->buffer, len - copied < RW_BUFFER_SIZE ? len - copied : RW_BUFFER_SIZE,
                                  off + (off_t) copied);
                int r;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return 0;
                r = pwrite_all(out, ctx->buffer, (size_t) k, off + (off_t) copied);
                if (r < 0)
                        return r;
                copied += (uint64_t) k;
        }
        return 0;
}

/* A file with holes: only its data segments (SEEK_DATA/SEEK_HOLE) are
 * copied, so the copy takes the space the estimate counted. -EOPNOTSUPP
 * when the file system cannot say where the holes are. */
static int copy_sparse(copy_context *ctx, int in, int out) {
        struct stat st;
        off_t off = 0;

        for (;;) {
                off_t data, hole;
                int r;

                data = lseek(in, off, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                break; /* only a hole up to the end */
                        return errno == EINVAL && off == 0 ? -EOPNOTSUPP : -errno;
                }
                hole = lseek(in, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                if (hole <= data)
                        break; /* shrank under us */
                r = copy_range(ctx, in, out, data, (uint64_t) (hole - data), false);
                if (r < 0)
                        return r;
                off = hole;
        }

        /* The size as it is now: a trailing hole has no data segment. */
        if (fstat(in, &st) < 0 || ftruncate(out, st.st_size) < 0)
                return -errno;
        return 0;
}

static int copy_data(copy_context *ctx, int in, int out, const struct stat *st) {
        int r;

        if (st->st_size == 0)
                return 0;

        if (ctx->try_clone) {
                if (ioctl(out, FICLONE, in) >= 0)
                        return 0;
                /* The file system cannot: stop asking. Anything else (EINVAL
                 * for a file btrfs will not share, ...): copy this one. */
                if (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOTTY || errno == ENOSYS)
                        ctx->try_clone = false;
        }

        if ((uint64_t) st->st_blocks * 512 < (uint64_t) st->st_size) {
                r = copy_sparse(ctx, in, out);
                if (r != -EOPNOTSUPP)
                        return r;
        }
        return copy_range(ctx, in, out, 0, UINT64_MAX, true);
}

static int copy_regular(copy_context *ctx, int src_dir, int dst_dir, const char *name) {
        _cleanup_(closep) int in = -1, out = -1;
        struct stat st;
        int r, flags;

        /* O_NONBLOCK: if the entry was swapped for a fifo meanwhile, do not hang. */
        in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOATIME);
        if (in < 0 && errno == EPERM) /* O_NOATIME: only for the owner or root */
                in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (in < 0) {
                if (errno == ENOENT || errno == ELOOP)
                        return 0; /* gone, or no longer a file */
                return -errno;
        }
        if (fstat(in, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return 0;
        flags = fcntl(in, F_GETFL);
        if (flags < 0 || fcntl(in, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;

        out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return -errno;

        r = copy_data(ctx, in, out, &st);
        if (r < 0)
                return r;
        return copy_attributes_fd(out, &st);
}

static int copy_symlink(int src_dir, int dst_dir, const char *name, const struct stat *st) {
        _cleanup_(freep) char *target = NULL;
        const struct timespec ts[2] = { st->st_atim, st->st_mtim };
        size_t size = st->st_size > 0 ? (size_t) st->st_size + 1 : 256;

        for (;;) {
                ssize_t k;

                free(target);
                target = malloc(size);
                if (!target)
                        return -ENOMEM;
                k = readlinkat(src_dir, name, target, size);
                if (k < 0)
                        return errno == ENOENT || errno == EINVAL ? 0 : -errno; /* gone or replaced */
                if ((size_t) k < size) {
                        target[k] = 0;
                        break;
                }
                if (size >= SYMLINK_MAX)
                        return -ENAMETOOLONG;
                size *= 2;
        }

        if (symlinkat(target, dst_dir, name) < 0)
                return -errno;
        if (fchownat(dst_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM &&
            errno != EINVAL)
                return -errno;
        if (utimensat(dst_dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0 && errno != EOPNOTSUPP)
                return -errno;
        return 0;
}

static int copy_tree(copy_context *ctx, int src_dir, int dst_dir);

static int copy_directory(copy_context *ctx, int src_dir, int dst_dir, const char *name, const struct stat *st) {
        _cleanup_(closep) int src = -1, dst = -1;
        struct stat sst;
        int r;

        if (st->st_dev == ctx->storage_dev && st->st_ino == ctx->storage_ino)
                return 0; /* never copy the copies (volume_check refuses this already) */

        src = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (src < 0) {
                if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
                        return 0; /* gone, or no longer a directory */
                return -errno;
        }
        if (fstat(src, &sst) < 0)
                return -errno;

        /* 0700 while being filled, whatever the original's mode. */
        if (mkdirat(dst_dir, name, 0700) < 0)
                return -errno;
        dst = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dst < 0)
                return -errno;

        if (sst.st_dev == ctx->dev) { /* else a mount point: stays empty */
                r = copy_tree(ctx, src, dst);
                if (r < 0)
                        return r;
        }
        return copy_attributes_fd(dst, &sst);
}

/* Copies the entries of @src_dir into @dst_dir (which exists). */
static int copy_tree(copy_context *ctx, int src_dir, int dst_dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir_dup(src_dir);
        if (!d)
                return -errno;

        while ((de = readdir_no_dot(d))) {
                struct stat st;
                int r;

                if (fstatat(src_dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }

                if (S_ISDIR(st.st_mode))
                        r = copy_directory(ctx, src_dir, dst_dir, de->d_name, &st);
                else if (S_ISREG(st.st_mode))
                        r = copy_regular(ctx, src_dir, dst_dir, de->d_name);
                else if (S_ISLNK(st.st_mode))
                        r = copy_symlink(src_dir, dst_dir, de->d_name, &st);
                else
                        r = 0; /* sockets, fifos, devices */
                if (r < 0) {
                        log_error("%s: cannot copy '%s': %s", ctx->volume, de->d_name, strerror(-r));
                        return r;
                }
        }
        return errno != 0 ? -errno : 0;
}

/* Splits @path into its parent directory (opened, checked to be a set
 * directory inside the storage area) and its last component. */
static int open_set_dir(copy_provider *cp, const char *path, int *ret_fd, const char **ret_base) {
        _cleanup_(freep) char *parent = NULL, *canon = NULL;
        const char *base = NULL;
        int fd;

        if (!path || path[0] != '/')
                return -EINVAL;
        base = strrchr(path, '/') + 1;
        if (*base == 0 || dot_or_dot_dot(base))
                return -EINVAL;
        parent = strndup(path, (size_t) (base - path));
        if (!parent)
                return -ENOMEM;
        canon = realpath(parent, NULL);
        if (!canon)
                return negative_errno(); /* never 0: the callers use *ret_fd and *ret_base then */
        if (!lvss_storage_area_is_set_dir(&cp->area, canon))
                return -EPERM;

        fd = open(canon, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        *ret_base = base;
        return 0;
}

/*
 * Issue 11 §5: what commit needs of one snapshot, found and opened by
 * ready_commit before the commit child waits for "go": the set directory
 * (checked to be inside the storage area), the volume, what the copy must
 * not leave or enter (the volume's file system, the storage area), and the
 * snapshot's name checked free. Inside the freeze window commit then only
 * copies: no path is resolved there.
 */
typedef struct copy_ready {
        int set_fd;         /* the set directory */
        int src_fd;         /* the volume */
        struct stat vst;    /* the volume's root: its file system, and the attributes the copy gets */
        struct stat set_st; /* the set directory: its file system (a leftover .partial is removed on it only) */
        dev_t storage_dev;
        ino_t storage_ino;
        char *name;    /* the snapshot's name in the set directory */
        char *partial; /* name.partial, where the copy is made */
} copy_ready;

static void ready_free(void *ready) {
        copy_ready *rd = ready;

        if (!rd)
                return;
        closep(&rd->set_fd);
        closep(&rd->src_fd);
        free(rd->name);
        free(rd->partial);
        free(rd);
}

/* The path work of one snapshot's commit. *@ret owned: ready_free(). */
static int ready_one(lvss_storage_area *a, const lvss_snapshot *s, void **ret) {
        copy_provider *cp = (copy_provider *) a; /* the area is its first member */
        _cleanup_(closep) int set_fd = -1, src = -1, storage_fd = -1;
        copy_ready *rd;
        const char *base = NULL;
        struct stat vst, st, set_st;
        int r;

        r = open_set_dir(cp, s->snapshot_path, &set_fd, &base);
        if (r < 0)
                return r;
        src = open(s->volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0 || fstat(src, &vst) < 0)
                return -errno;
        storage_fd = open(cp->area.storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (storage_fd < 0 || fstat(storage_fd, &st) < 0)
                return -errno;
        if (fstat(set_fd, &set_st) < 0)
                return -errno;
        /* Snapshot ids are new: a name already taken is not ours to reuse. */
        if (fstatat(set_fd, base, &(struct stat) {}, AT_SYMLINK_NOFOLLOW) == 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;

        rd = calloc(1, sizeof *rd);
        if (!rd)
                return -ENOMEM;
        rd->set_fd = -1;
        rd->src_fd = -1;
        rd->name = strdup(base);
        if (!rd->name || asprintf(&rd->partial, "%s" PARTIAL_SUFFIX, base) < 0) {
                rd->partial = NULL;
                ready_free(rd);
                return -ENOMEM;
        }
        rd->set_fd = TAKE_FD(set_fd);
        rd->src_fd = TAKE_FD(src);
        rd->vst = vst;
        rd->set_st = set_st;
        rd->storage_dev = st.st_dev;
        rd->storage_ino = st.st_ino;
        *ret = rd;
        return 0;
}

/* The flush (syncfs of each volume's file system): on the volume ready_commit opened, where it
 * ran, so no path is resolved inside the freeze window. */
static int copy_pre_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        if (!provider_data(p) || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);

        for (size_t i = 0; i < n; i++) {
                const copy_ready *rd = snaps[i] ? snaps[i]->commit_ready : NULL;
                int r;

                if (!rd) {
                        r = lvss_storage_area_pre_commit(p, &snaps[i], 1, ret_hr);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (syncfs(rd->src_fd) < 0) {
                        r = -errno;
                        log_error("%s: cannot flush: %s", snaps[i]->volume, strerror(-r));
                        return lvss_provider_fail(ret_hr, r);
                }
        }
        return 0;
}

static int commit_one(lvss_storage_area *a, lvss_snapshot *s) {
        _cleanup_(closep) int dst = -1;
        _cleanup_(freep) uint8_t *buffer = NULL;
        copy_ready *rd = s->commit_ready;
        copy_context ctx = {
                .volume = s->volume,
                .try_clone = true,
                .try_copy_file_range = true,
        };
        int r;

        if (!rd) {
                /* ready_commit did not run (a caller of commit alone): the path work now */
                void *ready = NULL;
                r = ready_one(a, s, &ready);
                if (r < 0)
                        return r;
                s->commit_ready = rd = ready;
        }
        /* set when ready_one() returns >= 0 (clang 14 misses that negative_errno() < 0) */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        ctx.dev = rd->vst.st_dev;
        ctx.storage_dev = rd->storage_dev;
        ctx.storage_ino = rd->storage_ino;

        r = remove_at(rd->set_fd, rd->partial, rd->set_st.st_dev); /* left by an earlier, killed attempt */
        if (r < 0)
                return r;

        if (mkdirat(rd->set_fd, rd->partial, 0700) < 0)
                return -errno;
        dst = openat(rd->set_fd, rd->partial, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dst < 0)
                return -errno;

        r = copy_tree(&ctx, rd->src_fd, dst);
        buffer = ctx.buffer;
        if (r < 0)
                return r;
        r = copy_attributes_fd(dst, &rd->vst);
        if (r < 0)
                return r;

        /* The moment the snapshot becomes complete. */
        if (renameat2(rd->set_fd, rd->partial, rd->set_fd, rd->name, RENAME_NOREPLACE) < 0) {
                if (errno != EINVAL && errno != ENOSYS)
                        return -errno;
                /* No RENAME_NOREPLACE here; the name was checked free by ready_commit
                 * and nobody else writes into the set directory. */
                if (renameat(rd->set_fd, rd->partial, rd->set_fd, rd->name) < 0)
                        return -errno;
        }
        return 0;
}

/* ---- post_commit, abort, delete ------------------------------------------ */

/*
 * How a finished copy is made read-only (issue 9). The copy must keep every
 * mode of the volume: a restore copies the files back with their modes, and
 * an application whose files came back without write bits does not start.
 * So the copy is made immutable (FS_IMMUTABLE_FL), which refuses every
 * change, root's too, and leaves the modes as they were. Only where the
 * file system has no such attribute, or lvssd lacks CAP_LINUX_IMMUTABLE (an
 * lvssd of an unprivileged user), are the write bits taken away instead,
 * as a warning in the log says.
 */
typedef enum ro_way {
        RO_IMMUTABLE,
        RO_MODES,
} ro_way;

/* Makes @fd (a regular file or directory of the copy, mode @mode) read-only the @way way. */
static int read_only_fd(int fd, mode_t mode, ro_way way) {
        if (way == RO_IMMUTABLE)
                return lvss_set_immutable_fd(fd, true);
        if ((mode & 0222) && fchmod(fd, mode & 07777 & ~0222) < 0)
                return -errno;
        return 0;
}

/* Makes everything under @fd read-only, each directory after its contents.
 * Symlinks cannot change anyway; other special files are left alone. */
static int make_read_only(int fd, dev_t dev, ro_way way) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir_dup(fd);
        if (!d)
                return -errno;

        while ((de = readdir_no_dot(d))) {
                _cleanup_(closep) int sub = -1;
                struct stat st;
                int r;

                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
                        sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return -errno;
                        r = make_read_only(sub, dev, way);
                        if (r < 0)
                                return r;
                } else if (S_ISREG(st.st_mode)) {
                        sub = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                        if (sub < 0)
                                return -errno;
                } else
                        continue;
                r = read_only_fd(sub, st.st_mode, way);
                if (r < 0)
                        return r;
        }
        return errno != 0 ? -errno : 0;
}

/* Makes the tree of @s read-only (@read_only) or only flushes it (a writable
 * snapshot at post_commit, issue 9 part 2). @missing_ok: a tree already gone is success. */
static int tree_settle(copy_provider *cp, const lvss_snapshot *s, bool read_only, bool missing_ok) {
        _cleanup_(closep) int set_fd = -1, fd = -1;
        const char *base = NULL;
        struct stat st;
        ro_way way;
        int r;

        r = open_set_dir(cp, s->snapshot_path, &set_fd, &base);
        if (r == -ENOENT && missing_ok)
                return 0;
        if (r < 0)
                return r;
        /* set when open_set_dir() returns >= 0 (clang 14 misses that negative_errno() < 0) */
        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
        fd = openat(set_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && missing_ok)
                return 0;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!read_only)
                return syncfs(fd) < 0 ? -errno : 0;
        /* The way is chosen once per copy, at its root: all of it is immutable, or none. */
        way = RO_IMMUTABLE;
        r = lvss_is_immutable_fd(fd) ? 0 : lvss_set_immutable_fd(fd, true);
        if (r < 0) {
                if (r != -ENOTTY && r != -EOPNOTSUPP && r != -EPERM && r != -EINVAL)
                        return r;
                log_error("%s: cannot make the copy immutable (%s): its files lose their write bits instead, "
                          "and a restore from it gives them back without",
                          s->snapshot_path, strerror(-r));
                way = RO_MODES;
        }
        r = make_read_only(fd, st.st_dev, way);
        if (r < 0)
                return r;
        if (way == RO_MODES && fchmod(fd, st.st_mode & 07777 & ~0222) < 0)
                return -errno;
        if (syncfs(fd) < 0)
                return -errno;
        return 0;
}

static int copy_post_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        copy_provider *cp = provider_data(p);

        if (!cp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->snapshot_path)
                        return lvss_provider_fail(ret_hr, -EINVAL);

        for (size_t i = 0; i < n; i++) {
                int r = tree_settle(cp, snaps[i], !snaps[i]->writable, false);
                if (r < 0) {
                        log_error("%s: cannot make read-only: %s", snaps[i]->snapshot_path, strerror(-r));
                        return lvss_provider_fail(ret_hr, r);
                }
        }
        return 0;
}

/* After PostSnapshot (issue 9 part 2): the trees left writable become read-only,
 * with what writers added to them. Every one is tried; the first error is returned. */
static int copy_finalize(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        copy_provider *cp = provider_data(p);
        int r = 0;

        if (!cp || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->snapshot_path)
                        return lvss_provider_fail(ret_hr, -EINVAL);

        for (size_t i = 0; i < n; i++) {
                int k;

                if (!snaps[i]->writable)
                        continue;
                k = tree_settle(cp, snaps[i], true, true);
                if (k < 0) {
                        log_error("%s: cannot make read-only: %s", snaps[i]->snapshot_path, strerror(-k));
                        if (r >= 0)
                                r = k;
                }
        }
        return r < 0 ? lvss_provider_fail(ret_hr, r) : 0;
}

static void copy_free(lvss_provider *p) {
        copy_provider *cp = provider_data(p);

        for (size_t i = 0; cp && i < cp->n_limits; i++)
                free(cp->limits[i].volume);
        if (cp)
                free(cp->limits);
        lvss_storage_area_free(p);
}

static const lvss_provider_ops copy_ops = {
        .name = "copy",
        /* LVSS_PROVIDER_COPY_ID (an extern object cannot initialise a static table; test-copy checks they agree) */
        .id = { .bytes = { 0x5d, 0x3c, 0x3a, 0x8e, 0x2f, 0x5b, 0x4c, 0x1e,
                           0x9a, 0x57, 0x6c, 0x0f, 0x3b, 0x1d, 0x2e, 0x01 } },
        .type = "software",
        .version = "0.1",
        .is_volume_supported = copy_is_volume_supported,
        .begin_prepare = copy_begin_prepare,
        .end_prepare = copy_end_prepare,
        .ready_commit = lvss_storage_area_ready_commit,
        .release_commit = lvss_storage_area_release_commit,
        .pre_commit = copy_pre_commit,
        .commit = lvss_storage_area_commit,
        .post_commit = copy_post_commit,
        .finalize = copy_finalize,
        .abort = lvss_storage_area_abort,
        .delete_snapshot = lvss_storage_area_delete_snapshot,
        .free = copy_free,
};

int lvss_provider_copy_new(const char *storage_dir, lvss_provider **ret) {
        copy_provider *cp;
        int r;

        r = lvss_storage_area_provider_new(&copy_ops, storage_dir, sizeof *cp, remove_snapshot_path, ret);
        if (r < 0)
                return r;
        cp = provider_data(*ret);
        cp->area.abort_unprepared = true; /* begin_prepare may leave storage/<set>/<snap>.partial */
        cp->reflink = -1;
        cp->area.ready_one = ready_one;
        cp->area.commit_one = commit_one;
        cp->area.ready_free = ready_free;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-util.h"
#include "util.h"

int lvss_mkdir_parents(const char *path, mode_t mode) {
        _cleanup_(freep) char *p = NULL;

        if (!path || path[0] != '/')
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = p + 1;; s++) {
                char c = *s;

                if (c != '/' && c != 0)
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (c == 0)
                        return 0;
        }
}

/* FS_IOC_GETFLAGS / SETFLAGS move an int, but their numbers say long: a
 * zeroed long-sized buffer keeps every byte the definition names defined
 * (valgrind checks the definition), the kernel uses .i. */
typedef union inode_flags {
        int i;
        long l;
} inode_flags;

int lvss_set_immutable_fd(int fd, bool on) {
        inode_flags f = { .l = 0 };
        int flags;

        if (fd < 0)
                return -EBADF;
        if (ioctl(fd, FS_IOC_GETFLAGS, &f) < 0)
                return -errno;
        flags = f.i;
        f.i = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        if (f.i == flags)
                return 0;
        if (ioctl(fd, FS_IOC_SETFLAGS, &f) < 0)
                return -errno;
        return 0;
}

bool lvss_is_immutable_fd(int fd) {
        inode_flags f = { .l = 0 };

        return fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &f) == 0 && (f.i & FS_IMMUTABLE_FL);
}

int lvss_clear_immutable_at(int dir_fd, const char *name) {
        struct stat st;
        int fd, r;

        if (!name)
                return -EINVAL;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return 0;
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = lvss_set_immutable_fd(fd, false);
        close(fd);
        /* A file system without the attribute has nothing to clear. */
        return r == -ENOTTY || r == -EOPNOTSUPP ? 0 : r;
}

static int clear_immutable_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_F || flag == FTW_D || flag == FTW_DNR)
                (void) lvss_clear_immutable_at(AT_FDCWD, path);
        return 0;
}

void lvss_clear_immutable_tree(const char *path) {
        if (path)
                (void) nftw(path, clear_immutable_one, 32, FTW_PHYS | FTW_MOUNT);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * File system freeze (issue 10 part 3). Which file system holds a path is
 * decided by st_dev: /proc/self/mountinfo names each mount's device
 * (MAJOR:MINOR) and mount point; a file system mounted more than once (bind
 * mounts) is one file system, frozen once, through the mount point that
 * contains the path. FIFREEZE works on any descriptor of the file system:
 * the mount point is opened read-only as a directory.
 */

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/fsfreeze.h"
#include "basic/util.h"

void lvss_fs_done(lvss_fs *f) {
        if (!f)
                return;
        free(f->mount_point);
        f->mount_point = NULL;
}

void lvss_fs_list_free(lvss_fs *list, size_t n) {
        for (size_t i = 0; list && i < n; i++)
                lvss_fs_done(&list[i]);
        free(list);
}

const char *lvss_fs_dev_name(dev_t dev, char *buf, size_t size) {
        snprintf(buf, size, "%u:%u", major(dev), minor(dev));
        return buf;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo; in place. */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

int lvss_fs_of_path(const char *path, lvss_fs *ret) {
        _cleanup_(freep) char *canon = NULL, *line = NULL, *best = NULL, *any = NULL, *around = NULL;
        bool oom = false;
        size_t cap = 0;
        struct stat st;
        FILE *f;

        if (!path || !ret)
                return -EINVAL;
        if (stat(path, &st) < 0)
                return -errno;
        canon = realpath(path, NULL);
        if (!canon)
                return -errno;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        /* "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw" */
        while (getline(&line, &cap, f) > 0) {
                unsigned maj, min;
                char mp[4096];

                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mp) != 3)
                        continue;
                unescape_octal(mp);
                /* the last mount on the path's way wins, the newest covering the older ones */
                if (path_is_under(canon, mp) && (!around || strlen(mp) >= strlen(around))) {
                        free(around);
                        around = strdup(mp);
                        if (!around) {
                                oom = true;
                                break;
                        }
                }
                if (makedev(maj, min) != st.st_dev)
                        continue;
                if (path_is_under(canon, mp) && (!best || strlen(mp) > strlen(best))) {
                        free(best);
                        best = strdup(mp);
                        if (!best) {
                                oom = true;
                                break;
                        }
                }
                if (!any) {
                        any = strdup(mp);
                        if (!any) {
                                oom = true;
                                break;
                        }
                }
        }
        fclose(f);
        if (oom)
                return -ENOMEM;

        if (best || any) {
                ret->mount_point = best ? TAKE_PTR(best) : TAKE_PTR(any);
                ret->dev = st.st_dev;
                return 0;
        }
        /* No mount shows the path's device (a btrfs subvolume has a device of its
         * own): the mount the path is under, known by its own device. */
        if (!around)
                return -ENODEV;
        if (stat(around, &st) < 0)
                return -errno;
        ret->mount_point = TAKE_PTR(around);
        ret->dev = st.st_dev;
        return 0;
}

static int cmp_fs(const void *a, const void *b) {
        const lvss_fs *x = a, *y = b;

        return strcmp(x->mount_point, y->mount_point);
}

int lvss_fs_list(const char *const *paths, size_t n, lvss_fs **ret, size_t *ret_n, size_t *ret_failed) {
        lvss_fs *list = NULL;
        size_t k = 0;
        int r;

        if ((n > 0 && !paths) || !ret || !ret_n)
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                lvss_fs fs = {};
                bool seen = false;

                r = lvss_fs_of_path(paths[i], &fs);
                if (r < 0) {
                        if (ret_failed)
                                *ret_failed = i;
                        lvss_fs_list_free(list, k);
                        return r;
                }
                for (size_t j = 0; j < k && !seen; j++)
                        seen = list[j].dev == fs.dev;
                if (seen) {
                        lvss_fs_done(&fs);
                        continue;
                }
                lvss_fs *a = reallocarray(list, k + 1, sizeof *a);
                if (!a) {
                        lvss_fs_done(&fs);
                        lvss_fs_list_free(list, k);
                        return -ENOMEM;
                }
                list = a;
                list[k++] = fs;
        }
        if (k > 1)
                qsort(list, k, sizeof *list, cmp_fs);
        *ret = list;
        *ret_n = k;
        return 0;
}

static int fs_ioctl(const char *mount_point, unsigned long req) {
        _cleanup_(closep) int fd = -1;

        fd = open(mount_point, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        /* FIFREEZE and FITHAW are defined _IOWR(..., int): the kernel ignores the
         * argument, but valgrind checks it as a pointer to an int. */
        int unused = 0;
        if (ioctl(fd, req, &unused) < 0)
                return -errno;
        return 0;
}

int lvss_fs_freeze(const char *mount_point) {
        return mount_point ? fs_ioctl(mount_point, FIFREEZE) : -EINVAL;
}

int lvss_fs_thaw(const char *mount_point) {
        return mount_point ? fs_ioctl(mount_point, FITHAW) : -EINVAL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * File system freeze (issue 10 part 3): FIFREEZE / FITHAW on the file
 * systems that hold a set's volumes, for providers whose snapshot is taken
 * below the file system (the exec provider with FreezeFilesystems=).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct lvss_fs {
        char *mount_point; /* a mount point of the file system (the one holding the path) */
        dev_t dev;         /* its device (st_dev) */
} lvss_fs;

/* The file system holding @path: its st_dev and, from /proc/self/mountinfo,
 * the longest mount point of that device that contains @path (any mount point
 * of it when none does). When no mount shows that device (btrfs subvolumes),
 * the mount @path is under, with that mount point's st_dev. 0 or a negative
 * errno (-ENODEV: no mount found). */
int lvss_fs_of_path(const char *path, lvss_fs *ret);
void lvss_fs_done(lvss_fs *f);

/*
 * The distinct file systems (by st_dev) holding the @n @paths, sorted by
 * mount point: the order to freeze in (thaw in reverse). *@ret (owned: free
 * with lvss_fs_list_free) and *@ret_n. 0 or a negative errno; on failure
 * *@ret_failed (may be NULL) is the index of the path that failed.
 */
int lvss_fs_list(const char *const *paths, size_t n, lvss_fs **ret, size_t *ret_n, size_t *ret_failed);
void lvss_fs_list_free(lvss_fs *list, size_t n);

/* "MAJOR:MINOR" of @dev into @buf (at least 24 bytes). */
const char *lvss_fs_dev_name(dev_t dev, char *buf, size_t size);

/* FIFREEZE on the file system mounted at @mount_point. 0, or a negative
 * errno: -EBUSY (frozen already, by someone else), -EOPNOTSUPP (the file
 * system cannot be frozen), -EPERM (needs CAP_SYS_ADMIN). */
int lvss_fs_freeze(const char *mount_point);
/* FITHAW. 0, or a negative errno: -EINVAL when it was not frozen. */
int lvss_fs_thaw(const char *mount_point);

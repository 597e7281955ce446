/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* mkdir -p: every missing directory of the absolute @path, with @mode. 0 or negative errno. */
int lvss_mkdir_parents(const char *path, mode_t mode);

#include <stdbool.h>

/*
 * The immutable attribute (FS_IMMUTABLE_FL, chattr +i): an immutable file or
 * directory cannot be changed, renamed or removed, not even by root. The
 * copy provider makes its shadow copies read-only this way, keeping their
 * modes (issue 9).
 */

/* Sets (@on) or clears FS_IMMUTABLE_FL on the file or directory @fd.
 * 0, or a negative errno: -ENOTTY / -EOPNOTSUPP where the file system has
 * no such attribute, -EPERM without CAP_LINUX_IMMUTABLE. */
int lvss_set_immutable_fd(int fd, bool on);
/* Whether @fd has FS_IMMUTABLE_FL (false where the file system has none). */
bool lvss_is_immutable_fd(int fd);
/* Clears FS_IMMUTABLE_FL on the regular file or directory @name in
 * @dir_fd (not following symlinks; other kinds are left alone).
 * 0 or a negative errno; a missing @name is success. */
int lvss_clear_immutable_at(int dir_fd, const char *name);
/* Clears FS_IMMUTABLE_FL on @path and everything below it (not following
 * symlinks, not leaving its file system), so that the tree can be removed.
 * Best effort: for test and tool cleanups. */
void lvss_clear_immutable_tree(const char *path);

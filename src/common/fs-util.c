/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sys/stat.h>

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

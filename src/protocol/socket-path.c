/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "socket-path.h"

int lvss_socket_path(char **ret) {
        const char *e;
        char *p;

        if (!ret)
                return -EINVAL;

        e = getenv("LVSS_SOCKET");
        if (e && *e)
                p = strdup(e);
        else if (geteuid() == 0)
                p = strdup("/run/lvss/lvssd.sock");
        else {
                e = getenv("XDG_RUNTIME_DIR");
                if (!e || *e != '/')
                        return -ENXIO;
                if (asprintf(&p, "%s/lvss/lvssd.sock", e) < 0)
                        p = NULL;
        }
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

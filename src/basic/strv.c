/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

char **strv_copy(char *const *l) {
        size_t n = strv_length(l);
        char **c;

        c = calloc(n + 1, sizeof *c);
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

int strv_push(char ***l, const char *s) {
        size_t n = strv_length(*l);
        char *copy, **m;

        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        m = reallocarray(*l, n + 2, sizeof *m);
        if (!m) {
                free(copy);
                return -ENOMEM;
        }
        m[n] = copy;
        m[n + 1] = NULL;
        *l = m;
        return 0;
}

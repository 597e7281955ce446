/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by every part of lvss (internal, never exported). */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _public_ __attribute__((visibility("default")))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Take a pointer out of a cleanup-scoped variable. */
#define TAKE_PTR(p)                                \
        ({                                         \
                __typeof__(p) _taken_ = (p);       \
                (p) = NULL;                        \
                _taken_;                           \
        })

#define TAKE_FD(fd)                                \
        ({                                         \
                int _taken_fd_ = (fd);             \
                (fd) = -1;                         \
                _taken_fd_;                        \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

/* Whether @path is the directory @dir or below it: "/a/b" is under "/a" and "/a/", not under "/ab"; everything is
 * under "/". Both absolute; nothing is resolved (canonicalize first where links matter). */
static inline bool path_is_under(const char *path, const char *dir) {
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n == 1 && dir[0] == '/')
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static inline const char *strnull_if_empty(const char *s) {
        return s && *s ? s : NULL;
}

static inline uint64_t now_usec(clockid_t clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)

/* Return-on-bad-argument for public entry points (the systemd assert_return habit). */
#define check_arg(expr, hr)                        \
        do {                                       \
                if (!(expr))                       \
                        return (hr);               \
        } while (0)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* @p, which holds @n elements of @size and has room for *@allocated, with room for one more
 * (doubling, from 4); NULL when out of memory (@p is then as it was, still the caller's). */
static inline void *grow_array(void *p, size_t n, size_t *allocated, size_t size) {
        size_t k;
        void *q;

        if (n < *allocated)
                return p;
        k = *allocated ? *allocated * 2 : 4;
        q = reallocarray(p, k, size);
        if (q)
                *allocated = k;
        return q;
}

/* -errno for a call that failed, never 0 (-EIO if errno was not set): a caller
 * that gets 0 back would take the outputs as written. errno is read once. */
static inline int negative_errno(void) {
        int e = errno;
        return e > 0 ? -e : -EIO;
}

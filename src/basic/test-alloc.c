/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Allocation failures one by one for unit tests: test-alloc.h. */

#include <stdlib.h>
#include <string.h>

#include "basic/test-alloc.h"

static long alloc_countdown = -1; /* allocations before the one that fails; < 0: none fails */
static bool alloc_failed;         /* the armed allocation was reached */

void *__real_calloc(size_t n, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);

void test_alloc_arm(long n) {
        alloc_failed = false;
        alloc_countdown = n;
}

bool test_alloc_disarm(void) {
        alloc_countdown = -1;
        return alloc_failed;
}

static bool alloc_fails(void) {
        if (alloc_countdown < 0)
                return false;
        if (alloc_countdown-- > 0)
                return false;
        alloc_failed = true;
        return true;
}

void *__wrap_malloc(size_t size) {
        return alloc_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size) {
        return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
        return alloc_fails() ? NULL : __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size) {
        return alloc_fails() ? NULL : __real_reallocarray(p, n, size);
}

char *__wrap_strdup(const char *s) {
        return alloc_fails() ? NULL : __real_strdup(s);
}

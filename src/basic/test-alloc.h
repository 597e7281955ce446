/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Allocation failures one by one, for unit tests (the SQLite way; test-bcd
 * and test-event-context): the test links with libtestalloc and with
 * test_alloc_wrap (meson: -Wl,--wrap= for malloc, calloc, realloc,
 * reallocarray and strdup), arms a countdown and runs the operation for
 * N = 0, 1, 2, ... until it gets through without reaching the armed
 * allocation:
 *
 *         for (long n = 0;; n++) {
 *                 test_alloc_arm(n);
 *                 r = operation();
 *                 if (!test_alloc_disarm())
 *                         break;  // no allocation failed: the run is complete
 *                 assert r == -ENOMEM, output untouched
 *         }
 *
 * One thread only (the countdown is not atomic). test-session-alloc and
 * test-coordinator-alloc keep wrappers of their own: the first counts per
 * side and thread, the second counts live blocks and wraps free().
 */

#include <stdbool.h>
#include <stddef.h>

/* Allocation @n from now (0: the next one) fails; a negative @n: none. */
void test_alloc_arm(long n);
/* Disarms; true when the armed allocation was reached (it failed). */
bool test_alloc_disarm(void);

/* The wrapped allocators themselves, for a test that routes another library's allocations
 * through them (test-bcd: libxml2's). */
void *__wrap_malloc(size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);

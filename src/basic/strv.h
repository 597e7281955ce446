/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * NULL-terminated string vectors (char **): the one set of helpers
 * (issue 11 §3 "one home per rule"). Self-contained. A NULL vector is the
 * empty one everywhere.
 */

#include <stddef.h>

/* Frees every string and the vector; NULL-safe. Returns NULL. */
char **strv_free(char **l);

/* For _cleanup_(strv_freep). */
static inline void strv_freep(char ***l) {
        strv_free(*l);
}

/* The number of strings before the NULL; 0 for NULL. */
size_t strv_length(char *const *l);

/* A deep copy (an empty vector for NULL); NULL when out of memory. */
char **strv_copy(char *const *l);

/* Appends a copy of @s to *@l (allocating it when NULL). 0, or -ENOMEM
 * with *@l as it was. */
int strv_push(char ***l, const char *s);

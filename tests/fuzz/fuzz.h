/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What every fuzz target shares. A target is one function,
 * LLVMFuzzerTestOneInput(), built two ways (tests/fuzz/meson.build): with
 * libFuzzer (-Dfuzzing=true, clang) to search for crashes, and with
 * replay-main.c to replay tests/fuzz-corpus/<target>/ under `make check`.
 *
 * A target checks more than "does not crash": it aborts through
 * fuzz_check() when a parser breaks its documented contract (an unexpected
 * result code, a round trip that changes the document), so libFuzzer saves
 * the input like any other crash.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_check(expr)                                                                        \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                                \
                }                                                                               \
        } while (0)

/* The input as a NUL-terminated string (an embedded NUL ends it early, as in C). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        fuzz_check(s);
        if (size > 0)
                memcpy(s, data, size);
        s[size] = 0;
        return s;
}

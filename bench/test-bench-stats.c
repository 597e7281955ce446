/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §5: the btrfs goal is decided on the 95 % interval of the median
 * of the paired differences (lvss-bench --btrfs). The interval's ranks are
 * the binomial ones: for n samples, v(k) and v(n+1-k) with the largest k such
 * that P(Bin(n, 1/2) <= k - 1) <= 2.5 %. The values below are from the
 * binomial table: n = 6 -> k = 1 (the extremes, 96.9 %), n = 20 -> k = 6,
 * n = 100 -> k = 40; under 6 samples there is no such interval.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bench.h"

/* n samples 1, 2, ..., n, added in a shuffled order (the function must sort a copy). */
static void fill(samples *s, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                assert_int_equal(samples_add(s, (double) ((i * 7919u) % n + 1)), 0);
}

static void check_ranks(unsigned n, double lo_rank, double hi_rank) {
        samples s = {};
        double lo = -1, hi = -1;

        fill(&s, n);
        assert_int_equal(samples_median_ci(&s, &lo, &hi), 0);
        assert_true(lo == lo_rank);
        assert_true(hi == hi_rank);
        /* the samples themselves are left as they were */
        assert_true(s.v[0] == 1.0);
        samples_done(&s);
}

static void test_ranks(void **state) {
        (void) state;
        check_ranks(6, 1, 6);
        check_ranks(7, 1, 7);
        check_ranks(20, 6, 15);
        check_ranks(100, 40, 61);
}

static void test_too_few(void **state) {
        samples s = {};
        double lo = 0, hi = 0;

        (void) state;
        fill(&s, 5);
        assert_int_equal(samples_median_ci(&s, &lo, &hi), -EDOM);
        samples_done(&s);
        assert_int_equal(samples_median_ci(NULL, &lo, &hi), -EINVAL);
        assert_int_equal(samples_median_ci(&s, NULL, &hi), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ranks),
                cmocka_unit_test(test_too_few),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * issue 12 §3: the Prometheus text exposition format as lvssd writes it for
 * node_exporter's textfile collector. Label values escape backslash, double
 * quote and newline (and nothing else); HELP text escapes backslash and
 * newline; histogram buckets are cumulative, end with le="+Inf" equal to
 * _count, and _sum is the sum of the observations.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics-format.h"

/* What @fn wrote, as a string (owned). */
#define CAPTURE(var, ...)                                              \
        do {                                                           \
                size_t _size = 0;                                      \
                FILE *f = open_memstream(&(var), &_size);              \
                assert_non_null(f);                                    \
                __VA_ARGS__;                                           \
                assert_int_equal(fclose(f), 0);                        \
        } while (0)

static void test_label_escaping(void **state) {
        char *out = NULL;
        const char *l[] = { "writer", "a\\b\"c\nd", "instance", "plain é", NULL };

        (void) state;
        CAPTURE(out, prom_sample(f, "lvss_x", l, 1));
        /* backslash, quote and newline escaped; UTF-8 passes as it is */
        assert_string_equal(out, "lvss_x{writer=\"a\\\\b\\\"c\\nd\",instance=\"plain é\"} 1\n");
        free(out);
}

static void test_no_labels_and_null_values(void **state) {
        char *out = NULL;
        const char *l[] = { "a", NULL, NULL };
        const char *l2[] = { "a", NULL, "b", "x", NULL };

        (void) state;
        CAPTURE(out, prom_sample(f, "m", NULL, 3); prom_sample(f, "m", l, 0.5); prom_sample(f, "m", l2, -2));
        /* a pair with a NULL value is left out; no labels: no braces */
        assert_string_equal(out, "m 3\nm 0.5\nm{b=\"x\"} -2\n");
        free(out);
}

static void test_values(void **state) {
        char *out = NULL;

        (void) state;
        CAPTURE(out, prom_value(f, 1.0 / 0.0); fputc(' ', f); prom_value(f, -1.0 / 0.0); fputc(' ', f);
                prom_value(f, 0.0 / 0.0); fputc(' ', f); prom_value(f, 1796548511.25); fputc(' ', f);
                prom_value(f, 12345678901234.0));
        assert_string_equal(out, "+Inf -Inf NaN 1796548511.25 12345678901234");
        free(out);
}

static void test_help_type(void **state) {
        char *out = NULL;

        (void) state;
        CAPTURE(out, prom_header(f, "lvss_sessions_total", "back\\slash \"quoted\"\nnext", "counter"));
        /* HELP escapes backslash and newline, not quotes */
        assert_string_equal(out, "# HELP lvss_sessions_total back\\\\slash \"quoted\"\\nnext\n"
                                 "# TYPE lvss_sessions_total counter\n");
        free(out);
}

static void test_histogram(void **state) {
        static const double bounds[] = { 0.01, 0.1, 1 };
        uint64_t counts[4] = {};
        PromHistogram h = { .bounds = bounds, .n_bounds = 3, .counts = counts };
        const char *l[] = { "kind", "b\"k", NULL };
        char *out = NULL;

        (void) state;
        prom_histogram_observe(&h, 0.005); /* ≤ 0.01 */
        prom_histogram_observe(&h, 0.01);  /* on the bound: le is "less or equal" */
        prom_histogram_observe(&h, 0.5);   /* ≤ 1 */
        prom_histogram_observe(&h, 7);     /* above every bound: +Inf only */
        CAPTURE(out, prom_histogram(f, "lvss_freeze_window_seconds", l, &h));
        assert_string_equal(out, "lvss_freeze_window_seconds_bucket{kind=\"b\\\"k\",le=\"0.01\"} 2\n"
                                 "lvss_freeze_window_seconds_bucket{kind=\"b\\\"k\",le=\"0.1\"} 2\n"
                                 "lvss_freeze_window_seconds_bucket{kind=\"b\\\"k\",le=\"1\"} 3\n"
                                 "lvss_freeze_window_seconds_bucket{kind=\"b\\\"k\",le=\"+Inf\"} 4\n"
                                 "lvss_freeze_window_seconds_sum{kind=\"b\\\"k\"} 7.515\n"
                                 "lvss_freeze_window_seconds_count{kind=\"b\\\"k\"} 4\n");
        free(out);

        /* without labels, le is the only label; an empty histogram is all zeros */
        uint64_t c2[4] = {};
        PromHistogram e = { .bounds = bounds, .n_bounds = 3, .counts = c2 };
        CAPTURE(out, prom_histogram(f, "h", NULL, &e));
        assert_string_equal(out, "h_bucket{le=\"0.01\"} 0\nh_bucket{le=\"0.1\"} 0\n"
                                 "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_label_escaping),
                cmocka_unit_test(test_no_labels_and_null_values),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_help_type),
                cmocka_unit_test(test_histogram),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

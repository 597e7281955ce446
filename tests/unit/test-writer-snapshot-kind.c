/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 9 part 1: the argument checks of the writer calls that say what the
 * snapshot is (vss_writer_get_snapshot_volume_count, _get_snapshot_volume,
 * vss_writer_is_set_atomic, vss_writer_is_auto_recovery): VSS_E_INVALIDARG
 * for a NULL writer or result, VSS_E_BAD_STATE outside a handler, and
 * nothing written to the results then. What they answer inside handlers is
 * checked with a real lvssd (tests/integration/test-snapshot-kind.c,
 * test-btrfs-set.c).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lvss/vss.h>

static vss_writer *make_writer(void) {
        vss_writer_options o = {
                .size = sizeof o,
                .writer_id = { .bytes = { 1, 2, 3, 4 } },
                .writer_name = "unit",
        };
        vss_writer *w = NULL;

        assert_int_equal(vss_writer_initialize(&o, NULL, NULL, &w), VSS_S_OK);
        assert_non_null(w);
        return w;
}

static void test_null_arguments(void **state) {
        vss_writer *w = make_writer();
        const char *s = NULL;
        unsigned n = 7;
        bool b = true;

        assert_int_equal(vss_writer_get_snapshot_volume_count(NULL, &n), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_get_snapshot_volume_count(w, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_get_snapshot_volume(NULL, 0, &s, &s, &b), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_get_snapshot_volume(w, 0, NULL, NULL, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_is_set_atomic(NULL, &b), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_is_set_atomic(w, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_is_auto_recovery(NULL, &b), VSS_E_INVALIDARG);
        assert_int_equal(vss_writer_is_auto_recovery(w, NULL), VSS_E_INVALIDARG);
        assert_int_equal(n, 7);
        assert_true(b);
        vss_writer_release(w);
}

static void test_outside_a_handler(void **state) {
        vss_writer *w = make_writer();
        const char *v = "untouched", *p = "untouched";
        unsigned n = 7;
        bool a = true, b = true;

        assert_int_equal(vss_writer_get_snapshot_volume_count(w, &n), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_snapshot_volume(w, 0, &v, &p, &a), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_get_snapshot_volume(w, 0, &v, NULL, NULL), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_is_set_atomic(w, &b), VSS_E_BAD_STATE);
        assert_int_equal(vss_writer_is_auto_recovery(w, &b), VSS_E_BAD_STATE);
        assert_int_equal(n, 7);
        assert_string_equal(v, "untouched");
        assert_string_equal(p, "untouched");
        assert_true(a);
        assert_true(b);
        vss_writer_release(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_null_arguments),
                cmocka_unit_test(test_outside_a_handler),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

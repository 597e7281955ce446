/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: issue 11 §3 "one home per rule", the string-vector helpers
 * (src/basic/strv.h) that lvssd's config and external sessions, the
 * writer library and vshadow share.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "basic/strv.h"

static void test_null_is_empty(void **state) {
        char **c;

        assert_null(strv_free(NULL));
        assert_int_equal(strv_length(NULL), 0);
        c = strv_copy(NULL);
        assert_non_null(c);
        assert_null(c[0]);
        strv_free(c);
}

static void test_push_length_copy(void **state) {
        char **l = NULL, **c;
        const char *words[] = { "one", "", "three" };

        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(strv_push(&l, words[i]), 0);
                assert_int_equal(strv_length(l), i + 1);
                assert_null(l[i + 1]);
        }
        c = strv_copy(l);
        assert_non_null(c);
        assert_int_equal(strv_length(c), 3);
        for (size_t i = 0; i < 3; i++) {
                assert_string_equal(c[i], words[i]);
                assert_ptr_not_equal(c[i], l[i]); /* a deep copy */
        }
        assert_null(strv_free(l));
        assert_string_equal(c[2], "three"); /* still its own after the original went */
        strv_free(c);
}

static void test_cleanup(void **state) {
        __attribute__((cleanup(strv_freep))) char **l = NULL;

        assert_int_equal(strv_push(&l, "freed by the cleanup"), 0);
        assert_int_equal(strv_length(l), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_null_is_empty),
                cmocka_unit_test(test_push_length_copy),
                cmocka_unit_test(test_cleanup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests: GUID text form (api.md types.h). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <lvss/types.h>

static void test_format_parse_round_trip(void **state) {
        vss_id id, back;
        char s[VSS_ID_STRING_MAX];

        for (int i = 0; i < 16; i++)
                id.bytes[i] = (uint8_t) (0x10 * i + 0x0f - i);
        vss_id_format(&id, s);
        assert_string_equal(s, "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}");
        assert_int_equal(vss_id_parse(s, &back), VSS_S_OK);
        assert_true(vss_id_equal(&id, &back));
}

static void test_parse_without_braces_and_upper_case(void **state) {
        vss_id a, b;

        assert_int_equal(vss_id_parse("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", &a), VSS_S_OK);
        assert_int_equal(vss_id_parse("{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}", &b), VSS_S_OK);
        assert_true(vss_id_equal(&a, &b));
}

static void test_parse_rejects_malformed(void **state) {
        static const char *const bad[] = {
                "", "{", "{}", "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                "{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",  /* no closing brace */
                "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}",  /* no opening brace */
                "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",   /* not hex */
                "0f1e2d3c+4b5a-6978-8796-a5b4c3d2e1f0",   /* wrong separator */
                "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00",  /* too long */
        };
        vss_id id = { .bytes = { 0xaa } }, before = id;

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                assert_int_equal(vss_id_parse(bad[i], &id), VSS_E_INVALIDARG);
                assert_true(vss_id_equal(&id, &before)); /* untouched on failure */
        }
        assert_int_equal(vss_id_parse(NULL, &id), VSS_E_INVALIDARG);
        assert_int_equal(vss_id_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", NULL), VSS_E_INVALIDARG);
}

static void test_null_and_equal(void **state) {
        vss_id zero = {}, one = { .bytes = { 1 } };
        char s[VSS_ID_STRING_MAX];

        assert_true(vss_id_is_null(&zero));
        assert_true(vss_id_is_null(NULL));
        assert_false(vss_id_is_null(&one));
        assert_true(vss_id_equal(NULL, NULL));
        assert_false(vss_id_equal(&zero, NULL));
        assert_false(vss_id_equal(&zero, &one));
        vss_id_format(NULL, s);
        assert_string_equal(s, "{00000000-0000-0000-0000-000000000000}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_parse_round_trip),
                cmocka_unit_test(test_parse_without_braces_and_upper_case),
                cmocka_unit_test(test_parse_rejects_malformed),
                cmocka_unit_test(test_null_and_equal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

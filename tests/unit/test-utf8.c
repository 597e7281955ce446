/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: issue 11 §3 "one home per rule", the UTF-8 rule of strings
 * that cross D-Bus (src/basic/utf8.h), used by the writer library, the
 * requester library and the XML documents alike.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "basic/utf8.h"
#include "documents/xml-util.h"

static void test_valid_strings(void **state) {
        static const char *const good[] = {
                "", "plain ascii", "caf\xc3\xa9",        /* U+00E9 */
                "\xe2\x82\xac",                          /* U+20AC */
                "\xef\xbf\xbd",                          /* U+FFFD, the last BMP character before U+FFFE */
                "\xef\xb7\x8f",                          /* U+FDCF, just below the non-characters */
                "\xef\xb7\xb0",                          /* U+FDF0, just above them */
                "\xf0\x9f\x98\x80",                      /* U+1F600 */
                "\xf4\x8f\xbf\xbd",                      /* U+10FFFD */
                "\xed\x9f\xbf",                          /* U+D7FF, below the surrogates */
                "\xee\x80\x80",                          /* U+E000, above them */
        };
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
                if (!lvss_utf8_valid(good[i]))
                        fail_msg("refused good string %zu", i);
                assert_true(xml_string_valid(good[i], 64));
        }
}

static void test_noncharacters(void **state) {
        /* sd-bus refuses these: so do the writer and requester libraries and the documents */
        static const char *const bad[] = {
                "\xef\xbf\xbe",          /* U+FFFE */
                "\xef\xbf\xbf",          /* U+FFFF */
                "\xef\xb7\x90",          /* U+FDD0 */
                "\xef\xb7\xaf",          /* U+FDEF */
                "\xf0\x9f\xbf\xbe",      /* U+1FFFE */
                "\xf0\x9f\xbf\xbf",      /* U+1FFFF */
                "\xf4\x8f\xbf\xbe",      /* U+10FFFE */
                "\xf4\x8f\xbf\xbf",      /* U+10FFFF */
                "ok then \xef\xbf\xbe",  /* one at the end */
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                uint32_t c = 0;
                if (lvss_utf8_valid(bad[i]))
                        fail_msg("accepted non-character string %zu", i);
                if (xml_string_valid(bad[i], 64))
                        fail_msg("xml_string_valid accepted non-character string %zu", i);
                /* well-formed UTF-8 nevertheless: the decoder reads it */
                const char *p = strrchr(bad[i], ' ') ? strrchr(bad[i], ' ') + 1 : bad[i];
                assert_int_equal(lvss_utf8_decode(p, &c), strlen(p));
                assert_true(lvss_unichar_is_noncharacter(c));
        }
        assert_false(lvss_unichar_is_noncharacter(0xFFFD));
        assert_false(lvss_unichar_is_noncharacter(0xFDCF));
        assert_false(lvss_unichar_is_noncharacter(0xFDF0));
        assert_false(lvss_unichar_is_noncharacter(0x1FFFD));
}

static void test_ill_formed(void **state) {
        static const char *const bad[] = {
                "\xed\xa0\x80",          /* U+D800, a surrogate */
                "\xed\xbf\xbf",          /* U+DFFF */
                "\xc0\x80",              /* overlong NUL */
                "\xc1\xbf",              /* overlong U+007F */
                "\xe0\x80\xaf",          /* overlong '/' */
                "\xe0\x9f\xbf",          /* overlong U+07FF */
                "\xf0\x8f\xbf\xbf",      /* overlong U+FFFF */
                "\xf4\x90\x80\x80",      /* U+110000 */
                "\xf8\x88\x80\x80\x80",  /* 5-byte form */
                "\xff",                  /* never a UTF-8 byte */
                "\x80",                  /* lone continuation byte */
                "\xc3",                  /* truncated at the end of the string */
                "\xe2\x82",              /* truncated 3-byte */
                "\xf0\x9f\x98",          /* truncated 4-byte */
                "\xe2\x82x",             /* truncated, then ASCII */
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                if (lvss_utf8_valid(bad[i]))
                        fail_msg("accepted ill-formed string %zu", i);
                if (xml_string_valid(bad[i], 64))
                        fail_msg("xml_string_valid accepted ill-formed string %zu", i);
                assert_int_equal(lvss_utf8_decode(bad[i], NULL), 0);
        }
        assert_false(lvss_utf8_valid(NULL));
        assert_int_equal(lvss_utf8_decode("", NULL), 0);
}

static void test_xml_only_rules(void **state) {
        /* C0 controls are valid D-Bus strings but not XML characters */
        assert_true(lvss_utf8_valid("a\x01"));
        assert_false(xml_string_valid("a\x01", 64));
        assert_true(xml_string_valid("a\tb\n", 64));
        assert_false(xml_string_valid("abcdef", 5));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_strings),
                cmocka_unit_test(test_noncharacters),
                cmocka_unit_test(test_ill_formed),
                cmocka_unit_test(test_xml_only_rules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

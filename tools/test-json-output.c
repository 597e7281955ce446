/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §3 bullet 3: the tools' --json output comes from json-c and stays
 * valid JSON whatever the strings hold. Writes a document with the streaming
 * calls, parses it back strictly (json-c's tokener, UTF-8 validated) and
 * checks every value: invalid UTF-8 becomes U+FFFD byte by byte (the rule
 * output.c had), control characters, quotes and backslashes round-trip,
 * U+FFFE (a non-character, which D-Bus refuses but UTF-8 and JSON allow)
 * comes out as it was, as before; nesting, null, numbers at their limits
 * and ids.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "json-output.h"

static struct json_object *write_and_parse(void (*fill)(json_writer *j)) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        json_writer j;
        struct json_tokener *tok;
        struct json_object *o;

        assert_non_null(f);
        json_init(&j, f);
        fill(&j);
        assert_int_equal(json_finish(&j), 0);
        fclose(f);

        tok = json_tokener_new();
        assert_non_null(tok);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        o = json_tokener_parse_ex(tok, text, (int) size);
        if (!o)
                fail_msg("not valid JSON (%s):\n%s", json_tokener_error_desc(json_tokener_get_error(tok)), text);
        assert_int_equal(text[size - 1], '\n');
        json_tokener_free(tok);
        free(text);
        return o;
}

static const char *member_string(struct json_object *o, const char *key) {
        struct json_object *v = NULL;

        assert_true(json_object_object_get_ex(o, key, &v));
        assert_true(json_object_is_type(v, json_type_string));
        return json_object_get_string(v);
}

static void fill_strings(json_writer *j) {
        static const vss_id id = { .bytes = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };

        json_begin_object(j);
        json_key(j, "invalid");
        json_string(j, "a\xff" "b\xc3" "c\xe2\x82");
        json_key(j, "noncharacter");
        json_string(j, "x\xef\xbf\xbey");
        json_key(j, "controls");
        json_string(j, "tab\there\nline\r\x01\x7f \"quoted\" back\\slash /slash");
        json_key(j, "utf8");
        json_string(j, "\xc3\xbc\xe2\x9c\x93\xf0\x9f\x92\xbe");
        json_key(j, "bad key \xff");
        json_null(j);
        json_key(j, "none");
        json_string(j, NULL);
        json_key(j, "id");
        json_id(j, &id);
        json_key(j, "null_id");
        json_id(j, &(vss_id) {});
        json_key(j, "hr");
        json_hresult(j, VSS_E_BAD_STATE);
        json_key(j, "max");
        json_uint(j, UINT64_MAX);
        json_key(j, "min");
        json_int(j, INT64_MIN);
        json_key(j, "list");
        json_begin_array(j);
        json_boolean(j, true);
        json_boolean(j, false);
        json_begin_object(j);
        json_end_object(j);
        json_begin_array(j);
        json_end_array(j);
        json_end_array(j);
        json_end_object(j);
}

static void test_json_values_round_trip(void **state) {
        struct json_object *o = write_and_parse(fill_strings), *v = NULL;
        char expected_id[VSS_ID_STRING_MAX];
        static const vss_id id = { .bytes = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };

        /* each invalid byte: one U+FFFD (a truncated sequence is one byte at a time) */
        assert_string_equal(member_string(o, "invalid"),
                            "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd");
        assert_string_equal(member_string(o, "noncharacter"), "x\xef\xbf\xbey");
        assert_string_equal(member_string(o, "controls"), "tab\there\nline\r\x01\x7f \"quoted\" back\\slash /slash");
        assert_string_equal(member_string(o, "utf8"), "\xc3\xbc\xe2\x9c\x93\xf0\x9f\x92\xbe");
        assert_true(json_object_object_get_ex(o, "bad key \xef\xbf\xbd", &v));
        assert_null(v);
        assert_true(json_object_object_get_ex(o, "none", &v));
        assert_null(v);
        vss_id_format(&id, expected_id);
        assert_string_equal(member_string(o, "id"), expected_id);
        assert_true(json_object_object_get_ex(o, "null_id", &v));
        assert_null(v);
        assert_string_equal(member_string(o, "hr"), "0x80042301");
        assert_true(json_object_object_get_ex(o, "max", &v));
        assert_int_equal(json_object_get_uint64(v), UINT64_MAX);
        assert_true(json_object_object_get_ex(o, "min", &v));
        assert_true(json_object_get_int64(v) == INT64_MIN);
        assert_true(json_object_object_get_ex(o, "list", &v));
        assert_int_equal(json_object_array_length(v), 4);
        assert_true(json_object_get_boolean(json_object_array_get_idx(v, 0)));
        assert_false(json_object_get_boolean(json_object_array_get_idx(v, 1)));
        /* members keep the order they were written in */
        json_object_object_foreach(o, key, val) {
                (void) val;
                assert_string_equal(key, "invalid");
                break;
        }
        json_object_put(o);
}

static void fill_deep(json_writer *j) {
        /* past JSON_DEPTH_MAX: refused as a whole, not written half */
        for (unsigned i = 0; i < JSON_DEPTH_MAX + 2; i++)
                json_begin_array(j);
        for (unsigned i = 0; i < JSON_DEPTH_MAX + 2; i++)
                json_end_array(j);
}

static void test_json_too_deep_fails_cleanly(void **state) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        json_writer j;

        assert_non_null(f);
        json_init(&j, f);
        fill_deep(&j);
        assert_int_equal(json_finish(&j), -ENOMEM);
        fclose(f);
        assert_int_equal(size, 0);
        free(text);
}

static void test_json_release_unfinished(void **state) {
        json_writer j;

        /* an early exit frees what was built (ASan checks the leak) */
        json_init(&j, stdout);
        json_begin_object(&j);
        json_key(&j, "k");
        json_release(&j);
        json_release(&j);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_values_round_trip),
                cmocka_unit_test(test_json_too_deep_fails_cleanly),
                cmocka_unit_test(test_json_release_unfinished),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

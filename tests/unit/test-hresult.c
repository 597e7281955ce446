/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests: result codes, names and texts (vss-reference.md §4, writer-status.md "Display"). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <lvss/types.h>

static void test_exact_values(void **state) {
        /* values copied from vss-reference.md §2.4, §4 */
        assert_int_equal((uint32_t) VSS_E_BAD_STATE, 0x80042301u);
        assert_int_equal((uint32_t) VSS_E_OBJECT_NOT_FOUND, 0x80042308u);
        assert_int_equal((uint32_t) VSS_E_WRITER_NOT_RESPONDING, 0x80042319u);
        assert_int_equal((uint32_t) VSS_E_WRITERERROR_TIMEOUT, 0x800423F2u);
        assert_int_equal((uint32_t) VSS_E_WRITERERROR_PARTIAL_FAILURE, 0x80042336u);
        assert_int_equal((uint32_t) VSS_E_WRITER_STATUS_NOT_AVAILABLE, 0x80042409u);
        assert_int_equal((uint32_t) VSS_E_SNAPSHOT_SET_IN_PROGRESS, 0x80042316u);
        assert_int_equal((uint32_t) VSS_S_ASYNC_FINISHED, 0x0004230Au);
        assert_true(VSS_FAILED(VSS_E_INVALIDARG));
        assert_true(VSS_SUCCEEDED(VSS_S_ASYNC_PENDING));
}

static void test_names_round_trip(void **state) {
        static const vss_hresult codes[] = {
                VSS_S_OK, VSS_E_BAD_STATE, VSS_E_INVALIDARG, VSS_E_ACCESSDENIED, VSS_E_OUTOFMEMORY,
                VSS_E_HOLD_WRITES_TIMEOUT, VSS_E_FLUSH_WRITES_TIMEOUT, VSS_E_WRITERERROR_RETRYABLE,
                VSS_E_WRITERERROR_NONRETRYABLE, VSS_E_INVALID_XML_DOCUMENT, VSS_S_ASYNC_CANCELLED,
        };
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
                const char *n = vss_hresult_name(codes[i]);
                vss_hresult back = 1234;
                assert_non_null(n);
                assert_int_equal(vss_hresult_from_name(n, &back), VSS_S_OK);
                assert_int_equal(back, codes[i]);
        }
        assert_string_equal(vss_hresult_name(VSS_E_BAD_STATE), "VSS_E_BAD_STATE");
        assert_null(vss_hresult_name(VSS_HR(0x80049999)));
        vss_hresult untouched = 7;
        assert_int_equal(vss_hresult_from_name("VSS_E_NO_SUCH", &untouched), VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(untouched, 7);
        assert_int_equal(vss_hresult_from_name(NULL, &untouched), VSS_E_INVALIDARG);
}

static void test_writer_failure_texts(void **state) {
        /* writer-status.md "Display" */
        assert_string_equal(vss_hresult_text(VSS_S_OK), "No error");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT), "Inconsistent shadow copy");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_OUTOFRESOURCES), "Out of resources");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_TIMEOUT), "Timed out");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_RETRYABLE), "Retryable error");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_NONRETRYABLE), "Non-retryable error");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_RECOVERY_FAILED), "Recovery failed");
        assert_string_equal(vss_hresult_text(VSS_E_WRITERERROR_PARTIAL_FAILURE), "Partial failure");
        assert_string_equal(vss_hresult_text(VSS_E_WRITER_NOT_RESPONDING), "Not responding");
        assert_string_equal(vss_hresult_text(VSS_E_WRITER_STATUS_NOT_AVAILABLE), "Status not available");
        assert_string_equal(vss_hresult_text(VSS_HR(0x80049999)), "Unexpected error");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exact_values),
                cmocka_unit_test(test_names_round_trip),
                cmocka_unit_test(test_writer_failure_texts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

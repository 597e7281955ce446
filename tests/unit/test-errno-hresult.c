/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: issue 11 §3 "one home per rule", the errno → VSS result table
 * (src/basic/errno-hresult.h), and that its callers use it: the document
 * code (a bad WMD value), the bus edge (lvss_bus_error_to_hresult).
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <systemd/sd-bus.h>

#include <lvss/metadata.h>

#include "basic/errno-hresult.h"
#include "documents/wmd.h"
#include "protocol/protocol.h"

typedef struct row {
        int err;
        vss_hresult local, bus;
} row;

/* The table of errno-hresult.h, written out again as the test's oracle. */
static const row rows[] = {
        { EINVAL, VSS_E_INVALIDARG, VSS_E_INVALIDARG },
        { EEXIST, VSS_E_INVALIDARG, VSS_E_INVALIDARG },
        { E2BIG, VSS_E_INVALIDARG, VSS_E_INVALIDARG },
        { ENOMEM, VSS_E_OUTOFMEMORY, VSS_E_OUTOFMEMORY },
        { EACCES, VSS_E_ACCESSDENIED, VSS_E_ACCESSDENIED },
        { EPERM, VSS_E_ACCESSDENIED, VSS_E_ACCESSDENIED },
        { EBUSY, VSS_E_BAD_STATE, VSS_E_BAD_STATE },
        { ECONNRESET, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { ECONNREFUSED, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { ENOTCONN, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { ENXIO, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { EPIPE, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { ETIMEDOUT, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { ESHUTDOWN, VSS_E_WRITER_INFRASTRUCTURE, VSS_E_WRITER_INFRASTRUCTURE },
        { ENOENT, VSS_E_OBJECT_NOT_FOUND, VSS_E_WRITER_INFRASTRUCTURE },
        { EBADMSG, VSS_E_INVALID_XML_DOCUMENT, VSS_E_UNEXPECTED },
        { EIO, VSS_E_UNEXPECTED, VSS_E_UNEXPECTED },
        { ENOSPC, VSS_E_UNEXPECTED, VSS_E_UNEXPECTED },
};

static void test_table(void **state) {
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
                if (lvss_hresult_from_errno(-rows[i].err) != rows[i].local)
                        fail_msg("local errno %d: 0x%08X", rows[i].err, (unsigned) lvss_hresult_from_errno(-rows[i].err));
                if (lvss_hresult_from_bus_errno(-rows[i].err) != rows[i].bus)
                        fail_msg("bus errno %d: 0x%08X", rows[i].err, (unsigned) lvss_hresult_from_bus_errno(-rows[i].err));
                /* the bus edge without an error reply is the bus column */
                if (lvss_bus_error_to_hresult(NULL, -rows[i].err) != rows[i].bus)
                        fail_msg("lvss_bus_error_to_hresult(NULL, -%d)", rows[i].err);
        }
        assert_int_equal(lvss_hresult_from_errno(0), VSS_S_OK);
        assert_int_equal(lvss_hresult_from_errno(3), VSS_S_OK);
        /* called on a failure: r >= 0 there is no success */
        assert_int_equal(lvss_bus_error_to_hresult(NULL, 0), VSS_E_UNEXPECTED);
}

static void test_bus_local_errors_use_the_table(void **state) {
        /* sd-bus names failures without a D-Bus name "System.Error.E…": their errno, bus column */
        static const row named[] = {
                { ENOENT, 0, VSS_E_WRITER_INFRASTRUCTURE },
                { EBUSY, 0, VSS_E_BAD_STATE },
                { EPIPE, 0, VSS_E_WRITER_INFRASTRUCTURE },
                { EIO, 0, VSS_E_UNEXPECTED },
        };
        static const char *const names[] = { "System.Error.ENOENT", "System.Error.EBUSY", "System.Error.EPIPE",
                                             "System.Error.EIO" };

        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                assert_true(sd_bus_error_set(&e, names[i], "x") < 0);
                assert_int_equal(sd_bus_error_get_errno(&e), named[i].err);
                if (lvss_bus_error_to_hresult(&e, -EIO) != named[i].bus)
                        fail_msg("%s: 0x%08X", names[i], (unsigned) lvss_bus_error_to_hresult(&e, -EIO));
                sd_bus_error_free(&e);
        }
}

static void test_documents_use_the_table(void **state) {
        vss_create_writer_metadata *md = NULL;
        vss_id id = { .bytes = { 1 } };

        assert_int_equal(lvss_wmd_new(&id, &id, "w", NULL, VSS_UT_USERDATA, VSS_ST_OTHER, &md), 0);
        /* EINVAL inside wmd.c (an empty component name): the caller's argument */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", "", NULL, NULL, 0, false,
                                                                  true, true, true, 0),
                         VSS_E_INVALIDARG);
        /* EEXIST (the same component twice): the caller's argument too */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", "data", NULL, NULL, 0,
                                                                  false, true, true, true, 0),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", "data", NULL, NULL, 0,
                                                                  false, true, true, true, 0),
                         VSS_E_INVALIDARG);
        /* ENOENT (files for a component that does not exist): VSS_E_OBJECT_NOT_FOUND (metadata.h) */
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "", "nope", "/srv", "*", false, NULL,
                                                                            0),
                         VSS_E_OBJECT_NOT_FOUND);
        lvss_wmd_free(md);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_bus_local_errors_use_the_table),
                cmocka_unit_test(test_documents_use_the_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests: writer state names and texts, event names, and the state table
 * (writer-status.md "Sequences", WS-4, WS-7, WS-8). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <lvss/types.h>

#include "basic/abi.h"
#include "basic/state.h"

static void test_state_names_and_texts(void **state) {
        assert_string_equal(vss_writer_state_name(VSS_WS_STABLE), "VSS_WS_STABLE");
        assert_string_equal(vss_writer_state_name(VSS_WS_FAILED_AT_BACKUPSHUTDOWN), "VSS_WS_FAILED_AT_BACKUPSHUTDOWN");
        assert_null(vss_writer_state_name(VSS_WS_COUNT));
        assert_null(vss_writer_state_name((vss_writer_state) -1));

        /* writer-status.md "Display" */
        static const char *const texts[VSS_WS_COUNT] = {
                "Unknown", "Stable", "Waiting for freeze", "Frozen", "Waiting for completion",
                "Waiting for completion", "Failed", "Failed", "Failed", "Failed", "Failed",
                "Failed", "Failed", "Failed", "Failed", "Failed",
        };
        for (int s = 0; s < VSS_WS_COUNT; s++) {
                assert_non_null(vss_writer_state_name((vss_writer_state) s));
                assert_string_equal(vss_writer_state_text((vss_writer_state) s), texts[s]);
        }
        assert_string_equal(vss_writer_state_text(VSS_WS_COUNT), "Unknown");
}

static void test_event_names(void **state) {
        assert_string_equal(vss_writer_event_name(VSS_EVENT_FREEZE), "Freeze");
        assert_string_equal(vss_writer_event_name(VSS_EVENT_PREPARE_BACKUP), "PrepareForBackup");
        assert_string_equal(vss_writer_event_name(VSS_EVENT_BACKUP_SHUTDOWN), "BackupShutdown");
        assert_string_equal(vss_writer_event_name(VSS_EVENT_NONE), "None");
        assert_null(vss_writer_event_name(VSS_EVENT_COUNT));
        for (int e = VSS_EVENT_IDENTIFY; e < VSS_EVENT_COUNT; e++)
                assert_int_equal(lvss_event_from_name(vss_writer_event_name((vss_writer_event) e)), e);
        assert_int_equal(lvss_event_from_name("freeze"), VSS_EVENT_FREEZE);
        assert_int_equal(lvss_event_from_name("nonsense"), VSS_EVENT_NONE);
}

/* The backup sequence of writer-status.md, walked through the table. */
static void test_backup_sequence_walk(void **state) {
        static const struct {
                vss_writer_event e;
                vss_writer_state after;
        } walk[] = {
                { VSS_EVENT_IDENTIFY, VSS_WS_STABLE },
                { VSS_EVENT_PREPARE_BACKUP, VSS_WS_STABLE },
                { VSS_EVENT_PREPARE_SNAPSHOT, VSS_WS_WAITING_FOR_FREEZE },
                { VSS_EVENT_FREEZE, VSS_WS_WAITING_FOR_THAW },
                { VSS_EVENT_THAW, VSS_WS_WAITING_FOR_POST_SNAPSHOT },
                { VSS_EVENT_POST_SNAPSHOT, VSS_WS_WAITING_FOR_BACKUP_COMPLETE },
                { VSS_EVENT_BACKUP_COMPLETE, VSS_WS_STABLE },
                { VSS_EVENT_BACKUP_SHUTDOWN, VSS_WS_STABLE },
        };
        vss_writer_state s = VSS_WS_STABLE;

        for (size_t i = 0; i < sizeof walk / sizeof walk[0]; i++) {
                s = lvss_state_after_event(s, walk[i].e, true);
                assert_int_equal(s, walk[i].after);
        }
}

/* WS-4: failing event E gives FAILED_AT_E, from any state. */
static void test_failure_gives_failed_at_event(void **state) {
        static const struct {
                vss_writer_event e;
                vss_writer_state failed;
        } f[] = {
                { VSS_EVENT_IDENTIFY, VSS_WS_FAILED_AT_IDENTIFY },
                { VSS_EVENT_PREPARE_BACKUP, VSS_WS_FAILED_AT_PREPARE_BACKUP },
                { VSS_EVENT_PREPARE_SNAPSHOT, VSS_WS_FAILED_AT_PREPARE_SNAPSHOT },
                { VSS_EVENT_FREEZE, VSS_WS_FAILED_AT_FREEZE },
                { VSS_EVENT_THAW, VSS_WS_FAILED_AT_THAW },
                { VSS_EVENT_POST_SNAPSHOT, VSS_WS_FAILED_AT_POST_SNAPSHOT },
                { VSS_EVENT_BACKUP_COMPLETE, VSS_WS_FAILED_AT_BACKUP_COMPLETE },
                { VSS_EVENT_PRE_RESTORE, VSS_WS_FAILED_AT_PRE_RESTORE },
                { VSS_EVENT_POST_RESTORE, VSS_WS_FAILED_AT_POST_RESTORE },
                { VSS_EVENT_BACKUP_SHUTDOWN, VSS_WS_FAILED_AT_BACKUPSHUTDOWN },
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
                for (int s = VSS_WS_STABLE; s <= VSS_WS_WAITING_FOR_BACKUP_COMPLETE; s++)
                        assert_int_equal(lvss_state_after_event((vss_writer_state) s, f[i].e, false), f[i].failed);
}

/* Abort: no FAILED_AT state; a failed writer stays failed, a clean one becomes stable (writer-status.md). */
static void test_abort_and_shutdown_keep_failures(void **state) {
        assert_int_equal(lvss_state_after_event(VSS_WS_WAITING_FOR_THAW, VSS_EVENT_ABORT, true), VSS_WS_STABLE);
        assert_int_equal(lvss_state_after_event(VSS_WS_WAITING_FOR_THAW, VSS_EVENT_ABORT, false),
                         VSS_WS_WAITING_FOR_THAW);
        assert_int_equal(lvss_state_after_event(VSS_WS_FAILED_AT_FREEZE, VSS_EVENT_ABORT, true),
                         VSS_WS_FAILED_AT_FREEZE);
        assert_int_equal(lvss_state_after_event(VSS_WS_FAILED_AT_THAW, VSS_EVENT_BACKUP_SHUTDOWN, true),
                         VSS_WS_FAILED_AT_THAW);
        assert_true(lvss_state_is_failed(VSS_WS_FAILED_AT_IDENTIFY));
        assert_false(lvss_state_is_failed(VSS_WS_WAITING_FOR_BACKUP_COMPLETE));
        assert_null(lvss_event_rule_get(VSS_EVENT_NONE));
        assert_int_equal(lvss_state_after_event(VSS_WS_STABLE, VSS_EVENT_NONE, false), VSS_WS_STABLE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_names_and_texts),
                cmocka_unit_test(test_event_names),
                cmocka_unit_test(test_backup_sequence_walk),
                cmocka_unit_test(test_failure_gives_failed_at_event),
                cmocka_unit_test(test_abort_and_shutdown_keep_failures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

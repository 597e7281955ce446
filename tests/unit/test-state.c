/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests: writer state names and texts, event names, and the state table
 * (writer-status.md "Sequences", WS-4, WS-7, WS-8). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <lvss/types.h>
#include <lvss/writer.h>

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

static bool cb_any(vss_writer *w, void *u) {
        return true;
}

static bool cb_components(vss_writer *w, vss_writer_components *c, void *u) {
        return true;
}

/* issue 11 §5: which events the writer library asks lvssd to deliver, from its callbacks */
static void test_events_wanted(void **state) {
        const uint32_t always = LVSS_EVENT_BIT(VSS_EVENT_IDENTIFY) | LVSS_EVENT_BIT(VSS_EVENT_FREEZE) |
                                LVSS_EVENT_BIT(VSS_EVENT_THAW) | LVSS_EVENT_BIT(VSS_EVENT_ABORT) |
                                LVSS_EVENT_BIT(VSS_EVENT_BACKUP_SHUTDOWN);
        vss_writer_callbacks cb = { .size = sizeof cb };

        /* no handler at all, or only Freeze/Thaw: the library's own events, nothing else */
        assert_int_equal(lvss_writer_events_wanted(NULL), always);
        assert_int_equal(lvss_writer_events_wanted(&cb), always);
        cb.on_freeze = cb_any;
        cb.on_thaw = cb_any;
        cb.on_abort = cb_any;
        assert_int_equal(lvss_writer_events_wanted(&cb), always);

        /* one handler, one event */
        cb.on_post_snapshot = cb_components;
        assert_int_equal(lvss_writer_events_wanted(&cb), always | LVSS_EVENT_BIT(VSS_EVENT_POST_SNAPSHOT));
        cb.on_post_snapshot = NULL;
        cb.on_backup_complete = cb_components;
        assert_int_equal(lvss_writer_events_wanted(&cb), always | LVSS_EVENT_BIT(VSS_EVENT_BACKUP_COMPLETE));
        cb.on_backup_complete = NULL;
        cb.on_prepare_snapshot = cb_any;
        assert_int_equal(lvss_writer_events_wanted(&cb), always | LVSS_EVENT_BIT(VSS_EVENT_PREPARE_SNAPSHOT));
        cb.on_prepare_snapshot = NULL;
        cb.on_pre_restore = cb_components;
        cb.on_post_restore = cb_components;
        assert_int_equal(lvss_writer_events_wanted(&cb), always | LVSS_EVENT_BIT(VSS_EVENT_PRE_RESTORE) |
                                                                 LVSS_EVENT_BIT(VSS_EVENT_POST_RESTORE));
        cb.on_pre_restore = cb.on_post_restore = NULL;

        /* PrepareForBackup with on_abort: PrepareForSnapshot too (a dropped connection from
         * there on calls on_abort, which may undo what on_prepare_backup did) */
        cb.on_prepare_backup = cb_components;
        assert_int_equal(lvss_writer_events_wanted(&cb), always | LVSS_EVENT_BIT(VSS_EVENT_PREPARE_BACKUP) |
                                                                 LVSS_EVENT_BIT(VSS_EVENT_PREPARE_SNAPSHOT));
        cb.on_abort = NULL;
        assert_int_equal(lvss_writer_events_wanted(&cb), always | LVSS_EVENT_BIT(VSS_EVENT_PREPARE_BACKUP));

        /* every handler: every event */
        cb = (vss_writer_callbacks) { .size = sizeof cb, .on_identify = NULL, .on_prepare_backup = cb_components,
                                      .on_prepare_snapshot = cb_any, .on_freeze = cb_any, .on_thaw = cb_any,
                                      .on_post_snapshot = cb_components, .on_abort = cb_any,
                                      .on_backup_complete = cb_components, .on_pre_restore = cb_components,
                                      .on_post_restore = cb_components };
        for (int e = VSS_EVENT_IDENTIFY; e < VSS_EVENT_COUNT; e++)
                assert_true(lvss_event_delivered(lvss_writer_events_wanted(&cb), (vss_writer_event) e));
}

/* issue 11 §5: what lvssd may answer itself; an old writer (LVSS_EVENTS_ALL) gets everything */
static void test_event_delivered(void **state) {
        for (int e = VSS_EVENT_IDENTIFY; e < VSS_EVENT_COUNT; e++) {
                assert_true(lvss_event_delivered(LVSS_EVENTS_ALL, (vss_writer_event) e));
                /* a writer that declares nothing still gets what the library acts on itself */
                assert_int_equal(lvss_event_delivered(0, (vss_writer_event) e),
                                 !lvss_event_skippable((vss_writer_event) e));
        }
        assert_false(lvss_event_skippable(VSS_EVENT_IDENTIFY));
        assert_false(lvss_event_skippable(VSS_EVENT_FREEZE));
        assert_false(lvss_event_skippable(VSS_EVENT_THAW));
        assert_false(lvss_event_skippable(VSS_EVENT_ABORT));
        assert_false(lvss_event_skippable(VSS_EVENT_BACKUP_SHUTDOWN));
        assert_true(lvss_event_skippable(VSS_EVENT_PREPARE_BACKUP));
        assert_true(lvss_event_skippable(VSS_EVENT_POST_RESTORE));
        assert_true(lvss_event_delivered(LVSS_EVENT_BIT(VSS_EVENT_POST_SNAPSHOT), VSS_EVENT_POST_SNAPSHOT));
        assert_false(lvss_event_delivered(LVSS_EVENT_BIT(VSS_EVENT_POST_SNAPSHOT), VSS_EVENT_BACKUP_COMPLETE));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_names_and_texts),
                cmocka_unit_test(test_event_names),
                cmocka_unit_test(test_backup_sequence_walk),
                cmocka_unit_test(test_failure_gives_failed_at_event),
                cmocka_unit_test(test_abort_and_shutdown_keep_failures),
                cmocka_unit_test(test_events_wanted),
                cmocka_unit_test(test_event_delivered),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test: the session's transition table (issue 11 §2), without a daemon.
 *
 * Every (state, input) pair is walked, with and without a step running, and
 * compared with the expectations written out below from writer-status.md
 * (WS-3, WS-8, WS-11, WS-12, WS-13) and vss-reference.md §2 (the backup and
 * restore call sequences): an allowed pair goes where the table says, a
 * refused requester call gets VSS_E_BAD_STATE with a message, a refused
 * event VSS_E_UNEXPECTED.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "coordinator/session-state.h"

#define N_STATES _SESSION_STATE_MAX
#define ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Shorter names for the expectations. */
#define NEW SESSION_STATE_NEW
#define BAK SESSION_STATE_BACKUP
#define PRE SESSION_STATE_PREPARED
#define SNP SESSION_STATE_SNAPSHOT_DONE
#define BCD SESSION_STATE_BACKUP_COMPLETE
#define CMP SESSION_STATE_COMPLETED
#define ABT SESSION_STATE_ABORTED
#define RST SESSION_STATE_RESTORE
#define PRR SESSION_STATE_PRE_RESTORED
#define POR SESSION_STATE_POST_RESTORED
#define REL SESSION_STATE_RELEASING
#define ECM SESSION_STATE_ENDED_COMPLETED
#define EAB SESSION_STATE_ENDED_ABORTED
#define ERL SESSION_STATE_ENDED_RELEASED
#define EIN SESSION_STATE_ENDED_INCOMPLETE
#define XXX (-1) /* refused */

/*
 * Requester calls, one character per state in the order of the enum above
 * (NEW BAK PRE SNP BCD CMP ABT RST PRR POR REL ECM EAB ERL EIN):
 * '.' refused (VSS_E_BAD_STATE), 'n' allowed, nothing moves, 's' a step
 * starts (its 'done' event moves the state), 'm' moves at once (next below),
 * 'c' completes the session (WS-3), 'i' allowed and ignored.
 */
static const struct {
        SessionInput in;
        const char *cells;
        int next_from_new; /* 'm' cells: only the Initialize calls have them, from NEW */
} calls[] = {
        { SESSION_IN_INITIALIZE_BACKUP, "m..............", BAK },
        { SESSION_IN_INITIALIZE_RESTORE, "m..............", RST },
        { SESSION_IN_SET_CONTEXT, ".n.............", XXX },
        { SESSION_IN_SET_BACKUP_STATE, ".n.............", XXX },
        { SESSION_IN_GATHER_METADATA, ".s.....s.......", XXX },
        { SESSION_IN_ADD_COMPONENT, ".n.............", XXX },
        { SESSION_IN_START_SNAPSHOT_SET, ".n.............", XXX },
        { SESSION_IN_ADD_TO_SNAPSHOT_SET, ".nn............", XXX },
        { SESSION_IN_PREPARE_FOR_BACKUP, ".s.............", XXX },
        { SESSION_IN_DO_SNAPSHOT_SET, ".ss............", XXX },
        { SESSION_IN_SET_BACKUP_SUCCEEDED, "...n...........", XXX },
        { SESSION_IN_BACKUP_COMPLETE, "...s...........", XXX },
        { SESSION_IN_ABORT_BACKUP, ".ssssss........", XXX },
        { SESSION_IN_GATHER_STATUS, "nnnncnnnnn.....", XXX },
        { SESSION_IN_SET_SELECTED_FOR_RESTORE, ".......n.......", XXX },
        { SESSION_IN_SET_FILE_RESTORE_STATUS, "........n......", XXX },
        { SESSION_IN_PRE_RESTORE, ".......s.......", XXX },
        { SESSION_IN_POST_RESTORE, "........s......", XXX },
        { SESSION_IN_RELEASE, "ssssssssssiiiii", XXX },
        { SESSION_IN_SAVE_AS_XML, ".nnnnnnnnn.....", XXX },
};

/* Events: the state each leads to from every state, or XXX (refused). */
static const struct {
        SessionInput in;
        int next[N_STATES];
} events[] = {
        /*                                  NEW  BAK  PRE  SNP  BCD  CMP  ABT  RST  PRR  POR  REL  ECM  EAB  ERL  EIN */
        { SESSION_IN_PREPARE_BACKUP_DONE, { XXX, PRE, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX } },
        { SESSION_IN_SNAPSHOT_SET_DONE, { XXX, SNP, SNP, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX } },
        { SESSION_IN_BACKUP_COMPLETE_DONE, { XXX, XXX, XXX, BCD, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX } },
        /* a session completed by the gather stays completed; anything else Abort reached is aborted */
        { SESSION_IN_ABORT_DONE, { XXX, ABT, ABT, ABT, ABT, CMP, ABT, XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX } },
        { SESSION_IN_PRE_RESTORE_DONE, { XXX, XXX, XXX, XXX, XXX, XXX, XXX, PRR, XXX, XXX, XXX, XXX, XXX, XXX, XXX } },
        { SESSION_IN_POST_RESTORE_DONE, { XXX, XXX, XXX, XXX, XXX, XXX, XXX, XXX, POR, XXX, XXX, XXX, XXX, XXX, XXX } },
        { SESSION_IN_SHUTDOWN, { REL, REL, REL, REL, REL, REL, REL, REL, REL, REL, XXX, XXX, XXX, XXX, XXX } },
        /* issue 11 §2: released after BackupComplete without the gather is not completed; before it, incomplete */
        { SESSION_IN_ENDED, { EIN, EIN, EIN, EIN, ERL, ECM, EAB, EIN, EIN, ECM, XXX, XXX, XXX, XXX, XXX } },
        /* WS-13: the requester gone, what had not completed is aborted */
        { SESSION_IN_ENDED_REQUESTER_GONE, { EAB, EAB, EAB, EAB, EAB, ECM, EAB, EAB, EAB, EAB, XXX, XXX, XXX, XXX, XXX } },
        /* issue 10: an external session is complete once BackupComplete went out */
        { SESSION_IN_ENDED_EXTERNAL, { EAB, EAB, EAB, EAB, ECM, ECM, EAB, EAB, EAB, EAB, XXX, XXX, XXX, XXX, XXX } },
};

static SessionAction action_of(char c) {
        switch (c) {
        case 's':
                return SESSION_ACT_STEP;
        case 'm':
                return SESSION_ACT_MOVE;
        case 'c':
                return SESSION_ACT_COMPLETE;
        case 'i':
                return SESSION_ACT_IGNORE;
        default:
                return SESSION_ACT_NONE;
        }
}

/* Every input is listed above exactly once: the walk below covers the whole table. */
static void test_every_input_listed(void **state) {
        int seen[_SESSION_IN_MAX] = { 0 };

        for (size_t i = 0; i < ELEMS(calls); i++) {
                assert_int_equal(strlen(calls[i].cells), N_STATES);
                seen[calls[i].in]++;
        }
        for (size_t i = 0; i < ELEMS(events); i++)
                seen[events[i].in]++;
        for (int in = 0; in < _SESSION_IN_MAX; in++) {
                assert_int_equal(seen[in], 1);
                assert_non_null(session_input_name((SessionInput) in));
        }
        for (int st = 0; st < N_STATES; st++)
                assert_non_null(session_state_name((SessionState) st));
}

/* WS-11 and vss-reference.md §2: each call in each state, no step running. */
static void test_calls_idle(void **state) {
        for (size_t i = 0; i < ELEMS(calls); i++)
                for (int st = 0; st < N_STATES; st++) {
                        SessionRule r;
                        char c = calls[i].cells[st];
                        bool ok = session_state_rule((SessionState) st, false, calls[i].in, &r);

                        if (c == '.') {
                                if (ok)
                                        fail_msg("%s in state '%s' is allowed, expected refused",
                                                 session_input_name(calls[i].in), session_state_name(st));
                                assert_false(r.allowed);
                                assert_int_equal(r.refusal, VSS_E_BAD_STATE);
                                assert_non_null(r.why);
                                assert_true(strlen(r.why) > 0);
                                assert_int_equal(r.next, st); /* a refusal never moves the state */
                                continue;
                        }
                        if (!ok)
                                fail_msg("%s in state '%s' is refused (%s), expected allowed",
                                         session_input_name(calls[i].in), session_state_name(st), r.why);
                        assert_true(r.allowed);
                        assert_int_equal(r.action, action_of(c));
                        if (c == 'm')
                                assert_int_equal(r.next, calls[i].next_from_new);
                        else if (c == 'c')
                                assert_int_equal(r.next, CMP);
                        else
                                assert_int_equal(r.next, st);
                }
}

/* WS-11: while a step runs only GatherWriterStatus is taken (WS-8: it reads the
 * table as it is, and does not complete the session then); an ended session
 * refuses everything but Release, which does nothing. */
static void test_calls_busy(void **state) {
        for (size_t i = 0; i < ELEMS(calls); i++)
                for (int st = 0; st < N_STATES; st++) {
                        SessionRule r;
                        char c = calls[i].cells[st];
                        bool ok = session_state_rule((SessionState) st, true, calls[i].in, &r);

                        if (c == 'i') {
                                assert_true(ok);
                                assert_int_equal(r.action, SESSION_ACT_IGNORE);
                        } else if (calls[i].in == SESSION_IN_GATHER_STATUS && c != '.') {
                                assert_true(ok);
                                assert_int_equal(r.action, SESSION_ACT_NONE);
                                assert_int_equal(r.next, st);
                        } else {
                                assert_false(ok);
                                assert_int_equal(r.refusal, VSS_E_BAD_STATE);
                                assert_int_equal(r.next, st);
                                if (st >= REL)
                                        assert_string_equal(r.why, "The session has ended");
                                else if (calls[i].in == SESSION_IN_RELEASE)
                                        assert_string_equal(r.why,
                                                            "A step is still running; cancel or wait for it first");
                                else
                                        assert_string_equal(r.why, "Another step of this session is still running");
                        }
                }
}

/* The messages say which way the call is out of order. */
static void test_refusal_messages(void **state) {
        static const struct {
                int st;
                SessionInput in;
                const char *why;
        } m[] = {
                { NEW, SESSION_IN_PREPARE_FOR_BACKUP, "PrepareForBackup needs InitializeForBackup first" },
                { RST, SESSION_IN_PREPARE_FOR_BACKUP, "PrepareForBackup needs InitializeForBackup first" },
                { PRE, SESSION_IN_PREPARE_FOR_BACKUP, "PrepareForBackup was already called" },
                { ABT, SESSION_IN_PREPARE_FOR_BACKUP, "PrepareForBackup was already called" },
                { BAK, SESSION_IN_INITIALIZE_RESTORE, "The session is already initialized" },
                { SNP, SESSION_IN_SET_CONTEXT, "SetContext must come before volumes are added" },
                { NEW, SESSION_IN_SET_CONTEXT, "SetContext needs InitializeForBackup first" },
                { ABT, SESSION_IN_START_SNAPSHOT_SET, "This session already has a snapshot set" },
                { BAK, SESSION_IN_BACKUP_COMPLETE, "BackupComplete needs a successful DoSnapshotSet" },
                { BCD, SESSION_IN_BACKUP_COMPLETE, "BackupComplete was already called" },
                { SNP, SESSION_IN_DO_SNAPSHOT_SET, "DoSnapshotSet was already called" },
                { NEW, SESSION_IN_GATHER_METADATA,
                  "GatherWriterMetadata needs InitializeForBackup or InitializeForRestore first" },
                { PRR, SESSION_IN_GATHER_METADATA, "GatherWriterMetadata may be called once per session" },
                { RST, SESSION_IN_POST_RESTORE, "PostRestore comes once, after PreRestore" },
                { BAK, SESSION_IN_PRE_RESTORE, "PreRestore and PostRestore need InitializeForRestore first" },
                { POR, SESSION_IN_PRE_RESTORE, "PreRestore was already called" },
                { PRR, SESSION_IN_SET_SELECTED_FOR_RESTORE, "SetSelectedForRestore must come before PreRestore" },
                { NEW, SESSION_IN_SAVE_AS_XML, "SaveAsXml needs InitializeForBackup or InitializeForRestore first" },
                { ERL, SESSION_IN_GATHER_STATUS, "The session has ended" },
                { REL, SESSION_IN_ABORT_BACKUP, "The session has ended" },
        };

        for (size_t i = 0; i < ELEMS(m); i++) {
                SessionRule r;
                assert_false(session_state_rule((SessionState) m[i].st, false, m[i].in, &r));
                assert_string_equal(r.why, m[i].why);
        }
}

/* Events: each (state, event) pair goes where the expectations say; elsewhere VSS_E_UNEXPECTED. */
static void test_events(void **state) {
        for (size_t i = 0; i < ELEMS(events); i++)
                for (int st = 0; st < N_STATES; st++)
                        for (int busy = 0; busy <= 1; busy++) {
                                SessionRule r;
                                bool ok = session_state_rule((SessionState) st, busy, events[i].in, &r);

                                if (events[i].next[st] == XXX) {
                                        if (ok)
                                                fail_msg("event %s in state '%s' is allowed, expected refused",
                                                         session_input_name(events[i].in), session_state_name(st));
                                        assert_int_equal(r.refusal, VSS_E_UNEXPECTED);
                                        assert_int_equal(r.next, st);
                                        continue;
                                }
                                if (!ok)
                                        fail_msg("event %s in state '%s' is refused, expected allowed",
                                                 session_input_name(events[i].in), session_state_name(st));
                                assert_int_equal(r.action, SESSION_ACT_MOVE);
                                assert_int_equal(r.next, events[i].next[st]);
                        }
}

static void test_out_of_range(void **state) {
        SessionRule r;

        assert_false(session_state_rule(_SESSION_STATE_MAX, false, SESSION_IN_RELEASE, &r));
        assert_int_equal(r.refusal, VSS_E_UNEXPECTED);
        assert_false(session_state_rule(SESSION_STATE_NEW, false, _SESSION_IN_MAX, &r));
        assert_int_equal(r.refusal, VSS_E_UNEXPECTED);
        assert_false(session_state_rule((SessionState) -1, false, SESSION_IN_RELEASE, &r));
        assert_null(session_state_name(_SESSION_STATE_MAX));
        assert_null(session_input_name(_SESSION_IN_MAX));
}

/* A run through the table: the backup sequence of vss-reference.md §2 and a restore. */
static SessionState walk(SessionState st, SessionInput in) {
        SessionRule r;
        assert_true(session_state_rule(st, false, in, &r));
        return r.next;
}

static void test_sequences(void **state) {
        SessionState st = SESSION_STATE_NEW;

        st = walk(st, SESSION_IN_INITIALIZE_BACKUP);
        st = walk(st, SESSION_IN_SET_CONTEXT);
        st = walk(st, SESSION_IN_SET_BACKUP_STATE);
        st = walk(st, SESSION_IN_GATHER_METADATA);
        st = walk(st, SESSION_IN_ADD_COMPONENT);
        st = walk(st, SESSION_IN_START_SNAPSHOT_SET);
        st = walk(st, SESSION_IN_ADD_TO_SNAPSHOT_SET);
        st = walk(st, SESSION_IN_PREPARE_FOR_BACKUP);
        st = walk(st, SESSION_IN_PREPARE_BACKUP_DONE);
        assert_int_equal(st, PRE);
        st = walk(st, SESSION_IN_DO_SNAPSHOT_SET);
        st = walk(st, SESSION_IN_SNAPSHOT_SET_DONE);
        st = walk(st, SESSION_IN_SET_BACKUP_SUCCEEDED);
        st = walk(st, SESSION_IN_BACKUP_COMPLETE);
        st = walk(st, SESSION_IN_BACKUP_COMPLETE_DONE);
        assert_int_equal(st, BCD);
        assert_string_equal(session_state_admin_text(st, false, false), "in progress");
        st = walk(st, SESSION_IN_GATHER_STATUS);
        assert_int_equal(st, CMP); /* WS-3 */
        st = walk(st, SESSION_IN_RELEASE);
        st = walk(st, SESSION_IN_SHUTDOWN);
        assert_int_equal(st, REL);
        /* the end is read against the state before BackupShutdown (session.c keeps it) */
        st = walk(CMP, SESSION_IN_ENDED);
        assert_int_equal(st, ECM);

        st = walk(SESSION_STATE_NEW, SESSION_IN_INITIALIZE_RESTORE);
        st = walk(st, SESSION_IN_SET_SELECTED_FOR_RESTORE);
        st = walk(st, SESSION_IN_PRE_RESTORE);
        st = walk(st, SESSION_IN_PRE_RESTORE_DONE);
        st = walk(st, SESSION_IN_SET_FILE_RESTORE_STATUS);
        st = walk(st, SESSION_IN_POST_RESTORE);
        st = walk(st, SESSION_IN_POST_RESTORE_DONE);
        assert_int_equal(walk(st, SESSION_IN_ENDED), ECM);
}

/* issue 11 §2: how an ended session is shown and told: never "ended" read as completed. */
static void test_outcomes(void **state) {
        static const struct {
                int st;
                vss_writer_session_state told;
                const char *catalog, *admin;
        } o[] = {
                { ECM, VSS_SESSION_COMPLETED, "completed", "completed" },
                { EAB, VSS_SESSION_ABORTED, "aborted", "aborted" },
                { ERL, VSS_SESSION_RELEASED, "ended", "released without the final GatherWriterStatus" },
                { EIN, VSS_SESSION_RELEASED, "ended", "ended without BackupComplete" },
        };

        for (size_t i = 0; i < ELEMS(o); i++) {
                assert_true(session_state_is_ended(o[i].st));
                assert_int_equal(session_state_writer_outcome(o[i].st), o[i].told);
                assert_string_equal(session_state_catalog_text(o[i].st), o[i].catalog);
                assert_string_equal(session_state_admin_text(o[i].st, false, false), o[i].admin);
        }
        assert_string_equal(session_state_admin_text(EIN, true, false), "ended without PostRestore");
        assert_string_equal(session_state_admin_text(ERL, false, true),
                            "released without the final GatherWriterStatus, writer-status history incomplete");
        for (int st = 0; st < REL; st++) {
                assert_false(session_state_is_ended(st));
                assert_null(session_state_catalog_text(st));
                assert_true(session_state_is_backup(st) || session_state_is_restore(st) || st == NEW);
        }
        assert_false(session_state_is_ended(REL));
        assert_string_equal(session_state_admin_text(BCD, false, false), "in progress");
        assert_string_equal(session_state_admin_text(CMP, false, false), "completed");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_input_listed), cmocka_unit_test(test_calls_idle),
                cmocka_unit_test(test_calls_busy),         cmocka_unit_test(test_refusal_messages),
                cmocka_unit_test(test_events),             cmocka_unit_test(test_out_of_range),
                cmocka_unit_test(test_sequences),          cmocka_unit_test(test_outcomes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

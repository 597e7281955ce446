/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The session's transition table (see session-state.h).
 *
 * One row per input. For a requester call the row lists the states in which
 * the call is allowed (with what it does there and where it leads); in any
 * other state the call is refused with VSS_E_BAD_STATE and one of two
 * messages: 'early' when the session has not reached the call's place yet
 * (not initialized, or initialized for the other kind of session, or an
 * earlier step of its own kind still missing), 'late' when it is past it.
 * An event row lists the states it may come in; elsewhere it is refused
 * with VSS_E_UNEXPECTED (a defect in lvssd, logged, the state kept).
 *
 * Before the rows come two rules that hold for every call: a session that
 * has ended (or is ending) refuses every call but Release, which is a no-op
 * there ("The session has ended"); while a step runs every call but the
 * 'while busy' ones is refused ("Another step of this session is still
 * running", WS-11).
 */

#include <stddef.h>

#include "session-state.h"

#define ELEMS(a) (sizeof(a) / sizeof((a)[0]))

typedef enum Kind {
        KIND_ANY,
        KIND_BACKUP,
        KIND_RESTORE,
} Kind;

/* Where a state stands in its kind's sequence (for 'early' / 'late'). */
static const struct {
        Kind kind;
        int rank;
} state_place[_SESSION_STATE_MAX] = {
        [SESSION_STATE_NEW] = { KIND_ANY, 0 },
        [SESSION_STATE_BACKUP] = { KIND_BACKUP, 1 },
        [SESSION_STATE_PREPARED] = { KIND_BACKUP, 2 },
        [SESSION_STATE_SNAPSHOT_DONE] = { KIND_BACKUP, 3 },
        [SESSION_STATE_BACKUP_COMPLETE] = { KIND_BACKUP, 4 },
        [SESSION_STATE_COMPLETED] = { KIND_BACKUP, 5 },
        [SESSION_STATE_ABORTED] = { KIND_BACKUP, 6 }, /* past every backup step */
        [SESSION_STATE_RESTORE] = { KIND_RESTORE, 1 },
        [SESSION_STATE_PRE_RESTORED] = { KIND_RESTORE, 2 },
        [SESSION_STATE_POST_RESTORED] = { KIND_RESTORE, 3 },
};

typedef struct Cell {
        bool set;
        SessionState in;
        SessionAction action;
        SessionState next;
} Cell;

typedef struct Row {
        const char *name;
        bool event;
        Kind kind;          /* the calls of one kind: the other kind's states are 'early' */
        bool while_busy;
        bool initialized;   /* allowed, as STAY, in every live state but NEW (the cells are not used) */
        const char *early, *late, *busy; /* refusals; busy NULL: the common message */
        Cell cells[8];      /* where it is allowed */
} Row;

#define STAY(s) { true, SESSION_STATE_##s, SESSION_ACT_NONE, SESSION_STATE_##s }
#define STEP(s) { true, SESSION_STATE_##s, SESSION_ACT_STEP, SESSION_STATE_##s }
#define MOVE(s, n) { true, SESSION_STATE_##s, SESSION_ACT_MOVE, SESSION_STATE_##n }

/*
 * The table. A cell with action STEP starts the step and keeps the state;
 * the step's "…_DONE" event moves it. Read with writer-status.md "Sequences"
 * and vss-reference.md §2 (the backup and restore sequences).
 */
static const Row rows[_SESSION_IN_MAX] = {
        [SESSION_IN_INITIALIZE_BACKUP] = {
                "InitializeForBackup", false, KIND_ANY, false, false,
                NULL, "The session is already initialized", NULL,
                { MOVE(NEW, BACKUP) },
        },
        [SESSION_IN_INITIALIZE_RESTORE] = {
                "InitializeForRestore", false, KIND_ANY, false, false,
                NULL, "The session is already initialized", NULL,
                { MOVE(NEW, RESTORE) },
        },
        [SESSION_IN_SET_CONTEXT] = {
                "SetContext", false, KIND_BACKUP, false, false,
                "SetContext needs InitializeForBackup first", "SetContext must come before volumes are added", NULL,
                { STAY(BACKUP) }, /* and before AddToSnapshotSet: session.c */
        },
        [SESSION_IN_SET_BACKUP_STATE] = {
                "SetBackupState", false, KIND_BACKUP, false, false,
                "SetBackupState needs InitializeForBackup first", "SetBackupState must come before PrepareForBackup",
                NULL,
                { STAY(BACKUP) },
        },
        [SESSION_IN_GATHER_METADATA] = {
                "GatherWriterMetadata", false, KIND_ANY, false, false,
                "GatherWriterMetadata needs InitializeForBackup or InitializeForRestore first",
                "GatherWriterMetadata may be called once per session", NULL,
                { STEP(BACKUP), STEP(RESTORE) }, /* once: session.c */
        },
        [SESSION_IN_ADD_COMPONENT] = {
                "AddComponent", false, KIND_BACKUP, false, false,
                "AddComponent needs a completed GatherWriterMetadata", "AddComponent must come before PrepareForBackup",
                NULL,
                { STAY(BACKUP) }, /* after the gather: session.c */
        },
        [SESSION_IN_START_SNAPSHOT_SET] = {
                "StartSnapshotSet", false, KIND_BACKUP, false, false,
                "StartSnapshotSet needs InitializeForBackup first", "This session already has a snapshot set", NULL,
                { STAY(BACKUP) }, /* once: session.c; one set system-wide (WS-10) */
        },
        [SESSION_IN_ADD_TO_SNAPSHOT_SET] = {
                "AddToSnapshotSet", false, KIND_BACKUP, false, false,
                "AddToSnapshotSet needs StartSnapshotSet first", "AddToSnapshotSet needs StartSnapshotSet first", NULL,
                { STAY(BACKUP), STAY(PREPARED) }, /* after StartSnapshotSet: session.c */
        },
        [SESSION_IN_PREPARE_FOR_BACKUP] = {
                "PrepareForBackup", false, KIND_BACKUP, false, false,
                "PrepareForBackup needs InitializeForBackup first", "PrepareForBackup was already called", NULL,
                { STEP(BACKUP) }, /* SetBackupState, the gather, the set first: session.c */
        },
        [SESSION_IN_DO_SNAPSHOT_SET] = {
                "DoSnapshotSet", false, KIND_BACKUP, false, false,
                "DoSnapshotSet needs StartSnapshotSet first", "DoSnapshotSet was already called", NULL,
                /* BACKUP: only in a context without writers (session.c) */
                { STEP(BACKUP), STEP(PREPARED) },
        },
        [SESSION_IN_SET_BACKUP_SUCCEEDED] = {
                "SetBackupSucceeded", false, KIND_BACKUP, false, false,
                "SetBackupSucceeded belongs between DoSnapshotSet and BackupComplete",
                "SetBackupSucceeded belongs between DoSnapshotSet and BackupComplete", NULL,
                { STAY(SNAPSHOT_DONE) },
        },
        [SESSION_IN_BACKUP_COMPLETE] = {
                "BackupComplete", false, KIND_BACKUP, false, false,
                "BackupComplete needs a successful DoSnapshotSet", "BackupComplete was already called", NULL,
                { STEP(SNAPSHOT_DONE) },
        },
        [SESSION_IN_ABORT_BACKUP] = {
                "AbortBackup", false, KIND_BACKUP, false, false,
                "AbortBackup needs InitializeForBackup first", NULL, NULL,
                /* BACKUP with no set started: nothing is under way, VSS ignores it (session.c) */
                { STEP(BACKUP), STEP(PREPARED), STEP(SNAPSHOT_DONE), STEP(BACKUP_COMPLETE), STEP(COMPLETED),
                  STEP(ABORTED) },
        },
        [SESSION_IN_GATHER_STATUS] = {
                "GatherWriterStatus", false, KIND_ANY, true, false,
                NULL, NULL, NULL,
                /* WS-3: the gather after BackupComplete completes the session (not while a step runs: session.c);
                 * a restore not gathered yet runs Identify first (WS-12, session.c) */
                { STAY(NEW), STAY(BACKUP), STAY(PREPARED), STAY(SNAPSHOT_DONE),
                  { true, SESSION_STATE_BACKUP_COMPLETE, SESSION_ACT_COMPLETE, SESSION_STATE_COMPLETED }, STAY(COMPLETED),
                  STAY(ABORTED), STAY(RESTORE) },
        },
        [SESSION_IN_SET_SELECTED_FOR_RESTORE] = {
                "SetSelectedForRestore", false, KIND_RESTORE, false, false,
                "SetSelectedForRestore needs InitializeForRestore first",
                "SetSelectedForRestore must come before PreRestore", NULL,
                { STAY(RESTORE) },
        },
        [SESSION_IN_SET_FILE_RESTORE_STATUS] = {
                "SetFileRestoreStatus", false, KIND_RESTORE, false, false,
                "SetFileRestoreStatus belongs between PreRestore and PostRestore",
                "SetFileRestoreStatus belongs between PreRestore and PostRestore", NULL,
                { STAY(PRE_RESTORED) },
        },
        [SESSION_IN_PRE_RESTORE] = {
                "PreRestore", false, KIND_RESTORE, false, false,
                "PreRestore and PostRestore need InitializeForRestore first", "PreRestore was already called", NULL,
                { STEP(RESTORE) },
        },
        [SESSION_IN_POST_RESTORE] = {
                "PostRestore", false, KIND_RESTORE, false, false,
                "PostRestore comes once, after PreRestore", "PostRestore comes once, after PreRestore", NULL,
                { STEP(PRE_RESTORED) },
        },
        [SESSION_IN_RELEASE] = {
                "Release", false, KIND_ANY, false, false,
                NULL, NULL, "A step is still running; cancel or wait for it first",
                { STEP(NEW), STEP(BACKUP), STEP(PREPARED), STEP(SNAPSHOT_DONE), STEP(BACKUP_COMPLETE),
                  STEP(COMPLETED), STEP(ABORTED), STEP(RESTORE) }, /* the rest of the live states below */
        },

        [SESSION_IN_SAVE_AS_XML] = {
                "SaveAsXml", false, KIND_ANY, false, true,
                "SaveAsXml needs InitializeForBackup or InitializeForRestore first", NULL, NULL, { { 0 } },
        },

        /* events */
        [SESSION_IN_PREPARE_BACKUP_DONE] = { "PrepareForBackup done", true, .cells = { MOVE(BACKUP, PREPARED) } },
        [SESSION_IN_SNAPSHOT_SET_DONE] = {
                "DoSnapshotSet done", true,
                .cells = { MOVE(BACKUP, SNAPSHOT_DONE), MOVE(PREPARED, SNAPSHOT_DONE) },
        },
        [SESSION_IN_BACKUP_COMPLETE_DONE] = {
                "BackupComplete done", true, .cells = { MOVE(SNAPSHOT_DONE, BACKUP_COMPLETE) },
        },
        [SESSION_IN_ABORT_DONE] = {
                "Abort done", true,
                /* a completed session stays completed (the gather came first) */
                .cells = { MOVE(BACKUP, ABORTED), MOVE(PREPARED, ABORTED), MOVE(SNAPSHOT_DONE, ABORTED),
                           MOVE(BACKUP_COMPLETE, ABORTED), MOVE(COMPLETED, COMPLETED), MOVE(ABORTED, ABORTED) },
        },
        [SESSION_IN_PRE_RESTORE_DONE] = { "PreRestore done", true, .cells = { MOVE(RESTORE, PRE_RESTORED) } },
        [SESSION_IN_POST_RESTORE_DONE] = {
                "PostRestore done", true, .cells = { MOVE(PRE_RESTORED, POST_RESTORED) },
        },
        [SESSION_IN_SHUTDOWN] = { .name = "BackupShutdown", .event = true }, /* every live state: below */
        [SESSION_IN_ENDED] = {
                "ended", true,
                .cells = { MOVE(NEW, ENDED_INCOMPLETE), MOVE(BACKUP, ENDED_INCOMPLETE),
                           MOVE(PREPARED, ENDED_INCOMPLETE), MOVE(SNAPSHOT_DONE, ENDED_INCOMPLETE),
                           MOVE(BACKUP_COMPLETE, ENDED_RELEASED), MOVE(COMPLETED, ENDED_COMPLETED),
                           MOVE(ABORTED, ENDED_ABORTED), MOVE(RESTORE, ENDED_INCOMPLETE) },
        },
        [SESSION_IN_ENDED_REQUESTER_GONE] = {
                "ended, requester gone", true, .cells = { MOVE(COMPLETED, ENDED_COMPLETED) }, /* else aborted */
        },
        [SESSION_IN_ENDED_EXTERNAL] = {
                "external session ended", true,
                .cells = { MOVE(BACKUP_COMPLETE, ENDED_COMPLETED), MOVE(COMPLETED, ENDED_COMPLETED) }, /* else aborted */
        },
};

/* Rows whose cells do not fit in 8: the live states left over. */
static bool extra_cell(SessionState state, SessionInput input, Cell *ret) {
        switch (input) {
        case SESSION_IN_GATHER_STATUS:
                if (state == SESSION_STATE_PRE_RESTORED || state == SESSION_STATE_POST_RESTORED) {
                        *ret = (Cell) { true, state, SESSION_ACT_NONE, state };
                        return true;
                }
                return false;
        case SESSION_IN_RELEASE:
                if (state == SESSION_STATE_PRE_RESTORED || state == SESSION_STATE_POST_RESTORED) {
                        *ret = (Cell) { true, state, SESSION_ACT_STEP, state };
                        return true;
                }
                return false;
        case SESSION_IN_SHUTDOWN:
                /* every live state: BackupShutdown goes out, the state remembers where it came from (session.c) */
                *ret = (Cell) { true, state, SESSION_ACT_MOVE, SESSION_STATE_RELEASING };
                return true;
        case SESSION_IN_ENDED:
                if (state == SESSION_STATE_PRE_RESTORED) {
                        *ret = (Cell) { true, state, SESSION_ACT_MOVE, SESSION_STATE_ENDED_INCOMPLETE };
                        return true;
                }
                if (state == SESSION_STATE_POST_RESTORED) {
                        *ret = (Cell) { true, state, SESSION_ACT_MOVE, SESSION_STATE_ENDED_COMPLETED };
                        return true;
                }
                return false;
        case SESSION_IN_ENDED_REQUESTER_GONE:
        case SESSION_IN_ENDED_EXTERNAL:
                /* WS-13: without the requester, what had not completed is aborted */
                *ret = (Cell) { true, state, SESSION_ACT_MOVE, SESSION_STATE_ENDED_ABORTED };
                return true;
        default:
                return false;
        }
}

static const Row *row_of(SessionInput input) {
        if ((unsigned) input >= _SESSION_IN_MAX)
                return NULL;
        return &rows[input];
}

static bool find_cell(const Row *row, SessionState state, SessionInput input, Cell *ret) {
        if (row->initialized) {
                if (state == SESSION_STATE_NEW || session_state_is_ended(state) || state == SESSION_STATE_RELEASING)
                        return false;
                *ret = (Cell) { true, state, SESSION_ACT_NONE, state };
                return true;
        }
        for (size_t i = 0; i < ELEMS(row->cells); i++) {
                const Cell *c = &row->cells[i];
                if (c->set && c->in == state) {
                        *ret = *c;
                        return true;
                }
        }
        return extra_cell(state, input, ret);
}

/* Has @state not yet reached @row's place: not initialized, the other kind, or before its first allowed state? */
static bool is_early(const Row *row, SessionState state) {
        int first = -1;

        if (state_place[state].kind == KIND_ANY)
                return true;
        if (row->kind != KIND_ANY && row->kind != state_place[state].kind)
                return true;
        for (size_t i = 0; i < ELEMS(row->cells); i++)
                if (row->cells[i].set)
                        if (state_place[row->cells[i].in].kind == state_place[state].kind &&
                            (first < 0 || state_place[row->cells[i].in].rank < first))
                                first = state_place[row->cells[i].in].rank;
        return first >= 0 && state_place[state].rank < first;
}

bool session_state_rule(SessionState state, bool busy, SessionInput input, SessionRule *ret) {
        const Row *row = row_of(input);
        Cell cell;

        *ret = (SessionRule) { .allowed = false, .next = state, .refusal = VSS_E_UNEXPECTED,
                               .why = "Unknown session state or input" };
        if (!row || (unsigned) state >= _SESSION_STATE_MAX)
                return false;

        if (row->event) {
                if (session_state_is_ended(state) || state == SESSION_STATE_RELEASING ||
                    !find_cell(row, state, input, &cell)) {
                        ret->why = "Not expected in this state";
                        return false;
                }
                *ret = (SessionRule) { .allowed = true, .action = cell.action, .next = cell.next, .while_busy = true };
                return true;
        }

        /* every call: an ended session (Release: nothing to do) */
        if (session_state_is_ended(state) || state == SESSION_STATE_RELEASING) {
                if (input == SESSION_IN_RELEASE) {
                        *ret = (SessionRule) { .allowed = true, .action = SESSION_ACT_IGNORE, .next = state,
                                               .while_busy = true };
                        return true;
                }
                *ret = (SessionRule) { .next = state, .refusal = VSS_E_BAD_STATE, .why = "The session has ended" };
                return false;
        }
        /* every call: one step at a time (WS-11) */
        if (busy && !row->while_busy) {
                *ret = (SessionRule) { .next = state, .refusal = VSS_E_BAD_STATE,
                                       .why = row->busy ? row->busy : "Another step of this session is still running" };
                return false;
        }
        if (find_cell(row, state, input, &cell)) {
                if (busy && cell.action == SESSION_ACT_COMPLETE) {
                        /* WS-3: a gather while a step runs only reads; the one after it completes */
                        cell.action = SESSION_ACT_NONE;
                        cell.next = state;
                }
                *ret = (SessionRule) { .allowed = true, .action = cell.action, .next = cell.next,
                                       .while_busy = row->while_busy };
                return true;
        }
        *ret = (SessionRule) { .next = state, .refusal = VSS_E_BAD_STATE,
                               .why = is_early(row, state) && row->early ? row->early
                                      : row->late                          ? row->late
                                                                           : row->early };
        if (!ret->why)
                ret->why = "Not allowed in this state of the session";
        return false;
}

static const char *const state_names[_SESSION_STATE_MAX] = {
        [SESSION_STATE_NEW] = "new",
        [SESSION_STATE_BACKUP] = "backup",
        [SESSION_STATE_PREPARED] = "prepared",
        [SESSION_STATE_SNAPSHOT_DONE] = "snapshot set done",
        [SESSION_STATE_BACKUP_COMPLETE] = "backup complete",
        [SESSION_STATE_COMPLETED] = "completed",
        [SESSION_STATE_ABORTED] = "aborted",
        [SESSION_STATE_RESTORE] = "restore",
        [SESSION_STATE_PRE_RESTORED] = "pre-restored",
        [SESSION_STATE_POST_RESTORED] = "post-restored",
        [SESSION_STATE_RELEASING] = "releasing",
        [SESSION_STATE_ENDED_COMPLETED] = "ended completed",
        [SESSION_STATE_ENDED_ABORTED] = "ended aborted",
        [SESSION_STATE_ENDED_RELEASED] = "released without the final gather",
        [SESSION_STATE_ENDED_INCOMPLETE] = "ended incomplete",
};

const char *session_state_name(SessionState state) {
        return (unsigned) state < _SESSION_STATE_MAX ? state_names[state] : NULL;
}

const char *session_input_name(SessionInput input) {
        const Row *row = row_of(input);
        return row ? row->name : NULL;
}

bool session_state_is_ended(SessionState state) {
        return state >= SESSION_STATE_ENDED_COMPLETED && state < _SESSION_STATE_MAX;
}

bool session_state_is_backup(SessionState state) {
        return (unsigned) state < _SESSION_STATE_MAX && state_place[state].kind == KIND_BACKUP &&
               !session_state_is_ended(state) && state != SESSION_STATE_RELEASING;
}

bool session_state_is_restore(SessionState state) {
        return (unsigned) state < _SESSION_STATE_MAX && state_place[state].kind == KIND_RESTORE &&
               !session_state_is_ended(state) && state != SESSION_STATE_RELEASING;
}

/* issue 8 item 6: the history-incomplete variants are static texts too (they outlive the session). */
#define LOST ", writer-status history incomplete"
#define TEXT(t) { t, t LOST }

const char *session_state_admin_text(SessionState state, bool restore, bool history_lost) {
        static const char *const texts[][2] = {
                TEXT("in progress"),
                TEXT("completed"),
                TEXT("aborted"),
                TEXT("ending"),
                TEXT("released without the final GatherWriterStatus"),
                TEXT("ended without BackupComplete"),
                TEXT("ended without PostRestore"),
                TEXT("unknown"),
        };
        size_t i;

        switch (state) {
        case SESSION_STATE_COMPLETED:
        case SESSION_STATE_ENDED_COMPLETED:
                i = 1;
                break;
        case SESSION_STATE_ABORTED:
        case SESSION_STATE_ENDED_ABORTED:
                i = 2;
                break;
        case SESSION_STATE_RELEASING:
                i = 3;
                break;
        case SESSION_STATE_ENDED_RELEASED:
                i = 4;
                break;
        case SESSION_STATE_ENDED_INCOMPLETE:
                i = restore ? 6 : 5;
                break;
        default:
                i = (unsigned) state < _SESSION_STATE_MAX ? 0 : 7;
                break;
        }
        return texts[i][history_lost];
}

vss_writer_session_state session_state_writer_outcome(SessionState state) {
        switch (state) {
        case SESSION_STATE_COMPLETED:
        case SESSION_STATE_ENDED_COMPLETED:
                return VSS_SESSION_COMPLETED;
        case SESSION_STATE_ABORTED:
        case SESSION_STATE_ENDED_ABORTED:
                return VSS_SESSION_ABORTED;
        case SESSION_STATE_ENDED_RELEASED:
        case SESSION_STATE_ENDED_INCOMPLETE:
                return VSS_SESSION_RELEASED;
        default:
                return VSS_SESSION_IN_PROGRESS;
        }
}

const char *session_state_catalog_text(SessionState state) {
        switch (state) {
        case SESSION_STATE_ENDED_COMPLETED:
                return "completed";
        case SESSION_STATE_ENDED_ABORTED:
                return "aborted";
        case SESSION_STATE_ENDED_RELEASED:
        case SESSION_STATE_ENDED_INCOMPLETE:
                return "ended";
        default:
                return NULL;
        }
}

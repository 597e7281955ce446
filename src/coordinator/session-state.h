/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The life of a requester session, as one table (issue 11 §2).
 *
 * A session is in one SessionState. Every requester call that changes a
 * session, and every step's end, is a SessionInput; the table says, for
 * each (state, input), whether the input is allowed, and if so the state it
 * leads to (for a call that starts a step: the state the step's own "done"
 * input leads to is its own row), or, if not, the VSS error and the message
 * the requester gets (WS-11; vss-reference.md: VSS_E_BAD_STATE for a call
 * out of order). A running step is not a state of its own: while one runs,
 * only the inputs marked 'while busy' are taken (WS-8: GatherWriterStatus
 * reads the table as it is), every other call gets VSS_E_BAD_STATE.
 *
 * What is data, not state, stays with the session: whether the metadata was
 * gathered and whether a snapshot set was started (both may come in either
 * order while the state is SESSION_STATE_BACKUP), the backup state, the
 * context. session.c checks those after the table allowed the input.
 *
 * Pure C, no sd-bus: src/coordinator/test-session-state.c walks every pair.
 */

#include <stdbool.h>

#include <lvss/types.h>
#include <lvss/writer.h>

typedef enum SessionState {
        SESSION_STATE_NEW,             /* opened, not initialized */
        SESSION_STATE_BACKUP,          /* InitializeForBackup: gather, components, the set */
        SESSION_STATE_PREPARED,        /* PrepareForBackup done */
        SESSION_STATE_SNAPSHOT_DONE,   /* DoSnapshotSet succeeded */
        SESSION_STATE_BACKUP_COMPLETE, /* BackupComplete done; the final GatherWriterStatus not yet (WS-3) */
        SESSION_STATE_COMPLETED,       /* status gathered after BackupComplete (WS-3) */
        SESSION_STATE_ABORTED,         /* Abort went to the writers (AbortBackup, cancel, idle, WS-13) */
        SESSION_STATE_RESTORE,         /* InitializeForRestore */
        SESSION_STATE_PRE_RESTORED,    /* PreRestore done */
        SESSION_STATE_POST_RESTORED,   /* PostRestore done */
        SESSION_STATE_RELEASING,       /* BackupShutdown on its way (Release, or the requester went) */
        /* ended: how (issue 11 §2: never "ended" read as completed) */
        SESSION_STATE_ENDED_COMPLETED,  /* after the final gather (WS-3), or a restore through PostRestore */
        SESSION_STATE_ENDED_ABORTED,    /* aborted, or the requester went before it completed (WS-13) */
        SESSION_STATE_ENDED_RELEASED,   /* released after BackupComplete without the final gather */
        SESSION_STATE_ENDED_INCOMPLETE, /* released before BackupComplete (restore: before PostRestore) */
        _SESSION_STATE_MAX,
} SessionState;

typedef enum SessionInput {
        /* requester calls */
        SESSION_IN_INITIALIZE_BACKUP,
        SESSION_IN_INITIALIZE_RESTORE,
        SESSION_IN_SET_CONTEXT,
        SESSION_IN_SET_BACKUP_STATE,
        SESSION_IN_GATHER_METADATA,
        SESSION_IN_ADD_COMPONENT,
        SESSION_IN_START_SNAPSHOT_SET,
        SESSION_IN_ADD_TO_SNAPSHOT_SET,
        SESSION_IN_PREPARE_FOR_BACKUP,
        SESSION_IN_DO_SNAPSHOT_SET,
        SESSION_IN_SET_BACKUP_SUCCEEDED,
        SESSION_IN_BACKUP_COMPLETE,
        SESSION_IN_ABORT_BACKUP,
        SESSION_IN_GATHER_STATUS,
        SESSION_IN_SET_SELECTED_FOR_RESTORE,
        SESSION_IN_SET_FILE_RESTORE_STATUS,
        SESSION_IN_PRE_RESTORE,
        SESSION_IN_POST_RESTORE,
        SESSION_IN_RELEASE,
        SESSION_IN_SAVE_AS_XML,
        /* events: a step ended well, or the session ends */
        SESSION_IN_PREPARE_BACKUP_DONE,
        SESSION_IN_SNAPSHOT_SET_DONE,
        SESSION_IN_BACKUP_COMPLETE_DONE,
        SESSION_IN_ABORT_DONE,
        SESSION_IN_PRE_RESTORE_DONE,
        SESSION_IN_POST_RESTORE_DONE,
        SESSION_IN_SHUTDOWN,           /* lvssd sends BackupShutdown (Release, idle, requester gone) */
        SESSION_IN_ENDED,              /* BackupShutdown done, the requester still there */
        SESSION_IN_ENDED_REQUESTER_GONE, /* BackupShutdown done, or could not go, without the requester (WS-13) */
        SESSION_IN_ENDED_EXTERNAL,     /* an external session (issue 10) ended */
        _SESSION_IN_MAX,
} SessionInput;

/* What the domain does with an allowed input. */
typedef enum SessionAction {
        SESSION_ACT_NONE,       /* record the call's data; no writer is asked */
        SESSION_ACT_STEP,       /* start the step (a fan-out, DoSnapshotSet); its 'done' input moves the state */
        SESSION_ACT_IGNORE,     /* allowed, nothing happens (Release of an ended session) */
        SESSION_ACT_COMPLETE,   /* WS-3: this gather completes the session */
        SESSION_ACT_MOVE,       /* an event: move to 'next' */
} SessionAction;

typedef struct SessionRule {
        bool allowed;
        SessionAction action;
        SessionState next;   /* allowed: the state after the input (a step: unchanged until its 'done') */
        bool while_busy;     /* allowed also while a step runs */
        vss_hresult refusal; /* not allowed: the VSS error */
        const char *why;     /* not allowed: the message (static) */
} SessionRule;

/*
 * session_state_rule() - the rule for @input in @state, a step running or
 * not (@busy). Always fills *ret: out-of-range values are refused with
 * VSS_E_UNEXPECTED. Returns true when the input is allowed.
 */
bool session_state_rule(SessionState state, bool busy, SessionInput input, SessionRule *ret);

/* "backup complete" (static), or NULL when out of range. */
const char *session_state_name(SessionState state);
/* "BackupComplete" (static), or NULL when out of range. */
const char *session_input_name(SessionInput input);
bool session_state_is_ended(SessionState state);
/* Is @state (not ended) one of a backup's / a restore's? */
bool session_state_is_backup(SessionState state);
bool session_state_is_restore(SessionState state);
/* The admin view's words for the session's outcome: "in progress", "completed",
 * "aborted", "released without the final GatherWriterStatus", "ended without
 * BackupComplete"... (static; they outlive the session). */
const char *session_state_admin_text(SessionState state, bool restore, bool history_lost);
/* What the writers are told when the session has ended in @state (SessionChanged). */
vss_writer_session_state session_state_writer_outcome(SessionState state);
/* The catalog's end state: "completed", "aborted" or "ended". */
const char *session_state_catalog_text(SessionState state);

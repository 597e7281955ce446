/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The writer state machine of writer-status.md, as one table.
 *
 * For every event: the state a writer moves to when it handles the event
 * well, and the FAILED_AT state it moves to when it fails it (WS-4, WS-5).
 * While an event is outstanding the state does not move: the writer shows
 * the state it had, which is the "waiting for" state of that event, with
 * event_in_progress set (WS-8). Abort and BackupShutdown leave a failed
 * state as it is (nothing to undo in the status).
 */

#include <stdbool.h>

#include <lvss/types.h>

typedef struct lvss_event_rule {
        vss_writer_event event;
        const char *name;            /* "Freeze" */
        vss_writer_state on_success; /* VSS_WS_UNKNOWN: unchanged */
        vss_writer_state on_failure; /* VSS_WS_UNKNOWN: unchanged (Abort) */
        bool keeps_failed;           /* a failed writer keeps its failed state */
} lvss_event_rule;

/* The rule for @e, or NULL when @e is out of range or VSS_EVENT_NONE. */
const lvss_event_rule *lvss_event_rule_get(vss_writer_event e);

/* State after @e ended; @ok false: it failed (handler false, failure set, timeout, or death). */
vss_writer_state lvss_state_after_event(vss_writer_state current, vss_writer_event e, bool ok);

bool lvss_state_is_failed(vss_writer_state s);

/* Parse "Freeze" (case-insensitive) or a number; returns VSS_EVENT_NONE when unknown. */
vss_writer_event lvss_event_from_name(const char *name);

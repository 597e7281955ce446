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
#include <stdint.h>

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

/*
 * Which events a writer wants delivered (issue 11 §5). A writer library
 * declares at SubscribeWriter a set of events as bits (1u << event); lvssd
 * answers every other *skippable* event itself, as a handler that does
 * nothing would (the on_success state of the table above, duration 0).
 *
 * Never skippable, whatever a writer declares: Identify (WS-1: it gates
 * status and carries the metadata), Freeze, Thaw, Abort and BackupShutdown
 * (the writer library acts on them itself: the deadman of WS-6, the thaw on a
 * dropped connection, the session state of WS-3).
 */
#define LVSS_EVENTS_ALL UINT32_C(0xffffffff)
#define LVSS_EVENT_BIT(e) (UINT32_C(1) << (unsigned) (e))

/* Whether lvssd may answer @e for a writer that did not declare it. */
bool lvss_event_skippable(vss_writer_event e);

/* Whether lvssd delivers @e to a writer that declared @handled (LVSS_EVENTS_ALL: an old writer). */
bool lvss_event_delivered(uint32_t handled, vss_writer_event e);

/*
 * The events the writer library asks for, from the application's callbacks
 * (NULL: none set). The library needs an event delivered when a handler that
 * could act on it is set; the per-event data (backup type, components, the
 * snapshot set and paths) comes with every event that uses it, so no event is
 * needed only for its data:
 *   PrepareForBackup  on_prepare_backup
 *   PrepareForSnapshot on_prepare_snapshot, or on_prepare_backup with on_abort
 *                     (from PrepareForSnapshot on, a dropped connection calls
 *                     on_abort, which may undo what on_prepare_backup did)
 *   PostSnapshot      on_post_snapshot
 *   BackupComplete    on_backup_complete
 *   PreRestore        on_pre_restore
 *   PostRestore       on_post_restore
 * plus every event that is not skippable.
 */
struct vss_writer_callbacks;
uint32_t lvss_writer_events_wanted(const struct vss_writer_callbacks *cb);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <strings.h>

#include <lvss/writer.h>

#include "abi.h"
#include "state.h"
#include "util.h"

static const char *const state_names[VSS_WS_COUNT] = {
        [VSS_WS_UNKNOWN] = "VSS_WS_UNKNOWN",
        [VSS_WS_STABLE] = "VSS_WS_STABLE",
        [VSS_WS_WAITING_FOR_FREEZE] = "VSS_WS_WAITING_FOR_FREEZE",
        [VSS_WS_WAITING_FOR_THAW] = "VSS_WS_WAITING_FOR_THAW",
        [VSS_WS_WAITING_FOR_POST_SNAPSHOT] = "VSS_WS_WAITING_FOR_POST_SNAPSHOT",
        [VSS_WS_WAITING_FOR_BACKUP_COMPLETE] = "VSS_WS_WAITING_FOR_BACKUP_COMPLETE",
        [VSS_WS_FAILED_AT_IDENTIFY] = "VSS_WS_FAILED_AT_IDENTIFY",
        [VSS_WS_FAILED_AT_PREPARE_BACKUP] = "VSS_WS_FAILED_AT_PREPARE_BACKUP",
        [VSS_WS_FAILED_AT_PREPARE_SNAPSHOT] = "VSS_WS_FAILED_AT_PREPARE_SNAPSHOT",
        [VSS_WS_FAILED_AT_FREEZE] = "VSS_WS_FAILED_AT_FREEZE",
        [VSS_WS_FAILED_AT_THAW] = "VSS_WS_FAILED_AT_THAW",
        [VSS_WS_FAILED_AT_POST_SNAPSHOT] = "VSS_WS_FAILED_AT_POST_SNAPSHOT",
        [VSS_WS_FAILED_AT_BACKUP_COMPLETE] = "VSS_WS_FAILED_AT_BACKUP_COMPLETE",
        [VSS_WS_FAILED_AT_PRE_RESTORE] = "VSS_WS_FAILED_AT_PRE_RESTORE",
        [VSS_WS_FAILED_AT_POST_RESTORE] = "VSS_WS_FAILED_AT_POST_RESTORE",
        [VSS_WS_FAILED_AT_BACKUPSHUTDOWN] = "VSS_WS_FAILED_AT_BACKUPSHUTDOWN",
};

static const char *const state_texts[VSS_WS_COUNT] = {
        [VSS_WS_UNKNOWN] = "Unknown",
        [VSS_WS_STABLE] = "Stable",
        [VSS_WS_WAITING_FOR_FREEZE] = "Waiting for freeze",
        [VSS_WS_WAITING_FOR_THAW] = "Frozen",
        [VSS_WS_WAITING_FOR_POST_SNAPSHOT] = "Waiting for completion",
        [VSS_WS_WAITING_FOR_BACKUP_COMPLETE] = "Waiting for completion",
};

_public_ const char *vss_writer_state_name(vss_writer_state s) {
        if ((unsigned) s >= VSS_WS_COUNT)
                return NULL;
        return state_names[s];
}

_public_ const char *vss_writer_state_text(vss_writer_state s) {
        if ((unsigned) s >= VSS_WS_COUNT)
                return "Unknown";
        if (lvss_state_is_failed(s))
                return "Failed";
        return state_texts[s];
}

bool lvss_state_is_failed(vss_writer_state s) {
        return s >= VSS_WS_FAILED_AT_IDENTIFY && s <= VSS_WS_FAILED_AT_BACKUPSHUTDOWN;
}

/* The table (writer-status.md "Sequences"). */
static const lvss_event_rule event_rules[VSS_EVENT_COUNT] = {
        [VSS_EVENT_IDENTIFY] = { VSS_EVENT_IDENTIFY, "Identify", VSS_WS_UNKNOWN, VSS_WS_FAILED_AT_IDENTIFY, false },
        [VSS_EVENT_PREPARE_BACKUP] = { VSS_EVENT_PREPARE_BACKUP, "PrepareForBackup", VSS_WS_STABLE,
                                       VSS_WS_FAILED_AT_PREPARE_BACKUP, false },
        [VSS_EVENT_PREPARE_SNAPSHOT] = { VSS_EVENT_PREPARE_SNAPSHOT, "PrepareForSnapshot", VSS_WS_WAITING_FOR_FREEZE,
                                         VSS_WS_FAILED_AT_PREPARE_SNAPSHOT, false },
        [VSS_EVENT_FREEZE] = { VSS_EVENT_FREEZE, "Freeze", VSS_WS_WAITING_FOR_THAW, VSS_WS_FAILED_AT_FREEZE, false },
        [VSS_EVENT_THAW] = { VSS_EVENT_THAW, "Thaw", VSS_WS_WAITING_FOR_POST_SNAPSHOT, VSS_WS_FAILED_AT_THAW, false },
        [VSS_EVENT_POST_SNAPSHOT] = { VSS_EVENT_POST_SNAPSHOT, "PostSnapshot", VSS_WS_WAITING_FOR_BACKUP_COMPLETE,
                                      VSS_WS_FAILED_AT_POST_SNAPSHOT, false },
        [VSS_EVENT_ABORT] = { VSS_EVENT_ABORT, "Abort", VSS_WS_STABLE, VSS_WS_UNKNOWN, true },
        [VSS_EVENT_BACKUP_COMPLETE] = { VSS_EVENT_BACKUP_COMPLETE, "BackupComplete", VSS_WS_STABLE,
                                        VSS_WS_FAILED_AT_BACKUP_COMPLETE, false },
        [VSS_EVENT_BACKUP_SHUTDOWN] = { VSS_EVENT_BACKUP_SHUTDOWN, "BackupShutdown", VSS_WS_STABLE,
                                        VSS_WS_FAILED_AT_BACKUPSHUTDOWN, true },
        [VSS_EVENT_PRE_RESTORE] = { VSS_EVENT_PRE_RESTORE, "PreRestore", VSS_WS_STABLE, VSS_WS_FAILED_AT_PRE_RESTORE,
                                    false },
        [VSS_EVENT_POST_RESTORE] = { VSS_EVENT_POST_RESTORE, "PostRestore", VSS_WS_STABLE,
                                     VSS_WS_FAILED_AT_POST_RESTORE, false },
};

const lvss_event_rule *lvss_event_rule_get(vss_writer_event e) {
        if (e <= VSS_EVENT_NONE || e >= VSS_EVENT_COUNT)
                return NULL;
        return &event_rules[e];
}

_public_ const char *vss_writer_event_name(vss_writer_event e) {
        if (e == VSS_EVENT_NONE)
                return "None";
        const lvss_event_rule *r = lvss_event_rule_get(e);
        return r ? r->name : NULL;
}

vss_writer_state lvss_state_after_event(vss_writer_state current, vss_writer_event e, bool ok) {
        const lvss_event_rule *r = lvss_event_rule_get(e);
        vss_writer_state next;

        if (!r)
                return current;
        if (r->keeps_failed && lvss_state_is_failed(current))
                return current;
        next = ok ? r->on_success : r->on_failure;
        return next == VSS_WS_UNKNOWN ? current : next;
}

vss_writer_event lvss_event_from_name(const char *name) {
        if (!name)
                return VSS_EVENT_NONE;
        for (int e = VSS_EVENT_IDENTIFY; e < VSS_EVENT_COUNT; e++)
                if (strcasecmp(event_rules[e].name, name) == 0)
                        return (vss_writer_event) e;
        return VSS_EVENT_NONE;
}

bool lvss_event_skippable(vss_writer_event e) {
        switch (e) {
        case VSS_EVENT_PREPARE_BACKUP:
        case VSS_EVENT_PREPARE_SNAPSHOT:
        case VSS_EVENT_POST_SNAPSHOT:
        case VSS_EVENT_BACKUP_COMPLETE:
        case VSS_EVENT_PRE_RESTORE:
        case VSS_EVENT_POST_RESTORE:
                return true;
        default:
                return false;
        }
}

bool lvss_event_delivered(uint32_t handled, vss_writer_event e) {
        if (!lvss_event_skippable(e))
                return true;
        return (handled & LVSS_EVENT_BIT(e)) != 0;
}

uint32_t lvss_writer_events_wanted(const struct vss_writer_callbacks *cb) {
        uint32_t m = 0;

        for (int e = VSS_EVENT_IDENTIFY; e < VSS_EVENT_COUNT; e++)
                if (!lvss_event_skippable((vss_writer_event) e))
                        m |= LVSS_EVENT_BIT(e);
        if (!cb)
                return m;
        if (cb->on_prepare_backup)
                m |= LVSS_EVENT_BIT(VSS_EVENT_PREPARE_BACKUP);
        if (cb->on_prepare_snapshot || (cb->on_prepare_backup && cb->on_abort))
                m |= LVSS_EVENT_BIT(VSS_EVENT_PREPARE_SNAPSHOT);
        if (cb->on_post_snapshot)
                m |= LVSS_EVENT_BIT(VSS_EVENT_POST_SNAPSHOT);
        if (cb->on_backup_complete)
                m |= LVSS_EVENT_BIT(VSS_EVENT_BACKUP_COMPLETE);
        if (cb->on_pre_restore)
                m |= LVSS_EVENT_BIT(VSS_EVENT_PRE_RESTORE);
        if (cb->on_post_restore)
                m |= LVSS_EVENT_BIT(VSS_EVENT_POST_RESTORE);
        return m;
}

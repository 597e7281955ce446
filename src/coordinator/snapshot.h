/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * snapshot.c: DoSnapshotSet: PrepareForSnapshot, Freeze, the hold window,
 * Thaw, PostSnapshot, vetoes (WS-6, WS-7); shadow copy cleanup; recovery
 * at start-up.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "forward.h"
#include "providers/provider.h"

/* DoSnapshotSet: starts the phases; @done is called once when the set ended, with its result (a
 * success: the set is made). issue 11 §2: the snapshot set ends through it, not by calling the
 * session layer by name. */
typedef void (*snapshot_set_done_t)(Session *s, vss_hresult hr);
int snapshot_set_run(Session *s, snapshot_set_done_t done);
void snapshot_set_kill_commit(Session *s);       /* requester gone / cancel during commit */
int snapshot_delete_auto_release(Session *s);    /* release / abort: auto-release copies go */
Snapshot *snapshot_free(Snapshot *snap);
lvss_provider *manager_pick_provider(Manager *m, const vss_id *provider_id, const char *volume, vss_id *ret_id);
void manager_recover(Manager *m);               /* start-up: orphans from the catalog */
int context_append_set(Session *s, sd_bus_message *m, bool with_paths);
/* External sessions (issue 10 part 2): the hold between Freeze and Thaw ends:
 * @hr VSS_S_OK thaws and goes on to PostSnapshot; a failure aborts the set. */
void snapshot_external_release(Session *s, vss_hresult hr, const char *why);


struct Snapshot {
        lvss_snapshot p;   /* what the provider sees */
        lvss_provider *provider;
        vss_id provider_id;
        bool in_catalog;
        bool created;
        uint64_t created_usec;
};

/* Auto-recovery (issue 9 part 2): the providers' finalize over the created
 * copies, making them read-only; once (idempotent). 0 when nothing to do. */
int snapshot_set_finalize(Session *s);

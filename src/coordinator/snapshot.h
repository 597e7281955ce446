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

/* issue 11 §2: the set's own state (its phase, the commit child, the frozen file systems, the hold
 * window, the clean-ups, finalize): opaque; a session holds one from its start (Session.set). */
/* What the set needs from its session, called back (issue 11 §2: the set does not call the
 * session layer for these by name). */
typedef struct SnapshotSetHooks {
        /* one line about the set, logged with the session's tag (LVSS_SESSION=) */
        void (*log)(void *userdata, const char *line);
        /* the set is no longer in creation: the manager's slot (Manager.set_owner) goes, if it
         * is this set's session's */
        void (*release_owner)(void *userdata);
} SnapshotSetHooks;
/* @session_id: the session's (the set's catalog rows and log lines name it). */
SnapshotSet *snapshot_set_new(Manager *m, const vss_id *session_id, const SnapshotSetHooks *hooks,
                              void *userdata);
/* After the session let go of what runs (snapshot_set_kill_commit(), snapshot_cleanup_detach()); frees
 * the set's snapshots too. */
SnapshotSet *snapshot_set_free(SnapshotSet *set);
/* The set's shadow copies (borrowed: valid until the next snapshot_set_add() or the set's end), in the
 * order they were added. */
Snapshot *const *snapshot_set_snapshots(const SnapshotSet *set, size_t *ret_n);
/* AddToSnapshotSet: the set takes @snap (0), or -ENOMEM (@snap stays the caller's). */
int snapshot_set_add(SnapshotSet *set, Snapshot *snap);
/* The copies are writable until finalize (issue 9 part 2): decided after begin_prepare. */
bool snapshot_set_auto_recovery(const SnapshotSet *set);

/* DoSnapshotSet: starts the phases; @done is called once when the set ended, with its result (a
 * success: the set is made). issue 11 §2: the snapshot set ends through it, not by calling the
 * session layer by name. */
typedef void (*snapshot_set_done_t)(Session *s, vss_hresult hr);
int snapshot_set_run(Session *s, snapshot_set_done_t done);
void snapshot_set_kill_commit(Session *s);       /* requester gone / cancel during commit */
int snapshot_delete_auto_release(Session *s);    /* release / abort: auto-release copies go (in a worker) */
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

/*
 * Issue 11 §1: the clean-ups of a set's copies run in workers (snapshot.c,
 * "clean-up"): abort, the auto-release deletion, finalize after an
 * interruption. They outlive their session if it ends first.
 */
/* A session interrupted during DoSnapshotSet (cancel, requester gone): created writable copies are
 * finalized, the rest aborted; if finalize fails, every copy is aborted. */
void snapshot_set_interrupt_cleanup(Session *s);

/*
 * Issue 11 §5: the provider steps of a set are requests to the session's worker (worker_ask(),
 * kept in the set: snapshot_set_worker()). snapshot_worker_serve() answers them in that worker:
 * 'V' (which provider takes a volume: a provider id, the volume, NUL-terminated; the answer an
 * int32 index in m->providers, -1 for none) and 'S' (a step over the set, snapshot_state_encode()).
 * @userdata: the set. snapshot_step_cancel(): the step running (if any) is killed, and its
 * answer never comes.
 */
struct Worker **snapshot_set_worker(SnapshotSet *set);
/* A provider step of the set runs (in the session's worker or a child of its own). */
bool snapshot_step_running(const SnapshotSet *set);
int snapshot_worker_serve(const uint8_t *req, size_t size, uint8_t *ans, size_t max, void *userdata);
void snapshot_step_cancel(Session *s);
/* The set's state as the worker needs it for step @step: one encoding, decoded by
 * snapshot_state_decode() into new Snapshots (snapshot_state_free()); 0, -ENOMEM, -EINVAL (a
 * provider not in m->providers), -EPROTO (not a set's state). */
int snapshot_state_encode(Manager *m, int step, Snapshot *const *snaps, size_t n, uint8_t **ret, size_t *ret_size);
int snapshot_state_decode(Manager *m, const uint8_t *data, size_t size, int *ret_step, Snapshot ***ret, size_t *ret_n);
Snapshot **snapshot_state_free(Snapshot **snaps, size_t n);
/* true: clean-ups of @s run, and @then(@s, @hr) is called once the last is done (the caller
 * returns and goes on there); false: none runs, the caller goes on now. */
bool snapshot_cleanup_wait(Session *s, void (*then)(Session *s, vss_hresult hr), vss_hresult hr);
/* The step that waited was interrupted: nothing is called when the clean-ups end. */
void snapshot_cleanup_forget_waiter(Session *s);
/* session_free(): the clean-ups of @s go on alone and write the catalog themselves. */
void snapshot_cleanup_detach(Session *s);
/* Clean-ups running (any session or none): lvssd's shutdown waits for them, bounded. */
size_t snapshot_cleanups_pending(void);

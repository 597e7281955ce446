/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * snapshot.c: the snapshot set of a session: its shadow copies, the providers' steps (in the
 * session's worker), the commit child and the hold window (WS-6), the file system freeze, the
 * clean-ups of the copies, the catalog marks; recovery at start-up. issue 11 §2: it includes no
 * session.h and no sd-bus.h (scripts/lint.sh checks it): DoSnapshotSet's phases, which send the
 * writers their events, are the session layer's (session-snapshot.c), and the set calls back
 * through SnapshotSetHooks.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lvss/types.h>

#include "forward.h"
#include "providers/provider.h"

/* issue 11 §2: the set's own state (its phase, the commit child, the frozen file systems, the hold
 * window, the clean-ups, finalize): opaque; a session holds one from its start (Session.set). */
/* What the set needs from its session, called back (issue 11 §2: the set does not call the
 * session layer by name). @userdata: the one given to snapshot_set_new(). */
typedef struct SnapshotSetHooks {
        /* one line about the set, logged with the session's tag (LVSS_SESSION=) */
        void (*log)(void *userdata, const char *line);
        /* the set is no longer in creation: the manager's slot (Manager.set_owner) goes, if it
         * is this set's session's */
        void (*release_owner)(void *userdata);
        /* the cause of the step's failure, for StepFinished (owned by the callee; NULL: none) */
        void (*detail)(void *userdata, char *text);
        /* the set failed on its own (a provider, the catalog, the commit child, the hold window):
         * veto it (WS-7: log, Abort to the writers that got PrepareForSnapshot, the set undone) */
        void (*veto)(void *userdata, vss_hresult hr, const char *why);
        /* the set is undone already: Abort to the writers, the step ends with @hr */
        void (*abort_phase)(void *userdata, vss_hresult hr);
        /* begin_prepare ran: PrepareForSnapshot (or, without writers, snapshot_set_commit()) */
        void (*prepared)(void *userdata);
        /* end_prepare ran: Freeze */
        void (*freeze)(void *userdata);
        /* the copies are made: Thaw */
        void (*committed)(void *userdata);
        /* post_commit ran and the copies are recorded: PostSnapshot */
        void (*post_committed)(void *userdata);
        /* DoSnapshotSet ended with @hr (a success: the set is made) */
        void (*done)(void *userdata, vss_hresult hr);
        /* an external session's commit (issue 10 part 2): arm the hold limit, counted from
         * @started_mono and ending no later than @writer_bound_mono (UINT64_MAX: no writer frozen),
         * and hold; *@ret_deadline_mono: when it ends. 0, or a negative errno (not armed) */
        int (*hold)(void *userdata, uint64_t started_mono, uint64_t writer_bound_mono, uint64_t *ret_deadline_mono);
        /* issue 12 §2: @volume's retention rules after a new persistent copy (admin.c) */
        void (*apply_retention)(void *userdata, const char *volume);
        /* issue 12 §2: make room under the storage limit of @volumes; snapshot_set_room_made() is
         * called once it is done. 0, or a negative errno */
        int (*make_room)(void *userdata, char *const *volumes);
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

/* DoSnapshotSet, driven by the session layer (session-snapshot.c), phase by phase. Each call
 * goes on through a hook; the set ends with .done. */
/* begin_prepare (in the session's worker) with the requester's @context; @external: the copy is
 * made outside (issue 10 part 2). Then .prepared, or a refusal (.done). */
void snapshot_set_begin(SnapshotSet *set, int32_t context, bool external);
/* PrepareForSnapshot went through: end_prepare, the commit child forked; then .freeze, or .veto. */
void snapshot_set_end_prepare(SnapshotSet *set);
/* Freeze went through (the driver noted snapshot_set_freeze_deadline()): the commit in its
 * child within the hold window; then .committed, .veto, .abort_phase, or (external) .hold. */
void snapshot_set_commit(SnapshotSet *set);
/* The earliest time (CLOCK_MONOTONIC) a frozen writer must get Thaw, and its name (borrowed for
 * the set's step); @any false: none is frozen. */
void snapshot_set_freeze_deadline(SnapshotSet *set, bool any, uint64_t deadline_mono, const char *writer);
/* The driver starts another phase: the commit's phase is over. */
void snapshot_set_phase_changed(SnapshotSet *set);
/* Thaw went through: post_commit, the copies recorded; then .post_committed, or .abort_phase. */
void snapshot_set_post_commit(SnapshotSet *set);
/* PostSnapshot went through: finalize (auto-recovery) and the catalog barrier; then .done. */
void snapshot_set_complete(SnapshotSet *set);
/* The Abort of a veto went through: .done with @hr, once a killed commit child is reaped. */
void snapshot_set_veto_done(SnapshotSet *set, vss_hresult hr);
/* An external session's thaw came in the commit: the copy is made (.committed follows). */
void snapshot_set_external_made(SnapshotSet *set);
/* issue 12 §2: the room asked for by .make_room was made (@r 0) or not: begin_prepare again, or
 * the set is refused (VSS_E_INSUFFICIENT_STORAGE). Nothing when the set no longer waits. */
void snapshot_set_room_made(SnapshotSet *set, int r);
/* The whole set is undone in a worker (abort): nothing of it is created or in the catalog any more. */
void snapshot_set_undo(SnapshotSet *set);
/* A commit child forked before Freeze and not told to go is told to abort: it makes nothing. */
void snapshot_set_abort_unstarted(SnapshotSet *set);
/* begin_prepare ran (the writers' context says whether the set is atomic, auto-recovery). */
bool snapshot_set_prepared(const SnapshotSet *set);
/* Every volume of the set is captured at one instant. */
bool snapshot_set_atomic(const SnapshotSet *set);

void snapshot_set_kill_commit(SnapshotSet *set);       /* requester gone / cancel during commit */
int snapshot_delete_auto_release(SnapshotSet *set);    /* release / abort: auto-release copies go (in a worker) */
void manager_recover(Manager *m);               /* start-up: orphans from the catalog */


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
void snapshot_set_interrupt_cleanup(SnapshotSet *set);

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
void snapshot_step_cancel(SnapshotSet *set);
/* The set's state as the worker needs it for step @step: one encoding, decoded by
 * snapshot_state_decode() into new Snapshots (snapshot_state_free()); 0, -ENOMEM, -EINVAL (a
 * provider not in m->providers), -EPROTO (not a set's state). */
int snapshot_state_encode(Manager *m, int step, Snapshot *const *snaps, size_t n, uint8_t **ret, size_t *ret_size);
int snapshot_state_decode(Manager *m, const uint8_t *data, size_t size, int *ret_step, Snapshot ***ret, size_t *ret_n);
Snapshot **snapshot_state_free(Snapshot **snaps, size_t n);
/* true: clean-ups of @set run, and @then(@data, @hr) is called once the last is done (the caller
 * returns and goes on there); false: none runs, the caller goes on now. */
bool snapshot_cleanup_wait(SnapshotSet *set, void (*then)(void *data, vss_hresult hr), void *data, vss_hresult hr);
/* The step that waited was interrupted: nothing is called when the clean-ups end. */
void snapshot_cleanup_forget_waiter(SnapshotSet *set);
/* session_free(): the clean-ups of @set go on alone and write the catalog themselves. */
void snapshot_cleanup_detach(SnapshotSet *set);
/* Clean-ups running (any session or none): lvssd's shutdown waits for them, bounded. */
size_t snapshot_cleanups_pending(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * DoSnapshotSet's phases, the session layer's part (issue 11 §2: the layers run one way, bus →
 * session → fan-out / registry / snapshot set → providers / catalog).
 *
 * The snapshot set (snapshot.c) runs the providers' steps, the commit child, the hold window,
 * the clean-ups and the catalog marks; it knows no session, writer or fan-out. This file drives
 * the writers through the set's phases (snapshot.c's top comment has the whole picture):
 *
 *   begin_prepare ─► PrepareForSnapshot ─► end_prepare ─► Freeze ─► commit ─► Thaw ─► post_commit
 *        (set)           (here)              (set)         (here)    (set)    (here)     (set)
 *   ─► PostSnapshot ─► finalize, catalog marks ─► the step's result
 *         (here)            (set)
 *
 * Each phase is one fan-out to the participating writers; its outcome (a veto at
 * PrepareForSnapshot or Freeze, WS-7; a Thaw failure, which gets that writer Abort) decides
 * what the set does next. The set calls back through SnapshotSetHooks (session_set_hooks,
 * below): a line for the session's log, the cause of a failure for StepFinished, a veto of its
 * own (provider, catalog, commit child, hold window), "send the next phase", the external
 * session's hold, and the step's end.
 */

#include <stdlib.h>

#include "basic/state.h"
#include "manager.h"
#include "fanout.h"
#include "session.h"
#include "snapshot.h"
#include "storage-hooks.h" /* issue 12 §2: retention after a new persistent copy, room under the storage limit */

/* ---- what writers see of the set (their events' context) ---------------------------------- */

/*
 * The set's part of a writer event's context, as plain data (issue 11 §2: the fan-out packs it,
 * protocol/event-context.h): from StartSnapshotSet on, the set's id and volumes; from
 * PrepareForSnapshot on, what writers can see of the snapshot (issue 9 part 1: each volume's
 * provider and whether it is one instant, the set at one instant, and whether the copies are
 * writable in PostSnapshot, issue 9 part 2); with @with_paths, the paths of the copies made.
 */
int context_fill_set(Session *s, lvss_event_context *ctx, bool with_paths) {
        size_t n;
        Snapshot *const *snaps = snapshot_set_snapshots(s->set, &n);

        ctx->has_set = true;
        ctx->set_id = s->set_id;
        if (n > 0) {
                ctx->snapshots = calloc(n, sizeof *ctx->snapshots);
                if (!ctx->snapshots)
                        return -ENOMEM;
        }
        ctx->n_snapshots = n;
        for (size_t i = 0; i < n; i++) {
                const Snapshot *snap = snaps[i];

                ctx->snapshots[i] = (lvss_event_snapshot) {
                        .volume = snap->p.volume,
                        .provider = snap->provider ? snap->provider->ops->name : "?",
                        .atomic = snap->p.atomic,
                        /* only the copies made; strempty(): an unset path went as "" */
                        .snapshot_path = snap->created ? strempty(snap->p.snapshot_path) : NULL,
                };
        }
        if (snapshot_set_prepared(s->set)) {
                ctx->has_snapshot_kind = true;
                ctx->set_atomic = snapshot_set_atomic(s->set);
                ctx->auto_recovery = snapshot_set_auto_recovery(s->set);
        }
        ctx->has_snapshot_paths = with_paths;
        return 0;
}

/* ---- the phases ------------------------------------------------------------ */

static bool is_participant(const Session *s, const Entry *e) {
        return !lvss_state_is_failed(e->state) && session_entry_participates(s, e);
}

static bool got_prepare_snapshot(const Session *s, const Entry *e) {
        return e->got_prepare_snapshot && !e->finished_post_snapshot;
}

static bool ready_to_freeze(const Session *s, const Entry *e) {
        return e->got_prepare_snapshot && e->state == VSS_WS_WAITING_FOR_FREEZE;
}

static bool is_frozen(const Session *s, const Entry *e) {
        return e->frozen;
}

static bool failed_thaw(const Session *s, const Entry *e) {
        return e->got_prepare_snapshot && e->state == VSS_WS_FAILED_AT_THAW;
}

static bool thawed(const Session *s, const Entry *e) {
        return e->got_prepare_snapshot && e->state == VSS_WS_WAITING_FOR_POST_SNAPSHOT;
}

static void phase_done(Fanout *f, void *userdata);

/* An event of the set could not be sent: the step fails (once the undo is done). */
static void phase_send_failed(void *data, vss_hresult hr) {
        Session *s = data;

        session_release_set(s);
        s->set_done(s, hr);
}

static void run_phase(Session *s, SnapPhase phase, bool (*pred)(const Session *, const Entry *),
                      vss_writer_event event) {
        int r;

        s->fanout = fanout_free(s->fanout);
        s->snap_phase = phase;
        snapshot_set_phase_changed(s->set);
        r = session_collect(s, pred);
        if (r >= 0)
                r = session_fanout(s, event, s->work, s->n_work, phase_done);
        if (r < 0) {
                log_session(s, "%s: cannot send: %s", vss_writer_event_name(event), strerror(-r));
                /* no application left frozen: those lvssd cannot thaw lose their connection */
                for (size_t i = 0; i < s->n_entries; i++)
                        entry_release_frozen(s->entries[i], vss_writer_event_name(event));
                snapshot_set_abort_unstarted(s->set);
                snapshot_set_undo(s->set);
                if (snapshot_cleanup_wait(s->set, phase_send_failed, s, VSS_E_UNEXPECTED))
                        return;
                phase_send_failed(s, VSS_E_UNEXPECTED);
        }
}

/* The first vetoing writer's code, or S_OK. */
static vss_hresult veto_of(Fanout *f) {
        for (size_t i = 0; i < f->n_targets; i++)
                if (f->targets[i].done && !f->targets[i].ok)
                        return f->targets[i].failure ? f->targets[i].failure : VSS_E_WRITERERROR_NONRETRYABLE;
        return VSS_S_OK;
}

static void veto(Session *s, vss_hresult hr, const char *why) {
        log_session(s, "snapshot set vetoed: %s: %s", why, vss_hresult_name(hr) ?: "?");
        snapshot_set_abort_unstarted(s->set);
        s->step_hr = hr;
        snapshot_set_undo(s->set);
        run_phase(s, SNAP_VETO_ABORT, got_prepare_snapshot, VSS_EVENT_ABORT);
}

/* The margin before a writer's own freeze timeout: --freeze-margin, at most a quarter of the timeout. */
static uint64_t freeze_margin_usec(const Manager *m, uint64_t freeze_timeout_usec) {
        uint64_t quarter = freeze_timeout_usec / 4;

        return m->cfg.freeze_margin_usec < quarter ? m->cfg.freeze_margin_usec : quarter;
}

/* The earliest time by which a writer frozen by @f must get Thaw (see the top of snapshot.c). */
typedef struct FreezeDeadline {
        const Entry *by; /* the writer it is for; NULL: no writer is frozen */
        uint64_t deadline, timeout;
} FreezeDeadline;

/* Records in the set the earliest time by which a writer frozen by @f must get Thaw. */
static FreezeDeadline freeze_deadline_note(Session *s, const Fanout *f) {
        FreezeDeadline dl = {};

        for (size_t i = 0; i < f->n_targets; i++) {
                const Target *t = &f->targets[i];
                const Entry *e = t->peer;
                uint64_t to, d;

                if (!e || !e->frozen)
                        continue;
                to = fanout_deadline_usec(s->m, VSS_EVENT_FREEZE, t->writer);
                d = t->sent_mono + to - freeze_margin_usec(s->m, to);
                if (!dl.by || d < dl.deadline)
                        dl = (FreezeDeadline) { .by = e, .deadline = d, .timeout = to };
        }
        snapshot_set_freeze_deadline(s->set, dl.by, dl.deadline, dl.by ? dl.by->writer_name : NULL);
        return dl;
}

/* The line for freeze_deadline_note(): logged once the commit is on its way (issue 11 §5: the
 * window holds no log write before "go"). */
static void freeze_deadline_log(Session *s, const FreezeDeadline *dl) {
        if (dl->by)
                log_session(s, "Freeze: writer '%s' thaws on its own %llu ms after Freeze: the hold window ends "
                            "%llu ms before that at the latest",
                            dl->by->writer_name, (unsigned long long) (dl->timeout / USEC_PER_MSEC),
                            (unsigned long long) (freeze_margin_usec(s->m, dl->timeout) / USEC_PER_MSEC));
}

/* The writers are frozen (or there are none): the set's commit. */
static void commit(Session *s) {
        s->snap_phase = SNAP_COMMIT;
        snapshot_set_commit(s->set);
}

static void phase_done(Fanout *f, void *userdata) {
        Session *s = userdata;
        vss_writer_event event = f->event;
        size_t ok = 0, n = f->n_targets;
        vss_hresult hr;

        for (size_t i = 0; i < n; i++)
                ok += f->targets[i].ok;
        /* issue 11 §5: once the writers are frozen, the commit goes first and the line after it */
        if (s->snap_phase != SNAP_FREEZE || VSS_FAILED(veto_of(f)))
                log_session(s, "%s: %zu of %zu writer%s ok", vss_writer_event_name(event), ok, n, n == 1 ? "" : "s");

        switch (s->snap_phase) {
        case SNAP_PREPARE_SNAPSHOT:
                hr = veto_of(f);
                if (VSS_FAILED(hr))
                        return veto(s, hr, "a writer failed PrepareForSnapshot");
                return snapshot_set_end_prepare(s->set); /* the set_hooks' freeze goes on */

        case SNAP_FREEZE:
                hr = veto_of(f);
                if (VSS_FAILED(hr))
                        return veto(s, hr, "a writer failed Freeze");
                FreezeDeadline dl = freeze_deadline_note(s, f);
                s->fanout = fanout_free(s->fanout);
                commit(s);
                freeze_deadline_log(s, &dl);
                log_session(s, "%s: %zu of %zu writer%s ok", vss_writer_event_name(event), ok, n, n == 1 ? "" : "s");
                return;

        case SNAP_THAW:
                /* WS-7: a Thaw failure keeps the set; that writer gets Abort. */
                s->fanout = fanout_free(s->fanout);
                for (size_t i = 0; i < s->n_entries; i++)
                        if (failed_thaw(s, s->entries[i])) {
                                s->snap_phase = SNAP_THAW_FAILED_ABORT;
                                return run_phase(s, SNAP_THAW_FAILED_ABORT, failed_thaw, VSS_EVENT_ABORT);
                        }
                return snapshot_set_post_commit(s->set); /* the set_hooks' post_committed goes on */

        case SNAP_THAW_FAILED_ABORT:
                return snapshot_set_post_commit(s->set);

        case SNAP_POST_SNAPSHOT:
                /* Failures here are in the writers' status; the set is kept,
                 * read-only from now on (issue 9 part 2). A copy that cannot be
                 * made read-only is no shadow copy: the set is undone. */
                s->fanout = fanout_free(s->fanout);
                return snapshot_set_complete(s->set);

        case SNAP_VETO_ABORT:
                return snapshot_set_veto_done(s->set, s->step_hr);

        case SNAP_COMMIT:
                break;
        }
}

void snapshot_external_release(Session *s, vss_hresult hr, const char *why) {
        s->external_holding = false;
        s->external_timer = sd_event_source_disable_unref(s->external_timer);
        if (s->snap_phase != SNAP_COMMIT || s->step != STEP_DO_SNAPSHOT_SET)
                return;
        if (VSS_FAILED(hr)) {
                veto(s, hr, why ? why : "the external freeze was aborted");
                return;
        }
        snapshot_set_external_made(s->set);
}

/* issue 12 §2: admin.c (StorageHooks.make_room) made room (or could not) for the session @session_id's set. */
static void room_made(Manager *m, const vss_id *session_id, int r) {
        Session *s = m->sessions;

        while (s && !vss_id_equal(&s->id, session_id))
                s = s->next;
        if (!s || s->step != STEP_DO_SNAPSHOT_SET)
                return; /* gone or interrupted meanwhile: nothing to go on with */
        snapshot_set_room_made(s->set, r);
}

int snapshot_set_run(Session *s, snapshot_set_done_t done) {
        s->set_done = done;
        s->step_hr = VSS_S_OK;
        snapshot_set_begin(s->set, s->context, s->external); /* set_hooks' prepared goes on */
        return 0;
}

/* ---- what the set asks of its session (SnapshotSetHooks) ----------------------------------- */

static void set_hook_log(void *userdata, const char *line) {
        log_session(userdata, "%s", line);
}

static void set_hook_release_owner(void *userdata) {
        session_release_set(userdata);
}

static void set_hook_detail(void *userdata, char *text) {
        Session *s = userdata;

        free(s->step_detail);
        s->step_detail = text;
}

static void set_hook_veto(void *userdata, vss_hresult hr, const char *why) {
        veto(userdata, hr, why);
}

static void set_hook_abort_phase(void *userdata, vss_hresult hr) {
        Session *s = userdata;

        s->step_hr = hr;
        run_phase(s, SNAP_VETO_ABORT, got_prepare_snapshot, VSS_EVENT_ABORT);
}

static void set_hook_prepared(void *userdata) {
        Session *s = userdata;

        if (!(s->context & VSS_VOLSNAP_ATTR_NO_WRITERS))
                run_phase(s, SNAP_PREPARE_SNAPSHOT, is_participant, VSS_EVENT_PREPARE_SNAPSHOT);
        else {
                /* No writers: straight to the commit. */
                s->snap_phase = SNAP_FREEZE;
                commit(s);
        }
}

static void set_hook_freeze(void *userdata) {
        run_phase(userdata, SNAP_FREEZE, ready_to_freeze, VSS_EVENT_FREEZE);
}

static void set_hook_committed(void *userdata) {
        run_phase(userdata, SNAP_THAW, is_frozen, VSS_EVENT_THAW);
}

static void set_hook_post_committed(void *userdata) {
        run_phase(userdata, SNAP_POST_SNAPSHOT, thawed, VSS_EVENT_POST_SNAPSHOT);
}

static void set_hook_done(void *userdata, vss_hresult hr) {
        Session *s = userdata;

        s->set_done(s, hr);
}

/* issue 10 part 2: the copy is made outside; hold until thaw, the hold limit, or an abort. The
 * hold limit replaces the hold window; a writer's own freeze timeout still bounds it. It counts
 * from the start of the commit, the catalog's time included. */
static int set_hook_hold(void *userdata, uint64_t started_mono, uint64_t writer_bound_mono,
                         uint64_t *ret_deadline_mono) {
        Session *s = userdata;
        uint64_t deadline = started_mono + s->external_hold_usec;
        int r;

        if (writer_bound_mono < deadline)
                deadline = writer_bound_mono;
        *ret_deadline_mono = deadline;
        s->external_hold_usec = deadline - started_mono;
        r = s->external_hooks->arm_hold(s, deadline);
        if (r < 0)
                return r;
        s->external_hooks->holding(s);
        return 0;
}

static void set_hook_apply_retention(void *userdata, const char *volume) {
        Session *s = userdata;

        /* admin.c's, through the hook server_listen() set (issue 11 §2) */
        if (s->m->storage_hooks)
                s->m->storage_hooks->apply_retention(s->m, volume);
}

static int set_hook_make_room(void *userdata, char *const *volumes) {
        Session *s = userdata;

        if (!s->m->storage_hooks)
                return -EINVAL; /* as admin_make_room() without a catalog: no room to be made */
        return s->m->storage_hooks->make_room(s->m, &s->id, volumes, room_made);
}

const SnapshotSetHooks session_set_hooks = {
        .log = set_hook_log,
        .release_owner = set_hook_release_owner,
        .detail = set_hook_detail,
        .veto = set_hook_veto,
        .abort_phase = set_hook_abort_phase,
        .prepared = set_hook_prepared,
        .freeze = set_hook_freeze,
        .committed = set_hook_committed,
        .post_committed = set_hook_post_committed,
        .done = set_hook_done,
        .hold = set_hook_hold,
        .apply_retention = set_hook_apply_retention,
        .make_room = set_hook_make_room,
};

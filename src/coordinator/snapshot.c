/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * DoSnapshotSet and the hold window.
 *
 *   PrepareForSnapshot ─► Freeze ─► commit (child) ─► Thaw ─► PostSnapshot ─► finalize
 *          │                 │            │              │
 *          └── veto ─────────┴── Abort ◄──┘ timeout      └─ failure: Abort to that writer only
 *
 * issue 11 §2: this file is the snapshot set (SnapshotSet): the providers' steps, the commit
 * child and the hold window, the file system freeze, the clean-ups, the catalog marks. It knows
 * no session, writer, fan-out or bus (scripts/lint.sh checks its includes): the events to the
 * writers, their outcomes, vetoes and the step's result are the session layer's
 * (session-snapshot.c), which calls the snapshot_set_*() functions phase by phase; the set
 * goes on through the SnapshotSetHooks it was given (snapshot.h).
 *
 * Auto-recovery (issue 9 part 2, app-consistency.md §2): a set is
 * auto-recovery when the context involves writers, the requester did not
 * say VSS_VOLSNAP_ATTR_NO_AUTORECOVERY, and every provider of the set can
 * leave its snapshots writable (lvss_snapshot.can_write). Then commit makes
 * writable copies, writers may write into them during PostSnapshot (at their
 * snapshot_paths), and the providers' finalize step (VSS's
 * PostFinalCommitSnapshots) makes every copy read-only before DoSnapshotSet
 * completes: after PostSnapshot whatever the writers did (failed, crashed,
 * timed out), and when the session is interrupted after the commit
 * (snapshot_set_interrupt_cleanup(), in a worker). Without auto-recovery the copies are read-only
 * from post_commit on and finalize has nothing to do. The catalog row of a
 * writable copy stays "creating" until finalize: an lvssd that dies in
 * between deletes it at start-up instead of keeping a writable copy.
 *
 * Every phase is one fan-out to the participating writers at once. A failure
 * at PrepareForSnapshot or Freeze vetoes the set (WS-7): every participating
 * writer that got PrepareForSnapshot gets Abort, frozen writers are released
 * by it, whatever exists of the set is undone, and the step fails with the
 * vetoing writer's code.
 *
 * The provider's flush and commit run in a forked child so that the hold
 * window (default 10 s) is a hard bound (WS-6): when the window closes the
 * child is killed, the provider undoes the set, and the step fails with
 * VSS_E_FLUSH_WRITES_TIMEOUT (still flushing) or VSS_E_HOLD_WRITES_TIMEOUT.
 * The child is a worker (worker.c: one fork, socket and reaping for every
 * child of lvssd), forked before Freeze goes out (issue 11 §5: the fork and
 * the child's start-up are not inside the freeze window) and waiting for
 * "go"; a set vetoed before that tells it to abort, and it makes nothing.
 * Before it waits it runs the providers' ready_commit (issue 11 §5: commit's
 * path work, kept for commit) and says 'R'; Freeze goes out only then, and a
 * failure there vetoes the set before any writer is frozen (commit_run(),
 * commit_ready_wait_begin()), so that after "go" a btrfs commit is its
 * snapshot ioctls alone. It marks the flush done in a page shared with
 * lvssd (no message: nothing wakes lvssd's loop inside the window; the end
 * of the hold window reads it), writes 'D' on its socket once every copy is
 * made, and on failure 'E' followed by the vss_hresult. Thaw goes out on 'D', not when the child exits; its exit is
 * reaped later through sd-event.
 *
 * The window is also bounded by the writers (issue 8 item 3): each writer's
 * library thaws its application on its own once its freeze timeout has passed
 * since Freeze arrived, and a copy made after that is not consistent. So the
 * effective hold window of a set ends at the earliest of
 *   commit start + the configured hold window, and
 *   for each frozen writer: when Freeze was sent to it + its freeze timeout
 *   - a margin (--freeze-margin, default 1 s, at most a quarter of that
 *   freeze timeout),
 * the margin leaving time for Thaw to reach the writer before its own timer
 * fires. Freeze is sent before the writer can receive it, so the writer's
 * timer never fires before lvssd's deadline. When that end has passed
 * already as the commit would start (a slow writer's Freeze took the time),
 * no commit is started; a commit that reports success after it is treated as
 * too late as well. Both fail the set with VSS_E_HOLD_WRITES_TIMEOUT (or
 * VSS_E_FLUSH_WRITES_TIMEOUT while still flushing) like the hold window: the
 * set is undone and every writer gets Abort, never a late Thaw.
 *
 * Catalog ordering (providers-and-writers.md): a snapshot row is written
 * ("creating") before the child makes anything on disk, marked "created"
 * after post_commit, and removed only after the provider deleted the copy.
 *
 * File system freeze (issue 10 part 3). An exec provider named in
 * FreezeFilesystems= takes its snapshots below the file system (cloud disks,
 * SAN, LVM without dm suspend), so the file systems holding its volumes are
 * frozen around its commit: the distinct ones (st_dev), sorted by mount
 * point, each once. DoSnapshotSet finds them right after begin_prepare and
 * vetoes the set (VSS_E_PROVIDER_VETO, the file system named) when one of
 * them holds lvssd's state directory, its catalog or the shadow storage area:
 * lvssd and the provider write there during the commit. snapshot_set_commit() records
 * each in the catalog (frozen_filesystems) before the child starts; the
 * child, after pre_commit's syncfs, says 'f'<index> on the pipe before each
 * FIFREEZE, runs the providers' commits, thaws in reverse and says 'T' once
 * all are thawed; a FIFREEZE that fails ('Z'<index><errno>) thaws those
 * frozen already and fails the commit with the mount point named. When the
 * commit ends without 'T' (killed at the hold window, a crash, a thaw that
 * failed), lvssd thaws, in reverse, every one the child said it began to
 * freeze. A catalog row goes only once its file system is thawed; a commit
 * child dies with lvssd (PR_SET_PDEATHSIG), and the next lvssd's start-up
 * thaws every file system still in the catalog (manager_recover()).
 */

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/fsfreeze.h"
#include "basic/state.h"
#include "basic/strv.h"
#include "manager.h"
#include "providers.h"
#include "snapshot.h"
#include "worker.h"

/* issue 11 §2: the set's own state; the session holds a SnapshotSet and does not see inside. */
struct SnapshotSet {
        const SnapshotSetHooks *hooks;
        void *userdata;
        Manager *m;
        vss_id session_id;                 /* the session's: the set's catalog rows name it */
        char tag[VSS_ID_STRING_MAX + 16];  /* "session ID": log lines written off the loop */
        /* issue 11 §1: a provider step in a child forked for it (when the session's worker cannot
         * be asked), or NULL; which step runs (there or, §5, in pick_worker) */
        struct Worker *worker;
        int worker_step;
        /* issue 11 §1: the session's worker (worker_ask()), answering its IsVolumeSupported /
         * AddToSnapshotSet one volume after another and (§5) the set's provider steps, or NULL */
        struct Worker *pick_worker;
        /* the set's shadow copies, in the order they were added (AddToSnapshotSet) */
        Snapshot **snapshots;
        size_t n_snapshots;
        /* DoSnapshotSet's inputs (snapshot_set_begin()): the requester's context, and whether the
         * copy is made outside (an external session, issue 10 part 2: the hold limit, no child) */
        int32_t context;
        bool external;
        bool auto_recovery;      /* the copies are writable until finalize (issue 9 part 2) */
        bool set_prepared;       /* the providers' begin_prepare ran: atomicity is known (issue 9 part 1) */
        bool set_finalized;      /* finalize made the writable copies read-only */
        /* issue 12 §2: begin_prepare found the storage limit full; room was asked for once
         * (admin_make_room()) and the set waits for it (snapshot.c, set_prepared()) */
        bool room_tried, room_wait;
        /* the commit phase runs (snapshot_set_commit()) and the driver started no phase since
         * (snapshot_set_phase_changed()) */
        bool committing;
        vss_hresult finish_hr;      /* the step's result when the killed commit child is reaped */
        /* issue 11 §1/§5: the commit child, a worker (worker.c) forked before Freeze; it makes the
         * copies once told "go" (commit_go) and says 'D' when they are made (commit_said_done):
         * Thaw goes out then; its exit is reaped later. commit_parsed: how much of what it said
         * is read; commit_error: the hresult it failed with. */
        struct Worker *commit_worker;
        size_t commit_parsed;
        vss_hresult commit_error;
        bool commit_go;
        bool commit_said_done;
        bool commit_flushed;
        /* issue 11 §5: a page shared with the commit child (MAP_SHARED, mapped before it is
         * forked), where it marks its flush done: a message on its socket would wake lvssd's
         * loop inside the freeze window, on a machine whose other CPU runs the snapshot, and only
         * the end of the hold window asks (VSS_E_FLUSH_ or _HOLD_WRITES_TIMEOUT). NULL when it
         * could not be mapped: the child says 'F' on its socket then. */
        uint8_t *commit_flag;
        /* issue 11 §5: Freeze waits until the child forked before it says it is ready ('R': its
         * providers' ready_commit ran), bounded by ProviderStepTimeoutMS= (commit_timer) */
        bool commit_ready_wait;
        bool commit_ready_said;
        /* issue 11 §1: the commit child was killed (hold window) and is not reaped yet: it is
         * reaped through its worker; the set is undone, and the step ends, only then. */
        bool commit_dying;
        bool commit_finish_pending; /* the Abort is done: snapshot_set_finish() once it is reaped */
        bool commit_orphaned;       /* issue 11 §1: the session ended first: the set is undone once the child is reaped */
        sd_event_source *commit_timer;
        /* issue 11 §1: the clean-ups of the set's copies running in workers, one after another
         * (abort, the auto-release deletion, finalize after an interruption: snapshot.c), and
         * what goes on once the last is done (snapshot_cleanup_wait()) */
        struct Cleanup *cleanup;
        void (*cleanup_then)(void *data, vss_hresult hr);
        void *cleanup_data;
        vss_hresult cleanup_hr;
        /* The effective hold window (WS-6, issue 8 item 3): the earliest time,
         * CLOCK_MONOTONIC, by which a frozen writer must have Thaw, and that
         * writer's name (freeze_deadline_set false: none frozen); the commit's deadline. */
        uint64_t freeze_deadline_mono;
        bool freeze_deadline_set;
        const char *freeze_deadline_writer;
        uint64_t commit_deadline_mono;
        bool catalog_wait;          /* the step continues in a catalog completion (rows, created marks) */
        int records_state;          /* the set's rows: 0 queued or none yet, 1 on disk, -errno failed */
        uint64_t commit_started_mono; /* when the commit step began (the hold window's start) */
        int created_error;          /* a "created" mark or path the catalog did not take: -errno, or 0 */
        /* issue 10 part 3: the file systems the commit freezes (FreezeFilesystems=), in freezing order */
        struct lvss_fs *freeze_fs;
        size_t n_freeze_fs;
        bool freeze_recorded;       /* in the catalog: thaw (unless the child did) and forget when the commit ends */
        bool freeze_thawed;         /* the commit child said it thawed them all ('T') */
        size_t freeze_started;      /* the child said it began to freeze the first this many ('f') */
        int freeze_failed;          /* the child could not freeze freeze_fs[freeze_failed_index]: -errno, or 0 */
        uint32_t freeze_failed_index;
};

SnapshotSet *snapshot_set_new(Manager *m, const vss_id *session_id, const SnapshotSetHooks *hooks,
                              void *userdata) {
        SnapshotSet *set = calloc(1, sizeof *set);
        char id[VSS_ID_STRING_MAX];

        if (set) {
                set->hooks = hooks;
                set->userdata = userdata;
                set->m = m;
                set->session_id = *session_id;
                vss_id_format(session_id, id);
                snprintf(set->tag, sizeof set->tag, "session %s", id);
        }
        return set;
}

struct Worker **snapshot_set_worker(SnapshotSet *set) {
        return &set->pick_worker;
}

bool snapshot_step_running(const SnapshotSet *set) {
        return set->worker || set->worker_step;
}

/* A line about the set, through its session's hook (tagged there). */
_printf_(2, 3) static void set_log(SnapshotSet *set, const char *fmt, ...) {
        char *line = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&line, fmt, ap);
        va_end(ap);
        if (r < 0) {
                log_msg("(out of memory for a line about a snapshot set)");
                return;
        }
        set->hooks->log(set->userdata, line);
        free(line);
}

static void set_release_owner(SnapshotSet *set) {
        set->hooks->release_owner(set->userdata);
}

/* The cause of the step's failure, for StepFinished (issue 8 item 6), through the session's hook;
 * no memory for it: none. */
_printf_(2, 3) static void set_detail(SnapshotSet *set, const char *fmt, ...) {
        char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        set->hooks->detail(set->userdata, text);
}

static void set_detail_clear(SnapshotSet *set) {
        set->hooks->detail(set->userdata, NULL);
}

/* A failure of the set's own (provider, catalog, commit child, hold window): the driver vetoes
 * (WS-7: Abort to the writers that got PrepareForSnapshot) and undoes the set. */
static void set_veto(SnapshotSet *set, vss_hresult hr, const char *why) {
        set->hooks->veto(set->userdata, hr, why);
}

static Snapshot *snapshot_free(Snapshot *snap);

SnapshotSet *snapshot_set_free(SnapshotSet *set) {
        if (!set)
                return NULL;
        /* its catalog jobs still run; their completions no longer do */
        lvss_catalog_queue_forget(set->m->catalog_queue, set);
        set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
        if (set->commit_flag) /* a child still alive keeps its own mapping */
                (void) munmap(set->commit_flag, 1);
        for (size_t i = 0; i < set->n_snapshots; i++)
                snapshot_free(set->snapshots[i]);
        free(set->snapshots);
        free(set);
        return NULL;
}

Snapshot *const *snapshot_set_snapshots(const SnapshotSet *set, size_t *ret_n) {
        *ret_n = set->n_snapshots;
        return set->snapshots;
}

int snapshot_set_add(SnapshotSet *set, Snapshot *snap) {
        Snapshot **a = reallocarray(set->snapshots, set->n_snapshots + 1, sizeof *a);

        if (!a)
                return -ENOMEM;
        set->snapshots = a;
        set->snapshots[set->n_snapshots++] = snap;
        return 0;
}

bool snapshot_set_auto_recovery(const SnapshotSet *set) {
        return set->auto_recovery;
}

static Snapshot *snapshot_free(Snapshot *snap) {
        if (!snap)
                return NULL;
        free(snap->p.volume);
        free(snap->p.snapshot_path);
        free(snap);
        return NULL;
}

/* Whether every volume of the set is captured at one instant: only a set of
 * one volume whose provider says its snapshot is atomic. Two atomic volumes
 * are two instants (no provider here can snapshot several at once). */
static bool set_is_atomic(const SnapshotSet *set) {
        return set->n_snapshots == 1 && set->snapshots[0]->p.atomic;
}

/* ---- provider calls, grouped per provider --------------------------------- */

typedef int (*provider_step_t)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);

/* Runs one provider step over every snapshot of the set, provider by provider. */
static int for_each_provider(Snapshot *const *snaps, size_t n_snaps, size_t step_offset, vss_hresult *ret_hr) {
        lvss_snapshot **arr;
        int r = 0;

        arr = calloc(n_snaps ? n_snaps : 1, sizeof *arr);
        if (!arr) {
                *ret_hr = VSS_E_OUTOFMEMORY;
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_snaps && r >= 0; i++) {
                lvss_provider *p = snaps[i]->provider;
                size_t n = 0;
                bool seen = false;

                for (size_t j = 0; j < i; j++)
                        seen = seen || snaps[j]->provider == p;
                if (seen)
                        continue;
                for (size_t j = i; j < n_snaps; j++)
                        if (snaps[j]->provider == p)
                                arr[n++] = &snaps[j]->p;
                provider_step_t f = *(const provider_step_t *) ((const char *) p->ops + step_offset);
                if (f)
                        r = f(p, arr, n, ret_hr);
        }
        free(arr);
        return r;
}

/* ---- clean-ups of the copies in a worker (issue 11 §1) ------------------------------ */

/*
 * A provider's abort (the undo of a failed or interrupted set), the
 * auto-release deletion when a session ends, and finalize when a session is
 * interrupted after its commit run in a worker (worker.c), never on the
 * loop: a copy provider deletes whole trees, an exec program may hang.
 *
 * A clean-up owns copies of what it needs (each snapshot, its provider,
 * whether it has a catalog row), so the session may end and be freed while
 * it runs (snapshot_cleanup_detach()). The child writes what became of each
 * copy as soon as it knows (uint32 index, one byte), so a child killed at
 * ProviderStepTimeoutMS= still tells the copies it was done with. On the
 * loop, cleanup_done() writes the catalog (through its thread): the row of a
 * copy aborted or deleted goes, the row of a copy finalized says "created",
 * and a copy whose clean-up failed or was cut keeps its row, so lvssd's next
 * start-up deletes it (manager_recover()). Nothing is left that the catalog
 * does not name.
 *
 * The clean-ups of one session run one after the other (SnapshotSet.cleanup is
 * the running one, ->next the ones queued behind it): a deletion never runs
 * beside the finalize of the same copies. A step that must not end before
 * them (a failed DoSnapshotSet's answer, Release) waits with
 * snapshot_cleanup_wait() and goes on in the completion. lvssd's shutdown
 * waits for running clean-ups within its bound; what is still running then
 * is killed and its rows stay for the next start-up.
 *
 * Only when a clean-up cannot even be set up (out of memory, no fork) do
 * the provider calls run on the loop, as before: the one fallback left.
 */
typedef enum CleanupOp {
        CLEANUP_KEEP,     /* nothing, unless a finalize of the same clean-up fails: then abort */
        CLEANUP_ABORT,
        CLEANUP_DELETE,
        CLEANUP_FINALIZE, /* make read-only; when any finalize fails, every KEEP and FINALIZE copy is aborted */
} CleanupOp;

/* what became of a copy */
enum {
        CLEANUP_RES_NONE = 0, /* not told (the child was killed first): counted as failed */
        CLEANUP_RES_KEPT = 'K',
        CLEANUP_RES_FINALIZED = 'F',
        CLEANUP_RES_ABORTED = 'A',
        CLEANUP_RES_DELETED = 'D',
        CLEANUP_RES_FAILED = 'x',
};

typedef struct Cleanup Cleanup;
struct Cleanup {
        Manager *m;
        SnapshotSet *set;    /* the session it belongs to; NULL once that is freed (or none: a commit orphan) */
        Cleanup *next; /* queued behind this one, same session */
        const char *what;
        char tag[VSS_ID_STRING_MAX + 16];
        size_t n;
        lvss_provider **providers;
        lvss_snapshot *snaps;
        uint8_t *op, *res;
        bool *in_catalog;
        Worker *worker;
};

static size_t n_cleanups; /* set up and not freed: lvssd's shutdown waits for them (bounded) */

size_t snapshot_cleanups_pending(void) {
        return n_cleanups;
}

static Cleanup *cleanup_free(Cleanup *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; c->snaps && i < c->n; i++) {
                free(c->snaps[i].volume);
                free(c->snaps[i].snapshot_path);
        }
        free(c->snaps);
        free(c->providers);
        free(c->op);
        free(c->res);
        free(c->in_catalog);
        free(c);
        n_cleanups--;
        return NULL;
}

static Cleanup *cleanup_new(Manager *m, const char *what, const char *tag, size_t n) {
        Cleanup *c = calloc(1, sizeof *c);

        if (!c)
                return NULL;
        n_cleanups++;
        c->m = m;
        c->what = what;
        snprintf(c->tag, sizeof c->tag, "%s", tag);
        c->providers = calloc(n ? n : 1, sizeof *c->providers);
        c->snaps = calloc(n ? n : 1, sizeof *c->snaps);
        c->op = calloc(n ? n : 1, 1);
        c->res = calloc(n ? n : 1, 1);
        c->in_catalog = calloc(n ? n : 1, sizeof *c->in_catalog);
        if (!c->providers || !c->snaps || !c->op || !c->res || !c->in_catalog)
                return cleanup_free(c);
        return c;
}

/* Adds a copy of @p to @c; 0 or -ENOMEM. */
static int cleanup_add(Cleanup *c, lvss_provider *provider, const lvss_snapshot *p, bool in_catalog, CleanupOp op) {
        lvss_snapshot *q = &c->snaps[c->n];

        *q = *p;
        q->volume = NULL;
        q->snapshot_path = NULL;
        q->commit_ready = NULL; /* only the commit child's own (provider.h) */
        c->providers[c->n] = provider;
        c->in_catalog[c->n] = in_catalog;
        c->op[c->n] = (uint8_t) op;
        c->n++; /* counted now: cleanup_free() frees what was copied */
        if ((p->volume && !(q->volume = strdup(p->volume))) ||
            (p->snapshot_path && !(q->snapshot_path = strdup(p->snapshot_path))))
                return -ENOMEM;
        return 0;
}

static void cleanup_say(int fd, size_t i, uint8_t res) {
        uint8_t msg[5];
        uint32_t idx = (uint32_t) i;

        memcpy(msg, &idx, 4);
        msg[4] = res;
        (void) worker_write(fd, msg, sizeof msg);
}

/* The provider calls, in the child (@fd >= 0: each outcome is written as soon as it is known) or,
 * as the one fallback, on the loop (@fd < 0: the outcomes are in c->res). */
static void cleanup_work(Cleanup *c, int fd) {
        bool finalize_failed = false;

        for (size_t i = 0; i < c->n; i++) {
                lvss_provider *p = c->providers[i];
                lvss_snapshot *const arr[1] = { &c->snaps[i] };
                vss_hresult hr = VSS_S_OK;
                int k;

                if (c->op[i] != CLEANUP_FINALIZE || !p->ops->finalize)
                        continue;
                k = p->ops->finalize(p, arr, 1, &hr);
                if (k < 0) {
                        log_msg("%s: finalize: provider %s cannot make %s read-only: %s", c->tag, p->ops->name,
                                strempty(c->snaps[i].snapshot_path), strerror(-k));
                        finalize_failed = true;
                }
        }
        for (size_t i = 0; i < c->n; i++) {
                lvss_provider *p = c->providers[i];
                lvss_snapshot *const arr[1] = { &c->snaps[i] };
                uint8_t res;
                int k = 0;

                switch (c->op[i]) {
                case CLEANUP_KEEP:
                case CLEANUP_FINALIZE:
                        if (!finalize_failed) {
                                res = c->op[i] == CLEANUP_KEEP ? CLEANUP_RES_KEPT : CLEANUP_RES_FINALIZED;
                                break;
                        }
                        /* no writable copy is kept: the whole set goes */
                        /* fall through */
                case CLEANUP_ABORT:
                        k = p->ops->abort(p, arr, 1);
                        res = k >= 0 ? CLEANUP_RES_ABORTED : CLEANUP_RES_FAILED;
                        break;
                case CLEANUP_DELETE:
                        if (c->snaps[i].snapshot_path)
                                k = p->ops->delete_snapshot(p, c->snaps[i].snapshot_path);
                        res = k >= 0 ? CLEANUP_RES_DELETED : CLEANUP_RES_FAILED;
                        break;
                default:
                        res = CLEANUP_RES_FAILED;
                }
                if (k < 0)
                        log_msg("%s: %s: provider %s: %s: %s", c->tag, c->op[i] == CLEANUP_DELETE ? "delete" : "abort",
                                p->ops->name, strempty(c->snaps[i].snapshot_path), strerror(-k));
                c->res[i] = res;
                if (fd >= 0)
                        cleanup_say(fd, i, res);
        }
}

static int cleanup_run(int fd, void *userdata) {
        cleanup_work(userdata, fd);
        return 0;
}

/* On the loop: the catalog follows what became of each copy; the log says it. */
static void cleanup_record(Cleanup *c, int k) {
        size_t left = 0;

        for (size_t i = 0; i < c->n; i++) {
                const lvss_snapshot *p = &c->snaps[i];
                lvss_catalog_queue *q = c->m->catalog_queue;
                char id[VSS_ID_STRING_MAX];

                vss_id_format(&p->snapshot_id, id);
                switch (c->res[i]) {
                case CLEANUP_RES_ABORTED:
                case CLEANUP_RES_DELETED:
                        if (c->res[i] == CLEANUP_RES_DELETED && p->snapshot_path)
                                log_msg("%s: auto-release shadow copy %s deleted", c->tag, p->snapshot_path);
                        if (c->in_catalog[i] && q)
                                (void) lvss_catalog_queue_snapshot_remove(q, &p->snapshot_id, NULL, NULL);
                        else if (c->in_catalog[i] && c->m->catalog)
                                (void) lvss_catalog_snapshot_remove(c->m->catalog, &p->snapshot_id);
                        break;
                case CLEANUP_RES_FINALIZED:
                        log_msg("%s: finalize: shadow copy %s is read-only now", c->tag, strempty(p->snapshot_path));
                        if (!c->in_catalog[i] || !q)
                                break;
                        if (p->snapshot_path && p->snapshot_path[0] == '/')
                                (void) lvss_catalog_queue_snapshot_set_path(q, &p->snapshot_id, p->snapshot_path, NULL,
                                                                            NULL);
                        (void) lvss_catalog_queue_snapshot_set_state(q, &p->snapshot_id, "created", NULL, NULL);
                        break;
                case CLEANUP_RES_KEPT:
                        break;
                default:
                        left++;
                        log_msg("%s: %s of shadow copy %s (%s) %s: %s", c->tag, c->what, id, strempty(p->snapshot_path),
                                k == -ETIME ? "was cut at ProviderStepTimeoutMS=" : "failed",
                                c->in_catalog[i] ? "kept in the catalog, lvssd's start-up deletes it"
                                                 : "it has no catalog row");
                }
        }
        if (k == -ETIME)
                log_msg("%s: %s: the providers did not finish within %llu ms (ProviderStepTimeoutMS=); %zu cop%s "
                        "left to the next start-up", c->tag, c->what,
                        (unsigned long long) (c->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC), left,
                        left == 1 ? "y" : "ies");
}

static void cleanup_launch(Cleanup *c);
static void cleanup_tell_session(Cleanup *c);

/* @c is over (its outcomes recorded): the next of its session starts, or its waiter goes on. */
static void cleanup_over(Cleanup *c) {
        SnapshotSet *set = c->set;
        Cleanup *next = TAKE_PTR(c->next);

        cleanup_tell_session(c);
        cleanup_free(c);
        if (set)
                set->cleanup = next;
        if (next)
                return cleanup_launch(next);
        if (set && set->cleanup_then) {
                void (*then)(void *, vss_hresult) = TAKE_PTR(set->cleanup_then);
                then(set->cleanup_data, set->cleanup_hr);
        }
}

static void cleanup_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        Cleanup *c = userdata;

        c->worker = NULL;
        if (k == -ECANCELED) {
                /* lvssd stops: the rows stay for the next start-up */
                for (Cleanup *n = c->next, *nn; n; n = nn) {
                        nn = n->next;
                        cleanup_free(n);
                }
                if (c->set)
                        c->set->cleanup = NULL;
                cleanup_free(c);
                return;
        }
        for (size_t at = 0; at + 5 <= size; at += 5) {
                uint32_t idx;

                memcpy(&idx, out + at, 4);
                if (idx < c->n)
                        c->res[idx] = out[at + 4];
        }
        if (k < 0 && k != -ETIME)
                log_msg("%s: %s: the worker failed: %s", c->tag, c->what, strerror(-k));
        cleanup_record(c, k);
        cleanup_over(c);
}

/* Runs @c in a worker; if none can be started, on the loop (the fallback) and over at once. */
static void cleanup_launch(Cleanup *c) {
        int r;

        r = worker_start(c->m, c->what, c->tag, c->m->cfg.provider_step_timeout_usec, cleanup_run, cleanup_done, c,
                         &c->worker);
        if (r >= 0)
                return;
        log_msg("%s: %s: cannot start a worker (%s): the providers are called on the loop", c->tag, c->what,
                strerror(-r));
        cleanup_work(c, -1);
        cleanup_record(c, 0);
        cleanup_over(c);
}

/* @c: started now, or queued behind the clean-ups of @set (NULL: none) still running. */
static void cleanup_submit(SnapshotSet *set, Cleanup *c) {
        c->set = set;
        if (!set || !set->cleanup) {
                if (set)
                        set->cleanup = c;
                return cleanup_launch(c);
        }
        Cleanup *last = set->cleanup;
        while (last->next)
                last = last->next;
        last->next = c;
        log_msg("%s: %s: runs once the clean-up before it is done", c->tag, c->what);
}

static void session_tag(const SnapshotSet *set, char tag[static VSS_ID_STRING_MAX + 16]) {
        snprintf(tag, VSS_ID_STRING_MAX + 16, "%s", set->tag);
}

bool snapshot_cleanup_wait(SnapshotSet *set, void (*then)(void *data, vss_hresult hr), void *data, vss_hresult hr) {
        if (!set->cleanup)
                return false;
        set->cleanup_then = then;
        set->cleanup_data = data;
        set->cleanup_hr = hr;
        return true;
}

void snapshot_cleanup_forget_waiter(SnapshotSet *set) {
        set->cleanup_then = NULL;
}

void snapshot_cleanup_detach(SnapshotSet *set) {
        for (Cleanup *c = set->cleanup; c; c = c->next)
                c->set = NULL;
        set->cleanup = NULL;
        set->cleanup_then = NULL;
}

/* In a clean-up that ended with the session still there: the session's own record of the
 * copies it aborted (a finalize that failed aborts the copies it kept). */
static void cleanup_tell_session(Cleanup *c) {
        SnapshotSet *set = c->set;

        for (size_t i = 0; set && i < c->n; i++) {
                if (c->res[i] != CLEANUP_RES_ABORTED)
                        continue;
                for (size_t j = 0; j < set->n_snapshots; j++)
                        if (vss_id_equal(&set->snapshots[j]->p.snapshot_id, &c->snaps[i].snapshot_id)) {
                                set->snapshots[j]->created = false;
                                set->snapshots[j]->in_catalog = false;
                        }
        }
}

/* The fallback, on the loop: abort every copy of @s (out of memory for a clean-up). */
static void snapshots_undo_here(SnapshotSet *set) {
        for (size_t i = 0; i < set->n_snapshots; i++) {
                Snapshot *snap = set->snapshots[i];
                lvss_snapshot *const arr[1] = { &snap->p };

                (void) snap->provider->ops->abort(snap->provider, arr, 1);
                snap->created = false;
                if (snap->in_catalog && set->m->catalog_queue &&
                    lvss_catalog_queue_snapshot_remove(set->m->catalog_queue, &snap->p.snapshot_id, NULL, NULL) >= 0)
                        snap->in_catalog = false;
        }
}

/* Sets up a clean-up of @s's copies for which @pick gives an operation (< 0: not this one). NULL
 * when there is nothing to do (*ret_r 0) or no memory (*ret_r -ENOMEM). */
static Cleanup *cleanup_of_session(SnapshotSet *set, const char *what,
                                   int (*pick)(const SnapshotSet *, const Snapshot *), int *ret_r) {
        char tag[VSS_ID_STRING_MAX + 16];
        size_t n = 0;
        Cleanup *c;

        *ret_r = 0;
        for (size_t i = 0; i < set->n_snapshots; i++)
                n += pick(set, set->snapshots[i]) >= 0;
        if (n == 0)
                return NULL;
        session_tag(set, tag);
        c = cleanup_new(set->m, what, tag, n);
        for (size_t i = 0; c && i < set->n_snapshots; i++) {
                const Snapshot *snap = set->snapshots[i];
                int op = pick(set, snap);

                if (op >= 0 && cleanup_add(c, snap->provider, &snap->p, snap->in_catalog, (CleanupOp) op) < 0)
                        c = cleanup_free(c);
        }
        if (!c) {
                *ret_r = -ENOMEM;
                set_log(set, "%s: out of memory for a worker: the providers are called on the loop", what);
        }
        return c;
}

static int pick_abort(const SnapshotSet *set, const Snapshot *snap) {
        return CLEANUP_ABORT;
}

/* Issue 11 §1: the set is undone in a worker; a step that must end after it waits with
 * snapshot_cleanup_wait() (snapshot_set_finish(), refuse_set()). The copies are the clean-up's now:
 * nothing of them is created or in the catalog for the session any more. */
void snapshot_set_undo(SnapshotSet *set) {
        int r;
        Cleanup *c = cleanup_of_session(set, "abort", pick_abort, &r);

        if (!c) {
                if (r < 0)
                        snapshots_undo_here(set);
                return;
        }
        for (size_t i = 0; i < set->n_snapshots; i++) {
                set->snapshots[i]->created = false;
                set->snapshots[i]->in_catalog = false;
        }
        cleanup_submit(set, c);
}

static bool persistent(const SnapshotSet *set) {
        return set->context & VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE;
}

static int pick_delete(const SnapshotSet *set, const Snapshot *snap) {
        return snap->in_catalog || snap->created ? CLEANUP_DELETE : -1;
}

/* The fallback, on the loop (out of memory for a clean-up). */
static int delete_auto_release_here(SnapshotSet *set) {
        int r = 0;

        for (size_t i = 0; i < set->n_snapshots; i++) {
                Snapshot *snap = set->snapshots[i];
                int k;

                if (!snap->in_catalog && !snap->created)
                        continue;
                if (snap->p.snapshot_path) {
                        k = snap->provider->ops->delete_snapshot(snap->provider, snap->p.snapshot_path);
                        if (k < 0) {
                                set_log(set, "cannot delete shadow copy %s: %s", snap->p.snapshot_path,
                                        strerror(-k));
                                r = k;
                                continue; /* stays in the catalog: start-up tries again */
                        }
                        set_log(set, "auto-release shadow copy %s deleted", snap->p.snapshot_path);
                }
                snap->created = false;
                if (snap->in_catalog && set->m->catalog_queue &&
                    lvss_catalog_queue_snapshot_remove(set->m->catalog_queue, &snap->p.snapshot_id, NULL, NULL) >= 0)
                        snap->in_catalog = false;
        }
        return r;
}

/* Issue 11 §1: in a worker, after the clean-ups of @s before it; 1 when one was started (Release
 * waits for it: snapshot_cleanup_wait()), 0 when nothing is to be deleted. */
int snapshot_delete_auto_release(SnapshotSet *set) {
        Cleanup *c;
        int r;

        if (persistent(set))
                return 0;
        c = cleanup_of_session(set, "delete", pick_delete, &r);
        if (!c)
                return r < 0 ? delete_auto_release_here(set) : 0;
        for (size_t i = 0; i < set->n_snapshots; i++) {
                set->snapshots[i]->created = false;
                set->snapshots[i]->in_catalog = false;
        }
        cleanup_submit(set, c);
        return 1;
}

/* ---- provider steps in the session's worker (issue 11 §1, §5) ----------------------------- */

/*
 * begin_prepare, end_prepare, post_commit and finalize run off the loop,
 * never on it: the copy provider walks and copies whole trees, the exec
 * provider waits for its program. Issue 11 §5: each is a request to the
 * session's worker (worker_ask(): the one that answered the session's
 * IsVolumeSupported / AddToSnapshotSet), not a child forked per step.
 *
 * A worker that lives across steps does not see lvssd's memory as it is at
 * the step, so the request carries the set (snapshot_state_encode(): each
 * snapshot's ids, volume, path, flags and the index of its provider in
 * m->providers). The worker's table of providers is lvssd's at its fork:
 * providers are set up once, at start-up (lvssd has no reload), and the one
 * setting that changes at run time (vssadmin resize shadowstorage, the copy
 * provider's limits) ends the worker before its next request
 * (worker_providers_changed()), so no step runs with settings other than a
 * fresh fork would see. The worker runs the step over the set, provider by
 * provider, and answers with what the steps may change in the set:
 *   int32 r, uint32 hresult, uint32 n, then for each of the n snapshots
 *   uint8 atomic, uint8 can_write, uint32 length, the snapshot path (length 0: none).
 * The loop copies that into the session's snapshots and goes on where it
 * would have gone on after the call (step_then()). At ProviderStepTimeoutMS=
 * the worker is killed and the step fails with VSS_E_UNEXPECTED_PROVIDER_ERROR;
 * the next request forks a new worker. A request that cannot go to the
 * session's worker (it answers an IsVolumeSupported, the request is too
 * large, no memory) runs in a child forked for it (step_run(), the same
 * answer on its pipe), as every step did before. The worker ends with the
 * set (snapshot_set_finish()), the session, or after WORKER_IDLE_USEC idle.
 */
typedef enum ProviderStep {
        PSTEP_BEGIN_PREPARE = 1,
        PSTEP_END_PREPARE,
        PSTEP_POST_COMMIT,
        PSTEP_FINALIZE,
} ProviderStep;

static const char *const pstep_name[] = {
        [PSTEP_BEGIN_PREPARE] = "begin_prepare",
        [PSTEP_END_PREPARE] = "end_prepare",
        [PSTEP_POST_COMMIT] = "post_commit",
        [PSTEP_FINALIZE] = "finalize",
};

/* A byte buffer that grows; ->failed once an allocation failed (what follows is dropped). */
typedef struct Buf {
        uint8_t *data;
        size_t size, allocated;
        bool failed;
} Buf;

static void buf_put(Buf *b, const void *data, size_t n) {
        if (b->failed || n == 0)
                return;
        if (b->allocated - b->size < n) {
                size_t want = b->size + n < 2 * b->allocated ? 2 * b->allocated : b->size + n + 256;
                uint8_t *a = realloc(b->data, want);

                if (!a) {
                        b->failed = true;
                        return;
                }
                b->data = a;
                b->allocated = want;
        }
        memcpy(b->data + b->size, data, n);
        b->size += n;
}

#define STATE_NO_STRING UINT32_MAX

/* uint32 length (STATE_NO_STRING: NULL), then the bytes */
static void buf_put_string(Buf *b, const char *str) {
        uint32_t len = str ? (uint32_t) strlen(str) : STATE_NO_STRING;

        buf_put(b, &len, sizeof len);
        if (str)
                buf_put(b, str, len);
}

typedef struct Reader {
        const uint8_t *at;
        size_t left;
} Reader;

static bool reader_get(Reader *rd, void *out, size_t n) {
        if (rd->left < n)
                return false;
        memcpy(out, rd->at, n);
        rd->at += n;
        rd->left -= n;
        return true;
}

static int reader_get_string(Reader *rd, char **ret) {
        uint32_t len;

        *ret = NULL;
        if (!reader_get(rd, &len, sizeof len))
                return -EPROTO;
        if (len == STATE_NO_STRING)
                return 0;
        if (rd->left < len || memchr(rd->at, 0, len))
                return -EPROTO;
        *ret = strndup((const char *) rd->at, len);
        if (!*ret)
                return -ENOMEM;
        rd->at += len;
        rd->left -= len;
        return 0;
}

enum {
        STATE_ATOMIC = 1 << 0,
        STATE_CAN_WRITE = 1 << 1,
        STATE_WRITABLE = 1 << 2,
        STATE_CREATED = 1 << 3,
        STATE_IN_CATALOG = 1 << 4,
};

/* the least a snapshot takes: provider index, two ids, flags, two string lengths */
#define STATE_SNAPSHOT_MIN (4 + 2 * sizeof(vss_id) + 1 + 4 + 4)

int snapshot_state_encode(Manager *m, int step, Snapshot *const *snaps, size_t n, uint8_t **ret, size_t *ret_size) {
        const uint8_t head[2] = { 'S', (uint8_t) step };
        uint32_t n32 = (uint32_t) n;
        Buf b = {};

        if (n > UINT32_MAX || step < 0 || step > UINT8_MAX)
                return -EINVAL;
        buf_put(&b, head, sizeof head);
        buf_put(&b, &n32, sizeof n32);
        for (size_t i = 0; i < n; i++) {
                const Snapshot *snap = snaps[i];
                int32_t idx = -1;
                uint8_t flags = (snap->p.atomic ? STATE_ATOMIC : 0) | (snap->p.can_write ? STATE_CAN_WRITE : 0) |
                                (snap->p.writable ? STATE_WRITABLE : 0) | (snap->created ? STATE_CREATED : 0) |
                                (snap->in_catalog ? STATE_IN_CATALOG : 0);

                for (size_t j = 0; j < m->n_providers && idx < 0; j++)
                        if (m->providers[j] == snap->provider)
                                idx = (int32_t) j;
                if (idx < 0) {
                        free(b.data);
                        return -EINVAL;
                }
                buf_put(&b, &idx, sizeof idx);
                buf_put(&b, &snap->p.snapshot_id, sizeof snap->p.snapshot_id);
                buf_put(&b, &snap->p.set_id, sizeof snap->p.set_id);
                buf_put(&b, &flags, sizeof flags);
                buf_put_string(&b, snap->p.volume);
                buf_put_string(&b, snap->p.snapshot_path);
        }
        if (b.failed) {
                free(b.data);
                return -ENOMEM;
        }
        *ret = b.data;
        *ret_size = b.size;
        return 0;
}

Snapshot **snapshot_state_free(Snapshot **snaps, size_t n) {
        for (size_t i = 0; snaps && i < n; i++)
                snapshot_free(snaps[i]);
        free(snaps);
        return NULL;
}

int snapshot_state_decode(Manager *m, const uint8_t *data, size_t size, int *ret_step, Snapshot ***ret,
                          size_t *ret_n) {
        Reader rd = { .at = data, .left = size };
        Snapshot **snaps;
        uint8_t head[2];
        uint32_t n;
        int r = 0;

        if (!reader_get(&rd, head, sizeof head) || head[0] != 'S' || !reader_get(&rd, &n, sizeof n) ||
            n > rd.left / STATE_SNAPSHOT_MIN)
                return -EPROTO;
        snaps = calloc(n ? n : 1, sizeof *snaps);
        if (!snaps)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                Snapshot *snap = snaps[i] = calloc(1, sizeof *snap);
                int32_t idx;
                uint8_t flags;

                if (!snap) {
                        r = -ENOMEM;
                        break;
                }
                if (!reader_get(&rd, &idx, sizeof idx) || idx < 0 || (size_t) idx >= m->n_providers ||
                    !reader_get(&rd, &snap->p.snapshot_id, sizeof snap->p.snapshot_id) ||
                    !reader_get(&rd, &snap->p.set_id, sizeof snap->p.set_id) || !reader_get(&rd, &flags, sizeof flags)) {
                        r = -EPROTO;
                        break;
                }
                snap->provider = m->providers[idx];
                snap->provider_id = snap->provider->ops->id;
                snap->p.atomic = flags & STATE_ATOMIC;
                snap->p.can_write = flags & STATE_CAN_WRITE;
                snap->p.writable = flags & STATE_WRITABLE;
                snap->created = flags & STATE_CREATED;
                snap->in_catalog = flags & STATE_IN_CATALOG;
                r = reader_get_string(&rd, &snap->p.volume);
                if (r >= 0)
                        r = reader_get_string(&rd, &snap->p.snapshot_path);
        }
        if (r >= 0 && rd.left != 0)
                r = -EPROTO;
        if (r < 0) {
                snapshot_state_free(snaps, n);
                return r;
        }
        *ret_step = head[1];
        *ret = snaps;
        *ret_n = n;
        return 0;
}

static int finalize_providers(Snapshot *const *snaps, size_t n_snaps, const char *tag, size_t *ret_done);

/* The step over @snaps; what the session reads back: see step_results(). */
static void step_exec(int step, Snapshot *const *snaps, size_t n, const char *tag, Buf *out) {
        vss_hresult hr = VSS_S_OK;
        size_t done = 0;
        int32_t r;
        uint32_t n32 = (uint32_t) n;

        switch (step) {
        case PSTEP_BEGIN_PREPARE:
                r = for_each_provider(snaps, n, offsetof(lvss_provider_ops, begin_prepare), &hr);
                break;
        case PSTEP_END_PREPARE:
                r = for_each_provider(snaps, n, offsetof(lvss_provider_ops, end_prepare), &hr);
                break;
        case PSTEP_POST_COMMIT:
                r = for_each_provider(snaps, n, offsetof(lvss_provider_ops, post_commit), &hr);
                break;
        case PSTEP_FINALIZE:
                r = finalize_providers(snaps, n, tag, &done);
                hr = (vss_hresult) done; /* finalize has no hresult of its own: how many it made read-only */
                break;
        default:
                out->failed = true;
                return;
        }
        buf_put(out, &r, sizeof r);
        buf_put(out, &hr, sizeof hr);
        buf_put(out, &n32, sizeof n32);
        for (size_t i = 0; i < n; i++) {
                const lvss_snapshot *p = &snaps[i]->p;
                uint8_t flags[2] = { p->atomic, p->can_write };
                uint32_t len = p->snapshot_path ? (uint32_t) strlen(p->snapshot_path) : 0;

                buf_put(out, flags, sizeof flags);
                buf_put(out, &len, sizeof len);
                buf_put(out, p->snapshot_path, len);
        }
}

/* In the session's worker, for each request: 'V' (session.c: which provider takes a volume) or 'S'
 * (a provider step over the set). @userdata: the worker's copy of the set, as it was at the fork
 * (its session's tag and manager; the set's state comes in the request). */
static int serve_pick(Manager *m, const uint8_t *req, size_t size, uint8_t *ans, size_t max);

int snapshot_worker_serve(const uint8_t *req, size_t size, uint8_t *ans, size_t max, void *userdata) {
        SnapshotSet *set = userdata;
        Snapshot **snaps = NULL;
        size_t n = 0;
        Buf out = {};
        int step, r;

        if (size >= 1 && req[0] == 'V')
                return serve_pick(set->m, req + 1, size - 1, ans, max);
        r = snapshot_state_decode(set->m, req, size, &step, &snaps, &n);
        if (r < 0)
                return r;
        step_exec(step, snaps, n, set->tag, &out);
        snapshot_state_free(snaps, n);
        if (out.failed || out.size > max || out.size > INT_MAX) {
                free(out.data);
                return out.failed ? -ENOMEM : -E2BIG;
        }
        memcpy(ans, out.data, out.size);
        free(out.data);
        return (int) out.size;
}

/* 'V': a provider id, then the volume, NUL-terminated; the answer: the index in m->providers of the
 * provider that takes the volume, or -1. */
static int serve_pick(Manager *m, const uint8_t *req, size_t size, uint8_t *ans, size_t max) {
        vss_id want, id;
        int32_t idx = -1;

        if (size <= sizeof want || req[size - 1] != 0 || max < sizeof idx)
                return -EINVAL;
        memcpy(&want, req, sizeof want);
        lvss_provider *p = manager_pick_provider(m, &want, (const char *) req + sizeof want, &id);
        for (size_t i = 0; p && i < m->n_providers; i++)
                if (m->providers[i] == p)
                        idx = (int32_t) i;
        memcpy(ans, &idx, sizeof idx);
        return (int) sizeof idx;
}

/* The fallback: the step in a child forked for it, on its copy of the session (as before §5). */
static int step_run(int fd, void *userdata) {
        SnapshotSet *set = userdata;
        char tag[VSS_ID_STRING_MAX + 16];
        Buf out = {};
        int r;

        session_tag(set, tag);
        step_exec(set->worker_step, set->snapshots, set->n_snapshots, tag, &out);
        r = out.failed ? 2 : worker_write(fd, out.data, out.size) < 0 ? 1 : 0;
        free(out.data);
        return r;
}

/* What the child said, into the session: 0, or -EPROTO when the results do not parse (nothing
 * is taken then). */
static int step_results(SnapshotSet *set, const uint8_t *out, size_t size, int *ret_r, vss_hresult *ret_hr) {
        char **paths;
        uint8_t *flags;
        size_t at = 12;
        int32_t r;
        uint32_t n;

        if (size < 12)
                return -EPROTO;
        memcpy(&r, out, 4);
        memcpy(ret_hr, out + 4, 4);
        memcpy(&n, out + 8, 4);
        if (n != set->n_snapshots)
                return -EPROTO;
        paths = calloc(n ? n : 1, sizeof *paths);
        flags = calloc(n ? n : 1, 2);
        if (!paths || !flags) {
                free(paths);
                free(flags);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                uint32_t len;

                if (size - at < 6)
                        goto bad;
                memcpy(flags + 2 * i, out + at, 2);
                memcpy(&len, out + at + 2, 4);
                at += 6;
                if (size - at < len)
                        goto bad;
                if (len > 0 && !(paths[i] = strndup((const char *) out + at, len)))
                        goto bad;
                at += len;
        }
        for (size_t i = 0; i < n; i++) {
                lvss_snapshot *p = &set->snapshots[i]->p;

                free(p->snapshot_path);
                p->snapshot_path = paths[i];
                p->atomic = flags[2 * i];
                p->can_write = flags[2 * i + 1];
        }
        free(paths);
        free(flags);
        *ret_r = r;
        return 0;
bad:
        for (size_t i = 0; i < n; i++)
                free(paths[i]);
        free(paths);
        free(flags);
        return -EPROTO;
}

static void step_then(SnapshotSet *set, ProviderStep step, int r, vss_hresult hr);

/* The step's answer, from the session's worker or a child of its own: @k 0 with its results in
 * @out, -ETIME (cut at ProviderStepTimeoutMS=) or another error (the worker failed). */
static void step_finish(SnapshotSet *set, int k, const uint8_t *out, size_t size) {
        ProviderStep step = (ProviderStep) set->worker_step;
        vss_hresult hr = VSS_S_OK;
        int r = -EPROTO;

        set->worker = NULL;
        set->worker_step = 0;
        if (k == 0)
                k = step_results(set, out, size, &r, &hr);
        if (k < 0) {
                r = k;
                hr = VSS_E_UNEXPECTED_PROVIDER_ERROR;
                if (k == -ETIME) {
                        set_log(set, "%s: the providers did not finish within %llu ms (ProviderStepTimeoutMS=)",
                                pstep_name[step],
                                (unsigned long long) (set->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
                        set_detail(set, "the provider's %s did not finish within %llu ms (ProviderStepTimeoutMS=)",
                                   pstep_name[step],
                                   (unsigned long long) (set->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
                } else {
                        set_log(set, "%s: the provider's worker failed: %s", pstep_name[step], strerror(-k));
                        set_detail(set, "the provider's %s failed: %s", pstep_name[step], strerror(-k));
                }
        }
        step_then(set, step, r, hr);
}

static void step_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        step_finish(userdata, k, out, size);
}

static void step_answer(int k, const uint8_t *out, size_t size, void *userdata) {
        step_finish(userdata, k, out, size);
}

/* Runs @step in the session's worker, or in a child of its own when it cannot be asked;
 * step_then() goes on. A worker that cannot start is a failed step. */
static void step_start(SnapshotSet *set, ProviderStep step) {
        char tag[VSS_ID_STRING_MAX + 16];
        uint8_t *req = NULL;
        size_t size = 0;
        int r;

        session_tag(set, tag);
        set->worker_step = step;
        r = snapshot_state_encode(set->m, step, set->snapshots, set->n_snapshots, &req, &size);
        if (r >= 0)
                r = worker_ask(&set->pick_worker, set->m, pstep_name[step], tag, snapshot_worker_serve, set, req, size,
                               set->m->cfg.provider_step_timeout_usec, step_answer, set);
        free(req);
        if (r >= 0)
                return;
        set_log(set, "%s: not asked of the session's worker (%s): a worker of its own", pstep_name[step],
                strerror(-r));
        r = worker_start(set->m, pstep_name[step], tag, set->m->cfg.provider_step_timeout_usec, step_run, step_done,
                         set, &set->worker);
        if (r < 0) {
                set_log(set, "%s: cannot start a worker: %s", pstep_name[step], strerror(-r));
                set->worker_step = 0;
                step_then(set, step, r, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        }
}

void snapshot_step_cancel(SnapshotSet *set) {
        if (set->worker)
                set->worker = worker_cancel(set->worker);
        else if (set->worker_step)
                set->pick_worker = worker_end(set->pick_worker); /* in the request: killed, not answered */
        set->worker_step = 0;
}

/* ---- the phases ------------------------------------------------------------ */

/* Whether the requester's context asks for auto-recovery copies: a context
 * with writers, without VSS_VOLSNAP_ATTR_NO_AUTORECOVERY. */
static bool auto_recovery_requested(const SnapshotSet *set) {
        return !(set->context & VSS_VOLSNAP_ATTR_NO_WRITERS) && !(set->context & VSS_VOLSNAP_ATTR_NO_AUTORECOVERY);
}

/* After begin_prepare: auto-recovery when asked for and every snapshot of the
 * set can be writable; each snapshot is told (lvss_snapshot.writable). */
static void auto_recovery_decide(SnapshotSet *set) {
        const char *why = NULL;

        set->auto_recovery = auto_recovery_requested(set);
        if (!set->auto_recovery)
                why = set->context & VSS_VOLSNAP_ATTR_NO_WRITERS ? "a context without writers"
                                                                : "the requester said NO_AUTORECOVERY";
        for (size_t i = 0; set->auto_recovery && i < set->n_snapshots; i++)
                if (!set->snapshots[i]->p.can_write) {
                        set->auto_recovery = false;
                        why = "a provider cannot make writable copies";
                        set_log(set, "%s: provider %s cannot leave its copy writable", set->snapshots[i]->p.volume,
                                set->snapshots[i]->provider ? set->snapshots[i]->provider->ops->name : "?");
                }
        for (size_t i = 0; i < set->n_snapshots; i++)
                set->snapshots[i]->p.writable = set->auto_recovery;
        set_log(set, "auto-recovery: %s%s%s", set->auto_recovery ? "yes" : "no", why ? ", " : "", strempty(why));
}

/*
 * The catalog row of a copy follows what the copy is: its real path (exec's
 * post_commit may replace the planned one) and, with @created, the state
 * "created". No copy is reported to the requester as made while its row
 * still says "creating": the next start-up deletes such a row's copy as
 * unfinished, and a persistent copy the requester was told exists would be
 * gone (issue 11 §4). So a row that cannot be updated fails the set, and the
 * caller undoes it. 0 or a negative errno.
 */
static void created_recorded(int r, void *data, void *userdata) {
        SnapshotSet *set = userdata;

        if (r >= 0 || set->created_error < 0)
                return;
        set->created_error = r;
        set_log(set, "the catalog cannot record a shadow copy of the set as made: %s; the set is undone",
                strerror(-r));
}

static int record_created(SnapshotSet *set, Snapshot *snap, bool created) {
        char id[VSS_ID_STRING_MAX];
        int r;

        if (!set->m->catalog_queue || !snap->in_catalog)
                return 0;
        /* Only a file-system path replaces the planned one: the external provider's
         * "external:VOLUME" names no place on disk and stays as the row has it.
         * issue 11 §1: queued; their outcome is known at the barrier before the
         * requester is told (snapshot_set_recorded()). */
        r = snap->p.snapshot_path && snap->p.snapshot_path[0] == '/'
                    ? lvss_catalog_queue_snapshot_set_path(set->m->catalog_queue, &snap->p.snapshot_id,
                                                           snap->p.snapshot_path, created_recorded, set)
                    : 0;
        if (r >= 0 && created)
                r = lvss_catalog_queue_snapshot_set_state(set->m->catalog_queue, &snap->p.snapshot_id, "created",
                                                          created_recorded, set);
        if (r < 0) {
                vss_id_format(&snap->p.snapshot_id, id);
                set_log(set, "the catalog cannot record shadow copy %s (%s) as %s: %s; the set is undone", id,
                        strempty(snap->p.snapshot_path), created ? "created" : "made", strerror(-r));
        }
        return r;
}

/* finalize, provider by provider, of every created writable copy; *@ret_done: how many. In a
 * worker (the set's own path), or on the loop as the fallback of an interrupted set. */
/* @tag: the session, for the log (this runs in a worker, or on the loop as the fallback). */
static int finalize_providers(Snapshot *const *snaps, size_t n_snaps, const char *tag, size_t *ret_done) {
        lvss_snapshot **arr;
        size_t done = 0;
        int r = 0;

        *ret_done = 0;
        arr = calloc(n_snaps ? n_snaps : 1, sizeof *arr);
        if (!arr)
                return -ENOMEM;
        /* Provider by provider, every created copy; each provider tries all of its own. */
        for (size_t i = 0; i < n_snaps; i++) {
                lvss_provider *p = snaps[i]->provider;
                vss_hresult hr = VSS_S_OK;
                size_t n = 0;
                bool seen = false;
                int k;

                for (size_t j = 0; j < i; j++)
                        seen = seen || snaps[j]->provider == p;
                if (seen || !p->ops->finalize)
                        continue;
                for (size_t j = i; j < n_snaps; j++)
                        if (snaps[j]->provider == p && snaps[j]->created && snaps[j]->p.writable)
                                arr[n++] = &snaps[j]->p;
                if (n == 0)
                        continue;
                done += n;
                k = p->ops->finalize(p, arr, n, &hr);
                if (k < 0) {
                        log_msg("%s: finalize: provider %s cannot make its copies read-only: %s", tag, p->ops->name,
                                strerror(-k));
                        if (r >= 0)
                                r = k;
                }
        }
        free(arr);
        *ret_done = done;
        return r;
}

/* After finalize made @done copies read-only: their rows say "created". */
static int finalize_record(SnapshotSet *set, size_t done) {
        int r;

        set->set_finalized = true;
        for (size_t i = 0; i < set->n_snapshots; i++)
                if (set->snapshots[i]->created) {
                        r = record_created(set, set->snapshots[i], true);
                        if (r < 0)
                                return r;
                }
        if (done > 0)
                set_log(set, "finalize: %zu shadow cop%s read-only now", done, done == 1 ? "y is" : "ies are");
        return 0;
}

static int pick_interrupt(const SnapshotSet *set, const Snapshot *snap) {
        if (!snap->created)
                return CLEANUP_ABORT;
        return set->auto_recovery && !set->set_finalized && snap->p.writable ? CLEANUP_FINALIZE : CLEANUP_KEEP;
}

/* The fallback, on the loop (out of memory for a clean-up): finalize, and the undo of what is not kept. */
static void interrupt_cleanup_here(SnapshotSet *set) {
        size_t done = 0;
        bool writable_left = false;

        if (set->auto_recovery && !set->set_finalized) {
                char tag[VSS_ID_STRING_MAX + 16];

                session_tag(set, tag);
                writable_left = finalize_providers(set->snapshots, set->n_snapshots, tag, &done) < 0 ||
                                finalize_record(set, done) < 0;
        }
        if (writable_left)
                set_log(set, "finalize failed: the shadow copies of the set are deleted");
        for (size_t i = 0; i < set->n_snapshots; i++) {
                Snapshot *snap = set->snapshots[i];
                if (snap->created && !writable_left)
                        continue;
                snap->created = false;
                lvss_snapshot *p = &snap->p, *const arr[1] = { p };
                (void) snap->provider->ops->abort(snap->provider, arr, 1);
                if (snap->in_catalog && set->m->catalog_queue &&
                    lvss_catalog_queue_snapshot_remove(set->m->catalog_queue, &p->snapshot_id, NULL, NULL) >= 0)
                        snap->in_catalog = false;
        }
}

/*
 * Issue 11 §1: DoSnapshotSet interrupted (cancel, the requester gone): in a
 * worker, the created writable copies are made read-only (issue 9 part 2)
 * and what was not created is undone; when a finalize fails, every copy of
 * the set is undone: no writable copy is kept. With a commit child still
 * alive the set is undone once it is reaped (commit_orphan()) instead.
 */
void snapshot_set_interrupt_cleanup(SnapshotSet *set) {
        bool any = false;
        Cleanup *c;
        int r;

        if (set->commit_orphaned)
                return;
        for (size_t i = 0; i < set->n_snapshots; i++)
                any = any || pick_interrupt(set, set->snapshots[i]) != CLEANUP_KEEP;
        if (!any)
                return;
        c = cleanup_of_session(set, set->auto_recovery && !set->set_finalized ? "finalize" : "abort", pick_interrupt,
                               &r);
        if (!c) {
                if (r < 0)
                        interrupt_cleanup_here(set);
                return;
        }
        for (size_t i = 0; i < set->n_snapshots; i++)
                if (!set->snapshots[i]->created)
                        set->snapshots[i]->in_catalog = false;
        if (set->auto_recovery)
                set->set_finalized = true; /* asked once; a finalize that fails undoes the set */
        cleanup_submit(set, c);
}

static void set_finished_then(void *data, vss_hresult hr);

/* The set ends with @hr once its clean-ups are done: the owner slot goes, .done. */
static void snapshot_set_finish(SnapshotSet *set, vss_hresult hr) {
        /* issue 11 §5: no provider step of the set is left; the clean-ups fork their own workers */
        set->pick_worker = worker_end(set->pick_worker);
        /* issue 11 §1: a set undone in a worker ends once that is done, holding the set till then */
        if (snapshot_cleanup_wait(set, set_finished_then, set, hr))
                return;
        set_release_owner(set);
        if (VSS_SUCCEEDED(hr))
                set_log(set, "snapshot set created (%zu shadow cop%s)", set->n_snapshots,
                        set->n_snapshots == 1 ? "y" : "ies");
        else
                set_log(set, "DoSnapshotSet failed: %s", vss_hresult_name(hr) ?: "?");
        set->hooks->done(set->userdata, hr);
}

static void set_finished_then(void *data, vss_hresult hr) {
        snapshot_set_finish(data, hr);
}

void snapshot_set_post_commit(SnapshotSet *set) {
        step_start(set, PSTEP_POST_COMMIT); /* issue 11 §1: post_commit_done() goes on */
}

static void post_commit_done(SnapshotSet *set, int r, vss_hresult hr) {
        if (r < 0) {
                /* The copies exist but cannot be made readable: undo and fail. */
                set_log(set, "post_commit failed: %s", strerror(-r));
                snapshot_set_undo(set);
                set->hooks->abort_phase(set->userdata, VSS_FAILED(hr) ? hr : VSS_E_UNEXPECTED_PROVIDER_ERROR);
                return;
        }
        for (size_t i = 0; i < set->n_snapshots; i++) {
                Snapshot *snap = set->snapshots[i];
                snap->created = true;
                snap->created_usec = now_usec(CLOCK_REALTIME);
                /* A writable copy is "created" once finalize made it read-only. */
                r = record_created(set, snap, !snap->p.writable);
                if (r < 0) {
                        /* Not a copy the requester may be told of: undo and fail (issue 11 §4). */
                        snapshot_set_undo(set);
                        set->hooks->abort_phase(set->userdata, VSS_E_UNEXPECTED_PROVIDER_ERROR);
                        return;
                }
        }
        set->hooks->post_committed(set->userdata);
}

/* After PostSnapshot: every "created" mark and path of the set is written, or one failed. */
static void snapshot_set_recorded(int r, void *data, void *userdata) {
        SnapshotSet *set = userdata;

        if (!set->catalog_wait)
                return; /* the step ended meanwhile */
        set->catalog_wait = false;
        if (set->created_error < 0) {
                /* Not a copy the requester may be told of: undo and fail (issue 11 §4). */
                snapshot_set_undo(set);
                return snapshot_set_finish(set, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        }
        /* issue 12 §2: each volume's retention rules after a new persistent copy (admin.c, in a worker) */
        for (size_t i = 0; persistent(set) && i < set->n_snapshots; i++)
                set->hooks->apply_retention(set->userdata, set->snapshots[i]->p.volume);
        snapshot_set_finish(set, VSS_S_OK);
}

/* The copies are made (and finalized): the requester is told of them once their rows say
 * "created" on disk (issue 11 §1): the step goes on in snapshot_set_recorded(). */
static void set_made(SnapshotSet *set) {
        if (set->m->catalog_queue) {
                if (lvss_catalog_queue_barrier(set->m->catalog_queue, snapshot_set_recorded, set) < 0) {
                        snapshot_set_undo(set);
                        return snapshot_set_finish(set, VSS_E_OUTOFMEMORY);
                }
                set->catalog_wait = true;
                return;
        }
        snapshot_set_finish(set, VSS_S_OK);
}

void snapshot_set_end_prepare(SnapshotSet *set) {
        step_start(set, PSTEP_END_PREPARE); /* issue 11 §1: step_then() goes on */
}

void snapshot_set_complete(SnapshotSet *set) {
        if (set->auto_recovery && !set->set_finalized)
                return step_start(set, PSTEP_FINALIZE); /* issue 11 §1: step_then() goes on */
        set_made(set);
}

void snapshot_set_veto_done(SnapshotSet *set, vss_hresult hr) {
        if (set->commit_dying) {
                /* issue 11 §1: the set is undone once the killed commit child is reaped */
                set->commit_finish_pending = true;
                set->finish_hr = hr;
                set_log(set, "Abort done: DoSnapshotSet ends once the killed commit child (pid %d) is reaped",
                        worker_pid(set->commit_worker));
                return;
        }
        snapshot_set_finish(set, hr);
}

/* ---- the commit child and the hold window ---------------------------------- */

/*
 * What the commit child said (it writes on its worker's socket, worker.c):
 * 'F' flushed (only when the shared page could not be mapped); 'E' + hresult failure; 'D' done: every copy is made (and every
 * file system it froze is thawed), it only exits from then on; for the file
 * system freeze 'f' + index (about to freeze it), 'Z' + index + errno (it
 * could not), 'T' (all thawed). Read from set->commit_parsed on; a message cut
 * at the end waits for the rest.
 */
static void commit_parse(SnapshotSet *set, const uint8_t *out, size_t size) {
        size_t i = set->commit_parsed;

        while (i < size) {
                size_t len = out[i] == 'E' || out[i] == 'f' ? 5 : out[i] == 'Z' ? 9 : 1;
                uint32_t idx;
                int32_t err;

                if (size - i < len)
                        break;
                switch (out[i]) {
                case 'F':
                        set->commit_flushed = true;
                        break;
                case 'D':
                        set->commit_said_done = true;
                        break;
                case 'R':
                        set->commit_ready_said = true;
                        break;
                case 'E':
                        memcpy(&set->commit_error, out + i + 1, sizeof set->commit_error);
                        break;
                case 'f':
                        memcpy(&idx, out + i + 1, sizeof idx);
                        if (idx < set->n_freeze_fs && idx + 1 > set->freeze_started)
                                set->freeze_started = idx + 1;
                        break;
                case 'Z':
                        memcpy(&idx, out + i + 1, sizeof idx);
                        memcpy(&err, out + i + 5, sizeof err);
                        set->freeze_failed = err < 0 ? err : -EIO;
                        set->freeze_failed_index = idx;
                        break;
                case 'T':
                        set->freeze_thawed = true;
                        break;
                default:
                        break;
                }
                i += len;
        }
        set->commit_parsed = i;
}

/* Everything the commit child said until now. */
static void commit_read(SnapshotSet *set) {
        const uint8_t *out;
        size_t size;

        if (!set->commit_worker)
                return;
        out = worker_output(set->commit_worker, &size);
        commit_parse(set, out, size);
}

static void freeze_forget(SnapshotSet *set) {
        lvss_fs_list_free(set->freeze_fs, set->n_freeze_fs);
        set->freeze_fs = NULL;
        set->n_freeze_fs = 0;
        set->freeze_recorded = false;
        set->freeze_thawed = false;
        set->freeze_started = 0;
        set->freeze_failed = 0;
        set->freeze_failed_index = 0;
}

/* The commit is over (the child is reaped): thaw, in reverse, what the child
 * began to freeze and did not say it thawed; then drop the catalog rows of
 * the thawed ones. A file system that cannot be thawed keeps its row: the
 * next start-up tries again. */
static void freeze_release(SnapshotSet *set) {
        if (set->freeze_recorded) {
                for (size_t i = set->n_freeze_fs; i-- > 0;) {
                        const char *mp = set->freeze_fs[i].mount_point;
                        bool keep = false;

                        if (!set->freeze_thawed && i < set->freeze_started) {
                                int r = lvss_fs_thaw(mp);
                                if (r >= 0)
                                        set_log(set, "thawed the file system mounted on %s (the commit did not)",
                                                mp);
                                else if (r != -EINVAL) {
                                        set_log(set, "cannot thaw the file system mounted on %s: %s (kept in the "
                                                "catalog: lvssd's start-up tries again)", mp, strerror(-r));
                                        keep = true;
                                }
                        }
                        if (!keep && set->m->catalog_queue)
                                (void) lvss_catalog_queue_frozen_remove(set->m->catalog_queue, mp);
                }
        }
        freeze_forget(set);
}

/*
 * Issue 11 §1: a session that ends while its commit child still lives (the
 * requester went away during the commit, or before the child killed at the
 * hold window was reaped) does not wait for it. The child is killed and
 * handed to worker_adopt() with what undoing the set needs, copied out of
 * the session (which is freed right after): the file systems to thaw, the
 * snapshots to abort and their catalog rows. Once sd-event reaps the child,
 * orphan_reaped() reads the rest of what it said, thaws what it froze, and
 * undoes the set; never before, so nothing the dying child still writes
 * outlives the undo. At lvssd's shutdown (-ECANCELED) the rows simply stay:
 * the next start-up thaws and deletes what they name (manager_recover()).
 */
typedef struct CommitOrphan {
        Manager *m;
        char tag[VSS_ID_STRING_MAX + 16];
        lvss_fs *fs;
        size_t n_fs, started;
        bool recorded, thawed;
        lvss_provider **providers;
        lvss_snapshot *snaps;
        bool *in_catalog;
        size_t n;
} CommitOrphan;

static void orphan_free(CommitOrphan *o) {
        if (!o)
                return;
        lvss_fs_list_free(o->fs, o->n_fs);
        for (size_t i = 0; i < o->n; i++) {
                free(o->snaps[i].volume);
                free(o->snaps[i].snapshot_path);
        }
        free(o->snaps);
        free(o->providers);
        free(o->in_catalog);
        free(o);
}

static void orphan_reaped(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        CommitOrphan *o = userdata;

        if (k == -ECANCELED) { /* lvssd stops: the catalog keeps it all for the next start-up */
                orphan_free(o);
                return;
        }
        /* all it said: 'f' index, 'T' (see commit_parse()) */
        for (size_t i = 0; i < size; i++) {
                uint32_t idx;

                if (out[i] == 'E' || out[i] == 'f' || out[i] == 'Z') {
                        if (out[i] == 'f' && i + 4 < size) {
                                memcpy(&idx, out + i + 1, sizeof idx);
                                if (idx < o->n_fs && idx + 1 > o->started)
                                        o->started = idx + 1;
                        }
                        i += out[i] == 'Z' ? 8 : 4;
                } else if (out[i] == 'T')
                        o->thawed = true;
        }
        for (size_t i = o->n_fs; o->recorded && i-- > 0;) {
                const char *mp = o->fs[i].mount_point;
                int r = 0;

                if (!o->thawed && i < o->started) {
                        r = lvss_fs_thaw(mp);
                        if (r >= 0)
                                log_msg("%s: thawed the file system mounted on %s (the commit did not)", o->tag, mp);
                        else if (r != -EINVAL) {
                                log_msg("%s: cannot thaw the file system mounted on %s: %s (kept in the catalog: "
                                        "lvssd's start-up tries again)", o->tag, mp, strerror(-r));
                                continue;
                        }
                }
                /* issue 11 §1: through the catalog thread, after the rows queued before */
                if (o->m->catalog_queue)
                        (void) lvss_catalog_queue_frozen_remove(o->m->catalog_queue, mp);
                else if (o->m->catalog)
                        (void) lvss_catalog_frozen_remove(o->m->catalog, mp);
        }
        /* issue 11 §1: the providers' abort in a worker too (a clean-up of no session) */
        Cleanup *c = o->n > 0 ? cleanup_new(o->m, "abort", o->tag, o->n) : NULL;
        for (size_t i = 0; c && i < o->n; i++)
                if (cleanup_add(c, o->providers[i], &o->snaps[i], o->in_catalog[i], CLEANUP_ABORT) < 0)
                        c = cleanup_free(c);
        if (c) {
                log_msg("%s: the commit child of the ended session is reaped: the set is undone in a worker", o->tag);
                cleanup_submit(NULL, c);
                orphan_free(o);
                return;
        }
        for (size_t i = 0; i < o->n; i++) {
                lvss_snapshot *const arr[1] = { &o->snaps[i] };

                (void) o->providers[i]->ops->abort(o->providers[i], arr, 1);
                if (o->in_catalog[i] && o->m->catalog_queue)
                        (void) lvss_catalog_queue_snapshot_remove(o->m->catalog_queue, &o->snaps[i].snapshot_id,
                                                                  NULL, NULL);
                else if (o->in_catalog[i] && o->m->catalog)
                        (void) lvss_catalog_snapshot_remove(o->m->catalog, &o->snaps[i].snapshot_id);
        }
        log_msg("%s: the commit child of the ended session is reaped: the set is undone", o->tag);
        orphan_free(o);
}

/* The commit child outlives its session: 0 when it was handed over (the set is undone once it is
 * reaped), or a negative errno (nothing was taken from the session). */
static int commit_orphan(SnapshotSet *set) {
        CommitOrphan *o = calloc(1, sizeof *o);
        char id[VSS_ID_STRING_MAX];
        int r;

        if (!o)
                return -ENOMEM;
        o->m = set->m;
        vss_id_format(&set->session_id, id);
        snprintf(o->tag, sizeof o->tag, "session %s", id);
        o->n = set->n_snapshots;
        o->providers = calloc(o->n ? o->n : 1, sizeof *o->providers);
        o->snaps = calloc(o->n ? o->n : 1, sizeof *o->snaps);
        o->in_catalog = calloc(o->n ? o->n : 1, sizeof *o->in_catalog);
        if (!o->providers || !o->snaps || !o->in_catalog)
                goto nomem;
        for (size_t i = 0; i < o->n; i++) {
                const Snapshot *snap = set->snapshots[i];

                o->providers[i] = snap->provider;
                o->snaps[i] = snap->p;
                o->snaps[i].volume = NULL;
                o->snaps[i].snapshot_path = NULL;
                o->snaps[i].commit_ready = NULL; /* only the commit child's own (provider.h) */
                o->in_catalog[i] = snap->in_catalog;
                if ((snap->p.volume && !(o->snaps[i].volume = strdup(snap->p.volume))) ||
                    (snap->p.snapshot_path && !(o->snaps[i].snapshot_path = strdup(snap->p.snapshot_path))))
                        goto nomem;
        }
        r = worker_adopt(set->commit_worker, "of an ended session", orphan_reaped, o);
        if (r < 0) {
                orphan_free(o);
                return r;
        }
        /* handed over: the child, the file systems, and the rows are the orphan's now */
        set->commit_worker = NULL;
        o->fs = set->freeze_fs;
        o->n_fs = set->n_freeze_fs;
        o->started = set->freeze_started;
        o->recorded = set->freeze_recorded;
        o->thawed = set->freeze_thawed;
        set->freeze_fs = NULL;
        set->n_freeze_fs = 0;
        for (size_t i = 0; i < set->n_snapshots; i++) {
                set->snapshots[i]->in_catalog = false;
                set->snapshots[i]->created = false;
        }
        set->commit_orphaned = true;
        return 0;
nomem:
        orphan_free(o);
        return -ENOMEM;
}

/* A commit child forked before Freeze and never told to go: it ends without making anything
 * (issue 11 §1/§5). It is told so ('A'; a closed socket says the same), and reaped when it exits. */
static void commit_ready_wait_end(SnapshotSet *set);

void snapshot_set_abort_unstarted(SnapshotSet *set) {
        commit_ready_wait_end(set);
        if (!set->commit_worker || set->commit_go)
                return;
        set_log(set, "commit: the child forked before Freeze (pid %d) is told to abort: it makes nothing",
                worker_pid(set->commit_worker));
        if (worker_send(set->commit_worker, "A", 1) >= 0)
                set->commit_worker = worker_detach(set->commit_worker);
        else
                set->commit_worker = worker_cancel(set->commit_worker);
}

void snapshot_set_kill_commit(SnapshotSet *set) {
        set->catalog_wait = false; /* a catalog completion the step waited for is ignored */
        set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
        commit_read(set); /* what it said so far: which file systems it froze, whether it is done */
        snapshot_set_abort_unstarted(set);
        if (set->commit_worker && set->commit_said_done) {
                /* every copy is made: the child only exits, reaped through sd-event (issue 11 §5) */
                set->commit_worker = worker_detach(set->commit_worker);
        } else if (set->commit_worker) {
                int pid = worker_pid(set->commit_worker);

                if (commit_orphan(set) < 0) {
                        /* cannot keep what undoing the set needs (out of memory): the child is killed and
                         * reaped on its own; the set's rows stay "creating" and the next start-up deletes
                         * what they name, nothing is undone under the dying child's feet */
                        set_log(set, "cannot hand the commit child (pid %d) over: the set is left to the next "
                                "start-up", pid);
                        (void) worker_adopt(set->commit_worker, "of an ended session", NULL, NULL);
                        set->commit_worker = NULL;
                        set->commit_orphaned = true;
                } else
                        set_log(set, "the session ends before its commit child (pid %d) is reaped: the set is "
                                "undone once it is", pid);
        }
        set->commit_dying = false;
        set->commit_finish_pending = false;
        freeze_release(set);
}

static void commit_finished(SnapshotSet *set, vss_hresult hr) {
        snapshot_set_kill_commit(set);
        if (VSS_FAILED(hr)) {
                set_veto(set, hr, "the shadow copies could not be made");
                return;
        }
        set->hooks->committed(set->userdata);
}

/* Does the effective hold window end at a writer's freeze deadline rather than the configured window? */
static bool window_by_writer(const SnapshotSet *set) {
        return set->freeze_deadline_set && set->commit_deadline_mono == set->freeze_deadline_mono;
}

/* Says which limit the commit passed, in the session's log: "... while @what@then". */
static void log_window_passed(SnapshotSet *set, const char *what, const char *then) {
        if (window_by_writer(set))
                set_log(set, "the hold window is over while %s (writer '%s' thaws on its own right after: its "
                        "freeze timeout less the margin has passed)%s",
                        what, set->freeze_deadline_writer, then);
        else
                set_log(set, "the hold window of %llu ms is over while %s%s",
                        (unsigned long long) (set->m->cfg.hold_window_usec / USEC_PER_MSEC), what, then);
}

/*
 * Issue 11 §1: the commit child killed at the hold window is reaped through
 * sd-event, never by a waitpid() on the loop: a child asleep in the kernel
 * (a write to a frozen file system, syncfs, a btrfs ioctl) dies only once
 * that call returns. Meanwhile the writers are released at once (WS-6: the
 * Abort goes out at the hold window), the copies and catalog rows stay, and
 * DoSnapshotSet stays pending; once the child is reaped the file systems it
 * froze are thawed, the set is undone and the step ends. A session ended
 * before that (requester gone) still waits for it in snapshot_set_kill_commit().
 */
static void commit_reaped_after_kill(SnapshotSet *set) {
        set->commit_dying = false;
        freeze_release(set);
        snapshot_set_undo(set);
        set_log(set, "the killed commit child is reaped: the set is undone");
        if (set->commit_finish_pending) {
                set->commit_finish_pending = false;
                snapshot_set_finish(set, set->finish_hr);
        }
}

/* The child said 'D' (issue 11 §5): Thaw goes out now, not once it has exited. */
static void commit_made(SnapshotSet *set) {
        vss_hresult hr = VSS_S_OK;

        if (now_usec(CLOCK_MONOTONIC) > set->commit_deadline_mono) {
                /* Noticed late (the timer and the answer were due together): when the copy
                 * was made is not known, so it may postdate a writer's own thaw. */
                log_window_passed(set, "the commit finished", ": the copy may be too late");
                hr = VSS_E_HOLD_WRITES_TIMEOUT;
        }
        if (VSS_FAILED(hr)) {
                set_log(set, "commit failed");
                return commit_finished(set, hr);
        }
        /* Thaw goes out first, the line after it (issue 11 §5: no log write inside the window) */
        commit_finished(set, hr);
        set_log(set, "commit done");
}

/*
 * Issue 11 §5: Freeze goes out only once the commit child forked before it is
 * ready: forked, started, and its providers' ready_commit run (it says 'R').
 * Otherwise the child's start-up and its path work race the Freeze fan-out on
 * two CPUs, and what is left of them when "go" comes is inside the freeze
 * window. The wait is before any writer is frozen; a ready_commit that fails
 * vetoes the set then (no writer gets Freeze); a child that hangs in it is
 * killed at ProviderStepTimeoutMS= and the set is vetoed.
 */
static void commit_ready_wait_end(SnapshotSet *set) {
        if (!set->commit_ready_wait)
                return;
        set->commit_ready_wait = false;
        set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
}

static void commit_ready_reached(SnapshotSet *set) {
        commit_ready_wait_end(set);
        set->hooks->freeze(set->userdata);
}

static void commit_ready_failed(SnapshotSet *set, vss_hresult hr, const char *why) {
        commit_ready_wait_end(set);
        set_log(set, "commit: %s: the set is vetoed before Freeze", why);
        set_veto(set, VSS_FAILED(hr) ? hr : VSS_E_UNEXPECTED_PROVIDER_ERROR, why);
}

static int on_commit_ready_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        SnapshotSet *set = userdata;

        if (!set->commit_ready_wait)
                return 0;
        set_log(set, "commit: the child (pid %d) was not ready within ProviderStepTimeoutMS=%llu: killed",
                set->commit_worker ? worker_pid(set->commit_worker) : 0,
                (unsigned long long) (set->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
        set->commit_worker = worker_cancel(set->commit_worker);
        commit_ready_failed(set, VSS_E_UNEXPECTED_PROVIDER_ERROR, "the commit child was not ready in time");
        return 0;
}

/* What the child said while Freeze waits for it; @exited: it is reaped too, with @k (commit_done()). */
static void commit_ready_heard(SnapshotSet *set, bool exited, int k) {
        if (VSS_FAILED(set->commit_error))
                return commit_ready_failed(set, set->commit_error, "the providers cannot get the commit ready");
        if (set->commit_ready_said)
                return commit_ready_reached(set);
        if (!exited)
                return;
        /* died before it said ready: commit_fork() forks another, which gets ready after "go" */
        set_log(set, "commit: the child forked before Freeze ended before it was ready (%s)", strerror(-k));
        commit_ready_reached(set);
}

/* Starts the wait for 'R'; < 0: no wait (Freeze goes out now, as without a child forked before it). */
static int commit_ready_wait_begin(SnapshotSet *set) {
        uint64_t timeout = set->m->cfg.provider_step_timeout_usec;
        int r;

        if (!set->commit_worker || set->commit_go)
                return -ESRCH;
        set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
        if (timeout > 0) {
                r = sd_event_add_time_relative(set->m->event, &set->commit_timer, CLOCK_MONOTONIC, timeout, 0,
                                               on_commit_ready_timeout, set);
                if (r < 0)
                        return r;
        }
        set->commit_ready_wait = true;
        return 0;
}

static void commit_progress(Worker *w, const uint8_t *out, size_t size, void *userdata) {
        SnapshotSet *set = userdata;

        commit_parse(set, out, size);
        if (set->commit_ready_wait)
                return commit_ready_heard(set, false, 0);
        if (set->commit_said_done && set->commit_go && !set->commit_dying && set->committing)
                commit_made(set);
}

/* The commit child is reaped (worker.c): @k 0 it exited 0, otherwise it failed or was killed. */
static void commit_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        SnapshotSet *set = userdata;
        vss_hresult hr;

        set->commit_worker = NULL;
        if (k == -ECANCELED)
                return; /* lvssd stops: the catalog keeps the rest for the next start-up */
        commit_parse(set, out, size);
        if (set->commit_ready_wait)
                return commit_ready_heard(set, true, k);
        if (set->commit_dying)
                return commit_reaped_after_kill(set);
        if (!set->commit_go) {
                /* died before it was needed: commit_fork() forks another */
                set_log(set, "commit: the child forked before Freeze ended early (%s)", strerror(-k));
                return;
        }
        if (set->commit_said_done)
                return commit_made(set); /* its exit came before its last words were read */
        hr = VSS_FAILED(set->commit_error) ? set->commit_error : VSS_E_UNEXPECTED_PROVIDER_ERROR;
        set_log(set, "commit failed");
        if (set->freeze_failed < 0 && set->freeze_failed_index < set->n_freeze_fs) {
                /* issue 10 part 3: the cause, for StepFinished */
                set_detail(set, "cannot freeze the file system mounted on %s: %s",
                           set->freeze_fs[set->freeze_failed_index].mount_point, strerror(-set->freeze_failed));
        }
        commit_finished(set, hr);
}

static int on_hold_window(sd_event_source *src, uint64_t usec, void *userdata) {
        SnapshotSet *set = userdata;
        vss_hresult hr;

        if (set->catalog_wait && set->committing) {
                /* issue 11 §1: the catalog took the whole window: nothing is made (the rows go
                 * after they are written: the queue keeps the order) */
                log_window_passed(set, "the catalog was written", ": no commit");
                snapshot_set_kill_commit(set);
                return set_veto(set, VSS_E_HOLD_WRITES_TIMEOUT, "no time was left for the commit"), 0;
        }
        commit_read(set);
        if (set->commit_flag && __atomic_load_n(set->commit_flag, __ATOMIC_ACQUIRE))
                set->commit_flushed = true;
        hr = set->commit_flushed ? VSS_E_HOLD_WRITES_TIMEOUT : VSS_E_FLUSH_WRITES_TIMEOUT;
        log_window_passed(set, set->commit_flushed ? "committing" : "flushing", ": killing the commit");
        set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
        if (!set->commit_worker || worker_kill(set->commit_worker) < 0) {
                commit_finished(set, hr);
                return 0;
        }
        /* issue 11 §1: reaped by commit_done(); the writers get Abort now */
        set->commit_dying = true;
        set->commit_finish_pending = false;
        set_log(set, "the commit child (pid %d) is killed; the set is undone once it is reaped",
                worker_pid(set->commit_worker));
        set->hooks->abort_phase(set->userdata, hr);
        return 0;
}

/* In the commit child: a message of @n bytes on the pipe, in one write. */
static void child_say(int fd, char what, const void *data, size_t n) {
        uint8_t msg[16] = { (uint8_t) what };

        if (n > 0) /* 'T' has no data: memcpy from NULL is undefined even for 0 bytes */
                memcpy(msg + 1, data, n);
        (void) !write(fd, msg, n + 1);
}

/* In the commit child: FITHAW the first @n file systems in reverse; 'T' when
 * none is left frozen. */
static void child_thaw(SnapshotSet *set, int fd, size_t n) {
        bool ok = true;

        for (size_t i = n; i-- > 0;) {
                int r = lvss_fs_thaw(set->freeze_fs[i].mount_point);
                if (r < 0 && r != -EINVAL) {
                        set_log(set, "cannot thaw the file system mounted on %s: %s", set->freeze_fs[i].mount_point,
                                strerror(-r));
                        ok = false;
                } else
                        set_log(set, "thawed the file system mounted on %s", set->freeze_fs[i].mount_point);
        }
        if (n > 0 && ok)
                child_say(fd, 'T', NULL, 0);
}

/* In the commit child: FIFREEZE each file system in order, saying 'f' before
 * each; on a failure the frozen ones are thawed. */
static int child_freeze(SnapshotSet *set, int fd) {
        for (size_t i = 0; i < set->n_freeze_fs; i++) {
                uint32_t idx = (uint32_t) i;
                int r;

                child_say(fd, 'f', &idx, sizeof idx);
                r = lvss_fs_freeze(set->freeze_fs[i].mount_point);
                if (r < 0) {
                        int32_t err = r;
                        uint8_t data[8];

                        set_log(set, "cannot freeze the file system mounted on %s: %s", set->freeze_fs[i].mount_point,
                                strerror(-r));
                        memcpy(data, &idx, 4);
                        memcpy(data + 4, &err, 4);
                        child_say(fd, 'Z', data, sizeof data);
                        child_thaw(set, fd, i);
                        return r;
                }
                set_log(set, "froze the file system mounted on %s", set->freeze_fs[i].mount_point);
        }
        return 0;
}

/* Test hooks of the commit child (tests/integration/test-commit-child.c), N ms from the
 * environment variable @name, at most 60000; 0: no hook.
 *   LVSS_TEST_COMMIT_LINGER_MS: it stays alive N ms after it said 'D', as a slow exit would;
 *   LVSS_TEST_COMMIT_READY_DELAY_MS: it waits N ms before ready_commit, as a slow start-up would;
 *   LVSS_TEST_COMMIT_FLUSH_DELAY_MS: it waits N ms after pre_commit before it marks the flush
 *   done, as a slow flush would. */
static unsigned long child_hook_ms(const char *name) {
        const char *e = getenv(name);
        unsigned long ms = e ? strtoul(e, NULL, 10) : 0;

        return ms > 60000 ? 60000 : ms;
}

static void child_linger(unsigned long ms) {
        if (ms == 0)
                return;
        struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* In the commit child: gives back what ready_commit kept of every snapshot (provider.h). The
 * child exits right after, which would close it all too; this keeps each provider's own rule
 * (commit or release_commit gives it back) true in the child as in a unit test. */
static void child_release(SnapshotSet *set) {
        for (size_t i = 0; i < set->n_snapshots; i++) {
                lvss_snapshot *const arr[1] = { &set->snapshots[i]->p };

                if (arr[0]->commit_ready)
                        lvss_provider_release_commit(set->snapshots[i]->provider, arr, 1);
        }
}

/*
 * The commit child (a worker, worker.c), forked before Freeze goes out.
 * First, outside the freeze window, each provider's ready_commit (issue 11
 * §5): the path work of its commit (btrfs: the set directories and the
 * volumes resolved, checked and opened, the names checked free), kept for
 * commit. Then it waits for "go" ('G') on its socket, sent once every
 * writer is frozen, the hold window armed and the set's rows on disk
 * (commit_fork()); anything else ('A', or the socket closed: lvssd is gone
 * or the set was vetoed) and it exits having made nothing. Then flush,
 * freeze the file systems, commit, thaw them, and 'D': lvssd sends Thaw on
 * it; the exit comes after.
 *
 * Once ready it says 'R', and lvssd sends Freeze only then
 * (commit_ready_wait_begin()): the child's start-up and path work are done
 * before any writer is frozen, not raced against the Freeze fan-out. A
 * ready_commit that fails made nothing and kept nothing; the child says 'E'
 * and its hresult and exits, and lvssd vetoes the set before Freeze (WS-7:
 * Abort to the writers that got PrepareForSnapshot). A child forked only in
 * commit_fork() (none could be forked before) gets ready after "go", and
 * the same 'E' is the commit's failure.
 */
static int commit_run(int fd, void *userdata) {
        SnapshotSet *set = userdata;
        vss_hresult hr = VSS_S_OK, ready_hr = VSS_S_OK;
        uint8_t msg[5] = { 'E' }, go = 0;
        ssize_t k;
        int r, ready;

        unsigned long delay = child_hook_ms("LVSS_TEST_COMMIT_READY_DELAY_MS");
        if (delay > 0) {
                set_log(set, "test hook: the commit child waits %lu ms before ready_commit", delay);
                child_linger(delay);
        }
        ready = for_each_provider(set->snapshots, set->n_snapshots, offsetof(lvss_provider_ops, ready_commit),
                                  &ready_hr);
        if (ready < 0) {
                /* before Freeze (lvssd waits for 'R': commit_ready_wait_begin()) the set is vetoed on
                 * this; after "go" (a child forked only then) it is the commit's failure */
                child_release(set); /* a provider before the one that failed kept its part */
                set_log(set, "commit: the providers cannot get the commit ready");
                hr = ready_hr;
                goto fail;
        }
        set_log(set, "commit: the child is ready (the providers' ready_commit ran), waiting for go");
        /* the shared page is not in this process's page tables after the fork: a write here takes
         * that fault (tens of us in a guest) before the window, not at the flush mark */
        if (set->commit_flag)
                __atomic_store_n(set->commit_flag, 0, __ATOMIC_RELAXED);
        if (write(fd, "R", 1) != 1) {
                child_release(set);
                return 2;
        }

        do
                k = read(fd, &go, 1);
        while (k < 0 && errno == EINTR);
        if (k != 1 || go != 'G') {
                child_release(set);
                return 0; /* aborted: nothing is made */
        }

        if (for_each_provider(set->snapshots, set->n_snapshots, offsetof(lvss_provider_ops, pre_commit), &hr) < 0)
                goto fail;
        unsigned long flush_delay = child_hook_ms("LVSS_TEST_COMMIT_FLUSH_DELAY_MS");
        if (flush_delay > 0) {
                set_log(set, "test hook: the commit child flushes for %lu ms more", flush_delay);
                child_linger(flush_delay);
        }
        if (set->commit_flag) /* no message: lvssd's loop is not woken inside the window */
                __atomic_store_n(set->commit_flag, 1, __ATOMIC_RELEASE);
        else if (write(fd, "F", 1) != 1) {
                child_release(set);
                return 2;
        }
        /* issue 10 part 3: inside the hold window, after the flush */
        if (child_freeze(set, fd) < 0) {
                hr = VSS_E_UNEXPECTED_PROVIDER_ERROR;
                goto fail;
        }
        r = for_each_provider(set->snapshots, set->n_snapshots, offsetof(lvss_provider_ops, commit), &hr);
        child_thaw(set, fd, set->n_freeze_fs);
        child_release(set); /* the providers after one whose commit failed */
        if (r < 0)
                goto fail;
        unsigned long linger = child_hook_ms("LVSS_TEST_COMMIT_LINGER_MS");
        if (linger > 0) /* logged before 'D': the log says so by the time Thaw goes out */
                set_log(set, "test hook: the commit child lingers %lu ms after it says done", linger);
        if (write(fd, "D", 1) != 1)
                return 2;
        child_linger(linger);
        return 0;
fail:
        child_release(set);
        if (VSS_SUCCEEDED(hr))
                hr = VSS_E_UNEXPECTED_PROVIDER_ERROR;
        memcpy(msg + 1, &hr, sizeof hr);
        (void) !write(fd, msg, sizeof msg);
        return 1;
}

/* Forks the commit child that waits for "go" (issue 11 §5: the fork and the child's start leave
 * the freeze window): before Freeze goes out, or at the latest in commit_fork(). 0 or -errno. */
/* Forks the commit child that waits for "go" (before Freeze goes out). 0 or -errno. */
static int snapshot_set_prefork(SnapshotSet *set) {
        char tag[VSS_ID_STRING_MAX + 16], id[VSS_ID_STRING_MAX];
        int r;

        if (set->commit_worker)
                return 0;
        set->commit_parsed = 0;
        set->commit_go = false;
        set->commit_said_done = false;
        set->commit_flushed = false;
        set->commit_ready_said = false;
        set->commit_error = VSS_S_OK;
        if (!set->commit_flag) {
                void *flag = mmap(NULL, 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                set->commit_flag = flag == MAP_FAILED ? NULL : flag; /* else 'F' on the socket */
        }
        if (set->commit_flag)
                __atomic_store_n(set->commit_flag, 0, __ATOMIC_RELAXED);
        vss_id_format(&set->session_id, id);
        snprintf(tag, sizeof tag, "session %s", id);
        /* no deadline of its own: the hold window kills it (on_hold_window()) */
        r = worker_start(set->m, "commit", tag, 0, commit_run, commit_done, set, &set->commit_worker);
        if (r < 0) {
                set_log(set, "commit: cannot fork the commit child: %s", strerror(-r));
                return r;
        }
        worker_set_progress(set->commit_worker, commit_progress);
        return 0;
}

static void set_records_written(int r, void *data, void *userdata);

/*
 * The "creating" rows of the set's snapshots and a row for each file system
 * the commit freezes (issue 10 part 3), in one catalog job (issue 11 §1: on
 * the catalog thread), queued as DoSnapshotSet begins: the fsync runs while
 * PrepareForSnapshot and Freeze go out, not inside the freeze window. The
 * commit starts only once they are on disk (snapshot_set_commit(), or
 * set_records_written() when it has to wait; the hold window counts that
 * wait). A crash before the commit leaves "creating" rows of copies that do
 * not exist: start-up drops them. The rows count as in the catalog from now
 * on: a removal queued later runs after them.
 */
static int set_records_add(SnapshotSet *set) {
        _cleanup_(freep) lvss_catalog_snapshot *rows = NULL;
        _cleanup_(freep) lvss_catalog_frozen_row *frozen = NULL;
        char (*devs)[32] = NULL;
        uint64_t created = now_usec(CLOCK_REALTIME);
        int r;

        rows = calloc(set->n_snapshots ? set->n_snapshots : 1, sizeof *rows);
        frozen = calloc(set->n_freeze_fs ? set->n_freeze_fs : 1, sizeof *frozen);
        devs = calloc(set->n_freeze_fs ? set->n_freeze_fs : 1, sizeof *devs);
        if (!rows || !frozen || !devs) {
                free(devs);
                return -ENOMEM;
        }
        for (size_t i = 0; i < set->n_snapshots; i++) {
                Snapshot *snap = set->snapshots[i];
                rows[i] = (lvss_catalog_snapshot) {
                        .snapshot_id = snap->p.snapshot_id,
                        .set_id = snap->p.set_id,
                        .session_id = set->session_id,
                        .provider_id = snap->provider_id,
                        .volume = snap->p.volume,
                        .snapshot_path = snap->p.snapshot_path,
                        .state = "creating",
                        .persistent = persistent(set),
                        .context = set->context,
                        .attributes = (uint32_t) set->context | (set->auto_recovery ? VSS_VOLSNAP_ATTR_AUTORECOVER : 0),
                        .created_usec = created,
                };
        }
        for (size_t i = 0; i < set->n_freeze_fs; i++)
                frozen[i] = (lvss_catalog_frozen_row) {
                        .mount_point = set->freeze_fs[i].mount_point,
                        .device = lvss_fs_dev_name(set->freeze_fs[i].dev, devs[i], sizeof devs[i]),
                        .usec = created + i,
                };
        if (lvss_catalog_queue_delay_ms(set->m->catalog_queue) > 0)
                set_log(set, "test hook: the catalog write of the set's rows is delayed %u ms",
                        lvss_catalog_queue_delay_ms(set->m->catalog_queue));
        r = lvss_catalog_queue_set_records(set->m->catalog_queue, rows, set->n_snapshots, &set->session_id, frozen,
                                           set->n_freeze_fs, set_records_written, set);
        free(devs);
        if (r < 0)
                return r;
        for (size_t i = 0; i < set->n_snapshots; i++)
                set->snapshots[i]->in_catalog = true;
        set->freeze_recorded = set->n_freeze_fs > 0;
        set->records_state = 0;
        return 0;
}

static void commit_fork(SnapshotSet *set);

void snapshot_set_commit(SnapshotSet *set) {
        int r;

        set->committing = true;
        set->commit_flushed = false;

        /* The effective hold window (see the top): nothing is made once it is over. */
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        set->commit_started_mono = now;
        set->commit_deadline_mono = now + set->m->cfg.hold_window_usec;
        if (set->freeze_deadline_set && set->freeze_deadline_mono < set->commit_deadline_mono)
                set->commit_deadline_mono = set->freeze_deadline_mono;
        if (set->commit_deadline_mono <= now) {
                log_window_passed(set, "writers were still freezing", ": no commit");
                return set_veto(set, VSS_E_HOLD_WRITES_TIMEOUT, "no time was left for the commit");
        }

        /* issue 11 §1: the hold window is armed before anything else happens while the writers are
         * frozen (the catalog's fsync included); for an external freeze the hold limit does it. */
        if (!set->external) {
                r = sd_event_add_time(set->m->event, &set->commit_timer, CLOCK_MONOTONIC, set->commit_deadline_mono, 1,
                                      on_hold_window, set);
                if (r < 0) {
                        set_log(set, "cannot arm the hold window: %s", strerror(-r));
                        return set_veto(set, VSS_E_UNEXPECTED, "the hold window cannot be armed");
                }
        }

        /* Rows first: whatever the child makes, the catalog knows where (queued as DoSnapshotSet
         * began, set_records_add()); the commit waits for them when they are not on disk yet. */
        set->created_error = 0;
        if (set->m->catalog_queue && set->records_state == 0) {
                set->catalog_wait = true; /* set_records_written() goes on */
                return;
        }
        if (set->records_state < 0) {
                set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
                return set_veto(set, VSS_E_UNEXPECTED_PROVIDER_ERROR, "the catalog cannot record the snapshot");
        }
        commit_fork(set);
}

static void set_records_written(int r, void *data, void *userdata) {
        SnapshotSet *set = userdata;

        set->records_state = r < 0 ? r : 1;
        if (r < 0) {
                /* all or nothing: none of the set's rows is written */
                for (size_t i = 0; i < set->n_snapshots; i++)
                        set->snapshots[i]->in_catalog = false;
        }
        if (!set->catalog_wait || !set->committing)
                return; /* the commit comes later, or the window closed or the step ended meanwhile */
        set->catalog_wait = false;
        if (r < 0) {
                set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
                freeze_release(set);
                return set_veto(set, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                            set->n_freeze_fs > 0
                                    ? "the catalog cannot record the snapshot or the file systems to freeze"
                                    : "the catalog cannot record the snapshot");
        }
        commit_fork(set);
}

/* The records are on disk: hold (external) or fork the commit child. */
static void commit_fork(SnapshotSet *set) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (set->external) {
                /* issue 10 part 2: the copy is made outside; hold until thaw, the hold limit, or an abort.
                 * The hold limit replaces the hold window; a writer's own freeze timeout still bounds it.
                 * It counts from the start of the commit, the catalog's time included. */
                uint64_t deadline = 0;
                r = set->hooks->hold(set->userdata, set->commit_started_mono,
                                     set->freeze_deadline_set ? set->freeze_deadline_mono : UINT64_MAX, &deadline);
                set->commit_deadline_mono = deadline;
                if (r < 0) {
                        set_log(set, "cannot arm the hold limit: %s", strerror(-r));
                        return set_veto(set, VSS_E_UNEXPECTED, "the hold limit cannot be armed");
                }
                return;
        }

        /* issue 10 part 3: each file system to freeze is in the catalog before the child may freeze it
         * (written with the set's rows, set_records_add()) */
        set->freeze_recorded = set->n_freeze_fs > 0;

        if (now_usec(CLOCK_MONOTONIC) >= set->commit_deadline_mono) {
                /* issue 11 §1: the catalog took the whole window: nothing is made */
                set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
                freeze_release(set);
                log_window_passed(set, "the catalog was written", ": no commit");
                return set_veto(set, VSS_E_HOLD_WRITES_TIMEOUT, "no time was left for the commit");
        }

        /* the child forked before Freeze (or now, when there was none) goes; the hold window's timer is
         * armed already (snapshot_set_commit(); accuracy 1 us: sd-event's default, 250 ms, would eat the margin) */
        r = snapshot_set_prefork(set);
        if (r >= 0 && worker_send(set->commit_worker, "G", 1) < 0) {
                /* it died meanwhile (its reaping is not read yet): another one */
                set_log(set, "commit: the child forked before Freeze is gone: forking another");
                set->commit_worker = worker_cancel(set->commit_worker);
                r = snapshot_set_prefork(set);
                if (r >= 0)
                        r = worker_send(set->commit_worker, "G", 1);
        }
        if (r < 0) {
                set->commit_worker = worker_cancel(set->commit_worker);
                set->commit_timer = sd_event_source_disable_unref(set->commit_timer);
                freeze_release(set);
                return set_veto(set, VSS_E_UNEXPECTED_PROVIDER_ERROR, "the commit child cannot start");
        }
        set->commit_go = true;
        /* logged once the child goes (issue 11 §5: the write is not between the writers' Freeze
         * answers and "go"; the child makes the copies meanwhile) */
        set_log(set, "commit: making %zu shadow cop%s (hold window %llu ms%s%s%s)", set->n_snapshots,
                set->n_snapshots == 1 ? "y" : "ies",
                (unsigned long long) ((set->commit_deadline_mono - now) / USEC_PER_MSEC),
                window_by_writer(set) ? ", bounded by writer '" : "",
                window_by_writer(set) ? set->freeze_deadline_writer : "",
                window_by_writer(set) ? "'" : "");
}

/* Does @fs hold @path (a path lvssd writes during the commit)? A missing path holds nothing. */
static bool fs_holds(const lvss_fs *fs, const char *path) {
        struct stat st;

        return path && stat(path, &st) >= 0 && st.st_dev == fs->dev;
}

/*
 * After begin_prepare (issue 10 part 3): the file systems of the volumes of
 * providers with freeze_filesystems, into set->freeze_fs. -EBUSY, with
 * *@ret_detail naming it, when one holds lvssd's state directory, its
 * catalog or the shadow storage area: freezing it would stop lvssd (and the
 * exec provider's records) in the middle of the commit.
 */
static int freeze_plan(SnapshotSet *set, char **ret_detail) {
        _cleanup_(freep) const char **paths = NULL;
        _cleanup_(freep) char *catalog = NULL;
        size_t n = 0, failed = 0;
        int r;

        freeze_forget(set);
        paths = calloc(set->n_snapshots + 1, sizeof *paths);
        if (!paths)
                return -ENOMEM;
        for (size_t i = 0; i < set->n_snapshots; i++)
                if (set->snapshots[i]->provider && set->snapshots[i]->provider->ops->freeze_filesystems)
                        paths[n++] = set->snapshots[i]->p.volume;
        if (n == 0)
                return 0;

        set_detail_clear(set);
        r = lvss_fs_list(paths, n, &set->freeze_fs, &set->n_freeze_fs, &failed);
        if (r < 0) {
                if (asprintf(ret_detail, "cannot find the file system of %s to freeze it: %s", paths[failed],
                             strerror(-r)) < 0)
                        *ret_detail = NULL;
                return r;
        }
        if (asprintf(&catalog, "%s/catalog.db", set->m->cfg.state_dir) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < set->n_freeze_fs; i++) {
                const lvss_fs *fs = &set->freeze_fs[i];
                const char *what = fs_holds(fs, set->m->cfg.state_dir) ? "lvssd's state directory"
                                   : fs_holds(fs, catalog)           ? "lvssd's catalog"
                                   : fs_holds(fs, set->m->cfg.storage_dir) ? "the shadow storage area"
                                                                           : NULL;
                if (what) {
                        if (asprintf(ret_detail,
                                     "the file system mounted on %s holds %s: lvss never freezes it "
                                     "(FreezeFilesystems=)", fs->mount_point, what) < 0)
                                *ret_detail = NULL;
                        return -EBUSY;
                }
        }
        for (size_t i = 0; i < set->n_freeze_fs; i++)
                set_log(set, "the commit freezes the file system mounted on %s (%zu of %zu)",
                        set->freeze_fs[i].mount_point, i + 1, set->n_freeze_fs);
        return 0;
}

static void set_refused(SnapshotSet *set, vss_hresult hr) {
        set->pick_worker = worker_end(set->pick_worker); /* issue 11 §5: the set's steps are over */
        set_release_owner(set);
        freeze_forget(set);
        set->hooks->done(set->userdata, hr);
}

static void set_refused_then(void *data, vss_hresult hr) {
        set_refused(data, hr);
}

/* DoSnapshotSet refused before anything was sent to writers: undo the set and fail the step once
 * the undo is done (issue 11 §1: in a worker). */
static void refuse_set(SnapshotSet *set, vss_hresult hr) {
        snapshot_set_undo(set);
        if (snapshot_cleanup_wait(set, set_refused_then, set, hr))
                return;
        set_refused(set, hr);
}

/*
 * issue 12 §2: storage full at the commit. The copy provider refused the set in begin_prepare
 * with VSS_E_INSUFFICIENT_STORAGE (nothing frozen, nothing made, no row yet): the set is undone
 * as for any refusal, then admin_make_room() deletes the oldest copies of the set's volumes
 * that have a limit and no session uses, as far as the new copies need, and begin_prepare runs
 * once more. When no room can be made nothing is deleted and the set fails with
 * VSS_E_INSUFFICIENT_STORAGE. A session that ends or is interrupted meanwhile is not
 * continued (the session layer's room_made() finds it gone, or snapshot_set_room_made() no
 * longer waiting).
 */
static int room_volumes(SnapshotSet *set, char ***ret) {
        lvss_provider *copy = manager_provider_by_id(set->m, &LVSS_PROVIDER_COPY_ID);
        _cleanup_(strv_freep) char **l = NULL;

        for (size_t i = 0; copy && i < set->n_snapshots; i++) {
                const char *vol;
                uint64_t max_bytes;
                unsigned max_percent;
                bool limited = false;

                if (set->snapshots[i]->provider != copy || !set->snapshots[i]->p.volume)
                        continue;
                for (size_t k = 0; lvss_provider_copy_limit_at(copy, k, &vol, &max_bytes, &max_percent) >= 0; k++)
                        if (streq_ptr(vol, set->snapshots[i]->p.volume) && (max_bytes || max_percent))
                                limited = true;
                for (size_t k = 0; limited && l && l[k]; k++)
                        if (streq_ptr(l[k], set->snapshots[i]->p.volume))
                                limited = false; /* listed already */
                if (limited && strv_push(&l, set->snapshots[i]->p.volume) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return *ret ? 1 : 0;
}

static void room_start(SnapshotSet *set, vss_hresult hr) {
        _cleanup_(strv_freep) char **vols = NULL;
        int r = room_volumes(set, &vols);

        if (r > 0) {
                set->room_wait = true;
                r = set->hooks->make_room(set->userdata, vols);
                if (r >= 0)
                        return;
                set->room_wait = false;
        }
        set_log(set, "DoSnapshotSet: cannot make room: %s", r < 0 ? strerror(-r) : "no volume with a limit");
        set_refused(set, hr);
}

static void room_start_then(void *data, vss_hresult hr) {
        room_start(data, hr);
}

void snapshot_set_room_made(SnapshotSet *set, int r) {
        if (!set->room_wait)
                return; /* interrupted meanwhile: nothing to go on with */
        set->room_wait = false;
        if (r < 0) {
                set_log(set, "DoSnapshotSet: refused: no room under the shadow storage limit%s%s",
                        r == -ENOSPC ? "" : ": ", r == -ENOSPC ? "" : strerror(-r));
                set_detail(set, "not enough room under the shadow storage limit (MaxSize=), even without the "
                           "older shadow copies no session uses");
                set_refused(set, VSS_E_INSUFFICIENT_STORAGE);
                return;
        }
        set_log(set, "DoSnapshotSet: room made under the shadow storage limit; begin_prepare once more");
        step_start(set, PSTEP_BEGIN_PREPARE);
}

static void set_prepared(SnapshotSet *set, int r, vss_hresult hr) {
        _cleanup_(strv_freep) char **room = NULL;

        if (r < 0 && hr == VSS_E_INSUFFICIENT_STORAGE && !set->room_tried && room_volumes(set, &room) > 0) {
                set->room_tried = true;
                set_log(set, "DoSnapshotSet: the shadow storage limit is full; deleting the oldest shadow "
                        "copies no session uses to make room, then once more");
                snapshot_set_undo(set);
                if (snapshot_cleanup_wait(set, room_start_then, set, hr))
                        return;
                room_start(set, hr);
                return;
        }
        if (r < 0) {
                set_log(set, "DoSnapshotSet: the provider refused: %s (%s)", vss_hresult_name(hr) ?: "?",
                        strerror(-r));
                /* StepFinished says the cause too (issue 8 item 6) */
                if (hr != VSS_E_PROVIDER_VETO)
                        set_detail(set, "the provider failed: %s", strerror(-r));
                else
                        set_detail_clear(set);
                refuse_set(set, VSS_FAILED(hr) ? hr : VSS_E_PROVIDER_VETO);
                return;
        }
        char *detail = NULL;
        r = freeze_plan(set, &detail);
        if (r < 0) {
                set_log(set, "DoSnapshotSet: refused: %s", strempty(detail));
                if (detail)
                        set->hooks->detail(set->userdata, detail); /* takes it */
                refuse_set(set, VSS_E_PROVIDER_VETO);
                return;
        }
        set->set_prepared = true;
        set->set_finalized = false;
        auto_recovery_decide(set);
        for (size_t i = 0; i < set->n_snapshots; i++)
                set_log(set, "%s: provider %s, %s", set->snapshots[i]->p.volume,
                        set->snapshots[i]->provider ? set->snapshots[i]->provider->ops->name : "?",
                        set->snapshots[i]->p.atomic ? "atomic" : "not atomic");
        set_log(set, "the set is %scaptured at one instant", set_is_atomic(set) ? "" : "not ");
        /* issue 11 §1/§5: the rows go to disk while the writers prepare and freeze */
        set->freeze_recorded = false;
        set->freeze_thawed = false;
        set->freeze_started = 0;
        set->freeze_failed = 0;
        set->records_state = 1;
        if (set->m->catalog_queue && set_records_add(set) < 0) {
                set_log(set, "DoSnapshotSet: out of memory for the catalog rows");
                refuse_set(set, VSS_E_OUTOFMEMORY);
                return;
        }
        /* PrepareForSnapshot to the writers, or (no writers) straight to the commit */
        set->hooks->prepared(set->userdata);
}

static void step_then(SnapshotSet *set, ProviderStep step, int r, vss_hresult hr) {
        switch (step) {
        case PSTEP_BEGIN_PREPARE:
                return set_prepared(set, r, hr);
        case PSTEP_END_PREPARE:
                if (r < 0)
                        return set_veto(set, VSS_FAILED(hr) ? hr : VSS_E_PROVIDER_VETO, "the provider vetoed");
                /* issue 11 §5: the commit child is forked now, outside the freeze window, and Freeze
                 * goes out once it is ready (commit_ready_wait_begin()); it then waits for "go"
                 * (commit_fork()). One that cannot be forked now is forked there. */
                if (!set->external && snapshot_set_prefork(set) >= 0 && commit_ready_wait_begin(set) >= 0)
                        return;
                return set->hooks->freeze(set->userdata);
        case PSTEP_POST_COMMIT:
                return post_commit_done(set, r, hr);
        case PSTEP_FINALIZE:
                /* A copy that cannot be made read-only is no shadow copy: the set is undone. */
                if (r >= 0)
                        r = finalize_record(set, (size_t) hr);
                else
                        set_log(set, "finalize: the providers cannot make the copies read-only: %s",
                                strerror(-r));
                if (r < 0) {
                        snapshot_set_undo(set);
                        return snapshot_set_finish(set, VSS_E_UNEXPECTED_PROVIDER_ERROR);
                }
                return set_made(set);
        }
}

void snapshot_set_begin(SnapshotSet *set, int32_t context, bool external) {
        set->context = context;
        set->external = external;
        set->room_tried = false;
        set->room_wait = false;
        set->freeze_deadline_mono = 0;
        set->freeze_deadline_set = false;
        set->freeze_deadline_writer = NULL;
        step_start(set, PSTEP_BEGIN_PREPARE); /* issue 11 §1: set_prepared() goes on */
}

void snapshot_set_phase_changed(SnapshotSet *set) {
        set->committing = false;
}

void snapshot_set_freeze_deadline(SnapshotSet *set, bool any, uint64_t deadline_mono, const char *writer) {
        set->freeze_deadline_set = any;
        set->freeze_deadline_mono = any ? deadline_mono : 0;
        set->freeze_deadline_writer = any ? writer : NULL;
}

void snapshot_set_external_made(SnapshotSet *set) {
        set_log(set, "thaw: the external snapshot is made");
        commit_finished(set, VSS_S_OK);
}

bool snapshot_set_prepared(const SnapshotSet *set) {
        return set->set_prepared;
}

bool snapshot_set_atomic(const SnapshotSet *set) {
        return set_is_atomic(set);
}

/* ---- start-up recovery ------------------------------------------------------ */

typedef struct Orphans {
        Manager *m;
        vss_id *ids; /* rows whose copy is gone from disk */
        size_t n;
} Orphans;

static int recover_one(const lvss_catalog_snapshot *cs, void *userdata) {
        Orphans *o = userdata;
        lvss_provider *p = manager_provider_by_id(o->m, &cs->provider_id);
        vss_id *a;
        int r;

        if (p && cs->snapshot_path) {
                r = p->ops->delete_snapshot(p, cs->snapshot_path);
                if (r < 0) {
                        log_msg("recovery: cannot delete %s: %s (kept in the catalog)", cs->snapshot_path,
                                strerror(-r));
                        return 0;
                }
        }
        log_msg("recovery: deleted %s shadow copy %s of a session that is gone",
                streq_ptr(cs->state, "creating") ? "unfinished" : "auto-release", strempty(cs->snapshot_path));
        a = reallocarray(o->ids, o->n + 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        o->ids = a;
        o->ids[o->n++] = cs->snapshot_id;
        return 0;
}

/* Start-up (issue 10 part 3): a file system a commit of a previous run froze. */
static int recover_frozen(const char *mount_point, const char *device, void *userdata) {
        Manager *m = userdata;
        struct stat st;
        char dev[32];
        int r;

        if (stat(mount_point, &st) < 0)
                log_msg("recovery: %s (device %s), frozen by a previous run: %m; forgotten", mount_point, device);
        else if (!streq_ptr(lvss_fs_dev_name(st.st_dev, dev, sizeof dev), device))
                log_msg("recovery: %s, frozen by a previous run as device %s, is device %s now: left alone, "
                        "forgotten", mount_point, device, dev);
        else {
                r = lvss_fs_thaw(mount_point);
                if (r >= 0)
                        log_msg("recovery: thawed the file system mounted on %s (device %s), frozen by a commit of a "
                                "previous run", mount_point, device);
                else if (r == -EINVAL)
                        log_msg("recovery: the file system mounted on %s (device %s) was not frozen any more",
                                mount_point, device);
                else {
                        log_msg("recovery: cannot thaw the file system mounted on %s (device %s): %s", mount_point,
                                device, strerror(-r));
                        return 0; /* kept: the next start-up tries again */
                }
        }
        (void) lvss_catalog_frozen_remove(m->catalog, mount_point);
        return 0;
}

void manager_recover(Manager *m) {
        Orphans o = { .m = m };
        int r;

        if (!m->catalog)
                return;
        /* First of all: a frozen file system stops whatever writes to it. */
        r = lvss_catalog_foreach_frozen(m->catalog, recover_frozen, m);
        if (r < 0)
                log_msg("recovery: cannot list the frozen file systems: %s", strerror(-r));
        r = lvss_catalog_sessions_abort_active(m->catalog, "lvssd stopped while the session was active",
                                               now_usec(CLOCK_REALTIME));
        if (r > 0)
                log_msg("recovery: %d session%s of a previous run recorded as aborted", r, r == 1 ? "" : "s");

        /* Delete from disk first, then drop the rows (the catalog ordering rule). */
        r = lvss_catalog_foreach_orphan(m->catalog, recover_one, &o);
        if (r < 0)
                log_msg("recovery: cannot list orphaned shadow copies: %s", strerror(-r));
        for (size_t i = 0; i < o.n; i++)
                (void) lvss_catalog_snapshot_remove(m->catalog, &o.ids[i]);
        free(o.ids);
}

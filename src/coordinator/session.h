/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * session.c: requester sessions: their life (session-state.h, the table),
 * the status table (WS-1..WS-4, WS-8, WS-9), completion (WS-3), abort
 * (WS-13). Above the fan-out, the registry and the snapshot set.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <lvss/types.h>
#include <lvss/writer.h>

#include "answer.h"
#include "fanout.h"
#include "forward.h"
#include "refusal.h"
#include "registry.h"
#include "session-state.h"
#include "snapshot.h"

struct Entry {
        Session *session;
        Writer *writer; /* NULL once the writer is gone */
        vss_id instance_id, writer_id;
        char *writer_name, *instance_name;
        char *metadata;
        vss_writer_state state;
        vss_hresult failure;
        vss_hresult application_result;
        char *application_message;
        vss_writer_event last_event;
        bool in_progress;
        uint64_t last_event_usec, duration_usec;
        bool answered_by_lvssd; /* issue 11 §5: last_event was answered by lvssd, not the writer (WS-9) */
        const Target *current; /* the target whose answer this entry waits for, or NULL */
        bool got_prepare_backup;
        bool got_prepare_snapshot;
        bool frozen;
        bool finished_post_snapshot;
};

struct Component {
        vss_id instance_id, writer_id;
        char *instance_name;       /* the writer instance's name; restore matches on it */
        vss_component_type type;
        char *logical_path, *name;
        bool backup_succeeded;
        char *backup_metadata, *backup_stamp, *previous_backup_stamp;
        /* restore */
        bool selected_for_restore;
        char *restore_metadata;
        vss_file_restore_status file_restore_status;
        char *pre_restore_failure_msg, *post_restore_failure_msg;
};


typedef enum SessionKind {
        SESSION_NEW,
        SESSION_BACKUP,
        SESSION_RESTORE,
} SessionKind;

/* DoSnapshotSet's phase, as its driver (session-snapshot.c) sent it to the writers; the commit is
 * the snapshot set's (snapshot.c). */
typedef enum SnapPhase {
        SNAP_PREPARE_SNAPSHOT,
        SNAP_FREEZE,
        SNAP_COMMIT,
        SNAP_THAW,
        SNAP_THAW_FAILED_ABORT,
        SNAP_POST_SNAPSHOT,
        SNAP_VETO_ABORT,
} SnapPhase;

typedef enum StepKind {
        STEP_NONE,
        STEP_GATHER_METADATA,
        STEP_GATHER_STATUS, /* restore without metadata: Identify first (WS-12) */
        STEP_PREPARE_BACKUP,
        STEP_DO_SNAPSHOT_SET,
        STEP_BACKUP_COMPLETE,
        STEP_PRE_RESTORE,
        STEP_POST_RESTORE,
        STEP_ABORT,
        STEP_RELEASE,
} StepKind;

/*
 * issue 11 §2: the calls run one way (session → snapshot set → providers). An external
 * session's driver (external.c, above the session layer) sets these on its session; the
 * session layer and the snapshot set call them rather than external.c by name.
 */
/*
 * issue 11 §2: what the session layer tells a requester, through its bus edge
 * (session-bus.c, set as Manager.session_hooks by server_listen()), so that the
 * session never builds a message itself. A Manager without it (the unit tests of
 * lvssd-core) has no requester to tell.
 */
typedef struct SessionHooks {
        /* The asynchronous step @name of @s ended with @hr (the StepFinished signal to
         * s->client); @message: its cause or note, "" for none. 0 or a negative errno. */
        int (*step_finished)(Session *s, const char *name, vss_hresult hr, const char *message);
} SessionHooks;

typedef struct ExternalHooks {
        /* a step of the session ended: the driver starts the next one */
        void (*step_finished)(Session *s, StepKind step, vss_hresult hr);
        /* the snapshot set: arm the hold limit's timer at @deadline_mono (CLOCK_MONOTONIC) */
        int (*arm_hold)(Session *s, uint64_t deadline_mono);
        /* the snapshot set: every writer is frozen, the hold begins */
        void (*holding)(Session *s);
} ExternalHooks;

struct Session {
        Manager *m;
        Client *client; /* NULL once the requester is gone */
        vss_id id;
        uid_t uid;
        pid_t pid;
        SessionKind kind;           /* what Initialize made it: set once, data (the state says how far it got) */
        uint64_t opened_mono;       /* issue 12 §3: lvss_backup_duration_seconds */
        SessionState state;         /* issue 11 §2: where the session is in its life (session-state.h) */
        SessionState released_from; /* SESSION_STATE_RELEASING: the state it came from (how it ends) */
        int32_t context;
        bool backup_state_set;
        bool select_components, bootable_system_state, partial_file_support;
        vss_backup_type backup_type;
        bool metadata_gathered;  /* the entries are recorded (data: in either order with the set) */
        bool set_started;
        vss_id set_id;
        vss_restore_type restore_type;
        struct lvss_bcd *bcd;      /* restore: the document InitializeForRestore loaded */
        char *end_reason;

        Entry **entries;
        size_t n_entries;
        Component *components;
        size_t n_components;

        /* the running step */
        StepKind step;
        /* DoSnapshotSet ended with @hr (snapshot_set_run(), set by the session layer) */
        void (*set_done)(Session *s, vss_hresult hr);
        SnapPhase snap_phase;      /* DoSnapshotSet: the phase sent to the writers (session-snapshot.c) */
        const char *step_name;     /* "PrepareForBackup": named in StepFinished */
        bool step_signal;          /* the step ends with a StepFinished signal */
        Pending *step_call;        /* the deferred call to answer (AbortBackup, Release), or NULL */
        Pending *queued_release;   /* Release that came during the Abort of a cancelled set */
        Fanout **detached;         /* fan-outs of cancelled steps, still recording late answers */
        size_t n_detached;
        Fanout *fanout;
        /* issue 11 §2: the set's own state (snapshot.c): its snapshots, auto-recovery, the provider
         * worker and steps, its phase, the commit child, the frozen file systems, the hold window,
         * the clean-ups, finalize; the session only holds it */
        SnapshotSet *set;
        vss_hresult step_hr;       /* the step's result so far */
        Entry **work;              /* the entries of the current fan-out */
        size_t n_work;
        /* issue 11 §1: the IsVolumeSupported / AddToSnapshotSet call waiting for the session's
         * worker (kept in the set, snapshot_set_worker(): it runs the set's provider steps too) */
        Pending *pick_call;
        bool pick_add;
        char *pick_volume;
        bool after_abort_shutdown; /* requester gone: BackupShutdown follows the abort */
        /* issue 8 item 5: idle while holding the set in creation (Manager.set_owner) */
        sd_event_source *idle_timer;
        uint64_t set_started_usec;  /* CLOCK_REALTIME */
        bool idle_expired;          /* aborted for it: Release follows the Abort */
        /* issue 8 item 6: writer-status rows of this session the catalog did not take */
        size_t history_lost;
        int history_error;          /* why (negative errno) */
        /* issue 11 §5: from its Freeze fan-out's start to the end of its Thaw or Abort fan-out, or its
         * free; its history rows wait in memory meanwhile (manager_writers_frozen(), manager.h) */
        bool writers_frozen;
        /* issue 11 §1: the catalog off the event path */
        Pending *open_call;         /* OpenSession, answered once the session's row is written */
        Pending *record_call;       /* GetRecordStatus, answered once the history queued before is written */
        char *step_detail;          /* the cause of the running step's failure, for StepFinished, or NULL */

        /* issue 10 part 2: an external session, owned by lvssd (external.c) */
        bool external;
        const ExternalHooks *external_hooks; /* set with external, by external.c */
        char *origin;               /* "external: CALLER, pid N, uid U" (ListWriters), or NULL */
        char **external_volumes;    /* --volume: canonical paths; only writers with files there take part */
        uint64_t external_hold_usec;     /* the effective hold limit */
        bool external_holding;      /* every writer frozen, waiting for thaw */
        bool external_thaw_wanted;  /* ExternalThaw came: BackupComplete follows the set */
        bool external_held_out;     /* thawed by lvssd past the hold limit (or its stop): thaw must say so */
        bool external_reported;     /* a freeze reply or thaw/abort reply said how it ended */
        bool external_call_is_abort; /* ExternalAbort came */
        bool external_abort_wanted; /* ExternalAbort came while the freeze was on its way */
        bool external_answer_due;   /* the waiting call is answered when the session has ended */
        vss_hresult external_answer_hr;
        const char *external_answer_msg; /* static text */
        char *external_why;         /* why lvssd ended it, or NULL */
        Pending *external_call;          /* ExternalFreeze / Thaw / Abort waiting for its answer (external.c) */
        const char *external_call_name;  /* which of them, for log lines (static) */
        Client *external_caller;         /* whose call it is (dropped with it when the caller goes) */
        sd_event_source *external_timer; /* the hold limit */

        Session *next, *prev;
};

/* Fails with *@ref set (refusal.h: VSS code and message) when the session cannot be opened. Takes @call
 * (answer.h; NULL for an external session): 1 when it is answered later, once the catalog
 * has the session's row; 0: it was dropped, the caller answers with the session's id now. */
int session_new(Manager *m, Client *c, Pending *call, Session **ret, Refusal *ref);
/* The session holds the set in creation no more: another session may start one. */
void session_release_set(Session *s);
/* The requester called: a session holding the set in creation is not idle (issue 8 item 5). */
void session_touch(Session *s);
Session *session_free(Session *s);
void session_requester_gone(Session *s, const char *reason);
void session_forget_writer(Session *s, Writer *w);
/* What the registry asks of the sessions (Manager.registry_hooks). */
extern const RegistryHooks session_registry_hooks;
/* The admin view's copy of entry @e's status in @w's record (WS-9). */
void writer_note_status(Writer *w, const Entry *e);
/* The admin view's words for @s's state (static text). */
const char *session_state_text(const Session *s);
bool session_busy(const Session *s);
/* WS-10: the session @id, when @c is its requester; else *@ref (VSS_E_ACCESSDENIED, VSS_E_OBJECT_NOT_FOUND). */
int session_of_requester(Manager *m, Client *c, const vss_id *id, Session **ret, Refusal *ref);
void session_step_finish(Session *s, vss_hresult hr);
/* The same, for a step its fan-out @f (s->fanout, freed) ended: its line logged after the step's end. */
void session_step_finish_fanout(Session *s, Fanout *f, vss_hresult hr);
/* A frozen writer lvssd cannot tell to thaw: close its connection, its library thaws it (WS-6). */
void entry_release_frozen(Entry *e, const char *why);
void entry_apply(Entry *e, vss_writer_event event, const Target *t);
void entry_begin(Entry *e, vss_writer_event event, uint64_t sent_usec, const Target *t);
int session_fanout(Session *s, vss_writer_event event, Entry **entries, size_t n, fanout_done_t done);
/* The entries for which @pred holds, into s->work / s->n_work. */
int session_collect(Session *s, bool (*pred)(const Session *s, const Entry *e));
/* Component mode: writers owning an added component; otherwise every identified writer. */
bool session_entry_participates(const Session *s, const Entry *e);

/* Session1 methods: server.c unpacks and packs; these act. A method that takes a Pending
 * answers it (at once or when its step ends) or drops it when it fails (answer.h). A method
 * that fails returns a negative errno and, when it refuses the call, fills *@ref (refusal.h:
 * plain C, issue 11 §2); the bus edge makes the D-Bus error of both (refusal_bus_error()). */
int session_method_initialize(Session *s, SessionKind kind, const char *bcd, Refusal *ref);
int session_method_set_context(Session *s, int32_t context, Refusal *ref);
int session_method_set_backup_state(Session *s, bool select, bool bootable, uint32_t type, bool partial,
                                    Refusal *ref);
int session_method_gather_metadata(Session *s, Pending *call, Refusal *ref);
/* GetWriterMetadata: the session's entries (borrowed, valid until the session's next step), or *@ref. */
int session_writer_metadata(Session *s, Entry *const **ret_entries, size_t *ret_n, Refusal *ref);
int session_method_add_component(Session *s, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                 const char *logical_path, const char *name, Refusal *ref);
int session_method_start_snapshot_set(Session *s, vss_id *ret, Refusal *ref);
/* issue 11 §1: IsVolumeSupported (@add false) or AddToSnapshotSet, answered once the providers
 * said, from a worker, which one takes @volume: 1 (answered later), or a negative errno with *@ref. */
int session_method_pick_provider(Session *s, Pending *call, bool add, const vss_id *provider_id,
                                 const char *volume, Refusal *ref);
int session_method_add_to_snapshot_set(Session *s, const char *volume, const vss_id *provider_id, vss_id *ret,
                                       Refusal *ref);
int session_method_prepare_for_backup(Session *s, Pending *call, Refusal *ref);
int session_method_do_snapshot_set(Session *s, Pending *call, Refusal *ref);
/* GetSnapshotProperties: the created shadow copy @snapshot_id of the set (borrowed), or *@ref. */
int session_snapshot(Session *s, const vss_id *snapshot_id, const Snapshot **ret, Refusal *ref);
/* The VSS_VOLSNAP_ATTR_* of the session's shadow copies. */
uint32_t session_snapshot_attributes(const Session *s);
int session_method_set_backup_succeeded(Session *s, const vss_id *instance_id, const vss_id *writer_id,
                                        uint32_t type, const char *logical_path, const char *name, bool ok,
                                        Refusal *ref);
int session_method_backup_complete(Session *s, Pending *call, Refusal *ref);
int session_method_abort_backup(Session *s, Pending *call, Refusal *ref);
int session_method_gather_status(Session *s, Pending *call, Refusal *ref);
int session_method_cancel(Session *s, Refusal *ref);
int session_method_release(Session *s, Pending *call, Refusal *ref);
/* SaveAsXml: the Backup Components Document in *@ret_xml (owned: free()). */
int session_method_save_as_xml(Session *s, char **ret_xml, Refusal *ref);
/* GetRecordStatus (issue 8 item 6): whether the session's writer-status history is whole in the catalog. */
int session_record_status(Session *s, bool *ret_complete, uint32_t *ret_lost, char **ret_note);
/* GetRecordStatus: 1 when it is answered later (after the catalog thread wrote what came before). */
int session_method_get_record_status(Session *s, Pending *call, Refusal *ref);

/* session-snapshot.c: DoSnapshotSet's phases (issue 11 §2: the session layer drives the set). */
/* What the snapshot set asks of its session (snapshot.h); given to snapshot_set_new(). */
extern const SnapshotSetHooks session_set_hooks;
/* DoSnapshotSet: starts the phases; @done is called once when the set ended, with its result (a
 * success: the set is made). */
typedef void (*snapshot_set_done_t)(Session *s, vss_hresult hr);
int snapshot_set_run(Session *s, snapshot_set_done_t done);
/* The set's part of the writers' event context (snapshot_set_id, volumes, the snapshot's kind,
 * with @with_paths the copies' paths), into @ctx (protocol/event-context.h: its strings are the
 * set's, its snapshots array is @ctx's). */
int context_fill_set(Session *s, lvss_event_context *ctx, bool with_paths);
/* External sessions (issue 10 part 2): the hold between Freeze and Thaw ends:
 * @hr VSS_S_OK thaws and goes on to PostSnapshot; a failure aborts the set. */
void snapshot_external_release(Session *s, vss_hresult hr, const char *why);

/* Shared by session.c and restore.c. */
int session_bad_state(Refusal *ref, const char *why);
/* The table's word on requester call @input now (session-state.h): 0 and *ret_rule (may be NULL) when
 * allowed; refused: *@ref set with the VSS error and why, negative. */
int session_check(Session *s, SessionInput input, SessionRule *ret_rule, Refusal *ref);
/* An event of the session's life (a step's end): the state moves as the table says. */
void session_apply(Session *s, SessionInput input);
bool session_ended(const Session *s);
/* Ended, or BackupShutdown on its way. */
bool session_released(const Session *s);
/* DoSnapshotSet succeeded (and no Abort came after it). */
bool session_set_done(const Session *s);
/* PrepareForBackup succeeded and no Abort came after it. */
bool session_prepared(const Session *s);
/* Takes *@deferred_call when not NULL: the step answers it when it ends; otherwise the step
 * ends with the StepFinished signal. */
void session_step_begin(Session *s, StepKind step, const char *name, Pending **deferred_call);
void session_step_abandon(Session *s);
int session_step_started(Session *s, Pending **call);
void session_log_fanout(Session *s, Fanout *f);
/* Identify to every subscribed writer; @then runs when all answered and
 * must call session_identify_record() first. */
int session_identify(Session *s, fanout_done_t then);
/* Turns an Identify fan-out into the session's entries (WS-1). */
vss_hresult session_identify_record(Session *s, Fanout *f);
/* Does component @c belong to the writer of entry @e? Backup: same instance;
 * restore: same writer class and instance name (instance ids change). */
bool component_belongs(const Session *s, const Component *c, const Entry *e);
void component_done(Component *c);

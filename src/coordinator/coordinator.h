/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvssd internals.
 *
 * Layers (each file knows only the ones above it):
 *   config.c    options and /etc/lvss/lvssd.conf
 *   fanout.c    one event sent to many writers at once, each call with its
 *               deadline; results recorded per target (WS-5)
 *   registry.c  subscribed writers, the admin view (ListWriters)
 *   session.c   requester sessions: call order (WS-11), status table
 *               (WS-1..WS-4, WS-8, WS-9), completion (WS-3), abort (WS-13)
 *   snapshot.c  DoSnapshotSet: PrepareForSnapshot, Freeze, the hold window,
 *               Thaw, PostSnapshot, vetoes (WS-6, WS-7); shadow copy cleanup
 *   server.c    the socket, one sd-bus server connection per client, the
 *               D-Bus vtables (thin: they call the domain code above)
 *   main.c      start-up, recovery from the catalog, signals
 *
 * Everything runs on one sd-event loop: no threads, no polling.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <lvss/types.h>

#include "catalog/catalog.h"
#include "catalog/catalog-queue.h"
#include "common/util.h"
#include "providers/provider.h"

typedef struct Manager Manager;
typedef struct Client Client;
typedef struct Writer Writer;
typedef struct Session Session;
typedef struct Entry Entry;
typedef struct Fanout Fanout;
typedef struct Target Target;
typedef struct Component Component;
typedef struct Snapshot Snapshot;

/* ---- config.c ---------------------------------------------------------- */

/* WriterOwner=CLASS-ID:USER (issue 8 item 4): only @uid may subscribe with @writer_id. */
typedef struct WriterOwnerRule {
        vss_id writer_id;
        uid_t uid;
} WriterOwnerRule;

typedef struct Config {
        char *socket_path;
        char *state_dir;
        char *config_file;
        char *storage_dir;          /* shadow storage area of the copy provider */
        bool foreground;
        uint64_t identify_timeout_usec;
        uint64_t event_timeout_usec;
        uint64_t hold_window_usec;
        uint64_t freeze_margin_usec; /* the commit ends this long before a writer's freeze timeout (item 8.3) */
        uint64_t external_hold_limit_usec; /* ExternalHoldLimitMS=: the longest an external freeze is held (issue 10) */
        char *requester_group;      /* default "backup" */
        char **writer_users;        /* NULL-terminated, may be NULL */
        /* issue 11 §1: the two above resolved once, at start-up (config_resolve_accounts()); never per call */
        bool requester_gid_known;
        gid_t requester_gid;
        uid_t *writer_uids;         /* the WriterUsers= that exist, n_writer_uids of them */
        size_t n_writer_uids;
        char **exec_providers;      /* "NAME:PROGRAM", NULL-terminated, may be NULL */
        char **freeze_providers;    /* FreezeFilesystems=: exec providers frozen around commit (issue 10 part 3) */
        char *default_provider;     /* a provider name, or NULL: automatic */
        /* issue 8 item 4: writer classes bound to a user by configuration (WriterOwner=, --writer-owner) */
        WriterOwnerRule *writer_owners;
        size_t n_writer_owners;
        /* issue 8 item 5 */
        uint64_t set_idle_timeout_usec;  /* a session holding the set in creation, idle this long, is aborted */
        unsigned max_sessions_per_user;  /* open sessions per uid (root exempt) */
        /* issue 8: the writer_owners table is bounded */
        unsigned max_writer_classes_per_user; /* classes the catalog binds to one uid (root, lvssd's uid exempt) */

        /* connection limits (issue 8, items 1 and 2; server.c) */
        unsigned max_connections;          /* all peers together; the last quarter is for privileged ones */
        unsigned max_connections_per_user; /* per uid that may not act as requester */
        uint64_t idle_timeout_usec;        /* a connection without a role and nothing going on is closed */
        unsigned max_unsent_messages;      /* stop reading from a peer with more queued for it */
        uint64_t unsent_timeout_usec;      /* close a peer that stays above max_unsent_messages this long */
} Config;

int config_parse_argv(Config *c, int argc, char **argv); /* 1: go on, 0: exit 0 (help), <0: usage error */
int config_load_file(Config *c);
int config_finish(Config *c); /* defaults for what is unset */
void config_done(Config *c);
int config_resolve_accounts(Config *c); /* RequesterGroup=, WriterUsers= to ids: at start-up only */
/* The configured owner of writer class @writer_id: true and *ret_uid, or false. */
bool config_writer_owner(const Config *c, const vss_id *writer_id, uid_t *ret_uid);

/* ---- the manager --------------------------------------------------------- */

/* A few messages per interval for a kind of event a peer can repeat at will; the next says how many were left out. */
typedef struct LogLimit {
        uint64_t last_usec;   /* start of the current interval */
        unsigned logged;      /* messages logged in it */
        unsigned suppressed;
} LogLimit;

/* Access refusals logged per LOG_LIMIT interval, all peers together (server.c). */
#define DENIED_LOG_BURST 20

struct Manager {
        Config cfg;
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_source;
        lvss_catalog *catalog;      /* the loop's connection: start-up recovery and writer-owner reads */
        lvss_catalog_queue *catalog_queue; /* every write while the loop runs (issue 11 §1) */
        lvss_provider **providers;  /* copy first, then btrfs, then the exec ones */
        size_t n_providers;
        lvss_provider *default_provider;

        Client *clients;
        Client **clients_by_fd; /* a bus's Client from its socket (server_bus_changed()) */
        size_t n_clients_by_fd;
        Writer *writers;  /* subscribed writers, newest first */
        Session *sessions;
        Session *set_owner; /* the session whose snapshot set is in creation (WS-10) */
        struct AdminList *admin_lists; /* ListWriters calls in flight */
        struct AdminQuery *admin_queries; /* ListShadows / DeleteShadows waiting for the catalog */
        lvss_catalog_status *history;  /* status rows not yet in the catalog */
        size_t n_history;
        unsigned n_writers;
        bool stopping;

        /* connection limits (server.c) */
        unsigned n_clients;              /* every accepted connection */
        unsigned n_unprivileged;         /* those of peers that may not act as requester */
        unsigned n_refusing;             /* refused ones still open to say why (not in n_clients) */
        sd_event_source *accept_timer;   /* re-enables accepting after EMFILE/ENFILE */
        LogLimit accept_log, refuse_log, idle_log; /* what a flood of peers could otherwise make lvssd log */
        LogLimit denied_log;             /* refused calls (access denied), DENIED_LOG_BURST per interval */

        /* issue 10 part 2: the external session (external.c) */
        Session *external;               /* the one external session, held or on its way; or NULL */
        Session *external_done;          /* the last one, ended: what a later thaw or freezeFail reports */
        lvss_provider *external_provider;
};

void log_session(const Session *s, const char *fmt, ...) _printf_(2, 3);
/* Queue a writer-status row; manager_flush_history() writes the queue in one transaction. */
void manager_queue_history(Manager *m, const lvss_catalog_status *row);
void manager_flush_history(Manager *m);
/* "writer-status history incomplete: ..." (owned), or NULL when nothing was lost. */
char *session_history_note(const Session *s);
void log_msg(const char *fmt, ...) _printf_(1, 2);
/* "access denied: ..." in the log, at most DENIED_LOG_BURST per 10 s (log_limit_ok). */
void log_denied(Manager *m, const char *fmt, ...) _printf_(2, 3);

/* ---- server.c ---------------------------------------------------------- */

typedef enum ClientRole {
        ROLE_NONE,
        ROLE_WRITER,
        ROLE_REQUESTER,
} ClientRole;

struct Client {
        Manager *m;
        sd_bus *bus;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups;
        int n_groups;
        ClientRole role;
        Writer *writer;
        Session *session;
        sd_event_source *free_source;
        sd_event_source *io, *timer; /* drive the bus (server.c) */
        int fd;                      /* the bus's socket, the key of Manager.clients_by_fd */
        bool disconnected;
        bool privileged;             /* client_may_request() when it connected: not limited per uid */
        bool counted;                /* in Manager.n_clients */
        sd_event_source *guard;      /* the idle and unsent-messages deadlines (server.c) */
        uint64_t active_usec;        /* last time something happened on it (CLOCK_MONOTONIC) */
        uint64_t stalled_usec;       /* since when too much waits unsent for it, or 0 */
        bool ever_stalled;           /* its buffers grew: give the memory back when it goes */
        bool dropped;                /* lvssd closes it: free without flushing */
        char *refusal;               /* over a connection limit: why; every call is answered with it */
        uint64_t accepted_usec;
        Client *next, *prev;
};

int server_listen(Manager *m);
void server_done(Manager *m);
/* Something was sent on @bus (a client's): let the loop wait for what it needs now
 * (writability, a call's timeout). Needed after every send outside that client's own dispatch. */
void server_bus_changed(Manager *m, sd_bus *bus);
/* Close @c's connection (its writer lost its class to root, issue 8 item 4): freed from the loop. */
void server_drop_client(Client *c);
bool client_may_request(const Client *c);
/* true: log now (at most @burst messages per 10 s of @l); the first message of an
 * interval after some were left out says how many (@what names them). */
bool log_limit_ok(LogLimit *l, unsigned burst, const char *what);
bool client_may_write(const Client *c);

/* ---- fanout.c ---------------------------------------------------------- */

struct Target {
        Fanout *f;
        Writer *writer; /* NULL: the writer is gone (fails at once as not responding) */
        Entry *entry;   /* the session's status entry, or NULL (admin Identify) */
        sd_bus_slot *slot;
        bool done;
        bool ok;
        vss_hresult failure;
        vss_hresult application_result;
        char *application_message;
        char *metadata; /* Identify: the WMD XML */
        char *note;     /* what lvssd found wrong with the answer (issue 8 item 7), or NULL */
        uint64_t sent_usec, sent_mono, duration_usec;
};

typedef void (*fanout_done_t)(Fanout *f, void *userdata);
typedef int (*fanout_context_t)(Fanout *f, Target *t, sd_bus_message *m, void *userdata);

struct Fanout {
        Manager *m;
        vss_writer_event event;
        vss_id session_id;
        Target *targets;
        size_t n_targets, n_outstanding;
        sd_event_source *defer; /* from fanout_start() on; on when done is due */
        bool done_scheduled;
        fanout_done_t done;
        fanout_context_t context;
        void *userdata;
};

/* Sends @event to every writer in @writers (entries may be NULL) at once and
 * calls @done once every target has answered, failed, or passed its deadline.
 * @done is always called from the event loop, never from within this call. */
int fanout_start(Manager *m, vss_writer_event event, const vss_id *session_id, Writer **writers, Entry **entries,
                 size_t n, fanout_context_t context, fanout_done_t done, void *userdata, Fanout **ret);
/* Stop waiting: outstanding calls are dropped (their targets marked done, not ok,
 * failure 0); @done is not called. Frees @f. */
Fanout *fanout_cancel(Fanout *f);
Fanout *fanout_free(Fanout *f);
uint64_t fanout_deadline_usec(Manager *m, vss_writer_event e, const Writer *w);
/* @w is going away: its outstanding target fails as not responding. */
void target_forget_writer(Fanout *f, Writer *w);

/* ---- registry.c -------------------------------------------------------- */

/* The last status a writer had, for the admin view (WS-9). */
typedef struct LastStatus {
        bool valid;
        vss_writer_state state;
        vss_hresult failure;
        vss_hresult application_result;
        char *application_message;
        vss_id session_id;
        vss_writer_event last_event;
        bool in_progress;
        uint64_t last_event_usec, duration_usec;
        Session *session;        /* weak; NULL once the session is gone */
        const char *session_state; /* static text once the session is gone */
        char *origin;              /* an external session's caller (issue 10), kept once the session is gone */
} LastStatus;

struct Writer {
        Manager *m;
        Client *client;
        vss_id writer_id, instance_id;
        char *name, *instance_name;
        vss_usage_type usage;
        vss_source_type source;
        int32_t level;
        uint32_t freeze_timeout_ms;
        bool subscribed;
        LastStatus last;
        Writer *next, *prev;
};

int registry_subscribe(Manager *m, Client *c, const vss_id *writer_id, const char *name, const char *instance_name,
                       uint32_t usage, uint32_t source, int32_t level, uint32_t freeze_timeout_ms,
                       vss_hresult *ret_hr, char **ret_message, Writer **ret);
void registry_unsubscribe(Writer *w);
Writer *writer_free(Writer *w);
void writer_note_status(Writer *w, const Entry *e);
/* ListWriters: Identify to all, then reply on @call. */
int registry_list_writers(Manager *m, sd_bus_message *call);
/* A ListWriters call from @bus still waits for its answer. */
bool registry_list_pending(Manager *m, sd_bus *bus);
void registry_forget_writer(Manager *m, Writer *w);
/* Every subscribed writer, oldest first (subscription order); *ret owned: free(). */
int registry_writers(Manager *m, Writer ***ret, size_t *ret_n);
const char *session_state_text(const Session *s);

/* ---- session.c --------------------------------------------------------- */

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

struct Snapshot {
        lvss_snapshot p;   /* what the provider sees */
        lvss_provider *provider;
        vss_id provider_id;
        bool in_catalog;
        bool created;
        uint64_t created_usec;
};

typedef enum SessionKind {
        SESSION_NEW,
        SESSION_BACKUP,
        SESSION_RESTORE,
} SessionKind;

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

typedef enum SnapPhase {
        SNAP_PREPARE_SNAPSHOT,
        SNAP_FREEZE,
        SNAP_COMMIT,
        SNAP_THAW,
        SNAP_THAW_FAILED_ABORT,
        SNAP_POST_SNAPSHOT,
        SNAP_VETO_ABORT,
} SnapPhase;

struct Session {
        Manager *m;
        Client *client; /* NULL once the requester is gone */
        vss_id id;
        uid_t uid;
        pid_t pid;
        SessionKind kind;
        int32_t context;
        bool backup_state_set;
        bool select_components, bootable_system_state, partial_file_support;
        vss_backup_type backup_type;
        bool metadata_gathered;
        bool prepared_for_backup;
        bool set_started;
        vss_id set_id;
        bool set_prepared;       /* the providers' begin_prepare ran: atomicity is known (issue 9 part 1) */
        bool set_done;           /* DoSnapshotSet succeeded */
        bool auto_recovery;      /* the copies are writable until finalize (issue 9 part 2) */
        bool set_finalized;      /* finalize made the writable copies read-only */
        bool backup_complete_ok; /* BackupComplete succeeded */
        bool completed;          /* gathered after BackupComplete (WS-3) */
        bool aborted;
        bool pre_restore_done;
        bool post_restore_done;
        vss_restore_type restore_type;
        struct lvss_bcd *bcd;      /* restore: the document InitializeForRestore loaded */
        bool released;
        bool ended;
        char *end_reason;

        Entry **entries;
        size_t n_entries;
        Component *components;
        size_t n_components;
        Snapshot **snapshots;
        size_t n_snapshots;

        /* the running step */
        StepKind step;
        const char *step_name;     /* "PrepareForBackup": named in StepFinished */
        bool step_signal;          /* the step ends with a StepFinished signal */
        sd_bus_message *step_call; /* the deferred call to answer (AbortBackup, Release), or NULL */
        sd_bus_message *queued_release; /* Release that came during the Abort of a cancelled set */
        Fanout **detached;         /* fan-outs of cancelled steps, still recording late answers */
        size_t n_detached;
        Fanout *fanout;
        SnapPhase snap_phase;
        vss_hresult step_hr;       /* the step's result so far */
        Entry **work;              /* the entries of the current fan-out */
        size_t n_work;
        pid_t commit_pid;
        int commit_pipe;
        bool commit_flushed;
        /* issue 11 §1: the commit child was killed (hold window) and is not reaped yet: it is
         * reaped through commit_child; the set is undone, and the step ends, only then. */
        bool commit_dying;
        bool commit_finish_pending; /* the Abort is done: set_finished() once it is reaped */
        sd_event_source *commit_child, *commit_timer, *commit_io;
        /* The effective hold window (WS-6, issue 8 item 3): the earliest time,
         * CLOCK_MONOTONIC, by which a frozen writer must have Thaw, and that
         * writer's entry (NULL: none frozen); the commit's deadline. */
        uint64_t freeze_deadline_mono;
        const Entry *freeze_deadline_entry;
        uint64_t commit_deadline_mono;
        bool after_abort_shutdown; /* requester gone: BackupShutdown follows the abort */
        /* issue 8 item 5: idle while holding the set in creation (Manager.set_owner) */
        sd_event_source *idle_timer;
        uint64_t set_started_usec;  /* CLOCK_REALTIME */
        bool idle_expired;          /* aborted for it: Release follows the Abort */
        /* issue 8 item 6: writer-status rows of this session the catalog did not take */
        size_t history_lost;
        int history_error;          /* why (negative errno) */
        /* issue 11 §1: the catalog off the event path */
        bool catalog_wait;          /* the step continues in a catalog completion (rows, created marks) */
        int records_state;          /* the set's rows: 0 queued or none yet, 1 on disk, -errno failed */
        uint64_t commit_started_mono; /* when the commit step began (the hold window's start) */
        int created_error;          /* a "created" mark or path the catalog did not take: -errno, or 0 */
        sd_bus_message *open_call;  /* OpenSession, answered once the session's row is written */
        sd_bus_message *record_call; /* GetRecordStatus, answered once the history queued before is written */
        char *step_detail;          /* the cause of the running step's failure, for StepFinished, or NULL */
        /* issue 10 part 3: the file systems the commit freezes (FreezeFilesystems=), in freezing order */
        struct lvss_fs *freeze_fs;
        size_t n_freeze_fs;
        bool freeze_recorded;       /* in the catalog: thaw (unless the child did) and forget when the commit ends */
        bool freeze_thawed;         /* the commit child said it thawed them all ('T') */
        size_t freeze_started;      /* the child said it began to freeze the first this many ('f') */
        int freeze_failed;          /* the child could not freeze freeze_fs[freeze_failed_index]: -errno, or 0 */
        uint32_t freeze_failed_index;

        /* issue 10 part 2: an external session, owned by lvssd (external.c) */
        bool external;
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
        sd_bus_message *external_call;   /* ExternalFreeze / Thaw / Abort waiting for its answer */
        Client *external_caller;         /* whose call it is (dropped with it when the caller goes) */
        sd_event_source *external_timer; /* the hold limit */

        Session *next, *prev;
};

/* Fails with @error set (VSS code and message) when the session cannot be opened. */
int session_new(Manager *m, Client *c, sd_bus_message *call, Session **ret, sd_bus_error *error);
/* The requester called: a session holding the set in creation is not idle (issue 8 item 5). */
void session_touch(Session *s);
Session *session_free(Session *s);
void session_requester_gone(Session *s, const char *reason);
void session_forget_writer(Session *s, Writer *w);
bool session_busy(const Session *s);
void session_step_finish(Session *s, vss_hresult hr);
void entry_apply(Entry *e, vss_writer_event event, const Target *t);
void entry_begin(Entry *e, vss_writer_event event, uint64_t sent_usec, const Target *t);
int session_fanout(Session *s, vss_writer_event event, Entry **entries, size_t n, fanout_done_t done);
/* The entries for which @pred holds, into s->work / s->n_work. */
int session_collect(Session *s, bool (*pred)(const Session *s, const Entry *e));
/* Component mode: writers owning an added component; otherwise every identified writer. */
bool session_entry_participates(const Session *s, const Entry *e);
int append_status(sd_bus_message *m, const Entry *e);
int entry_read_out_components(Entry *e, sd_bus_message *m); /* reads the variant of out["components"] */
int entry_append_components(Entry *e, sd_bus_message *m);   /* context["components"] entry */

/* Session1 methods (server.c unpacks, these act and reply). */
int session_method_initialize(Session *s, SessionKind kind, const char *bcd, sd_bus_error *error);
int session_method_set_context(Session *s, int32_t context, sd_bus_error *error);
int session_method_set_backup_state(Session *s, bool select, bool bootable, uint32_t type, bool partial,
                                    sd_bus_error *error);
int session_method_gather_metadata(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_get_writer_metadata(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_add_component(Session *s, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                 const char *logical_path, const char *name, sd_bus_error *error);
int session_method_start_snapshot_set(Session *s, vss_id *ret, sd_bus_error *error);
int session_method_is_volume_supported(Session *s, const vss_id *provider_id, const char *volume, bool *ret,
                                       sd_bus_error *error);
int session_method_add_to_snapshot_set(Session *s, const char *volume, const vss_id *provider_id, vss_id *ret,
                                       sd_bus_error *error);
int session_method_prepare_for_backup(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_do_snapshot_set(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_get_snapshot_properties(Session *s, sd_bus_message *call, const vss_id *snapshot_id,
                                           sd_bus_error *error);
int session_method_set_backup_succeeded(Session *s, const vss_id *instance_id, const vss_id *writer_id,
                                        uint32_t type, const char *logical_path, const char *name, bool ok,
                                        sd_bus_error *error);
int session_method_backup_complete(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_abort_backup(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_gather_status(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_cancel(Session *s, sd_bus_error *error);
int session_method_release(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_save_as_xml(Session *s, sd_bus_message *call, sd_bus_error *error);
/* GetRecordStatus (issue 8 item 6): whether the session's writer-status history is whole in the catalog. */
int session_method_get_record_status(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_reply_status(Session *s, sd_bus_message *call);

/* Shared by session.c and restore.c. */
int session_bad_state(sd_bus_error *error, const char *why);
int session_check_idle(Session *s, sd_bus_error *error);
void session_step_begin(Session *s, StepKind step, const char *name, sd_bus_message *deferred_call);
void session_step_abandon(Session *s);
int session_step_started(Session *s, sd_bus_message *call);
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

/* ---- restore.c --------------------------------------------------------- */

int session_load_bcd(Session *s, const char *xml, sd_bus_error *error);
int session_method_set_selected_for_restore(Session *s, const vss_id *writer_id, uint32_t type,
                                            const char *logical_path, const char *name, bool selected,
                                            sd_bus_error *error);
int session_method_set_file_restore_status(Session *s, const vss_id *writer_id, uint32_t type,
                                           const char *logical_path, const char *name, uint32_t status,
                                           sd_bus_error *error);
int session_method_pre_restore(Session *s, sd_bus_message *call, sd_bus_error *error);
int session_method_post_restore(Session *s, sd_bus_message *call, sd_bus_error *error);
/* The component failure message a writer left for @e at @event, or NULL. */
const char *entry_component_failure_msg(const Entry *e, vss_writer_event event);

/* ---- providers.c ------------------------------------------------------- */

int manager_providers_init(Manager *m);
void manager_providers_done(Manager *m);
lvss_provider *manager_provider_by_id(Manager *m, const vss_id *id);
lvss_provider *manager_provider_by_name(Manager *m, const char *name);
/* Which volumes a provider takes, in words (vssadmin list providers). */
const char *provider_volumes_text(const lvss_provider *p);

/* ---- admin.c ----------------------------------------------------------- */

int admin_list_providers(Manager *m, sd_bus_message *call);
int admin_list_shadows(Manager *m, sd_bus_message *call, const vss_id *set_id);
bool admin_query_pending(Manager *m, sd_bus *bus);
int admin_delete_shadows(Manager *m, sd_bus_message *call, const char *what, const vss_id *id, const char *volume,
                         bool oldest, sd_bus_error *error);

/* ---- snapshot.c -------------------------------------------------------- */

int snapshot_set_run(Session *s);               /* DoSnapshotSet: starts the phases */
void snapshot_set_kill_commit(Session *s);       /* requester gone / cancel during commit */
int snapshot_delete_auto_release(Session *s);    /* release / abort: auto-release copies go */
Snapshot *snapshot_free(Snapshot *snap);
lvss_provider *manager_pick_provider(Manager *m, const vss_id *provider_id, const char *volume, vss_id *ret_id);
void manager_recover(Manager *m);               /* start-up: orphans from the catalog */
int context_append_set(Session *s, sd_bus_message *m, bool with_paths);
/* External sessions (issue 10 part 2): the hold between Freeze and Thaw ends:
 * @hr VSS_S_OK thaws and goes on to PostSnapshot; a failure aborts the set. */
void snapshot_external_release(Session *s, vss_hresult hr, const char *why);

/* ---- external.c ------------------------------------------------------- */

int external_provider_new(lvss_provider **ret);
int external_method_freeze(Client *c, sd_bus_message *call, sd_bus_error *error);
int external_method_thaw(Client *c, sd_bus_message *call, sd_bus_error *error);
int external_method_abort(Client *c, sd_bus_message *call, sd_bus_error *error);
/* snapshot.c: every writer is frozen, the hold begins. */
void external_holding(Session *s);
/* snapshot.c: the hold limit's timer, at @deadline_mono (CLOCK_MONOTONIC). */
int external_arm_hold(Session *s, uint64_t deadline_mono);
/* session.c: a step of an external session ended; the next one starts. */
void external_step_finished(Session *s, StepKind step, vss_hresult hr);
/* server.c: @c goes; a call of its that waits is dropped. */
void external_client_gone(Client *c);
/* main.c: lvssd stops; a held freeze is aborted (writers thawed). */
void external_stop(Manager *m);

/* Auto-recovery (issue 9 part 2): the providers' finalize over the created
 * copies, making them read-only; once (idempotent). 0 when nothing to do. */
int snapshot_set_finalize(Session *s);

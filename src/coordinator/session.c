/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Requester sessions.
 *
 * One session per requester connection (one vss_backup_components object).
 * The session owns the writer status of its writers: one Entry per writer
 * whose Identify succeeded in this session (WS-1), each starting at
 * VSS_WS_STABLE with no failure whatever happened before (WS-8), each moving
 * through the state table of basic/state.c as events end (WS-4), each
 * carrying its provenance: session id, last event, when, in progress, how
 * long (WS-9).
 *
 * Steps that talk to writers are "deferred" calls: the call, a Pending
 * (answer.h: the bus edge made it, session-bus.c packs the answer), is kept
 * in step_call and answered when the step's fan-outs end. One step runs at a
 * time; anything else but GatherWriterStatus and Cancel is refused with
 * VSS_E_BAD_STATE meanwhile (WS-11). GatherWriterStatus reads the table as it
 * is and never waits (WS-8).
 *
 * When the requester's connection drops, the session aborts itself (WS-13):
 * whatever step runs is interrupted, Abort goes to the writers that got
 * PrepareForBackup and have not finished PostSnapshot, BackupShutdown to
 * all, auto-release shadow copies are deleted, and the catalog records the
 * session as aborted with the reason.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/bounded.h"
#include "basic/state.h"
#include "basic/strv.h"
#include "documents/bcd.h"
#include "documents/wmd.h"
#include <lvss/writer.h>
#include "manager.h"
#include "connection.h"
#include "fanout.h"
#include "registry.h"
#include "session.h"
#include "restore.h"
#include "providers.h"
#include "snapshot.h"
#include "worker.h"
#include "metrics.h"
#include "protocol/protocol.h"
#include "protocol/event-context.h" /* what writers are told, as plain data (issue 11 §2) */

int session_bad_state(Refusal *ref, const char *why) {
        return refusal_set_hresult(ref, VSS_E_BAD_STATE, "%s", why);
}

char *session_history_note(const Session *s) {
        char *note;

        if (s->history_lost == 0)
                return NULL;
        if (asprintf(&note, "writer-status history incomplete: %zu row%s could not be written to the catalog: %s",
                     s->history_lost, s->history_lost == 1 ? "" : "s", strerror(-s->history_error)) < 0)
                return NULL;
        return note;
}

/*
 * GetRecordStatus (issue 8 item 6): the requester asks whether every
 * writer-status row of its session reached the catalog. Rows still queued
 * are written first, so the answer covers every event outcome recorded so
 * far, not only those of finished steps. Allowed at any time, also while a
 * step runs: it only reads.
 */
int session_record_status(Session *s, bool *ret_complete, uint32_t *ret_lost, char **ret_note) {
        _cleanup_(freep) char *note = NULL;

        note = session_history_note(s);
        if (s->history_lost > 0 && !note)
                return -ENOMEM;
        *ret_complete = s->history_lost == 0;
        *ret_lost = (uint32_t) (s->history_lost < UINT32_MAX ? s->history_lost : UINT32_MAX);
        *ret_note = TAKE_PTR(note);
        return 0;
}

/* The answer to GetRecordStatus, which may come after the call (issue 11 §1); @flush: later. */
static int session_answer_record_status(Session *s, Pending **call, bool flush) {
        _cleanup_(freep) char *note = NULL;
        uint32_t lost;
        bool complete;
        int r = session_record_status(s, &complete, &lost, &note);
        if (r < 0)
                return pending_answer(call, &(Answer) { .kind = ANSWER_ERRNO, .error = r, .flush = flush });
        return pending_answer(call, &(Answer) {
                .kind = ANSWER_RECORD_STATUS,
                .yes = complete,
                .lost = lost,
                .text = note,
                .flush = flush,
        });
}

static void record_status_known(int r, void *data, void *userdata) {
        Session *s = userdata;

        /* answered outside the connection's own dispatch: the edge flushes it */
        (void) session_answer_record_status(s, &s->record_call, true);
}

int session_method_get_record_status(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        int r;

        if (s->record_call)
                return session_bad_state(ref, "GetRecordStatus is already being answered");
        /* the barrier below covers every row of this session, even while its writers are frozen */
        manager_flush_history_forced(s->m, s);
        if (!s->m->catalog_queue) {
                r = session_answer_record_status(s, &call, false);
                return r < 0 ? r : 1;
        }
        /* issue 11 §1: answered once the rows queued so far are written (or not) */
        r = lvss_catalog_queue_barrier(s->m->catalog_queue, record_status_known, s);
        if (r < 0)
                return r;
        s->record_call = TAKE_PTR(call);
        return 1;
}

static void session_end_catalog(Session *s, const char *state, const char *reason) {
        _cleanup_(freep) char *note = session_history_note(s), *full = NULL;

        metrics_session_ended(s->m->metrics, state, s->kind == SESSION_BACKUP,
                              now_usec(CLOCK_MONOTONIC) - s->opened_mono); /* issue 12 §3 */
        if (!s->m->catalog_queue)
                return;
        /* issue 8 item 6: the session's own row says its history is incomplete */
        if (note && asprintf(&full, "%s; %s", strempty(reason), note) < 0)
                full = NULL;
        /* history only: nothing waits for it (issue 11 §1); after the session's history rows, which
         * may be held in memory while writers are frozen (issue 11 §5, manager.h): its own go now */
        manager_flush_history_forced(s->m, s);
        if (lvss_catalog_queue_session_end(s->m->catalog_queue, &s->id, state, full ? full : reason,
                                           now_usec(CLOCK_REALTIME)) < 0)
                log_session(s, "out of memory: the session's end is not recorded in the catalog");
}

/* Open sessions of @uid whose requester is still connected. */
static unsigned sessions_of_uid(Manager *m, uid_t uid) {
        unsigned n = 0;

        for (Session *s = m->sessions; s; s = s->next)
                if (s->uid == uid && s->client)
                        n++;
        return n;
}

/*
 * The session's catalog row is written (issue 11 §1): OpenSession is answered
 * now. When the row cannot be written the requester learns why (issue 8 item
 * 6: not "Unexpected error") and the session is gone.
 */
static void session_begun(int r, void *data, void *userdata) {
        Session *s = userdata;
        _cleanup_(pending_dropp) Pending *call = TAKE_PTR(s->open_call);
        _cleanup_(freep) char *why = NULL;
        Client *c = s->client;

        if (r >= 0) {
                /* answered outside the connection's own dispatch: the edge flushes it */
                r = pending_answer(&call, &(Answer) { .kind = ANSWER_ID, .id = s->id, .flush = true });
                if (r < 0)
                        log_session(s, "cannot answer OpenSession: %s", strerror(-r));
                return;
        }
        log_session(s, "uid %u pid %d: cannot record it in the catalog: %s", (unsigned) s->uid, (int) s->pid,
                    strerror(-r));
        if (!call)
                return; /* an external freeze: its set's rows fail and say so */
        vss_hresult hr = r == -ENOSPC ? VSS_E_INSUFFICIENT_STORAGE : r == -ENOMEM ? VSS_E_OUTOFMEMORY : VSS_E_UNEXPECTED;
        if (asprintf(&why, "Cannot record the session in the catalog (%s): %s%s", s->m->cfg.state_dir, strerror(-r),
                     r == -ENOSPC ? " (database or disk is full)" : "") < 0)
                why = NULL;
        (void) pending_answer(&call, &(Answer) {
                .kind = why ? ANSWER_HRESULT : ANSWER_ERRNO,
                .hr = hr,
                .error = -ENOMEM,
                .text = why,
                .flush = true,
        });
        if (c && c->session == s) {
                c->session = NULL;
                c->role = ROLE_NONE;
        }
        s->client = NULL;
        session_free(s);
}

void session_release_set(Session *s) {
        if (s->m->set_owner == s)
                s->m->set_owner = NULL;
}

int session_new(Manager *m, Client *c, Pending *pending, Session **ret, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        unsigned open = c->uid != 0 ? sessions_of_uid(m, c->uid) : 0;
        Session *s;

        /* issue 8 item 5: one uid cannot hold every slot lvssd has (root is exempt: it
         * can stop lvssd anyway, and a host's own backup jobs must not be refused). */
        if (c->uid != 0 && open >= m->cfg.max_sessions_per_user) {
                log_msg("uid %u pid %d refused a session: it has %u open (MaxSessionsPerUser=%u)", (unsigned) c->uid,
                        (int) c->pid, open, m->cfg.max_sessions_per_user);
                return refusal_set_hresult(ref, VSS_E_ACCESSDENIED,
                                           "uid %u already has %u sessions open, the most lvssd allows one "
                                           "user (MaxSessionsPerUser=%u)",
                                           (unsigned) c->uid, open, m->cfg.max_sessions_per_user);
        }

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->id = lvss_id_random();
        s->set = snapshot_set_new(m, &s->id, &session_set_hooks, s);
        if (!s->set) {
                free(s);
                return -ENOMEM;
        }
        s->m = m;
        s->client = c;
        s->opened_mono = now_usec(CLOCK_MONOTONIC);
        s->uid = c->uid;
        s->pid = c->pid;
        s->kind = SESSION_NEW;
        s->context = VSS_CTX_BACKUP;

        s->next = m->sessions;
        if (m->sessions)
                m->sessions->prev = s;
        m->sessions = s;
        if (m->catalog_queue) {
                /* the row before any other of the session's (the queue keeps the order) */
                int r = lvss_catalog_queue_session_begin(m->catalog_queue, &s->id, c->uid, c->pid,
                                                         now_usec(CLOCK_REALTIME), session_begun, s);
                if (r < 0) {
                        s->client = NULL;
                        session_free(s);
                        return r;
                }
                s->open_call = TAKE_PTR(call);
        }
        log_session(s, "opened by uid %u pid %d", (unsigned) c->uid, (int) c->pid);
        *ret = s;
        /* 1: the answer comes from session_begun(); 0: answer now */
        return s->open_call ? 1 : 0;
}

static Entry *entry_free(Entry *e) {
        if (!e)
                return NULL;
        free(e->writer_name);
        free(e->instance_name);
        free(e->metadata);
        free(e->application_message);
        free(e);
        return NULL;
}

Session *session_free(Session *s) {
        Manager *m;

        if (!s)
                return NULL;
        m = s->m;
        snapshot_set_kill_commit(s->set);
        snapshot_step_cancel(s->set);
        *snapshot_set_worker(s->set) = worker_end(*snapshot_set_worker(s->set));
        snapshot_cleanup_detach(s->set); /* issue 11 §1: they go on alone */
        s->pick_call = pending_drop(s->pick_call);
        s->pick_volume = mfree(s->pick_volume);
        s->fanout = fanout_cancel(s->fanout);
        for (size_t i = 0; i < s->n_detached; i++)
                fanout_cancel(s->detached[i]);
        free(s->detached);
        /* issue 11 §5: a session freed while frozen (its Abort cancelled or never sent) ends its
         * freeze window here, so the count never stays up */
        manager_writers_frozen(m, &s->id, false);
        s->idle_timer = sd_event_source_disable_unref(s->idle_timer);
        session_release_set(s);
        s->step_call = pending_drop(s->step_call);
        s->queued_release = pending_drop(s->queued_release);
        /* issue 11 §1: its catalog jobs still run; their completions no longer do */
        lvss_catalog_queue_forget(m->catalog_queue, s);
        s->open_call = pending_drop(s->open_call);
        s->record_call = pending_drop(s->record_call);

        for (Writer *w = m->writers; w; w = w->next)
                if (w->last.session == s) {
                        w->last.session = NULL;
                        w->last.session_state = session_state_text(s);
                }
        /* writers that unsubscribed but are still connected */
        for (Client *c = m->clients; c; c = c->next)
                if (c->writer && c->writer->last.session == s) {
                        c->writer->last.session = NULL;
                        c->writer->last.session_state = session_state_text(s);
                }

        for (size_t i = 0; i < s->n_entries; i++)
                entry_free(s->entries[i]);
        free(s->entries);
        for (size_t i = 0; i < s->n_components; i++)
                component_done(&s->components[i]);
        free(s->components);
        lvss_bcd_free(s->bcd);
        s->set = snapshot_set_free(s->set); /* its snapshots with it */
        free(s->work);
        free(s->end_reason);
        free(s->step_detail);
        /* issue 10 part 2 */
        s->external_timer = sd_event_source_disable_unref(s->external_timer);
        s->external_call = pending_drop(s->external_call);
        free(s->origin);
        free(s->external_why);
        strv_free(s->external_volumes);
        if (m->external == s)
                m->external = NULL;
        if (m->external_done == s)
                m->external_done = NULL;

        if (s->prev)
                s->prev->next = s->next;
        else if (m->sessions == s)
                m->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        free(s);
        return NULL;
}

void session_forget_writer(Session *s, Writer *w) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (s->entries[i]->writer == w)
                        s->entries[i]->writer = NULL;
        target_forget_writer(s->fanout, w);
        for (size_t i = 0; i < s->n_detached; i++)
                target_forget_writer(s->detached[i], w);
}

/* WS-10: the session @id, for its own requester @c only. */
int session_of_requester(Manager *m, Client *c, const vss_id *id, Session **ret, Refusal *ref) {
        for (Session *s = m->sessions; s; s = s->next) {
                if (!vss_id_equal(&s->id, id))
                        continue;
                if (s->client != c) {
                        /* WS-10: nobody but the session's own requester reads its status. */
                        char sid[VSS_ID_STRING_MAX];
                        vss_id_format(id, sid);
                        log_denied(m, "uid %u pid %d asked for the status of session %s, not its own",
                                   (unsigned) c->uid, (int) c->pid, sid);
                        return refusal_set_hresult(ref, VSS_E_ACCESSDENIED,
                                                   "The session belongs to another requester");
                }
                *ret = s;
                return 0;
        }
        return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "No such session");
}

bool session_busy(const Session *s) {
        return s->step != STEP_NONE || s->pick_call; /* issue 11 §1: a provider answers in a worker */
}

/* The admin view's words for the session's state (issue 11 §2: never "ended" read as completed). */
const char *session_state_text(const Session *s) {
        bool lost; /* issue 8 item 6: static texts, they outlive the session */

        if (!s)
                return "none";
        lost = s->history_lost > 0;
        return session_state_admin_text(s->state, s->kind == SESSION_RESTORE, lost);
}

/* *@dst becomes a copy of @src (NULL for NULL), left alone when it is equal already:
 * 0, or -ENOMEM with *@dst NULL. */
static int note_copy(char **dst, const char *src) {
        if (streq_ptr(*dst, src))
                return 0;
        free(*dst);
        *dst = src ? strdup(src) : NULL;
        return src && !*dst ? -ENOMEM : 0;
}

/* The admin view's copy of @e's status, in its writer's record (WS-9): the session layer
 * writes it; the registry only reads it (issue 11 §2: the layers run one way). */
void writer_note_status(Writer *w, const Entry *e) {
        LastStatus *l;

        if (!w || !e)
                return;
        l = &w->last;
        l->valid = true;
        l->state = e->state;
        l->failure = e->failure;
        l->application_result = e->application_result;
        /* issue 11 §5: called for every writer at every event sent and answered;
         * the strings are copied only when they changed (mostly they are NULL) */
        if (note_copy(&l->application_message, e->application_message) < 0)
                log_session(e->session, "out of memory: the admin view shows writer '%s' without its message",
                            w->name);
        l->session_id = e->session->id;
        l->last_event = e->last_event;
        l->in_progress = e->in_progress;
        l->last_event_usec = e->last_event_usec;
        l->duration_usec = e->duration_usec;
        l->answered_by_lvssd = e->answered_by_lvssd;
        l->session = e->session;
        l->session_state = NULL;
        if (note_copy(&l->origin, e->session->origin) < 0)
                log_session(e->session, "out of memory: the admin view shows writer '%s' without the session's origin",
                            w->name);
}


/* The registry's hooks (issue 11 §2): what ListWriters shows of a session, and a writer going away. */
static const char *registry_session_state(const void *session, bool *ret_active) {
        const Session *s = session;

        *ret_active = !session_ended(s);
        return session_state_text(s);
}

static void registry_writer_gone(Manager *m, Writer *w) {
        for (Session *s = m->sessions; s; s = s->next)
                session_forget_writer(s, w);
}

const RegistryHooks session_registry_hooks = {
        .session_state = registry_session_state,
        .writer_gone = registry_writer_gone,
};

/* ---- the status table ---------------------------------------------------- */

void entry_begin(Entry *e, vss_writer_event event, uint64_t sent_usec, const Target *t) {
        e->current = t;
        e->last_event = event;
        e->in_progress = true;
        e->last_event_usec = sent_usec;
        e->duration_usec = 0;
        e->answered_by_lvssd = false;
        switch (event) {
        case VSS_EVENT_PREPARE_BACKUP:
                e->got_prepare_backup = true;
                break;
        case VSS_EVENT_PREPARE_SNAPSHOT:
                e->got_prepare_snapshot = true;
                break;
        default:
                break;
        }
        if (e->writer)
                writer_note_status(e->writer, e);
}

/*
 * A frozen writer that lvssd could not tell to thaw (its Thaw or Abort could
 * not be sent or got no answer) must not stay frozen until its own deadman:
 * lvssd closes its connection, and the writer library thaws the application
 * as soon as the connection drops (WS-6). The entry is no longer frozen.
 */
void entry_release_frozen(Entry *e, const char *why) {
        if (!e->frozen)
                return;
        e->frozen = false;
        if (!e->writer || !e->writer->client)
                return; /* gone already: its library has thawed it */
        log_session(e->session, "%s: writer '%s' could not be told to thaw; closing its connection so that it "
                    "thaws now (WS-6)", why, e->writer_name);
        connection_drop_client(e->writer->client);
}

void entry_apply(Entry *e, vss_writer_event event, const Target *t) {
        Session *s = e->session;

        e->in_progress = false;
        e->duration_usec = t->duration_usec;
        e->answered_by_lvssd = t->answered_by_lvssd;
        e->state = lvss_state_after_event(e->state, event, t->ok);

        if (!t->ok && event != VSS_EVENT_ABORT) {
                /* WS-4: the failure code and what the writer said with it. */
                e->failure = t->failure;
                e->application_result = t->application_result;
                free(e->application_message);
                /* WS-12: a restore failure carries the writer's message for the component. */
                const char *msg = t->application_message ? t->application_message
                                                         : entry_component_failure_msg(e, event);
                e->application_message = lvss_strdup_bounded(msg, LVSS_MESSAGE_MAX);
        }

        switch (event) {
        case VSS_EVENT_FREEZE:
                e->frozen = t->ok;
                break;
        case VSS_EVENT_THAW:
        case VSS_EVENT_ABORT:
                /* Not sent, or no answer: the application may still be frozen. */
                if (e->frozen && !t->ok && t->failure == VSS_E_WRITER_NOT_RESPONDING)
                        entry_release_frozen(e, vss_writer_event_name(event));
                e->frozen = false;
                break;
        case VSS_EVENT_POST_SNAPSHOT:
                e->finished_post_snapshot = true;
                break;
        default:
                break;
        }

        if (!t->ok)
                log_session_writer(s, e->writer_name, event, t->failure, "%s: writer '%s' failed: %s (%s)%s%s",
                            vss_writer_event_name(event), e->writer_name,
                            vss_hresult_name(t->failure) ?: "?", vss_hresult_text(t->failure),
                            t->application_message ? ": " : "", strempty(t->application_message));

        if (e->writer)
                writer_note_status(e->writer, e);

        if (s->m->catalog) {
                lvss_catalog_status cs = {
                        .session_id = s->id,
                        .instance_id = e->instance_id,
                        .writer_id = e->writer_id,
                        .writer_name = e->writer_name,
                        .instance_name = e->instance_name,
                        .state = e->state,
                        .failure = e->failure,
                        .application_result = e->application_result,
                        .application_message = e->application_message,
                        .event = event,
                        .ok = t->ok,
                        .sent_usec = t->sent_usec,
                        .duration_usec = t->duration_usec,
                        .answered_by_lvssd = t->answered_by_lvssd,
                };
                manager_queue_history(s->m, &cs);
        }
}

/* ---- components ---------------------------------------------------------- */

void component_done(Component *c) {
        free(c->instance_name);
        free(c->logical_path);
        free(c->name);
        free(c->backup_metadata);
        free(c->backup_stamp);
        free(c->previous_backup_stamp);
        free(c->restore_metadata);
        free(c->pre_restore_failure_msg);
        free(c->post_restore_failure_msg);
}

bool component_belongs(const Session *s, const Component *c, const Entry *e) {
        if (s->kind == SESSION_RESTORE)
                return vss_id_equal(&c->writer_id, &e->writer_id) &&
                       streq_ptr(strempty(c->instance_name), strempty(e->instance_name));
        return vss_id_equal(&c->instance_id, &e->instance_id);
}

static Component *component_find(Session *s, const vss_id *instance_id, const char *logical_path,
                                 const char *name) {
        for (size_t i = 0; i < s->n_components; i++) {
                Component *c = &s->components[i];
                if (vss_id_equal(&c->instance_id, instance_id) && streq_ptr(c->logical_path, strempty(logical_path)) &&
                    streq_ptr(c->name, name))
                        return c;
        }
        return NULL;
}

bool session_entry_participates(const Session *s, const Entry *e) {
        if (s->kind == SESSION_RESTORE) {
                /* Writers with no selected component get no events after PreRestore's start (vss-reference §6.2). */
                for (size_t i = 0; i < s->n_components; i++)
                        if (s->components[i].selected_for_restore && component_belongs(s, &s->components[i], e))
                                return true;
                return false;
        }
        if (!s->select_components)
                return true;
        for (size_t i = 0; i < s->n_components; i++)
                if (component_belongs(s, &s->components[i], e))
                        return true;
        return false;
}

/* The target's components in its event's context (issue 11 §2: plain data, the fan-out packs them). */
static int entry_context_components(Entry *e, lvss_event_context *ctx) {
        Session *s = e->session;
        size_t n = 0;

        for (size_t i = 0; i < s->n_components; i++)
                if (component_belongs(s, &s->components[i], e))
                        n++;
        ctx->has_components = true;
        if (n == 0)
                return 0;
        ctx->components = calloc(n, sizeof *ctx->components);
        if (!ctx->components)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_components; i++) {
                Component *c = &s->components[i];
                if (!component_belongs(s, c, e))
                        continue;
                ctx->components[ctx->n_components++] = (lvss_wire_component) {
                        .type = (uint32_t) c->type,
                        .logical_path = c->logical_path,
                        .name = c->name,
                        .selected = s->kind == SESSION_RESTORE ? c->selected_for_restore : true,
                        .backup_succeeded = c->backup_succeeded,
                        .backup_metadata = c->backup_metadata,
                        .backup_stamp = c->backup_stamp,
                        .previous_backup_stamp = c->previous_backup_stamp,
                        .restore_metadata = c->restore_metadata,
                        .has_file_restore_status = s->kind == SESSION_RESTORE,
                        .file_restore_status = (uint32_t) c->file_restore_status,
                };
        }
        return 0;
}

/* One component of a writer's answer: merge what the writer may change, its own strings in the document. */
static int entry_merge_out_component(Entry *e, const lvss_wire_component *w) {
        Session *s = e->session;
        Component *c = NULL;

        for (size_t i = 0; i < s->n_components && !c; i++)
                if (component_belongs(s, &s->components[i], e) &&
                    streq_ptr(s->components[i].logical_path, strempty(w->logical_path)) &&
                    streq_ptr(s->components[i].name, w->name))
                        c = &s->components[i];
        if (!c)
                return 0;

        struct {
                char **dst;
                const char *v;
        } set[] = {
                { &c->backup_metadata, w->backup_metadata },
                { &c->backup_stamp, w->backup_stamp },
                { &c->restore_metadata, w->restore_metadata },
                { &c->pre_restore_failure_msg, w->pre_restore_failure_msg },
                { &c->post_restore_failure_msg, w->post_restore_failure_msg },
        };
        for (size_t i = 0; i < ELEMENTSOF(set); i++) {
                if (!set[i].v || !*set[i].v)
                        continue;
                /* Only what the document can carry: a string it would refuse
                 * (control characters, oversize) would make SaveAsXml fail for
                 * every writer of the session. */
                int k = lvss_bcd_set_string(set[i].dst, set[i].v);
                if (k == -ENOMEM)
                        return k;
                if (k < 0)
                        log_session(s, "writer '%s' component '%s': a string the document cannot "
                                    "carry was ignored: %s", e->writer_name, w->name, strerror(-k));
        }
        return 0;
}

/* ---- fan-out with the session's context ---------------------------------- */

/* What writer @t is told with the event (issue 11 §2: plain data; the fan-out packs it). */
static int session_context(Fanout *f, Target *t, lvss_event_context *ctx, void *userdata) {
        Session *s = userdata;
        int r;

        ctx->backup_type = (uint32_t) s->backup_type;
        ctx->select_components = s->select_components;
        ctx->bootable_system_state = s->bootable_system_state;
        ctx->partial_file_support = s->partial_file_support;
        ctx->context = s->context;
        ctx->has_restore_type = s->kind == SESSION_RESTORE;
        ctx->restore_type = (uint32_t) s->restore_type;
        if (s->set_started) {
                r = context_fill_set(s, ctx, f->event == VSS_EVENT_POST_SNAPSHOT ||
                                                   f->event == VSS_EVENT_BACKUP_COMPLETE);
                if (r < 0)
                        return r;
        }
        if (t->peer && f->event != VSS_EVENT_IDENTIFY) {
                r = entry_context_components(t->peer, ctx);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- what the fan-out reports per target (issue 11 §2: it calls back, never in by name) ---- */

/* A writer that did not answer in this session is not asked again: it fails at once (WS-5). */
static bool session_target_silent(Fanout *f, Target *t, void *userdata) {
        const Entry *e = t->peer;
        return e && e->failure == VSS_E_WRITER_NOT_RESPONDING && lvss_state_is_failed(e->state);
}

static void session_target_sent(Fanout *f, Target *t, void *userdata) {
        if (t->peer)
                entry_begin(t->peer, f->event, t->sent_usec, t);
}

/* What the writer set on one of its components (backup metadata, stamps, restore messages). */
static int session_target_out_component(Fanout *f, Target *t, const lvss_wire_component *c, void *userdata) {
        return entry_merge_out_component(t->peer, c);
}

static void session_target_result(Fanout *f, Target *t, void *userdata) {
        Entry *e = t->peer;

        /* A late answer to an event the entry no longer waits for (a newer
         * event went out meanwhile) must not overwrite the newer status. */
        if (e && e->current == t) {
                e->current = NULL;
                entry_apply(e, f->event, t);
        }
}

static void session_target_dropped(Fanout *f, Target *t, void *userdata) {
        Entry *e = t->peer;

        if (e && e->current == t) {
                /* The outcome is unknown: the event is no longer in progress
                 * as far as this session is concerned, its state stays. */
                e->current = NULL;
                e->in_progress = false;
                e->duration_usec = t->duration_usec;
                if (e->writer)
                        writer_note_status(e->writer, e);
        }
}

static const char *session_target_name(const Target *t, void *userdata) {
        const Entry *e = t->peer;
        return e ? e->writer_name : NULL;
}

static const FanoutOps session_fanout_ops = {
        .context = session_context,
        .silent = session_target_silent,
        .sent = session_target_sent,
        .out_component = session_target_out_component,
        .result = session_target_result,
        .dropped = session_target_dropped,
        .name = session_target_name,
};

int session_fanout(Session *s, vss_writer_event event, Entry **entries, size_t n, fanout_done_t done) {
        _cleanup_(freep) Writer **writers = calloc(n ? n : 1, sizeof *writers);
        int r;

        if (!writers)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                writers[i] = entries[i]->writer;
        r = fanout_start(s->m, event, &s->id, writers, (void **) entries, n, &session_fanout_ops, done, s,
                         &s->fanout);
        /* logged once sent (issue 11 §5: Thaw is not behind a log write) */
        if (r >= 0)
                log_session(s, "%s: sent to %zu writer%s", vss_writer_event_name(event), n, n == 1 ? "" : "s");
        return r;
}

/* What a fan-out's line says: how many of its writers answered ok. */
typedef struct FanoutTally {
        vss_writer_event event;
        size_t ok, n;
} FanoutTally;

static FanoutTally fanout_tally(const Fanout *f) {
        FanoutTally t = { .event = f->event, .n = f->n_targets };

        for (size_t i = 0; i < f->n_targets; i++)
                t.ok += f->targets[i].ok;
        return t;
}

static void log_tally(Session *s, const FanoutTally *t) {
        log_session(s, "%s: %zu of %zu writer%s ok", vss_writer_event_name(t->event), t->ok, t->n,
                    t->n == 1 ? "" : "s");
}

void session_log_fanout(Session *s, Fanout *f) {
        FanoutTally t = fanout_tally(f);

        log_tally(s, &t);
}

int session_collect(Session *s, bool (*pred)(const Session *s, const Entry *e)) {
        free(s->work);
        s->n_work = 0;
        s->work = calloc(s->n_entries ? s->n_entries : 1, sizeof *s->work);
        if (!s->work)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_entries; i++)
                if (pred(s, s->entries[i]))
                        s->work[s->n_work++] = s->entries[i];
        return 0;
}

/* ---- step bookkeeping ---------------------------------------------------- */

static void session_teardown_continue(Session *s);
static int session_start_release(Session *s, Pending **call);
static void session_finalize(Session *s);
static void session_arm_idle(Session *s);

/*
 * A step either ends with the StepFinished signal (the requester's
 * asynchronous steps: the call that starts one answers at once, so an
 * out-of-order call fails right there, WS-11) or answers its deferred call
 * (AbortBackup and Release, which the requester waits for).
 */
void session_step_begin(Session *s, StepKind step, const char *name, Pending **deferred_call) {
        s->step_detail = mfree(s->step_detail);
        s->step = step;
        s->step_name = name;
        s->step_hr = VSS_S_OK;
        s->step_signal = !deferred_call || !*deferred_call;
        s->step_call = pending_drop(s->step_call);
        s->step_call = deferred_call ? TAKE_PTR(*deferred_call) : NULL;
}

void session_step_abandon(Session *s) {
        s->step = STEP_NONE;
        s->step_signal = false;
        s->step_call = pending_drop(s->step_call);
}

static void emit_step_finished(Session *s, const char *name, vss_hresult hr) {
        _cleanup_(freep) char *note = NULL;
        int r;

        if (!s->client || s->client->disconnected)
                return;
        /* A step that succeeded while writer-status rows were lost says so; a failure
         * says its cause when it is known (issue 8 item 6). */
        if (VSS_SUCCEEDED(hr))
                note = session_history_note(s);
        else if (s->step_detail && asprintf(&note, "%s: %s", vss_hresult_text(hr), s->step_detail) < 0)
                note = NULL;
        s->step_detail = mfree(s->step_detail);
        if (!s->m->session_hooks || !s->m->session_hooks->step_finished)
                return;
        r = s->m->session_hooks->step_finished(s, name, hr, note ? note : VSS_FAILED(hr) ? vss_hresult_text(hr) : "");
        if (r < 0)
                log_session(s, "cannot signal the end of %s: %s", name, strerror(-r));
}

static void step_finish(Session *s, vss_hresult hr, const FanoutTally *tally);

void session_step_finish(Session *s, vss_hresult hr) {
        step_finish(s, hr, NULL);
}

/* The step's fan-out @f (s->fanout, freed here) ended it: its line is logged after the step's
 * end went out (issue 11 §5: act first, log after; StepFinished is not behind a log write). */
void session_step_finish_fanout(Session *s, Fanout *f, vss_hresult hr) {
        FanoutTally t = fanout_tally(f);

        step_finish(s, hr, &t);
}

static void step_finish(Session *s, vss_hresult hr, const FanoutTally *tally) {
        _cleanup_(pending_dropp) Pending *call = TAKE_PTR(s->step_call);
        bool signal = s->step_signal;
        StepKind step = s->step;

        s->step = STEP_NONE;
        s->step_signal = false;
        s->fanout = fanout_free(s->fanout);

        if (signal)
                emit_step_finished(s, s->step_name, hr);
        else if (call && s->client && !s->client->disconnected) {
                if (step == STEP_GATHER_STATUS && VSS_SUCCEEDED(hr))
                        (void) pending_answer(&call, &(Answer) { .kind = ANSWER_STATUS, .session = s });
                else if (VSS_FAILED(hr))
                        (void) pending_answer(&call, &(Answer) {
                                .kind = ANSWER_HRESULT,
                                .hr = hr,
                                .text = vss_hresult_text(hr),
                        });
                else
                        (void) pending_answer_empty(&call);
        }
        if (tally)
                log_tally(s, tally);

        if (!s->client && s->external) {
                /* issue 10 part 2: lvssd drives its own session's next step (external.c) */
                s->external_hooks->step_finished(s, step, hr);
                return;
        }
        if (!s->client) {
                s->queued_release = pending_drop(s->queued_release);
                session_teardown_continue(s);
                return;
        }
        if (s->idle_expired && step == STEP_ABORT && !session_released(s)) {
                /* issue 8 item 5: the idle holder's Abort is done; end the session */
                s->queued_release = pending_drop(s->queued_release);
                int r = session_start_release(s, NULL);
                if (r < 0) {
                        session_step_abandon(s);
                        log_session(s, "cannot send BackupShutdown: %s", strerror(-r));
                        session_finalize(s);
                }
                return;
        }
        session_arm_idle(s);
        if (s->queued_release) {
                _cleanup_(pending_dropp) Pending *release = TAKE_PTR(s->queued_release);
                int r = session_start_release(s, &release);
                if (r < 0) {
                        _cleanup_(freep) char *why = NULL;

                        session_step_abandon(s);
                        if (asprintf(&why, "Cannot release the session: %s", strerror(-r)) < 0)
                                why = NULL;
                        (void) pending_answer(&release, &(Answer) { .kind = ANSWER_ERRNO, .error = r, .text = why });
                }
        }
        /* a step ends from a writer's reply or a timer, not from the requester's own dispatch */
        connection_changed(s->client);
}

/* An asynchronous step started: answer its call now (a NULL call: lvssd's own step, an
 * external session: nobody to answer). */
int session_step_started(Session *s, Pending **call) {
        return pending_answer_empty(call);
}

/* ---- Session1 methods ---------------------------------------------------- */

bool session_ended(const Session *s) {
        return session_state_is_ended(s->state);
}

bool session_released(const Session *s) {
        return s->state == SESSION_STATE_RELEASING || session_ended(s);
}

bool session_set_done(const Session *s) {
        SessionState st = s->state == SESSION_STATE_RELEASING ? s->released_from : s->state;
        return st == SESSION_STATE_SNAPSHOT_DONE || st == SESSION_STATE_BACKUP_COMPLETE ||
               st == SESSION_STATE_COMPLETED;
}

/* issue 11 §2: every requester call asks the table first (session-state.c); what is data
 * (the gather, the set, the context) the method checks after. */
int session_check(Session *s, SessionInput input, SessionRule *ret_rule, Refusal *ref) {
        SessionRule rule = {};

        if (session_state_rule(s->state, session_busy(s), input, &rule)) {
                if (ret_rule)
                        *ret_rule = rule;
                return 0;
        }
        /* issue 8 item 5: an idle holder's session says why it ended */
        if (session_released(s) && s->idle_expired && s->end_reason)
                return refusal_set_hresult(ref, rule.refusal, "%s: %s", rule.why, s->end_reason);
        return refusal_set_hresult(ref, rule.refusal, "%s", rule.why);
}

void session_apply(Session *s, SessionInput input) {
        SessionRule rule = {};

        if (!session_state_rule(s->state, session_busy(s), input, &rule)) {
                /* a defect in lvssd: say so, keep the state */
                log_session(s, "internal error: '%s' in state '%s': %s", strempty(session_input_name(input)),
                            strempty(session_state_name(s->state)), rule.why);
                return;
        }
        if (rule.next == SESSION_STATE_RELEASING && s->state != SESSION_STATE_RELEASING)
                s->released_from = s->state;
        s->state = rule.next;
        metrics_changed(s->m->metrics); /* issue 12 §3: the metrics file after each step */
}

bool session_prepared(const Session *s) {
        switch (s->state) {
        case SESSION_STATE_PREPARED:
        case SESSION_STATE_SNAPSHOT_DONE:
        case SESSION_STATE_BACKUP_COMPLETE:
        case SESSION_STATE_COMPLETED:
                return true;
        default:
                return false;
        }
}

/* Does the session have something an Abort undoes: PrepareForBackup went out, or a set was started? */
static bool session_needs_abort(const Session *s) {
        return session_prepared(s) || (s->state == SESSION_STATE_BACKUP && s->set_started);
}

static bool writer_context(const Session *s) {
        return !(s->context & VSS_VOLSNAP_ATTR_NO_WRITERS);
}

int session_method_initialize(Session *s, SessionKind kind, const char *bcd, Refusal *ref) {
        SessionInput in = kind == SESSION_RESTORE ? SESSION_IN_INITIALIZE_RESTORE : SESSION_IN_INITIALIZE_BACKUP;
        int r = session_check(s, in, NULL, ref);
        if (r < 0)
                return r;
        if (kind == SESSION_BACKUP && bcd && *bcd)
                return refusal_set_hresult(ref, VSS_E_INVALIDARG,
                                           "Importing a Backup Components Document is not supported");
        if (kind == SESSION_RESTORE) {
                r = session_load_bcd(s, bcd, ref);
                if (r < 0)
                        return r;
                s->kind = kind;
                session_apply(s, in);
                log_session(s, "initialized for restore (%zu component%s in the document)", s->n_components,
                            s->n_components == 1 ? "" : "s");
                return 0;
        }
        s->kind = kind;
        session_apply(s, in);
        log_session(s, "initialized for backup");
        return 0;
}

int session_method_set_context(Session *s, int32_t context, Refusal *ref) {
        static const int32_t valid[] = {
                VSS_CTX_BACKUP,          VSS_CTX_FILE_SHARE_BACKUP, VSS_CTX_NAS_ROLLBACK,
                VSS_CTX_APP_ROLLBACK,    VSS_CTX_CLIENT_ACCESSIBLE, VSS_CTX_CLIENT_ACCESSIBLE_WRITERS,
        };
        bool ok = false;
        int r = session_check(s, SESSION_IN_SET_CONTEXT, NULL, ref);
        if (r < 0)
                return r;
        size_t n_snaps;
        (void) snapshot_set_snapshots(s->set, &n_snaps);
        if (n_snaps > 0)
                return session_bad_state(ref, "SetContext must come before volumes are added");
        /* Any of them, with or without VSS_VOLSNAP_ATTR_NO_AUTORECOVERY (issue 9 part 2). */
        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                ok = ok || valid[i] == (context & ~VSS_VOLSNAP_ATTR_NO_AUTORECOVERY);
        if (!ok)
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "Unknown context 0x%x", (unsigned) context);
        s->context = context;
        return 0;
}

int session_method_set_backup_state(Session *s, bool select, bool bootable, uint32_t type, bool partial,
                                    Refusal *ref) {
        int r = session_check(s, SESSION_IN_SET_BACKUP_STATE, NULL, ref);
        if (r < 0)
                return r;
        if (type > VSS_BT_OTHER)
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "Unknown backup type %u", type);
        s->backup_state_set = true;
        s->select_components = select;
        s->bootable_system_state = bootable;
        s->backup_type = type;
        s->partial_file_support = partial;
        return 0;
}

static void entries_free(Entry **entries, size_t n) {
        for (size_t i = 0; i < n; i++)
                entry_free(entries[i]);
        free(entries);
}

/*
 * The session's entries are built aside and become the session's only when
 * all of them are: after an allocation failure the session has none, and a
 * GatherWriterMetadata tried again starts from nothing (issue 11 §4: the
 * first attempt's array used to stay behind, lost, when the retry replaced it).
 */
vss_hresult session_identify_record(Session *s, Fanout *f) {
        Entry **entries;
        size_t n = 0;

        session_log_fanout(s, f);
        entries = calloc(f->n_targets ? f->n_targets : 1, sizeof *entries);
        if (!entries)
                return VSS_E_OUTOFMEMORY;

        for (size_t i = 0; i < f->n_targets; i++) {
                Target *t = &f->targets[i];
                Writer *w = t->writer;
                Entry *e;

                if (!w)
                        continue;
                /* The fan-out checked the metadata document already (a requester
                 * never receives one it cannot read): an invalid one is a failed
                 * Identify with VSS_E_INVALID_XML_DOCUMENT and a note. */
                if (!t->ok) {
                        /* WS-1: absent from the session; the admin view may show it
                         * as failed at Identify, outside any session. */
                        LastStatus *l = &w->last;
                        char *message = NULL;

                        if (t->application_message) {
                                message = strdup(t->application_message);
                                if (!message) {
                                        entries_free(entries, n);
                                        return VSS_E_OUTOFMEMORY;
                                }
                        }
                        l->valid = true;
                        l->state = t->failure == VSS_E_WRITER_NOT_RESPONDING ? VSS_WS_UNKNOWN
                                                                               : VSS_WS_FAILED_AT_IDENTIFY;
                        l->failure = t->failure;
                        l->application_result = t->application_result;
                        free(l->application_message);
                        l->application_message = message;
                        l->session_id = (vss_id) {};
                        l->last_event = VSS_EVENT_IDENTIFY;
                        l->in_progress = false;
                        l->last_event_usec = t->sent_usec;
                        l->duration_usec = t->duration_usec;
                        l->session = NULL;
                        l->session_state = "none";
                        log_session(s, "Identify: writer '%s' left out: %s%s%s", w->name,
                                    vss_hresult_name(t->failure) ?: "?", t->note ? ": " : "", strempty(t->note));
                        continue;
                }

                e = calloc(1, sizeof *e);
                if (!e) {
                        entries_free(entries, n);
                        return VSS_E_OUTOFMEMORY;
                }
                entries[n++] = e;
                e->session = s;
                e->writer = w;
                e->instance_id = w->instance_id;
                e->writer_id = w->writer_id;
                e->writer_name = strdup(w->name);
                e->instance_name = strdup(w->instance_name);
                if (!e->writer_name || !e->instance_name) {
                        entries_free(entries, n);
                        return VSS_E_OUTOFMEMORY;
                }
                e->state = VSS_WS_STABLE; /* WS-8: a new session starts clean */
                e->last_event = VSS_EVENT_IDENTIFY;
                e->last_event_usec = t->sent_usec;
                e->duration_usec = t->duration_usec;
        }

        /* Everything is in place: only now does the session take the documents and the entries. */
        for (size_t i = 0, j = 0; i < f->n_targets && j < n; i++)
                if (f->targets[i].writer && f->targets[i].ok)
                        entries[j++]->metadata = TAKE_PTR(f->targets[i].metadata);
        entries_free(s->entries, s->n_entries); /* none: Identify is recorded once */
        s->entries = entries;
        s->n_entries = n;
        for (size_t i = 0; i < n; i++)
                writer_note_status(entries[i]->writer, entries[i]);
        s->metadata_gathered = true;
        return VSS_S_OK;
}

static void gather_metadata_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_step_finish(s, session_identify_record(s, f));
}

int session_identify(Session *s, fanout_done_t then) {
        _cleanup_(freep) Writer **writers = NULL;
        size_t n = 0;
        int r;

        r = registry_writers(s->m, &writers, &n);
        if (r < 0)
                return r;
        log_session(s, "Identify: sent to %zu writer%s", n, n == 1 ? "" : "s");
        return fanout_start(s->m, VSS_EVENT_IDENTIFY, &s->id, writers, NULL, n, &session_fanout_ops, then, s,
                            &s->fanout);
}

int session_method_gather_metadata(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        int r = session_check(s, SESSION_IN_GATHER_METADATA, NULL, ref);
        if (r < 0)
                return r;
        if (s->metadata_gathered)
                return session_bad_state(ref, "GatherWriterMetadata may be called once per session");

        session_step_begin(s, STEP_GATHER_METADATA, "GatherWriterMetadata", NULL);
        r = session_identify(s, gather_metadata_done);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, &call);
}

int session_writer_metadata(Session *s, Entry *const **ret_entries, size_t *ret_n, Refusal *ref) {
        if (!s->metadata_gathered)
                return session_bad_state(ref, "GetWriterMetadata needs a completed GatherWriterMetadata");
        *ret_entries = s->entries;
        *ret_n = s->n_entries;
        return 0;
}

static Entry *entry_by_instance(Session *s, const vss_id *instance_id) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (vss_id_equal(&s->entries[i]->instance_id, instance_id))
                        return s->entries[i];
        return NULL;
}

int session_method_add_component(Session *s, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                 const char *logical_path, const char *name, Refusal *ref) {
        Component *c;
        Entry *e;
        int r = session_check(s, SESSION_IN_ADD_COMPONENT, NULL, ref);
        if (r < 0)
                return r;
        if (!s->metadata_gathered)
                return session_bad_state(ref, "AddComponent needs a completed GatherWriterMetadata");
        if (!writer_context(s))
                return session_bad_state(ref, "AddComponent is not allowed in a context without writers");
        if (!name || !*name || type > VSS_CT_FILEGROUP || type == VSS_CT_UNDEFINED)
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "Invalid component");
        e = entry_by_instance(s, instance_id);
        if (!e || !vss_id_equal(&e->writer_id, writer_id))
                return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND,
                                           "No writer with that instance in this session");
        if (component_find(s, instance_id, logical_path, name))
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "Component already added");

        c = reallocarray(s->components, s->n_components + 1, sizeof *s->components);
        if (!c)
                return -ENOMEM;
        s->components = c;
        c = &s->components[s->n_components];
        *c = (Component) {
                .instance_id = *instance_id,
                .writer_id = *writer_id,
                .instance_name = strdup(strempty(e->instance_name)),
                .type = type,
                .logical_path = strdup(strempty(logical_path)),
                .name = strdup(name),
        };
        if (!c->logical_path || !c->name || !c->instance_name) {
                component_done(c);
                return -ENOMEM;
        }
        s->n_components++;
        return 0;
}

/* ---- the set in creation and an idle requester (issue 8 item 5) ----------
 *
 * One snapshot set may be in creation system-wide (WS-10): from
 * StartSnapshotSet until DoSnapshotSet ends, the session is Manager.set_owner
 * and every other StartSnapshotSet fails. A requester that stops between its
 * steps (hung, SIGSTOPped) would hold that slot for as long as its connection
 * stays open. So the owner has an idle timer: every call from its requester
 * and the end of every step move it to now + SnapshotSetIdleTimeoutMS; while
 * a step runs it is not idle (each step has its own deadlines). When the
 * timer passes, the session is aborted as AbortBackup would (Abort to the
 * writers that prepared; no shadow copy exists before DoSnapshotSet), then
 * released (BackupShutdown) and ended as 'aborted' with the reason; the
 * slot is free. Its requester's next call fails with VSS_E_BAD_STATE naming
 * the reason.
 */

static int on_set_idle(sd_event_source *src, uint64_t usec, void *userdata);

static void session_arm_idle(Session *s) {
        Manager *m = s->m;
        uint64_t when;
        int r;

        if (m->set_owner != s || session_released(s) || !s->client)
                return;
        when = now_usec(CLOCK_MONOTONIC) + m->cfg.set_idle_timeout_usec;
        if (!s->idle_timer)
                r = sd_event_add_time(m->event, &s->idle_timer, CLOCK_MONOTONIC, when, 0, on_set_idle, s);
        else {
                r = sd_event_source_set_time(s->idle_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->idle_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_session(s, "cannot arm the idle timer of the snapshot set in creation: %s", strerror(-r));
}

void session_touch(Session *s) {
        session_arm_idle(s);
}

static int session_start_abort(Session *s, Pending **call);

static int on_set_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;
        Manager *m = s->m;
        char *reason;
        int r;

        /* a step runs (its end re-arms the timer), or the slot is no longer ours */
        if (m->set_owner != s || session_busy(s) || session_released(s) || !s->client)
                return 0;
        if (asprintf(&reason,
                     "the requester (uid %u pid %d) held the snapshot set in creation and made no call for %" PRIu64
                     " ms (SnapshotSetIdleTimeoutMS)",
                     (unsigned) s->uid, (int) s->pid, m->cfg.set_idle_timeout_usec / USEC_PER_MSEC) < 0)
                reason = NULL;
        log_session(s, "aborted: %s", reason ? reason : "idle while holding the snapshot set in creation");
        free(s->end_reason);
        s->end_reason = reason;
        s->idle_expired = true;
        r = session_start_abort(s, NULL);
        if (r < 0) {
                /* Abort cannot go out: at least free the slot; Release still ends the session. */
                session_step_abandon(s);
                log_session(s, "cannot send Abort: %s", strerror(-r));
                session_apply(s, SESSION_IN_ABORT_DONE);
                m->set_owner = NULL;
                r = session_start_release(s, NULL);
                if (r < 0) {
                        session_step_abandon(s);
                        session_finalize(s);
                }
        }
        return 0;
}

int session_method_start_snapshot_set(Session *s, vss_id *ret, Refusal *ref) {
        int r = session_check(s, SESSION_IN_START_SNAPSHOT_SET, NULL, ref);
        if (r < 0)
                return r;
        if (s->set_started)
                return session_bad_state(ref, "This session already has a snapshot set");
        if (s->m->set_owner && s->m->set_owner != s) {
                /* issue 8 item 5: say who holds it, and for how long it may */
                const Session *o = s->m->set_owner;
                char oid[VSS_ID_STRING_MAX];
                vss_id_format(&o->id, oid);
                if (o->external) /* issue 10 part 2 */
                        return refusal_set_hresult(
                                ref, VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                                "Another snapshot set is being created: the external freeze of session %s (%s), "
                                "held for at most %" PRIu64 " ms",
                                oid, strempty(o->origin), o->external_hold_usec / USEC_PER_MSEC);
                return refusal_set_hresult(
                        ref, VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                        "Another snapshot set is being created: by session %s (uid %u pid %d), started %" PRIu64
                        " s ago; a holder idle for %" PRIu64 " ms between its steps is aborted",
                        oid, (unsigned) o->uid, (int) o->pid,
                        (now_usec(CLOCK_REALTIME) - o->set_started_usec) / USEC_PER_SEC,
                        s->m->cfg.set_idle_timeout_usec / USEC_PER_MSEC);
        }
        s->set_started = true;
        s->set_id = lvss_id_random();
        s->set_started_usec = now_usec(CLOCK_REALTIME);
        s->m->set_owner = s;
        session_arm_idle(s);
        *ret = s->set_id;
        char id[VSS_ID_STRING_MAX];
        vss_id_format(&s->set_id, id);
        log_session(s, "snapshot set %s started", id);
        return 0;
}

/* A provider id the requester named must be one lvssd has (issue 8 item 6):
 * VSS_E_PROVIDER_NOT_REGISTERED, not a veto of a provider that does not exist. */
static int check_provider_registered(Session *s, const vss_id *provider_id, Refusal *ref) {
        char id[VSS_ID_STRING_MAX];

        if (!provider_id || vss_id_is_null(provider_id) || manager_provider_by_id(s->m, provider_id))
                return 0;
        vss_id_format(provider_id, id);
        log_session(s, "no provider with id %s is registered", id);
        return refusal_set_hresult(ref, VSS_E_PROVIDER_NOT_REGISTERED,
                                   "No provider with id %s is registered (vssadmin list providers)", id);
}

/* ---- which provider takes a volume, off the loop (issue 11 §1) ---------------- */

static Snapshot *session_add_snapshot(Session *s, char **volume, lvss_provider *p, const vss_id *pid) {
        Snapshot *snap;

        snap = calloc(1, sizeof *snap);
        if (!snap)
                return NULL;
        if (snapshot_set_add(s->set, snap) < 0) {
                free(snap);
                return NULL;
        }
        snap->p.snapshot_id = lvss_id_random();
        snap->p.set_id = s->set_id;
        snap->p.volume = TAKE_PTR(*volume);
        snap->provider = p;
        snap->provider_id = *pid;
        log_session(s, "volume %s added to the snapshot set (provider %s)", snap->p.volume, p->ops->name);
        return snap;
}

static void pick_done(int r, const uint8_t *out, size_t size, void *userdata) {
        Session *s = userdata;
        _cleanup_(pending_dropp) Pending *call = TAKE_PTR(s->pick_call);
        _cleanup_(freep) char *volume = TAKE_PTR(s->pick_volume), *why = NULL;
        Answer a = { .kind = ANSWER_HRESULT, .hr = VSS_E_UNEXPECTED_PROVIDER_ERROR };
        const char *method = s->pick_add ? "AddToSnapshotSet" : "IsVolumeSupported";
        lvss_provider *p = NULL;
        int32_t idx = -1;

        if (r == 0 && size == sizeof idx)
                memcpy(&idx, out, sizeof idx);
        else if (r == 0)
                r = -EPROTO;
        if (idx >= 0 && (size_t) idx < s->m->n_providers)
                p = s->m->providers[idx];

        if (r == -ETIME) {
                log_session(s, "%s: no provider answered for %s within %llu ms (ProviderStepTimeoutMS=)", method,
                            volume, (unsigned long long) (s->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
                r = asprintf(&why, "The provider did not say whether it takes %s within %llu ms "
                                   "(ProviderStepTimeoutMS=)", volume,
                             (unsigned long long) (s->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
        } else if (r < 0) {
                log_session(s, "%s: the provider's worker failed for %s", method, volume);
                r = asprintf(&why, "The provider failed while checking %s", volume);
        } else if (!s->pick_add)
                a = (Answer) { .kind = ANSWER_BOOL, .yes = p != NULL };
        else if (!p) {
                a.hr = VSS_E_PROVIDER_VETO;
                r = asprintf(&why, "No provider can make a shadow copy of %s", volume);
        } else {
                vss_id pid = p->ops->id;
                Snapshot *snap = session_add_snapshot(s, &volume, p, &pid);

                if (snap)
                        a = (Answer) { .kind = ANSWER_ID, .id = snap->p.snapshot_id };
                else
                        r = -ENOMEM;
        }
        if (r < 0) /* out of memory: an errno error, as sd-bus gives it */
                a = (Answer) { .kind = ANSWER_ERRNO, .error = -ENOMEM };
        a.text = why;
        (void) pending_answer(&call, &a);
        session_arm_idle(s);
}

int session_method_pick_provider(Session *s, Pending *pending, bool add, const vss_id *provider_id,
                                 const char *volume, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        _cleanup_(freep) char *canonical = NULL;
        /* issue 11 §2: AddToSnapshotSet asks the session table (it refuses while a step or a
         * provider's worker runs); IsVolumeSupported only waits for no other provider answer */
        int r = add ? session_check(s, SESSION_IN_ADD_TO_SNAPSHOT_SET, NULL, ref) : 0;
        if (r < 0)
                return r;
        if (!add && (snapshot_step_running(s->set) || s->pick_call))
                return session_bad_state(ref, "A provider of this session is still answering");
        if (add && !s->set_started)
                return session_bad_state(ref, "AddToSnapshotSet needs StartSnapshotSet first");
        if (!volume || volume[0] != '/')
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "A volume is an absolute path");
        if (add) {
                canonical = realpath(volume, NULL);
                if (!canonical) {
                        int e = errno;
                        /* the requester's string, echoed: bounded (issue 8) */
                        _cleanup_(freep) char *shown = lvss_strdup_bounded(volume, LVSS_ECHO_MAX);
                        return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "Volume %s: %s",
                                                   shown ? shown : "(too long to show)", strerror(e));
                }
                size_t n_snaps;
                Snapshot *const *snaps = snapshot_set_snapshots(s->set, &n_snaps);
                for (size_t i = 0; i < n_snaps; i++)
                        if (streq_ptr(snaps[i]->p.volume, canonical))
                                return refusal_set_hresult(ref, VSS_E_INVALIDARG,
                                                           "Volume %s is already in the set", canonical);
        } else {
                canonical = strdup(volume);
                if (!canonical)
                        return -ENOMEM;
        }
        r = check_provider_registered(s, provider_id, ref);
        if (r < 0)
                return r;

        /* issue 11 §1: one worker per session answers volume after volume (worker_ask()); it is
         * forked at the first, and (§5) answers the set's provider steps too: it is ended when the
         * set is done (snapshot.c), the session ends, or it idles */
        vss_id want = provider_id ? *provider_id : (vss_id) {};
        size_t len = strlen(canonical) + 1;
        _cleanup_(freep) uint8_t *req = malloc(1 + sizeof want + len);
        if (!req)
                return -ENOMEM;
        req[0] = 'V'; /* snapshot_worker_serve(): which provider takes the volume */
        memcpy(req + 1, &want, sizeof want);
        memcpy(req + 1 + sizeof want, canonical, len);
        s->pick_add = add;
        s->pick_volume = TAKE_PTR(canonical);
        char tag[VSS_ID_STRING_MAX + 16], id[VSS_ID_STRING_MAX];
        vss_id_format(&s->id, id);
        snprintf(tag, sizeof tag, "session %s", id);
        r = worker_ask(snapshot_set_worker(s->set), s->m, "is_volume_supported", tag, snapshot_worker_serve,
                       s->set, req, 1 + sizeof want + len, s->m->cfg.provider_step_timeout_usec, pick_done, s);
        if (r < 0) {
                s->pick_volume = mfree(s->pick_volume);
                return refusal_set_hresult(ref, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                                           "Cannot ask the providers: %s", strerror(-r));
        }
        s->pick_call = TAKE_PTR(call);
        return 1;
}

/* On the loop: the external session's path (external.c), whose provider answers at once; a
 * requester's AddToSnapshotSet is session_method_pick_provider(). */
int session_method_add_to_snapshot_set(Session *s, const char *volume, const vss_id *provider_id, vss_id *ret,
                                       Refusal *ref) {
        _cleanup_(freep) char *canonical = NULL;
        lvss_provider *p;
        Snapshot *snap;
        vss_id pid;
        int r = session_check(s, SESSION_IN_ADD_TO_SNAPSHOT_SET, NULL, ref);
        if (r < 0)
                return r;
        if (!s->set_started)
                return session_bad_state(ref, "AddToSnapshotSet needs StartSnapshotSet first");
        if (!volume || volume[0] != '/')
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "A volume is an absolute path");
        canonical = realpath(volume, NULL);
        if (!canonical) {
                int e = errno;
                /* the requester's string, echoed: bounded (issue 8) */
                _cleanup_(freep) char *shown = lvss_strdup_bounded(volume, LVSS_ECHO_MAX);
                return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "Volume %s: %s",
                                           shown ? shown : "(too long to show)", strerror(e));
        }
        size_t n_snaps;
        Snapshot *const *snaps = snapshot_set_snapshots(s->set, &n_snaps);
        for (size_t i = 0; i < n_snaps; i++)
                if (streq_ptr(snaps[i]->p.volume, canonical))
                        return refusal_set_hresult(ref, VSS_E_INVALIDARG, "Volume %s is already in the set",
                                                   canonical);
        r = check_provider_registered(s, provider_id, ref);
        if (r < 0)
                return r;
        p = manager_pick_provider(s->m, provider_id, canonical, &pid);
        if (!p)
                return refusal_set_hresult(ref, VSS_E_PROVIDER_VETO,
                                           "No provider can make a shadow copy of %s", canonical);

        snap = session_add_snapshot(s, &canonical, p, &pid);
        if (!snap)
                return -ENOMEM;
        *ret = snap->p.snapshot_id;
        return 0;
}

static bool filter_prepare_backup(const Session *s, const Entry *e) {
        return !lvss_state_is_failed(e->state);
}

static void prepare_backup_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_apply(s, SESSION_IN_PREPARE_BACKUP_DONE);
        session_step_finish_fanout(s, f, VSS_S_OK);
}

int session_method_prepare_for_backup(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        int r = session_check(s, SESSION_IN_PREPARE_FOR_BACKUP, NULL, ref);
        if (r < 0)
                return r;
        if (!s->backup_state_set)
                return session_bad_state(ref, "PrepareForBackup needs SetBackupState first");
        if (!writer_context(s))
                return session_bad_state(ref, "PrepareForBackup is not allowed in a context without writers");
        if (!s->metadata_gathered)
                return session_bad_state(ref, "PrepareForBackup needs GatherWriterMetadata first");
        if (!s->set_started)
                return session_bad_state(ref, "PrepareForBackup needs StartSnapshotSet first");

        r = session_collect(s, filter_prepare_backup);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_PREPARE_BACKUP, "PrepareForBackup", NULL);
        r = session_fanout(s, VSS_EVENT_PREPARE_BACKUP, s->work, s->n_work, prepare_backup_done);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, &call);
}

/* The snapshot set's end (session-snapshot.c calls it through snapshot_set_run()'s hook): made, or not. */
static void snapshot_set_done(Session *s, vss_hresult hr) {
        if (VSS_SUCCEEDED(hr))
                session_apply(s, SESSION_IN_SNAPSHOT_SET_DONE);
        session_step_finish(s, hr);
}

int session_method_do_snapshot_set(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        int r = session_check(s, SESSION_IN_DO_SNAPSHOT_SET, NULL, ref);
        if (r < 0)
                return r;
        if (!s->set_started)
                return session_bad_state(ref, "DoSnapshotSet needs StartSnapshotSet first");
        if (writer_context(s) && s->state != SESSION_STATE_PREPARED)
                return session_bad_state(ref, "DoSnapshotSet needs PrepareForBackup first");

        session_step_begin(s, STEP_DO_SNAPSHOT_SET, "DoSnapshotSet", NULL);
        /* Answer first: snapshot_set_run() may end the step at once (a provider refusal),
         * and the StepFinished signal must come after this reply. */
        r = session_step_started(s, &call);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        (void) snapshot_set_run(s, snapshot_set_done);
        return 1;
}

int session_snapshot(Session *s, const vss_id *snapshot_id, const Snapshot **ret, Refusal *ref) {
        size_t n_snaps;
        Snapshot *const *snaps = snapshot_set_snapshots(s->set, &n_snaps);

        for (size_t i = 0; i < n_snaps; i++) {
                const Snapshot *snap = snaps[i];
                if (!vss_id_equal(&snap->p.snapshot_id, snapshot_id))
                        continue;
                if (!snap->created)
                        break;
                *ret = snap;
                return 0;
        }
        return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "No such shadow copy in this session");
}

uint32_t session_snapshot_attributes(const Session *s) {
        return (uint32_t) s->context | (snapshot_set_auto_recovery(s->set) ? VSS_VOLSNAP_ATTR_AUTORECOVER : 0);
}

int session_method_set_backup_succeeded(Session *s, const vss_id *instance_id, const vss_id *writer_id,
                                        uint32_t type, const char *logical_path, const char *name, bool ok,
                                        Refusal *ref) {
        Component *c;
        int r = session_check(s, SESSION_IN_SET_BACKUP_SUCCEEDED, NULL, ref);
        if (r < 0)
                return r;
        c = name ? component_find(s, instance_id, logical_path, name) : NULL;
        if (!c || !vss_id_equal(&c->writer_id, writer_id) || c->type != type)
                return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "No such component in this backup");
        c->backup_succeeded = ok;
        return 0;
}

static bool filter_backup_complete(const Session *s, const Entry *e) {
        return session_entry_participates(s, e) && !lvss_state_is_failed(e->state);
}

static void backup_complete_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_apply(s, SESSION_IN_BACKUP_COMPLETE_DONE);
        session_step_finish_fanout(s, f, VSS_S_OK);
}

int session_method_backup_complete(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        int r = session_check(s, SESSION_IN_BACKUP_COMPLETE, NULL, ref);
        if (r < 0)
                return r;
        if (!writer_context(s))
                return session_bad_state(ref, "BackupComplete is not allowed in a context without writers");

        r = session_collect(s, filter_backup_complete);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_BACKUP_COMPLETE, "BackupComplete", NULL);
        r = session_fanout(s, VSS_EVENT_BACKUP_COMPLETE, s->work, s->n_work, backup_complete_done);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, &call);
}

/* Abort goes to the writers that got PrepareForBackup and have not finished
 * PostSnapshot (writer-status.md), whose writer is still there. */
static bool filter_abort(const Session *s, const Entry *e) {
        return e->got_prepare_backup && !e->finished_post_snapshot;
}

static void abort_cleaned(void *data, vss_hresult hr) {
        Session *s = data;

        session_step_finish(s, VSS_S_OK);
}

static void abort_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_log_fanout(s, f);
        session_apply(s, SESSION_IN_ABORT_DONE);
        session_release_set(s); /* another session may start its set at once */
        /* The Abort that undoes a cancelled DoSnapshotSet is answered once the set's clean-up
         * (its copies made read-only or undone, in a worker) is done: a requester that waits
         * for it, or for the Release queued behind it, finds the copies settled. */
        if (snapshot_cleanup_wait(s->set, abort_cleaned, s, VSS_S_OK))
                return;
        abort_cleaned(s, VSS_S_OK);
}

/* Takes *@call (the AbortBackup to answer, or NULL) once the step has begun; gives it back
 * when the step cannot start (negative errno). */
static int session_start_abort(Session *s, Pending **call) {
        int r;

        r = session_collect(s, filter_abort);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_ABORT, "AbortBackup", call);
        s->step_signal = false;
        r = session_fanout(s, VSS_EVENT_ABORT, s->work, s->n_work, abort_done);
        if (r < 0 && call)
                *call = TAKE_PTR(s->step_call); /* not started: the caller answers it */
        return r;
}

int session_method_abort_backup(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        int r = session_check(s, SESSION_IN_ABORT_BACKUP, NULL, ref);
        if (r < 0)
                return r;
        log_session(s, "AbortBackup requested");
        if (s->state == SESSION_STATE_BACKUP && !s->set_started) {
                /* Nothing under way: VSS ignores the call. */
                session_apply(s, SESSION_IN_ABORT_DONE);
                return pending_answer_empty(&call);
        }
        r = session_start_abort(s, &call);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return 1;
}

static void tell_writers(Session *s, vss_writer_session_state state) {
        for (size_t i = 0; i < s->n_entries; i++) {
                Entry *e = s->entries[i];
                int r = registry_tell_session_state(e->writer, &s->id, state);

                if (r < 0)
                        log_session(s, "cannot tell writer '%s' the session state: %s", e->writer_name, strerror(-r));
        }
}

static void gather_status_identified(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_step_finish(s, session_identify_record(s, f));
}

int session_method_gather_status(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        SessionRule rule = {};
        int r;

        r = session_check(s, SESSION_IN_GATHER_STATUS, &rule, ref);
        if (r < 0)
                return r;

        /* WS-12: a restore without GatherWriterMetadata lists the writers running now:
         * those that answer Identify. */
        if (s->kind == SESSION_RESTORE && !s->metadata_gathered && !session_busy(s)) {
                session_step_begin(s, STEP_GATHER_STATUS, "GatherWriterStatus", &call);
                r = session_identify(s, gather_status_identified);
                if (r < 0) {
                        session_step_abandon(s);
                        return r;
                }
                return 1;
        }

        /* WS-3: the gather after a successful BackupComplete completes the session. */
        if (rule.action == SESSION_ACT_COMPLETE) {
                s->state = rule.next;
                log_session(s, "completed (status gathered after BackupComplete)");
                session_end_catalog(s, "completed", "status gathered after BackupComplete");
                tell_writers(s, VSS_SESSION_COMPLETED);
                for (size_t i = 0; i < s->n_entries; i++)
                        if (s->entries[i]->writer)
                                writer_note_status(s->entries[i]->writer, s->entries[i]);
        }
        return pending_answer(&call, &(Answer) { .kind = ANSWER_STATUS, .session = s });
}


/* ---- release, cancel, and the requester going away ----------------------- */

/*
 * The session ends: the table says how (issue 11 §2), from the state it was in
 * before BackupShutdown went out. A session completed by the gather after
 * BackupComplete (WS-3) told its writers and the catalog then; any other end
 * is told now, as what happened: completed, aborted, released without the
 * final gather, or ended without BackupComplete (never "ended" read as
 * completed).
 */
static void session_finalize(Session *s) {
        SessionState from = s->state == SESSION_STATE_RELEASING ? s->released_from : s->state;
        SessionInput in = s->external ? SESSION_IN_ENDED_EXTERNAL
                          : !s->client ? SESSION_IN_ENDED_REQUESTER_GONE
                                       : SESSION_IN_ENDED;
        bool restore = s->kind == SESSION_RESTORE;
        const char *reason;
        SessionRule rule = {};

        snapshot_delete_auto_release(s->set);
        session_release_set(s);

        if (!session_state_rule(from, false, in, &rule)) {
                log_session(s, "internal error: cannot end from state '%s': %s", strempty(session_state_name(from)),
                            rule.why);
                rule.next = SESSION_STATE_ENDED_ABORTED;
        }
        s->state = rule.next;

        if (s->external)
                /* issue 10 part 2: complete once BackupComplete went to the writers after thaw */
                reason = s->external_why ? s->external_why
                         : s->end_reason ? s->end_reason
                         : s->state == SESSION_STATE_ENDED_COMPLETED ? "thawed by the external caller"
                                                                    : "the external freeze failed or was aborted";
        else if (s->end_reason)
                reason = s->end_reason;
        else if (s->state == SESSION_STATE_ENDED_RELEASED)
                reason = "released by the requester after BackupComplete, without the final GatherWriterStatus";
        else if (s->state == SESSION_STATE_ENDED_INCOMPLETE)
                reason = restore ? "released by the requester before PostRestore"
                                 : "released by the requester before BackupComplete";
        else
                reason = "released by the requester";

        if (s->external || from != SESSION_STATE_COMPLETED) {
                tell_writers(s, session_state_writer_outcome(s->state));
                session_end_catalog(s, session_state_catalog_text(s->state), reason);
        }
        log_session(s, "ended (%s%s%s)", session_state_admin_text(s->state, restore, false),
                    s->external_why || s->end_reason ? ": " : "",
                    s->external ? strempty(s->external_why) : strempty(s->end_reason));
}

static bool filter_all(const Session *s, const Entry *e) {
        return true;
}

static void release_cleaned(void *data, vss_hresult hr) {
        Session *s = data;

        session_finalize(s);
        session_step_finish(s, VSS_S_OK);
}

static void release_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_log_fanout(s, f);
        /* Issue 11 §1: the auto-release copies are deleted in a worker, after the clean-ups of
         * the set still running; Release is answered, and the session ends, once they are done. */
        (void) snapshot_delete_auto_release(s->set);
        if (snapshot_cleanup_wait(s->set, release_cleaned, s, VSS_S_OK))
                return;
        release_cleaned(s, VSS_S_OK);
}

/* Takes *@call (the Release to answer, or NULL) once the step has begun; gives it back when
 * the step cannot start (negative errno). */
static int session_start_release(Session *s, Pending **call) {
        int r;

        r = session_collect(s, filter_all);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_RELEASE, "Release", call);
        s->step_signal = false;
        session_apply(s, SESSION_IN_SHUTDOWN);
        r = session_fanout(s, VSS_EVENT_BACKUP_SHUTDOWN, s->work, s->n_work, release_done);
        if (r < 0 && call)
                *call = TAKE_PTR(s->step_call); /* not started: the caller answers it */
        return r;
}

/* Stop whatever step runs, without answering it, leaving the writers in a
 * state an Abort can undo. */
static void session_interrupt(Session *s) {
        if (s->step == STEP_NONE)
                return;
        s->fanout = fanout_cancel(s->fanout);
        if (s->step == STEP_DO_SNAPSHOT_SET) {
                snapshot_step_cancel(s->set); /* issue 11 §1: a provider step off the loop */
                snapshot_set_kill_commit(s->set);
                /* The step's answer waits for nothing any more; the clean-ups already running go on. */
                snapshot_cleanup_forget_waiter(s->set);
                /* Copies left writable for PostSnapshot become read-only (issue 9 part 2);
                 * those that cannot are undone with the rest: no writable copy is kept.
                 * Issue 11 §1: in a worker; a commit child still alive undoes the set once it
                 * is reaped (snapshot.c, commit_orphan()). */
                snapshot_set_interrupt_cleanup(s->set);
        }
        s->step = STEP_NONE;
}

static void detached_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        for (size_t i = 0; i < s->n_detached; i++)
                if (s->detached[i] == f) {
                        s->detached[i] = s->detached[--s->n_detached];
                        break;
                }
        fanout_free(f);
}

/*
 * Cancel: the step ends now (StepFinished with VSS_S_ASYNC_CANCELLED), but
 * writers still busy with its event are not forgotten: their fan-out goes on
 * detached, so the status keeps showing the event in progress and records
 * the answer when it comes (or the deadline passes) (WS-8). A cancelled
 * DoSnapshotSet is undone: Abort to the writers that prepared.
 */
int session_method_cancel(Session *s, Refusal *ref) {
        StepKind step = s->step;
        int r;

        if (step == STEP_NONE)
                return 0;
        if (step == STEP_RELEASE || step == STEP_ABORT)
                return session_bad_state(ref, "This step cannot be cancelled");

        log_session(s, "%s cancelled by the requester", s->step_name);
        if (step == STEP_DO_SNAPSHOT_SET)
                session_interrupt(s);
        else if (s->fanout) {
                Fanout **a = reallocarray(s->detached, s->n_detached + 1, sizeof *a);
                if (!a)
                        return -ENOMEM;
                s->detached = a;
                s->fanout->done = detached_done;
                s->detached[s->n_detached++] = TAKE_PTR(s->fanout);
        }
        emit_step_finished(s, s->step_name, VSS_S_ASYNC_CANCELLED);
        s->step = STEP_NONE;
        s->step_signal = false;

        if (step == STEP_DO_SNAPSHOT_SET) {
                r = session_start_abort(s, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int session_method_release(Session *s, Pending *pending, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        SessionRule rule = {};
        int r;

        if (!session_released(s) && s->step == STEP_ABORT && !s->step_call && !s->queued_release) {
                /* The Abort that undoes a cancelled set: Release follows it. */
                s->queued_release = TAKE_PTR(call);
                return 1;
        }
        r = session_check(s, SESSION_IN_RELEASE, &rule, ref);
        if (r < 0)
                return r;
        if (rule.action == SESSION_ACT_IGNORE)
                return pending_answer_empty(&call);
        r = session_start_release(s, &call);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return 1;
}

/* The requester is gone: the next teardown step, until the session is freed. */
static void session_teardown_continue(Session *s) {
        int r;

        if (s->step != STEP_NONE)
                return; /* a step is still running; we come back when it ends */

        if (!session_released(s) && !s->after_abort_shutdown && session_needs_abort(s)) {
                s->after_abort_shutdown = true;
                r = session_start_abort(s, NULL);
                if (r >= 0)
                        return;
                log_session(s, "cannot send Abort: %s", strerror(-r));
        }
        if (!session_released(s)) {
                r = session_start_release(s, NULL);
                if (r >= 0)
                        return;
                log_session(s, "cannot send BackupShutdown: %s", strerror(-r));
                session_finalize(s);
        }
        if (!session_ended(s))
                session_finalize(s);
        session_free(s);
}

void session_requester_gone(Session *s, const char *reason) {
        s->client = NULL;
        if (!session_ended(s)) {
                free(s->end_reason);
                s->end_reason = strdup(reason);
                if (!s->end_reason)
                        log_session(s, "out of memory: the session's record says why it ended in general terms");
                log_session(s, "requester gone: %s", reason);
        }
        if (session_ended(s)) {
                session_free(s);
                return;
        }
        if (s->step == STEP_RELEASE || s->step == STEP_ABORT)
                return; /* finishes by itself, then session_step_finish continues the teardown */
        if (s->step != STEP_NONE) {
                s->step_call = pending_drop(s->step_call);
                /* A DoSnapshotSet that was interrupted still needs its Abort: the state is still
                 * the one before it (the table moves only when the set is done), session_needs_abort. */
                session_interrupt(s);
        }
        session_teardown_continue(s);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Requester sessions.
 *
 * One session per requester connection (one vss_backup_components object).
 * The session owns the writer status of its writers: one Entry per writer
 * whose Identify succeeded in this session (WS-1), each starting at
 * VSS_WS_STABLE with no failure whatever happened before (WS-8), each moving
 * through the state table of common/state.c as events end (WS-4), each
 * carrying its provenance: session id, last event, when, in progress, how
 * long (WS-9).
 *
 * Steps that talk to writers are "deferred" calls: the D-Bus call is kept in
 * step_call and answered when the step's fan-outs end. One step runs at a
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

#include "common/bounded.h"
#include "common/state.h"
#include "common/strv.h"
#include "common/bcd.h"
#include "common/wmd.h"
#include <lvss/writer.h>
#include "coordinator.h"
#include "protocol/protocol.h"

int session_bad_state(sd_bus_error *error, const char *why) {
        return lvss_bus_error_set_hresult(error, VSS_E_BAD_STATE, "%s", why);
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
static int session_reply_record_status(Session *s, sd_bus_message *call) {
        _cleanup_(freep) char *note = NULL;

        note = session_history_note(s);
        if (s->history_lost > 0 && !note)
                return -ENOMEM;
        return sd_bus_reply_method_return(call, "bus", s->history_lost == 0,
                                          (uint32_t) (s->history_lost < UINT32_MAX ? s->history_lost : UINT32_MAX), strempty(note));
}

static void record_status_known(int r, void *data, void *userdata) {
        Session *s = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(s->record_call);

        r = session_reply_record_status(s, call);
        if (r < 0)
                (void) sd_bus_reply_method_errno(call, r, NULL);
        /* answered outside the connection's own dispatch: flush it (server.c) */
        server_bus_changed(s->m, sd_bus_message_get_bus(call));
}

int session_method_get_record_status(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r;

        if (s->record_call)
                return session_bad_state(error, "GetRecordStatus is already being answered");
        manager_flush_history(s->m);
        if (!s->m->catalog_queue)
                return session_reply_record_status(s, call);
        /* issue 11 §1: answered once the rows queued so far are written (or not) */
        r = lvss_catalog_queue_barrier(s->m->catalog_queue, record_status_known, s);
        if (r < 0)
                return r;
        s->record_call = sd_bus_message_ref(call);
        return 1;
}

static void session_end_catalog(Session *s, const char *state, const char *reason) {
        _cleanup_(freep) char *note = session_history_note(s), *full = NULL;

        if (!s->m->catalog_queue)
                return;
        /* issue 8 item 6: the session's own row says its history is incomplete */
        if (note && asprintf(&full, "%s; %s", strempty(reason), note) < 0)
                full = NULL;
        /* history only: nothing waits for it (issue 11 §1) */
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
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(s->open_call);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Client *c = s->client;

        if (r >= 0) {
                if (call) {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                        r = sd_bus_message_new_method_return(call, &reply);
                        if (r >= 0)
                                r = lvss_bus_append_id(reply, &s->id);
                        if (r >= 0)
                                r = sd_bus_send(NULL, reply, NULL);
                        if (r < 0)
                                log_session(s, "cannot answer OpenSession: %s", strerror(-r));
                        server_bus_changed(s->m, sd_bus_message_get_bus(call));
                }
                return;
        }
        log_session(s, "uid %u pid %d: cannot record it in the catalog: %s", (unsigned) s->uid, (int) s->pid,
                    strerror(-r));
        if (!call)
                return; /* an external freeze: its set's rows fail and say so */
        if (r == -ENOSPC)
                (void) lvss_bus_error_set_hresult(&error, VSS_E_INSUFFICIENT_STORAGE,
                                                  "Cannot record the session in the catalog (%s): %s (database or disk "
                                                  "is full)", s->m->cfg.state_dir, strerror(-r));
        else
                (void) lvss_bus_error_set_hresult(&error, r == -ENOMEM ? VSS_E_OUTOFMEMORY : VSS_E_UNEXPECTED,
                                                  "Cannot record the session in the catalog (%s): %s",
                                                  s->m->cfg.state_dir, strerror(-r));
        (void) sd_bus_reply_method_error(call, &error);
        server_bus_changed(s->m, sd_bus_message_get_bus(call));
        if (c && c->session == s) {
                c->session = NULL;
                c->role = ROLE_NONE;
        }
        s->client = NULL;
        session_free(s);
}

int session_new(Manager *m, Client *c, sd_bus_message *call, Session **ret, sd_bus_error *error) {
        unsigned open = c->uid != 0 ? sessions_of_uid(m, c->uid) : 0;
        Session *s;

        /* issue 8 item 5: one uid cannot hold every slot lvssd has (root is exempt: it
         * can stop lvssd anyway, and a host's own backup jobs must not be refused). */
        if (c->uid != 0 && open >= m->cfg.max_sessions_per_user) {
                log_msg("uid %u pid %d refused a session: it has %u open (MaxSessionsPerUser=%u)", (unsigned) c->uid,
                        (int) c->pid, open, m->cfg.max_sessions_per_user);
                return lvss_bus_error_set_hresult(error, VSS_E_ACCESSDENIED,
                                                  "uid %u already has %u sessions open, the most lvssd allows one "
                                                  "user (MaxSessionsPerUser=%u)",
                                                  (unsigned) c->uid, open, m->cfg.max_sessions_per_user);
        }

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->m = m;
        s->client = c;
        s->id = lvss_id_random();
        s->uid = c->uid;
        s->pid = c->pid;
        s->kind = SESSION_NEW;
        s->context = VSS_CTX_BACKUP;
        s->commit_pipe = -1;

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
                s->open_call = sd_bus_message_ref(call);
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
        snapshot_set_kill_commit(s);
        s->fanout = fanout_cancel(s->fanout);
        for (size_t i = 0; i < s->n_detached; i++)
                fanout_cancel(s->detached[i]);
        free(s->detached);
        s->idle_timer = sd_event_source_disable_unref(s->idle_timer);
        if (m->set_owner == s)
                m->set_owner = NULL;
        s->step_call = sd_bus_message_unref(s->step_call);
        s->queued_release = sd_bus_message_unref(s->queued_release);
        /* issue 11 §1: its catalog jobs still run; their completions no longer do */
        lvss_catalog_queue_forget(m->catalog_queue, s);
        s->open_call = sd_bus_message_unref(s->open_call);
        s->record_call = sd_bus_message_unref(s->record_call);

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
        for (size_t i = 0; i < s->n_snapshots; i++)
                snapshot_free(s->snapshots[i]);
        free(s->snapshots);
        free(s->work);
        free(s->end_reason);
        free(s->step_detail);
        /* issue 10 part 2 */
        s->external_timer = sd_event_source_disable_unref(s->external_timer);
        s->external_call = sd_bus_message_unref(s->external_call);
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

bool session_busy(const Session *s) {
        return s->step != STEP_NONE;
}

/* ---- the status table ---------------------------------------------------- */

void entry_begin(Entry *e, vss_writer_event event, uint64_t sent_usec, const Target *t) {
        e->current = t;
        e->last_event = event;
        e->in_progress = true;
        e->last_event_usec = sent_usec;
        e->duration_usec = 0;
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

void entry_apply(Entry *e, vss_writer_event event, const Target *t) {
        Session *s = e->session;

        e->in_progress = false;
        e->duration_usec = t->duration_usec;
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
                e->frozen = false;
                break;
        case VSS_EVENT_POST_SNAPSHOT:
                e->finished_post_snapshot = true;
                break;
        default:
                break;
        }

        if (!t->ok)
                log_session(s, "%s: writer '%s' failed: %s (%s)%s%s", vss_writer_event_name(event), e->writer_name,
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
                };
                manager_queue_history(s->m, &cs);
        }
}

int append_status(sd_bus_message *m, const Entry *e) {
        int r;

        r = sd_bus_message_open_container(m, 'r', LVSS_STATUS_STRUCT);
        if (r < 0)
                return r;
        r = lvss_bus_append_id(m, &e->instance_id);
        if (r >= 0)
                r = lvss_bus_append_id(m, &e->writer_id);
        if (r >= 0)
                r = sd_bus_message_append(m, "ssuiis", e->writer_name, e->instance_name, (uint32_t) e->state,
                                          e->failure, e->application_result, strempty(e->application_message));
        if (r >= 0)
                r = lvss_bus_append_id(m, &e->session->id);
        if (r >= 0)
                r = sd_bus_message_append(m, "ubtt", (uint32_t) e->last_event, e->in_progress, e->last_event_usec,
                                          e->duration_usec);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
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

static int append_sv_string(sd_bus_message *m, const char *key, const char *value) {
        return sd_bus_message_append(m, "{sv}", key, "s", strempty(value));
}

int entry_append_components(Entry *e, sd_bus_message *m) {
        Session *s = e->session;
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", "components");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', "aa{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_components; i++) {
                Component *c = &s->components[i];
                bool selected = s->kind == SESSION_RESTORE ? c->selected_for_restore : true;
                if (!component_belongs(s, c, e))
                        continue;
                r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "{sv}", "type", "u", (uint32_t) c->type);
                if (r >= 0)
                        r = append_sv_string(m, "logical_path", c->logical_path);
                if (r >= 0)
                        r = append_sv_string(m, "name", c->name);
                if (r >= 0)
                        r = sd_bus_message_append(m, "{sv}", "selected", "b", selected);
                if (r >= 0)
                        r = sd_bus_message_append(m, "{sv}", "backup_succeeded", "b", c->backup_succeeded);
                if (r >= 0 && c->backup_metadata)
                        r = append_sv_string(m, "backup_metadata", c->backup_metadata);
                if (r >= 0 && c->backup_stamp)
                        r = append_sv_string(m, "backup_stamp", c->backup_stamp);
                if (r >= 0 && c->previous_backup_stamp)
                        r = append_sv_string(m, "previous_backup_stamp", c->previous_backup_stamp);
                if (r >= 0 && c->restore_metadata)
                        r = append_sv_string(m, "restore_metadata", c->restore_metadata);
                if (r >= 0 && s->kind == SESSION_RESTORE)
                        r = sd_bus_message_append(m, "{sv}", "file_restore_status", "u",
                                                  (uint32_t) c->file_restore_status);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int entry_read_out_components(Entry *e, sd_bus_message *m) {
        Session *s = e->session;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "aa{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) > 0) {
                const char *lp = NULL, *name = NULL, *meta = NULL, *stamp = NULL, *rmeta = NULL, *pre = NULL,
                           *post = NULL;

                while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                        const char *key, **dst = NULL;

                        r = sd_bus_message_read(m, "s", &key);
                        if (r < 0)
                                return r;
                        if (streq_ptr(key, "logical_path"))
                                dst = &lp;
                        else if (streq_ptr(key, "name"))
                                dst = &name;
                        else if (streq_ptr(key, "backup_metadata"))
                                dst = &meta;
                        else if (streq_ptr(key, "backup_stamp"))
                                dst = &stamp;
                        else if (streq_ptr(key, "restore_metadata"))
                                dst = &rmeta;
                        else if (streq_ptr(key, "pre_restore_failure_msg"))
                                dst = &pre;
                        else if (streq_ptr(key, "post_restore_failure_msg"))
                                dst = &post;
                        if (dst) {
                                r = sd_bus_message_read(m, "v", "s", dst);
                                if (r < 0)
                                        return r;
                        } else {
                                r = sd_bus_message_skip(m, "v");
                                if (r < 0)
                                        return r;
                        }
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;

                Component *c = NULL;
                for (size_t i = 0; name && i < s->n_components && !c; i++)
                        if (component_belongs(s, &s->components[i], e) &&
                            streq_ptr(s->components[i].logical_path, strempty(lp)) &&
                            streq_ptr(s->components[i].name, name))
                                c = &s->components[i];
                if (c) {
                        /* What the writer may change: its own strings in the document. */
                        struct {
                                char **dst;
                                const char *v;
                        } set[] = {
                                { &c->backup_metadata, meta },
                                { &c->backup_stamp, stamp },
                                { &c->restore_metadata, rmeta },
                                { &c->pre_restore_failure_msg, pre },
                                { &c->post_restore_failure_msg, post },
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
                                                    "carry was ignored: %s", e->writer_name, name, strerror(-k));
                        }
                }
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* ---- fan-out with the session's context ---------------------------------- */

static int session_context(Fanout *f, Target *t, sd_bus_message *m, void *userdata) {
        Session *s = userdata;
        int r;

        r = sd_bus_message_append(m, "{sv}", "backup_type", "u", (uint32_t) s->backup_type);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "select_components", "b", s->select_components);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "bootable_system_state", "b", s->bootable_system_state);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "partial_file_support", "b", s->partial_file_support);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "context", "i", s->context);
        if (r >= 0 && s->kind == SESSION_RESTORE)
                r = sd_bus_message_append(m, "{sv}", "restore_type", "u", (uint32_t) s->restore_type);
        if (r < 0)
                return r;
        if (s->set_started) {
                r = context_append_set(s, m, f->event == VSS_EVENT_POST_SNAPSHOT ||
                                                     f->event == VSS_EVENT_BACKUP_COMPLETE);
                if (r < 0)
                        return r;
        }
        if (t->entry && f->event != VSS_EVENT_IDENTIFY) {
                r = entry_append_components(t->entry, m);
                if (r < 0)
                        return r;
        }
        return 0;
}

int session_fanout(Session *s, vss_writer_event event, Entry **entries, size_t n, fanout_done_t done) {
        log_session(s, "%s: sent to %zu writer%s", vss_writer_event_name(event), n, n == 1 ? "" : "s");
        return fanout_start(s->m, event, &s->id, NULL, entries, n, session_context, done, s, &s->fanout);
}

void session_log_fanout(Session *s, Fanout *f) {
        size_t ok = 0;
        for (size_t i = 0; i < f->n_targets; i++)
                ok += f->targets[i].ok;
        log_session(s, "%s: %zu of %zu writer%s ok", vss_writer_event_name(f->event), ok, f->n_targets,
                    f->n_targets == 1 ? "" : "s");
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
static int session_start_release(Session *s, sd_bus_message *call);
static void session_finalize(Session *s);
static void session_arm_idle(Session *s);

/*
 * A step either ends with the StepFinished signal (the requester's
 * asynchronous steps: the call that starts one answers at once, so an
 * out-of-order call fails right there, WS-11) or answers its deferred call
 * (AbortBackup and Release, which the requester waits for).
 */
void session_step_begin(Session *s, StepKind step, const char *name, sd_bus_message *deferred_call) {
        s->step_detail = mfree(s->step_detail);
        s->step = step;
        s->step_name = name;
        s->step_hr = VSS_S_OK;
        s->step_signal = !deferred_call;
        s->step_call = deferred_call ? sd_bus_message_ref(deferred_call) : NULL;
}

void session_step_abandon(Session *s) {
        s->step = STEP_NONE;
        s->step_signal = false;
        s->step_call = sd_bus_message_unref(s->step_call);
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
        r = sd_bus_emit_signal(s->client->bus, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "StepFinished", "sis", name, hr,
                               note ? note : VSS_FAILED(hr) ? vss_hresult_text(hr) : "");
        if (r < 0)
                log_session(s, "cannot signal the end of %s: %s", name, strerror(-r));
}

void session_step_finish(Session *s, vss_hresult hr) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(s->step_call);
        bool signal = s->step_signal;
        StepKind step = s->step;

        s->step = STEP_NONE;
        s->step_signal = false;
        s->fanout = fanout_free(s->fanout);

        if (signal)
                emit_step_finished(s, s->step_name, hr);
        else if (call && s->client && !s->client->disconnected) {
                if (step == STEP_GATHER_STATUS && VSS_SUCCEEDED(hr))
                        (void) session_reply_status(s, call);
                else if (VSS_FAILED(hr)) {
                        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                        lvss_bus_error_set_hresult(&e, hr, "%s", vss_hresult_text(hr));
                        (void) sd_bus_reply_method_error(call, &e);
                } else
                        (void) sd_bus_reply_method_return(call, NULL);
        }

        if (!s->client && s->external) {
                /* issue 10 part 2: lvssd drives its own session's next step */
                external_step_finished(s, step, hr);
                return;
        }
        if (!s->client) {
                s->queued_release = sd_bus_message_unref(s->queued_release);
                session_teardown_continue(s);
                return;
        }
        if (s->idle_expired && step == STEP_ABORT && !s->released && !s->ended) {
                /* issue 8 item 5: the idle holder's Abort is done; end the session */
                s->queued_release = sd_bus_message_unref(s->queued_release);
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
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *release = TAKE_PTR(s->queued_release);
                int r = session_start_release(s, release);
                if (r < 0) {
                        session_step_abandon(s);
                        (void) sd_bus_reply_method_errnof(release, r, "Cannot release the session: %m");
                }
        }
        /* a step ends from a writer's reply or a timer, not from the requester's own dispatch */
        if (s->client)
                server_bus_changed(s->m, s->client->bus);
}

/* An asynchronous step started: answer its call now. */
int session_step_started(Session *s, sd_bus_message *call) {
        if (!call)
                return 0; /* lvssd's own step (an external session): nobody to answer */
        return sd_bus_reply_method_return(call, NULL);
}

/* ---- Session1 methods ---------------------------------------------------- */

int session_check_idle(Session *s, sd_bus_error *error) {
        if ((s->released || s->ended) && s->idle_expired && s->end_reason)
                return lvss_bus_error_set_hresult(error, VSS_E_BAD_STATE, "The session has ended: %s", s->end_reason);
        if (s->released || s->ended)
                return session_bad_state(error, "The session has ended");
        if (session_busy(s))
                return session_bad_state(error, "Another step of this session is still running");
        return 0;
}

static bool writer_context(const Session *s) {
        return !(s->context & VSS_VOLSNAP_ATTR_NO_WRITERS);
}

int session_method_initialize(Session *s, SessionKind kind, const char *bcd, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_NEW)
                return session_bad_state(error, "The session is already initialized");
        if (kind == SESSION_BACKUP && bcd && *bcd)
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG,
                                                  "Importing a Backup Components Document is not supported");
        if (kind == SESSION_RESTORE) {
                r = session_load_bcd(s, bcd, error);
                if (r < 0)
                        return r;
                s->kind = kind;
                log_session(s, "initialized for restore (%zu component%s in the document)", s->n_components,
                            s->n_components == 1 ? "" : "s");
                return 0;
        }
        s->kind = kind;
        log_session(s, "initialized for backup");
        return 0;
}

int session_method_set_context(Session *s, int32_t context, sd_bus_error *error) {
        static const int32_t valid[] = {
                VSS_CTX_BACKUP,          VSS_CTX_FILE_SHARE_BACKUP, VSS_CTX_NAS_ROLLBACK,
                VSS_CTX_APP_ROLLBACK,    VSS_CTX_CLIENT_ACCESSIBLE, VSS_CTX_CLIENT_ACCESSIBLE_WRITERS,
        };
        bool ok = false;
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_BACKUP)
                return session_bad_state(error, "SetContext needs InitializeForBackup first");
        if (s->n_snapshots > 0 || s->prepared_for_backup)
                return session_bad_state(error, "SetContext must come before volumes are added");
        /* Any of them, with or without VSS_VOLSNAP_ATTR_NO_AUTORECOVERY (issue 9 part 2). */
        for (size_t i = 0; i < ELEMENTSOF(valid); i++)
                ok = ok || valid[i] == (context & ~VSS_VOLSNAP_ATTR_NO_AUTORECOVERY);
        if (!ok)
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Unknown context 0x%x", (unsigned) context);
        s->context = context;
        return 0;
}

int session_method_set_backup_state(Session *s, bool select, bool bootable, uint32_t type, bool partial,
                                    sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_BACKUP)
                return session_bad_state(error, "SetBackupState needs InitializeForBackup first");
        if (s->prepared_for_backup)
                return session_bad_state(error, "SetBackupState must come before PrepareForBackup");
        if (type > VSS_BT_OTHER)
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Unknown backup type %u", type);
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
        return fanout_start(s->m, VSS_EVENT_IDENTIFY, &s->id, writers, NULL, n, session_context, then, s,
                            &s->fanout);
}

int session_method_gather_metadata(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind == SESSION_NEW)
                return session_bad_state(error, "GatherWriterMetadata needs InitializeForBackup or InitializeForRestore first");
        if (s->metadata_gathered)
                return session_bad_state(error, "GatherWriterMetadata may be called once per session");

        session_step_begin(s, STEP_GATHER_METADATA, "GatherWriterMetadata", NULL);
        r = session_identify(s, gather_metadata_done);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, call);
}

int session_method_get_writer_metadata(Session *s, sd_bus_message *call, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (!s->metadata_gathered)
                return session_bad_state(error, "GetWriterMetadata needs a completed GatherWriterMetadata");
        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ayaysss)");
        for (size_t i = 0; r >= 0 && i < s->n_entries; i++) {
                Entry *e = s->entries[i];
                r = sd_bus_message_open_container(reply, 'r', "ayaysss");
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &e->instance_id);
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &e->writer_id);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "sss", e->writer_name, e->instance_name, e->metadata);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static Entry *entry_by_instance(Session *s, const vss_id *instance_id) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (vss_id_equal(&s->entries[i]->instance_id, instance_id))
                        return s->entries[i];
        return NULL;
}

int session_method_add_component(Session *s, const vss_id *instance_id, const vss_id *writer_id, uint32_t type,
                                 const char *logical_path, const char *name, sd_bus_error *error) {
        Component *c;
        Entry *e;
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_BACKUP || !s->metadata_gathered)
                return session_bad_state(error, "AddComponent needs a completed GatherWriterMetadata");
        if (s->prepared_for_backup)
                return session_bad_state(error, "AddComponent must come before PrepareForBackup");
        if (!writer_context(s))
                return session_bad_state(error, "AddComponent is not allowed in a context without writers");
        if (!name || !*name || type > VSS_CT_FILEGROUP || type == VSS_CT_UNDEFINED)
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Invalid component");
        e = entry_by_instance(s, instance_id);
        if (!e || !vss_id_equal(&e->writer_id, writer_id))
                return lvss_bus_error_set_hresult(error, VSS_E_OBJECT_NOT_FOUND,
                                                  "No writer with that instance in this session");
        if (component_find(s, instance_id, logical_path, name))
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Component already added");

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

        if (m->set_owner != s || s->ended || s->released || !s->client)
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

static int session_start_abort(Session *s, sd_bus_message *call);

static int on_set_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;
        Manager *m = s->m;
        char *reason;
        int r;

        /* a step runs (its end re-arms the timer), or the slot is no longer ours */
        if (m->set_owner != s || session_busy(s) || s->ended || s->released || !s->client)
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
                s->aborted = true;
                m->set_owner = NULL;
                r = session_start_release(s, NULL);
                if (r < 0) {
                        session_step_abandon(s);
                        session_finalize(s);
                }
        }
        return 0;
}

int session_method_start_snapshot_set(Session *s, vss_id *ret, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_BACKUP)
                return session_bad_state(error, "StartSnapshotSet needs InitializeForBackup first");
        if (s->set_started || s->aborted)
                return session_bad_state(error, "This session already has a snapshot set");
        if (s->m->set_owner && s->m->set_owner != s) {
                /* issue 8 item 5: say who holds it, and for how long it may */
                const Session *o = s->m->set_owner;
                char oid[VSS_ID_STRING_MAX];
                vss_id_format(&o->id, oid);
                if (o->external) /* issue 10 part 2 */
                        return lvss_bus_error_set_hresult(
                                error, VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                                "Another snapshot set is being created: the external freeze of session %s (%s), "
                                "held for at most %" PRIu64 " ms",
                                oid, strempty(o->origin), o->external_hold_usec / USEC_PER_MSEC);
                return lvss_bus_error_set_hresult(
                        error, VSS_E_SNAPSHOT_SET_IN_PROGRESS,
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
static int check_provider_registered(Session *s, const vss_id *provider_id, sd_bus_error *error) {
        char id[VSS_ID_STRING_MAX];

        if (!provider_id || vss_id_is_null(provider_id) || manager_provider_by_id(s->m, provider_id))
                return 0;
        vss_id_format(provider_id, id);
        log_session(s, "no provider with id %s is registered", id);
        return lvss_bus_error_set_hresult(error, VSS_E_PROVIDER_NOT_REGISTERED,
                                          "No provider with id %s is registered (vssadmin list providers)", id);
}

int session_method_is_volume_supported(Session *s, const vss_id *provider_id, const char *volume, bool *ret,
                                       sd_bus_error *error) {
        vss_id id;
        int r;

        if (!volume || volume[0] != '/')
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "A volume is an absolute path");
        r = check_provider_registered(s, provider_id, error);
        if (r < 0)
                return r;
        *ret = manager_pick_provider(s->m, provider_id, volume, &id) != NULL;
        return 0;
}

int session_method_add_to_snapshot_set(Session *s, const char *volume, const vss_id *provider_id, vss_id *ret,
                                       sd_bus_error *error) {
        _cleanup_(freep) char *canonical = NULL;
        lvss_provider *p;
        Snapshot *snap, **a;
        vss_id pid;
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (!s->set_started || s->set_done || s->aborted)
                return session_bad_state(error, "AddToSnapshotSet needs StartSnapshotSet first");
        if (!volume || volume[0] != '/')
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "A volume is an absolute path");
        canonical = realpath(volume, NULL);
        if (!canonical) {
                int e = errno;
                /* the requester's string, echoed: bounded (issue 8) */
                _cleanup_(freep) char *shown = lvss_strdup_bounded(volume, LVSS_ECHO_MAX);
                return lvss_bus_error_set_hresult(error, VSS_E_OBJECT_NOT_FOUND, "Volume %s: %s",
                                                  shown ? shown : "(too long to show)", strerror(e));
        }
        for (size_t i = 0; i < s->n_snapshots; i++)
                if (streq_ptr(s->snapshots[i]->p.volume, canonical))
                        return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Volume %s is already in the set",
                                                          canonical);
        r = check_provider_registered(s, provider_id, error);
        if (r < 0)
                return r;
        p = manager_pick_provider(s->m, provider_id, canonical, &pid);
        if (!p)
                return lvss_bus_error_set_hresult(error, VSS_E_PROVIDER_VETO,
                                                  "No provider can make a shadow copy of %s", canonical);

        snap = calloc(1, sizeof *snap);
        if (!snap)
                return -ENOMEM;
        a = reallocarray(s->snapshots, s->n_snapshots + 1, sizeof *a);
        if (!a) {
                free(snap);
                return -ENOMEM;
        }
        s->snapshots = a;
        snap->p.snapshot_id = lvss_id_random();
        snap->p.set_id = s->set_id;
        snap->p.volume = TAKE_PTR(canonical);
        snap->provider = p;
        snap->provider_id = pid;
        s->snapshots[s->n_snapshots++] = snap;
        *ret = snap->p.snapshot_id;
        log_session(s, "volume %s added to the snapshot set (provider %s)", snap->p.volume, p->ops->name);
        return 0;
}

static bool filter_prepare_backup(const Session *s, const Entry *e) {
        return !lvss_state_is_failed(e->state);
}

static void prepare_backup_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_log_fanout(s, f);
        s->prepared_for_backup = true;
        session_step_finish(s, VSS_S_OK);
}

int session_method_prepare_for_backup(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_BACKUP)
                return session_bad_state(error, "PrepareForBackup needs InitializeForBackup first");
        if (!s->backup_state_set)
                return session_bad_state(error, "PrepareForBackup needs SetBackupState first");
        if (!writer_context(s))
                return session_bad_state(error, "PrepareForBackup is not allowed in a context without writers");
        if (!s->metadata_gathered)
                return session_bad_state(error, "PrepareForBackup needs GatherWriterMetadata first");
        if (!s->set_started)
                return session_bad_state(error, "PrepareForBackup needs StartSnapshotSet first");
        if (s->prepared_for_backup || s->aborted)
                return session_bad_state(error, "PrepareForBackup was already called");

        r = session_collect(s, filter_prepare_backup);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_PREPARE_BACKUP, "PrepareForBackup", NULL);
        r = session_fanout(s, VSS_EVENT_PREPARE_BACKUP, s->work, s->n_work, prepare_backup_done);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, call);
}

int session_method_do_snapshot_set(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (!s->set_started || s->aborted)
                return session_bad_state(error, "DoSnapshotSet needs StartSnapshotSet first");
        if (s->set_done)
                return session_bad_state(error, "DoSnapshotSet was already called");
        if (writer_context(s) && !s->prepared_for_backup)
                return session_bad_state(error, "DoSnapshotSet needs PrepareForBackup first");

        session_step_begin(s, STEP_DO_SNAPSHOT_SET, "DoSnapshotSet", NULL);
        /* Answer first: snapshot_set_run() may end the step at once (a provider refusal),
         * and the StepFinished signal must come after this reply. */
        r = session_step_started(s, call);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        (void) snapshot_set_run(s);
        return 1;
}

int session_method_get_snapshot_properties(Session *s, sd_bus_message *call, const vss_id *snapshot_id,
                                           sd_bus_error *error) {
        for (size_t i = 0; i < s->n_snapshots; i++) {
                Snapshot *snap = s->snapshots[i];
                if (!vss_id_equal(&snap->p.snapshot_id, snapshot_id))
                        continue;
                if (!snap->created)
                        break;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                uint32_t attributes = (uint32_t) s->context | (s->auto_recovery ? VSS_VOLSNAP_ATTR_AUTORECOVER : 0);
                int r = sd_bus_message_new_method_return(call, &reply);
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &snap->p.snapshot_id);
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &snap->p.set_id);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "iss", (int32_t) s->n_snapshots, snap->p.snapshot_path,
                                                  snap->p.volume);
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &snap->provider_id);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "tui", snap->created_usec, attributes, s->context);
                if (r < 0)
                        return r;
                return sd_bus_send(NULL, reply, NULL);
        }
        return lvss_bus_error_set_hresult(error, VSS_E_OBJECT_NOT_FOUND, "No such shadow copy in this session");
}

int session_method_set_backup_succeeded(Session *s, const vss_id *instance_id, const vss_id *writer_id,
                                        uint32_t type, const char *logical_path, const char *name, bool ok,
                                        sd_bus_error *error) {
        Component *c;
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (!s->set_done || s->backup_complete_ok)
                return session_bad_state(error, "SetBackupSucceeded belongs between DoSnapshotSet and BackupComplete");
        c = name ? component_find(s, instance_id, logical_path, name) : NULL;
        if (!c || !vss_id_equal(&c->writer_id, writer_id) || c->type != type)
                return lvss_bus_error_set_hresult(error, VSS_E_OBJECT_NOT_FOUND, "No such component in this backup");
        c->backup_succeeded = ok;
        return 0;
}

static bool filter_backup_complete(const Session *s, const Entry *e) {
        return session_entry_participates(s, e) && !lvss_state_is_failed(e->state);
}

static void backup_complete_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_log_fanout(s, f);
        s->backup_complete_ok = true;
        session_step_finish(s, VSS_S_OK);
}

int session_method_backup_complete(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (!writer_context(s))
                return session_bad_state(error, "BackupComplete is not allowed in a context without writers");
        if (!s->set_done || s->aborted)
                return session_bad_state(error, "BackupComplete needs a successful DoSnapshotSet");
        if (s->backup_complete_ok)
                return session_bad_state(error, "BackupComplete was already called");

        r = session_collect(s, filter_backup_complete);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_BACKUP_COMPLETE, "BackupComplete", NULL);
        r = session_fanout(s, VSS_EVENT_BACKUP_COMPLETE, s->work, s->n_work, backup_complete_done);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, call);
}

/* Abort goes to the writers that got PrepareForBackup and have not finished
 * PostSnapshot (writer-status.md), whose writer is still there. */
static bool filter_abort(const Session *s, const Entry *e) {
        return e->got_prepare_backup && !e->finished_post_snapshot;
}

static void abort_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_log_fanout(s, f);
        s->aborted = true;
        if (s->m->set_owner == s)
                s->m->set_owner = NULL;
        session_step_finish(s, VSS_S_OK);
}

static int session_start_abort(Session *s, sd_bus_message *call) {
        int r;

        r = session_collect(s, filter_abort);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_ABORT, "AbortBackup", call);
        s->step_signal = false;
        return session_fanout(s, VSS_EVENT_ABORT, s->work, s->n_work, abort_done);
}

int session_method_abort_backup(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r = session_check_idle(s, error);
        if (r < 0)
                return r;
        if (s->kind != SESSION_BACKUP)
                return session_bad_state(error, "AbortBackup needs InitializeForBackup first");
        log_session(s, "AbortBackup requested");
        if (!s->prepared_for_backup && !s->set_started) {
                /* Nothing under way: VSS ignores the call. */
                s->aborted = true;
                return sd_bus_reply_method_return(call, NULL);
        }
        r = session_start_abort(s, call);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return 1;
}

static void tell_writers(Session *s, vss_writer_session_state state) {
        for (size_t i = 0; i < s->n_entries; i++) {
                Entry *e = s->entries[i];
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                int r;

                if (!e->writer || !e->writer->client || e->writer->client->disconnected)
                        continue;
                r = sd_bus_message_new_method_call(e->writer->client->bus, &m, NULL, LVSS_WRITER_PATH,
                                                   LVSS_WRITER_IFACE, "SessionChanged");
                if (r >= 0)
                        r = sd_bus_message_set_expect_reply(m, false);
                if (r >= 0)
                        r = lvss_bus_append_id(m, &s->id);
                if (r >= 0)
                        r = sd_bus_message_append(m, "u", (uint32_t) state);
                if (r >= 0)
                        r = sd_bus_send(NULL, m, NULL);
                if (r < 0)
                        log_session(s, "cannot tell writer '%s' the session state: %s", e->writer_name, strerror(-r));
                server_bus_changed(s->m, e->writer->client->bus);
        }
}

int session_reply_status(Session *s, sd_bus_message *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(" LVSS_STATUS_STRUCT ")");
        for (size_t i = 0; r >= 0 && i < s->n_entries; i++)
                r = append_status(reply, s->entries[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static void gather_status_identified(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_step_finish(s, session_identify_record(s, f));
}

int session_method_gather_status(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r;

        if (s->released || s->ended)
                return session_bad_state(error, "The session has ended");

        /* WS-12: a restore without GatherWriterMetadata lists the writers running now:
         * those that answer Identify. */
        if (s->kind == SESSION_RESTORE && !s->metadata_gathered && !session_busy(s)) {
                session_step_begin(s, STEP_GATHER_STATUS, "GatherWriterStatus", call);
                r = session_identify(s, gather_status_identified);
                if (r < 0) {
                        session_step_abandon(s);
                        return r;
                }
                return 1;
        }

        /* WS-3: the gather after a successful BackupComplete completes the session. */
        if (s->backup_complete_ok && !s->completed && !session_busy(s)) {
                s->completed = true;
                log_session(s, "completed (status gathered after BackupComplete)");
                session_end_catalog(s, "completed", "status gathered after BackupComplete");
                tell_writers(s, VSS_SESSION_COMPLETED);
                for (size_t i = 0; i < s->n_entries; i++)
                        if (s->entries[i]->writer)
                                writer_note_status(s->entries[i]->writer, s->entries[i]);
        }
        return session_reply_status(s, call);
}


/* ---- release, cancel, and the requester going away ----------------------- */

static void session_finalize(Session *s) {
        const char *state;

        snapshot_delete_auto_release(s);
        if (s->m->set_owner == s)
                s->m->set_owner = NULL;

        /* A restore is complete once PostRestore went out; a backup once its
         * status was gathered after BackupComplete (WS-3), else it merely ended. */
        bool restored = s->kind == SESSION_RESTORE && s->post_restore_done;
        if (s->external) {
                /* issue 10 part 2: complete once BackupComplete went to the writers after thaw */
                state = s->backup_complete_ok ? "completed" : "aborted";
                tell_writers(s, s->backup_complete_ok ? VSS_SESSION_COMPLETED : VSS_SESSION_ABORTED);
                session_end_catalog(s, state, s->external_why     ? s->external_why
                                              : s->end_reason     ? s->end_reason
                                              : s->backup_complete_ok ? "thawed by the external caller"
                                                                     : "the external freeze failed or was aborted");
                s->completed = s->backup_complete_ok;
                s->aborted = !s->completed;
                s->ended = true;
                log_session(s, "ended (%s%s%s)", state, s->external_why ? ": " : "", strempty(s->external_why));
                return;
        }
        if (s->completed || (restored && s->client))
                state = "completed";
        else if (s->aborted || !s->client)
                state = "aborted";
        else
                state = "ended";
        if (!s->completed) {
                tell_writers(s, s->backup_complete_ok || restored ? VSS_SESSION_COMPLETED : VSS_SESSION_ABORTED);
                session_end_catalog(s, state, s->end_reason ? s->end_reason : "released by the requester");
        }
        if (restored && s->client)
                s->completed = true;
        if (!s->client)
                s->aborted = !s->completed;
        s->ended = true;
        log_session(s, "ended (%s%s%s)", state, s->end_reason ? ": " : "", strempty(s->end_reason));
}

static bool filter_all(const Session *s, const Entry *e) {
        return true;
}

static void release_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_log_fanout(s, f);
        session_finalize(s);
        session_step_finish(s, VSS_S_OK);
}

static int session_start_release(Session *s, sd_bus_message *call) {
        int r;

        r = session_collect(s, filter_all);
        if (r < 0)
                return r;
        session_step_begin(s, STEP_RELEASE, "Release", call);
        s->step_signal = false;
        s->released = true;
        return session_fanout(s, VSS_EVENT_BACKUP_SHUTDOWN, s->work, s->n_work, release_done);
}

/* Stop whatever step runs, without answering it, leaving the writers in a
 * state an Abort can undo. */
static void session_interrupt(Session *s) {
        if (s->step == STEP_NONE)
                return;
        s->fanout = fanout_cancel(s->fanout);
        if (s->step == STEP_DO_SNAPSHOT_SET) {
                snapshot_set_kill_commit(s);
                /* Copies left writable for PostSnapshot become read-only (issue 9 part 2);
                 * those that cannot are undone with the rest: no writable copy is kept. */
                bool writable_left = snapshot_set_finalize(s) < 0;
                if (writable_left)
                        log_session(s, "finalize failed: the shadow copies of the set are deleted");
                for (size_t i = 0; i < s->n_snapshots; i++) {
                        Snapshot *snap = s->snapshots[i];
                        if (snap->created && !writable_left)
                                continue;
                        snap->created = false;
                        lvss_snapshot *p = &snap->p, *const arr[1] = { p };
                        (void) snap->provider->ops->abort(snap->provider, arr, 1);
                        if (snap->in_catalog && s->m->catalog_queue &&
                            lvss_catalog_queue_snapshot_remove(s->m->catalog_queue, &p->snapshot_id, NULL, NULL) >= 0)
                                snap->in_catalog = false;
                }
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
int session_method_cancel(Session *s, sd_bus_error *error) {
        StepKind step = s->step;
        int r;

        if (step == STEP_NONE)
                return 0;
        if (step == STEP_RELEASE || step == STEP_ABORT)
                return session_bad_state(error, "This step cannot be cancelled");

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

int session_method_release(Session *s, sd_bus_message *call, sd_bus_error *error) {
        int r;

        if (s->released || s->ended)
                return sd_bus_reply_method_return(call, NULL);
        if (s->step == STEP_ABORT && !s->step_call && !s->queued_release) {
                /* The Abort that undoes a cancelled set: Release follows it. */
                s->queued_release = sd_bus_message_ref(call);
                return 1;
        }
        if (session_busy(s))
                return session_bad_state(error, "A step is still running; cancel or wait for it first");
        r = session_start_release(s, call);
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

        if (!s->ended && !s->released && !s->after_abort_shutdown &&
            (s->prepared_for_backup || s->set_started) && !s->aborted) {
                s->after_abort_shutdown = true;
                r = session_start_abort(s, NULL);
                if (r >= 0)
                        return;
                log_session(s, "cannot send Abort: %s", strerror(-r));
        }
        if (!s->ended && !s->released) {
                r = session_start_release(s, NULL);
                if (r >= 0)
                        return;
                log_session(s, "cannot send BackupShutdown: %s", strerror(-r));
                session_finalize(s);
        }
        if (!s->ended)
                session_finalize(s);
        session_free(s);
}

void session_requester_gone(Session *s, const char *reason) {
        s->client = NULL;
        if (!s->ended) {
                free(s->end_reason);
                s->end_reason = strdup(reason);
                if (!s->end_reason)
                        log_session(s, "out of memory: the session's record says why it ended in general terms");
                log_session(s, "requester gone: %s", reason);
        }
        if (s->ended) {
                session_free(s);
                return;
        }
        if (s->step == STEP_RELEASE || s->step == STEP_ABORT)
                return; /* finishes by itself, then session_step_finish continues the teardown */
        if (s->step != STEP_NONE) {
                s->step_call = sd_bus_message_unref(s->step_call);
                session_interrupt(s);
                /* A DoSnapshotSet that was interrupted still needs its Abort. */
                s->aborted = false;
        }
        session_teardown_continue(s);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The writer registry and the admin view.
 *
 * A writer is one subscribed connection. Sessions keep their own status
 * entries (copies of the identity plus a weak pointer back), so a writer can
 * vanish at any time: its entries then fail their next event as not
 * responding (WS-5). Each writer also remembers the status it last had in
 * any session, with that session's id and state, for `vssadmin list writers`
 * (WS-9): the admin view never mistakes an old status for a current one.
 */

#include <stdlib.h>

#include "coordinator.h"
#include "protocol/protocol.h"

const char *session_state_text(const Session *s) {
        if (!s)
                return "none";
        if (s->completed)
                return "completed";
        if (s->aborted)
                return "aborted";
        if (s->ended || s->released)
                return "ended";
        return "in progress";
}

int registry_subscribe(Manager *m, Client *c, const vss_id *writer_id, const char *name, const char *instance_name,
                       uint32_t usage, uint32_t source, int32_t level, uint32_t freeze_timeout_ms,
                       vss_hresult *ret_hr, Writer **ret) {
        Writer *w;

        if (c->writer || c->role == ROLE_WRITER) {
                *ret_hr = VSS_E_WRITER_ALREADY_SUBSCRIBED;
                return -EEXIST;
        }
        if (c->role != ROLE_NONE) {
                *ret_hr = VSS_E_BAD_STATE;
                return -EBUSY;
        }
        if (vss_id_is_null(writer_id) || !name || !*name || strlen(name) > 1024 ||
            (instance_name && strlen(instance_name) > 1024) || usage > VSS_UT_OTHER || source > VSS_ST_OTHER) {
                *ret_hr = VSS_E_INVALIDARG;
                return -EINVAL;
        }
        for (Writer *o = m->writers; o; o = o->next)
                if (o->subscribed && vss_id_equal(&o->writer_id, writer_id) &&
                    streq_ptr(strnull_if_empty(o->instance_name), strnull_if_empty(instance_name))) {
                        *ret_hr = VSS_E_WRITER_ALREADY_SUBSCRIBED;
                        return -EEXIST;
                }

        w = calloc(1, sizeof *w);
        if (!w) {
                *ret_hr = VSS_E_OUTOFMEMORY;
                return -ENOMEM;
        }
        w->m = m;
        w->client = c;
        w->writer_id = *writer_id;
        w->instance_id = lvss_id_random();
        w->name = strdup(name);
        w->instance_name = strdup(strempty(instance_name));
        if (!w->name || !w->instance_name) {
                writer_free(w);
                *ret_hr = VSS_E_OUTOFMEMORY;
                return -ENOMEM;
        }
        w->usage = usage;
        w->source = source;
        w->level = level;
        w->freeze_timeout_ms = freeze_timeout_ms ? freeze_timeout_ms : 60000;
        w->subscribed = true;

        w->next = m->writers;
        if (m->writers)
                m->writers->prev = w;
        m->writers = w;
        m->n_writers++;

        c->role = ROLE_WRITER;
        c->writer = w;

        char id[VSS_ID_STRING_MAX];
        vss_id_format(&w->instance_id, id);
        log_msg("writer '%s'%s%s subscribed as instance %s (uid %u, pid %d, freeze timeout %u ms)", w->name,
                *w->instance_name ? " instance " : "", w->instance_name, id, (unsigned) c->uid, (int) c->pid,
                w->freeze_timeout_ms);
        *ret = w;
        return 0;
}

void registry_unsubscribe(Writer *w) {
        Manager *m;

        if (!w || !w->subscribed)
                return;
        m = w->m;
        w->subscribed = false;
        if (w->prev)
                w->prev->next = w->next;
        else
                m->writers = w->next;
        if (w->next)
                w->next->prev = w->prev;
        w->next = w->prev = NULL;
        m->n_writers--;
        log_msg("writer '%s' unsubscribed", w->name);
}

Writer *writer_free(Writer *w) {
        if (!w)
                return NULL;
        registry_unsubscribe(w);
        for (Session *s = w->m->sessions; s; s = s->next)
                session_forget_writer(s, w);
        registry_forget_writer(w->m, w);
        free(w->last.application_message);
        free(w->name);
        free(w->instance_name);
        free(w);
        return NULL;
}

void writer_note_status(Writer *w, const Entry *e) {
        LastStatus *l;

        if (!w || !e)
                return;
        l = &w->last;
        l->valid = true;
        l->state = e->state;
        l->failure = e->failure;
        l->application_result = e->application_result;
        free(l->application_message);
        l->application_message = e->application_message ? strdup(e->application_message) : NULL;
        l->session_id = e->session->id;
        l->last_event = e->last_event;
        l->in_progress = e->in_progress;
        l->last_event_usec = e->last_event_usec;
        l->duration_usec = e->duration_usec;
        l->session = e->session;
        l->session_state = NULL;
}

/* ---- ListWriters --------------------------------------------------------- */

typedef struct AdminList {
        Manager *m;
        sd_bus_message *call;
        Writer **writers;
        size_t n;
        Fanout *fanout;
        struct AdminList *next, *prev;
} AdminList;

void registry_forget_writer(Manager *m, Writer *w) {
        for (AdminList *a = m->admin_lists; a; a = a->next)
                target_forget_writer(a->fanout, w);
}

static void admin_list_free(AdminList *a) {
        if (a->prev)
                a->prev->next = a->next;
        else if (a->m->admin_lists == a)
                a->m->admin_lists = a->next;
        if (a->next)
                a->next->prev = a->prev;
        fanout_free(a->fanout);
        sd_bus_message_unref(a->call);
        free(a->writers);
        free(a);
}

static int append_admin(sd_bus_message *reply, Writer *w, const Target *t) {
        const LastStatus *l = &w->last;
        vss_writer_state state;
        vss_hresult failure, app_result;
        const char *app_message, *state_text;
        vss_id session_id = {};
        vss_writer_event event;
        bool in_progress, active;
        uint64_t when, took;
        int r;

        if (!t->ok) {
                /* Identify failed or timed out now: outside any session (WS-1). */
                bool answered = t->failure != VSS_E_WRITER_NOT_RESPONDING;
                state = answered ? VSS_WS_FAILED_AT_IDENTIFY : VSS_WS_UNKNOWN;
                failure = t->failure;
                app_result = t->application_result;
                app_message = t->application_message;
                event = VSS_EVENT_IDENTIFY;
                in_progress = false;
                when = t->sent_usec;
                took = t->duration_usec;
                active = false;
                state_text = "none";
        } else if (l->valid) {
                state = l->state;
                failure = l->failure;
                app_result = l->application_result;
                app_message = l->application_message;
                session_id = l->session_id;
                event = l->last_event;
                in_progress = l->in_progress;
                when = l->last_event_usec;
                took = l->duration_usec;
                active = l->session && !l->session->ended;
                state_text = l->session ? session_state_text(l->session) : strempty(l->session_state);
        } else {
                /* Never in a session: stable, and nothing more to say. */
                state = VSS_WS_STABLE;
                failure = app_result = 0;
                app_message = NULL;
                event = VSS_EVENT_IDENTIFY;
                in_progress = false;
                when = t->sent_usec;
                took = t->duration_usec;
                active = false;
                state_text = "none";
        }

        r = sd_bus_message_open_container(reply, 'r', LVSS_ADMIN_STATUS_STRUCT);
        if (r < 0)
                return r;
        r = lvss_bus_append_id(reply, &w->instance_id);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &w->writer_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ssuiis", w->name, w->instance_name, (uint32_t) state, failure,
                                          app_result, strempty(app_message));
        if (r >= 0)
                r = lvss_bus_append_id(reply, &session_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ubttbs", (uint32_t) event, in_progress, when, took, active,
                                          state_text);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static void admin_list_done(Fanout *f, void *userdata) {
        AdminList *a = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(a->call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(" LVSS_ADMIN_STATUS_STRUCT ")");
        for (size_t i = 0; r >= 0 && i < f->n_targets; i++) {
                Target *t = &f->targets[i];
                if (!t->writer) /* gone meanwhile */
                        continue;
                r = append_admin(reply, t->writer, t);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0) {
                log_msg("ListWriters: cannot reply: %s", strerror(-r));
                sd_bus_reply_method_errnof(a->call, r, "Cannot build the writer list: %m");
        }
        server_bus_changed(f->m, sd_bus_message_get_bus(a->call));
        admin_list_free(a);
}

int registry_writers(Manager *m, Writer ***ret, size_t *ret_n) {
        Writer **a, *last = NULL;
        size_t n = 0;

        a = calloc(m->n_writers ? m->n_writers : 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        for (Writer *w = m->writers; w; w = w->next)
                last = w;
        for (Writer *w = last; w; w = w->prev)
                a[n++] = w;
        *ret = a;
        *ret_n = n;
        return 0;
}

bool registry_list_pending(Manager *m, sd_bus *bus) {
        for (AdminList *a = m->admin_lists; a; a = a->next)
                if (sd_bus_message_get_bus(a->call) == bus)
                        return true;
        return false;
}

int registry_list_writers(Manager *m, sd_bus_message *call) {
        AdminList *a;
        Fanout *f;
        int r;

        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->m = m;
        r = registry_writers(m, &a->writers, &a->n);
        if (r < 0) {
                free(a);
                return r;
        }
        a->call = sd_bus_message_ref(call);

        a->next = m->admin_lists;
        if (a->next)
                a->next->prev = a;
        m->admin_lists = a;

        r = fanout_start(m, VSS_EVENT_IDENTIFY, NULL, a->writers, NULL, a->n, NULL, admin_list_done, a, &f);
        if (r < 0) {
                admin_list_free(a);
                return r;
        }
        a->fanout = f;
        return 1;
}

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
 *
 * Writer class owners (issue 8 item 4). A writer class (writer id) is bound
 * to one uid: the one WriterOwner= names, else the first uid that subscribed
 * with it (recorded in the catalog, so it outlives lvssd). Another uid is
 * refused with VSS_E_ACCESSDENIED, naming the owner. One exception keeps an
 * unprivileged user from claiming a class first and so locking out the real
 * (root) writer: root, or the user lvssd runs as, may take over a class that
 * is bound by the catalog only. The class is then bound to root, and every
 * writer of that class still subscribed under another uid is dropped (its
 * connection closed). A class WriterOwner= binds is bound exactly, root
 * included: the administrator said whose it is.
 *
 * The catalog's bindings are bounded per uid (issue 8): a user listed in
 * WriterUsers= could otherwise subscribe with endless made-up class ids, a
 * row each. Beyond MaxWriterClassesPerUser= classes bound to it, a uid's
 * SubscribeWriter with a new class is refused (VSS_E_ACCESSDENIED, naming
 * the limit); its known classes keep working. Root and lvssd's own uid are
 * exempt, and classes WriterOwner= binds are not recorded, so they do not
 * count. A binding is never recycled on its own, however old: a class that
 * changed hands silently is what the binding is there to prevent. The
 * administrator raises the limit, or removes rows while lvssd is stopped
 * (lvssd(8), LIMITS).
 */

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lvssd-config.h"
#include "manager.h"
#include "connection.h"
#include "fanout.h"
#include "registry.h"
#include "protocol/protocol.h"

/* ---- writer class owners ---------------------------------------------------- */

static bool uid_privileged(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

/* "uid 1001 (postgres)" into @buf. */
static const char *uid_text(uid_t uid, char *buf, size_t size) {
        struct passwd *pw = getpwuid(uid);

        if (pw && pw->pw_name)
                snprintf(buf, size, "uid %u (%s)", (unsigned) uid, pw->pw_name);
        else
                snprintf(buf, size, "uid %u", (unsigned) uid);
        return buf;
}

static void set_message(char **ret, const char *fmt, ...) _printf_(2, 3);
static void set_message(char **ret, const char *fmt, ...) {
        va_list ap;

        if (!ret)
                return;
        va_start(ap, fmt);
        if (vasprintf(ret, fmt, ap) < 0)
                *ret = NULL;
        va_end(ap);
}

/*
 * Issue 11 §1: the owner row of a class seen for the first time (or taken
 * over by root) is written through the catalog thread, and the writer's
 * SubscribeWriter is answered once it is on disk: the loop does not wait for
 * the fsync. Until then the class belongs to that uid (owner_check() reads
 * the pending rows first), and the writer is not subscribed: ListWriters and
 * the sessions do not see it. A writer whose connection goes first is freed
 * (its row may still be written: the uid asked for the class).
 */
typedef struct OwnerRow {
        vss_id writer_id;
        uid_t uid;
        char *name;
        uint64_t usec;
} OwnerRow;

/* the catalog job's own copy (it may outlive the writer that asked for it) */
static void owner_row_free(void *data) {
        OwnerRow *o = data;

        free(o->name);
        free(o);
}

typedef struct OwnerPending {
        Manager *m;
        Writer *w;
        Pending *call; /* the SubscribeWriter to answer (answer.h) */
        OwnerRow row; /* what is written (row.name: NULL here; the job has its own copy) */
        bool takeover;
        struct OwnerPending *next, *prev;
} OwnerPending;

/* one list per process, as worker.c's: lvssd has one Manager */
static OwnerPending *owners_pending;

static const OwnerPending *owner_pending_of(const vss_id *writer_id) {
        for (const OwnerPending *p = owners_pending; p; p = p->next)
                if (vss_id_equal(&p->row.writer_id, writer_id))
                        return p;
        return NULL;
}

/*
 * May @c subscribe a writer of class @writer_id? 0 (and *ret_record: the
 * catalog must record @c's uid as the owner, *ret_takeover: root takes the
 * class from another uid), or a negative errno with *ret_hr and a message.
 */
static int owner_check(Manager *m, const Client *c, const vss_id *writer_id, const char *name, bool *ret_record,
                       bool *ret_takeover, vss_hresult *ret_hr, char **ret_message) {
        char cls[VSS_ID_STRING_MAX], who[96], owner_text[96];
        bool configured;
        uid_t owner;
        int r;

        *ret_record = *ret_takeover = false;
        vss_id_format(writer_id, cls);
        configured = config_writer_owner(&m->cfg, writer_id, &owner);
        const OwnerPending *p = configured ? NULL : owner_pending_of(writer_id);
        if (p) {
                /* its first owner row is on its way to disk: that uid owns it */
                owner = p->row.uid;
                if (owner == c->uid) {
                        *ret_record = true; /* written again (the same row), and waited for */
                        return 0;
                }
        } else if (!configured) {
                r = lvss_catalog_writer_owner_get(m->catalog, writer_id, &owner, NULL);
                if (r == -ENOENT) {
                        *ret_record = true; /* the first owner */
                        return 0;
                }
                if (r < 0) {
                        log_msg("writer '%s' (class %s): cannot read its owner from the catalog: %s", name, cls,
                                strerror(-r));
                        *ret_hr = VSS_E_WRITER_INFRASTRUCTURE;
                        set_message(ret_message, "lvssd cannot read the owner of writer class %s from its catalog",
                                    cls);
                        return r;
                }
        }
        if (owner == c->uid)
                return 0;
        if (!configured && uid_privileged(c->uid)) {
                *ret_record = *ret_takeover = true;
                return 0;
        }

        uid_text(c->uid, who, sizeof who);
        uid_text(owner, owner_text, sizeof owner_text);
        log_denied(m, "%s pid %d may not subscribe writer '%s': class %s belongs to %s%s", who, (int) c->pid, name,
                   cls, owner_text, configured ? " (WriterOwner=)" : " (recorded in the catalog)");
        *ret_hr = VSS_E_ACCESSDENIED;
        set_message(ret_message, "Writer class %s belongs to %s%s; %s may not subscribe with it", cls, owner_text,
                    configured ? " by WriterOwner=" : " as recorded in lvssd's catalog", who);
        return -EPERM;
}

/* May the catalog bind one more class to @c's uid? 0, or -EDQUOT with *ret_hr and a message. */
static int owner_quota_check(Manager *m, const Client *c, const vss_id *writer_id, const char *name,
                             vss_hresult *ret_hr, char **ret_message) {
        char cls[VSS_ID_STRING_MAX], who[96];
        unsigned n;
        int r;

        if (uid_privileged(c->uid))
                return 0;
        vss_id_format(writer_id, cls);
        r = lvss_catalog_writer_owner_count(m->catalog, c->uid, &n);
        if (r < 0) {
                log_msg("writer '%s' (class %s): cannot count the classes of uid %u in the catalog: %s", name, cls,
                        (unsigned) c->uid, strerror(-r));
                *ret_hr = VSS_E_WRITER_INFRASTRUCTURE;
                set_message(ret_message, "lvssd cannot count the writer classes of uid %u in its catalog",
                            (unsigned) c->uid);
                return r;
        }
        if (n < m->cfg.max_writer_classes_per_user)
                return 0;
        uid_text(c->uid, who, sizeof who);
        log_denied(m,
                   "%s pid %d may not subscribe writer '%s' with the new class %s: %u writer classes are bound to "
                   "it already (MaxWriterClassesPerUser=%u)",
                   who, (int) c->pid, name, cls, n, m->cfg.max_writer_classes_per_user);
        *ret_hr = VSS_E_ACCESSDENIED;
        set_message(ret_message,
                    "%s has %u writer classes bound to it already, the most lvssd records for one user "
                    "(MaxWriterClassesPerUser=%u); class %s is refused",
                    who, n, m->cfg.max_writer_classes_per_user, cls);
        return -EDQUOT;
}

/* Root took class @writer_id over: writers of that class under other uids go. */
static void drop_other_owners(Manager *m, const Client *c, const vss_id *writer_id) {
        Writer *next;

        for (Writer *o = m->writers; o; o = next) {
                char who[96];

                next = o->next;
                if (!o->subscribed || !vss_id_equal(&o->writer_id, writer_id) || !o->client || o->client->uid == c->uid)
                        continue;
                log_msg("writer '%s'%s%s of %s pid %d dropped: uid %u pid %d takes its class over", o->name,
                        *o->instance_name ? " instance " : "", o->instance_name,
                        uid_text(o->client->uid, who, sizeof who), (int) o->client->pid, (unsigned) c->uid,
                        (int) c->pid);
                registry_unsubscribe(o);
                connection_drop_client(o->client);
        }
}

/* The writer becomes visible: in the list, named in the log. */
static void writer_link(Writer *w) {
        Manager *m = w->m;
        char id[VSS_ID_STRING_MAX];

        w->subscribed = true;
        w->next = m->writers;
        if (m->writers)
                m->writers->prev = w;
        m->writers = w;
        m->n_writers++;
        vss_id_format(&w->instance_id, id);
        log_msg("writer '%s'%s%s subscribed as instance %s (uid %u, pid %d, freeze timeout %u ms)", w->name,
                *w->instance_name ? " instance " : "", w->instance_name, id, (unsigned) w->client->uid,
                (int) w->client->pid, w->freeze_timeout_ms);
}

static void owner_pending_free(OwnerPending *p) {
        if (p->prev)
                p->prev->next = p->next;
        else if (owners_pending == p)
                owners_pending = p->next;
        if (p->next)
                p->next->prev = p->prev;
        if (p->w)
                p->w->owner_pending = NULL;
        pending_drop(p->call);
        free(p);
}

static int run_owner_set(lvss_catalog *c, void *data) {
        OwnerRow *o = data;
        return lvss_catalog_writer_owner_set(c, &o->writer_id, o->uid, o->name, o->usec);
}

/* On the loop: the owner row is on disk (or could not be written): the SubscribeWriter call is answered. */
static void owner_row_written(int r, void *data, void *userdata) {
        OwnerPending *p = userdata;
        Writer *w = p->w;
        Client *c = w->client;
        Manager *m = p->m;
        char cls[VSS_ID_STRING_MAX], why[128];
        _cleanup_(pending_dropp) Pending *call = TAKE_PTR(p->call);
        bool takeover = p->takeover;

        owner_pending_free(p);
        vss_id_format(&w->writer_id, cls);
        /* answered from a catalog completion, not from the connection's own dispatch: .flush */
        if (r < 0) {
                log_msg("writer '%s' (class %s): cannot record its owner uid %u in the catalog: %s", w->name, cls,
                        (unsigned) c->uid, strerror(-r));
                c->writer = NULL;
                c->role = ROLE_NONE;
                writer_free(w);
                (void) snprintf(why, sizeof why, "lvssd cannot record the owner of writer class %s in its catalog",
                                cls);
                (void) pending_answer(&call, &(Answer) {
                        .kind = ANSWER_HRESULT,
                        .hr = VSS_E_WRITER_INFRASTRUCTURE,
                        .text = why,
                        .flush = true,
                });
                return;
        }
        if (takeover)
                drop_other_owners(m, c, &w->writer_id);
        writer_link(w);
        r = pending_answer(&call, &(Answer) { .kind = ANSWER_ID, .id = w->instance_id, .flush = true });
        if (r < 0)
                log_msg("writer '%s': cannot answer its subscription: %s", w->name, strerror(-r));
}

int registry_subscribe(Manager *m, Client *c, const vss_id *writer_id, const char *name, const char *instance_name,
                       uint32_t usage, uint32_t source, int32_t level, uint32_t freeze_timeout_ms,
                       uint32_t handled_events, Pending *pending, vss_hresult *ret_hr, char **ret_message,
                       Writer **ret) {
        _cleanup_(pending_dropp) Pending *call = pending;
        bool record, takeover;
        Writer *w;
        int r;

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
        r = owner_check(m, c, writer_id, name, &record, &takeover, ret_hr, ret_message);
        if (r < 0)
                return r;
        for (Writer *o = m->writers; o; o = o->next)
                if (o->subscribed && vss_id_equal(&o->writer_id, writer_id) &&
                    streq_ptr(strnull_if_empty(o->instance_name), strnull_if_empty(instance_name))) {
                        char cls[VSS_ID_STRING_MAX], who[96];

                        if (takeover && o->client && o->client->uid != c->uid)
                                continue; /* dropped below */
                        vss_id_format(writer_id, cls);
                        *ret_hr = VSS_E_WRITER_ALREADY_SUBSCRIBED;
                        set_message(ret_message, "Writer class %s%s%s is subscribed already, by %s pid %d", cls,
                                    *o->instance_name ? " instance " : "", o->instance_name,
                                    o->client ? uid_text(o->client->uid, who, sizeof who) : "?",
                                    o->client ? (int) o->client->pid : 0);
                        return -EEXIST;
                }
        for (const OwnerPending *p = owners_pending; p; p = p->next)
                if (vss_id_equal(&p->row.writer_id, writer_id) &&
                    streq_ptr(strnull_if_empty(p->w->instance_name), strnull_if_empty(instance_name))) {
                        char cls[VSS_ID_STRING_MAX];

                        vss_id_format(writer_id, cls);
                        *ret_hr = VSS_E_WRITER_ALREADY_SUBSCRIBED;
                        set_message(ret_message, "Writer class %s%s%s is being subscribed already, by pid %d", cls,
                                    instance_name && *instance_name ? " instance " : "", strempty(instance_name),
                                    (int) p->w->client->pid);
                        return -EEXIST;
                }
        if (record) {
                r = owner_quota_check(m, c, writer_id, name, ret_hr, ret_message);
                if (r < 0)
                        return r;
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
        w->handled_events = handled_events;

        if (record) {
                char cls[VSS_ID_STRING_MAX];
                uint64_t usec = now_usec(CLOCK_REALTIME);

                vss_id_format(writer_id, cls);
                if (m->catalog_queue && call) {
                        OwnerPending *p = calloc(1, sizeof *p);

                        if (!p) {
                                writer_free(w);
                                *ret_hr = VSS_E_OUTOFMEMORY;
                                return -ENOMEM;
                        }
                        *p = (OwnerPending) { .m = m, .w = w, .takeover = takeover,
                                              .row = { *writer_id, c->uid, NULL, usec } };
                        OwnerRow *job = malloc(sizeof *job);
                        if (job) {
                                *job = (OwnerRow) { *writer_id, c->uid, strdup(name), usec };
                                if (!job->name)
                                        job = mfree(job);
                        }
                        r = job ? lvss_catalog_queue_submit(m->catalog_queue, run_owner_set, job, owner_row_free,
                                                            true, owner_row_written, p)
                                : -ENOMEM;
                        if (r >= 0) {
                                p->call = TAKE_PTR(call);
                                p->next = owners_pending;
                                if (owners_pending)
                                        owners_pending->prev = p;
                                owners_pending = p;
                                w->owner_pending = p;
                                c->role = ROLE_WRITER;
                                c->writer = w;
                                log_msg("writer '%s' (class %s): its owner uid %u goes into the catalog; subscribed "
                                        "once it is on disk", name, cls, (unsigned) c->uid);
                                *ret = w;
                                return 1;
                        }
                        p->w = NULL;
                        owner_pending_free(p);
                } else
                        r = lvss_catalog_writer_owner_set(m->catalog, writer_id, c->uid, name, usec);
                if (r < 0) {
                        log_msg("writer '%s' (class %s): cannot record its owner uid %u in the catalog: %s", name, cls,
                                (unsigned) c->uid, strerror(-r));
                        writer_free(w);
                        *ret_hr = VSS_E_WRITER_INFRASTRUCTURE;
                        set_message(ret_message, "lvssd cannot record the owner of writer class %s in its catalog",
                                    cls);
                        return r;
                }
                if (takeover)
                        drop_other_owners(m, c, writer_id);
        }

        c->role = ROLE_WRITER;
        c->writer = w;
        writer_link(w);
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
        if (w->owner_pending) {
                /* gone before its owner row was on disk: nobody to answer */
                lvss_catalog_queue_forget(w->m->catalog_queue, w->owner_pending);
                w->owner_pending->w = NULL;
                owner_pending_free(w->owner_pending);
        }
        registry_unsubscribe(w);
        /* issue 11 §2: the layer above (sessions) forgets it; the registry does not know sessions */
        if (w->m->registry_hooks && w->m->registry_hooks->writer_gone)
                w->m->registry_hooks->writer_gone(w->m, w);
        registry_forget_writer(w->m, w);
        free(w->last.application_message);
        free(w->last.origin);
        free(w->name);
        free(w->instance_name);
        free(w);
        return NULL;
}

/* ---- ListWriters --------------------------------------------------------- */

typedef struct AdminList {
        Manager *m;
        Pending *call; /* the ListWriters to answer (answer.h) */
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
        pending_drop(a->call);
        free(a->writers);
        free(a);
}

#define ADMIN_STATE_TEXT_MAX 512

/* What the admin view says of @w after ListWriters' Identify @t (WS-9, WS-1): *@ret, its texts
 * borrowed from @w and @t, or written into @buf (@size bytes). */
static void admin_row(Writer *w, const Target *t, char *buf, size_t size, AnswerWriter *ret) {
        const LastStatus *l = &w->last;
        AnswerWriter a = {
                .instance_id = w->instance_id,
                .writer_id = w->writer_id,
                .name = w->name,
                .instance_name = w->instance_name,
                /* issue 8 item 4: whose writer it is, so that two of one class can be told apart */
                .uid = (uint32_t) (w->client ? w->client->uid : (uid_t) -1),
                .pid = (int32_t) (w->client ? w->client->pid : 0),
        };

        if (!t->ok) {
                /* Identify failed or timed out now: outside any session (WS-1). */
                bool answered = t->failure != VSS_E_WRITER_NOT_RESPONDING;
                a.state = answered ? VSS_WS_FAILED_AT_IDENTIFY : VSS_WS_UNKNOWN;
                a.failure = t->failure;
                a.application_result = t->application_result;
                a.application_message = t->application_message;
                a.event = VSS_EVENT_IDENTIFY;
                a.when_usec = t->sent_usec;
                a.took_usec = t->duration_usec;
                a.state_text = "none";
                a.note = t->note; /* what it answered instead (issue 8 item 7) */
        } else if (l->valid) {
                a.state = l->state;
                a.failure = l->failure;
                a.application_result = l->application_result;
                a.application_message = l->application_message;
                a.session_id = l->session_id;
                a.event = l->last_event;
                a.in_progress = l->in_progress;
                a.when_usec = l->last_event_usec;
                a.took_usec = l->duration_usec;
                /* issue 11 §5, WS-9: the last event's answer came from lvssd, not the writer */
                a.answered_by_lvssd = l->answered_by_lvssd;
                a.state_text = strempty(l->session_state);
                if (l->session && w->m->registry_hooks && w->m->registry_hooks->session_state)
                        a.state_text = w->m->registry_hooks->session_state(l->session, &a.active);
                /* issue 10 part 2: an external session names its caller, also once it is gone */
                if (l->origin) {
                        (void) snprintf(buf, size, "%s, %s", a.state_text, l->origin);
                        a.state_text = buf;
                }
        } else {
                /* Never in a session: stable, and nothing more to say. */
                a.state = VSS_WS_STABLE;
                a.event = VSS_EVENT_IDENTIFY;
                a.when_usec = t->sent_usec;
                a.took_usec = t->duration_usec;
                a.state_text = "none";
        }
        *ret = a;
}

static void admin_list_done(Fanout *f, void *userdata) {
        AdminList *a = userdata;
        size_t n = 0, m = f->n_targets ? f->n_targets : 1;
        _cleanup_(freep) AnswerWriter *rows = calloc(m, sizeof *rows);
        /* a buffer per row, written only for the rows of an external session (not zeroed: untouched
         * pages of a large list cost nothing) */
        _cleanup_(freep) char *texts = reallocarray(NULL, m, ADMIN_STATE_TEXT_MAX);
        int r;

        /* answered from the fan-out's end, not from the connection's own dispatch: .flush */
        if (!rows || !texts)
                r = pending_answer(&a->call, &(Answer) {
                        .kind = ANSWER_ERRNO,
                        .error = -ENOMEM,
                        .text = "Cannot build the writer list",
                        .flush = true,
                });
        else {
                for (size_t i = 0; i < f->n_targets; i++) {
                        Target *t = &f->targets[i];
                        if (!t->writer) /* gone meanwhile */
                                continue;
                        admin_row(t->writer, t, texts + n * ADMIN_STATE_TEXT_MAX, ADMIN_STATE_TEXT_MAX, &rows[n]);
                        n++;
                }
                r = pending_answer(&a->call,
                                   &(Answer) { .kind = ANSWER_WRITERS, .writers = rows, .n_writers = n, .flush = true });
        }
        if (r < 0)
                log_msg("ListWriters: cannot reply: %s", strerror(-r));
        admin_list_free(a);
}

int registry_tell_session_state(Writer *w, const vss_id *session_id, vss_writer_session_state state) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (!session_id)
                return -EINVAL;
        if (!w || !w->client || w->client->disconnected)
                return 0;
        r = sd_bus_message_new_method_call(w->client->bus, &m, NULL, LVSS_WRITER_PATH, LVSS_WRITER_IFACE,
                                           "SessionChanged");
        if (r >= 0)
                r = sd_bus_message_set_expect_reply(m, false);
        if (r >= 0)
                r = lvss_bus_append_id(m, session_id);
        if (r >= 0)
                r = sd_bus_message_append(m, "u", (uint32_t) state);
        if (r >= 0)
                r = sd_bus_send(NULL, m, NULL);
        connection_changed(w->client);
        return r < 0 ? r : 0;
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

bool registry_list_pending(Manager *m, const void *conn) {
        for (AdminList *a = m->admin_lists; a; a = a->next)
                if (a->call && a->call->conn == conn)
                        return true;
        return false;
}

int registry_list_writers(Manager *m, Pending *pending) {
        _cleanup_(pending_dropp) Pending *call = pending;
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
        a->call = TAKE_PTR(call);

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

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The admin view of providers and shadow copies (vssadmin list providers,
 * list shadows, delete shadows). Shadow copies are listed from the catalog,
 * which knows every one that exists (written before it exists on disk,
 * removed after it is gone). Deleting follows the same order: the provider
 * deletes the copy, then the row goes. Copies of a session still running are
 * not the admin's to delete: its requester owns them until it ends (WS-10).
 *
 * issue 11 §1: the catalog is read and written on its own thread
 * (catalog/catalog-queue.c); both calls are answered from a completion. The
 * read runs after every write queued before it, so a listing shows what the
 * loop has done so far.
 */

#include <stdlib.h>

#include "manager.h"
#include "server.h"
#include "session.h"
#include "providers.h"
#include "admin.h"
#include "worker.h"
#include "metrics.h"
#include "protocol/protocol.h"

#define SHADOW_STRUCT "ayayayayssssbiut"

int admin_list_providers(Manager *m, sd_bus_message *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ayssssb)");
        for (size_t i = 0; r >= 0 && i < m->n_providers; i++) {
                lvss_provider *p = m->providers[i];
                r = sd_bus_message_open_container(reply, 'r', "ayssssb");
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &p->ops->id);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ssssb", p->ops->name, p->ops->type, p->ops->version,
                                                  provider_volumes_text(p), p == m->default_provider);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

typedef struct ShadowList {
        Manager *m;
        sd_bus_message *reply;
        const vss_id *set_id;
} ShadowList;

static int append_shadow(const lvss_catalog_snapshot *cs, void *userdata) {
        ShadowList *l = userdata;
        lvss_provider *p;
        int r;

        if (l->set_id && !vss_id_is_null(l->set_id) && !vss_id_equal(l->set_id, &cs->set_id))
                return 0;
        p = manager_provider_by_id(l->m, &cs->provider_id);
        r = sd_bus_message_open_container(l->reply, 'r', SHADOW_STRUCT);
        if (r >= 0)
                r = lvss_bus_append_id(l->reply, &cs->snapshot_id);
        if (r >= 0)
                r = lvss_bus_append_id(l->reply, &cs->set_id);
        if (r >= 0)
                r = lvss_bus_append_id(l->reply, &cs->session_id);
        if (r >= 0)
                r = lvss_bus_append_id(l->reply, &cs->provider_id);
        if (r >= 0)
                r = sd_bus_message_append(l->reply, "ssssbiut", p ? p->ops->name : "?", strempty(cs->volume),
                                          strempty(cs->snapshot_path), strempty(cs->state), cs->persistent,
                                          cs->context, cs->attributes, cs->created_usec);
        if (r >= 0)
                r = sd_bus_message_close_container(l->reply);
        return r;
}

typedef struct AdminQuery AdminQuery;
struct AdminQuery {
        Manager *m;
        AdminQuery *next, *prev; /* Manager.admin_queries: answers still to come */
        sd_bus_message *call;
        vss_id set_id; /* list: the set, or null for all */
        char *what;    /* delete: */
        vss_id id;
        char *volume;
        bool oldest;
};

static AdminQuery *admin_query_new(Manager *m, sd_bus_message *call) {
        AdminQuery *q = calloc(1, sizeof *q);

        if (!q)
                return NULL;
        q->m = m;
        q->call = sd_bus_message_ref(call);
        q->next = m->admin_queries;
        if (q->next)
                q->next->prev = q;
        m->admin_queries = q;
        return q;
}

/* Whether a ListShadows or DeleteShadows of @bus waits for the catalog: the connection is not idle. */
bool admin_query_pending(Manager *m, sd_bus *bus) {
        for (AdminQuery *q = m->admin_queries; q; q = q->next)
                if (sd_bus_message_get_bus(q->call) == bus)
                        return true;
        return false;
}

static AdminQuery *admin_query_free(AdminQuery *q) {
        if (!q)
                return NULL;
        if (q->prev)
                q->prev->next = q->next;
        else if (q->m->admin_queries == q)
                q->m->admin_queries = q->next;
        if (q->next)
                q->next->prev = q->prev;
        sd_bus_message_unref(q->call);
        free(q->what);
        free(q->volume);
        free(q);
        return NULL;
}
/* The answer is sent: @q goes, then its connection is flushed and its idle deadline set again (server.c). */
static void admin_query_answered(AdminQuery *q) {
        Manager *m = q->m;
        sd_bus *bus = sd_bus_ref(sd_bus_message_get_bus(q->call));

        admin_query_free(q);
        server_bus_changed(m, bus);
        sd_bus_unref(bus);
}

static void admin_query_freep(AdminQuery **q) {
        *q = admin_query_free(*q);
}

static void shadows_listed(int r, void *data, void *userdata) {
        AdminQuery *q = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const lvss_catalog_snapshot_list *rows = data;
        ShadowList l = { .m = q->m, .set_id = &q->set_id };

        if (r >= 0)
                r = sd_bus_message_new_method_return(q->call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(" SHADOW_STRUCT ")");
        l.reply = reply;
        for (size_t i = 0; r >= 0 && i < rows->n; i++)
                r = append_shadow(&rows->rows[i], &l);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) sd_bus_reply_method_errno(q->call, r, NULL);
        /* answered outside the connection's own dispatch: flush it (server.c) */
        admin_query_answered(q);
}

int admin_list_shadows(Manager *m, sd_bus_message *call, const vss_id *set_id) {
        AdminQuery *q;
        int r;

        q = admin_query_new(m, call);
        if (!q)
                return -ENOMEM;
        if (set_id)
                q->set_id = *set_id;
        r = lvss_catalog_queue_list_snapshots(m->catalog_queue, shadows_listed, q);
        if (r < 0) {
                admin_query_free(q);
                return r;
        }
        return 1;
}

/* ---- delete ---------------------------------------------------------------- */

typedef struct Victim {
        vss_id snapshot_id, provider_id;
        char *snapshot_path;
        uint64_t created_usec;
} Victim;

typedef struct DeleteQuery {
        Manager *m;
        AdminQuery *query;
        const char *what;
        const vss_id *id;
        const char *volume;
        Victim *v;
        size_t n;
        size_t busy; /* matched, but their session still runs */
} DeleteQuery;

static bool session_live(Manager *m, const vss_id *id) {
        for (Session *s = m->sessions; s; s = s->next)
                if (vss_id_equal(&s->id, id) && !session_ended(s))
                        return true;
        return false;
}

static int match_victim(const lvss_catalog_snapshot *cs, void *userdata) {
        DeleteQuery *q = userdata;
        bool match;
        Victim *a;

        if (streq_ptr(q->what, "shadow"))
                match = vss_id_equal(q->id, &cs->snapshot_id);
        else if (streq_ptr(q->what, "set"))
                match = vss_id_equal(q->id, &cs->set_id);
        else if (streq_ptr(q->what, "for"))
                match = streq_ptr(q->volume, cs->volume);
        else
                match = true;
        if (!match)
                return 0;
        if (session_live(q->m, &cs->session_id)) {
                q->busy++;
                return 0;
        }
        a = reallocarray(q->v, q->n + 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        q->v = a;
        a = &q->v[q->n];
        *a = (Victim) {
                .snapshot_id = cs->snapshot_id,
                .provider_id = cs->provider_id,
                .snapshot_path = cs->snapshot_path ? strdup(cs->snapshot_path) : NULL,
                .created_usec = cs->created_usec,
        };
        if (cs->snapshot_path && !a->snapshot_path)
                return -ENOMEM;
        q->n++;
        return 0;
}

static void victims_free(DeleteQuery *q) {
        for (size_t i = 0; i < q->n; i++)
                free(q->v[i].snapshot_path);
        q->v = mfree(q->v);
        q->n = 0;
}

/*
 * Issue 11 §1: the providers delete in a worker (worker.c), never on the loop
 * (the copy provider removes whole trees, the exec provider runs its program).
 * The rows are read through the catalog thread (shadows_to_delete()); the
 * child deletes each victim and writes one int32 per victim (0 or a negative
 * errno); the loop then queues the removal of the rows of those deleted (a
 * row goes only after its copy) and answers once they are gone, so that a
 * listing after the answer does not show them. At ProviderStepTimeoutMS= the
 * worker is killed: what it finished is not known, so every row stays (each
 * copy is still listed; deleting again is idempotent) and the call fails with
 * VSS_E_UNEXPECTED_PROVIDER_ERROR. The AdminQuery stays listed until the
 * answer: the caller's connection is not idle while it waits (server.c).
 */
typedef struct DeleteJob {
        Manager *m;
        AdminQuery *query;
        Victim *v;
        size_t n;
} DeleteJob;

static void delete_job_free(DeleteJob *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++)
                free(j->v[i].snapshot_path);
        free(j->v);
        free(j);
}

static int delete_run(int fd, void *userdata) {
        DeleteJob *j = userdata;

        for (size_t i = 0; i < j->n; i++) {
                lvss_provider *p = manager_provider_by_id(j->m, &j->v[i].provider_id);
                int32_t r = 0;

                if (p && j->v[i].snapshot_path)
                        r = p->ops->delete_snapshot(p, j->v[i].snapshot_path);
                if (worker_write(fd, &r, sizeof r) < 0)
                        return 1;
        }
        return 0;
}

/* The rows of the deleted copies are gone: the answer (the number deleted rides in the call's slot). */
static void shadows_deleted(int r, void *data, void *userdata) {
        AdminQuery *q = userdata;
        uint32_t *deleted = data;

        r = sd_bus_reply_method_return(q->call, "u", *deleted);
        if (r < 0)
                log_msg("delete shadows: cannot answer: %s", strerror(-r));
        admin_query_answered(q);
}

static void delete_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        DeleteJob *j = userdata;
        AdminQuery *query = j->query;
        Manager *m = j->m;
        uint32_t *deleted = NULL;
        int r;

        if (k == 0 && size != j->n * sizeof(int32_t))
                k = -EPROTO;
        if (k == 0) {
                deleted = calloc(1, sizeof *deleted);
                if (!deleted)
                        k = -ENOMEM;
        }
        for (size_t i = 0; k == 0 && i < j->n; i++) {
                Victim *v = &j->v[i];
                char sid[VSS_ID_STRING_MAX];
                int32_t e;

                memcpy(&e, out + i * sizeof e, sizeof e);
                vss_id_format(&v->snapshot_id, sid);
                if (e < 0) {
                        log_msg("delete shadows: cannot delete %s (%s): %s", sid, v->snapshot_path, strerror(-e));
                        continue; /* stays listed: it still exists */
                }
                if (!manager_provider_by_id(m, &v->provider_id))
                        log_msg("delete shadows: %s has no provider here any more; dropping it from the catalog",
                                sid);
                if (lvss_catalog_queue_snapshot_remove(m->catalog_queue, &v->snapshot_id, NULL, NULL) < 0)
                        continue;
                log_msg("delete shadows: deleted %s (%s)", sid, strempty(v->snapshot_path));
                (*deleted)++;
        }
        metrics_changed(m->metrics); /* issue 12 §3: the volumes' copies */
        delete_job_free(j);
        if (k == 0) {
                /* answered once the rows are gone: a listing after the answer does not show them */
                r = lvss_catalog_queue_submit(m->catalog_queue, NULL, deleted, free, false, shadows_deleted, query);
                if (r < 0) {
                        (void) sd_bus_reply_method_errno(query->call, r, NULL);
                        admin_query_answered(query);
                }
                return; /* else shadows_deleted() answers */
        }
        if (k == -ETIME)
                (void) lvss_bus_error_set_hresult(&error, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                                                  "The provider did not delete the shadow copies within %llu ms "
                                                  "(ProviderStepTimeoutMS=); they are still listed",
                                                  (unsigned long long) (m->cfg.provider_step_timeout_usec /
                                                                        USEC_PER_MSEC));
        else
                (void) lvss_bus_error_set_hresult(&error, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                                                  "The provider failed while deleting; the shadow copies are still "
                                                  "listed");
        log_msg("delete shadows: %s", error.message);
        (void) sd_bus_reply_method_error(query->call, &error);
        admin_query_answered(query);
}

static void shadows_to_delete(int r, void *data, void *userdata) {
        AdminQuery *query = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const lvss_catalog_snapshot_list *rows = data;
        Manager *m = query->m;
        DeleteQuery q = { .m = m, .query = query, .what = query->what, .id = &query->id, .volume = query->volume };
        DeleteJob *j = NULL;
        size_t first = 0, last;

        for (size_t i = 0; r >= 0 && i < rows->n; i++)
                r = match_victim(&rows->rows[i], &q);
        if (r < 0)
                goto fail;
        if (q.n == 0) {
                (void) lvss_bus_error_set_hresult(&error, q.busy ? VSS_E_BAD_STATE : VSS_E_OBJECT_NOT_FOUND,
                                                  q.busy ? "Those shadow copies belong to a session that is still "
                                                           "running"
                                                         : "No such shadow copy");
                (void) sd_bus_reply_method_error(query->call, &error);
                admin_query_answered(query);
                victims_free(&q);
                return;
        }

        last = q.n;
        if (query->oldest) {
                for (size_t i = 1; i < q.n; i++)
                        if (q.v[i].created_usec < q.v[first].created_usec)
                                first = i;
                last = first + 1;
        }
        j = calloc(1, sizeof *j);
        if (!j) {
                r = -ENOMEM;
                goto fail;
        }
        /* the victims to delete move into the job; the others are freed below */
        j->m = m;
        j->query = query;
        j->v = calloc(last - first, sizeof *j->v);
        if (!j->v) {
                free(j);
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = first; i < last; i++) {
                j->v[j->n++] = q.v[i];
                q.v[i].snapshot_path = NULL;
        }
        victims_free(&q);
        r = worker_start(m, "delete shadows", NULL, m->cfg.provider_step_timeout_usec, delete_run, delete_done, j,
                         NULL);
        if (r < 0) {
                delete_job_free(j);
                (void) lvss_bus_error_set_hresult(&error, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                                                  "Cannot start the deletion: %s", strerror(-r));
                (void) sd_bus_reply_method_error(query->call, &error);
                admin_query_answered(query);
        }
        return; /* else delete_done() answers */
fail:
        victims_free(&q);
        (void) sd_bus_reply_method_errno(query->call, r, NULL);
        admin_query_answered(query);
}

int admin_delete_shadows(Manager *m, sd_bus_message *call, const char *what, const vss_id *id, const char *volume,
                         bool oldest, sd_bus_error *error) {
        _cleanup_(admin_query_freep) AdminQuery *q = NULL;
        _cleanup_(freep) char *canonical = NULL;
        int r;

        if (!streq_ptr(what, "shadow") && !streq_ptr(what, "set") && !streq_ptr(what, "for") && !streq_ptr(what, "all"))
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Delete what? shadow, set, for or all");
        q = admin_query_new(m, call);
        if (!q)
                return -ENOMEM;
        q->oldest = oldest;
        if (id)
                q->id = *id;
        q->what = strdup(what);
        if (!q->what)
                return -ENOMEM;
        if (streq_ptr(what, "for")) {
                if (!volume || volume[0] != '/')
                        return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "A volume is an absolute path");
                /* The catalog holds canonical paths; a volume that is gone is matched as given. */
                canonical = realpath(volume, NULL);
                q->volume = strdup(canonical ? canonical : volume);
                if (!q->volume)
                        return -ENOMEM;
        }
        r = lvss_catalog_queue_list_snapshots(m->catalog_queue, shadows_to_delete, q);
        if (r < 0)
                return r;
        TAKE_PTR(q);
        return 1;
}

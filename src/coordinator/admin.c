/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The admin view of providers and shadow copies (vssadmin list providers,
 * list shadows, delete shadows). Shadow copies are listed from the catalog,
 * which knows every one that exists (written before it exists on disk,
 * removed after it is gone). Deleting follows the same order: the provider
 * deletes the copy, then the row goes. Copies of a session still running are
 * not the admin's to delete: its requester owns them until it ends (WS-10).
 */

#include <stdlib.h>

#include "manager.h"
#include "session.h"
#include "providers.h"
#include "admin.h"
#include "worker.h"
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

int admin_list_shadows(Manager *m, sd_bus_message *call, const vss_id *set_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ShadowList l = { .m = m, .set_id = set_id };
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(" SHADOW_STRUCT ")");
        l.reply = reply;
        if (r >= 0)
                r = lvss_catalog_foreach_snapshot(m->catalog, append_shadow, &l);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- delete ---------------------------------------------------------------- */

typedef struct Victim {
        vss_id snapshot_id, provider_id;
        char *snapshot_path;
        uint64_t created_usec;
} Victim;

typedef struct DeleteQuery {
        Manager *m;
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

static void victims_free(Victim *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].snapshot_path);
        free(v);
}

/*
 * Issue 11 §1: the providers delete in a worker (worker.c), never on the loop
 * (the copy provider removes whole trees, the exec provider runs its program).
 * The child deletes each victim and writes one int32 per victim (0 or a
 * negative errno); the loop then drops the rows of those deleted (the
 * catalog ordering: a row goes only after its copy) and answers. At
 * ProviderStepTimeoutMS= the worker is killed: what it finished is not known,
 * so every row stays (each copy is still listed; deleting again is
 * idempotent) and the call fails with VSS_E_UNEXPECTED_PROVIDER_ERROR.
 */
typedef struct DeleteJob {
        Manager *m;
        sd_bus_message *call;
        Victim *v;
        size_t n;
        struct DeleteJob *next, *prev;
} DeleteJob;

static DeleteJob *delete_jobs; /* in flight (one Manager per lvssd) */

bool admin_delete_pending(Manager *m, sd_bus *bus) {
        for (DeleteJob *j = delete_jobs; j; j = j->next)
                if (j->m == m && sd_bus_message_get_bus(j->call) == bus)
                        return true;
        return false;
}

static void delete_job_free(DeleteJob *j) {
        if (!j)
                return;
        if (j->prev)
                j->prev->next = j->next;
        else if (delete_jobs == j)
                delete_jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        sd_bus_message_unref(j->call);
        victims_free(j->v, j->n);
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

static void delete_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        DeleteJob *j = userdata;
        uint32_t deleted = 0;

        if (k == 0 && size != j->n * sizeof(int32_t))
                k = -EPROTO;
        for (size_t i = 0; k == 0 && i < j->n; i++) {
                Victim *v = &j->v[i];
                char sid[VSS_ID_STRING_MAX];
                int32_t r;

                memcpy(&r, out + i * sizeof r, sizeof r);
                vss_id_format(&v->snapshot_id, sid);
                if (r < 0) {
                        log_msg("delete shadows: cannot delete %s (%s): %s", sid, v->snapshot_path, strerror(-r));
                        continue; /* stays listed: it still exists */
                }
                if (!manager_provider_by_id(j->m, &v->provider_id))
                        log_msg("delete shadows: %s has no provider here any more; dropping it from the catalog",
                                sid);
                if (lvss_catalog_snapshot_remove(j->m->catalog, &v->snapshot_id) < 0)
                        continue;
                log_msg("delete shadows: deleted %s (%s)", sid, strempty(v->snapshot_path));
                deleted++;
        }
        if (k == 0)
                (void) sd_bus_reply_method_return(j->call, "u", deleted);
        else {
                if (k == -ETIME)
                        (void) lvss_bus_error_set_hresult(
                                &error, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                                "The provider did not delete the shadow copies within %llu ms "
                                "(ProviderStepTimeoutMS=); they are still listed",
                                (unsigned long long) (j->m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
                else
                        (void) lvss_bus_error_set_hresult(&error, VSS_E_UNEXPECTED_PROVIDER_ERROR,
                                                          "The provider failed while deleting; the shadow copies "
                                                          "are still listed");
                log_msg("delete shadows: %s", error.message);
                (void) sd_bus_reply_method_error(j->call, &error);
        }
        delete_job_free(j);
}

int admin_delete_shadows(Manager *m, sd_bus_message *call, const char *what, const vss_id *id, const char *volume,
                         bool oldest, sd_bus_error *error) {
        _cleanup_(freep) char *canonical = NULL;
        DeleteQuery q = { .m = m, .what = what, .id = id };
        DeleteJob *j = NULL;
        size_t first = 0, last;
        int r;

        if (!streq_ptr(what, "shadow") && !streq_ptr(what, "set") && !streq_ptr(what, "for") && !streq_ptr(what, "all"))
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Delete what? shadow, set, for or all");
        if (streq_ptr(what, "for")) {
                if (!volume || volume[0] != '/')
                        return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "A volume is an absolute path");
                /* The catalog holds canonical paths; a volume that is gone is matched as given. */
                canonical = realpath(volume, NULL);
                q.volume = canonical ? canonical : volume;
        }

        r = lvss_catalog_foreach_snapshot(m->catalog, match_victim, &q);
        if (r < 0)
                goto finish;
        if (q.n == 0) {
                r = lvss_bus_error_set_hresult(error, q.busy ? VSS_E_BAD_STATE : VSS_E_OBJECT_NOT_FOUND,
                                               q.busy ? "Those shadow copies belong to a session that is still running"
                                                      : "No such shadow copy");
                goto finish;
        }

        last = q.n;
        if (oldest) {
                for (size_t i = 1; i < q.n; i++)
                        if (q.v[i].created_usec < q.v[first].created_usec)
                                first = i;
                last = first + 1;
        }
        j = calloc(1, sizeof *j);
        if (!j) {
                r = -ENOMEM;
                goto finish;
        }
        /* the victims to delete move into the job; the others are freed below */
        j->m = m;
        j->v = calloc(last - first, sizeof *j->v);
        if (!j->v) {
                free(j);
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = first; i < last; i++) {
                j->v[j->n++] = q.v[i];
                q.v[i].snapshot_path = NULL;
        }
        j->call = sd_bus_message_ref(call);
        /* listed: the caller's connection is not idle while it waits (server.c) */
        j->next = delete_jobs;
        if (delete_jobs)
                delete_jobs->prev = j;
        delete_jobs = j;
        r = worker_start(m, "delete shadows", NULL, m->cfg.provider_step_timeout_usec, delete_run, delete_done, j,
                         NULL);
        if (r < 0) {
                delete_job_free(j);
                r = lvss_bus_error_set_hresult(error, VSS_E_UNEXPECTED_PROVIDER_ERROR, "Cannot start the deletion: %s",
                                               strerror(-r));
                goto finish;
        }
        r = 1; /* answered by delete_done() */
finish:
        victims_free(q.v, q.n);
        return r;
}

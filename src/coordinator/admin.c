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

#include <inttypes.h>
#include <stdlib.h>

#include "basic/retention.h"
#include "basic/strv.h"
#include "providers/storage-area.h"
#include "lvssd-config.h"
#include "manager.h"
#include "session.h"
#include "providers.h"
#include "admin.h"
#include "worker.h"
#include "metrics.h"
#include "protocol/protocol.h"

typedef struct AdminQuery AdminQuery;
struct AdminQuery {
        Manager *m;
        AdminQuery *next, *prev; /* Manager.admin_queries: answers still to come */
        Pending *call;           /* NULL: nobody to answer (retention after a new copy) */
        vss_id set_id; /* list: the set, or null for all */
        char *what;    /* delete: */
        vss_id id;
        char *volume;
        bool oldest;
        /* issue 12 §2: delete what these rules let go among the volume's persistent copies
         * (DeleteShadowsKeep, and after each new persistent copy without a call) */
        bool by_rules;
        lvss_retention_rules rules;
};

/* Takes @call, also when out of memory (dropped then). */
static AdminQuery *admin_query_new(Manager *m, Pending *call) {
        AdminQuery *q = calloc(1, sizeof *q);

        if (!q) {
                pending_drop(call);
                return NULL;
        }
        q->m = m;
        q->call = call;
        q->next = m->admin_queries;
        if (q->next)
                q->next->prev = q;
        m->admin_queries = q;
        return q;
}

/* Whether an admin call of connection @conn waits for the catalog or a worker: it is not idle. */
bool admin_query_pending(Manager *m, const void *conn) {
        for (AdminQuery *q = m->admin_queries; q; q = q->next)
                if (q->call && q->call->conn == conn)
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
        pending_drop(q->call);
        free(q->what);
        free(q->volume);
        free(q);
        return NULL;
}
/* Answers @q's call with @a (none to answer: nothing is sent), and @q goes. The answer comes
 * outside the connection's own dispatch: the bus edge flushes the connection and sets its idle
 * deadline again (server.c). */
static void admin_query_answer(AdminQuery *q, const Answer *a) {
        Answer flushed = *a;

        flushed.flush = true;
        (void) pending_answer(&q->call, &flushed);
        admin_query_free(q);
}

static void admin_query_answer_errno(AdminQuery *q, int r) {
        admin_query_answer(q, &(Answer) { .kind = ANSWER_ERRNO, .error = r });
}

static void admin_query_answer_hresult(AdminQuery *q, vss_hresult hr, const char *text) {
        admin_query_answer(q, &(Answer) { .kind = ANSWER_HRESULT, .hr = hr, .text = text });
}

static void admin_query_freep(AdminQuery **q) {
        *q = admin_query_free(*q);
}

/* @volume as the catalog names it: canonical when it exists, else as given (a volume that is gone
 * is matched as written); NULL when out of memory. */
static char *volume_dup_canonical(const char *volume) {
        char *canonical = realpath(volume, NULL);

        return canonical ?: strdup(volume);
}

/* "D1": how the admin calls start. A query for @call (taken: dropped when out of memory) about
 * @volume (NULL: none), named as the catalog names it (@canonical false: it is already); NULL
 * when out of memory. */
static AdminQuery *admin_query_for(Manager *m, Pending *call, const char *volume, bool canonical) {
        AdminQuery *q = admin_query_new(m, call);

        if (q && volume) {
                q->volume = canonical ? volume_dup_canonical(volume) : strdup(volume);
                if (!q->volume)
                        q = admin_query_free(q);
        }
        return q;
}

/* The catalog's shadow copy rows to @then for @q (taken), after every write queued before: 1
 * (@then answers), or a negative errno (@q is freed, its call dropped). */
static int admin_query_list(AdminQuery *q, lvss_catalog_done_t then) {
        int r = lvss_catalog_queue_list_snapshots(q->m->catalog_queue, then, q);

        if (r < 0) {
                admin_query_free(q);
                return r;
        }
        return 1;
}

static int volume_not_absolute(sd_bus_error *error) {
        return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "A volume is an absolute path");
}

static void shadows_listed(int r, void *data, void *userdata) {
        AdminQuery *q = userdata;

        if (r < 0)
                admin_query_answer_errno(q, r);
        else
                admin_query_answer(q, &(Answer) { .kind = ANSWER_SHADOWS, .shadows = data, .id = q->set_id });
}

int admin_list_shadows(Manager *m, Pending *call, const vss_id *set_id) {
        AdminQuery *q = admin_query_for(m, call, NULL, false);

        if (!q)
                return -ENOMEM;
        if (set_id)
                q->set_id = *set_id;
        return admin_query_list(q, shadows_listed);
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
        size_t n_definite; /* by rules: v[0..n_definite) go; the rest only to make room (issue 12 §2) */
        char *newest_path; /* by rules, with room to make: the copy just made */
} DeleteQuery;

static bool session_live(Manager *m, const vss_id *id) {
        for (Session *s = m->sessions; s; s = s->next)
                if (vss_id_equal(&s->id, id) && !session_ended(s))
                        return true;
        return false;
}

static int add_victim(DeleteQuery *q, const lvss_catalog_snapshot *cs) {
        Victim *a = reallocarray(q->v, q->n + 1, sizeof *a);

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

/*
 * Issue 12 §2: the victims of the retention rules (basic/retention.h) among
 * the persistent, created copies of the query's volume. A copy of a session
 * still running is in use: never chosen, but it fills its place in the
 * rules (the copy just made counts as the newest).
 */
static int match_by_rules(const lvss_catalog_snapshot_list *rows, DeleteQuery *q, const lvss_retention_rules *rules,
                          bool room) {
        _cleanup_(freep) lvss_retention_copy *c = NULL;
        _cleanup_(freep) size_t *row = NULL;
        size_t n = 0;
        int r;

        c = calloc(rows->n ? rows->n : 1, sizeof *c);
        row = calloc(rows->n ? rows->n : 1, sizeof *row);
        if (!c || !row)
                return -ENOMEM;
        for (size_t i = 0; i < rows->n; i++) {
                const lvss_catalog_snapshot *cs = &rows->rows[i];

                if (!streq_ptr(cs->volume, q->volume) || !cs->persistent || !streq_ptr(cs->state, "created"))
                        continue;
                c[n] = (lvss_retention_copy) {
                        .created = (int64_t) (cs->created_usec / USEC_PER_SEC),
                        .in_use = session_live(q->m, &cs->session_id),
                };
                row[n++] = i;
        }
        r = lvss_retention_select(c, n, rules, (int64_t) (now_usec(CLOCK_REALTIME) / USEC_PER_SEC));
        if (r < 0)
                return r;
        for (size_t j = 0; j < n; j++) {
                if (c[j].in_use)
                        q->busy++;
                if (c[j].remove) {
                        r = add_victim(q, &rows->rows[row[j]]);
                        if (r < 0)
                                return r;
                }
        }
        q->n_definite = q->n;
        if (!room)
                return 0;

        /* Storage full (issue 12 §2): the copy provider's copies the rules keep and no session
         * uses may go too, oldest first, to make room for one more copy as large as the newest
         * (the worker decides: sizes are not known here). */
        const lvss_catalog_snapshot *newest = NULL;
        for (size_t j = 0; j < n; j++) {
                const lvss_catalog_snapshot *cs = &rows->rows[row[j]];

                if (vss_id_equal(&cs->provider_id, &LVSS_PROVIDER_COPY_ID) &&
                    (!newest || cs->created_usec >= newest->created_usec))
                        newest = cs;
        }
        if (!newest || !newest->snapshot_path)
                return 0;
        q->newest_path = strdup(newest->snapshot_path);
        if (!q->newest_path)
                return -ENOMEM;
        for (size_t j = 0; j < n; j++) {
                const lvss_catalog_snapshot *cs = &rows->rows[row[j]];

                if (c[j].remove || c[j].in_use || cs == newest || !cs->snapshot_path ||
                    !vss_id_equal(&cs->provider_id, &LVSS_PROVIDER_COPY_ID))
                        continue;
                r = add_victim(q, cs);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int match_victim(const lvss_catalog_snapshot *cs, void *userdata) {
        DeleteQuery *q = userdata;
        bool match;

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
        return add_victim(q, cs);
}

static void victims_free(DeleteQuery *q) {
        for (size_t i = 0; i < q->n; i++)
                free(q->v[i].snapshot_path);
        q->v = mfree(q->v);
        q->n = 0;
        q->newest_path = mfree(q->newest_path);
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
        /* issue 12 §2: v[n_definite..n) are deleted only as far as the copy provider's limit
         * of @volume needs room for one more copy as large as the one at @newest_path */
        size_t n_definite;
        char *volume, *newest_path;
} DeleteJob;

#define DELETE_KEPT 1 /* a victim's result: not needed to make room, kept */

static void delete_job_free(DeleteJob *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++)
                free(j->v[i].snapshot_path);
        free(j->v);
        free(j->volume);
        free(j->newest_path);
        free(j);
}

/*
 * In the worker: which of the optional victims must go so that one more copy
 * as large as the newest fits under the volume's limit (after the definite
 * victims went), oldest first (lvss_retention_make_room()). Nothing when the
 * volume has no limit, when it fits already, or when even all of them would
 * not make room (then the next copy is refused in begin_prepare, as before).
 */
static void choose_room(DeleteJob *j, bool *ret_go) {
        lvss_provider *copy = manager_provider_by_id(j->m, &LVSS_PROVIDER_COPY_ID);
        size_t n = j->n - j->n_definite;
        _cleanup_(freep) lvss_retention_copy *c = calloc(n ? n : 1, sizeof *c);
        _cleanup_(freep) uint64_t *sizes = calloc(n ? n : 1, sizeof *sizes);
        uint64_t used, max, need, freed;

        if (!copy || !c || !sizes || n == 0 || lvss_provider_copy_usage(copy, j->volume, &used, &max) < 0 ||
            max == 0 || lvss_provider_copy_tree_bytes(j->newest_path, &need) < 0)
                return;
        if (used <= max && need <= max - used)
                return; /* room enough */
        for (size_t i = 0; i < n; i++) {
                const Victim *v = &j->v[j->n_definite + i];

                c[i].created = (int64_t) (v->created_usec / USEC_PER_SEC);
                if (lvss_provider_copy_tree_bytes(v->snapshot_path, &sizes[i]) < 0)
                        sizes[i] = 0;
        }
        if (lvss_retention_make_room(c, sizes, n, used + need - max, &freed) < 0) {
                lvss_storage_area_log("copy", "%s: the shadow storage limit (%" PRIu64 " bytes) leaves no room for "
                                      "another copy of %" PRIu64 " bytes even without the older copies",
                                      j->volume, max, need);
                return;
        }
        for (size_t i = 0; i < n; i++)
                ret_go[i] = c[i].remove;
}

static int delete_run(int fd, void *userdata) {
        DeleteJob *j = userdata;
        _cleanup_(freep) bool *go = calloc(j->n ? j->n : 1, sizeof *go);

        if (!go)
                return 1;
        for (size_t i = 0; i < j->n_definite; i++)
                go[i] = true;
        for (size_t i = 0; i < j->n; i++) {
                lvss_provider *p = manager_provider_by_id(j->m, &j->v[i].provider_id);
                int32_t r = 0;

                if (i == j->n_definite && i < j->n)
                        choose_room(j, go + i); /* after the definite ones went */
                if (!go[i])
                        r = DELETE_KEPT;
                else if (p && j->v[i].snapshot_path)
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

        if (!q->call) {
                log_msg("retention: %s: deleted %u shadow cop%s", strempty(q->volume), *deleted,
                        *deleted == 1 ? "y" : "ies");
                admin_query_free(q);
                return;
        }
        admin_query_answer(q, &(Answer) { .kind = ANSWER_NUMBER, .number = *deleted });
}

static void delete_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        _cleanup_(freep) char *why = NULL;
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
                if (e == DELETE_KEPT)
                        continue;
                if (i >= j->n_definite)
                        log_msg("retention: %s: deleting %s to make room under the shadow storage limit",
                                strempty(j->volume), sid);
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
                if (r < 0)
                        admin_query_answer_errno(query, r);
                return; /* else shadows_deleted() answers */
        }
        if (k == -ETIME)
                r = asprintf(&why, "The provider did not delete the shadow copies within %llu ms "
                                   "(ProviderStepTimeoutMS=); they are still listed",
                             (unsigned long long) (m->cfg.provider_step_timeout_usec / USEC_PER_MSEC));
        else
                r = asprintf(&why, "The provider failed while deleting; the shadow copies are still listed");
        if (r < 0) {
                why = NULL;
                admin_query_answer_errno(query, -ENOMEM);
                return;
        }
        log_msg("delete shadows: %s", why);
        admin_query_answer_hresult(query, VSS_E_UNEXPECTED_PROVIDER_ERROR, why);
}

static void shadows_to_delete(int r, void *data, void *userdata) {
        AdminQuery *query = userdata;
        _cleanup_(freep) char *why = NULL;
        const lvss_catalog_snapshot_list *rows = data;
        Manager *m = query->m;
        DeleteQuery q = { .m = m, .query = query, .what = query->what, .id = &query->id, .volume = query->volume };
        DeleteJob *j = NULL;
        size_t first = 0, last;

        if (r >= 0 && query->by_rules)
                r = match_by_rules(rows, &q, &query->rules, !query->call);
        for (size_t i = 0; r >= 0 && !query->by_rules && i < rows->n; i++)
                r = match_victim(&rows->rows[i], &q);
        if (r < 0)
                goto fail;
        if (q.n == 0 && query->by_rules) {
                /* the rules keep every copy: nothing to do, 0 deleted */
                admin_query_answer(query, &(Answer) { .kind = ANSWER_NUMBER, .number = 0 });
                victims_free(&q);
                return;
        }
        if (q.n == 0) {
                admin_query_answer_hresult(query, q.busy ? VSS_E_BAD_STATE : VSS_E_OBJECT_NOT_FOUND,
                                           q.busy ? "Those shadow copies belong to a session that is still running"
                                                  : "No such shadow copy");
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
        j->n_definite = query->by_rules ? q.n_definite : j->n;
        if (q.newest_path && j->n_definite < j->n) {
                j->newest_path = TAKE_PTR(q.newest_path);
                j->volume = strdup(query->volume);
                if (!j->volume)
                        log_msg("retention: %s: out of memory, no room made", query->volume);
        }
        if (!j->volume)
                while (j->n > j->n_definite) /* no room to make: only what the rules chose */
                        free(j->v[--j->n].snapshot_path);
        victims_free(&q);
        r = worker_start(m, "delete shadows", NULL, m->cfg.provider_step_timeout_usec, delete_run, delete_done, j,
                         NULL);
        if (r < 0) {
                delete_job_free(j);
                if (asprintf(&why, "Cannot start the deletion: %s", strerror(-r)) < 0) {
                        why = NULL;
                        admin_query_answer_errno(query, -ENOMEM);
                        return;
                }
                if (!query->call)
                        log_msg("retention: %s: %s", strempty(query->volume), why);
                admin_query_answer_hresult(query, VSS_E_UNEXPECTED_PROVIDER_ERROR, why);
        }
        return; /* else delete_done() answers */
fail:
        victims_free(&q);
        if (!query->call)
                log_msg("retention: %s: %s", strempty(query->volume), strerror(-r));
        admin_query_answer_errno(query, r);
}

int admin_delete_shadows(Manager *m, Pending *call, const char *what, const vss_id *id, const char *volume,
                         bool oldest, sd_bus_error *error) {
        _cleanup_(pending_dropp) Pending *p = call; /* taken: dropped unanswered on failure */
        bool by_volume = streq_ptr(what, "for");
        AdminQuery *q;

        if (!streq_ptr(what, "shadow") && !streq_ptr(what, "set") && !by_volume && !streq_ptr(what, "all"))
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG, "Delete what? shadow, set, for or all");
        if (by_volume && (!volume || volume[0] != '/'))
                return volume_not_absolute(error);
        q = admin_query_for(m, TAKE_PTR(p), by_volume ? volume : NULL, true);
        if (!q)
                return -ENOMEM;
        q->oldest = oldest;
        if (id)
                q->id = *id;
        q->what = strdup(what);
        if (!q->what) {
                admin_query_free(q);
                return -ENOMEM;
        }
        return admin_query_list(q, shadows_to_delete);
}

/* ---- retention (issue 12 §2) -------------------------------------------------- */

/* A query by rules for @volume (canonical when it exists); @call NULL: none to answer. */
static int delete_by_rules(Manager *m, Pending *call, const char *volume, const lvss_retention_rules *rules) {
        /* A call names the volume as the user wrote it (as DeleteShadows); after a new copy it is
         * canonical already (no file system access on the loop then). */
        AdminQuery *q = admin_query_for(m, call, volume, call != NULL);

        if (!q)
                return -ENOMEM;
        q->by_rules = true;
        q->rules = *rules;
        q->what = strdup("for");
        if (!q->what) {
                admin_query_free(q);
                return -ENOMEM;
        }
        return admin_query_list(q, shadows_to_delete);
}

int admin_delete_shadows_keep(Manager *m, Pending *call, const char *volume, uint32_t keep,
                              sd_bus_error *error) {
        _cleanup_(pending_dropp) Pending *p = call; /* taken: dropped unanswered on failure */
        lvss_retention_rules rules = { .keep_newest = keep };

        if (!volume || volume[0] != '/')
                return volume_not_absolute(error);
        if (keep < 1)
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG,
                                                  "Keep at least one shadow copy (to delete them all, delete "
                                                  "shadows for the volume)");
        return delete_by_rules(m, TAKE_PTR(p), volume, &rules);
}

void admin_apply_retention(Manager *m, const char *volume) {
        const VolumePolicy *v = config_volume_policy(&m->cfg, volume);
        int r;

        /* rules, or a storage limit to make room under */
        if (!v || (!lvss_retention_rules_set(&v->rules) && !v->max_bytes && !v->max_percent) || !m->catalog_queue)
                return;
        r = delete_by_rules(m, NULL, volume, &v->rules);
        if (r < 0)
                log_msg("retention: %s: cannot start: %s", volume, strerror(-r));
}

/* ---- shadow storage (issue 12 §2: vssadmin list / resize shadowstorage) ------------ */

/*
 * ListShadowStorage: the volumes with a copy-provider limit or copy-provider
 * copies in the catalog (or the one asked for), and for each what its copies
 * use (walked in a worker: a storage area may hold many files), what is
 * allocated (the copy provider allocates nothing ahead: the same) and the
 * maximum. ResizeShadowStorage: the limit goes into the catalog first (it
 * survives restarts and wins over lvssd.conf), then into the provider.
 */
typedef struct StorageJob {
        Manager *m;
        AdminQuery *query;
        char **volumes;
} StorageJob;

static void storage_job_free(StorageJob *j) {
        if (!j)
                return;
        strv_free(j->volumes);
        free(j);
}

static int storage_run(int fd, void *userdata) {
        StorageJob *j = userdata;
        lvss_provider *copy = manager_provider_by_id(j->m, &LVSS_PROVIDER_COPY_ID);

        for (char **v = j->volumes; v && *v; v++) {
                uint64_t out[2] = { UINT64_MAX, 0 };

                if (copy && lvss_provider_copy_usage(copy, *v, &out[0], &out[1]) < 0)
                        out[0] = UINT64_MAX;
                if (worker_write(fd, out, sizeof out) < 0)
                        return 1;
        }
        return 0;
}

static void storage_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        StorageJob *j = userdata;
        AdminQuery *query = j->query;
        lvss_provider *copy = manager_provider_by_id(j->m, &LVSS_PROVIDER_COPY_ID);
        size_t n = strv_length(j->volumes);
        AnswerStorage *vols = NULL;
        char *why = NULL;
        int r = k;

        if (r == 0 && size != n * 2 * sizeof(uint64_t))
                r = -EPROTO;
        if (r == 0 && n > 0) {
                vols = calloc(n, sizeof *vols);
                if (!vols)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                uint64_t v[2], bytes = 0;
                unsigned pct = 0;
                const char *lv = NULL;

                memcpy(v, out + i * sizeof v, sizeof v);
                for (size_t l = 0; copy && lvss_provider_copy_limit_at(copy, l, &lv, &bytes, &pct) == 0; l++)
                        if (streq_ptr(lv, j->volumes[i]))
                                break;
                if (!copy || !streq_ptr(lv, j->volumes[i]))
                        pct = 0;
                /* used and allocated (UINT64_MAX: could not be added up), maximum in bytes (0: none), percent */
                vols[i] = (AnswerStorage) { .volume = j->volumes[i], .used = v[0], .allocated = v[0],
                                            .max_bytes = v[1], .max_percent = pct };
        }
        if (r == 0)
                admin_query_answer(query, &(Answer) { .kind = ANSWER_STORAGE, .storage = vols, .n_storage = n });
        else if (asprintf(&why, "Cannot add up the shadow storage: %s",
                          k == -ETIME ? "the worker did not finish in time" : strerror(-r)) < 0)
                admin_query_answer_errno(query, -ENOMEM);
        else
                admin_query_answer_hresult(query, VSS_E_UNEXPECTED_PROVIDER_ERROR, why);
        free(why);
        free(vols);
        storage_job_free(j);
}

static bool listed_already(char **l, const char *s) {
        for (; l && *l; l++)
                if (streq_ptr(*l, s))
                        return true;
        return false;
}

static void storage_listed(int r, void *data, void *userdata) {
        AdminQuery *query = userdata;
        const lvss_catalog_snapshot_list *rows = data;
        Manager *m = query->m;
        lvss_provider *copy = manager_provider_by_id(m, &LVSS_PROVIDER_COPY_ID);
        StorageJob *j = NULL;
        const char *lv;
        uint64_t bytes;
        unsigned pct;

        j = calloc(1, sizeof *j);
        if (!j)
                r = -ENOMEM;
        if (r >= 0 && query->volume)
                r = strv_push(&j->volumes, query->volume);
        for (size_t l = 0; r >= 0 && !query->volume && copy &&
                           lvss_provider_copy_limit_at(copy, l, &lv, &bytes, &pct) == 0; l++)
                if (!listed_already(j->volumes, lv))
                        r = strv_push(&j->volumes, lv);
        for (size_t i = 0; r >= 0 && !query->volume && i < rows->n; i++) {
                const lvss_catalog_snapshot *cs = &rows->rows[i];

                if (cs->volume && vss_id_equal(&cs->provider_id, &LVSS_PROVIDER_COPY_ID) &&
                    !listed_already(j->volumes, cs->volume))
                        r = strv_push(&j->volumes, cs->volume);
        }
        if (r >= 0) {
                j->m = m;
                j->query = query;
                r = worker_start(m, "list shadowstorage", NULL, m->cfg.provider_step_timeout_usec, storage_run,
                                 storage_done, j, NULL);
        }
        if (r < 0) {
                storage_job_free(j);
                admin_query_answer_errno(query, r);
        }
}

int admin_list_shadow_storage(Manager *m, Pending *call, const char *volume, sd_bus_error *error) {
        _cleanup_(pending_dropp) Pending *p = call; /* taken: dropped unanswered on failure */
        AdminQuery *q;

        if (volume && *volume && volume[0] != '/')
                return volume_not_absolute(error);
        q = admin_query_for(m, TAKE_PTR(p), volume && *volume ? volume : NULL, true);
        if (!q)
                return -ENOMEM;
        return admin_query_list(q, storage_listed);
}

typedef struct StorageLimit {
        char *volume;
        uint64_t max_bytes;
        unsigned max_percent;
} StorageLimit;

static void storage_limit_free(void *p) {
        StorageLimit *l = p;

        if (l)
                free(l->volume);
        free(l);
}

static int storage_limit_write(lvss_catalog *c, void *data) {
        StorageLimit *l = data;

        return lvss_catalog_storage_limit_set(c, l->volume, l->max_bytes, l->max_percent);
}

static void storage_limit_written(int r, void *data, void *userdata) {
        AdminQuery *q = userdata;
        StorageLimit *l = data;
        lvss_provider *copy = manager_provider_by_id(q->m, &LVSS_PROVIDER_COPY_ID);

        if (r >= 0 && copy)
                r = lvss_provider_copy_set_limit(copy, l->volume, l->max_bytes, l->max_percent);
        if (r >= 0) /* issue 11 §5: no session's worker runs a step with the old limit */
                worker_providers_changed();
        if (r < 0) {
                log_msg("resize shadowstorage %s: %s", l->volume, strerror(-r));
                admin_query_answer_errno(q, r);
        } else {
                if (l->max_bytes)
                        log_msg("shadow storage of %s: at most %" PRIu64 " bytes (stored; wins over lvssd.conf)",
                                l->volume, l->max_bytes);
                else if (l->max_percent)
                        log_msg("shadow storage of %s: at most %u%% of the storage area's file system (stored; wins "
                                "over lvssd.conf)", l->volume, l->max_percent);
                else
                        log_msg("shadow storage of %s: unbounded (stored; wins over lvssd.conf)", l->volume);
                admin_query_answer(q, &(Answer) { .kind = ANSWER_EMPTY });
        }
}

int admin_resize_shadow_storage(Manager *m, Pending *call, const char *volume, const char *max_size,
                                sd_bus_error *error) {
        _cleanup_(pending_dropp) Pending *p = call; /* taken: dropped unanswered on failure */
        _cleanup_(admin_query_freep) AdminQuery *q = NULL;
        StorageLimit *l;
        int r;

        if (!volume || volume[0] != '/')
                return volume_not_absolute(error);
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        if (lvss_parse_size(max_size, &l->max_bytes, &l->max_percent) < 0 || l->max_bytes > INT64_MAX) {
                storage_limit_free(l);
                return lvss_bus_error_set_hresult(error, VSS_E_INVALIDARG,
                                                  "A maximum size is bytes (with K, M, G or T), N%% (1 to 100) or "
                                                  "UNBOUNDED, not '%s'", strempty(max_size));
        }
        l->volume = volume_dup_canonical(volume);
        q = admin_query_new(m, TAKE_PTR(p));
        if (!l->volume || !q) {
                storage_limit_free(l);
                return -ENOMEM;
        }
        r = lvss_catalog_queue_submit(m->catalog_queue, storage_limit_write, l, storage_limit_free, true,
                                      storage_limit_written, q);
        if (r < 0)
                return r;
        TAKE_PTR(q);
        return 1;
}

/* ---- storage full at DoSnapshotSet (issue 12 §2) ---------------------------------- */

/*
 * The copy provider refused a set in begin_prepare with
 * VSS_E_INSUFFICIENT_STORAGE (a volume's copies plus the new one would pass
 * its MaxSize=). Before the set fails, the oldest copies of those volumes
 * that no session is using go, as far as the new copies need room, and the
 * session tries begin_prepare once more (snapshot.c, set_prepared()).
 *
 * The rows are read through the catalog thread; the candidates are the
 * persistent, created copy-provider copies of the volumes whose session is
 * not running (a running session's copies, the set being made included, are
 * in use). In the deletion worker, per volume: what the new copy needs (the
 * provider's own estimate, lvss_provider_copy_tree_bytes() of the volume, as
 * in its begin_prepare), what the copies use and the maximum; the room to
 * make goes to lvss_retention_make_room(). Everything is computed before
 * anything is deleted: when one volume cannot fit even without all of its
 * unused copies, nothing is deleted at all (the set fails anyway). The
 * child writes one int32 per candidate (DELETE_KEPT, 0 deleted, or a
 * negative errno) and one int32 verdict (0: room made, -ENOSPC). The loop
 * removes the rows of the deleted copies and, once they are gone, calls
 * @done with the verdict.
 */
typedef struct RoomJob {
        Manager *m;
        vss_id session_id;
        admin_room_done_t done;
        char **volumes;
        Victim *v;
        size_t *vol; /* the index in @volumes of each victim */
        size_t n;
} RoomJob;

static void room_job_free(RoomJob *j) {
        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++)
                free(j->v[i].snapshot_path);
        free(j->v);
        free(j->vol);
        strv_free(j->volumes);
        free(j);
}

/* In the child: which victims of volume @vi go (into @go); 0, or -ENOSPC when even all of them
 * would not make room (nothing chosen then). */
static int room_choose(RoomJob *j, size_t vi, bool *go) {
        lvss_provider *copy = manager_provider_by_id(j->m, &LVSS_PROVIDER_COPY_ID);
        _cleanup_(freep) lvss_retention_copy *c = calloc(j->n ? j->n : 1, sizeof *c);
        _cleanup_(freep) uint64_t *sizes = calloc(j->n ? j->n : 1, sizeof *sizes);
        _cleanup_(freep) size_t *idx = calloc(j->n ? j->n : 1, sizeof *idx);
        const char *volume = j->volumes[vi];
        uint64_t used = 0, max = 0, need = 0, freed = 0;
        size_t k = 0;
        int r;

        if (!copy || !c || !sizes || !idx)
                return -ENOMEM;
        r = lvss_provider_copy_usage(copy, volume, &used, &max);
        if (r >= 0)
                r = lvss_provider_copy_tree_bytes(volume, &need);
        if (r < 0) {
                lvss_storage_area_log("copy", "%s: cannot add up the space to make room: %s", volume, strerror(-r));
                return r;
        }
        if (max == 0 || (used <= max && need <= max - used))
                return 0; /* no limit, or room enough already */
        for (size_t i = 0; i < j->n; i++) {
                if (j->vol[i] != vi)
                        continue;
                c[k].created = (int64_t) (j->v[i].created_usec / USEC_PER_SEC);
                if (lvss_provider_copy_tree_bytes(j->v[i].snapshot_path, &sizes[k]) < 0)
                        sizes[k] = 0;
                idx[k++] = i;
        }
        if (need > max || lvss_retention_make_room(c, sizes, k, used + need - max, &freed) < 0) {
                freed = 0;
                for (size_t i = 0; i < k; i++)
                        freed += sizes[i];
                lvss_storage_area_log("copy", "%s: no room for the new shadow copy even without the %zu older "
                                      "cop%s no session uses: maximum %" PRIu64 " bytes, used %" PRIu64 ", needed "
                                      "%" PRIu64 ", the older copies hold %" PRIu64 "; nothing deleted",
                                      volume, k, k == 1 ? "y" : "ies", max, used, need, freed);
                return -ENOSPC;
        }
        for (size_t i = 0; i < k; i++)
                go[idx[i]] = c[i].remove;
        return 0;
}

static int room_run(int fd, void *userdata) {
        RoomJob *j = userdata;
        _cleanup_(freep) bool *go = calloc(j->n ? j->n : 1, sizeof *go);
        int32_t verdict = 0;

        if (!go)
                return 1;
        for (size_t vi = 0; j->volumes[vi] && verdict == 0; vi++) {
                int r = room_choose(j, vi, go);
                if (r < 0)
                        verdict = r == -ENOSPC ? -ENOSPC : (int32_t) r;
        }
        for (size_t i = 0; i < j->n; i++) {
                lvss_provider *p = manager_provider_by_id(j->m, &j->v[i].provider_id);
                int32_t r = DELETE_KEPT;

                if (verdict == 0 && go[i] && p)
                        r = p->ops->delete_snapshot(p, j->v[i].snapshot_path);
                if (worker_write(fd, &r, sizeof r) < 0)
                        return 1;
        }
        return worker_write(fd, &verdict, sizeof verdict) < 0 ? 1 : 0;
}

typedef struct RoomAnswer {
        Manager *m;
        vss_id session_id;
        admin_room_done_t done;
        int verdict;
} RoomAnswer;

static void room_rows_gone(int r, void *data, void *userdata) {
        RoomAnswer *a = userdata;

        a->done(a->m, &a->session_id, a->verdict);
        free(a);
}

static void room_done(Worker *w, int k, const uint8_t *out, size_t size, void *userdata) {
        RoomJob *j = userdata;
        Manager *m = j->m;
        RoomAnswer *a;
        int32_t verdict = -EPROTO;

        if (k == 0 && size != (j->n + 1) * sizeof(int32_t))
                k = -EPROTO;
        if (k == 0)
                memcpy(&verdict, out + j->n * sizeof verdict, sizeof verdict);
        else
                log_msg("storage full: the worker making room failed: %s", strerror(-k));
        for (size_t i = 0; k == 0 && i < j->n; i++) {
                char sid[VSS_ID_STRING_MAX];
                int32_t e;

                memcpy(&e, out + i * sizeof e, sizeof e);
                if (e == DELETE_KEPT)
                        continue;
                vss_id_format(&j->v[i].snapshot_id, sid);
                if (e < 0) {
                        log_msg("storage full: %s: cannot delete %s (%s): %s", j->volumes[j->vol[i]], sid,
                                j->v[i].snapshot_path, strerror(-e));
                        continue; /* stays listed: it still exists */
                }
                log_msg("storage full: %s: deleted %s (%s), the oldest copy no session uses, to make room",
                        j->volumes[j->vol[i]], sid, j->v[i].snapshot_path);
                (void) lvss_catalog_queue_snapshot_remove(m->catalog_queue, &j->v[i].snapshot_id, NULL, NULL);
        }
        metrics_changed(m->metrics);
        a = malloc(sizeof *a);
        if (!a) {
                j->done(m, &j->session_id, -ENOMEM);
                room_job_free(j);
                return;
        }
        *a = (RoomAnswer) { .m = m, .session_id = j->session_id, .done = j->done, .verdict = k < 0 ? k : verdict };
        /* the session goes on once the rows are gone */
        if (lvss_catalog_queue_barrier(m->catalog_queue, room_rows_gone, a) < 0) {
                a->done(m, &a->session_id, a->verdict);
                free(a);
        }
        room_job_free(j);
}

static void room_listed(int r, void *data, void *userdata) {
        RoomJob *j = userdata;
        const lvss_catalog_snapshot_list *rows = data;

        for (size_t i = 0; r >= 0 && i < rows->n; i++) {
                const lvss_catalog_snapshot *cs = &rows->rows[i];
                size_t vi = 0;

                if (!cs->persistent || !streq_ptr(cs->state, "created") || !cs->snapshot_path ||
                    !vss_id_equal(&cs->provider_id, &LVSS_PROVIDER_COPY_ID) || session_live(j->m, &cs->session_id))
                        continue;
                while (j->volumes[vi] && !streq_ptr(j->volumes[vi], cs->volume))
                        vi++;
                if (!j->volumes[vi])
                        continue;
                Victim *v = reallocarray(j->v, j->n + 1, sizeof *v);
                size_t *vol = v ? reallocarray(j->vol, j->n + 1, sizeof *vol) : NULL;
                if (v)
                        j->v = v;
                if (!v || !vol) {
                        r = -ENOMEM;
                        break;
                }
                j->vol = vol;
                j->v[j->n] = (Victim) {
                        .snapshot_id = cs->snapshot_id,
                        .provider_id = cs->provider_id,
                        .snapshot_path = strdup(cs->snapshot_path),
                        .created_usec = cs->created_usec,
                };
                j->vol[j->n] = vi;
                if (!j->v[j->n++].snapshot_path)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = worker_start(j->m, "make room", NULL, j->m->cfg.provider_step_timeout_usec, room_run, room_done, j,
                                 NULL);
        if (r < 0) {
                log_msg("storage full: cannot make room: %s", strerror(-r));
                j->done(j->m, &j->session_id, r);
                room_job_free(j);
        }
}

int admin_make_room(Manager *m, const vss_id *session_id, char *const *volumes, admin_room_done_t done) {
        RoomJob *j;
        int r;

        if (!m->catalog_queue || !volumes || !volumes[0])
                return -EINVAL;
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (RoomJob) { .m = m, .session_id = *session_id, .done = done, .volumes = strv_copy(volumes) };
        if (!j->volumes) {
                free(j);
                return -ENOMEM;
        }
        r = lvss_catalog_queue_list_snapshots(m->catalog_queue, room_listed, j);
        if (r < 0)
                room_job_free(j);
        return r;
}

const StorageHooks admin_storage_hooks = {
        .apply_retention = admin_apply_retention,
        .make_room = admin_make_room,
};

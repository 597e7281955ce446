/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The providers lvssd offers, and which one takes a volume.
 *
 * copy always exists; btrfs exists when libbtrfsutil works; external (the
 * sets of external sessions, made outside) always exists; every
 * ExecProvider=NAME:PROGRAM line adds an exec provider. A volume added
 * without a provider id goes to DefaultProvider= when that provider takes
 * it, else to the first that does in the order btrfs (O(1) snapshots), copy
 * (any directory). Exec providers are used only when asked for by id or
 * named as the default: their program decides what it supports, and a
 * surprise LVM snapshot is no one's idea of a default.
 */

#include <stdio.h>
#include <stdlib.h>

#include "manager.h"
#include "providers.h"

static int add_provider(Manager *m, lvss_provider *p) {
        lvss_provider **a = reallocarray(m->providers, m->n_providers + 1, sizeof *a);
        if (!a) {
                lvss_provider_free(p);
                return -ENOMEM;
        }
        m->providers = a;
        m->providers[m->n_providers++] = p;
        return 0;
}

static int apply_stored_limit(const char *volume, uint64_t max_bytes, unsigned max_percent, void *userdata) {
        int r = lvss_provider_copy_set_limit(userdata, volume, max_bytes, max_percent);

        if (r < 0)
                log_msg("shadow storage limit of %s from the catalog: %s", volume, strerror(-r));
        return 0;
}

/*
 * issue 10 part 2: the provider `external`. The snapshot is made outside (hypervisor, cloud); only
 * external sessions (external.c) use it. It makes nothing: its set is recorded in the catalog and
 * deleting it forgets the record. It knows nothing of the session that uses it.
 */

static bool ext_is_volume_supported(lvss_provider *p, const char *volume) {
        return volume && volume[0] == '/';
}

static int ext_begin_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        for (size_t i = 0; i < n; i++) {
                free(snaps[i]->snapshot_path);
                if (asprintf(&snaps[i]->snapshot_path, "external:%s", snaps[i]->volume) < 0) {
                        snaps[i]->snapshot_path = NULL;
                        return lvss_provider_fail(ret_hr, -ENOMEM);
                }
                snaps[i]->atomic = false; /* not known: the hypervisor decides */
        }
        return 0;
}

static int ext_nothing(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        return 0;
}

static int ext_abort(lvss_provider *p, lvss_snapshot *const *snaps, size_t n) {
        return 0;
}

static int ext_delete(lvss_provider *p, const char *snapshot_path) {
        return 0; /* forgetting the catalog row is all there is */
}

static const lvss_provider_ops external_ops = {
        .name = "external",
        .id = EXTERNAL_PROVIDER_ID,
        .type = "external",
        .version = "1.0",
        .is_volume_supported = ext_is_volume_supported,
        .begin_prepare = ext_begin_prepare,
        .end_prepare = ext_nothing,
        .pre_commit = ext_nothing,
        .commit = ext_nothing,
        .post_commit = ext_nothing,
        .abort = ext_abort,
        .delete_snapshot = ext_delete,
};

static int external_provider_new(lvss_provider **ret) {
        lvss_provider *p = calloc(1, sizeof *p);

        if (!p)
                return -ENOMEM;
        p->ops = &external_ops;
        *ret = p;
        return 0;
}

int manager_providers_init(Manager *m) {
        lvss_provider *p;
        int r;

        r = lvss_provider_copy_new(m->cfg.storage_dir, &p);
        if (r < 0) {
                log_msg("cannot set up the copy provider: %s", strerror(-r));
                return r;
        }
        /* issue 12 §2: MaxSize= of the [Volume PATH] sections */
        for (size_t i = 0; i < m->cfg.n_volumes; i++) {
                const VolumePolicy *v = &m->cfg.volumes[i];

                if (!v->max_bytes && !v->max_percent)
                        continue;
                r = lvss_provider_copy_set_limit(p, v->volume, v->max_bytes, v->max_percent);
                if (r < 0) {
                        log_msg("[Volume %s] MaxSize: %s", v->volume, strerror(-r));
                        lvss_provider_free(p);
                        return r;
                }
        }
        /* ...and those set at run time (vssadmin resize shadowstorage), which win: read once, at
         * start-up, before the loop runs */
        if (m->catalog) {
                r = lvss_catalog_foreach_storage_limit(m->catalog, apply_stored_limit, p);
                if (r < 0)
                        log_msg("cannot read the shadow storage limits from the catalog: %s", strerror(-r));
        }
        r = add_provider(m, p);
        if (r < 0)
                return r;

        r = lvss_provider_btrfs_new(m->cfg.storage_dir, &p);
        if (r < 0)
                log_msg("btrfs provider not available: %s", strerror(-r));
        else {
                r = add_provider(m, p);
                if (r < 0)
                        return r;
        }

        /* issue 10 part 2: the snapshot is made outside (hypervisor, cloud); only external sessions use it */
        r = external_provider_new(&p);
        if (r < 0)
                return r;
        r = add_provider(m, p);
        if (r < 0)
                return r;

        for (char **e = m->cfg.exec_providers; e && *e; e++) {
                _cleanup_(freep) char *name = strdup(*e);
                char *colon;

                if (!name)
                        return -ENOMEM;
                colon = strchr(name, ':');
                if (!colon || colon == name || colon[1] != '/') {
                        log_msg("ExecProvider=%s: expected NAME:/absolute/program", *e);
                        return -EINVAL;
                }
                *colon = 0;
                if (manager_provider_by_name(m, name)) {
                        log_msg("ExecProvider=%s: a provider named %s exists already", *e, name);
                        return -EEXIST;
                }
                r = lvss_provider_exec_new(name, colon + 1, m->cfg.storage_dir, m->cfg.event_timeout_usec, &p);
                if (r < 0) {
                        log_msg("ExecProvider=%s: %s", *e, strerror(-r));
                        return r;
                }
                r = add_provider(m, p);
                if (r < 0)
                        return r;
        }

        /* FreezeFilesystems=NAME...: exec providers only (issue 10 part 3) */
        for (char **f = m->cfg.freeze_providers; f && *f; f++) {
                p = manager_provider_by_name(m, *f);
                if (!p || !streq_ptr(p->ops->type, "external")) {
                        log_msg("FreezeFilesystems=%s: no exec provider of that name (ExecProvider=NAME:PROGRAM)", *f);
                        return -ENOENT;
                }
                r = lvss_provider_exec_set_freeze(p, true);
                if (r < 0)
                        return r;
                log_msg("exec provider %s: freezes the file systems of its volumes around commit", *f);
        }

        if (m->cfg.default_provider) {
                m->default_provider = manager_provider_by_name(m, m->cfg.default_provider);
                if (!m->default_provider) {
                        log_msg("DefaultProvider=%s: no such provider", m->cfg.default_provider);
                        return -ENOENT;
                }
        }
        return 0;
}

void manager_providers_done(Manager *m) {
        for (size_t i = 0; i < m->n_providers; i++)
                lvss_provider_free(m->providers[i]);
        m->providers = mfree(m->providers);
        m->n_providers = 0;
        m->default_provider = NULL;
}

lvss_provider *manager_provider_by_id(Manager *m, const vss_id *id) {
        for (size_t i = 0; i < m->n_providers; i++)
                if (vss_id_equal(&m->providers[i]->ops->id, id))
                        return m->providers[i];
        return NULL;
}

lvss_provider *manager_provider_by_name(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_providers; i++)
                if (streq_ptr(m->providers[i]->ops->name, name))
                        return m->providers[i];
        return NULL;
}

static bool takes(lvss_provider *p, const char *volume) {
        return p && p->ops->is_volume_supported(p, volume);
}

lvss_provider *manager_pick_provider(Manager *m, const vss_id *provider_id, const char *volume, vss_id *ret_id) {
        lvss_provider *p = NULL;

        if (provider_id && !vss_id_is_null(provider_id)) {
                p = manager_provider_by_id(m, provider_id);
                if (!takes(p, volume))
                        return NULL;
        } else if (takes(m->default_provider, volume))
                p = m->default_provider;
        else if (takes(manager_provider_by_name(m, "btrfs"), volume))
                p = manager_provider_by_name(m, "btrfs");
        else if (takes(manager_provider_by_name(m, "copy"), volume))
                p = manager_provider_by_name(m, "copy");
        if (!p)
                return NULL;
        *ret_id = p->ops->id;
        return p;
}

const char *provider_volumes_text(const lvss_provider *p) {
        if (streq_ptr(p->ops->name, "external") && !p->data)
                return "none of its own: records sets made outside (lvss-freeze-hook)";
        if (streq_ptr(p->ops->type, "external"))
                return "the volumes its program accepts";
        if (streq_ptr(p->ops->name, "btrfs"))
                return "btrfs subvolumes (read-only snapshots, O(1))";
        if (streq_ptr(p->ops->name, "copy"))
                return "any directory (reflink clone where the file system allows, else a full copy)";
        return "";
}

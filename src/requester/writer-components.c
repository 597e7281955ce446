/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * From the internal form of a Backup Components Document to the objects of
 * IVssBackupComponents::GetWriterComponents (IVssWriterComponentsExt and
 * IVssComponent). The objects are the writer side's (writer/components.h),
 * marked read-only and carrying the writer's identity, so a requester and a
 * writer read a component with the same getters.
 */

#include "basic/util.h"
#include "writer-components.h"
#include "writer/components.h"

void lvss_writer_components_array_free(vss_writer_components **a, unsigned n) {
        for (unsigned i = 0; a && i < n; i++)
                lvss_writer_components_free(a[i]);
        free(a);
}

static int dup_or_null(const char *s, char **ret) {
        *ret = NULL;
        if (!s || !*s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int component_from_bcd(const lvss_bcd_component *bc, vss_component **ret) {
        vss_component *c;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->type = bc->type;
        c->backup_succeeded = bc->backup_succeeded;
        c->selected_for_restore = bc->selected_for_restore;
        /* Every component of a document was part of the backup (in component
         * mode: selected); for a restore, IsSelectedForRestore tells more. */
        c->selected = true;
        c->file_restore_status = bc->file_restore_status;
        c->logical_path = strdup(strempty(bc->logical_path));
        c->name = strdup(strempty(bc->name));
        r = c->logical_path && c->name ? 0 : -ENOMEM;
        if (r >= 0)
                r = dup_or_null(bc->backup_metadata, &c->backup_metadata);
        if (r >= 0)
                r = dup_or_null(bc->backup_stamp, &c->backup_stamp);
        if (r >= 0)
                r = dup_or_null(bc->previous_backup_stamp, &c->previous_backup_stamp);
        if (r >= 0)
                r = dup_or_null(bc->restore_metadata, &c->restore_metadata);
        if (r >= 0)
                r = dup_or_null(bc->pre_restore_failure_msg, &c->pre_restore_failure_msg);
        if (r >= 0)
                r = dup_or_null(bc->post_restore_failure_msg, &c->post_restore_failure_msg);
        if (r < 0) {
                lvss_component_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* A new set for one writer, holding every component of the document that names it. */
static int set_from_bcd(const lvss_bcd *bcd, const vss_id *instance_id, const vss_id *writer_id,
                        const lvss_bcd_writer *w, vss_writer_components **ret) {
        _cleanup_(lvss_writer_components_freep) vss_writer_components *set = NULL;
        int r;

        r = lvss_writer_components_new(true, &set);
        if (r < 0)
                return r;
        set->has_writer_info = true;
        set->instance_id = *instance_id;
        set->writer_id = *writer_id;
        if (w) {
                set->writer_name = strdup(strempty(w->writer_name));
                if (!set->writer_name)
                        return -ENOMEM;
                r = dup_or_null(w->instance_name, &set->instance_name);
                if (r >= 0)
                        r = dup_or_null(w->metadata_xml, &set->metadata_xml);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *bc = &bcd->components[i];
                vss_component *c = NULL;

                if (!vss_id_equal(&bc->instance_id, instance_id) || !vss_id_equal(&bc->writer_id, writer_id))
                        continue;
                r = component_from_bcd(bc, &c);
                if (r < 0)
                        return r;
                r = lvss_writer_components_add(set, c);
                if (r < 0) {
                        lvss_component_free(c);
                        return r;
                }
        }
        *ret = TAKE_PTR(set);
        return 0;
}

static bool writer_listed(const lvss_bcd *bcd, size_t n_sets_before, const vss_id *instance_id,
                          const vss_id *writer_id) {
        for (size_t i = 0; i < bcd->n_writers; i++)
                if (vss_id_equal(&bcd->writers[i].instance_id, instance_id) &&
                    vss_id_equal(&bcd->writers[i].writer_id, writer_id))
                        return true;
        /* an unlisted writer already given a set by an earlier component */
        for (size_t i = 0; i < n_sets_before; i++)
                if (vss_id_equal(&bcd->components[i].instance_id, instance_id) &&
                    vss_id_equal(&bcd->components[i].writer_id, writer_id))
                        return true;
        return false;
}

int lvss_writer_components_from_bcd(const lvss_bcd *bcd, vss_writer_components ***ret, unsigned *ret_n) {
        vss_writer_components **a;
        size_t n = 0, max;
        int r = 0;

        if (!bcd || !ret || !ret_n)
                return -EINVAL;
        max = bcd->n_writers + bcd->n_components;
        if (max >= UINT32_MAX / 2)
                return -E2BIG;

        a = calloc(max ? max : 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < bcd->n_writers; i++) {
                const lvss_bcd_writer *w = &bcd->writers[i];
                r = set_from_bcd(bcd, &w->instance_id, &w->writer_id, w, &a[n]);
                if (r >= 0)
                        n++;
        }
        for (size_t i = 0; r >= 0 && i < bcd->n_components; i++) {
                const lvss_bcd_component *c = &bcd->components[i];
                if (writer_listed(bcd, i, &c->instance_id, &c->writer_id))
                        continue;
                r = set_from_bcd(bcd, &c->instance_id, &c->writer_id, NULL, &a[n]);
                if (r >= 0)
                        n++;
        }
        if (r < 0) {
                lvss_writer_components_array_free(a, (unsigned) n);
                return r;
        }
        *ret = a;
        *ret_n = (unsigned) n;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Writer components (IVssWriterComponents / IVssComponent).
 *
 * A handler gets the writer's part of the Backup Components Document as a
 * small array of components decoded from the Event's context. What the
 * writer may set (backup metadata, backup stamp, restore metadata, restore
 * failure messages) is kept in the same objects and the whole array is sent
 * back in the reply: the coordinator owns the document and merges. From
 * BackupComplete on the document is read-only (vss-reference.md §6), so the
 * setters refuse there with VSS_E_BAD_STATE.
 *
 * Strings cross D-Bus, which carries only valid UTF-8: the setters check it,
 * so one bad string cannot make the whole Event reply unsendable.
 */

#include "basic/utf8.h"
#include "basic/util.h"
#include "components.h"
#include "protocol/component-wire.h"

vss_component *lvss_component_free(vss_component *c) {
        if (!c)
                return NULL;
        free(c->logical_path);
        free(c->name);
        free(c->backup_metadata);
        free(c->backup_stamp);
        free(c->previous_backup_stamp);
        free(c->restore_metadata);
        free(c->pre_restore_failure_msg);
        free(c->post_restore_failure_msg);
        free(c);
        return NULL;
}

static void component_freep(vss_component **c) {
        lvss_component_free(*c);
}

vss_writer_components *lvss_writer_components_free(vss_writer_components *c) {
        if (!c)
                return NULL;
        for (unsigned i = 0; i < c->n_items; i++)
                lvss_component_free(c->items[i]);
        free(c->items);
        free(c->writer_name);
        free(c->instance_name);
        free(c->metadata_xml);
        free(c);
        return NULL;
}

int lvss_writer_components_new(bool read_only, vss_writer_components **ret) {
        vss_writer_components *c;

        if (!ret)
                return -EINVAL;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->read_only = read_only;
        *ret = c;
        return 0;
}

int lvss_writer_components_add(vss_writer_components *c, vss_component *item) {
        vss_component **a;

        /* The count travels as "unsigned" through the public API. */
        if (c->n_items >= UINT32_MAX / 2)
                return -E2BIG;
        a = realloc(c->items, (c->n_items + 1) * sizeof *a);
        if (!a)
                return -ENOMEM;
        c->items = a;
        item->owner = c;
        c->items[c->n_items++] = item;
        return 0;
}

/* One component read off the wire becomes a vss_component the handler owns, appended to @list. */
static int component_from_wire(vss_writer_components *list, const lvss_wire_component *w) {
        _cleanup_(component_freep) vss_component *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->type = (vss_component_type) w->type;
        c->selected = w->selected;
        c->backup_succeeded = w->backup_succeeded;
        c->file_restore_status = (vss_file_restore_status) w->file_restore_status;
        /* An absent logical path is "" (none); the name is always there (component-wire.h). */
        c->logical_path = strdup(strempty(w->logical_path));
        c->name = strdup(w->name);
        if (!c->logical_path || !c->name)
                return -ENOMEM;

        struct {
                char **dst;
                const char *v;
        } optional[] = {
                { &c->backup_metadata, w->backup_metadata },
                { &c->backup_stamp, w->backup_stamp },
                { &c->previous_backup_stamp, w->previous_backup_stamp },
                { &c->restore_metadata, w->restore_metadata },
                { &c->pre_restore_failure_msg, w->pre_restore_failure_msg },
                { &c->post_restore_failure_msg, w->post_restore_failure_msg },
        };
        for (size_t i = 0; i < ELEMENTSOF(optional); i++) {
                /* Stored NULL when absent or empty: the getters say "none". */
                if (!optional[i].v || !*optional[i].v)
                        continue;
                *optional[i].dst = strdup(optional[i].v);
                if (!*optional[i].dst)
                        return -ENOMEM;
        }

        r = lvss_writer_components_add(list, c);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 0;
}

int lvss_writer_components_from_wire(const lvss_wire_component *items, size_t n, bool read_only,
                                     vss_writer_components **ret) {
        _cleanup_(lvss_writer_components_freep) vss_writer_components *c = NULL;
        int r;

        if ((n > 0 && !items) || !ret)
                return -EINVAL;

        r = lvss_writer_components_new(read_only, &c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = component_from_wire(c, &items[i]);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

int lvss_writer_components_append_entry(sd_bus_message *m, const vss_writer_components *c) {
        int r;

        if (!m || !c)
                return -EINVAL;

        r = lvss_component_wire_open_list(m);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < c->n_items; i++) {
                const vss_component *item = c->items[i];
                lvss_wire_component w = {
                        .type = (uint32_t) item->type,
                        .logical_path = item->logical_path,
                        .name = item->name,
                        .selected = item->selected,
                        .backup_succeeded = item->backup_succeeded,
                        .backup_metadata = item->backup_metadata,
                        .backup_stamp = item->backup_stamp,
                        .previous_backup_stamp = item->previous_backup_stamp,
                        .restore_metadata = item->restore_metadata,
                        .has_file_restore_status = true,
                        .file_restore_status = (uint32_t) item->file_restore_status,
                        .pre_restore_failure_msg = item->pre_restore_failure_msg,
                        .post_restore_failure_msg = item->post_restore_failure_msg,
                };

                r = lvss_component_wire_append(m, &w);
                if (r < 0)
                        return r;
        }
        return lvss_component_wire_close_list(m);
}

/* ---- public API ---------------------------------------------------------- */

_public_ vss_hresult vss_writer_components_get_count(vss_writer_components *c, unsigned *ret) {
        check_arg(c, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        *ret = c->n_items;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_components_get_component(vss_writer_components *c, unsigned index,
                                                         vss_component **ret) {
        check_arg(c, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        check_arg(index < c->n_items, VSS_E_OBJECT_NOT_FOUND);

        *ret = c->items[index];
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_components_get_writer_info(vss_writer_components *c, vss_id *ret_instance_id,
                                                           vss_id *ret_writer_id) {
        check_arg(c, VSS_E_INVALIDARG);
        check_arg(ret_instance_id, VSS_E_INVALIDARG);
        check_arg(ret_writer_id, VSS_E_INVALIDARG);
        check_arg(c->has_writer_info, VSS_E_OBJECT_NOT_FOUND);

        *ret_instance_id = c->instance_id;
        *ret_writer_id = c->writer_id;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_components_get_writer_name(vss_writer_components *c, const char **ret_writer_name,
                                                           const char **ret_instance_name) {
        check_arg(c, VSS_E_INVALIDARG);
        check_arg(c->has_writer_info && c->writer_name, VSS_E_OBJECT_NOT_FOUND);

        if (ret_writer_name)
                *ret_writer_name = c->writer_name;
        if (ret_instance_name)
                *ret_instance_name = c->instance_name;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_components_get_writer_metadata_xml(vss_writer_components *c, const char **ret_xml) {
        check_arg(c, VSS_E_INVALIDARG);
        check_arg(ret_xml, VSS_E_INVALIDARG);
        check_arg(c->has_writer_info && c->metadata_xml, VSS_E_OBJECT_NOT_FOUND);

        *ret_xml = c->metadata_xml;
        return VSS_S_OK;
}

_public_ const char *vss_component_get_logical_path(vss_component *c) {
        /* VSS: a component without a logical path has none (NULL), not "". */
        return c ? strnull_if_empty(c->logical_path) : NULL;
}

_public_ const char *vss_component_get_name(vss_component *c) {
        return c ? c->name : NULL;
}

_public_ vss_component_type vss_component_get_type(vss_component *c) {
        if (!c || (unsigned) c->type > VSS_CT_FILEGROUP)
                return VSS_CT_UNDEFINED;
        return c->type;
}

_public_ bool vss_component_is_selected(vss_component *c) {
        return c && c->selected;
}

_public_ bool vss_component_get_backup_succeeded(vss_component *c) {
        return c && c->backup_succeeded;
}

/* Setters: NULL is refused; "" clears. */
static vss_hresult component_set_string(vss_component *c, char **field, const char *value) {
        char *copy = NULL;

        check_arg(c, VSS_E_INVALIDARG);
        check_arg(value, VSS_E_INVALIDARG);
        check_arg(lvss_utf8_valid(value), VSS_E_INVALIDARG);
        if (c->owner && c->owner->read_only)
                return VSS_E_BAD_STATE;

        if (*value) {
                copy = strdup(value);
                if (!copy)
                        return VSS_E_OUTOFMEMORY;
        }
        free(*field);
        *field = copy;
        return VSS_S_OK;
}

_public_ vss_hresult vss_component_set_backup_metadata(vss_component *c, const char *metadata) {
        return component_set_string(c, c ? &c->backup_metadata : NULL, metadata);
}

_public_ const char *vss_component_get_backup_metadata(vss_component *c) {
        return c ? c->backup_metadata : NULL;
}

_public_ vss_hresult vss_component_set_backup_stamp(vss_component *c, const char *stamp) {
        return component_set_string(c, c ? &c->backup_stamp : NULL, stamp);
}

_public_ const char *vss_component_get_backup_stamp(vss_component *c) {
        return c ? c->backup_stamp : NULL;
}

_public_ const char *vss_component_get_previous_backup_stamp(vss_component *c) {
        return c ? c->previous_backup_stamp : NULL;
}

_public_ vss_hresult vss_component_set_restore_metadata(vss_component *c, const char *metadata) {
        return component_set_string(c, c ? &c->restore_metadata : NULL, metadata);
}

_public_ const char *vss_component_get_restore_metadata(vss_component *c) {
        return c ? c->restore_metadata : NULL;
}

_public_ vss_hresult vss_component_set_pre_restore_failure_msg(vss_component *c, const char *message) {
        return component_set_string(c, c ? &c->pre_restore_failure_msg : NULL, message);
}

_public_ vss_hresult vss_component_set_post_restore_failure_msg(vss_component *c, const char *message) {
        return component_set_string(c, c ? &c->post_restore_failure_msg : NULL, message);
}

_public_ vss_file_restore_status vss_component_get_file_restore_status(vss_component *c) {
        if (!c || (unsigned) c->file_restore_status > VSS_RS_FAILED)
                return VSS_RS_UNDEFINED;
        return c->file_restore_status;
}

_public_ bool vss_component_is_selected_for_restore(vss_component *c) {
        return c && c->selected_for_restore;
}

_public_ const char *vss_component_get_pre_restore_failure_msg(vss_component *c) {
        return c ? c->pre_restore_failure_msg : NULL;
}

_public_ const char *vss_component_get_post_restore_failure_msg(vss_component *c) {
        return c ? c->post_restore_failure_msg : NULL;
}

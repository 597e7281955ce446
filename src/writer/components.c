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

#include "common/utf8.h"
#include "common/util.h"
#include "components.h"

static vss_component *component_free(vss_component *c) {
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
        component_free(*c);
}

vss_writer_components *lvss_writer_components_free(vss_writer_components *c) {
        if (!c)
                return NULL;
        for (unsigned i = 0; i < c->n_items; i++)
                component_free(c->items[i]);
        free(c->items);
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

static int components_add(vss_writer_components *c, vss_component *item) {
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

/* Enter the variant of a dict entry, which must hold exactly @contents. */
static int enter_variant(sd_bus_message *m, const char *contents) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r == -ENXIO || r == 0)
                return -EBADMSG; /* a known key with another type */
        return r;
}

static int read_variant_basic(sd_bus_message *m, char type, void *p) {
        const char contents[2] = { type, 0 };
        int r;

        r = enter_variant(m, contents);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(m, type, p);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        return sd_bus_message_exit_container(m);
}

/* A string key: stored NULL when empty, unless @keep_empty. */
static int read_variant_string(sd_bus_message *m, bool keep_empty, char **field) {
        const char *s;
        char *copy = NULL;
        int r;

        r = read_variant_basic(m, SD_BUS_TYPE_STRING, &s);
        if (r < 0)
                return r;
        if (*s || keep_empty) {
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

static int read_component(sd_bus_message *m, vss_component **ret) {
        _cleanup_(component_freep) vss_component *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        for (;;) {
                const char *key;
                uint32_t u = 0; /* read_variant_basic() leaves it alone when it fails */
                int b = 0;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0)
                        return r;

                if (strcmp(key, "type") == 0) {
                        r = read_variant_basic(m, SD_BUS_TYPE_UINT32, &u);
                        c->type = (vss_component_type) u;
                } else if (strcmp(key, "logical_path") == 0)
                        r = read_variant_string(m, true, &c->logical_path);
                else if (strcmp(key, "name") == 0)
                        r = read_variant_string(m, true, &c->name);
                else if (strcmp(key, "selected") == 0) {
                        r = read_variant_basic(m, SD_BUS_TYPE_BOOLEAN, &b);
                        c->selected = b;
                } else if (strcmp(key, "backup_succeeded") == 0) {
                        r = read_variant_basic(m, SD_BUS_TYPE_BOOLEAN, &b);
                        c->backup_succeeded = b;
                } else if (strcmp(key, "backup_metadata") == 0)
                        r = read_variant_string(m, false, &c->backup_metadata);
                else if (strcmp(key, "backup_stamp") == 0)
                        r = read_variant_string(m, false, &c->backup_stamp);
                else if (strcmp(key, "previous_backup_stamp") == 0)
                        r = read_variant_string(m, false, &c->previous_backup_stamp);
                else if (strcmp(key, "restore_metadata") == 0)
                        r = read_variant_string(m, false, &c->restore_metadata);
                else if (strcmp(key, "file_restore_status") == 0) {
                        r = read_variant_basic(m, SD_BUS_TYPE_UINT32, &u);
                        c->file_restore_status = (vss_file_restore_status) u;
                } else if (strcmp(key, "pre_restore_failure_msg") == 0)
                        r = read_variant_string(m, false, &c->pre_restore_failure_msg);
                else if (strcmp(key, "post_restore_failure_msg") == 0)
                        r = read_variant_string(m, false, &c->post_restore_failure_msg);
                else
                        /* A newer coordinator may send more: not ours to refuse. */
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        /* Absent keys mean empty (dbus-interface.md). */
        if (!c->logical_path) {
                c->logical_path = strdup("");
                if (!c->logical_path)
                        return -ENOMEM;
        }
        if (!c->name) {
                c->name = strdup("");
                if (!c->name)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

int lvss_writer_components_read_variant(sd_bus_message *m, bool read_only, vss_writer_components **ret) {
        _cleanup_(lvss_writer_components_freep) vss_writer_components *c = NULL;
        int r;

        if (!m || !ret)
                return -EINVAL;

        r = lvss_writer_components_new(read_only, &c);
        if (r < 0)
                return r;

        r = enter_variant(m, "aa{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(component_freep) vss_component *item = NULL;

                r = sd_bus_message_at_end(m, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;

                r = read_component(m, &item);
                if (r < 0)
                        return r;
                r = components_add(c, item);
                if (r < 0)
                        return r;
                TAKE_PTR(item);
        }

        r = sd_bus_message_exit_container(m); /* the array */
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m); /* the variant */
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

static int append_string_entry(sd_bus_message *m, const char *key, const char *value) {
        return sd_bus_message_append(m, "{sv}", key, "s", strempty(value));
}

static int append_component(sd_bus_message *m, const vss_component *c) {
        int r;

        r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        r = sd_bus_message_append(m, "{sv}", "type", "u", (uint32_t) c->type);
        if (r >= 0)
                r = append_string_entry(m, "logical_path", c->logical_path);
        if (r >= 0)
                r = append_string_entry(m, "name", c->name);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "selected", "b", (int) c->selected);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "backup_succeeded", "b", (int) c->backup_succeeded);
        if (r >= 0)
                r = append_string_entry(m, "backup_metadata", c->backup_metadata);
        if (r >= 0)
                r = append_string_entry(m, "backup_stamp", c->backup_stamp);
        if (r >= 0)
                r = append_string_entry(m, "previous_backup_stamp", c->previous_backup_stamp);
        if (r >= 0)
                r = append_string_entry(m, "restore_metadata", c->restore_metadata);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "file_restore_status", "u",
                                          (uint32_t) c->file_restore_status);
        if (r >= 0)
                r = append_string_entry(m, "pre_restore_failure_msg", c->pre_restore_failure_msg);
        if (r >= 0)
                r = append_string_entry(m, "post_restore_failure_msg", c->post_restore_failure_msg);
        if (r < 0)
                return r;

        return sd_bus_message_close_container(m);
}

int lvss_writer_components_append_entry(sd_bus_message *m, const vss_writer_components *c) {
        int r;

        if (!m || !c)
                return -EINVAL;

        r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", "components");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, "aa{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        if (r < 0)
                return r;

        for (unsigned i = 0; i < c->n_items; i++) {
                r = append_component(m, c->items[i]);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_close_container(m); /* array */
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m); /* variant */
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m); /* dict entry */
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

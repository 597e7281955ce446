/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A writer event's context, both directions (event-context.h). Packed: the
 * order of the entries and their signatures are the wire format writers
 * read, what lvssd sent before the context became plain data (issue 11
 * §2), byte for byte (test-event-context checks each case against lists
 * written out). Read: by key, with the rules the writer library had before
 * it read through here (test-event-context reads back every packed case,
 * and the refusals; fuzz-event-context).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "event-context.h"
#include "bus-dict.h"
#include "protocol.h"

static int append_set_id(sd_bus_message *m, const vss_id *id) {
        int r;

        r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, LVSS_EC_SNAPSHOT_SET_ID);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, "ay");
        if (r >= 0)
                r = lvss_bus_append_id(m, id);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* The set's part: its id and volumes; what the set is made of once prepared; the copies' paths. */
static int append_set(sd_bus_message *m, const lvss_event_context *c) {
        int r;

        r = append_set_id(m, &c->set_id);
        if (r >= 0)
                r = lvss_bus_open_array_entry(m, LVSS_EC_VOLUMES, "s");
        for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++)
                r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, c->snapshots[i].volume);
        if (r >= 0)
                r = lvss_bus_close_array_entry(m);
        if (r < 0)
                return r;

        if (c->has_snapshot_kind) {
                r = lvss_bus_open_array_entry(m, LVSS_EC_SNAPSHOT_VOLUMES, "(ssb)");
                for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++) {
                        const lvss_event_snapshot *s = &c->snapshots[i];

                        r = sd_bus_message_append(m, "(ssb)", s->volume, s->provider, (int) s->atomic);
                }
                if (r >= 0)
                        r = lvss_bus_close_array_entry(m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "{sv}", LVSS_EC_SET_ATOMIC, "b", (int) c->set_atomic);
                if (r >= 0)
                        r = sd_bus_message_append(m, "{sv}", LVSS_EC_AUTO_RECOVERY, "b", (int) c->auto_recovery);
                if (r < 0)
                        return r;
        }

        if (c->has_snapshot_paths) {
                r = lvss_bus_open_array_entry(m, LVSS_EC_SNAPSHOT_PATHS, "{ss}");
                for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++)
                        if (c->snapshots[i].snapshot_path)
                                r = sd_bus_message_append(m, "{ss}", c->snapshots[i].volume,
                                                          c->snapshots[i].snapshot_path);
                if (r >= 0)
                        r = lvss_bus_close_array_entry(m);
        }
        return r;
}

int lvss_event_context_append(sd_bus_message *m, const lvss_event_context *c) {
        int r;

        if (!m || !c)
                return -EINVAL;
        if ((c->n_snapshots > 0 && !c->snapshots) || (c->n_components > 0 && !c->components))
                return -EINVAL;
        /* Refused before anything is appended, as lvss_component_wire_append() would refuse it. */
        for (size_t i = 0; c->has_components && i < c->n_components; i++)
                if (lvss_component_wire_valid(&c->components[i]) < 0)
                        return -EINVAL;

        r = sd_bus_message_append(m, "{sv}", LVSS_EC_BACKUP_TYPE, "u", c->backup_type);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", LVSS_EC_SELECT_COMPONENTS, "b", (int) c->select_components);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", LVSS_EC_BOOTABLE_SYSTEM_STATE, "b",
                                          (int) c->bootable_system_state);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", LVSS_EC_PARTIAL_FILE_SUPPORT, "b",
                                          (int) c->partial_file_support);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", LVSS_EC_CONTEXT, "i", c->context);
        if (r >= 0 && c->has_restore_type)
                r = sd_bus_message_append(m, "{sv}", LVSS_EC_RESTORE_TYPE, "u", c->restore_type);
        if (r >= 0 && c->has_set)
                r = append_set(m, c);
        if (r < 0 || !c->has_components)
                return r < 0 ? r : 0;

        r = lvss_component_wire_open_list(m);
        for (size_t i = 0; r >= 0 && i < c->n_components; i++)
                r = lvss_component_wire_append(m, &c->components[i]);
        if (r >= 0)
                r = lvss_component_wire_close_list(m);
        return r < 0 ? r : 0;
}

void lvss_event_context_done(lvss_event_context *c) {
        if (!c)
                return;
        c->snapshots = mfree(c->snapshots);
        c->n_snapshots = 0;
        c->components = mfree(c->components);
        c->n_components = 0;
}

/* ---- reading: the writer library's side ------------------------------------------------------ */

static int enter_variant(sd_bus_message *m, const char *contents) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r == -ENXIO || r == 0)
                return -EBADMSG; /* a known key with another type */
        return r;
}

/* The value of an entry of one basic @type, into @p (left alone on failure). */
static int read_basic(sd_bus_message *m, char type, void *p) {
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

static int read_bool(sd_bus_message *m, bool *ret) {
        int b, r;

        r = read_basic(m, SD_BUS_TYPE_BOOLEAN, &b);
        if (r < 0)
                return r;
        *ret = b;
        return 0;
}

static int read_set_id(sd_bus_message *m, lvss_event_context_received *c) {
        vss_id id;
        int r;

        r = enter_variant(m, "ay");
        if (r < 0)
                return r;
        r = lvss_bus_read_id(m, &id); /* -EBADMSG unless 16 bytes */
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        c->set_id = id;
        c->has_set_id = true;
        return 0;
}

static int read_volumes(sd_bus_message *m, lvss_event_context_received *c) {
        _cleanup_(freep) const char **l = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = enter_variant(m, "as");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        if (r < 0)
                return r;
        for (;;) {
                const char *volume, **grown;

                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &volume);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                grown = grow_array(l, n, &allocated, sizeof *l);
                if (!grown)
                        return -ENOMEM;
                l = grown;
                l[n++] = volume;
        }
        r = sd_bus_message_exit_container(m); /* the array */
        if (r >= 0)
                r = sd_bus_message_exit_container(m); /* the variant */
        if (r < 0)
                return r;

        free(c->volumes); /* a key twice counts the last time */
        c->volumes = TAKE_PTR(l);
        c->n_volumes = n;
        c->has_volumes = true;
        return 0;
}

/* A list of volumes with what the entry says of each: "(ssb)" for snapshot_volumes (volume, provider,
 * atomic), "{ss}" for snapshot_paths (volume, the copy's path). */
static int read_volume_list(sd_bus_message *m, const char *element, lvss_event_snapshot **list, size_t *n_list) {
        _cleanup_(freep) lvss_event_snapshot *l = NULL;
        bool with_kind = element[0] == '(';
        size_t n = 0, allocated = 0;
        char variant[8];
        int r;

        snprintf(variant, sizeof variant, "a%s", element);
        r = enter_variant(m, variant);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, element);
        if (r < 0)
                return r;
        for (;;) {
                lvss_event_snapshot *grown;
                const char *volume, *other;
                int atomic = 0;

                if (with_kind)
                        r = sd_bus_message_read(m, "(ssb)", &volume, &other, &atomic);
                else
                        r = sd_bus_message_read(m, "{ss}", &volume, &other);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                grown = grow_array(l, n, &allocated, sizeof *l);
                if (!grown)
                        return -ENOMEM;
                l = grown;
                l[n++] = with_kind ? (lvss_event_snapshot) { .volume = volume, .provider = other, .atomic = atomic }
                                   : (lvss_event_snapshot) { .volume = volume, .snapshot_path = other };
        }
        r = sd_bus_message_exit_container(m); /* the array */
        if (r >= 0)
                r = sd_bus_message_exit_container(m); /* the variant */
        if (r < 0)
                return r;

        free(*list); /* a key twice counts the last time */
        *list = TAKE_PTR(l);
        *n_list = n;
        return 0;
}

static int read_components(sd_bus_message *m, lvss_event_context_received *c) {
        lvss_wire_component *items;
        size_t n;
        int r;

        /* The whole list, checked as one (component-wire.h). */
        r = lvss_component_wire_read_array(m, &items, &n);
        if (r < 0)
                return r;
        free(c->components); /* a key twice counts the last time */
        c->components = items;
        c->n_components = n;
        c->has_components = true;
        return 0;
}

/* The value of the entry @key (its variant is next in @m) into @c; an unknown key is skipped. */
static int read_entry(sd_bus_message *m, const char *key, void *userdata) {
        lvss_event_context_received *c = userdata;
        uint32_t u;
        int r;

        if (strcmp(key, LVSS_EC_BACKUP_TYPE) == 0) {
                r = read_basic(m, SD_BUS_TYPE_UINT32, &u);
                if (r >= 0) /* a type this library does not know is no type it could act on */
                        c->backup_type = u <= VSS_BT_OTHER ? u : VSS_BT_UNDEFINED;
                return r;
        }
        if (strcmp(key, LVSS_EC_SELECT_COMPONENTS) == 0)
                return read_bool(m, &c->select_components);
        if (strcmp(key, LVSS_EC_BOOTABLE_SYSTEM_STATE) == 0)
                return read_bool(m, &c->bootable_system_state);
        if (strcmp(key, LVSS_EC_PARTIAL_FILE_SUPPORT) == 0)
                return read_bool(m, &c->partial_file_support);
        if (strcmp(key, LVSS_EC_CONTEXT) == 0)
                return read_basic(m, SD_BUS_TYPE_INT32, &c->context);
        if (strcmp(key, LVSS_EC_RESTORE_TYPE) == 0) {
                r = read_basic(m, SD_BUS_TYPE_UINT32, &u);
                if (r >= 0) {
                        c->restore_type = u <= VSS_RTYPE_OTHER ? u : VSS_RTYPE_UNDEFINED;
                        c->has_restore_type = true;
                }
                return r;
        }
        if (strcmp(key, LVSS_EC_SNAPSHOT_SET_ID) == 0)
                return read_set_id(m, c);
        if (strcmp(key, LVSS_EC_VOLUMES) == 0)
                return read_volumes(m, c);
        if (strcmp(key, LVSS_EC_SNAPSHOT_VOLUMES) == 0) {
                r = read_volume_list(m, "(ssb)", &c->snapshot_volumes, &c->n_snapshot_volumes);
                if (r >= 0)
                        c->has_snapshot_kind = true;
                return r;
        }
        if (strcmp(key, LVSS_EC_SET_ATOMIC) == 0)
                return read_bool(m, &c->set_atomic);
        if (strcmp(key, LVSS_EC_AUTO_RECOVERY) == 0)
                return read_bool(m, &c->auto_recovery);
        if (strcmp(key, LVSS_EC_SNAPSHOT_PATHS) == 0) {
                r = read_volume_list(m, "{ss}", &c->snapshot_paths, &c->n_snapshot_paths);
                if (r >= 0)
                        c->has_snapshot_paths = true;
                return r;
        }
        if (strcmp(key, LVSS_CW_ENTRY) == 0)
                return read_components(m, c);
        /* A newer lvssd may send more: not ours to refuse. */
        return sd_bus_message_skip(m, "v");
}

int lvss_event_context_read(sd_bus_message *m, lvss_event_context_received *ret) {
        _cleanup_(lvss_event_context_received_done) lvss_event_context_received c = {};
        int r;

        if (!m || !ret)
                return -EINVAL;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        /* Something else there, or nothing: -ENXIO at the end of the message, 0 at the end of an
         * array the caller is in. */
        if (r == -ENXIO || r == 0)
                return -EBADMSG;
        if (r < 0)
                return r;
        r = lvss_bus_read_entries(m, read_entry, &c);
        if (r < 0)
                return r;

        *ret = c;
        c = (lvss_event_context_received) {}; /* now the caller's */
        return 0;
}

void lvss_event_context_received_done(lvss_event_context_received *c) {
        if (!c)
                return;
        free(c->volumes);
        free(c->snapshot_volumes);
        free(c->snapshot_paths);
        free(c->components);
        *c = (lvss_event_context_received) {};
}

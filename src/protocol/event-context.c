/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A writer event's context, packed (event-context.h). The order of the
 * entries and their signatures are the wire format writers read: what
 * lvssd sent before the context became plain data (issue 11 §2), byte for
 * byte (test-event-context checks each case against lists written out).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/util.h"
#include "event-context.h"
#include "protocol.h"

/* An entry {KEY: variant of array of @element}: opens the three containers
 * (entry, variant, array); array_close() closes them. */
static int array_open(sd_bus_message *m, const char *key, const char *element) {
        char sig[16];
        int r;

        snprintf(sig, sizeof sig, "a%s", element);
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, sig);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, element);
        return r;
}

static int array_close(sd_bus_message *m) {
        int r = 0;

        for (unsigned i = 0; r >= 0 && i < 3; i++) /* the array, the variant, the entry */
                r = sd_bus_message_close_container(m);
        return r;
}

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
                r = array_open(m, LVSS_EC_VOLUMES, "s");
        for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++)
                r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, c->snapshots[i].volume);
        if (r >= 0)
                r = array_close(m);
        if (r < 0)
                return r;

        if (c->has_snapshot_kind) {
                r = array_open(m, LVSS_EC_SNAPSHOT_VOLUMES, "(ssb)");
                for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++) {
                        const lvss_event_snapshot *s = &c->snapshots[i];

                        r = sd_bus_message_append(m, "(ssb)", s->volume, s->provider, (int) s->atomic);
                }
                if (r >= 0)
                        r = array_close(m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "{sv}", LVSS_EC_SET_ATOMIC, "b", (int) c->set_atomic);
                if (r >= 0)
                        r = sd_bus_message_append(m, "{sv}", LVSS_EC_AUTO_RECOVERY, "b", (int) c->auto_recovery);
                if (r < 0)
                        return r;
        }

        if (c->has_snapshot_paths) {
                r = array_open(m, LVSS_EC_SNAPSHOT_PATHS, "{ss}");
                for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++)
                        if (c->snapshots[i].snapshot_path)
                                r = sd_bus_message_append(m, "{ss}", c->snapshots[i].volume,
                                                          c->snapshots[i].snapshot_path);
                if (r >= 0)
                        r = array_close(m);
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

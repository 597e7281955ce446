/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The writer's components of the Backup Components Document, as a handler
 * sees them (IVssWriterComponents / IVssComponent), and their wire form.
 *
 * The coordinator sends the writer's components in the `components` entry
 * of an Event's context (aa{sv}, docs/dbus-interface.md); the handler reads
 * and edits them; the writer sends them all back in the `components` out
 * entry, and the coordinator merges what the writer may set (matched on
 * logical_path + name). Internal to liblvss.
 */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

#include <lvss/metadata.h>

#include "protocol/component-wire.h"

struct vss_component {
        vss_writer_components *owner;
        vss_component_type type;
        char *logical_path; /* never NULL; "" = none */
        char *name;         /* never NULL */
        bool selected;
        bool backup_succeeded;
        char *backup_metadata; /* NULL = none */
        char *backup_stamp;
        char *previous_backup_stamp;
        char *restore_metadata;
        vss_file_restore_status file_restore_status;
        char *pre_restore_failure_msg;
        char *post_restore_failure_msg;
        bool selected_for_restore;
};

struct vss_writer_components {
        vss_component **items;
        unsigned n_items;
        bool read_only; /* BackupComplete onward: the BCD is read-only */
        /* A requester's reading of a Backup Components Document (requester/
         * writer-components.c) names the writer; a handler's set does not. */
        bool has_writer_info;
        vss_id instance_id;
        vss_id writer_id;
        char *writer_name;   /* NULL: the document does not list the writer */
        char *instance_name; /* NULL: none */
        char *metadata_xml;  /* NULL: none */
};

/* An empty set (the event carried no `components` entry). */
int lvss_writer_components_new(bool read_only, vss_writer_components **ret);
vss_writer_components *lvss_writer_components_free(vss_writer_components *c);

/* The components of the Event's context as the handler gets them: @items as
 * lvss_event_context_read() read them (protocol/event-context.h, by the rules of
 * protocol/component-wire.h), copied into a set of its own. An absent
 * logical path becomes "" (none); an absent or empty optional string, NULL. */
int lvss_writer_components_from_wire(const lvss_wire_component *items, size_t n, bool read_only,
                                     vss_writer_components **ret);

/* Append the `components` out entry: "{sv}" = ("components", <aa{sv}>). */
int lvss_writer_components_append_entry(sd_bus_message *m, const vss_writer_components *c);


/* Append a component to @c (which takes it over) / free one that was not added. */
int lvss_writer_components_add(vss_writer_components *c, vss_component *item);
vss_component *lvss_component_free(vss_component *c);

static inline void lvss_writer_components_freep(vss_writer_components **c) {
        lvss_writer_components_free(*c);
}

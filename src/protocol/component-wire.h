/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The component wire format (issue 11 §2): the a{sv} dictionary that
 * describes one component of the Backup Components Document, in both
 * directions between lvssd and the writer library.
 *
 * lvssd sends a writer its components in the `components` entry of an
 * Event's context; the writer sends them all back, with what its handler
 * set, in the `components` entry of the reply's out dictionary; lvssd merges
 * what a writer may set, matched on logical_path + name
 * (docs/dbus-interface.md). Both sides write and read through this module,
 * so each key is spelled once, here.
 *
 * The entry:       {sv} = ("components", <aa{sv}>)
 * One component:   a{sv} with the keys below. Absent keys mean empty /
 *                  false / 0, except `name`, which a component always has
 *                  (non-empty). Unknown keys are skipped: a newer peer may
 *                  send more.
 *
 * The reader is strict about everything else, and refuses the whole list
 * with -EBADMSG: a known key with another type, a key twice, a missing or
 * empty name, a string that is not valid UTF-8 by lvss's D-Bus rule
 * (basic/utf8.h: it also refuses non-characters, which sd-bus would refuse
 * when the string is sent on), an enum value out of its range, more than
 * LVSS_COMPONENT_WIRE_MAX components. Where that surfaces: lvssd marks the
 * writer's answer as failed with VSS_E_UNEXPECTED_WRITER_ERROR ("answered
 * <event> with a malformed reply: Bad message"); the writer library refuses
 * the Event with org.freedesktop.DBus.Error.InvalidArgs ("Malformed event
 * context: Bad message"), which lvssd records the same way.
 *
 * Internal functions return 0 (or 1, see below) or a negative errno.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* The entry's key and its value's signature. */
#define LVSS_CW_ENTRY     "components"
#define LVSS_CW_SIGNATURE "aa{sv}"

/* The keys of one component, and their D-Bus types. */
#define LVSS_CW_TYPE                     "type"                     /* u: vss_component_type */
#define LVSS_CW_LOGICAL_PATH             "logical_path"             /* s */
#define LVSS_CW_NAME                     "name"                     /* s, required, non-empty */
#define LVSS_CW_SELECTED                 "selected"                 /* b */
#define LVSS_CW_BACKUP_SUCCEEDED         "backup_succeeded"         /* b */
#define LVSS_CW_BACKUP_METADATA          "backup_metadata"          /* s */
#define LVSS_CW_BACKUP_STAMP             "backup_stamp"             /* s */
#define LVSS_CW_PREVIOUS_BACKUP_STAMP    "previous_backup_stamp"    /* s */
#define LVSS_CW_RESTORE_METADATA         "restore_metadata"         /* s */
#define LVSS_CW_FILE_RESTORE_STATUS      "file_restore_status"      /* u: vss_file_restore_status */
#define LVSS_CW_PRE_RESTORE_FAILURE_MSG  "pre_restore_failure_msg"  /* s */
#define LVSS_CW_POST_RESTORE_FAILURE_MSG "post_restore_failure_msg" /* s */

/* At most as many components as a Backup Components Document holds
 * (BCD_COMPONENTS_MAX, src/documents/bcd.c): one writer's list is part of one. */
#define LVSS_COMPONENT_WIRE_MAX 100000u

/*
 * One component as it travels. Strings are borrowed: on append from the
 * caller, on read from the message (valid while the message lives). A NULL
 * string is an absent key: lvss_component_wire_append() leaves it out and
 * the reader gives NULL for a key that is not there; a present "" stays "".
 */
typedef struct lvss_wire_component {
        uint32_t type; /* vss_component_type, at most VSS_CT_FILEGROUP */
        const char *logical_path;
        const char *name; /* required, non-empty */
        bool selected;
        bool backup_succeeded;
        const char *backup_metadata;
        const char *backup_stamp;
        const char *previous_backup_stamp;
        const char *restore_metadata;
        bool has_file_restore_status; /* false: the key is left out (read: was absent) */
        uint32_t file_restore_status; /* vss_file_restore_status, at most VSS_RS_FAILED */
        const char *pre_restore_failure_msg;
        const char *post_restore_failure_msg;
} lvss_wire_component;

/*
 * lvss_component_wire_valid() - whether @c can be sent: what the reader
 * would accept. Return: 0, or -EINVAL naming no field (a NULL or empty
 * name, a string that is not valid UTF-8, an enum out of range).
 */
int lvss_component_wire_valid(const lvss_wire_component *c);

/*
 * lvss_component_wire_open_list() - append the start of the entry
 * ("components", <aa{sv}>) to @m, which is inside an a{sv}; then append
 * each component with lvss_component_wire_append() and close with
 * lvss_component_wire_close_list().
 */
int lvss_component_wire_open_list(sd_bus_message *m);
int lvss_component_wire_close_list(sd_bus_message *m);

/*
 * lvss_component_wire_append() - append one component (a{sv}); -EINVAL
 * when lvss_component_wire_valid() refuses it (nothing is appended then).
 */
int lvss_component_wire_append(sd_bus_message *m, const lvss_wire_component *c);

/*
 * lvss_component_wire_read() - read one component: @m is positioned at
 * its a{sv} (inside the aa{sv} array). Return: 1 with *@ret filled, 0 at
 * the end of the array (*@ret untouched), -EBADMSG for a component the
 * rules above refuse, another negative errno from sd-bus.
 */
int lvss_component_wire_read(sd_bus_message *m, lvss_wire_component *ret);

/* Called for each component of a list, in order; a negative return stops the walk and is returned. */
typedef int (*lvss_component_wire_fn)(const lvss_wire_component *c, void *userdata);

/*
 * lvss_component_wire_read_list() - read the value of the `components`
 * entry: @m is positioned at its variant (the key already read). Every
 * component is checked before the first call of @fn, so a list that is
 * refused has not been half applied. Return: 0, -EBADMSG (the variant does
 * not hold aa{sv}, a component is refused, more than
 * LVSS_COMPONENT_WIRE_MAX of them), or what @fn or sd-bus returned.
 */
int lvss_component_wire_read_list(sd_bus_message *m, lvss_component_wire_fn fn, void *userdata);
/*
 * lvss_component_wire_read_array() - the same list, checked the same way, as
 * an array: *@ret (malloc'd, NULL when empty; its strings are @m's) and
 * *@ret_n. Nothing is set on failure. Return: 0, or as above (no @fn).
 */
int lvss_component_wire_read_array(sd_bus_message *m, lvss_wire_component **ret, size_t *ret_n);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The context of a writer event (issue 11 §2): the a{sv} argument of
 * Writer1.Event (docs/dbus-interface.md) as plain C data, both directions:
 * lvssd packs it (lvss_event_context_append()), the writer library reads it
 * (lvss_event_context_read()), so each key is spelled once, here.
 *
 * Why plain data: lvssd's session decides what a writer is told (its
 * backup state, the snapshot set as far as it got, the writer's own
 * components), and the fan-out is the part that talks to writers over the
 * bus. The session fills an lvss_event_context per target through
 * FanoutOps.context (coordinator/fanout.h); the fan-out packs it at once
 * with lvss_event_context_append(), so no D-Bus message crosses the line
 * between the two (the layers run one way: session → fan-out).
 *
 * The entries, in the order they are appended (a reader takes them by key,
 * in any order: lvss_event_context_read() below, which the writer library
 * uses):
 *
 *   backup_type            u       always
 *   select_components      b       always
 *   bootable_system_state  b       always
 *   partial_file_support   b       always
 *   context                i       always
 *   restore_type           u       has_restore_type (a restore session)
 *   snapshot_set_id        ay      has_set (a set was started): 16 bytes
 *   volumes                as      has_set: every volume of the set
 *   snapshot_volumes       a(ssb)  has_set and has_snapshot_kind (the set is
 *                                  prepared): volume, provider, atomic
 *   set_atomic             b       the same
 *   auto_recovery          b       the same
 *   snapshot_paths         a{ss}   has_set and has_snapshot_paths: volume,
 *                                  copy, for the volumes whose copy exists
 *   components             aa{sv}  has_components (component-wire.h)
 *
 * Memory: every string (the volumes, the provider names, the paths, the
 * components' strings) is borrowed from whoever filled the struct and must
 * stay valid until lvss_event_context_append() returns. The two arrays,
 * `snapshots` and `components`, belong to the struct: the filler allocates
 * them (malloc), lvss_event_context_done() frees them, not their strings.
 *
 * Internal functions return 0 or a negative errno.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "component-wire.h"

/* The keys of the context dictionary. */
#define LVSS_EC_BACKUP_TYPE           "backup_type"
#define LVSS_EC_SELECT_COMPONENTS     "select_components"
#define LVSS_EC_BOOTABLE_SYSTEM_STATE "bootable_system_state"
#define LVSS_EC_PARTIAL_FILE_SUPPORT  "partial_file_support"
#define LVSS_EC_CONTEXT               "context"
#define LVSS_EC_RESTORE_TYPE          "restore_type"
#define LVSS_EC_SNAPSHOT_SET_ID       "snapshot_set_id"
#define LVSS_EC_VOLUMES               "volumes"
#define LVSS_EC_SNAPSHOT_VOLUMES      "snapshot_volumes"
#define LVSS_EC_SET_ATOMIC            "set_atomic"
#define LVSS_EC_AUTO_RECOVERY         "auto_recovery"
#define LVSS_EC_SNAPSHOT_PATHS        "snapshot_paths"
/* components: LVSS_CW_ENTRY (component-wire.h) */

/* One volume of the snapshot set, as writers see it. */
typedef struct lvss_event_snapshot {
        const char *volume;
        const char *provider; /* its provider's name (snapshot_volumes) */
        bool atomic;          /* one instant of the whole volume (snapshot_volumes) */
        /* the copy (snapshot_paths); NULL: not made, left out of snapshot_paths */
        const char *snapshot_path;
} lvss_event_snapshot;

typedef struct lvss_event_context {
        uint32_t backup_type; /* vss_backup_type */
        bool select_components;
        bool bootable_system_state;
        bool partial_file_support;
        int32_t context; /* VSS_CTX_* and VSS_VOLSNAP_ATTR_* */
        bool has_restore_type;
        uint32_t restore_type; /* vss_restore_type */

        /* The snapshot set, once one was started; the rest of this part only with has_set. */
        bool has_set;
        vss_id set_id;
        lvss_event_snapshot *snapshots; /* owned; n_snapshots of them */
        size_t n_snapshots;
        bool has_snapshot_kind; /* snapshot_volumes, set_atomic, auto_recovery */
        bool set_atomic;
        bool auto_recovery;
        bool has_snapshot_paths; /* snapshot_paths */

        /* The target's components (the entry is sent, maybe empty, when has_components). */
        bool has_components;
        lvss_wire_component *components; /* owned; n_components of them */
        size_t n_components;
} lvss_event_context;

/*
 * lvss_event_context_append() - append the entries of @c (above) to @m,
 * which is inside an a{sv}. Return: 0; -EINVAL for a NULL argument, an
 * array that is NULL with a count, or a component that
 * lvss_component_wire_valid() refuses; another negative errno from sd-bus
 * (then @m is half written: the caller drops it).
 */
int lvss_event_context_append(sd_bus_message *m, const lvss_event_context *c);

/*
 * lvss_event_context_done() - free @c's arrays (not their strings) and
 * reset them; @c may be NULL. For _cleanup_().
 */
void lvss_event_context_done(lvss_event_context *c);

/*
 * The other direction: the context as a writer receives it. Each entry is
 * kept as it came, list by list, rather than folded into one
 * lvss_event_snapshot per volume as the packer takes them: a writer answers
 * from exactly what it was sent (its getters look up `snapshot_paths` by
 * volume, count `snapshot_volumes` on their own), and a context that lvssd
 * did not pack (an older or newer lvssd, a test's own caller) reads as it
 * always did.
 *
 * The rules (those of the writer library before the reader moved here):
 * - keys come in any order; a key that comes twice counts the last time;
 *   unknown keys are skipped (a newer lvssd may send more);
 * - a known key whose variant holds another type, or a snapshot_set_id
 *   that is not 16 bytes, refuses the whole context;
 * - backup_type above VSS_BT_OTHER reads as VSS_BT_UNDEFINED, restore_type
 *   above VSS_RTYPE_OTHER as VSS_RTYPE_UNDEFINED: an lvssd that knows more
 *   types than this library is not refused for it;
 * - `components` is read with lvss_component_wire_read_array(), by its rules
 *   (component-wire.h: any component refused refuses the context).
 * An entry that is absent leaves its fields zero (VSS_BT_UNDEFINED, the
 * null id, false, no list).
 *
 * Memory: the strings (volumes, providers, paths, the components' strings)
 * are borrowed from the message read, valid while it lives; the arrays
 * belong to the struct, lvss_event_context_received_done() frees them.
 */
typedef struct lvss_event_context_received {
        uint32_t backup_type; /* vss_backup_type, clamped */
        bool select_components;
        bool bootable_system_state;
        bool partial_file_support;
        int32_t context;
        bool has_restore_type;
        uint32_t restore_type; /* vss_restore_type, clamped */

        bool has_set_id; /* snapshot_set_id */
        vss_id set_id;
        bool has_volumes; /* volumes */
        const char **volumes; /* owned array of n_volumes borrowed strings */
        size_t n_volumes;
        bool has_snapshot_kind; /* snapshot_volumes */
        lvss_event_snapshot *snapshot_volumes; /* owned: volume, provider, atomic (snapshot_path NULL) */
        size_t n_snapshot_volumes;
        bool set_atomic;
        bool auto_recovery;
        bool has_snapshot_paths; /* snapshot_paths */
        lvss_event_snapshot *snapshot_paths; /* owned: volume, snapshot_path (provider NULL) */
        size_t n_snapshot_paths;

        bool has_components; /* components */
        lvss_wire_component *components; /* owned; n_components of them */
        size_t n_components;
} lvss_event_context_received;

/*
 * lvss_event_context_read() - read the context of a Writer1.Event call:
 * @m is positioned at its a{sv}, which is read whole (@m is then past it).
 * Return: 0 with *@ret filled (the caller frees it with
 * lvss_event_context_received_done()); -EINVAL for a NULL argument;
 * -EBADMSG when @m holds no a{sv} there or the rules above refuse it;
 * -ENOMEM; another negative errno from sd-bus. On failure *@ret is
 * untouched and @m is somewhere inside the context.
 */
int lvss_event_context_read(sd_bus_message *m, lvss_event_context_received *ret);

/*
 * lvss_event_context_received_done() - free @c's arrays (not their
 * strings, which are the message's) and reset @c to all zero; @c may be
 * NULL. For _cleanup_().
 */
void lvss_event_context_received_done(lvss_event_context_received *c);

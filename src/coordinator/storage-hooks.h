/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * storage-hooks.h: what the session layer asks of the admin layer about
 * shadow storage (issue 12 §2), through hooks the admin layer gives and the
 * bus edge sets (server_listen(): Manager.storage_hooks), as RegistryHooks
 * and ConnectionHooks go (issue 11 §2: the layers run one way). The snapshot
 * set asks its session (SnapshotSetHooks.apply_retention, .make_room) and
 * session-snapshot.c passes it on here, without naming admin.c.
 */

#include <lvss/types.h>

#include "forward.h"

/* The room asked for by StorageHooks.make_room was made: @r 0, -ENOSPC none to be made, or
 * another negative errno; on the loop, for the session @session_id. */
typedef void (*admin_room_done_t)(Manager *m, const vss_id *session_id, int r);

typedef struct StorageHooks {
        /* After a new persistent copy of @volume: delete what its [Volume] rules let go (in the
         * deletion worker; logged, nobody answered). Nothing without rules. */
        void (*apply_retention)(Manager *m, const char *volume);
        /* Storage full at DoSnapshotSet: room for a new copy of each of @volumes (canonical,
         * NULL-terminated); @done once it is made or not. 0 (@done will be called) or a
         * negative errno (it will not). */
        int (*make_room)(Manager *m, const vss_id *session_id, char *const *volumes, admin_room_done_t done);
} StorageHooks;

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * admin.c: the administrator's calls on shadow copies (vssadmin list
 * providers / shadows, delete shadows).
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "answer.h"
#include "forward.h"
#include "storage-hooks.h"

/*
 * issue 11 §2: server.c unpacks a call and hands it over as a Pending (answer.h), which these
 * take, also when they fail (dropped then: the handler's error is the answer); admin.c answers
 * with an Answer once the catalog or its worker is done, and the bus edge (session-bus.c,
 * admin-bus.c) packs the reply. ListProviders is packed at the edge alone (admin-bus.h).
 */
int admin_list_shadows(Manager *m, Pending *call, const vss_id *set_id);
/* An admin call of connection @conn (Pending.conn) waits for the catalog or a worker (issue 11
 * §1): its connection is not idle. */
bool admin_query_pending(Manager *m, const void *conn);
int admin_delete_shadows(Manager *m, Pending *call, const char *what, const vss_id *id, const char *volume,
                         bool oldest, sd_bus_error *error);
/* issue 12 §2: DeleteShadowsKeep: of @volume's persistent copies, all but the @keep newest
 * (copies of a running session are kept and count among them). */
int admin_delete_shadows_keep(Manager *m, Pending *call, const char *volume, uint32_t keep,
                              sd_bus_error *error);
/* issue 12 §2: after a new persistent copy of @volume, delete what its [Volume] rules let go
 * (in the deletion worker; logged, nobody answered). Nothing without rules. */
void admin_apply_retention(Manager *m, const char *volume);
/* issue 12 §2: ListShadowStorage (@volume "" or NULL: every volume with a limit or copies) and
 * ResizeShadowStorage (@max_size: bytes with K/M/G/T, N%, UNBOUNDED; stored in the catalog). */
int admin_list_shadow_storage(Manager *m, Pending *call, const char *volume, sd_bus_error *error);
int admin_resize_shadow_storage(Manager *m, Pending *call, const char *volume, const char *max_size,
                                sd_bus_error *error);
/* issue 12 §2: storage full at DoSnapshotSet. Deletes, in the deletion worker, the oldest
 * persistent copy-provider copies of @volumes (canonical, NULL-terminated) that no running
 * session holds, as far as the copy provider's limit needs room for a new copy of each volume;
 * nothing when that is not enough for one of them. @done(@m, @session_id, r) on the loop once
 * the rows of the deleted copies are gone: r 0 room made, -ENOSPC none to be made, or another
 * negative errno. Returns 0 (@done will be called) or a negative errno (it will not). */
int admin_make_room(Manager *m, const vss_id *session_id, char *const *volumes, admin_room_done_t done);
/* issue 11 §2: admin_apply_retention() and admin_make_room(), for the session layer (Manager.storage_hooks, set by server_listen()). */
extern const StorageHooks admin_storage_hooks;

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

#include "forward.h"

int admin_list_providers(Manager *m, sd_bus_message *call);
int admin_list_shadows(Manager *m, sd_bus_message *call, const vss_id *set_id);
/* A ListShadows or DeleteShadows call of @bus waits for the catalog or its deletion worker
 * (issue 11 §1): its connection is not idle. */
bool admin_query_pending(Manager *m, sd_bus *bus);
int admin_delete_shadows(Manager *m, sd_bus_message *call, const char *what, const vss_id *id, const char *volume,
                         bool oldest, sd_bus_error *error);
/* issue 12 §2: DeleteShadowsKeep: of @volume's persistent copies, all but the @keep newest
 * (copies of a running session are kept and count among them). */
int admin_delete_shadows_keep(Manager *m, sd_bus_message *call, const char *volume, uint32_t keep,
                              sd_bus_error *error);
/* issue 12 §2: after a new persistent copy of @volume, delete what its [Volume] rules let go
 * (in the deletion worker; logged, nobody answered). Nothing without rules. */
void admin_apply_retention(Manager *m, const char *volume);
/* issue 12 §2: ListShadowStorage (@volume "" or NULL: every volume with a limit or copies) and
 * ResizeShadowStorage (@max_size: bytes with K/M/G/T, N%, UNBOUNDED; stored in the catalog). */
int admin_list_shadow_storage(Manager *m, sd_bus_message *call, const char *volume, sd_bus_error *error);
int admin_resize_shadow_storage(Manager *m, sd_bus_message *call, const char *volume, const char *max_size,
                                sd_bus_error *error);
/* issue 12 §2: storage full at DoSnapshotSet. Deletes, in the deletion worker, the oldest
 * persistent copy-provider copies of @volumes (canonical, NULL-terminated) that no running
 * session holds, as far as the copy provider's limit needs room for a new copy of each volume;
 * nothing when that is not enough for one of them. @done(@m, @session_id, r) on the loop once
 * the rows of the deleted copies are gone: r 0 room made, -ENOSPC none to be made, or another
 * negative errno. Returns 0 (@done will be called) or a negative errno (it will not). */
typedef void (*admin_room_done_t)(Manager *m, const vss_id *session_id, int r);
int admin_make_room(Manager *m, const vss_id *session_id, char *const *volumes, admin_room_done_t done);

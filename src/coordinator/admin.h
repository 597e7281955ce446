/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * admin.c: the administrator's calls on shadow copies (vssadmin list
 * providers / shadows, delete shadows).
 */

#include <stdbool.h>
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

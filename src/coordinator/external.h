/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * external.c: the external session (issue 10 part 2): lvss-freeze-hook's
 * freeze and thaw, a session lvssd owns.
 */

#include <stdint.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "forward.h"
#include "session.h"

int external_method_freeze(Client *c, sd_bus_message *call, sd_bus_error *error);
int external_method_thaw(Client *c, sd_bus_message *call, sd_bus_error *error);
int external_method_abort(Client *c, sd_bus_message *call, sd_bus_error *error);
/* server.c: @c goes; a call of its that waits is dropped. */
void external_client_gone(Client *c);
/* main.c: lvssd stops; a held freeze is aborted (writers thawed). */
void external_stop(Manager *m);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * status-bus.c: a writer's status struct (LVSS_STATUS_STRUCT, WS-9) packed
 * into a D-Bus message. Its own small layer (issue 11 §2, docs/design.md
 * "The layers"): the bus edge's answers (session-bus.c) and the external
 * session's replies (external.c) both pack it, and neither includes the other.
 */

#include <systemd/sd-bus.h>

#include "forward.h"

/* One LVSS_STATUS_STRUCT: entry @e's status (WS-9). */
int append_status(sd_bus_message *m, const Entry *e);

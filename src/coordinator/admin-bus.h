/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * admin-bus.c: the bus edge of the admin calls (issue 11 §2: handlers
 * unpack, call the domain, pack). admin.c answers its calls with a plain C
 * Answer (answer.h) on the Pending server.c handed it; the kinds only the
 * admin calls use (ANSWER_NUMBER, _SHADOWS, _STORAGE) are packed here.
 */

#include <systemd/sd-bus.h>

#include "answer.h"
#include "forward.h"

/* ListProviders: every provider lvssd has, answered on @call now. */
int admin_bus_reply_providers(Manager *m, sd_bus_message *call);
/* The reply to @call with @a (ANSWER_NUMBER, _SHADOWS, _STORAGE), sent: 0, or a negative errno. */
int admin_bus_pack(Manager *m, sd_bus_message *call, const Answer *a);

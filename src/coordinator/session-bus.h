/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * session-bus.c: the bus edge of the session layer (issue 11 §2). A call the
 * session answers, now or later, is handed to it as a Pending (answer.h);
 * the session completes it with a plain C Answer and this file packs the
 * D-Bus reply. The status struct of a writer (LVSS_STATUS_STRUCT) is packed by
 * status-bus.c, which the external session's replies use too.
 */

#include <systemd/sd-bus.h>

#include "answer.h"
#include "forward.h"

/* A Pending for @call (referenced), or NULL when out of memory: for the session's calls, and for the
 * registry's two late answers (SubscribeWriter, ListWriters; registry.h). */
Pending *session_bus_pending_new(Manager *m, sd_bus_message *call);
/* GatherWriterStatus / GatherSessionStatus: every entry of @s, answered on @call. */
int session_bus_reply_status(sd_bus_message *call, const Session *s);
/* What the session layer tells a requester (session.h, SessionHooks): Manager.session_hooks. */
extern const struct SessionHooks session_bus_hooks;

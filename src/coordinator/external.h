/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * external.c: the external session (issue 10 part 2): lvss-freeze-hook's
 * freeze and thaw, a session lvssd owns.
 */

#include <stdint.h>

#include <lvss/types.h>

#include "answer.h"
#include "forward.h"
#include "refusal.h"
#include "session.h"

/*
 * The calls of lvss-freeze-hook, unpacked by the bus edge (server.c), which
 * packs their answer (ANSWER_EXTERNAL, session-bus.c) and turns a refusal
 * into its D-Bus error (refusal_bus_error()): no sd-bus here (issue 11 §2).
 * Each takes @call (answer.h: owned from then on; dropped unanswered when
 * refused) and returns 1 when it is answered or will be, or a negative errno
 * with *@ref saying why it was refused.
 *
 * external_freeze(): ExternalFreeze of @c for @volumes (NULL or empty: "/"),
 * at most @hold_ms (0: lvssd's limit), asked by @caller (a name for logs).
 */
int external_freeze(Client *c, char **volumes, uint32_t hold_ms, const char *caller, Pending *call, Refusal *ref);
int external_thaw(Client *c, Pending *call, Refusal *ref);
int external_abort(Client *c, Pending *call, Refusal *ref);
/* server.c: @c goes; a call of its that waits is dropped. */
void external_client_gone(Client *c);
/* main.c: lvssd stops; a held freeze is aborted (writers thawed). */
void external_stop(Manager *m);

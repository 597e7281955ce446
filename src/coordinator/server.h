/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * server.c: the socket, one sd-bus server connection per client, the D-Bus
 * vtables. The bus edge: handlers unpack, call the domain (session.h,
 * registry.h, admin.h, external.h), pack. A connection on the loop (Client,
 * its sources, sending outside its dispatch) is connection.h's.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "basic/util.h"
#include "forward.h"
#include "manager.h"
#include "connection.h"

int server_listen(Manager *m);
void server_done(Manager *m);
bool client_may_request(const Client *c);
bool client_may_write(const Client *c);

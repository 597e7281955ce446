/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * server.c: the socket, one sd-bus server connection per client, the D-Bus
 * vtables. The bus edge: handlers unpack, call the domain (session.h,
 * registry.h, admin.h, external.h), pack.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "basic/util.h"
#include "forward.h"
#include "manager.h"

typedef enum ClientRole {
        ROLE_NONE,
        ROLE_WRITER,
        ROLE_REQUESTER,
} ClientRole;

struct Client {
        Manager *m;
        sd_bus *bus;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        gid_t *groups;
        int n_groups;
        ClientRole role;
        Writer *writer;
        Session *session;
        sd_event_source *free_source;
        sd_event_source *io, *timer; /* drive the bus (server.c) */
        int fd;                      /* the bus's socket, the key of Manager.clients_by_fd */
        bool disconnected;
        bool privileged;             /* client_may_request() when it connected: not limited per uid */
        bool counted;                /* in Manager.n_clients */
        sd_event_source *guard;      /* the idle and unsent-messages deadlines (server.c) */
        uint64_t active_usec;        /* last time something happened on it (CLOCK_MONOTONIC) */
        uint64_t stalled_usec;       /* since when too much waits unsent for it, or 0 */
        bool ever_stalled;           /* its buffers grew: give the memory back when it goes */
        bool dropped;                /* lvssd closes it: free without flushing */
        bool drained;                /* sd-bus found its socket empty once since it ran: one message per wake-up (server.c) */
        char *refusal;               /* over a connection limit: why; every call is answered with it */
        uint64_t accepted_usec;
        Client *next, *prev;
};

int server_listen(Manager *m);
void server_done(Manager *m);
/* Something was sent on @bus (a client's): let the loop wait for what it needs now
 * (writability, a call's timeout). Needed after every send outside that client's own dispatch. */
void server_bus_changed(Manager *m, sd_bus *bus);
/* Close @c's connection (its writer lost its class to root, issue 8 item 4): freed from the loop. */
void server_drop_client(Client *c);
bool client_may_request(const Client *c);
/* true: log now (at most @burst messages per 10 s of @l); the first message of an
 * interval after some were left out says how many (@what names them). */
bool log_limit_ok(LogLimit *l, unsigned burst, const char *what);
bool client_may_write(const Client *c);

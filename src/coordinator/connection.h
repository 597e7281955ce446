/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * connection.c: the transport (issue 11 §2), below the fan-out and the
 * registry: a client's sd-bus connection on the event loop, what was sent on
 * it, its end. server.c accepts the connections and owns the vtables; what it
 * decides about a connection goes through ConnectionHooks.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "basic/util.h"
#include "forward.h"

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
        sd_event_source *io, *timer; /* drive the bus (connection.c) */
        int fd;                      /* the bus's socket, the key of Manager.clients_by_fd */
        bool disconnected;
        bool privileged;             /* client_may_request() when it connected: not limited per uid */
        bool counted;                /* in Manager.n_clients */
        sd_event_source *guard;      /* the idle and unsent-messages deadlines (connection.c) */
        uint64_t active_usec;        /* last time something happened on it (CLOCK_MONOTONIC) */
        uint64_t stalled_usec;       /* since when too much waits unsent for it, or 0 */
        bool ever_stalled;           /* its buffers grew: give the memory back when it goes */
        bool dropped;                /* lvssd closes it: free without flushing */
        bool drained;                /* sd-bus found its socket empty once since it ran: one message per wake-up (connection.c) */
        char *refusal;               /* over a connection limit: why; every call is answered with it */
        uint64_t accepted_usec;
        Client *next, *prev;
};

/* What the layer above decides about a connection (Manager.connection_hooks, set by
 * server_listen()): the transport calls these, never that layer by name (issue 11 §2). */
typedef struct ConnectionHooks {
        /* May @c be closed after IdleTimeoutMS with nothing to do (no role, nothing of it running)? */
        bool (*idle_applies)(Client *c);
        /* @c goes (before its bus is flushed and closed): what it held is let go. */
        void (*gone)(Client *c);
} ConnectionHooks;

/* @c (its bus set up) gets its io, time and deadline sources; < 0: connection_detach() it. */
int connection_attach(Client *c);
void connection_detach(Client *c);
/* Something was sent on @bus (a client's): let the loop wait for what it needs now
 * (writability, a call's timeout). Needed after every send outside that client's own dispatch. */
void connection_bus_changed(Manager *m, sd_bus *bus);
/* The same for client @c (NULL: nothing), for a layer that holds the client, not its bus. */
void connection_changed(Client *c);
/* Close @c's connection (its writer lost its class to root, issue 8 item 4): freed from the loop. */
void connection_drop_client(Client *c);
/* The match for org.freedesktop.DBus.Local.Disconnected (userdata: the Client): freed from the loop. */
int connection_on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error);
/* lvssd stops: every connection is freed, each flushed until one shared deadline. */
void connection_close_all(Manager *m);
/* true: log now (at most @burst messages per 10 s of @l); the first message of an
 * interval after some were left out says how many (@what names them). */
bool log_limit_ok(LogLimit *l, unsigned burst, const char *what);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * registry.c: subscribed writers, their last status for the admin view
 * (WS-9), ListWriters. It knows the fan-out below it; what it needs of the
 * sessions above it goes through RegistryHooks (issue 11 §2).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <lvss/types.h>
#include <lvss/writer.h>

#include "answer.h"
#include "forward.h"

/* The last status a writer had, for the admin view (WS-9). */
typedef struct LastStatus {
        bool valid;
        vss_writer_state state;
        vss_hresult failure;
        vss_hresult application_result;
        char *application_message;
        vss_id session_id;
        vss_writer_event last_event;
        bool in_progress;
        uint64_t last_event_usec, duration_usec;
        const void *session;     /* weak, opaque to the registry (RegistryHooks); NULL once the session is gone */
        const char *session_state; /* static text once the session is gone */
        char *origin;              /* an external session's caller (issue 10), kept once the session is gone */
        bool answered_by_lvssd;    /* issue 11 §5: the writer does not handle last_event; lvssd answered it */
} LastStatus;

struct Writer {
        Manager *m;
        Client *client;
        vss_id writer_id, instance_id;
        char *name, *instance_name;
        vss_usage_type usage;
        vss_source_type source;
        int32_t level;
        uint32_t freeze_timeout_ms;
        /* issue 11 §5: the events it wants delivered, bits (1 << event); LVSS_EVENTS_ALL for a
         * writer that declared none (SubscribeWriter); lvssd answers the others (fanout.c) */
        uint32_t handled_events;
        bool subscribed;
        LastStatus last;
        Writer *next, *prev;
        /* issue 11 §1: the first owner row of its class is on its way to disk; subscribed once it is */
        struct OwnerPending *owner_pending;
};

/* Takes @call (answer.h; NULL: nobody to answer later). 0: subscribed (*ret; @call dropped, the
 * caller answers with the instance id); 1: @call answered later (ANSWER_ID, or ANSWER_HRESULT), once
 * the first owner row of the class is on disk (issue 11 §1); or a negative errno with *ret_hr and
 * *ret_message (@call dropped). */
int registry_subscribe(Manager *m, Client *c, const vss_id *writer_id, const char *name, const char *instance_name,
                       uint32_t usage, uint32_t source, int32_t level, uint32_t freeze_timeout_ms,
                       uint32_t handled_events, Pending *call, vss_hresult *ret_hr, char **ret_message, Writer **ret);
void registry_unsubscribe(Writer *w);
Writer *writer_free(Writer *w);
/* ListWriters: Identify to all, then answer @call (taken; ANSWER_WRITERS): 1, or a negative errno
 * (@call dropped). */
int registry_list_writers(Manager *m, Pending *call);
/* A ListWriters call from the connection @conn (Pending.conn) still waits for its answer. */
bool registry_list_pending(Manager *m, const void *conn);
void registry_forget_writer(Manager *m, Writer *w);
/* Tells @w (SessionChanged, no reply) that session @session_id is now in @state: 0, also when @w
 * is NULL or its connection is gone (nobody to tell), or a negative errno. */
int registry_tell_session_state(Writer *w, const vss_id *session_id, vss_writer_session_state state);
/* Every subscribed writer, oldest first (subscription order); *ret owned: free(). */
int registry_writers(Manager *m, Writer ***ret, size_t *ret_n);


/*
 * issue 11 §2: what the registry asks of the layer above it (the sessions),
 * so that it never calls into session code by name.
 */
typedef struct RegistryHooks {
        /* ListWriters: the words for @session's state (static text), and whether it is still open */
        const char *(*session_state)(const void *session, bool *ret_active);
        /* @w is going away: whatever waits on it fails as not responding, entries forget it */
        void (*writer_gone)(Manager *m, Writer *w);
} RegistryHooks;

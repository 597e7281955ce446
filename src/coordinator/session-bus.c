/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The session layer's bus edge (issue 11 §2: handlers unpack, call the
 * domain, pack).
 *
 * server.c's handlers read a call's arguments and hand the session a
 * Pending made here. The session answers it with an Answer (answer.h), at
 * once or when its step ends (a fan-out, a worker, the catalog thread), and
 * only here does that answer become a D-Bus reply. The wire is what it was
 * when session.c packed the replies itself: the same signatures, the same
 * error names and messages (test-dbus-interface, test-ws*).
 */

#include <stdlib.h>

#include "manager.h"
#include "connection.h"
#include "session.h"
#include "session-bus.h"
#include "status-bus.h"
#include "admin-bus.h"
#include "protocol/protocol.h"

typedef struct BusPending {
        Pending pending;
        Manager *m;
        sd_bus_message *call;
} BusPending;

/* The a(LVSS_STATUS_STRUCT) of @s's entries (@participants: only those taking part; NULL @s:
 * none). */
static int append_statuses(sd_bus_message *reply, const Session *s, bool participants) {
        int r = sd_bus_message_open_container(reply, 'a', "(" LVSS_STATUS_STRUCT ")");

        for (size_t i = 0; r >= 0 && s && i < s->n_entries; i++)
                if (!participants || session_entry_participates(s, s->entries[i]))
                        r = append_status(reply, s->entries[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int session_bus_reply_status(sd_bus_message *call, const Session *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = append_statuses(reply, s, false);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* The StepFinished signal to the requester of @s (SessionHooks.step_finished). */
static int bus_step_finished(Session *s, const char *name, vss_hresult hr, const char *message) {
        return sd_bus_emit_signal(s->client->bus, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "StepFinished", "sis", name,
                                  hr, message);
}

const SessionHooks session_bus_hooks = {
        .step_finished = bus_step_finished,
};

/* A reply with one value of @kind from @a (ANSWER_EMPTY, _ID, _BOOL, _RECORD_STATUS). */
static int reply_values(sd_bus_message *call, const Answer *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        switch (a->kind) {
        case ANSWER_ID:
                r = lvss_bus_append_id(reply, &a->id);
                break;
        case ANSWER_BOOL:
                r = sd_bus_message_append(reply, "b", a->yes);
                break;
        case ANSWER_RECORD_STATUS:
                r = sd_bus_message_append(reply, "bus", a->yes, a->lost, strempty(a->text));
                break;
        default:
                break;
        }
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ANSWER_EXTERNAL: (ay session id, i hresult, s message, the status of the writers taking part:
 * with --volume, those with files there); a NULL .session: a null id and no writers. */
static int reply_external(sd_bus_message *call, const Answer *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const Session *s = a->session;
        vss_id none = {};
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = lvss_bus_append_id(reply, s ? &s->id : &none);
        if (r >= 0)
                r = sd_bus_message_append(reply, "is", a->hr, strempty(a->text));
        if (r >= 0)
                r = append_statuses(reply, s, true);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

static int bus_pending_pack(Manager *m, sd_bus_message *call, const Answer *a) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        switch (a->kind) {
        case ANSWER_NUMBER:
        case ANSWER_SHADOWS:
        case ANSWER_STORAGE:
        case ANSWER_WRITERS:
                return admin_bus_pack(m, call, a);
        case ANSWER_STATUS:
                return session_bus_reply_status(call, a->session);
        case ANSWER_EXTERNAL:
                return reply_external(call, a);
        case ANSWER_HRESULT:
                (void) lvss_bus_error_set_hresult(&e, a->hr, "%s", strempty(a->text));
                return sd_bus_reply_method_error(call, &e);
        case ANSWER_ERRNO:
                if (a->text)
                        return sd_bus_reply_method_errnof(call, a->error, "%s", a->text);
                return sd_bus_reply_method_errno(call, a->error, NULL);
        default:
                return reply_values(call, a);
        }
}

static int bus_pending_answer(Pending *p, const Answer *a) {
        BusPending *b = (BusPending *) p;
        int r = bus_pending_pack(b->m, b->call, a);

        /* the packing failed (out of memory): the caller still gets an answer */
        if (r < 0 && a->kind != ANSWER_ERRNO)
                (void) sd_bus_reply_method_errno(b->call, r, NULL);
        if (a->flush)
                connection_bus_changed(b->m, sd_bus_message_get_bus(b->call));
        sd_bus_message_unref(b->call);
        free(b);
        return r;
}

static void bus_pending_drop(Pending *p) {
        BusPending *b = (BusPending *) p;

        sd_bus_message_unref(b->call);
        free(b);
}

static const PendingOps bus_pending_ops = {
        .answer = bus_pending_answer,
        .drop = bus_pending_drop,
};

Pending *session_bus_pending_new(Manager *m, sd_bus_message *call) {
        BusPending *b = calloc(1, sizeof *b);

        if (!b)
                return NULL;
        b->pending.ops = &bus_pending_ops;
        b->pending.conn = sd_bus_message_get_bus(call);
        b->m = m;
        b->call = sd_bus_message_ref(call);
        return &b->pending;
}

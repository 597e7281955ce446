/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * answer.h: a requester call the session layer answers, now or later, and
 * the plain C answer it gives (issue 11 §2: the bus handlers unpack, call
 * the domain, pack). No sd-bus here: the bus edge (session-bus.c) makes a
 * Pending for each call it hands to the session (and to the registry, for
 * the two calls it answers late: SubscribeWriter, ListWriters), and packs
 * the Answer into the D-Bus reply when it is completed. The session only
 * keeps the Pending while its step runs; it never sees the message.
 *
 * Ownership: a session_method_*() that takes a Pending owns it from then on,
 * also when it fails; on failure it drops it unanswered (the handler's error
 * is the answer). A NULL Pending is lvssd's own call (an external session):
 * nobody waits, completing it does nothing.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lvss/types.h>

#include "forward.h"

typedef enum AnswerKind {
        ANSWER_EMPTY,         /* () */
        ANSWER_ID,            /* ay: .id */
        ANSWER_BOOL,          /* b: .yes */
        ANSWER_STATUS,        /* a(LVSS_STATUS_STRUCT): the entries of .session */
        ANSWER_RECORD_STATUS, /* bus: .yes (complete), .lost, .text (the note, may be NULL) */
        ANSWER_HRESULT,       /* a VSS error: .hr, .text */
        ANSWER_ERRNO,         /* an errno error: .error (negative), .text (the message, or NULL: the errno's) */
        /* the admin calls (admin.c) */
        ANSWER_NUMBER,        /* u: .number */
        ANSWER_SHADOWS,       /* a(SHADOW_STRUCT): the rows of .shadows, of the set .id (null: all) */
        ANSWER_STORAGE,       /* a(stttu): .storage[0...n_storage) */
        ANSWER_WRITERS,       /* a(LVSS_ADMIN_STATUS_STRUCT): .writers[0...n_writers) (ListWriters, registry.c) */
        /* an external session's answer (external.c): (ay, i, s, a(LVSS_STATUS_STRUCT)): .session's
         * id and the entries taking part (a NULL .session: a null id, none), .hr, .text */
        ANSWER_EXTERNAL,
} AnswerKind;

/* ANSWER_STORAGE: one volume of ListShadowStorage (issue 12 §2). */
typedef struct AnswerStorage {
        const char *volume;
        uint64_t used, allocated; /* UINT64_MAX: could not be added up */
        uint64_t max_bytes;       /* 0: none */
        uint32_t max_percent;
} AnswerStorage;

/* ANSWER_WRITERS: one writer of ListWriters, its last status as the admin view shows it (WS-9). */
typedef struct AnswerWriter {
        vss_id instance_id, writer_id, session_id;
        const char *name, *instance_name;
        vss_writer_state state;
        vss_hresult failure, application_result;
        const char *application_message; /* may be NULL */
        vss_writer_event event;
        bool in_progress, active, answered_by_lvssd;
        uint64_t when_usec, took_usec;
        const char *state_text;
        uint32_t uid; /* (uid_t) -1: unknown */
        int32_t pid;
        const char *note; /* may be NULL */
} AnswerWriter;

typedef struct Answer {
        AnswerKind kind;
        vss_hresult hr;
        int error;
        const char *text; /* borrowed for the call */
        vss_id id;
        bool yes;
        uint32_t lost;
        const Session *session;
        uint32_t number;
        const struct lvss_catalog_snapshot_list *shadows;
        const AnswerStorage *storage;
        size_t n_storage;
        const AnswerWriter *writers;
        size_t n_writers;
        bool flush; /* answered outside the connection's own dispatch: the edge flushes the connection */
} Answer;

typedef struct Pending Pending;

typedef struct PendingOps {
        /* Packs @a, sends it, frees @p: 0, or the negative errno of the packing or the send. */
        int (*answer)(Pending *p, const Answer *a);
        /* Frees @p unanswered. */
        void (*drop)(Pending *p);
} PendingOps;

struct Pending {
        const PendingOps *ops;
        /* the connection the call came on, opaque here: only compared (a connection whose
         * call waits for its answer is not idle, server.c) */
        const void *conn;
};

/* Answers *@p (taken: *@p is NULL after); 0 when *@p was NULL (nobody waits). */
static inline int pending_answer(Pending **p, const Answer *a) {
        Pending *q = *p;

        *p = NULL;
        return q ? q->ops->answer(q, a) : 0;
}

static inline Pending *pending_drop(Pending *p) {
        if (p)
                p->ops->drop(p);
        return NULL;
}

static inline void pending_dropp(Pending **p) {
        *p = pending_drop(*p);
}

static inline int pending_answer_empty(Pending **p) {
        return pending_answer(p, &(Answer) { .kind = ANSWER_EMPTY });
}

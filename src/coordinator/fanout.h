/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * fanout.c: one event sent to many writers at once, each call with its
 * deadline (WS-5). It knows writers (registry.h) and nothing above: what a
 * result means to a session it tells through FanoutOps (issue 11 §2).
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <lvss/types.h>

#include "forward.h"
#include "protocol/event-context.h"

struct Target {
        Fanout *f;
        Writer *writer; /* NULL: the writer is gone (fails at once as not responding) */
        void *peer;     /* the caller's per-target data (a session: its status Entry), or NULL */
        sd_bus_slot *slot;
        bool done;
        bool ok;
        vss_hresult failure;
        vss_hresult application_result;
        char *application_message;
        char *metadata; /* Identify: the WMD XML */
        char *note;     /* what lvssd found wrong with the answer (issue 8 item 7), or NULL */
        bool answered_by_lvssd; /* issue 11 §5: the writer does not handle the event; lvssd answered ok */
        uint64_t sent_usec, sent_mono, duration_usec;
};

typedef void (*fanout_done_t)(Fanout *f, void *userdata);
/* Fill @ctx (all zero) for @t, as plain data (protocol/event-context.h): its strings are borrowed
 * until the fan-out packed it, at once; its arrays are freed by lvss_event_context_done(),
 * also when this fails. */
typedef int (*fanout_context_t)(Fanout *f, Target *t, lvss_event_context *ctx, void *userdata);

/*
 * issue 11 §2: what the fan-out tells the layer that started it, per target,
 * so that it never calls into that layer by name (the layers run one way:
 * session → fan-out). Every member may be NULL.
 */
typedef struct FanoutOps {
        /* the event's context for @t: the fan-out packs it into the call (issue 11 §2) */
        fanout_context_t context;
        /* @t is not sent the event and not waited on (fails at once as not responding) */
        bool (*silent)(Fanout *f, Target *t, void *userdata);
        /* the event goes out to @t (before any answer can come) */
        void (*sent)(Fanout *f, Target *t, void *userdata);
        /* one component of out["components"] in @t's answer (the strings are the answer's, valid
         * during the call); only for a target with a peer, and only once the whole list was read
         * and found well formed (component-wire.h). <0: the answer fails as unreadable */
        int (*out_component)(Fanout *f, Target *t, const lvss_wire_component *c, void *userdata);
        /* @t's outcome is in (t->ok, t->failure, the writer's result and message, the duration) */
        void (*result)(Fanout *f, Target *t, void *userdata);
        /* fanout_cancel(): @t's answer will not be waited for; its outcome is unknown */
        void (*dropped)(Fanout *f, Target *t, void *userdata);
        /* a name for @t in log lines when its writer is gone */
        const char *(*name)(const Target *t, void *userdata);
} FanoutOps;

struct Fanout {
        Manager *m;
        vss_writer_event event;
        vss_id session_id;
        Target *targets;
        size_t n_targets, n_outstanding;
        sd_event_source *defer; /* from fanout_start() on; on when done is due */
        bool done_scheduled;
        fanout_done_t done;
        const FanoutOps *ops;
        void *userdata;
};

/* Sends @event to every writer in @writers (entries may be NULL) at once and
 * calls @done once every target has answered, failed, or passed its deadline.
 * @done is always called from the event loop, never from within this call: from
 * the dispatch of the last answer, or from a defer source when no answer ends it. */
int fanout_start(Manager *m, vss_writer_event event, const vss_id *session_id, Writer **writers, void **peers,
                 size_t n, const FanoutOps *ops, fanout_done_t done, void *userdata, Fanout **ret);
/* Stop waiting: outstanding calls are dropped (their targets marked done, not ok,
 * failure 0); @done is not called. Frees @f. */
Fanout *fanout_cancel(Fanout *f);
Fanout *fanout_free(Fanout *f);
uint64_t fanout_deadline_usec(Manager *m, vss_writer_event e, const Writer *w);
/* @w is going away: its outstanding target fails as not responding. */
void target_forget_writer(Fanout *f, Writer *w);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager: the one object lvssd runs on (main.c), shared by every layer,
 * and the log helpers every layer uses.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "catalog/catalog.h"
#include "catalog/catalog-queue.h"
#include "basic/util.h"
#include "providers/provider.h"
#include "lvssd-config.h"
#include "forward.h"

/* A few messages per interval for a kind of event a peer can repeat at will; the next says how many were left out. */
typedef struct LogLimit {
        uint64_t last_usec;   /* start of the current interval */
        unsigned logged;      /* messages logged in it */
        unsigned suppressed;
} LogLimit;

/* Access refusals logged per LOG_LIMIT interval, all peers together (server.c). */
#define DENIED_LOG_BURST 20


struct Manager {
        Config cfg;
        /* &session_registry_hooks (main.c, and every test that builds a Manager): without
         * it, a writer that goes is not forgotten by the sessions that name it */
        const RegistryHooks *registry_hooks;
        /* &server_connection_hooks (server_listen()): what the transport (connection.c) asks the
         * bus edge about a connection; NULL until then */
        const struct ConnectionHooks *connection_hooks;
        /* &admin_storage_hooks (server_listen()): retention and room under the storage limit,
         * which the session layer asks of admin.c (issue 12 §2); NULL until then */
        const struct StorageHooks *storage_hooks;
        /* &session_bus_hooks (server_listen()): what the session layer tells a requester
         * (StepFinished) through the bus edge (issue 11 §2); NULL until then */
        const struct SessionHooks *session_hooks;
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_source;
        lvss_catalog *catalog;      /* the loop's connection: start-up recovery and writer-owner reads */
        lvss_catalog_queue *catalog_queue; /* every write while the loop runs (issue 11 §1) */
        lvss_provider **providers;  /* copy first, then btrfs, then the exec ones */
        size_t n_providers;
        lvss_provider *default_provider;

        Client *clients;
        Client **clients_by_fd; /* a bus's Client from its socket (connection_bus_changed()) */
        size_t n_clients_by_fd;
        Writer *writers;  /* subscribed writers, newest first */
        Session *sessions;
        Session *set_owner; /* the session whose snapshot set is in creation (WS-10) */
        struct AdminList *admin_lists; /* ListWriters calls in flight */
        struct AdminQuery *admin_queries; /* ListShadows / DeleteShadows waiting for the catalog */
        lvss_catalog_status *history;  /* status rows not yet in the catalog */
        size_t n_history;
        unsigned n_frozen; /* sessions whose writers are frozen (Session.writers_frozen; issue 11 §5) */
        unsigned n_writers;
        bool stopping;
        struct Metrics *metrics; /* MetricsFile= (issue 12 §3), or NULL */

        /* connection limits (server.c, connection.c) */
        unsigned n_clients;              /* every accepted connection */
        unsigned n_unprivileged;         /* those of peers that may not act as requester */
        unsigned n_refusing;             /* refused ones still open to say why (not in n_clients) */
        sd_event_source *accept_timer;   /* re-enables accepting after EMFILE/ENFILE */
        LogLimit accept_log, refuse_log, idle_log; /* what a flood of peers could otherwise make lvssd log */
        LogLimit denied_log;             /* refused calls (access denied), DENIED_LOG_BURST per interval */

        /* issue 10 part 2: the external session (external.c) */
        Session *external;               /* the one external session, held or on its way; or NULL */
        Session *external_done;          /* the last one, ended: what a later thaw or freezeFail reports */
        lvss_provider *external_provider;
};

void log_session(const Session *s, const char *fmt, ...) _printf_(2, 3);
/* log_session() about one writer's outcome of @event: the journal gets LVSS_WRITER=, LVSS_EVENT=, LVSS_HRESULT= too. */
void log_session_writer(const Session *s, const char *writer, vss_writer_event event, vss_hresult hr,
                        const char *fmt, ...) _printf_(5, 6);
/*
 * Writer-status history (issue 11 §5: the catalog and the freeze window). A row is queued in
 * memory; a flush hands the queue to the catalog thread in one transaction. The rule: while any
 * session's writers are frozen, lvssd writes no rows that nobody waits for, and never a frozen
 * session's rows but at that session's own asking. So:
 *   manager_flush_history(): "soft", a fan-out is done; writes nothing while any session is frozen.
 *   manager_flush_history_forced(): someone waits (@self's GetRecordStatus barrier, @self's end row
 *     after its history): every row but those of frozen sessions other than @self; @self NULL
 *     (lvssd's stop): every row.
 *   manager_writers_frozen(): a session's freeze window begins (its Freeze fan-out starts) or ends
 *     (its Thaw or Abort fan-out is done, or the session is freed); when the last one ends, the
 *     rows held for it are written.
 */
void manager_queue_history(Manager *m, const lvss_catalog_status *row);
void manager_flush_history(Manager *m);
void manager_flush_history_forced(Manager *m, const Session *self);
void manager_writers_frozen(Manager *m, const vss_id *session_id, bool frozen);
/* "writer-status history incomplete: ..." (owned), or NULL when nothing was lost. */
char *session_history_note(const Session *s);
void log_msg(const char *fmt, ...) _printf_(1, 2);
/* "access denied: ..." in the log, at most DENIED_LOG_BURST per 10 s (log_limit_ok). */
void log_denied(Manager *m, const char *fmt, ...) _printf_(2, 3);

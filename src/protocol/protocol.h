/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The lvss D-Bus interface (docs/dbus-interface.md): names, the one mapping
 * between vss_hresult and D-Bus errors, and (de)serialisation helpers shared
 * by the coordinator, the requester, the writer and the tools.
 *
 * Internal functions return negative errno; the hresult border is
 * lvss_bus_error_to_hresult() on the client side and lvss_bus_reply_hresult()
 * on the server side.
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "socket-path.h"

#define LVSS_COORDINATOR_PATH  "/org/lvss/coordinator"
#define LVSS_COORDINATOR_IFACE "org.lvss.Coordinator1"
#define LVSS_SESSION_PATH      "/org/lvss/session"
#define LVSS_SESSION_IFACE     "org.lvss.Session1"
#define LVSS_WRITER_PATH       "/org/lvss/writer"
#define LVSS_WRITER_IFACE      "org.lvss.Writer1"

#define LVSS_ERROR_PREFIX      "org.lvss.Error."

/* What Writer1.Event answers: ok, failure, application result and message, out. */
#define LVSS_EVENT_REPLY_SIGNATURE "biisa{sv}"

/* The status struct of GatherWriterStatus / GatherSessionStatus. */
#define LVSS_STATUS_STRUCT     "ayayssuiisayubtt"
/* ListWriters adds: session active, session state text; the writer's uid and
 * pid; what lvssd found wrong with its answer ("" = nothing); whether lvssd
 * answered the last event for a writer that does not handle it (issue 11 §5). */
#define LVSS_ADMIN_STATUS_STRUCT "ayayssuiisayubttbsuisb"

/* How long a client waits for a reply that the coordinator defers until a step ends.
 * The coordinator bounds every step itself (WS-5); this only guards against a
 * coordinator that is alive but broken. */
#define LVSS_LONG_CALL_USEC (UINT64_C(3600) * UINT64_C(1000000))

/* The socket path: lvss_socket_path(), socket-path.h. */

/* Connect a client bus (requester, writer, tool) to the coordinator at @path
 * (NULL: lvss_socket_path()). Not attached to any event loop. */
int lvss_bus_connect(const char *path, sd_bus **ret);

/* Set @e to "org.lvss.Error.<NAME>" for @hr with a message; returns a negative errno for sd-bus. */
int lvss_bus_error_set_hresult(sd_bus_error *e, vss_hresult hr, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The hresult a failed call means: lvss errors by name; a dropped or absent
 * coordinator is VSS_E_WRITER_INFRASTRUCTURE; -ENOMEM VSS_E_OUTOFMEMORY;
 * access refusals VSS_E_ACCESSDENIED; anything else VSS_E_UNEXPECTED. @r is the negative errno sd-bus returned. */
vss_hresult lvss_bus_error_to_hresult(const sd_bus_error *e, int r);

/* ids travel as "ay" of exactly 16 bytes */
int lvss_bus_append_id(sd_bus_message *m, const vss_id *id);
int lvss_bus_read_id(sd_bus_message *m, vss_id *ret); /* -EBADMSG unless 16 bytes */

/* vss_id <-> sd_id128_t are the same 16 bytes */
vss_id lvss_id_random(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A writer's status struct on the bus (WS-9): packed for GatherWriterStatus and
 * GatherSessionStatus (session-bus.c) and for the external session's replies
 * (external.c). The wire is the one session-bus.c packed alone before
 * (test-dbus-interface, test-ws09-provenance).
 */

#include "manager.h"
#include "session.h"
#include "status-bus.h"
#include "protocol/protocol.h"

int append_status(sd_bus_message *m, const Entry *e) {
        int r;

        r = sd_bus_message_open_container(m, 'r', LVSS_STATUS_STRUCT);
        if (r < 0)
                return r;
        r = lvss_bus_append_id(m, &e->instance_id);
        if (r >= 0)
                r = lvss_bus_append_id(m, &e->writer_id);
        if (r >= 0)
                r = sd_bus_message_append(m, "ssuiis", e->writer_name, e->instance_name, (uint32_t) e->state,
                                          e->failure, e->application_result, strempty(e->application_message));
        if (r >= 0)
                r = lvss_bus_append_id(m, &e->session->id);
        if (r >= 0)
                r = sd_bus_message_append(m, "ubtt", (uint32_t) e->last_event, e->in_progress, e->last_event_usec,
                                          e->duration_usec);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

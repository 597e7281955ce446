/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-bench-peer: one end of the raw sd-bus floor.
 *
 *   lvss-bench-peer   (its connected socket on fd 3)
 *
 * A D-Bus peer-to-peer client on a socket the bench made (the bench is the
 * server, as lvssd is for writers). It exports one method with the signature
 * of org.lvss.Writer1.Event, "u ay a{sv}" in, "b i i s a{sv}" out, and
 * answers it at once: read the arguments, send a fixed reply. No library
 * around it, no event loop beyond sd_bus_process()/sd_bus_wait(): the
 * transport and nothing else. Exits when the bench closes the connection.
 */

#include <stdio.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "bench.h"

static int method_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const void *id;
        size_t id_len;
        uint32_t event;
        int r;

        r = sd_bus_message_read(m, "u", &event);
        if (r >= 0)
                r = sd_bus_message_read_array(m, 'y', &id, &id_len);
        if (r >= 0)
                r = sd_bus_message_skip(m, "a{sv}");
        if (r < 0)
                return r;

        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "biis", 1, 0, 0, "");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable peer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Event", "uaya{sv}", "biisa{sv}", method_event, 0),
        SD_BUS_VTABLE_END,
};

int main(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, BENCH_PEER_FD, BENCH_PEER_FD);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, BENCH_PEER_PATH, BENCH_PEER_IFACE, peer_vtable, NULL);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                fprintf(stderr, "lvss-bench-peer: cannot set up the connection on fd %d: %s\n", BENCH_PEER_FD,
                        strerror(-r));
                return 1;
        }

        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        break;
        }
        /* The bench closing the connection is how a run ends. */
        return r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE ? 0 : 1;
}

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
 *
 *   lvss-bench-peer --relay N   (the bench on fd 3, N peers on fds 4 … N + 3)
 *
 * The relay floor (bench/README.md "Round-trip floor"): lvssd's place in the
 * protocol with nothing of lvssd in it. It answers Event on fd 3 only once it
 * has sent Event to its N peers (it is their server, as lvssd is the
 * writers') and every one answered: two round trips of the bare transport,
 * what the current protocol costs at the least.
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- the relay ---- */

typedef struct relay {
        sd_bus *up;
        sd_bus **down;
        size_t n, outstanding;
        sd_bus_message *call; /* the bench's Event, answered when every peer answered */
} relay;

static int relay_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        relay *rl = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *answer = NULL;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL))
                fprintf(stderr, "lvss-bench-peer: relay: a peer failed the call\n");
        if (--rl->outstanding > 0 || !rl->call)
                return 0;
        r = sd_bus_message_new_method_return(rl->call, &answer);
        if (r >= 0)
                r = sd_bus_message_append(answer, "biis", 1, 0, 0, "");
        if (r >= 0)
                r = sd_bus_message_open_container(answer, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_close_container(answer);
        if (r >= 0)
                r = sd_bus_send(rl->up, answer, NULL);
        rl->call = sd_bus_message_unref(rl->call);
        return r < 0 ? r : 0;
}

static int relay_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const uint8_t session_id[16] = { 0x42 };
        relay *rl = userdata;
        uint32_t event;
        int r;

        r = sd_bus_message_read(m, "u", &event);
        if (r < 0)
                return r;
        if (rl->call)
                return -EBUSY;
        for (size_t i = 0; i < rl->n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
                r = sd_bus_message_new_method_call(rl->down[i], &call, NULL, BENCH_PEER_PATH, BENCH_PEER_IFACE,
                                                   "Event");
                if (r >= 0)
                        r = sd_bus_message_append(call, "u", event);
                if (r >= 0)
                        r = sd_bus_message_append_array(call, 'y', session_id, sizeof session_id);
                if (r >= 0)
                        r = sd_bus_message_open_container(call, 'a', "{sv}");
                if (r >= 0)
                        r = sd_bus_message_close_container(call);
                if (r >= 0)
                        r = sd_bus_call_async(rl->down[i], NULL, call, relay_reply, rl, 60 * 1000000ULL);
                if (r < 0)
                        return r;
                rl->outstanding++;
        }
        rl->call = sd_bus_message_ref(m);
        return 1; /* answered later, from relay_reply() */
}

static const sd_bus_vtable relay_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Event", "uaya{sv}", "biisa{sv}", relay_event, 0),
        SD_BUS_VTABLE_END,
};

static int relay_main(size_t n) {
        relay rl = { .n = n };
        struct pollfd *p;
        int r;

        rl.down = calloc(n, sizeof *rl.down);
        p = calloc(n + 1, sizeof *p);
        if (!rl.down || !p)
                return 1;
        r = sd_bus_new(&rl.up);
        if (r >= 0)
                r = sd_bus_set_fd(rl.up, BENCH_PEER_FD, BENCH_PEER_FD);
        if (r >= 0)
                r = sd_bus_add_object_vtable(rl.up, NULL, BENCH_PEER_PATH, BENCH_PEER_IFACE, relay_vtable, &rl);
        if (r >= 0)
                r = sd_bus_start(rl.up);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                sd_id128_t id;
                r = sd_bus_new(&rl.down[i]);
                if (r >= 0)
                        r = sd_bus_set_fd(rl.down[i], BENCH_PEER_FD + 1 + (int) i, BENCH_PEER_FD + 1 + (int) i);
                if (r >= 0)
                        r = sd_id128_randomize(&id);
                if (r >= 0)
                        r = sd_bus_set_server(rl.down[i], 1, id);
                if (r >= 0)
                        r = sd_bus_start(rl.down[i]);
        }
        if (r < 0) {
                fprintf(stderr, "lvss-bench-peer: relay: cannot set up its connections: %s\n", strerror(-r));
                return 1;
        }
        for (;;) {
                for (size_t i = 0; i <= n; i++) {
                        sd_bus *b = i == 0 ? rl.up : rl.down[i - 1];
                        do
                                r = sd_bus_process(b, NULL);
                        while (r > 0);
                        if (r < 0)
                                goto out;
                        p[i] = (struct pollfd) { .fd = sd_bus_get_fd(b), .events = (short) sd_bus_get_events(b) };
                }
                if (poll(p, n + 1, -1) < 0 && errno != EINTR)
                        break;
        }
out:
        /* the bench closing the connection is how a run ends */
        for (size_t i = 0; i < n; i++)
                sd_bus_close_unref(rl.down[i]);
        sd_bus_close_unref(rl.up);
        free(rl.down);
        free(p);
        return r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE ? 0 : 1;
}

int main(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (argc == 2 && (streq_ptr(argv[1], "--help") || streq_ptr(argv[1], "-h"))) {
                printf("Usage: lvss-bench-peer            (its socket on fd %d)\n"
                       "       lvss-bench-peer --relay N  (the bench on fd %d, N peers on fds %d ... N + %d)\n\n"
                       "The raw sd-bus floor's peer, started by lvss-bench: answers Event at once; with --relay,\n"
                       "answers it once its N peers answered (the relay floor, bench/README.md).\n",
                       BENCH_PEER_FD, BENCH_PEER_FD, BENCH_PEER_FD + 1, BENCH_PEER_FD);
                return 0;
        }
        if (argc == 3 && streq_ptr(argv[1], "--relay")) {
                char *end = NULL;
                unsigned long n = strtoul(argv[2], &end, 10);
                if (!end || *end || n == 0 || n > 100000) {
                        fprintf(stderr, "lvss-bench-peer: --relay needs a number of peers, 1 or more: '%s'\n", argv[2]);
                        return 2;
                }
                return relay_main((size_t) n);
        }
        if (argc > 1) {
                fprintf(stderr, "lvss-bench-peer: unknown arguments (see --help)\n");
                return 2;
        }
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The raw sd-bus floor: what one event to N processes costs on the transport
 * lvss uses, with nothing of lvss in it.
 *
 * The bench plays lvssd's part: N lvss-bench-peer processes, each on its own
 * socketpair, each a D-Bus peer-to-peer connection with the bench as the
 * server. One "event" is lvssd's fan-out without the coordination: a method
 * call with Writer1.Event's signature (an event number, a 16-byte session
 * id, an empty a{sv}) queued to all N at once with sd_bus_call_async(), then
 * wait until the last reply is in; each reply's first fields are read. The
 * difference to lvss is everything lvss adds: the requester's own call to
 * lvssd, the per-writer status table and catalog record, the writer
 * library's event context and handler dispatch.
 *
 * Two loops wait for the replies, over the same connections and peers:
 *   - "sdbus-event": every connection attached to one sd-event loop with
 *     sd_bus_attach_event(), as lvssd did before it drove each connection
 *     with its own edge-triggered io source (src/coordinator/server.c);
 *   - "sdbus-floor": one bare epoll set, a connection processed only when
 *     its socket is ready. This is the floor: sd-event runs every attached
 *     connection's prepare callback on every iteration and dispatches one
 *     source per iteration, which makes the first loop quadratic in N
 *     (bench/README.md).
 *
 * The first fan-out of each loop is a warm-up and not counted: the very
 * first also waits for every peer to start and authenticate.
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include <lvss/types.h>

#include "bench.h"

#define CALL_TIMEOUT_USEC (60 * USEC_PER_SEC)

typedef struct floor_peer {
        sd_bus *bus;
        sd_bus_slot *slot;
        pid_t pid;
} floor_peer;

typedef struct floor_run {
        sd_event *event;
        floor_peer *peers;
        size_t n;
        int epoll_fd;
        size_t outstanding;
        int error;
} floor_run;

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        floor_run *f = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int ok, failure, app_result, r;
        const char *message;

        if (e) {
                bench_log("floor: a peer did not answer: %s", e->message ? e->message : e->name);
                f->error = -EIO;
        } else {
                r = sd_bus_message_read(reply, "biis", &ok, &failure, &app_result, &message);
                if (r < 0 || !ok) {
                        bench_log("floor: bad reply from a peer");
                        f->error = -EPROTO;
                }
        }
        f->outstanding--;
        return 0;
}

static int send_all(floor_run *f) {
        static const uint8_t session_id[16] = { 0x42 };
        int r;

        for (size_t i = 0; i < f->n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                floor_peer *p = &f->peers[i];

                p->slot = sd_bus_slot_unref(p->slot);
                r = sd_bus_message_new_method_call(p->bus, &m, NULL, BENCH_PEER_PATH, BENCH_PEER_IFACE, "Event");
                if (r >= 0)
                        r = sd_bus_message_append(m, "u", (uint32_t) VSS_EVENT_PREPARE_BACKUP);
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', session_id, sizeof session_id);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_call_async(p->bus, &p->slot, m, on_reply, f, CALL_TIMEOUT_USEC);
                if (r < 0) {
                        bench_log("floor: cannot call peer %zu: %s", i, strerror(-r));
                        return r;
                }
                f->outstanding++;
        }
        return 0;
}

/* Every connection attached to one sd-event loop, as lvssd does it. */
static int fan_out_event(floor_run *f, double *ret_usec) {
        uint64_t t0;
        int r;

        t0 = now_nsec();
        r = send_all(f);
        if (r < 0)
                return r;
        while (f->outstanding > 0) {
                r = sd_event_run(f->event, UINT64_MAX);
                if (r < 0) {
                        bench_log("floor: the event loop failed: %s", strerror(-r));
                        return r;
                }
        }
        *ret_usec = (double) (now_nsec() - t0) / 1000.0;
        return f->error;
}

static int epoll_watch(floor_run *f, size_t i, int op) {
        struct epoll_event ev = { .data.u64 = i };
        int events = sd_bus_get_events(f->peers[i].bus);

        if (events < 0)
                return events;
        ev.events = (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0);
        if (epoll_ctl(f->epoll_fd, op, sd_bus_get_fd(f->peers[i].bus), &ev) < 0)
                return -errno;
        return 0;
}

/* The same connections, no sd-event: one epoll set, a connection is processed only when its socket is ready. */
static int fan_out_epoll(floor_run *f, double *ret_usec) {
        struct epoll_event evs[64];
        uint64_t t0;
        int r;

        t0 = now_nsec();
        r = send_all(f);
        if (r < 0)
                return r;
        /* A send that did not fit in the socket at once waits for EPOLLOUT. */
        for (size_t i = 0; i < f->n; i++)
                if (sd_bus_get_events(f->peers[i].bus) & POLLOUT) {
                        r = epoll_watch(f, i, EPOLL_CTL_MOD);
                        if (r < 0)
                                return r;
                }
        while (f->outstanding > 0) {
                int k = epoll_wait(f->epoll_fd, evs, ELEMENTSOF(evs), -1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int j = 0; j < k; j++) {
                        size_t i = (size_t) evs[j].data.u64;
                        do
                                r = sd_bus_process(f->peers[i].bus, NULL);
                        while (r > 0);
                        if (r < 0) {
                                bench_log("floor: peer %zu: %s", i, strerror(-r));
                                return r;
                        }
                        if (evs[j].events & EPOLLOUT) {
                                r = epoll_watch(f, i, EPOLL_CTL_MOD);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        *ret_usec = (double) (now_nsec() - t0) / 1000.0;
        return f->error;
}

static void floor_run_done(floor_run *f) {
        for (size_t i = 0; i < f->n; i++) {
                floor_peer *p = &f->peers[i];
                p->slot = sd_bus_slot_unref(p->slot);
                if (p->bus) {
                        sd_bus_detach_event(p->bus);
                        p->bus = sd_bus_close_unref(p->bus);
                }
        }
        /* Closed connections end the peers. */
        for (size_t i = 0; i < f->n; i++)
                if (f->peers[i].pid > 0)
                        (void) bench_reap(f->peers[i].pid, 10000, NULL);
        free(f->peers);
        f->peers = NULL;
        f->event = sd_event_unref(f->event);
        closep(&f->epoll_fd);
}

int bench_floor_run(const bench_config *cfg, unsigned n) {
        _cleanup_(floor_run_done) floor_run f = { .epoll_fd = -1 };
        _cleanup_(samples_done) samples event = {}, with_sd_event = {};
        unsigned reps = reps_for(cfg, "sdbus-floor", n);
        double usec;
        int r;

        f.peers = calloc(n, sizeof *f.peers);
        if (!f.peers)
                return -ENOMEM;
        r = sd_event_new(&f.event);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int mine = -1, theirs = -1;
                char *argv[] = { (char *) cfg->peer_path, NULL };
                int sv[2];
                sd_id128_t id;

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                        r = -errno;
                        bench_log("floor: socketpair: %s (peer %zu)", strerror(-r), i);
                        return r;
                }
                mine = sv[0];
                theirs = sv[1];
                spawn_fd fds[] = { { theirs, BENCH_PEER_FD } };
                r = bench_spawn(argv, fds, ELEMENTSOF(fds), NULL, &f.peers[i].pid);
                if (r < 0) {
                        bench_log("floor: cannot start %s: %s", cfg->peer_path, strerror(-r));
                        return r;
                }
                f.n = i + 1;

                r = sd_bus_new(&f.peers[i].bus);
                if (r >= 0)
                        r = sd_bus_set_fd(f.peers[i].bus, mine, mine);
                if (r >= 0) {
                        TAKE_FD(mine);
                        r = sd_id128_randomize(&id);
                }
                if (r >= 0)
                        r = sd_bus_set_server(f.peers[i].bus, 1, id);
                if (r >= 0)
                        r = sd_bus_attach_event(f.peers[i].bus, f.event, SD_EVENT_PRIORITY_NORMAL);
                if (r >= 0)
                        r = sd_bus_start(f.peers[i].bus);
                if (r < 0) {
                        bench_log("floor: cannot set up the server side of peer %zu: %s", i, strerror(-r));
                        return r;
                }
        }

        /* sd-event first; the warm-up also waits for every peer to start and authenticate. */
        r = fan_out_event(&f, &usec);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < reps; i++) {
                r = fan_out_event(&f, &usec);
                if (r < 0)
                        return r;
                samples_add(&with_sd_event, usec);
        }

        /* Then the same connections on a bare epoll set. */
        f.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (f.epoll_fd < 0)
                return -errno;
        for (size_t i = 0; i < n; i++) {
                r = sd_bus_detach_event(f.peers[i].bus);
                if (r >= 0)
                        r = epoll_watch(&f, i, EPOLL_CTL_ADD);
                if (r < 0) {
                        bench_log("floor: cannot move peer %zu to epoll: %s", i, strerror(-r));
                        return r;
                }
        }
        r = fan_out_epoll(&f, &usec); /* warm-up */
        if (r < 0)
                return r;
        for (unsigned i = 0; i < reps; i++) {
                r = fan_out_epoll(&f, &usec);
                if (r < 0)
                        return r;
                samples_add(&event, usec);
        }
        result_add(n, "sdbus-floor", "event", "us", &event);
        result_add(n, "sdbus-event", "event", "us", &with_sd_event);
        return 0;
}

/*
 * The relay floor (bench/README.md "Round-trip floor"): the bench calls one
 * lvss-bench-peer --relay, which calls its N peers and answers once all of
 * them answered. That is lvss's protocol for one event (requester → lvssd →
 * writers → lvssd → requester) on the bare transport: the least the current
 * protocol can cost. Run for N up to RELAY_N_MAX (a descriptor per peer in the relay).
 */
#define RELAY_N_MAX 100

int bench_relay_run(const bench_config *cfg, unsigned n) {
        _cleanup_(samples_done) samples event = {};
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        unsigned reps = reps_for(cfg, "sdbus-floor", n);
        pid_t *pids = NULL, relay = 0;
        spawn_fd *fds = NULL;
        int *mine = NULL, up[2] = { -1, -1 }, r = 0;
        size_t started = 0;

        if (n > RELAY_N_MAX)
                return 0;
        pids = calloc(n, sizeof *pids);
        fds = calloc(n + 1, sizeof *fds);
        mine = calloc(n, sizeof *mine);
        if (!pids || !fds || !mine) {
                r = -ENOMEM;
                goto done;
        }
        /* the peers, each on a socketpair whose other end goes to the relay */
        for (size_t i = 0; i < n; i++) {
                char *argv[] = { (char *) cfg->peer_path, NULL };
                int sv[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                        r = -errno;
                        goto done;
                }
                mine[i] = sv[0];
                spawn_fd pfd[] = { { sv[1], BENCH_PEER_FD } };
                r = bench_spawn(argv, pfd, ELEMENTSOF(pfd), NULL, &pids[i]);
                close(sv[1]);
                started = i + 1;
                if (r < 0)
                        goto done;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, up) < 0) {
                r = -errno;
                goto done;
        }
        char count[16];
        snprintf(count, sizeof count, "%u", n);
        char *argv[] = { (char *) cfg->peer_path, (char *) "--relay", count, NULL };
        fds[0] = (spawn_fd) { up[1], BENCH_PEER_FD };
        for (size_t i = 0; i < n; i++)
                fds[i + 1] = (spawn_fd) { mine[i], BENCH_PEER_FD + 1 + (int) i };
        r = bench_spawn(argv, fds, n + 1, NULL, &relay);
        closep(&up[1]);
        for (size_t i = 0; i < n; i++)
                closep(&mine[i]);
        if (r < 0) {
                bench_log("relay: cannot start %s --relay: %s", cfg->peer_path, strerror(-r));
                goto done;
        }

        sd_id128_t id;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, up[0], up[0]);
        if (r >= 0) {
                up[0] = -1;
                r = sd_id128_randomize(&id);
        }
        if (r >= 0)
                r = sd_bus_set_server(bus, 1, id);
        if (r >= 0)
                r = sd_bus_start(bus);
        /* one warm-up call (the relay and its peers authenticate), then the measured ones */
        for (unsigned i = 0; r >= 0 && i <= reps; i++) {
                static const uint8_t session_id[16] = { 0x42 };
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t t0 = now_nsec();

                r = sd_bus_message_new_method_call(bus, &m, NULL, BENCH_PEER_PATH, BENCH_PEER_IFACE, "Event");
                if (r >= 0)
                        r = sd_bus_message_append(m, "u", (uint32_t) VSS_EVENT_PREPARE_BACKUP);
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', session_id, sizeof session_id);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
                if (r < 0)
                        bench_log("relay: the call failed: %s", error.message ? error.message : strerror(-r));
                sd_bus_error_free(&error);
                if (r >= 0 && i > 0)
                        samples_add(&event, (double) (now_nsec() - t0) / 1000.0);
        }
        if (r >= 0)
                result_add(n, "sdbus-relay", "event", "us", &event);
done:
        bus = sd_bus_close_unref(bus); /* ends the relay, which ends its peers */
        closep(&up[0]);
        closep(&up[1]);
        if (relay > 0)
                (void) bench_reap(relay, 10000, NULL);
        for (size_t i = 0; i < started; i++) {
                if (mine && mine[i] > 0)
                        closep(&mine[i]);
                (void) bench_reap(pids[i], 10000, NULL);
        }
        free(pids);
        free(fds);
        free(mine);
        return r < 0 ? r : 0;
}

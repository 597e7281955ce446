/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The transport: each client's sd-bus server connection driven by the event
 * loop (its io, time and deadline sources), what is sent on it outside its
 * own dispatch (connection_bus_changed()), and its end. Issue 11 §2: this is
 * the layer below the fan-out and the registry, which send on the writers'
 * connections; it includes no session, fan-out, registry, admin or bus-edge
 * header. What the layers above decide about a connection (may it be closed
 * when idle, what goes with it) it asks through Manager.connection_hooks
 * (ConnectionHooks, set by server.c). server.c accepts the connections and
 * owns the vtables.
 */

#include <inttypes.h>
#include <linux/sockios.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include "manager.h"
#include "connection.h"

/* ---- connections and the event loop ------------------------------------------------
 *
 * Each connection has its own io source (the socket) and time source (sd-bus's
 * next deadline: a call's timeout, the authentication timeout), updated only
 * when something on that connection changed: after its messages were
 * processed, and after anything was sent on it (connection_bus_changed()).
 * sd_bus_attach_event() would instead give every connection a prepare
 * callback, run for every connection on every loop iteration: with N writers
 * a fan-out's N replies cost N iterations of O(N) each (bench/README.md).
 *
 * The io sources are level-triggered: a socket with input left (a
 * connection that stopped at its batch limit) is reported again on the next
 * iteration, and an update that changes nothing costs no epoll_ctl (sd-event
 * skips it; it re-registers an edge-triggered source on every update, which
 * was one epoll_ctl per message). Edge-triggered sources lose wake-ups in
 * sd-event: when it watches children through SIGCHLD (no pidfd: valgrind, or
 * pidfd_open denied by a seccomp filter), sd_event_wait() polls epoll again
 * after a child event and drops, without re-arming, every event of a
 * priority not above the child's; an edge dropped so never comes back
 * (bench/README.md, "Round-trip floor"). A connection whose events did not
 * change would then wait for its peer to send something more.
 */

/* Messages one connection may process in one go before the loop serves the others.
 *
 * Only until sd-bus first found the socket empty while running (Client.drained):
 * its authentication reads ahead, so the first messages may sit in its own
 * buffer, where no io event announces them. From then on it reads each message
 * exactly (the header, then the rest), so its buffer never holds a whole
 * message after the one it returned; and a message it queued while waiting for
 * something else shows as a timeout of 0 (sd_bus_get_timeout(), the timer
 * source). Such a connection is processed one message per wake-up: what is left
 * in the socket keeps the level-triggered io source ready, and the recvmsg()
 * that would only find the socket empty (EAGAIN), one per message received
 * (nearly every connection gets one message at a time: a writer's answer, a
 * requester's call), is not made. A burst of pipelined calls costs one loop
 * iteration per call instead (bench/README.md, "CPU per event"). */
#define CLIENT_PROCESS_BATCH 64

static Client *client_by_fd(Manager *m, int fd) {
        return fd >= 0 && (size_t) fd < m->n_clients_by_fd ? m->clients_by_fd[fd] : NULL;
}

static int client_index_fd(Manager *m, Client *c, int fd) {
        if ((size_t) fd >= m->n_clients_by_fd) {
                size_t n = m->n_clients_by_fd * 2 > (size_t) fd ? m->n_clients_by_fd * 2 : (size_t) fd + 64;
                Client **v = realloc(m->clients_by_fd, n * sizeof *v);
                if (!v)
                        return -ENOMEM;
                memset(v + m->n_clients_by_fd, 0, (n - m->n_clients_by_fd) * sizeof *v);
                m->clients_by_fd = v;
                m->n_clients_by_fd = n;
        }
        m->clients_by_fd[fd] = c;
        c->fd = fd;
        return 0;
}

/* ---- limits at the connection (server.c, "limits: what one peer may cost") ---------- */

/* A refused peer gets this long to make a call and read why (its first call is
 * usually sent with the authentication). */
#define REFUSED_LINGER_USEC (1 * USEC_PER_SEC)
/* At most one message of each LogLimit kind per this interval. */
#define LOG_LIMIT_USEC (10 * USEC_PER_SEC)

bool log_limit_ok(LogLimit *l, unsigned burst, const char *what) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (l->last_usec && now < l->last_usec + LOG_LIMIT_USEC) {
                if (l->logged < burst) {
                        l->logged++;
                        return true;
                }
                l->suppressed++;
                return false;
        }
        if (l->suppressed)
                log_msg("%u more messages about %s were left out in the last %u s", l->suppressed, what,
                        (unsigned) ((now - l->last_usec) / USEC_PER_SEC));
        l->suppressed = 0;
        l->last_usec = now;
        l->logged = 1;
        return true;
}

static bool client_unsent_over(Client *c) {
        uint64_t n = 0;

        return sd_bus_get_n_queued_write(c->bus, &n) >= 0 && n >= c->m->cfg.max_unsent_messages;
}

static bool client_writable(Client *c) {
        struct pollfd p = { .fd = c->fd, .events = POLLOUT };

        return poll(&p, 1, 0) > 0 && (p.revents & (POLLOUT | POLLHUP | POLLERR));
}

/* sd_bus_process() has something to do without reading: a call of lvssd's timed
 * out (a writer's deadline), or a message it read already waits in its queue. */
static bool client_timeout_due(Client *c) {
        uint64_t until = UINT64_MAX;

        return sd_bus_get_timeout(c->bus, &until) >= 0 && until <= now_usec(CLOCK_MONOTONIC);
}

/* Something lvssd sent still waits: in sd-bus's queue or unread in the socket. */
static bool client_has_unread(Client *c) {
        uint64_t n = 0;
        int out = 0;

        if (sd_bus_get_n_queued_write(c->bus, &n) >= 0 && n > 0)
                return true;
        return c->fd >= 0 && ioctl(c->fd, SIOCOUTQ, &out) >= 0 && out > 0;
}

/* No role and nothing of it running (server.c decides): the idle timeout applies. */
static bool idle_applies(Client *c) {
        return c->m->connection_hooks && c->m->connection_hooks->idle_applies(c);
}

static void client_guard_update(Client *c) {
        uint64_t until = UINT64_MAX;
        int r;

        if (!c->guard)
                return;
        if (c->stalled_usec)
                until = c->stalled_usec + c->m->cfg.unsent_timeout_usec;
        if (c->refusal && c->accepted_usec + REFUSED_LINGER_USEC < until)
                until = c->accepted_usec + REFUSED_LINGER_USEC;
        if (idle_applies(c) && c->active_usec + c->m->cfg.idle_timeout_usec < until)
                until = c->active_usec + c->m->cfg.idle_timeout_usec;
        if (until == UINT64_MAX) {
                (void) sd_event_source_set_enabled(c->guard, SD_EVENT_OFF);
                return;
        }
        r = sd_event_source_set_time(c->guard, until);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->guard, SD_EVENT_ONESHOT);
        if (r < 0)
                log_msg("connection from uid %u pid %d: cannot arm its idle and unsent-messages deadline: %s",
                        (unsigned) c->uid, (int) c->pid, strerror(-r));
}

static int on_client_free(sd_event_source *s, void *userdata);

/* lvssd closes the connection: nothing more is read or sent; freed from a defer source. */
static void client_drop(Client *c) {
        c->dropped = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(c->guard, SD_EVENT_OFF);
        if (!c->free_source && sd_event_add_defer(c->m->event, &c->free_source, on_client_free, c) < 0)
                log_msg("cannot schedule the cleanup of a connection; it leaks");
}

static int on_client_guard(sd_event_source *s, uint64_t usec, void *userdata) {
        Client *c = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC), n = 0;

        if (c->refusal && now >= c->accepted_usec + REFUSED_LINGER_USEC) {
                client_drop(c);
                return 0;
        }
        if (c->stalled_usec && now >= c->stalled_usec + c->m->cfg.unsent_timeout_usec) {
                (void) sd_bus_get_n_queued_write(c->bus, &n);
                log_msg("closing the connection of uid %u pid %d: it has not read what lvssd sent it for %" PRIu64
                        " ms (%" PRIu64 " messages waiting, MaxUnsentMessages=%u)",
                        (unsigned) c->uid, (int) c->pid, (now - c->stalled_usec) / USEC_PER_MSEC, n,
                        c->m->cfg.max_unsent_messages);
                client_drop(c);
                return 0;
        }
        if (idle_applies(c) && now >= c->active_usec + c->m->cfg.idle_timeout_usec) {
                if (client_has_unread(c))
                        /* not idle: the peer has answers to read; look again one period later */
                        c->active_usec = now;
                else {
                        if (log_limit_ok(&c->m->idle_log, 1, "idle connections closed"))
                                log_msg("closing the connection of uid %u pid %d: no writer and no session on it, "
                                        "and nothing to do for %" PRIu64 " ms (IdleTimeoutMS)",
                                        (unsigned) c->uid, (int) c->pid,
                                        c->m->cfg.idle_timeout_usec / USEC_PER_MSEC);
                        client_drop(c);
                        return 0;
                }
        }
        client_guard_update(c);
        return 0;
}

/* The bus is closing (the peer hung up, or a write failed): sd-bus closes the socket in a
 * coming sd_bus_process(), behind sd-event's back. Its io source leaves epoll first, while the
 * descriptor is still this socket's: after the close, the number may already be another
 * connection's or a worker's pipe, and a forked child may still hold the socket, whose
 * level-triggered hang-up would then be reported for a freed source. The timer drives the
 * rest (sd-bus's timeout is 0 while closing). */
static void client_io_off(Client *c) {
        if (sd_event_source_get_enabled(c->io, NULL) > 0)
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
}

/* Point the connection's io and time sources at what its bus waits for now. */
static void client_bus_update(Client *c) {
        uint64_t until, n = 0;
        int events, r;

        if (!c->io || c->dropped)
                return;
        events = sd_bus_get_events(c->bus);
        if (events < 0) {
                /* closed: the Disconnected handler frees the client */
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(c->guard, SD_EVENT_OFF);
                return;
        }
        if (sd_bus_is_open(c->bus) <= 0)
                /* closing: sd-bus closes the socket in a coming sd_bus_process() */
                client_io_off(c);
        else if (client_unsent_over(c)) {
                /* Item 2: its answers pile up; read nothing more from it until they are out. */
                events = EPOLLOUT;
                if (!c->stalled_usec) {
                        c->stalled_usec = now_usec(CLOCK_MONOTONIC);
                        if (!c->ever_stalled) {
                                (void) sd_bus_get_n_queued_write(c->bus, &n);
                                log_msg("not reading from the connection of uid %u pid %d until it reads what "
                                        "lvssd sent it (%" PRIu64 " messages waiting, MaxUnsentMessages=%u)",
                                        (unsigned) c->uid, (int) c->pid, n, c->m->cfg.max_unsent_messages);
                        }
                        c->ever_stalled = true;
                }
        } else
                c->stalled_usec = 0;
        /* level-triggered (see above): unchanged events cost nothing */
        r = sd_event_source_set_io_events(c->io, (uint32_t) events);
        if (r >= 0)
                r = sd_bus_get_timeout(c->bus, &until);
        if (r >= 0 && until != UINT64_MAX) {
                r = sd_event_source_set_time(c->timer, until);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
        } else if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (r < 0)
                log_msg("connection from pid %d: cannot update its event sources: %s", (int) c->pid, strerror(-r));
        client_guard_update(c);
}

void connection_changed(Client *c) {
        if (c)
                client_bus_update(c);
}

void connection_bus_changed(Manager *m, sd_bus *bus) {
        Client *c = bus ? client_by_fd(m, sd_bus_get_fd(bus)) : NULL;

        if (c && c->bus == bus)
                client_bus_update(c);
}

static void client_process(Client *c) {
        bool active = false;
        int r = 0;

        if (c->dropped)
                return;
        for (unsigned i = 0; i < CLIENT_PROCESS_BATCH; i++) {
                /* Over MaxUnsentMessages only write: sd_bus_process() reads the next call
                 * whenever it could write nothing, so call it only when the socket takes more
                 * (or when it has a timeout or an already read message to dispatch). */
                if (client_unsent_over(c) && !client_writable(c) && !client_timeout_due(c)) {
                        r = 0;
                        break;
                }
                if (sd_bus_is_open(c->bus) <= 0)
                        client_io_off(c); /* before sd-bus closes the socket (see client_io_off()) */
                r = sd_bus_process(c->bus, NULL);
                if (r == 0 && sd_bus_is_ready(c->bus) > 0)
                        c->drained = true;
                if (r <= 0)
                        break; /* < 0: closed; Disconnected was (or is about to be) dispatched */
                active = true;
                if (c->drained && sd_bus_is_ready(c->bus) > 0)
                        break; /* one message per wake-up: see CLIENT_PROCESS_BATCH */
        }
        if (active)
                c->active_usec = now_usec(CLOCK_MONOTONIC);
        /* Stopped at the batch limit (r > 0): what is left in the socket keeps it readable, and
         * the level-triggered io source runs this again on the next iteration, whatever another
         * connection's dispatch does to this one's sources meanwhile (connection_bus_changed()). */
        client_bus_update(c);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        client_process(userdata);
        return 0;
}

static int on_client_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        client_process(userdata);
        return 0;
}

int connection_attach(Client *c) {
        int fd = sd_bus_get_fd(c->bus), r;

        if (fd < 0)
                return fd;
        r = client_index_fd(c->m, c, fd);
        if (r >= 0)
                r = sd_event_add_io(c->m->event, &c->io, fd, 0, on_client_io, c);
        if (r >= 0)
                r = sd_event_add_time(c->m->event, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_client_timer, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time(c->m->event, &c->guard, CLOCK_MONOTONIC, UINT64_MAX, 0, on_client_guard, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->guard, SD_EVENT_OFF);
        if (r >= 0)
                client_bus_update(c);
        return r;
}

void connection_detach(Client *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->guard = sd_event_source_disable_unref(c->guard);
        if (client_by_fd(c->m, c->fd) == c)
                c->m->clients_by_fd[c->fd] = NULL;
        c->fd = -1;
}

static void client_unlink(Client *c) {
        Manager *m = c->m;
        if (c->prev)
                c->prev->next = c->next;
        else if (m->clients == c)
                m->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->next = c->prev = NULL;
}

/*
 * Issue 11 §1: sd_bus_flush() waits without a bound until the peer has read
 * everything, and a peer that stops reading would hold lvssd's loop (and its
 * exit) for ever. Instead a connection being closed gets what its socket
 * takes until a deadline: at shutdown (connection_close_all()) all connections
 * together get SHUTDOWN_FLUSH_USEC from the SIGTERM; otherwise none (what the
 * socket takes at once: a refusal's one error message, a last reply).
 */
#define SHUTDOWN_FLUSH_USEC (1 * USEC_PER_SEC)
static uint64_t shutdown_flush_deadline; /* CLOCK_MONOTONIC; 0: not shutting down */

static int drop_incoming(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return 1; /* the connection is being closed: nothing it sends now is dispatched */
}

/* Write what the peer takes until @deadline (at least one pass over what is writable now). The
 * writing is sd_bus_process()'s, so the filter first swallows whatever the peer sends meanwhile. */
static void bus_flush_until(sd_bus *bus, uint64_t deadline) {
        uint64_t n = 0;
        bool first = true;

        if (sd_bus_get_n_queued_write(bus, &n) < 0 || n == 0)
                return;
        if (sd_bus_add_filter(bus, NULL, drop_incoming, NULL) < 0)
                return;
        for (;;) {
                struct pollfd p = { .fd = sd_bus_get_fd(bus), .events = POLLOUT };
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                int r;

                if (sd_bus_get_n_queued_write(bus, &n) < 0 || n == 0 || p.fd < 0)
                        return;
                if (now >= deadline && !first)
                        return;
                first = false;
                r = poll(&p, 1, now >= deadline ? 0 : (int) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
                        return;
                if (sd_bus_process(bus, NULL) < 0)
                        return;
        }
}

static void client_free(Client *c) {
        uint64_t queued = 0;
        Manager *m;
        bool trim, flush;

        if (!c)
                return;
        m = c->m;
        trim = c->ever_stalled;
        client_unlink(c);
        if (c->counted) {
                m->n_clients--;
                if (!c->privileged)
                        m->n_unprivileged--;
        }
        if (c->refusal)
                m->n_refusing--;
        if (m->connection_hooks)
                m->connection_hooks->gone(c);
        c->free_source = sd_event_source_disable_unref(c->free_source);
        /* sd_bus_flush() waits, without a bound, until the peer has read everything, and first
         * until it has finished authenticating: not for a peer lvssd dropped, one that stopped
         * reading, one whose socket is full, or one that is not authenticated. */
        flush = !c->dropped && !c->stalled_usec && sd_bus_is_ready(c->bus) > 0 &&
                (sd_bus_get_n_queued_write(c->bus, &queued) < 0 || queued == 0 || client_writable(c));
        connection_detach(c);
        if (flush) /* issue 11 §1: bounded (see bus_flush_until()) */
                bus_flush_until(c->bus, shutdown_flush_deadline ?: now_usec(CLOCK_MONOTONIC));
        c->bus = sd_bus_close_unref(c->bus);
        free(c->refusal);
        free(c->groups);
        free(c);
        /* The queued messages of a peer that did not read were many small blocks:
         * glibc keeps freed heap unless told to give it back. */
        if (trim)
                (void) malloc_trim(0);
        /* A descriptor is free again: accept at once if accepting was paused. */
        if (m->accept_timer && sd_event_source_get_enabled(m->accept_timer, NULL) > 0 && !m->stopping) {
                (void) sd_event_source_set_enabled(m->accept_timer, SD_EVENT_OFF);
                (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_ON);
        }
}

static int on_client_free(sd_event_source *s, void *userdata) {
        client_free(userdata);
        return 0;
}

int connection_on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;

        if (c->disconnected || c->dropped)
                return 0;
        c->disconnected = true;
        /* Not from inside the bus's own dispatch: free it from a defer source. */
        if (sd_event_add_defer(c->m->event, &c->free_source, on_client_free, c) < 0)
                log_msg("cannot schedule the cleanup of a connection; it leaks");
        return 0;
}

void connection_drop_client(Client *c) {
        if (!c || c->disconnected)
                return;
        c->disconnected = true;
        if (sd_event_add_defer(c->m->event, &c->free_source, on_client_free, c) < 0)
                log_msg("cannot schedule the cleanup of a connection; it leaks");
}

void connection_close_all(Manager *m) {
        shutdown_flush_deadline = now_usec(CLOCK_MONOTONIC) + SHUTDOWN_FLUSH_USEC;
        while (m->clients)
                client_free(m->clients);
        m->clients_by_fd = mfree(m->clients_by_fd);
        m->n_clients_by_fd = 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvssd's connections on its one event loop. Every WS rule with a deadline
 * (WS-5, WS-6) assumes lvssd keeps serving everybody whatever one peer does;
 * these tests check the loop that makes it so (server.c, "connections and
 * the event loop"): a peer that sends thousands of calls at once gets every
 * answer, in order (lvssd works through them 64 at a time, the others served
 * in between); calls that want no answer are all processed too; and a peer
 * that stops reading its answers does not keep a writer and a requester from
 * finishing a backup step (WS-5). Every connection's authentication needs
 * lvssd to wait for its socket to become writable: an io source that never
 * asks for EPOLLOUT fails all of them.
 *
 * What they cannot show here: lvssd's answers piling up unsent. sd-bus gives
 * each socket megabytes of send buffer, so a peer would have to leave that
 * much unread first.
 */

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "harness.h"
#include "protocol/protocol.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

/* Far more calls than lvssd processes for one connection in one go (64). */
#define N_CALLS 6000

typedef struct flood {
        unsigned answered, errors, out_of_order;
        uint64_t next_cookie; /* the cookie the next answer should reply to */
        uint64_t cookies[N_CALLS];
} flood;

static int on_version(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        flood *f = userdata;
        uint64_t cookie = 0;
        const char *v = NULL;

        if (sd_bus_message_is_method_error(m, NULL) || sd_bus_message_read(m, "s", &v) < 0 || !v || !*v)
                f->errors++;
        if (sd_bus_message_get_reply_cookie(m, &cookie) < 0 || f->answered >= N_CALLS ||
            cookie != f->cookies[f->answered])
                f->out_of_order++;
        f->answered++;
        return 1;
}

/*
 * On a new connection, send N_CALLS GetVersion calls, and make sure lvssd has
 * them all (flush) without reading any answer. With @f, each call wants its
 * answer (counted into @f); without, none does.
 */
static sd_bus *flood_send(itest_env *env, flood *f) {
        sd_bus *bus = NULL;

        CHECK(lvss_bus_connect(env->socket_path, &bus) >= 0, "connect");
        for (unsigned i = 0; i < N_CALLS; i++) {
                sd_bus_message *m = NULL;
                CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                                     "GetVersion") >= 0,
                      "new call");
                if (f) {
                        CHECK(sd_bus_call_async(bus, NULL, m, on_version, f,
                                                (uint64_t) itest_ms(env, 120000) * 1000u) >= 0,
                              "call %u", i);
                        CHECK(sd_bus_message_get_cookie(m, &f->cookies[i]) >= 0, "cookie");
                } else {
                        CHECK(sd_bus_message_set_expect_reply(m, false) >= 0, "no reply");
                        CHECK(sd_bus_send(bus, m, NULL) >= 0, "send %u", i);
                }
                sd_bus_message_unref(m);
        }
        CHECK(sd_bus_flush(bus) >= 0, "flush: lvssd did not read the calls");
        return bus;
}

/* Read the answers, bounded. */
static void flood_collect(itest_env *env, sd_bus *bus, flood *f) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 60000) * 1000u;

        while (f->answered < N_CALLS) {
                int r = sd_bus_process(bus, NULL);
                CHECK(r >= 0, "sd_bus_process: %s", strerror(-r));
                if (r > 0)
                        continue;
                uint64_t now = itest_now_mono_usec();
                CHECK(now < deadline, "%u of %u calls answered, then nothing for %u ms", f->answered, N_CALLS,
                      itest_ms(env, 60000));
                CHECK(sd_bus_wait(bus, deadline - now) >= 0, "sd_bus_wait");
        }
        CHECK(f->errors == 0, "%u of %u answers were errors or empty", f->errors, N_CALLS);
        CHECK(f->out_of_order == 0, "%u answers came out of order", f->out_of_order);
}

/* Every one of many pipelined calls on one connection is answered, in order. */
static void test_pipelined_calls_all_answered(void **state) {
        itest_env *env = *state;
        flood *f = calloc(1, sizeof *f);

        CHECK(f, "calloc");
        itest_start_lvssd(env, &opts);
        sd_bus *bus = flood_send(env, f);
        flood_collect(env, bus, f);
        sd_bus_flush_close_unref(bus);
        free(f);
}

/*
 * Many calls that want no answer, then one that does: lvssd works through all
 * of them although nothing it writes back (no answer fills the socket) and
 * nothing new the peer writes (it is done) tells it to go on; the last
 * answer proves every call before it was processed.
 */
static void test_calls_without_answers_all_processed(void **state) {
        itest_env *env = *state;
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        const char *v = NULL;

        itest_start_lvssd(env, &opts);
        sd_bus *bus = flood_send(env, NULL);
        int r = sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "GetVersion", &err,
                                   &reply, "");
        CHECK(r >= 0, "the call after %u calls without answers: %s", N_CALLS,
              err.message ? err.message : strerror(-r));
        CHECK(sd_bus_message_read(reply, "s", &v) >= 0 && v && *v, "its answer");
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
        sd_bus_flush_close_unref(bus);
}

/*
 * A peer that stops reading does not stall lvssd: while its answers wait
 * unread, a writer and a requester go through a backup step, and the status
 * says the writer answered (WS-5's deadlines would otherwise be missed by
 * lvssd itself). Then the peer reads, and every answer is there.
 */
static void test_peer_not_reading_does_not_stall_others(void **state) {
        itest_env *env = *state;
        flood *f = calloc(1, sizeof *f);
        itest_statuses st = { 0 };

        CHECK(f, "calloc");
        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        sd_bus *stuck = flood_send(env, f);
        CHECK(f->answered == 0, "answers were read before the peer asked");

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, w, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        const itest_status *e = itest_status_for(&st, w);
        CHECK(e && vss_id_equal(&e->s.session_id, &sid) && e->s.last_event == VSS_EVENT_PREPARE_BACKUP &&
                      !e->s.event_in_progress,
              "the writer's status does not show a finished PrepareForBackup of this session");
        itest_statuses_free(&st);
        itest_requester_release(env, bc);

        flood_collect(env, stuck, f);
        sd_bus_flush_close_unref(stuck);
        free(f);
}

/*
 * Issue 11 §5 (the lost wake-up behind the reverted epoll_ctl change): a step
 * of a connection's session ends while lvssd is still working through that
 * connection's pipelined calls, 64 at a time. The step ends from another
 * connection's dispatch (the writer's Identify answer), which points this
 * connection's sources at what its bus waits for (connection_bus_changed()); the
 * calls still unread in its socket are processed all the same, although the
 * peer sends nothing more. Whether the step did end in the middle is checked
 * (StepFinished came before the last answer); if it did not, the round is
 * repeated with more calls.
 */
typedef struct step_flood {
        flood f;
        bool finished;
        unsigned answered_at_finish; /* GetVersion answers read when StepFinished came */
} step_flood;

static int on_step_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        step_flood *sf = userdata;
        const char *step = NULL;

        if (sd_bus_message_read(m, "s", &step) >= 0 && step && strcmp(step, "GatherWriterMetadata") == 0 &&
            !sf->finished) {
                sf->finished = true;
                sf->answered_at_finish = sf->f.answered;
        }
        return 0;
}

static void session_call(sd_bus *bus, const char *path, const char *iface, const char *member, const char *sig,
                         const char *arg, sd_bus_message **ret) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, NULL, path, iface, member, &err, ret, sig, arg);
        CHECK(r >= 0, "%s: %s", member, err.message ? err.message : strerror(-r));
        sd_bus_error_free(&err);
}

static void test_step_ends_amid_pipelined_calls(void **state) {
        itest_env *env = *state;
        unsigned n_calls = 2000;
        bool overlapped = false;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        (void) w;
        for (unsigned round = 0; round < 4 && !overlapped; round++, n_calls *= 2) {
                step_flood *sf = calloc(1, sizeof *sf);
                sd_bus *bus = NULL;
                sd_bus_message *m = NULL;
                CHECK(sf, "calloc");
                if (n_calls > N_CALLS)
                        n_calls = N_CALLS;

                CHECK(lvss_bus_connect(env->socket_path, &bus) >= 0, "connect");
                session_call(bus, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", "", NULL, &m);
                m = sd_bus_message_unref(m);
                CHECK(sd_bus_match_signal(bus, NULL, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "StepFinished",
                                          on_step_finished, sf) >= 0,
                      "match StepFinished");
                session_call(bus, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "InitializeForBackup", "s", "", NULL);

                /* The step first, then the calls, all in lvssd's socket before it reads the first:
                 * lvssd is stopped meanwhile, and the socket takes them all. */
                int size = 16 * 1024 * 1024;
                CHECK(setsockopt(sd_bus_get_fd(bus), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) >= 0,
                      "SO_SNDBUFFORCE: %m");
                CHECK(kill(env->lvssd->pid, SIGSTOP) >= 0, "SIGSTOP lvssd: %m");
                CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE,
                                                     "GatherWriterMetadata") >= 0,
                      "new call");
                CHECK(sd_bus_send(bus, m, NULL) >= 0, "send GatherWriterMetadata");
                m = sd_bus_message_unref(m);
                for (unsigned i = 0; i < n_calls; i++) {
                        CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH,
                                                             LVSS_COORDINATOR_IFACE, "GetVersion") >= 0,
                              "new call");
                        CHECK(sd_bus_call_async(bus, NULL, m, on_version, &sf->f,
                                                (uint64_t) itest_ms(env, 120000) * 1000u) >= 0,
                              "call %u", i);
                        CHECK(sd_bus_message_get_cookie(m, &sf->f.cookies[i]) >= 0, "cookie");
                        m = sd_bus_message_unref(m);
                }
                int flushed = sd_bus_flush(bus);
                CHECK(kill(env->lvssd->pid, SIGCONT) >= 0, "SIGCONT lvssd: %m");
                CHECK(flushed >= 0, "flush: %s", strerror(-flushed));

                /* every call answered, and the step's end seen, bounded */
                uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 30000) * 1000u;
                while (sf->f.answered < n_calls || !sf->finished) {
                        int r = sd_bus_process(bus, NULL);
                        CHECK(r >= 0, "sd_bus_process: %s", strerror(-r));
                        if (r > 0)
                                continue;
                        uint64_t now = itest_now_mono_usec();
                        CHECK(now < deadline,
                              "%u of %u pipelined calls answered, then nothing for %u ms (StepFinished %s, after "
                              "%u answers): lvssd left the rest unread in its socket",
                              sf->f.answered, n_calls, itest_ms(env, 30000), sf->finished ? "came" : "did not come",
                              sf->answered_at_finish);
                        CHECK(sd_bus_wait(bus, deadline - now) >= 0, "sd_bus_wait");
                }
                CHECK(sf->f.errors == 0, "%u of %u answers were errors or empty", sf->f.errors, n_calls);
                CHECK(sf->f.out_of_order == 0, "%u answers came out of order", sf->f.out_of_order);
                overlapped = sf->answered_at_finish < n_calls;
                itest_note("round %u: %u calls, the step ended after %u answers", round, n_calls,
                           sf->answered_at_finish);
                sd_bus_flush_close_unref(bus);
                free(sf);
        }
        CHECK(overlapped, "the step never ended while calls were left: the case was not exercised");
}

/* ---- calls that came with the authentication ------------------------------------------
 *
 * issue 11 §5: once sd-bus has found a connection's socket empty, lvssd
 * processes one message per wake-up (server.c, CLIENT_PROCESS_BATCH), trusting
 * the level-triggered socket to say what is left. Before that, sd-bus's
 * authentication reads ahead: calls sent in the same write as the
 * authentication sit in sd-bus's buffer, and no io event will announce them.
 */

/* The authentication and the calls fit in sd-bus's first read of it (256 bytes): the socket is
 * empty when the authentication is done, whatever is left is in sd-bus's buffer. */
#define AHEAD_CALLS 2

/* A GetVersion call, no body, serial @serial, in D-Bus's little-endian wire form. */
static size_t wire_get_version(uint8_t *buf, size_t size, uint32_t serial) {
        static const struct {
                uint8_t code;
                char type;
                const char *value;
        } fields[] = {
                { 1, 'o', LVSS_COORDINATOR_PATH },
                { 2, 's', LVSS_COORDINATOR_IFACE },
                { 3, 's', "GetVersion" },
        };
        size_t n = 16;
        uint32_t v;

        memset(buf, 0, size);
        buf[0] = 'l';
        buf[1] = 1; /* method call */
        buf[3] = 1; /* protocol version */
        memcpy(buf + 8, &serial, 4);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
                size_t len = strlen(fields[i].value);
                n = (n + 7) & ~(size_t) 7;
                CHECK(n + 8 + len + 1 < size, "wire buffer");
                buf[n] = fields[i].code;
                buf[n + 1] = 1;
                buf[n + 2] = (uint8_t) fields[i].type;
                v = (uint32_t) len;
                memcpy(buf + n + 4, &v, 4);
                memcpy(buf + n + 8, fields[i].value, len);
                n += 8 + len + 1;
        }
        v = (uint32_t) (n - 16); /* the header fields' array, without its final padding */
        memcpy(buf + 12, &v, 4);
        return (n + 7) & ~(size_t) 7;
}

/*
 * The authentication and AHEAD_CALLS calls in one write, then nothing: every
 * call is answered. With a connection processed one message per wake-up from
 * the start, none was: the calls stayed in sd-bus's buffer until lvssd closed
 * the connection as idle.
 */
static void test_calls_sent_with_the_authentication_answered(void **state) {
        itest_env *env = *state;
        static const char auth[] = "\0AUTH EXTERNAL 30\r\nBEGIN\r\n"; /* "30": uid 0, hex of ASCII */
        uint8_t out[1024], in[8192];
        size_t n_out = sizeof auth - 1, got = 0, pos;
        unsigned answers = 0;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        itest_start_lvssd(env, &opts);
        memcpy(out, auth, n_out);
        for (uint32_t i = 1; i <= AHEAD_CALLS; i++)
                n_out += wire_get_version(out + n_out, sizeof out - n_out, i);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0, "socket: %m");
        strncpy(sa.sun_path, env->socket_path, sizeof sa.sun_path - 1);
        CHECK(connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0, "connect: %m");
        CHECK(write(fd, out, n_out) == (ssize_t) n_out, "write: %m");

        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 30000) * 1000u;
        while (answers < AHEAD_CALLS) {
                uint64_t now = itest_now_mono_usec();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                CHECK(now < deadline, "%u of %u calls sent with the authentication answered", answers,
                      AHEAD_CALLS);
                CHECK(poll(&p, 1, (int) ((deadline - now) / 1000u) + 1) >= 0, "poll: %m");
                if (!(p.revents & POLLIN))
                        continue;
                ssize_t k = read(fd, in + got, sizeof in - got);
                CHECK(k > 0, "lvssd closed the connection after %u answers", answers);
                got += (size_t) k;
                /* "OK <guid>\r\n", then the answers */
                char *eol = memmem(in, got, "\r\n", 2);
                if (!eol)
                        continue;
                CHECK(strncmp((char *) in, "OK ", 3) == 0, "lvssd answered the authentication with: %.*s",
                      (int) ((uint8_t *) eol - in), (char *) in);
                answers = 0;
                pos = (size_t) ((uint8_t *) eol - in) + 2;
                while (got - pos >= 16) {
                        uint32_t body, fields;
                        memcpy(&body, in + pos + 4, 4);
                        memcpy(&fields, in + pos + 12, 4);
                        size_t len = 16 + (((size_t) fields + 7) & ~(size_t) 7) + body;
                        if (got - pos < len)
                                break;
                        CHECK(in[pos + 1] == 2, "answer %u is not a method return (type %u)", answers + 1,
                              (unsigned) in[pos + 1]);
                        answers++;
                        pos += len;
                }
        }
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_pipelined_calls_all_answered),
                ITEST(test_calls_without_answers_all_processed),
                ITEST(test_peer_not_reading_does_not_stall_others),
                ITEST(test_step_ends_amid_pipelined_calls),
                ITEST(test_calls_sent_with_the_authentication_answered),
        };
        return ITEST_MAIN("lvssd connections", tests);
}

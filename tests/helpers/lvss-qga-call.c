/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-qga-call — a small client of the qemu-guest-agent JSON protocol, for
 * the hypervisor tests and the qga bench (issue 10 parts 4 and 5). qemu-ga
 * listens on a unix socket (`qemu-ga -m unix-listen -p SOCKET`); every
 * request is one JSON object, every answer one line holding an object with
 * either "return" or "error".
 *
 *   lvss-qga-call [--sync] [--timeout MS] [--window] [--repeat N] SOCKET COMMAND...
 *
 * COMMAND is a JSON object ({"execute":...,"arguments":...}) sent as it is,
 * or a bare command name (guest-fsfreeze-thaw), sent as {"execute":NAME}.
 * The commands are sent one after the other on one connection, each after
 * the answer to the one before; each answer is printed on stdout, one line.
 *
 * --sync        first guest-sync with a fresh id, skipping any line until
 *               the answer that carries it (a stale answer left on the
 *               channel by an earlier client cannot be taken for ours)
 * --timeout MS  how long to wait for each answer (default 120000)
 * --window      also print "window-us N": CLOCK_MONOTONIC from sending the
 *               first COMMAND to receiving the last answer (the freeze
 *               window as the guest's caller sees it)
 * --repeat N    send the COMMAND sequence N times (default 1); with N > 1
 *               only the window lines and the answers that are errors are
 *               printed
 *
 * Exit status: 0 when every answer was a "return", 1 when any was an
 * "error" (the commands after it are still sent), 2 on bad usage, a
 * connection or protocol failure, or no answer within the timeout.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROG "lvss-qga-call"

typedef struct channel {
        int fd;
        int timeout_ms;
        char buf[65536];
        size_t len; /* bytes in buf */
} channel;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int send_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/*
 * Reads one line (without its newline) into @ret, a NUL-terminated buffer of
 * @size bytes. qemu-ga may put a 0xFF sentinel before an answer (after
 * guest-sync-delimited): it is skipped, as are empty lines.
 * Returns 0, -ETIMEDOUT, -EPIPE (closed), -EMSGSIZE or another -errno.
 */
static int read_line(channel *c, char *ret, size_t size) {
        uint64_t deadline = now_usec() + (uint64_t) c->timeout_ms * 1000u;

        for (;;) {
                char *nl = memchr(c->buf, '\n', c->len);

                if (nl) {
                        size_t n = (size_t) (nl - c->buf), skip = 0;

                        while (skip < n && (unsigned char) c->buf[skip] == 0xFF)
                                skip++;
                        if (n - skip >= size)
                                return -EMSGSIZE;
                        memcpy(ret, c->buf + skip, n - skip);
                        ret[n - skip] = '\0';
                        memmove(c->buf, nl + 1, c->len - n - 1);
                        c->len -= n + 1;
                        if (ret[0] == '\0' || (ret[0] == '\r' && ret[1] == '\0'))
                                continue;
                        return 0;
                }
                if (c->len == sizeof c->buf)
                        return -EMSGSIZE;

                uint64_t now = now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                int r = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -ETIMEDOUT;
                ssize_t k = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                c->len += (size_t) k;
        }
}

/* The first key of the answer's object: 1 for "return", 0 for "error", -EBADMSG otherwise. */
static int answer_kind(const char *line) {
        const char *p = line;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p != '{')
                return -EBADMSG;
        p++;
        while (*p == ' ' || *p == '\t')
                p++;
        if (strncmp(p, "\"return\"", 8) == 0)
                return 1;
        if (strncmp(p, "\"error\"", 7) == 0)
                return 0;
        return -EBADMSG;
}

static const char *error_text(int r) {
        switch (r) {
        case -ETIMEDOUT:
                return "no answer within the timeout";
        case -EPIPE:
                return "qemu-ga closed the connection";
        case -EMSGSIZE:
                return "an answer line is too long";
        case -EBADMSG:
                return "an answer is neither a return nor an error";
        default:
                return strerror(-r);
        }
}

/* Sends @request (adding the newline) and reads its answer into @ret. */
static int call(channel *c, const char *request, char *ret, size_t size) {
        int r;

        r = send_all(c->fd, request, strlen(request));
        if (r >= 0)
                r = send_all(c->fd, "\n", 1);
        if (r < 0)
                return r;
        r = read_line(c, ret, size);
        if (r < 0)
                return r;
        return answer_kind(ret);
}

static int sync_channel(channel *c) {
        char req[128], want[64], line[4096];
        unsigned long id;
        int r;

        id = ((unsigned long) getpid() << 16) ^ (unsigned long) (now_usec() & 0xffffffu);
        id &= 0x7fffffffUL;
        snprintf(req, sizeof req, "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%lu}}\n", id);
        snprintf(want, sizeof want, "%lu", id);
        r = send_all(c->fd, req, strlen(req));
        if (r < 0)
                return r;
        for (;;) {
                r = read_line(c, line, sizeof line);
                if (r < 0)
                        return r;
                /* {"return": ID}: anything else is a stale answer. */
                if (answer_kind(line) == 1 && strstr(line, want))
                        return 0;
        }
}

static void help(void) {
        printf("Usage: " PROG " [--sync] [--timeout MS] [--window] [--repeat N] SOCKET COMMAND...\n"
               "Send qemu-guest-agent commands on its unix socket, one after the other, and print\n"
               "each answer line. COMMAND is a JSON object or a bare command name.\n\n"
               "  --sync        guest-sync first (skip stale answers)\n"
               "  --timeout MS  wait at most MS for each answer (default 120000)\n"
               "  --window      print window-us: first command sent -> last answer received\n"
               "  --repeat N    send the sequence N times (print only windows and errors)\n"
               "  -h, --help    this text\n\n"
               "Exit status: 0 all answers were returns, 1 an answer was an error, 2 failure.\n");
}

static int parse_uint(const char *s, const char *what, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || *s == '-' || v == 0 || v > max) {
                fprintf(stderr, PROG ": %s '%s' is not a number from 1 to %lu\n", what, s, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "sync", no_argument, NULL, 's' },
                { "timeout", required_argument, NULL, 't' },
                { "window", no_argument, NULL, 'w' },
                { "repeat", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool do_sync = false, window = false;
        unsigned long timeout_ms = 120000, repeat = 1;
        channel *c;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char line[65536];
        int opt, status = 0;

        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 's':
                        do_sync = true;
                        break;
                case 't':
                        if (parse_uint(optarg, "--timeout", 3600000, &timeout_ms) < 0)
                                return 2;
                        break;
                case 'w':
                        window = true;
                        break;
                case 'r':
                        if (parse_uint(optarg, "--repeat", 1000000, &repeat) < 0)
                                return 2;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        fprintf(stderr, PROG ": see --help\n");
                        return 2;
                }
        if (argc - optind < 2) {
                fprintf(stderr, PROG ": need SOCKET and at least one COMMAND (see --help)\n");
                return 2;
        }

        const char *path = argv[optind];
        if (strlen(path) >= sizeof sa.sun_path) {
                fprintf(stderr, PROG ": socket path too long: %s\n", path);
                return 2;
        }
        strcpy(sa.sun_path, path);

        c = calloc(1, sizeof *c);
        if (!c) {
                fprintf(stderr, PROG ": out of memory\n");
                return 2;
        }
        c->timeout_ms = (int) timeout_ms;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                fprintf(stderr, PROG ": cannot connect to qemu-ga at %s: %s\n", path, strerror(errno));
                status = 2;
                goto out;
        }

        if (do_sync) {
                int r = sync_channel(c);
                if (r < 0) {
                        fprintf(stderr, PROG ": guest-sync on %s failed: %s\n", path, error_text(r));
                        status = 2;
                        goto out;
                }
        }

        for (unsigned long rep = 0; rep < repeat; rep++) {
                uint64_t start = now_usec();

                for (int i = optind + 1; i < argc; i++) {
                        char request[4096];
                        const char *cmd = argv[i];
                        int r;

                        if (cmd[0] == '{')
                                snprintf(request, sizeof request, "%s", cmd);
                        else
                                snprintf(request, sizeof request, "{\"execute\":\"%s\"}", cmd);

                        r = call(c, request, line, sizeof line);
                        if (r < 0) {
                                fprintf(stderr, PROG ": %s: %s\n", request, error_text(r));
                                status = 2;
                                goto out;
                        }
                        if (r == 0) {
                                status = 1;
                                if (repeat > 1)
                                        fprintf(stderr, PROG ": %s: %s\n", request, line);
                        }
                        if (repeat == 1)
                                printf("%s\n", line);
                }
                if (window)
                        printf("window-us %" PRIu64 "\n", now_usec() - start);
                fflush(stdout);
        }

out:
        if (c->fd >= 0)
                close(c->fd);
        free(c);
        return status;
}

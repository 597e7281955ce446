/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "writer-program.h"

int writer_program_parse_number(const writer_program *p, const char *opt, const char *what, const char *s,
                                unsigned long max, unsigned long *ret) {
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (!*s || *end || errno != 0 || v == 0 || v > max || *s == '-') {
                fprintf(stderr, "%s: %s needs %s > 0, not '%s'\n", p->prog, opt, what, s);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int writer_program_parse_option(writer_program *p, int c, const char *arg) {
        unsigned long v;

        switch (c) {
        case 'h':
                p->help();
                return 0;
        case WRITER_ARG_VERSION:
                printf("%s %s\n", p->prog, PACKAGE_VERSION);
                return 0;
        case WRITER_ARG_SOCKET:
                p->socket = arg;
                return 1;
        case WRITER_ARG_NAME:
                if (!*arg) {
                        fprintf(stderr, "%s: --name must not be empty\n", p->prog);
                        return -EINVAL;
                }
                p->name = arg;
                return 1;
        case WRITER_ARG_INSTANCE:
                p->instance = *arg ? arg : NULL;
                return 1;
        case WRITER_ARG_FREEZE_TIMEOUT:
                if (writer_program_parse_number(p, "--freeze-timeout", p->freeze_timeout_what ?: "milliseconds", arg,
                                                UINT32_MAX, &v) < 0)
                        return -EINVAL;
                p->freeze_timeout_ms = (uint32_t) v;
                return 1;
        case WRITER_ARG_FREEZE_STAMP:
                p->freeze_stamp = arg;
                return 1;
        case '?':
                return -EINVAL;
        default:
                return -ENOENT;
        }
}

int writer_program_next_option(writer_program *p, int argc, char *argv[], const struct option *options) {
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                r = writer_program_parse_option(p, c, optarg);
                if (r == -ENOENT)
                        return c;
                if (r <= 0)
                        return r;
        }
        return WRITER_OPTIONS_END;
}

int writer_program_setup(writer_program *p) {
        sigset_t mask;
        int r;

        p->signal_fd = -1;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = -errno;
                fprintf(stderr, "%s: cannot block signals: %s\n", p->prog, strerror(-r));
                return r;
        }
        p->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (p->signal_fd < 0) {
                r = -errno;
                fprintf(stderr, "%s: cannot create a signalfd: %s\n", p->prog, strerror(-r));
                return r;
        }
        signal(SIGPIPE, SIG_IGN);

        if (p->socket && setenv("LVSS_SOCKET", p->socket, 1) < 0) {
                r = -errno;
                fprintf(stderr, "%s: cannot set LVSS_SOCKET: %s\n", p->prog, strerror(-r));
                return r;
        }
        return 0;
}

vss_writer *writer_program_start(const writer_program *p, const vss_id *writer_id, const vss_writer_callbacks *cb,
                                 void *userdata) {
        const vss_writer_options opts = {
                .size = sizeof(vss_writer_options),
                .writer_id = *writer_id,
                .writer_name = p->name,
                .instance_name = p->instance,
                .usage = VSS_UT_USERDATA,
                .source = VSS_ST_TRANSACTEDDB,
                .level = VSS_APP_BACK_END,
                .freeze_timeout_ms = p->freeze_timeout_ms,
        };
        vss_writer *w = NULL;
        vss_hresult hr;

        hr = vss_writer_initialize(&opts, cb, userdata, &w);
        if (VSS_FAILED(hr)) {
                fprintf(stderr, "%s: cannot create the writer: %s (%s)\n", p->prog, vss_hresult_text(hr),
                        strempty(vss_hresult_name(hr)));
                return NULL;
        }
        hr = vss_writer_subscribe(w);
        if (VSS_FAILED(hr)) {
                const char *socket = getenv("LVSS_SOCKET");
                fprintf(stderr, "%s: cannot subscribe to lvssd%s%s: %s (%s)\n", p->prog, socket ? " at " : "",
                        strempty(socket), vss_hresult_text(hr), strempty(vss_hresult_name(hr)));
                return vss_writer_release(w);
        }
        return w;
}

int writer_program_run(const writer_program *p, vss_writer *w, const writer_program_watch *watch) {
        for (;;) {
                struct pollfd fds[3] = {
                        { .fd = vss_writer_get_fd(w), .events = POLLIN },
                        { .fd = p->signal_fd, .events = POLLIN },
                        { .fd = watch ? watch->fd(watch->userdata) : -1, .events = POLLIN },
                };
                vss_hresult hr;

                if (fds[0].fd < 0) {
                        fprintf(stderr, "%s: the connection to lvssd is gone\n", p->prog);
                        return EXIT_FAILURE;
                }
                if (poll(fds, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "%s: poll failed: %s\n", p->prog, strerror(errno));
                        return EXIT_FAILURE;
                }
                if (fds[1].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(p->signal_fd, &si, sizeof si) == (ssize_t) sizeof si) {
                                fprintf(stderr, "%s: %s, exiting\n", p->prog, strsignal((int) si.ssi_signo));
                                return EXIT_SUCCESS;
                        }
                }
                if (watch && fds[2].revents) /* fd -1 when there is no watch: revents stays 0 */
                        watch->ready(watch->userdata);
                if (fds[0].revents) {
                        hr = vss_writer_process(w);
                        if (VSS_FAILED(hr)) {
                                fprintf(stderr, "%s: lost lvssd: %s (%s)\n", p->prog, vss_hresult_text(hr),
                                        strempty(vss_hresult_name(hr)));
                                return EXIT_FAILURE;
                        }
                }
        }
}

void writer_program_log_event(const writer_program *p, vss_writer *w, const char *event, const char *fmt, ...) {
        char sid[VSS_ID_STRING_MAX];
        vss_id id;
        va_list ap;

        if (w && VSS_SUCCEEDED(vss_writer_get_session_id(w, &id)) && !vss_id_is_null(&id))
                vss_id_format(&id, sid);
        else
                snprintf(sid, sizeof sid, "none");

        fprintf(stderr, "%s: session %s: %s", p->prog, sid, event);
        if (fmt) {
                fputs(": ", stderr);
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
        }
        fputc('\n', stderr);
}

int writer_program_write_freeze_stamp(const char *path, uint64_t usec) {
        _cleanup_(freep) char *tmp = NULL;
        FILE *f;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f, "%" PRIu64 "\n", usec);
        if (fflush(f) != 0 || ferror(f)) {
                int r = errno ? -errno : -EIO;
                fclose(f);
                unlink(tmp);
                return r;
        }
        if (fclose(f) != 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

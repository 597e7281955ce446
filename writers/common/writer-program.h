/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the writer programs (lvss-writer-sqlite, -postgresql, -mariadb) share:
 * the common options, the signalfd, creating and subscribing the writer, the
 * poll loop on vss_writer_get_fd() + the signalfd + an optional fd of the
 * program's own, the event log line, the freeze stamp file. Every message
 * starts with the program's name.
 */

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <lvss/vss.h>

#include "basic/util.h"

#define EXIT_USAGE 2

/* getopt_long() values of the common options; a program's own options start at WRITER_ARG_PROGRAM. */
enum {
        WRITER_ARG_VERSION = 0x100,
        WRITER_ARG_SOCKET,
        WRITER_ARG_NAME,
        WRITER_ARG_INSTANCE,
        WRITER_ARG_FREEZE_TIMEOUT,
        WRITER_ARG_FREEZE_STAMP,
        WRITER_ARG_PROGRAM,
};

/* --help --version --socket --name --instance --freeze-timeout (every writer program). */
#define WRITER_COMMON_OPTIONS                                                    \
        { "help", no_argument, NULL, 'h' },                                      \
        { "version", no_argument, NULL, WRITER_ARG_VERSION },                    \
        { "socket", required_argument, NULL, WRITER_ARG_SOCKET },                \
        { "name", required_argument, NULL, WRITER_ARG_NAME },                    \
        { "instance", required_argument, NULL, WRITER_ARG_INSTANCE },            \
        { "freeze-timeout", required_argument, NULL, WRITER_ARG_FREEZE_TIMEOUT }

#define WRITER_FREEZE_STAMP_OPTION { "freeze-stamp", required_argument, NULL, WRITER_ARG_FREEZE_STAMP }

/* A static writer_program with its name, --help printer and option defaults. */
#define WRITER_PROGRAM_INIT(prog_, help_, name_, freeze_timeout_ms_)                                         \
        {                                                                                                      \
                .prog = (prog_), .help = (help_), .name = (name_), .freeze_timeout_ms = (freeze_timeout_ms_), \
                .signal_fd = -1,                                                                               \
        }

typedef struct writer_program {
        /* Set by the program before writer_program_parse_option(). */
        const char *prog;      /* "lvss-writer-…": starts every message */
        void (*help)(void);    /* prints --help */
        /* The common options (defaults set by the program). */
        const char *socket;
        const char *name;
        const char *instance;
        uint32_t freeze_timeout_ms;
        const char *freeze_timeout_what; /* what a bad --freeze-timeout "needs" (NULL: "milliseconds") */
        const char *freeze_stamp;
        /* Set by writer_program_setup(). */
        int signal_fd;
} writer_program;

/*
 * Handles @c, a value from getopt_long() with @arg its optarg: 1 when it was a common option and parsing goes on,
 * 0 for --help/--version (done, exit with success), -EINVAL after one line on stderr for a bad value or an unknown
 * option (@c == '?'), -ENOENT when @c is none of the common options.
 */
int writer_program_parse_option(writer_program *p, int c, const char *arg);

/*
 * getopt_long() over @options, handling the common options itself: returns the next option of the program's own
 * (>= WRITER_ARG_PROGRAM), WRITER_OPTIONS_END when all are read, 0 for --help/--version (done: exit with success),
 * -EINVAL after one line on stderr for a bad value or an unknown option.
 */
#define WRITER_OPTIONS_END 1
int writer_program_next_option(writer_program *p, int argc, char *argv[], const struct option *options);

/* Parses a number in 1..@max for option @opt; otherwise one line "PROG: OPT needs WHAT > 0, not 'S'" and -EINVAL. */
int writer_program_parse_number(const writer_program *p, const char *opt, const char *what, const char *s,
                                unsigned long max, unsigned long *ret);

/*
 * Blocks SIGTERM and SIGINT (before anything may start a thread: they are only ever read from the signalfd),
 * creates the signalfd, ignores SIGPIPE, and exports --socket as LVSS_SOCKET. On failure one line and -errno.
 */
int writer_program_setup(writer_program *p);

/* Creates the writer (class @writer_id, a back-end transacted database of user data) and subscribes it. On failure
 * one line (with the socket) and NULL. */
vss_writer *writer_program_start(const writer_program *p, const vss_id *writer_id, const vss_writer_callbacks *cb,
                                 void *userdata);

/* The program's own fd to watch besides lvssd and the signals: the fd (or -1 for none this round), and what to do
 * when it polls ready. */
typedef struct writer_program_watch {
        int (*fd)(void *userdata);
        void (*ready)(void *userdata);
        void *userdata;
} writer_program_watch;

/* Serves lvssd until a signal (EXIT_SUCCESS) or until lvssd is lost (EXIT_FAILURE); @watch may be NULL. */
int writer_program_run(const writer_program *p, vss_writer *w, const writer_program_watch *watch);

/* One line per event, with the session id (cli.md): "PROG: session ID: EVENT[: MESSAGE]" (@fmt may be NULL). */
void writer_program_log_event(const writer_program *p, vss_writer *w, const char *event, const char *fmt, ...)
        _printf_(4, 5);

/* Writes @usec (CLOCK_REALTIME µs of a freeze) to @path, atomically (a temporary file renamed). */
int writer_program_write_freeze_stamp(const char *path, uint64_t usec);

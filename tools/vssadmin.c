/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vssadmin — the administrative view of lvss (mirrors Windows vssadmin).
 *
 * `list writers` is the admin view of writer-status.md (WS-9): it calls
 * Coordinator1.ListWriters on an admin connection, which sends Identify to
 * every subscribed writer and answers, for each one, with the status of the
 * latest session it took part in and whether that session is still active.
 * The call is deferred by lvssd up to its Identify deadline, so it carries a
 * long timeout of its own (LVSS_LONG_CALL_USEC) instead of sd-bus's 25 s.
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "common/util.h"
#include "config.h"
#include "output.h"
#include "protocol/protocol.h"

#define BANNER "vssadmin 0.1 - lvss Volume Shadow Copy Service administrative command-line tool"

#define EXIT_USAGE 2

static const char *arg_socket = NULL;
static bool arg_json = false;
/* An option of a command that is not implemented yet (--set, --for, ...). */
static const char *arg_other_option = NULL;

typedef struct writer_list {
        output_writer *writers;
        size_t n;
} writer_list;

static void writer_list_done(writer_list *l) {
        /* The strings are borrowed from the reply message; only the array is ours. */
        free(l->writers);
        l->writers = NULL;
        l->n = 0;
}

static void help(void) {
        printf("%s\n\n"
               "Usage: vssadmin [OPTIONS] COMMAND\n\n"
               "Commands:\n"
               "  list writers              Every subscribed writer and its latest status\n"
               "  list providers            (not implemented yet)\n"
               "  list shadows [--set ID]   (not implemented yet)\n"
               "  create shadow --for VOL   (not implemented yet)\n"
               "  delete shadows ...        (not implemented yet)\n\n"
               "Options:\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "     --socket PATH          The lvssd socket (default: $LVSS_SOCKET, else the\n"
               "                            system or user default)\n"
               "     --json                 Print one JSON document\n\n"
               "See vssadmin(8).\n",
               BANNER);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SOCKET,
                ARG_JSON,
                ARG_OTHER_WITH_VALUE,
                ARG_OTHER,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                /* accepted now so that the later commands answer "not implemented", not "bad usage" */
                { "set", required_argument, NULL, ARG_OTHER_WITH_VALUE },
                { "for", required_argument, NULL, ARG_OTHER_WITH_VALUE },
                { "provider", required_argument, NULL, ARG_OTHER_WITH_VALUE },
                { "shadow", required_argument, NULL, ARG_OTHER_WITH_VALUE },
                { "all", no_argument, NULL, ARG_OTHER },
                { "oldest", no_argument, NULL, ARG_OTHER },
                {}
        };
        int c, option_index = 0;

        /* Options may come before or after the command words (GNU permutation). */
        while ((c = getopt_long(argc, argv, "h", options, &option_index)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vssadmin %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_SOCKET:
                        if (!*optarg) {
                                fprintf(stderr, "vssadmin: --socket needs a path\n");
                                return -EINVAL;
                        }
                        arg_socket = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_OTHER_WITH_VALUE:
                case ARG_OTHER:
                        arg_other_option = options[option_index].name;
                        break;
                default: /* '?': getopt said what is wrong */
                        return -EINVAL;
                }
        return 1;
}

/* Reads one (ayayssuiisayubttbs); the strings stay borrowed from @m. */
static int read_admin_status(sd_bus_message *m, output_writer *ret) {
        output_writer w = {};
        uint32_t state, event;
        int in_progress, active;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_STRUCT, LVSS_ADMIN_STATUS_STRUCT);
        if (r <= 0)
                return r;
        r = lvss_bus_read_id(m, &w.status.instance_id);
        if (r < 0)
                return r;
        r = lvss_bus_read_id(m, &w.status.writer_id);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "ssuiis", &w.status.writer_name, &w.status.instance_name, &state,
                                &w.status.failure, &w.status.application_result,
                                &w.status.application_message);
        if (r < 0)
                return r;
        r = lvss_bus_read_id(m, &w.status.session_id);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "ubttbs", &event, &in_progress, &w.status.last_event_usec,
                                &w.status.last_event_duration_usec, &active, &w.session_state);
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        w.status.state = (vss_writer_state) state;
        w.status.last_event = (vss_writer_event) event;
        w.status.event_in_progress = in_progress;
        w.status.instance_name = strnull_if_empty(w.status.instance_name);
        w.status.application_message = strnull_if_empty(w.status.application_message);
        w.session_known = true;
        w.session_active = active;
        *ret = w;
        return 1;
}

static int read_writer_list(sd_bus_message *reply, writer_list *ret) {
        writer_list l = {};
        int r;

        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(" LVSS_ADMIN_STATUS_STRUCT ")");
        if (r < 0)
                return r;
        for (;;) {
                output_writer w;
                output_writer *n;

                r = read_admin_status(reply, &w);
                if (r < 0) {
                        writer_list_done(&l);
                        return r;
                }
                if (r == 0)
                        break;
                n = realloc(l.writers, (l.n + 1) * sizeof *n);
                if (!n) {
                        writer_list_done(&l);
                        return -ENOMEM;
                }
                l.writers = n;
                l.writers[l.n++] = w;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                writer_list_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}

/* One clear line for a failed call, by what the failure means for the user. */
static void log_call_failure(const char *socket_path, const char *what, const sd_bus_error *error, int r) {
        vss_hresult hr = lvss_bus_error_to_hresult(error, r);
        const char *message = error && sd_bus_error_is_set(error) && error->message ? error->message : strerror(-r);

        if (hr == VSS_E_WRITER_INFRASTRUCTURE)
                fprintf(stderr, "vssadmin: cannot reach lvssd at %s: %s\n", socket_path, message);
        else if (hr == VSS_E_ACCESSDENIED)
                fprintf(stderr, "vssadmin: lvssd refused %s: %s (listing writers needs requester rights)\n", what,
                        message);
        else if (vss_hresult_name(hr))
                fprintf(stderr, "vssadmin: %s failed: %s (%s)\n", what, message, vss_hresult_name(hr));
        else
                fprintf(stderr, "vssadmin: %s failed: %s\n", what, message);
}

static void print_writers_text(const writer_list *l) {
        printf("%s\n\n", BANNER);
        if (l->n == 0) {
                printf("No writers are subscribed.\n");
                return;
        }
        for (size_t i = 0; i < l->n; i++) {
                if (i > 0)
                        putchar('\n');
                output_writer_block(stdout, &l->writers[i]);
        }
}

static void print_writers_json(const writer_list *l) {
        json_writer j;

        json_init(&j, stdout);
        json_begin_object(&j);
        json_key(&j, "writers");
        json_begin_array(&j);
        for (size_t i = 0; i < l->n; i++) {
                json_begin_object(&j);
                json_writer_members(&j, &l->writers[i]);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        json_finish(&j);
}

static int list_writers(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *own_path = NULL;
        const char *path = arg_socket;
        writer_list l = {};
        int r;

        if (!path) {
                r = lvss_socket_path(&own_path);
                if (r == -ENXIO) {
                        fprintf(stderr, "vssadmin: cannot find lvssd: $XDG_RUNTIME_DIR is not set "
                                        "(use --socket or $LVSS_SOCKET)\n");
                        return EXIT_FAILURE;
                }
                if (r < 0) {
                        fprintf(stderr, "vssadmin: cannot find lvssd: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
                path = own_path;
        }

        r = lvss_bus_connect(path, &bus);
        if (r < 0) {
                fprintf(stderr, "vssadmin: cannot reach lvssd at %s: %s\n", path, strerror(-r));
                return EXIT_FAILURE;
        }

        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           "ListWriters");
        if (r < 0) {
                fprintf(stderr, "vssadmin: cannot build the ListWriters call: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = sd_bus_call(bus, m, LVSS_LONG_CALL_USEC, &error, &reply);
        if (r < 0) {
                log_call_failure(path, "ListWriters", &error, r);
                return EXIT_FAILURE;
        }

        r = read_writer_list(reply, &l);
        if (r < 0) {
                fprintf(stderr, "vssadmin: lvssd sent a malformed writer list: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }

        if (arg_json)
                print_writers_json(&l);
        else
                print_writers_text(&l);
        writer_list_done(&l);

        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "vssadmin: cannot write the output: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static int not_implemented(const char *what) {
        fprintf(stderr, "vssadmin: '%s' is not implemented yet\n", what);
        return EXIT_FAILURE;
}

int main(int argc, char *argv[]) {
        const char *verb, *noun;
        int r;

        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_USAGE;
        if (r == 0)
                return EXIT_SUCCESS;

        output_init_colors(stdout);

        if (optind >= argc) {
                fprintf(stderr, "vssadmin: missing command (try 'vssadmin list writers' or --help)\n");
                return EXIT_USAGE;
        }
        verb = argv[optind];
        noun = optind + 1 < argc ? argv[optind + 1] : NULL;

        if (strcmp(verb, "list") == 0) {
                if (!noun) {
                        fprintf(stderr, "vssadmin: 'list' needs what to list: writers, providers or shadows\n");
                        return EXIT_USAGE;
                }
                if (strcmp(noun, "writers") == 0) {
                        if (optind + 2 < argc) {
                                fprintf(stderr, "vssadmin: unexpected argument '%s'\n", argv[optind + 2]);
                                return EXIT_USAGE;
                        }
                        if (arg_other_option) {
                                fprintf(stderr, "vssadmin: 'list writers' takes no option --%s\n",
                                        arg_other_option);
                                return EXIT_USAGE;
                        }
                        return list_writers();
                }
                if (strcmp(noun, "providers") == 0)
                        return not_implemented("list providers");
                if (strcmp(noun, "shadows") == 0)
                        return not_implemented("list shadows");
                fprintf(stderr, "vssadmin: unknown list '%s' (writers, providers or shadows)\n", noun);
                return EXIT_USAGE;
        }
        if (strcmp(verb, "create") == 0 && noun && strcmp(noun, "shadow") == 0)
                return not_implemented("create shadow");
        if (strcmp(verb, "delete") == 0 && noun && strcmp(noun, "shadows") == 0)
                return not_implemented("delete shadows");

        fprintf(stderr, "vssadmin: unknown command '%s%s%s' (see --help)\n", verb, noun ? " " : "", strempty(noun));
        return EXIT_USAGE;
}

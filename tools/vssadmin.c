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
 *
 * `list providers`, `list shadows` and `delete shadows` are single admin
 * calls (ListProviders, ListShadows, DeleteShadows). `create shadow` is a
 * requester: the whole backup sequence through the public API, in the
 * persistent context with writers (VSS_CTX_APP_ROLLBACK), as Windows
 * vssadmin does on servers; only the provider's id is looked up on the
 * admin connection first, by name.
 *
 * `delete shadows` asks for confirmation only when standard input is a
 * terminal (and --quiet / -y is not given): a script is never left waiting
 * on a question nobody sees.
 */

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "basic/util.h"
#include "basic/retention.h"
#include "config.h"
#include "output.h"
#include "protocol/protocol.h"

#define BANNER "vssadmin 0.1 - lvss Volume Shadow Copy Service administrative command-line tool"

#define EXIT_USAGE 2

/* ListShadows' struct (docs/dbus-interface.md). */
#define SHADOW_STRUCT "ayayayayssssbiut"
#define PROVIDER_STRUCT "ayssssb"

/* Which options were given, so that each command can refuse the ones it does not take. */
enum {
        OPT_SET = 1 << 0,
        OPT_FOR = 1 << 1,
        OPT_PROVIDER = 1 << 2,
        OPT_SHADOW = 1 << 3,
        OPT_ALL = 1 << 4,
        OPT_OLDEST = 1 << 5,
        OPT_QUIET = 1 << 6,
        OPT_KEEP = 1 << 7, /* issue 12 §2 */
        OPT_MAXSIZE = 1 << 8,
};

static const char *arg_socket = NULL;
static bool arg_json = false;
static unsigned arg_given = 0;
static const char *arg_set = NULL;
static const char *arg_for = NULL;
static const char *arg_provider = NULL;
static const char *arg_shadow = NULL;
static unsigned arg_keep = 0;
static const char *arg_maxsize = NULL;

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
               "  list writers                 Every subscribed writer and its latest status\n"
               "  list providers               The snapshot providers lvssd has\n"
               "  list shadows [--set ID]      The shadow copies, by snapshot set\n"
               "  create shadow --for VOLUME [--provider NAME]\n"
               "                               A persistent shadow copy, with writers\n"
               "  delete shadows --shadow ID | --set ID | --for VOLUME | --all [--oldest] [-y]\n"
               "                               Delete shadow copies\n"
               "  delete shadows --for VOLUME --keep N [-y]\n"
               "                               Delete all but the N newest persistent copies\n"
               "  list shadowstorage [--for VOLUME]\n"
               "                               Used, allocated and maximum shadow storage per volume\n"
               "  resize shadowstorage --for VOLUME --maxsize SIZE|N%%|UNBOUNDED\n"
               "                               The most the volume's shadow copies may take\n\n"
               "Options:\n"
               "  -h --help                    Show this help\n"
               "     --version                 Show the version\n"
               "     --socket PATH             The lvssd socket (default: $LVSS_SOCKET, else the\n"
               "                               system or user default)\n"
               "     --json                    Print one JSON document\n"
               "  -y --quiet                   delete shadows: do not ask, even on a terminal\n\n"
               "See vssadmin(8).\n",
               BANNER);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SOCKET,
                ARG_JSON,
                ARG_SET,
                ARG_FOR,
                ARG_PROVIDER,
                ARG_SHADOW,
                ARG_ALL,
                ARG_OLDEST,
                ARG_KEEP,
                ARG_MAXSIZE,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "json", no_argument, NULL, ARG_JSON },
                { "set", required_argument, NULL, ARG_SET },
                { "for", required_argument, NULL, ARG_FOR },
                { "provider", required_argument, NULL, ARG_PROVIDER },
                { "shadow", required_argument, NULL, ARG_SHADOW },
                { "all", no_argument, NULL, ARG_ALL },
                { "oldest", no_argument, NULL, ARG_OLDEST },
                { "keep", required_argument, NULL, ARG_KEEP },
                { "maxsize", required_argument, NULL, ARG_MAXSIZE },
                { "quiet", no_argument, NULL, 'y' },
                { "yes", no_argument, NULL, 'y' },
                {}
        };
        int c;

        /* Options may come before or after the command words (GNU permutation). */
        while ((c = getopt_long(argc, argv, "hy", options, NULL)) >= 0)
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
                case ARG_SET:
                        arg_set = optarg;
                        arg_given |= OPT_SET;
                        break;
                case ARG_FOR:
                        arg_for = optarg;
                        arg_given |= OPT_FOR;
                        break;
                case ARG_PROVIDER:
                        arg_provider = optarg;
                        arg_given |= OPT_PROVIDER;
                        break;
                case ARG_SHADOW:
                        arg_shadow = optarg;
                        arg_given |= OPT_SHADOW;
                        break;
                case ARG_ALL:
                        arg_given |= OPT_ALL;
                        break;
                case ARG_OLDEST:
                        arg_given |= OPT_OLDEST;
                        break;
                case ARG_KEEP:
                        if (lvss_parse_keep(optarg, &arg_keep) < 0 || arg_keep == 0) {
                                fprintf(stderr, "vssadmin: --keep needs a count from 1 to 100000, got '%s' (to delete "
                                                "every copy of a volume, leave --keep out)\n", optarg);
                                return -EINVAL;
                        }
                        arg_given |= OPT_KEEP;
                        break;
                case ARG_MAXSIZE: {
                        uint64_t bytes;
                        unsigned pct;

                        if (lvss_parse_size(optarg, &bytes, &pct) < 0) {
                                fprintf(stderr, "vssadmin: --maxsize needs bytes (with K, M, G or T), N%% (1 to 100) "
                                                "or UNBOUNDED, got '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_maxsize = optarg;
                        arg_given |= OPT_MAXSIZE;
                        break;
                }
                case 'y':
                        arg_given |= OPT_QUIET;
                        break;
                default: /* '?': getopt said what is wrong */
                        return -EINVAL;
                }
        return 1;
}

static const char *option_name(unsigned opt) {
        switch (opt) {
        case OPT_SET:
                return "--set";
        case OPT_FOR:
                return "--for";
        case OPT_PROVIDER:
                return "--provider";
        case OPT_SHADOW:
                return "--shadow";
        case OPT_ALL:
                return "--all";
        case OPT_OLDEST:
                return "--oldest";
        case OPT_QUIET:
                return "--quiet";
        case OPT_KEEP:
                return "--keep";
        case OPT_MAXSIZE:
                return "--maxsize";
        default:
                return "?";
        }
}

/* Refuses the options @command does not take (@allowed); true when all given ones are allowed. */
static bool options_allowed(const char *command, unsigned allowed) {
        unsigned extra = arg_given & ~allowed;

        if (extra == 0)
                return true;
        for (unsigned bit = 1; bit <= OPT_QUIET; bit <<= 1)
                if (extra & bit) {
                        fprintf(stderr, "vssadmin: '%s' takes no option %s\n", command, option_name(bit));
                        break;
                }
        return false;
}

/* An id option: "{…}" or without braces. False (and says why) when it is not one. */
static bool parse_id_option(const char *option, const char *what, const char *text, vss_id *ret) {
        if (vss_id_parse(text, ret) == VSS_S_OK)
                return true;
        fprintf(stderr, "vssadmin: %s needs %s id like {01234567-89ab-cdef-0123-456789abcdef}, not '%s'\n", option,
                what, text);
        return false;
}

/* ---- the admin connection -------------------------------------------------- */

typedef struct admin {
        sd_bus *bus;
        const char *path; /* the socket, for messages */
        char *own_path;
} admin;

static void admin_done(admin *a) {
        a->bus = sd_bus_flush_close_unref(a->bus);
        a->own_path = mfree(a->own_path);
}

static int admin_connect(admin *a) {
        int r;

        a->path = arg_socket;
        if (!a->path) {
                r = lvss_socket_path(&a->own_path);
                if (r == -ENXIO) {
                        fprintf(stderr, "vssadmin: cannot find lvssd: $XDG_RUNTIME_DIR is not set "
                                        "(use --socket or $LVSS_SOCKET)\n");
                        return r;
                }
                if (r < 0) {
                        fprintf(stderr, "vssadmin: cannot find lvssd: %s\n", strerror(-r));
                        return r;
                }
                a->path = a->own_path;
        }

        r = lvss_bus_connect(a->path, &a->bus);
        if (r < 0) {
                fprintf(stderr, "vssadmin: cannot reach lvssd at %s: %s\n", a->path, strerror(-r));
                return r;
        }
        return 0;
}

/* One clear line for a failed call, by what the failure means for the user. */
static void log_call_failure(const char *socket_path, const char *what, const sd_bus_error *error, int r) {
        vss_hresult hr = lvss_bus_error_to_hresult(error, r);
        const char *message = error && sd_bus_error_is_set(error) && error->message ? error->message : strerror(-r);

        if (hr == VSS_E_WRITER_INFRASTRUCTURE)
                fprintf(stderr, "vssadmin: cannot reach lvssd at %s: %s\n", socket_path, message);
        else if (hr == VSS_E_ACCESSDENIED)
                fprintf(stderr, "vssadmin: lvssd refused %s: %s (this needs requester rights: root or "
                                "the group of lvssd.conf's RequesterGroup=)\n",
                        what, message);
        else if (vss_hresult_name(hr))
                fprintf(stderr, "vssadmin: %s failed: %s (%s)\n", what, message, vss_hresult_name(hr));
        else
                fprintf(stderr, "vssadmin: %s failed: %s\n", what, message);
}

static int admin_new_call(admin *a, const char *member, sd_bus_message **ret) {
        int r = sd_bus_message_new_method_call(a->bus, ret, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                               member);
        if (r < 0)
                fprintf(stderr, "vssadmin: cannot build the %s call: %s\n", member, strerror(-r));
        return r;
}

static int admin_call(admin *a, const char *member, sd_bus_message *m, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(a->bus, m, LVSS_LONG_CALL_USEC, &error, ret_reply);
        if (r < 0)
                log_call_failure(a->path, member, &error, r);
        return r;
}

static int finish_output(void) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "vssadmin: cannot write the output: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/* ---- list writers ------------------------------------------------------------ */

/* Reads one (ayayssuiisayubttbsuisb); the strings stay borrowed from @m. */
static int read_admin_status(sd_bus_message *m, output_writer *ret) {
        output_writer w = {};
        uint32_t state, event;
        int in_progress, active, by_lvssd;
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
        r = sd_bus_message_read(m, "uisb", &w.uid, &w.pid, &w.note, &by_lvssd);
        if (r < 0)
                return r;
        w.owner_known = true;
        w.answered_by_lvssd = by_lvssd;
        w.note = strnull_if_empty(w.note);
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
        _cleanup_(admin_done) admin a = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        writer_list l = {};
        int r;

        if (admin_connect(&a) < 0 || admin_new_call(&a, "ListWriters", &m) < 0 ||
            admin_call(&a, "ListWriters", m, &reply) < 0)
                return EXIT_FAILURE;

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
        return finish_output();
}

/* ---- list providers ---------------------------------------------------------- */

typedef struct provider_info {
        vss_id id;
        const char *name, *type, *version, *volumes; /* borrowed from the reply */
        bool is_default;
} provider_info;

typedef struct provider_list {
        sd_bus_message *reply; /* holds the strings */
        provider_info *p;
        size_t n;
} provider_list;

static void provider_list_done(provider_list *l) {
        l->reply = sd_bus_message_unref(l->reply);
        l->p = mfree(l->p);
        l->n = 0;
}

static int read_provider_list(sd_bus_message *reply, provider_list *ret) {
        provider_list l = {};
        int r;

        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(" PROVIDER_STRUCT ")");
        if (r < 0)
                return r;
        for (;;) {
                provider_info p = {}, *n;
                int is_default;

                r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_STRUCT, PROVIDER_STRUCT);
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                r = lvss_bus_read_id(reply, &p.id);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "ssssb", &p.name, &p.type, &p.version, &p.volumes,
                                                &is_default);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
                p.is_default = is_default;
                n = realloc(l.p, (l.n + 1) * sizeof *n);
                if (!n) {
                        r = -ENOMEM;
                        goto fail;
                }
                l.p = n;
                l.p[l.n++] = p;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                goto fail;
        l.reply = sd_bus_message_ref(reply);
        *ret = l;
        return 0;
fail:
        free(l.p);
        return r;
}

static int fetch_providers(admin *a, provider_list *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = admin_new_call(a, "ListProviders", &m);
        if (r >= 0)
                r = admin_call(a, "ListProviders", m, &reply);
        if (r < 0)
                return r;
        r = read_provider_list(reply, ret);
        if (r < 0)
                fprintf(stderr, "vssadmin: lvssd sent a malformed provider list: %s\n", strerror(-r));
        return r;
}

static int list_providers(void) {
        _cleanup_(admin_done) admin a = {};
        _cleanup_(provider_list_done) provider_list l = {};

        if (admin_connect(&a) < 0 || fetch_providers(&a, &l) < 0)
                return EXIT_FAILURE;

        if (arg_json) {
                json_writer j;

                json_init(&j, stdout);
                json_begin_object(&j);
                json_key(&j, "providers");
                json_begin_array(&j);
                for (size_t i = 0; i < l.n; i++) {
                        json_begin_object(&j);
                        json_key(&j, "provider_id");
                        json_id(&j, &l.p[i].id);
                        json_key(&j, "name");
                        json_string(&j, l.p[i].name);
                        json_key(&j, "type");
                        json_string(&j, l.p[i].type);
                        json_key(&j, "version");
                        json_string(&j, l.p[i].version);
                        json_key(&j, "volumes");
                        json_string(&j, l.p[i].volumes);
                        json_key(&j, "default");
                        json_boolean(&j, l.p[i].is_default);
                        json_end_object(&j);
                }
                json_end_array(&j);
                json_end_object(&j);
                json_finish(&j);
                return finish_output();
        }

        printf("%s\n\n", BANNER);
        if (l.n == 0)
                printf("No providers are available.\n");
        for (size_t i = 0; i < l.n; i++) {
                char id[VSS_ID_STRING_MAX];

                vss_id_format(&l.p[i].id, id);
                if (i > 0)
                        putchar('\n');
                fputs("Provider name: '", stdout);
                fputs_sanitized(l.p[i].name, stdout);
                fputs("'\n   Provider type: ", stdout);
                fputs_sanitized(l.p[i].type, stdout);
                printf("\n   Provider Id: %s\n   Version: ", id);
                fputs_sanitized(l.p[i].version, stdout);
                fputs("\n   Volumes: ", stdout);
                fputs_sanitized(*l.p[i].volumes ? l.p[i].volumes : "(not said)", stdout);
                printf("\n   Default: %s\n", l.p[i].is_default ? "yes" : "no");
        }
        return finish_output();
}

/* ---- list shadows -------------------------------------------------------------- */

typedef struct shadow_info {
        vss_id snapshot_id, set_id, session_id, provider_id;
        const char *provider_name, *volume, *snapshot_path, *state; /* borrowed from the reply */
        bool persistent;
        int32_t context;
        uint32_t attributes;
        uint64_t created_usec;
} shadow_info;

typedef struct shadow_list {
        sd_bus_message *reply;
        shadow_info *s;
        size_t n;
} shadow_list;

static void shadow_list_done(shadow_list *l) {
        l->reply = sd_bus_message_unref(l->reply);
        l->s = mfree(l->s);
        l->n = 0;
}

static int read_shadow_list(sd_bus_message *reply, shadow_list *ret) {
        shadow_list l = {};
        int r;

        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(" SHADOW_STRUCT ")");
        if (r < 0)
                return r;
        for (;;) {
                shadow_info s = {}, *n;
                int persistent;

                r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_STRUCT, SHADOW_STRUCT);
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                r = lvss_bus_read_id(reply, &s.snapshot_id);
                if (r >= 0)
                        r = lvss_bus_read_id(reply, &s.set_id);
                if (r >= 0)
                        r = lvss_bus_read_id(reply, &s.session_id);
                if (r >= 0)
                        r = lvss_bus_read_id(reply, &s.provider_id);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "ssssbiut", &s.provider_name, &s.volume, &s.snapshot_path,
                                                &s.state, &persistent, &s.context, &s.attributes, &s.created_usec);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
                s.persistent = persistent;
                n = realloc(l.s, (l.n + 1) * sizeof *n);
                if (!n) {
                        r = -ENOMEM;
                        goto fail;
                }
                l.s = n;
                l.s[l.n++] = s;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                goto fail;
        l.reply = sd_bus_message_ref(reply);
        *ret = l;
        return 0;
fail:
        free(l.s);
        return r;
}

/* ListShadows for one set (@set_id NULL or null: all). */
static int fetch_shadows(admin *a, const vss_id *set_id, shadow_list *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        vss_id all = {};
        int r;

        r = admin_new_call(a, "ListShadows", &m);
        if (r >= 0) {
                r = lvss_bus_append_id(m, set_id ? set_id : &all);
                if (r < 0)
                        fprintf(stderr, "vssadmin: cannot build the ListShadows call: %s\n", strerror(-r));
        }
        if (r >= 0)
                r = admin_call(a, "ListShadows", m, &reply);
        if (r < 0)
                return r;
        r = read_shadow_list(reply, ret);
        if (r < 0)
                fprintf(stderr, "vssadmin: lvssd sent a malformed shadow copy list: %s\n", strerror(-r));
        return r;
}

static const char *shadow_type(const shadow_info *s) {
        return s->persistent ? "persistent" : "auto-release";
}

static void print_shadows_json(const shadow_list *l) {
        char ts[TIMESTAMP_MAX];
        json_writer j;

        json_init(&j, stdout);
        json_begin_object(&j);
        json_key(&j, "shadows");
        json_begin_array(&j);
        for (size_t i = 0; i < l->n; i++) {
                const shadow_info *s = &l->s[i];

                json_begin_object(&j);
                json_key(&j, "snapshot_id");
                json_id(&j, &s->snapshot_id);
                json_key(&j, "snapshot_set_id");
                json_id(&j, &s->set_id);
                json_key(&j, "session_id");
                json_id(&j, &s->session_id);
                json_key(&j, "provider_id");
                json_id(&j, &s->provider_id);
                json_key(&j, "provider_name");
                json_string(&j, s->provider_name);
                json_key(&j, "original_volume");
                json_string(&j, s->volume);
                json_key(&j, "snapshot_path");
                json_string(&j, s->snapshot_path);
                json_key(&j, "state");
                json_string(&j, s->state);
                json_key(&j, "persistent");
                json_boolean(&j, s->persistent);
                json_key(&j, "type");
                json_string(&j, shadow_type(s));
                json_key(&j, "context");
                json_int(&j, s->context);
                json_key(&j, "attributes");
                json_uint(&j, s->attributes);
                json_key(&j, "creation_usec");
                json_uint(&j, s->created_usec);
                json_key(&j, "creation_time");
                if (s->created_usec > 0)
                        json_string(&j, format_timestamp_iso(ts, s->created_usec));
                else
                        json_null(&j);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
        json_finish(&j);
}

/* Grouped by snapshot set, in the order the sets first appear, as Windows vssadmin does. */
static void print_shadows_text(const shadow_list *l) {
        _cleanup_(freep) bool *done = calloc(l->n ? l->n : 1, sizeof *done);

        printf("%s\n\n", BANNER);
        if (l->n == 0) {
                printf("No items found that satisfy the query.\n");
                return;
        }
        if (!done) {
                fprintf(stderr, "vssadmin: out of memory\n");
                return;
        }
        for (size_t i = 0; i < l->n; i++) {
                char set_id[VSS_ID_STRING_MAX], ts[TIMESTAMP_MAX];
                uint64_t created = UINT64_MAX;
                size_t n_in_set = 0;

                if (done[i])
                        continue;
                for (size_t k = i; k < l->n; k++)
                        if (vss_id_equal(&l->s[k].set_id, &l->s[i].set_id)) {
                                n_in_set++;
                                if (l->s[k].created_usec < created)
                                        created = l->s[k].created_usec;
                        }
                vss_id_format(&l->s[i].set_id, set_id);
                printf("Contents of shadow copy set ID: %s\n", set_id);
                printf("   Contained %zu shadow cop%s at creation time: %s\n", n_in_set, n_in_set == 1 ? "y" : "ies",
                       format_timestamp(ts, created == UINT64_MAX ? 0 : created));

                for (size_t k = i; k < l->n; k++) {
                        const shadow_info *s = &l->s[k];
                        char id[VSS_ID_STRING_MAX], pid[VSS_ID_STRING_MAX], sid[VSS_ID_STRING_MAX];

                        if (!vss_id_equal(&s->set_id, &l->s[i].set_id))
                                continue;
                        done[k] = true;
                        vss_id_format(&s->snapshot_id, id);
                        vss_id_format(&s->provider_id, pid);
                        vss_id_format(&s->session_id, sid);
                        printf("      Shadow Copy ID: %s\n", id);
                        fputs("         Original Volume: ", stdout);
                        fputs_sanitized(s->volume, stdout);
                        fputs("\n         Shadow Copy Path: ", stdout);
                        fputs_sanitized(s->snapshot_path, stdout);
                        fputs("\n         Provider: '", stdout);
                        fputs_sanitized(s->provider_name, stdout);
                        printf("' %s\n", pid);
                        printf("         Type: %s (context 0x%08" PRIx32 ", attributes 0x%08" PRIx32 ")\n",
                               shadow_type(s), (uint32_t) s->context, s->attributes);
                        fputs("         State: ", stdout);
                        fputs_sanitized(s->state, stdout);
                        printf("\n         Created: %s\n", format_timestamp(ts, s->created_usec));
                        printf("         Session: %s\n", sid);
                }
                putchar('\n');
        }
}

static int list_shadows(void) {
        _cleanup_(admin_done) admin a = {};
        _cleanup_(shadow_list_done) shadow_list l = {};
        vss_id set_id = {};

        if (arg_set && !parse_id_option("--set", "a snapshot set", arg_set, &set_id))
                return EXIT_USAGE;
        if (admin_connect(&a) < 0 || fetch_shadows(&a, &set_id, &l) < 0)
                return EXIT_FAILURE;
        if (arg_json)
                print_shadows_json(&l);
        else
                print_shadows_text(&l);
        return finish_output();
}

/* ---- create shadow ------------------------------------------------------------- */

static const char *hr_name(vss_hresult hr) {
        const char *n = vss_hresult_name(hr);
        return n ? n : "unknown code";
}

static bool hr_ok(vss_hresult hr) {
        return VSS_SUCCEEDED(hr) && hr != VSS_S_ASYNC_CANCELLED && hr != VSS_S_ASYNC_PENDING;
}

static vss_hresult wait_async(vss_hresult hr, vss_async **a) {
        if (VSS_SUCCEEDED(hr))
                hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

static bool state_failed(vss_writer_state s) {
        return s >= VSS_WS_FAILED_AT_IDENTIFY && s <= VSS_WS_FAILED_AT_BACKUPSHUTDOWN;
}

/*
 * Gathers this session's writer status and names every failed writer on
 * stderr, one line each (@prefix: "error" or "warning"). Returns how many of
 * them took part in the backup (a writer that failed Identify took none);
 * the statuses go to @j when given (JSON output). Never fails the run itself.
 */
static unsigned report_writers(vss_backup_components *bc, const char *prefix, json_writer *j) {
        vss_async *a = NULL;
        unsigned n = 0, failed = 0;
        vss_hresult hr;

        hr = wait_async(vss_gather_writer_status(bc, &a), &a);
        if (hr_ok(hr))
                hr = vss_get_writer_status_count(bc, &n);
        if (!hr_ok(hr)) {
                fprintf(stderr, "vssadmin: %s: cannot gather the writer status: %s (%s)\n", prefix,
                        vss_hresult_text(hr), hr_name(hr));
                return 0;
        }
        if (j) {
                json_key(j, "writers");
                json_begin_array(j);
        }
        for (unsigned i = 0; i < n; i++) {
                output_writer w = { .status.size = sizeof(vss_writer_status) };

                if (VSS_FAILED(vss_get_writer_status(bc, i, &w.status)))
                        break;
                if (j) {
                        json_begin_object(j);
                        json_writer_members(j, &w);
                        json_end_object(j);
                }
                if (state_failed(w.status.state) || w.status.failure != 0) {
                        const char *event = output_failure_event(w.status.state, w.status.last_event);
                        _cleanup_(freep) char *name = sanitize(w.status.writer_name);
                        _cleanup_(freep) char *msg = w.status.application_message && *w.status.application_message
                                                             ? sanitize(w.status.application_message)
                                                             : NULL;

                        fprintf(stderr, "vssadmin: %s: writer '%s' failed%s%s: [%u] %s, %s (%s)%s%s\n", prefix,
                                strempty(name), event ? " at " : "", strempty(event), (unsigned) w.status.state,
                                vss_writer_state_text(w.status.state), vss_hresult_text(w.status.failure),
                                hr_name(w.status.failure), msg ? ": " : "", strempty(msg));
                        if (w.status.state != VSS_WS_FAILED_AT_IDENTIFY && w.status.last_event != VSS_EVENT_IDENTIFY)
                                failed++;
                }
        }
        if (j)
                json_end_array(j);
        (void) vss_free_writer_status(bc);
        return failed;
}

/* The provider's id for --provider: a name from ListProviders, or an id. */
static int lookup_provider(const char *name, vss_id *ret, char **ret_name) {
        _cleanup_(admin_done) admin a = {};
        _cleanup_(provider_list_done) provider_list l = {};
        int r;

        r = admin_connect(&a);
        if (r >= 0)
                r = fetch_providers(&a, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                vss_id id;

                if (strcmp(l.p[i].name, name) == 0 ||
                    (vss_id_parse(name, &id) == VSS_S_OK && vss_id_equal(&id, &l.p[i].id))) {
                        *ret = l.p[i].id;
                        *ret_name = strdup(l.p[i].name);
                        return *ret_name ? 0 : -ENOMEM;
                }
        }
        fprintf(stderr, "vssadmin: no provider named '%s' (see 'vssadmin list providers')\n", name);
        return -ENOENT;
}

/* The name of the provider with @id, best effort and silent (for the output only); NULL when unknown. */
static char *provider_name_quiet(const vss_id *id) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(provider_list_done) provider_list l = {};
        _cleanup_(freep) char *own_path = NULL;
        const char *path = arg_socket;

        if (!path && lvss_socket_path(&own_path) < 0)
                return NULL;
        if (lvss_bus_connect(path ? path : own_path, &bus) < 0)
                return NULL;
        if (sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "ListProviders", NULL,
                               &reply, NULL) < 0)
                return NULL;
        if (read_provider_list(reply, &l) < 0)
                return NULL;
        for (size_t i = 0; i < l.n; i++)
                if (vss_id_equal(&l.p[i].id, id))
                        return strdup(l.p[i].name);
        return NULL;
}

static int create_shadow(void) {
        _cleanup_(freep) char *volume = NULL, *provider_name = NULL;
        vss_backup_components *bc = NULL;
        vss_snapshot_prop prop = { .size = sizeof(vss_snapshot_prop) };
        vss_id provider_id = {}, set_id = {}, snapshot_id = {};
        const char *step = NULL;
        bool prepared = false, made = false;
        vss_async *a = NULL;
        vss_hresult hr;
        unsigned n_failed;
        json_writer j;
        int exit_status = EXIT_FAILURE;

        if (!(arg_given & OPT_FOR)) {
                fprintf(stderr, "vssadmin: 'create shadow' needs --for VOLUME\n");
                return EXIT_USAGE;
        }
        volume = realpath(arg_for, NULL);
        if (!volume) {
                fprintf(stderr, "vssadmin: cannot use volume %s: %s\n", arg_for, strerror(errno));
                return EXIT_FAILURE;
        }
        if (arg_provider && lookup_provider(arg_provider, &provider_id, &provider_name) < 0)
                return EXIT_FAILURE;

        /* The public API finds lvssd through $LVSS_SOCKET. */
        if (arg_socket && setenv("LVSS_SOCKET", arg_socket, 1) < 0) {
                fprintf(stderr, "vssadmin: cannot set LVSS_SOCKET: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }

        step = "CreateBackupComponents";
        hr = vss_create_backup_components(&bc);
        if (!hr_ok(hr)) {
                _cleanup_(freep) char *path = NULL;
                if (hr == VSS_E_WRITER_INFRASTRUCTURE && lvss_socket_path(&path) >= 0) {
                        /* Connect once more to say why, in the words of connect(2). */
                        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
                        int r = lvss_bus_connect(path, &bus);
                        fprintf(stderr, "vssadmin: cannot reach lvssd at %s%s%s\n", path, r < 0 ? ": " : "",
                                r < 0 ? strerror(-r) : "");
                } else if (hr == VSS_E_WRITER_INFRASTRUCTURE)
                        fprintf(stderr, "vssadmin: cannot find lvssd: $XDG_RUNTIME_DIR is not set "
                                        "(use --socket or $LVSS_SOCKET)\n");
                else if (hr == VSS_E_ACCESSDENIED)
                        fprintf(stderr, "vssadmin: lvssd refused the session: %s (a requester must be root or in "
                                        "the group of lvssd.conf's RequesterGroup=)\n",
                                vss_hresult_text(hr));
                else
                        fprintf(stderr, "vssadmin: cannot open a session with lvssd: %s (%s)\n", vss_hresult_text(hr),
                                hr_name(hr));
                return EXIT_FAILURE;
        }

        step = "InitializeForBackup";
        hr = vss_initialize_for_backup(bc, NULL);
        if (!hr_ok(hr))
                goto fail;
        /* Persistent, with writers: what a shadow copy made by an administrator is. */
        step = "SetContext";
        hr = vss_set_context(bc, VSS_CTX_APP_ROLLBACK);
        if (!hr_ok(hr))
                goto fail;
        step = "SetBackupState";
        hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false);
        if (!hr_ok(hr))
                goto fail;
        step = "GatherWriterMetadata";
        hr = wait_async(vss_gather_writer_metadata(bc, &a), &a);
        if (!hr_ok(hr))
                goto fail;
        step = "StartSnapshotSet";
        hr = vss_start_snapshot_set(bc, &set_id);
        if (!hr_ok(hr))
                goto fail;
        step = "AddToSnapshotSet";
        hr = vss_add_to_snapshot_set(bc, volume, arg_provider ? &provider_id : NULL, &snapshot_id);
        if (!hr_ok(hr))
                goto fail;
        step = "PrepareForBackup";
        hr = wait_async(vss_prepare_for_backup(bc, &a), &a);
        if (!hr_ok(hr))
                goto fail;
        prepared = true;
        step = "DoSnapshotSet";
        hr = wait_async(vss_do_snapshot_set(bc, &a), &a);
        if (!hr_ok(hr))
                goto fail;
        made = true;
        step = "GetSnapshotProperties";
        hr = vss_get_snapshot_properties(bc, &snapshot_id, &prop);
        if (!hr_ok(hr))
                goto fail;
        step = "BackupComplete";
        hr = wait_async(vss_backup_complete(bc, &a), &a);
        if (!hr_ok(hr))
                goto fail;
        prepared = false;

        if (!provider_name)
                provider_name = provider_name_quiet(&prop.provider_id);

        if (arg_json) {
                char ts[TIMESTAMP_MAX];

                json_init(&j, stdout);
                json_begin_object(&j);
                json_key(&j, "snapshot_id");
                json_id(&j, &prop.snapshot_id);
                json_key(&j, "snapshot_set_id");
                json_id(&j, &prop.snapshot_set_id);
                json_key(&j, "original_volume");
                json_string(&j, prop.original_volume);
                json_key(&j, "snapshot_path");
                json_string(&j, prop.snapshot_path);
                json_key(&j, "provider_id");
                json_id(&j, &prop.provider_id);
                json_key(&j, "provider_name");
                json_string(&j, provider_name);
                json_key(&j, "persistent");
                json_boolean(&j, prop.attributes & VSS_VOLSNAP_ATTR_PERSISTENT);
                json_key(&j, "context");
                json_int(&j, prop.context);
                json_key(&j, "attributes");
                json_uint(&j, prop.attributes);
                json_key(&j, "creation_usec");
                json_uint(&j, prop.creation_usec);
                json_key(&j, "creation_time");
                json_string(&j, format_timestamp_iso(ts, prop.creation_usec));
        }
        /* This gather also marks the session completed for the writers (WS-3). A writer
         * that failed at Thaw, PostSnapshot or BackupComplete vetoed nothing, but its
         * data in the copy may not be consistent: an error (issue 8 item 3). */
        n_failed = report_writers(bc, "error", arg_json ? &j : NULL);
        if (arg_json) {
                json_end_object(&j);
                json_finish(&j);
        } else {
                char id[VSS_ID_STRING_MAX], sid[VSS_ID_STRING_MAX];

                vss_id_format(&prop.snapshot_id, id);
                vss_id_format(&prop.snapshot_set_id, sid);
                printf("%s\n\n", BANNER);
                fputs("Successfully created shadow copy for '", stdout);
                fputs_sanitized(prop.original_volume, stdout);
                printf("'\n   Shadow Copy ID: %s\n   Shadow Copy Set ID: %s\n   Shadow Copy Path: ", id, sid);
                fputs_sanitized(prop.snapshot_path, stdout);
                if (provider_name) {
                        fputs("\n   Provider: '", stdout);
                        fputs_sanitized(provider_name, stdout);
                        putchar('\'');
                }
                putchar('\n');
        }
        exit_status = finish_output();
        if (n_failed > 0) {
                char sid[VSS_ID_STRING_MAX];

                vss_id_format(&set_id, sid);
                fprintf(stderr, "vssadmin: %u writer%s taking part failed: %s data in the shadow copy may not be "
                                "consistent; delete it with 'vssadmin delete shadows --set %s'\n",
                        n_failed, n_failed == 1 ? "" : "s", n_failed == 1 ? "its" : "their", sid);
                exit_status = EXIT_FAILURE;
        }
        goto finish;

fail:
        fprintf(stderr, "vssadmin: cannot create the shadow copy: %s failed: %s (%s)\n", step, vss_hresult_text(hr),
                hr_name(hr));
        /* Which writer failed, and why: the one thing an administrator needs next. */
        if (!streq_ptr(step, "InitializeForBackup") && !streq_ptr(step, "SetContext") &&
            !streq_ptr(step, "SetBackupState") && !streq_ptr(step, "GatherWriterMetadata"))
                (void) report_writers(bc, "error", NULL);
        if (prepared) {
                vss_hresult hr2 = vss_abort_backup(bc);
                if (!hr_ok(hr2))
                        fprintf(stderr, "vssadmin: AbortBackup failed too: %s (%s)\n", vss_hresult_text(hr2),
                                hr_name(hr2));
        }
        if (made) {
                /* Persistent: releasing the session does not delete it, and deleting it is the admin's call. */
                char sid[VSS_ID_STRING_MAX];
                vss_id_format(&set_id, sid);
                fprintf(stderr, "vssadmin: the shadow copy exists; delete it with 'vssadmin delete shadows --set %s'\n",
                        sid);
        }

finish:
        vss_free_snapshot_properties(&prop);
        vss_backup_components_release(bc);
        return exit_status;
}

/* ---- delete shadows ------------------------------------------------------------ */

/* Asks on the terminal; true for y / yes. */
static bool confirm(size_t n) {
        char answer[16];

        fprintf(stderr, "Delete %zu shadow cop%s? [y/N] ", n, n == 1 ? "y" : "ies");
        fflush(stderr);
        if (!fgets(answer, sizeof answer, stdin))
                return false;
        answer[strcspn(answer, "\r\n")] = 0;
        return strcasecmp(answer, "y") == 0 || strcasecmp(answer, "yes") == 0;
}

static int delete_shadows(void) {
        _cleanup_(admin_done) admin a = {};
        _cleanup_(shadow_list_done) shadow_list l = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(freep) char *canonical = NULL;
        unsigned selectors = arg_given & (OPT_SHADOW | OPT_SET | OPT_FOR | OPT_ALL);
        const char *what, *volume = "";
        vss_id id = {};
        size_t expected = 0;
        uint32_t deleted = 0;
        int r;

        if (selectors == 0 || (selectors & (selectors - 1)) != 0) {
                fprintf(stderr, "vssadmin: 'delete shadows' needs exactly one of --shadow ID, --set ID, --for VOLUME "
                                "or --all\n");
                return EXIT_USAGE;
        }
        if ((arg_given & OPT_KEEP) && (selectors != OPT_FOR || (arg_given & OPT_OLDEST))) {
                fprintf(stderr, "vssadmin: --keep goes with --for VOLUME alone (not --shadow, --set, --all or "
                                "--oldest)\n");
                return EXIT_USAGE;
        }
        if (selectors == OPT_SHADOW) {
                what = "shadow";
                if (!parse_id_option("--shadow", "a shadow copy", arg_shadow, &id))
                        return EXIT_USAGE;
        } else if (selectors == OPT_SET) {
                what = "set";
                if (!parse_id_option("--set", "a snapshot set", arg_set, &id))
                        return EXIT_USAGE;
        } else if (selectors == OPT_FOR) {
                what = "for";
                if (!*arg_for) {
                        fprintf(stderr, "vssadmin: --for needs a volume\n");
                        return EXIT_USAGE;
                }
                /* lvssd keeps canonical paths; a volume that is gone is matched as given. */
                canonical = realpath(arg_for, NULL);
                if (!canonical && arg_for[0] != '/') {
                        fprintf(stderr, "vssadmin: cannot resolve volume %s: %s\n", arg_for, strerror(errno));
                        return EXIT_FAILURE;
                }
                volume = canonical ? canonical : arg_for;
        } else
                what = "all";

        if (admin_connect(&a) < 0)
                return EXIT_FAILURE;

        /* What will go: for the question, and to tell afterwards whether all of it went. */
        if (fetch_shadows(&a, NULL, &l) < 0)
                return EXIT_FAILURE;
        for (size_t i = 0; i < l.n; i++) {
                const shadow_info *s = &l.s[i];
                bool match = selectors == OPT_SHADOW ? vss_id_equal(&id, &s->snapshot_id)
                             : selectors == OPT_SET  ? vss_id_equal(&id, &s->set_id)
                             : selectors == OPT_FOR  ? streq_ptr(volume, s->volume)
                                                     : true;
                if (match && (arg_given & OPT_KEEP))
                        match = s->persistent && streq_ptr(s->state, "created");
                if (match)
                        expected++;
        }
        if ((arg_given & OPT_OLDEST) && expected > 1)
                expected = 1;
        if (arg_given & OPT_KEEP) /* issue 12 §2: all but the newest N */
                expected = expected > arg_keep ? expected - arg_keep : 0;

        if (expected > 0 && !(arg_given & OPT_QUIET) && isatty(STDIN_FILENO) && !confirm(expected)) {
                fprintf(stderr, "vssadmin: nothing deleted\n");
                return EXIT_FAILURE;
        }

        if (arg_given & OPT_KEEP) {
                r = admin_new_call(&a, "DeleteShadowsKeep", &m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "su", volume, (uint32_t) arg_keep);
                if (r < 0)
                        fprintf(stderr, "vssadmin: cannot build the DeleteShadowsKeep call: %s\n", strerror(-r));
                else
                        r = admin_call(&a, "DeleteShadowsKeep", m, &reply);
        } else
                r = admin_new_call(&a, "DeleteShadows", &m);
        if (r >= 0 && !(arg_given & OPT_KEEP)) {
                r = sd_bus_message_append(m, "s", what);
                if (r >= 0)
                        r = lvss_bus_append_id(m, &id);
                if (r >= 0)
                        r = sd_bus_message_append(m, "sb", volume, (int) !!(arg_given & OPT_OLDEST));
                if (r < 0)
                        fprintf(stderr, "vssadmin: cannot build the DeleteShadows call: %s\n", strerror(-r));
        }
        if (r >= 0 && !(arg_given & OPT_KEEP))
                r = admin_call(&a, "DeleteShadows", m, &reply);
        if (r >= 0) {
                r = sd_bus_message_read(reply, "u", &deleted);
                if (r < 0)
                        fprintf(stderr, "vssadmin: lvssd sent a malformed answer: %s\n", strerror(-r));
        }
        if (r < 0)
                return EXIT_FAILURE;

        if (arg_json) {
                json_writer j;

                json_init(&j, stdout);
                json_begin_object(&j);
                json_key(&j, "deleted");
                json_uint(&j, deleted);
                json_key(&j, "matched");
                json_uint(&j, expected);
                json_end_object(&j);
                json_finish(&j);
        } else
                printf("Successfully deleted %" PRIu32 " shadow cop%s.\n", deleted, deleted == 1 ? "y" : "ies");

        if (deleted < expected) {
                fprintf(stderr, "vssadmin: %zu of the %zu matching shadow copies were not deleted: they belong to a "
                                "session that is still running, or their provider failed (see lvssd's log)\n",
                        expected - deleted, expected);
                (void) finish_output();
                return EXIT_FAILURE;
        }
        return finish_output();
}

/* ---- shadow storage (issue 12 §2) ---------------------------------------------- */

/* The volume of --for, canonical when it exists (lvssd keeps canonical paths); NULL after saying why. */
static char *for_volume(void) {
        char *canonical;

        if (!arg_for || !*arg_for) {
                fprintf(stderr, "vssadmin: --for needs a volume\n");
                return NULL;
        }
        canonical = realpath(arg_for, NULL);
        if (!canonical && arg_for[0] != '/') {
                fprintf(stderr, "vssadmin: cannot resolve volume %s: %s\n", arg_for, strerror(errno));
                return NULL;
        }
        return canonical ? canonical : strdup(arg_for);
}

static void print_bytes(uint64_t b) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) b;
        size_t u = 0;

        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                printf("%" PRIu64 " B", b);
        else
                printf("%.1f %s (%" PRIu64 " bytes)", v, units[u], b);
}

static int list_shadow_storage(void) {
        _cleanup_(admin_done) admin a = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(freep) char *volume = NULL;
        json_writer j;
        size_t n = 0;
        int r;

        if ((arg_given & OPT_FOR) && !(volume = for_volume()))
                return EXIT_USAGE;
        if (admin_connect(&a) < 0)
                return EXIT_FAILURE;
        r = admin_new_call(&a, "ListShadowStorage", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", strempty(volume));
        if (r < 0) {
                fprintf(stderr, "vssadmin: cannot build the ListShadowStorage call: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (admin_call(&a, "ListShadowStorage", m, &reply) < 0)
                return EXIT_FAILURE;
        r = sd_bus_message_enter_container(reply, 'a', "(stttu)");
        if (r < 0)
                goto bad;
        if (arg_json) {
                json_init(&j, stdout);
                json_begin_object(&j);
                json_key(&j, "shadow_storage");
                json_begin_array(&j);
        } else
                printf("%s\n\n", BANNER);
        for (;;) {
                const char *vol;
                uint64_t used, allocated, max;
                uint32_t pct;

                r = sd_bus_message_read(reply, "(stttu)", &vol, &used, &allocated, &max, &pct);
                if (r < 0)
                        goto bad;
                if (r == 0)
                        break;
                n++;
                if (arg_json) {
                        json_begin_object(&j);
                        json_key(&j, "volume");
                        json_string(&j, vol);
                        json_key(&j, "used_bytes");
                        if (used == UINT64_MAX)
                                json_null(&j);
                        else
                                json_uint(&j, used);
                        json_key(&j, "allocated_bytes");
                        if (allocated == UINT64_MAX)
                                json_null(&j);
                        else
                                json_uint(&j, allocated);
                        json_key(&j, "maximum_bytes");
                        if (max == 0)
                                json_null(&j); /* UNBOUNDED */
                        else
                                json_uint(&j, max);
                        json_key(&j, "maximum_percent");
                        if (pct == 0)
                                json_null(&j);
                        else
                                json_uint(&j, pct);
                        json_end_object(&j);
                        continue;
                }
                if (n > 1)
                        putchar('\n');
                fputs("Shadow Copy Storage association\n   For volume: ", stdout);
                fputs_sanitized(vol, stdout);
                fputs("\n   Used Shadow Copy Storage space: ", stdout);
                if (used == UINT64_MAX)
                        fputs("(could not be added up: see lvssd's log)", stdout);
                else
                        print_bytes(used);
                fputs("\n   Allocated Shadow Copy Storage space: ", stdout);
                if (allocated == UINT64_MAX)
                        fputs("(could not be added up)", stdout);
                else
                        print_bytes(allocated);
                fputs("\n   Maximum Shadow Copy Storage space: ", stdout);
                if (max == 0)
                        fputs("UNBOUNDED", stdout);
                else
                        print_bytes(max);
                if (pct > 0)
                        printf(" %" PRIu32 "%%", pct);
                putchar('\n');
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                goto bad;
        if (arg_json) {
                json_end_array(&j);
                json_end_object(&j);
                json_finish(&j);
        } else if (n == 0)
                printf("No shadow copy storage associations were found.\n");
        return finish_output();
bad:
        fprintf(stderr, "vssadmin: lvssd sent a malformed answer: %s\n", strerror(-r));
        return EXIT_FAILURE;
}

static int resize_shadow_storage(void) {
        _cleanup_(admin_done) admin a = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(freep) char *volume = NULL;
        int r;

        if (!(arg_given & OPT_FOR) || !(arg_given & OPT_MAXSIZE)) {
                fprintf(stderr, "vssadmin: 'resize shadowstorage' needs --for VOLUME and --maxsize "
                                "SIZE|N%%|UNBOUNDED\n");
                return EXIT_USAGE;
        }
        volume = for_volume();
        if (!volume)
                return EXIT_USAGE;
        if (admin_connect(&a) < 0)
                return EXIT_FAILURE;
        r = admin_new_call(&a, "ResizeShadowStorage", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", volume, arg_maxsize);
        if (r < 0) {
                fprintf(stderr, "vssadmin: cannot build the ResizeShadowStorage call: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (admin_call(&a, "ResizeShadowStorage", m, &reply) < 0)
                return EXIT_FAILURE;
        if (!arg_json)
                printf("Successfully resized the shadow copy storage association for '%s' to %s.\n", volume,
                       arg_maxsize);
        return finish_output();
}

/* ---- commands ------------------------------------------------------------------ */

static bool no_more_words(int argc, char *argv[], int first) {
        if (first < argc) {
                fprintf(stderr, "vssadmin: unexpected argument '%s'\n", argv[first]);
                return false;
        }
        return true;
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
                        fprintf(stderr, "vssadmin: 'list' needs what to list: writers, providers, shadows or "
                                        "shadowstorage\n");
                        return EXIT_USAGE;
                }
                if (strcmp(noun, "writers") == 0) {
                        if (!no_more_words(argc, argv, optind + 2) || !options_allowed("list writers", 0))
                                return EXIT_USAGE;
                        return list_writers();
                }
                if (strcmp(noun, "providers") == 0) {
                        if (!no_more_words(argc, argv, optind + 2) || !options_allowed("list providers", 0))
                                return EXIT_USAGE;
                        return list_providers();
                }
                if (strcmp(noun, "shadows") == 0) {
                        if (!no_more_words(argc, argv, optind + 2) || !options_allowed("list shadows", OPT_SET))
                                return EXIT_USAGE;
                        return list_shadows();
                }
                if (strcmp(noun, "shadowstorage") == 0) {
                        if (!no_more_words(argc, argv, optind + 2) || !options_allowed("list shadowstorage", OPT_FOR))
                                return EXIT_USAGE;
                        return list_shadow_storage();
                }
                fprintf(stderr, "vssadmin: unknown list '%s' (writers, providers, shadows or shadowstorage)\n", noun);
                return EXIT_USAGE;
        }
        if (strcmp(verb, "create") == 0 && noun && strcmp(noun, "shadow") == 0) {
                if (!no_more_words(argc, argv, optind + 2) ||
                    !options_allowed("create shadow", OPT_FOR | OPT_PROVIDER))
                        return EXIT_USAGE;
                return create_shadow();
        }
        if (strcmp(verb, "delete") == 0 && noun && strcmp(noun, "shadows") == 0) {
                if (!no_more_words(argc, argv, optind + 2) ||
                    !options_allowed("delete shadows",
                                     OPT_SHADOW | OPT_SET | OPT_FOR | OPT_ALL | OPT_OLDEST | OPT_QUIET | OPT_KEEP))
                        return EXIT_USAGE;
                return delete_shadows();
        }

        if (strcmp(verb, "resize") == 0 && noun && strcmp(noun, "shadowstorage") == 0) {
                if (!no_more_words(argc, argv, optind + 2) ||
                    !options_allowed("resize shadowstorage", OPT_FOR | OPT_MAXSIZE))
                        return EXIT_USAGE;
                return resize_shadow_storage();
        }
        fprintf(stderr, "vssadmin: unknown command '%s%s%s' (see --help)\n", verb, noun ? " " : "", strempty(noun));
        return EXIT_USAGE;
}

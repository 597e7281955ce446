/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Configuration: command-line options override the file
 * (/etc/lvss/lvssd.conf or --config), which overrides the defaults
 * (cli.md). The file is INI-like: "Key=Value" lines, '#' or ';' comments,
 * an optional [Coordinator] section header; unknown keys are reported and
 * ignored, malformed values are errors.
 */

#include <getopt.h>
#include <grp.h>
#include <time.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/strv.h"
#include "config.h"
#include "basic/util.h"
#include "lvssd-config.h"
#include "protocol/protocol.h"

#define DEFAULT_CONFIG_FILE "/etc/lvss/lvssd.conf"

/* Values given on the command line, so the file does not override them. */
static struct {
        bool identify, event, hold;
        bool freeze_margin; /* issue 8 item 3 */
        /* issue 8 item 5 */
        bool set_idle, max_sessions;
        /* issue 8, writer_owners bounded */
        bool max_writer_classes;
        /* connection limits */
        bool max_conn, max_conn_user, idle, max_unsent, unsent;
        bool log_target; /* issue 12 §3 */
} from_argv;

static void help(void) {
        printf("Usage: lvssd [OPTIONS]\n"
               "\n"
               "The lvss coordinator: keeps the writers, runs backup sequences for requesters,\n"
               "keeps writer status per session, and calls snapshot providers.\n"
               "\n"
               "  --socket PATH           listen on PATH (default: $LVSS_SOCKET, /run/lvss/lvssd.sock\n"
               "                          for root, $XDG_RUNTIME_DIR/lvss/lvssd.sock otherwise)\n"
               "  --state-dir DIR         catalog and shadow storage (default /var/lib/lvss for root,\n"
               "                          $XDG_STATE_HOME/lvss otherwise)\n"
               "  --config FILE           configuration file (default " DEFAULT_CONFIG_FILE ")\n"
               "  --foreground            stay in the foreground (lvssd always does; for scripts)\n"
               "  --identify-timeout MS   Identify deadline (default 10000)\n"
               "  --event-timeout MS      deadline of every other event but Freeze (default 60000)\n"
               "  --hold-window MS        bound of the provider's flush and commit (default 10000)\n"
               "  --freeze-margin MS      the commit ends this long before a frozen writer's own\n"
               "                          freeze timeout (at most a quarter of it; default 1000)\n"
               "  --writer-owner CLASS-ID:USER\n"
               "                          only USER (a name or a uid) may subscribe writers of\n"
               "                          class CLASS-ID (repeatable; adds to WriterOwner=)\n"
               "  --set-idle-timeout MS   abort a session that holds the snapshot set in creation\n"
               "                          and makes no call for this long (default 300000)\n"
               "  --max-sessions-per-user N\n"
               "                          sessions one uid may have open, root exempt (default 64)\n"
               "  --max-writer-classes-per-user N\n"
               "                          writer classes the catalog binds to one uid, root and\n"
               "                          lvssd's own uid exempt (default 64)\n"
               "  --max-connections N     connections of all peers together (default 4096; the last\n"
               "                          quarter only for root and the requester group)\n"
               "  --max-connections-per-user N\n"
               "                          connections of one uid outside the requester group (default 128)\n"
               "  --idle-timeout MS       close a connection without a role that has nothing going on\n"
               "                          for this long (default 5000)\n"
               "  --max-unsent-messages N stop reading from a peer with more messages waiting for it\n"
               "                          (default 64)\n"
               "  --unsent-timeout MS     close a peer that stays above that bound this long (default 30000)\n"
               "  --log-target auto|journal|stderr\n"
               "                          where log lines go: the journal with LVSS_* fields, or stderr;\n"
               "                          auto (default): the journal when stderr is connected to it\n"
               "  -h, --help              show this help\n"
               "  --version               show the version\n");
}

static int parse_ms(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v == 0 || v > 24ULL * 3600 * 1000 || s[0] == '-')
                return -EINVAL;
        *ret = v * USEC_PER_MSEC;
        return 0;
}

/* ---- WriterOwner= (issue 8 item 4) ---------------------------------------- */

/* "CLASS-ID:USER": a writer class id ({…} or bare) and a user name or a numeric uid. */
static int parse_writer_owner(Config *c, const char *v, const char *where) {
        _cleanup_(freep) char *copy = strdup(v);
        WriterOwnerRule rule = {}, *a;
        char *colon, *user, *end;

        if (!copy)
                return -ENOMEM;
        colon = strrchr(copy, ':');
        if (!colon) {
                fprintf(stderr, "lvssd: %s: WriterOwner needs CLASS-ID:USER, got %s\n", where, v);
                return -EINVAL;
        }
        *colon = 0;
        user = colon + 1;
        if (vss_id_parse(copy, &rule.writer_id) != VSS_S_OK || vss_id_is_null(&rule.writer_id)) {
                fprintf(stderr, "lvssd: %s: WriterOwner: not a writer class id: %s\n", where, copy);
                return -EINVAL;
        }
        struct passwd *pw = *user ? getpwnam(user) : NULL;
        if (pw)
                rule.uid = pw->pw_uid;
        else {
                unsigned long u;
                errno = 0;
                u = strtoul(user, &end, 10);
                if (!*user || errno || *end || user[0] == '-' || u >= (unsigned long) (uid_t) -1) {
                        fprintf(stderr, "lvssd: %s: WriterOwner: no such user: %s\n", where, user);
                        return -EINVAL;
                }
                rule.uid = (uid_t) u;
        }
        for (size_t i = 0; i < c->n_writer_owners; i++)
                if (vss_id_equal(&c->writer_owners[i].writer_id, &rule.writer_id)) {
                        fprintf(stderr, "lvssd: %s: WriterOwner: class %s has an owner already\n", where, copy);
                        return -EINVAL;
                }
        a = reallocarray(c->writer_owners, c->n_writer_owners + 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        c->writer_owners = a;
        c->writer_owners[c->n_writer_owners++] = rule;
        return 0;
}

bool config_writer_owner(const Config *c, const vss_id *writer_id, uid_t *ret_uid) {
        for (size_t i = 0; i < c->n_writer_owners; i++)
                if (vss_id_equal(&c->writer_owners[i].writer_id, writer_id)) {
                        *ret_uid = c->writer_owners[i].uid;
                        return true;
                }
        return false;
}

/* A count from 1 to 1000000. */
/* A count limit: 1 ... 1000000. */
static int parse_count(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v == 0 || v > 1000000 || s[0] == '-')
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int set_string(char **dst, const char *v) {
        char *n = strdup(v);
        if (!n)
                return -ENOMEM;
        free(*dst);
        *dst = n;
        return 0;
}

/* LogTarget= / --log-target: auto, journal or stderr (main.c's log_setup() reads it). */
static int set_log_target(Config *c, const char *v, const char *where) {
        if (!streq_ptr(v, "auto") && !streq_ptr(v, "journal") && !streq_ptr(v, "stderr")) {
                fprintf(stderr, "lvssd: %s: LogTarget must be auto, journal or stderr, not %s\n", where, v);
                return -EINVAL;
        }
        return set_string(&c->log_target, v);
}

int config_parse_argv(Config *c, int argc, char **argv) {
        enum { ARG_SOCKET = 0x100, ARG_STATE_DIR, ARG_CONFIG, ARG_FOREGROUND, ARG_IDENTIFY, ARG_EVENT, ARG_HOLD,
               ARG_VERSION, ARG_FREEZE_MARGIN, ARG_WRITER_OWNER, ARG_SET_IDLE, ARG_MAX_SESSIONS,
               ARG_MAX_WRITER_CLASSES,
               /* connection limits */
               ARG_MAX_CONN, ARG_MAX_CONN_USER, ARG_IDLE, ARG_MAX_UNSENT, ARG_UNSENT,
               ARG_LOG_TARGET };
        static const struct option options[] = {
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "foreground", no_argument, NULL, ARG_FOREGROUND },
                { "identify-timeout", required_argument, NULL, ARG_IDENTIFY },
                { "event-timeout", required_argument, NULL, ARG_EVENT },
                { "hold-window", required_argument, NULL, ARG_HOLD },
                { "freeze-margin", required_argument, NULL, ARG_FREEZE_MARGIN },
                { "writer-owner", required_argument, NULL, ARG_WRITER_OWNER },
                { "set-idle-timeout", required_argument, NULL, ARG_SET_IDLE },
                { "max-sessions-per-user", required_argument, NULL, ARG_MAX_SESSIONS },
                { "max-writer-classes-per-user", required_argument, NULL, ARG_MAX_WRITER_CLASSES },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                /* connection limits */
                { "max-connections", required_argument, NULL, ARG_MAX_CONN },
                { "max-connections-per-user", required_argument, NULL, ARG_MAX_CONN_USER },
                { "idle-timeout", required_argument, NULL, ARG_IDLE },
                { "max-unsent-messages", required_argument, NULL, ARG_MAX_UNSENT },
                { "unsent-timeout", required_argument, NULL, ARG_UNSENT },
                { "log-target", required_argument, NULL, ARG_LOG_TARGET },
                {},
        };
        int o, r;

        while ((o = getopt_long(argc, argv, "hf", options, NULL)) >= 0) {
                switch (o) {
                case ARG_SOCKET:
                        if (optarg[0] != '/') {
                                fprintf(stderr, "lvssd: --socket needs an absolute path\n");
                                return -EINVAL;
                        }
                        r = set_string(&c->socket_path, optarg);
                        break;
                case ARG_STATE_DIR:
                        r = set_string(&c->state_dir, optarg);
                        break;
                case ARG_CONFIG:
                        r = set_string(&c->config_file, optarg);
                        break;
                case ARG_FOREGROUND:
                case 'f':
                        c->foreground = true;
                        r = 0;
                        break;
                case ARG_IDENTIFY:
                case ARG_EVENT:
                case ARG_HOLD: {
                        uint64_t *dst = o == ARG_IDENTIFY ? &c->identify_timeout_usec
                                        : o == ARG_EVENT  ? &c->event_timeout_usec
                                                          : &c->hold_window_usec;
                        r = parse_ms(optarg, dst);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: invalid duration in milliseconds: %s\n", optarg);
                                return r;
                        }
                        if (o == ARG_IDENTIFY)
                                from_argv.identify = true;
                        else if (o == ARG_EVENT)
                                from_argv.event = true;
                        else
                                from_argv.hold = true;
                        break;
                }
                case ARG_FREEZE_MARGIN:
                        r = parse_ms(optarg, &c->freeze_margin_usec);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: --freeze-margin: invalid duration in milliseconds: %s\n",
                                        optarg);
                                return r;
                        }
                        from_argv.freeze_margin = true;
                        break;
                case ARG_WRITER_OWNER:
                        r = parse_writer_owner(c, optarg, "--writer-owner");
                        break;
                /* issue 8 item 5 */
                case ARG_SET_IDLE:
                        r = parse_ms(optarg, &c->set_idle_timeout_usec);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: invalid duration in milliseconds: %s\n", optarg);
                                return r;
                        }
                        from_argv.set_idle = true;
                        break;
                case ARG_MAX_SESSIONS:
                        r = parse_count(optarg, &c->max_sessions_per_user);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: invalid count (1 to 1000000): %s\n", optarg);
                                return r;
                        }
                        from_argv.max_sessions = true;
                        break;
                /* issue 8: the writer_owners table is bounded */
                case ARG_MAX_WRITER_CLASSES:
                        r = parse_count(optarg, &c->max_writer_classes_per_user);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: invalid count (1 to 1000000): %s\n", optarg);
                                return r;
                        }
                        from_argv.max_writer_classes = true;
                        break;
                /* connection limits */
                case ARG_MAX_CONN:
                case ARG_MAX_CONN_USER:
                case ARG_MAX_UNSENT: {
                        unsigned *dst = o == ARG_MAX_CONN        ? &c->max_connections
                                        : o == ARG_MAX_CONN_USER ? &c->max_connections_per_user
                                                                 : &c->max_unsent_messages;
                        r = parse_count(optarg, dst);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: invalid count (1 to 1000000): %s\n", optarg);
                                return r;
                        }
                        if (o == ARG_MAX_CONN)
                                from_argv.max_conn = true;
                        else if (o == ARG_MAX_CONN_USER)
                                from_argv.max_conn_user = true;
                        else
                                from_argv.max_unsent = true;
                        break;
                }
                case ARG_IDLE:
                case ARG_UNSENT:
                        r = parse_ms(optarg, o == ARG_IDLE ? &c->idle_timeout_usec : &c->unsent_timeout_usec);
                        if (r < 0) {
                                fprintf(stderr, "lvssd: invalid duration in milliseconds: %s\n", optarg);
                                return r;
                        }
                        if (o == ARG_IDLE)
                                from_argv.idle = true;
                        else
                                from_argv.unsent = true;
                        break;
                case ARG_LOG_TARGET: /* issue 12 §3 */
                        r = set_log_target(c, optarg, "--log-target");
                        from_argv.log_target = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("lvssd %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'lvssd --help'.\n");
                        return -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc) {
                fprintf(stderr, "lvssd: unexpected argument: %s\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static char *strip(char *s) {
        char *e;
        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                *--e = 0;
        return s;
}

/* Adds the words of @v (space, tab or comma separated) to *@list: a repeated
 * list key adds to the list, as systemd's list settings do. */
static int split_words(const char *v, char ***list) {
        _cleanup_(freep) char *copy = strdup(v);
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                r = strv_push(list, w);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- [Volume PATH] sections (issue 12 §2) ----------------------------------- */

/* "[Volume /srv/data]": the policy of that volume, made on first sight. NULL
 * for another section ([Coordinator]). -EINVAL for a malformed header. */
static int volume_section(Config *c, const char *header, VolumePolicy **ret) {
        size_t len = strlen(header);
        _cleanup_(freep) char *path = NULL;
        VolumePolicy *a;

        *ret = NULL;
        if (len < 2 || header[len - 1] != ']')
                return -EINVAL;
        if (strncmp(header, "[Volume", 7) != 0)
                return 0;
        path = strndup(header + 7, len - 8);
        if (!path)
                return -ENOMEM;
        {
                char *p = path, *e;
                while (*p == ' ' || *p == '\t')
                        p++;
                e = p + strlen(p);
                while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
                        *--e = 0;
                if (p[0] != '/' || path == p)
                        return -EINVAL; /* "[Volume/x]" or no absolute path */
                memmove(path, p, strlen(p) + 1);
        }
        for (size_t i = 0; i < c->n_volumes; i++)
                if (streq_ptr(c->volumes[i].volume, path)) {
                        *ret = &c->volumes[i];
                        return 1;
                }
        a = reallocarray(c->volumes, c->n_volumes + 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        c->volumes = a;
        c->volumes[c->n_volumes] = (VolumePolicy) { .volume = TAKE_PTR(path) };
        *ret = &c->volumes[c->n_volumes++];
        return 1;
}

/* One key of a [Volume PATH] section. */
static int volume_key(VolumePolicy *v, const char *k, const char *val, const char *path, unsigned lineno) {
        static const struct {
                const char *key;
                size_t offset;
        } keeps[] = {
                { "KeepNewest", offsetof(lvss_retention_rules, keep_newest) },
                { "KeepHourly", offsetof(lvss_retention_rules, keep_hourly) },
                { "KeepDaily", offsetof(lvss_retention_rules, keep_daily) },
                { "KeepWeekly", offsetof(lvss_retention_rules, keep_weekly) },
                { "KeepMonthly", offsetof(lvss_retention_rules, keep_monthly) },
                { "KeepYearly", offsetof(lvss_retention_rules, keep_yearly) },
        };

        if (streq_ptr(k, "MaxSize")) {
                if (lvss_parse_size(val, &v->max_bytes, &v->max_percent) < 0) {
                        fprintf(stderr, "lvssd: %s:%u: [Volume %s] MaxSize: expected bytes (K, M, G, T), N%% or "
                                "UNBOUNDED, got %s\n", path, lineno, v->volume, val);
                        return -EINVAL;
                }
                return 0;
        }
        if (streq_ptr(k, "MaxAge")) {
                if (lvss_parse_duration_sec(val, &v->rules.max_age_sec) < 0) {
                        fprintf(stderr, "lvssd: %s:%u: [Volume %s] MaxAge: expected a duration (90d, 12h, 2w), "
                                "got %s\n", path, lineno, v->volume, val);
                        return -EINVAL;
                }
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(keeps); i++)
                if (streq_ptr(k, keeps[i].key)) {
                        if (lvss_parse_keep(val, (unsigned *) ((uint8_t *) &v->rules + keeps[i].offset)) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: [Volume %s] %s: expected a count from 0 to 100000, "
                                        "got %s\n", path, lineno, v->volume, k, val);
                                return -EINVAL;
                        }
                        return 0;
                }
        fprintf(stderr, "lvssd: %s:%u: unknown key %s in [Volume %s], ignored\n", path, lineno, k, v->volume);
        return 0;
}

/* No file system access: it is asked on lvssd's loop (after each new copy). */
const VolumePolicy *config_volume_policy(const Config *c, const char *volume) {
        if (!volume)
                return NULL;
        for (size_t i = 0; i < c->n_volumes; i++)
                if (streq_ptr(c->volumes[i].volume, volume) || streq_ptr(c->volumes[i].canonical, volume))
                        return &c->volumes[i];
        return NULL;
}

int config_load_file(Config *c) {
        const char *path = c->config_file ? c->config_file : DEFAULT_CONFIG_FILE;
        _cleanup_(freep) char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        FILE *f;
        int r = 0;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT && !c->config_file)
                        return 0; /* no file: defaults */
                fprintf(stderr, "lvssd: cannot read %s: %m\n", path);
                return -errno;
        }
        VolumePolicy *volume = NULL; /* in a [Volume PATH] section (issue 12 §2) */
        while (getline(&line, &cap, f) >= 0) {
                char *s = strip(line), *eq, *k, *v;
                uint64_t usec;

                lineno++;
                if (!*s || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        r = volume_section(c, s, &volume);
                        if (r == -EINVAL)
                                fprintf(stderr, "lvssd: %s:%u: expected [Coordinator] or [Volume /ABSOLUTE/PATH]\n",
                                        path, lineno);
                        if (r < 0)
                                break;
                        r = 0;
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq) {
                        fprintf(stderr, "lvssd: %s:%u: expected Key=Value\n", path, lineno);
                        r = -EINVAL;
                        break;
                }
                *eq = 0;
                k = strip(s);
                v = strip(eq + 1);
                if (volume) {
                        r = volume_key(volume, k, v, path, lineno);
                        if (r < 0)
                                break;
                        continue;
                }
                if (streq_ptr(k, "FreezeMarginMS")) {
                        if (parse_ms(v, &usec) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid duration: %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (!from_argv.freeze_margin)
                                c->freeze_margin_usec = usec;
                } else if (streq_ptr(k, "IdentifyTimeoutMS") || streq_ptr(k, "EventTimeoutMS") ||
                           streq_ptr(k, "HoldWindowMS")) {
                        if (parse_ms(v, &usec) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid duration: %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (streq_ptr(k, "IdentifyTimeoutMS") && !from_argv.identify)
                                c->identify_timeout_usec = usec;
                        else if (streq_ptr(k, "EventTimeoutMS") && !from_argv.event)
                                c->event_timeout_usec = usec;
                        else if (streq_ptr(k, "HoldWindowMS") && !from_argv.hold)
                                c->hold_window_usec = usec;
                } else if (streq_ptr(k, "ProviderStepTimeoutMS")) { /* issue 11 §1: a provider step's worker */
                        if (parse_ms(v, &usec) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid duration: %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        c->provider_step_timeout_usec = usec;
                } else if (streq_ptr(k, "ExternalHoldLimitMS")) { /* issue 10 part 2 */
                        if (parse_ms(v, &usec) < 0 || usec == 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid duration: %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        c->external_hold_limit_usec = usec;
                } else if (streq_ptr(k, "SnapshotSetIdleTimeoutMS")) { /* issue 8 item 5 */
                        if (parse_ms(v, &usec) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid duration: %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (!from_argv.set_idle)
                                c->set_idle_timeout_usec = usec;
                } else if (streq_ptr(k, "MaxSessionsPerUser")) {
                        unsigned n;
                        if (parse_count(v, &n) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid count (1 to 1000000): %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (!from_argv.max_sessions)
                                c->max_sessions_per_user = n;
                } else if (streq_ptr(k, "MaxWriterClassesPerUser")) { /* issue 8: writer_owners bounded */
                        unsigned n;
                        if (parse_count(v, &n) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid count (1 to 1000000): %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (!from_argv.max_writer_classes)
                                c->max_writer_classes_per_user = n;
                } else if (streq_ptr(k, "MaxConnections") || streq_ptr(k, "MaxConnectionsPerUser") ||
                           streq_ptr(k, "MaxUnsentMessages")) {
                        /* connection limits */
                        unsigned count;
                        if (parse_count(v, &count) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid count (1 to 1000000): %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (streq_ptr(k, "MaxConnections") && !from_argv.max_conn)
                                c->max_connections = count;
                        else if (streq_ptr(k, "MaxConnectionsPerUser") && !from_argv.max_conn_user)
                                c->max_connections_per_user = count;
                        else if (streq_ptr(k, "MaxUnsentMessages") && !from_argv.max_unsent)
                                c->max_unsent_messages = count;
                } else if (streq_ptr(k, "IdleTimeoutMS") || streq_ptr(k, "UnsentTimeoutMS")) {
                        if (parse_ms(v, &usec) < 0) {
                                fprintf(stderr, "lvssd: %s:%u: invalid duration: %s\n", path, lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        if (streq_ptr(k, "IdleTimeoutMS") && !from_argv.idle)
                                c->idle_timeout_usec = usec;
                        else if (streq_ptr(k, "UnsentTimeoutMS") && !from_argv.unsent)
                                c->unsent_timeout_usec = usec;
                } else if (streq_ptr(k, "RequesterGroup"))
                        r = set_string(&c->requester_group, v);
                else if (streq_ptr(k, "WriterUsers"))
                        r = split_words(v, &c->writer_users);
                else if (streq_ptr(k, "ExecProvider"))
                        r = strv_push(&c->exec_providers, v);
                else if (streq_ptr(k, "FreezeFilesystems")) /* issue 10 part 3: exec provider names */
                        r = split_words(v, &c->freeze_providers);
                else if (streq_ptr(k, "WriterOwner")) {
                        char where[PATH_MAX + 32];
                        snprintf(where, sizeof where, "%s:%u", path, lineno);
                        r = parse_writer_owner(c, v, where);
                } else if (streq_ptr(k, "DefaultProvider"))
                        r = set_string(&c->default_provider, v);
                else if (streq_ptr(k, "LogTarget")) { /* issue 12 §3 */
                        char where[PATH_MAX + 32];
                        snprintf(where, sizeof where, "%s:%u", path, lineno);
                        if (!from_argv.log_target)
                                r = set_log_target(c, v, where);
                } else if (streq_ptr(k, "MetricsFile")) { /* issue 12 §3; empty: no metrics */
                        if (*v && v[0] != '/') {
                                fprintf(stderr, "lvssd: %s:%u: MetricsFile must be an absolute path: %s\n", path,
                                        lineno, v);
                                r = -EINVAL;
                                break;
                        }
                        free(c->metrics_file);
                        c->metrics_file = NULL;
                        if (*v)
                                r = set_string(&c->metrics_file, v);
                } else if (streq_ptr(k, "StorageDir")) {
                        if (v[0] != '/') {
                                fprintf(stderr, "lvssd: %s:%u: StorageDir must be absolute\n", path, lineno);
                                r = -EINVAL;
                                break;
                        }
                        if (!c->storage_dir)
                                r = set_string(&c->storage_dir, v);
                } else
                        fprintf(stderr, "lvssd: %s:%u: unknown key %s, ignored\n", path, lineno, k);
                if (r < 0)
                        break;
        }
        fclose(f);
        return r;
}

int config_finish(Config *c) {
        int r;

        if (!c->socket_path) {
                r = lvss_socket_path(&c->socket_path);
                if (r < 0) {
                        fprintf(stderr, "lvssd: no socket path: set --socket, LVSS_SOCKET or XDG_RUNTIME_DIR\n");
                        return r;
                }
        }
        if (!c->state_dir) {
                const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
                if (geteuid() == 0)
                        r = set_string(&c->state_dir, "/var/lib/lvss");
                else if (x && *x == '/')
                        r = asprintf(&c->state_dir, "%s/lvss", x) < 0 ? -ENOMEM : 0;
                else if (home && *home == '/')
                        r = asprintf(&c->state_dir, "%s/.local/state/lvss", home) < 0 ? -ENOMEM : 0;
                else
                        r = -ENXIO;
                if (r < 0) {
                        fprintf(stderr, "lvssd: no state directory: set --state-dir\n");
                        return r;
                }
        }
        if (!c->storage_dir && asprintf(&c->storage_dir, "%s/shadows", c->state_dir) < 0)
                return -ENOMEM;
        /* issue 12 §2: the [Volume] paths as the catalog and the providers name volumes */
        for (size_t i = 0; i < c->n_volumes; i++)
                if (!c->volumes[i].canonical)
                        c->volumes[i].canonical = realpath(c->volumes[i].volume, NULL);
        if (!c->requester_group && set_string(&c->requester_group, "backup") < 0)
                return -ENOMEM;
        if (!c->identify_timeout_usec)
                c->identify_timeout_usec = 10 * USEC_PER_SEC;
        if (!c->event_timeout_usec)
                c->event_timeout_usec = 60 * USEC_PER_SEC;
        if (!c->hold_window_usec)
                c->hold_window_usec = 10 * USEC_PER_SEC;
        if (!c->freeze_margin_usec)
                c->freeze_margin_usec = 1 * USEC_PER_SEC;
        if (!c->provider_step_timeout_usec)
                c->provider_step_timeout_usec = 600 * USEC_PER_SEC;
        if (!c->external_hold_limit_usec)
                c->external_hold_limit_usec = 60 * USEC_PER_SEC;
        /* issue 8 item 5 */
        if (!c->set_idle_timeout_usec)
                c->set_idle_timeout_usec = 300 * USEC_PER_SEC;
        if (!c->max_sessions_per_user)
                c->max_sessions_per_user = 64;
        /* issue 8: writer_owners bounded */
        if (!c->max_writer_classes_per_user)
                c->max_writer_classes_per_user = 64;
        /* connection limits */
        if (!c->max_connections)
                c->max_connections = 4096;
        if (!c->max_connections_per_user)
                c->max_connections_per_user = 128;
        if (!c->idle_timeout_usec)
                c->idle_timeout_usec = 5 * USEC_PER_SEC;
        if (!c->max_unsent_messages)
                c->max_unsent_messages = 64;
        if (!c->unsent_timeout_usec)
                c->unsent_timeout_usec = 30 * USEC_PER_SEC;
        return 0;
}

/*
 * Issue 11 §1: the name service (getgrnam/getpwnam: with sssd or LDAP a
 * network round trip) is asked once, here, at start-up, never on lvssd's loop
 * per call. lvssd has no reload: a change of RequesterGroup='s gid or of a
 * WriterUsers= account takes effect at its next start. A name that does not
 * resolve matches nobody (said on stderr).
 *
 * Test hook: LVSS_TEST_NSS_DELAY_MS=N makes each lookup wait N ms first and
 * say so on stderr ("name service lookup"), standing in for a slow name
 * service.
 */
static void nss_test_delay(const char *what, const char *name) {
        const char *e = getenv("LVSS_TEST_NSS_DELAY_MS");
        unsigned long ms;
        char *end;

        if (!e || !*e)
                return;
        errno = 0;
        ms = strtoul(e, &end, 10);
        if (errno || *end || ms > 60000)
                return;
        fprintf(stderr, "lvssd: test hook: name service lookup of %s %s delayed %lu ms\n", what, name, ms);
        struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int config_resolve_accounts(Config *c) {
        size_t n = 0;

        c->requester_gid_known = false;
        if (c->requester_group && *c->requester_group) {
                struct group *g;

                nss_test_delay("group", c->requester_group);
                g = getgrnam(c->requester_group);
                if (g) {
                        c->requester_gid = g->gr_gid;
                        c->requester_gid_known = true;
                } else
                        fprintf(stderr, "lvssd: RequesterGroup=%s: no such group: only root and lvssd's own user "
                                "may request (a new group takes effect at lvssd's next start)\n",
                                c->requester_group);
        }

        free(c->writer_uids);
        c->writer_uids = NULL;
        c->n_writer_uids = 0;
        for (char **u = c->writer_users; u && *u; u++)
                n++;
        if (n == 0)
                return 0;
        c->writer_uids = calloc(n, sizeof *c->writer_uids);
        if (!c->writer_uids)
                return -ENOMEM;
        for (char **u = c->writer_users; u && *u; u++) {
                struct passwd *pw;

                nss_test_delay("user", *u);
                pw = getpwnam(*u);
                if (pw)
                        c->writer_uids[c->n_writer_uids++] = pw->pw_uid;
                else
                        fprintf(stderr, "lvssd: WriterUsers: no such user: %s (a new user takes effect at lvssd's "
                                "next start)\n", *u);
        }
        return 0;
}

void config_done(Config *c) {
        free(c->writer_uids);
        free(c->socket_path);
        free(c->state_dir);
        free(c->config_file);
        free(c->storage_dir);
        free(c->metrics_file);
        free(c->log_target);
        free(c->requester_group);
        strv_free(c->writer_users);
        strv_free(c->freeze_providers);
        strv_free(c->exec_providers);
        free(c->default_provider);
        free(c->writer_owners);
        for (size_t i = 0; i < c->n_volumes; i++) {
                free(c->volumes[i].volume);
                free(c->volumes[i].canonical);
        }
        free(c->volumes);
}

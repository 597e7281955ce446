/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-freeze-hook — lvss as the quiesce step of a snapshot made elsewhere
 * (issue 10 part 2; cli.md "lvss-freeze-hook").
 *
 *   lvss-freeze-hook [--socket PATH] [--volume PATH]... [--hold-limit MS] ACTION
 *
 * freeze (pre): lvssd opens an external session that outlives this process
 * and brings every writer to Frozen; exit 0 only when every writer is
 * frozen, else 1 with one line per failing writer (lvssd has thawed them
 * and aborted the session before answering). thaw (post): Thaw,
 * PostSnapshot, BackupComplete; exit 0 when every writer ends stable.
 * freezeFail: abort; exit 0 also when nothing was held.
 *
 * The caller's stdio may be /dev/null (qemu-guest-agent): every line goes
 * to syslog (the journal) too, never to a file: the filesystems may be
 * frozen. Exit 2: bad usage.
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include <lvss/types.h>

#include "basic/util.h"
#include "config.h"
#include "protocol/protocol.h"

#define HELD_OUT_LINE "held past the hold limit: thawed before thaw came"

/* One line to stderr and to syslog (the journal): the caller may read neither. */
static void say(int priority, const char *fmt, ...) _printf_(2, 3);
static void say(int priority, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("lvss-freeze-hook: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        va_start(ap, fmt);
        vsyslog(priority, fmt, ap);
        va_end(ap);
}

static void help(void) {
        printf("Usage: lvss-freeze-hook [OPTIONS] ACTION\n"
               "\n"
               "lvss as the quiesce step of a VM or cloud snapshot: called by qemu-guest-agent\n"
               "(--fsfreeze-hook), VMware Tools (backupScripts.d), Azure, GCE and AWS pre/post scripts.\n"
               "\n"
               "Actions:\n"
               "  freeze, pre     every writer to Frozen; lvssd holds them until thaw (or its hold limit)\n"
               "  thaw, post      Thaw, PostSnapshot, BackupComplete on the held session\n"
               "  freezeFail      abort the held session: every writer thawed (exit 0 also when none is held)\n"
               "\n"
               "Options:\n"
               "  -s, --socket PATH       lvssd's socket (default $LVSS_SOCKET, else /run/lvss/lvssd.sock)\n"
               "  -v, --volume PATH       record this volume in the external snapshot set (repeatable;\n"
               "                          default: /)\n"
               "  -l, --hold-limit MS     thaw the writers after MS milliseconds without thaw (lvssd's\n"
               "                          ExternalHoldLimitMS=, default 60000, wins when smaller)\n"
               "  -h, --help              show this help\n"
               "      --version           show the version\n"
               "\n"
               "Exit status: 0 done; 1 a writer failed, or lvssd refused or cannot be reached (one line\n"
               "each, also in the journal); 2 bad usage. See lvss-freeze-hook(8).\n");
}

typedef enum Action { ACTION_FREEZE, ACTION_THAW, ACTION_FREEZE_FAIL } Action;

static const char *action_word[] = { "freeze", "thaw", "freezeFail" };

/* "lvss-freeze-hook (qemu-ga)": who called us, for lvssd's provenance. */
static char *caller_name(void) {
        char path[64], comm[64] = "";
        char *ret;
        FILE *f;

        (void) snprintf(path, sizeof path, "/proc/%d/comm", (int) getppid());
        f = fopen(path, "re");
        if (f) {
                if (!fgets(comm, sizeof comm, f))
                        comm[0] = 0;
                fclose(f);
        }
        comm[strcspn(comm, "\n")] = 0;
        if (asprintf(&ret, "lvss-freeze-hook (%s)", *comm ? comm : "unknown caller") < 0)
                return NULL;
        return ret;
}

/* Reads the writers' status of an answer; one line per writer that failed, or
 * when lvssd says all went well, that is not frozen (freeze) or stable (thaw).
 * Returns how many lines. */
static int report_writers(sd_bus_message *reply, Action action, bool result_ok, bool held_out, int *ret_n) {
        int n_bad = 0, n = 0, r;

        r = sd_bus_message_enter_container(reply, 'a', "(" LVSS_STATUS_STRUCT ")");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'r', LVSS_STATUS_STRUCT)) > 0) {
                const char *name, *instance, *message;
                uint32_t state, event;
                int32_t failure, app_result;
                uint64_t when, took;
                int in_progress;
                vss_id iid, wid, sid;
                const char *what = NULL, *text = NULL;

                r = lvss_bus_read_id(reply, &iid);
                if (r >= 0)
                        r = lvss_bus_read_id(reply, &wid);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "ssuiis", &name, &instance, &state, &failure, &app_result,
                                                &message);
                if (r >= 0)
                        r = lvss_bus_read_id(reply, &sid);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "ubtt", &event, &in_progress, &when, &took);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
                if (action == ACTION_FREEZE ? state == VSS_WS_WAITING_FOR_THAW : state == VSS_WS_STABLE)
                        n++;
                if (failure != 0) {
                        what = vss_hresult_name(failure) ?: "VSS_E_UNEXPECTED";
                        text = *message ? message : vss_hresult_text(failure);
                } else if (held_out) {
                        what = "VSS_E_HOLD_WRITES_TIMEOUT";
                        text = "thawed by lvssd before thaw came";
                } else if (result_ok && action == ACTION_FREEZE && state != VSS_WS_WAITING_FOR_THAW) {
                        what = vss_writer_state_name((vss_writer_state) state) ?: "VSS_WS_UNKNOWN";
                        text = "not frozen";
                } else if (result_ok && action == ACTION_THAW && state != VSS_WS_STABLE) {
                        what = vss_writer_state_name((vss_writer_state) state) ?: "VSS_WS_UNKNOWN";
                        text = "not stable";
                }
                if (what) {
                        say(LOG_ERR, "writer '%s' (instance '%s'): %s: %s", name, instance, what, text);
                        n_bad++;
                }
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        *ret_n = n;
        return n_bad;
}

static int call(sd_bus *bus, Action action, char **volumes, uint32_t hold_ms) {
        static const char *method[] = { "ExternalFreeze", "ExternalThaw", "ExternalAbort" };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *caller = NULL;
        const char *message;
        int32_t result;
        vss_id sid;
        char sid_text[VSS_ID_STRING_MAX];
        int r, n_bad, n = 0;
        bool held_out;

        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           method[action]);
        if (r >= 0 && action == ACTION_FREEZE) {
                caller = caller_name();
                r = sd_bus_message_append_strv(m, volumes);
                if (r >= 0)
                        r = sd_bus_message_append(m, "us", hold_ms, caller ? caller : "lvss-freeze-hook");
        }
        if (r < 0) {
                say(LOG_ERR, "%s: cannot build the call: %s", action_word[action], strerror(-r));
                return 1;
        }
        r = sd_bus_call(bus, m, LVSS_LONG_CALL_USEC, &error, &reply);
        if (r < 0) {
                vss_hresult hr = lvss_bus_error_to_hresult(&error, r);
                say(LOG_ERR, "%s: %s (%s)", action_word[action], error.message ?: strerror(-r),
                    vss_hresult_name(hr) ?: "?");
                return 1;
        }
        r = lvss_bus_read_id(reply, &sid);
        if (r >= 0)
                r = sd_bus_message_read(reply, "is", &result, &message);
        if (r < 0) {
                say(LOG_ERR, "%s: cannot read lvssd's answer: %s", action_word[action], strerror(-r));
                return 1;
        }
        vss_id_format(&sid, sid_text);
        held_out = action == ACTION_THAW && result == (int32_t) VSS_E_HOLD_WRITES_TIMEOUT;
        n_bad = report_writers(reply, action, VSS_SUCCEEDED(result), held_out, &n);
        if (n_bad < 0) {
                say(LOG_ERR, "%s: cannot read lvssd's answer: %s", action_word[action], strerror(-n_bad));
                return 1;
        }

        if (action == ACTION_FREEZE_FAIL) {
                say(LOG_NOTICE, "freezeFail: session %s: %s", sid_text, message);
                return 0;
        }
        if (held_out) {
                say(LOG_ERR, "%s (session %s)", HELD_OUT_LINE, sid_text);
                return 1;
        }
        if (VSS_FAILED(result) || n_bad > 0) {
                say(LOG_ERR, "%s: session %s: %s%s%s", action_word[action], sid_text, message,
                    VSS_FAILED(result) ? ": " : "", VSS_FAILED(result) ? vss_hresult_name(result) ?: "?" : "");
                if (action == ACTION_FREEZE && VSS_SUCCEEDED(result)) {
                        /* lvssd says frozen but a writer is not: nothing stays frozen */
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *ar = NULL;
                        _cleanup_(sd_bus_error_free) sd_bus_error e2 = SD_BUS_ERROR_NULL;
                        if (sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                               "ExternalAbort", &e2, &ar, NULL) < 0)
                                say(LOG_ERR, "freeze: cannot abort: %s", e2.message ?: "?");
                }
                return 1;
        }
        say(LOG_INFO, "%s: session %s: %d writer%s %s: %s", action_word[action], sid_text, n, n == 1 ? "" : "s",
            action == ACTION_FREEZE ? "frozen" : "stable", message);
        return 0;
}

int main(int argc, char **argv) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "volume", required_argument, NULL, 'v' },
                { "hold-limit", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *own_path = NULL;
        const char *socket_path = NULL;
        _cleanup_(freep) char **volumes = NULL; /* the strings are argv's */
        size_t n_volumes = 0;
        uint32_t hold_ms = 0;
        Action action;
        int c, r, ret;

        openlog("lvss-freeze-hook", LOG_PID, LOG_DAEMON);
        while ((c = getopt_long(argc, argv, "s:v:l:h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'v': {
                        char **a;
                        if (optarg[0] != '/') {
                                say(LOG_ERR, "--volume %s: an absolute path is expected", optarg);
                                return 2;
                        }
                        a = reallocarray(volumes, n_volumes + 2, sizeof *a);
                        if (!a) {
                                say(LOG_ERR, "out of memory");
                                return 1;
                        }
                        volumes = a;
                        volumes[n_volumes++] = optarg;
                        volumes[n_volumes] = NULL;
                        break;
                }
                case 'l': {
                        char *end;
                        unsigned long v;
                        errno = 0;
                        v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-' || v == 0 || v > UINT32_MAX) {
                                say(LOG_ERR, "--hold-limit %s: a number of milliseconds (1..%u) is expected",
                                    optarg, UINT32_MAX);
                                return 2;
                        }
                        hold_ms = (uint32_t) v;
                        break;
                }
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("lvss-freeze-hook %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        say(LOG_ERR, "bad usage (see --help)");
                        return 2;
                }

        if (optind != argc - 1) {
                say(LOG_ERR, "%s (see --help)", optind >= argc ? "an ACTION is expected: freeze, thaw or freezeFail"
                                                               : "one ACTION only is expected");
                return 2;
        }
        if (streq_ptr(argv[optind], "freeze") || streq_ptr(argv[optind], "pre"))
                action = ACTION_FREEZE;
        else if (streq_ptr(argv[optind], "thaw") || streq_ptr(argv[optind], "post"))
                action = ACTION_THAW;
        else if (streq_ptr(argv[optind], "freezeFail"))
                action = ACTION_FREEZE_FAIL;
        else {
                say(LOG_ERR, "unknown ACTION '%s': freeze (pre), thaw (post) or freezeFail", argv[optind]);
                return 2;
        }

        if (!socket_path) {
                r = lvss_socket_path(&own_path);
                if (r < 0) {
                        say(LOG_ERR, "%s: cannot find lvssd's socket: %s (use --socket or $LVSS_SOCKET)",
                            action_word[action], strerror(-r));
                        return 1;
                }
                socket_path = own_path;
        }
        r = lvss_bus_connect(socket_path, &bus);
        if (r < 0) {
                say(LOG_ERR, "%s: cannot reach lvssd at %s: %s (VSS_E_WRITER_INFRASTRUCTURE)", action_word[action],
                    socket_path, strerror(-r));
                return 1;
        }
        ret = call(bus, action, volumes, hold_ms);
        closelog();
        return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Printing shared by vssadmin and vshadow. The writer block follows
 * writer-status.md "Display" to the character: the five lines Windows
 * vssadmin prints, in its order and indentation, and only after them the
 * lines lvss adds (WS-9 provenance), so that anything parsing the VSS format
 * keeps working.
 */

#include <inttypes.h>
#include <pwd.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basic/utf8.h"
#include "basic/util.h"
#include "output.h"

/* ---- colour -------------------------------------------------------------- */

static bool colors_enabled;

void output_init_colors(FILE *f) {
        const char *term;

        colors_enabled = false;
        if (!f || !isatty(fileno(f)))
                return;
        if (getenv("NO_COLOR"))
                return;
        term = getenv("TERM");
        if (!term || strcmp(term, "dumb") == 0)
                return;
        colors_enabled = true;
}

bool output_colors_enabled(void) {
        return colors_enabled;
}

const char *ansi_highlight_green(void) {
        return colors_enabled ? "\033[0;1;32m" : "";
}

const char *ansi_highlight_red(void) {
        return colors_enabled ? "\033[0;1;31m" : "";
}

const char *ansi_highlight_yellow(void) {
        return colors_enabled ? "\033[0;1;33m" : "";
}

const char *ansi_bold(void) {
        return colors_enabled ? "\033[0;1;39m" : "";
}

const char *ansi_normal(void) {
        return colors_enabled ? "\033[0m" : "";
}

/* ---- time ---------------------------------------------------------------- */

char *format_timestamp(char buf[TIMESTAMP_MAX], uint64_t usec) {
        struct tm tm;
        time_t t;

        if (usec == 0) {
                snprintf(buf, TIMESTAMP_MAX, "n/a");
                return buf;
        }
        t = (time_t) (usec / USEC_PER_SEC);
        if (!localtime_r(&t, &tm) || strftime(buf, TIMESTAMP_MAX, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, TIMESTAMP_MAX, "@%" PRIu64, usec / USEC_PER_SEC);
        return buf;
}

char *format_timestamp_iso(char buf[TIMESTAMP_MAX], uint64_t usec) {
        char date[24];
        struct tm tm;
        time_t t;

        buf[0] = 0;
        if (usec == 0)
                return buf;
        t = (time_t) (usec / USEC_PER_SEC);
        if (!gmtime_r(&t, &tm) || strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return buf;
        snprintf(buf, TIMESTAMP_MAX, "%s.%06" PRIu64 "Z", date, usec % USEC_PER_SEC);
        return buf;
}

char *format_duration(char buf[DURATION_MAX], uint64_t usec) {
        if (usec < 10 * USEC_PER_MSEC)
                snprintf(buf, DURATION_MAX, "%.1f ms", (double) usec / (double) USEC_PER_MSEC);
        else if (usec < 10 * USEC_PER_SEC)
                snprintf(buf, DURATION_MAX, "%" PRIu64 " ms", (usec + USEC_PER_MSEC / 2) / USEC_PER_MSEC);
        else
                snprintf(buf, DURATION_MAX, "%.1f s", (double) usec / (double) USEC_PER_SEC);
        return buf;
}

/* ---- the writer block ---------------------------------------------------- */

/*
 * Names and messages come from writers: print them without control
 * characters (C0, DEL, C1) or invalid UTF-8, so that no writer can send
 * escape sequences to an administrator's terminal.
 */
void fputs_sanitized(const char *str, FILE *f) {
        const unsigned char *s = (const unsigned char *) strempty(str);

        while (*s) {
                size_t n = lvss_utf8_decode((const char *) s, NULL);

                if (n == 0 || *s < 0x20 || *s == 0x7F || (n == 2 && s[0] == 0xC2 && s[1] < 0xA0)) {
                        fputc('?', f);
                        s += n == 0 ? 1 : n;
                        continue;
                }
                fwrite(s, 1, n, f);
                s += n;
        }
}

static const char *state_color(vss_writer_state s) {
        switch (s) {
        case VSS_WS_STABLE:
                return ansi_highlight_green();
        case VSS_WS_WAITING_FOR_FREEZE:
        case VSS_WS_WAITING_FOR_THAW:
        case VSS_WS_WAITING_FOR_POST_SNAPSHOT:
        case VSS_WS_WAITING_FOR_BACKUP_COMPLETE:
        case VSS_WS_UNKNOWN:
                return ansi_highlight_yellow();
        default:
                return ansi_highlight_red();
        }
}

static bool session_is_none(const output_writer *w) {
        if (vss_id_is_null(&w->status.session_id))
                return true;
        return w->session_known && w->session_state && strcmp(w->session_state, "none") == 0;
}

static void print_session_line(FILE *f, const output_writer *w) {
        const vss_writer_status *s = &w->status;
        const char *event = vss_writer_event_name(s->last_event);
        char id[VSS_ID_STRING_MAX], ts[TIMESTAMP_MAX];
        const char *sep = "";

        if (session_is_none(w)) {
                fprintf(f, "   Session: none (outside any session)\n");
                return;
        }

        vss_id_format(&s->session_id, id);
        fprintf(f, "   Session: %s (", id);
        if (w->session_known && w->session_state && *w->session_state) {
                fprintf(f, "%s", w->session_state);
                if (w->session_active && strncmp(w->session_state, "in progress", strlen("in progress")) != 0)
                        fprintf(f, ", still open");
                sep = ", ";
        }
        if (s->last_event_usec > 0) {
                fprintf(f, "%s%s", sep, format_timestamp(ts, s->last_event_usec));
                sep = ", ";
        }
        if (event)
                fprintf(f, "%slast event %s", sep, event);
        else
                fprintf(f, "%sno event yet", sep);
        fprintf(f, ")\n");
}

void output_writer_block(FILE *f, const output_writer *w) {
        const vss_writer_status *s = &w->status;
        const char *event = vss_writer_event_name(s->last_event);
        char writer_id[VSS_ID_STRING_MAX], instance_id[VSS_ID_STRING_MAX], d[DURATION_MAX];

        vss_id_format(&s->writer_id, writer_id);
        vss_id_format(&s->instance_id, instance_id);

        /* The five VSS lines, exactly. */
        fputs("Writer name: '", f);
        fputs_sanitized(s->writer_name, f);
        fputs("'\n", f);
        fprintf(f, "   Writer Id: %s\n", writer_id);
        fprintf(f, "   Writer Instance Id: %s\n", instance_id);
        fprintf(f, "   State: %s[%u] %s%s\n", state_color(s->state), (unsigned) s->state,
                vss_writer_state_text(s->state), ansi_normal());
        fprintf(f, "   Last error: %s%s%s\n", s->failure != 0 ? ansi_highlight_red() : "",
                vss_hresult_text(s->failure), s->failure != 0 ? ansi_normal() : "");

        /* lvss additions, after the five. */
        if (s->instance_name && *s->instance_name) {
                fputs("   Writer Instance Name: '", f);
                fputs_sanitized(s->instance_name, f);
                fputs("'\n", f);
        }
        if (w->owner_known) {
                struct passwd *pw = getpwuid((uid_t) w->uid);
                fprintf(f, "   Process: pid %" PRIi32 ", uid %" PRIu32, w->pid, w->uid);
                if (pw && pw->pw_name) {
                        fputs(" (", f);
                        fputs_sanitized(pw->pw_name, f);
                        fputc(')', f);
                }
                fputc('\n', f);
        }
        print_session_line(f, w);
        if (event) {
                if (s->event_in_progress)
                        fprintf(f, "   Last event: %s, %sin progress%s\n", event, ansi_highlight_yellow(),
                                ansi_normal());
                else if (w->answered_by_lvssd)
                        fprintf(f, "   Last event: %s, answered by lvssd (the writer does not handle it)\n", event);
                else if (s->failure == VSS_E_WRITER_NOT_RESPONDING)
                        fprintf(f, "   Last event: %s, no answer after %s\n", event,
                                format_duration(d, s->last_event_duration_usec));
                else
                        fprintf(f, "   Last event: %s, took %s\n", event,
                                format_duration(d, s->last_event_duration_usec));
        }
        if (w->note && *w->note) {
                fputs("   Problem: the writer ", f);
                fputs_sanitized(w->note, f);
                fputc('\n', f);
        }
        if (s->application_result != 0 || (s->application_message && *s->application_message)) {
                fprintf(f, "   Application error: 0x%08" PRIX32, (uint32_t) s->application_result);
                if (s->application_message && *s->application_message) {
                        fputc(' ', f);
                        fputs_sanitized(s->application_message, f);
                }
                fputc('\n', f);
        }
}

const char *output_failure_event(vss_writer_state state, vss_writer_event last_event) {
        static const vss_writer_event events[] = {
                [VSS_WS_FAILED_AT_IDENTIFY] = VSS_EVENT_IDENTIFY,
                [VSS_WS_FAILED_AT_PREPARE_BACKUP] = VSS_EVENT_PREPARE_BACKUP,
                [VSS_WS_FAILED_AT_PREPARE_SNAPSHOT] = VSS_EVENT_PREPARE_SNAPSHOT,
                [VSS_WS_FAILED_AT_FREEZE] = VSS_EVENT_FREEZE,
                [VSS_WS_FAILED_AT_THAW] = VSS_EVENT_THAW,
                [VSS_WS_FAILED_AT_POST_SNAPSHOT] = VSS_EVENT_POST_SNAPSHOT,
                [VSS_WS_FAILED_AT_BACKUP_COMPLETE] = VSS_EVENT_BACKUP_COMPLETE,
                [VSS_WS_FAILED_AT_PRE_RESTORE] = VSS_EVENT_PRE_RESTORE,
                [VSS_WS_FAILED_AT_POST_RESTORE] = VSS_EVENT_POST_RESTORE,
                [VSS_WS_FAILED_AT_BACKUPSHUTDOWN] = VSS_EVENT_BACKUP_SHUTDOWN,
        };

        if ((unsigned) state < ELEMENTSOF(events) && events[state] != VSS_EVENT_NONE)
                return vss_writer_event_name(events[state]);
        return vss_writer_event_name(last_event);
}

char *sanitize(const char *str) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fputs_sanitized(str, f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- JSON ---------------------------------------------------------------- */

void json_writer_members(json_writer *j, const output_writer *w) {
        const vss_writer_status *s = &w->status;
        char ts[TIMESTAMP_MAX];

        json_key(j, "writer_name");
        json_string(j, strempty(s->writer_name));
        json_key(j, "writer_id");
        json_id(j, &s->writer_id);
        json_key(j, "instance_id");
        json_id(j, &s->instance_id);
        json_key(j, "instance_name");
        json_string(j, strnull_if_empty(s->instance_name));
        json_key(j, "state");
        json_uint(j, (unsigned) s->state);
        json_key(j, "state_name");
        json_string(j, vss_writer_state_name(s->state));
        json_key(j, "state_text");
        json_string(j, vss_writer_state_text(s->state));
        json_key(j, "failure");
        json_hresult(j, s->failure);
        json_key(j, "failure_name");
        json_string(j, vss_hresult_name(s->failure));
        json_key(j, "failure_text");
        json_string(j, vss_hresult_text(s->failure));
        json_key(j, "application_result");
        json_hresult(j, s->application_result);
        json_key(j, "application_message");
        json_string(j, strnull_if_empty(s->application_message));
        json_key(j, "session_id");
        json_id(j, &s->session_id);
        json_key(j, "session_state");
        if (w->session_known)
                json_string(j, w->session_state);
        else
                json_null(j);
        json_key(j, "session_active");
        if (w->session_known)
                json_boolean(j, w->session_active);
        else
                json_null(j);
        json_key(j, "last_event");
        json_uint(j, (unsigned) s->last_event);
        json_key(j, "last_event_name");
        json_string(j, vss_writer_event_name(s->last_event));
        json_key(j, "last_event_in_progress");
        json_boolean(j, s->event_in_progress);
        json_key(j, "last_event_usec");
        json_uint(j, s->last_event_usec);
        json_key(j, "last_event_time");
        if (s->last_event_usec > 0)
                json_string(j, format_timestamp_iso(ts, s->last_event_usec));
        else
                json_null(j);
        json_key(j, "last_event_duration_usec");
        json_uint(j, s->last_event_duration_usec);
        if (w->owner_known) {
                /* issue 11 §5, WS-9: who answered the last event */
                json_key(j, "last_event_answered_by");
                json_string(j, w->answered_by_lvssd ? "lvssd" : "writer");
                struct passwd *pw = getpwuid((uid_t) w->uid);
                json_key(j, "uid");
                json_uint(j, w->uid);
                json_key(j, "user");
                json_string(j, pw ? pw->pw_name : NULL);
                json_key(j, "pid");
                json_int(j, w->pid);
                json_key(j, "problem");
                json_string(j, strnull_if_empty(w->note));
        }
}

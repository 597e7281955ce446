/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Printing shared by vssadmin and vshadow: the writer block of
 * writer-status.md "Display" (the five VSS lines, then lvss's provenance
 * lines) and its JSON members, colour on terminals only, time formatting.
 *
 * Only the public API (lvss/vss.h) is used here, so vshadow can link this
 * file without the internal libraries.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <lvss/vss.h>

#include "json-output.h"

/* ---- colour -------------------------------------------------------------- */

/* Decide once whether @f gets colour: a terminal, $NO_COLOR unset, $TERM not "dumb". */
void output_init_colors(FILE *f);
bool output_colors_enabled(void);

/* Escape sequences, or "" when colour is off. */
const char *ansi_highlight_green(void);
const char *ansi_highlight_red(void);
const char *ansi_highlight_yellow(void);
const char *ansi_bold(void);
const char *ansi_normal(void);

/* ---- time ---------------------------------------------------------------- */

#define TIMESTAMP_MAX 48
#define DURATION_MAX 32

/* "2026-11-26 09:12:03" in local time; "n/a" for 0. Returns @buf. */
char *format_timestamp(char buf[TIMESTAMP_MAX], uint64_t usec);
/* "2026-11-26T09:12:03.123456Z" (UTC, for JSON); "" for 0. Returns @buf. */
char *format_timestamp_iso(char buf[TIMESTAMP_MAX], uint64_t usec);
/* "0.4 ms", "12 ms", "3.2 s". Returns @buf. */
char *format_duration(char buf[DURATION_MAX], uint64_t usec);

/* ---- text from writers ---------------------------------------------------- */

/* Prints @str (NULL: "") with control characters and invalid UTF-8 shown as '?'. */
void fputs_sanitized(const char *str, FILE *f);
/* The same as an owned string (free()); NULL when out of memory. */
char *sanitize(const char *str);

/* ---- the writer block ---------------------------------------------------- */

/*
 * One writer as the tools show it: the session status of liblvss, plus what
 * only the admin view (Coordinator1.ListWriters) knows.
 */
typedef struct output_writer {
        vss_writer_status status;
        bool session_known;        /* the two fields below are set */
        bool session_active;       /* the session is still open */
        const char *session_state; /* "in progress", "completed", "aborted", "ended", "none" */
        bool owner_known;          /* uid and pid are set (the admin view) */
        uint32_t uid;              /* the writer process's uid and pid */
        int32_t pid;
        const char *note;          /* what lvssd found wrong with its answer, or NULL */
        bool answered_by_lvssd;    /* the admin view: lvssd answered the last event (issue 11 §5) */
} output_writer;

/*
 * output_writer_block() - the vssadmin block for one writer.
 *
 *   Writer name: 'NAME'
 *      Writer Id: {…}
 *      Writer Instance Id: {…}
 *      State: [N] Text
 *      Last error: Text
 *      ... lvss lines (instance name, process, session, last event, what was
 *          wrong with its answer, application error)
 *
 * No blank line is printed; the caller separates blocks.
 */
void output_writer_block(FILE *f, const output_writer *w);

/*
 * output_failure_event() - the event a writer failed, by its state.
 *
 * "Freeze" for VSS_WS_FAILED_AT_FREEZE and so on; for any other state
 * @last_event's name (a writer may fail an event without its state saying
 * so, and after a veto the last event sent is Abort, not the one it
 * failed). NULL when neither says.
 */
const char *output_failure_event(vss_writer_state state, vss_writer_event last_event);

/* ---- JSON (json-output.h) ---------------------------------------------------- */

/* Members for one writer (inside an open object): stable keys, see vssadmin(8). */
void json_writer_members(json_writer *j, const output_writer *w);

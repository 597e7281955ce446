/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — writer status: what vshadow learns of each writer over the run
 * (GatherWriterStatus), for the checks and the summary.
 */

#include "vshadow.h"

/* ---- writer status ---------------------------------------------------------- */

static writer_record *record_for(vshadow *v, const vss_writer_status *s) {
        writer_record *r;

        for (size_t i = 0; i < v->n_records; i++)
                if (vss_id_equal(&v->records[i].instance_id, &s->instance_id))
                        return &v->records[i];
        r = realloc(v->records, (v->n_records + 1) * sizeof *r);
        if (!r)
                return NULL;
        v->records = r;
        r = &v->records[v->n_records];
        *r = (writer_record) { .instance_id = s->instance_id };
        r->writer_name = strdup(strempty(s->writer_name));
        r->instance_name = s->instance_name ? strdup(s->instance_name) : NULL;
        if (!r->writer_name)
                return NULL;
        v->n_records++;
        return r;
}

static void record_status(vshadow *v, const vss_writer_status *s) {
        writer_record *r = record_for(v, s);

        if (!r)
                return;
        r->state = s->state;
        r->failure = s->failure;
        if (s->application_message && *s->application_message) {
                char *m = strdup(s->application_message);
                if (m) {
                        free(r->application_message);
                        r->application_message = m;
                }
        }
        r->last_event = s->last_event;
        r->last_event_usec = s->last_event_usec;
        if ((unsigned) s->last_event < VSS_EVENT_COUNT && s->last_event != VSS_EVENT_NONE && !s->event_in_progress) {
                r->seen[s->last_event] = true;
                r->duration_usec[s->last_event] = s->last_event_duration_usec;
        }
}

/*
 * Gathers and prints this session's writer status (WS-2). @after names the
 * step it follows. Only the status is printed in -ws mode (@bare).
 */
vss_hresult gather_status(vshadow *v, const char *after, bool bare) {
        vss_async *a = NULL;
        unsigned n = 0;
        vss_hresult hr;

        if (!bare)
                step_begin(v, "GatherWriterStatus", after);
        hr = wait_async(vss_gather_writer_status(v->bc, &a), &a);
        if (hr_ok(hr))
                hr = vss_get_writer_status_count(v->bc, &n);
        if (!bare) {
                step_end(v, hr);
                if (!hr_ok(hr)) {
                        step_done(v);
                        return hr;
                }
        } else if (!hr_ok(hr))
                return hr;

        v->report->writers_begin(v, after, n, bare);

        for (unsigned i = 0; i < n; i++) {
                output_writer w = { .status.size = sizeof(vss_writer_status) };

                hr = vss_get_writer_status(v->bc, i, &w.status);
                if (VSS_FAILED(hr)) {
                        fprintf(stderr, "vshadow: cannot read writer status %u: %s (%s)\n", i, vss_hresult_text(hr),
                                hr_name(hr));
                        break;
                }
                record_status(v, &w.status);
                v->report->writer(v, &w, i, bare);
        }
        v->report->writers_end(v, n, bare);
        vss_free_writer_status(v->bc);
        if (!bare)
                step_done(v);
        return hr_ok(hr) ? VSS_S_OK : hr;
}

bool record_failed(const writer_record *r) {
        return r->failure != 0 ||
               (r->state >= VSS_WS_FAILED_AT_IDENTIFY && r->state <= VSS_WS_FAILED_AT_BACKUPSHUTDOWN);
}

/* A writer that failed after it took part (issue 8 item 3); a failed Identify means it took no part. */
bool record_failed_taking_part(const writer_record *r) {
        return record_failed(r) && r->state != VSS_WS_FAILED_AT_IDENTIFY && r->last_event != VSS_EVENT_IDENTIFY;
}

/* The record of the writer instance @instance_id, or NULL. */
const writer_record *record_find(const vshadow *v, const vss_id *instance_id) {
        for (size_t i = 0; i < v->n_records; i++)
                if (vss_id_equal(&v->records[i].instance_id, instance_id))
                        return &v->records[i];
        return NULL;
}

bool writer_required(const vshadow *v, const vss_id *instance_id) {
        for (size_t i = 0; i < v->n_required; i++)
                if (vss_id_equal(&v->required[i], instance_id))
                        return true;
        for (size_t i = 0; i < v->n_components; i++)
                if (v->components[i].required && vss_id_equal(&v->components[i].instance_id, instance_id))
                        return true;
        return false;
}

/*
 * Asks lvssd whether its record of the session is complete (issue 8 item 6):
 * writer-status history rows its catalog could not take. The backup itself
 * is not affected, so this does not change the exit status; a line on stderr
 * and the summary (JSON too) say it. Before Release, while the session exists.
 */
void check_record(vshadow *v) {
        vss_hresult hr;

        hr = vss_get_session_record_status(v->bc, &v->record_complete, &v->record_message);
        v->record_known = hr_ok(hr);
        v->record_hr = hr;
}

/* After a failure, not knowing is not worth a second line: the first one says what went wrong. */
void warn_record(const vshadow *v, int exit_status) {
        char sid[VSS_ID_STRING_MAX];

        if (!v->record_known && exit_status == EXIT_SUCCESS && v->record_hr != VSS_S_OK)
                fprintf(stderr, "vshadow: warning: cannot ask lvssd whether its record of the session is complete: "
                                "%s (%s)\n",
                        vss_hresult_text(v->record_hr), hr_name(v->record_hr));
        if (!v->record_known || v->record_complete)
                return;
        vss_id_format(&v->session_id, sid);
        fprintf(stderr, "vshadow: warning: lvssd's record of session %s is incomplete: ", sid);
        fputs_sanitized(v->record_message ? v->record_message : "writer-status history incomplete", stderr);
        fputc('\n', stderr);
}

/* Writers whose status shows a failure, each named once on stderr; the status blocks have the details. */
size_t report_failed_writers(vshadow *v) {
        size_t n = 0;

        for (size_t i = 0; i < v->n_records; i++) {
                writer_record *r = &v->records[i];
                _cleanup_(freep) char *w = NULL, *m = NULL;
                const char *event = output_failure_event(r->state, r->last_event);

                if (!record_failed(r) || r->reported)
                        continue;
                r->reported = true;
                w = sanitize(r->writer_name);
                m = r->application_message ? sanitize(r->application_message) : NULL;
                fprintf(stderr, "vshadow: writer '%s' failed%s%s: [%u] %s, %s%s%s\n", strempty(w),
                        event ? " at " : "", strempty(event), (unsigned) r->state, vss_writer_state_text(r->state),
                        vss_hresult_text(r->failure), m ? ": " : "", strempty(m));
                n++;
        }
        return n;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — reporting: the numbered steps and what the run shows, through
 * one reporter interface (struct reporter, vshadow.h) with two
 * implementations, report-text.c and report-json.c (--json). The sequences
 * call the functions here, which keep the step's bookkeeping and gather
 * what is to be shown; the reporter shows it.
 */

#include "vshadow.h"

/* ---- the run ----------------------------------------------------------------- */

void report_run_begin(vshadow *v, run_kind kind) {
        v->report->run_begin(v, kind);
}

void report_run_end(vshadow *v, run_kind kind, int exit_status) {
        v->report->run_end(v, kind, exit_status);
}

/* ---- steps ----------------------------------------------------------------- */

void step_begin(vshadow *v, const char *name, const char *arg) {
        v->step_no++;
        v->step_name = name;
        snprintf(v->step_arg, sizeof v->step_arg, "%s", strempty(arg));
        v->step_arg_given = arg;
        v->report->step_begin(v);
        v->step_start = now_usec(CLOCK_MONOTONIC);
}

/*
 * Shows the outcome of the running step (@why: a reason in words in place
 * of @hr's text). The step stays open for its details until step_done().
 */
vss_hresult step_end_full(vshadow *v, vss_hresult hr, const char *why) {
        v->report->step_end(v, hr, why, now_usec(CLOCK_MONOTONIC) - v->step_start);
        return hr;
}

vss_hresult step_end(vshadow *v, vss_hresult hr) {
        return step_end_full(v, hr, NULL);
}

void step_done(vshadow *v) {
        v->report->step_done(v);
}

void step_info_id(vshadow *v, const char *key, const char *label, const vss_id *id) {
        char s[VSS_ID_STRING_MAX];

        vss_id_format(id, s);
        v->report->step_info(v, key, label, s);
}

void step_info_component(vshadow *v, const selected_component *c) {
        v->report->component(v, c);
}

/* A failed step: the one clear line on stderr. */
void log_step_failure(vshadow *v, vss_hresult hr) {
        fprintf(stderr, "vshadow: %s failed: %s (%s, 0x%08" PRIX32 ")\n", v->step_name, vss_hresult_text(hr),
                hr_name(hr), (uint32_t) hr);
}

void note(vshadow *v, const char *text) {
        v->report->note(v, text);
}

/* ---- writer metadata ------------------------------------------------------- */

/* One writer's metadata document, at the detail -wm / -wm2 / -wm3 asks (1 for the backup run). */
static vss_hresult report_one_metadata(vshadow *v, unsigned index, unsigned detail) {
        metadata_view w = {};
        vss_id id_again;
        vss_hresult hr;

        hr = vss_get_writer_metadata(v->bc, index, &w.instance_id, &w.md);
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_examine_writer_metadata_get_identity(w.md, &id_again, &w.writer_id, &w.name, &w.instance_name,
                                                      &w.usage, &w.source);
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_examine_writer_metadata_get_file_counts(w.md, &w.n_include, &w.n_exclude, &w.n_components);
        if (VSS_FAILED(hr))
                return hr;
        return v->report->writer_metadata(v, &w, detail);
}

vss_hresult print_metadata(vshadow *v, unsigned detail) {
        unsigned n = 0;
        vss_hresult hr;

        hr = vss_get_writer_metadata_count(v->bc, &n);
        if (VSS_FAILED(hr))
                return hr;
        v->report->metadata_begin(v, n);
        for (unsigned i = 0; i < n; i++) {
                hr = report_one_metadata(v, i, detail);
                if (VSS_FAILED(hr))
                        break;
        }
        v->report->metadata_end(v);
        return hr;
}

/* ---- shadow copies, documents -------------------------------------------------- */

void print_snapshot(vshadow *v, const vss_snapshot_prop *p) {
        v->report->snapshot(v, p);
}

void print_document(vshadow *v) {
        v->report->document(v);
}

void report_bcd_saved(vshadow *v, const char *path, size_t bytes) {
        v->report->bcd_saved(v, path, bytes);
}

/* One line on stderr: the writer, the event it failed at, the state and the failure (code and text). */
void print_writer_failure(const char *prefix, const writer_record *r) {
        _cleanup_(freep) char *w = sanitize(r->writer_name);
        _cleanup_(freep) char *m = r->application_message && *r->application_message
                                           ? sanitize(r->application_message)
                                           : NULL;
        const char *event = output_failure_event(r->state, r->last_event);

        fprintf(stderr, "vshadow: %swriter '%s' failed%s%s: [%u] %s, %s (%s)%s%s\n", prefix, strempty(w),
                event ? " at " : "", strempty(event), (unsigned) r->state, vss_writer_state_text(r->state),
                vss_hresult_text(r->failure), hr_name(r->failure), m ? ": " : "", strempty(m));
}

/* ---- restore ------------------------------------------------------------------- */

const char *restore_status_name(vss_file_restore_status s) {
        static const char *const names[] = {
                [VSS_RS_UNDEFINED] = "VSS_RS_UNDEFINED",
                [VSS_RS_NONE] = "VSS_RS_NONE",
                [VSS_RS_ALL] = "VSS_RS_ALL",
                [VSS_RS_FAILED] = "VSS_RS_FAILED",
        };
        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "unknown";
}

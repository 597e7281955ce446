/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the JSON reporter (--json): one document on stdout, built with
 * json-c (json-output.h) and printed when the run ends. The keys are
 * vshadow(8)'s.
 */

#include "vshadow.h"

static void report_json_run_begin(vshadow *v, run_kind kind) {
        json_begin_object(&v->json);
        switch (kind) {
        case RUN_BACKUP:
                json_key(&v->json, "volumes");
                json_begin_array(&v->json);
                for (size_t i = 0; i < arg_n_volumes; i++)
                        json_string(&v->json, arg_volumes[i]);
                json_end_array(&v->json);
                json_key(&v->json, "component_mode");
                json_boolean(&v->json, v->component_mode);
                break;
        case RUN_RESTORE:
                json_key(&v->json, "restore");
                json_begin_object(&v->json);
                json_key(&v->json, "file");
                json_string(&v->json, arg_restore_file);
                json_key(&v->json, "simulated");
                json_boolean(&v->json, arg_restore_simulated);
                json_end_object(&v->json);
                break;
        case RUN_METADATA:
        case RUN_STATUS:
                break;
        }
        if (kind != RUN_STATUS) {
                json_key(&v->json, "steps");
                json_begin_array(&v->json);
        }
}

static void report_json_summary(vshadow *v, int exit_status) {
        uint64_t total = now_usec(CLOCK_MONOTONIC) - v->start_usec;

        json_key(&v->json, "summary");
        json_begin_array(&v->json);
        for (size_t i = 0; i < v->n_records; i++) {
                writer_record *r = &v->records[i];

                json_begin_object(&v->json);
                json_key(&v->json, "writer_name");
                json_string(&v->json, r->writer_name);
                json_key(&v->json, "instance_name");
                json_string(&v->json, r->instance_name);
                json_key(&v->json, "instance_id");
                json_id(&v->json, &r->instance_id);
                json_key(&v->json, "state");
                json_uint(&v->json, (unsigned) r->state);
                json_key(&v->json, "state_name");
                json_string(&v->json, vss_writer_state_name(r->state));
                json_key(&v->json, "failure");
                json_hresult(&v->json, r->failure);
                json_key(&v->json, "failure_name");
                json_string(&v->json, vss_hresult_name(r->failure));
                json_key(&v->json, "application_message");
                json_string(&v->json, r->application_message);
                json_key(&v->json, "required");
                json_boolean(&v->json, writer_required(v, &r->instance_id));
                json_key(&v->json, "last_event_name");
                json_string(&v->json, vss_writer_event_name(r->last_event));
                json_key(&v->json, "last_event_usec");
                json_uint(&v->json, r->last_event_usec);
                json_key(&v->json, "event_duration_usec");
                json_begin_object(&v->json);
                for (unsigned e = 0; e < VSS_EVENT_COUNT; e++)
                        if (r->seen[e]) {
                                json_key(&v->json, vss_writer_event_name((vss_writer_event) e));
                                json_uint(&v->json, r->duration_usec[e]);
                        }
                json_end_object(&v->json);
                json_end_object(&v->json);
        }
        json_end_array(&v->json);
        json_key(&v->json, "snapshot_set_id");
        json_id(&v->json, &v->set_id);
        json_key(&v->json, "total_usec");
        json_uint(&v->json, total);
        /* issue 8 item 6: null when lvssd could not be asked */
        json_key(&v->json, "record_complete");
        if (v->record_known)
                json_boolean(&v->json, v->record_complete);
        else
                json_null(&v->json);
        json_key(&v->json, "record_message");
        json_string(&v->json, v->record_known && !v->record_complete ? v->record_message : NULL);
        json_key(&v->json, "exit_status");
        json_int(&v->json, exit_status);
}

static void report_json_run_end(vshadow *v, run_kind kind, int exit_status) {
        if (kind != RUN_STATUS)
                json_end_array(&v->json); /* the steps */
        if (kind == RUN_RESTORE) {
                json_key(&v->json, "file_restore_status");
                json_string(&v->json, v->n_components > 0 ? restore_status_name(v->file_status) : NULL);
        }
        if (kind == RUN_BACKUP || kind == RUN_RESTORE)
                report_json_summary(v, exit_status);
        json_end_object(&v->json);
        (void) json_finish(&v->json);
}

static void report_json_step_begin(vshadow *v) {
}

static void report_json_step_end(vshadow *v, vss_hresult hr, const char *why, uint64_t d) {
        bool ok = hr_ok(hr);

        json_begin_object(&v->json);
        json_key(&v->json, "step");
        json_uint(&v->json, v->step_no);
        json_key(&v->json, "name");
        json_string(&v->json, v->step_name);
        json_key(&v->json, "argument");
        json_string(&v->json, strnull_if_empty(v->step_arg));
        json_key(&v->json, "ok");
        json_boolean(&v->json, ok);
        json_key(&v->json, "result");
        if (why)
                json_null(&v->json);
        else
                json_hresult(&v->json, hr);
        json_key(&v->json, "result_name");
        json_string(&v->json, why ? NULL : vss_hresult_name(hr));
        json_key(&v->json, "result_text");
        json_string(&v->json, why ? why : vss_hresult_text(hr));
        json_key(&v->json, "duration_usec");
        json_uint(&v->json, d);
}

static void report_json_step_done(vshadow *v) {
        json_end_object(&v->json);
}

static void report_json_step_info(vshadow *v, const char *key, const char *label, const char *value) {
        json_key(&v->json, key);
        json_string(&v->json, value);
}

static void report_json_exec_running(vshadow *v, const char *command) {
}

static void report_json_exec_resumed(vshadow *v, const char *command) {
}

static void report_json_exec_status(vshadow *v, int r) {
        json_key(&v->json, "exit_status");
        json_int(&v->json, r);
}

static void report_json_note(vshadow *v, const char *text) {
}

static void report_json_writers_begin(vshadow *v, const char *after, unsigned n, bool bare) {
        json_key(&v->json, "writers");
        json_begin_array(&v->json);
}

static void report_json_writer(vshadow *v, const output_writer *w, unsigned index, bool bare) {
        json_begin_object(&v->json);
        json_writer_members(&v->json, w);
        json_end_object(&v->json);
}

static void report_json_writers_end(vshadow *v, unsigned n, bool bare) {
        json_end_array(&v->json);
}

static void report_json_metadata_begin(vshadow *v, unsigned n) {
        json_key(&v->json, "writers");
        json_begin_array(&v->json);
}

static void report_json_metadata_end(vshadow *v) {
        json_end_array(&v->json);
}

static void json_file_descs(json_writer *j, const char *key, const vss_file_desc *files, unsigned n) {
        json_key(j, key);
        json_begin_array(j);
        for (unsigned i = 0; i < n; i++) {
                json_begin_object(j);
                json_key(j, "path");
                json_string(j, files[i].path);
                json_key(j, "filespec");
                json_string(j, files[i].filespec);
                json_key(j, "recursive");
                json_boolean(j, files[i].recursive);
                json_key(j, "alternate_location");
                json_string(j, files[i].alternate_location);
                json_key(j, "backup_type_mask");
                json_uint(j, files[i].backup_type_mask);
                json_end_object(j);
        }
        json_end_array(j);
}

static vss_hresult report_json_writer_metadata(vshadow *v, const metadata_view *w, unsigned detail) {
        vss_examine_writer_metadata *md = w->md;
        vss_hresult hr;

        json_begin_object(&v->json);
        json_key(&v->json, "writer_name");
        json_string(&v->json, w->name);
        json_key(&v->json, "writer_id");
        json_id(&v->json, &w->writer_id);
        json_key(&v->json, "instance_id");
        json_id(&v->json, &w->instance_id);
        json_key(&v->json, "instance_name");
        json_string(&v->json, strnull_if_empty(w->instance_name));
        json_key(&v->json, "usage");
        json_uint(&v->json, (unsigned) w->usage);
        json_key(&v->json, "source");
        json_uint(&v->json, (unsigned) w->source);
        json_key(&v->json, "components");
        json_begin_array(&v->json);

        for (unsigned c = 0; c < w->n_components; c++) {
                const vss_component_info *ci = NULL;

                hr = vss_examine_writer_metadata_get_component(md, c, &ci);
                if (VSS_FAILED(hr))
                        return hr;
                json_begin_object(&v->json);
                json_key(&v->json, "type");
                json_uint(&v->json, (unsigned) ci->type);
                json_key(&v->json, "logical_path");
                json_string(&v->json, ci->logical_path);
                json_key(&v->json, "name");
                json_string(&v->json, ci->component_name);
                json_key(&v->json, "caption");
                json_string(&v->json, ci->caption);
                json_key(&v->json, "selectable");
                json_boolean(&v->json, ci->selectable);
                json_file_descs(&v->json, "files", ci->files, ci->file_count);
                json_file_descs(&v->json, "databases", ci->databases, ci->database_count);
                json_file_descs(&v->json, "log_files", ci->log_files, ci->log_file_count);
                json_end_object(&v->json);
        }

        json_end_array(&v->json);
        if (detail >= 3) {
                _cleanup_(freep) char *xml = NULL;
                if (VSS_SUCCEEDED(vss_examine_writer_metadata_save_as_xml(md, &xml))) {
                        json_key(&v->json, "xml");
                        json_string(&v->json, xml);
                }
        }
        json_end_object(&v->json);
        return VSS_S_OK;
}

static void report_json_component(vshadow *v, const selected_component *c) {
        _cleanup_(freep) char *path = component_path(c->logical_path, c->name);

        json_key(&v->json, "writer_name");
        json_string(&v->json, c->writer_name);
        json_key(&v->json, "writer_id");
        json_id(&v->json, &c->writer_id);
        json_key(&v->json, "instance_id");
        json_id(&v->json, &c->instance_id);
        json_key(&v->json, "component_type");
        json_uint(&v->json, (unsigned) c->type);
        json_key(&v->json, "logical_path");
        json_string(&v->json, c->logical_path);
        json_key(&v->json, "component_name");
        json_string(&v->json, c->name);
        json_key(&v->json, "component_path");
        json_string(&v->json, path);
        json_key(&v->json, "required");
        json_boolean(&v->json, c->required);
}

static void report_json_snapshot(vshadow *v, const vss_snapshot_prop *p) {
        char ts[TIMESTAMP_MAX];

        json_key(&v->json, "snapshot");
        json_begin_object(&v->json);
        json_key(&v->json, "snapshot_id");
        json_id(&v->json, &p->snapshot_id);
        json_key(&v->json, "snapshot_set_id");
        json_id(&v->json, &p->snapshot_set_id);
        json_key(&v->json, "snapshots_count");
        json_int(&v->json, p->snapshots_count);
        json_key(&v->json, "original_volume");
        json_string(&v->json, p->original_volume);
        json_key(&v->json, "snapshot_path");
        json_string(&v->json, p->snapshot_path);
        json_key(&v->json, "provider_id");
        json_id(&v->json, &p->provider_id);
        json_key(&v->json, "creation_usec");
        json_uint(&v->json, p->creation_usec);
        json_key(&v->json, "creation_time");
        json_string(&v->json, format_timestamp_iso(ts, p->creation_usec));
        json_key(&v->json, "attributes");
        json_uint(&v->json, p->attributes);
        json_key(&v->json, "context");
        json_int(&v->json, p->context);
        json_end_object(&v->json);
}

static void report_json_bcd_saved(vshadow *v, const char *path, size_t bytes) {
        json_key(&v->json, "bcd_file");
        json_string(&v->json, path);
        json_key(&v->json, "bcd_bytes");
        json_uint(&v->json, bytes);
}

static void report_json_document(vshadow *v) {
        const restore_document *d = &v->doc;

        json_key(&v->json, "document");
        json_begin_object(&v->json);
        json_key(&v->json, "snapshot_set_id");
        json_id(&v->json, &d->snapshot_set_id);
        json_key(&v->json, "select_components");
        json_boolean(&v->json, d->select_components);
        json_key(&v->json, "backup_type");
        json_uint(&v->json, (unsigned) d->backup_type);
        json_key(&v->json, "writers");
        json_begin_array(&v->json);
        for (unsigned i = 0; i < d->n_writers; i++) {
                vss_writer_components *w = d->writers[i];
                const char *wname = NULL, *iname = NULL, *xml = NULL;
                vss_id iid, wid;

                if (!hr_ok(vss_writer_components_get_writer_name(w, &wname, &iname)) ||
                    !hr_ok(vss_writer_components_get_writer_info(w, &iid, &wid)))
                        continue; /* a writer only its components name */
                if (!hr_ok(vss_writer_components_get_writer_metadata_xml(w, &xml)))
                        xml = NULL;
                json_begin_object(&v->json);
                json_key(&v->json, "writer_name");
                json_string(&v->json, wname);
                json_key(&v->json, "writer_id");
                json_id(&v->json, &wid);
                json_key(&v->json, "instance_id");
                json_id(&v->json, &iid);
                json_key(&v->json, "instance_name");
                json_string(&v->json, strnull_if_empty(iname));
                json_key(&v->json, "has_metadata");
                json_boolean(&v->json, xml && *xml);
                json_end_object(&v->json);
        }
        json_end_array(&v->json);
        json_key(&v->json, "components");
        json_begin_array(&v->json);
        for (size_t i = 0; i < d->n_components; i++) {
                const document_component *dc = &d->components[i];
                vss_component *c = dc->c;
                _cleanup_(freep) char *path =
                        component_path(vss_component_get_logical_path(c), vss_component_get_name(c));

                json_begin_object(&v->json);
                json_key(&v->json, "writer_name");
                json_string(&v->json, dc->writer_name);
                json_key(&v->json, "writer_id");
                json_id(&v->json, &dc->writer_id);
                json_key(&v->json, "instance_id");
                json_id(&v->json, &dc->instance_id);
                json_key(&v->json, "component_type");
                json_uint(&v->json, (unsigned) vss_component_get_type(c));
                json_key(&v->json, "logical_path");
                json_string(&v->json, strempty(vss_component_get_logical_path(c)));
                json_key(&v->json, "component_name");
                json_string(&v->json, vss_component_get_name(c));
                json_key(&v->json, "component_path");
                json_string(&v->json, path);
                json_key(&v->json, "backup_succeeded");
                json_boolean(&v->json, vss_component_get_backup_succeeded(c));
                json_key(&v->json, "backup_metadata");
                json_string(&v->json, strnull_if_empty(vss_component_get_backup_metadata(c)));
                json_key(&v->json, "backup_stamp");
                json_string(&v->json, strnull_if_empty(vss_component_get_backup_stamp(c)));
                json_end_object(&v->json);
        }
        json_end_array(&v->json);
        json_end_object(&v->json);
}

const reporter report_json = {
        .run_begin = report_json_run_begin,
        .run_end = report_json_run_end,
        .step_begin = report_json_step_begin,
        .step_end = report_json_step_end,
        .step_done = report_json_step_done,
        .step_info = report_json_step_info,
        .exec_running = report_json_exec_running,
        .exec_resumed = report_json_exec_resumed,
        .exec_status = report_json_exec_status,
        .note = report_json_note,
        .writers_begin = report_json_writers_begin,
        .writer = report_json_writer,
        .writers_end = report_json_writers_end,
        .metadata_begin = report_json_metadata_begin,
        .writer_metadata = report_json_writer_metadata,
        .metadata_end = report_json_metadata_end,
        .component = report_json_component,
        .snapshot = report_json_snapshot,
        .bcd_saved = report_json_bcd_saved,
        .document = report_json_document,
};

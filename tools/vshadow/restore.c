/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the restore sequence (-r / -rs): the document's components through
 * GetWriterComponents.
 */

#include "vshadow.h"

/*
 * The document lvssd loaded for this restore, through the public API
 * (GetWriterComponentsCount / GetWriterComponents). Fills v->doc.
 */
vss_hresult read_document(vshadow *v) {
        restore_document *d = &v->doc;
        unsigned n = 0;
        vss_hresult hr;

        hr = vss_backup_components_get_writer_components_count(v->bc, &n);
        if (hr_ok(hr))
                hr = vss_backup_components_get_document_info(v->bc, &d->snapshot_set_id, &d->select_components,
                                                             &d->backup_type);
        if (!hr_ok(hr))
                return hr;
        d->writers = calloc(n ? n : 1, sizeof *d->writers);
        if (!d->writers)
                return VSS_E_OUTOFMEMORY;
        for (unsigned i = 0; i < n; i++) {
                vss_writer_components *w = NULL;
                const char *wname = NULL;
                vss_id iid, wid;
                unsigned nc = 0;
                document_component *a;

                hr = vss_backup_components_get_writer_components(v->bc, i, &w);
                if (hr_ok(hr))
                        hr = vss_writer_components_get_writer_info(w, &iid, &wid);
                if (hr_ok(hr))
                        hr = vss_writer_components_get_count(w, &nc);
                if (!hr_ok(hr))
                        return hr;
                if (!hr_ok(vss_writer_components_get_writer_name(w, &wname, NULL)))
                        wname = NULL;
                d->writers[d->n_writers++] = w;
                a = reallocarray(d->components, d->n_components + nc ? d->n_components + nc : 1, sizeof *a);
                if (!a)
                        return VSS_E_OUTOFMEMORY;
                d->components = a;
                for (unsigned k = 0; k < nc; k++) {
                        vss_component *c = NULL;

                        hr = vss_writer_components_get_component(w, k, &c);
                        if (!hr_ok(hr))
                                return hr;
                        d->components[d->n_components++] = (document_component) {
                                .instance_id = iid,
                                .writer_id = wid,
                                .writer_name = wname,
                                .c = c,
                        };
                }
        }
        return VSS_S_OK;
}

/*
 * SetSelectedForRestore for every component of the document -wi / -wx
 * leave in. A component whose writer is not running cannot be selected
 * (VSS_E_OBJECT_NOT_FOUND): when it is required that ends the restore,
 * otherwise it is left out and the restore ends with status 1.
 * Returns < 0 to stop, 0 when all went in, 1 when some were left out.
 */
static int select_for_restore(vshadow *v) {
        bool left_out = false;

        for (size_t i = 0; i < v->doc.n_components; i++) {
                const document_component *dc = &v->doc.components[i];
                const struct {
                        vss_id instance_id, writer_id;
                        vss_component_type type;
                        const char *logical_path, *name;
                } comp = {
                        .instance_id = dc->instance_id,
                        .writer_id = dc->writer_id,
                        .type = vss_component_get_type(dc->c),
                        .logical_path = vss_component_get_logical_path(dc->c),
                        .name = vss_component_get_name(dc->c),
                }, *c = &comp;
                const char *wname = dc->writer_name;
                selected_component sc;
                _cleanup_(freep) char *what = NULL;
                bool excluded, named, include, exclude, required;
                vss_hresult hr;

                excluded = writer_excluded(wname, &c->writer_id, &c->instance_id);
                named = writer_named_by_include(wname, &c->writer_id, &c->instance_id);
                component_named(wname, c->logical_path, c->name, &include, &exclude);
                required = named || include;
                if (required && (exclude || excluded)) {
                        _cleanup_(freep) char *path = component_path(c->logical_path, c->name);
                        _cleanup_(freep) char *p = path ? sanitize(path) : NULL;
                        fprintf(stderr, "vshadow: required component '%s' is excluded by -wx\n", strempty(p));
                        return -EINVAL;
                }
                if (excluded || exclude || (have_include_specs() && !required))
                        continue;

                sc = (selected_component) {
                        .instance_id = c->instance_id,
                        .writer_id = c->writer_id,
                        .type = c->type,
                        .writer_name = (char *) strempty(wname),
                        .logical_path = (char *) c->logical_path,
                        .name = (char *) c->name,
                        .required = required,
                };
                what = component_arg(&sc);
                step_begin(v, "SetSelectedForRestore", what);
                hr = step_end(v, vss_set_selected_for_restore(v->bc, &c->writer_id, c->type, c->logical_path, c->name,
                                                              true));
                step_info_component(v, &sc);
                step_done(v);
                if (!hr_ok(hr)) {
                        const char *why = hr == VSS_E_OBJECT_NOT_FOUND ? "its writer is not running" : vss_hresult_text(hr);

                        fprintf(stderr, "vshadow: %s component %s cannot be restored: %s (%s)\n",
                                required ? "required" : "warning:", strempty(what), why, hr_name(hr));
                        if (required || hr != VSS_E_OBJECT_NOT_FOUND)
                                return -ENOENT;
                        left_out = true;
                        continue;
                }
                if (components_add(v, &sc) < 0)
                        return -ENOMEM;
        }
        if (!specs_all_matched(v, "in the document"))
                return -ENOENT;
        return left_out ? 1 : 0;
}

int run_restore(vshadow *v) {
        _cleanup_(freep) char *xml = NULL;
        vss_async *a = NULL;
        vss_hresult hr;
        int exit_status = EXIT_FAILURE, r;
        bool failed = false, pre_failed = false;

        report_run_begin(v, RUN_RESTORE);

        /* The file is read here; lvssd checks it (InitializeForRestore) and GetWriterComponents lists it. */
        step_begin(v, "ReadDocument", arg_restore_file);
        r = read_text_file(arg_restore_file, BCD_FILE_MAX, &xml);
        if (r < 0) {
                const char *why = r == -EFBIG    ? "too large for a Backup Components Document"
                                  : r == -EBADMSG ? "not a text file"
                                                  : strerror(-r);
                step_end_full(v, VSS_E_UNEXPECTED, why);
                step_done(v);
                fprintf(stderr, "vshadow: cannot read %s: %s\n", arg_restore_file, why);
                goto finish;
        }
        step_end(v, VSS_S_OK);
        step_done(v);
        v->bcd_path = realpath(arg_restore_file, NULL);

        hr = open_session(v, xml);
        if (!hr_ok(hr))
                goto finish_release;
        v->set_id = v->doc.snapshot_set_id;
        if (v->doc.n_components == 0) {
                fprintf(stderr, "vshadow: %s holds no components: nothing to restore (a backup without writers saves none)\n",
                        arg_restore_file);
                goto finish_release;
        }

        /* No GatherWriterMetadata: the writers running now are found by PreRestore itself (WS-12). */
        r = select_for_restore(v);
        if (r < 0)
                goto finish_release;
        if (r > 0)
                failed = true;
        if (v->n_components == 0) {
                fprintf(stderr, "vshadow: nothing to restore: no component of %s was selected\n", arg_restore_file);
                goto finish_release;
        }

        step_begin(v, "PreRestore", NULL);
        hr = step_end(v, wait_async(vss_pre_restore(v->bc, &a), &a));
        step_done(v);
        if (!hr_ok(hr)) {
                log_step_failure(v, hr);
                (void) gather_status(v, "PreRestore", false);
                goto finish_release;
        }
        hr = gather_status(v, "PreRestore", false);
        if (!hr_ok(hr)) {
                log_step_failure(v, hr);
                failed = pre_failed = true; /* not knowing is not safe to copy on */
        } else if (report_failed_writers(v) > 0)
                failed = pre_failed = true;

        /* The copy: vshadow copies nothing itself; -exec=COMMAND does it, between PreRestore and PostRestore. */
        v->file_status = VSS_RS_NONE;
        if (pre_failed)
                note(v, "Not copying: a writer failed PreRestore (file restore status VSS_RS_NONE)");
        else if (arg_restore_simulated)
                note(v, arg_exec ? "Simulated restore: -exec is not run, no file is copied (VSS_RS_NONE)"
                                 : "Simulated restore: no file is copied (VSS_RS_NONE)");
        else if (!arg_exec)
                note(v, "No -exec=COMMAND given: vshadow copies no file itself (VSS_RS_NONE)");
        else {
                r = exec_step(v, arg_exec);
                /* A command that could not even start copied nothing. */
                v->file_status = r == 0 ? VSS_RS_ALL : r > 0 ? VSS_RS_FAILED : VSS_RS_NONE;
                if (r != 0)
                        failed = true;
        }

        {
                char what[96];

                snprintf(what, sizeof what, "%s, %zu component%s", restore_status_name(v->file_status),
                         v->n_components, v->n_components == 1 ? "" : "s");
                step_begin(v, "SetFileRestoreStatus", what);
                hr = VSS_S_OK;
                for (size_t i = 0; hr_ok(hr) && i < v->n_components; i++) {
                        selected_component *c = &v->components[i];
                        hr = vss_set_file_restore_status(v->bc, &c->writer_id, c->type, c->logical_path, c->name,
                                                         v->file_status);
                }
                step_end(v, hr);
                step_done(v);
                if (!hr_ok(hr)) {
                        log_step_failure(v, hr);
                        failed = true; /* PostRestore still goes: writers that stopped for PreRestore resume in it */
                }
        }

        step_begin(v, "PostRestore", NULL);
        hr = step_end(v, wait_async(vss_post_restore(v->bc, &a), &a));
        step_done(v);
        if (!hr_ok(hr)) {
                log_step_failure(v, hr);
                failed = true;
        }
        hr = gather_status(v, "PostRestore", false);
        if (!hr_ok(hr)) {
                log_step_failure(v, hr);
                failed = true;
        } else if (report_failed_writers(v) > 0)
                failed = true;

        if (!failed)
                exit_status = EXIT_SUCCESS;

finish_release:
        if (v->bc) {
                check_record(v);
                step_begin(v, "Release", "BackupShutdown");
                v->bc = vss_backup_components_release(v->bc);
                step_end(v, VSS_S_OK);
                step_done(v);
        }

finish:
        warn_record(v, exit_status);
        report_run_end(v, RUN_RESTORE, exit_status);
        return exit_status;
}

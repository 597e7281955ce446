/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the backup sequence (and -ws / -wm, which open a session of their
 * own).
 */

#include "vshadow.h"

vss_hresult open_session(vshadow *v, const char *restore_xml) {
        vss_hresult hr;

        step_begin(v, "CreateBackupComponents", NULL);
        hr = vss_create_backup_components(&v->bc);
        if (hr_ok(hr))
                hr = vss_get_session_id(v->bc, &v->session_id);
        step_end(v, hr);
        if (!hr_ok(hr)) {
                step_done(v);
                log_create_failure(hr);
                return hr;
        }
        step_info_id(v, "session_id", "Session", &v->session_id);
        step_done(v);

        if (restore_xml) {
                step_begin(v, "InitializeForRestore", arg_restore_file);
                hr = step_end(v, vss_initialize_for_restore(v->bc, restore_xml));
                if (hr_ok(hr)) {
                        /* what the document holds, as lvssd loaded it */
                        vss_hresult h = read_document(v);
                        if (hr_ok(h))
                                print_document(v);
                        else {
                                step_done(v);
                                fprintf(stderr, "vshadow: cannot list the components of %s: %s (%s)\n",
                                        arg_restore_file, vss_hresult_text(h), hr_name(h));
                                return h;
                        }
                } else if (hr == VSS_E_INVALID_XML_DOCUMENT) {
                        step_done(v);
                        fprintf(stderr, "vshadow: %s is not a valid Backup Components Document\n", arg_restore_file);
                        return hr;
                }
        } else {
                step_begin(v, "InitializeForBackup", NULL);
                hr = step_end(v, vss_initialize_for_backup(v->bc, NULL));
        }
        step_done(v);
        if (!hr_ok(hr))
                log_step_failure(v, hr);
        return hr;
}

static vss_hresult gather_metadata(vshadow *v, unsigned detail) {
        vss_async *a = NULL;
        vss_hresult hr;

        step_begin(v, "GatherWriterMetadata", NULL);
        hr = step_end(v, wait_async(vss_gather_writer_metadata(v->bc, &a), &a));
        if (!hr_ok(hr)) {
                step_done(v);
                log_step_failure(v, hr);
                return hr;
        }
        v->have_metadata = true;
        hr = print_metadata(v, detail);
        step_done(v);
        if (VSS_FAILED(hr))
                fprintf(stderr, "vshadow: cannot read the writer metadata: %s (%s)\n", vss_hresult_text(hr),
                        hr_name(hr));
        return hr;
}

/* -ws: the status of every writer, from a session of our own. */
int run_writer_status(vshadow *v) {
        vss_async *a = NULL;
        vss_hresult hr;

        hr = vss_create_backup_components(&v->bc);
        if (!hr_ok(hr)) {
                log_create_failure(hr);
                return EXIT_FAILURE;
        }
        hr = vss_initialize_for_backup(v->bc, NULL);
        if (hr_ok(hr))
                hr = wait_async(vss_gather_writer_metadata(v->bc, &a), &a);
        if (!hr_ok(hr)) {
                fprintf(stderr, "vshadow: cannot identify the writers: %s (%s)\n", vss_hresult_text(hr),
                        hr_name(hr));
                return EXIT_FAILURE;
        }
        report_run_begin(v, RUN_STATUS);
        hr = gather_status(v, "GatherWriterMetadata", true);
        if (!hr_ok(hr)) {
                report_run_end(v, RUN_STATUS, EXIT_FAILURE);
                fprintf(stderr, "vshadow: cannot gather the writer status: %s (%s)\n", vss_hresult_text(hr),
                        hr_name(hr));
                return EXIT_FAILURE;
        }
        report_run_end(v, RUN_STATUS, EXIT_SUCCESS);
        return EXIT_SUCCESS;
}

/* -wm, -wm2, -wm3: the writers' metadata. */
int run_writer_metadata(vshadow *v) {
        vss_hresult hr;

        report_run_begin(v, RUN_METADATA);
        hr = open_session(v, NULL);
        if (hr_ok(hr))
                hr = gather_metadata(v, arg_writer_metadata);
        report_run_end(v, RUN_METADATA, hr_ok(hr) ? EXIT_SUCCESS : EXIT_FAILURE);
        return hr_ok(hr) ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * After a failed step: show the writers' status (that is how a requester
 * learns which writer failed and why) unless it was just gathered
 * (@gathered), abort when VSS says so, remove the document -bc wrote.
 */
static void fail_backup(vshadow *v, const char *failed_step, bool gathered) {
        vss_hresult hr;

        if (v->have_metadata && !gathered)
                (void) gather_status(v, failed_step, false);
        if (v->prepared && !v->backup_done) {
                step_begin(v, "AbortBackup", NULL);
                hr = step_end(v, vss_abort_backup(v->bc));
                step_done(v);
                if (!hr_ok(hr))
                        fprintf(stderr, "vshadow: AbortBackup failed too: %s (%s)\n", vss_hresult_text(hr),
                                hr_name(hr));
        }
        remove_bcd(v);
        if (arg_persistent && v->snapshot_done) {
                char set_id[VSS_ID_STRING_MAX];

                vss_id_format(&v->set_id, set_id);
                fprintf(stderr, "vshadow: the persistent shadow copies of set %s are kept; delete them with "
                                "'vssadmin delete shadows --set %s'\n",
                        set_id, set_id);
        }
}

/* Gathers the status after @after; false (and says why) when the gather failed or a required writer failed. */
static bool checkpoint(vshadow *v, const char *after, vss_hresult *ret_hr, bool *ret_required_failed) {
        vss_hresult hr = gather_status(v, after, false);

        *ret_hr = hr;
        *ret_required_failed = false;
        if (!hr_ok(hr))
                return false;
        if (!required_writers_ok(v)) {
                *ret_required_failed = true;
                return false;
        }
        return true;
}

int run_backup(vshadow *v) {
        vss_async *a = NULL;
        vss_hresult hr;
        int exit_status = EXIT_FAILURE;
        const char *failed = NULL;
        bool required_failed = false;

        report_run_begin(v, RUN_BACKUP);

        /* at least one element: calloc(0, ...) may return NULL, read as out of memory */
        v->snapshot_ids = calloc(arg_n_volumes ? arg_n_volumes : 1, sizeof *v->snapshot_ids);
        v->props = calloc(arg_n_volumes ? arg_n_volumes : 1, sizeof *v->props);
        if (!v->snapshot_ids || !v->props) {
                fprintf(stderr, "vshadow: out of memory\n");
                goto finish;
        }

        hr = open_session(v, NULL);
        if (!hr_ok(hr))
                goto finish;

        if (arg_no_writers || arg_persistent || arg_no_auto_recovery) {
                int32_t context = arg_no_writers ? (arg_persistent ? VSS_CTX_NAS_ROLLBACK : VSS_CTX_FILE_SHARE_BACKUP)
                                                 : (arg_persistent ? VSS_CTX_APP_ROLLBACK : VSS_CTX_BACKUP);
                /* -nar: copies without auto-recovery, read-only before PostSnapshot (issue 9 part 2) */
                if (arg_no_auto_recovery)
                        context |= VSS_VOLSNAP_ATTR_NO_AUTORECOVERY;
                char c[32];

                snprintf(c, sizeof c, "0x%08" PRIx32, (uint32_t) context);
                step_begin(v, "SetContext", c);
                hr = step_end(v, vss_set_context(v->bc, context));
                step_done(v);
                if (!hr_ok(hr)) {
                        failed = "SetContext";
                        goto fail;
                }
        }

        step_begin(v, "SetBackupState", v->component_mode ? "full, select components" : "full");
        hr = step_end(v, vss_set_backup_state(v->bc, v->component_mode, false, VSS_BT_FULL, false));
        step_done(v);
        if (!hr_ok(hr)) {
                failed = "SetBackupState";
                goto fail;
        }

        if (!arg_no_writers) {
                hr = gather_metadata(v, 1);
                if (!hr_ok(hr))
                        goto finish_release; /* already reported */
        }

        /* Components before StartSnapshotSet (vss-reference.md §2.1). */
        if (v->component_mode) {
                hr = select_components(v);
                if (!hr_ok(hr))
                        goto finish_release; /* reported; nothing prepared yet, releasing is enough */
        }

        step_begin(v, "StartSnapshotSet", NULL);
        hr = step_end(v, vss_start_snapshot_set(v->bc, &v->set_id));
        if (hr_ok(hr))
                step_info_id(v, "snapshot_set_id", "Snapshot set", &v->set_id);
        step_done(v);
        if (!hr_ok(hr)) {
                failed = "StartSnapshotSet";
                goto fail;
        }

        for (size_t i = 0; i < arg_n_volumes; i++) {
                step_begin(v, "AddToSnapshotSet", arg_volumes[i]);
                hr = step_end(v, vss_add_to_snapshot_set(v->bc, arg_volumes[i], NULL, &v->snapshot_ids[i]));
                if (hr_ok(hr))
                        step_info_id(v, "snapshot_id", "Snapshot", &v->snapshot_ids[i]);
                step_done(v);
                if (!hr_ok(hr)) {
                        failed = "AddToSnapshotSet";
                        goto fail;
                }
        }

        if (!arg_no_writers) {
                step_begin(v, "PrepareForBackup", NULL);
                hr = step_end(v, wait_async(vss_prepare_for_backup(v->bc, &a), &a));
                step_done(v);
                if (!hr_ok(hr)) {
                        failed = "PrepareForBackup";
                        goto fail;
                }
                v->prepared = true;
                if (!checkpoint(v, "PrepareForBackup", &hr, &required_failed)) {
                        failed = "GatherWriterStatus";
                        goto fail;
                }
        }

        step_begin(v, "DoSnapshotSet", NULL);
        hr = step_end(v, wait_async(vss_do_snapshot_set(v->bc, &a), &a));
        step_done(v);
        if (!hr_ok(hr)) {
                /* VSS: after a failed DoSnapshotSet, still AbortBackup (fail_backup does, once prepared). */
                failed = "DoSnapshotSet";
                goto fail;
        }

        v->snapshot_done = true;
        if (!arg_no_writers && !checkpoint(v, "DoSnapshotSet", &hr, &required_failed)) {
                failed = "GatherWriterStatus";
                goto fail;
        }

        for (size_t i = 0; i < arg_n_volumes; i++) {
                char sid[VSS_ID_STRING_MAX];

                vss_id_format(&v->snapshot_ids[i], sid);
                step_begin(v, "GetSnapshotProperties", sid);
                v->props[i].size = sizeof v->props[i];
                hr = step_end(v, vss_get_snapshot_properties(v->bc, &v->snapshot_ids[i], &v->props[i]));
                if (hr_ok(hr)) {
                        v->n_props = i + 1;
                        print_snapshot(v, &v->props[i]);
                }
                step_done(v);
                if (!hr_ok(hr)) {
                        failed = "GetSnapshotProperties";
                        goto fail;
                }
        }

        /*
         * Recorded before the document is saved, so that the document says so; a backup
         * that fails after this point is aborted and its document removed.
         */
        if (v->component_mode && v->n_components > 0) {
                char what[64];

                snprintf(what, sizeof what, "%zu component%s", v->n_components, v->n_components == 1 ? "" : "s");
                step_begin(v, "SetBackupSucceeded", what);
                hr = VSS_S_OK;
                for (size_t i = 0; hr_ok(hr) && i < v->n_components; i++) {
                        selected_component *c = &v->components[i];
                        const writer_record *wr = record_find(v, &c->instance_id);
                        /* A component of a writer that failed (at Thaw, PostSnapshot) was not backed up well. */
                        hr = vss_set_backup_succeeded(v->bc, &c->instance_id, &c->writer_id, c->type,
                                                      c->logical_path, c->name,
                                                      !wr || !record_failed_taking_part(wr));
                }
                step_end(v, hr);
                step_done(v);
                if (!hr_ok(hr)) {
                        failed = "SetBackupSucceeded";
                        goto fail;
                }
        }

        /* After DoSnapshotSet: writers may change the document up to PostSnapshot. */
        if (arg_bcd_file) {
                hr = save_bcd(v);
                if (!hr_ok(hr)) {
                        fail_backup(v, "SaveAsXml", false);
                        goto finish_release;
                }
        }

        if (arg_script) {
                int r;

                step_begin(v, "WriteScript", arg_script);
                r = write_script(v, arg_script);
                step_end_full(v, r < 0 ? VSS_E_UNEXPECTED : VSS_S_OK, r < 0 ? strerror(-r) : NULL);
                step_done(v);
                if (r < 0) {
                        fprintf(stderr, "vshadow: cannot write %s: %s\n", arg_script, strerror(-r));
                        fail_backup(v, "WriteScript", false);
                        goto finish_release;
                }
        }

        if (arg_exec) {
                int r = exec_step(v, arg_exec);

                if (r != 0) {
                        fail_backup(v, "Exec", false);
                        if (r > 0)
                                exit_status = r;
                        goto finish_release;
                }
        }

        if (arg_hold_sec > 0) {
                char s[32];

                snprintf(s, sizeof s, "%u s", arg_hold_sec);
                step_begin(v, "Hold", s);
                hold(arg_hold_sec);
                step_end(v, VSS_S_OK);
                step_done(v);
        }

        if (!arg_no_writers) {
                step_begin(v, "BackupComplete", NULL);
                hr = step_end(v, wait_async(vss_backup_complete(v->bc, &a), &a));
                step_done(v);
                if (!hr_ok(hr)) {
                        failed = "BackupComplete";
                        goto fail;
                }
                v->backup_done = true;
                /* This gather marks the session completed (WS-3). */
                if (!checkpoint(v, "BackupComplete", &hr, &required_failed)) {
                        failed = "GatherWriterStatus";
                        goto fail;
                }
        }

        exit_status = EXIT_SUCCESS;
        goto finish_release;

fail:
        if (!required_failed)
                log_step_failure(v, hr);
        /* After a failed gather or a required writer's failure, the status was just printed. */
        fail_backup(v, failed, required_failed || streq_ptr(failed, "GatherWriterStatus"));

finish_release:
        if (v->bc) {
                check_record(v);
                step_begin(v, "Release", "BackupShutdown");
                v->bc = vss_backup_components_release(v->bc);
                step_end(v, VSS_S_OK);
                step_done(v);
        }

finish:
        /*
         * A sequence that ran to its end although a writer taking part failed (at Thaw,
         * PostSnapshot or BackupComplete, which do not veto the set) is not a good backup
         * of that writer's data: one line per such writer, and exit 1 (issue 8 item 3: the
         * requester acts on writer status). A writer that failed Identify took no part.
         */
        if (exit_status == EXIT_SUCCESS) {
                for (size_t i = 0; i < v->n_records; i++)
                        if (record_failed_taking_part(&v->records[i])) {
                                print_writer_failure("", &v->records[i]);
                                exit_status = EXIT_FAILURE;
                        } else if (record_failed(&v->records[i]))
                                print_writer_failure("warning: ", &v->records[i]);
        }
        warn_record(v, exit_status);
        report_run_end(v, RUN_BACKUP, exit_status);
        return exit_status;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the text reporter: numbered steps as they happen (the step's
 * line first on a terminal, whole when it ends otherwise), the writer
 * blocks of writer-status.md "Display", and a summary.
 */

#include "vshadow.h"

static void report_text_run_begin(vshadow *v, run_kind kind) {
        switch (kind) {
        case RUN_BACKUP:
                printf("%s\n", BANNER);
                printf("Volumes:");
                for (size_t i = 0; i < arg_n_volumes; i++)
                        printf(" %s", arg_volumes[i]);
                printf("%s\n\n", arg_no_writers ? " (no writers)" : v->component_mode ? " (component mode)" : "");
                break;
        case RUN_RESTORE:
                printf("%s\n%s restore from %s\n\n", BANNER, arg_restore_simulated ? "Simulated" : "Real",
                       arg_restore_file);
                break;
        case RUN_METADATA:
        case RUN_STATUS:
                break;
        }
}

static void report_text_summary(vshadow *v, int exit_status) {
        uint64_t total = now_usec(CLOCK_MONOTONIC) - v->start_usec;
        char dur[DURATION_MAX], ts[TIMESTAMP_MAX];
        size_t n_failed = 0;

        for (size_t i = 0; i < v->n_records; i++)
                if (record_failed(&v->records[i]))
                        n_failed++;

        printf("\nSummary:\n");
        if (v->n_records == 0)
                printf("  No writer took part%s.\n", arg_no_writers ? " (-nw)" : "");
        for (size_t i = 0; i < v->n_records; i++) {
                writer_record *r = &v->records[i];
                const char *event = vss_writer_event_name(r->last_event);
                bool first = true;

                fputs("  Writer '", stdout);
                fputs_sanitized(r->writer_name, stdout);
                putchar('\'');
                if (r->instance_name) {
                        fputs(" (instance '", stdout);
                        fputs_sanitized(r->instance_name, stdout);
                        fputs("')", stdout);
                }
                printf("%s: %s[%u] %s%s, last error: %s\n", writer_required(v, &r->instance_id) ? " (required)" : "",
                       r->state == VSS_WS_STABLE || r->state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE
                               ? ansi_highlight_green()
                               : ansi_highlight_red(),
                       (unsigned) r->state, vss_writer_state_text(r->state), ansi_normal(),
                       vss_hresult_text(r->failure));
                if (record_failed(r) && r->application_message) {
                        fputs("     message: ", stdout);
                        fputs_sanitized(r->application_message, stdout);
                        putchar('\n');
                }
                if (event)
                        printf("     last event: %s at %s\n", event, format_timestamp(ts, r->last_event_usec));
                for (unsigned e = 0; e < VSS_EVENT_COUNT; e++) {
                        if (!r->seen[e])
                                continue;
                        printf("%s%s %s", first ? "     time in events: " : ", ",
                               vss_writer_event_name((vss_writer_event) e), format_duration(dur, r->duration_usec[e]));
                        first = false;
                }
                if (!first)
                        putchar('\n');
        }
        if (arg_restore_file)
                printf("  Components selected: %zu, file restore status: %s\n", v->n_components,
                       v->n_components > 0 ? restore_status_name(v->file_status) : "none set");
        else {
                if (v->component_mode)
                        printf("  Components: %zu\n", v->n_components);
                printf("  Shadow copies: %zu\n", v->n_props);
                if (v->bcd_written)
                        printf("  Backup Components Document: %s\n", v->bcd_path ? v->bcd_path : arg_bcd_file);
        }
        if (v->record_known && !v->record_complete) {
                printf("  %sRecord in lvssd's catalog incomplete%s: ", ansi_highlight_red(), ansi_normal());
                fputs_sanitized(v->record_message ? v->record_message : "writer-status history incomplete", stdout);
                putchar('\n');
        }
        printf("  Result: %s%s%s (exit status %d), total %s\n",
               exit_status == 0 ? ansi_highlight_green() : ansi_highlight_red(),
               exit_status == 0 ? "success" : "failure", ansi_normal(), exit_status, format_duration(dur, total));
        if (exit_status == 0 && n_failed > 0)
                printf("  %s%zu writer%s failed%s: %s data in the shadow copies may not be consistent\n",
                       ansi_highlight_red(), n_failed, n_failed == 1 ? "" : "s", ansi_normal(),
                       n_failed == 1 ? "its" : "their");
}

static void report_text_run_end(vshadow *v, run_kind kind, int exit_status) {
        if (kind == RUN_BACKUP || kind == RUN_RESTORE)
                report_text_summary(v, exit_status);
        else if (kind == RUN_STATUS && exit_status == EXIT_SUCCESS && v->n_records == 0)
                printf("No writers are subscribed.\n");
}

static void report_text_step_begin(vshadow *v) {
        if (v->tty) {
                printf("[%u] %s%s%s: ", v->step_no, v->step_name, v->step_arg_given ? " " : "", v->step_arg);
                fflush(stdout);
        }
}

static void report_text_step_end(vshadow *v, vss_hresult hr, const char *why, uint64_t d) {
        char dur[DURATION_MAX];
        bool ok = hr_ok(hr);

        if (!v->tty)
                printf("[%u] %s%s%s: ", v->step_no, v->step_name, *v->step_arg ? " " : "", v->step_arg);
        if (ok)
                printf("%sok%s (%s)\n", ansi_highlight_green(), ansi_normal(), format_duration(dur, d));
        else if (why)
                printf("%sFAILED%s (%s): %s\n", ansi_highlight_red(), ansi_normal(), format_duration(dur, d), why);
        else
                printf("%sFAILED%s (%s): %s (0x%08" PRIX32 "): %s\n", ansi_highlight_red(), ansi_normal(),
                       format_duration(dur, d), hr_name(hr), (uint32_t) hr, vss_hresult_text(hr));
}

static void report_text_step_done(vshadow *v) {
}

static void report_text_step_info(vshadow *v, const char *key, const char *label, const char *value) {
        printf("    %s: %s\n", label, strempty(value));
}

static void report_text_exec_running(vshadow *v, const char *command) {
        if (!v->tty)
                printf("[%u] Exec %s: running\n", v->step_no, command);
        else
                printf("running\n");
}

static void report_text_exec_resumed(vshadow *v, const char *command) {
        if (v->tty)
                printf("[%u] Exec %s: ", v->step_no, command);
}

static void report_text_exec_status(vshadow *v, int r) {
}

static void report_text_note(vshadow *v, const char *text) {
        printf("    %s\n", text);
}

static void report_text_writers_begin(vshadow *v, const char *after, unsigned n, bool bare) {
        if (!bare)
                printf("    Writer status after %s: %u writer%s\n", after, n, n == 1 ? "" : "s");
}

static void report_text_writer(vshadow *v, const output_writer *w, unsigned index, bool bare) {
        if (!bare || index > 0)
                putchar('\n');
        output_writer_block(stdout, w);
}

static void report_text_writers_end(vshadow *v, unsigned n, bool bare) {
        if (!bare && n > 0)
                putchar('\n');
}

static void report_text_metadata_begin(vshadow *v, unsigned n) {
        printf("    %u writer%s identified%s\n", n, n == 1 ? "" : "s", n > 0 ? ":" : "");
}

static void report_text_metadata_end(vshadow *v) {
}

static const char *usage_name(vss_usage_type u) {
        static const char *const names[] = {
                [VSS_UT_UNDEFINED] = "undefined",
                [VSS_UT_BOOTABLESYSTEMSTATE] = "bootable system state",
                [VSS_UT_SYSTEMSERVICE] = "system service",
                [VSS_UT_USERDATA] = "user data",
                [VSS_UT_OTHER] = "other",
        };
        return (unsigned) u < ELEMENTSOF(names) ? names[u] : "unknown";
}

static const char *source_name(vss_source_type s) {
        static const char *const names[] = {
                [VSS_ST_UNDEFINED] = "undefined",
                [VSS_ST_TRANSACTEDDB] = "transacted database",
                [VSS_ST_NONTRANSACTEDDB] = "non-transacted database",
                [VSS_ST_OTHER] = "other",
        };
        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "unknown";
}

static const char *component_type_name(vss_component_type t) {
        switch (t) {
        case VSS_CT_DATABASE:
                return "database";
        case VSS_CT_FILEGROUP:
                return "file group";
        default:
                return "undefined";
        }
}

static const char *restore_method_name(vss_restoremethod m) {
        static const char *const names[] = {
                [VSS_RME_UNDEFINED] = "undefined",
                [VSS_RME_RESTORE_IF_NOT_THERE] = "restore if not there",
                [VSS_RME_RESTORE_IF_CAN_REPLACE] = "restore if can replace",
                [VSS_RME_STOP_RESTORE_START] = "stop, restore, start",
                [VSS_RME_RESTORE_TO_ALTERNATE_LOCATION] = "restore to alternate location",
                [VSS_RME_RESTORE_AT_REBOOT] = "restore at reboot",
                [VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE] = "restore at reboot if cannot replace",
                [VSS_RME_CUSTOM] = "custom",
                [VSS_RME_RESTORE_STOP_START] = "restore, stop, start",
        };
        return (unsigned) m < ELEMENTSOF(names) ? names[m] : "unknown";
}

static void print_file_descs(const char *label, const vss_file_desc *files, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                const vss_file_desc *f = &files[i];
                const char *path = strempty(f->path);
                size_t l = strlen(path);

                printf("          %s: ", label);
                fputs_sanitized(path, stdout);
                if (l > 0 && path[l - 1] != '/')
                        putchar('/');
                fputs_sanitized(f->filespec, stdout);
                if (f->recursive)
                        fputs(" (recursive)", stdout);
                if (f->alternate_location) {
                        fputs(" -> ", stdout);
                        fputs_sanitized(f->alternate_location, stdout);
                }
                putchar('\n');
        }
}

static vss_hresult report_text_writer_metadata(vshadow *v, const metadata_view *w, unsigned detail) {
        vss_examine_writer_metadata *md = w->md;
        const char *name = w->name, *instance_name = w->instance_name;
        unsigned n_components = w->n_components, n_exclude = w->n_exclude;
        char wid[VSS_ID_STRING_MAX], iid[VSS_ID_STRING_MAX];
        vss_hresult hr;

        vss_id_format(&w->writer_id, wid);
        vss_id_format(&w->instance_id, iid);
        fputs("    * Writer '", stdout);
        fputs_sanitized(name, stdout);
        putchar('\'');
        if (instance_name && *instance_name) {
                fputs(" (instance '", stdout);
                fputs_sanitized(instance_name, stdout);
                fputs("')", stdout);
        }
        printf("\n       Writer Id: %s\n       Writer Instance Id: %s\n", wid, iid);
        printf("       Usage: %s; source: %s; %u component%s\n", usage_name(w->usage), source_name(w->source),
               n_components, n_components == 1 ? "" : "s");

        for (unsigned c = 0; c < n_components; c++) {
                const vss_component_info *ci = NULL;

                hr = vss_examine_writer_metadata_get_component(md, c, &ci);
                if (VSS_FAILED(hr))
                        return hr;
                fputs("       Component '", stdout);
                if (ci->logical_path && *ci->logical_path) {
                        fputs_sanitized(ci->logical_path, stdout);
                        putchar('\\');
                }
                fputs_sanitized(ci->component_name, stdout);
                printf("' (%s)", component_type_name(ci->type));
                if (ci->caption && *ci->caption) {
                        fputs(", caption '", stdout);
                        fputs_sanitized(ci->caption, stdout);
                        putchar('\'');
                }
                putchar('\n');
                print_file_descs("database file", ci->databases, ci->database_count);
                print_file_descs("log file", ci->log_files, ci->log_file_count);
                print_file_descs("file", ci->files, ci->file_count);
                if (detail >= 2)
                        printf("          selectable: %s, selectable for restore: %s, flags 0x%" PRIx32
                               ", %u dependenc%s\n",
                               ci->selectable ? "yes" : "no", ci->selectable_for_restore ? "yes" : "no",
                               ci->component_flags, ci->dependency_count, ci->dependency_count == 1 ? "y" : "ies");
        }

        if (detail >= 2) {
                vss_restoremethod method;
                const char *service = NULL, *user_procedure = NULL;
                vss_writerrestore writer_restore;
                bool reboot;
                uint32_t schema = 0;

                if (VSS_SUCCEEDED(vss_examine_writer_metadata_get_restore_method(md, &method, &service,
                                                                                 &user_procedure, &writer_restore,
                                                                                 &reboot)))
                        printf("       Restore method: %s%s%s%s\n", restore_method_name(method),
                               service && *service ? ", service " : "", service && *service ? service : "",
                               reboot ? ", reboot required" : "");
                if (VSS_SUCCEEDED(vss_examine_writer_metadata_get_backup_schema(md, &schema)))
                        printf("       Backup schema: 0x%08" PRIx32 "\n", schema);
                for (unsigned e = 0; e < n_exclude; e++) {
                        const vss_file_desc *f = NULL;
                        if (VSS_SUCCEEDED(vss_examine_writer_metadata_get_exclude_file(md, e, &f)))
                                print_file_descs("excluded", f, 1);
                }
        }
        if (detail >= 3) {
                _cleanup_(freep) char *xml = NULL;
                hr = vss_examine_writer_metadata_save_as_xml(md, &xml);
                if (VSS_FAILED(hr))
                        return hr;
                printf("       Writer Metadata Document:\n%s\n", xml);
        }
        return VSS_S_OK;
}

static void report_text_component(vshadow *v, const selected_component *c) {
}

static void report_text_snapshot(vshadow *v, const vss_snapshot_prop *p) {
        char id[VSS_ID_STRING_MAX], provider[VSS_ID_STRING_MAX], ts[TIMESTAMP_MAX];

        vss_id_format(&p->snapshot_id, id);
        vss_id_format(&p->provider_id, provider);
        printf("    Snapshot Id: %s\n", id);
        printf("       Original volume: %s\n", strempty(p->original_volume));
        printf("       Snapshot path: %s\n", strempty(p->snapshot_path));
        printf("       Provider Id: %s\n", provider);
        printf("       Created: %s\n", format_timestamp(ts, p->creation_usec));
        printf("       Attributes: 0x%08" PRIx32 " (%s), context 0x%08" PRIx32 "\n", p->attributes,
               p->attributes & VSS_VOLSNAP_ATTR_PERSISTENT ? "persistent" : "auto-release", (uint32_t) p->context);
}

static void report_text_bcd_saved(vshadow *v, const char *path, size_t bytes) {
        printf("    Backup Components Document: %s (%zu bytes, with %zu component%s and the writers' "
               "metadata)\n",
               path, bytes, v->n_components, v->n_components == 1 ? "" : "s");
}

static void report_text_document(vshadow *v) {
        const restore_document *d = &v->doc;
        size_t n_named = 0;
        char set_id[VSS_ID_STRING_MAX];

        vss_id_format(&d->snapshot_set_id, set_id);
        for (unsigned i = 0; i < d->n_writers; i++)
                if (hr_ok(vss_writer_components_get_writer_name(d->writers[i], NULL, NULL)))
                        n_named++;
        printf("    Document: %zu writer%s, %zu component%s, snapshot set %s\n", n_named, n_named == 1 ? "" : "s",
               d->n_components, d->n_components == 1 ? "" : "s",
               vss_id_is_null(&d->snapshot_set_id) ? "none" : set_id);
        for (size_t i = 0; i < d->n_components; i++) {
                const document_component *dc = &d->components[i];
                vss_component *c = dc->c;
                const char *metadata = vss_component_get_backup_metadata(c), *stamp = vss_component_get_backup_stamp(c);
                _cleanup_(freep) char *path =
                        component_path(vss_component_get_logical_path(c), vss_component_get_name(c));

                fputs("    * Writer '", stdout);
                fputs_sanitized(dc->writer_name ? dc->writer_name : "?", stdout);
                fputs("' component ", stdout);
                fputs_sanitized(path, stdout);
                printf(" (%s)%s\n", component_type_short(vss_component_get_type(c)),
                       vss_component_get_backup_succeeded(c) ? "" : ", backup not confirmed");
                if (metadata && *metadata) {
                        fputs("       Backup metadata: ", stdout);
                        fputs_sanitized(metadata, stdout);
                        putchar('\n');
                }
                if (stamp && *stamp) {
                        fputs("       Backup stamp: ", stdout);
                        fputs_sanitized(stamp, stdout);
                        putchar('\n');
                }
        }
}

const reporter report_text = {
        .run_begin = report_text_run_begin,
        .run_end = report_text_run_end,
        .step_begin = report_text_step_begin,
        .step_end = report_text_step_end,
        .step_done = report_text_step_done,
        .step_info = report_text_step_info,
        .exec_running = report_text_exec_running,
        .exec_resumed = report_text_exec_resumed,
        .exec_status = report_text_exec_status,
        .note = report_text_note,
        .writers_begin = report_text_writers_begin,
        .writer = report_text_writer,
        .writers_end = report_text_writers_end,
        .metadata_begin = report_text_metadata_begin,
        .writer_metadata = report_text_writer_metadata,
        .metadata_end = report_text_metadata_end,
        .component = report_text_component,
        .snapshot = report_text_snapshot,
        .bcd_saved = report_text_bcd_saved,
        .document = report_text_document,
};

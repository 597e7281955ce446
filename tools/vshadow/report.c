/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — reporting: the numbered steps and what they show, as text or as
 * JSON (--json).
 */

#include "vshadow.h"

/* ---- steps ----------------------------------------------------------------- */

void step_begin(vshadow *v, const char *name, const char *arg) {
        v->step_no++;
        v->step_name = name;
        snprintf(v->step_arg, sizeof v->step_arg, "%s", strempty(arg));
        if (!arg_json && v->tty) {
                printf("[%u] %s%s%s: ", v->step_no, name, arg ? " " : "", strempty(arg));
                fflush(stdout);
        }
        v->step_start = now_usec(CLOCK_MONOTONIC);
}

/*
 * Prints the outcome of the running step. In JSON the step's object is left
 * open for step_info() and closed by step_done().
 */
vss_hresult step_end_full(vshadow *v, vss_hresult hr, const char *why) {
        uint64_t d = now_usec(CLOCK_MONOTONIC) - v->step_start;
        char dur[DURATION_MAX];
        bool ok = hr_ok(hr);

        if (arg_json) {
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
                return hr;
        }

        if (!v->tty)
                printf("[%u] %s%s%s: ", v->step_no, v->step_name, *v->step_arg ? " " : "", v->step_arg);
        if (ok)
                printf("%sok%s (%s)\n", ansi_highlight_green(), ansi_normal(), format_duration(dur, d));
        else if (why)
                printf("%sFAILED%s (%s): %s\n", ansi_highlight_red(), ansi_normal(), format_duration(dur, d), why);
        else
                printf("%sFAILED%s (%s): %s (0x%08" PRIX32 "): %s\n", ansi_highlight_red(), ansi_normal(),
                       format_duration(dur, d), hr_name(hr), (uint32_t) hr, vss_hresult_text(hr));
        return hr;
}

vss_hresult step_end(vshadow *v, vss_hresult hr) {
        return step_end_full(v, hr, NULL);
}

void step_done(vshadow *v) {
        if (arg_json)
                json_end_object(&v->json);
}

static void step_info(vshadow *v, const char *key, const char *label, const char *value) {
        if (arg_json) {
                json_key(&v->json, key);
                json_string(&v->json, value);
        } else
                printf("    %s: %s\n", label, strempty(value));
}

void step_info_id(vshadow *v, const char *key, const char *label, const vss_id *id) {
        char s[VSS_ID_STRING_MAX];

        vss_id_format(id, s);
        step_info(v, key, label, s);
}

/* A failed step: the one clear line on stderr. */
void log_step_failure(vshadow *v, vss_hresult hr) {
        fprintf(stderr, "vshadow: %s failed: %s (%s, 0x%08" PRIX32 ")\n", v->step_name, vss_hresult_text(hr),
                hr_name(hr), (uint32_t) hr);
}

/* ---- writer metadata ------------------------------------------------------- */

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

/* One writer's metadata document, at the detail -wm / -wm2 / -wm3 asks (1 for the backup run). */
static vss_hresult print_one_metadata(vshadow *v, unsigned index, unsigned detail) {
        vss_examine_writer_metadata *md = NULL;
        vss_id instance_id, writer_id, id_again;
        const char *name = NULL, *instance_name = NULL;
        vss_usage_type usage;
        vss_source_type source;
        unsigned n_include = 0, n_exclude = 0, n_components = 0;
        char wid[VSS_ID_STRING_MAX], iid[VSS_ID_STRING_MAX];
        vss_hresult hr;

        hr = vss_get_writer_metadata(v->bc, index, &instance_id, &md);
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_examine_writer_metadata_get_identity(md, &id_again, &writer_id, &name, &instance_name, &usage,
                                                      &source);
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_examine_writer_metadata_get_file_counts(md, &n_include, &n_exclude, &n_components);
        if (VSS_FAILED(hr))
                return hr;
        vss_id_format(&writer_id, wid);
        vss_id_format(&instance_id, iid);

        if (arg_json) {
                json_begin_object(&v->json);
                json_key(&v->json, "writer_name");
                json_string(&v->json, name);
                json_key(&v->json, "writer_id");
                json_id(&v->json, &writer_id);
                json_key(&v->json, "instance_id");
                json_id(&v->json, &instance_id);
                json_key(&v->json, "instance_name");
                json_string(&v->json, strnull_if_empty(instance_name));
                json_key(&v->json, "usage");
                json_uint(&v->json, (unsigned) usage);
                json_key(&v->json, "source");
                json_uint(&v->json, (unsigned) source);
                json_key(&v->json, "components");
                json_begin_array(&v->json);
        } else {
                fputs("    * Writer '", stdout);
                fputs_sanitized(name, stdout);
                putchar('\'');
                if (instance_name && *instance_name) {
                        fputs(" (instance '", stdout);
                        fputs_sanitized(instance_name, stdout);
                        fputs("')", stdout);
                }
                printf("\n       Writer Id: %s\n       Writer Instance Id: %s\n", wid, iid);
                printf("       Usage: %s; source: %s; %u component%s\n", usage_name(usage), source_name(source),
                       n_components, n_components == 1 ? "" : "s");
        }

        for (unsigned c = 0; c < n_components; c++) {
                const vss_component_info *ci = NULL;

                hr = vss_examine_writer_metadata_get_component(md, c, &ci);
                if (VSS_FAILED(hr))
                        return hr;
                if (arg_json) {
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
                        continue;
                }
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

        if (arg_json) {
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

vss_hresult print_metadata(vshadow *v, unsigned detail) {
        unsigned n = 0;
        vss_hresult hr;

        hr = vss_get_writer_metadata_count(v->bc, &n);
        if (VSS_FAILED(hr))
                return hr;
        if (arg_json) {
                json_key(&v->json, "writers");
                json_begin_array(&v->json);
        } else
                printf("    %u writer%s identified%s\n", n, n == 1 ? "" : "s", n > 0 ? ":" : "");
        for (unsigned i = 0; i < n; i++) {
                hr = print_one_metadata(v, i, detail);
                if (VSS_FAILED(hr))
                        break;
        }
        if (arg_json)
                json_end_array(&v->json);
        return hr;
}

void step_info_component(vshadow *v, const selected_component *c) {
        _cleanup_(freep) char *path = component_path(c->logical_path, c->name);

        if (arg_json) {
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
}

void print_snapshot(vshadow *v, const vss_snapshot_prop *p) {
        char id[VSS_ID_STRING_MAX], provider[VSS_ID_STRING_MAX], ts[TIMESTAMP_MAX];

        vss_id_format(&p->snapshot_id, id);
        vss_id_format(&p->provider_id, provider);
        if (arg_json) {
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
                return;
        }
        printf("    Snapshot Id: %s\n", id);
        printf("       Original volume: %s\n", strempty(p->original_volume));
        printf("       Snapshot path: %s\n", strempty(p->snapshot_path));
        printf("       Provider Id: %s\n", provider);
        printf("       Created: %s\n", format_timestamp(ts, p->creation_usec));
        printf("       Attributes: 0x%08" PRIx32 " (%s), context 0x%08" PRIx32 "\n", p->attributes,
               p->attributes & VSS_VOLSNAP_ATTR_PERSISTENT ? "persistent" : "auto-release", (uint32_t) p->context);
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

void print_summary(vshadow *v, int exit_status) {
        uint64_t total = now_usec(CLOCK_MONOTONIC) - v->start_usec;
        char dur[DURATION_MAX], ts[TIMESTAMP_MAX];
        size_t n_failed = 0;

        for (size_t i = 0; i < v->n_records; i++)
                if (record_failed(&v->records[i]))
                        n_failed++;

        if (arg_json) {
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
                return;
        }

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

/* What the document holds, under the InitializeForRestore step. */
void print_document(vshadow *v) {
        const restore_document *d = &v->doc;
        size_t n_named = 0;
        char set_id[VSS_ID_STRING_MAX];

        vss_id_format(&d->snapshot_set_id, set_id);
        if (arg_json) {
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
                return;
        }

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

void note(vshadow *v, const char *text) {
        if (!arg_json)
                printf("    %s\n", text);
}

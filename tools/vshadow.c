/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the requester tool (mirrors vshadow.exe), written on the public
 * API only: it is also the worked example of a backup application.
 *
 * The default run is the whole backup sequence of writer-status.md, one
 * numbered step per call, each with its duration, and the writer status
 * gathered where the seed document says a requester should look (after
 * PrepareForBackup, DoSnapshotSet and BackupComplete; the last gather is
 * what marks the session completed, WS-3). A step that fails ends the run
 * the way VSS asks: once PrepareForBackup has succeeded the backup is
 * aborted (AbortBackup) before the object is released; before it, releasing
 * is enough.
 *
 * Component mode. By default vshadow backs up the way a simple requester
 * does: no component selection, every writer that identified takes part.
 * -wi / -wx (include / exclude a writer or component) and -bc (save the
 * Backup Components Document) switch to component mode instead: every
 * component of the included writers is added with AddComponent, because a
 * document without components gives a restore nothing to select. A writer
 * named by -wi is *required*: when it did not identify, or its status shows
 * a failure after any step, the backup is aborted and nothing is kept that
 * the backup made (the document written by -bc is removed, auto-release
 * shadow copies go with the session).
 *
 * -bc saves the document after DoSnapshotSet (writers store their backup
 * metadata and stamps in it up to PostSnapshot) and before -exec runs, so
 * that COMMAND can store it with the backup, as vshadow.exe does. The
 * components are marked succeeded (SetBackupSucceeded) just before it is
 * saved: if the backup fails after that, the document is removed, so a
 * document that stays describes a backup that completed.
 *
 * Restore (-r / -rs) reads a saved document and runs the restore sequence
 * of writer-status.md: InitializeForRestore, SetSelectedForRestore for its
 * components, PreRestore, the copy (-exec=COMMAND, which vshadow runs in
 * place of copying: it cannot know how an application's files go back),
 * SetFileRestoreStatus, PostRestore, with the writer status after
 * PreRestore and after PostRestore. Which components the document holds is
 * read with the internal BCD parser; everything else goes through the
 * public API.
 *
 * Options follow vshadow.exe (-nw, -ws, -t=SECONDS, -exec=COMMAND, ...);
 * the lvss ones are GNU-style (--socket, --json, --help, --version).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lvss/vss.h>

#include "common/abi.h"
#include "common/bcd.h"
#include "common/strv.h"
#include "common/util.h"
#include "config.h"
#include "protocol/socket-path.h"
#include "output.h"

#define BANNER "vshadow 0.1 - lvss shadow copy requester tool"

#define EXIT_USAGE 2

extern char **environ;

static bool arg_json = false;
static bool arg_no_writers = false;
static bool arg_writer_status_only = false;
static unsigned arg_writer_metadata = 0; /* -wm 1, -wm2 2, -wm3 3 */
static bool arg_persistent = false;
static bool arg_no_auto_recovery = false;
static unsigned arg_hold_sec = 0;
static const char *arg_exec = NULL;
static const char *arg_script = NULL;
static char **arg_volumes = NULL; /* resolved absolute paths */
static size_t arg_n_volumes = 0;
static const char *arg_bcd_file = NULL;     /* -bc=FILE */
static const char *arg_restore_file = NULL; /* -r=FILE / -rs=FILE */
static bool arg_restore_simulated = false;  /* -rs */

/* -wi=WRITER / -wx=WRITER: a writer name, writer id, instance id or component path. */
typedef struct writer_spec {
        const char *text;
        bool include; /* -wi; else -wx */
        bool matched;
} writer_spec;

static writer_spec *arg_specs = NULL;
static size_t arg_n_specs = 0;

/* Documents are read whole; a BCD is at most 4 MiB (docs/documents.md), give it room. */
#define BCD_FILE_MAX ((size_t) 8 * 1024 * 1024)

/* What vshadow learned about one writer over the run, for the final summary. */
typedef struct writer_record {
        vss_id instance_id;
        char *writer_name;
        char *instance_name;
        vss_writer_state state;
        vss_hresult failure;
        vss_writer_event last_event;
        uint64_t last_event_usec;
        char *application_message;
        bool reported; /* its failure was named on stderr */
        bool seen[VSS_EVENT_COUNT];
        uint64_t duration_usec[VSS_EVENT_COUNT];
} writer_record;

/* A component vshadow selected: added for backup, or selected for restore. */
typedef struct selected_component {
        vss_id instance_id; /* backup: this session's; restore: the document's */
        vss_id writer_id;
        vss_component_type type;
        char *writer_name;
        char *logical_path; /* "" for the root */
        char *name;
        bool required;      /* named by -wi, or its writer is */
} selected_component;

typedef struct vshadow {
        vss_backup_components *bc;
        json_writer json;
        bool tty;

        unsigned step_no;
        const char *step_name;
        char step_arg[PATH_MAX + 64];
        uint64_t step_start;

        bool prepared;      /* PrepareForBackup succeeded: a failure must AbortBackup */
        bool snapshot_done; /* DoSnapshotSet succeeded: the shadow copies exist */
        bool backup_done;   /* BackupComplete succeeded: no abort */
        bool have_metadata; /* writers identified: status gathers make sense */

        vss_id session_id;
        vss_id set_id;
        vss_id *snapshot_ids;
        vss_snapshot_prop *props;
        size_t n_props;

        writer_record *records;
        size_t n_records;
        uint64_t start_usec;

        /* component mode: -wi, -wx, -bc (backup) and restore */
        bool component_mode;
        selected_component *components;
        size_t n_components;
        vss_id *required; /* instance ids of the writers -wi requires (backup) */
        size_t n_required;
        char *bcd_path;    /* absolute path of the document: -bc after saving it, -r / -rs */
        bool bcd_written;  /* -bc wrote it in this run: remove it when the backup fails */
        vss_file_restore_status file_status; /* restore: what SetFileRestoreStatus said */

        /* issue 8 item 6: lvssd's record of the session (asked before Release) */
        bool record_known;
        vss_hresult record_hr; /* why it is not known */
        bool record_complete;
        char *record_message; /* what was lost, when incomplete */
} vshadow;

static bool hr_ok(vss_hresult hr) {
        return VSS_SUCCEEDED(hr) && hr != VSS_S_ASYNC_CANCELLED && hr != VSS_S_ASYNC_PENDING;
}

static const char *hr_name(vss_hresult hr) {
        const char *n = vss_hresult_name(hr);
        return n ? n : "unknown code";
}

/*
 * Waits for an async operation started with result @hr and releases it.
 * @a is passed by address: it is read only after the call that sets it
 * (the order in which arguments are evaluated is unspecified in C).
 */
static vss_hresult wait_async(vss_hresult hr, vss_async **a) {
        if (VSS_SUCCEEDED(hr))
                hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

/* ---- the socket, for error messages only -------------------------------- */

/* Why the socket cannot be reached, in the words of connect(2). */
static const char *socket_problem(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -1;

        if (strlen(path) >= sizeof sa.sun_path)
                return strerror(ENAMETOOLONG);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return strerror(errno);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return strerror(errno);
        return "the connection was refused by lvssd";
}

static void log_create_failure(vss_hresult hr) {
        _cleanup_(freep) char *path = NULL;

        if (hr == VSS_E_WRITER_INFRASTRUCTURE) {
                /* where the library connected: the one rule, socket-path.h */
                int r = lvss_socket_path(&path);
                if (r == -ENXIO)
                        fprintf(stderr, "vshadow: cannot find lvssd: $XDG_RUNTIME_DIR is not set "
                                        "(use --socket or $LVSS_SOCKET)\n");
                else if (r < 0)
                        fprintf(stderr, "vshadow: cannot reach lvssd: %s\n", strerror(-r));
                else
                        fprintf(stderr, "vshadow: cannot reach lvssd at %s: %s\n", path, socket_problem(path));
        } else if (hr == VSS_E_ACCESSDENIED)
                fprintf(stderr, "vshadow: lvssd refused the session: %s (a requester must be root or in the "
                                "backup group)\n",
                        vss_hresult_text(hr));
        else
                fprintf(stderr, "vshadow: cannot open a session with lvssd: %s (%s)\n", vss_hresult_text(hr),
                        hr_name(hr));
}

/* ---- steps ----------------------------------------------------------------- */

static void step_begin(vshadow *v, const char *name, const char *arg) {
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
static vss_hresult step_end_full(vshadow *v, vss_hresult hr, const char *why) {
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
                json_bool(&v->json, ok);
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

static vss_hresult step_end(vshadow *v, vss_hresult hr) {
        return step_end_full(v, hr, NULL);
}

static void step_done(vshadow *v) {
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

static void step_info_id(vshadow *v, const char *key, const char *label, const vss_id *id) {
        char s[VSS_ID_STRING_MAX];

        vss_id_format(id, s);
        step_info(v, key, label, s);
}

/* A failed step: the one clear line on stderr. */
static void log_step_failure(vshadow *v, vss_hresult hr) {
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
                json_bool(j, files[i].recursive);
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
                        json_bool(&v->json, ci->selectable);
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

static vss_hresult print_metadata(vshadow *v, unsigned detail) {
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
static vss_hresult gather_status(vshadow *v, const char *after, bool bare) {
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

        if (arg_json) {
                json_key(&v->json, "writers");
                json_begin_array(&v->json);
        } else if (!bare)
                printf("    Writer status after %s: %u writer%s\n", after, n, n == 1 ? "" : "s");

        for (unsigned i = 0; i < n; i++) {
                output_writer w = { .status.size = sizeof(vss_writer_status) };

                hr = vss_get_writer_status(v->bc, i, &w.status);
                if (VSS_FAILED(hr)) {
                        fprintf(stderr, "vshadow: cannot read writer status %u: %s (%s)\n", i, vss_hresult_text(hr),
                                hr_name(hr));
                        break;
                }
                record_status(v, &w.status);
                if (arg_json) {
                        json_begin_object(&v->json);
                        json_writer_members(&v->json, &w);
                        json_end_object(&v->json);
                } else {
                        if (!bare || i > 0)
                                putchar('\n');
                        output_writer_block(stdout, &w);
                }
        }
        if (arg_json)
                json_end_array(&v->json);
        else if (!bare && n > 0)
                putchar('\n');
        vss_free_writer_status(v->bc);
        if (!bare)
                step_done(v);
        return hr_ok(hr) ? VSS_S_OK : hr;
}

/* ---- -exec and -script ------------------------------------------------------ */

static char *shell_quote(const char *s) {
        size_t n = 2;
        char *q, *p;

        for (const char *c = s; *c; c++)
                n += *c == '\'' ? 4 : 1;
        q = malloc(n + 1);
        if (!q)
                return NULL;
        p = q;
        *p++ = '\'';
        for (const char *c = s; *c; c++) {
                if (*c == '\'') {
                        memcpy(p, "'\\''", 4);
                        p += 4;
                } else
                        *p++ = *c;
        }
        *p++ = '\'';
        *p = 0;
        return q;
}

static bool env_is_ours(const char *e) {
        return strncmp(e, "LVSS_SHADOW_", 12) == 0 || strncmp(e, "LVSS_SNAPSHOT_SET_ID=", 21) == 0 ||
               strncmp(e, "LVSS_BCD=", 9) == 0 || strncmp(e, "LVSS_RESTORE=", 13) == 0;
}

/*
 * The environment of the command: ours, minus stale variables of our own,
 * plus this run's. Backup: LVSS_SHADOW_<n>, LVSS_SNAPSHOT_SET_ID and, with
 * -bc, LVSS_BCD. Restore: LVSS_RESTORE=1, LVSS_BCD and the set id the
 * document names (when it names one).
 */
static char **build_exec_env(vshadow *v) {
        size_t n_env = 0, k = 0;
        char set_id[VSS_ID_STRING_MAX];
        bool restore = arg_restore_file != NULL;
        char **env;

        for (char **e = environ; e && *e; e++)
                n_env++;
        env = calloc(n_env + v->n_props + 4, sizeof *env);
        if (!env)
                return NULL;
        for (char **e = environ; e && *e; e++) {
                if (env_is_ours(*e))
                        continue;
                env[k] = strdup(*e);
                if (!env[k])
                        goto fail;
                k++;
        }
        for (size_t i = 0; !restore && i < v->n_props; i++) {
                if (asprintf(&env[k], "LVSS_SHADOW_%zu=%s", i + 1, strempty(v->props[i].snapshot_path)) < 0) {
                        env[k] = NULL;
                        goto fail;
                }
                k++;
        }
        if (!restore || !vss_id_is_null(&v->set_id)) {
                vss_id_format(&v->set_id, set_id);
                if (asprintf(&env[k], "LVSS_SNAPSHOT_SET_ID=%s", set_id) < 0) {
                        env[k] = NULL;
                        goto fail;
                }
                k++;
        }
        if (v->bcd_path) {
                if (asprintf(&env[k], "LVSS_BCD=%s", v->bcd_path) < 0) {
                        env[k] = NULL;
                        goto fail;
                }
                k++;
        }
        if (restore) {
                env[k] = strdup("LVSS_RESTORE=1");
                if (!env[k])
                        goto fail;
                k++;
        }
        return env;
fail:
        strv_free(env);
        return NULL;
}

/* Runs -exec=COMMAND through /bin/sh -c; returns its exit status (128+N for signal N), or -errno. */
static int run_command(vshadow *v, const char *command) {
        _cleanup_(strv_freep) char **env = NULL;
        posix_spawn_file_actions_t actions;
        char *argv[] = { (char *) "sh", (char *) "-c", (char *) command, NULL };
        pid_t pid;
        int r, status;

        env = build_exec_env(v);
        if (!env)
                return -ENOMEM;

        fflush(stdout);
        fflush(stderr);
        r = posix_spawn_file_actions_init(&actions);
        if (r != 0)
                return -r;
        /* Keep the JSON document on stdout clean: the command's output goes to stderr. */
        if (arg_json) {
                r = posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
                if (r != 0) {
                        posix_spawn_file_actions_destroy(&actions);
                        return -r;
                }
        }
        r = posix_spawn(&pid, "/bin/sh", &actions, NULL, argv, env);
        posix_spawn_file_actions_destroy(&actions);
        if (r != 0)
                return -r;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 1;
}

static int write_script(vshadow *v, const char *path) {
        _cleanup_(freep) char *tmp = NULL;
        char set_id[VSS_ID_STRING_MAX];
        FILE *f;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        vss_id_format(&v->set_id, set_id);
        fprintf(f, "# generated by vshadow: the shadow copies of snapshot set %s\n", set_id);
        for (size_t i = 0; i < v->n_props; i++) {
                _cleanup_(freep) char *q = shell_quote(strempty(v->props[i].snapshot_path));
                _cleanup_(freep) char *o = shell_quote(strempty(v->props[i].original_volume));
                char sid[VSS_ID_STRING_MAX];

                if (!q || !o) {
                        fclose(f);
                        unlink(tmp);
                        return -ENOMEM;
                }
                vss_id_format(&v->props[i].snapshot_id, sid);
                fprintf(f, "# %s: snapshot %s\n", o, sid);
                fprintf(f, "export LVSS_SHADOW_%zu=%s\n", i + 1, q);
        }
        fprintf(f, "export LVSS_SNAPSHOT_SET_ID='%s'\n", set_id);
        if (fflush(f) != 0 || ferror(f)) {
                int r = -errno;
                fclose(f);
                unlink(tmp);
                return r ? r : -EIO;
        }
        if (fclose(f) != 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        return 0;
}

static void hold(unsigned seconds) {
        struct timespec ts = { .tv_sec = seconds };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* -exec=COMMAND as a step; returns its exit status, or -errno when it could not run. */
static int exec_step(vshadow *v, const char *command) {
        int r;

        step_begin(v, "Exec", command);
        if (!arg_json && !v->tty)
                printf("[%u] Exec %s: running\n", v->step_no, command);
        else if (!arg_json)
                printf("running\n");
        r = run_command(v, command);
        if (!arg_json && v->tty)
                printf("[%u] Exec %s: ", v->step_no, command);
        if (r > 0) {
                char why[64];
                snprintf(why, sizeof why, "exit status %d", r);
                step_end_full(v, VSS_E_UNEXPECTED, why);
        } else
                step_end_full(v, r == 0 ? VSS_S_OK : VSS_E_UNEXPECTED, r < 0 ? strerror(-r) : NULL);
        if (arg_json) {
                json_key(&v->json, "exit_status");
                json_int(&v->json, r);
        }
        step_done(v);
        if (r < 0)
                fprintf(stderr, "vshadow: cannot run '%s': %s\n", command, strerror(-r));
        else if (r > 0)
                fprintf(stderr, "vshadow: the command '%s' failed with exit status %d\n", command, r);
        return r;
}

/* ---- -wi / -wx ----------------------------------------------------------------- */

/* Path equality where '/' and '\' are the same separator (VSS writes logical paths with '\'). */
static bool path_char_equal(char a, char b) {
        if (a == '\\')
                a = '/';
        if (b == '\\')
                b = '/';
        return a == b;
}

/*
 * Whether @spec is the component path of (@logical_path, @name):
 * "logical/path/name", or "name" for a component at the root; '\' works as
 * the separator too, and a leading separator is ignored.
 */
static bool component_path_equal(const char *spec, const char *logical_path, const char *name) {
        const char *p = strempty(logical_path);
        size_t i = 0;

        if (!name || !*name)
                return false;
        if (*spec == '/' || *spec == '\\')
                spec++;
        if (*p == '/' || *p == '\\')
                p++;
        for (; p[i]; i++)
                if (!path_char_equal(spec[i], p[i]))
                        return false;
        spec += i;
        /* A logical path may or may not end in a separator. */
        if (i > 0 && !(p[i - 1] == '/' || p[i - 1] == '\\')) {
                if (*spec != '/' && *spec != '\\')
                        return false;
                spec++;
        }
        return strcmp(spec, name) == 0;
}

/* A component path, alone or after its writer's name and a colon ("WRITER:logical/name", as vshadow.exe). */
static bool spec_matches_component(const char *spec, const char *writer_name, const char *logical_path,
                                   const char *name) {
        size_t l = writer_name ? strlen(writer_name) : 0;

        if (l > 0 && strncmp(spec, writer_name, l) == 0 && spec[l] == ':' &&
            component_path_equal(spec + l + 1, logical_path, name))
                return true;
        return component_path_equal(spec, logical_path, name);
}

/* Whether @spec names this writer: its name, its writer (class) id or its instance id. */
static bool spec_matches_writer(const char *spec, const char *writer_name, const vss_id *writer_id,
                                const vss_id *instance_id) {
        vss_id id;

        if (writer_name && strcmp(spec, writer_name) == 0)
                return true;
        if (vss_id_parse(spec, &id) != VSS_S_OK)
                return false;
        return vss_id_equal(&id, writer_id) || vss_id_equal(&id, instance_id);
}

static bool have_include_specs(void) {
        for (size_t i = 0; i < arg_n_specs; i++)
                if (arg_specs[i].include)
                        return true;
        return false;
}

/*
 * What -wi / -wx say about one component itself (by its path): *ret_include
 * when a -wi names it, *ret_exclude when a -wx does. Marks the specs that
 * matched.
 */
static void component_named(const char *writer_name, const char *logical_path, const char *name, bool *ret_include,
                            bool *ret_exclude) {
        *ret_include = *ret_exclude = false;
        for (size_t i = 0; i < arg_n_specs; i++) {
                writer_spec *w = &arg_specs[i];

                if (!spec_matches_component(w->text, writer_name, logical_path, name))
                        continue;
                w->matched = true;
                if (w->include)
                        *ret_include = true;
                else
                        *ret_exclude = true;
        }
}

/* Whether a -wi (@include) or a -wx names the writer itself; marks every spec that does. */
static bool writer_named(bool include, const char *writer_name, const vss_id *writer_id, const vss_id *instance_id) {
        bool named = false;

        for (size_t i = 0; i < arg_n_specs; i++)
                if (arg_specs[i].include == include &&
                    spec_matches_writer(arg_specs[i].text, writer_name, writer_id, instance_id)) {
                        arg_specs[i].matched = true;
                        named = true;
                }
        return named;
}

/* A -wx on the writer: it gets no component. */
static bool writer_excluded(const char *writer_name, const vss_id *writer_id, const vss_id *instance_id) {
        return writer_named(false, writer_name, writer_id, instance_id);
}

/* A -wi on the writer: all its components, and it is required. */
static bool writer_named_by_include(const char *writer_name, const vss_id *writer_id, const vss_id *instance_id) {
        return writer_named(true, writer_name, writer_id, instance_id);
}

/* After the selection: every -wi must have named something; a -wx that named nothing is only noted. */
static bool specs_all_matched(const char *where) {
        bool ok = true;

        for (size_t i = 0; i < arg_n_specs; i++) {
                _cleanup_(freep) char *t = sanitize(arg_specs[i].text);

                if (arg_specs[i].matched)
                        continue;
                if (arg_specs[i].include) {
                        fprintf(stderr, "vshadow: required writer or component '%s' is not %s\n", strempty(t),
                                where);
                        ok = false;
                } else if (!arg_json)
                        printf("    Note: -wx=%s names no writer or component %s\n", strempty(t), where);
        }
        return ok;
}

static const char *component_type_short(vss_component_type t) {
        return t == VSS_CT_DATABASE ? "database" : "filegroup";
}

/* "logical/path/name", or "name" at the root; owned. */
static char *component_path(const char *logical_path, const char *name) {
        char *p = NULL;

        if (!logical_path || !*logical_path)
                return strdup(strempty(name));
        if (asprintf(&p, "%s/%s", logical_path, strempty(name)) < 0)
                return NULL;
        return p;
}

static int components_add(vshadow *v, const selected_component *c) {
        selected_component *n, *a;

        n = realloc(v->components, (v->n_components + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        v->components = n;
        a = &v->components[v->n_components];
        *a = *c;
        a->writer_name = strdup(strempty(c->writer_name));
        a->logical_path = strdup(strempty(c->logical_path));
        a->name = strdup(strempty(c->name));
        if (!a->writer_name || !a->logical_path || !a->name) {
                free(a->writer_name);
                free(a->logical_path);
                free(a->name);
                return -ENOMEM;
        }
        v->n_components++;
        return 0;
}

static int required_add(vshadow *v, const vss_id *instance_id) {
        vss_id *n;

        for (size_t i = 0; i < v->n_required; i++)
                if (vss_id_equal(&v->required[i], instance_id))
                        return 0;
        n = realloc(v->required, (v->n_required + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        v->required = n;
        v->required[v->n_required++] = *instance_id;
        return 0;
}

static void step_info_component(vshadow *v, const selected_component *c) {
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
                json_bool(&v->json, c->required);
        }
}

/* The step argument for a component: "'writer' path"; sanitized, since both come from writers. */
static char *component_arg(const selected_component *c) {
        _cleanup_(freep) char *w = sanitize(c->writer_name);
        _cleanup_(freep) char *path = component_path(c->logical_path, c->name);
        _cleanup_(freep) char *p = path ? sanitize(path) : NULL;
        char *s = NULL;

        if (!w || !p || asprintf(&s, "'%s' %s (%s)", w, p, component_type_short(c->type)) < 0)
                return NULL;
        return s;
}

/*
 * Component mode, backup: AddComponent for every component -wi / -wx leave
 * in, from the writers' metadata documents. A required writer must have
 * identified and must have a component left; otherwise the backup stops
 * here (nothing was prepared yet: releasing is enough).
 */
static vss_hresult select_components(vshadow *v) {
        unsigned n = 0;
        vss_hresult hr;

        hr = vss_get_writer_metadata_count(v->bc, &n);
        if (VSS_FAILED(hr))
                return hr;

        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *md = NULL;
                vss_id instance_id, writer_id;
                const char *name = NULL;
                unsigned n_components = 0, n_taken = 0;
                bool excluded, named;

                hr = vss_get_writer_metadata(v->bc, i, &instance_id, &md);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_identity(md, NULL, &writer_id, &name, NULL, NULL, NULL);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_file_counts(md, NULL, NULL, &n_components);
                if (VSS_FAILED(hr))
                        return hr;

                excluded = writer_excluded(name, &writer_id, &instance_id);
                named = writer_named_by_include(name, &writer_id, &instance_id);

                for (unsigned c = 0; c < n_components; c++) {
                        const vss_component_info *ci = NULL;
                        selected_component sc = {};
                        _cleanup_(freep) char *what = NULL;
                        bool include, exclude, required;

                        hr = vss_examine_writer_metadata_get_component(md, c, &ci);
                        if (VSS_FAILED(hr))
                                return hr;
                        /*
                         * Taken: no -wx on the writer or the component, and either no -wi at
                         * all or a -wi on the writer or the component. Required: a -wi on
                         * either. A -wx may leave out some components of a required writer.
                         */
                        component_named(name, ci->logical_path, ci->component_name, &include, &exclude);
                        if (include && (exclude || excluded)) {
                                _cleanup_(freep) char *path = component_path(ci->logical_path, ci->component_name);
                                _cleanup_(freep) char *p = path ? sanitize(path) : NULL;
                                fprintf(stderr, "vshadow: required component '%s' is excluded by -wx\n", strempty(p));
                                return VSS_E_INVALIDARG;
                        }
                        required = named || include;
                        if (excluded || exclude || (have_include_specs() && !required))
                                continue;
                        sc = (selected_component) {
                                .instance_id = instance_id,
                                .writer_id = writer_id,
                                .type = ci->type,
                                .writer_name = (char *) name,
                                .logical_path = (char *) ci->logical_path,
                                .name = (char *) ci->component_name,
                                .required = required,
                        };
                        what = component_arg(&sc);
                        step_begin(v, "AddComponent", what);
                        hr = step_end(v, vss_add_component(v->bc, &instance_id, &writer_id, ci->type, ci->logical_path,
                                                           ci->component_name));
                        step_info_component(v, &sc);
                        step_done(v);
                        if (!hr_ok(hr)) {
                                log_step_failure(v, hr);
                                return hr;
                        }
                        if (components_add(v, &sc) < 0 || (required && required_add(v, &instance_id) < 0))
                                return VSS_E_OUTOFMEMORY;
                        n_taken++;
                }

                if (named && excluded) {
                        _cleanup_(freep) char *w = sanitize(name);
                        fprintf(stderr, "vshadow: writer '%s' is both required (-wi) and excluded (-wx)\n",
                                strempty(w));
                        return VSS_E_INVALIDARG;
                }
                if (named && n_taken == 0) {
                        _cleanup_(freep) char *w = sanitize(name);
                        fprintf(stderr, "vshadow: required writer '%s' has no component to back up\n", strempty(w));
                        return VSS_E_INVALIDARG;
                }
                if (named && required_add(v, &instance_id) < 0)
                        return VSS_E_OUTOFMEMORY;
        }

        if (!specs_all_matched("among the writers that identified"))
                return VSS_E_OBJECT_NOT_FOUND;
        if (!arg_json)
                printf("    %zu component%s selected from %u writer%s\n", v->n_components,
                       v->n_components == 1 ? "" : "s", n, n == 1 ? "" : "s");
        return VSS_S_OK;
}

static bool record_failed(const writer_record *r);

/*
 * After a status gather: every required writer must be in it and not
 * failed. Says which one is not, on stderr.
 */
static bool required_writers_ok(vshadow *v) {
        bool ok = true;

        for (size_t i = 0; i < v->n_required; i++) {
                const writer_record *r = NULL;

                for (size_t j = 0; j < v->n_records; j++)
                        if (vss_id_equal(&v->records[j].instance_id, &v->required[i]))
                                r = &v->records[j];
                if (!r) {
                        char id[VSS_ID_STRING_MAX];
                        vss_id_format(&v->required[i], id);
                        fprintf(stderr, "vshadow: required writer %s is missing from the writer status\n", id);
                        ok = false;
                } else if (record_failed(r)) {
                        _cleanup_(freep) char *w = sanitize(r->writer_name);
                        _cleanup_(freep) char *m = r->application_message ? sanitize(r->application_message) : NULL;
                        const char *event = output_failure_event(r->state, r->last_event);

                        fprintf(stderr, "vshadow: required writer '%s' failed%s%s: [%u] %s, %s%s%s\n", strempty(w),
                                event ? " at " : "", strempty(event), (unsigned) r->state,
                                vss_writer_state_text(r->state), vss_hresult_text(r->failure), m ? ": " : "",
                                strempty(m));
                        ok = false;
                }
        }
        return ok;
}

/* ---- documents ------------------------------------------------------------------- */

/* Writes @data to @path atomically (PATH.tmp, then rename), mode 0600. */
static int write_file_atomic(const char *path, const char *data) {
        _cleanup_(freep) char *tmp = NULL, *dir = NULL;
        _cleanup_(closep) int fd = -1, dfd = -1;
        size_t n = strlen(data);
        char *slash;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        /* A stale temporary file may belong to anyone: start afresh, never follow a link. */
        if (unlink(tmp) < 0 && errno != ENOENT)
                return -errno;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (n > 0) {
                ssize_t k = write(fd, data, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        unlink(tmp);
                        return r;
                }
                data += k;
                n -= (size_t) k;
        }
        if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        /* The rename itself should survive a crash too. */
        dir = strdup(path);
        if (!dir)
                return 0;
        slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = 0;
        else
                *slash = 0;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

/* Reads a whole text file of at most @max bytes; *ret owned (free()). -EFBIG past @max, -EBADMSG with a NUL. */
static int read_text_file(const char *path, size_t max, char **ret) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (allocated - size < 4096) {
                        size_t want = allocated ? allocated * 2 : 65536;
                        char *n;

                        if (want > max + 2)
                                want = max + 2;
                        if (want <= size + 1)
                                return -EFBIG;
                        n = realloc(buf, want);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        allocated = want;
                }
                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        if (strlen(buf) != size)
                return -EBADMSG;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* -bc: SaveAsXml and write it to the file. */
static vss_hresult save_bcd(vshadow *v) {
        _cleanup_(freep) char *xml = NULL;
        vss_hresult hr;
        int r;

        step_begin(v, "SaveAsXml", arg_bcd_file);
        hr = vss_save_as_xml(v->bc, &xml);
        if (!hr_ok(hr)) {
                step_end(v, hr);
                step_done(v);
                log_step_failure(v, hr);
                return hr;
        }
        r = write_file_atomic(arg_bcd_file, xml);
        if (r < 0) {
                step_end_full(v, VSS_E_UNEXPECTED, strerror(-r));
                step_done(v);
                fprintf(stderr, "vshadow: cannot write the Backup Components Document to %s: %s\n", arg_bcd_file,
                        strerror(-r));
                return VSS_E_UNEXPECTED;
        }
        v->bcd_written = true;
        free(v->bcd_path);
        v->bcd_path = realpath(arg_bcd_file, NULL);
        step_end(v, VSS_S_OK);
        if (arg_json) {
                json_key(&v->json, "bcd_file");
                json_string(&v->json, v->bcd_path ? v->bcd_path : arg_bcd_file);
                json_key(&v->json, "bcd_bytes");
                json_uint(&v->json, strlen(xml));
        } else
                printf("    Backup Components Document: %s (%zu bytes, with %zu component%s and the writers' "
                       "metadata)\n",
                       v->bcd_path ? v->bcd_path : arg_bcd_file, strlen(xml), v->n_components,
                       v->n_components == 1 ? "" : "s");
        step_done(v);
        return VSS_S_OK;
}

/* A backup that failed after -bc wrote its document: the document describes nothing usable. */
static void remove_bcd(vshadow *v) {
        if (!v->bcd_written)
                return;
        if (unlink(arg_bcd_file) < 0 && errno != ENOENT)
                fprintf(stderr, "vshadow: cannot remove %s: %s\n", arg_bcd_file, strerror(errno));
        else
                fprintf(stderr, "vshadow: removed %s: the backup it describes failed\n", arg_bcd_file);
        v->bcd_written = false;
}

/* ---- the runs --------------------------------------------------------------- */

/* CreateBackupComponents, then InitializeForBackup, or InitializeForRestore with @restore_xml. */
static vss_hresult open_session(vshadow *v, const char *restore_xml) {
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
static int run_writer_status(vshadow *v) {
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
        if (arg_json)
                json_begin_object(&v->json);
        hr = gather_status(v, "GatherWriterMetadata", true);
        if (arg_json) {
                json_end_object(&v->json);
                json_finish(&v->json);
        }
        if (!hr_ok(hr)) {
                fprintf(stderr, "vshadow: cannot gather the writer status: %s (%s)\n", vss_hresult_text(hr),
                        hr_name(hr));
                return EXIT_FAILURE;
        }
        if (!arg_json && v->n_records == 0)
                printf("No writers are subscribed.\n");
        return EXIT_SUCCESS;
}

/* -wm, -wm2, -wm3: the writers' metadata. */
static int run_writer_metadata(vshadow *v) {
        vss_hresult hr;

        if (arg_json) {
                json_begin_object(&v->json);
                json_key(&v->json, "steps");
                json_begin_array(&v->json);
        }
        hr = open_session(v, NULL);
        if (hr_ok(hr))
                hr = gather_metadata(v, arg_writer_metadata);
        if (arg_json) {
                json_end_array(&v->json);
                json_end_object(&v->json);
                json_finish(&v->json);
        }
        return hr_ok(hr) ? EXIT_SUCCESS : EXIT_FAILURE;
}

static void print_snapshot(vshadow *v, const vss_snapshot_prop *p) {
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

static bool record_failed(const writer_record *r) {
        return r->failure != 0 ||
               (r->state >= VSS_WS_FAILED_AT_IDENTIFY && r->state <= VSS_WS_FAILED_AT_BACKUPSHUTDOWN);
}

/* A writer that failed after it took part (issue 8 item 3); a failed Identify means it took no part. */
static bool record_failed_taking_part(const writer_record *r) {
        return record_failed(r) && r->state != VSS_WS_FAILED_AT_IDENTIFY && r->last_event != VSS_EVENT_IDENTIFY;
}

/* The record of the writer instance @instance_id, or NULL. */
static const writer_record *record_find(const vshadow *v, const vss_id *instance_id) {
        for (size_t i = 0; i < v->n_records; i++)
                if (vss_id_equal(&v->records[i].instance_id, instance_id))
                        return &v->records[i];
        return NULL;
}

/* One line on stderr: the writer, the event it failed at, the state and the failure (code and text). */
static void print_writer_failure(const char *prefix, const writer_record *r) {
        _cleanup_(freep) char *w = sanitize(r->writer_name);
        _cleanup_(freep) char *m = r->application_message && *r->application_message
                                           ? sanitize(r->application_message)
                                           : NULL;
        const char *event = output_failure_event(r->state, r->last_event);

        fprintf(stderr, "vshadow: %swriter '%s' failed%s%s: [%u] %s, %s (%s)%s%s\n", prefix, strempty(w),
                event ? " at " : "", strempty(event), (unsigned) r->state, vss_writer_state_text(r->state),
                vss_hresult_text(r->failure), hr_name(r->failure), m ? ": " : "", strempty(m));
}

static bool writer_required(const vshadow *v, const vss_id *instance_id) {
        for (size_t i = 0; i < v->n_required; i++)
                if (vss_id_equal(&v->required[i], instance_id))
                        return true;
        for (size_t i = 0; i < v->n_components; i++)
                if (v->components[i].required && vss_id_equal(&v->components[i].instance_id, instance_id))
                        return true;
        return false;
}

static const char *restore_status_name(vss_file_restore_status s);

static void print_summary(vshadow *v, int exit_status) {
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
                        json_bool(&v->json, writer_required(v, &r->instance_id));
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
                        json_bool(&v->json, v->record_complete);
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

/*
 * Asks lvssd whether its record of the session is complete (issue 8 item 6):
 * writer-status history rows its catalog could not take. The backup itself
 * is not affected, so this does not change the exit status; a line on stderr
 * and the summary (JSON too) say it. Before Release, while the session exists.
 */
static void check_record(vshadow *v) {
        vss_hresult hr;

        hr = vss_get_session_record_status(v->bc, &v->record_complete, &v->record_message);
        v->record_known = hr_ok(hr);
        v->record_hr = hr;
}

/* After a failure, not knowing is not worth a second line: the first one says what went wrong. */
static void warn_record(const vshadow *v, int exit_status) {
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

static int run_backup(vshadow *v) {
        vss_async *a = NULL;
        vss_hresult hr;
        int exit_status = EXIT_FAILURE;
        const char *failed = NULL;
        bool required_failed = false;

        if (arg_json) {
                json_begin_object(&v->json);
                json_key(&v->json, "volumes");
                json_begin_array(&v->json);
                for (size_t i = 0; i < arg_n_volumes; i++)
                        json_string(&v->json, arg_volumes[i]);
                json_end_array(&v->json);
                json_key(&v->json, "component_mode");
                json_bool(&v->json, v->component_mode);
                json_key(&v->json, "steps");
                json_begin_array(&v->json);
        } else {
                printf("%s\n", BANNER);
                printf("Volumes:");
                for (size_t i = 0; i < arg_n_volumes; i++)
                        printf(" %s", arg_volumes[i]);
                printf("%s\n\n", arg_no_writers ? " (no writers)" : v->component_mode ? " (component mode)" : "");
        }

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
        if (arg_json) {
                json_end_array(&v->json);
                print_summary(v, exit_status);
                json_end_object(&v->json);
                json_finish(&v->json);
        } else
                print_summary(v, exit_status);
        return exit_status;
}

/* ---- restore ------------------------------------------------------------------- */

static const char *restore_status_name(vss_file_restore_status s) {
        static const char *const names[] = {
                [VSS_RS_UNDEFINED] = "VSS_RS_UNDEFINED",
                [VSS_RS_NONE] = "VSS_RS_NONE",
                [VSS_RS_ALL] = "VSS_RS_ALL",
                [VSS_RS_FAILED] = "VSS_RS_FAILED",
        };
        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "unknown";
}

static const lvss_bcd_writer *bcd_writer_of(const lvss_bcd *bcd, const lvss_bcd_component *c) {
        for (size_t i = 0; i < bcd->n_writers; i++)
                if (vss_id_equal(&bcd->writers[i].instance_id, &c->instance_id) &&
                    vss_id_equal(&bcd->writers[i].writer_id, &c->writer_id))
                        return &bcd->writers[i];
        return NULL;
}

/* What the document holds, under the InitializeForRestore step. */
static void print_document(vshadow *v, const lvss_bcd *bcd) {
        char set_id[VSS_ID_STRING_MAX];

        vss_id_format(&bcd->snapshot_set_id, set_id);
        if (arg_json) {
                json_key(&v->json, "document");
                json_begin_object(&v->json);
                json_key(&v->json, "snapshot_set_id");
                json_id(&v->json, &bcd->snapshot_set_id);
                json_key(&v->json, "select_components");
                json_bool(&v->json, bcd->select_components);
                json_key(&v->json, "backup_type");
                json_uint(&v->json, (unsigned) bcd->backup_type);
                json_key(&v->json, "writers");
                json_begin_array(&v->json);
                for (size_t i = 0; i < bcd->n_writers; i++) {
                        const lvss_bcd_writer *w = &bcd->writers[i];
                        json_begin_object(&v->json);
                        json_key(&v->json, "writer_name");
                        json_string(&v->json, w->writer_name);
                        json_key(&v->json, "writer_id");
                        json_id(&v->json, &w->writer_id);
                        json_key(&v->json, "instance_id");
                        json_id(&v->json, &w->instance_id);
                        json_key(&v->json, "instance_name");
                        json_string(&v->json, strnull_if_empty(w->instance_name));
                        json_key(&v->json, "has_metadata");
                        json_bool(&v->json, w->metadata_xml && *w->metadata_xml);
                        json_end_object(&v->json);
                }
                json_end_array(&v->json);
                json_key(&v->json, "components");
                json_begin_array(&v->json);
                for (size_t i = 0; i < bcd->n_components; i++) {
                        const lvss_bcd_component *c = &bcd->components[i];
                        const lvss_bcd_writer *w = bcd_writer_of(bcd, c);
                        _cleanup_(freep) char *path = component_path(c->logical_path, c->name);

                        json_begin_object(&v->json);
                        json_key(&v->json, "writer_name");
                        json_string(&v->json, w ? w->writer_name : NULL);
                        json_key(&v->json, "writer_id");
                        json_id(&v->json, &c->writer_id);
                        json_key(&v->json, "instance_id");
                        json_id(&v->json, &c->instance_id);
                        json_key(&v->json, "component_type");
                        json_uint(&v->json, (unsigned) c->type);
                        json_key(&v->json, "logical_path");
                        json_string(&v->json, strempty(c->logical_path));
                        json_key(&v->json, "component_name");
                        json_string(&v->json, c->name);
                        json_key(&v->json, "component_path");
                        json_string(&v->json, path);
                        json_key(&v->json, "backup_succeeded");
                        json_bool(&v->json, c->backup_succeeded);
                        json_key(&v->json, "backup_metadata");
                        json_string(&v->json, strnull_if_empty(c->backup_metadata));
                        json_key(&v->json, "backup_stamp");
                        json_string(&v->json, strnull_if_empty(c->backup_stamp));
                        json_end_object(&v->json);
                }
                json_end_array(&v->json);
                json_end_object(&v->json);
                return;
        }

        printf("    Document: %zu writer%s, %zu component%s, snapshot set %s\n", bcd->n_writers,
               bcd->n_writers == 1 ? "" : "s", bcd->n_components, bcd->n_components == 1 ? "" : "s",
               vss_id_is_null(&bcd->snapshot_set_id) ? "none" : set_id);
        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *c = &bcd->components[i];
                const lvss_bcd_writer *w = bcd_writer_of(bcd, c);
                _cleanup_(freep) char *path = component_path(c->logical_path, c->name);

                fputs("    * Writer '", stdout);
                fputs_sanitized(w ? w->writer_name : "?", stdout);
                fputs("' component ", stdout);
                fputs_sanitized(path, stdout);
                printf(" (%s)%s\n", component_type_short(c->type),
                       c->backup_succeeded ? "" : ", backup not confirmed");
                if (c->backup_metadata && *c->backup_metadata) {
                        fputs("       Backup metadata: ", stdout);
                        fputs_sanitized(c->backup_metadata, stdout);
                        putchar('\n');
                }
                if (c->backup_stamp && *c->backup_stamp) {
                        fputs("       Backup stamp: ", stdout);
                        fputs_sanitized(c->backup_stamp, stdout);
                        putchar('\n');
                }
        }
}

/*
 * SetSelectedForRestore for every component of the document -wi / -wx
 * leave in. A component whose writer is not running cannot be selected
 * (VSS_E_OBJECT_NOT_FOUND): when it is required that ends the restore,
 * otherwise it is left out and the restore ends with status 1.
 * Returns < 0 to stop, 0 when all went in, 1 when some were left out.
 */
static int select_for_restore(vshadow *v, const lvss_bcd *bcd) {
        bool left_out = false;

        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *c = &bcd->components[i];
                const lvss_bcd_writer *w = bcd_writer_of(bcd, c);
                const char *wname = w ? w->writer_name : NULL;
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
                        .logical_path = c->logical_path,
                        .name = c->name,
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
        if (!specs_all_matched("in the document"))
                return -ENOENT;
        return left_out ? 1 : 0;
}

/* Writers whose status shows a failure, each named once on stderr; the status blocks have the details. */
static size_t report_failed_writers(vshadow *v) {
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

static void note(vshadow *v, const char *text) {
        if (!arg_json)
                printf("    %s\n", text);
}

static int run_restore(vshadow *v) {
        _cleanup_(lvss_bcd_freep) lvss_bcd *bcd = NULL;
        _cleanup_(freep) char *xml = NULL;
        vss_async *a = NULL;
        vss_hresult hr;
        int exit_status = EXIT_FAILURE, r;
        bool failed = false, pre_failed = false;

        if (arg_json) {
                json_begin_object(&v->json);
                json_key(&v->json, "restore");
                json_begin_object(&v->json);
                json_key(&v->json, "file");
                json_string(&v->json, arg_restore_file);
                json_key(&v->json, "simulated");
                json_bool(&v->json, arg_restore_simulated);
                json_end_object(&v->json);
                json_key(&v->json, "steps");
                json_begin_array(&v->json);
        } else
                printf("%s\n%s restore from %s\n\n", BANNER, arg_restore_simulated ? "Simulated" : "Real",
                       arg_restore_file);

        /* The document is read here too: the public API does not list a loaded document's components. */
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
        r = lvss_bcd_from_xml(xml, &bcd);
        if (r < 0) {
                const char *why = r == -ENOMEM  ? strerror(ENOMEM)
                                  : r == -E2BIG ? "not a valid Backup Components Document: over a size limit"
                                                : "not a valid Backup Components Document";
                step_end_full(v, r == -ENOMEM ? VSS_E_OUTOFMEMORY : VSS_E_INVALID_XML_DOCUMENT, why);
                step_done(v);
                fprintf(stderr, "vshadow: %s is %s\n", arg_restore_file, why);
                goto finish;
        }
        step_end(v, VSS_S_OK);
        print_document(v, bcd);
        step_done(v);
        v->bcd_path = realpath(arg_restore_file, NULL);
        v->set_id = bcd->snapshot_set_id;
        if (bcd->n_components == 0) {
                fprintf(stderr, "vshadow: %s holds no components: nothing to restore (a backup without writers saves none)\n",
                        arg_restore_file);
                goto finish;
        }

        hr = open_session(v, xml);
        if (!hr_ok(hr))
                goto finish_release;

        /* No GatherWriterMetadata: the writers running now are found by PreRestore itself (WS-12). */
        r = select_for_restore(v, bcd);
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
        if (arg_json) {
                json_end_array(&v->json);
                json_key(&v->json, "file_restore_status");
                json_string(&v->json, v->n_components > 0 ? restore_status_name(v->file_status) : NULL);
                print_summary(v, exit_status);
                json_end_object(&v->json);
                json_finish(&v->json);
        } else
                print_summary(v, exit_status);
        return exit_status;
}

/* ---- arguments --------------------------------------------------------------- */

static void help(void) {
        printf("%s\n\n"
               "Usage: vshadow [OPTIONS] VOLUME...\n"
               "       vshadow -r=FILE | -rs=FILE [-wi=WRITER]... [-wx=WRITER]... [-exec=COMMAND]\n"
               "       vshadow -ws | -wm | -wm2 | -wm3\n\n"
               "Runs the whole backup sequence on the volumes (absolute paths or directories),\n"
               "printing every step, its duration and the writer status after PrepareForBackup,\n"
               "DoSnapshotSet and BackupComplete.\n\n"
               "Options:\n"
               "  -ws                 Writer status only (like 'vssadmin list writers')\n"
               "  -wm, -wm2, -wm3     Writer metadata only: summary / all / with the XML\n"
               "  -nw                 No writers (crash-consistent shadow copies)\n"
               "  -p                  Persistent shadow copies (kept after exit)\n"
               "  -nar                No auto-recovery: the shadow copies are read-only before\n"
               "                      PostSnapshot, writers cannot repair them\n"
               "  -wi=WRITER          Include only this writer or component, and require it:\n"
               "                      a writer name, writer id, instance id, or a component\n"
               "                      path 'logical/path/name' (repeatable)\n"
               "  -wx=WRITER          Exclude this writer or component (repeatable)\n"
               "  -bc=FILE            Save the Backup Components Document (with the writers'\n"
               "                      metadata) to FILE after DoSnapshotSet\n"
               "  -r=FILE, -rs=FILE   Restore (real / simulated) from a document saved with -bc\n"
               "  -t=SECONDS          Wait this long after DoSnapshotSet, before BackupComplete\n"
               "  -exec=COMMAND       Run COMMAND with /bin/sh while the shadow copies exist;\n"
               "                      $LVSS_SHADOW_1.. and $LVSS_SNAPSHOT_SET_ID are set;\n"
               "                      its exit status becomes vshadow's. With -r: run it between\n"
               "                      PreRestore and PostRestore to copy the files back\n"
               "                      ($LVSS_RESTORE=1, $LVSS_BCD)\n"
               "  -script=FILE        Write those variables to FILE as shell code\n"
               "  --socket PATH       The lvssd socket (default: $LVSS_SOCKET, else the default)\n"
               "  --json              Print one JSON document\n"
               "  -h --help           Show this help\n"
               "  --version           Show the version\n\n"
               "See vshadow(8).\n",
               BANNER);
}

/* "-t=5" / "-t" "5": the value of option @name in @arg, or NULL when @arg is not it. */
static const char *option_value(const char *arg, const char *name) {
        size_t l = strlen(name);

        if (strncasecmp(arg, name, l) != 0)
                return NULL;
        if (arg[l] == '=')
                return arg + l + 1;
        return NULL;
}

static int add_volume(const char *arg) {
        char *p, **n;

        p = realpath(arg, NULL);
        if (!p) {
                fprintf(stderr, "vshadow: cannot use volume %s: %s\n", arg, strerror(errno));
                return -errno;
        }
        n = realloc(arg_volumes, (arg_n_volumes + 1) * sizeof *n);
        if (!n) {
                free(p);
                return -ENOMEM;
        }
        arg_volumes = n;
        arg_volumes[arg_n_volumes++] = p;
        return 0;
}

/* Returns 1 to run, 0 to exit successfully, -EINVAL for bad usage, another -errno for failure. */
static int parse_argv(int argc, char *argv[]) {
        bool only_volumes = false;
        const char *val;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (only_volumes || a[0] != '-' || a[1] == 0) {
                        r = add_volume(a);
                        if (r < 0)
                                return r == -EINVAL ? -EIO : r;
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        only_volumes = true;
                        continue;
                }
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-?") == 0) {
                        help();
                        return 0;
                }
                if (strcmp(a, "--version") == 0) {
                        printf("vshadow %s\n", PACKAGE_VERSION);
                        return 0;
                }
                if (strcmp(a, "--json") == 0) {
                        arg_json = true;
                        continue;
                }
                if (strcmp(a, "--socket") == 0 || strncmp(a, "--socket=", 9) == 0) {
                        const char *path = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
                        if (!path || !*path) {
                                fprintf(stderr, "vshadow: --socket needs a path\n");
                                return -EINVAL;
                        }
                        /* The public API takes the socket from the environment. */
                        if (setenv("LVSS_SOCKET", path, 1) < 0)
                                return -errno;
                        continue;
                }
                if (strcasecmp(a, "-nw") == 0) {
                        arg_no_writers = true;
                        continue;
                }
                if (strcasecmp(a, "-ws") == 0) {
                        arg_writer_status_only = true;
                        continue;
                }
                if (strcasecmp(a, "-wm") == 0 || strcasecmp(a, "-wm2") == 0 || strcasecmp(a, "-wm3") == 0) {
                        arg_writer_metadata = a[3] ? (unsigned) (a[3] - '0') : 1;
                        continue;
                }
                if (strcasecmp(a, "-p") == 0) {
                        arg_persistent = true;
                        continue;
                }
                if (strcasecmp(a, "-nar") == 0) {
                        arg_no_auto_recovery = true;
                        continue;
                }
                if ((val = option_value(a, "-t"))) {
                        char *end = NULL;
                        unsigned long s;

                        errno = 0;
                        s = strtoul(val, &end, 10);
                        if (!*val || *end || errno != 0 || s > 86400 || *val == '-') {
                                fprintf(stderr, "vshadow: -t needs a number of seconds (0 to 86400), not '%s'\n",
                                        val);
                                return -EINVAL;
                        }
                        arg_hold_sec = (unsigned) s;
                        continue;
                }
                if ((val = option_value(a, "-exec"))) {
                        if (!*val) {
                                fprintf(stderr, "vshadow: -exec needs a command\n");
                                return -EINVAL;
                        }
                        arg_exec = val;
                        continue;
                }
                if ((val = option_value(a, "-script"))) {
                        if (!*val) {
                                fprintf(stderr, "vshadow: -script needs a file name\n");
                                return -EINVAL;
                        }
                        arg_script = val;
                        continue;
                }
                if ((val = option_value(a, "-wi")) || (val = option_value(a, "-wx"))) {
                        writer_spec *n;

                        if (!*val) {
                                fprintf(stderr, "vshadow: %.3s needs a writer name, id, instance id or component path\n",
                                        a);
                                return -EINVAL;
                        }
                        n = realloc(arg_specs, (arg_n_specs + 1) * sizeof *n);
                        if (!n)
                                return -ENOMEM;
                        arg_specs = n;
                        arg_specs[arg_n_specs++] = (writer_spec) {
                                .text = val,
                                .include = strncasecmp(a, "-wi", 3) == 0,
                        };
                        continue;
                }
                if ((val = option_value(a, "-bc"))) {
                        if (!*val) {
                                fprintf(stderr, "vshadow: -bc needs a file name\n");
                                return -EINVAL;
                        }
                        arg_bcd_file = val;
                        continue;
                }
                if ((val = option_value(a, "-r")) || (val = option_value(a, "-rs"))) {
                        bool simulated = strncasecmp(a, "-rs", 3) == 0;

                        if (!*val) {
                                fprintf(stderr, "vshadow: %s needs the file a backup saved with -bc\n",
                                        simulated ? "-rs" : "-r");
                                return -EINVAL;
                        }
                        if (arg_restore_file) {
                                fprintf(stderr, "vshadow: give one -r or -rs\n");
                                return -EINVAL;
                        }
                        arg_restore_file = val;
                        arg_restore_simulated = simulated;
                        continue;
                }
                fprintf(stderr, "vshadow: unknown option '%s' (see --help)\n", a);
                return -EINVAL;
        }

        if (arg_writer_status_only || arg_writer_metadata > 0) {
                if (arg_n_volumes > 0 || arg_exec || arg_script || arg_hold_sec || arg_no_writers || arg_persistent ||
                    arg_no_auto_recovery || arg_n_specs > 0 || arg_bcd_file || arg_restore_file) {
                        fprintf(stderr, "vshadow: -ws and -wm take no volumes and no other options\n");
                        return -EINVAL;
                }
                if (arg_writer_status_only && arg_writer_metadata > 0) {
                        fprintf(stderr, "vshadow: -ws and -wm cannot be combined\n");
                        return -EINVAL;
                }
                return 1;
        }
        if (arg_n_specs > 0 && arg_no_writers) {
                fprintf(stderr, "vshadow: -wi and -wx cannot be combined with -nw\n");
                return -EINVAL;
        }
        if (arg_restore_file) {
                if (arg_n_volumes > 0 || arg_script || arg_hold_sec || arg_no_writers || arg_persistent ||
                    arg_no_auto_recovery || arg_bcd_file) {
                        fprintf(stderr, "vshadow: -r and -rs take no volumes and only -wi, -wx and -exec\n");
                        return -EINVAL;
                }
                return 1;
        }
        if (arg_n_volumes == 0) {
                fprintf(stderr, "vshadow: no volume given (see --help)\n");
                return -EINVAL;
        }
        return 1;
}

static void vshadow_done(vshadow *v) {
        if (v->bc)
                v->bc = vss_backup_components_release(v->bc);
        for (size_t i = 0; i < v->n_components; i++) {
                free(v->components[i].writer_name);
                free(v->components[i].logical_path);
                free(v->components[i].name);
        }
        free(v->components);
        free(v->required);
        free(v->bcd_path);
        free(arg_specs);
        if (v->props)
                for (size_t i = 0; i < v->n_props; i++)
                        vss_free_snapshot_properties(&v->props[i]);
        free(v->props);
        free(v->snapshot_ids);
        for (size_t i = 0; i < v->n_records; i++) {
                free(v->records[i].writer_name);
                free(v->records[i].instance_name);
                free(v->records[i].application_message);
        }
        free(v->records);
        free(v->record_message);
        for (size_t i = 0; i < arg_n_volumes; i++)
                free(arg_volumes[i]);
        free(arg_volumes);
}

int main(int argc, char *argv[]) {
        vshadow v = {};
        int r;

        r = parse_argv(argc, argv);
        if (r == -EINVAL) {
                vshadow_done(&v);
                return EXIT_USAGE;
        }
        if (r <= 0) {
                vshadow_done(&v);
                return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        }

        /* Progress lines appear as they happen, also in a pipe. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        /* A dead pipe reader must not kill us between Freeze and Thaw's cleanup. */
        signal(SIGPIPE, SIG_IGN);
        output_init_colors(stdout);
        v.tty = isatty(STDOUT_FILENO);
        v.start_usec = now_usec(CLOCK_MONOTONIC);
        json_init(&v.json, stdout);

        if (arg_writer_status_only)
                r = run_writer_status(&v);
        else if (arg_writer_metadata > 0)
                r = run_writer_metadata(&v);
        else if (arg_restore_file)
                r = run_restore(&v);
        else {
                v.component_mode = !arg_no_writers && (arg_n_specs > 0 || arg_bcd_file);
                r = run_backup(&v);
        }

        vshadow_done(&v);
        if (fflush(stdout) != 0 && r == EXIT_SUCCESS) {
                fprintf(stderr, "vshadow: cannot write the output: %s\n", strerror(errno));
                r = EXIT_FAILURE;
        }
        return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * vshadow's private header: the run's state (struct vshadow), the options,
 * and what each part of tools/vshadow/ offers the others (see main.c).
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

#include "basic/abi.h" /* VSS_EVENT_COUNT (header only: no private code linked) */
#include "basic/strv.h"
#include "basic/util.h"
#include "config.h"
#include "protocol/socket-path.h"
#include "output.h"

#define BANNER "vshadow 0.1 - lvss shadow copy requester tool"
#define EXIT_USAGE 2
extern char **environ;

/* Documents are read whole; a BCD is at most 4 MiB (docs/documents.md), give it room. */
#define BCD_FILE_MAX ((size_t) 8 * 1024 * 1024)

/* -wi=WRITER / -wx=WRITER: a writer name, writer id, instance id or component path. */
typedef struct writer_spec {
        const char *text;
        bool include; /* -wi; else -wx */
        bool matched;
} writer_spec;

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

/*
 * A restore's document as the public API shows it (GetWriterComponents):
 * the components point into the reading kept by the vss_backup_components.
 */
typedef struct document_component {
        vss_id instance_id;
        vss_id writer_id;
        const char *writer_name; /* NULL: the document does not list the writer */
        vss_component *c;
} document_component;

typedef struct restore_document {
        vss_id snapshot_set_id;
        bool select_components;
        vss_backup_type backup_type;
        vss_writer_components **writers;
        unsigned n_writers;
        document_component *components;
        size_t n_components;
} restore_document;

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

typedef struct reporter reporter;

typedef struct vshadow {
        vss_backup_components *bc;
        const reporter *report; /* report_text or report_json (--json) */
        json_writer json;       /* report_json's document */
        bool tty;

        unsigned step_no;
        const char *step_name;
        const char *step_arg_given; /* NULL: the step has no argument (not even "") */
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
        restore_document doc;                /* restore: the document's components (GetWriterComponents) */

        /* issue 8 item 6: lvssd's record of the session (asked before Release) */
        bool record_known;
        vss_hresult record_hr; /* why it is not known */
        bool record_complete;
        char *record_message; /* what was lost, when incomplete */
} vshadow;

/* ---- the reporter (report.c; report-text.c, report-json.c) ---- */

typedef enum run_kind {
        RUN_BACKUP,   /* the default: a backup (-nw, -p, -bc, ...) */
        RUN_RESTORE,  /* -r / -rs */
        RUN_METADATA, /* -wm, -wm2, -wm3 */
        RUN_STATUS,   /* -ws */
} run_kind;

/* One writer's metadata as a reporter shows it (GatherWriterMetadata). */
typedef struct metadata_view {
        vss_examine_writer_metadata *md;
        vss_id instance_id;
        vss_id writer_id;
        const char *name;
        const char *instance_name;
        vss_usage_type usage;
        vss_source_type source;
        unsigned n_include;
        unsigned n_exclude;
        unsigned n_components;
} metadata_view;

/*
 * What vshadow shows, and how: text (report-text.c) or JSON
 * (report-json.c). Every call happens in the order of the run: run_begin,
 * then steps (step_begin, step_end, the step's details, step_done), then
 * run_end. A step's details are step_info, component, snapshot, bcd_saved,
 * document, the writers_begin / writer / writers_end of a status gather
 * and the metadata_begin / writer_metadata / metadata_end of a metadata
 * gather; exec_running / exec_resumed / exec_status frame the -exec step;
 * note is a remark the text shows and JSON leaves out.
 */
struct reporter {
        void (*run_begin)(vshadow *v, run_kind kind);
        void (*run_end)(vshadow *v, run_kind kind, int exit_status);
        void (*step_begin)(vshadow *v);
        void (*step_end)(vshadow *v, vss_hresult hr, const char *why, uint64_t duration_usec);
        void (*step_done)(vshadow *v);
        void (*step_info)(vshadow *v, const char *key, const char *label, const char *value);
        void (*exec_running)(vshadow *v, const char *command);
        void (*exec_resumed)(vshadow *v, const char *command);
        void (*exec_status)(vshadow *v, int status);
        void (*note)(vshadow *v, const char *text);
        void (*writers_begin)(vshadow *v, const char *after, unsigned n, bool bare);
        void (*writer)(vshadow *v, const output_writer *w, unsigned index, bool bare);
        void (*writers_end)(vshadow *v, unsigned n, bool bare);
        void (*metadata_begin)(vshadow *v, unsigned n);
        vss_hresult (*writer_metadata)(vshadow *v, const metadata_view *w, unsigned detail);
        void (*metadata_end)(vshadow *v);
        void (*component)(vshadow *v, const selected_component *c);
        void (*snapshot)(vshadow *v, const vss_snapshot_prop *p);
        void (*bcd_saved)(vshadow *v, const char *path, size_t bytes);
        void (*document)(vshadow *v);
};

extern const reporter report_text;
extern const reporter report_json;

void report_run_begin(vshadow *v, run_kind kind);
void report_run_end(vshadow *v, run_kind kind, int exit_status);
void report_bcd_saved(vshadow *v, const char *path, size_t bytes);

/* ---- options (options.c) ---- */
extern bool arg_json;
extern bool arg_no_writers;
extern bool arg_writer_status_only;
extern unsigned arg_writer_metadata; /* -wm 1, -wm2 2, -wm3 3 */
extern bool arg_persistent;
extern bool arg_no_auto_recovery;
extern unsigned arg_hold_sec;
extern const char *arg_exec;
extern const char *arg_script;
extern char **arg_volumes; /* resolved absolute paths */
extern size_t arg_n_volumes;
extern const char *arg_bcd_file;     /* -bc=FILE */
extern const char *arg_restore_file; /* -r=FILE / -rs=FILE */
extern bool arg_restore_simulated;  /* -rs */
extern writer_spec *arg_specs;
extern size_t arg_n_specs;

/* ---- main.c ---- */
bool hr_ok(vss_hresult hr);
const char *hr_name(vss_hresult hr);
vss_hresult wait_async(vss_hresult hr, vss_async **a);
void log_create_failure(vss_hresult hr);

/* ---- options.c ---- */
int parse_argv(int argc, char *argv[]);

/* ---- select.c ---- */
bool have_include_specs(void);
void component_named(const char *writer_name, const char *logical_path, const char *name, bool *ret_include,
                            bool *ret_exclude);
bool writer_excluded(const char *writer_name, const vss_id *writer_id, const vss_id *instance_id);
bool writer_named_by_include(const char *writer_name, const vss_id *writer_id, const vss_id *instance_id);
bool specs_all_matched(vshadow *v, const char *where);
const char *component_type_short(vss_component_type t);
char *component_path(const char *logical_path, const char *name);
int components_add(vshadow *v, const selected_component *c);
char *component_arg(const selected_component *c);
vss_hresult select_components(vshadow *v);
bool required_writers_ok(vshadow *v);

/* ---- status.c ---- */
vss_hresult gather_status(vshadow *v, const char *after, bool bare);
bool record_failed(const writer_record *r);
bool record_failed_taking_part(const writer_record *r);
const writer_record *record_find(const vshadow *v, const vss_id *instance_id);
bool writer_required(const vshadow *v, const vss_id *instance_id);
void check_record(vshadow *v);
void warn_record(const vshadow *v, int exit_status);
size_t report_failed_writers(vshadow *v);

/* ---- report.c ---- */
void step_begin(vshadow *v, const char *name, const char *arg);
vss_hresult step_end_full(vshadow *v, vss_hresult hr, const char *why);
vss_hresult step_end(vshadow *v, vss_hresult hr);
void step_done(vshadow *v);
void step_info_id(vshadow *v, const char *key, const char *label, const vss_id *id);
void log_step_failure(vshadow *v, vss_hresult hr);
vss_hresult print_metadata(vshadow *v, unsigned detail);
void step_info_component(vshadow *v, const selected_component *c);
void print_snapshot(vshadow *v, const vss_snapshot_prop *p);
void print_writer_failure(const char *prefix, const writer_record *r);
const char *restore_status_name(vss_file_restore_status s);
void print_document(vshadow *v);
void note(vshadow *v, const char *text);

/* ---- exec.c ---- */
int write_script(vshadow *v, const char *path);
void hold(unsigned seconds);
int exec_step(vshadow *v, const char *command);

/* ---- document.c ---- */
int read_text_file(const char *path, size_t max, char **ret);
vss_hresult save_bcd(vshadow *v);
void remove_bcd(vshadow *v);

/* ---- backup.c ---- */
vss_hresult open_session(vshadow *v, const char *restore_xml);
int run_writer_status(vshadow *v);
int run_writer_metadata(vshadow *v);
int run_backup(vshadow *v);

/* ---- restore.c ---- */
vss_hresult read_document(vshadow *v);
int run_restore(vshadow *v);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The integration test harness: real processes, no mocks.
 *
 * Every test gets a fresh environment (itest_env): a temporary directory, a
 * real lvssd started in it (--state-dir, --socket inside the directory), real
 * lvss-test-writer processes whose stdout comes back on pipes, and, when a
 * test must kill its requester, a forked requester child reporting progress on
 * a pipe. The test process itself is a requester too (liblvss, LVSS_SOCKET
 * points at the test's lvssd).
 *
 * Nothing here sleeps to let things settle. Every wait is for an event: the
 * sd_notify READY=1 datagram, a line on a pipe, a process exit (pidfd), a
 * change in the state directory (inotify) - with poll() and a generous bound.
 * Lines are stamped (CLOCK_MONOTONIC) when the harness reads them; the harness
 * reads all pipes at once, so the stamp is close to when the line was written
 * and never earlier (timing checks can only err on the side of failing).
 *
 * Failure handling: the CHECK macros print a message and fail the cmocka test
 * (longjmp back into cmocka); the teardown (itest_teardown) always runs: it
 * stops every process the test started (lvssd with SIGTERM, then the writers
 * see the disconnect and exit; anything left gets SIGKILL), reaps them, prints
 * the logs when the test failed, and removes the directory. The teardown
 * fails the test when a process it did not expect to die crashed, or when
 * valgrind (LVSS_TEST_VALGRIND=1) reported errors (exit code 99).
 *
 * Environment: LVSS_BUILD_ROOT (the meson build root: lvssd and the test
 * writer are found below it), LVSS_TEST_VALGRIND=1 (run lvssd and the test
 * writers under valgrind; every wait and timeout is scaled up),
 * LVSS_TEST_VERBOSE=1 (print the logs even when the test passed),
 * LVSS_TEST_KEEP=1 (keep the temporary directory).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include <lvss/vss.h>

/* ---- failing a test ------------------------------------------------------ */

void itest_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
void itest_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond, fmt, ...)                                                      \
        do {                                                                       \
                if (!(cond))                                                       \
                        itest_fail_at(__FILE__, __LINE__, "check `%s` failed: " fmt, #cond, ##__VA_ARGS__); \
        } while (0)

#define FAIL(...) itest_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* hr == expected, printing both by name */
#define CHECK_HR(hr, expected, ...)                                                \
        do {                                                                       \
                vss_hresult _h = (hr), _e = (expected);                            \
                if (_h != _e) {                                                    \
                        char _m[512];                                              \
                        snprintf(_m, sizeof _m, __VA_ARGS__);                      \
                        itest_fail_at(__FILE__, __LINE__, "%s: got %s, expected %s", _m, \
                                      itest_hr_str(_h), itest_hr_str(_e));         \
                }                                                                  \
        } while (0)

/* "VSS_E_BAD_STATE (0x80042301)" in a static ring of buffers */
const char *itest_hr_str(vss_hresult hr);
const char *itest_id_str(const vss_id *id); /* static ring too */

/* printf into a new string (owned: free()); aborts when out of memory, so it never returns NULL. */
char *itest_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- processes and lines --------------------------------------------------- */

typedef struct itest_line {
        char *text;
        uint64_t mono_usec; /* when the harness read it */
} itest_line;

typedef struct itest_stream {
        int fd; /* read end, -1 after EOF */
        char buf[16384];
        size_t buf_len;
        itest_line *lines;
        size_t n_lines, cap;
        size_t cursor; /* itest_wait_line searches from here */
} itest_stream;

typedef struct itest_env itest_env;

typedef struct itest_proc {
        itest_env *env;
        char *label;    /* "lvssd", "writer w3", "requester" */
        pid_t pid;      /* 0 once reaped */
        int pidfd;
        bool reaped;
        int wstatus;
        bool valgrind;
        bool may_die;   /* crash-at, hang (killed at teardown), or killed by the test */
        bool killed_by_test;
        char *log_path; /* its stderr (and for lvssd stdout too), or NULL */
        itest_stream out; /* its stdout (writers, requester children) */
} itest_proc;

typedef struct itest_writer {
        itest_proc p;
        char *name;
        vss_id writer_id;
        vss_id instance_id;
        char *instance_name; /* NULL: none */
        uint32_t freeze_timeout_ms; /* as passed, 0: default */
} itest_writer;

typedef struct itest_lvssd_opts {
        unsigned identify_timeout_ms; /* 0: lvssd's default; scaled by the harness */
        unsigned event_timeout_ms;
        unsigned hold_window_ms;      /* not scaled */
} itest_lvssd_opts;

#define ITEST_MAX_WRITERS 256
#define ITEST_MAX_CHILDREN 8

struct itest_env {
        char *dir, *state_dir, *socket_path, *data_dir, *notify_path;
        char *build_root;
        unsigned factor; /* timing scale: 1, or more under valgrind */
        unsigned deadline_factor; /* the scale of the deadlines passed on: the factor, unless capped */
        bool valgrind;
        size_t valgrind_writers_max; /* under valgrind: how many writers run under it (the rest natively) */
        size_t valgrind_writers;
        bool failed;
        const char *test_name;

        itest_proc *lvssd;
        itest_lvssd_opts lvssd_opts;
        itest_writer *writers[ITEST_MAX_WRITERS];
        size_t n_writers;
        itest_proc *children[ITEST_MAX_CHILDREN];
        size_t n_children;
        vss_backup_components *requesters[16]; /* released at teardown */
        size_t n_requesters;
};

/* cmocka fixtures: itest_setup makes the directory (and data_dir with a few
 * files); itest_teardown stops and checks everything. */
int itest_setup(void **state);
int itest_teardown(void **state);
#define ITEST(fn) cmocka_unit_test_setup_teardown(fn, itest_setup, itest_teardown)
/* main() of every test program */
int itest_main(const char *group, const struct CMUnitTest *tests, size_t n);
#define ITEST_MAIN(group, tests) itest_main(group, tests, sizeof(tests) / sizeof((tests)[0]))

/*
 * itest_main() for a test whose file systems (loop devices, mounts) must not
 * outlive it (test-shadow-storage, test-exec-fsfreeze): @setup makes them
 * before any test (0 ready; else its result, e.g. 77 skipped, is returned
 * after @cleanup); @cleanup (idempotent) releases them after the tests and
 * at exit; @on_signal (async-signal-safe calls only) on SIGTERM, SIGINT,
 * SIGHUP and SIGABRT, before the test's directory is removed and the
 * signal's default action follows. Both run only in the process that
 * called this, never in a forked child.
 */
int itest_main_with_fs(const char *group, const struct CMUnitTest *tests, size_t n, int (*setup)(void),
                       void (*cleanup)(void), void (*on_signal)(void));
#define ITEST_MAIN_WITH_FS(group, tests, setup, cleanup, on_signal) \
        itest_main_with_fs(group, tests, sizeof(tests) / sizeof((tests)[0]), setup, cleanup, on_signal)

itest_env *itest_current(void);

/* ms scaled by the environment's factor */
unsigned itest_ms(const itest_env *env, unsigned ms);
/*
 * A deadline the harness passes on (lvssd's --identify-timeout and
 * --event-timeout, a writer's --freeze-timeout and --hang-ms) scaled by
 * env->deadline_factor: the factor, unless the test capped it with
 * itest_cap_deadlines(). Waits and margins (itest_ms) keep the whole factor.
 */
unsigned itest_deadline_ms(const itest_env *env, unsigned ms);
/*
 * Scale the deadlines passed on by at most @max (call before starting lvssd
 * and the writers). For a test whose run is mostly those deadlines waited out
 * (test-ws05-timeouts, test-crash): under valgrind (factor 6) a deadline
 * scaled by 3 is still seconds, far above an event's round trip there, and
 * the checks against it keep the whole factor in their margins.
 */
void itest_cap_deadlines(itest_env *env, unsigned max);
/* the generous margin for deadline checks, already scaled */
unsigned itest_margin_ms(const itest_env *env);
uint64_t itest_now_mono_usec(void);
uint64_t itest_now_real_usec(void);

/* Start lvssd and wait for READY=1. */
void itest_start_lvssd(itest_env *env, const itest_lvssd_opts *opts);
/* SIGKILL lvssd now (the test expects it to die). Returns when it is reaped. */
void itest_kill_lvssd(itest_env *env);

/*
 * Start a test writer: --name @name --writer-id (random) plus @args
 * (NULL-terminated, passed as they are; "--freeze-timeout" values and
 * "--hang-ms" values are scaled by the harness). Waits for `subscribed {id}`.
 * itest_writer_spawn only starts it; itest_writer_wait_subscribed waits.
 */
itest_writer *itest_writer_start(itest_env *env, const char *name, const char *const *args);
itest_writer *itest_writer_spawn(itest_env *env, const char *name, const char *const *args);
void itest_writer_wait_subscribed(itest_env *env, itest_writer *w, unsigned timeout_ms);
#define WRITER(env, name, ...) itest_writer_start(env, name, (const char *const[]) { __VA_ARGS__ __VA_OPT__(,) NULL })
/* SIGKILL a writer the test no longer wants (marked may_die), reaped. */
void itest_writer_kill(itest_env *env, itest_writer *w);

/* Read whatever is available on every stream, waiting up to @timeout_ms for
 * at least one new line or EOF. Returns false when nothing came. */
bool itest_pump(itest_env *env, int timeout_ms);

/*
 * Wait for a line of @s starting with @prefix, at or after the cursor; the
 * cursor moves past it. Returns the line's index, or -1 after @timeout_ms
 * (or EOF). The _must variant fails the test with the lines seen.
 */
ssize_t itest_wait_line(itest_env *env, itest_stream *s, const char *prefix, unsigned timeout_ms);
size_t itest_wait_line_must(itest_env *env, itest_proc *p, const char *prefix, unsigned timeout_ms);

/* "event <Event> {sid} <what>"; @sid NULL: any session; @what NULL: any. */
char *itest_event_prefix(char *buf, size_t size, const char *event, const vss_id *sid, const char *what);
bool itest_line_is_event(const char *line, const char *event, const vss_id *sid, const char *what);
/* Wait for the writer's `event E {sid} what` line (cursor semantics as above). */
size_t itest_wait_event(itest_env *env, itest_writer *w, const char *event, const vss_id *sid, const char *what,
                        unsigned timeout_ms);
/* Index of the first line in [from, to) that is such an event, or -1. */
ssize_t itest_find_event(itest_writer *w, const char *event, const vss_id *sid, const char *what, size_t from,
                         size_t to);
ssize_t itest_find_line(itest_stream *s, const char *prefix, size_t from, size_t to);
size_t itest_count_events(itest_writer *w, const char *event, const vss_id *sid, const char *what);
void itest_dump_stream(const char *label, const itest_stream *s);

/* Wait for a process to exit (pidfd); false after @timeout_ms. */
bool itest_wait_exit(itest_env *env, itest_proc *p, unsigned timeout_ms);

/* ---- requester helpers (in the test process) ------------------------------ */

/* vss_create_backup_components + InitializeForBackup + SetBackupState(@select_components, false, FULL, false). */
vss_backup_components *itest_requester(itest_env *env, bool select_components);
/* Release now (BackupShutdown) and forget it. */
void itest_requester_release(itest_env *env, vss_backup_components *bc);
vss_id itest_session_id(vss_backup_components *bc);

typedef vss_hresult (*itest_async_fn)(vss_backup_components *bc, vss_async **ret);
/*
 * Run an async step and wait for it, at most @bound_ms (fails the test when
 * it has not finished by then: "the call did not return"). Returns the
 * step's result; *@ret_elapsed_ms (may be NULL) how long it took.
 */
vss_hresult itest_step(itest_env *env, vss_backup_components *bc, itest_async_fn fn, const char *what,
                       unsigned bound_ms, uint64_t *ret_elapsed_ms);
/* the usual bound for a step that should not hit any deadline */
unsigned itest_step_bound(const itest_env *env);

/* Snapshot set: StartSnapshotSet + AddToSnapshotSet(env->data_dir). */
vss_id itest_start_set(itest_env *env, vss_backup_components *bc, vss_id *ret_snapshot_id);

/* A copy of a gathered status list (strings owned). */
typedef struct itest_status {
        vss_writer_status s;
        char *writer_name, *instance_name, *application_message;
} itest_status;

typedef struct itest_statuses {
        itest_status *v;
        size_t n;
} itest_statuses;

/* GatherWriterStatus (bounded), count, copy every entry, FreeWriterStatus. */
void itest_gather_status(itest_env *env, vss_backup_components *bc, itest_statuses *ret);
void itest_statuses_free(itest_statuses *st);
const itest_status *itest_status_for(const itest_statuses *st, const itest_writer *w);
/* Checks a writer's entry; @msg NULL: no message (NULL or ""). */
#define CHECK_STATUS(st, w, state, failure, app_result, msg) \
        itest_check_status(__FILE__, __LINE__, st, w, state, failure, app_result, msg)
void itest_check_status(const char *file, int line, const itest_statuses *st, const itest_writer *w,
                        vss_writer_state state, vss_hresult failure, vss_hresult app_result, const char *msg);
/* Every entry's session id is @sid; the entries are exactly @ws (in any order). */
void itest_check_status_set(const itest_statuses *st, const vss_id *sid, itest_writer *const *ws, size_t n);
/*
 * Gather (after a note "@what"), check the entries are exactly @ws with session @sid, and
 * that each is in @state with no failure and no application result or message.
 */
#define CHECK_ALL_STATUS(env, bc, sid, ws, n, state, what) \
        itest_check_all_status(__FILE__, __LINE__, env, bc, sid, ws, n, state, what)
void itest_check_all_status(const char *file, int line, itest_env *env, vss_backup_components *bc, const vss_id *sid,
                            itest_writer *const *ws, size_t n, vss_writer_state state, const char *what);

/* ---- the admin view (raw sd-bus: Coordinator1.ListWriters) ---------------- */

typedef struct itest_admin_entry {
        vss_id instance_id, writer_id;
        char *writer_name, *instance_name;
        vss_writer_state state;
        vss_hresult failure, application_result;
        char *application_message;
        vss_id session_id;
        vss_writer_event last_event;
        bool in_progress;
        uint64_t last_event_usec, duration_usec;
        bool session_active;
        char *session_state;
        uid_t uid;  /* the writer process (issue 8 item 4) */
        pid_t pid;
        char *note; /* what lvssd found wrong with its answer, "" for nothing (issue 8 item 7) */
        bool answered_by_lvssd; /* lvssd answered last_event for the writer (issue 11 §5) */
} itest_admin_entry;

typedef struct itest_admin {
        itest_admin_entry *v;
        size_t n;
} itest_admin;

void itest_list_writers(itest_env *env, itest_admin *ret);
void itest_admin_free(itest_admin *a);
const itest_admin_entry *itest_admin_for(const itest_admin *a, const itest_writer *w);

/* ---- a requester in its own process (to SIGKILL it) ----------------------- */

/*
 * Fork a child that runs @fn(@fd, @arg) and _exit()s with its result; @fd is
 * the write end of a pipe whose lines come back in the proc's stream. The
 * child uses liblvss itself (LVSS_SOCKET is inherited).
 */
typedef int (*itest_child_fn)(int fd, void *arg);
itest_proc *itest_spawn_child(itest_env *env, const char *label, itest_child_fn fn, void *arg);
/* for the child: write one line (adds the newline); never fails the test */
void itest_child_say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* SIGKILL a process (marked may_die); reaped before returning. */
void itest_kill_proc(itest_env *env, itest_proc *p);

/* ---- the state directory: catalog and shadow copies ------------------------ */

/* The session's catalog row: state and reason (owned); false when no row. */
bool itest_catalog_session(itest_env *env, const vss_id *sid, char **ret_state, char **ret_reason);
/* Rows of snapshots (for a session, or all when @sid is NULL). */
int itest_catalog_snapshot_count(itest_env *env, const vss_id *sid);
/* Snapshot directories under STATE_DIR/shadows/<set>/<snapshot>, all sets. */
int itest_shadow_dir_count(itest_env *env);

/*
 * Wait until @cond(@env, @userdata) holds, re-checking it whenever something
 * changes in the state directory or its shadows (inotify), at most
 * @timeout_ms. Returns the last value of @cond.
 */
typedef bool (*itest_cond_fn)(itest_env *env, void *userdata);
bool itest_wait_state(itest_env *env, itest_cond_fn cond, void *userdata, unsigned timeout_ms);

/* For conditions nothing in the state directory signals (process states): re-check @cond every
 * 20 ms, reading the processes' output meanwhile, at most @timeout_ms. The last value of @cond. */
bool itest_poll_until(itest_env *env, itest_cond_fn cond, void *userdata, unsigned timeout_ms);

/* An itest_cond_fn: lvssd has no child process left (a worker, a provider program). */
bool itest_lvssd_childless(itest_env *env, void *userdata);

/* A file's contents (owned) or NULL. */
char *itest_read_file(const char *path);

/* A step that must succeed and hit no deadline. */
#define STEP_OK(env, bc, fn) \
        CHECK_HR(itest_step(env, bc, fn, #fn, itest_step_bound(env), NULL), VSS_S_OK, #fn)

/* Wait until the session's catalog row is no longer 'active'; returns its state (owned) and reason. */
char *itest_wait_session_end(itest_env *env, const vss_id *sid, char **ret_reason, unsigned timeout_ms);

/* ---- restore, documents and programs (issue 4) ----------------------------- */

/*
 * Start a test writer with a given writer class id (a writer restarted for a
 * restore is the same class: the restore matches components on class and
 * instance name). Otherwise as itest_writer_start.
 */
itest_writer *itest_writer_start_with_id(itest_env *env, const char *name, const vss_id *writer_id,
                                         const char *const *args);
#define WRITER_ID(env, name, id, ...) \
        itest_writer_start_with_id(env, name, id, (const char *const[]) { __VA_ARGS__ __VA_OPT__(,) NULL })
/* SIGTERM a writer and wait for it to exit; fails the test unless it exits 0 (valgrind-clean). */
void itest_writer_stop(itest_env *env, itest_writer *w);

/*
 * Run a program (an lvss tool, a bundled writer, a load generator) as a child
 * of the test: @argv[0] is an absolute path. Its stdout comes back in the
 * proc's stream; its stderr too when @stderr_to_stream, else into a file
 * (p->log_path, read it with itest_read_file). Under valgrind (the
 * environment's setting) when @valgrind. It is a "child" of the environment:
 * the teardown SIGKILLs it if it still runs; wait for it with
 * itest_program_exit or stop it with itest_program_stop.
 */
itest_proc *itest_spawn_program(itest_env *env, const char *label, const char *const *argv, bool valgrind,
                                bool stderr_to_stream);
/* Wait (bounded) for its exit; fails the test on a timeout, a signal, or valgrind errors. Returns the exit code. */
int itest_program_exit(itest_env *env, itest_proc *p, unsigned timeout_ms);
/* SIGTERM, then itest_program_exit. */
int itest_program_stop(itest_env *env, itest_proc *p, unsigned timeout_ms);
/* Every line of a stream so far, each followed by '\n' (owned). */
char *itest_stream_text(itest_stream *s);

/* Wait (inotify on its directory, no polling) until the file at @path has at least @n lines; false after @timeout_ms. */
bool itest_wait_file_lines(itest_env *env, const char *path, size_t n, unsigned timeout_ms);
/* Write a file (fails the test on error). */
void itest_write_file(const char *path, const char *content, size_t len);

/*
 * What a test writer reported in a restore event (its `restore` and
 * `component` lines, see lvss-test-writer.c), decoded: strings owned, NULL
 * for none.
 */
typedef struct itest_restore_component {
        char *name, *logical_path;
        unsigned type;
        bool selected;
        bool selected_for_restore; /* vss_component_is_selected_for_restore() in the handler */
        char *backup_metadata, *backup_stamp, *previous_backup_stamp, *restore_metadata;
        unsigned file_restore_status;
} itest_restore_component;

typedef struct itest_restore_report {
        bool found;            /* the writer had the event in that session */
        unsigned restore_type; /* as vss_writer_get_restore_type() said in the handler */
        itest_restore_component *v;
        size_t n;
} itest_restore_report;

/* Collect the report of @w for @event ("PreRestore", "PostRestore") in session @sid; waits for the event's end line. */
void itest_restore_report_get(itest_env *env, itest_writer *w, const char *event, const vss_id *sid,
                              itest_restore_report *ret);
void itest_restore_report_free(itest_restore_report *r);
const itest_restore_component *itest_restore_report_find(const itest_restore_report *r, const char *name);
/* "%XX" decoding of a test writer value; "-" is NULL. Owned. */
char *itest_decode_value(const char *v);

/*
 * A whole component-mode backup through the public API, every step checked:
 * GatherWriterMetadata, AddComponent for every component of the writers
 * @ws (from their metadata documents), a snapshot set of env->data_dir,
 * PrepareForBackup, DoSnapshotSet, SetBackupSucceeded, BackupComplete, a
 * status gather (each of @ws STABLE), SaveAsXml, release. Returns the
 * document (owned); *@ret_set_id (may be NULL) the snapshot set.
 */
char *itest_backup_with_components(itest_env *env, itest_writer *const *ws, size_t n, vss_id *ret_set_id);

/* ---- crashes, restarts, configuration, other users (issue 5) --------------- */

/* itest_start_lvssd with `--config @config_path` (NULL: no --config). */
void itest_start_lvssd_config(itest_env *env, const itest_lvssd_opts *opts, const char *config_path);
/*
 * Start lvssd again after it died (itest_kill_lvssd): the same state
 * directory, socket and options, `--config @config_path` (NULL: none). Its
 * log continues the same file, after a marker line. Returns after READY=1,
 * so lvssd's start-up recovery is done by then.
 */
void itest_restart_lvssd(itest_env *env, const char *config_path);

/*
 * itest_spawn_child, but the child becomes @user before it runs @fn: that
 * user's groups (primary and supplementary, as in /etc/group), gid and uid
 * (all three ids each). A change of credentials clears PR_SET_PDEATHSIG, so
 * the child sets it again. A child that cannot switch says why on its pipe
 * and exits 126.
 */
itest_proc *itest_spawn_child_as(itest_env *env, const char *label, const char *user, itest_child_fn fn, void *arg);

/*
 * The admin methods over raw sd-bus (Coordinator1.ListShadows, DeleteShadows,
 * ListProviders), on a new connection to @socket_path. They never fail the
 * test (children use them too): the result is the call's hresult
 * (VSS_E_UNEXPECTED when the reply cannot be read).
 */
typedef struct itest_shadow {
        vss_id snapshot_id, set_id, session_id, provider_id;
        char *provider_name, *volume, *snapshot_path, *state;
        bool persistent;
        int32_t context;
        uint32_t attributes;
        uint64_t created_usec;
} itest_shadow;

typedef struct itest_shadow_list {
        itest_shadow *v;
        size_t n;
} itest_shadow_list;

/* A method without arguments (ListWriters, ListProviders, GetVersion); the reply is dropped. */
vss_hresult itest_admin_call(const char *socket_path, const char *method);
/* @set_id NULL or null: every shadow copy. */
vss_hresult itest_list_shadows(const char *socket_path, const vss_id *set_id, itest_shadow_list *ret);
void itest_shadow_list_free(itest_shadow_list *l);
const itest_shadow *itest_shadow_find(const itest_shadow_list *l, const vss_id *snapshot_id);
/* @what: shadow, set, for, all; @id may be NULL (null id), @volume NULL (""). */
vss_hresult itest_delete_shadows(const char *socket_path, const char *what, const vss_id *id, const char *volume,
                                 bool oldest, uint32_t *ret_deleted);
/* The id of the provider named @name: VSS_E_OBJECT_NOT_FOUND when lvssd has none. */
vss_hresult itest_provider_id(const char *socket_path, const char *name, vss_id *ret);

/* The first column of every row of @sql on the catalog, one per line (owned), or NULL on an error (printed). */
char *itest_catalog_query(itest_env *env, const char *sql);

/*
 * A fake exec provider: a shell script the harness writes as DIR/provider
 * with itest_exec_provider_write() (below; DIR = <test dir>/fake, returned,
 * owned), for `ExecProvider=NAME:DIR/provider`. It is not a snapshot tool:
 *   is-supported VOLUME             yes for any directory
 *   prepare SET SNAP VOLUME         checks the volume is a directory; prints
 *                                   DIR/prepare-says when it exists (issue 9
 *                                   part 1: "atomic"; part 2: "writable")
 *   commit SET SNAP VOLUME          copies VOLUME into DIR/snaps/SNAP, prints that path;
 *                                   appends "commit-env LVSS_WRITABLE=<its value>" to DIR/calls
 *   finalize PATH                   chmod -R a-w PATH (issue 9 part 2; lvssd calls it only
 *                                   when prepare-says holds "writable"); exits 5 when
 *                                   DIR/finalize-fails exists
 *   delete PATH                     rm -rf PATH
 *   abort SET SNAP VOLUME           rm -rf DIR/snaps/SNAP
 * Every call is appended to DIR/calls ("commit SET SNAP VOLUME"). When the
 * file DIR/hang-commit (DIR/hang-delete) exists, commit (delete) writes its
 * pid to DIR/commit-started (DIR/delete-started), atomically, and then blocks
 * until it is killed (it opens DIR/fifo, which nobody writes to).
 */
char *itest_fake_provider(itest_env *env);

/*
 * A test's own exec provider, a shell program (test-pick-worker,
 * test-exec-fsfreeze, test-provider-hang). itest_exec_provider_write()
 * makes DIR (env->dir/@name), writes "#!/bin/sh", "D='DIR'" and then @body
 * to DIR/provider (mode 0755), and makes the FIFO DIR/fifo, which nobody
 * writes to: a call that reads it blocks until the test writes to it or the
 * program is killed. The test may then add its own files to DIR.
 * itest_exec_provider_start() writes lvssd's configuration ("[Coordinator]",
 * "ExecProvider=@name:DIR/provider", then the lines of printf @extra_fmt),
 * starts lvssd with @opts and reads the provider's id from ListProviders.
 */
typedef struct itest_exec_provider {
        char *name;
        char *dir;
        char *config; /* lvssd's configuration: for itest_restart_lvssd */
        vss_id id;
} itest_exec_provider;
void itest_exec_provider_write(itest_env *env, itest_exec_provider *p, const char *name, const char *body);
void itest_exec_provider_start(itest_env *env, itest_exec_provider *p, const itest_lvssd_opts *opts,
                               const char *extra_fmt, ...) __attribute__((format(printf, 4, 5)));
void itest_exec_provider_free(itest_exec_provider *p);
/* The end of a body that makes real copies: what each step of the set answers, in
 * DIR/snaps ($step: the step, set by the body before). */
#define ITEST_EXEC_PROVIDER_STEPS                                                               \
        "case \"$step\" in\n"                                                                   \
        "prepare) echo writable ;;\n"                                                           \
        "commit) mkdir -p \"$D/snaps/$3\" && echo \"$D/snaps/$3\" ;;\n"                         \
        "delete) rm -rf \"$2\" ;;\n"                                                            \
        "abort) rm -rf \"$D/snaps/$3\" ;;\n"                                                    \
        "esac\n"                                                                                \
        "exit 0\n"

/* ---- file systems on loop devices (issue 7 btrfs, issue 10 part 3) ---------------- */

/*
 * Run in the test process before any thread (main(), before ITEST_MAIN), in a
 * private mount namespace the caller made. Each file system is a sparse image
 * on a loop device set to autoclear: the image is unlinked at once and the
 * device detaches itself once loop_fd is closed, so nothing outlives the
 * test. Unmounting and closing stay the caller's (its exit and signal paths).
 */
typedef struct itest_loop_fs {
        char image[300];   /* the image file (unlinked once attached; the name is kept) */
        char mnt[300];     /* its mount point */
        char loop_dev[64]; /* /dev/loopN while attached */
        int loop_fd;       /* held open; -1 when not */
        volatile sig_atomic_t mounted;
} itest_loop_fs;

/*
 * The start of a test that mounts file systems: refuses unless root (77, the
 * skip code, with a line naming @why), makes the directory @dir (@size bytes) as
 * $TMPDIR/lvss-@name-XXXXXX (or under /tmp), and moves the process into a
 * private mount namespace, so no mount can outlive it or be seen outside.
 * Call before any thread starts. 0; 77 when not root or no namespace;
 * 1 on another failure (said on stderr). @dir is "" unless the directory was
 * made; removing it stays the caller's. @program prefixes the lines.
 */
int itest_private_fs_dir(const char *program, const char *name, const char *why, char *dir, size_t size);

/* Runs a tool found in /usr/sbin, /sbin, /usr/bin or /bin, its stdout into @out (NUL-ended) when
 * given, else to /dev/null; stderr is the test's. Its exit status, 127 when it cannot run. */
int itest_run_tool(char *const argv[], char *out, size_t out_size);

/*
 * Makes @f: a @size-byte image at @f->image and the mount point @f->mnt (both
 * set by the caller; the directory is made), a loop device, `mkfs.@fstype -q
 * @mkfs_force`, mounted on @f->mnt. 0 ready; 77 when the tools, loop devices
 * or the kernel's @fstype are missing (said on stdout, @install naming the
 * package); 1 on another failure (said on stderr). @program prefixes the lines.
 */
int itest_loop_fs_make(const char *program, itest_loop_fs *f, const char *fstype, long long size,
                       const char *mkfs_force, const char *install);
/* Idempotent: unmounts @f (lazily when busy, said on stderr), lets go of its loop device (and
 * detaches it should autoclear not have), removes the image and the mount point. */
void itest_loop_fs_release(const char *program, itest_loop_fs *f);
/* The same from a signal handler (async-signal-safe): detach the mount, clear the loop device. */
void itest_loop_fs_release_in_signal(itest_loop_fs *f);

/* ---- test accounts: real users and groups (issues 5 and 8) ------------------ */

/*
 * Tests that run processes as other users (itest_spawn_child_as) make real
 * accounts: useradd -M -N -s /usr/sbin/nologin, groupadd. Every account is
 * removed when the test program ends, however it ends: at exit (a failed
 * test too) and on SIGTERM or SIGINT (the handler removes them, then dies of
 * the signal again). Users go first with `userdel -f` (children of a user may
 * still run when a signal ends the test), then the groups; an account that
 * cannot be removed is named on stderr. Names are unique per test program and
 * run: "lvss<tag><pid><suffix>" for a user, "lvss<tag>g<pid><suffix>" for a
 * group, so give each program its own @tag.
 *
 * itest_accounts_begin: 0 when this process may make accounts (it is root;
 * the removal is registered), else 77 after saying, when @why is not NULL,
 * "@program: skipped: needs root (@why)" on stdout (NULL: the caller says
 * what it skips). Call it once, from main(), before any test runs.
 *
 * itest_user_add (optionally a supplementary member of @group, NULL: none)
 * and itest_group_add: 0 and the name in *@ret_name (borrowed, valid until
 * the program exits); 77 when the tool is not installed (said on stdout);
 * 1 when it failed (said on stderr). The tests return these from main().
 */
int itest_accounts_begin(const char *program, char tag, const char *why);
int itest_user_add(const char *suffix, const char *group, const char **ret_name);
int itest_group_add(const char *suffix, const char **ret_name);
/* Remove every account made so far (the exit handler calls it; calling it twice is harmless). */
void itest_accounts_remove(void);
/* The uid of @user; fails the test when there is no such user. */
uid_t itest_uid_of(const char *user);
/* chmod 0711 the test directory, so that other users reach the socket in it (fails the test on error). */
void itest_open_test_dir(itest_env *env);

/* Write DIR/lvssd.conf from printf @fmt (fails the test on error); its path (owned), for itest_start_lvssd_config. */
char *itest_write_config(itest_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * For a child that says its results as "KEY 0x%08X" lines (itest_child_say):
 * wait (30 s, scaled) for the next line of @p starting with "@key " and
 * return the hresult after it; fails the test when none comes.
 */
vss_hresult itest_child_result(itest_env *env, itest_proc *p, const char *key);
/* Whether lvssd's log (so far) has @what anywhere in it; false when the log cannot be read. */
bool itest_lvssd_log_has(itest_env *env, const char *what);
/* Wait (30 s, scaled) for a child to exit 0; fails the test, printing its stream, when it does not end
 * or ends otherwise. */
void itest_wait_child_ok(itest_env *env, itest_proc *p);

/* How many children of @ppid are in state @state ('D': uninterruptible sleep) or in any state (0);
 * -1 when /proc cannot be read. */
int itest_children_in_state(pid_t ppid, char state);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Allocation failures in a whole backup session, one by one (issue 11 §4,
 * the SQLite style of src/common/test-bcd.c), on each of the three sides:
 * lvssd's session paths (lvssd-core), the requester library and the writer
 * library.
 *
 * One process holds all three, each on its own thread, talking over real
 * sd-bus on a real Unix socket: lvssd-core with its own sd-event loop
 * (server_listen(), the copy provider, the catalog), a writer made with
 * vss_writer_initialize() and run by vss_writer_run(), and the requester
 * (vss_create_backup_components()) on the main thread.
 *
 * For every step of a session (open = vss_create_backup_components with
 * InitializeForBackup and SetBackupState, identify = GatherWriterMetadata,
 * the snapshot set, prepare = PrepareForBackup, freeze/thaw = DoSnapshotSet, gather =
 * GatherWriterStatus, complete = BackupComplete, abort = AbortBackup, and
 * BackupShutdown = the requester's release), and for each side, a round is:
 * a fresh session run up to the step, then the step with the Nth allocation
 * of that side failing, then the requester released; N = 0, 1, 2, ... until
 * the step runs with no allocation failing. After every round:
 *
 *  - the step returned VSS_S_OK or a failure code (no crash: ASan/UBSan in
 *    make check-asan);
 *  - with nothing failing, the step succeeded;
 *  - lvssd ends the session (no session left in its table) and the writer is
 *    not frozen (it got Thaw or Abort: WS-6/WS-7, "no application left
 *    frozen");
 *  - no shadow copy is left: lvssd deleted the auto-release copies, or, when
 *    their deletion failed, kept their catalog rows so that the start-up
 *    recovery (manager_recover(), run here) deletes them;
 *  - nothing leaks: LeakSanitizer at exit (make check-asan) sees every round,
 *    and lvssd-core is torn down fully at the end.
 *
 * What is wrapped, and why: the test is linked with -Wl,--wrap=malloc (and
 * calloc, realloc, reallocarray, strdup, strndup), which redirects the calls
 * made by the objects linked statically into this program: lvss's own code
 * (lvssd-core, libcommon, libprotocol, libcatalog, libproviders, and the
 * requester and writer sources compiled in). libsystemd, libxml2 and SQLite
 * are shared libraries, so their internal allocations are not counted:
 * their own failure handling is theirs to test, and failing them would test
 * sd-bus's recovery rather than lvss's. The countdown only runs on the
 * thread of the side under test (a thread-local role), only between arm()
 * and disarm() around the step, and not in lvssd's forked commit child.
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <dirent.h>

#include <lvss/vss.h>

#include "basic/fs-util.h"
#include "basic/test-run-dir.h"
#include "coordinator.h"
#include "worker.h"

/* ---- what main.c gives the other parts ------------------------------------ */

static bool verbose;

__attribute__((format(printf, 2, 0))) static void vlog(const char *prefix, const char *fmt, va_list ap) {
        if (!verbose)
                return;
        fputs(prefix, stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

void log_msg(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog("lvssd: ", fmt, ap);
        va_end(ap);
}

void log_denied(Manager *m, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog("lvssd: denied: ", fmt, ap);
        va_end(ap);
}

void log_session(const Session *s, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog("lvssd: session: ", fmt, ap);
        va_end(ap);
}

void log_session_writer(const Session *s, const char *writer, vss_writer_event event, vss_hresult hr,
                        const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog("lvssd: session: ", fmt, ap);
        va_end(ap);
}

/* The writer-status history is not under test here: main.c's queue writes rows to the catalog. */
void manager_queue_history(Manager *m, const lvss_catalog_status *row) {
}

void manager_flush_history(Manager *m) {
}

void manager_flush_history_forced(Manager *m, const Session *self) {
}

void manager_writers_frozen(Manager *m, const vss_id *session_id, bool frozen) {
}

/* ---- allocation failures ----------------------------------------------------- */

typedef enum Side {
        SIDE_NONE,
        SIDE_LVSSD,
        SIDE_REQUESTER,
        SIDE_WRITER,
} Side;

static const char *const side_names[] = {
        [SIDE_NONE] = "none",
        [SIDE_LVSSD] = "lvssd",
        [SIDE_REQUESTER] = "requester",
        [SIDE_WRITER] = "writer",
};

static _Thread_local Side thread_side;   /* the side this thread runs */
static _Atomic Side armed_side;          /* the side whose allocations count */
static atomic_long alloc_countdown = -1; /* allocations before the one that fails */
static atomic_bool alloc_failed;         /* the armed allocation was reached */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_reallocarray(void *p, size_t n, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_reallocarray(void *p, size_t n, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static bool alloc_fails(void) {
        if (thread_side == SIDE_NONE || thread_side != atomic_load(&armed_side))
                return false;
        if (atomic_fetch_sub(&alloc_countdown, 1) != 0)
                return false;
        atomic_store(&alloc_failed, true);
        errno = ENOMEM;
        return true;
}

void *__wrap_malloc(size_t size) {
        return alloc_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size) {
        return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size) {
        return alloc_fails() ? NULL : __real_realloc(p, size);
}

void *__wrap_reallocarray(void *p, size_t n, size_t size) {
        return alloc_fails() ? NULL : __real_reallocarray(p, n, size);
}

char *__wrap_strdup(const char *s) {
        return alloc_fails() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n) {
        return alloc_fails() ? NULL : __real_strndup(s, n);
}

/* lvssd's commit runs in a forked child: it must not count on with its copy of
 * the countdown (that would fail a second allocation, one in each process). */
static void child_disarms(void) {
        atomic_store(&armed_side, SIDE_NONE);
}

static void arm(Side side, long n) {
        atomic_store(&alloc_failed, false);
        atomic_store(&alloc_countdown, n);
        atomic_store(&armed_side, side);
}

static bool disarm(void) {
        atomic_store(&armed_side, SIDE_NONE);
        atomic_store(&alloc_countdown, -1);
        return atomic_load(&alloc_failed);
}

/* ---- time --------------------------------------------------------------------- */

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* A generous bound for anything lvssd must finish (its event deadlines are set to 2 s below). */
#define SETTLE_USEC (30 * USEC_PER_SEC)
/* Longer than any deadline of this test's lvssd (2 s), shorter than the requester's D-Bus call timeout (25 s). */
#define STEP_BOUND_USEC (20 * USEC_PER_SEC)

/* ---- the run's directory, removed on every exit ------------------------------------ */

/* Every lvssd of the run gets a directory under this one (tmpfs). The test removes each of them
 * when its case ends well; when a case fails (its teardown may fail before the removal), when
 * main() returns with failures, or on SIGTERM (meson's timeout), SIGINT, SIGHUP or SIGABRT,
 * test-run-dir.c takes the whole parent (issue 13 part T item 2: 77 of them had piled up). */
static char run_dir[64];

static void make_run_dir(void) {
        int r;

        snprintf(run_dir, sizeof run_dir, "/dev/shm/lvss-session-alloc-XXXXXX");
        r = test_run_dir_make(run_dir);
        if (r < 0) {
                fprintf(stderr, "test-session-alloc: cannot make %s: %s\n", run_dir, strerror(-r));
                exit(EXIT_FAILURE);
        }
}

/* ---- lvssd on its own thread -------------------------------------------------- */

static struct {
        Manager m;
        pthread_t thread;
        int call_fd;                     /* eventfd: run `call` on the lvssd thread */
        sd_event_source *call_source;
        void (*call)(Manager *m, void *arg);
        void *call_arg;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool call_done;
        char dir[sizeof run_dir + 16];
} d = { .call_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int on_call(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t v;

        if (read(fd, &v, sizeof v) != sizeof v)
                return 0;
        d.call(&d.m, d.call_arg);
        pthread_mutex_lock(&d.lock);
        d.call_done = true;
        pthread_cond_broadcast(&d.cond);
        pthread_mutex_unlock(&d.lock);
        return 0;
}

/* Run @fn on lvssd's thread, from its loop, and wait for it: the only way the test touches lvssd's state. */
static void lvssd_call(void (*fn)(Manager *m, void *arg), void *arg) {
        uint64_t one = 1;

        pthread_mutex_lock(&d.lock);
        d.call = fn;
        d.call_arg = arg;
        d.call_done = false;
        assert_int_equal(write(d.call_fd, &one, sizeof one), sizeof one);
        while (!d.call_done)
                pthread_cond_wait(&d.cond, &d.lock);
        pthread_mutex_unlock(&d.lock);
}

static void *lvssd_thread(void *arg) {
        thread_side = SIDE_LVSSD;
        assert_true(sd_event_loop(d.m.event) >= 0);
        return NULL;
}

static void count_sessions(Manager *m, void *arg) {
        size_t n = 0;
        for (Session *s = m->sessions; s; s = s->next)
                n++;
        *(size_t *) arg = n;
}

static void stop_loop(Manager *m, void *arg) {
        assert_true(sd_event_exit(m->event, 0) >= 0);
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void lvssd_start(void) {
        char socket_path[128], state_dir[128], config_path[128], data_dir[128], catalog_path[160];
        char *argv[] = {
                "lvssd", "--foreground", "--socket", socket_path, "--state-dir", state_dir, "--config", config_path,
                "--identify-timeout", "2000", "--event-timeout", "2000", "--hold-window", "2000", NULL,
        };
        int r;

        /* tmpfs: the catalog's fsyncs cost nothing, and the copy provider copies one small file */
        snprintf(d.dir, sizeof d.dir, "%s/lvssd-XXXXXX", run_dir);
        assert_non_null(mkdtemp(d.dir));
        snprintf(socket_path, sizeof socket_path, "%s/lvssd.sock", d.dir);
        snprintf(state_dir, sizeof state_dir, "%s/state", d.dir);
        snprintf(config_path, sizeof config_path, "%s/lvssd.conf", d.dir);
        snprintf(data_dir, sizeof data_dir, "%s/data", d.dir);
        write_file(config_path, "");
        assert_int_equal(mkdir(data_dir, 0755), 0);
        snprintf(catalog_path, sizeof catalog_path, "%s/data/app.db", d.dir);
        write_file(catalog_path, "application data\n");
        assert_int_equal(setenv("LVSS_SOCKET", socket_path, 1), 0);

        d.m = (Manager) { .listen_fd = -1, .registry_hooks = &session_registry_hooks }; /* as main.c: sessions hear of a writer going */
        /* getopt starts again from the first argument (glibc: 0 also resets its state); without this
         * the second lvssd_start() of the process parsed nothing and ran on the default state
         * directory, /var/lib/lvss: the machine's own catalog */
        optind = 0;
        assert_int_equal(config_parse_argv(&d.m.cfg, (int) (sizeof argv / sizeof argv[0]) - 1, argv), 1);
        assert_int_equal(config_load_file(&d.m.cfg), 0);
        assert_true(config_finish(&d.m.cfg) >= 0);
        assert_true(config_resolve_accounts(&d.m.cfg) >= 0);
        assert_true(lvss_mkdir_parents(d.m.cfg.state_dir, 0700) >= 0);
        assert_true(lvss_mkdir_parents(d.m.cfg.storage_dir, 0700) >= 0);
        snprintf(catalog_path, sizeof catalog_path, "%s/catalog.db", d.m.cfg.state_dir);
        assert_true(lvss_catalog_open(catalog_path, &d.m.catalog) >= 0);
        assert_true(manager_providers_init(&d.m) >= 0);
        assert_true(sd_event_new(&d.m.event) >= 0);
        /* as main.c: while the loop runs, the catalog is written by its own thread (issue 11 §1) */
        assert_true(lvss_catalog_queue_new(catalog_path, d.m.event, &d.m.catalog_queue) >= 0);
        d.call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        assert_true(d.call_fd >= 0);
        assert_true(sd_event_add_io(d.m.event, &d.call_source, d.call_fd, EPOLLIN, on_call, NULL) >= 0);
        r = server_listen(&d.m);
        assert_true(r >= 0);
        assert_int_equal(pthread_create(&d.thread, NULL, lvssd_thread, NULL), 0);
}

static void lvssd_stop(void) {
        char cmd[256];

        lvssd_call(stop_loop, NULL);
        assert_int_equal(pthread_join(d.thread, NULL), 0);
        /* as main.c's on_term(): a requester still connected (a round that failed before its release)
         * forgets its session first; else server_done() below would tell a freed session that its
         * requester is gone (a use after free, then glibc's "double free or corruption") */
        for (Client *c = d.m.clients; c; c = c->next)
                if (c->session) {
                        Session *s = TAKE_PTR(c->session);
                        s->client = NULL;
                }
        /* what main() does after its loop */
        while (d.m.sessions)
                session_free(d.m.sessions);
        manager_flush_history_forced(&d.m, NULL);
        server_done(&d.m);
        worker_done_all(&d.m);
        manager_providers_done(&d.m);
        d.m.catalog_queue = lvss_catalog_queue_free(d.m.catalog_queue);
        d.m.catalog = lvss_catalog_close(d.m.catalog);
        d.call_source = sd_event_source_disable_unref(d.call_source);
        d.m.event = sd_event_unref(d.m.event);
        config_done(&d.m.cfg);
        close(d.call_fd);
        /* a leaked copy is immutable (the copy provider's chattr +i): make it removable */
        snprintf(cmd, sizeof cmd, "chattr -R -i -- '%s' 2>/dev/null; rm -rf -- '%s'", d.dir, d.dir);
        assert_int_equal(system(cmd), 0);
}

/* ---- the writer on its own thread ---------------------------------------------- */

static struct {
        vss_writer *w;
        pthread_t thread;
        atomic_bool running;
        atomic_bool frozen;
        atomic_uint freezes;
} wr;

static bool on_freeze(vss_writer *w, void *u) {
        atomic_store(&wr.frozen, true);
        atomic_fetch_add(&wr.freezes, 1);
        return true;
}

static bool on_thaw(vss_writer *w, void *u) {
        atomic_store(&wr.frozen, false);
        return true;
}

static bool on_abort(vss_writer *w, void *u) {
        atomic_store(&wr.frozen, false);
        return true;
}

static void *writer_thread(void *arg) {
        thread_side = SIDE_WRITER;
        (void) vss_writer_run(wr.w);
        atomic_store(&wr.running, false);
        return NULL;
}

static void writer_start(void) {
        static const vss_writer_callbacks cb = {
                .size = sizeof(vss_writer_callbacks),
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_abort = on_abort,
        };
        vss_writer_options o = {
                .size = sizeof o,
                .writer_name = "alloc-writer",
                .usage = VSS_UT_USERDATA,
                .source = VSS_ST_OTHER,
                .freeze_timeout_ms = 60000, /* far beyond SETTLE_USEC: a thaw must come from lvssd */
        };

        o.writer_id.bytes[0] = 0xa1;
        assert_int_equal(vss_writer_initialize(&o, &cb, NULL, &wr.w), VSS_S_OK);
        assert_int_equal(vss_writer_subscribe(wr.w), VSS_S_OK);
        atomic_store(&wr.running, true);
        assert_int_equal(pthread_create(&wr.thread, NULL, writer_thread, NULL), 0);
}

static void writer_stop(void) {
        vss_writer_stop(wr.w);
        assert_int_equal(pthread_join(wr.thread, NULL), 0);
        wr.w = vss_writer_release(wr.w);
        assert_false(atomic_load(&wr.frozen));
}

/* ---- the steps of a session ------------------------------------------------------ */

typedef enum TStep {
        TSTEP_OPEN,      /* vss_create_backup_components + InitializeForBackup + SetBackupState */
        TSTEP_IDENTIFY,  /* GatherWriterMetadata */
        TSTEP_SET,       /* StartSnapshotSet + AddToSnapshotSet */
        TSTEP_PREPARE,   /* PrepareForBackup */
        TSTEP_SNAPSHOT,  /* DoSnapshotSet: PrepareForSnapshot, Freeze, commit, Thaw, PostSnapshot */
        TSTEP_GATHER,    /* GatherWriterStatus */
        TSTEP_COMPLETE,  /* BackupComplete */
        TSTEP_ABORT,     /* AbortBackup (instead of the snapshot) */
        TSTEP_SHUTDOWN,  /* the requester's release: BackupShutdown */
        _TSTEP_MAX,
} TStep;

static const char *const step_names[] = {
        [TSTEP_OPEN] = "open", [TSTEP_IDENTIFY] = "identify", [TSTEP_SET] = "snapshot set", [TSTEP_PREPARE] = "prepare",
        [TSTEP_SNAPSHOT] = "freeze/thaw", [TSTEP_GATHER] = "gather",  [TSTEP_COMPLETE] = "complete",
        [TSTEP_ABORT] = "abort",       [TSTEP_SHUTDOWN] = "shutdown",
};

/* The steps that come before @step in its session (after TSTEP_OPEN). */
static const TStep *prerequisites(TStep step, size_t *ret_n) {
        static const TStep full[] = { TSTEP_IDENTIFY, TSTEP_SET, TSTEP_PREPARE, TSTEP_SNAPSHOT, TSTEP_GATHER, TSTEP_COMPLETE };
        static const TStep before_abort[] = { TSTEP_IDENTIFY, TSTEP_SET, TSTEP_PREPARE };

        switch (step) {
        case TSTEP_ABORT:
                *ret_n = sizeof before_abort / sizeof before_abort[0];
                return before_abort;
        case TSTEP_SHUTDOWN:
                *ret_n = sizeof full / sizeof full[0];
                return full;
        case TSTEP_OPEN:
                *ret_n = 0;
                return full;
        default:
                *ret_n = (size_t) (step - TSTEP_IDENTIFY);
                return full;
        }
}

static vss_hresult open_requester(vss_backup_components **ret) {
        vss_backup_components *bc = NULL;
        vss_hresult hr;

        hr = vss_create_backup_components(&bc);
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_initialize_for_backup(bc, NULL);
        if (VSS_SUCCEEDED(hr))
                hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false);
        *ret = bc;
        return hr;
}

typedef vss_hresult (*async_fn)(vss_backup_components *bc, vss_async **ret);

static vss_hresult wait_async(vss_backup_components *bc, async_fn fn) {
        vss_async *a = NULL;
        vss_hresult hr;

        hr = fn(bc, &a);
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_async_wait(a, 60000);
        vss_async_release(a);
        return hr;
}

static vss_hresult run_step(vss_backup_components **bc, TStep step) {
        vss_id set, snap;

        switch (step) {
        case TSTEP_OPEN:
                return open_requester(bc);
        case TSTEP_IDENTIFY:
                return wait_async(*bc, vss_gather_writer_metadata);
        case TSTEP_SET: {
                vss_hresult hr = vss_start_snapshot_set(*bc, &set);
                char data_dir[128];

                snprintf(data_dir, sizeof data_dir, "%s/data", d.dir);
                return VSS_FAILED(hr) ? hr : vss_add_to_snapshot_set(*bc, data_dir, NULL, &snap);
        }
        case TSTEP_PREPARE:
                return wait_async(*bc, vss_prepare_for_backup);
        case TSTEP_SNAPSHOT:
                return wait_async(*bc, vss_do_snapshot_set);
        case TSTEP_GATHER:
                return wait_async(*bc, vss_gather_writer_status);
        case TSTEP_COMPLETE:
                return wait_async(*bc, vss_backup_complete);
        case TSTEP_ABORT:
                return vss_abort_backup(*bc);
        case TSTEP_SHUTDOWN:
                *bc = vss_backup_components_release(*bc);
                return VSS_S_OK;
        default:
                fail();
                return VSS_E_UNEXPECTED;
        }
}

/* Shadow copies in lvssd's storage (only lvssd's thread changes it: read from there). */
static void count_copies(Manager *m, void *arg) {
        DIR *dir = opendir(m->cfg.storage_dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(dir);
        while ((de = readdir(dir)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(dir);
        *(size_t *) arg = n;
}

static void recover(Manager *m, void *arg) {
        manager_recover(m);
}

/* After a round: lvssd has ended the session, deleted its (auto-release)
 * shadow copies, and the writer is not frozen. */
static void settle(Side side, TStep step, long n) {
        uint64_t deadline = mono_usec() + SETTLE_USEC;
        size_t sessions, copies;
        bool recovered = false;

        for (;;) {
                lvssd_call(count_sessions, &sessions);
                lvssd_call(count_copies, &copies);
                if (sessions == 0 && copies > 0 && !recovered) {
                        /* A copy lvssd could not delete keeps its catalog row, and the next
                         * start-up deletes it (snapshot_delete_auto_release): run that
                         * recovery now; it must leave nothing behind. */
                        lvssd_call(recover, NULL);
                        recovered = true;
                        continue;
                }
                if (sessions == 0 && copies == 0 && !atomic_load(&wr.frozen))
                        break;
                if (mono_usec() > deadline)
                        fail_msg("%s, allocation %ld of the %s failing: %zu session%s left in lvssd, %zu shadow "
                                 "cop%s left in its storage, writer %s",
                                 step_names[step], n, side_names[side], sessions, sessions == 1 ? "" : "s", copies,
                                 copies == 1 ? "y" : "ies", atomic_load(&wr.frozen) ? "still frozen" : "thawed");
                usleep(1000); /* polling a condition with a deadline, as harness.h allows */
        }
        if (!atomic_load(&wr.running)) {
                /* the writer library gave up its connection (an allocation failed in it): a new one */
                assert_int_equal(pthread_join(wr.thread, NULL), 0);
                wr.w = vss_writer_release(wr.w);
                writer_start();
        }
}

/* One round; returns whether the armed allocation was reached. */
static bool round_one(Side side, TStep step, long n) {
        vss_backup_components *bc = NULL;
        const TStep *pre;
        size_t n_pre;
        vss_hresult hr;
        bool failed;

        if (step != TSTEP_OPEN) {
                hr = open_requester(&bc);
                if (hr != VSS_S_OK)
                        fail_msg("open (before %s), nothing failing: %s", step_names[step], vss_hresult_name(hr) ?: "?");
        }
        pre = prerequisites(step, &n_pre);
        for (size_t i = 0; i < n_pre; i++) {
                hr = run_step(&bc, pre[i]);
                if (hr != VSS_S_OK)
                        fail_msg("%s (before %s), nothing failing: %s", step_names[pre[i]], step_names[step],
                                 vss_hresult_name(hr) ?: "?");
        }

        thread_side = SIDE_REQUESTER;
        arm(side, n);
        uint64_t began = mono_usec();
        hr = run_step(&bc, step);
        uint64_t took = mono_usec() - began;
        failed = disarm();
        thread_side = SIDE_NONE;

        /* The step ends, well or not, and does not wait for an answer that was lost: lvssd's own
         * deadlines are 2 s here (identify, events, hold window) and its provider steps on one
         * small file take milliseconds, while the requester's D-Bus call timeout is 25 s and the
         * provider step deadline 600 s. A step still pending after its 60 s wait, or one that took
         * over STEP_BOUND_USEC, waited for an answer lvssd lost (a worker's answer dropped when
         * reading it failed: it answered nothing until its deadline). */
        if (hr == VSS_S_ASYNC_PENDING || took > STEP_BOUND_USEC)
                fail_msg("%s, allocation %ld of the %s failing: the step %s after %.1f s", step_names[step], n,
                         side_names[side], hr == VSS_S_ASYNC_PENDING ? "had not ended" : "ended",
                         (double) took / USEC_PER_SEC);

        if (!failed && hr != VSS_S_OK)
                fail_msg("%s with no allocation failing: %s", step_names[step], vss_hresult_name(hr) ?: "?");
        if (VSS_FAILED(hr) && !vss_hresult_name(hr))
                fail_msg("%s, allocation %ld of the %s failing: an unknown code 0x%08x", step_names[step], n,
                         side_names[side], (unsigned) hr);
        if (verbose && failed)
                fprintf(stderr, "%s, %s allocation %ld failing: %s\n", step_names[step], side_names[side], n,
                        vss_hresult_name(hr) ?: "?");
        vss_backup_components_release(bc);
        settle(side, step, n);
        return failed;
}

/* Every allocation of @side in @step, one at a time. */
static void fail_each(Side side, TStep step) {
        long n;

        for (n = 0; round_one(side, step, n); n++)
                if (n > 5000)
                        fail_msg("%s: more than 5000 allocations of the %s?", step_names[step], side_names[side]);
        if (verbose)
                fprintf(stderr, "%s: %ld allocations of the %s, each failed once\n", step_names[step], n,
                        side_names[side]);
}

static void test_side(Side side) {
        for (TStep step = 0; step < _TSTEP_MAX; step++)
                fail_each(side, step);
}

/* Issue 11 §4: lvssd's session paths. */
static void test_lvssd_session_paths(void **state) {
        test_side(SIDE_LVSSD);
}

/* Issue 11 §4: the requester library. */
static void test_requester_library(void **state) {
        test_side(SIDE_REQUESTER);
}

/* Issue 11 §4: the writer library. */
static void test_writer_library(void **state) {
        test_side(SIDE_WRITER);
}

static int setup(void **state) {
        lvssd_start();
        writer_start();
        return 0;
}

static int teardown(void **state) {
        writer_stop();
        lvssd_stop();
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lvssd_session_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_requester_library, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_library, setup, teardown),
        };
        sigset_t mask;

        verbose = getenv("LVSS_TEST_VERBOSE") != NULL;
        /* lvssd reaps its commit child through sd-event: SIGCHLD blocked in every thread, as in main.c */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        assert_int_equal(pthread_sigmask(SIG_BLOCK, &mask, NULL), 0);
        signal(SIGPIPE, SIG_IGN);
        assert_int_equal(pthread_atfork(NULL, NULL, child_disarms), 0);
        make_run_dir();
        return cmocka_run_group_tests(tests, NULL, NULL);
}

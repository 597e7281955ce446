/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss itself: its own lvssd, N no-op writers, the bench as the requester.
 *
 * For one N: start lvssd in a fresh directory (state dir, socket, an empty
 * file as its configuration so /etc/lvss/lvssd.conf plays no part) and wait
 * for its READY=1 on a notify socket of our own; read its VmRSS; start N
 * lvss-bench-writer processes and wait until every one printed "ready" on
 * the shared pipe (vss_writer_subscribe returned); read VmRSS again. Then
 * run whole backup sessions through the public requester API, one warm-up
 * and `reps` measured ones, each:
 *
 *   InitializeForBackup, SetBackupState
 *   GatherWriterMetadata          -> "identify"  (Identify to all N)
 *   StartSnapshotSet, AddToSnapshotSet (an empty directory, copy provider)
 *   PrepareForBackup              -> "event"     (the plain one-event fan-out)
 *   DoSnapshotSet                 -> "do-snapshot-set", and from the
 *                                    writers' stamps "freeze-window"
 *   BackupComplete                -> "backup-complete"
 *   GatherWriterStatus (final)    -> end of "sequence" (from GatherWriterMetadata)
 *   GatherWriterStatus x k        -> "gather-status"
 *   release (BackupShutdown)      -> "release"
 *
 * Every step must succeed and the final status must list all N writers as
 * stable: a benchmark of a broken sequence would be worthless. At the
 * largest N, lvssd's CPU time and wake-ups are read over an idle interval
 * with every writer connected, once before the first session and once after
 * the last.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <systemd/sd-bus.h>

#include <lvss/vss.h>

#include "bench-profile.h"

#define STEP_TIMEOUT_MS 120000U
#define READY_TIMEOUT_MS 30000U
#define SUBSCRIBE_TIMEOUT_MS 60000U

typedef struct lvss_env {
        char *dir;
        char *socket_path;
        char *volume;
        char *notify_env;
        int log_fd;
        pid_t lvssd;
        pid_t *writers;
        size_t n_writers;
        int slots_fd;
        bench_slot *slots;
        size_t slots_size;
        bool failed;
} lvss_env;

typedef struct lvss_samples {
        samples identify, event, event_cpu, event_writers_cpu, event_requester_cpu, do_snapshot_set, freeze_window, backup_complete, sequence, gather_status, release;
} lvss_samples;

static void lvss_samples_done(lvss_samples *s) {
        samples_done(&s->identify);
        samples_done(&s->event);
        samples_done(&s->event_cpu);
        samples_done(&s->event_writers_cpu);
        samples_done(&s->event_requester_cpu);
        samples_done(&s->do_snapshot_set);
        samples_done(&s->freeze_window);
        samples_done(&s->backup_complete);
        samples_done(&s->sequence);
        samples_done(&s->gather_status);
        samples_done(&s->release);
}

static const char *hr_str(vss_hresult hr) {
        static char buf[160];
        const char *name = vss_hresult_name(hr);

        snprintf(buf, sizeof buf, "%s (0x%08" PRIx32 "): %s", name ? name : "?", (uint32_t) hr,
                 vss_hresult_text(hr));
        return buf;
}

/* ---- lvssd ------------------------------------------------------------------ */

static int lvssd_start(const bench_config *cfg, lvss_env *e) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int notify_fd = -1, pidfd = -1;
        _cleanup_(freep) char *notify_path = NULL, *state_dir = NULL, *config = NULL;
        uint64_t deadline;
        int r, fd;

        if (asprintf(&notify_path, "%s/notify", e->dir) < 0 || asprintf(&state_dir, "%s/state", e->dir) < 0 ||
            asprintf(&config, "%s/lvssd.conf", e->dir) < 0 || asprintf(&e->notify_env, "NOTIFY_SOCKET=%s", notify_path) < 0)
                return -ENOMEM;
        if (strlen(notify_path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, notify_path);

        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (notify_fd < 0 || bind(notify_fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                bench_log("lvss: cannot make the notify socket %s: %m", notify_path);
                return -errno;
        }

        fd = open(config, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        close(fd);

        char *argv[] = {
                (char *) cfg->lvssd_path, (char *) "--foreground",
                (char *) "--socket", e->socket_path,
                (char *) "--state-dir", state_dir,
                (char *) "--config", config,
                /* Generous deadlines: 1000 writers on 2 cores must never time out. */
                (char *) "--identify-timeout", (char *) "60000",
                (char *) "--event-timeout", (char *) "60000",
                NULL,
        };
        spawn_fd fds[] = { { e->log_fd, STDOUT_FILENO }, { e->log_fd, STDERR_FILENO } };
        r = bench_spawn(argv, fds, ELEMENTSOF(fds), e->notify_env, &e->lvssd);
        if (r < 0) {
                bench_log("lvss: cannot start %s: %s", cfg->lvssd_path, strerror(-r));
                return r;
        }

        /* READY=1 on our socket, or lvssd's exit, whichever comes first. */
        pidfd = (int) syscall(SYS_pidfd_open, e->lvssd, 0);
        deadline = now_nsec() + (uint64_t) READY_TIMEOUT_MS * 1000000;
        for (;;) {
                struct pollfd p[2] = { { .fd = notify_fd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
                char buf[4096];
                uint64_t now = now_nsec();
                ssize_t k;

                if (now >= deadline) {
                        bench_log("lvss: lvssd did not send READY=1 within %u ms (log: %s/lvssd.log)",
                                  READY_TIMEOUT_MS, e->dir);
                        return -ETIMEDOUT;
                }
                r = poll(p, pidfd >= 0 ? 2 : 1, (int) ((deadline - now) / 1000000) + 1);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                if (p[1].revents) {
                        bench_log("lvss: lvssd exited before it was ready (log: %s/lvssd.log)", e->dir);
                        return -ESRCH;
                }
                k = recv(notify_fd, buf, sizeof buf - 1, 0);
                if (k < 0)
                        continue;
                buf[k] = 0;
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                        if (streq_ptr(line, "READY=1"))
                                return 0;
        }
}

/* ---- writers ---------------------------------------------------------------- */

static int writers_start(const bench_config *cfg, lvss_env *e, unsigned n) {
        _cleanup_(closep) int ready_r = -1, ready_w = -1;
        int pipefd[2], r;

        e->slots_size = (size_t) n * sizeof(bench_slot);
        e->slots_fd = memfd_create("lvss-bench-slots", MFD_CLOEXEC);
        if (e->slots_fd < 0 || ftruncate(e->slots_fd, (off_t) e->slots_size) < 0)
                return -errno;
        e->slots = mmap(NULL, e->slots_size, PROT_READ | PROT_WRITE, MAP_SHARED, e->slots_fd, 0);
        if (e->slots == MAP_FAILED) {
                e->slots = NULL;
                return -errno;
        }

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        ready_r = pipefd[0];
        ready_w = pipefd[1];

        e->writers = calloc(n, sizeof *e->writers);
        if (!e->writers)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                char index[16];
                char *argv[] = { (char *) cfg->writer_path, index, NULL };
                spawn_fd fds[] = {
                        { ready_w, STDOUT_FILENO },
                        { e->log_fd, STDERR_FILENO },
                        { e->slots_fd, BENCH_SLOTS_FD },
                };

                snprintf(index, sizeof index, "%u", i);
                r = bench_spawn(argv, fds, ELEMENTSOF(fds), NULL, &e->writers[i]);
                if (r < 0) {
                        bench_log("lvss: cannot start writer %u: %s", i, strerror(-r));
                        return r;
                }
                e->n_writers = i + 1;
        }
        /* Only the writers hold the write end now: EOF means they all died. */
        closep(&ready_w);
        return wait_lines(ready_r, "ready ", n, SUBSCRIBE_TIMEOUT_MS, "lvss writers");
}

static void lvss_env_done(lvss_env *e) {
        int status;

        /* Writers first (no-op writers have nothing to lose), then lvssd the polite way. */
        for (size_t i = 0; i < e->n_writers; i++)
                (void) kill(e->writers[i], SIGKILL);
        for (size_t i = 0; i < e->n_writers; i++)
                (void) bench_reap(e->writers[i], 10000, NULL);
        free(e->writers);
        if (e->lvssd > 0) {
                (void) kill(e->lvssd, SIGTERM);
                if (bench_reap(e->lvssd, 15000, &status) >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                        bench_log("lvss: lvssd did not exit cleanly (status 0x%x, log: %s/lvssd.log)",
                                  (unsigned) status, e->dir);
                        e->failed = true;
                }
        }
        if (e->slots)
                munmap(e->slots, e->slots_size);
        closep(&e->slots_fd);
        closep(&e->log_fd);
        if (e->dir && !e->failed)
                (void) rm_rf(e->dir);
        else if (e->dir)
                bench_log("lvss: kept %s for inspection", e->dir);
        free(e->dir);
        free(e->socket_path);
        free(e->volume);
        free(e->notify_env);
}

/* ---- one backup session --------------------------------------------------------- */

typedef vss_hresult (*step_fn)(vss_backup_components *bc, vss_async **ret);

static int step(vss_backup_components *bc, step_fn fn, const char *what, double *ret_usec) {
        vss_async *a = NULL;
        vss_hresult hr;
        uint64_t t0;

        t0 = now_nsec();
        hr = fn(bc, &a);
        if (hr == VSS_S_OK)
                hr = vss_async_wait(a, STEP_TIMEOUT_MS);
        if (ret_usec)
                *ret_usec = (double) (now_nsec() - t0) / 1000.0;
        vss_async_release(a);
        if (hr != VSS_S_OK) {
                bench_log("lvss: %s failed: %s", what, hr_str(hr));
                return -EIO;
        }
        return 0;
}

static int check_status(vss_backup_components *bc, unsigned n) {
        unsigned count = 0, stable = 0;
        vss_writer_status st = { .size = sizeof(vss_writer_status) };
        vss_hresult hr;

        hr = vss_get_writer_status_count(bc, &count);
        if (hr != VSS_S_OK || count != n) {
                bench_log("lvss: the status lists %u writers, expected %u (%s)", count, n, hr_str(hr));
                return -EPROTO;
        }
        for (unsigned i = 0; i < count; i++)
                if (vss_get_writer_status(bc, i, &st) == VSS_S_OK && st.state == VSS_WS_STABLE &&
                    st.failure == VSS_S_OK)
                        stable++;
        vss_free_writer_status(bc);
        if (stable != n) {
                bench_log("lvss: %u of %u writers are not stable after BackupComplete", n - stable, n);
                return -EPROTO;
        }
        return 0;
}

static int freeze_window(lvss_env *e, unsigned n, double *ret_usec) {
        uint64_t first = UINT64_MAX, last = 0;

        for (unsigned i = 0; i < n; i++) {
                const bench_slot *s = &e->slots[i];
                if (s->freeze_start_nsec == 0 || s->thaw_end_nsec == 0) {
                        bench_log("lvss: writer %u did not see both Freeze and Thaw", i);
                        return -EPROTO;
                }
                if (s->freeze_start_nsec < first)
                        first = s->freeze_start_nsec;
                if (s->thaw_end_nsec > last)
                        last = s->thaw_end_nsec;
        }
        *ret_usec = (double) (last - first) / 1000.0;
        return 0;
}

static vss_backup_components *bc_releasep_(vss_backup_components **bc) {
        return vss_backup_components_release(*bc);
}

/* The writers' CPU time, all of them together (/proc/PID/schedstat), in ns. Read outside the
 * timed region: 1000 reads take a few ms. */
static uint64_t writers_cpu_nsec(const lvss_env *e) {
        uint64_t sum = 0, v;

        for (size_t i = 0; i < e->n_writers; i++)
                if (proc_cpu_nsec(e->writers[i], &v) >= 0)
                        sum += v;
        return sum;
}

/* This process's CPU time (the requester: the library's calls and their thread), in ns. */
static uint64_t self_cpu_nsec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int session_run(lvss_env *e, unsigned n, unsigned n_gathers, lvss_samples *out) {
        _cleanup_(bc_releasep_) vss_backup_components *bc = NULL;
        double identify, event, dss, window, complete, status, sequence, release;
        uint64_t cpu0 = 0, cpu1 = 0, wcpu0, wcpu1, rcpu0, rcpu1;
        vss_id snapshot_id, set_id;
        uint64_t t0, t1;
        unsigned md = 0;
        vss_hresult hr;
        int r;

        hr = vss_create_backup_components(&bc);
        if (hr == VSS_S_OK)
                hr = vss_initialize_for_backup(bc, NULL);
        if (hr == VSS_S_OK)
                hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false);
        if (hr != VSS_S_OK) {
                bench_log("lvss: cannot open a session: %s", hr_str(hr));
                return -EIO;
        }

        t0 = now_nsec();
        r = step(bc, vss_gather_writer_metadata, "GatherWriterMetadata", &identify);
        if (r < 0)
                return r;
        hr = vss_get_writer_metadata_count(bc, &md);
        if (hr != VSS_S_OK || md != n) {
                bench_log("lvss: %u writers identified, expected %u", md, n);
                return -EPROTO;
        }
        hr = vss_start_snapshot_set(bc, &set_id);
        if (hr == VSS_S_OK)
                hr = vss_add_to_snapshot_set(bc, e->volume, NULL, &snapshot_id);
        if (hr != VSS_S_OK) {
                bench_log("lvss: cannot make the snapshot set of %s: %s", e->volume, hr_str(hr));
                return -EIO;
        }

        wcpu0 = writers_cpu_nsec(e);
        (void) proc_cpu_nsec(e->lvssd, &cpu0);
        rcpu0 = self_cpu_nsec();
        r = step(bc, vss_prepare_for_backup, "PrepareForBackup", &event);
        if (r < 0)
                return r;
        rcpu1 = self_cpu_nsec();
        (void) proc_cpu_nsec(e->lvssd, &cpu1);
        wcpu1 = writers_cpu_nsec(e);

        memset(e->slots, 0, e->slots_size);
        r = step(bc, vss_do_snapshot_set, "DoSnapshotSet", &dss);
        if (r < 0)
                return r;
        r = freeze_window(e, n, &window);
        if (r < 0)
                return r;

        r = step(bc, vss_backup_complete, "BackupComplete", &complete);
        if (r < 0)
                return r;
        r = step(bc, vss_gather_writer_status, "GatherWriterStatus", NULL);
        if (r < 0)
                return r;
        t1 = now_nsec();
        sequence = (double) (t1 - t0) / 1000.0;
        r = check_status(bc, n);
        if (r < 0)
                return r;

        if (out) {
                for (unsigned i = 0; i < n_gathers; i++) {
                        r = step(bc, vss_gather_writer_status, "GatherWriterStatus", &status);
                        if (r < 0)
                                return r;
                        vss_free_writer_status(bc);
                        samples_add(&out->gather_status, status);
                }
        }

        t0 = now_nsec();
        bc = vss_backup_components_release(bc);
        release = (double) (now_nsec() - t0) / 1000.0;

        if (out) {
                samples_add(&out->identify, identify);
                samples_add(&out->event, event);
                samples_add(&out->event_cpu, (double) (cpu1 - cpu0) / 1000.0);
                samples_add(&out->event_writers_cpu, (double) (wcpu1 - wcpu0) / 1000.0);
                samples_add(&out->event_requester_cpu, (double) (rcpu1 - rcpu0) / 1000.0);
                samples_add(&out->do_snapshot_set, dss);
                samples_add(&out->freeze_window, window);
                samples_add(&out->backup_complete, complete);
                samples_add(&out->sequence, sequence);
                samples_add(&out->release, release);
        }
        return 0;
}

/* ---- idle --------------------------------------------------------------------------- */

/*
 * lvssd handles a closed requester connection after the requester has gone
 * (the EOF is an event like any other). Before an idle interval that follows
 * a session, a round trip on a connection of our own (Coordinator1.GetVersion,
 * the admin role of docs/dbus-interface.md) makes sure lvssd has dispatched
 * what was already queued; the connection stays open through the interval,
 * as an idle admin client would, and closes after it.
 */
static int admin_round_trip(lvss_env *e, sd_bus **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(freep) char *address = NULL;
        int r;

        if (asprintf(&address, "unix:path=%s", e->socket_path) < 0)
                return -ENOMEM;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, NULL, "/org/lvss/coordinator", "org.lvss.Coordinator1", "GetVersion",
                                       &error, &reply, "");
        if (r < 0) {
                bench_log("lvss: GetVersion failed: %s", error.message ? error.message : strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(bus);
        return 0;
}

static void measure_idle(lvss_env *e, unsigned n, unsigned seconds, const char *phase) {
        uint64_t ticks0 = 0, ticks1 = 0, ns0 = 0, ns1 = 0, cs0 = 0, cs1 = 0, wns0 = 0, wns1 = 0, wcs0 = 0, wcs1 = 0;
        struct timespec ts = { .tv_sec = seconds };
        char metric[64];
        uint64_t v;

        /* Not the tail of the last request: lvssd finishes a loop iteration after its last reply. */
        if (proc_wait_asleep_in_epoll(e->lvssd, 2000) < 0)
                bench_log("lvss: lvssd is still busy 2 s after its last request; measuring anyway");

        (void) proc_cpu_ticks(e->lvssd, &ticks0);
        (void) proc_cpu_nsec(e->lvssd, &ns0);
        (void) proc_ctx_switches(e->lvssd, &cs0);
        for (size_t i = 0; i < e->n_writers; i++) {
                if (proc_cpu_nsec(e->writers[i], &v) >= 0)
                        wns0 += v;
                if (proc_ctx_switches(e->writers[i], &v) >= 0)
                        wcs0 += v;
        }

        /* The measurement interval itself: nothing to wait for, time to let pass. */
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
                ;

        (void) proc_cpu_ticks(e->lvssd, &ticks1);
        (void) proc_cpu_nsec(e->lvssd, &ns1);
        (void) proc_ctx_switches(e->lvssd, &cs1);
        for (size_t i = 0; i < e->n_writers; i++) {
                if (proc_cpu_nsec(e->writers[i], &v) >= 0)
                        wns1 += v;
                if (proc_ctx_switches(e->writers[i], &v) >= 0)
                        wcs1 += v;
        }

        /* The result table keeps the name: a copy that lives until the bench exits. */
#define IDLE_RESULT(suffix, unit, value)                                                       \
        do {                                                                                    \
                snprintf(metric, sizeof metric, "%s-%s", phase, suffix);                        \
                result_add_value(n, "lvss", strdup(metric) ?: "?", unit, (double) (value));     \
        } while (0)
        IDLE_RESULT("seconds", "s", seconds);
        IDLE_RESULT("cpu-ticks", "ticks", ticks1 - ticks0);
        IDLE_RESULT("cpu", "ns", ns1 - ns0);
        IDLE_RESULT("wakeups", "count", cs1 - cs0);
        IDLE_RESULT("writers-cpu", "ns", wns1 - wns0);
        IDLE_RESULT("writers-wakeups", "count", wcs1 - wcs0);
#undef IDLE_RESULT
}

/* ---- one N ---------------------------------------------------------------------------- */

int bench_lvss_run(const bench_config *cfg, unsigned n) {
        _cleanup_(lvss_env_done) lvss_env e = { .log_fd = -1, .slots_fd = -1 };
        _cleanup_(lvss_samples_done) lvss_samples s = {};
        _cleanup_(perf_stop) perf_set perf = PERF_SET_NULL;
        _cleanup_(freep) char *log_path = NULL;
        unsigned reps = reps_for(cfg, "lvss", n);
        unsigned n_gathers = n >= 1000 ? 5 : 10;
        bool measure_idle_here = cfg->idle_seconds > 0 && n == cfg->n_values[cfg->n_n_values - 1];
        uint64_t rss0 = 0, rss1 = 0, rss2 = 0;
        char tmpl[32];
        int r;

        snprintf(tmpl, sizeof tmpl, "lvss-n%u-", n);
        r = mkdtemp_in(cfg->tmp_root, tmpl, &e.dir);
        if (r < 0)
                return r;
        if (asprintf(&e.socket_path, "%s/lvssd.sock", e.dir) < 0 || asprintf(&e.volume, "%s/volume", e.dir) < 0 ||
            asprintf(&log_path, "%s/lvssd.log", e.dir) < 0)
                return -ENOMEM;
        if (mkdir(e.volume, 0755) < 0)
                return -errno;
        e.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (e.log_fd < 0)
                return -errno;
        if (setenv("LVSS_SOCKET", e.socket_path, 1) < 0)
                return -errno;

        e.failed = true; /* until the end: keep the directory of a failed run */
        r = lvssd_start(cfg, &e);
        if (r < 0)
                return r;
        (void) proc_rss_kib(e.lvssd, &rss0);

        r = writers_start(cfg, &e, n);
        if (r < 0)
                return r;
        (void) proc_rss_kib(e.lvssd, &rss1);

        /* Idle with every writer connected and nothing else ever done: each writer's
         * "ready" came after lvssd answered its subscription, so nothing is queued. */
        if (measure_idle_here)
                measure_idle(&e, n, cfg->idle_seconds, "idle-before");

        if (cfg->profile_dir) {
                r = perf_start(cfg->profile_dir, n, e.lvssd, &perf);
                if (r < 0)
                        return r;
        }
        r = session_run(&e, n, 0, NULL); /* warm-up */
        if (r < 0)
                return r;
        if (cfg->profile_dir) {
                r = perf_control(&perf, true);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < reps; i++) {
                r = session_run(&e, n, n_gathers, &s);
                if (r < 0)
                        return r;
        }
        if (cfg->profile_dir) {
                r = perf_control(&perf, false);
                if (r < 0)
                        return r;
                perf_stop(&perf);
        }
        (void) proc_rss_kib(e.lvssd, &rss2);

        result_add(n, "lvss", "identify", "us", &s.identify);
        result_add(n, "lvss", "event", "us", &s.event);
        result_add(n, "lvss", "event-lvssd-cpu", "us", &s.event_cpu);
        result_add(n, "lvss", "event-writers-cpu", "us", &s.event_writers_cpu);
        result_add(n, "lvss", "event-requester-cpu", "us", &s.event_requester_cpu);
        result_add(n, "lvss", "do-snapshot-set", "us", &s.do_snapshot_set);
        result_add(n, "lvss", "freeze-window", "us", &s.freeze_window);
        result_add(n, "lvss", "backup-complete", "us", &s.backup_complete);
        result_add(n, "lvss", "sequence", "us", &s.sequence);
        result_add(n, "lvss", "gather-status", "us", &s.gather_status);
        result_add(n, "lvss", "release", "us", &s.release);
        result_add_value(n, "lvss", "rss-before-writers", "KiB", (double) rss0);
        result_add_value(n, "lvss", "rss-with-writers", "KiB", (double) rss1);
        result_add_value(n, "lvss", "rss-after-sessions", "KiB", (double) rss2);
        result_add_value(n, "lvss", "rss-per-writer", "KiB", n ? ((double) rss1 - (double) rss0) / n : 0);

        if (measure_idle_here) {
                _cleanup_(sd_bus_flush_close_unrefp) sd_bus *admin = NULL;
                r = admin_round_trip(&e, &admin);
                if (r < 0)
                        return r;
                measure_idle(&e, n, cfg->idle_seconds, "idle-after");
        }

        e.failed = false;
        return 0;
}

/* ---- the freeze window on btrfs (issue 11 §5) ----------------------------------------------- */

/*
 * What the writers' applications wait for on btrfs, beside what the file
 * system itself needs for the same copies. One btrfs file system on a loop
 * device (a sparse image in the run's directory, on a disk), mounted in the
 * bench's private mount namespace (lvss-bench unshares it before anything
 * else when --btrfs is given; the mount cannot outlive the bench), holding
 * 100 subvolumes with a small file each. For N = 1, 10, 100 (--btrfs):
 *
 *   raw    libbtrfsutil: btrfs_util_create_snapshot(READ_ONLY) of the first N
 *          subvolumes, one after another, timed from the first call to the
 *          last return (then deleted, untimed);
 *   lvss   one lvssd (btrfs provider, chosen by lvssd itself), one no-op
 *          writer, a whole backup session with the same N subvolumes in the
 *          set; the freeze window as lvssd sees it: from the writer's answer
 *          to Freeze (its handler returned) to lvssd's Thaw arriving (its
 *          handler started), stamped by the writer; and the writer's whole
 *          window (Freeze handler start to Thaw handler end) beside it.
 *
 * raw and lvss alternate, reps times each. The goal (issue 11 §5): lvss's
 * window within 1 ms of raw. The loop device is always detached and the
 * image removed, also after a failure.
 */

#include <btrfsutil.h>
#include <sys/mount.h>

#define BTRFS_MAX_VOLUMES 100U
#define BTRFS_IMAGE_SIZE (2LL << 30)

typedef struct btrfs_bench {
        char *dir, *image, *mnt;
        char loopdev[64];
        bool mounted;
        char *vols[BTRFS_MAX_VOLUMES], *raw[BTRFS_MAX_VOLUMES];
} btrfs_bench;

/* Runs @argv (absolute path) to its end; its stdout into @out (may be NULL), at most @size - 1 bytes. */
static int run_program(char *const argv[], char *out, size_t size) {
        _cleanup_(closep) int rd = -1;
        int fds[2], status = 0, r;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rd = fds[0];
        spawn_fd map[] = { { fds[1], STDOUT_FILENO } };
        r = bench_spawn(argv, map, ELEMENTSOF(map), NULL, &pid);
        close(fds[1]);
        if (r < 0)
                return r;
        size_t n = 0;
        for (;;) {
                char buf[256];
                ssize_t k = read(rd, buf, sizeof buf);
                if (k <= 0)
                        break;
                for (ssize_t i = 0; i < k && out && n + 1 < size; i++)
                        out[n++] = buf[i];
        }
        if (out)
                out[n] = 0;
        r = bench_reap(pid, 120000, &status);
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                bench_log("btrfs: %s failed (status 0x%x)", argv[0], (unsigned) status);
                return -EIO;
        }
        return 0;
}

/* The path of @name in the system directories (owned), or NULL. */
static char *find_program(const char *name) {
        static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *path;
                if (asprintf(&path, "%s/%s", dirs[i], name) < 0)
                        return NULL;
                if (access(path, X_OK) == 0)
                        return path;
                free(path);
        }
        return NULL;
}

static void btrfs_bench_done(btrfs_bench *b) {
        for (unsigned i = 0; i < BTRFS_MAX_VOLUMES; i++) {
                free(b->vols[i]);
                free(b->raw[i]);
        }
        if (b->mounted && umount2(b->mnt, MNT_DETACH) < 0)
                bench_log("btrfs: cannot unmount %s: %m", b->mnt);
        if (b->loopdev[0]) {
                _cleanup_(freep) char *losetup = find_program("losetup");
                char *argv[] = { (char *) losetup, (char *) "-d", b->loopdev, NULL };
                if (!losetup || run_program(argv, NULL, 0) < 0)
                        bench_log("btrfs: cannot detach %s", b->loopdev);
        }
        if (b->image)
                (void) unlink(b->image);
        if (b->mnt)
                (void) rmdir(b->mnt);
        free(b->image);
        free(b->mnt);
}

static int btrfs_bench_make(const bench_config *cfg, btrfs_bench *b, lvss_env *e) {
        _cleanup_(freep) char *losetup = find_program("losetup"), *mkfs = find_program("mkfs.btrfs");
        char out[128];
        int fd, r;

        if (geteuid() != 0) {
                bench_log("btrfs: needs root (a loop device and a mount)");
                return -EPERM;
        }
        if (!losetup || !mkfs) {
                bench_log("btrfs: needs losetup and mkfs.btrfs (apt-get install util-linux btrfs-progs)");
                return -ENOENT;
        }
        if (asprintf(&b->image, "%s/btrfs.img", e->dir) < 0 || asprintf(&b->mnt, "%s/mnt", e->dir) < 0)
                return -ENOMEM;
        fd = open(b->image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = ftruncate(fd, BTRFS_IMAGE_SIZE) < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        char *lo[] = { losetup, (char *) "--find", (char *) "--show", b->image, NULL };
        r = run_program(lo, out, sizeof out);
        if (r < 0)
                return r;
        out[strcspn(out, "\n")] = 0;
        if (strncmp(out, "/dev/loop", 9) != 0 || strlen(out) >= sizeof b->loopdev) {
                bench_log("btrfs: losetup said \"%s\"", out);
                return -EIO;
        }
        strcpy(b->loopdev, out);
        char *mk[] = { mkfs, (char *) "-f", (char *) "-q", b->loopdev, NULL };
        r = run_program(mk, NULL, 0);
        if (r < 0)
                return r;
        if (mkdir(b->mnt, 0755) < 0)
                return -errno;
        if (mount(b->loopdev, b->mnt, "btrfs", 0, NULL) < 0) {
                bench_log("btrfs: cannot mount %s on %s: %m", b->loopdev, b->mnt);
                return -errno;
        }
        b->mounted = true;
        for (unsigned i = 0; i < BTRFS_MAX_VOLUMES; i++) {
                enum btrfs_util_error be;
                if (asprintf(&b->vols[i], "%s/vol-%03u", b->mnt, i) < 0 ||
                    asprintf(&b->raw[i], "%s/raw-%03u", b->mnt, i) < 0)
                        return -ENOMEM;
                be = btrfs_util_create_subvolume(b->vols[i], 0, NULL, NULL);
                if (be != BTRFS_UTIL_OK) {
                        bench_log("btrfs: create subvolume %s: %s", b->vols[i], btrfs_util_strerror(be));
                        return -EIO;
                }
                _cleanup_(freep) char *file = NULL;
                if (asprintf(&file, "%s/data", b->vols[i]) < 0)
                        return -ENOMEM;
                fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0 || write(fd, "lvss-bench\n", 11) != 11) {
                        r = -errno;
                        if (fd >= 0)
                                close(fd);
                        return r;
                }
                close(fd);
        }
        (void) cfg;
        sync();
        return 0;
}

static int btrfs_raw(btrfs_bench *b, unsigned n, double *ret_usec) {
        uint64_t t0, t1;
        int r = 0;

        t0 = now_nsec();
        for (unsigned i = 0; i < n; i++) {
                enum btrfs_util_error be = btrfs_util_create_snapshot(b->vols[i], b->raw[i],
                                                                      BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, NULL, NULL);
                if (be != BTRFS_UTIL_OK) {
                        bench_log("btrfs: snapshot %s: %s", b->vols[i], btrfs_util_strerror(be));
                        r = -EIO;
                        n = i;
                        break;
                }
        }
        t1 = now_nsec();
        for (unsigned i = 0; i < n; i++) {
                enum btrfs_util_error be = btrfs_util_delete_subvolume(b->raw[i], 0);
                if (be != BTRFS_UTIL_OK) {
                        bench_log("btrfs: delete %s: %s", b->raw[i], btrfs_util_strerror(be));
                        r = -EIO;
                }
        }
        *ret_usec = (double) (t1 - t0) / 1000.0;
        return r;
}

static int btrfs_lvss(lvss_env *e, btrfs_bench *b, unsigned n, double *ret_inner, double *ret_window) {
        _cleanup_(bc_releasep_) vss_backup_components *bc = NULL;
        vss_id set_id, snapshot_id;
        const bench_slot *s = &e->slots[0];
        vss_hresult hr;
        int r;

        hr = vss_create_backup_components(&bc);
        if (hr == VSS_S_OK)
                hr = vss_initialize_for_backup(bc, NULL);
        if (hr == VSS_S_OK)
                hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false);
        if (hr != VSS_S_OK) {
                bench_log("btrfs: cannot open a session: %s", hr_str(hr));
                return -EIO;
        }
        r = step(bc, vss_gather_writer_metadata, "GatherWriterMetadata", NULL);
        if (r < 0)
                return r;
        hr = vss_start_snapshot_set(bc, &set_id);
        for (unsigned i = 0; hr == VSS_S_OK && i < n; i++) {
                hr = vss_add_to_snapshot_set(bc, b->vols[i], NULL, &snapshot_id);
                if (hr != VSS_S_OK)
                        bench_log("btrfs: cannot add %s: %s", b->vols[i], hr_str(hr));
        }
        if (hr != VSS_S_OK)
                return -EIO;
        r = step(bc, vss_prepare_for_backup, "PrepareForBackup", NULL);
        if (r < 0)
                return r;
        memset(e->slots, 0, e->slots_size);
        r = step(bc, vss_do_snapshot_set, "DoSnapshotSet", NULL);
        if (r < 0)
                return r;
        if (!s->freeze_end_nsec || !s->thaw_start_nsec || !s->freeze_start_nsec || !s->thaw_end_nsec) {
                bench_log("btrfs: the writer did not see both Freeze and Thaw");
                return -EPROTO;
        }
        *ret_inner = (double) (s->thaw_start_nsec - s->freeze_end_nsec) / 1000.0;
        *ret_window = (double) (s->thaw_end_nsec - s->freeze_start_nsec) / 1000.0;
        r = step(bc, vss_backup_complete, "BackupComplete", NULL);
        if (r < 0)
                return r;
        bc = vss_backup_components_release(bc); /* auto-release: lvssd deletes the snapshots */
        return 0;
}

int bench_btrfs_run(const bench_config *cfg) {
        _cleanup_(lvss_env_done) lvss_env e = { .log_fd = -1, .slots_fd = -1 };
        _cleanup_(btrfs_bench_done) btrfs_bench b = {};
        _cleanup_(freep) char *log_path = NULL;
        int r;

        r = mkdtemp_in(cfg->tmp_root, "btrfs-", &e.dir);
        if (r < 0)
                return r;
        e.failed = true;
        if (asprintf(&e.socket_path, "%s/lvssd.sock", e.dir) < 0 || asprintf(&log_path, "%s/lvssd.log", e.dir) < 0)
                return -ENOMEM;
        e.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (e.log_fd < 0)
                return -errno;
        if (setenv("LVSS_SOCKET", e.socket_path, 1) < 0)
                return -errno;
        r = btrfs_bench_make(cfg, &b, &e);
        if (r < 0)
                return r;
        r = lvssd_start(cfg, &e);
        if (r < 0)
                return r;
        r = writers_start(cfg, &e, 1);
        if (r < 0)
                return r;

        for (size_t k = 0; k < cfg->n_btrfs_n_values; k++) {
                unsigned n = cfg->btrfs_n_values[k];
                unsigned reps = cfg->btrfs_reps ? cfg->btrfs_reps : cfg->quick ? 2 : n >= 100 ? 10 : 20;
                _cleanup_(samples_done) samples raw = {}, inner = {}, window = {}, diff = {};
                double v_raw, v_in, v_win, lo, hi;

                bench_log("btrfs: N=%u volumes, %u pairs", n, reps);
                r = btrfs_lvss(&e, &b, n, &v_in, &v_win); /* warm-up */
                if (r < 0)
                        return r;
                /* One pair is a raw run and an lvss session back to back; which goes first
                 * alternates, so that neither always finds the file system just written by
                 * the other (the lvss session deletes its snapshots as it ends). */
                for (unsigned i = 0; i < reps; i++) {
                        if (i % 2 == 0)
                                r = btrfs_raw(&b, n, &v_raw);
                        if (r >= 0)
                                r = btrfs_lvss(&e, &b, n, &v_in, &v_win);
                        if (r >= 0 && i % 2 == 1)
                                r = btrfs_raw(&b, n, &v_raw);
                        if (r < 0)
                                return r;
                        if (samples_add(&raw, v_raw) < 0 || samples_add(&inner, v_in) < 0 ||
                            samples_add(&window, v_win) < 0 || samples_add(&diff, v_in - v_raw) < 0)
                                return -ENOMEM;
                }
                result_add(n, "btrfs-raw", "snapshots", "us", &raw);
                result_add(n, "lvss-btrfs", "freeze-window-lvssd", "us", &inner);
                result_add(n, "lvss-btrfs", "freeze-window-writer", "us", &window);
                result_add(n, "lvss-btrfs", "paired-difference", "us", &diff);
                if (samples_median_ci(&diff, &lo, &hi) >= 0) {
                        result_add_value(n, "lvss-btrfs", "paired-difference-lo", "us", lo);
                        result_add_value(n, "lvss-btrfs", "paired-difference-hi", "us", hi);
                }
        }
        e.failed = false;
        return 0;
}

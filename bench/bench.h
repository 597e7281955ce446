/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvss-bench: what coordination costs, beside what users run today.
 *
 * One process (lvss-bench) measures three models of "send one event to N
 * applications and wait until all of them answered", in one run on one
 * machine, for N = 1, 10, 100, 1000:
 *
 *   lvss         its own lvssd, N no-op writer processes (lvss-bench-writer,
 *                the public writer API), the bench as the requester
 *                (the public requester API): bench-lvss.c
 *   sd-bus floor N processes (lvss-bench-peer) connected peer to peer to
 *                the bench, one asynchronous method call to all of them at
 *                once, the shape of lvssd's fan-out with nothing else, on a
 *                bare epoll loop ("sdbus-floor") and on one sd-event loop
 *                as lvssd has it ("sdbus-event"): bench-floor.c
 *   hooks        N no-op shell scripts in a directory, run one after
 *                another per event with fork + exec + wait, the way
 *                run-parts based freeze frameworks do: bench-hooks.c
 *
 * Every figure is a list of samples (one per repetition); the report gives
 * the median and the spread (min, max). Times are in microseconds inside,
 * milliseconds in the table.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/util.h"

/* ---- shared with lvss-bench-writer ------------------------------------------ */

/*
 * The freeze window, measured where the application sees it: each writer
 * stamps CLOCK_MONOTONIC (one clock for every process of the machine) when
 * its Freeze handler starts and when its Thaw handler returns, into its own
 * slot of a memfd the bench shares with all writers. Plain stores: the bench
 * reads them after DoSnapshotSet returned, which happens after every writer
 * answered Thaw over a socket (the syscalls order the stores).
 */
typedef struct bench_slot {
        uint64_t freeze_start_nsec;
        uint64_t thaw_end_nsec;
        uint64_t freeze_end_nsec;  /* its Freeze handler returns: frozen, as far as lvssd will know */
        uint64_t thaw_start_nsec;  /* its Thaw handler starts: lvssd's Thaw arrived */
        uint64_t pad[4]; /* one cache line per writer */
} bench_slot;

#define BENCH_SLOTS_FD 3 /* where lvss-bench-writer finds the memfd */
#define BENCH_PEER_FD 3  /* where lvss-bench-peer finds its socket */

#define BENCH_WRITER_ID "{8e1c3b52-5d0a-4c62-9a7e-2f64b1d0c0de}"
#define BENCH_WRITER_NAME "lvss-bench no-op writer"

/* The floor's peers export the same method signature as org.lvss.Writer1.Event. */
#define BENCH_PEER_PATH "/org/lvss/bench"
#define BENCH_PEER_IFACE "org.lvss.Bench1"

static inline uint64_t now_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* ---- samples ---------------------------------------------------------------- */

typedef struct samples {
        double *v;
        size_t n, cap;
} samples;

int samples_add(samples *s, double v);
void samples_clear(samples *s);
void samples_done(samples *s);

typedef struct summary {
        size_t n;
        double median, min, max;
} summary;

summary samples_summary(const samples *s); /* n == 0: no samples */

/*
 * samples_median_ci() - a distribution-free 95 % confidence interval for the
 * median of @s: the order statistics v(k) and v(n+1-k) for the largest k with
 * P(Bin(n, 1/2) < k) <= 2.5 % (no assumption about the shape of the spread).
 * -EDOM below 6 samples (no such k), -ENOMEM.
 */
int samples_median_ci(const samples *s, double *ret_lo, double *ret_hi);

/* ---- results ---------------------------------------------------------------- */

/* One row of bench/results/bench.csv: one figure of one model at one N. */
typedef struct result {
        unsigned n;          /* writers / peers / hooks */
        const char *model;   /* "lvss", "sdbus-floor", "hooks" */
        const char *metric;  /* "event", "identify", "gather-status", ... */
        const char *unit;    /* "us", "KiB", "ticks", "ns", "count" */
        summary s;
} result;

void result_add(unsigned n, const char *model, const char *metric, const char *unit, const samples *s);
void result_add_value(unsigned n, const char *model, const char *metric, const char *unit, double v);
const result *result_find(unsigned n, const char *model, const char *metric);
size_t results_count(void);
const result *result_get(size_t i);

/* ---- processes -------------------------------------------------------------- */

/* Every child the bench starts, so that an error path or a signal never leaves one behind. */
void children_register(pid_t pid);
void children_forget(pid_t pid);
void children_kill_all(void); /* SIGKILL and reap whatever is registered */

typedef struct spawn_fd {
        int fd;     /* in the parent */
        int target; /* number in the child */
} spawn_fd;

/*
 * bench_spawn() - fork + exec @argv[0] with @fds moved to their targets.
 *
 * The child dies with the bench (PR_SET_PDEATHSIG), gets @env_extra
 * ("NAME=value" or NULL) added to the environment, and is registered for
 * children_kill_all().
 */
int bench_spawn(char *const argv[], const spawn_fd *fds, size_t n_fds, const char *env_extra, pid_t *ret);

/* Wait for @pid to exit within @timeout_ms, else SIGKILL it; reap it either way. */
int bench_reap(pid_t pid, unsigned timeout_ms, int *ret_status);

/* Read a line-oriented pipe until @n lines starting with @prefix arrived; fail on any other line. */
int wait_lines(int fd, const char *prefix, size_t n, unsigned timeout_ms, const char *what);

/* /proc readings of a process. */
int proc_rss_kib(pid_t pid, uint64_t *ret);
int proc_cpu_ticks(pid_t pid, uint64_t *ret);        /* utime + stime, clock ticks */
int proc_cpu_nsec(pid_t pid, uint64_t *ret);         /* /proc/PID/schedstat, time on CPU */
int proc_ctx_switches(pid_t pid, uint64_t *ret);     /* voluntary + involuntary */
int proc_wait_asleep_in_epoll(pid_t pid, unsigned timeout_ms);

/* ---- lvssd ------------------------------------------------------------------ */

typedef struct bench_config {
        const char *lvssd_path;
        const char *writer_path;
        const char *peer_path;
        const char *results_dir;
        const char *tmp_root;     /* where each N gets its own directory (state dir, socket) */
        unsigned n_values[8];
        size_t n_n_values;
        unsigned idle_seconds;
        const char *profile_dir;  /* non-NULL: perf record + perf stat of lvssd's measured sessions */
        bool quick;
        unsigned btrfs_n_values[4]; /* --btrfs: the freeze window on btrfs for these numbers of volumes */
        size_t n_btrfs_n_values;
        unsigned btrfs_reps;        /* --btrfs-reps: raw/lvss pairs per N; 0: 20 (10 at N >= 100) */
} bench_config;

/* Repetitions for a model at @n: fewer at large N (the report says how many). */
unsigned reps_for(const bench_config *cfg, const char *model, unsigned n);

int bench_lvss_run(const bench_config *cfg, unsigned n);
int bench_floor_run(const bench_config *cfg, unsigned n);
/* The relay floor: one call through a relay to N peers (N <= 100; larger N is skipped). */
int bench_relay_run(const bench_config *cfg, unsigned n);
int bench_hooks_run(const bench_config *cfg, unsigned n);
/* The freeze window on btrfs beside raw libbtrfsutil snapshots (root; the caller's mount
 * namespace must be private): every N of cfg->btrfs_n_values. */
int bench_btrfs_run(const bench_config *cfg);
/* fork + exit + reap, and the first write to a page after a fork (bench-machine.c) */
int bench_machine_run(const bench_config *cfg);

/* ---- small helpers ---------------------------------------------------------- */

int mkdtemp_in(const char *root, const char *tmpl, char **ret);
int rm_rf(const char *path);
void bench_log(const char *fmt, ...) _printf_(1, 2);

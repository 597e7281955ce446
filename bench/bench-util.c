/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * What every part of the bench shares: samples and their summary, the result
 * table, starting and reaping children, and /proc readings.
 *
 * Children. Every process the bench starts is registered, dies with the bench
 * (PR_SET_PDEATHSIG) and is killed and reaped by children_kill_all(), which
 * the bench runs at exit and on SIGINT/SIGTERM: a failed or interrupted run
 * never leaves 1000 writers behind.
 */

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "bench.h"

void bench_log(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("lvss-bench: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ---- samples ---------------------------------------------------------------- */

int samples_add(samples *s, double v) {
        if (s->n == s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 16;
                double *n = realloc(s->v, cap * sizeof *n);
                if (!n)
                        return -ENOMEM;
                s->v = n;
                s->cap = cap;
        }
        s->v[s->n++] = v;
        return 0;
}

void samples_clear(samples *s) {
        s->n = 0;
}

void samples_done(samples *s) {
        free(s->v);
        *s = (samples) {};
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

summary samples_summary(const samples *s) {
        summary r = { .n = s->n };
        _cleanup_(freep) double *v = NULL;

        if (s->n == 0)
                return r;
        v = malloc(s->n * sizeof *v);
        if (!v)
                return (summary) {};
        memcpy(v, s->v, s->n * sizeof *v);
        qsort(v, s->n, sizeof *v, cmp_double);
        r.min = v[0];
        r.max = v[s->n - 1];
        r.median = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
        return r;
}

int samples_median_ci(const samples *s, double *ret_lo, double *ret_hi) {
        _cleanup_(freep) double *v = NULL;
        double pmf, cdf;
        size_t k = 0;

        if (!s || !ret_lo || !ret_hi)
                return -EINVAL;
        if (s->n < 6 || s->n > 1000) /* 0.5^n stays a normal double up to n = 1000 */
                return -EDOM;
        /* k is the number of samples cut off at each end: the largest with P(X <= k - 1) <= 2.5 % */
        pmf = pow(0.5, (double) s->n); /* P(X = 0) */
        cdf = pmf;
        while (cdf <= 0.025 && k < s->n / 2) {
                k++;
                pmf = pmf * (double) (s->n - k + 1) / (double) k; /* P(X = k) */
                cdf += pmf;
        }
        if (k == 0)
                return -EDOM;
        v = malloc(s->n * sizeof *v);
        if (!v)
                return -ENOMEM;
        memcpy(v, s->v, s->n * sizeof *v);
        qsort(v, s->n, sizeof *v, cmp_double);
        *ret_lo = v[k - 1];
        *ret_hi = v[s->n - k];
        return 0;
}

/* ---- results ---------------------------------------------------------------- */

static result *results;
static size_t n_results, cap_results;

static void result_push(const result *r) {
        if (n_results == cap_results) {
                size_t cap = cap_results ? 2 * cap_results : 64;
                result *n = realloc(results, cap * sizeof *n);
                if (!n) {
                        bench_log("out of memory recording a result");
                        return;
                }
                results = n;
                cap_results = cap;
        }
        results[n_results++] = *r;
}

void result_add(unsigned n, const char *model, const char *metric, const char *unit, const samples *s) {
        result r = { .n = n, .model = model, .metric = metric, .unit = unit, .s = samples_summary(s) };

        if (r.s.n > 0)
                result_push(&r);
}

void result_add_value(unsigned n, const char *model, const char *metric, const char *unit, double v) {
        result r = { .n = n, .model = model, .metric = metric, .unit = unit,
                     .s = { .n = 1, .median = v, .min = v, .max = v } };
        result_push(&r);
}

const result *result_find(unsigned n, const char *model, const char *metric) {
        for (size_t i = 0; i < n_results; i++)
                if (results[i].n == n && streq_ptr(results[i].model, model) && streq_ptr(results[i].metric, metric))
                        return &results[i];
        return NULL;
}

size_t results_count(void) {
        return n_results;
}

const result *result_get(size_t i) {
        return i < n_results ? &results[i] : NULL;
}

/* ---- children --------------------------------------------------------------- */

static pid_t *children;
static size_t n_children, cap_children;

/* The list is read by the SIGINT/SIGTERM handler: change it only with those blocked. */
static void block_stop_signals(sigset_t *old) {
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, old);
}

void children_register(pid_t pid) {
        sigset_t old;

        block_stop_signals(&old);
        if (n_children == cap_children) {
                size_t cap = cap_children ? 2 * cap_children : 256;
                pid_t *n = realloc(children, cap * sizeof *n);
                if (!n) {
                        /* Still covered by PR_SET_PDEATHSIG when the bench exits. */
                        sigprocmask(SIG_SETMASK, &old, NULL);
                        bench_log("out of memory registering child %d", (int) pid);
                        return;
                }
                children = n;
                cap_children = cap;
        }
        children[n_children++] = pid;
        sigprocmask(SIG_SETMASK, &old, NULL);
}

void children_forget(pid_t pid) {
        sigset_t old;

        block_stop_signals(&old);
        for (size_t i = 0; i < n_children; i++)
                if (children[i] == pid) {
                        children[i] = children[--n_children];
                        break;
                }
        sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Also runs in the signal handler: kill() and waitpid() only. */
void children_kill_all(void) {
        for (size_t i = 0; i < n_children; i++)
                if (children[i] > 0) /* never kill(-1) or a process group */
                        (void) kill(children[i], SIGKILL);
        for (size_t i = 0; i < n_children; i++)
                if (children[i] > 0)
                        (void) waitpid(children[i], NULL, 0);
        n_children = 0;
}

int bench_spawn(char *const argv[], const spawn_fd *fds, size_t n_fds, const char *env_extra, pid_t *ret) {
        pid_t parent = getpid(), pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                sigset_t none;

                /* The bench is single-threaded, so the child may do more than
                 * async-signal-safe calls before exec. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGPIPE, SIG_DFL);

                /* First out of the way of every target, then into place; dup2 clears CLOEXEC.
                 * (The relay floor passes a descriptor per peer.) */
                int *moved = calloc(n_fds ? n_fds : 1, sizeof *moved), above = 64;
                if (!moved)
                        _exit(127);
                for (size_t i = 0; i < n_fds; i++)
                        if (fds[i].target >= above)
                                above = fds[i].target + 1;
                for (size_t i = 0; i < n_fds; i++) {
                        moved[i] = fcntl(fds[i].fd, F_DUPFD_CLOEXEC, above);
                        if (moved[i] < 0)
                                _exit(127);
                }
                for (size_t i = 0; i < n_fds; i++)
                        if (dup2(moved[i], fds[i].target) < 0)
                                _exit(127);
                if (env_extra && putenv((char *) env_extra) != 0)
                        _exit(127);
                execv(argv[0], argv);
                fprintf(stderr, "lvss-bench: cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }

        children_register(pid);
        *ret = pid;
        return 0;
}

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

int bench_reap(pid_t pid, unsigned timeout_ms, int *ret_status) {
        _cleanup_(closep) int pfd = -1;
        int status = 0;

        pfd = pidfd_open_(pid);
        if (pfd >= 0) {
                struct pollfd p = { .fd = pfd, .events = POLLIN };
                int r = poll(&p, 1, (int) timeout_ms);
                if (r == 0)
                        (void) kill(pid, SIGKILL);
        } else
                (void) kill(pid, SIGKILL); /* no pidfd: no bounded wait either */

        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        children_forget(pid);
        if (ret_status)
                *ret_status = status;
        return 0;
}

int wait_lines(int fd, const char *prefix, size_t n, unsigned timeout_ms, const char *what) {
        char buf[4096];
        size_t len = 0, got = 0, plen = strlen(prefix);

        while (got < n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;
                int r;

                /* The bound is on progress: each line restarts it. */
                r = poll(&p, 1, (int) timeout_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0) {
                        bench_log("%s: %zu of %zu did not report within %u ms", what, n - got, n, timeout_ms);
                        return -ETIMEDOUT;
                }
                k = read(fd, buf + len, sizeof buf - len);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0) {
                        bench_log("%s: %zu of %zu exited before reporting", what, n - got, n);
                        return -EPIPE;
                }
                len += (size_t) k;

                char *start = buf, *nl;
                while ((nl = memchr(start, '\n', len - (size_t) (start - buf)))) {
                        *nl = 0;
                        if (strncmp(start, prefix, plen) != 0) {
                                bench_log("%s: %s", what, start);
                                return -EPROTO;
                        }
                        got++;
                        start = nl + 1;
                }
                len -= (size_t) (start - buf);
                memmove(buf, start, len);
                if (len == sizeof buf)
                        return -EPROTO; /* a line longer than the buffer: not ours */
        }
        return 0;
}

/* ---- /proc ------------------------------------------------------------------ */

static int proc_status_field(pid_t pid, const char *field, uint64_t *ret) {
        _cleanup_(freep) char *line = NULL;
        char path[64];
        size_t cap = 0, flen = strlen(field);
        FILE *f;
        int r = -ENOENT;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (getline(&line, &cap, f) >= 0)
                if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
                        *ret = strtoull(line + flen + 1, NULL, 10);
                        r = 0;
                        break;
                }
        fclose(f);
        return r;
}

int proc_rss_kib(pid_t pid, uint64_t *ret) {
        return proc_status_field(pid, "VmRSS", ret);
}

int proc_ctx_switches(pid_t pid, uint64_t *ret) {
        uint64_t v = 0, nv = 0;
        int r;

        r = proc_status_field(pid, "voluntary_ctxt_switches", &v);
        if (r >= 0)
                r = proc_status_field(pid, "nonvoluntary_ctxt_switches", &nv);
        if (r < 0)
                return r;
        *ret = v + nv;
        return 0;
}

int proc_cpu_ticks(pid_t pid, uint64_t *ret) {
        char path[64], buf[1024], *p;
        unsigned long long utime, stime;
        ssize_t k;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
                return -EIO;
        buf[k] = 0;
        /* The command may contain spaces and parentheses: fields start after the last ')'. */
        p = strrchr(buf, ')');
        if (!p)
                return -EIO;
        /* After ")": state(3) ppid(4) ... utime(14) stime(15). */
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -EIO;
        *ret = utime + stime;
        return 0;
}

int proc_cpu_nsec(pid_t pid, uint64_t *ret) {
        char path[64];
        unsigned long long ns;
        FILE *f;
        int r;

        snprintf(path, sizeof path, "/proc/%d/schedstat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        r = fscanf(f, "%llu", &ns);
        fclose(f);
        if (r != 1)
                return -EIO;
        *ret = ns;
        return 0;
}

/*
 * Whether @pid sleeps in epoll_wait(): the state in /proc/PID/stat and the
 * kernel function it waits in (/proc/PID/wchan). There is no event for
 * "another process went to sleep", so this looks every millisecond, for at
 * most @timeout_ms; it is only used to start an idle measurement after the
 * daemon finished what it was doing, never to wait for a result.
 */
int proc_wait_asleep_in_epoll(pid_t pid, unsigned timeout_ms) {
        char path[64], wchan[64];

        for (unsigned i = 0; i < timeout_ms; i++) {
                struct timespec ms = { .tv_nsec = 1000000 };
                char state = 0;
                ssize_t k;
                int fd;

                snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
                FILE *f = fopen(path, "re");
                if (!f)
                        return -errno;
                if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
                        state = 0;
                fclose(f);

                snprintf(path, sizeof path, "/proc/%d/wchan", (int) pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                k = read(fd, wchan, sizeof wchan - 1);
                close(fd);
                wchan[k > 0 ? k : 0] = 0;

                if (state == 'S' && strstr(wchan, "epoll"))
                        return 0;
                nanosleep(&ms, NULL);
        }
        return -ETIMEDOUT;
}

/* ---- files ------------------------------------------------------------------ */

int mkdtemp_in(const char *root, const char *tmpl, char **ret) {
        char *p;

        if (asprintf(&p, "%s/%sXXXXXX", root, tmpl) < 0)
                return -ENOMEM;
        if (!mkdtemp(p)) {
                int r = -errno;
                bench_log("cannot create a directory in %s: %s", root, strerror(-r));
                free(p);
                return r;
        }
        *ret = p;
        return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (remove(path) < 0 && errno != ENOENT)
                bench_log("cannot remove %s: %m", path);
        return 0;
}

int rm_rf(const char *path) {
        if (!path)
                return 0;
        if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

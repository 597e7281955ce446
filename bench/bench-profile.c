/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Optional profiles of lvssd (lvss-bench --profile DIR, bench/profile.sh).
 *
 * Two perf processes attach to lvssd once its writers are connected: `perf
 * record` (where lvssd's CPU time goes, by symbol) and `perf stat` (CPU
 * time, context switches, and the system calls that matter here: fdatasync
 * and fsync of the catalog, epoll_ctl and epoll_wait of the event loop, the
 * socket writes and reads). Both start with their counters disabled
 * (--delay=-1) and are switched on and off through perf's control FIFOs,
 * each command acknowledged on the ack FIFO, so that exactly the measured
 * sessions are profiled and nothing waits on a guess of how long perf takes
 * to attach.
 */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "bench-profile.h"

#define PERF_ACK_TIMEOUT_MS 30000

static const char *perf_stat_events =
        "task-clock,context-switches,raw_syscalls:sys_enter,"
        "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,"
        "syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_timerfd_settime,"
        "syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev,syscalls:sys_enter_recvmsg,"
        "syscalls:sys_enter_gettid,syscalls:sys_enter_write,syscalls:sys_enter_futex";

static int perf_one(const char *dir, unsigned n, pid_t target, bool record, perf_proc *p) {
        _cleanup_(freep) char *ctl = NULL, *ack = NULL, *out = NULL, *control = NULL, *log = NULL;
        _cleanup_(closep) int log_fd = -1;
        char pid[16];
        int r;

        if (asprintf(&ctl, "%s/perf-%s-n%u.ctl", dir, record ? "record" : "stat", n) < 0 ||
            asprintf(&ack, "%s/perf-%s-n%u.ack", dir, record ? "record" : "stat", n) < 0 ||
            asprintf(&out, "%s/lvssd-n%u.%s", dir, n, record ? "perf.data" : "stat.txt") < 0 ||
            asprintf(&control, "fifo:%s,%s", ctl, ack) < 0 ||
            asprintf(&log, "%s/perf-%s-n%u.log", dir, record ? "record" : "stat", n) < 0)
                return -ENOMEM;
        /* perf talks about every enable and disable: into a file, not into the table. */
        log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log_fd < 0)
                return -errno;
        (void) unlink(ctl);
        (void) unlink(ack);
        if (mkfifo(ctl, 0600) < 0 || mkfifo(ack, 0600) < 0)
                return -errno;
        /* O_RDWR: neither open blocks on perf having opened its end yet. */
        p->ctl_fd = open(ctl, O_RDWR | O_CLOEXEC);
        p->ack_fd = open(ack, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (p->ctl_fd < 0 || p->ack_fd < 0)
                return -errno;

        snprintf(pid, sizeof pid, "%d", (int) target);
        char *record_argv[] = { (char *) "/usr/bin/perf", (char *) "record", (char *) "-q", (char *) "--delay=-1",
                                (char *) "--control", control, (char *) "-p", pid, (char *) "-o", out, NULL };
        char *stat_argv[] = { (char *) "/usr/bin/perf", (char *) "stat", (char *) "--delay=-1", (char *) "--control",
                              control, (char *) "-p", pid, (char *) "-e", (char *) perf_stat_events, (char *) "-o",
                              out, NULL };
        spawn_fd fds[] = { { log_fd, STDOUT_FILENO }, { log_fd, STDERR_FILENO } };
        r = bench_spawn(record ? record_argv : stat_argv, fds, ELEMENTSOF(fds), NULL, &p->pid);
        if (r < 0)
                return r;
        return 0;
}

int perf_start(const char *dir, unsigned n, pid_t target, perf_set *ret) {
        int r;

        *ret = (perf_set) PERF_SET_NULL;
        r = perf_one(dir, n, target, true, &ret->p[0]);
        if (r >= 0)
                r = perf_one(dir, n, target, false, &ret->p[1]);
        if (r < 0)
                bench_log("profile: cannot start perf: %s", strerror(-r));
        return r;
}

static int perf_command(perf_proc *p, const char *cmd) {
        char buf[64];
        size_t len = 0;

        if (write(p->ctl_fd, cmd, strlen(cmd)) != (ssize_t) strlen(cmd))
                return -errno;
        /* perf answers every command with "ack\n". */
        while (len < 4) {
                struct pollfd pf = { .fd = p->ack_fd, .events = POLLIN };
                int r = poll(&pf, 1, PERF_ACK_TIMEOUT_MS);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        bench_log("profile: perf did not acknowledge '%.*s'", (int) strcspn(cmd, "\n"), cmd);
                        return -ETIMEDOUT;
                }
                ssize_t k = read(p->ack_fd, buf + len, sizeof buf - len);
                if (k > 0)
                        len += (size_t) k;
        }
        return strncmp(buf, "ack\n", 4) == 0 ? 0 : -EPROTO;
}

int perf_control(perf_set *s, bool enable) {
        for (size_t i = 0; i < ELEMENTSOF(s->p); i++) {
                int r = perf_command(&s->p[i], enable ? "enable\n" : "disable\n");
                if (r < 0)
                        return r;
        }
        return 0;
}

void perf_stop(perf_set *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->p); i++) {
                perf_proc *p = &s->p[i];
                if (p->pid > 0) {
                        /* SIGINT: perf writes what it has and exits. */
                        (void) kill(p->pid, SIGINT);
                        (void) bench_reap(p->pid, 30000, NULL);
                        p->pid = 0;
                }
                closep(&p->ctl_fd);
                closep(&p->ack_fd);
        }
}

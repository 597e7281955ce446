/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * What a fork costs on this machine, beside the floors (issue 11 §5).
 *
 * lvssd runs every provider step off its loop in a forked worker (one per
 * session, reused), the commit child and the auto-release deletion: three
 * fork()s per backup session. A fork is paid twice: the fork, the child's
 * exit and its reaping, and then, in the parent, one page fault for the
 * first write to each private page after it (fork() write-protects them
 * all, for copy-on-write; the fault is taken even once the child is gone).
 * Natively such a fault costs about a microsecond; in a guest whose page
 * tables the hypervisor keeps, many times that. Two figures:
 *   - "fork": fork() + the child's _exit(0) + waitpid(), in the bench's own
 *     process (a small address space: lvssd's costs more);
 *   - "cow-fault": the first write to one page of a 16 MiB buffer after a
 *     fork, per page, while the child waits.
 * Both are printed beside the event figures: the first event after a fork
 * (PrepareForBackup follows the session worker's fork at AddToSnapshotSet)
 * pays its faults.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define COW_PAGES 4096u /* 16 MiB of 4 KiB pages */

/* fork + _exit + waitpid, in us. */
static int fork_once(double *ret_usec) {
        uint64_t t0 = now_nsec();
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0)
                _exit(0);
        while (waitpid(pid, NULL, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_usec = (double) (now_nsec() - t0) / 1000.0;
        return 0;
}

/* The first write to each of @n pages of @buf after a fork, the child waiting meanwhile: us per page. */
static int cow_once(volatile char *buf, size_t n, size_t page, double *ret_usec) {
        int p[2];
        pid_t pid;
        uint64_t t0, t1;
        char c = 0;

        for (size_t i = 0; i < n; i++) /* every page present and private before the fork */
                buf[i * page] = 1;
        if (pipe(p) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                close(p[1]);
                (void) !read(p[0], &c, 1); /* until the parent is done, or gone */
                _exit(0);
        }
        close(p[0]);
        t0 = now_nsec();
        for (size_t i = 0; i < n; i++)
                buf[i * page] = 2;
        t1 = now_nsec();
        (void) !write(p[1], "x", 1);
        close(p[1]);
        while (waitpid(pid, NULL, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_usec = (double) (t1 - t0) / 1000.0 / (double) n;
        return 0;
}

int bench_machine_run(const bench_config *cfg) {
        unsigned reps = cfg->quick ? 3 : 50, cow_reps = cfg->quick ? 2 : 10;
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        samples forks = {}, faults = {};
        char *buf;
        int r = 0;

        buf = malloc(COW_PAGES * page);
        if (!buf)
                return -ENOMEM;
        fflush(NULL); /* nothing buffered is written twice */
        for (unsigned i = 0; i <= reps && r >= 0; i++) {
                double us = 0;
                r = fork_once(&us);
                if (r >= 0 && i > 0) /* the first one is a warm-up */
                        r = samples_add(&forks, us);
        }
        for (unsigned i = 0; i < cow_reps && r >= 0; i++) {
                double us = 0;
                r = cow_once(buf, COW_PAGES, page, &us);
                if (r >= 0)
                        r = samples_add(&faults, us);
        }
        free(buf);
        if (r < 0) {
                bench_log("machine: %s", strerror(-r));
                samples_done(&forks);
                samples_done(&faults);
                return r;
        }
        result_add(1, "machine", "fork", "us", &forks);
        result_add(1, "machine", "cow-fault", "us", &faults);
        samples_done(&forks);
        samples_done(&faults);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "bench.h"

typedef struct perf_proc {
        pid_t pid;
        int ctl_fd;
        int ack_fd;
} perf_proc;

/* perf record and perf stat attached to one process, counters off until perf_control(). */
typedef struct perf_set {
        perf_proc p[2];
} perf_set;

#define PERF_SET_NULL { .p = { { .ctl_fd = -1, .ack_fd = -1 }, { .ctl_fd = -1, .ack_fd = -1 } } }

/* Output: DIR/lvssd-nN.perf.data and DIR/lvssd-nN.stat.txt. */
int perf_start(const char *dir, unsigned n, pid_t target, perf_set *ret);
int perf_control(perf_set *s, bool enable); /* waits for both acknowledgements */
void perf_stop(perf_set *s);                /* fine on PERF_SET_NULL */

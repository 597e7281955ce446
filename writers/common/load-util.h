/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the test load clients (lvss-sqlite-load, lvss-pg-load,
 * lvss-mariadb-load) share: stopping on SIGTERM/SIGINT after the current
 * transaction, and the ack log line.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Set by SIGTERM or SIGINT once load_catch_signals() ran: finish the current transaction, then stop. */
extern volatile sig_atomic_t load_stop;

/* Catches SIGTERM and SIGINT into load_stop. On failure says so in one line ("PROG: cannot handle signals: ...")
 * and returns -errno. */
int load_catch_signals(const char *prog);

/*
 * Appends "ID AT_USEC LATENCY_USEC" to @ack and flushes it: AT_USEC is CLOCK_REALTIME now (the instant the id
 * counts as acknowledged), LATENCY_USEC the CLOCK_MONOTONIC time since @begin_usec. On failure says so in one
 * line ("PROG: cannot write PATH: ...") and returns false.
 */
bool load_ack(FILE *ack, const char *prog, const char *path, uint64_t id, uint64_t begin_usec);

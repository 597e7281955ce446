/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * metrics.c: lvssd's Prometheus metrics, written to MetricsFile= for
 * node_exporter's textfile collector (issue 12 §3). The loop keeps the
 * counters and formats its part (cheap: one line per writer state); a thread
 * of its own adds the per-volume part (a catalog read, the copies' sizes)
 * and writes the file atomically (temporary file, fsync, rename). Every
 * function takes a NULL Metrics (MetricsFile= unset) and does nothing.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "catalog/catalog.h"
#include "catalog/catalog-queue.h"

typedef struct Metrics Metrics;

/*
 * Starts writing @path (absolute); @catalog_path is read for the volume part,
 * each time after a barrier on @queue (borrowed, may be NULL; outlives @m),
 * and, once here (at start-up, before the loop runs), for the session
 * counters of earlier runs. Queues the first write. 0 and *ret, or <0.
 */
int metrics_new(sd_event *event, lvss_catalog_queue *queue, const char *path, const char *catalog_path,
                Metrics **ret);
/* Writes what is still unwritten, stops the thread; NULL-safe; returns NULL. */
Metrics *metrics_free(Metrics *m);

/* A session step ended: a write is queued (one per loop iteration at most). */
void metrics_changed(Metrics *m);
/* A writer's outcome of one event (the history row of that event). */
void metrics_writer_status(Metrics *m, const lvss_catalog_status *row);
/* A session ended with @result ("completed", "aborted", "ended"); a backup's duration. */
void metrics_session_ended(Metrics *m, const char *result, bool backup, uint64_t duration_usec);

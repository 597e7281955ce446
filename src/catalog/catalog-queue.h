/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The catalog off the event path (issue 11 §1): one thread owns a connection
 * to the catalog and runs its jobs in the order they were queued; each job's
 * completion runs later on lvssd's loop. See catalog-queue.c for the design.
 */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "catalog/catalog.h"

typedef struct lvss_catalog_queue lvss_catalog_queue;

/* Runs on the catalog thread, with its connection; touches nothing of the loop. */
typedef int (*lvss_catalog_run_t)(lvss_catalog *c, void *data);
/* Runs on the loop once the job ran: @r is what run returned, @data the job's data. */
typedef void (*lvss_catalog_done_t)(int r, void *data, void *userdata);

/**
 * lvss_catalog_queue_new() - start the catalog thread
 * @path: the catalog file; the thread opens its own connection to it
 * @event: the loop the completions run on
 * @ret: the queue (free with lvss_catalog_queue_free())
 *
 * LVSS_TEST_CATALOG_DELAY_MS=N (a test hook, at most 60000) makes the thread
 * wait N ms before every write job: a slow disk under the catalog.
 * Returns 0 or a negative errno.
 */
int lvss_catalog_queue_new(const char *path, sd_event *event, lvss_catalog_queue **ret);

/**
 * lvss_catalog_queue_free() - every queued job runs, then the thread ends
 *
 * Then the completions not yet run are run (not forgotten ones). NULL-safe; returns NULL.
 */
lvss_catalog_queue *lvss_catalog_queue_free(lvss_catalog_queue *q);

/* The test hook's delay in ms (0: none), for logs that say the hook acts. */
unsigned lvss_catalog_queue_delay_ms(const lvss_catalog_queue *q);

/**
 * lvss_catalog_queue_submit() - queue a job
 * @run: runs on the thread
 * @data: the job's data, owned by the queue from now on (also on failure),
 *        freed with @free_data after the completion (or when it is dropped)
 * @write: whether the job writes (the test delay applies)
 * @done: runs on the loop afterwards (NULL: nobody waits)
 * @userdata: for @done; lvss_catalog_queue_forget(@userdata) drops the completion
 *
 * Jobs run in the order queued: a write queued after another sees its effect.
 * Returns 0 or a negative errno (-ENOMEM: nothing is queued, @data is freed).
 */
int lvss_catalog_queue_submit(lvss_catalog_queue *q, lvss_catalog_run_t run, void *data, void (*free_data)(void *),
                              bool write, lvss_catalog_done_t done, void *userdata);

/* Runs @run on the thread after every job queued before and waits for it (blocking the
 * caller): only for rare writes whose caller cannot continue later. Returns run's result. */
int lvss_catalog_queue_run_wait(lvss_catalog_queue *q, lvss_catalog_run_t run, void *data);

/* @done once every job queued before has run (@r is 0). */
int lvss_catalog_queue_barrier(lvss_catalog_queue *q, lvss_catalog_done_t done, void *userdata);

/* No completion with @userdata runs any more (the jobs themselves still run). */
void lvss_catalog_queue_forget(lvss_catalog_queue *q, const void *userdata);

/* ---- the catalog's writes, queued (arguments are copied) ---- */

int lvss_catalog_queue_session_begin(lvss_catalog_queue *q, const vss_id *session_id, uid_t uid, pid_t pid,
                                     uint64_t usec, lvss_catalog_done_t done, void *userdata);
int lvss_catalog_queue_session_end(lvss_catalog_queue *q, const vss_id *session_id, const char *state,
                                   const char *reason, uint64_t usec);
int lvss_catalog_queue_snapshot_set_state(lvss_catalog_queue *q, const vss_id *snapshot_id, const char *state,
                                          lvss_catalog_done_t done, void *userdata);
int lvss_catalog_queue_snapshot_set_path(lvss_catalog_queue *q, const vss_id *snapshot_id, const char *path,
                                         lvss_catalog_done_t done, void *userdata);
int lvss_catalog_queue_snapshot_remove(lvss_catalog_queue *q, const vss_id *snapshot_id, lvss_catalog_done_t done,
                                       void *userdata);
int lvss_catalog_queue_frozen_remove(lvss_catalog_queue *q, const char *mount_point);
/* @rows are taken over (freed with their strings by the queue); the completion's data is a
 * lvss_catalog_status_rows with them. */
typedef struct lvss_catalog_status_rows {
        lvss_catalog_status *rows;
        size_t n;
} lvss_catalog_status_rows;
int lvss_catalog_queue_status_add_many(lvss_catalog_queue *q, lvss_catalog_status *rows, size_t n,
                                       lvss_catalog_done_t done, void *userdata);
/* Frees rows made for lvss_catalog_queue_status_add_many() (their strings too). */
void lvss_catalog_status_rows_free(lvss_catalog_status *rows, size_t n);

/*
 * A new set's records in one job: its "creating" snapshot rows (one
 * transaction), then a row for each file system to freeze. All written and
 * durable before @done is called with 0; on failure nothing of it is left.
 * The strings are copied.
 */
typedef struct lvss_catalog_frozen_row {
        const char *mount_point;
        const char *device;
        uint64_t usec;
} lvss_catalog_frozen_row;
int lvss_catalog_queue_set_records(lvss_catalog_queue *q, const lvss_catalog_snapshot *rows, size_t n,
                                   const vss_id *session_id, const lvss_catalog_frozen_row *frozen, size_t n_frozen,
                                   lvss_catalog_done_t done, void *userdata);

/* Every snapshot row, read on the thread after every job queued before: @done's
 * data is a lvss_catalog_snapshot_list. */
typedef struct lvss_catalog_snapshot_list {
        lvss_catalog_snapshot *rows; /* strings owned by the list */
        size_t n;
} lvss_catalog_snapshot_list;
int lvss_catalog_queue_list_snapshots(lvss_catalog_queue *q, lvss_catalog_done_t done, void *userdata);

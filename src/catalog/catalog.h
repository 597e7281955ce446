/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The catalog: what survives a restart of lvssd (architecture.md "State").
 * One SQLite database (WAL, foreign keys on, schema versioned through
 * PRAGMA user_version with numbered migrations).
 *
 * Ordering rule (providers-and-writers.md): a snapshot row is written before
 * the snapshot exists on disk (state "creating") and removed only after it is
 * gone from disk, so a crash leaves nothing lvssd cannot find.
 *
 * Every function returns 0 / positive or a negative errno (-EIO for SQLite
 * errors, logged with the SQLite message to stderr).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <lvss/types.h>

typedef struct lvss_catalog lvss_catalog;

typedef struct lvss_catalog_snapshot {
        vss_id snapshot_id;
        vss_id set_id;
        vss_id session_id;
        vss_id provider_id;
        const char *volume;
        const char *snapshot_path;
        const char *state;      /* "creating", "created" */
        bool persistent;        /* false: auto-release */
        int32_t context;
        uint32_t attributes;
        uint64_t created_usec;
} lvss_catalog_snapshot;

typedef struct lvss_catalog_status {
        vss_id session_id;
        vss_id instance_id;
        vss_id writer_id;
        const char *writer_name;
        const char *instance_name;
        vss_writer_state state;
        vss_hresult failure;
        vss_hresult application_result;
        const char *application_message;
        vss_writer_event event;
        bool ok;
        uint64_t sent_usec;
        uint64_t duration_usec;
        bool answered_by_lvssd; /* issue 11 §5: the writer does not handle the event; lvssd answered it */
} lvss_catalog_status;

int lvss_catalog_open(const char *path, lvss_catalog **ret);
lvss_catalog *lvss_catalog_close(lvss_catalog *c); /* NULL-safe; returns NULL */

/* Sessions: state is "active" until ended with "completed", "aborted" or "ended". */
int lvss_catalog_session_begin(lvss_catalog *c, const vss_id *session_id, uid_t uid, pid_t pid, uint64_t usec);
int lvss_catalog_session_end(lvss_catalog *c, const vss_id *session_id, const char *state, const char *reason,
                             uint64_t usec);
/* Reads a session's state and reason (both owned: free()); -ENOENT if unknown. */
int lvss_catalog_session_get(lvss_catalog *c, const vss_id *session_id, char **ret_state, char **ret_reason);
/* At start-up: every session still "active" belonged to a coordinator that died:
 * mark it "aborted" with @reason. Returns how many. */
int lvss_catalog_sessions_abort_active(lvss_catalog *c, const char *reason, uint64_t usec);

int lvss_catalog_snapshot_add(lvss_catalog *c, const lvss_catalog_snapshot *s);
/* @n rows in one transaction (one fsync): all or none. */
int lvss_catalog_snapshots_add(lvss_catalog *c, const lvss_catalog_snapshot *rows, size_t n);
int lvss_catalog_snapshot_set_state(lvss_catalog *c, const vss_id *snapshot_id, const char *state);
/* The path the provider reports after commit, when it differs from the one planned. */
int lvss_catalog_snapshot_set_path(lvss_catalog *c, const vss_id *snapshot_id, const char *snapshot_path);
int lvss_catalog_snapshot_remove(lvss_catalog *c, const vss_id *snapshot_id);
/* Calls @cb for every auto-release snapshot whose session is not "active"
 * and for every snapshot still "creating" whose session is not active
 * (strings valid during the call). Stops at the first negative return. */
typedef int (*lvss_catalog_snapshot_cb)(const lvss_catalog_snapshot *s, void *userdata);
int lvss_catalog_foreach_orphan(lvss_catalog *c, lvss_catalog_snapshot_cb cb, void *userdata);
/* Every snapshot (for listings and tests). */
int lvss_catalog_foreach_snapshot(lvss_catalog *c, lvss_catalog_snapshot_cb cb, void *userdata);

/* Writer-status history: one row per event outcome. */
int lvss_catalog_status_add(lvss_catalog *c, const lvss_catalog_status *s);
/* @n rows in one transaction; all or nothing. In the WAL when it returns (it survives
 * lvssd being killed), not synced: the next durable write syncs it (issue 11 §5). */
int lvss_catalog_status_add_many(lvss_catalog *c, const lvss_catalog_status *rows, size_t n);
/* The same for @n_batches arrays (rows[b] has n[b] rows), all in one transaction. */
int lvss_catalog_status_add_batches(lvss_catalog *c, const lvss_catalog_status *const *rows, const size_t *n,
                                    size_t n_batches);

/*
 * Writer owners (issue 8 item 4): the uid a writer class (writer id) is bound
 * to. _get: 0 and the uid (and since when), -ENOENT when the class has no
 * owner yet. _set: records @uid as the owner (the first one, or a takeover).
 */
int lvss_catalog_writer_owner_get(lvss_catalog *c, const vss_id *writer_id, uid_t *ret_uid, uint64_t *ret_since_usec);
int lvss_catalog_writer_owner_set(lvss_catalog *c, const vss_id *writer_id, uid_t uid, const char *writer_name,
                                  uint64_t usec);
/* How many writer classes the catalog binds to @uid (issue 8, MaxWriterClassesPerUser=). */
int lvss_catalog_writer_owner_count(lvss_catalog *c, uid_t uid, unsigned *ret);

/* PRAGMA integrity_check == "ok": 1, else 0. */
/*
 * File systems the exec provider freezes (issue 10 part 3): a row before
 * FIFREEZE, removed after FITHAW; lvssd's start-up thaws those left.
 * foreach calls @cb for each (latest frozen first), on a copy of the rows.
 */
int lvss_catalog_frozen_add(lvss_catalog *c, const char *mount_point, const char *device, const vss_id *session_id,
                            uint64_t usec);
int lvss_catalog_frozen_remove(lvss_catalog *c, const char *mount_point);
typedef int (*lvss_catalog_frozen_cb)(const char *mount_point, const char *device, void *userdata);
int lvss_catalog_foreach_frozen(lvss_catalog *c, lvss_catalog_frozen_cb cb, void *userdata);

/* Issue 12 §2: a volume's shadow storage limit set at run time (vssadmin resize shadowstorage):
 * @max_bytes, else @max_percent (1..100) of the storage area's file system; both 0: no limit.
 * It wins over lvssd.conf's MaxSize= of the volume. Replaces an earlier one. */
int lvss_catalog_storage_limit_set(lvss_catalog *c, const char *volume, uint64_t max_bytes, unsigned max_percent);
typedef int (*lvss_catalog_storage_limit_cb)(const char *volume, uint64_t max_bytes, unsigned max_percent,
                                             void *userdata);
/* Every stored limit, by volume; a negative return of @cb stops and is returned. */
int lvss_catalog_foreach_storage_limit(lvss_catalog *c, lvss_catalog_storage_limit_cb cb, void *userdata);

int lvss_catalog_check(lvss_catalog *c);

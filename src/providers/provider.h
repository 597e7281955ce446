/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Providers make the snapshots (providers-and-writers.md).
 *
 * A provider is a table of synchronous functions. Where lvssd runs each
 * (issue 11 §1, src/coordinator/worker.c):
 *   is_volume_supported, begin_prepare, end_prepare, post_commit, finalize
 *       (after PostSnapshot): in the session's worker, one child for the
 *       session's checks and steps (issue 11 §5), killed at
 *       ProviderStepTimeoutMS=; the set comes to it by value, and what the
 *       step sets in the lvss_snapshots (snapshot_path, atomic, can_write) is
 *       sent back to lvssd by value; delete_snapshot (vssadmin delete
 *       shadows): in a child forked for it;
 *   ready_commit: in the commit child, right after it is forked (before
 *       Freeze goes out) and before it waits for "go": outside the freeze
 *       window (issue 11 §5);
 *   pre_commit, commit: in the commit child, after "go", killed at the hold
 *       window (WS-6);
 *   abort, delete_snapshot (auto-release at a session's end, start-up
 *       cleanup), finalize (a session interrupted after its commit): still
 *       on lvssd's loop.
 * So a step must keep nothing it needs later in memory, nor change p->data
 * (a copy in the child, which may serve the next step of the set too): what
 * later steps need lives on disk, at the paths
 * begin_prepare chose; and commit must only touch the file system.
 * The one exception is ready_commit's: what it opens is kept in the
 * snapshot (lvss_snapshot.commit_ready) for commit in the same process, and
 * given back by commit or release_commit.
 * All functions return 0 or a negative errno, and on failure set *ret_hr
 * (when non-NULL) to the vss_hresult to report (VSS_E_PROVIDER_VETO,
 * VSS_E_INSUFFICIENT_STORAGE, VSS_E_UNEXPECTED_PROVIDER_ERROR, ...).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lvss/types.h>

typedef struct lvss_provider lvss_provider;

/* One volume of a snapshot set, as the provider sees it. */
typedef struct lvss_snapshot {
        vss_id snapshot_id;
        vss_id set_id;
        char *volume;        /* absolute, canonical path (realpath) */
        char *snapshot_path; /* chosen by begin_prepare; readable after post_commit */
        /* Set by begin_prepare (issue 9 part 1): the snapshot of this volume is
         * one instant of the whole volume. false is the safe answer. */
        bool atomic;
        /* Set by begin_prepare (issue 9 part 2): commit can leave this snapshot
         * writable until finalize (auto-recovery). false is the safe answer. */
        bool can_write;
        /* Set by the coordinator after begin_prepare, only where can_write is:
         * commit makes the snapshot writable; post_commit leaves it so; finalize
         * makes it read-only. false: read-only from post_commit on, as always. */
        bool writable;
        /* Issue 11 §5: what ready_commit kept for commit (descriptors opened before
         * the freeze window), the snapshot's provider's own; NULL when ready_commit
         * did not run or it was given back (commit, release_commit). Valid only in
         * the process that ran ready_commit: a copy of the struct must not take it
         * along (lvssd's parent never runs ready_commit, so it is NULL there). */
        void *commit_ready;
} lvss_snapshot;

typedef struct lvss_provider_ops {
        const char *name;    /* "copy" */
        vss_id id;
        const char *type;    /* "system", "software", "external" */
        const char *version;
        /* Issue 10 part 3: the coordinator FIFREEZEs the file systems of this
         * provider's volumes in the commit child after pre_commit and FITHAWs
         * them after commit, on every path (set by lvss_provider_exec_set_freeze). */
        bool freeze_filesystems;

        bool (*is_volume_supported)(lvss_provider *p, const char *volume);
        /* Checks and reservations; sets every snapshot_path (malloc'd). */
        int (*begin_prepare)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        int (*end_prepare)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        /*
         * In the commit child, before it waits for "go" (issue 11 §5): everything
         * commit does that does not need the writers frozen (resolve and open the
         * set directory and the volume, check that the snapshot's name is free),
         * kept in each snapshot's ->commit_ready, so that commit, inside the
         * freeze window, resolves no path. Changes nothing on disk. On failure no
         * snapshot keeps anything and nothing is left behind; the child reports it
         * with *ret_hr at once, and lvssd vetoes the set before Freeze goes out
         * (snapshot.c, commit_run(), commit_ready_wait_begin()). A snapshot that still holds something is given it back
         * first. NULL: nothing to do (commit does it all, as the exec provider's
         * program does).
         */
        int (*ready_commit)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        /* Gives back what ready_commit kept (->commit_ready NULL again), when commit
         * will not run; NULL-safe per snapshot, idempotent. NULL when ready_commit is. */
        void (*release_commit)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n);
        /* In the child: flush (syncfs). */
        int (*pre_commit)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        /* In the child, inside the hold window: make every snapshot of the set.
         * Uses what ready_commit kept where it ran, and works without it too (it
         * then does that work itself); gives it back on every path, for every
         * snapshot of the call. */
        int (*commit)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        /* After Thaw: make the snapshots readable at their paths: read-only, or
         * writable where ->writable is set (auto-recovery, issue 9 part 2). */
        int (*post_commit)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        /* After PostSnapshot (VSS's PostFinalCommitSnapshots, issue 9 part 2):
         * make every snapshot with ->writable read-only; the others are left
         * alone. Called once after every commit that succeeded, on every path
         * (writers failed, crashed or timed out in PostSnapshot, the session
         * was aborted or cancelled after the commit). Idempotent; a snapshot
         * already gone is success; tries every snapshot even after a failure.
         * NULL: the provider never leaves a snapshot writable. */
        int (*finalize)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
        /* Undo whatever exists of the set (also after a killed commit). Idempotent. */
        int (*abort)(lvss_provider *p, lvss_snapshot *const *snaps, size_t n);
        /* Delete one snapshot at @snapshot_path. Idempotent: a missing path is success. */
        int (*delete_snapshot)(lvss_provider *p, const char *snapshot_path);
        void (*free)(lvss_provider *p);
} lvss_provider_ops;

struct lvss_provider {
        const lvss_provider_ops *ops;
        void *data;
};

/*
 * The copy provider: any directory. Snapshot paths live under
 * @storage_dir/<set id>/<snapshot id>; commit clones each regular file with
 * FICLONE where the file system allows, else copy_file_range; directories,
 * symlinks, modes and mtimes are kept. post_commit makes the tree read-only,
 * or, for a writable (auto-recovery) snapshot, finalize does after PostSnapshot:
 * immutable (FS_IMMUTABLE_FL, modes kept), or without write bits where the
 * file system or lvssd's privileges do not allow that.
 * Not atomic: files are copied one after the other.
 */
int lvss_provider_copy_new(const char *storage_dir, lvss_provider **ret);

/*
 * lvss_provider_copy_set_limit() - the most the copy provider's shadow
 * copies of @volume may take in its storage area (issue 12 §2): @max_bytes,
 * else @max_percent (1..100) of the file system holding the storage area;
 * both 0: no limit. A set that would pass it is refused in begin_prepare
 * with VSS_E_INSUFFICIENT_STORAGE. Replaces an earlier limit of @volume.
 * -EINVAL for another provider.
 */
int lvss_provider_copy_set_limit(lvss_provider *p, const char *volume, uint64_t max_bytes, unsigned max_percent);
/* The @i-th limit (from 0): its volume (borrowed, valid until the next set_limit), bytes and
 * percent; -ENOENT past the last. */
int lvss_provider_copy_limit_at(lvss_provider *p, size_t i, const char **ret_volume, uint64_t *ret_max_bytes,
                                unsigned *ret_max_percent);
/* What the copy provider's copies of @volume take (*@ret_used, bytes of their blocks) and its
 * limit in bytes (*@ret_max, 0: none). Walks the storage area: not for lvssd's loop. */
int lvss_provider_copy_usage(lvss_provider *p, const char *volume, uint64_t *ret_used, uint64_t *ret_max);
/* The bytes of the blocks of the tree at @path (one file system). Not for lvssd's loop. */
int lvss_provider_copy_tree_bytes(const char *path, uint64_t *ret);

/*
 * The btrfs provider: a volume is a btrfs subvolume (its root directory);
 * commit makes a read-only snapshot with libbtrfsutil (writable for
 * auto-recovery, made read-only by finalize after PostSnapshot) at
 * @storage_dir/<set id>/<snapshot id> when @storage_dir is on the same btrfs
 * file system, else in "<volume's parent>/.lvss-snapshots/<set>/<snapshot>"
 * (a snapshot must live on the file system of its source). O(1).
 * Atomic per volume (one subvolume at one instant); not across volumes.
 */
int lvss_provider_btrfs_new(const char *storage_dir, lvss_provider **ret);

/*
 * The exec provider: an external program does the work, one call per step,
 * each bounded by @step_timeout_usec (the hold window bounds commit):
 *   PROGRAM is-supported VOLUME              exit 0: supported
 *   PROGRAM prepare SET_ID SNAPSHOT_ID VOLUME  may print "atomic" (a line of its own):
 *                                             the snapshot is one instant of the volume;
 *                                             anything else (or nothing): not atomic;
 *                                             may print "writable" (a line of its own):
 *                                             it can leave the snapshot writable until
 *                                             finalize (auto-recovery, issue 9 part 2)
 *   PROGRAM commit SET_ID SNAPSHOT_ID VOLUME  prints the snapshot path on stdout; with
 *                                             LVSS_WRITABLE=1 in its environment (only
 *                                             after "writable") the snapshot must be
 *                                             writable until finalize, else read-only
 *   PROGRAM finalize SNAPSHOT_PATH            only after a commit with LVSS_WRITABLE=1,
 *                                             after PostSnapshot: make it read-only
 *   PROGRAM delete SNAPSHOT_PATH
 *   PROGRAM abort SET_ID SNAPSHOT_ID VOLUME
 * @name becomes the provider's name; its id is derived from the name.
 */
int lvss_provider_exec_new(const char *name, const char *program, const char *storage_dir,
                           uint64_t step_timeout_usec, lvss_provider **ret);

/* FreezeFilesystems= (issue 10 part 3): ops->freeze_filesystems of an exec
 * provider. -EINVAL for another provider. */
int lvss_provider_exec_set_freeze(lvss_provider *p, bool freeze);

/* Helpers for provider implementations. */

/* The 36-character form of @id, without braces: snapshot and set file names. */
void lvss_provider_id_name(const vss_id *id, char ret[VSS_ID_STRING_MAX]);
/* Fail a step with @r: VSS_E_INSUFFICIENT_STORAGE for ENOSPC/EDQUOT, else
 * VSS_E_UNEXPECTED_PROVIDER_ERROR, into *@ret_hr (may be NULL). Returns @r. */
int lvss_provider_fail(vss_hresult *ret_hr, int r);
/* Refuse a step with @r: VSS_E_PROVIDER_VETO. Returns @r. */
int lvss_provider_veto(vss_hresult *ret_hr, int r);
/* The storage area, created (0700) and made canonical; "/" and non-directories
 * are refused (every volume would contain it). *@ret owned: free(). */
int lvss_provider_storage_dir(const char *storage_dir, char **ret);

/* ops->release_commit of @p over @snaps, when it has one; NULL-safe. */
void lvss_provider_release_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n);

/* Call ops->free and free @p; NULL-safe; returns NULL. */
lvss_provider *lvss_provider_free(lvss_provider *p);

/* The copy provider's id: {5d3c3a8e-2f5b-4c1e-9a57-6c0f3b1d2e01}. */
extern const vss_id LVSS_PROVIDER_COPY_ID;
/* The btrfs provider's id: {5d3c3a8e-2f5b-4c1e-9a57-6c0f3b1d2e02}. */
extern const vss_id LVSS_PROVIDER_BTRFS_ID;

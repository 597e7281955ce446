/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The storage-area base of the copy and btrfs providers (issue 11 §3 "one
 * home per rule"): both keep snapshots at <storage>/<set id>/<snapshot id>,
 * made canonical at start, and share how they are created, freed, deleted
 * one by one, cleaned up on abort, and how they log. A provider puts
 * lvss_storage_area first in its data and says how one snapshot path is
 * removed; the rest of its ops are its own.
 */

#include <stdbool.h>
#include <stddef.h>

#include "providers/provider.h"

typedef struct lvss_storage_area lvss_storage_area;

struct lvss_storage_area {
        const char *name; /* ops->name: in log lines */
        char *storage;    /* canonical, absolute */
        /* Deletes the snapshot at @path, then its set directory when empty.
         * Refuses (-EPERM) what the provider does not make; a missing path
         * is success. */
        int (*remove_snapshot_path)(lvss_storage_area *a, const char *path);
        /* abort also removes <storage>/<set>/<snapshot> for a snapshot
         * without a path (begin_prepare stopped before it set one). */
        bool abort_unprepared;
        /* The commit of one snapshot, in two parts (issue 11 §5; provider.h,
         * ready_commit): ready_one does its path work before the freeze window
         * and returns what it opened (*@ret, freed by ready_free); commit_one
         * makes the snapshot with what s->commit_ready holds, doing that path
         * work itself when it holds nothing. Set by the provider after
         * lvss_storage_area_provider_new(). */
        int (*ready_one)(lvss_storage_area *a, const lvss_snapshot *s, void **ret);
        int (*commit_one)(lvss_storage_area *a, lvss_snapshot *s);
        void (*ready_free)(void *ready);
};

/*
 * lvss_storage_area_provider_new() - a provider with @ops whose data is
 * @size bytes (zeroed) starting with a lvss_storage_area over @storage_dir
 * (created 0700 and made canonical: lvss_provider_storage_dir()).
 * -EINVAL for a relative @storage_dir or "/".
 */
int lvss_storage_area_provider_new(const lvss_provider_ops *ops, const char *storage_dir, size_t size,
                                   int (*remove_snapshot_path)(lvss_storage_area *a, const char *path),
                                   lvss_provider **ret);

/* The area of @p (its data); NULL for NULL. */
static inline lvss_storage_area *lvss_storage_area_of(lvss_provider *p) {
        return p ? p->data : NULL;
}

/* Is @canon (canonical) <storage>/<name>, a set directory's place? */
bool lvss_storage_area_is_set_dir(const lvss_storage_area *a, const char *canon);

/* One line "lvssd: <name>: ..." in one write (the parent and the commit child share stderr). */
void lvss_storage_area_log(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ops->pre_commit (flush each volume's file system: syncfs), ops->abort,
 * ops->delete_snapshot and ops->free of such a provider. */
int lvss_storage_area_pre_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
int lvss_storage_area_abort(lvss_provider *p, lvss_snapshot *const *snaps, size_t n);
int lvss_storage_area_delete_snapshot(lvss_provider *p, const char *snapshot_path);
void lvss_storage_area_free(lvss_provider *p);

/* ops->ready_commit, ops->release_commit and ops->commit of such a provider, over its ready_one,
 * commit_one and ready_free: the arguments checked, a failure logged with the volume and path,
 * and what ready_commit kept given back on every path (provider.h). */
int lvss_storage_area_ready_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);
void lvss_storage_area_release_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n);
int lvss_storage_area_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr);

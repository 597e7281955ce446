/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/util.h"
#include "providers/storage-area.h"

int lvss_storage_area_provider_new(const lvss_provider_ops *ops, const char *storage_dir, size_t size,
                                   int (*remove_snapshot_path)(lvss_storage_area *a, const char *path),
                                   lvss_provider **ret) {
        _cleanup_(freep) char *canon = NULL;
        _cleanup_(freep) lvss_storage_area *a = NULL;
        lvss_provider *p;
        int r;

        if (!ops || size < sizeof *a || !remove_snapshot_path || !storage_dir || storage_dir[0] != '/' || !ret)
                return -EINVAL;

        r = lvss_provider_storage_dir(storage_dir, &canon);
        if (r < 0)
                return r;

        a = calloc(1, size);
        p = calloc(1, sizeof *p);
        if (!a || !p) {
                free(p);
                return -ENOMEM;
        }
        a->name = ops->name;
        a->storage = TAKE_PTR(canon);
        a->remove_snapshot_path = remove_snapshot_path;

        p->ops = ops;
        p->data = TAKE_PTR(a);
        *ret = p;
        return 0;
}

bool lvss_storage_area_is_set_dir(const lvss_storage_area *a, const char *canon) {
        const char *slash = strrchr(canon, '/');
        size_t n = strlen(a->storage);

        return slash && (size_t) (slash - canon) == n && strncmp(canon, a->storage, n) == 0 && slash[1] != 0;
}

void lvss_storage_area_log(const char *name, const char *fmt, ...) {
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        fprintf(stderr, "lvssd: %s: %s\n", name, line);
}

int lvss_storage_area_pre_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        lvss_storage_area *a = lvss_storage_area_of(p);

        if (!a || (n > 0 && !snaps))
                return lvss_provider_fail(ret_hr, -EINVAL);

        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int fd = -1;

                if (!snaps[i] || !snaps[i]->volume)
                        return lvss_provider_fail(ret_hr, -EINVAL);
                fd = open(snaps[i]->volume, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 || syncfs(fd) < 0) {
                        int r = -errno;
                        lvss_storage_area_log(a->name, "%s: cannot flush: %s", snaps[i]->volume, strerror(-r));
                        return lvss_provider_fail(ret_hr, r);
                }
        }
        return 0;
}

int lvss_storage_area_abort(lvss_provider *p, lvss_snapshot *const *snaps, size_t n) {
        lvss_storage_area *a = lvss_storage_area_of(p);
        int r = 0;

        if (!a || (n > 0 && !snaps))
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(freep) char *computed = NULL;
                const char *path;
                int k;

                if (!snaps[i])
                        continue;
                path = snaps[i]->snapshot_path;
                if (!path) {
                        /* begin_prepare did not get that far: nothing made, or the
                         * path it would have chosen (abort_unprepared). */
                        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];

                        if (!a->abort_unprepared)
                                continue;
                        lvss_provider_id_name(&snaps[i]->set_id, set);
                        lvss_provider_id_name(&snaps[i]->snapshot_id, snap);
                        if (asprintf(&computed, "%s/%s/%s", a->storage, set, snap) < 0) {
                                computed = NULL;
                                if (r == 0)
                                        r = -ENOMEM;
                                continue;
                        }
                        path = computed;
                }

                k = a->remove_snapshot_path(a, path);
                if (k < 0) {
                        lvss_storage_area_log(a->name, "%s: cannot remove: %s", path, strerror(-k));
                        if (r == 0)
                                r = k;
                }
        }
        return r;
}

int lvss_storage_area_delete_snapshot(lvss_provider *p, const char *snapshot_path) {
        lvss_storage_area *a = lvss_storage_area_of(p);
        int r;

        if (!a || !snapshot_path)
                return -EINVAL;
        r = a->remove_snapshot_path(a, snapshot_path);
        if (r < 0)
                lvss_storage_area_log(a->name, "%s: cannot delete: %s", snapshot_path, strerror(-r));
        return r;
}

void lvss_storage_area_free(lvss_provider *p) {
        lvss_storage_area *a = lvss_storage_area_of(p);

        if (!a)
                return;
        free(a->storage);
        free(a); /* the provider's whole data: the area is its first member */
        p->data = NULL;
}

void lvss_storage_area_release_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n) {
        lvss_storage_area *a = lvss_storage_area_of(p);

        if (!a || !a->ready_free || !snaps)
                return;
        for (size_t i = 0; i < n; i++)
                if (snaps[i]) {
                        a->ready_free(snaps[i]->commit_ready);
                        snaps[i]->commit_ready = NULL;
                }
}

/* The arguments of ready_commit and commit: a provider of this kind, and snapshots with paths. */
static bool commit_args_ok(const lvss_storage_area *a, lvss_snapshot *const *snaps, size_t n) {
        if (!a || !a->ready_one || !a->commit_one || !a->ready_free || (n > 0 && !snaps))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->volume || !snaps[i]->snapshot_path)
                        return false;
        return true;
}

/* Before the freeze window: every snapshot's path work done, what it opened kept; nothing is
 * made. On failure nothing is kept. */
int lvss_storage_area_ready_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        lvss_storage_area *a = lvss_storage_area_of(p);

        lvss_storage_area_release_commit(p, snaps, n); /* what an earlier call kept */
        if (!commit_args_ok(a, snaps, n))
                return lvss_provider_fail(ret_hr, -EINVAL);
        for (size_t i = 0; i < n; i++) {
                void *ready = NULL;
                int r = a->ready_one(a, snaps[i], &ready);
                if (r < 0) {
                        lvss_storage_area_log(a->name, "%s: cannot get the snapshot into %s ready: %s",
                                              snaps[i]->volume, snaps[i]->snapshot_path, strerror(-r));
                        lvss_storage_area_release_commit(p, snaps, n);
                        return lvss_provider_fail(ret_hr, r);
                }
                snaps[i]->commit_ready = ready;
        }
        return 0;
}

/* Inside the freeze window: each snapshot made, up to the first failure; what ready_commit kept
 * is given back on every path, for every snapshot of the call. */
int lvss_storage_area_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        lvss_storage_area *a = lvss_storage_area_of(p);
        int r = 0;

        if (!commit_args_ok(a, snaps, n)) {
                lvss_storage_area_release_commit(p, snaps, n);
                return lvss_provider_fail(ret_hr, -EINVAL);
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = a->commit_one(a, snaps[i]);
                if (r < 0)
                        lvss_storage_area_log(a->name, "%s: snapshot into %s failed: %s", snaps[i]->volume,
                                              snaps[i]->snapshot_path, strerror(-r));
        }
        lvss_storage_area_release_commit(p, snaps, n);
        return r < 0 ? lvss_provider_fail(ret_hr, r) : 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What every provider shares: its release, giving back what ready_commit kept, and the ids of the
 * bundled ones. */

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "basic/fs-util.h"
#include "basic/util.h"
#include "providers/provider.h"

/* {5d3c3a8e-2f5b-4c1e-9a57-6c0f3b1d2e01}, RFC 4122 byte order. */
const vss_id LVSS_PROVIDER_COPY_ID = {
        .bytes = { 0x5d, 0x3c, 0x3a, 0x8e, 0x2f, 0x5b, 0x4c, 0x1e,
                   0x9a, 0x57, 0x6c, 0x0f, 0x3b, 0x1d, 0x2e, 0x01 },
};

void lvss_provider_id_name(const vss_id *id, char ret[VSS_ID_STRING_MAX]) {
        char s[VSS_ID_STRING_MAX];

        vss_id_format(id, s);
        memcpy(ret, s + 1, 36);
        ret[36] = 0;
}

int lvss_provider_fail(vss_hresult *ret_hr, int r) {
        if (ret_hr)
                *ret_hr = r == -ENOSPC || r == -EDQUOT ? VSS_E_INSUFFICIENT_STORAGE : VSS_E_UNEXPECTED_PROVIDER_ERROR;
        return r;
}

int lvss_provider_veto(vss_hresult *ret_hr, int r) {
        if (ret_hr)
                *ret_hr = VSS_E_PROVIDER_VETO;
        return r;
}

int lvss_provider_storage_dir(const char *storage_dir, char **ret) {
        _cleanup_(freep) char *canon = NULL;
        struct stat st;
        int r;

        if (!storage_dir || storage_dir[0] != '/' || !ret)
                return -EINVAL;
        r = lvss_mkdir_parents(storage_dir, 0700);
        if (r < 0)
                return r;
        canon = realpath(storage_dir, NULL);
        if (!canon)
                return -errno;
        if (strcmp(canon, "/") == 0)
                return -EINVAL;
        if (stat(canon, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        *ret = TAKE_PTR(canon);
        return 0;
}

void lvss_provider_release_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n) {
        if (!p || !p->ops || !p->ops->release_commit || (n > 0 && !snaps))
                return;
        p->ops->release_commit(p, snaps, n);
}

lvss_provider *lvss_provider_free(lvss_provider *p) {
        if (!p)
                return NULL;
        if (p->ops && p->ops->free)
                p->ops->free(p);
        free(p);
        return NULL;
}

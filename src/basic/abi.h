/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the library knows about the public structures and enumerations that
 * callers must not build on (issue 11 §4).
 *
 * Counts of the public enumerations: kept out of include/lvss so that adding
 * a state or an event later does not change a value a caller compiled in.
 *
 * First-version sizes of the structures that carry a size field: a caller
 * compiled against the first version passes exactly this size; anything
 * smaller (0 included) is refused with VSS_E_INVALIDARG. When a structure
 * grows, its *_SIZE_V1 stays as it is: new fields are read (input) or written
 * (output) only when the caller's size covers them.
 */

#include <stddef.h>
#include <string.h>

#include <lvss/backup.h>
#include <lvss/metadata.h>
#include <lvss/types.h>
#include <lvss/writer.h>

#define VSS_WS_COUNT    (VSS_WS_FAILED_AT_BACKUPSHUTDOWN + 1)
#define VSS_EVENT_COUNT (VSS_EVENT_POST_RESTORE + 1)

#define LVSS_OFFSETOF_END(type, member) (offsetof(type, member) + sizeof(((type *) 0)->member))

#define LVSS_WRITER_OPTIONS_SIZE_V1   LVSS_OFFSETOF_END(vss_writer_options, freeze_timeout_ms)
#define LVSS_WRITER_CALLBACKS_SIZE_V1 LVSS_OFFSETOF_END(vss_writer_callbacks, on_post_restore)
#define LVSS_WRITER_STATUS_SIZE_V1    LVSS_OFFSETOF_END(vss_writer_status, last_event_duration_usec)
#define LVSS_SNAPSHOT_PROP_SIZE_V1    LVSS_OFFSETOF_END(vss_snapshot_prop, context)

/*
 * lvss_struct_copy_in() - read a caller's input structure of @size bytes into
 * @dst (sizeof @dst_size): copies min(size, dst_size); fields past the
 * caller's size stay zero (their defaults). @dst->size is set to @dst_size.
 */
static inline void lvss_struct_copy_in(void *dst, size_t dst_size, const void *src, size_t size) {
        memset(dst, 0, dst_size);
        memcpy(dst, src, size < dst_size ? size : dst_size);
        memcpy(dst, &dst_size, sizeof dst_size);
}

/*
 * lvss_struct_copy_out() - fill a caller's output structure whose size field
 * says @size (already checked against the first version) from @src of
 * @src_size bytes: writes min(size, src_size) bytes and leaves the caller's
 * size field as it was. Bytes past src_size in a larger (newer) caller's
 * structure are left untouched.
 */
static inline void lvss_struct_copy_out(void *dst, size_t size, const void *src, size_t src_size) {
        size_t n = size < src_size ? size : src_size;

        memcpy((char *) dst + sizeof(size_t), (const char *) src + sizeof(size_t), n - sizeof(size_t));
}

/*
 * vss_file_desc is frozen (metadata.h, docs/api.md "Structure sizes"): the
 * arrays in vss_component_info are walked with the caller's sizeof, so its
 * layout of lvss 0.1 is its layout forever. A change here breaks every
 * program that reads a component's file lists; new file-set properties go
 * through a new getter instead.
 */
_Static_assert(offsetof(vss_file_desc, path) == 0 &&
                       offsetof(vss_file_desc, filespec) == sizeof(const char *) &&
                       offsetof(vss_file_desc, recursive) == 2 * sizeof(const char *) &&
                       offsetof(vss_file_desc, alternate_location) == 3 * sizeof(const char *) &&
                       offsetof(vss_file_desc, backup_type_mask) == 4 * sizeof(const char *),
               "vss_file_desc is frozen: its fields stay where lvss 0.1 put them");
_Static_assert(sizeof(vss_file_desc) == 5 * sizeof(const char *),
               "vss_file_desc is frozen: its size (the stride of vss_component_info's arrays) stays that of lvss 0.1");

_Static_assert(VSS_WS_COUNT == 16, "the writer states of writer-status.md");
_Static_assert(VSS_EVENT_COUNT == 12, "the writer events of writer-status.md");

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Writer Metadata Document (internal side). A writer library creates a
 * vss_create_writer_metadata with lvss_wmd_new(), hands it to on_identify,
 * then sends lvss_wmd_to_xml() to the coordinator. The requester loads the
 * text with vss_examine_writer_metadata_load_xml() (public, in metadata.h).
 *
 * The XML format and its limits are in docs/documents.md. Internal
 * functions return 0 or a negative errno:
 *   -EINVAL  bad argument (NULL, unknown enum, bad string, duplicate);
 *   -ENOENT  no such component;
 *   -E2BIG   a count or size limit below would be exceeded;
 *   -EBADMSG malformed document (loader only);
 *   -ENOMEM.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lvss/metadata.h>
#include <lvss/types.h>

#define LVSS_WMD_XML_MAX            1048576u /* bytes of XML text (1 MiB) */
#define LVSS_WMD_STRING_MAX         4096u           /* bytes of one string attribute */
#define LVSS_WMD_ICON_MAX           65536u          /* bytes of a component icon */
#define LVSS_WMD_COMPONENTS_MAX     10000u
#define LVSS_WMD_FILES_MAX          100000u /* file sets per component, all three lists together */
#define LVSS_WMD_DEPENDENCIES_MAX   10000u  /* per component */
#define LVSS_WMD_EXCLUDES_MAX       100000u

/* A component dependency (IVssWMDependency); strings borrowed from the document. */
typedef struct lvss_wmd_dependency {
        vss_id on_writer_id;
        const char *on_logical_path; /* may be NULL */
        const char *on_component_name;
} lvss_wmd_dependency;

/*
 * lvss_wmd_new() - an empty document for a writer, to give to on_identify.
 * @instance_id, @writer_id: required.
 * @writer_name: required, non-empty.
 * @instance_name: may be NULL.
 * @ret: owned; free with lvss_wmd_free().
 */
int lvss_wmd_new(const vss_id *instance_id, const vss_id *writer_id, const char *writer_name,
                 const char *instance_name, vss_usage_type usage, vss_source_type source,
                 vss_create_writer_metadata **ret);

/* lvss_wmd_free() - NULL-safe; returns NULL. */
vss_create_writer_metadata *lvss_wmd_free(vss_create_writer_metadata *md);

/*
 * lvss_wmd_to_xml() - the document as XML text (UTF-8).
 * @ret: owned, free(). -E2BIG when longer than LVSS_WMD_XML_MAX (the loader
 * would refuse it).
 */
int lvss_wmd_to_xml(vss_create_writer_metadata *md, char **ret);

/* lvss_wmd_load() - vss_examine_writer_metadata_load_xml() with errno results (-EBADMSG when malformed). */
int lvss_wmd_load(const char *xml, vss_examine_writer_metadata **ret);

/*
 * lvss_wmd_examine_find_component() - the component with this logical path
 * (NULL and "" are the same, the root) and name, of any type.
 * @ret: borrowed from @md. Return: 0, -EINVAL, or -ENOENT.
 */
int lvss_wmd_examine_find_component(vss_examine_writer_metadata *md, const char *logical_path, const char *name,
                                    const vss_component_info **ret);

/* lvss_wmd_examine_get_dependency() - dependency @index of component @component; @ret borrowed from @md. */
int lvss_wmd_examine_get_dependency(vss_examine_writer_metadata *md, unsigned component, unsigned index,
                                    const lvss_wmd_dependency **ret);

/* lvss_wmd_examine_get_icon() - the icon of component @component; *@ret NULL and size 0 when none; borrowed. */
int lvss_wmd_examine_get_icon(vss_examine_writer_metadata *md, unsigned component, const uint8_t **ret,
                              uint32_t *ret_size);

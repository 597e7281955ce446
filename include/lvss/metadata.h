/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvss — documents: the Writer Metadata Document (built by a writer in
 * on_identify, examined by the requester) and the writer components of the
 * Backup Components Document (given to a writer's handlers).
 *
 * Both are XML close to the VSS schema (docs/documents.md). Ownership:
 * - vss_create_writer_metadata and vss_writer_components are borrowed from
 *   the library for the duration of the handler that receives them;
 * - a vss_examine_writer_metadata from vss_get_writer_metadata() is borrowed
 *   from its vss_backup_components; one from
 *   vss_examine_writer_metadata_load_xml() is owned and released with
 *   vss_examine_writer_metadata_release();
 * - const char * results are borrowed from the object they came from;
 *   char ** results are owned (free()).
 */

#include <stdint.h>

#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vss_create_writer_metadata vss_create_writer_metadata;
typedef struct vss_examine_writer_metadata vss_examine_writer_metadata;
typedef struct vss_writer_components vss_writer_components;
typedef struct vss_component vss_component;

#define VSS_FSBT_FULL_BACKUP_REQUIRED           0x1
#define VSS_FSBT_DIFFERENTIAL_BACKUP_REQUIRED   0x2
#define VSS_FSBT_INCREMENTAL_BACKUP_REQUIRED    0x4
#define VSS_FSBT_LOG_BACKUP_REQUIRED            0x8
#define VSS_FSBT_FULL_SNAPSHOT_REQUIRED         0x100
#define VSS_FSBT_DIFFERENTIAL_SNAPSHOT_REQUIRED 0x200
#define VSS_FSBT_INCREMENTAL_SNAPSHOT_REQUIRED  0x400
#define VSS_FSBT_LOG_SNAPSHOT_REQUIRED          0x800
#define VSS_FSBT_CREATED_DURING_BACKUP          0x10000
#define VSS_FSBT_ALL_BACKUP_REQUIRED            0xf
#define VSS_FSBT_ALL_SNAPSHOT_REQUIRED          0xf00

#define VSS_CF_BACKUP_RECOVERY       0x1
#define VSS_CF_APP_ROLLBACK_RECOVERY 0x2
#define VSS_CF_NOT_SYSTEM_STATE      0x4

/* ---- writer side: IVssCreateWriterMetadata (in on_identify) ------------- */

/*
 * Each function takes the arguments of its VSS method (vss-reference.md
 * §6.1), strings as UTF-8 and copied. Return: VSS_S_OK; VSS_E_INVALIDARG for
 * NULL or malformed arguments (unknown enum, relative path); VSS_E_OBJECT_NOT_FOUND
 * when a file set names a component that was not added; VSS_E_OUTOFMEMORY.
 * The document becomes read-only when on_identify returns.
 */

vss_hresult vss_create_writer_metadata_set_restore_method(vss_create_writer_metadata *md, vss_restoremethod method,
                                                          const char *service, const char *user_procedure,
                                                          vss_writerrestore writer_restore, bool reboot_required);
vss_hresult vss_create_writer_metadata_add_component(vss_create_writer_metadata *md, vss_component_type type,
                                                     const char *logical_path, const char *component_name,
                                                     const char *caption, const uint8_t *icon, uint32_t icon_size,
                                                     bool restore_metadata, bool notify_on_backup_complete,
                                                     bool selectable, bool selectable_for_restore,
                                                     uint32_t component_flags);
vss_hresult vss_create_writer_metadata_add_files_to_file_group(vss_create_writer_metadata *md,
                                                               const char *logical_path, const char *group_name,
                                                               const char *path, const char *filespec,
                                                               bool recursive, const char *alternate_location,
                                                               uint32_t backup_type_mask);
vss_hresult vss_create_writer_metadata_add_database_files(vss_create_writer_metadata *md, const char *logical_path,
                                                          const char *database_name, const char *path,
                                                          const char *filespec, uint32_t backup_type_mask);
vss_hresult vss_create_writer_metadata_add_database_log_files(vss_create_writer_metadata *md,
                                                              const char *logical_path, const char *database_name,
                                                              const char *path, const char *filespec,
                                                              uint32_t backup_type_mask);
vss_hresult vss_create_writer_metadata_add_exclude_files(vss_create_writer_metadata *md, const char *path,
                                                         const char *filespec, bool recursive);
vss_hresult vss_create_writer_metadata_set_backup_schema(vss_create_writer_metadata *md, uint32_t schema_mask);
vss_hresult vss_create_writer_metadata_add_component_dependency(vss_create_writer_metadata *md,
                                                                const char *for_logical_path,
                                                                const char *for_component_name,
                                                                const vss_id *on_writer_id,
                                                                const char *on_logical_path,
                                                                const char *on_component_name);

/* ---- requester side: IVssExamineWriterMetadata -------------------------- */

/*
 * Getters write their outputs only on success; every pointer they hand out
 * is borrowed from @md. Return: VSS_S_OK; VSS_E_INVALIDARG for NULL;
 * VSS_E_OBJECT_NOT_FOUND for an index out of range.
 */

/**
 * struct vss_file_desc - a file set (IVssWMFiledesc); strings borrowed from the document.
 *
 * Frozen: its layout is that of lvss 0.1 and never changes. It is handed out
 * as arrays (vss_component_info's files, databases, log_files), which a
 * program walks with the sizeof it was compiled with, so no field can ever
 * be added to it, nor a size field that would say how far apart the
 * elements are. It holds all five properties of IVssWMFiledesc. A file-set
 * property lvss adds later comes through a new getter by index (the way of
 * IVssWMComponent::GetFile), never in this structure (docs/api.md,
 * "Structure sizes").
 */
typedef struct vss_file_desc {
        const char *path;
        const char *filespec;
        bool recursive;
        const char *alternate_location; /* may be NULL */
        uint32_t backup_type_mask;
} vss_file_desc;

/**
 * struct vss_component_info - a component (VSS_COMPONENTINFO); borrowed from the document.
 *
 * The arrays @files, @databases and @log_files hold @file_count,
 * @database_count and @log_file_count vss_file_desc each (frozen, above).
 */
typedef struct vss_component_info {
        vss_component_type type;
        const char *logical_path; /* may be NULL */
        const char *component_name;
        const char *caption; /* may be NULL */
        bool restore_metadata;
        bool notify_on_backup_complete;
        bool selectable;
        bool selectable_for_restore;
        uint32_t component_flags;
        unsigned file_count;       /* file groups */
        unsigned database_count;   /* database files */
        unsigned log_file_count;   /* database log files */
        unsigned dependency_count;
        const vss_file_desc *files;
        const vss_file_desc *databases;
        const vss_file_desc *log_files;
} vss_component_info;

/** vss_examine_writer_metadata_load_xml() - parse a saved WMD; VSS_E_INVALID_XML_DOCUMENT when malformed. */
vss_hresult vss_examine_writer_metadata_load_xml(const char *xml, vss_examine_writer_metadata **ret);
/** vss_examine_writer_metadata_release() - frees one from _load_xml(); NULL-safe; returns NULL. */
vss_examine_writer_metadata *vss_examine_writer_metadata_release(vss_examine_writer_metadata *md);
/** vss_examine_writer_metadata_get_identity() - *@ret_writer_name borrowed; @ret_instance_name may be NULL. */
vss_hresult vss_examine_writer_metadata_get_identity(vss_examine_writer_metadata *md, vss_id *ret_instance_id,
                                                     vss_id *ret_writer_id, const char **ret_writer_name,
                                                     const char **ret_instance_name, vss_usage_type *ret_usage,
                                                     vss_source_type *ret_source);
vss_hresult vss_examine_writer_metadata_get_file_counts(vss_examine_writer_metadata *md, unsigned *ret_include_files,
                                                        unsigned *ret_exclude_files, unsigned *ret_components);
/** vss_examine_writer_metadata_get_component() - @ret borrowed from @md. */
vss_hresult vss_examine_writer_metadata_get_component(vss_examine_writer_metadata *md, unsigned index,
                                                      const vss_component_info **ret);
vss_hresult vss_examine_writer_metadata_get_restore_method(vss_examine_writer_metadata *md,
                                                           vss_restoremethod *ret_method, const char **ret_service,
                                                           const char **ret_user_procedure,
                                                           vss_writerrestore *ret_writer_restore,
                                                           bool *ret_reboot_required);
vss_hresult vss_examine_writer_metadata_get_exclude_file(vss_examine_writer_metadata *md, unsigned index,
                                                         const vss_file_desc **ret);
vss_hresult vss_examine_writer_metadata_get_backup_schema(vss_examine_writer_metadata *md, uint32_t *ret);
/** vss_examine_writer_metadata_save_as_xml() - @ret_xml owned: free(). */
vss_hresult vss_examine_writer_metadata_save_as_xml(vss_examine_writer_metadata *md, char **ret_xml);

/* ---- writer components (IVssWriterComponents / IVssComponent) ----------- */

/*
 * Given to on_prepare_backup, on_post_snapshot, on_backup_complete,
 * on_pre_restore and on_post_restore; borrowed for the handler's duration.
 * A requester reads the same objects from a session's Backup Components
 * Document with vss_backup_components_get_writer_components() (backup.h):
 * those are read-only (setters: VSS_E_BAD_STATE).
 * What a writer sets travels back into the Backup Components Document
 * (setters refuse NULL and return VSS_E_BAD_STATE from BackupComplete on,
 * when the document is read-only). Getters return NULL / 0 / false for a
 * NULL component.
 */

vss_hresult vss_writer_components_get_count(vss_writer_components *c, unsigned *ret);
/** vss_writer_components_get_component() - @ret borrowed from @c (the handler's lifetime). */
vss_hresult vss_writer_components_get_component(vss_writer_components *c, unsigned index, vss_component **ret);

/**
 * vss_writer_components_get_writer_info() - IVssWriterComponents(Ext)::GetWriterInfo.
 * @ret_instance_id, @ret_writer_id: the writer these components belong to.
 *
 * For the components of a Backup Components Document
 * (vss_backup_components_get_writer_components()). Return: VSS_S_OK;
 * VSS_E_INVALIDARG for NULL; VSS_E_OBJECT_NOT_FOUND for a handler's
 * components, which name no writer (the handler knows its own).
 */
vss_hresult vss_writer_components_get_writer_info(vss_writer_components *c, vss_id *ret_instance_id,
                                                  vss_id *ret_writer_id);
/**
 * vss_writer_components_get_writer_name() - the writer's names as the document records them.
 * @ret_writer_name: borrowed from @c; may be NULL.
 * @ret_instance_name: borrowed, NULL when the writer has none; may be NULL.
 *
 * An lvss extension (the document keeps each writer's names, VSS's does not).
 * Return: VSS_S_OK; VSS_E_INVALIDARG for a NULL @c; VSS_E_OBJECT_NOT_FOUND
 * for a handler's components or a component whose writer the document does
 * not list.
 */
vss_hresult vss_writer_components_get_writer_name(vss_writer_components *c, const char **ret_writer_name,
                                                  const char **ret_instance_name);
/**
 * vss_writer_components_get_writer_metadata_xml() - the writer's metadata at backup time.
 * @ret_xml: borrowed from @c; load it with vss_examine_writer_metadata_load_xml().
 *
 * An lvss extension (the document carries each writer's Writer Metadata
 * Document). Return: VSS_S_OK; VSS_E_INVALIDARG for NULL;
 * VSS_E_OBJECT_NOT_FOUND when the document holds none for this writer.
 */
vss_hresult vss_writer_components_get_writer_metadata_xml(vss_writer_components *c, const char **ret_xml);

const char *vss_component_get_logical_path(vss_component *c); /* may be NULL */
const char *vss_component_get_name(vss_component *c);
vss_component_type vss_component_get_type(vss_component *c);
bool vss_component_is_selected(vss_component *c);
bool vss_component_get_backup_succeeded(vss_component *c);
vss_hresult vss_component_set_backup_metadata(vss_component *c, const char *metadata);
const char *vss_component_get_backup_metadata(vss_component *c); /* NULL when none */
vss_hresult vss_component_set_backup_stamp(vss_component *c, const char *stamp);
const char *vss_component_get_backup_stamp(vss_component *c);
const char *vss_component_get_previous_backup_stamp(vss_component *c);
vss_hresult vss_component_set_restore_metadata(vss_component *c, const char *metadata);
const char *vss_component_get_restore_metadata(vss_component *c);
vss_hresult vss_component_set_pre_restore_failure_msg(vss_component *c, const char *message);
vss_hresult vss_component_set_post_restore_failure_msg(vss_component *c, const char *message);
vss_file_restore_status vss_component_get_file_restore_status(vss_component *c);
/* IVssComponent::IsSelectedForRestore: a handler's components in PreRestore / PostRestore, or a document's. */
bool vss_component_is_selected_for_restore(vss_component *c);
/* IVssComponent::GetPreRestoreFailureMsg / GetPostRestoreFailureMsg: NULL when none. */
const char *vss_component_get_pre_restore_failure_msg(vss_component *c);
const char *vss_component_get_post_restore_failure_msg(vss_component *c);

#ifdef __cplusplus
}
#endif

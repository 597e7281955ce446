/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvss — the requester (IVssBackupComponents).
 *
 * A vss_backup_components object is one backup or restore session with
 * lvssd: it owns its own connection to the coordinator, and the session ends
 * when the object is released (BackupShutdown) or the connection drops
 * (the coordinator aborts the session, WS-13). The object belongs to one
 * thread at a time: a call made while another call on the same object is
 * running fails with VSS_E_BAD_STATE (WS-10).
 *
 * Outputs are written only on success. Strings handed out are borrowed from
 * the object unless a function says the caller frees them.
 */

#include <stddef.h>

#include <lvss/metadata.h>
#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vss_backup_components vss_backup_components;
typedef struct vss_async vss_async;

/*
 * Output structures carry a size: the caller sets @size to sizeof(the struct)
 * before the call and the library fills at most that many bytes, so a newer
 * library keeps working with an older caller (docs/api.md, "Structure sizes").
 * A size of 0 or below the first version's is refused with VSS_E_INVALIDARG.
 */

/** struct vss_writer_status - one writer's status in this session (see writer-status.md). */
typedef struct vss_writer_status {
        size_t size; /* set by the caller: sizeof(vss_writer_status) */
        vss_id instance_id;
        vss_id writer_id;
        const char *writer_name;         /* borrowed until vss_free_writer_status */
        const char *instance_name;       /* may be NULL */
        vss_writer_state state;
        vss_hresult failure;             /* hrWriter */
        vss_hresult application_result;  /* hrApplication */
        const char *application_message; /* may be NULL */
        /* lvss provenance (WS-9) */
        vss_id session_id;
        vss_writer_event last_event;
        bool event_in_progress;
        uint64_t last_event_usec;          /* CLOCK_REALTIME, µs */
        uint64_t last_event_duration_usec; /* 0 while in progress */
} vss_writer_status;

/** struct vss_snapshot_prop - VSS_SNAPSHOT_PROP; strings owned, freed by vss_free_snapshot_properties(). */
typedef struct vss_snapshot_prop {
        size_t size; /* set by the caller: sizeof(vss_snapshot_prop) */
        vss_id snapshot_id;
        vss_id snapshot_set_id;
        int32_t snapshots_count;
        char *snapshot_path;   /* where the shadow copy can be read */
        char *original_volume;
        vss_id provider_id;
        uint64_t creation_usec; /* CLOCK_REALTIME, µs */
        uint32_t attributes;    /* VSS_VOLSNAP_ATTR_* */
        int32_t context;        /* VSS_CTX_* */
} vss_snapshot_prop;

#define VSS_INFINITE UINT32_MAX

/**
 * vss_create_backup_components() - connect to lvssd and open a session.
 * @ret: the new object; release with vss_backup_components_release().
 *
 * The socket is $LVSS_SOCKET, else the default (architecture.md).
 * Return: VSS_S_OK; VSS_E_INVALIDARG (NULL @ret); VSS_E_WRITER_INFRASTRUCTURE
 * when lvssd cannot be reached; VSS_E_ACCESSDENIED when the caller may not
 * act as a requester (WS-14).
 */
vss_hresult vss_create_backup_components(vss_backup_components **ret);

/**
 * vss_backup_components_release() - end the session and free the object.
 * @bc: the object, or NULL.
 *
 * Sends BackupShutdown to every writer of the session, deletes auto-release
 * shadow copies, closes the connection. Return: NULL.
 */
vss_backup_components *vss_backup_components_release(vss_backup_components *bc);

/** vss_get_session_id() - the session id writers see too (GetSessionId). */
vss_hresult vss_get_session_id(vss_backup_components *bc, vss_id *ret);

/** vss_initialize_for_backup() - start a backup; @bcd_xml must be NULL (import is not supported). */
vss_hresult vss_initialize_for_backup(vss_backup_components *bc, const char *bcd_xml);
/** vss_initialize_for_restore() - start a restore from a saved Backup Components Document. */
vss_hresult vss_initialize_for_restore(vss_backup_components *bc, const char *bcd_xml);
/** vss_set_context() - VSS_CTX_BACKUP (default) or another context; before vss_add_to_snapshot_set(). */
vss_hresult vss_set_context(vss_backup_components *bc, int32_t context);
/** vss_set_backup_state() - must precede vss_prepare_for_backup(). */
vss_hresult vss_set_backup_state(vss_backup_components *bc, bool select_components, bool bootable_system_state,
                                 vss_backup_type type, bool partial_file_support);

/**
 * vss_gather_writer_metadata() - send Identify to every subscribed writer.
 * @ret: an async handle; release with vss_async_release().
 *
 * Once per object (WS-11). Only writers whose Identify succeeds are listed
 * afterwards (WS-1).
 */
vss_hresult vss_gather_writer_metadata(vss_backup_components *bc, vss_async **ret);
/** vss_get_writer_metadata_count() - after a completed gather; equals the status count (WS-1). */
vss_hresult vss_get_writer_metadata_count(vss_backup_components *bc, unsigned *ret);
/**
 * vss_get_writer_metadata() - one writer's metadata document.
 * @ret: borrowed from @bc until vss_free_writer_metadata() or release.
 */
vss_hresult vss_get_writer_metadata(vss_backup_components *bc, unsigned index, vss_id *ret_instance_id,
                                    vss_examine_writer_metadata **ret);
/** vss_free_writer_metadata() - frees what the metadata gather returned. */
vss_hresult vss_free_writer_metadata(vss_backup_components *bc);

/** vss_add_component() - select a component (component mode); before vss_start_snapshot_set(). */
vss_hresult vss_add_component(vss_backup_components *bc, const vss_id *instance_id, const vss_id *writer_id,
                              vss_component_type type, const char *logical_path, const char *component_name);
/** vss_start_snapshot_set() - VSS_E_SNAPSHOT_SET_IN_PROGRESS while another set is in creation (WS-10). */
vss_hresult vss_start_snapshot_set(vss_backup_components *bc, vss_id *ret_snapshot_set_id);
/** vss_is_volume_supported() - whether a provider (@provider_id NULL: any) can snapshot @volume. */
vss_hresult vss_is_volume_supported(vss_backup_components *bc, const vss_id *provider_id, const char *volume,
                                    bool *ret);
/** vss_add_to_snapshot_set() - add an absolute path; @provider_id NULL: the default provider. */
vss_hresult vss_add_to_snapshot_set(vss_backup_components *bc, const char *volume, const vss_id *provider_id,
                                    vss_id *ret_snapshot_id);
/** vss_prepare_for_backup() - PrepareForBackup to every identified writer. */
vss_hresult vss_prepare_for_backup(vss_backup_components *bc, vss_async **ret);
/** vss_do_snapshot_set() - PrepareForSnapshot, Freeze, commit, Thaw, PostSnapshot (WS-6, WS-7). */
vss_hresult vss_do_snapshot_set(vss_backup_components *bc, vss_async **ret);
/**
 * vss_get_snapshot_properties() - @ret strings are owned: free with vss_free_snapshot_properties().
 *
 * @ret->size must be set; VSS_E_INVALIDARG when it is 0 or too small.
 */
vss_hresult vss_get_snapshot_properties(vss_backup_components *bc, const vss_id *snapshot_id,
                                        vss_snapshot_prop *ret);
/** vss_free_snapshot_properties() - frees the strings of @prop (NULL-safe) and clears them; @prop->size stays. */
void vss_free_snapshot_properties(vss_snapshot_prop *prop);
/** vss_set_backup_succeeded() - record a component's outcome; before vss_backup_complete(). */
vss_hresult vss_set_backup_succeeded(vss_backup_components *bc, const vss_id *instance_id, const vss_id *writer_id,
                                     vss_component_type type, const char *logical_path,
                                     const char *component_name, bool succeeded);
/** vss_backup_complete() - BackupComplete to participating writers. */
vss_hresult vss_backup_complete(vss_backup_components *bc, vss_async **ret);
/** vss_abort_backup() - Abort to the writers that need it; synchronous. */
vss_hresult vss_abort_backup(vss_backup_components *bc);
/** vss_save_as_xml() - the Backup Components Document; @ret_xml is owned: free(). */
vss_hresult vss_save_as_xml(vss_backup_components *bc, char **ret_xml);

/**
 * vss_backup_components_get_writer_components_count() - GetWriterComponentsCount.
 * @ret: how many writers the session's Backup Components Document lists,
 *       each with its components (a writer that took part without any has
 *       none); a restore: the document loaded, with this session's
 *       selections and restore status.
 *
 * Reads the document from lvssd now, as vss_save_as_xml() would, and keeps
 * it in @bc: the objects vss_backup_components_get_writer_components() hands
 * out come from this reading and stay valid until the next call of this
 * function or the release of @bc. After vss_initialize_for_backup() or
 * vss_initialize_for_restore(), while no step of @bc is pending.
 *
 * Return: VSS_S_OK; VSS_E_INVALIDARG (NULL); VSS_E_BAD_STATE before
 * initialisation or while a step is pending; VSS_E_INVALID_XML_DOCUMENT
 * when the document lvssd sent cannot be read; VSS_E_OUTOFMEMORY.
 */
vss_hresult vss_backup_components_get_writer_components_count(vss_backup_components *bc, unsigned *ret);
/**
 * vss_backup_components_get_writer_components() - GetWriterComponents (IVssWriterComponentsExt).
 * @index: 0 .. count - 1, in the document's order of writers.
 * @ret: read-only components of one writer, borrowed from @bc (see _count);
 *       vss_writer_components_get_writer_info() names the writer.
 *
 * Return: VSS_S_OK; VSS_E_INVALIDARG (NULL); VSS_E_BAD_STATE before a
 * successful vss_backup_components_get_writer_components_count();
 * VSS_E_OBJECT_NOT_FOUND for an index out of range.
 */
vss_hresult vss_backup_components_get_writer_components(vss_backup_components *bc, unsigned index,
                                                        vss_writer_components **ret);
/**
 * vss_backup_components_get_document_info() - what the document says of the whole backup.
 * @ret_snapshot_set_id: the backup's snapshot set (null when none was made); may be NULL.
 * @ret_select_components: whether the backup was in component mode; may be NULL.
 * @ret_backup_type: the backup's VSS_BT_*; may be NULL.
 *
 * An lvss extension, from the same reading as
 * vss_backup_components_get_writer_components() (VSS keeps these in the
 * document too but gives a requester no getter). Return: VSS_S_OK;
 * VSS_E_INVALIDARG (NULL @bc); VSS_E_BAD_STATE before a successful
 * vss_backup_components_get_writer_components_count().
 */
vss_hresult vss_backup_components_get_document_info(vss_backup_components *bc, vss_id *ret_snapshot_set_id,
                                                    bool *ret_select_components, vss_backup_type *ret_backup_type);

/**
 * vss_get_session_record_status() - whether lvssd's record of this session is complete.
 * @bc: the object.
 * @ret_complete: true when every writer-status history row of the session
 *                reached lvssd's catalog so far, false when rows were lost
 *                (the state file system was full, say).
 * @ret_message: may be NULL; when the record is incomplete, what was lost and
 *               why ("writer-status history incomplete: 2 rows could not be
 *               written to the catalog: No space left on device"), owned:
 *               free(); NULL when it is complete.
 *
 * An lvss addition (issue 8 item 6). Lost history rows do not fail a step:
 * the backup itself is good, only its record is not, and this call is how a
 * requester learns it. lvssd answers from the session's own state, after
 * writing the rows it still had queued. Any time after
 * vss_create_backup_components(), except while a step of @bc is pending.
 *
 * Return: VSS_S_OK; VSS_E_INVALIDARG (NULL @bc or @ret_complete);
 * VSS_E_BAD_STATE while a call or step of @bc is pending.
 */
vss_hresult vss_get_session_record_status(vss_backup_components *bc, bool *ret_complete, char **ret_message);

/**
 * vss_gather_writer_status() - fetch this session's writer status (WS-2, WS-8).
 *
 * Never waits on a writer. After a successful BackupComplete it marks the
 * session completed (WS-3). Replaces the previous result.
 */
vss_hresult vss_gather_writer_status(vss_backup_components *bc, vss_async **ret);
/** vss_get_writer_status_count() - after a completed status gather (WS-11). */
vss_hresult vss_get_writer_status_count(vss_backup_components *bc, unsigned *ret);
/**
 * vss_get_writer_status() - @ret's strings are borrowed until vss_free_writer_status().
 *
 * @ret->size must be set; VSS_E_INVALIDARG when it is 0 or too small.
 */
vss_hresult vss_get_writer_status(vss_backup_components *bc, unsigned index, vss_writer_status *ret);
/** vss_free_writer_status() - ends the validity of the strings returned (WS-11). */
vss_hresult vss_free_writer_status(vss_backup_components *bc);

/**
 * vss_set_selected_for_restore() - select a component of the loaded BCD for restore.
 *
 * Before vss_pre_restore(). VSS_E_OBJECT_NOT_FOUND when the document has no
 * such component or its writer is not running now.
 */
vss_hresult vss_set_selected_for_restore(vss_backup_components *bc, const vss_id *writer_id, vss_component_type type,
                                         const char *logical_path, const char *component_name, bool selected);
/** vss_pre_restore() - PreRestore to the writers owning a selected component (Identify first without metadata, WS-12). */
vss_hresult vss_pre_restore(vss_backup_components *bc, vss_async **ret);
/** vss_set_file_restore_status() - how the files of a selected component came back; between PreRestore and PostRestore. */
vss_hresult vss_set_file_restore_status(vss_backup_components *bc, const vss_id *writer_id, vss_component_type type,
                                        const char *logical_path, const char *component_name,
                                        vss_file_restore_status status);
/** vss_post_restore() - PostRestore to the same writers; status after it as WS-12 says. */
vss_hresult vss_post_restore(vss_backup_components *bc, vss_async **ret);

/**
 * vss_async_wait() - wait for the operation.
 * @timeout_ms: VSS_INFINITE or a bound.
 *
 * Return: VSS_S_OK when it finished well; the operation's failure when it
 * failed; VSS_S_ASYNC_PENDING when @timeout_ms passed first;
 * VSS_S_ASYNC_CANCELLED when it was cancelled.
 */
vss_hresult vss_async_wait(vss_async *a, uint32_t timeout_ms);
/** vss_async_query_status() - *@ret: VSS_S_ASYNC_PENDING / _FINISHED / _CANCELLED or the failure; never blocks. */
vss_hresult vss_async_query_status(vss_async *a, vss_hresult *ret);
/** vss_async_cancel() - cancel; VSS_S_ASYNC_FINISHED / _CANCELLED when too late, or the failure. */
vss_hresult vss_async_cancel(vss_async *a);
/** vss_async_release() - NULL-safe; a pending operation goes on. Return: NULL. */
vss_async *vss_async_release(vss_async *a);

#ifdef __cplusplus
}
#endif

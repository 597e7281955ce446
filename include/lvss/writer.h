/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvss — the writer (CVssWriter).
 *
 * An application creates one vss_writer per writer instance, subscribes it,
 * and lets the library deliver events, either from its own poll loop
 * (vss_writer_get_fd() + vss_writer_process()) or on a dedicated thread
 * (vss_writer_run()). Handlers run on that thread, one at a time.
 *
 * The deadman timer (WS-6) is part of the fd: when Thaw has not arrived
 * within freeze_timeout_ms of Freeze, or as soon as the connection to lvssd
 * drops while frozen, the library calls on_abort so the application thaws,
 * and the late Thaw is answered with VSS_E_WRITERERROR_TIMEOUT.
 */

#include <stddef.h>

#include <lvss/metadata.h>
#include <lvss/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vss_writer vss_writer;

/*
 * struct vss_writer_callbacks - the handlers. NULL entries: default (return true).
 * @size: sizeof(vss_writer_callbacks) as the caller was compiled; the library
 *        reads only that much, so a newer library keeps working with an older
 *        caller (docs/api.md, "Structure sizes").
 */
typedef struct vss_writer_callbacks {
        size_t size; /* sizeof(vss_writer_callbacks) */
        bool (*on_identify)(vss_writer *w, vss_create_writer_metadata *md, void *userdata);
        bool (*on_prepare_backup)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_prepare_snapshot)(vss_writer *w, void *userdata);
        bool (*on_freeze)(vss_writer *w, void *userdata);
        bool (*on_thaw)(vss_writer *w, void *userdata);
        bool (*on_post_snapshot)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_abort)(vss_writer *w, void *userdata);
        bool (*on_backup_complete)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_backup_shutdown)(vss_writer *w, const vss_id *snapshot_set_id, void *userdata);
        bool (*on_pre_restore)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_post_restore)(vss_writer *w, vss_writer_components *c, void *userdata);
} vss_writer_callbacks;

typedef struct vss_writer_options {
        size_t size;                 /* sizeof(vss_writer_options) */
        vss_id writer_id;            /* class id */
        const char *writer_name;
        const char *instance_name;   /* NULL: single instance */
        vss_usage_type usage;
        vss_source_type source;
        vss_application_level level; /* 0: VSS_APP_FRONT_END */
        uint32_t freeze_timeout_ms;  /* 0: 60000 */
} vss_writer_options;

/**
 * vss_writer_initialize() - create a writer (not yet subscribed).
 * @opts: options; strings are copied. @opts->size must be set.
 * @cb: handlers; copied. NULL: every handler default. @cb->size must be set.
 * @userdata: passed to every handler.
 * @ret: the writer; release with vss_writer_release().
 *
 * Return: VSS_S_OK, VSS_E_INVALIDARG (NULL @opts/@ret, a bad @opts->size or
 * @cb->size, empty name, null writer id), VSS_E_OUTOFMEMORY.
 */
vss_hresult vss_writer_initialize(const vss_writer_options *opts, const vss_writer_callbacks *cb, void *userdata,
                                  vss_writer **ret);
/** vss_writer_release() - unsubscribes (thawing first if frozen) and frees; NULL-safe; returns NULL. */
vss_writer *vss_writer_release(vss_writer *w);
/**
 * vss_writer_subscribe() - connect to lvssd and register.
 *
 * Return: VSS_S_OK; VSS_E_WRITER_ALREADY_SUBSCRIBED the second time;
 * VSS_E_WRITER_INFRASTRUCTURE when lvssd cannot be reached;
 * VSS_E_ACCESSDENIED when refused (WS-14).
 */
vss_hresult vss_writer_subscribe(vss_writer *w);
/** vss_writer_unsubscribe() - disconnect; a frozen application is thawed first (on_abort). */
vss_hresult vss_writer_unsubscribe(vss_writer *w);
/**
 * vss_writer_get_instance_id() - the instance id lvssd gave this writer (lvss addition).
 *
 * Return: VSS_S_OK; VSS_E_BAD_STATE when not subscribed; VSS_E_INVALIDARG for NULL.
 */
vss_hresult vss_writer_get_instance_id(vss_writer *w, vss_id *ret);
/** vss_writer_get_fd() - one fd to poll for POLLIN (socket and timers); -1 when not subscribed. */
int vss_writer_get_fd(vss_writer *w);
/** vss_writer_process() - handle whatever is ready; never blocks waiting for input. */
vss_hresult vss_writer_process(vss_writer *w);
/** vss_writer_run() - loop until vss_writer_stop() or the connection ends. */
vss_hresult vss_writer_run(vss_writer *w);
/** vss_writer_stop() - make vss_writer_run() return; async-signal-safe. */
void vss_writer_stop(vss_writer *w);

/* Inside a handler, on the handler's thread. */

/**
 * vss_writer_set_failure() - record a failure for the current event (WS-4).
 * @hr: one of the codes vss-reference.md §4.3 allows for SetWriterFailure, or,
 * in on_post_snapshot only, VSS_E_WRITERERROR_RECOVERY_FAILED: the writer
 * failed to repair an auto-recovery shadow copy (issue 9 part 2).
 *
 * Return: VSS_S_OK; VSS_E_INVALIDARG for any other code;
 * VSS_E_BAD_STATE outside a handler or in on_identify.
 */
vss_hresult vss_writer_set_failure(vss_writer *w, vss_hresult hr);
/**
 * vss_writer_set_failure_ex() - as above, plus PARTIAL_FAILURE and S_OK; the message is copied.
 *
 * With @hr VSS_S_OK the event does not fail: only @application_result and
 * @application_message are passed on to the status.
 */
vss_hresult vss_writer_set_failure_ex(vss_writer *w, vss_hresult hr, vss_hresult application_result,
                                      const char *application_message);
/** vss_writer_get_session_id() - the session of the running event; VSS_E_BAD_STATE outside a handler. */
vss_hresult vss_writer_get_session_id(vss_writer *w, vss_id *ret);
/** vss_writer_get_current_snapshot_set_id() - in PrepareForSnapshot … PostSnapshot; VSS_E_BAD_STATE elsewhere. */
vss_hresult vss_writer_get_current_snapshot_set_id(vss_writer *w, vss_id *ret);
/** vss_writer_get_current_volume_count() - volumes of the current set; 0 outside a handler. */
unsigned vss_writer_get_current_volume_count(vss_writer *w);
/** vss_writer_get_current_volume() - borrowed until the handler returns; NULL for a bad index. */
const char *vss_writer_get_current_volume(vss_writer *w, unsigned index);
/** vss_writer_get_backup_type() - the requester's SetBackupState type; VSS_BT_UNDEFINED outside a handler. */
vss_backup_type vss_writer_get_backup_type(vss_writer *w);
/** vss_writer_get_restore_type() - the restore type; VSS_RTYPE_UNDEFINED outside a restore handler. */
vss_restore_type vss_writer_get_restore_type(vss_writer *w);
/** vss_writer_are_components_selected() - component mode of the running session. */
bool vss_writer_are_components_selected(vss_writer *w);
/** vss_writer_is_path_affected() - whether @path lies on a volume of the current set. */
bool vss_writer_is_path_affected(vss_writer *w, const char *path);
/**
 * vss_writer_get_snapshot_path() - in PostSnapshot: where @volume's shadow copy
 * is; *@ret borrowed until the handler returns. When the set is auto-recovery
 * (vss_writer_is_auto_recovery()) the copy is writable there during
 * PostSnapshot, so that the writer can repair its files in it; lvss makes it
 * read-only right after PostSnapshot (issue 9 part 2). Otherwise it is
 * read-only already.
 */
vss_hresult vss_writer_get_snapshot_path(vss_writer *w, const char *volume, const char **ret);

/*
 * What the writer can see of the snapshot (lvss extension, issue 9 part 1;
 * docs/api.md). Available in the handlers of PrepareForSnapshot, Freeze,
 * Thaw, PostSnapshot, BackupComplete and an Abort lvssd sends after
 * PrepareForSnapshot; VSS_E_BAD_STATE anywhere else (outside a handler,
 * Identify, PrepareForBackup, restore events, an on_abort the library calls
 * itself), VSS_E_INVALIDARG for a NULL @w or result pointer.
 */
/** vss_writer_get_snapshot_volume_count() - the number of volumes of the set, into *@ret. */
vss_hresult vss_writer_get_snapshot_volume_count(vss_writer *w, unsigned *ret);
/**
 * vss_writer_get_snapshot_volume() - volume @index of the set: its path, the
 * name of the provider that snapshots it ("btrfs", "copy", an exec provider's
 * name) and whether that snapshot is atomic (one instant for the whole volume).
 *
 * Any of @ret_volume, @ret_provider, @ret_atomic may be NULL, not all of them.
 * The strings are owned by @w and valid until the handler returns.
 * VSS_E_INVALIDARG for an @index at or past the count.
 */
vss_hresult vss_writer_get_snapshot_volume(vss_writer *w, unsigned index, const char **ret_volume,
                                           const char **ret_provider, bool *ret_atomic);
/**
 * vss_writer_is_set_atomic() - whether every volume of the set is captured at
 * one instant: true only for a set of one volume whose snapshot is atomic.
 */
vss_hresult vss_writer_is_set_atomic(vss_writer *w, bool *ret);
/**
 * vss_writer_is_auto_recovery() - whether the shadow copies are auto-recovery
 * copies (issue 9 part 2): writable at vss_writer_get_snapshot_path() during
 * PostSnapshot, read-only once every writer finished PostSnapshot. True for a
 * context with writers unless the requester's context has
 * VSS_VOLSNAP_ATTR_NO_AUTORECOVERY (vshadow -nar), and only when every
 * provider of the set can make writable copies (copy, btrfs: yes; an exec
 * provider whose prepare says "writable"). A writer that fails while
 * repairing the copy sets VSS_E_WRITERERROR_RECOVERY_FAILED.
 */
vss_hresult vss_writer_is_auto_recovery(vss_writer *w, bool *ret);

typedef enum vss_writer_session_state {
        VSS_SESSION_NONE,
        VSS_SESSION_IN_PROGRESS,
        VSS_SESSION_COMPLETED,
        VSS_SESSION_ABORTED,
        /* lvss extension (issue 11 §2): the requester released the session before it
         * completed (no GatherWriterStatus after BackupComplete, or no BackupComplete
         * at all); no Abort was sent. Not a completed backup. */
        VSS_SESSION_RELEASED,
} vss_writer_session_state;

/** vss_writer_get_session_state() - the state of the latest session this writer took part in (WS-3). */
vss_writer_session_state vss_writer_get_session_state(vss_writer *w);

#ifdef __cplusplus
}
#endif

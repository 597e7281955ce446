/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvss — shared types: result codes, ids, writer states and events, and the
 * VSS enumerations with their VSS names and values.
 *
 * Every string returned by a function in this header is a static constant:
 * borrowed for the lifetime of the process, never freed by the caller.
 */

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LVSS_VERSION_MAJOR 0
#define LVSS_VERSION_MINOR 1

/* ---- results ----------------------------------------------------------- */

typedef int32_t vss_hresult; /* HRESULT-compatible; < 0 is failure */
#define VSS_SUCCEEDED(hr) ((hr) >= 0)
#define VSS_FAILED(hr)    ((hr) < 0)

#define VSS_HR(x) ((vss_hresult)(uint32_t)(x))

#define VSS_S_OK                               VSS_HR(0x00000000)
#define VSS_S_FALSE                            VSS_HR(0x00000001)
#define VSS_S_ASYNC_PENDING                    VSS_HR(0x00042309)
#define VSS_S_ASYNC_FINISHED                   VSS_HR(0x0004230A)
#define VSS_S_ASYNC_CANCELLED                  VSS_HR(0x0004230B)

#define VSS_E_INVALIDARG                       VSS_HR(0x80070057)
#define VSS_E_OUTOFMEMORY                      VSS_HR(0x8007000E)
#define VSS_E_ACCESSDENIED                     VSS_HR(0x80070005)
#define VSS_E_UNEXPECTED_WIN                   VSS_HR(0x8000FFFF) /* E_UNEXPECTED */

#define VSS_E_BAD_STATE                        VSS_HR(0x80042301)
#define VSS_E_UNEXPECTED                       VSS_HR(0x80042302)
#define VSS_E_PROVIDER_NOT_REGISTERED          VSS_HR(0x80042304)
#define VSS_E_PROVIDER_VETO                    VSS_HR(0x80042306)
#define VSS_E_OBJECT_NOT_FOUND                 VSS_HR(0x80042308)
#define VSS_E_UNEXPECTED_PROVIDER_ERROR        VSS_HR(0x8004230F)
#define VSS_E_INVALID_XML_DOCUMENT             VSS_HR(0x80042311)
#define VSS_E_FLUSH_WRITES_TIMEOUT             VSS_HR(0x80042313)
#define VSS_E_HOLD_WRITES_TIMEOUT              VSS_HR(0x80042314)
#define VSS_E_UNEXPECTED_WRITER_ERROR          VSS_HR(0x80042315)
#define VSS_E_SNAPSHOT_SET_IN_PROGRESS         VSS_HR(0x80042316)
#define VSS_E_WRITER_INFRASTRUCTURE            VSS_HR(0x80042318)
#define VSS_E_WRITER_NOT_RESPONDING            VSS_HR(0x80042319)
#define VSS_E_WRITER_ALREADY_SUBSCRIBED        VSS_HR(0x8004231A)
#define VSS_E_UNSUPPORTED_CONTEXT              VSS_HR(0x8004231B)
#define VSS_E_INSUFFICIENT_STORAGE             VSS_HR(0x8004231F)
#define VSS_E_TRANSACTION_FREEZE_TIMEOUT       VSS_HR(0x80042328)
#define VSS_E_TRANSACTION_THAW_TIMEOUT         VSS_HR(0x80042329)
#define VSS_E_WRITERERROR_PARTIAL_FAILURE      VSS_HR(0x80042336)
#define VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT VSS_HR(0x800423F0)
#define VSS_E_WRITERERROR_OUTOFRESOURCES       VSS_HR(0x800423F1)
#define VSS_E_WRITERERROR_TIMEOUT              VSS_HR(0x800423F2)
#define VSS_E_WRITERERROR_RETRYABLE            VSS_HR(0x800423F3)
#define VSS_E_WRITERERROR_NONRETRYABLE         VSS_HR(0x800423F4)
#define VSS_E_WRITERERROR_RECOVERY_FAILED      VSS_HR(0x800423F5)
#define VSS_E_WRITER_STATUS_NOT_AVAILABLE      VSS_HR(0x80042409)

/**
 * vss_hresult_name() - the symbolic name of a result code.
 * @hr: any code.
 *
 * Return: "VSS_E_BAD_STATE" and the like (static), or NULL for a code lvss
 * does not know.
 */
const char *vss_hresult_name(vss_hresult hr);

/**
 * vss_hresult_text() - human text for a result code (static string).
 * @hr: any code.
 *
 * Writer failure codes read as vssadmin prints them ("No error",
 * "Retryable error", ..., "Not responding"); other known codes get a short
 * sentence; unknown codes "Unexpected error".
 */
const char *vss_hresult_text(vss_hresult hr);

/**
 * vss_hresult_from_name() - the code for a symbolic name (lvss addition).
 * @name: "VSS_E_BAD_STATE" and the like.
 * @ret: the code, written only on success.
 *
 * Return: VSS_S_OK, VSS_E_INVALIDARG when @name or @ret is NULL,
 * VSS_E_OBJECT_NOT_FOUND when the name is unknown.
 */
vss_hresult vss_hresult_from_name(const char *name, vss_hresult *ret);

/* ---- ids ---------------------------------------------------------------- */

typedef struct vss_id {
        uint8_t bytes[16];
} vss_id; /* a GUID, stored in RFC 4122 byte order */

#define VSS_ID_STRING_MAX 39 /* "{8-4-4-4-12}" + NUL */

/**
 * vss_id_format() - "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}", lowercase.
 * @id: the id; a NULL @id formats as the null id.
 * @ret: a caller buffer of VSS_ID_STRING_MAX bytes.
 */
void vss_id_format(const vss_id *id, char ret[VSS_ID_STRING_MAX]);

/**
 * vss_id_parse() - read an id, braces optional, any case.
 * @s: the text.
 * @ret: the id, written only on success.
 *
 * Return: VSS_S_OK, or VSS_E_INVALIDARG for NULL arguments or malformed text.
 */
vss_hresult vss_id_parse(const char *s, vss_id *ret);

/** vss_id_equal() - byte equality; two NULLs are equal, NULL and non-NULL not. */
bool vss_id_equal(const vss_id *a, const vss_id *b);

/** vss_id_is_null() - true for the all-zero id and for NULL. */
bool vss_id_is_null(const vss_id *id);

/* ---- writer state (VSS_WRITER_STATE) ------------------------------------ */

typedef enum vss_writer_state {
        VSS_WS_UNKNOWN = 0,
        VSS_WS_STABLE = 1,
        VSS_WS_WAITING_FOR_FREEZE = 2,
        VSS_WS_WAITING_FOR_THAW = 3,
        VSS_WS_WAITING_FOR_POST_SNAPSHOT = 4,
        VSS_WS_WAITING_FOR_BACKUP_COMPLETE = 5,
        VSS_WS_FAILED_AT_IDENTIFY = 6,
        VSS_WS_FAILED_AT_PREPARE_BACKUP = 7,
        VSS_WS_FAILED_AT_PREPARE_SNAPSHOT = 8,
        VSS_WS_FAILED_AT_FREEZE = 9,
        VSS_WS_FAILED_AT_THAW = 10,
        VSS_WS_FAILED_AT_POST_SNAPSHOT = 11,
        VSS_WS_FAILED_AT_BACKUP_COMPLETE = 12,
        VSS_WS_FAILED_AT_PRE_RESTORE = 13,
        VSS_WS_FAILED_AT_POST_RESTORE = 14,
        VSS_WS_FAILED_AT_BACKUPSHUTDOWN = 15,
} vss_writer_state;

/** vss_writer_state_name() - "VSS_WS_STABLE"; NULL when out of range. */
const char *vss_writer_state_name(vss_writer_state s);
/** vss_writer_state_text() - vssadmin's text: "Stable", "Failed", ...; "Unknown" when out of range. */
const char *vss_writer_state_text(vss_writer_state s);

/* ---- writer events ------------------------------------------------------ */

typedef enum vss_writer_event {
        VSS_EVENT_NONE = 0,
        VSS_EVENT_IDENTIFY,
        VSS_EVENT_PREPARE_BACKUP,
        VSS_EVENT_PREPARE_SNAPSHOT,
        VSS_EVENT_FREEZE,
        VSS_EVENT_THAW,
        VSS_EVENT_POST_SNAPSHOT,
        VSS_EVENT_ABORT,
        VSS_EVENT_BACKUP_COMPLETE,
        VSS_EVENT_BACKUP_SHUTDOWN,
        VSS_EVENT_PRE_RESTORE,
        VSS_EVENT_POST_RESTORE,
} vss_writer_event;

/** vss_writer_event_name() - "Freeze", "PrepareForBackup", ...; NULL when out of range. */
const char *vss_writer_event_name(vss_writer_event e);

/* ---- VSS enumerations (vss-reference.md §5, §6) ------------------------- */

typedef enum vss_usage_type {
        VSS_UT_UNDEFINED = 0,
        VSS_UT_BOOTABLESYSTEMSTATE = 1,
        VSS_UT_SYSTEMSERVICE = 2,
        VSS_UT_USERDATA = 3,
        VSS_UT_OTHER = 4,
} vss_usage_type;

typedef enum vss_source_type {
        VSS_ST_UNDEFINED = 0,
        VSS_ST_TRANSACTEDDB = 1,
        VSS_ST_NONTRANSACTEDDB = 2,
        VSS_ST_OTHER = 3,
} vss_source_type;

typedef enum vss_component_type {
        VSS_CT_UNDEFINED = 0,
        VSS_CT_DATABASE = 1,
        VSS_CT_FILEGROUP = 2,
} vss_component_type;

typedef enum vss_restoremethod {
        VSS_RME_UNDEFINED = 0,
        VSS_RME_RESTORE_IF_NOT_THERE = 1,
        VSS_RME_RESTORE_IF_CAN_REPLACE = 2,
        VSS_RME_STOP_RESTORE_START = 3,
        VSS_RME_RESTORE_TO_ALTERNATE_LOCATION = 4,
        VSS_RME_RESTORE_AT_REBOOT = 5,
        VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE = 6,
        VSS_RME_CUSTOM = 7,
        VSS_RME_RESTORE_STOP_START = 8,
} vss_restoremethod;

typedef enum vss_writerrestore {
        VSS_WRE_UNDEFINED = 0,
        VSS_WRE_NEVER = 1,
        VSS_WRE_IF_REPLACE_FAILS = 2,
        VSS_WRE_ALWAYS = 3,
} vss_writerrestore;

typedef enum vss_file_restore_status {
        VSS_RS_UNDEFINED = 0,
        VSS_RS_NONE = 1,
        VSS_RS_ALL = 2,
        VSS_RS_FAILED = 3,
} vss_file_restore_status;

typedef enum vss_backup_type {
        VSS_BT_UNDEFINED = 0,
        VSS_BT_FULL = 1,
        VSS_BT_INCREMENTAL = 2,
        VSS_BT_DIFFERENTIAL = 3,
        VSS_BT_LOG = 4,
        VSS_BT_COPY = 5,
        VSS_BT_OTHER = 6,
} vss_backup_type;

typedef enum vss_restore_type {
        VSS_RTYPE_UNDEFINED = 0,
        VSS_RTYPE_BY_COPY = 1,
        VSS_RTYPE_IMPORT = 2,
        VSS_RTYPE_OTHER = 3,
} vss_restore_type;

typedef enum vss_backup_schema {
        VSS_BS_UNDEFINED = 0x0,
        VSS_BS_DIFFERENTIAL = 0x1,
        VSS_BS_INCREMENTAL = 0x2,
        VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL = 0x4,
        VSS_BS_LOG = 0x8,
        VSS_BS_COPY = 0x10,
        VSS_BS_TIMESTAMPED = 0x20,
        VSS_BS_LAST_MODIFY = 0x40,
        VSS_BS_LSN = 0x80,
        VSS_BS_WRITER_SUPPORTS_NEW_TARGET = 0x100,
        VSS_BS_WRITER_SUPPORTS_RESTORE_WITH_MOVE = 0x200,
        VSS_BS_INDEPENDENT_SYSTEM_STATE = 0x400,
        VSS_BS_ROLLFORWARD_RESTORE = 0x1000,
        VSS_BS_RESTORE_RENAME = 0x2000,
        VSS_BS_AUTHORITATIVE_RESTORE = 0x4000,
        VSS_BS_WRITER_SUPPORTS_PARALLEL_RESTORES = 0x8000,
} vss_backup_schema;

typedef enum vss_application_level {
        VSS_APP_AUTO = -1,
        VSS_APP_UNKNOWN = 0,
        VSS_APP_SYSTEM = 1,
        VSS_APP_BACK_END = 2,
        VSS_APP_FRONT_END = 3,
        VSS_APP_SYSTEM_RM = 4,
} vss_application_level;

/* Snapshot attributes (VSS_VOLUME_SNAPSHOT_ATTRIBUTES) used by the contexts. */
#define VSS_VOLSNAP_ATTR_PERSISTENT          0x00000001
#define VSS_VOLSNAP_ATTR_NO_AUTORECOVERY     0x00000002
#define VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE   0x00000004
#define VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE     0x00000008
#define VSS_VOLSNAP_ATTR_NO_WRITERS          0x00000010
/* In a shadow copy's attributes: it was an auto-recovery copy (issue 9 part 2). */
#define VSS_VOLSNAP_ATTR_AUTORECOVER         0x00400000

/* Contexts (VSS_SNAPSHOT_CONTEXT). */
#define VSS_CTX_BACKUP                    0
#define VSS_CTX_FILE_SHARE_BACKUP         VSS_VOLSNAP_ATTR_NO_WRITERS
#define VSS_CTX_NAS_ROLLBACK              (VSS_VOLSNAP_ATTR_PERSISTENT | VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE | VSS_VOLSNAP_ATTR_NO_WRITERS)
#define VSS_CTX_APP_ROLLBACK              (VSS_VOLSNAP_ATTR_PERSISTENT | VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE)
#define VSS_CTX_CLIENT_ACCESSIBLE         (VSS_VOLSNAP_ATTR_PERSISTENT | VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE | VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE | VSS_VOLSNAP_ATTR_NO_WRITERS)
#define VSS_CTX_CLIENT_ACCESSIBLE_WRITERS (VSS_VOLSNAP_ATTR_PERSISTENT | VSS_VOLSNAP_ATTR_CLIENT_ACCESSIBLE | VSS_VOLSNAP_ATTR_NO_AUTO_RELEASE)
#define VSS_CTX_ALL                       ((int32_t)0xffffffff)

#ifdef __cplusplus
}
#endif

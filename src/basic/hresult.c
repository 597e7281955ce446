/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Result codes: the one table of names and texts. Writer failure codes read
 * as vssadmin prints them (writer-status.md "Display"); the others have a
 * short sentence.
 */

#include <lvss/types.h>

#include "util.h"

typedef struct hresult_entry {
        vss_hresult hr;
        const char *name;
        const char *text;
} hresult_entry;

static const hresult_entry hresult_table[] = {
        { VSS_S_OK, "VSS_S_OK", "No error" },
        { VSS_S_FALSE, "VSS_S_FALSE", "Success (false)" },
        { VSS_S_ASYNC_PENDING, "VSS_S_ASYNC_PENDING", "The operation is still running" },
        { VSS_S_ASYNC_FINISHED, "VSS_S_ASYNC_FINISHED", "The operation finished" },
        { VSS_S_ASYNC_CANCELLED, "VSS_S_ASYNC_CANCELLED", "The operation was cancelled" },
        { VSS_E_INVALIDARG, "VSS_E_INVALIDARG", "Invalid argument" },
        { VSS_E_OUTOFMEMORY, "VSS_E_OUTOFMEMORY", "Out of memory" },
        { VSS_E_ACCESSDENIED, "VSS_E_ACCESSDENIED", "Access denied" },
        { VSS_E_UNEXPECTED_WIN, "VSS_E_UNEXPECTED_WIN", "Unexpected failure" },
        { VSS_E_BAD_STATE, "VSS_E_BAD_STATE", "Call made in the wrong state or sequence" },
        { VSS_E_UNEXPECTED, "VSS_E_UNEXPECTED", "Unexpected error" },
        { VSS_E_PROVIDER_NOT_REGISTERED, "VSS_E_PROVIDER_NOT_REGISTERED", "The provider is not registered" },
        { VSS_E_PROVIDER_VETO, "VSS_E_PROVIDER_VETO", "The provider vetoed the operation" },
        { VSS_E_OBJECT_NOT_FOUND, "VSS_E_OBJECT_NOT_FOUND", "Object not found" },
        { VSS_E_UNEXPECTED_PROVIDER_ERROR, "VSS_E_UNEXPECTED_PROVIDER_ERROR", "Unexpected provider error" },
        { VSS_E_INVALID_XML_DOCUMENT, "VSS_E_INVALID_XML_DOCUMENT", "Malformed XML document" },
        { VSS_E_FLUSH_WRITES_TIMEOUT, "VSS_E_FLUSH_WRITES_TIMEOUT", "The provider timed out flushing writes" },
        { VSS_E_HOLD_WRITES_TIMEOUT, "VSS_E_HOLD_WRITES_TIMEOUT", "The provider timed out holding writes" },
        { VSS_E_UNEXPECTED_WRITER_ERROR, "VSS_E_UNEXPECTED_WRITER_ERROR", "Problem sending events to writers" },
        { VSS_E_SNAPSHOT_SET_IN_PROGRESS, "VSS_E_SNAPSHOT_SET_IN_PROGRESS",
          "Another shadow copy creation is in progress" },
        { VSS_E_WRITER_INFRASTRUCTURE, "VSS_E_WRITER_INFRASTRUCTURE", "Cannot reach the coordinator (lvssd)" },
        { VSS_E_WRITER_NOT_RESPONDING, "VSS_E_WRITER_NOT_RESPONDING", "Not responding" },
        { VSS_E_WRITER_ALREADY_SUBSCRIBED, "VSS_E_WRITER_ALREADY_SUBSCRIBED", "The writer is already subscribed" },
        { VSS_E_UNSUPPORTED_CONTEXT, "VSS_E_UNSUPPORTED_CONTEXT", "The provider does not support the context" },
        { VSS_E_INSUFFICIENT_STORAGE, "VSS_E_INSUFFICIENT_STORAGE", "Not enough storage" },
        { VSS_E_TRANSACTION_FREEZE_TIMEOUT, "VSS_E_TRANSACTION_FREEZE_TIMEOUT", "Timed out freezing a transaction manager" },
        { VSS_E_TRANSACTION_THAW_TIMEOUT, "VSS_E_TRANSACTION_THAW_TIMEOUT", "Timed out thawing a transaction manager" },
        { VSS_E_WRITERERROR_PARTIAL_FAILURE, "VSS_E_WRITERERROR_PARTIAL_FAILURE", "Partial failure" },
        { VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT, "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT", "Inconsistent shadow copy" },
        { VSS_E_WRITERERROR_OUTOFRESOURCES, "VSS_E_WRITERERROR_OUTOFRESOURCES", "Out of resources" },
        { VSS_E_WRITERERROR_TIMEOUT, "VSS_E_WRITERERROR_TIMEOUT", "Timed out" },
        { VSS_E_WRITERERROR_RETRYABLE, "VSS_E_WRITERERROR_RETRYABLE", "Retryable error" },
        { VSS_E_WRITERERROR_NONRETRYABLE, "VSS_E_WRITERERROR_NONRETRYABLE", "Non-retryable error" },
        { VSS_E_WRITERERROR_RECOVERY_FAILED, "VSS_E_WRITERERROR_RECOVERY_FAILED", "Recovery failed" },
        { VSS_E_WRITER_STATUS_NOT_AVAILABLE, "VSS_E_WRITER_STATUS_NOT_AVAILABLE", "Status not available" },
};

static const hresult_entry *hresult_find(vss_hresult hr) {
        for (size_t i = 0; i < ELEMENTSOF(hresult_table); i++)
                if (hresult_table[i].hr == hr)
                        return &hresult_table[i];
        return NULL;
}

_public_ const char *vss_hresult_name(vss_hresult hr) {
        const hresult_entry *e = hresult_find(hr);
        return e ? e->name : NULL;
}

_public_ const char *vss_hresult_text(vss_hresult hr) {
        const hresult_entry *e = hresult_find(hr);
        return e ? e->text : "Unexpected error";
}

_public_ vss_hresult vss_hresult_from_name(const char *name, vss_hresult *ret) {
        check_arg(name, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        for (size_t i = 0; i < ELEMENTSOF(hresult_table); i++)
                if (strcmp(hresult_table[i].name, name) == 0) {
                        *ret = hresult_table[i].hr;
                        return VSS_S_OK;
                }
        return VSS_E_OBJECT_NOT_FOUND;
}

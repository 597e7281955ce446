/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * errno → VSS result: the one table (issue 11 §3 "one home per rule").
 * Header-only, so that every library that needs it (libbasic, libdocuments, libprotocol,
 * liblvss, lvssd, the tools) has it without a link-order question.
 *
 * An errno means the same thing wherever it comes from, with two
 * exceptions that depend on what failed, hence two columns:
 *
 *   errno                           local work              a D-Bus call
 *   EINVAL, EEXIST, E2BIG           VSS_E_INVALIDARG        (same)
 *   ENOMEM                          VSS_E_OUTOFMEMORY       (same)
 *   EACCES, EPERM                   VSS_E_ACCESSDENIED      (same)
 *   EBUSY                           VSS_E_BAD_STATE         (same)
 *   ECONNRESET, ECONNREFUSED,
 *   ENOTCONN, ENXIO, EPIPE,
 *   ETIMEDOUT, ESHUTDOWN            VSS_E_WRITER_INFRASTRUCTURE (same)
 *   ENOENT                          VSS_E_OBJECT_NOT_FOUND  VSS_E_WRITER_INFRASTRUCTURE
 *   EBADMSG                         VSS_E_INVALID_XML_DOCUMENT  VSS_E_UNEXPECTED
 *   anything else                   VSS_E_UNEXPECTED        (same)
 *
 * - EINVAL is the caller's argument (VSS_E_INVALIDARG), never "unexpected":
 *   the public calls check their arguments first, so an EINVAL that gets
 *   here is one the caller caused (a string sd-bus refuses, a bad document
 *   value).
 * - ENOENT: in a document, no such component / file set (VSS:
 *   VSS_E_OBJECT_NOT_FOUND); on the bus, no socket: lvssd is not running.
 * - EBADMSG: in a document, it is not one lvss can read; on the bus, a
 *   malformed message, which is nothing the caller can fix.
 *
 * A result >= 0 is VSS_S_OK.
 */

#include <errno.h>

#include <lvss/types.h>

static inline vss_hresult lvss_hresult_from_errno_in(int r, bool bus) {
        if (r >= 0)
                return VSS_S_OK;
        switch (r) {
        case -EINVAL:
        case -EEXIST:
        case -E2BIG:
                return VSS_E_INVALIDARG;
        case -ENOMEM:
                return VSS_E_OUTOFMEMORY;
        case -EACCES:
        case -EPERM:
                return VSS_E_ACCESSDENIED;
        case -EBUSY:
                return VSS_E_BAD_STATE;
        case -ECONNRESET:
        case -ECONNREFUSED:
        case -ENOTCONN:
        case -ENXIO:
        case -EPIPE:
        case -ETIMEDOUT:
        case -ESHUTDOWN:
                return VSS_E_WRITER_INFRASTRUCTURE;
        case -ENOENT:
                return bus ? VSS_E_WRITER_INFRASTRUCTURE : VSS_E_OBJECT_NOT_FOUND;
        case -EBADMSG:
                return bus ? VSS_E_UNEXPECTED : VSS_E_INVALID_XML_DOCUMENT;
        default:
                return VSS_E_UNEXPECTED;
        }
}

/* The result of local work (a document, an event loop): the "local work" column. */
static inline vss_hresult lvss_hresult_from_errno(int r) {
        return lvss_hresult_from_errno_in(r, false);
}

/* The result of a D-Bus call made without an error reply (connect, send): the "D-Bus call" column. */
static inline vss_hresult lvss_hresult_from_bus_errno(int r) {
        return lvss_hresult_from_errno_in(r, true);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * refusal.h: why the session layer refuses a call, in plain C (issue 11 §2:
 * the bus handlers unpack, call the domain, pack). No sd-bus here: a
 * session_*() function that refuses fills a Refusal, and the bus edge turns
 * it into the D-Bus error the caller gets, once, with refusal_bus_error()
 * (refusal-bus.h). The requester sees what it saw when the session filled an
 * sd_bus_error itself: the same error names and messages.
 *
 * A refusal is a VSS error (org.lvss.Error.<NAME>) or an errno (the D-Bus
 * error sd-bus gives that errno: -EINVAL is InvalidArgs, -ENOMEM NoMemory,
 * ...), with its message. A failure that fills no Refusal is its negative
 * errno alone, as a handler's bare "return r" was: the edge gives it the
 * errno's D-Bus error.
 *
 * Ownership: the text is the Refusal's (refusal_done() frees it). When the
 * text cannot be allocated the refusal keeps its code without a text: the
 * edge then sends the code's own text (vss_hresult_text(), or the errno's).
 *
 *         _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
 *         r = session_method_set_context(s, context, &ref);
 *         if (r < 0)
 *                 return refusal_bus_error(error, &ref, r);
 */

#include <lvss/types.h>

#include "basic/util.h"

typedef enum RefusalKind {
        REFUSAL_NONE,    /* nothing refused: a failure is its errno alone */
        REFUSAL_HRESULT, /* a VSS error: .hr */
        REFUSAL_ERRNO,   /* an errno: .error (negative) */
} RefusalKind;

typedef struct Refusal {
        RefusalKind kind;
        vss_hresult hr;
        int error;
        char *text; /* owned; NULL: the code's own text */
} Refusal;

#define REFUSAL_NULL ((Refusal) { .kind = REFUSAL_NONE })

/*
 * refusal_set_hresult() - refuse with VSS error @hr and a message from @fmt
 * (NULL: the code's own text). A @ref already set keeps its first cause
 * (as sd_bus_error_set() did). @ref may be NULL: nothing is kept.
 *
 * Returns -EIO, the negative errno sd-bus gives an error name it has no
 * errno for (what the session returned when it set an sd_bus_error).
 */
int refusal_set_hresult(Refusal *ref, vss_hresult hr, const char *fmt, ...) _printf_(3, 4);

/*
 * refusal_set_errno() - refuse with errno @error (negative or positive) and a
 * message from @fmt (NULL: the errno's text). Otherwise as refusal_set_hresult().
 *
 * Returns -|@error|, or -EINVAL when @error is 0 (nothing refused: @ref unset).
 */
int refusal_set_errno(Refusal *ref, int error, const char *fmt, ...) _printf_(3, 4);

/*
 * refusal_message() - the message the caller is told: the text, or for a VSS
 * error without one vss_hresult_text(); NULL for no refusal, or an errno
 * without a text (borrowed from @ref or static).
 */
const char *refusal_message(const Refusal *ref);

/* The cleanup helper: frees the text, leaves @ref unset (REFUSAL_NULL). NULL is fine. */
void refusal_done(Refusal *ref);

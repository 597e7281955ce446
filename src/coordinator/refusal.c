/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The session layer's refusals, plain C (refusal.h). refusal-bus.c turns
 * them into D-Bus errors at the edge.
 */

#include <stdarg.h>
#include <stdio.h>

#include "refusal.h"

/* The message from @fmt, or NULL when there is none or it cannot be allocated (the code
 * stays: the edge sends the code's own text). */
static char *format_text(const char *fmt, va_list ap) {
        char *text = NULL;

        if (!fmt)
                return NULL;
        if (vasprintf(&text, fmt, ap) < 0)
                return NULL;
        return text;
}

int refusal_set_hresult(Refusal *ref, vss_hresult hr, const char *fmt, ...) {
        va_list ap;

        /* the first cause stays, as with sd_bus_error_set() */
        if (!ref || ref->kind != REFUSAL_NONE)
                return -EIO;
        va_start(ap, fmt);
        *ref = (Refusal) { .kind = REFUSAL_HRESULT, .hr = hr, .text = format_text(fmt, ap) };
        va_end(ap);
        return -EIO;
}

int refusal_set_errno(Refusal *ref, int error, const char *fmt, ...) {
        va_list ap;

        if (error == 0)
                return -EINVAL;
        if (error > 0)
                error = -error;
        if (!ref || ref->kind != REFUSAL_NONE)
                return error;
        va_start(ap, fmt);
        *ref = (Refusal) { .kind = REFUSAL_ERRNO, .error = error, .text = format_text(fmt, ap) };
        va_end(ap);
        return error;
}

const char *refusal_message(const Refusal *ref) {
        if (!ref)
                return NULL;
        switch (ref->kind) {
        case REFUSAL_HRESULT:
                return ref->text ? ref->text : vss_hresult_text(ref->hr);
        case REFUSAL_ERRNO:
                return ref->text;
        default:
                return NULL;
        }
}

void refusal_done(Refusal *ref) {
        if (!ref)
                return;
        free(ref->text);
        *ref = REFUSAL_NULL;
}

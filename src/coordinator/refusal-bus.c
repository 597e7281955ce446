/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A Refusal (refusal.h) on the bus. The names and messages are those the
 * session layer gave when it filled an sd_bus_error itself: hresults through
 * lvss_bus_error_set_hresult(), errnos as sd-bus maps them when a handler
 * returns one (sd_bus_reply_method_errno(): sd_bus_error_set_errno()).
 * test-refusal checks each kind against what that old code gave.
 */

#include "refusal-bus.h"
#include "protocol/protocol.h"

int refusal_bus_error(sd_bus_error *error, const Refusal *ref, int r) {
        if (error && sd_bus_error_is_set(error))
                return r < 0 ? r : -EINVAL; /* set already: its cause stays */
        if (!ref || ref->kind == REFUSAL_NONE)
                return r < 0 ? sd_bus_error_set_errno(error, r) : r;
        if (ref->kind == REFUSAL_HRESULT)
                /* without a text (it could not be allocated): the code's own, as
                 * lvss_bus_error_set_hresult() gives it when its own text cannot be */
                return lvss_bus_error_set_hresult(error, ref->hr, "%s",
                                                  ref->text ? ref->text : vss_hresult_text(ref->hr));
        if (ref->error == 0) /* an errno refusal without an errno: a defect; still an error */
                return sd_bus_error_set_errno(error, r < 0 ? r : -EINVAL);
        if (!ref->text)
                return sd_bus_error_set_errno(error, ref->error);
        return sd_bus_error_set_errnof(error, ref->error, "%s", ref->text);
}

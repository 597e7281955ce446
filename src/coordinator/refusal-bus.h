/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * refusal-bus.c: a session's Refusal (refusal.h) becomes the D-Bus error its
 * caller gets. The one place where that happens (issue 11 §2): server.c's
 * and session-bus.c's handlers and external.c's freeze call use it. Its own
 * small layer, beside status-bus.c: external.c is not under the bus edge and
 * includes no session-bus.h.
 */

#include <systemd/sd-bus.h>

#include "refusal.h"

/*
 * refusal_bus_error() - the D-Bus error of a call that failed with @r and
 * refusal @ref: a VSS error is lvss_bus_error_set_hresult()'s name
 * (org.lvss.Error.<NAME>) with the refusal's text, or the code's own text
 * when it has none; an errno is the name sd-bus gives that errno, with the
 * text or the errno's own. No refusal (@ref NULL or unset): @r alone, as
 * sd-bus answers a handler that returns @r without an error.
 *
 * Returns a negative errno for the handler to return, or @r when @r >= 0 and
 * nothing was refused (@error untouched). An @error set already is left
 * alone (@r, or -EINVAL when @r >= 0).
 */
int refusal_bus_error(sd_bus_error *error, const Refusal *ref, int r);

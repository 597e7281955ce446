/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Bounds on strings that come from other processes and that lvssd keeps,
 * logs, stores in the catalog or echoes back in an error (issue 8 item 8).
 * The VSS documents set no limit; these are lvss's (docs/dbus-interface.md,
 * "Limits"). A longer string is cut at a UTF-8 character boundary and ends
 * with the marker "...[truncated N bytes]" (N: the bytes left out), the
 * marker included in the bound.
 */

#include <stddef.h>

/* A writer's application message or a component's failure message. */
#define LVSS_MESSAGE_MAX 4096
/* A value (a volume path, a name) echoed in an error or a log line: PATH_MAX. */
#define LVSS_ECHO_MAX 4096

/**
 * lvss_strdup_bounded() - a copy of a string, cut to a bound.
 * @s: the string, or NULL.
 * @max: the most bytes the copy may have (without its NUL), at least 64.
 *
 * Return: NULL for NULL or out of memory; else an owned copy (free()) of
 * @s when it fits, or of its head (cut at a UTF-8 character boundary) and
 * the marker "...[truncated N bytes]" when it does not, at most @max bytes.
 */
char *lvss_strdup_bounded(const char *s, size_t max);

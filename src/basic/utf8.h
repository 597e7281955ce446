/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * UTF-8: the one decoder and the one rule for strings that cross D-Bus
 * (issue 11 §3 "one home per rule"). Self-contained: no other lvss header.
 *
 * The D-Bus rule is sd-bus's (the strictest of its versions), because a
 * string it refuses makes it refuse the whole message: RFC 3629 (no overlong
 * forms, no surrogates, nothing past U+10FFFF) and no non-characters
 * (U+FDD0..U+FDEF and every U+xFFFE / U+xFFFF). A caller that checks with
 * lvss_utf8_valid() first can refuse one string with VSS_E_INVALIDARG
 * instead of losing a whole reply.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * lvss_utf8_decode() - the character at the start of @s.
 * @s: NUL-terminated bytes.
 * @ret: the code point (may be NULL).
 *
 * Return: the length of its well-formed UTF-8 sequence (1 to 4: no overlong
 * form, no surrogate, at most U+10FFFF), or 0 when @s does not start with
 * one (the NUL included: a sequence never runs past the terminator).
 */
size_t lvss_utf8_decode(const char *s, uint32_t *ret);

/* True for the Unicode non-characters: U+FDD0..U+FDEF and U+xFFFE, U+xFFFF. */
bool lvss_unichar_is_noncharacter(uint32_t c);

/* True when @s is a string D-Bus (sd-bus) accepts: see above; false for NULL. */
bool lvss_utf8_valid(const char *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Fuzzer input decoded into a D-Bus value, for the targets whose parser
 * reads D-Bus messages (fuzz-components, fuzz-event-context).
 *
 * sd-bus validates the wire format before a reader sees a message, so what
 * a peer controls is any well-typed value: any signature and any values in
 * it. Fuzzing the raw wire bytes would spend the time in sd-bus's own
 * validation; instead the input is decoded into such a value and built with
 * sd-bus itself (the gen-*-seeds.py scripts write the same encoding):
 *
 *   a value  := y, b: 1 byte    n, q: 2 bytes    i, u: 4    x, t, d: 8 (LE)
 *               s, o, g: bytes up to a NUL (or the end)
 *               a<T>: a count byte, then that many T values
 *               v: a NUL-terminated signature, then one value of it
 *               (...), {..}: the members in order
 *
 * Missing bytes read as zero. A value sd-bus refuses to build (bad UTF-8,
 * bad object path, unix fds) fails with its error: a peer cannot send it
 * either, and the target ends the run.
 */

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

typedef struct fuzz_input {
        const uint8_t *p;
        size_t n;
        unsigned values; /* budget: nested arrays would otherwise multiply */
} fuzz_input;

/* The next @k bytes of @in into @buf, zeros past the end. */
void fuzz_take(fuzz_input *in, void *buf, size_t k);

/* A NUL-terminated string from @in (copied, at most 65535 bytes; free() it); "" at the end. */
char *fuzz_take_string(fuzz_input *in);

/* Length of the single complete type at @sig, 0 when malformed. */
size_t fuzz_type_len(const char *sig);

/* Append one value of the single complete type @sig, decoded from @in, to @m. -EINVAL for a
 * signature that is not one complete type or too deep, -E2BIG past the budget of values, or what
 * sd-bus refused. */
int fuzz_append_value(sd_bus_message *m, fuzz_input *in, const char *sig);

/* A new message on a started bus (one end of a socketpair, kept for the process). */
int fuzz_new_message(sd_bus_message **ret);

/* Seal @m and rewind it to its start, as a receiver would read it. */
int fuzz_seal(sd_bus_message *m);

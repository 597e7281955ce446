/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * bus-dict.c: the a{sv} dictionaries lvss sends (a writer event's context,
 * event-context.c; a component, component-wire.c), written and read the same
 * way on both sides. On its own so that a fuzzer can compile it in alone.
 */

#include <systemd/sd-bus.h>

/* An a{sv} entry whose value is an array: {@key: variant of an array of @element}.
 * lvss_bus_open_array_entry() opens the entry, the variant and the array; the caller appends the
 * elements; lvss_bus_close_array_entry() closes the three. */
int lvss_bus_open_array_entry(sd_bus_message *m, const char *key, const char *element);
int lvss_bus_close_array_entry(sd_bus_message *m);

/* The entries of an a{sv} array the caller has entered: @entry reads (or skips) the variant of
 * each, by its key; then the array is left. The first error of @entry is returned. */
typedef int (*lvss_bus_entry_fn)(sd_bus_message *m, const char *key, void *userdata);
int lvss_bus_read_entries(sd_bus_message *m, lvss_bus_entry_fn entry, void *userdata);

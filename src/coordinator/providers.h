/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * providers.c: the providers lvssd offers (copy, btrfs, exec), by id and name.
 */

#include "forward.h"
#include "providers/provider.h"

/* The id of the provider `external` (issue 10 part 2; external.c's sessions name it):
 * {7c1f8f0e-5a43-4d0b-9e55-1b7e2a3c4d10}; a macro, for static initializers (a const
 * object is not a constant expression in C: GCC accepts it, clang does not) */
#define EXTERNAL_PROVIDER_ID                                                      \
        {                                                                         \
                .bytes = { 0x7c, 0x1f, 0x8f, 0x0e, 0x5a, 0x43, 0x4d, 0x0b,       \
                           0x9e, 0x55, 0x1b, 0x7e, 0x2a, 0x3c, 0x4d, 0x10 },     \
        }

int manager_providers_init(Manager *m);
void manager_providers_done(Manager *m);
lvss_provider *manager_provider_by_id(Manager *m, const vss_id *id);
lvss_provider *manager_provider_by_name(Manager *m, const char *name);
/* The provider that takes @volume: @provider_id's (null: DefaultProvider=, else btrfs, else copy),
 * its id in *@ret_id; NULL when none does. */
lvss_provider *manager_pick_provider(Manager *m, const vss_id *provider_id, const char *volume, vss_id *ret_id);
/* Which volumes a provider takes, in words (vssadmin list providers). */
const char *provider_volumes_text(const lvss_provider *p);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * providers.c: the providers lvssd offers (copy, btrfs, exec), by id and name.
 */

#include "forward.h"
#include "providers/provider.h"

int manager_providers_init(Manager *m);
void manager_providers_done(Manager *m);
lvss_provider *manager_provider_by_id(Manager *m, const vss_id *id);
lvss_provider *manager_provider_by_name(Manager *m, const char *name);
/* Which volumes a provider takes, in words (vssadmin list providers). */
const char *provider_volumes_text(const lvss_provider *p);

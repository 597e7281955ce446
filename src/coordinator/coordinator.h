/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * lvssd internals: every part's header at once.
 *
 * issue 11 §3: no file of lvssd includes this any more; each includes the
 * headers of the parts it uses (docs/design.md has the layers). It stays
 * for branches written against the old single header; new code includes
 * the part headers.
 */

#include "admin.h"
#include "lvssd-config.h"
#include "external.h"
#include "fanout.h"
#include "manager.h"
#include "providers.h"
#include "registry.h"
#include "restore.h"
#include "connection.h"
#include "server.h"
#include "session.h"
#include "snapshot.h"

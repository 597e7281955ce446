/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* lvss — the whole public API. Link with `pkg-config --libs lvss`. */

#include <lvss/types.h>
#include <lvss/metadata.h>
#include <lvss/backup.h>
#include <lvss/writer.h>

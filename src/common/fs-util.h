/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* mkdir -p: every missing directory of the absolute @path, with @mode. 0 or negative errno. */
int lvss_mkdir_parents(const char *path, mode_t mode);

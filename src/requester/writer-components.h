/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A requester's reading of a Backup Components Document, as VSS's
 * GetWriterComponents family shows it: one read-only vss_writer_components
 * per writer of the document (src/writer/components.h has the objects).
 * Internal to liblvss.
 */

#include <lvss/metadata.h>

#include "documents/bcd.h"

/*
 * One set per writer the document lists, in its order (a writer without
 * components has an empty set), then one per writer that only components
 * name. *@ret is owned: lvss_writer_components_array_free().
 */
int lvss_writer_components_from_bcd(const lvss_bcd *bcd, vss_writer_components ***ret, unsigned *ret_n);
void lvss_writer_components_array_free(vss_writer_components **a, unsigned n);

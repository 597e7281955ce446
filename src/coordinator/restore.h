/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * restore.c: the restore side of a session (WS-12): the Backup Components
 * Document, component selection, PreRestore and PostRestore.
 */

#include <stdbool.h>
#include <stdint.h>

#include <lvss/types.h>

#include "answer.h"
#include "forward.h"
#include "refusal.h"

int session_load_bcd(Session *s, const char *xml, Refusal *ref);
int session_method_set_selected_for_restore(Session *s, const vss_id *writer_id, uint32_t type,
                                            const char *logical_path, const char *name, bool selected,
                                            Refusal *ref);
int session_method_set_file_restore_status(Session *s, const vss_id *writer_id, uint32_t type,
                                           const char *logical_path, const char *name, uint32_t status,
                                           Refusal *ref);
/* Take @call (answer.h): answered when the step has started. */
int session_method_pre_restore(Session *s, Pending *call, Refusal *ref);
int session_method_post_restore(Session *s, Pending *call, Refusal *ref);
/* The component failure message a writer left for @e at @event, or NULL. */
const char *entry_component_failure_msg(const Entry *e, vss_writer_event event);

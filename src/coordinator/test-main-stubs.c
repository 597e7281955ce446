/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * What main.c gives lvssd's other parts, for unit tests that link those parts
 * without main.c and want none of it: the log lines are dropped, the history
 * rows go nowhere. (test-session-alloc has its own, which logs.)
 */

#include "manager.h"
#include "session.h"

void log_msg(const char *fmt, ...) {
}

void log_denied(Manager *m, const char *fmt, ...) {
}

void log_session(const Session *s, const char *fmt, ...) {
}

void log_session_writer(const Session *s, const char *writer, vss_writer_event event, vss_hresult hr,
                        const char *fmt, ...) {
}

void manager_queue_history(Manager *m, const lvss_catalog_status *row) {
}

void manager_flush_history(Manager *m) {
}

void manager_flush_history_forced(Manager *m, const Session *self) {
}

void manager_writers_frozen(Manager *m, const vss_id *session_id, bool frozen) {
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 8 item 8: strings that come from other processes are bounded where
 * lvssd keeps, logs, stores or echoes them. The VSS documents give no
 * limit; lvss keeps at most LVSS_MESSAGE_MAX (4096) bytes of an application
 * message and echoes at most LVSS_ECHO_MAX (4096) bytes of a requester's
 * value in an error, cut at a UTF-8 character boundary and ending with
 * "...[truncated N bytes]" (docs/dbus-interface.md, "Limits").
 *
 * A real writer answers PrepareForBackup with a 20 MB application message;
 * a real requester sends a 5 MB volume path.
 */

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "protocol/protocol.h"

#define MESSAGE_MAX 4096 /* LVSS_MESSAGE_MAX */
#define ECHO_MAX 4096    /* LVSS_ECHO_MAX */
#define BIG_MESSAGE (20u * 1024 * 1024)
#define BIG_PATH (5u * 1024 * 1024)

/*
 * @msg is the bounded form of the test writer's --app-message-size message
 * of @full bytes ("\xc3\xa4" repeated, then "END"): at most @max bytes,
 * whole characters only, then the marker naming exactly the bytes left out.
 */
static void check_cut_message(const char *what, const char *msg, size_t full, size_t max) {
        char expect[64];
        const char *marker;
        size_t len, kept;

        CHECK(msg, "%s: no application message", what);
        len = strlen(msg);
        CHECK(len <= max, "%s: the application message has %zu bytes, more than the bound %zu", what, len, max);
        marker = strstr(msg, "...[truncated ");
        CHECK(marker, "%s: the cut message has no marker: ...%s", what, len > 80 ? msg + len - 80 : msg);
        kept = (size_t) (marker - msg);
        CHECK(kept > max / 2, "%s: only %zu bytes kept", what, kept);
        CHECK(kept % 2 == 0, "%s: cut inside a UTF-8 character (%zu bytes kept)", what, kept);
        for (size_t i = 0; i < kept; i += 2)
                CHECK(memcmp(msg + i, "\xc3\xa4", 2) == 0, "%s: byte %zu of the kept part changed", what, i);
        snprintf(expect, sizeof expect, "...[truncated %zu bytes]", full - kept);
        CHECK(strcmp(marker, expect) == 0, "%s: marker \"%s\", expected \"%s\"", what, marker, expect);
}

/* Item 8: a 20 MB application message is kept, listed and stored bounded. */
static void test_item8_application_message_bounded(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        char size[32], sql[256];
        itest_statuses st = { 0 };
        itest_admin a = { 0 };

        itest_start_lvssd(env, &opts);
        snprintf(size, sizeof size, "%u", BIG_MESSAGE);
        itest_writer *w = WRITER(env, "loud", "--fail-at", "PrepareForBackup", "--fail-code",
                                 "VSS_E_WRITERERROR_RETRYABLE", "--app-message-size", size);

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        itest_wait_event(env, w, "PrepareForBackup", &sid, "fail", itest_ms(env, 10000));

        /* the requester's status */
        itest_gather_status(env, bc, &st);
        const itest_status *e = itest_status_for(&st, w);
        CHECK(e, "no status for the writer");
        CHECK(e->s.failure == VSS_E_WRITERERROR_RETRYABLE, "failure %s", itest_hr_str(e->s.failure));
        check_cut_message("GatherWriterStatus", e->application_message, BIG_MESSAGE, MESSAGE_MAX);
        itest_statuses_free(&st);

        /* the admin view (vssadmin list writers) */
        itest_list_writers(env, &a);
        const itest_admin_entry *ae = itest_admin_for(&a, w);
        CHECK(ae, "ListWriters has no entry for the writer");
        check_cut_message("ListWriters", ae->application_message, BIG_MESSAGE, MESSAGE_MAX);
        itest_admin_free(&a);

        /* the catalog's history row */
        snprintf(sql, sizeof sql,
                 "SELECT application_message FROM writer_status WHERE session_id = '%s' AND event = %u AND ok = 0",
                 itest_id_str(&sid), (unsigned) VSS_EVENT_PREPARE_BACKUP);
        char *row = itest_catalog_query(env, sql);
        CHECK(row && *row, "no PrepareForBackup row in the catalog");
        check_cut_message("catalog writer_status", row, BIG_MESSAGE, MESSAGE_MAX);
        free(row);

        /* the log line that reports the failure */
        char *log = itest_read_file(env->lvssd->log_path);
        CHECK(log, "no lvssd log");
        CHECK(strlen(log) < 64 * 1024, "lvssd's log has %zu bytes: the message went into it whole", strlen(log));
        CHECK(strstr(log, "...[truncated "), "the log does not show the cut message");
        free(log);
        itest_requester_release(env, bc);
}

/* The message of a Session1 call's error on @bus (owned), its code in *@ret_hr; NULL when the call succeeded. */
static char *call_error(sd_bus *bus, const char *member, vss_hresult *ret_hr, const char *types, ...) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        char *msg = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, member);
        CHECK(r >= 0, "new call %s", member);
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                CHECK(r >= 0, "append %s", member);
        }
        r = sd_bus_call(bus, m, (uint64_t) itest_ms(itest_current(), 30000) * 1000, &err, &reply);
        *ret_hr = r < 0 ? lvss_bus_error_to_hresult(&err, r) : VSS_S_OK;
        if (r < 0)
                msg = strdup(err.message ? err.message : "");
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return msg;
}

/* Item 8: a 5 MB volume path (that does not exist) is echoed bounded in AddToSnapshotSet's error, with the cause. */
static void test_item8_volume_path_echo_bounded(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        sd_bus *bus = NULL;
        vss_id sid, null_id = { 0 };
        vss_hresult hr;
        char *msg;

        itest_start_lvssd(env, &opts);
        CHECK(lvss_bus_connect(env->socket_path, &bus) >= 0, "connect");
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        CHECK(sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", &err,
                                 &reply, "") >= 0,
              "OpenSession: %s", err.message ? err.message : "?");
        CHECK(lvss_bus_read_id(reply, &sid) >= 0, "OpenSession reply");
        reply = sd_bus_message_unref(reply);

        msg = call_error(bus, "InitializeForBackup", &hr, "s", "");
        CHECK_HR(hr, VSS_S_OK, "InitializeForBackup: %s", msg ? msg : "");
        free(msg);
        msg = call_error(bus, "StartSnapshotSet", &hr, NULL);
        CHECK_HR(hr, VSS_S_OK, "StartSnapshotSet: %s", msg ? msg : "");
        free(msg);

        /* "/aaaa.../aaaa..." : 5 MB, every component short enough, the whole far beyond PATH_MAX */
        char *path = malloc(BIG_PATH + 1);
        CHECK(path, "malloc");
        for (size_t i = 0; i < BIG_PATH; i++)
                path[i] = i % 200 == 0 ? '/' : 'a';
        path[BIG_PATH] = 0;
        sd_bus_message *m = NULL;
        CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE,
                                             "AddToSnapshotSet") >= 0, "new call");
        CHECK(sd_bus_message_append(m, "s", path) >= 0, "append path");
        CHECK(lvss_bus_append_id(m, &null_id) >= 0, "append id");
        int r = sd_bus_call(bus, m, (uint64_t) itest_ms(env, 30000) * 1000, &err, &reply);
        CHECK(r < 0, "AddToSnapshotSet of a 5 MB path succeeded");
        hr = lvss_bus_error_to_hresult(&err, r);
        CHECK_HR(hr, VSS_E_OBJECT_NOT_FOUND, "AddToSnapshotSet of a 5 MB path");
        const char *em = err.message ? err.message : "";
        itest_note("error message: %zu bytes, ends: %s", strlen(em), strlen(em) > 120 ? em + strlen(em) - 120 : em);
        CHECK(strlen(em) <= ECHO_MAX + 200, "the error message has %zu bytes: the path is echoed unbounded",
              strlen(em));
        CHECK(strstr(em, "...[truncated "), "the echoed path has no truncation marker");
        /* the cause comes after the echo: a silent cut would lose it */
        CHECK(strstr(em, ": No such file or directory"), "the error does not say what happened (ENOENT)");
        CHECK(strncmp(em, "Volume /aaa", strlen("Volume /aaa")) == 0, "the error does not start with the volume");
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        free(path);

        /* the session is unharmed: a real volume still goes in */
        m = NULL;
        CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE,
                                             "AddToSnapshotSet") >= 0, "new call");
        CHECK(sd_bus_message_append(m, "s", env->data_dir) >= 0 && lvss_bus_append_id(m, &null_id) >= 0, "append");
        CHECK(sd_bus_call(bus, m, (uint64_t) itest_ms(env, 30000) * 1000, &err, &reply) >= 0,
              "AddToSnapshotSet %s: %s", env->data_dir, err.message ? err.message : "?");
        sd_bus_error_free(&err);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_item8_application_message_bounded),
                ITEST(test_item8_volume_path_echo_bounded),
        };
        return ITEST_MAIN("strings-bounded", tests);
}

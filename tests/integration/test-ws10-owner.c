/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-10 One owner. A vss_backup_components object belongs to one session
 * and one thread at a time: a call made while another call on the same
 * object runs (another thread) fails with VSS_E_BAD_STATE. No other process
 * or object can read or drive that session's status (the coordinator says
 * VSS_E_ACCESSDENIED). One snapshot set may be in creation at a time
 * system-wide: a second vss_start_snapshot_set fails with
 * VSS_E_SNAPSHOT_SET_IN_PROGRESS until the first vss_do_snapshot_set ends.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "protocol/protocol.h"

/* WS-10: one snapshot set in creation at a time, system-wide. */
static void test_ws10_one_snapshot_set_at_a_time(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 5000 };
        vss_id set2;
        vss_async *a = NULL;

        itest_start_lvssd(env, &opts);
        itest_writer *slow = WRITER(env, "slow", "--hang-at", "PrepareForSnapshot", "--hang-ms", "1500");

        vss_backup_components *bc1 = itest_requester(env, false);
        vss_id s1 = itest_session_id(bc1);
        STEP_OK(env, bc1, vss_gather_writer_metadata);
        vss_backup_components *bc2 = itest_requester(env, false);
        STEP_OK(env, bc2, vss_gather_writer_metadata);

        itest_start_set(env, bc1, NULL);
        CHECK_HR(vss_start_snapshot_set(bc2, &set2), VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                 "WS-10: second StartSnapshotSet while the first set is being built");
        STEP_OK(env, bc1, vss_prepare_for_backup);

        CHECK_HR(vss_do_snapshot_set(bc1, &a), VSS_S_OK, "vss_do_snapshot_set");
        itest_wait_event(env, slow, "PrepareForSnapshot", &s1, "begin", itest_ms(env, 5000));
        CHECK_HR(vss_start_snapshot_set(bc2, &set2), VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                 "WS-10: second StartSnapshotSet during the first DoSnapshotSet");
        CHECK_HR(vss_async_wait(a, itest_step_bound(env)), VSS_S_OK, "the first DoSnapshotSet");
        vss_async_release(a);

        CHECK_HR(vss_start_snapshot_set(bc2, &set2), VSS_S_OK,
                 "WS-10: StartSnapshotSet once the first DoSnapshotSet ended");
        CHECK(!vss_id_is_null(&set2), "null set id");
}

/* Call Coordinator1.GatherSessionStatus(@sid) on @bus; returns the hresult (S_OK and *n on success). */
static vss_hresult gather_session_status(sd_bus *bus, const vss_id *sid, unsigned *ret_n) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_hresult hr = VSS_S_OK;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           "GatherSessionStatus");
        CHECK(r >= 0, "new call");
        CHECK(lvss_bus_append_id(m, sid) >= 0, "append id");
        r = sd_bus_call(bus, m, 30 * 1000000ULL, &err, &reply);
        if (r < 0)
                hr = lvss_bus_error_to_hresult(&err, r);
        else if (ret_n) {
                unsigned n = 0;
                CHECK(sd_bus_message_enter_container(reply, 'a', "(" LVSS_STATUS_STRUCT ")") >= 0, "reply");
                while ((r = sd_bus_message_skip(reply, "(" LVSS_STATUS_STRUCT ")")) > 0)
                        n++;
                *ret_n = n;
        }
        if (r < 0 && sd_bus_error_is_set(&err))
                itest_note("GatherSessionStatus: %s: %s", err.name, err.message ? err.message : "");
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return hr;
}

static vss_hresult call_simple(sd_bus *bus, const char *path, const char *iface, const char *member, vss_id *ret_id) {
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, NULL, path, iface, member, &err, &reply, "");
        vss_hresult hr = r < 0 ? lvss_bus_error_to_hresult(&err, r) : VSS_S_OK;
        if (r >= 0 && ret_id)
                CHECK(lvss_bus_read_id(reply, ret_id) >= 0, "%s: reply", member);
        sd_bus_error_free(&err);
        sd_bus_message_unref(reply);
        return hr;
}

/* WS-10: nobody but the session's own connection reads its status. */
static void test_ws10_other_connection_cannot_read_session(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };
        itest_statuses st = { 0 };
        sd_bus *other = NULL, *req = NULL;
        vss_id own, unknown;
        unsigned n = 99;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);

        /* a connection with no role */
        CHECK(lvss_bus_connect(env->socket_path, &other) >= 0, "connect");
        CHECK_HR(gather_session_status(other, &sid, NULL), VSS_E_ACCESSDENIED,
                 "WS-10: GatherSessionStatus for someone else's session (no role)");
        CHECK_HR(call_simple(other, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "GatherWriterStatus", NULL), VSS_E_BAD_STATE,
                 "Session1.GatherWriterStatus on a connection without a session");

        /* another requester, with its own session */
        CHECK(lvss_bus_connect(env->socket_path, &req) >= 0, "connect");
        CHECK_HR(call_simple(req, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", &own), VSS_S_OK,
                 "OpenSession");
        CHECK_HR(gather_session_status(req, &sid, NULL), VSS_E_ACCESSDENIED,
                 "WS-10: GatherSessionStatus for another requester's session");
        CHECK_HR(gather_session_status(req, &own, &n), VSS_S_OK, "GatherSessionStatus for the caller's own session");
        CHECK(n == 0, "own fresh session lists %u writers", n);
        memset(&unknown, 0x5a, sizeof unknown);
        CHECK_HR(gather_session_status(req, &unknown, NULL), VSS_E_OBJECT_NOT_FOUND,
                 "GatherSessionStatus for an unknown session id");

        /* and the owner still reads it, untouched */
        itest_gather_status(env, bc, &st);
        itest_writer *const ws[] = { w };
        itest_check_status_set(&st, &sid, ws, 1);
        CHECK_STATUS(&st, w, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        sd_bus_flush_close_unref(other);
        sd_bus_flush_close_unref(req);
}

static struct {
        vss_backup_components *bc;
        atomic_bool done;
        vss_hresult hr;
} abort_call;

static void *abort_thread(void *arg) {
        abort_call.hr = vss_abort_backup(abort_call.bc);
        atomic_store(&abort_call.done, true);
        return NULL;
}

/* WS-10: a second thread calling into the object while a call runs gets
 * VSS_E_BAD_STATE; the running call is undisturbed. */
static void test_ws10_concurrent_call_same_object(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 8000 };
        pthread_t t;
        char *xml = NULL;
        vss_async *a = NULL;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "slow-abort", "--hang-at", "Abort", "--hang-ms", "3000");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);

        abort_call.bc = bc;
        atomic_store(&abort_call.done, false);
        CHECK(pthread_create(&t, NULL, abort_thread, NULL) == 0, "pthread_create");
        itest_wait_event(env, w, "Abort", &sid, "begin", itest_ms(env, 10000));

        vss_hresult h1 = vss_save_as_xml(bc, &xml);
        vss_hresult h2 = vss_gather_writer_status(bc, &a);
        vss_hresult h3 = vss_abort_backup(bc);
        vss_hresult h4 = vss_set_context(bc, VSS_CTX_BACKUP);
        bool overlapped = !atomic_load(&abort_call.done);
        if (VSS_SUCCEEDED(h2))
                vss_async_release(a);
        free(xml);
        xml = NULL;
        CHECK(overlapped, "setup: vss_abort_backup returned before the concurrent calls were made");
        CHECK_HR(h1, VSS_E_BAD_STATE, "WS-10: vss_save_as_xml while vss_abort_backup runs on another thread");
        CHECK_HR(h2, VSS_E_BAD_STATE, "WS-10: vss_gather_writer_status while vss_abort_backup runs on another thread");
        CHECK_HR(h3, VSS_E_BAD_STATE, "WS-10: vss_abort_backup while vss_abort_backup runs on another thread");
        CHECK_HR(h4, VSS_E_BAD_STATE, "WS-10: vss_set_context while vss_abort_backup runs on another thread");

        pthread_join(t, NULL);
        CHECK_HR(abort_call.hr, VSS_S_OK, "WS-10: the running vss_abort_backup, undisturbed");
        CHECK(itest_count_events(w, "Abort", &sid, "begin") == 1, "WS-10: the refused vss_abort_backup still sent Abort");
        /* the refusals were about the overlap only: the object works again */
        itest_statuses st = { 0 };
        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, w, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws10_one_snapshot_set_at_a_time),
                ITEST(test_ws10_other_connection_cannot_read_session),
                ITEST(test_ws10_concurrent_call_same_object),
        };
        return ITEST_MAIN("WS-10 one owner", tests);
}

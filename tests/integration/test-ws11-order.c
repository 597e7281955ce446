/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-11 Call order. Out-of-order calls fail with VSS_E_BAD_STATE and change
 * nothing; a bad index fails with VSS_E_OBJECT_NOT_FOUND; a NULL out-pointer
 * with VSS_E_INVALIDARG; any call while an async operation of the same
 * object is pending (other than vss_async_*) fails with VSS_E_BAD_STATE;
 * vss_free_writer_status ends the validity of the result; a new gather
 * replaces the previous result.
 */

#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 8000,
};

/* WS-11: the out-of-order calls of the rule, each refused, none with an effect. */
static void test_ws11_out_of_order_calls(void **state) {
        itest_env *env = *state;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        unsigned n = 0;
        vss_id sid, set, snap;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");

        CHECK_HR(vss_create_backup_components(&bc), VSS_S_OK, "create");
        env->requesters[env->n_requesters++] = bc;
        sid = itest_session_id(bc);
        CHECK_HR(vss_initialize_for_backup(bc, NULL), VSS_S_OK, "initialize");

        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_E_BAD_STATE,
                 "WS-11: vss_get_writer_status_count before any status gather");
        CHECK_HR(vss_get_writer_metadata_count(bc, &n), VSS_E_BAD_STATE,
                 "WS-11: vss_get_writer_metadata_count before the metadata gather");

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_gather_writer_metadata(bc, &a), VSS_E_BAD_STATE, "WS-11: a second vss_gather_writer_metadata");

        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "start set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "add");
        CHECK_HR(vss_prepare_for_backup(bc, &a), VSS_E_BAD_STATE,
                 "WS-11: vss_prepare_for_backup before vss_set_backup_state");
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_E_BAD_STATE, "WS-11: vss_do_snapshot_set before vss_prepare_for_backup");

        CHECK_HR(vss_set_backup_state(bc, false, false, VSS_BT_FULL, false), VSS_S_OK, "set backup state");
        CHECK_HR(vss_do_snapshot_set(bc, &a), VSS_E_BAD_STATE,
                 "WS-11: vss_do_snapshot_set before vss_prepare_for_backup (state set)");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);

        /* nothing the refused calls asked for happened */
        CHECK(itest_count_events(w, "Identify", NULL, "begin") == 1, "WS-11: %zu Identify events, expected 1",
              itest_count_events(w, "Identify", NULL, "begin"));
        CHECK(itest_count_events(w, "PrepareForBackup", &sid, "begin") == 1,
              "WS-11: %zu PrepareForBackup events, expected 1", itest_count_events(w, "PrepareForBackup", &sid, "begin"));
        CHECK(itest_count_events(w, "PrepareForSnapshot", &sid, "begin") == 1,
              "WS-11: %zu PrepareForSnapshot events, expected 1",
              itest_count_events(w, "PrepareForSnapshot", &sid, "begin"));
        unsigned md = 0;
        CHECK_HR(vss_get_writer_metadata_count(bc, &md), VSS_S_OK, "metadata count");
        CHECK(md == 1, "WS-11: the refused second gather changed the metadata list: %u", md);
}

/* WS-11: bad indexes and NULL out-pointers. */
static void test_ws11_bad_index_and_null_pointers(void **state) {
        itest_env *env = *state;
        vss_writer_status s = { .size = sizeof(vss_writer_status) };
        vss_examine_writer_metadata *md = NULL;
        vss_id inst;
        unsigned n = 0;

        itest_start_lvssd(env, &opts);
        WRITER(env, "w1");
        WRITER(env, "w2");
        vss_backup_components *bc = itest_requester(env, false);

        CHECK_HR(vss_gather_writer_metadata(bc, NULL), VSS_E_INVALIDARG, "WS-11: vss_gather_writer_metadata(NULL)");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_get_writer_metadata_count(bc, NULL), VSS_E_INVALIDARG, "WS-11: metadata count into NULL");
        CHECK_HR(vss_get_writer_metadata_count(bc, &n), VSS_S_OK, "metadata count");
        CHECK(n == 2, "%u writers", n);
        CHECK_HR(vss_get_writer_metadata(bc, n, &inst, &md), VSS_E_OBJECT_NOT_FOUND,
                 "WS-11: vss_get_writer_metadata at index == count");
        CHECK_HR(vss_get_writer_metadata(bc, 0, &inst, NULL), VSS_E_INVALIDARG, "WS-11: metadata into NULL");
        CHECK_HR(vss_get_session_id(bc, NULL), VSS_E_INVALIDARG, "WS-11: vss_get_session_id(NULL)");

        CHECK_HR(vss_gather_writer_status(bc, NULL), VSS_E_INVALIDARG, "WS-11: vss_gather_writer_status(NULL)");
        STEP_OK(env, bc, vss_gather_writer_status);
        CHECK_HR(vss_get_writer_status_count(bc, NULL), VSS_E_INVALIDARG, "WS-11: status count into NULL");
        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_S_OK, "status count");
        CHECK(n == 2, "%u statuses", n);
        CHECK_HR(vss_get_writer_status(bc, n, &s), VSS_E_OBJECT_NOT_FOUND, "WS-11: vss_get_writer_status at index == count");
        CHECK_HR(vss_get_writer_status(bc, 1000000, &s), VSS_E_OBJECT_NOT_FOUND, "WS-11: vss_get_writer_status far out");
        CHECK_HR(vss_get_writer_status(bc, 0, NULL), VSS_E_INVALIDARG, "WS-11: vss_get_writer_status into NULL");
        CHECK_HR(vss_get_writer_status(bc, 0, &s), VSS_S_OK, "vss_get_writer_status(0)");
}

/* WS-11: while an async operation is pending, every other call of the object
 * is refused; vss_async_* calls are not. */
static void test_ws11_calls_while_async_pending(void **state) {
        itest_env *env = *state;
        vss_async *a = NULL, *b = NULL;
        vss_hresult q = 0;
        vss_id set, inst = { { 0 } };
        char *xml = NULL;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "slow", "--hang-at", "PrepareForBackup", "--hang-ms", "2000");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);

        CHECK_HR(vss_prepare_for_backup(bc, &a), VSS_S_OK, "vss_prepare_for_backup");
        itest_wait_event(env, w, "PrepareForBackup", &sid, "begin", itest_ms(env, 5000));

        CHECK_HR(vss_async_query_status(a, &q), VSS_S_OK, "vss_async_query_status while pending");
        CHECK(q == VSS_S_ASYNC_PENDING, "query says %s", itest_hr_str(q));
        vss_hresult h1 = vss_do_snapshot_set(bc, &b);
        vss_hresult h2 = vss_set_context(bc, VSS_CTX_BACKUP);
        vss_hresult h3 = vss_add_component(bc, &inst, &w->writer_id, VSS_CT_FILEGROUP, "", "data");
        vss_hresult h4 = vss_start_snapshot_set(bc, &set);
        vss_hresult h5 = vss_backup_complete(bc, &b);
        vss_hresult h6 = vss_save_as_xml(bc, &xml);
        vss_hresult h7 = vss_gather_writer_status(bc, &b);
        CHECK_HR(vss_async_query_status(a, &q), VSS_S_OK, "vss_async_query_status");
        bool still = q == VSS_S_ASYNC_PENDING;
        free(xml);
        CHECK(still, "setup: PrepareForBackup finished before the checks were done");
        CHECK_HR(h1, VSS_E_BAD_STATE, "WS-11: vss_do_snapshot_set while PrepareForBackup is pending");
        CHECK_HR(h2, VSS_E_BAD_STATE, "WS-11: vss_set_context while PrepareForBackup is pending");
        CHECK_HR(h3, VSS_E_BAD_STATE, "WS-11: vss_add_component while PrepareForBackup is pending");
        CHECK_HR(h4, VSS_E_BAD_STATE, "WS-11: vss_start_snapshot_set while PrepareForBackup is pending");
        CHECK_HR(h5, VSS_E_BAD_STATE, "WS-11: vss_backup_complete while PrepareForBackup is pending");
        CHECK_HR(h6, VSS_E_BAD_STATE, "WS-11: vss_save_as_xml while PrepareForBackup is pending");
        /* docs/dbus-interface.md: the library refuses it too (one call at a time on an object) */
        CHECK_HR(h7, VSS_E_BAD_STATE, "WS-11: vss_gather_writer_status while PrepareForBackup is pending");

        CHECK_HR(vss_async_wait(a, itest_step_bound(env)), VSS_S_OK, "PrepareForBackup");
        vss_async_release(a);
        /* nothing changed: the sequence goes on normally */
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK(itest_count_events(w, "PrepareForSnapshot", &sid, "begin") == 1, "WS-11: PrepareForSnapshot count");
}

/* WS-11: a new gather replaces the previous result; vss_free_writer_status ends it. */
static void test_ws11_gather_replaces_and_free_ends(void **state) {
        itest_env *env = *state;
        vss_writer_status s = { .size = sizeof(vss_writer_status) };
        unsigned n = 0;

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);

        STEP_OK(env, bc, vss_gather_writer_status);
        CHECK_HR(vss_get_writer_status(bc, 0, &s), VSS_S_OK, "status");
        CHECK(s.state == VSS_WS_STABLE, "after PrepareForBackup: %s", vss_writer_state_name(s.state));

        STEP_OK(env, bc, vss_do_snapshot_set);
        /* without freeing: the new gather replaces the old result */
        STEP_OK(env, bc, vss_gather_writer_status);
        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_S_OK, "count");
        CHECK(n == 1, "WS-11: %u entries after a second gather (the result must be replaced, not appended)", n);
        CHECK_HR(vss_get_writer_status(bc, 0, &s), VSS_S_OK, "status");
        CHECK(vss_id_equal(&s.instance_id, &w->instance_id), "entry for %s", itest_id_str(&s.instance_id));
        CHECK(s.state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE,
              "WS-11: the second gather still shows %s (the old result)", vss_writer_state_name(s.state));

        CHECK_HR(vss_free_writer_status(bc), VSS_S_OK, "vss_free_writer_status");
        vss_hresult h1 = vss_get_writer_status(bc, 0, &s);
        vss_hresult h2 = vss_get_writer_status_count(bc, &n);
        CHECK(VSS_FAILED(h1), "WS-11: vss_get_writer_status after vss_free_writer_status gave %s", itest_hr_str(h1));
        CHECK(VSS_FAILED(h2), "WS-11: vss_get_writer_status_count after vss_free_writer_status gave %s",
              itest_hr_str(h2));
        itest_note("after free: get_writer_status %s, count %s", itest_hr_str(h1), itest_hr_str(h2));

        /* and a new gather works again */
        STEP_OK(env, bc, vss_gather_writer_status);
        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_S_OK, "count after a new gather");
        CHECK(n == 1, "%u", n);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws11_out_of_order_calls),
                ITEST(test_ws11_bad_index_and_null_pointers),
                ITEST(test_ws11_calls_while_async_pending),
                ITEST(test_ws11_gather_replaces_and_free_ends),
        };
        return ITEST_MAIN("WS-11 call order", tests);
}

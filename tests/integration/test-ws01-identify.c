/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-1 Identify gates status: only writers whose Identify succeeded in this
 * session appear in the metadata and status lists, the two counts are equal,
 * and a writer whose Identify fails, times out or whose process dies has no
 * status in the session. The admin view still lists a failed one as
 * [6] Failed and a silent one as [0] Unknown / not responding, both outside
 * any session ("none").
 */

#include <string.h>

#include "harness.h"

#define IDENTIFY_TIMEOUT_MS 1500
#define EVENT_TIMEOUT_MS 1500

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = IDENTIFY_TIMEOUT_MS,
        .event_timeout_ms = EVENT_TIMEOUT_MS,
};

static void check_metadata_is(itest_env *env, vss_backup_components *bc, itest_writer *const *ws, size_t n) {
        unsigned count = 0;

        CHECK_HR(vss_get_writer_metadata_count(bc, &count), VSS_S_OK, "WS-1: vss_get_writer_metadata_count");
        CHECK(count == n, "WS-1: %u writers in the metadata list, expected %zu (only those whose Identify succeeded)",
              count, n);
        for (unsigned i = 0; i < count; i++) {
                vss_examine_writer_metadata *md = NULL;
                vss_id inst, md_inst, md_wid;
                const char *name = NULL, *iname = NULL;
                vss_usage_type ut;
                vss_source_type st;
                bool known = false;

                CHECK_HR(vss_get_writer_metadata(bc, i, &inst, &md), VSS_S_OK, "vss_get_writer_metadata(%u)", i);
                CHECK(md, "no metadata document for index %u", i);
                CHECK_HR(vss_examine_writer_metadata_get_identity(md, &md_inst, &md_wid, &name, &iname, &ut, &st),
                         VSS_S_OK, "get_identity(%u)", i);
                for (size_t k = 0; k < n; k++)
                        if (vss_id_equal(&inst, &ws[k]->instance_id)) {
                                known = true;
                                CHECK(vss_id_equal(&md_wid, &ws[k]->writer_id),
                                      "WS-1: metadata %u: writer id %s, expected %s", i, itest_id_str(&md_wid),
                                      itest_id_str(&ws[k]->writer_id));
                                CHECK(name && strcmp(name, ws[k]->name) == 0, "WS-1: metadata %u: name '%s', expected '%s'",
                                      i, name ? name : "(null)", ws[k]->name);
                        }
                CHECK(known, "WS-1: metadata list has instance %s, which is not a writer that identified",
                      itest_id_str(&inst));
        }
}

/* WS-1: Identify failing (return false), failing with a failure set, hanging,
 * and dying: none of them is listed; the good ones are, in both lists. */
static void test_ws01_only_identified_writers_are_listed(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        uint64_t elapsed;

        itest_start_lvssd(env, &opts);
        itest_writer *good1 = WRITER(env, "good1");
        itest_writer *good2 = WRITER(env, "good2", "--instance", "second");
        itest_writer *fails = WRITER(env, "fails-identify", "--fail-at", "Identify", "--fail-mode", "return");
        itest_writer *fails2 = WRITER(env, "fails-identify-both", "--fail-at", "Identify", "--fail-code",
                                      "VSS_E_WRITERERROR_RETRYABLE", "--app-message", "not today");
        itest_writer *hangs = WRITER(env, "hangs-identify", "--hang-at", "Identify");
        itest_writer *dies = WRITER(env, "dies-identify", "--crash-at", "Identify");

        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        vss_hresult hr = itest_step(env, bc, vss_gather_writer_metadata, "vss_gather_writer_metadata",
                                    itest_ms(env, IDENTIFY_TIMEOUT_MS) + itest_margin_ms(env), &elapsed);
        CHECK_HR(hr, VSS_S_OK, "WS-1: GatherWriterMetadata with failing writers");

        /* every writer got Identify (so the absence below is the rule, not a lost event) */
        itest_wait_event(env, good1, "Identify", NULL, "ok", itest_ms(env, 5000));
        itest_wait_event(env, good2, "Identify", NULL, "ok", itest_ms(env, 5000));
        itest_wait_event(env, fails, "Identify", NULL, "fail", itest_ms(env, 5000));
        itest_wait_event(env, fails2, "Identify", NULL, "fail", itest_ms(env, 5000));
        itest_wait_event(env, hangs, "Identify", NULL, "hang", itest_ms(env, 5000));
        itest_wait_event(env, dies, "Identify", NULL, "crash", itest_ms(env, 5000));
        CHECK(itest_wait_exit(env, &dies->p, itest_ms(env, 5000)), "the crashing writer did not die");

        itest_writer *const good[] = { good1, good2 };
        check_metadata_is(env, bc, good, 2);

        /* status right after the metadata gather: the same writers */
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, good, 2);
        CHECK_STATUS(&st, good1, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        CHECK_STATUS(&st, good2, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        /* and after PrepareForBackup: still exactly the identified ones, counts equal */
        itest_start_set(env, bc, NULL);
        hr = itest_step(env, bc, vss_prepare_for_backup, "vss_prepare_for_backup", itest_step_bound(env), NULL);
        CHECK_HR(hr, VSS_S_OK, "PrepareForBackup");
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, good, 2);
        unsigned md_count = 0;
        CHECK_HR(vss_get_writer_metadata_count(bc, &md_count), VSS_S_OK, "metadata count");
        CHECK(md_count == st.n, "WS-1: metadata count %u != status count %zu", md_count, st.n);
        CHECK_STATUS(&st, good1, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        CHECK_STATUS(&st, good2, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        /* the writers that did not identify get no later event of this session */
        CHECK(itest_count_events(fails, "PrepareForBackup", &sid, NULL) == 0,
              "WS-1: a writer whose Identify failed got PrepareForBackup");
        CHECK(itest_count_events(fails2, "PrepareForBackup", &sid, NULL) == 0,
              "WS-1: a writer whose Identify failed got PrepareForBackup");
}

/* WS-1: every writer failing Identify: both lists are empty, and equal. */
static void test_ws01_no_writer_identified(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "fails-identify", "--fail-at", "Identify");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);

        vss_hresult hr = itest_step(env, bc, vss_gather_writer_metadata, "vss_gather_writer_metadata",
                                    itest_ms(env, IDENTIFY_TIMEOUT_MS) + itest_margin_ms(env), NULL);
        CHECK_HR(hr, VSS_S_OK, "WS-1: GatherWriterMetadata");
        itest_wait_event(env, w, "Identify", NULL, "fail", itest_ms(env, 5000));
        check_metadata_is(env, bc, NULL, 0);
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, NULL, 0);
        itest_statuses_free(&st);
}

/* WS-1 (admin view, docs/dbus-interface.md ListWriters): a writer that fails
 * Identify shows [6] Failed, one that does not answer [0] Unknown with
 * VSS_E_WRITER_NOT_RESPONDING, both marked as outside any session. */
static void test_ws01_admin_view_marks_failed_identify(void **state) {
        itest_env *env = *state;
        itest_admin a = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *good = WRITER(env, "good");
        itest_writer *fails = WRITER(env, "fails-identify", "--fail-at", "Identify", "--fail-mode", "return");
        itest_writer *hangs = WRITER(env, "hangs-identify", "--hang-at", "Identify");

        uint64_t t0 = itest_now_mono_usec();
        itest_list_writers(env, &a);
        uint64_t ms = (itest_now_mono_usec() - t0) / 1000;
        CHECK(ms <= itest_ms(env, IDENTIFY_TIMEOUT_MS) + itest_margin_ms(env),
              "WS-5: ListWriters took %llu ms, Identify deadline %u ms", (unsigned long long) ms,
              itest_ms(env, IDENTIFY_TIMEOUT_MS));

        const itest_admin_entry *g = itest_admin_for(&a, good), *f = itest_admin_for(&a, fails),
                                *h = itest_admin_for(&a, hangs);
        CHECK(g && f && h, "ListWriters lists %zu writers; good %s, failing %s, hanging %s", a.n, g ? "yes" : "no",
              f ? "yes" : "no", h ? "yes" : "no");
        CHECK(g->state == VSS_WS_STABLE, "admin view: good writer in state %d", g->state);
        CHECK(f->state == VSS_WS_FAILED_AT_IDENTIFY, "WS-1: admin view shows a failed Identify as [%d], expected [6]",
              f->state);
        CHECK(strcmp(f->session_state, "none") == 0 && !f->session_active,
              "WS-1: failed Identify should be outside any session, shows '%s' (active %d)", f->session_state,
              f->session_active);
        CHECK(h->state == VSS_WS_UNKNOWN && h->failure == VSS_E_WRITER_NOT_RESPONDING,
              "WS-1: silent writer shows [%d] %s, expected [0] VSS_E_WRITER_NOT_RESPONDING", h->state,
              itest_hr_str(h->failure));
        CHECK(strcmp(h->session_state, "none") == 0 && !h->session_active,
              "WS-1: silent writer should be outside any session, shows '%s'", h->session_state);
        itest_admin_free(&a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws01_only_identified_writers_are_listed),
                ITEST(test_ws01_no_writer_identified),
                ITEST(test_ws01_admin_view_marks_failed_identify),
        };
        return ITEST_MAIN("WS-1 identify", tests);
}

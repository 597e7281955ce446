/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §2, the component wire format (src/protocol/component-wire.c),
 * end to end: a writer's answer whose `components` list lvssd refuses is
 * refused whole.
 *
 * The writer is lvss-test-writer --raw-identify bad-components (raw sd-bus:
 * liblvss never sends such a list). It identifies with two file groups,
 * `first` and `second`, and answers PrepareForBackup with a list whose
 * first component sets `first`'s backup metadata and whose second has a
 * name that is a number. lvssd must
 *   - fail the writer at PrepareForBackup with VSS_E_UNEXPECTED_WRITER_ERROR
 *     (WS-4: the failure is the writer's, the step goes on), its log naming
 *     the session, the writer and "malformed reply";
 *   - keep nothing of that answer: `first` has no backup metadata in the
 *     Backup Components Document. Before the module lvssd merged component
 *     by component and stopped at the bad one, so the document carried
 *     "from a refused answer" of a writer it had failed.
 * A liblvss writer in the same session is the control: its backup metadata
 * (lvss-test-writer's default, "lvss-test-writer good") is in the document.
 */

#include <stdlib.h>
#include <string.h>

#include "documents/bcd.h"
#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 10000,
};

static const lvss_bcd_component *find_component(const lvss_bcd *bcd, const itest_writer *w, const char *name) {
        for (size_t i = 0; i < bcd->n_components; i++)
                if (vss_id_equal(&bcd->components[i].instance_id, &w->instance_id) &&
                    strcmp(bcd->components[i].name, name) == 0)
                        return &bcd->components[i];
        return NULL;
}

static void test_refused_answer_leaves_no_trace(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };
        char *xml = NULL;
        lvss_bcd *bcd = NULL;

        itest_start_lvssd(env, &opts);
        itest_writer *good = WRITER(env, "good");
        itest_writer *raw = WRITER(env, "raw", "--raw-identify", "bad-components");

        vss_backup_components *bc = itest_requester(env, true);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_add_component(bc, &good->instance_id, &good->writer_id, VSS_CT_FILEGROUP, "", "data"), VSS_S_OK,
                 "vss_add_component(good, data)");
        CHECK_HR(vss_add_component(bc, &raw->instance_id, &raw->writer_id, VSS_CT_FILEGROUP, "", "first"), VSS_S_OK,
                 "vss_add_component(raw, first): its Identify document was taken");
        CHECK_HR(vss_add_component(bc, &raw->instance_id, &raw->writer_id, VSS_CT_FILEGROUP, "", "second"), VSS_S_OK,
                 "vss_add_component(raw, second)");
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        itest_wait_event(env, raw, "PrepareForBackup", &sid, "ok", itest_ms(env, 5000));

        /* the writer failed with the wire error; the control writer did not */
        itest_gather_status(env, bc, &st);
        const itest_status *r = itest_status_for(&st, raw), *g = itest_status_for(&st, good);
        CHECK(r && g, "GatherWriterStatus lists raw %s, good %s", r ? "yes" : "no", g ? "yes" : "no");
        CHECK(r->s.state == VSS_WS_FAILED_AT_PREPARE_BACKUP, "the raw writer shows [%d], expected [7]", r->s.state);
        CHECK_HR(r->s.failure, VSS_E_UNEXPECTED_WRITER_ERROR, "the raw writer's failure");
        CHECK(g->s.state == VSS_WS_STABLE && g->s.failure == VSS_S_OK, "the good writer shows [%d] %s", g->s.state,
              itest_hr_str(g->s.failure));
        itest_statuses_free(&st);

        /* the document: the control's metadata is there, nothing of the refused answer is */
        CHECK_HR(vss_save_as_xml(bc, &xml), VSS_S_OK, "vss_save_as_xml");
        CHECK(lvss_bcd_from_xml(xml, &bcd) >= 0, "the saved document does not parse");
        const lvss_bcd_component *data = find_component(bcd, good, "data");
        const lvss_bcd_component *first = find_component(bcd, raw, "first");
        CHECK(data && first, "the document lacks a component: data %s, first %s", data ? "yes" : "no",
              first ? "yes" : "no");
        CHECK(data->backup_metadata && strcmp(data->backup_metadata, "lvss-test-writer good") == 0,
              "the control writer's backup metadata is '%s'", data->backup_metadata ?: "(none)");
        CHECK(!first->backup_metadata,
              "issue 11 §2: a refused answer was half applied: 'first' has backup metadata '%s'",
              first->backup_metadata);
        CHECK(!strstr(xml, "from a refused answer"), "the document carries a string of the refused answer");
        lvss_bcd_free(bcd);
        free(xml);

        /* the log says which session, which writer and why */
        char *log = itest_read_file(env->lvssd->log_path);
        char want[160];
        snprintf(want, sizeof want, "(session %s) answered PrepareForBackup with a malformed reply", itest_id_str(&sid));
        CHECK(log && strstr(log, want), "lvssd's log has no line with \"%s\"", want);
        free(log);

        itest_requester_release(env, bc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_refused_answer_leaves_no_trace),
        };
        return ITEST_MAIN("issue 11 §2: component wire format", tests);
}

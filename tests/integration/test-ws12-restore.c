/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-12 Restore without metadata, and the restore half of issue 4, at the
 * public API against a real lvssd and real test writers.
 *
 * Restore sequence (writer-status.md): vss_initialize_for_restore(bcd) →
 * (no vss_gather_writer_metadata) → vss_set_selected_for_restore →
 * vss_pre_restore (PreRestore) → files copied → vss_set_file_restore_status
 * → vss_post_restore (PostRestore); status after each success
 * VSS_WS_STABLE. WS-12: after vss_initialize_for_restore a gather without
 * GatherWriterMetadata lists the writers running now (subscribed and
 * answering Identify); failures in PreRestore / PostRestore give
 * FAILED_AT_PRE_RESTORE / FAILED_AT_POST_RESTORE and the writer's failure
 * message for the component.
 *
 * Acceptance lines checked here (issue 4):
 *  A1 "Round trip: a backup in component mode with two writers, the BCD
 *     saved; a restore from it drives PreRestore and PostRestore, and the
 *     status after each is as WS-12 says; a writer told to fail PostRestore
 *     shows [14] Failed with its message."
 *  A2 "The saved BCD holds the writers' backup metadata and stamps; a
 *     restore hands each writer exactly what it stored."
 *
 * The writers of a restore are new processes (new instance ids) of the same
 * writer classes as at backup time: the restore matches components on writer
 * class and instance name (docs/dbus-interface.md, SetSelectedForRestore).
 */

#include <stdio.h>
#include <string.h>

#include "documents/bcd.h"
#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

static void restore_step_ok(itest_env *env, vss_backup_components *bc, itest_async_fn fn, const char *what) {
        CHECK_HR(itest_step(env, bc, fn, what, itest_step_bound(env), NULL), VSS_S_OK, "%s", what);
}

static vss_backup_components *restore_requester(itest_env *env, const char *xml) {
        vss_backup_components *bc = NULL;

        CHECK_HR(vss_create_backup_components(&bc), VSS_S_OK, "vss_create_backup_components");
        if (env->n_requesters < sizeof env->requesters / sizeof env->requesters[0])
                env->requesters[env->n_requesters++] = bc;
        CHECK_HR(vss_initialize_for_restore(bc, xml), VSS_S_OK, "vss_initialize_for_restore");
        return bc;
}

static void select_one(vss_backup_components *bc, const itest_writer *w, const char *name) {
        CHECK_HR(vss_set_selected_for_restore(bc, &w->writer_id, VSS_CT_FILEGROUP, "", name, true), VSS_S_OK,
                 "vss_set_selected_for_restore(%s, %s)", w->name, name);
}

static void file_status_one(vss_backup_components *bc, const itest_writer *w, const char *name,
                            vss_file_restore_status status) {
        CHECK_HR(vss_set_file_restore_status(bc, &w->writer_id, VSS_CT_FILEGROUP, "", name, status), VSS_S_OK,
                 "vss_set_file_restore_status(%s, %s)", w->name, name);
}

/* The entry of @w: STABLE, no failure, from session @sid, last event @event, finished. */
static void check_stable_after(const itest_statuses *st, const itest_writer *w, const vss_id *sid,
                               vss_writer_event event) {
        CHECK_STATUS(st, w, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        const itest_status *e = itest_status_for(st, w);
        CHECK(vss_id_equal(&e->s.session_id, sid), "%s: status from session %s, expected %s", w->p.label,
              itest_id_str(&e->s.session_id), itest_id_str(sid));
        CHECK(e->s.last_event == event && !e->s.event_in_progress, "%s: last event %s%s, expected %s finished",
              w->p.label, vss_writer_event_name(e->s.last_event), e->s.event_in_progress ? " (in progress)" : "",
              vss_writer_event_name(event));
}

/* One string of the document or of a report: both none, or equal. */
static void check_str(const char *what, const char *got, const char *expected) {
        bool same = (!got || !*got) ? (!expected || !*expected) : (expected && strcmp(got, expected) == 0);
        CHECK(same, "%s: got \"%s\", expected \"%s\"", what, got ? got : "(none)", expected ? expected : "(none)");
}

static const lvss_bcd_writer *bcd_writer(const lvss_bcd *bcd, const itest_writer *w) {
        for (size_t i = 0; i < bcd->n_writers; i++)
                if (vss_id_equal(&bcd->writers[i].instance_id, &w->instance_id))
                        return &bcd->writers[i];
        return NULL;
}

static const lvss_bcd_component *bcd_component(const lvss_bcd *bcd, const itest_writer *w, const char *name) {
        for (size_t i = 0; i < bcd->n_components; i++)
                if (vss_id_equal(&bcd->components[i].instance_id, &w->instance_id) &&
                    strcmp(bcd->components[i].name, name) == 0)
                        return &bcd->components[i];
        return NULL;
}

/*
 * A2 (first half): the saved document holds, for @w, its metadata document
 * (describing this very writer) and, in component @name, the backup metadata
 * it stored in PrepareForBackup and the stamp it stored in PostSnapshot.
 */
static void check_bcd_holds(const lvss_bcd *bcd, const itest_writer *w, const char *name, const char *metadata,
                            const vss_id *set) {
        const lvss_bcd_writer *bw = bcd_writer(bcd, w);
        CHECK(bw, "A2: the document has no writer %s (%s)", w->name, itest_id_str(&w->instance_id));
        CHECK(vss_id_equal(&bw->writer_id, &w->writer_id), "A2: %s: writer id %s in the document", w->name,
              itest_id_str(&bw->writer_id));
        check_str("A2: writer name in the document", bw->writer_name, w->name);
        CHECK(bw->metadata_xml && *bw->metadata_xml, "A2: %s: the document carries no writer metadata", w->name);

        vss_examine_writer_metadata *md = NULL;
        vss_id iid, wid;
        const char *wname = NULL;
        CHECK_HR(vss_examine_writer_metadata_load_xml(bw->metadata_xml, &md), VSS_S_OK,
                 "A2: %s: the writer metadata in the document does not load", w->name);
        CHECK_HR(vss_examine_writer_metadata_get_identity(md, &iid, &wid, &wname, NULL, NULL, NULL), VSS_S_OK,
                 "get_identity");
        CHECK(vss_id_equal(&iid, &w->instance_id) && vss_id_equal(&wid, &w->writer_id) && wname &&
                      strcmp(wname, w->name) == 0,
              "A2: %s: the metadata in the document describes %s / %s '%s'", w->name, itest_id_str(&iid),
              itest_id_str(&wid), wname ? wname : "");
        vss_examine_writer_metadata_release(md);

        const lvss_bcd_component *c = bcd_component(bcd, w, name);
        CHECK(c, "A2: the document has no component %s of %s", name, w->name);
        CHECK(c->type == VSS_CT_FILEGROUP, "A2: %s/%s: type %d", w->name, name, (int) c->type);
        CHECK(c->backup_succeeded, "A2: %s/%s: backup_succeeded is false after SetBackupSucceeded", w->name, name);
        check_str("A2: backup metadata in the document", c->backup_metadata, metadata);
        check_str("A2: backup stamp in the document", c->backup_stamp, itest_id_str(set));
}

/*
 * A2 (second half): in @event, writer @w was handed component @name with the
 * backup metadata and stamp it stored at backup time, selected, and the
 * restore metadata / file restore status expected at that point.
 */
static void check_handed(itest_env *env, itest_writer *w, const char *event, const vss_id *sid, const char *name,
                         const char *metadata, const vss_id *set, const char *restore_metadata,
                         vss_file_restore_status frs) {
        itest_restore_report r;
        char what[256];

        itest_restore_report_get(env, w, event, sid, &r);
        CHECK(r.found, "%s got no %s in session %s", w->p.label, event, itest_id_str(sid));
        const itest_restore_component *c = itest_restore_report_find(&r, name);
        CHECK(c, "%s: %s handed no component %s", w->p.label, event, name);
        snprintf(what, sizeof what, "A2: %s %s/%s backup metadata", event, w->name, name);
        check_str(what, c->backup_metadata, metadata);
        snprintf(what, sizeof what, "A2: %s %s/%s backup stamp", event, w->name, name);
        check_str(what, c->backup_stamp, itest_id_str(set));
        snprintf(what, sizeof what, "%s %s/%s restore metadata", event, w->name, name);
        check_str(what, c->restore_metadata, restore_metadata);
        CHECK(c->selected, "%s: %s: component %s is not selected", w->p.label, event, name);
        CHECK(c->type == VSS_CT_FILEGROUP, "%s: %s: component %s has type %u", w->p.label, event, name, c->type);
        CHECK(c->file_restore_status == (unsigned) frs, "%s: %s: component %s file restore status %u, expected %u",
              w->p.label, event, name, c->file_restore_status, (unsigned) frs);
        itest_restore_report_free(&r);
}

/* ---- A1 + A2: the round trip with two writers ------------------------------------ */

static void test_ws12_round_trip_two_writers(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A", "--component", "db", "--component", "logs", "--restore-metadata",
                                 "restore note of A");
        itest_writer *b = WRITER(env, "B", "--component", "data", "--restore-metadata", "restore note of B");
        itest_writer *ws[] = { a, b };
        vss_id set;

        char *xml = itest_backup_with_components(env, ws, 2, &set);

        /* A2: what the saved document holds */
        lvss_bcd *bcd = NULL;
        int r = lvss_bcd_from_xml(xml, &bcd);
        CHECK(r >= 0, "A2: the saved document does not parse: %s", strerror(-r));
        CHECK(vss_id_equal(&bcd->snapshot_set_id, &set), "A2: set id %s in the document, expected %s",
              itest_id_str(&bcd->snapshot_set_id), itest_id_str(&set));
        CHECK(bcd->select_components, "A2: the document does not say component mode");
        CHECK(bcd->n_writers == 2 && bcd->n_components == 3, "A2: %zu writers and %zu components, expected 2 and 3",
              bcd->n_writers, bcd->n_components);
        check_bcd_holds(bcd, a, "db", "lvss-test-writer A", &set);
        check_bcd_holds(bcd, a, "logs", "lvss-test-writer A", &set);
        check_bcd_holds(bcd, b, "data", "lvss-test-writer B", &set);
        lvss_bcd_free(bcd);

        /* the applications restart for the restore: new processes, same writer classes; and one more writer */
        vss_id a_id = a->writer_id, b_id = b->writer_id;
        itest_writer_stop(env, a);
        itest_writer_stop(env, b);
        itest_writer *a2 = WRITER_ID(env, "A", &a_id, "--component", "db", "--component", "logs",
                                     "--restore-metadata", "restore note of A");
        itest_writer *b2 = WRITER_ID(env, "B", &b_id, "--component", "data", "--restore-metadata",
                                     "restore note of B");
        itest_writer *c = WRITER(env, "C");

        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        itest_statuses st;

        /* WS-12: no GatherWriterMetadata, and the gather lists the writers running now, all stable */
        itest_gather_status(env, bc, &st);
        itest_writer *now[] = { a2, b2, c };
        itest_check_status_set(&st, &sid, now, 3);
        for (size_t i = 0; i < 3; i++)
                CHECK_STATUS(&st, now[i], VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        /* vss-reference 2.3 step 6: a component the document does not have */
        CHECK_HR(vss_set_selected_for_restore(bc, &b_id, VSS_CT_FILEGROUP, "", "no-such-component", true),
                 VSS_E_OBJECT_NOT_FOUND, "selecting a component the document does not hold");

        select_one(bc, a2, "db");
        select_one(bc, a2, "logs");
        select_one(bc, b2, "data");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");

        /* WS-12 / writer-status.md: STABLE after PreRestore; C owns no component and got no PreRestore */
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, now, 3);
        check_stable_after(&st, a2, &sid, VSS_EVENT_PRE_RESTORE);
        check_stable_after(&st, b2, &sid, VSS_EVENT_PRE_RESTORE);
        CHECK_STATUS(&st, c, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        CHECK(itest_count_events(c, "PreRestore", NULL, NULL) == 0, "C owns no component but got PreRestore");

        /* A2: PreRestore hands each writer what it stored, and no file status yet */
        check_handed(env, a2, "PreRestore", &sid, "db", "lvss-test-writer A", &set, NULL, VSS_RS_UNDEFINED);
        check_handed(env, a2, "PreRestore", &sid, "logs", "lvss-test-writer A", &set, NULL, VSS_RS_UNDEFINED);
        check_handed(env, b2, "PreRestore", &sid, "data", "lvss-test-writer B", &set, NULL, VSS_RS_UNDEFINED);

        /* the files come back (the test data is already there), then their status */
        file_status_one(bc, a2, "db", VSS_RS_ALL);
        file_status_one(bc, a2, "logs", VSS_RS_ALL);
        file_status_one(bc, b2, "data", VSS_RS_ALL);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, now, 3);
        check_stable_after(&st, a2, &sid, VSS_EVENT_POST_RESTORE);
        check_stable_after(&st, b2, &sid, VSS_EVENT_POST_RESTORE);
        CHECK_STATUS(&st, c, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        CHECK(itest_count_events(c, "PostRestore", NULL, NULL) == 0, "C owns no component but got PostRestore");

        /* PostRestore: the same, plus the restore metadata each writer stored in PreRestore and the file status */
        check_handed(env, a2, "PostRestore", &sid, "db", "lvss-test-writer A", &set, "restore note of A", VSS_RS_ALL);
        check_handed(env, a2, "PostRestore", &sid, "logs", "lvss-test-writer A", &set, "restore note of A",
                     VSS_RS_ALL);
        check_handed(env, b2, "PostRestore", &sid, "data", "lvss-test-writer B", &set, "restore note of B",
                     VSS_RS_ALL);

        /*
         * Release: BackupShutdown to every writer of the session, and a restore whose PostRestore
         * went out ends completed (session.c, session_finalize); its writers are told so (WS-3's
         * "the writer is told", for a restore).
         */
        itest_requester_release(env, bc);
        char *end = itest_wait_session_end(env, &sid, NULL, itest_ms(env, 10000));
        CHECK(strcmp(end, "completed") == 0, "the restore session ended as '%s', expected 'completed'", end);
        free(end);
        for (size_t i = 0; i < 3; i++) {
                itest_wait_event(env, now[i], "BackupShutdown", &sid, "ok", itest_ms(env, 10000));
                itest_wait_line_must(env, &now[i]->p, "session completed", itest_ms(env, 10000));
        }
        free(xml);
}

/* ---- A2: strings come back byte for byte ---------------------------------------------- */

static void test_ws12_restore_hands_back_exact_strings(void **state) {
        itest_env *env = *state;
        /* markup, quotes, a CDATA end, a comment end, tab, CR, LF, non-ASCII, percent signs, leading/trailing blanks */
        static const char tricky_a[] = "  a<b>&c;&amp; \"double\" 'single' ]]> --> <!-- %41 \t tab\r\nCRLF\nLF "
                                       "\xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x92\xbe  ";
        static const char tricky_b[] = "B's own: {0000-not-an-id} = \xe6\x97\xa5\xe6\x9c\xac / <x y=\"1\"/>";
        static const char restore_a[] = "restore <A>\n\t& more\r";
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A", "--backup-metadata", tricky_a);
        itest_writer *b = WRITER(env, "B", "--backup-metadata", tricky_b);
        itest_writer *ws[] = { a, b };
        vss_id set;

        char *xml = itest_backup_with_components(env, ws, 2, &set);
        lvss_bcd *bcd = NULL;
        int r = lvss_bcd_from_xml(xml, &bcd);
        CHECK(r >= 0, "the saved document does not parse: %s", strerror(-r));
        check_bcd_holds(bcd, a, "data", tricky_a, &set);
        check_bcd_holds(bcd, b, "data", tricky_b, &set);
        lvss_bcd_free(bcd);

        vss_id a_id = a->writer_id, b_id = b->writer_id;
        itest_writer_stop(env, a);
        itest_writer_stop(env, b);
        itest_writer *a2 = WRITER_ID(env, "A", &a_id, "--restore-metadata", restore_a);
        itest_writer *b2 = WRITER_ID(env, "B", &b_id);

        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        select_one(bc, a2, "data");
        select_one(bc, b2, "data");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        check_handed(env, a2, "PreRestore", &sid, "data", tricky_a, &set, NULL, VSS_RS_UNDEFINED);
        check_handed(env, b2, "PreRestore", &sid, "data", tricky_b, &set, NULL, VSS_RS_UNDEFINED);
        file_status_one(bc, a2, "data", VSS_RS_ALL);
        file_status_one(bc, b2, "data", VSS_RS_FAILED);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");
        check_handed(env, a2, "PostRestore", &sid, "data", tricky_a, &set, restore_a, VSS_RS_ALL);
        check_handed(env, b2, "PostRestore", &sid, "data", tricky_b, &set, NULL, VSS_RS_FAILED);

        /* vss-reference 6.2: the restore session's own document carries what the requester and writers set */
        char *again = NULL;
        CHECK_HR(vss_save_as_xml(bc, &again), VSS_S_OK, "vss_save_as_xml in a restore session");
        r = lvss_bcd_from_xml(again, &bcd);
        CHECK(r >= 0, "the restore session's document does not parse: %s", strerror(-r));
        const lvss_bcd_component *ca = NULL, *cb = NULL;
        for (size_t i = 0; i < bcd->n_components; i++) {
                if (vss_id_equal(&bcd->components[i].writer_id, &a_id))
                        ca = &bcd->components[i];
                if (vss_id_equal(&bcd->components[i].writer_id, &b_id))
                        cb = &bcd->components[i];
        }
        CHECK(ca && cb, "the restore session's document lacks a component");
        check_str("restore document: A's backup metadata", ca->backup_metadata, tricky_a);
        check_str("restore document: A's restore metadata", ca->restore_metadata, restore_a);
        CHECK(ca->selected_for_restore && cb->selected_for_restore, "restore document: components not selected");
        CHECK(ca->file_restore_status == VSS_RS_ALL && cb->file_restore_status == VSS_RS_FAILED,
              "restore document: file restore status %d / %d, expected ALL / FAILED", (int) ca->file_restore_status,
              (int) cb->file_restore_status);
        lvss_bcd_free(bcd);
        free(again);

        itest_requester_release(env, bc);
        free(xml);
}

/* ---- A1 / WS-12: failures at PreRestore and PostRestore --------------------------------- */

static void test_ws12_restore_failures_carry_the_message(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *b = WRITER(env, "B");
        itest_writer *p = WRITER(env, "P");
        itest_writer *q = WRITER(env, "Q");
        itest_writer *ws[] = { a, b, p, q };
        vss_id set;

        char *xml = itest_backup_with_components(env, ws, 4, &set);
        vss_id ids[4] = { a->writer_id, b->writer_id, p->writer_id, q->writer_id };
        for (size_t i = 0; i < 4; i++)
                itest_writer_stop(env, ws[i]);

        /*
         * A: fine. B: fails PostRestore with a code and an application message (SetWriterFailureEx).
         * P: fails PreRestore and says why only in the component (SetPreRestoreFailureMsg, return false).
         * Q: fails PostRestore the same way (SetPostRestoreFailureMsg, return false).
         */
        itest_writer *a2 = WRITER_ID(env, "A", &ids[0]);
        itest_writer *b2 = WRITER_ID(env, "B", &ids[1], "--fail-at", "PostRestore", "--fail-code",
                                     "VSS_E_WRITERERROR_NONRETRYABLE", "--app-result", "0x80070070",
                                     "--app-message", "B: no space left to replay the log");
        itest_writer *p2 = WRITER_ID(env, "P", &ids[2], "--fail-at", "PreRestore", "--fail-mode", "return",
                                     "--restore-failure-msg", "P: the service is still running");
        itest_writer *q2 = WRITER_ID(env, "Q", &ids[3], "--fail-at", "PostRestore", "--fail-mode", "return",
                                     "--restore-failure-msg", "Q: restored files fail their checksum");
        itest_writer *now[] = { a2, b2, p2, q2 };

        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        for (size_t i = 0; i < 4; i++)
                select_one(bc, now[i], "data");

        /* a writer's failure is its status, not the step's result */
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, now, 4);
        check_stable_after(&st, a2, &sid, VSS_EVENT_PRE_RESTORE);
        check_stable_after(&st, b2, &sid, VSS_EVENT_PRE_RESTORE);
        check_stable_after(&st, q2, &sid, VSS_EVENT_PRE_RESTORE);
        /* WS-12 + WS-4: FAILED_AT_PRE_RESTORE, NONRETRYABLE (no code set), the component's message */
        CHECK_STATUS(&st, p2, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK,
                     "P: the service is still running");
        itest_statuses_free(&st);

        for (size_t i = 0; i < 4; i++)
                if (now[i] != p2)
                        file_status_one(bc, now[i], "data", VSS_RS_ALL);
        file_status_one(bc, p2, "data", VSS_RS_NONE);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");

        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, now, 4);
        check_stable_after(&st, a2, &sid, VSS_EVENT_POST_RESTORE);
        /* A1: the writer told to fail PostRestore: [14] with its own words */
        CHECK(VSS_WS_FAILED_AT_POST_RESTORE == 14, "VSS_WS_FAILED_AT_POST_RESTORE is not 14");
        CHECK_STATUS(&st, b2, VSS_WS_FAILED_AT_POST_RESTORE, VSS_E_WRITERERROR_NONRETRYABLE, (vss_hresult) 0x80070070,
                     "B: no space left to replay the log");
        CHECK_STATUS(&st, q2, VSS_WS_FAILED_AT_POST_RESTORE, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK,
                     "Q: restored files fail their checksum");
        /* the requester still learns after PostRestore that P failed PreRestore */
        CHECK_STATUS(&st, p2, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_E_WRITERERROR_NONRETRYABLE, VSS_S_OK,
                     "P: the service is still running");
        const itest_status *e = itest_status_for(&st, b2);
        CHECK(e->s.last_event == VSS_EVENT_POST_RESTORE, "B: last event %s", vss_writer_event_name(e->s.last_event));
        itest_statuses_free(&st);

        /* the failure messages are in the restore session's document too (vss-reference 6.2) */
        char *again = NULL;
        lvss_bcd *bcd = NULL;
        CHECK_HR(vss_save_as_xml(bc, &again), VSS_S_OK, "vss_save_as_xml in a restore session");
        int r = lvss_bcd_from_xml(again, &bcd);
        CHECK(r >= 0, "the restore session's document does not parse: %s", strerror(-r));
        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *c = &bcd->components[i];
                if (vss_id_equal(&c->writer_id, &ids[2]))
                        check_str("P's pre-restore failure message in the document", c->pre_restore_failure_msg,
                                  "P: the service is still running");
                if (vss_id_equal(&c->writer_id, &ids[3]))
                        check_str("Q's post-restore failure message in the document", c->post_restore_failure_msg,
                                  "Q: restored files fail their checksum");
        }
        lvss_bcd_free(bcd);
        free(again);

        itest_requester_release(env, bc);
        free(xml);
}

/* ---- WS-12: "the writers running now" ---------------------------------------------- */

static void test_ws12_gather_lists_the_writers_running_now(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *b = WRITER(env, "B");
        itest_writer *ws[] = { a, b };

        char *xml = itest_backup_with_components(env, ws, 2, NULL);

        /* B's application is gone; D runs now and was never backed up; H runs but does not answer Identify */
        vss_id b_id = b->writer_id;
        itest_writer_kill(env, b);
        itest_writer *d = WRITER(env, "D");
        itest_writer *h = WRITER(env, "H", "--hang-at", "Identify");

        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        itest_statuses st;

        /* bounded by the Identify deadline (1.5 s, scaled) plus the margin; only A and D are listed */
        uint64_t t0 = itest_now_mono_usec();
        itest_gather_status(env, bc, &st);
        uint64_t ms = (itest_now_mono_usec() - t0) / 1000;
        CHECK(ms <= itest_ms(env, 1500) + itest_margin_ms(env),
              "WS-12: the gather took %llu ms, past the Identify deadline", (unsigned long long) ms);
        itest_writer *running[] = { a, d };
        itest_check_status_set(&st, &sid, running, 2);
        CHECK_STATUS(&st, a, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        CHECK_STATUS(&st, d, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        CHECK(!itest_status_for(&st, h), "WS-12: H does not answer Identify but is listed");
        itest_statuses_free(&st);

        /* vss-reference 2.3 step 6: selecting a component of a writer that is not running */
        CHECK_HR(vss_set_selected_for_restore(bc, &b_id, VSS_CT_FILEGROUP, "", "data", true), VSS_E_OBJECT_NOT_FOUND,
                 "selecting B's component while B is not running");
        select_one(bc, a, "data");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        CHECK(itest_count_events(a, "PreRestore", &sid, "ok") == 1, "A got no PreRestore");
        CHECK(itest_count_events(d, "PreRestore", NULL, NULL) == 0, "D owns no component but got PreRestore");
        file_status_one(bc, a, "data", VSS_RS_ALL);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");
        itest_gather_status(env, bc, &st);
        check_stable_after(&st, a, &sid, VSS_EVENT_POST_RESTORE);
        CHECK(!itest_status_for(&st, h), "WS-12: H does not answer Identify but is listed");
        itest_statuses_free(&st);

        itest_requester_release(env, bc);
        free(xml);
}

/* ---- call order of the restore calls (WS-11 applied to the restore sequence) ------------- */

static void test_ws12_restore_call_order(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *ws[] = { a };
        vss_async *as = NULL;

        char *xml = itest_backup_with_components(env, ws, 1, NULL);
        vss_backup_components *bc = restore_requester(env, xml);

        /* SetFileRestoreStatus and PostRestore belong after PreRestore */
        CHECK_HR(vss_set_file_restore_status(bc, &a->writer_id, VSS_CT_FILEGROUP, "", "data", VSS_RS_ALL),
                 VSS_E_BAD_STATE, "vss_set_file_restore_status before PreRestore");
        CHECK_HR(vss_post_restore(bc, &as), VSS_E_BAD_STATE, "vss_post_restore before PreRestore");
        /* a second InitializeForRestore on one object */
        CHECK_HR(vss_initialize_for_restore(bc, xml), VSS_E_BAD_STATE, "a second vss_initialize_for_restore");
        /* backup calls in a restore session */
        CHECK_HR(vss_prepare_for_backup(bc, &as), VSS_E_BAD_STATE, "vss_prepare_for_backup in a restore");

        select_one(bc, a, "data");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        CHECK_HR(vss_pre_restore(bc, &as), VSS_E_BAD_STATE, "a second vss_pre_restore");
        CHECK_HR(vss_set_selected_for_restore(bc, &a->writer_id, VSS_CT_FILEGROUP, "", "data", false),
                 VSS_E_BAD_STATE, "vss_set_selected_for_restore after PreRestore");
        file_status_one(bc, a, "data", VSS_RS_ALL);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");
        CHECK_HR(vss_post_restore(bc, &as), VSS_E_BAD_STATE, "a second vss_post_restore");
        CHECK_HR(vss_set_file_restore_status(bc, &a->writer_id, VSS_CT_FILEGROUP, "", "data", VSS_RS_ALL),
                 VSS_E_BAD_STATE, "vss_set_file_restore_status after PostRestore");
        CHECK(itest_count_events(a, "PreRestore", NULL, "begin") == 1 &&
                      itest_count_events(a, "PostRestore", NULL, "begin") == 1,
              "refused calls changed something: %zu PreRestore, %zu PostRestore",
              itest_count_events(a, "PreRestore", NULL, "begin"), itest_count_events(a, "PostRestore", NULL, "begin"));

        /* restore calls in a backup session */
        vss_backup_components *bk = itest_requester(env, true);
        CHECK_HR(vss_set_selected_for_restore(bk, &a->writer_id, VSS_CT_FILEGROUP, "", "data", true),
                 VSS_E_BAD_STATE, "vss_set_selected_for_restore in a backup");
        CHECK_HR(vss_pre_restore(bk, &as), VSS_E_BAD_STATE, "vss_pre_restore in a backup");

        itest_requester_release(env, bk);
        itest_requester_release(env, bc);
        free(xml);
}

/* ---- the restore type reaches the writer --------------------------------------------- */

/*
 * docs/dbus-interface.md: the event context carries `restore_type` where it
 * applies, and include/lvss/writer.h: vss_writer_get_restore_type() is
 * VSS_RTYPE_UNDEFINED only outside a restore handler. A restore session
 * without SetRestoreState restores by copy (restore.c: VSS_RTYPE_BY_COPY).
 */
static void test_ws12_restore_type_reaches_the_writer(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *ws[] = { a };
        itest_restore_report r;

        char *xml = itest_backup_with_components(env, ws, 1, NULL);
        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        select_one(bc, a, "data");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        file_status_one(bc, a, "data", VSS_RS_ALL);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");
        static const char *const events[] = { "PreRestore", "PostRestore" };
        for (size_t i = 0; i < 2; i++) {
                itest_restore_report_get(env, a, events[i], &sid, &r);
                CHECK(r.found, "A got no %s", events[i]);
                CHECK(r.restore_type == VSS_RTYPE_BY_COPY,
                      "vss_writer_get_restore_type() in %s says %u, expected VSS_RTYPE_BY_COPY (%u)", events[i],
                      r.restore_type, (unsigned) VSS_RTYPE_BY_COPY);
                itest_restore_report_free(&r);
        }
        itest_requester_release(env, bc);
        free(xml);
}

/* ---- the optional GatherWriterMetadata of a restore ------------------------------------------- */

/*
 * writer-status.md: vss_initialize_for_restore(bcd) → (optional
 * vss_gather_writer_metadata) → ...; WS-1: only writers whose Identify
 * succeeded are listed, metadata and status counts equal. With the gather,
 * the sequence and the status after each step are the same.
 */
static void test_ws12_restore_with_metadata_gather(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *ws[] = { a };
        vss_id set;

        char *xml = itest_backup_with_components(env, ws, 1, &set);
        vss_id a_id = a->writer_id;
        itest_writer_stop(env, a);
        itest_writer *a2 = WRITER_ID(env, "A", &a_id);
        itest_writer *x = WRITER(env, "X", "--fail-at", "Identify");

        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        restore_step_ok(env, bc, vss_gather_writer_metadata, "vss_gather_writer_metadata");
        unsigned n_md = 0;
        vss_id iid;
        vss_examine_writer_metadata *md = NULL;
        CHECK_HR(vss_get_writer_metadata_count(bc, &n_md), VSS_S_OK, "vss_get_writer_metadata_count");
        CHECK(n_md == 1, "WS-1: %u writers in the metadata of a restore, expected 1 (X failed Identify)", n_md);
        CHECK_HR(vss_get_writer_metadata(bc, 0, &iid, &md), VSS_S_OK, "vss_get_writer_metadata");
        CHECK(vss_id_equal(&iid, &a2->instance_id), "the metadata is not the running A's");

        select_one(bc, a2, "data");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        itest_writer *only[] = { a2 };
        itest_check_status_set(&st, &sid, only, 1);
        check_stable_after(&st, a2, &sid, VSS_EVENT_PRE_RESTORE);
        CHECK(!itest_status_for(&st, x), "WS-1: X failed Identify but has a status");
        itest_statuses_free(&st);
        check_handed(env, a2, "PreRestore", &sid, "data", "lvss-test-writer A", &set, NULL, VSS_RS_UNDEFINED);
        file_status_one(bc, a2, "data", VSS_RS_ALL);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");
        itest_gather_status(env, bc, &st);
        check_stable_after(&st, a2, &sid, VSS_EVENT_POST_RESTORE);
        itest_statuses_free(&st);
        check_handed(env, a2, "PostRestore", &sid, "data", "lvss-test-writer A", &set, NULL, VSS_RS_ALL);

        itest_requester_release(env, bc);
        free(xml);
}

/* ---- WS-5 in a restore: a writer that dies or hangs ----------------------------------------- */

/*
 * WS-5: a writer that misses an event's deadline, or whose connection drops
 * while an event is outstanding, gets VSS_WS_FAILED_AT_<E> with
 * VSS_E_WRITER_NOT_RESPONDING, and no requester call waits on it longer
 * than the deadline. Applied to PreRestore and PostRestore (WS-12's states).
 */
static void test_ws12_restore_writer_dies_or_hangs(void **state) {
        itest_env *env = *state;
        static const itest_lvssd_opts short_opts = { .identify_timeout_ms = 1500, .event_timeout_ms = 1500 };
        itest_start_lvssd(env, &short_opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *h = WRITER(env, "H");
        itest_writer *k = WRITER(env, "K");
        itest_writer *ws[] = { a, h, k };

        char *xml = itest_backup_with_components(env, ws, 3, NULL);
        vss_id ids[3] = { a->writer_id, h->writer_id, k->writer_id };
        for (size_t i = 0; i < 3; i++)
                itest_writer_stop(env, ws[i]);
        itest_writer *a2 = WRITER_ID(env, "A", &ids[0]);
        itest_writer *h2 = WRITER_ID(env, "H", &ids[1], "--hang-at", "PreRestore");
        itest_writer *k2 = WRITER_ID(env, "K", &ids[2], "--crash-at", "PostRestore");

        vss_backup_components *bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        select_one(bc, a2, "data");
        select_one(bc, h2, "data");
        select_one(bc, k2, "data");
        uint64_t ms = 0;
        CHECK_HR(itest_step(env, bc, vss_pre_restore, "vss_pre_restore",
                            itest_ms(env, 1500) * 2 + itest_margin_ms(env), &ms),
                 VSS_S_OK, "vss_pre_restore with a writer hanging in it");
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        check_stable_after(&st, a2, &sid, VSS_EVENT_PRE_RESTORE);
        check_stable_after(&st, k2, &sid, VSS_EVENT_PRE_RESTORE);
        CHECK_STATUS(&st, h2, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        file_status_one(bc, a2, "data", VSS_RS_ALL);
        file_status_one(bc, k2, "data", VSS_RS_ALL);
        CHECK_HR(itest_step(env, bc, vss_post_restore, "vss_post_restore",
                            itest_ms(env, 1500) + itest_margin_ms(env), &ms),
                 VSS_S_OK, "vss_post_restore with a writer dying in it");
        itest_gather_status(env, bc, &st);
        check_stable_after(&st, a2, &sid, VSS_EVENT_POST_RESTORE);
        CHECK_STATUS(&st, k2, VSS_WS_FAILED_AT_POST_RESTORE, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        CHECK_STATUS(&st, h2, VSS_WS_FAILED_AT_PRE_RESTORE, VSS_E_WRITER_NOT_RESPONDING, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        itest_requester_release(env, bc);
        free(xml);
}

/* ---- matching: writer class and instance name; selection per component ------------------------- */

/*
 * docs/dbus-interface.md: restore components are matched to the writers
 * running now by writer class and instance name (instance ids are new in
 * every run); vss-reference 2.3 step 6: a component whose writer is not
 * running cannot be selected. A writer with a selected component is handed
 * all its components of the document, each saying whether it is selected
 * (IVssComponent::IsSelectedForRestore).
 */
static void test_ws12_restore_matches_class_and_instance(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A", "--instance", "one", "--component", "db", "--component", "logs");
        itest_writer *ws[] = { a };
        vss_id set;

        char *xml = itest_backup_with_components(env, ws, 1, &set);
        vss_id a_id = a->writer_id;
        itest_writer_stop(env, a);

        /* the same class under another instance name is another writer */
        itest_writer *other = WRITER_ID(env, "A", &a_id, "--instance", "two", "--component", "db", "--component",
                                        "logs");
        vss_backup_components *bc = restore_requester(env, xml);
        CHECK_HR(vss_set_selected_for_restore(bc, &a_id, VSS_CT_FILEGROUP, "", "db", true), VSS_E_OBJECT_NOT_FOUND,
                 "selecting instance 'one''s component while only instance 'two' runs");
        itest_requester_release(env, bc);

        itest_writer *a2 = WRITER_ID(env, "A", &a_id, "--instance", "one", "--component", "db", "--component", "logs");
        bc = restore_requester(env, xml);
        vss_id sid = itest_session_id(bc);
        CHECK_HR(vss_set_selected_for_restore(bc, &a_id, VSS_CT_DATABASE, "", "db", true), VSS_E_OBJECT_NOT_FOUND,
                 "selecting with the wrong component type");
        select_one(bc, a2, "db");
        restore_step_ok(env, bc, vss_pre_restore, "vss_pre_restore");
        CHECK(itest_count_events(other, "PreRestore", NULL, NULL) == 0, "instance 'two' got PreRestore");

        itest_restore_report r;
        itest_restore_report_get(env, a2, "PreRestore", &sid, &r);
        CHECK(r.found && r.n == 2, "A was handed %zu components, expected its 2", r.n);
        const itest_restore_component *db = itest_restore_report_find(&r, "db"),
                                      *logs = itest_restore_report_find(&r, "logs");
        CHECK(db && logs, "A was not handed db and logs");
        CHECK(db->selected && !logs->selected, "selected: db %d, logs %d; expected 1, 0", db->selected,
              logs->selected);
        check_str("logs' backup metadata", logs->backup_metadata, "lvss-test-writer A");
        check_str("logs' backup stamp", logs->backup_stamp, itest_id_str(&set));
        itest_restore_report_free(&r);
        CHECK_HR(vss_set_file_restore_status(bc, &a_id, VSS_CT_FILEGROUP, "", "logs", VSS_RS_ALL),
                 VSS_E_OBJECT_NOT_FOUND, "a file restore status for a component not selected");
        file_status_one(bc, a2, "db", VSS_RS_ALL);
        restore_step_ok(env, bc, vss_post_restore, "vss_post_restore");
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        check_stable_after(&st, a2, &sid, VSS_EVENT_POST_RESTORE);
        CHECK_STATUS(&st, other, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);

        itest_requester_release(env, bc);
        free(xml);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_ws12_round_trip_two_writers),
                ITEST(test_ws12_restore_hands_back_exact_strings),
                ITEST(test_ws12_restore_failures_carry_the_message),
                ITEST(test_ws12_gather_lists_the_writers_running_now),
                ITEST(test_ws12_restore_call_order),
                ITEST(test_ws12_restore_with_metadata_gather),
                ITEST(test_ws12_restore_writer_dies_or_hangs),
                ITEST(test_ws12_restore_matches_class_and_instance),
                ITEST(test_ws12_restore_type_reaches_the_writer),
        };
        return ITEST_MAIN("WS-12 restore", tests);
}

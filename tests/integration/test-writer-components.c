/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §3 bullet 2: a requester reads the components of a session's
 * Backup Components Document through the public API, VSS's
 * GetWriterComponents family (IVssBackupComponents::GetWriterComponentsCount
 * / GetWriterComponents → IVssWriterComponentsExt::GetWriterInfo,
 * GetComponentCount, GetComponent → IVssComponent getters), against a real
 * lvssd and real test writers:
 *  - in a backup: the writers and their components, each component's
 *    backup-succeeded flag as the requester set it, the backup metadata and
 *    stamp the writers stored, the writer's metadata at backup time;
 *  - in a restore from the saved document: the selection for restore, the
 *    file restore status, the restore metadata and a writer's post-restore
 *    failure message, each read after the step that sets it; and a writer's
 *    handler sees IsSelectedForRestore for its components in PreRestore;
 *  - every bad argument and out-of-order call gets its VSS code, and the
 *    objects are read-only (setters: VSS_E_BAD_STATE).
 */

#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

static void check_str(const char *what, const char *got, const char *expected) {
        bool same = (!got || !*got) ? (!expected || !*expected) : (expected && strcmp(got, expected) == 0);
        CHECK(same, "%s: got \"%s\", expected \"%s\"", what, got ? got : "(none)", expected ? expected : "(none)");
}

/* The set of @w among the document's; fails the test when there is none or more than one. */
static vss_writer_components *set_of(vss_backup_components *bc, unsigned n, const itest_writer *w) {
        vss_writer_components *found = NULL;

        for (unsigned i = 0; i < n; i++) {
                vss_writer_components *c = NULL;
                vss_id iid, wid;

                CHECK_HR(vss_backup_components_get_writer_components(bc, i, &c), VSS_S_OK,
                         "get_writer_components(%u)", i);
                CHECK_HR(vss_writer_components_get_writer_info(c, &iid, &wid), VSS_S_OK, "get_writer_info(%u)", i);
                if (!vss_id_equal(&wid, &w->writer_id))
                        continue;
                CHECK(!found, "two sets of components for writer %s", w->name);
                found = c;
        }
        CHECK(found, "GetWriterComponents: no set for writer %s", w->name);
        return found;
}

static vss_component *component_of(vss_writer_components *c, const char *name) {
        unsigned n = 0;
        vss_component *found = NULL;

        CHECK_HR(vss_writer_components_get_count(c, &n), VSS_S_OK, "get_count");
        for (unsigned i = 0; i < n; i++) {
                vss_component *item = NULL;
                CHECK_HR(vss_writer_components_get_component(c, i, &item), VSS_S_OK, "get_component(%u)", i);
                if (strcmp(vss_component_get_name(item), name) == 0)
                        found = item;
        }
        CHECK(found, "no component %s", name);
        return found;
}

/* The writer's names and its metadata at backup time, which describes this very writer. */
static void check_writer_identity(vss_writer_components *c, const itest_writer *w, const vss_id *instance_id) {
        const char *name = NULL, *instance = "unset", *xml = NULL, *md_name = NULL;
        vss_examine_writer_metadata *md = NULL;
        vss_id iid, wid;

        CHECK_HR(vss_writer_components_get_writer_info(c, &iid, &wid), VSS_S_OK, "get_writer_info");
        CHECK(vss_id_equal(&iid, instance_id) && vss_id_equal(&wid, &w->writer_id),
              "GetWriterInfo of %s: %s / %s", w->name, itest_id_str(&iid), itest_id_str(&wid));
        CHECK_HR(vss_writer_components_get_writer_name(c, &name, &instance), VSS_S_OK, "get_writer_name");
        check_str("writer name", name, w->name);
        CHECK(!instance, "%s: instance name \"%s\", expected none", w->name, instance);
        CHECK_HR(vss_writer_components_get_writer_metadata_xml(c, &xml), VSS_S_OK, "get_writer_metadata_xml");
        CHECK_HR(vss_examine_writer_metadata_load_xml(xml, &md), VSS_S_OK, "the writer metadata does not load");
        CHECK_HR(vss_examine_writer_metadata_get_identity(md, &iid, &wid, &md_name, NULL, NULL, NULL), VSS_S_OK,
                 "get_identity");
        CHECK(vss_id_equal(&iid, instance_id) && vss_id_equal(&wid, &w->writer_id) && strcmp(md_name, w->name) == 0,
              "the metadata of %s in the document describes %s '%s'", w->name, itest_id_str(&iid), md_name);
        vss_examine_writer_metadata_release(md);
}

/* A backup in component mode where the requester confirms only @confirmed of A's components. */
static char *backup_confirming(itest_env *env, itest_writer *a, itest_writer *b, vss_id *ret_set,
                               vss_backup_components **ret_bc) {
        vss_backup_components *bc = itest_requester(env, true);
        unsigned n = 0;
        vss_writer_components *c = NULL;
        char *xml = NULL;

        /* bad arguments and calls out of order, before anything is in the document */
        CHECK_HR(vss_backup_components_get_writer_components_count(NULL, &n), VSS_E_INVALIDARG, "count(NULL bc)");
        CHECK_HR(vss_backup_components_get_writer_components_count(bc, NULL), VSS_E_INVALIDARG, "count(NULL ret)");
        CHECK_HR(vss_backup_components_get_writer_components(bc, 0, &c), VSS_E_BAD_STATE,
                 "get_writer_components before a count");
        CHECK_HR(vss_backup_components_get_writer_components(NULL, 0, &c), VSS_E_INVALIDARG, "get(NULL bc)");
        CHECK_HR(vss_backup_components_get_writer_components(bc, 0, NULL), VSS_E_INVALIDARG, "get(NULL ret)");

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_add_component(bc, &a->instance_id, &a->writer_id, VSS_CT_FILEGROUP, NULL, "db"), VSS_S_OK,
                 "add db");
        CHECK_HR(vss_add_component(bc, &a->instance_id, &a->writer_id, VSS_CT_FILEGROUP, NULL, "logs"), VSS_S_OK,
                 "add logs");
        CHECK_HR(vss_add_component(bc, &b->instance_id, &b->writer_id, VSS_CT_FILEGROUP, NULL, "data"), VSS_S_OK,
                 "add data");
        *ret_set = itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        CHECK_HR(vss_set_backup_succeeded(bc, &a->instance_id, &a->writer_id, VSS_CT_FILEGROUP, NULL, "db", true),
                 VSS_S_OK, "backup succeeded: db");
        CHECK_HR(vss_set_backup_succeeded(bc, &b->instance_id, &b->writer_id, VSS_CT_FILEGROUP, NULL, "data", true),
                 VSS_S_OK, "backup succeeded: data");
        /* "logs" stays unconfirmed */
        STEP_OK(env, bc, vss_backup_complete);
        CHECK_HR(vss_save_as_xml(bc, &xml), VSS_S_OK, "vss_save_as_xml");
        *ret_bc = bc;
        return xml;
}

/* ---- issue 11 §3 bullet 2: a backup's document -------------------------------------------- */

static void test_writer_components_of_a_backup(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A", "--component", "db", "--component", "logs");
        itest_writer *b = WRITER(env, "B", "--component", "data", "--backup-metadata", "B's <own> & \xc3\xbc");
        vss_backup_components *bc = NULL, *fresh = NULL;
        unsigned n = 0, nc = 0;
        vss_id set;

        /* before InitializeForBackup there is no document */
        CHECK_HR(vss_create_backup_components(&fresh), VSS_S_OK, "vss_create_backup_components");
        CHECK_HR(vss_backup_components_get_writer_components_count(fresh, &n), VSS_E_BAD_STATE,
                 "count before InitializeForBackup");
        vss_backup_components_release(fresh);

        char *xml = backup_confirming(env, a, b, &set, &bc);
        free(xml);

        vss_id doc_set;
        bool select = false;
        vss_backup_type type = VSS_BT_UNDEFINED;
        CHECK_HR(vss_backup_components_get_document_info(bc, &doc_set, &select, &type), VSS_E_BAD_STATE,
                 "get_document_info before a count");
        CHECK_HR(vss_backup_components_get_document_info(NULL, &doc_set, &select, &type), VSS_E_INVALIDARG,
                 "get_document_info(NULL)");
        n = 99;
        CHECK_HR(vss_backup_components_get_writer_components_count(bc, &n), VSS_S_OK, "count");
        CHECK_HR(vss_backup_components_get_document_info(bc, &doc_set, &select, &type), VSS_S_OK,
                 "get_document_info");
        CHECK(vss_id_equal(&doc_set, &set) && select && type == VSS_BT_FULL,
              "document info: set %s (expected %s), component mode %d, backup type %d", itest_id_str(&doc_set),
              itest_id_str(&set), select, (int) type);
        CHECK(n == 2, "GetWriterComponentsCount: %u, expected 2 (A and B)", n);
        vss_writer_components *ca = set_of(bc, n, a), *cb = set_of(bc, n, b), *none = NULL;
        CHECK_HR(vss_backup_components_get_writer_components(bc, n, &none), VSS_E_OBJECT_NOT_FOUND,
                 "get_writer_components(count)");
        CHECK(!none, "an output written on failure");
        check_writer_identity(ca, a, &a->instance_id);
        check_writer_identity(cb, b, &b->instance_id);

        CHECK_HR(vss_writer_components_get_count(ca, &nc), VSS_S_OK, "get_count(A)");
        CHECK(nc == 2, "A has %u components in the document, expected 2", nc);
        CHECK_HR(vss_writer_components_get_count(cb, &nc), VSS_S_OK, "get_count(B)");
        CHECK(nc == 1, "B has %u components in the document, expected 1", nc);

        vss_component *db = component_of(ca, "db"), *logs = component_of(ca, "logs"), *data = component_of(cb, "data");
        /* the requester's SetBackupSucceeded, per component */
        CHECK(vss_component_get_backup_succeeded(db), "db: backup succeeded is false after SetBackupSucceeded");
        CHECK(!vss_component_get_backup_succeeded(logs), "logs: backup succeeded without SetBackupSucceeded");
        CHECK(vss_component_get_backup_succeeded(data), "data: backup succeeded is false");
        /* what each writer stored: PrepareForBackup's metadata, PostSnapshot's stamp (the set id) */
        check_str("db backup metadata", vss_component_get_backup_metadata(db), "lvss-test-writer A");
        check_str("data backup metadata", vss_component_get_backup_metadata(data), "B's <own> & \xc3\xbc");
        check_str("db backup stamp", vss_component_get_backup_stamp(db), itest_id_str(&set));
        check_str("data backup stamp", vss_component_get_backup_stamp(data), itest_id_str(&set));
        CHECK(vss_component_get_type(db) == VSS_CT_FILEGROUP, "db: type %d", (int) vss_component_get_type(db));
        CHECK(!vss_component_get_logical_path(db), "db: a logical path \"%s\"", vss_component_get_logical_path(db));
        CHECK(vss_component_is_selected(db), "db was added but is not selected");
        CHECK(!vss_component_is_selected_for_restore(db), "a backup selected db for restore");
        CHECK(vss_component_get_file_restore_status(db) == VSS_RS_UNDEFINED, "a backup has a file restore status");

        /* read-only for the requester: it changes the document through vss_backup_components calls */
        CHECK_HR(vss_component_set_backup_metadata(db, "x"), VSS_E_BAD_STATE, "set_backup_metadata");
        CHECK_HR(vss_component_set_restore_metadata(db, "x"), VSS_E_BAD_STATE, "set_restore_metadata");
        /* bad arguments on the objects */
        vss_id iid;
        const char *s = NULL;
        vss_component *item = NULL;
        CHECK_HR(vss_writer_components_get_writer_info(NULL, &iid, &iid), VSS_E_INVALIDARG, "get_writer_info(NULL)");
        CHECK_HR(vss_writer_components_get_writer_info(ca, NULL, &iid), VSS_E_INVALIDARG, "get_writer_info(, NULL)");
        CHECK_HR(vss_writer_components_get_writer_name(NULL, &s, &s), VSS_E_INVALIDARG, "get_writer_name(NULL)");
        CHECK_HR(vss_writer_components_get_writer_metadata_xml(ca, NULL), VSS_E_INVALIDARG, "metadata_xml(, NULL)");
        CHECK_HR(vss_writer_components_get_component(ca, 2, &item), VSS_E_OBJECT_NOT_FOUND, "get_component(2)");
        CHECK(!vss_component_is_selected_for_restore(NULL) && !vss_component_get_pre_restore_failure_msg(NULL) &&
                      !vss_component_get_post_restore_failure_msg(NULL),
              "getters of a NULL component");

        /* a second count reads the document again and gives the same */
        CHECK_HR(vss_backup_components_get_writer_components_count(bc, &n), VSS_S_OK, "count again");
        CHECK(n == 2, "second count: %u", n);
        itest_requester_release(env, bc);
}

/* ---- issue 11 §3 bullet 2: a restore's document, step by step -------------------------------- */

static void test_writer_components_of_a_restore(void **state) {
        itest_env *env = *state;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A", "--component", "db", "--component", "logs");
        itest_writer *b = WRITER(env, "B", "--component", "data");
        vss_backup_components *bc = NULL;
        unsigned n = 0;
        vss_id set;

        char *xml = backup_confirming(env, a, b, &set, &bc);
        itest_requester_release(env, bc);

        /* the applications restart: new processes of the same writer classes; A fails PostRestore */
        vss_id a_id = a->writer_id, b_id = b->writer_id, a_iid = a->instance_id;
        itest_writer_stop(env, a);
        itest_writer_stop(env, b);
        itest_writer *a2 = WRITER_ID(env, "A", &a_id, "--component", "db", "--component", "logs",
                                     "--restore-metadata", "restore note of A", "--fail-at", "PostRestore",
                                     "--restore-failure-msg", "A could not reopen db");
        itest_writer *b2 = WRITER_ID(env, "B", &b_id, "--component", "data");

        CHECK_HR(vss_create_backup_components(&bc), VSS_S_OK, "vss_create_backup_components");
        CHECK_HR(vss_initialize_for_restore(bc, xml), VSS_S_OK, "vss_initialize_for_restore");
        vss_id sid = itest_session_id(bc);

        /* the document as loaded: the writers as they were at backup time, nothing selected yet */
        CHECK_HR(vss_backup_components_get_writer_components_count(bc, &n), VSS_S_OK, "count");
        CHECK(n == 2, "GetWriterComponentsCount after InitializeForRestore: %u, expected 2", n);
        check_writer_identity(set_of(bc, n, a2), a2, &a_iid);
        vss_component *db = component_of(set_of(bc, n, a2), "db");
        CHECK(!vss_component_is_selected_for_restore(db), "db selected for restore before SetSelectedForRestore");
        CHECK(vss_component_get_backup_succeeded(db), "db: the document lost its backup-succeeded flag");
        CHECK(!vss_component_get_backup_succeeded(component_of(set_of(bc, n, a2), "logs")),
              "logs: unconfirmed at backup time, confirmed in the document");

        CHECK_HR(vss_set_selected_for_restore(bc, &a_id, VSS_CT_FILEGROUP, "", "db", true), VSS_S_OK, "select db");
        CHECK_HR(vss_set_selected_for_restore(bc, &b_id, VSS_CT_FILEGROUP, "", "data", true), VSS_S_OK,
                 "select data");
        /* the objects of the earlier reading stay valid until the next count: read again */
        CHECK_HR(vss_backup_components_get_writer_components_count(bc, &n), VSS_S_OK, "count after selection");
        CHECK(vss_component_is_selected_for_restore(component_of(set_of(bc, n, a2), "db")),
              "db: SetSelectedForRestore not in the document");
        CHECK(!vss_component_is_selected_for_restore(component_of(set_of(bc, n, a2), "logs")),
              "logs: selected for restore without SetSelectedForRestore");

        STEP_OK(env, bc, vss_pre_restore);
        /* the writer's side of IsSelectedForRestore: A's handler sees db selected for restore, logs not */
        itest_restore_report rep;
        itest_restore_report_get(env, a2, "PreRestore", &sid, &rep);
        CHECK(rep.found, "A got no PreRestore");
        const itest_restore_component *rdb = itest_restore_report_find(&rep, "db");
        CHECK(rdb && rdb->selected_for_restore, "PreRestore: A's handler does not see db selected for restore");
        const itest_restore_component *rlogs = itest_restore_report_find(&rep, "logs");
        CHECK(!rlogs || !rlogs->selected_for_restore, "PreRestore: A's handler sees logs selected for restore");
        itest_restore_report_free(&rep);
        CHECK_HR(vss_set_file_restore_status(bc, &a_id, VSS_CT_FILEGROUP, "", "db", VSS_RS_ALL), VSS_S_OK,
                 "file status db");
        CHECK_HR(vss_set_file_restore_status(bc, &b_id, VSS_CT_FILEGROUP, "", "data", VSS_RS_FAILED), VSS_S_OK,
                 "file status data");
        (void) itest_step(env, bc, vss_post_restore, "vss_post_restore (A fails it)", itest_step_bound(env), NULL);
        itest_wait_event(env, a2, "PostRestore", NULL, "fail", itest_ms(env, 10000));

        CHECK_HR(vss_backup_components_get_writer_components_count(bc, &n), VSS_S_OK, "count after PostRestore");
        db = component_of(set_of(bc, n, a2), "db");
        vss_component *data = component_of(set_of(bc, n, b2), "data");
        CHECK(vss_component_get_file_restore_status(db) == VSS_RS_ALL, "db: file restore status %d, expected ALL",
              (int) vss_component_get_file_restore_status(db));
        CHECK(vss_component_get_file_restore_status(data) == VSS_RS_FAILED,
              "data: file restore status %d, expected FAILED", (int) vss_component_get_file_restore_status(data));
        check_str("db restore metadata (stored by A in PreRestore)", vss_component_get_restore_metadata(db),
                  "restore note of A");
        check_str("db post-restore failure message", vss_component_get_post_restore_failure_msg(db),
                  "A could not reopen db");
        check_str("db pre-restore failure message", vss_component_get_pre_restore_failure_msg(db), NULL);
        check_str("data post-restore failure message", vss_component_get_post_restore_failure_msg(data), NULL);
        check_str("db backup stamp", vss_component_get_backup_stamp(db), itest_id_str(&set));

        vss_backup_components_release(bc);
        free(xml);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_writer_components_of_a_backup),
                ITEST(test_writer_components_of_a_restore),
        };
        return ITEST_MAIN("writer-components", tests);
}

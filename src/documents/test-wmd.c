/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: the Writer Metadata Document (docs/documents.md, api.md
 * metadata.h, vss-reference.md §6.1): building, XML, examining, round trip,
 * argument checks, and a loader that refuses every malformed or hostile
 * input with VSS_E_INVALID_XML_DOCUMENT.
 *
 * "test-wmd --write-corpus DIR" writes the samples used here as seed files
 * for the fuzzer (tests/fuzz-corpus/wmd/).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <lvss/metadata.h>

#include "basic/util.h"
#include "wmd.h"

static const vss_id instance_id = { { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98,
                                      0xba, 0xdc, 0xfe } };
static const vss_id writer_id = { { 0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xc1, 0xc2, 0xd1, 0xd2, 0xe1, 0xe2, 0xe3,
                                    0xe4, 0xe5, 0xe6 } };
static const vss_id other_writer_id = { { 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55,
                                          0x55, 0x55, 0x55, 0x55 } };
static const uint8_t icon[] = { 0x89, 'P', 'N', 'G', 0x00, 0xff, 0x10, 0x20, 0x30, 0x40 };

#define MASK_DEFAULT (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED)
#define SCHEMA (VSS_BS_DIFFERENTIAL | VSS_BS_LOG | VSS_BS_WRITER_SUPPORTS_PARALLEL_RESTORES)

/* ---- helpers ------------------------------------------------------------- */

static vss_create_writer_metadata *new_md(void) {
        vss_create_writer_metadata *md = NULL;

        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "Test Writer", "instance one", VSS_UT_USERDATA,
                                      VSS_ST_TRANSACTEDDB, &md),
                         0);
        assert_non_null(md);
        return md;
}

/* The full sample of the task: two components, files, database + logs, excludes, restore, schema, dependency. */
static vss_create_writer_metadata *build_sample(void) {
        vss_create_writer_metadata *md = new_md();

        assert_int_equal(vss_create_writer_metadata_set_restore_method(md, VSS_RME_STOP_RESTORE_START, "pg.service",
                                                                       "https://example.org/restore",
                                                                       VSS_WRE_IF_REPLACE_FAILS, true),
                         VSS_S_OK);

        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "etc", "config",
                                                                  "Configuration", icon, sizeof icon, true, false,
                                                                  true, true,
                                                                  VSS_CF_BACKUP_RECOVERY | VSS_CF_NOT_SYSTEM_STATE),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "/etc/pg", "*.conf",
                                                                            true, NULL, MASK_DEFAULT),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "/etc/pg/extra",
                                                                            "pg_hba.conf", false, "/srv/alt",
                                                                            VSS_FSBT_FULL_BACKUP_REQUIRED),
                         VSS_S_OK);

        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, NULL, "main", NULL, NULL, 0,
                                                                  false, true, false, false, 0),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_database_files(md, "", "main", "/var/lib/pg", "main.db",
                                                                       MASK_DEFAULT),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_database_files(md, NULL, "main", "/var/lib/pg/more",
                                                                       "*.db", VSS_FSBT_CREATED_DURING_BACKUP),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_database_log_files(md, NULL, "main", "/var/lib/pg/wal",
                                                                           "*.wal", VSS_FSBT_LOG_BACKUP_REQUIRED),
                         VSS_S_OK);

        assert_int_equal(vss_create_writer_metadata_add_exclude_files(md, "/var/lib/pg", "*.tmp", true), VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_exclude_files(md, "/var/lib/pg/run", "lock", false),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_set_backup_schema(md, SCHEMA), VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(md, NULL, "main", &other_writer_id,
                                                                             "etc", "config"),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(md, "", "main", &writer_id, NULL,
                                                                             "other"),
                         VSS_S_OK);
        return md;
}

static vss_examine_writer_metadata *load(const char *xml) {
        vss_examine_writer_metadata *e = NULL;

        assert_int_equal(vss_examine_writer_metadata_load_xml(xml, &e), VSS_S_OK);
        assert_non_null(e);
        return e;
}

static vss_examine_writer_metadata *to_examine(vss_create_writer_metadata *md) {
        vss_examine_writer_metadata *e;
        char *xml = NULL;

        assert_int_equal(lvss_wmd_to_xml(md, &xml), 0);
        assert_non_null(xml);
        e = load(xml);
        free(xml);
        return e;
}

static void assert_str_equal_or_null(const char *a, const char *b) {
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_file_desc(const vss_file_desc *f, const char *path, const char *filespec, bool recursive,
                             const char *alternate, uint32_t mask) {
        assert_string_equal(f->path, path);
        assert_string_equal(f->filespec, filespec);
        assert_int_equal(f->recursive, recursive);
        assert_str_equal_or_null(f->alternate_location, alternate);
        assert_int_equal(f->backup_type_mask, mask);
}

static void assert_file_desc_equal(const vss_file_desc *a, const vss_file_desc *b) {
        assert_file_desc(a, b->path, b->filespec, b->recursive, b->alternate_location, b->backup_type_mask);
}

/* load(save(x)) == x, field by field, through the public getters and the internal ones. */
static void assert_examine_equal(vss_examine_writer_metadata *a, vss_examine_writer_metadata *b) {
        vss_id ia, wa, ib, wb;
        const char *na, *nb, *ina, *inb, *sa, *sb, *ua, *ub;
        vss_usage_type usa, usb;
        vss_source_type sra, srb;
        unsigned inca, incb, exa, exb, ca, cb;
        vss_restoremethod ma, mb;
        vss_writerrestore wra, wrb;
        bool ra, rb;
        uint32_t scha, schb;

        assert_int_equal(vss_examine_writer_metadata_get_identity(a, &ia, &wa, &na, &ina, &usa, &sra), VSS_S_OK);
        assert_int_equal(vss_examine_writer_metadata_get_identity(b, &ib, &wb, &nb, &inb, &usb, &srb), VSS_S_OK);
        assert_true(vss_id_equal(&ia, &ib));
        assert_true(vss_id_equal(&wa, &wb));
        assert_string_equal(na, nb);
        assert_str_equal_or_null(ina, inb);
        assert_int_equal(usa, usb);
        assert_int_equal(sra, srb);

        assert_int_equal(vss_examine_writer_metadata_get_restore_method(a, &ma, &sa, &ua, &wra, &ra),
                         vss_examine_writer_metadata_get_restore_method(b, &mb, &sb, &ub, &wrb, &rb));
        assert_int_equal(ma, mb);
        assert_str_equal_or_null(sa, sb);
        assert_str_equal_or_null(ua, ub);
        assert_int_equal(wra, wrb);
        assert_int_equal(ra, rb);

        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(a, &scha), VSS_S_OK);
        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(b, &schb), VSS_S_OK);
        assert_int_equal(scha, schb);

        assert_int_equal(vss_examine_writer_metadata_get_file_counts(a, &inca, &exa, &ca), VSS_S_OK);
        assert_int_equal(vss_examine_writer_metadata_get_file_counts(b, &incb, &exb, &cb), VSS_S_OK);
        assert_int_equal(inca, incb);
        assert_int_equal(exa, exb);
        assert_int_equal(ca, cb);

        for (unsigned i = 0; i < exa; i++) {
                const vss_file_desc *fa, *fb;

                assert_int_equal(vss_examine_writer_metadata_get_exclude_file(a, i, &fa), VSS_S_OK);
                assert_int_equal(vss_examine_writer_metadata_get_exclude_file(b, i, &fb), VSS_S_OK);
                assert_file_desc_equal(fa, fb);
        }

        for (unsigned i = 0; i < ca; i++) {
                const vss_component_info *x, *y;
                const uint8_t *icon_a, *icon_b;
                uint32_t size_a, size_b;

                assert_int_equal(vss_examine_writer_metadata_get_component(a, i, &x), VSS_S_OK);
                assert_int_equal(vss_examine_writer_metadata_get_component(b, i, &y), VSS_S_OK);
                assert_int_equal(x->type, y->type);
                assert_str_equal_or_null(x->logical_path, y->logical_path);
                assert_string_equal(x->component_name, y->component_name);
                assert_str_equal_or_null(x->caption, y->caption);
                assert_int_equal(x->restore_metadata, y->restore_metadata);
                assert_int_equal(x->notify_on_backup_complete, y->notify_on_backup_complete);
                assert_int_equal(x->selectable, y->selectable);
                assert_int_equal(x->selectable_for_restore, y->selectable_for_restore);
                assert_int_equal(x->component_flags, y->component_flags);
                assert_int_equal(x->file_count, y->file_count);
                assert_int_equal(x->database_count, y->database_count);
                assert_int_equal(x->log_file_count, y->log_file_count);
                assert_int_equal(x->dependency_count, y->dependency_count);
                for (unsigned k = 0; k < x->file_count; k++)
                        assert_file_desc_equal(&x->files[k], &y->files[k]);
                for (unsigned k = 0; k < x->database_count; k++)
                        assert_file_desc_equal(&x->databases[k], &y->databases[k]);
                for (unsigned k = 0; k < x->log_file_count; k++)
                        assert_file_desc_equal(&x->log_files[k], &y->log_files[k]);
                for (unsigned k = 0; k < x->dependency_count; k++) {
                        const lvss_wmd_dependency *da, *db;

                        assert_int_equal(lvss_wmd_examine_get_dependency(a, i, k, &da), 0);
                        assert_int_equal(lvss_wmd_examine_get_dependency(b, i, k, &db), 0);
                        assert_true(vss_id_equal(&da->on_writer_id, &db->on_writer_id));
                        assert_str_equal_or_null(da->on_logical_path, db->on_logical_path);
                        assert_string_equal(da->on_component_name, db->on_component_name);
                }
                assert_int_equal(lvss_wmd_examine_get_icon(a, i, &icon_a, &size_a), 0);
                assert_int_equal(lvss_wmd_examine_get_icon(b, i, &icon_b, &size_b), 0);
                assert_int_equal(size_a, size_b);
                if (size_a > 0)
                        assert_memory_equal(icon_a, icon_b, size_a);
                else
                        assert_null(icon_a), assert_null(icon_b);
        }
}

/* save, load again, compare; and the saved text is stable. */
static void assert_round_trip(vss_examine_writer_metadata *e) {
        vss_examine_writer_metadata *again;
        char *xml1 = NULL, *xml2 = NULL;

        assert_int_equal(vss_examine_writer_metadata_save_as_xml(e, &xml1), VSS_S_OK);
        again = load(xml1);
        assert_examine_equal(e, again);
        assert_int_equal(vss_examine_writer_metadata_save_as_xml(again, &xml2), VSS_S_OK);
        assert_string_equal(xml1, xml2);
        free(xml1);
        free(xml2);
        vss_examine_writer_metadata_release(again);
}

/* ---- building and examining ---------------------------------------------- */

static void test_build_and_examine(void **state) {
        vss_create_writer_metadata *md = build_sample();
        vss_examine_writer_metadata *e = to_examine(md);
        const vss_component_info *c, *found;
        const lvss_wmd_dependency *dep;
        const vss_file_desc *f;
        const uint8_t *ic;
        uint32_t ic_size, schema = 0;
        vss_id iid, wid;
        const char *name, *iname, *service, *procedure;
        vss_usage_type usage;
        vss_source_type source;
        unsigned inc = 99, exc = 0, comps = 0;
        vss_restoremethod method;
        vss_writerrestore wr;
        bool reboot;

        assert_int_equal(vss_examine_writer_metadata_get_identity(e, &iid, &wid, &name, &iname, &usage, &source),
                         VSS_S_OK);
        assert_true(vss_id_equal(&iid, &instance_id));
        assert_true(vss_id_equal(&wid, &writer_id));
        assert_string_equal(name, "Test Writer");
        assert_string_equal(iname, "instance one");
        assert_int_equal(usage, VSS_UT_USERDATA);
        assert_int_equal(source, VSS_ST_TRANSACTEDDB);
        /* every output is optional */
        assert_int_equal(vss_examine_writer_metadata_get_identity(e, NULL, NULL, NULL, NULL, NULL, NULL), VSS_S_OK);

        assert_int_equal(vss_examine_writer_metadata_get_file_counts(e, &inc, &exc, &comps), VSS_S_OK);
        assert_int_equal(inc, 0); /* reserved in VSS */
        assert_int_equal(exc, 2);
        assert_int_equal(comps, 2);

        assert_int_equal(vss_examine_writer_metadata_get_restore_method(e, &method, &service, &procedure, &wr,
                                                                        &reboot),
                         VSS_S_OK);
        assert_int_equal(method, VSS_RME_STOP_RESTORE_START);
        assert_string_equal(service, "pg.service");
        assert_string_equal(procedure, "https://example.org/restore");
        assert_int_equal(wr, VSS_WRE_IF_REPLACE_FAILS);
        assert_true(reboot);

        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(e, &schema), VSS_S_OK);
        assert_int_equal(schema, SCHEMA);

        assert_int_equal(vss_examine_writer_metadata_get_exclude_file(e, 0, &f), VSS_S_OK);
        assert_file_desc(f, "/var/lib/pg", "*.tmp", true, NULL, 0);
        assert_int_equal(vss_examine_writer_metadata_get_exclude_file(e, 1, &f), VSS_S_OK);
        assert_file_desc(f, "/var/lib/pg/run", "lock", false, NULL, 0);

        assert_int_equal(vss_examine_writer_metadata_get_component(e, 0, &c), VSS_S_OK);
        assert_int_equal(c->type, VSS_CT_FILEGROUP);
        assert_string_equal(c->logical_path, "etc");
        assert_string_equal(c->component_name, "config");
        assert_string_equal(c->caption, "Configuration");
        assert_true(c->restore_metadata);
        assert_false(c->notify_on_backup_complete);
        assert_true(c->selectable);
        assert_true(c->selectable_for_restore);
        assert_int_equal(c->component_flags, VSS_CF_BACKUP_RECOVERY | VSS_CF_NOT_SYSTEM_STATE);
        assert_int_equal(c->file_count, 2);
        assert_int_equal(c->database_count, 0);
        assert_int_equal(c->log_file_count, 0);
        assert_int_equal(c->dependency_count, 0);
        assert_file_desc(&c->files[0], "/etc/pg", "*.conf", true, NULL, MASK_DEFAULT);
        assert_file_desc(&c->files[1], "/etc/pg/extra", "pg_hba.conf", false, "/srv/alt",
                         VSS_FSBT_FULL_BACKUP_REQUIRED);
        assert_int_equal(lvss_wmd_examine_get_icon(e, 0, &ic, &ic_size), 0);
        assert_int_equal(ic_size, sizeof icon);
        assert_memory_equal(ic, icon, sizeof icon);

        assert_int_equal(vss_examine_writer_metadata_get_component(e, 1, &c), VSS_S_OK);
        assert_int_equal(c->type, VSS_CT_DATABASE);
        assert_null(c->logical_path);
        assert_string_equal(c->component_name, "main");
        assert_null(c->caption);
        assert_false(c->restore_metadata);
        assert_true(c->notify_on_backup_complete);
        assert_false(c->selectable);
        assert_false(c->selectable_for_restore);
        assert_int_equal(c->component_flags, 0);
        assert_int_equal(c->file_count, 0);
        assert_int_equal(c->database_count, 2);
        assert_int_equal(c->log_file_count, 1);
        assert_int_equal(c->dependency_count, 2);
        assert_file_desc(&c->databases[0], "/var/lib/pg", "main.db", false, NULL, MASK_DEFAULT);
        assert_file_desc(&c->databases[1], "/var/lib/pg/more", "*.db", false, NULL, VSS_FSBT_CREATED_DURING_BACKUP);
        assert_file_desc(&c->log_files[0], "/var/lib/pg/wal", "*.wal", false, NULL, VSS_FSBT_LOG_BACKUP_REQUIRED);
        assert_int_equal(lvss_wmd_examine_get_icon(e, 1, &ic, &ic_size), 0);
        assert_null(ic);
        assert_int_equal(ic_size, 0);

        assert_int_equal(lvss_wmd_examine_get_dependency(e, 1, 0, &dep), 0);
        assert_true(vss_id_equal(&dep->on_writer_id, &other_writer_id));
        assert_string_equal(dep->on_logical_path, "etc");
        assert_string_equal(dep->on_component_name, "config");
        assert_int_equal(lvss_wmd_examine_get_dependency(e, 1, 1, &dep), 0);
        assert_true(vss_id_equal(&dep->on_writer_id, &writer_id));
        assert_null(dep->on_logical_path);
        assert_string_equal(dep->on_component_name, "other");
        assert_int_equal(lvss_wmd_examine_get_dependency(e, 1, 2, &dep), -ENOENT);
        assert_int_equal(lvss_wmd_examine_get_dependency(e, 2, 0, &dep), -ENOENT);

        assert_int_equal(lvss_wmd_examine_find_component(e, "etc", "config", &found), 0);
        assert_string_equal(found->component_name, "config");
        assert_int_equal(lvss_wmd_examine_find_component(e, "", "main", &found), 0);
        assert_int_equal(found->type, VSS_CT_DATABASE);
        assert_int_equal(lvss_wmd_examine_find_component(e, NULL, "main", &found), 0);
        assert_int_equal(lvss_wmd_examine_find_component(e, "etc", "main", &found), -ENOENT);
        assert_int_equal(lvss_wmd_examine_find_component(e, NULL, NULL, &found), -EINVAL);

        assert_round_trip(e);

        vss_examine_writer_metadata_release(e);
        lvss_wmd_free(md);
}

static void test_xml_text(void **state) {
        /* the element and attribute names of docs/documents.md */
        vss_create_writer_metadata *md = build_sample();
        char *xml = NULL;

        assert_int_equal(lvss_wmd_to_xml(md, &xml), 0);
        assert_non_null(strstr(xml, "<WRITER_METADATA version=\"1.0\">"));
        assert_non_null(strstr(xml, "instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\""));
        assert_non_null(strstr(xml, "usage=\"USER_DATA\""));
        assert_non_null(strstr(xml, "dataSource=\"TRANSACTED_DB\""));
        assert_non_null(strstr(xml, "<BACKUP_LOCATIONS>"));
        assert_non_null(strstr(xml, "<FILE_GROUP logicalPath=\"etc\" componentName=\"config\""));
        assert_non_null(strstr(xml, "icon=\"iVBORwD/ECAwQA==\""));
        assert_non_null(strstr(xml, "<DATABASE componentName=\"main\""));
        assert_non_null(strstr(xml, "<FILE_LIST path=\"/etc/pg/extra\" filespec=\"pg_hba.conf\" recursive=\"false\" "
                                    "alternatePath=\"/srv/alt\" filespecBackupType=\"0x1\"/>"));
        assert_non_null(strstr(xml, "<DATABASE_FILES path=\"/var/lib/pg\" filespec=\"main.db\" "
                                    "filespecBackupType=\"0xf0f\"/>"));
        assert_non_null(strstr(xml, "<DATABASE_LOGFILES "));
        assert_non_null(strstr(xml, "<EXCLUDE_FILES path=\"/var/lib/pg\" filespec=\"*.tmp\" recursive=\"true\"/>"));
        assert_non_null(strstr(xml, "<DEPENDENCY onWriterId=\"{11111111-2222-3333-4444-555555555555}\" "
                                    "onLogicalPath=\"etc\" onComponentName=\"config\"/>"));
        assert_non_null(strstr(xml, "<RESTORE_METHOD method=\"STOP_RESTORE_START\" service=\"pg.service\""));
        assert_non_null(strstr(xml, "writerRestore=\"IF_REPLACE_FAILS\" rebootRequired=\"true\"/>"));
        assert_non_null(strstr(xml, "<BACKUP_SCHEMA value=\"0x8009\"/>"));
        free(xml);
        lvss_wmd_free(md);
}

static void test_minimal_document(void **state) {
        /* no restore method: S_FALSE with everything undefined; no schema: VSS_BS_UNDEFINED (full only) */
        vss_create_writer_metadata *md;
        vss_examine_writer_metadata *e;
        vss_restoremethod method = 77;
        vss_writerrestore wr = 77;
        const char *service = "x", *procedure = "x", *iname = "x";
        bool reboot = true;
        uint32_t schema = 1;
        unsigned inc, exc, comps;

        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w", NULL, VSS_UT_UNDEFINED, VSS_ST_UNDEFINED, &md),
                         0);
        e = to_examine(md);
        assert_int_equal(vss_examine_writer_metadata_get_restore_method(e, &method, &service, &procedure, &wr,
                                                                        &reboot),
                         VSS_S_FALSE);
        assert_int_equal(method, VSS_RME_UNDEFINED);
        assert_null(service);
        assert_null(procedure);
        assert_int_equal(wr, VSS_WRE_UNDEFINED);
        assert_false(reboot);
        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(e, &schema), VSS_S_OK);
        assert_int_equal(schema, VSS_BS_UNDEFINED);
        assert_int_equal(vss_examine_writer_metadata_get_identity(e, NULL, NULL, NULL, &iname, NULL, NULL), VSS_S_OK);
        assert_null(iname);
        assert_int_equal(vss_examine_writer_metadata_get_file_counts(e, &inc, &exc, &comps), VSS_S_OK);
        assert_int_equal(exc, 0);
        assert_int_equal(comps, 0);
        assert_round_trip(e);
        vss_examine_writer_metadata_release(e);
        lvss_wmd_free(md);
}

static void test_special_strings(void **state) {
        /* markup characters, whitespace that XML would normalise, and non-ASCII survive the round trip */
        static const char *const names[] = {
                "a&b<c>d\"e'f",
                "tab\there",
                "line\nfeed and\r\ncrlf",
                "  leading and trailing  ",
                "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe",
                "]]> <!-- not a comment --> &amp;",
        };
        vss_create_writer_metadata *md = new_md();
        vss_examine_writer_metadata *e;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, names[i], names[i],
                                                                          names[i], NULL, 0, false, false, true,
                                                                          false, 0),
                                 VSS_S_OK);
                assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(
                                         md, names[i], names[i], "/data/x", names[i], false, NULL, 0),
                                 VSS_S_OK);
        }
        e = to_examine(md);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const vss_component_info *c;

                assert_int_equal(vss_examine_writer_metadata_get_component(e, (unsigned) i, &c), VSS_S_OK);
                assert_string_equal(c->logical_path, names[i]);
                assert_string_equal(c->component_name, names[i]);
                assert_string_equal(c->caption, names[i]);
                assert_string_equal(c->files[0].filespec, names[i]);
        }
        assert_round_trip(e);
        vss_examine_writer_metadata_release(e);
        lvss_wmd_free(md);
}

static void test_accepted_forms(void **state) {
        /* numbers for enums, decimal and upper-case hex masks, 1/0 booleans, ids without braces, comments */
        static const char xml[] =
                "<?xml version=\"1.0\"?>\n"
                "<!-- a comment -->\n"
                "<WRITER_METADATA version=\"1.0\">\n"
                "  <IDENTIFICATION writerId=\"A1A2A3A4-B1B2-C1C2-D1D2-E1E2E3E4E5E6\" friendlyName=\"w\"\n"
                "      instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" usage=\"2\" dataSource=\"3\"/>\n"
                "  <RESTORE_METHOD method=\"7\" writerRestore=\"ALWAYS\" rebootRequired=\"0\"/>\n"
                "  <BACKUP_LOCATIONS>\n"
                "    <!-- components -->\n"
                "    <DATABASE componentName=\"db\" logicalPath=\"\" caption=\"\" restoreMetadata=\"1\"\n"
                "        notifyOnBackupComplete=\"0\" selectable=\"true\" selectableForRestore=\"false\"\n"
                "        componentFlags=\"2\">\n"
                "      <DATABASE_LOGFILES path=\"/l\" filespec=\"*\" filespecBackupType=\"0X808\"/>\n"
                "      <DATABASE_FILES path=\"/d\" filespec=\"*\" filespecBackupType=\"3855\"></DATABASE_FILES>\n"
                "    </DATABASE>\n"
                "  </BACKUP_LOCATIONS>\n"
                "  <BACKUP_SCHEMA value=\"0x0\"/>\n"
                "</WRITER_METADATA>\n";
        vss_examine_writer_metadata *e = load(xml);
        const vss_component_info *c;
        vss_usage_type usage;
        vss_source_type source;
        vss_restoremethod method;
        vss_writerrestore wr;
        bool reboot = true;
        vss_id wid;
        uint32_t schema = 5;

        assert_int_equal(vss_examine_writer_metadata_get_identity(e, NULL, &wid, NULL, NULL, &usage, &source),
                         VSS_S_OK);
        assert_true(vss_id_equal(&wid, &writer_id));
        assert_int_equal(usage, VSS_UT_SYSTEMSERVICE);
        assert_int_equal(source, VSS_ST_OTHER);
        assert_int_equal(vss_examine_writer_metadata_get_restore_method(e, &method, NULL, NULL, &wr, &reboot),
                         VSS_S_OK);
        assert_int_equal(method, VSS_RME_CUSTOM);
        assert_int_equal(wr, VSS_WRE_ALWAYS);
        assert_false(reboot);
        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(e, &schema), VSS_S_OK);
        assert_int_equal(schema, 0);
        assert_int_equal(vss_examine_writer_metadata_get_component(e, 0, &c), VSS_S_OK);
        assert_null(c->logical_path); /* "" is the root, read as NULL */
        assert_null(c->caption);
        assert_true(c->restore_metadata);
        assert_int_equal(c->component_flags, VSS_CF_APP_ROLLBACK_RECOVERY);
        assert_int_equal(c->log_files[0].backup_type_mask, 0x808);
        assert_int_equal(c->databases[0].backup_type_mask, 0xf0f);
        assert_round_trip(e);
        vss_examine_writer_metadata_release(e);
}

/* ---- argument checks ----------------------------------------------------- */

static void test_argument_checks(void **state) {
        vss_create_writer_metadata *md = build_sample(), *none = (vss_create_writer_metadata *) 0x1;
        vss_examine_writer_metadata *e = to_examine(md), *ne = NULL;
        const vss_component_info *c = NULL;
        const vss_file_desc *f = NULL;
        uint8_t byte = 0;
        uint32_t u;
        char *s = NULL;

        /* lvss_wmd_new: errno results, *ret untouched */
        assert_int_equal(lvss_wmd_new(NULL, &writer_id, "w", NULL, 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, NULL, "w", NULL, 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, NULL, NULL, 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "", NULL, 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w", NULL, 5, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w", NULL, 0, 4, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w\x01", NULL, 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w\xff", NULL, 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w", "\xc0\xaf", 0, 0, &none), -EINVAL);
        assert_int_equal(lvss_wmd_new(&instance_id, &writer_id, "w", NULL, 0, 0, NULL), -EINVAL);
        assert_ptr_equal(none, (vss_create_writer_metadata *) 0x1);
        assert_null(lvss_wmd_free(NULL));
        assert_int_equal(lvss_wmd_to_xml(NULL, &s), -EINVAL);
        assert_int_equal(lvss_wmd_to_xml(md, NULL), -EINVAL);

        /* restore method */
        assert_int_equal(vss_create_writer_metadata_set_restore_method(NULL, VSS_RME_CUSTOM, NULL, NULL,
                                                                       VSS_WRE_NEVER, false),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_set_restore_method(md, 9, NULL, NULL, VSS_WRE_NEVER, false),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_set_restore_method(md, VSS_RME_CUSTOM, NULL, NULL, 4, false),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_STOP_START, NULL, NULL,
                                                                       VSS_WRE_NEVER, false),
                         VSS_E_INVALIDARG); /* a service is needed */
        assert_int_equal(vss_create_writer_metadata_set_restore_method(md, VSS_RME_STOP_RESTORE_START, "", NULL,
                                                                       VSS_WRE_NEVER, false),
                         VSS_E_INVALIDARG);

        /* components */
        assert_int_equal(vss_create_writer_metadata_add_component(NULL, VSS_CT_FILEGROUP, NULL, "x", NULL, NULL, 0,
                                                                  false, false, true, false, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, NULL, NULL, NULL, 0,
                                                                  false, false, true, false, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "", NULL, NULL, 0,
                                                                  false, false, true, false, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_UNDEFINED, NULL, "x", NULL, NULL, 0,
                                                                  false, false, true, false, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component(md, 3, NULL, "x", NULL, NULL, 0, false, false,
                                                                  true, false, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "x", NULL, NULL, 0,
                                                                  false, false, true, false, 0x8),
                         VSS_E_INVALIDARG); /* unknown flag */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "x", NULL, NULL, 4,
                                                                  false, false, true, false, 0),
                         VSS_E_INVALIDARG); /* icon size without icon */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "x", NULL, &byte,
                                                                  LVSS_WMD_ICON_MAX + 1, false, false, true, false,
                                                                  0),
                         VSS_E_INVALIDARG); /* icon too big */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, "", "main", NULL, NULL, 0,
                                                                  false, false, true, false, 0),
                         VSS_E_INVALIDARG); /* duplicate: "" is the root, like NULL */
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, "etc", "config", NULL, NULL,
                                                                  0, false, false, true, false, 0),
                         VSS_E_INVALIDARG); /* duplicate of the other type */

        /* file sets: unknown component → VSS_E_OBJECT_NOT_FOUND */
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, NULL, "config", "/a", "*", false,
                                                                            NULL, 0),
                         VSS_E_OBJECT_NOT_FOUND); /* config lives under "etc" */
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "nope", "/a", "*", false,
                                                                            NULL, 0),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, NULL, "main", "/a", "*", false,
                                                                            NULL, 0),
                         VSS_E_OBJECT_NOT_FOUND); /* main is a database, not a file group */
        assert_int_equal(vss_create_writer_metadata_add_database_files(md, NULL, "nope", "/a", "*", 0),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_create_writer_metadata_add_database_files(md, "etc", "config", "/a", "*", 0),
                         VSS_E_OBJECT_NOT_FOUND); /* config is a file group */
        assert_int_equal(vss_create_writer_metadata_add_database_log_files(md, "x", "main", "/a", "*", 0),
                         VSS_E_OBJECT_NOT_FOUND);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(md, NULL, "nope", &writer_id, NULL,
                                                                             "x"),
                         VSS_E_OBJECT_NOT_FOUND);

        /* file sets: bad arguments */
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(NULL, "etc", "config", "/a", "*", false,
                                                                            NULL, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", NULL, "/a", "*", false, NULL,
                                                                            0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", NULL, "*", false,
                                                                            NULL, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "/a", NULL, false,
                                                                            NULL, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "relative", "*",
                                                                            false, NULL, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "/a", "b/*", false,
                                                                            NULL, 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "/a", "*", false,
                                                                            "alt", 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, "etc", "config", "/a", "*", false,
                                                                            NULL, 0x20000),
                         VSS_E_INVALIDARG); /* unknown VSS_FSBT bit */
        assert_int_equal(vss_create_writer_metadata_add_database_files(md, NULL, "main", "/a", "", 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_database_log_files(md, NULL, "main", NULL, "*", 0),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_exclude_files(NULL, "/a", "*", false), VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_exclude_files(md, NULL, "*", false), VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_exclude_files(md, "/a", NULL, false), VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_set_backup_schema(NULL, 0), VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_set_backup_schema(md, 0x800), VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(NULL, NULL, "main", &writer_id, NULL,
                                                                             "x"),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(md, NULL, NULL, &writer_id, NULL, "x"),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(md, NULL, "main", NULL, NULL, "x"),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_create_writer_metadata_add_component_dependency(md, NULL, "main", &writer_id, NULL,
                                                                             NULL),
                         VSS_E_INVALIDARG);

        /* examine side */
        assert_int_equal(vss_examine_writer_metadata_load_xml(NULL, &ne), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_load_xml("<x/>", NULL), VSS_E_INVALIDARG);
        assert_null(vss_examine_writer_metadata_release(NULL));
        assert_int_equal(vss_examine_writer_metadata_get_identity(NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_file_counts(NULL, NULL, NULL, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_component(NULL, 0, &c), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_component(e, 0, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_component(e, 2, &c), VSS_E_OBJECT_NOT_FOUND);
        assert_null(c);
        assert_int_equal(vss_examine_writer_metadata_get_restore_method(NULL, NULL, NULL, NULL, NULL, NULL),
                         VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_exclude_file(NULL, 0, &f), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_exclude_file(e, 0, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_exclude_file(e, 2, &f), VSS_E_OBJECT_NOT_FOUND);
        assert_null(f);
        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(NULL, &u), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_get_backup_schema(e, NULL), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_save_as_xml(NULL, &s), VSS_E_INVALIDARG);
        assert_int_equal(vss_examine_writer_metadata_save_as_xml(e, NULL), VSS_E_INVALIDARG);
        assert_null(s);

        /* nothing above changed the document */
        {
                vss_examine_writer_metadata *after = to_examine(md);
                assert_examine_equal(e, after);
                vss_examine_writer_metadata_release(after);
        }

        vss_examine_writer_metadata_release(e);
        lvss_wmd_free(md);
}

static void test_builder_limits(void **state) {
        vss_create_writer_metadata *md = new_md();
        char name[32], *xml = NULL, *path;

        for (unsigned i = 0; i < LVSS_WMD_COMPONENTS_MAX; i++) {
                snprintf(name, sizeof name, "c%u", i);
                assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, NULL, name, NULL,
                                                                          NULL, 0, false, false, false, false, 0),
                                 VSS_S_OK);
        }
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, NULL, "one more", NULL, NULL,
                                                                  0, false, false, false, false, 0),
                         VSS_E_INVALIDARG);
        lvss_wmd_free(md);

        /* a document larger than any loader accepts is refused when written */
        md = new_md();
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "big", NULL, NULL, 0,
                                                                  false, false, true, false, 0),
                         VSS_S_OK);
        path = malloc(LVSS_WMD_STRING_MAX + 2);
        assert_non_null(path);
        memset(path, 'p', LVSS_WMD_STRING_MAX + 1);
        path[0] = '/';
        path[LVSS_WMD_STRING_MAX + 1] = 0;
        assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, NULL, "big", path, "*", false, NULL,
                                                                            0),
                         VSS_E_INVALIDARG); /* one byte over the string limit */
        path[LVSS_WMD_STRING_MAX] = 0;
        for (unsigned i = 0; i < LVSS_WMD_XML_MAX / LVSS_WMD_STRING_MAX + 1; i++)
                assert_int_equal(vss_create_writer_metadata_add_files_to_file_group(md, NULL, "big", path, "*",
                                                                                    false, NULL, 0),
                                 VSS_S_OK);
        assert_int_equal(lvss_wmd_to_xml(md, &xml), -E2BIG);
        assert_null(xml);
        free(path);
        lvss_wmd_free(md);
}

/* ---- hostile and malformed input ----------------------------------------- */

#define IDENT                                                                                                     \
        "<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "                                   \
        "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"w\" usage=\"USER_DATA\" "             \
        "dataSource=\"OTHER\"/>"
#define DOC(body) "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<WRITER_METADATA version=\"1.0\">" body "</WRITER_METADATA>\n"
#define COMP_ATTRS                                                                                                \
        "restoreMetadata=\"false\" notifyOnBackupComplete=\"false\" selectable=\"true\" "                         \
        "selectableForRestore=\"false\" componentFlags=\"0x0\""
#define FG(inner) "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"g\" " COMP_ATTRS ">" inner "</FILE_GROUP></BACKUP_LOCATIONS>"
#define DB(inner) "<BACKUP_LOCATIONS><DATABASE componentName=\"d\" " COMP_ATTRS ">" inner "</DATABASE></BACKUP_LOCATIONS>"

typedef struct sample {
        const char *name; /* file name in the corpus */
        const char *xml;
} sample;

static const sample good_samples[] = {
        { "good-minimal.xml", DOC(IDENT) },
        { "good-file-group.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0xf0f\"/>"
                       "<DEPENDENCY onWriterId=\"{11111111-2222-3333-4444-555555555555}\" onComponentName=\"x\"/>")) },
        { "good-database.xml",
          DOC(IDENT DB("<DATABASE_FILES path=\"/a\" filespec=\"a.db\" filespecBackupType=\"15\"/>"
                       "<DATABASE_LOGFILES path=\"/a\" filespec=\"a.wal\" filespecBackupType=\"8\"/>")
                  "<RESTORE_METHOD method=\"RESTORE_IF_CAN_REPLACE\" writerRestore=\"NEVER\" rebootRequired=\"false\"/>"
                  "<BACKUP_SCHEMA value=\"0x8\"/>") },
};

static const sample bad_samples[] = {
        { "bad-empty.xml", "" },
        { "bad-not-xml.xml", "hello" },
        { "bad-truncated.xml", "<?xml version=\"1.0\"?>\n<WRITER_METADATA version=\"1.0\">" IDENT "<BACKUP_LOC" },
        { "bad-unclosed.xml", "<WRITER_METADATA version=\"1.0\">" IDENT },
        { "bad-wrong-root.xml", "<BACKUP_COMPONENTS version=\"1.0\">" IDENT "</BACKUP_COMPONENTS>" },
        { "bad-root-namespace.xml",
          "<WRITER_METADATA xmlns=\"x-schema:#VssWriterMetadataInfo\" version=\"1.0\">" IDENT "</WRITER_METADATA>" },
        { "bad-version.xml", "<WRITER_METADATA version=\"2.0\">" IDENT "</WRITER_METADATA>" },
        { "bad-no-version.xml", "<WRITER_METADATA>" IDENT "</WRITER_METADATA>" },
        { "bad-no-identification.xml", DOC("") },
        { "bad-two-identifications.xml", DOC(IDENT IDENT) },
        { "bad-id.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfg}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"w\" usage=\"USER_DATA\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-id-short.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567}\" writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" "
              "friendlyName=\"w\" usage=\"USER_DATA\" dataSource=\"OTHER\"/>") },
        { "bad-enum.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"w\" usage=\"USERDATA_X\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-enum-number.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"w\" usage=\"5\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-enum-restore.xml",
          DOC(IDENT "<RESTORE_METHOD method=\"9\" writerRestore=\"NEVER\" rebootRequired=\"false\"/>") },
        { "bad-restore-no-service.xml",
          DOC(IDENT "<RESTORE_METHOD method=\"STOP_RESTORE_START\" writerRestore=\"NEVER\" rebootRequired=\"false\"/>") },
        { "bad-missing-name.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" usage=\"USER_DATA\" dataSource=\"OTHER\"/>") },
        { "bad-empty-name.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"\" usage=\"USER_DATA\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-missing-bool.xml",
          DOC(IDENT "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"g\" restoreMetadata=\"false\" "
                    "notifyOnBackupComplete=\"false\" selectable=\"true\" componentFlags=\"0\"/></BACKUP_LOCATIONS>") },
        { "bad-missing-filespec.xml", DOC(IDENT FG("<FILE_LIST path=\"/a\" recursive=\"true\" filespecBackupType=\"0\"/>")) },
        { "bad-bool.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"yes\" filespecBackupType=\"0\"/>")) },
        { "bad-number-overflow.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"4294967296\"/>")) },
        { "bad-number-sign.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"-1\"/>")) },
        { "bad-number-space.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\" 1\"/>")) },
        { "bad-number-hex-empty.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0x\"/>")) },
        { "bad-unknown-mask-bit.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0x20000\"/>")) },
        { "bad-unknown-flag.xml",
          DOC(IDENT "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"g\" restoreMetadata=\"false\" "
                    "notifyOnBackupComplete=\"false\" selectable=\"true\" selectableForRestore=\"false\" "
                    "componentFlags=\"0x8\"/></BACKUP_LOCATIONS>") },
        { "bad-schema.xml", DOC(IDENT "<BACKUP_SCHEMA value=\"0x800\"/>") },
        { "bad-relative-path.xml",
          DOC(IDENT FG("<FILE_LIST path=\"a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0\"/>")) },
        { "bad-filespec-slash.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"../*\" recursive=\"true\" filespecBackupType=\"0\"/>")) },
        { "bad-file-list-in-database.xml",
          DOC(IDENT DB("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0\"/>")) },
        { "bad-database-files-in-group.xml",
          DOC(IDENT FG("<DATABASE_FILES path=\"/a\" filespec=\"*\" filespecBackupType=\"0\"/>")) },
        { "bad-recursive-database.xml",
          DOC(IDENT DB("<DATABASE_FILES path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0\"/>")) },
        { "bad-unknown-element.xml", DOC(IDENT "<SURPRISE/>") },
        { "bad-unknown-attribute.xml",
          DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0\" x=\"1\"/>")) },
        { "bad-namespaced-attribute.xml",
          DOC(IDENT FG("<FILE_LIST xml:lang=\"en\" path=\"/a\" filespec=\"*\" recursive=\"true\" filespecBackupType=\"0\"/>")) },
        { "bad-text.xml", DOC(IDENT "some text") },
        { "bad-cdata.xml", DOC(IDENT "<![CDATA[x]]>") },
        { "bad-processing-instruction.xml", DOC(IDENT "<?pi x?>") },
        { "bad-child-in-leaf.xml", DOC(IDENT FG("<FILE_LIST path=\"/a\" filespec=\"*\" recursive=\"true\" "
                                                "filespecBackupType=\"0\"><FILE_LIST/></FILE_LIST>")) },
        { "bad-duplicate-component.xml",
          DOC(IDENT "<BACKUP_LOCATIONS><FILE_GROUP logicalPath=\"p\" componentName=\"g\" " COMP_ATTRS "/>"
                    "<DATABASE logicalPath=\"p\" componentName=\"g\" " COMP_ATTRS "/></BACKUP_LOCATIONS>") },
        { "bad-duplicate-component-root.xml",
          DOC(IDENT "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"g\" " COMP_ATTRS "/>"
                    "<DATABASE logicalPath=\"\" componentName=\"g\" " COMP_ATTRS "/></BACKUP_LOCATIONS>") },
        { "bad-two-locations.xml", DOC(IDENT "<BACKUP_LOCATIONS/><BACKUP_LOCATIONS/>") },
        { "bad-icon.xml",
          DOC(IDENT "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"g\" icon=\"abc\" " COMP_ATTRS "/></BACKUP_LOCATIONS>") },
        { "bad-icon-chars.xml",
          DOC(IDENT "<BACKUP_LOCATIONS><FILE_GROUP componentName=\"g\" icon=\"ab=c\" " COMP_ATTRS "/></BACKUP_LOCATIONS>") },
        { "bad-dependency-id.xml", DOC(IDENT FG("<DEPENDENCY onWriterId=\"x\" onComponentName=\"x\"/>")) },
        { "bad-undefined-entity.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"&foo;\" usage=\"USER_DATA\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-control-char.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"a&#1;b\" usage=\"USER_DATA\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-utf8.xml",
          DOC("<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
              "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"a\xff\xfe\" usage=\"USER_DATA\" "
              "dataSource=\"OTHER\"/>") },
        { "bad-encoding-latin1.xml",
          "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<WRITER_METADATA version=\"1.0\">"
          "<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
          "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"caf\xe9\" usage=\"USER_DATA\" "
          "dataSource=\"OTHER\"/></WRITER_METADATA>" },
        { "bad-billion-laughs.xml",
          "<?xml version=\"1.0\"?>\n"
          "<!DOCTYPE WRITER_METADATA [\n"
          " <!ENTITY lol \"lol\">\n"
          " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
          " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
          " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
          " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
          " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
          " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
          " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
          " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
          " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
          "]>\n"
          "<WRITER_METADATA version=\"1.0\">"
          "<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
          "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"&lol9;\" usage=\"USER_DATA\" "
          "dataSource=\"OTHER\"/></WRITER_METADATA>\n" },
        { "bad-external-entity.xml",
          "<?xml version=\"1.0\"?>\n"
          "<!DOCTYPE WRITER_METADATA [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
          "<WRITER_METADATA version=\"1.0\">"
          "<IDENTIFICATION instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\" "
          "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\" friendlyName=\"&xxe;\" usage=\"USER_DATA\" "
          "dataSource=\"OTHER\"/></WRITER_METADATA>\n" },
        { "bad-external-dtd.xml",
          "<?xml version=\"1.0\"?>\n"
          "<!DOCTYPE WRITER_METADATA SYSTEM \"http://example.org/wmd.dtd\">\n" DOC(IDENT) },
        { "bad-doctype-plain.xml", "<!DOCTYPE WRITER_METADATA>\n<WRITER_METADATA version=\"1.0\">" IDENT "</WRITER_METADATA>" },
        { "bad-xinclude.xml",
          DOC(IDENT "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\"/>") },
        { "bad-two-roots.xml", DOC(IDENT) "<WRITER_METADATA version=\"1.0\"/>" },
        { "bad-undeclared-prefix.xml", DOC(IDENT "<x:BACKUP_SCHEMA value=\"0x8\"/>") },
        { "bad-undeclared-prefix-attribute.xml", DOC(IDENT "<BACKUP_SCHEMA x:value=\"0x8\"/>") },
};

static void test_malformed(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(bad_samples); i++) {
                vss_examine_writer_metadata *e = (vss_examine_writer_metadata *) 0x1;
                vss_hresult hr = vss_examine_writer_metadata_load_xml(bad_samples[i].xml, &e);

                if (hr != VSS_E_INVALID_XML_DOCUMENT)
                        fail_msg("%s: got 0x%08x", bad_samples[i].name, (unsigned) hr);
                assert_ptr_equal(e, (vss_examine_writer_metadata *) 0x1); /* untouched on failure */
        }
        for (size_t i = 0; i < ELEMENTSOF(good_samples); i++) {
                vss_examine_writer_metadata *e = load(good_samples[i].xml);
                assert_round_trip(e);
                vss_examine_writer_metadata_release(e);
        }
}

static void test_every_truncation(void **state) {
        /* every strict prefix of a valid document, up to its last '>', is refused; none crashes */
        vss_create_writer_metadata *md = build_sample();
        char *xml = NULL;
        size_t end;

        assert_int_equal(lvss_wmd_to_xml(md, &xml), 0);
        end = (size_t) (strrchr(xml, '>') - xml);
        for (size_t n = 0; n < end; n++) {
                vss_examine_writer_metadata *e = NULL;
                char saved = xml[n];

                xml[n] = 0;
                if (vss_examine_writer_metadata_load_xml(xml, &e) != VSS_E_INVALID_XML_DOCUMENT)
                        fail_msg("prefix of %zu bytes accepted", n);
                xml[n] = saved;
        }
        free(xml);
        lvss_wmd_free(md);
}

/* "<!--xxx-->" then a valid document: exactly @total bytes. */
static char *padded_document(size_t total) {
        static const char body[] = "<WRITER_METADATA version=\"1.0\">" IDENT "</WRITER_METADATA>";
        size_t pad = total - 4 - 3 - (sizeof body - 1);
        char *xml = malloc(total + 1), *p;

        assert_non_null(xml);
        p = mempcpy(xml, "<!--", 4);
        memset(p, 'x', pad);
        p = mempcpy(p + pad, "-->", 3);
        memcpy(p, body, sizeof body);
        assert_int_equal(strlen(xml), total);
        return xml;
}

static void test_oversize(void **state) {
        vss_examine_writer_metadata *e = NULL;
        char *xml;

        xml = padded_document(LVSS_WMD_XML_MAX);
        assert_int_equal(vss_examine_writer_metadata_load_xml(xml, &e), VSS_S_OK);
        e = vss_examine_writer_metadata_release(e);
        free(xml);

        xml = padded_document(LVSS_WMD_XML_MAX + 1);
        assert_int_equal(vss_examine_writer_metadata_load_xml(xml, &e), VSS_E_INVALID_XML_DOCUMENT);
        assert_null(e);
        free(xml);
}

static void test_count_limits(void **state) {
        /* dependencies are small enough to reach their limit inside the size limit */
        static const char head[] = "<WRITER_METADATA version=\"1.0\">" IDENT
                                   "<BACKUP_LOCATIONS><DATABASE componentName=\"d\" " COMP_ATTRS ">",
                          dep[] = "<DEPENDENCY onWriterId=\"11111111-2222-3333-4444-555555555555\" onComponentName=\"x\"/>",
                          tail[] = "</DATABASE></BACKUP_LOCATIONS></WRITER_METADATA>";
        size_t size = sizeof head + (LVSS_WMD_DEPENDENCIES_MAX + 1) * (sizeof dep - 1) + sizeof tail;
        vss_examine_writer_metadata *e = NULL;
        const vss_component_info *c;
        char *xml, *p;

        assert_true(size < LVSS_WMD_XML_MAX);
        xml = malloc(size);
        assert_non_null(xml);
        p = stpcpy(xml, head);
        for (unsigned i = 0; i < LVSS_WMD_DEPENDENCIES_MAX; i++)
                p = stpcpy(p, dep);
        strcpy(p, tail);
        assert_int_equal(vss_examine_writer_metadata_load_xml(xml, &e), VSS_S_OK);
        assert_int_equal(vss_examine_writer_metadata_get_component(e, 0, &c), VSS_S_OK);
        assert_int_equal(c->dependency_count, LVSS_WMD_DEPENDENCIES_MAX);
        e = vss_examine_writer_metadata_release(e);

        p = stpcpy(p, dep); /* one more */
        strcpy(p, tail);
        assert_int_equal(vss_examine_writer_metadata_load_xml(xml, &e), VSS_E_INVALID_XML_DOCUMENT);
        assert_null(e);
        free(xml);
}

/* ---- corpus -------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        if (fclose(f) != 0)
                return -errno;
        return 0;
}

static int write_corpus(const char *dir) {
        vss_create_writer_metadata *md;
        char *xml = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(bad_samples); i++)
                if ((r = write_file(dir, bad_samples[i].name, bad_samples[i].xml)) < 0)
                        return r;
        for (size_t i = 0; i < ELEMENTSOF(good_samples); i++)
                if ((r = write_file(dir, good_samples[i].name, good_samples[i].xml)) < 0)
                        return r;

        /* the full sample, as the builder writes it */
        md = build_sample();
        r = lvss_wmd_to_xml(md, &xml);
        lvss_wmd_free(md);
        if (r < 0)
                return r;
        r = write_file(dir, "good-full.xml", xml);
        free(xml);
        return r;
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_and_examine),
                cmocka_unit_test(test_xml_text),
                cmocka_unit_test(test_minimal_document),
                cmocka_unit_test(test_special_strings),
                cmocka_unit_test(test_accepted_forms),
                cmocka_unit_test(test_argument_checks),
                cmocka_unit_test(test_builder_limits),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_every_truncation),
                cmocka_unit_test(test_oversize),
                cmocka_unit_test(test_count_limits),
        };

        if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
                int r = write_corpus(argv[2]);
                if (r < 0)
                        fprintf(stderr, "writing the corpus: %s\n", strerror(-r));
                return r < 0 ? 1 : 0;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}

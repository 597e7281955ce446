/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: the Backup Components Document (docs/documents.md,
 * vss-reference.md §6.2): building, XML text, round trip field by field,
 * grouping of components under their writer, the embedded writer metadata,
 * argument checks, limits, and a loader that refuses every malformed or
 * hostile input with -EBADMSG (-E2BIG past a limit), never crashing.
 *
 * "test-bcd --write-corpus DIR" writes the samples used here as seed files
 * for the fuzzer (tests/fuzz-corpus/bcd/).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <libxml/xmlmemory.h>

#include <lvss/metadata.h>

#include "bcd.h"
#include "basic/test-alloc.h"
#include "basic/util.h"
#include "wmd.h"

/* The limits of docs/documents.md, written down again on purpose: the test checks the documented contract. */
#define XML_MAX        (4u * 1024u * 1024u)
#define WRITERS_MAX    10000u
#define COMPONENTS_MAX 100000u
#define STRING_MAX     (1024u * 1024u)

static const vss_id set_id = { { 0x5e, 0x70, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                 0x0c, 0x0d } };
static const vss_id instance1 = { { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98,
                                    0xba, 0xdc, 0xfe } };
static const vss_id writer1 = { { 0xa1, 0xa2, 0xa3, 0xa4, 0xb1, 0xb2, 0xc1, 0xc2, 0xd1, 0xd2, 0xe1, 0xe2, 0xe3, 0xe4,
                                  0xe5, 0xe6 } };
static const vss_id instance2 = { { 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x66, 0x66, 0x66,
                                    0x66, 0x66, 0x66 } };
static const vss_id writer2 = { { 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44, 0x55, 0x55, 0x55, 0x55,
                                  0x55, 0x55 } };

/* Everything XML escapes or normalises, and non-ASCII (é € 💾). */
#define SPECIAL "<a> & \"b\" 'c' \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe"
static const char *const specials[] = {
        SPECIAL,
        "tab\there",
        "line\nfeed and\r\ncrlf and a lone\rreturn",
        "  leading and trailing  ",
        "]]> <!-- not a comment --> &amp; &#65; <![CDATA[x]]>",
        " ",
        "\n",
};

/* ---- helpers ------------------------------------------------------------- */

/* A writer's metadata document, as the writer library makes it. */
static char *make_wmd(const vss_id *instance_id, const vss_id *writer_id, const char *name, const char *instance) {
        vss_create_writer_metadata *md = NULL;
        char *xml = NULL;

        assert_int_equal(lvss_wmd_new(instance_id, writer_id, name, instance, VSS_UT_USERDATA, VSS_ST_TRANSACTEDDB,
                                      &md),
                         0);
        assert_int_equal(vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL,
                                                                       NULL, VSS_WRE_NEVER, false),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, "db/main", "main<&>",
                                                                  SPECIAL, NULL, 0, true, true, true, true, 0),
                         VSS_S_OK);
        assert_int_equal(vss_create_writer_metadata_add_database_files(md, "db/main", "main<&>", "/var/lib/x",
                                                                       "*.db", VSS_FSBT_ALL_BACKUP_REQUIRED),
                         VSS_S_OK);
        assert_int_equal(lvss_wmd_to_xml(md, &xml), 0);
        lvss_wmd_free(md);
        return xml;
}

static void add_writer(lvss_bcd *bcd, const vss_id *instance_id, const vss_id *writer_id, const char *name,
                       const char *instance, bool with_metadata) {
        char *wmd = with_metadata ? make_wmd(instance_id, writer_id, name, instance) : NULL;
        lvss_bcd_writer w = {
                .instance_id = *instance_id,
                .writer_id = *writer_id,
                .writer_name = (char *) name,
                .instance_name = (char *) instance,
                .metadata_xml = wmd,
        };
        lvss_bcd_writer *added = NULL;

        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &added), 0);
        assert_ptr_equal(added, &bcd->writers[bcd->n_writers - 1]);
        assert_ptr_not_equal(added->writer_name, w.writer_name); /* a copy */
        free(wmd);
}

/* A component with every field set; @k varies the strings. */
static void add_full_component(lvss_bcd *bcd, const vss_id *instance_id, const vss_id *writer_id,
                               vss_component_type type, const char *logical_path, const char *name, unsigned k) {
        lvss_bcd_component c = {
                .instance_id = *instance_id,
                .writer_id = *writer_id,
                .type = type,
                .logical_path = (char *) logical_path,
                .name = (char *) name,
                .backup_succeeded = k % 2 == 0,
                .backup_metadata = (char *) specials[k % ELEMENTSOF(specials)],
                .backup_stamp = (char *) specials[(k + 1) % ELEMENTSOF(specials)],
                .previous_backup_stamp = (char *) specials[(k + 2) % ELEMENTSOF(specials)],
                .selected_for_restore = k % 2 == 1,
                .restore_metadata = (char *) specials[(k + 3) % ELEMENTSOF(specials)],
                .file_restore_status = (vss_file_restore_status) (k % 4),
                .pre_restore_failure_msg = (char *) specials[(k + 4) % ELEMENTSOF(specials)],
                .post_restore_failure_msg = (char *) specials[(k + 5) % ELEMENTSOF(specials)],
        };
        lvss_bcd_component *added = NULL;

        assert_int_equal(lvss_bcd_add_component(bcd, &c, &added), 0);
        assert_ptr_equal(added, &bcd->components[bcd->n_components - 1]);
}

/* Two writers, three components, every field set; already grouped by writer, so the round trip keeps the order. */
static lvss_bcd *build_sample(void) {
        lvss_bcd *bcd = NULL;

        assert_int_equal(lvss_bcd_new(&bcd), 0);
        bcd->snapshot_set_id = set_id;
        bcd->context = VSS_CTX_APP_ROLLBACK;
        bcd->select_components = true;
        bcd->bootable_system_state = true;
        bcd->backup_type = VSS_BT_INCREMENTAL;
        bcd->partial_file_support = true;
        bcd->restore_type = VSS_RTYPE_IMPORT;

        add_writer(bcd, &instance1, &writer1, "Writer " SPECIAL, "instance\tone\r\n" SPECIAL, true);
        add_writer(bcd, &instance2, &writer2, "writer two", "  second  ", true);
        add_full_component(bcd, &instance1, &writer1, VSS_CT_DATABASE, "db/main", "main<&>", 0);
        add_full_component(bcd, &instance1, &writer1, VSS_CT_FILEGROUP, SPECIAL, "files\n" SPECIAL, 1);
        add_full_component(bcd, &instance2, &writer2, VSS_CT_FILEGROUP, "etc", "config", 2);
        return bcd;
}

static lvss_bcd *from_xml(const char *xml) {
        lvss_bcd *bcd = NULL;
        int r;

        r = lvss_bcd_from_xml(xml, &bcd);
        if (r < 0)
                fail_msg("lvss_bcd_from_xml: %s", strerror(-r));
        assert_non_null(bcd);
        return bcd;
}

static char *to_xml(const lvss_bcd *bcd) {
        char *xml = NULL;
        int r;

        r = lvss_bcd_to_xml(bcd, &xml);
        if (r < 0)
                fail_msg("lvss_bcd_to_xml: %s", strerror(-r));
        assert_non_null(xml);
        return xml;
}

/* NULL and "" mean the same for the optional strings. */
static void assert_str_same(const char *a, const char *b) {
        a = strnull_if_empty(a);
        b = strnull_if_empty(b);
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_writer_equal(const lvss_bcd_writer *a, const lvss_bcd_writer *b) {
        assert_true(vss_id_equal(&a->instance_id, &b->instance_id));
        assert_true(vss_id_equal(&a->writer_id, &b->writer_id));
        assert_string_equal(a->writer_name, b->writer_name);
        assert_str_same(a->instance_name, b->instance_name);
        assert_str_same(a->metadata_xml, b->metadata_xml); /* byte for byte */
}

static void assert_component_equal(const lvss_bcd_component *a, const lvss_bcd_component *b) {
        assert_true(vss_id_equal(&a->instance_id, &b->instance_id));
        assert_true(vss_id_equal(&a->writer_id, &b->writer_id));
        assert_int_equal(a->type, b->type);
        assert_str_same(a->logical_path, b->logical_path);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->backup_succeeded, b->backup_succeeded);
        assert_str_same(a->backup_metadata, b->backup_metadata);
        assert_str_same(a->backup_stamp, b->backup_stamp);
        assert_str_same(a->previous_backup_stamp, b->previous_backup_stamp);
        assert_int_equal(a->selected_for_restore, b->selected_for_restore);
        assert_str_same(a->restore_metadata, b->restore_metadata);
        assert_int_equal(a->file_restore_status, b->file_restore_status);
        assert_str_same(a->pre_restore_failure_msg, b->pre_restore_failure_msg);
        assert_str_same(a->post_restore_failure_msg, b->post_restore_failure_msg);
}

/* The deep compare: every field, writers and components in order. */
static void assert_bcd_equal(const lvss_bcd *a, const lvss_bcd *b) {
        assert_true(vss_id_equal(&a->snapshot_set_id, &b->snapshot_set_id));
        assert_int_equal(a->context, b->context);
        assert_int_equal(a->select_components, b->select_components);
        assert_int_equal(a->bootable_system_state, b->bootable_system_state);
        assert_int_equal(a->backup_type, b->backup_type);
        assert_int_equal(a->partial_file_support, b->partial_file_support);
        assert_int_equal(a->restore_type, b->restore_type);
        assert_int_equal(a->n_writers, b->n_writers);
        for (size_t i = 0; i < a->n_writers; i++)
                assert_writer_equal(&a->writers[i], &b->writers[i]);
        assert_int_equal(a->n_components, b->n_components);
        for (size_t i = 0; i < a->n_components; i++)
                assert_component_equal(&a->components[i], &b->components[i]);
}

/* Frees the strings of an element popped off a document's array. */
static void writer_done_test(lvss_bcd_writer *w) {
        free(w->writer_name);
        free(w->instance_name);
        free(w->metadata_xml);
}

static void component_done_test(lvss_bcd_component *c) {
        free(c->logical_path);
        free(c->name);
        free(c->backup_metadata);
        free(c->backup_stamp);
        free(c->previous_backup_stamp);
        free(c->restore_metadata);
        free(c->pre_restore_failure_msg);
        free(c->post_restore_failure_msg);
}

/* from_xml(to_xml(x)) == x, and writing the loaded document gives the same text. */
static void assert_round_trip(const lvss_bcd *bcd) {
        char *xml1 = to_xml(bcd), *xml2;
        lvss_bcd *again = from_xml(xml1);

        assert_bcd_equal(bcd, again);
        xml2 = to_xml(again);
        assert_string_equal(xml1, xml2);
        free(xml1);
        free(xml2);
        lvss_bcd_free(again);
}

/* A document that must be refused with @expected (and leave *ret alone). */
static void assert_refused(const char *what, const char *xml, int expected) {
        lvss_bcd *bcd = (lvss_bcd *) 0x1;
        int r = lvss_bcd_from_xml(xml, &bcd);

        if (r != expected)
                fail_msg("%s: got %d (%s), expected %d", what, r, r < 0 ? strerror(-r) : "accepted", expected);
        assert_ptr_equal(bcd, (lvss_bcd *) 0x1);
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip(void **state) {
        lvss_bcd *bcd = build_sample(), *again;
        char *xml;

        xml = to_xml(bcd);
        again = from_xml(xml);
        assert_bcd_equal(bcd, again);

        /* spot checks, in case both sides were wrong the same way */
        assert_int_equal(again->n_writers, 2);
        assert_int_equal(again->n_components, 3);
        assert_true(vss_id_equal(&again->snapshot_set_id, &set_id));
        assert_int_equal(again->context, VSS_CTX_APP_ROLLBACK);
        assert_int_equal(again->backup_type, VSS_BT_INCREMENTAL);
        assert_int_equal(again->restore_type, VSS_RTYPE_IMPORT);
        assert_string_equal(again->writers[0].writer_name, "Writer " SPECIAL);
        assert_string_equal(again->writers[0].instance_name, "instance\tone\r\n" SPECIAL);
        assert_string_equal(again->writers[1].instance_name, "  second  ");
        assert_string_equal(again->components[1].logical_path, SPECIAL);
        assert_string_equal(again->components[1].name, "files\n" SPECIAL);
        assert_string_equal(again->components[0].backup_metadata, specials[0]);
        assert_string_equal(again->components[0].restore_metadata, specials[3]);
        assert_string_equal(again->components[2].backup_metadata, specials[2]); /* \r survives element text */
        assert_true(again->components[0].backup_succeeded);
        assert_false(again->components[0].selected_for_restore);
        assert_int_equal(again->components[1].file_restore_status, VSS_RS_NONE);

        assert_round_trip(bcd);
        assert_round_trip(again);
        free(xml);
        lvss_bcd_free(again);
        lvss_bcd_free(bcd);
}

static void test_xml_text(void **state) {
        /* the element and attribute names of docs/documents.md */
        lvss_bcd *bcd = build_sample();
        char *xml = to_xml(bcd);

        assert_non_null(strstr(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        assert_non_null(strstr(xml, "<BACKUP_COMPONENTS version=\"1.0\" "
                                    "snapshotSetId=\"{5e700001-0203-0405-0607-08090a0b0c0d}\" context=\"APP_ROLLBACK\" "
                                    "selectComponents=\"true\" bootableSystemState=\"true\" backupType=\"INCREMENTAL\" "
                                    "partialFileSupport=\"true\" restoreType=\"IMPORT\">"));
        assert_non_null(strstr(xml, "<WRITER_COMPONENTS instanceId=\"{22222222-3333-4444-5555-666666666666}\" "
                                    "writerId=\"{11111111-2222-3333-4444-555555555555}\" writerName=\"writer two\" "
                                    "instanceName=\"  second  \">"));
        assert_non_null(strstr(xml, "writerName=\"Writer &lt;a&gt; &amp; &quot;b&quot; 'c' "));
        assert_non_null(strstr(xml, "instanceName=\"instance&#9;one&#13;&#10;&lt;a&gt;"));
        assert_non_null(strstr(xml, "<WRITER_METADATA_XML>&lt;?xml version=\"1.0\" encoding=\"UTF-8\"?&gt;\n"
                                    "&lt;WRITER_METADATA version=\"1.0\"&gt;"));
        assert_non_null(strstr(xml, "<COMPONENT type=\"DATABASE\" logicalPath=\"db/main\" "
                                    "componentName=\"main&lt;&amp;&gt;\" backupSucceeded=\"true\" "
                                    "selectedForRestore=\"false\" fileRestoreStatus=\"UNDEFINED\">"));
        assert_non_null(strstr(xml, "<COMPONENT type=\"FILEGROUP\" logicalPath=\"etc\" componentName=\"config\" "
                                    "backupSucceeded=\"true\" selectedForRestore=\"false\" "
                                    "fileRestoreStatus=\"ALL\">"));
        assert_non_null(strstr(xml, "<BACKUP_METADATA>&lt;a&gt; &amp; \"b\" 'c' "));
        assert_non_null(strstr(xml, "<BACKUP_STAMP>tab\there</BACKUP_STAMP>"));
        assert_non_null(strstr(xml, "<PREVIOUS_BACKUP_STAMP>line\nfeed and&#13;\ncrlf"));
        assert_non_null(strstr(xml, "<RESTORE_METADATA>  leading and trailing  </RESTORE_METADATA>"));
        assert_non_null(strstr(xml, "<PRE_RESTORE_FAILURE_MSG>]]&gt; &lt;!-- not a comment --&gt; &amp;amp;"));
        assert_non_null(strstr(xml, "<POST_RESTORE_FAILURE_MSG> </POST_RESTORE_FAILURE_MSG>"));
        assert_null(strstr(xml, "<!DOCTYPE"));
        free(xml);
        lvss_bcd_free(bcd);
}

static void test_minimal(void **state) {
        /* nothing but the requester state; optional strings NULL or ""; a writer without components */
        lvss_bcd *bcd = NULL, *again;
        lvss_bcd_writer w = { .instance_id = instance1, .writer_id = writer1, .writer_name = (char *) "w",
                              .instance_name = (char *) "", .metadata_xml = (char *) "" };
        lvss_bcd_component c = { .instance_id = instance1, .writer_id = writer1, .type = VSS_CT_DATABASE,
                                 .logical_path = (char *) "", .name = (char *) "c", .backup_metadata = (char *) "" };
        char *xml;

        assert_int_equal(lvss_bcd_new(&bcd), 0);
        xml = to_xml(bcd);
        assert_non_null(strstr(xml, "<BACKUP_COMPONENTS version=\"1.0\" "
                                    "snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" context=\"BACKUP\" "
                                    "selectComponents=\"false\" bootableSystemState=\"false\" backupType=\"UNDEFINED\" "
                                    "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"));
        free(xml);
        assert_round_trip(bcd);

        assert_int_equal(lvss_bcd_add_writer(bcd, &w, NULL), 0);
        assert_null(bcd->writers[0].instance_name); /* "" is stored as none */
        assert_null(bcd->writers[0].metadata_xml);
        assert_round_trip(bcd);

        assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), 0);
        assert_null(bcd->components[0].logical_path);
        assert_null(bcd->components[0].backup_metadata);
        xml = to_xml(bcd);
        assert_non_null(strstr(xml, "<COMPONENT type=\"DATABASE\" componentName=\"c\" backupSucceeded=\"false\" "
                                    "selectedForRestore=\"false\" fileRestoreStatus=\"UNDEFINED\"/>"));
        assert_null(strstr(xml, "instanceName"));
        assert_null(strstr(xml, "logicalPath"));
        assert_null(strstr(xml, "WRITER_METADATA_XML"));
        again = from_xml(xml);
        assert_bcd_equal(bcd, again);
        assert_null(again->writers[0].instance_name);
        assert_null(again->components[0].logical_path);
        assert_null(again->components[0].backup_metadata);
        assert_null(again->components[0].backup_stamp);
        assert_null(again->components[0].previous_backup_stamp);
        assert_null(again->components[0].restore_metadata);
        assert_null(again->components[0].pre_restore_failure_msg);
        assert_null(again->components[0].post_restore_failure_msg);
        free(xml);
        lvss_bcd_free(again);
        lvss_bcd_free(bcd);
}

static void test_grouping(void **state) {
        /* a flat array in any order comes back grouped by writer, in writer order, keeping the order within one */
        lvss_bcd *bcd = NULL, *again, *expected = NULL;
        static const struct {
                const vss_id *instance_id, *writer_id;
                const char *name;
        } order_in[] = {
                { &instance2, &writer2, "b1" }, { &instance1, &writer1, "a1" }, { &instance2, &writer2, "b2" },
                { &instance1, &writer1, "a2" }, { &instance1, &writer1, "a3" },
        }, order_out[] = {
                { &instance1, &writer1, "a1" }, { &instance1, &writer1, "a2" }, { &instance1, &writer1, "a3" },
                { &instance2, &writer2, "b1" }, { &instance2, &writer2, "b2" },
        };
        static const vss_id lonely = { { 0x77 } };
        char *xml;

        assert_int_equal(lvss_bcd_new(&bcd), 0);
        assert_int_equal(lvss_bcd_new(&expected), 0);
        add_writer(bcd, &instance1, &writer1, "one", NULL, false);
        add_writer(bcd, &lonely, &writer1, "one, another instance", "2", false); /* no components */
        add_writer(bcd, &instance2, &writer2, "two", NULL, true);
        add_writer(expected, &instance1, &writer1, "one", NULL, false);
        add_writer(expected, &lonely, &writer1, "one, another instance", "2", false);
        add_writer(expected, &instance2, &writer2, "two", NULL, true);
        for (size_t i = 0; i < ELEMENTSOF(order_in); i++) {
                add_full_component(bcd, order_in[i].instance_id, order_in[i].writer_id, VSS_CT_FILEGROUP, NULL,
                                   order_in[i].name, 7);
                add_full_component(expected, order_out[i].instance_id, order_out[i].writer_id, VSS_CT_FILEGROUP,
                                   NULL, order_out[i].name, 7);
        }

        xml = to_xml(bcd);
        again = from_xml(xml);
        assert_bcd_equal(expected, again);
        assert_round_trip(again);
        /* the lonely writer is written, empty, between the two */
        assert_non_null(strstr(xml, "writerName=\"one, another instance\" instanceName=\"2\"/>"));
        free(xml);
        lvss_bcd_free(again);
        lvss_bcd_free(expected);
        lvss_bcd_free(bcd);
}

static void test_special_strings(void **state) {
        /* each special string in every string field */
        for (size_t k = 0; k < ELEMENTSOF(specials); k++) {
                const char *s = specials[k];
                lvss_bcd *bcd = NULL;
                lvss_bcd_writer w = { .instance_id = instance1, .writer_id = writer1, .writer_name = (char *) s,
                                      .instance_name = (char *) s };
                lvss_bcd_component c = {
                        .instance_id = instance1, .writer_id = writer1, .type = VSS_CT_FILEGROUP,
                        .logical_path = (char *) s, .name = (char *) s, .backup_metadata = (char *) s,
                        .backup_stamp = (char *) s, .previous_backup_stamp = (char *) s,
                        .restore_metadata = (char *) s, .pre_restore_failure_msg = (char *) s,
                        .post_restore_failure_msg = (char *) s,
                };

                assert_int_equal(lvss_bcd_new(&bcd), 0);
                assert_int_equal(lvss_bcd_add_writer(bcd, &w, NULL), 0);
                assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), 0);
                assert_round_trip(bcd);
                lvss_bcd_free(bcd);
        }
}

static void test_embedded_metadata(void **state) {
        /* a restore reads the writer's metadata document back out of the BCD */
        lvss_bcd *bcd = build_sample(), *again;
        vss_examine_writer_metadata *md = NULL;
        const vss_component_info *info;
        const char *name;
        vss_id iid, wid;
        char *xml = to_xml(bcd);

        again = from_xml(xml);
        assert_string_equal(again->writers[0].metadata_xml, bcd->writers[0].metadata_xml);
        assert_int_equal(vss_examine_writer_metadata_load_xml(again->writers[0].metadata_xml, &md), VSS_S_OK);
        assert_int_equal(vss_examine_writer_metadata_get_identity(md, &iid, &wid, &name, NULL, NULL, NULL), VSS_S_OK);
        assert_true(vss_id_equal(&iid, &instance1));
        assert_true(vss_id_equal(&wid, &writer1));
        assert_string_equal(name, "Writer " SPECIAL);
        assert_int_equal(vss_examine_writer_metadata_get_component(md, 0, &info), VSS_S_OK);
        assert_string_equal(info->component_name, "main<&>");
        assert_string_equal(info->caption, SPECIAL);
        vss_examine_writer_metadata_release(md);
        free(xml);
        lvss_bcd_free(again);
        lvss_bcd_free(bcd);
}

static void test_accepted_forms(void **state) {
        /* numbers for enums, hex and decimal contexts, 1/0 booleans, ids without braces in any case, comments,
         * children in any order, empty string elements, whitespace between elements */
        static const char xml[] =
                "<?xml version=\"1.0\"?>\n"
                "<!-- a comment -->\n"
                "<BACKUP_COMPONENTS restoreType=\"2\" backupType=\"6\" version=\"1.0\" context=\"0x9\"\n"
                "    snapshotSetId=\"5E700001-0203-0405-0607-08090A0B0C0D\" selectComponents=\"1\"\n"
                "    bootableSystemState=\"0\" partialFileSupport=\"true\">\n"
                "  <!-- writers -->\n"
                "  <WRITER_COMPONENTS writerName=\"w\" writerId=\"A1A2A3A4-B1B2-C1C2-D1D2-E1E2E3E4E5E6\"\n"
                "      instanceId=\"{01234567-89AB-CDEF-1032-547698BADCFE}\" instanceName=\"\">\n"
                "    <COMPONENT fileRestoreStatus=\"3\" type=\"1\" componentName=\"c\" logicalPath=\"\"\n"
                "        backupSucceeded=\"1\" selectedForRestore=\"0\">\n"
                "      <POST_RESTORE_FAILURE_MSG>post</POST_RESTORE_FAILURE_MSG>\n"
                "      <!-- in between -->\n"
                "      <BACKUP_METADATA></BACKUP_METADATA>\n"
                "      <BACKUP_STAMP/>\n"
                "      <RESTORE_METADATA>&lt;&#x41;&#66;&gt;</RESTORE_METADATA>\n"
                "    </COMPONENT>\n"
                "    <WRITER_METADATA_XML>"
                "&lt;WRITER_METADATA version=\"1.0\"&gt;&lt;IDENTIFICATION\n"
                "instanceId=\"{01234567-89ab-cdef-1032-547698badcfe}\"\n"
                "writerId=\"{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}\"\n"
                "friendlyName=\"w\" usage=\"USER_DATA\" dataSource=\"OTHER\"/&gt;&lt;/WRITER_METADATA&gt;"
                "</WRITER_METADATA_XML>\n"
                "    <COMPONENT type=\"FILEGROUP\" componentName=\"c\" logicalPath=\"p\" backupSucceeded=\"false\"\n"
                "        selectedForRestore=\"true\" fileRestoreStatus=\"ALL\"></COMPONENT>\n"
                "  </WRITER_COMPONENTS>\n"
                "</BACKUP_COMPONENTS>\n"
                "<!-- trailing comment -->\n";
        lvss_bcd *bcd = from_xml(xml);

        assert_true(vss_id_equal(&bcd->snapshot_set_id, &set_id));
        assert_int_equal(bcd->context, VSS_CTX_APP_ROLLBACK);
        assert_true(bcd->select_components);
        assert_false(bcd->bootable_system_state);
        assert_int_equal(bcd->backup_type, VSS_BT_OTHER);
        assert_true(bcd->partial_file_support);
        assert_int_equal(bcd->restore_type, VSS_RTYPE_IMPORT);
        assert_int_equal(bcd->n_writers, 1);
        assert_true(vss_id_equal(&bcd->writers[0].instance_id, &instance1));
        assert_true(vss_id_equal(&bcd->writers[0].writer_id, &writer1));
        assert_null(bcd->writers[0].instance_name);
        assert_non_null(bcd->writers[0].metadata_xml);
        assert_int_equal(bcd->n_components, 2);
        assert_int_equal(bcd->components[0].type, VSS_CT_DATABASE);
        assert_null(bcd->components[0].logical_path);
        assert_true(bcd->components[0].backup_succeeded);
        assert_false(bcd->components[0].selected_for_restore);
        assert_int_equal(bcd->components[0].file_restore_status, VSS_RS_FAILED);
        assert_null(bcd->components[0].backup_metadata);
        assert_null(bcd->components[0].backup_stamp);
        assert_string_equal(bcd->components[0].restore_metadata, "<AB>");
        assert_string_equal(bcd->components[0].post_restore_failure_msg, "post");
        assert_int_equal(bcd->components[1].type, VSS_CT_FILEGROUP);
        assert_string_equal(bcd->components[1].logical_path, "p"); /* same name, other path: not a duplicate */
        assert_int_equal(bcd->components[1].file_restore_status, VSS_RS_ALL);
        assert_round_trip(bcd);
        lvss_bcd_free(bcd);

        /* every context, by name and by number */
        static const struct {
                const char *text;
                int32_t value;
        } contexts[] = {
                { "BACKUP", VSS_CTX_BACKUP },
                { "0", VSS_CTX_BACKUP },
                { "FILE_SHARE_BACKUP", VSS_CTX_FILE_SHARE_BACKUP },
                { "16", VSS_CTX_FILE_SHARE_BACKUP },
                { "NAS_ROLLBACK", VSS_CTX_NAS_ROLLBACK },
                { "0x19", VSS_CTX_NAS_ROLLBACK },
                { "APP_ROLLBACK", VSS_CTX_APP_ROLLBACK },
                { "CLIENT_ACCESSIBLE", VSS_CTX_CLIENT_ACCESSIBLE },
                { "0X1D", VSS_CTX_CLIENT_ACCESSIBLE },
                { "CLIENT_ACCESSIBLE_WRITERS", VSS_CTX_CLIENT_ACCESSIBLE_WRITERS },
        };
        for (size_t i = 0; i < ELEMENTSOF(contexts); i++) {
                char doc[512];

                snprintf(doc, sizeof doc,
                         "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
                         "context=\"%s\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
                         "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>",
                         contexts[i].text);
                bcd = from_xml(doc);
                assert_int_equal(bcd->context, contexts[i].value);
                assert_round_trip(bcd);
                lvss_bcd_free(bcd);
        }
}

/* ---- argument checks ----------------------------------------------------- */

static void test_argument_checks(void **state) {
        static const vss_id nobody = { { 0x99 } };
        lvss_bcd *bcd = build_sample(), *none = (lvss_bcd *) 0x1;
        lvss_bcd_writer w = { .instance_id = instance1, .writer_id = writer2, .writer_name = (char *) "w" };
        lvss_bcd_component c = { .instance_id = instance1, .writer_id = writer1, .type = VSS_CT_DATABASE,
                                 .name = (char *) "new" };
        lvss_bcd_writer *wret = (lvss_bcd_writer *) 0x1;
        lvss_bcd_component *cret = (lvss_bcd_component *) 0x1;
        char *s = NULL, *other_wmd, *big, *xml = (char *) 0x1, *own_name;
        size_t nw = bcd->n_writers, nc = bcd->n_components;

        assert_int_equal(lvss_bcd_new(NULL), -EINVAL);
        assert_null(lvss_bcd_free(NULL));
        assert_int_equal(lvss_bcd_to_xml(NULL, &s), -EINVAL);
        assert_int_equal(lvss_bcd_to_xml(bcd, NULL), -EINVAL);
        assert_int_equal(lvss_bcd_from_xml(NULL, &none), -EINVAL);
        assert_int_equal(lvss_bcd_from_xml("<x/>", NULL), -EINVAL);
        assert_ptr_equal(none, (lvss_bcd *) 0x1);

        /* writers: NULL arguments, missing or bad strings, metadata that is not this writer's valid WMD */
        assert_int_equal(lvss_bcd_add_writer(NULL, &w, NULL), -EINVAL);
        assert_int_equal(lvss_bcd_add_writer(bcd, NULL, NULL), -EINVAL);
        w.writer_name = NULL;
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL);
        w.writer_name = (char *) "";
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL);
        w.writer_name = (char *) "bad\x01";
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL);
        w.writer_name = (char *) "w";
        w.instance_name = (char *) "bad \xc0\xaf utf-8";
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL);
        w.instance_name = NULL;
        w.metadata_xml = (char *) "not a metadata document";
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL);
        other_wmd = make_wmd(&instance2, &writer1, "w", NULL); /* valid, but another writer's */
        w.metadata_xml = other_wmd;
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL);
        w.instance_id = instance2;
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), -EINVAL); /* same instance, other class */
        w.writer_id = writer1;
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, &wret), 0); /* now it is this writer's */
        assert_ptr_equal(wret, &bcd->writers[nw]);
        nw++;
        w.instance_id = instance1;
        w.writer_id = writer2;
        w.metadata_xml = NULL;
        free(other_wmd);

        /* components */
        assert_int_equal(lvss_bcd_add_component(NULL, &c, NULL), -EINVAL);
        assert_int_equal(lvss_bcd_add_component(bcd, NULL, NULL), -EINVAL);
        c.type = VSS_CT_UNDEFINED;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.type = 3;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.type = VSS_CT_FILEGROUP;
        c.file_restore_status = 4;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.file_restore_status = (vss_file_restore_status) -1;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.file_restore_status = VSS_RS_NONE;
        c.name = NULL;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.name = (char *) "";
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.name = (char *) "new";
        c.post_restore_failure_msg = (char *) "nul-less control \x1f";
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.post_restore_failure_msg = (char *) "a surrogate \xed\xa0\x80";
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), -EINVAL);
        c.post_restore_failure_msg = NULL;
        assert_ptr_equal(wret, &bcd->writers[nw - 1]);
        assert_ptr_equal(cret, (lvss_bcd_component *) 0x1);
        assert_int_equal(bcd->n_writers, nw);
        assert_int_equal(bcd->n_components, nc);

        /* set_string: NULL and "" clear, a bad string leaves the old one */
        assert_int_equal(lvss_bcd_set_string(NULL, "x"), -EINVAL);
        assert_int_equal(lvss_bcd_set_string(&s, "value"), 0);
        assert_string_equal(s, "value");
        assert_int_equal(lvss_bcd_set_string(&s, s), 0); /* its own value */
        assert_string_equal(s, "value");
        assert_int_equal(lvss_bcd_set_string(&s, "bad\x02"), -EINVAL);
        assert_int_equal(lvss_bcd_set_string(&s, "\xff"), -EINVAL);
        assert_string_equal(s, "value");
        assert_int_equal(lvss_bcd_set_string(&s, ""), 0);
        assert_null(s);
        assert_int_equal(lvss_bcd_set_string(&s, "again"), 0);
        assert_int_equal(lvss_bcd_set_string(&s, NULL), 0);
        assert_null(s);
        big = malloc(STRING_MAX + 2);
        assert_non_null(big);
        memset(big, 'x', STRING_MAX + 1);
        big[STRING_MAX + 1] = 0;
        assert_int_equal(lvss_bcd_set_string(&s, big), -E2BIG);
        assert_null(s);
        big[STRING_MAX] = 0;
        assert_int_equal(lvss_bcd_set_string(&s, big), 0); /* exactly the limit */
        free(s);
        s = NULL;

        /* to_xml: what can only be seen on the whole document, and fields edited in place; *ret untouched */
        assert_int_equal(lvss_bcd_add_component(bcd, &c, &cret), 0);
        assert_ptr_equal(cret, &bcd->components[nc]);
        own_name = cret->name;
        assert_int_equal(lvss_bcd_add_writer(bcd, &w, NULL), 0); /* (instance1, writer2): a new key */
        free(to_xml(bcd));

        cret->name = (char *) "main<&>"; /* same writer, path and name as component 0, another type */
        cret->logical_path = (char *) "db/main";
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        cret->logical_path = NULL;
        free(to_xml(bcd));
        bcd->components[0].logical_path[0] = 0; /* "" and NULL are the same root */
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        strcpy(bcd->components[0].logical_path, "d");
        cret->name = NULL;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        cret->name = (char *) "new";

        cret->writer_id = writer2; /* (instance1, writer2) exists; (instance1, nobody) does not */
        free(to_xml(bcd));
        cret->writer_id = nobody;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        cret->writer_id = writer1;

        bcd->writers[nw].writer_id = writer1; /* now two writers share (instance1, writer1) */
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        bcd->writers[nw].writer_id = writer2;
        free(bcd->writers[0].metadata_xml); /* the embedded WMD of another writer */
        bcd->writers[0].metadata_xml = make_wmd(&instance2, &writer2, "writer two", NULL);
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        free(bcd->writers[0].metadata_xml);
        bcd->writers[0].metadata_xml = (char *) "garbage"; /* or no WMD at all */
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        bcd->writers[0].metadata_xml = make_wmd(&instance1, &writer1, "one", NULL);
        cret->type = VSS_CT_UNDEFINED;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        cret->type = VSS_CT_DATABASE;

        bcd->context = 2;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        bcd->context = VSS_CTX_ALL;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        bcd->context = VSS_CTX_BACKUP;
        bcd->backup_type = VSS_BT_OTHER + 1;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        bcd->backup_type = VSS_BT_LOG;
        bcd->restore_type = VSS_RTYPE_OTHER + 1;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -EINVAL);
        bcd->restore_type = VSS_RTYPE_BY_COPY;
        assert_ptr_equal(xml, (char *) 0x1);

        cret->name = own_name;
        xml = to_xml(bcd); /* components come back grouped by writer: compare from there */
        {
                lvss_bcd *again = from_xml(xml);

                assert_int_equal(again->n_writers, bcd->n_writers);
                assert_int_equal(again->n_components, bcd->n_components);
                assert_round_trip(again);
                lvss_bcd_free(again);
        }
        free(xml);
        free(big);
        lvss_bcd_free(bcd);
}

/* ---- limits -------------------------------------------------------------- */

#define ROOT_ATTRS                                                                                               \
        "version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" context=\"BACKUP\" "          \
        "selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "                          \
        "partialFileSupport=\"false\" restoreType=\"UNDEFINED\""
#define ROOT_OPEN "<BACKUP_COMPONENTS " ROOT_ATTRS ">"
#define ROOT_CLOSE "</BACKUP_COMPONENTS>"
#define DOC(body) "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" ROOT_OPEN body ROOT_CLOSE "\n"
#define ID1 "{01234567-89ab-cdef-1032-547698badcfe}"
#define WID1 "{a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6}"
#define WRITER_ATTRS "instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"w\""
#define WRITER(inner) "<WRITER_COMPONENTS " WRITER_ATTRS ">" inner "</WRITER_COMPONENTS>"
#define COMP_ATTRS "backupSucceeded=\"false\" selectedForRestore=\"false\" fileRestoreStatus=\"UNDEFINED\""
#define COMP(inner) "<COMPONENT type=\"DATABASE\" componentName=\"c\" " COMP_ATTRS ">" inner "</COMPONENT>"
#define WMD_TEXT(id, wid)                                                                                        \
        "&lt;?xml version=\"1.0\" encoding=\"UTF-8\"?&gt;\n&lt;WRITER_METADATA version=\"1.0\"&gt;"               \
        "&lt;IDENTIFICATION instanceId=\"" id "\" writerId=\"" wid "\" friendlyName=\"w\" usage=\"USER_DATA\" "  \
        "dataSource=\"OTHER\"/&gt;&lt;/WRITER_METADATA&gt;\n"

/* @head, then @fill repeated to make @len bytes, then @tail; free(). */
static char *make_text(const char *head, char fill, size_t len, const char *tail) {
        size_t h = strlen(head), t = strlen(tail);
        char *s;

        assert_true(len >= h + t);
        s = malloc(len + 1);
        assert_non_null(s);
        memcpy(s, head, h);
        memset(s + h, fill, len - h - t);
        memcpy(s + len - t, tail, t + 1);
        assert_int_equal(strlen(s), len);
        return s;
}

static void test_oversize(void **state) {
        static const char body[] = ROOT_OPEN ROOT_CLOSE;
        lvss_bcd *bcd = NULL;
        char *xml, *big;
        lvss_bcd_component c = { .instance_id = instance1, .writer_id = writer1, .type = VSS_CT_DATABASE };

        /* the text: 4 MiB exactly is read, one byte more is not (a comment pads it) */
        xml = make_text("<!--", 'x', XML_MAX - (sizeof body - 1), "-->");
        big = malloc(XML_MAX + 2);
        assert_non_null(big);
        stpcpy(stpcpy(big, xml), body);
        assert_int_equal(strlen(big), XML_MAX);
        bcd = from_xml(big);
        bcd = lvss_bcd_free(bcd);
        stpcpy(stpcpy(stpcpy(big, xml), " "), body);
        assert_refused("4 MiB + 1", big, -E2BIG);
        free(xml);
        free(big);

        /* one string: 1 MiB is read, one byte more is not, as element text or as an attribute */
        {
                static const char text_head[] = ROOT_OPEN "<WRITER_COMPONENTS " WRITER_ATTRS ">"
                                                          "<COMPONENT type=\"DATABASE\" componentName=\"c\" " COMP_ATTRS
                                                          "><BACKUP_METADATA>",
                                  text_tail[] = "</BACKUP_METADATA></COMPONENT></WRITER_COMPONENTS>" ROOT_CLOSE;

                xml = make_text(text_head, 'm', strlen(text_head) + STRING_MAX + strlen(text_tail), text_tail);
                bcd = from_xml(xml);
                assert_int_equal(strlen(bcd->components[0].backup_metadata), STRING_MAX);
                assert_round_trip(bcd);
                bcd = lvss_bcd_free(bcd);
                free(xml);
                xml = make_text(text_head, 'm', strlen(text_head) + STRING_MAX + 1 + strlen(text_tail), text_tail);
                assert_refused("a text of 1 MiB + 1", xml, -E2BIG);
                free(xml);
        }
        {
                static const char attr_head[] = ROOT_OPEN "<WRITER_COMPONENTS " WRITER_ATTRS ">"
                                                          "<COMPONENT type=\"DATABASE\" " COMP_ATTRS
                                                          " componentName=\"",
                                  attr_tail[] = "\"/></WRITER_COMPONENTS>" ROOT_CLOSE;

                xml = make_text(attr_head, 'n', strlen(attr_head) + STRING_MAX + 1 + strlen(attr_tail), attr_tail);
                assert_refused("an attribute of 1 MiB + 1", xml, -E2BIG);
                free(xml);
        }

        /* to_xml: past 4 MiB of strings, or of escaped text, is -E2BIG */
        assert_int_equal(lvss_bcd_new(&bcd), 0);
        add_writer(bcd, &instance1, &writer1, "w", NULL, false);
        big = make_text("", 'b', STRING_MAX, "");
        c.backup_metadata = big;
        for (unsigned i = 0; i < 4; i++) {
                char name[16];

                snprintf(name, sizeof name, "c%u", i);
                c.name = name;
                assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), 0);
        }
        xml = (char *) 0x1;
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -E2BIG); /* 4 MiB of text plus the markup */
        assert_ptr_equal(xml, (char *) 0x1);
        bcd = lvss_bcd_free(bcd);

        assert_int_equal(lvss_bcd_new(&bcd), 0);
        add_writer(bcd, &instance1, &writer1, "w", NULL, false);
        memset(big, '&', STRING_MAX); /* 1 MiB that escapes to 5 MiB */
        c.name = (char *) "amp";
        assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), 0);
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), -E2BIG);
        assert_ptr_equal(xml, (char *) 0x1);
        bcd = lvss_bcd_free(bcd);

        /* adding one string past 1 MiB */
        assert_int_equal(lvss_bcd_new(&bcd), 0);
        free(big);
        big = make_text("", 'b', STRING_MAX + 1, "");
        c.name = (char *) "c";
        c.backup_metadata = NULL;
        c.restore_metadata = big;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), -E2BIG);
        c.restore_metadata = NULL;
        c.logical_path = big;
        assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), -E2BIG);
        {
                lvss_bcd_writer w = { .instance_id = instance1, .writer_id = writer1, .writer_name = big };

                assert_int_equal(lvss_bcd_add_writer(bcd, &w, NULL), -E2BIG);
                w.writer_name = (char *) "w";
                w.metadata_xml = big;
                assert_int_equal(lvss_bcd_add_writer(bcd, &w, NULL), -E2BIG);
        }
        assert_int_equal(bcd->n_components, 0);
        assert_int_equal(bcd->n_writers, 0);
        lvss_bcd_free(bcd);
        free(big);
}

static void test_count_limits(void **state) {
        static const char line[] = "<WRITER_COMPONENTS instanceId=\"%08x-0000-0000-0000-000000000000\" "
                                   "writerId=\"00000000-0000-0000-0000-000000000000\" writerName=\"w\"/>";
        size_t size = sizeof ROOT_OPEN + (WRITERS_MAX + 1) * (sizeof line + 4) + sizeof ROOT_CLOSE; /* %08x: 4 more */
        lvss_bcd *bcd = NULL;
        char *xml, *p, *out;

        /* 10000 writers are read, 10001 are not */
        assert_true(size < XML_MAX);
        xml = malloc(size);
        assert_non_null(xml);
        p = stpcpy(xml, ROOT_OPEN);
        for (unsigned i = 0; i < WRITERS_MAX; i++)
                p += sprintf(p, line, i);
        strcpy(p, ROOT_CLOSE);
        bcd = from_xml(xml);
        assert_int_equal(bcd->n_writers, WRITERS_MAX);
        out = to_xml(bcd);
        free(out);
        {
                /* and adding one more is refused too */
                lvss_bcd_writer w = { .writer_name = (char *) "w" };

                w.instance_id.bytes[0] = 0xff;
                assert_int_equal(lvss_bcd_add_writer(bcd, &w, NULL), -E2BIG);
        }
        bcd = lvss_bcd_free(bcd);
        p += sprintf(p, line, WRITERS_MAX);
        strcpy(p, ROOT_CLOSE);
        assert_refused("10001 writers", xml, -E2BIG);
        free(xml);

        /* 100000 components can be added, not one more; so many cannot fit in 4 MiB of XML */
        assert_int_equal(lvss_bcd_new(&bcd), 0);
        add_writer(bcd, &instance1, &writer1, "w", NULL, false);
        for (unsigned i = 0; i <= COMPONENTS_MAX; i++) {
                char name[16];
                lvss_bcd_component c = { .instance_id = instance1, .writer_id = writer1, .type = VSS_CT_FILEGROUP,
                                         .name = name };

                snprintf(name, sizeof name, "c%u", i);
                assert_int_equal(lvss_bcd_add_component(bcd, &c, NULL), i < COMPONENTS_MAX ? 0 : -E2BIG);
        }
        assert_int_equal(bcd->n_components, COMPONENTS_MAX);
        out = NULL;
        assert_int_equal(lvss_bcd_to_xml(bcd, &out), -E2BIG);
        assert_null(out);
        lvss_bcd_free(bcd);
}

/* ---- hostile and malformed input ----------------------------------------- */

typedef struct sample {
        const char *name; /* file name in the corpus */
        const char *xml;
        int error; /* for bad samples */
} sample;

static const sample good_samples[] = {
        { "good-minimal.xml", DOC(""), 0 },
        { "good-writer.xml", DOC(WRITER("")), 0 },
        { "good-component.xml",
          DOC(WRITER(COMP("<BACKUP_METADATA>m &amp; &lt;x&gt;</BACKUP_METADATA><BACKUP_STAMP>s</BACKUP_STAMP>"
                          "<PREVIOUS_BACKUP_STAMP>p</PREVIOUS_BACKUP_STAMP><RESTORE_METADATA>r</RESTORE_METADATA>"
                          "<PRE_RESTORE_FAILURE_MSG>pre</PRE_RESTORE_FAILURE_MSG>"
                          "<POST_RESTORE_FAILURE_MSG>post</POST_RESTORE_FAILURE_MSG>"))),
          0 },
        { "good-metadata.xml",
          DOC(WRITER("<WRITER_METADATA_XML>" WMD_TEXT(ID1, WID1) "</WRITER_METADATA_XML>" COMP(""))), 0 },
        { "good-numbers.xml",
          "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"00000000-0000-0000-0000-000000000000\" context=\"0x19\" "
          "selectComponents=\"0\" bootableSystemState=\"1\" backupType=\"3\" partialFileSupport=\"0\" "
          "restoreType=\"1\"><WRITER_COMPONENTS " WRITER_ATTRS "><COMPONENT type=\"2\" componentName=\"c\" "
          "backupSucceeded=\"1\" selectedForRestore=\"1\" fileRestoreStatus=\"2\"/></WRITER_COMPONENTS>"
          "</BACKUP_COMPONENTS>",
          0 },
};

#define BAD(name, xml) { name, xml, -EBADMSG }

static const sample bad_samples[] = {
        BAD("bad-empty.xml", ""),
        BAD("bad-not-xml.xml", "hello"),
        BAD("bad-truncated.xml", "<?xml version=\"1.0\"?>\n" ROOT_OPEN "<WRITER_COMPONENTS " WRITER_ATTRS),
        BAD("bad-unclosed.xml", ROOT_OPEN WRITER("")),
        BAD("bad-wrong-root.xml", "<WRITER_METADATA " ROOT_ATTRS ">" WRITER("") "</WRITER_METADATA>"),
        BAD("bad-root-namespace.xml",
            "<BACKUP_COMPONENTS xmlns=\"x-schema:#VssComponentMetadata\" " ROOT_ATTRS "></BACKUP_COMPONENTS>"),
        BAD("bad-version.xml",
            "<BACKUP_COMPONENTS version=\"2.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-no-version.xml",
            "<BACKUP_COMPONENTS snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-missing-context.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-missing-set-id.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-missing-restore-type.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\"/>"),
        BAD("bad-set-id.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-00000000000g}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-context-name.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"VSS_CTX_BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-context-number.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"0x2\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-context-all.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"0xffffffff\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-context-negative.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"-1\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-backup-type.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"VSS_BT_FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-backup-type-number.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"7\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-backup-type-hex.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"0x1\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-restore-type.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"4\"/>"),
        BAD("bad-bool.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"yes\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-bool-case.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"TRUE\" bootableSystemState=\"false\" backupType=\"FULL\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-number-space.xml",
            "<BACKUP_COMPONENTS version=\"1.0\" snapshotSetId=\"{00000000-0000-0000-0000-000000000000}\" "
            "context=\"BACKUP\" selectComponents=\"true\" bootableSystemState=\"false\" backupType=\" 1\" "
            "partialFileSupport=\"false\" restoreType=\"UNDEFINED\"/>"),
        BAD("bad-instance-id.xml",
            DOC("<WRITER_COMPONENTS instanceId=\"{0123}\" writerId=\"" WID1 "\" writerName=\"w\"/>")),
        BAD("bad-writer-id.xml",
            DOC("<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"a1a2a3a4-b1b2-c1c2-d1d2-e1e2e3e4e5e6-\" "
                "writerName=\"w\"/>")),
        BAD("bad-missing-writer-id.xml", DOC("<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerName=\"w\"/>")),
        BAD("bad-missing-writer-name.xml",
            DOC("<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"" WID1 "\"/>")),
        BAD("bad-empty-writer-name.xml",
            DOC("<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"\"/>")),
        BAD("bad-duplicate-writer.xml",
            DOC(WRITER("") "<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"w2\"/>")),
        BAD("bad-component-outside-writer.xml", DOC(COMP(""))),
        BAD("bad-component-in-component.xml", DOC(WRITER(COMP(COMP(""))))),
        BAD("bad-writer-in-writer.xml", DOC(WRITER(WRITER("")))),
        BAD("bad-component-type-undefined.xml",
            DOC(WRITER("<COMPONENT type=\"UNDEFINED\" componentName=\"c\" " COMP_ATTRS "/>"))),
        BAD("bad-component-type-zero.xml", DOC(WRITER("<COMPONENT type=\"0\" componentName=\"c\" " COMP_ATTRS "/>"))),
        BAD("bad-component-type-number.xml",
            DOC(WRITER("<COMPONENT type=\"3\" componentName=\"c\" " COMP_ATTRS "/>"))),
        BAD("bad-component-type-name.xml",
            DOC(WRITER("<COMPONENT type=\"FILE_GROUP\" componentName=\"c\" " COMP_ATTRS "/>"))),
        BAD("bad-missing-component-type.xml", DOC(WRITER("<COMPONENT componentName=\"c\" " COMP_ATTRS "/>"))),
        BAD("bad-missing-component-name.xml", DOC(WRITER("<COMPONENT type=\"DATABASE\" " COMP_ATTRS "/>"))),
        BAD("bad-empty-component-name.xml",
            DOC(WRITER("<COMPONENT type=\"DATABASE\" componentName=\"\" " COMP_ATTRS "/>"))),
        BAD("bad-missing-backup-succeeded.xml",
            DOC(WRITER("<COMPONENT type=\"DATABASE\" componentName=\"c\" selectedForRestore=\"false\" "
                       "fileRestoreStatus=\"UNDEFINED\"/>"))),
        BAD("bad-file-restore-status.xml",
            DOC(WRITER("<COMPONENT type=\"DATABASE\" componentName=\"c\" backupSucceeded=\"false\" "
                       "selectedForRestore=\"false\" fileRestoreStatus=\"4\"/>"))),
        BAD("bad-file-restore-status-name.xml",
            DOC(WRITER("<COMPONENT type=\"DATABASE\" componentName=\"c\" backupSucceeded=\"false\" "
                       "selectedForRestore=\"false\" fileRestoreStatus=\"VSS_RS_ALL\"/>"))),
        BAD("bad-duplicate-component.xml", DOC(WRITER(COMP("") COMP("")))),
        BAD("bad-duplicate-component-type.xml",
            DOC(WRITER(COMP("") "<COMPONENT type=\"FILEGROUP\" componentName=\"c\" " COMP_ATTRS "/>"))),
        BAD("bad-duplicate-component-root.xml",
            DOC(WRITER(COMP("") "<COMPONENT type=\"DATABASE\" logicalPath=\"\" componentName=\"c\" " COMP_ATTRS
                                "/>"))),
        BAD("bad-duplicate-text.xml",
            DOC(WRITER(COMP("<BACKUP_STAMP>a</BACKUP_STAMP><BACKUP_STAMP>b</BACKUP_STAMP>")))),
        BAD("bad-duplicate-metadata.xml",
            DOC(WRITER("<WRITER_METADATA_XML>" WMD_TEXT(ID1, WID1) "</WRITER_METADATA_XML>"
                       "<WRITER_METADATA_XML>" WMD_TEXT(ID1, WID1) "</WRITER_METADATA_XML>"))),
        BAD("bad-text-attribute.xml", DOC(WRITER(COMP("<BACKUP_STAMP at=\"1\">s</BACKUP_STAMP>")))),
        BAD("bad-text-element.xml", DOC(WRITER(COMP("<BACKUP_STAMP>s<b/></BACKUP_STAMP>")))),
        BAD("bad-text-cdata.xml", DOC(WRITER(COMP("<BACKUP_STAMP><![CDATA[s]]></BACKUP_STAMP>")))),
        BAD("bad-text-comment.xml", DOC(WRITER(COMP("<BACKUP_STAMP>a<!-- c -->b</BACKUP_STAMP>")))),
        BAD("bad-text-pi.xml", DOC(WRITER(COMP("<BACKUP_STAMP><?pi x?></BACKUP_STAMP>")))),
        BAD("bad-unknown-element-root.xml", DOC("<SURPRISE/>")),
        BAD("bad-unknown-element-writer.xml", DOC(WRITER("<SURPRISE/>"))),
        BAD("bad-unknown-element-component.xml", DOC(WRITER(COMP("<SURPRISE>x</SURPRISE>")))),
        BAD("bad-wmd-as-element.xml",
            DOC(WRITER("<WRITER_METADATA version=\"1.0\"><IDENTIFICATION instanceId=\"" ID1 "\" writerId=\"" WID1
                       "\" friendlyName=\"w\" usage=\"USER_DATA\" dataSource=\"OTHER\"/></WRITER_METADATA>"))),
        BAD("bad-unknown-attribute-root.xml", "<BACKUP_COMPONENTS " ROOT_ATTRS " extra=\"1\"/>"),
        BAD("bad-unknown-attribute-writer.xml",
            DOC("<WRITER_COMPONENTS " WRITER_ATTRS " usage=\"USER_DATA\"/>")),
        BAD("bad-unknown-attribute-component.xml",
            DOC(WRITER("<COMPONENT type=\"DATABASE\" componentName=\"c\" caption=\"x\" " COMP_ATTRS "/>"))),
        BAD("bad-repeated-attribute.xml",
            DOC("<WRITER_COMPONENTS " WRITER_ATTRS " writerName=\"again\"/>")),
        BAD("bad-namespaced-attribute.xml", DOC("<WRITER_COMPONENTS xml:lang=\"en\" " WRITER_ATTRS "/>")),
        BAD("bad-text-root.xml", DOC("some text")),
        BAD("bad-text-writer.xml", DOC(WRITER("some text"))),
        BAD("bad-text-component.xml", DOC(WRITER(COMP("some text")))),
        BAD("bad-cdata.xml", DOC("<![CDATA[x]]>")),
        BAD("bad-processing-instruction.xml", DOC("<?pi x?>")),
        BAD("bad-wmd-malformed.xml", DOC(WRITER("<WRITER_METADATA_XML>not a document</WRITER_METADATA_XML>"))),
        BAD("bad-wmd-truncated.xml",
            DOC(WRITER("<WRITER_METADATA_XML>&lt;WRITER_METADATA version=\"1.0\"&gt;&lt;IDENTIFICATION "
                       "</WRITER_METADATA_XML>"))),
        BAD("bad-wmd-wrong-writer.xml",
            DOC(WRITER("<WRITER_METADATA_XML>" WMD_TEXT(ID1, "{11111111-2222-3333-4444-555555555555}")
                       "</WRITER_METADATA_XML>"))),
        BAD("bad-wmd-wrong-instance.xml",
            DOC(WRITER("<WRITER_METADATA_XML>" WMD_TEXT("{22222222-3333-4444-5555-666666666666}", WID1)
                       "</WRITER_METADATA_XML>"))),
        BAD("bad-wmd-doctype.xml",
            DOC(WRITER("<WRITER_METADATA_XML>&lt;!DOCTYPE WRITER_METADATA [ &lt;!ENTITY xxe SYSTEM "
                       "\"file:///etc/passwd\"&gt; ]&gt;\n" WMD_TEXT(ID1, WID1) "</WRITER_METADATA_XML>"))),
        BAD("bad-wmd-control-char.xml",
            DOC(WRITER("<WRITER_METADATA_XML>&lt;WRITER_METADATA version=\"1.0\"&gt;"
                       "&lt;IDENTIFICATION instanceId=\"" ID1
                       "\" writerId=\"" WID1 "\" friendlyName=\"a&amp;#1;b\" usage=\"USER_DATA\" "
                       "dataSource=\"OTHER\"/&gt;&lt;/WRITER_METADATA&gt;</WRITER_METADATA_XML>"))),
        BAD("bad-undefined-entity.xml", DOC(WRITER(COMP("<BACKUP_STAMP>&foo;</BACKUP_STAMP>")))),
        BAD("bad-control-char-text.xml", DOC(WRITER(COMP("<BACKUP_STAMP>a&#1;b</BACKUP_STAMP>")))),
        BAD("bad-control-char-attribute.xml",
            DOC("<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"a&#27;b\"/>")),
        BAD("bad-nul-reference.xml", DOC(WRITER(COMP("<BACKUP_STAMP>a&#0;b</BACKUP_STAMP>")))),
        BAD("bad-utf8.xml",
            DOC("<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"a\xff\xfe\"/>")),
        BAD("bad-utf8-text.xml", DOC(WRITER(COMP("<BACKUP_STAMP>\xc0\xaf</BACKUP_STAMP>")))),
        BAD("bad-encoding-latin1.xml",
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n" ROOT_OPEN
            "<WRITER_COMPONENTS instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"caf\xe9\"/>" ROOT_CLOSE),
        BAD("bad-billion-laughs.xml",
            "<?xml version=\"1.0\"?>\n"
            "<!DOCTYPE BACKUP_COMPONENTS [\n"
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
            "]>\n" ROOT_OPEN WRITER(COMP("<BACKUP_METADATA>&lol9;</BACKUP_METADATA>")) ROOT_CLOSE "\n"),
        BAD("bad-external-entity.xml",
            "<?xml version=\"1.0\"?>\n"
            "<!DOCTYPE BACKUP_COMPONENTS [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n" ROOT_OPEN
            WRITER(COMP("<BACKUP_METADATA>&xxe;</BACKUP_METADATA>")) ROOT_CLOSE "\n"),
        BAD("bad-external-dtd.xml",
            "<?xml version=\"1.0\"?>\n"
            "<!DOCTYPE BACKUP_COMPONENTS SYSTEM \"http://example.org/bcd.dtd\">\n" ROOT_OPEN ROOT_CLOSE),
        BAD("bad-doctype-plain.xml", "<!DOCTYPE BACKUP_COMPONENTS>\n" ROOT_OPEN ROOT_CLOSE),
        BAD("bad-xinclude.xml",
            DOC("<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\"/>")),
        BAD("bad-two-roots.xml", DOC("") ROOT_OPEN ROOT_CLOSE),
        BAD("bad-undeclared-prefix.xml", DOC("<x:WRITER_COMPONENTS " WRITER_ATTRS "/>")),
        BAD("bad-undeclared-prefix-attribute.xml",
            DOC("<WRITER_COMPONENTS x:instanceId=\"" ID1 "\" writerId=\"" WID1 "\" writerName=\"w\"/>")),
        BAD("bad-element-namespace.xml", DOC("<WRITER_COMPONENTS xmlns=\"urn:x\" " WRITER_ATTRS "/>")),
};

static void test_malformed(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(bad_samples); i++)
                assert_refused(bad_samples[i].name, bad_samples[i].xml, bad_samples[i].error);
        for (size_t i = 0; i < ELEMENTSOF(good_samples); i++) {
                lvss_bcd *bcd = from_xml(good_samples[i].xml);
                assert_round_trip(bcd);
                lvss_bcd_free(bcd);
        }
}

static void test_every_truncation(void **state) {
        /* every strict prefix of a full document, up to its last '>', is refused; none crashes */
        lvss_bcd *bcd = build_sample();
        char *xml = NULL;
        size_t end;

        /* Not through to_xml(): at -O3, with to_xml() inlined, gcc takes the pointer it returns for
         * one that may point at to_xml()'s own local variable (-Wdangling-pointer). Here the
         * variable whose address lvss_bcd_to_xml() gets lives as long as the pointer. */
        assert_int_equal(lvss_bcd_to_xml(bcd, &xml), 0);
        assert_non_null(xml);
        assert_non_null(strrchr(xml, '>'));
        end = (size_t) (strrchr(xml, '>') - xml);

        for (size_t n = 0; n < end; n++) {
                lvss_bcd *b = NULL;
                char saved = xml[n];
                int r;

                xml[n] = 0;
                r = lvss_bcd_from_xml(xml, &b);
                if (r != -EBADMSG)
                        fail_msg("prefix of %zu bytes: %d", n, r);
                assert_null(b);
                xml[n] = saved;
        }
        free(xml);
        lvss_bcd_free(bcd);
}

/* ---- allocation failures ------------------------------------------------- */

/*
 * The test is linked with -Wl,--wrap=<f> for the allocators lvss calls
 * (src/documents/meson.build), and main() gives libxml2 the same ones
 * (xmlMemSetup), so the Nth allocation of an operation can be made to fail.
 * Each operation runs for N = 0, 1, 2, ... until it gets through without
 * reaching N; every run must either fail with -ENOMEM, leaving its output
 * untouched, or succeed with the right result. Under ASan this also proves
 * that no failure path leaks.
 *
 * libxml2's own allocations are made to fail only where no text is parsed:
 * libxml2 2.9's parser reports some of its allocation failures as
 * well-formedness errors, and crashes on others (in xmlParseDocument), which
 * no caller can help. Tree building and writing out survive them.
 */

static bool alloc_in_libxml2; /* count libxml2's own allocations too */

/* libxml2's allocators: counted (and failed) only when alloc_in_libxml2 is set */
static void *xml_malloc(size_t size) {
        return alloc_in_libxml2 ? __wrap_malloc(size) : __real_malloc(size);
}

static void *xml_realloc(void *p, size_t size) {
        return alloc_in_libxml2 ? __wrap_realloc(p, size) : __real_realloc(p, size);
}

static char *xml_strdup(const char *s) {
        return alloc_in_libxml2 ? __wrap_strdup(s) : __real_strdup(s);
}

static void arm(long n, bool libxml2_too) {
        alloc_in_libxml2 = libxml2_too;
        test_alloc_arm(n);
}

/* Disarms; true when the armed allocation was reached (the run met a failure). */
static bool disarm(void) {
        return test_alloc_disarm();
}

static void *mfree_test(void *p) {
        free(p);
        return NULL;
}

static void to_xml_failures(const lvss_bcd *doc, const char *expected, bool libxml2_too) {
        long n;

        for (n = 0;; n++) {
                char *xml = (char *) 0x1;
                int r;

                arm(n, libxml2_too);
                r = lvss_bcd_to_xml(doc, &xml);
                if (!disarm()) {
                        assert_int_equal(r, 0);
                        assert_string_equal(xml, expected);
                        free(xml);
                        break;
                }
                if (r == 0 && strcmp(xml, expected) != 0)
                        fail_msg("to_xml, allocation %ld failing%s: wrong text:\n%s", n,
                                 libxml2_too ? " (libxml2 too)" : "", xml);
                if (r == 0) { /* libxml2 got over it, and the text is right */
                        free(xml);
                        continue;
                }
                if (r != -ENOMEM)
                        fail_msg("to_xml, allocation %ld failing%s: %d", n, libxml2_too ? " (libxml2 too)" : "", r);
                assert_ptr_equal(xml, (char *) 0x1);
        }
        assert_true(n > (libxml2_too ? 10 : 2));
}

/* libxml2 reports allocation failures on stderr before a parser context exists to take them */
static void quiet(void *ctx, const char *msg, ...) {
}

static void test_allocation_failures(void **state) {
        lvss_bcd *doc = build_sample();
        char *expected = to_xml(doc);
        lvss_bcd_writer w = { .instance_id = instance2, .writer_id = writer1, .writer_name = (char *) "w",
                              .instance_name = (char *) "i" };
        long n;

        xmlSetGenericErrorFunc(NULL, quiet);

        /* from_xml */
        for (n = 0;; n++) {
                lvss_bcd *bcd = (lvss_bcd *) 0x1;
                int r;

                arm(n, false);
                r = lvss_bcd_from_xml(expected, &bcd);
                if (!disarm()) {
                        assert_int_equal(r, 0);
                        assert_bcd_equal(doc, bcd);
                        lvss_bcd_free(bcd);
                        break;
                }
                if (r != -ENOMEM)
                        fail_msg("from_xml, allocation %ld failing: %d", n, r);
                assert_ptr_equal(bcd, (lvss_bcd *) 0x1);
        }
        assert_true(n > 10);

        /* to_xml; with libxml2 failing too once no WMD needs parsing, and with text long enough that the
         * output buffer grows several times */
        to_xml_failures(doc, expected, false);
        free(expected);
        for (size_t i = 0; i < doc->n_writers; i++)
                doc->writers[i].metadata_xml = mfree_test(doc->writers[i].metadata_xml);
        expected = to_xml(doc);
        to_xml_failures(doc, expected, true);
        free(expected);
        free(doc->components[2].restore_metadata);
        doc->components[2].restore_metadata = make_text("", '&', 100000, "");
        expected = to_xml(doc);
        to_xml_failures(doc, expected, true);

        /* building: a failed add leaves the document as it was */
        for (n = 0;; n++) {
                size_t nw = doc->n_writers, nc = doc->n_components;
                lvss_bcd_component c = doc->components[0];
                bool met;
                int r1, r2;

                c.instance_id = instance2;
                c.writer_id = writer1;
                arm(n, false);
                r1 = lvss_bcd_add_writer(doc, &w, NULL);
                r2 = lvss_bcd_add_component(doc, &c, NULL);
                met = disarm();
                assert_true(r1 == 0 || r1 == -ENOMEM);
                assert_true(r2 == 0 || r2 == -ENOMEM);
                assert_int_equal(doc->n_writers, nw + (r1 == 0));
                assert_int_equal(doc->n_components, nc + (r2 == 0));
                if (r1 == 0)
                        writer_done_test(&doc->writers[--doc->n_writers]);
                if (r2 == 0)
                        component_done_test(&doc->components[--doc->n_components]);
                if (!met)
                        break;
        }

        free(expected);
        lvss_bcd_free(doc);
        xmlSetGenericErrorFunc(NULL, NULL);
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
        lvss_bcd *bcd;
        char *xml = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(bad_samples); i++)
                if ((r = write_file(dir, bad_samples[i].name, bad_samples[i].xml)) < 0)
                        return r;
        for (size_t i = 0; i < ELEMENTSOF(good_samples); i++)
                if ((r = write_file(dir, good_samples[i].name, good_samples[i].xml)) < 0)
                        return r;

        /* the full sample, as lvss_bcd_to_xml() writes it */
        bcd = build_sample();
        r = lvss_bcd_to_xml(bcd, &xml);
        lvss_bcd_free(bcd);
        if (r < 0)
                return r;
        r = write_file(dir, "good-full.xml", xml);
        free(xml);
        return r;
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_xml_text),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_grouping),
                cmocka_unit_test(test_special_strings),
                cmocka_unit_test(test_embedded_metadata),
                cmocka_unit_test(test_accepted_forms),
                cmocka_unit_test(test_argument_checks),
                cmocka_unit_test(test_oversize),
                cmocka_unit_test(test_count_limits),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_every_truncation),
                cmocka_unit_test(test_allocation_failures),
        };

        /* libxml2 allocates through the wrapped allocators too (see test_allocation_failures) */
        if (xmlMemSetup(free, xml_malloc, xml_realloc, xml_strdup) != 0) {
                fprintf(stderr, "xmlMemSetup failed\n");
                return 1;
        }

        if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
                int r = write_corpus(argv[2]);
                if (r < 0)
                        fprintf(stderr, "writing the corpus: %s\n", strerror(-r));
                return r < 0 ? 1 : 0;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Documents from outside, through the public API and a real lvssd.
 *
 * Acceptance (issue 4) A5: "malformed documents in tests get
 * VSS_E_INVALID_XML_DOCUMENT, never a crash." A Backup Components Document
 * handed to vss_initialize_for_restore() crosses D-Bus and is parsed by
 * lvssd (docs/dbus-interface.md: InitializeForRestore, "a document SaveAsXml
 * wrote; VSS_E_INVALID_XML_DOCUMENT when it is not valid"); a Writer
 * Metadata Document is parsed in process by
 * vss_examine_writer_metadata_load_xml() (docs/documents.md, "Loading
 * untrusted text"). Never a crash: lvssd must still be alive and serving
 * at the end (the teardown fails the test otherwise, and under
 * LVSS_TEST_VALGRIND=1 valgrind watches it), and a refused document changes
 * nothing: the same object loads a good document afterwards (WS-11).
 *
 * Sources of malformed documents: the seed corpora (tests/fuzz-corpus/bcd,
 * tests/fuzz-corpus/wmd: bad-*.xml must fail, good-*.xml must load), and
 * mutations of a document a real backup saved.
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "documents/bcd.h"
#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

typedef struct corpus_file {
        char *name;
        char *text;
        size_t len; /* bytes in the file (a NUL inside would make strlen shorter) */
} corpus_file;

static int name_cmp(const void *a, const void *b) {
        return strcmp(((const corpus_file *) a)->name, ((const corpus_file *) b)->name);
}

/* Every *.xml of tests/fuzz-corpus/@kind whose name starts with @prefix, sorted. */
static corpus_file *corpus_read(const char *kind, const char *prefix, size_t *ret_n) {
        const char *src = getenv("LVSS_SOURCE_ROOT");
        char dir[4096];
        corpus_file *v = NULL;
        size_t n = 0;
        struct dirent *e;

        CHECK(src && *src, "LVSS_SOURCE_ROOT is not set (run through meson test)");
        snprintf(dir, sizeof dir, "%s/tests/fuzz-corpus/%s", src, kind);
        DIR *d = opendir(dir);
        CHECK(d, "cannot open %s: %m", dir);
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || l < 4 || strcmp(e->d_name + l - 4, ".xml") != 0)
                        continue;
                char path[4600];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                FILE *f = fopen(path, "re");
                CHECK(f, "cannot open %s: %m", path);
                char *buf = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&buf, &len);
                char chunk[8192];
                size_t k;
                while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
                        fwrite(chunk, 1, k, m);
                fclose(f);
                fclose(m);
                v = realloc(v, (n + 1) * sizeof *v);
                CHECK(v, "out of memory");
                v[n++] = (corpus_file) { strdup(e->d_name), buf, len };
        }
        closedir(d);
        qsort(v, n, sizeof *v, name_cmp);
        *ret_n = n;
        return v;
}

static void corpus_free(corpus_file *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].text);
        }
        free(v);
}

static vss_backup_components *new_object(itest_env *env) {
        vss_backup_components *bc = NULL;

        CHECK_HR(vss_create_backup_components(&bc), VSS_S_OK, "vss_create_backup_components");
        if (env->n_requesters < sizeof env->requesters / sizeof env->requesters[0])
                env->requesters[env->n_requesters++] = bc;
        return bc;
}

/* lvssd still serves: a new session gathers the writers' status. */
static void check_lvssd_serves(itest_env *env, itest_writer *w) {
        vss_backup_components *bc = itest_requester(env, false);
        itest_statuses st;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_gather_status(env, bc, &st);
        CHECK_STATUS(&st, w, VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);
}

/* ---- A5: the BCD seed corpus through InitializeForRestore ------------------------- */

static void test_documents_bcd_corpus_through_lvssd(void **state) {
        itest_env *env = *state;
        size_t n_bad = 0, n_good = 0;
        corpus_file *bad = corpus_read("bcd", "bad-", &n_bad);
        corpus_file *good = corpus_read("bcd", "good-", &n_good);
        char failures[8192] = "";
        size_t n_failures = 0;

        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        CHECK(n_bad >= 20 && n_good >= 1, "the BCD corpus looks empty: %zu bad, %zu good", n_bad, n_good);

        /* every malformed document on one object: each is refused and changes nothing */
        vss_backup_components *bc = new_object(env);
        for (size_t i = 0; i < n_bad; i++) {
                vss_hresult hr = vss_initialize_for_restore(bc, bad[i].text);
                bool ok = hr == VSS_E_INVALID_XML_DOCUMENT;
                /*
                 * The empty file is no document at all: like NULL, an argument error
                 * (restore.c refuses "" with VSS_E_INVALIDARG on purpose). Accepted
                 * as either.
                 */
                if (bad[i].len == 0)
                        ok = hr == VSS_E_INVALID_XML_DOCUMENT || hr == VSS_E_INVALIDARG;
                if (!ok) {
                        size_t l = strlen(failures);
                        snprintf(failures + l, sizeof failures - l, "\n  %s: %s", bad[i].name, itest_hr_str(hr));
                        n_failures++;
                }
        }
        /* the refusals changed nothing: the same object still takes a good document */
        CHECK_HR(vss_initialize_for_restore(bc, good[0].text), VSS_S_OK,
                 "WS-11: a good document (%s) after refused ones, same object", good[0].name);
        itest_requester_release(env, bc);

        /* every good seed loads */
        for (size_t i = 0; i < n_good; i++) {
                vss_backup_components *g = new_object(env);
                CHECK_HR(vss_initialize_for_restore(g, good[i].text), VSS_S_OK, "A5: the good document %s",
                         good[i].name);
                itest_requester_release(env, g);
        }

        check_lvssd_serves(env, a);
        corpus_free(bad, n_bad);
        corpus_free(good, n_good);
        /* last, so that everything above is checked whatever this says */
        CHECK(n_failures == 0, "A5: %zu of %zu malformed documents were not refused with VSS_E_INVALID_XML_DOCUMENT:%s",
              n_failures, n_bad, failures);
}

/* ---- A5: the WMD seed corpus through the public loader ------------------------------ */

static void test_documents_wmd_corpus_public_loader(void **state) {
        size_t n_bad = 0, n_good = 0;
        corpus_file *bad = corpus_read("wmd", "bad-", &n_bad);
        corpus_file *good = corpus_read("wmd", "good-", &n_good);
        char failures[8192] = "";
        size_t n_failures = 0;

        (void) state;
        CHECK(n_bad >= 20 && n_good >= 1, "the WMD corpus looks empty: %zu bad, %zu good", n_bad, n_good);
        for (size_t i = 0; i < n_bad; i++) {
                vss_examine_writer_metadata *md = NULL;
                vss_hresult hr = vss_examine_writer_metadata_load_xml(bad[i].text, &md);
                if (hr != VSS_E_INVALID_XML_DOCUMENT) {
                        size_t l = strlen(failures);
                        snprintf(failures + l, sizeof failures - l, "\n  %s: %s", bad[i].name, itest_hr_str(hr));
                        n_failures++;
                }
                vss_examine_writer_metadata_release(md);
        }
        CHECK(n_failures == 0, "A5: %zu of %zu malformed WMDs were not refused with VSS_E_INVALID_XML_DOCUMENT:%s",
              n_failures, n_bad, failures);
        for (size_t i = 0; i < n_good; i++) {
                vss_examine_writer_metadata *md = NULL;
                CHECK_HR(vss_examine_writer_metadata_load_xml(good[i].text, &md), VSS_S_OK, "the good WMD %s",
                         good[i].name);
                vss_examine_writer_metadata_release(md);
        }
        corpus_free(bad, n_bad);
        corpus_free(good, n_good);
}

/* ---- A5: mutations of a document a real backup saved ---------------------------------- */

/* @s with [@at, @at + @cut) replaced by @insert (owned). */
static char *splice(const char *s, size_t at, size_t cut, const char *insert) {
        size_t l = strlen(s), il = strlen(insert);
        CHECK(at + cut <= l, "splice out of range");
        char *r = malloc(l - cut + il + 1);
        CHECK(r, "out of memory");
        memcpy(r, s, at);
        memcpy(r + at, insert, il);
        memcpy(r + at + il, s + at + cut, l - at - cut + 1);
        return r;
}

static size_t offset_of(const char *s, const char *needle) {
        const char *p = strstr(s, needle);
        CHECK(p, "the saved document has no \"%s\"", needle);
        return (size_t) (p - s);
}

typedef struct mutation {
        char *what;
        char *text;
} mutation;

static void test_documents_mutated_saved_bcd(void **state) {
        itest_env *env = *state;
        mutation m[128];
        size_t n = 0;

        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *ws[] = { a };
        char *xml = itest_backup_with_components(env, ws, 1, NULL);
        size_t len = strlen(xml);
        size_t root_end = offset_of(xml, "</BACKUP_COMPONENTS>");

        /* truncated anywhere before the root closes: never well-formed */
        for (size_t k = 1; k <= 40; k++) {
                size_t at = root_end * k / 41;
                char *t = strndup(xml, at);
                CHECK(t, "out of memory");
                char what[64];
                snprintf(what, sizeof what, "truncated to %zu of %zu bytes", at, len);
                m[n++] = (mutation) { strdup(what), t };
        }
        m[n++] = (mutation) { strdup("root never closed"), strndup(xml, root_end) };

        /* an unknown attribute on the root */
        size_t root = offset_of(xml, "<BACKUP_COMPONENTS") + strlen("<BACKUP_COMPONENTS");
        m[n++] = (mutation) { strdup("unknown root attribute"), splice(xml, root, 0, " extra=\"1\"") };
        /* an unknown element inside the root */
        m[n++] = (mutation) { strdup("unknown element"), splice(xml, root_end, 0, "<SURPRISE/>") };
        /* an internal DTD with an entity, and an external one */
        size_t first = offset_of(xml, "<BACKUP_COMPONENTS");
        m[n++] = (mutation) { strdup("DOCTYPE with an entity"),
                              splice(xml, first, 0,
                                     "<!DOCTYPE BACKUP_COMPONENTS [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>\n") };
        m[n++] = (mutation) { strdup("external entity"),
                              splice(xml, first, 0, "<!DOCTYPE BACKUP_COMPONENTS SYSTEM \"file:///etc/passwd\">\n") };
        /* the writer id no longer matches the identity in the embedded metadata document */
        size_t wid = offset_of(xml, "writerId=\"") + strlen("writerId=\"");
        m[n++] = (mutation) { strdup("writer id differs from its metadata"),
                              splice(xml, wid, 38, "{0badc0de-0000-4000-8000-000000000000}") };
        /* a malformed id */
        m[n++] = (mutation) { strdup("malformed instance id"),
                              splice(xml, offset_of(xml, "instanceId=\"") + strlen("instanceId=\""), 38, "{nope}") };
        /* the embedded metadata document replaced by text that is no WMD */
        size_t md_open = offset_of(xml, "<WRITER_METADATA_XML>") + strlen("<WRITER_METADATA_XML>");
        size_t md_close = offset_of(xml, "</WRITER_METADATA_XML>");
        m[n++] = (mutation) { strdup("embedded metadata is not a WMD"),
                              splice(xml, md_open, md_close - md_open, "this is not a writer metadata document") };
        /* the same component twice */
        size_t c_open = offset_of(xml, "<COMPONENT ");
        size_t c_close = offset_of(xml + c_open, "</COMPONENT>") + c_open + strlen("</COMPONENT>");
        char *component = strndup(xml + c_open, c_close - c_open);
        m[n++] = (mutation) { strdup("duplicate component"), splice(xml, c_close, 0, component) };
        /* a component outside its writer */
        m[n++] = (mutation) { strdup("component outside its writer"), splice(xml, root_end, 0, component) };
        free(component);
        /* a control character as a character reference in a text */
        size_t meta = offset_of(xml, "<BACKUP_METADATA>") + strlen("<BACKUP_METADATA>");
        m[n++] = (mutation) { strdup("control character reference"), splice(xml, meta, 0, "&#1;") };
        /* a processing instruction and CDATA inside a text */
        m[n++] = (mutation) { strdup("CDATA in a text"), splice(xml, meta, 0, "<![CDATA[x]]>") };
        /* elements nested far deeper than any document */
        {
                size_t depth = 20000;
                char *deep = malloc(depth * 7 + 1), *p = deep;
                CHECK(deep, "out of memory");
                for (size_t i = 0; i < depth; i++)
                        p = stpcpy(p, "<X>");
                for (size_t i = 0; i < depth; i++)
                        p = stpcpy(p, "</X>");
                m[n++] = (mutation) { strdup("20000 nested elements"), splice(xml, root_end, 0, deep) };
                free(deep);
        }
        /* one text just over the size of a whole document (4 MiB) */
        {
                size_t big = 4u * 1024u * 1024u + 1u;
                char *filler = malloc(big + 1);
                CHECK(filler, "out of memory");
                memset(filler, 'x', big);
                filler[big] = 0;
                m[n++] = (mutation) { strdup("over 4 MiB"), splice(xml, meta, 0, filler) };
                free(filler);
        }
        /* a second root */
        m[n++] = (mutation) { strdup("two roots"), splice(xml, len, 0, "<BACKUP_COMPONENTS/>") };
        /* invalid UTF-8 in an attribute and in a text (a malformed document, not a wrong argument) */
        size_t name = offset_of(xml, "writerName=\"") + strlen("writerName=\"");
        m[n++] = (mutation) { strdup("invalid UTF-8 in an attribute"), splice(xml, name, 0, "\xc3\x28") };
        m[n++] = (mutation) { strdup("invalid UTF-8 in a text"), splice(xml, meta, 0, "\xff\xfe") };
        CHECK(n <= sizeof m / sizeof m[0], "too many mutations");

        vss_backup_components *bc = new_object(env);
        char failures[8192] = "";
        size_t n_failures = 0;
        for (size_t i = 0; i < n; i++) {
                CHECK(m[i].text, "out of memory");
                vss_hresult hr = vss_initialize_for_restore(bc, m[i].text);
                if (hr != VSS_E_INVALID_XML_DOCUMENT) {
                        size_t l = strlen(failures);
                        snprintf(failures + l, sizeof failures - l, "\n  %s: %s", m[i].what, itest_hr_str(hr));
                        n_failures++;
                }
        }
        /* the original, on the same object: nothing was changed by the refusals */
        CHECK_HR(vss_initialize_for_restore(bc, xml), VSS_S_OK, "WS-11: the saved document after refused ones");
        CHECK_HR(vss_set_selected_for_restore(bc, &a->writer_id, VSS_CT_FILEGROUP, "", "data", true), VSS_S_OK,
                 "selecting A's component of the saved document");
        itest_requester_release(env, bc);
        check_lvssd_serves(env, a);

        for (size_t i = 0; i < n; i++) {
                free(m[i].what);
                free(m[i].text);
        }
        free(xml);
        /* last, so that everything above is checked whatever this says */
        CHECK(n_failures == 0, "A5: %zu of %zu mutated documents were not refused with VSS_E_INVALID_XML_DOCUMENT:%s",
              n_failures, n, failures);
}

/* ---- documents and call order ----------------------------------------------------------- */

static void test_documents_save_and_load_again(void **state) {
        itest_env *env = *state;
        char *doc = NULL;

        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");

        /* WS-11: SaveAsXml needs an initialized session; InitializeForRestore needs a document */
        vss_backup_components *bc = new_object(env);
        CHECK_HR(vss_save_as_xml(bc, &doc), VSS_E_BAD_STATE, "vss_save_as_xml before any Initialize");
        CHECK_HR(vss_initialize_for_restore(bc, NULL), VSS_E_INVALIDARG, "vss_initialize_for_restore(NULL)");
        CHECK_HR(vss_save_as_xml(bc, NULL), VSS_E_INVALIDARG, "vss_save_as_xml(NULL)");
        itest_requester_release(env, bc);

        /*
         * A restore session's document is a document too: it loads in the next restore, and says what
         * the backup's said. The backup keeps its shadow copy (VSS_CTX_APP_ROLLBACK, persistent), so
         * that the context is not the default one.
         */
        char *xml = NULL;
        {
                vss_backup_components *bk = itest_requester(env, true);
                CHECK_HR(vss_set_context(bk, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context(APP_ROLLBACK)");
                STEP_OK(env, bk, vss_gather_writer_metadata);
                CHECK_HR(vss_add_component(bk, &a->instance_id, &a->writer_id, VSS_CT_FILEGROUP, "", "data"), VSS_S_OK,
                         "vss_add_component");
                itest_start_set(env, bk, NULL);
                STEP_OK(env, bk, vss_prepare_for_backup);
                STEP_OK(env, bk, vss_do_snapshot_set);
                CHECK_HR(vss_set_backup_succeeded(bk, &a->instance_id, &a->writer_id, VSS_CT_FILEGROUP, "", "data", true),
                         VSS_S_OK, "vss_set_backup_succeeded");
                STEP_OK(env, bk, vss_backup_complete);
                CHECK_HR(vss_save_as_xml(bk, &xml), VSS_S_OK, "vss_save_as_xml");
                itest_requester_release(env, bk);
        }
        bc = new_object(env);
        CHECK_HR(vss_initialize_for_restore(bc, xml), VSS_S_OK, "vss_initialize_for_restore");
        CHECK_HR(vss_save_as_xml(bc, &doc), VSS_S_OK, "vss_save_as_xml in a restore session");
        itest_requester_release(env, bc);

        lvss_bcd *x = NULL, *y = NULL;
        char diff[4096] = "";
#define DIFF(cond, ...)                                                                    \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        size_t _l = strlen(diff);                                          \
                        snprintf(diff + _l, sizeof diff - _l, "\n  " __VA_ARGS__);        \
                }                                                                          \
        } while (0)
        CHECK(lvss_bcd_from_xml(xml, &x) >= 0 && lvss_bcd_from_xml(doc, &y) >= 0, "the documents do not parse");
        CHECK(x->n_writers == y->n_writers && x->n_components == y->n_components,
              "the restore session's document has %zu writers / %zu components, the backup's %zu / %zu",
              y->n_writers, y->n_components, x->n_writers, x->n_components);
        DIFF(vss_id_equal(&x->snapshot_set_id, &y->snapshot_set_id), "snapshot set id: %s, was %s",
             itest_id_str(&y->snapshot_set_id), itest_id_str(&x->snapshot_set_id));
        DIFF(x->context == y->context, "context: 0x%x, was 0x%x", (unsigned) y->context, (unsigned) x->context);
        DIFF(x->select_components == y->select_components, "select components: %d, was %d", y->select_components,
             x->select_components);
        DIFF(x->backup_type == y->backup_type, "backup type: %d, was %d", (int) y->backup_type, (int) x->backup_type);
        for (size_t i = 0; i < x->n_writers; i++) {
                DIFF(vss_id_equal(&x->writers[i].instance_id, &y->writers[i].instance_id) &&
                             vss_id_equal(&x->writers[i].writer_id, &y->writers[i].writer_id),
                     "writer %zu: ids differ", i);
                DIFF(x->writers[i].metadata_xml && y->writers[i].metadata_xml &&
                             strcmp(x->writers[i].metadata_xml, y->writers[i].metadata_xml) == 0,
                     "writer %zu: metadata document differs", i);
        }
        for (size_t i = 0; i < x->n_components; i++) {
                const lvss_bcd_component *p = &x->components[i], *q = &y->components[i];
                DIFF(strcmp(p->name, q->name) == 0, "component %zu: name %s, was %s", i, q->name, p->name);
                DIFF(p->backup_metadata && q->backup_metadata && strcmp(p->backup_metadata, q->backup_metadata) == 0,
                     "component %zu: backup metadata differs", i);
                DIFF(p->backup_stamp && q->backup_stamp && strcmp(p->backup_stamp, q->backup_stamp) == 0,
                     "component %zu: backup stamp differs", i);
                DIFF(p->backup_succeeded == q->backup_succeeded, "component %zu: backup succeeded %d, was %d", i,
                     q->backup_succeeded, p->backup_succeeded);
        }
#undef DIFF
        lvss_bcd_free(x);
        lvss_bcd_free(y);

        bc = new_object(env);
        CHECK_HR(vss_initialize_for_restore(bc, doc), VSS_S_OK, "a restore session's document, loaded again");
        CHECK_HR(vss_set_selected_for_restore(bc, &a->writer_id, VSS_CT_FILEGROUP, "", "data", true), VSS_S_OK,
                 "selecting A's component");
        itest_requester_release(env, bc);
        free(doc);
        free(xml);
        /* vss-reference 6.2: the document is loaded by InitializeForRestore; saving it again keeps what it said */
        CHECK(!*diff, "a restore session's SaveAsXml lost what the backup's document said:%s", diff);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_documents_bcd_corpus_through_lvssd),
                ITEST(test_documents_wmd_corpus_public_loader),
                ITEST(test_documents_mutated_saved_bcd),
                ITEST(test_documents_save_and_load_again),
        };
        return ITEST_MAIN("documents", tests);
}

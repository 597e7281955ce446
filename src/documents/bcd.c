/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The Backup Components Document: what SaveAsXml hands the requester and
 * InitializeForRestore takes back (vss-reference.md §6.2). The in-memory
 * form is plain data (bcd.h): the requester's state, the writers, and one
 * flat array of components naming their writer by (instance id, writer id).
 * The XML (docs/documents.md) is close to VSS's BCD and groups components
 * under their writer:
 *
 *   <BACKUP_COMPONENTS version="1.0" snapshotSetId= context= selectComponents=
 *       bootableSystemState= backupType= partialFileSupport= restoreType=>
 *     <WRITER_COMPONENTS instanceId= writerId= writerName= [instanceName=]>
 *       <WRITER_METADATA_XML>the writer's WMD, as escaped text</WRITER_METADATA_XML>
 *       <COMPONENT type= [logicalPath=] componentName= backupSucceeded=
 *           selectedForRestore= fileRestoreStatus=>
 *         <BACKUP_METADATA>text</BACKUP_METADATA> <BACKUP_STAMP/> <PREVIOUS_BACKUP_STAMP/>
 *         <RESTORE_METADATA/> <PRE_RESTORE_FAILURE_MSG/> <POST_RESTORE_FAILURE_MSG/>
 *       </COMPONENT>
 *     </WRITER_COMPONENTS>
 *   </BACKUP_COMPONENTS>
 *
 * Free-text strings are element text, not attributes, so long writer data
 * reads naturally and keeps its line breaks. The writer's metadata document
 * is kept as text rather than as a subtree: it comes back byte for byte
 * (from_xml(to_xml(x)) equals x), and the WMD loader stays the one judge of
 * the WMD format: the text is loaded with lvss_wmd_load() when written and
 * when read, and its identity must be the writer's.
 *
 * One set of rules serves writing and reading: lvss_bcd_add_*() refuse what
 * lvss_bcd_to_xml() would refuse (except duplicates, found only when the
 * whole document is known), to_xml() checks everything again (callers may
 * edit fields in place), and from_xml() pushes every element through the
 * same checks. So a document loads if and only if to_xml() could have
 * written it.
 *
 * from_xml() reads text that came from a requester, so it trusts nothing
 * (xml-util.c does the parse, as for the WMD):
 * - at most BCD_XML_MAX bytes (4 MiB: a BCD carries its writers' WMDs),
 *   parsed as UTF-8 whatever the declaration says, no network, no DTD
 *   loading, no entity substitution, no XInclude; a DOCTYPE or entity
 *   declaration stops the parser before its internal subset is processed;
 * - unknown elements and attributes, namespaces, stray text, CDATA,
 *   processing instructions are refused; every attribute is checked (ids
 *   that parse, known enum names or numbers, booleans, valid strings);
 * - at most BCD_WRITERS_MAX writers, BCD_COMPONENTS_MAX components, and
 *   BCD_STRING_MAX bytes in any one string (the embedded WMD included),
 *   checked while reading; duplicate writers and components are found by
 *   sorting, never by a quadratic scan.
 * Errors: -E2BIG for anything over a limit, -EBADMSG for anything else that
 * is wrong, -ENOMEM.
 */

#include <malloc.h>
#include <stddef.h>

#include <lvss/metadata.h>

#include "bcd.h"
#include "basic/util.h"
#include "wmd.h"
#include "xml-util.h"

#define BCD_VERSION "1.0"

#define BCD_XML_MAX        ((size_t) 4 << 20) /* bytes of XML text (4 MiB) */
#define BCD_WRITERS_MAX    ((size_t) 10000)
#define BCD_COMPONENTS_MAX ((size_t) 100000)
#define BCD_STRING_MAX     ((size_t) 1 << 20) /* bytes of any one string, the WMD text included (1 MiB) */

/* ---- names --------------------------------------------------------------- */

static const char *const backup_type_names[] = {
        [VSS_BT_UNDEFINED] = "UNDEFINED", [VSS_BT_FULL] = "FULL", [VSS_BT_INCREMENTAL] = "INCREMENTAL",
        [VSS_BT_DIFFERENTIAL] = "DIFFERENTIAL", [VSS_BT_LOG] = "LOG", [VSS_BT_COPY] = "COPY",
        [VSS_BT_OTHER] = "OTHER",
};

static const char *const restore_type_names[] = {
        [VSS_RTYPE_UNDEFINED] = "UNDEFINED",
        [VSS_RTYPE_BY_COPY] = "BY_COPY",
        [VSS_RTYPE_IMPORT] = "IMPORT",
        [VSS_RTYPE_OTHER] = "OTHER",
};

/* UNDEFINED is named so that it reads as a known value, then is refused: a component has a real type */
static const char *const component_type_names[] = {
        [VSS_CT_UNDEFINED] = "UNDEFINED",
        [VSS_CT_DATABASE] = "DATABASE",
        [VSS_CT_FILEGROUP] = "FILEGROUP",
};

static const char *const file_restore_status_names[] = {
        [VSS_RS_UNDEFINED] = "UNDEFINED",
        [VSS_RS_NONE] = "NONE",
        [VSS_RS_ALL] = "ALL",
        [VSS_RS_FAILED] = "FAILED",
};

/* The contexts a snapshot set can be made in (what SetContext accepts); VSS_CTX_ALL is a query, not a context. */
static const struct {
        int32_t value;
        const char *name;
} contexts[] = {
        { VSS_CTX_BACKUP, "BACKUP" },
        { VSS_CTX_FILE_SHARE_BACKUP, "FILE_SHARE_BACKUP" },
        { VSS_CTX_NAS_ROLLBACK, "NAS_ROLLBACK" },
        { VSS_CTX_APP_ROLLBACK, "APP_ROLLBACK" },
        { VSS_CTX_CLIENT_ACCESSIBLE, "CLIENT_ACCESSIBLE" },
        { VSS_CTX_CLIENT_ACCESSIBLE_WRITERS, "CLIENT_ACCESSIBLE_WRITERS" },
};

/* The free-text strings of a component, each an optional child element, in the order written. */
static const struct {
        const char *element;
        size_t offset;
} component_texts[] = {
        { "BACKUP_METADATA", offsetof(lvss_bcd_component, backup_metadata) },
        { "BACKUP_STAMP", offsetof(lvss_bcd_component, backup_stamp) },
        { "PREVIOUS_BACKUP_STAMP", offsetof(lvss_bcd_component, previous_backup_stamp) },
        { "RESTORE_METADATA", offsetof(lvss_bcd_component, restore_metadata) },
        { "PRE_RESTORE_FAILURE_MSG", offsetof(lvss_bcd_component, pre_restore_failure_msg) },
        { "POST_RESTORE_FAILURE_MSG", offsetof(lvss_bcd_component, post_restore_failure_msg) },
};

#define N_TEXTS ELEMENTSOF(component_texts)

static char **component_text(lvss_bcd_component *c, size_t i) {
        return (char **) ((uint8_t *) c + component_texts[i].offset);
}

static const char *component_text_const(const lvss_bcd_component *c, size_t i) {
        return *(char *const *) ((const uint8_t *) c + component_texts[i].offset);
}

static const char *context_name(int32_t context) {
        for (size_t i = 0; i < ELEMENTSOF(contexts); i++)
                if (contexts[i].value == context)
                        return contexts[i].name;
        return NULL;
}

/* ---- checks -------------------------------------------------------------- */

/* A string of the document: valid XML text, at most BCD_STRING_MAX bytes; NULL and "" are none. */
static int check_string(const char *s, bool required) {
        if (!s || !*s)
                return required ? -EINVAL : 0;
        if (strnlen(s, BCD_STRING_MAX + 1) > BCD_STRING_MAX)
                return -E2BIG;
        return xml_string_valid(s, BCD_STRING_MAX) ? 0 : -EINVAL;
}

/* The embedded WMD: one the WMD loader accepts, describing this very writer. */
static int check_metadata(const lvss_bcd_writer *w) {
        vss_examine_writer_metadata *md = NULL;
        vss_id instance_id, writer_id;
        int r;

        if (!w->metadata_xml || !*w->metadata_xml)
                return 0;
        r = check_string(w->metadata_xml, false);
        if (r < 0)
                return r;
        r = lvss_wmd_load(w->metadata_xml, &md);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EINVAL;
        (void) vss_examine_writer_metadata_get_identity(md, &instance_id, &writer_id, NULL, NULL, NULL, NULL);
        vss_examine_writer_metadata_release(md);
        if (!vss_id_equal(&instance_id, &w->instance_id) || !vss_id_equal(&writer_id, &w->writer_id))
                return -EINVAL;
        return 0;
}

static int check_writer(const lvss_bcd_writer *w) {
        int r;

        if ((r = check_string(w->writer_name, true)) < 0 || (r = check_string(w->instance_name, false)) < 0)
                return r;
        return check_metadata(w);
}

static int check_component(const lvss_bcd_component *c) {
        int r;

        if (c->type != VSS_CT_DATABASE && c->type != VSS_CT_FILEGROUP)
                return -EINVAL;
        if ((unsigned) c->file_restore_status >= ELEMENTSOF(file_restore_status_names))
                return -EINVAL;
        if ((r = check_string(c->name, true)) < 0 || (r = check_string(c->logical_path, false)) < 0)
                return r;
        for (size_t i = 0; i < N_TEXTS; i++) {
                r = check_string(component_text_const(c, i), false);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_state(const lvss_bcd *bcd) {
        if (!context_name(bcd->context))
                return -EINVAL;
        if ((unsigned) bcd->backup_type >= ELEMENTSOF(backup_type_names) ||
            (unsigned) bcd->restore_type >= ELEMENTSOF(restore_type_names))
                return -EINVAL;
        return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static int writer_key_compare(const vss_id *ia, const vss_id *wa, const vss_id *ib, const vss_id *wb) {
        int k = memcmp(ia->bytes, ib->bytes, sizeof ia->bytes);

        return k != 0 ? k : memcmp(wa->bytes, wb->bytes, sizeof wa->bytes);
}

static int writer_ptr_compare(const void *a, const void *b) {
        const lvss_bcd_writer *x = *(const lvss_bcd_writer *const *) a, *y = *(const lvss_bcd_writer *const *) b;

        return writer_key_compare(&x->instance_id, &x->writer_id, &y->instance_id, &y->writer_id);
}

/* A component is named by its writer, logical path (NULL and "" both the root) and name. */
static int component_ptr_compare(const void *a, const void *b) {
        const lvss_bcd_component *x = *(const lvss_bcd_component *const *) a,
                                 *y = *(const lvss_bcd_component *const *) b;
        int k;

        k = writer_key_compare(&x->instance_id, &x->writer_id, &y->instance_id, &y->writer_id);
        if (k != 0)
                return k;
        k = strcmp(strempty(x->logical_path), strempty(y->logical_path));
        if (k != 0)
                return k;
        return strcmp(strempty(x->name), strempty(y->name));
}

/* The writers sorted by key; -EEXIST when two share one. @ret owned (free()), NULL when there are none. */
static int sort_writers(const lvss_bcd *bcd, const lvss_bcd_writer ***ret) {
        _cleanup_(freep) const lvss_bcd_writer **v = NULL;

        if (bcd->n_writers > 0) {
                v = reallocarray(NULL, bcd->n_writers, sizeof *v);
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < bcd->n_writers; i++)
                        v[i] = &bcd->writers[i];
                qsort(v, bcd->n_writers, sizeof *v, writer_ptr_compare);
                for (size_t i = 1; i < bcd->n_writers; i++)
                        if (writer_ptr_compare(&v[i - 1], &v[i]) == 0)
                                return -EEXIST;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* -EEXIST when two components have the same key. */
static int check_unique_components(const lvss_bcd *bcd) {
        _cleanup_(freep) const lvss_bcd_component **v = NULL;

        if (bcd->n_components < 2)
                return 0;
        v = reallocarray(NULL, bcd->n_components, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < bcd->n_components; i++)
                v[i] = &bcd->components[i];
        qsort(v, bcd->n_components, sizeof *v, component_ptr_compare);
        for (size_t i = 1; i < bcd->n_components; i++)
                if (component_ptr_compare(&v[i - 1], &v[i]) == 0)
                        return -EEXIST;
        return 0;
}

/* ---- the in-memory document ---------------------------------------------- */

static void writer_done(lvss_bcd_writer *w) {
        free(w->writer_name);
        free(w->instance_name);
        free(w->metadata_xml);
        *w = (lvss_bcd_writer) {};
}

static void component_done(lvss_bcd_component *c) {
        free(c->logical_path);
        free(c->name);
        for (size_t i = 0; i < N_TEXTS; i++)
                free(*component_text(c, i));
        *c = (lvss_bcd_component) {};
}

/* strdup(), with NULL and "" both giving NULL. */
static int dup_string(const char *s, char **ret) {
        char *c = NULL;

        if (s && *s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/*
 * Room for element @n of @array (elements of @size bytes); returns the
 * (maybe moved) array, or NULL leaving @array untouched. bcd.h keeps no
 * capacity, so the allocation's usable size serves as one and the array
 * doubles: appending N elements stays O(N). The arrays are only ever
 * allocated here.
 */
static void *make_room(void *array, size_t n, size_t size) {
        if (array && malloc_usable_size(array) / size > n)
                return array;
        return reallocarray(array, n < 4 ? 4 : n * 2, size);
}

/* Checks @w and moves it (its strings) into @bcd; on failure @w is left to the caller. */
static int writer_push(lvss_bcd *bcd, lvss_bcd_writer *w) {
        lvss_bcd_writer *v;
        int r;

        if (bcd->n_writers >= BCD_WRITERS_MAX)
                return -E2BIG;
        r = check_writer(w);
        if (r < 0)
                return r;
        v = make_room(bcd->writers, bcd->n_writers, sizeof *v);
        if (!v)
                return -ENOMEM;
        bcd->writers = v;
        v[bcd->n_writers++] = *w;
        *w = (lvss_bcd_writer) {};
        return 0;
}

static int component_push(lvss_bcd *bcd, lvss_bcd_component *c) {
        lvss_bcd_component *v;
        int r;

        if (bcd->n_components >= BCD_COMPONENTS_MAX)
                return -E2BIG;
        r = check_component(c);
        if (r < 0)
                return r;
        v = make_room(bcd->components, bcd->n_components, sizeof *v);
        if (!v)
                return -ENOMEM;
        bcd->components = v;
        v[bcd->n_components++] = *c;
        *c = (lvss_bcd_component) {};
        return 0;
}

int lvss_bcd_new(lvss_bcd **ret) {
        lvss_bcd *bcd;

        if (!ret)
                return -EINVAL;
        bcd = calloc(1, sizeof *bcd);
        if (!bcd)
                return -ENOMEM;
        *ret = bcd;
        return 0;
}

lvss_bcd *lvss_bcd_free(lvss_bcd *bcd) {
        if (!bcd)
                return NULL;
        for (size_t i = 0; i < bcd->n_writers; i++)
                writer_done(&bcd->writers[i]);
        for (size_t i = 0; i < bcd->n_components; i++)
                component_done(&bcd->components[i]);
        free(bcd->writers);
        free(bcd->components);
        free(bcd);
        return NULL;
}

static void bcd_freep(lvss_bcd **bcd) {
        lvss_bcd_free(*bcd);
}

int lvss_bcd_set_string(char **dst, const char *value) {
        char *c;
        int r;

        if (!dst)
                return -EINVAL;
        r = check_string(value, false);
        if (r < 0)
                return r;
        r = dup_string(value, &c); /* before freeing: @value may be *@dst */
        if (r < 0)
                return r;
        free(*dst);
        *dst = c;
        return 0;
}

int lvss_bcd_add_writer(lvss_bcd *bcd, const lvss_bcd_writer *w, lvss_bcd_writer **ret) {
        _cleanup_(writer_done) lvss_bcd_writer copy = {};
        int r;

        if (!bcd || !w)
                return -EINVAL;
        if (bcd->n_writers >= BCD_WRITERS_MAX)
                return -E2BIG;

        copy.instance_id = w->instance_id;
        copy.writer_id = w->writer_id;
        if ((r = dup_string(w->writer_name, &copy.writer_name)) < 0 ||
            (r = dup_string(w->instance_name, &copy.instance_name)) < 0 ||
            (r = dup_string(w->metadata_xml, &copy.metadata_xml)) < 0)
                return r;
        r = writer_push(bcd, &copy);
        if (r < 0)
                return r;
        if (ret)
                *ret = &bcd->writers[bcd->n_writers - 1];
        return 0;
}

int lvss_bcd_add_component(lvss_bcd *bcd, const lvss_bcd_component *c, lvss_bcd_component **ret) {
        _cleanup_(component_done) lvss_bcd_component copy = {};
        int r;

        if (!bcd || !c)
                return -EINVAL;
        if (bcd->n_components >= BCD_COMPONENTS_MAX)
                return -E2BIG;

        copy = (lvss_bcd_component) {
                .instance_id = c->instance_id,
                .writer_id = c->writer_id,
                .type = c->type,
                .backup_succeeded = c->backup_succeeded,
                .selected_for_restore = c->selected_for_restore,
                .file_restore_status = c->file_restore_status,
        };
        if ((r = dup_string(c->logical_path, &copy.logical_path)) < 0 || (r = dup_string(c->name, &copy.name)) < 0)
                return r;
        for (size_t i = 0; i < N_TEXTS; i++) {
                r = dup_string(component_text_const(c, i), component_text(&copy, i));
                if (r < 0)
                        return r;
        }
        r = component_push(bcd, &copy);
        if (r < 0)
                return r;
        if (ret)
                *ret = &bcd->components[bcd->n_components - 1];
        return 0;
}

/* ---- writing XML --------------------------------------------------------- */

/* <name>text</name> under @parent, the text escaped on output; nothing for none. */
static int text_child(xmlNode *parent, const char *name, const char *text) {
        if (!text || !*text)
                return 0;
        return xml_new_text_child(parent, name, text);
}

static int write_component(xmlNode *parent, const lvss_bcd_component *c) {
        xmlNode *n;
        int r;

        r = xml_new_child(parent, "COMPONENT", &n);
        if (r < 0)
                return r;
        if ((r = xml_prop(n, "type", component_type_names[c->type])) < 0 ||
            (r = xml_prop(n, "logicalPath", strnull_if_empty(c->logical_path))) < 0 ||
            (r = xml_prop(n, "componentName", c->name)) < 0 ||
            (r = xml_prop_bool(n, "backupSucceeded", c->backup_succeeded)) < 0 ||
            (r = xml_prop_bool(n, "selectedForRestore", c->selected_for_restore)) < 0 ||
            (r = xml_prop(n, "fileRestoreStatus", file_restore_status_names[c->file_restore_status])) < 0)
                return r;
        for (size_t i = 0; i < N_TEXTS; i++) {
                r = text_child(n, component_texts[i].element, component_text_const(c, i));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_writer(xmlNode *parent, const lvss_bcd_writer *w, const lvss_bcd_component *components,
                        const size_t *order, size_t n) {
        xmlNode *wn;
        int r;

        r = xml_new_child(parent, "WRITER_COMPONENTS", &wn);
        if (r < 0)
                return r;
        if ((r = xml_prop_id(wn, "instanceId", &w->instance_id)) < 0 ||
            (r = xml_prop_id(wn, "writerId", &w->writer_id)) < 0 ||
            (r = xml_prop(wn, "writerName", w->writer_name)) < 0 ||
            (r = xml_prop(wn, "instanceName", strnull_if_empty(w->instance_name))) < 0)
                return r;
        r = text_child(wn, "WRITER_METADATA_XML", w->metadata_xml);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = write_component(wn, &components[order[i]]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static size_t length(const char *s) {
        return s ? strlen(s) : 0;
}

/*
 * Every check of the loader, on a document built in memory; and the bytes
 * its strings alone would take, a floor for the size of its XML.
 */
static int bcd_check(const lvss_bcd *bcd, size_t *ret_text) {
        size_t text = 0;
        int r;

        if ((bcd->n_writers > 0 && !bcd->writers) || (bcd->n_components > 0 && !bcd->components))
                return -EINVAL;
        if (bcd->n_writers > BCD_WRITERS_MAX || bcd->n_components > BCD_COMPONENTS_MAX)
                return -E2BIG;
        r = check_state(bcd);
        if (r < 0)
                return r;
        for (size_t i = 0; i < bcd->n_writers; i++) {
                const lvss_bcd_writer *w = &bcd->writers[i];

                r = check_writer(w);
                if (r < 0)
                        return r;
                text += length(w->writer_name) + length(w->instance_name) + length(w->metadata_xml);
        }
        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *c = &bcd->components[i];

                r = check_component(c);
                if (r < 0)
                        return r;
                text += length(c->logical_path) + length(c->name);
                for (size_t k = 0; k < N_TEXTS; k++)
                        text += length(component_text_const(c, k));
        }
        *ret_text = text;
        return 0;
}

/*
 * The components grouped by writer: @ret_order lists component indexes,
 * writer after writer in the writers' order, keeping the components' order
 * within a writer; writer i's run starts at (*@ret_start)[i] and ends at
 * (*@ret_start)[i + 1]. -EINVAL when two writers share a key or a component
 * names no writer.
 */
static int group_components(const lvss_bcd *bcd, size_t **ret_order, size_t **ret_start) {
        _cleanup_(freep) const lvss_bcd_writer **sorted = NULL;
        _cleanup_(freep) size_t *owner = NULL, *order = NULL, *start = NULL, *next = NULL;
        size_t n = bcd->n_components, m = bcd->n_writers;
        int r;

        r = sort_writers(bcd, &sorted);
        if (r < 0)
                return r == -EEXIST ? -EINVAL : r;

        owner = calloc(n + 1, sizeof *owner);
        order = calloc(n + 1, sizeof *order);
        start = calloc(m + 1, sizeof *start);
        next = calloc(m + 1, sizeof *next);
        if (!owner || !order || !start || !next)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                const lvss_bcd_component *c = &bcd->components[i];
                const lvss_bcd_writer key = { .instance_id = c->instance_id, .writer_id = c->writer_id },
                                      *keyp = &key, **found = NULL;

                if (m > 0)
                        found = bsearch(&keyp, sorted, m, sizeof *sorted, writer_ptr_compare);
                if (!found)
                        return -EINVAL; /* a component of no writer in the document */
                owner[i] = (size_t) (*found - bcd->writers);
        }

        /* a counting sort on the owner: stable */
        for (size_t i = 0; i < n; i++)
                start[owner[i] + 1]++;
        for (size_t w = 0; w < m; w++)
                start[w + 1] += start[w];
        memcpy(next, start, m * sizeof *next);
        for (size_t i = 0; i < n; i++)
                order[next[owner[i]]++] = i;

        *ret_order = TAKE_PTR(order);
        *ret_start = TAKE_PTR(start);
        return 0;
}

int lvss_bcd_to_xml(const lvss_bcd *bcd, char **ret) {
        _cleanup_(xml_free_docp) xmlDoc *doc = NULL;
        _cleanup_(freep) size_t *order = NULL, *start = NULL;
        _cleanup_(freep) char *s = NULL;
        size_t text, len;
        xmlNode *root;
        int r;

        if (!bcd || !ret)
                return -EINVAL;

        r = bcd_check(bcd, &text);
        if (r < 0)
                return r;
        if (text > BCD_XML_MAX)
                return -E2BIG; /* known before building anything */
        r = check_unique_components(bcd);
        if (r < 0)
                return r == -EEXIST ? -EINVAL : r;
        r = group_components(bcd, &order, &start);
        if (r < 0)
                return r;

        r = xml_new_doc("BACKUP_COMPONENTS", &doc, &root);
        if (r < 0)
                return r;
        if ((r = xml_prop(root, "version", BCD_VERSION)) < 0 ||
            (r = xml_prop_id(root, "snapshotSetId", &bcd->snapshot_set_id)) < 0 ||
            (r = xml_prop(root, "context", context_name(bcd->context))) < 0 ||
            (r = xml_prop_bool(root, "selectComponents", bcd->select_components)) < 0 ||
            (r = xml_prop_bool(root, "bootableSystemState", bcd->bootable_system_state)) < 0 ||
            (r = xml_prop(root, "backupType", backup_type_names[bcd->backup_type])) < 0 ||
            (r = xml_prop_bool(root, "partialFileSupport", bcd->partial_file_support)) < 0 ||
            (r = xml_prop(root, "restoreType", restore_type_names[bcd->restore_type])) < 0)
                return r;

        for (size_t i = 0; i < bcd->n_writers; i++) {
                r = write_writer(root, &bcd->writers[i], bcd->components, order + start[i], start[i + 1] - start[i]);
                if (r < 0)
                        return r;
        }

        r = xml_doc_to_string(doc, &s, &len);
        if (r < 0)
                return r;
        if (len > BCD_XML_MAX)
                return -E2BIG; /* from_xml() would refuse it */
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- reading XML --------------------------------------------------------- */

/* A failed check means a bad document here; the limits and -ENOMEM pass through. */
static int as_bad_document(int r) {
        if (r >= 0 || r == -ENOMEM || r == -E2BIG)
                return r;
        return -EBADMSG;
}

/*
 * The text of a string element: no attributes, nothing but text inside.
 * @ret: owned (free()), NULL when empty.
 */
static int read_text(xmlNode *node, char **ret) {
        _cleanup_(freep) char *s = NULL;
        size_t len = 0;
        char *p;

        if (node->properties)
                return -EBADMSG;
        for (xmlNode *n = node->children; n; n = n->next) {
                if (n->type != XML_TEXT_NODE)
                        return -EBADMSG;
                len += n->content ? strlen((const char *) n->content) : 0;
                if (len > BCD_STRING_MAX)
                        return -E2BIG;
        }
        if (len > 0) {
                s = malloc(len + 1);
                if (!s)
                        return -ENOMEM;
                p = s;
                for (xmlNode *n = node->children; n; n = n->next)
                        if (n->content)
                                p = stpcpy(p, (const char *) n->content);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* strdup() of an attribute into malloc() memory; absent and "" give NULL. */
static int attr_dup(const xml_attrs *a, size_t i, char **ret) {
        return dup_string(xml_attr_str(a, i), ret);
}

static int parse_component(lvss_bcd *bcd, xmlNode *node, const vss_id *instance_id, const vss_id *writer_id) {
        static const char *const names[] = {
                "type", "logicalPath", "componentName", "backupSucceeded", "selectedForRestore", "fileRestoreStatus",
                NULL,
        };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        _cleanup_(component_done) lvss_bcd_component c = {};
        bool seen[N_TEXTS] = {};
        int type, status, r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        if (xml_parse_enum(a.v[0], component_type_names, ELEMENTSOF(component_type_names), &type) < 0 ||
            !a.v[2] || xml_parse_bool(a.v[3], &c.backup_succeeded) < 0 ||
            xml_parse_bool(a.v[4], &c.selected_for_restore) < 0 ||
            xml_parse_enum(a.v[5], file_restore_status_names, ELEMENTSOF(file_restore_status_names), &status) < 0)
                return -EBADMSG;
        c.instance_id = *instance_id;
        c.writer_id = *writer_id;
        c.type = (vss_component_type) type;
        c.file_restore_status = (vss_file_restore_status) status;
        if ((r = attr_dup(&a, 1, &c.logical_path)) < 0 || (r = attr_dup(&a, 2, &c.name)) < 0)
                return r;

        for (xmlNode *n = node->children; n; n = n->next) {
                size_t i;

                r = xml_node_kind(n);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                for (i = 0; i < N_TEXTS; i++)
                        if (xml_is(n, component_texts[i].element))
                                break;
                if (i >= N_TEXTS || seen[i])
                        return -EBADMSG;
                seen[i] = true;
                r = read_text(n, component_text(&c, i));
                if (r < 0)
                        return r;
        }

        return as_bad_document(component_push(bcd, &c));
}

static int parse_writer(lvss_bcd *bcd, xmlNode *node) {
        static const char *const names[] = { "instanceId", "writerId", "writerName", "instanceName", NULL };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        _cleanup_(writer_done) lvss_bcd_writer w = {};
        bool seen_metadata = false;
        int r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        if (xml_parse_id(a.v[0], &w.instance_id) < 0 || xml_parse_id(a.v[1], &w.writer_id) < 0 || !a.v[2])
                return -EBADMSG;
        if ((r = attr_dup(&a, 2, &w.writer_name)) < 0 || (r = attr_dup(&a, 3, &w.instance_name)) < 0)
                return r;

        for (xmlNode *n = node->children; n; n = n->next) {
                r = xml_node_kind(n);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;

                if (xml_is(n, "COMPONENT"))
                        r = parse_component(bcd, n, &w.instance_id, &w.writer_id);
                else if (xml_is(n, "WRITER_METADATA_XML") && !seen_metadata) {
                        seen_metadata = true;
                        r = read_text(n, &w.metadata_xml);
                } else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
        }

        return as_bad_document(writer_push(bcd, &w));
}

static int parse_context(const xmlChar *v, int32_t *ret) {
        uint32_t x;

        if (!v)
                return -EBADMSG;
        for (size_t i = 0; i < ELEMENTSOF(contexts); i++)
                if (xmlStrEqual(v, BAD_CAST contexts[i].name)) {
                        *ret = contexts[i].value;
                        return 0;
                }
        /* a number, decimal or hexadecimal (contexts are attribute bits), naming a known context */
        if (xml_parse_u32(v, &x) < 0 || !context_name((int32_t) x))
                return -EBADMSG;
        *ret = (int32_t) x;
        return 0;
}

static int bcd_parse(lvss_bcd *bcd, xmlDoc *doc) {
        static const char *const names[] = {
                "version",     "snapshotSetId",      "context",     "selectComponents", "bootableSystemState",
                "backupType",  "partialFileSupport", "restoreType", NULL,
        };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        _cleanup_(freep) const lvss_bcd_writer **sorted = NULL;
        int backup_type, restore_type, r;
        xmlNode *root;

        root = xmlDocGetRootElement(doc);
        if (!root || root->ns || !xml_is(root, "BACKUP_COMPONENTS"))
                return -EBADMSG;
        r = xml_attrs_collect(root, names, &a);
        if (r < 0)
                return r;
        if (!streq_ptr(xml_attr_str(&a, 0), BCD_VERSION) || xml_parse_id(a.v[1], &bcd->snapshot_set_id) < 0 ||
            parse_context(a.v[2], &bcd->context) < 0 || xml_parse_bool(a.v[3], &bcd->select_components) < 0 ||
            xml_parse_bool(a.v[4], &bcd->bootable_system_state) < 0 ||
            xml_parse_enum(a.v[5], backup_type_names, ELEMENTSOF(backup_type_names), &backup_type) < 0 ||
            xml_parse_bool(a.v[6], &bcd->partial_file_support) < 0 ||
            xml_parse_enum(a.v[7], restore_type_names, ELEMENTSOF(restore_type_names), &restore_type) < 0)
                return -EBADMSG;
        bcd->backup_type = (vss_backup_type) backup_type;
        bcd->restore_type = (vss_restore_type) restore_type;

        for (xmlNode *n = root->children; n; n = n->next) {
                r = xml_node_kind(n);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                if (!xml_is(n, "WRITER_COMPONENTS"))
                        return -EBADMSG; /* a COMPONENT outside a writer among others */
                r = parse_writer(bcd, n);
                if (r < 0)
                        return r;
        }

        r = sort_writers(bcd, &sorted);
        if (r < 0)
                return r == -EEXIST ? -EBADMSG : r;
        r = check_unique_components(bcd);
        if (r < 0)
                return r == -EEXIST ? -EBADMSG : r;
        return 0;
}

int lvss_bcd_from_xml(const char *xml, lvss_bcd **ret) {
        _cleanup_(xml_free_docp) xmlDoc *doc = NULL;
        _cleanup_(bcd_freep) lvss_bcd *bcd = NULL;
        size_t len;
        int r;

        if (!xml || !ret)
                return -EINVAL;

        len = strnlen(xml, BCD_XML_MAX + 1);
        if (len > BCD_XML_MAX)
                return -E2BIG;
        if (len == 0)
                return -EBADMSG;

        r = xml_read_untrusted(xml, len, &doc);
        if (r < 0)
                return r;
        r = lvss_bcd_new(&bcd);
        if (r < 0)
                return r;
        r = bcd_parse(bcd, doc);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bcd);
        return 0;
}

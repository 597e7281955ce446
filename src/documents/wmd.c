/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The Writer Metadata Document: built by a writer in on_identify
 * (vss_create_writer_metadata_*), sent to the coordinator as XML, examined
 * by the requester (vss_examine_writer_metadata_*).
 *
 * One in-memory form serves both sides: struct wmd, plain C arrays of
 * components, file sets and dependencies. The builder validates each call;
 * the loader turns every element into the same builder calls, so a document
 * the loader accepts is exactly a document the builder can make, and
 * load(save(x)) equals x field by field. The XML (docs/documents.md) is
 * close to the VSS WRITER_METADATA schema:
 *
 *   <WRITER_METADATA version="1.0">
 *     <IDENTIFICATION instanceId= writerId= friendlyName= [instanceName=] usage= dataSource=/>
 *     <BACKUP_LOCATIONS>
 *       <FILE_GROUP|DATABASE [logicalPath=] componentName= ...>
 *         <FILE_LIST/> | <DATABASE_FILES/> <DATABASE_LOGFILES/>, <DEPENDENCY/>
 *       </...>
 *       <EXCLUDE_FILES/>
 *     </BACKUP_LOCATIONS>
 *     <RESTORE_METHOD .../> <BACKUP_SCHEMA value=/>
 *   </WRITER_METADATA>
 *
 * The loader reads text from other processes, so it trusts nothing:
 * - at most LVSS_WMD_XML_MAX bytes, parsed as UTF-8 whatever the declaration
 *   says (XML_PARSE_IGNORE_ENC), no network (XML_PARSE_NONET), no DTD
 *   loading, no entity substitution;
 * - any DOCTYPE is refused: first by a byte scan, then by SAX hooks that stop
 *   the parser the moment a DOCTYPE or an entity declaration is seen, so an
 *   internal subset (billion laughs, external entities) is never processed;
 * - unknown elements and attributes, namespaces, text content, CDATA and
 *   entity references are refused; every attribute is checked (numbers in
 *   range, known enum names, known flag bits, booleans, ids that parse,
 *   strings of valid XML characters within LVSS_WMD_STRING_MAX);
 * - counts are bounded (components, file sets, dependencies, excludes), and
 *   duplicate components are found by sorting, not by a quadratic scan.
 * Any failure is -EBADMSG (VSS_E_INVALID_XML_DOCUMENT), except running out
 * of memory.
 *
 * The safe parse and the small XML helpers live in xml-util.c, shared with
 * the Backup Components Document. libxml2 is initialised once
 * (pthread_once), as old versions need; xmlCleanupParser() is never called
 * since other users may share libxml2.
 */

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <lvss/metadata.h>

#include "basic/errno-hresult.h"
#include "basic/util.h"
#include "wmd.h"
#include "xml-util.h"

#define FSBT_VALID_MASK                                                                            \
        (VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED | VSS_FSBT_CREATED_DURING_BACKUP)
#define CF_VALID_MASK (VSS_CF_BACKUP_RECOVERY | VSS_CF_APP_ROLLBACK_RECOVERY | VSS_CF_NOT_SYSTEM_STATE)
#define BS_VALID_MASK                                                                                  \
        ((uint32_t) (VSS_BS_DIFFERENTIAL | VSS_BS_INCREMENTAL | VSS_BS_EXCLUSIVE_INCREMENTAL_DIFFERENTIAL | \
                     VSS_BS_LOG | VSS_BS_COPY | VSS_BS_TIMESTAMPED | VSS_BS_LAST_MODIFY | VSS_BS_LSN |      \
                     VSS_BS_WRITER_SUPPORTS_NEW_TARGET | VSS_BS_WRITER_SUPPORTS_RESTORE_WITH_MOVE |       \
                     VSS_BS_INDEPENDENT_SYSTEM_STATE | VSS_BS_ROLLFORWARD_RESTORE |                        \
                     VSS_BS_RESTORE_RENAME | VSS_BS_AUTHORITATIVE_RESTORE |                                \
                     VSS_BS_WRITER_SUPPORTS_PARALLEL_RESTORES))

#define WMD_VERSION "1.0"

/* ---- the in-memory document --------------------------------------------- */

typedef struct file_list {
        vss_file_desc *v; /* strings owned (allocated), const only in the public view */
        size_t n, alloc;
} file_list;

typedef enum file_kind {
        FILE_KIND_FILE_GROUP,
        FILE_KIND_DATABASE,
        FILE_KIND_LOG,
} file_kind;

typedef struct wmd_component {
        vss_component_info info; /* the public view: scalars live here, pointers set by component_view() */
        char *logical_path;      /* NULL: the root ("" is stored as NULL) */
        char *name;
        char *caption;
        uint8_t *icon;
        uint32_t icon_size;
        file_list files[3]; /* by file_kind */
        lvss_wmd_dependency *deps; /* strings owned */
        size_t n_deps, alloc_deps;
} wmd_component;

typedef struct wmd {
        vss_id instance_id;
        vss_id writer_id;
        char *writer_name;
        char *instance_name;
        vss_usage_type usage;
        vss_source_type source;

        bool have_restore_method;
        vss_restoremethod restore_method;
        char *restore_service;
        char *restore_user_procedure;
        vss_writerrestore writer_restore;
        bool reboot_required;

        uint32_t backup_schema;

        wmd_component *components;
        size_t n_components, alloc_components;
        file_list excludes;
} wmd;

struct vss_create_writer_metadata {
        wmd d;
};

struct vss_examine_writer_metadata {
        wmd d;
};

/* ---- enum names ---------------------------------------------------------- */

static const char *const usage_names[] = {
        [VSS_UT_UNDEFINED] = "UNDEFINED",
        [VSS_UT_BOOTABLESYSTEMSTATE] = "BOOTABLE_SYSTEM_STATE",
        [VSS_UT_SYSTEMSERVICE] = "SYSTEM_SERVICE",
        [VSS_UT_USERDATA] = "USER_DATA",
        [VSS_UT_OTHER] = "OTHER",
};

static const char *const source_names[] = {
        [VSS_ST_UNDEFINED] = "UNDEFINED",
        [VSS_ST_TRANSACTEDDB] = "TRANSACTED_DB",
        [VSS_ST_NONTRANSACTEDDB] = "NONTRANSACTED_DB",
        [VSS_ST_OTHER] = "OTHER",
};

static const char *const restore_method_names[] = {
        [VSS_RME_UNDEFINED] = "UNDEFINED",
        [VSS_RME_RESTORE_IF_NOT_THERE] = "RESTORE_IF_NOT_THERE",
        [VSS_RME_RESTORE_IF_CAN_REPLACE] = "RESTORE_IF_CAN_REPLACE",
        [VSS_RME_STOP_RESTORE_START] = "STOP_RESTORE_START",
        [VSS_RME_RESTORE_TO_ALTERNATE_LOCATION] = "RESTORE_TO_ALTERNATE_LOCATION",
        [VSS_RME_RESTORE_AT_REBOOT] = "RESTORE_AT_REBOOT",
        [VSS_RME_RESTORE_AT_REBOOT_IF_CANNOT_REPLACE] = "RESTORE_AT_REBOOT_IF_CANNOT_REPLACE",
        [VSS_RME_CUSTOM] = "CUSTOM",
        [VSS_RME_RESTORE_STOP_START] = "RESTORE_STOP_START",
};

static const char *const writer_restore_names[] = {
        [VSS_WRE_UNDEFINED] = "UNDEFINED",
        [VSS_WRE_NEVER] = "NEVER",
        [VSS_WRE_IF_REPLACE_FAILS] = "IF_REPLACE_FAILS",
        [VSS_WRE_ALWAYS] = "ALWAYS",
};

static const char *const file_kind_elements[] = {
        [FILE_KIND_FILE_GROUP] = "FILE_LIST",
        [FILE_KIND_DATABASE] = "DATABASE_FILES",
        [FILE_KIND_LOG] = "DATABASE_LOGFILES",
};

/* ---- small helpers ------------------------------------------------------- */

/* A required string: non-NULL, non-empty, valid. */
static int check_required(const char *s) {
        if (!s || !*s || !xml_string_valid(s, LVSS_WMD_STRING_MAX))
                return -EINVAL;
        return 0;
}

/* An optional string: NULL or "" (both mean none), or valid. */
static int check_optional(const char *s) {
        if (s && *s && !xml_string_valid(s, LVSS_WMD_STRING_MAX))
                return -EINVAL;
        return 0;
}

/* File sets name absolute paths; a filespec is a name pattern, never a path. */
static int check_file_set(const char *path, const char *filespec, const char *alternate) {
        if (check_required(path) < 0 || path[0] != '/')
                return -EINVAL;
        if (check_required(filespec) < 0 || strchr(filespec, '/'))
                return -EINVAL;
        if (check_optional(alternate) < 0 || (alternate && *alternate && alternate[0] != '/'))
                return -EINVAL;
        return 0;
}

/* strdup() of an optional string; "" becomes NULL. */
static int dup_optional(const char *s, char **ret) {
        char *c = NULL;

        if (s && *s) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        }
        *ret = c;
        return 0;
}

/* the 64 digits, then the padding at index 64 */
static const char base64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

static char *base64_encode(const uint8_t *p, size_t n) {
        char *s, *o;

        s = malloc((n + 2) / 3 * 4 + 1);
        if (!s)
                return NULL;
        o = s;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;

                if (i + 1 < n)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                *o++ = base64_chars[v >> 18 & 63];
                *o++ = base64_chars[v >> 12 & 63];
                *o++ = base64_chars[i + 1 < n ? (v >> 6 & 63) : 64];
                *o++ = base64_chars[i + 2 < n ? (v & 63) : 64];
        }
        *o = 0;
        return s;
}

static int base64_value(char c) {
        const char *p;

        if (c == 0 || c == '=')
                return -1;
        p = strchr(base64_chars, c);
        return p ? (int) (p - base64_chars) : -1;
}

/* Strict: padded, no whitespace, at most @max bytes decoded. */
static int base64_decode(const char *s, size_t max, uint8_t **ret, uint32_t *ret_size) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t len, pad, n, k = 0;

        len = strnlen(s, (max + 2) / 3 * 4 + 1);
        if (len == 0 || len % 4 != 0)
                return -EINVAL;
        pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
        n = len / 4 * 3 - pad;
        if (n > max)
                return -E2BIG;

        buf = malloc(n);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 4) {
                uint32_t v = 0;

                for (size_t j = 0; j < 4; j++) {
                        int x = 0;

                        if (i + j < len - pad) {
                                x = base64_value(s[i + j]);
                                if (x < 0)
                                        return -EINVAL;
                        }
                        v = v << 6 | (uint32_t) x;
                }
                for (int shift = 16; shift >= 0 && k < n; shift -= 8)
                        buf[k++] = (uint8_t) (v >> shift);
        }

        *ret = TAKE_PTR(buf);
        *ret_size = (uint32_t) n;
        return 0;
}

/* ---- freeing ------------------------------------------------------------- */

static void file_list_done(file_list *l) {
        for (size_t i = 0; i < l->n; i++) {
                free((char *) l->v[i].path);
                free((char *) l->v[i].filespec);
                free((char *) l->v[i].alternate_location);
        }
        free(l->v);
        *l = (file_list) {};
}

static void component_done(wmd_component *c) {
        free(c->logical_path);
        free(c->name);
        free(c->caption);
        free(c->icon);
        for (size_t i = 0; i < ELEMENTSOF(c->files); i++)
                file_list_done(&c->files[i]);
        for (size_t i = 0; i < c->n_deps; i++) {
                free((char *) c->deps[i].on_logical_path);
                free((char *) c->deps[i].on_component_name);
        }
        free(c->deps);
}

static void wmd_done(wmd *d) {
        free(d->writer_name);
        free(d->instance_name);
        free(d->restore_service);
        free(d->restore_user_procedure);
        for (size_t i = 0; i < d->n_components; i++)
                component_done(&d->components[i]);
        free(d->components);
        file_list_done(&d->excludes);
        *d = (wmd) {};
}

/* ---- building ------------------------------------------------------------ */

static int wmd_set_identity(wmd *d, const vss_id *instance_id, const vss_id *writer_id, const char *writer_name,
                            const char *instance_name, vss_usage_type usage, vss_source_type source) {
        _cleanup_(freep) char *n = NULL, *in = NULL;
        int r;

        if (!instance_id || !writer_id || check_required(writer_name) < 0 || check_optional(instance_name) < 0)
                return -EINVAL;
        if ((unsigned) usage >= ELEMENTSOF(usage_names) || (unsigned) source >= ELEMENTSOF(source_names))
                return -EINVAL;

        n = strdup(writer_name);
        if (!n)
                return -ENOMEM;
        r = dup_optional(instance_name, &in);
        if (r < 0)
                return r;

        free(d->writer_name);
        free(d->instance_name);
        d->instance_id = *instance_id;
        d->writer_id = *writer_id;
        d->writer_name = TAKE_PTR(n);
        d->instance_name = TAKE_PTR(in);
        d->usage = usage;
        d->source = source;
        return 0;
}

static int wmd_set_restore_method(wmd *d, vss_restoremethod method, const char *service, const char *user_procedure,
                                  vss_writerrestore writer_restore, bool reboot_required) {
        _cleanup_(freep) char *s = NULL, *u = NULL;
        int r;

        if ((unsigned) method >= ELEMENTSOF(restore_method_names) ||
            (unsigned) writer_restore >= ELEMENTSOF(writer_restore_names))
                return -EINVAL;
        if (check_optional(service) < 0 || check_optional(user_procedure) < 0)
                return -EINVAL;
        /* VSS: these two methods stop and start a service, which must be named */
        if ((method == VSS_RME_STOP_RESTORE_START || method == VSS_RME_RESTORE_STOP_START) && !strnull_if_empty(service))
                return -EINVAL;

        r = dup_optional(service, &s);
        if (r < 0)
                return r;
        r = dup_optional(user_procedure, &u);
        if (r < 0)
                return r;

        free(d->restore_service);
        free(d->restore_user_procedure);
        d->have_restore_method = true;
        d->restore_method = method;
        d->restore_service = TAKE_PTR(s);
        d->restore_user_procedure = TAKE_PTR(u);
        d->writer_restore = writer_restore;
        d->reboot_required = reboot_required;
        return 0;
}

static int wmd_set_backup_schema(wmd *d, uint32_t mask) {
        if (mask & ~BS_VALID_MASK)
                return -EINVAL;
        d->backup_schema = mask;
        return 0;
}

static wmd_component *wmd_find_component(wmd *d, const char *logical_path, const char *name) {
        logical_path = strnull_if_empty(logical_path);
        if (!name)
                return NULL;

        /* writers usually add a component, then its files: try the last one first */
        for (size_t i = d->n_components; i > 0; i--) {
                wmd_component *c = &d->components[i - 1];

                if (streq_ptr(c->logical_path, logical_path) && streq_ptr(c->name, name))
                        return c;
        }
        return NULL;
}

/*
 * Adds a component; with @check_duplicate false the caller checks for
 * duplicates itself (the loader, which sorts rather than scanning).
 */
static int wmd_add_component(wmd *d, bool check_duplicate, vss_component_type type, const char *logical_path,
                             const char *name, const char *caption, const uint8_t *icon, uint32_t icon_size,
                             bool restore_metadata, bool notify_on_backup_complete, bool selectable,
                             bool selectable_for_restore, uint32_t flags, wmd_component **ret) {
        _cleanup_(component_done) wmd_component c = {};
        wmd_component *v;
        int r;

        if (type != VSS_CT_DATABASE && type != VSS_CT_FILEGROUP)
                return -EINVAL;
        if (check_optional(logical_path) < 0 || check_required(name) < 0 || check_optional(caption) < 0)
                return -EINVAL;
        if (!icon && icon_size > 0)
                return -EINVAL;
        if (icon_size > LVSS_WMD_ICON_MAX)
                return -E2BIG;
        if (flags & ~(uint32_t) CF_VALID_MASK)
                return -EINVAL;
        if (check_duplicate && wmd_find_component(d, logical_path, name))
                return -EEXIST;
        if (d->n_components >= LVSS_WMD_COMPONENTS_MAX)
                return -E2BIG;

        r = dup_optional(logical_path, &c.logical_path);
        if (r < 0)
                return r;
        c.name = strdup(name);
        if (!c.name)
                return -ENOMEM;
        r = dup_optional(caption, &c.caption);
        if (r < 0)
                return r;
        if (icon && icon_size > 0) {
                c.icon = malloc(icon_size);
                if (!c.icon)
                        return -ENOMEM;
                memcpy(c.icon, icon, icon_size);
                c.icon_size = icon_size;
        }
        c.info = (vss_component_info) {
                .type = type,
                .restore_metadata = restore_metadata,
                .notify_on_backup_complete = notify_on_backup_complete,
                .selectable = selectable,
                .selectable_for_restore = selectable_for_restore,
                .component_flags = flags,
        };

        v = grow_array(d->components, d->n_components, &d->alloc_components, sizeof *v);
        if (!v)
                return -ENOMEM;
        d->components = v;
        v[d->n_components] = c;
        c = (wmd_component) {};
        if (ret)
                *ret = &v[d->n_components];
        d->n_components++;
        return 0;
}

static int file_list_add(file_list *l, const char *path, const char *filespec, bool recursive,
                         const char *alternate, uint32_t mask) {
        vss_file_desc f = { .recursive = recursive, .backup_type_mask = mask };
        _cleanup_(freep) char *p = NULL, *s = NULL, *a = NULL;
        vss_file_desc *v;
        int r;

        p = strdup(path);
        s = strdup(filespec);
        if (!p || !s)
                return -ENOMEM;
        r = dup_optional(alternate, &a);
        if (r < 0)
                return r;

        v = grow_array(l->v, l->n, &l->alloc, sizeof *v);
        if (!v)
                return -ENOMEM;
        l->v = v;
        f.path = TAKE_PTR(p);
        f.filespec = TAKE_PTR(s);
        f.alternate_location = TAKE_PTR(a);
        v[l->n++] = f;
        return 0;
}

static int component_add_files(wmd_component *c, file_kind kind, const char *path, const char *filespec,
                               bool recursive, const char *alternate, uint32_t mask) {
        size_t total = 0;
        int r;

        /* database files have no recursion and no alternate location (VSS AddDatabaseFiles) */
        if (kind != FILE_KIND_FILE_GROUP && (recursive || alternate))
                return -EINVAL;
        if ((kind == FILE_KIND_FILE_GROUP) != (c->info.type == VSS_CT_FILEGROUP))
                return -ENOENT; /* no such file group / database: a component of the other type */
        r = check_file_set(path, filespec, alternate);
        if (r < 0)
                return r;
        if (mask & ~(uint32_t) FSBT_VALID_MASK)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(c->files); i++)
                total += c->files[i].n;
        if (total >= LVSS_WMD_FILES_MAX)
                return -E2BIG;

        return file_list_add(&c->files[kind], path, filespec, recursive, alternate, mask);
}

static int component_add_dependency(wmd_component *c, const vss_id *on_writer_id, const char *on_logical_path,
                                    const char *on_component_name) {
        _cleanup_(freep) char *p = NULL, *n = NULL;
        lvss_wmd_dependency *v;
        int r;

        if (!on_writer_id || check_optional(on_logical_path) < 0 || check_required(on_component_name) < 0)
                return -EINVAL;
        if (c->n_deps >= LVSS_WMD_DEPENDENCIES_MAX)
                return -E2BIG;

        r = dup_optional(on_logical_path, &p);
        if (r < 0)
                return r;
        n = strdup(on_component_name);
        if (!n)
                return -ENOMEM;
        v = grow_array(c->deps, c->n_deps, &c->alloc_deps, sizeof *v);
        if (!v)
                return -ENOMEM;
        c->deps = v;
        v[c->n_deps++] = (lvss_wmd_dependency) {
                .on_writer_id = *on_writer_id,
                .on_logical_path = TAKE_PTR(p),
                .on_component_name = TAKE_PTR(n),
        };
        return 0;
}

static int wmd_add_exclude(wmd *d, const char *path, const char *filespec, bool recursive) {
        int r;

        r = check_file_set(path, filespec, NULL);
        if (r < 0)
                return r;
        if (d->excludes.n >= LVSS_WMD_EXCLUDES_MAX)
                return -E2BIG;
        return file_list_add(&d->excludes, path, filespec, recursive, NULL, 0);
}

/*
 * Fills the public view of a component. Done once when a document is loaded
 * (arrays move while building), so the getters only read and several threads
 * may examine one document.
 */
static void component_view(wmd_component *c) {
        c->info.logical_path = c->logical_path;
        c->info.component_name = c->name;
        c->info.caption = c->caption;
        c->info.file_count = (unsigned) c->files[FILE_KIND_FILE_GROUP].n;
        c->info.database_count = (unsigned) c->files[FILE_KIND_DATABASE].n;
        c->info.log_file_count = (unsigned) c->files[FILE_KIND_LOG].n;
        c->info.dependency_count = (unsigned) c->n_deps;
        c->info.files = c->files[FILE_KIND_FILE_GROUP].v;
        c->info.databases = c->files[FILE_KIND_DATABASE].v;
        c->info.log_files = c->files[FILE_KIND_LOG].v;
}

/* ---- writing XML --------------------------------------------------------- */

static int write_file_set(xmlNode *parent, const char *element, const vss_file_desc *f, bool file_group,
                          bool exclude) {
        xmlNode *n;
        int r;

        r = xml_new_child(parent, element, &n);
        if (r < 0)
                return r;
        if ((r = xml_prop(n, "path", f->path)) < 0 || (r = xml_prop(n, "filespec", f->filespec)) < 0)
                return r;
        if (file_group || exclude) {
                r = xml_prop_bool(n, "recursive", f->recursive);
                if (r < 0)
                        return r;
        }
        if (file_group) {
                r = xml_prop(n, "alternatePath", f->alternate_location);
                if (r < 0)
                        return r;
        }
        if (!exclude) {
                r = xml_prop_mask(n, "filespecBackupType", f->backup_type_mask);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_component(xmlNode *parent, const wmd_component *c) {
        _cleanup_(freep) char *icon = NULL;
        xmlNode *n;
        int r;

        r = xml_new_child(parent, c->info.type == VSS_CT_DATABASE ? "DATABASE" : "FILE_GROUP", &n);
        if (r < 0)
                return r;
        if (c->icon) {
                icon = base64_encode(c->icon, c->icon_size);
                if (!icon)
                        return -ENOMEM;
        }
        if ((r = xml_prop(n, "logicalPath", c->logical_path)) < 0 || (r = xml_prop(n, "componentName", c->name)) < 0 ||
            (r = xml_prop(n, "caption", c->caption)) < 0 || (r = xml_prop(n, "icon", icon)) < 0 ||
            (r = xml_prop_bool(n, "restoreMetadata", c->info.restore_metadata)) < 0 ||
            (r = xml_prop_bool(n, "notifyOnBackupComplete", c->info.notify_on_backup_complete)) < 0 ||
            (r = xml_prop_bool(n, "selectable", c->info.selectable)) < 0 ||
            (r = xml_prop_bool(n, "selectableForRestore", c->info.selectable_for_restore)) < 0 ||
            (r = xml_prop_mask(n, "componentFlags", c->info.component_flags)) < 0)
                return r;

        for (size_t k = 0; k < ELEMENTSOF(c->files); k++)
                for (size_t i = 0; i < c->files[k].n; i++) {
                        r = write_file_set(n, file_kind_elements[k], &c->files[k].v[i], k == FILE_KIND_FILE_GROUP,
                                           false);
                        if (r < 0)
                                return r;
                }

        for (size_t i = 0; i < c->n_deps; i++) {
                xmlNode *dn;

                r = xml_new_child(n, "DEPENDENCY", &dn);
                if (r < 0)
                        return r;
                if ((r = xml_prop_id(dn, "onWriterId", &c->deps[i].on_writer_id)) < 0 ||
                    (r = xml_prop(dn, "onLogicalPath", c->deps[i].on_logical_path)) < 0 ||
                    (r = xml_prop(dn, "onComponentName", c->deps[i].on_component_name)) < 0)
                        return r;
        }
        return 0;
}

static int wmd_to_xml(const wmd *d, char **ret, size_t *ret_len) {
        _cleanup_(xml_free_docp) xmlDoc *doc = NULL;
        xmlNode *root, *n, *locations;
        int r;

        r = xml_new_doc("WRITER_METADATA", &doc, &root);
        if (r < 0)
                return r;
        r = xml_prop(root, "version", WMD_VERSION);
        if (r < 0)
                return r;

        r = xml_new_child(root, "IDENTIFICATION", &n);
        if (r < 0)
                return r;
        if ((r = xml_prop_id(n, "instanceId", &d->instance_id)) < 0 ||
            (r = xml_prop_id(n, "writerId", &d->writer_id)) < 0 ||
            (r = xml_prop(n, "friendlyName", d->writer_name)) < 0 ||
            (r = xml_prop(n, "instanceName", d->instance_name)) < 0 ||
            (r = xml_prop(n, "usage", usage_names[d->usage])) < 0 ||
            (r = xml_prop(n, "dataSource", source_names[d->source])) < 0)
                return r;

        r = xml_new_child(root, "BACKUP_LOCATIONS", &locations);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_components; i++) {
                r = write_component(locations, &d->components[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < d->excludes.n; i++) {
                r = write_file_set(locations, "EXCLUDE_FILES", &d->excludes.v[i], false, true);
                if (r < 0)
                        return r;
        }

        if (d->have_restore_method) {
                r = xml_new_child(root, "RESTORE_METHOD", &n);
                if (r < 0)
                        return r;
                if ((r = xml_prop(n, "method", restore_method_names[d->restore_method])) < 0 ||
                    (r = xml_prop(n, "service", d->restore_service)) < 0 ||
                    (r = xml_prop(n, "userProcedure", d->restore_user_procedure)) < 0 ||
                    (r = xml_prop(n, "writerRestore", writer_restore_names[d->writer_restore])) < 0 ||
                    (r = xml_prop_bool(n, "rebootRequired", d->reboot_required)) < 0)
                        return r;
        }

        if (d->backup_schema != 0) {
                r = xml_new_child(root, "BACKUP_SCHEMA", &n);
                if (r < 0)
                        return r;
                r = xml_prop_mask(n, "value", d->backup_schema);
                if (r < 0)
                        return r;
        }

        return xml_doc_to_string(doc, ret, ret_len);
}

/* ---- reading XML --------------------------------------------------------- */

/* The builder's -EINVAL & co. mean a bad document here; only -ENOMEM passes through. */
static int as_bad_document(int r) {
        if (r >= 0 || r == -ENOMEM)
                return r;
        return -EBADMSG;
}

static int parse_identification(wmd *d, xmlNode *node) {
        static const char *const names[] = {
                "instanceId", "writerId", "friendlyName", "instanceName", "usage", "dataSource", NULL,
        };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        vss_id instance_id, writer_id;
        int usage, source, r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        if (xml_parse_id(a.v[0], &instance_id) < 0 || xml_parse_id(a.v[1], &writer_id) < 0 || !a.v[2] ||
            xml_parse_enum(a.v[4], usage_names, ELEMENTSOF(usage_names), &usage) < 0 ||
            xml_parse_enum(a.v[5], source_names, ELEMENTSOF(source_names), &source) < 0)
                return -EBADMSG;
        r = xml_check_leaf(node);
        if (r < 0)
                return r;
        return as_bad_document(wmd_set_identity(d, &instance_id, &writer_id, xml_attr_str(&a, 2), xml_attr_str(&a, 3),
                                                (vss_usage_type) usage, (vss_source_type) source));
}

static int parse_file_set(wmd *d, wmd_component *c, xmlNode *node, file_kind kind, bool exclude) {
        static const char *const names[] = {
                "path", "filespec", "recursive", "alternatePath", "filespecBackupType", NULL,
        };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        bool recursive = false;
        uint32_t mask = 0;
        int r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        r = xml_check_leaf(node);
        if (r < 0)
                return r;
        if (!a.v[0] || !a.v[1])
                return -EBADMSG;

        /* which attributes each element has: docs/documents.md */
        if (exclude || kind == FILE_KIND_FILE_GROUP) {
                if (xml_parse_bool(a.v[2], &recursive) < 0)
                        return -EBADMSG;
        } else if (a.v[2])
                return -EBADMSG;
        if (!exclude && kind == FILE_KIND_FILE_GROUP) {
                /* alternatePath optional */
        } else if (a.v[3])
                return -EBADMSG;
        if (!exclude) {
                if (xml_parse_u32(a.v[4], &mask) < 0)
                        return -EBADMSG;
        } else if (a.v[4])
                return -EBADMSG;

        if (exclude)
                return as_bad_document(wmd_add_exclude(d, xml_attr_str(&a, 0), xml_attr_str(&a, 1), recursive));
        return as_bad_document(component_add_files(c, kind, xml_attr_str(&a, 0), xml_attr_str(&a, 1), recursive,
                                                   xml_attr_str(&a, 3), mask));
}

static int parse_dependency(wmd_component *c, xmlNode *node) {
        static const char *const names[] = { "onWriterId", "onLogicalPath", "onComponentName", NULL };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        vss_id id;
        int r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        r = xml_check_leaf(node);
        if (r < 0)
                return r;
        if (xml_parse_id(a.v[0], &id) < 0 || !a.v[2])
                return -EBADMSG;
        return as_bad_document(component_add_dependency(c, &id, xml_attr_str(&a, 1), xml_attr_str(&a, 2)));
}

static int parse_component(wmd *d, xmlNode *node, vss_component_type type) {
        static const char *const names[] = {
                "logicalPath",          "componentName", "caption",
                "icon",                 "restoreMetadata", "notifyOnBackupComplete",
                "selectable",           "selectableForRestore", "componentFlags",
                NULL,
        };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        _cleanup_(freep) uint8_t *icon = NULL;
        bool restore_metadata, notify, selectable, selectable_for_restore;
        uint32_t icon_size = 0, flags;
        wmd_component *c;
        int r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        if (!a.v[1] || xml_parse_bool(a.v[4], &restore_metadata) < 0 || xml_parse_bool(a.v[5], &notify) < 0 ||
            xml_parse_bool(a.v[6], &selectable) < 0 || xml_parse_bool(a.v[7], &selectable_for_restore) < 0 ||
            xml_parse_u32(a.v[8], &flags) < 0)
                return -EBADMSG;
        if (a.v[3]) {
                r = base64_decode(xml_attr_str(&a, 3), LVSS_WMD_ICON_MAX, &icon, &icon_size);
                if (r < 0)
                        return as_bad_document(r);
        }

        r = wmd_add_component(d, false, type, xml_attr_str(&a, 0), xml_attr_str(&a, 1), xml_attr_str(&a, 2), icon,
                              icon_size, restore_metadata, notify, selectable, selectable_for_restore, flags, &c);
        if (r < 0)
                return as_bad_document(r);

        for (xmlNode *n = node->children; n; n = n->next) {
                r = xml_node_kind(n);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;

                if (xml_is(n, "DEPENDENCY"))
                        r = parse_dependency(c, n);
                else if (type == VSS_CT_FILEGROUP && xml_is(n, "FILE_LIST"))
                        r = parse_file_set(d, c, n, FILE_KIND_FILE_GROUP, false);
                else if (type == VSS_CT_DATABASE && xml_is(n, "DATABASE_FILES"))
                        r = parse_file_set(d, c, n, FILE_KIND_DATABASE, false);
                else if (type == VSS_CT_DATABASE && xml_is(n, "DATABASE_LOGFILES"))
                        r = parse_file_set(d, c, n, FILE_KIND_LOG, false);
                else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_backup_locations(wmd *d, xmlNode *node) {
        if (node->properties)
                return -EBADMSG;

        for (xmlNode *n = node->children; n; n = n->next) {
                int r = xml_node_kind(n);

                if (r < 0)
                        return r;
                if (r == 0)
                        continue;

                if (xml_is(n, "FILE_GROUP"))
                        r = parse_component(d, n, VSS_CT_FILEGROUP);
                else if (xml_is(n, "DATABASE"))
                        r = parse_component(d, n, VSS_CT_DATABASE);
                else if (xml_is(n, "EXCLUDE_FILES"))
                        r = parse_file_set(d, NULL, n, FILE_KIND_FILE_GROUP, true);
                else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_restore_method(wmd *d, xmlNode *node) {
        static const char *const names[] = {
                "method", "service", "userProcedure", "writerRestore", "rebootRequired", NULL,
        };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        int method, writer_restore, r;
        bool reboot;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        r = xml_check_leaf(node);
        if (r < 0)
                return r;
        if (xml_parse_enum(a.v[0], restore_method_names, ELEMENTSOF(restore_method_names), &method) < 0 ||
            xml_parse_enum(a.v[3], writer_restore_names, ELEMENTSOF(writer_restore_names), &writer_restore) < 0 ||
            xml_parse_bool(a.v[4], &reboot) < 0)
                return -EBADMSG;
        return as_bad_document(wmd_set_restore_method(d, (vss_restoremethod) method, xml_attr_str(&a, 1),
                                                      xml_attr_str(&a, 2), (vss_writerrestore) writer_restore, reboot));
}

static int parse_backup_schema(wmd *d, xmlNode *node) {
        static const char *const names[] = { "value", NULL };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        uint32_t mask;
        int r;

        r = xml_attrs_collect(node, names, &a);
        if (r < 0)
                return r;
        r = xml_check_leaf(node);
        if (r < 0)
                return r;
        if (xml_parse_u32(a.v[0], &mask) < 0)
                return -EBADMSG;
        return as_bad_document(wmd_set_backup_schema(d, mask));
}

static int component_key_compare(const void *a, const void *b) {
        const wmd_component *x = *(const wmd_component *const *) a, *y = *(const wmd_component *const *) b;
        int k;

        k = strcmp(strempty(x->logical_path), strempty(y->logical_path));
        if (k != 0)
                return k;
        return strcmp(x->name, y->name);
}

/* Two components with the same logical path and name make a bad document. */
static int check_unique_components(wmd *d) {
        _cleanup_(freep) wmd_component **v = NULL;

        if (d->n_components < 2)
                return 0;
        v = reallocarray(NULL, d->n_components, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_components; i++)
                v[i] = &d->components[i];
        qsort(v, d->n_components, sizeof *v, component_key_compare);
        for (size_t i = 1; i < d->n_components; i++)
                if (component_key_compare(&v[i - 1], &v[i]) == 0)
                        return -EBADMSG;
        return 0;
}

static int wmd_parse(wmd *d, xmlDoc *doc) {
        static const char *const root_names[] = { "version", NULL };
        _cleanup_(xml_attrs_done) xml_attrs a = {};
        bool seen_identification = false, seen_locations = false, seen_restore = false, seen_schema = false;
        xmlNode *root;
        int r;

        root = xmlDocGetRootElement(doc);
        if (!root || root->ns || !xml_is(root, "WRITER_METADATA"))
                return -EBADMSG;
        r = xml_attrs_collect(root, root_names, &a);
        if (r < 0)
                return r;
        if (!a.v[0] || !streq_ptr(xml_attr_str(&a, 0), WMD_VERSION))
                return -EBADMSG;

        for (xmlNode *n = root->children; n; n = n->next) {
                bool *seen;

                r = xml_node_kind(n);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;

                if (xml_is(n, "IDENTIFICATION"))
                        seen = &seen_identification;
                else if (xml_is(n, "BACKUP_LOCATIONS"))
                        seen = &seen_locations;
                else if (xml_is(n, "RESTORE_METHOD"))
                        seen = &seen_restore;
                else if (xml_is(n, "BACKUP_SCHEMA"))
                        seen = &seen_schema;
                else
                        return -EBADMSG;
                if (*seen)
                        return -EBADMSG;
                *seen = true;

                if (seen == &seen_identification)
                        r = parse_identification(d, n);
                else if (seen == &seen_locations)
                        r = parse_backup_locations(d, n);
                else if (seen == &seen_restore)
                        r = parse_restore_method(d, n);
                else
                        r = parse_backup_schema(d, n);
                if (r < 0)
                        return r;
        }
        if (!seen_identification)
                return -EBADMSG;

        return check_unique_components(d);
}

static void wmd_freep(wmd **d) {
        if (*d) {
                wmd_done(*d);
                free(*d);
        }
}

int lvss_wmd_load(const char *xml, vss_examine_writer_metadata **ret) {
        _cleanup_(xml_free_docp) xmlDoc *doc = NULL;
        _cleanup_(wmd_freep) wmd *d = NULL;
        vss_examine_writer_metadata *md;
        size_t len;
        int r;

        if (!xml || !ret)
                return -EINVAL;

        len = strnlen(xml, LVSS_WMD_XML_MAX + 1);
        if (len == 0 || len > LVSS_WMD_XML_MAX)
                return -EBADMSG;
        r = xml_read_untrusted(xml, len, &doc);
        if (r < 0)
                return r;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        r = wmd_parse(d, doc);
        if (r < 0)
                return r;

        for (size_t i = 0; i < d->n_components; i++)
                component_view(&d->components[i]);

        md = calloc(1, sizeof *md);
        if (!md)
                return -ENOMEM;
        md->d = *d;
        *d = (wmd) {};
        *ret = md;
        return 0;
}

/* ---- internal API -------------------------------------------------------- */

int lvss_wmd_new(const vss_id *instance_id, const vss_id *writer_id, const char *writer_name,
                 const char *instance_name, vss_usage_type usage, vss_source_type source,
                 vss_create_writer_metadata **ret) {
        vss_create_writer_metadata *md;
        int r;

        if (!ret)
                return -EINVAL;
        md = calloc(1, sizeof *md);
        if (!md)
                return -ENOMEM;
        r = wmd_set_identity(&md->d, instance_id, writer_id, writer_name, instance_name, usage, source);
        if (r < 0) {
                lvss_wmd_free(md);
                return r;
        }
        *ret = md;
        return 0;
}

vss_create_writer_metadata *lvss_wmd_free(vss_create_writer_metadata *md) {
        if (md) {
                wmd_done(&md->d);
                free(md);
        }
        return NULL;
}

int lvss_wmd_to_xml(vss_create_writer_metadata *md, char **ret) {
        _cleanup_(freep) char *s = NULL;
        size_t len;
        int r;

        if (!md || !ret)
                return -EINVAL;
        r = wmd_to_xml(&md->d, &s, &len);
        if (r < 0)
                return r;
        if (len > LVSS_WMD_XML_MAX)
                return -E2BIG; /* every loader would refuse it */
        *ret = TAKE_PTR(s);
        return 0;
}

int lvss_wmd_examine_find_component(vss_examine_writer_metadata *md, const char *logical_path, const char *name,
                                    const vss_component_info **ret) {
        wmd_component *c;

        if (!md || !name || !ret)
                return -EINVAL;
        c = wmd_find_component(&md->d, logical_path, name);
        if (!c)
                return -ENOENT;
        *ret = &c->info;
        return 0;
}

int lvss_wmd_examine_get_dependency(vss_examine_writer_metadata *md, unsigned component, unsigned index,
                                    const lvss_wmd_dependency **ret) {
        wmd_component *c;

        if (!md || !ret)
                return -EINVAL;
        if (component >= md->d.n_components)
                return -ENOENT;
        c = &md->d.components[component];
        if (index >= c->n_deps)
                return -ENOENT;
        *ret = &c->deps[index];
        return 0;
}

int lvss_wmd_examine_get_icon(vss_examine_writer_metadata *md, unsigned component, const uint8_t **ret,
                              uint32_t *ret_size) {
        wmd_component *c;

        if (!md || !ret || !ret_size)
                return -EINVAL;
        if (component >= md->d.n_components)
                return -ENOENT;
        c = &md->d.components[component];
        *ret = c->icon;
        *ret_size = c->icon_size;
        return 0;
}

/* ---- public API: writer side --------------------------------------------- */

_public_ vss_hresult vss_create_writer_metadata_set_restore_method(vss_create_writer_metadata *md,
                                                                   vss_restoremethod method, const char *service,
                                                                   const char *user_procedure,
                                                                   vss_writerrestore writer_restore,
                                                                   bool reboot_required) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(
                wmd_set_restore_method(&md->d, method, service, user_procedure, writer_restore, reboot_required));
}

_public_ vss_hresult vss_create_writer_metadata_add_component(vss_create_writer_metadata *md,
                                                              vss_component_type type, const char *logical_path,
                                                              const char *component_name, const char *caption,
                                                              const uint8_t *icon, uint32_t icon_size,
                                                              bool restore_metadata, bool notify_on_backup_complete,
                                                              bool selectable, bool selectable_for_restore,
                                                              uint32_t component_flags) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(wmd_add_component(&md->d, true, type, logical_path, component_name, caption,
                                                         icon, icon_size, restore_metadata, notify_on_backup_complete,
                                                         selectable, selectable_for_restore, component_flags, NULL));
}

static int add_files(vss_create_writer_metadata *md, file_kind kind, const char *logical_path, const char *name,
                     const char *path, const char *filespec, bool recursive, const char *alternate, uint32_t mask) {
        wmd_component *c;

        if (check_optional(logical_path) < 0 || check_required(name) < 0)
                return -EINVAL;
        c = wmd_find_component(&md->d, logical_path, name);
        if (!c)
                return -ENOENT;
        return component_add_files(c, kind, path, filespec, recursive, alternate, mask);
}

_public_ vss_hresult vss_create_writer_metadata_add_files_to_file_group(vss_create_writer_metadata *md,
                                                                        const char *logical_path,
                                                                        const char *group_name, const char *path,
                                                                        const char *filespec, bool recursive,
                                                                        const char *alternate_location,
                                                                        uint32_t backup_type_mask) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(add_files(md, FILE_KIND_FILE_GROUP, logical_path, group_name, path, filespec,
                                                 recursive, strnull_if_empty(alternate_location), backup_type_mask));
}

_public_ vss_hresult vss_create_writer_metadata_add_database_files(vss_create_writer_metadata *md,
                                                                   const char *logical_path,
                                                                   const char *database_name, const char *path,
                                                                   const char *filespec, uint32_t backup_type_mask) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(add_files(md, FILE_KIND_DATABASE, logical_path, database_name, path, filespec,
                                                 false, NULL, backup_type_mask));
}

_public_ vss_hresult vss_create_writer_metadata_add_database_log_files(vss_create_writer_metadata *md,
                                                                       const char *logical_path,
                                                                       const char *database_name, const char *path,
                                                                       const char *filespec,
                                                                       uint32_t backup_type_mask) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(add_files(md, FILE_KIND_LOG, logical_path, database_name, path, filespec, false,
                                                 NULL, backup_type_mask));
}

_public_ vss_hresult vss_create_writer_metadata_add_exclude_files(vss_create_writer_metadata *md, const char *path,
                                                                  const char *filespec, bool recursive) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(wmd_add_exclude(&md->d, path, filespec, recursive));
}

_public_ vss_hresult vss_create_writer_metadata_set_backup_schema(vss_create_writer_metadata *md,
                                                                  uint32_t schema_mask) {
        check_arg(md, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(wmd_set_backup_schema(&md->d, schema_mask));
}

_public_ vss_hresult vss_create_writer_metadata_add_component_dependency(vss_create_writer_metadata *md,
                                                                         const char *for_logical_path,
                                                                         const char *for_component_name,
                                                                         const vss_id *on_writer_id,
                                                                         const char *on_logical_path,
                                                                         const char *on_component_name) {
        wmd_component *c;

        check_arg(md, VSS_E_INVALIDARG);
        check_arg(check_optional(for_logical_path) >= 0, VSS_E_INVALIDARG);
        check_arg(check_required(for_component_name) >= 0, VSS_E_INVALIDARG);

        c = wmd_find_component(&md->d, for_logical_path, for_component_name);
        if (!c)
                return VSS_E_OBJECT_NOT_FOUND;
        return lvss_hresult_from_errno(component_add_dependency(c, on_writer_id, on_logical_path, on_component_name));
}

/* ---- public API: requester side ------------------------------------------ */

_public_ vss_hresult vss_examine_writer_metadata_load_xml(const char *xml, vss_examine_writer_metadata **ret) {
        check_arg(xml, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        return lvss_hresult_from_errno(lvss_wmd_load(xml, ret));
}

_public_ vss_examine_writer_metadata *vss_examine_writer_metadata_release(vss_examine_writer_metadata *md) {
        if (md) {
                wmd_done(&md->d);
                free(md);
        }
        return NULL;
}

_public_ vss_hresult vss_examine_writer_metadata_get_identity(vss_examine_writer_metadata *md,
                                                              vss_id *ret_instance_id, vss_id *ret_writer_id,
                                                              const char **ret_writer_name,
                                                              const char **ret_instance_name,
                                                              vss_usage_type *ret_usage,
                                                              vss_source_type *ret_source) {
        check_arg(md, VSS_E_INVALIDARG);

        if (ret_instance_id)
                *ret_instance_id = md->d.instance_id;
        if (ret_writer_id)
                *ret_writer_id = md->d.writer_id;
        if (ret_writer_name)
                *ret_writer_name = md->d.writer_name;
        if (ret_instance_name)
                *ret_instance_name = md->d.instance_name;
        if (ret_usage)
                *ret_usage = md->d.usage;
        if (ret_source)
                *ret_source = md->d.source;
        return VSS_S_OK;
}

_public_ vss_hresult vss_examine_writer_metadata_get_file_counts(vss_examine_writer_metadata *md,
                                                                 unsigned *ret_include_files,
                                                                 unsigned *ret_exclude_files,
                                                                 unsigned *ret_components) {
        check_arg(md, VSS_E_INVALIDARG);

        if (ret_include_files)
                *ret_include_files = 0; /* reserved in VSS: there are no include file sets */
        if (ret_exclude_files)
                *ret_exclude_files = (unsigned) md->d.excludes.n;
        if (ret_components)
                *ret_components = (unsigned) md->d.n_components;
        return VSS_S_OK;
}

_public_ vss_hresult vss_examine_writer_metadata_get_component(vss_examine_writer_metadata *md, unsigned index,
                                                               const vss_component_info **ret) {
        check_arg(md, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        if (index >= md->d.n_components)
                return VSS_E_OBJECT_NOT_FOUND;
        *ret = &md->d.components[index].info;
        return VSS_S_OK;
}

_public_ vss_hresult vss_examine_writer_metadata_get_restore_method(vss_examine_writer_metadata *md,
                                                                    vss_restoremethod *ret_method,
                                                                    const char **ret_service,
                                                                    const char **ret_user_procedure,
                                                                    vss_writerrestore *ret_writer_restore,
                                                                    bool *ret_reboot_required) {
        check_arg(md, VSS_E_INVALIDARG);

        /* unset: everything reads as undefined and the result is S_FALSE, as in VSS */
        if (ret_method)
                *ret_method = md->d.restore_method;
        if (ret_service)
                *ret_service = md->d.restore_service;
        if (ret_user_procedure)
                *ret_user_procedure = md->d.restore_user_procedure;
        if (ret_writer_restore)
                *ret_writer_restore = md->d.writer_restore;
        if (ret_reboot_required)
                *ret_reboot_required = md->d.reboot_required;
        return md->d.have_restore_method ? VSS_S_OK : VSS_S_FALSE;
}

_public_ vss_hresult vss_examine_writer_metadata_get_exclude_file(vss_examine_writer_metadata *md, unsigned index,
                                                                  const vss_file_desc **ret) {
        check_arg(md, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        if (index >= md->d.excludes.n)
                return VSS_E_OBJECT_NOT_FOUND;
        *ret = &md->d.excludes.v[index];
        return VSS_S_OK;
}

_public_ vss_hresult vss_examine_writer_metadata_get_backup_schema(vss_examine_writer_metadata *md, uint32_t *ret) {
        check_arg(md, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        *ret = md->d.backup_schema;
        return VSS_S_OK;
}

_public_ vss_hresult vss_examine_writer_metadata_save_as_xml(vss_examine_writer_metadata *md, char **ret_xml) {
        check_arg(md, VSS_E_INVALIDARG);
        check_arg(ret_xml, VSS_E_INVALIDARG);

        return lvss_hresult_from_errno(wmd_to_xml(&md->d, ret_xml, NULL));
}

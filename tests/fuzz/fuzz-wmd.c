/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzz target: the Writer Metadata Document loader,
 * vss_examine_writer_metadata_load_xml() (src/documents/wmd.c).
 *
 * The contract checked, from docs/documents.md:
 * - any text gives VSS_S_OK, VSS_E_INVALID_XML_DOCUMENT or
 *   VSS_E_OUTOFMEMORY, never a crash and never another code;
 * - a loaded document can be examined through every getter, and every
 *   borrowed string is a valid C string;
 * - save(load(x)) loads again, and saving that gives the same text
 *   ("saving twice gives the same text").
 */

#include <lvss/metadata.h>

#include "documents/wmd.h"
#include "fuzz.h"

static volatile size_t sink;

/* Touch every byte of a borrowed string so ASan sees a dangling or unterminated one. */
static void touch(const char *s) {
        if (s)
                sink += strlen(s);
}

static void touch_file_desc(const vss_file_desc *f) {
        fuzz_check(f);
        fuzz_check(f->path && f->filespec);
        touch(f->path);
        touch(f->filespec);
        touch(f->alternate_location);
}

static void examine(vss_examine_writer_metadata *md) {
        vss_id instance_id, writer_id;
        const char *writer_name, *instance_name, *service, *procedure;
        vss_usage_type usage;
        vss_source_type source;
        vss_restoremethod method;
        vss_writerrestore writer_restore;
        bool reboot;
        unsigned n_include, n_exclude, n_components;
        uint32_t schema;
        vss_hresult hr;

        fuzz_check(vss_examine_writer_metadata_get_identity(md, &instance_id, &writer_id, &writer_name,
                                                            &instance_name, &usage, &source) == VSS_S_OK);
        fuzz_check(writer_name && *writer_name);
        touch(instance_name);

        hr = vss_examine_writer_metadata_get_restore_method(md, &method, &service, &procedure, &writer_restore,
                                                            &reboot);
        fuzz_check(hr == VSS_S_OK || hr == VSS_S_FALSE);
        touch(service);
        touch(procedure);

        fuzz_check(vss_examine_writer_metadata_get_backup_schema(md, &schema) == VSS_S_OK);
        fuzz_check(vss_examine_writer_metadata_get_file_counts(md, &n_include, &n_exclude, &n_components) ==
                   VSS_S_OK);

        for (unsigned i = 0; i < n_exclude; i++) {
                const vss_file_desc *f;

                fuzz_check(vss_examine_writer_metadata_get_exclude_file(md, i, &f) == VSS_S_OK);
                touch_file_desc(f);
        }
        {
                const vss_file_desc *f;
                fuzz_check(vss_examine_writer_metadata_get_exclude_file(md, n_exclude, &f) ==
                           VSS_E_OBJECT_NOT_FOUND);
        }

        for (unsigned i = 0; i < n_components; i++) {
                const vss_component_info *c, *found;
                const uint8_t *icon;
                uint32_t icon_size;

                fuzz_check(vss_examine_writer_metadata_get_component(md, i, &c) == VSS_S_OK);
                fuzz_check(c->component_name && *c->component_name);
                touch(c->logical_path);
                touch(c->caption);
                for (unsigned j = 0; j < c->file_count; j++)
                        touch_file_desc(&c->files[j]);
                for (unsigned j = 0; j < c->database_count; j++)
                        touch_file_desc(&c->databases[j]);
                for (unsigned j = 0; j < c->log_file_count; j++)
                        touch_file_desc(&c->log_files[j]);
                for (unsigned j = 0; j < c->dependency_count; j++) {
                        const lvss_wmd_dependency *dep;

                        fuzz_check(lvss_wmd_examine_get_dependency(md, i, j, &dep) == 0);
                        fuzz_check(dep->on_component_name);
                        touch(dep->on_logical_path);
                        touch(dep->on_component_name);
                }
                fuzz_check(lvss_wmd_examine_get_icon(md, i, &icon, &icon_size) == 0);
                fuzz_check((icon == NULL) == (icon_size == 0));
                for (uint32_t j = 0; j < icon_size; j++)
                        sink += icon[j];

                /* components are unique on (logical path, name): lookup finds this very one */
                fuzz_check(lvss_wmd_examine_find_component(md, c->logical_path, c->component_name, &found) == 0);
                fuzz_check(found == c);
        }
        {
                const vss_component_info *c;
                fuzz_check(vss_examine_writer_metadata_get_component(md, n_components, &c) ==
                           VSS_E_OBJECT_NOT_FOUND);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        vss_examine_writer_metadata *md = NULL, *again = NULL;
        char *xml, *saved = NULL, *saved_again = NULL;
        vss_hresult hr;

        xml = fuzz_strndup(data, size);
        hr = vss_examine_writer_metadata_load_xml(xml, &md);
        free(xml);
        if (hr == VSS_E_INVALID_XML_DOCUMENT || hr == VSS_E_OUTOFMEMORY) {
                fuzz_check(!md);
                return 0;
        }
        fuzz_check(hr == VSS_S_OK);
        fuzz_check(md);

        examine(md);

        fuzz_check(vss_examine_writer_metadata_save_as_xml(md, &saved) == VSS_S_OK);
        fuzz_check(saved);
        /* saving adds indentation, so a document near the size limit may not load again (documents.md) */
        if (strlen(saved) <= LVSS_WMD_XML_MAX) {
                fuzz_check(vss_examine_writer_metadata_load_xml(saved, &again) == VSS_S_OK);
                examine(again);
                fuzz_check(vss_examine_writer_metadata_save_as_xml(again, &saved_again) == VSS_S_OK);
                if (strcmp(saved, saved_again) != 0) {
                        fprintf(stderr, "first save:\n%s\nsecond save:\n%s\n", saved, saved_again);
                        fuzz_check(!"saving twice gives the same text");
                }
        }

        free(saved_again);
        free(saved);
        vss_examine_writer_metadata_release(again);
        vss_examine_writer_metadata_release(md);
        return 0;
}

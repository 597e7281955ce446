/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzz target: the Backup Components Document loader, lvss_bcd_from_xml()
 * (src/documents/bcd.c). The coordinator reads a BCD that a requester saved
 * and gives back (InitializeForRestore), so its text is untrusted.
 *
 * The contract checked, from src/documents/bcd.h:
 * - any text gives 0, -EBADMSG (mapped to VSS_E_INVALID_XML_DOCUMENT),
 *   -E2BIG (oversize) or -ENOMEM, never a crash and never another code;
 * - a loaded document has a sane shape: counts match arrays, required
 *   strings are present, every string is a valid C string;
 * - to_xml(from_xml(x)) loads again, and writing that gives the same text.
 */

#include <errno.h>

#include "documents/bcd.h"
#include "fuzz.h"

static volatile size_t sink;

/* Touch every byte of a string so ASan sees a dangling or unterminated one. */
static void touch(const char *s) {
        if (s)
                sink += strlen(s);
}

static void examine(const lvss_bcd *bcd) {
        fuzz_check(bcd->n_writers == 0 || bcd->writers);
        fuzz_check(bcd->n_components == 0 || bcd->components);

        for (size_t i = 0; i < bcd->n_writers; i++) {
                const lvss_bcd_writer *w = &bcd->writers[i];

                fuzz_check(w->writer_name);
                touch(w->writer_name);
                touch(w->instance_name);
                touch(w->metadata_xml);
        }
        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *c = &bcd->components[i];

                fuzz_check(c->name);
                touch(c->name);
                touch(c->logical_path);
                touch(c->backup_metadata);
                touch(c->backup_stamp);
                touch(c->previous_backup_stamp);
                touch(c->restore_metadata);
                touch(c->pre_restore_failure_msg);
                touch(c->post_restore_failure_msg);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        lvss_bcd *bcd = NULL, *again = NULL;
        char *xml, *saved = NULL, *saved_again = NULL;
        int r;

        xml = fuzz_strndup(data, size);
        r = lvss_bcd_from_xml(xml, &bcd);
        free(xml);
        if (r == -EBADMSG || r == -E2BIG || r == -ENOMEM) {
                fuzz_check(!bcd);
                return 0;
        }
        if (r != 0)
                fprintf(stderr, "lvss_bcd_from_xml: unexpected result %d\n", r);
        fuzz_check(r == 0);
        fuzz_check(bcd);

        examine(bcd);

        r = lvss_bcd_to_xml(bcd, &saved);
        /* the writers' metadata is kept verbatim and written escaped, so a document near the limit may grow past it */
        if (r != -E2BIG) {
                fuzz_check(r == 0 && saved);
                r = lvss_bcd_from_xml(saved, &again);
                if (r != 0)
                        fprintf(stderr, "a written document does not load (%d):\n%s\n", r, saved);
                fuzz_check(r == 0);
                examine(again);
                fuzz_check(lvss_bcd_to_xml(again, &saved_again) == 0);
                if (strcmp(saved, saved_again) != 0) {
                        fprintf(stderr, "first write:\n%s\nsecond write:\n%s\n", saved, saved_again);
                        fuzz_check(!"writing twice gives the same text");
                }
        }

        free(saved_again);
        free(saved);
        lvss_bcd_free(again);
        lvss_bcd_free(bcd);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The tools' --json output on json-c (json-output.h). The streaming calls
 * the tools make (begin, key, value, end) build a json-c tree; json-c
 * serialises it, so no JSON text is written by hand here.
 */

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "basic/utf8.h"
#include "json-output.h"

void json_init(json_writer *j, FILE *f) {
        *j = (json_writer) { .f = f };
}

void json_release(json_writer *j) {
        if (!j)
                return;
        json_object_put(j->root);
        j->root = NULL;
        free(j->key);
        j->key = NULL;
        j->depth = 0;
}

/* Put @v (NULL: JSON null) where the next value goes; takes the reference. */
static void json_add(json_writer *j, struct json_object *v, bool is_null) {
        struct json_object *parent;
        int r;

        if (!v && !is_null) {
                j->failed = true;
                goto done;
        }
        if (j->depth == 0) {
                /* a top-level value: the document (a tool writes one) */
                json_object_put(j->root);
                j->root = v;
                goto done;
        }
        parent = j->open[j->depth - 1];
        if (json_object_is_type(parent, json_type_object))
                r = json_object_object_add(parent, j->key ? j->key : "", v);
        else
                r = json_object_array_add(parent, v);
        if (r < 0) {
                json_object_put(v);
                j->failed = true;
        }
done:
        free(j->key);
        j->key = NULL;
}

static void json_begin(json_writer *j, struct json_object *c) {
        if (j->depth >= JSON_DEPTH_MAX) {
                json_object_put(c);
                j->failed = true;
                return;
        }
        json_add(j, c, false);
        if (c && !j->failed)
                j->open[j->depth++] = c;
}

static void json_end(json_writer *j) {
        if (j->depth > 0)
                j->depth--;
}

void json_begin_object(json_writer *j) {
        json_begin(j, json_object_new_object());
}

void json_end_object(json_writer *j) {
        json_end(j);
}

void json_begin_array(json_writer *j) {
        json_begin(j, json_object_new_array());
}

void json_end_array(json_writer *j) {
        json_end(j);
}

char *json_utf8_sanitize(const char *str) {
        static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
        const char *s = str;
        size_t len = strlen(str);
        char *out, *o;

        if (lvss_utf8_valid(str))
                return strdup(str);

        /* at most three bytes for each one replaced */
        if (len > (SIZE_MAX - 1) / 3)
                return NULL;
        out = o = malloc(len * 3 + 1);
        if (!out)
                return NULL;
        while (*s) {
                /* the NUL terminator stops every multi-byte check before reading past it */
                size_t n = lvss_utf8_decode(s, NULL);

                if (n == 0) {
                        memcpy(o, replacement, 3);
                        o += 3;
                        s++;
                        continue;
                }
                memcpy(o, s, n);
                o += n;
                s += n;
        }
        *o = 0;
        return out;
}

void json_key(json_writer *j, const char *key) {
        free(j->key);
        j->key = json_utf8_sanitize(key);
        if (!j->key)
                j->failed = true;
}

void json_string(json_writer *j, const char *s) {
        char *valid;

        if (!s) {
                json_null(j);
                return;
        }
        valid = json_utf8_sanitize(s);
        if (!valid) {
                json_add(j, NULL, false);
                return;
        }
        json_add(j, json_object_new_string(valid), false);
        free(valid);
}

void json_int(json_writer *j, int64_t v) {
        json_add(j, json_object_new_int64(v), false);
}

void json_uint(json_writer *j, uint64_t v) {
        json_add(j, json_object_new_uint64(v), false);
}

void json_boolean(json_writer *j, bool v) {
        json_add(j, json_object_new_boolean(v), false);
}

void json_null(json_writer *j) {
        json_add(j, NULL, true);
}

void json_id(json_writer *j, const vss_id *id) {
        char s[VSS_ID_STRING_MAX];

        if (vss_id_is_null(id)) {
                json_null(j);
                return;
        }
        vss_id_format(id, s);
        json_string(j, s);
}

void json_hresult(json_writer *j, vss_hresult hr) {
        char s[16];

        snprintf(s, sizeof s, "0x%08" PRIX32, (uint32_t) hr);
        json_string(j, s);
}

int json_finish(json_writer *j) {
        const char *text;
        int r = 0;

        text = j->failed ? NULL
                         : json_object_to_json_string_ext(j->root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text) {
                fprintf(stderr, "cannot build the JSON output: %s\n", strerror(ENOMEM));
                r = -ENOMEM;
        } else {
                fputs(text, j->f);
                fputc('\n', j->f);
        }
        fflush(j->f);
        json_release(j);
        return r;
}

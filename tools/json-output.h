/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The --json output of the tools, built with json-c: the caller opens and
 * closes objects and arrays in order, naming each member with json_key()
 * inside objects, as if it streamed; the values go into a json-c document,
 * which json_finish() prints (indented, one document, a newline) and frees.
 * json-c does the quoting and escaping; strings that are not valid UTF-8
 * (common/utf8.h's decoder: what is not UTF-8 at all) have each invalid byte
 * replaced by U+FFFD first, so the output is always valid JSON in UTF-8.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <lvss/vss.h>

#define JSON_DEPTH_MAX 32

struct json_object;

typedef struct json_writer {
        FILE *f;
        struct json_object *root;                   /* the document so far */
        struct json_object *open[JSON_DEPTH_MAX];   /* the containers open, innermost last */
        unsigned depth;
        char *key;                                  /* the member name json_key() gave, for the next value */
        bool failed;                                /* out of memory, or nesting past JSON_DEPTH_MAX */
} json_writer;

void json_init(json_writer *j, FILE *f);
void json_begin_object(json_writer *j);
void json_end_object(json_writer *j);
void json_begin_array(json_writer *j);
void json_end_array(json_writer *j);
void json_key(json_writer *j, const char *key);
void json_string(json_writer *j, const char *s); /* NULL: null */
void json_int(json_writer *j, int64_t v);
void json_uint(json_writer *j, uint64_t v);
void json_boolean(json_writer *j, bool v);
void json_null(json_writer *j);
void json_id(json_writer *j, const vss_id *id); /* "{…}"; the null id: null */
void json_hresult(json_writer *j, vss_hresult hr); /* "0x800423F3" */
/* Prints the document with a newline and frees it; -ENOMEM when it could not be built or printed. */
int json_finish(json_writer *j);
/* Frees a document that was not finished (an early exit); NULL-safe. */
void json_release(json_writer *j);

/* @s with every byte that does not start a valid UTF-8 character replaced by U+FFFD; owned; NULL: ENOMEM. */
char *json_utf8_sanitize(const char *s);

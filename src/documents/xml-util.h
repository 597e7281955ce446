/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the XML documents (wmd.c, bcd.c): internal, never
 * exported. Writing: attributes and children on a libxml2 tree, each
 * checked (libxml2 2.9 can lose an allocation silently while building a
 * tree), dumped into free()-able memory. Reading: one safe way to parse text from another
 * process (xml_read_untrusted()), then strict accessors that refuse anything
 * a document of ours never contains (namespaces, unknown attributes, text
 * where none belongs, numbers with signs or spaces).
 *
 * Results are 0 or a negative errno: -EBADMSG for a malformed document,
 * -ENOMEM when out of memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <lvss/types.h>

/* xmlInitParser() once per process (pthread_once); xmlCleanupParser() is never called. */
void xml_init(void);

/*
 * True when @s is valid UTF-8 made only of XML 1.0 characters that are not
 * Unicode non-characters (utf8.h), at most @max bytes: anything else could
 * not be written into a document, sent over D-Bus and read back.
 */
bool xml_string_valid(const char *s, size_t max);

/* ---- writing ------------------------------------------------------------- */

/*
 * xml_new_doc() - a new document with its root element.
 * @ret: owned, xmlFreeDoc(). @ret_root: borrowed from it.
 */
int xml_new_doc(const char *root_name, xmlDoc **ret, xmlNode **ret_root);

/* An attribute; nothing when @value is NULL. */
int xml_prop(xmlNode *n, const char *name, const char *value);
/* "true" / "false". */
int xml_prop_bool(xmlNode *n, const char *name, bool b);
/* "0x…", lowercase hexadecimal. */
int xml_prop_mask(xmlNode *n, const char *name, uint32_t v);
/* vss_id_format(). */
int xml_prop_id(xmlNode *n, const char *name, const vss_id *id);
/* A new empty element under @parent; *@ret borrowed from the tree. */
int xml_new_child(xmlNode *parent, const char *name, xmlNode **ret);
/* A new element under @parent holding @text (escaped when written). */
int xml_new_text_child(xmlNode *parent, const char *name, const char *text);

/*
 * xml_doc_to_string() - the document as indented UTF-8 text.
 * @ret: owned, free() (copied out of libxml2's allocator).
 * @ret_len: the length without the NUL; may be NULL.
 */
int xml_doc_to_string(xmlDoc *doc, char **ret, size_t *ret_len);

void xml_free_docp(xmlDoc **doc);

/* ---- reading ------------------------------------------------------------- */

/*
 * xml_read_untrusted() - parse @len bytes (the caller has bounded @len).
 * As UTF-8 whatever the declaration says; no network, no DTD loading, no
 * entity substitution, no XInclude; a DOCTYPE or entity declaration anywhere
 * is refused (a byte scan first, then SAX hooks that stop the parser before
 * an internal subset is processed).
 * @ret: owned, xmlFreeDoc().
 * Return: 0, -EBADMSG (not well-formed, or any DTD), -ENOMEM.
 */
int xml_read_untrusted(const char *xml, size_t len, xmlDoc **ret);

#define XML_ATTRS_MAX 12

typedef struct xml_attrs {
        xmlChar *v[XML_ATTRS_MAX]; /* by index in the element's name list; NULL when absent */
} xml_attrs;

void xml_attrs_done(xml_attrs *a);

/*
 * xml_attrs_collect() - the attributes of @node by name; any attribute not
 * in @names (NULL-terminated, at most XML_ATTRS_MAX), a namespaced one or a
 * repeated one is -EBADMSG.
 */
int xml_attrs_collect(xmlNode *node, const char *const *names, xml_attrs *a);

static inline const char *xml_attr_str(const xml_attrs *a, size_t i) {
        return (const char *) a->v[i];
}

/* "true", "false", "1", "0"; NULL (absent) is -EBADMSG, as for every parser below. */
int xml_parse_bool(const xmlChar *v, bool *ret);
/* Decimal, or hexadecimal after "0x"/"0X"; no sign, no spaces; fits in 32 bits. */
int xml_parse_u32(const xmlChar *v, uint32_t *ret);
/* A name from @names (indexed by value, @n of them), or the value in decimal. */
int xml_parse_enum(const xmlChar *v, const char *const *names, size_t n, int *ret);
/* vss_id_parse(): braces optional, any case. */
int xml_parse_id(const xmlChar *v, vss_id *ret);

/* 1: an element to look at; 0: a comment or blank text to skip; -EBADMSG: anything else. */
int xml_node_kind(xmlNode *n);

static inline bool xml_is(const xmlNode *n, const char *name) {
        return xmlStrEqual(n->name, (const xmlChar *) name);
}

/* An element with no element children and no text (comments and blanks allowed). */
int xml_check_leaf(xmlNode *node);

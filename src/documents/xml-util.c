/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * XML helpers shared by the Writer Metadata Document (wmd.c) and the Backup
 * Components Document (bcd.c); see xml-util.h. The rules for untrusted text
 * are written down once, here, and in docs/documents.md ("Loading untrusted
 * text").
 */

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>

#include "basic/utf8.h"
#include "basic/util.h"
#include "xml-util.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void) {
        xmlInitParser();
}

void xml_init(void) {
        (void) pthread_once(&xml_once, xml_init_once);
}

bool xml_string_valid(const char *s, size_t max) {
        if (strnlen(s, max + 1) > max)
                return false;

        /* well-formed UTF-8 (utf8.h), the XML 1.0 Char production, and no
         * non-characters: a document crosses D-Bus as one string, which
         * sd-bus refuses whole for one of them (utf8.h) */
        while (*s) {
                uint32_t c;
                size_t len = lvss_utf8_decode(s, &c);

                if (len == 0 || lvss_unichar_is_noncharacter(c))
                        return false;
                if (!(c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xfffd) || c >= 0x10000))
                        return false;
                s += len;
        }
        return true;
}

/* ---- writing ------------------------------------------------------------- */

/*
 * libxml2 2.9 does not check every allocation when it builds a tree: a node
 * can come back with no name, an attribute with no value, a text node with
 * no content, and the document is then written out wrong without any error.
 * The helpers below check what they get, so running out of memory is always
 * -ENOMEM and never a corrupt document (test-bcd fails every allocation in
 * turn to keep it so).
 */

static bool text_complete(const xmlNode *t, const char *value) {
        /* "" may legitimately have no text node at all */
        if (!*value)
                return true;
        return t && t->type == XML_TEXT_NODE && t->content && !t->next;
}

int xml_new_doc(const char *root_name, xmlDoc **ret, xmlNode **ret_root) {
        xmlDoc *doc;
        xmlNode *root;

        xml_init();
        doc = xmlNewDoc(BAD_CAST "1.0");
        if (!doc)
                return -ENOMEM;
        root = xmlNewDocNode(doc, NULL, BAD_CAST root_name, NULL);
        if (!doc->version || !root || !root->name) {
                if (root)
                        xmlFreeNode(root);
                xmlFreeDoc(doc);
                return -ENOMEM;
        }
        xmlDocSetRootElement(doc, root);
        *ret = doc;
        *ret_root = root;
        return 0;
}

int xml_prop(xmlNode *n, const char *name, const char *value) {
        xmlAttr *a;

        if (!value)
                return 0;
        a = xmlNewProp(n, BAD_CAST name, BAD_CAST value);
        if (!a)
                return -ENOMEM;
        if (!a->name || !text_complete(a->children, value))
                return -ENOMEM; /* the attribute stays in the tree, which the caller frees */
        return 0;
}

int xml_prop_bool(xmlNode *n, const char *name, bool b) {
        return xml_prop(n, name, b ? "true" : "false");
}

int xml_prop_mask(xmlNode *n, const char *name, uint32_t v) {
        char buf[sizeof "0xffffffff"];

        snprintf(buf, sizeof buf, "0x%" PRIx32, v);
        return xml_prop(n, name, buf);
}

int xml_prop_id(xmlNode *n, const char *name, const vss_id *id) {
        char buf[VSS_ID_STRING_MAX];

        vss_id_format(id, buf);
        return xml_prop(n, name, buf);
}

int xml_new_child(xmlNode *parent, const char *name, xmlNode **ret) {
        *ret = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
        return *ret && (*ret)->name ? 0 : -ENOMEM;
}

int xml_new_text_child(xmlNode *parent, const char *name, const char *text) {
        xmlNode *n;

        n = xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
        if (!n)
                return -ENOMEM;
        return n->name && text_complete(n->children, text) ? 0 : -ENOMEM;
}

void xml_free_docp(xmlDoc **doc) {
        if (*doc)
                xmlFreeDoc(*doc);
}

int xml_doc_to_string(xmlDoc *doc, char **ret, size_t *ret_len) {
        xmlChar *mem = NULL;
        int len = 0;
        char *s;

        xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
        if (!mem || len <= 0) {
                if (mem)
                        xmlFree(mem);
                return -ENOMEM;
        }
        /* hand out memory for free(), whatever allocator libxml2 was set up with */
        s = malloc((size_t) len + 1);
        if (!s) {
                xmlFree(mem);
                return -ENOMEM;
        }
        memcpy(s, mem, (size_t) len);
        s[len] = 0;
        xmlFree(mem);

        *ret = s;
        if (ret_len)
                *ret_len = (size_t) len;
        return 0;
}

/* ---- reading ------------------------------------------------------------- */

/*
 * SAX hooks: a DOCTYPE (internal subset) or an entity declaration stops the
 * parser on the spot and marks the document bad, before any declaration in
 * it is processed.
 */
static void sax_refuse(xmlParserCtxtPtr ctxt) {
        xmlStopParser(ctxt);
        ctxt->wellFormed = 0;
}

static void sax_refuse_subset(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id) {
        sax_refuse(ctx);
}

static void sax_refuse_entity(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                              const xmlChar *system_id, xmlChar *content) {
        sax_refuse(ctx);
}

static void xml_free_parser_ctxtp(xmlParserCtxtPtr *c) {
        if (*c)
                xmlFreeParserCtxt(*c);
}

int xml_read_untrusted(const char *xml, size_t len, xmlDoc **ret) {
        _cleanup_(xml_free_parser_ctxtp) xmlParserCtxtPtr ctxt = NULL;
        _cleanup_(xml_free_docp) xmlDoc *doc = NULL;

        if (len > INT_MAX)
                return -EBADMSG;
        /* cheap first line: no DTD of any kind (the SAX hooks below are the real guard) */
        if (memmem(xml, len, "<!DOCTYPE", 9) || memmem(xml, len, "<!ENTITY", 8))
                return -EBADMSG;

        xml_init();
        ctxt = xmlNewParserCtxt();
        if (!ctxt || !ctxt->sax)
                return -ENOMEM;
        ctxt->sax->internalSubset = sax_refuse_subset;
        ctxt->sax->externalSubset = sax_refuse_subset;
        ctxt->sax->entityDecl = sax_refuse_entity;

        /* no XML_PARSE_NOENT, XML_PARSE_DTDLOAD, XML_PARSE_HUGE or XML_PARSE_XINCLUDE, on purpose */
        doc = xmlCtxtReadMemory(ctxt, xml, (int) len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC);
        if (!doc)
                return ctxt->errNo == XML_ERR_NO_MEMORY ? -ENOMEM : -EBADMSG;
        if (!ctxt->wellFormed || !ctxt->nsWellFormed || doc->intSubset || doc->extSubset)
                return -EBADMSG;

        *ret = TAKE_PTR(doc);
        return 0;
}

void xml_attrs_done(xml_attrs *a) {
        for (size_t i = 0; i < XML_ATTRS_MAX; i++)
                if (a->v[i])
                        xmlFree(a->v[i]);
}

int xml_attrs_collect(xmlNode *node, const char *const *names, xml_attrs *a) {
        for (xmlAttr *p = node->properties; p; p = p->next) {
                size_t i;

                if (p->ns)
                        return -EBADMSG;
                for (i = 0; names[i]; i++)
                        if (xmlStrEqual(p->name, BAD_CAST names[i]))
                                break;
                if (!names[i] || i >= XML_ATTRS_MAX || a->v[i])
                        return -EBADMSG;
                for (xmlNode *t = p->children; t; t = t->next)
                        if (t->type != XML_TEXT_NODE)
                                return -EBADMSG;
                a->v[i] = p->children ? xmlNodeListGetString(node->doc, p->children, 1) : xmlStrdup(BAD_CAST "");
                if (!a->v[i])
                        return -ENOMEM;
        }
        return 0;
}

int xml_parse_bool(const xmlChar *v, bool *ret) {
        const char *s = (const char *) v;

        if (!s)
                return -EBADMSG;
        if (streq_ptr(s, "true") || streq_ptr(s, "1"))
                *ret = true;
        else if (streq_ptr(s, "false") || streq_ptr(s, "0"))
                *ret = false;
        else
                return -EBADMSG;
        return 0;
}

int xml_parse_u32(const xmlChar *v, uint32_t *ret) {
        const char *s = (const char *) v;
        unsigned base = 10;
        uint64_t x = 0;

        if (!s)
                return -EBADMSG;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        if (!*s)
                return -EBADMSG;
        for (; *s; s++) {
                unsigned d;

                if (*s >= '0' && *s <= '9')
                        d = (unsigned) (*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = (unsigned) (*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = (unsigned) (*s - 'A' + 10);
                else
                        return -EBADMSG;
                x = x * base + d;
                if (x > UINT32_MAX)
                        return -EBADMSG;
        }
        *ret = (uint32_t) x;
        return 0;
}

int xml_parse_enum(const xmlChar *v, const char *const *names, size_t n, int *ret) {
        uint32_t x;

        if (!v)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++)
                if (names[i] && xmlStrEqual(v, BAD_CAST names[i])) {
                        *ret = (int) i;
                        return 0;
                }
        if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
                return -EBADMSG;
        if (xml_parse_u32(v, &x) < 0 || x >= n)
                return -EBADMSG;
        *ret = (int) x;
        return 0;
}

int xml_parse_id(const xmlChar *v, vss_id *ret) {
        if (!v)
                return -EBADMSG;
        return VSS_SUCCEEDED(vss_id_parse((const char *) v, ret)) ? 0 : -EBADMSG;
}

int xml_node_kind(xmlNode *n) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
                return n->ns ? -EBADMSG : 1;
        case XML_COMMENT_NODE:
                return 0;
        case XML_TEXT_NODE:
                return xmlIsBlankNode(n) ? 0 : -EBADMSG;
        default:
                return -EBADMSG;
        }
}

int xml_check_leaf(xmlNode *node) {
        for (xmlNode *n = node->children; n; n = n->next) {
                int k = xml_node_kind(n);

                if (k != 0)
                        return -EBADMSG;
        }
        return 0;
}

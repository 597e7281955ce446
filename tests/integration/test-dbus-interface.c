/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The D-Bus interface document checked against the running daemon
 * (STYLE.md rule 4; issue 8 changed signatures: ListWriters'
 * a(ayayssuiisayubttbsuisb), Session1.GetRecordStatus).
 *
 * A real lvssd is started; the test connects to its socket with raw sd-bus
 * (peer to peer, as every client does) and introspects every object it
 * serves, from "/" down through the child nodes the introspection names
 * (/org/lvss/coordinator and /org/lvss/session must be among them). The
 * introspection XML (libxml2) gives the set of (interface, member,
 * method/signal, in-signature, out-signature) lvssd really serves.
 *
 * docs/dbus-interface.md (found through LVSS_SOURCE_ROOT) gives the same set
 * from its sections "## INTERFACE at PATH": each section's method table
 * (header `| method | in | out | ...`, one row per method, first cell
 * `Name`, in and out cells empty, "(empty)", or one code span of
 * comma-separated `TYPE name` items or of bare types) and its `Signal:` lines
 * (`Name(TYPE name, ...)`).
 *
 * The section of org.lvss.Writer1 at /org/lvss/writer is what writers
 * export, not lvssd: a second test checks it against a real writer
 * (lvss-test-writer on liblvss), which it points at a socket of its own
 * that answers SubscribeWriter and then introspects the writer's object.
 *
 * Each test fails naming every difference: a member in one and not the
 * other, a differing in- or out-signature, an argument the document names
 * differently from lvssd, an interface documented at another path, a cell
 * the parser cannot read (the document must stay in the format above).
 */

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <systemd/sd-bus.h>

#include "harness.h"
#include "protocol/protocol.h"

/* the standard interfaces sd-bus adds to every object */
#define DBUS_STD_PREFIX "org.freedesktop.DBus."

#define MAX_OBJECTS 64

typedef struct member {
        char *iface, *path, *name;
        bool signal;
        char *in, *out;             /* signatures; a signal's arguments are "in" */
        char *in_names, *out_names; /* "a, b" when every argument is named, else NULL */
        unsigned line;              /* in the document; 0: from lvssd */
} member;

typedef struct members {
        member *v;
        size_t n;
} members;

/* The differences found, one per line. */
typedef struct report {
        char *text;
        size_t len;
        unsigned n;
} report;

static void report_add(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_add(report *r, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        CHECK(vasprintf(&s, fmt, ap) >= 0, "out of memory");
        va_end(ap);
        size_t l = strlen(s);
        char *t = realloc(r->text, r->len + l + 2);
        CHECK(t, "out of memory");
        memcpy(t + r->len, s, l);
        t[r->len + l] = '\n';
        t[r->len + l + 1] = 0;
        r->text = t;
        r->len += l + 1;
        r->n++;
        free(s);
}

static char *xstrdup(const char *s) {
        char *d = strdup(s ? s : "");
        CHECK(d, "out of memory");
        return d;
}

static char *xstrndup(const char *s, size_t n) {
        char *d = strndup(s, n);
        CHECK(d, "out of memory");
        return d;
}

static member *members_add(members *ms) {
        member *v = realloc(ms->v, (ms->n + 1) * sizeof *v);
        CHECK(v, "out of memory");
        ms->v = v;
        memset(&v[ms->n], 0, sizeof v[ms->n]);
        return &v[ms->n++];
}

static void members_free(members *ms) {
        for (size_t i = 0; i < ms->n; i++) {
                member *m = &ms->v[i];
                free(m->iface);
                free(m->path);
                free(m->name);
                free(m->in);
                free(m->out);
                free(m->in_names);
                free(m->out_names);
        }
        free(ms->v);
        ms->v = NULL;
        ms->n = 0;
}

static const member *members_find(const members *ms, const char *iface, const char *name, bool signal) {
        for (size_t i = 0; i < ms->n; i++)
                if (strcmp(ms->v[i].iface, iface) == 0 && strcmp(ms->v[i].name, name) == 0 &&
                    ms->v[i].signal == signal)
                        return &ms->v[i];
        return NULL;
}

static bool iface_in(const members *ms, const char *iface) {
        for (size_t i = 0; i < ms->n; i++)
                if (strcmp(ms->v[i].iface, iface) == 0)
                        return true;
        return false;
}

/* ---- D-Bus signatures ------------------------------------------------------- */

/* The length of the one complete type at @s, 0 when there is none. */
static size_t complete_type_len(const char *s, unsigned depth) {
        if (depth > 32 || !*s)
                return 0;
        if (strchr("ybnqiuxtdsoghv", *s))
                return 1;
        if (*s == 'a') {
                if (s[1] == '{') {
                        if (!s[2] || !strchr("ybnqiuxtdsogh", s[2]))
                                return 0;
                        size_t v = complete_type_len(s + 3, depth + 1);
                        if (v == 0 || s[3 + v] != '}')
                                return 0;
                        return 4 + v;
                }
                size_t e = complete_type_len(s + 1, depth + 1);
                return e ? 1 + e : 0;
        }
        if (*s == '(') {
                size_t i = 1;
                while (s[i] && s[i] != ')') {
                        size_t e = complete_type_len(s + i, depth + 1);
                        if (e == 0)
                                return 0;
                        i += e;
                }
                return s[i] == ')' && i > 1 ? i + 1 : 0;
        }
        return 0;
}

/* How many complete types @s is, -1 when it is not a signature. */
static int signature_count(const char *s) {
        int n = 0;
        while (*s) {
                size_t l = complete_type_len(s, 0);
                if (l == 0)
                        return -1;
                s += l;
                n++;
        }
        return n;
}

static bool is_identifier(const char *s, size_t n) {
        if (n == 0 || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char) s[i]) || s[i] == '_'))
                        return false;
        return true;
}

/* ---- the document ---------------------------------------------------------- */

static char *trim(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}

/*
 * An argument list: "TYPE name, TYPE name" or "TYPES" (bare types, no names),
 * nothing at all for none. *ret_sig the signature, *ret_names "a, b" when
 * every item is named, else NULL. Returns false (and says why in @why) when
 * it cannot be read.
 */
static bool parse_args(const char *text, char **ret_sig, char **ret_names, char *why, size_t why_size) {
        char *copy = xstrdup(text), *save = NULL, *sig = xstrdup(""), *names = xstrdup("");
        bool all_named = true, any = false, ok = true;

        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                item = trim(item);
                char *sp = item + strcspn(item, " \t");
                char *name = trim(sp);
                *sp = 0; /* item is the type now (trim() left name past it) */
                int count = signature_count(item);
                if (!*item || count <= 0) {
                        snprintf(why, why_size, "'%s' is not a D-Bus signature", item);
                        ok = false;
                        break;
                }
                if (*name && (!is_identifier(name, strlen(name)) || count != 1)) {
                        snprintf(why, why_size, "'%s %s' is not one type and one argument name", item, name);
                        ok = false;
                        break;
                }
                char *s = NULL;
                CHECK(asprintf(&s, "%s%s", sig, item) >= 0, "out of memory");
                free(sig);
                sig = s;
                if (*name) {
                        CHECK(asprintf(&s, "%s%s%s", names, *names ? ", " : "", name) >= 0, "out of memory");
                        free(names);
                        names = s;
                } else
                        all_named = false;
                any = true;
        }
        free(copy);
        if (!ok) {
                free(sig);
                free(names);
                return false;
        }
        if (!all_named || !any) {
                free(names);
                names = NULL;
        }
        *ret_sig = sig;
        *ret_names = names;
        return true;
}

/* An in or out cell: empty, "(empty)", or one code span of arguments. */
static bool parse_cell(char *cell, char **ret_sig, char **ret_names, char *why, size_t why_size) {
        cell = trim(cell);
        if (!*cell || strcmp(cell, "(empty)") == 0) {
                *ret_sig = xstrdup("");
                *ret_names = NULL;
                return true;
        }
        size_t n = strlen(cell);
        if (n < 3 || cell[0] != '`' || cell[n - 1] != '`' || memchr(cell + 1, '`', n - 2)) {
                snprintf(why, why_size, "'%s' is not empty, (empty) or one code span", cell);
                return false;
        }
        cell[n - 1] = 0;
        return parse_args(cell + 1, ret_sig, ret_names, why, why_size);
}

/* "| a | b | c |" into at most @max trimmed cells (pointers into @line, modified). */
static size_t split_row(char *line, char **cells, size_t max) {
        size_t n = 0;
        char *p = strchr(line, '|');
        if (!p)
                return 0;
        p++;
        while (n < max) {
                char *e = strchr(p, '|');
                if (!e)
                        break;
                *e = 0;
                cells[n++] = trim(p);
                p = e + 1;
        }
        return n;
}

static void parse_signal_line(const char *iface, const char *path, unsigned lineno, const char *line, members *doc,
                              report *rep) {
        const char *p = line;
        for (;;) {
                const char *b = strchr(p, '`');
                if (!b)
                        return;
                const char *e = strchr(b + 1, '`');
                if (!e)
                        return;
                const char *open = memchr(b + 1, '(', (size_t) (e - b - 1));
                p = e + 1;
                /* only code spans `Name(...)` name a signal */
                if (!open || e[-1] != ')' || !is_identifier(b + 1, (size_t) (open - b - 1)))
                        continue;
                char *args = xstrndup(open + 1, (size_t) (e - 1 - open - 1)), *sig = NULL, *names = NULL;
                char why[512];
                char *name = xstrndup(b + 1, (size_t) (open - b - 1));
                if (!parse_args(args, &sig, &names, why, sizeof why)) {
                        report_add(rep, "docs/dbus-interface.md:%u: signal %s.%s: cannot read its arguments: %s",
                                   lineno, iface, name, why);
                        free(name);
                } else {
                        member *m = members_add(doc);
                        m->iface = xstrdup(iface);
                        m->path = xstrdup(path);
                        m->name = name;
                        m->signal = true;
                        m->in = sig;
                        m->in_names = names;
                        m->out = xstrdup("");
                        m->line = lineno;
                }
                free(args);
        }
}

/*
 * The members docs/dbus-interface.md documents for lvssd's objects, or with
 * @writer for the object writers export (the section at /org/lvss/writer).
 * Problems of the document's form go to @rep.
 */
static void parse_document(const char *text, bool writer, members *doc, report *rep) {
        char *copy = xstrdup(text);
        char *iface = NULL, *path = NULL;
        bool in_method_table = false, skip_section = false;
        unsigned lineno = 0;

        /* strtok_r would skip empty lines and so lose the count: split by hand */
        for (char *line = copy; line; ) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                lineno++;

                if (strncmp(line, "## ", 3) == 0) {
                        free(iface);
                        free(path);
                        iface = path = NULL;
                        skip_section = false;
                        /* "## INTERFACE at PATH[ anything]" */
                        char *h = line + 3, *at = strstr(h, " at ");
                        if (at && strncmp(h, "org.", 4) == 0) {
                                iface = xstrndup(h, (size_t) (at - h));
                                const char *pp = at + 4;
                                path = xstrndup(pp, strcspn(pp, " \t"));
                                /* what writers export is not lvssd's to serve */
                                skip_section = (strcmp(path, LVSS_WRITER_PATH) == 0) != writer;
                        }
                        in_method_table = false;
                } else if (line[0] != '|') {
                        in_method_table = false;
                        if (iface && !skip_section &&
                            (strncmp(line, "Signal: ", 8) == 0 || strncmp(line, "Signals: ", 9) == 0))
                                parse_signal_line(iface, path, lineno, line, doc, rep);
                } else if (iface && !skip_section) {
                        char *row = xstrdup(line), *cells[4];
                        size_t n = split_row(row, cells, 4);
                        if (!in_method_table) {
                                in_method_table = n >= 3 && strcmp(cells[0], "method") == 0 &&
                                                  strcmp(cells[1], "in") == 0 && strcmp(cells[2], "out") == 0;
                        } else if (n >= 1 && strspn(cells[0], "-:") == strlen(cells[0])) {
                                /* the |---| line */
                        } else {
                                size_t l = n >= 1 ? strlen(cells[0]) : 0;
                                if (n < 3 || l < 3 || cells[0][0] != '`' || cells[0][l - 1] != '`' ||
                                    !is_identifier(cells[0] + 1, l - 2))
                                        report_add(rep,
                                                   "docs/dbus-interface.md:%u: a row of the %s method table that is "
                                                   "not | `Name` | in | out | notes |",
                                                   lineno, iface);
                                else {
                                        char why[512], *name = xstrndup(cells[0] + 1, l - 2);
                                        char *in = NULL, *in_names = NULL, *out = NULL, *out_names = NULL;
                                        if (!parse_cell(cells[1], &in, &in_names, why, sizeof why))
                                                report_add(rep, "docs/dbus-interface.md:%u: %s.%s: the in column: %s",
                                                           lineno, iface, name, why);
                                        else if (!parse_cell(cells[2], &out, &out_names, why, sizeof why))
                                                report_add(rep,
                                                           "docs/dbus-interface.md:%u: %s.%s: the out column: %s",
                                                           lineno, iface, name, why);
                                        if (in && out) {
                                                member *m = members_add(doc);
                                                m->iface = xstrdup(iface);
                                                m->path = xstrdup(path);
                                                m->name = name;
                                                m->in = in;
                                                m->in_names = in_names;
                                                m->out = out;
                                                m->out_names = out_names;
                                                m->line = lineno;
                                        } else {
                                                free(name);
                                                free(in);
                                                free(in_names);
                                                free(out);
                                                free(out_names);
                                        }
                                }
                        }
                        free(row);
                }
                line = nl ? nl + 1 : NULL;
        }
        free(iface);
        free(path);
        free(copy);
}

/* ---- the running daemon ------------------------------------------------------ */

static char *introspect(sd_bus *bus, const char *path) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *xml = NULL;

        int r = sd_bus_call_method(bus, NULL, path, "org.freedesktop.DBus.Introspectable", "Introspect", &err,
                                   &reply, "");
        CHECK(r >= 0, "Introspect %s: %s: %s", path, err.name ? err.name : strerror(-r),
              err.message ? err.message : "");
        r = sd_bus_message_read(reply, "s", &xml);
        CHECK(r >= 0, "Introspect %s: the reply is not (s): %s", path, strerror(-r));
        char *s = xstrdup(xml);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
        return s;
}

static char *xml_prop(xmlNode *n, const char *name) {
        xmlChar *v = xmlGetProp(n, (const xmlChar *) name);
        char *s = xstrdup(v ? (const char *) v : "");
        xmlFree(v);
        return s;
}

/* Append "name" (or "" when it has none) to the comma-separated list. */
static void names_append(char **list, const char *name) {
        char *s = NULL;
        CHECK(asprintf(&s, "%s%s%s", *list ? *list : "", *list ? ", " : "", name) >= 0, "out of memory");
        free(*list);
        *list = s;
}

/* One member's <arg>s: the in and out signatures and names. */
static void read_args(xmlNode *mn, member *m) {
        char *in = xstrdup(""), *out = xstrdup("");
        char *in_names = NULL, *out_names = NULL;

        for (xmlNode *a = mn->children; a; a = a->next) {
                if (a->type != XML_ELEMENT_NODE || strcmp((const char *) a->name, "arg") != 0)
                        continue;
                char *type = xml_prop(a, "type"), *name = xml_prop(a, "name"), *dir = xml_prop(a, "direction");
                /* a method's args are "in" unless said otherwise; a signal's are what it sends */
                bool is_out = !m->signal && strcmp(dir, "out") == 0;
                char **sig = is_out ? &out : &in, *s = NULL;
                CHECK(asprintf(&s, "%s%s", *sig, type) >= 0, "out of memory");
                free(*sig);
                *sig = s;
                names_append(is_out ? &out_names : &in_names, name);
                free(type);
                free(name);
                free(dir);
        }
        m->in = in;
        m->out = out;
        m->in_names = in_names;
        m->out_names = out_names;
}

/*
 * Introspect @path and every child node below it; add each member of every
 * interface but the standard ones to @bus_members, each object path to
 * @paths.
 */
static void collect(sd_bus *bus, const char *path, members *bus_members, char **paths, size_t *n_paths) {
        CHECK(*n_paths < MAX_OBJECTS, "lvssd has more than %d object nodes", MAX_OBJECTS);
        paths[(*n_paths)++] = xstrdup(path);

        char *xml = introspect(bus, path);
        xmlDoc *d = xmlReadMemory(xml, (int) strlen(xml), "introspection.xml", NULL, XML_PARSE_NONET);
        if (!d)
                itest_note("the introspection XML of %s:\n%s", path, xml);
        CHECK(d, "the introspection XML of %s does not parse", path);
        xmlNode *root = xmlDocGetRootElement(d);
        CHECK(root && strcmp((const char *) root->name, "node") == 0, "the introspection of %s is not a <node>",
              path);

        for (xmlNode *n = root->children; n; n = n->next) {
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                if (strcmp((const char *) n->name, "node") == 0) {
                        char *child = xml_prop(n, "name"), *cpath = NULL;
                        CHECK(*child && !strchr(child, '/'), "%s names a child node '%s'", path, child);
                        CHECK(asprintf(&cpath, "%s/%s", strcmp(path, "/") == 0 ? "" : path, child) >= 0,
                              "out of memory");
                        collect(bus, cpath, bus_members, paths, n_paths);
                        free(cpath);
                        free(child);
                        continue;
                }
                if (strcmp((const char *) n->name, "interface") != 0)
                        continue;
                char *iface = xml_prop(n, "name");
                if (strncmp(iface, DBUS_STD_PREFIX, strlen(DBUS_STD_PREFIX)) != 0)
                        for (xmlNode *mn = n->children; mn; mn = mn->next) {
                                if (mn->type != XML_ELEMENT_NODE)
                                        continue;
                                bool method = strcmp((const char *) mn->name, "method") == 0;
                                bool signal = strcmp((const char *) mn->name, "signal") == 0;
                                if (!method && !signal)
                                        continue; /* properties: lvssd has none, the document none */
                                member *m = members_add(bus_members);
                                m->iface = xstrdup(iface);
                                m->path = xstrdup(path);
                                m->name = xml_prop(mn, "name");
                                m->signal = signal;
                                read_args(mn, m);
                        }
                free(iface);
        }
        xmlFreeDoc(d);
        free(xml);
}

/* ---- the comparison ----------------------------------------------------------- */

static const char *kind(const member *m) {
        return m->signal ? "signal" : "method";
}

static void compare_names(report *rep, const char *peer, const member *d, const char *which, const char *dn,
                          const char *bn) {
        /* only where the document names every argument */
        if (!dn)
                return;
        if (!bn || strcmp(dn, bn) != 0)
                report_add(rep,
                           "docs/dbus-interface.md:%u: %s %s.%s: the document names the %s arguments '%s', %s '%s'",
                           d->line, kind(d), d->iface, d->name, which, dn, peer, bn ? bn : "");
}

/* @peer: who served @bus ("lvssd", "the writer"), for the messages */
static void compare(const members *doc, const members *bus, const char *peer, report *rep) {
        for (size_t i = 0; i < doc->n; i++) {
                const member *d = &doc->v[i];
                for (size_t j = 0; j < i; j++)
                        if (strcmp(doc->v[j].iface, d->iface) == 0 && strcmp(doc->v[j].name, d->name) == 0 &&
                            doc->v[j].signal == d->signal)
                                report_add(rep, "docs/dbus-interface.md:%u: %s %s.%s is documented twice (line %u)",
                                           d->line, kind(d), d->iface, d->name, doc->v[j].line);
                const member *b = members_find(bus, d->iface, d->name, d->signal);
                if (!b) {
                        const member *other = members_find(bus, d->iface, d->name, !d->signal);
                        if (other)
                                report_add(rep, "docs/dbus-interface.md:%u: %s.%s is documented as a %s, %s has a %s",
                                           d->line, d->iface, d->name, kind(d), peer, kind(other));
                        else if (d->signal)
                                report_add(rep,
                                           "docs/dbus-interface.md:%u: signal %s.%s (arguments '%s') is in the "
                                           "document, %s does not serve it%s",
                                           d->line, d->iface, d->name, d->in, peer,
                                           iface_in(bus, d->iface) ? "" : " (nor the interface)");
                        else
                                report_add(rep,
                                           "docs/dbus-interface.md:%u: method %s.%s (in '%s', out '%s') is in the "
                                           "document, %s does not serve it%s",
                                           d->line, d->iface, d->name, d->in, d->out, peer,
                                           iface_in(bus, d->iface) ? "" : " (nor the interface)");
                        continue;
                }
                if (strcmp(d->path, b->path) != 0)
                        report_add(rep, "docs/dbus-interface.md:%u: %s %s.%s is documented at %s, %s serves it at %s",
                                   d->line, kind(d), d->iface, d->name, d->path, peer, b->path);
                if (strcmp(d->in, b->in) != 0)
                        report_add(rep, "docs/dbus-interface.md:%u: %s %s.%s: %s signature '%s' in the document, '%s' in %s",
                                   d->line, kind(d), d->iface, d->name, d->signal ? "the" : "in-", d->in, b->in, peer);
                else
                        compare_names(rep, peer, d, d->signal ? "signal's" : "in", d->in_names, b->in_names);
                if (strcmp(d->out, b->out) != 0)
                        report_add(rep, "docs/dbus-interface.md:%u: %s %s.%s: out-signature '%s' in the document, '%s' in %s",
                                   d->line, kind(d), d->iface, d->name, d->out, b->out, peer);
                else
                        compare_names(rep, peer, d, "out", d->out_names, b->out_names);
        }
        for (size_t i = 0; i < bus->n; i++) {
                const member *b = &bus->v[i];
                if (members_find(doc, b->iface, b->name, b->signal) || members_find(doc, b->iface, b->name, !b->signal))
                        continue;
                report_add(rep,
                           "%s serves %s %s.%s at %s (%s '%s'%s%s%s); docs/dbus-interface.md does not document it%s",
                           peer, kind(b), b->iface, b->name, b->path, b->signal ? "arguments" : "in", b->in,
                           b->signal ? "" : ", out '", b->signal ? "" : b->out, b->signal ? "" : "'",
                           iface_in(doc, b->iface) ? "" : " (nor the interface: no section \"## IFACE at PATH\")");
        }
}

/* ---- the test ------------------------------------------------------------------ */

static char *read_document(void) {
        const char *root = getenv("LVSS_SOURCE_ROOT");
        char *path = NULL;

        CHECK(root && *root, "LVSS_SOURCE_ROOT is not set (meson test sets it)");
        CHECK(asprintf(&path, "%s/docs/dbus-interface.md", root) >= 0, "out of memory");
        char *text = itest_read_file(path);
        CHECK(text, "cannot read %s", path);
        itest_note("the document: %s", path);
        free(path);
        return text;
}

static bool has_path(char *const *paths, size_t n, const char *path) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(paths[i], path) == 0)
                        return true;
        return false;
}

static size_t count_iface(const members *ms, const char *iface) {
        size_t n = 0;
        for (size_t i = 0; i < ms->n; i++)
                n += strcmp(ms->v[i].iface, iface) == 0;
        return n;
}

/* STYLE.md rule 4: docs/dbus-interface.md is what lvssd serves (issue 8 changed signatures). */
static void test_document_matches_daemon(void **state) {
        itest_env *env = *state;
        members doc = { 0 }, bus_members = { 0 };
        report rep = { 0 };
        char *paths[MAX_OBJECTS];
        size_t n_paths = 0;
        sd_bus *bus = NULL;

        char *text = read_document();
        parse_document(text, false, &doc, &rep);
        free(text);

        itest_start_lvssd(env, NULL);
        int r = lvss_bus_connect(env->socket_path, &bus);
        CHECK(r >= 0, "cannot connect to lvssd at %s: %s", env->socket_path, strerror(-r));
        collect(bus, "/", &bus_members, paths, &n_paths);
        sd_bus_flush_close_unref(bus);

        /* the test cannot pass on nothing: both sides hold both interfaces */
        bool objects = has_path(paths, n_paths, LVSS_COORDINATOR_PATH) && has_path(paths, n_paths, LVSS_SESSION_PATH);
        size_t bc = count_iface(&bus_members, LVSS_COORDINATOR_IFACE), bs = count_iface(&bus_members, LVSS_SESSION_IFACE);
        size_t dc = count_iface(&doc, LVSS_COORDINATOR_IFACE), ds = count_iface(&doc, LVSS_SESSION_IFACE);
        itest_note("lvssd: %zu objects, %zu members (%zu %s, %zu %s); the document: %zu members (%zu, %zu)", n_paths,
                   bus_members.n, bc, LVSS_COORDINATOR_IFACE, bs, LVSS_SESSION_IFACE, doc.n, dc, ds);
        for (size_t i = 0; i < n_paths; i++)
                free(paths[i]);

        if (objects && bc > 0 && bs > 0 && dc > 0 && ds > 0)
                compare(&doc, &bus_members, "lvssd", &rep);
        members_free(&doc);
        members_free(&bus_members);

        CHECK(objects, "lvssd does not serve %s and %s", LVSS_COORDINATOR_PATH, LVSS_SESSION_PATH);
        CHECK(bc > 0 && bs > 0, "lvssd's introspection has no members of %s or %s", LVSS_COORDINATOR_IFACE,
              LVSS_SESSION_IFACE);
        if (rep.n > 0)
                fprintf(stderr, "%s", rep.text);
        CHECK(dc > 0 && ds > 0, "docs/dbus-interface.md documents no methods of %s or %s (sections \"## IFACE at PATH\" "
              "with a table | method | in | out | notes |)", LVSS_COORDINATOR_IFACE, LVSS_SESSION_IFACE);
        unsigned n = rep.n;
        free(rep.text);
        CHECK(n == 0, "docs/dbus-interface.md and the running lvssd differ in %u place(s) (listed above)", n);
}

/* ---- Writer1: what a real writer exports ---------------------------------------- */

/*
 * The writer's side of the interface is exported by each writer on its own
 * connection, so only the peer of that connection can introspect it. The test
 * plays that peer: a writer (lvss-test-writer on liblvss) is pointed at a
 * socket of the test's, which answers SubscribeWriter the way lvssd does and
 * then introspects /org/lvss/writer. The fake knows no
 * SubscribeWriterWithEvents (issue 11 §5), as an lvssd older than the event
 * declaration: the writer library's first call gets UnknownMethod and it
 * subscribes with SubscribeWriter, so this also checks that a new writer
 * works against an old lvssd.
 */

typedef struct fake_coordinator {
        bool subscribed;
} fake_coordinator;

static int fake_subscribe_writer(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        fake_coordinator *f = userdata;
        vss_id id = lvss_id_random();
        sd_bus_message *reply = NULL;

        int r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &id);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        if (r >= 0)
                f->subscribed = true;
        return r;
}

static const sd_bus_vtable fake_coordinator_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("SubscribeWriter", "ayssuuiu", "ay", fake_subscribe_writer, 0),
        SD_BUS_VTABLE_END,
};

/* Wait (poll, bounded) until @fd is readable. */
static bool wait_readable(int fd, unsigned timeout_ms) {
        uint64_t end = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        for (;;) {
                uint64_t now = itest_now_mono_usec();
                if (now >= end)
                        return false;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, (int) ((end - now + 999) / 1000));
                if (r > 0)
                        return true;
                if (r < 0 && errno != EINTR)
                        return false;
        }
}

/* STYLE.md rule 4: the document's Writer1 section is what liblvss's writer exports. */
static void test_writer_section_matches_writer(void **state) {
        itest_env *env = *state;
        members doc = { 0 }, bus_members = { 0 };
        report rep = { 0 };
        char *paths[MAX_OBJECTS];
        size_t n_paths = 0;
        fake_coordinator f = { 0 };
        sd_bus *bus = NULL;
        sd_id128_t server_id;
        int r;

        char *text = read_document();
        parse_document(text, true, &doc, &rep);
        free(text);

        /* the writer connects to the test's socket instead of an lvssd */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/fake-coordinator.sock", env->dir);
        CHECK(n > 0 && (size_t) n < sizeof sa.sun_path, "the socket path is too long");
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(lfd >= 0, "socket: %m");
        CHECK(bind(lfd, (struct sockaddr *) &sa, sizeof sa) == 0 && listen(lfd, 1) == 0, "bind/listen %s: %m",
              sa.sun_path);
        char *lvssd_socket = env->socket_path;
        env->socket_path = sa.sun_path;
        itest_writer *w = itest_writer_spawn(env, "introspected", NULL);
        env->socket_path = lvssd_socket;

        CHECK(wait_readable(lfd, itest_ms(env, 10000)), "the writer did not connect to %s", sa.sun_path);
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        CHECK(cfd >= 0, "accept: %m");
        close(lfd);

        /* a server end as lvssd's (server.c) */
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, cfd, cfd);
        if (r >= 0)
                r = sd_id128_randomize(&server_id);
        if (r >= 0)
                r = sd_bus_set_server(bus, 1, server_id);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                             fake_coordinator_vtable, &f);
        if (r >= 0)
                r = sd_bus_start(bus);
        CHECK(r >= 0, "cannot serve the writer's connection: %s", strerror(-r));

        uint64_t end = itest_now_mono_usec() + (uint64_t) itest_ms(env, 10000) * 1000u;
        while (!f.subscribed && r >= 0) {
                r = sd_bus_process(bus, NULL);
                if (r == 0) {
                        uint64_t now = itest_now_mono_usec();
                        CHECK(now < end, "the writer did not call SubscribeWriter");
                        r = sd_bus_wait(bus, end - now);
                }
        }
        CHECK(r >= 0, "serving the writer's connection: %s", strerror(-r));
        sd_bus_flush(bus);
        itest_writer_wait_subscribed(env, w, itest_ms(env, 10000));

        collect(bus, "/", &bus_members, paths, &n_paths);
        /* the writer sees its coordinator go and exits */
        sd_bus_flush_close_unref(bus);

        bool object = has_path(paths, n_paths, LVSS_WRITER_PATH);
        size_t bw = count_iface(&bus_members, LVSS_WRITER_IFACE), dw = count_iface(&doc, LVSS_WRITER_IFACE);
        itest_note("the writer: %zu objects, %zu members (%zu %s); the document: %zu members", n_paths,
                   bus_members.n, bw, LVSS_WRITER_IFACE, dw);
        for (size_t i = 0; i < n_paths; i++)
                free(paths[i]);
        if (object && bw > 0 && dw > 0)
                compare(&doc, &bus_members, "the writer", &rep);
        members_free(&doc);
        members_free(&bus_members);

        itest_wait_line_must(env, &w->p, "disconnected", itest_ms(env, 10000));
        CHECK(itest_wait_exit(env, &w->p, itest_ms(env, 10000)), "the writer did not exit after its coordinator went");

        CHECK(object && bw > 0, "the writer does not export %s at %s", LVSS_WRITER_IFACE, LVSS_WRITER_PATH);
        if (rep.n > 0)
                fprintf(stderr, "%s", rep.text);
        CHECK(dw > 0, "docs/dbus-interface.md documents no methods of %s (a section \"## %s at %s\" with a table "
              "| method | in | out | notes |)", LVSS_WRITER_IFACE, LVSS_WRITER_IFACE, LVSS_WRITER_PATH);
        unsigned nd = rep.n;
        free(rep.text);
        CHECK(nd == 0, "docs/dbus-interface.md and what a writer exports differ in %u place(s) (listed above)", nd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_document_matches_daemon),
                ITEST(test_writer_section_matches_writer),
        };
        int r = ITEST_MAIN("dbus-interface", tests);
        xmlCleanupParser();
        return r;
}

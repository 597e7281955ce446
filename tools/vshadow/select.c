/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — writer selection: -wi / -wx, the components a backup adds and the
 * writers it requires.
 */

#include "vshadow.h"

/* ---- -wi / -wx ----------------------------------------------------------------- */

/* Path equality where '/' and '\' are the same separator (VSS writes logical paths with '\'). */
static bool path_char_equal(char a, char b) {
        if (a == '\\')
                a = '/';
        if (b == '\\')
                b = '/';
        return a == b;
}

/*
 * Whether @spec is the component path of (@logical_path, @name):
 * "logical/path/name", or "name" for a component at the root; '\' works as
 * the separator too, and a leading separator is ignored.
 */
static bool component_path_equal(const char *spec, const char *logical_path, const char *name) {
        const char *p = strempty(logical_path);
        size_t i = 0;

        if (!name || !*name)
                return false;
        if (*spec == '/' || *spec == '\\')
                spec++;
        if (*p == '/' || *p == '\\')
                p++;
        for (; p[i]; i++)
                if (!path_char_equal(spec[i], p[i]))
                        return false;
        spec += i;
        /* A logical path may or may not end in a separator. */
        if (i > 0 && !(p[i - 1] == '/' || p[i - 1] == '\\')) {
                if (*spec != '/' && *spec != '\\')
                        return false;
                spec++;
        }
        return strcmp(spec, name) == 0;
}

/* A component path, alone or after its writer's name and a colon ("WRITER:logical/name", as vshadow.exe). */
static bool spec_matches_component(const char *spec, const char *writer_name, const char *logical_path,
                                   const char *name) {
        size_t l = writer_name ? strlen(writer_name) : 0;

        if (l > 0 && strncmp(spec, writer_name, l) == 0 && spec[l] == ':' &&
            component_path_equal(spec + l + 1, logical_path, name))
                return true;
        return component_path_equal(spec, logical_path, name);
}

/* Whether @spec names this writer: its name, its writer (class) id or its instance id. */
static bool spec_matches_writer(const char *spec, const char *writer_name, const vss_id *writer_id,
                                const vss_id *instance_id) {
        vss_id id;

        if (writer_name && strcmp(spec, writer_name) == 0)
                return true;
        if (vss_id_parse(spec, &id) != VSS_S_OK)
                return false;
        return vss_id_equal(&id, writer_id) || vss_id_equal(&id, instance_id);
}

bool have_include_specs(void) {
        for (size_t i = 0; i < arg_n_specs; i++)
                if (arg_specs[i].include)
                        return true;
        return false;
}

/*
 * What -wi / -wx say about one component itself (by its path): *ret_include
 * when a -wi names it, *ret_exclude when a -wx does. Marks the specs that
 * matched.
 */
void component_named(const char *writer_name, const char *logical_path, const char *name, bool *ret_include,
                            bool *ret_exclude) {
        *ret_include = *ret_exclude = false;
        for (size_t i = 0; i < arg_n_specs; i++) {
                writer_spec *w = &arg_specs[i];

                if (!spec_matches_component(w->text, writer_name, logical_path, name))
                        continue;
                w->matched = true;
                if (w->include)
                        *ret_include = true;
                else
                        *ret_exclude = true;
        }
}

/* Whether a -wi (@include) or a -wx names the writer itself; marks every spec that does. */
static bool writer_named(bool include, const char *writer_name, const vss_id *writer_id, const vss_id *instance_id) {
        bool named = false;

        for (size_t i = 0; i < arg_n_specs; i++)
                if (arg_specs[i].include == include &&
                    spec_matches_writer(arg_specs[i].text, writer_name, writer_id, instance_id)) {
                        arg_specs[i].matched = true;
                        named = true;
                }
        return named;
}

/* A -wx on the writer: it gets no component. */
bool writer_excluded(const char *writer_name, const vss_id *writer_id, const vss_id *instance_id) {
        return writer_named(false, writer_name, writer_id, instance_id);
}

/* A -wi on the writer: all its components, and it is required. */
bool writer_named_by_include(const char *writer_name, const vss_id *writer_id, const vss_id *instance_id) {
        return writer_named(true, writer_name, writer_id, instance_id);
}

/* After the selection: every -wi must have named something; a -wx that named nothing is only noted. */
bool specs_all_matched(vshadow *v, const char *where) {
        bool ok = true;

        for (size_t i = 0; i < arg_n_specs; i++) {
                _cleanup_(freep) char *t = sanitize(arg_specs[i].text);

                if (arg_specs[i].matched)
                        continue;
                if (arg_specs[i].include) {
                        fprintf(stderr, "vshadow: required writer or component '%s' is not %s\n", strempty(t),
                                where);
                        ok = false;
                } else {
                        _cleanup_(freep) char *text = NULL;

                        if (asprintf(&text, "Note: -wx=%s names no writer or component %s", strempty(t), where) >= 0)
                                note(v, text);
                }
        }
        return ok;
}

const char *component_type_short(vss_component_type t) {
        return t == VSS_CT_DATABASE ? "database" : "filegroup";
}

/* "logical/path/name", or "name" at the root; owned. */
char *component_path(const char *logical_path, const char *name) {
        char *p = NULL;

        if (!logical_path || !*logical_path)
                return strdup(strempty(name));
        if (asprintf(&p, "%s/%s", logical_path, strempty(name)) < 0)
                return NULL;
        return p;
}

int components_add(vshadow *v, const selected_component *c) {
        selected_component *n, *a;

        n = realloc(v->components, (v->n_components + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        v->components = n;
        a = &v->components[v->n_components];
        *a = *c;
        a->writer_name = strdup(strempty(c->writer_name));
        a->logical_path = strdup(strempty(c->logical_path));
        a->name = strdup(strempty(c->name));
        if (!a->writer_name || !a->logical_path || !a->name) {
                free(a->writer_name);
                free(a->logical_path);
                free(a->name);
                return -ENOMEM;
        }
        v->n_components++;
        return 0;
}

static int required_add(vshadow *v, const vss_id *instance_id) {
        vss_id *n;

        for (size_t i = 0; i < v->n_required; i++)
                if (vss_id_equal(&v->required[i], instance_id))
                        return 0;
        n = realloc(v->required, (v->n_required + 1) * sizeof *n);
        if (!n)
                return -ENOMEM;
        v->required = n;
        v->required[v->n_required++] = *instance_id;
        return 0;
}

/* The step argument for a component: "'writer' path"; sanitized, since both come from writers. */
char *component_arg(const selected_component *c) {
        _cleanup_(freep) char *w = sanitize(c->writer_name);
        _cleanup_(freep) char *path = component_path(c->logical_path, c->name);
        _cleanup_(freep) char *p = path ? sanitize(path) : NULL;
        char *s = NULL;

        if (!w || !p || asprintf(&s, "'%s' %s (%s)", w, p, component_type_short(c->type)) < 0)
                return NULL;
        return s;
}

/*
 * Component mode, backup: AddComponent for every component -wi / -wx leave
 * in, from the writers' metadata documents. A required writer must have
 * identified and must have a component left; otherwise the backup stops
 * here (nothing was prepared yet: releasing is enough).
 */
vss_hresult select_components(vshadow *v) {
        unsigned n = 0;
        vss_hresult hr;

        hr = vss_get_writer_metadata_count(v->bc, &n);
        if (VSS_FAILED(hr))
                return hr;

        for (unsigned i = 0; i < n; i++) {
                vss_examine_writer_metadata *md = NULL;
                vss_id instance_id, writer_id;
                const char *name = NULL;
                unsigned n_components = 0, n_taken = 0;
                bool excluded, named;

                hr = vss_get_writer_metadata(v->bc, i, &instance_id, &md);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_identity(md, NULL, &writer_id, &name, NULL, NULL, NULL);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_examine_writer_metadata_get_file_counts(md, NULL, NULL, &n_components);
                if (VSS_FAILED(hr))
                        return hr;

                excluded = writer_excluded(name, &writer_id, &instance_id);
                named = writer_named_by_include(name, &writer_id, &instance_id);

                for (unsigned c = 0; c < n_components; c++) {
                        const vss_component_info *ci = NULL;
                        selected_component sc = {};
                        _cleanup_(freep) char *what = NULL;
                        bool include, exclude, required;

                        hr = vss_examine_writer_metadata_get_component(md, c, &ci);
                        if (VSS_FAILED(hr))
                                return hr;
                        /*
                         * Taken: no -wx on the writer or the component, and either no -wi at
                         * all or a -wi on the writer or the component. Required: a -wi on
                         * either. A -wx may leave out some components of a required writer.
                         */
                        component_named(name, ci->logical_path, ci->component_name, &include, &exclude);
                        if (include && (exclude || excluded)) {
                                _cleanup_(freep) char *path = component_path(ci->logical_path, ci->component_name);
                                _cleanup_(freep) char *p = path ? sanitize(path) : NULL;
                                fprintf(stderr, "vshadow: required component '%s' is excluded by -wx\n", strempty(p));
                                return VSS_E_INVALIDARG;
                        }
                        required = named || include;
                        if (excluded || exclude || (have_include_specs() && !required))
                                continue;
                        sc = (selected_component) {
                                .instance_id = instance_id,
                                .writer_id = writer_id,
                                .type = ci->type,
                                .writer_name = (char *) name,
                                .logical_path = (char *) ci->logical_path,
                                .name = (char *) ci->component_name,
                                .required = required,
                        };
                        what = component_arg(&sc);
                        step_begin(v, "AddComponent", what);
                        hr = step_end(v, vss_add_component(v->bc, &instance_id, &writer_id, ci->type, ci->logical_path,
                                                           ci->component_name));
                        step_info_component(v, &sc);
                        step_done(v);
                        if (!hr_ok(hr)) {
                                log_step_failure(v, hr);
                                return hr;
                        }
                        if (components_add(v, &sc) < 0 || (required && required_add(v, &instance_id) < 0))
                                return VSS_E_OUTOFMEMORY;
                        n_taken++;
                }

                if (named && excluded) {
                        _cleanup_(freep) char *w = sanitize(name);
                        fprintf(stderr, "vshadow: writer '%s' is both required (-wi) and excluded (-wx)\n",
                                strempty(w));
                        return VSS_E_INVALIDARG;
                }
                if (named && n_taken == 0) {
                        _cleanup_(freep) char *w = sanitize(name);
                        fprintf(stderr, "vshadow: required writer '%s' has no component to back up\n", strempty(w));
                        return VSS_E_INVALIDARG;
                }
                if (named && required_add(v, &instance_id) < 0)
                        return VSS_E_OUTOFMEMORY;
        }

        if (!specs_all_matched(v, "among the writers that identified"))
                return VSS_E_OBJECT_NOT_FOUND;
        {
                _cleanup_(freep) char *text = NULL;

                if (asprintf(&text, "%zu component%s selected from %u writer%s", v->n_components,
                             v->n_components == 1 ? "" : "s", n, n == 1 ? "" : "s") >= 0)
                        note(v, text);
        }
        return VSS_S_OK;
}

/*
 * After a status gather: every required writer must be in it and not
 * failed. Says which one is not, on stderr.
 */
bool required_writers_ok(vshadow *v) {
        bool ok = true;

        for (size_t i = 0; i < v->n_required; i++) {
                const writer_record *r = NULL;

                for (size_t j = 0; j < v->n_records; j++)
                        if (vss_id_equal(&v->records[j].instance_id, &v->required[i]))
                                r = &v->records[j];
                if (!r) {
                        char id[VSS_ID_STRING_MAX];
                        vss_id_format(&v->required[i], id);
                        fprintf(stderr, "vshadow: required writer %s is missing from the writer status\n", id);
                        ok = false;
                } else if (record_failed(r)) {
                        _cleanup_(freep) char *w = sanitize(r->writer_name);
                        _cleanup_(freep) char *m = r->application_message ? sanitize(r->application_message) : NULL;
                        const char *event = output_failure_event(r->state, r->last_event);

                        fprintf(stderr, "vshadow: required writer '%s' failed%s%s: [%u] %s, %s%s%s\n", strempty(w),
                                event ? " at " : "", strempty(event), (unsigned) r->state,
                                vss_writer_state_text(r->state), vss_hresult_text(r->failure), m ? ": " : "",
                                strempty(m));
                        ok = false;
                }
        }
        return ok;
}

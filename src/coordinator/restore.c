/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Documents and restore.
 *
 * SaveAsXml turns a session into a Backup Components Document: the
 * requester's backup state, the writers that identified (with their
 * metadata documents) and the components added, carrying what the writers
 * stored in them (backup metadata, stamps). InitializeForRestore reads such
 * a document back: its components become the session's, matched to the
 * writers running now by writer class and instance name (instance ids are
 * new in every run).
 *
 * Restore sequence (writer-status.md): SetSelectedForRestore → PreRestore →
 * files copied → SetFileRestoreStatus → PostRestore, each writer event only
 * to writers owning a selected component. Without GatherWriterMetadata the
 * writers running now are found by an Identify first, whether for
 * PreRestore or for a status gather (WS-12). A PreRestore / PostRestore
 * failure reports FAILED_AT_PRE_RESTORE / FAILED_AT_POST_RESTORE with the
 * writer's failure message for the component.
 */

#include <stdlib.h>

#include "documents/bcd.h"
#include "basic/state.h"
#include "basic/util.h"
#include "fanout.h"
#include "manager.h"
#include "registry.h"
#include "session.h"
#include "restore.h"

static int set_copy(char **dst, const char *v) {
        char *n = NULL;

        if (v && *v) {
                n = strdup(v);
                if (!n)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = n;
        return 0;
}

/* ---- SaveAsXml ------------------------------------------------------------- */

static int session_to_bcd(Session *s, lvss_bcd **ret) {
        _cleanup_(lvss_bcd_freep) lvss_bcd *bcd = NULL;
        int r;

        r = lvss_bcd_new(&bcd);
        if (r < 0)
                return r;
        bcd->snapshot_set_id = session_set_done(s) ? s->set_id : (vss_id) {};
        bcd->context = s->context;
        if (s->kind == SESSION_RESTORE && s->bcd) {
                /* A restore describes the backup it came from. */
                bcd->snapshot_set_id = s->bcd->snapshot_set_id;
                bcd->context = s->bcd->context;
        }
        bcd->select_components = s->select_components;
        bcd->bootable_system_state = s->bootable_system_state;
        bcd->backup_type = s->backup_type;
        bcd->partial_file_support = s->partial_file_support;
        bcd->restore_type = s->restore_type;

        if (s->kind == SESSION_RESTORE && s->bcd) {
                /* The writers as the document named them. */
                for (size_t i = 0; i < s->bcd->n_writers; i++) {
                        r = lvss_bcd_add_writer(bcd, &s->bcd->writers[i], NULL);
                        if (r < 0)
                                return r;
                }
        } else
                for (size_t i = 0; i < s->n_entries; i++) {
                        Entry *e = s->entries[i];
                        lvss_bcd_writer w = {
                                .instance_id = e->instance_id,
                                .writer_id = e->writer_id,
                                .writer_name = e->writer_name,
                                .instance_name = e->instance_name,
                                .metadata_xml = e->metadata,
                        };
                        r = lvss_bcd_add_writer(bcd, &w, NULL);
                        if (r < 0)
                                return r;
                }

        for (size_t i = 0; i < s->n_components; i++) {
                Component *c = &s->components[i];
                lvss_bcd_component bc = {
                        .instance_id = c->instance_id,
                        .writer_id = c->writer_id,
                        .type = c->type,
                        .logical_path = c->logical_path,
                        .name = c->name,
                        .backup_succeeded = c->backup_succeeded,
                        .backup_metadata = c->backup_metadata,
                        .backup_stamp = c->backup_stamp,
                        .previous_backup_stamp = c->previous_backup_stamp,
                        .selected_for_restore = c->selected_for_restore,
                        .restore_metadata = c->restore_metadata,
                        .file_restore_status = c->file_restore_status,
                        .pre_restore_failure_msg = c->pre_restore_failure_msg,
                        .post_restore_failure_msg = c->post_restore_failure_msg,
                };
                r = lvss_bcd_add_component(bcd, &bc, NULL);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(bcd);
        return 0;
}

int session_method_save_as_xml(Session *s, char **ret_xml, Refusal *ref) {
        _cleanup_(lvss_bcd_freep) lvss_bcd *bcd = NULL;
        _cleanup_(freep) char *xml = NULL;
        int r;

        r = session_check(s, SESSION_IN_SAVE_AS_XML, NULL, ref);
        if (r < 0)
                return r;
        r = session_to_bcd(s, &bcd);
        if (r >= 0)
                r = lvss_bcd_to_xml(bcd, &xml);
        if (r < 0)
                return refusal_set_hresult(ref, r == -ENOMEM ? VSS_E_OUTOFMEMORY : VSS_E_UNEXPECTED,
                                           "Cannot write the Backup Components Document: %s", strerror(-r));
        *ret_xml = TAKE_PTR(xml);
        return 0;
}

/* ---- InitializeForRestore ---------------------------------------------------- */

static const lvss_bcd_writer *bcd_writer_of(const lvss_bcd *bcd, const lvss_bcd_component *c) {
        for (size_t i = 0; i < bcd->n_writers; i++)
                if (vss_id_equal(&bcd->writers[i].instance_id, &c->instance_id) &&
                    vss_id_equal(&bcd->writers[i].writer_id, &c->writer_id))
                        return &bcd->writers[i];
        return NULL;
}

int session_load_bcd(Session *s, const char *xml, Refusal *ref) {
        _cleanup_(lvss_bcd_freep) lvss_bcd *bcd = NULL;
        Component *a;
        int r;

        if (!xml || !*xml)
                return refusal_set_hresult(ref, VSS_E_INVALIDARG,
                                           "InitializeForRestore needs a Backup Components Document");
        r = lvss_bcd_from_xml(xml, &bcd);
        if (r == -ENOMEM)
                return -ENOMEM;
        if (r < 0)
                return refusal_set_hresult(ref, VSS_E_INVALID_XML_DOCUMENT,
                                           "The Backup Components Document is not valid: %s", strerror(-r));

        a = calloc(bcd->n_components ? bcd->n_components : 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < bcd->n_components; i++) {
                const lvss_bcd_component *bc = &bcd->components[i];
                const lvss_bcd_writer *w = bcd_writer_of(bcd, bc);
                Component *c = &a[i];

                *c = (Component) {
                        .instance_id = bc->instance_id,
                        .writer_id = bc->writer_id,
                        .type = bc->type,
                        .backup_succeeded = bc->backup_succeeded,
                        .file_restore_status = VSS_RS_UNDEFINED,
                };
                r = set_copy(&c->instance_name, w ? w->instance_name : NULL);
                if (r >= 0)
                        r = set_copy(&c->logical_path, bc->logical_path);
                if (r >= 0 && !c->logical_path)
                        r = (c->logical_path = strdup("")) ? 0 : -ENOMEM;
                if (r >= 0)
                        r = set_copy(&c->name, bc->name);
                if (r >= 0)
                        r = set_copy(&c->backup_metadata, bc->backup_metadata);
                if (r >= 0)
                        r = set_copy(&c->backup_stamp, bc->backup_stamp);
                if (r >= 0)
                        r = set_copy(&c->previous_backup_stamp, bc->previous_backup_stamp);
                if (r >= 0)
                        r = set_copy(&c->restore_metadata, bc->restore_metadata);
                if (r < 0 || !c->name) {
                        for (size_t j = 0; j <= i; j++)
                                component_done(&a[j]);
                        free(a);
                        return r < 0 ? r : -ENOMEM;
                }
        }

        s->components = a;
        s->n_components = bcd->n_components;
        s->select_components = bcd->select_components;
        s->bootable_system_state = bcd->bootable_system_state;
        s->backup_type = bcd->backup_type;
        s->partial_file_support = bcd->partial_file_support;
        s->restore_type = bcd->restore_type ? bcd->restore_type : VSS_RTYPE_BY_COPY;
        s->bcd = TAKE_PTR(bcd);
        return 0;
}

/* ---- selection and file status ------------------------------------------------ */

static Component *restore_component(Session *s, const vss_id *writer_id, uint32_t type, const char *logical_path,
                                    const char *name) {
        for (size_t i = 0; name && i < s->n_components; i++) {
                Component *c = &s->components[i];
                if (vss_id_equal(&c->writer_id, writer_id) && c->type == type &&
                    streq_ptr(c->logical_path, strempty(logical_path)) && streq_ptr(c->name, name))
                        return c;
        }
        return NULL;
}

static bool writer_running(Session *s, const Component *c) {
        for (Writer *w = s->m->writers; w; w = w->next)
                if (w->subscribed && vss_id_equal(&w->writer_id, &c->writer_id) &&
                    streq_ptr(strempty(w->instance_name), strempty(c->instance_name)))
                        return true;
        return false;
}

int session_method_set_selected_for_restore(Session *s, const vss_id *writer_id, uint32_t type,
                                            const char *logical_path, const char *name, bool selected,
                                            Refusal *ref) {
        Component *c;
        int r = session_check(s, SESSION_IN_SET_SELECTED_FOR_RESTORE, NULL, ref);
        if (r < 0)
                return r;
        c = restore_component(s, writer_id, type, logical_path, name);
        if (!c)
                return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND,
                                           "No such component in the Backup Components Document");
        if (selected && !writer_running(s, c))
                return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND,
                                           "The component's writer is not running");
        c->selected_for_restore = selected;
        return 0;
}

int session_method_set_file_restore_status(Session *s, const vss_id *writer_id, uint32_t type,
                                           const char *logical_path, const char *name, uint32_t status,
                                           Refusal *ref) {
        Component *c;
        int r = session_check(s, SESSION_IN_SET_FILE_RESTORE_STATUS, NULL, ref);
        if (r < 0)
                return r;
        if (status > VSS_RS_FAILED)
                return refusal_set_hresult(ref, VSS_E_INVALIDARG, "Unknown file restore status %u", status);
        c = restore_component(s, writer_id, type, logical_path, name);
        if (!c || !c->selected_for_restore)
                return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "No such selected component");
        c->file_restore_status = status;
        return 0;
}

const char *entry_component_failure_msg(const Entry *e, vss_writer_event event) {
        const Session *s = e->session;

        if (event != VSS_EVENT_PRE_RESTORE && event != VSS_EVENT_POST_RESTORE)
                return NULL;
        for (size_t i = 0; i < s->n_components; i++) {
                const Component *c = &s->components[i];
                const char *msg = event == VSS_EVENT_PRE_RESTORE ? c->pre_restore_failure_msg
                                                                 : c->post_restore_failure_msg;
                if (msg && component_belongs(s, c, e))
                        return msg;
        }
        return NULL;
}

/* ---- PreRestore / PostRestore ---------------------------------------------------- */

static bool restore_participant(const Session *s, const Entry *e) {
        return !lvss_state_is_failed(e->state) && session_entry_participates(s, e);
}

static void restore_event_done(Fanout *f, void *userdata) {
        Session *s = userdata;

        session_apply(s, f->event == VSS_EVENT_PRE_RESTORE ? SESSION_IN_PRE_RESTORE_DONE : SESSION_IN_POST_RESTORE_DONE);
        session_step_finish_fanout(s, f, VSS_S_OK);
}

static int restore_send(Session *s, vss_writer_event event) {
        int r = session_collect(s, restore_participant);
        if (r < 0)
                return r;
        return session_fanout(s, event, s->work, s->n_work, restore_event_done);
}

static void pre_restore_identified(Fanout *f, void *userdata) {
        Session *s = userdata;
        vss_hresult hr = session_identify_record(s, f);
        int r;

        if (VSS_FAILED(hr))
                return session_step_finish(s, hr);
        s->fanout = fanout_free(s->fanout);
        r = restore_send(s, VSS_EVENT_PRE_RESTORE);
        if (r < 0)
                session_step_finish(s, VSS_E_UNEXPECTED);
}

static int restore_step(Session *s, Pending *pending, StepKind step, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *call = pending;
        bool pre = step == STEP_PRE_RESTORE;
        int r = session_check(s, pre ? SESSION_IN_PRE_RESTORE : SESSION_IN_POST_RESTORE, NULL, ref);
        if (r < 0)
                return r;

        session_step_begin(s, step, pre ? "PreRestore" : "PostRestore", NULL);
        if (pre && !s->metadata_gathered)
                r = session_identify(s, pre_restore_identified); /* the writers running now (WS-12) */
        else
                r = restore_send(s, pre ? VSS_EVENT_PRE_RESTORE : VSS_EVENT_POST_RESTORE);
        if (r < 0) {
                session_step_abandon(s);
                return r;
        }
        return session_step_started(s, &call);
}

int session_method_pre_restore(Session *s, Pending *call, Refusal *ref) {
        return restore_step(s, call, STEP_PRE_RESTORE, ref);
}

int session_method_post_restore(Session *s, Pending *call, Refusal *ref) {
        return restore_step(s, call, STEP_POST_RESTORE, ref);
}

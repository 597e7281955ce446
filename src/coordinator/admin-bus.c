/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The admin calls' bus edge (issue 11 §2). The wire is what it was when
 * admin.c packed its replies itself: the same signatures and values
 * (test-dbus-interface, test-admin*, test-shadow-storage).
 */

#include "catalog/catalog-queue.h"
#include "manager.h"
#include "providers.h"
#include "admin-bus.h"
#include "protocol/protocol.h"

#define SHADOW_STRUCT "ayayayayssssbiut"

int admin_bus_reply_providers(Manager *m, sd_bus_message *call) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ayssssb)");
        for (size_t i = 0; r >= 0 && i < m->n_providers; i++) {
                lvss_provider *p = m->providers[i];
                r = sd_bus_message_open_container(reply, 'r', "ayssssb");
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &p->ops->id);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ssssb", p->ops->name, p->ops->type, p->ops->version,
                                                  provider_volumes_text(p), p == m->default_provider);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* One shadow copy row; the provider by name ("?" when lvssd has it no more). */
static int append_shadow(Manager *m, sd_bus_message *reply, const lvss_catalog_snapshot *cs) {
        lvss_provider *p = manager_provider_by_id(m, &cs->provider_id);
        int r;

        r = sd_bus_message_open_container(reply, 'r', SHADOW_STRUCT);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &cs->snapshot_id);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &cs->set_id);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &cs->session_id);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &cs->provider_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ssssbiut", p ? p->ops->name : "?", strempty(cs->volume),
                                          strempty(cs->snapshot_path), strempty(cs->state), cs->persistent,
                                          cs->context, cs->attributes, cs->created_usec);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* One writer of ListWriters (LVSS_ADMIN_STATUS_STRUCT, protocol.h). */
static int append_writer(sd_bus_message *reply, const AnswerWriter *w) {
        int r = sd_bus_message_open_container(reply, 'r', LVSS_ADMIN_STATUS_STRUCT);

        if (r >= 0)
                r = lvss_bus_append_id(reply, &w->instance_id);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &w->writer_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ssuiis", w->name, w->instance_name, (uint32_t) w->state, w->failure,
                                          w->application_result, strempty(w->application_message));
        if (r >= 0)
                r = lvss_bus_append_id(reply, &w->session_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ubttbs", (uint32_t) w->event, w->in_progress, w->when_usec,
                                          w->took_usec, w->active, strempty(w->state_text));
        /* issue 8 item 4: whose writer it is, so that two of one class can be told apart */
        if (r >= 0)
                r = sd_bus_message_append(reply, "uis", w->uid, w->pid, strempty(w->note));
        /* issue 11 §5, WS-9: the last event's answer came from lvssd, not the writer */
        if (r >= 0)
                r = sd_bus_message_append(reply, "b", w->answered_by_lvssd);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int append_answer(Manager *m, sd_bus_message *reply, const Answer *a) {
        int r = 0;

        switch (a->kind) {
        case ANSWER_NUMBER:
                return sd_bus_message_append(reply, "u", a->number);
        case ANSWER_SHADOWS:
                r = sd_bus_message_open_container(reply, 'a', "(" SHADOW_STRUCT ")");
                for (size_t i = 0; r >= 0 && a->shadows && i < a->shadows->n; i++) {
                        const lvss_catalog_snapshot *cs = &a->shadows->rows[i];

                        if (vss_id_is_null(&a->id) || vss_id_equal(&a->id, &cs->set_id))
                                r = append_shadow(m, reply, cs);
                }
                break;
        case ANSWER_STORAGE:
                r = sd_bus_message_open_container(reply, 'a', "(stttu)");
                for (size_t i = 0; r >= 0 && i < a->n_storage; i++) {
                        const AnswerStorage *v = &a->storage[i];

                        r = sd_bus_message_append(reply, "(stttu)", v->volume, v->used, v->allocated, v->max_bytes,
                                                  v->max_percent);
                }
                break;
        case ANSWER_WRITERS:
                r = sd_bus_message_open_container(reply, 'a', "(" LVSS_ADMIN_STATUS_STRUCT ")");
                for (size_t i = 0; r >= 0 && i < a->n_writers; i++)
                        r = append_writer(reply, &a->writers[i]);
                break;
        default:
                return -EINVAL;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int admin_bus_pack(Manager *m, sd_bus_message *call, const Answer *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r >= 0)
                r = append_answer(m, reply, a);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The socket and the D-Bus objects.
 *
 * Each accepted connection becomes its own sd-bus server connection driven
 * by the one event loop (connection.c, "connections and the event loop"). The
 * peer's credentials come from the socket (SO_PEERCRED, SO_PEERGROUPS) and
 * decide what it may do (WS-14). The vtables below only unpack arguments
 * and call the domain code in session.c and registry.c, and pack what it
 * gives; a call a session answers later goes to it as a Pending that
 * session-bus.c packs (answer.h). The interface is docs/dbus-interface.md.
 */

#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>

#include "config.h"
#include "basic/state.h"
#include "basic/strv.h"
#include "lvssd-config.h"
#include "manager.h"
#include "server.h"
#include "registry.h"
#include "session.h"
#include "session-bus.h"
#include "refusal-bus.h"
#include "restore.h"
#include "snapshot.h"
#include "admin.h"
#include "admin-bus.h"
#include "external.h"
#include "protocol/protocol.h"

/* ---- access (WS-14) ------------------------------------------------------- */

/* issue 11 §1: the group and the users were resolved at start-up (config_resolve_accounts()) */
static bool client_in_requester_group(const Client *c) {
        const Config *cfg = &c->m->cfg;

        if (!cfg->requester_gid_known)
                return false;
        if (c->gid == cfg->requester_gid)
                return true;
        for (int i = 0; i < c->n_groups; i++)
                if (c->groups[i] == cfg->requester_gid)
                        return true;
        return false;
}

bool client_may_request(const Client *c) {
        return c->uid == 0 || c->uid == geteuid() || client_in_requester_group(c);
}

bool client_may_write(const Client *c) {
        if (client_may_request(c))
                return true;
        for (size_t i = 0; i < c->m->cfg.n_writer_uids; i++)
                if (c->m->cfg.writer_uids[i] == c->uid)
                        return true;
        return false;
}

static int access_denied(const Client *c, const char *role, sd_bus_error *error) {
        log_denied(c->m, "uid %u pid %d may not act as %s", (unsigned) c->uid, (int) c->pid, role);
        return lvss_bus_error_set_hresult(error, VSS_E_ACCESSDENIED, "uid %u may not act as %s", (unsigned) c->uid,
                                          role);
}

/* ---- Coordinator1 ----------------------------------------------------------- */

static int reply_with_id(sd_bus_message *m, const vss_id *id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = lvss_bus_append_id(reply, id);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_version(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "s", PACKAGE_VERSION);
}

/* SubscribeWriter, and SubscribeWriterWithEvents: the same plus the events the writer
 * wants delivered (issue 11 §5; basic/state.h). The old call gets every event. */
static int subscribe_writer(sd_bus_message *m, Client *c, bool declared, sd_bus_error *error) {
        vss_id writer_id;
        const char *name, *instance_name;
        uint32_t usage, source, freeze_timeout_ms, handled_events = LVSS_EVENTS_ALL;
        int32_t level;
        vss_hresult hr = VSS_S_OK;
        _cleanup_(freep) char *message = NULL;
        Writer *w;
        int r;

        if (!client_may_write(c))
                return access_denied(c, "a writer", error);
        r = lvss_bus_read_id(m, &writer_id);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "writer_id must be 16 bytes");
        r = sd_bus_message_read(m, "ssuuiu", &name, &instance_name, &usage, &source, &level, &freeze_timeout_ms);
        if (r >= 0 && declared)
                r = sd_bus_message_read(m, "u", &handled_events);
        if (r < 0)
                return r;
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        r = registry_subscribe(c->m, c, &writer_id, name, instance_name, usage, source, level, freeze_timeout_ms,
                               handled_events, p, &hr, &message, &w);
        if (r < 0)
                return lvss_bus_error_set_hresult(error, hr, "%s", message ? message : vss_hresult_text(hr));
        if (r > 0)
                return 1; /* answered once the class's owner row is on disk (issue 11 §1) */
        return reply_with_id(m, &w->instance_id);
}

static int method_subscribe_writer(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return subscribe_writer(m, userdata, false, error);
}

static int method_subscribe_writer_with_events(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return subscribe_writer(m, userdata, true, error);
}

static int method_unsubscribe_writer(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;

        if (!c->writer)
                return lvss_bus_error_set_hresult(error, VSS_E_BAD_STATE, "This connection is not a writer");
        registry_unsubscribe(c->writer);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_open_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        Client *c = userdata;
        Session *s;
        int r;

        if (!client_may_request(c))
                return access_denied(c, "a requester", error);
        if (c->role != ROLE_NONE)
                return lvss_bus_error_set_hresult(error, VSS_E_BAD_STATE,
                                                  "This connection already has a role (one session per connection)");
        if (c->m->stopping)
                return lvss_bus_error_set_hresult(error, VSS_E_WRITER_INFRASTRUCTURE, "lvssd is stopping");
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        r = session_new(c->m, c, p, &s, &ref);
        if (r < 0)
                return refusal_bus_error(error, &ref, r);
        c->role = ROLE_REQUESTER;
        c->session = s;
        if (r > 0)
                return 1; /* answered once the catalog has the session (issue 11 §1) */
        return reply_with_id(m, &s->id);
}

static int method_list_writers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        return registry_list_writers(c->m, p);
}

static int method_gather_session_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        Client *c = userdata;
        vss_id id;
        int r;

        Session *s;

        r = lvss_bus_read_id(m, &id);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "session id must be 16 bytes");
        r = session_of_requester(c->m, c, &id, &s, &ref);
        if (r < 0)
                return refusal_bus_error(error, &ref, r);
        return session_bus_reply_status(m, s);
}

static int method_list_providers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        return admin_bus_reply_providers(c->m, m);
}

static int method_list_shadows(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        vss_id set_id;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        if (lvss_bus_read_id(m, &set_id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "set id must be 16 bytes");
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        return admin_list_shadows(c->m, p, &set_id);
}

static int method_delete_shadows(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *what, *volume;
        vss_id id;
        int oldest, r;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        r = sd_bus_message_read(m, "s", &what);
        if (r < 0)
                return r;
        if (lvss_bus_read_id(m, &id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "id must be 16 bytes");
        r = sd_bus_message_read(m, "sb", &volume, &oldest);
        if (r < 0)
                return r;
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        return admin_delete_shadows(c->m, p, what, &id, volume, oldest, error);
}

/* issue 12 §2: vssadmin delete shadows --for VOLUME --keep N */
static int method_delete_shadows_keep(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *volume;
        uint32_t keep;
        int r;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        r = sd_bus_message_read(m, "su", &volume, &keep);
        if (r < 0)
                return r;
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        return admin_delete_shadows_keep(c->m, p, volume, keep, error);
}

/* issue 12 §2: vssadmin list shadowstorage [--for VOLUME] */
static int method_list_shadow_storage(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *volume;
        int r;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        r = sd_bus_message_read(m, "s", &volume);
        if (r < 0)
                return r;
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        return admin_list_shadow_storage(c->m, p, volume, error);
}

/* issue 12 §2: vssadmin resize shadowstorage --for VOLUME --maxsize SIZE */
static int method_resize_shadow_storage(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *volume, *max_size;
        int r;

        if (!client_may_request(c))
                return access_denied(c, "an administrator", error);
        r = sd_bus_message_read(m, "ss", &volume, &max_size);
        if (r < 0)
                return r;
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        return admin_resize_shadow_storage(c->m, p, volume, max_size, error);
}

/* issue 10 part 2: external sessions (external.c); the same access as a requester's. Each
 * is answered through a Pending (ANSWER_EXTERNAL, session-bus.c), now or when the session's
 * steps say; a refusal is its D-Bus error. */
static int method_external_freeze(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        _cleanup_(strv_freep) char **volumes = NULL;
        Client *c = userdata;
        const char *caller;
        uint32_t hold_ms;
        int r;

        if (!client_may_request(c))
                return access_denied(c, "a requester", error);
        r = sd_bus_message_read_strv(m, &volumes);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "volumes: an array of strings");
        r = sd_bus_message_read(m, "us", &hold_ms, &caller);
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "hold limit (u) and caller (s) expected");
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        r = external_freeze(c, volumes, hold_ms, caller, p, &ref);
        return r < 0 ? refusal_bus_error(error, &ref, r) : 1;
}

/* ExternalThaw, ExternalAbort: no arguments; answered through a Pending as ExternalFreeze is. */
static int call_external(sd_bus_message *m, Client *c, int (*method)(Client *c, Pending *call, Refusal *ref),
                         sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        int r;

        if (!client_may_request(c))
                return access_denied(c, "a requester", error);
        Pending *p = session_bus_pending_new(c->m, m);
        if (!p)
                return -ENOMEM;
        r = method(c, p, &ref);
        return r < 0 ? refusal_bus_error(error, &ref, r) : 1;
}

static int method_external_thaw(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return call_external(m, userdata, external_thaw, error);
}

static int method_external_abort(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return call_external(m, userdata, external_abort, error);
}

#define EXTERNAL_REPLY "ayisa(" LVSS_STATUS_STRUCT ")"

static const sd_bus_vtable coordinator_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES("GetVersion", "", , "s", SD_BUS_PARAM(version), method_get_version, 0),
        SD_BUS_METHOD_WITH_NAMES("SubscribeWriter", "ayssuuiu",
                                 SD_BUS_PARAM(writer_id) SD_BUS_PARAM(writer_name) SD_BUS_PARAM(instance_name)
                                         SD_BUS_PARAM(usage) SD_BUS_PARAM(source) SD_BUS_PARAM(level)
                                                 SD_BUS_PARAM(freeze_timeout_ms),
                                 "ay", SD_BUS_PARAM(instance_id), method_subscribe_writer, 0),
        SD_BUS_METHOD_WITH_NAMES("SubscribeWriterWithEvents", "ayssuuiuu",
                                 SD_BUS_PARAM(writer_id) SD_BUS_PARAM(writer_name) SD_BUS_PARAM(instance_name)
                                         SD_BUS_PARAM(usage) SD_BUS_PARAM(source) SD_BUS_PARAM(level)
                                                 SD_BUS_PARAM(freeze_timeout_ms) SD_BUS_PARAM(handled_events),
                                 "ay", SD_BUS_PARAM(instance_id), method_subscribe_writer_with_events, 0),
        SD_BUS_METHOD("UnsubscribeWriter", "", "", method_unsubscribe_writer, 0),
        SD_BUS_METHOD_WITH_NAMES("OpenSession", "", , "ay", SD_BUS_PARAM(session_id), method_open_session, 0),
        SD_BUS_METHOD_WITH_NAMES("ListWriters", "", , "a(" LVSS_ADMIN_STATUS_STRUCT ")", SD_BUS_PARAM(writers),
                                 method_list_writers, 0),
        SD_BUS_METHOD_WITH_NAMES("GatherSessionStatus", "ay", SD_BUS_PARAM(session_id),
                                 "a(" LVSS_STATUS_STRUCT ")", SD_BUS_PARAM(writers), method_gather_session_status,
                                 0),
        SD_BUS_METHOD_WITH_NAMES("ListProviders", "", , "a(ayssssb)", SD_BUS_PARAM(providers), method_list_providers,
                                 0),
        SD_BUS_METHOD_WITH_NAMES("ListShadows", "ay", SD_BUS_PARAM(set_id), "a(ayayayayssssbiut)",
                                 SD_BUS_PARAM(shadows), method_list_shadows, 0),
        SD_BUS_METHOD_WITH_NAMES("DeleteShadows", "saysb",
                                 SD_BUS_PARAM(what) SD_BUS_PARAM(id) SD_BUS_PARAM(volume) SD_BUS_PARAM(oldest), "u",
                                 SD_BUS_PARAM(deleted), method_delete_shadows, 0),
        SD_BUS_METHOD_WITH_NAMES("DeleteShadowsKeep", "su", SD_BUS_PARAM(volume) SD_BUS_PARAM(keep), "u",
                                 SD_BUS_PARAM(deleted), method_delete_shadows_keep, 0),
        SD_BUS_METHOD_WITH_NAMES("ListShadowStorage", "s", SD_BUS_PARAM(volume), "a(stttu)", SD_BUS_PARAM(storage),
                                 method_list_shadow_storage, 0),
        SD_BUS_METHOD_WITH_NAMES("ResizeShadowStorage", "ss", SD_BUS_PARAM(volume) SD_BUS_PARAM(max_size), "", ,
                                 method_resize_shadow_storage, 0),
        SD_BUS_METHOD_WITH_NAMES("ExternalFreeze", "asus",
                                 SD_BUS_PARAM(volumes) SD_BUS_PARAM(hold_limit_ms) SD_BUS_PARAM(caller),
                                 EXTERNAL_REPLY,
                                 SD_BUS_PARAM(session_id) SD_BUS_PARAM(result) SD_BUS_PARAM(message)
                                         SD_BUS_PARAM(writers),
                                 method_external_freeze, 0),
        SD_BUS_METHOD_WITH_NAMES("ExternalThaw", "", , EXTERNAL_REPLY,
                                 SD_BUS_PARAM(session_id) SD_BUS_PARAM(result) SD_BUS_PARAM(message)
                                         SD_BUS_PARAM(writers),
                                 method_external_thaw, 0),
        SD_BUS_METHOD_WITH_NAMES("ExternalAbort", "", , EXTERNAL_REPLY,
                                 SD_BUS_PARAM(session_id) SD_BUS_PARAM(result) SD_BUS_PARAM(message)
                                         SD_BUS_PARAM(writers),
                                 method_external_abort, 0),
        SD_BUS_VTABLE_END,
};

/* ---- org.freedesktop.DBus.Hello -------------------------------------------------- */

/* busctl --address=... connects as a bus client and says Hello first. There is
 * no bus here, but answering with a unique name lets busctl (and any other
 * bus-style client) introspect and call lvssd directly. */
static int method_hello(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static uint64_t counter;
        char name[32];

        snprintf(name, sizeof name, ":1.%" PRIu64, ++counter);
        return sd_bus_reply_method_return(m, "s", name);
}

static const sd_bus_vtable hello_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Hello", "", "s", method_hello, 0),
        SD_BUS_VTABLE_END,
};

/* ---- Session1 ----------------------------------------------------------------- */

static int get_session(Client *c, Session **ret, sd_bus_error *error) {
        if (!c->session) {
                int r = lvss_bus_error_set_hresult(error, VSS_E_BAD_STATE,
                                                   "This connection has no session (call OpenSession first)");
                return r < 0 ? r : -EBADR; /* always an error: the caller returns on it */
        }
        session_touch(c->session);
        *ret = c->session;
        return 0;
}

#define SESSION_OR_RETURN(c, s, error)                      \
        Session *s = NULL;                                  \
        do {                                                \
                int _r = get_session((c), &(s), (error));   \
                if (_r < 0)                                 \
                        return _r;                          \
        } while (0)

/* issue 11 §2: the session refuses with a plain Refusal (refusal.h); its D-Bus error is made here. */
static int reply_or(sd_bus_message *m, int r, const Refusal *ref, sd_bus_error *error) {
        return r < 0 ? refusal_bus_error(error, ref, r) : sd_bus_reply_method_return(m, NULL);
}

/* issue 11 §2: a call the session answers, now or when its step ends, through a Pending
 * (session-bus.c packs the answer). */
typedef int (*session_deferred_t)(Session *s, Pending *call, Refusal *ref);

static int call_deferred(Session *s, sd_bus_message *m, session_deferred_t method, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        Pending *p = session_bus_pending_new(s->m, m);
        int r;

        if (!p)
                return -ENOMEM;
        r = method(s, p, &ref);
        return r < 0 ? refusal_bus_error(error, &ref, r) : r;
}

static int method_initialize_for_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        const char *bcd;
        SESSION_OR_RETURN(userdata, s, error);
        int r = sd_bus_message_read(m, "s", &bcd);
        if (r < 0)
                return r;
        r = session_method_initialize(s, SESSION_BACKUP, bcd, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_initialize_for_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        const char *bcd;
        SESSION_OR_RETURN(userdata, s, error);
        int r = sd_bus_message_read(m, "s", &bcd);
        if (r < 0)
                return r;
        r = session_method_initialize(s, SESSION_RESTORE, bcd, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_set_context(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        int32_t ctx;
        SESSION_OR_RETURN(userdata, s, error);
        int r = sd_bus_message_read(m, "i", &ctx);
        if (r < 0)
                return r;
        r = session_method_set_context(s, ctx, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_set_backup_state(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        int select, bootable, partial;
        uint32_t type;
        SESSION_OR_RETURN(userdata, s, error);
        int r = sd_bus_message_read(m, "bbub", &select, &bootable, &type, &partial);
        if (r < 0)
                return r;
        r = session_method_set_backup_state(s, select, bootable, type, partial, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_gather_writer_metadata(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_gather_metadata, error);
}

static int method_get_writer_metadata(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Entry *const *entries;
        size_t n;
        int r;
        SESSION_OR_RETURN(userdata, s, error);

        r = session_writer_metadata(s, &entries, &n, &ref);
        if (r < 0)
                return refusal_bus_error(error, &ref, r);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ayaysss)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const Entry *e = entries[i];
                r = sd_bus_message_open_container(reply, 'r', "ayaysss");
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &e->instance_id);
                if (r >= 0)
                        r = lvss_bus_append_id(reply, &e->writer_id);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "sss", e->writer_name, e->instance_name, e->metadata);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_add_component(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id instance_id, writer_id;
        uint32_t type;
        const char *lp, *name;
        SESSION_OR_RETURN(userdata, s, error);
        if (lvss_bus_read_id(m, &instance_id) < 0 || lvss_bus_read_id(m, &writer_id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "ids must be 16 bytes");
        int r = sd_bus_message_read(m, "uss", &type, &lp, &name);
        if (r < 0)
                return r;
        r = session_method_add_component(s, &instance_id, &writer_id, type, lp, name, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_start_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id id;
        SESSION_OR_RETURN(userdata, s, error);
        int r = session_method_start_snapshot_set(s, &id, &ref);
        if (r < 0)
                return refusal_bus_error(error, &ref, r);
        return reply_with_id(m, &id);
}

static int method_is_volume_supported(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id provider;
        const char *volume;
        SESSION_OR_RETURN(userdata, s, error);
        if (lvss_bus_read_id(m, &provider) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "provider id must be 16 bytes");
        int r = sd_bus_message_read(m, "s", &volume);
        if (r < 0)
                return r;
        /* issue 11 §1: the providers answer from a worker; the reply comes then */
        Pending *p = session_bus_pending_new(s->m, m);
        if (!p)
                return -ENOMEM;
        r = session_method_pick_provider(s, p, false, &provider, volume, &ref);
        return r < 0 ? refusal_bus_error(error, &ref, r) : r;
}

static int method_add_to_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id provider;
        const char *volume;
        SESSION_OR_RETURN(userdata, s, error);
        int r = sd_bus_message_read(m, "s", &volume);
        if (r < 0)
                return r;
        if (lvss_bus_read_id(m, &provider) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "provider id must be 16 bytes");
        Pending *p = session_bus_pending_new(s->m, m);
        if (!p)
                return -ENOMEM;
        r = session_method_pick_provider(s, p, true, &provider, volume, &ref);
        return r < 0 ? refusal_bus_error(error, &ref, r) : r;
}

static int method_prepare_for_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_prepare_for_backup, error);
}

static int method_do_snapshot_set(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_do_snapshot_set, error);
}

static int method_get_snapshot_properties(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const Snapshot *snap;
        vss_id id;
        int r;
        SESSION_OR_RETURN(userdata, s, error);

        if (lvss_bus_read_id(m, &id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "snapshot id must be 16 bytes");
        r = session_snapshot(s, &id, &snap, &ref);
        if (r < 0)
                return refusal_bus_error(error, &ref, r);
        size_t n_snaps;
        (void) snapshot_set_snapshots(s->set, &n_snaps);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &snap->p.snapshot_id);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &snap->p.set_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "iss", (int32_t) n_snaps, snap->p.snapshot_path,
                                          snap->p.volume);
        if (r >= 0)
                r = lvss_bus_append_id(reply, &snap->provider_id);
        if (r >= 0)
                r = sd_bus_message_append(reply, "tui", snap->created_usec, session_snapshot_attributes(s),
                                          s->context);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_set_backup_succeeded(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id instance_id, writer_id;
        uint32_t type;
        const char *lp, *name;
        int ok;
        SESSION_OR_RETURN(userdata, s, error);
        if (lvss_bus_read_id(m, &instance_id) < 0 || lvss_bus_read_id(m, &writer_id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "ids must be 16 bytes");
        int r = sd_bus_message_read(m, "ussb", &type, &lp, &name, &ok);
        if (r < 0)
                return r;
        r = session_method_set_backup_succeeded(s, &instance_id, &writer_id, type, lp, name, ok, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_backup_complete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_backup_complete, error);
}

static int method_abort_backup(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_abort_backup, error);
}

static int method_gather_writer_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_gather_status, error);
}

static int method_save_as_xml(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        _cleanup_(freep) char *xml = NULL;
        SESSION_OR_RETURN(userdata, s, error);
        int r = session_method_save_as_xml(s, &xml, &ref);
        if (r < 0)
                return refusal_bus_error(error, &ref, r);
        return sd_bus_reply_method_return(m, "s", xml);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        SESSION_OR_RETURN(userdata, s, error);
        int r = session_method_cancel(s, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_release, error);
}

static int method_set_selected_for_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id writer_id;
        uint32_t type;
        const char *lp, *name;
        int selected;
        SESSION_OR_RETURN(userdata, s, error);
        if (lvss_bus_read_id(m, &writer_id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "writer id must be 16 bytes");
        int r = sd_bus_message_read(m, "ussb", &type, &lp, &name, &selected);
        if (r < 0)
                return r;
        r = session_method_set_selected_for_restore(s, &writer_id, type, lp, name, selected, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_set_file_restore_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        vss_id writer_id;
        uint32_t type, status;
        const char *lp, *name;
        SESSION_OR_RETURN(userdata, s, error);
        if (lvss_bus_read_id(m, &writer_id) < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "writer id must be 16 bytes");
        int r = sd_bus_message_read(m, "ussu", &type, &lp, &name, &status);
        if (r < 0)
                return r;
        r = session_method_set_file_restore_status(s, &writer_id, type, lp, name, status, &ref);
        return reply_or(m, r, &ref, error);
}

static int method_pre_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_pre_restore, error);
}

static int method_post_restore(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);
        return call_deferred(s, m, session_method_post_restore, error);
}

static int method_get_record_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        SESSION_OR_RETURN(userdata, s, error);

        /* answered at once, or once the catalog wrote what was queued before (issue 11 §1) */
        return call_deferred(s, m, session_method_get_record_status, error);
}

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES("InitializeForBackup", "s", SD_BUS_PARAM(bcd), "", , method_initialize_for_backup, 0),
        SD_BUS_METHOD_WITH_NAMES("InitializeForRestore", "s", SD_BUS_PARAM(bcd), "", , method_initialize_for_restore,
                                 0),
        SD_BUS_METHOD_WITH_NAMES("SetContext", "i", SD_BUS_PARAM(context), "", , method_set_context, 0),
        SD_BUS_METHOD_WITH_NAMES("SetBackupState", "bbub",
                                 SD_BUS_PARAM(select_components) SD_BUS_PARAM(bootable_system_state)
                                         SD_BUS_PARAM(backup_type) SD_BUS_PARAM(partial_file_support),
                                 "", , method_set_backup_state, 0),
        SD_BUS_METHOD("GatherWriterMetadata", "", "", method_gather_writer_metadata, 0),
        SD_BUS_METHOD_WITH_NAMES("GetWriterMetadata", "", , "a(ayaysss)", SD_BUS_PARAM(writers),
                                 method_get_writer_metadata, 0),
        SD_BUS_METHOD_WITH_NAMES("AddComponent", "ayayuss",
                                 SD_BUS_PARAM(instance_id) SD_BUS_PARAM(writer_id) SD_BUS_PARAM(type)
                                         SD_BUS_PARAM(logical_path) SD_BUS_PARAM(name),
                                 "", , method_add_component, 0),
        SD_BUS_METHOD_WITH_NAMES("StartSnapshotSet", "", , "ay", SD_BUS_PARAM(set_id), method_start_snapshot_set, 0),
        SD_BUS_METHOD_WITH_NAMES("IsVolumeSupported", "ays", SD_BUS_PARAM(provider_id) SD_BUS_PARAM(volume), "b",
                                 SD_BUS_PARAM(supported), method_is_volume_supported, 0),
        SD_BUS_METHOD_WITH_NAMES("AddToSnapshotSet", "say", SD_BUS_PARAM(volume) SD_BUS_PARAM(provider_id), "ay",
                                 SD_BUS_PARAM(snapshot_id), method_add_to_snapshot_set, 0),
        SD_BUS_METHOD("PrepareForBackup", "", "", method_prepare_for_backup, 0),
        SD_BUS_METHOD("DoSnapshotSet", "", "", method_do_snapshot_set, 0),
        SD_BUS_METHOD_WITH_NAMES("GetSnapshotProperties", "ay", SD_BUS_PARAM(snapshot_id), "ayayissaytui",
                                 SD_BUS_PARAM(snapshot_id) SD_BUS_PARAM(set_id) SD_BUS_PARAM(snapshots_count)
                                         SD_BUS_PARAM(snapshot_path) SD_BUS_PARAM(original_volume)
                                                 SD_BUS_PARAM(provider_id) SD_BUS_PARAM(creation_usec)
                                                         SD_BUS_PARAM(attributes) SD_BUS_PARAM(context),
                                 method_get_snapshot_properties, 0),
        SD_BUS_METHOD_WITH_NAMES("SetBackupSucceeded", "ayayussb",
                                 SD_BUS_PARAM(instance_id) SD_BUS_PARAM(writer_id) SD_BUS_PARAM(type)
                                         SD_BUS_PARAM(logical_path) SD_BUS_PARAM(name) SD_BUS_PARAM(succeeded),
                                 "", , method_set_backup_succeeded, 0),
        SD_BUS_METHOD("BackupComplete", "", "", method_backup_complete, 0),
        SD_BUS_METHOD("AbortBackup", "", "", method_abort_backup, 0),
        SD_BUS_METHOD_WITH_NAMES("GatherWriterStatus", "", , "a(" LVSS_STATUS_STRUCT ")", SD_BUS_PARAM(writers),
                                 method_gather_writer_status, 0),
        SD_BUS_METHOD_WITH_NAMES("SaveAsXml", "", , "s", SD_BUS_PARAM(bcd), method_save_as_xml, 0),
        SD_BUS_METHOD("Cancel", "", "", method_cancel, 0),
        SD_BUS_METHOD("Release", "", "", method_release, 0),
        SD_BUS_METHOD_WITH_NAMES("SetSelectedForRestore", "ayussb",
                                 SD_BUS_PARAM(writer_id) SD_BUS_PARAM(type) SD_BUS_PARAM(logical_path)
                                         SD_BUS_PARAM(name) SD_BUS_PARAM(selected),
                                 "", , method_set_selected_for_restore, 0),
        SD_BUS_METHOD_WITH_NAMES("SetFileRestoreStatus", "ayussu",
                                 SD_BUS_PARAM(writer_id) SD_BUS_PARAM(type) SD_BUS_PARAM(logical_path)
                                         SD_BUS_PARAM(name) SD_BUS_PARAM(status),
                                 "", , method_set_file_restore_status, 0),
        SD_BUS_METHOD("PreRestore", "", "", method_pre_restore, 0),
        SD_BUS_METHOD("PostRestore", "", "", method_post_restore, 0),
        SD_BUS_METHOD_WITH_NAMES("GetRecordStatus", "", , "bus",
                                 SD_BUS_PARAM(complete) SD_BUS_PARAM(rows_lost) SD_BUS_PARAM(message),
                                 method_get_record_status, 0),
        SD_BUS_SIGNAL_WITH_NAMES("StepFinished", "sis", SD_BUS_PARAM(step) SD_BUS_PARAM(result) SD_BUS_PARAM(message),
                                 0),
        SD_BUS_VTABLE_END,
};

/* ---- limits: what one peer may cost (issue 8) ---------------------------------------
 *
 * Connections are capped at accept (MaxConnections for all, the last quarter
 * of it kept for root and the requester group; MaxConnectionsPerUser for
 * every other uid). A refused peer is told why: every call it makes is
 * answered VSS_E_ACCESSDENIED naming the limit, and it is closed a second
 * later; past REFUSING_MAX such at once, refused peers are closed at accept.
 * Refusals are logged, rate limited (LogLimit).
 *
 * A connection without a role (no writer subscribed, no session opened) that
 * has had nothing to do for IdleTimeoutMS is closed: no call of it running,
 * nothing received, nothing of lvssd's left unread. That also bounds a peer
 * that never finishes the authentication (sd-bus alone waits 90 s).
 *
 * A peer that does not read what lvssd sends it makes sd-bus queue the
 * messages in lvssd's memory. Past MaxUnsentMessages lvssd stops reading from
 * that peer (its io source waits for writability only), so its calls stay in
 * its own socket; if it stays there UnsentTimeoutMS, it is closed.
 *
 * The connections' sources and these deadlines are connection.c's (the
 * transport); what is decided here about a connection it asks through
 * server_connection_hooks.
 */

/* Socket send buffer of a peer that is neither root nor in the requester group:
 * what it leaves unread is kernel memory charged to lvssd. The kernel doubles it. */
#define UNPRIVILEGED_SNDBUF (128 * 1024)
/* How long accepting pauses after accept() failed for want of descriptors or memory. */
#define ACCEPT_PAUSE_USEC (250 * USEC_PER_MSEC)
/* At most this many refused peers are kept open at once to be told why (each for
 * connection.c's REFUSED_LINGER_USEC), others are closed at once. */
#define REFUSING_MAX 16

/* No role: the idle timeout applies while no ListWriters of it runs. */
static bool client_idle_applies(Client *c) {
        return c->role == ROLE_NONE && !c->writer && !c->session && !registry_list_pending(c->m, c->bus) &&
               !admin_query_pending(c->m, c->bus) &&
               !(c->m->external && c->m->external->external_caller == c);
}

/* The connection goes: its session is told, an external call of it is dropped, its writer is freed. */
static void client_gone(Client *c) {
        if (c->session) {
                Session *s = TAKE_PTR(c->session);
                session_requester_gone(s, "the requester's connection dropped");
        }
        external_client_gone(c);
        if (c->writer)
                c->writer = writer_free(c->writer);
}

static const ConnectionHooks server_connection_hooks = {
        .idle_applies = client_idle_applies,
        .gone = client_gone,
};
static void read_peer_groups(Client *c, int fd) {
        socklen_t len = 64 * sizeof(gid_t);

        for (int tries = 0; tries < 4; tries++) {
                gid_t *g = malloc(len);
                if (!g)
                        return;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) >= 0) {
                        c->groups = g;
                        c->n_groups = (int) (len / sizeof(gid_t));
                        return;
                }
                free(g);
                if (errno != ERANGE)
                        return;
        }
}

static int on_accept_resume(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) sd_event_source_set_enabled(m->listen_source, SD_EVENT_ON);
        return 0;
}

/* accept() failed for want of descriptors or memory: the socket stays readable, so
 * stop listening for a moment (or until a connection goes) instead of failing again at once. */
static void accept_pause(Manager *m, int error) {
        struct rlimit rl = {};
        int r;

        if (log_limit_ok(&m->accept_log, 1, "failed accepts")) {
                (void) getrlimit(RLIMIT_NOFILE, &rl);
                log_msg("cannot accept a connection: %s (%u connections open, descriptor limit %llu); "
                        "not accepting for %u ms or until a connection closes",
                        strerror(error), m->n_clients, (unsigned long long) rl.rlim_cur,
                        (unsigned) (ACCEPT_PAUSE_USEC / USEC_PER_MSEC));
        }
        r = sd_event_source_set_time_relative(m->accept_timer, ACCEPT_PAUSE_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->accept_timer, SD_EVENT_ONESHOT);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->listen_source, SD_EVENT_OFF);
        if (r < 0)
                log_msg("cannot pause accepting connections: %s", strerror(-r));
}

/* Item 1: may one more connection of this peer be accepted? If not, says why in @why. */
static bool client_admissible(Manager *m, const Client *c, char *why, size_t size) {
        unsigned reserve = m->cfg.max_connections / 4, of_uid = 0;

        if (m->n_clients >= m->cfg.max_connections) {
                snprintf(why, size, "%u connections are open (MaxConnections=%u)", m->n_clients,
                         m->cfg.max_connections);
                return false;
        }
        if (c->privileged)
                return true;
        if (m->n_unprivileged >= m->cfg.max_connections - reserve) {
                snprintf(why, size,
                         "users outside group %s have %u connections open, the most they may (MaxConnections=%u "
                         "less a quarter kept for root and that group)",
                         m->cfg.requester_group, m->n_unprivileged, m->cfg.max_connections);
                return false;
        }
        for (Client *o = m->clients; o; o = o->next)
                if (!o->privileged && o->uid == c->uid && !o->refusal)
                        of_uid++;
        if (of_uid >= m->cfg.max_connections_per_user) {
                snprintf(why, size, "uid %u has %u connections open (MaxConnectionsPerUser=%u)", (unsigned) c->uid,
                         of_uid, m->cfg.max_connections_per_user);
                return false;
        }
        return true;
}

/* A refused connection: every call it makes is answered with why, and it is closed soon. */
static int on_refused_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        uint8_t type = 0;

        if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL)
                return 0; /* Disconnected and the like go on to their handlers */
        (void) lvss_bus_error_set_hresult(&e, VSS_E_ACCESSDENIED, "lvssd refuses this connection: %s", c->refusal);
        (void) sd_bus_reply_method_error(m, &e);
        return 1;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        _cleanup_(closep) int cfd = -1;
        char why[256];
        struct ucred cred;
        socklen_t len = sizeof cred;
        sd_id128_t id;
        Client *c;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                /* EMFILE, ENFILE, ENOBUFS, ENOMEM: trying again at once fails again */
                accept_pause(m, errno);
                return 0;
        }
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_msg("cannot read peer credentials: %m");
                return 0;
        }

        c = calloc(1, sizeof *c);
        if (!c)
                return 0;
        c->m = m;
        c->fd = -1;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->pid = cred.pid;
        c->active_usec = c->accepted_usec = now_usec(CLOCK_MONOTONIC);
        read_peer_groups(c, cfd);
        c->privileged = client_may_request(c);
        if (!client_admissible(m, c, why, sizeof why)) {
                if (log_limit_ok(&m->refuse_log, 1, "refused connections"))
                        log_msg("refused a connection from uid %u pid %d: %s", (unsigned) c->uid, (int) c->pid, why);
                if (m->n_refusing >= REFUSING_MAX) {
                        /* cfd closed: the peer sees its connection end */
                        free(c->groups);
                        free(c);
                        return 0;
                }
                /* The peer is told why (see on_refused_message()), then closed. */
                c->refusal = strdup(why);
                if (!c->refusal) {
                        free(c->groups);
                        free(c);
                        return 0;
                }
        }

        r = sd_bus_new(&c->bus);
        if (r >= 0)
                r = sd_bus_set_fd(c->bus, cfd, cfd);
        if (r >= 0) {
                TAKE_FD(cfd);
                r = sd_id128_randomize(&id);
        }
        if (r >= 0)
                r = sd_bus_set_server(c->bus, 1, id);
        /* sd-bus would refuse every call from a peer that is neither root nor
         * our uid before our handlers run: who may do what is WS-14's to decide
         * (client_may_request / client_may_write), and refusals are logged there. */
        if (r >= 0)
                r = sd_bus_set_trusted(c->bus, true);
        if (r >= 0 && c->refusal)
                r = sd_bus_add_filter(c->bus, NULL, on_refused_message, c);
        if (r >= 0)
                r = sd_bus_add_object_vtable(c->bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                             coordinator_vtable, c);
        if (r >= 0)
                r = sd_bus_add_object_vtable(c->bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, session_vtable, c);
        if (r >= 0)
                r = sd_bus_add_object_vtable(c->bus, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                             hello_vtable, c);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", connection_on_disconnected, c);
        if (r >= 0)
                r = sd_bus_start(c->bus);
        if (r >= 0 && !c->privileged) {
                /* after sd_bus_start(), which raises it to megabytes */
                int size = UNPRIVILEGED_SNDBUF;
                if (setsockopt(sd_bus_get_fd(c->bus), SOL_SOCKET, SO_SNDBUF, &size, sizeof size) < 0)
                        log_msg("connection from uid %u pid %d: cannot set its send buffer: %m",
                                (unsigned) c->uid, (int) c->pid);
        }
        if (r >= 0)
                r = connection_attach(c);
        if (r < 0) {
                log_msg("cannot set up a connection from pid %d: %s", (int) c->pid, strerror(-r));
                connection_detach(c);
                sd_bus_close_unref(c->bus);
                free(c->refusal);
                free(c->groups);
                free(c);
                return 0;
        }

        c->next = m->clients;
        if (m->clients)
                m->clients->prev = c;
        m->clients = c;
        if (c->refusal) {
                m->n_refusing++;
                return 0;
        }
        c->counted = true;
        m->n_clients++;
        if (!c->privileged)
                m->n_unprivileged++;
        return 0;
}

static int make_parent(const char *path) {
        _cleanup_(freep) char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Descriptors besides the connections: catalog, timers, signals, provider pipes. */
#define OTHER_DESCRIPTORS 256

/* Every connection is a descriptor: make room for MaxConnections if the hard limit allows
 * (lvssd uses epoll, not select(), so a soft limit above 1024 is harmless). */
static void raise_descriptor_limit(Manager *m) {
        rlim_t want = (rlim_t) m->cfg.max_connections + OTHER_DESCRIPTORS;
        struct rlimit rl, raised;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
                return;
        raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) >= 0)
                rl = raised;
        if (rl.rlim_cur < want)
                log_msg("descriptor limit %llu is below MaxConnections=%u plus %u; raise LimitNOFILE= "
                        "(or lower MaxConnections=)",
                        (unsigned long long) rl.rlim_cur, m->cfg.max_connections, OTHER_DESCRIPTORS);
}

int server_listen(Manager *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r, fd;

        m->connection_hooks = &server_connection_hooks;
        m->storage_hooks = &admin_storage_hooks;
        m->session_hooks = &session_bus_hooks;
        raise_descriptor_limit(m);

        r = sd_listen_fds(1);
        if (r == 1) {
                /* socket activation (lvssd.socket) */
                fd = SD_LISTEN_FDS_START;
        } else {
                if (strlen(m->cfg.socket_path) >= sizeof sa.sun_path) {
                        log_msg("socket path too long: %s", m->cfg.socket_path);
                        return -ENAMETOOLONG;
                }
                strcpy(sa.sun_path, m->cfg.socket_path);
                r = make_parent(m->cfg.socket_path);
                if (r < 0) {
                        log_msg("cannot create the directory of %s: %s", m->cfg.socket_path, strerror(-r));
                        return r;
                }
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                (void) unlink(m->cfg.socket_path);
                if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
                        r = -errno;
                        log_msg("cannot listen on %s: %s", m->cfg.socket_path, strerror(-r));
                        close(fd);
                        return r;
                }
                /* Who may do what is decided per connection (WS-14), not by file mode. */
                (void) chmod(m->cfg.socket_path, 0666);
        }
        m->listen_fd = fd;
        r = sd_event_add_io(m->event, &m->listen_source, fd, EPOLLIN, on_accept, m);
        if (r < 0)
                return r;
        /* made now, while descriptors are there for sd-event's timerfd */
        r = sd_event_add_time(m->event, &m->accept_timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_accept_resume, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->accept_timer, SD_EVENT_OFF);
        return r;
}

void server_done(Manager *m) {
        connection_close_all(m);
        m->listen_source = sd_event_source_disable_unref(m->listen_source);
        m->accept_timer = sd_event_source_disable_unref(m->accept_timer);
        if (m->listen_fd >= 0 && m->listen_fd != SD_LISTEN_FDS_START) {
                close(m->listen_fd);
                (void) unlink(m->cfg.socket_path);
        }
        m->listen_fd = -1;
}

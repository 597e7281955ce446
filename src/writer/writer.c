/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The writer side of liblvss (CVssWriter).
 *
 * A writer is one D-Bus peer-to-peer connection to lvssd. It exports
 * org.lvss.Writer1 at /org/lvss/writer, subscribes with
 * Coordinator1.SubscribeWriter, and from then on the coordinator calls its
 * Event method once per event. The connection, a stop eventfd and the
 * deadman timer all live in one sd_event loop owned by the writer, so the
 * application polls a single fd (sd_event_get_fd()) or lends us a thread
 * (vss_writer_run()). Handlers run synchronously inside the Event method, on
 * the loop's thread, one at a time; the reply is sent when the handler
 * returns. A handler that takes too long is the coordinator's business: its
 * deadline expires, the writer is "not responding" there, and our late reply
 * is dropped on the floor.
 *
 * The deadman timer (WS-6). Between Freeze and Thaw the application holds
 * its writes. Everything that could end that window from outside can fail:
 * the requester can die, lvssd can die or hang, a provider can take forever.
 * So the library does not trust anyone to send Thaw. When Freeze arrives it
 * arms a CLOCK_MONOTONIC timer for freeze_timeout_ms from that moment,
 * *before* calling on_freeze (if the timer cannot be armed, on_freeze is not
 * called at all: we never freeze without a way out). It stays armed even
 * when on_freeze fails, since a half-done freeze needs undoing too. Thaw or
 * Abort in time disarm it. If it fires first, we call on_abort ourselves, which is the
 * application's "undo the freeze", and remember that the window timed out:
 * the late Thaw is then answered VSS_E_WRITERERROR_TIMEOUT without calling
 * on_thaw, as VSS does. The timer runs at a lower priority than the bus, so
 * a Thaw that is already waiting in the socket when the deadline passes is
 * still handled as being in time. Dropping the connection is the other way
 * out: from PrepareForSnapshot until Thaw or Abort, losing lvssd (the local
 * Disconnected signal sd-bus synthesizes, or finding the bus closed) calls
 * on_abort at once; nobody is left to send Thaw. Unsubscribing or releasing
 * the writer inside that window does the same. on_abort may therefore run
 * more than once for one snapshot set (VSS allows that); the application
 * must make it idempotent. Like every source of the loop, the timer fires
 * between handlers, never inside one: it guards against the world outside
 * the application, not against a handler of its own that never returns.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <lvss/writer.h>

#include "basic/abi.h"
#include "basic/errno-hresult.h"
#include "basic/state.h"
#include "basic/strv.h"
#include "basic/utf8.h"
#include "basic/util.h"
#include "documents/wmd.h"
#include "protocol/event-context.h"
#include "protocol/protocol.h"
#include "components.h"

#define DEFAULT_FREEZE_TIMEOUT_MS UINT32_C(60000)
#define SUBSCRIBE_TIMEOUT_USEC (25 * USEC_PER_SEC)
#define UNSUBSCRIBE_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define DEADMAN_ACCURACY_USEC USEC_PER_MSEC
/* Below the bus: a Thaw already in the socket wins over a deadline that just passed. */
#define DEADMAN_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)
#define ENDED_SESSIONS_MAX 8

typedef enum freeze_state {
        FREEZE_NONE,      /* nothing to undo */
        FREEZE_PREPARED,  /* PrepareForSnapshot (or a failed Freeze) seen; Thaw/Abort not yet */
        FREEZE_FROZEN,    /* Freeze delivered; the deadman timer is armed */
        FREEZE_TIMED_OUT, /* the deadman fired and on_abort ran; Thaw gets VSS_E_WRITERERROR_TIMEOUT */
} freeze_state;

/* What the vss_writer_get_* helpers read while a handler runs. */
typedef struct event_context {
        vss_writer_event event;
        vss_id session_id;
        /* The Event's context, read by protocol/event-context.c: its strings are
         * the Event call's, which lives while the handler runs. The snapshot set
         * id is the null id when none came (BackupShutdown passes it on as is). */
        lvss_event_context_received in;
        vss_writer_components *components;
} event_context;

struct vss_writer {
        /* identity (options, copied) */
        vss_id writer_id;
        char *writer_name;
        char *instance_name; /* NULL: single instance */
        vss_usage_type usage;
        vss_source_type source;
        vss_application_level level;
        uint32_t freeze_timeout_ms;

        vss_writer_callbacks cb;
        void *userdata;

        /* the loop: lives as long as the writer, so stop() works at any time */
        sd_event *event;
        sd_event_source *stop_source;
        int stop_fd;
        bool stop_requested;
        sd_event_source *kick_source;
        int kick_fd;

        /* the connection: only while subscribed */
        sd_bus *bus;
        sd_bus_slot *object_slot;
        sd_bus_slot *disconnect_slot;
        vss_id instance_id;
        bool disconnected;

        /* the running handler (NULL outside one) and what it set (WS-4) */
        event_context *current;
        bool failure_set;
        vss_hresult failure;
        vss_hresult application_result;
        char *application_message;

        /* the freeze window (WS-6) */
        freeze_state freeze;
        sd_event_source *deadman;
        event_context freeze_context; /* for an on_abort we start ourselves */
        char **freeze_volumes;        /* its volumes, ours: it outlives the Event call */

        /* WS-3: the latest session this writer took part in */
        vss_id session_id;
        vss_writer_session_state session_state;
        vss_id ended_sessions[ENDED_SESSIONS_MAX];
        unsigned n_ended_sessions;
};

/* ---- small helpers -------------------------------------------------------- */

/* Debug output for integration tests and field reports, only with LVSS_DEBUG set:
 * a library does not write to the application's stderr uninvited. */
_printf_(2, 3) static void writer_log(vss_writer *w, const char *fmt, ...) {
        char sid[VSS_ID_STRING_MAX];
        va_list ap;

        if (!getenv("LVSS_DEBUG"))
                return;

        vss_id_format(&w->session_id, sid);
        fprintf(stderr, "lvss-writer[%s%s%s] session %s: ", w->writer_name, w->instance_name ? "/" : "",
                strempty(w->instance_name), sid);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* Component-wise prefix test: "/a/b" is within "/a" and "/a/", not within "/ab". */
static bool path_within(const char *path, const char *root) {
        if (*path != '/' || *root != '/')
                return false;

        for (;;) {
                size_t a, b;

                root += strspn(root, "/");
                if (*root == 0)
                        return true;
                path += strspn(path, "/");
                if (*path == 0)
                        return false;

                a = strcspn(path, "/");
                b = strcspn(root, "/");
                if (a != b || memcmp(path, root, a) != 0)
                        return false;
                path += a;
                root += b;
        }
}

static bool path_equal(const char *a, const char *b) {
        return path_within(a, b) && path_within(b, a);
}

/* ---- the event context ---------------------------------------------------- */

static void event_context_done(event_context *ctx) {
        lvss_event_context_received_done(&ctx->in);
        ctx->components = lvss_writer_components_free(ctx->components);
}

/* The Event's context a{sv} (dbus-interface.md), through the module lvssd packs it with
 * (protocol/event-context.h: its rules, the keys named once); the components become the
 * handler's own. */
static int event_context_read(sd_bus_message *m, event_context *ctx) {
        vss_writer_components *c;
        int r;

        r = lvss_event_context_read(m, &ctx->in);
        if (r < 0 || !ctx->in.has_components)
                return r;

        /* From BackupComplete on the document is read-only (vss-reference.md §6). */
        r = lvss_writer_components_from_wire(ctx->in.components, ctx->in.n_components,
                                             ctx->event == VSS_EVENT_BACKUP_COMPLETE, &c);
        if (r < 0)
                return r;
        /* In a restore event, "selected" is IsSelectedForRestore. */
        if (ctx->event == VSS_EVENT_PRE_RESTORE || ctx->event == VSS_EVENT_POST_RESTORE)
                for (unsigned i = 0; i < c->n_items; i++)
                        c->items[i]->selected_for_restore = c->items[i]->selected;
        ctx->components = c;
        return 0;
}

static bool event_has_components(vss_writer_event e) {
        switch (e) {
        case VSS_EVENT_PREPARE_BACKUP:
        case VSS_EVENT_POST_SNAPSHOT:
        case VSS_EVENT_BACKUP_COMPLETE:
        case VSS_EVENT_PRE_RESTORE:
        case VSS_EVENT_POST_RESTORE:
                return true;
        default:
                return false;
        }
}

/* ---- calling the application ---------------------------------------------- */

static void failure_reset(vss_writer *w) {
        w->failure_set = false;
        w->failure = VSS_S_OK;
        w->application_result = VSS_S_OK;
        free(w->application_message);
        w->application_message = NULL;
}

/* The callback of @ctx->event; a NULL callback succeeds (vss_writer_callbacks). */
static bool callback_run(vss_writer *w, event_context *ctx, vss_create_writer_metadata *md) {
        const vss_writer_callbacks *cb = &w->cb;
        vss_writer_components *c = ctx->components;
        void *u = w->userdata;

        switch (ctx->event) {
        case VSS_EVENT_IDENTIFY:
                return !cb->on_identify || cb->on_identify(w, md, u);
        case VSS_EVENT_PREPARE_BACKUP:
                return !cb->on_prepare_backup || cb->on_prepare_backup(w, c, u);
        case VSS_EVENT_PREPARE_SNAPSHOT:
                return !cb->on_prepare_snapshot || cb->on_prepare_snapshot(w, u);
        case VSS_EVENT_FREEZE:
                return !cb->on_freeze || cb->on_freeze(w, u);
        case VSS_EVENT_THAW:
                return !cb->on_thaw || cb->on_thaw(w, u);
        case VSS_EVENT_POST_SNAPSHOT:
                return !cb->on_post_snapshot || cb->on_post_snapshot(w, c, u);
        case VSS_EVENT_ABORT:
                return !cb->on_abort || cb->on_abort(w, u);
        case VSS_EVENT_BACKUP_COMPLETE:
                return !cb->on_backup_complete || cb->on_backup_complete(w, c, u);
        case VSS_EVENT_BACKUP_SHUTDOWN:
                /* VSS passes GUID_NULL when no shadow copy was made: never a NULL pointer. */
                return !cb->on_backup_shutdown || cb->on_backup_shutdown(w, &ctx->in.set_id, u);
        case VSS_EVENT_PRE_RESTORE:
                return !cb->on_pre_restore || cb->on_pre_restore(w, c, u);
        case VSS_EVENT_POST_RESTORE:
                return !cb->on_post_restore || cb->on_post_restore(w, c, u);
        default:
                return true;
        }
}

/* Run the handler with @ctx as the current event; the failure it set stays in @w until the next call. */
static bool handler_call(vss_writer *w, event_context *ctx, vss_create_writer_metadata *md) {
        bool ok;

        failure_reset(w);
        w->current = ctx;
        ok = callback_run(w, ctx, md);
        w->current = NULL;
        return ok;
}

static void deadman_disarm(vss_writer *w) {
        w->deadman = sd_event_source_disable_unref(w->deadman);
}

static void freeze_context_clear(vss_writer *w) {
        w->freeze_volumes = strv_free(w->freeze_volumes);
        w->freeze_context = (event_context) {};
}

/* Remember what an on_abort we call ourselves should see. Best effort: without
 * memory the volumes are left out, the abort itself must still happen. */
static void freeze_context_save(vss_writer *w, const event_context *ctx) {
        char **volumes = NULL;

        for (size_t i = 0; i < ctx->in.n_volumes; i++)
                if (strv_push(&volumes, ctx->in.volumes[i]) < 0) {
                        volumes = strv_free(volumes);
                        break;
                }

        freeze_context_clear(w);
        w->freeze_volumes = volumes;
        w->freeze_context = (event_context) {
                .event = VSS_EVENT_ABORT,
                .session_id = ctx->session_id,
                .in = {
                        .backup_type = ctx->in.backup_type,
                        .select_components = ctx->in.select_components,
                        .bootable_system_state = ctx->in.bootable_system_state,
                        .partial_file_support = ctx->in.partial_file_support,
                        .context = ctx->in.context,
                        .has_restore_type = ctx->in.has_restore_type,
                        .restore_type = ctx->in.restore_type,
                        .has_set_id = ctx->in.has_set_id,
                        .set_id = ctx->in.set_id,
                        .has_volumes = ctx->in.has_volumes,
                        .volumes = (const char **) volumes,
                        .n_volumes = strv_length(volumes),
                },
        };
}

/* on_abort without an Abort event: the deadman fired, lvssd went away, or the
 * application unsubscribes while frozen. Nobody waits for an answer, so a
 * failure the handler sets is dropped. */
static void application_abort(vss_writer *w, const char *why) {
        event_context ctx = w->freeze_context; /* a view: the volumes stay w->freeze_volumes */

        deadman_disarm(w);
        if (w->current)
                return; /* cannot happen: we are only called between handlers */

        writer_log(w, "calling on_abort: %s", why);
        ctx.event = VSS_EVENT_ABORT;
        ctx.components = NULL;
        (void) handler_call(w, &ctx, NULL);
        failure_reset(w);
}

static int on_deadman(sd_event_source *s, uint64_t usec, void *userdata) {
        vss_writer *w = userdata;

        /* Thaw did not come in time: thaw the application ourselves (WS-6). */
        w->freeze = FREEZE_TIMED_OUT;
        application_abort(w, "the freeze timeout expired before Thaw");
        return 0;
}

static int deadman_arm(vss_writer *w, uint64_t deadline) {
        int r;

        deadman_disarm(w);
        r = sd_event_add_time(w->event, &w->deadman, CLOCK_MONOTONIC, deadline, DEADMAN_ACCURACY_USEC, on_deadman,
                              w);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(w->deadman, DEADMAN_PRIORITY);
        if (r < 0) {
                deadman_disarm(w);
                return r;
        }
        (void) sd_event_source_set_description(w->deadman, "lvss-writer-deadman");
        return 0;
}

/* The connection to lvssd is gone: whoever could send Thaw is gone with it. */
static void writer_disconnected(vss_writer *w) {
        if (w->disconnected)
                return;
        w->disconnected = true;

        if (w->freeze == FREEZE_PREPARED || w->freeze == FREEZE_FROZEN) {
                w->freeze = FREEZE_NONE;
                application_abort(w, "the connection to lvssd dropped");
        } else
                w->freeze = FREEZE_NONE;
        deadman_disarm(w);
}

static void writer_check_bus(vss_writer *w) {
        if (w->bus && !w->disconnected && sd_bus_is_open(w->bus) <= 0)
                writer_disconnected(w);
}

/* ---- sessions (WS-3) ------------------------------------------------------ */

static bool session_is_ended(vss_writer *w, const vss_id *id) {
        for (unsigned i = 0; i < w->n_ended_sessions; i++)
                if (vss_id_equal(&w->ended_sessions[i], id))
                        return true;
        return false;
}

static void session_mark_ended(vss_writer *w, const vss_id *id) {
        if (session_is_ended(w, id))
                return;
        /* A short memory is enough: it only keeps a late event of an ended
         * session from passing itself off as the latest session. */
        if (w->n_ended_sessions == ENDED_SESSIONS_MAX) {
                memmove(&w->ended_sessions[0], &w->ended_sessions[1], (ENDED_SESSIONS_MAX - 1) * sizeof(vss_id));
                w->n_ended_sessions--;
        }
        w->ended_sessions[w->n_ended_sessions++] = *id;
}

static void session_note_event(vss_writer *w, const vss_id *id) {
        if (vss_id_is_null(id))
                return; /* an admin Identify (ListWriters) is outside any session */
        if (vss_id_equal(id, &w->session_id)) {
                if (w->session_state == VSS_SESSION_NONE)
                        w->session_state = VSS_SESSION_IN_PROGRESS;
                return;
        }
        if (session_is_ended(w, id))
                return;
        w->session_id = *id;
        w->session_state = VSS_SESSION_IN_PROGRESS;
}

/* ---- org.lvss.Writer1 ----------------------------------------------------- */

static int event_reply(sd_bus_message *call, bool ok, vss_hresult failure, vss_hresult application_result,
                       const char *application_message, const char *metadata, const vss_writer_components *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "biis", (int) ok, (int32_t) failure, (int32_t) application_result,
                                  strempty(application_message));
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        if (metadata) {
                r = sd_bus_message_append(reply, "{sv}", "metadata", "s", metadata);
                if (r < 0)
                        return r;
        }
        if (c) {
                r = lvss_writer_components_append_entry(reply, c);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;

        return sd_bus_send(NULL, reply, NULL);
}

/* The reply for a handler that ran: WS-4. */
static int event_reply_outcome(vss_writer *w, sd_bus_message *call, bool handler_ok, const char *metadata,
                               const vss_writer_components *c) {
        bool ok = handler_ok && !w->failure_set;
        vss_hresult failure = VSS_S_OK;

        if (!ok)
                failure = w->failure_set ? w->failure : VSS_E_WRITERERROR_NONRETRYABLE;
        return event_reply(call, ok, failure, w->application_result, w->application_message, ok ? metadata : NULL,
                           c);
}

/* A failure the library itself produced (not the application's handler). */
static int event_reply_failure(sd_bus_message *call, int error, const char *what) {
        char message[256];

        snprintf(message, sizeof message, "lvss writer library: %s: %s", what, strerror(-error));
        return event_reply(call, false,
                           error == -ENOMEM ? VSS_E_WRITERERROR_OUTOFRESOURCES : VSS_E_WRITERERROR_NONRETRYABLE,
                           VSS_S_OK, message, NULL, NULL);
}

static int event_identify(vss_writer *w, sd_bus_message *call, event_context *ctx) {
        vss_create_writer_metadata *md = NULL;
        _cleanup_(freep) char *xml = NULL;
        bool ok;
        int r;

        r = lvss_wmd_new(&w->instance_id, &w->writer_id, w->writer_name, w->instance_name, w->usage, w->source,
                         &md);
        if (r < 0)
                return event_reply_failure(call, r, "cannot create the writer metadata");

        ok = handler_call(w, ctx, md);
        if (ok) {
                r = lvss_wmd_to_xml(md, &xml);
                if (r < 0) {
                        lvss_wmd_free(md);
                        return event_reply_failure(call, r, "cannot serialise the writer metadata");
                }
        }
        lvss_wmd_free(md);

        return event_reply_outcome(w, call, ok, xml, NULL);
}

static int event_freeze(vss_writer *w, sd_bus_message *call, event_context *ctx) {
        uint64_t deadline;
        bool ok;
        int r;

        /* The window is counted from Freeze's arrival, so a slow on_freeze eats into it. */
        deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) w->freeze_timeout_ms * USEC_PER_MSEC;
        r = deadman_arm(w, deadline);
        if (r < 0)
                /* Without a deadman we must not freeze: refuse before the application holds anything. */
                return event_reply_failure(call, r, "cannot arm the freeze timeout");

        freeze_context_save(w, ctx);
        w->freeze = FREEZE_PREPARED;

        ok = handler_call(w, ctx, NULL);

        /* Even a failed on_freeze may have frozen part of the application; the
         * timer stays armed either way until Abort (WS-7) or Thaw disarms it. */
        w->freeze = FREEZE_FROZEN;
        return event_reply_outcome(w, call, ok, NULL, NULL);
}

static int event_thaw(vss_writer *w, sd_bus_message *call, event_context *ctx) {
        bool ok;

        if (w->freeze == FREEZE_TIMED_OUT) {
                /* on_abort already thawed the application; Thaw is too late to mean anything. */
                w->freeze = FREEZE_NONE;
                /* The code says it all; the application message stays the application's (WS-4). */
                writer_log(w, "Thaw arrived after the freeze timeout (%" PRIu32 " ms)", w->freeze_timeout_ms);
                return event_reply(call, false, VSS_E_WRITERERROR_TIMEOUT, VSS_S_OK, NULL, NULL, NULL);
        }

        deadman_disarm(w);
        w->freeze = FREEZE_NONE;
        ok = handler_call(w, ctx, NULL);
        return event_reply_outcome(w, call, ok, NULL, NULL);
}

static int method_event(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(event_context_done) event_context ctx = {};
        vss_writer *w = userdata;
        uint32_t event;
        bool ok;
        int r;

        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT32, &event);
        if (r < 0)
                return r;
        if (event <= VSS_EVENT_NONE || event >= VSS_EVENT_COUNT)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown event %" PRIu32 ".", event);
        ctx.event = (vss_writer_event) event;

        r = lvss_bus_read_id(m, &ctx.session_id);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "A session id is 16 bytes.");

        r = event_context_read(m, &ctx);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Malformed event context: %s",
                                         strerror(-r));

        if (w->current)
                /* Handlers never nest (sd_event_run refuses inside one); refuse rather than clobber. */
                return sd_bus_error_set(error, SD_BUS_ERROR_FAILED, "The writer is inside a handler.");

        if (event_has_components(ctx.event) && !ctx.components) {
                r = lvss_writer_components_new(ctx.event == VSS_EVENT_BACKUP_COMPLETE, &ctx.components);
                if (r < 0)
                        return r;
        }

        session_note_event(w, &ctx.session_id);
        writer_log(w, "event %s", vss_writer_event_name(ctx.event));

        switch (ctx.event) {
        case VSS_EVENT_IDENTIFY:
                r = event_identify(w, m, &ctx);
                break;

        case VSS_EVENT_PREPARE_SNAPSHOT:
                /* From here until Thaw or Abort, losing lvssd means on_abort. */
                deadman_disarm(w);
                freeze_context_save(w, &ctx);
                w->freeze = FREEZE_PREPARED;
                ok = handler_call(w, &ctx, NULL);
                r = event_reply_outcome(w, m, ok, NULL, NULL);
                break;

        case VSS_EVENT_FREEZE:
                r = event_freeze(w, m, &ctx);
                break;

        case VSS_EVENT_THAW:
                r = event_thaw(w, m, &ctx);
                break;

        case VSS_EVENT_ABORT:
                deadman_disarm(w);
                w->freeze = FREEZE_NONE;
                ok = handler_call(w, &ctx, NULL);
                r = event_reply_outcome(w, m, ok, NULL, NULL);
                break;

        default:
                ok = handler_call(w, &ctx, NULL);
                r = event_reply_outcome(w, m, ok, NULL, event_has_components(ctx.event) ? ctx.components : NULL);
                break;
        }

        failure_reset(w);
        if (r < 0) {
                /* Most likely the connection went away while the handler ran (the
                 * coordinator counts us as not responding then). If the reply
                 * itself could not be built, a bare failure is still better than
                 * silence. */
                writer_log(w, "cannot reply to %s: %s", vss_writer_event_name(ctx.event), strerror(-r));
                if (sd_bus_is_open(w->bus) > 0)
                        (void) event_reply_failure(m, r, "cannot build the reply");
        }
        return 1;
}

static int method_session_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        vss_writer *w = userdata;
        uint32_t state;
        vss_id id;
        int r;

        r = lvss_bus_read_id(m, &id);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "A session id is 16 bytes.");
        r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT32, &state);
        if (r < 0)
                return r;
        if (state > VSS_SESSION_RELEASED)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown session state %" PRIu32 ".",
                                         state);

        if (!vss_id_is_null(&id)) {
                if (state == VSS_SESSION_COMPLETED || state == VSS_SESSION_ABORTED || state == VSS_SESSION_RELEASED)
                        session_mark_ended(w, &id);
                /* Only news about our latest session changes what we report. */
                if (vss_id_equal(&id, &w->session_id) && state != VSS_SESSION_NONE)
                        w->session_state = (vss_writer_session_state) state;
        }

        return sd_bus_reply_method_return(m, NULL);
}

static int match_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        writer_log(userdata, "the connection to lvssd closed");
        writer_disconnected(userdata);
        return 0;
}

static const sd_bus_vtable writer_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Event",
                                SD_BUS_ARGS("u", event, "ay", session_id, "a{sv}", context),
                                SD_BUS_RESULT("b", ok, "i", failure, "i", application_result, "s",
                                              application_message, "a{sv}", out),
                                method_event,
                                0),
        SD_BUS_METHOD_WITH_ARGS("SessionChanged",
                                SD_BUS_ARGS("ay", session_id, "u", state),
                                SD_BUS_NO_RESULT,
                                method_session_changed,
                                0),
        SD_BUS_VTABLE_END,
};

/* ---- the connection -------------------------------------------------------- */

static void bus_teardown(vss_writer *w) {
        deadman_disarm(w);
        /* Slots hold references on the bus: drop them first, or it is never freed. */
        w->object_slot = sd_bus_slot_unref(w->object_slot);
        w->disconnect_slot = sd_bus_slot_unref(w->disconnect_slot);
        if (w->bus) {
                (void) sd_bus_detach_event(w->bus);
                /* No flush: it has no timeout, and a wedged lvssd must not wedge the
                 * application. UnsubscribeWriter, a call, already pushed out what we queued. */
                w->bus = sd_bus_close_unref(w->bus);
        }
        w->disconnected = false;
        w->freeze = FREEZE_NONE;
        freeze_context_clear(w);
        w->instance_id = (vss_id) {};
}

/* The kick only makes the loop's fd readable; dispatching it is the point. */
static int on_kick(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t v;
        ssize_t n;

        n = read(fd, &v, sizeof v);
        (void) n;
        return 0;
}

static void writer_kick(vss_writer *w) {
        uint64_t one = 1;
        ssize_t n;

        n = write(w->kick_fd, &one, sizeof one);
        (void) n;
}

static int on_stop(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        vss_writer *w = userdata;
        uint64_t v;
        ssize_t n;

        n = read(fd, &v, sizeof v); /* reset the counter; EAGAIN is fine */
        (void) n;
        w->stop_requested = true;
        return 0;
}

/* ---- public API ------------------------------------------------------------ */

_public_ vss_hresult vss_writer_initialize(const vss_writer_options *opts, const vss_writer_callbacks *cb,
                                           void *userdata, vss_writer **ret) {
        vss_writer *w;
        int r;

        check_arg(opts, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        check_arg(opts->size >= LVSS_WRITER_OPTIONS_SIZE_V1, VSS_E_INVALIDARG);
        check_arg(!cb || cb->size >= LVSS_WRITER_CALLBACKS_SIZE_V1, VSS_E_INVALIDARG);
        check_arg(opts->writer_name && *opts->writer_name, VSS_E_INVALIDARG);
        check_arg(lvss_utf8_valid(opts->writer_name), VSS_E_INVALIDARG);
        check_arg(!opts->instance_name || lvss_utf8_valid(opts->instance_name), VSS_E_INVALIDARG);
        check_arg(!vss_id_is_null(&opts->writer_id), VSS_E_INVALIDARG);
        check_arg((unsigned) opts->usage <= VSS_UT_OTHER, VSS_E_INVALIDARG);
        check_arg((unsigned) opts->source <= VSS_ST_OTHER, VSS_E_INVALIDARG);
        check_arg((int) opts->level >= VSS_APP_AUTO && (int) opts->level <= VSS_APP_SYSTEM_RM, VSS_E_INVALIDARG);

        w = calloc(1, sizeof *w);
        if (!w)
                return VSS_E_OUTOFMEMORY;
        w->stop_fd = -1;
        w->kick_fd = -1;

        w->writer_id = opts->writer_id;
        w->writer_name = strdup(opts->writer_name);
        if (opts->instance_name && *opts->instance_name)
                w->instance_name = strdup(opts->instance_name);
        if (!w->writer_name || (opts->instance_name && *opts->instance_name && !w->instance_name)) {
                vss_writer_release(w);
                return VSS_E_OUTOFMEMORY;
        }
        w->usage = opts->usage;
        w->source = opts->source;
        w->level = opts->level == VSS_APP_UNKNOWN ? VSS_APP_FRONT_END : opts->level;
        w->freeze_timeout_ms = opts->freeze_timeout_ms ? opts->freeze_timeout_ms : DEFAULT_FREEZE_TIMEOUT_MS;
        if (cb) /* an older caller's smaller table: the handlers it lacks stay NULL (default) */
                lvss_struct_copy_in(&w->cb, sizeof w->cb, cb, cb->size);
        w->userdata = userdata;

        r = sd_event_new(&w->event);
        if (r >= 0) {
                w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (w->stop_fd < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = sd_event_add_io(w->event, &w->stop_source, w->stop_fd, EPOLLIN, on_stop, w);
        if (r >= 0) {
                w->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (w->kick_fd < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = sd_event_add_io(w->event, &w->kick_source, w->kick_fd, EPOLLIN, on_kick, w);
        if (r < 0) {
                vss_writer_release(w);
                return lvss_hresult_from_errno(r);
        }
        (void) sd_event_source_set_description(w->stop_source, "lvss-writer-stop");
        (void) sd_event_source_set_description(w->kick_source, "lvss-writer-kick");

        *ret = w;
        return VSS_S_OK;
}

_public_ vss_writer *vss_writer_release(vss_writer *w) {
        if (!w)
                return NULL;
        if (w->current)
                /* Freeing the writer under its own running handler would crash
                 * the loop on return; leaking it is the lesser harm. */
                return NULL;

        if (w->bus)
                (void) vss_writer_unsubscribe(w);
        bus_teardown(w);
        failure_reset(w);

        w->stop_source = sd_event_source_disable_unref(w->stop_source);
        closep(&w->stop_fd);
        w->kick_source = sd_event_source_disable_unref(w->kick_source);
        closep(&w->kick_fd);
        w->event = sd_event_unref(w->event);
        free(w->writer_name);
        free(w->instance_name);
        free(w);
        return NULL;
}

/*
 * The subscription (issue 11 §5). SubscribeWriterWithEvents is SubscribeWriter
 * with one more argument: the events this writer wants delivered, as bits
 * (1 << event), from lvss_writer_events_wanted(): the rule is there
 * (basic/state.h) and in docs/design.md. lvssd answers every other
 * skippable event itself, as a handler that does nothing would. Only the
 * application's handlers decide it: the library keeps no data of one event
 * for a later one (each event brings its own context), and it always gets
 * the events it acts on itself (Identify, Freeze, Thaw, Abort,
 * BackupShutdown; the session state of WS-3 comes from Identify and
 * SessionChanged, which lvssd sends to every writer of the session). An
 * lvssd that does not know the method answers UnknownMethod; then the old
 * call, and every event comes as before.
 */
static int subscribe_call_new(vss_writer *w, bool declare, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int r;

        r = sd_bus_message_new_method_call(w->bus, &call, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           declare ? "SubscribeWriterWithEvents" : "SubscribeWriter");
        if (r >= 0)
                r = lvss_bus_append_id(call, &w->writer_id);
        if (r >= 0)
                r = sd_bus_message_append(call, "ssuuiu", w->writer_name, strempty(w->instance_name),
                                          (uint32_t) w->usage, (uint32_t) w->source, (int32_t) w->level,
                                          w->freeze_timeout_ms);
        if (r >= 0 && declare)
                r = sd_bus_message_append(call, "u", lvss_writer_events_wanted(&w->cb));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(call);
        return 0;
}

_public_ vss_hresult vss_writer_subscribe(vss_writer *w) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        vss_hresult hr;
        int r;

        check_arg(w, VSS_E_INVALIDARG);
        if (w->bus)
                return VSS_E_WRITER_ALREADY_SUBSCRIBED;
        if (w->current)
                return VSS_E_BAD_STATE;

        r = lvss_bus_connect(NULL, &w->bus);
        if (r < 0) {
                w->bus = NULL;
                writer_log(w, "cannot connect to lvssd: %s", strerror(-r));
                return lvss_bus_error_to_hresult(NULL, r);
        }

        /* Everything must be in place before SubscribeWriter: lvssd may send
         * Identify right after answering it. Calls that arrive while we wait
         * for the answer are queued and dispatched by the loop later. */
        r = sd_bus_attach_event(w->bus, w->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_add_object_vtable(w->bus, &w->object_slot, LVSS_WRITER_PATH, LVSS_WRITER_IFACE,
                                             writer_vtable, w);
        if (r >= 0)
                /* sd-bus synthesizes this locally, peer-to-peer connections included. */
                r = sd_bus_match_signal(w->bus, &w->disconnect_slot, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", match_disconnected, w);
        if (r >= 0)
                r = subscribe_call_new(w, true, &call);
        if (r < 0) {
                bus_teardown(w);
                return lvss_hresult_from_errno(r);
        }

        r = sd_bus_call(w->bus, call, SUBSCRIBE_TIMEOUT_USEC, &error, &reply);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD)) {
                /* An lvssd older than the declaration: subscribe the old way, and get every event. */
                writer_log(w, "lvssd does not know SubscribeWriterWithEvents: every event will be delivered");
                sd_bus_error_free(&error);
                call = sd_bus_message_unref(call);
                r = subscribe_call_new(w, false, &call);
                if (r < 0) {
                        bus_teardown(w);
                        return lvss_hresult_from_errno(r);
                }
                r = sd_bus_call(w->bus, call, SUBSCRIBE_TIMEOUT_USEC, &error, &reply);
        }
        if (r < 0) {
                hr = lvss_bus_error_to_hresult(&error, r);
                writer_log(w, "SubscribeWriter failed: %s (%s)", error.message ?: strerror(-r),
                           strempty(vss_hresult_name(hr)));
                bus_teardown(w);
                return hr;
        }
        r = lvss_bus_read_id(reply, &w->instance_id);
        if (r < 0) {
                bus_teardown(w);
                return r == -ENOMEM ? VSS_E_OUTOFMEMORY : VSS_E_UNEXPECTED;
        }

        w->disconnected = false;
        w->stop_requested = false;

        /* sd-bus starts watching its socket only when the loop first runs, and
         * sd_bus_call() may already have queued calls that arrived meanwhile:
         * make the fd readable so an application that polls before its first
         * vss_writer_process() is not left waiting forever. */
        writer_kick(w);
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_unsubscribe(vss_writer *w) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        int r;

        check_arg(w, VSS_E_INVALIDARG);
        if (w->current)
                return VSS_E_BAD_STATE; /* the loop is inside our handler: see vss_writer_release() */
        if (!w->bus)
                return VSS_E_BAD_STATE;

        writer_check_bus(w);
        if (w->freeze == FREEZE_PREPARED || w->freeze == FREEZE_FROZEN) {
                w->freeze = FREEZE_NONE;
                application_abort(w, "the writer unsubscribes");
        }

        if (!w->disconnected) {
                /* Polite, not required: lvssd treats a closed connection the same way. */
                r = sd_bus_message_new_method_call(w->bus, &call, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                                   "UnsubscribeWriter");
                if (r >= 0)
                        r = sd_bus_call(w->bus, call, UNSUBSCRIBE_TIMEOUT_USEC, NULL, NULL);
                if (r < 0)
                        writer_log(w, "UnsubscribeWriter failed: %s", strerror(-r));
        }

        bus_teardown(w);
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_get_instance_id(vss_writer *w, vss_id *ret) {
        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        if (!w->bus)
                return VSS_E_BAD_STATE;

        *ret = w->instance_id;
        return VSS_S_OK;
}

_public_ int vss_writer_get_fd(vss_writer *w) {
        if (!w || !w->bus)
                return -1;
        return sd_event_get_fd(w->event);
}

_public_ vss_hresult vss_writer_process(vss_writer *w) {
        int r;

        check_arg(w, VSS_E_INVALIDARG);
        if (w->current || !w->bus)
                return VSS_E_BAD_STATE;

        /* Until an iteration finds nothing: the last, empty one also re-arms
         * the timers behind the fd, so polling it afterwards is enough. */
        for (;;) {
                r = sd_event_run(w->event, 0);
                if (r < 0)
                        return lvss_hresult_from_errno(r);
                if (r == 0)
                        break;
        }

        writer_check_bus(w);
        return w->disconnected ? VSS_E_WRITER_INFRASTRUCTURE : VSS_S_OK;
}

_public_ vss_hresult vss_writer_run(vss_writer *w) {
        int r;

        check_arg(w, VSS_E_INVALIDARG);
        if (w->current || !w->bus)
                return VSS_E_BAD_STATE;

        /* A stop() that came before run() and is still in the eventfd is seen
         * in the first iteration; one already consumed by process() is not. */
        w->stop_requested = false;
        for (;;) {
                writer_check_bus(w);
                if (w->disconnected)
                        return VSS_E_WRITER_INFRASTRUCTURE;
                if (w->stop_requested)
                        return VSS_S_OK;

                r = sd_event_run(w->event, UINT64_MAX);
                if (r < 0)
                        return lvss_hresult_from_errno(r);
        }
}

_public_ void vss_writer_stop(vss_writer *w) {
        uint64_t one = 1;
        int saved_errno = errno;
        ssize_t n;

        /* Only a write(2) to an fd that lives as long as the writer: async-signal-safe. */
        if (w && w->stop_fd >= 0) {
                n = write(w->stop_fd, &one, sizeof one);
                (void) n;
        }
        errno = saved_errno;
}

static bool writer_failure_allowed(vss_hresult hr) {
        switch (hr) {
        case VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT:
        case VSS_E_WRITERERROR_NONRETRYABLE:
        case VSS_E_WRITERERROR_OUTOFRESOURCES:
        case VSS_E_WRITERERROR_RETRYABLE:
        case VSS_E_WRITERERROR_TIMEOUT:
                return true;
        default:
                return false;
        }
}

/* A failure while repairing an auto-recovery copy (issue 9 part 2): only in
 * PostSnapshot, where the copy is writable; refused like any other code elsewhere. */
static bool writer_failure_allowed_now(vss_writer *w, vss_hresult hr) {
        return writer_failure_allowed(hr) || (hr == VSS_E_WRITERERROR_RECOVERY_FAILED && w->current &&
                                              w->current->event == VSS_EVENT_POST_SNAPSHOT);
}

_public_ vss_hresult vss_writer_set_failure(vss_writer *w, vss_hresult hr) {
        check_arg(w, VSS_E_INVALIDARG);
        check_arg(writer_failure_allowed_now(w, hr), VSS_E_INVALIDARG);
        if (!w->current || w->current->event == VSS_EVENT_IDENTIFY)
                return VSS_E_BAD_STATE;

        failure_reset(w);
        w->failure_set = true;
        w->failure = hr;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_set_failure_ex(vss_writer *w, vss_hresult hr, vss_hresult application_result,
                                               const char *application_message) {
        char *message = NULL;

        check_arg(w, VSS_E_INVALIDARG);
        check_arg(hr == VSS_S_OK || hr == VSS_E_WRITERERROR_PARTIAL_FAILURE || writer_failure_allowed_now(w, hr),
                  VSS_E_INVALIDARG);
        check_arg(!application_message || lvss_utf8_valid(application_message), VSS_E_INVALIDARG);
        if (!w->current || w->current->event == VSS_EVENT_IDENTIFY)
                return VSS_E_BAD_STATE;

        if (application_message && *application_message) {
                message = strdup(application_message);
                if (!message)
                        return VSS_E_OUTOFMEMORY;
        }

        failure_reset(w);
        /* S_OK reports an application result without failing the event. */
        w->failure_set = hr != VSS_S_OK;
        w->failure = hr;
        w->application_result = application_result;
        w->application_message = message;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_get_session_id(vss_writer *w, vss_id *ret) {
        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        if (!w->current)
                return VSS_E_BAD_STATE;

        *ret = w->current->session_id;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_get_current_snapshot_set_id(vss_writer *w, vss_id *ret) {
        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        if (!w->current)
                return VSS_E_BAD_STATE;

        *ret = w->current->in.set_id;
        return VSS_S_OK;
}

_public_ unsigned vss_writer_get_current_volume_count(vss_writer *w) {
        /* a list in one D-Bus message is far below UINT_MAX entries */
        return w && w->current ? (unsigned) w->current->in.n_volumes : 0;
}

_public_ const char *vss_writer_get_current_volume(vss_writer *w, unsigned index) {
        if (!w || !w->current || index >= w->current->in.n_volumes)
                return NULL;
        return w->current->in.volumes[index];
}

_public_ vss_backup_type vss_writer_get_backup_type(vss_writer *w) {
        return w && w->current ? (vss_backup_type) w->current->in.backup_type : VSS_BT_UNDEFINED;
}

_public_ vss_restore_type vss_writer_get_restore_type(vss_writer *w) {
        return w && w->current ? (vss_restore_type) w->current->in.restore_type : VSS_RTYPE_UNDEFINED;
}

_public_ bool vss_writer_are_components_selected(vss_writer *w) {
        return w && w->current && w->current->in.select_components;
}

_public_ bool vss_writer_is_path_affected(vss_writer *w, const char *path) {
        if (!w || !w->current || !path)
                return false;

        for (size_t i = 0; i < w->current->in.n_volumes; i++)
                if (path_within(path, w->current->in.volumes[i]))
                        return true;
        return false;
}

_public_ vss_hresult vss_writer_get_snapshot_path(vss_writer *w, const char *volume, const char **ret) {
        check_arg(w, VSS_E_INVALIDARG);
        check_arg(volume, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        if (!w->current)
                return VSS_E_BAD_STATE;

        for (size_t i = 0; i < w->current->in.n_snapshot_paths; i++)
                if (path_equal(volume, w->current->in.snapshot_paths[i].volume)) {
                        *ret = w->current->in.snapshot_paths[i].snapshot_path;
                        return VSS_S_OK;
                }
        return VSS_E_OBJECT_NOT_FOUND;
}

/* What the writer can see of the snapshot (issue 9 part 1): only while a
 * handler runs for an event lvssd sent it with (PrepareForSnapshot on). */
static vss_hresult snapshot_kind_check(vss_writer *w) {
        if (!w->current || !w->current->in.has_snapshot_kind)
                return VSS_E_BAD_STATE;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_get_snapshot_volume_count(vss_writer *w, unsigned *ret) {
        vss_hresult hr;

        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        hr = snapshot_kind_check(w);
        if (VSS_FAILED(hr))
                return hr;
        *ret = (unsigned) w->current->in.n_snapshot_volumes;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_get_snapshot_volume(vss_writer *w, unsigned index, const char **ret_volume,
                                                    const char **ret_provider, bool *ret_atomic) {
        vss_hresult hr;

        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret_volume || ret_provider || ret_atomic, VSS_E_INVALIDARG);
        hr = snapshot_kind_check(w);
        if (VSS_FAILED(hr))
                return hr;
        if (index >= w->current->in.n_snapshot_volumes)
                return VSS_E_INVALIDARG;
        if (ret_volume)
                *ret_volume = w->current->in.snapshot_volumes[index].volume;
        if (ret_provider)
                *ret_provider = w->current->in.snapshot_volumes[index].provider;
        if (ret_atomic)
                *ret_atomic = w->current->in.snapshot_volumes[index].atomic;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_is_set_atomic(vss_writer *w, bool *ret) {
        vss_hresult hr;

        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        hr = snapshot_kind_check(w);
        if (VSS_FAILED(hr))
                return hr;
        *ret = w->current->in.set_atomic;
        return VSS_S_OK;
}

_public_ vss_hresult vss_writer_is_auto_recovery(vss_writer *w, bool *ret) {
        vss_hresult hr;

        check_arg(w, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        hr = snapshot_kind_check(w);
        if (VSS_FAILED(hr))
                return hr;
        *ret = w->current->in.auto_recovery;
        return VSS_S_OK;
}

_public_ vss_writer_session_state vss_writer_get_session_state(vss_writer *w) {
        return w ? w->session_state : VSS_SESSION_NONE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The fan-out: one event, many writers, all at once.
 *
 * Every target gets its own asynchronous Writer1.Event call whose sd-bus
 * timeout is the event's deadline (Identify: --identify-timeout; Freeze: the
 * writer's own freeze timeout; everything else: --event-timeout). Nothing
 * waits on anything: each reply (or sd-bus's own "no reply" error when the
 * deadline passes or the connection drops) lands in reply_handler, which
 * records the outcome in the target. When the last answer is in, the done
 * callback runs right there, in the loop's dispatch of that answer. When the
 * event ends without an answer to wait for (inside fanout_start(): every
 * target failed at once or was answered by lvssd; inside the registry's
 * teardown of a writer that went: target_forget_writer()), done runs from a
 * defer source instead, so that callers never see it re-entered from inside
 * their own call. A hung writer therefore costs the step exactly its deadline
 * and delays no other writer's event (WS-5).
 *
 * A writer that answers, but not as Writer1.Event must (another signature,
 * a malformed "out" dictionary), answered: it fails the event with
 * VSS_E_UNEXPECTED_WRITER_ERROR, not as not responding, and the target keeps
 * a note saying what it sent. An Identify answer whose metadata document does
 * not load, or names another writer than the one that sent it, fails with
 * VSS_E_INVALID_XML_DOCUMENT here too, so that a session and the admin view
 * (ListWriters) judge it alike (issue 8 item 7).
 *
 * A writer that declared at SubscribeWriterWithEvents that it does not handle
 * the event (issue 11 §5; lvss_event_delivered(), basic/state.h) is not sent
 * it: lvssd answers for it at once, as its library would for a handler that
 * is not set (ok, no failure, duration 0; the state table moves it as for
 * any success, WS-4), and the target says so (answered_by_lvssd, shown in
 * the admin view and the history rows, WS-9). The done callback runs from
 * the defer source when every target is answered that way.
 *
 * What a writer is told with the event, and what it writes back on its
 * components, stay plain data on the caller's side (issue 11 §2: the layers
 * run one way, and D-Bus stays here): FanoutOps.context fills an
 * lvss_event_context for each target, which target_send() packs at once
 * (protocol/event-context.h), and each component of an answer's
 * out["components"] is read here (protocol/component-wire.h) and handed to
 * FanoutOps.out_component, once the whole list was found well formed.
 *
 * A writer that already missed a deadline in this session is not waited on
 * again: it still gets the event (an Abort it may act on when it wakes up),
 * sent without expecting a reply, and its status stays as it failed. So no
 * requester call ever spends a second deadline on the same silent writer.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <lvss/writer.h>

#include "basic/bounded.h"
#include "basic/state.h"
#include "manager.h"
#include "connection.h"
#include "fanout.h"
#include "registry.h"
#include "protocol/protocol.h"

uint64_t fanout_deadline_usec(Manager *m, vss_writer_event e, const Writer *w) {
        switch (e) {
        case VSS_EVENT_IDENTIFY:
                return m->cfg.identify_timeout_usec;
        case VSS_EVENT_FREEZE:
                return (uint64_t) (w && w->freeze_timeout_ms ? w->freeze_timeout_ms : 60000) * USEC_PER_MSEC;
        default:
                return m->cfg.event_timeout_usec;
        }
}

/* The event is over: the caller's done, which may free @f, then its rows to the catalog. */
static void fanout_run_done(Fanout *f) {
        Manager *m = f->m;
        vss_id session_id = f->session_id;
        bool ends_window = f->event == VSS_EVENT_THAW || f->event == VSS_EVENT_ABORT;

        /* Act first: the step's end (StepFinished, the next phase) goes out before the catalog
         * thread is woken (issue 11 §5: that wake-up, a system call and a CPU taken, was on the way
         * of every event's answer). The outcomes of this event go to the catalog together, but not
         * while any session's writers are frozen (manager.h): the catalog thread would take a CPU
         * from the commit. A Freeze's rows, and any others queued in the window, wait for the
         * fan-out that ends it: the session's Thaw or Abort, done here, ends its window, and the
         * last window's end writes them (manager_writers_frozen(), which finds no session when done
         * freed it: it said so itself then). Whoever waits for rows sooner forces them
         * (GetRecordStatus, a session's end, lvssd's stop). */
        if (f->done)
                f->done(f, f->userdata);
        if (ends_window)
                manager_writers_frozen(m, &session_id, false);
        manager_flush_history(m);
}

static int fanout_dispatch_done(sd_event_source *s, void *userdata) {
        Fanout *f = userdata;

        f->done_scheduled = false;
        fanout_run_done(f);
        return 0;
}

/*
 * The defer source exists from fanout_start() on, switched off: scheduling
 * the done callback only switches it on, which needs no memory, so there is
 * no error path on which done would have to run from within the caller
 * (issue 11 §4: it used to run synchronously when the source could not be
 * added, inside fanout_start() when every target failed at once).
 */
static void fanout_maybe_done(Fanout *f) {
        int r;

        if (f->n_outstanding > 0 || f->done_scheduled)
                return;
        r = sd_event_source_set_enabled(f->defer, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* Only once the loop has finished: nothing runs any more then. */
                log_msg("%s: cannot schedule the end of the event: %s", vss_writer_event_name(f->event),
                        strerror(-r));
                return;
        }
        f->done_scheduled = true;
}

static void target_finish(Target *t, bool ok, vss_hresult failure) {
        Fanout *f = t->f;

        if (t->done)
                return;
        t->done = true;
        t->ok = ok;
        t->failure = ok ? VSS_S_OK : failure;
        /* answered by lvssd (issue 11 §5): nobody was asked, it took no time */
        t->duration_usec = t->answered_by_lvssd ? 0 : now_usec(CLOCK_MONOTONIC) - t->sent_mono;
        t->slot = sd_bus_slot_unref(t->slot);
        /* A late answer to an event the entry no longer waits for (a newer
         * event went out meanwhile) must not overwrite the newer status. */
        /* issue 11 §2: the caller's layer records the result (a session: its status entry) */
        if (f->ops && f->ops->result)
                f->ops->result(f, t, f->userdata);
        if (f->n_outstanding > 0)
                f->n_outstanding--;
}

static void target_note(Target *t, const char *fmt, ...) _printf_(2, 3);
static void target_note(Target *t, const char *fmt, ...) {
        va_list ap;
        char *n = NULL;

        va_start(ap, fmt);
        if (vasprintf(&n, fmt, ap) < 0)
                n = NULL;
        va_end(ap);
        free(t->note);
        t->note = n;
}

static const char *target_writer_name(const Target *t) {
        const char *name = NULL;

        if (t->writer)
                return t->writer->name;
        if (t->f->ops && t->f->ops->name)
                name = t->f->ops->name(t, t->f->userdata);
        return name ? name : "?";
}

/* "" or " (session {…})", for log lines about a target. */
static const char *fanout_session_text(const Fanout *f, char buf[static VSS_ID_STRING_MAX + 16]) {
        char id[VSS_ID_STRING_MAX];

        if (vss_id_is_null(&f->session_id))
                return "";
        vss_id_format(&f->session_id, id);
        snprintf(buf, VSS_ID_STRING_MAX + 16, " (session %s)", id);
        return buf;
}

/* Identify: the document must load and name the writer that sent it. 0, or a
 * negative errno with t->note set. */
static int check_identify_metadata(Target *t) {
        vss_examine_writer_metadata *md = NULL;
        char got_i[VSS_ID_STRING_MAX], got_w[VSS_ID_STRING_MAX];
        vss_id iid, wid;
        vss_hresult hr;
        int r = 0;

        if (!t->writer)
                return 0; /* gone meanwhile: nothing to compare with */
        if (!t->metadata) {
                target_note(t, "answered Identify without a metadata document");
                return -EBADMSG;
        }
        hr = vss_examine_writer_metadata_load_xml(t->metadata, &md);
        if (hr == VSS_E_OUTOFMEMORY)
                return -ENOMEM;
        if (hr != VSS_S_OK) {
                target_note(t, "answered Identify with a document that is not valid writer metadata (%zu bytes)",
                            strlen(t->metadata));
                return -EBADMSG;
        }
        hr = vss_examine_writer_metadata_get_identity(md, &iid, &wid, NULL, NULL, NULL, NULL);
        if (hr != VSS_S_OK) {
                target_note(t, "answered Identify with a metadata document without an identity");
                r = -EBADMSG;
        } else if (!vss_id_equal(&iid, &t->writer->instance_id) || !vss_id_equal(&wid, &t->writer->writer_id)) {
                vss_id_format(&iid, got_i);
                vss_id_format(&wid, got_w);
                target_note(t, "answered Identify with the metadata of another writer (class %s, instance %s)",
                            got_w, got_i);
                r = -EBADMSG;
        }
        vss_examine_writer_metadata_release(md);
        return r;
}

/* One component of the answer's out["components"]: the caller's layer merges it (a session: into its
 * Backup Components Document). */
static int target_out_component(const lvss_wire_component *c, void *userdata) {
        Target *t = userdata;

        return t->f->ops->out_component(t->f, t, c, t->f->userdata);
}

static int parse_reply(Target *t, sd_bus_message *reply) {
        int ok = 0, r;
        int32_t failure = 0, app_result = 0;
        const char *app_message = NULL;

        r = sd_bus_message_read(reply, "biis", &ok, &failure, &app_result, &app_message);
        if (r < 0)
                return r;
        t->application_result = app_result;
        free(t->application_message);
        t->application_message = NULL;
        if (app_message && *app_message) {
                /* Cut once, here where it enters: the status table, the admin view,
                 * the log and the catalog all see the bounded copy (issue 8). */
                t->application_message = lvss_strdup_bounded(app_message, LVSS_MESSAGE_MAX);
                if (!t->application_message)
                        return -ENOMEM;
        }

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return r;
                if (streq_ptr(key, "metadata")) {
                        const char *xml;
                        r = sd_bus_message_read(reply, "v", "s", &xml);
                        if (r < 0)
                                return r;
                        free(t->metadata);
                        t->metadata = strdup(xml);
                        if (!t->metadata)
                                return -ENOMEM;
                } else if (streq_ptr(key, LVSS_CW_ENTRY) && t->peer && t->f->ops && t->f->ops->out_component) {
                        /* what the writer set on its components, one by one to the caller's layer */
                        r = lvss_component_wire_read_list(reply, target_out_component, t);
                        if (r < 0)
                                return r;
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;

        if (!ok && failure == 0)
                failure = VSS_E_WRITERERROR_NONRETRYABLE;
        if (ok)
                failure = 0;
        t->failure = failure;
        return ok;
}

/*
 * Reads an answer into @t: 1 the writer succeeded, 0 it failed the event
 * (t->failure), or a negative errno when the answer itself is wrong: then
 * *@ret_failure is the code the event fails with and t->note says why.
 */
static int read_answer(Fanout *f, Target *t, sd_bus_message *reply, vss_hresult *ret_failure) {
        const char *sig = sd_bus_message_get_signature(reply, true);
        const char *event = vss_writer_event_name(f->event);
        int r;

        if (!streq_ptr(sig, LVSS_EVENT_REPLY_SIGNATURE)) {
                target_note(t, "answered %s with signature '%s', expected '%s'", event, strempty(sig),
                            LVSS_EVENT_REPLY_SIGNATURE);
                *ret_failure = VSS_E_UNEXPECTED_WRITER_ERROR;
                return -EBADMSG;
        }
        r = parse_reply(t, reply);
        if (r >= 0 && f->event == VSS_EVENT_IDENTIFY && r > 0) {
                r = check_identify_metadata(t);
                if (r == -EBADMSG) {
                        *ret_failure = VSS_E_INVALID_XML_DOCUMENT;
                        return r;
                }
                if (r >= 0)
                        return 1;
        }
        if (r == -ENOMEM) {
                target_note(t, "sent an answer lvssd could not read (out of memory)");
                *ret_failure = VSS_E_OUTOFMEMORY;
        } else if (r < 0) {
                target_note(t, "answered %s with a malformed reply: %s", event, strerror(-r));
                *ret_failure = VSS_E_UNEXPECTED_WRITER_ERROR;
        }
        return r;
}

static int reply_handler(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Target *t = userdata;
        Fanout *f = t->f;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        if (e) {
                /* Deadline passed, connection dropped, or the writer's library
                 * refused the call: all of them mean the writer did not answer. */
                log_msg("%s: writer '%s' did not answer: %s", vss_writer_event_name(f->event),
                        t->writer ? t->writer->name : "?", e->message ? e->message : e->name);
                target_finish(t, false, VSS_E_WRITER_NOT_RESPONDING);
        } else {
                vss_hresult failure = 0;
                char sbuf[VSS_ID_STRING_MAX + 16];

                r = read_answer(f, t, reply, &failure);
                if (r < 0) {
                        log_msg("%s: writer '%s'%s %s", vss_writer_event_name(f->event), target_writer_name(t),
                                fanout_session_text(f, sbuf), strempty(t->note));
                        target_finish(t, false, failure);
                } else
                        target_finish(t, r > 0, t->failure);
        }

        /* The last answer ends the event here, not one loop iteration later through the defer
         * source (issue 11 §5: one epoll_wait less per event; at Freeze, inside the freeze window).
         * This is the loop's own dispatch of the writer's connection, never the caller's call:
         * sd_bus_process() runs only from the connection's io source, and from the bounded flush of
         * a connection being freed, whose targets connection_hooks->gone() finished first (their
         * slots unref'd, so no reply of theirs comes here). done may free @f: nothing after it. */
        if (f->n_outstanding == 0 && !f->done_scheduled) {
                fanout_run_done(f);
                return 0;
        }
        fanout_maybe_done(f);
        return 0;
}

static bool target_silent(Target *t) {
        return t->f->ops && t->f->ops->silent && t->f->ops->silent(t->f, t, t->f->userdata);
}

/* The writer declared it does not handle this event (issue 11 §5): lvssd answers for it. */
static bool target_skipped(const Target *t) {
        return t->writer && !lvss_event_delivered(t->writer->handled_events, t->f->event);
}

static int target_send(Fanout *f, Target *t) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        bool silent = target_silent(t);
        sd_bus *bus;
        int r;

        if (!t->writer || !t->writer->client || t->writer->client->disconnected)
                return -ENOTCONN;
        bus = t->writer->client->bus;

        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_WRITER_PATH, LVSS_WRITER_IFACE, "Event");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "u", (uint32_t) f->event);
        if (r < 0)
                return r;
        r = lvss_bus_append_id(m, &f->session_id);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (f->ops && f->ops->context) {
                /* issue 11 §2: the caller's layer says what the writer is told, as plain data; packed here */
                _cleanup_(lvss_event_context_done) lvss_event_context ctx = {};

                r = f->ops->context(f, t, &ctx, f->userdata);
                if (r >= 0)
                        r = lvss_event_context_append(m, &ctx);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;

        if (silent) {
                r = sd_bus_message_set_expect_reply(m, false);
                if (r >= 0)
                        r = sd_bus_send(bus, m, NULL);
        } else
                r = sd_bus_call_async(bus, &t->slot, m, reply_handler, t,
                                      fanout_deadline_usec(f->m, f->event, t->writer));
        connection_bus_changed(f->m, bus); /* the call's deadline, and what is left to write */
        return r;
}

int fanout_start(Manager *m, vss_writer_event event, const vss_id *session_id, Writer **writers, void **peers,
                 size_t n, const FanoutOps *ops, fanout_done_t done, void *userdata, Fanout **ret) {
        Fanout *f;
        int r;

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->targets = calloc(n ? n : 1, sizeof *f->targets);
        if (!f->targets) {
                free(f);
                return -ENOMEM;
        }
        r = sd_event_add_defer(m->event, &f->defer, fanout_dispatch_done, f);
        if (r >= 0)
                r = sd_event_source_set_enabled(f->defer, SD_EVENT_OFF);
        if (r < 0) {
                sd_event_source_disable_unref(f->defer);
                free(f->targets);
                free(f);
                return r;
        }
        f->m = m;
        f->event = event;
        f->session_id = session_id ? *session_id : (vss_id) {};
        f->n_targets = n;
        f->ops = ops;
        f->done = done;
        f->userdata = userdata;
        *ret = f;
        /* issue 11 §5: the session's freeze window begins before any writer can be frozen */
        if (event == VSS_EVENT_FREEZE)
                manager_writers_frozen(m, &f->session_id, true);

        /* First mark every target as sent, so that the status shows the event
         * in progress for all of them before any reply can arrive. */
        uint64_t sent = now_usec(CLOCK_REALTIME), mono = now_usec(CLOCK_MONOTONIC);
        size_t n_by_lvssd = 0;
        for (size_t i = 0; i < n; i++) {
                Target *t = &f->targets[i];
                t->f = f;
                t->writer = writers[i];
                t->peer = peers ? peers[i] : NULL;
                t->sent_usec = sent;
                t->sent_mono = mono;
                if (target_silent(t))
                        continue; /* not waited on: see above */
                if (ops && ops->sent)
                        ops->sent(f, t, userdata);
                f->n_outstanding++;
        }

        for (size_t i = 0; i < n; i++) {
                Target *t = &f->targets[i];
                bool silent = target_silent(t);
                if (!silent && target_skipped(t)) {
                        t->answered_by_lvssd = true;
                        target_finish(t, true, VSS_S_OK);
                        n_by_lvssd++;
                        continue;
                }
                r = target_send(f, t);
                if (silent) {
                        /* Done at once, not ok: it gave no answer; its entry keeps the failure it has. */
                        t->done = true;
                        t->failure = VSS_E_WRITER_NOT_RESPONDING;
                        continue;
                }
                if (r < 0) {
                        log_msg("%s: cannot reach writer '%s': %s", vss_writer_event_name(event), target_writer_name(t),
                                strerror(-r));
                        target_finish(t, false, VSS_E_WRITER_NOT_RESPONDING);
                }
        }

        if (n_by_lvssd > 0) {
                char sbuf[VSS_ID_STRING_MAX + 16];
                log_msg("%s%s: answered by lvssd for %zu writer%s that do%s not handle it", vss_writer_event_name(event),
                        fanout_session_text(f, sbuf), n_by_lvssd, n_by_lvssd == 1 ? "" : "s",
                        n_by_lvssd == 1 ? "es" : "");
        }
        fanout_maybe_done(f);
        return 0;
}

void target_forget_writer(Fanout *f, Writer *w) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n_targets; i++) {
                Target *t = &f->targets[i];
                if (t->writer != w)
                        continue;
                target_finish(t, false, VSS_E_WRITER_NOT_RESPONDING);
                t->writer = NULL;
        }
        fanout_maybe_done(f);
}

Fanout *fanout_free(Fanout *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_targets; i++) {
                Target *t = &f->targets[i];
                sd_bus_slot_unref(t->slot);
                free(t->application_message);
                free(t->metadata);
                free(t->note);
        }
        sd_event_source_disable_unref(f->defer);
        free(f->targets);
        free(f);
        return NULL;
}

Fanout *fanout_cancel(Fanout *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_targets; i++) {
                Target *t = &f->targets[i];
                if (t->done)
                        continue;
                t->done = true;
                t->slot = sd_bus_slot_unref(t->slot);
                t->duration_usec = now_usec(CLOCK_MONOTONIC) - t->sent_mono;
                if (f->ops && f->ops->dropped)
                        f->ops->dropped(f, t, f->userdata);
        }
        return fanout_free(f);
}

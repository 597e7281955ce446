/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The requester side of liblvss (IVssBackupComponents).
 *
 * Identity: one vss_backup_components is one connection to lvssd is one
 * session. vss_create_backup_components() connects and calls
 * Coordinator1.OpenSession; every later call goes to Session1 on that same
 * connection, which is how the coordinator knows the session (no session id
 * travels), and why a requester that dies takes its session with it (WS-13).
 * Releasing the object calls Session1.Release (BackupShutdown to the writers)
 * and closes the connection.
 *
 * Async model: the steps that involve writers (GatherWriterMetadata,
 * PrepareForBackup, DoSnapshotSet, BackupComplete, PreRestore, PostRestore)
 * are started by a plain call, which the coordinator answers at once: an
 * out-of-order or refused step fails right there and changes nothing
 * (WS-11). The step then ends with the Session1.StepFinished signal;
 * on_step_finished() stores the outcome in the vss_async (and, for
 * GatherWriterMetadata, fetches the documents with GetWriterMetadata)
 * whenever the connection is next processed. There are no threads here: the
 * connection moves only inside our calls.
 * vss_async_wait() blocks in sd_bus_wait(); every other call only dispatches
 * what has already arrived, so a step whose handle was released still
 * finishes. At most one step is pending per object (WS-11): bc->pending.
 * GatherWriterStatus never waits on a writer (WS-8), so it is a plain call
 * and its vss_async is finished when handed out.
 *
 * Lifetimes: a vss_async holds a reference on its object, and the object
 * holds one on its pending step, so either may be released first. Releasing
 * the object ends the session there and then (a pending step is cancelled
 * and waited for first, because the coordinator refuses Release while a step
 * runs); a vss_async that outlives the object answers from what it stored.
 *
 * Threads: the object belongs to one thread at a time (WS-10). Every call
 * takes bc->lock with trylock, so a second thread gets VSS_E_BAD_STATE rather
 * than racing on the sd_bus, which is not thread-safe. Only release blocks on
 * the lock: it cannot fail, and it must not free the object under a call
 * still running on another thread.
 */

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <systemd/sd-bus.h>

#include <lvss/backup.h>

#include "basic/abi.h"
#include "basic/utf8.h"
#include "basic/util.h"
#include "protocol/protocol.h"
#include "writer-components.h"

typedef struct writer_metadata {
        vss_id instance_id;
        vss_examine_writer_metadata *md; /* owned */
} writer_metadata;

typedef struct writer_status {
        vss_writer_status status; /* its strings point to the owned copies below */
        char *writer_name;
        char *instance_name;       /* NULL: none */
        char *application_message; /* NULL: none */
} writer_status;

/* What a successful reply leaves in the object; the result becomes the step's. */
typedef vss_hresult (*step_take_t)(vss_backup_components *bc, sd_bus_message *reply);

struct vss_async {
        atomic_uint n_ref;
        vss_backup_components *bc; /* a reference */
        step_take_t take;          /* NULL: the step leaves nothing to fetch */
        bool done;                 /* !done <=> bc->pending == this */
        bool cancel_sent;
        vss_hresult result;        /* when done: VSS_S_OK, VSS_S_ASYNC_CANCELLED or the failure */
};

struct vss_backup_components {
        atomic_uint n_ref;
        pthread_mutex_t lock; /* held for the length of every call (WS-10) */
        sd_bus *bus;          /* NULL once the session ended */
        vss_id session_id;
        vss_async *pending;   /* the running step (a reference), or NULL */

        bool metadata_requested; /* GatherWriterMetadata went out: once per object */
        bool metadata_ready;
        writer_metadata *metadata;
        unsigned n_metadata;

        bool status_ready;
        writer_status *status;
        unsigned n_status;

        /* GetWriterComponentsCount's reading of the document */
        bool components_ready;
        vss_writer_components **components;
        unsigned n_components;
        vss_id document_set_id;
        bool document_select_components;
        vss_backup_type document_backup_type;
};

/* ---- small helpers ------------------------------------------------------ */

/*
 * D-Bus strings must be valid UTF-8 and sd-bus refuses to build a message
 * otherwise, with an errno that would read as an internal failure. Checking
 * first (basic/utf8.h: sd-bus's rule) turns it into VSS_E_INVALIDARG.
 */
static bool string_is_valid(const char *s) {
        return lvss_utf8_valid(s);
}

static bool string_is_valid_or_null(const char *s) {
        return !s || string_is_valid(s);
}

/* Make room for @need elements in *@p (allocated for *@allocated). */
static int array_reserve(void **p, size_t *allocated, size_t need, size_t size) {
        size_t n;
        void *q;

        if (need <= *allocated)
                return 0;
        n = need < 8 ? 8 : need * 2;
        q = reallocarray(*p, n, size);
        if (!q)
                return -ENOMEM;
        *p = q;
        *allocated = n;
        return 0;
}

static void metadata_free(writer_metadata *list, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                vss_examine_writer_metadata_release(list[i].md);
        free(list);
}

static void status_free(writer_status *list, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                free(list[i].writer_name);
                free(list[i].instance_name);
                free(list[i].application_message);
        }
        free(list);
}

static void bc_clear_metadata(vss_backup_components *bc) {
        metadata_free(bc->metadata, bc->n_metadata);
        bc->metadata = NULL;
        bc->n_metadata = 0;
        bc->metadata_ready = false;
}

static void bc_clear_status(vss_backup_components *bc) {
        status_free(bc->status, bc->n_status);
        bc->status = NULL;
        bc->n_status = 0;
        bc->status_ready = false;
}

static void bc_clear_components(vss_backup_components *bc) {
        lvss_writer_components_array_free(bc->components, bc->n_components);
        bc->components = NULL;
        bc->n_components = 0;
        bc->components_ready = false;
}

/* ---- references --------------------------------------------------------- */

static vss_backup_components *bc_ref(vss_backup_components *bc) {
        atomic_fetch_add(&bc->n_ref, 1);
        return bc;
}

static void bc_unref(vss_backup_components *bc) {
        if (!bc || atomic_fetch_sub(&bc->n_ref, 1) != 1)
                return;

        /* Normally already closed by vss_backup_components_release(); not after a failed create. */
        sd_bus_flush_close_unref(bc->bus);
        bc_clear_metadata(bc);
        bc_clear_status(bc);
        bc_clear_components(bc);
        pthread_mutex_destroy(&bc->lock);
        free(bc);
}

static void bc_unrefp(vss_backup_components **bc) {
        bc_unref(*bc);
}

static vss_async *async_new(vss_backup_components *bc) {
        vss_async *a;

        a = calloc(1, sizeof *a);
        if (!a)
                return NULL;
        atomic_init(&a->n_ref, 1);
        a->bc = bc_ref(bc);
        return a;
}

static vss_async *async_ref(vss_async *a) {
        atomic_fetch_add(&a->n_ref, 1);
        return a;
}

static void async_unref(vss_async *a) {
        if (!a || atomic_fetch_sub(&a->n_ref, 1) != 1)
                return;

        bc_unref(a->bc);
        free(a);
}

/* What vss_async_query_status() reports, and vss_async_cancel() when it is too late. */
static vss_hresult async_status(const vss_async *a) {
        if (!a->done)
                return VSS_S_ASYNC_PENDING;
        if (a->result == VSS_S_OK)
                return VSS_S_ASYNC_FINISHED;
        return a->result; /* VSS_S_ASYNC_CANCELLED or the failure */
}

/* ---- steps and the connection ------------------------------------------- */

/* Called with the object's lock held, like everything that touches bc->bus. */
static void step_finish(vss_async *a, vss_hresult hr) {
        vss_backup_components *bc = a->bc;

        a->result = hr;
        a->done = true;

        if (bc->pending == a) {
                bc->pending = NULL;
                async_unref(a); /* may free @a when its handle was released already */
        }
}

/* Session1.StepFinished(s step, i result, s message): the running step ended. */
static int on_step_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        vss_backup_components *bc = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *message;
        int32_t hr;
        vss_async *a = bc->pending;
        int r;

        if (!a)
                return 0; /* nothing of ours is running: not for us */
        r = sd_bus_message_read(m, "sis", &name, &hr, &message);
        if (r < 0) {
                step_finish(a, VSS_E_UNEXPECTED);
                return 0;
        }
        if (hr == VSS_S_OK && a->take) {
                /* The step left something to fetch (the writers' metadata documents). */
                r = sd_bus_call_method(bc->bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "GetWriterMetadata",
                                       &error, &reply, NULL);
                hr = r < 0 ? lvss_bus_error_to_hresult(&error, r) : a->take(bc, reply);
        }
        step_finish(a, hr);
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        vss_backup_components *bc = userdata;

        if (bc->pending)
                step_finish(bc->pending, VSS_E_WRITER_INFRASTRUCTURE);
        return 0;
}

/* The connection failed under a running step: nothing will answer it now. */
static void bus_fail_pending(vss_backup_components *bc, int r) {
        if (bc->pending)
                step_finish(bc->pending, lvss_bus_error_to_hresult(NULL, r));
}

/* Dispatch whatever has arrived, without blocking. */
static int bus_process_ready(vss_backup_components *bc) {
        int r;

        if (!bc->bus)
                return 0;

        for (;;) {
                r = sd_bus_process(bc->bus, NULL);
                if (r < 0) {
                        bus_fail_pending(bc, r);
                        return r;
                }
                if (r == 0)
                        return 0;
        }
}

/*
 * Drive the connection until @a is done or @deadline (CLOCK_MONOTONIC µs,
 * UINT64_MAX: none) passes. "No deadline" still ends: the coordinator bounds
 * every step by its deadlines (WS-5), and a dropped connection fails the step.
 * Returns 1 when done, 0 when the deadline passed first, or a negative errno
 * (and the step failed with it).
 */
static int bus_wait_step(vss_backup_components *bc, vss_async *a, uint64_t deadline) {
        int r;

        for (;;) {
                uint64_t now;

                r = bus_process_ready(bc);
                if (a->done)
                        return 1;
                if (r < 0)
                        return r;
                if (!bc->bus) {
                        /* Not reachable (a closed object has no pending step); never spin on it. */
                        bus_fail_pending(bc, -ENOTCONN);
                        return -ENOTCONN;
                }

                now = now_usec(CLOCK_MONOTONIC);
                if (deadline != UINT64_MAX && now >= deadline)
                        return 0;

                r = sd_bus_wait(bc->bus, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
                if (r < 0 && r != -EINTR) {
                        bus_fail_pending(bc, r);
                        return r;
                }
        }
}

static int session_message(vss_backup_components *bc, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bc->bus, ret, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, member);
}

/*
 * Start a step: the coordinator answers the call at once, refusing an
 * out-of-order step there (WS-11); the object keeps the step until its
 * StepFinished signal (the caller may release its handle first).
 * Returns VSS_S_OK or the refusal.
 */
static vss_hresult step_start(vss_backup_components *bc, const char *member, step_take_t take, vss_async **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_async *a;
        int r;

        r = session_message(bc, member, &m);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        a = async_new(bc);
        if (!a)
                return VSS_E_OUTOFMEMORY;
        a->take = take;

        /* Pending before the call: the signal may be read while sd_bus_call() waits for its reply. */
        bc->pending = async_ref(a);
        r = sd_bus_call(bc->bus, m, 0, &error, NULL);
        if (r < 0) {
                if (bc->pending == a) {
                        bc->pending = NULL;
                        async_unref(a);
                }
                async_unref(a);
                return lvss_bus_error_to_hresult(&error, r);
        }

        *ret = a;
        return VSS_S_OK;
}

/* ---- entering a call ---------------------------------------------------- */

static void bc_leavep(vss_backup_components **bc) {
        if (*bc)
                pthread_mutex_unlock(&(*bc)->lock);
}

/*
 * Every call on an object starts here: one caller at a time (WS-10) and,
 * unless it is one of the vss_async_* calls, nothing while a step runs
 * (WS-11). A step whose reply has already arrived counts as ended, so an
 * object whose step handle was released does not stay blocked.
 *
 * Declare the _cleanup_(bc_leavep) variable before any sd-bus object of the
 * call: those are freed first then, still under the lock.
 */
static vss_hresult bc_enter(vss_backup_components *bc, bool for_async, vss_backup_components **entered) {
        if (pthread_mutex_trylock(&bc->lock) != 0)
                return VSS_E_BAD_STATE;

        if (!for_async && bc->pending) {
                (void) bus_process_ready(bc);
                if (bc->pending) {
                        pthread_mutex_unlock(&bc->lock);
                        return VSS_E_BAD_STATE;
                }
        }

        *entered = bc;
        return VSS_S_OK;
}

/* ---- replies that leave something in the object ------------------------- */

static int read_metadata_entry(sd_bus_message *m, vss_id *ret_instance_id, const char **ret_xml) {
        const char *writer_name, *instance_name;
        int r;

        r = lvss_bus_read_id(m, ret_instance_id);
        if (r < 0)
                return r;
        r = lvss_bus_read_id(m, NULL); /* the writer id is in the document too */
        if (r < 0)
                return r;
        return sd_bus_message_read(m, "sss", &writer_name, &instance_name, ret_xml);
}

/* GatherWriterMetadata: a(ayaysss) of the writers whose Identify succeeded (WS-1). */
static vss_hresult metadata_take(vss_backup_components *bc, sd_bus_message *reply) {
        writer_metadata *list = NULL;
        size_t n = 0, allocated = 0;
        vss_hresult hr = VSS_S_OK;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(ayaysss)");
        while (r >= 0) {
                const char *xml;
                vss_id instance_id;

                r = sd_bus_message_enter_container(reply, 'r', "ayaysss");
                if (r <= 0)
                        break;
                r = read_metadata_entry(reply, &instance_id, &xml);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0 && n >= UINT_MAX)
                        r = -E2BIG;
                if (r >= 0)
                        r = array_reserve((void **) &list, &allocated, n + 1, sizeof *list);
                if (r < 0)
                        break;

                /* The coordinator validated every document at Identify; one we cannot read
                 * means the two disagree, and a partial list would break WS-1's equal counts. */
                list[n].instance_id = instance_id;
                list[n].md = NULL;
                hr = vss_examine_writer_metadata_load_xml(xml, &list[n].md);
                if (VSS_FAILED(hr))
                        break;
                n++;
        }
        if (r >= 0 && VSS_SUCCEEDED(hr))
                r = sd_bus_message_exit_container(reply);

        if (r < 0 || VSS_FAILED(hr)) {
                metadata_free(list, (unsigned) n);
                return VSS_FAILED(hr) ? hr : lvss_bus_error_to_hresult(NULL, r);
        }

        bc_clear_metadata(bc);
        bc->metadata = list;
        bc->n_metadata = (unsigned) n;
        bc->metadata_ready = true;
        return VSS_S_OK;
}

static int read_status_entry(sd_bus_message *m, writer_status *ret) {
        const char *writer_name, *instance_name, *message;
        uint32_t state, event;
        int32_t failure, application_result;
        uint64_t when, duration;
        writer_status e = {};
        int in_progress, r;

        r = lvss_bus_read_id(m, &e.status.instance_id);
        if (r >= 0)
                r = lvss_bus_read_id(m, &e.status.writer_id);
        if (r >= 0)
                r = sd_bus_message_read(m, "ssuiis", &writer_name, &instance_name, &state, &failure,
                                        &application_result, &message);
        if (r >= 0)
                r = lvss_bus_read_id(m, &e.status.session_id);
        if (r >= 0)
                r = sd_bus_message_read(m, "ubtt", &event, &in_progress, &when, &duration);
        if (r < 0)
                return r;

        e.writer_name = strdup(writer_name);
        e.instance_name = *instance_name ? strdup(instance_name) : NULL;
        e.application_message = *message ? strdup(message) : NULL;
        if (!e.writer_name || (*instance_name && !e.instance_name) || (*message && !e.application_message)) {
                free(e.writer_name);
                free(e.instance_name);
                free(e.application_message);
                return -ENOMEM;
        }

        e.status.writer_name = e.writer_name;
        e.status.instance_name = e.instance_name;
        e.status.state = (vss_writer_state) state;
        e.status.failure = failure;
        e.status.application_result = application_result;
        e.status.application_message = e.application_message;
        e.status.last_event = (vss_writer_event) event;
        e.status.event_in_progress = in_progress;
        e.status.last_event_usec = when;
        e.status.last_event_duration_usec = duration;

        *ret = e;
        return 0;
}

/* GatherWriterStatus: a(ayayssuiisayubtt). Replaces the previous result only when it is read whole. */
static int status_take(vss_backup_components *bc, sd_bus_message *reply) {
        writer_status *list = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(" LVSS_STATUS_STRUCT ")");
        while (r >= 0) {
                r = sd_bus_message_enter_container(reply, 'r', LVSS_STATUS_STRUCT);
                if (r <= 0)
                        break;
                if (n >= UINT_MAX)
                        r = -E2BIG;
                if (r >= 0)
                        r = array_reserve((void **) &list, &allocated, n + 1, sizeof *list);
                if (r >= 0)
                        r = read_status_entry(reply, &list[n]);
                if (r < 0)
                        break;
                n++;
                r = sd_bus_message_exit_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                status_free(list, (unsigned) n);
                return r;
        }

        bc_clear_status(bc);
        bc->status = list;
        bc->n_status = (unsigned) n;
        bc->status_ready = true;
        return 0;
}

/* ---- the object --------------------------------------------------------- */

_public_ vss_hresult vss_create_backup_components(vss_backup_components **ret) {
        _cleanup_(bc_unrefp) vss_backup_components *bc = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        check_arg(ret, VSS_E_INVALIDARG);

        bc = calloc(1, sizeof *bc);
        if (!bc)
                return lvss_bus_error_to_hresult(NULL, -ENOMEM);
        atomic_init(&bc->n_ref, 1);
        r = -pthread_mutex_init(&bc->lock, NULL);
        if (r < 0) {
                free(TAKE_PTR(bc));
                return lvss_bus_error_to_hresult(NULL, r);
        }

        r = lvss_bus_connect(NULL, &bc->bus);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        /* This makes the connection a requester; the session lives as long as the connection. */
        r = sd_bus_call_method(bc->bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", &error,
                               &reply, NULL);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        r = lvss_bus_read_id(reply, &bc->session_id);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        r = sd_bus_match_signal(bc->bus, NULL, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "StepFinished",
                                on_step_finished, bc);
        if (r >= 0)
                r = sd_bus_match_signal(bc->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, bc);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        *ret = TAKE_PTR(bc);
        return VSS_S_OK;
}

/* End the session: BackupShutdown to its writers, auto-release snapshots deleted, connection closed. */
static void session_end(vss_backup_components *bc) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *cancel = NULL, *release = NULL;

        if (!bc->bus)
                return;

        if (bc->pending) {
                /* The coordinator refuses Release while a step runs (WS-11): stop it and let its
                 * reply come back. The coordinator bounds the step by its own deadlines (WS-5). */
                vss_async *a = async_ref(bc->pending);

                if (session_message(bc, "Cancel", &cancel) >= 0)
                        (void) sd_bus_call(bc->bus, cancel, 0, NULL, NULL);
                (void) bus_wait_step(bc, a, UINT64_MAX);
                async_unref(a);
        }

        /* Deferred on the coordinator, bounded there by the BackupShutdown deadline. When the
         * connection is gone already this fails at once, and the coordinator has aborted the
         * session on its own (WS-13). */
        if (session_message(bc, "Release", &release) >= 0)
                (void) sd_bus_call(bc->bus, release, LVSS_LONG_CALL_USEC, NULL, NULL);

        bus_fail_pending(bc, -ENOTCONN);
        bc->bus = sd_bus_flush_close_unref(bc->bus);
}

_public_ vss_backup_components *vss_backup_components_release(vss_backup_components *bc) {
        if (!bc)
                return NULL;

        /* Wait, rather than fail, for a call still running on another thread. */
        pthread_mutex_lock(&bc->lock);
        session_end(bc);
        pthread_mutex_unlock(&bc->lock);

        /* Outstanding vss_async handles keep the memory until they are released. */
        bc_unref(bc);
        return NULL;
}

_public_ vss_hresult vss_get_session_id(vss_backup_components *bc, vss_id *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        *ret = bc->session_id;
        return VSS_S_OK;
}

/* ---- plain calls -------------------------------------------------------- */

/* A Session1 call whose reply carries nothing; @m is built, or @r says why not. */
static vss_hresult session_call_simple(vss_backup_components *bc, sd_bus_message *m, int r, uint64_t usec) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        r = sd_bus_call(bc->bus, m, usec, &error, NULL);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        return VSS_S_OK;
}

static vss_hresult initialize(vss_backup_components *bc, const char *member, const char *bcd_xml) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, member, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", strempty(bcd_xml));
        return session_call_simple(bc, m, r, 0);
}

_public_ vss_hresult vss_initialize_for_backup(vss_backup_components *bc, const char *bcd_xml) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(string_is_valid_or_null(bcd_xml), VSS_E_INVALIDARG);

        /* NULL travels as ""; a document (import) is the coordinator's to refuse. */
        return initialize(bc, "InitializeForBackup", bcd_xml);
}

_public_ vss_hresult vss_initialize_for_restore(vss_backup_components *bc, const char *bcd_xml) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(bcd_xml, VSS_E_INVALIDARG);
        /* A document that is not even UTF-8 cannot travel over D-Bus; it is a
         * malformed document all the same, as the loaders would say. */
        check_arg(string_is_valid(bcd_xml), VSS_E_INVALID_XML_DOCUMENT);

        return initialize(bc, "InitializeForRestore", bcd_xml);
}

_public_ vss_hresult vss_set_context(vss_backup_components *bc, int32_t context) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "SetContext", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "i", context);
        return session_call_simple(bc, m, r, 0);
}

_public_ vss_hresult vss_set_backup_state(vss_backup_components *bc, bool select_components, bool bootable_system_state,
                                          vss_backup_type type, bool partial_file_support) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        /* Only what the enum can hold; which types make sense is the coordinator's rule. */
        check_arg((unsigned) type <= VSS_BT_OTHER, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "SetBackupState", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "bbub", (int) select_components, (int) bootable_system_state,
                                          (uint32_t) type, (int) partial_file_support);
        return session_call_simple(bc, m, r, 0);
}

/* The arguments that name a component: the same checks for every call that takes them. */
static bool component_is_valid(vss_component_type type, const char *logical_path, const char *component_name) {
        return (unsigned) type <= VSS_CT_FILEGROUP && string_is_valid_or_null(logical_path) &&
               string_is_valid(component_name);
}

static int append_component(sd_bus_message *m, vss_component_type type, const char *logical_path,
                            const char *component_name) {
        /* A NULL logical path is the empty one (a component at the top of its writer). */
        return sd_bus_message_append(m, "uss", (uint32_t) type, strempty(logical_path), component_name);
}

_public_ vss_hresult vss_add_component(vss_backup_components *bc, const vss_id *instance_id, const vss_id *writer_id,
                                       vss_component_type type, const char *logical_path,
                                       const char *component_name) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(instance_id, VSS_E_INVALIDARG);
        check_arg(writer_id, VSS_E_INVALIDARG);
        check_arg(component_is_valid(type, logical_path, component_name), VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "AddComponent", &m);
        if (r >= 0)
                r = lvss_bus_append_id(m, instance_id);
        if (r >= 0)
                r = lvss_bus_append_id(m, writer_id);
        if (r >= 0)
                r = append_component(m, type, logical_path, component_name);
        return session_call_simple(bc, m, r, 0);
}

_public_ vss_hresult vss_start_snapshot_set(vss_backup_components *bc, vss_id *ret_snapshot_set_id) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        vss_hresult hr;
        vss_id id;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret_snapshot_set_id, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "StartSnapshotSet", &m);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call(bc->bus, m, 0, &error, &reply);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        r = lvss_bus_read_id(reply, &id);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        *ret_snapshot_set_id = id;
        return VSS_S_OK;
}

_public_ vss_hresult vss_is_volume_supported(vss_backup_components *bc, const vss_id *provider_id, const char *volume,
                                             bool *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        vss_hresult hr;
        int supported, r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(string_is_valid(volume), VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "IsVolumeSupported", &m);
        if (r >= 0)
                r = lvss_bus_append_id(m, provider_id); /* NULL: the null id, any provider */
        if (r >= 0)
                r = sd_bus_message_append(m, "s", volume);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call(bc->bus, m, 0, &error, &reply);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        r = sd_bus_message_read(reply, "b", &supported);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        *ret = supported;
        return VSS_S_OK;
}

_public_ vss_hresult vss_add_to_snapshot_set(vss_backup_components *bc, const char *volume, const vss_id *provider_id,
                                             vss_id *ret_snapshot_id) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        vss_hresult hr;
        vss_id id;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(string_is_valid(volume), VSS_E_INVALIDARG);
        check_arg(ret_snapshot_id, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "AddToSnapshotSet", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", volume);
        if (r >= 0)
                r = lvss_bus_append_id(m, provider_id); /* NULL: the null id, the default provider */
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call(bc->bus, m, 0, &error, &reply);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        r = lvss_bus_read_id(reply, &id);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        *ret_snapshot_id = id;
        return VSS_S_OK;
}

_public_ vss_hresult vss_get_snapshot_properties(vss_backup_components *bc, const vss_id *snapshot_id,
                                                 vss_snapshot_prop *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *snapshot_path, *original_volume;
        vss_snapshot_prop p = {};
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(snapshot_id, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        check_arg(ret->size >= LVSS_SNAPSHOT_PROP_SIZE_V1, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "GetSnapshotProperties", &m);
        if (r >= 0)
                r = lvss_bus_append_id(m, snapshot_id);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call(bc->bus, m, 0, &error, &reply);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);

        /* ayayissaytui */
        r = lvss_bus_read_id(reply, &p.snapshot_id);
        if (r >= 0)
                r = lvss_bus_read_id(reply, &p.snapshot_set_id);
        if (r >= 0)
                r = sd_bus_message_read(reply, "iss", &p.snapshots_count, &snapshot_path, &original_volume);
        if (r >= 0)
                r = lvss_bus_read_id(reply, &p.provider_id);
        if (r >= 0)
                r = sd_bus_message_read(reply, "tui", &p.creation_usec, &p.attributes, &p.context);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        p.snapshot_path = strdup(snapshot_path);
        p.original_volume = strdup(original_volume);
        if (!p.snapshot_path || !p.original_volume) {
                vss_free_snapshot_properties(&p);
                return lvss_bus_error_to_hresult(NULL, -ENOMEM);
        }

        lvss_struct_copy_out(ret, ret->size, &p, sizeof p);
        return VSS_S_OK;
}

_public_ void vss_free_snapshot_properties(vss_snapshot_prop *prop) {
        if (!prop)
                return;
        free(prop->snapshot_path);
        prop->snapshot_path = NULL;
        free(prop->original_volume);
        prop->original_volume = NULL;
}

_public_ vss_hresult vss_set_backup_succeeded(vss_backup_components *bc, const vss_id *instance_id,
                                              const vss_id *writer_id, vss_component_type type,
                                              const char *logical_path, const char *component_name,
                                              bool succeeded) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(instance_id, VSS_E_INVALIDARG);
        check_arg(writer_id, VSS_E_INVALIDARG);
        check_arg(component_is_valid(type, logical_path, component_name), VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "SetBackupSucceeded", &m);
        if (r >= 0)
                r = lvss_bus_append_id(m, instance_id);
        if (r >= 0)
                r = lvss_bus_append_id(m, writer_id);
        if (r >= 0)
                r = append_component(m, type, logical_path, component_name);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", (int) succeeded);
        return session_call_simple(bc, m, r, 0);
}

_public_ vss_hresult vss_abort_backup(vss_backup_components *bc) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        /* Deferred on the coordinator (Abort goes to the writers, bounded by its deadline, WS-5);
         * AbortBackup is synchronous for the caller, as in VSS. */
        r = session_message(bc, "AbortBackup", &m);
        return session_call_simple(bc, m, r, LVSS_LONG_CALL_USEC);
}

/* The session's document as SaveAsXml writes it; *@ret_xml owned. Inside bc_enter(). */
static vss_hresult fetch_document(vss_backup_components *bc, char **ret_xml) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *xml;
        char *copy;
        int r;

        r = session_message(bc, "SaveAsXml", &m);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call(bc->bus, m, 0, &error, &reply);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        copy = strdup(xml);
        if (!copy)
                return lvss_bus_error_to_hresult(NULL, -ENOMEM);
        *ret_xml = copy;
        return VSS_S_OK;
}

_public_ vss_hresult vss_save_as_xml(vss_backup_components *bc, char **ret_xml) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret_xml, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;
        return fetch_document(bc, ret_xml);
}

/* ---- GetWriterComponents ------------------------------------------------------ */

_public_ vss_hresult vss_backup_components_get_writer_components_count(vss_backup_components *bc, unsigned *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(lvss_bcd_freep) lvss_bcd *bcd = NULL;
        _cleanup_(freep) char *xml = NULL;
        vss_writer_components **sets = NULL;
        unsigned n = 0;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        /* lvssd owns the document (restore selections and status included): read it now. */
        hr = fetch_document(bc, &xml);
        if (VSS_FAILED(hr))
                return hr;
        r = lvss_bcd_from_xml(xml, &bcd);
        if (r == -ENOMEM)
                return VSS_E_OUTOFMEMORY;
        if (r < 0)
                return VSS_E_INVALID_XML_DOCUMENT;
        r = lvss_writer_components_from_bcd(bcd, &sets, &n);
        if (r == -ENOMEM)
                return VSS_E_OUTOFMEMORY;
        if (r < 0)
                return VSS_E_UNEXPECTED;

        bc_clear_components(bc);
        bc->components = sets;
        bc->n_components = n;
        bc->document_set_id = bcd->snapshot_set_id;
        bc->document_select_components = bcd->select_components;
        bc->document_backup_type = bcd->backup_type;
        bc->components_ready = true;
        *ret = n;
        return VSS_S_OK;
}

_public_ vss_hresult vss_backup_components_get_writer_components(vss_backup_components *bc, unsigned index,
                                                                 vss_writer_components **ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, true, &entered);
        if (VSS_FAILED(hr))
                return hr;
        if (!bc->components_ready)
                return VSS_E_BAD_STATE;
        if (index >= bc->n_components)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret = bc->components[index];
        return VSS_S_OK;
}

_public_ vss_hresult vss_backup_components_get_document_info(vss_backup_components *bc, vss_id *ret_snapshot_set_id,
                                                             bool *ret_select_components,
                                                             vss_backup_type *ret_backup_type) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);

        hr = bc_enter(bc, true, &entered);
        if (VSS_FAILED(hr))
                return hr;
        if (!bc->components_ready)
                return VSS_E_BAD_STATE;

        if (ret_snapshot_set_id)
                *ret_snapshot_set_id = bc->document_set_id;
        if (ret_select_components)
                *ret_select_components = bc->document_select_components;
        if (ret_backup_type)
                *ret_backup_type = bc->document_backup_type;
        return VSS_S_OK;
}

_public_ vss_hresult vss_get_session_record_status(vss_backup_components *bc, bool *ret_complete,
                                                  char **ret_message) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *message;
        uint32_t rows_lost;
        char *copy = NULL;
        vss_hresult hr;
        int complete, r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret_complete, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        /* Asks lvssd (issue 8 item 6): it knows rows lost outside any step's signal too. */
        r = session_message(bc, "GetRecordStatus", &m);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call(bc->bus, m, 0, &error, &reply);
        if (r < 0)
                return lvss_bus_error_to_hresult(&error, r);
        r = sd_bus_message_read(reply, "bus", &complete, &rows_lost, &message);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);

        if (ret_message && !complete) {
                copy = strdup(*message ? message : "writer-status history incomplete");
                if (!copy)
                        return lvss_bus_error_to_hresult(NULL, -ENOMEM);
        }
        *ret_complete = complete;
        if (ret_message)
                *ret_message = copy;
        return VSS_S_OK;
}

_public_ vss_hresult vss_set_selected_for_restore(vss_backup_components *bc, const vss_id *writer_id,
                                                  vss_component_type type, const char *logical_path,
                                                  const char *component_name, bool selected) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(writer_id, VSS_E_INVALIDARG);
        check_arg(component_is_valid(type, logical_path, component_name), VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "SetSelectedForRestore", &m);
        if (r >= 0)
                r = lvss_bus_append_id(m, writer_id);
        if (r >= 0)
                r = append_component(m, type, logical_path, component_name);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", (int) selected);
        return session_call_simple(bc, m, r, 0);
}

_public_ vss_hresult vss_set_file_restore_status(vss_backup_components *bc, const vss_id *writer_id,
                                                 vss_component_type type, const char *logical_path,
                                                 const char *component_name, vss_file_restore_status status) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_hresult hr;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(writer_id, VSS_E_INVALIDARG);
        check_arg(component_is_valid(type, logical_path, component_name), VSS_E_INVALIDARG);
        check_arg((unsigned) status <= VSS_RS_FAILED, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        r = session_message(bc, "SetFileRestoreStatus", &m);
        if (r >= 0)
                r = lvss_bus_append_id(m, writer_id);
        if (r >= 0)
                r = append_component(m, type, logical_path, component_name);
        if (r >= 0)
                r = sd_bus_message_append(m, "u", (uint32_t) status);
        return session_call_simple(bc, m, r, 0);
}

/* ---- async steps -------------------------------------------------------- */

static vss_hresult step(vss_backup_components *bc, const char *member, step_take_t take, vss_async **ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        return step_start(bc, member, take, ret);
}

_public_ vss_hresult vss_gather_writer_metadata(vss_backup_components *bc, vss_async **ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        /* Once per object (WS-11), even when the first gather failed: the coordinator allows
         * one per session, and the object is its session. */
        if (bc->metadata_requested)
                return VSS_E_BAD_STATE;

        hr = step_start(bc, "GatherWriterMetadata", metadata_take, ret);
        if (VSS_FAILED(hr))
                return hr;

        bc->metadata_requested = true;
        return VSS_S_OK;
}

_public_ vss_hresult vss_get_writer_metadata_count(vss_backup_components *bc, unsigned *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;
        if (!bc->metadata_ready)
                return VSS_E_BAD_STATE;

        *ret = bc->n_metadata;
        return VSS_S_OK;
}

_public_ vss_hresult vss_get_writer_metadata(vss_backup_components *bc, unsigned index, vss_id *ret_instance_id,
                                             vss_examine_writer_metadata **ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret_instance_id, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;
        if (!bc->metadata_ready)
                return VSS_E_BAD_STATE;
        if (index >= bc->n_metadata)
                return VSS_E_OBJECT_NOT_FOUND;

        *ret_instance_id = bc->metadata[index].instance_id;
        *ret = bc->metadata[index].md;
        return VSS_S_OK;
}

_public_ vss_hresult vss_free_writer_metadata(vss_backup_components *bc) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;
        /* As in VSS: not before the gather completed. Freeing twice is harmless. */
        if (!bc->metadata_requested)
                return VSS_E_BAD_STATE;

        bc_clear_metadata(bc);
        return VSS_S_OK;
}

_public_ vss_hresult vss_prepare_for_backup(vss_backup_components *bc, vss_async **ret) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        return step(bc, "PrepareForBackup", NULL, ret);
}

_public_ vss_hresult vss_do_snapshot_set(vss_backup_components *bc, vss_async **ret) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        return step(bc, "DoSnapshotSet", NULL, ret);
}

_public_ vss_hresult vss_backup_complete(vss_backup_components *bc, vss_async **ret) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        return step(bc, "BackupComplete", NULL, ret);
}

_public_ vss_hresult vss_pre_restore(vss_backup_components *bc, vss_async **ret) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        return step(bc, "PreRestore", NULL, ret);
}

_public_ vss_hresult vss_post_restore(vss_backup_components *bc, vss_async **ret) {
        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        return step(bc, "PostRestore", NULL, ret);
}

/* ---- writer status ------------------------------------------------------ */

_public_ vss_hresult vss_gather_writer_status(vss_backup_components *bc, vss_async **ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        vss_hresult hr;
        vss_async *a;
        int r;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        /* The coordinator answers at once (WS-8: it never waits on a writer), so this is a plain
         * call and the handle is finished when handed out. One exception, bounded by the
         * Identify deadline: a restore without GatherWriterMetadata first asks which writers
         * are running (WS-12), hence the long timeout. */
        a = async_new(bc);
        if (!a)
                return lvss_bus_error_to_hresult(NULL, -ENOMEM);

        r = session_message(bc, "GatherWriterStatus", &m);
        if (r < 0) {
                async_unref(a);
                return lvss_bus_error_to_hresult(NULL, r);
        }
        r = sd_bus_call(bc->bus, m, LVSS_LONG_CALL_USEC, &error, &reply);
        if (r < 0) {
                async_unref(a);
                return lvss_bus_error_to_hresult(&error, r);
        }
        r = status_take(bc, reply);
        if (r < 0) {
                async_unref(a);
                return lvss_bus_error_to_hresult(NULL, r);
        }

        a->done = true;
        a->result = VSS_S_OK;
        *ret = a;
        return VSS_S_OK;
}

_public_ vss_hresult vss_get_writer_status_count(vss_backup_components *bc, unsigned *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;
        if (!bc->status_ready)
                return VSS_E_BAD_STATE;

        *ret = bc->n_status;
        return VSS_S_OK;
}

_public_ vss_hresult vss_get_writer_status(vss_backup_components *bc, unsigned index, vss_writer_status *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);
        check_arg(ret->size >= LVSS_WRITER_STATUS_SIZE_V1, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;
        if (!bc->status_ready)
                return VSS_E_BAD_STATE;
        if (index >= bc->n_status)
                return VSS_E_OBJECT_NOT_FOUND;

        lvss_struct_copy_out(ret, ret->size, &bc->status[index].status, sizeof bc->status[index].status);
        return VSS_S_OK;
}

_public_ vss_hresult vss_free_writer_status(vss_backup_components *bc) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(bc, VSS_E_INVALIDARG);

        hr = bc_enter(bc, false, &entered);
        if (VSS_FAILED(hr))
                return hr;

        /* Nothing gathered (or freed already) is not an error: there is simply nothing to end. */
        bc_clear_status(bc);
        return VSS_S_OK;
}

/* ---- vss_async ---------------------------------------------------------- */

_public_ vss_hresult vss_async_wait(vss_async *a, uint32_t timeout_ms) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        uint64_t deadline = UINT64_MAX;
        vss_hresult hr;

        check_arg(a, VSS_E_INVALIDARG);

        hr = bc_enter(a->bc, true, &entered);
        if (VSS_FAILED(hr))
                return hr;

        if (timeout_ms != VSS_INFINITE)
                deadline = now_usec(CLOCK_MONOTONIC) + timeout_ms * USEC_PER_MSEC;

        /* A failing connection fails the step, which is then done: its result says why. */
        (void) bus_wait_step(a->bc, a, deadline);
        if (!a->done)
                return VSS_S_ASYNC_PENDING;
        return a->result;
}

_public_ vss_hresult vss_async_query_status(vss_async *a, vss_hresult *ret) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        vss_hresult hr;

        check_arg(a, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        hr = bc_enter(a->bc, true, &entered);
        if (VSS_FAILED(hr))
                return hr;

        (void) bus_process_ready(a->bc);
        *ret = async_status(a);
        return VSS_S_OK;
}

_public_ vss_hresult vss_async_cancel(vss_async *a) {
        _cleanup_(bc_leavep) vss_backup_components *entered = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        vss_backup_components *bc;
        vss_hresult hr;
        int r;

        check_arg(a, VSS_E_INVALIDARG);
        bc = a->bc;

        hr = bc_enter(bc, true, &entered);
        if (VSS_FAILED(hr))
                return hr;

        (void) bus_process_ready(bc);
        if (a->done)
                return async_status(a); /* too late: finished, cancelled, or its failure */
        if (a->cancel_sent)
                return VSS_S_ASYNC_CANCELLED;

        r = session_message(bc, "Cancel", &m);
        if (r >= 0)
                r = sd_bus_call(bc->bus, m, 0, &error, NULL);

        /* The coordinator answers on this connection in order: when the step ended before it saw
         * Cancel, the step's reply arrived ahead of Cancel's and is queued now. */
        (void) bus_process_ready(bc);

        if (r >= 0) {
                a->cancel_sent = true;
                if (!a->done || a->result == VSS_S_ASYNC_CANCELLED)
                        return VSS_S_OK;
        }
        if (a->done)
                return async_status(a);
        return lvss_bus_error_to_hresult(&error, r);
}

_public_ vss_async *vss_async_release(vss_async *a) {
        /* No lock: a pending step is also held by its object and goes on; this only drops the
         * caller's reference, which is atomic. */
        async_unref(a);
        return NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvssd: start-up, recovery, the event loop, and a clean stop.
 *
 * Start-up order: configuration, state directory, catalog, recovery of what
 * a previous run left (sessions recorded as aborted, auto-release and
 * unfinished shadow copies deleted), providers, then the socket, then
 * READY=1. SIGTERM stops accepting, aborts every active session the way a
 * vanished requester would (WS-13: Abort, BackupShutdown, auto-release copies
 * deleted) and exits once they are done, or after a bound.
 */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
/* CODE_FILE= etc. would name log_journal() for every line: left out */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "basic/fs-util.h"
#include "config.h"
#include "lvssd-config.h"
#include "manager.h"
#include "server.h"
#include "connection.h"
#include "session.h"
#include "providers.h"
#include "snapshot.h"
#include "external.h"
#include "worker.h"
#include "metrics.h"

/*
 * Logging: the one place that decides where a line goes (issue 12 §3).
 *
 * To the journal, natively (sd_journal_sendv: MESSAGE=, PRIORITY=,
 * SYSLOG_IDENTIFIER=lvssd and the fields LVSS_SESSION=, LVSS_WRITER=,
 * LVSS_EVENT=, LVSS_HRESULT= where the line has them, so that
 * `journalctl LVSS_SESSION=…` finds a session), when LogTarget= says
 * "journal", or says "auto" (the default) and lvssd's stderr is the journal's
 * stream (systemd sets $JOURNAL_STREAM to its device:inode for a service);
 * otherwise to stderr, in the format of before: "lvssd: [session ID: ]text".
 * A line the journal refuses (no journald listening) goes to stderr.
 *
 * stderr is unbuffered, so three stdio calls were three write()s per line;
 * one fprintf() is one (issue 11 §5: on the loop, in the freeze window, once
 * per writer for some lines). A message longer than the buffer still goes
 * out whole, in pieces.
 */
static bool log_to_journal;

/* LogTarget=: decided once, at start-up. */
static void log_setup(const char *target) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (streq_ptr(target, "journal"))
                log_to_journal = true;
        else if (streq_ptr(target, "stderr"))
                log_to_journal = false;
        else /* auto: stderr is connected to the journal (systemd.exec(5), $JOURNAL_STREAM) */
                log_to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                                 (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

/* What a line is about, for the journal's fields; any may be NULL. */
typedef struct LogFields {
        const char *session;  /* LVSS_SESSION=, "{…}" */
        const char *writer;   /* LVSS_WRITER= */
        const char *event;    /* LVSS_EVENT= */
        const char *hresult;  /* LVSS_HRESULT=, "0x800423F3" */
        int priority;         /* syslog priority; 0: LOG_INFO */
} LogFields;

/* One journal entry; <0 if journald is not there (the caller writes stderr). */
static int log_journal(const LogFields *lf, const char *prefix_arg, const char *text) {
        char *fields[8];
        struct iovec iov[8];
        size_t n = 0;
        int r = 0;

        /* sd_journal_sendv() drops a line silently when there is no journal socket (it returns 0):
         * ask first, one access() a line (journald may come and go while lvssd runs) */
        if (access("/run/systemd/journal/socket", W_OK) < 0)
                return -errno;

        if (asprintf(&fields[n++], "MESSAGE=%s%s", strempty(prefix_arg), text) < 0 ||
            asprintf(&fields[n++], "PRIORITY=%d", lf->priority ? lf->priority : LOG_INFO) < 0 ||
            asprintf(&fields[n++], "SYSLOG_IDENTIFIER=lvssd") < 0 ||
            (lf->session && asprintf(&fields[n++], "LVSS_SESSION=%s", lf->session) < 0) ||
            (lf->writer && asprintf(&fields[n++], "LVSS_WRITER=%s", lf->writer) < 0) ||
            (lf->event && asprintf(&fields[n++], "LVSS_EVENT=%s", lf->event) < 0) ||
            (lf->hresult && asprintf(&fields[n++], "LVSS_HRESULT=%s", lf->hresult) < 0)) {
                n--; /* that one was not allocated */
                r = -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec) { .iov_base = fields[i], .iov_len = strlen(fields[i]) };
        if (r >= 0)
                r = sd_journal_sendv(iov, (int) n);
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
        return r;
}

__attribute__((format(printf, 4, 0))) static void log_line(const LogFields *lf, const char *prefix,
                                                           const char *prefix_arg, const char *fmt, va_list ap) {
        static const LogFields none = {};
        char buf[1024];
        va_list aq;
        int n;

        va_copy(aq, ap);
        n = vsnprintf(buf, sizeof buf, fmt, aq);
        va_end(aq);
        if (log_to_journal) {
                _cleanup_(freep) char *whole = NULL;
                va_copy(aq, ap);
                if (n >= 0 && (size_t) n >= sizeof buf && vasprintf(&whole, fmt, aq) < 0)
                        whole = NULL;
                va_end(aq);
                if (log_journal(lf ? lf : &none, prefix_arg, whole ? whole : buf) >= 0)
                        return;
        }
        if (n >= 0 && (size_t) n < sizeof buf) {
                fprintf(stderr, "%s%s%s\n", prefix, strempty(prefix_arg), buf);
                return;
        }
        fputs(prefix, stderr);
        fputs(strempty(prefix_arg), stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

void log_msg(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_line(NULL, "lvssd: ", NULL, fmt, ap);
        va_end(ap);
}

void log_denied(Manager *m, const char *fmt, ...) {
        static const LogFields denied = { .priority = LOG_WARNING };
        va_list ap;

        /* any local user can repeat a refused call at will: the log is rate limited */
        if (!log_limit_ok(&m->denied_log, DENIED_LOG_BURST, "refused calls"))
                return;
        va_start(ap, fmt);
        log_line(&denied, "lvssd: access denied: ", NULL, fmt, ap);
        va_end(ap);
}

void log_session(const Session *s, const char *fmt, ...) {
        char id[VSS_ID_STRING_MAX], prefix[VSS_ID_STRING_MAX + 4];
        va_list ap;

        vss_id_format(&s->id, id);
        snprintf(prefix, sizeof prefix, "%s: ", id);
        va_start(ap, fmt);
        log_line(&(LogFields) { .session = id }, "lvssd: session ", prefix, fmt, ap);
        va_end(ap);
}

void log_session_writer(const Session *s, const char *writer, vss_writer_event event, vss_hresult hr,
                        const char *fmt, ...) {
        char id[VSS_ID_STRING_MAX], prefix[VSS_ID_STRING_MAX + 4], code[16];
        va_list ap;

        vss_id_format(&s->id, id);
        snprintf(prefix, sizeof prefix, "%s: ", id);
        snprintf(code, sizeof code, "0x%08X", (unsigned) hr);
        va_start(ap, fmt);
        log_line(&(LogFields) { .session = id, .writer = writer, .event = vss_writer_event_name(event),
                                .hresult = code, .priority = VSS_FAILED(hr) ? LOG_WARNING : LOG_INFO },
                 "lvssd: session ", prefix, fmt, ap);
        va_end(ap);
}

static void history_row_done(lvss_catalog_status *row) {
        free((char *) row->writer_name);
        free((char *) row->instance_name);
        free((char *) row->application_message);
}

void manager_queue_history(Manager *m, const lvss_catalog_status *row) {
        lvss_catalog_status *a, *n;

        metrics_writer_status(m->metrics, row); /* issue 12 §3: each writer's state, failures, freeze window */
        if (!m->catalog)
                return;
        a = reallocarray(m->history, m->n_history + 1, sizeof *a);
        if (!a) {
                log_msg("catalog: out of memory; a writer-status row is lost");
                return;
        }
        m->history = a;
        n = &a[m->n_history];
        *n = *row;
        n->writer_name = row->writer_name ? strdup(row->writer_name) : NULL;
        n->instance_name = row->instance_name ? strdup(row->instance_name) : NULL;
        n->application_message = row->application_message ? strdup(row->application_message) : NULL;
        if ((row->writer_name && !n->writer_name) || (row->instance_name && !n->instance_name) ||
            (row->application_message && !n->application_message)) {
                /* a row without its names would be written as another writer's */
                history_row_done(n);
                log_msg("catalog: out of memory; a writer-status row is lost");
                return;
        }
        m->n_history++;
}

/* The history rows are written, or not (issue 11 §1: on the catalog thread, nobody waiting). */
static void history_written(int r, void *data, void *userdata) {
        Manager *m = userdata;
        const lvss_catalog_status_rows *h = data;
        size_t n_rows = h->n;

        if (r >= 0)
                return;
        log_msg("catalog: %zu writer-status rows could not be written: %s", n_rows, strerror(-r));
        /* issue 8 item 6: the sessions whose record is now incomplete say so
         * (StepFinished, ListWriters, the session's catalog row at its end) */
        for (Session *s = m->sessions; s; s = s->next) {
                size_t n = 0;
                for (size_t i = 0; i < n_rows; i++)
                        if (vss_id_equal(&h->rows[i].session_id, &s->id))
                                n++;
                if (n == 0)
                        continue;
                s->history_lost += n;
                s->history_error = r;
                log_session(s, "writer-status history incomplete: %zu row%s could not be written to the "
                            "catalog: %s", n, n == 1 ? "" : "s", strerror(-r));
        }
}

/*
 * Issue 11 §5, the catalog and the freeze window. While any session's writers are frozen, lvssd
 * writes no history rows that nobody waits for: the catalog thread (SQLite, fsync) would take one
 * of the CPUs from the commit. A frozen session's rows are written by the fan-out that ends its
 * window (its Thaw or Abort: fanout_run_done()), by its own GetRecordStatus or end, or at
 * lvssd's stop. Rows someone waits for (another session's GetRecordStatus barrier, the order of
 * another session's end row after its history) are written then, but never a frozen session's.
 */

/* @row waits in memory: its session's writers are frozen, and that session is not @self. */
static bool history_row_held(const Manager *m, const lvss_catalog_status *row, const Session *self) {
        for (const Session *s = m->sessions; s; s = s->next)
                if (s->writers_frozen && s != self && vss_id_equal(&s->id, &row->session_id))
                        return true;
        return false;
}

/* Hands the queued rows to the catalog thread in one transaction, but for the held ones
 * (history_row_held()), which stay queued in their order. @everything: held ones too. */
static void history_write(Manager *m, const Session *self, bool everything) {
        _cleanup_(freep) lvss_catalog_status *held = NULL;
        size_t n_held = 0, n_write = 0;
        int r;

        if (m->n_history == 0)
                return;
        if (!m->catalog_queue) {
                for (size_t i = 0; i < m->n_history; i++)
                        history_row_done(&m->history[i]);
                m->history = mfree(m->history);
                m->n_history = 0;
                return;
        }
        if (!everything && m->n_frozen > 0)
                for (size_t i = 0; i < m->n_history; i++)
                        n_held += history_row_held(m, &m->history[i], self);
        if (n_held == m->n_history)
                return;
        if (n_held > 0) {
                held = calloc(n_held, sizeof *held);
                if (!held) {
                        /* Losing rows is worse than writing them inside a freeze window. */
                        log_msg("catalog: out of memory; %zu writer-status rows of frozen sessions are written "
                                "now, inside their freeze window", n_held);
                        n_held = 0;
                }
        }
        if (n_held > 0) {
                /* stable: the rows written keep their order, and so do the held ones */
                size_t k = 0;
                for (size_t i = 0; i < m->n_history; i++) {
                        if (history_row_held(m, &m->history[i], self))
                                held[k++] = m->history[i];
                        else
                                m->history[n_write++] = m->history[i];
                }
        } else
                n_write = m->n_history;
        r = lvss_catalog_queue_status_add_many(m->catalog_queue, TAKE_PTR(m->history), n_write, history_written, m);
        if (r < 0)
                log_msg("catalog: %zu writer-status rows could not be queued: %s", n_write, strerror(-r));
        m->history = TAKE_PTR(held);
        m->n_history = n_held;
}

void manager_flush_history(Manager *m) {
        if (!m)
                return;
        /* nobody waits for these rows: none while any writers are frozen */
        if (m->n_frozen > 0)
                return;
        history_write(m, NULL, false);
}

void manager_flush_history_forced(Manager *m, const Session *self) {
        if (!m)
                return;
        history_write(m, self, !self);
}

void manager_writers_frozen(Manager *m, const vss_id *session_id, bool frozen) {
        Session *s;

        if (!m || !session_id)
                return;
        for (s = m->sessions; s; s = s->next)
                if (vss_id_equal(&s->id, session_id))
                        break;
        if (!s || s->writers_frozen == frozen)
                return;
        s->writers_frozen = frozen;
        if (frozen) {
                m->n_frozen++;
                return;
        }
        if (m->n_frozen > 0)
                m->n_frozen--;
        /* the last window is over: the rows held for it go now */
        manager_flush_history(m);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_msg("sessions did not end in time; exiting anyway");
        return sd_event_exit(m->event, 0);
}

/* Stopped: no session left, and no clean-up of shadow copies still running in a worker (issue 11
 * §1; bounded like the rest by on_stop_timeout(): one still running then is killed and its copies
 * stay in the catalog for the next start-up). */
static bool stopped(const Manager *m) {
        return !m->sessions && snapshot_cleanups_pending() == 0;
}

static int on_check_stopped(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        if (stopped(m))
                return sd_event_exit(m->event, 0);
        return 0;
}

static int on_term(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        uint64_t bound;

        if (m->stopping)
                return 0;
        m->stopping = true;
        log_msg("stopping (signal %u): aborting active sessions", si->ssi_signo);
        (void) sd_notify(0, "STOPPING=1");
        m->listen_source = sd_event_source_disable_unref(m->listen_source);

        for (Client *c = m->clients; c; c = c->next)
                if (c->session) {
                        Session *s = TAKE_PTR(c->session);
                        session_requester_gone(s, "lvssd is stopping");
                }
        external_stop(m); /* issue 10 part 2: a held freeze is thawed */

        if (stopped(m))
                return sd_event_exit(m->event, 0);

        /* Every teardown step is bounded by an event deadline; so is the stop. */
        bound = 2 * m->cfg.event_timeout_usec + m->cfg.hold_window_usec;
        (void) sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, bound, 0, on_stop_timeout, m);
        (void) sd_event_add_post(m->event, NULL, on_check_stopped, m);
        return 0;
}

int main(int argc, char **argv) {
        Manager m = { .listen_fd = -1, .registry_hooks = &session_registry_hooks };
        _cleanup_(freep) char *catalog_path = NULL;
        sigset_t mask;
        int r;

        r = config_parse_argv(&m.cfg, argc, argv);
        if (r <= 0) {
                config_done(&m.cfg);
                return r == 0 ? 0 : 2;
        }
        r = config_load_file(&m.cfg);
        if (r >= 0)
                r = config_finish(&m.cfg);
        if (r >= 0)
                r = config_resolve_accounts(&m.cfg); /* issue 11 §1: once, not per call */
        if (r < 0) {
                config_done(&m.cfg);
                return 1;
        }
        log_setup(m.cfg.log_target); /* issue 12 §3: the journal or stderr, from here on */

        /* Signals arrive through the loop; SIGCHLD too (the commit child). */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = lvss_mkdir_parents(m.cfg.state_dir, 0700);
        if (r < 0) {
                log_msg("cannot create %s: %s", m.cfg.state_dir, strerror(-r));
                goto finish;
        }
        r = lvss_mkdir_parents(m.cfg.storage_dir, 0700);
        if (r < 0) {
                log_msg("cannot create %s: %s", m.cfg.storage_dir, strerror(-r));
                goto finish;
        }
        if (asprintf(&catalog_path, "%s/catalog.db", m.cfg.state_dir) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        r = lvss_catalog_open(catalog_path, &m.catalog);
        if (r < 0) {
                log_msg("cannot open the catalog %s: %s", catalog_path, strerror(-r));
                goto finish;
        }
        r = manager_providers_init(&m);
        if (r < 0)
                goto finish;
        manager_recover(&m);

        /* Not sd_event_default(): the default loop checks its thread with a gettid() system
         * call on every iteration (sd_event_prepare()); lvssd has one loop, made here. */
        r = sd_event_new(&m.event);
        if (r < 0)
                goto finish;
        /* issue 11 §1: from here on the catalog is written by its own thread */
        r = lvss_catalog_queue_new(catalog_path, m.event, &m.catalog_queue);
        if (r < 0) {
                log_msg("cannot start the catalog thread for %s: %s", catalog_path, strerror(-r));
                goto finish;
        }
        if (m.cfg.metrics_file) {
                /* issue 12 §3: written by its own thread; the session counts of earlier runs read here */
                r = metrics_new(m.event, m.catalog_queue, m.cfg.metrics_file, catalog_path, &m.metrics);
                if (r < 0) {
                        log_msg("cannot start writing metrics to %s: %s", m.cfg.metrics_file, strerror(-r));
                        goto finish;
                }
        }
        r = sd_event_add_signal(m.event, NULL, SIGTERM, on_term, &m);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGINT, on_term, &m);
        if (r < 0)
                goto finish;

        r = server_listen(&m);
        if (r < 0)
                goto finish;

        log_msg("ready on %s (state %s; deadlines: Identify %llu ms, events %llu ms, hold window %llu ms, "
                "provider steps %llu ms)",
                m.cfg.socket_path, m.cfg.state_dir,
                (unsigned long long) (m.cfg.identify_timeout_usec / USEC_PER_MSEC),
                (unsigned long long) (m.cfg.event_timeout_usec / USEC_PER_MSEC),
                (unsigned long long) (m.cfg.hold_window_usec / USEC_PER_MSEC),
                (unsigned long long) (m.cfg.provider_step_timeout_usec / USEC_PER_MSEC));
        (void) sd_notifyf(0, "READY=1\nSTATUS=Listening on %s", m.cfg.socket_path);

        r = sd_event_loop(m.event);
        log_msg("stopped");

finish:
        /* Anything still running when the loop ends is torn down here. */
        while (m.sessions)
                session_free(m.sessions);
        manager_flush_history_forced(&m, NULL); /* every row, a frozen session's too */
        m.metrics = metrics_free(m.metrics); /* the last step's metrics written first */
        server_done(&m);
        worker_done_all(&m); /* issue 11 §1: workers still running die with lvssd anyway */
        manager_providers_done(&m);
        /* every write queued is made before lvssd exits */
        m.catalog_queue = lvss_catalog_queue_free(m.catalog_queue);
        m.catalog = lvss_catalog_close(m.catalog);
        sd_event_unref(m.event);
        config_done(&m.cfg);
        return r < 0 ? 1 : 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Prometheus metrics for node_exporter's textfile collector (issue 12 §3).
 *
 * What a fleet's dashboard needs from lvssd: which writer failed, where, with
 * which code; whether each volume has a recent shadow copy; how long
 * applications stay frozen and backups take; how sessions end.
 *
 * Who does what:
 *
 *   loop (lvssd's sd-event)              metrics thread
 *   ──────────────────────               ──────────────
 *   metrics_writer_status()  ┐
 *   metrics_session_ended()  ├─ counters, states (memory only)
 *   metrics_changed()        ┘
 *        │ one deferred source per iteration
 *        ▼
 *   format the loop's part  ──text──►   read the catalog (its own read-only
 *   (bounded: a line per writer          connection): the "created" copies by
 *    and state, fixed histograms)        volume; their sizes (walked once per
 *                                        copy, then cached); write PATH.XXXXXX,
 *                                        fsync, rename over PATH
 *
 * The loop never waits for the thread: it replaces the text waiting there
 * (the newest wins; an older one not yet written is never needed). The file
 * is replaced whole by rename(), so node_exporter reads the old file or the
 * new one, never a half one; the temporary name does not end in ".prom", so
 * the collector never reads it.
 *
 * Across a restart: lvss_sessions_total is read back from the catalog's
 * sessions table at start-up (one GROUP BY on its state index, before the
 * loop runs), so it only grows. The histograms and writer states start
 * empty: rebuilding them would read the whole writer-status history; a
 * Prometheus histogram that restarts at zero is a counter reset, which
 * rate() and increase() handle.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"
#include "manager.h"
#include "metrics-format.h"
#include "metrics.h"

/* The freeze window: applications are frozen milliseconds to seconds (WS-6 bounds it). */
static const double freeze_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
/* A whole backup session: seconds to hours. */
static const double backup_bounds[] = { 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600 };
#define N_FREEZE_BOUNDS ELEMENTSOF(freeze_bounds)
#define N_BACKUP_BOUNDS ELEMENTSOF(backup_bounds)

static const char *const results[] = { "completed", "aborted", "ended" };
#define N_RESULTS ELEMENTSOF(results)

/* The writer states, highest VSS_WS_* value checked (types.h). */
#define N_STATES 16

typedef struct MetricsWriter {
        char *writer, *instance; /* the labels: a writer instance across its reconnections */
        vss_writer_state state;
        vss_hresult failure;      /* the last failure, and when and at which event */
        uint64_t failure_usec;
        vss_writer_event failure_event;
        vss_id frozen_session;    /* Freeze answered in this session at frozen_usec: the window is open */
        uint64_t frozen_usec;
        bool frozen;
} MetricsWriter;

typedef struct VolumeRow {
        char *volume;
        uint64_t copies, bytes, last_usec;
} VolumeRow;

typedef struct SizeCache {
        char *id;
        uint64_t bytes;
        bool seen;
} SizeCache;

struct Metrics {
        sd_event_source *defer;
        bool dirty;
        lvss_catalog_queue *queue; /* borrowed: the volume part is read after what was queued before is written */
        char *path;
        MetricsWriter *writers;
        size_t n_writers;
        uint64_t sessions[N_RESULTS];
        uint64_t freeze_counts[N_FREEZE_BOUNDS + 1], backup_counts[N_BACKUP_BOUNDS + 1];
        PromHistogram freeze, backup;

        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        char *pending;            /* under lock: the loop's part, to be written */
        bool quit;                /* under lock */

        /* the thread's own. What it allocates while writing hangs here, not on its stack: lvssd
         * forks workers (worker.c) at any time, and a child, which has no thread, must still reach
         * it (valgrind's leak check of the worker children) */
        char *writing, *tmp_path;
        struct VolumeRow *vols;
        size_t n_vols;
        sqlite3 *db;
        SizeCache *sizes;
        size_t n_sizes;
        int last_error;           /* said once until it changes */
};

/* ---- the loop's part ------------------------------------------------------- */

static const char *state_label(vss_writer_state st, char *buf, size_t size) {
        const char *n = vss_writer_state_name(st);
        size_t i = 0;

        if (!n)
                return NULL;
        if (strncmp(n, "VSS_WS_", 7) == 0)
                n += 7;
        for (; n[i] && i + 1 < size; i++)
                buf[i] = (char) (n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
        buf[i] = 0;
        return buf;
}

static void format_loop_part(const Metrics *m, FILE *f) {
        char hr[16], state[64];

        prom_header(f, "lvss_writer_state",
                    "The writer instance's state after its last event (1 for its state, 0 for the others)", "gauge");
        for (size_t i = 0; i < m->n_writers; i++) {
                const MetricsWriter *w = &m->writers[i];
                for (int st = 0; st < N_STATES; st++) {
                        const char *label = state_label((vss_writer_state) st, state, sizeof state);
                        if (!label)
                                continue;
                        const char *l[] = { "writer", w->writer, "instance", w->instance, "state", label, NULL };
                        prom_sample(f, "lvss_writer_state", l, (vss_writer_state) st == w->state ? 1 : 0);
                }
        }
        prom_header(f, "lvss_writer_last_failure_timestamp_seconds",
                    "When the writer instance last failed an event, with the event and its VSS result code", "gauge");
        for (size_t i = 0; i < m->n_writers; i++) {
                const MetricsWriter *w = &m->writers[i];
                if (!w->failure_usec)
                        continue;
                snprintf(hr, sizeof hr, "0x%08X", (unsigned) w->failure);
                const char *l[] = { "writer", w->writer, "instance", w->instance,
                                    "event", vss_writer_event_name(w->failure_event) ?: "?",
                                    "hresult", hr, "code", vss_hresult_name(w->failure) ?: "?", NULL };
                prom_sample(f, "lvss_writer_last_failure_timestamp_seconds", l, (double) w->failure_usec / 1e6);
        }
        prom_header(f, "lvss_sessions_total", "Requester sessions ended, by how they ended", "counter");
        for (size_t i = 0; i < N_RESULTS; i++) {
                const char *l[] = { "result", results[i], NULL };
                prom_sample(f, "lvss_sessions_total", l, (double) m->sessions[i]);
        }
        prom_header(f, "lvss_freeze_window_seconds",
                    "How long each writer's application stayed frozen: Freeze sent to Thaw (or Abort) answered",
                    "histogram");
        prom_histogram(f, "lvss_freeze_window_seconds", NULL, &m->freeze);
        prom_header(f, "lvss_backup_duration_seconds",
                    "Backup sessions from OpenSession to their end, whatever the result", "histogram");
        prom_histogram(f, "lvss_backup_duration_seconds", NULL, &m->backup);
}

/* Formats the loop's part now and hands it to the thread. */
static void hand_over(Metrics *m) {
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f) {
                log_msg("metrics: out of memory; %s not updated", m->path);
                return;
        }
        format_loop_part(m, f);
        if (fclose(f) != 0 || !text) {
                free(text);
                log_msg("metrics: out of memory; %s not updated", m->path);
                return;
        }
        pthread_mutex_lock(&m->lock);
        free(m->pending);
        m->pending = text;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
}

/* The catalog writes queued before this step's end are on disk: the thread will read them. */
static void on_catalog_caught_up(int r, void *data, void *userdata) {
        (void) r;
        (void) data;
        hand_over(userdata);
}

static int on_defer(sd_event_source *s, void *userdata) {
        Metrics *m = userdata;

        m->dirty = false;
        /* The copies' rows (a deletion, a "created" mark) are written by the catalog thread in
         * order: a barrier behind them, and the loop's part is formatted when it is reached. */
        if (m->queue && lvss_catalog_queue_barrier(m->queue, on_catalog_caught_up, m) >= 0)
                return 0;
        hand_over(m);
        return 0;
}

void metrics_changed(Metrics *m) {
        if (!m || m->dirty)
                return;
        if (sd_event_source_set_enabled(m->defer, SD_EVENT_ONESHOT) < 0)
                return;
        m->dirty = true;
}

static MetricsWriter *writer_of(Metrics *m, const char *writer, const char *instance) {
        MetricsWriter *a;

        for (size_t i = 0; i < m->n_writers; i++)
                if (streq_ptr(m->writers[i].writer, writer) && streq_ptr(m->writers[i].instance, instance))
                        return &m->writers[i];
        a = reallocarray(m->writers, m->n_writers + 1, sizeof *a);
        if (!a)
                return NULL;
        m->writers = a;
        a = &m->writers[m->n_writers];
        *a = (MetricsWriter) { .writer = strdup(writer), .instance = strdup(instance) };
        if (!a->writer || !a->instance) {
                free(a->writer);
                free(a->instance);
                return NULL;
        }
        m->n_writers++;
        return a;
}

void metrics_writer_status(Metrics *m, const lvss_catalog_status *row) {
        MetricsWriter *w;
        uint64_t end;

        if (!m)
                return;
        w = writer_of(m, strempty(row->writer_name), strempty(row->instance_name));
        if (!w) {
                log_msg("metrics: out of memory; writer '%s' not counted", strempty(row->writer_name));
                return;
        }
        end = row->sent_usec + row->duration_usec;
        w->state = row->state;
        /* the event this row is about failed (later rows of the session keep the failure in their state) */
        if (!row->ok && VSS_FAILED(row->failure)) {
                w->failure = row->failure;
                w->failure_usec = end ? end : 1;
                w->failure_event = row->event;
        }
        if (row->event == VSS_EVENT_FREEZE && row->ok) {
                w->frozen = true;
                w->frozen_session = row->session_id;
                w->frozen_usec = row->sent_usec;
        } else if ((row->event == VSS_EVENT_THAW || row->event == VSS_EVENT_ABORT) && w->frozen &&
                   vss_id_equal(&w->frozen_session, &row->session_id)) {
                w->frozen = false;
                prom_histogram_observe(&m->freeze, end > w->frozen_usec ? (double) (end - w->frozen_usec) / 1e6 : 0);
        }
        metrics_changed(m);
}

void metrics_session_ended(Metrics *m, const char *result, bool backup, uint64_t duration_usec) {
        if (!m)
                return;
        for (size_t i = 0; i < N_RESULTS; i++)
                if (streq_ptr(results[i], result))
                        m->sessions[i]++;
        if (backup)
                prom_histogram_observe(&m->backup, (double) duration_usec / 1e6);
        metrics_changed(m);
}

/* ---- the thread's part ----------------------------------------------------- */

static uint64_t walk_bytes;

static int add_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) path;
        (void) flag;
        (void) ftw;
        walk_bytes += (uint64_t) st->st_blocks * 512;
        return 0;
}

/* What a copy takes on disk (allocated blocks; a btrfs snapshot's shared extents count whole). */
static uint64_t copy_bytes(Metrics *m, const char *id, const char *path) {
        SizeCache *a;

        for (size_t i = 0; i < m->n_sizes; i++)
                if (streq_ptr(m->sizes[i].id, id)) {
                        m->sizes[i].seen = true;
                        return m->sizes[i].bytes;
                }
        /* one thread walks at a time (only the metrics thread calls this) */
        walk_bytes = 0;
        if (path && *path)
                (void) nftw(path, add_entry, 16, FTW_PHYS | FTW_MOUNT);
        a = reallocarray(m->sizes, m->n_sizes + 1, sizeof *a);
        if (a) {
                m->sizes = a;
                a[m->n_sizes] = (SizeCache) { .id = strdup(id), .bytes = walk_bytes, .seen = true };
                if (a[m->n_sizes].id)
                        m->n_sizes++;
        }
        return walk_bytes;
}


static void volumes_clear(Metrics *m) {
        for (size_t i = 0; i < m->n_vols; i++)
                free(m->vols[i].volume);
        m->vols = mfree(m->vols);
        m->n_vols = 0;
}

static void format_volumes(Metrics *m, FILE *f) {
        sqlite3_stmt *st = NULL;

        for (size_t i = 0; i < m->n_sizes; i++)
                m->sizes[i].seen = false;
        if (m->db && sqlite3_prepare_v2(m->db,
                                        "SELECT id, volume, snapshot_path, created_usec FROM snapshots "
                                        "WHERE state = 'created' ORDER BY volume",
                                        -1, &st, NULL) == SQLITE_OK) {
                while (sqlite3_step(st) == SQLITE_ROW) {
                        const char *id = (const char *) sqlite3_column_text(st, 0);
                        const char *vol = (const char *) sqlite3_column_text(st, 1);
                        const char *path = (const char *) sqlite3_column_text(st, 2);
                        uint64_t created = (uint64_t) sqlite3_column_int64(st, 3);

                        if (!id || !vol)
                                continue;
                        if (m->n_vols == 0 || !streq_ptr(m->vols[m->n_vols - 1].volume, vol)) {
                                VolumeRow *a = reallocarray(m->vols, m->n_vols + 1, sizeof *a);
                                if (!a)
                                        break;
                                m->vols = a;
                                a[m->n_vols] = (VolumeRow) { .volume = strdup(vol) };
                                if (!a[m->n_vols].volume)
                                        break;
                                m->n_vols++;
                        }
                        VolumeRow *row = &m->vols[m->n_vols - 1];
                        row->copies++;
                        row->bytes += copy_bytes(m, id, path);
                        if (created > row->last_usec)
                                row->last_usec = created;
                }
                sqlite3_finalize(st);
        }
        /* forget the sizes of copies that are gone */
        for (size_t i = 0; i < m->n_sizes;)
                if (!m->sizes[i].seen) {
                        free(m->sizes[i].id);
                        m->sizes[i] = m->sizes[--m->n_sizes];
                } else
                        i++;

        prom_header(f, "lvss_volume_last_shadow_copy_timestamp_seconds",
                    "When the newest shadow copy of the volume that exists was made", "gauge");
        for (size_t i = 0; i < m->n_vols; i++) {
                const char *l[] = { "volume", m->vols[i].volume, NULL };
                prom_sample(f, "lvss_volume_last_shadow_copy_timestamp_seconds", l,
                            (double) m->vols[i].last_usec / 1e6);
        }
        prom_header(f, "lvss_volume_shadow_copies", "Shadow copies of the volume that exist", "gauge");
        for (size_t i = 0; i < m->n_vols; i++) {
                const char *l[] = { "volume", m->vols[i].volume, NULL };
                prom_sample(f, "lvss_volume_shadow_copies", l, (double) m->vols[i].copies);
        }
        prom_header(f, "lvss_volume_shadow_storage_bytes",
                    "Disk space the volume's shadow copies take (allocated blocks)", "gauge");
        for (size_t i = 0; i < m->n_vols; i++) {
                const char *l[] = { "volume", m->vols[i].volume, NULL };
                prom_sample(f, "lvss_volume_shadow_storage_bytes", l, (double) m->vols[i].bytes);
        }
        volumes_clear(m);
}

/* PATH.XXXXXX in PATH's directory, fsync, rename over PATH: the file is whole or the old one. */
static int write_tmp(Metrics *m, const char *loop_part, char *tmp) {
        int fd, r = 0;
        FILE *f;

        fd = mkstemp(tmp);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0)
                r = -errno;
        f = r < 0 ? NULL : fdopen(fd, "w");
        if (!f) {
                r = r < 0 ? r : -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        fputs(loop_part, f);
        format_volumes(m, f);
        if (fflush(f) != 0 || ferror(f))
                r = -EIO;
        if (r >= 0 && fsync(fileno(f)) < 0)
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -EIO;
        if (r >= 0 && rename(tmp, m->path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

static int write_file(Metrics *m, const char *loop_part) {
        int r;

        m->tmp_path = mfree(m->tmp_path);
        if (asprintf(&m->tmp_path, "%s.XXXXXX", m->path) < 0) {
                m->tmp_path = NULL;
                return -ENOMEM;
        }
        r = write_tmp(m, loop_part, m->tmp_path);
        m->tmp_path = mfree(m->tmp_path);
        return r;
}

static void *metrics_thread(void *userdata) {
        Metrics *m = userdata;

        for (;;) {
                bool quit;
                int r;

                pthread_mutex_lock(&m->lock);
                while (!m->pending && !m->quit)
                        pthread_cond_wait(&m->cond, &m->lock);
                m->writing = m->pending;
                m->pending = NULL;
                quit = m->quit;
                pthread_mutex_unlock(&m->lock);

                if (m->writing) {
                        r = write_file(m, m->writing);
                        m->writing = mfree(m->writing);
                        if (r < 0 && r != m->last_error)
                                log_msg("metrics: cannot write %s: %s", m->path, strerror(-r));
                        else if (r >= 0 && m->last_error < 0)
                                log_msg("metrics: %s written again", m->path);
                        m->last_error = r < 0 ? r : 0;
                }
                if (quit)
                        return NULL;
        }
}

/* ---- start and stop -------------------------------------------------------- */

/* PATH.XXXXXX files a killed lvssd left mid-write (the collector ignores them; nobody else would remove them). */
static void remove_stale_temporaries(const char *path) {
        _cleanup_(freep) char *copy = strdup(path);
        const char *base;
        char *slash;
        size_t n;
        DIR *d;

        if (!copy || !(slash = strrchr(copy, '/')))
                return;
        *slash = 0;
        base = slash + 1;
        n = strlen(base);
        d = opendir(*copy ? copy : "/");
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));)
                if (strlen(de->d_name) == n + 7 && strncmp(de->d_name, base, n) == 0 && de->d_name[n] == '.' &&
                    unlinkat(dirfd(d), de->d_name, 0) == 0)
                        log_msg("metrics: removed %s/%s, left by an earlier run", copy, de->d_name);
        closedir(d);
}

/* lvss_sessions_total of earlier runs: the catalog keeps every session's end. */
static void read_back_sessions(Metrics *m) {
        sqlite3_stmt *st = NULL;

        if (!m->db || sqlite3_prepare_v2(m->db, "SELECT state, COUNT(*) FROM sessions GROUP BY state", -1, &st,
                                         NULL) != SQLITE_OK) {
                log_msg("metrics: cannot read the session counts of earlier runs: %s",
                        m->db ? sqlite3_errmsg(m->db) : "no catalog");
                return;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *state = (const char *) sqlite3_column_text(st, 0);
                for (size_t i = 0; i < N_RESULTS; i++)
                        if (state && streq_ptr(state, results[i]))
                                m->sessions[i] = (uint64_t) sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
}

int metrics_new(sd_event *event, lvss_catalog_queue *queue, const char *path, const char *catalog_path,
                Metrics **ret) {
        Metrics *m;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        m->freeze = (PromHistogram) { .bounds = freeze_bounds, .n_bounds = N_FREEZE_BOUNDS, .counts = m->freeze_counts };
        m->backup = (PromHistogram) { .bounds = backup_bounds, .n_bounds = N_BACKUP_BOUNDS, .counts = m->backup_counts };
        m->queue = queue;
        m->path = strdup(path);
        if (!m->path) {
                metrics_free(m);
                return -ENOMEM;
        }
        if (sqlite3_open_v2(catalog_path, &m->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                log_msg("metrics: cannot read the catalog %s: %s; no volume metrics", catalog_path,
                        m->db ? sqlite3_errmsg(m->db) : "out of memory");
                sqlite3_close(m->db);
                m->db = NULL;
        } else
                sqlite3_busy_timeout(m->db, 5000);
        read_back_sessions(m);
        remove_stale_temporaries(path);

        r = sd_event_add_defer(event, &m->defer, on_defer, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->defer, SD_EVENT_OFF);
        if (r >= 0) {
                r = -pthread_create(&m->thread, NULL, metrics_thread, m);
                m->thread_started = r >= 0;
        }
        if (r < 0) {
                metrics_free(m);
                return r;
        }
        metrics_changed(m); /* the file at start-up */
        *ret = m;
        return 0;
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        if (m->queue)
                lvss_catalog_queue_forget(m->queue, m);
        if (m->dirty || m->queue)
                hand_over(m); /* the last step's metrics, before lvssd exits */
        m->defer = sd_event_source_disable_unref(m->defer);
        if (m->thread_started) {
                pthread_mutex_lock(&m->lock);
                m->quit = true;
                pthread_cond_signal(&m->cond);
                pthread_mutex_unlock(&m->lock);
                pthread_join(m->thread, NULL);
        }
        free(m->pending);
        free(m->writing);
        free(m->tmp_path);
        volumes_clear(m);
        sqlite3_close(m->db);
        for (size_t i = 0; i < m->n_writers; i++) {
                free(m->writers[i].writer);
                free(m->writers[i].instance);
        }
        free(m->writers);
        for (size_t i = 0; i < m->n_sizes; i++)
                free(m->sizes[i].id);
        free(m->sizes);
        free(m->path);
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        free(m);
        return NULL;
}

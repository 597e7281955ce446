/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The catalog off the event path (issue 11 §1).
 *
 * Every catalog write is durable when it returns (WAL, synchronous=FULL: an
 * fsync per transaction), which on a busy or slow disk takes milliseconds to
 * seconds. lvssd's loop must not wait for that: while one session's rows are
 * written, another session's Thaw, a writer's reply and `vssadmin list
 * writers` are due. So one thread owns a connection to the catalog and runs
 * jobs; the loop queues them and goes on.
 *
 * Order. The thread runs jobs one at a time in the order they were queued,
 * so a job sees the effect of every job queued before it: "remove this row"
 * queued after "add this row" removes it even when neither has run yet, and
 * a read (lvss_catalog_queue_list_snapshots) sees every write queued before
 * it. The loop can therefore treat a queued write as done for ordering
 * purposes (a snapshot "in the catalog" once its row is queued).
 *
 * Durability. A step that must not continue before a write is on disk (the
 * rows of a set before the commit makes its copies; the "created" mark before
 * the requester is told a persistent copy exists) queues the write with a
 * completion and continues only in it (or queues a barrier after its writes
 * and continues in the barrier's completion). Writes that only record
 * history (session rows at the end, writer outcomes) are queued without
 * waiting: nothing waits for them; a failure is still reported through a
 * completion that marks the record incomplete. The writer-status history is
 * not synced by its own commit (issue 11 §5: lvss_catalog_status_add_many()
 * says why), and history jobs queued one after another run as one
 * transaction.
 *
 * Completions. The thread moves a finished job to a "done" list and writes
 * an eventfd; the loop's io source on it runs the completions in order. A
 * completion's userdata (a session) may go away before the job finished:
 * lvss_catalog_queue_forget() drops every completion for it, and the job
 * still runs (a write once queued is never lost).
 *
 * Shutdown. lvss_catalog_queue_free() lets the thread run what is queued,
 * then joins it and runs the completions still due: no write queued before
 * lvssd exits is lost.
 *
 * Start-up recovery and the rare blocking case. Recovery runs before the
 * loop, on lvssd's own connection. A writer class's first owner is written
 * with lvss_catalog_queue_run_wait() (once per class, ever).
 *
 * Test hook: LVSS_TEST_CATALOG_DELAY_MS=N makes the thread wait N ms before
 * each write job (a slow disk); the loop must not notice.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog-queue.h"
#include "basic/util.h"

typedef struct Job Job;
struct Job {
        Job *next;
        lvss_catalog_run_t run;
        void *data;
        void (*free_data)(void *);
        lvss_catalog_done_t done;
        void *userdata;
        bool write;
        bool waited;   /* run_wait: the caller waits for @finished */
        bool finished;
        int r;
};

struct lvss_catalog_queue {
        lvss_catalog *c; /* the thread's connection */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t wake;     /* the thread: a job or the stop */
        pthread_cond_t finished; /* run_wait: a waited job finished */
        Job *todo, **todo_tail;
        Job *batch;   /* the thread's: taken from todo, not run yet */
        Job *running;
        Job *done, **done_tail;
        Job *dispatching; /* the loop's: completions on_done() took and has not run yet */
        bool stop;
        int efd;
        sd_event_source *source;
        unsigned delay_ms;
};

static void job_free(Job *j) {
        if (!j)
                return;
        if (j->free_data)
                j->free_data(j->data);
        free(j);
}

static void test_delay(lvss_catalog_queue *q) {
        struct timespec ts = { .tv_sec = (time_t) (q->delay_ms / 1000), .tv_nsec = (long) (q->delay_ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int run_status(lvss_catalog *c, void *p);

static bool is_history(const Job *j) {
        return j && j->run == run_status && !j->waited;
}

/* The history jobs from @first on (a chain of is_history() jobs) in one transaction;
 * each job's result is the transaction's, or when it failed, its own. */
static void run_history(lvss_catalog_queue *q, Job *first) {
        const lvss_catalog_status *stack_rows[16] = { 0 }, **rows = stack_rows;
        size_t stack_n[16] = { 0 }, *n = stack_n, k = 0, i = 0;
        int r;

        for (Job *j = first; j; j = j->next)
                k++;
        if (k > ELEMENTSOF(stack_rows)) {
                rows = calloc(k, sizeof *rows);
                n = calloc(k, sizeof *n);
        }
        if (!rows || !n) {
                /* no memory for the list: one transaction each, as queued */
                for (Job *j = first; j; j = j->next)
                        j->r = j->run(q->c, j->data);
        } else {
                for (Job *j = first; j; j = j->next, i++) {
                        const lvss_catalog_status_rows *h = j->data;
                        rows[i] = h->rows;
                        n[i] = h->n;
                }
                r = lvss_catalog_status_add_batches(q->c, rows, n, k);
                /* a failure is each job's own, as if it had run alone (one session's
                 * rows refused must not lose another's): then one at a time */
                for (Job *j = first; j; j = j->next)
                        j->r = r >= 0 ? r : j->run(q->c, j->data);
        }
        if (rows != stack_rows)
                free(rows);
        if (n != stack_n)
                free(n);
}

static void *thread_main(void *userdata) {
        lvss_catalog_queue *q = userdata;

        pthread_mutex_lock(&q->lock);
        for (;;) {
                bool writes = false;

                if (!q->todo) {
                        if (q->stop)
                                break;
                        pthread_cond_wait(&q->wake, &q->lock);
                        continue;
                }
                /* everything queued so far is one batch: the test delay stands for one slow
                 * disk access before it (a slow disk, not a slow queue) */
                q->batch = q->todo;
                q->todo = NULL;
                q->todo_tail = &q->todo;
                for (Job *j = q->batch; j; j = j->next)
                        writes = writes || j->write;
                pthread_mutex_unlock(&q->lock);
                if (writes && q->delay_ms > 0)
                        test_delay(q);
                pthread_mutex_lock(&q->lock);

                while (q->batch) {
                        Job *j = q->batch, *last = j;
                        /* issue 11 §5: history rows queued one after another (several
                         * events, several sessions) go in one transaction */
                        while (is_history(last) && is_history(last->next))
                                last = last->next;
                        q->batch = last->next;
                        last->next = NULL;
                        q->running = j;
                        pthread_mutex_unlock(&q->lock);

                        if (j != last)
                                run_history(q, j);
                        else
                                j->r = j->run ? j->run(q->c, j->data) : 0;

                        pthread_mutex_lock(&q->lock);
                        q->running = NULL;
                        if (j->waited) {
                                j->finished = true;
                                pthread_cond_broadcast(&q->finished);
                                continue; /* the waiting caller frees it */
                        }
                        *q->done_tail = j;
                        q->done_tail = &last->next;
                        uint64_t one = 1;
                        (void) !write(q->efd, &one, sizeof one);
                }
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

/* On the loop: the completions of every job the thread finished, in order. */
static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        lvss_catalog_queue *q = userdata;
        uint64_t n;
        Job *list;

        (void) !read(q->efd, &n, sizeof n);
        pthread_mutex_lock(&q->lock);
        list = q->done;
        q->done = NULL;
        q->done_tail = &q->done;
        pthread_mutex_unlock(&q->lock);

        /* a completion may forget others of this list (lvss_catalog_queue_forget walks it too) */
        q->dispatching = list;
        while (q->dispatching) {
                Job *j = q->dispatching;
                q->dispatching = j->next;
                if (j->done)
                        j->done(j->r, j->data, j->userdata);
                job_free(j);
        }
        return 0;
}

int lvss_catalog_queue_new(const char *path, sd_event *event, lvss_catalog_queue **ret) {
        lvss_catalog_queue *q;
        const char *e;
        int r;

        if (!path || !event || !ret)
                return -EINVAL;
        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        q->efd = -1;
        q->todo_tail = &q->todo;
        q->done_tail = &q->done;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->wake, NULL);
        pthread_cond_init(&q->finished, NULL);

        e = getenv("LVSS_TEST_CATALOG_DELAY_MS");
        if (e && *e) {
                char *end;
                unsigned long ms;
                errno = 0;
                ms = strtoul(e, &end, 10);
                if (errno == 0 && !*end && ms <= 60000)
                        q->delay_ms = (unsigned) ms;
        }

        r = lvss_catalog_open(path, &q->c);
        if (r < 0)
                goto fail;
        q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &q->source, q->efd, EPOLLIN, on_done, q);
        if (r < 0)
                goto fail;
        r = -pthread_create(&q->thread, NULL, thread_main, q);
        if (r < 0)
                goto fail;
        q->thread_started = true;
        *ret = q;
        return 0;
fail:
        lvss_catalog_queue_free(q);
        return r;
}

lvss_catalog_queue *lvss_catalog_queue_free(lvss_catalog_queue *q) {
        if (!q)
                return NULL;
        if (q->thread_started) {
                pthread_mutex_lock(&q->lock);
                q->stop = true;
                pthread_cond_signal(&q->wake);
                pthread_mutex_unlock(&q->lock);
                (void) pthread_join(q->thread, NULL);
        }
        /* the completions of what ran last (nothing else uses the queue now) */
        q->dispatching = q->done;
        q->done = NULL;
        while (q->dispatching) {
                Job *j = q->dispatching;
                q->dispatching = j->next;
                if (j->done)
                        j->done(j->r, j->data, j->userdata);
                job_free(j);
        }
        while (q->todo) { /* only when the thread never started */
                Job *j = q->todo;
                q->todo = j->next;
                job_free(j);
        }
        q->source = sd_event_source_disable_unref(q->source);
        if (q->efd >= 0)
                close(q->efd);
        q->c = lvss_catalog_close(q->c);
        pthread_cond_destroy(&q->finished);
        pthread_cond_destroy(&q->wake);
        pthread_mutex_destroy(&q->lock);
        free(q);
        return NULL;
}

unsigned lvss_catalog_queue_delay_ms(const lvss_catalog_queue *q) {
        return q ? q->delay_ms : 0;
}

static void enqueue(lvss_catalog_queue *q, Job *j) {
        pthread_mutex_lock(&q->lock);
        *q->todo_tail = j;
        q->todo_tail = &j->next;
        pthread_cond_signal(&q->wake);
        pthread_mutex_unlock(&q->lock);
}

int lvss_catalog_queue_submit(lvss_catalog_queue *q, lvss_catalog_run_t run, void *data, void (*free_data)(void *),
                              bool write, lvss_catalog_done_t done, void *userdata) {
        Job *j;

        if (!q) {
                if (free_data)
                        free_data(data);
                return -EINVAL;
        }
        j = calloc(1, sizeof *j);
        if (!j) {
                if (free_data)
                        free_data(data);
                return -ENOMEM;
        }
        *j = (Job) { .run = run, .data = data, .free_data = free_data, .write = write, .done = done,
                     .userdata = userdata };
        enqueue(q, j);
        return 0;
}

int lvss_catalog_queue_run_wait(lvss_catalog_queue *q, lvss_catalog_run_t run, void *data) {
        Job j = { .run = run, .data = data, .write = true, .waited = true };
        int r;

        if (!q)
                return -EINVAL;
        enqueue(q, &j);
        pthread_mutex_lock(&q->lock);
        while (!j.finished)
                pthread_cond_wait(&q->finished, &q->lock);
        r = j.r;
        pthread_mutex_unlock(&q->lock);
        return r;
}

int lvss_catalog_queue_barrier(lvss_catalog_queue *q, lvss_catalog_done_t done, void *userdata) {
        return lvss_catalog_queue_submit(q, NULL, NULL, NULL, false, done, userdata);
}

void lvss_catalog_queue_forget(lvss_catalog_queue *q, const void *userdata) {
        if (!q || !userdata)
                return;
        pthread_mutex_lock(&q->lock);
        for (Job *j = q->todo; j; j = j->next)
                if (j->userdata == userdata)
                        j->done = NULL;
        for (Job *j = q->batch; j; j = j->next)
                if (j->userdata == userdata)
                        j->done = NULL;
        for (Job *j = q->running; j; j = j->next) /* one job, or a chain of history jobs */
                if (j->userdata == userdata)
                        j->done = NULL;
        for (Job *j = q->done; j; j = j->next)
                if (j->userdata == userdata)
                        j->done = NULL;
        pthread_mutex_unlock(&q->lock);
        for (Job *j = q->dispatching; j; j = j->next) /* the loop's own: no lock */
                if (j->userdata == userdata)
                        j->done = NULL;
}

/* ---- typed jobs ---------------------------------------------------------------- */

typedef struct Args {
        vss_id id;
        uid_t uid;
        pid_t pid;
        uint64_t usec;
        char *a, *b;
} Args;

static void args_free(void *p) {
        Args *a = p;
        if (!a)
                return;
        free(a->a);
        free(a->b);
        free(a);
}

static Args *args_new(const vss_id *id, const char *s1, const char *s2) {
        Args *a = calloc(1, sizeof *a);
        if (!a)
                return NULL;
        if (id)
                a->id = *id;
        a->a = s1 ? strdup(s1) : NULL;
        a->b = s2 ? strdup(s2) : NULL;
        if ((s1 && !a->a) || (s2 && !a->b)) {
                args_free(a);
                return NULL;
        }
        return a;
}

static int submit_args(lvss_catalog_queue *q, lvss_catalog_run_t run, Args *a, lvss_catalog_done_t done,
                       void *userdata) {
        if (!a)
                return -ENOMEM;
        return lvss_catalog_queue_submit(q, run, a, args_free, true, done, userdata);
}

static int run_session_begin(lvss_catalog *c, void *p) {
        Args *a = p;
        return lvss_catalog_session_begin(c, &a->id, a->uid, a->pid, a->usec);
}

int lvss_catalog_queue_session_begin(lvss_catalog_queue *q, const vss_id *session_id, uid_t uid, pid_t pid,
                                     uint64_t usec, lvss_catalog_done_t done, void *userdata) {
        Args *a = args_new(session_id, NULL, NULL);
        if (a) {
                a->uid = uid;
                a->pid = pid;
                a->usec = usec;
        }
        return submit_args(q, run_session_begin, a, done, userdata);
}

static int run_session_end(lvss_catalog *c, void *p) {
        Args *a = p;
        return lvss_catalog_session_end(c, &a->id, a->a, a->b, a->usec);
}

int lvss_catalog_queue_session_end(lvss_catalog_queue *q, const vss_id *session_id, const char *state,
                                   const char *reason, uint64_t usec) {
        Args *a = args_new(session_id, state, reason);
        if (a)
                a->usec = usec;
        return submit_args(q, run_session_end, a, NULL, NULL);
}

static int run_set_state(lvss_catalog *c, void *p) {
        Args *a = p;
        return lvss_catalog_snapshot_set_state(c, &a->id, a->a);
}

int lvss_catalog_queue_snapshot_set_state(lvss_catalog_queue *q, const vss_id *snapshot_id, const char *state,
                                          lvss_catalog_done_t done, void *userdata) {
        return submit_args(q, run_set_state, args_new(snapshot_id, state, NULL), done, userdata);
}

static int run_set_path(lvss_catalog *c, void *p) {
        Args *a = p;
        return lvss_catalog_snapshot_set_path(c, &a->id, a->a);
}

int lvss_catalog_queue_snapshot_set_path(lvss_catalog_queue *q, const vss_id *snapshot_id, const char *path,
                                         lvss_catalog_done_t done, void *userdata) {
        return submit_args(q, run_set_path, args_new(snapshot_id, path, NULL), done, userdata);
}

static int run_remove(lvss_catalog *c, void *p) {
        Args *a = p;
        return lvss_catalog_snapshot_remove(c, &a->id);
}

int lvss_catalog_queue_snapshot_remove(lvss_catalog_queue *q, const vss_id *snapshot_id, lvss_catalog_done_t done,
                                       void *userdata) {
        return submit_args(q, run_remove, args_new(snapshot_id, NULL, NULL), done, userdata);
}

static int run_frozen_remove(lvss_catalog *c, void *p) {
        Args *a = p;
        return lvss_catalog_frozen_remove(c, a->a);
}

int lvss_catalog_queue_frozen_remove(lvss_catalog_queue *q, const char *mount_point) {
        return submit_args(q, run_frozen_remove, args_new(NULL, mount_point, NULL), NULL, NULL);
}

typedef lvss_catalog_status_rows StatusRows;

void lvss_catalog_status_rows_free(lvss_catalog_status *rows, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free((char *) rows[i].writer_name);
                free((char *) rows[i].instance_name);
                free((char *) rows[i].application_message);
        }
        free(rows);
}

static void status_rows_free(void *p) {
        StatusRows *s = p;
        if (!s)
                return;
        lvss_catalog_status_rows_free(s->rows, s->n);
        free(s);
}

static int run_status(lvss_catalog *c, void *p) {
        StatusRows *s = p;
        return lvss_catalog_status_add_many(c, s->rows, s->n);
}

int lvss_catalog_queue_status_add_many(lvss_catalog_queue *q, lvss_catalog_status *rows, size_t n,
                                       lvss_catalog_done_t done, void *userdata) {
        StatusRows *s = calloc(1, sizeof *s);

        if (!s) {
                lvss_catalog_status_rows_free(rows, n);
                return -ENOMEM;
        }
        s->rows = rows;
        s->n = n;
        return lvss_catalog_queue_submit(q, run_status, s, status_rows_free, true, done, userdata);
}

/* ---- a set's records ---- */

typedef struct SetRecords {
        lvss_catalog_snapshot *rows;
        size_t n;
        vss_id session_id;
        lvss_catalog_frozen_row *frozen;
        size_t n_frozen;
} SetRecords;

static void snapshot_row_strings_free(lvss_catalog_snapshot *s) {
        free((char *) s->volume);
        free((char *) s->snapshot_path);
        free((char *) s->state);
}

static void set_records_free(void *p) {
        SetRecords *s = p;
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                snapshot_row_strings_free(&s->rows[i]);
        free(s->rows);
        for (size_t i = 0; i < s->n_frozen; i++) {
                free((char *) s->frozen[i].mount_point);
                free((char *) s->frozen[i].device);
        }
        free(s->frozen);
        free(s);
}

static int snapshot_row_copy(lvss_catalog_snapshot *d, const lvss_catalog_snapshot *s) {
        *d = *s;
        d->volume = s->volume ? strdup(s->volume) : NULL;
        d->snapshot_path = s->snapshot_path ? strdup(s->snapshot_path) : NULL;
        d->state = s->state ? strdup(s->state) : NULL;
        if ((s->volume && !d->volume) || (s->snapshot_path && !d->snapshot_path) || (s->state && !d->state)) {
                snapshot_row_strings_free(d);
                *d = (lvss_catalog_snapshot) {};
                return -ENOMEM;
        }
        return 0;
}

static int run_set_records(lvss_catalog *c, void *p) {
        SetRecords *s = p;
        size_t i;
        int r = 0;

        if (s->n > 0) {
                r = lvss_catalog_snapshots_add(c, s->rows, s->n);
                if (r < 0)
                        return r;
        }
        for (i = 0; i < s->n_frozen; i++) {
                r = lvss_catalog_frozen_add(c, s->frozen[i].mount_point, s->frozen[i].device, &s->session_id,
                                            s->frozen[i].usec);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                /* all or nothing: nothing is frozen yet, so nothing of the set is left */
                while (i-- > 0)
                        (void) lvss_catalog_frozen_remove(c, s->frozen[i].mount_point);
                for (size_t k = 0; k < s->n; k++)
                        (void) lvss_catalog_snapshot_remove(c, &s->rows[k].snapshot_id);
        }
        return r;
}

int lvss_catalog_queue_set_records(lvss_catalog_queue *q, const lvss_catalog_snapshot *rows, size_t n,
                                   const vss_id *session_id, const lvss_catalog_frozen_row *frozen, size_t n_frozen,
                                   lvss_catalog_done_t done, void *userdata) {
        SetRecords *s = calloc(1, sizeof *s);

        if (!s)
                return -ENOMEM;
        if (session_id)
                s->session_id = *session_id;
        s->rows = calloc(n ? n : 1, sizeof *s->rows);
        s->frozen = calloc(n_frozen ? n_frozen : 1, sizeof *s->frozen);
        if (!s->rows || !s->frozen)
                goto oom;
        for (; s->n < n; s->n++)
                if (snapshot_row_copy(&s->rows[s->n], &rows[s->n]) < 0)
                        goto oom;
        for (; s->n_frozen < n_frozen; s->n_frozen++) {
                lvss_catalog_frozen_row *d = &s->frozen[s->n_frozen];
                d->usec = frozen[s->n_frozen].usec;
                d->mount_point = strdup(frozen[s->n_frozen].mount_point);
                d->device = strdup(frozen[s->n_frozen].device);
                if (!d->mount_point || !d->device) {
                        s->n_frozen++; /* freed with the others */
                        goto oom;
                }
        }
        return lvss_catalog_queue_submit(q, run_set_records, s, set_records_free, true, done, userdata);
oom:
        set_records_free(s);
        return -ENOMEM;
}

/* ---- reads ---- */

static void snapshot_list_free(void *p) {
        lvss_catalog_snapshot_list *l = p;
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++)
                snapshot_row_strings_free(&l->rows[i]);
        free(l->rows);
        free(l);
}

static int list_append(const lvss_catalog_snapshot *s, void *userdata) {
        lvss_catalog_snapshot_list *l = userdata;
        lvss_catalog_snapshot *a = reallocarray(l->rows, l->n + 1, sizeof *a);

        if (!a)
                return -ENOMEM;
        l->rows = a;
        if (snapshot_row_copy(&a[l->n], s) < 0)
                return -ENOMEM;
        l->n++;
        return 0;
}

static int run_list(lvss_catalog *c, void *p) {
        return lvss_catalog_foreach_snapshot(c, list_append, p);
}

int lvss_catalog_queue_list_snapshots(lvss_catalog_queue *q, lvss_catalog_done_t done, void *userdata) {
        lvss_catalog_snapshot_list *l = calloc(1, sizeof *l);

        if (!l)
                return -ENOMEM;
        return lvss_catalog_queue_submit(q, run_list, l, snapshot_list_free, false, done, userdata);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Workers: provider steps off lvssd's loop (issue 11 §1).
 *
 * lvssd has one thread and one sd-event loop; while anything on it waits,
 * no writer's answer is read, no Thaw is sent, no admin call is answered.
 * The providers are tables of plain synchronous functions (provider.h):
 * the exec provider runs a program and waits for it, the copy provider
 * walks and copies whole trees, the btrfs provider makes ioctls that can
 * sleep in the kernel. So the loop never calls them: each step runs in a
 * worker, a child forked for it, and the loop hears back once.
 *
 *   loop                                    child (a fork of lvssd)
 *   ────                                    ─────────────────────
 *   worker_start(what, deadline, run, done)
 *     pipe, fork ─────────────────────────► PR_SET_PDEATHSIG, other fds closed
 *     io source: read the pipe as it comes  run(fd): the provider step, on
 *     time source: the deadline             its copy of the session's memory;
 *     child source: sd-event reaps it       writes its results on fd; exits
 *   ◄──────────────────────── exit ─────────
 *   done(r, everything it wrote)            (nothing it changed in memory
 *                                            reaches lvssd: only the pipe)
 *
 * Why a fork rather than a thread: the commit child already works this
 * way (WS-6: the hold window is enforced by SIGKILL, and a thread cannot
 * be killed); the providers were written for it (state on disk, results
 * by value); and a fork is the only thing that can be ended at a deadline
 * whatever the provider does. The price is a fork: steps are per set,
 * never per writer, and a session's checks and steps share one worker.
 *
 * The rules:
 *  - done() is called exactly once, from the loop, after the child is
 *    reaped, never from within worker_start(): r is 0 (run() returned 0,
 *    as the child reports on a pipe of its own before it exits; its exit
 *    status counts only when it died before reporting), -ETIME (killed at
 *    its deadline) or -EPROTO (another result, a death before reporting).
 *    What the results mean is the caller's business (snapshot.c,
 *    session.c, admin.c pack and unpack them).
 *  - The deadline is a SIGKILL, and the child is reaped only by its
 *    sd-event child source (a pidfd where the kernel has them), never by a
 *    waitpid() on the loop: a child asleep in the kernel (a btrfs ioctl,
 *    syncfs on a frozen file system) dies when that call returns, and
 *    until then the loop goes on.
 *  - worker_cancel(): the caller no longer cares (the session ended). The
 *    child is killed and keeps its record in the manager's list until it is
 *    reaped, so nothing leaks and the log says when it finally went.
 *  - worker_adopt(): a child that outlives the session that started it: the
 *    commit child of a session that ends before its killed commit is reaped
 *    (snapshot_set_kill_commit()) is killed and gets a new done(), which
 *    undoes the set once it is reaped.
 *  - The channel is a socket pair: the child writes its results on it, and
 *    the loop may write to the child (worker_send(): the commit child,
 *    forked before Freeze, waits for "go"). progress() (optional) sees what
 *    the child wrote as it comes (the commit child's "done": Thaw goes out
 *    before it exits); worker_detach() forgets a child that has said all it
 *    had to, and sd-event reaps it when it exits.
 *  - worker_ask(): a serving worker, one per session for IsVolumeSupported
 *    and AddToSnapshotSet (a set of N volumes costs one fork, not N) and,
 *    issue 11 §5, the set's begin_prepare, end_prepare, post_commit and
 *    finalize (snapshot.c: the request carries the set). It is
 *    forked at the first request and answers request after request, each
 *    framed on the socket pair, one at a time, each with its own deadline.
 *    A worker forked before the providers' settings changed
 *    (worker_providers_changed()) is ended at its next request instead.
 *    A request cut at its deadline, or a worker dead in one, fails once the
 *    worker is reaped; the caller's pointer to it is cleared then, and the
 *    next request forks a new one. worker_end() ends it (the end of the
 *    socket when idle, SIGKILL in a request); idle for WORKER_IDLE_USEC it
 *    ends itself.
 *  - A child dies with lvssd (PR_SET_PDEATHSIG) and holds none of its
 *    sockets, so a writer or requester sees lvssd's connections close when
 *    lvssd goes, not when some worker does.
 */

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager.h"
#include "worker.h"

struct Worker {
        Manager *m;
        Worker *next, *prev;
        char *what; /* "session {id}: copy: post_commit" */
        pid_t pid;
        int fd;
        int status_fd; /* the read end of the child's own report of its result (one byte) */
        uint8_t *out;
        size_t n_out;
        bool timed_out;
        bool cancelled;
        worker_done_t done;
        worker_progress_t progress;
        void *userdata;
        sd_event_source *child, *timer, *io;
        /* a serving worker (worker_ask()): what the child runs for each request, where the caller
         * keeps the worker (cleared when it goes), and the request waiting for its answer */
        bool serving;
        unsigned generation; /* worker_providers_changed() count when it was forked */
        Worker **owner;
        worker_answer_t answer;
        void *answer_userdata;
};

/* Manager keeps no field for us in coordinator.h's struct (another piece owns it): one list per
 * process is enough, lvssd has one Manager. */
static Worker *workers;

size_t worker_pending(const Manager *m) {
        size_t n = 0;

        for (Worker *w = workers; w; w = w->next)
                n += w->m == m;
        return n;
}

static void worker_unlink(Worker *w) {
        if (w->prev)
                w->prev->next = w->next;
        else if (workers == w)
                workers = w->next;
        if (w->next)
                w->next->prev = w->prev;
        w->next = w->prev = NULL;
}

static void worker_free(Worker *w) {
        if (w->owner && *w->owner == w)
                *w->owner = NULL;
        worker_unlink(w);
        w->child = sd_event_source_disable_unref(w->child);
        w->timer = sd_event_source_disable_unref(w->timer);
        w->io = sd_event_source_disable_unref(w->io);
        closep(&w->fd);
        closep(&w->status_fd);
        free(w->out);
        free(w->what);
        free(w);
}

int worker_write(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -errno ?: -EIO;
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

/* Everything readable now; 1 at end of file. The output is capped (16 MiB): a child that says
 * more is broken, and its results are cut (the caller's parser refuses them). A read shorter
 * than the buffer took all that was queued (a stream socket), so it is the last: no read that
 * only finds EAGAIN (issue 11 §5: the commit child's 'D' is read inside the freeze window).
 * What comes later, and the end of file, wake the io source again (level-triggered). */
static int worker_read(Worker *w) {
        for (;;) {
                uint8_t buf[8192];
                ssize_t k;

                if (w->fd < 0)
                        return 1;
                k = read(w->fd, buf, sizeof buf);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? 0 : -errno;
                if (k == 0)
                        return 1;
                if (w->n_out + (size_t) k <= 16u << 20) {
                        uint8_t *a = realloc(w->out, w->n_out + (size_t) k);
                        if (!a)
                                return -ENOMEM;
                        memcpy(a + w->n_out, buf, (size_t) k);
                        w->out = a;
                        w->n_out += (size_t) k;
                }
                if ((size_t) k < sizeof buf)
                        return 0;
        }
}

static void serve_answers(Worker *w);

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        size_t before = w->n_out;
        int r = worker_read(w);

        if (r != 0) /* end of file or an error: the exit says the rest */
                w->io = sd_event_source_disable_unref(w->io);
        if (r < 0 && (w->serving || w->progress) && w->pid > 0) {
                /* what it wrote could not be read (no memory): a serving worker does not exit by
                 * itself, so it is killed, and the request waiting is answered (-EPROTO) once it
                 * is reaped, instead of at its deadline; nor does one that talks as it goes (the
                 * commit child waits for "go" after it said it is ready): its exit says it failed */
                log_msg("%s: the worker's (pid %d) answer cannot be read: %s; killed", w->what, (int) w->pid,
                        strerror(-r));
                (void) kill(w->pid, SIGKILL);
        }
        if (w->serving) {
                serve_answers(w);
                return 0;
        }
        /* last: progress() may cancel, detach or hand over the worker (it is not freed then) */
        if (w->n_out > before && w->progress && !w->cancelled)
                w->progress(w, w->out, w->n_out, w->userdata);
        return 0;
}

/*
 * What the child said its result was: the byte worker_child() writes once run() has returned,
 * or -1 when it wrote none (it died first: a signal, the deadline, a crash).
 */
static int worker_reported(Worker *w) {
        uint8_t status;
        ssize_t k;

        if (w->status_fd < 0)
                return -1;
        do
                k = read(w->status_fd, &status, 1);
        while (k < 0 && errno == EINTR);
        return k == 1 ? status : -1;
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;
        int r, reported;

        (void) worker_read(w);
        reported = worker_reported(w);
        /* The child's result is what it reported once its work was done; how the process ended
         * after that does not change it. A fork of a process with threads can end badly after
         * its work: under valgrind, a block that only another thread of lvssd pointed to when
         * the fork happened (the catalog thread inside SQLite) looks "definitely lost" in the
         * child, whose leak check at exit then makes its exit status 99 (LeakSanitizer skips
         * forked children for the same reason). The exit status counts only when it said
         * nothing. */
        if (w->timed_out)
                r = -ETIME;
        else if (reported >= 0)
                r = reported == 0 ? 0 : -EPROTO;
        else if (si->si_code == CLD_EXITED && si->si_status == 0)
                r = 0;
        else
                r = -EPROTO;
        if (w->cancelled || w->timed_out)
                log_msg("%s: the worker (pid %d) is reaped%s", w->what, (int) w->pid,
                        w->timed_out ? " after its deadline" : "");
        else if (w->serving && !w->answer)
                log_msg("%s: the worker (pid %d) is gone", w->what, (int) w->pid);
        w->pid = 0;
        if (w->serving) {
                /* a request still waiting: it died in it (or was killed at its deadline); the
                 * next request forks a new worker */
                worker_answer_t answer = w->answer;
                void *ud = w->answer_userdata;

                w->answer = NULL;
                if (w->owner && *w->owner == w)
                        *w->owner = NULL;
                if (answer && !w->cancelled) {
                        if (!w->timed_out)
                                log_msg("%s: the worker (pid %d) died in a request", w->what, (int) si->si_pid);
                        answer(w->timed_out ? -ETIME : -EPROTO, NULL, 0, ud);
                }
        } else if (!w->cancelled && w->done)
                w->done(w, r, w->out, w->n_out, w->userdata);
        worker_free(w);
        return 0;
}

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        w->timer = sd_event_source_disable_unref(w->timer);
        if (w->pid <= 0)
                return 0;
        w->timed_out = true;
        log_msg("%s: the deadline has passed: the worker (pid %d) is killed", w->what, (int) w->pid);
        (void) kill(w->pid, SIGKILL);
        return 0;
}

static Worker *worker_new(Manager *m, const char *what, const char *tag) {
        Worker *w = calloc(1, sizeof *w);

        if (!w)
                return NULL;
        w->m = m;
        w->fd = -EBADF;
        w->status_fd = -EBADF;
        if (asprintf(&w->what, "%s%s%s", strempty(tag), tag ? ": " : "", what) < 0) {
                free(w);
                return NULL;
        }
        return w;
}

static void worker_link(Worker *w) {
        w->next = workers;
        if (workers)
                workers->prev = w;
        workers = w;
}

/* The sources of a running child: reaping, reading, and (@deadline != 0) the deadline. */
static int worker_watch(Worker *w, uint64_t deadline) {
        int r;

        r = sd_event_add_child(w->m->event, &w->child, w->pid, WEXITED, on_worker_exit, w);
        if (r < 0)
                return r;
        if (w->fd >= 0) {
                (void) fcntl(w->fd, F_SETFL, O_NONBLOCK);
                r = sd_event_add_io(w->m->event, &w->io, w->fd, EPOLLIN, on_io, w);
                if (r < 0)
                        return r;
        }
        if (deadline)
                r = sd_event_add_time(w->m->event, &w->timer, CLOCK_MONOTONIC, deadline, USEC_PER_MSEC,
                                      on_deadline, w);
        return r;
}

/*
 * Test hook (test-worker): LVSS_TEST_WORKER_EXIT=N makes a child that has reported its result
 * exit with status N, as valgrind's leak check at a forked child's exit can (worker_reported()).
 */
static int test_exit_status(int status) {
        const char *e = getenv("LVSS_TEST_WORKER_EXIT");
        char *end;
        long v;

        if (!e || !*e)
                return status;
        errno = 0;
        v = strtol(e, &end, 10);
        return errno == 0 && *end == 0 && v >= 0 && v <= 255 ? (int) v : status;
}

static _Noreturn void worker_child(int fd, int status_fd, pid_t parent, worker_run_t run, void *userdata) {
        sigset_t none;
        uint8_t status;
        int a, b;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(3);
        /* the socket as 3 and the status pipe as 4 (both close on exec: a program a provider runs
         * gets neither); stdin/out/err besides: none of lvssd's sockets, its catalog or its loop */
        a = fcntl(fd, F_DUPFD_CLOEXEC, 5);
        b = fcntl(status_fd, F_DUPFD_CLOEXEC, 5);
        if (a < 0 || b < 0 || dup3(a, 3, O_CLOEXEC) < 0 || dup3(b, 4, O_CLOEXEC) < 0)
                _exit(3);
        (void) close_range(5, ~0U, 0);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        status = (uint8_t) (run(3, userdata) & 0xff);
        (void) worker_write(4, &status, 1);
        _exit(test_exit_status(status));
}

int worker_start(Manager *m, const char *what, const char *tag, uint64_t timeout_usec, worker_run_t run,
                 worker_done_t done, void *userdata, Worker **ret) {
        Worker *w;
        int fds[2], status_pipe[2], r;
        pid_t parent = getpid();

        w = worker_new(m, what, tag);
        if (!w)
                return -ENOMEM;
        /* listed before the fork: in the child too it is reachable (valgrind's leak check at the
         * child's exit would call it lost otherwise, and fail the child) */
        w->done = done;
        w->userdata = userdata;
        worker_link(w);
        /* a socket pair, not a pipe: the loop may talk to the child too (worker_send()) */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
                r = -errno;
                worker_free(w);
                return r;
        }
        /* the child's own report of its result, apart from what it writes for the caller */
        if (pipe2(status_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                close(fds[0]);
                close(fds[1]);
                worker_free(w);
                return r;
        }
        fflush(stderr);
        w->pid = fork();
        if (w->pid < 0) {
                r = -errno;
                close(fds[0]);
                close(fds[1]);
                close(status_pipe[0]);
                close(status_pipe[1]);
                worker_free(w);
                return r;
        }
        if (w->pid == 0) {
                close(fds[0]);
                close(status_pipe[0]);
                worker_child(fds[1], status_pipe[1], parent, run, userdata);
        }
        close(fds[1]);
        close(status_pipe[1]);
        w->fd = fds[0];
        w->status_fd = status_pipe[0];
        (void) fcntl(w->status_fd, F_SETFL, O_NONBLOCK);
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        r = worker_watch(w, timeout_usec == 0 ? 0 : UINT64_MAX - now < timeout_usec ? UINT64_MAX : now + timeout_usec);
        if (r < 0) {
                /* cannot watch it: it is killed; without a child source it cannot be reaped on the
                 * loop, so it is reaped here, at once (SIGKILL cannot be refused by a fresh fork) */
                log_msg("%s: cannot watch the worker: %s", w->what, strerror(-r));
                (void) kill(w->pid, SIGKILL);
                w->child = sd_event_source_disable_unref(w->child);
                (void) waitpid(w->pid, NULL, 0);
                worker_free(w);
                return r;
        }
        if (timeout_usec == 0)
                log_msg("%s: runs in a worker (pid %d, no deadline of its own)", w->what, (int) w->pid);
        else
                log_msg("%s: runs in a worker (pid %d, deadline %llu ms)", w->what, (int) w->pid,
                        (unsigned long long) (timeout_usec / USEC_PER_MSEC));
        if (ret)
                *ret = w;
        return 0;
}

Worker *worker_cancel(Worker *w) {
        if (!w)
                return NULL;
        if (w->owner && *w->owner == w)
                *w->owner = NULL;
        w->owner = NULL;
        w->answer = NULL;
        w->cancelled = true;
        w->done = NULL;
        w->timer = sd_event_source_disable_unref(w->timer);
        if (w->pid > 0) {
                log_msg("%s: no longer needed: the worker (pid %d) is killed; reaped when it dies", w->what,
                        (int) w->pid);
                (void) kill(w->pid, SIGKILL);
        }
        return NULL;
}

int worker_adopt(Worker *w, const char *what, worker_done_t done, void *userdata) {
        char *name = NULL;

        if (!w || w->cancelled || w->pid <= 0)
                return -EINVAL;
        if (what && asprintf(&name, "%s (%s)", w->what, what) < 0)
                return -ENOMEM;
        if (name) {
                free(w->what);
                w->what = name;
        }
        w->done = done;
        w->userdata = userdata;
        w->progress = NULL;
        w->timer = sd_event_source_disable_unref(w->timer);
        w->timed_out = true; /* it is killed: done() sees -ETIME */
        (void) kill(w->pid, SIGKILL);
        log_msg("%s: the killed child (pid %d) is reaped when it dies", w->what, (int) w->pid);
        return 0;
}

void worker_set_progress(Worker *w, worker_progress_t progress) {
        if (w)
                w->progress = progress;
}

int worker_send(Worker *w, const void *data, size_t size) {
        if (!w || w->fd < 0 || w->pid <= 0)
                return -ESRCH;
        /* the socket is non-blocking on our side; a few bytes always fit in an empty buffer */
        for (;;) {
                ssize_t k = send(w->fd, data, size, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                return (size_t) k == size ? 0 : -EAGAIN;
        }
}

const uint8_t *worker_output(Worker *w, size_t *ret_size) {
        if (w->io && worker_read(w) != 0)
                w->io = sd_event_source_disable_unref(w->io);
        *ret_size = w->n_out;
        return w->out;
}

int worker_kill(Worker *w) {
        if (!w || w->pid <= 0)
                return -ESRCH;
        w->timer = sd_event_source_disable_unref(w->timer);
        w->timed_out = true;
        if (kill(w->pid, SIGKILL) < 0)
                return -errno;
        return 0;
}

Worker *worker_detach(Worker *w) {
        if (!w)
                return NULL;
        w->cancelled = true;
        w->done = NULL;
        w->progress = NULL;
        return NULL;
}

int worker_pid(const Worker *w) {
        return w ? (int) w->pid : 0;
}

void worker_done_all(Manager *m) {
        Worker *next;

        for (Worker *w = workers; w; w = next) {
                next = w->next;
                if (w->m != m)
                        continue;
                if (w->pid > 0)
                        (void) kill(w->pid, SIGKILL);
                if (!w->cancelled && w->done) /* it frees what it holds (a call to answer: with an error) */
                        w->done(w, -ECANCELED, NULL, 0, w->userdata);
                if (!w->cancelled && w->answer) {
                        worker_answer_t answer = w->answer;

                        w->answer = NULL;
                        answer(-ECANCELED, NULL, 0, w->answer_userdata);
                }
                worker_free(w);
        }
}

/* ---- a worker that answers request after request (worker_ask()) ------------------------------ */

/*
 * The wire, both ways on the socket pair: a frame is a u32 length and that many bytes; an answer's
 * bytes start with the i32 serve() returned. One request at a time: the loop sends the next only
 * once the last is answered.
 */
#define SERVE_REQUEST_MAX (64u << 10)
#define SERVE_ANSWER_MAX (64u << 10) /* a provider step's results: a path per snapshot of the set */

/* Issue 11 §5: how many times the providers' settings changed in lvssd (worker_providers_changed()) */
static unsigned providers_generation;

void worker_providers_changed(void) {
        providers_generation++;
}

static int read_full(int fd, void *data, size_t size) {
        uint8_t *p = data;

        while (size > 0) {
                ssize_t k = read(fd, p, size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return p == data ? 0 : -EPIPE;
                p += k;
                size -= (size_t) k;
        }
        return 1;
}

/* In the child: answer requests until the loop closes its end (or kills it). */
typedef struct ServeFn {
        worker_serve_t serve;
        void *userdata;
} ServeFn;

static int serve_run(int fd, void *userdata) {
        const ServeFn *fn = userdata; /* the child's copy of worker_serve_start()'s frame */
        static uint8_t req[SERVE_REQUEST_MAX + 1], ans[sizeof(uint32_t) + sizeof(int32_t) + SERVE_ANSWER_MAX];

        for (;;) {
                uint32_t len, n;
                int32_t rv;
                int r = read_full(fd, &len, sizeof len);

                if (r == 0)
                        return 0; /* the loop is done with us */
                if (r < 0 || len > SERVE_REQUEST_MAX || (len > 0 && read_full(fd, req, len) <= 0))
                        return 1;
                req[len] = 0; /* a string request may be read as one */
                rv = fn->serve(req, len, ans + 8, SERVE_ANSWER_MAX, fn->userdata);
                n = rv > 0 ? (uint32_t) rv : 0;
                if (n > SERVE_ANSWER_MAX)
                        return 1;
                len = (uint32_t) sizeof rv + n;
                rv = rv < 0 ? rv : 0;
                memcpy(ans, &len, sizeof len);
                memcpy(ans + 4, &rv, sizeof rv);
                if (worker_write(fd, ans, sizeof len + len) < 0)
                        return 1;
        }
}

static int on_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        w->timer = sd_event_source_disable_unref(w->timer);
        log_msg("%s: idle for %llu ms: the worker (pid %d) ends", w->what,
                (unsigned long long) (WORKER_IDLE_USEC / USEC_PER_MSEC), (int) w->pid);
        (void) worker_end(w);
        return 0;
}

static int worker_arm(Worker *w, uint64_t usec, sd_event_time_handler_t handler) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        w->timer = sd_event_source_disable_unref(w->timer);
        if (usec == 0)
                return 0;
        return sd_event_add_time(w->m->event, &w->timer, CLOCK_MONOTONIC,
                                 UINT64_MAX - now < usec ? UINT64_MAX : now + usec, USEC_PER_MSEC, handler, w);
}

/* On the loop: the answers in what the child wrote (one, as one request waits at a time). */
static void serve_answers(Worker *w) {
        while (w->n_out >= sizeof(uint32_t)) {
                uint32_t len;
                int32_t rv;

                memcpy(&len, w->out, sizeof len);
                if (len < sizeof rv || len > sizeof rv + SERVE_ANSWER_MAX) {
                        /* not our wire: it is ended, and the request answered once it is reaped */
                        log_msg("%s: the worker (pid %d) said something unreadable: killed", w->what, (int) w->pid);
                        (void) kill(w->pid, SIGKILL);
                        w->n_out = 0;
                        return;
                }
                if (w->n_out < sizeof len + len)
                        return;
                memcpy(&rv, w->out + sizeof len, sizeof rv);

                size_t n = len - sizeof rv;
                uint8_t *a = n > 0 ? malloc(n) : NULL;

                if (a)
                        memcpy(a, w->out + sizeof len + sizeof rv, n);
                worker_answer_t answer = w->answer;
                void *ud = w->answer_userdata;

                w->n_out -= sizeof len + len;
                memmove(w->out, w->out + sizeof len + len, w->n_out);
                w->answer = NULL;
                if (w->cancelled) { /* killed already; nobody waits */
                        free(a);
                        continue;
                }
                /* waits for the next request; ended when idle (the answer may ask again at once) */
                if (worker_arm(w, WORKER_IDLE_USEC, on_idle) < 0)
                        (void) worker_end(w);
                if (answer)
                        answer(n > 0 && !a ? -ENOMEM : rv < 0 ? -EPROTO : 0, a, n, ud);
                free(a);
        }
}

static Worker *worker_serve_start(Manager *m, const char *what, const char *tag, worker_serve_t serve,
                                  void *serve_userdata, Worker **owner) {
        /* on this stack frame, in the child's copy of it too: serve_run() reads it there */
        ServeFn fn = { .serve = serve, .userdata = serve_userdata };
        Worker *w = NULL;
        int r = worker_start(m, what, tag, 0, serve_run, NULL, &fn, &w);

        if (r < 0 || !w) {
                log_msg("%s%s%s: cannot start a worker: %s", strempty(tag), tag ? ": " : "", what,
                        strerror(r < 0 ? -r : EINVAL));
                return NULL;
        }
        w->serving = true;
        w->generation = providers_generation;
        w->owner = owner;
        *owner = w;
        return w;
}

int worker_ask(Worker **owner, Manager *m, const char *what, const char *tag, worker_serve_t serve,
               void *serve_userdata, const void *req, size_t size, uint64_t timeout_usec, worker_answer_t answer,
               void *userdata) {
        uint32_t len = (uint32_t) size;
        Worker *w = *owner;
        int r;

        if (size > SERVE_REQUEST_MAX)
                return -E2BIG;
        if (w && (w->answer || w->cancelled || w->pid <= 0 || w->timed_out))
                return -EBUSY;
        if (w && w->generation != providers_generation) {
                /* forked before the providers' settings changed: a fresh fork sees the new ones */
                log_msg("%s: the providers' settings changed since the worker (pid %d) was forked: it ends, a "
                        "new one is forked", w->what, (int) w->pid);
                w = worker_end(w);
        }
        for (int attempt = 0;; attempt++) {
                if (!w) {
                        w = worker_serve_start(m, what, tag, serve, serve_userdata, owner);
                        if (!w)
                                return -ECHILD;
                }
                /* a request is a few hundred bytes: it fits in the socket's empty buffer at once */
                r = worker_send(w, &len, sizeof len);
                if (r >= 0 && size > 0)
                        r = worker_send(w, req, size);
                if (r >= 0)
                        break;
                /* gone between two requests (not reaped yet): a new one */
                log_msg("%s: the worker (pid %d) does not listen: %s", w->what, (int) w->pid, strerror(-r));
                w = worker_cancel(w);
                if (attempt > 0)
                        return r;
        }
        r = worker_arm(w, timeout_usec, on_deadline);
        if (r < 0) {
                (void) worker_cancel(w);
                return r;
        }
        /* its name in the log is the request's now ("session {id}: end_prepare") */
        char *name = NULL;
        if (asprintf(&name, "%s%s%s", strempty(tag), tag ? ": " : "", what) >= 0) {
                free(w->what);
                w->what = name;
        }
        w->answer = answer;
        w->answer_userdata = userdata;
        log_msg("%s%s%s: runs in a worker (pid %d, deadline %llu ms; asked of the session's worker)", strempty(tag),
                tag ? ": " : "", what, (int) w->pid, (unsigned long long) (timeout_usec / USEC_PER_MSEC));
        return 0;
}

Worker *worker_end(Worker *w) {
        if (!w)
                return NULL;
        if (w->owner && *w->owner == w)
                *w->owner = NULL;
        w->owner = NULL;
        if (w->answer || w->pid <= 0)
                return worker_cancel(w); /* in a request: killed, and nobody is answered */
        /* idle: the child reads the end of the socket and exits */
        w->cancelled = true;
        w->timer = sd_event_source_disable_unref(w->timer);
        if (w->fd >= 0 && shutdown(w->fd, SHUT_WR) < 0)
                (void) kill(w->pid, SIGKILL);
        return NULL;
}

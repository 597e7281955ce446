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
 * whatever the provider does. The price is one fork per step: steps are
 * per set, never per writer.
 *
 * The rules:
 *  - done() is called exactly once, from the loop, after the child is
 *    reaped, never from within worker_start(): r is 0 (it exited 0),
 *    -ETIME (killed at its deadline) or -EPROTO (another exit, a signal).
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
        uint8_t *out;
        size_t n_out;
        bool timed_out;
        bool cancelled;
        worker_done_t done;
        worker_progress_t progress;
        void *userdata;
        sd_event_source *child, *timer, *io;
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
        worker_unlink(w);
        w->child = sd_event_source_disable_unref(w->child);
        w->timer = sd_event_source_disable_unref(w->timer);
        w->io = sd_event_source_disable_unref(w->io);
        closep(&w->fd);
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
 * more is broken, and its results are cut (the caller's parser refuses them). */
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
                if (w->n_out + (size_t) k > 16u << 20)
                        continue;
                uint8_t *a = realloc(w->out, w->n_out + (size_t) k);
                if (!a)
                        return -ENOMEM;
                memcpy(a + w->n_out, buf, (size_t) k);
                w->out = a;
                w->n_out += (size_t) k;
        }
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        size_t before = w->n_out;
        int r = worker_read(w);

        if (r != 0) /* end of file or an error: the exit says the rest */
                w->io = sd_event_source_disable_unref(w->io);
        /* last: progress() may cancel, detach or hand over the worker (it is not freed then) */
        if (w->n_out > before && w->progress && !w->cancelled)
                w->progress(w, w->out, w->n_out, w->userdata);
        return 0;
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;
        int r;

        (void) worker_read(w);
        if (w->timed_out)
                r = -ETIME;
        else if (si->si_code == CLD_EXITED && si->si_status == 0)
                r = 0;
        else
                r = -EPROTO;
        if (w->cancelled || w->timed_out)
                log_msg("%s: the worker (pid %d) is reaped%s", w->what, (int) w->pid,
                        w->timed_out ? " after its deadline" : "");
        w->pid = 0;
        if (!w->cancelled && w->done)
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

static _Noreturn void worker_child(int fd, pid_t parent, worker_run_t run, void *userdata) {
        sigset_t none;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(3);
        /* stdin/out/err and the pipe: none of lvssd's sockets, its catalog or its event loop */
        if (fd > 3)
                (void) close_range(3, (unsigned) fd - 1, 0);
        (void) close_range((unsigned) fd + 1, ~0U, 0);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        _exit(run(fd, userdata) & 0xff);
}

int worker_start(Manager *m, const char *what, const char *tag, uint64_t timeout_usec, worker_run_t run,
                 worker_done_t done, void *userdata, Worker **ret) {
        Worker *w;
        int fds[2], r;
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
        fflush(stderr);
        w->pid = fork();
        if (w->pid < 0) {
                r = -errno;
                close(fds[0]);
                close(fds[1]);
                worker_free(w);
                return r;
        }
        if (w->pid == 0) {
                close(fds[0]);
                worker_child(fds[1], parent, run, userdata);
        }
        close(fds[1]);
        w->fd = fds[0];
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
                worker_free(w);
        }
}

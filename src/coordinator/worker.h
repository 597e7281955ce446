/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Provider steps and file-system work off lvssd's loop (issue 11 §1): see worker.c. */

#include <stddef.h>
#include <stdint.h>

typedef struct Manager Manager;
typedef struct Worker Worker;

/* In the child: do the work, write the results on @fd; the value returned is the exit status. */
typedef int (*worker_run_t)(int fd, void *userdata);

/* On the loop, once the child is reaped. @r: -ETIME it was killed at its deadline; else 0 when
 * run() returned 0 (as the child reported once it had returned; when it died before reporting,
 * when it exited with status 0), -EPROTO otherwise (run() returned another value, or it died
 * of a signal or exited non-zero before reporting). @out/@size: all it wrote. The Worker is
 * freed right after the call. */
typedef void (*worker_done_t)(Worker *w, int r, const uint8_t *out, size_t size, void *userdata);

/* Fork a child that runs @run(fd, @userdata) and reports back through @done; @what names the
 * work in the log ("copy: post_commit"), @tag the session. SIGKILL at now + @timeout_usec. */
int worker_start(Manager *m, const char *what, const char *tag, uint64_t timeout_usec, worker_run_t run,
                 worker_done_t done, void *userdata, Worker **ret);

/* The caller is no longer interested: @done is not called any more; the child is killed and its
 * record stays (worker_pending()) until sd-event reaps it. NULL-safe; returns NULL. */
Worker *worker_cancel(Worker *w);

/* On the loop, each time the child wrote more: @out/@size all it wrote so far (done() gets it
 * all again). It may call worker_cancel(), worker_detach(), worker_adopt() on @w. */
typedef void (*worker_progress_t)(Worker *w, const uint8_t *out, size_t size, void *userdata);
void worker_set_progress(Worker *w, worker_progress_t progress);

/* To the child, on the same socket it writes its results on (a few bytes: one send). */
int worker_send(Worker *w, const void *data, size_t size);

/* All the child wrote so far, read now (the pipe may hold more than the last progress() saw). */
const uint8_t *worker_output(Worker *w, size_t *ret_size);

/* SIGKILL now; done() still comes once it is reaped, with r = -ETIME. */
int worker_kill(Worker *w);

/* The caller has all it needs (the child said so): done() is not called any more, the child is
 * neither killed nor waited for; sd-event reaps it when it exits. NULL-safe; returns NULL. */
Worker *worker_detach(Worker *w);

/* A child that outlives the session that started it (the commit child): killed, and @done
 * (may be NULL) with @userdata replaces the old one, called once it is reaped; @what is added
 * to its name in the log. */
int worker_adopt(Worker *w, const char *what, worker_done_t done, void *userdata);

int worker_pid(const Worker *w);

/* Children not reaped yet (cancelled or running). */
size_t worker_pending(const Manager *m);

/* Shutdown: every worker is killed and forgotten (PR_SET_PDEATHSIG would end them anyway); a
 * done() or answer() not called yet is called with r = -ECANCELED and no output. */
void worker_done_all(Manager *m);

/*
 * Issue 11 §1: one worker for many requests (IsVolumeSupported / AddToSnapshotSet of a set:
 * one fork, not one per volume). serve() runs in the child for each request: @req/@size the
 * request (NUL-terminated one past @size), the answer goes into @ans (at most @max bytes); it
 * returns the answer's length, or a negative value for a failed request (answer() gets -EPROTO).
 */
typedef int (*worker_serve_t)(const uint8_t *req, size_t size, uint8_t *ans, size_t max, void *userdata);

/* On the loop, once per request: @r 0 with the answer, -ETIME the worker was killed at the
 * request's deadline, -EPROTO serve() failed or the worker died in the request (both once it is
 * reaped: the next request forks a new worker). */
typedef void (*worker_answer_t)(int r, const uint8_t *ans, size_t size, void *userdata);

/* How long a serving worker waits for its next request before it is ended. */
#define WORKER_IDLE_USEC (5 * USEC_PER_SEC)

/* Send @req to the worker in *@owner, forked first (and stored there) when there is none; @answer
 * is called once, from the loop, never from within worker_ask(). SIGKILL at now + @timeout_usec
 * when no answer came by then. *@owner goes back to NULL when the worker is gone. -EBUSY while
 * a request waits. */
int worker_ask(Worker **owner, Manager *m, const char *what, const char *tag, worker_serve_t serve,
               void *serve_userdata, const void *req, size_t size, uint64_t timeout_usec, worker_answer_t answer,
               void *userdata);

/* Issue 11 §5: the providers' settings changed in lvssd (vssadmin resize shadowstorage): a serving
 * worker forked before is ended at its next worker_ask() (idle, never in a request), and a new one
 * forked, so that no step runs with settings other than a fresh fork would see. */
void worker_providers_changed(void);

/* Done with a serving worker: an idle one exits on the end of its socket, one in a request is
 * killed (its answer() is not called). NULL-safe; returns NULL. */
Worker *worker_end(Worker *w);

/* Helpers for the results: append to / read from a byte buffer. */
int worker_write(int fd, const void *data, size_t size);

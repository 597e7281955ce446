/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * worker.c without a daemon (issue 11 §1): a real sd-event loop, real forked
 * children. What done() is told:
 *
 *  - 0 when run() returned 0, with all it wrote; -EPROTO when it returned
 *    another value; -EPROTO when the child died before reporting; -ETIME at
 *    the deadline;
 *  - the child's report decides, not how the process ended after it: a child
 *    that reported 0 and then exited 99 (valgrind's leak check in a forked
 *    child of a process with threads does that: a block only another thread
 *    pointed to looks lost) still succeeded, and one that reported a failure
 *    and then exited 0 still failed (LVSS_TEST_WORKER_EXIT, worker.c);
 *  - the child holds no descriptor of lvssd but its socket and its status
 *    pipe, both closed on exec.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "manager.h"
#include "session.h"
#include "snapshot.h"
#include "worker.h"

/* ---- one worker, run to its end -------------------------------------------- */

typedef struct Result {
        bool done;
        int r;
        char out[64];
        size_t n_out;
} Result;

static void on_done(Worker *w, int r, const uint8_t *out, size_t size, void *userdata) {
        Result *res = userdata;

        res->done = true;
        res->r = r;
        res->n_out = size < sizeof res->out ? size : sizeof res->out - 1;
        if (res->n_out > 0) /* no output: @out may be NULL */
                memcpy(res->out, out, res->n_out);
        res->out[res->n_out] = 0;
}

/* Runs @run in a worker (deadline @timeout_ms, 0: none) until done() is called. */
static Result run_worker(worker_run_t run, uint64_t timeout_ms) {
        Manager m = { .listen_fd = -1 };
        Result res = { 0 };

        assert_int_equal(sd_event_new(&m.event), 0);
        assert_int_equal(worker_start(&m, "test", NULL, timeout_ms * 1000, run, on_done, &res, NULL), 0);
        assert_false(res.done); /* never from within worker_start() */
        while (!res.done)
                assert_true(sd_event_run(m.event, UINT64_MAX) >= 0);
        assert_int_equal(worker_pending(&m), 0);
        sd_event_unref(m.event);
        return res;
}

static int run_hello(int fd, void *userdata) {
        return worker_write(fd, "hello", 5) < 0 ? 1 : 0;
}

static int run_fails(int fd, void *userdata) {
        (void) worker_write(fd, "no", 2);
        return 5;
}

static int run_dies(int fd, void *userdata) {
        (void) worker_write(fd, "dying", 5);
        raise(SIGKILL);
        return 0;
}

static int run_hangs(int fd, void *userdata) {
        for (;;)
                pause();
        return 0;
}

/* 'y' when the child has its socket as @fd, the status pipe as 4, both close-on-exec, and no
 * other descriptor above 2; else 'n' */
static int run_fds(int fd, void *userdata) {
        bool ok = fd == 3 && fcntl(3, F_GETFD) == FD_CLOEXEC && fcntl(4, F_GETFD) == FD_CLOEXEC;

        for (int i = 5; i < 256; i++)
                if (fcntl(i, F_GETFD) >= 0 || errno != EBADF)
                        ok = false;
        return worker_write(fd, ok ? "y" : "n", 1) < 0 ? 1 : 0;
}

static void test_result_reported(void **state) {
        Result res;

        unsetenv("LVSS_TEST_WORKER_EXIT");
        res = run_worker(run_hello, 0);
        assert_int_equal(res.r, 0);
        assert_string_equal(res.out, "hello");

        res = run_worker(run_fails, 0);
        assert_int_equal(res.r, -EPROTO);
        assert_string_equal(res.out, "no");
}

/* The valgrind case: the work is done and reported; the exit status after it does not count. */
static void test_report_wins_over_exit_status(void **state) {
        Result res;

        assert_int_equal(setenv("LVSS_TEST_WORKER_EXIT", "99", 1), 0);
        res = run_worker(run_hello, 0);
        assert_int_equal(res.r, 0);
        assert_string_equal(res.out, "hello");

        assert_int_equal(setenv("LVSS_TEST_WORKER_EXIT", "0", 1), 0);
        res = run_worker(run_fails, 0);
        assert_int_equal(res.r, -EPROTO);
        unsetenv("LVSS_TEST_WORKER_EXIT");
}

static void test_death_and_deadline(void **state) {
        Result res;

        unsetenv("LVSS_TEST_WORKER_EXIT");
        res = run_worker(run_dies, 0);
        assert_int_equal(res.r, -EPROTO);
        assert_string_equal(res.out, "dying"); /* what it wrote before is still given */

        res = run_worker(run_hangs, 50);
        assert_int_equal(res.r, -ETIME);
}

static void test_child_descriptors(void **state) {
        Result res;
        int extra = open("/dev/null", O_RDONLY); /* not O_CLOEXEC: the child must still not hold it */

        assert_true(extra >= 0);
        unsetenv("LVSS_TEST_WORKER_EXIT");
        res = run_worker(run_fds, 0);
        assert_int_equal(res.r, 0);
        assert_string_equal(res.out, "y");
        close(extra);
}

/* ---- one worker, request after request (worker_ask()) ---------------------- */

typedef struct Asked {
        int n; /* answers so far */
        int r;
        int32_t pid; /* the pid that answered */
        char echo[32];
} Asked;

/* In the child: "hang" hangs, "die" dies, "bad" fails; else its pid and the request, echoed. */
static int serve_test(const uint8_t *req, size_t size, uint8_t *ans, size_t max, void *userdata) {
        int32_t pid = (int32_t) getpid();

        if (strcmp((const char *) req, "hang") == 0)
                for (;;)
                        pause();
        if (strcmp((const char *) req, "die") == 0)
                raise(SIGKILL);
        if (strcmp((const char *) req, "bad") == 0)
                return -EINVAL;
        if (size + sizeof pid > max)
                return -E2BIG;
        memcpy(ans, &pid, sizeof pid);
        memcpy(ans + sizeof pid, req, size);
        return (int) (sizeof pid + size);
}

static void on_answer(int r, const uint8_t *ans, size_t size, void *userdata) {
        Asked *a = userdata;

        a->n++;
        a->r = r;
        a->pid = 0;
        a->echo[0] = 0;
        if (r == 0 && size >= sizeof a->pid && size - sizeof a->pid < sizeof a->echo) {
                memcpy(&a->pid, ans, sizeof a->pid);
                memcpy(a->echo, ans + sizeof a->pid, size - sizeof a->pid);
                a->echo[size - sizeof a->pid] = 0;
        }
}

/* Asks @req of the worker in *@w and runs the loop until it is answered. */
static Asked ask(Manager *m, Worker **w, const char *req, uint64_t timeout_ms) {
        Asked a = { 0 };

        assert_int_equal(worker_ask(w, m, "test", NULL, serve_test, NULL, req, strlen(req), timeout_ms * 1000,
                                    on_answer, &a), 0);
        assert_int_equal(a.n, 0); /* never from within worker_ask() */
        assert_non_null(*w);
        while (a.n == 0)
                assert_true(sd_event_run(m->event, UINT64_MAX) >= 0);
        assert_int_equal(a.n, 1);
        return a;
}

static void drain(Manager *m) {
        while (worker_pending(m) > 0)
                assert_true(sd_event_run(m->event, UINT64_MAX) >= 0);
}

/* Three requests, one fork; a failed request leaves the worker; worker_end() ends it. */
static void test_ask_one_worker(void **state) {
        Manager m = { .listen_fd = -1 };
        Worker *w = NULL;
        Asked a;
        int32_t pid;
        int busy;

        unsetenv("LVSS_TEST_WORKER_EXIT");
        assert_int_equal(sd_event_new(&m.event), 0);
        a = ask(&m, &w, "/v1", 5000);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.echo, "/v1");
        pid = a.pid;
        assert_true(pid > 0 && pid != (int32_t) getpid());
        assert_int_equal(worker_pid(w), pid);
        a = ask(&m, &w, "/v2", 5000);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.echo, "/v2");
        assert_int_equal(a.pid, pid);
        a = ask(&m, &w, "bad", 5000);
        assert_int_equal(a.r, -EPROTO);
        a = ask(&m, &w, "/v3", 5000);
        assert_int_equal(a.r, 0);
        assert_int_equal(a.pid, pid);
        assert_int_equal(worker_pending(&m), 1);

        /* one request at a time */
        assert_int_equal(worker_ask(&w, &m, "test", NULL, serve_test, NULL, "x", 1, 5000000, on_answer, &a), 0);
        busy = worker_ask(&w, &m, "test", NULL, serve_test, NULL, "y", 1, 5000000, on_answer, &a);
        assert_int_equal(busy, -EBUSY);
        a.n = 0;
        while (a.n == 0)
                assert_true(sd_event_run(m.event, UINT64_MAX) >= 0);
        assert_string_equal(a.echo, "x");

        w = worker_end(w);
        assert_null(w);
        drain(&m);
        sd_event_unref(m.event);
}

/* Killed at a request's deadline, or dead in one: that request fails, once the worker is reaped;
 * the owner's pointer is cleared, and the next request forks a new worker. */
static void test_ask_deadline_and_death(void **state) {
        Manager m = { .listen_fd = -1 };
        Worker *w = NULL;
        Asked a;
        int32_t first, second;

        unsetenv("LVSS_TEST_WORKER_EXIT");
        assert_int_equal(sd_event_new(&m.event), 0);
        a = ask(&m, &w, "/v1", 5000);
        first = a.pid;
        a = ask(&m, &w, "hang", 50);
        assert_int_equal(a.r, -ETIME);
        assert_null(w);
        assert_int_equal(worker_pending(&m), 0);
        assert_true(kill(first, 0) < 0 && errno == ESRCH); /* reaped, no zombie */

        a = ask(&m, &w, "/v2", 5000);
        assert_int_equal(a.r, 0);
        second = a.pid;
        assert_true(second != first);
        a = ask(&m, &w, "die", 5000);
        assert_int_equal(a.r, -EPROTO);
        assert_null(w);
        a = ask(&m, &w, "/v3", 5000);
        assert_int_equal(a.r, 0);
        assert_true(a.pid != second);

        /* ended while it works on a request: killed, and that request is never answered */
        assert_int_equal(worker_ask(&w, &m, "test", NULL, serve_test, NULL, "hang", 4, 5000000, on_answer, &a), 0);
        a.n = 0;
        w = worker_end(w);
        drain(&m);
        assert_int_equal(a.n, 0);
        sd_event_unref(m.event);
}

/* Shutdown with a request waiting: answered with -ECANCELED, as done() is (it frees what it holds). */
static void test_ask_done_all(void **state) {
        Manager m = { .listen_fd = -1 };
        Worker *w = NULL;
        Asked a = { 0 };

        assert_int_equal(sd_event_new(&m.event), 0);
        assert_int_equal(worker_ask(&w, &m, "test", NULL, serve_test, NULL, "hang", 4, 5000000, on_answer, &a), 0);
        pid_t pid = worker_pid(w);
        worker_done_all(&m);
        assert_null(w);
        assert_int_equal(worker_pending(&m), 0);
        assert_int_equal(a.n, 1);
        assert_int_equal(a.r, -ECANCELED);
        assert_int_equal(waitpid(pid, NULL, 0), pid); /* killed: lvssd exits then, here the test reaps it */
        sd_event_unref(m.event);
}

/* ---- the set's state, to the session's worker and back (issue 11 §5) ------------------------ */

/* Issue 11 §5: what snapshot_state_encode() writes, snapshot_state_decode() gives back: every
 * snapshot's provider (by its index in m->providers), ids, volume, path (NULL and "" kept apart)
 * and flags, and the step; a cut or a provider that does not exist is -EPROTO, never a crash. */
static void test_set_state_round_trip(void **state) {
        static const lvss_provider_ops ops_a = { .name = "a" }, ops_b = { .name = "b" };
        lvss_provider pa = { .ops = &ops_a }, pb = { .ops = &ops_b };
        lvss_provider *providers[] = { &pa, &pb };
        Manager m = { .listen_fd = -1, .providers = providers, .n_providers = 2 };
        Snapshot in[3] = {
                { .p = { .volume = (char *) "/srv/a", .snapshot_path = (char *) "/snaps/1", .atomic = true },
                  .provider = &pb, .created = true },
                { .p = { .volume = (char *) "/srv/b", .snapshot_path = NULL, .can_write = true, .writable = true },
                  .provider = &pa, .in_catalog = true },
                { .p = { .volume = (char *) "/srv/\xc3\xa9t\xc3\xa9", .snapshot_path = (char *) "" }, .provider = &pb },
        };
        Snapshot *const snaps[3] = { &in[0], &in[1], &in[2] };
        Snapshot **out = NULL;
        uint8_t *buf = NULL;
        size_t size = 0, n = 0;
        int step = 0;

        for (size_t i = 0; i < 3; i++) {
                for (size_t k = 0; k < 16; k++) {
                        in[i].p.snapshot_id.bytes[k] = (uint8_t) (16 * i + k + 1);
                        in[i].p.set_id.bytes[k] = (uint8_t) (0xa0 + k);
                }
        }
        assert_int_equal(snapshot_state_encode(&m, 3, snaps, 3, &buf, &size), 0);
        assert_int_equal(snapshot_state_decode(&m, buf, size, &step, &out, &n), 0);
        assert_int_equal(step, 3);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_ptr_equal(out[i]->provider, in[i].provider);
                assert_memory_equal(&out[i]->p.snapshot_id, &in[i].p.snapshot_id, sizeof(vss_id));
                assert_memory_equal(&out[i]->p.set_id, &in[i].p.set_id, sizeof(vss_id));
                assert_string_equal(out[i]->p.volume, in[i].p.volume);
                if (in[i].p.snapshot_path)
                        assert_string_equal(out[i]->p.snapshot_path, in[i].p.snapshot_path);
                else
                        assert_null(out[i]->p.snapshot_path);
                assert_int_equal(out[i]->p.atomic, in[i].p.atomic);
                assert_int_equal(out[i]->p.can_write, in[i].p.can_write);
                assert_int_equal(out[i]->p.writable, in[i].p.writable);
                assert_int_equal(out[i]->created, in[i].created);
                assert_int_equal(out[i]->in_catalog, in[i].in_catalog);
        }
        out = snapshot_state_free(out, n);

        /* every cut of it is refused */
        for (size_t cut = 0; cut < size; cut++)
                assert_int_equal(snapshot_state_decode(&m, buf, cut, &step, &out, &n), -EPROTO);
        /* a provider the worker does not have */
        m.n_providers = 1;
        assert_int_equal(snapshot_state_decode(&m, buf, size, &step, &out, &n), -EPROTO);
        m.n_providers = 2;
        free(buf);

        /* an empty set; a provider lvssd does not know is not encoded */
        assert_int_equal(snapshot_state_encode(&m, 1, NULL, 0, &buf, &size), 0);
        assert_int_equal(snapshot_state_decode(&m, buf, size, &step, &out, &n), 0);
        assert_int_equal(n, 0);
        out = snapshot_state_free(out, n);
        free(buf);
        lvss_provider stranger = { .ops = &ops_a };
        Snapshot lost = { .p = { .volume = (char *) "/x" }, .provider = &stranger };
        Snapshot *const one[1] = { &lost };
        assert_int_equal(snapshot_state_encode(&m, 1, one, 1, &buf, &size), -EINVAL);
}

int main(void) {
        sigset_t chld;
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_result_reported),
                cmocka_unit_test(test_report_wins_over_exit_status),
                cmocka_unit_test(test_death_and_deadline),
                cmocka_unit_test(test_child_descriptors),
                cmocka_unit_test(test_ask_one_worker),
                cmocka_unit_test(test_ask_deadline_and_death),
                cmocka_unit_test(test_ask_done_all),
                cmocka_unit_test(test_set_state_round_trip),
        };

        /* as lvssd: sd-event's child sources need SIGCHLD blocked */
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &chld, NULL), 0);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

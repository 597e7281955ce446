/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvssd's parts driven without a daemon, with allocations made to fail one
 * by one (issue 11 §4, the SQLite style of src/documents/test-bcd.c):
 *
 *  - the Identify record of a session (session_identify_record): a failure
 *    leaves the session without entries, and the GatherWriterMetadata tried
 *    again afterwards records them whole and leaks nothing (the first
 *    attempt's array used to be lost when the retry replaced it);
 *  - the fan-out's contract "done is called from the event loop, never from
 *    within fanout_start()" holds when the loop cannot take the defer source
 *    (sd_event_add_defer failing): fanout_start() fails with -ENOMEM then, or
 *    done comes later from the loop, exactly once.
 *
 * The test is linked with -Wl,--wrap for the allocators, free and
 * sd_event_add_defer (src/coordinator/meson.build). Leaks show as blocks
 * still live after a whole round (counted by the wrappers: everything the
 * rounds allocate goes through them), and under ASan as leaks.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "manager.h"
#include "fanout.h"
#include "registry.h"
#include "session.h"

/* ---- allocation failures ----------------------------------------------------- */

static long alloc_countdown = -1; /* allocations before the one that fails; < 0: none fails */
static bool alloc_failed;         /* the armed allocation was reached */
static bool defer_fails;          /* the next sd_event_add_defer() fails with -ENOMEM */

static long live_blocks;           /* allocated through the wrappers and not freed */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void __real_free(void *p);
int __real_sd_event_add_defer(sd_event *e, sd_event_source **s, sd_event_handler_t callback, void *userdata);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);
int __wrap_sd_event_add_defer(sd_event *e, sd_event_source **s, sd_event_handler_t callback, void *userdata);

static bool alloc_fails(void) {
        if (alloc_countdown < 0)
                return false;
        if (alloc_countdown-- > 0)
                return false;
        alloc_failed = true;
        return true;
}

static void *counted(void *p) {
        if (p)
                live_blocks++;
        return p;
}

void *__wrap_malloc(size_t size) {
        return alloc_fails() ? NULL : counted(__real_malloc(size));
}

void *__wrap_calloc(size_t n, size_t size) {
        return alloc_fails() ? NULL : counted(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t size) {
        void *q;

        if (alloc_fails())
                return NULL;
        q = __real_realloc(p, size);
        if (q && !p)
                live_blocks++;
        return q;
}

char *__wrap_strdup(const char *s) {
        return alloc_fails() ? NULL : counted(__real_strdup(s));
}

void __wrap_free(void *p) {
        if (p)
                live_blocks--;
        __real_free(p);
}

int __wrap_sd_event_add_defer(sd_event *e, sd_event_source **s, sd_event_handler_t callback, void *userdata) {
        if (defer_fails) {
                defer_fails = false;
                alloc_failed = true;
                return -ENOMEM;
        }
        return __real_sd_event_add_defer(e, s, callback, userdata);
}

static void arm(long n) {
        alloc_failed = false;
        alloc_countdown = n;
}

static bool disarm(void) {
        alloc_countdown = -1;
        defer_fails = false;
        return alloc_failed;
}

static long allocated_blocks(void) {
        return live_blocks;
}

/* ---- the Identify record -------------------------------------------------- */

#define N_WRITERS 3 /* two answer, one fails its Identify with a message */

typedef struct Fixture {
        Manager m;
        Session s;
        Writer w[N_WRITERS];
} Fixture;

static void fixture_init(Fixture *x) {
        *x = (Fixture) {};
        x->s.m = &x->m;
        for (size_t i = 0; i < N_WRITERS; i++) {
                x->w[i].m = &x->m;
                x->w[i].name = strdup(i == 0 ? "alpha" : i == 1 ? "beta" : "gamma");
                x->w[i].instance_name = strdup(i == 1 ? "" : "instance");
                x->w[i].writer_id.bytes[0] = (uint8_t) (i + 1);
                x->w[i].instance_id.bytes[0] = (uint8_t) (i + 0x10);
        }
}

static void fixture_done(Fixture *x) {
        for (size_t i = 0; i < x->s.n_entries; i++) {
                Entry *e = x->s.entries[i];
                free(e->writer_name);
                free(e->instance_name);
                free(e->metadata);
                free(e->application_message);
                free(e);
        }
        free(x->s.entries);
        for (size_t i = 0; i < N_WRITERS; i++) {
                free(x->w[i].name);
                free(x->w[i].instance_name);
                free(x->w[i].last.application_message);
                free(x->w[i].last.origin);
        }
}

/* What an Identify fan-out leaves for session_identify_record(): a new one for each attempt, as in lvssd. */
static Fanout *identify_fanout(Fixture *x) {
        Fanout *f = calloc(1, sizeof *f);
        assert_non_null(f);
        f->m = &x->m;
        f->event = VSS_EVENT_IDENTIFY;
        f->n_targets = N_WRITERS;
        f->targets = calloc(N_WRITERS, sizeof *f->targets);
        assert_non_null(f->targets);
        for (size_t i = 0; i < N_WRITERS; i++) {
                Target *t = &f->targets[i];
                t->f = f;
                t->writer = &x->w[i];
                t->done = true;
                t->ok = i != 2;
                t->failure = t->ok ? VSS_S_OK : VSS_E_WRITERERROR_RETRYABLE;
                if (t->ok)
                        t->metadata = strdup(i == 0 ? "<alpha/>" : "<beta/>");
                else
                        t->application_message = strdup("not today");
        }
        return f;
}

static void check_entries(const Fixture *x) {
        assert_int_equal(x->s.n_entries, 2);
        assert_true(x->s.metadata_gathered);
        assert_string_equal(x->s.entries[0]->writer_name, "alpha");
        assert_string_equal(x->s.entries[0]->metadata, "<alpha/>");
        assert_string_equal(x->s.entries[1]->writer_name, "beta");
        assert_string_equal(x->s.entries[1]->instance_name, "");
        assert_string_equal(x->s.entries[1]->metadata, "<beta/>");
        assert_ptr_equal(x->s.entries[0]->session, &x->s);
        assert_int_equal(x->w[2].last.state, VSS_WS_FAILED_AT_IDENTIFY);
        assert_string_equal(x->w[2].last.application_message, "not today");
}

static void identify_round(long n, bool *ret_failed) {
        Fixture x;
        Fanout *f;
        vss_hresult hr;

        fixture_init(&x);
        f = identify_fanout(&x);
        arm(n);
        hr = session_identify_record(&x.s, f);
        *ret_failed = disarm();
        fanout_free(f);
        if (*ret_failed) {
                /* The step fails; the session has nothing of it, and GatherWriterMetadata may come again. */
                assert_int_equal(hr, VSS_E_OUTOFMEMORY);
                assert_false(x.s.metadata_gathered);
                assert_int_equal(x.s.n_entries, 0);
                f = identify_fanout(&x);
                hr = session_identify_record(&x.s, f);
                fanout_free(f);
        }
        assert_int_equal(hr, VSS_S_OK);
        check_entries(&x);
        fixture_done(&x);
}

/* Issue 11 §4: a GatherWriterMetadata retried after an allocation failure leaks nothing. */
static void test_identify_record_retry(void **state) {
        bool failed;
        long before;
        long n;

        identify_round(-1, &failed); /* whatever the C library sets up once */
        for (n = 0;; n++) {
                before = allocated_blocks();
                identify_round(n, &failed);
                if (allocated_blocks() != before)
                        fail_msg("allocation %ld failing, then the retry: %ld blocks left behind", n,
                                 allocated_blocks() - before);
                if (!failed)
                        break;
        }
        assert_true(n >= 7); /* the array, two entries with two names each, the message */
}

/* ---- the fan-out's error path ------------------------------------------------ */

typedef struct DoneCheck {
        bool in_start;   /* fanout_start() is running */
        unsigned called; /* done callbacks */
        bool re_entered; /* one came from within fanout_start() */
} DoneCheck;

static void on_done(Fanout *f, void *userdata) {
        DoneCheck *d = userdata;

        d->called++;
        if (d->in_start)
                d->re_entered = true;
}

/*
 * One round: a fan-out to writers that are all gone (each fails at once, as
 * a writer whose connection dropped does), so every target is in before
 * fanout_start() returns: the error path that must still not complete from
 * within the call.
 */
static bool fanout_round(sd_event *e, long n, bool defer_fail) {
        Manager m = { .event = e, .registry_hooks = &session_registry_hooks }; /* as main.c */
        Writer *writers[2] = {};
        DoneCheck d = {};
        Fanout *f = NULL;
        bool failed;
        int r;

        arm(n);
        defer_fails = defer_fail;
        d.in_start = true;
        r = fanout_start(&m, VSS_EVENT_PREPARE_BACKUP, NULL, writers, NULL, 2, NULL, on_done, &d, &f);
        d.in_start = false;
        failed = disarm();

        if (d.re_entered)
                fail_msg("%s%ld failing: done was called from within fanout_start()",
                         defer_fail ? "sd_event_add_defer, allocation " : "allocation ", n);
        if (r < 0) {
                assert_true(failed);
                assert_int_equal(r, -ENOMEM);
                assert_int_equal(d.called, 0);
                return failed;
        }
        assert_int_equal(r, 0);
        assert_non_null(f);
        while (d.called == 0)
                assert_true(sd_event_run(e, 5 * USEC_PER_SEC) > 0); /* the defer source is due at once */
        assert_int_equal(d.called, 1);
        for (size_t i = 0; i < f->n_targets; i++) {
                assert_true(f->targets[i].done);
                assert_false(f->targets[i].ok);
                assert_int_equal(f->targets[i].failure, VSS_E_WRITER_NOT_RESPONDING);
        }
        fanout_free(f);
        return failed;
}

/* Issue 11 §4: the fan-out never completes from within the call, its error path included. */
static void test_fanout_never_done_within_start(void **state) {
        sd_event *e = NULL;
        long before;
        long n;

        assert_int_equal(sd_event_new(&e), 0);
        (void) fanout_round(e, -1, false);

        /* the loop cannot take the defer source */
        before = allocated_blocks();
        (void) fanout_round(e, -1, true);
        assert_int_equal(allocated_blocks(), before);

        /* and each of the fan-out's own allocations */
        for (n = 0;; n++) {
                before = allocated_blocks();
                bool failed = fanout_round(e, n, false);
                assert_int_equal(allocated_blocks(), before);
                if (!failed)
                        break;
        }
        assert_true(n >= 2);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_identify_record_retry),
                cmocka_unit_test(test_fanout_never_done_within_start),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test: the session layer's refusals (issue 11 §2: the session refuses
 * in plain C, refusal.h; the bus edge makes the D-Bus error once,
 * refusal_bus_error()), without a daemon.
 *
 * "No behaviour change" is what is checked: for every kind of refusal, the
 * D-Bus error name, message and return value refusal_bus_error() gives are
 * those the old code gave when the session filled the sd_bus_error itself:
 *   - a VSS error: lvss_bus_error_set_hresult(error, hr, fmt, ...), the call
 *     session.c made (org.lvss.Error.<NAME>, or .0x%08X for a code without a
 *     name; without a text, the code's own);
 *   - a failure with no refusal (a bare "return r", -ENOMEM and the like): the
 *     handler returned r with the error unset, and sd-bus answered with
 *     sd_bus_error_set_errno(r) (sd_bus_reply_method_errno());
 *   - an errno with a text: sd_bus_error_set_errnof(), as the Answer's errno
 *     errors are packed (session-bus.c).
 * Then the session's own refusals through it: session_check() over the
 * whole transition table (WS-11: a call out of order is VSS_E_BAD_STATE with
 * the table's message; an idle holder's session says why it ended, issue 8
 * item 5) and session_of_requester() (WS-10).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "manager.h"
#include "connection.h"
#include "session.h"
#include "refusal-bus.h"
#include "protocol/protocol.h"

/* The old code's error and the new one's, the same in name, message and return value. */
static void assert_same_error(const sd_bus_error *old, int old_r, const sd_bus_error *now, int now_r) {
        assert_true(sd_bus_error_is_set(old));
        assert_true(sd_bus_error_is_set(now));
        assert_string_equal(now->name, old->name);
        if (old->message) {
                assert_non_null(now->message);
                assert_string_equal(now->message, old->message);
        } else
                assert_null(now->message);
        assert_int_equal(now_r, old_r);
        assert_true(now_r < 0);
}

/* Every VSS error the session layer refuses with (session.c, restore.c), and one without a name. */
static const vss_hresult session_hresults[] = {
        VSS_E_BAD_STATE,
        VSS_E_ACCESSDENIED,
        VSS_E_OBJECT_NOT_FOUND,
        VSS_E_INVALIDARG,
        VSS_E_SNAPSHOT_SET_IN_PROGRESS,
        VSS_E_PROVIDER_NOT_REGISTERED,
        VSS_E_UNEXPECTED_PROVIDER_ERROR,
        VSS_E_PROVIDER_VETO,
        VSS_E_OUTOFMEMORY,
        VSS_E_UNEXPECTED,
        VSS_E_INVALID_XML_DOCUMENT,
        (vss_hresult) 0x8004ffee, /* no name: org.lvss.Error.0x8004FFEE */
};

/* issue 11 §2: a VSS error with a formatted text is the name and message lvss_bus_error_set_hresult() gave. */
static void test_hresult_with_text(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(session_hresults); i++) {
                vss_hresult hr = session_hresults[i];
                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error old = SD_BUS_ERROR_NULL, now = SD_BUS_ERROR_NULL;
                int old_r, r;

                old_r = lvss_bus_error_set_hresult(&old, hr, "Volume %s: %s", "/srv/data", "No such file or directory");
                r = refusal_set_hresult(&ref, hr, "Volume %s: %s", "/srv/data", "No such file or directory");
                assert_true(r < 0);
                assert_int_equal(ref.kind, REFUSAL_HRESULT);
                assert_int_equal(ref.hr, hr);
                assert_string_equal(ref.text, "Volume /srv/data: No such file or directory");
                assert_string_equal(refusal_message(&ref), "Volume /srv/data: No such file or directory");

                assert_same_error(&old, old_r, &now, refusal_bus_error(&now, &ref, r));
        }
}

/* The names a requester sees, written out (docs/dbus-interface.md): not only "as before", but this. */
static void test_hresult_names(void **state) {
        static const struct {
                vss_hresult hr;
                const char *name;
        } names[] = {
                { VSS_E_BAD_STATE, "org.lvss.Error.VSS_E_BAD_STATE" },
                { VSS_E_ACCESSDENIED, "org.lvss.Error.VSS_E_ACCESSDENIED" },
                { VSS_E_OBJECT_NOT_FOUND, "org.lvss.Error.VSS_E_OBJECT_NOT_FOUND" },
                { VSS_E_INVALIDARG, "org.lvss.Error.VSS_E_INVALIDARG" },
                { VSS_E_SNAPSHOT_SET_IN_PROGRESS, "org.lvss.Error.VSS_E_SNAPSHOT_SET_IN_PROGRESS" },
                { VSS_E_PROVIDER_NOT_REGISTERED, "org.lvss.Error.VSS_E_PROVIDER_NOT_REGISTERED" },
                { VSS_E_PROVIDER_VETO, "org.lvss.Error.VSS_E_PROVIDER_VETO" },
                { (vss_hresult) 0x8004ffee, "org.lvss.Error.0x8004FFEE" },
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = refusal_set_hresult(&ref, names[i].hr, "%s", "why");

                assert_true(refusal_bus_error(&e, &ref, r) < 0);
                assert_string_equal(e.name, names[i].name);
                assert_string_equal(e.message, "why");
        }
}

/* A VSS error whose text could not be allocated keeps its code: the message is the code's own text, as
 * lvss_bus_error_set_hresult() gave when its vasprintf() failed. An empty text stays empty. */
static void test_hresult_without_text(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(session_hresults); i++) {
                vss_hresult hr = session_hresults[i];
                _cleanup_(sd_bus_error_free) sd_bus_error old = SD_BUS_ERROR_NULL, now = SD_BUS_ERROR_NULL;
                /* what refusal_set_hresult() leaves when vasprintf() fails */
                Refusal ref = { .kind = REFUSAL_HRESULT, .hr = hr, .text = NULL };
                /* the old code's failed vasprintf(): the same as no format */
                int old_r = lvss_bus_error_set_hresult(&old, hr, "%s", vss_hresult_text(hr));

                assert_string_equal(refusal_message(&ref), vss_hresult_text(hr));
                assert_same_error(&old, old_r, &now, refusal_bus_error(&now, &ref, -EIO));
                assert_string_equal(now.message, vss_hresult_text(hr));
        }

        _cleanup_(refusal_done) Refusal empty = REFUSAL_NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error old = SD_BUS_ERROR_NULL, now = SD_BUS_ERROR_NULL;
        int old_r = lvss_bus_error_set_hresult(&old, VSS_E_BAD_STATE, "%s", "");
        int r = refusal_set_hresult(&empty, VSS_E_BAD_STATE, "%s", "");
        assert_same_error(&old, old_r, &now, refusal_bus_error(&now, &empty, r));
        assert_string_equal(now.message, "");
}

/* A failure without a refusal (a bare negative errno: -ENOMEM, a failed send, ...): the D-Bus error
 * sd-bus gave the handler that returned it with the error unset. */
static void test_errno_without_refusal(void **state) {
        static const int errnos[] = { ENOMEM, EINVAL, EACCES, EPERM, ENOENT, EIO, EBADMSG, ETIME, ENOSPC,
                                      EPROTO, ENXIO, ENOTCONN, ECONNRESET, EBADR, EEXIST };

        for (size_t i = 0; i < ELEMENTSOF(errnos); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error old = SD_BUS_ERROR_NULL, now = SD_BUS_ERROR_NULL;
                int old_r = sd_bus_error_set_errno(&old, -errnos[i]);

                assert_same_error(&old, old_r, &now, refusal_bus_error(&now, NULL, -errnos[i]));
                sd_bus_error_free(&now);
                Refusal unset = REFUSAL_NULL;
                assert_same_error(&old, old_r, &now, refusal_bus_error(&now, &unset, -errnos[i]));
                assert_int_equal(refusal_bus_error(&now, &unset, -errnos[i]), -errnos[i]);
        }

        /* the names requesters see for the common ones */
        static const struct {
                int error;
                const char *name;
        } names[] = {
                { EINVAL, SD_BUS_ERROR_INVALID_ARGS },
                { ENOMEM, SD_BUS_ERROR_NO_MEMORY },
                { EACCES, SD_BUS_ERROR_ACCESS_DENIED },
                { EPERM, SD_BUS_ERROR_ACCESS_DENIED },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                assert_int_equal(refusal_bus_error(&e, NULL, -names[i].error), -names[i].error);
                assert_string_equal(e.name, names[i].name);
        }

        /* nothing failed: nothing to say */
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        Refusal unset = REFUSAL_NULL;
        assert_int_equal(refusal_bus_error(&e, &unset, 0), 0);
        assert_int_equal(refusal_bus_error(&e, NULL, 1), 1);
        assert_false(sd_bus_error_is_set(&e));
}

/* An errno refusal: with a text, sd_bus_error_set_errnof()'s name and that text; without one (or when
 * the text could not be allocated), the errno's own error. -EINVAL is InvalidArgs, as the session's
 * callers relied on. */
static void test_errno_refusal(void **state) {
        static const int errnos[] = { EINVAL, ENOMEM, EACCES, ENOENT, EIO, EBADMSG, ENOSPC };

        for (size_t i = 0; i < ELEMENTSOF(errnos); i++) {
                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL, bare = REFUSAL_NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error old = SD_BUS_ERROR_NULL, now = SD_BUS_ERROR_NULL,
                                                         old_bare = SD_BUS_ERROR_NULL, now_bare = SD_BUS_ERROR_NULL;
                int old_r = sd_bus_error_set_errnof(&old, -errnos[i], "Cannot release the session: %s", "x");
                int r = refusal_set_errno(&ref, -errnos[i], "Cannot release the session: %s", "x");

                assert_int_equal(r, -errnos[i]);
                assert_int_equal(ref.kind, REFUSAL_ERRNO);
                assert_int_equal(ref.error, -errnos[i]);
                assert_string_equal(refusal_message(&ref), "Cannot release the session: x");
                assert_same_error(&old, old_r, &now, refusal_bus_error(&now, &ref, r));

                /* a positive errno is the same refusal; no text: the errno's own */
                r = refusal_set_errno(&bare, errnos[i], NULL);
                assert_int_equal(r, -errnos[i]);
                assert_null(refusal_message(&bare));
                old_r = sd_bus_error_set_errno(&old_bare, -errnos[i]);
                assert_same_error(&old_bare, old_r, &now_bare, refusal_bus_error(&now_bare, &bare, r));
        }

        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        assert_int_equal(refusal_bus_error(&e, &ref, refusal_set_errno(&ref, -EINVAL, "%s", "bad volume")), -EINVAL);
        assert_string_equal(e.name, SD_BUS_ERROR_INVALID_ARGS);
        assert_string_equal(e.message, "bad volume");
}

/* The helpers: the first cause stays (as with sd_bus_error_set()), the cleanup empties, NULL is fine. */
static void test_helpers(void **state) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        assert_true(refusal_set_hresult(&ref, VSS_E_BAD_STATE, "first %d", 1) < 0);
        assert_true(refusal_set_hresult(&ref, VSS_E_INVALIDARG, "second") < 0);
        assert_int_equal(refusal_set_errno(&ref, -ENOMEM, "third"), -ENOMEM);
        assert_int_equal(ref.kind, REFUSAL_HRESULT);
        assert_int_equal(ref.hr, VSS_E_BAD_STATE);
        assert_string_equal(ref.text, "first 1");
        refusal_done(&ref);
        assert_int_equal(ref.kind, REFUSAL_NONE);
        assert_null(ref.text);
        assert_null(refusal_message(&ref));
        refusal_done(&ref); /* twice: nothing left to free */
        refusal_done(NULL);

        assert_true(refusal_set_hresult(NULL, VSS_E_BAD_STATE, "nobody keeps it") < 0);
        assert_int_equal(refusal_set_errno(NULL, -EIO, NULL), -EIO);
        assert_int_equal(refusal_set_errno(&ref, 0, "not an errno"), -EINVAL);
        assert_int_equal(ref.kind, REFUSAL_NONE);
        assert_null(refusal_message(NULL));

        /* an error the edge set already is left alone */
        assert_true(refusal_set_hresult(&ref, VSS_E_BAD_STATE, "late") < 0);
        assert_true(sd_bus_error_set(&e, SD_BUS_ERROR_INVALID_ARGS, "ids must be 16 bytes") < 0);
        assert_true(refusal_bus_error(&e, &ref, -EIO) < 0);
        assert_string_equal(e.name, SD_BUS_ERROR_INVALID_ARGS);
        assert_string_equal(e.message, "ids must be 16 bytes");
}

/* WS-11 (issue 11 §2): session_check() refuses a call the table refuses with the table's VSS error
 * and message, as a Refusal, for every (state, input) pair, idle and with a step running; on the
 * bus, org.lvss.Error.VSS_E_BAD_STATE and that message. An allowed call leaves the Refusal unset. */
static void test_session_check(void **state) {
        unsigned refused = 0, allowed = 0;

        for (int st = 0; st < _SESSION_STATE_MAX; st++)
                for (int busy = 0; busy < 2; busy++)
                        for (int in = 0; in <= SESSION_IN_SAVE_AS_XML; in++) {
                                Session s = { .state = st, .step = busy ? STEP_PREPARE_BACKUP : STEP_NONE };
                                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
                                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                                SessionRule rule = {}, got = {};
                                bool ok = session_state_rule(st, busy, in, &rule);
                                int r = session_check(&s, in, &got, &ref);

                                if (ok) {
                                        allowed++;
                                        assert_int_equal(r, 0);
                                        assert_int_equal(ref.kind, REFUSAL_NONE);
                                        assert_int_equal(got.next, rule.next);
                                        continue;
                                }
                                refused++;
                                assert_true(r < 0);
                                assert_int_equal(ref.kind, REFUSAL_HRESULT);
                                assert_int_equal(ref.hr, rule.refusal);
                                assert_int_equal(ref.hr, VSS_E_BAD_STATE);
                                assert_string_equal(ref.text, rule.why);
                                assert_true(refusal_bus_error(&e, &ref, r) < 0);
                                assert_string_equal(e.name, "org.lvss.Error.VSS_E_BAD_STATE");
                                assert_string_equal(e.message, rule.why);
                        }
        assert_true(refused > 0);
        assert_true(allowed > 0);

        /* issue 8 item 5: a session ended for idling says why */
        char reason[] = "idle for 600000 ms while holding the snapshot set in creation";
        Session s = { .state = SESSION_STATE_ENDED_ABORTED, .idle_expired = true, .end_reason = reason };
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        SessionRule rule = {};
        char want[512];

        assert_false(session_state_rule(s.state, false, SESSION_IN_ADD_TO_SNAPSHOT_SET, &rule));
        assert_true(session_check(&s, SESSION_IN_ADD_TO_SNAPSHOT_SET, NULL, &ref) < 0);
        snprintf(want, sizeof want, "%s: %s", rule.why, reason);
        assert_int_equal(ref.hr, VSS_E_BAD_STATE);
        assert_string_equal(ref.text, want);

        /* session_bad_state(): the session's own word on a call out of order */
        _cleanup_(refusal_done) Refusal bad = REFUSAL_NULL;
        assert_true(session_bad_state(&bad, "DoSnapshotSet needs PrepareForBackup first") < 0);
        assert_int_equal(bad.hr, VSS_E_BAD_STATE);
        assert_string_equal(bad.text, "DoSnapshotSet needs PrepareForBackup first");
}

/* WS-10: only a session's own requester reads its status; the others are refused, as a Refusal. */
static void test_session_of_requester(void **state) {
        Manager m = {};
        Client owner = { .m = &m, .uid = 1000, .pid = 10 }, other = { .m = &m, .uid = 1001, .pid = 11 };
        Session s = { .m = &m, .client = &owner, .id = { .bytes = { 1, 2, 3 } } };
        vss_id unknown = { .bytes = { 9 } };
        Session *got = NULL;

        m.sessions = &s;
        {
                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
                assert_int_equal(session_of_requester(&m, &owner, &s.id, &got, &ref), 0);
                assert_ptr_equal(got, &s);
                assert_int_equal(ref.kind, REFUSAL_NONE);
        }
        {
                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = session_of_requester(&m, &other, &s.id, &got, &ref);
                assert_true(r < 0);
                assert_int_equal(ref.hr, VSS_E_ACCESSDENIED);
                assert_true(refusal_bus_error(&e, &ref, r) < 0);
                assert_string_equal(e.name, "org.lvss.Error.VSS_E_ACCESSDENIED");
                assert_string_equal(e.message, "The session belongs to another requester");
        }
        {
                _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = session_of_requester(&m, &owner, &unknown, &got, &ref);
                assert_true(r < 0);
                assert_int_equal(ref.hr, VSS_E_OBJECT_NOT_FOUND);
                assert_true(refusal_bus_error(&e, &ref, r) < 0);
                assert_string_equal(e.name, "org.lvss.Error.VSS_E_OBJECT_NOT_FOUND");
                assert_string_equal(e.message, "No such session");
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hresult_with_text),    cmocka_unit_test(test_hresult_names),
                cmocka_unit_test(test_hresult_without_text), cmocka_unit_test(test_errno_without_refusal),
                cmocka_unit_test(test_errno_refusal),        cmocka_unit_test(test_helpers),
                cmocka_unit_test(test_session_check),        cmocka_unit_test(test_session_of_requester),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

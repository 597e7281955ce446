/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 8 item 7: the admin view and sessions judge a writer's Identify
 * answer alike (WS-1, docs/dbus-interface.md ListWriters), and the admin view
 * says what a writer did when it answered wrongly.
 *
 *   - a writer whose Identify answer is not a valid metadata document is
 *     left out of every session with VSS_E_INVALID_XML_DOCUMENT; ListWriters
 *     lists it as [6] Failed with that code and what was wrong, not as
 *     [1] Stable;
 *   - a writer that answers Identify at once but with a reply of the wrong
 *     D-Bus signature is not "not responding": it fails Identify with
 *     VSS_E_UNEXPECTED_WRITER_ERROR and the admin view names the signature
 *     it sent and the one expected; `vssadmin list writers` prints it.
 *
 * The misbehaving writers are lvss-test-writer --raw-identify (raw sd-bus:
 * liblvss never sends such answers).
 */

#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 10000,
};

static void dump_admin(const itest_admin *a) {
        for (size_t i = 0; i < a->n; i++)
                itest_note("  %s: state %d failure %s session '%s' note '%s'", a->v[i].writer_name, a->v[i].state,
                           itest_hr_str(a->v[i].failure), a->v[i].session_state, a->v[i].note);
}

/* ListWriters: @bad failed Identify with VSS_E_INVALID_XML_DOCUMENT and says why; @good is stable. */
static void check_admin_invalid_metadata(itest_env *env, itest_writer *good, itest_writer *bad, const char *when) {
        itest_admin a = { 0 };

        itest_list_writers(env, &a);
        const itest_admin_entry *g = itest_admin_for(&a, good), *b = itest_admin_for(&a, bad);
        CHECK(g && b, "ListWriters %s lists %zu writers; good %s, bad %s", when, a.n, g ? "yes" : "no",
              b ? "yes" : "no");
        if (b->state != VSS_WS_FAILED_AT_IDENTIFY || b->failure != VSS_E_INVALID_XML_DOCUMENT)
                dump_admin(&a);
        CHECK(b->state == VSS_WS_FAILED_AT_IDENTIFY,
              "issue 8 item 7: %s, an invalid metadata document shows as [%d] in the admin view, expected [6] Failed",
              when, b->state);
        CHECK_HR(b->failure, VSS_E_INVALID_XML_DOCUMENT, "issue 8 item 7: the admin view's failure for it %s", when);
        CHECK(strstr(b->note, "not valid writer metadata"), "the admin view does not say why %s: '%s'", when,
              b->note);
        CHECK(strcmp(b->session_state, "none") == 0 && !b->session_active,
              "WS-1: a failed Identify is outside any session, shows '%s' %s", b->session_state, when);
        CHECK(g->state == VSS_WS_STABLE && g->failure == VSS_S_OK && g->note[0] == 0,
              "the good writer shows [%d] %s '%s' %s", g->state, itest_hr_str(g->failure), g->note, when);
        itest_admin_free(&a);
}

/* Issue 8 item 7 / WS-1: ListWriters shows an invalid metadata document as a failed Identify, like a session. */
static void test_admin_view_invalid_metadata_is_failed(void **state) {
        itest_env *env = *state;
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *good = WRITER(env, "good");
        itest_writer *bad = WRITER(env, "bad-metadata", "--raw-identify", "bad-metadata");

        /* before any session (the case: it showed [1] Stable) */
        check_admin_invalid_metadata(env, good, bad, "before any session");

        /* a session leaves it out (WS-1) */
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_wait_event(env, bad, "Identify", &sid, "raw", itest_ms(env, 5000));
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, (itest_writer *const[]) { good }, 1);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);

        /* ... and the admin view still agrees */
        check_admin_invalid_metadata(env, good, bad, "after a session");

        /* the session's log line says which writer and why, naming the session */
        char *log = itest_read_file(env->lvssd->log_path);
        char want[128];
        snprintf(want, sizeof want, "(session %s) answered Identify with a document", itest_id_str(&sid));
        CHECK(log && strstr(log, want), "lvssd's log has no line with \"%s\"", want);
        free(log);
}

/* Issue 8 item 7: an answer of the wrong signature is a failure saying so, not "not responding". */
static void test_admin_view_wrong_signature_says_what(void **state) {
        itest_env *env = *state;
        itest_admin a = { 0 };
        itest_statuses st = { 0 };

        itest_start_lvssd(env, &opts);
        itest_writer *good = WRITER(env, "good");
        itest_writer *odd = WRITER(env, "wrong-signature", "--raw-identify", "wrong-signature");

        itest_list_writers(env, &a);
        itest_wait_event(env, odd, "Identify", NULL, "raw", itest_ms(env, 5000));
        const itest_admin_entry *g = itest_admin_for(&a, good), *o = itest_admin_for(&a, odd);
        CHECK(g && o, "ListWriters lists %zu writers; good %s, odd %s", a.n, g ? "yes" : "no", o ? "yes" : "no");
        if (o->failure != VSS_E_UNEXPECTED_WRITER_ERROR)
                dump_admin(&a);
        CHECK_HR(o->failure, VSS_E_UNEXPECTED_WRITER_ERROR,
                 "issue 8 item 7: a writer that answered Identify with the wrong signature");
        CHECK(o->state == VSS_WS_FAILED_AT_IDENTIFY, "it answered, so it failed Identify: shows [%d]", o->state);
        CHECK(strstr(o->note, "signature 's'") && strstr(o->note, "expected 'biisa{sv}'"),
              "the admin view does not say what it answered: '%s'", o->note);
        CHECK(g->state == VSS_WS_STABLE, "the good writer shows [%d]", g->state);
        itest_admin_free(&a);

        /* a session leaves it out with the same code (WS-1) */
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, &sid, (itest_writer *const[]) { good }, 1);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);

        /* vssadmin prints what it did */
        char *vssadmin = NULL;
        if (asprintf(&vssadmin, "%s/tools/vssadmin", env->build_root) < 0)
                abort();
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "list", "writers", NULL };
        itest_proc *p = itest_spawn_program(env, "vssadmin list writers", argv, true, true);
        int code = itest_program_exit(env, p, itest_step_bound(env));
        char *out = itest_stream_text(&p->out);
        CHECK(code == 0, "vssadmin list writers exited with %d:\n%s", code, out);
        CHECK(strstr(out, "Problem: the writer answered Identify with signature 's', expected 'biisa{sv}'"),
              "vssadmin list writers does not say what the writer did:\n%s", out);
        CHECK(!strstr(out, "no answer after"), "vssadmin calls a writer that answered silent:\n%s", out);
        free(out);
        free(vssadmin);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_admin_view_invalid_metadata_is_failed),
                ITEST(test_admin_view_wrong_signature_says_what),
        };
        return ITEST_MAIN("issue 8 item 7: admin view", tests);
}

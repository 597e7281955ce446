/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 8 item 5: one stalled requester must not block every backup on the
 * host, and one uid must not take every session.
 *
 * One snapshot set may be in creation system-wide (WS-10). A requester that
 * stops (SIGSTOP) after StartSnapshotSet would hold that slot for as long as
 * its connection stays open. lvssd aborts a holder that makes no call for
 * SnapshotSetIdleTimeoutMS between its steps (as AbortBackup would: Abort to
 * the writers that prepared, no shadow copy left), logs it naming the
 * session, and ends the session; VSS_E_SNAPSHOT_SET_IN_PROGRESS names the
 * holding session, its uid and pid. MaxSessionsPerUser caps the sessions
 * one uid may have open (root exempt).
 *
 * The session cap test makes a real user and group (useradd/groupadd,
 * removed at the end): it needs root, else it is skipped (exit 77 when no
 * test can run).
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/util.h"
#include "harness.h"
#include "protocol/protocol.h"

#define IDLE_MS 2000
#define CAP 3

/* ---- small things -------------------------------------------------------------- */

#define SAY_HR(fd, what, hr) itest_child_say(fd, "%s 0x%08" PRIX32, what, (uint32_t) (hr))

/* OpenSession on a new raw connection: *@ret_bus (kept open) and the error message (owned, NULL on success). */
static vss_hresult open_raw_session(const char *socket_path, sd_bus **ret_bus, char **ret_msg) {
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        vss_hresult hr;
        int r;

        *ret_bus = NULL;
        *ret_msg = NULL;
        r = lvss_bus_connect(socket_path, &bus);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", &err, &reply,
                               "");
        hr = r < 0 ? lvss_bus_error_to_hresult(&err, r) : VSS_S_OK;
        if (r < 0)
                *ret_msg = strdup(err.message ? err.message : "");
        sd_bus_error_free(&err);
        sd_bus_message_unref(reply);
        *ret_bus = bus;
        return hr;
}

/* A Session1 method without arguments on @bus; the error message (owned) in *@ret_msg, NULL on success. */
static vss_hresult session_call(sd_bus *bus, const char *member, char **ret_msg) {
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r;

        if (streq_ptr(member, "InitializeForBackup"))
                r = sd_bus_call_method(bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, member, &err, &reply, "s",
                                       "");
        else
                r = sd_bus_call_method(bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, member, &err, &reply, "");
        vss_hresult hr = r < 0 ? lvss_bus_error_to_hresult(&err, r) : VSS_S_OK;
        *ret_msg = r < 0 ? strdup(err.message ? err.message : "") : NULL;
        sd_bus_error_free(&err);
        sd_bus_message_unref(reply);
        return hr;
}

static vss_hresult wait_op(vss_hresult hr, vss_async **a) {
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

/* ---- the idle holder ------------------------------------------------------------------ */

typedef struct holder_job {
        const char *volume;
        int go_fd;
} holder_job;

/* Builds a snapshot set up to PrepareForBackup, says "holding {sid}", then
 * makes no call until a byte comes on go_fd (the test stops it meanwhile);
 * then tries DoSnapshotSet and says what it got. */
static int holder_child(int fd, void *userdata) {
        const holder_job *job = userdata;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id sid, set, snap;
        char s[VSS_ID_STRING_MAX], b;
        vss_hresult hr;

        if ((hr = vss_create_backup_components(&bc)) != VSS_S_OK || (hr = vss_get_session_id(bc, &sid)) != VSS_S_OK ||
            (hr = vss_initialize_for_backup(bc, NULL)) != VSS_S_OK ||
            (hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false)) != VSS_S_OK ||
            (hr = wait_op(vss_gather_writer_metadata(bc, &a), &a)) != VSS_S_OK ||
            (hr = vss_start_snapshot_set(bc, &set)) != VSS_S_OK ||
            (hr = vss_add_to_snapshot_set(bc, job->volume, NULL, &snap)) != VSS_S_OK ||
            (hr = wait_op(vss_prepare_for_backup(bc, &a), &a)) != VSS_S_OK) {
                SAY_HR(fd, "setup", hr);
                vss_backup_components_release(bc);
                return 1;
        }
        vss_id_format(&sid, s);
        itest_child_say(fd, "holding %s", s);
        while (read(job->go_fd, &b, 1) < 0 && errno == EINTR)
                ;
        hr = wait_op(vss_do_snapshot_set(bc, &a), &a);
        SAY_HR(fd, "after", hr);
        vss_backup_components_release(bc);
        return 0;
}

/* Item 5: a SIGSTOPped holder of the set in creation is named in the error
 * others get, then aborted after the idle bound; the slot is free again. */
static void test_item5_idle_holder_aborted(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        unsigned idle_ms = itest_ms(env, IDLE_MS);
        int go[2];
        char *msg = NULL;
        sd_bus *raw = NULL;
        vss_id sid_a, set_b;

        char *config = itest_write_config(env, "# issue 8 item 5\n[Coordinator]\nSnapshotSetIdleTimeoutMS=%u\n",
                                          idle_ms);
        itest_start_lvssd_config(env, &opts, config);
        itest_writer *w = WRITER(env, "w");

        CHECK(pipe2(go, O_CLOEXEC) == 0, "pipe2: %m");
        holder_job job = { env->data_dir, go[0] };
        itest_proc *a = itest_spawn_child(env, "holder", holder_child, &job);
        close(go[0]);
        size_t l = itest_wait_line_must(env, a, "holding ", itest_ms(env, 30000));
        uint64_t held_usec = a->out.lines[l].mono_usec;
        CHECK(vss_id_parse(a->out.lines[l].text + strlen("holding "), &sid_a) == VSS_S_OK, "bad line %s",
              a->out.lines[l].text);
        CHECK(kill(a->pid, SIGSTOP) == 0, "SIGSTOP: %m");

        /* another requester is refused, and told who holds the slot */
        CHECK_HR(open_raw_session(env->socket_path, &raw, &msg), VSS_S_OK, "OpenSession");
        CHECK_HR(session_call(raw, "InitializeForBackup", &msg), VSS_S_OK, "InitializeForBackup");
        vss_hresult hr = session_call(raw, "StartSnapshotSet", &msg);
        CHECK_HR(hr, VSS_E_SNAPSHOT_SET_IN_PROGRESS, "item 5: StartSnapshotSet while a stopped requester holds the set");
        itest_note("the refusal says: %s", msg);
        char who[128];
        snprintf(who, sizeof who, "uid %u pid %d", (unsigned) getuid(), (int) a->pid);
        CHECK(strstr(msg, itest_id_str(&sid_a)), "item 5: the refusal does not name the holding session %s: %s",
              itest_id_str(&sid_a), msg);
        CHECK(strstr(msg, who), "item 5: the refusal does not name the holder's %s: %s", who, msg);
        free(msg);
        msg = NULL;
        sd_bus_flush_close_unref(raw);

        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set_b), VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                 "item 5: StartSnapshotSet (liblvss) while a stopped requester holds the set");

        /* the idle bound passes: the holder's session is aborted and ended */
        char *reason = NULL;
        char *st = itest_wait_session_end(env, &sid_a, &reason, idle_ms + itest_margin_ms(env));
        uint64_t ended_usec = itest_now_mono_usec();
        CHECK(streq_ptr(st, "aborted"), "item 5: the stopped holder's session is '%s' (%s) after the idle bound", st,
              strempty(reason));
        CHECK(reason && strstr(reason, "made no call"), "item 5: the session's reason does not say why: %s",
              strempty(reason));
        CHECK(ended_usec - held_usec >= (uint64_t) idle_ms * 1000 / 2,
              "item 5: the holder was aborted after %" PRIu64 " ms, well before the idle bound of %u ms",
              (ended_usec - held_usec) / 1000, idle_ms);
        free(st);
        free(reason);
        itest_wait_event(env, w, "Abort", &sid_a, NULL, itest_ms(env, 10000));
        char line[256];
        snprintf(line, sizeof line, "session %s: aborted: the requester (uid %u pid %d) held the snapshot set",
                 itest_id_str(&sid_a), (unsigned) getuid(), (int) a->pid);
        CHECK(itest_lvssd_log_has(env, line), "item 5: the log has no line \"%s\"", line);
        CHECK(itest_catalog_snapshot_count(env, &sid_a) == 0, "item 5: the aborted session left shadow copies");

        /* the slot is free: a whole backup succeeds */
        CHECK_HR(vss_start_snapshot_set(bc, &set_b), VSS_S_OK, "item 5: StartSnapshotSet once the idle holder is gone");
        vss_id snap;
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "AddToSnapshotSet");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_backup_complete);
        itest_requester_release(env, bc);

        /* the holder wakes up: its session has ended, and it is told so */
        CHECK(kill(a->pid, SIGCONT) == 0, "SIGCONT: %m");
        CHECK(write(go[1], "g", 1) == 1, "write: %m");
        close(go[1]);
        CHECK_HR(itest_child_result(env, a, "after"), VSS_E_BAD_STATE, "item 5: DoSnapshotSet of the aborted holder");
        CHECK(itest_wait_exit(env, a, itest_ms(env, 30000)), "the holder did not exit");
        free(config);
}

/* Item 5: a requester that keeps calling is not idle, however long its set takes. */
static void test_item5_busy_holder_kept(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        unsigned idle_ms = itest_ms(env, IDLE_MS);
        vss_id set;

        char *config = itest_write_config(env, "# issue 8 item 5\n[Coordinator]\nSnapshotSetIdleTimeoutMS=%u\n",
                                          idle_ms);
        itest_start_lvssd_config(env, &opts, config);
        /* PrepareForBackup takes twice the idle bound: a step running is not idleness */
        char hang[32];
        snprintf(hang, sizeof hang, "%u", 2 * IDLE_MS);
        itest_writer *w = WRITER(env, "slow", "--hang-at", "PrepareForBackup", "--hang-ms", hang);
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_backup_complete);
        CHECK(itest_count_events(w, "Abort", &sid, NULL) == 0, "item 5: a working session got Abort");
        itest_requester_release(env, bc);
        CHECK(!itest_lvssd_log_has(env, "held the snapshot set in creation and made no call"),
              "item 5: a session whose step ran long was taken for idle");
        (void) set;
        free(config);
}

/* ---- the per-uid cap -------------------------------------------------------------------- */

static const char *user_u, *group_g; /* NULL: the accounts could not be made */

/* true: the user exists (the harness removes it at exit) */
static bool account_create(void) {
        const char *u = NULL;

        if (itest_accounts_begin("test-set-idle", 'i', NULL) != 0 || itest_group_add(NULL, &group_g) != 0 ||
            itest_user_add("u", group_g, &u) != 0 || !getpwnam(u))
                return false;
        user_u = u;
        return true;
}

typedef struct cap_job {
        const char *socket_path;
        int go_fd;
} cap_job;

/* Opens CAP + 1 sessions, each on its own connection, kept open; says each result. */
static int cap_child(int fd, void *userdata) {
        const cap_job *job = userdata;
        sd_bus *buses[CAP + 1] = {};
        char *msg = NULL, b;

        for (unsigned i = 0; i <= CAP; i++) {
                vss_hresult hr = open_raw_session(job->socket_path, &buses[i], &msg);
                char key[32];
                snprintf(key, sizeof key, "open%u", i + 1);
                SAY_HR(fd, key, hr);
                if (msg)
                        itest_child_say(fd, "message %s", msg);
                free(msg);
                msg = NULL;
        }
        while (read(job->go_fd, &b, 1) < 0 && errno == EINTR)
                ;
        for (unsigned i = 0; i <= CAP; i++)
                sd_bus_flush_close_unref(buses[i]);
        return 0;
}

/* Item 5: one unprivileged uid gets at most MaxSessionsPerUser sessions; root is exempt. */
static void test_item5_sessions_per_uid(void **state) {
        itest_env *env = *state;
        sd_bus *root_buses[CAP + 1] = {};
        char *msg = NULL;
        int go[2];

        if (!user_u) {
                itest_note("skipped: needs root to create a user");
                skip();
        }
        itest_open_test_dir(env);
        char *config = itest_write_config(env,
                                          "# issue 8 item 5\n[Coordinator]\nRequesterGroup=%s\nMaxSessionsPerUser=%u\n",
                                          group_g, CAP);
        itest_start_lvssd_config(env, NULL, config);

        CHECK(pipe2(go, O_CLOEXEC) == 0, "pipe2: %m");
        cap_job job = { env->socket_path, go[0] };
        itest_proc *c = itest_spawn_child_as(env, "requester as the user", user_u, cap_child, &job);
        close(go[0]);
        for (unsigned i = 1; i <= CAP; i++) {
                char key[32];
                snprintf(key, sizeof key, "open%u", i);
                CHECK_HR(itest_child_result(env, c, key), VSS_S_OK, "OpenSession %u of %u as %s", i, CAP, user_u);
        }
        char key[32];
        snprintf(key, sizeof key, "open%u", CAP + 1);
        CHECK_HR(itest_child_result(env, c, key), VSS_E_ACCESSDENIED, "item 5: OpenSession %u as %s with a cap of %u",
                 CAP + 1, user_u, CAP);
        size_t l = itest_wait_line_must(env, c, "message ", itest_ms(env, 30000));
        const char *m = c->out.lines[l].text;
        char expect[128];
        struct passwd *pw = getpwnam(user_u);
        CHECK(pw, "no user %s", user_u);
        snprintf(expect, sizeof expect, "uid %u already has %u sessions open", (unsigned) pw->pw_uid, CAP);
        CHECK(strstr(m, expect) && strstr(m, "MaxSessionsPerUser"), "item 5: the refusal does not say why: %s", m);
        snprintf(expect, sizeof expect, "uid %u pid %d refused a session", (unsigned) pw->pw_uid, (int) c->pid);
        CHECK(itest_lvssd_log_has(env, expect), "item 5: the log has no line \"%s\"", expect);

        /* root is exempt */
        for (unsigned i = 0; i <= CAP; i++) {
                CHECK_HR(open_raw_session(env->socket_path, &root_buses[i], &msg), VSS_S_OK,
                         "item 5: OpenSession %u as root (exempt from the cap)", i + 1);
                free(msg);
        }
        for (unsigned i = 0; i <= CAP; i++)
                sd_bus_flush_close_unref(root_buses[i]);

        CHECK(write(go[1], "g", 1) == 1, "write: %m");
        close(go[1]);
        CHECK(itest_wait_exit(env, c, itest_ms(env, 30000)), "the child did not exit");
        free(config);
}

int main(void) {
        if (!account_create())
                printf("test-set-idle: cannot create a user (needs root and useradd): the cap test is skipped\n");
        const struct CMUnitTest tests[] = {
                ITEST(test_item5_idle_holder_aborted),
                ITEST(test_item5_busy_holder_kept),
                ITEST(test_item5_sessions_per_uid),
        };
        return ITEST_MAIN("set-idle", tests);
}

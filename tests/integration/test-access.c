/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * WS-14 Security and WS-10 One owner, across users (issue 5). The test
 * makes two real users and a group (useradd/groupadd, removed at the end,
 * whatever happens) and runs requesters and writers as those users: forked
 * children that drop to the user's ids (itest_spawn_child_as) and use
 * liblvss, or raw sd-bus for the admin methods.
 *
 *   - by default (RequesterGroup=backup, no WriterUsers=) an unprivileged
 *     user is refused as requester, as writer and as administrator with
 *     VSS_E_ACCESSDENIED, and each refusal is logged;
 *   - WriterUsers=USER lets that user's writer in (a full participant of a
 *     root backup), and nothing more;
 *   - RequesterGroup=GROUP lets a member of the group (a supplementary
 *     group: SO_PEERGROUPS) in as requester, writer and administrator;
 *   - a second user's requester cannot read the first one's session
 *     (GatherSessionStatus: VSS_E_ACCESSDENIED, logged) nor delete its shadow
 *     copies while it runs, and the first session goes on unharmed.
 *
 * Needs root (to make users and switch to them): else exit 77.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "harness.h"
#include "protocol/protocol.h"

/* ---- the accounts ----------------------------------------------------------- */

static const char *user_a, *user_b, *group_g;

/* 0, 77 (cannot run here: said why) or 1. The harness removes the accounts at exit. */
static int accounts_create(void) {
        int r = itest_accounts_begin("test-access", 't', "creates users and runs processes as them");
        if (r == 0)
                r = itest_group_add(NULL, &group_g);
        /* the group is a supplementary one: lvssd must read it from SO_PEERGROUPS */
        if (r == 0)
                r = itest_user_add("a", group_g, &user_a);
        if (r == 0)
                r = itest_user_add("b", group_g, &user_b);
        if (r != 0)
                return r;
        struct group *g = getgrnam("backup");
        struct passwd *pa = getpwnam(user_a);
        if (!pa) {
                fprintf(stderr, "test-access: %s is not visible after useradd\n", user_a);
                return 1;
        }
        if (g && pa->pw_gid == g->gr_gid) {
                fprintf(stderr, "test-access: %s's primary group is backup: the test means nothing\n", user_a);
                return 1;
        }
        printf("test-access: users %s (uid %u), %s, group %s\n", user_a, (unsigned) pa->pw_uid, user_b, group_g);
        return 0;
}

/* ---- small things ------------------------------------------------------------ */

static void check_logged(itest_env *env, const char *what) {
        CHECK(itest_lvssd_log_has(env, what), "WS-14: the log has no line with \"%s\"", what);
}

static void check_not_logged(itest_env *env, const char *what) {
        char *log = itest_read_file(env->lvssd->log_path);
        CHECK(log && !strstr(log, what), "the log has \"%s\"", what);
        free(log);
}

/* ---- what the children do ------------------------------------------------------- */

static vss_hresult wait_op(vss_hresult hr, vss_async **a) {
        if (VSS_FAILED(hr))
                return hr;
        hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

#define SAY_HR(fd, what, hr) itest_child_say(fd, "%s 0x%08" PRIX32, what, (uint32_t) (hr))

typedef enum req_mode {
        REQ_OPEN,  /* only vss_create_backup_components */
        REQ_FULL,  /* a whole backup of the volume */
        REQ_HOLD,  /* up to DoSnapshotSet, then wait for a byte on go_fd, then status and release */
} req_mode;

typedef struct req_job {
        req_mode mode;
        const char *volume;
        int go_fd;
} req_job;

static int requester_child(int fd, void *userdata) {
        const req_job *job = userdata;
        vss_backup_components *bc = NULL;
        vss_async *a = NULL;
        vss_id sid, set, snap;
        char s1[VSS_ID_STRING_MAX], s2[VSS_ID_STRING_MAX];
        vss_hresult hr;
        unsigned n = 0;

        hr = vss_create_backup_components(&bc);
        SAY_HR(fd, "requester", hr);
        if (VSS_FAILED(hr) || job->mode == REQ_OPEN) {
                vss_backup_components_release(bc);
                return 0;
        }
        if ((hr = vss_get_session_id(bc, &sid)) != VSS_S_OK || (hr = vss_initialize_for_backup(bc, NULL)) != VSS_S_OK ||
            (hr = vss_set_backup_state(bc, false, false, VSS_BT_FULL, false)) != VSS_S_OK ||
            (hr = wait_op(vss_gather_writer_metadata(bc, &a), &a)) != VSS_S_OK ||
            (hr = vss_start_snapshot_set(bc, &set)) != VSS_S_OK ||
            (hr = vss_add_to_snapshot_set(bc, job->volume, NULL, &snap)) != VSS_S_OK ||
            (hr = wait_op(vss_prepare_for_backup(bc, &a), &a)) != VSS_S_OK ||
            (hr = wait_op(vss_do_snapshot_set(bc, &a), &a)) != VSS_S_OK)
                goto finish;
        vss_id_format(&sid, s1);
        vss_id_format(&set, s2);
        itest_child_say(fd, "session %s set %s", s1, s2);
        if (job->mode == REQ_HOLD) {
                char b;
                while (read(job->go_fd, &b, 1) < 0 && errno == EINTR)
                        ;
        } else if ((hr = wait_op(vss_backup_complete(bc, &a), &a)) != VSS_S_OK)
                goto finish;
        if ((hr = wait_op(vss_gather_writer_status(bc, &a), &a)) != VSS_S_OK ||
            (hr = vss_get_writer_status_count(bc, &n)) != VSS_S_OK)
                goto finish;
        (void) vss_free_writer_status(bc);
        itest_child_say(fd, "statuses %u", n);
finish:
        SAY_HR(fd, "backup", hr);
        bc = vss_backup_components_release(bc);
        itest_child_say(fd, "released");
        return 0;
}

typedef struct writer_ctx {
        int fd;
} writer_ctx;

static bool say_event(vss_writer *w, const char *event, void *userdata) {
        const writer_ctx *c = userdata;
        itest_child_say(c->fd, "event %s", event);
        return true;
}
static bool w_identify(vss_writer *w, vss_create_writer_metadata *md, void *u) { return say_event(w, "Identify", u); }
static bool w_freeze(vss_writer *w, void *u) { return say_event(w, "Freeze", u); }
static bool w_thaw(vss_writer *w, void *u) { return say_event(w, "Thaw", u); }
static bool w_abort(vss_writer *w, void *u) { return say_event(w, "Abort", u); }

/* A writer: subscribe, say the result, then serve events until lvssd goes. */
static int writer_child(int fd, void *userdata) {
        const char *name = userdata;
        writer_ctx ctx = { fd };
        vss_writer_callbacks cb = { .size = sizeof cb, .on_identify = w_identify, .on_freeze = w_freeze, .on_thaw = w_thaw,
                                    .on_abort = w_abort };
        vss_writer_options o = { .size = sizeof o, .writer_name = name, .usage = VSS_UT_USERDATA,
                                 .source = VSS_ST_OTHER };
        vss_writer *w = NULL;
        char id[VSS_ID_STRING_MAX];
        vss_id instance;
        vss_hresult hr;

        for (size_t i = 0; i < sizeof o.writer_id.bytes; i++)
                o.writer_id.bytes[i] = (uint8_t) (0xa5 ^ (i * 7) ^ (uint8_t) getpid());
        hr = vss_writer_initialize(&o, &cb, &ctx, &w);
        if (VSS_SUCCEEDED(hr))
                hr = vss_writer_subscribe(w);
        SAY_HR(fd, "writer", hr);
        if (VSS_FAILED(hr)) {
                vss_writer_release(w);
                return 0;
        }
        (void) vss_writer_get_instance_id(w, &instance);
        vss_id_format(&instance, id);
        itest_child_say(fd, "subscribed %s", id);
        for (;;) {
                struct pollfd p = { .fd = vss_writer_get_fd(w), .events = POLLIN };
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        break;
                hr = vss_writer_process(w);
                if (VSS_FAILED(hr))
                        break;
        }
        itest_child_say(fd, "disconnected");
        vss_writer_release(w);
        return 0;
}

/* The admin methods, each one's result on a line. */
static int admin_child(int fd, void *userdata) {
        const char *sock = getenv("LVSS_SOCKET");
        itest_shadow_list l;
        uint32_t n = 0;

        SAY_HR(fd, "GetVersion", itest_admin_call(sock, "GetVersion"));
        SAY_HR(fd, "ListWriters", itest_admin_call(sock, "ListWriters"));
        SAY_HR(fd, "ListProviders", itest_admin_call(sock, "ListProviders"));
        vss_hresult hr = itest_list_shadows(sock, NULL, &l);
        itest_shadow_list_free(&l);
        SAY_HR(fd, "ListShadows", hr);
        hr = itest_delete_shadows(sock, "all", NULL, NULL, false, &n);
        itest_child_say(fd, "deleted %" PRIu32, n);
        SAY_HR(fd, "DeleteShadows", hr);
        return 0;
}

/* Coordinator1.GatherSessionStatus(@sid) on @bus. */
static vss_hresult gather_session_status(sd_bus *bus, const vss_id *sid) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_hresult hr = VSS_S_OK;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           "GatherSessionStatus");
        if (r >= 0)
                r = lvss_bus_append_id(m, sid);
        if (r >= 0)
                r = sd_bus_call(bus, m, UINT64_C(30000000), &err, &reply);
        if (r < 0)
                hr = lvss_bus_error_to_hresult(&err, r);
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return hr;
}

typedef struct intruder_job {
        vss_id sid, set;
} intruder_job;

/* Another user's requester: tries to read and to delete the first one's session's things. */
static int intruder_child(int fd, void *userdata) {
        const intruder_job *job = userdata;
        const char *sock = getenv("LVSS_SOCKET");
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        uint32_t n = 0;
        vss_hresult hr;
        int r;

        /* a plain connection (no session of its own) */
        r = lvss_bus_connect(sock, &bus);
        if (r < 0) {
                SAY_HR(fd, "connect", lvss_bus_error_to_hresult(NULL, r));
                return 1;
        }
        SAY_HR(fd, "status-plain", gather_session_status(bus, &job->sid));
        sd_bus_flush_close_unref(bus);

        /* a requester connection with a session of its own */
        r = lvss_bus_connect(sock, &bus);
        if (r < 0)
                return 1;
        r = sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", &err, &reply,
                               NULL);
        hr = r < 0 ? lvss_bus_error_to_hresult(&err, r) : VSS_S_OK;
        sd_bus_error_free(&err);
        sd_bus_message_unref(reply);
        SAY_HR(fd, "open", hr);
        SAY_HR(fd, "status-own-session", gather_session_status(bus, &job->sid));
        sd_bus_flush_close_unref(bus);

        /* the first session's shadow copies are not the admin's to delete while it runs */
        hr = itest_delete_shadows(sock, "set", &job->set, NULL, false, &n);
        itest_child_say(fd, "deleted %" PRIu32, n);
        SAY_HR(fd, "delete-set", hr);
        return 0;
}

/* ---- the tests ---------------------------------------------------------------------- */

/* WS-14: by default an unprivileged user is refused as requester, writer and administrator; each refusal is logged. */
static void test_ws14_unprivileged_refused(void **state) {
        itest_env *env = *state;
        req_job job = { REQ_OPEN, env->data_dir, -1 };
        uid_t uid = itest_uid_of(user_a);

        itest_open_test_dir(env);
        itest_start_lvssd(env, NULL);

        /* a persistent shadow copy the refused user will try to delete */
        vss_backup_components *bc = itest_requester(env, false);
        vss_id set, snap;
        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "vss_add_to_snapshot_set");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_backup_complete);
        itest_requester_release(env, bc);

        itest_proc *req = itest_spawn_child_as(env, "requester as user A", user_a, requester_child, &job);
        CHECK_HR(itest_child_result(env, req, "requester"), VSS_E_ACCESSDENIED,
                 "WS-14: vss_create_backup_components as %s (uid %u, not in group backup)", user_a, (unsigned) uid);
        itest_wait_child_ok(env, req);
        char *line = itest_xprintf("access denied: uid %u pid %d may not act as a requester", (unsigned) uid, (int) req->pid);
        check_logged(env, line);
        free(line);

        itest_proc *wr = itest_spawn_child_as(env, "writer as user A", user_a, writer_child, "refused-writer");
        CHECK_HR(itest_child_result(env, wr, "writer"), VSS_E_ACCESSDENIED,
                 "WS-14: vss_writer_subscribe as %s", user_a);
        itest_wait_child_ok(env, wr);
        line = itest_xprintf("access denied: uid %u pid %d may not act as a writer", (unsigned) uid, (int) wr->pid);
        check_logged(env, line);
        free(line);

        itest_proc *adm = itest_spawn_child_as(env, "admin as user A", user_a, admin_child, NULL);
        CHECK_HR(itest_child_result(env, adm, "GetVersion"), VSS_S_OK, "GetVersion needs no rights");
        CHECK_HR(itest_child_result(env, adm, "ListWriters"), VSS_E_ACCESSDENIED, "WS-14: ListWriters as %s", user_a);
        CHECK_HR(itest_child_result(env, adm, "ListProviders"), VSS_E_ACCESSDENIED,
                 "WS-14: ListProviders as %s", user_a);
        CHECK_HR(itest_child_result(env, adm, "ListShadows"), VSS_E_ACCESSDENIED, "WS-14: ListShadows as %s", user_a);
        CHECK_HR(itest_child_result(env, adm, "DeleteShadows"), VSS_E_ACCESSDENIED,
                 "WS-14: DeleteShadows as %s", user_a);
        itest_wait_child_ok(env, adm);
        line = itest_xprintf("access denied: uid %u pid %d may not act as an administrator", (unsigned) uid, (int) adm->pid);
        check_logged(env, line);
        free(line);

        /* nothing happened: no session of that user, the shadow copy is still there */
        char *q = itest_xprintf("SELECT count(*) FROM sessions WHERE uid = %u", (unsigned) uid);
        char *n = itest_catalog_query(env, q);
        CHECK(n && strcmp(n, "0") == 0, "the refused user has %s session(s) in the catalog", n ? n : "?");
        free(n);
        free(q);
        itest_shadow_list l;
        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows as root");
        CHECK(itest_shadow_find(&l, &snap), "the refused DeleteShadows deleted the persistent shadow copy");
        itest_shadow_list_free(&l);
        itest_admin a;
        itest_list_writers(env, &a);
        CHECK(a.n == 0, "the refused writer is listed (%zu writer(s))", a.n);
        itest_admin_free(&a);
}

/* WS-14: WriterUsers=A lets A's writer in, a full participant of a backup; A is still no requester, B no writer. */
static void test_ws14_writer_users(void **state) {
        itest_env *env = *state;
        req_job job = { REQ_OPEN, env->data_dir, -1 };
        uid_t uid = itest_uid_of(user_a);
        vss_id instance;

        itest_open_test_dir(env);
        char *config = itest_write_config(env, "# issue 5 access test\n[Coordinator]\nWriterUsers=%s\n", user_a);
        itest_start_lvssd_config(env, NULL, config);

        itest_proc *wr = itest_spawn_child_as(env, "writer as user A", user_a, writer_child, "user-a-writer");
        CHECK_HR(itest_child_result(env, wr, "writer"), VSS_S_OK,
                 "WS-14: vss_writer_subscribe as %s listed in WriterUsers=",
                 user_a);
        size_t l = itest_wait_line_must(env, wr, "subscribed ", itest_ms(env, 5000));
        CHECK(vss_id_parse(wr->out.lines[l].text + strlen("subscribed "), &instance) == VSS_S_OK, "instance id");
        char *line = itest_xprintf("(uid %u, pid %d", (unsigned) uid, (int) wr->pid);
        check_logged(env, line);
        free(line);

        /* a root backup with that writer in it: Identify, Freeze, Thaw reach it */
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        itest_wait_line_must(env, wr, "event Identify", itest_ms(env, 5000));
        itest_wait_line_must(env, wr, "event Freeze", itest_ms(env, 5000));
        itest_wait_line_must(env, wr, "event Thaw", itest_ms(env, 5000));
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        bool found = false;
        for (size_t i = 0; i < st.n; i++)
                if (vss_id_equal(&st.v[i].s.instance_id, &instance)) {
                        found = true;
                        CHECK(vss_id_equal(&st.v[i].s.session_id, &sid), "entry of another session");
                        CHECK(st.v[i].s.state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE,
                              "%s's writer is %s after DoSnapshotSet", user_a,
                              vss_writer_state_name(st.v[i].s.state));
                }
        itest_statuses_free(&st);
        CHECK(found, "WS-14: the writer of %s is not in the session's status", user_a);
        itest_requester_release(env, bc);

        /* WriterUsers= makes a writer, not a requester */
        itest_proc *req = itest_spawn_child_as(env, "requester as user A", user_a, requester_child, &job);
        CHECK_HR(itest_child_result(env, req, "requester"), VSS_E_ACCESSDENIED,
                 "WS-14: vss_create_backup_components as %s (a writer user only)", user_a);
        itest_wait_child_ok(env, req);

        /* and only for the users it names */
        itest_proc *wb = itest_spawn_child_as(env, "writer as user B", user_b, writer_child, "user-b-writer");
        CHECK_HR(itest_child_result(env, wb, "writer"), VSS_E_ACCESSDENIED,
                 "WS-14: vss_writer_subscribe as %s (not listed)",
                 user_b);
        itest_wait_child_ok(env, wb);
        line = itest_xprintf("access denied: uid %u pid %d may not act as a writer", (unsigned) itest_uid_of(user_b),
                       (int) wb->pid);
        check_logged(env, line);
        free(line);
        free(config);
}

/* WS-14: RequesterGroup=G lets a member of G (supplementary group) in as requester, writer and administrator. */
static void test_ws14_requester_group(void **state) {
        itest_env *env = *state;
        req_job job = { REQ_FULL, env->data_dir, -1 };
        uid_t uid = itest_uid_of(user_a);

        itest_open_test_dir(env);
        char *config = itest_write_config(env, "# issue 5 access test\n[Coordinator]\nRequesterGroup=%s\n", group_g);
        itest_start_lvssd_config(env, NULL, config);

        itest_proc *wr = itest_spawn_child_as(env, "writer as user B", user_b, writer_child, "user-b-writer");
        CHECK_HR(itest_child_result(env, wr, "writer"), VSS_S_OK,
                 "WS-14: vss_writer_subscribe as %s, member of %s", user_b,
                 group_g);

        itest_proc *req = itest_spawn_child_as(env, "requester as user A", user_a, requester_child, &job);
        CHECK_HR(itest_child_result(env, req, "requester"), VSS_S_OK,
                 "WS-14: vss_create_backup_components as %s, member of RequesterGroup=%s", user_a, group_g);
        CHECK_HR(itest_child_result(env, req, "backup"), VSS_S_OK, "a whole backup as %s", user_a);
        size_t l = itest_wait_line_must(env, req, "released", itest_ms(env, 10000));
        CHECK(itest_find_line(&req->out, "statuses 1", 0, l) >= 0, "the backup of %s did not see the writer of %s",
              user_a, user_b);
        itest_wait_child_ok(env, req);
        itest_wait_line_must(env, wr, "event Freeze", itest_ms(env, 5000));
        itest_wait_line_must(env, wr, "event Thaw", itest_ms(env, 5000));

        char *q = itest_xprintf("SELECT state FROM sessions WHERE uid = %u", (unsigned) uid);
        char *s = itest_catalog_query(env, q);
        CHECK(s && strcmp(s, "completed") == 0, "%s's session is recorded as %s", user_a, s ? s : "(nothing)");
        free(s);
        free(q);

        itest_proc *adm = itest_spawn_child_as(env, "admin as user A", user_a, admin_child, NULL);
        CHECK_HR(itest_child_result(env, adm, "ListWriters"), VSS_S_OK,
                 "WS-14: ListWriters as a member of %s", group_g);
        CHECK_HR(itest_child_result(env, adm, "ListProviders"), VSS_S_OK, "ListProviders as a member of %s", group_g);
        CHECK_HR(itest_child_result(env, adm, "ListShadows"), VSS_S_OK, "ListShadows as a member of %s", group_g);
        /* nothing to delete (the backup's copies were auto-release) */
        CHECK_HR(itest_child_result(env, adm, "DeleteShadows"), VSS_E_OBJECT_NOT_FOUND,
                 "DeleteShadows all as a member");
        itest_wait_child_ok(env, adm);
        char *line = itest_xprintf("access denied: uid %u", (unsigned) uid);
        check_not_logged(env, line);
        free(line);
        line = itest_xprintf("access denied: uid %u", (unsigned) itest_uid_of(user_b));
        check_not_logged(env, line);
        free(line);
        free(config);
}

/* WS-10 across users: B's requester cannot read A's session nor delete its shadow copies; A's goes on. */
static void test_ws10_other_users_session(void **state) {
        itest_env *env = *state;
        int go[2];
        intruder_job ij;

        itest_open_test_dir(env);
        char *config = itest_write_config(env, "# issue 5 access test\n[Coordinator]\nRequesterGroup=%s\n", group_g);
        itest_start_lvssd_config(env, NULL, config);
        itest_writer *w = WRITER(env, "w");

        CHECK(pipe2(go, O_CLOEXEC) == 0, "pipe2: %m");
        req_job job = { REQ_HOLD, env->data_dir, go[0] };
        itest_proc *a = itest_spawn_child_as(env, "requester as user A", user_a, requester_child, &job);
        close(go[0]);
        CHECK_HR(itest_child_result(env, a, "requester"), VSS_S_OK, "vss_create_backup_components as %s", user_a);
        size_t l = itest_wait_line_must(env, a, "session ", itest_ms(env, 30000));
        char s1[64], s2[64];
        CHECK(sscanf(a->out.lines[l].text, "session %63s set %63s", s1, s2) == 2 &&
                      vss_id_parse(s1, &ij.sid) == VSS_S_OK && vss_id_parse(s2, &ij.set) == VSS_S_OK,
              "bad line %s", a->out.lines[l].text);
        CHECK(itest_catalog_snapshot_count(env, &ij.sid) == 1, "A's shadow copy is not in the catalog");

        itest_proc *b = itest_spawn_child_as(env, "requester as user B", user_b, intruder_child, &ij);
        CHECK_HR(itest_child_result(env, b, "status-plain"), VSS_E_ACCESSDENIED,
                 "WS-10: GatherSessionStatus of %s's session by %s (no session)", user_a, user_b);
        CHECK_HR(itest_child_result(env, b, "open"), VSS_S_OK, "OpenSession as %s", user_b);
        CHECK_HR(itest_child_result(env, b, "status-own-session"), VSS_E_ACCESSDENIED,
                 "WS-10: GatherSessionStatus of %s's session by %s's own requester", user_a, user_b);
        CHECK_HR(itest_child_result(env, b, "delete-set"), VSS_E_BAD_STATE,
                 "DeleteShadows of the set of %s's running session by %s", user_a, user_b);
        CHECK(itest_find_line(&b->out, "deleted 0", 0, SIZE_MAX) >= 0, "%s deleted something", user_b);
        itest_wait_child_ok(env, b);
        char *line = itest_xprintf("access denied: uid %u pid %d asked for the status of session %s, not its own",
                             (unsigned) itest_uid_of(user_b), (int) b->pid, itest_id_str(&ij.sid));
        check_logged(env, line);
        free(line);

        /* A's session is unharmed: its copy exists, its status reads, it ends normally */
        CHECK(itest_catalog_snapshot_count(env, &ij.sid) == 1, "A's shadow copy went while A's session runs");
        CHECK(write(go[1], "g", 1) == 1, "write: %m");
        close(go[1]);
        CHECK(itest_wait_line(env, &a->out, "statuses 1", itest_ms(env, 30000)) >= 0,
              "A's status after B's attempts is not its one writer");
        CHECK_HR(itest_child_result(env, a, "backup"), VSS_S_OK, "%s's session after %s's attempts", user_a, user_b);
        itest_wait_child_ok(env, a);
        CHECK(itest_catalog_snapshot_count(env, &ij.sid) == 0, "A's auto-release copy outlives its release");
        (void) w;
        free(config);
}

int main(void) {
        int r = accounts_create();
        if (r != 0)
                return r;
        const struct CMUnitTest tests[] = {
                ITEST(test_ws14_unprivileged_refused),
                ITEST(test_ws14_writer_users),
                ITEST(test_ws14_requester_group),
                ITEST(test_ws10_other_users_session),
        };
        return ITEST_MAIN("access", tests);
}

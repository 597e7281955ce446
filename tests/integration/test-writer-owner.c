/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 8 item 4: a writer's identity is bound to its owner. A writer class
 * (writer id) belongs to one uid: the one WriterOwner= names, else the first
 * to subscribe with it (recorded in the catalog). The test makes two real
 * users (useradd, removed at the end whatever happens), lists both in
 * WriterUsers=, and runs writers as them (forked children that drop to the
 * user's ids and use liblvss) next to root's test writers:
 *
 *   - the impostor of the issue: a user subscribes with a class and
 *     instance name before root's writer of that class starts; root's writer
 *     is not locked out: it takes the class over, the impostor is dropped
 *     and refused from then on, and ListWriters / `vssadmin list writers`
 *     show each writer's uid and pid;
 *   - the first owner binds a class: another user is refused with
 *     VSS_E_ACCESSDENIED naming the owner, also after lvssd restarts;
 *   - WriterOwner=CLASS:USER binds a class to USER exactly: another user,
 *     and root too, are refused even when they come first;
 *   - the catalog binds at most MaxWriterClassesPerUser= classes to one
 *     user: beyond that a new class is refused, the user's own classes
 *     still subscribe, root is exempt;
 *   - a class's first owner row that cannot be written (the catalog held
 *     by another writer past SQLite's busy timeout) fails the subscription
 *     with VSS_E_WRITER_INFRASTRUCTURE, leaves nothing behind, and the
 *     next writer of that class subscribes.
 *
 * Needs root (to make users and switch to them): else exit 77.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"

/* ---- the accounts ------------------------------------------------------------- */

static const char *user_a, *user_b;

/* 0, 77 (cannot run here: said why) or 1. The harness removes the accounts at exit. */
static int accounts_create(void) {
        int r = itest_accounts_begin("test-writer-owner", 'o', "creates users and runs writers as them");
        if (r == 0)
                r = itest_user_add("a", NULL, &user_a);
        if (r == 0)
                r = itest_user_add("b", NULL, &user_b);
        return r;
}

/* ---- small things ---------------------------------------------------------------- */

static void check_logged(itest_env *env, const char *what) {
        CHECK(itest_lvssd_log_has(env, what), "lvssd's log has no line with \"%s\"", what);
}

/* The uid the catalog binds class @id to, "" when none (owned). */
static char *catalog_owner(itest_env *env, const vss_id *id) {
        char *q = itest_xprintf("SELECT uid FROM writer_owners WHERE writer_id = '%s'", itest_id_str(id));
        char *v = itest_catalog_query(env, q);
        free(q);
        CHECK(v, "cannot read writer_owners from the catalog");
        size_t n = strlen(v);
        if (n > 0 && v[n - 1] == '\n')
                v[n - 1] = 0;
        return v;
}

/* The entries of class @id in a ListWriters answer. */
static size_t admin_count_class(const itest_admin *a, const vss_id *id) {
        size_t n = 0;
        for (size_t i = 0; i < a->n; i++)
                if (vss_id_equal(&a->v[i].writer_id, id))
                        n++;
        return n;
}

/* ---- a writer as another user ----------------------------------------------------- */

typedef struct writer_job {
        const char *name;
        const char *instance; /* NULL: none */
        vss_id writer_id;
} writer_job;

#define SAY_HR(fd, what, hr) itest_child_say(fd, "%s 0x%08" PRIX32, what, (uint32_t) (hr))

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        itest_child_say(*(const int *) userdata, "event Identify");
        return true;
}

/* Subscribe, say the result ("writer 0x…", "subscribed {id}"), serve events until lvssd drops it. */
static int writer_child(int fd, void *userdata) {
        const writer_job *job = userdata;
        vss_writer_callbacks cb = { .size = sizeof cb, .on_identify = on_identify };
        vss_writer_options o = { .size = sizeof o, .writer_id = job->writer_id, .writer_name = job->name,
                                 .instance_name = job->instance, .usage = VSS_UT_USERDATA,
                                 .source = VSS_ST_OTHER };
        vss_writer *w = NULL;
        vss_id instance;
        vss_hresult hr;

        hr = vss_writer_initialize(&o, &cb, &fd, &w);
        if (VSS_SUCCEEDED(hr))
                hr = vss_writer_subscribe(w);
        SAY_HR(fd, "writer", hr);
        if (VSS_FAILED(hr)) {
                vss_writer_release(w);
                return 0;
        }
        (void) vss_writer_get_instance_id(w, &instance);
        itest_child_say(fd, "subscribed %s", itest_id_str(&instance));
        for (;;) {
                struct pollfd p = { .fd = vss_writer_get_fd(w), .events = POLLIN };
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        break;
                if (VSS_FAILED(vss_writer_process(w)))
                        break;
        }
        itest_child_say(fd, "disconnected");
        vss_writer_release(w);
        return 0;
}

static vss_id class_id(uint8_t seed) {
        vss_id id;
        for (int i = 0; i < 16; i++)
                id.bytes[i] = (uint8_t) (0x5a ^ (seed * 29) ^ (i * 11) ^ (uint8_t) getpid());
        id.bytes[6] = (id.bytes[6] & 0x0F) | 0x40;
        id.bytes[8] = (id.bytes[8] & 0x3F) | 0x80;
        return id;
}

/* A writer that subscribes with one class after another (each released before the next). */
typedef struct classes_job {
        const char *name;
        const vss_id *ids;
        size_t n;
} classes_job;

/* Says "class{i} 0x…" for each class in turn. */
static int classes_child(int fd, void *userdata) {
        const classes_job *job = userdata;

        for (size_t i = 0; i < job->n; i++) {
                vss_writer_options o = { .size = sizeof o, .writer_id = job->ids[i], .writer_name = job->name,
                                         .usage = VSS_UT_USERDATA, .source = VSS_ST_OTHER };
                vss_writer_callbacks cb = { .size = sizeof cb, .on_identify = on_identify };
                vss_writer *w = NULL;
                vss_hresult hr;
                char what[32];

                hr = vss_writer_initialize(&o, &cb, &fd, &w);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_writer_subscribe(w);
                snprintf(what, sizeof what, "class%zu", i);
                SAY_HR(fd, what, hr);
                vss_writer_release(w);
        }
        return 0;
}

/* ---- the tests ------------------------------------------------------------------------ */

/*
 * Issue 8 item 4, the impostor: user A (WriterUsers=) subscribes with the
 * class and instance name of a root writer before it starts. Root's writer
 * still subscribes (root takes the class over), A's is dropped and refused
 * from then on, and the admin view tells the writers apart by uid and pid.
 */
static void test_impostor_cannot_lock_out_root(void **state) {
        itest_env *env = *state;
        writer_job job = { "lvss-writer-sqlite", "main", class_id(1) };
        uid_t uid_a = itest_uid_of(user_a);
        itest_admin a = { 0 };

        CHECK(chmod(env->dir, 0711) == 0, "chmod %s: %m", env->dir);
        char *config = itest_write_config(env, "# issue 8 item 4\n[Coordinator]\nWriterUsers=%s %s\n", user_a, user_b);
        itest_start_lvssd_config(env, NULL, config);

        itest_proc *imp = itest_spawn_child_as(env, "impostor as user A", user_a, writer_child, &job);
        CHECK_HR(itest_child_result(env, imp, "writer"), VSS_S_OK,
                 "the first writer of a new class subscribes (%s)", user_a);

        /* the real writer, root's, same class and instance name: not locked out */
        itest_writer *real = WRITER_ID(env, "lvss-writer-sqlite", &job.writer_id, "--instance", "main");
        itest_wait_line_must(env, imp, "disconnected", itest_ms(env, 10000));
        itest_wait_child_ok(env, imp);
        char *own = catalog_owner(env, &job.writer_id);
        CHECK(strcmp(own, "0") == 0, "after root's writer subscribed the class is bound to '%s', expected 0", own);
        free(own);
        char *line = itest_xprintf("of uid %u (%s) pid %d dropped: uid 0 pid %d takes its class over", (unsigned) uid_a,
                             user_a, (int) imp->pid, (int) real->p.pid);
        check_logged(env, line);
        free(line);

        /* the admin view: one writer of that class, root's, with its uid and pid */
        itest_list_writers(env, &a);
        CHECK(admin_count_class(&a, &job.writer_id) == 1, "%zu writers of the class are listed, expected 1",
              admin_count_class(&a, &job.writer_id));
        const itest_admin_entry *e = itest_admin_for(&a, real);
        CHECK(e, "root's writer is not listed");
        CHECK(e->uid == 0 && e->pid == real->p.pid, "issue 8 item 4: ListWriters shows uid %u pid %d, expected 0 %d",
              (unsigned) e->uid, (int) e->pid, (int) real->p.pid);
        itest_admin_free(&a);

        /* A again, now that the class is root's: refused, naming the owner */
        itest_proc *again = itest_spawn_child_as(env, "impostor again", user_a, writer_child, &job);
        CHECK_HR(itest_child_result(env, again, "writer"), VSS_E_ACCESSDENIED,
                 "issue 8 item 4: %s subscribing with root's writer class", user_a);
        itest_wait_child_ok(env, again);
        line = itest_xprintf("access denied: uid %u (%s) pid %d may not subscribe writer 'lvss-writer-sqlite': class %s "
                       "belongs to uid 0",
                       (unsigned) uid_a, user_a, (int) again->pid, itest_id_str(&job.writer_id));
        check_logged(env, line);
        free(line);

        /* a backup sees root's writer only, Identify and all */
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_wait_event(env, real, "Identify", NULL, "ok", itest_ms(env, 5000));
        itest_statuses st;
        itest_gather_status(env, bc, &st);
        vss_id sid = itest_session_id(bc);
        itest_check_status_set(&st, &sid, (itest_writer *const[]) { real }, 1);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);
        free(config);
}

/* Issue 8 item 4: the first owner binds a class; another user is refused, naming it, across a restart. */
static void test_first_owner_binds_class(void **state) {
        itest_env *env = *state;
        writer_job job_a = { "postgres-writer", "a", class_id(2) };
        writer_job job_b = { "postgres-writer", "b", class_id(2) };
        uid_t uid_a = itest_uid_of(user_a), uid_b = itest_uid_of(user_b);

        CHECK(chmod(env->dir, 0711) == 0, "chmod %s: %m", env->dir);
        char *config = itest_write_config(env, "# issue 8 item 4\n[Coordinator]\nWriterUsers=%s %s\n", user_a, user_b);
        itest_start_lvssd_config(env, NULL, config);

        itest_proc *wa = itest_spawn_child_as(env, "writer as user A", user_a, writer_child, &job_a);
        CHECK_HR(itest_child_result(env, wa, "writer"), VSS_S_OK, "%s's writer, the class's first", user_a);

        itest_proc *wb = itest_spawn_child_as(env, "writer as user B", user_b, writer_child, &job_b);
        CHECK_HR(itest_child_result(env, wb, "writer"), VSS_E_ACCESSDENIED,
                 "issue 8 item 4: %s subscribing with the class of %s's writer (another instance)", user_b, user_a);
        itest_wait_child_ok(env, wb);
        char *line = itest_xprintf("access denied: uid %u (%s) pid %d may not subscribe writer 'postgres-writer': class %s "
                             "belongs to uid %u (%s) (recorded in the catalog)",
                             (unsigned) uid_b, user_b, (int) wb->pid, itest_id_str(&job_b.writer_id),
                             (unsigned) uid_a, user_a);
        check_logged(env, line);
        free(line);

        /* the admin tool shows whose writer it is */
        char *vssadmin = itest_xprintf("%s/tools/vssadmin", env->build_root);
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "list", "writers", NULL };
        itest_proc *p = itest_spawn_program(env, "vssadmin list writers", argv, true, true);
        int code = itest_program_exit(env, p, itest_step_bound(env));
        char *out = itest_stream_text(&p->out);
        line = itest_xprintf("Process: pid %d, uid %u (%s)", (int) wa->pid, (unsigned) uid_a, user_a);
        CHECK(code == 0 && strstr(out, line), "issue 8 item 4: vssadmin list writers has no \"%s\" (exit %d):\n%s",
              line, code, out);
        free(line);
        free(out);
        const char *argv_json[] = { vssadmin, "--socket", env->socket_path, "--json", "list", "writers", NULL };
        p = itest_spawn_program(env, "vssadmin --json list writers", argv_json, true, true);
        code = itest_program_exit(env, p, itest_step_bound(env));
        out = itest_stream_text(&p->out);
        char *want_uid = itest_xprintf("\"uid\": %u,", (unsigned) uid_a), *want_pid = itest_xprintf("\"pid\": %d,", (int) wa->pid);
        CHECK(code == 0 && strstr(out, want_uid) && strstr(out, want_pid),
              "issue 8 item 4: vssadmin --json list writers has no %s and %s (exit %d):\n%s", want_uid, want_pid, code,
              out);
        free(want_uid);
        free(want_pid);
        free(out);
        free(vssadmin);

        /* the binding outlives lvssd */
        itest_kill_lvssd(env);
        itest_wait_line_must(env, wa, "disconnected", itest_ms(env, 10000));
        itest_wait_child_ok(env, wa);
        itest_restart_lvssd(env, config);
        wb = itest_spawn_child_as(env, "writer as user B after a restart", user_b, writer_child, &job_b);
        CHECK_HR(itest_child_result(env, wb, "writer"), VSS_E_ACCESSDENIED,
                 "issue 8 item 4: %s subscribing with %s's class after lvssd restarted", user_b, user_a);
        itest_wait_child_ok(env, wb);
        wa = itest_spawn_child_as(env, "writer as user A after a restart", user_a, writer_child, &job_a);
        CHECK_HR(itest_child_result(env, wa, "writer"), VSS_S_OK, "the owner %s after lvssd restarted", user_a);
        free(config);
}

/* Issue 8 item 4: WriterOwner=CLASS:USER binds exactly; others (root too) are refused even when first. */
static void test_configured_owner(void **state) {
        itest_env *env = *state;
        writer_job job = { "configured", NULL, class_id(3) };
        uid_t uid_a = itest_uid_of(user_a), uid_b = itest_uid_of(user_b);

        CHECK(chmod(env->dir, 0711) == 0, "chmod %s: %m", env->dir);
        char *config = itest_write_config(env,
                                          "# issue 8 item 4\n[Coordinator]\nWriterUsers=%s %s\nWriterOwner=%s:%s\n",
                                          user_a, user_b, itest_id_str(&job.writer_id), user_b);
        itest_start_lvssd_config(env, NULL, config);

        itest_proc *wa = itest_spawn_child_as(env, "writer as user A", user_a, writer_child, &job);
        CHECK_HR(itest_child_result(env, wa, "writer"), VSS_E_ACCESSDENIED,
                 "issue 8 item 4: %s first with a class WriterOwner= gives %s", user_a, user_b);
        itest_wait_child_ok(env, wa);
        char *line = itest_xprintf("class %s belongs to uid %u (%s) (WriterOwner=)", itest_id_str(&job.writer_id),
                             (unsigned) uid_b, user_b);
        check_logged(env, line);
        free(line);

        itest_proc *root = itest_spawn_child(env, "writer as root", writer_child, &job);
        CHECK_HR(itest_child_result(env, root, "writer"), VSS_E_ACCESSDENIED,
                 "issue 8 item 4: root with a class WriterOwner= gives %s", user_b);
        itest_wait_child_ok(env, root);

        itest_proc *wb = itest_spawn_child_as(env, "writer as user B", user_b, writer_child, &job);
        CHECK_HR(itest_child_result(env, wb, "writer"), VSS_S_OK, "%s, the configured owner", user_b);
        itest_admin a = { 0 };
        itest_list_writers(env, &a);
        CHECK(a.n == 1 && a.v[0].uid == uid_b && a.v[0].pid == wb->pid,
              "ListWriters: %zu writers, first uid %u pid %d; expected %s's (uid %u pid %d)", a.n,
              a.n ? (unsigned) a.v[0].uid : 0, a.n ? (int) a.v[0].pid : 0, user_b, (unsigned) uid_b, (int) wb->pid);
        itest_admin_free(&a);
        (void) uid_a;
        free(config);
}

/*
 * Issue 8 (writer_owners must not grow without bound): a user in
 * WriterUsers= cannot make lvssd record endless writer classes. With
 * MaxWriterClassesPerUser=3, user A's fourth new class is refused with
 * VSS_E_ACCESSDENIED and the log names the limit; the catalog binds 3
 * classes to A; A's classes already bound still subscribe; root is exempt.
 */
static void test_writer_classes_per_user_bounded(void **state) {
        itest_env *env = *state;
        enum { LIMIT = 3, N = LIMIT + 2 };
        vss_id ids[N];
        uid_t uid_a = itest_uid_of(user_a);

        for (size_t i = 0; i < N; i++)
                ids[i] = class_id((uint8_t) (10 + i));
        CHECK(chmod(env->dir, 0711) == 0, "chmod %s: %m", env->dir);
        char *config = itest_write_config(env, "# issue 8, writer_owners bounded\n[Coordinator]\nWriterUsers=%s\n"
                                          "MaxWriterClassesPerUser=%d\n",
                                          user_a, LIMIT);
        itest_start_lvssd_config(env, NULL, config);

        /* A: LIMIT new classes are bound, the next ones are refused */
        classes_job job = { "many-classes", ids, N };
        itest_proc *p = itest_spawn_child_as(env, "classes as user A", user_a, classes_child, &job);
        for (size_t i = 0; i < N; i++) {
                char what[32];
                snprintf(what, sizeof what, "class%zu", i);
                CHECK_HR(itest_child_result(env, p, what), i < LIMIT ? VSS_S_OK : VSS_E_ACCESSDENIED,
                         "issue 8: %s's new writer class number %zu with MaxWriterClassesPerUser=%d", user_a, i + 1,
                         LIMIT);
        }
        itest_wait_child_ok(env, p);
        char *q = itest_xprintf("SELECT COUNT(*) FROM writer_owners WHERE uid = %u", (unsigned) uid_a);
        char *count = itest_catalog_query(env, q);
        CHECK(count && strtoul(count, NULL, 10) == LIMIT, "issue 8: the catalog binds %s classes to %s, expected %d",
              count ? count : "?", user_a, LIMIT);
        free(count);
        free(q);
        char *line = itest_xprintf("access denied: uid %u (%s) pid %d may not subscribe writer 'many-classes' with the new "
                             "class %s: %d writer classes are bound to it already (MaxWriterClassesPerUser=%d)",
                             (unsigned) uid_a, user_a, (int) p->pid, itest_id_str(&ids[LIMIT]), LIMIT, LIMIT);
        check_logged(env, line);
        free(line);

        /* A's own classes still work: the limit is on new rows only */
        classes_job known = { "many-classes", ids, LIMIT };
        p = itest_spawn_child_as(env, "known classes as user A", user_a, classes_child, &known);
        for (size_t i = 0; i < LIMIT; i++) {
                char what[32];
                snprintf(what, sizeof what, "class%zu", i);
                CHECK_HR(itest_child_result(env, p, what), VSS_S_OK, "%s's bound class number %zu", user_a, i + 1);
        }
        itest_wait_child_ok(env, p);

        /* root is exempt: it binds the classes A was refused, and more */
        vss_id more[N];
        for (size_t i = 0; i < N; i++)
                more[i] = class_id((uint8_t) (40 + i));
        classes_job root_job = { "root-classes", more, N };
        p = itest_spawn_child(env, "classes as root", classes_child, &root_job);
        for (size_t i = 0; i < N; i++) {
                char what[32];
                snprintf(what, sizeof what, "class%zu", i);
                CHECK_HR(itest_child_result(env, p, what), VSS_S_OK,
                         "root's new class number %zu (root is exempt)", i + 1);
        }
        itest_wait_child_ok(env, p);
        free(config);
}

/* The class @id is bound to @owner in the catalog ("": to nobody) and ListWriters lists @n of it. */
static void check_class(itest_env *env, const vss_id *id, const char *owner, size_t n, const char *when) {
        itest_admin a = {};
        char *own = catalog_owner(env, id);

        CHECK(strcmp(own, owner) == 0, "%s: the class is bound to '%s', expected '%s'", when, own, owner);
        free(own);
        itest_list_writers(env, &a);
        CHECK(admin_count_class(&a, id) == n, "%s: %zu writers of the class are listed, expected %zu", when,
              admin_count_class(&a, id), n);
        itest_admin_free(&a);
}

/*
 * Issue 8 item 4 with issue 11 §1: the first owner row of a class goes through the catalog thread
 * and SubscribeWriter is answered once it is on disk. When it cannot be written, the writer is
 * refused with VSS_E_WRITER_INFRASTRUCTURE (answered from the catalog's completion through a
 * Pending, issue 11 §2), is not listed, and nothing is left that would refuse the next writer of
 * the class as "being subscribed already". The row is made unwritable by holding the catalog's
 * write lock (BEGIN IMMEDIATE on a connection of the test's own) until lvssd's write gives up
 * (SQLite's busy timeout, 5 s).
 */
static void test_owner_row_unwritable(void **state) {
        itest_env *env = *state;
        writer_job job = { "owner-row-writer", NULL, class_id(9) };
        char *path = itest_xprintf("%s/catalog.db", env->state_dir);
        sqlite3 *db = NULL;

        itest_start_lvssd(env, NULL);
        CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK, "sqlite3_open %s: %s", path,
              db ? sqlite3_errmsg(db) : "no memory");
        CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "BEGIN IMMEDIATE: %s",
              sqlite3_errmsg(db));

        itest_proc *w = itest_spawn_child(env, "writer whose owner row cannot be written", writer_child, &job);
        CHECK_HR(itest_child_result(env, w, "writer"), VSS_E_WRITER_INFRASTRUCTURE,
                 "a writer whose class's first owner row cannot be written");
        itest_wait_child_ok(env, w);
        check_logged(env, "goes into the catalog; subscribed once it is on disk");
        check_logged(env, "cannot record its owner uid 0 in the catalog");
        CHECK(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK, "ROLLBACK: %s", sqlite3_errmsg(db));
        sqlite3_close(db);

        check_class(env, &job.writer_id, "", 0, "after its owner row could not be written");

        /* nothing left behind: the class subscribes now, and is bound */
        w = itest_spawn_child(env, "writer of the same class, the catalog free again", writer_child, &job);
        CHECK_HR(itest_child_result(env, w, "writer"), VSS_S_OK, "the next writer of the class");
        check_class(env, &job.writer_id, "0", 1, "after root's writer subscribed");
        free(path);
}

int main(void) {
        int r = accounts_create();
        if (r != 0)
                return r;
        const struct CMUnitTest tests[] = {
                ITEST(test_impostor_cannot_lock_out_root),
                ITEST(test_first_owner_binds_class),
                ITEST(test_configured_owner),
                ITEST(test_writer_classes_per_user_bounded),
                ITEST(test_owner_row_unwritable),
        };
        return ITEST_MAIN("issue 8 item 4: writer owners", tests);
}

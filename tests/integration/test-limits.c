/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 8, items 1 and 2: what an unprivileged local user can cost lvssd.
 * The test makes a real user (and a group with a second user in it, used as
 * RequesterGroup=), removed at the end whatever happens, and runs its
 * connections in children that drop to that user's ids.
 *
 *   - item 1, per-uid cap: the user opens connections until lvssd refuses
 *     one; it is refused at MaxConnectionsPerUser exactly, told why
 *     (VSS_E_ACCESSDENIED naming the limit), the refusal is logged, and while
 *     the user holds them all a root requester, root's `vssadmin list
 *     writers` and a member of the requester group still work;
 *   - item 1, total cap: users outside root and the requester group get three
 *     quarters of MaxConnections, root the rest;
 *   - item 1, descriptors: with lvssd's descriptor limit lowered (prlimit) and
 *     its socket's backlog full of connections it cannot accept, lvssd does
 *     not spin (its CPU time stays a fraction of the time a ListWriters on an
 *     open connection takes while a writer is slow to answer) nor flood its
 *     log, the call is answered, and once the connections go a new one works;
 *   - item 1, idle connections: a connection that never authenticates and
 *     one that authenticated but took no role are closed after
 *     IdleTimeoutMS (the spec'd bound, checked with the generous margin), while
 *     a writer and a requester session, idle as long, are not;
 *   - item 2, unread answers: the user pipelines Introspect calls and reads
 *     none of the answers; lvssd stops reading from it (logged), root still
 *     gets answers meanwhile, lvssd drops the connection after
 *     UnsentTimeoutMS, and its peak and final resident memory stay within a
 *     generous bound of what it had before; and lvssd still stops on SIGTERM
 *     while such a peer is connected.
 *
 * Needs root (to make users, switch to them and lower lvssd's limit): else 77.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "harness.h"
#include "protocol/protocol.h"

/* ---- the accounts ------------------------------------------------------------ */

static const char *user_u, *user_b, *group_g;

/* 0, 77 (cannot run here: said why) or 1. The harness removes the accounts at exit. */
static int accounts_create(void) {
        int r = itest_accounts_begin("test-limits", 'l', "creates users and runs processes as them");
        if (r == 0)
                r = itest_group_add(NULL, &group_g);
        if (r == 0)
                r = itest_user_add("u", NULL, &user_u);
        if (r == 0)
                r = itest_user_add("b", group_g, &user_b);
        if (r != 0)
                return r;
        struct passwd *pu = getpwnam(user_u);
        struct group *backup = getgrnam("backup");
        if (!pu || !getpwnam(user_b)) {
                fprintf(stderr, "test-limits: the test users are not visible after useradd\n");
                return 1;
        }
        if (pu->pw_uid == 0 || (backup && pu->pw_gid == backup->gr_gid)) {
                fprintf(stderr, "test-limits: %s is privileged: the test means nothing\n", user_u);
                return 1;
        }
        return 0;
}

/* ---- small things ---------------------------------------------------------------- */

static unsigned count_in_log(itest_env *env, const char *what) {
        char *log = itest_read_file(env->lvssd->log_path);
        unsigned n = 0;

        for (const char *p = log; p && (p = strstr(p, what)); p += strlen(what))
                n++;
        free(log);
        return n;
}

/* Wait (inotify on the log, no polling) until lvssd's log has a line containing @what. */
static bool wait_logged(itest_env *env, const char *what, unsigned timeout_ms) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;

        for (;;) {
                char *log = itest_read_file(env->lvssd->log_path);
                size_t lines = 0;
                bool found = log && strstr(log, what);

                for (const char *p = log; p && *p; p++)
                        lines += *p == '\n';
                free(log);
                if (found)
                        return true;
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline)
                        return false;
                (void) itest_wait_file_lines(env, env->lvssd->log_path, lines + 1,
                                             (unsigned) ((deadline - now) / 1000u) + 1);
        }
}

/* A field of /proc/PID/status in KiB ("VmRSS:", "VmHWM:"). */
static unsigned long proc_kib(pid_t pid, const char *field) {
        char *path = itest_xprintf("/proc/%d/status", (int) pid);
        char *text = itest_read_file(path);
        const char *p = text ? strstr(text, field) : NULL;
        unsigned long v = p ? strtoul(p + strlen(field), NULL, 10) : 0;

        CHECK(p, "no %s in %s", field, path);
        free(text);
        free(path);
        return v;
}

/* utime + stime of @pid in milliseconds. */
static uint64_t proc_cpu_ms(pid_t pid) {
        char *path = itest_xprintf("/proc/%d/stat", (int) pid);
        char *text = itest_read_file(path);
        const char *p = text ? strrchr(text, ')') : NULL;
        unsigned long long ut = 0, st = 0;

        /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        CHECK(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2,
              "cannot read %s", path);
        free(text);
        free(path);
        return (ut + st) * 1000u / (uint64_t) sysconf(_SC_CLK_TCK);
}

static unsigned proc_fd_count(pid_t pid) {
        char *path = itest_xprintf("/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        unsigned n = 0;

        CHECK(d, "opendir %s: %m", path);
        for (struct dirent *e; (e = readdir(d));)
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        free(path);
        return n;
}

/* A connected socket that says nothing (no D-Bus authentication). */
static int raw_connect(const char *socket_path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        strncpy(sa.sun_path, socket_path, sizeof sa.sun_path - 1);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int get_version(sd_bus *bus, char *err_text, size_t size) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                   "GetVersion", &err, &reply, "");

        if (r < 0)
                snprintf(err_text, size, "%s: %s", err.name ? err.name : "-", err.message ? err.message : strerror(-r));
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
        return r;
}

static void check_vssadmin_lists(itest_env *env, const char *writer_name) {
        char *vssadmin = itest_xprintf("%s/tools/vssadmin", env->build_root);
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "list", "writers", NULL };
        itest_proc *p = itest_spawn_program(env, "vssadmin list writers", argv, env->valgrind, true);
        int code = itest_program_exit(env, p, itest_ms(env, 60000));
        char *out = itest_stream_text(&p->out);

        CHECK(code == 0 && strstr(out, writer_name), "vssadmin list writers: exit %d, output:\n%s", code, out);
        free(out);
        free(vssadmin);
}

/* ---- item 1: the per-uid cap ------------------------------------------------------- */

#define HOG_MAX 200 /* far above the cap the test sets */

typedef struct hog_job {
        const char *socket_path;
        unsigned max;
} hog_job;

/* Opens authenticated connections until one is refused (or @max), says so, and holds them. */
static int hog_child(int fd, void *userdata) {
        const hog_job *job = userdata;
        sd_bus *buses[HOG_MAX] = {};
        char err[256] = "";
        unsigned n = 0;

        for (; n < job->max; n++) {
                int r = lvss_bus_connect(job->socket_path, &buses[n]);
                if (r < 0) {
                        snprintf(err, sizeof err, "connect: %s", strerror(-r));
                        break;
                }
                if (get_version(buses[n], err, sizeof err) < 0) {
                        buses[n] = sd_bus_flush_close_unref(buses[n]);
                        break;
                }
        }
        if (n < job->max)
                itest_child_say(fd, "refused after %u: %s", n, err);
        else
                itest_child_say(fd, "held %u, none refused", n);
        for (;;)
                pause(); /* the test kills it */
        return 0;
}

static int group_admin_child(int fd, void *userdata) {
        const char *socket_path = userdata;
        itest_child_say(fd, "listwriters 0x%08" PRIX32, (uint32_t) itest_admin_call(socket_path, "ListWriters"));
        return 0;
}

/*
 * Item 1: an unprivileged user gets MaxConnectionsPerUser connections and no
 * more (refused and logged), and while it holds them root's and the requester
 * group's connections keep working.
 */
static void test_per_user_cap(void **state) {
        itest_env *env = *state;
        const unsigned cap = 8;

        itest_open_test_dir(env);
        char *conf = itest_write_config(env, "RequesterGroup=%s\nMaxConnections=64\nMaxConnectionsPerUser=%u\n"
                                        "IdleTimeoutMS=%u\n",
                                        group_g, cap, itest_ms(env, 600000));
        itest_start_lvssd_config(env, NULL, conf);
        itest_writer *w = WRITER(env, "capped-w");

        hog_job job = { .socket_path = env->socket_path, .max = HOG_MAX };
        itest_proc *hog = itest_spawn_child_as(env, "connections of the unprivileged user", user_u, hog_child, &job);
        size_t l = itest_wait_line_must(env, hog, "", itest_ms(env, 60000));
        const char *said = hog->out.lines[l].text;
        unsigned got = 0;
        CHECK(sscanf(said, "refused after %u", &got) == 1,
              "item 1: an unprivileged user opened %u connections and none was refused (%s)", HOG_MAX, said);
        CHECK(got == cap, "item 1: the unprivileged user got %u connections, MaxConnectionsPerUser=%u (%s)", got, cap,
              said);
        /* the refused call says what happened: VSS_E_ACCESSDENIED and the limit */
        CHECK(strstr(said, "VSS_E_ACCESSDENIED") && strstr(said, "MaxConnectionsPerUser=8"),
              "item 1: the refused peer is not told why: %s", said);
        CHECK(count_in_log(env, "(MaxConnectionsPerUser=8)") >= 1, "item 1: the refusal is not in lvssd's log");

        /* it holds its maximum: root and the requester group go on */
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_requester_release(env, bc);
        check_vssadmin_lists(env, w->name);
        itest_proc *b = itest_spawn_child_as(env, "admin of the requester group", user_b, group_admin_child,
                                             env->socket_path);
        l = itest_wait_line_must(env, b, "listwriters ", itest_ms(env, 60000));
        CHECK(strcmp(b->out.lines[l].text, "listwriters 0x00000000") == 0,
              "item 1: a member of the requester group was refused: %s", b->out.lines[l].text);
        CHECK(itest_wait_exit(env, b, itest_ms(env, 30000)), "the group member's child did not end");

        /* and the user still cannot get more */
        hog_job one = { .socket_path = env->socket_path, .max = 1 };
        itest_proc *more = itest_spawn_child_as(env, "one more of the user", user_u, hog_child, &one);
        l = itest_wait_line_must(env, more, "", itest_ms(env, 60000));
        CHECK(strncmp(more->out.lines[l].text, "refused after 0", 15) == 0,
              "item 1: a second process of the user got past the cap: %s", more->out.lines[l].text);
        itest_kill_proc(env, more);
        itest_kill_proc(env, hog);
        free(conf);
}

/*
 * Item 1: users outside root and the requester group share three quarters of
 * MaxConnections, even when no one of them reaches its own cap; the last
 * quarter stays for root.
 */
static void test_unprivileged_total_cap(void **state) {
        itest_env *env = *state;

        itest_open_test_dir(env);
        /* 12 in all: 9 for unprivileged users, 3 kept: the writer below, then two of root at once */
        char *conf = itest_write_config(env, "MaxConnections=12\nMaxConnectionsPerUser=100\nIdleTimeoutMS=%u\n",
                                        itest_ms(env, 600000));
        itest_start_lvssd_config(env, NULL, conf);
        WRITER(env, "total-w");

        hog_job job = { .socket_path = env->socket_path, .max = HOG_MAX };
        itest_proc *hog = itest_spawn_child_as(env, "connections of the unprivileged user", user_u, hog_child, &job);
        size_t l = itest_wait_line_must(env, hog, "", itest_ms(env, 60000));
        const char *said = hog->out.lines[l].text;
        unsigned got = 0;
        CHECK(sscanf(said, "refused after %u", &got) == 1 && got == 9,
              "item 1: unprivileged users did not get exactly three quarters of MaxConnections=12: %s", said);
        CHECK(strstr(said, "VSS_E_ACCESSDENIED") && strstr(said, "MaxConnections=12"),
              "item 1: the refused peer is not told why: %s", said);

        /* root gets the quarter kept for it: a requester and, meanwhile, an admin call */
        vss_backup_components *bc = itest_requester(env, false);
        CHECK_HR(itest_admin_call(env->socket_path, "GetVersion"), VSS_S_OK, "root while users hold their share");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_requester_release(env, bc);
        itest_kill_proc(env, hog);
        free(conf);
}

/* ---- item 1: out of descriptors --------------------------------------------------- */

#define BACKLOG_CONNECTIONS 40

/*
 * Item 1: accept() failing with EMFILE does not make lvssd spin or flood its
 * log; open connections are served meanwhile, new ones again once
 * descriptors are free.
 */
static void test_out_of_descriptors(void **state) {
        itest_env *env = *state;
        char err[256] = "";
        int raw[BACKLOG_CONNECTIONS];

        /* the idle timeout must not free descriptors during the test: only the test does */
        char *conf = itest_write_config(env, "IdleTimeoutMS=%u\n", itest_ms(env, 600000));
        itest_start_lvssd_config(env, &(itest_lvssd_opts) { .identify_timeout_ms = 20000 }, conf);
        itest_writer *w = WRITER(env, "slow-w", "--hang-at", "Identify", "--hang-ms", "1500");
        pid_t pid = env->lvssd->pid;

        sd_bus *a = NULL;
        CHECK(lvss_bus_connect(env->socket_path, &a) >= 0, "connect");
        CHECK(get_version(a, err, sizeof err) >= 0, "GetVersion: %s", err);
        /* once before: every timer lvssd needs for ListWriters is set up */
        CHECK(itest_admin_call(env->socket_path, "ListWriters") == VSS_S_OK, "ListWriters before");

        struct rlimit old, low;
        CHECK(prlimit(pid, RLIMIT_NOFILE, NULL, &old) == 0, "prlimit: %m");
        low = old;
        low.rlim_cur = proc_fd_count(pid) + 6;
        CHECK(prlimit(pid, RLIMIT_NOFILE, &low, NULL) == 0, "prlimit: %m");
        for (unsigned i = 0; i < BACKLOG_CONNECTIONS; i++) {
                raw[i] = raw_connect(env->socket_path);
                CHECK(raw[i] >= 0, "connect %u: %s", i, strerror(-raw[i]));
        }
        CHECK(wait_logged(env, "Too many open files", itest_ms(env, 30000)),
              "lvssd never ran out of descriptors (limit %llu)", (unsigned long long) low.rlim_cur);

        /* lvssd should now be idle but for this call, which waits 1.5 s for the writer */
        uint64_t cpu0 = proc_cpu_ms(pid), t0 = itest_now_mono_usec();
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(a, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                   "ListWriters", &e, &reply, "");
        uint64_t elapsed_ms = (itest_now_mono_usec() - t0) / 1000u, cpu_ms = proc_cpu_ms(pid) - cpu0;
        CHECK(r >= 0, "ListWriters on an open connection while lvssd is out of descriptors: %s",
              e.message ? e.message : strerror(-r));
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        itest_note("out of descriptors: lvssd used %" PRIu64 " ms of CPU in %" PRIu64 " ms", cpu_ms, elapsed_ms);
        CHECK(cpu_ms * 2 < elapsed_ms, "item 1: lvssd spins without descriptors: %" PRIu64 " ms of CPU in %" PRIu64
                                       " ms",
              cpu_ms, elapsed_ms);
        unsigned lines = count_in_log(env, "Too many open files");
        CHECK(lines <= 3, "item 1: lvssd logged the failed accept %u times", lines);

        /* descriptors come back: a new connection works, vssadmin too */
        CHECK(prlimit(pid, RLIMIT_NOFILE, &old, NULL) == 0, "prlimit: %m");
        for (unsigned i = 0; i < BACKLOG_CONNECTIONS; i++)
                close(raw[i]);
        CHECK_HR(itest_admin_call(env->socket_path, "GetVersion"), VSS_S_OK, "a new connection afterwards");
        check_vssadmin_lists(env, w->name);
        sd_bus_flush_close_unref(a);
        free(conf);
}

/* ---- item 1: idle connections ------------------------------------------------------ */

typedef struct idle_job {
        const char *socket_path;
        unsigned bound_ms;
} idle_job;

/* A connection that never authenticates and one without a role: when does lvssd close each? */
static int idle_child(int fd, void *userdata) {
        const idle_job *job = userdata;
        sd_bus *bus = NULL;
        char err[256] = "";
        int raw = raw_connect(job->socket_path);

        if (raw < 0 || lvss_bus_connect(job->socket_path, &bus) < 0 || get_version(bus, err, sizeof err) < 0) {
                itest_child_say(fd, "cannot connect: %s", err);
                return 1;
        }
        uint64_t t0 = itest_now_mono_usec(), deadline = t0 + (uint64_t) job->bound_ms * 1000u;
        struct pollfd p[2] = { { .fd = raw, .events = POLLIN }, { .fd = sd_bus_get_fd(bus), .events = POLLIN } };
        bool closed[2] = {};
        while (!closed[0] || !closed[1]) {
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline)
                        break;
                if (poll(p, 2, (int) ((deadline - now) / 1000u) + 1) < 0)
                        continue;
                for (int i = 0; i < 2; i++) {
                        char c;
                        if (closed[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        /* EOF: lvssd closed it (nothing else comes unasked) */
                        if (recv(p[i].fd, &c, 1, MSG_DONTWAIT) <= 0) {
                                closed[i] = true;
                                p[i].fd = -1;
                                itest_child_say(fd, "%s closed after %" PRIu64 " ms", i == 0 ? "raw" : "bus",
                                                (itest_now_mono_usec() - t0) / 1000u);
                        }
                }
        }
        itest_child_say(fd, "done raw=%s bus=%s", closed[0] ? "closed" : "open", closed[1] ? "closed" : "open");
        return 0;
}

/*
 * Item 1: connections without a role are closed after IdleTimeoutMS (not
 * sd-bus's 90 s); a subscribed writer and an open session are not.
 */
static void test_idle_connections_closed(void **state) {
        itest_env *env = *state;
        const unsigned idle_ms = itest_ms(env, 1000);

        itest_open_test_dir(env);
        char *conf = itest_write_config(env, "IdleTimeoutMS=%u\n", idle_ms);
        itest_start_lvssd_config(env, NULL, conf);
        itest_writer *w = WRITER(env, "idle-w");
        vss_backup_components *bc = itest_requester(env, false);

        idle_job job = { .socket_path = env->socket_path, .bound_ms = idle_ms + itest_margin_ms(env) * 4 };
        itest_proc *c = itest_spawn_child_as(env, "idle connections of the user", user_u, idle_child, &job);
        size_t l = itest_wait_line_must(env, c, "done ", job.bound_ms + itest_ms(env, 30000));
        CHECK(strcmp(c->out.lines[l].text, "done raw=closed bus=closed") == 0,
              "item 1: connections without a role are still open %u ms after they went idle (IdleTimeoutMS=%u): %s",
              job.bound_ms, idle_ms, c->out.lines[l].text);
        CHECK(itest_wait_exit(env, c, itest_ms(env, 30000)), "the child did not end");

        /* idle as long, but with a role: still there */
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_admin adm = { 0 };
        itest_list_writers(env, &adm);
        CHECK(itest_admin_for(&adm, w), "the writer was dropped as idle");
        itest_admin_free(&adm);
        itest_requester_release(env, bc);
        free(conf);
}

/* ---- item 2: answers nobody reads ---------------------------------------------------- */

#define PIPELINED_CALLS 40000

typedef struct flood_job {
        const char *socket_path;
        unsigned bound_ms;
} flood_job;

/*
 * Pipelines Introspect calls and reads none of the answers: sd_bus_process()
 * is called only when the socket takes more (it then writes and returns
 * without reading). Says how it ended: lvssd closed the connection, or every
 * call went out.
 */
static int flood_child(int fd, void *userdata) {
        const flood_job *job = userdata;
        sd_bus *bus = NULL;
        char err[256] = "";
        unsigned sent = 0;

        if (lvss_bus_connect(job->socket_path, &bus) < 0 || get_version(bus, err, sizeof err) < 0) {
                itest_child_say(fd, "cannot connect: %s", err);
                return 1;
        }
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) job->bound_ms * 1000u;
        for (;;) {
                uint64_t queued = 0;
                int r = sd_bus_get_n_queued_write(bus, &queued);
                while (r >= 0 && sent < PIPELINED_CALLS && queued < 256) {
                        sd_bus_message *m = NULL;
                        uint64_t cookie;
                        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH,
                                                           "org.freedesktop.DBus.Introspectable", "Introspect");
                        /* with a cookie to return, sd_bus_send() leaves the call expecting its answer */
                        if (r >= 0)
                                r = sd_bus_send(bus, m, &cookie);
                        sd_bus_message_unref(m);
                        if (r >= 0) {
                                sent++;
                                r = sd_bus_get_n_queued_write(bus, &queued);
                        }
                }
                if (r < 0) {
                        itest_child_say(fd, "dropped after %u calls: %s", sent, strerror(-r));
                        return 0;
                }
                if (sent == PIPELINED_CALLS && queued == 0) {
                        itest_child_say(fd, "sent all %u calls", sent);
                        return 0;
                }
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline) {
                        itest_child_say(fd, "stuck after %u calls for %u ms", sent, job->bound_ms);
                        return 0;
                }
                struct pollfd p = { .fd = sd_bus_get_fd(bus), .events = POLLOUT };
                if (poll(&p, 1, (int) ((deadline - now) / 1000u) + 1) <= 0)
                        continue;
                if (p.revents & (POLLHUP | POLLERR)) {
                        itest_child_say(fd, "dropped after %u calls: hang-up", sent);
                        return 0;
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        itest_child_say(fd, "dropped after %u calls: %s", sent, strerror(-r));
                        return 0;
                }
        }
}

/*
 * Item 2: lvssd stops reading from a peer whose answers pile up unread, keeps
 * serving root meanwhile, drops the peer after UnsentTimeoutMS, and its memory
 * stays bounded throughout and after.
 */
static void test_unread_answers_bounded(void **state) {
        itest_env *env = *state;
        const unsigned unsent_ms = itest_ms(env, 3000);
        const unsigned long bound_kib = 48 * 1024;

        itest_open_test_dir(env);
        char *conf = itest_write_config(env, "UnsentTimeoutMS=%u\n", unsent_ms);
        itest_start_lvssd_config(env, NULL, conf);
        itest_writer *w = WRITER(env, "mem-w");
        pid_t pid = env->lvssd->pid;
        unsigned long base = proc_kib(pid, "VmHWM:");

        flood_job job = { .socket_path = env->socket_path, .bound_ms = itest_ms(env, 120000) };
        itest_proc *c = itest_spawn_child_as(env, "unread answers of the user", user_u, flood_child, &job);
        char *what = itest_xprintf("not reading from the connection of uid %u", (unsigned) getpwnam(user_u)->pw_uid);
        if (!wait_logged(env, what, itest_ms(env, 120000))) {
                size_t l = itest_wait_line_must(env, c, "", itest_ms(env, 120000));
                FAIL("item 2: lvssd never stopped reading from a peer that reads no answers (the peer: %s); "
                     "its peak resident memory grew by %lu KiB",
                     c->out.lines[l].text, proc_kib(pid, "VmHWM:") - base);
        }

        /* while it is stalled, root is served */
        CHECK_HR(itest_admin_call(env->socket_path, "GetVersion"), VSS_S_OK, "GetVersion of root meanwhile");
        itest_admin adm = { 0 };
        itest_list_writers(env, &adm);
        CHECK(itest_admin_for(&adm, w), "ListWriters of root meanwhile");
        itest_admin_free(&adm);

        size_t l = itest_wait_line_must(env, c, "", unsent_ms + itest_ms(env, 60000));
        CHECK(strncmp(c->out.lines[l].text, "dropped after ", 14) == 0,
              "item 2: lvssd did not drop the peer that reads nothing: %s", c->out.lines[l].text);
        CHECK(count_in_log(env, "it has not read what lvssd sent it") == 1, "item 2: the drop is not logged once");
        CHECK(itest_wait_exit(env, c, itest_ms(env, 30000)), "the child did not end");

        unsigned long peak = proc_kib(pid, "VmHWM:"), now = proc_kib(pid, "VmRSS:");
        itest_note("lvssd's resident memory: %lu KiB before, peak %lu KiB, %lu KiB after the drop", base, peak, now);
        CHECK(peak < base + bound_kib, "item 2: lvssd's peak resident memory grew by %lu KiB (bound %lu)",
              peak - base, bound_kib);
        CHECK(now < base + bound_kib / 4, "item 2: lvssd kept %lu KiB after the peer went", now - base);

        /* and lvssd goes on */
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_requester_release(env, bc);
        free(what);
        free(conf);
}

/*
 * Items 2 and 1: neither a peer that reads nothing nor one that stops half way
 * through the authentication keeps lvssd from stopping: on SIGTERM it used to
 * wait in sd_bus_flush() for the first forever and for the second until
 * sd-bus's authentication timeout (90 s).
 */
static void test_stop_with_unread_answers(void **state) {
        itest_env *env = *state;

        itest_open_test_dir(env);
        char *conf = itest_write_config(env, "UnsentTimeoutMS=%u\n", itest_ms(env, 600000));
        itest_start_lvssd_config(env, NULL, conf);

        flood_job job = { .socket_path = env->socket_path, .bound_ms = itest_ms(env, 120000) };
        itest_proc *c = itest_spawn_child_as(env, "unread answers of the user", user_u, flood_child, &job);
        char *what = itest_xprintf("not reading from the connection of uid %u", (unsigned) getpwnam(user_u)->pw_uid);
        CHECK(wait_logged(env, what, itest_ms(env, 120000)),
              "item 2: lvssd never stopped reading from a peer that reads no answers");

        /* and one that is half way through the authentication (lvssd answered AUTH, no BEGIN) */
        int raw = raw_connect(env->socket_path);
        static const char auth[] = "\0AUTH EXTERNAL 30\r\n"; /* "0": uid 0 in hex of ASCII */
        char answer[256] = "";
        size_t got = 0;
        CHECK(raw >= 0, "connect: %s", strerror(-raw));
        CHECK(write(raw, auth, sizeof auth - 1) == (ssize_t) sizeof auth - 1, "write: %m");
        while (!strstr(answer, "\r\n") && got < sizeof answer - 1) {
                struct pollfd p = { .fd = raw, .events = POLLIN };
                CHECK(poll(&p, 1, (int) itest_ms(env, 30000)) == 1, "no answer to AUTH");
                ssize_t n = read(raw, answer + got, sizeof answer - 1 - got);
                CHECK(n > 0, "read: %m");
                got += (size_t) n;
        }
        CHECK(strncmp(answer, "OK ", 3) == 0, "lvssd answered AUTH with: %s", answer);

        env->lvssd->killed_by_test = true; /* stopped by the test: the teardown expects it gone */
        CHECK(kill(env->lvssd->pid, SIGTERM) == 0, "kill: %m");
        CHECK(itest_wait_exit(env, env->lvssd, itest_ms(env, 10000) + itest_margin_ms(env)),
              "items 1, 2: lvssd did not stop on SIGTERM while one peer leaves its answers unread and another "
              "is half way through the authentication");
        CHECK(WIFEXITED(env->lvssd->wstatus) && WEXITSTATUS(env->lvssd->wstatus) == 0,
              "lvssd ended badly (status 0x%x)", env->lvssd->wstatus);
        itest_kill_proc(env, c);
        close(raw);
        free(what);
        free(conf);
}

/* ---- beyond items 1 and 2: refused calls do not flood the log -------------------------- */

#define REFUSED_CALLS 2000

/* Makes REFUSED_CALLS ListWriters calls (refused: the user is no administrator) and says how many were refused. */
static int refused_calls_child(int fd, void *userdata) {
        const char *socket_path = userdata;
        sd_bus *bus = NULL;
        unsigned refused = 0, other = 0;

        if (lvss_bus_connect(socket_path, &bus) < 0) {
                itest_child_say(fd, "cannot connect");
                return 1;
        }
        for (unsigned i = 0; i < REFUSED_CALLS; i++) {
                sd_bus_error err = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r = sd_bus_call_method(bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "ListWriters",
                                           &err, &reply, "");
                if (r < 0 && lvss_bus_error_to_hresult(&err, r) == VSS_E_ACCESSDENIED)
                        refused++;
                else
                        other++;
                sd_bus_message_unref(reply);
                sd_bus_error_free(&err);
        }
        itest_child_say(fd, "refused %u other %u", refused, other);
        sd_bus_flush_close_unref(bus);
        return 0;
}

/*
 * Found while fixing item 1: any local user could make lvssd log without
 * bound by repeating a call it is refused (every refusal was logged). The
 * refusals are still answered, every one; the log keeps at most
 * DENIED_LOG_BURST (20) of them per 10 s and then says how many it left out.
 */
static void test_refused_calls_log_bounded(void **state) {
        itest_env *env = *state;

        itest_open_test_dir(env);
        itest_start_lvssd(env, NULL);
        uint64_t start = itest_now_mono_usec();
        itest_proc *c = itest_spawn_child_as(env, "refused calls of the user", user_u, refused_calls_child,
                                             (void *) env->socket_path);
        size_t l = itest_wait_line_must(env, c, "refused ", itest_ms(env, 240000));
        uint64_t took_ms = (itest_now_mono_usec() - start) / 1000u;
        unsigned refused = 0, other = 0;
        CHECK(sscanf(c->out.lines[l].text, "refused %u other %u", &refused, &other) == 2, "child said: %s",
              c->out.lines[l].text);
        CHECK(refused == REFUSED_CALLS && other == 0, "every call is refused with VSS_E_ACCESSDENIED: %s",
              c->out.lines[l].text);
        CHECK(itest_wait_exit(env, c, itest_ms(env, 30000)), "the child did not end");

        /* 20 per started 10 s interval at most, plus the summary lines */
        unsigned logged = count_in_log(env, "access denied: ");
        unsigned bound = 20u * (unsigned) (took_ms / 10000u + 1);
        itest_note("%u refused calls in %" PRIu64 " ms: %u logged (bound %u)", refused, took_ms, logged, bound);
        CHECK(logged >= 1, "the first refusal is logged");
        CHECK(logged <= bound, "%u refusals were logged for %u refused calls in %" PRIu64 " ms (bound %u)", logged,
              refused, took_ms, bound);

        /* refusals of others are still refused (and the daemon still serves root) */
        CHECK_HR(itest_admin_call(env->socket_path, "ListWriters"), VSS_S_OK, "root's ListWriters afterwards");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_per_user_cap),
                ITEST(test_unprivileged_total_cap),
                ITEST(test_out_of_descriptors),
                ITEST(test_idle_connections_closed),
                ITEST(test_unread_answers_bounded),
                ITEST(test_stop_with_unread_answers),
                ITEST(test_refused_calls_log_bounded),
        };

        int r = accounts_create();
        if (r != 0)
                return r;
        return ITEST_MAIN("lvssd connection limits (issue 8)", tests);
}

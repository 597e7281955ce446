/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * issue 12 §3: lvssd's metrics as a fleet reads them. lvssd writes
 * MetricsFile= into a directory that the real prometheus-node-exporter
 * (the Debian package, started here on a free port of 127.0.0.1, only its
 * textfile collector) reads; the test reads node_exporter's /metrics over
 * HTTP, as Prometheus would:
 *
 *  - a writer that fails Freeze with a known code is there by writer,
 *    instance (a name with a quote and a backslash: escaped as the format
 *    says, or node_exporter would refuse the file) and code, with the time;
 *    its state is failed_at_freeze;
 *  - node_exporter reports no scrape error for the file
 *    (node_textfile_scrape_error 0);
 *  - the session counter of the session's result moved from 0 to 1; the
 *    freeze window (the good writer was frozen, then got Abort) and the
 *    backup duration were observed once;
 *  - after lvssd is killed and started again the counter is still 1 (read
 *    back from the catalog), and the directory holds no temporary file.
 *
 * And a MetricsFile= that is not an absolute path stops lvssd at start-up
 * with one line naming it.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <math.h>
#include <poll.h>
#include <sys/inotify.h>

#include "harness.h"

#define NODE_EXPORTER "/usr/bin/prometheus-node-exporter"
#define RETRYABLE "VSS_E_WRITERERROR_RETRYABLE"
#define INSTANCE "db \"main\" \\ one"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 3000,
        .event_timeout_ms = 3000,
};

/* A port of 127.0.0.1 that was free a moment ago. */
static unsigned free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        CHECK(fd >= 0, "socket: %m");
        CHECK(bind(fd, (struct sockaddr *) &a, sizeof a) == 0, "bind: %m");
        CHECK(getsockname(fd, (struct sockaddr *) &a, &len) == 0, "getsockname: %m");
        close(fd);
        return ntohs(a.sin_port);
}

/* GET /metrics from 127.0.0.1:@port: the body (owned), or NULL if nothing listens or it did not answer 200. */
static char *scrape(unsigned port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
        struct timeval tv = { .tv_sec = 30 };
        char *buf = NULL, *body;
        size_t len = 0;
        FILE *f;
        ssize_t n;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        CHECK(fd >= 0, "socket: %m");
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *) &a, sizeof a) < 0) {
                close(fd);
                return NULL;
        }
        CHECK(write(fd, req, sizeof req - 1) == (ssize_t) (sizeof req - 1), "write to node_exporter: %m");
        f = open_memstream(&buf, &len);
        CHECK(f, "open_memstream");
        for (;;) {
                char chunk[8192];
                n = read(fd, chunk, sizeof chunk);
                if (n <= 0)
                        break;
                fwrite(chunk, 1, (size_t) n, f);
        }
        fclose(f);
        close(fd);
        body = strstr(buf, "\r\n\r\n");
        if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || !body) {
                itest_note("node_exporter answered: %.200s", buf);
                free(buf);
                return NULL;
        }
        memmove(buf, body + 4, strlen(body + 4) + 1);
        return buf;
}

/* The line of @text that starts with @name{ (or "@name ") and contains every one of @needles; NULL if none. */
static const char *find_sample(const char *text, const char *name, const char *const *needles) {
        size_t nl = strlen(name);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                const char *end = strchrnul(p, '\n');
                bool all = true;

                if (strncmp(p, name, nl) != 0 || (p[nl] != '{' && p[nl] != ' '))
                        continue;
                for (size_t i = 0; needles && needles[i]; i++) {
                        const char *hit = strstr(p, needles[i]);
                        if (!hit || hit > end)
                                all = false;
                }
                if (all)
                        return p;
        }
        return NULL;
}

/* A sample line's value: after its last space (label values may hold spaces). */
static double line_value(const char *line) {
        const char *end = strchrnul(line, '\n'), *sp = end;

        while (sp > line && sp[-1] != ' ')
                sp--;
        return strtod(sp, NULL);
}

/* Says the lines of @text about lvss and the textfile collector (node_exporter's own are many). */
static void note_lvss_lines(const char *text) {
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, "lvss_", 5) == 0 || strncmp(p, "node_textfile", 13) == 0)
                        itest_note("  %.*s", (int) (strchrnul(p, '\n') - p), p);
}

/* The value of that sample; fails the test when it is not there. */
static double sample_value(const char *text, const char *name, const char *const *needles) {
        const char *line = find_sample(text, name, needles);
        if (!line) {
                note_lvss_lines(text);
                FAIL("no sample %s with %s%s in node_exporter's /metrics (its lvss lines above)", name,
                     needles && needles[0] ? needles[0] : "", needles && needles[0] && needles[1] ? " …" : "");
        }
        return line_value(line);
}

/*
 * Scrape until node_exporter's /metrics has the sample with the value wanted.
 * lvssd rewrites the file a little after a step ends: between scrapes the test
 * waits on inotify of the directory (the rename of a new file), with a
 * generous bound. @want NAN: until there is no such sample. Returns the last scrape (owned).
 */
static char *wait_sample_in(itest_env *env, const char *dir, unsigned port, const char *name,
                            const char *const *needles, double want) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 10000) * 1000;
        int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        char *text = NULL;

        CHECK(ifd >= 0 && inotify_add_watch(ifd, dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) >= 0,
              "inotify on %s: %m", dir);
        for (;;) {
                const char *line;
                uint64_t now;

                free(text);
                text = scrape(port); /* after the watch: a change from now on wakes the poll below */
                line = text ? find_sample(text, name, needles) : NULL;
                if (text && (isnan(want) ? !line : line && line_value(line) == want))
                        break;
                now = itest_now_mono_usec();
                if (now >= deadline) {
                        note_lvss_lines(text);
                        FAIL("node_exporter never showed %s %s… = %g (its lvss lines above)", name,
                             needles && needles[0] ? needles[0] : "", want);
                }
                struct pollfd pfd = { .fd = ifd, .events = POLLIN };
                if (poll(&pfd, 1, (int) ((deadline - now + 999) / 1000)) > 0) {
                        char buf[4096];
                        while (read(ifd, buf, sizeof buf) > 0)
                                ;
                }
        }
        close(ifd);
        return text;
}

/* node_exporter on its own port, reading only @dir with the textfile collector; returns after it answers. */
static unsigned start_node_exporter(itest_env *env, const char *dir) {
        unsigned port = free_port();
        char *listen = itest_xprintf("--web.listen-address=127.0.0.1:%u", port);
        char *textdir = itest_xprintf("--collector.textfile.directory=%s", dir);
        const char *argv[] = { NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile", textdir, listen,
                               NULL };
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 20000) * 1000;
        char *text;

        CHECK(access(NODE_EXPORTER, X_OK) == 0, "%s: %m (scripts/install-deps.sh installs prometheus-node-exporter)",
              NODE_EXPORTER);
        itest_spawn_program(env, "node_exporter", argv, false, false);
        /* wait for its socket: polling with a generous bound */
        while (!(text = scrape(port))) {
                CHECK(itest_now_mono_usec() < deadline, "node_exporter does not answer on 127.0.0.1:%u", port);
                struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        free(text);
        free(listen);
        free(textdir);
        return port;
}

/* Wait (inotify on @dir, a generous bound) until @file is another file than inode @ino: a new write was renamed over it. */
static bool wait_replaced(itest_env *env, const char *dir, const char *file, ino_t ino) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 10000) * 1000;
        int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        struct stat st;
        bool ok;

        CHECK(ifd >= 0 && inotify_add_watch(ifd, dir, IN_MOVED_TO | IN_CREATE) >= 0, "inotify on %s: %m", dir);
        for (;;) {
                uint64_t now = itest_now_mono_usec();

                ok = stat(file, &st) == 0 && st.st_ino != ino;
                if (ok || now >= deadline)
                        break;
                struct pollfd pfd = { .fd = ifd, .events = POLLIN };
                if (poll(&pfd, 1, (int) ((deadline - now + 999) / 1000)) > 0) {
                        char buf[4096];
                        while (read(ifd, buf, sizeof buf) > 0)
                                ;
                }
        }
        close(ifd);
        return ok;
}

static size_t dir_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        CHECK(d, "opendir %s: %m", dir);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        itest_note("in the textfile directory: %s", de->d_name);
                        n++;
                }
        closedir(d);
        return n;
}

/* issue 12 §3: "a backup with a failing writer: the failure is there, by writer and code". */
static void test_metrics_failure_by_writer_and_code(void **state) {
        itest_env *env = *state;
        char *dir = itest_xprintf("%s/textfile", env->dir);
        char *conf = itest_xprintf("%s/lvssd.conf", env->dir);
        char *content, *text, *result;
        const char *good_n[] = { "writer=\"good\"", "state=\"stable\"", NULL };
        unsigned port;
        double t0, t1, when;

        CHECK(mkdir(dir, 0755) == 0, "mkdir %s: %m", dir);
        content = itest_xprintf("[Coordinator]\nMetricsFile=%s/lvss.prom\n", dir);
        itest_write_file(conf, content, strlen(content));
        itest_start_lvssd_config(env, &opts, conf);
        port = start_node_exporter(env, dir);

        /* start-up: the file is there, every counter at 0, and node_exporter reads it */
        text = wait_sample_in(env, dir, port, "lvss_sessions_total", (const char *const[]) { "result=\"completed\"", NULL }, 0);
        CHECK(sample_value(text, "node_textfile_scrape_error", NULL) == 0, "node_exporter: textfile scrape error");
        CHECK(sample_value(text, "lvss_sessions_total", (const char *const[]) { "result=\"aborted\"", NULL }) == 0 &&
                      sample_value(text, "lvss_sessions_total", (const char *const[]) { "result=\"ended\"", NULL }) == 0,
              "sessions counted before any session");
        free(text);

        itest_writer *bad = WRITER(env, "fails", "--instance", INSTANCE, "--fail-at", "Freeze", "--fail-mode", "set",
                                   "--fail-code", RETRYABLE);
        itest_writer *good = WRITER(env, "good");
        (void) good;

        t0 = (double) itest_now_real_usec() / 1e6;
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_hresult hr = itest_step(env, bc, vss_do_snapshot_set, "vss_do_snapshot_set", itest_step_bound(env), NULL);
        CHECK(VSS_FAILED(hr), "DoSnapshotSet succeeded though a writer failed Freeze (WS-7 veto): %s", itest_hr_str(hr));
        itest_wait_event(env, bad, "Freeze", &sid, "fail", itest_ms(env, 5000));
        itest_requester_release(env, bc);
        result = itest_wait_session_end(env, &sid, NULL, itest_ms(env, 10000));
        CHECK(result, "the session did not end in the catalog");
        t1 = (double) itest_now_real_usec() / 1e6;
        itest_note("the session ended %s", result);

        /* the session counter moved, for the result the catalog says */
        char *res_label = itest_xprintf("result=\"%s\"", result);
        text = wait_sample_in(env, dir, port, "lvss_sessions_total", (const char *const[]) { res_label, NULL }, 1);

        /* the failure, by writer, instance (escaped in the file, read back by node_exporter) and code */
        const char *fail_n[] = { "writer=\"fails\"", "instance=\"db \\\"main\\\" \\\\ one\"", "event=\"Freeze\"",
                                 "hresult=\"0x800423F3\"", "code=\"" RETRYABLE "\"", NULL };
        when = sample_value(text, "lvss_writer_last_failure_timestamp_seconds", fail_n);
        CHECK(when >= t0 - 1 && when <= t1 + 1, "failure time %f is not within the backup (%f … %f)", when, t0, t1);
        CHECK(!find_sample(text, "lvss_writer_last_failure_timestamp_seconds",
                           (const char *const[]) { "writer=\"good\"", NULL }),
              "a failure is shown for the writer that did not fail");
        CHECK(sample_value(text, "lvss_writer_state",
                           (const char *const[]) { "writer=\"fails\"", "state=\"failed_at_freeze\"", NULL }) == 1,
              "the failed writer's state is not failed_at_freeze");
        CHECK(sample_value(text, "lvss_writer_state",
                           (const char *const[]) { "writer=\"fails\"", "state=\"stable\"", NULL }) == 0,
              "the failed writer is shown stable too");
        CHECK(find_sample(text, "lvss_writer_state", good_n), "the good writer has no state");
        /* the good writer was frozen, then told Abort: one freeze window; one backup session */
        CHECK(sample_value(text, "lvss_freeze_window_seconds_count", NULL) == 1, "freeze windows observed != 1");
        CHECK(sample_value(text, "lvss_freeze_window_seconds_bucket", (const char *const[]) { "le=\"+Inf\"", NULL }) == 1,
              "the +Inf bucket differs from _count");
        CHECK(sample_value(text, "lvss_backup_duration_seconds_count", NULL) == 1, "backup durations observed != 1");
        CHECK(sample_value(text, "lvss_backup_duration_seconds_sum", NULL) <= t1 - t0 + 1,
              "the backup lasted longer than the test measured");
        CHECK(sample_value(text, "node_textfile_scrape_error", NULL) == 0, "node_exporter: textfile scrape error");
        free(text);

        /* a restart: the counter is read back from the catalog, it does not start at 0 again */
        struct stat before;
        char *file = itest_xprintf("%s/lvss.prom", dir);
        CHECK(stat(file, &before) == 0, "stat %s: %m", file);
        itest_kill_lvssd(env);
        /* what a kill in the middle of a write leaves: removed at the next start */
        char *stale = itest_xprintf("%s/lvss.prom.AbC123", dir);
        itest_write_file(stale, "half a fi", 9);
        itest_restart_lvssd(env, conf);
        /* the new lvssd's file (each write is a new file renamed over the old one) */
        CHECK(wait_replaced(env, dir, file, before.st_ino),
              "the restarted lvssd did not write %s", file);
        text = wait_sample_in(env, dir, port, "lvss_sessions_total", (const char *const[]) { res_label, NULL }, 1);
        CHECK(sample_value(text, "node_textfile_scrape_error", NULL) == 0, "node_exporter: textfile scrape error");
        free(text);
        CHECK(access(stale, F_OK) < 0, "%s is still there after the restart", stale);
        free(stale);
        /* stopped cleanly, only the file is left: no temporary file of a write */
        env->lvssd->killed_by_test = true;
        CHECK(kill(env->lvssd->pid, SIGTERM) == 0, "kill lvssd: %m");
        CHECK(itest_wait_exit(env, env->lvssd, itest_ms(env, 20000)), "lvssd did not stop on SIGTERM");
        CHECK(WIFEXITED(env->lvssd->wstatus) && WEXITSTATUS(env->lvssd->wstatus) == 0, "lvssd did not exit 0");
        CHECK(dir_entries(dir) == 1, "the textfile directory holds more than lvss.prom");

        free(file);
        free(res_label);
        free(result);
        free(content);
        free(conf);
        free(dir);
}

/* issue 12 §3: "per volume the last successful shadow copy time, the number of shadow copies and their storage":
 * a persistent copy is counted with its time and its size once DoSnapshotSet answered, and is gone from the
 * metrics once `vssadmin delete shadows` deleted it. */
static void test_metrics_volume_copies(void **state) {
        itest_env *env = *state;
        char *dir = itest_xprintf("%s/textfile", env->dir);
        char *conf = itest_xprintf("%s/lvssd.conf", env->dir);
        char *content, *text;
        char *vol = itest_xprintf("volume=\"%s\"", env->data_dir);
        const char *vol_n[] = { vol, NULL };
        unsigned port;
        uint32_t deleted = 0;
        double t0, t1, when;
        vss_id set, snap;

        CHECK(mkdir(dir, 0755) == 0, "mkdir %s: %m", dir);
        content = itest_xprintf("[Coordinator]\nMetricsFile=%s/lvss.prom\n", dir);
        itest_write_file(conf, content, strlen(content));
        itest_start_lvssd_config(env, &opts, conf);
        port = start_node_exporter(env, dir);
        WRITER(env, "good");

        t0 = (double) itest_now_real_usec() / 1e6;
        vss_backup_components *bc = itest_requester(env, false);
        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "vss_add_to_snapshot_set");
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        t1 = (double) itest_now_real_usec() / 1e6;
        /* after the step, before the session ends: the copy is counted */
        text = wait_sample_in(env, dir, port, "lvss_volume_shadow_copies", vol_n, 1);
        when = sample_value(text, "lvss_volume_last_shadow_copy_timestamp_seconds", vol_n);
        CHECK(when >= t0 - 1 && when <= t1 + 1, "copy time %f is not within DoSnapshotSet (%f … %f)", when, t0, t1);
        CHECK(sample_value(text, "lvss_volume_shadow_storage_bytes", vol_n) > 0, "the copy takes no space");
        CHECK(sample_value(text, "lvss_freeze_window_seconds_count", NULL) == 1, "freeze windows observed != 1");
        CHECK(sample_value(text, "node_textfile_scrape_error", NULL) == 0, "node_exporter: textfile scrape error");
        free(text);
        STEP_OK(env, bc, vss_backup_complete);
        itest_statuses st = { 0 };
        itest_gather_status(env, bc, &st);
        itest_statuses_free(&st);
        itest_requester_release(env, bc);
        text = wait_sample_in(env, dir, port, "lvss_sessions_total", (const char *const[]) { "result=\"completed\"", NULL },
                              1);
        /* persistent: still there after the session */
        CHECK(sample_value(text, "lvss_volume_shadow_copies", vol_n) == 1, "the persistent copy is not counted");
        CHECK(sample_value(text, "lvss_backup_duration_seconds_count", NULL) == 1, "backup durations observed != 1");
        free(text);

        CHECK_HR(itest_delete_shadows(env->socket_path, "all", NULL, NULL, false, &deleted), VSS_S_OK,
                 "DeleteShadows all");
        CHECK(deleted == 1, "deleted %u copies", deleted);
        /* the volume has no copy: its series are gone (wait for the file without it) */
        text = wait_sample_in(env, dir, port, "lvss_volume_shadow_copies", vol_n, NAN);
        CHECK(!find_sample(text, "lvss_volume_shadow_storage_bytes", vol_n) &&
                      !find_sample(text, "lvss_volume_last_shadow_copy_timestamp_seconds", vol_n),
              "the deleted copy's volume still has a size or a time");
        CHECK(sample_value(text, "node_textfile_scrape_error", NULL) == 0, "node_exporter: textfile scrape error");
        free(text);
        free(vol);
        free(content);
        free(conf);
        free(dir);
}

/* A MetricsFile= that is not absolute: lvssd stops at start-up with one line naming it. */
static void test_metrics_file_relative_refused(void **state) {
        itest_env *env = *state;
        char *conf = itest_xprintf("%s/bad.conf", env->dir);
        static const char content[] = "[Coordinator]\nMetricsFile=lvss.prom\n";
        char *lvssd = itest_xprintf("%s/src/coordinator/lvssd", env->build_root);
        char *sock = itest_xprintf("%s/bad.sock", env->dir);
        char *st = itest_xprintf("%s/bad-state", env->dir);
        const char *argv[] = { lvssd, "--socket", sock, "--state-dir", st, "--config", conf, NULL };
        char *err;

        itest_write_file(conf, content, sizeof content - 1);
        itest_proc *p = itest_spawn_program(env, "lvssd (bad config)", argv, true, false);
        int code = itest_program_exit(env, p, itest_ms(env, 10000));
        CHECK(code != 0, "lvssd started with a relative MetricsFile=");
        err = itest_read_file(p->log_path);
        CHECK(err && strstr(err, "MetricsFile must be an absolute path: lvss.prom"), "lvssd said: %s", err ? err : "");
        free(err);
        free(st);
        free(sock);
        free(lvssd);
        free(conf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_metrics_failure_by_writer_and_code, itest_setup, itest_teardown),
                cmocka_unit_test_setup_teardown(test_metrics_volume_copies, itest_setup, itest_teardown),
                cmocka_unit_test_setup_teardown(test_metrics_file_relative_refused, itest_setup, itest_teardown),
        };
        return itest_main("metrics", tests, sizeof tests / sizeof tests[0]);
}

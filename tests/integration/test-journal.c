/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * issue 12 §3: "Logs through the journal with structured fields
 * (LVSS_SESSION=, LVSS_WRITER=, LVSS_EVENT=, LVSS_HRESULT=) where a journal
 * is present, falling back to stderr".
 *
 * The journal here is the real systemd-journald, started by the test in a
 * private mount namespace (tmpfs on /run/systemd, /run/log and
 * /var/log/journal: the machine's journal is never touched) on its own
 * /run/systemd/journal/socket; the test reads it back with
 * `journalctl --directory=/run/log/journal LVSS_SESSION=…`, as the man page
 * tells an admin to.
 *
 *  - LogTarget=auto (the default) with $JOURNAL_STREAM naming lvssd's stderr
 *    (what systemd sets for a service whose stderr is the journal): a writer
 *    failing PrepareForBackup with a known code
 *    gives an entry with LVSS_SESSION, LVSS_WRITER, LVSS_EVENT, LVSS_HRESULT,
 *    PRIORITY=4 (warning), SYSLOG_IDENTIFIER=lvssd; every line of the session
 *    carries LVSS_SESSION; the line is not also on stderr.
 *  - LogTarget=journal without a journald (no socket): the lines go to
 *    stderr in the format of before; a LogTarget= that is not a target stops
 *    lvssd with one line.
 */

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#define JOURNALD "/lib/systemd/systemd-journald"
#define RETRYABLE "VSS_E_WRITERERROR_RETRYABLE"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 3000,
        .event_timeout_ms = 3000,
};

static const char *const private_dirs[] = { "/run/systemd", "/run/log", "/var/log/journal" };

/* Empty tmpfs over the journal's directories, in this test's own mount namespace (main()). */
static void private_journal_dirs(void) {
        for (size_t i = 0; i < N_ELEMENTS(private_dirs); i++) {
                if (access(private_dirs[i], F_OK) < 0)
                        continue; /* nothing there to hide; journald makes what it needs below /run */
                CHECK(mount("tmpfs", private_dirs[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0,
                      "mount tmpfs on %s: %m", private_dirs[i]);
        }
        CHECK(access("/run/systemd/journal", F_OK) < 0, "/run/systemd/journal is not private");
}

static void private_journal_dirs_done(void) {
        for (size_t i = N_ELEMENTS(private_dirs); i-- > 0;)
                (void) umount2(private_dirs[i], MNT_DETACH);
}

static char *start_lvssd_with(itest_env *env, const char *target) {
        char *conf = itest_xprintf("%s/lvssd.conf", env->dir);
        char *content = itest_xprintf("[Coordinator]\nLogTarget=%s\n", target);

        itest_write_file(conf, content, strlen(content));
        free(content);
        itest_start_lvssd_config(env, &opts, conf);
        return conf;
}

/* A session in which writer "fails" fails PrepareForBackup with VSS_E_WRITERERROR_RETRYABLE; its id. */
static vss_id failing_session(itest_env *env) {
        itest_writer *bad = WRITER(env, "fails", "--fail-at", "PrepareForBackup", "--fail-mode", "set", "--fail-code",
                                   RETRYABLE);
        WRITER(env, "good");
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc);
        char *state;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        itest_step(env, bc, vss_prepare_for_backup, "vss_prepare_for_backup", itest_step_bound(env), NULL);
        itest_wait_event(env, bad, "PrepareForBackup", &sid, "fail", itest_ms(env, 5000));
        itest_requester_release(env, bc);
        state = itest_wait_session_end(env, &sid, NULL, itest_ms(env, 10000));
        CHECK(state, "the session did not end");
        free(state);
        return sid;
}

/* `journalctl --directory=/run/log/journal -o export MATCHES`: its output (owned). */
static char *journalctl(const char *matches) {
        char *cmd = itest_xprintf("journalctl --directory=/run/log/journal --no-pager -o export %s 2>&1", matches);
        FILE *p = popen(cmd, "re");
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        char buf[4096];
        size_t n;

        CHECK(p && m, "popen %s: %m", cmd);
        while ((n = fread(buf, 1, sizeof buf, p)) > 0)
                fwrite(buf, 1, n, m);
        pclose(p);
        fclose(m);
        free(cmd);
        return out;
}

/* Entries of the export format are separated by an empty line. */
static size_t count_entries(const char *export) {
        size_t n = 0;

        for (const char *p = export; (p = strstr(p, "__CURSOR=")); p++)
                n++;
        return n;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static void test_journal_fields(void **state) {
        itest_env *env = *state;
        const char *jd_argv[] = { JOURNALD, NULL };
        uint64_t deadline;
        char *conf, *out = NULL, *match, *entry_start, *log;
        char sid_s[VSS_ID_STRING_MAX];

        CHECK(access(JOURNALD, X_OK) == 0, "%s: %m", JOURNALD);
        private_journal_dirs();
        itest_proc *jd = itest_spawn_program(env, "systemd-journald", jd_argv, false, false);
        /* wait for its socket (polling, generous bound) */
        deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 20000) * 1000;
        while (access("/run/systemd/journal/socket", F_OK) < 0) {
                CHECK(itest_now_mono_usec() < deadline, "systemd-journald made no socket");
                sleep_ms(20);
        }

        /* auto: lvssd's stderr (the harness's lvssd.log, opened without a new inode) is the journal's
         * stream, as $JOURNAL_STREAM says (device:inode, systemd.exec(5)) */
        char *stream = itest_xprintf("%s/lvssd.log", env->dir);
        struct stat st;
        itest_write_file(stream, "", 0);
        CHECK(stat(stream, &st) == 0, "stat %s: %m", stream);
        char *js = itest_xprintf("%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        CHECK(setenv("JOURNAL_STREAM", js, 1) == 0, "setenv: %m");
        conf = start_lvssd_with(env, "auto");
        CHECK(unsetenv("JOURNAL_STREAM") == 0, "unsetenv: %m"); /* lvssd has it; nothing else started later */
        CHECK(stat(env->lvssd->log_path, &st) == 0 && strcmp(env->lvssd->log_path, stream) == 0,
              "lvssd's stderr is not %s", stream);
        free(js);
        free(stream);
        vss_id sid = failing_session(env);
        vss_id_format(&sid, sid_s);

        /* journalctl LVSS_SESSION=…, as lvssd(8) says; the entry comes once journald wrote it (polling, bounded) */
        match = itest_xprintf("'LVSS_SESSION=%s' LVSS_WRITER=fails LVSS_EVENT=PrepareForBackup", sid_s);
        deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 20000) * 1000;
        for (;;) {
                free(out);
                out = journalctl(match);
                if (count_entries(out) > 0)
                        break;
                if (itest_now_mono_usec() >= deadline)
                        FAIL("no journal entry for %s:\n%s", match, out);
                sleep_ms(50);
        }
        itest_note("journal entry:\n%s", out);
        CHECK(count_entries(out) == 1, "%zu entries for one failure", count_entries(out));
        entry_start = out;
        CHECK(strstr(entry_start, "\nLVSS_HRESULT=0x800423F3\n"), "no LVSS_HRESULT=0x800423F3");
        CHECK(strstr(entry_start, "\nPRIORITY=4\n"), "a writer's failure is not a warning (PRIORITY=4)");
        CHECK(strstr(entry_start, "\nSYSLOG_IDENTIFIER=lvssd\n"), "no SYSLOG_IDENTIFIER=lvssd");
        char *msg = itest_xprintf("\nMESSAGE=%s: PrepareForBackup: writer 'fails' failed: " RETRYABLE, sid_s);
        CHECK(strstr(entry_start, msg), "the MESSAGE is not the line of before: %s", msg);
        free(msg);
        free(out);
        free(match);

        /* every line of the session has LVSS_SESSION: at least opened, initialized, the failure, the end */
        match = itest_xprintf("'LVSS_SESSION=%s'", sid_s);
        out = journalctl(match);
        CHECK(count_entries(out) >= 4, "only %zu entries with LVSS_SESSION=%s:\n%s", count_entries(out), sid_s, out);
        CHECK(strstr(out, "opened by uid 0"), "the session's first line has no LVSS_SESSION");
        free(out);
        free(match);

        /* not twice: stderr does not have it */
        log = itest_read_file(env->lvssd->log_path);
        CHECK(!log || !strstr(log, "writer 'fails' failed"), "the failure went to stderr too:\n%s", log);
        free(log);

        itest_kill_lvssd(env); /* before journald goes: nothing to log elsewhere */
        CHECK(itest_program_stop(env, jd, itest_ms(env, 10000)) == 0, "systemd-journald did not stop cleanly");
        private_journal_dirs_done();
        free(conf);
}

static void test_journal_fallback_stderr(void **state) {
        itest_env *env = *state;
        char sid_s[VSS_ID_STRING_MAX];
        char *conf, *log, *want;

        private_journal_dirs(); /* no journald: no /run/systemd/journal/socket */
        conf = start_lvssd_with(env, "journal");
        vss_id sid = failing_session(env);
        vss_id_format(&sid, sid_s);
        log = itest_read_file(env->lvssd->log_path);
        want = itest_xprintf("lvssd: session %s: PrepareForBackup: writer 'fails' failed: " RETRYABLE, sid_s);
        CHECK(log && strstr(log, want), "without a journal the line is not on stderr as before: %s", want);
        CHECK(strstr(log, "lvssd: ready on "), "lvssd's start is not on stderr");
        free(want);
        free(log);
        itest_kill_lvssd(env);
        private_journal_dirs_done();
        free(conf);

        /* a LogTarget= that is none: one line, lvssd does not start */
        char *bad = itest_xprintf("%s/bad.conf", env->dir);
        static const char content[] = "LogTarget=syslog\n";
        char *lvssd = itest_xprintf("%s/src/coordinator/lvssd", env->build_root);
        char *sock = itest_xprintf("%s/bad.sock", env->dir);
        char *st = itest_xprintf("%s/bad-state", env->dir);
        const char *argv[] = { lvssd, "--socket", sock, "--state-dir", st, "--config", bad, NULL };
        itest_write_file(bad, content, sizeof content - 1);
        itest_proc *p = itest_spawn_program(env, "lvssd (bad LogTarget)", argv, true, false);
        CHECK(itest_program_exit(env, p, itest_ms(env, 10000)) != 0, "lvssd started with LogTarget=syslog");
        log = itest_read_file(p->log_path);
        CHECK(log && strstr(log, "LogTarget must be auto, journal or stderr, not syslog"), "lvssd said: %s",
              log ? log : "");
        free(log);
        free(st);
        free(sock);
        free(lvssd);
        free(bad);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_journal_fields, itest_setup, itest_teardown),
                cmocka_unit_test_setup_teardown(test_journal_fallback_stderr, itest_setup, itest_teardown),
        };

        /* the journal's directories are this test's own: a private mount namespace */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "test-journal: cannot make a private mount namespace (run as root): %m\n");
                return 1;
        }
        return itest_main("journal", tests, N_ELEMENTS(tests));
}

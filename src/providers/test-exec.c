/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Unit tests: the exec provider (providers-and-writers.md "Provider
 * contract", the protocol in provider.h), run in-process against a fake
 * provider program this test writes into its temporary directory. The fake
 * appends every call to calls.log and behaves according to the last
 * component of the volume it is given (refuse, fail, slow, ...).
 *
 * The example programs (examples/providers/lvm-thin and zfs) run through the
 * provider too, with LVSS_EXEC_PATH putting the fake commands of
 * tests/providers/fake-bin first in their PATH; those tests need
 * LVSS_SOURCE_ROOT (set by meson) and are skipped without it.
 *
 * Only the "slow" fake sleeps: its slowness is what the timeout test is
 * about. Nothing here waits for time otherwise.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "basic/util.h"
#include "providers/provider.h"
#include "basic/test-run-dir.h"

#define STEP_TIMEOUT (10 * USEC_PER_SEC) /* generous: only the timeout test hits its own */
#define SLOW_TIMEOUT (300 * USEC_PER_MSEC)
#define TIMEOUT_MARGIN (5 * USEC_PER_SEC)
#define INHERITED_FD 47 /* opened without O_CLOEXEC: the program must not see it */

static char base_dir[256];
static char program[300];  /* the fake provider program */
static char calls_log[300];
static char env_file[300];
static char slow_pid_file[300];
static unsigned storage_counter;

/* ---- helpers ------------------------------------------------------------- */

static void write_file(const char *path, const char *data, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        size_t n = strlen(data);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t) n);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

/* The whole file, or NULL when missing (caller frees). */
static char *read_file(const char *path) {
        char *buf;
        struct stat st;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        assert_int_equal(fstat(fd, &st), 0);
        buf = calloc(1, (size_t) st.st_size + 1);
        assert_non_null(buf);
        assert_int_equal(read(fd, buf, (size_t) st.st_size), st.st_size);
        close(fd);
        return buf;
}

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static unsigned count_entries(const char *path) {
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        d = opendir(path);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void remove_tree(const char *path) {
        struct stat st;
        struct dirent *de;
        DIR *d;

        if (lstat(path, &st) < 0)
                return;
        if (!S_ISDIR(st.st_mode)) {
                unlink(path);
                return;
        }
        d = opendir(path);
        if (d) {
                while ((de = readdir(d))) {
                        char sub[4096];

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                        remove_tree(sub);
                }
                closedir(d);
        }
        rmdir(path);
}

static void log_reset(void) {
        write_file(calls_log, "", 0644);
}

/* The log the checks below read: the fake provider's, or an example's. */
static const char *log_path = calls_log;

static char *log_read(void) {
        char *s = read_file(log_path);
        return s ? s : strdup("");
}

static _printf_(1, 2) char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        assert_true(vasprintf(&s, fmt, ap) >= 0);
        va_end(ap);
        return s;
}

/* The calls since log_reset() are exactly @expected (lines, each ending "\n"). */
static void log_expect(const char *expected) {
        _cleanup_(freep) char *got = log_read();

        if (strcmp(got, expected) != 0)
                print_error("calls:\n%s\nexpected:\n%s\n", got, expected);
        assert_string_equal(got, expected);
}

/* Every line of @lines (NULL-terminated) was called, in that order, among
 * others. */
static void log_expect_in_order(const char *const *lines) {
        _cleanup_(freep) char *got = log_read();
        const char *at = got;

        for (size_t i = 0; lines[i]; i++) {
                _cleanup_(freep) char *want = xasprintf("%s\n", lines[i]);
                const char *p = at;

                for (;;) {
                        p = strstr(p, want);
                        if (!p || p == got || p[-1] == '\n')
                                break;
                        p++;
                }
                if (!p)
                        print_error("calls:\n%s\nmissing (in this order): %s\n", got, lines[i]);
                assert_non_null(p);
                at = p + strlen(want);
        }
}

static bool log_has_word(const char *word) {
        _cleanup_(freep) char *got = log_read();
        return strstr(got, word) != NULL;
}

static void make_storage(char *ret, size_t size) {
        snprintf(ret, size, "%s/storage%u", base_dir, storage_counter++);
}

static void make_volume(char *ret, size_t size, const char *name) {
        snprintf(ret, size, "%s/volumes/%s", base_dir, name);
        if (mkdir(ret, 0755) < 0)
                assert_int_equal(errno, EEXIST);
}

static void id_name(const vss_id *id, char ret[VSS_ID_STRING_MAX]) {
        char s[VSS_ID_STRING_MAX];
        vss_id_format(id, s);
        memcpy(ret, s + 1, 36);
        ret[36] = 0;
}

typedef struct snap_names {
        char set[VSS_ID_STRING_MAX];
        char snap[VSS_ID_STRING_MAX];
} snap_names;

static void snapshot_init(lvss_snapshot *s, uint8_t set_byte, uint8_t snap_byte, const char *vol,
                          snap_names *ret_names) {
        *s = (lvss_snapshot) { .volume = (char *) vol };
        for (int i = 0; i < 16; i++) {
                s->set_id.bytes[i] = (uint8_t) (set_byte + i);
                s->snapshot_id.bytes[i] = (uint8_t) (snap_byte + i);
        }
        if (ret_names) {
                id_name(&s->set_id, ret_names->set);
                id_name(&s->snapshot_id, ret_names->snap);
        }
}

static char *record_path(const char *storage, const snap_names *n, const char *suffix) {
        return xasprintf("%s/%s/%s%s", storage, n->set, n->snap, suffix);
}

static lvss_provider *provider_new(const char *name, const char *prog, const char *storage, uint64_t timeout) {
        lvss_provider *p = NULL;

        assert_int_equal(lvss_provider_exec_new(name, prog, storage, timeout, &p), 0);
        assert_non_null(p);
        return p;
}

/* Runs commit in a forked child, as the coordinator does: whatever it
 * returns has to reach the parent through the disk. Its exit: 0, or the
 * negative errno as 1 + its value. */
static int commit_in_child(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        int fds[2], status;
        pid_t pid;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                vss_hresult hr = VSS_S_OK;
                int r = p->ops->commit(p, snaps, n, &hr);
                int msg[2] = { r, hr };

                (void) !write(fds[1], msg, sizeof msg);
                _exit(r < 0 ? 1 : 0);
        }
        close(fds[1]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));

        int msg[2] = {};
        assert_int_equal(read(fds[0], msg, sizeof msg), (ssize_t) sizeof msg);
        close(fds[0]);
        assert_int_equal(WEXITSTATUS(status), msg[0] < 0 ? 1 : 0);
        if (ret_hr)
                *ret_hr = msg[1];
        return msg[0];
}

static char *drop(char *p) {
        free(p);
        return NULL;
}

static uint64_t elapsed_since(uint64_t start) {
        return now_usec(CLOCK_MONOTONIC) - start;
}

/* ---- setup ------------------------------------------------------------------ */

/*
 * The fake program. Behaviour by the volume's last component (or the
 * path's, for delete):
 *   refuse   is-supported and prepare exit 3
 *   fail     commit and delete exit 2
 *   abortfail  abort exits 4
 *   relative / empty / long  commit prints no usable first line
 *   chatty   commit prints the path, then 200 KiB
 *   slow     every step starts a sleep (recording its pid) and waits for it
 *   probe    is-supported records its environment
 *   writable prepare prints "writable"; commit records "env LVSS_WRITABLE=<value or unset>"
 *            (issue 9 part 2)
 *   finalfail  finalize exits 5
 * otherwise commit prints /snapshots/<snapshot id>.
 */
static const char fake_program[] =
        "#!/bin/sh\n"
        "log='%s'\n"
        "printf '%%s\\n' \"$*\" >>\"$log\"\n"
        "step=$1\n"
        "case $step in\n"
        "is-supported | delete | finalize) arg=$2 ;;\n"
        "prepare | commit | abort) arg=$4 ;;\n"
        "*) exit 99 ;;\n"
        "esac\n"
        "kind=${arg##*/}\n"
        "if [ \"$kind\" = slow ]; then\n"
        "        sleep 30 &\n"
        "        echo $! >'%s'\n"
        "        wait\n"
        "        exit 0\n"
        "fi\n"
        "case $step/$kind in\n"
        "is-supported/probe)\n"
        "        read -r pgrp _ <<END\n"
        "$(cut -d' ' -f5,6 /proc/$$/stat)\n"
        "END\n"
        "        if read -r line; then stdin=data; else stdin=eof; fi\n"
        "        if [ -e /proc/$$/fd/%d ]; then fd=open; else fd=closed; fi\n"
        "        blocked=$(awk '/^SigBlk:/ { print $2 }' /proc/$$/status)\n"
        "        ignored=$(awk '/^SigIgn:/ { print $2 }' /proc/$$/status)\n"
        "        {\n"
        "                echo \"PATH=$PATH\"\n"
        "                echo \"NAME=$LVSS_PROVIDER_NAME\"\n"
        "                echo \"HOME=${HOME-unset}\"\n"
        "                echo \"stdin=$stdin\"\n"
        "                echo \"fd=$fd\"\n"
        "                echo \"own-group=$([ \"$pgrp\" = $$ ] && echo yes || echo no)\"\n"
        "                echo \"blocked=$blocked\"\n"
        "                echo \"ignored=$ignored\"\n"
        "        } >'%s'\n"
        "        ;;\n"
        "is-supported/refuse | prepare/refuse) echo 'fake: no thanks' >&2; exit 3 ;;\n"
        "commit/fail | delete/fail) exit 2 ;;\n"
        "abort/abortfail) exit 4 ;;\n"
        "commit/relative) echo relative/path ;;\n"
        "commit/empty) ;;\n"
        "commit/long) head -c 102400 /dev/zero | tr '\\0' x ;;\n"
        "commit/chatty) printf '/snapshots/%%s\\n' \"$3\"; head -c 204800 /dev/zero | tr '\\0' y ;;\n"
        "prepare/writable) echo writable ;;\n"
        "commit/writable) printf 'env LVSS_WRITABLE=%%s\\n' \"${LVSS_WRITABLE-unset}\" >>\"$log\"\n"
        "        printf '/snapshots/%%s\\n' \"$3\" ;;\n"
        "finalize/finalfail) exit 5 ;;\n"
        "commit/*) printf '/snapshots/%%s\\nsecond line, ignored\\n' \"$3\" ;;\n"
        "esac\n"
        "exit 0\n";

static int group_setup(void **state) {
        const char *tmp = getenv("TMPDIR");
        char p[512], *script;

        snprintf(base_dir, sizeof base_dir, "%s/test-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (test_run_dir_make(base_dir) < 0) /* removed on every exit, killed or failed too */
                return -1;
        snprintf(p, sizeof p, "%s/volumes", base_dir);
        if (mkdir(p, 0755) < 0)
                return -1;

        snprintf(program, sizeof program, "%s/fake-provider", base_dir);
        snprintf(calls_log, sizeof calls_log, "%s/calls.log", base_dir);
        snprintf(env_file, sizeof env_file, "%s/env", base_dir);
        snprintf(slow_pid_file, sizeof slow_pid_file, "%s/slow.pid", base_dir);

        if (asprintf(&script, fake_program, calls_log, slow_pid_file, INHERITED_FD, env_file) < 0)
                return -1;
        write_file(program, script, 0755);
        free(script);
        return 0;
}

static int group_teardown(void **state) {
        remove_tree(base_dir);
        return 0;
}

static int test_setup(void **state) {
        log_reset();
        return 0;
}

/* ---- creation and identity ------------------------------------------------- */

static void test_new_invalid(void **state) {
        char storage[300], not_exec[400];
        lvss_provider *p = NULL;

        make_storage(storage, sizeof storage);
        snprintf(not_exec, sizeof not_exec, "%s/not-executable", base_dir);
        write_file(not_exec, "#!/bin/sh\n", 0644);

        assert_int_equal(lvss_provider_exec_new(NULL, program, storage, STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("", program, storage, STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("has space", program, storage, STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("a/b", program, storage, STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("fake", "fake-provider", storage, STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("fake", NULL, storage, STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("fake", program, "relative", STEP_TIMEOUT, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("fake", program, storage, 0, &p), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("fake", program, storage, STEP_TIMEOUT, NULL), -EINVAL);
        assert_int_equal(lvss_provider_exec_new("fake", "/does/not/exist", storage, STEP_TIMEOUT, &p), -ENOENT);
        assert_int_equal(lvss_provider_exec_new("fake", base_dir, storage, STEP_TIMEOUT, &p), -EACCES);
        if (geteuid() != 0) /* root may execute anything with an x bit; this one has none */
                assert_int_equal(lvss_provider_exec_new("fake", not_exec, storage, STEP_TIMEOUT, &p), -EACCES);
        assert_null(p);
        assert_false(exists(storage)); /* refused before touching the disk */
}

static void test_identity(void **state) {
        /* FNV-1a-128("lvss-exec:lvm-thin") with version 8 and the RFC 4122
         * variant: pinned, since the catalog keeps provider ids. */
        static const vss_id lvm_thin = { .bytes = { 0xc7, 0xaa, 0xa8, 0x9b, 0x8c, 0x4e, 0x85, 0x1a,
                                                    0xa0, 0xef, 0x14, 0xc3, 0xf0, 0x2a, 0xd3, 0x72 } };
        static const vss_id zfs = { .bytes = { 0x2a, 0x06, 0x29, 0x08, 0xe6, 0x33, 0x8c, 0x5f,
                                               0x95, 0x70, 0xb0, 0xb4, 0xd2, 0x02, 0x40, 0x9a } };
        char storage[300];
        lvss_provider *a, *b, *c;

        make_storage(storage, sizeof storage);
        a = provider_new("lvm-thin", program, storage, STEP_TIMEOUT);
        b = provider_new("lvm-thin", program, storage, STEP_TIMEOUT);
        c = provider_new("zfs", program, storage, STEP_TIMEOUT);

        assert_string_equal(a->ops->name, "lvm-thin");
        assert_string_equal(c->ops->name, "zfs");
        assert_string_equal(a->ops->type, "external");
        assert_non_null(a->ops->version);
        assert_true(vss_id_equal(&a->ops->id, &lvm_thin));
        assert_true(vss_id_equal(&b->ops->id, &lvm_thin));
        assert_true(vss_id_equal(&c->ops->id, &zfs));
        assert_false(vss_id_equal(&a->ops->id, &LVSS_PROVIDER_COPY_ID));
        assert_int_equal(a->ops->id.bytes[6] >> 4, 8);
        assert_int_equal(a->ops->id.bytes[8] >> 6, 2);

        /* Issue 10 part 3: FreezeFilesystems= sets the flag of one exec provider
         * only (each has its own ops); other providers and NULL are refused. */
        assert_false(a->ops->freeze_filesystems);
        assert_int_equal(lvss_provider_exec_set_freeze(a, true), 0);
        assert_true(a->ops->freeze_filesystems);
        assert_false(b->ops->freeze_filesystems);
        assert_int_equal(lvss_provider_exec_set_freeze(a, false), 0);
        assert_false(a->ops->freeze_filesystems);
        assert_int_equal(lvss_provider_exec_set_freeze(NULL, true), -EINVAL);
        {
                lvss_provider *copy = NULL;
                char copy_storage[400];

                snprintf(copy_storage, sizeof copy_storage, "%s/copy-storage", storage);
                assert_int_equal(lvss_provider_copy_new(copy_storage, &copy), 0);
                assert_int_equal(lvss_provider_exec_set_freeze(copy, true), -EINVAL);
                assert_false(copy->ops->freeze_filesystems);
                lvss_provider_free(copy);
        }

        /* Nothing ran: making a provider does not call the program. */
        log_expect("");

        lvss_provider_free(a);
        lvss_provider_free(b);
        lvss_provider_free(c);
        assert_null(lvss_provider_free(NULL));
}

/* ---- is-supported and the child's surroundings --------------------------- */

static void test_is_supported(void **state) {
        char storage[300], good[300], refuse[300];
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(good, sizeof good, "good");
        make_volume(refuse, sizeof refuse, "refuse");
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_true(p->ops->is_volume_supported(p, good));
        assert_false(p->ops->is_volume_supported(p, refuse));
        assert_false(p->ops->is_volume_supported(p, "relative/path"));
        assert_false(p->ops->is_volume_supported(p, NULL));

        _cleanup_(freep) char *expected = xasprintf("is-supported %s\nis-supported %s\n", good, refuse);
        log_expect(expected);
        lvss_provider_free(p);
}

/* The program gets /dev/null, a pipe, the minimal environment, no stray
 * descriptors, no blocked or ignored signals, its own process group. */
static void test_child_surroundings(void **state) {
        char storage[300], probe[300];
        sigset_t block, saved;
        lvss_provider *p;
        int fd;

        make_storage(storage, sizeof storage);
        make_volume(probe, sizeof probe, "probe");

        /* lvssd's own state: SIGCHLD blocked, SIGPIPE ignored, a descriptor without O_CLOEXEC. */
        fd = open("/dev/null", O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(dup2(fd, INHERITED_FD), INHERITED_FD);
        close(fd);
        sigemptyset(&block);
        sigaddset(&block, SIGCHLD);
        sigaddset(&block, SIGTERM);
        assert_int_equal(sigprocmask(SIG_BLOCK, &block, &saved), 0);
        signal(SIGPIPE, SIG_IGN);
        assert_int_equal(unsetenv("LVSS_EXEC_PATH"), 0);
        assert_int_equal(setenv("HOME", "/root-of-the-test", 1), 0);

        p = provider_new("probe-name", program, storage, STEP_TIMEOUT);
        assert_true(p->ops->is_volume_supported(p, probe));
        lvss_provider_free(p);

        _cleanup_(freep) char *env = read_file(env_file);
        assert_non_null(env);
        assert_string_equal(env,
                            "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
                            "NAME=probe-name\n"
                            "HOME=unset\n"
                            "stdin=eof\n"
                            "fd=closed\n"
                            "own-group=yes\n"
                            "blocked=0000000000000000\n"
                            "ignored=0000000000000000\n");

        /* LVSS_EXEC_PATH, read when the provider is made. */
        assert_int_equal(setenv("LVSS_EXEC_PATH", "/opt/fake/bin:/usr/bin:/bin", 1), 0);
        p = provider_new("probe-name", program, storage, STEP_TIMEOUT);
        assert_int_equal(unsetenv("LVSS_EXEC_PATH"), 0);
        assert_true(p->ops->is_volume_supported(p, probe));
        lvss_provider_free(p);
        env = drop(env);
        env = read_file(env_file);
        assert_non_null(env);
        assert_true(strncmp(env, "PATH=/opt/fake/bin:/usr/bin:/bin\n", 33) == 0);

        signal(SIGPIPE, SIG_DFL);
        assert_int_equal(sigprocmask(SIG_SETMASK, &saved, NULL), 0);
        close(INHERITED_FD);
}

/* ---- a whole snapshot set --------------------------------------------------- */

static void test_full_cycle(void **state) {
        char storage[300], vol_a[300], vol_b[300];
        lvss_snapshot a, b;
        lvss_snapshot *snaps[2] = { &a, &b };
        snap_names na, nb;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol_a, sizeof vol_a, "a");
        make_volume(vol_b, sizeof vol_b, "b");
        snapshot_init(&a, 0x10, 0x40, vol_a, &na);
        snapshot_init(&b, 0x10, 0x50, vol_b, &nb);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        _cleanup_(freep) char *path_a = record_path(storage, &na, ".path");
        _cleanup_(freep) char *path_b = record_path(storage, &nb, ".path");
        _cleanup_(freep) char *volume_a = record_path(storage, &na, ".volume");
        _cleanup_(freep) char *set_dir = xasprintf("%s/%s", storage, na.set);

        /* begin_prepare: placeholders, volume records, "prepare" per snapshot. */
        assert_int_equal(p->ops->begin_prepare(p, snaps, 2, &hr), 0);
        assert_false(a.atomic); /* issue 9 part 1: a prepare that prints nothing: not atomic */
        assert_string_equal(a.snapshot_path, path_a);
        assert_string_equal(b.snapshot_path, path_b);
        assert_false(exists(path_a));
        _cleanup_(freep) char *rec = read_file(volume_a);
        assert_non_null(rec);
        _cleanup_(freep) char *rec_want = xasprintf("%s\n", vol_a);
        assert_string_equal(rec, rec_want);
        _cleanup_(freep) char *want = xasprintf("prepare %s %s %s\nprepare %s %s %s\n", na.set, na.snap, vol_a,
                                                nb.set, nb.snap, vol_b);
        log_expect(want);

        assert_int_equal(p->ops->end_prepare(p, snaps, 2, &hr), 0);
        assert_int_equal(p->ops->pre_commit(p, snaps, 2, &hr), 0);

        /* commit, in a child: the paths reach the parent on disk only. */
        log_reset();
        assert_int_equal(commit_in_child(p, snaps, 2, &hr), 0);
        assert_string_equal(a.snapshot_path, path_a);
        rec = drop(rec);
        rec = read_file(path_a);
        rec_want = drop(rec_want);
        rec_want = xasprintf("/snapshots/%s\n", na.snap);
        assert_string_equal(rec, rec_want);
        want = drop(want);
        want = xasprintf("commit %s %s %s\ncommit %s %s %s\n", na.set, na.snap, vol_a, nb.set, nb.snap, vol_b);
        log_expect(want);

        /* post_commit: the printed paths replace the placeholders. */
        assert_int_equal(p->ops->post_commit(p, snaps, 2, &hr), 0);
        _cleanup_(freep) char *real_a = xasprintf("/snapshots/%s", na.snap);
        _cleanup_(freep) char *real_b = xasprintf("/snapshots/%s", nb.snap);
        assert_string_equal(a.snapshot_path, real_a);
        assert_string_equal(b.snapshot_path, real_b);

        /* delete by the real path: the program deletes, the records go. */
        log_reset();
        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        want = drop(want);
        want = xasprintf("delete %s\n", real_a);
        log_expect(want);
        assert_false(exists(path_a));
        assert_false(exists(volume_a));
        assert_true(exists(path_b));

        /* delete by the placeholder, as start-up recovery does from the catalog. */
        log_reset();
        assert_int_equal(p->ops->delete_snapshot(p, path_b), 0);
        want = drop(want);
        want = xasprintf("delete %s\n", real_b);
        log_expect(want);
        assert_false(exists(path_b));
        assert_false(exists(set_dir)); /* the set directory goes with its last record */
        assert_int_equal(count_entries(storage), 0u);

        /* Again: nothing recorded, nothing to ask. */
        log_reset();
        assert_int_equal(p->ops->delete_snapshot(p, path_b), 0);
        log_expect("");

        /* Abort after delete: nothing left either. */
        assert_int_equal(p->ops->abort(p, snaps, 2), 0);
        log_expect("");

        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(p);
}

/* Issue 9 part 2: a prepare that prints "writable" makes can_write; commit of a
 * writable snapshot gets LVSS_WRITABLE=1 (else nothing); finalize runs
 * "PROGRAM finalize PATH" for writable snapshots only, after post_commit;
 * a failing finalize is VSS_E_UNEXPECTED_PROVIDER_ERROR. */
static void test_writable_finalize(void **state) {
        char storage[300], vol_w[300], vol_p[300];
        lvss_snapshot a, b;
        lvss_snapshot *snaps[2] = { &a, &b };
        snap_names na, nb;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol_w, sizeof vol_w, "writable");
        make_volume(vol_p, sizeof vol_p, "plain");
        snapshot_init(&a, 0x70, 0x71, vol_w, &na);
        snapshot_init(&b, 0x70, 0x72, vol_p, &nb);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);
        assert_non_null(p->ops->finalize);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 2, &hr), 0);
        assert_true(a.can_write);
        assert_false(b.can_write); /* said nothing */
        a.writable = true;

        /* before post_commit the path is a placeholder: nothing to finalize yet */
        hr = VSS_S_OK;
        assert_int_equal(p->ops->finalize(p, snaps, 1, &hr), -EINVAL);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);

        log_reset();
        assert_int_equal(commit_in_child(p, snaps, 2, &hr), 0);
        _cleanup_(freep) char *want = xasprintf("commit %s %s %s\nenv LVSS_WRITABLE=1\ncommit %s %s %s\n", na.set,
                                                na.snap, vol_w, nb.set, nb.snap, vol_p);
        log_expect(want);
        assert_int_equal(p->ops->post_commit(p, snaps, 2, &hr), 0);

        log_reset();
        assert_int_equal(p->ops->finalize(p, snaps, 2, &hr), 0);
        want = drop(want);
        want = xasprintf("finalize /snapshots/%s\n", na.snap); /* b is not writable: not asked */
        log_expect(want);

        /* a failing finalize */
        _cleanup_(freep) char *real_a = a.snapshot_path;
        a.snapshot_path = (char *) "/snapshots/finalfail";
        hr = VSS_S_OK;
        assert_int_equal(p->ops->finalize(p, snaps, 1, &hr), -EIO);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        a.snapshot_path = real_a;

        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        assert_int_equal(p->ops->delete_snapshot(p, b.snapshot_path), 0);
        free(b.snapshot_path);

        /* the same program, the snapshot not writable: LVSS_WRITABLE is not set, finalize asks nothing */
        snapshot_init(&a, 0x73, 0x74, vol_w, &na);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_true(a.can_write);
        log_reset();
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        want = drop(want);
        want = xasprintf("commit %s %s %s\nenv LVSS_WRITABLE=unset\n", na.set, na.snap, vol_w);
        log_expect(want);
        assert_int_equal(p->ops->post_commit(p, snaps, 1, &hr), 0);
        log_reset();
        assert_int_equal(p->ops->finalize(p, snaps, 1, &hr), 0);
        log_expect("");
        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        free(a.snapshot_path);
        lvss_provider_free(p);
}

static void test_abort(void **state) {
        char storage[300], vol_a[300], vol_b[300];
        lvss_snapshot a, b;
        lvss_snapshot *snaps[2] = { &a, &b };
        snap_names na, nb;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol_a, sizeof vol_a, "a");
        make_volume(vol_b, sizeof vol_b, "b");
        snapshot_init(&a, 0x20, 0x40, vol_a, &na);
        snapshot_init(&b, 0x20, 0x50, vol_b, &nb);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        /* After a commit of the first only (as if the child was killed between them). */
        assert_int_equal(p->ops->begin_prepare(p, snaps, 2, &hr), 0);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        _cleanup_(freep) char *path_a = record_path(storage, &na, ".path");
        assert_true(exists(path_a));

        log_reset();
        assert_int_equal(p->ops->abort(p, snaps, 2), 0);
        _cleanup_(freep) char *want = xasprintf("abort %s %s %s\nabort %s %s %s\n", na.set, na.snap, vol_a,
                                                nb.set, nb.snap, vol_b);
        log_expect(want);
        assert_int_equal(count_entries(storage), 0u);

        /* Idempotent: nothing recorded is left, so nothing to undo. */
        log_reset();
        assert_int_equal(p->ops->abort(p, snaps, 2), 0);
        log_expect("");

        /* A snapshot that was never prepared (no path yet). */
        lvss_snapshot c;
        lvss_snapshot *one[1] = { &c };
        snapshot_init(&c, 0x21, 0x60, vol_a, NULL);
        assert_int_equal(p->ops->abort(p, one, 1), 0);
        log_expect("");

        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(p);
}

/* A failing "abort" keeps the records: the snapshot may still exist, and a
 * later abort or delete by the placeholder tries again. */
static void test_abort_fails(void **state) {
        char storage[300], vol[300];
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol, sizeof vol, "abortfail");
        snapshot_init(&a, 0x30, 0x40, vol, &na);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_int_equal(p->ops->abort(p, snaps, 1), -EIO);
        _cleanup_(freep) char *volume_rec = record_path(storage, &na, ".volume");
        assert_true(exists(volume_rec));

        /* Recovery: delete by the placeholder of an unfinished commit runs abort. */
        log_reset();
        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), -EIO);
        _cleanup_(freep) char *want = xasprintf("abort %s %s %s\n", na.set, na.snap, vol);
        log_expect(want);
        assert_true(exists(volume_rec));

        free(a.snapshot_path);
        lvss_provider_free(p);
}

static void test_recovery_of_unfinished_commit(void **state) {
        char storage[300], vol[300];
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol, sizeof vol, "a");
        snapshot_init(&a, 0x31, 0x40, vol, &na);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        lvss_provider_free(p);

        /* lvssd restarts; the catalog row holds the placeholder. */
        p = provider_new("fake", program, storage, STEP_TIMEOUT);
        log_reset();
        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        _cleanup_(freep) char *want = xasprintf("abort %s %s %s\n", na.set, na.snap, vol);
        log_expect(want);
        assert_int_equal(count_entries(storage), 0u);

        free(a.snapshot_path);
        lvss_provider_free(p);
}

/* ---- failures ------------------------------------------------------------------ */

/* prepare exits non-zero: a veto, and what was prepared is undone. */
static void test_prepare_veto(void **state) {
        char storage[300], vol_a[300], vol_r[300], vol_c[300];
        lvss_snapshot a, r, c;
        lvss_snapshot *snaps[3] = { &a, &r, &c };
        snap_names na, nr;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol_a, sizeof vol_a, "a");
        make_volume(vol_r, sizeof vol_r, "refuse");
        make_volume(vol_c, sizeof vol_c, "c");
        snapshot_init(&a, 0x40, 0x40, vol_a, &na);
        snapshot_init(&r, 0x40, 0x50, vol_r, &nr);
        snapshot_init(&c, 0x40, 0x60, vol_c, NULL);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 3, &hr), -EIO);
        assert_int_equal(hr, VSS_E_PROVIDER_VETO);
        _cleanup_(freep) char *want = xasprintf("prepare %s %s %s\nprepare %s %s %s\n"
                                                "abort %s %s %s\nabort %s %s %s\n",
                                                na.set, na.snap, vol_a, nr.set, nr.snap, vol_r, na.set, na.snap,
                                                vol_a, nr.set, nr.snap, vol_r);
        log_expect(want);
        assert_int_equal(count_entries(storage), 0u);

        /* The coordinator then aborts the set: nothing is left to undo. */
        log_reset();
        assert_int_equal(p->ops->abort(p, snaps, 3), 0);
        log_expect("");

        free(a.snapshot_path);
        free(r.snapshot_path);
        free(c.snapshot_path);
        lvss_provider_free(p);
}

/* commit fails: non-zero exit (-EIO) or an unusable first line (-EBADMSG);
 * no placeholder is written, abort cleans up. */
static void commit_fails(const char *kind, int expected) {
        char storage[300], vol[300];
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol, sizeof vol, kind);
        snapshot_init(&a, 0x50, 0x40, vol, &na);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        hr = VSS_S_OK;
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), expected);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        _cleanup_(freep) char *path = record_path(storage, &na, ".path");
        _cleanup_(freep) char *tmp = record_path(storage, &na, ".path.tmp");
        assert_false(exists(path));
        assert_false(exists(tmp));

        /* post_commit cannot find a path: an error, and the placeholder stays. */
        hr = VSS_S_OK;
        assert_int_equal(p->ops->post_commit(p, snaps, 1, &hr), -ENOENT);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        assert_string_equal(a.snapshot_path, path);

        assert_int_equal(p->ops->abort(p, snaps, 1), 0);
        assert_int_equal(count_entries(storage), 0u);

        free(a.snapshot_path);
        lvss_provider_free(p);
}

static void test_commit_exit_status(void **state) {
        commit_fails("fail", -EIO);
}

static void test_commit_relative_path(void **state) {
        commit_fails("relative", -EBADMSG);
}

static void test_commit_empty_output(void **state) {
        commit_fails("empty", -EBADMSG);
}

static void test_commit_line_too_long(void **state) {
        commit_fails("long", -EBADMSG); /* no newline in the first 64 KiB */
}

/* Output past the 64 KiB bound is read and dropped: the program does not
 * block on a full pipe, and the first line still counts. */
static void test_commit_chatty(void **state) {
        char storage[300], vol[300];
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol, sizeof vol, "chatty");
        snapshot_init(&a, 0x51, 0x40, vol, &na);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        assert_int_equal(p->ops->post_commit(p, snaps, 1, &hr), 0);
        _cleanup_(freep) char *want = xasprintf("/snapshots/%s", na.snap);
        assert_string_equal(a.snapshot_path, want);

        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        assert_int_equal(count_entries(storage), 0u);
        free(a.snapshot_path);
        lvss_provider_free(p);
}

static void test_delete_fails(void **state) {
        char storage[300];
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);
        assert_int_equal(p->ops->delete_snapshot(p, "/snapshots/fail"), -EIO);
        assert_int_equal(p->ops->delete_snapshot(p, "relative"), -EINVAL);
        assert_int_equal(p->ops->delete_snapshot(p, NULL), -EINVAL);
        log_expect("delete /snapshots/fail\n");
        lvss_provider_free(p);
}

/* post_commit takes all paths or none. */
static void test_post_commit_all_or_nothing(void **state) {
        char storage[300], vol_a[300], vol_b[300];
        lvss_snapshot a, b;
        lvss_snapshot *snaps[2] = { &a, &b };
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;

        make_storage(storage, sizeof storage);
        make_volume(vol_a, sizeof vol_a, "a");
        make_volume(vol_b, sizeof vol_b, "b");
        snapshot_init(&a, 0x52, 0x40, vol_a, NULL);
        snapshot_init(&b, 0x52, 0x50, vol_b, NULL);
        p = provider_new("fake", program, storage, STEP_TIMEOUT);

        assert_int_equal(p->ops->begin_prepare(p, snaps, 2, &hr), 0);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0); /* only the first */
        _cleanup_(freep) char *placeholder_a = strdup(a.snapshot_path);
        assert_int_equal(p->ops->post_commit(p, snaps, 2, &hr), -ENOENT);
        assert_string_equal(a.snapshot_path, placeholder_a);

        assert_int_equal(p->ops->abort(p, snaps, 2), 0);
        assert_int_equal(count_entries(storage), 0u);
        free(a.snapshot_path);
        free(b.snapshot_path);
        lvss_provider_free(p);
}

/* ---- the timeout ----------------------------------------------------------------- */

/* The sleep the slow fake started is gone too (its process group was killed). */
static void assert_slow_child_gone(void) {
        _cleanup_(freep) char *s = read_file(slow_pid_file);
        struct pollfd pfd;
        pid_t pid;
        int fd;

        assert_non_null(s);
        pid = (pid_t) atoi(s);
        assert_true(pid > 1);
        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0) {
                assert_true(errno == ESRCH || errno == ENOSYS);
                return; /* gone and reaped already (or no pidfd: nothing to check with) */
        }
        pfd = (struct pollfd) { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, (int) (TIMEOUT_MARGIN / USEC_PER_MSEC)), 1); /* exits, does not sleep on */
        close(fd);
        unlink(slow_pid_file);
}

/*
 * The timeout tests must not depend on how fast the machine starts a shell:
 * under load (~10 on two cores) the slow fake may not even reach its "sleep"
 * within SLOW_TIMEOUT, and then there is no sleep whose end could be checked.
 * So each timed step runs with a deadline that starts at SLOW_TIMEOUT and
 * doubles, up to SLOW_TIMEOUT_MAX, until the fake had started its sleep
 * (recorded its pid) before it was killed. Every attempt still checks the
 * timeout itself: the step fails at its deadline, not before, and not much later.
 */
#define SLOW_TIMEOUT_MAX (64 * SLOW_TIMEOUT)

/* One timed step of @prog against a provider whose deadline is @timeout; returns how long it took. */
typedef uint64_t (*timed_step_fn)(const char *prog, const char *storage, uint64_t timeout, void *userdata);

/* Runs @fn with growing deadlines until the fake started its sleep; checks that sleep is gone. */
static void run_timed_step(const char *what, timed_step_fn fn, const char *prog, const char *storage,
                           unsigned n_deadlines, void *userdata) {
        for (uint64_t timeout = SLOW_TIMEOUT;; timeout *= 2) {
                uint64_t took;

                unlink(slow_pid_file);
                took = fn(prog, storage, timeout, userdata);
                assert_true(took >= n_deadlines * timeout);
                assert_true(took < n_deadlines * timeout + TIMEOUT_MARGIN);
                if (exists(slow_pid_file)) {
                        assert_slow_child_gone();
                        return;
                }
                if (timeout >= SLOW_TIMEOUT_MAX)
                        fail_msg("%s: the slow fake did not start its sleep within %" PRIu64 " ms", what,
                                 timeout / USEC_PER_MSEC);
                print_message("%s: the slow fake had not started within %" PRIu64 " ms (a loaded machine); "
                              "again with twice the deadline\n", what, timeout / USEC_PER_MSEC);
        }
}

typedef struct timed_ctx {
        char vol[300];
        unsigned id; /* snapshot id byte, a new one for every attempt */
} timed_ctx;

/* is-supported times out: the volume is said not to be supported. */
static uint64_t timed_is_supported(const char *prog, const char *storage, uint64_t timeout, void *userdata) {
        timed_ctx *c = userdata;
        lvss_provider *p = provider_new("fake", prog, storage, timeout);
        uint64_t start = now_usec(CLOCK_MONOTONIC), took;

        assert_false(p->ops->is_volume_supported(p, c->vol));
        took = elapsed_since(start);
        lvss_provider_free(p);
        return took;
}

/* prepare times out: not a veto but an unexpected provider error.
 * begin_prepare's undo then runs "abort", which times out as well: two deadlines. */
static uint64_t timed_prepare(const char *prog, const char *storage, uint64_t timeout, void *userdata) {
        timed_ctx *c = userdata;
        lvss_provider *p = provider_new("fake", prog, storage, timeout);
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        vss_hresult hr = VSS_S_OK;
        uint64_t start, took;

        snapshot_init(&a, c->id++, 0x40, c->vol, NULL);
        start = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), -ETIMEDOUT);
        took = elapsed_since(start);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        free(a.snapshot_path);
        lvss_provider_free(p);
        return took;
}

/* commit times out, in the child as in lvssd; nothing is left in the storage area. Only commit
 * runs with the short deadline: prepare and abort are quick, but not under load within it. */
static uint64_t timed_commit(const char *prog, const char *storage, uint64_t timeout, void *userdata) {
        timed_ctx *c = userdata;
        lvss_provider *patient = provider_new("fake", prog, storage, STEP_TIMEOUT);
        lvss_provider *p = provider_new("fake", prog, storage, timeout);
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        vss_hresult hr = VSS_S_OK;
        uint64_t start, took;

        snapshot_init(&a, c->id++, 0x40, c->vol, NULL);
        assert_int_equal(patient->ops->begin_prepare(patient, snaps, 1, &hr), 0);
        hr = VSS_S_OK;
        start = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), -ETIMEDOUT);
        took = elapsed_since(start);
        assert_int_equal(hr, VSS_E_UNEXPECTED_PROVIDER_ERROR);
        _cleanup_(freep) char *path = xasprintf("%s", a.snapshot_path);
        assert_false(exists(path));

        assert_int_equal(patient->ops->abort(patient, snaps, 1), 0);
        assert_int_equal(count_entries(storage), 0u);
        free(a.snapshot_path);
        lvss_provider_free(p);
        lvss_provider_free(patient);
        return took;
}

static void test_timeout(void **state) {
        char storage[300], storage2[300], commit_slow[400];
        timed_ctx c = { .id = 0x60 };

        make_storage(storage, sizeof storage);
        make_volume(c.vol, sizeof c.vol, "slow");
        run_timed_step("is-supported", timed_is_supported, program, storage, 1, &c);
        run_timed_step("prepare", timed_prepare, program, storage, 2, &c);

        /* commit: a fake that is slow only there */
        _cleanup_(freep) char *script = xasprintf("#!/bin/sh\n"
                                                  "if [ \"$1\" = commit ]; then\n"
                                                  "        sleep 30 &\n"
                                                  "        echo $! >'%s'\n"
                                                  "        wait\n"
                                                  "fi\n"
                                                  "exit 0\n",
                                                  slow_pid_file);
        snprintf(commit_slow, sizeof commit_slow, "%s/commit-slow-provider", base_dir);
        write_file(commit_slow, script, 0755);
        make_storage(storage2, sizeof storage2);
        c.id = 0x80;
        run_timed_step("commit", timed_commit, commit_slow, storage2, 1, &c);
}

/* ---- without pidfd_open ---------------------------------------------------- */

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* pidfd_open fails with ENOSYS from now on, as on kernels before 5.3. */
static int deny_pidfd_open(void) {
#if defined(TEST_AUDIT_ARCH) && defined(SYS_pidfd_open)
        struct sock_filter filter[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(filter), .filter = filter };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        return 0;
#else
        return -EOPNOTSUPP;
#endif
}

/* In a child with pidfd_open denied: the fallback (poll slices and
 * waitpid(WNOHANG)) gets the same answers. 0, or which check failed. */
static int without_pidfd_checks(const char *storage, const char *good, const char *slow) {
        lvss_provider *p, *impatient;
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        uint64_t start, took;
        char want[200];

        if (deny_pidfd_open() < 0)
                return 77;
        if (syscall(SYS_pidfd_open, getpid(), 0) >= 0 || errno != ENOSYS)
                return 2;
        if (lvss_provider_exec_new("fake", program, storage, STEP_TIMEOUT, &p) < 0)
                return 3;

        if (!p->ops->is_volume_supported(p, good))
                return 4;
        /* growing deadlines until the fake started its sleep in time, as in run_timed_step() */
        for (uint64_t timeout = SLOW_TIMEOUT;; timeout *= 2) {
                unlink(slow_pid_file);
                if (lvss_provider_exec_new("fake", program, storage, timeout, &impatient) < 0)
                        return 3;
                start = now_usec(CLOCK_MONOTONIC);
                if (impatient->ops->is_volume_supported(impatient, slow))
                        return 5;
                took = elapsed_since(start);
                if (took < timeout || took >= timeout + TIMEOUT_MARGIN)
                        return 6;
                if (exists(slow_pid_file))
                        break;
                if (timeout >= SLOW_TIMEOUT_MAX)
                        return 10;
                lvss_provider_free(impatient);
        }

        snapshot_init(&a, 0x90, 0x40, good, &na);
        if (p->ops->begin_prepare(p, snaps, 1, &hr) < 0 || p->ops->commit(p, snaps, 1, &hr) < 0 ||
            p->ops->post_commit(p, snaps, 1, &hr) < 0)
                return 7;
        snprintf(want, sizeof want, "/snapshots/%s", na.snap);
        if (strcmp(a.snapshot_path, want) != 0)
                return 8;
        if (p->ops->delete_snapshot(p, a.snapshot_path) < 0 || count_entries(storage) != 0)
                return 9;

        free(a.snapshot_path);
        lvss_provider_free(p);
        lvss_provider_free(impatient);
        return 0;
}

static void test_without_pidfd(void **state) {
        char storage[300], good[300], slow[300];
        int status;
        pid_t pid;

        make_storage(storage, sizeof storage);
        make_volume(good, sizeof good, "good");
        make_volume(slow, sizeof slow, "slow");

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(without_pidfd_checks(storage, good, slow));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip(); /* no seccomp here */
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_slow_child_gone();
}

/* ---- the example programs against the fake commands ------------------------- */

typedef struct example {
        char dir[300];      /* bin/, world/, calls.log */
        char log[400];
        char program[600];
} example;

static bool example_setup(example *e, const char *name) {
        const char *root = getenv("LVSS_SOURCE_ROOT");
        char fakes[600], p[1000];
        struct dirent *de;
        DIR *d;

        if (!root || !*root)
                return false;
        snprintf(e->program, sizeof e->program, "%s/examples/providers/%s", root, name);
        snprintf(fakes, sizeof fakes, "%s/tests/providers/fake-bin", root);
        snprintf(e->dir, sizeof e->dir, "%s/example-%s", base_dir, name);
        snprintf(e->log, sizeof e->log, "%s/calls.log", e->dir);

        assert_int_equal(mkdir(e->dir, 0755), 0);
        snprintf(p, sizeof p, "%s/bin", e->dir);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof p, "%s/world", e->dir);
        assert_int_equal(mkdir(p, 0755), 0);

        d = opendir(fakes);
        assert_non_null(d);
        while ((de = readdir(d))) {
                char target[1200];

                if (de->d_name[0] == '.')
                        continue;
                snprintf(target, sizeof target, "%s/%s", fakes, de->d_name);
                snprintf(p, sizeof p, "%s/bin/%s", e->dir, de->d_name);
                assert_int_equal(symlink(target, p), 0);
        }
        closedir(d);

        snprintf(p, sizeof p, "%s/bin:/usr/sbin:/usr/bin:/sbin:/bin", e->dir);
        assert_int_equal(setenv("LVSS_EXEC_PATH", p, 1), 0);
        return true;
}

static void example_world(example *e, const char *file, const char *content) {
        char p[1000];

        snprintf(p, sizeof p, "%s/world/%s", e->dir, file);
        write_file(p, content, 0644);
}

static char *example_world_read(example *e, const char *file) {
        char p[1000];
        char *s;

        snprintf(p, sizeof p, "%s/world/%s", e->dir, file);
        s = read_file(p);
        return s ? s : strdup("");
}

/* The example's calls: the same checks as for the fake provider. */
static void example_expect_in_order(example *e, const char *const *lines) {
        log_path = e->log;
        log_expect_in_order(lines);
        log_path = calls_log;
}

static void example_log_reset(example *e) {
        write_file(e->log, "", 0644);
}

static bool example_log_has(example *e, const char *word) {
        bool r;

        log_path = e->log;
        r = log_has_word(word);
        log_path = calls_log;
        return r;
}

static void test_example_lvm_thin(void **state) {
        char storage[300], vol[300], linear[300], bind[300], plain[300];
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;
        example e;

        if (!example_setup(&e, "lvm-thin"))
                skip();

        make_storage(storage, sizeof storage);
        make_volume(vol, sizeof vol, "thin");
        make_volume(linear, sizeof linear, "linear");
        make_volume(bind, sizeof bind, "bind");
        make_volume(plain, sizeof plain, "plain");
        _cleanup_(freep) char *mounts = xasprintf("%s /dev/mapper/vg0-data xfs\n"
                                                  "%s /dev/mapper/vg0-old ext4\n"
                                                  "%s /dev/mapper/vg0-data[/sub] xfs\n",
                                                  vol, linear, bind);
        example_world(&e, "mounts", mounts);
        example_world(&e, "lvs", "vg0 data thin\nvg0 old linear\n");

        p = provider_new("lvm-thin", e.program, storage, STEP_TIMEOUT);
        assert_int_equal(unsetenv("LVSS_EXEC_PATH"), 0);

        assert_true(p->ops->is_volume_supported(p, vol));
        assert_false(p->ops->is_volume_supported(p, linear)); /* not thin */
        assert_false(p->ops->is_volume_supported(p, bind));   /* a subdirectory of the LV */
        assert_false(p->ops->is_volume_supported(p, plain));  /* not a mount point */

        snapshot_init(&a, 0x70, 0x40, vol, &na);
        _cleanup_(freep) char *target = xasprintf("/run/lvss/snapshots/%s", na.snap);
        _cleanup_(freep) char *lv = xasprintf("vg0/lvss-%s", na.snap);

        example_log_reset(&e);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_true(a.atomic); /* issue 9 part 1: the example says "atomic" */
        {
                _cleanup_(freep) char *find = xasprintf("findmnt -n -o SOURCE,FSTYPE --mountpoint %s", vol);
                _cleanup_(freep) char *exists_check = xasprintf("lvs %s", lv);
                _cleanup_(freep) char *mk = xasprintf("mkdir -p %s", target);
                const char *const lines[] = {
                        find, "lvs --noheadings --separator : -o vg_name,lv_name,segtype -- /dev/mapper/vg0-data",
                        exists_check, mk, NULL,
                };
                example_expect_in_order(&e, lines);
        }
        assert_false(example_log_has(&e, "lvcreate"));

        /* commit in a child; lvcreate's chatter on stdout must not become the path. */
        example_log_reset(&e);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        {
                _cleanup_(freep) char *create = xasprintf(
                        "lvcreate --snapshot --setactivationskip n --name lvss-%s vg0/data", na.snap);
                _cleanup_(freep) char *mnt = xasprintf("mount -t xfs -o ro,nouuid /dev/%s %s", lv, target);
                const char *const lines[] = { create, mnt, NULL };
                example_expect_in_order(&e, lines);
        }
        assert_int_equal(p->ops->post_commit(p, snaps, 1, &hr), 0);
        assert_string_equal(a.snapshot_path, target);
        {
                _cleanup_(freep) char *world_lvs = example_world_read(&e, "lvs");
                _cleanup_(freep) char *want = xasprintf("vg0 data thin\nvg0 old linear\nvg0 lvss-%s thin\n",
                                                        na.snap);
                assert_string_equal(world_lvs, want);
        }

        /* delete: unmount, then remove the LV. */
        example_log_reset(&e);
        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        {
                _cleanup_(freep) char *um = xasprintf("umount %s", target);
                _cleanup_(freep) char *rm = xasprintf("lvremove -y %s", lv);
                const char *const lines[] = { um, rm, NULL };
                example_expect_in_order(&e, lines);
        }
        {
                _cleanup_(freep) char *world_lvs = example_world_read(&e, "lvs");
                _cleanup_(freep) char *world_mounts = example_world_read(&e, "mounts");
                assert_string_equal(world_lvs, "vg0 data thin\nvg0 old linear\n");
                assert_string_equal(world_mounts, mounts);
        }
        assert_int_equal(count_entries(storage), 0u);

        /* delete again: idempotent, nothing left to remove. */
        example_log_reset(&e);
        assert_int_equal(p->ops->delete_snapshot(p, target), 0);
        assert_false(example_log_has(&e, "lvremove"));
        assert_false(example_log_has(&e, "umount"));

        /* A second set, aborted after its commit: abort removes the snapshot. */
        free(a.snapshot_path);
        snapshot_init(&a, 0x71, 0x41, vol, &na);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        example_log_reset(&e);
        assert_int_equal(p->ops->abort(p, snaps, 1), 0);
        {
                _cleanup_(freep) char *um = xasprintf("umount /run/lvss/snapshots/%s", na.snap);
                _cleanup_(freep) char *rm = xasprintf("lvremove -y vg0/lvss-%s", na.snap);
                const char *const lines[] = { um, rm, NULL };
                example_expect_in_order(&e, lines);
        }
        {
                _cleanup_(freep) char *world_lvs = example_world_read(&e, "lvs");
                assert_string_equal(world_lvs, "vg0 data thin\nvg0 old linear\n");
        }

        /* prepare on a volume that is not thin: a veto. */
        free(a.snapshot_path);
        snapshot_init(&a, 0x72, 0x42, linear, NULL);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), -EIO);
        assert_int_equal(hr, VSS_E_PROVIDER_VETO);
        assert_int_equal(count_entries(storage), 0u);

        free(a.snapshot_path);
        lvss_provider_free(p);
}

static void test_example_zfs(void **state) {
        char storage[300], vol[300], ext4[300];
        lvss_snapshot a;
        lvss_snapshot *snaps[1] = { &a };
        snap_names na;
        vss_hresult hr = VSS_S_OK;
        lvss_provider *p;
        example e;

        if (!example_setup(&e, "zfs"))
                skip();

        make_storage(storage, sizeof storage);
        make_volume(vol, sizeof vol, "zfs");
        make_volume(ext4, sizeof ext4, "ext4");
        _cleanup_(freep) char *mounts = xasprintf("%s tank/data zfs\n%s /dev/sda1 ext4\n", vol, ext4);
        example_world(&e, "mounts", mounts);
        example_world(&e, "zfs-datasets", "tank\ntank/data\n");

        p = provider_new("zfs", e.program, storage, STEP_TIMEOUT);
        assert_int_equal(unsetenv("LVSS_EXEC_PATH"), 0);

        assert_true(p->ops->is_volume_supported(p, vol));
        assert_false(p->ops->is_volume_supported(p, ext4));
        assert_false(p->ops->is_volume_supported(p, base_dir));

        snapshot_init(&a, 0x80, 0x40, vol, &na);
        _cleanup_(freep) char *snapshot = xasprintf("tank/data@lvss-%s", na.snap);
        _cleanup_(freep) char *path = xasprintf("%s/.zfs/snapshot/lvss-%s", vol, na.snap);

        example_log_reset(&e);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_true(a.atomic); /* issue 9 part 1: the example says "atomic" */
        {
                _cleanup_(freep) char *check = xasprintf("zfs list -H -o name -t snapshot %s", snapshot);
                const char *const lines[] = { "zfs list -H -o name -t filesystem tank/data", check, NULL };
                example_expect_in_order(&e, lines);
        }

        example_log_reset(&e);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        {
                _cleanup_(freep) char *snap = xasprintf("zfs snapshot %s", snapshot);
                const char *const lines[] = { snap, NULL };
                example_expect_in_order(&e, lines);
        }
        assert_int_equal(p->ops->post_commit(p, snaps, 1, &hr), 0);
        assert_string_equal(a.snapshot_path, path);
        {
                _cleanup_(freep) char *world = example_world_read(&e, "zfs-snapshots");
                _cleanup_(freep) char *want = xasprintf("%s\n", snapshot);
                assert_string_equal(world, want);
        }

        example_log_reset(&e);
        assert_int_equal(p->ops->delete_snapshot(p, a.snapshot_path), 0);
        {
                _cleanup_(freep) char *destroy = xasprintf("zfs destroy %s", snapshot);
                const char *const lines[] = { "zfs list -H -o name -t snapshot", destroy, NULL };
                example_expect_in_order(&e, lines);
        }
        {
                _cleanup_(freep) char *world = example_world_read(&e, "zfs-snapshots");
                assert_string_equal(world, "");
        }
        assert_int_equal(count_entries(storage), 0u);

        /* Idempotent delete; abort after commit destroys the snapshot. */
        example_log_reset(&e);
        assert_int_equal(p->ops->delete_snapshot(p, path), 0);
        assert_false(example_log_has(&e, "destroy"));

        free(a.snapshot_path);
        snapshot_init(&a, 0x81, 0x41, vol, &na);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), 0);
        assert_int_equal(commit_in_child(p, snaps, 1, &hr), 0);
        assert_int_equal(p->ops->abort(p, snaps, 1), 0);
        {
                _cleanup_(freep) char *world = example_world_read(&e, "zfs-snapshots");
                assert_string_equal(world, "");
        }

        /* Not ZFS: a veto at prepare. */
        free(a.snapshot_path);
        snapshot_init(&a, 0x82, 0x42, ext4, NULL);
        assert_int_equal(p->ops->begin_prepare(p, snaps, 1, &hr), -EIO);
        assert_int_equal(hr, VSS_E_PROVIDER_VETO);
        assert_int_equal(count_entries(storage), 0u);

        free(a.snapshot_path);
        lvss_provider_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_new_invalid, test_setup),
                cmocka_unit_test_setup(test_identity, test_setup),
                cmocka_unit_test_setup(test_is_supported, test_setup),
                cmocka_unit_test_setup(test_child_surroundings, test_setup),
                cmocka_unit_test_setup(test_full_cycle, test_setup),
                cmocka_unit_test_setup(test_writable_finalize, test_setup),
                cmocka_unit_test_setup(test_abort, test_setup),
                cmocka_unit_test_setup(test_abort_fails, test_setup),
                cmocka_unit_test_setup(test_recovery_of_unfinished_commit, test_setup),
                cmocka_unit_test_setup(test_prepare_veto, test_setup),
                cmocka_unit_test_setup(test_commit_exit_status, test_setup),
                cmocka_unit_test_setup(test_commit_relative_path, test_setup),
                cmocka_unit_test_setup(test_commit_empty_output, test_setup),
                cmocka_unit_test_setup(test_commit_line_too_long, test_setup),
                cmocka_unit_test_setup(test_commit_chatty, test_setup),
                cmocka_unit_test_setup(test_delete_fails, test_setup),
                cmocka_unit_test_setup(test_post_commit_all_or_nothing, test_setup),
                cmocka_unit_test_setup(test_timeout, test_setup),
                cmocka_unit_test_setup(test_without_pidfd, test_setup),
                cmocka_unit_test_setup(test_example_lvm_thin, test_setup),
                cmocka_unit_test_setup(test_example_zfs, test_setup),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

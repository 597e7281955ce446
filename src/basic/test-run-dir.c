/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-run-dir.h"

#define RUN_DIRS_MAX 4

/* Made before the signals are unblocked again (the handler only reads them): for /bin/sh -c.
 * A copy the copy provider made is immutable and read-only, so the flags and modes go first. */
typedef struct RunDir {
        char dir[208];
        char remove[768];  /* at exit and on a signal */
        char on_signal[1024]; /* on a signal only, first; "" for none */
} RunDir;

static RunDir dirs[RUN_DIRS_MAX];
static volatile sig_atomic_t n_dirs;
static void (*signal_fn)(void);
static pid_t owner;

static const int fatal[] = { SIGTERM, SIGINT, SIGHUP, SIGABRT };

/* _Fork (no atfork handlers, no locks: async-signal-safe, unlike fork()), execve and waitpid
 * only: it runs in a signal handler too. */
static void run_command(const char *command) {
        char *const argv[] = { (char *) "sh", (char *) "-c", (char *) command, NULL };
        char *const envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        int status;
        pid_t pid = _Fork();

        if (pid == 0) {
                execve("/bin/sh", argv, envp);
                _exit(127);
        }
        if (pid > 0)
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
}

void test_run_dirs_remove(void) {
        if (getpid() != owner)
                return;
        for (sig_atomic_t i = 0; i < n_dirs; i++)
                run_command(dirs[i].remove);
        n_dirs = 0;
}

static void on_fatal_signal(int sig) {
        if (getpid() == owner) {
                if (signal_fn)
                        signal_fn();
                for (sig_atomic_t i = 0; i < n_dirs; i++)
                        if (dirs[i].on_signal[0])
                                run_command(dirs[i].on_signal);
                test_run_dirs_remove();
        }
        signal(sig, SIG_DFL);
        raise(sig);
}

/* the handlers and the atexit call, once, in the process that first asks */
static int arm(void) {
        struct sigaction sa = { .sa_handler = on_fatal_signal };

        if (owner != 0)
                return owner == getpid() ? 0 : -EPERM;
        owner = getpid();
        if (atexit(test_run_dirs_remove) != 0)
                return -ENOMEM;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
                if (sigaction(fatal[i], &sa, NULL) < 0)
                        return -errno;
        return 0;
}

/* the table changes with those signals blocked: the handler never sees half an entry */
static void block(sigset_t *old) {
        sigset_t set;

        sigemptyset(&set);
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
                sigaddset(&set, fatal[i]);
        sigprocmask(SIG_BLOCK, &set, old);
}

int test_run_dir_make_logged(char *tmpl, const char *log_name) {
        sigset_t old;
        RunDir *d;
        int r;

        if (!tmpl || strlen(tmpl) >= sizeof dirs[0].dir || strchr(tmpl, '\'') ||
            (log_name && (strlen(log_name) > 64 || strchr(log_name, '\'') || strchr(log_name, '/'))))
                return -EINVAL;
        if (n_dirs >= RUN_DIRS_MAX)
                return -ENOSPC;
        r = arm();
        if (r < 0)
                return r;
        if (!mkdtemp(tmpl))
                return -errno;
        block(&old);
        d = &dirs[n_dirs];
        snprintf(d->dir, sizeof d->dir, "%s", tmpl);
        snprintf(d->remove, sizeof d->remove,
                 "chattr -R -i -- '%s' 2>/dev/null; chmod -R u+rwx -- '%s' 2>/dev/null; rm -rf -- '%s'", tmpl, tmpl,
                 tmpl);
        d->on_signal[0] = '\0';
        if (log_name)
                snprintf(d->on_signal, sizeof d->on_signal,
                         "if [ -s '%s/%s' ]; then echo '---- ended by a signal; the tail of %s/%s:' >&2; "
                         "tail -n 60 -- '%s/%s' >&2; fi",
                         tmpl, log_name, tmpl, log_name, tmpl, log_name);
        n_dirs++;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 0;
}

int test_run_dir_make(char *tmpl) {
        return test_run_dir_make_logged(tmpl, NULL);
}

void test_run_dir_forget(const char *dir) {
        sigset_t old;

        if (!dir)
                return;
        block(&old);
        for (sig_atomic_t i = 0; i < n_dirs; i++)
                if (strcmp(dirs[i].dir, dir) == 0) {
                        for (sig_atomic_t k = i; k + 1 < n_dirs; k++)
                                dirs[k] = dirs[k + 1];
                        n_dirs--;
                        break;
                }
        sigprocmask(SIG_SETMASK, &old, NULL);
}

int test_run_dir_on_signal(void (*fn)(void)) {
        int r = arm();

        if (r < 0)
                return r;
        signal_fn = fn;
        return 0;
}

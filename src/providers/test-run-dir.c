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

/* for /bin/sh -c, made before any handler is set (the handler only reads it): a copy the
 * provider made is immutable and read-only, so the flags and modes go first */
static char commands[RUN_DIRS_MAX][768];
static volatile sig_atomic_t n_commands;
static pid_t owner;

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
        for (sig_atomic_t i = 0; i < n_commands; i++)
                run_command(commands[i]);
        n_commands = 0;
}

static void on_fatal_signal(int sig) {
        test_run_dirs_remove();
        signal(sig, SIG_DFL);
        raise(sig);
}

int test_run_dir_make(char *tmpl) {
        static const int fatal[] = { SIGTERM, SIGINT, SIGHUP, SIGABRT };

        if (n_commands >= RUN_DIRS_MAX || strlen(tmpl) > 200 || strchr(tmpl, '\''))
                return -ENOSPC;
        if (!mkdtemp(tmpl))
                return -errno;
        if (owner == 0) {
                struct sigaction sa = { .sa_handler = on_fatal_signal };

                owner = getpid();
                if (atexit(test_run_dirs_remove) != 0)
                        return -ENOMEM;
                sigemptyset(&sa.sa_mask);
                for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
                        if (sigaction(fatal[i], &sa, NULL) < 0)
                                return -errno;
        }
        snprintf(commands[n_commands], sizeof commands[n_commands],
                 "chattr -R -i -- '%s' 2>/dev/null; chmod -R u+rwx -- '%s' 2>/dev/null; rm -rf -- '%s'", tmpl, tmpl,
                 tmpl);
        n_commands++;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The hook-directory model: what script-based freeze frameworks do today.
 *
 * A directory holds one executable per application (here N no-op scripts,
 * "#!/bin/sh" + "exit 0"); for each event the framework lists the directory,
 * sorts it, and runs every hook with the event's name as its argument, one
 * after another: fork, exec, wait for it to exit, next (run-parts). Nothing
 * runs in parallel, because hooks are allowed to depend on their order.
 *
 * Measured per event: listing plus all N hooks. The freeze window of this
 * model is the "freeze" event followed at once by the "thaw" event (no
 * snapshot in between, which flatters the hooks): the application frozen
 * first waits for all N freeze hooks and all N thaw hooks before it can
 * write again.
 */

#include <dirent.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bench.h"

static int hook_filter(const struct dirent *d) {
        return d->d_name[0] != '.';
}

static void free_namelist(struct dirent **l, int n) {
        for (int i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

/* One event, the run-parts way. */
static int run_parts(const char *dir, const char *event) {
        struct dirent **names = NULL;
        int n, r = 0;

        n = scandir(dir, &names, hook_filter, alphasort);
        if (n < 0)
                return -errno;

        for (int i = 0; i < n && r >= 0; i++) {
                char path[PATH_MAX];
                struct stat st;
                int status;
                pid_t pid;

                snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR))
                        continue;

                pid = fork();
                if (pid < 0) {
                        r = -errno;
                        break;
                }
                if (pid == 0) {
                        execl(path, path, event, (char *) NULL);
                        _exit(127);
                }
                if (waitpid(pid, &status, 0) < 0) {
                        r = -errno;
                        break;
                }
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        bench_log("hooks: %s %s failed (status 0x%x)", path, event, (unsigned) status);
                        r = -EIO;
                }
        }
        free_namelist(names, n);
        return r;
}

static int make_hooks(const char *dir, unsigned n) {
        static const char script[] = "#!/bin/sh\nexit 0\n";

        for (unsigned i = 0; i < n; i++) {
                char path[PATH_MAX];
                int fd;

                snprintf(path, sizeof path, "%s/%04u-noop", dir, i);
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
                if (fd < 0)
                        return -errno;
                if (write(fd, script, sizeof script - 1) != (ssize_t) (sizeof script - 1)) {
                        close(fd);
                        return -EIO;
                }
                close(fd);
        }
        return 0;
}

int bench_hooks_run(const bench_config *cfg, unsigned n) {
        _cleanup_(samples_done) samples event = {}, window = {};
        _cleanup_(freep) char *dir = NULL;
        unsigned reps = reps_for(cfg, "hooks", n);
        uint64_t t0;
        int r;

        r = mkdtemp_in(cfg->tmp_root, "hooks.d-", &dir);
        if (r < 0)
                return r;
        r = make_hooks(dir, n);
        if (r < 0) {
                bench_log("hooks: cannot write the hook scripts in %s: %s", dir, strerror(-r));
                goto finish;
        }

        /* Warm-up: page cache, the shell's first exec. */
        r = run_parts(dir, "prepare");
        if (r < 0)
                goto finish;

        for (unsigned i = 0; i < reps; i++) {
                t0 = now_nsec();
                r = run_parts(dir, "prepare");
                if (r < 0)
                        goto finish;
                samples_add(&event, (double) (now_nsec() - t0) / 1000.0);

                t0 = now_nsec();
                r = run_parts(dir, "freeze");
                if (r >= 0)
                        r = run_parts(dir, "thaw");
                if (r < 0)
                        goto finish;
                samples_add(&window, (double) (now_nsec() - t0) / 1000.0);
        }
        result_add(n, "hooks", "event", "us", &event);
        result_add(n, "hooks", "freeze-window", "us", &window);

finish:
        if (r < 0)
                bench_log("hooks: N=%u: %s", n, strerror(-r));
        (void) rm_rf(dir);
        return r;
}

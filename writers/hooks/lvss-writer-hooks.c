/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-writer-hooks — a directory of quiesce hook scripts as one lvss writer
 * (issue 10 part 1; app-consistency.md §5).
 *
 * Every executable regular file of the directory is a component, in byte
 * (C-locale glob) order, skipping what qemu-guest-agent's stock dispatcher
 * skips (backups, package-manager leftovers, *.sample) and hidden files. The
 * directory is read again at every Identify, so scripts added between two
 * backups take part in the next one; Freeze works on the list of the latest
 * Identify, copied, so that an Identify during a freeze (vssadmin list
 * writers) never changes what Thaw has to undo.
 *
 * Conventions:
 *   qemu    Freeze: `SCRIPT freeze` in order; Thaw, Abort: `SCRIPT thaw` in
 *           the same order; a failed freeze thaws the ones already frozen.
 *   vmware  Freeze: `SCRIPT freeze` ascending; Thaw: `SCRIPT thaw` in
 *           reverse; a failed freeze, an Abort or the freeze timeout:
 *           `SCRIPT freezeFail` in reverse, starting from the last script
 *           run. As open-vm-tools does, the script whose freeze failed is
 *           the last one run and gets freezeFail too (it may have done half
 *           of its work).
 *
 * The undo side runs exactly once per script whose freeze was started and,
 * for qemu, succeeded: each script carries a flag that is cleared before its
 * undo runs, whichever path gets there first (Thaw, Abort from lvssd, the
 * library's deadman timer when Thaw is late or lvssd is lost, SIGTERM).
 *
 * Running a script: a process of its own in a process group of its own,
 * stdin /dev/null, stdout and stderr into a memory file (memfd). Scripts
 * may leave processes behind that keep their output open (qemu's MySQL
 * sample keeps a client holding FLUSH TABLES WITH READ LOCK until thaw), so
 * the end of a script is its own exit, seen on a pidfd, never the end of its
 * output or of its group; the output's tail is read then. A memory file, not
 * a pipe: what is left behind may write later without blocking or SIGPIPE.
 * Only past the deadline (--timeout) is the whole group killed (SIGKILL).
 * A script's exit status (or signal, or the deadline), its duration and its
 * last non-empty output line make its message. At Freeze the first script
 * that fails vetoes and its message is the writer's failure; at Thaw every
 * frozen script runs and the worst failure (non-retryable over retryable,
 * the first of its kind) is the writer's.
 *
 * The scripts run inside the event handlers, one after the other: the
 * writer answers lvssd when the last one is done. Freeze therefore takes up
 * to (number of scripts) × --timeout; keep lvssd's event timeout above it.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lvss/vss.h>

#include "basic/util.h"
#include "config.h"
#include "writers/common/writer-program.h"

/* The writer class id of lvss-writer-hooks (fixed: it identifies the kind of writer). */
static const vss_id hooks_writer_id = { { 0x6b, 0x1e, 0x3a, 0x52, 0x0c, 0x7d, 0x4e, 0x91, 0xa8, 0x53, 0x2f, 0xd4,
                                          0x90, 0x17, 0xc6, 0x3b } };

#define LOGICAL_PATH "hooks"
#define DEFAULT_NAME "Hooks"
#define DEFAULT_FREEZE_TIMEOUT_MS 60000U
#define DEFAULT_TIMEOUT_MS 30000U
#define OUTPUT_TAIL 4096

typedef enum convention {
        CONVENTION_QEMU,
        CONVENTION_VMWARE,
} convention;

typedef struct script {
        char *name; /* the file name: the component name */
        char *path; /* absolute */
        bool frozen; /* freeze was run (vmware) or succeeded (qemu), and the undo side has not run yet */
} script;

typedef struct writer_context {
        char *dir;              /* absolute */
        convention conv;
        uint32_t timeout_ms;    /* per script run */
        script *scripts;        /* as read at the latest Identify */
        size_t n_scripts;
        script *run;            /* the scripts of the current freeze (a copy) */
        size_t n_run;
} writer_context;

/* What one script run gave. */
typedef struct run_result {
        bool ok;
        bool timed_out;
        bool exec_failed; /* exit status 126/127: could not run at all */
        char message[2048];
} run_result;

static void help(void);

static writer_program program =
        WRITER_PROGRAM_INIT("lvss-writer-hooks", help, DEFAULT_NAME, DEFAULT_FREEZE_TIMEOUT_MS);

#define log_event(w, event, ...) writer_program_log_event(&program, (w), (event), __VA_ARGS__)

/* ---- the directory ------------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* What qemu-guest-agent's stock /etc/qemu/fsfreeze-hook skips, plus hidden files. */
static bool ignored_name(const char *name) {
        static const char *const suffixes[] = { "~", ".bak", ".orig", ".sample" };

        if (name[0] == '.')
                return true;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++)
                if (has_suffix(name, suffixes[i]))
                        return true;
        return strstr(name, ".dpkg-") != NULL || strstr(name, ".rpm") != NULL; /* .rpmnew, .rpmsave, ... */
}

static int compare_names(const void *a, const void *b) {
        return strcmp(((const script *) a)->name, ((const script *) b)->name);
}

static void scripts_free(script *s, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(s[i].name);
                free(s[i].path);
        }
        free(s);
}

/* Reads @dir: every executable regular file not ignored, sorted by byte order. With @say_skipped, one line on
 * stderr for each regular file skipped because it is not executable (a forgotten chmod +x). */
static int scan_dir(const char *dir, bool say_skipped, script **ret, size_t *ret_n) {
        DIR *d;
        struct dirent *de;
        script *list = NULL;
        size_t n = 0;
        int r = 0;

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d))) {
                struct stat st;
                script *grown;
                char *path;

                if (ignored_name(de->d_name))
                        continue;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                /* As the stock dispatcher's `[ -x ]`: follows symbolic links. */
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(path);
                        continue;
                }
                if (access(path, X_OK) < 0) {
                        if (say_skipped)
                                fprintf(stderr, "lvss-writer-hooks: %s is not executable, skipped\n", path);
                        free(path);
                        continue;
                }
                grown = realloc(list, (n + 1) * sizeof *list);
                if (!grown) {
                        free(path);
                        r = -ENOMEM;
                        break;
                }
                list = grown;
                list[n] = (script) { .name = strdup(de->d_name), .path = path };
                if (!list[n++].name) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r == 0 && errno != 0)
                r = -errno;
        closedir(d);
        if (r < 0) {
                scripts_free(list, n);
                return r;
        }
        if (n > 0)
                qsort(list, n, sizeof *list, compare_names);
        *ret = list;
        *ret_n = n;
        return 0;
}

/* ---- running one script ----------------------------------------------------------- */

static int pidfd_open_(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* The last non-empty line of @tail (modified in place). */
static const char *last_line(char *tail, size_t len) {
        char *end;

        tail[len] = '\0';
        /* Trailing blank lines and white space do not count. */
        while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r' || tail[len - 1] == ' ' ||
                           tail[len - 1] == '\t'))
                tail[--len] = '\0';
        if (len == 0)
                return NULL;
        end = strrchr(tail, '\n');
        return end ? end + 1 : tail;
}

/* The last OUTPUT_TAIL bytes written to @fd so far, into @tail; returns their length. */
static size_t read_tail(int fd, char *tail) {
        struct stat st;
        off_t from;
        ssize_t k;

        if (fstat(fd, &st) < 0 || st.st_size <= 0)
                return 0;
        from = st.st_size > OUTPUT_TAIL ? st.st_size - OUTPUT_TAIL : 0;
        k = pread(fd, tail, (size_t) (st.st_size - from), from);
        return k > 0 ? (size_t) k : 0;
}

__attribute__((noreturn)) static void child(const script *s, const char *action, int out) {
        sigset_t none;
        int null;

        (void) setpgid(0, 0);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
            dup2(out, STDERR_FILENO) < 0)
                _exit(127);
        execl(s->path, s->path, action, (char *) NULL);
        dprintf(STDERR_FILENO, "cannot execute %s: %s\n", s->path, strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
}

/* Runs `SCRIPT ACTION` to its end or its deadline; the result's message describes it. */
static void run_script(const writer_context *ctx, const script *s, const char *action, run_result *res) {
        char tail[OUTPUT_TAIL + 1];
        size_t tail_len;
        int out = -1, pidfd = -1, status = 0;
        uint64_t start = now_usec(CLOCK_MONOTONIC), deadline = start + (uint64_t) ctx->timeout_ms * USEC_PER_MSEC;
        bool exited = false;
        const char *line;
        char what[128];
        double ms;
        pid_t pid;

        *res = (run_result) {};
        /*
         * The output goes to a memory file, not a pipe: processes the script leaves behind inherit it and may write
         * to it long after the script ended, and must neither block on a full pipe nor die of SIGPIPE (a lock holder
         * that dies releases its lock during the snapshot). Its tail is read when the script has exited.
         */
        out = memfd_create("lvss-hook-output", MFD_CLOEXEC);
        if (out < 0) {
                snprintf(res->message, sizeof res->message, "%s %s: cannot create its output file: %s", s->name,
                         action, strerror(errno));
                return;
        }
        pid = fork();
        if (pid < 0) {
                snprintf(res->message, sizeof res->message, "%s %s: cannot fork: %s", s->name, action,
                         strerror(errno));
                close(out);
                return;
        }
        if (pid == 0)
                child(s, action, out);
        (void) setpgid(pid, pid); /* also here: no window in which a kill of the group misses */
        pidfd = pidfd_open_(pid);

        while (!exited) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                int timeout;

                if (now >= deadline) {
                        /* The script and everything it started are killed together. */
                        (void) kill(-pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        res->timed_out = true;
                        break;
                }
                timeout = (int) ((deadline - now + 999) / 1000);
                if (pidfd < 0 && timeout > 10)
                        timeout = 10; /* no pidfd (old kernel): look at the child every 10 ms */
                if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
                        break;
                /* The script's own exit ends the run, whatever it left behind. */
                if (pidfd < 0 || pfd.revents) {
                        pid_t k = waitpid(pid, &status, WNOHANG);
                        if (k == pid)
                                exited = true;
                        else if (k < 0 && errno != EINTR)
                                break;
                }
        }
        tail_len = read_tail(out, tail);
        close(out);
        if (pidfd >= 0)
                close(pidfd);

        ms = (double) (now_usec(CLOCK_MONOTONIC) - start) / 1000.0;
        if (res->timed_out)
                snprintf(what, sizeof what, "timed out after %" PRIu32 " ms, killed with its process group",
                         ctx->timeout_ms);
        else if (!exited)
                snprintf(what, sizeof what, "lost while waiting for it");
        else if (WIFEXITED(status)) {
                snprintf(what, sizeof what, "exit status %d", WEXITSTATUS(status));
                res->ok = WEXITSTATUS(status) == 0;
                res->exec_failed = WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127;
        } else if (WIFSIGNALED(status))
                snprintf(what, sizeof what, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                snprintf(what, sizeof what, "ended with status 0x%x", (unsigned) status);
        line = last_line(tail, tail_len);
        snprintf(res->message, sizeof res->message, "%s %s: %s after %.1f ms%s%.512s", s->name, action, what, ms,
                 line ? ": " : "", strempty(line));
}

/* Runs @action of @s and logs one line with the session; returns whether it succeeded. */
static bool run_logged(vss_writer *w, const char *event, const writer_context *ctx, const script *s,
                       const char *action, run_result *res) {
        run_script(ctx, s, action, res);
        log_event(w, event, "%s", res->message);
        return res->ok;
}

static vss_hresult failure_code(const run_result *res) {
        return res->exec_failed ? VSS_E_WRITERERROR_NONRETRYABLE : VSS_E_WRITERERROR_RETRYABLE;
}

/* ---- the undo side ----------------------------------------------------------------- */

/*
 * Runs @action (thaw or freezeFail) on every script still marked frozen, in the convention's order, each exactly
 * once (the mark is cleared first). The first failure is recorded for @event when @record. Returns whether all ran
 * well; *@ret_any tells whether there was anything to undo.
 */
static bool undo(vss_writer *w, const char *event, writer_context *ctx, const char *action, bool record,
                 bool *ret_any) {
        bool reverse = ctx->conv == CONVENTION_VMWARE, ok = true, any = false;
        vss_hresult recorded = VSS_S_OK;

        for (size_t k = 0; k < ctx->n_run; k++) {
                script *s = &ctx->run[reverse ? ctx->n_run - 1 - k : k];
                run_result res;
                vss_hresult hr;

                if (!s->frozen)
                        continue;
                s->frozen = false;
                any = true;
                if (run_logged(w, event, ctx, s, action, &res))
                        continue;
                ok = false;
                /* The writer's failure is the worst one (non-retryable over retryable), the first of its kind. */
                hr = failure_code(&res);
                if (record && (recorded == VSS_S_OK || (hr == VSS_E_WRITERERROR_NONRETRYABLE &&
                                                        recorded != VSS_E_WRITERERROR_NONRETRYABLE))) {
                        (void) vss_writer_set_failure_ex(w, hr, VSS_S_OK, res.message);
                        recorded = hr;
                }
        }
        if (ret_any)
                *ret_any = any;
        return ok;
}

static void run_clear(writer_context *ctx) {
        scripts_free(ctx->run, ctx->n_run);
        ctx->run = NULL;
        ctx->n_run = 0;
}

/* Thaws whatever is frozen (the convention's word for a freeze that will not be used) and forgets the run. */
static bool abandon(vss_writer *w, const char *event, writer_context *ctx) {
        bool any = false;

        (void) undo(w, event, ctx, ctx->conv == CONVENTION_VMWARE ? "freezeFail" : "thaw", false, &any);
        run_clear(ctx);
        return any;
}

/* ---- handlers ----------------------------------------------------------------------- */

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        writer_context *ctx = userdata;
        script *list = NULL;
        size_t n = 0;
        vss_hresult hr;
        int r;

        r = scan_dir(ctx->dir, false, &list, &n);
        if (r < 0) {
                /* Keep the previous list: the writer still describes what it would run. */
                log_event(w, "Identify", "cannot read %s: %s", ctx->dir, strerror(-r));
        } else {
                scripts_free(ctx->scripts, ctx->n_scripts);
                ctx->scripts = list;
                ctx->n_scripts = n;
        }

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                           VSS_WRE_NEVER, false);
        for (size_t i = 0; i < ctx->n_scripts && VSS_SUCCEEDED(hr); i++)
                hr = vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, LOGICAL_PATH,
                                                              ctx->scripts[i].name, ctx->scripts[i].path, NULL, 0,
                                                              false, false, false, false, 0);
        if (VSS_FAILED(hr)) {
                log_event(w, "Identify", "cannot describe the scripts: %s (%s)", vss_hresult_text(hr),
                          strempty(vss_hresult_name(hr)));
                return false;
        }
        log_event(w, "Identify", "%s: %zu script%s", ctx->dir, ctx->n_scripts, ctx->n_scripts == 1 ? "" : "s");
        return true;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;

        /* A new snapshot set: an earlier freeze that nobody ended is undone now. */
        if (abandon(w, "PrepareForSnapshot", ctx))
                log_event(w, "PrepareForSnapshot", "undid a freeze left from an earlier session");
        log_event(w, "PrepareForSnapshot", "%zu script%s to freeze", ctx->n_scripts, ctx->n_scripts == 1 ? "" : "s");
        return true;
}

static bool on_freeze(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        run_clear(ctx);
        if (ctx->n_scripts > 0) {
                ctx->run = calloc(ctx->n_scripts, sizeof *ctx->run);
                if (!ctx->run) {
                        (void) vss_writer_set_failure_ex(w, VSS_E_WRITERERROR_OUTOFRESOURCES, VSS_S_OK,
                                                         "out of memory");
                        return false;
                }
                for (size_t i = 0; i < ctx->n_scripts; i++) {
                        ctx->run[i].name = strdup(ctx->scripts[i].name);
                        ctx->run[i].path = strdup(ctx->scripts[i].path);
                        ctx->n_run++;
                        if (!ctx->run[i].name || !ctx->run[i].path) {
                                run_clear(ctx);
                                (void) vss_writer_set_failure_ex(w, VSS_E_WRITERERROR_OUTOFRESOURCES, VSS_S_OK,
                                                                 "out of memory");
                                return false;
                        }
                }
        }

        for (size_t i = 0; i < ctx->n_run; i++) {
                script *s = &ctx->run[i];
                run_result res;
                bool ok;

                /* vmware: every script run gets freezeFail if the freeze fails, itself included. */
                if (ctx->conv == CONVENTION_VMWARE)
                        s->frozen = true;
                ok = run_logged(w, "Freeze", ctx, s, "freeze", &res);
                if (ok) {
                        s->frozen = true;
                        continue;
                }
                /* The veto: this event fails naming the script; what was frozen is undone at once. */
                (void) vss_writer_set_failure_ex(w, failure_code(&res), VSS_S_OK, res.message);
                log_event(w, "Freeze", "vetoed: %s; undoing the %zu script%s run before", res.message, i,
                          i == 1 ? "" : "s");
                (void) abandon(w, "Freeze", ctx);
                return false;
        }
        log_event(w, "Freeze", "%zu script%s frozen in %.1f ms", ctx->n_run, ctx->n_run == 1 ? "" : "s",
                  (double) (now_usec(CLOCK_MONOTONIC) - start) / 1000.0);
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        bool any = false, ok;

        ok = undo(w, "Thaw", ctx, "thaw", true, &any);
        run_clear(ctx);
        if (!any)
                log_event(w, "Thaw", "nothing was frozen");
        return ok;
}

static bool on_abort(vss_writer *w, void *userdata) {
        writer_context *ctx = userdata;
        bool any = abandon(w, "Abort", ctx);

        log_event(w, "Abort", "%s", any ? "the frozen scripts were undone" : "nothing was frozen");
        return true;
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        writer_context *ctx = userdata;

        if (abandon(w, "BackupShutdown", ctx))
                log_event(w, "BackupShutdown", "undid a freeze nobody thawed");
        return true;
}

/* ---- arguments ------------------------------------------------------------------------ */

enum {
        ARG_CONVENTION = WRITER_ARG_PROGRAM,
        ARG_TIMEOUT,
};

static void help(void) {
        printf("Usage: lvss-writer-hooks [OPTIONS] DIR\n\n"
               "The executable scripts in DIR (quiesce hooks) as one lvss writer: Freeze\n"
               "runs `SCRIPT freeze` on each, Thaw (or Abort, or the freeze timeout) runs\n"
               "the thaw side on each script that was frozen; each script is a component.\n\n"
               "Options:\n"
               "  -h --help                Show this help\n"
               "     --version             Show the version\n"
               "     --socket PATH         The lvssd socket (default: $LVSS_SOCKET, else the default)\n"
               "     --name NAME           Writer name (default: " DEFAULT_NAME ")\n"
               "     --instance NAME       Writer instance name (default: DIR's absolute path)\n"
               "     --freeze-timeout MS   Longest time frozen before thawing on its own (default 60000)\n"
               "     --convention qemu|vmware\n"
               "                           qemu: freeze and thaw in name order (default);\n"
               "                           vmware: thaw and freezeFail in reverse order\n"
               "     --timeout MS          Deadline of each script run; past it the script's\n"
               "                           process group is killed (default 30000)\n\n"
               "See lvss-writer-hooks(8).\n");
}

static int parse_argv(int argc, char *argv[], writer_context *ctx) {
        static const struct option options[] = {
                WRITER_COMMON_OPTIONS,
                { "convention", required_argument, NULL, ARG_CONVENTION },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                {}
        };
        unsigned long v;
        int c;

        while ((c = writer_program_next_option(&program, argc, argv, options)) != WRITER_OPTIONS_END) {
                switch (c) {
                case ARG_CONVENTION:
                        if (strcmp(optarg, "qemu") == 0)
                                ctx->conv = CONVENTION_QEMU;
                        else if (strcmp(optarg, "vmware") == 0)
                                ctx->conv = CONVENTION_VMWARE;
                        else {
                                fprintf(stderr, "lvss-writer-hooks: --convention must be qemu or vmware, not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_TIMEOUT:
                        if (writer_program_parse_number(&program, "--timeout", "milliseconds", optarg, UINT32_MAX,
                                                        &v) < 0)
                                return -EINVAL;
                        ctx->timeout_ms = (uint32_t) v;
                        break;
                default:
                        return c; /* 0: --help/--version; < 0: a bad option */
                }
        }
        if (optind >= argc) {
                fprintf(stderr, "lvss-writer-hooks: no hook directory given (see --help)\n");
                return -EINVAL;
        }
        if (optind + 1 < argc) {
                fprintf(stderr, "lvss-writer-hooks: one hook directory per writer, not %d (run one instance each)\n",
                        argc - optind);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        writer_context ctx = { .conv = CONVENTION_QEMU, .timeout_ms = DEFAULT_TIMEOUT_MS };
        static const vss_writer_callbacks callbacks = {
                .size = sizeof(vss_writer_callbacks),
                .on_identify = on_identify,
                .on_prepare_snapshot = on_prepare_snapshot,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_abort = on_abort,
                .on_backup_shutdown = on_backup_shutdown,
        };
        vss_writer *w = NULL;
        struct stat st;
        int r, ret = EXIT_FAILURE;

        r = parse_argv(argc, argv, &ctx);
        if (r <= 0)
                return r == 0 ? EXIT_SUCCESS : EXIT_USAGE;

        ctx.dir = realpath(argv[optind], NULL);
        if (!ctx.dir || stat(ctx.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "lvss-writer-hooks: %s: %s\n", argv[optind],
                        ctx.dir ? "not a directory" : strerror(errno));
                free(ctx.dir);
                return EXIT_FAILURE;
        }
        r = scan_dir(ctx.dir, true, &ctx.scripts, &ctx.n_scripts);
        if (r < 0) {
                fprintf(stderr, "lvss-writer-hooks: cannot read %s: %s\n", ctx.dir, strerror(-r));
                goto finish;
        }
        if (!program.instance)
                program.instance = ctx.dir;

        if (writer_program_setup(&program) < 0)
                goto finish;

        w = writer_program_start(&program, &hooks_writer_id, &callbacks, &ctx);
        if (!w)
                goto finish;
        fprintf(stderr, "lvss-writer-hooks: writer '%s' (instance '%s') subscribed, %s: %zu script%s, %s convention\n",
                program.name, program.instance, ctx.dir, ctx.n_scripts, ctx.n_scripts == 1 ? "" : "s",
                ctx.conv == CONVENTION_VMWARE ? "vmware" : "qemu");

        ret = writer_program_run(&program, w, NULL);

finish:
        /* Never leave a script frozen: undo first, then leave lvssd. */
        if (abandon(NULL, "exit", &ctx))
                fprintf(stderr, "lvss-writer-hooks: undid the frozen scripts on exit\n");
        w = vss_writer_release(w);
        scripts_free(ctx.scripts, ctx.n_scripts);
        free(ctx.dir);
        return ret;
}

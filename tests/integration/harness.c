/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The integration test harness (see harness.h for what it promises). */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "basic/fs-util.h"
#include "basic/test-run-dir.h"
#include "harness.h"
#include "protocol/protocol.h"

extern char **environ;

#define ELEMENTS(x) (sizeof(x) / sizeof((x)[0]))

static itest_env *current_env;

/* ---- small things ---------------------------------------------------------- */

uint64_t itest_now_mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t itest_now_real_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

itest_env *itest_current(void) {
        return current_env;
}

unsigned itest_ms(const itest_env *env, unsigned ms) {
        return ms * (env ? env->factor : 1);
}

unsigned itest_deadline_ms(const itest_env *env, unsigned ms) {
        return ms * (env ? env->deadline_factor : 1);
}

void itest_cap_deadlines(itest_env *env, unsigned max) {
        env->deadline_factor = env->factor < max ? env->factor : max;
        if (env->deadline_factor < env->factor)
                itest_note("the deadlines passed to lvssd and the writers are scaled by %u, not %u",
                           env->deadline_factor, env->factor);
}

unsigned itest_margin_ms(const itest_env *env) {
        return itest_ms(env, 4000);
}

unsigned itest_step_bound(const itest_env *env) {
        return itest_ms(env, 30000);
}

static char *xstrdup(const char *s) {
        char *p = strdup(s ? s : "");
        if (!p)
                abort();
        return p;
}

char *itest_xprintf(const char *fmt, ...) {
        va_list ap;
        char *p;
        va_start(ap, fmt);
        if (vasprintf(&p, fmt, ap) < 0)
                abort();
        va_end(ap);
        return p;
}

static void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n, size);
        if (!p)
                abort();
        return p;
}

const char *itest_hr_str(vss_hresult hr) {
        static char ring[8][96];
        static unsigned k;
        char *b = ring[k++ % 8];
        const char *n = vss_hresult_name(hr);
        snprintf(b, sizeof ring[0], "%s (0x%08" PRIX32 ")", n ? n : "?", (uint32_t) hr);
        return b;
}

const char *itest_id_str(const vss_id *id) {
        static char ring[8][VSS_ID_STRING_MAX];
        static unsigned k;
        char *b = ring[k++ % 8];
        vss_id_format(id, b);
        return b;
}

static const char *state_str(vss_writer_state s) {
        const char *n = vss_writer_state_name(s);
        return n ? n : "(out of range)";
}

void itest_note(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "# ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
}

void itest_fail_at(const char *file, int line, const char *fmt, ...) {
        char msg[4096];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (current_env)
                current_env->failed = true;
        fflush(stdout);
        print_error("%s:%d: %s\n", file, line, msg);
        _fail(file, line);
        abort(); /* not reached: _fail longjmps */
}

char *itest_read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                return NULL;
        FILE *m = open_memstream(&buf, &len);
        if (!m) {
                fclose(f);
                return NULL;
        }
        char chunk[8192];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
                fwrite(chunk, 1, k, m);
        fclose(f);
        fclose(m);
        return buf;
}

static void write_file(const char *path, const char *content) {
        FILE *f = fopen(path, "we");
        if (!f)
                abort();
        fputs(content, f);
        fclose(f);
}

/* ---- streams ---------------------------------------------------------------
 *
 * One reader thread reads every stream (writers' and children's stdout) and
 * stamps each line when it arrives, whatever the test's own thread is doing
 * (it may be blocked in a liblvss call). Lines live in a fixed array that
 * never moves, so a line, once published (n_lines), can be read without the
 * lock; everything else is under `lock`, and waiters sleep on `cond`.
 */

#define STREAM_MAX_LINES 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lines_cond;
static pthread_t reader;
static bool reader_running, reader_stop;
static int wake_fd[2] = { -1, -1 };

static void stream_init(itest_stream *s) {
        memset(s, 0, sizeof *s);
        s->fd = -1;
        s->cap = STREAM_MAX_LINES;
        s->lines = xcalloc(s->cap, sizeof *s->lines);
}

/* under lock */
static void stream_add_line(itest_stream *s, const char *text, size_t len) {
        if (s->n_lines == s->cap)
                return; /* the array never moves; a test does not need more */
        char *t = strndup(text, len);
        if (!t)
                abort();
        s->lines[s->n_lines].text = t;
        s->lines[s->n_lines].mono_usec = itest_now_mono_usec();
        s->n_lines++;
}

static void stream_free(itest_stream *s) {
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        for (size_t i = 0; i < s->n_lines; i++)
                free(s->lines[i].text);
        free(s->lines);
        s->lines = NULL;
        s->n_lines = s->cap = s->cursor = 0;
}

/*
 * Under lock: read what is in the pipe now; true if anything (data or EOF) happened.
 * The reader thread calls it when poll says so; every search calls it too, so
 * a search sees every line the process had written when the search began
 * (a writer prints and flushes its lines before it answers lvssd, so after a
 * step has finished its lines are in the pipe, read or not).
 */
static bool stream_read(itest_stream *s) {
        bool any = false;

        while (s->fd >= 0) {
                if (s->buf_len == sizeof s->buf) {
                        /* an over-long line: cut it */
                        stream_add_line(s, s->buf, s->buf_len);
                        s->buf_len = 0;
                }
                ssize_t k = read(s->fd, s->buf + s->buf_len, sizeof s->buf - s->buf_len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        k = 0; /* treat errors as EOF */
                }
                if (k == 0) {
                        if (s->buf_len > 0)
                                stream_add_line(s, s->buf, s->buf_len);
                        s->buf_len = 0;
                        close(s->fd);
                        s->fd = -1;
                        return true;
                }
                any = true;
                s->buf_len += (size_t) k;
                char *start = s->buf, *nl;
                while ((nl = memchr(start, '\n', s->buf_len - (size_t) (start - s->buf)))) {
                        stream_add_line(s, start, (size_t) (nl - start));
                        start = nl + 1;
                }
                size_t rest = s->buf_len - (size_t) (start - s->buf);
                memmove(s->buf, start, rest);
                s->buf_len = rest;
        }
        return any;
}

/* under lock */
static size_t collect_streams(itest_env *env, itest_stream **v, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < env->n_writers && n < max; i++)
                if (env->writers[i]->p.out.fd >= 0)
                        v[n++] = &env->writers[i]->p.out;
        for (size_t i = 0; i < env->n_children && n < max; i++)
                if (env->children[i]->out.fd >= 0)
                        v[n++] = &env->children[i]->out;
        return n;
}

static void *reader_main(void *arg) {
        itest_env *env = arg;
        itest_stream *v[ITEST_MAX_WRITERS + ITEST_MAX_CHILDREN];
        struct pollfd pfd[ITEST_MAX_WRITERS + ITEST_MAX_CHILDREN + 1];

        pthread_mutex_lock(&lock);
        while (!reader_stop) {
                size_t n = collect_streams(env, v, ELEMENTS(v));
                for (size_t i = 0; i < n; i++)
                        pfd[i] = (struct pollfd) { .fd = v[i]->fd, .events = POLLIN };
                pfd[n] = (struct pollfd) { .fd = wake_fd[0], .events = POLLIN };
                pthread_mutex_unlock(&lock);
                int r = poll(pfd, n + 1, -1);
                pthread_mutex_lock(&lock);
                if (r < 0)
                        continue;
                if (pfd[n].revents) {
                        char b[64];
                        while (read(wake_fd[0], b, sizeof b) > 0)
                                ;
                }
                bool any = false;
                for (size_t i = 0; i < n; i++)
                        if (pfd[i].revents && v[i]->fd == pfd[i].fd)
                                any |= stream_read(v[i]);
                if (any)
                        pthread_cond_broadcast(&lines_cond);
        }
        pthread_mutex_unlock(&lock);
        return NULL;
}

static void reader_wake(void) {
        if (wake_fd[1] >= 0) {
                ssize_t k = write(wake_fd[1], "x", 1);
                (void) k;
        }
}

static void reader_start(itest_env *env) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&lines_cond, &ca);
        pthread_condattr_destroy(&ca);
        if (pipe2(wake_fd, O_CLOEXEC | O_NONBLOCK) < 0)
                abort();
        reader_stop = false;
        if (pthread_create(&reader, NULL, reader_main, env) != 0)
                abort();
        reader_running = true;
}

static void reader_end(void) {
        if (!reader_running)
                return;
        pthread_mutex_lock(&lock);
        reader_stop = true;
        pthread_mutex_unlock(&lock);
        reader_wake();
        pthread_join(reader, NULL);
        reader_running = false;
        close(wake_fd[0]);
        close(wake_fd[1]);
        wake_fd[0] = wake_fd[1] = -1;
        pthread_cond_destroy(&lines_cond);
}

/* Publish a new stream to the reader thread. */
static void stream_attach(itest_stream *s, int fd) {
        fcntl(fd, F_SETFL, O_NONBLOCK);
        pthread_mutex_lock(&lock);
        s->fd = fd;
        pthread_mutex_unlock(&lock);
        reader_wake();
}

/* under lock: wait on the condition until @deadline (CLOCK_MONOTONIC µs); false at the deadline */
static bool cond_wait_until(uint64_t deadline) {
        struct timespec ts = { .tv_sec = (time_t) (deadline / 1000000u), .tv_nsec = (long) (deadline % 1000000u) * 1000 };
        return pthread_cond_timedwait(&lines_cond, &lock, &ts) == 0;
}

bool itest_pump(itest_env *env, int timeout_ms) {
        (void) env;
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) (timeout_ms < 0 ? 0 : timeout_ms) * 1000u;
        pthread_mutex_lock(&lock);
        bool r = cond_wait_until(deadline);
        pthread_mutex_unlock(&lock);
        return r;
}

typedef bool (*line_pred)(const char *line, const void *ctx);

static ssize_t stream_search_locked(itest_stream *s, line_pred pred, const void *ctx, size_t from, size_t to) {
        if (s->fd >= 0)
                stream_read(s);
        if (to > s->n_lines)
                to = s->n_lines;
        for (size_t i = from; i < to; i++)
                if (pred(s->lines[i].text, ctx))
                        return (ssize_t) i;
        return -1;
}

static ssize_t stream_search(itest_stream *s, line_pred pred, const void *ctx, size_t from, size_t to) {
        pthread_mutex_lock(&lock);
        ssize_t r = stream_search_locked(s, pred, ctx, from, to);
        pthread_mutex_unlock(&lock);
        return r;
}

static ssize_t wait_pred(itest_env *env, itest_stream *s, line_pred pred, const void *ctx, unsigned timeout_ms) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        ssize_t i;

        (void) env;
        pthread_mutex_lock(&lock);
        for (;;) {
                i = stream_search_locked(s, pred, ctx, s->cursor, SIZE_MAX);
                if (i >= 0) {
                        s->cursor = (size_t) i + 1;
                        break;
                }
                if (s->fd < 0 || itest_now_mono_usec() >= deadline)
                        break;
                cond_wait_until(deadline);
        }
        pthread_mutex_unlock(&lock);
        return i;
}

/* Wait (bounded) until the reader saw EOF on @s: everything the process wrote is in. */
static void stream_wait_eof(itest_stream *s, unsigned timeout_ms) {
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        pthread_mutex_lock(&lock);
        while (s->fd >= 0 && itest_now_mono_usec() < deadline)
                cond_wait_until(deadline);
        pthread_mutex_unlock(&lock);
}

static bool pred_prefix(const char *line, const void *ctx) {
        return strncmp(line, (const char *) ctx, strlen((const char *) ctx)) == 0;
}

ssize_t itest_wait_line(itest_env *env, itest_stream *s, const char *prefix, unsigned timeout_ms) {
        return wait_pred(env, s, pred_prefix, prefix, timeout_ms);
}

ssize_t itest_find_line(itest_stream *s, const char *prefix, size_t from, size_t to) {
        return stream_search(s, pred_prefix, prefix, from, to);
}

void itest_dump_stream(const char *label, const itest_stream *s) {
        pthread_mutex_lock(&lock);
        fprintf(stderr, "---- %s: %zu line(s)%s\n", label, s->n_lines, s->fd < 0 ? " (EOF)" : "");
        uint64_t t0 = s->n_lines ? s->lines[0].mono_usec : 0;
        for (size_t i = 0; i < s->n_lines; i++)
                fprintf(stderr, "  [%3zu +%6" PRIu64 "ms] %s\n", i, (s->lines[i].mono_usec - t0) / 1000,
                        s->lines[i].text);
        pthread_mutex_unlock(&lock);
}

static const char *proc_exit_str(itest_proc *p) {
        static char b[128];
        if (!p->reaped)
                snprintf(b, sizeof b, "running");
        else if (WIFEXITED(p->wstatus))
                snprintf(b, sizeof b, "exited with %d", WEXITSTATUS(p->wstatus));
        else if (WIFSIGNALED(p->wstatus))
                snprintf(b, sizeof b, "killed by signal %d (%s)", WTERMSIG(p->wstatus), strsignal(WTERMSIG(p->wstatus)));
        else
                snprintf(b, sizeof b, "status 0x%x", p->wstatus);
        return b;
}

size_t itest_wait_line_must(itest_env *env, itest_proc *p, const char *prefix, unsigned timeout_ms) {
        ssize_t i = itest_wait_line(env, &p->out, prefix, timeout_ms);
        if (i < 0) {
                itest_dump_stream(p->label, &p->out);
                FAIL("%s: no line starting with \"%s\" within %u ms (process %s)", p->label, prefix, timeout_ms,
                     proc_exit_str(p));
        }
        return (size_t) i;
}

/* ---- event lines ------------------------------------------------------------ */

char *itest_event_prefix(char *buf, size_t size, const char *event, const vss_id *sid, const char *what) {
        if (sid)
                snprintf(buf, size, "event %s %s%s%s", event, itest_id_str(sid), what ? " " : "", what ? what : "");
        else
                snprintf(buf, size, "event %s ", event);
        return buf;
}

bool itest_line_is_event(const char *line, const char *event, const vss_id *sid, const char *what) {
        char e[64], s[64], w[32];
        int k = sscanf(line, "event %63s %63s %31s", e, s, w);
        if (k < 2)
                return false;
        if (event && strcmp(e, event) != 0)
                return false;
        if (sid && strcasecmp(s, itest_id_str(sid)) != 0)
                return false;
        if (what && (k < 3 || strcmp(w, what) != 0))
                return false;
        return true;
}

typedef struct event_ctx {
        const char *event;
        const vss_id *sid;
        const char *what;
} event_ctx;

static bool pred_event(const char *line, const void *ctx) {
        const event_ctx *c = ctx;
        return itest_line_is_event(line, c->event, c->sid, c->what);
}

size_t itest_wait_event(itest_env *env, itest_writer *w, const char *event, const vss_id *sid, const char *what,
                        unsigned timeout_ms) {
        event_ctx c = { event, sid, what };
        ssize_t i = wait_pred(env, &w->p.out, pred_event, &c, timeout_ms);
        if (i < 0) {
                itest_dump_stream(w->p.label, &w->p.out);
                FAIL("%s: no line \"event %s %s %s\" (after line %zu) within %u ms (process %s)", w->p.label, event,
                     sid ? itest_id_str(sid) : "*", what ? what : "*", w->p.out.cursor, timeout_ms,
                     proc_exit_str(&w->p));
        }
        return (size_t) i;
}

ssize_t itest_find_event(itest_writer *w, const char *event, const vss_id *sid, const char *what, size_t from,
                         size_t to) {
        event_ctx c = { event, sid, what };
        return stream_search(&w->p.out, pred_event, &c, from, to);
}

size_t itest_count_events(itest_writer *w, const char *event, const vss_id *sid, const char *what) {
        size_t n = 0;
        pthread_mutex_lock(&lock);
        if (w->p.out.fd >= 0)
                stream_read(&w->p.out);
        for (size_t i = 0; i < w->p.out.n_lines; i++)
                if (itest_line_is_event(w->p.out.lines[i].text, event, sid, what))
                        n++;
        pthread_mutex_unlock(&lock);
        return n;
}

/* ---- processes ---------------------------------------------------------------- */

static char **build_envp(const char *const *extra) {
        size_t n = 0, k = 0, ne = 0;
        while (environ[n])
                n++;
        while (extra && extra[ne])
                ne++;
        char **envp = xcalloc(n + ne + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                bool skip = strncmp(environ[i], "NOTIFY_SOCKET=", 14) == 0;
                for (size_t j = 0; j < ne && !skip; j++) {
                        size_t l = strcspn(extra[j], "=");
                        if (strncmp(environ[i], extra[j], l + 1) == 0)
                                skip = true;
                }
                if (!skip)
                        envp[k++] = environ[i];
        }
        for (size_t j = 0; j < ne; j++)
                envp[k++] = (char *) extra[j];
        envp[k] = NULL;
        return envp;
}

static const char *const valgrind_argv[] = {
        "valgrind", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite", "-q", NULL,
};

/*
 * fork + exec @argv (valgrind in front when @p->valgrind); stdout to @out_fd
 * (or the log), stderr to the log, which @append_log continues (a restarted
 * lvssd goes on with the log of the one before) instead of starting it
 * afresh. Everything the parent holds is O_CLOEXEC.
 */
static void proc_spawn(itest_proc *p, char *const *argv, const char *const *extra_env, int out_fd,
                       bool append_log) {
        char *full[128];
        size_t n = 0;
        int log_fd, null_fd;

        if (p->valgrind)
                for (size_t i = 0; valgrind_argv[i]; i++)
                        full[n++] = (char *) valgrind_argv[i];
        for (size_t i = 0; argv[i] && n < ELEMENTS(full) - 1; i++)
                full[n++] = argv[i];
        full[n] = NULL;

        char **envp = build_envp(extra_env);
        log_fd = open(p->log_path, O_WRONLY | O_CREAT | (append_log ? 0 : O_TRUNC) | O_APPEND | O_CLOEXEC, 0644);
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log_fd < 0 || null_fd < 0)
                FAIL("cannot open %s or /dev/null: %m", p->log_path);
        pid_t parent = getpid();

        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
                FAIL("fork: %m");
        if (pid == 0) {
                /* die with the test process, whatever happens to it */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                dup2(null_fd, 0);
                dup2(out_fd >= 0 ? out_fd : log_fd, 1);
                dup2(log_fd, 2);
                signal(SIGPIPE, SIG_DFL);
                if (strchr(full[0], '/'))
                        execve(full[0], full, envp);
                else
                        execvpe(full[0], full, envp);
                dprintf(2, "exec %s: %m\n", full[0]);
                _exit(127);
        }
        free(envp);
        close(log_fd);
        close(null_fd);
        p->pid = pid;
        p->pidfd = pidfd_open(pid, 0);
        if (p->pidfd < 0)
                FAIL("pidfd_open: %m");
}

static void proc_reap(itest_proc *p) {
        if (p->reaped || p->pid <= 0)
                return;
        for (;;) {
                pid_t r = waitpid(p->pid, &p->wstatus, 0);
                if (r == p->pid)
                        break;
                if (r < 0 && errno == EINTR)
                        continue;
                p->wstatus = 0;
                break;
        }
        p->reaped = true;
        if (p->pidfd >= 0)
                close(p->pidfd);
        p->pidfd = -1;
}

bool itest_wait_exit(itest_env *env, itest_proc *p, unsigned timeout_ms) {
        if (p->reaped)
                return true;
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        for (;;) {
                struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
                uint64_t now = itest_now_mono_usec();
                int left = now >= deadline ? 0 : (int) ((deadline - now + 999) / 1000);
                int r = poll(&pfd, 1, left);
                if (r > 0) {
                        /* let the reader drain its stdout first, so nothing it said is lost */
                        stream_wait_eof(&p->out, 2000 * (env ? env->factor : 1));
                        proc_reap(p);
                        return true;
                }
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0)
                        return false;
        }
}

static void proc_kill(itest_proc *p, int sig) {
        if (!p->reaped && p->pid > 0)
                kill(p->pid, sig);
}

void itest_kill_proc(itest_env *env, itest_proc *p) {
        p->may_die = true;
        p->killed_by_test = true;
        proc_kill(p, SIGKILL);
        if (!itest_wait_exit(env, p, itest_ms(env, 10000)))
                FAIL("%s did not die after SIGKILL", p->label);
}

static itest_proc *proc_new(itest_env *env, const char *label, const char *log_name) {
        itest_proc *p = xcalloc(1, sizeof *p);
        p->env = env;
        p->label = xstrdup(label);
        p->pidfd = -1;
        p->log_path = log_name ? itest_xprintf("%s/%s", env->dir, log_name) : NULL;
        stream_init(&p->out);
        return p;
}

static void proc_free(itest_proc *p) {
        if (!p)
                return;
        if (p->pidfd >= 0)
                close(p->pidfd);
        stream_free(&p->out);
        free(p->label);
        free(p->log_path);
}

/* Wait for lvssd's READY=1 on @notify_fd, failing the test when it dies or
 * the bound passes first. */
static void lvssd_wait_ready(itest_env *env, itest_proc *p, int notify_fd) {
        unsigned timeout = itest_ms(env, 10000);
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout * 1000u;
        for (;;) {
                char buf[4096];
                ssize_t k;
                while ((k = recv(notify_fd, buf, sizeof buf - 1, 0)) > 0) {
                        buf[k] = 0;
                        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                                if (strcmp(line, "READY=1") == 0)
                                        return;
                }
                struct pollfd pfd[2] = {
                        { .fd = notify_fd, .events = POLLIN },
                        { .fd = p->pidfd, .events = POLLIN },
                };
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline)
                        FAIL("lvssd sent no READY=1 within %u ms", timeout);
                int r = poll(pfd, 2, (int) ((deadline - now + 999) / 1000));
                if (r < 0 && errno != EINTR)
                        FAIL("poll: %m");
                if (r > 0 && pfd[1].revents) {
                        proc_reap(p);
                        FAIL("lvssd exited before READY=1: %s", proc_exit_str(p));
                }
        }
}

/* ---- lvssd ------------------------------------------------------------------- */

static int notify_fd = -1;

void itest_kill_lvssd(itest_env *env) {
        CHECK(env->lvssd, "no lvssd");
        itest_kill_proc(env, env->lvssd);
}

/* ---- writers ------------------------------------------------------------------ */

static vss_id random_id(void) {
        sd_id128_t r;
        vss_id id;
        if (sd_id128_randomize(&r) < 0)
                abort();
        memcpy(id.bytes, r.bytes, 16);
        return id;
}

itest_writer *itest_writer_spawn(itest_env *env, const char *name, const char *const *args) {
        char *argv[96], *owned[96];
        size_t n = 0, no = 0;
        int pfd[2];
        bool hang = false, crash = false;

        if (env->n_writers >= ITEST_MAX_WRITERS)
                FAIL("too many writers");

        itest_writer *w = xcalloc(1, sizeof *w);
        char *label = itest_xprintf("writer %s", name);
        itest_proc *p = proc_new(env, label, NULL);
        free(label);
        w->p = *p;
        free(p);
        free(w->p.log_path);
        w->p.log_path = itest_xprintf("%s/writer-%zu-%s.log", env->dir, env->n_writers, name);
        w->name = xstrdup(name);
        w->writer_id = random_id();
        w->p.valgrind = env->valgrind && env->valgrind_writers < env->valgrind_writers_max;
        if (w->p.valgrind)
                env->valgrind_writers++;

        char *path = itest_xprintf("%s/tests/helpers/lvss-test-writer", env->build_root);
        if (access(path, X_OK) < 0)
                FAIL("%s: %m (is the test writer built?)", path);
        argv[n++] = owned[no++] = path;
        argv[n++] = "--name";
        argv[n++] = w->name;
        argv[n++] = "--writer-id";
        argv[n++] = owned[no++] = xstrdup(itest_id_str(&w->writer_id));
        for (size_t i = 0; args && args[i] && n < ELEMENTS(argv) - 2; i++) {
                const char *a = args[i];
                argv[n++] = (char *) a;
                if (strcmp(a, "--hang-at") == 0)
                        hang = true;
                if (strcmp(a, "--crash-at") == 0)
                        crash = true;
                if (strcmp(a, "--instance") == 0 && args[i + 1]) {
                        free(w->instance_name);
                        w->instance_name = xstrdup(args[i + 1]);
                }
                if ((strcmp(a, "--freeze-timeout") == 0 || strcmp(a, "--hang-ms") == 0) && args[i + 1]) {
                        unsigned v = (unsigned) strtoul(args[i + 1], NULL, 10);
                        if (strcmp(a, "--freeze-timeout") == 0)
                                w->freeze_timeout_ms = itest_deadline_ms(env, v);
                        argv[n++] = owned[no++] = itest_xprintf("%u", itest_deadline_ms(env, v));
                        i++;
                }
        }
        argv[n] = NULL;
        /* a hung writer may never exit on its own; a crashing one dies by SIGKILL */
        w->p.may_die = hang || crash;

        if (pipe2(pfd, O_CLOEXEC) < 0)
                FAIL("pipe2: %m");
        char *sock = itest_xprintf("LVSS_SOCKET=%s", env->socket_path);
        const char *extra[] = { sock, NULL };
        pthread_mutex_lock(&lock);
        env->writers[env->n_writers++] = w;
        pthread_mutex_unlock(&lock);
        proc_spawn(&w->p, argv, extra, pfd[1], false);
        close(pfd[1]);
        stream_attach(&w->p.out, pfd[0]);
        free(sock);
        for (size_t i = 0; i < no; i++)
                free(owned[i]);
        return w;
}

void itest_writer_wait_subscribed(itest_env *env, itest_writer *w, unsigned timeout_ms) {
        size_t i = itest_wait_line_must(env, &w->p, "subscribed ", timeout_ms);
        const char *id = w->p.out.lines[i].text + strlen("subscribed ");
        if (vss_id_parse(id, &w->instance_id) != VSS_S_OK)
                FAIL("%s: bad instance id in \"%s\"", w->p.label, w->p.out.lines[i].text);
}

itest_writer *itest_writer_start(itest_env *env, const char *name, const char *const *args) {
        itest_writer *w = itest_writer_spawn(env, name, args);
        itest_writer_wait_subscribed(env, w, itest_ms(env, 10000));
        return w;
}

void itest_writer_kill(itest_env *env, itest_writer *w) {
        itest_kill_proc(env, &w->p);
}

/* ---- children ------------------------------------------------------------------- */

void itest_child_say(int fd, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(buf, sizeof buf - 1, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        if ((size_t) k > sizeof buf - 2)
                k = (int) sizeof buf - 2;
        buf[k++] = '\n';
        for (int off = 0; off < k;) {
                ssize_t r = write(fd, buf + off, (size_t) (k - off));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return;
                off += (int) r;
        }
}

itest_proc *itest_spawn_child(itest_env *env, const char *label, itest_child_fn fn, void *arg) {
        int pfd[2];

        if (env->n_children >= ITEST_MAX_CHILDREN)
                FAIL("too many children");
        if (pipe2(pfd, O_CLOEXEC) < 0)
                FAIL("pipe2: %m");
        itest_proc *p = proc_new(env, label, NULL);
        pid_t parent = getpid();
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
                FAIL("fork: %m");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                close(pfd[0]);
                signal(SIGPIPE, SIG_DFL);
                int rc = fn(pfd[1], arg);
                _exit(rc);
        }
        close(pfd[1]);
        p->pid = pid;
        p->pidfd = pidfd_open(pid, 0);
        if (p->pidfd < 0)
                FAIL("pidfd_open: %m");
        pthread_mutex_lock(&lock);
        env->children[env->n_children++] = p;
        pthread_mutex_unlock(&lock);
        stream_attach(&p->out, pfd[0]);
        return p;
}

/* ---- requester helpers ---------------------------------------------------------- */

vss_backup_components *itest_requester(itest_env *env, bool select_components) {
        vss_backup_components *bc = NULL;

        CHECK_HR(vss_create_backup_components(&bc), VSS_S_OK, "vss_create_backup_components");
        CHECK(bc, "no object");
        if (env->n_requesters < ELEMENTS(env->requesters))
                env->requesters[env->n_requesters++] = bc;
        CHECK_HR(vss_initialize_for_backup(bc, NULL), VSS_S_OK, "vss_initialize_for_backup");
        CHECK_HR(vss_set_backup_state(bc, select_components, false, VSS_BT_FULL, false), VSS_S_OK,
                 "vss_set_backup_state");
        return bc;
}

void itest_requester_release(itest_env *env, vss_backup_components *bc) {
        for (size_t i = 0; i < env->n_requesters; i++)
                if (env->requesters[i] == bc) {
                        env->requesters[i] = env->requesters[--env->n_requesters];
                        break;
                }
        vss_backup_components_release(bc);
}

vss_id itest_session_id(vss_backup_components *bc) {
        vss_id sid;
        CHECK_HR(vss_get_session_id(bc, &sid), VSS_S_OK, "vss_get_session_id");
        CHECK(!vss_id_is_null(&sid), "null session id");
        return sid;
}

vss_hresult itest_step(itest_env *env, vss_backup_components *bc, itest_async_fn fn, const char *what,
                       unsigned bound_ms, uint64_t *ret_elapsed_ms) {
        vss_async *a = NULL;
        uint64_t t0 = itest_now_mono_usec();
        vss_hresult hr = fn(bc, &a);

        if (VSS_FAILED(hr)) {
                if (ret_elapsed_ms)
                        *ret_elapsed_ms = (itest_now_mono_usec() - t0) / 1000;
                return hr;
        }
        CHECK(a, "%s returned %s but no async handle", what, itest_hr_str(hr));
        hr = vss_async_wait(a, bound_ms);
        uint64_t elapsed = (itest_now_mono_usec() - t0) / 1000;
        if (hr == VSS_S_ASYNC_PENDING) {
                vss_async_release(a);
                FAIL("%s: the call did not return within %u ms", what, bound_ms);
        }
        if (hr == VSS_S_OK) {
                vss_hresult q = VSS_S_OK;
                CHECK_HR(vss_async_query_status(a, &q), VSS_S_OK, "%s: vss_async_query_status", what);
                CHECK(q == VSS_S_ASYNC_FINISHED, "%s: wait said OK, query says %s", what, itest_hr_str(q));
        }
        vss_async_release(a);
        if (ret_elapsed_ms)
                *ret_elapsed_ms = elapsed;
        itest_note("%s -> %s in %" PRIu64 " ms", what, itest_hr_str(hr), elapsed);
        return hr;
}

vss_id itest_start_set(itest_env *env, vss_backup_components *bc, vss_id *ret_snapshot_id) {
        vss_id set, snap;
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, NULL, &snap), VSS_S_OK, "vss_add_to_snapshot_set(%s)",
                 env->data_dir);
        if (ret_snapshot_id)
                *ret_snapshot_id = snap;
        return set;
}

void itest_gather_status(itest_env *env, vss_backup_components *bc, itest_statuses *ret) {
        unsigned n = 0;
        vss_hresult hr = itest_step(env, bc, vss_gather_writer_status, "vss_gather_writer_status",
                                    itest_step_bound(env), NULL);
        CHECK_HR(hr, VSS_S_OK, "vss_gather_writer_status");
        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_S_OK, "vss_get_writer_status_count");
        ret->n = n;
        ret->v = xcalloc(n ? n : 1, sizeof *ret->v);
        for (unsigned i = 0; i < n; i++) {
                vss_writer_status s = { .size = sizeof(vss_writer_status) };
                CHECK_HR(vss_get_writer_status(bc, i, &s), VSS_S_OK, "vss_get_writer_status(%u)", i);
                itest_status *c = &ret->v[i];
                c->s = s;
                c->writer_name = s.writer_name ? xstrdup(s.writer_name) : NULL;
                c->instance_name = s.instance_name ? xstrdup(s.instance_name) : NULL;
                c->application_message = s.application_message ? xstrdup(s.application_message) : NULL;
                c->s.writer_name = c->writer_name;
                c->s.instance_name = c->instance_name;
                c->s.application_message = c->application_message;
        }
        CHECK_HR(vss_free_writer_status(bc), VSS_S_OK, "vss_free_writer_status");
}

void itest_statuses_free(itest_statuses *st) {
        for (size_t i = 0; i < st->n; i++) {
                free(st->v[i].writer_name);
                free(st->v[i].instance_name);
                free(st->v[i].application_message);
        }
        free(st->v);
        st->v = NULL;
        st->n = 0;
}

const itest_status *itest_status_for(const itest_statuses *st, const itest_writer *w) {
        for (size_t i = 0; i < st->n; i++)
                if (vss_id_equal(&st->v[i].s.instance_id, &w->instance_id))
                        return &st->v[i];
        return NULL;
}

static void dump_statuses(const itest_statuses *st) {
        fprintf(stderr, "---- status list: %zu entr%s\n", st->n, st->n == 1 ? "y" : "ies");
        for (size_t i = 0; i < st->n; i++) {
                const vss_writer_status *s = &st->v[i].s;
                fprintf(stderr, "  %s '%s' %s failure=%s app=0x%08" PRIX32 " msg=%s%s%s session=%s last=%s%s dur=%" PRIu64 "us\n",
                        itest_id_str(&s->instance_id), s->writer_name ? s->writer_name : "(null)", state_str(s->state),
                        itest_hr_str(s->failure), (uint32_t) s->application_result,
                        s->application_message ? "'" : "", s->application_message ? s->application_message : "(null)",
                        s->application_message ? "'" : "", itest_id_str(&s->session_id),
                        vss_writer_event_name(s->last_event) ? vss_writer_event_name(s->last_event) : "?",
                        s->event_in_progress ? " (in progress)" : "", s->last_event_duration_usec);
        }
}

void itest_check_status(const char *file, int line, const itest_statuses *st, const itest_writer *w,
                        vss_writer_state state, vss_hresult failure, vss_hresult app_result, const char *msg) {
        const itest_status *e = itest_status_for(st, w);
        if (!e) {
                dump_statuses(st);
                itest_fail_at(file, line, "%s (%s) has no status entry", w->p.label, itest_id_str(&w->instance_id));
        }
        const vss_writer_status *s = &e->s;
        const char *m = s->application_message;
        bool msg_ok = msg ? (m && strcmp(m, msg) == 0) : (!m || !*m);
        if (s->state != state || s->failure != failure || s->application_result != app_result || !msg_ok) {
                dump_statuses(st);
                itest_fail_at(file, line,
                              "%s: status %s / failure %s / application result 0x%08" PRIX32 " / message %s; "
                              "expected %s / %s / 0x%08" PRIX32 " / %s",
                              w->p.label, state_str(s->state), itest_hr_str(s->failure),
                              (uint32_t) s->application_result, m ? m : "(none)", state_str(state),
                              itest_hr_str(failure), (uint32_t) app_result, msg ? msg : "(none)");
        }
}

void itest_check_status_set(const itest_statuses *st, const vss_id *sid, itest_writer *const *ws, size_t n) {
        if (st->n != n) {
                dump_statuses(st);
                FAIL("%zu status entries, expected %zu", st->n, n);
        }
        for (size_t i = 0; i < n; i++)
                if (!itest_status_for(st, ws[i])) {
                        dump_statuses(st);
                        FAIL("%s (%s) has no status entry", ws[i]->p.label, itest_id_str(&ws[i]->instance_id));
                }
        for (size_t i = 0; i < st->n; i++)
                if (sid && !vss_id_equal(&st->v[i].s.session_id, sid)) {
                        dump_statuses(st);
                        FAIL("entry %zu carries session %s, expected this session %s", i,
                             itest_id_str(&st->v[i].s.session_id), itest_id_str(sid));
                }
}

void itest_check_all_status(const char *file, int line, itest_env *env, vss_backup_components *bc, const vss_id *sid,
                            itest_writer *const *ws, size_t n, vss_writer_state state, const char *what) {
        itest_statuses st = { 0 };

        itest_note("%s", what);
        itest_gather_status(env, bc, &st);
        itest_check_status_set(&st, sid, ws, n);
        for (size_t i = 0; i < n; i++)
                itest_check_status(file, line, &st, ws[i], state, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
}

/* ---- the admin view ---------------------------------------------------------------- */

void itest_list_writers(itest_env *env, itest_admin *ret) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int r;

        memset(ret, 0, sizeof *ret);
        r = lvss_bus_connect(env->socket_path, &bus);
        CHECK(r >= 0, "connect to %s: %s", env->socket_path, strerror(-r));
        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           "ListWriters");
        CHECK(r >= 0, "new call: %s", strerror(-r));
        r = sd_bus_call(bus, m, (uint64_t) itest_step_bound(env) * 1000u, &err, &reply);
        if (r < 0) {
                char b[512];
                snprintf(b, sizeof b, "%s: %s", err.name ? err.name : strerror(-r), err.message ? err.message : "");
                sd_bus_error_free(&err);
                FAIL("ListWriters failed: %s", b);
        }
        r = sd_bus_message_enter_container(reply, 'a', "(" LVSS_ADMIN_STATUS_STRUCT ")");
        CHECK(r >= 0, "ListWriters reply: %s", strerror(-r));
        size_t cap = 0;
        while ((r = sd_bus_message_enter_container(reply, 'r', LVSS_ADMIN_STATUS_STRUCT)) > 0) {
                itest_admin_entry e = { 0 };
                const char *wn, *in, *msg, *st;
                uint32_t state, ev;
                int32_t fail, app;
                int prog, active;
                uint64_t sent, dur;

                CHECK(lvss_bus_read_id(reply, &e.instance_id) >= 0, "instance id");
                CHECK(lvss_bus_read_id(reply, &e.writer_id) >= 0, "writer id");
                r = sd_bus_message_read(reply, "ssuiis", &wn, &in, &state, &fail, &app, &msg);
                CHECK(r >= 0, "ListWriters entry: %s", strerror(-r));
                CHECK(lvss_bus_read_id(reply, &e.session_id) >= 0, "session id");
                r = sd_bus_message_read(reply, "ubttbs", &ev, &prog, &sent, &dur, &active, &st);
                CHECK(r >= 0, "ListWriters entry tail: %s", strerror(-r));
                uint32_t uid;
                int32_t pid;
                const char *note;
                int by_lvssd;
                r = sd_bus_message_read(reply, "uisb", &uid, &pid, &note, &by_lvssd);
                CHECK(r >= 0, "ListWriters entry owner, note and provenance: %s", strerror(-r));
                e.answered_by_lvssd = by_lvssd;
                e.uid = (uid_t) uid;
                e.pid = (pid_t) pid;
                e.note = xstrdup(note);
                CHECK(sd_bus_message_exit_container(reply) >= 0, "exit struct");
                e.writer_name = xstrdup(wn);
                e.instance_name = xstrdup(in);
                e.state = (vss_writer_state) state;
                e.failure = fail;
                e.application_result = app;
                e.application_message = xstrdup(msg);
                e.last_event = (vss_writer_event) ev;
                e.in_progress = prog;
                e.last_event_usec = sent;
                e.duration_usec = dur;
                e.session_active = active;
                e.session_state = xstrdup(st);
                if (ret->n == cap) {
                        cap = cap ? cap * 2 : 16;
                        ret->v = realloc(ret->v, cap * sizeof *ret->v);
                        if (!ret->v)
                                abort();
                }
                ret->v[ret->n++] = e;
        }
        CHECK(r >= 0, "ListWriters reply: %s", strerror(-r));
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
}

void itest_admin_free(itest_admin *a) {
        for (size_t i = 0; i < a->n; i++) {
                free(a->v[i].writer_name);
                free(a->v[i].instance_name);
                free(a->v[i].application_message);
                free(a->v[i].session_state);
                free(a->v[i].note);
        }
        free(a->v);
        a->v = NULL;
        a->n = 0;
}

const itest_admin_entry *itest_admin_for(const itest_admin *a, const itest_writer *w) {
        for (size_t i = 0; i < a->n; i++)
                if (vss_id_equal(&a->v[i].instance_id, &w->instance_id))
                        return &a->v[i];
        return NULL;
}

/* ---- catalog and shadows -------------------------------------------------------------- */

/*
 * lvssd writes its catalog on a thread of its own, in the order it queued the
 * writes, and answers ListShadows after every write queued before it (issue
 * 11 §1). A test that reads the catalog file itself first makes that round
 * trip, so it sees what lvssd has done so far: an event to wait for, not a
 * time. When no lvssd answers (stopped or killed) the file is all there is.
 */
static void catalog_sync(itest_env *env) {
        itest_shadow_list l;

        if (env->socket_path && itest_list_shadows(env->socket_path, NULL, &l) == VSS_S_OK)
                itest_shadow_list_free(&l);
}

static sqlite3 *catalog_open(itest_env *env) {
        catalog_sync(env);
        char *path = itest_xprintf("%s/catalog.db", env->state_dir);
        sqlite3 *db = NULL;
        int r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
        free(path);
        if (r != SQLITE_OK) {
                if (db)
                        sqlite3_close(db);
                return NULL;
        }
        sqlite3_busy_timeout(db, 5000);
        return db;
}

bool itest_catalog_session(itest_env *env, const vss_id *sid, char **ret_state, char **ret_reason) {
        sqlite3 *db = catalog_open(env);
        sqlite3_stmt *st = NULL;
        bool found = false;

        if (!db)
                return false;
        if (sqlite3_prepare_v2(db, "SELECT state, reason FROM sessions WHERE lower(id) = lower(?1)", -1, &st, NULL) ==
            SQLITE_OK) {
                sqlite3_bind_text(st, 1, itest_id_str(sid), -1, SQLITE_TRANSIENT);
                if (sqlite3_step(st) == SQLITE_ROW) {
                        found = true;
                        const unsigned char *s = sqlite3_column_text(st, 0), *r = sqlite3_column_text(st, 1);
                        if (ret_state)
                                *ret_state = s ? xstrdup((const char *) s) : NULL;
                        if (ret_reason)
                                *ret_reason = r ? xstrdup((const char *) r) : NULL;
                }
        } else
                itest_note("catalog: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return found;
}

int itest_catalog_snapshot_count(itest_env *env, const vss_id *sid) {
        sqlite3 *db = catalog_open(env);
        sqlite3_stmt *st = NULL;
        int n = -1;

        if (!db)
                return -1;
        const char *q = sid ? "SELECT count(*) FROM snapshots WHERE lower(session_id) = lower(?1)"
                            : "SELECT count(*) FROM snapshots";
        if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
                if (sid)
                        sqlite3_bind_text(st, 1, itest_id_str(sid), -1, SQLITE_TRANSIENT);
                if (sqlite3_step(st) == SQLITE_ROW)
                        n = sqlite3_column_int(st, 0);
        } else
                itest_note("catalog: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

int itest_shadow_dir_count(itest_env *env) {
        char *root = itest_xprintf("%s/shadows", env->state_dir);
        DIR *d = opendir(root);
        int n = 0;
        struct dirent *e;

        if (!d) {
                free(root);
                return 0;
        }
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char *set = itest_xprintf("%s/%s", root, e->d_name);
                DIR *s = opendir(set);
                if (s) {
                        struct dirent *f;
                        while ((f = readdir(s)))
                                if (f->d_name[0] != '.')
                                        n++;
                        closedir(s);
                }
                free(set);
        }
        closedir(d);
        free(root);
        return n;
}

static void watch_tree(int ifd, itest_env *env) {
        const uint32_t mask = IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                              IN_ATTRIB | IN_DELETE_SELF;
        char *root = itest_xprintf("%s/shadows", env->state_dir);
        inotify_add_watch(ifd, env->state_dir, mask);
        inotify_add_watch(ifd, root, mask);
        DIR *d = opendir(root);
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)))
                        if (e->d_name[0] != '.') {
                                char *p = itest_xprintf("%s/%s", root, e->d_name);
                                inotify_add_watch(ifd, p, mask);
                                free(p);
                        }
                closedir(d);
        }
        free(root);
}

bool itest_poll_until(itest_env *env, itest_cond_fn cond, void *userdata, unsigned timeout_ms) {
        uint64_t until = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;

        while (!cond(env, userdata)) {
                if (itest_now_mono_usec() >= until)
                        return cond(env, userdata);
                (void) itest_pump(env, 20);
        }
        return true;
}

bool itest_lvssd_childless(itest_env *env, void *userdata) {
        return itest_children_in_state(env->lvssd->pid, 0) == 0;
}

bool itest_wait_state(itest_env *env, itest_cond_fn cond, void *userdata, unsigned timeout_ms) {
        int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        bool ok;

        CHECK(ifd >= 0, "inotify_init1: %m");
        for (;;) {
                watch_tree(ifd, env); /* before checking, so no change is missed */
                ok = cond(env, userdata);
                if (ok)
                        break;
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline)
                        break;
                struct pollfd pfd = { .fd = ifd, .events = POLLIN };
                int r = poll(&pfd, 1, (int) ((deadline - now + 999) / 1000));
                if (r > 0) {
                        char buf[8192];
                        while (read(ifd, buf, sizeof buf) > 0)
                                ;
                }
        }
        close(ifd);
        return ok;
}

/* ---- setup and teardown ------------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP || flag == FTW_D)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

static bool env_keep(void) {
        const char *keep = getenv("LVSS_TEST_KEEP");

        return keep && strcmp(keep, "1") == 0;
}

int itest_setup(void **state) {
        itest_env *env = xcalloc(1, sizeof *env);
        int r;
        const char *root = getenv("LVSS_BUILD_ROOT");
        const char *vg = getenv("LVSS_TEST_VALGRIND");
        const char *tmp = getenv("TMPDIR");

        if (!root || !*root) {
                fprintf(stderr, "LVSS_BUILD_ROOT is not set (run through meson test)\n");
                free(env);
                return -1;
        }
        env->build_root = xstrdup(root);
        env->valgrind = vg && strcmp(vg, "1") == 0;
        env->valgrind_writers_max = SIZE_MAX;
        env->factor = env->valgrind ? 6 : 1;
        const char *f = getenv("LVSS_TEST_TIME_FACTOR");
        if (f && atoi(f) > 0)
                env->factor = (unsigned) atoi(f);
        env->deadline_factor = env->factor;

        /* short: the sockets live inside it */
        if (!tmp || !*tmp || strlen(tmp) > 40)
                tmp = "/tmp";
        env->dir = itest_xprintf("%s/lvss-itest-XXXXXX", tmp);
        /* Removed by the teardown; also when meson's timeout (SIGTERM) or ^C ends the test, after
         * the tail of lvssd's log went to stderr. LVSS_TEST_KEEP=1 keeps it. */
        if (env_keep())
                r = mkdtemp(env->dir) ? 0 : -errno;
        else
                r = test_run_dir_make_logged(env->dir, "lvssd.log");
        if (r < 0) {
                fprintf(stderr, "mkdtemp %s: %s\n", env->dir, strerror(-r));
                return -1;
        }
        env->state_dir = itest_xprintf("%s/state", env->dir);
        env->socket_path = itest_xprintf("%s/lvssd.sock", env->dir);
        env->notify_path = itest_xprintf("%s/notify", env->dir);
        env->data_dir = itest_xprintf("%s/data", env->dir);
        mkdir(env->state_dir, 0700);
        mkdir(env->data_dir, 0755);
        char *sub = itest_xprintf("%s/sub", env->data_dir);
        char *a = itest_xprintf("%s/a.txt", env->data_dir);
        char *b = itest_xprintf("%s/b.txt", sub);
        mkdir(sub, 0755);
        write_file(a, "alpha: the data a writer protects\n");
        write_file(b, "beta\n");
        free(sub);
        free(a);
        free(b);
        setenv("LVSS_SOCKET", env->socket_path, 1);
        reader_start(env);
        current_env = env;
        *state = env;
        return 0;
}

static void print_log_tail(const char *label, const char *path, size_t max_lines) {
        char *s = path ? itest_read_file(path) : NULL;
        if (!s)
                return;
        size_t n = 0;
        const char *start = s + strlen(s);
        while (start > s && n <= max_lines) {
                start--;
                if (*start == '\n')
                        n++;
        }
        if (*start == '\n')
                start++;
        if (*start)
                fprintf(stderr, "---- %s (%s)%s\n%s\n", label, path, start > s ? " (tail)" : "", start);
        free(s);
}

/* A process ended: was that all right? Returns false (and says why) if not. */
static bool proc_check_end(itest_env *env, itest_proc *p, bool expect_exit_zero) {
        if (!p->reaped)
                return true;
        if (WIFEXITED(p->wstatus)) {
                int code = WEXITSTATUS(p->wstatus);
                if (p->valgrind && code == 99) {
                        fprintf(stderr, "FAILED: valgrind reported errors in %s (see its log)\n", p->label);
                        return false;
                }
                if (code != 0 && expect_exit_zero && !p->may_die) {
                        fprintf(stderr, "FAILED: %s exited with %d\n", p->label, code);
                        return false;
                }
                return true;
        }
        if (WIFSIGNALED(p->wstatus) && !p->may_die) {
                fprintf(stderr, "FAILED: %s was killed by signal %d (%s)\n", p->label, WTERMSIG(p->wstatus),
                        strsignal(WTERMSIG(p->wstatus)));
                return false;
        }
        (void) env;
        return true;
}

int itest_teardown(void **state) {
        itest_env *env = *state;
        bool ok = true;
        unsigned grace = itest_ms(env, 15000);

        if (!env)
                return 0;

        /* 1. requester children: no mercy */
        for (size_t i = 0; i < env->n_children; i++) {
                itest_proc *c = env->children[i];
                if (!c->reaped) {
                        c->may_die = true;
                        proc_kill(c, SIGKILL);
                        itest_wait_exit(env, c, grace);
                }
        }

        /* 2. lvssd: did it die on its own? then stop it politely */
        if (env->lvssd) {
                itest_proc *p = env->lvssd;
                if (!p->reaped)
                        itest_wait_exit(env, p, 0); /* reaps it if it is already gone */
                if (p->reaped && !p->killed_by_test) {
                        fprintf(stderr, "FAILED: lvssd died during the test: %s\n", proc_exit_str(p));
                        ok = false;
                } else if (!p->reaped) {
                        proc_kill(p, SIGTERM);
                        if (!itest_wait_exit(env, p, grace)) {
                                fprintf(stderr, "FAILED: lvssd did not exit within %u ms of SIGTERM\n", grace);
                                ok = false;
                                p->may_die = true;
                                proc_kill(p, SIGKILL);
                                itest_wait_exit(env, p, grace);
                        } else {
                                /* a clean stop: exit 0, or the default action of SIGTERM */
                                bool clean = (WIFEXITED(p->wstatus) && WEXITSTATUS(p->wstatus) == 0) ||
                                             (WIFSIGNALED(p->wstatus) && WTERMSIG(p->wstatus) == SIGTERM);
                                bool vg = p->valgrind && WIFEXITED(p->wstatus) && WEXITSTATUS(p->wstatus) == 99;
                                if (!clean && !vg) {
                                        fprintf(stderr, "FAILED: lvssd stopped badly on SIGTERM: %s\n",
                                                proc_exit_str(p));
                                        ok = false;
                                }
                                p->may_die = true; /* the SIGTERM was ours */
                        }
                }
                if (!proc_check_end(env, p, false))
                        ok = false;
        }
        if (notify_fd >= 0)
                close(notify_fd);
        notify_fd = -1;

        /* 3. requester objects of the test process: their connections are gone */
        for (size_t i = 0; i < env->n_requesters; i++)
                vss_backup_components_release(env->requesters[i]);
        env->n_requesters = 0;

        /* 4. writers: they saw lvssd go and exit; hung ones get SIGKILL */
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_ms(env, 10000) * 1000u;
        for (size_t i = 0; i < env->n_writers; i++) {
                itest_writer *w = env->writers[i];
                if (w->p.reaped)
                        continue;
                uint64_t now = itest_now_mono_usec();
                unsigned left = now >= deadline ? 0 : (unsigned) ((deadline - now) / 1000);
                if (w->p.may_die)
                        left = 0;
                if (!itest_wait_exit(env, &w->p, left)) {
                        if (!w->p.may_die) {
                                fprintf(stderr, "FAILED: %s did not exit after lvssd stopped\n", w->p.label);
                                ok = false;
                        }
                        w->p.may_die = true;
                        proc_kill(&w->p, SIGKILL);
                        itest_wait_exit(env, &w->p, grace);
                }
        }
        for (size_t i = 0; i < env->n_writers; i++)
                if (!proc_check_end(env, &env->writers[i]->p, true))
                        ok = false;

        if (!ok)
                env->failed = true;
        const char *verbose = getenv("LVSS_TEST_VERBOSE");
        if (env->failed || (verbose && strcmp(verbose, "1") == 0)) {
                if (env->lvssd)
                        print_log_tail("lvssd log", env->lvssd->log_path, 400);
                bool many = env->n_writers > 12;
                for (size_t i = 0; i < env->n_writers; i++) {
                        itest_writer *w = env->writers[i];
                        if (many && i >= 12 && proc_check_end(env, &w->p, true))
                                continue;
                        itest_dump_stream(w->p.label, &w->p.out);
                        fprintf(stderr, "  (%s, instance %s)\n", proc_exit_str(&w->p), itest_id_str(&w->instance_id));
                        print_log_tail(w->p.label, w->p.log_path, 40);
                }
                for (size_t i = 0; i < env->n_children; i++) {
                        itest_dump_stream(env->children[i]->label, &env->children[i]->out);
                        fprintf(stderr, "  (%s)\n", proc_exit_str(env->children[i]));
                }
        }

        reader_end();
        if (env_keep())
                fprintf(stderr, "# kept %s\n", env->dir);
        else {
                /* A finished copy of the copy provider is immutable (issue 9). */
                lvss_clear_immutable_tree(env->dir);
                nftw(env->dir, rm_one, 32, FTW_DEPTH | FTW_PHYS);
                test_run_dir_forget(env->dir);
        }

        for (size_t i = 0; i < env->n_writers; i++) {
                proc_free(&env->writers[i]->p);
                free(env->writers[i]->name);
                free(env->writers[i]->instance_name);
                free(env->writers[i]);
        }
        for (size_t i = 0; i < env->n_children; i++) {
                proc_free(env->children[i]);
                free(env->children[i]);
        }
        if (env->lvssd) {
                proc_free(env->lvssd);
                free(env->lvssd);
        }
        free(env->dir);
        free(env->state_dir);
        free(env->socket_path);
        free(env->notify_path);
        free(env->data_dir);
        free(env->build_root);
        free(env);
        current_env = NULL;
        *state = NULL;
        return ok ? 0 : -1;
}

int itest_main(const char *group, const struct CMUnitTest *tests, size_t n) {
        signal(SIGPIPE, SIG_IGN);
        setvbuf(stdout, NULL, _IOLBF, 0);
        return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

static pid_t fs_main_pid;
static void (*fs_cleanup_fn)(void);

static void fs_at_exit(void) {
        if (getpid() == fs_main_pid)
                fs_cleanup_fn();
}

int itest_main_with_fs(const char *group, const struct CMUnitTest *tests, size_t n, int (*setup)(void),
                       void (*cleanup)(void), void (*on_signal)(void)) {
        int r;

        fs_main_pid = getpid();
        fs_cleanup_fn = cleanup;
        r = setup();
        if (r != 0) {
                cleanup();
                return r;
        }
        atexit(fs_at_exit);
        /* on SIGTERM, SIGINT, SIGHUP and SIGABRT, before the test's directory goes (a mount may be in it) */
        r = test_run_dir_on_signal(on_signal);
        if (r < 0) {
                cleanup();
                return 1;
        }
        r = itest_main(group, tests, n);
        cleanup();
        return r;
}

static bool cond_session_ended(itest_env *env, void *userdata) {
        char *state = NULL;
        bool ended = itest_catalog_session(env, userdata, &state, NULL) && state && strcmp(state, "active") != 0;
        free(state);
        return ended;
}

char *itest_wait_session_end(itest_env *env, const vss_id *sid, char **ret_reason, unsigned timeout_ms) {
        char *state = NULL, *reason = NULL;

        itest_wait_state(env, cond_session_ended, (void *) sid, timeout_ms);
        if (!itest_catalog_session(env, sid, &state, &reason))
                FAIL("the catalog has no session %s", itest_id_str(sid));
        if (ret_reason)
                *ret_reason = reason;
        else
                free(reason);
        return state;
}

/* ---- restore, documents and programs (issue 4) ----------------------------------------------- */

itest_writer *itest_writer_start_with_id(itest_env *env, const char *name, const vss_id *writer_id,
                                         const char *const *args) {
        const char *v[96];
        char id[VSS_ID_STRING_MAX];
        size_t n = 0;

        /* the test writer's getopt takes the last --writer-id: ours, after the harness's random one */
        for (size_t i = 0; args && args[i] && n < ELEMENTS(v) - 3; i++)
                v[n++] = args[i];
        vss_id_format(writer_id, id);
        v[n++] = "--writer-id";
        v[n++] = id;
        v[n] = NULL;
        itest_writer *w = itest_writer_spawn(env, name, v);
        w->writer_id = *writer_id;
        itest_writer_wait_subscribed(env, w, itest_ms(env, 10000));
        return w;
}

void itest_writer_stop(itest_env *env, itest_writer *w) {
        proc_kill(&w->p, SIGTERM);
        if (!itest_wait_exit(env, &w->p, itest_ms(env, 15000))) {
                w->p.may_die = true;
                FAIL("%s did not exit within %u ms of SIGTERM", w->p.label, itest_ms(env, 15000));
        }
        if (w->p.valgrind && WIFEXITED(w->p.wstatus) && WEXITSTATUS(w->p.wstatus) == 99)
                FAIL("valgrind reported errors in %s (see %s)", w->p.label, w->p.log_path);
        if (!WIFEXITED(w->p.wstatus) || WEXITSTATUS(w->p.wstatus) != 0)
                FAIL("%s stopped badly on SIGTERM: %s", w->p.label, proc_exit_str(&w->p));
}

typedef struct program_spawn {
        char **argv;  /* with valgrind in front when wanted */
        char **envp;
        const char *log_path;
        bool stderr_to_stream;
} program_spawn;

/* In the forked child: only async-signal-safe calls until execve (the parent has threads). */
static int program_exec(int fd, void *arg) {
        const program_spawn *ps = arg;
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int err_fd = ps->stderr_to_stream ? fd
                                          : open(ps->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);

        if (null_fd < 0 || err_fd < 0)
                return 127;
        dup2(null_fd, 0);
        dup2(fd, 1);
        dup2(err_fd, 2);
        execve(ps->argv[0], ps->argv, ps->envp);
        return 127;
}

itest_proc *itest_spawn_program(itest_env *env, const char *label, const char *const *argv, bool valgrind,
                                bool stderr_to_stream) {
        char *full[128];
        size_t n = 0;
        bool vg = valgrind && env->valgrind;
        static unsigned counter;

        CHECK(argv && argv[0] && argv[0][0] == '/', "itest_spawn_program needs an absolute program path");
        if (access(argv[0], X_OK) < 0)
                FAIL("%s: %m (is it built?)", argv[0]);
        if (vg) {
                /* valgrind is found on PATH: resolve it here, the child only calls execve */
                const char *path = getenv("PATH");
                char *found = NULL;
                for (const char *p = path ? path : "/usr/bin:/bin"; p && *p && !found;) {
                        size_t l = strcspn(p, ":");
                        char *cand = itest_xprintf("%.*s/valgrind", (int) l, p);
                        if (access(cand, X_OK) == 0)
                                found = cand;
                        else
                                free(cand);
                        p += l;
                        if (*p == ':')
                                p++;
                }
                if (!found)
                        FAIL("valgrind is not on PATH");
                full[n++] = found;
                for (size_t i = 1; valgrind_argv[i]; i++)
                        full[n++] = xstrdup(valgrind_argv[i]);
        }
        for (size_t i = 0; argv[i] && n < ELEMENTS(full) - 1; i++)
                full[n++] = xstrdup(argv[i]);
        full[n] = NULL;

        char *log_path = itest_xprintf("%s/program-%u-%d.stderr", env->dir, counter++, (int) getpid());
        for (char *c = log_path + strlen(env->dir) + 1; *c; c++)
                if (*c == '/')
                        *c = '_';
        program_spawn ps = {
                .argv = full,
                .envp = build_envp(NULL),
                .log_path = log_path,
                .stderr_to_stream = stderr_to_stream,
        };
        itest_proc *p = itest_spawn_child(env, label, program_exec, &ps);
        p->valgrind = vg;
        p->log_path = log_path;
        free(ps.envp);
        for (size_t i = 0; i < n; i++)
                free(full[i]);
        return p;
}

int itest_program_exit(itest_env *env, itest_proc *p, unsigned timeout_ms) {
        if (!itest_wait_exit(env, p, timeout_ms)) {
                itest_dump_stream(p->label, &p->out);
                FAIL("%s did not exit within %u ms", p->label, timeout_ms);
        }
        if (!WIFEXITED(p->wstatus)) {
                itest_dump_stream(p->label, &p->out);
                FAIL("%s: %s", p->label, proc_exit_str(p));
        }
        int code = WEXITSTATUS(p->wstatus);
        if (p->valgrind && code == 99) {
                itest_dump_stream(p->label, &p->out);
                print_log_tail(p->label, p->log_path, 200);
                FAIL("valgrind reported errors in %s", p->label);
        }
        return code;
}

int itest_program_stop(itest_env *env, itest_proc *p, unsigned timeout_ms) {
        proc_kill(p, SIGTERM);
        return itest_program_exit(env, p, timeout_ms);
}

char *itest_stream_text(itest_stream *s) {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);

        if (!m)
                abort();
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < s->n_lines; i++) {
                fputs(s->lines[i].text, m);
                fputc('\n', m);
        }
        pthread_mutex_unlock(&lock);
        fclose(m);
        return buf;
}

bool itest_wait_file_lines(itest_env *env, const char *path, size_t n, unsigned timeout_ms) {
        int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) timeout_ms * 1000u;
        char *dir = xstrdup(path), *slash = strrchr(dir, '/');
        size_t lines = 0;
        off_t offset = 0;
        int fd = -1;
        bool ok = false;

        (void) env;
        CHECK(ifd >= 0, "inotify_init1: %m");
        if (slash)
                *slash = 0;
        CHECK(inotify_add_watch(ifd, slash ? dir : ".", IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) >= 0,
              "inotify_add_watch %s: %m", dir);
        for (;;) {
                /* read what was appended since last time (the watch is in place first: nothing is missed) */
                if (fd < 0)
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                        char buf[65536];
                        ssize_t k;
                        while ((k = pread(fd, buf, sizeof buf, offset)) > 0) {
                                offset += k;
                                for (ssize_t i = 0; i < k; i++)
                                        lines += buf[i] == '\n';
                        }
                }
                if (lines >= n) {
                        ok = true;
                        break;
                }
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline)
                        break;
                struct pollfd pfd = { .fd = ifd, .events = POLLIN };
                if (poll(&pfd, 1, (int) ((deadline - now + 999) / 1000)) > 0) {
                        char ev[8192];
                        while (read(ifd, ev, sizeof ev) > 0)
                                ;
                }
        }
        if (fd >= 0)
                close(fd);
        close(ifd);
        free(dir);
        return ok;
}

void itest_write_file(const char *path, const char *content, size_t len) {
        FILE *f = fopen(path, "we");
        CHECK(f, "cannot create %s: %m", path);
        CHECK(fwrite(content, 1, len, f) == len, "cannot write %s: %m", path);
        CHECK(fclose(f) == 0, "cannot write %s: %m", path);
}

char *itest_decode_value(const char *v) {
        if (!v || strcmp(v, "-") == 0)
                return NULL;
        char *out = xcalloc(strlen(v) + 1, 1), *o = out;
        for (const char *p = v; *p; p++) {
                unsigned x;
                if (*p == '%' && p[1] && p[2] && sscanf(p + 1, "%2x", &x) == 1) {
                        *o++ = (char) x;
                        p += 2;
                } else
                        *o++ = *p;
        }
        *o = 0;
        return out;
}

/* "key=value" among the space-separated words of @line; the value (owned, raw) or NULL when absent */
static char *line_field(const char *line, const char *key) {
        size_t kl = strlen(key);
        for (const char *p = line; p && *p;) {
                while (*p == ' ')
                        p++;
                size_t l = strcspn(p, " ");
                if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
                        return strndup(p + kl + 1, l - kl - 1);
                p += l;
        }
        return NULL;
}

static char *field_decoded(const char *line, const char *key) {
        char *raw = line_field(line, key);
        if (!raw)
                FAIL("test writer line without %s=: %s", key, line);
        char *v = itest_decode_value(raw);
        free(raw);
        return v;
}

static unsigned field_uint(const char *line, const char *key) {
        char *raw = line_field(line, key);
        if (!raw)
                FAIL("test writer line without %s=: %s", key, line);
        unsigned v = (unsigned) strtoul(raw, NULL, 10);
        free(raw);
        return v;
}

void itest_restore_report_get(itest_env *env, itest_writer *w, const char *event, const vss_id *sid,
                              itest_restore_report *ret) {
        char begin[160], rprefix[160], cprefix[160];

        memset(ret, 0, sizeof *ret);
        itest_event_prefix(begin, sizeof begin, event, sid, "begin");
        ssize_t b = itest_find_line(&w->p.out, begin, 0, SIZE_MAX);
        if (b < 0)
                return;
        ret->found = true;
        /* the end line (ok or fail) comes after every report line */
        size_t end = (size_t) b + 1;
        uint64_t deadline = itest_now_mono_usec() + (uint64_t) itest_step_bound(env) * 1000u;
        for (;;) {
                ssize_t ok = itest_find_event(w, event, sid, "ok", end, SIZE_MAX);
                ssize_t fail = itest_find_event(w, event, sid, "fail", end, SIZE_MAX);
                if (ok >= 0 || fail >= 0) {
                        end = (size_t) (ok >= 0 && (fail < 0 || ok < fail) ? ok : fail);
                        break;
                }
                uint64_t now = itest_now_mono_usec();
                if (now >= deadline) {
                        itest_dump_stream(w->p.label, &w->p.out);
                        FAIL("%s: event %s began but did not end within %u ms", w->p.label, event,
                             itest_step_bound(env));
                }
                itest_pump(env, (int) ((deadline - now + 999) / 1000));
        }
        snprintf(rprefix, sizeof rprefix, "restore %s %s ", event, itest_id_str(sid));
        snprintf(cprefix, sizeof cprefix, "component %s %s ", event, itest_id_str(sid));
        ssize_t r = itest_find_line(&w->p.out, rprefix, (size_t) b, end);
        if (r < 0)
                FAIL("%s: no \"%s\" line", w->p.label, rprefix);
        ret->restore_type = field_uint(w->p.out.lines[r].text, "restore_type");
        size_t expect = field_uint(w->p.out.lines[r].text, "components");
        ret->v = xcalloc(expect ? expect : 1, sizeof *ret->v);
        for (size_t from = (size_t) b;;) {
                ssize_t c = itest_find_line(&w->p.out, cprefix, from, end);
                if (c < 0)
                        break;
                const char *t = w->p.out.lines[c].text;
                CHECK(ret->n < expect, "%s: more component lines than components=%zu", w->p.label, expect);
                itest_restore_component *rc = &ret->v[ret->n++];
                rc->name = field_decoded(t, "name");
                rc->logical_path = field_decoded(t, "path");
                rc->type = field_uint(t, "type");
                rc->selected = field_uint(t, "selected") != 0;
                rc->selected_for_restore = field_uint(t, "selected_for_restore") != 0;
                rc->backup_metadata = field_decoded(t, "backup_metadata");
                rc->backup_stamp = field_decoded(t, "backup_stamp");
                rc->previous_backup_stamp = field_decoded(t, "previous_backup_stamp");
                rc->restore_metadata = field_decoded(t, "restore_metadata");
                rc->file_restore_status = field_uint(t, "file_restore_status");
                from = (size_t) c + 1;
        }
        CHECK(ret->n == expect, "%s: %zu component lines, components=%zu", w->p.label, ret->n, expect);
}

void itest_restore_report_free(itest_restore_report *r) {
        for (size_t i = 0; i < r->n; i++) {
                itest_restore_component *c = &r->v[i];
                free(c->name);
                free(c->logical_path);
                free(c->backup_metadata);
                free(c->backup_stamp);
                free(c->previous_backup_stamp);
                free(c->restore_metadata);
        }
        free(r->v);
        memset(r, 0, sizeof *r);
}

const itest_restore_component *itest_restore_report_find(const itest_restore_report *r, const char *name) {
        for (size_t i = 0; i < r->n; i++)
                if (r->v[i].name && strcmp(r->v[i].name, name) == 0)
                        return &r->v[i];
        return NULL;
}

char *itest_backup_with_components(itest_env *env, itest_writer *const *ws, size_t n, vss_id *ret_set_id) {
        vss_backup_components *bc = itest_requester(env, true);
        unsigned count = 0;
        struct added {
                vss_id iid, wid;
                vss_component_type type;
                char *lp, *name;
        } added[64];
        size_t n_added = 0;
        itest_statuses st = { 0 };
        char *xml = NULL;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_get_writer_metadata_count(bc, &count), VSS_S_OK, "vss_get_writer_metadata_count");
        for (unsigned i = 0; i < count; i++) {
                vss_examine_writer_metadata *md = NULL;
                vss_id iid, wid;
                unsigned nc = 0;
                bool wanted = false;

                CHECK_HR(vss_get_writer_metadata(bc, i, &iid, &md), VSS_S_OK, "vss_get_writer_metadata(%u)", i);
                for (size_t k = 0; k < n; k++)
                        wanted |= vss_id_equal(&ws[k]->instance_id, &iid);
                if (!wanted)
                        continue;
                CHECK_HR(vss_examine_writer_metadata_get_identity(md, NULL, &wid, NULL, NULL, NULL, NULL), VSS_S_OK,
                         "get_identity");
                CHECK_HR(vss_examine_writer_metadata_get_file_counts(md, NULL, NULL, &nc), VSS_S_OK, "get_file_counts");
                for (unsigned c = 0; c < nc; c++) {
                        const vss_component_info *ci = NULL;
                        CHECK_HR(vss_examine_writer_metadata_get_component(md, c, &ci), VSS_S_OK, "get_component");
                        CHECK_HR(vss_add_component(bc, &iid, &wid, ci->type, ci->logical_path, ci->component_name),
                                 VSS_S_OK, "vss_add_component(%s)", ci->component_name);
                        CHECK(n_added < ELEMENTS(added), "too many components");
                        added[n_added++] = (struct added) { iid, wid, ci->type, ci->logical_path ? xstrdup(ci->logical_path) : NULL,
                                                            xstrdup(ci->component_name) };
                }
        }
        CHECK(n_added > 0, "the writers have no components");
        vss_id set = itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        for (size_t i = 0; i < n_added; i++)
                CHECK_HR(vss_set_backup_succeeded(bc, &added[i].iid, &added[i].wid, added[i].type, added[i].lp,
                                                  added[i].name, true),
                         VSS_S_OK, "vss_set_backup_succeeded(%s)", added[i].name);
        STEP_OK(env, bc, vss_backup_complete);
        itest_gather_status(env, bc, &st);
        for (size_t k = 0; k < n; k++)
                CHECK_STATUS(&st, ws[k], VSS_WS_STABLE, VSS_S_OK, VSS_S_OK, NULL);
        itest_statuses_free(&st);
        CHECK_HR(vss_save_as_xml(bc, &xml), VSS_S_OK, "vss_save_as_xml");
        CHECK(xml && *xml, "empty document");
        itest_requester_release(env, bc);
        for (size_t i = 0; i < n_added; i++) {
                free(added[i].lp);
                free(added[i].name);
        }
        if (ret_set_id)
                *ret_set_id = set;
        return xml;
}

/* ---- crashes, restarts, configuration, other users (issue 5) ----------------------------------- */

#include <grp.h>
#include <pwd.h>

/* Start lvssd with the environment's options (and @config_path) and wait for READY=1. */
static void lvssd_start_with_config(itest_env *env, const char *config_path, bool restarted) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char idt[32], evt[32], hold[32];
        char *argv[32];
        size_t n = 0;

        if (notify_fd < 0) {
                if (strlen(env->notify_path) >= sizeof sa.sun_path)
                        FAIL("notify socket path too long: %s", env->notify_path);
                strcpy(sa.sun_path, env->notify_path);
                unlink(env->notify_path);
                notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (notify_fd < 0 || bind(notify_fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                        FAIL("notify socket %s: %m", env->notify_path);
        } else {
                /* what the lvssd before said (STOPPING=1, STATUS=...) is not this one's READY */
                char junk[4096];
                while (recv(notify_fd, junk, sizeof junk, 0) > 0)
                        ;
        }

        char *path = itest_xprintf("%s/src/coordinator/lvssd", env->build_root);
        if (access(path, X_OK) < 0)
                FAIL("%s: %m (is lvssd built?)", path);
        argv[n++] = path;
        argv[n++] = "--foreground";
        argv[n++] = "--socket";
        argv[n++] = env->socket_path;
        argv[n++] = "--state-dir";
        argv[n++] = env->state_dir;
        if (config_path) {
                argv[n++] = "--config";
                argv[n++] = (char *) config_path;
        }
        if (env->lvssd_opts.identify_timeout_ms) {
                snprintf(idt, sizeof idt, "%u", itest_deadline_ms(env, env->lvssd_opts.identify_timeout_ms));
                argv[n++] = "--identify-timeout";
                argv[n++] = idt;
        }
        if (env->lvssd_opts.event_timeout_ms) {
                snprintf(evt, sizeof evt, "%u", itest_deadline_ms(env, env->lvssd_opts.event_timeout_ms));
                argv[n++] = "--event-timeout";
                argv[n++] = evt;
        }
        if (env->lvssd_opts.hold_window_ms) {
                snprintf(hold, sizeof hold, "%u", env->lvssd_opts.hold_window_ms);
                argv[n++] = "--hold-window";
                argv[n++] = hold;
        }
        argv[n] = NULL;

        itest_proc *p = proc_new(env, restarted ? "lvssd (restarted)" : "lvssd", "lvssd.log");
        p->valgrind = env->valgrind;
        if (p->valgrind && !restarted)
                itest_note("lvssd and the test writers run under valgrind; waits are scaled by %u", env->factor);
        env->lvssd = p;
        if (restarted) {
                FILE *f = fopen(p->log_path, "ae");
                if (f) {
                        fprintf(f, "---- the test starts lvssd again on the same state directory ----\n");
                        fclose(f);
                }
        }
        char *ns = itest_xprintf("NOTIFY_SOCKET=%s", env->notify_path);
        const char *extra[] = { ns, NULL };
        proc_spawn(p, argv, extra, -1, true);
        free(ns);
        free(path);

        lvssd_wait_ready(env, p, notify_fd);
}

void itest_start_lvssd_config(itest_env *env, const itest_lvssd_opts *opts, const char *config_path) {
        CHECK(!env->lvssd, "lvssd started twice");
        if (opts)
                env->lvssd_opts = *opts;
        lvssd_start_with_config(env, config_path, false);
}

void itest_start_lvssd(itest_env *env, const itest_lvssd_opts *opts) {
        itest_start_lvssd_config(env, opts, NULL);
}

void itest_restart_lvssd(itest_env *env, const char *config_path) {
        CHECK(env->lvssd, "no lvssd to restart");
        if (!env->lvssd->reaped)
                itest_wait_exit(env, env->lvssd, 0);
        CHECK(env->lvssd->reaped, "lvssd is still running: kill it first (itest_kill_lvssd)");
        proc_free(env->lvssd);
        free(env->lvssd);
        env->lvssd = NULL;
        lvssd_start_with_config(env, config_path, true);
}

/* ---- a child as another user ---- */

typedef struct child_as {
        const char *user;
        uid_t uid;
        gid_t gid;
        gid_t groups[256];
        int n_groups;
        pid_t parent;
        itest_child_fn fn;
        void *arg;
} child_as;

static int child_as_main(int fd, void *userdata) {
        const child_as *c = userdata;

        if (setgroups((size_t) c->n_groups, c->groups) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
            setresuid(c->uid, c->uid, c->uid) < 0) {
                itest_child_say(fd, "cannot become %s: %s", c->user, strerror(errno));
                return 126;
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != c->parent)
                return 127;
        return c->fn(fd, c->arg);
}

itest_proc *itest_spawn_child_as(itest_env *env, const char *label, const char *user, itest_child_fn fn, void *arg) {
        child_as *c = xcalloc(1, sizeof *c);
        struct passwd *pw = getpwnam(user);

        CHECK(pw, "no user %s", user);
        c->user = user;
        c->uid = pw->pw_uid;
        c->gid = pw->pw_gid;
        c->n_groups = (int) ELEMENTS(c->groups);
        CHECK(getgrouplist(user, pw->pw_gid, c->groups, &c->n_groups) >= 0, "%s is in too many groups", user);
        c->parent = getpid();
        c->fn = fn;
        c->arg = arg;
        /* the child has its own copy of *c (fork) */
        itest_proc *p = itest_spawn_child(env, label, child_as_main, c);
        free(c);
        return p;
}

/* ---- the admin methods over raw sd-bus ---- */

/* A call without arguments. */
static vss_hresult admin_call(const char *socket_path, const char *method, sd_bus_message **ret_reply) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_hresult hr = VSS_S_OK;
        int r;

        r = lvss_bus_connect(socket_path, &bus);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, method);
        if (r >= 0)
                r = sd_bus_call(bus, m, UINT64_C(120) * 1000000u, &err, ret_reply);
        if (r < 0)
                hr = lvss_bus_error_to_hresult(&err, r);
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        return hr;
}

/* An id argument; NULL: the null id. */
static int append_id_or_null(sd_bus_message *m, const vss_id *id) {
        vss_id null = { 0 };
        return lvss_bus_append_id(m, id ? id : &null);
}

vss_hresult itest_admin_call(const char *socket_path, const char *method) {
        sd_bus_message *reply = NULL;
        vss_hresult hr = admin_call(socket_path, method, &reply);
        sd_bus_message_unref(reply);
        return hr;
}

vss_hresult itest_list_shadows(const char *socket_path, const vss_id *set_id, itest_shadow_list *ret) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_hresult hr = VSS_S_OK;
        size_t cap = 0;
        int r;

        memset(ret, 0, sizeof *ret);
        r = lvss_bus_connect(socket_path, &bus);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           "ListShadows");
        if (r >= 0)
                r = append_id_or_null(m, set_id);
        if (r >= 0)
                r = sd_bus_call(bus, m, UINT64_C(120) * 1000000u, &err, &reply);
        if (r < 0) {
                hr = lvss_bus_error_to_hresult(&err, r);
                goto finish;
        }
        hr = VSS_E_UNEXPECTED;
        if (sd_bus_message_enter_container(reply, 'a', "(ayayayayssssbiut)") < 0)
                goto finish;
        while ((r = sd_bus_message_enter_container(reply, 'r', "ayayayayssssbiut")) > 0) {
                itest_shadow s = { 0 };
                const char *pn, *vol, *path, *state;
                int persistent;

                if (lvss_bus_read_id(reply, &s.snapshot_id) < 0 || lvss_bus_read_id(reply, &s.set_id) < 0 ||
                    lvss_bus_read_id(reply, &s.session_id) < 0 || lvss_bus_read_id(reply, &s.provider_id) < 0 ||
                    sd_bus_message_read(reply, "ssssbiut", &pn, &vol, &path, &state, &persistent, &s.context,
                                        &s.attributes, &s.created_usec) < 0 ||
                    sd_bus_message_exit_container(reply) < 0)
                        goto finish;
                s.provider_name = xstrdup(pn);
                s.volume = xstrdup(vol);
                s.snapshot_path = xstrdup(path);
                s.state = xstrdup(state);
                s.persistent = persistent;
                if (ret->n == cap) {
                        cap = cap ? 2 * cap : 8;
                        ret->v = realloc(ret->v, cap * sizeof *ret->v);
                        if (!ret->v)
                                abort();
                }
                ret->v[ret->n++] = s;
        }
        if (r >= 0)
                hr = VSS_S_OK;
finish:
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return hr;
}

void itest_shadow_list_free(itest_shadow_list *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].provider_name);
                free(l->v[i].volume);
                free(l->v[i].snapshot_path);
                free(l->v[i].state);
        }
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

const itest_shadow *itest_shadow_find(const itest_shadow_list *l, const vss_id *snapshot_id) {
        for (size_t i = 0; i < l->n; i++)
                if (vss_id_equal(&l->v[i].snapshot_id, snapshot_id))
                        return &l->v[i];
        return NULL;
}

vss_hresult itest_delete_shadows(const char *socket_path, const char *what, const vss_id *id, const char *volume,
                                 bool oldest, uint32_t *ret_deleted) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_hresult hr = VSS_S_OK;
        uint32_t deleted = 0;
        int r;

        r = lvss_bus_connect(socket_path, &bus);
        if (r < 0)
                return lvss_bus_error_to_hresult(NULL, r);
        r = sd_bus_message_new_method_call(bus, &m, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                           "DeleteShadows");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", what);
        if (r >= 0)
                r = append_id_or_null(m, id);
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", volume ? volume : "", (int) oldest);
        if (r >= 0)
                r = sd_bus_call(bus, m, UINT64_C(120) * 1000000u, &err, &reply);
        if (r < 0)
                hr = lvss_bus_error_to_hresult(&err, r);
        else if (sd_bus_message_read(reply, "u", &deleted) < 0)
                hr = VSS_E_UNEXPECTED;
        if (ret_deleted)
                *ret_deleted = deleted;
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return hr;
}

vss_hresult itest_provider_id(const char *socket_path, const char *name, vss_id *ret) {
        sd_bus_message *reply = NULL;
        vss_hresult hr = admin_call(socket_path, "ListProviders", &reply);
        int r;

        if (VSS_FAILED(hr))
                return hr;
        hr = VSS_E_UNEXPECTED;
        if (sd_bus_message_enter_container(reply, 'a', "(ayssssb)") < 0)
                goto finish;
        hr = VSS_E_OBJECT_NOT_FOUND;
        while ((r = sd_bus_message_enter_container(reply, 'r', "ayssssb")) > 0) {
                const char *n, *type, *version, *volumes;
                int is_default;
                vss_id id;

                if (lvss_bus_read_id(reply, &id) < 0 ||
                    sd_bus_message_read(reply, "ssssb", &n, &type, &version, &volumes, &is_default) < 0 ||
                    sd_bus_message_exit_container(reply) < 0) {
                        hr = VSS_E_UNEXPECTED;
                        goto finish;
                }
                if (strcmp(n, name) == 0) {
                        *ret = id;
                        hr = VSS_S_OK;
                }
        }
        if (r < 0)
                hr = VSS_E_UNEXPECTED;
finish:
        sd_bus_message_unref(reply);
        return hr;
}

char *itest_catalog_query(itest_env *env, const char *sql) {
        sqlite3 *db = catalog_open(env);
        sqlite3_stmt *st = NULL;
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (!db) {
                itest_note("catalog: cannot open %s/catalog.db", env->state_dir);
                return NULL;
        }
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
                itest_note("catalog: %s: %s", sql, sqlite3_errmsg(db));
                sqlite3_close(db);
                return NULL;
        }
        FILE *m = open_memstream(&buf, &len);
        bool first = true;
        if (!m)
                abort();
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);
                fprintf(m, "%s%s", first ? "" : "\n", t ? (const char *) t : "NULL");
                first = false;
        }
        fclose(m);
        if (r != SQLITE_DONE) {
                itest_note("catalog: %s: %s", sql, sqlite3_errmsg(db));
                free(buf);
                buf = NULL;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        return buf;
}

/* ---- a test's own exec provider ---- */

void itest_exec_provider_write(itest_env *env, itest_exec_provider *p, const char *name, const char *body) {
        *p = (itest_exec_provider) { .name = xstrdup(name), .dir = itest_xprintf("%s/%s", env->dir, name) };
        CHECK(mkdir(p->dir, 0755) == 0, "mkdir %s: %m", p->dir);
        char *script = itest_xprintf("#!/bin/sh\nD='%s'\n%s", p->dir, body);
        char *path = itest_xprintf("%s/provider", p->dir);
        itest_write_file(path, script, strlen(script));
        CHECK(chmod(path, 0755) == 0, "chmod %s: %m", path);
        char *fifo = itest_xprintf("%s/fifo", p->dir);
        CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s: %m", fifo);
        free(fifo);
        free(path);
        free(script);
}

void itest_exec_provider_start(itest_env *env, itest_exec_provider *p, const itest_lvssd_opts *opts,
                               const char *extra_fmt, ...) {
        va_list ap;
        char *extra;

        va_start(ap, extra_fmt);
        if (vasprintf(&extra, extra_fmt, ap) < 0)
                abort();
        va_end(ap);
        p->config = itest_write_config(env, "# the test's own exec provider\n[Coordinator]\nExecProvider=%s:%s/provider\n%s",
                                       p->name, p->dir, extra);
        free(extra);
        itest_start_lvssd_config(env, opts, p->config);
        CHECK_HR(itest_provider_id(env->socket_path, p->name, &p->id), VSS_S_OK,
                 "ListProviders lists the exec provider %s", p->name);
}

void itest_exec_provider_free(itest_exec_provider *p) {
        free(p->name);
        free(p->dir);
        free(p->config);
        *p = (itest_exec_provider) { 0 };
}

/* ---- a fake exec provider ---- */

char *itest_fake_provider(itest_env *env) {
        itest_exec_provider p;

        itest_exec_provider_write(env, &p, "fake",
                "# A FAKE lvss exec provider for the integration tests: it copies directories\n"
                "# and can be told to hang. Written by tests/integration/harness.c.\n"
                "echo \"$*\" >> \"$D/calls\"\n"
                "block() {\n"
                "        echo $$ > \"$D/$1.tmp\" && mv \"$D/$1.tmp\" \"$D/$1\"\n"
                "        read -r _ < \"$D/fifo\"  # nobody writes to it: blocks until killed\n"
                "        exit 1\n"
                "}\n"
                "case \"$1\" in\n"
                "is-supported) [ -d \"$2\" ] ;;\n"
                "prepare) [ -d \"$4\" ] || exit 1\n"
                "        [ ! -e \"$D/prepare-says\" ] || cat \"$D/prepare-says\" ;;\n"
                "commit)\n"
                "        [ -e \"$D/hang-commit\" ] && block commit-started\n"
                "        echo \"commit-env LVSS_WRITABLE=${LVSS_WRITABLE:-}\" >> \"$D/calls\"\n"
                "        mkdir -p \"$D/snaps/$3\" && cp -a \"$4/.\" \"$D/snaps/$3/\" && echo \"$D/snaps/$3\" ;;\n"
                "finalize) [ ! -e \"$D/finalize-fails\" ] || { echo 'fake-provider: finalize fails' >&2; exit 5; }\n"
                "        chmod -R a-w -- \"$2\" ;;\n"
                "delete)\n"
                "        [ -e \"$D/hang-delete\" ] && block delete-started\n"
                "        rm -rf -- \"$2\" ;;\n"
                "abort) rm -rf -- \"$D/snaps/$3\" ;;\n"
                "*) echo \"fake-provider: unknown step $1\" >&2; exit 2 ;;\n"
                "esac\n");
        char *snaps = itest_xprintf("%s/snaps", p.dir);
        CHECK(mkdir(snaps, 0755) == 0, "mkdir %s: %m", snaps);
        free(snaps);
        char *dir = p.dir;
        p.dir = NULL;
        itest_exec_provider_free(&p);
        return dir;
}

/* ---- test accounts ---- */

#define ACCOUNTS_MAX 8

typedef struct account {
        char name[32];
        bool group;
        bool exists;
} account;

static account accounts[ACCOUNTS_MAX];
static size_t n_accounts;
static char accounts_program[64];
static char accounts_tag;
static pid_t accounts_pid;

/* Runs a system tool quietly (its stderr stays visible); its exit status, or -1 when it could not run. */
static int run_tool(const char *const *argv) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *) argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -1;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void itest_accounts_remove(void) {
        bool left = false;

        /* a forked child inherits the atexit handler: only the process that made the accounts removes them */
        if (accounts_pid == 0 || getpid() != accounts_pid)
                return;
        /* users first (newest first), then the groups they were in */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = n_accounts; i-- > 0;) {
                        account *a = &accounts[i];
                        if (!a->exists || a->group != (pass == 1))
                                continue;
                        /* -f: when a signal ends the test, children of the user may still run */
                        const char *const user_del[] = { "userdel", "-f", a->name, NULL };
                        const char *const group_del[] = { "groupdel", a->name, NULL };
                        if (run_tool(a->group ? group_del : user_del) == 0)
                                a->exists = false;
                }
        for (size_t i = 0; i < n_accounts; i++)
                if (accounts[i].exists) {
                        if (!left)
                                fprintf(stderr, "%s: could not remove the test account(s)", accounts_program);
                        fprintf(stderr, " %s%s", accounts[i].group ? "group " : "", accounts[i].name);
                        left = true;
                }
        if (left)
                fputc('\n', stderr);
}

static void accounts_on_fatal_signal(int sig) {
        itest_accounts_remove();
        signal(sig, SIG_DFL);
        raise(sig);
}

int itest_accounts_begin(const char *program, char tag, const char *why) {
        if (geteuid() != 0) {
                if (why)
                        printf("%s: skipped: needs root (%s)\n", program, why);
                return 77;
        }
        snprintf(accounts_program, sizeof accounts_program, "%s", program);
        accounts_tag = tag;
        if (accounts_pid == 0) {
                accounts_pid = getpid();
                atexit(itest_accounts_remove);
                signal(SIGTERM, accounts_on_fatal_signal);
                signal(SIGINT, accounts_on_fatal_signal);
        }
        return 0;
}

/* Runs @argv (the name of the account is made already) and records the account. */
static int account_add(account *a, const char *const *argv) {
        int r = run_tool(argv);
        if (r < 0) {
                printf("%s: skipped: %s not found (apt-get install passwd)\n", accounts_program, argv[0]);
                return 77;
        }
        if (r != 0) {
                fprintf(stderr, "%s: %s %s failed (%d)\n", accounts_program, argv[0], a->name, r);
                return 1;
        }
        a->exists = true;
        n_accounts++;
        return 0;
}

int itest_group_add(const char *suffix, const char **ret_name) {
        assert(accounts_pid == getpid() && n_accounts < ACCOUNTS_MAX);
        account *a = &accounts[n_accounts];
        *a = (account) { .group = true };
        snprintf(a->name, sizeof a->name, "lvss%cg%d%s", accounts_tag, (int) getpid(), suffix ? suffix : "");
        int r = account_add(a, (const char *const[]) { "groupadd", a->name, NULL });
        if (r == 0)
                *ret_name = a->name;
        return r;
}

int itest_user_add(const char *suffix, const char *group, const char **ret_name) {
        assert(accounts_pid == getpid() && n_accounts < ACCOUNTS_MAX);
        account *a = &accounts[n_accounts];
        *a = (account) { .group = false };
        snprintf(a->name, sizeof a->name, "lvss%c%d%s", accounts_tag, (int) getpid(), suffix ? suffix : "");
        const char *const plain[] = { "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", a->name, NULL };
        const char *const in_group[] = { "useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-G", group, a->name, NULL };
        int r = account_add(a, group ? in_group : plain);
        if (r == 0)
                *ret_name = a->name;
        return r;
}

uid_t itest_uid_of(const char *user) {
        struct passwd *pw = getpwnam(user);
        CHECK(pw, "no user %s", user);
        return pw->pw_uid;
}

void itest_open_test_dir(itest_env *env) {
        CHECK(chmod(env->dir, 0711) == 0, "chmod %s: %m", env->dir);
}

char *itest_write_config(itest_env *env, const char *fmt, ...) {
        va_list ap;
        char *body, *path = itest_xprintf("%s/lvssd.conf", env->dir);

        va_start(ap, fmt);
        if (vasprintf(&body, fmt, ap) < 0)
                abort();
        va_end(ap);
        itest_write_file(path, body, strlen(body));
        free(body);
        return path;
}

vss_hresult itest_child_result(itest_env *env, itest_proc *p, const char *key) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s ", key);
        size_t l = itest_wait_line_must(env, p, prefix, itest_ms(env, 30000));
        return (vss_hresult) (uint32_t) strtoul(p->out.lines[l].text + strlen(prefix), NULL, 16);
}

bool itest_lvssd_log_has(itest_env *env, const char *what) {
        char *log = itest_read_file(env->lvssd->log_path);
        bool r = log && strstr(log, what);
        free(log);
        return r;
}

void itest_wait_child_ok(itest_env *env, itest_proc *p) {
        if (!itest_wait_exit(env, p, itest_ms(env, 30000))) {
                itest_dump_stream(p->label, &p->out);
                FAIL("%s did not end", p->label);
        }
        if (!WIFEXITED(p->wstatus) || WEXITSTATUS(p->wstatus) != 0) {
                itest_dump_stream(p->label, &p->out);
                FAIL("%s ended badly (status 0x%x)", p->label, p->wstatus);
        }
}

/* ---- file systems on loop devices ----------------------------------------------------- */

int itest_run_tool(char *const argv[], char *out, size_t out_size) {
        int pipefd[2], status;
        size_t n = 0;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return 127;
        pid = fork();
        if (pid < 0) {
                close(pipefd[0]);
                close(pipefd[1]);
                return 127;
        }
        if (pid == 0) {
                static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
                int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                dup2(out ? pipefd[1] : null_fd, 1);
                for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
                        char path[256];
                        snprintf(path, sizeof path, "%s/%s", dirs[i], argv[0]);
                        execv(path, argv);
                }
                _exit(127);
        }
        close(pipefd[1]);
        for (;;) {
                char sink[256];
                ssize_t k = out && n + 1 < out_size ? read(pipefd[0], out + n, out_size - 1 - n)
                                                    : read(pipefd[0], sink, sizeof sink);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (out && n + 1 < out_size)
                        n += (size_t) k;
        }
        close(pipefd[0]);
        if (out)
                out[n] = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 127;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int itest_private_fs_dir(const char *program, const char *name, const char *why, char *dir, size_t size) {
        const char *tmp = getenv("TMPDIR");

        dir[0] = 0;
        if (geteuid() != 0) {
                printf("%s: skipped: needs root (%s)\n", program, why);
                return 77;
        }
        if ((size_t) snprintf(dir, size, "%s/lvss-%s-XXXXXX", tmp && *tmp && strlen(tmp) < 100 ? tmp : "/tmp",
                              name) >= size) {
                dir[0] = 0;
                fprintf(stderr, "%s: the temporary directory's name is too long\n", program);
                return 1;
        }
        if (!mkdtemp(dir)) {
                fprintf(stderr, "%s: mkdtemp %s: %m\n", program, dir);
                dir[0] = 0;
                return 1;
        }
        /* a mount namespace of our own (no threads yet): the mounts cannot outlive us */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("%s: skipped: no private mount namespace (%m)\n", program);
                return 77;
        }
        return 0;
}

int itest_loop_fs_make(const char *program, itest_loop_fs *f, const char *fstype, long long size,
                       const char *mkfs_force, const char *install) {
        struct loop_info64 info = { 0 };
        char out[256], mkfs[32];
        int r;

        if (mkdir(f->mnt, 0755) < 0) {
                fprintf(stderr, "%s: mkdir %s: %m\n", program, f->mnt);
                return 1;
        }
        int fd = open(f->image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, size) < 0) {
                fprintf(stderr, "%s: the image %s: %m\n", program, f->image);
                if (fd >= 0)
                        close(fd);
                return 1;
        }
        close(fd);

        char *losetup_argv[] = { (char *) "losetup", (char *) "--find", (char *) "--show", f->image, NULL };
        r = itest_run_tool(losetup_argv, out, sizeof out);
        if (r == 127) {
                printf("%s: skipped: losetup not found\n", program);
                return 77;
        }
        if (r != 0) {
                printf("%s: skipped: losetup --find --show failed (%d): no loop devices here?\n", program, r);
                return 77;
        }
        out[strcspn(out, "\n")] = 0;
        if (strncmp(out, "/dev/", 5) != 0 || strlen(out) >= sizeof f->loop_dev) {
                fprintf(stderr, "%s: losetup printed '%s'\n", program, out);
                return 1;
        }
        strcpy(f->loop_dev, out);
        /* held open, the device detaches itself once we let go (autoclear), taking the unlinked image along */
        f->loop_fd = open(f->loop_dev, O_RDONLY | O_CLOEXEC);
        if (f->loop_fd < 0 || ioctl(f->loop_fd, LOOP_GET_STATUS64, &info) < 0) {
                fprintf(stderr, "%s: the loop device %s: %m\n", program, f->loop_dev);
                return 1;
        }
        info.lo_flags |= LO_FLAGS_AUTOCLEAR;
        if (ioctl(f->loop_fd, LOOP_SET_STATUS64, &info) < 0 || unlink(f->image) < 0) {
                fprintf(stderr, "%s: autoclear %s: %m\n", program, f->loop_dev);
                return 1;
        }

        snprintf(mkfs, sizeof mkfs, "mkfs.%s", fstype);
        char *mkfs_argv[] = { mkfs, (char *) "-q", (char *) mkfs_force, f->loop_dev, NULL };
        r = itest_run_tool(mkfs_argv, NULL, 0);
        if (r == 127) {
                printf("%s: skipped: %s not found (%s)\n", program, mkfs, install);
                return 77;
        }
        if (r != 0) {
                fprintf(stderr, "%s: %s %s failed (%d)\n", program, mkfs, f->loop_dev, r);
                return 1;
        }
        if (mount(f->loop_dev, f->mnt, fstype, 0, NULL) < 0) {
                if (errno == ENODEV) {
                        printf("%s: skipped: the kernel has no %s (mount: ENODEV)\n", program, fstype);
                        return 77;
                }
                fprintf(stderr, "%s: mount %s on %s: %m\n", program, f->loop_dev, f->mnt);
                return 1;
        }
        f->mounted = 1;
        return 0;
}

/* Whether @f's loop device is still attached to its image (sysfs). */
static bool loop_attached(const itest_loop_fs *f) {
        char path[128], backing[512];
        ssize_t k;

        if (!f->loop_dev[0] || !f->image[0])
                return false;
        snprintf(path, sizeof path, "/sys/block/%s/loop/backing_file", strrchr(f->loop_dev, '/') + 1);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        k = read(fd, backing, sizeof backing - 1);
        close(fd);
        if (k <= 0)
                return false;
        backing[k] = 0;
        return strncmp(backing, f->image, strlen(f->image)) == 0;
}

void itest_loop_fs_release(const char *program, itest_loop_fs *f) {
        if (f->mounted) {
                if (umount2(f->mnt, 0) < 0 && errno != EINVAL && errno != ENOENT) {
                        fprintf(stderr, "%s: umount %s: %m; detaching it lazily\n", program, f->mnt);
                        (void) umount2(f->mnt, MNT_DETACH);
                }
                f->mounted = 0;
        }
        if (f->loop_fd >= 0) {
                /* autoclear: the device detaches itself once the last user lets go */
                close(f->loop_fd);
                f->loop_fd = -1;
        }
        if (loop_attached(f)) {
                char *argv[] = { (char *) "losetup", (char *) "-d", f->loop_dev, NULL };
                if (itest_run_tool(argv, NULL, 0) != 0 && loop_attached(f))
                        fprintf(stderr, "%s: losetup -d %s failed\n", program, f->loop_dev);
        }
        f->loop_dev[0] = 0;
        if (f->image[0])
                (void) unlink(f->image);
        if (f->mnt[0])
                (void) rmdir(f->mnt);
}

void itest_loop_fs_release_in_signal(itest_loop_fs *f) {
        if (f->mounted)
                (void) umount2(f->mnt, MNT_DETACH);
        if (f->loop_fd >= 0) {
                (void) ioctl(f->loop_fd, LOOP_CLR_FD, 0);
                close(f->loop_fd);
        }
        if (f->image[0])
                (void) unlink(f->image);
        if (f->mnt[0])
                (void) rmdir(f->mnt);
}

/* issue 11 §1: how many children of @ppid are in state @state ('D') or in any state (0). */
int itest_children_in_state(pid_t ppid, char state) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d))) {
                char path[64], buf[512];
                int pid = atoi(e->d_name), ppid_seen = 0;
                char st = 0;

                if (pid <= 0)
                        continue;
                snprintf(path, sizeof path, "/proc/%d/stat", pid);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                ssize_t k = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (k <= 0)
                        continue;
                buf[k] = 0;
                char *rp = strrchr(buf, ')'); /* the name may hold anything */
                if (!rp || sscanf(rp + 1, " %c %d", &st, &ppid_seen) != 2)
                        continue;
                if (ppid_seen == ppid && (state == 0 || st == state))
                        n++;
        }
        closedir(d);
        return n;
}

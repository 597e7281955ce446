/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The exec provider: an external program makes the snapshots, one call per
 * step (the protocol is in provider.h; examples/providers/README.md explains
 * it for program authors). The door for LVM thin, ZFS, Ceph RBD, cloud disks.
 *
 * Running the program. fork + execve, no shell: PROGRAM STEP ARGS...; stdin
 * is /dev/null, stdout a pipe read into a 64 KiB buffer (more is read and
 * dropped, so a chatty program never blocks), stderr is lvssd's (its log).
 * The environment is PATH=/usr/sbin:/usr/bin:/sbin:/bin and
 * LVSS_PROVIDER_NAME=<name>, nothing else. When lvssd's own environment has
 * LVSS_EXEC_PATH (read once, when the provider is made), that is the PATH
 * instead: a knob for packaging (tools in unusual places) and for the tests,
 * which put fake lvcreate/zfs/... first. The child gets an empty signal mask
 * and default dispositions (lvssd blocks SIGCHLD and ignores SIGPIPE), no
 * other descriptors, its own process group, and SIGKILL when its parent goes
 * (PR_SET_PDEATHSIG: when the coordinator kills the commit child at the end
 * of the hold window, the program does not go on making a snapshot behind
 * abort's back; its own children are not covered by that).
 *
 * Waiting. Each call is bounded by step_timeout_usec: poll on the stdout
 * pipe and a pidfd of the child, then waitpid on that pid only (lvssd reaps
 * its own children through sd-event; nothing else is touched). Without
 * pidfd_open (kernels before 5.3, some sandboxes) the pipe is polled in
 * 10 ms slices with waitpid(WNOHANG) between them. On timeout the process
 * group gets SIGKILL, the child is reaped, and the step fails with
 * -ETIMEDOUT. A non-zero exit is -EIO: VSS_E_PROVIDER_VETO for prepare (and
 * a plain "no" for is-supported), VSS_E_UNEXPECTED_PROVIDER_ERROR for the
 * other steps.
 *
 * Records. The real snapshot path is known only when the program's commit
 * prints it, and commit runs in a forked child that may only leave results
 * on disk. So begin_prepare sets each snapshot_path to a placeholder,
 * @storage_dir/<set id>/<snapshot id>.path, and writes the volume next to it
 * (<snapshot id>.volume); commit writes the first line of the program's
 * output into the placeholder (write to .tmp, fsync, rename); post_commit
 * reads it and replaces snapshot_path. The records stay until the snapshot
 * is deleted: delete_snapshot accepts the placeholder too (the catalog may
 * hold it: its row is written before commit) and then deletes the path the
 * record names, or, when commit never finished, runs the program's abort for
 * the recorded volume. abort asks the program only about snapshots with a
 * volume record, so a repeated abort asks nothing. A record is removed only
 * after the program succeeded. pre_commit is lvss's own: syncfs per volume.
 *
 * Id. The provider's id is derived from its name, so it stays the same from
 * one run to the next: the 128-bit FNV-1a hash of "lvss-exec:" + name, bytes
 * in big-endian order, with the version nibble set to 8 (RFC 9562's custom
 * version) and the RFC 4122 variant bits. Names are 1-64 characters from
 * [A-Za-z0-9._-].
 */

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "basic/fs-util.h"
#include "basic/util.h"
#include "providers/provider.h"

#define OUTPUT_MAX ((size_t) 64 * 1024)
#define DEFAULT_PATH "/usr/sbin:/usr/bin:/sbin:/bin"
#define NAME_LEN_MAX 64
#define ID_NAME_LEN 36
#define PATH_SUFFIX ".path"
#define VOLUME_SUFFIX ".volume"
#define TMP_SUFFIX ".tmp"
#define FALLBACK_SLICE_MSEC 10
#define RECORD_MAX (PATH_MAX + 1)
#define RECORD_NAME_MAX (VSS_ID_STRING_MAX + 16) /* <snapshot id><suffix> */

typedef struct exec_provider {
        lvss_provider_ops ops; /* per instance: the name and the id differ */
        char *name;
        char *program;
        char *storage; /* canonical, absolute */
        uint64_t timeout_usec;
        char *env_path; /* "PATH=..." */
        char *env_name; /* "LVSS_PROVIDER_NAME=..." */
        bool env_writable; /* the next program gets LVSS_WRITABLE=1 (commit of a writable snapshot) */
} exec_provider;

/* What a program printed. */
typedef struct output {
        char *data; /* NUL-terminated, at most OUTPUT_MAX bytes */
        size_t size;
        bool truncated;
} output;

static void output_done(output *o) {
        free(o->data);
        o->data = NULL;
        o->size = 0;
        o->truncated = false;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
        *d = NULL;
}

/* One line, one write: the parent and the commit child share stderr. */
static _printf_(2, 3) void log_error(const exec_provider *ep, const char *fmt, ...) {
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        fprintf(stderr, "lvssd: exec %s: %s\n", ep ? ep->name : "?", line);
}

/* The result of a step that failed with @r. A program's refusal (its
 * non-zero exit, -EIO) is a veto when @veto_on_exit; the rest is ours. */
static int fail(vss_hresult *ret_hr, int r, bool veto_on_exit) {
        if (r == -EIO && veto_on_exit)
                return lvss_provider_veto(ret_hr, r);
        /* a full disk is VSS_E_INSUFFICIENT_STORAGE, as for the built-in providers (issue 8 item 6) */
        return lvss_provider_fail(ret_hr, r);
}

static exec_provider *provider_data(lvss_provider *p) {
        return p ? p->data : NULL;
}

/* Is @s (@n bytes) an id in the form lvss_provider_id_name() writes? */
static bool is_id_name(const char *s, size_t n) {
        if (n != ID_NAME_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        }
        return true;
}

static bool name_is_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;

        if (n == 0 || n > NAME_LEN_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                        return false;
        }
        return true;
}

/* An absolute path on one line: what a program may print, and a record holds. */
static bool snapshot_path_is_valid(const char *s, size_t n) {
        return n > 0 && n < PATH_MAX && s[0] == '/' && !memchr(s, '\n', n) && !memchr(s, 0, n);
}

static char *strjoin2(const char *a, const char *b) {
        size_t na = strlen(a), nb = strlen(b);
        char *s = malloc(na + nb + 1);

        if (!s)
                return NULL;
        memcpy(s, a, na);
        memcpy(s + na, b, nb);
        s[na + nb] = 0;
        return s;
}

/* ---- the id ---------------------------------------------------------------- */

/* FNV-1a, 128 bits, on four 32-bit limbs (least significant first), so it
 * needs no __int128. */
static void fnv1a_128(const void *data, size_t size, uint8_t ret[16]) {
        static const uint32_t prime[4] = { 0x0000013b, 0, 0x01000000, 0 }; /* 2^88 + 0x13b */
        uint32_t h[4] = { 0x6295c58d, 0x62b82175, 0x07bb0142, 0x6c62272e };
        const uint8_t *b = data;

        for (size_t i = 0; i < size; i++) {
                uint32_t t[4] = {};

                h[0] ^= b[i];
                /* t = h * prime mod 2^128, schoolbook. */
                for (int x = 0; x < 4; x++) {
                        uint64_t carry = 0;

                        for (int y = 0; x + y < 4; y++) {
                                uint64_t v = (uint64_t) h[x] * prime[y] + t[x + y] + carry;

                                t[x + y] = (uint32_t) v;
                                carry = v >> 32;
                        }
                }
                memcpy(h, t, sizeof h);
        }

        for (int i = 0; i < 16; i++)
                ret[i] = (uint8_t) (h[3 - i / 4] >> (24 - 8 * (i % 4)));
}

static vss_id exec_provider_id(const char *name) {
        char buf[sizeof "lvss-exec:" + NAME_LEN_MAX];
        vss_id id;
        int n;

        n = snprintf(buf, sizeof buf, "lvss-exec:%s", name);
        fnv1a_128(buf, (size_t) n, id.bytes);
        id.bytes[6] = (uint8_t) ((id.bytes[6] & 0x0f) | 0x80); /* version 8 */
        id.bytes[8] = (uint8_t) ((id.bytes[8] & 0x3f) | 0x80); /* variant 10 */
        return id;
}

/* ---- running the program ---------------------------------------------------- */

/* Moves the descriptor in *@fd off 0, 1 and 2, so the child's dup2() calls
 * cannot clobber it (lvssd may run with a standard stream closed). */
static int fd_move_above_stdio(int *fd) {
        int k;

        if (*fd > 2)
                return 0;
        k = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
        if (k < 0)
                return -errno;
        close(*fd);
        *fd = k;
        return 0;
}

static void close_other_fds(void) {
        struct rlimit rl;

        if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
                return;
        /* Before Linux 5.9. Descriptors are opened O_CLOEXEC anyway; this is the belt. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 65536)
                rl.rlim_cur = 65536;
        for (int fd = 3; fd < (int) rl.rlim_cur; fd++)
                (void) close(fd);
}

/*
 * glibc refuses sigaction() on the signals it reserves for itself (32, 33),
 * but an ignored disposition survives execve: a program would inherit it
 * from whoever started lvssd. The raw system call resets it. The kernel's
 * struct sigaction: handler, flags, restorer, mask (x86-64, arm64 and the
 * other generic layouts).
 */
static void reset_reserved_signal(int sig) {
        struct {
                void (*handler)(int);
                unsigned long flags;
                void (*restorer)(void);
                uint64_t mask;
        } k = { .handler = SIG_DFL };

        (void) syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
}

/* In the child, between fork and execve: async-signal-safe calls only. */
static _Noreturn void child_exec(const char *program, char *const argv[], char *const envp[], pid_t parent,
                                 int null_fd, int out_fd, const char *exec_failed, size_t exec_failed_len) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sigaction(sig, &sa, NULL) < 0 && sig != SIGKILL && sig != SIGSTOP)
                        reset_reserved_signal(sig);

        (void) setpgid(0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);

        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        close_other_fds();

        execve(program, argv, envp);
        (void) !write(STDERR_FILENO, exec_failed, exec_failed_len);
        _exit(127);
}

/* Reads what is available from @fd into @o. 1 at end of file, 0 when the
 * pipe is empty for now. */
static int output_drain(int fd, output *o) {
        for (;;) {
                char scratch[4096];
                size_t room = OUTPUT_MAX - o->size;
                ssize_t k;

                if (room > 0)
                        k = read(fd, o->data + o->size, room);
                else
                        k = read(fd, scratch, sizeof scratch);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (k == 0)
                        return 1;
                if (room > 0) {
                        o->size += (size_t) k;
                        o->data[o->size] = 0;
                } else
                        o->truncated = true;
        }
}

static int msec_until(uint64_t deadline, uint64_t now) {
        uint64_t ms = (deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;

        return ms > INT_MAX ? INT_MAX : (int) ms;
}

static int waitpid_retry(pid_t pid, int *status, int flags) {
        pid_t k;

        do
                k = waitpid(pid, status, flags);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : (int) k;
}

/*
 * Runs "PROGRAM ARGS..." (@args NULL-terminated, the step first) and waits
 * at most the step timeout. When @ret_out is given it gets the program's
 * stdout (the caller calls output_done()); else the output is dropped.
 * 0 for exit status 0, -EIO for another status or a signal, -ETIMEDOUT.
 * Failures are logged, except a non-zero exit when @quiet_exit.
 */
static int run_program(exec_provider *ep, const char *const *args, bool quiet_exit, output *ret_out) {
        _cleanup_(freep) char **argv = NULL;
        _cleanup_(freep) char *exec_failed = NULL, *what = NULL;
        _cleanup_(closep) int null_fd = -1, out_r = -1, out_w = -1, pidfd = -1;
        output o = {};
        static char env_writable[] = "LVSS_WRITABLE=1";
        char *envp[] = { ep->env_path, ep->env_name, ep->env_writable ? env_writable : NULL, NULL };
        uint64_t start, deadline;
        bool reaped = false, timed_out = false;
        size_t n = 0;
        int fds[2], status = 0, r = 0;
        pid_t parent, pid;

        while (args[n])
                n++;
        argv = calloc(n + 2, sizeof *argv);
        if (!argv)
                return -ENOMEM;
        argv[0] = ep->program;
        for (size_t i = 0; i < n; i++)
                argv[i + 1] = (char *) args[i];

        /* For messages: "commit 5d3c...-0001 /srv/data". */
        {
                size_t len = 0;
                for (size_t i = 0; i < n; i++)
                        len += strlen(args[i]) + 1;
                what = malloc(len + 1);
                if (!what)
                        return -ENOMEM;
                what[0] = 0;
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                strcat(what, " ");
                        strcat(what, args[i]);
                }
        }
        if (asprintf(&exec_failed, "lvssd: exec %s: cannot execute %s\n", ep->name, ep->program) < 0) {
                exec_failed = NULL;
                return -ENOMEM;
        }

        o.data = malloc(OUTPUT_MAX + 1);
        if (!o.data)
                return -ENOMEM;
        o.data[0] = 0;

        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
                r = -errno;
                goto finish;
        }
        if (pipe2(fds, O_CLOEXEC) < 0) {
                r = -errno;
                goto finish;
        }
        out_r = fds[0];
        out_w = fds[1];
        r = fd_move_above_stdio(&null_fd);
        if (r == 0)
                r = fd_move_above_stdio(&out_r);
        if (r == 0)
                r = fd_move_above_stdio(&out_w);
        if (r == 0 && fcntl(out_r, F_SETFL, O_NONBLOCK) < 0)
                r = -errno;
        if (r < 0)
                goto finish;

        parent = getpid();
        start = now_usec(CLOCK_MONOTONIC);
        deadline = UINT64_MAX - start < ep->timeout_usec ? UINT64_MAX : start + ep->timeout_usec;

        pid = fork();
        if (pid < 0) {
                r = -errno;
                goto finish;
        }
        if (pid == 0)
                child_exec(ep->program, argv, envp, parent, null_fd, out_w, exec_failed, strlen(exec_failed));

        closep(&out_w);
        closep(&null_fd);
        (void) setpgid(pid, pid); /* also here: a kill must not find the group missing */

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                pidfd = -1; /* the fallback: slices of polling */

        for (;;) {
                struct pollfd pfd[2];
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                nfds_t nfds = 0;
                int timeout, k;

                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                timeout = msec_until(deadline, now);
                if (out_r >= 0)
                        pfd[nfds++] = (struct pollfd) { .fd = out_r, .events = POLLIN };
                if (pidfd >= 0)
                        pfd[nfds++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                else if (timeout > FALLBACK_SLICE_MSEC)
                        timeout = FALLBACK_SLICE_MSEC;

                k = poll(nfds > 0 ? pfd : NULL, nfds, timeout);
                if (k < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }

                if (out_r >= 0 && k > 0 && pfd[0].revents) {
                        k = output_drain(out_r, &o);
                        if (k < 0) {
                                r = k;
                                break;
                        }
                        if (k > 0)
                                closep(&out_r); /* end of file: only the exit is left to wait for */
                }

                if (pidfd >= 0) {
                        if (!(pfd[nfds - 1].revents & POLLIN))
                                continue;
                } else {
                        k = waitpid_retry(pid, &status, WNOHANG);
                        if (k < 0) {
                                r = k;
                                break;
                        }
                        if (k == 0)
                                continue;
                        reaped = true;
                }
                break; /* exited */
        }

        if (timed_out || r < 0) {
                (void) kill(-pid, SIGKILL);
                (void) kill(pid, SIGKILL);
        }
        if (!reaped) {
                /* After SIGKILL this returns at once, unless the program
                 * sleeps uninterruptibly in the kernel (a hung device): then
                 * nothing in user space can end it anyway. */
                int k = waitpid_retry(pid, &status, 0);
                if (k < 0 && r == 0 && !timed_out)
                        r = k;
        }
        /* What it wrote before exiting. Children it left behind may still
         * hold the pipe open: take what is there, do not wait for them. */
        if (out_r >= 0 && !timed_out && r == 0) {
                int k = output_drain(out_r, &o);
                if (k < 0)
                        r = k;
        }

finish:
        if (r < 0)
                log_error(ep, "%s %s: %s", ep->program, what, strerror(-r));
        else if (timed_out) {
                log_error(ep, "%s %s: no exit after %llu ms, killed", ep->program, what,
                          (unsigned long long) (ep->timeout_usec / USEC_PER_MSEC));
                r = -ETIMEDOUT;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                r = 0;
        else {
                if (!quiet_exit) {
                        if (WIFEXITED(status))
                                log_error(ep, "%s %s: exit status %d", ep->program, what, WEXITSTATUS(status));
                        else
                                log_error(ep, "%s %s: killed by signal %d (%s)", ep->program, what,
                                          WTERMSIG(status), strsignal(WTERMSIG(status)));
                }
                r = -EIO;
        }

        if (r == 0 && ret_out)
                *ret_out = o;
        else
                output_done(&o);
        return r;
}

/* The first line of @o: an absolute path. -EBADMSG for anything else. */
static int output_first_line(const output *o, const char **ret, size_t *ret_len) {
        const char *nl = memchr(o->data, '\n', o->size);
        size_t len;

        if (!nl && o->truncated)
                return -EBADMSG; /* a first line longer than the output bound */
        len = nl ? (size_t) (nl - o->data) : o->size;
        if (!snapshot_path_is_valid(o->data, len))
                return -EBADMSG;
        *ret = o->data;
        *ret_len = len;
        return 0;
}

/* ---- records ---------------------------------------------------------------- */

/* "<snapshot id><suffix>", the name of one record in the set directory. */
static void record_name(char ret[RECORD_NAME_MAX], const char *snap, const char *suffix) {
        snprintf(ret, RECORD_NAME_MAX, "%s%s", snap, suffix);
}

/* @storage/<set>, opened; created (0700) when @create. */
static int open_set_dir(exec_provider *ep, const char *set, bool create) {
        _cleanup_(closep) int storage_fd = -1;
        int fd;

        storage_fd = open(ep->storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (storage_fd < 0)
                return -errno;
        if (create && mkdirat(storage_fd, set, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(storage_fd, set, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int write_all(int fd, const char *data, size_t size) {
        while (size > 0) {
                ssize_t k = write(fd, data, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += k;
                size -= (size_t) k;
        }
        return 0;
}

/* @dir_fd/@name := "@value\n", atomically and durably (.tmp, fsync, rename). */
static int record_write(int dir_fd, const char *name, const char *value, size_t len) {
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int fd = -1;
        int r;

        if (asprintf(&tmp, "%s" TMP_SUFFIX, name) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, value, len);
        if (r == 0)
                r = write_all(fd, "\n", 1);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return fsync(dir_fd) < 0 ? -errno : 0;
}

/* The path in @dir_fd/@name (malloc'd). -ENOENT when missing, -EBADMSG when
 * it is not one absolute path and a newline. */
static int record_read(int dir_fd, const char *name, char **ret) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno(); /* never 0: the caller reads *ret then */
        buf = malloc(RECORD_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (size < RECORD_MAX + 1) {
                ssize_t k = read(fd, buf + size, RECORD_MAX + 1 - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        if (size < 2 || buf[size - 1] != '\n' || !snapshot_path_is_valid(buf, size - 1))
                return -EBADMSG;
        buf[size - 1] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Removes every record of @snap in @set, then the set directory when empty.
 * Missing ones are fine. */
static int records_remove(exec_provider *ep, const char *set, const char *snap) {
        static const char *const suffixes[] = {
                PATH_SUFFIX, PATH_SUFFIX TMP_SUFFIX, VOLUME_SUFFIX, VOLUME_SUFFIX TMP_SUFFIX,
        };
        _cleanup_(closep) int set_fd = -1, storage_fd = -1;
        int r = 0;

        set_fd = open_set_dir(ep, set, false);
        if (set_fd == -ENOENT)
                return 0;
        if (set_fd < 0)
                return set_fd;

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char name[RECORD_NAME_MAX];

                record_name(name, snap, suffixes[i]);
                if (unlinkat(set_fd, name, 0) < 0 && errno != ENOENT && r == 0)
                        r = -errno;
        }
        if (r < 0)
                return r;

        /* The set directory is shared with the other providers' snapshots. */
        storage_fd = open(ep->storage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (storage_fd < 0)
                return -errno;
        if (unlinkat(storage_fd, set, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY && errno != EEXIST &&
            errno != ENOENT)
                return -errno;
        return 0;
}

static void snapshot_names(const lvss_snapshot *s, char set[VSS_ID_STRING_MAX], char snap[VSS_ID_STRING_MAX]) {
        lvss_provider_id_name(&s->set_id, set);
        lvss_provider_id_name(&s->snapshot_id, snap);
}

/* Is @path a placeholder, @storage/<set>/<snap>.path? Then its names. */
static bool placeholder_parse(exec_provider *ep, const char *path, char set[VSS_ID_STRING_MAX],
                              char snap[VSS_ID_STRING_MAX]) {
        size_t n = strlen(ep->storage);
        const char *s;

        if (strncmp(path, ep->storage, n) != 0 || path[n] != '/')
                return false;
        s = path + n + 1;
        if (strlen(s) != ID_NAME_LEN + 1 + ID_NAME_LEN + strlen(PATH_SUFFIX) || s[ID_NAME_LEN] != '/' ||
            !is_id_name(s, ID_NAME_LEN) || !is_id_name(s + ID_NAME_LEN + 1, ID_NAME_LEN) ||
            strcmp(s + (size_t) 2 * ID_NAME_LEN + 1, PATH_SUFFIX) != 0)
                return false;
        memcpy(set, s, ID_NAME_LEN);
        set[ID_NAME_LEN] = 0;
        memcpy(snap, s + ID_NAME_LEN + 1, ID_NAME_LEN);
        snap[ID_NAME_LEN] = 0;
        return true;
}

/* Whether prepare's output has a line @word (trailing blanks allowed).
 * "atomic": the program says its snapshot is one instant of the volume
 * (issue 9 part 1). "writable": it can leave the snapshot writable until
 * "finalize" (auto-recovery, issue 9 part 2). Anything else or no output at
 * all: no, the safe default for programs written before the words existed. */
static bool output_has_line(const output *o, const char *word) {
        const char *p = o->data, *end;

        if (!p)
                return false;
        end = p + o->size;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = (size_t) ((nl ? nl : end) - p);

                while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
                        len--;
                if (len == strlen(word) && memcmp(p, word, len) == 0)
                        return true;
                if (!nl)
                        break;
                p = nl + 1;
        }
        return false;
}

/* ---- the steps -------------------------------------------------------------- */

static bool exec_is_volume_supported(lvss_provider *p, const char *volume) {
        exec_provider *ep = provider_data(p);
        const char *const args[] = { "is-supported", volume, NULL };

        if (!ep || !volume || volume[0] != '/')
                return false;
        return run_program(ep, args, true, NULL) == 0;
}

/* Runs "PROGRAM abort SET SNAP VOLUME" for the volume begin_prepare
 * recorded and, when it succeeded, removes the records. No record: never
 * prepared, or undone already; nothing to ask the program. */
static int abort_one(exec_provider *ep, const char *set, const char *snap) {
        _cleanup_(freep) char *volume = NULL;
        _cleanup_(closep) int set_fd = -1;
        char name[RECORD_NAME_MAX];
        int r;

        set_fd = open_set_dir(ep, set, false);
        if (set_fd == -ENOENT)
                return 0;
        if (set_fd < 0)
                return set_fd;

        record_name(name, snap, VOLUME_SUFFIX);
        r = record_read(set_fd, name, &volume);
        if (r < 0 && r != -ENOENT) {
                log_error(ep, "%s/%s/%s: %s", ep->storage, set, name, strerror(-r));
                return r;
        }

        if (volume) {
                const char *const args[] = { "abort", set, snap, volume, NULL };

                r = run_program(ep, args, false, NULL);
                if (r < 0)
                        return r; /* the records stay: the snapshot may exist */
        }

        r = records_remove(ep, set, snap);
        if (r < 0)
                log_error(ep, "cannot remove the records of snapshot %s: %s", snap, strerror(-r));
        return r;
}

static int exec_abort(lvss_provider *p, lvss_snapshot *const *snaps, size_t n) {
        exec_provider *ep = provider_data(p);
        int r = 0;

        if (!ep || (n > 0 && !snaps))
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];
                int k;

                if (!snaps[i])
                        continue;
                snapshot_names(snaps[i], set, snap);
                k = abort_one(ep, set, snap);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

/* The placeholder and the volume record of @s; sets snapshot_path. */
static int prepare_records(exec_provider *ep, lvss_snapshot *s) {
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], name[RECORD_NAME_MAX];
        static const char *const suffixes[] = { PATH_SUFFIX, VOLUME_SUFFIX };
        _cleanup_(closep) int set_fd = -1;
        char *path;
        struct stat st;
        int r;

        snapshot_names(s, set, snap);
        set_fd = open_set_dir(ep, set, true);
        if (set_fd < 0)
                return set_fd;

        /* Snapshot ids are new: records already there are not ours to reuse. */
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                record_name(name, snap, suffixes[i]);
                if (fstatat(set_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return -EEXIST;
                if (errno != ENOENT)
                        return -errno;
        }

        record_name(name, snap, VOLUME_SUFFIX);
        r = record_write(set_fd, name, s->volume, strlen(s->volume));
        if (r < 0)
                return r;

        if (asprintf(&path, "%s/%s/%s" PATH_SUFFIX, ep->storage, set, snap) < 0)
                return -ENOMEM;
        free(s->snapshot_path);
        s->snapshot_path = path;
        return 0;
}

/* begin_prepare's undo for the first @n snapshots: errors are logged only. */
static void prepare_undo(exec_provider *ep, lvss_snapshot *const *snaps, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];

                snapshot_names(snaps[i], set, snap);
                (void) abort_one(ep, set, snap);
        }
}

static int exec_begin_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        exec_provider *ep = provider_data(p);
        int r;

        if (!ep || (n > 0 && !snaps))
                return fail(ret_hr, -EINVAL, false);
        for (size_t i = 0; i < n; i++) {
                const char *v = snaps[i] ? snaps[i]->volume : NULL;

                if (!v || !snapshot_path_is_valid(v, strlen(v))) /* one line: it goes into a record */
                        return fail(ret_hr, -EINVAL, false);
        }

        r = lvss_mkdir_parents(ep->storage, 0700); /* in case it went since lvss_provider_exec_new() */
        if (r < 0) {
                log_error(ep, "%s: %s", ep->storage, strerror(-r));
                return fail(ret_hr, r, false);
        }

        for (size_t i = 0; i < n; i++) {
                char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];

                r = prepare_records(ep, snaps[i]);
                if (r < 0) {
                        log_error(ep, "%s: cannot write the snapshot records in %s: %s", snaps[i]->volume,
                                  ep->storage, strerror(-r));
                        prepare_undo(ep, snaps, i);
                        return fail(ret_hr, r, false);
                }

                snapshot_names(snaps[i], set, snap);
                const char *const args[] = { "prepare", set, snap, snaps[i]->volume, NULL };
                _cleanup_(output_done) output o = {};
                r = run_program(ep, args, false, &o);
                if (r < 0) {
                        prepare_undo(ep, snaps, i + 1); /* this one too: it may have begun */
                        return fail(ret_hr, r, true);
                }
                snaps[i]->atomic = output_has_line(&o, "atomic");
                snaps[i]->can_write = output_has_line(&o, "writable");
        }
        return 0;
}

static int exec_end_prepare(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        return provider_data(p) ? 0 : fail(ret_hr, -EINVAL, false);
}

/* In the child: flush each volume's file system before the hold. */
static int exec_pre_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        exec_provider *ep = provider_data(p);

        if (!ep || (n > 0 && !snaps))
                return fail(ret_hr, -EINVAL, false);

        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int fd = -1;

                if (!snaps[i] || !snaps[i]->volume)
                        return fail(ret_hr, -EINVAL, false);
                fd = open(snaps[i]->volume, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
                if (fd < 0 || syncfs(fd) < 0) {
                        int r = -errno;
                        log_error(ep, "%s: cannot flush: %s", snaps[i]->volume, strerror(-r));
                        return fail(ret_hr, r, false);
                }
        }
        return 0;
}

/* In the child: "PROGRAM commit", its first line into the placeholder. */
static int commit_one(exec_provider *ep, const lvss_snapshot *s) {
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], name[RECORD_NAME_MAX];
        _cleanup_(output_done) output o = {};
        _cleanup_(closep) int set_fd = -1;
        const char *line;
        size_t len;
        int r;

        snapshot_names(s, set, snap);
        const char *const args[] = { "commit", set, snap, s->volume, NULL };
        ep->env_writable = s->writable; /* LVSS_WRITABLE=1: writable until finalize (issue 9 part 2) */
        r = run_program(ep, args, false, &o);
        ep->env_writable = false;
        if (r < 0)
                return r;

        r = output_first_line(&o, &line, &len);
        if (r < 0) {
                log_error(ep, "%s commit %s: the first line of its output is not an absolute path", ep->program,
                          snap);
                return r;
        }

        set_fd = open_set_dir(ep, set, false);
        if (set_fd < 0)
                return set_fd;
        record_name(name, snap, PATH_SUFFIX);
        r = record_write(set_fd, name, line, len);
        if (r < 0)
                log_error(ep, "%s/%s/%s: %s", ep->storage, set, name, strerror(-r));
        return r;
}

static int exec_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        exec_provider *ep = provider_data(p);

        if (!ep || (n > 0 && !snaps))
                return fail(ret_hr, -EINVAL, false);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i] || !snaps[i]->volume)
                        return fail(ret_hr, -EINVAL, false);

        for (size_t i = 0; i < n; i++) {
                int r = commit_one(ep, snaps[i]);
                if (r < 0)
                        return fail(ret_hr, r, false);
        }
        return 0;
}

/* In the parent: the paths the program printed replace the placeholders,
 * all of them or none. */
static int exec_post_commit(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        exec_provider *ep = provider_data(p);
        _cleanup_(freep) char **paths = NULL;
        int r = 0;

        if (!ep || (n > 0 && !snaps))
                return fail(ret_hr, -EINVAL, false);
        for (size_t i = 0; i < n; i++)
                if (!snaps[i])
                        return fail(ret_hr, -EINVAL, false);

        paths = calloc(n + 1, sizeof *paths);
        if (!paths)
                return fail(ret_hr, -ENOMEM, false);

        for (size_t i = 0; i < n && r == 0; i++) {
                char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX], name[RECORD_NAME_MAX];
                _cleanup_(closep) int set_fd = -1;

                snapshot_names(snaps[i], set, snap);
                record_name(name, snap, PATH_SUFFIX);
                set_fd = open_set_dir(ep, set, false);
                r = set_fd < 0 ? set_fd : record_read(set_fd, name, &paths[i]);
                if (r < 0)
                        log_error(ep, "%s/%s/%s: %s", ep->storage, set, name,
                                  r == -ENOENT ? "missing: commit did not record a snapshot path" : strerror(-r));
        }

        for (size_t i = 0; i < n; i++) {
                if (r < 0) {
                        free(paths[i]);
                        continue;
                }
                free(snaps[i]->snapshot_path);
                snaps[i]->snapshot_path = paths[i];
        }
        return r < 0 ? fail(ret_hr, r, false) : 0;
}

/* After PostSnapshot (issue 9 part 2): "PROGRAM finalize SNAPSHOT_PATH" for
 * each snapshot committed writable; every one is tried, the first error is
 * returned. */
static int exec_finalize(lvss_provider *p, lvss_snapshot *const *snaps, size_t n, vss_hresult *ret_hr) {
        exec_provider *ep = provider_data(p);
        int r = 0;

        if (!ep || (n > 0 && !snaps))
                return fail(ret_hr, -EINVAL, false);
        for (size_t i = 0; i < n; i++) {
                const char *path = snaps[i] ? snaps[i]->snapshot_path : NULL;
                char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];
                int k;

                if (!snaps[i] || !snaps[i]->writable)
                        continue;
                if (!path || !snapshot_path_is_valid(path, strlen(path)) || placeholder_parse(ep, path, set, snap))
                        k = -EINVAL; /* post_commit never replaced the placeholder */
                else {
                        const char *const args[] = { "finalize", path, NULL };
                        k = run_program(ep, args, false, NULL);
                }
                if (k < 0) {
                        log_error(ep, "%s: cannot make the snapshot read-only: %s", strempty(path), strerror(-k));
                        if (r >= 0)
                                r = k;
                }
        }
        return r < 0 ? fail(ret_hr, r, false) : 0;
}

/* Removes the records whose placeholder names @path (after a delete by the
 * real path). Other providers' snapshots in the storage area are left alone. */
static int records_forget(exec_provider *ep, const char *path) {
        _cleanup_(closedirp) DIR *storage = NULL;
        struct dirent *de;

        storage = opendir(ep->storage);
        if (!storage)
                return errno == ENOENT ? 0 : -errno;

        while ((de = readdir(storage))) {
                _cleanup_(closedirp) DIR *set = NULL;
                _cleanup_(closep) int set_fd = -1;
                struct dirent *e;

                if (!is_id_name(de->d_name, strlen(de->d_name)))
                        continue;
                set_fd = open_set_dir(ep, de->d_name, false);
                if (set_fd < 0)
                        continue;
                set = fdopendir(set_fd);
                if (!set)
                        return -errno;
                set_fd = -1; /* owned by @set now */

                while ((e = readdir(set))) {
                        _cleanup_(freep) char *recorded = NULL;
                        size_t len = strlen(e->d_name);
                        char snap[VSS_ID_STRING_MAX];

                        if (len != ID_NAME_LEN + strlen(PATH_SUFFIX) || !is_id_name(e->d_name, ID_NAME_LEN) ||
                            strcmp(e->d_name + ID_NAME_LEN, PATH_SUFFIX) != 0)
                                continue;
                        /* set when record_read() returns >= 0 (clang 14 misses that negative_errno() < 0) */
                        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
                        if (record_read(dirfd(set), e->d_name, &recorded) < 0 || strcmp(recorded, path) != 0)
                                continue;
                        memcpy(snap, e->d_name, ID_NAME_LEN);
                        snap[ID_NAME_LEN] = 0;
                        return records_remove(ep, de->d_name, snap);
                }
        }
        return 0;
}

/* delete_snapshot by placeholder: what the record says, or the abort of a
 * commit that never finished. */
static int delete_placeholder(exec_provider *ep, const char *set, const char *snap) {
        _cleanup_(freep) char *real = NULL;
        _cleanup_(closep) int set_fd = -1;
        char name[RECORD_NAME_MAX];
        int r;

        set_fd = open_set_dir(ep, set, false);
        if (set_fd == -ENOENT)
                return 0;
        if (set_fd < 0)
                return set_fd;

        record_name(name, snap, PATH_SUFFIX);
        r = record_read(set_fd, name, &real);
        if (r == -ENOENT)
                return abort_one(ep, set, snap);
        if (r < 0) {
                log_error(ep, "%s/%s/%s: %s", ep->storage, set, name, strerror(-r));
                return r;
        }

        const char *const args[] = { "delete", real, NULL };
        r = run_program(ep, args, false, NULL);
        if (r < 0)
                return r;
        return records_remove(ep, set, snap);
}

static int exec_delete_snapshot(lvss_provider *p, const char *snapshot_path) {
        exec_provider *ep = provider_data(p);
        char set[VSS_ID_STRING_MAX], snap[VSS_ID_STRING_MAX];
        int r;

        if (!ep || !snapshot_path || !snapshot_path_is_valid(snapshot_path, strlen(snapshot_path)))
                return -EINVAL;

        if (placeholder_parse(ep, snapshot_path, set, snap))
                return delete_placeholder(ep, set, snap);

        const char *const args[] = { "delete", snapshot_path, NULL };
        r = run_program(ep, args, false, NULL);
        if (r < 0)
                return r;

        r = records_forget(ep, snapshot_path);
        if (r < 0)
                log_error(ep, "%s deleted, but its record stays: %s", snapshot_path, strerror(-r));
        return 0; /* the snapshot is gone; a stale record is harmless */
}

static void exec_free(lvss_provider *p) {
        exec_provider *ep = provider_data(p);

        if (!ep)
                return;
        free(ep->name);
        free(ep->program);
        free(ep->storage);
        free(ep->env_path);
        free(ep->env_name);
        free(ep);
        p->data = NULL;
        p->ops = NULL; /* they were in @ep */
}

int lvss_provider_exec_set_freeze(lvss_provider *p, bool freeze) {
        exec_provider *ep;

        if (!p || !p->ops || p->ops->free != exec_free)
                return -EINVAL;
        ep = provider_data(p);
        ep->ops.freeze_filesystems = freeze;
        return 0;
}

static const lvss_provider_ops exec_ops_template = {
        .type = "external",
        .version = "0.1",
        .is_volume_supported = exec_is_volume_supported,
        .begin_prepare = exec_begin_prepare,
        .end_prepare = exec_end_prepare,
        .pre_commit = exec_pre_commit,
        .commit = exec_commit,
        .post_commit = exec_post_commit,
        .finalize = exec_finalize,
        .abort = exec_abort,
        .delete_snapshot = exec_delete_snapshot,
        .free = exec_free,
};

int lvss_provider_exec_new(const char *name, const char *program, const char *storage_dir,
                           uint64_t step_timeout_usec, lvss_provider **ret) {
        _cleanup_(freep) char *canon = NULL;
        exec_provider *ep;
        lvss_provider *p;
        const char *path;
        struct stat st;
        int r;

        if (!name_is_valid(name) || !program || program[0] != '/' || !storage_dir || storage_dir[0] != '/' ||
            step_timeout_usec == 0 || !ret)
                return -EINVAL;

        /* A wrong program is a configuration error: say so at start-up. */
        if (stat(program, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EACCES;
        if (access(program, X_OK) < 0)
                return -errno;

        r = lvss_provider_storage_dir(storage_dir, &canon);
        if (r < 0)
                return r;

        path = secure_getenv("LVSS_EXEC_PATH");
        if (!path || !*path)
                path = DEFAULT_PATH;

        ep = calloc(1, sizeof *ep);
        p = calloc(1, sizeof *p);
        if (!ep || !p)
                goto oom;
        ep->name = strdup(name);
        ep->program = strdup(program);
        ep->storage = TAKE_PTR(canon);
        ep->timeout_usec = step_timeout_usec;
        ep->env_path = strjoin2("PATH=", path);
        ep->env_name = strjoin2("LVSS_PROVIDER_NAME=", name);
        if (!ep->name || !ep->program || !ep->env_path || !ep->env_name)
                goto oom;

        ep->ops = exec_ops_template;
        ep->ops.name = ep->name;
        ep->ops.id = exec_provider_id(name);

        p->ops = &ep->ops;
        p->data = ep;
        *ret = p;
        return 0;

oom:
        if (ep) {
                free(ep->name);
                free(ep->program);
                free(ep->storage);
                free(ep->env_path);
                free(ep->env_name);
        }
        free(ep);
        free(p);
        return -ENOMEM;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-test-writer — a writer whose every behaviour is chosen on the command
 * line, for the integration and fault tests: fail an event (by returning
 * false, by setting a failure, or both), be slow or hang in one, die in one.
 *
 *   lvss-test-writer --name NAME [--instance NAME] [--writer-id GUID]
 *                    [--freeze-timeout MS]
 *                    [--fail-at EVENT]... [--fail-code NAME|HEX]
 *                    [--fail-mode return|set|both]
 *                    [--app-result HEX] [--app-message TEXT] [--app-message-size BYTES]
 *                    [--hang-at EVENT]... [--hang-ms MS] [--crash-at EVENT]...
 *                    [--component NAME]... [--path DIR]
 *                    [--backup-metadata TEXT] [--restore-metadata TEXT]
 *                    [--restore-failure-msg TEXT]
 *                    [--raw-identify bad-metadata|wrong-signature|bad-components|old-writer|declared]
 *                    [--show-snapshot] [--write-copy NAME] [--recovery-fails]
 *                    [--handlers EVENT[,EVENT...]]
 *
 * It tells the test what happens on stdout, one line each, flushed at once:
 *   subscribed {instance-id}
 *   event <Event> {session-id} begin|ok|fail|hang|crash
 *   session in-progress|completed|aborted
 *   disconnected
 * on_abort prints as event "Abort", whether lvssd sent Abort or the library
 * called it (deadman timer, lost connection). In PreRestore and
 * PostRestore, between the begin line and the last one, it also prints
 * what the Backup Components Document handed it (so that a test can check
 * that a restore gives each writer exactly what it stored):
 *   restore <Event> {session-id} restore_type=N components=N
 *   component <Event> {session-id} name=V path=V type=N selected=0|1 selected_for_restore=0|1
 *       backup_metadata=V backup_stamp=V previous_backup_stamp=V
 *       restore_metadata=V file_restore_status=N          (one line)
 * where V is "-" for none (NULL), else the string with every byte outside
 * [A-Za-z0-9_.:/{}] written as %XX, so that a value never holds a space.
 *
 * Document data: PrepareForBackup stores --backup-metadata (default
 * "lvss-test-writer NAME") as every component's backup metadata;
 * PostSnapshot stores the snapshot set id as its backup stamp; PreRestore
 * stores --restore-metadata (when given) as its restore metadata. A writer
 * told to fail PreRestore or PostRestore also sets --restore-failure-msg
 * (when given) as every component's pre- / post-restore failure message.
 *
 * --show-snapshot (issue 9 part 1): in every event, right after the begin
 * line, what the writer can see of the snapshot:
 *   snapshot <Event> {session-id} volumes=N set_atomic=0|1 auto_recovery=0|1
 *   snapshot-volume <Event> {session-id} index=I volume=V provider=V atomic=0|1   (N lines)
 * or, when the calls refuse, the code each answered:
 *   snapshot <Event> {session-id} refused count=NAME volume=NAME set_atomic=NAME auto_recovery=NAME
 *
 * --write-copy NAME (issue 9 part 2): in PostSnapshot, before anything else
 * it was told to do there (crash, hang, fail), writes the file NAME into the
 * shadow copy of the volume of --path (vss_writer_get_snapshot_path() of the
 * first volume of the set that holds --path) and says how that went:
 *   copy-mode PostSnapshot {session-id} mode=OCTAL write-bits=0|1   (the copy's root)
 *   copy-write PostSnapshot {session-id} ok PATH
 *   copy-write PostSnapshot {session-id} fail PATH ERRNO-NAME
 *   copy-write PostSnapshot {session-id} refused HRESULT-NAME
 * With --recovery-fails a failed write sets VSS_E_WRITERERROR_RECOVERY_FAILED
 * and fails PostSnapshot, as a writer that cannot repair the copy does.
 *
 * --raw-identify (issue 8 item 7) makes a writer that liblvss would never
 * let an application be: it speaks sd-bus itself, subscribes like liblvss
 * does and answers every event with success, except Identify, which it
 * answers with a metadata string that is no writer metadata document
 * (bad-metadata) or with a reply of the wrong signature, one string
 * (wrong-signature). It prints `subscribed`, `event Identify {sid} raw`
 * and `disconnected` like the others. With bad-components (issue 11 §2)
 * Identify gets a valid document with two file groups, `first` and
 * `second`, and PrepareForBackup a `components` out list that sets
 * `first`'s backup metadata to "from a refused answer" and then has a
 * component whose name is a number (no writer library sends that).
 * With old-writer (issue 11 §5) it is a writer as liblvss made them before
 * the event declaration: SubscribeWriter without one, a valid document, and
 * every event answered with success and printed as `event E {sid} ok`
 * (Identify included). With declared it subscribes with
 * SubscribeWriterWithEvents, declaring the events of --handlers (and
 * nothing else, not even the ones lvssd always sends), and answers and
 * prints every event like old-writer: a test sees each event lvssd sent.
 *
 * --handlers LIST (issue 11 §5): only the callbacks of these events are
 * set (on_identify always: it declares the components), so the library
 * declares only what they need (lvss_writer_events_wanted()). Without it,
 * every callback is set.
 *
 * --app-message-size BYTES makes the application message BYTES bytes of
 * "\xc3\xa4" (a two-byte UTF-8 character, so that a cut in the middle of a
 * character shows) followed by "END": longer than a command line may carry.
 *
 * The program uses its own poll loop on vss_writer_get_fd(), like an
 * application with a main loop would,
 * plus a signalfd: SIGTERM/SIGINT release the writer and exit 0.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lvss/vss.h>
#include <systemd/sd-bus.h>

#include "basic/abi.h"
#include "protocol/protocol.h"

typedef enum fail_mode {
        FAIL_RETURN, /* return false */
        FAIL_SET,    /* set a failure, return true */
        FAIL_BOTH,   /* set a failure (if a code is given), return false */
} fail_mode;

static struct {
        const char *name;
        const char *instance;
        vss_id writer_id;
        bool have_writer_id;
        uint32_t freeze_timeout_ms;
        uint32_t fail_at;  /* bit per vss_writer_event */
        uint32_t hang_at;
        uint32_t crash_at;
        vss_hresult fail_code;
        bool have_fail_code;
        fail_mode fail_mode;
        vss_hresult app_result;
        bool have_app_result;
        const char *app_message;
        uint64_t hang_ms;
        bool have_hang_ms;
        const char **components;
        size_t n_components;
        const char *path;
        const char *backup_metadata;
        const char *restore_metadata;
        const char *restore_failure_msg;
        const char *raw_identify; /* NULL: a liblvss writer */
        uint32_t handlers;        /* --handlers: bit per vss_writer_event */
        bool have_handlers;
        bool show_snapshot;
        const char *write_copy; /* issue 9 part 2 */
        bool recovery_fails;
} arg = {
        .fail_mode = FAIL_BOTH,
        .path = "/tmp",
};

#define EVENT_BIT(e) (UINT32_C(1) << (unsigned) (e))

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static vss_writer_event event_from_name(const char *name) {
        for (int e = VSS_EVENT_NONE + 1; e < VSS_EVENT_COUNT; e++) {
                const char *n = vss_writer_event_name((vss_writer_event) e);
                if (n && strcasecmp(n, name) == 0)
                        return (vss_writer_event) e;
        }
        return VSS_EVENT_NONE;
}

/* A vss_hresult name (VSS_E_WRITERERROR_RETRYABLE) or a hex number (0x800423F3). */
static int parse_hresult(const char *s, vss_hresult *ret) {
        unsigned long v;
        char *end;

        if (vss_hresult_from_name(s, ret) == VSS_S_OK)
                return 0;
        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno != 0 || end == s || *end != 0 || v > UINT32_MAX)
                return -EINVAL;
        *ret = (vss_hresult) (uint32_t) v;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != 0 || *s == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

static void sleep_ms(uint64_t ms) {
        struct timespec ts = {
                .tv_sec = (time_t) (ms / 1000),
                .tv_nsec = (long) (ms % 1000) * 1000000L,
        };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static _Noreturn void hang_forever(void) {
        sigset_t mask;

        /* Stuck, but still killable: let SIGTERM/SIGINT take their default action. */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_UNBLOCK, &mask, NULL);
        for (;;)
                pause();
}

/* A document string on one line: "-" for none, else %XX for every byte outside [A-Za-z0-9_.:/{}]. */
static void print_value(const char *key, const char *v) {
        printf(" %s=", key);
        if (!v) {
                putchar('-');
                return;
        }
        for (const unsigned char *p = (const unsigned char *) v; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("_.:/{}", *p))
                        putchar(*p);
                else
                        printf("%%%02X", *p);
        }
}

/* PreRestore / PostRestore: what the document handed this writer, one line per component. */
static void report_components(vss_writer *w, vss_writer_event e, const char *sid, vss_writer_components *c) {
        const char *name = vss_writer_event_name(e);
        unsigned n = 0;

        (void) vss_writer_components_get_count(c, &n);
        say("restore %s %s restore_type=%u components=%u", name, sid, (unsigned) vss_writer_get_restore_type(w), n);
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp;

                if (vss_writer_components_get_component(c, i, &comp) != VSS_S_OK)
                        continue;
                printf("component %s %s", name, sid);
                print_value("name", vss_component_get_name(comp));
                print_value("path", vss_component_get_logical_path(comp));
                printf(" type=%u selected=%d selected_for_restore=%d", (unsigned) vss_component_get_type(comp),
                       vss_component_is_selected(comp) ? 1 : 0, vss_component_is_selected_for_restore(comp) ? 1 : 0);
                print_value("backup_metadata", vss_component_get_backup_metadata(comp));
                print_value("backup_stamp", vss_component_get_backup_stamp(comp));
                print_value("previous_backup_stamp", vss_component_get_previous_backup_stamp(comp));
                print_value("restore_metadata", vss_component_get_restore_metadata(comp));
                printf(" file_restore_status=%u\n", (unsigned) vss_component_get_file_restore_status(comp));
                fflush(stdout);
        }
}

/* Sets what this writer stores in the document during a restore event: restore metadata, failure messages. */
static void restore_store(vss_writer_event e, vss_writer_components *c, bool failing) {
        unsigned n = 0;

        (void) vss_writer_components_get_count(c, &n);
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp;
                vss_hresult hr = VSS_S_OK;

                if (vss_writer_components_get_component(c, i, &comp) != VSS_S_OK)
                        continue;
                if (e == VSS_EVENT_PRE_RESTORE && arg.restore_metadata)
                        hr = vss_component_set_restore_metadata(comp, arg.restore_metadata);
                if (VSS_SUCCEEDED(hr) && failing && arg.restore_failure_msg)
                        hr = e == VSS_EVENT_PRE_RESTORE
                                     ? vss_component_set_pre_restore_failure_msg(comp, arg.restore_failure_msg)
                                     : vss_component_set_post_restore_failure_msg(comp, arg.restore_failure_msg);
                if (VSS_FAILED(hr))
                        fprintf(stderr, "lvss-test-writer: %s: storing in the document refused: %s\n",
                                vss_writer_event_name(e), vss_hresult_name(hr) ?: "?");
        }
}

static const char *hr_name(vss_hresult hr) {
        return vss_hresult_name(hr) ?: "?";
}

/* --show-snapshot: what the writer can see of the snapshot (issue 9 part 1). */
static void report_snapshot(vss_writer *w, const char *name, const char *sid) {
        vss_hresult hc, hv, hs, ha;
        const char *volume = NULL, *provider = NULL;
        bool atomic = false, set_atomic = false, auto_recovery = false;
        unsigned n = 0;

        hc = vss_writer_get_snapshot_volume_count(w, &n);
        hv = vss_writer_get_snapshot_volume(w, 0, &volume, &provider, &atomic);
        hs = vss_writer_is_set_atomic(w, &set_atomic);
        ha = vss_writer_is_auto_recovery(w, &auto_recovery);
        if (VSS_FAILED(hc) || VSS_FAILED(hs) || VSS_FAILED(ha) || (n > 0 && VSS_FAILED(hv))) {
                say("snapshot %s %s refused count=%s volume=%s set_atomic=%s auto_recovery=%s", name, sid,
                    hr_name(hc), hr_name(hv), hr_name(hs), hr_name(ha));
                return;
        }
        say("snapshot %s %s volumes=%u set_atomic=%d auto_recovery=%d", name, sid, n, set_atomic, auto_recovery);
        for (unsigned i = 0; i < n; i++) {
                if (VSS_FAILED(vss_writer_get_snapshot_volume(w, i, &volume, &provider, &atomic))) {
                        say("snapshot-volume %s %s index=%u refused", name, sid, i);
                        continue;
                }
                printf("snapshot-volume %s %s index=%u", name, sid, i);
                print_value("volume", volume);
                print_value("provider", provider);
                printf(" atomic=%d\n", atomic);
                fflush(stdout);
        }
}

/* --write-copy (issue 9 part 2): writes arg.write_copy into the shadow copy of
 * the volume that holds arg.path. Returns whether that worked. */
static bool write_copy(vss_writer *w, const char *sid) {
        const char *volume = NULL, *copy = NULL;
        char file[4096];
        vss_hresult hr;
        int fd;

        for (unsigned i = 0; i < vss_writer_get_current_volume_count(w); i++) {
                const char *v = vss_writer_get_current_volume(w, i);
                size_t n = v ? strlen(v) : 0;

                if (n > 0 && strncmp(arg.path, v, n) == 0 && (arg.path[n] == 0 || arg.path[n] == '/' || v[n - 1] == '/') &&
                    (!volume || n > strlen(volume)))
                        volume = v;
        }
        if (!volume) {
                say("copy-write PostSnapshot %s refused no-volume", sid);
                return false;
        }
        hr = vss_writer_get_snapshot_path(w, volume, &copy);
        if (VSS_FAILED(hr) || !copy) {
                say("copy-write PostSnapshot %s refused %s", sid, vss_hresult_name(hr) ?: "?");
                return false;
        }
        struct stat st;
        if (stat(copy, &st) == 0)
                say("copy-mode PostSnapshot %s mode=%04o write-bits=%d", sid, (unsigned) (st.st_mode & 07777),
                    (st.st_mode & 0222) != 0);
        snprintf(file, sizeof file, "%s/%s", copy, arg.write_copy);
        fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 || write(fd, "repaired\n", 9) != 9 || fsync(fd) < 0) {
                int e = errno;

                if (fd >= 0)
                        close(fd);
                say("copy-write PostSnapshot %s fail %s %s", sid, file, strerrorname_np(e) ?: "?");
                return false;
        }
        close(fd);
        say("copy-write PostSnapshot %s ok %s", sid, file);
        return true;
}

/*
 * What every handler does: report, then crash, hang, be slow, or fail as told.
 * @c: the components of a restore event (reported and written to), else NULL.
 */
static bool handle_components(vss_writer *w, vss_writer_event e, vss_writer_components *c) {
        const char *name = vss_writer_event_name(e);
        char sid[VSS_ID_STRING_MAX];
        vss_id session = {};
        bool ok = true, failed = false;

        (void) vss_writer_get_session_id(w, &session);
        vss_id_format(&session, sid);
        say("event %s %s begin", name, sid);
        if (arg.show_snapshot)
                report_snapshot(w, name, sid);

        if (arg.write_copy && e == VSS_EVENT_POST_SNAPSHOT && !write_copy(w, sid) && arg.recovery_fails) {
                /* A writer that cannot repair the copy (issue 9 part 2). */
                vss_hresult hr = vss_writer_set_failure(w, VSS_E_WRITERERROR_RECOVERY_FAILED);
                if (VSS_FAILED(hr))
                        fprintf(stderr, "lvss-test-writer: setting RECOVERY_FAILED refused: %s\n",
                                vss_hresult_name(hr) ?: "?");
                say("event %s %s fail", name, sid);
                return false;
        }

        if (arg.crash_at & EVENT_BIT(e)) {
                say("event %s %s crash", name, sid);
                raise(SIGKILL);
        }

        if (c) {
                report_components(w, e, sid, c);
                restore_store(e, c, arg.fail_at & EVENT_BIT(e));
        }

        if (arg.hang_at & EVENT_BIT(e)) {
                if (arg.have_hang_ms)
                        sleep_ms(arg.hang_ms);
                else {
                        say("event %s %s hang", name, sid);
                        hang_forever();
                }
        }

        if (arg.fail_at & EVENT_BIT(e)) {
                vss_hresult code = arg.fail_code, hr;
                bool set = arg.have_fail_code;

                if (!set && arg.fail_mode == FAIL_SET) {
                        /* "set" without a code still has to set something. */
                        code = VSS_E_WRITERERROR_NONRETRYABLE;
                        set = true;
                }

                if (set) {
                        /* S_OK and PARTIAL_FAILURE exist only for the _ex call (vss-reference.md §4.3). */
                        if (arg.have_app_result || arg.app_message || code == VSS_S_OK ||
                            code == VSS_E_WRITERERROR_PARTIAL_FAILURE)
                                hr = vss_writer_set_failure_ex(w, code, arg.app_result, arg.app_message);
                        else
                                hr = vss_writer_set_failure(w, code);
                        if (VSS_FAILED(hr))
                                fprintf(stderr, "lvss-test-writer: %s: setting failure 0x%08" PRIX32 " refused: %s\n",
                                        name, (uint32_t) code, vss_hresult_name(hr) ?: "?");
                        else if (code != VSS_S_OK)
                                failed = true;
                }

                if (arg.fail_mode != FAIL_SET) {
                        ok = false;
                        failed = true;
                }
        }

        say("event %s %s %s", name, sid, failed ? "fail" : "ok");
        return ok;
}

static bool handle(vss_writer *w, vss_writer_event e) {
        return handle_components(w, e, NULL);
}

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *userdata) {
        static const char *const default_components[] = { "data" };
        const char *const *names = arg.n_components ? arg.components : default_components;
        size_t n = arg.n_components ? arg.n_components : 1;
        vss_hresult hr;

        hr = vss_create_writer_metadata_set_restore_method(md, VSS_RME_RESTORE_IF_CAN_REPLACE, NULL, NULL,
                                                           VSS_WRE_NEVER, false);
        if (VSS_FAILED(hr))
                fprintf(stderr, "lvss-test-writer: set_restore_method: %s\n", vss_hresult_name(hr) ?: "?");

        for (size_t i = 0; i < n; i++) {
                hr = vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, "", names[i], names[i], NULL, 0,
                                                              false, true, true, true, 0);
                if (VSS_SUCCEEDED(hr))
                        hr = vss_create_writer_metadata_add_files_to_file_group(
                                md, "", names[i], arg.path, "*", true, NULL,
                                VSS_FSBT_ALL_BACKUP_REQUIRED | VSS_FSBT_ALL_SNAPSHOT_REQUIRED);
                if (VSS_FAILED(hr))
                        fprintf(stderr, "lvss-test-writer: component %s: %s\n", names[i],
                                vss_hresult_name(hr) ?: "?");
        }

        return handle(w, VSS_EVENT_IDENTIFY);
}

static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *userdata) {
        bool ok = handle(w, VSS_EVENT_PREPARE_BACKUP);
        unsigned n = 0;

        /* Something for the Backup Components Document to carry (BCD round trip tests). */
        (void) vss_writer_components_get_count(c, &n);
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp;
                char metadata[256];

                if (vss_writer_components_get_component(c, i, &comp) != VSS_S_OK)
                        continue;
                snprintf(metadata, sizeof metadata, "lvss-test-writer %s", arg.name);
                (void) vss_component_set_backup_metadata(comp, arg.backup_metadata ? arg.backup_metadata : metadata);
        }
        return ok;
}

static bool on_prepare_snapshot(vss_writer *w, void *userdata) {
        return handle(w, VSS_EVENT_PREPARE_SNAPSHOT);
}

static bool on_freeze(vss_writer *w, void *userdata) {
        return handle(w, VSS_EVENT_FREEZE);
}

static bool on_thaw(vss_writer *w, void *userdata) {
        return handle(w, VSS_EVENT_THAW);
}

static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *userdata) {
        bool ok = handle(w, VSS_EVENT_POST_SNAPSHOT);
        char stamp[VSS_ID_STRING_MAX];
        vss_id set = {};
        unsigned n = 0;

        /* The snapshot set id makes a recognisable backup stamp. */
        (void) vss_writer_get_current_snapshot_set_id(w, &set);
        vss_id_format(&set, stamp);
        (void) vss_writer_components_get_count(c, &n);
        for (unsigned i = 0; i < n; i++) {
                vss_component *comp;

                if (vss_writer_components_get_component(c, i, &comp) == VSS_S_OK)
                        (void) vss_component_set_backup_stamp(comp, stamp);
        }
        return ok;
}

static bool on_abort(vss_writer *w, void *userdata) {
        return handle(w, VSS_EVENT_ABORT);
}

static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *userdata) {
        return handle(w, VSS_EVENT_BACKUP_COMPLETE);
}

static bool on_backup_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        return handle(w, VSS_EVENT_BACKUP_SHUTDOWN);
}

static bool on_pre_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        return handle_components(w, VSS_EVENT_PRE_RESTORE, c);
}

static bool on_post_restore(vss_writer *w, vss_writer_components *c, void *userdata) {
        return handle_components(w, VSS_EVENT_POST_RESTORE, c);
}

static const vss_writer_callbacks callbacks = {
        .size = sizeof(vss_writer_callbacks),
        .on_identify = on_identify,
        .on_prepare_backup = on_prepare_backup,
        .on_prepare_snapshot = on_prepare_snapshot,
        .on_freeze = on_freeze,
        .on_thaw = on_thaw,
        .on_post_snapshot = on_post_snapshot,
        .on_abort = on_abort,
        .on_backup_complete = on_backup_complete,
        .on_backup_shutdown = on_backup_shutdown,
        .on_pre_restore = on_pre_restore,
        .on_post_restore = on_post_restore,
};

/* --handlers: the table with only the listed callbacks (on_identify always) */
static vss_writer_callbacks callbacks_chosen(void) {
        vss_writer_callbacks cb = callbacks;

        if (!arg.have_handlers)
                return cb;
#define KEEP(e, member)                                  \
        do {                                             \
                if (!(arg.handlers & EVENT_BIT(e)))      \
                        cb.member = NULL;                \
        } while (0)
        KEEP(VSS_EVENT_PREPARE_BACKUP, on_prepare_backup);
        KEEP(VSS_EVENT_PREPARE_SNAPSHOT, on_prepare_snapshot);
        KEEP(VSS_EVENT_FREEZE, on_freeze);
        KEEP(VSS_EVENT_THAW, on_thaw);
        KEEP(VSS_EVENT_POST_SNAPSHOT, on_post_snapshot);
        KEEP(VSS_EVENT_ABORT, on_abort);
        KEEP(VSS_EVENT_BACKUP_COMPLETE, on_backup_complete);
        KEEP(VSS_EVENT_BACKUP_SHUTDOWN, on_backup_shutdown);
        KEEP(VSS_EVENT_PRE_RESTORE, on_pre_restore);
        KEEP(VSS_EVENT_POST_RESTORE, on_post_restore);
#undef KEEP
        return cb;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: lvss-test-writer --name NAME [--instance NAME] [--writer-id GUID] [--freeze-timeout MS]\n"
                "                        [--fail-at EVENT]... [--fail-code NAME|HEX] [--fail-mode return|set|both]\n"
                "                        [--app-result HEX] [--app-message TEXT] [--app-message-size BYTES]\n"
                "                        [--hang-at EVENT]... [--hang-ms MS] [--crash-at EVENT]...\n"
                "                        [--component NAME]... [--path DIR]\n"
                "                        [--backup-metadata TEXT] [--restore-metadata TEXT]\n"
                "                        [--restore-failure-msg TEXT]\n"
                "                        [--raw-identify bad-metadata|wrong-signature|bad-components|old-writer|declared]\n"
                "                        [--show-snapshot] [--write-copy NAME] [--recovery-fails]\n"
                "                        [--handlers EVENT[,EVENT...]]\n"
                "EVENT: Identify PrepareForBackup PrepareForSnapshot Freeze Thaw PostSnapshot Abort\n"
                "       BackupComplete BackupShutdown PreRestore PostRestore\n");
}

/* A writer class id derived from the name (FNV-1a), so one name is one class across runs. */
static vss_id writer_id_from_name(const char *name) {
        uint64_t h1 = UINT64_C(0xcbf29ce484222325), h2 = UINT64_C(0x84222325cbf29ce4);
        vss_id id;

        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                h1 = (h1 ^ *p) * UINT64_C(0x100000001b3);
                h2 = (h2 ^ *p) * UINT64_C(0x100000001b3) + 0x9e37;
        }
        for (int i = 0; i < 8; i++) {
                id.bytes[i] = (uint8_t) (h1 >> (8 * i));
                id.bytes[8 + i] = (uint8_t) (h2 >> (8 * i));
        }
        id.bytes[6] = (id.bytes[6] & 0x0F) | 0x50; /* a name-based UUID (version 5 layout) */
        id.bytes[8] = (id.bytes[8] & 0x3F) | 0x80;
        return id;
}

static int parse_event_arg(const char *option, const char *value, uint32_t *mask) {
        vss_writer_event e = event_from_name(value);

        if (e == VSS_EVENT_NONE) {
                fprintf(stderr, "lvss-test-writer: %s: unknown event '%s'\n", option, value);
                return -EINVAL;
        }
        *mask |= EVENT_BIT(e);
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_NAME = 0x100,
                ARG_INSTANCE,
                ARG_WRITER_ID,
                ARG_FREEZE_TIMEOUT,
                ARG_FAIL_AT,
                ARG_FAIL_CODE,
                ARG_FAIL_MODE,
                ARG_APP_RESULT,
                ARG_APP_MESSAGE,
                ARG_APP_MESSAGE_SIZE,
                ARG_HANG_AT,
                ARG_HANG_MS,
                ARG_CRASH_AT,
                ARG_COMPONENT,
                ARG_PATH,
                ARG_BACKUP_METADATA,
                ARG_RESTORE_METADATA,
                ARG_RESTORE_FAILURE_MSG,
                ARG_RAW_IDENTIFY,
                ARG_SHOW_SNAPSHOT,
                ARG_WRITE_COPY,
                ARG_RECOVERY_FAILS,
                ARG_HANDLERS,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "name", required_argument, NULL, ARG_NAME },
                { "instance", required_argument, NULL, ARG_INSTANCE },
                { "writer-id", required_argument, NULL, ARG_WRITER_ID },
                { "freeze-timeout", required_argument, NULL, ARG_FREEZE_TIMEOUT },
                { "fail-at", required_argument, NULL, ARG_FAIL_AT },
                { "fail-code", required_argument, NULL, ARG_FAIL_CODE },
                { "fail-mode", required_argument, NULL, ARG_FAIL_MODE },
                { "app-result", required_argument, NULL, ARG_APP_RESULT },
                { "app-message", required_argument, NULL, ARG_APP_MESSAGE },
                { "app-message-size", required_argument, NULL, ARG_APP_MESSAGE_SIZE },
                { "hang-at", required_argument, NULL, ARG_HANG_AT },
                { "hang-ms", required_argument, NULL, ARG_HANG_MS },
                { "crash-at", required_argument, NULL, ARG_CRASH_AT },
                { "component", required_argument, NULL, ARG_COMPONENT },
                { "path", required_argument, NULL, ARG_PATH },
                { "backup-metadata", required_argument, NULL, ARG_BACKUP_METADATA },
                { "restore-metadata", required_argument, NULL, ARG_RESTORE_METADATA },
                { "restore-failure-msg", required_argument, NULL, ARG_RESTORE_FAILURE_MSG },
                { "raw-identify", required_argument, NULL, ARG_RAW_IDENTIFY },
                { "show-snapshot", no_argument, NULL, ARG_SHOW_SNAPSHOT },
                { "write-copy", required_argument, NULL, ARG_WRITE_COPY },
                { "recovery-fails", no_argument, NULL, ARG_RECOVERY_FAILS },
                { "handlers", required_argument, NULL, ARG_HANDLERS },
                {}
        };
        uint64_t u;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                case ARG_NAME:
                        arg.name = optarg;
                        break;
                case ARG_INSTANCE:
                        arg.instance = optarg;
                        break;
                case ARG_WRITER_ID:
                        if (vss_id_parse(optarg, &arg.writer_id) != VSS_S_OK) {
                                fprintf(stderr, "lvss-test-writer: --writer-id: bad GUID '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg.have_writer_id = true;
                        break;
                case ARG_FREEZE_TIMEOUT:
                        if (parse_u64(optarg, &u) < 0 || u > UINT32_MAX) {
                                fprintf(stderr, "lvss-test-writer: --freeze-timeout: bad number '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg.freeze_timeout_ms = (uint32_t) u;
                        break;
                case ARG_FAIL_AT:
                        if (parse_event_arg("--fail-at", optarg, &arg.fail_at) < 0)
                                return -EINVAL;
                        break;
                case ARG_FAIL_CODE:
                        if (parse_hresult(optarg, &arg.fail_code) < 0) {
                                fprintf(stderr, "lvss-test-writer: --fail-code: unknown code '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg.have_fail_code = true;
                        break;
                case ARG_FAIL_MODE:
                        if (strcmp(optarg, "return") == 0)
                                arg.fail_mode = FAIL_RETURN;
                        else if (strcmp(optarg, "set") == 0)
                                arg.fail_mode = FAIL_SET;
                        else if (strcmp(optarg, "both") == 0)
                                arg.fail_mode = FAIL_BOTH;
                        else {
                                fprintf(stderr, "lvss-test-writer: --fail-mode: return, set or both\n");
                                return -EINVAL;
                        }
                        break;
                case ARG_APP_RESULT:
                        if (parse_hresult(optarg, &arg.app_result) < 0) {
                                fprintf(stderr, "lvss-test-writer: --app-result: bad number '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg.have_app_result = true;
                        break;
                case ARG_APP_MESSAGE:
                        arg.app_message = optarg;
                        break;
                case ARG_APP_MESSAGE_SIZE: {
                        uint64_t n;
                        char *msg;
                        if (parse_u64(optarg, &n) < 0 || n < 4 || n > 64 * 1024 * 1024) {
                                fprintf(stderr, "lvss-test-writer: --app-message-size: 4 to 64 MiB\n");
                                return -EINVAL;
                        }
                        msg = malloc(n + 1);
                        if (!msg)
                                return -ENOMEM;
                        for (uint64_t i = 0; i + 1 < n - 3; i += 2)
                                memcpy(msg + i, "\xc3\xa4", 2);
                        if ((n - 3) % 2)
                                msg[n - 4] = 'x';
                        memcpy(msg + n - 3, "END", 4);
                        arg.app_message = msg; /* lives as long as the process */
                        break;
                }
                case ARG_HANG_AT:
                        if (parse_event_arg("--hang-at", optarg, &arg.hang_at) < 0)
                                return -EINVAL;
                        break;
                case ARG_HANG_MS:
                        if (parse_u64(optarg, &arg.hang_ms) < 0) {
                                fprintf(stderr, "lvss-test-writer: --hang-ms: bad number '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg.have_hang_ms = true;
                        break;
                case ARG_CRASH_AT:
                        if (parse_event_arg("--crash-at", optarg, &arg.crash_at) < 0)
                                return -EINVAL;
                        break;
                case ARG_COMPONENT: {
                        const char **a = realloc(arg.components, (arg.n_components + 1) * sizeof *a);
                        if (!a) {
                                fprintf(stderr, "lvss-test-writer: out of memory\n");
                                return -ENOMEM;
                        }
                        arg.components = a;
                        arg.components[arg.n_components++] = optarg;
                        break;
                }
                case ARG_PATH:
                        arg.path = optarg;
                        break;
                case ARG_BACKUP_METADATA:
                        arg.backup_metadata = optarg;
                        break;
                case ARG_RESTORE_METADATA:
                        arg.restore_metadata = optarg;
                        break;
                case ARG_RESTORE_FAILURE_MSG:
                        arg.restore_failure_msg = optarg;
                        break;
                case ARG_RAW_IDENTIFY:
                        if (strcmp(optarg, "bad-metadata") != 0 && strcmp(optarg, "wrong-signature") != 0 &&
                            strcmp(optarg, "bad-components") != 0 && strcmp(optarg, "old-writer") != 0 &&
                            strcmp(optarg, "declared") != 0) {
                                fprintf(stderr, "lvss-test-writer: --raw-identify: bad-metadata, wrong-signature, "
                                                "bad-components, old-writer or declared\n");
                                return -EINVAL;
                        }
                        arg.raw_identify = optarg;
                        break;
                case ARG_SHOW_SNAPSHOT:
                        arg.show_snapshot = true;
                        break;
                case ARG_WRITE_COPY:
                        if (!*optarg || strchr(optarg, '/')) {
                                fprintf(stderr, "lvss-test-writer: --write-copy needs a file name, not '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg.write_copy = optarg;
                        break;
                case ARG_RECOVERY_FAILS:
                        arg.recovery_fails = true;
                        break;
                case ARG_HANDLERS: {
                        char *copy = strdup(optarg), *save = NULL;
                        if (!copy)
                                return -ENOMEM;
                        arg.have_handlers = true;
                        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                                if (parse_event_arg("--handlers", t, &arg.handlers) < 0) {
                                        free(copy);
                                        return -EINVAL;
                                }
                        free(copy);
                        break;
                }
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }

        if (optind < argc) {
                fprintf(stderr, "lvss-test-writer: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!arg.name || !*arg.name) {
                fprintf(stderr, "lvss-test-writer: --name is required\n");
                usage(stderr);
                return -EINVAL;
        }
        if (!arg.have_writer_id)
                arg.writer_id = writer_id_from_name(arg.name);
        return 0;
}

static const char *session_state_word(vss_writer_session_state s) {
        switch (s) {
        case VSS_SESSION_IN_PROGRESS:
                return "in-progress";
        case VSS_SESSION_COMPLETED:
                return "completed";
        case VSS_SESSION_ABORTED:
                return "aborted";
        case VSS_SESSION_RELEASED:
                return "released";
        default:
                return "none";
        }
}

/* ---- --raw-identify: a writer without liblvss ---------------------------- */

static vss_id raw_instance_id;

/* --raw-identify bad-components: a good Identify, then a PrepareForBackup answer lvssd must refuse whole. */
static int raw_reply_components(sd_bus_message *reply, vss_writer_event event) {
        char iid[VSS_ID_STRING_MAX], wid[VSS_ID_STRING_MAX];
        char *xml = NULL;
        int r;

        switch (event) {
        case VSS_EVENT_IDENTIFY:
                vss_id_format(&raw_instance_id, iid);
                vss_id_format(&arg.writer_id, wid);
                if (asprintf(&xml,
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<WRITER_METADATA version=\"1.0\"><IDENTIFICATION instanceId=\"%s\" writerId=\"%s\" "
                             "friendlyName=\"%s\" usage=\"USER_DATA\" dataSource=\"OTHER\"/><BACKUP_LOCATIONS>"
                             "<FILE_GROUP componentName=\"first\" restoreMetadata=\"false\" "
                             "notifyOnBackupComplete=\"false\" selectable=\"true\" selectableForRestore=\"true\" "
                             "componentFlags=\"0x0\"/>"
                             "<FILE_GROUP componentName=\"second\" restoreMetadata=\"false\" "
                             "notifyOnBackupComplete=\"false\" selectable=\"true\" selectableForRestore=\"true\" "
                             "componentFlags=\"0x0\"/>"
                             "</BACKUP_LOCATIONS></WRITER_METADATA>\n",
                             iid, wid, arg.name) < 0)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "biisa{sv}", 1, 0, 0, "", 1, "metadata", "s", xml);
                free(xml);
                return r;
        case VSS_EVENT_PREPARE_BACKUP:
                r = sd_bus_message_append(reply, "biis", 1, 0, 0, "");
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "s", "components");
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'v', "aa{sv}");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "aa{sv}", 2,
                                                  3, "name", "s", "first", "logical_path", "s", "",
                                                  "backup_metadata", "s", "from a refused answer",
                                                  1, "name", "u", (uint32_t) 2);
                for (unsigned i = 0; r >= 0 && i < 3; i++)
                        r = sd_bus_message_close_container(reply);
                return r;
        default:
                return sd_bus_message_append(reply, "biisa{sv}", 1, 0, 0, "", 0);
        }
}

/* old-writer, declared: a writer that answers every event with success (issue 11 §5) */
static bool raw_plain(void) {
        return strcmp(arg.raw_identify, "old-writer") == 0 || strcmp(arg.raw_identify, "declared") == 0;
}

/* Writer1 at /org/lvss/writer, by hand: Event answers success, Identify as told. */
static int raw_object(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        char sid[VSS_ID_STRING_MAX];
        vss_id session = {};
        uint32_t event;
        int r;

        if (!sd_bus_message_is_method_call(m, LVSS_WRITER_IFACE, NULL))
                return 0;
        if (!sd_bus_message_is_method_call(m, LVSS_WRITER_IFACE, "Event")) {
                /* SessionChanged and the like: nothing to say */
                return sd_bus_message_get_expect_reply(m) ? sd_bus_reply_method_return(m, NULL) : 1;
        }
        r = sd_bus_message_read(m, "u", &event);
        if (r >= 0)
                r = lvss_bus_read_id(m, &session);
        if (r < 0)
                return r;
        vss_id_format(&session, sid);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        bool plain = raw_plain();
        if (strcmp(arg.raw_identify, "bad-components") == 0 || (plain && event == VSS_EVENT_IDENTIFY))
                r = raw_reply_components(reply, (vss_writer_event) event); /* a valid document */
        else if (plain)
                r = sd_bus_message_append(reply, "biisa{sv}", 1, 0, 0, "", 0);
        else if (event == VSS_EVENT_IDENTIFY && strcmp(arg.raw_identify, "wrong-signature") == 0)
                r = sd_bus_message_append(reply, "s", "hello from a writer that does not speak Writer1");
        else if (event == VSS_EVENT_IDENTIFY)
                r = sd_bus_message_append(reply, "biisa{sv}", 1, 0, 0, "", 1, "metadata", "s",
                                          "<Writer>this is no writer metadata document</Writer>");
        else
                r = sd_bus_message_append(reply, "biisa{sv}", 1, 0, 0, "", 0);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;
        say("event %s %s %s", vss_writer_event_name((vss_writer_event) event) ?: "?", sid,
            event == VSS_EVENT_IDENTIFY && !plain ? "raw" : "ok");
        return 1;
}

static int raw_main(int sfd) {
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        char id[VSS_ID_STRING_MAX];
        vss_id instance_id = {};
        int r;

        r = lvss_bus_connect(NULL, &bus);
        if (r < 0) {
                fprintf(stderr, "lvss-test-writer: cannot connect: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = sd_bus_add_object(bus, NULL, LVSS_WRITER_PATH, raw_object, NULL);
        if (r >= 0) {
                sd_bus_message *call = NULL;
                bool declared = strcmp(arg.raw_identify, "declared") == 0;
                r = sd_bus_message_new_method_call(bus, &call, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE,
                                                   declared ? "SubscribeWriterWithEvents" : "SubscribeWriter");
                if (r >= 0)
                        r = lvss_bus_append_id(call, &arg.writer_id);
                if (r >= 0)
                        r = sd_bus_message_append(call, "ssuuiu", arg.name, arg.instance ? arg.instance : "",
                                                  (uint32_t) VSS_UT_USERDATA, (uint32_t) VSS_ST_OTHER,
                                                  (int32_t) VSS_APP_FRONT_END, arg.freeze_timeout_ms);
                if (r >= 0 && declared)
                        r = sd_bus_message_append(call, "u", arg.handlers);
                if (r >= 0)
                        r = sd_bus_call(bus, call, 0, &error, &reply);
                sd_bus_message_unref(call);
        }
        if (r >= 0)
                r = lvss_bus_read_id(reply, &instance_id);
        raw_instance_id = instance_id;
        sd_bus_message_unref(reply);
        if (r < 0) {
                fprintf(stderr, "lvss-test-writer: cannot subscribe: %s\n", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                sd_bus_flush_close_unref(bus);
                return EXIT_FAILURE;
        }
        vss_id_format(&instance_id, id);
        say("subscribed %s", id);

        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break; /* lvssd went */
                if (r > 0)
                        continue;
                struct pollfd p[2] = {
                        { .fd = sd_bus_get_fd(bus), .events = (short) sd_bus_get_events(bus) },
                        { .fd = sfd, .events = POLLIN },
                };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents & POLLIN) {
                        sd_bus_flush_close_unref(bus);
                        return EXIT_SUCCESS;
                }
        }
        say("disconnected");
        sd_bus_flush_close_unref(bus);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        vss_writer_session_state shown = VSS_SESSION_NONE;
        vss_writer_options opts = { .size = sizeof opts };
        vss_writer *w = NULL;
        char id[VSS_ID_STRING_MAX];
        vss_id instance_id = {};
        sigset_t mask;
        vss_hresult hr;
        int sfd, exit_code = EXIT_SUCCESS;

        if (parse_argv(argc, argv) < 0)
                return 2;

        /* Signals arrive through the poll loop, never in the middle of a handler. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                perror("lvss-test-writer: sigprocmask");
                return EXIT_FAILURE;
        }
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                perror("lvss-test-writer: signalfd");
                return EXIT_FAILURE;
        }

        if (arg.raw_identify)
                return raw_main(sfd);

        opts.writer_id = arg.writer_id;
        opts.writer_name = arg.name;
        opts.instance_name = arg.instance;
        opts.usage = VSS_UT_USERDATA;
        opts.source = VSS_ST_OTHER;
        opts.level = VSS_APP_FRONT_END;
        opts.freeze_timeout_ms = arg.freeze_timeout_ms;

        vss_writer_callbacks chosen = callbacks_chosen();
        hr = vss_writer_initialize(&opts, &chosen, NULL, &w);
        if (VSS_FAILED(hr)) {
                fprintf(stderr, "lvss-test-writer: cannot initialize the writer: %s (0x%08" PRIX32 ")\n",
                        vss_hresult_name(hr) ?: "?", (uint32_t) hr);
                return EXIT_FAILURE;
        }

        hr = vss_writer_subscribe(w);
        if (VSS_FAILED(hr)) {
                fprintf(stderr, "lvss-test-writer: cannot subscribe: %s (0x%08" PRIX32 "): %s\n",
                        vss_hresult_name(hr) ?: "?", (uint32_t) hr, vss_hresult_text(hr));
                vss_writer_release(w);
                return EXIT_FAILURE;
        }
        (void) vss_writer_get_instance_id(w, &instance_id);
        vss_id_format(&instance_id, id);
        say("subscribed %s", id);

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = vss_writer_get_fd(w), .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                };
                vss_writer_session_state now;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("lvss-test-writer: poll");
                        exit_code = EXIT_FAILURE;
                        break;
                }

                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        ssize_t n = read(sfd, &si, sizeof si);
                        (void) n;
                        break;
                }

                if (p[0].revents == 0)
                        continue;

                hr = vss_writer_process(w);

                now = vss_writer_get_session_state(w);
                if (now != shown) {
                        shown = now;
                        say("session %s", session_state_word(now));
                }

                if (hr == VSS_E_WRITER_INFRASTRUCTURE) {
                        say("disconnected");
                        break;
                }
                if (VSS_FAILED(hr)) {
                        fprintf(stderr, "lvss-test-writer: vss_writer_process: %s (0x%08" PRIX32 ")\n",
                                vss_hresult_name(hr) ?: "?", (uint32_t) hr);
                        exit_code = EXIT_FAILURE;
                        break;
                }
        }

        vss_writer_release(w);
        close(sfd);
        free(arg.components);
        return exit_code;
}

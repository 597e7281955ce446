/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 8 item 6: errors say what happened.
 *
 *  - AddToSnapshotSet / IsVolumeSupported with a provider id lvssd does not
 *    have: VSS_E_PROVIDER_NOT_REGISTERED, not a provider veto.
 *  - OpenSession with the state file system full: VSS_E_INSUFFICIENT_STORAGE
 *    and a message with the cause, not "Unexpected error".
 *  - The exec provider when its records cannot be written (disk full):
 *    VSS_E_INSUFFICIENT_STORAGE, the log says "No space left on device".
 *  - Writer-status history rows the catalog did not take: the step still
 *    succeeds (the backup is fine), but the requester's StepFinished
 *    message, ListWriters / `vssadmin list writers` and the session's
 *    catalog row say that the record is incomplete; a requester asks with
 *    vss_get_session_record_status() (Session1.GetRecordStatus), and vshadow
 *    warns on stderr and in its summary (exit status still 0).
 *
 * The full file system is real: a small tmpfs mounted on the state
 * directory (in a mount namespace of the test's own, so it cannot outlive
 * the test), filled with a file while lvssd runs. Needs root for the mount;
 * those tests are skipped without it.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "basic/util.h"
#include "harness.h"
#include "protocol/protocol.h"

static bool can_mount;

/* A 4 MiB tmpfs on the state directory, before lvssd starts. */
static void mount_small_state(itest_env *env) {
        if (!can_mount) {
                itest_note("skipped: needs root and a private mount namespace for a small tmpfs");
                skip();
        }
        CHECK(mount("lvss-itest", env->state_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0700") == 0,
              "mount tmpfs on %s: %m", env->state_dir);
}

static void unmount_small_state(itest_env *env) {
        /* lvssd may still have the catalog open: detach; the namespace ends with the test */
        CHECK(umount2(env->state_dir, MNT_DETACH) == 0, "umount %s: %m", env->state_dir);
}

/* Fill the state file system: a file written until ENOSPC. Returns its path (owned). */
static char *fill_state(itest_env *env) {
        static char block[64 * 1024];
        char *path = itest_xprintf("%s/fill", env->state_dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ssize_t n;

        CHECK(fd >= 0, "open %s: %m", path);
        memset(block, 'f', sizeof block);
        while ((n = write(fd, block, sizeof block)) > 0)
                ;
        CHECK(n < 0 && errno == ENOSPC, "filling %s stopped without ENOSPC: %m", path);
        /* the last partial block too */
        while (write(fd, block, 1) == 1)
                ;
        close(fd);
        return path;
}

/* OpenSession on a new connection (kept in *@ret_bus); the error message (owned) or NULL. */
static vss_hresult open_raw_session(itest_env *env, sd_bus **ret_bus, vss_id *ret_sid, char **ret_msg) {
        sd_bus_message *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_hresult hr;
        int r;

        *ret_msg = NULL;
        CHECK(lvss_bus_connect(env->socket_path, ret_bus) >= 0, "connect");
        r = sd_bus_call_method(*ret_bus, NULL, LVSS_COORDINATOR_PATH, LVSS_COORDINATOR_IFACE, "OpenSession", &err,
                               &reply, "");
        hr = r < 0 ? lvss_bus_error_to_hresult(&err, r) : VSS_S_OK;
        if (r < 0)
                *ret_msg = strdup(err.message ? err.message : "");
        else if (ret_sid)
                CHECK(lvss_bus_read_id(reply, ret_sid) >= 0, "OpenSession reply");
        sd_bus_error_free(&err);
        sd_bus_message_unref(reply);
        return hr;
}

/* Item 6: a provider id lvssd does not have is "not registered", not a veto. */
static void test_item6_provider_not_registered(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        vss_id unknown, snap, set;
        bool supported = true;

        itest_start_lvssd(env, &opts);
        memset(&unknown, 0x5a, sizeof unknown);
        vss_backup_components *bc = itest_requester(env, false);
        CHECK_HR(vss_is_volume_supported(bc, &unknown, env->data_dir, &supported), VSS_E_PROVIDER_NOT_REGISTERED,
                 "item 6: IsVolumeSupported with an unregistered provider id");
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "StartSnapshotSet");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &unknown, &snap), VSS_E_PROVIDER_NOT_REGISTERED,
                 "item 6: AddToSnapshotSet with an unregistered provider id");
        /* a registered one still works */
        vss_id copy_id;
        CHECK_HR(itest_provider_id(env->socket_path, "copy", &copy_id), VSS_S_OK, "the copy provider's id");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, &copy_id, &snap), VSS_S_OK,
                 "AddToSnapshotSet with the copy provider's id");
        itest_requester_release(env, bc);
}

/* Item 6: OpenSession with the state file system full says so. */
static void test_item6_open_session_state_full(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        sd_bus *bus = NULL;
        vss_backup_components *bc = NULL;
        char *msg = NULL;

        mount_small_state(env);
        itest_start_lvssd(env, &opts);
        char *fill = fill_state(env);

        vss_hresult hr = open_raw_session(env, &bus, NULL, &msg);
        itest_note("OpenSession with the state file system full: %s: %s", itest_hr_str(hr), strempty(msg));
        CHECK_HR(hr, VSS_E_INSUFFICIENT_STORAGE, "item 6: OpenSession with the state file system full");
        CHECK(msg && strstr(msg, "No space left on device"), "item 6: the error does not say why: %s", strempty(msg));
        free(msg);
        sd_bus_flush_close_unref(bus);
        CHECK_HR(vss_create_backup_components(&bc), VSS_E_INSUFFICIENT_STORAGE,
                 "item 6: vss_create_backup_components with the state file system full");
        CHECK(itest_lvssd_log_has(env, "cannot record it in the catalog: No space left on device"),
              "item 6: the log does not say why the session could not be opened");

        /* space again: sessions open again */
        CHECK(unlink(fill) == 0, "unlink %s: %m", fill);
        free(fill);
        CHECK(open_raw_session(env, &bus, NULL, &msg) == VSS_S_OK, "OpenSession once there is space: %s",
              strempty(msg));
        sd_bus_flush_close_unref(bus);
        unmount_small_state(env);
}

/* ---- a requester over raw D-Bus, to read StepFinished's message ---------------------- */

typedef struct step_result {
        bool got;
        char *name, *message;
        vss_hresult hr;
} step_result;

static int on_step_finished(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        step_result *r = userdata;
        const char *name, *message;
        int32_t hr;

        if (sd_bus_message_read(m, "sis", &name, &hr, &message) < 0)
                return 0;
        free(r->name);
        free(r->message);
        r->name = strdup(name);
        r->message = strdup(message);
        r->hr = hr;
        r->got = true;
        return 0;
}

/* Call an asynchronous Session1 step and wait (sd_bus_wait, bounded) for its StepFinished. */
static void raw_step(itest_env *env, sd_bus *bus, step_result *res, const char *member) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        uint64_t until = itest_now_mono_usec() + (uint64_t) itest_step_bound(env) * 1000;

        res->got = false;
        CHECK(sd_bus_call_method(bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, member, &err, NULL, "") >= 0,
              "%s: %s", member, err.message ? err.message : "?");
        sd_bus_error_free(&err);
        while (!res->got) {
                int r = sd_bus_process(bus, NULL);
                CHECK(r >= 0, "%s: the connection failed", member);
                if (r > 0)
                        continue;
                uint64_t now = itest_now_mono_usec();
                CHECK(now < until, "%s: no StepFinished", member);
                CHECK(sd_bus_wait(bus, until - now) >= 0, "sd_bus_wait");
        }
        CHECK(streq_ptr(res->name, member), "StepFinished for %s, expected %s", strempty(res->name), member);
}

static void raw_call(sd_bus *bus, const char *member, const char *types, ...) {
        sd_bus_message *m = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        va_list ap;

        CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, member) >= 0,
              "new call");
        va_start(ap, types);
        CHECK(sd_bus_message_appendv(m, types, ap) >= 0, "append");
        va_end(ap);
        CHECK(sd_bus_call(bus, m, 0, &err, NULL) >= 0, "%s: %s", member, err.message ? err.message : "?");
        sd_bus_error_free(&err);
        sd_bus_message_unref(m);
}

/* A raw requester session up to AddToSnapshotSet(env->data_dir), StepFinished matched into @res. */
static void raw_session_with_set(itest_env *env, sd_bus **ret_bus, sd_bus_slot **ret_slot, step_result *res,
                                 vss_id *ret_sid) {
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        vss_id null_id = { 0 };
        char *msg = NULL;

        CHECK_HR(open_raw_session(env, ret_bus, ret_sid, &msg), VSS_S_OK, "OpenSession: %s", strempty(msg));
        sd_bus *bus = *ret_bus;
        CHECK(sd_bus_match_signal(bus, ret_slot, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "StepFinished",
                                  on_step_finished, res) >= 0, "match StepFinished");
        raw_call(bus, "InitializeForBackup", "s", "");
        raw_call(bus, "SetBackupState", "bbub", 0, 0, (uint32_t) VSS_BT_FULL, 0);
        raw_step(env, bus, res, "GatherWriterMetadata");
        CHECK_HR(res->hr, VSS_S_OK, "GatherWriterMetadata");
        CHECK(!*res->message, "GatherWriterMetadata's message with nothing lost: %s", res->message);
        CHECK(sd_bus_call_method(bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "StartSnapshotSet", &err, NULL,
                                 "") >= 0, "StartSnapshotSet: %s", err.message ? err.message : "?");
        CHECK(sd_bus_message_new_method_call(bus, &m, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE,
                                             "AddToSnapshotSet") >= 0, "new call");
        CHECK(sd_bus_message_append(m, "s", env->data_dir) >= 0 && lvss_bus_append_id(m, &null_id) >= 0, "append");
        CHECK(sd_bus_call(bus, m, 0, &err, &reply) >= 0, "AddToSnapshotSet: %s", err.message ? err.message : "?");
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        sd_bus_error_free(&err);
}

/* Item 6: the exec provider cannot write its records (disk full): VSS_E_INSUFFICIENT_STORAGE and the cause. */
static void test_item6_exec_provider_disk_full(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        step_result res = { 0 };
        sd_bus *bus = NULL;
        sd_bus_slot *slot = NULL;
        vss_id sid;

        mount_small_state(env);
        char *fake = itest_fake_provider(env);
        char *config = itest_xprintf("%s/lvssd.conf", env->dir);
        char *body = itest_xprintf("# issue 8 item 6\n[Coordinator]\nExecProvider=fake:%s/provider\nDefaultProvider=fake\n",
                             fake);
        itest_write_file(config, body, strlen(body));
        itest_start_lvssd_config(env, &opts, config);
        itest_writer *w = WRITER(env, "w");

        raw_session_with_set(env, &bus, &slot, &res, &sid);
        raw_step(env, bus, &res, "PrepareForBackup");
        CHECK_HR(res.hr, VSS_S_OK, "PrepareForBackup");
        char *fill = fill_state(env);
        raw_step(env, bus, &res, "DoSnapshotSet");
        itest_note("DoSnapshotSet with the exec provider's storage full: %s \"%s\"", itest_hr_str(res.hr), res.message);
        CHECK_HR(res.hr, VSS_E_INSUFFICIENT_STORAGE,
                 "item 6: DoSnapshotSet when the exec provider cannot write its records");
        CHECK(strstr(res.message, "No space left on device"), "item 6: StepFinished does not say why: \"%s\"",
              res.message);
        CHECK(itest_lvssd_log_has(env, "cannot write the snapshot records in") &&
              itest_lvssd_log_has(env, "No space left on device"),
              "item 6: the log does not say why the exec provider failed");
        CHECK(unlink(fill) == 0, "unlink %s: %m", fill);
        raw_call(bus, "AbortBackup", "");
        itest_wait_event(env, w, "Abort", &sid, NULL, itest_ms(env, 10000));
        raw_call(bus, "Release", "");
        free(res.name);
        free(res.message);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        unmount_small_state(env);
        free(fill);
        free(body);
        free(config);
        free(fake);
}

/* Item 6: writer-status rows the catalog did not take make the record visibly incomplete. */
static void test_item6_history_incomplete(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        step_result res = { 0 };
        sd_bus *bus = NULL;
        sd_bus_slot *slot = NULL;
        vss_id sid;
        itest_admin a = { 0 };

        mount_small_state(env);
        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");

        raw_session_with_set(env, &bus, &slot, &res, &sid);

        /* the catalog cannot take PrepareForBackup's rows */
        char *fill = fill_state(env);
        raw_step(env, bus, &res, "PrepareForBackup");
        itest_note("PrepareForBackup with the state file system full: %s \"%s\"", itest_hr_str(res.hr), res.message);
        CHECK_HR(res.hr, VSS_S_OK, "PrepareForBackup (the backup itself is fine)");
        /* issue 11 §1: the rows are written on the catalog thread and nobody waits for them, so
         * PrepareForBackup's own StepFinished may come first; GetRecordStatus answers once the rows
         * queued before it are written (or not), and from then on every view says it */
        {
                sd_bus_message *reply = NULL;
                sd_bus_error err = SD_BUS_ERROR_NULL;
                int complete = 1;
                uint32_t lost = 0;
                const char *note = NULL;
                CHECK(sd_bus_call_method(bus, NULL, LVSS_SESSION_PATH, LVSS_SESSION_IFACE, "GetRecordStatus", &err,
                                         &reply, "") >= 0, "GetRecordStatus: %s", strempty(err.message));
                CHECK(sd_bus_message_read(reply, "bus", &complete, &lost, &note) >= 0, "GetRecordStatus's reply");
                CHECK(!complete && lost > 0 && strstr(note, "writer-status history incomplete") &&
                              strstr(note, "No space left on device"),
                      "item 6: GetRecordStatus does not say that the history is incomplete and why: %s, %u lost: "
                      "\"%s\"", complete ? "complete" : "incomplete", lost, note);
                sd_bus_message_unref(reply);
                sd_bus_error_free(&err);
        }
        itest_wait_event(env, w, "PrepareForBackup", &sid, "ok", itest_ms(env, 10000));
        char *line = itest_xprintf("session %s: writer-status history incomplete", itest_id_str(&sid));
        CHECK(itest_lvssd_log_has(env, line), "item 6: the log does not name the session: %s", line);
        free(line);

        /* the admin view and vssadmin */
        itest_list_writers(env, &a);
        const itest_admin_entry *ae = itest_admin_for(&a, w);
        CHECK(ae && ae->session_state && strstr(ae->session_state, "writer-status history incomplete"),
              "item 6: ListWriters' session state does not say the history is incomplete: %s",
              ae ? strempty(ae->session_state) : "(no entry)");
        itest_admin_free(&a);
        char *vssadmin = itest_xprintf("%s/tools/vssadmin", env->build_root);
        const char *argv[] = { vssadmin, "--socket", env->socket_path, "list", "writers", NULL };
        itest_proc *p = itest_spawn_program(env, "vssadmin list writers", argv, false, true);
        CHECK(itest_program_exit(env, p, itest_ms(env, 30000)) == 0, "vssadmin list writers failed");
        char *out = itest_stream_text(&p->out);
        CHECK(out && strstr(out, "writer-status history incomplete"),
              "item 6: vssadmin list writers does not show it:\n%s", strempty(out));
        free(out);
        free(vssadmin);

        /* space again: the session's own row records that its history is incomplete */
        CHECK(unlink(fill) == 0, "unlink %s: %m", fill);
        free(fill);
        raw_call(bus, "AbortBackup", "");
        raw_call(bus, "Release", "");
        char *reason = NULL;
        char *st = itest_wait_session_end(env, &sid, &reason, itest_ms(env, 10000));
        CHECK(reason && strstr(reason, "writer-status history incomplete"),
              "item 6: the session's catalog row (%s) does not say its history is incomplete: %s", strempty(st),
              strempty(reason));
        free(st);
        free(reason);
        free(res.name);
        free(res.message);
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        unmount_small_state(env);
}

/*
 * Item 6 (last bullet): the requester using liblvss sees that the record is
 * incomplete, through vss_get_session_record_status() (GetRecordStatus).
 */
static void test_item6_record_status_api(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        bool complete = false;
        char *msg = NULL;
        vss_id snap;

        mount_small_state(env);
        itest_start_lvssd(env, &opts);
        itest_writer *w = WRITER(env, "w");

        vss_backup_components *bc = itest_requester(env, false);
        CHECK_HR(vss_get_session_record_status(bc, NULL, NULL), VSS_E_INVALIDARG, "NULL ret_complete");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_get_session_record_status(bc, &complete, &msg), VSS_S_OK, "item 6: record status, nothing lost");
        CHECK(complete && !msg, "item 6: nothing was lost, yet the record is %s: %s",
              complete ? "complete" : "incomplete", strempty(msg));
        itest_start_set(env, bc, &snap);

        /* the catalog cannot take PrepareForBackup's rows; the step itself succeeds */
        char *fill = fill_state(env);
        STEP_OK(env, bc, vss_prepare_for_backup);
        vss_id sid = itest_session_id(bc);
        itest_wait_event(env, w, "PrepareForBackup", &sid, "ok", itest_ms(env, 10000));
        complete = true;
        CHECK_HR(vss_get_session_record_status(bc, &complete, &msg), VSS_S_OK, "item 6: record status after rows were lost");
        itest_note("vss_get_session_record_status: %s \"%s\"", complete ? "complete" : "incomplete", strempty(msg));
        CHECK(!complete, "item 6: liblvss says the record is complete although rows were lost");
        CHECK(msg && strstr(msg, "writer-status history incomplete") && strstr(msg, "No space left on device"),
              "item 6: the message does not say what was lost and why: %s", strempty(msg));
        free(msg);
        msg = NULL;
        /* the message is optional */
        complete = true;
        CHECK_HR(vss_get_session_record_status(bc, &complete, NULL), VSS_S_OK, "record status without a message");
        CHECK(!complete, "item 6: incomplete without the message too");

        CHECK(unlink(fill) == 0, "unlink %s: %m", fill);
        free(fill);
        CHECK_HR(vss_abort_backup(bc), VSS_S_OK, "AbortBackup");
        itest_requester_release(env, bc);
        unmount_small_state(env);
}

/* vshadow with @args on the test's lvssd, to its end: exit code, stdout and stderr (owned). */
static int run_vshadow(itest_env *env, const char *const *args, char **ret_out, char **ret_err) {
        const char *argv[16];
        size_t n = 0;
        char *path = itest_xprintf("%s/tools/vshadow", env->build_root);

        argv[n++] = path;
        for (size_t i = 0; args[i] && n < 15; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        itest_proc *p = itest_spawn_program(env, "vshadow", argv, true, false);
        int code = itest_program_exit(env, p, itest_ms(env, 60000));
        *ret_out = itest_stream_text(&p->out);
        *ret_err = itest_read_file(p->log_path);
        if (!*ret_err)
                *ret_err = strdup("");
        free(path);
        return code;
}

/*
 * Item 6 (last bullet): vshadow warns when lvssd's record of its backup is
 * incomplete. Its -exec command fills the state file system, so the
 * catalog cannot take BackupComplete's rows. The backup itself is good:
 * exit 0 (vshadow(8)), but a line on stderr and the summary say it, and
 * --json has "record_complete": false with the message.
 */
static void test_item6_record_status_vshadow(void **state) {
        itest_env *env = *state;
        itest_lvssd_opts opts = { .identify_timeout_ms = 5000, .event_timeout_ms = 10000 };
        char *out = NULL, *err = NULL;
        int code;

        mount_small_state(env);
        itest_start_lvssd(env, &opts);
        (void) WRITER(env, "w");
        char *fill = itest_xprintf("%s/fill", env->state_dir);
        char *exec = itest_xprintf("-exec=cat /dev/zero > %s 2>/dev/null; exit 0", fill);

        /* nothing lost: no warning, "record_complete": true */
        code = run_vshadow(env, (const char *const[]) { "--json", env->data_dir, NULL }, &out, &err);
        CHECK(code == 0, "vshadow --json exited %d\n---- stdout\n%s---- stderr\n%s", code, out, err);
        CHECK(strstr(out, "\"record_complete\": true") && !strstr(err, "incomplete"),
              "item 6: a backup with nothing lost is not reported complete\n---- stdout\n%s---- stderr\n%s", out, err);
        free(out);
        free(err);

        /* rows lost: exit 0, the warning on stderr, the summary line */
        code = run_vshadow(env, (const char *const[]) { exec, env->data_dir, NULL }, &out, &err);
        itest_note("vshadow's stderr:\n%s", err);
        CHECK(code == 0, "item 6: vshadow exited %d; the backup itself is good\n---- stdout\n%s---- stderr\n%s", code,
              out, err);
        CHECK(strstr(err, "vshadow: warning: lvssd's record of session ") &&
                      strstr(err, " is incomplete: writer-status history incomplete: ") &&
                      strstr(err, "No space left on device"),
              "item 6: vshadow does not warn that the record is incomplete\n---- stderr\n%s", err);
        CHECK(strstr(out, "Record in lvssd's catalog incomplete"),
              "item 6: vshadow's summary does not say the record is incomplete\n%s", out);
        free(out);
        free(err);
        CHECK(unlink(fill) == 0, "unlink %s: %m", fill);

        /* and in --json */
        code = run_vshadow(env, (const char *const[]) { "--json", exec, env->data_dir, NULL }, &out, &err);
        CHECK(code == 0, "item 6: vshadow --json exited %d\n---- stdout\n%s---- stderr\n%s", code, out, err);
        CHECK(strstr(out, "\"record_complete\": false") &&
                      strstr(out, "\"record_message\": \"writer-status history incomplete: "),
              "item 6: vshadow --json does not say the record is incomplete\n%s", out);
        CHECK(strstr(err, "vshadow: warning: lvssd's record of session "), "item 6: no warning with --json\n%s", err);
        free(out);
        free(err);
        CHECK(unlink(fill) == 0, "unlink %s: %m", fill);
        free(exec);
        free(fill);
        unmount_small_state(env);
}

int main(void) {
        /* a mount namespace of our own (no threads yet): the tmpfs cannot outlive us */
        can_mount = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
        if (!can_mount)
                printf("test-errors-said: no private mount namespace (%m): the disk-full tests are skipped\n");
        const struct CMUnitTest tests[] = {
                ITEST(test_item6_provider_not_registered),
                ITEST(test_item6_open_session_state_full),
                ITEST(test_item6_exec_provider_disk_full),
                ITEST(test_item6_history_incomplete),
                ITEST(test_item6_record_status_api),
                ITEST(test_item6_record_status_vshadow),
        };
        return ITEST_MAIN("errors-said", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 9 part 1: what writers can see of the snapshot (lvss extension).
 * A real lvssd, real lvss-test-writer processes (--show-snapshot prints what
 * vss_writer_get_snapshot_volume_count / _get_snapshot_volume /
 * _is_set_atomic / _is_auto_recovery answer in every event):
 *
 *   - the copy provider: the volume is not atomic, the set is not atomic;
 *   - an exec provider whose prepare says "atomic": the volume is atomic and,
 *     being the only one, so is the set;
 *   - an exec provider that says nothing (programs written before the word
 *     existed): not atomic, the safe default;
 *   - auto_recovery (issue 9 part 2): true with the copy provider, false with
 *     exec providers that do not say "writable";
 *   - Identify and PrepareForBackup: every call answers VSS_E_BAD_STATE.
 *
 * The btrfs provider's answers (atomic per subvolume, a set of two not
 * atomic) are checked in test-btrfs-set, which has the loop device.
 */

#include <string.h>
#include <unistd.h>

#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 5000,
        .event_timeout_ms = 10000,
};

static const char *const bad_state_line =
        "refused count=VSS_E_BAD_STATE volume=VSS_E_BAD_STATE set_atomic=VSS_E_BAD_STATE "
        "auto_recovery=VSS_E_BAD_STATE";

/* The writer's "snapshot EVENT {sid} ..." line must be @want (after the sid). */
static size_t check_snapshot_line(itest_writer *w, const char *event, const vss_id *sid, const char *want) {
        char *prefix = itest_xprintf("snapshot %s %s ", event, itest_id_str(sid));
        ssize_t i = itest_find_line(&w->p.out, prefix, 0, w->p.out.n_lines);
        CHECK(i >= 0, "issue 9 part 1: %s printed no snapshot line in %s", w->p.label, event);
        const char *got = w->p.out.lines[i].text + strlen(prefix);
        CHECK(strcmp(got, want) == 0, "issue 9 part 1: in %s %s sees \"%s\", expected \"%s\"", event, w->p.label, got,
              want);
        free(prefix);
        return (size_t) i;
}

/* The "snapshot-volume EVENT {sid} index=0 ..." line ends with @want_tail (provider=P atomic=B). */
static void check_volume_line(itest_writer *w, const char *event, const vss_id *sid, const char *want_tail) {
        char *prefix = itest_xprintf("snapshot-volume %s %s index=0 ", event, itest_id_str(sid));
        ssize_t i = itest_find_line(&w->p.out, prefix, 0, w->p.out.n_lines);
        CHECK(i >= 0, "issue 9 part 1: %s printed no snapshot-volume line in %s", w->p.label, event);
        const char *got = w->p.out.lines[i].text;
        size_t gl = strlen(got), tl = strlen(want_tail);
        CHECK(gl >= tl && strcmp(got + gl - tl, want_tail) == 0,
              "issue 9 part 1: in %s %s sees \"%s\", expected it to end in \"%s\"", event, w->p.label, got, want_tail);
        CHECK(strstr(got, " volume=") && !strstr(got, " volume=- "), "issue 9 part 1: no volume path in \"%s\"", got);
        char *second = itest_xprintf("snapshot-volume %s %s index=1 ", event, itest_id_str(sid));
        CHECK(itest_find_line(&w->p.out, second, 0, w->p.out.n_lines) < 0,
              "issue 9 part 1: %s sees a second volume in %s", w->p.label, event);
        free(second);
        free(prefix);
}

/* One backup of env->data_dir with @provider (NULL: lvssd chooses); checks what the writer saw. */
static void backup_and_check(itest_env *env, const vss_id *provider, const char *want_set, const char *want_volume) {
        itest_writer *w = WRITER(env, "sees", "--show-snapshot", "--path", env->data_dir);
        vss_backup_components *bc = itest_requester(env, false);
        vss_id sid = itest_session_id(bc), set, snap;

        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_start_snapshot_set(bc, &set), VSS_S_OK, "vss_start_snapshot_set");
        CHECK_HR(vss_add_to_snapshot_set(bc, env->data_dir, provider, &snap), VSS_S_OK, "vss_add_to_snapshot_set(%s)",
                 env->data_dir);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        itest_wait_event(env, w, "PostSnapshot", &sid, "ok", itest_ms(env, 10000));

        /* WS/issue 9 part 1: not before PrepareForSnapshot */
        check_snapshot_line(w, "Identify", &sid, bad_state_line);
        check_snapshot_line(w, "PrepareForBackup", &sid, bad_state_line);
        /* from PrepareForSnapshot on: the provider's answer */
        static const char *const events[] = { "PrepareForSnapshot", "Freeze", "Thaw", "PostSnapshot" };
        for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
                check_snapshot_line(w, events[i], &sid, want_set);
                check_volume_line(w, events[i], &sid, want_volume);
        }

        STEP_OK(env, bc, vss_backup_complete);
        itest_wait_event(env, w, "BackupComplete", &sid, "ok", itest_ms(env, 10000));
        check_snapshot_line(w, "BackupComplete", &sid, want_set);
        itest_requester_release(env, bc);
}

/* Issue 9 part 1: the copy provider copies file after file: not atomic. */
static void test_copy_not_atomic(void **state) {
        itest_env *env = *state;
        vss_id copy;

        itest_start_lvssd(env, &opts);
        CHECK_HR(itest_provider_id(env->socket_path, "copy", &copy), VSS_S_OK, "the copy provider's id");
        backup_and_check(env, &copy, "volumes=1 set_atomic=0 auto_recovery=1", "provider=copy atomic=0");
}

static void start_with_fake(itest_env *env, const char *says) {
        char *fake = itest_fake_provider(env);
        char *config = itest_xprintf("%s/lvssd.conf", env->dir);
        char *body = itest_xprintf("# issue 9 part 1\n[Coordinator]\nExecProvider=fakeexec:%s/provider\n"
                                   "DefaultProvider=fakeexec\n",
                                   fake);
        if (says) {
                char *p = itest_xprintf("%s/prepare-says", fake);
                itest_write_file(p, says, strlen(says));
                free(p);
        }
        itest_write_file(config, body, strlen(body));
        itest_start_lvssd_config(env, &opts, config);
        free(body);
        free(config);
        free(fake);
}

/* Issue 9 part 1: an exec provider whose prepare prints "atomic": one atomic volume, an atomic set. */
static void test_exec_says_atomic(void **state) {
        itest_env *env = *state;
        vss_id id;

        start_with_fake(env, "some words first\natomic\n");
        CHECK_HR(itest_provider_id(env->socket_path, "fakeexec", &id), VSS_S_OK, "the exec provider's id");
        backup_and_check(env, &id, "volumes=1 set_atomic=1 auto_recovery=0", "provider=fakeexec atomic=1");
}

/* Issue 9 part 1: an exec provider that says nothing (or anything else) is not atomic. */
static void test_exec_says_nothing(void **state) {
        itest_env *env = *state;
        vss_id id;

        start_with_fake(env, NULL);
        CHECK_HR(itest_provider_id(env->socket_path, "fakeexec", &id), VSS_S_OK, "the exec provider's id");
        backup_and_check(env, &id, "volumes=1 set_atomic=0 auto_recovery=0", "provider=fakeexec atomic=0");
}

/* Issue 9 part 1: "not-atomic" and words that only contain "atomic" are no "atomic". */
static void test_exec_says_not_atomic(void **state) {
        itest_env *env = *state;
        vss_id id;

        start_with_fake(env, "not-atomic\natomically\n");
        CHECK_HR(itest_provider_id(env->socket_path, "fakeexec", &id), VSS_S_OK, "the exec provider's id");
        backup_and_check(env, &id, "volumes=1 set_atomic=0 auto_recovery=0", "provider=fakeexec atomic=0");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_copy_not_atomic),
                ITEST(test_exec_says_atomic),
                ITEST(test_exec_says_nothing),
                ITEST(test_exec_says_not_atomic),
        };
        return ITEST_MAIN("snapshot-kind", tests);
}

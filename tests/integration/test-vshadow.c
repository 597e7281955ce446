/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow as a subprocess (cli.md, "vshadow — the requester tool"), against
 * a real lvssd and real test writers: exit status, output, and what the
 * writers and the state directory show afterwards.
 *
 * Acceptance lines (issue 4):
 *  A1 "Round trip: a backup in component mode with two writers, -bc saved;
 *     a restore from that file with -r drives PreRestore and PostRestore,
 *     and the status after each is as WS-12 says; a writer told to fail
 *     PostRestore shows `[14] Failed` with its message."
 *  A2 "The saved BCD holds the writers' backup metadata and stamps; a
 *     restore hands each writer exactly what it stored."
 *  A3 "-exec sees the shadow copy paths and its exit status becomes
 *     vshadow's; -wi on a failing writer aborts the backup and leaves
 *     nothing behind."
 * cli.md: exit 0 on success, 1 on failure with one clear line on stderr;
 * -exec=COMMAND "its environment holds LVSS_SHADOW_<n> paths and
 * LVSS_SNAPSHOT_SET_ID; its exit status is vshadow's"; -wi "a required
 * writer that fails aborts the backup and exits 1"; -r / -rs "PreRestore,
 * copy back, PostRestore, status after each".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "documents/bcd.h"
#include "harness.h"

static const itest_lvssd_opts opts = {
        .identify_timeout_ms = 1500,
        .event_timeout_ms = 5000,
};

typedef struct vshadow_result {
        int code;
        char *out, *err;
        itest_proc *p;
} vshadow_result;

static void vshadow_result_free(vshadow_result *r) {
        free(r->out);
        free(r->err);
        memset(r, 0, sizeof *r);
}

/* Runs vshadow with @args (NULL-terminated) to its end. */
static void vshadow_run(itest_env *env, vshadow_result *ret, const char *const *args) {
        const char *argv[32];
        size_t n = 0;
        char *path = NULL;

        CHECK(asprintf(&path, "%s/tools/vshadow", env->build_root) > 0, "out of memory");
        argv[n++] = path;
        for (size_t i = 0; args[i] && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        memset(ret, 0, sizeof *ret);
        ret->p = itest_spawn_program(env, "vshadow", argv, true, false);
        ret->code = itest_program_exit(env, ret->p, itest_ms(env, 60000));
        ret->out = itest_stream_text(&ret->p->out);
        ret->err = itest_read_file(ret->p->log_path);
        if (!ret->err)
                ret->err = strdup("");
        free(path);
}
#define VSHADOW(env, ret, ...) vshadow_run(env, ret, (const char *const[]) { __VA_ARGS__, NULL })

#define CHECK_EXIT(r, expected, what)                                                                       \
        CHECK((r)->code == (expected), "%s: vshadow exited with %d, expected %d\n---- stdout\n%s---- stderr\n%s", \
              what, (r)->code, expected, (r)->out, (r)->err)

/* The id after "@label" on a line of @text ("    Session: {…}"). */
static vss_id id_after(const vshadow_result *r, const char *label) {
        const char *p = strstr(r->out, label);
        vss_id id;
        char buf[VSS_ID_STRING_MAX];

        CHECK(p, "vshadow printed no \"%s\"\n%s", label, r->out);
        p += strlen(label);
        snprintf(buf, sizeof buf, "%.38s", p);
        CHECK(vss_id_parse(buf, &id) == VSS_S_OK, "no id after \"%s\": %s", label, buf);
        return id;
}

/* The text after the @nth (0-based) "@label" up to the end of its line (owned). */
static char *text_after_nth(const vshadow_result *r, const char *label, unsigned nth) {
        const char *p = strstr(r->out, label);
        for (unsigned i = 0; p && i < nth; i++)
                p = strstr(p + 1, label);
        CHECK(p, "vshadow printed no \"%s\" (#%u)\n%s", label, nth + 1, r->out);
        p += strlen(label);
        return strndup(p, strcspn(p, "\n"));
}

static char *text_after(const vshadow_result *r, const char *label) {
        return text_after_nth(r, label, 0);
}

/*
 * The status block vshadow printed for writer @name after step @after
 * ("Writer status after PostRestore: ..." then blocks "Writer name: 'X'"
 * up to a blank line). Owned.
 */
static char *status_block(const vshadow_result *r, const char *after, const char *name) {
        char head[128], wn[128];
        snprintf(head, sizeof head, "Writer status after %s:", after);
        snprintf(wn, sizeof wn, "\nWriter name: '%s'\n", name);
        const char *h = strstr(r->out, head);
        CHECK(h, "vshadow printed no \"%s\"\n%s", head, r->out);
        /* the blocks of this gather end at the next numbered step line */
        const char *end = strstr(h, "\n[");
        const char *b = strstr(h, wn);
        CHECK(b && (!end || b < end), "no block for writer '%s' after %s\n%s", name, after, r->out);
        b++;
        const char *e = strstr(b, "\n\n");
        return strndup(b, e ? (size_t) (e - b) : strlen(b));
}

static void check_block_has(const char *block, const char *line, const char *what) {
        CHECK(strstr(block, line), "%s: no \"%s\" in\n%s", what, line, block);
}

static bool file_exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0;
}

static bool cond_no_shadows(itest_env *env, void *userdata) {
        (void) userdata;
        return itest_shadow_dir_count(env) == 0 && itest_catalog_snapshot_count(env, NULL) == 0;
}

/* Nothing of a backup is left: no shadow copy directory, no snapshot row in the catalog. */
static void check_nothing_left(itest_env *env, const char *what) {
        bool ok = itest_wait_state(env, cond_no_shadows, NULL, itest_ms(env, 10000));
        CHECK(ok, "%s: %d shadow copy directories and %d catalog snapshot rows are left", what,
              itest_shadow_dir_count(env), itest_catalog_snapshot_count(env, NULL));
}

/* One string of the document or of a report: both none, or equal. */
static void check_str(const char *what, const char *got, const char *expected) {
        bool same = (!got || !*got) ? (!expected || !*expected) : (expected && strcmp(got, expected) == 0);
        CHECK(same, "%s: got \"%s\", expected \"%s\"", what, got ? got : "(none)", expected ? expected : "(none)");
}

/* A2: in @event of session @sid, @w was handed its component "data" as it stored it. */
static void check_handed(itest_env *env, itest_writer *w, const char *event, const vss_id *sid, const vss_id *set,
                         vss_file_restore_status frs) {
        itest_restore_report r;
        char expected[128], what[128];

        itest_restore_report_get(env, w, event, sid, &r);
        CHECK(r.found, "%s got no %s in the restore session %s", w->p.label, event, itest_id_str(sid));
        const itest_restore_component *c = itest_restore_report_find(&r, "data");
        CHECK(c, "%s: %s handed no component 'data'", w->p.label, event);
        snprintf(expected, sizeof expected, "lvss-test-writer %s", w->name);
        snprintf(what, sizeof what, "A2: %s: %s backup metadata", w->p.label, event);
        check_str(what, c->backup_metadata, expected);
        snprintf(what, sizeof what, "A2: %s: %s backup stamp", w->p.label, event);
        check_str(what, c->backup_stamp, itest_id_str(set));
        CHECK(c->selected, "%s: %s: 'data' not selected", w->p.label, event);
        CHECK(c->file_restore_status == (unsigned) frs, "%s: %s: file restore status %u, expected %u", w->p.label,
              event, c->file_restore_status, (unsigned) frs);
        itest_restore_report_free(&r);
}

static char *path_in(itest_env *env, const char *name) {
        char *p = NULL;
        CHECK(asprintf(&p, "%s/%s", env->dir, name) > 0, "out of memory");
        return p;
}

/* ---- A1, A2: -bc, then -r (and -rs) ------------------------------------------------- */

static void test_vshadow_bc_then_r(void **state) {
        itest_env *env = *state;
        vshadow_result r;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        itest_writer *b = WRITER(env, "B");
        char *bcd_path = path_in(env, "backup.xml");
        char *bc_arg = NULL, *r_arg = NULL, *rs_arg = NULL, *exec_arg = NULL, *marker = path_in(env, "rs-ran");

        CHECK(asprintf(&bc_arg, "-bc=%s", bcd_path) > 0 && asprintf(&r_arg, "-r=%s", bcd_path) > 0 &&
                      asprintf(&rs_arg, "-rs=%s", bcd_path) > 0,
              "out of memory");

        /* the backup, component mode because of -bc */
        VSHADOW(env, &r, bc_arg, env->data_dir);
        CHECK_EXIT(&r, 0, "vshadow -bc");
        vss_id set = id_after(&r, "Snapshot set: ");
        CHECK(strstr(r.out, "(component mode)"), "A1: -bc did not switch to component mode\n%s", r.out);
        vshadow_result_free(&r);

        /* A2: the file holds both writers' metadata documents, their backup metadata and stamps */
        char *xml = itest_read_file(bcd_path);
        CHECK(xml, "A1: -bc wrote no %s", bcd_path);
        lvss_bcd *bcd = NULL;
        int e = lvss_bcd_from_xml(xml, &bcd);
        CHECK(e >= 0, "A2: %s does not parse: %s", bcd_path, strerror(-e));
        CHECK(vss_id_equal(&bcd->snapshot_set_id, &set), "A2: the document names set %s, vshadow made %s",
              itest_id_str(&bcd->snapshot_set_id), itest_id_str(&set));
        CHECK(bcd->n_writers == 2 && bcd->n_components == 2, "A2: %zu writers, %zu components; expected 2 and 2",
              bcd->n_writers, bcd->n_components);
        itest_writer *ws[] = { a, b };
        for (size_t i = 0; i < 2; i++) {
                const lvss_bcd_writer *bw = NULL;
                const lvss_bcd_component *bc = NULL;
                char expected[64];
                for (size_t k = 0; k < bcd->n_writers; k++)
                        if (vss_id_equal(&bcd->writers[k].instance_id, &ws[i]->instance_id))
                                bw = &bcd->writers[k];
                for (size_t k = 0; k < bcd->n_components; k++)
                        if (vss_id_equal(&bcd->components[k].instance_id, &ws[i]->instance_id))
                                bc = &bcd->components[k];
                CHECK(bw && bc, "A2: the document lacks writer %s or its component", ws[i]->name);
                CHECK(bw->metadata_xml && strstr(bw->metadata_xml, "<WRITER_METADATA"),
                      "A2: no metadata document for %s", ws[i]->name);
                snprintf(expected, sizeof expected, "lvss-test-writer %s", ws[i]->name);
                check_str("A2: backup metadata", bc->backup_metadata, expected);
                check_str("A2: backup stamp", bc->backup_stamp, itest_id_str(&set));
        }
        lvss_bcd_free(bcd);
        free(xml);

        /* the applications restart for the restore (same classes, new instances) */
        vss_id a_id = a->writer_id, b_id = b->writer_id;
        itest_writer_stop(env, a);
        itest_writer_stop(env, b);
        itest_writer *a2 = WRITER_ID(env, "A", &a_id);
        itest_writer *b2 = WRITER_ID(env, "B", &b_id);

        /* A1: -r with -exec copying between PreRestore and PostRestore */
        VSHADOW(env, &r, r_arg, "-exec=echo exec-ran restore=$LVSS_RESTORE bcd=$LVSS_BCD set=$LVSS_SNAPSHOT_SET_ID");
        CHECK_EXIT(&r, 0, "A1: vshadow -r");
        vss_id sid = id_after(&r, "Session: ");
        const char *pre = strstr(r.out, "] PreRestore"), *ran = strstr(r.out, "\nexec-ran "),
                   *post = strstr(r.out, "] PostRestore");
        CHECK(pre && ran && post && pre < ran && ran < post,
              "A1: -exec did not run between PreRestore and PostRestore\n%s", r.out);
        char *line = text_after(&r, "\nexec-ran ");
        char expected_line[512];
        snprintf(expected_line, sizeof expected_line, "restore=1 bcd=%s set=%s", bcd_path, itest_id_str(&set));
        check_str("-exec environment in a restore", line, expected_line);
        free(line);
        /* WS-12: both stable after PreRestore and after PostRestore */
        static const char *const steps[] = { "PreRestore", "PostRestore" };
        for (size_t i = 0; i < 2; i++)
                for (size_t k = 0; k < 2; k++) {
                        char *blk = status_block(&r, steps[i], k ? "B" : "A");
                        check_block_has(blk, "   State: [1] Stable\n", "A1: status after a restore step");
                        check_block_has(blk, "   Last error: No error", "A1: status after a restore step");
                        free(blk);
                }
        vshadow_result_free(&r);
        /* A2: each writer was handed what it stored */
        check_handed(env, a2, "PreRestore", &sid, &set, VSS_RS_UNDEFINED);
        check_handed(env, b2, "PreRestore", &sid, &set, VSS_RS_UNDEFINED);
        check_handed(env, a2, "PostRestore", &sid, &set, VSS_RS_ALL);
        check_handed(env, b2, "PostRestore", &sid, &set, VSS_RS_ALL);

        /* -rs: the same sequence, -exec not run, nothing copied (VSS_RS_NONE) */
        CHECK(asprintf(&exec_arg, "-exec=touch %s", marker) > 0, "out of memory");
        VSHADOW(env, &r, rs_arg, exec_arg);
        CHECK_EXIT(&r, 0, "vshadow -rs");
        vss_id rsid = id_after(&r, "Session: ");
        CHECK(!file_exists(marker), "-rs ran the -exec command");
        vshadow_result_free(&r);
        check_handed(env, a2, "PostRestore", &rsid, &set, VSS_RS_NONE);

        /* A1: a writer told to fail PostRestore shows [14] Failed with its message, and vshadow fails */
        itest_writer_stop(env, b2);
        WRITER_ID(env, "B", &b_id, "--fail-at", "PostRestore", "--fail-code", "VSS_E_WRITERERROR_NONRETRYABLE",
                  "--app-message", "B: the restored log does not replay");
        VSHADOW(env, &r, r_arg, "-exec=true");
        CHECK_EXIT(&r, 1, "A1: vshadow -r with a writer failing PostRestore");
        char *blk = status_block(&r, "PostRestore", "B");
        check_block_has(blk, "   State: [14] Failed\n", "A1");
        check_block_has(blk, "   Last error: Non-retryable error\n", "A1");
        check_block_has(blk, "B: the restored log does not replay", "A1: the writer's message");
        free(blk);
        blk = status_block(&r, "PostRestore", "A");
        check_block_has(blk, "   State: [1] Stable\n", "A1: the other writer");
        free(blk);
        blk = status_block(&r, "PreRestore", "B");
        check_block_has(blk, "   State: [1] Stable\n", "A1: B before it failed");
        free(blk);
        CHECK(strstr(r.err, "B: the restored log does not replay"), "cli.md: stderr does not say why\n%s", r.err);
        vshadow_result_free(&r);

        free(bcd_path);
        free(bc_arg);
        free(r_arg);
        free(rs_arg);
        free(exec_arg);
        free(marker);
}

/* ---- A3: -exec ------------------------------------------------------------------------------ */

static void test_vshadow_exec_sees_shadow_copies(void **state) {
        itest_env *env = *state;
        vshadow_result r;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        char *script = path_in(env, "check-shadow.sh");
        char *bcd_path = path_in(env, "exec.xml");
        char *text = NULL, *exec0 = NULL, *exec7 = NULL, *bc_arg = NULL;
        char *data2 = path_in(env, "data2"), *c_txt = path_in(env, "data2/c.txt");

        /* a second volume: LVSS_SHADOW_2 */
        CHECK(mkdir(data2, 0755) == 0, "mkdir %s: %m", data2);
        itest_write_file(c_txt, "gamma\n", 6);

        /* the command proves the copy is there and readable while it runs, then exits with its argument */
        CHECK(asprintf(&text,
                       "#!/bin/sh\n"
                       "echo \"exec: set=$LVSS_SNAPSHOT_SET_ID shadow=$LVSS_SHADOW_1 second=${LVSS_SHADOW_2-none}\"\n"
                       "test -d \"$LVSS_SHADOW_1\" || exit 90\n"
                       "cmp -s \"$LVSS_SHADOW_1/a.txt\" '%s/a.txt' || exit 91\n"
                       "cmp -s \"$LVSS_SHADOW_1/sub/b.txt\" '%s/sub/b.txt' || exit 92\n"
                       "if [ \"$1\" = 0 ]; then cmp -s \"$LVSS_SHADOW_2/c.txt\" '%s/c.txt' || exit 93; fi\n"
                       "exit \"$1\"\n",
                       env->data_dir, env->data_dir, data2) > 0,
              "out of memory");
        itest_write_file(script, text, strlen(text));
        CHECK(chmod(script, 0755) == 0, "chmod %s: %m", script);
        CHECK(asprintf(&exec0, "-exec=%s 0", script) > 0 && asprintf(&exec7, "-exec=%s 7", script) > 0 &&
                      asprintf(&bc_arg, "-bc=%s", bcd_path) > 0,
              "out of memory");

        VSHADOW(env, &r, exec0, env->data_dir, data2);
        CHECK_EXIT(&r, 0, "A3: vshadow -exec (command exits 0)");
        vss_id set = id_after(&r, "Snapshot set: ");
        char *shadow = text_after(&r, "Snapshot path: "), *shadow2 = text_after_nth(&r, "Snapshot path: ", 1);
        char *line = text_after(&r, "\nexec: ");
        char expected[2048];
        snprintf(expected, sizeof expected, "set=%s shadow=%s second=%s", itest_id_str(&set), shadow, shadow2);
        check_str("A3: what -exec saw", line, expected);
        CHECK(strncmp(shadow, env->state_dir, strlen(env->state_dir)) == 0,
              "the shadow copy %s is not in the state directory", shadow);
        CHECK(!file_exists(shadow) && !file_exists(shadow2), "an auto-release shadow copy outlived vshadow");
        free(line);
        free(shadow);
        free(shadow2);
        vshadow_result_free(&r);
        check_nothing_left(env, "after a successful vshadow -exec");

        /* the command's exit status becomes vshadow's; the backup is not completed and leaves nothing */
        VSHADOW(env, &r, exec7, bc_arg, env->data_dir);
        CHECK_EXIT(&r, 7, "A3: vshadow -exec (command exits 7)");
        vss_id sid = id_after(&r, "Session: ");
        vshadow_result_free(&r);
        CHECK(itest_count_events(a, "BackupComplete", &sid, NULL) == 0,
              "A3: the backup whose -exec failed was completed anyway");
        CHECK(!file_exists(bcd_path), "A3: the document of the failed backup (%s) is left", bcd_path);
        check_nothing_left(env, "after vshadow -exec failed");

        free(script);
        free(bcd_path);
        free(text);
        free(exec0);
        free(exec7);
        free(bc_arg);
        free(data2);
        free(c_txt);
}

/* ---- A3: -wi on a failing writer, -wx ---------------------------------------------------------- */

static void test_vshadow_wi_failing_writer_aborts(void **state) {
        itest_env *env = *state;
        vshadow_result r;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        /* B fails PostSnapshot: no veto (WS-7), so only -wi makes it fatal */
        itest_writer *b = WRITER(env, "B", "--fail-at", "PostSnapshot", "--fail-code", "VSS_E_WRITERERROR_NONRETRYABLE",
                                 "--app-message", "B: cannot record the backup position");
        char *bcd1 = path_in(env, "plain.xml"), *bcd2 = path_in(env, "required.xml"), *bcd3 = path_in(env, "none.xml");
        char *bc1 = NULL, *bc2 = NULL, *bc3 = NULL, *tmp2 = NULL;
        CHECK(asprintf(&bc1, "-bc=%s", bcd1) > 0 && asprintf(&bc2, "-bc=%s", bcd2) > 0 &&
                      asprintf(&bc3, "-bc=%s", bcd3) > 0 && asprintf(&tmp2, "%s.tmp", bcd2) > 0,
              "out of memory");

        /* without -wi: the backup runs to its end and keeps its document (A's part of it is good),
         * but B's failure fails the run (issue 8 item 3: the requester acts on writer status):
         * exit 1, and one line names B, the event and the failure */
        VSHADOW(env, &r, bc1, env->data_dir);
        CHECK_EXIT(&r, 1, "item 8.3: vshadow with B failing PostSnapshot, B not required");
        CHECK(file_exists(bcd1), "the document of the completed backup is missing");
        {
                bool found = false;
                char *err = strdup(r.err);
                CHECK(err, "out of memory");
                for (char *line = err, *next; *line && !found; line = next) {
                        next = strchr(line, '\n');
                        if (next)
                                *next++ = 0;
                        else
                                next = line + strlen(line);
                        found = strstr(line, "writer 'B'") && strstr(line, "PostSnapshot") &&
                                strstr(line, "VSS_E_WRITERERROR_NONRETRYABLE") &&
                                strstr(line, "B: cannot record the backup position");
                }
                free(err);
                CHECK(found, "item 8.3: no line on stderr names writer B, PostSnapshot and its failure\n%s", r.err);
        }
        vss_id sid1 = id_after(&r, "Session: ");
        CHECK(itest_count_events(a, "BackupComplete", &sid1, "ok") == 1, "A's backup was not completed");
        vshadow_result_free(&r);
        check_nothing_left(env, "after an auto-release backup");

        /* -wi=B: the backup is aborted, exit 1, nothing left: no document, no shadow copy */
        VSHADOW(env, &r, "-wi=B", bc2, env->data_dir);
        CHECK_EXIT(&r, 1, "A3: vshadow -wi=B with B failing");
        vss_id sid = id_after(&r, "Session: ");
        CHECK(strstr(r.err, "B: cannot record the backup position"), "cli.md: stderr does not say why\n%s", r.err);
        CHECK(!file_exists(bcd2) && !file_exists(tmp2), "A3: the aborted backup left its document %s", bcd2);
        CHECK(itest_count_events(a, "BackupComplete", &sid, NULL) == 0 &&
                      itest_count_events(b, "BackupComplete", &sid, NULL) == 0,
              "A3: the aborted backup was completed anyway");
        CHECK(itest_count_events(b, "PostSnapshot", &sid, "fail") == 1, "B did not fail PostSnapshot in %s",
              itest_id_str(&sid));
        vshadow_result_free(&r);
        check_nothing_left(env, "A3: after the aborted backup");

        /* -wi naming no running writer: nothing is even prepared */
        VSHADOW(env, &r, "-wi=NoSuchWriter", bc3, env->data_dir);
        CHECK_EXIT(&r, 1, "A3: vshadow -wi=NoSuchWriter");
        sid = id_after(&r, "Session: ");
        CHECK(itest_count_events(a, "PrepareForBackup", &sid, NULL) == 0, "a backup missing its required writer was prepared");
        CHECK(!file_exists(bcd3), "A3: a document was left for a backup that never ran");
        vshadow_result_free(&r);
        check_nothing_left(env, "A3: after -wi named no writer");

        /* -wx=B: B takes no part (no PrepareForSnapshot, so no failing PostSnapshot); -wi=A: the same */
        static const char *const only_a[] = { "-wx=B", "-wi=A" };
        for (size_t i = 0; i < 2; i++) {
                VSHADOW(env, &r, only_a[i], env->data_dir);
                CHECK_EXIT(&r, 0, only_a[i]);
                sid = id_after(&r, "Session: ");
                CHECK(itest_count_events(a, "PostSnapshot", &sid, "ok") == 1, "%s: A took no part", only_a[i]);
                CHECK(itest_count_events(b, "PrepareForSnapshot", &sid, NULL) == 0,
                      "%s: B does not participate but got PrepareForSnapshot", only_a[i]);
                vshadow_result_free(&r);
        }

        free(bcd1);
        free(bcd2);
        free(bcd3);
        free(bc1);
        free(bc2);
        free(bc3);
        free(tmp2);
}

/* ---- -r with a document that is not one ------------------------------------------------------ */

static void test_vshadow_r_refuses_bad_documents(void **state) {
        itest_env *env = *state;
        vshadow_result r;
        itest_start_lvssd(env, &opts);
        itest_writer *a = WRITER(env, "A");
        char *bad = path_in(env, "bad.xml"), *missing = path_in(env, "missing.xml"), *arg = NULL;
        static const char text[] = "<BACKUP_COMPONENTS version=\"1.0\"><WRITER_COMPONENTS";

        itest_write_file(bad, text, sizeof text - 1);
        CHECK(asprintf(&arg, "-r=%s", bad) > 0, "out of memory");
        VSHADOW(env, &r, arg);
        CHECK_EXIT(&r, 1, "vshadow -r with a malformed document");
        CHECK(strstr(r.err, "not a valid Backup Components Document"), "cli.md: stderr does not say why\n%s", r.err);
        vshadow_result_free(&r);
        free(arg);

        CHECK(asprintf(&arg, "-r=%s", missing) > 0, "out of memory");
        VSHADOW(env, &r, arg);
        CHECK_EXIT(&r, 1, "vshadow -r with a missing file");
        CHECK(*r.err, "cli.md: nothing on stderr");
        vshadow_result_free(&r);
        free(arg);

        /* bad usage: exit 2 */
        VSHADOW(env, &r, "-r=");
        CHECK_EXIT(&r, 2, "vshadow -r= (no file)");
        vshadow_result_free(&r);

        CHECK(itest_count_events(a, "PreRestore", NULL, NULL) == 0, "a writer got PreRestore from a refused restore");
        free(bad);
        free(missing);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_vshadow_bc_then_r),
                ITEST(test_vshadow_exec_sees_shadow_copies),
                ITEST(test_vshadow_wi_failing_writer_aborts),
                ITEST(test_vshadow_r_refuses_bad_documents),
        };
        return ITEST_MAIN("vshadow", tests);
}

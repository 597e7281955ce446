/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Issue 12 §2 "Shadow copies on a schedule, with retention": storage limits
 * and retention against a real lvssd, real writers and a real small file
 * system.
 *
 * The copy provider's storage area is an ext4 file system of 16 MiB on a
 * loop device (autoclear), mounted in a private mount namespace of this
 * process; each test has its own StorageDir= on it and a [Volume PATH]
 * section for its data directory in lvssd.conf. Copies are taken the way the
 * timer does: the command line of lvss-shadow@.service's ExecStart= (as
 * meson configured it, with %f the volume and the program of this build),
 * so what the timer runs is what is tested, exit status and error lines
 * included.
 *
 *  - test_max_size_bytes / test_max_size_percent: MaxSize=5M and
 *    MaxSize=30% (of the 16 MiB file system) with a 3 MiB volume: the first
 *    copy fits; once the volume has grown to 6 MiB (more than the limit
 *    itself) the next is refused with VSS_E_INSUFFICIENT_STORAGE (the
 *    service fails: exit 1, the code on stderr), nothing is deleted for it
 *    and nothing is half made: no new row, nothing new in the storage area,
 *    every writer that was frozen was thawed. Once the volume is smaller
 *    and the first copy deleted the next one fits.
 *  - test_storage_full: no limit, a volume larger than the file system: the
 *    same refusal, the same nothing-left-behind.
 *  - test_retention_after_each_copy: KeepNewest=2: after each new persistent
 *    copy lvssd deletes what the rules let go, oldest first; the two newest
 *    stay (waited for by polling the listing with a generous deadline).
 *  - test_full_deletes_oldest_first: MaxSize=10M, 3 MiB copies: after each
 *    new copy lvssd deletes the oldest until one more as large fits, so
 *    every backup succeeds and the two newest stay.
 *  - test_full_at_commit_deletes_oldest: storage full at the commit
 *    (begin_prepare refused): a copy C larger than the last that fits only
 *    once the oldest copy A is deleted is made, A goes, B stays; a copy
 *    larger than the limit itself is refused with nothing deleted, nothing
 *    half made and the writer never told, and lvssd's log names the volume,
 *    the maximum, used and needed.
 *  - test_full_at_commit_spares_copies_in_use: the oldest copy belongs to a
 *    session still open: the next oldest goes instead.
 *  - test_keep_by_hand: `vssadmin delete shadows --for VOLUME --keep 1`
 *    deletes all but the newest; bad uses of --keep are refused (exit 2).
 *  - test_resize_shadow_storage: vssadmin list / resize shadowstorage; the
 *    resized limit is in force at once, survives a restart of lvssd and wins
 *    over lvssd.conf's MaxSize=.
 *
 * Without root, losetup or mkfs.ext4 the test says why and exits 77.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define SKIP_EXIT 77
#define ITEMS_OF(x) (sizeof(x) / sizeof((x)[0]))
#define VOLUME_FILE_BYTES (3 << 20)

static char fs_dir[256];
static itest_loop_fs storage_fs = { .loop_fd = -1 };

/* Idempotent; the test process only (itest_main_with_fs()). */
static void fs_cleanup(void) {
        itest_loop_fs_release("test-shadow-storage", &storage_fs);
        if (fs_dir[0]) {
                (void) rmdir(fs_dir);
                fs_dir[0] = 0;
        }
}

static void fs_release_in_signal(void) {
        itest_loop_fs_release_in_signal(&storage_fs);
        (void) rmdir(fs_dir);
}

static int fs_setup(void) {
        int r = itest_private_fs_dir("test-shadow-storage", "shadow-storage", "a loop device and a mount", fs_dir, sizeof fs_dir);

        if (r != 0)
                return r;
        snprintf(storage_fs.image, sizeof storage_fs.image, "%s/ext4.img", fs_dir);
        snprintf(storage_fs.mnt, sizeof storage_fs.mnt, "%s/ext4", fs_dir);
        return itest_loop_fs_make("test-shadow-storage", &storage_fs, "ext4", 16LL << 20, "-F", "e2fsprogs");
}

/* ---- helpers ------------------------------------------------------------------------ */

/* A file of @bytes real (non-sparse) data in the volume. */
static void put_data(itest_env *env, const char *name, size_t bytes) {
        char *path = itest_xprintf("%s/%s", env->data_dir, name);
        char *buf = malloc(bytes);

        CHECK(buf, "out of memory");
        for (size_t i = 0; i < bytes; i++)
                buf[i] = (char) (i * 7 + 1);
        itest_write_file(path, buf, bytes);
        free(buf);
        free(path);
}

/* Starts lvssd with StorageDir on the loop file system (its own per test) and @volume_keys
 * in the data directory's [Volume] section. The storage directory, owned. */
static char *start_with(itest_env *env, const char *volume_keys) {
        static unsigned n_started;
        char *storage = itest_xprintf("%s/storage-%u", storage_fs.mnt, ++n_started);
        char *conf = itest_write_config(env, "StorageDir=%s\n\n[Volume %s]\n%s\n", storage, env->data_dir,
                                        volume_keys);

        itest_start_lvssd_config(env, NULL, conf);
        free(conf);
        return storage;
}

typedef struct run {
        int code;
        char *text; /* stdout and stderr */
} run;

/* The timer's command: lvss-shadow@.service's ExecStart= for @volume, run to its end. */
static run shadow_service(itest_env *env, const char *volume) {
        char *unit = itest_xprintf("%s/src/coordinator/lvss-shadow@.service", env->build_root);
        char *text = itest_read_file(unit);
        char *line, *save = NULL, *argv[16] = {};
        size_t n = 0;
        itest_proc *p;
        run ret;

        CHECK(text, "cannot read %s", unit);
        line = strstr(text, "\nExecStart=");
        CHECK(line, "%s has no ExecStart=", unit);
        line += strlen("\nExecStart=");
        line[strcspn(line, "\n")] = 0;
        for (char *w = strtok_r(line, " ", &save); w && n < ITEMS_OF(argv) - 1; w = strtok_r(NULL, " ", &save)) {
                if (n == 0) {
                        /* the installed vssadmin: this build's */
                        const char *base = strrchr(w, '/');
                        CHECK(base && strcmp(base, "/vssadmin") == 0, "ExecStart= runs %s, not vssadmin", w);
                        argv[n++] = itest_xprintf("%s/tools/vssadmin", env->build_root);
                } else
                        argv[n++] = strcmp(w, "%f") == 0 ? strdup(volume) : strdup(w);
        }
        CHECK(n >= 4, "ExecStart= too short");
        p = itest_spawn_program(env, "lvss-shadow", (const char *const *) argv, false, true);
        ret.code = itest_program_exit(env, p, itest_ms(env, 60000));
        ret.text = itest_stream_text(&p->out);
        for (size_t i = 0; i < n; i++)
                free(argv[i]);
        free(text);
        free(unit);
        return ret;
}

static run vssadmin(itest_env *env, const char *const *args) {
        const char *argv[16] = {};
        size_t n = 0;
        itest_proc *p;
        run ret;

        argv[n++] = itest_xprintf("%s/tools/vssadmin", env->build_root);
        for (size_t i = 0; args[i] && n < ITEMS_OF(argv) - 1; i++)
                argv[n++] = args[i];
        p = itest_spawn_program(env, "vssadmin", argv, false, true);
        ret.code = itest_program_exit(env, p, itest_ms(env, 60000));
        ret.text = itest_stream_text(&p->out);
        free((char *) argv[0]);
        return ret;
}

/* Entries in the storage area: set directories and what is in them, hidden notes included. */
static int storage_entries(const char *storage) {
        DIR *d = opendir(storage);
        struct dirent *e;
        int n = 0;

        if (!d)
                return 0;
        while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                n++;
                char *set = itest_xprintf("%s/%s", storage, e->d_name);
                DIR *s = opendir(set);
                struct dirent *f;
                while (s && (f = readdir(s)))
                        n += strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0;
                if (s)
                        closedir(s);
                free(set);
        }
        closedir(d);
        return n;
}

static size_t shadow_count(itest_env *env) {
        itest_shadow_list l = {};
        size_t n;

        CHECK_HR(itest_list_shadows(env->socket_path, NULL, &l), VSS_S_OK, "ListShadows");
        n = l.n;
        itest_shadow_list_free(&l);
        return n;
}

/* Every Freeze the writer got was followed by a Thaw or an Abort: no writer left frozen. */
static void check_thawed(itest_env *env, itest_writer *w) {
        size_t freezes, thaws, aborts;

        itest_pump(env, 0);
        freezes = itest_count_events(w, "Freeze", NULL, "ok");
        thaws = itest_count_events(w, "Thaw", NULL, NULL) / 2;   /* begin and end lines */
        aborts = itest_count_events(w, "Abort", NULL, NULL) / 2;
        CHECK(thaws + aborts >= freezes, "writer %s: %zu Freeze, %zu Thaw, %zu Abort", w->name, freezes, thaws,
              aborts);
}

static void delete_all(itest_env *env, const char *storage) {
        uint32_t deleted = 0;

        if (shadow_count(env) > 0)
                CHECK_HR(itest_delete_shadows(env->socket_path, "all", NULL, NULL, false, &deleted), VSS_S_OK,
                         "delete all");
        CHECK(storage_entries(storage) == 0, "%d entries left in %s after deleting every copy",
              storage_entries(storage), storage);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void listed(itest_env *env, itest_shadow_list *l);

/* Issue 12 §2 storage full: a backup that still cannot fit fails with a clear error and nothing
 * half made. The first copy (3 MiB) fits; then the volume grows to 6 MiB, more than the limit
 * itself: even deleting every older copy would not make room, so nothing is deleted (the first
 * copy stays), the set is refused with VSS_E_INSUFFICIENT_STORAGE, and nothing is half made. */
static void limit_case(itest_env *env, const char *max_size) {
        char *keys = itest_xprintf("MaxSize=%s", max_size);
        char *storage = start_with(env, keys);
        itest_writer *w = WRITER(env, "w1");
        char *more = itest_xprintf("%s/more.bin", env->data_dir);
        itest_shadow_list l = {};
        vss_id first;
        run r;
        int before;

        put_data(env, "big.bin", VOLUME_FILE_BYTES);

        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "the first copy (MaxSize=%s): exit %d:\n%s", max_size, r.code, r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 1, "%zu copies after the first", l.n);
        first = l.v[0].snapshot_id;
        itest_shadow_list_free(&l);
        before = storage_entries(storage);

        put_data(env, "more.bin", VOLUME_FILE_BYTES); /* 6 MiB: more than the limit alone */
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 1, "a copy larger than MaxSize=%s must fail, exit %d:\n%s", max_size, r.code, r.text);
        CHECK(strstr(r.text, "VSS_E_INSUFFICIENT_STORAGE"), "no VSS_E_INSUFFICIENT_STORAGE in:\n%s", r.text);
        free(r.text);
        /* nothing half made, nothing deleted for nothing */
        listed(env, &l);
        CHECK(l.n == 1 && vss_id_equal(&l.v[0].snapshot_id, &first), "%zu copies listed after the refused one",
              l.n);
        itest_shadow_list_free(&l);
        CHECK(itest_catalog_snapshot_count(env, NULL) == 1, "%d catalog rows", itest_catalog_snapshot_count(env, NULL));
        CHECK(storage_entries(storage) == before, "the storage area had %d entries, now %d", before,
              storage_entries(storage));
        check_thawed(env, w);
        {
                char *log = itest_read_file(env->lvssd->log_path);
                CHECK(log && strstr(log, "shadow storage limit would be exceeded"), "lvssd's log does not say why");
                CHECK(strstr(log, "no room for the new shadow copy even without"),
                      "lvssd's log does not say that no room can be made");
                free(log);
        }

        /* room again once the volume is smaller and the first copy is gone */
        CHECK(unlink(more) == 0, "unlink %s: %m", more);
        delete_all(env, storage);
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "a copy after the deletion: exit %d:\n%s", r.code, r.text);
        free(r.text);
        delete_all(env, storage);
        free(more);
        free(storage);
        free(keys);
}

static void test_max_size_bytes(void **state) {
        limit_case(*state, "5M");
}

static void test_max_size_percent(void **state) {
        limit_case(*state, "30%");
}

/* Issue 12 §2: a backup that cannot fit in the file system fails clearly, nothing half made. */
static void test_storage_full(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "# no limit");
        itest_writer *w = WRITER(env, "w1");
        run r;

        put_data(env, "huge.bin", 20 << 20); /* more than the 16 MiB file system */
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 1, "a copy larger than the file system must fail, exit %d:\n%s", r.code, r.text);
        CHECK(strstr(r.text, "VSS_E_INSUFFICIENT_STORAGE"), "no VSS_E_INSUFFICIENT_STORAGE in:\n%s", r.text);
        free(r.text);
        CHECK(shadow_count(env) == 0, "%zu copies listed", shadow_count(env));
        CHECK(itest_catalog_snapshot_count(env, NULL) == 0, "%d catalog rows", itest_catalog_snapshot_count(env, NULL));
        CHECK(storage_entries(storage) == 0, "%d entries left in the storage area", storage_entries(storage));
        check_thawed(env, w);
        free(storage);
}

/* The listed copies, oldest first (by creation time). */
static void listed(itest_env *env, itest_shadow_list *l) {
        CHECK_HR(itest_list_shadows(env->socket_path, NULL, l), VSS_S_OK, "ListShadows");
        for (size_t i = 1; i < l->n; i++)
                for (size_t j = i; j > 0 && l->v[j - 1].created_usec > l->v[j].created_usec; j--) {
                        itest_shadow t = l->v[j];
                        l->v[j] = l->v[j - 1];
                        l->v[j - 1] = t;
                }
}

/* Polls the listing (generous deadline) until it has @n copies. */
static void wait_count(itest_env *env, size_t n) {
        uint64_t end = itest_now_mono_usec() + (uint64_t) itest_ms(env, 30000) * 1000;
        size_t got;

        while ((got = shadow_count(env)) != n && itest_now_mono_usec() < end)
                itest_pump(env, 50);
        CHECK(got == n, "%zu shadow copies listed, expected %zu", got, n);
}

/* Issue 12 §2: retention after each new persistent copy (KeepNewest=2). */
static void test_retention_after_each_copy(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "KeepNewest=2");
        vss_id made[4];

        WRITER(env, "w1");
        for (size_t i = 0; i < 4; i++) {
                itest_shadow_list l = {};
                run r = shadow_service(env, env->data_dir);

                CHECK(r.code == 0, "copy %zu: exit %d:\n%s", i + 1, r.code, r.text);
                free(r.text);
                wait_count(env, i + 1 < 2 ? i + 1 : 2);
                listed(env, &l);
                made[i] = l.v[l.n - 1].snapshot_id; /* the newest is the one just made */
                /* the survivors are the newest two made so far */
                for (size_t k = 0; k < l.n; k++)
                        CHECK(vss_id_equal(&l.v[k].snapshot_id, &made[i + 1 - l.n + k]),
                              "after copy %zu, survivor %zu is %s", i + 1, k, itest_id_str(&l.v[k].snapshot_id));
                itest_shadow_list_free(&l);
        }
        {
                char *log = itest_read_file(env->lvssd->log_path);
                CHECK(log && strstr(log, "retention: "), "lvssd's log says nothing of retention");
                free(log);
        }
        /* what retention deleted is gone from the disk too: 2 copies, each a directory and a note, in 2 sets */
        CHECK(storage_entries(storage) == 6, "%d entries in the storage area for 2 copies", storage_entries(storage));
        delete_all(env, storage);
        free(storage);
}

/* Issue 12 §2 storage full deletes oldest first: MaxSize=10M holds three 3 MiB copies;
 * after each new copy lvssd deletes the oldest ones until another as large fits, so every
 * backup succeeds and the two newest stay. */
static void test_full_deletes_oldest_first(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "MaxSize=10M");
        vss_id made[4];

        WRITER(env, "w1");
        put_data(env, "big.bin", VOLUME_FILE_BYTES);
        for (size_t i = 0; i < 4; i++) {
                itest_shadow_list l = {};
                run r = shadow_service(env, env->data_dir);

                CHECK(r.code == 0, "copy %zu under MaxSize=10M: exit %d:\n%s", i + 1, r.code, r.text);
                free(r.text);
                wait_count(env, i + 1 < 2 ? i + 1 : 2);
                listed(env, &l);
                made[i] = l.v[l.n - 1].snapshot_id;
                for (size_t k = 0; k < l.n; k++)
                        CHECK(vss_id_equal(&l.v[k].snapshot_id, &made[i + 1 - l.n + k]),
                              "after copy %zu, survivor %zu is %s", i + 1, k, itest_id_str(&l.v[k].snapshot_id));
                itest_shadow_list_free(&l);
        }
        {
                char *log = itest_read_file(env->lvssd->log_path);
                CHECK(log && strstr(log, "to make room under the shadow storage limit"),
                      "lvssd's log does not say why it deleted");
                free(log);
        }
        CHECK(storage_entries(storage) == 6, "%d entries in the storage area for 2 copies", storage_entries(storage));
        delete_all(env, storage);
        free(storage);
}

/* Issue 12 §2: vssadmin delete shadows --for VOLUME --keep N, by hand. */
static void test_keep_by_hand(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "# no rules");
        itest_shadow_list l = {};
        vss_id newest;
        run r;

        WRITER(env, "w1");
        for (size_t i = 0; i < 3; i++) {
                r = shadow_service(env, env->data_dir);
                CHECK(r.code == 0, "copy %zu: exit %d:\n%s", i + 1, r.code, r.text);
                free(r.text);
        }
        CHECK(shadow_count(env) == 3, "no rules: %zu copies of 3", shadow_count(env));
        listed(env, &l);
        newest = l.v[2].snapshot_id;
        itest_shadow_list_free(&l);

        /* bad uses: one clear line, exit 2 (three: a test has at most 8 child programs) */
        const char *const bad[][8] = {
                { "delete", "shadows", "--for", env->data_dir, "--keep", "0", "-y", NULL },
                { "delete", "shadows", "--all", "--keep", "1", "-y", NULL },
                { "delete", "shadows", "--for", env->data_dir, "--keep", "1", "--oldest", NULL },
        };
        for (size_t i = 0; i < ITEMS_OF(bad); i++) {
                r = vssadmin(env, bad[i]);
                CHECK(r.code == 2 && strstr(r.text, "--keep"), "bad use %zu: exit %d:\n%s", i, r.code, r.text);
                free(r.text);
        }
        CHECK(shadow_count(env) == 3, "a refused call deleted something");

        r = vssadmin(env, (const char *const[]) { "delete", "shadows", "--for", env->data_dir, "--keep", "1", "-y",
                                                  NULL });
        CHECK(r.code == 0 && strstr(r.text, "Successfully deleted 2 shadow copies"), "--keep 1: exit %d:\n%s", r.code,
              r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 1 && vss_id_equal(&l.v[0].snapshot_id, &newest), "--keep 1 left %zu copies, not the newest",
              l.n);
        itest_shadow_list_free(&l);
        /* nothing more to delete: 0, success */
        r = vssadmin(env, (const char *const[]) { "delete", "shadows", "--for", env->data_dir, "--keep", "1", "-y",
                                                  NULL });
        CHECK(r.code == 0 && strstr(r.text, "Successfully deleted 0 shadow copies"), "--keep 1 again: exit %d:\n%s",
              r.code, r.text);
        free(r.text);
        delete_all(env, storage);
        free(storage);
}

/* Issue 12 §2: vssadmin list / resize shadowstorage; a resized limit is stored in the
 * catalog, survives a restart and wins over lvssd.conf's MaxSize=. */
static void test_resize_shadow_storage(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "MaxSize=5M");
        char *conf = itest_xprintf("%s/lvssd.conf", env->dir);
        run r;

        WRITER(env, "w1");
        put_data(env, "big.bin", VOLUME_FILE_BYTES);
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "the first copy: exit %d:\n%s", r.code, r.text);
        free(r.text);

        r = vssadmin(env, (const char *const[]) { "list", "shadowstorage", "--for", env->data_dir, NULL });
        CHECK(r.code == 0 && strstr(r.text, "For volume: ") && strstr(r.text, env->data_dir) &&
                      strstr(r.text, "Maximum Shadow Copy Storage space: 5.0 MiB (5242880 bytes)") &&
                      strstr(r.text, "Used Shadow Copy Storage space: 3."),
              "list shadowstorage (config MaxSize=5M, one 3 MiB copy): exit %d:\n%s", r.code, r.text);
        free(r.text);

        /* a bad size: one line, exit 2 */
        r = vssadmin(env, (const char *const[]) { "resize", "shadowstorage", "--for", env->data_dir, "--maxsize",
                                                  "0", NULL });
        CHECK(r.code == 2 && strstr(r.text, "--maxsize"), "--maxsize 0: exit %d:\n%s", r.code, r.text);
        free(r.text);

        r = vssadmin(env, (const char *const[]) { "resize", "shadowstorage", "--for", env->data_dir, "--maxsize",
                                                  "20M", NULL });
        CHECK(r.code == 0, "resize to 20M: exit %d:\n%s", r.code, r.text);
        free(r.text);
        /* in force at once: the second copy, refused under 5M, fits */
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "the second copy under 20M: exit %d:\n%s", r.code, r.text);
        free(r.text);

        /* after a restart the stored 20M wins over the config's 5M */
        itest_kill_lvssd(env);
        itest_restart_lvssd(env, conf);
        r = vssadmin(env, (const char *const[]) { "--json", "list", "shadowstorage", NULL });
        CHECK(r.code == 0 && strstr(r.text, "\"maximum_bytes\"") && strstr(r.text, "20971520") &&
                      !strstr(r.text, "5242880"),
              "list shadowstorage --json after a restart: exit %d:\n%s", r.code, r.text);
        free(r.text);

        r = vssadmin(env, (const char *const[]) { "resize", "shadowstorage", "--for", env->data_dir, "--maxsize",
                                                  "UNBOUNDED", NULL });
        CHECK(r.code == 0, "resize to UNBOUNDED: exit %d:\n%s", r.code, r.text);
        free(r.text);
        r = vssadmin(env, (const char *const[]) { "list", "shadowstorage", "--for", env->data_dir, NULL });
        CHECK(r.code == 0 && strstr(r.text, "Maximum Shadow Copy Storage space: UNBOUNDED"),
              "list shadowstorage after UNBOUNDED: exit %d:\n%s", r.code, r.text);
        free(r.text);
        delete_all(env, storage);
        free(conf);
        free(storage);
}

/* Issue 12 §2 "when storage runs out, oldest first": (a) a new copy larger than the last, that
 * fits only once the oldest copy is deleted, is made: the oldest goes, the other stays (before:
 * refused with VSS_E_INSUFFICIENT_STORAGE although deleting would have made room). (b) A copy
 * larger than the limit itself: refused with VSS_E_INSUFFICIENT_STORAGE, nothing deleted
 * (lvssd computes first and deletes only when it will fit), nothing half made, the writer never
 * told to freeze. MaxSize=7M; A 4 MiB, B 1 MiB, C 2.5 MiB: A+B+C > 7M >= B+C+C, so the
 * retention after C (room for one more as large as C) keeps B. */
static void test_full_at_commit_deletes_oldest(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "MaxSize=7M");
        itest_writer *w = WRITER(env, "w1");
        itest_shadow_list l = {};
        vss_id a, b, c;
        size_t freezes, prepares;
        int entries;
        run r;

        put_data(env, "data.bin", 4 << 20);
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "copy A: exit %d:\n%s", r.code, r.text);
        free(r.text);
        put_data(env, "data.bin", 1 << 20);
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "copy B: exit %d:\n%s", r.code, r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 2, "%zu copies after A and B", l.n);
        a = l.v[0].snapshot_id;
        b = l.v[1].snapshot_id;
        itest_shadow_list_free(&l);

        /* (a) C: 2.5 MiB; 4 + 1 + 2.5 > 7 */
        put_data(env, "data.bin", (5 << 20) / 2);
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "copy C, which fits once A is deleted: exit %d:\n%s", r.code, r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 2 && vss_id_equal(&l.v[0].snapshot_id, &b) && !itest_shadow_find(&l, &a),
              "after C: %zu copies; A must be gone and B kept", l.n);
        c = l.v[1].snapshot_id;
        itest_shadow_list_free(&l);
        CHECK(itest_catalog_snapshot_count(env, NULL) == 2, "%d catalog rows after C",
              itest_catalog_snapshot_count(env, NULL));
        {
                char *log = itest_read_file(env->lvssd->log_path);
                CHECK(log && strstr(log, "the oldest copy no session uses, to make room") &&
                              strstr(log, itest_id_str(&a)),
                      "lvssd's log does not say it deleted A to make room");
                free(log);
        }

        /* (b) 7.5 MiB: more than MaxSize=7M even without B and C */
        entries = storage_entries(storage);
        itest_pump(env, 0);
        freezes = itest_count_events(w, "Freeze", NULL, NULL);
        prepares = itest_count_events(w, "PrepareForSnapshot", NULL, NULL);
        put_data(env, "data.bin", (15 << 20) / 2);
        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 1, "a copy larger than MaxSize=7M must fail, exit %d:\n%s", r.code, r.text);
        CHECK(strstr(r.text, "VSS_E_INSUFFICIENT_STORAGE"), "no VSS_E_INSUFFICIENT_STORAGE in:\n%s", r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 2 && vss_id_equal(&l.v[0].snapshot_id, &b) && vss_id_equal(&l.v[1].snapshot_id, &c),
              "the refused copy deleted something or was half made: %zu copies", l.n);
        itest_shadow_list_free(&l);
        CHECK(itest_catalog_snapshot_count(env, NULL) == 2, "%d catalog rows", itest_catalog_snapshot_count(env, NULL));
        CHECK(storage_entries(storage) == entries, "the storage area had %d entries, now %d", entries,
              storage_entries(storage));
        itest_pump(env, 0);
        CHECK(itest_count_events(w, "Freeze", NULL, NULL) == freezes &&
                      itest_count_events(w, "PrepareForSnapshot", NULL, NULL) == prepares,
              "the writer was told of a set refused before anything was frozen");
        {
                char *log = itest_read_file(env->lvssd->log_path);
                char *vol = itest_xprintf("%s: no room for the new shadow copy even without", env->data_dir);
                char *line = log ? strstr(log, vol) : NULL;
                char *eol = line ? strchr(line, '\n') : NULL;

                if (eol)
                        *eol = 0;
                free(vol);
                CHECK(line && strstr(line, "maximum 7340032 bytes") && strstr(line, "used ") &&
                              strstr(line, "needed ") && strstr(line, "nothing deleted"),
                      "lvssd's log does not name the volume, the maximum, used and needed");
                free(log);
        }
        delete_all(env, storage);
        free(storage);
}

/* Issue 12 §2 "never a copy a session is using": H, a persistent copy whose session is still
 * open (a requester holding an APP_ROLLBACK set), is the oldest; making room for a new copy
 * deletes the next oldest instead, and H stays. MaxSize=7M, 3 MiB copies: H + S1 fit, S2
 * needs one of them gone. */
static void test_full_at_commit_spares_copies_in_use(void **state) {
        itest_env *env = *state;
        char *storage = start_with(env, "MaxSize=7M");
        itest_shadow_list l = {};
        vss_backup_components *bc;
        vss_id h, s1, sid;
        run r;

        WRITER(env, "w1");
        put_data(env, "big.bin", VOLUME_FILE_BYTES);
        bc = itest_requester(env, false);
        sid = itest_session_id(bc);
        CHECK_HR(vss_set_context(bc, VSS_CTX_APP_ROLLBACK), VSS_S_OK, "vss_set_context(APP_ROLLBACK)");
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, &h);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);

        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "copy S1: exit %d:\n%s", r.code, r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 2 && vss_id_equal(&l.v[0].snapshot_id, &h), "%zu copies after H and S1", l.n);
        s1 = l.v[1].snapshot_id;
        itest_shadow_list_free(&l);

        r = shadow_service(env, env->data_dir);
        CHECK(r.code == 0, "copy S2, which fits once S1 is deleted: exit %d:\n%s", r.code, r.text);
        free(r.text);
        listed(env, &l);
        CHECK(l.n == 2 && itest_shadow_find(&l, &h) && !itest_shadow_find(&l, &s1),
              "H (in use) must stay and S1 go: %zu copies", l.n);
        itest_shadow_list_free(&l);
        CHECK(itest_catalog_snapshot_count(env, &sid) == 1, "H's row: %d", itest_catalog_snapshot_count(env, &sid));

        itest_requester_release(env, bc);
        delete_all(env, storage);
        free(storage);
}

int main(void) {
        static const struct CMUnitTest tests[] = {
                ITEST(test_max_size_bytes),
                ITEST(test_max_size_percent),
                ITEST(test_storage_full),
                ITEST(test_retention_after_each_copy),
                ITEST(test_full_deletes_oldest_first),
                ITEST(test_full_at_commit_deletes_oldest),
                ITEST(test_full_at_commit_spares_copies_in_use),
                ITEST(test_keep_by_hand),
                ITEST(test_resize_shadow_storage),
        };

        return ITEST_MAIN_WITH_FS("test-shadow-storage", tests, fs_setup, fs_cleanup, fs_release_in_signal);
}

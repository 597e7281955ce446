/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 11 §4 bullet 1 (ABI): the structures the library copies whole carry a
 * size field, so that they can grow without breaking programs built against
 * an older header.
 *
 *  - vss_writer_callbacks (input): the library reads min(size, sizeof);
 *  - vss_writer_status, vss_snapshot_prop (output): the caller sets size and
 *    the library fills at most that many bytes;
 *  - a size of 0 or below the first version's is refused with
 *    VSS_E_INVALIDARG, and an output is then left as it was.
 *
 * The *_v1 structures below are copies of the first version's layouts (the
 * version that introduced the size field). They must never change: when the
 * public structures grow, these become the "old binary" that must keep
 * working. The *_v2 structures are a newer caller's view (one field more
 * than this library knows), which must work too, with the unknown field left
 * alone. Everything runs against a real lvssd, an in-process writer and the
 * copy provider on the test's data directory.
 *
 * vss_file_desc is the other way (issue 11 §4, docs/api.md "Structure
 * sizes"): handed out as arrays inside vss_component_info, it cannot carry a
 * size, so it is frozen. file_desc_v1 is its lvss 0.1 layout; a program
 * built with it must read every element of the three arrays a component has.
 */

#include <pthread.h>
#include <stdatomic.h>

#include "harness.h"

typedef struct writer_callbacks_v1 {
        size_t size;
        bool (*on_identify)(vss_writer *w, vss_create_writer_metadata *md, void *userdata);
        bool (*on_prepare_backup)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_prepare_snapshot)(vss_writer *w, void *userdata);
        bool (*on_freeze)(vss_writer *w, void *userdata);
        bool (*on_thaw)(vss_writer *w, void *userdata);
        bool (*on_post_snapshot)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_abort)(vss_writer *w, void *userdata);
        bool (*on_backup_complete)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_backup_shutdown)(vss_writer *w, const vss_id *snapshot_set_id, void *userdata);
        bool (*on_pre_restore)(vss_writer *w, vss_writer_components *c, void *userdata);
        bool (*on_post_restore)(vss_writer *w, vss_writer_components *c, void *userdata);
} writer_callbacks_v1;

typedef struct writer_callbacks_v2 {
        writer_callbacks_v1 v1;
        bool (*on_something_new)(vss_writer *w, void *userdata); /* unknown to this library */
} writer_callbacks_v2;

typedef struct writer_status_v1 {
        size_t size;
        vss_id instance_id;
        vss_id writer_id;
        const char *writer_name;
        const char *instance_name;
        vss_writer_state state;
        vss_hresult failure;
        vss_hresult application_result;
        const char *application_message;
        vss_id session_id;
        vss_writer_event last_event;
        bool event_in_progress;
        uint64_t last_event_usec;
        uint64_t last_event_duration_usec;
} writer_status_v1;

typedef struct writer_status_v2 {
        writer_status_v1 v1;
        uint64_t something_new;
} writer_status_v2;

typedef struct snapshot_prop_v1 {
        size_t size;
        vss_id snapshot_id;
        vss_id snapshot_set_id;
        int32_t snapshots_count;
        char *snapshot_path;
        char *original_volume;
        vss_id provider_id;
        uint64_t creation_usec;
        uint32_t attributes;
        int32_t context;
} snapshot_prop_v1;

typedef struct snapshot_prop_v2 {
        snapshot_prop_v1 v1;
        uint64_t something_new;
} snapshot_prop_v2;

/* vss_file_desc of lvss 0.1: frozen, never to change (the arrays' stride) */
typedef struct file_desc_v1 {
        const char *path;
        const char *filespec;
        bool recursive;
        const char *alternate_location;
        uint32_t backup_type_mask;
} file_desc_v1;

/* This library is the first version: its structures are the v1 layouts. */
_Static_assert(sizeof(writer_callbacks_v1) == sizeof(vss_writer_callbacks), "v1 layout");
_Static_assert(sizeof(writer_status_v1) == sizeof(vss_writer_status), "v1 layout");
_Static_assert(sizeof(snapshot_prop_v1) == sizeof(vss_snapshot_prop), "v1 layout");
/* frozen: this header's vss_file_desc is, and stays, the lvss 0.1 layout */
_Static_assert(sizeof(file_desc_v1) == sizeof(vss_file_desc), "vss_file_desc is frozen");
_Static_assert(offsetof(file_desc_v1, alternate_location) == offsetof(vss_file_desc, alternate_location) &&
                       offsetof(file_desc_v1, backup_type_mask) == offsetof(vss_file_desc, backup_type_mask) &&
                       offsetof(file_desc_v1, recursive) == offsetof(vss_file_desc, recursive),
               "vss_file_desc is frozen");

#define POISON 0xA5A5A5A5A5A5A5A5ULL

static const itest_lvssd_opts opts = { 0 };

typedef struct counts {
        atomic_int identify, prepare_backup, freeze, thaw, post_snapshot, backup_complete, unknown;
} counts;

static bool on_identify(vss_writer *w, vss_create_writer_metadata *md, void *u) {
        (void) w, (void) md;
        atomic_fetch_add(&((counts *) u)->identify, 1);
        return true;
}
static bool on_prepare_backup(vss_writer *w, vss_writer_components *c, void *u) {
        (void) w, (void) c;
        atomic_fetch_add(&((counts *) u)->prepare_backup, 1);
        return true;
}
static bool on_freeze(vss_writer *w, void *u) {
        (void) w;
        atomic_fetch_add(&((counts *) u)->freeze, 1);
        return true;
}
static bool on_thaw(vss_writer *w, void *u) {
        (void) w;
        atomic_fetch_add(&((counts *) u)->thaw, 1);
        return true;
}
static bool on_post_snapshot(vss_writer *w, vss_writer_components *c, void *u) {
        (void) w, (void) c;
        atomic_fetch_add(&((counts *) u)->post_snapshot, 1);
        return true;
}
static bool on_backup_complete(vss_writer *w, vss_writer_components *c, void *u) {
        (void) w, (void) c;
        atomic_fetch_add(&((counts *) u)->backup_complete, 1);
        return true;
}
static bool on_something_new(vss_writer *w, void *u) {
        (void) w;
        atomic_fetch_add(&((counts *) u)->unknown, 1);
        return true;
}

static void *writer_thread(void *w) {
        vss_writer_run(w);
        return NULL;
}

static vss_writer_options writer_options(uint8_t seed) {
        vss_writer_options o = { .size = sizeof o };

        for (int i = 0; i < 16; i++)
                o.writer_id.bytes[i] = (uint8_t) (seed + i);
        o.writer_name = "abi-writer";
        o.usage = VSS_UT_USERDATA;
        o.source = VSS_ST_OTHER;
        return o;
}

/*
 * Drive one backup (gather, prepare, snapshot set, complete) with an
 * in-process writer whose callback table is @cb (of its own size), and check
 * that every handler the table has ran once.
 */
static void backup_with_callbacks(itest_env *env, const void *cb, uint8_t seed) {
        vss_writer_options o = writer_options(seed);
        vss_writer *w = NULL;
        counts c = { 0 };
        pthread_t t;

        CHECK_HR(vss_writer_initialize(&o, cb, &c, &w), VSS_S_OK, "vss_writer_initialize");
        CHECK_HR(vss_writer_subscribe(w), VSS_S_OK, "vss_writer_subscribe");
        CHECK(pthread_create(&t, NULL, writer_thread, w) == 0, "pthread_create");

        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, NULL);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_backup_complete);
        itest_requester_release(env, bc);
        vss_writer_stop(w);
        pthread_join(t, NULL);
        vss_writer_release(w);

        CHECK(c.identify == 1 && c.prepare_backup == 1 && c.freeze == 1 && c.thaw == 1 && c.post_snapshot == 1 &&
                      c.backup_complete == 1,
              "handlers ran identify %d, prepare_backup %d, freeze %d, thaw %d, post_snapshot %d, "
              "backup_complete %d times; expected once each",
              c.identify, c.prepare_backup, c.freeze, c.thaw, c.post_snapshot, c.backup_complete);
        CHECK(c.unknown == 0, "the library called a handler it does not know");
}

static writer_callbacks_v1 callbacks_v1(void) {
        return (writer_callbacks_v1) {
                .size = sizeof(writer_callbacks_v1),
                .on_identify = on_identify,
                .on_prepare_backup = on_prepare_backup,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_post_snapshot = on_post_snapshot,
                .on_backup_complete = on_backup_complete,
        };
}

/* §4.1: a callback table of the first version's size works; so does a newer
 * caller's bigger table (the handler this library does not know is never
 * called). */
static void test_abi_callbacks_old_and_new_size(void **state) {
        itest_env *env = *state;
        writer_callbacks_v1 v1 = callbacks_v1();
        writer_callbacks_v2 v2 = { .v1 = callbacks_v1(), .on_something_new = on_something_new };

        v2.v1.size = sizeof v2;
        itest_start_lvssd(env, &opts);
        backup_with_callbacks(env, &v1, 0x10);
        backup_with_callbacks(env, &v2, 0x30);
}

/* §4.1: a callback table whose size is 0 or below the first version's is
 * refused with VSS_E_INVALIDARG, and no writer is made. A NULL table is still
 * every handler default. */
static void test_abi_callbacks_bad_size(void **state) {
        (void) state;
        vss_writer_options o = writer_options(0x50);
        writer_callbacks_v1 cb = callbacks_v1();
        const size_t bad[] = { 0, 1, sizeof(size_t), offsetof(writer_callbacks_v1, on_post_restore),
                               sizeof cb - 1 };
        vss_writer *w;

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                cb.size = bad[i];
                w = (vss_writer *) &cb; /* must stay as it is */
                CHECK_HR(vss_writer_initialize(&o, (const vss_writer_callbacks *) &cb, NULL, &w), VSS_E_INVALIDARG,
                         "vss_writer_initialize with callbacks size %zu", bad[i]);
                CHECK(w == (vss_writer *) &cb, "the result was written on failure");
        }
        CHECK_HR(vss_writer_initialize(&o, NULL, NULL, &w), VSS_S_OK, "vss_writer_initialize without callbacks");
        vss_writer_release(w);
}

/* A session with one subscribed test writer and a snapshot set made. */
static vss_backup_components *session_with_set(itest_env *env, vss_id *ret_snap) {
        itest_start_lvssd(env, &opts);
        WRITER(env, "w1");
        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        itest_start_set(env, bc, ret_snap);
        STEP_OK(env, bc, vss_prepare_for_backup);
        STEP_OK(env, bc, vss_do_snapshot_set);
        STEP_OK(env, bc, vss_gather_writer_status);
        return bc;
}

/* §4.1: vss_get_writer_status fills a first-version structure; a newer
 * caller's structure is filled up to what the library knows and its new
 * field is left alone; a bad size is VSS_E_INVALIDARG and writes nothing. */
static void test_abi_writer_status(void **state) {
        itest_env *env = *state;
        vss_backup_components *bc = session_with_set(env, NULL);
        vss_id sid = itest_session_id(bc);
        writer_status_v1 v1;
        writer_status_v2 v2;
        unsigned n;

        CHECK_HR(vss_get_writer_status_count(bc, &n), VSS_S_OK, "count");
        CHECK(n == 1, "%u writers, expected 1", n);

        memset(&v1, 0, sizeof v1);
        v1.size = sizeof v1;
        CHECK_HR(vss_get_writer_status(bc, 0, (vss_writer_status *) &v1), VSS_S_OK, "status into a v1 structure");
        CHECK(v1.size == sizeof v1, "the size field changed to %zu", v1.size);
        CHECK(v1.writer_name && strcmp(v1.writer_name, "w1") == 0, "writer name %s",
              v1.writer_name ? v1.writer_name : "(null)");
        CHECK(vss_id_equal(&v1.writer_id, &env->writers[0]->writer_id), "writer id %s", itest_id_str(&v1.writer_id));
        CHECK(vss_id_equal(&v1.session_id, &sid), "session id %s", itest_id_str(&v1.session_id));
        CHECK(v1.state == VSS_WS_WAITING_FOR_BACKUP_COMPLETE, "state %s", vss_writer_state_name(v1.state));
        CHECK(v1.last_event == VSS_EVENT_POST_SNAPSHOT && !v1.event_in_progress && v1.last_event_usec > 0,
              "last event %s (in progress %d)", vss_writer_event_name(v1.last_event), v1.event_in_progress);

        memset(&v2, 0, sizeof v2);
        v2.v1.size = sizeof v2;
        v2.something_new = POISON;
        CHECK_HR(vss_get_writer_status(bc, 0, (vss_writer_status *) &v2), VSS_S_OK, "status into a v2 structure");
        CHECK(v2.something_new == POISON, "the library wrote past what it knows");
        CHECK(v2.v1.size == sizeof v2, "the size field changed");
        CHECK(v2.v1.writer_name && strcmp(v2.v1.writer_name, "w1") == 0 && v2.v1.state == v1.state &&
                      v2.v1.last_event_usec == v1.last_event_usec &&
                      v2.v1.last_event_duration_usec == v1.last_event_duration_usec,
              "the v2 structure does not hold what the v1 one did");

        const size_t bad[] = { 0, sizeof(size_t), offsetof(writer_status_v1, last_event_duration_usec),
                               sizeof v1 - 1 };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                memset(&v1, 0x5a, sizeof v1);
                v1.size = bad[i];
                CHECK_HR(vss_get_writer_status(bc, 0, (vss_writer_status *) &v1), VSS_E_INVALIDARG,
                         "status with size %zu", bad[i]);
                CHECK(v1.size == bad[i] && v1.state == (vss_writer_state) 0x5a5a5a5a,
                      "a refused call wrote into the structure");
        }
        CHECK_HR(vss_free_writer_status(bc), VSS_S_OK, "free");
}

/* §4.1: vss_get_snapshot_properties, same rules as the status; the strings
 * of the v1 and v2 structures are freed by vss_free_snapshot_properties,
 * which leaves the size field as it is (ASan/valgrind check the frees). */
static void test_abi_snapshot_prop(void **state) {
        itest_env *env = *state;
        vss_id snap;
        vss_backup_components *bc = session_with_set(env, &snap);
        snapshot_prop_v1 v1;
        snapshot_prop_v2 v2;

        memset(&v1, 0, sizeof v1);
        v1.size = sizeof v1;
        CHECK_HR(vss_get_snapshot_properties(bc, &snap, (vss_snapshot_prop *) &v1), VSS_S_OK,
                 "properties into a v1 structure");
        CHECK(v1.size == sizeof v1, "the size field changed to %zu", v1.size);
        CHECK(vss_id_equal(&v1.snapshot_id, &snap), "snapshot id %s", itest_id_str(&v1.snapshot_id));
        CHECK(v1.snapshots_count == 1, "snapshots in set %d", v1.snapshots_count);
        CHECK(v1.original_volume && strcmp(v1.original_volume, env->data_dir) == 0, "original volume %s",
              v1.original_volume ? v1.original_volume : "(null)");
        CHECK(v1.snapshot_path && *v1.snapshot_path, "no snapshot path");
        CHECK(v1.creation_usec > 0, "no creation time");

        memset(&v2, 0, sizeof v2);
        v2.v1.size = sizeof v2;
        v2.something_new = POISON;
        CHECK_HR(vss_get_snapshot_properties(bc, &snap, (vss_snapshot_prop *) &v2), VSS_S_OK,
                 "properties into a v2 structure");
        CHECK(v2.something_new == POISON, "the library wrote past what it knows");
        CHECK(v2.v1.snapshot_path && strcmp(v2.v1.snapshot_path, v1.snapshot_path) == 0 &&
                      v2.v1.creation_usec == v1.creation_usec,
              "the v2 structure does not hold what the v1 one did");

        vss_free_snapshot_properties((vss_snapshot_prop *) &v1);
        vss_free_snapshot_properties((vss_snapshot_prop *) &v2);
        CHECK(v1.size == sizeof v1 && !v1.snapshot_path && !v1.original_volume, "free left %zu %p %p", v1.size,
              (void *) v1.snapshot_path, (void *) v1.original_volume);
        CHECK(v2.v1.size == sizeof v2 && v2.something_new == POISON, "free touched the size or the new field");

        const size_t bad[] = { 0, sizeof(size_t), offsetof(snapshot_prop_v1, context), sizeof v1 - 1 };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                memset(&v1, 0x5a, sizeof v1);
                v1.size = bad[i];
                CHECK_HR(vss_get_snapshot_properties(bc, &snap, (vss_snapshot_prop *) &v1), VSS_E_INVALIDARG,
                         "properties with size %zu", bad[i]);
                CHECK(v1.size == bad[i] && v1.context == 0x5a5a5a5a, "a refused call wrote into the structure");
        }
}

/* The file sets the writer below declares: three of each kind, each different in every field
 * that kind has (database files have no recursion and no alternate location). */
#define N_SETS 3
static const char *const set_dirs[N_SETS] = { "/srv/abi/one", "/srv/abi/two", "/srv/abi/three" };
static const char *const set_specs[N_SETS] = { "*.one", "*.two", "*.three" };
static const char *const set_alternates[N_SETS] = { "/srv/alt/one", NULL, "/srv/alt/three" };
static const uint32_t set_masks[N_SETS] = { VSS_FSBT_FULL_BACKUP_REQUIRED, VSS_FSBT_LOG_BACKUP_REQUIRED,
                                            VSS_FSBT_FULL_SNAPSHOT_REQUIRED };

static bool on_identify_file_sets(vss_writer *w, vss_create_writer_metadata *md, void *u) {
        bool ok = true;

        (void) w, (void) u;
        ok = ok && vss_create_writer_metadata_add_component(md, VSS_CT_FILEGROUP, NULL, "files", NULL, NULL, 0,
                                                           false, false, true, true, 0) == VSS_S_OK;
        ok = ok && vss_create_writer_metadata_add_component(md, VSS_CT_DATABASE, NULL, "db", NULL, NULL, 0, false,
                                                           false, true, true, 0) == VSS_S_OK;
        for (int i = 0; ok && i < N_SETS; i++)
                ok = vss_create_writer_metadata_add_files_to_file_group(md, NULL, "files", set_dirs[i],
                                                                        set_specs[i], i != 1, set_alternates[i],
                                                                        set_masks[i]) == VSS_S_OK &&
                     vss_create_writer_metadata_add_database_files(md, NULL, "db", set_dirs[i], set_specs[i],
                                                                   set_masks[i]) == VSS_S_OK &&
                     vss_create_writer_metadata_add_database_log_files(md, NULL, "db", set_dirs[i], set_specs[i],
                                                                       set_masks[i]) == VSS_S_OK &&
                     vss_create_writer_metadata_add_exclude_files(md, set_dirs[i], set_specs[i], i == 2) ==
                             VSS_S_OK;
        return ok;
}

/* Element @i of a component's array, read as a program built with the lvss 0.1 header reads it. */
static void check_file_set_v1(const vss_file_desc *array, unsigned count, int i, bool database, const char *what) {
        const file_desc_v1 *f = &((const file_desc_v1 *) array)[i];

        CHECK(array && count == N_SETS, "%s: %u sets, expected %d", what, count, N_SETS);
        CHECK(f->path && strcmp(f->path, set_dirs[i]) == 0, "%s[%d]: path %s, expected %s", what, i,
              f->path ? f->path : "(null)", set_dirs[i]);
        CHECK(f->filespec && strcmp(f->filespec, set_specs[i]) == 0, "%s[%d]: filespec %s, expected %s", what, i,
              f->filespec ? f->filespec : "(null)", set_specs[i]);
        CHECK(f->recursive == (!database && i != 1), "%s[%d]: recursive %d", what, i, f->recursive);
        const char *alt = database ? NULL : set_alternates[i];
        CHECK(alt ? f->alternate_location && strcmp(f->alternate_location, alt) == 0
                  : !f->alternate_location || !*f->alternate_location,
              "%s[%d]: alternate location %s, expected %s", what, i,
              f->alternate_location ? f->alternate_location : "(null)", alt ? alt : "none");
        CHECK(f->backup_type_mask == set_masks[i], "%s[%d]: backup type mask 0x%x, expected 0x%x", what, i,
              f->backup_type_mask, set_masks[i]);
}

/* §4 (vss_file_desc): a writer's file sets, through lvssd to the requester, read element by
 * element through the frozen lvss 0.1 layout: every field of every element where that
 * program expects it (the stride of the arrays is the v1 size). */
static void test_abi_file_desc_frozen(void **state) {
        itest_env *env = *state;
        vss_writer_callbacks cb = { .size = sizeof cb, .on_identify = on_identify_file_sets };
        vss_writer_options o = writer_options(0x70);
        vss_examine_writer_metadata *md = NULL;
        const vss_component_info *files = NULL, *db = NULL;
        vss_writer *w = NULL;
        unsigned n, includes, excludes, components;
        vss_id instance;
        pthread_t t;

        itest_start_lvssd(env, &opts);
        CHECK_HR(vss_writer_initialize(&o, &cb, NULL, &w), VSS_S_OK, "vss_writer_initialize");
        CHECK_HR(vss_writer_subscribe(w), VSS_S_OK, "vss_writer_subscribe");
        CHECK(pthread_create(&t, NULL, writer_thread, w) == 0, "pthread_create");

        vss_backup_components *bc = itest_requester(env, false);
        STEP_OK(env, bc, vss_gather_writer_metadata);
        CHECK_HR(vss_get_writer_metadata_count(bc, &n), VSS_S_OK, "metadata count");
        CHECK(n == 1, "%u writers, expected 1", n);
        CHECK_HR(vss_get_writer_metadata(bc, 0, &instance, &md), VSS_S_OK, "vss_get_writer_metadata");
        CHECK_HR(vss_examine_writer_metadata_get_file_counts(md, &includes, &excludes, &components), VSS_S_OK,
                 "file counts");
        CHECK(components == 2 && excludes == N_SETS, "%u components, %u excludes", components, excludes);
        for (unsigned i = 0; i < components; i++) {
                const vss_component_info *ci = NULL;
                CHECK_HR(vss_examine_writer_metadata_get_component(md, i, &ci), VSS_S_OK, "component %u", i);
                if (ci->type == VSS_CT_FILEGROUP)
                        files = ci;
                else
                        db = ci;
        }
        CHECK(files && db, "the file group and the database component");
        CHECK(files->database_count == 0 && files->log_file_count == 0, "file group with database files");
        CHECK(db->file_count == 0, "database with a file group");
        for (int i = 0; i < N_SETS; i++) {
                const vss_file_desc *ex = NULL;

                check_file_set_v1(files->files, files->file_count, i, false, "files");
                check_file_set_v1(db->databases, db->database_count, i, true, "databases");
                check_file_set_v1(db->log_files, db->log_file_count, i, true, "log_files");
                /* the exclude file sets are given one by one: the same frozen layout */
                CHECK_HR(vss_examine_writer_metadata_get_exclude_file(md, (unsigned) i, &ex), VSS_S_OK,
                         "exclude %d", i);
                const file_desc_v1 *x = (const file_desc_v1 *) ex;
                CHECK(x->path && strcmp(x->path, set_dirs[i]) == 0 && x->filespec &&
                              strcmp(x->filespec, set_specs[i]) == 0 && x->recursive == (i == 2),
                      "exclude %d: %s %s %d", i, x->path ? x->path : "(null)", x->filespec ? x->filespec : "(null)",
                      x->recursive);
        }
        itest_requester_release(env, bc);
        vss_writer_stop(w);
        pthread_join(t, NULL);
        vss_writer_release(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                ITEST(test_abi_callbacks_old_and_new_size),
                ITEST(test_abi_callbacks_bad_size),
                ITEST(test_abi_writer_status),
                ITEST(test_abi_snapshot_prop),
                ITEST(test_abi_file_desc_frozen),
        };
        return ITEST_MAIN("abi-sizes", tests);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Issue 10 part 3: which file systems a set's volumes are on (no freezing
 * here: test-exec-fsfreeze freezes real loop-mounted ext4 and xfs). /proc
 * and / are two file systems on every Linux lvss runs on.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "basic/fsfreeze.h"

static void test_of_path(void **state) {
        lvss_fs fs = {};
        struct stat st;

        assert_int_equal(lvss_fs_of_path("/proc/self", &fs), 0);
        assert_string_equal(fs.mount_point, "/proc");
        assert_int_equal(stat("/proc", &st), 0);
        assert_true(fs.dev == st.st_dev);
        lvss_fs_done(&fs);
        lvss_fs_done(&fs); /* idempotent */

        assert_int_equal(lvss_fs_of_path("/does/not/exist", &fs), -ENOENT);
        assert_int_equal(lvss_fs_of_path(NULL, &fs), -EINVAL);
        assert_int_equal(lvss_fs_of_path("/", NULL), -EINVAL);
}

static void test_list(void **state) {
        const char *const paths[] = { "/proc/self", "/", "/proc" };
        lvss_fs *list = NULL;
        size_t n = 0, failed = 99;
        char dev[32];

        assert_int_equal(lvss_fs_list(paths, 3, &list, &n, &failed), 0);
        assert_int_equal(n, 2); /* /proc once */
        assert_string_equal(list[0].mount_point, "/"); /* sorted by mount point */
        assert_string_equal(list[1].mount_point, "/proc");
        assert_true(list[0].dev != list[1].dev);
        assert_non_null(lvss_fs_dev_name(list[1].dev, dev, sizeof dev));
        assert_non_null(strchr(dev, ':'));
        lvss_fs_list_free(list, n);

        const char *const bad[] = { "/", "/does/not/exist" };
        list = NULL;
        assert_int_equal(lvss_fs_list(bad, 2, &list, &n, &failed), -ENOENT);
        assert_int_equal(failed, 1);
        assert_null(list);

        assert_int_equal(lvss_fs_list(paths, 0, &list, &n, NULL), 0);
        assert_int_equal(n, 0);
        lvss_fs_list_free(list, n);
        assert_int_equal(lvss_fs_list(NULL, 1, &list, &n, NULL), -EINVAL);
}

static void test_thaw_unfrozen(void **state) {
        /* FITHAW on a file system nobody froze: EINVAL, the "already thawed" of start-up */
        assert_int_equal(lvss_fs_thaw("/proc"), -EINVAL);
        assert_int_equal(lvss_fs_thaw("/does/not/exist"), -ENOENT);
        assert_int_equal(lvss_fs_freeze(NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_of_path),
                cmocka_unit_test(test_list),
                cmocka_unit_test(test_thaw_unfrozen),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

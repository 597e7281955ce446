/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: issue 11 §3 "one home per rule", where lvssd's socket is
 * (src/protocol/socket-path.h: lvssd, liblvss, vssadmin, vshadow and
 * lvss-freeze-hook all use it). Runs as root (the test suite does); the
 * non-root cases run in a child that drops to uid/gid 65534.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "protocol/socket-path.h"

static void expect_path(const char *want) {
        char *p = NULL;

        assert_int_equal(lvss_socket_path(&p), 0);
        assert_non_null(p);
        assert_string_equal(p, want);
        free(p);
}

static void test_env_wins(void **state) {
        assert_int_equal(setenv("LVSS_SOCKET", "/tmp/somewhere/else.sock", 1), 0);
        expect_path("/tmp/somewhere/else.sock");
        assert_int_equal(lvss_socket_path(NULL), -EINVAL);
}

static void test_root_default(void **state) {
        if (geteuid() != 0)
                skip();
        /* unset and empty both mean "not set" */
        assert_int_equal(unsetenv("LVSS_SOCKET"), 0);
        assert_int_equal(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1), 0);
        expect_path("/run/lvss/lvssd.sock");
        assert_int_equal(setenv("LVSS_SOCKET", "", 1), 0);
        expect_path("/run/lvss/lvssd.sock");
}

/* In a child as nobody: 0 when every check held. */
static int as_nobody(void) {
        char *p = NULL;

        if (setgid(65534) < 0 || setuid(65534) < 0)
                return 2;
        unsetenv("LVSS_SOCKET");
        if (setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1) < 0)
                return 3;
        if (lvss_socket_path(&p) != 0 || strcmp(p, "/run/user/65534/lvss/lvssd.sock") != 0)
                return 4;
        free(p);
        p = NULL;
        if (setenv("XDG_RUNTIME_DIR", "relative/dir", 1) < 0)
                return 5;
        if (lvss_socket_path(&p) != -ENXIO || p)
                return 6;
        unsetenv("XDG_RUNTIME_DIR");
        if (lvss_socket_path(&p) != -ENXIO || p)
                return 7;
        if (setenv("LVSS_SOCKET", "/x.sock", 1) < 0 || lvss_socket_path(&p) != 0 || strcmp(p, "/x.sock") != 0)
                return 8;
        free(p);
        return 0;
}

static void test_user_default(void **state) {
        int status;
        pid_t pid;

        if (geteuid() != 0)
                skip();
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(as_nobody());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
                fail_msg("check %d failed as uid 65534", WEXITSTATUS(status));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_wins),
                cmocka_unit_test(test_root_default),
                cmocka_unit_test(test_user_default),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

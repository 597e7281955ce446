/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A unit test's temporary directories, removed with everything under them on
 * every exit of the test process: when main() returns or exit() is called
 * (failed or not), and on SIGTERM (meson's timeout), SIGINT, SIGHUP and
 * SIGABRT. Only the process that made them removes them: a forked child that
 * exits or is signalled leaves them alone.
 */

/* mkdtemp(@tmpl) ("...XXXXXX", at most 200 bytes); the directory is removed
 * at exit and on those signals. 0, or -errno (-ENOSPC: too many). */
int test_run_dir_make(char *tmpl);

/* Remove every directory made so far, now (a group teardown). */
void test_run_dirs_remove(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A test's temporary directories, removed with everything under them on
 * every exit of the test process: when main() returns or exit() is called
 * (failed or not), and on SIGTERM (meson's timeout), SIGINT, SIGHUP and
 * SIGABRT. Only the process that made them removes them: a forked child that
 * exits or is signalled leaves them alone. For tests only (unit tests and the
 * integration harness); nothing installed links it.
 */

/* mkdtemp(@tmpl) ("...XXXXXX", at most 200 bytes); the directory is removed
 * at exit and on those signals. 0, or -errno (-ENOSPC: too many at once). */
int test_run_dir_make(char *tmpl);

/* The same, and on one of those signals (not at a normal exit) the last lines
 * of the file @log_name in the directory go to stderr before it is removed:
 * what the test was doing when meson's timeout ended it. */
int test_run_dir_make_logged(char *tmpl, const char *log_name);

/* @dir (made by test_run_dir_make*()) was removed by the test itself, or is
 * to be kept: nothing is done with it at exit or on a signal. */
void test_run_dir_forget(const char *dir);

/* On those signals, call @fn (async-signal-safe calls only) before the
 * directories go, e.g. to unmount a file system inside one; the signal's
 * default action follows. 0, or -errno. */
int test_run_dir_on_signal(void (*fn)(void));

/* Remove every directory made so far, now (a group teardown). */
void test_run_dirs_remove(void);

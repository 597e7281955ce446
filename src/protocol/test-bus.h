/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The unit tests of src/protocol build messages on a bus of their own: one
 * end of a socket pair that nobody answers (its authentication never
 * completes, which building and reading a message does not need). The
 * group's setup and teardown (cmocka_run_group_tests(tests, test_bus_setup,
 * test_bus_teardown)); the tests use test_bus.
 */

#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

static sd_bus *test_bus;
static int test_bus_peer_fd = -1;

static inline int test_bus_setup(void **state) {
        int fds[2];

        (void) state;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                return -1;
        if (sd_bus_new(&test_bus) < 0 || sd_bus_set_fd(test_bus, fds[0], fds[0]) < 0 || sd_bus_start(test_bus) < 0)
                return -1;
        test_bus_peer_fd = fds[1];
        return 0;
}

static inline int test_bus_teardown(void **state) {
        (void) state;
        sd_bus_close(test_bus); /* no flush: the peer never answers the authentication */
        sd_bus_unref(test_bus);
        close(test_bus_peer_fd);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "basic/util.h"
#include "load-util.h"

volatile sig_atomic_t load_stop = 0;

static void on_signal(int sig) {
        load_stop = 1;
}

int load_catch_signals(const char *prog) {
        struct sigaction sa = { .sa_handler = on_signal };

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
                int r = -errno;

                fprintf(stderr, "%s: cannot handle signals: %s\n", prog, strerror(-r));
                return r;
        }
        return 0;
}

bool load_ack(FILE *ack, const char *prog, const char *path, uint64_t id, uint64_t begin_usec) {
        uint64_t at = now_usec(CLOCK_REALTIME);

        if (fprintf(ack, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", id, at, now_usec(CLOCK_MONOTONIC) - begin_usec) < 0 ||
            fflush(ack) != 0) {
                fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
                return false;
        }
        return true;
}

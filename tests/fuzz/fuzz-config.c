/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Fuzz target: the coordinator's configuration file parser,
 * config_load_file() (src/coordinator/config.c), used as is: the input is
 * written to a memfd and the parser opens it by its /proc/self/fd path.
 *
 * The file is written by the administrator, not by a peer, but a parser is
 * a parser (STYLE.md 9). The contract checked (config.c, cli.md): any file
 * gives 0 or -EINVAL, never a crash or a leak; what is accepted is sane
 * (durations in (0, 24 h], StorageDir absolute, WriterUsers a
 * NULL-terminated list of non-empty words, WriterOwner= real class ids, each
 * once).
 */

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic/util.h"
#include "coordinator/lvssd-config.h"
#include "fuzz.h"

#define DAY_USEC (24 * 3600 * USEC_PER_SEC)

static bool duration_ok(uint64_t usec) {
        return usec == 0 || (usec >= USEC_PER_MSEC && usec <= DAY_USEC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config c = {};
        char path[64];
        int fd, r;

        fd = memfd_create("fuzz-config", MFD_CLOEXEC);
        fuzz_check(fd >= 0);
        fuzz_check(size == 0 || write(fd, data, size) == (ssize_t) size);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        c.config_file = strdup(path);
        fuzz_check(c.config_file);

        r = config_load_file(&c);
        close(fd);
        if (r != 0 && r != -EINVAL && r != -ENOMEM)
                fprintf(stderr, "config_load_file: unexpected result %d\n", r);
        fuzz_check(r == 0 || r == -EINVAL || r == -ENOMEM);

        fuzz_check(duration_ok(c.identify_timeout_usec));
        fuzz_check(duration_ok(c.event_timeout_usec));
        fuzz_check(duration_ok(c.hold_window_usec));
        fuzz_check(!c.storage_dir || c.storage_dir[0] == '/');
        for (char **u = c.writer_users; u && *u; u++)
                fuzz_check(**u && !strpbrk(*u, " \t,"));
        fuzz_check(!c.requester_group || strlen(c.requester_group) < SIZE_MAX);
        /* WriterOwner= (issue 8 item 4): real class ids, each at most once, a valid uid */
        for (size_t i = 0; i < c.n_writer_owners; i++) {
                fuzz_check(!vss_id_is_null(&c.writer_owners[i].writer_id));
                fuzz_check(c.writer_owners[i].uid != (uid_t) -1);
                for (size_t k = 0; k < i; k++)
                        fuzz_check(!vss_id_equal(&c.writer_owners[i].writer_id, &c.writer_owners[k].writer_id));
        }

        /* MaxWriterClassesPerUser= (issue 8, writer_owners bounded): unset, or 1 to 1000000 */
        fuzz_check(c.max_writer_classes_per_user <= 1000000);

        config_done(&c);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * lvss-bench-writer: the no-op writer of the bench, on the public writer API.
 *
 *   lvss-bench-writer INDEX
 *
 * Subscribes to the lvssd of $LVSS_SOCKET as instance "wINDEX" of the bench
 * writer, prints "ready INDEX" on stdout (the bench counts these lines on one
 * pipe shared by all writers), then serves events until the connection ends.
 * It handles PrepareForBackup (a no-op: the event the bench's "one event"
 * row measures), Freeze and Thaw; Freeze and Thaw stamp CLOCK_MONOTONIC into
 * slot INDEX of the memfd on fd 3 (bench.h): the freeze window as the
 * application sees it. The other events are not handled, so lvssd answers
 * them itself (the writer declares its handlers at subscribe). With
 * LVSS_BENCH_ALL_HANDLERS=1 in the environment (lvss-bench
 * --writer-handlers all) it sets a no-op handler for every event, and lvssd
 * sends it every event, as it sent every writer before writers declared
 * their handlers.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <lvss/vss.h>

#include "bench.h"

static bool on_freeze(vss_writer *w, void *userdata) {
        bench_slot *slot = userdata;

        slot->freeze_start_nsec = now_nsec();
        slot->freeze_end_nsec = now_nsec();
        return true;
}

static bool on_thaw(vss_writer *w, void *userdata) {
        bench_slot *slot = userdata;

        slot->thaw_start_nsec = now_nsec();
        slot->thaw_end_nsec = now_nsec();
        return true;
}

static bool on_noop(vss_writer *w, void *userdata) {
        return true;
}

static bool on_noop_components(vss_writer *w, vss_writer_components *c, void *userdata) {
        return true;
}

static bool on_noop_shutdown(vss_writer *w, const vss_id *snapshot_set_id, void *userdata) {
        return true;
}

static vss_writer *writer_releasep_(vss_writer **w) {
        return vss_writer_release(*w);
}

int main(int argc, char **argv) {
        _cleanup_(writer_releasep_) vss_writer *w = NULL;
        static const vss_writer_callbacks cb_some = {
                .size = sizeof(vss_writer_callbacks),
                .on_prepare_backup = on_noop_components,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
        };
        static const vss_writer_callbacks cb_all = {
                .size = sizeof(vss_writer_callbacks),
                .on_prepare_backup = on_noop_components,
                .on_prepare_snapshot = on_noop,
                .on_freeze = on_freeze,
                .on_thaw = on_thaw,
                .on_post_snapshot = on_noop_components,
                .on_abort = on_noop,
                .on_backup_complete = on_noop_components,
                .on_backup_shutdown = on_noop_shutdown,
                .on_pre_restore = on_noop_components,
                .on_post_restore = on_noop_components,
        };
        const char *all = getenv("LVSS_BENCH_ALL_HANDLERS");
        const vss_writer_callbacks *cb = all && strcmp(all, "1") == 0 ? &cb_all : &cb_some;
        vss_writer_options opts = {
                .size = sizeof opts,
                .writer_name = BENCH_WRITER_NAME,
                .usage = VSS_UT_USERDATA,
                .source = VSS_ST_OTHER,
        };
        char instance[32], *end;
        bench_slot *slots;
        unsigned long index;
        struct stat st;
        vss_hresult hr;

        if (argc != 2) {
                fprintf(stderr, "usage: lvss-bench-writer INDEX (the memfd of slots on fd %d)\n", BENCH_SLOTS_FD);
                return 2;
        }
        errno = 0;
        index = strtoul(argv[1], &end, 10);
        if (errno || *end || end == argv[1]) {
                printf("error: bad index '%s'\n", argv[1]);
                return 2;
        }
        if (fstat(BENCH_SLOTS_FD, &st) < 0 || (uint64_t) st.st_size < (index + 1) * sizeof(bench_slot)) {
                printf("error: writer %lu: no slot for it on fd %d\n", index, BENCH_SLOTS_FD);
                return 2;
        }
        slots = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, BENCH_SLOTS_FD, 0);
        if (slots == MAP_FAILED) {
                printf("error: writer %lu: cannot map the slots: %m\n", index);
                return 1;
        }
        close(BENCH_SLOTS_FD);

        snprintf(instance, sizeof instance, "w%04lu", index);
        opts.instance_name = instance;
        hr = vss_id_parse(BENCH_WRITER_ID, &opts.writer_id);
        if (hr == VSS_S_OK)
                hr = vss_writer_initialize(&opts, cb, &slots[index], &w);
        if (hr == VSS_S_OK)
                hr = vss_writer_subscribe(w);
        if (hr != VSS_S_OK) {
                /* On the ready pipe: the bench stops at the first line that is not "ready". */
                printf("error: writer %lu: cannot subscribe: %s\n", index, vss_hresult_text(hr));
                return 1;
        }

        printf("ready %lu\n", index);
        fflush(stdout);

        /* Until lvssd goes away (the bench stops it) or a signal ends us. */
        hr = vss_writer_run(w);
        return hr == VSS_S_OK || hr == VSS_E_WRITER_INFRASTRUCTURE ? 0 : 1;
}

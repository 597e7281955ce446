/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Replay driver: the main() a fuzz target gets when it is not linked with
 * libFuzzer. Every argument is a file or a directory; each file (each
 * regular file of a directory, not recursively, in name order) is read and
 * given once to LLVMFuzzerTestOneInput(). A crash or an abort in the target
 * fails the test; a file that cannot be read fails it too, and so does a
 * directory with no file at all (a corpus that silently vanished would
 * otherwise pass forever).
 */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        FILE *f;
        uint8_t *buf = NULL;
        size_t size = 0, alloc = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        for (;;) {
                size_t n;

                if (alloc - size < 4096) {
                        uint8_t *b = realloc(buf, alloc + 65536);
                        if (!b) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = b;
                        alloc += 65536;
                }
                n = fread(buf + size, 1, alloc - size, f);
                size += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                free(buf);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        *ret = buf;
        *ret_size = size;
        return 0;
}

static int replay_file(const char *path) {
        uint8_t *data = NULL;
        size_t size = 0;
        int r;

        r = read_file(path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
                return r;
        }
        printf("replay: %s (%zu bytes)\n", path, size);
        fflush(stdout); /* so the log names the input when the target aborts */
        (void) LLVMFuzzerTestOneInput(data, size);
        free(data);
        return 0;
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_dir(const char *dir, unsigned *count) {
        struct dirent **entries;
        int n, r = 0;
        unsigned here = 0;

        n = scandir(dir, &entries, NULL, compare_names);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                char *path;
                struct stat st;

                if (r >= 0 && entries[i]->d_name[0] != '.') {
                        if (asprintf(&path, "%s/%s", dir, entries[i]->d_name) < 0)
                                r = -ENOMEM;
                        else {
                                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                                        r = replay_file(path);
                                        here++;
                                }
                                free(path);
                        }
                }
                free(entries[i]);
        }
        free(entries);
        if (r >= 0 && here == 0) {
                fprintf(stderr, "replay: %s: no input files\n", dir);
                r = -ENOENT;
        }
        *count += here;
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;

        if (argc < 2) {
                fprintf(stderr, "Usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (S_ISDIR(st.st_mode))
                        r = replay_dir(argv[i], &count);
                else {
                        r = replay_file(argv[i]);
                        count++;
                }
                if (r < 0)
                        return 1;
        }
        printf("replay: %u inputs, no crash\n", count);
        return 0;
}

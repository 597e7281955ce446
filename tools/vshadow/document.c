/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the Backup Components Document file: -bc saves it, -r / -rs read
 * it.
 */

#include "vshadow.h"

/* ---- documents ------------------------------------------------------------------- */

/* Writes @data to @path atomically (PATH.tmp, then rename), mode 0600. */
static int write_file_atomic(const char *path, const char *data) {
        _cleanup_(freep) char *tmp = NULL, *dir = NULL;
        _cleanup_(closep) int fd = -1, dfd = -1;
        size_t n = strlen(data);
        char *slash;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        /* A stale temporary file may belong to anyone: start afresh, never follow a link. */
        if (unlink(tmp) < 0 && errno != ENOENT)
                return -errno;
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (n > 0) {
                ssize_t k = write(fd, data, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        unlink(tmp);
                        return r;
                }
                data += k;
                n -= (size_t) k;
        }
        if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        /* The rename itself should survive a crash too. */
        dir = strdup(path);
        if (!dir)
                return 0;
        slash = strrchr(dir, '/');
        if (!slash)
                strcpy(dir, ".");
        else if (slash == dir)
                dir[1] = 0;
        else
                *slash = 0;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

/* Reads a whole text file of at most @max bytes; *ret owned (free()). -EFBIG past @max, -EBADMSG with a NUL. */
int read_text_file(const char *path, size_t max, char **ret) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (allocated - size < 4096) {
                        size_t want = allocated ? allocated * 2 : 65536;
                        char *n;

                        if (want > max + 2)
                                want = max + 2;
                        if (want <= size + 1)
                                return -EFBIG;
                        n = realloc(buf, want);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        allocated = want;
                }
                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = 0;
        if (strlen(buf) != size)
                return -EBADMSG;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* -bc: SaveAsXml and write it to the file. */
vss_hresult save_bcd(vshadow *v) {
        _cleanup_(freep) char *xml = NULL;
        vss_hresult hr;
        int r;

        step_begin(v, "SaveAsXml", arg_bcd_file);
        hr = vss_save_as_xml(v->bc, &xml);
        if (!hr_ok(hr)) {
                step_end(v, hr);
                step_done(v);
                log_step_failure(v, hr);
                return hr;
        }
        r = write_file_atomic(arg_bcd_file, xml);
        if (r < 0) {
                step_end_full(v, VSS_E_UNEXPECTED, strerror(-r));
                step_done(v);
                fprintf(stderr, "vshadow: cannot write the Backup Components Document to %s: %s\n", arg_bcd_file,
                        strerror(-r));
                return VSS_E_UNEXPECTED;
        }
        v->bcd_written = true;
        free(v->bcd_path);
        v->bcd_path = realpath(arg_bcd_file, NULL);
        step_end(v, VSS_S_OK);
        report_bcd_saved(v, v->bcd_path ? v->bcd_path : arg_bcd_file, strlen(xml));
        step_done(v);
        return VSS_S_OK;
}

/* A backup that failed after -bc wrote its document: the document describes nothing usable. */
void remove_bcd(vshadow *v) {
        if (!v->bcd_written)
                return;
        if (unlink(arg_bcd_file) < 0 && errno != ENOENT)
                fprintf(stderr, "vshadow: cannot remove %s: %s\n", arg_bcd_file, strerror(errno));
        else
                fprintf(stderr, "vshadow: removed %s: the backup it describes failed\n", arg_bcd_file);
        v->bcd_written = false;
}

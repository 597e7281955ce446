/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — the requester tool (mirrors vshadow.exe), written on the public
 * API only: it is also the worked example of a backup application.
 *
 * The default run is the whole backup sequence of writer-status.md, one
 * numbered step per call, each with its duration, and the writer status
 * gathered where the seed document says a requester should look (after
 * PrepareForBackup, DoSnapshotSet and BackupComplete; the last gather is
 * what marks the session completed, WS-3). A step that fails ends the run
 * the way VSS asks: once PrepareForBackup has succeeded the backup is
 * aborted (AbortBackup) before the object is released; before it, releasing
 * is enough.
 *
 * Component mode. By default vshadow backs up the way a simple requester
 * does: no component selection, every writer that identified takes part.
 * -wi / -wx (include / exclude a writer or component) and -bc (save the
 * Backup Components Document) switch to component mode instead: every
 * component of the included writers is added with AddComponent, because a
 * document without components gives a restore nothing to select. A writer
 * named by -wi is *required*: when it did not identify, or its status shows
 * a failure after any step, the backup is aborted and nothing is kept that
 * the backup made (the document written by -bc is removed, auto-release
 * shadow copies go with the session).
 *
 * -bc saves the document after DoSnapshotSet (writers store their backup
 * metadata and stamps in it up to PostSnapshot) and before -exec runs, so
 * that COMMAND can store it with the backup, as vshadow.exe does. The
 * components are marked succeeded (SetBackupSucceeded) just before it is
 * saved: if the backup fails after that, the document is removed, so a
 * document that stays describes a backup that completed.
 *
 * Restore (-r / -rs) reads a saved document and runs the restore sequence
 * of writer-status.md: InitializeForRestore, SetSelectedForRestore for its
 * components, PreRestore, the copy (-exec=COMMAND, which vshadow runs in
 * place of copying: it cannot know how an application's files go back),
 * SetFileRestoreStatus, PostRestore, with the writer status after
 * PreRestore and after PostRestore. Which components the document holds is
 * read with GetWriterComponents: vshadow uses nothing but the public API.
 *
 * Options follow vshadow.exe (-nw, -ws, -t=SECONDS, -exec=COMMAND, ...);
 * the lvss ones are GNU-style (--socket, --json, --help, --version).
 *
 * The parts (tools/vshadow/): options.c the command line; select.c -wi /
 * -wx and the components a backup adds; status.c what the writer status
 * gathers tell; report.c the numbered steps and their output, text or JSON;
 * exec.c -exec and -script; document.c the document file; backup.c and
 * restore.c the two sequences; main.c picks one. vshadow.h is private.
 */

#include "vshadow.h"

bool hr_ok(vss_hresult hr) {
        return VSS_SUCCEEDED(hr) && hr != VSS_S_ASYNC_CANCELLED && hr != VSS_S_ASYNC_PENDING;
}

const char *hr_name(vss_hresult hr) {
        const char *n = vss_hresult_name(hr);
        return n ? n : "unknown code";
}

/*
 * Waits for an async operation started with result @hr and releases it.
 * @a is passed by address: it is read only after the call that sets it
 * (the order in which arguments are evaluated is unspecified in C).
 */
vss_hresult wait_async(vss_hresult hr, vss_async **a) {
        if (VSS_SUCCEEDED(hr))
                hr = vss_async_wait(*a, VSS_INFINITE);
        *a = vss_async_release(*a);
        return hr;
}

/* ---- the socket, for error messages only -------------------------------- */

/* Why the socket cannot be reached, in the words of connect(2). */
static const char *socket_problem(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -1;

        if (strlen(path) >= sizeof sa.sun_path)
                return strerror(ENAMETOOLONG);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return strerror(errno);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return strerror(errno);
        return "the connection was refused by lvssd";
}

void log_create_failure(vss_hresult hr) {
        _cleanup_(freep) char *path = NULL;

        if (hr == VSS_E_WRITER_INFRASTRUCTURE) {
                /* where the library connected: the one rule, socket-path.h */
                int r = lvss_socket_path(&path);
                if (r == -ENXIO)
                        fprintf(stderr, "vshadow: cannot find lvssd: $XDG_RUNTIME_DIR is not set "
                                        "(use --socket or $LVSS_SOCKET)\n");
                else if (r < 0)
                        fprintf(stderr, "vshadow: cannot reach lvssd: %s\n", strerror(-r));
                else
                        fprintf(stderr, "vshadow: cannot reach lvssd at %s: %s\n", path, socket_problem(path));
        } else if (hr == VSS_E_ACCESSDENIED)
                fprintf(stderr, "vshadow: lvssd refused the session: %s (a requester must be root or in the "
                                "group of lvssd.conf's RequesterGroup=)\n",
                        vss_hresult_text(hr));
        else
                fprintf(stderr, "vshadow: cannot open a session with lvssd: %s (%s)\n", vss_hresult_text(hr),
                        hr_name(hr));
}

static void vshadow_done(vshadow *v) {
        if (v->bc)
                v->bc = vss_backup_components_release(v->bc);
        for (size_t i = 0; i < v->n_components; i++) {
                free(v->components[i].writer_name);
                free(v->components[i].logical_path);
                free(v->components[i].name);
        }
        free(v->components);
        free(v->required);
        free(v->bcd_path);
        json_release(&v->json);
        free(v->doc.writers); /* the objects belong to the released v->bc */
        free(v->doc.components);
        free(arg_specs);
        if (v->props)
                for (size_t i = 0; i < v->n_props; i++)
                        vss_free_snapshot_properties(&v->props[i]);
        free(v->props);
        free(v->snapshot_ids);
        for (size_t i = 0; i < v->n_records; i++) {
                free(v->records[i].writer_name);
                free(v->records[i].instance_name);
                free(v->records[i].application_message);
        }
        free(v->records);
        free(v->record_message);
        for (size_t i = 0; i < arg_n_volumes; i++)
                free(arg_volumes[i]);
        free(arg_volumes);
}

int main(int argc, char *argv[]) {
        vshadow v = {};
        int r;

        r = parse_argv(argc, argv);
        if (r == -EINVAL) {
                vshadow_done(&v);
                return EXIT_USAGE;
        }
        if (r <= 0) {
                vshadow_done(&v);
                return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        }

        /* Progress lines appear as they happen, also in a pipe. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        /* A dead pipe reader must not kill us between Freeze and Thaw's cleanup. */
        signal(SIGPIPE, SIG_IGN);
        output_init_colors(stdout);
        v.tty = isatty(STDOUT_FILENO);
        v.start_usec = now_usec(CLOCK_MONOTONIC);
        json_init(&v.json, stdout);
        v.report = arg_json ? &report_json : &report_text;

        if (arg_writer_status_only)
                r = run_writer_status(&v);
        else if (arg_writer_metadata > 0)
                r = run_writer_metadata(&v);
        else if (arg_restore_file)
                r = run_restore(&v);
        else {
                v.component_mode = !arg_no_writers && (arg_n_specs > 0 || arg_bcd_file);
                r = run_backup(&v);
        }

        vshadow_done(&v);
        if (fflush(stdout) != 0 && r == EXIT_SUCCESS) {
                fprintf(stderr, "vshadow: cannot write the output: %s\n", strerror(errno));
                r = EXIT_FAILURE;
        }
        return r;
}

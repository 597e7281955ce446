/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * vshadow — options: the command line (vshadow.exe's options, and the GNU-
 * style lvss ones).
 */

#include "vshadow.h"

bool arg_json = false;
bool arg_no_writers = false;
bool arg_writer_status_only = false;
unsigned arg_writer_metadata = 0; /* -wm 1, -wm2 2, -wm3 3 */
bool arg_persistent = false;
bool arg_no_auto_recovery = false;
unsigned arg_hold_sec = 0;
const char *arg_exec = NULL;
const char *arg_script = NULL;
char **arg_volumes = NULL; /* resolved absolute paths */
size_t arg_n_volumes = 0;
const char *arg_bcd_file = NULL;     /* -bc=FILE */
const char *arg_restore_file = NULL; /* -r=FILE / -rs=FILE */
bool arg_restore_simulated = false;  /* -rs */

writer_spec *arg_specs = NULL;
size_t arg_n_specs = 0;

/* ---- arguments --------------------------------------------------------------- */

static void help(void) {
        printf("%s\n\n"
               "Usage: vshadow [OPTIONS] VOLUME...\n"
               "       vshadow -r=FILE | -rs=FILE [-wi=WRITER]... [-wx=WRITER]... [-exec=COMMAND]\n"
               "       vshadow -ws | -wm | -wm2 | -wm3\n\n"
               "Runs the whole backup sequence on the volumes (absolute paths or directories),\n"
               "printing every step, its duration and the writer status after PrepareForBackup,\n"
               "DoSnapshotSet and BackupComplete.\n\n"
               "Options:\n"
               "  -ws                 Writer status only (like 'vssadmin list writers')\n"
               "  -wm, -wm2, -wm3     Writer metadata only: summary / all / with the XML\n"
               "  -nw                 No writers (crash-consistent shadow copies)\n"
               "  -p                  Persistent shadow copies (kept after exit)\n"
               "  -nar                No auto-recovery: the shadow copies are read-only before\n"
               "                      PostSnapshot, writers cannot repair them\n"
               "  -wi=WRITER          Include only this writer or component, and require it:\n"
               "                      a writer name, writer id, instance id, or a component\n"
               "                      path 'logical/path/name' (repeatable)\n"
               "  -wx=WRITER          Exclude this writer or component (repeatable)\n"
               "  -bc=FILE            Save the Backup Components Document (with the writers'\n"
               "                      metadata) to FILE after DoSnapshotSet\n"
               "  -r=FILE, -rs=FILE   Restore (real / simulated) from a document saved with -bc\n"
               "  -t=SECONDS          Wait this long after DoSnapshotSet, before BackupComplete\n"
               "  -exec=COMMAND       Run COMMAND with /bin/sh while the shadow copies exist;\n"
               "                      $LVSS_SHADOW_1.. and $LVSS_SNAPSHOT_SET_ID are set;\n"
               "                      its exit status becomes vshadow's. With -r: run it between\n"
               "                      PreRestore and PostRestore to copy the files back\n"
               "                      ($LVSS_RESTORE=1, $LVSS_BCD)\n"
               "  -script=FILE        Write those variables to FILE as shell code\n"
               "  --socket PATH       The lvssd socket (default: $LVSS_SOCKET, else the default)\n"
               "  --json              Print one JSON document\n"
               "  -h --help           Show this help\n"
               "  --version           Show the version\n\n"
               "See vshadow(8).\n",
               BANNER);
}

/* "-t=5" / "-t" "5": the value of option @name in @arg, or NULL when @arg is not it. */
static const char *option_value(const char *arg, const char *name) {
        size_t l = strlen(name);

        if (strncasecmp(arg, name, l) != 0)
                return NULL;
        if (arg[l] == '=')
                return arg + l + 1;
        return NULL;
}

static int add_volume(const char *arg) {
        char *p, **n;

        p = realpath(arg, NULL);
        if (!p) {
                fprintf(stderr, "vshadow: cannot use volume %s: %s\n", arg, strerror(errno));
                return -errno;
        }
        n = realloc(arg_volumes, (arg_n_volumes + 1) * sizeof *n);
        if (!n) {
                free(p);
                return -ENOMEM;
        }
        arg_volumes = n;
        arg_volumes[arg_n_volumes++] = p;
        return 0;
}

/* Returns 1 to run, 0 to exit successfully, -EINVAL for bad usage, another -errno for failure. */
int parse_argv(int argc, char *argv[]) {
        bool only_volumes = false;
        const char *val;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];

                if (only_volumes || a[0] != '-' || a[1] == 0) {
                        r = add_volume(a);
                        if (r < 0)
                                return r == -EINVAL ? -EIO : r;
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        only_volumes = true;
                        continue;
                }
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-?") == 0) {
                        help();
                        return 0;
                }
                if (strcmp(a, "--version") == 0) {
                        printf("vshadow %s\n", PACKAGE_VERSION);
                        return 0;
                }
                if (strcmp(a, "--json") == 0) {
                        arg_json = true;
                        continue;
                }
                if (strcmp(a, "--socket") == 0 || strncmp(a, "--socket=", 9) == 0) {
                        const char *path = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
                        if (!path || !*path) {
                                fprintf(stderr, "vshadow: --socket needs a path\n");
                                return -EINVAL;
                        }
                        /* The public API takes the socket from the environment. */
                        if (setenv("LVSS_SOCKET", path, 1) < 0)
                                return -errno;
                        continue;
                }
                if (strcasecmp(a, "-nw") == 0) {
                        arg_no_writers = true;
                        continue;
                }
                if (strcasecmp(a, "-ws") == 0) {
                        arg_writer_status_only = true;
                        continue;
                }
                if (strcasecmp(a, "-wm") == 0 || strcasecmp(a, "-wm2") == 0 || strcasecmp(a, "-wm3") == 0) {
                        arg_writer_metadata = a[3] ? (unsigned) (a[3] - '0') : 1;
                        continue;
                }
                if (strcasecmp(a, "-p") == 0) {
                        arg_persistent = true;
                        continue;
                }
                if (strcasecmp(a, "-nar") == 0) {
                        arg_no_auto_recovery = true;
                        continue;
                }
                if ((val = option_value(a, "-t"))) {
                        char *end = NULL;
                        unsigned long s;

                        errno = 0;
                        s = strtoul(val, &end, 10);
                        if (!*val || *end || errno != 0 || s > 86400 || *val == '-') {
                                fprintf(stderr, "vshadow: -t needs a number of seconds (0 to 86400), not '%s'\n",
                                        val);
                                return -EINVAL;
                        }
                        arg_hold_sec = (unsigned) s;
                        continue;
                }
                if ((val = option_value(a, "-exec"))) {
                        if (!*val) {
                                fprintf(stderr, "vshadow: -exec needs a command\n");
                                return -EINVAL;
                        }
                        arg_exec = val;
                        continue;
                }
                if ((val = option_value(a, "-script"))) {
                        if (!*val) {
                                fprintf(stderr, "vshadow: -script needs a file name\n");
                                return -EINVAL;
                        }
                        arg_script = val;
                        continue;
                }
                if ((val = option_value(a, "-wi")) || (val = option_value(a, "-wx"))) {
                        writer_spec *n;

                        if (!*val) {
                                fprintf(stderr, "vshadow: %.3s needs a writer name, id, instance id or component path\n",
                                        a);
                                return -EINVAL;
                        }
                        n = realloc(arg_specs, (arg_n_specs + 1) * sizeof *n);
                        if (!n)
                                return -ENOMEM;
                        arg_specs = n;
                        arg_specs[arg_n_specs++] = (writer_spec) {
                                .text = val,
                                .include = strncasecmp(a, "-wi", 3) == 0,
                        };
                        continue;
                }
                if ((val = option_value(a, "-bc"))) {
                        if (!*val) {
                                fprintf(stderr, "vshadow: -bc needs a file name\n");
                                return -EINVAL;
                        }
                        arg_bcd_file = val;
                        continue;
                }
                if ((val = option_value(a, "-r")) || (val = option_value(a, "-rs"))) {
                        bool simulated = strncasecmp(a, "-rs", 3) == 0;

                        if (!*val) {
                                fprintf(stderr, "vshadow: %s needs the file a backup saved with -bc\n",
                                        simulated ? "-rs" : "-r");
                                return -EINVAL;
                        }
                        if (arg_restore_file) {
                                fprintf(stderr, "vshadow: give one -r or -rs\n");
                                return -EINVAL;
                        }
                        arg_restore_file = val;
                        arg_restore_simulated = simulated;
                        continue;
                }
                fprintf(stderr, "vshadow: unknown option '%s' (see --help)\n", a);
                return -EINVAL;
        }

        if (arg_writer_status_only || arg_writer_metadata > 0) {
                if (arg_n_volumes > 0 || arg_exec || arg_script || arg_hold_sec || arg_no_writers || arg_persistent ||
                    arg_no_auto_recovery || arg_n_specs > 0 || arg_bcd_file || arg_restore_file) {
                        fprintf(stderr, "vshadow: -ws and -wm take no volumes and no other options\n");
                        return -EINVAL;
                }
                if (arg_writer_status_only && arg_writer_metadata > 0) {
                        fprintf(stderr, "vshadow: -ws and -wm cannot be combined\n");
                        return -EINVAL;
                }
                return 1;
        }
        if (arg_n_specs > 0 && arg_no_writers) {
                fprintf(stderr, "vshadow: -wi and -wx cannot be combined with -nw\n");
                return -EINVAL;
        }
        if (arg_restore_file) {
                if (arg_n_volumes > 0 || arg_script || arg_hold_sec || arg_no_writers || arg_persistent ||
                    arg_no_auto_recovery || arg_bcd_file) {
                        fprintf(stderr, "vshadow: -r and -rs take no volumes and only -wi, -wx and -exec\n");
                        return -EINVAL;
                }
                return 1;
        }
        if (arg_n_volumes == 0) {
                fprintf(stderr, "vshadow: no volume given (see --help)\n");
                return -EINVAL;
        }
        return 1;
}

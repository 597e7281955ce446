# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The pieces the shell test scripts (tests/apps/*/test-*.sh,
# tests/hypervisor/test-qemu-ga.sh) and bench/qga.sh share: messages with the
# program's name, polling for an event with a deadline, the logs on failure,
# lvssd on a socket of the test's own, loop-device file systems released at
# the end, and the clean-up steps. Sourced, never run, never installed; a
# script finds it relative to its own path:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/lvss-test-lib.sh"
#
# Before sourcing, the script sets PROG (its name in every message, with the
# scenario). Before calling the helpers it sets T (its temporary directory,
# lvss_test_tmp makes one) and, for start_lvssd, LVSSD and VSSADMIN.
# At the end (also on failure) lvss_test_cleanup runs: the logs when the
# script failed and die did not show them, the script's own
# cleanup_before (when it defines one: stop a server, TERM a writer), then
# thaws our file systems, kills PIDS, runs the script's cleanup_after_kill
# (when defined), unmounts and detaches, and removes $T. The order matters:
# a frozen file system is thawed before the processes are killed.

: "${PROG:?set PROG before sourcing lvss-test-lib.sh}"

PIDS=()   # processes the test started (killed by pid at the end)
LOOPS=()  # loop devices (detached at the end)
MOUNTS=() # mount points (unmounted at the end, the last first)
LVSSD_PID=

# ---- messages -----------------------------------------------------------------------------------------------

skip() { echo "$PROG: skipped: $*"; exit 77; }
say() { echo "$PROG: $*"; }
# die: in a subshell ($(...)) the logs are left to the script's exit (lvss_test_cleanup), once.
die() {
        echo "$PROG: FAILED: $*" >&2
        if [ "$BASH_SUBSHELL" -eq 0 ]; then
                dump_logs
                LVSS_TEST_DUMPED=1
        fi
        exit 1
}
LVSS_TEST_DUMPED=

# dump_logs: the end of each log ($T/*.log, $T/*.out) on stderr, for a failed test.
dump_logs() {
        local f
        for f in "$T"/*.log "$T"/*.out; do
                [ -f "$f" ] || continue
                echo "---- $(basename "$f") (last ${LVSS_TEST_DUMP_LINES:-40} lines)" >&2
                tail -n "${LVSS_TEST_DUMP_LINES:-40}" "$f" >&2
        done
}

# need_tools TOOL...: skips the test unless every TOOL is on PATH.
need_tools() {
        local t
        for t in "$@"; do
                command -v "$t" >/dev/null || skip "$t is not installed (scripts/install-deps.sh)"
        done
}

# ---- events -------------------------------------------------------------------------------------------------

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds (every 50 ms), fails the test after SECONDS.
wait_for() {
        local secs=$1 what=$2 end
        shift 2
        end=$(($(date +%s%N) + secs * 1000000000))
        until "$@"; do
                [ "$(date +%s%N)" -lt "$end" ] || die "$what: not within ${secs}s"
                sleep 0.05
        done
}

# A process is gone (or a zombie nobody reaped yet: it holds nothing).
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# ---- lvssd --------------------------------------------------------------------------------------------------

# lvssd_answers: lvssd on $T/lvssd.sock answers a call (bounded: a hung lvssd is not an answer).
lvssd_answers() { timeout 5 "$VSSADMIN" --socket "$T/lvssd.sock" list providers >/dev/null 2>&1; }

# start_lvssd [CONF]: lvssd on $T/lvssd.sock, state in $T/state, log $T/lvssd.log, exported as LVSS_SOCKET;
# waits until it answers. Without CONF, $LVSSD_DEFAULT_CONF (the text of a configuration, when the script set
# it) is written to $T/lvssd.conf unless that exists, and used.
start_lvssd() {
        local conf=${1:-}
        if [ -z "$conf" ] && [ -n "${LVSSD_DEFAULT_CONF:-}" ]; then
                conf=$T/lvssd.conf
                [ -f "$conf" ] || printf '%s\n' "$LVSSD_DEFAULT_CONF" >"$conf"
        fi
        mkdir -p "$T/state"
        "$LVSSD" --state-dir "$T/state" --socket "$T/lvssd.sock" --foreground --event-timeout 30000 \
                ${conf:+--config "$conf"} >>"$T/lvssd.log" 2>&1 &
        LVSSD_PID=$!
        PIDS+=("$LVSSD_PID")
        export LVSS_SOCKET=$T/lvssd.sock
        wait_for 20 "lvssd's socket" test -S "$T/lvssd.sock"
        wait_for 20 "lvssd answering" lvssd_answers
}

# ---- loop-device file systems -------------------------------------------------------------------------------

# new_loop_fs TYPE SIZE DIR: a TYPE (ext4, btrfs, xfs) file system of SIZE (truncate's) in an image
# mounted on DIR through a loop device that mount(8) attaches with autoclear: the device is detached when
# the file system is unmounted, by release_mounts or, if the test is killed, by the end of its mount
# namespace. DIR goes in MOUNTS. The image is deleted at once: the loop device keeps it, and nothing is
# left if the test dies. No loop devices or no TYPE in the kernel skip the test. Call it inside a private
# mount namespace (enter_mount_namespace).
new_loop_fs() {
        local type=$1 size=$2 dir=$3 img force=-f
        img=$(mktemp "$T/loop-$type-XXXXXX.img")
        truncate -s "$size" "$img"
        [ "$type" != ext4 ] || force=-F
        "mkfs.$type" -q "$force" "$img" >/dev/null 2>&1 || die "mkfs.$type $img"
        mkdir -p "$dir"
        mount -o loop -t "$type" "$img" "$dir" 2>/dev/null ||
                skip "cannot mount $type through a loop device (no loop devices, or no $type in the kernel?)"
        MOUNTS+=("$dir")
        rm -f "$img"
}

# enter_mount_namespace VAR ARGS...: unless the environment variable VAR is set, runs the script again
# ($0 ARGS...) with VAR=1 in a private mount namespace of its own: its mounts cannot outlive it, and nothing
# it mounts is seen outside.
enter_mount_namespace() {
        local var=$1
        shift
        if [ -z "${!var:-}" ]; then
                export "$var=1"
                exec unshare -m --propagation private "$0" "$@"
        fi
}

# ---- clean-up steps (for the script's cleanup, with set +e) -------------------------------------------------

# thaw_mounts: never leave a file system of ours frozen (EINVAL where it was not frozen).
thaw_mounts() {
        local m
        for m in "${MOUNTS[@]}"; do
                if mountpoint -q "$m" 2>/dev/null; then fsfreeze -u "$m" 2>/dev/null; fi
        done
        return 0
}

# kill_pids: SIGKILL every process in PIDS, then reaps them.
kill_pids() {
        local p
        for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        return 0
}

# release_mounts: unmounts MOUNTS (the last first; lazily where busy; their loop devices go with them)
# and detaches LOOPS (devices a script attached itself).
release_mounts() {
        local i l
        for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
                if mountpoint -q "${MOUNTS[$i]}" 2>/dev/null; then
                        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null
                fi
        done
        for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || echo "$PROG: losetup -d $l failed" >&2; done
        return 0
}

# lvss_test_tmp NAME: makes the test's temporary directory ($TMPDIR or /tmp) and prints its path.
lvss_test_tmp() { mktemp -d "${TMPDIR:-/tmp}/lvss-$1-XXXXXX"; }

# lvss_test_cleanup: the EXIT trap lvss_test_trap installs; exits with the script's status.
lvss_test_cleanup() {
        local rc=$?
        set +e
        # A failure die did not report (a command under set -e): the logs all the same.
        case $rc in 0 | 77 | 130) ;; *) [ -n "$LVSS_TEST_DUMPED" ] || dump_logs ;; esac
        if declare -F cleanup_before >/dev/null; then cleanup_before; fi
        thaw_mounts
        kill_pids
        if declare -F cleanup_after_kill >/dev/null; then cleanup_after_kill; fi
        release_mounts
        remove_tmp
        exit $rc
}

# lvss_test_trap: lvss_test_cleanup at exit; SIGINT and SIGTERM exit 130 through it.
lvss_test_trap() {
        trap lvss_test_cleanup EXIT
        trap 'exit 130' INT TERM
}

# remove_tmp: removes $T (copies of the copy provider are immutable: chattr -i first), or keeps it when
# LVSS_TEST_KEEP is set.
remove_tmp() {
        if [ -n "${LVSS_TEST_KEEP:-}" ]; then
                echo "$PROG: kept $T" >&2
        else
                chattr -R -i "$T" 2>/dev/null
                rm -rf "$T"
        fi
        return 0
}

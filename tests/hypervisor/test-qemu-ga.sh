#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Proof with the real agent (issue 10 part 4): the Debian qemu-guest-agent
# (/usr/sbin/qemu-ga 7.2), run outside a VM on a unix socket of the test's
# own, with lvss-freeze-hook as its fsfreeze hook, driven through its JSON
# protocol by lvss-qga-call. It freezes only a loop-mounted ext4 in a private
# mount namespace, never the machine's own mounts. Real lvssd, real writers
# (lvss-writer-sqlite with its load client, lvss-writer-hooks over real
# scripts), real processes; never the machine's qemu-guest-agent service.
#
#   test-qemu-ga.sh BUILD_DIR SCENARIO
#
# Scenarios (each checks the issue line named in its function's comment; all
# check "vssadmin list writers during all of this answers at once", each
# vssadmin call bounded by `timeout 5`, a generous bound, not a measurement):
#   frozen      guest-fsfreeze-freeze-list returns the filesystem count, every
#               writer Frozen while frozen, the session with its provenance,
#               every writer Stable after guest-fsfreeze-thaw, the scripts' thaw ran
#   veto        a hooks script fails its freeze: the freeze fails with qemu-ga's
#               hook error, nothing stays frozen
#   hold-limit  no thaw before the hold limit: lvss thaws the writers, the later
#               guest-fsfreeze-thaw reports the hook failure
#   no-lvssd    lvssd stopped: the freeze fails with the hook error, nothing frozen
#
# Waits are for events (a socket, a state in vssadmin's output, a line in a
# file), polled with a generous deadline; nothing sleeps for a fixed time.
# Exit 77 (skipped) without root, loop devices, ext4 or qemu-ga.
set -euo pipefail

build=${1:?usage: test-qemu-ga.sh BUILD_DIR SCENARIO}
scenario=${2:?usage: test-qemu-ga.sh BUILD_DIR SCENARIO}
build=$(cd "$build" && pwd)
PROG="test-qemu-ga[$scenario]"
QEMU_GA=${LVSS_TEST_QEMU_GA:-/usr/sbin/qemu-ga}

. "$(dirname "${BASH_SOURCE[0]}")/../lib/lvss-test-lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, mounts, FIFREEZE)"
[ -x "$QEMU_GA" ] || skip "$QEMU_GA is not installed (scripts/install-deps.sh: qemu-guest-agent)"
need_tools losetup mkfs.ext4 unshare fsfreeze timeout

# A mount namespace of our own: the mount cannot outlive the test, and
# qemu-ga (started inside it) sees the loop mount and nothing we could harm.
enter_mount_namespace LVSS_QGA_TEST_NS "$@"

LVSSD=$build/src/coordinator/lvssd
VSSADMIN=$build/tools/vssadmin
FREEZE_HOOK=$build/tools/lvss-freeze-hook
HOOKS_WRITER=$build/writers/hooks/lvss-writer-hooks
SQLITE_WRITER=$build/writers/sqlite/lvss-writer-sqlite
SQLITE_LOAD=$build/writers/sqlite/lvss-sqlite-load
QGA_CALL=$build/tests/helpers/lvss-qga-call
for p in "$LVSSD" "$VSSADMIN" "$FREEZE_HOOK" "$HOOKS_WRITER" "$SQLITE_WRITER" "$SQLITE_LOAD" "$QGA_CALL"; do
        [ -x "$p" ] || die "$p is not built"
done

T=$(lvss_test_tmp qga)
MNT=$T/mnt
QGA_PID=

lvss_test_trap

# ---- the file system ----------------------------------------------------------------------------------------

# A small ext4 on a loop device, mounted on $MNT.
new_ext4() { new_loop_fs ext4 64M "$MNT"; }

# fs_state: frozen or thawed, asked of the kernel without blocking (a write to a frozen file system would
# block uninterruptibly): FIFREEZE on a frozen file system fails with EBUSY; on a thawed one it succeeds and
# is undone at once.
fs_state() {
        if fsfreeze -f "$MNT" 2>/dev/null; then
                fsfreeze -u "$MNT" || die "fsfreeze -u $MNT after the probe"
                echo thawed
        else
                echo frozen
        fi
}

# ---- lvssd --------------------------------------------------------------------------------------------------

# vssadmin ARGS...: bounded by `timeout 5` (part 4: "answers at once"; 5 s is a generous bound for a
# local call, not a measurement). A vssadmin that does not answer fails the test.
vssadmin() {
        local rc=0
        timeout 5 "$VSSADMIN" --socket "$T/lvssd.sock" "$@" || rc=$?
        [ "$rc" -ne 124 ] || die "vssadmin $* did not answer within 5 s (part 4: it must answer at once)"
        return "$rc"
}
# lvssd_answers, start_lvssd [CONF]: lvss-test-lib.sh.

writers_text() { vssadmin list writers; }

# (The helpers below read vssadmin's output whole before grep -q looks at it: with
# pipefail, a grep -q that exits at its match fails the pipe if vssadmin writes again.)
# writer_block NAME: the block of `vssadmin list writers` about writer NAME.
writer_block() {
        writers_text | awk -v n="Writer name: '$1'" '
                /^Writer name: / { on = ($0 == n) }
                on { print }'
}
writer_listed() { grep -qF "Writer name: '$1'" <<<"$(writers_text)"; }
writer_in_state() { grep -qE "^   State: \[[0-9]+\] $2\$" <<<"$(writer_block "$1")"; }
no_writer_frozen() { ! grep -qE '^   State: \[[0-9]+\] Frozen$' <<<"$(writers_text)"; }

# ---- the writers --------------------------------------------------------------------------------------------

ACK=$T/ack.log
DB=

# The SQLite writer on a database of the loop file system, with its load client committing to it.
start_sqlite() {
        DB=$MNT/app.db
        : >"$ACK"
        "$SQLITE_LOAD" "$DB" "$ACK" 2>>"$T/load.log" &
        PIDS+=($!)
        wait_for 30 "the load client's first commit" test -s "$ACK"
        "$SQLITE_WRITER" --name SQLite --instance qga "$DB" >>"$T/sqlite-writer.log" 2>&1 &
        PIDS+=($!)
        wait_for 30 "the SQLite writer subscribed" writer_listed SQLite
}

acked() { wc -l <"$ACK"; }
acked_more_than() { [ "$(acked)" -gt "$1" ]; }

# make_script NAME [fail-at-ACTION]: a hook script in $T/hooks.d that logs each call (to $T, never to the
# file system that may be frozen) and fails ACTION when told to.
make_script() {
        local name=$1 fail=${2:-}
        mkdir -p "$T/hooks.d"
        cat >"$T/hooks.d/$name" <<EOF
#!/bin/sh
echo "$name \$1" >>'$T/scripts.log'
[ "\$1" = '$fail' ] && { echo "$name refuses \$1"; exit 1; }
exit 0
EOF
        chmod +x "$T/hooks.d/$name"
}

start_hooks_writer() {
        : >>"$T/scripts.log"
        "$HOOKS_WRITER" --name Hooks --instance qga --convention qemu --timeout 10000 "$T/hooks.d" \
                >>"$T/hooks-writer.log" 2>&1 &
        PIDS+=($!)
        wait_for 30 "the hooks writer subscribed" writer_listed Hooks
}

script_calls() { cat "$T/scripts.log"; }
script_called() { grep -qxF "$1" "$T/scripts.log"; }

# ---- qemu-ga ------------------------------------------------------------------------------------------------

# qemu-ga on its own socket, state dir, pid file and log, with lvss-freeze-hook as its fsfreeze hook. It
# runs the hook with its own environment: LVSS_SOCKET leads the hook to the test's lvssd.
start_qga() {
        mkdir -p "$T/qga-state"
        LVSS_SOCKET=$T/lvssd.sock "$QEMU_GA" -m unix-listen -p "$T/qga.sock" -t "$T/qga-state" \
                -f "$T/qga.pid" -l "$T/qga.log" --fsfreeze-hook="$FREEZE_HOOK" &
        QGA_PID=$!
        PIDS+=("$QGA_PID")
        wait_for 20 "qemu-ga's socket" test -S "$T/qga.sock"
        qga guest-ping >/dev/null || die "qemu-ga does not answer guest-ping"
}

# qga COMMAND...: lvss-qga-call on qemu-ga's socket; its exit status (0 return, 1 error, 2 failure).
qga() { "$QGA_CALL" --sync --timeout 60000 "$T/qga.sock" "$@"; }

freeze_request() { printf '{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["%s"]}}' "$MNT"; }

# freeze_ok: guest-fsfreeze-freeze-list succeeds and answers the filesystem count, 1; prints the answer.
freeze_ok() {
        local out
        out=$(qga "$(freeze_request)") || die "guest-fsfreeze-freeze-list failed: $out"
        [ "$out" = '{"return": 1}' ] || die "guest-fsfreeze-freeze-list answered '$out', not the filesystem count 1"
        echo "$out"
}

fsfreeze_status() {
        local out
        out=$(qga guest-fsfreeze-status) || die "guest-fsfreeze-status failed: $out"
        case $out in
        *'"frozen"'*) echo frozen ;;
        *'"thawed"'*) echo thawed ;;
        *) die "guest-fsfreeze-status: unexpected answer $out" ;;
        esac
}

# ---- scenarios ----------------------------------------------------------------------------------------------

# Part 4, first line: with the SQLite writer and a hooks writer subscribed, the freeze returns the
# filesystem count, every writer is Frozen while frozen (vssadmin list writers), stable after thaw, and the
# session shows in vssadmin list writers with its provenance.
scenario_frozen() {
        local out n_before n_after block
        new_ext4
        start_lvssd
        start_sqlite
        make_script 10-first
        make_script 20-second
        start_hooks_writer
        start_qga

        out=$(freeze_ok)
        say "freeze answered $out"
        [ "$(fsfreeze_status)" = frozen ] || die "qemu-ga does not say frozen after the freeze"
        [ "$(fs_state)" = frozen ] || die "the loop file system is not frozen after the freeze"

        # Every writer Frozen, in one external session whose provenance is shown.
        for w in SQLite Hooks; do
                writer_in_state "$w" Frozen || die "writer $w is not Frozen while frozen:
$(writer_block "$w")"
                block=$(writer_block "$w")
                grep -qE '^   Session: \{' <<<"$block" || die "writer $w shows no session while frozen:
$block"
                grep -qi 'external' <<<"$block" ||
                        die "writer $w's session does not say it is external (its provenance):
$block"
                grep -E '^   Session: ' <<<"$block" | grep -q 'lvss-freeze-hook.*qemu-ga' ||
                        die "writer $w's session does not name its caller (lvss-freeze-hook, run by qemu-ga):
$block"
        done
        say "every writer Frozen, session: $(writer_block SQLite | grep '^   Session:' | sed 's/^ *//')"
        script_called "10-first freeze" && script_called "20-second freeze" ||
                die "the hook scripts' freeze did not run: $(script_calls)"
        script_called "10-first thaw" && die "a hook script's thaw ran while frozen: $(script_calls)"
        n_before=$(acked)

        out=$(qga guest-fsfreeze-thaw) || die "guest-fsfreeze-thaw failed: $out"
        [ "$out" = '{"return": 1}' ] || die "guest-fsfreeze-thaw answered '$out', not the filesystem count 1"
        [ "$(fsfreeze_status)" = thawed ] || die "qemu-ga does not say thawed after the thaw"
        [ "$(fs_state)" = thawed ] || die "the loop file system is still frozen after the thaw"
        # The hook's thaw has returned when qemu-ga answers: the writers are stable now, no waiting.
        for w in SQLite Hooks; do
                writer_in_state "$w" Stable || die "writer $w is not Stable after the thaw:
$(writer_block "$w")"
        done
        [ "$(grep -c ' thaw$' "$T/scripts.log")" = 2 ] && script_called "10-first thaw" &&
                script_called "20-second thaw" || die "each hook script's thaw did not run exactly once: $(script_calls)"
        # The application goes on committing (its writes were blocked by the freeze).
        wait_for 30 "the load client committing after the thaw" acked_more_than "$((n_before + 5))"
        n_after=$(acked)
        say "thawed: every writer Stable, both scripts thawed, the load committed $((n_after - n_before)) more"
}

# Part 4, second line: a writer that vetoes: the freeze fails with qemu-ga's hook error, nothing stays frozen.
scenario_veto() {
        local out
        new_ext4
        start_lvssd
        start_sqlite
        make_script 10-first
        make_script 20-veto freeze
        start_hooks_writer
        start_qga

        out=$(qga "$(freeze_request)") && die "guest-fsfreeze-freeze-list succeeded despite the veto: $out"
        grep -qF '"fsfreeze hook has failed with status 1"' <<<"$out" ||
                die "the freeze did not fail with qemu-ga's hook error: $out"
        say "freeze answered $out"
        [ "$(fsfreeze_status)" = thawed ] || die "qemu-ga says frozen after the vetoed freeze"
        [ "$(fs_state)" = thawed ] || die "the loop file system is frozen after the vetoed freeze"
        no_writer_frozen || die "a writer stayed Frozen after the veto:
$(writers_text)"
        writer_in_state SQLite Stable || die "the SQLite writer is not Stable after the veto:
$(writer_block SQLite)"
        # The vetoing writer shows its failure, naming the script.
        writer_block Hooks | grep -qE '^   State: \[[0-9]+\] Failed$' ||
                die "the hooks writer does not show its failure:
$(writer_block Hooks)"
        writer_block Hooks | grep -q '20-veto' || die "the hooks writer's status does not name the script:
$(writer_block Hooks)"
        # The script frozen before the veto was thawed; the one that refused was not "thawed".
        script_called "10-first thaw" || die "the already-frozen script was not thawed: $(script_calls)"
        [ "$(grep -c '^10-first thaw$' "$T/scripts.log")" = 1 ] || die "10-first thawed more than once: $(script_calls)"
        local n=$(acked)
        wait_for 30 "the load client committing after the veto" acked_more_than "$((n + 5))"
        say "nothing frozen; Hooks: $(writer_block Hooks | grep -E '^   (State|Application error):' | tr -s ' ' | tr '\n' ' ')"
}

# Part 4, third line: no thaw before the hold limit: writers thawed by lvss, the later thaw reports it.
# (No SQLite writer here: its database would be on the file system that stays frozen, where its thaw
# could only complete after FITHAW.)
scenario_hold_limit() {
        local out
        new_ext4
        printf '[Coordinator]\nExternalHoldLimitMS=1000\n' >"$T/lvssd.conf"
        start_lvssd "$T/lvssd.conf"
        make_script 10-first
        start_hooks_writer
        start_qga

        out=$(freeze_ok)
        say "frozen; waiting for lvssd's hold limit (1000 ms) to thaw the writers"
        # The event: the writer leaves Frozen and the script's thaw has run, qemu-ga still frozen.
        wait_for 30 "lvssd thawing the writers past the hold limit" no_writer_frozen
        wait_for 30 "the script's thaw run by lvss" script_called "10-first thaw"
        writer_in_state Hooks Frozen && die "the hooks writer is still Frozen"
        [ "$(fsfreeze_status)" = frozen ] || die "qemu-ga no longer says frozen before its thaw"

        # qemu-ga 7.2 thaws the file systems (FITHAW) first, then runs `hook thaw`; its non-zero exit
        # becomes the answer's error, though the file systems are thawed.
        out=$(qga guest-fsfreeze-thaw) && die "guest-fsfreeze-thaw succeeded after the hold limit: $out"
        grep -qF '"fsfreeze hook has failed with status 1"' <<<"$out" ||
                die "the later thaw did not report the hook's failure: $out"
        say "the later thaw answered $out"
        [ "$(fsfreeze_status)" = thawed ] || die "qemu-ga says frozen after the thaw"
        [ "$(fs_state)" = thawed ] || die "the loop file system is still frozen after the thaw"
        [ "$(grep -c '^10-first thaw$' "$T/scripts.log")" = 1 ] || die "the script was thawed more than once: $(script_calls)"
        writer_in_state Hooks Stable || die "the hooks writer is not Stable at the end:
$(writer_block Hooks)"
        # The session is recorded as aborted, still with its provenance.
        writer_block Hooks | grep -E '^   Session: ' | grep -q '(aborted, external: lvss-freeze-hook' ||
                die "the hooks writer's session is not shown aborted (external):
$(writer_block Hooks)"
        say "after: $(writer_block Hooks | grep '^   Session:' | sed 's/^ *//')"
}

# Bad input: lvssd is not running: the freeze fails with the hook error, nothing is frozen.
scenario_no_lvssd() {
        local out
        new_ext4
        export LVSS_SOCKET=$T/lvssd.sock # nobody listens there
        start_qga
        out=$(qga "$(freeze_request)") && die "the freeze succeeded without lvssd: $out"
        grep -qF '"fsfreeze hook has failed with status 1"' <<<"$out" ||
                die "the freeze did not fail with qemu-ga's hook error: $out"
        [ "$(fsfreeze_status)" = thawed ] || die "qemu-ga says frozen after the failed freeze"
        [ "$(fs_state)" = thawed ] || die "the loop file system is frozen after the failed freeze"
        # The one clear line the caller would see, from the hook itself.
        local line rc=0
        line=$(LVSS_SOCKET=$T/lvssd.sock "$FREEZE_HOOK" freeze 2>&1) || rc=$?
        [ "$rc" = 1 ] || die "lvss-freeze-hook freeze without lvssd exited $rc, not 1"
        [ "$(wc -l <<<"$line")" = 1 ] || die "lvss-freeze-hook without lvssd said more than one line: $line"
        say "freeze answered $out; the hook says: $line"
}

case $scenario in
frozen) scenario_frozen ;;
veto) scenario_veto ;;
hold-limit) scenario_hold_limit ;;
no-lvssd) scenario_no_lvssd ;;
*) die "unknown scenario '$scenario'" ;;
esac
say "ok"

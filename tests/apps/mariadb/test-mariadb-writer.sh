#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lvss-writer-mariadb against a real MariaDB 10.11 server (issue 9 parts 4
# and 5): a real lvssd, the real writer, the load client, vshadow, btrfs on
# loop devices in a private mount namespace. Never the machine's service:
# the server runs from mariadb-install-db's datadir in the test's own
# directory, on its own socket, --skip-networking, and is always stopped.
#
#   test-mariadb-writer.sh BUILD_DIR SCENARIO
#
# Scenarios (each checks the issue line named in its function's comment):
#   restore        backup under load, restore into the original place, recovery, checks
#   binlog-veto    binlog on a second file system: veto, commits never blocked long
#   copy-veto      the copy provider: veto with its message
#   kill-writer    SIGKILL the writer during Freeze
#   kill-server    SIGKILL the server during Freeze
#   kill-requester SIGKILL the requester (vshadow) during Freeze
#   freeze-timeout the writer's freeze timeout ends the stage
#   second-writer  two writer instances against one server: one clear failure, no hang
#   bad-input      wrong socket, refused user, stopped server: one clear line each
#   cycles N       N backup-and-restore cycles under load, 0 acknowledged ids lost (apps-slow)
#
# Waits are for events (a socket, a log line, a file, a process exit), each
# polled with a generous deadline; nothing sleeps for a fixed time to let
# things settle. Exit 77 (skipped) without root, loop devices, btrfs or MariaDB.
set -euo pipefail

build=${1:?usage: test-mariadb-writer.sh BUILD_DIR SCENARIO [N]}
scenario=${2:?usage: test-mariadb-writer.sh BUILD_DIR SCENARIO [N]}
build=$(cd "$build" && pwd)
PROG="test-mariadb-writer[$scenario]"

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/lvss-test-lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (loop devices, mounts)"
need_tools losetup mkfs.btrfs btrfs unshare mariadb-install-db mariadbd mariadb mariadb-admin mariadb-check

# A mount namespace of our own: the mounts cannot outlive the test.
enter_mount_namespace LVSS_MARIADB_TEST_NS "$@"

LVSSD=$build/src/coordinator/lvssd
VSHADOW=$build/tools/vshadow
VSSADMIN=$build/tools/vssadmin
WRITER=$build/writers/mariadb/lvss-writer-mariadb
LOAD=$build/writers/mariadb/lvss-mariadb-load

T=$(lvss_test_tmp mariadb)
SERVER_PID=
FREEZE_TIMEOUT_MS=10000

cleanup_before() { stop_server_hard; }
lvss_test_trap

# ---- btrfs --------------------------------------------------------------------------------------------------

# new_btrfs NAME: a btrfs file system on a loop device, mounted on $T/NAME; prints nothing.
new_btrfs() { new_loop_fs btrfs 400M "$T/$1"; }

# ---- lvssd: start_lvssd [CONF] (lvss-test-lib.sh) -----------------------------------------------------------

# ---- the server and the load (shared with ../hooks/test-hooks-writer.sh) ---------------------------------------

. "$(dirname "${BASH_SOURCE[0]}")/mariadb-lib.sh"

# ---- the writer ---------------------------------------------------------------------------------------------

WRITER_PID=
# start_writer LOG [OPTIONS...]: runs it and waits until it subscribed.
start_writer() {
        local log=$1
        shift
        : >"$log"
        "$WRITER" --socket "$T/lvssd.sock" --db-socket "$SOCK" --freeze-timeout "$FREEZE_TIMEOUT_MS" "$@" \
                2>>"$log" &
        WRITER_PID=$!
        PIDS+=("$WRITER_PID")
        wait_for 30 "the writer subscribing ($log)" grep -q "subscribed" "$log"
}
stop_writer() {
        kill -TERM "$WRITER_PID"
        local rc=0
        wait "$WRITER_PID" || rc=$?
        [ "$rc" -eq 0 ] || die "lvss-writer-mariadb exited with $rc on SIGTERM"
}

# ---- checks on a restored copy --------------------------------------------------------------------------------

# check_restored STAMP_USEC: the running server (restored) passes mariadb-check, holds every id acknowledged
# before STAMP (BLOCK_COMMIT returned), no id past the last one attempted, and two order_lines per order.
check_restored() {
        local stamp=$1 out ids missing before max_ack max_id lines orders
        out=$(mariadb-check --no-defaults -S "$SOCK" -u root --all-databases 2>&1) || die "mariadb-check failed: $out"
        if grep -v -E '[[:space:]]OK$' <<<"$out" | grep -q .; then
                die "mariadb-check --all-databases is not clean:
$out"
        fi
        sql "SELECT id FROM lvss_load.orders ORDER BY id" >"$T/ids" || die "cannot read the restored ids"
        before=$(awk -v s="$stamp" '$2 < s' "$ACK" | wc -l)
        [ "$before" -ge 100 ] || die "only $before transactions acknowledged before BLOCK_COMMIT: the check proves little"
        [ "$(awk -v s="$stamp" '$2 >= s' "$ACK" | wc -l)" -gt 0 ] || die "nothing acknowledged after BLOCK_COMMIT: not under load"
        missing=$(awk -v s="$stamp" 'NR == FNR { have[$1] = 1; next } $2 < s && !($1 in have) { n++; if (!f) f = $1 }
                   END { printf "%d %s", n + 0, f }' "$T/ids" "$ACK")
        [ "${missing%% *}" = 0 ] || die "${missing%% *} of $before transactions acknowledged before BLOCK_COMMIT are missing (first: ${missing#* })"
        max_ack=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$ACK")
        max_id=$(tail -n 1 "$T/ids")
        # The load stopped after the backup: the last id it attempted is at most the last acknowledged + 1.
        [ "${max_id:-0}" -le $((max_ack + 1)) ] || die "the copy holds id $max_id, never attempted (last acknowledged $max_ack)"
        orders=$(wc -l <"$T/ids")
        lines=$(sql "SELECT COUNT(*) FROM lvss_load.order_lines")
        [ "$lines" -eq $((2 * orders)) ] || die "the copy has $orders orders but $lines order lines: not one instant"
        # The copy's instant is the writer's BLOCK_COMMIT: the recovered server's binlog ends at the GTID the writer
        # read under BLOCK_COMMIT and kept in the document's backup metadata (part 4).
        local kept now
        kept=$(sed -n 's/.*gtid_binlog_pos=\([0-9-]*\);.*/\1/p' "$BCD" | head -n 1)
        now=$(sql "SELECT @@gtid_binlog_pos")
        [ -n "$kept" ] || die "no gtid_binlog_pos in the document's backup metadata"
        [ "$now" = "$kept" ] || die "the restored server is at GTID $now, the writer's BLOCK_COMMIT was at $kept"
        say "restored copy: $orders orders, all $before acknowledged before BLOCK_COMMIT present, max id $max_id (last acknowledged $max_ack), GTID $now as kept at BLOCK_COMMIT, mariadb-check clean"
}

# ---- one backup (vshadow -p) and its restore (vshadow -r) ----------------------------------------------------------

# backup NAME VOLUME...: vshadow -p -bc; sets SHADOW (the first shadow copy) and BCD; fails on error.
backup() {
        local name=$1
        shift
        BCD=$T/$name.xml
        "$VSHADOW" -p -bc="$BCD" -script="$T/$name.env" "$@" >"$T/$name.out" 2>&1 ||
                die "vshadow -p $* failed: $(tail -n 20 "$T/$name.out")"
        SHADOW=$(. "$T/$name.env" && echo "$LVSS_SHADOW_1")
        [ -d "$SHADOW/data" ] || die "the shadow copy $SHADOW has no datadir"
}

# restore NAME: the server is stopped; vshadow -r moves the live directories aside and copies the shadow copy back.
restore() {
        local name=$1 vol
        vol=$(dirname "$DATADIR")
        cat >"$T/restore-$name.sh" <<EOF
#!/bin/sh
set -e
test "\$LVSS_RESTORE" = 1
mv '$DATADIR' '$DATADIR.old-$name'
mv '$BINLOG_DIR' '$BINLOG_DIR.old-$name'
cp -a --reflink=auto '$SHADOW/data' '$DATADIR'
cp -a --reflink=auto '$SHADOW/binlog' '$BINLOG_DIR'
EOF
        chmod 755 "$T/restore-$name.sh"
        "$VSHADOW" -r="$BCD" -exec="$T/restore-$name.sh" >"$T/restore-$name.out" 2>&1 ||
                die "vshadow -r failed: $(tail -n 30 "$T/restore-$name.out")"
        rm -rf "$DATADIR.old-$name" "$BINLOG_DIR.old-$name"
}

freeze_stamp() { cat "$T/stamp"; }

# ---- scenarios ----------------------------------------------------------------------------------------------

common_setup() {
        new_btrfs fs1
        btrfs subvolume create "$T/fs1/vol" >/dev/null
        init_server "$T/fs1/vol/data" "$T/fs1/vol/binlog"
        start_server
}

# Issue 9 part 5: load running, vshadow -p (btrfs, datadir + redo + binlog in one subvolume: atomic); stop the
# server, restore into the original place (vshadow -r, PostRestore checks), start it: it recovers, mariadb-check is
# clean, every id acknowledged before BLOCK_COMMIT is there, none never attempted. Part 4: PreRestore refuses while
# the server runs; the binlog position is in the backup metadata; a #sql leftover is removed at PostRestore.
scenario_restore() {
        common_setup
        start_lvssd
        start_writer "$T/writer.log" --instance itest --freeze-stamp "$T/stamp"
        grep -q "datadir $DATADIR" "$T/writer.log" || die "the writer did not find the datadir: $(cat "$T/writer.log")"
        start_load "$T/ack"
        backup b1 "$T/fs1/vol"
        local stamp
        stamp=$(freeze_stamp)
        grep -q "BACKUP STAGE BLOCK_COMMIT held" "$T/writer.log" || die "the writer did not hold BLOCK_COMMIT"
        grep -q "binlog_file=binlog.000001;binlog_pos=[0-9][0-9]*;gtid_binlog_pos=0-1-[0-9]" "$BCD" ||
                die "the binlog position and GTID are not in the document's backup metadata"
        load_goes_on 100 "after Thaw"
        stop_load

        # PreRestore refuses over a datadir the running server uses (part 4).
        cat >"$T/never.sh" <<EOF
#!/bin/sh
touch '$T/never-ran'
EOF
        chmod 755 "$T/never.sh"
        if "$VSHADOW" -r="$BCD" -exec="$T/never.sh" >"$T/refused.out" 2>&1; then
                die "vshadow -r over the running server's datadir succeeded"
        fi
        grep -q "a running server uses $DATADIR" "$T/refused.out" ||
                die "PreRestore did not say why: $(tail -n 20 "$T/refused.out")"
        [ ! -e "$T/never-ran" ] || die "the restore copied files over a running server's datadir"

        stop_server
        # The restore is run by a writer started while the server is down (as after a reboot): --datadir.
        stop_writer
        start_writer "$T/writer2.log" --instance itest --datadir "$DATADIR"
        grep -q "using --datadir $DATADIR until the server answers" "$T/writer2.log" ||
                die "the writer did not say it uses --datadir: $(cat "$T/writer2.log")"
        restore r1
        grep -q "PostRestore: $DATADIR: ibdata1, ib_logfile0, aria_log_control and [0-9]* database directories found" \
                "$T/writer2.log" || die "PostRestore did not check the datadir: $(tail -n 5 "$T/writer2.log")"
        start_server
        check_restored "$stamp"
        check_server_free "after the restore"

        # PostRestore removes #sql* leftovers (a second restore of the same copy, with one planted by the copy step)
        stop_server
        cat >>"$T/restore-r1.sh" <<EOF
touch '$DATADIR/lvss_load/#sql-alter-1-2.frm' '$DATADIR/#sql-ib99.ibd'
EOF
        "$VSHADOW" -r="$BCD" -exec="$T/restore-r1.sh" >"$T/restore-r2.out" 2>&1 ||
                die "the second vshadow -r failed: $(tail -n 30 "$T/restore-r2.out")"
        grep -q "2 #sql leftovers removed" "$T/writer2.log" || die "PostRestore did not remove the #sql leftovers"
        [ -z "$(find "$DATADIR" -name '#sql*')" ] || die "#sql files are left: $(find "$DATADIR" -name '#sql*')"
        start_server
        check_restored "$stamp"
        stop_writer
}

# Issue 9 part 5: MariaDB with its binlog on a second file system: the writer vetoes, the backup fails with that
# message, and commits were never blocked for longer than the freeze timeout (from the ack log's gaps).
scenario_binlog_veto() {
        new_btrfs fs1
        new_btrfs fs2
        btrfs subvolume create "$T/fs1/vol" >/dev/null
        btrfs subvolume create "$T/fs2/vol" >/dev/null
        init_server "$T/fs1/vol/data" "$T/fs2/vol/binlog"
        start_server
        start_lvssd
        start_writer "$T/writer.log" --instance itest
        start_load "$T/ack"
        local t0 t1
        t0=$(($(date +%s%N) / 1000))
        if "$VSHADOW" -p "$T/fs1/vol" "$T/fs2/vol" >"$T/veto.out" 2>&1; then
                die "the backup of a set that splits MariaDB's files succeeded"
        fi
        t1=$(($(date +%s%N) / 1000))
        grep -q "MariaDB's files are on more than one volume of the set" "$T/veto.out" ||
                die "the backup did not fail with the writer's message: $(tail -n 30 "$T/veto.out")"
        grep -q "binlog $T/fs2/vol/binlog on volume $T/fs2/vol" "$T/veto.out" || die "the message does not name the volumes"
        grep -q "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT" "$T/veto.out" || die "not VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT"
        load_goes_on 100 "after the veto"
        # the longest gap between two acknowledgements during the attempt
        local gap
        gap=$(awk -v a="$t0" -v b="$t1" '$2 >= a && $2 <= b + 1000000 { if (p && $2 - p > g) g = $2 - p; p = $2 }
                 END { print g + 0 }' "$T/ack")
        say "longest commit gap during the vetoed backup: ${gap} us (freeze timeout ${FREEZE_TIMEOUT_MS} ms)"
        [ "$gap" -lt $((FREEZE_TIMEOUT_MS * 1000)) ] || die "commits were blocked for ${gap} us, longer than the freeze timeout"
        [ "$(awk -v a="$t0" -v b="$t1" '$2 >= a && $2 <= b' "$T/ack" | wc -l)" -gt 0 ] ||
                die "no commit during the vetoed backup: the check proves nothing"
        stop_load
        check_server_free "after the veto"
        # The same server with everything on one subvolume of fs1 is backed up (the veto is about the set).
        stop_writer
}

# Issue 9 part 5: the copy provider (not atomic): the writer vetoes with its message.
scenario_copy_veto() {
        common_setup
        printf 'DefaultProvider=copy\n' >"$T/lvssd.conf"
        start_lvssd "$T/lvssd.conf"
        start_writer "$T/writer.log" --instance itest
        start_load "$T/ack"
        if "$VSHADOW" -p "$T/fs1/vol" >"$T/veto.out" 2>&1; then
                die "the backup with the copy provider succeeded"
        fi
        grep -q "volume $T/fs1/vol (provider copy) is not snapshotted at one instant" "$T/veto.out" ||
                die "the backup did not fail with the writer's message: $(tail -n 30 "$T/veto.out")"
        load_goes_on 100 "after the veto"
        [ "$("$VSSADMIN" list shadows 2>/dev/null | grep -c 'Shadow Copy ID')" = 0 ] || die "a shadow copy was left"
        stop_load
        check_server_free "after the veto"
        stop_writer
}

# An exec provider that snapshots btrfs (atomic) and, while $T/hang exists, waits in commit: a Freeze window the
# test controls (it removes the file to let the commit go on). Its pid goes to $T/commit-started.
setup_hang_provider() {
        cat >"$T/bhang" <<EOF
#!/bin/sh
case "\$1" in
is-supported) exit 0 ;;
prepare) echo atomic; exit 0 ;;
commit)
        if [ -e '$T/hang' ]; then
                echo \$\$ >'$T/commit-started.tmp' && mv '$T/commit-started.tmp' '$T/commit-started'
                while [ -e '$T/hang' ]; do sleep 0.05; done
        fi
        mkdir -p '$T/fs1/snaps'
        btrfs subvolume snapshot -r "\$4" '$T/fs1/snaps/'"\$3" >&2 || exit 1
        echo '$T/fs1/snaps/'"\$3" ;;
delete) [ -d "\$2" ] && btrfs subvolume delete "\$2" >&2; exit 0 ;;
abort) [ -d '$T/fs1/snaps/'"\$3" ] && btrfs subvolume delete '$T/fs1/snaps/'"\$3" >&2; exit 0 ;;
esac
EOF
        chmod 755 "$T/bhang"
        printf 'ExecProvider=bhang:%s/bhang\nDefaultProvider=bhang\nHoldWindowMS=25000\n' "$T" >"$T/lvssd.conf"
}

# start a backup that will hang in the provider's commit, i.e. with the writer frozen; sets VS_PID
hang_backup() {
        rm -f "$T/commit-started"
        touch "$T/hang"
        "$VSHADOW" -p "$T/fs1/vol" >"$T/hang.out" 2>&1 &
        VS_PID=$!
        PIDS+=("$VS_PID")
        wait_for 30 "the provider's commit starting" test -s "$T/commit-started"
        grep -q "BACKUP STAGE BLOCK_COMMIT held" "$1" || die "the writer is not frozen"
}
end_hang() {
        rm -f "$T/hang"
        wait "$VS_PID" 2>/dev/null || true
}

# the next backup works (a fresh writer log line, exit 0), then its shadow copies are deleted
next_backup_works() {
        "$VSHADOW" -p "$T/fs1/vol" >"$T/next.out" 2>&1 || die "$1: the next backup failed: $(tail -n 30 "$T/next.out")"
        "$VSSADMIN" delete shadows --all -y >/dev/null 2>&1 || die "vssadmin delete shadows --all"
}

# Issue 9 part 5: kill the writer during Freeze: the server is never left in a stage or blocked (at once: the
# disconnect ends the stage, long before any timeout), and the next backup works.
scenario_kill_writer() {
        common_setup
        setup_hang_provider
        start_lvssd "$T/lvssd.conf"
        FREEZE_TIMEOUT_MS=30000
        start_writer "$T/writer.log" --instance itest
        start_load "$T/ack"
        hang_backup "$T/writer.log"
        kill -KILL "$WRITER_PID"
        wait "$WRITER_PID" 2>/dev/null || true
        load_goes_on 100 "after the writer was killed during Freeze"
        check_server_free "after the writer was killed during Freeze"
        end_hang
        start_writer "$T/writer2.log" --instance itest
        next_backup_works "after the writer was killed"
        grep -q "BACKUP STAGE END, commits were blocked" "$T/writer2.log" || die "the next backup did not freeze"
        stop_load
        stop_writer
}

# Issue 9 parts 4 and 5: kill the server during Freeze: the writer notices the lost connection at once and
# reports it; the restarted server is in no stage; the next backup works.
scenario_kill_server() {
        common_setup
        setup_hang_provider
        start_lvssd "$T/lvssd.conf"
        FREEZE_TIMEOUT_MS=30000
        start_writer "$T/writer.log" --instance itest
        start_load "$T/ack"
        hang_backup "$T/writer.log"
        stop_server_hard
        wait_for 10 "the writer reporting the lost connection" \
                grep -q "lost the connection to the server at $SOCK while BLOCK_COMMIT was held" "$T/writer.log"
        local rc=0
        wait "$LOAD_PID" || rc=$?
        [ "$rc" = 1 ] && grep -q "lost the connection to the server" "$T/load.log" ||
                die "the load did not say it lost the server (exit $rc): $(tail -n 2 "$T/load.log")"
        [ "$(grep -c . "$T/load.log")" = 1 ] || die "the load said more than one line: $(cat "$T/load.log")"
        end_hang
        grep -q "lost the connection to the server" "$T/hang.out" ||
                die "the backup's writer status does not report the lost connection: $(tail -n 30 "$T/hang.out")"
        start_server
        check_server_free "after the server was killed during Freeze"
        start_load "$T/ack2"
        next_backup_works "after the server was killed"
        stop_load
        stop_writer
}

# Issue 9 part 5: stop the requester during Freeze: lvssd aborts the session (WS-13), the writer ends the stage,
# commits go on, the next backup works.
scenario_kill_requester() {
        common_setup
        setup_hang_provider
        start_lvssd "$T/lvssd.conf"
        FREEZE_TIMEOUT_MS=30000
        start_writer "$T/writer.log" --instance itest
        start_load "$T/ack"
        hang_backup "$T/writer.log"
        kill -KILL "$VS_PID"
        wait "$VS_PID" 2>/dev/null || true
        wait_for 20 "the writer ending the stage on Abort" grep -q "Abort: BACKUP STAGE ended" "$T/writer.log"
        load_goes_on 100 "after the requester was killed during Freeze"
        check_server_free "after the requester was killed during Freeze"
        rm -f "$T/hang"
        next_backup_works "after the requester was killed"
        stop_load
        stop_writer
}

# Issue 9 part 4: the freeze timeout (WS-6) ends the stage at once: a provider that never finishes its commit,
# the writer's freeze timeout 4 s: commits are blocked no longer than that (generous margin: 3 s), the backup
# fails, the server is in no stage, the next backup works.
scenario_freeze_timeout() {
        common_setup
        setup_hang_provider
        start_lvssd "$T/lvssd.conf"
        FREEZE_TIMEOUT_MS=4000
        start_writer "$T/writer.log" --instance itest
        start_load "$T/ack"
        hang_backup "$T/writer.log"
        wait_for 30 "the writer ending the stage" grep -q "Abort: BACKUP STAGE ended, commits were blocked for" \
                "$T/writer.log"
        local held gap
        held=$(sed -n 's/.*Abort: BACKUP STAGE ended, commits were blocked for \([0-9]*\)\..*/\1/p' "$T/writer.log")
        say "commits were blocked for $held ms (freeze timeout $FREEZE_TIMEOUT_MS ms)"
        [ "$held" -le $((FREEZE_TIMEOUT_MS + 3000)) ] || die "the stage was held $held ms, past the freeze timeout"
        load_goes_on 100 "after the freeze timeout"
        gap=$(awk '{ if (p && $2 - p > g) g = $2 - p; p = $2 } END { print g + 0 }' "$T/ack")
        [ "$gap" -le $(((FREEZE_TIMEOUT_MS + 3000) * 1000)) ] || die "a commit waited ${gap} us, past the freeze timeout"
        check_server_free "after the freeze timeout"
        end_hang
        next_backup_works "after the freeze timeout"
        stop_load
        stop_writer
}

# Issue 9 part 4: a second writer instance against the same server gets MariaDB's one BACKUP STAGE at a time as a
# clear failure, not a hang; the server is left in no stage.
scenario_second_writer() {
        common_setup
        start_lvssd
        start_writer "$T/writer-a.log" --instance a
        start_writer "$T/writer-b.log" --instance b
        start_load "$T/ack"
        local t0 t1
        t0=$(date +%s)
        if "$VSHADOW" -p "$T/fs1/vol" >"$T/second.out" 2>&1; then
                die "the backup with two writers holding BACKUP STAGE succeeded"
        fi
        t1=$(date +%s)
        grep -q "another session holds a BACKUP STAGE (MariaDB allows one at a time); ERROR 1205 (HY000)" \
                "$T/second.out" || die "no clear failure: $(tail -n 40 "$T/second.out")"
        [ $((t1 - t0)) -lt 30 ] || die "the failure took $((t1 - t0)) s"
        load_goes_on 100 "after the failed backup"
        check_server_free "after two writers"
        stop_load
        stop_writer
}

# Bad input gets one clear line: a wrong socket, a user the server refuses, a stopped server (writer and load).
scenario_bad_input() {
        common_setup
        start_lvssd
        sql "CREATE USER 'weak'@'localhost' IDENTIFIED BY 'right-password'" || die "CREATE USER"
        printf 'wrong-password\n' >"$T/pw"
        local out rc
        check_one_line() { # WHAT EXPECTED COMMAND...
                local what=$1 expected=$2
                shift 2
                rc=0
                out=$("$@" 2>&1 >/dev/null) || rc=$?
                [ "$rc" = 1 ] || die "$what: exit $rc, expected 1"
                [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] || die "$what: not one line: $out"
                grep -q -- "$expected" <<<"$out" || die "$what: '$out' does not say '$expected'"
                say "$what: $out"
        }
        check_one_line "writer, wrong socket" "cannot connect to the server at $T/nosuch.sock as root: ERROR 2002" \
                "$WRITER" --socket "$T/lvssd.sock" --db-socket "$T/nosuch.sock"
        check_one_line "writer, refused user" "as weak: ERROR 1045 (28000): Access denied for user 'weak'@'localhost'" \
                "$WRITER" --socket "$T/lvssd.sock" --db-socket "$SOCK" --db-user weak --db-password-file "$T/pw"
        check_one_line "load, refused user" "cannot connect to $SOCK as weak: ERROR 1045 (28000): Access denied" \
                "$LOAD" --user weak "$SOCK" "$T/ack"
        stop_server
        check_one_line "writer, stopped server" "cannot connect to the server at $SOCK as root: ERROR 2002" \
                "$WRITER" --socket "$T/lvssd.sock" --db-socket "$SOCK"
        check_one_line "load, stopped server" "cannot connect to $SOCK as root: ERROR 2002" "$LOAD" "$SOCK" "$T/ack"
        # a writer that runs and whose server stops later: the backup fails with the server's words, no hang
        start_server
        start_writer "$T/writer.log" --instance itest
        stop_server
        if "$VSHADOW" -p "$T/fs1/vol" >"$T/stopped.out" 2>&1; then die "a backup with the server stopped succeeded"; fi
        grep -q "cannot connect to the server at $SOCK as root: ERROR 2002" "$T/stopped.out" ||
                die "the backup does not carry the server's words: $(tail -n 30 "$T/stopped.out")"
        [ "$("$VSSADMIN" list shadows 2>/dev/null | grep -c 'Shadow Copy ID')" = 0 ] || die "a shadow copy was left"
        stop_writer
}

# Issue 9 part 5 (apps-slow): N backup-and-restore cycles in a row under load, 0 acknowledged transactions lost.
scenario_cycles() {
        local n=${1:-20} i stamp
        common_setup
        start_lvssd
        start_writer "$T/writer.log" --instance itest --freeze-stamp "$T/stamp"
        for ((i = 1; i <= n; i++)); do
                start_load "$T/ack.$i"
                backup "c$i" "$T/fs1/vol"
                stamp=$(freeze_stamp)
                load_goes_on 50 "cycle $i, after Thaw"
                stop_load
                stop_server
                restore "c$i"
                start_server
                check_restored "$stamp"
                "$VSSADMIN" delete shadows --all -y >/dev/null 2>&1 || die "vssadmin delete shadows --all"
                say "cycle $i of $n: ok"
        done
        stop_writer
}

case $scenario in
restore) scenario_restore ;;
binlog-veto) scenario_binlog_veto ;;
copy-veto) scenario_copy_veto ;;
kill-writer) scenario_kill_writer ;;
kill-server) scenario_kill_server ;;
kill-requester) scenario_kill_requester ;;
second-writer) scenario_second_writer ;;
freeze-timeout) scenario_freeze_timeout ;;
bad-input) scenario_bad_input ;;
cycles) scenario_cycles "${3:-20}" ;;
*) echo "$PROG: unknown scenario" >&2; exit 2 ;;
esac
stop_server
say "ok"

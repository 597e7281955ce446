#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lvss-writer-hooks (issue 10 part 1): a real lvssd, the real writer, real
# hook scripts in a temporary directory, vshadow and vssadmin; the MariaDB
# scenario runs a real server and its load client (../mariadb/mariadb-lib.sh).
# Never the machine's services: everything runs in the test's own directory on
# its own sockets and is stopped at the end, also on failure.
#
#   test-hooks-writer.sh BUILD_DIR SCENARIO
#
# Scenarios (each checks the issue line named in its function's comment):
#   success-qemu     3 scripts: freeze a,b,c / thaw a,b,c; stable; components listed
#   success-vmware   3 scripts: freeze a,b,c / thaw c,b,a
#   veto-qemu        b fails at freeze: veto naming it; a thawed; c never ran
#   veto-vmware      b fails at freeze: freezeFail b, a (reverse); c never ran
#   hang             a script and its child hang: killed with the group at --timeout
#   thaw-fail        two thaw scripts fail: all thawed, the worst failure is the writer's, naming its script
#   holder           a script leaves a lock holder behind until thaw (qemu's MySQL sample's shape)
#   abort            lvssd aborts after the freeze: thaw runs exactly once
#   freeze-timeout   Thaw does not come: the writer's own --freeze-timeout thaws, exactly once
#   lvssd-lost       lvssd dies while frozen: thawed exactly once, the writer exits 1
#   mariadb          FLUSH TABLES WITH READ LOCK held by a hook under load; copy restored and checked
#   bad-input        missing/non-directory DIR, bad options, stopped lvssd: one clear line each
#   cycles N         N backups in a row, every third vetoed: each frozen script thawed exactly once (apps-slow)
#
# Waits are for events (a socket, a log line, a file, a process exit), polled
# with a generous deadline; nothing sleeps a fixed time to let things settle.
# Exit 77 (skipped) without root.
set -euo pipefail

build=${1:?usage: test-hooks-writer.sh BUILD_DIR SCENARIO}
scenario=${2:?usage: test-hooks-writer.sh BUILD_DIR SCENARIO}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG="test-hooks-writer[$scenario]"

. "$here/../../lib/lvss-test-lib.sh"
LVSS_TEST_DUMP_LINES=30

[ "$(id -u)" = 0 ] || skip "needs root (the copy provider's immutable copies)"

LVSSD=$build/src/coordinator/lvssd
VSHADOW=$build/tools/vshadow
VSSADMIN=$build/tools/vssadmin
WRITER=$build/writers/hooks/lvss-writer-hooks
LOAD=$build/writers/mariadb/lvss-mariadb-load

T=$(lvss_test_tmp hooks)
SERVER_PID=

cleanup_before() {
        [ -z "$SERVER_PID" ] || { kill -KILL "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }
        # The writer first (SIGTERM: it thaws what is frozen), then the rest.
        [ -z "${WRITER_PID:-}" ] || { kill -TERM "$WRITER_PID" 2>/dev/null; wait "$WRITER_PID" 2>/dev/null; }
}
# Processes a hook script left behind (their pids in *.pid files).
cleanup_after_kill() {
        for f in "$T"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
}
lvss_test_trap

# ---- lvssd, the writer, a backup ---------------------------------------------------------------------------------

# start_lvssd [CONF] (lvss-test-lib.sh): the copy provider by default (a plain directory is the volume).
LVSSD_DEFAULT_CONF='DefaultProvider=copy'

WRITER_PID=
# start_writer [OPTIONS...]: the writer on $T/hooks, log $T/writer.log; waits until it subscribed.
start_writer() {
        : >"$T/writer.log"
        "$WRITER" --socket "$T/lvssd.sock" "$@" "$T/hooks" 2>>"$T/writer.log" &
        WRITER_PID=$!
        wait_for 30 "the writer subscribing" grep -q "subscribed" "$T/writer.log"
}
stop_writer() {
        kill -TERM "$WRITER_PID"
        local rc=0
        wait "$WRITER_PID" || rc=$?
        WRITER_PID=
        [ "$rc" -eq 0 ] || die "lvss-writer-hooks exited with $rc on SIGTERM"
}

# hook NAME BODY: an executable script $T/hooks/NAME; BODY is shell, $1 is the action. Every run appends
# "NAME ACTION" to $T/actions first.
hook() {
        mkdir -p "$T/hooks"
        {
                echo '#!/bin/sh'
                echo "echo \"$1 \$1\" >>'$T/actions'"
                printf '%s\n' "$2"
        } >"$T/hooks/$1"
        chmod 755 "$T/hooks/$1"
}
logging_hook() { hook "$1" "echo \"$1 did \$1\""; }

# The actions the scripts saw, in order, on one line.
actions() { [ -f "$T/actions" ] && tr '\n' ',' <"$T/actions" | sed 's/,$//'; }
expect_actions() {
        local got
        got=$(actions || true)
        [ "$got" = "$1" ] || die "the scripts ran '$got', expected '$1'"
}

volume() { mkdir -p "$T/vol" && echo data >"$T/vol/file"; }

no_shadow_left() {
        [ "$("$VSSADMIN" list shadows 2>/dev/null | grep -c 'Shadow Copy ID')" = 0 ] || die "a shadow copy was left"
}

# writer_state: the hooks writer's lines of vssadmin list writers.
writer_state() { "$VSSADMIN" list writers 2>&1 | sed -n "/Writer name: 'Hooks'/,/^\$/p"; }

# ---- scenarios ----------------------------------------------------------------------------------------------

# Issue 10 part 1, "Conventions" + "Freeze runs the freeze scripts; Thaw runs the thaw side": 3 scripts (plus files
# the qemu dispatcher ignores, a hidden and a non-executable one), a backup; the exact order of the actions, the
# writer stable, one component per script. Also "re-read at Identify": a script added later takes part.
scenario_success() {
        local conv=$1 thaw_order=$2
        logging_hook b
        logging_hook a
        logging_hook c
        for junk in x.sample y~ z.dpkg-old w.rpmnew .hidden; do logging_hook "$junk"; done
        logging_hook noexec
        chmod 644 "$T/hooks/noexec"
        volume
        start_lvssd
        start_writer --convention "$conv"
        grep -q "3 scripts, $conv convention" "$T/writer.log" || die "not 3 scripts: $(cat "$T/writer.log")"
        grep -q "^lvss-writer-hooks: $T/hooks/noexec is not executable, skipped$" "$T/writer.log" ||
                die "the non-executable script was skipped silently: $(cat "$T/writer.log")"
        "$VSHADOW" -p "$T/vol" >"$T/b1.out" 2>&1 || die "the backup failed: $(tail -n 20 "$T/b1.out")"
        expect_actions "a freeze,b freeze,c freeze,$thaw_order"
        writer_state >"$T/state1.out"
        grep -q "State: \[1\] Stable" "$T/state1.out" || die "the writer is not stable: $(cat "$T/state1.out")"
        grep -q "Last error: No error" "$T/state1.out" || die "the writer has an error: $(cat "$T/state1.out")"
        "$VSHADOW" -wm >"$T/wm.out" 2>&1 || die "vshadow -wm failed"
        for s in a b c; do
                grep -q "Component 'hooks\\\\$s' (file group), caption '$T/hooks/$s'" "$T/wm.out" ||
                        die "component $s is not listed: $(grep -A8 Hooks "$T/wm.out")"
        done
        [ "$(grep -c "Component 'hooks" "$T/wm.out")" = 3 ] || die "not exactly 3 components: $(cat "$T/wm.out")"
        grep -q "session {[0-9a-f-]*}: Freeze: a freeze: exit status 0 after [0-9.]* ms: a did freeze" \
                "$T/writer.log" || die "no log line with the session for a's freeze"
        # Re-read at Identify: d is added between two backups and takes part in the second.
        logging_hook d
        : >"$T/actions"
        "$VSHADOW" -p "$T/vol" >"$T/b2.out" 2>&1 || die "the second backup failed: $(tail -n 20 "$T/b2.out")"
        grep -q "^d freeze$" "$T/actions" || die "the script added between backups did not run: $(actions)"
        stop_writer
}

# Issue 10 part 1, "failure at freeze (veto; the already-frozen ones thawed in the right order)": b exits 3 with a
# last line "cannot lock"; the backup fails naming b, the exit status and the line; the writer's status shows it;
# a was undone (qemu: thaw; vmware: freezeFail on b, then a), c never ran; nothing left.
scenario_veto() {
        local conv=$1 expected=$2
        logging_hook a
        hook b 'if [ "$1" = freeze ]; then echo "trying"; echo "cannot lock"; echo; exit 3; fi'
        logging_hook c
        volume
        start_lvssd
        start_writer --convention "$conv"
        if "$VSHADOW" -p "$T/vol" >"$T/veto.out" 2>&1; then
                die "the backup succeeded though b failed at freeze"
        fi
        expect_actions "$expected"
        grep -q "b freeze: exit status 3 after [0-9.]* ms: cannot lock" "$T/veto.out" ||
                die "vshadow does not name the script, its status and its last line: $(tail -n 20 "$T/veto.out")"
        writer_state >"$T/state.out"
        grep -q "b freeze: exit status 3 after [0-9.]* ms: cannot lock" "$T/state.out" ||
                die "vssadmin list writers does not show the failure: $(cat "$T/state.out")"
        grep -q "Retryable error" "$T/state.out" || grep -q "RETRYABLE" "$T/state.out" ||
                die "not a retryable writer error: $(cat "$T/state.out")"
        no_shadow_left
        # The undo ran at once, inside Freeze, before any Abort from lvssd.
        local fz ab
        fz=$(grep -n "Freeze: a \(thaw\|freezeFail\)" "$T/writer.log" | head -n 1 | cut -d: -f1)
        ab=$(grep -n ": Abort:" "$T/writer.log" | head -n 1 | cut -d: -f1)
        [ -n "$fz" ] || die "a was not undone inside Freeze: $(cat "$T/writer.log")"
        [ -z "$ab" ] || [ "$fz" -lt "$ab" ] || die "a was undone only at Abort"
        # Nothing is left frozen: the next backup, with b fixed, works and undoes nothing twice.
        logging_hook b
        : >"$T/actions"
        "$VSHADOW" -p "$T/vol" >"$T/b2.out" 2>&1 || die "the backup after the veto failed: $(tail -n 20 "$T/b2.out")"
        stop_writer
}

# Issue 10 part 1, "its own deadline (killed with its process group past it)": b and a child of it hang at freeze;
# at --timeout both are killed, the failure says "timed out after N ms", a is thawed, c never runs.
scenario_hang() {
        logging_hook a
        hook b "if [ \"\$1\" = freeze ]; then
        sleep 1000 & echo \$! >'$T/b-child.pid'
        echo \$\$ >'$T/b.pid'
        echo 'waiting forever'
        wait
fi"
        logging_hook c
        volume
        start_lvssd
        start_writer --timeout 1500
        if "$VSHADOW" -p "$T/vol" >"$T/hang.out" 2>&1; then
                die "the backup succeeded though b hung"
        fi
        expect_actions "a freeze,b freeze,a thaw"
        grep -q "b freeze: timed out after 1500 ms, killed with its process group after [0-9.]* ms: waiting forever" \
                "$T/hang.out" || die "the failure does not say b timed out: $(tail -n 20 "$T/hang.out")"
        local pid
        for f in b b-child; do
                pid=$(cat "$T/$f.pid")
                wait_for 10 "$f (pid $pid) ending" gone "$pid"
        done
        no_shadow_left
        stop_writer
}

# Issue 10 part 1, "exit status, duration and last line of output become its component's failure and message; the
# writer's status is the worst of them with the script named": at Thaw, a fails (exit 2, retryable) and c cannot run
# a command (exit 127, non-retryable); every script is still thawed; the writer's failure names c, the worst.
scenario_thaw_fail() {
        hook a '[ "$1" = thaw ] && { echo "cannot unlock"; exit 2; }; exit 0'
        logging_hook b
        hook c '[ "$1" = thaw ] && { echo "lvss-no-such-command: not found"; exit 127; }; exit 0'
        volume
        start_lvssd
        start_writer
        "$VSHADOW" -p "$T/vol" >"$T/tf.out" 2>&1 || true
        expect_actions "a freeze,b freeze,c freeze,a thaw,b thaw,c thaw"
        grep -q "Thaw: a thaw: exit status 2 after [0-9.]* ms: cannot unlock" "$T/writer.log" || die "no line for a's thaw"
        writer_state >"$T/state.out"
        grep -q "c thaw: exit status 127 after [0-9.]* ms: lvss-no-such-command: not found" "$T/state.out" ||
                die "the writer's status is not c's (the worst): $(cat "$T/state.out")"
        grep -q "Non-retryable error\|NONRETRYABLE" "$T/state.out" || die "not non-retryable: $(cat "$T/state.out")"
        stop_writer
}

# Issue 10 part 1, "Scripts may leave processes behind between freeze and thaw ... must work, unmodified": the
# holder script leaves a background process (holding stdout, as qemu's MySQL sample's client does) blocked on a
# FIFO; its freeze step ends while the holder lives; its thaw writes to the FIFO and the holder ends. The holder
# writes to its stdout after the script ended: that must neither block nor kill it (SIGPIPE).
scenario_holder() {
        hook holder "case \"\$1\" in
freeze)
        rm -f '$T/fifo'; mkfifo '$T/fifo'
        ( read x <'$T/fifo'; echo \"holder: released by \$x\"; echo \"released by \$x\" >'$T/released' ) &
        echo \$! >'$T/holder.pid'
        echo 'lock held in the background'
        exit 0 ;;
thaw)
        echo thaw >'$T/fifo'
        echo 'told the holder' ;;
esac"
        # Runs after holder at freeze: the holder is alive when the freeze step goes on.
        hook later "[ \"\$1\" = freeze ] && kill -0 \$(cat '$T/holder.pid') && echo alive >'$T/alive-at-freeze'; exit 0"
        volume
        start_lvssd
        start_writer --timeout 20000
        local t0 t1
        t0=$(date +%s)
        "$VSHADOW" -p "$T/vol" >"$T/b1.out" 2>&1 || die "the backup failed: $(tail -n 20 "$T/b1.out")"
        t1=$(date +%s)
        [ -f "$T/alive-at-freeze" ] || die "the holder was not alive after holder's freeze step ended"
        grep -q "holder freeze: exit status 0 after [0-9.]* ms: lock held in the background" "$T/writer.log" ||
                die "holder's freeze did not end with its own exit: $(cat "$T/writer.log")"
        # Had the writer waited for the pipe to close, Freeze would have run into --timeout (20 s).
        [ $((t1 - t0)) -lt 15 ] || die "the backup took $((t1 - t0)) s: the writer waited for the holder"
        expect_actions "holder freeze,later freeze,holder thaw,later thaw"
        wait_for 10 "the holder ending after thaw" gone "$(cat "$T/holder.pid")"
        grep -q "released by thaw" "$T/released" || die "the holder was not released by thaw"
        stop_writer
}

# Issue 10 part 1, "Thaw (or Abort ...) runs the thaw side — always ... exactly once per script that was frozen":
# a second hooks writer vetoes after the first one froze; lvssd aborts the session; the first writer's scripts
# are thawed once each (counted), the second's never-frozen script is not thawed.
scenario_abort() {
        logging_hook a
        logging_hook b
        mkdir -p "$T/hooks2"
        cat >"$T/hooks2/veto" <<EOF
#!/bin/sh
echo "veto \$1" >>'$T/actions2'
[ "\$1" = freeze ] || exit 0
# Fail only once the first writer is frozen, so that lvssd aborts a frozen writer.
i=0
while ! grep -q 'Freeze: 2 scripts frozen' '$T/writer.log'; do i=\$((i+1)); [ \$i -lt 400 ] || break; sleep 0.05; done
echo 'refusing'
exit 1
EOF
        chmod 755 "$T/hooks2/veto"
        volume
        start_lvssd
        start_writer --instance first
        "$WRITER" --socket "$T/lvssd.sock" --instance second "$T/hooks2" 2>>"$T/writer2.log" &
        PIDS+=($!)
        wait_for 30 "the second writer subscribing" grep -q subscribed "$T/writer2.log"
        if "$VSHADOW" -p "$T/vol" >"$T/abort.out" 2>&1; then
                die "the backup succeeded though a writer vetoed"
        fi
        grep -q "veto freeze: exit status 1 after [0-9.]* ms: refusing" "$T/abort.out" ||
                die "the veto is not named: $(tail -n 20 "$T/abort.out")"
        wait_for 20 "the first writer's Abort" grep -q ": Abort: the frozen scripts were undone" "$T/writer.log"
        expect_actions "a freeze,b freeze,a thaw,b thaw"
        [ "$(grep -c "veto" "$T/actions2")" = 1 ] || die "the vetoing script was undone: $(cat "$T/actions2")"
        no_shadow_left
        # A later Thaw or BackupShutdown must not thaw again: after one more (good) backup, a thawed exactly twice.
        rm -f "$T/hooks2/veto"
        "$VSHADOW" -p "$T/vol" >"$T/b2.out" 2>&1 || die "the backup after the abort failed: $(tail -n 20 "$T/b2.out")"
        [ "$(grep -c '^a thaw$' "$T/actions")" = 2 ] || die "a was thawed $(grep -c '^a thaw$' "$T/actions") times in 2 backups"
        [ "$(grep -c '^a freeze$' "$T/actions")" = 2 ] || die "a was frozen $(grep -c '^a freeze$' "$T/actions") times"
        stop_writer
}

# An exec provider that copies the volume, waiting in commit while $T/hang exists (at most 60 s): a Freeze window
# the test controls. Its pid goes to $T/commit-started.
setup_slowcopy() {
        cat >"$T/slowcopy" <<EOF
#!/bin/sh
case "\$1" in
is-supported) exit 0 ;;
prepare) echo atomic; exit 0 ;;
commit)
        echo \$\$ >'$T/commit-started'
        i=0
        while [ -e '$T/hang' ] && [ \$i -lt 1200 ]; do i=\$((i+1)); sleep 0.05; done
        mkdir -p '$T/snaps'
        cp -a "\$4" '$T/snaps/'"\$3" >&2 || exit 1
        echo '$T/snaps/'"\$3" ;;
delete) rm -rf "\$2"; exit 0 ;;
abort) rm -rf '$T/snaps/'"\$3"; exit 0 ;;
esac
EOF
        chmod 755 "$T/slowcopy"
        printf 'ExecProvider=slowcopy:%s/slowcopy\nDefaultProvider=slowcopy\nHoldWindowMS=25000\n' "$T" >"$T/lvssd.conf"
}

# Issue 10 part 1, "or the writer's freeze timeout": an exec provider that waits in commit until told; the
# writer's --freeze-timeout (2 s) thaws on its own; later Thaw and the end of the session thaw nothing again.
scenario_freeze_timeout() {
        logging_hook a
        logging_hook b
        setup_slowcopy
        volume
        start_lvssd
        start_writer --freeze-timeout 2000
        touch "$T/hang"
        "$VSHADOW" -p "$T/vol" >"$T/ft.out" 2>&1 &
        local vs=$!
        PIDS+=("$vs")
        wait_for 30 "the provider's commit starting" test -s "$T/commit-started"
        wait_for 20 "the writer's freeze timeout" grep -q ": Abort: the frozen scripts were undone" "$T/writer.log"
        expect_actions "a freeze,b freeze,a thaw,b thaw"
        rm -f "$T/hang"
        local rc=0
        wait "$vs" || rc=$?
        [ "$rc" -ne 0 ] || die "the backup succeeded though the writer thawed on its own"
        grep -q "VSS_E_WRITERERROR_TIMEOUT\|timed out\|Timeout" "$T/ft.out" ||
                say "note: vshadow's words: $(tail -n 5 "$T/ft.out")"
        expect_actions "a freeze,b freeze,a thaw,b thaw"
        stop_writer
        expect_actions "a freeze,b freeze,a thaw,b thaw"
}

# Issue 10 part 1, "or lvssd's connection dropping": lvssd is killed while the scripts are frozen; the writer
# thaws each once, says it lost lvssd and exits 1 without thawing again.
scenario_lvssd_lost() {
        logging_hook a
        logging_hook b
        setup_slowcopy
        volume
        start_lvssd
        start_writer
        touch "$T/hang"
        "$VSHADOW" -p "$T/vol" >"$T/lost.out" 2>&1 &
        PIDS+=($!)
        wait_for 30 "the provider's commit starting" test -s "$T/commit-started"
        expect_actions "a freeze,b freeze"
        kill -KILL "$LVSSD_PID"
        local rc=0
        wait "$WRITER_PID" || rc=$?
        WRITER_PID=
        [ "$rc" = 1 ] || die "the writer exited with $rc after losing lvssd, not 1"
        grep -q "lost lvssd\|the connection to lvssd is gone" "$T/writer.log" || die "the writer did not say it lost lvssd"
        expect_actions "a freeze,b freeze,a thaw,b thaw"
        rm -f "$T/hang"
}

# Issue 10 part 1, "a MariaDB FLUSH TABLES WITH READ LOCK script of that FIFO shape against a real server under
# load, checked by the restore-under-load oracle": our own hook script keeps a `mariadb` client holding the lock,
# blocked on a FIFO, logs the freeze instant once the lock is held; the copy provider copies the datadir; the
# copy, started as a fresh server, is clean (mariadb-check) and holds every id acknowledged before that instant.
scenario_mariadb() {
        for t in mariadb-install-db mariadbd mariadb mariadb-admin mariadb-check; do
                command -v "$t" >/dev/null || skip "$t is not installed (scripts/install-deps.sh)"
        done
        SOCK=$T/mysqld.sock
        . "$here/../mariadb/mariadb-lib.sh"
        mkdir -p "$T/vol"
        init_server "$T/vol/data" "$T/vol/binlog"
        start_server
        mkdir -p "$T/hooks"
        cat >"$T/hooks/mariadb-flush" <<EOF
#!/bin/sh
# FLUSH TABLES WITH READ LOCK from freeze to thaw: a background client holds it, reading its next
# statement from a FIFO that thaw writes to.
fifo='$T/mariadb-flush.fifo'
case "\$1" in
freeze)
        rm -f "\$fifo"; mkfifo "\$fifo"
        (
                echo "FLUSH TABLES WITH READ LOCK;"
                echo "SELECT 'lock-held' INTO OUTFILE '$T/lock-held';"
                cat "\$fifo"
                echo "UNLOCK TABLES;"
        ) | mariadb --no-defaults -S '$SOCK' -u root -N -B >'$T/flush-client.out' 2>&1 &
        echo \$! >'$T/flush-client.pid'
        i=0
        until [ -e '$T/lock-held' ]; do
                i=\$((i+1))
                if [ \$i -gt 600 ] || ! kill -0 \$(cat '$T/flush-client.pid') 2>/dev/null; then
                        echo "cannot take FLUSH TABLES WITH READ LOCK: \$(tail -n 1 '$T/flush-client.out')"
                        echo >"\$fifo" &
                        exit 1
                fi
                sleep 0.01
        done
        # Make the data files current while commits wait, so that a copy that is not atomic is consistent.
        mariadb --no-defaults -S '$SOCK' -u root -e "SET GLOBAL innodb_max_dirty_pages_pct = 0" >/dev/null
        i=0
        while [ "\$(mariadb --no-defaults -S '$SOCK' -u root -N -B -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2)" != 0 ] && [ \$i -lt 1000 ]; do
                i=\$((i+1)); sleep 0.01
        done
        stamp=\$((\$(date +%s%N) / 1000))
        echo "\$stamp" >'$T/stamp'
        echo "lock held at \$stamp"
        exit 0 ;;
thaw)
        [ -p "\$fifo" ] || { echo "not frozen"; exit 0; }
        mariadb --no-defaults -S '$SOCK' -u root -e "SET GLOBAL innodb_max_dirty_pages_pct = 90" >/dev/null
        echo "SELECT 'released';" >"\$fifo"
        rm -f "\$fifo" '$T/lock-held'
        echo "lock released" ;;
esac
EOF
        chmod 755 "$T/hooks/mariadb-flush"
        start_lvssd
        start_writer --timeout 20000
        start_load "$T/ack"
        "$VSHADOW" -p -script="$T/b1.env" "$T/vol" >"$T/b1.out" 2>&1 || die "the backup failed: $(tail -n 20 "$T/b1.out")"
        local shadow stamp
        shadow=$(. "$T/b1.env" && echo "$LVSS_SHADOW_1")
        stamp=$(cat "$T/stamp")
        grep -q "mariadb-flush freeze: exit status 0 after [0-9.]* ms: lock held at $stamp" "$T/writer.log" ||
                die "the hook did not report the lock: $(cat "$T/writer.log")"
        wait_for 20 "the lock client ending after thaw" gone "$(cat "$T/flush-client.pid")"
        load_goes_on 100 "after thaw"
        stop_load
        stop_server
        # The copy, in a fresh datadir, started as a server of its own.
        [ -d "$shadow/data" ] || die "the shadow copy $shadow has no datadir"
        mkdir -p "$T/restored"
        cp -a "$shadow/data" "$T/restored/data"
        cp -a "$shadow/binlog" "$T/restored/binlog"
        DATADIR=$T/restored/data
        BINLOG_DIR=$T/restored/binlog
        start_server
        local out before missing
        out=$(mariadb-check --no-defaults -S "$SOCK" -u root --all-databases 2>&1) || die "mariadb-check failed: $out"
        if grep -v -E '[[:space:]]OK$' <<<"$out" | grep -q .; then
                die "mariadb-check --all-databases is not clean:
$out"
        fi
        sql "SELECT id FROM lvss_load.orders ORDER BY id" >"$T/ids" || die "cannot read the restored ids"
        before=$(awk -v s="$stamp" '$2 < s' "$ACK" | wc -l)
        [ "$before" -ge 100 ] || die "only $before transactions acknowledged before the lock: the check proves little"
        [ "$(awk -v s="$stamp" '$2 >= s' "$ACK" | wc -l)" -gt 0 ] || die "nothing acknowledged after the lock: not under load"
        missing=$(awk -v s="$stamp" 'NR == FNR { have[$1] = 1; next } $2 < s && !($1 in have) { n++; if (!f) f = $1 }
                   END { printf "%d %s", n + 0, f }' "$T/ids" "$ACK")
        [ "${missing%% *}" = 0 ] || die "${missing%% *} of $before transactions acknowledged before the lock are missing (first: ${missing#* })"
        local orders lines
        orders=$(wc -l <"$T/ids")
        lines=$(sql "SELECT COUNT(*) FROM lvss_load.order_lines")
        [ "$lines" -eq $((2 * orders)) ] || die "the copy has $orders orders but $lines order lines: not one instant"
        say "restored copy: $orders orders, all $before acknowledged before the lock present, mariadb-check clean"
        stop_server
        stop_writer
}

# Issue 10 part 1, "always, on every path, exactly once per script that was frozen", many times over (apps-slow):
# N backups in a row, every third vetoed by a script after a lock holder froze; after each, every script frozen was
# thawed once, the holder is gone, and nothing ran that was not frozen.
scenario_cycles() {
        local n=$1 i fz th
        logging_hook a
        hook b-holder "case \"\$1\" in
freeze)
        rm -f '$T/fifo'; mkfifo '$T/fifo'
        ( read x <'$T/fifo'; echo \"holder: released by \$x\" ) &
        echo \$! >'$T/holder.pid' ;;
thaw)
        echo thaw >'$T/fifo' ;;
esac"
        hook c-flaky '[ "$1" = freeze ] && [ -e '"'$T/fail'"' ] && { echo "told to fail"; exit 1; }; exit 0'
        volume
        start_lvssd
        start_writer
        for ((i = 1; i <= n; i++)); do
                if ((i % 3 == 0)); then touch "$T/fail"; else rm -f "$T/fail"; fi
                if "$VSHADOW" -p "$T/vol" >"$T/cycle.out" 2>&1; then
                        [ ! -e "$T/fail" ] || die "cycle $i: the backup succeeded though c-flaky failed"
                else
                        [ -e "$T/fail" ] || die "cycle $i: the backup failed: $(tail -n 20 "$T/cycle.out")"
                        grep -q "c-flaky freeze: exit status 1 after [0-9.]* ms: told to fail" "$T/cycle.out" ||
                                die "cycle $i: the veto is not named: $(tail -n 20 "$T/cycle.out")"
                fi
                for x in a b-holder; do
                        fz=$(grep -c "^$x freeze$" "$T/actions")
                        th=$(grep -c "^$x thaw$" "$T/actions")
                        [ "$fz" = "$i" ] && [ "$th" = "$i" ] || die "cycle $i: $x frozen $fz times, thawed $th times"
                done
                [ "$(grep -c "^c-flaky thaw$" "$T/actions")" = $((i - i / 3)) ] ||
                        die "cycle $i: c-flaky thawed $(grep -c "^c-flaky thaw$" "$T/actions") times, frozen $((i - i / 3))"
                wait_for 10 "cycle $i: the holder ending" gone "$(cat "$T/holder.pid")"
        done
        say "$n cycles: every frozen script thawed exactly once"
        stop_writer
}

# Issue 10 part 1 + standards "Bad input gets one clear error line": a missing directory, a file instead of a
# directory, bad options, two directories, a stopped lvssd; an empty directory is a writer with no components.
scenario_bad_input() {
        local out rc
        expect_fail() { # EXIT WHAT ARGS...: exit status EXIT, one line on stderr containing WHAT
                local want=$1 what=$2
                shift 2
                rc=0
                out=$("$WRITER" "$@" 2>&1 >/dev/null) || rc=$?
                [ "$rc" = "$want" ] || die "lvss-writer-hooks $* exited $rc, not $want: $out"
                [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || die "lvss-writer-hooks $*: not one line: $out"
                grep -q -- "$what" <<<"$out" || die "lvss-writer-hooks $*: '$out' does not say '$what'"
        }
        expect_fail 1 "$T/nowhere: No such file or directory" "$T/nowhere"
        touch "$T/file"
        expect_fail 1 "$T/file: not a directory" "$T/file"
        expect_fail 2 "no hook directory given" 
        expect_fail 2 "--convention must be qemu or vmware, not 'hyperv'" --convention hyperv "$T"
        expect_fail 2 "--timeout needs milliseconds > 0, not '0'" --timeout 0 "$T"
        expect_fail 2 "one hook directory per writer" "$T" "$T"
        mkdir -p "$T/hooks"
        expect_fail 1 "cannot subscribe to lvssd at $T/nolvssd.sock" --socket "$T/nolvssd.sock" "$T/hooks"
        "$WRITER" --help | grep -q -- "--convention qemu|vmware" || die "--help does not show --convention"
        "$WRITER" --version | grep -q "^lvss-writer-hooks " || die "--version"
        # An empty directory: a writer with no components, stable after a backup.
        volume
        start_lvssd
        start_writer
        grep -q "0 scripts" "$T/writer.log" || die "the empty directory: $(cat "$T/writer.log")"
        "$VSHADOW" -p "$T/vol" >"$T/b1.out" 2>&1 || die "a backup with an empty hook directory failed"
        writer_state | grep -q "State: \[1\] Stable" || die "the writer of an empty directory is not stable"
        stop_writer
}

case "$scenario" in
success-qemu) scenario_success qemu "a thaw,b thaw,c thaw" ;;
success-vmware) scenario_success vmware "c thaw,b thaw,a thaw" ;;
veto-qemu) scenario_veto qemu "a freeze,b freeze,a thaw" ;;
veto-vmware) scenario_veto vmware "a freeze,b freeze,b freezeFail,a freezeFail" ;;
hang) scenario_hang ;;
thaw-fail) scenario_thaw_fail ;;
holder) scenario_holder ;;
abort) scenario_abort ;;
freeze-timeout) scenario_freeze_timeout ;;
lvssd-lost) scenario_lvssd_lost ;;
mariadb) scenario_mariadb ;;
bad-input) scenario_bad_input ;;
cycles) scenario_cycles "${3:-30}" ;;
*) echo "$PROG: unknown scenario" >&2; exit 2 ;;
esac
say "ok"

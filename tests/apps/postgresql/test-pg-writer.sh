#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lvss-writer-postgresql against a real PostgreSQL 15 (issue 9 parts 3 and 5).
#
#   test-pg-writer.sh SCENARIO [CYCLES]
#
# Every scenario starts its own lvssd, its own PostgreSQL server (initdb and
# pg_ctl as the unprivileged `postgres` user, unix socket in the test's
# directory, a port of its own) with the data directory on a btrfs subvolume
# of a loop device, mounted in a private mount namespace; the cleanup (on any
# exit) stops the server, the load, the writer and lvssd, unmounts and
# detaches the loop devices.
#
#   atomic    part 5: load running, `vshadow -p` of the one subvolume that
#             holds the whole server; the writer says it took the checkpoint
#             strategy (part 3: nothing held during Freeze). The server is
#             stopped, the shadow copy restored into the original place (the
#             old directory moved aside) with `vshadow -r` and the saved BCD;
#             PreRestore/PostRestore run (PostRestore says what it found);
#             the server starts and recovers, pg_amcheck --heapallindexed --all
#             is clean, every id acknowledged before vshadow started is
#             there, no id beyond the last one attempted, and the three
#             tables agree (each transaction wholly there or not at all).
#             CYCLES (default 1) repeats backup-and-restore under load:
#             the 'apps-slow' suite runs 20.
#   veto      part 3: a tablespace on a second btrfs file system (two
#             volumes: not one instant) and the copy provider (not atomic)
#             without auto-recovery (vshadow -nar): the writer vetoes at
#             PrepareForSnapshot with its message naming the volumes, vshadow
#             fails, and the server is not left in backup mode (no backup
#             running, no slot). A set with only some of the server's paths
#             is vetoed too; a set with none of them is left alone.
#   tablespace, copy
#             parts 3 and 5: backup mode into auto-recovery copies, restored
#             under load with the same checks as atomic (see
#             scenario_backupmode), CYCLES times.
#   kill-writer, kill-server, kill-requester, freeze-timeout
#             parts 3 and 5: while the writer is frozen in backup mode (a
#             fake exec provider hangs in commit), the writer, the server or
#             the requester is killed, or the freeze outlasts the writer's
#             freeze timeout: the server is never left in backup mode, the
#             load commits all along, and the next backup works.
#   prerestore part 3: PreRestore refuses to restore over a data directory a
#             running server uses, with a clear message.
#   badinput  part 3: a malformed connection string (exit 2, one line), a
#             role the server refuses, a stopped server (one line each; the
#             writer stays registered and the backup fails with the server's
#             words).
#   restic    part 6: examples/restic backs the server up into a local restic
#             repository under load and restores it from there (vshadow -r);
#             the server recovers with the same checks as atomic.
set -u

scenario=${1:?scenario}
cycles=${2:-1}
me="test-pg-writer[$scenario]"
PGBIN=/usr/lib/postgresql/15/bin
: "${LVSS_BUILD_ROOT:?LVSS_BUILD_ROOT must point at the build directory}"
LVSSD=$LVSS_BUILD_ROOT/src/coordinator/lvssd
VSHADOW=$LVSS_BUILD_ROOT/tools/vshadow
WRITER=$LVSS_BUILD_ROOT/writers/postgresql/lvss-writer-postgresql
LOAD=$LVSS_BUILD_ROOT/writers/postgresql/lvss-pg-load

skip() { echo "$me: skipped: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (loop devices, mounts)"
[ -x "$PGBIN/initdb" ] || skip "PostgreSQL 15 is not installed (scripts/install-deps.sh)"
id postgres >/dev/null 2>&1 || skip "no 'postgres' system user (postgresql-common makes it)"
command -v losetup >/dev/null && command -v mkfs.btrfs >/dev/null || skip "losetup or mkfs.btrfs missing"

# A private mount namespace: the mounts cannot outlive the test.
if [ -z "${LVSS_PG_TEST_NS:-}" ]; then
        LVSS_PG_TEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/lvss-pg-XXXXXX") || exit 1
chmod 755 "$T"
touch "$T/pg.log" && chown postgres: "$T/pg.log"
PORT=$((20000 + ($$ % 20000)))
SOCKDIR=$T/sock
mkdir -p "$SOCKDIR" && chown postgres: "$SOCKDIR"
CONN="host=$SOCKDIR port=$PORT user=postgres dbname=postgres"
LVSSD_ARGS=()
MOUNTS=()
PIDS=()
failed=0

log() { echo "$me: $*"; }
fail() {
        echo "$me: FAIL: $*" >&2
        failed=1
        exit 1
}

pg_as() { su postgres -s /bin/sh -c "$*"; }
pg_start() { # DATADIR
        pg_as "$PGBIN/pg_ctl -D '$1' -l '$T/pg.log' -w -t 120 -o \"-k $SOCKDIR -p $PORT -c listen_addresses= -c max_wal_size=64MB\" start" >/dev/null ||
                { tail -20 "$T/pg.log" >&2; fail "the server in $1 did not start"; }
}
pg_stop() { # DATADIR [MODE]
        [ -f "$1/postmaster.pid" ] || return 0
        pg_as "$PGBIN/pg_ctl -D '$1' -m ${2:-fast} -w -t 120 stop" >/dev/null 2>&1
}
psql_q() { "$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 "$CONN" -c "$1"; }

cleanup() {
        local rc=$?
        set +e
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        for d in "$T"/fs*/pg/data "$T"/fs*/pg/data.old "$T"/plain/data; do pg_stop "$d" immediate; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        # Sanitizer builds: a report from lvssd, the writer or the load fails the test.
        if grep -l "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$T"/*.log "$T"/load.err 2>/dev/null; then
                echo "$me: FAIL: a sanitizer reported errors (above: the files)" >&2
                rc=1
        fi
        for m in "${MOUNTS[@]}"; do umount -R "$m" 2>/dev/null || umount -l "$m"; done
        if [ $rc != 0 ] || [ $failed != 0 ] || [ -n "${LVSS_TEST_VERBOSE:-}" ]; then
                for f in "$T"/lvssd.log "$T"/writer*.log "$T"/pg.log "$T"/load.err "$T"/vshadow*.out; do
                        [ -f "$f" ] && { echo "---- $f"; tail -40 "$f"; }
                done
        fi
        # (a copy provider shadow copy is immutable: clear that first)
        [ -n "${LVSS_TEST_KEEP:-}" ] || { chattr -R -i "$T" 2>/dev/null; rm -rf "$T"; }
        exit $rc
}
trap cleanup EXIT
trap 'exit 1' TERM INT

# wait_for DESCRIPTION SECONDS COMMAND...: poll a condition (not a sleep-for-time).
wait_for() {
        local what=$1 secs=$2 end
        shift 2
        end=$(($(date +%s) + secs))
        until "$@"; do
                [ "$(date +%s)" -lt $end ] || fail "timed out waiting for $what"
                sleep 0.05
        done
}

make_btrfs() { # N -> mounted on $T/fsN
        local img=$T/img$1 mnt=$T/fs$1 dev
        # sparse; deleted snapshots give their space back only when btrfs's cleaner gets to them
        # (lazily), so 20 cycles need room for what they leave behind meanwhile
        truncate -s 4G "$img"
        mkfs.btrfs -q -f "$img" >/dev/null || fail "mkfs.btrfs $img"
        mkdir -p "$mnt"
        # mount(8) attaches the loop device with autoclear: it goes with the unmount, or with this
        # script's mount namespace if the script is killed
        mount -o loop -t btrfs "$img" "$mnt" || skip "cannot mount btrfs through a loop device (kernel module?)"
        MOUNTS+=("$mnt")
        rm -f "$img" # the loop device keeps it
}

start_lvssd() {
        "$LVSSD" --foreground --socket "$T/lvssd.sock" --state-dir "$T/state" "${LVSSD_ARGS[@]}" >"$T/lvssd.log" 2>&1 &
        PIDS+=($!)
        wait_for "lvssd's socket" 30 test -S "$T/lvssd.sock"
        export LVSS_SOCKET=$T/lvssd.sock
}

WRITER_N=0
start_writer() { # extra args...; sets WLOG
        WRITER_N=$((WRITER_N + 1))
        WLOG=$T/writer$WRITER_N.log
        "$WRITER" --socket "$T/lvssd.sock" --freeze-timeout 30000 "$@" "$CONN" >"$WLOG" 2>&1 &
        WPID=$!
        PIDS+=($WPID)
        wait_for "the writer to subscribe" 30 grep -q "subscribed" "$WLOG"
}

init_server() { # DATADIR
        mkdir -p "$(dirname "$1")"
        chown postgres: "$(dirname "$1")"
        pg_as "$PGBIN/initdb -D '$1' -A trust -U postgres --no-sync" >"$T/initdb.log" 2>&1 || fail "initdb"
        pg_start "$1"
        "$LOAD" --setup "$CONN" "$T/unused" || fail "lvss-pg-load --setup"
        psql_q "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null || fail "CREATE EXTENSION amcheck"
}

start_load() { # ACK_LOG
        "$LOAD" "$CONN" "$1" 2>>"$T/load.err" &
        LOADPID=$!
        PIDS+=($LOADPID)
        wait_for "200 acknowledged transactions" 60 sh -c "[ \$(cat '$1' 2>/dev/null | wc -l || echo 0) -ge 200 ]"
}

stop_load() {
        kill -TERM "$LOADPID"
        wait "$LOADPID" || fail "lvss-pg-load failed: $(tail -1 "$T/load.err")"
}

# What the writer logged; the checks below read it.
writer_has() { grep -q -- "$1" "$WLOG"; }

# The restored server holds every id acknowledged before $1 (µs), none past the last one attempted,
# and every transaction wholly (load_a, load_b and the counter agree).
check_oracle() { # BEFORE_USEC ACK_LOG
        local before=$1 ack=$2 first need attempted got_a got_b max_a max_b counter
        need=$(awk -v t="$before" '$2 < t { if ($1 > m) m = $1 } END { print m + 0 }' "$ack")
        first=$(head -1 "$ack" | cut -d' ' -f1)
        attempted=$(cat "$ack.attempt")
        [ "$need" -gt 0 ] || fail "no id was acknowledged before the backup started"
        # ids are 1, 2, ... over every cycle: each load starts at max(id)+1 of the restored copy
        got_a=$(psql_q "SELECT count(*) FROM load_a WHERE id <= $need") || fail "query load_a"
        got_b=$(psql_q "SELECT count(*) FROM load_b WHERE id <= $need") || fail "query load_b"
        max_a=$(psql_q "SELECT coalesce(max(id), 0) FROM load_a")
        max_b=$(psql_q "SELECT coalesce(max(id), 0) FROM load_b")
        counter=$(psql_q "SELECT last_id FROM load_counter WHERE k = 1")
        [ "$got_a" = "$need" ] && [ "$got_b" = "$need" ] ||
                fail "acknowledged ids lost: ids 1..$need were in the copy or acknowledged before the backup, the copy has $got_a in load_a, $got_b in load_b"
        [ "$max_a" -le "$attempted" ] || fail "id $max_a in the copy was never attempted (last: $attempted)"
        [ "$max_a" = "$max_b" ] && [ "$max_a" = "$counter" ] ||
                fail "torn transactions: max(load_a)=$max_a max(load_b)=$max_b counter=$counter"
        log "oracle: ids 1..$need (this cycle's from $first) acknowledged before the freeze all present; copy ends at $max_a (last attempted $attempted)"
}

amcheck() {
        "$PGBIN/pg_amcheck" --heapallindexed --all -h "$SOCKDIR" -p "$PORT" -U postgres >"$T/amcheck.out" 2>&1 ||
                { cat "$T/amcheck.out" >&2; fail "pg_amcheck found problems"; }
        grep -q 'skipping database "postgres"' "$T/amcheck.out" && fail "pg_amcheck did not check the database"
}

in_backup_mode() { # prints "backups slots"
        psql_q "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name = 'lvss-writer-postgresql'), (SELECT count(*) FROM pg_replication_slots)" | tr '|' ' '
}

check_not_in_backup() {
        local r
        r=$(psql_q "SELECT count(*) FROM pg_replication_slots") || fail "the server does not answer"
        [ "$r" = 0 ] || fail "a replication slot was left behind: $(psql_q 'SELECT slot_name FROM pg_replication_slots')"
        # a new session can start a backup: none is running
        psql_q "SELECT pg_backup_start('lvss test probe', true); SELECT pg_backup_stop(false)" >/dev/null ||
                fail "pg_backup_start from a new connection failed: the server is still in backup mode"
}

# ---- scenarios -----------------------------------------------------------------------------

scenario_atomic() {
        local VOL DATA shadow before n sid
        make_btrfs 1
        btrfs subvolume create "$T/fs1/pg" >/dev/null || fail "subvolume"
        VOL=$T/fs1/pg
        DATA=$VOL/data
        start_lvssd
        init_server "$DATA"
        start_writer
        for n in $(seq 1 "$cycles"); do
                local ack=$T/ack.$n bcd=$T/bcd.$n.xml vars=$T/vars.$n.sh
                start_load "$ack"
                before=$(date +%s%6N)
                "$VSHADOW" -p -bc="$bcd" -script="$vars" "$VOL" >"$T/vshadow.$n.out" 2>&1 ||
                        fail "cycle $n: vshadow -p failed: $(grep -i 'fail\|error' "$T/vshadow.$n.out" | head -3)"
                sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow.$n.out" | head -1)
                writer_has "session $sid: PrepareForSnapshot: strategy checkpoint" ||
                        fail "cycle $n: the writer did not take the checkpoint strategy"
                writer_has "session $sid: Freeze: nothing held" || fail "cycle $n: the writer held something during Freeze"
                # the oracle's instant: the writer's freeze (later than $before: a stronger check)
                before=$(sed -n "s/.*session $sid: Freeze: .*(frozen at \([0-9]*\))/\1/p" "$WLOG")
                [ -n "$before" ] || fail "cycle $n: the writer logged no freeze instant"
                grep -q "strategy=checkpoint" "$bcd" || fail "cycle $n: the BCD has no backup metadata of the writer"
                # the load went on through the backup: commits were never blocked
                local acked_at_end
                acked_at_end=$(wc -l <"$ack")
                wait_for "the load to go on after the backup" 30 sh -c "[ \$(wc -l < '$ack') -gt $((acked_at_end + 50)) ]"
                stop_load
                pg_stop "$DATA" fast || fail "pg_ctl stop"

                # restore into the original place, the old directory moved aside
                . "$vars"
                shadow=$LVSS_SHADOW_1
                [ -f "$shadow/data/PG_VERSION" ] || fail "cycle $n: the shadow copy $shadow has no data directory"
                rm -rf "$DATA.old"
                mv "$DATA" "$DATA.old"
                "$VSHADOW" -r="$bcd" -exec="cp -a '$shadow/data' '$DATA'" >"$T/vshadow-r.$n.out" 2>&1 ||
                        fail "cycle $n: vshadow -r failed"
                sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow-r.$n.out" | head -1)
                writer_has "session $sid: PreRestore: $DATA: no running server" || fail "cycle $n: PreRestore did not check"
                writer_has "session $sid: PostRestore: $DATA: pg_control says \"in production\", no backup_label" ||
                        fail "cycle $n: PostRestore did not say what it found"
                pg_start "$DATA"
                grep -q "database system was not properly shut down; automatic recovery in progress" "$T/pg.log" ||
                        fail "cycle $n: the server did not recover a crash image"
                : >"$T/pg.log"
                amcheck
                check_oracle "$before" "$ack"
                "$VSSADMIN" delete shadows --all --quiet >/dev/null || fail "cycle $n: vssadmin delete shadows --all failed"
                log "cycle $n of $cycles: backup and restore under load: ok"
        done
}

# Backup mode into auto-recovery copies (part 3, proven as part 5 asks): the server's files are not
# captured at one instant. KIND "tablespace": the data directory on one btrfs file system, a tablespace
# (holding load_b) on a second (two volumes, each atomic, the set not). KIND "copy": the data directory
# on a plain directory, copied file by file by the copy provider (not atomic at all).
scenario_backupmode() { # KIND
        local kind=$1 DATA TS="" vols sid s shadow_data shadow_ts before n
        if [ "$kind" = tablespace ]; then
                make_btrfs 1
                make_btrfs 2
                btrfs subvolume create "$T/fs1/pg" >/dev/null || fail "subvolume"
                btrfs subvolume create "$T/fs2/ts" >/dev/null || fail "subvolume"
                DATA=$T/fs1/pg/data
                TS=$T/fs2/ts/space
                mkdir -p "$TS" && chown postgres: "$TS" && chmod 700 "$TS"
                vols=("$T/fs1/pg" "$T/fs2/ts")
        else
                DATA=$T/plain/data
                vols=("$T/plain")
        fi
        start_lvssd
        init_server "$DATA"
        if [ -n "$TS" ]; then
                psql_q "CREATE TABLESPACE other LOCATION '$TS'" || fail "CREATE TABLESPACE"
                psql_q "ALTER TABLE load_b SET TABLESPACE other" || fail "ALTER TABLE load_b SET TABLESPACE"
        fi
        start_writer
        for n in $(seq 1 "$cycles"); do
                local ack=$T/ack.$n bcd=$T/bcd.$n.xml vars=$T/vars.$n.sh
                start_load "$ack"
                "$VSHADOW" -p -bc="$bcd" -script="$vars" "${vols[@]}" >"$T/vshadow.$n.out" 2>&1 ||
                        fail "cycle $n: vshadow -p failed: $(grep -i 'fail\|error' "$T/vshadow.$n.out" | head -3)"
                sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow.$n.out" | head -1)
                writer_has "session $sid: PrepareForSnapshot: strategy backup mode" ||
                        fail "cycle $n: the writer did not take the backup mode strategy"
                writer_has "session $sid: PostSnapshot: wrote backup_label" ||
                        fail "cycle $n: the writer did not complete the copy"
                [ -z "$TS" ] || writer_has "session $sid: PostSnapshot: wrote backup_label, tablespace_map" ||
                        fail "cycle $n: no tablespace_map"
                before=$(sed -n "s/.*session $sid: Freeze: .*(frozen at \([0-9]*\))/\1/p" "$WLOG")
                [ -n "$before" ] || fail "cycle $n: the writer logged no freeze instant"
                # the label and the LSNs are in the components' backup metadata (the saved BCD)
                grep -q "label=lvss {" "$bcd" && grep -q "stop_lsn=[0-9A-F]*/[0-9A-F]*" "$bcd" ||
                        fail "cycle $n: the BCD has no label or stop LSN in the backup metadata"
                check_not_in_backup
                local acked_at_end
                acked_at_end=$(wc -l <"$ack")
                wait_for "the load to go on after the backup" 30 sh -c "[ \$(wc -l < '$ack') -gt $((acked_at_end + 50)) ]"
                stop_load
                pg_stop "$DATA" fast || fail "pg_ctl stop"

                . "$vars"
                shadow_data="" shadow_ts=""
                for s in "${LVSS_SHADOW_1:-}" "${LVSS_SHADOW_2:-}"; do
                        [ -n "$s" ] || continue
                        if [ -f "$s/data/PG_VERSION" ]; then shadow_data=$s; else shadow_ts=$s; fi
                done
                [ -n "$shadow_data" ] || fail "cycle $n: no shadow copy holds the data directory"
                [ -f "$shadow_data/data/backup_label" ] || fail "cycle $n: no backup_label in the copy"
                [ ! -e "$shadow_data/data/postmaster.pid" ] || fail "cycle $n: postmaster.pid left in the copy"
                [ "$(stat -c %U "$shadow_data/data/backup_label")" = postgres ] ||
                        fail "cycle $n: backup_label does not belong to the server's user"
                rm -rf "$DATA.old" && mv "$DATA" "$DATA.old"
                local exec="cp -a '$shadow_data/data' '$DATA'"
                # the copy provider makes its tree read-only by taking the write bits away: give them back
                if [ -n "$TS" ]; then
                        [ -n "$shadow_ts" ] || fail "cycle $n: no shadow copy of the tablespace"
                        rm -rf "$TS.old" && mv "$TS" "$TS.old"
                        exec="$exec && cp -a '$shadow_ts/space' '$TS'"
                fi
                "$VSHADOW" -r="$bcd" -exec="$exec" >"$T/vshadow-r.$n.out" 2>&1 || fail "cycle $n: vshadow -r failed"
                sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow-r.$n.out" | head -1)
                writer_has "session $sid: PostRestore: $DATA: pg_control says \"in production\", backup_label present" ||
                        fail "cycle $n: PostRestore did not find the backup_label"
                [ -z "$TS" ] || writer_has "session $sid: PostRestore: .*, 1 tablespace link" ||
                        fail "cycle $n: PostRestore did not check the tablespace link"
                pg_start "$DATA"
                grep -q "starting backup recovery with redo LSN" "$T/pg.log" ||
                        fail "cycle $n: the server did not recover from the backup label"
                grep -q "completed backup recovery with redo LSN" "$T/pg.log" ||
                        fail "cycle $n: the server did not reach the end of the backup"
                : >"$T/pg.log"
                amcheck
                check_oracle "$before" "$ack"
                "$VSSADMIN" delete shadows --all --quiet >/dev/null || fail "cycle $n: vssadmin delete shadows --all failed"
                log "cycle $n of $cycles: backup mode ($kind), restore under load: ok ($(df --output=used -h "$DATA" | tail -1 | tr -d ' ') used)"
        done
}

# A fake exec provider that can hang in commit: while it hangs, the writer is frozen in backup mode
# (pg_backup_start ran at PrepareForSnapshot, pg_backup_stop comes at Thaw). It copies the directory
# (not atomic) into a copy it leaves writable until "finalize" (auto-recovery).
make_fake_provider() {
        local D=$T/fake
        mkdir -p "$D/snaps" && mkfifo "$D/never"
        cat >"$D/provider" <<EOS
#!/bin/sh
D='$D'
echo "\$*" >> "\$D/calls"
case "\$1" in
is-supported) [ -d "\$2" ] ;;
prepare) [ -d "\$4" ] && echo writable ;;
commit)
        if [ -e "\$D/hang-commit" ]; then
                echo \$\$ > "\$D/commit-started.tmp" && mv "\$D/commit-started.tmp" "\$D/commit-started"
                read -r _ < "\$D/never"
                exit 1
        fi
        mkdir -p "\$D/snaps/\$3" && cp -a "\$4/." "\$D/snaps/\$3/" && echo "\$D/snaps/\$3" ;;
finalize) chmod -R a-w "\$2" ;;
delete) rm -rf -- "\$2" ;;
abort) rm -rf -- "\$D/snaps/\$3" ;;
*) exit 2 ;;
esac
EOS
        chmod 755 "$D/provider"
        printf 'ExecProvider=fake:%s\nDefaultProvider=fake\n' "$D/provider" >"$T/lvssd.conf"
}

# The writer, the server or the requester dies while the writer is frozen in backup mode (part 3 and
# part 5), or the freeze outlasts the writer's freeze timeout: the server is never left in backup mode
# (no backup running, no slot), commits go on, and the next backup works.
scenario_kill() { # writer | server | requester | timeout
        local what=$1 DATA=$T/plain/data vs pm acked sid
        make_fake_provider
        LVSSD_ARGS=(--config "$T/lvssd.conf")
        start_lvssd
        init_server "$DATA"
        if [ "$what" = timeout ]; then
                start_writer --freeze-timeout 4000
        else
                start_writer
        fi
        start_load "$T/ack"
        touch "$T/fake/hang-commit"
        "$VSHADOW" "$T/plain" >"$T/vshadow.out" 2>&1 &
        vs=$!
        PIDS+=($vs)
        wait_for "the provider's commit (the writer frozen)" 60 test -e "$T/fake/commit-started"
        writer_has "Freeze: in backup mode" || fail "the writer is not frozen in backup mode"
        [ "$(psql_q "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'lvss_%' AND temporary")" = 1 ] ||
                fail "no temporary slot pins the WAL during the backup"
        # backup mode blocks no commit: the load goes on while the writer is frozen
        acked=$(wc -l <"$T/ack")
        wait_for "commits while frozen" 30 sh -c "[ \$(wc -l < '$T/ack') -gt $((acked + 100)) ]"
        case $what in
        writer)
                kill -KILL "$WPID"
                ;;
        server)
                pm=$(head -1 "$DATA/postmaster.pid")
                kill -KILL "$pm"
                for c in $(ps -o pid= --ppid "$pm"); do kill -KILL "$c" 2>/dev/null; done
                wait "$LOADPID" 2>/dev/null # the load loses its connection: one line, exit 1
                grep -q "lost the connection" "$T/load.err" || fail "the load did not say it lost the connection"
                # the writer sees it at once, while still frozen
                wait_for "the writer to see the server go" 30 grep -q "lost the connection to the server in backup mode" "$WLOG"
                ;;
        requester)
                kill -KILL "$vs"
                ;;
        timeout)
                # nobody dies: the freeze timeout (the hold window lvssd derives from it, or the
                # library's deadman) ends it
                wait_for "the writer's Abort after its freeze timeout" 60 grep -q "Abort: backup mode ended" "$WLOG"
                ;;
        esac
        # the hung commit ends with the hold window; lvssd aborts the session
        kill "$(cat "$T/fake/commit-started")" 2>/dev/null
        rm -f "$T/fake/hang-commit" "$T/fake/commit-started"
        wait "$vs" 2>/dev/null
        if [ "$what" = server ]; then
                wait_for "the writer's Abort" 60 grep -q "Abort: backup mode had already ended with the lost connection" "$WLOG"
                wait_for "the killed server's processes to end" 30 sh -c "! kill -0 $pm 2>/dev/null"
                pg_start "$DATA"
        elif [ "$what" = requester ]; then
                wait_for "the writer's Abort" 60 grep -q "Abort: backup mode ended" "$WLOG"
        fi
        wait_for "the writer's session to end on the server" 60 sh -c \
                "[ \"\$('$PGBIN/psql' -X -A -t -q '$CONN' -c \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lvss-writer-postgresql'\")\" = 0 ]"
        check_not_in_backup

        # the next backup works (a new writer when the old one was killed)
        [ "$what" != writer ] || start_writer
        [ "$what" != server ] || start_load "$T/ack2"
        "$VSHADOW" "$T/plain" >"$T/vshadow2.out" 2>&1 || fail "the next backup failed: $(grep -i fail "$T/vshadow2.out" | head -3)"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow2.out" | head -1)
        writer_has "session $sid: PostSnapshot: wrote backup_label" || fail "the next backup did not complete the copy"
        check_not_in_backup
        stop_load
        log "$what killed while frozen in backup mode: never left in backup mode, next backup ok"
}

scenario_veto() {
        local DATA TS out sid
        make_btrfs 1
        make_btrfs 2
        btrfs subvolume create "$T/fs1/pg" >/dev/null || fail "subvolume"
        btrfs subvolume create "$T/fs2/ts" >/dev/null || fail "subvolume"
        DATA=$T/fs1/pg/data
        TS=$T/fs2/ts/space
        mkdir -p "$TS" && chown postgres: "$TS" && chmod 700 "$TS"
        start_lvssd
        init_server "$DATA"
        psql_q "CREATE TABLESPACE other LOCATION '$TS'" || fail "CREATE TABLESPACE"
        psql_q "CREATE TABLE in_ts (x int) TABLESPACE other; INSERT INTO in_ts VALUES (1)" || fail "a table in the tablespace"
        start_writer
        writer_has "component tablespace-other: $TS" || true
        start_load "$T/ack"

        # two btrfs file systems: each atomic, the set not; no auto-recovery copies
        "$VSHADOW" -nar -p "$T/fs1/pg" "$T/fs2/ts" >"$T/vshadow.out" 2>&1 && fail "vshadow -nar succeeded though the writer must veto"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow.out" | head -1)
        writer_has "session $sid: Identify: component tablespace-other: $TS" ||
                writer_has "Identify: component tablespace-other: $TS" || fail "the tablespace is not a component"
        writer_has "session $sid: PrepareForSnapshot: failed: the server's files are not captured at one instant" ||
                fail "the writer did not veto the two-file-system set"
        writer_has "$TS on $T/fs2/ts (btrfs, atomic)" || fail "the veto does not name the volumes"
        grep -q "not captured at one instant" "$T/vshadow.out" || fail "vshadow does not show the writer's message"
        check_not_in_backup

        # only the data directory's volume, not the tablespace's: a partial copy cannot be restored
        "$VSHADOW" "$T/fs1/pg" >"$T/vshadow-part.out" 2>&1 && fail "vshadow succeeded without the tablespace's volume"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow-part.out" | head -1)
        writer_has "session $sid: PrepareForSnapshot: failed: only some of the server's paths are in the snapshot set" ||
                fail "the writer did not veto a set without the tablespace"
        # a set without any of the server's paths is none of the writer's business
        mkdir -p "$T/other" && echo hello >"$T/other/file"
        "$VSHADOW" "$T/other" >"$T/vshadow-other.out" 2>&1 || fail "a backup of an unrelated directory failed"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow-other.out" | head -1)
        writer_has "session $sid: PrepareForSnapshot: none of the server's paths is in the set" ||
                fail "the writer did not stand aside for an unrelated set"

        # the copy provider: a data directory on a plain directory (not btrfs) is copied file by file
        stop_load
        pg_stop "$DATA" fast
        local PLAIN=$T/plain/data
        WRITER_N=$WRITER_N
        kill "$WPID"
        wait "$WPID" 2>/dev/null
        init_server "$PLAIN"
        start_writer
        start_load "$T/ack2"
        "$VSHADOW" -nar "$T/plain" >"$T/vshadow2.out" 2>&1 && fail "vshadow -nar succeeded though the writer must veto (copy provider)"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow2.out" | head -1)
        writer_has "session $sid: PrepareForSnapshot: failed: the server's files are not captured at one instant" ||
                fail "the writer did not veto the copy provider"
        writer_has "(copy, not atomic)" || fail "the veto does not name the copy provider"
        check_not_in_backup
        stop_load
        log "vetoes with its message: ok"
}

scenario_prerestore() {
        local VOL DATA shadow sid
        make_btrfs 1
        btrfs subvolume create "$T/fs1/pg" >/dev/null || fail "subvolume"
        VOL=$T/fs1/pg
        DATA=$VOL/data
        start_lvssd
        init_server "$DATA"
        start_writer
        "$VSHADOW" -p -bc="$T/bcd.xml" -script="$T/vars.sh" "$VOL" >"$T/vshadow.out" 2>&1 || fail "vshadow -p failed"
        # the server still runs: the restore must be refused before any file is touched
        "$VSHADOW" -r="$T/bcd.xml" -exec="touch '$T/exec-ran'" >"$T/vshadow-r.out" 2>&1
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/vshadow-r.out" | head -1)
        writer_has "session $sid: PreRestore: failed: a running server (pid [0-9]*) uses $DATA: stop it before restoring" ||
                fail "PreRestore did not refuse to restore over a running server"
        grep -q "stop it before restoring" "$T/vshadow-r.out" || fail "vshadow does not show the PreRestore message"
        psql_q "SELECT 1" >/dev/null || fail "the server is not running any more"
        log "PreRestore refuses a running server: ok"
}

scenario_badinput() {
        local out rc
        make_btrfs 1
        btrfs subvolume create "$T/fs1/pg" >/dev/null || fail "subvolume"
        start_lvssd
        # a malformed connection string: one line, exit 2
        out=$("$WRITER" --socket "$T/lvssd.sock" "host=x port" 2>&1)
        rc=$?
        [ $rc = 2 ] || fail "a malformed connection string: exit $rc, not 2"
        [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ $out == "lvss-writer-postgresql: bad connection string: "* ]] ||
                fail "a malformed connection string: not one clear line: $out"
        log "malformed: $out"

        init_server "$T/fs1/pg/data"
        # a role the server refuses
        "$WRITER" --socket "$T/lvssd.sock" "host=$SOCKDIR port=$PORT user=nosuchrole dbname=postgres" >"$T/writer-role.log" 2>&1 &
        local wrole=$!
        PIDS+=($wrole)
        wait_for "the writer to subscribe" 30 grep -q "subscribed" "$T/writer-role.log"
        grep -c "cannot reach the server" "$T/writer-role.log" | grep -qx 1 ||
                fail "a refused role: no clear line"
        grep -q 'role "nosuchrole" does not exist' "$T/writer-role.log" || fail "a refused role: the server's words are missing"
        log "refused role: $(grep 'cannot reach' "$T/writer-role.log")"
        "$VSHADOW" "$T/fs1/pg" >"$T/vshadow-role.out" 2>&1 && fail "a backup with a refused role succeeded"
        grep -q 'role \\\?"nosuchrole\\\?" does not exist' "$T/vshadow-role.out" ||
                grep -q 'nosuchrole' "$T/vshadow-role.out" || fail "the backup's status does not carry the server's message"
        kill $wrole

        # a stopped server: the writer stays registered and says so; a backup fails with the reason
        start_writer
        pg_stop "$T/fs1/pg/data" fast
        "$VSHADOW" "$T/fs1/pg" >"$T/vshadow-stopped.out" 2>&1 && fail "a backup against a stopped server succeeded"
        writer_has "Identify: the server cannot be reached, declaring its last known paths" ||
                fail "a stopped server at Identify: no clear line"
        writer_has "PrepareForSnapshot: failed: CHECKPOINT failed\|PrepareForSnapshot: failed: the server cannot be reached" ||
                fail "a stopped server: the backup did not fail with the reason"
        kill -0 "$WPID" || fail "the writer died with the server"
        log "stopped server: $(grep 'PrepareForSnapshot: failed' "$WLOG" | head -1)"
}

# Part 6: a real backup tool. examples/restic/lvss-restic-backup backs the one subvolume that
# holds the server up into a local restic repository (vshadow -bc -exec: the writer checkpoints,
# restic reads the shadow copy mounted over the volume's path, the BCD goes with it); the server is
# stopped, its data directory moved aside, examples/restic/lvss-restic-restore restores from restic
# with vshadow -r (PreRestore/PostRestore by the writer); the server recovers, pg_amcheck is clean,
# every id acknowledged before the writer's checkpoint is there.
scenario_restic() {
        local VOL DATA before sid ack=$T/ack.restic examples=${LVSS_SOURCE_ROOT:?}/examples/restic
        command -v restic >/dev/null || skip "restic is not installed (scripts/install-deps.sh)"
        make_btrfs 1
        btrfs subvolume create "$T/fs1/pg" >/dev/null || fail "subvolume"
        VOL=$T/fs1/pg
        DATA=$VOL/data
        start_lvssd
        init_server "$DATA"
        start_writer
        export RESTIC_REPOSITORY=$T/restic-repo RESTIC_PASSWORD_FILE=$T/restic.pw RESTIC_CACHE_DIR=$T/restic-cache
        export LVSS_RESTIC_STATE=$T/restic-state VSHADOW
        echo "lvss test" >"$RESTIC_PASSWORD_FILE"
        restic init --quiet >"$T/restic-init.out" 2>&1 || fail "restic init: $(tail -1 "$T/restic-init.out")"

        start_load "$ack"
        mkdir "$T/restic-tmp"
        TMPDIR=$T/restic-tmp "$examples/lvss-restic-backup" "$VOL" >"$T/restic-backup.out" 2>&1 ||
                fail "lvss-restic-backup failed: $(tail -3 "$T/restic-backup.out")"
        [ -z "$(ls -A "$T/restic-tmp")" ] || fail "lvss-restic-backup left $(ls -A "$T/restic-tmp") in its TMPDIR"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/restic-backup.out" | head -1)
        writer_has "session $sid: PrepareForSnapshot: strategy checkpoint" ||
                fail "the writer did not take part in the restic backup (session $sid)"
        before=$(sed -n "s/.*session $sid: Freeze: .*(frozen at \([0-9]*\))/\1/p" "$WLOG")
        [ -n "$before" ] || fail "the writer logged no freeze instant"
        restic snapshots --json | grep -q "\"$VOL\"" || fail "the restic snapshot does not hold $VOL"
        # the shadow copy is gone again (vshadow without -p), the load went on
        [ -z "$("$VSSADMIN" list shadows 2>/dev/null | grep -i 'shadow copy id')" ] ||
                fail "lvss-restic-backup left a shadow copy behind"
        stop_load
        pg_stop "$DATA" fast || fail "pg_ctl stop"

        rm -rf "$DATA.old"
        mv "$DATA" "$DATA.old"
        TMPDIR=$T/restic-tmp "$examples/lvss-restic-restore" >"$T/restic-restore.out" 2>&1 ||
                fail "lvss-restic-restore failed: $(tail -5 "$T/restic-restore.out")"
        # its temporary directory (the BCD restored from the snapshot) is gone with it
        [ -z "$(ls -A "$T/restic-tmp")" ] || fail "lvss-restic-restore left $(ls -A "$T/restic-tmp") in its TMPDIR"
        sid=$(sed -n 's/^ *Session: \({[^}]*}\).*/\1/p' "$T/restic-restore.out" | head -1)
        writer_has "session $sid: PreRestore: $DATA: no running server" || fail "PreRestore did not run for the restic restore"
        writer_has "session $sid: PostRestore: $DATA: " || fail "PostRestore did not say what it found"
        [ "$(stat -c %U:%a "$DATA")" = "postgres:700" ] || fail "the restored data directory is $(stat -c %U:%a "$DATA")"
        pg_start "$DATA"
        amcheck
        check_oracle "$before" "$ack"
        log "restic: backup of the shadow copy and restore through vshadow -r: ok"
}

VSSADMIN=$LVSS_BUILD_ROOT/tools/vssadmin
case $scenario in
atomic) scenario_atomic ;;
tablespace) scenario_backupmode tablespace ;;
copy) scenario_backupmode copy ;;
kill-writer) scenario_kill writer ;;
kill-server) scenario_kill server ;;
kill-requester) scenario_kill requester ;;
freeze-timeout) scenario_kill timeout ;;
veto) scenario_veto ;;
prerestore) scenario_prerestore ;;
badinput) scenario_badinput ;;
restic) scenario_restic ;;
*) fail "unknown scenario $scenario" ;;
esac
log "ok"

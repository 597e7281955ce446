#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The lvss demo (`make demo`): a live SQLite database under a write load gets
# an application-consistent shadow copy, and the demo proves it.
#
#   scripts/demo.sh BUILD_DIR
#
# 1. starts lvssd on a private socket and state directory (a temp dir);
# 2. starts lvss-sqlite-load (one INSERT per transaction, each acknowledged
#    in a log with the time its COMMIT returned) and lvss-writer-sqlite on
#    the same database;
# 3. runs `vssadmin list writers`, then `vshadow` on the data directory:
#    every step, its duration, and the writer status after PrepareForBackup,
#    DoSnapshotSet and BackupComplete;
# 4. while the shadow copy exists (vshadow -exec), restores it to a fresh
#    directory and checks it: `PRAGMA integrity_check` says ok, and every row
#    acknowledged before the writer's Freeze is in it;
# 5. checks that the load went on after Thaw, lists the writers again, stops
#    everything and removes the temp dir.
#
# Exit status 0 only when every check passed. DEMO_KEEP=1 keeps the temp dir
# (logs, database, ack log) for a look afterwards.

set -u -o pipefail

if [ $# -ne 1 ]; then
        echo "usage: scripts/demo.sh BUILD_DIR" >&2
        exit 2
fi
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: no build directory '$1' (run 'make build')" >&2; exit 1; }

LVSSD=$BUILD/src/coordinator/lvssd
VSSADMIN=$BUILD/tools/vssadmin
VSHADOW=$BUILD/tools/vshadow
WRITER=$BUILD/writers/sqlite/lvss-writer-sqlite
LOAD=$BUILD/writers/sqlite/lvss-sqlite-load

for p in "$LVSSD" "$VSSADMIN" "$VSHADOW" "$WRITER" "$LOAD"; do
        if [ ! -x "$p" ]; then
                echo "demo: $p is missing (run 'make build')" >&2
                exit 1
        fi
done
if ! command -v sqlite3 >/dev/null; then
        echo "demo: the sqlite3 command is needed (Debian package sqlite3)" >&2
        exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lvss-demo.XXXXXX") || exit 1
export LVSS_SOCKET=$TMP/lvssd.sock
export DEMO_TMP=$TMP

LVSSD_PID=
LOAD_PID=
WRITER_PID=
FAILURES=0

# SIGTERM, up to 5 s for a clean exit, then SIGKILL.
stop_process() { # NAME PID
        local name=$1 pid=$2
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                echo "demo: $name (pid $pid) did not stop on SIGTERM, killing it" >&2
                kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        return 0
}

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        stop_process lvss-sqlite-load "$LOAD_PID"
        stop_process lvss-writer-sqlite "$WRITER_PID"
        stop_process lvssd "$LVSSD_PID"
        if [ -n "${DEMO_KEEP:-}" ]; then
                echo "demo: kept $TMP"
        else
                chattr -R -i "$TMP" 2>/dev/null # a copy provider shadow copy left by a failure is immutable
                rm -rf "$TMP"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

heading() {
        if [ -t 1 ]; then
                printf '\n\033[1m==> %s\033[0m\n' "$*"
        else
                printf '\n==> %s\n' "$*"
        fi
}

pass() {
        printf 'PASS: %s\n' "$*"
}

fail() {
        printf 'FAIL: %s\n' "$*"
        FAILURES=$((FAILURES + 1))
}

die() {
        printf 'FAIL: %s\n' "$*"
        for log in lvssd writer load; do
                if [ -s "$TMP/$log.log" ]; then
                        echo "--- $log.log (last lines) ---"
                        tail -n 20 "$TMP/$log.log"
                fi
        done
        exit 1
}

now_usec() {
        date +%s%6N
}

# ---------------------------------------------------------------------------
heading "Starting lvssd on $LVSS_SOCKET"
mkdir -p "$TMP/state" "$TMP/data" "$TMP/restore"
"$LVSSD" --foreground --socket "$LVSS_SOCKET" --state-dir "$TMP/state" >"$TMP/lvssd.log" 2>&1 &
LVSSD_PID=$!

# Ready means: the socket exists and lvssd answers a ListWriters (bounded: 10 s).
ready=
for _ in $(seq 100); do
        kill -0 "$LVSSD_PID" 2>/dev/null || die "lvssd exited during start-up"
        if [ -S "$LVSS_SOCKET" ] && "$VSSADMIN" list writers >/dev/null 2>&1; then
                ready=1
                break
        fi
        sleep 0.1
done
[ -n "$ready" ] || die "lvssd did not answer on $LVSS_SOCKET within 10 s"
echo "lvssd is running (pid $LVSSD_PID), state in $TMP/state"

# ---------------------------------------------------------------------------
heading "Starting a write load on $TMP/data/app.db"
sqlite3 "$TMP/data/app.db" \
        'PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, payload TEXT, at_usec INTEGER);' \
        >/dev/null || die "cannot create $TMP/data/app.db"
"$LOAD" "$TMP/data/app.db" "$TMP/ack.log" 2>"$TMP/load.log" &
LOAD_PID=$!
for _ in $(seq 100); do
        [ -s "$TMP/ack.log" ] && break
        kill -0 "$LOAD_PID" 2>/dev/null || die "lvss-sqlite-load exited"
        sleep 0.1
done
[ -s "$TMP/ack.log" ] || die "lvss-sqlite-load acknowledged nothing within 10 s"
echo "lvss-sqlite-load is running (pid $LOAD_PID): one INSERT per transaction, acknowledged in $TMP/ack.log"

# ---------------------------------------------------------------------------
heading "Starting lvss-writer-sqlite on the same database"
"$WRITER" --instance demo --freeze-stamp "$TMP/freeze.usec" "$TMP/data/app.db" 2>"$TMP/writer.log" &
WRITER_PID=$!
subscribed=
for _ in $(seq 100); do
        kill -0 "$WRITER_PID" 2>/dev/null || die "lvss-writer-sqlite exited"
        # (grep reads a variable: with pipefail, a grep -q that exits early could fail the pipeline)
        if out=$("$VSSADMIN" list writers 2>/dev/null) && grep -q "^Writer name: 'SQLite'" <<<"$out"; then
                subscribed=1
                break
        fi
        sleep 0.1
done
[ -n "$subscribed" ] || die "lvss-writer-sqlite did not show up in 'vssadmin list writers' within 10 s"
echo "lvss-writer-sqlite is running (pid $WRITER_PID)"

# ---------------------------------------------------------------------------
heading "vssadmin list writers"
if "$VSSADMIN" list writers; then
        pass "vssadmin list writers"
else
        fail "vssadmin list writers exited with status $?"
fi

# ---------------------------------------------------------------------------
# The checker runs inside vshadow -exec, while the shadow copy exists.
cat >"$TMP/check.sh" <<'EOF'
#!/bin/sh
# Checks the shadow copy of $DEMO_TMP/data (run by vshadow -exec).
set -u
shadow=${LVSS_SHADOW_1:?vshadow did not set LVSS_SHADOW_1}
restore=$DEMO_TMP/restore
status=0

echo "checker: snapshot set $LVSS_SNAPSHOT_SET_ID, shadow copy at $shadow"
if [ ! -f "$shadow/app.db" ]; then
        echo "checker: FAIL: $shadow/app.db does not exist"
        exit 1
fi

# Restore the copy to a fresh directory (the shadow copy itself stays untouched;
# the -shm file is not part of a database and is rebuilt on open).
cp "$shadow/app.db" "$restore/app.db" || exit 1
if [ -f "$shadow/app.db-wal" ]; then
        cp "$shadow/app.db-wal" "$restore/app.db-wal" || exit 1
fi

integrity=$(sqlite3 "$restore/app.db" 'PRAGMA integrity_check' 2>&1)
if [ "$integrity" = ok ]; then
        echo "checker: PASS: PRAGMA integrity_check on the restored copy says ok"
else
        echo "checker: FAIL: PRAGMA integrity_check says: $integrity"
        status=1
fi

if [ ! -s "$DEMO_TMP/freeze.usec" ]; then
        echo "checker: FAIL: the writer wrote no freeze stamp ($DEMO_TMP/freeze.usec)"
        exit 1
fi
stamp=$(cat "$DEMO_TMP/freeze.usec")
start=$(cat "$DEMO_TMP/vshadow-start.usec")
if [ "$stamp" -lt "$start" ]; then
        echo "checker: FAIL: the freeze stamp $stamp is older than this vshadow run ($start)"
        exit 1
fi

if ! sqlite3 "$restore/app.db" 'SELECT id FROM t' >"$DEMO_TMP/shadow-ids"; then
        echo "checker: FAIL: cannot read table t of the restored copy"
        exit 1
fi

# Every row acknowledged (COMMIT returned) before the Freeze stamp must be in the copy.
# A last ack line still being written is shorter than a full stamp and is ignored.
counts=$(awk -v stamp="$stamp" '
        FNR == NR { have[$1] = 1; rows++; next }
        NF == 2 && length($2) >= length(stamp) {
                if ($2 + 0 < stamp + 0) {
                        before++
                        if (!($1 in have)) {
                                missing++
                                if (missing <= 5) print "checker: missing id " $1 > "/dev/stderr"
                        }
                } else if ($1 in have)
                        after_present++
        }
        END { printf "%d %d %d %d\n", rows, before, missing, after_present }
' "$DEMO_TMP/shadow-ids" "$DEMO_TMP/ack.log")
set -- $counts
rows=$1 before=$2 missing=$3 after_present=$4

echo "checker: the copy holds $rows rows; Freeze at $stamp µs"
if [ "$before" -eq 0 ]; then
        echo "checker: FAIL: no row was acknowledged before Freeze, so the check proves nothing"
        status=1
elif [ "$missing" -eq 0 ]; then
        echo "checker: PASS: $before rows acknowledged before Freeze, all $before present"
else
        echo "checker: FAIL: $before rows acknowledged before Freeze, $missing of them missing"
        status=1
fi
echo "checker: ($after_present rows acknowledged after the stamp are in the copy too: committed before the lock, acknowledged just after)"
exit $status
EOF
chmod +x "$TMP/check.sh"

# Let the load build up some acknowledged rows, so that the check below means something
# (bounded: 10 s, then go on with what there is).
for _ in $(seq 100); do
        [ "$(wc -l <"$TMP/ack.log")" -ge 1000 ] && break
        sleep 0.1
done

heading "vshadow -exec=check.sh $TMP/data (the full backup sequence, the checker runs while the shadow copy exists)"
now_usec >"$TMP/vshadow-start.usec"
"$VSHADOW" -exec="$TMP/check.sh" "$TMP/data"
rc=$?
if [ "$rc" -eq 0 ]; then
        pass "vshadow: backup sequence complete and the shadow copy passed every check"
else
        fail "vshadow exited with status $rc (see above)"
fi

# ---------------------------------------------------------------------------
heading "The write load goes on after Thaw"
acked_before=$(wc -l <"$TMP/ack.log")
resumed=
for _ in $(seq 50); do
        if [ "$(wc -l <"$TMP/ack.log")" -gt "$acked_before" ]; then
                resumed=1
                break
        fi
        sleep 0.1
done
if [ -n "$resumed" ] && kill -0 "$LOAD_PID" 2>/dev/null; then
        pass "lvss-sqlite-load is committing again ($(wc -l <"$TMP/ack.log") rows acknowledged so far)"
else
        fail "lvss-sqlite-load made no progress after the backup (is the database still locked?)"
fi

heading "What lvss-writer-sqlite logged"
cat "$TMP/writer.log"

# ---------------------------------------------------------------------------
heading "vssadmin list writers (after the backup: the status and the session it comes from)"
if out=$("$VSSADMIN" list writers); then
        echo "$out"
        if grep -q "State: \[1\] Stable" <<<"$out"; then
                pass "the writer is stable after the backup"
        else
                fail "the writer is not stable after the backup"
        fi
else
        fail "vssadmin list writers exited with status $?"
fi

# ---------------------------------------------------------------------------
heading "Stopping"
stop_process lvss-sqlite-load "$LOAD_PID"
LOAD_PID=
stop_process lvss-writer-sqlite "$WRITER_PID"
WRITER_PID=
stop_process lvssd "$LVSSD_PID"
LVSSD_PID=
echo "lvssd, the writer and the load are stopped"

heading "What lvssd logged (one line per event, with the session id)"
cat "$TMP/lvssd.log"

echo
if [ "$FAILURES" -eq 0 ]; then
        echo "demo: every check passed"
        exit 0
fi
echo "demo: $FAILURES check(s) failed"
exit 1

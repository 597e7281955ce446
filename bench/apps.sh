#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What a shadow copy costs the application (issue 9 part 7): how long
# PostgreSQL and MariaDB cannot commit during a backup, with lvss and with
# the hook-script way, against the same load without any backup.
#
#   bench/apps.sh [BUILD_DIR] [--seconds S] [--only postgresql|mariadb]
#
# Needs root (a btrfs file system on a loop device, in a private mount
# namespace; the loop device is always detached). For each database:
#
#   1. its own server in a temporary directory, data on a btrfs subvolume,
#      its own socket (never the machine's service); its load client
#      (lvss-pg-load / lvss-mariadb-load) commits numbered transactions
#      touching two tables and logs each commit's latency, BEGIN to the
#      COMMIT's reply;
#   2. "none":  S seconds of load, no backup;
#   3. "lvss":  backups in a row for S seconds: vshadow on the subvolume,
#      with the lvss writer running (PostgreSQL: CHECKPOINT at
#      PrepareForSnapshot, nothing held during Freeze; MariaDB: BACKUP STAGE
#      BLOCK_COMMIT from Freeze to Thaw), btrfs provider;
#   4. "hooks": the same number of snapshots the hook way: MariaDB: a client
#      holds FLUSH TABLES WITH READ LOCK from "freeze" to "thaw" around
#      `btrfs subvolume snapshot -r` (the qemu-guest-agent sample
#      mysql-flush.sh); PostgreSQL: a hook cannot hold backup mode across
#      two script runs, so it runs CHECKPOINT and the snapshot is
#      crash-consistent.
#
# A commit counts for a backup when it was in flight at any moment between
# that backup's start and end. Printed and written to
# bench/results/apps.csv (db,model,commits,p50_us,p99_us,max_us,
# added_p99_us,backups,backup_median_ms) and plotted in
# bench/results/apps.png. Goals (reported, not enforced): PostgreSQL commits
# never blocked by lvss (added p99 <= 1 ms); MariaDB commits blocked no
# longer than the btrfs snapshot itself plus 2 ms; both ahead of the hooks.
set -euo pipefail

build=build
seconds=15
only=
while [ $# -gt 0 ]; do
        case $1 in
        --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
        --only) only=${2:?--only needs postgresql or mariadb}; shift 2 ;;
        -h|--help) sed -n '3,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench/apps.sh: unknown option $1" >&2; exit 2 ;;
        *) build=$1; shift ;;
        esac
done
case $only in ''|postgresql|mariadb) ;; *) echo "bench/apps.sh: --only postgresql or mariadb" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.."
build=$(cd "$build" && pwd)
results=$PWD/bench/results

if [ "$(id -u)" -ne 0 ]; then
        echo "bench/apps.sh: needs root (a btrfs file system on a loop device)" >&2
        exit 1
fi
# A private mount namespace: the loop file system is seen by nobody else and
# goes away with us.
if [ -z "${LVSS_APPS_BENCH_NS:-}" ]; then
        LVSS_APPS_BENCH_NS=1 exec unshare --mount --propagation private "$0" "$build" --seconds "$seconds" \
                ${only:+--only "$only"}
fi

LVSSD=$build/src/coordinator/lvssd
VSHADOW=$build/tools/vshadow
VSSADMIN=$build/tools/vssadmin
PG_WRITER=$build/writers/postgresql/lvss-writer-postgresql
PG_LOAD=$build/writers/postgresql/lvss-pg-load
MY_WRITER=$build/writers/mariadb/lvss-writer-mariadb
MY_LOAD=$build/writers/mariadb/lvss-mariadb-load
PGBIN=/usr/lib/postgresql/15/bin
for p in "$LVSSD" "$VSHADOW" "$VSSADMIN" "$PG_WRITER" "$PG_LOAD" "$MY_WRITER" "$MY_LOAD" "$PGBIN/pg_ctl"; do
        [ -x "$p" ] || { echo "bench/apps.sh: $p is missing (make build; scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lvss-apps-bench.XXXXXX")
chmod 755 "$work"
loop=
pids=()
pg_started=

cleanup() {
        set +e
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
        # (mariadbd is one of pids: stopped and waited for above)
        [ -n "$pg_started" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/mnt/pg/data" -m immediate stop >/dev/null 2>&1
        mountpoint -q "$work/mnt" && umount -l "$work/mnt"
        [ -n "$loop" ] && losetup -d "$loop"
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_usec() { date +%s%6N; }

# wait_for DESCRIPTION COMMAND...: up to 30 s for COMMAND to succeed.
wait_for() {
        local what=$1
        shift
        for _ in $(seq 300); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        echo "bench/apps.sh: $what did not happen within 30 s" >&2
        return 1
}

truncate -s 3G "$work/btrfs.img"
loop=$(losetup -f --show "$work/btrfs.img")
mkfs.btrfs -q "$loop" >/dev/null
mkdir "$work/mnt"
mount "$loop" "$work/mnt"
echo "apps bench: btrfs on $loop at $work/mnt; $seconds s per phase"

export LVSS_SOCKET=$work/lvssd.sock
mkdir "$work/state"
"$LVSSD" --foreground --socket "$LVSS_SOCKET" --state-dir "$work/state" >"$work/lvssd.log" 2>&1 &
pids+=($!)
wait_for "lvssd answering" "$VSSADMIN" list writers

# stats DB MODEL ACK_LOG WINDOWS_FILE BASELINE_P99: one CSV line
# (windows: "START_USEC END_USEC" per backup; a commit counts when its
# interval [AT - LATENCY, AT] meets one of them).
stats() {
        local db=$1 model=$2 ack=$3 windows=$4 base=$5
        awk -v db="$db" -v model="$model" -v base="$base" '
                FNR == NR { ws[++nw] = $1; we[nw] = $2; d[nw] = ($2 - $1) / 1000; next }
                NF >= 3 {
                        b = $2 - $3
                        for (i = 1; i <= nw; i++)
                                if (b < we[i] && $2 > ws[i]) { lat[++n] = $3; break }
                }
                END {
                        if (n == 0) { printf "%s,%s,0,NaN,NaN,NaN,NaN,%d,NaN\n", db, model, nw; exit }
                        asort(lat); asort(d)
                        p50 = lat[int((n + 1) * 0.50) > 0 ? int((n + 1) * 0.50) : 1]
                        i99 = int(n * 0.99 + 0.999999); if (i99 < 1) i99 = 1; if (i99 > n) i99 = n
                        added = (base == "") ? 0 : lat[i99] - base
                        printf "%s,%s,%d,%d,%d,%d,%d,%d,%.1f\n", db, model, n, p50, lat[i99], lat[n], added, nw, d[int((nw + 1) / 2)]
                }' "$windows" "$ack"
}

# run_phases DB ACK_LOG BACKUP_FN HOOK_FN: none, lvss, hooks; appends to the CSV.
run_phases() {
        local db=$1 ack=$2 backup_fn=$3 hook_fn=$4 t0 t1 end n line base
        t0=$(now_usec)
        sleep "$seconds"
        t1=$(now_usec)
        echo "$t0 $t1" >"$work/$db-none.win"
        line=$(stats "$db" none "$ack" "$work/$db-none.win" "")
        base=$(cut -d, -f5 <<<"$line")
        echo "$line" >>"$csv"

        : >"$work/$db-lvss.win"
        end=$(( $(now_usec) + seconds * 1000000 ))
        n=0
        while [ "$(now_usec)" -lt "$end" ]; do
                t0=$(now_usec)
                "$backup_fn" || { echo "bench/apps.sh: $db: the lvss backup failed (log: $work/$db-vshadow.log)" >&2; tail -20 "$work/$db-vshadow.log" >&2; exit 1; }
                t1=$(now_usec)
                echo "$t0 $t1" >>"$work/$db-lvss.win"
                n=$((n + 1))
        done
        stats "$db" lvss "$ack" "$work/$db-lvss.win" "$base" >>"$csv"

        : >"$work/$db-hooks.win"
        for _ in $(seq "$n"); do
                t0=$(now_usec)
                "$hook_fn"
                t1=$(now_usec)
                echo "$t0 $t1" >>"$work/$db-hooks.win"
        done
        stats "$db" hooks "$ack" "$work/$db-hooks.win" "$base" >>"$csv"
}

snapshot_and_delete() { # SUBVOLUME
        btrfs -q subvolume snapshot -r "$1" "$work/mnt/hook-snap" >/dev/null
        btrfs -q subvolume delete "$work/mnt/hook-snap" >/dev/null
}

mkdir -p "$results"
csv=$results/apps.csv
echo "db,model,commits,p50_us,p99_us,max_us,added_p99_us,backups,backup_median_ms" >"$csv"

# ---------------------------------------------------------------------------
if [ -z "$only" ] || [ "$only" = postgresql ]; then
        id postgres >/dev/null 2>&1 || { echo "bench/apps.sh: no 'postgres' user (Debian package postgresql-common)" >&2; exit 1; }
        btrfs -q subvolume create "$work/mnt/pg"
        chown postgres: "$work/mnt/pg"
        runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres -D "$work/mnt/pg/data" >"$work/pg-initdb.log"
        mkdir "$work/pgsock" && chown postgres: "$work/pgsock"
        touch "$work/pg.log" && chown postgres: "$work/pg.log"
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/mnt/pg/data" -l "$work/pg.log" -w \
                -o "-c listen_addresses= -k $work/pgsock -p 55432" start >/dev/null
        pg_started=1
        conn="host=$work/pgsock port=55432 user=postgres dbname=postgres"
        "$PG_LOAD" --setup "$conn" "$work/pg-ack.log"
        "$PG_LOAD" "$conn" "$work/pg-ack.log" 2>"$work/pg-load.log" &
        pids+=($!)
        "$PG_WRITER" --instance bench "$conn" 2>"$work/pg-writer.log" &
        pids+=($!)
        wait_for "lvss-writer-postgresql subscribed" sh -c "'$VSSADMIN' list writers | grep -q PostgreSQL"
        pg_backup() { "$VSHADOW" "$work/mnt/pg" >"$work/postgresql-vshadow.log" 2>&1; }
        pg_hook() {
                runuser -u postgres -- "$PGBIN/psql" -qAt -h "$work/pgsock" -p 55432 -c CHECKPOINT >/dev/null
                snapshot_and_delete "$work/mnt/pg"
        }
        run_phases postgresql "$work/pg-ack.log" pg_backup pg_hook
fi

# ---------------------------------------------------------------------------
if [ -z "$only" ] || [ "$only" = mariadb ]; then
        btrfs -q subvolume create "$work/mnt/my"
        mariadb-install-db --no-defaults --user=root --datadir="$work/mnt/my/data" \
                --auth-root-authentication-method=normal --skip-test-db >"$work/my-install.log" 2>&1
        mysock=$work/my.sock
        mariadbd --no-defaults --user=root --datadir="$work/mnt/my/data" --socket="$mysock" --skip-networking \
                --pid-file="$work/my.pid" --log-bin="$work/mnt/my/data/binlog" --innodb-buffer-pool-size=128M \
                --log-error="$work/my.err" &
        pids+=($!)
        wait_for "mariadbd answering" mariadb --no-defaults -S "$mysock" -u root -e 'SELECT 1'
        "$MY_LOAD" --setup "$mysock" "$work/my-ack.log"
        "$MY_LOAD" "$mysock" "$work/my-ack.log" 2>"$work/my-load.log" &
        pids+=($!)
        "$MY_WRITER" --instance bench --db-socket "$mysock" 2>"$work/my-writer.log" &
        pids+=($!)
        wait_for "lvss-writer-mariadb subscribed" sh -c "'$VSSADMIN' list writers | grep -q MariaDB"
        my_backup() { "$VSHADOW" "$work/mnt/my" >"$work/mariadb-vshadow.log" 2>&1; }
        # The qemu-guest-agent sample's way: a client holds the lock between
        # "freeze" and "thaw" (here: a coprocess reading from a FIFO).
        my_hook() {
                local fifo=$work/my-hook.fifo out=$work/my-hook.out
                rm -f "$fifo" "$out"
                mkfifo "$fifo"
                mariadb --no-defaults -S "$mysock" -u root -N --unbuffered <"$fifo" >"$out" 2>&1 &
                local client=$!
                exec 9>"$fifo"
                echo "FLUSH TABLES WITH READ LOCK; SELECT 'locked';" >&9
                wait_for "FLUSH TABLES WITH READ LOCK" grep -q locked "$out"
                snapshot_and_delete "$work/mnt/my"
                echo "UNLOCK TABLES;" >&9
                exec 9>&-
                wait "$client"
        }
        run_phases mariadb "$work/my-ack.log" my_backup my_hook
fi

# ---------------------------------------------------------------------------
echo
printf '%-11s %-6s %8s %9s %9s %10s %11s %8s %12s\n' db model commits p50_us p99_us max_us added_p99 backups backup_ms
tail -n +2 "$csv" | tr ',' ' ' | while read -r db model n p50 p99 max added nb ms; do
        printf '%-11s %-6s %8s %9s %9s %10s %11s %8s %12s\n' "$db" "$model" "$n" "$p50" "$p99" "$max" "$added" "$nb" "$ms"
done
echo "csv: $csv"
if command -v gnuplot >/dev/null; then
        gnuplot -e "csv='$csv'; out='$results/apps.png'" bench/apps.gp && echo "plot: $results/apps.png"
fi

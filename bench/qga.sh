#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The freeze window as the guest sees it through qemu-guest-agent (issue 10
# part 5): from sending guest-fsfreeze-freeze-list to receiving the answer
# of guest-fsfreeze-thaw, through the real qemu-ga (Debian's /usr/sbin/qemu-ga,
# run on a socket of our own, never the machine's service), freezing a
# loop-mounted ext4 in a private mount namespace, for N = 1, 10, 100 no-op
# hook scripts (#!/bin/sh, exit 0), three ways:
#
#   none   qemu-ga without an fsfreeze hook (FIFREEZE and FITHAW only)
#   true   /bin/true as the hook (N = 1 only): the floor of any hook program,
#          qemu-ga's fork + exec + wait, twice
#   stock  qemu's stock dispatcher (/etc/qemu/fsfreeze-hook, copied into a
#          temporary directory with its fsfreeze-hook.d beside it, holding
#          the N scripts; its LOGFILE is pointed into that directory instead
#          of /var/log: the one change made to it)
#   lvss   lvss-freeze-hook as the hook: a real lvssd and one
#          lvss-writer-hooks (qemu convention) over the same N scripts
#
#   bench/qga.sh [BUILD_DIR] [--reps R] [--ways "none true stock lvss"]
#
# Each (way, N) is timed R times (default 30; 10 for N = 100) by
# lvss-qga-call --window on one connection (CLOCK_MONOTONIC). Printed, and
# written to bench/results/qga.csv (way,n,reps,median_us,p95_us,min_us,
# max_us), plotted in bench/results/qga.png. Goals (reported, not
# enforced): lvss within 2 ms of "none" at N = 1 (median), and ahead of the
# stock dispatcher from N = 10 on (median). Needs root (a loop device,
# FIFREEZE). The work directory goes in BUILD_DIR (a disk, as /var/lib/lvss
# would be) unless LVSS_BENCH_TMP says otherwise.
set -euo pipefail

build=build
reps=30
ways="none true stock lvss"
while [ $# -gt 0 ]; do
        case $1 in
        --reps) reps=${2:?--reps needs a number}; shift 2 ;;
        --ways) ways=${2:?--ways needs a list of none, true, stock, lvss}; shift 2 ;;
        -h|--help) sed -n '3,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench/qga.sh: unknown option $1" >&2; exit 2 ;;
        *) build=$1; shift ;;
        esac
done
case $reps in '' | *[!0-9]* | 0) echo "bench/qga.sh: --reps needs a positive number" >&2; exit 2 ;; esac
for w in $ways; do
        case $w in none | true | stock | lvss) ;; *) echo "bench/qga.sh: --ways: unknown way '$w' (none, true, stock, lvss)" >&2; exit 2 ;; esac
done
has_way() { case " $ways " in *" $1 "*) return 0 ;; esac; return 1; }

cd "$(dirname "$0")/.."
build=$(cd "$build" && pwd)
results=$PWD/bench/results
QEMU_GA=${LVSS_BENCH_QEMU_GA:-/usr/sbin/qemu-ga}
STOCK_HOOK=/etc/qemu/fsfreeze-hook

if [ "$(id -u)" -ne 0 ]; then
        echo "bench/qga.sh: needs root (a loop device, FIFREEZE)" >&2
        exit 1
fi
for f in "$QEMU_GA" "$STOCK_HOOK"; do
        [ -e "$f" ] || { echo "bench/qga.sh: $f is missing (scripts/install-deps.sh: qemu-guest-agent)" >&2; exit 1; }
done
LVSSD=$build/src/coordinator/lvssd
VSSADMIN=$build/tools/vssadmin
FREEZE_HOOK=$build/tools/lvss-freeze-hook
HOOKS_WRITER=$build/writers/hooks/lvss-writer-hooks
QGA_CALL=$build/tests/helpers/lvss-qga-call
needed=("$QGA_CALL")
has_way lvss && needed+=("$LVSSD" "$VSSADMIN" "$FREEZE_HOOK" "$HOOKS_WRITER")
for p in "${needed[@]}"; do
        [ -x "$p" ] || { echo "bench/qga.sh: $p is not built" >&2; exit 1; }
done

# A mount namespace of our own: the loop mount cannot outlive the bench.
if [ -z "${LVSS_BENCH_QGA_NS:-}" ]; then
        LVSS_BENCH_QGA_NS=1 exec unshare -m --propagation private "$0" "$build" --reps "$reps" --ways "$ways"
fi

# The pieces the shell tests share: die, wait_for, start_lvssd, the loop file system and the clean-up steps.
PROG=bench/qga.sh
. tests/lib/lvss-test-lib.sh

work=$(mktemp -d "$(realpath "${LVSS_BENCH_TMP:-$build}")/bench-qga-XXXXXX")
T=$work
MNT=$work/mnt
LVSS_TEST_DUMP_LINES=20

lvss_test_trap

fail() { die "$@"; }

new_loop_fs ext4 64M "$MNT"

# lvssd, for the lvss way (started once; the writer changes with N): start_lvssd (lvss-test-lib.sh).
! has_way lvss || start_lvssd >/dev/null

# scripts DIR N: N no-op hook scripts in DIR (a fresh directory).
scripts() {
        rm -rf "$1"
        mkdir -p "$1"
        for i in $(seq -w 1 "$2"); do
                printf '#!/bin/sh\nexit 0\n' >"$1/hook-$i"
                chmod +x "$1/hook-$i"
        done
}

QGA_PID=
# start_qga [HOOK]: qemu-ga on its own socket and state directory; with HOOK as its fsfreeze hook.
start_qga() {
        rm -rf "$work/qga-state" "$work/qga.sock"
        mkdir -p "$work/qga-state"
        "$QEMU_GA" -m unix-listen -p "$work/qga.sock" -t "$work/qga-state" -f "$work/qga.pid" \
                -l "$work/qga.log" ${1:+--fsfreeze-hook="$1"} &
        QGA_PID=$!
        PIDS+=("$QGA_PID")
        wait_for 20 "qemu-ga's socket" test -S "$work/qga.sock"
        "$QGA_CALL" --sync "$work/qga.sock" guest-ping >/dev/null
}
stop_qga() {
        kill -TERM "$QGA_PID"
        wait "$QGA_PID" 2>/dev/null || true
}

WRITER_PID=
hooks_writer_listed() { "$VSSADMIN" --socket "$work/lvssd.sock" list writers 2>/dev/null | grep -qF "Writer name: 'Hooks'"; }
start_hooks_writer() {
        "$HOOKS_WRITER" --name Hooks --convention qemu "$1" >>"$work/hooks-writer.log" 2>&1 &
        WRITER_PID=$!
        PIDS+=("$WRITER_PID")
        wait_for 30 "the hooks writer subscribed" hooks_writer_listed
}
stop_hooks_writer() {
        kill -TERM "$WRITER_PID"
        wait "$WRITER_PID" 2>/dev/null || true
        wait_for 30 "the hooks writer gone" eval '! hooks_writer_listed'
}

freeze=$(printf '{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":["%s"]}}' "$MNT")

# measure WAY N R: R freeze-thaw windows on the running qemu-ga (one warm-up first, not counted); prints
# the CSV line way,n,reps,median_us,p95_us,min_us,max_us.
measure() {
        local way=$1 n=$2 r=$3
        "$QGA_CALL" --sync "$work/qga.sock" "$freeze" guest-fsfreeze-thaw >/dev/null ||
                fail "$way N=$n: the warm-up freeze-thaw failed"
        "$QGA_CALL" --window --repeat "$r" "$work/qga.sock" "$freeze" guest-fsfreeze-thaw \
                >"$work/windows" 2>>"$work/qga-call.log" || fail "$way N=$n: a freeze or thaw failed (see qga-call.log)"
        awk '$1 == "window-us" { print $2 }' "$work/windows" | sort -n | awk -v way="$way" -v n="$n" '
                { v[NR] = $1 }
                END {
                        if (NR == 0) exit 1
                        med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                        i95 = int(0.95 * NR + 0.999999); if (i95 < 1) i95 = 1; if (i95 > NR) i95 = NR
                        printf "%s,%d,%d,%d,%d,%d,%d\n", way, n, NR, med, v[i95], v[1], v[NR]
                }'
}

mkdir -p "$results"
csv=$results/qga.csv
echo "way,n,reps,median_us,p95_us,min_us,max_us" >"$csv"
start=$(date +%s)
for n in 1 10 100; do
        r=$reps
        [ "$n" -lt 100 ] || r=$(( (reps + 2) / 3 ))

        if has_way none; then
                start_qga
                measure none "$n" "$r" >>"$csv"
                stop_qga
        fi

        if has_way true && [ "$n" = 1 ]; then
                start_qga /bin/true
                measure true "$n" "$r" >>"$csv"
                stop_qga
        fi

        # The stock dispatcher, as Debian ships it, in a directory of its own (it finds fsfreeze-hook.d
        # beside itself); its log goes there too, not to /var/log.
        if has_way stock; then
                rm -rf "$work/stock"
                mkdir -p "$work/stock"
                sed "s|^LOGFILE=.*|LOGFILE=$work/stock/fsfreeze-hook.log|" "$STOCK_HOOK" >"$work/stock/fsfreeze-hook"
                chmod +x "$work/stock/fsfreeze-hook"
                scripts "$work/stock/fsfreeze-hook.d" "$n"
                start_qga "$work/stock/fsfreeze-hook"
                measure stock "$n" "$r" >>"$csv"
                stop_qga
        fi

        if has_way lvss; then
                scripts "$work/hooks.d" "$n"
                start_hooks_writer "$work/hooks.d"
                start_qga "$FREEZE_HOOK"
                measure lvss "$n" "$r" >>"$csv"
                stop_qga
                stop_hooks_writer
        fi
done

echo "freeze window through qemu-ga (guest-fsfreeze-freeze-list sent -> guest-fsfreeze-thaw answered), ext4 on a loop device:"
printf '%-6s %5s %5s %12s %12s %12s %12s\n' way n reps median_us p95_us min_us max_us
tail -n +2 "$csv" | tr ',' ' ' | while read -r way n r med p95 min max; do
        printf '%-6s %5s %5s %12s %12s %12s %12s\n' "$way" "$n" "$r" "$med" "$p95" "$min" "$max"
done
# The goals (reported, not enforced).
awk -F, 'NR > 1 { m[$1 "," $2] = $4 }
        END {
                if (("lvss,1" in m) && ("none,1" in m)) {
                        d = m["lvss,1"] - m["none,1"]
                        printf "goal: lvss within 2 ms of no hook at N = 1 (median): %+.2f ms: %s\n", d / 1000,
                                (d <= 2000 ? "met" : "NOT met")
                }
                if (("true,1" in m) && ("none,1" in m))
                        printf "      (/bin/true as the hook, the floor of any hook: %+.2f ms over no hook)\n",
                                (m["true,1"] - m["none,1"]) / 1000
                split("10 100", ns, " ")
                for (i = 1; i <= 2; i++) {
                        n = ns[i]
                        if (!(("lvss," n) in m) || !(("stock," n) in m))
                                continue
                        printf "goal: lvss ahead of the stock dispatcher at N = %d (median): lvss %.1f ms, stock %.1f ms: %s\n",
                                n, m["lvss," n] / 1000, m["stock," n] / 1000, (m["lvss," n] < m["stock," n] ? "met" : "NOT met")
                }
        }' "$csv"
echo "csv: $csv ($(( $(date +%s) - start )) s)"
if command -v gnuplot >/dev/null; then
        gnuplot -e "csv='$csv'; out='$results/qga.png'" bench/qga.gp && echo "plot: $results/qga.png"
fi

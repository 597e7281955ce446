#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Where lvssd's time goes (bench/README.md, "Why a goal is missed").
#
#   bench/profile.sh [BUILD_DIR]
#
# Runs lvss-bench twice with --profile (perf record + perf stat attached to
# lvssd during the measured sessions only, switched on and off through perf's
# control FIFOs): once with lvssd's state directory (the catalog) on the disk
# as in production, once on tmpfs, where fdatasync costs nothing. Prints both
# tables, perf stat, and lvssd's profile by library and by symbol. Output
# stays in $LVSS_PROFILE_DIR (default: a new directory under /tmp), not in
# the source tree.
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/.."

if ! command -v perf >/dev/null; then
        echo "bench/profile.sh: installing linux-perf" >&2
        if [ "$(id -u)" -ne 0 ]; then
                echo "bench/profile.sh: need root (perf attaches to lvssd and reads syscall tracepoints)" >&2
                exit 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linux-perf ||
                { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linux-perf; }
fi
ninja -C "$build" src/coordinator/lvssd bench/lvss-bench bench/lvss-bench-writer bench/lvss-bench-peer >/dev/null

out=${LVSS_PROFILE_DIR:-$(mktemp -d /tmp/lvss-bench-profile-XXXXXX)}
shm=${LVSS_PROFILE_TMPFS:-/dev/shm}

for where in disk tmpfs; do
        mkdir -p "$out/$where"
        tmp=$(realpath "${LVSS_BENCH_TMP:-$build}")
        [ "$where" = tmpfs ] && tmp=$shm
        echo "=== state directory on $where ($tmp)"
        "$build/bench/lvss-bench" --idle-seconds 0 --tmp "$tmp" --results "$out/$where" --profile "$out/$where" \
                >"$out/$where/table.txt" 2>"$out/$where/progress.txt"
        sed -n '/^One event/,/^  cpu\/wr/p' "$out/$where/table.txt"
        for data in "$out/$where"/lvssd-n*.perf.data; do
                n=${data##*/lvssd-n}
                n=${n%.perf.data}
                echo
                echo "--- lvssd, N=$n: perf stat over the measured sessions"
                grep -vE '^#|^$' "$out/$where/lvssd-n$n.stat.txt" || true
                echo "--- lvssd, N=$n: samples by library"
                # head closes the pipe early: not a failure
                { perf report -i "$data" --stdio --sort dso 2>/dev/null | grep -vE '^#|^$' | head -6; } || true
                echo "--- lvssd, N=$n: top symbols"
                { perf report -i "$data" --stdio --sort dso,sym 2>/dev/null | grep -vE '^#|^$' | head -12; } || true
        done
        echo
done
echo "profiles and tables: $out"

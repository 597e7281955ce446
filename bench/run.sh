#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make bench: run lvss-bench (lvss, the raw sd-bus floor and sequential hook
# scripts, N = 1, 10, 100, 1000) and plot the result.
#
#   bench/run.sh [BUILD_DIR [lvss-bench options...]]
#
# Then, as root, bench/apps.sh and bench/qga.sh (LVSS_BENCH_APPS=0,
# LVSS_BENCH_QGA=0 skip them).
# Prints the table; writes bench/results/bench.csv (every figure),
# bench/results/event-by-n.csv (the plotted series) and bench/results/bench.png.
# Installs gnuplot-nox when gnuplot is missing (Debian). See bench/README.md.
set -euo pipefail

build=${1:-build}
shift || true
cd "$(dirname "$0")/.."

as_root() {
        if [ "$(id -u)" -eq 0 ]; then
                "$@"
        elif command -v sudo >/dev/null; then
                sudo "$@"
        else
                echo "bench/run.sh: need root to run: $*" >&2
                return 1
        fi
}

if ! command -v gnuplot >/dev/null; then
        echo "bench/run.sh: installing gnuplot-nox for the plot" >&2
        export DEBIAN_FRONTEND=noninteractive
        if ! as_root apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; then
                as_root apt-get update -qq
                as_root apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
        fi
fi

if [ ! -f "$build/build.ninja" ]; then
        # optimized, without the tests: what a distribution ships (issue 11 §5)
        meson setup "$build" -Dbuildtype=release
fi
# Only what the bench runs: lvssd, liblvss, the bench programs.
if ! ninja -C "$build" src/coordinator/lvssd bench/lvss-bench bench/lvss-bench-writer bench/lvss-bench-peer; then
        echo "bench/run.sh: cannot build the bench in $build (is subdir('bench') in meson.build?)" >&2
        exit 1
fi

results=bench/results
mkdir -p "$results"
# lvssd's state directories (its catalog) and the hook scripts go on a disk,
# as /var/lib/lvss would be: inside the build directory unless LVSS_BENCH_TMP
# says otherwise (/tmp may be tmpfs, where fdatasync costs nothing).
# lvss-bench removes what it made unless it failed (then it says what it kept);
# an interrupted run leaves nothing behind.
work=$(mktemp -d "$(realpath "${LVSS_BENCH_TMP:-$build}")/bench-run-XXXXXX")
trap 'rm -rf "$work"' INT TERM
start=$(date +%s)
# The freeze window on btrfs (issue 11 §5): root only (a loop device, mounted in
# lvss-bench's own mount namespace); LVSS_BENCH_BTRFS=0 skips it.
btrfs=()
if [ "${LVSS_BENCH_BTRFS:-1}" = 0 ]; then
        echo "bench/run.sh: LVSS_BENCH_BTRFS=0: the btrfs freeze window is skipped"
elif [ "$(id -u)" -ne 0 ]; then
        echo "bench/run.sh: the btrfs freeze window needs root: skipped"
else
        btrfs=(--btrfs 1,10,100)
fi
TMPDIR=$work "$build/bench/lvss-bench" --results "$results" "${btrfs[@]}" "$@"
rmdir "$work"
gnuplot -e "csv='$results/event-by-n.csv'; out='$results/bench.png'" bench/plot.gp
echo "plot: $results/bench.png"
if [ ${#btrfs[@]} -gt 0 ] && [ -f "$results/btrfs.csv" ]; then
        gnuplot -e "csv='$results/btrfs.csv'; out='$results/btrfs.png'" bench/btrfs.gp
        echo "plot: $results/btrfs.png"
fi

# What a backup costs the applications' commits (bench/apps.sh): real
# PostgreSQL and MariaDB servers on btrfs, lvss writers beside hook scripts.
# Needs root (a loop device); LVSS_BENCH_APPS=0 skips it.
if [ "${LVSS_BENCH_APPS:-1}" = 0 ]; then
        echo "bench/run.sh: LVSS_BENCH_APPS=0: the application bench is skipped"
elif [ "$(id -u)" -ne 0 ]; then
        echo "bench/run.sh: the application bench (bench/apps.sh) needs root: skipped"
else
        ninja -C "$build" tools/vshadow tools/vssadmin writers/postgresql/lvss-writer-postgresql \
                writers/postgresql/lvss-pg-load writers/mariadb/lvss-writer-mariadb writers/mariadb/lvss-mariadb-load
        bench/apps.sh "$build"
fi

# The freeze window as the guest sees it through qemu-guest-agent
# (bench/qga.sh): no hook, the stock dispatcher, lvss; N = 1, 10, 100 hook
# scripts. Needs root (a loop device, FIFREEZE); LVSS_BENCH_QGA=0 skips it.
if [ "${LVSS_BENCH_QGA:-1}" = 0 ]; then
        echo "bench/run.sh: LVSS_BENCH_QGA=0: the qemu-guest-agent bench is skipped"
elif [ "$(id -u)" -ne 0 ]; then
        echo "bench/run.sh: the qemu-guest-agent bench (bench/qga.sh) needs root: skipped"
elif [ ! -x /usr/sbin/qemu-ga ]; then
        echo "bench/run.sh: qemu-guest-agent is not installed (scripts/install-deps.sh): the qga bench is skipped"
else
        ninja -C "$build" src/coordinator/lvssd tools/vssadmin tests/helpers/lvss-qga-call \
                tools/lvss-freeze-hook writers/hooks/lvss-writer-hooks
        bench/qga.sh "$build"
fi
echo "make bench: $(( $(date +%s) - start )) s in all"

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run one libFuzzer target of a -Dfuzzing=true build (README.md).
#   tests/fuzz/run-fuzzer.sh BUILD_DIR TARGET [SECONDS] [libFuzzer options...]
# The working corpus is BUILD_DIR/fuzz-work/TARGET/corpus (seeded from
# tests/fuzz-corpus/TARGET, which is only read); crashes land in
# BUILD_DIR/fuzz-work/TARGET/ as crash-*, leak-*, timeout-*, oom-*; the log is
# BUILD_DIR/fuzz-work/TARGET/log.
set -eu

if [ $# -lt 2 ]; then
        echo "usage: $0 BUILD_DIR TARGET [SECONDS] [libFuzzer options...]" >&2
        exit 2
fi
build=$1
target=$2
seconds=${3:-600}
[ $# -ge 3 ] && shift 3 || shift 2

src=$(cd "$(dirname "$0")/../.." && pwd)
work=$build/fuzz-work/$target
mkdir -p "$work/corpus"

dict=$src/tests/fuzz/$target.dict
if [ -f "$dict" ]; then
        set -- -dict="$dict" "$@"
fi

# -close_fd_mask=3: the parsers report to stderr; libFuzzer keeps its own output and crash reports
exec "$build/tests/fuzz/fuzz-$target" \
        -max_total_time="$seconds" \
        -max_len=65536 \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -close_fd_mask=3 \
        -print_final_stats=1 \
        -artifact_prefix="$work/" \
        "$@" \
        "$work/corpus" "$src/tests/fuzz-corpus/$target" >"$work/log" 2>&1

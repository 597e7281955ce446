#!/usr/bin/env bash
# Runs the meson test suite of a build directory and ends with the line
# "N passed, N failed" counted from meson's own test log.
set -uo pipefail

build=${1:?usage: run-tests.sh BUILD_DIR [meson test args]}
shift

meson test -C "$build" --print-errorlogs "$@"
status=$?

log="$build/meson-logs/testlog.json"
if [ -f "$log" ]; then
        passed=$(grep -c '"result": "OK"' "$log" || true)
        failed=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
        skipped=$(grep -c '"result": "SKIP"' "$log" || true)
        echo "$passed passed, $failed failed, $skipped skipped"
fi
exit $status

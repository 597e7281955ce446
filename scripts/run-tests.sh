#!/usr/bin/env bash
# Runs the meson test suite of a build directory and ends with the line
# "N passed, N failed" counted from meson's own test log.
#
#   run-tests.sh BUILD_DIR [meson test args]
#   run-tests.sh BUILD_DIR --lanes PREFIX N [meson test args]
#
# With --lanes, the suites PREFIX1 .. PREFIXN run at once, one `meson test`
# each (its tests one after another), each with its own log
# (meson-logs/PREFIXk.json, .txt); every line a lane prints starts with
# "[PREFIXk] ". The count is over all the lanes; it fails if any lane fails.
# make check-valgrind runs the integration suite so (tests/integration/meson.build
# says which test is in which lane, and why).
set -uo pipefail

build=${1:?usage: run-tests.sh BUILD_DIR [--lanes PREFIX N] [meson test args]}
shift

# count LOG...: the "N passed, N failed, N skipped" line over meson's JSON logs
count() {
        local passed=0 failed=0 skipped=0 log
        for log in "$@"; do
                [ -f "$log" ] || continue
                passed=$((passed + $(grep -c '"result": "OK"' "$log" || true)))
                failed=$((failed + $(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)))
                skipped=$((skipped + $(grep -c '"result": "SKIP"' "$log" || true)))
        done
        echo "$passed passed, $failed failed, $skipped skipped"
}

if [ "${1:-}" = --lanes ]; then
        prefix=${2:?--lanes PREFIX N}
        lanes=${3:?--lanes PREFIX N}
        shift 3
        # built once, before the lanes start: they must not run ninja at once
        ninja -C "$build" || exit 1
        pids=()
        logs=()
        for k in $(seq 1 "$lanes"); do
                logs+=("$build/meson-logs/$prefix$k.json")
                rm -f "$build/meson-logs/$prefix$k.json"
                (
                        meson test -C "$build" --no-rebuild --print-errorlogs --suite "$prefix$k" --logbase "$prefix$k" \
                                "$@" 2>&1 | sed -u "s/^/[$prefix$k] /"
                        exit "${PIPESTATUS[0]}"
                ) &
                pids+=($!)
        done
        status=0
        for pid in "${pids[@]}"; do
                wait "$pid" || status=1
        done
        # a lane whose meson test failed before it wrote a log counts as a failure
        for log in "${logs[@]}"; do
                [ -f "$log" ] || { echo "run-tests.sh: no log $log: that lane did not run"; status=1; }
        done
        line=$(count "${logs[@]}")
        # a failed lane with no failed test in the logs (meson itself failed) counts as one failure
        if [ $status -ne 0 ] && [[ $line == *" passed, 0 failed"* ]]; then
                line=${line/ 0 failed/ 1 failed}
        fi
        echo "$line"
        exit $status
fi

meson test -C "$build" --print-errorlogs "$@"
status=$?

log="$build/meson-logs/testlog.json"
if [ -f "$log" ]; then
        count "$log"
fi
exit $status

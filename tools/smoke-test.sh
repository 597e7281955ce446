#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Smoke test of vshadow (-bc, -r, -rs, -wi, -wx) and vssadmin (list providers,
# list shadows, create shadow, delete shadows) against a real lvssd of their
# own, with lvss-test-writer as the writers. Not a replacement for the
# integration tests; a quick check that the tools and the daemon agree.
#
#   tools/smoke-test.sh BUILD_DIR
#
# Exit status 0 when every check passed, 77 (skipped) when a program is not
# built. Everything runs in a temporary directory; the daemon and the
# writers it starts are stopped by PID.

set -u

build=${1:?usage: smoke-test.sh BUILD_DIR}
lvssd=$build/src/coordinator/lvssd
writer=$build/tests/helpers/lvss-test-writer
vshadow=$build/tools/vshadow
vssadmin=$build/tools/vssadmin
for p in "$lvssd" "$writer" "$vshadow" "$vssadmin"; do
        [ -x "$p" ] || { echo "smoke-test: $p is missing (build it first)" >&2; exit 77; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/lvss-smoke.XXXXXX") || exit 2
pids=
cleanup() {
        for p in $pids; do kill "$p" 2>/dev/null; done
        for p in $pids; do wait "$p" 2>/dev/null; done
        rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
check() { # check DESCRIPTION EXPECTED ACTUAL
        if [ "$2" = "$3" ]; then
                echo "ok - $1"
        else
                echo "not ok - $1 (expected $2, got $3)"
                failures=$((failures + 1))
        fi
}

export LVSS_SOCKET=$dir/sock
mkdir "$dir/state" "$dir/vol"
echo data >"$dir/vol/file"
: >"$dir/lvssd.conf"

"$lvssd" --socket "$LVSS_SOCKET" --state-dir "$dir/state" --config "$dir/lvssd.conf" \
        --identify-timeout 3000 --event-timeout 5000 >"$dir/lvssd.log" 2>&1 &
pids="$pids $!"
i=0
while [ ! -S "$LVSS_SOCKET" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

start_writer() { # start_writer NAME [ARGS...]: waits until it subscribed
        name=$1
        shift
        "$writer" --name "$name" --path "$dir/vol" "$@" >"$dir/writer-$name.log" 2>&1 &
        pids="$pids $!"
        i=0
        while ! grep -q '^subscribed' "$dir/writer-$name.log" 2>/dev/null && [ $i -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
}
start_writer A
start_writer B --component db --component logs
start_writer F --fail-at PostRestore --fail-code VSS_E_WRITERERROR_RETRYABLE --app-message "cannot restart"

# ---- vshadow: backup with -bc, restore ----
"$vshadow" -bc="$dir/bcd.xml" -wx=F "$dir/vol" >"$dir/backup.out" 2>&1
check "vshadow -bc exits 0" 0 $?
check "the document is mode 0600" 600 "$(stat -c %a "$dir/bcd.xml" 2>/dev/null)"
check "the document holds A's backup metadata" 1 "$(grep -c '<BACKUP_METADATA>lvss-test-writer A<' "$dir/bcd.xml")"
check "the document holds B's two components" 2 "$(grep -c '<BACKUP_METADATA>lvss-test-writer B<' "$dir/bcd.xml")"
check "the document embeds every identified writer's metadata" 3 "$(grep -c '<WRITER_METADATA_XML>' "$dir/bcd.xml")"
set_id=$(sed -n 's/.*Snapshot set: \({[^}]*}\).*/\1/p' "$dir/backup.out")
check "the backup stamp is the snapshot set id" 3 "$(grep -c "<BACKUP_STAMP>$set_id<" "$dir/bcd.xml")"

"$vshadow" -rs="$dir/bcd.xml" >"$dir/rs.out" 2>&1
check "vshadow -rs exits 0" 0 $?
check "-rs reports VSS_RS_NONE" 1 "$(grep -c 'file restore status: VSS_RS_NONE' "$dir/rs.out")"

"$vshadow" -r="$dir/bcd.xml" -exec='test "$LVSS_RESTORE" = 1 && test -s "$LVSS_BCD"' >"$dir/r.out" 2>&1
check "vshadow -r -exec exits 0" 0 $?
check "-r -exec reports VSS_RS_ALL" 1 "$(grep -c 'file restore status: VSS_RS_ALL' "$dir/r.out")"

"$vshadow" -r="$dir/bcd.xml" -exec=false >"$dir/r2.out" 2>&1
check "vshadow -r with a failing -exec exits 1" 1 $?

"$vshadow" -bc="$dir/bcd-f.xml" -wi=F "$dir/vol" >/dev/null 2>&1
check "backup of F exits 0" 0 $?
"$vshadow" -r="$dir/bcd-f.xml" -exec=true >"$dir/r3.out" 2>&1
check "a writer failing PostRestore makes -r exit 1" 1 $?
check "its state [14] is shown" 1 "$(grep -c "writer 'F' failed at PostRestore: \[14\] Failed, Retryable error: cannot restart" "$dir/r3.out")"

# ---- vshadow: -wi / -wx ----
"$vshadow" -wi=Nobody "$dir/vol" >/dev/null 2>&1
check "a missing required writer exits 1" 1 $?
"$vshadow" -wi=A -nw "$dir/vol" >/dev/null 2>&1
check "-wi with -nw is bad usage" 2 $?
"$vshadow" --json -wi=B:db -wx=A "$dir/vol" >"$dir/wi.json" 2>/dev/null
check "-wi=B:db exits 0" 0 $?
check "-wi=B:db adds one component" 1 "$(grep -c '"name": "AddComponent"' "$dir/wi.json")"

# ---- vssadmin ----
"$vssadmin" list providers --json | grep -q '"name": "copy"'
check "list providers shows copy" 0 $?
"$vssadmin" create shadow --for "$dir/vol" --provider copy >"$dir/create.out" 2>&1
check "create shadow exits 0" 0 $?
shadow_id=$(sed -n 's/.*Shadow Copy ID: \({[^}]*}\).*/\1/p' "$dir/create.out")
check "list shadows shows it, persistent" 1 \
        "$("$vssadmin" list shadows --json | grep -c '"type": "persistent"')"
"$vssadmin" create shadow --for "$dir/vol" --provider nope >/dev/null 2>&1
check "create shadow with an unknown provider exits 1" 1 $?
"$vssadmin" delete shadows --all --shadow "$shadow_id" >/dev/null 2>&1
check "delete shadows with two selectors is bad usage" 2 $?
check "delete shadows --shadow deletes one" '{ "deleted": 1, "matched": 1 }' \
        "$("$vssadmin" delete shadows --shadow "$shadow_id" --json </dev/null | tr -s ' \n' ' ' | sed 's/ $//')"
"$vssadmin" delete shadows --all </dev/null >/dev/null 2>&1
check "delete shadows with nothing to delete exits 1" 1 $?

echo "$failures failure(s)"
[ $failures -eq 0 ]

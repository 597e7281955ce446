#!/usr/bin/env bash
# Issue 12 §2: the timer template lvss-shadow@.timer and its service, as
# meson configured them for installation, pass `systemd-analyze verify`
# (offline: no systemd as PID 1 is needed) through one instance, the escaped
# path of a volume, with the installed program paths pointing at this build
# and the man page they name on MANPATH. Before that, a broken copy of each
# must be refused, so that a verify that accepts everything cannot pass.
set -euo pipefail

build=${1:?usage: test-shadow-units.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test-shadow-units.sh BUILD_DIR SOURCE_DIR}
if ! command -v systemd-analyze >/dev/null; then
        echo "systemd-analyze is not installed"
        exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

bindir=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
b = o["bindir"]
print(b if b.startswith("/") else o["prefix"] + "/" + b)')

units="$dir/units"
mkdir -p "$units" "$dir/man/man8"
# The service runs the installed vssadmin: here the one of this build.
grep -q "^ExecStart=$bindir/vssadmin create shadow --for %f\$" "$build/src/coordinator/lvss-shadow@.service"
sed "s|^ExecStart=$bindir/vssadmin|ExecStart=$build/tools/vssadmin|" \
        "$build/src/coordinator/lvss-shadow@.service" >"$units/lvss-shadow@.service"
cp "$src/src/coordinator/lvss-shadow@.timer" "$units/"
# What the service needs: lvssd's socket (and its service), as installed.
cp "$build/src/coordinator/lvssd.service" "$src/src/coordinator/lvssd.socket" "$units/"
sed -i "s|^ExecStart=.*/lvssd |ExecStart=$build/src/coordinator/lvssd |" "$units/lvssd.service"
cp "$src/docs/man/lvss-shadow@.service.8" "$src/docs/man/lvssd.8" "$dir/man/man8/"

instance=$(systemd-escape --path /srv/data)
[ "$instance" = "srv-data" ]
verify() { MANPATH="$dir/man" SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$@"; }

# Broken copies are refused: a calendar that does not parse, a program that is not there.
cp "$units/lvss-shadow@.timer" "$dir/timer.good"
sed -i 's/^OnCalendar=hourly$/OnCalendar=every hour/' "$units/lvss-shadow@.timer"
if verify "lvss-shadow@$instance.timer" 2>/dev/null; then
        echo "systemd-analyze verify accepted a timer whose calendar does not parse"
        exit 1
fi
cp "$dir/timer.good" "$units/lvss-shadow@.timer"
cp "$units/lvss-shadow@.service" "$dir/service.good"
sed -i "s|/tools/vssadmin|/tools/no-such-vssadmin|" "$units/lvss-shadow@.service"
if verify "lvss-shadow@$instance.service" 2>/dev/null; then
        echo "systemd-analyze verify accepted a service whose program does not exist"
        exit 1
fi
cp "$dir/service.good" "$units/lvss-shadow@.service"

# The units as shipped: hourly, missed runs caught up, spread over 5 minutes.
grep -qx 'OnCalendar=hourly' "$units/lvss-shadow@.timer"
grep -qx 'Persistent=true' "$units/lvss-shadow@.timer"
grep -q '^RandomizedDelaySec=' "$units/lvss-shadow@.timer"
grep -qx 'Type=oneshot' "$units/lvss-shadow@.service"
verify "lvss-shadow@$instance.timer" "lvss-shadow@$instance.service"
# The root file system's instance ("-") too.
verify "lvss-shadow@$(systemd-escape --path /).service"
echo "systemd-analyze verify accepts lvss-shadow@$instance.timer and lvss-shadow@$instance.service"

#!/usr/bin/env bash
# meson install --destdir into a temporary root puts every file of issue 5
# item 8 in its standard place, and systemd-analyze verify accepts the units.
set -euo pipefail

build=${1:?usage: test-install.sh BUILD_DIR}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null

prefix=$(meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], o["sbindir"], o["bindir"], o["libdir"], o["includedir"], o["sysconfdir"], o["mandir"])')
read -r p sbin bin lib inc etc man <<<"$prefix"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$p/$1" ;; esac; }

expect=(
        "$(abs "$sbin")/lvssd"
        "$(abs "$bin")/vssadmin"
        "$(abs "$bin")/vshadow"
        "$(abs "$bin")/lvss-writer-sqlite"
        "$(abs "$bin")/lvss-writer-postgresql"
        "$(abs "$bin")/lvss-writer-mariadb"
        "$(abs "$bin")/lvss-writer-hooks"
        "$p/libexec/lvss/lvss-freeze-hook"
        "$(abs "$lib")/liblvss.so.0.1.0"
        "$(abs "$lib")/liblvss.so.0"
        "$(abs "$lib")/liblvss.so"
        "$(abs "$lib")/pkgconfig/lvss.pc"
        "$(abs "$inc")/lvss/vss.h"
        "$(abs "$inc")/lvss/types.h"
        "$(abs "$inc")/lvss/backup.h"
        "$(abs "$inc")/lvss/writer.h"
        "$(abs "$inc")/lvss/metadata.h"
        "$p/lib/systemd/system/lvssd.service"
        "$p/lib/systemd/system/lvssd.socket"
        "$p/lib/systemd/system/lvss-writer-sqlite@.service"
        "$p/lib/systemd/system/lvss-writer-postgresql@.service"
        "$p/lib/systemd/system/lvss-writer-mariadb@.service"
        "$p/lib/systemd/system/lvss-writer-hooks@.service"
        "$p/lib/systemd/system/lvss-shadow@.service"
        "$p/lib/systemd/system/lvss-shadow@.timer"
        "$(abs "$etc")/lvss/lvssd.conf"
        "$(abs "$man")/man8/lvssd.8"
        "$(abs "$man")/man8/vssadmin.8"
        "$(abs "$man")/man8/vshadow.8"
        "$(abs "$man")/man8/lvss-writer-sqlite.8"
        "$(abs "$man")/man8/lvss-writer-postgresql.8"
        "$(abs "$man")/man8/lvss-writer-mariadb.8"
        "$(abs "$man")/man8/lvss-writer-hooks.8"
        "$(abs "$man")/man8/lvss-freeze-hook.8"
        "$(abs "$man")/man8/lvss-shadow@.service.8"
)
missing=0
for f in "${expect[@]}"; do
        if [ ! -e "$root$f" ]; then
                echo "missing: $f"
                missing=1
        fi
done
[ "$missing" -eq 0 ] || exit 1
echo "all ${#expect[@]} files installed"

# The installed services name the installed programs.
grep -q "^ExecStart=$(abs "$sbin")/lvssd " "$root$p/lib/systemd/system/lvssd.service"
grep -q "^ExecStart=$(abs "$bin")/lvss-writer-sqlite " "$root$p/lib/systemd/system/lvss-writer-sqlite@.service"
grep -q "^ExecStart=$(abs "$bin")/lvss-writer-mariadb " "$root$p/lib/systemd/system/lvss-writer-mariadb@.service"
grep -q "^ExecStart=$(abs "$bin")/lvss-writer-hooks " "$root$p/lib/systemd/system/lvss-writer-hooks@.service"
grep -q "^ExecStart=$(abs "$bin")/vssadmin create shadow " "$root$p/lib/systemd/system/lvss-shadow@.service"

# A program compiled against the installed headers and pkg-config file.
cat >"$root/probe.c" <<'C'
#include <lvss/vss.h>
int main(void) { char s[VSS_ID_STRING_MAX]; vss_id id = {{0}}; vss_id_format(&id, s); return vss_hresult_name(VSS_E_BAD_STATE) ? 0 : 1; }
C
# A library built with sanitizers (make check-asan) needs a program built with them too.
sanitize=()
# (ldd's output is read whole first: with pipefail, `ldd | grep -q` fails when grep
# exits at the first match and ldd's next line meets a closed pipe.)
if [[ $(ldd "$root$(abs "$lib")/liblvss.so") == *libasan* ]]; then
        sanitize=(-fsanitize=address,undefined)
fi
PKG_CONFIG_PATH="$root$(abs "$lib")/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" \
        cc "${sanitize[@]}" "$root/probe.c" -o "$root/probe" $(PKG_CONFIG_PATH="$root$(abs "$lib")/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" pkg-config --cflags --libs lvss)
LD_LIBRARY_PATH="$root$(abs "$lib")" "$root/probe"
echo "a program builds and runs against the installed headers and library"

# systemd-analyze verify, with the units' ExecStart pointing into the temporary root;
# the writer's template through one instance (a database path), found on the unit path.
if command -v systemd-analyze >/dev/null; then
        units="$root/units"
        mkdir -p "$units"
        sed "s|^ExecStart=$(abs "$sbin")/lvssd|ExecStart=$root$(abs "$sbin")/lvssd|" \
                "$root$p/lib/systemd/system/lvssd.service" >"$units/lvssd.service"
        cp "$root$p/lib/systemd/system/lvssd.socket" "$units/"
        sed "s|^ExecStart=$(abs "$bin")/lvss-writer-sqlite|ExecStart=$root$(abs "$bin")/lvss-writer-sqlite|" \
                "$root$p/lib/systemd/system/lvss-writer-sqlite@.service" >"$units/lvss-writer-sqlite@.service"
        MANPATH="$root$(abs "$man")" systemd-analyze verify "$units/lvssd.service" "$units/lvssd.socket"
        instance="lvss-writer-sqlite@$(systemd-escape --path /srv/app/app.db).service"
        MANPATH="$root$(abs "$man")" SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$instance"
        echo "systemd-analyze verify accepts lvssd.service, lvssd.socket and $instance"
fi

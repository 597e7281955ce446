#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian packages, end to end (issue 12 §1; `make check-deb`, run by .ci/run):
#
#   tests/packaging/test-deb.sh [BUILD_DEB_DIR]     (as root; default build-deb)
#
#  1. builds them (make deb: dpkg-buildpackage -us -uc -b into BUILD_DEB_DIR),
#     dpkg-gensymbols quiet about debian/liblvss0.symbols;
#  2. lintian --fail-on error,warning on the .changes;
#  3. what they hold and depend on: the files each package must have, a man
#     page for every installed program and every page of docs/man/ installed,
#     no database server in any Depends/Pre-Depends/Recommends;
#  4. dpkg -i on this machine, with a policy-rc.d that denies service starts:
#     every package installed, the file lists recorded (BUILD_DEB_DIR/filelists/),
#     lvssd.conf a conffile naming RequesterGroup=lvss, the group lvss made by
#     postinst, no lvssd started by it;
#  5. a program built against liblvss-dev (pkg-config lvss) links and runs;
#  6. the installed /usr/sbin/lvssd on a temporary socket and state directory
#     (the installed /etc/lvss/lvssd.conf), the installed lvss-writer-sqlite
#     on a database, a backup with the installed vshadow (the checker run
#     while the shadow copy exists finds the database intact), the writer
#     Stable afterwards (vssadmin list writers), and the requester group as
#     installed: an unprivileged user is refused, the same user in group
#     lvss is let in;
#  7. dpkg --purge of all of them: no file or directory of the `dpkg -L`
#     lists that was not there before is left, no /etc/lvss, /var/lib/lvss,
#     /run/lvss, no systemd enablement link; the group lvss stays (debian/lvss.postrm
#     says why) and this test removes it itself when it made it.
#
# TEST_DEB_PART=build runs steps 1 and 2 only (what needs no installation:
# .ci/run runs it in the background, niced, during the valgrind pass);
# TEST_DEB_PART=install runs steps 3 to 7 on the packages that part left in
# BUILD_DEB_DIR (it fails when there are none). Default: all, 1 to 7.
#
# It cleans up whatever happens (trap): its processes, the packages, the
# group, the policy-rc.d it made, its temp dir. Ends with "N passed, N failed".

set -u -o pipefail

case ${1:-} in
-h | --help)
        echo "Usage: tests/packaging/test-deb.sh [BUILD_DEB_DIR]"
        echo
        echo "Builds lvss's Debian packages into BUILD_DEB_DIR (default build-deb, relative to"
        echo "the source tree), runs lintian, installs them on this machine, takes a backup"
        echo "with the installed programs and purges them again. As root. Ends with the line"
        echo "\"N passed, N failed\". TEST_DEB_KEEP=1 keeps the temp dir (logs);"
        echo "TEST_DEB_REUSE=1 tests the packages an earlier run left in BUILD_DEB_DIR."
        echo "TEST_DEB_PART=build: only build them and run lintian; TEST_DEB_PART=install:"
        echo "only the rest, on the packages TEST_DEB_PART=build left (default: all)."
        exit 0
        ;;
-*)
        echo "test-deb: unknown option $1 (see --help)" >&2
        exit 2
        ;;
esac
PART=${TEST_DEB_PART:-all}
case $PART in
all | build | install) ;;
*)
        echo "test-deb: TEST_DEB_PART=$PART: expected build, install or all (see --help)" >&2
        exit 2
        ;;
esac

cd "$(dirname "$0")/../.." || { echo "0 passed, 1 failed"; exit 1; }
SRC=$(pwd)

# This machine is shared: lvssd runs elsewhere from build trees, as root too,
# and may use /var/lib/lvss or /run/lvss, which lvss's postrm removes on
# purge. So the test runs in a private mount namespace in which /var/lib and
# /run are views without lvss's directories (see hide_in_view below): the
# packages are installed in, and purged from, this machine's dpkg database,
# /usr and /etc, but what the purge removes there is only the test's own.
if [ -z "${TEST_DEB_IN_NAMESPACE:-}" ] && [ "$(id -u)" -eq 0 ]; then
        exec unshare -m --propagation private env TEST_DEB_IN_NAMESPACE=1 "$0" "$@"
fi
BUILD_DEB=${1:-build-deb}
case $BUILD_DEB in /*) ;; *) BUILD_DEB=$SRC/$BUILD_DEB ;; esac

PACKAGES=(liblvss0 liblvss-dev lvss lvss-writer-sqlite lvss-writer-postgresql lvss-writer-mariadb lvss-writer-hooks)
# Purge order: the writers first (they depend on lvss), the library last.
PURGE_ORDER=(lvss-writer-sqlite lvss-writer-postgresql lvss-writer-mariadb lvss-writer-hooks liblvss-dev lvss liblvss0)

PASSED=0
FAILED=0
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
summary() { echo "$PASSED passed, $FAILED failed"; }
# A step the rest cannot do without failed: count it, clean up, stop.
die() { fail "$*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
        echo "test-deb: must run as root (it installs and purges packages)" >&2
        echo "0 passed, 1 failed"
        exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lvss-test-deb.XXXXXX") || { echo "0 passed, 1 failed"; exit 1; }
chmod 0711 "$TMP" # the unprivileged requester of step 6 reaches the socket in it
# The views of hide_in_view: bind mounts of /var/lib/dpkg and the rest, so never
# under $TMP (rm -rf); only unmounted and rmdir'ed (unmount_views).
VIEWS=$(mktemp -d "${TMPDIR:-/tmp}/lvss-test-deb-views.XXXXXX") || { echo "0 passed, 1 failed"; exit 1; }
LVSSD_PID=
WRITER_PID=
OWN_POLICY=0
OWN_GROUP=0
INSTALLED=0

# SIGTERM, up to 10 s for a clean exit, then SIGKILL (only our own children).
stop_process() { # NAME PID
        local name=$1 pid=$2
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                echo "test-deb: $name (pid $pid) did not stop on SIGTERM, killing it" >&2
                kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        return 0
}

# dpkg with its lock shared with the other users of this machine: wait for
# it (up to 5 minutes) instead of failing when apt or dpkg runs elsewhere.
dpkg_locked() { # dpkg ARGS...
        local out rc
        for _ in $(seq 300); do
                out=$(dpkg "$@" 2>&1)
                rc=$?
                if [ $rc -ne 0 ] && grep -q "lock" <<<"$out" && ! grep -q "^dpkg: error processing" <<<"$out"; then
                        sleep 1
                        continue
                fi
                printf '%s\n' "$out"
                return $rc
        done
        printf '%s\n' "$out"
        return $rc
}

installed_packages() {
        local p
        for p in "${PACKAGES[@]}"; do
                if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qv '^unknown ok not-installed$\|^$'; then
                        echo "$p"
                fi
        done
}

purge_all() {
        local p list=()
        for p in "${PURGE_ORDER[@]}"; do
                if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -qv '^unknown ok not-installed$\|^$'; then
                        list+=("$p")
                fi
        done
        [ ${#list[@]} -eq 0 ] && return 0
        dpkg_locked --purge "${list[@]}"
}

# Undo hide_in_view (the namespace ends with this process anyway); rmdir only.
unmount_views() {
        local parent v
        for parent in /var/lib /run; do
                v=$VIEWS/${parent//\//_}
                [ -d "$v" ] || continue
                mountpoint -q "$v" || { rmdir "$v"; continue; }
                umount -R "$parent" && umount -R "$v" && rmdir "$v" ||
                        echo "test-deb: cleanup: cannot unmount the view $v of $parent" >&2
        done
        rmdir "$VIEWS" 2>/dev/null
}

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
                fail "the test stopped early (status $rc)"
        fi
        stop_process lvss-writer-sqlite "$WRITER_PID"
        stop_process lvssd "$LVSSD_PID"
        if [ "$INSTALLED" -eq 1 ] && [ -n "$(installed_packages)" ]; then
                echo "test-deb: cleanup: purging $(installed_packages | tr '\n' ' ')"
                purge_all >/dev/null || echo "test-deb: cleanup: dpkg --purge failed" >&2
        fi
        if [ "$OWN_GROUP" -eq 1 ] && getent group lvss >/dev/null; then
                groupdel lvss || echo "test-deb: cleanup: groupdel lvss failed" >&2
        fi
        if [ "$OWN_POLICY" -eq 1 ]; then
                rm -f /usr/sbin/policy-rc.d
        fi
        unmount_views
        if [ -n "${TEST_DEB_KEEP:-}" ]; then
                echo "test-deb: kept $TMP"
        else
                chattr -R -i "$TMP" 2>/dev/null # a copy provider shadow copy left by a failure is immutable
                rm -rf "$TMP"
        fi
        summary
        [ "$FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
        exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# hide_in_view DIR: in this mount namespace, DIR's parent becomes a tmpfs
# holding bind mounts of every entry of the real parent but DIR itself.
hide_in_view() {
        local dir=$1 parent name view e n
        parent=$(dirname "$dir")
        name=$(basename "$dir")
        view=$VIEWS/${parent//\//_}
        mkdir "$view" && mount -t tmpfs -o mode=0755 "lvss-test-deb" "$view" || return 1
        for e in "$parent"/* "$parent"/.[!.]*; do
                [ -e "$e" ] || [ -L "$e" ] || continue
                n=$(basename "$e")
                [ "$n" = "$name" ] && continue
                if [ -L "$e" ]; then
                        cp -P "$e" "$view/$n" || return 1
                elif [ -d "$e" ]; then
                        mkdir "$view/$n" && mount --rbind "$e" "$view/$n" || return 1
                else
                        touch "$view/$n" && mount --bind "$e" "$view/$n" || return 1
                fi
        done
        mount --rbind "$view" "$parent"
}
if [ -z "${TEST_DEB_IN_NAMESPACE:-}" ]; then
        die "not in a private mount namespace (unshare -m failed?)"
fi
for d in /var/lib/lvss /run/lvss; do
        hide_in_view "$d" || die "cannot make a view of $(dirname "$d") without $d in this mount namespace"
done

# Preconditions: none of these packages, nor their directories, are on the
# machine already (this test never replaces an admin's installation).
if [ -n "$(installed_packages)" ]; then
        die "lvss packages are already installed here ($(installed_packages | tr '\n' ' ')): purge them first"
fi
for d in /etc/lvss /usr/libexec/lvss /usr/include/lvss; do
        [ -e "$d" ] && die "$d exists before the test: this machine has (had) an lvss installation"
done
if ! getent group lvss >/dev/null; then
        OWN_GROUP=1
fi

# ---------------------------------------------------------------------------
# 1. Build
[ "$PART" = install ] || echo "==> make deb (into $BUILD_DEB)"
start=$(date +%s)
if [ "$PART" = install ]; then
        [ -f "$BUILD_DEB/build.log" ] || die "TEST_DEB_PART=install: no packages of a TEST_DEB_PART=build in $BUILD_DEB"
        echo "test-deb: TEST_DEB_PART=install: the packages TEST_DEB_PART=build left in $BUILD_DEB"
        cp "$BUILD_DEB/build.log" "$TMP/build.log"
elif [ -n "${TEST_DEB_REUSE:-}" ] && [ -f "$BUILD_DEB/build.log" ]; then
        # the packages of an earlier run, as they are (e.g. one changed by hand)
        echo "test-deb: TEST_DEB_REUSE: not building, the packages in $BUILD_DEB as they are"
        cp "$BUILD_DEB/build.log" "$TMP/build.log"
        pass "the packages of an earlier make deb (TEST_DEB_REUSE)"
elif make --no-print-directory -C "$SRC" deb BUILD_DEB="$BUILD_DEB" >"$TMP/build.log" 2>&1; then
        pass "the packages build (make deb, $(($(date +%s) - start)) s)"
else
        tail -n 40 "$TMP/build.log"
        mkdir -p "$BUILD_DEB" && cp "$TMP/build.log" "$BUILD_DEB/build.log"
        die "make deb failed (the last lines are above; the whole log: $BUILD_DEB/build.log)"
fi
cp "$TMP/build.log" "$BUILD_DEB/build.log"
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
declare -A DEB
for p in "${PACKAGES[@]}"; do
        DEB[$p]=$BUILD_DEB/${p}_${VERSION}_${ARCH}.deb
        [ -f "${DEB[$p]}" ] || die "make deb made no ${DEB[$p]}"
done
CHANGES=$BUILD_DEB/lvss_${VERSION}_${ARCH}.changes
[ -f "$CHANGES" ] || die "make deb made no $CHANGES"
# Nothing next to the source tree: the output is in BUILD_DEB only (checked by the build part).
if [ "$PART" = install ]; then
        :
elif ls "$SRC"/../lvss_* "$SRC"/../liblvss* >/dev/null 2>&1; then
        fail "dpkg-buildpackage wrote to the parent of the source tree: $(ls -d "$SRC"/../lvss_* "$SRC"/../liblvss* 2>/dev/null | tr '\n' ' ')"
else
        pass "the build output is in $BUILD_DEB, nothing next to the source tree"
fi
# debian/rules runs dpkg-gensymbols at check level 4: any difference between
# debian/liblvss0.symbols and the library's symbols fails the build; here:
# no warning either, and the symbols file shipped is ours.
if [ "$PART" = install ]; then
        :
elif grep -n "dpkg-gensymbols: warning\|dpkg-gensymbols: error" "$TMP/build.log"; then
        fail "dpkg-gensymbols complained about debian/liblvss0.symbols (above)"
elif ! dpkg-deb -I "${DEB[liblvss0]}" symbols >"$TMP/symbols" 2>&1; then
        fail "liblvss0 has no symbols control file: $(cat "$TMP/symbols")"
elif ! diff -u <(grep -v '^#' "$SRC/debian/liblvss0.symbols") <(grep -v '^#' "$TMP/symbols"); then
        fail "liblvss0's symbols file is not debian/liblvss0.symbols (diff above)"
elif [ "$(grep -c '@LVSS_0\.[12] ' "$TMP/symbols")" -ne "$(objdump -T "$BUILD_DEB"/lvss/obj-*/liblvss.so.0 |
        grep -v '\*UND\*' | grep -c ' LVSS_0\.[12] ')" ]; then
        fail "liblvss0.symbols and the library's LVSS_0.1/LVSS_0.2 symbols differ in number"
else
        pass "dpkg-gensymbols: liblvss0.symbols matches the library ($(grep -c '@LVSS_0\.1 ' "$TMP/symbols") symbols in LVSS_0.1, $(grep -c '@LVSS_0\.2 ' "$TMP/symbols") in LVSS_0.2)"
fi

# ---------------------------------------------------------------------------
# 2. lintian
if [ "$PART" = install ]; then
        echo "==> lintian: in the build part"
elif echo "==> lintian --fail-on error,warning $CHANGES" && lintian --fail-on error,warning "$CHANGES" >"$TMP/lintian.log" 2>&1; then
        pass "lintian: no error, no warning"
else
        cat "$TMP/lintian.log"
        fail "lintian found errors or warnings (above)"
fi

[ "$PART" = build ] && exit 0 # cleanup() says the summary

# ---------------------------------------------------------------------------
# 3. What the packages hold and depend on (before installing: from the .debs)
mkdir -p "$BUILD_DEB/filelists"
declare -A CONTENTS
for p in "${PACKAGES[@]}"; do
        dpkg-deb --fsys-tarfile "${DEB[$p]}" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/\?$' | sort >"$BUILD_DEB/filelists/$p.deb-contents"
        CONTENTS[$p]=$BUILD_DEB/filelists/$p.deb-contents
done

must_have() { # PACKAGE PATH...
        local p=$1 f missing=()
        shift
        for f in "$@"; do
                grep -qxF "$f" "${CONTENTS[$p]}" || missing+=("$f")
        done
        if [ ${#missing[@]} -eq 0 ]; then
                pass "$p has $*"
        else
                fail "$p lacks ${missing[*]}"
        fi
}
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
must_have liblvss0 "/usr/lib/$MULTIARCH/liblvss.so.0" "/usr/lib/$MULTIARCH/liblvss.so.0.1.0"
must_have liblvss-dev /usr/include/lvss/vss.h /usr/include/lvss/writer.h "/usr/lib/$MULTIARCH/liblvss.so" \
        "/usr/lib/$MULTIARCH/pkgconfig/lvss.pc"
must_have lvss /usr/sbin/lvssd /usr/bin/vssadmin /usr/bin/vshadow /usr/libexec/lvss/lvss-freeze-hook \
        /etc/lvss/lvssd.conf /lib/systemd/system/lvssd.service /lib/systemd/system/lvssd.socket \
        /usr/share/man/man8/lvssd.8.gz /usr/share/man/man8/vssadmin.8.gz /usr/share/man/man8/vshadow.8.gz \
        /usr/share/man/man8/lvss-freeze-hook.8.gz
for w in sqlite postgresql mariadb hooks; do
        must_have "lvss-writer-$w" "/usr/bin/lvss-writer-$w" "/usr/share/man/man8/lvss-writer-$w.8.gz" \
                "/lib/systemd/system/lvss-writer-$w@.service"
done
# lvss holds no writer's file (each is in its own package)
if grep -n "lvss-writer-" "${CONTENTS[lvss]}"; then
        fail "lvss holds application writer files (above)"
else
        pass "lvss holds no application writer file"
fi

# Every program installed has its man page, and every page of docs/man/ is installed.
missing=()
for p in "${PACKAGES[@]}"; do
        while read -r f; do
                prog=$(basename "$f")
                grep -qxF "/usr/share/man/man8/$prog.8.gz" "${CONTENTS[$p]}" || missing+=("$p:$prog")
        done < <(grep -E '^/usr/(s?bin|libexec/lvss)/[^/]+$' "${CONTENTS[$p]}")
done
for page in "$SRC"/docs/man/*.[1-8]; do
        name=$(basename "$page")
        sect=${name##*.}
        grep -qxF "/usr/share/man/man$sect/$name.gz" "${CONTENTS[@]}" || missing+=("docs/man/$name (not installed)")
done
if [ ${#missing[@]} -eq 0 ]; then
        pass "a man page for every installed program, every page of docs/man/ installed"
else
        fail "man pages missing: ${missing[*]}"
fi

# Installing lvss, or any writer, never pulls a database server (issue 12 §1).
bad=()
for p in "${PACKAGES[@]}"; do
        deps=$(dpkg-deb -f "${DEB[$p]}" Pre-Depends Depends Recommends | sed 's/^[A-Za-z-]*: //' | tr ',|' '\n\n' |
                sed 's/^ *//; s/[ (].*//')
        while read -r d; do
                case $d in
                postgresql | postgresql-[0-9]* | mariadb-server* | mysql-server* | default-mysql-server*) bad+=("$p→$d") ;;
                esac
        done <<<"$deps"
done
if [ ${#bad[@]} -eq 0 ]; then
        pass "no database server in any package's Depends, Pre-Depends or Recommends"
else
        fail "database servers pulled in: ${bad[*]}"
fi

# Which of the packages' paths exist before installing (only shared directories should).
cat "${CONTENTS[@]}" | sort -u | while read -r f; do
        [ -e "$f" ] || [ -L "$f" ] && echo "$f"
done >"$TMP/existed-before"

# ---------------------------------------------------------------------------
# 4. Install
if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# lvss test-deb: no service starts while installing\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        OWN_POLICY=1
fi
# Processes running the installed lvssd (other tests run theirs from build trees)
# (one find over /proc: the machine may run thousands of processes)
own_lvssd_pids() {
        find /proc -mindepth 2 -maxdepth 2 -name exe -lname /usr/sbin/lvssd 2>/dev/null | cut -d/ -f3
}
echo "==> dpkg -i ${PACKAGES[*]}"
INSTALLED=1
debs=()
for p in "${PACKAGES[@]}"; do debs+=("${DEB[$p]}"); done
if dpkg_locked -i "${debs[@]}" >"$TMP/install.log" 2>&1; then
        pass "dpkg -i of the seven packages"
else
        cat "$TMP/install.log"
        die "dpkg -i failed (above)"
fi
notok=()
for p in "${PACKAGES[@]}"; do
        s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
        [ "$s" = "install ok installed" ] || notok+=("$p: $s")
        dpkg -L "$p" >"$BUILD_DEB/filelists/$p.list"
done
if [ ${#notok[@]} -eq 0 ]; then
        pass "every package is 'install ok installed'; file lists in $BUILD_DEB/filelists/"
else
        fail "not installed: ${notok[*]}"
fi

if dpkg-query -W -f='${Conffiles}\n' lvss | grep -q '^ /etc/lvss/lvssd.conf '; then
        pass "/etc/lvss/lvssd.conf is a conffile of lvss"
else
        fail "/etc/lvss/lvssd.conf is not a conffile of lvss"
fi
if getent group lvss >/dev/null && grep -qx 'RequesterGroup=lvss' /etc/lvss/lvssd.conf; then
        pass "postinst made the system group lvss ($(getent group lvss)), the installed lvssd.conf names it"
else
        fail "group lvss: '$(getent group lvss)', lvssd.conf says: $(grep RequesterGroup /etc/lvss/lvssd.conf)"
fi
if [ -z "$(own_lvssd_pids)" ]; then
        pass "no /usr/sbin/lvssd started by the maintainer scripts"
else
        fail "an installed lvssd runs after dpkg -i: pid $(own_lvssd_pids | tr '\n' ' ')"
fi

# ---------------------------------------------------------------------------
# 5. liblvss-dev: a requester built with pkg-config against the installed files
cat >"$TMP/api.c" <<'EOF'
#include <stdio.h>
#include <lvss/vss.h>

int main(void) {
        /* a symbol of each version node: LVSS_0.1 and LVSS_0.2 */
        void *a = (void *) vss_create_backup_components;
        void *b = (void *) vss_backup_components_get_writer_components_count;
        printf("%s\n", a && b ? "linked" : "missing");
        return a && b ? 0 : 1;
}
EOF
pc=$(pkg-config --cflags --libs lvss 2>"$TMP/cc.log") || pc=
read -r -a pcflags <<<"$pc"
if [ -n "$pc" ] && cc -Wall -Werror -o "$TMP/api" "$TMP/api.c" "${pcflags[@]}" 2>>"$TMP/cc.log" &&
        [ "$("$TMP/api")" = linked ] &&
        ldd "$TMP/api" >"$TMP/ldd.log" && grep -Eq "liblvss\.so\.0 => (/usr)?/lib/$MULTIARCH/liblvss\.so\.0 " "$TMP/ldd.log"; then
        pass "a program built with pkg-config lvss links the installed liblvss.so.0"
else
        cat "$TMP/cc.log" "$TMP/ldd.log"
        fail "building against liblvss-dev failed (above)"
fi

# ---------------------------------------------------------------------------
# 6. The installed programs: lvssd, lvss-writer-sqlite, vshadow, vssadmin
export LVSS_SOCKET=$TMP/lvssd.sock
mkdir -p "$TMP/state" "$TMP/data"
# the installed configuration (/etc/lvss/lvssd.conf), a private socket and state directory
/usr/sbin/lvssd --foreground --socket "$LVSS_SOCKET" --state-dir "$TMP/state" >"$TMP/lvssd.log" 2>&1 &
LVSSD_PID=$!
ready=
for _ in $(seq 150); do
        kill -0 "$LVSSD_PID" 2>/dev/null || { cat "$TMP/lvssd.log"; die "the installed lvssd exited during start-up"; }
        if [ -S "$LVSS_SOCKET" ] && /usr/bin/vssadmin list writers >/dev/null 2>&1; then
                ready=1
                break
        fi
        sleep 0.1
done
[ -n "$ready" ] || { cat "$TMP/lvssd.log"; die "the installed lvssd did not answer on $LVSS_SOCKET within 15 s"; }
pass "the installed /usr/sbin/lvssd answers on $LVSS_SOCKET (state in $TMP/state)"

sqlite3 "$TMP/data/app.db" 'PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
        INSERT INTO t (v) VALUES ("one"), ("two"), ("three");' >/dev/null || die "cannot create $TMP/data/app.db"
/usr/bin/lvss-writer-sqlite --instance pkgtest "$TMP/data/app.db" 2>"$TMP/writer.log" &
WRITER_PID=$!
subscribed=
for _ in $(seq 150); do
        kill -0 "$WRITER_PID" 2>/dev/null || { cat "$TMP/writer.log"; die "the installed lvss-writer-sqlite exited"; }
        if out=$(/usr/bin/vssadmin list writers 2>/dev/null) && grep -q "^Writer name: 'SQLite'" <<<"$out"; then
                subscribed=1
                break
        fi
        sleep 0.1
done
[ -n "$subscribed" ] || { cat "$TMP/writer.log"; die "the installed lvss-writer-sqlite did not subscribe within 15 s"; }
pass "the installed lvss-writer-sqlite subscribed"

# The checker runs inside vshadow -exec, while the shadow copy exists.
cat >"$TMP/check.sh" <<'EOF'
#!/bin/sh
set -u
shadow=${LVSS_SHADOW_1:?vshadow did not set LVSS_SHADOW_1}
[ -f "$shadow/app.db" ] || { echo "check: no $shadow/app.db"; exit 1; }
mkdir "$TEST_TMP/restore" && cp "$shadow"/app.db* "$TEST_TMP/restore/" || exit 1
ok=$(sqlite3 "$TEST_TMP/restore/app.db" 'PRAGMA integrity_check') || exit 1
rows=$(sqlite3 "$TEST_TMP/restore/app.db" 'SELECT count(*) FROM t') || exit 1
echo "check: integrity_check: $ok, rows: $rows"
[ "$ok" = ok ] && [ "$rows" = 3 ]
EOF
chmod +x "$TMP/check.sh"
echo "==> /usr/bin/vshadow -wi=SQLite -exec=check.sh $TMP/data"
if TEST_TMP=$TMP /usr/bin/vshadow -wi=SQLite -exec="$TMP/check.sh" "$TMP/data" >"$TMP/vshadow.log" 2>&1; then
        pass "vshadow (installed): the backup with the installed writer, the shadow copy's database intact"
else
        cat "$TMP/vshadow.log"
        fail "vshadow failed (above)"
fi
cat "$TMP/vshadow.log"
if grep -q "^  Writer 'SQLite' (instance 'pkgtest') (required): \[1\] Stable, last error: " "$TMP/vshadow.log"; then
        pass "vshadow's summary: writer SQLite (pkgtest) Stable after the backup"
else
        fail "vshadow's summary has no Stable SQLite writer"
fi
if out=$(/usr/bin/vssadmin list writers 2>&1) && grep -q "State: \[1\] Stable" <<<"$out" &&
        grep -q "Last error: No error" <<<"$out"; then
        pass "vssadmin list writers (installed): the writer is Stable, no error"
else
        echo "$out"
        fail "vssadmin list writers: the writer is not Stable without error (above)"
fi

# The requester group as installed: RequesterGroup=lvss in /etc/lvss/lvssd.conf
# and the group postinst made agree (WS-14: root and the requester group request).
gid=$(getent group lvss | cut -d: -f3)
nobody=$(id -u nobody)
nogroup=$(getent group nogroup | cut -d: -f3)
out=$(setpriv --reuid="$nobody" --regid="$nogroup" --clear-groups /usr/bin/vssadmin list writers 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "may not act as" <<<"$out"; then
        pass "an unprivileged user outside group lvss is refused: $(head -n 1 <<<"$out")"
else
        fail "an unprivileged user outside group lvss was not refused (status $rc): $out"
fi
out=$(setpriv --reuid="$nobody" --regid="$nogroup" --groups="$gid" /usr/bin/vssadmin list writers 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q "^Writer name: 'SQLite'" <<<"$out"; then
        pass "the same user in group lvss lists the writers"
else
        fail "a member of group lvss was refused (status $rc): $out"
fi

stop_process lvss-writer-sqlite "$WRITER_PID"
WRITER_PID=
stop_process lvssd "$LVSSD_PID"
LVSSD_PID=
if grep -q "session" "$TMP/lvssd.log"; then
        pass "lvssd's log names the session"
else
        cat "$TMP/lvssd.log"
        fail "lvssd logged no session"
fi

# ---------------------------------------------------------------------------
# 7. Purge
echo "==> dpkg --purge ${PURGE_ORDER[*]}"
if purge_all >"$TMP/purge.log" 2>&1 && [ -z "$(installed_packages)" ]; then
        pass "dpkg --purge of the seven packages"
else
        cat "$TMP/purge.log"
        fail "dpkg --purge failed or left packages: $(installed_packages | tr '\n' ' ')"
fi
left=()
while read -r f; do
        case $f in "" | /.) continue ;; esac
        if [ -e "$f" ] || [ -L "$f" ]; then
                grep -qxF "$f" "$TMP/existed-before" || left+=("$f")
        fi
done < <(cat "$BUILD_DEB"/filelists/*.list | sort -u)
for d in /etc/lvss /var/lib/lvss /run/lvss /usr/libexec/lvss /usr/include/lvss; do
        [ -e "$d" ] && left+=("$d")
done
while read -r f; do
        left+=("$f")
done < <(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
        -name '*lvss*' 2>/dev/null)
if [ ${#left[@]} -eq 0 ]; then
        pass "nothing left after the purge ($(cat "$BUILD_DEB"/filelists/*.list | sort -u | wc -l) paths of dpkg -L checked)"
else
        fail "left after the purge: ${left[*]}"
fi
if getent group lvss >/dev/null; then
        pass "the system group lvss stays after the purge (debian/lvss.postrm)"
else
        fail "the purge removed the system group lvss"
fi

#!/usr/bin/env bash
# Installs the Debian packages lvss needs to build, test and run its demo.
# Does nothing when they are all there; otherwise `apt-get update` once, then install.
set -euo pipefail

packages=(
        meson ninja-build gcc pkg-config
        libsystemd-dev libsqlite3-dev libxml2-dev
        libcmocka-dev
        # issue 11: --json output of the tools
        libjson-c-dev
        libbtrfsutil-dev btrfs-progs
        sqlite3
        valgrind
        # issue 9: the application writers and their tests start these
        # servers themselves (never the machine's service), and restic for
        # examples/restic
        postgresql-15 postgresql-client-15 libpq-dev
        mariadb-server mariadb-client libmariadb-dev
        restic
        # issue 10: the hypervisor-agent tests run the real qemu-guest-agent
        # (outside a VM, on its own socket); the exec provider's filesystem
        # freeze is tested on loop-mounted ext4 and xfs
        qemu-guest-agent xfsprogs e2fsprogs
        # issue 11 §4: make lint (scripts/lint.sh)
        clang-tidy cppcheck python3
        # issue 12 §1: make deb / make check-deb (debian/, tests/packaging/)
        debhelper dpkg-dev fakeroot lintian
        # issue 12 §3: the metrics test scrapes lvssd's textfile through the
        # real node_exporter, started by the test on its own port
        prometheus-node-exporter
)

missing=()
for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
                missing+=("$p")
        fi
done

if [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
        exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# Debian's postinst scripts start the services they install (postgresql,
# mariadb). lvss's tests start their own servers and must never depend on, or
# collide with, the machine's: deny every service start while installing,
# unless a policy is already in place.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# lvss install-deps: no service starts while installing\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
fi
cleanup() {
        if [ "$own_policy" -eq 1 ]; then
                rm -f "$policy"
        fi
}
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Installs the Debian packages lvss needs to build, test and run its demo.
# Does nothing when they are all there; otherwise `apt-get update` once, then install.
set -euo pipefail

packages=(
        meson ninja-build gcc pkg-config
        libsystemd-dev libsqlite3-dev libxml2-dev
        libcmocka-dev
        libbtrfsutil-dev btrfs-progs
        sqlite3
        valgrind
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

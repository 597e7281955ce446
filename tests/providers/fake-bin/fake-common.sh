# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sourced by the fake commands (lvcreate, zfs, ...) that test-exec puts first
# in PATH to run the example provider programs without LVM or ZFS. The test
# links them into DIR/bin; each call is appended, one line, to DIR/calls.log,
# and the answers come from the fake system state in DIR/world:
#   mounts          TARGET SOURCE FSTYPE, one mount per line
#   lvs             VG LV SEGTYPE, one logical volume per line
#   zfs-datasets    file system datasets, one name per line
#   zfs-snapshots   snapshots (DATASET@NAME), one per line
# The fakes call only real tools (awk, grep, mv), never one another.

FAKE_ROOT=${0%/*}/..
FAKE_WORLD=$FAKE_ROOT/world
FAKE_NAME=${0##*/}

fake_line=$FAKE_NAME
for fake_arg in "$@"; do
        fake_line="$fake_line $fake_arg"
done
printf '%s\n' "$fake_line" >>"$FAKE_ROOT/calls.log"

fake_fail() {
        printf 'fake %s: %s\n' "$FAKE_NAME" "$*" >&2
        exit 99
}

# Adds line $2 to world file $1.
fake_add() {
        printf '%s\n' "$2" >>"$FAKE_WORLD/$1"
}

# Removes every line of world file $1 whose field $2 is $3; 1 when none was there.
fake_remove() {
        touch "$FAKE_WORLD/$1"
        awk -v f="$2" -v v="$3" '$f != v' "$FAKE_WORLD/$1" >"$FAKE_WORLD/$1.new"
        if cmp -s "$FAKE_WORLD/$1" "$FAKE_WORLD/$1.new"; then
                rm -f "$FAKE_WORLD/$1.new"
                return 1
        fi
        mv "$FAKE_WORLD/$1.new" "$FAKE_WORLD/$1"
}

# Is there a line in world file $1 whose field $2 is $3?
fake_has() {
        [ -f "$FAKE_WORLD/$1" ] && awk -v f="$2" -v v="$3" '$f == v { found = 1 } END { exit !found }' "$FAKE_WORLD/$1"
}

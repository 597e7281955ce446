#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Writes the seed corpus of fuzz-components (tests/fuzz-corpus/components/)
# in the encoding described at the top of fuzz-components.c: a flags byte,
# the variant's signature, then its value. Run from anywhere:
#   tests/fuzz/gen-components-seeds.py [DIR]

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seedenc import b, entry, s, u32, write_seeds  # noqa: E402


def component(entries):
    """One a{sv}: a count byte, then the entries."""
    return bytes([len(entries)]) + b''.join(entries)


def components(items, read_only=False):
    """A whole input: flags, "aa{sv}", a count byte, the components."""
    return b(read_only) + s('aa{sv}') + bytes([len(items)]) + b''.join(items)


FULL = component([
    entry('type', 'u', u32(2)),
    entry('logical_path', 's', s('etc')),
    entry('name', 's', s('config')),
    entry('selected', 'b', b(True)),
    entry('backup_succeeded', 'b', b(True)),
    entry('backup_metadata', 's', s('<meta/>')),
    entry('backup_stamp', 's', s('lsn=42')),
    entry('previous_backup_stamp', 's', s('lsn=41')),
    entry('restore_metadata', 's', s('rm')),
    entry('file_restore_status', 'u', u32(1)),
    entry('pre_restore_failure_msg', 's', s('pre')),
    entry('post_restore_failure_msg', 's', s('post')),
])

MINIMAL = component([entry('type', 'u', u32(1)), entry('name', 's', s('main'))])

SEEDS = {
    'good-empty': components([]),
    'good-one': components([MINIMAL]),
    'good-full': components([FULL]),
    'good-full-read-only': components([FULL, MINIMAL], read_only=True),
    'good-unknown-key': components([component([
        entry('name', 's', s('db')),
        entry('future_key', 'a(sv)', bytes([1]) + s('x') + s('i') + u32(7)),
        entry('another', 'v', s('as') + bytes([2]) + s('a') + s('b')),
    ])]),
    'good-utf8': components([component([entry('name', 's', s('d\u00e9j\u00e0 \U0001f600'))])]),
    # issue 11 §2: what lvssd sends in a restore (file_restore_status, no optional strings)
    'good-restore': components([component([
        entry('type', 'u', u32(2)),
        entry('logical_path', 's', s('')),
        entry('name', 's', s('data')),
        entry('selected', 'b', b(False)),
        entry('backup_succeeded', 'b', b(True)),
        entry('file_restore_status', 'u', u32(3)),
    ])]),
    # present but empty optional strings stay present ("" is not absent on the wire)
    'good-empty-strings': components([component([
        entry('name', 's', s('n')),
        entry('backup_metadata', 's', s('')),
        entry('post_restore_failure_msg', 's', s('')),
    ])]),
    'bad-no-name': components([component([])]),
    'bad-empty-name': components([component([entry('name', 's', s(''))])]),
    'bad-duplicate-key': components([component([entry('name', 's', s('a')), entry('name', 's', s('b'))])]),
    'bad-type-range': components([component([entry('name', 's', s('a')), entry('type', 'u', u32(3))])]),
    'bad-status-range': components([component([entry('name', 's', s('a')),
                                               entry('file_restore_status', 'u', u32(4))])]),
    # U+FFFE: well-formed UTF-8, but a non-character (basic/utf8.h). sd-bus 252
    # refuses to build it (a peer cannot send it), so the run ends early; kept
    # so that an sd-bus that lets it through meets the reader's own check.
    'bad-noncharacter': components([component([entry('name', 's', s('a')),
                                               entry('backup_stamp', 's', '\ufffe'.encode() + b'\0')])]),
    'bad-second-component': components([MINIMAL, component([entry('name', 'u', u32(1))])]),
    'bad-wrong-type-name': components([component([entry('name', 'u', u32(5))])]),
    'bad-wrong-type-selected': components([component([entry('name', 's', s('a')), entry('selected', 'u', u32(1))])]),
    'bad-wrong-type-type': components([component([entry('name', 's', s('a')), entry('type', 's', s('FILEGROUP'))])]),
    'bad-not-array': b'\0' + s('s') + s('hello'),
    'bad-array-of-strings': b'\0' + s('as') + bytes([1]) + s('x'),
    'bad-dict-of-ints': b'\0' + s('aa{su}') + bytes([1, 1]) + s('type') + u32(1),
    'bad-nested-variant': b'\0' + s('v') + s('aa{sv}') + bytes([0]),
}


def main():
    write_seeds(SEEDS, 'components')


if __name__ == '__main__':
    main()

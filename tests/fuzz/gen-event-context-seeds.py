#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Writes the seed corpus of fuzz-event-context (tests/fuzz-corpus/event-context/)
# in the encoding of tests/fuzz/dbus-value.h: the value's signature, then the
# value. The good-* seeds are the contexts lvssd packs (the cases of
# src/protocol/test-event-context.c, which checks them against what lvssd sends,
# entry for entry and in order); the bad-* seeds are what the reader refuses.
# Run from anywhere:
#   tests/fuzz/gen-event-context-seeds.py [DIR]

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seedenc import array, b, entry, i32, s, u32, write_seeds  # noqa: E402


def context(entries):
    """A whole input: "a{sv}", then the entries."""
    return s('a{sv}') + array(entries)


SET_ID = bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe])


def set_id(raw=SET_ID):
    return entry('snapshot_set_id', 'ay', bytes([len(raw)]) + raw)


def backup_state(backup_type=1, select=True, bootable=False, partial=True, ctx=0):
    """The five entries always sent (SetBackupState, the context)."""
    return [
        entry('backup_type', 'u', u32(backup_type)),
        entry('select_components', 'b', b(select)),
        entry('bootable_system_state', 'b', b(bootable)),
        entry('partial_file_support', 'b', b(partial)),
        entry('context', 'i', i32(ctx)),
    ]


VOLUMES = entry('volumes', 'as', array([s('/srv/a'), s('/srv/b')]))
SNAPSHOT_VOLUMES = entry('snapshot_volumes', 'a(ssb)', array([
    s('/srv/a') + s('copy') + b(False),
    s('/srv/b') + s('btrfs') + b(True),
]))
SNAPSHOT_PATHS = entry('snapshot_paths', 'a{ss}', array([s('/srv/a') + s('/srv/.lvss/a')]))


def component(entries):
    return array(entries)


BACKUP_COMPONENTS = entry('components', 'aa{sv}', array([
    component([
        entry('type', 'u', u32(1)),
        entry('logical_path', 's', s('')),
        entry('name', 's', s('main')),
        entry('selected', 'b', b(True)),
        entry('backup_succeeded', 'b', b(True)),
        entry('backup_metadata', 's', s('<m/>')),
        entry('backup_stamp', 's', s('lsn=7')),
    ]),
    component([
        entry('type', 'u', u32(2)),
        entry('logical_path', 's', s('etc')),
        entry('name', 's', s('config')),
        entry('selected', 'b', b(True)),
        entry('backup_succeeded', 'b', b(False)),
        entry('previous_backup_stamp', 's', s('lsn=3')),
    ]),
]))

RESTORE_COMPONENTS = entry('components', 'aa{sv}', array([
    component([
        entry('type', 'u', u32(1)),
        entry('logical_path', 's', s('')),
        entry('name', 's', s('main')),
        entry('selected', 'b', b(True)),
        entry('backup_succeeded', 'b', b(False)),
        entry('backup_metadata', 's', s('<m/>')),
        entry('restore_metadata', 's', s('r')),
        entry('file_restore_status', 'u', u32(2)),
    ]),
]))

SEEDS = {
    # Identify, or any event before StartSnapshotSet
    'good-backup-without-set': context(backup_state(bootable=True, ctx=11)),
    # PrepareForBackup after StartSnapshotSet and AddToSnapshotSet
    'good-backup-set-started': context(backup_state() + [set_id(), VOLUMES, BACKUP_COMPONENTS]),
    # PrepareForSnapshot, Freeze, Thaw
    'good-backup-set-prepared': context(backup_state() + [
        set_id(), VOLUMES, SNAPSHOT_VOLUMES,
        entry('set_atomic', 'b', b(False)), entry('auto_recovery', 'b', b(True)),
        BACKUP_COMPONENTS]),
    # PostSnapshot, BackupComplete
    'good-backup-set-with-paths': context(backup_state(backup_type=2, select=False) + [
        set_id(), VOLUMES, SNAPSHOT_VOLUMES,
        entry('set_atomic', 'b', b(True)), entry('auto_recovery', 'b', b(False)),
        SNAPSHOT_PATHS, BACKUP_COMPONENTS]),
    # StartSnapshotSet only: the entries there, empty
    'good-backup-set-empty': context(backup_state() + [
        set_id(bytes(16)), entry('volumes', 'as', array([])),
        entry('snapshot_paths', 'a{ss}', array([])), entry('components', 'aa{sv}', array([]))]),
    # PreRestore, PostRestore
    'good-restore': context(backup_state(backup_type=0, partial=False) + [
        entry('restore_type', 'u', u32(1)), RESTORE_COMPONENTS]),
    'good-empty': context([]),
    # a newer lvssd: more keys, more types; clamped to "undefined"
    'good-unknown-keys': context([
        entry('future', 'a(sv)', array([s('x') + s('i') + i32(7)])),
        entry('backup_typ', 'u', u32(3)),
        entry('nested', 'v', s('as') + array([s('a')])),
        entry('backup_type', 'u', u32(7)),
        entry('restore_type', 'u', u32(0xffffffff)),
    ]),
    # a key twice counts the last time, in any order
    'good-repeated-keys': context([
        entry('volumes', 'as', array([s('/old')])),
        entry('snapshot_paths', 'a{ss}', array([s('/b') + s('/copy-b')])),
        entry('backup_type', 'u', u32(4)),
        entry('volumes', 'as', array([s('/a'), s('/b')])),
        entry('backup_type', 'u', u32(5)),
    ]),
    'bad-wrong-type-backup-type': context([entry('backup_type', 'i', i32(1))]),
    'bad-wrong-type-select': context(backup_state()[:1] + [entry('select_components', 'u', u32(1))]),
    'bad-wrong-type-context': context([entry('context', 'u', u32(0))]),
    'bad-set-id-15-bytes': context([set_id(SET_ID[:15])]),
    'bad-set-id-string': context([entry('snapshot_set_id', 's', s('0123456789abcdef'))]),
    'bad-volumes-object-paths': context([entry('volumes', 'ao', array([s('/srv')]))]),
    'bad-snapshot-volumes-pairs': context([entry('snapshot_volumes', 'a(ss)', array([s('/a') + s('copy')]))]),
    'bad-snapshot-paths-struct': context([entry('snapshot_paths', 'a(ss)', array([s('/a') + s('/c')]))]),
    'bad-components-no-name': context([entry('components', 'aa{sv}', array([component([
        entry('type', 'u', u32(1))])]))]),
    'bad-components-strings': context([entry('components', 'as', array([s('main')]))]),
    'bad-not-a-dict': s('s') + s('backup_type'),
    'bad-dict-of-strings': s('a{ss}') + array([s('backup_type') + s('1')]),
    'bad-in-a-variant': s('v') + s('a{sv}') + array([entry('backup_type', 'u', u32(1))]),
}


def main():
    write_seeds(SEEDS, 'event-context')


if __name__ == '__main__':
    main()

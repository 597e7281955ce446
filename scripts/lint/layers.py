#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""make lint, "layers": lvssd's layers run one way (issue 11 §2, docs/design.md "The layers").

Usage: scripts/lint/layers.py COMPILE_COMMANDS.json   (scripts/lint.sh runs it)

Every src/coordinator/*.c but the unit tests (test-*.c) has a layer in LAYERS
below; a file may include the headers of src/coordinator/ that belong to its own
layer and to the layers its layer uses (USES, followed down: "bus edge" uses
"session", which uses "fan-out, registry", ...). The includes are followed
through every header with the compiler's own flags (-M -H: the tree of what
it opens), and the file's own #include lines are read too (a header already
opened through another one is not listed again). Anything else fails, naming
the file, the header (and through which header it came), the two layers and
the rule. A new file or header that has no layer here fails too, so that
nobody forgets to place it. An include let through against the rule would be
in EXCEPTIONS, with its reason (docs/design.md, "Known limits of this
layout"), and what such a header includes in turn with it; there is none.
"""

import json
import os
import re
import shlex
import subprocess
import sys

# The layers, top first, and the files of src/coordinator/ in each (docs/design.md, "The layers").
LAYERS = {
    'main': ['main.c'],
    'bus edge': ['server.c', 'session-bus.c', 'admin-bus.c'],
    'external session': ['external.c'],
    'admin': ['admin.c'],
    'bus packing': ['status-bus.c', 'refusal-bus.c'],
    'session': ['session.c', 'session-snapshot.c', 'restore.c', 'session-state.c'],
    'fan-out, registry': ['fanout.c', 'registry.c'],
    'snapshot set': ['snapshot.c'],
    'providers, workers': ['providers.c', 'worker.c'],
    'transport': ['connection.c'],
    'base': ['config.c', 'metrics.c', 'metrics-format.c', 'refusal.c'],
}

# The layers each layer calls by name (what they use in turn is theirs to use too).
USES = {
    'main': ['bus edge'],
    'bus edge': ['external session', 'admin', 'bus packing'],
    'external session': ['session'],
    'admin': ['session'],
    'bus packing': ['session'],
    'session': ['fan-out, registry', 'snapshot set'],
    'fan-out, registry': ['transport'],
    'snapshot set': ['providers, workers'],
    'providers, workers': ['base'],
    'transport': ['base'],
    'base': [],
}

# Headers without a .c file of the same name: their layer. A header whose layer is None
# may be included by no file of lvssd.
HEADERS = {
    'manager.h': 'base',        # the Manager, log_msg()
    'forward.h': 'base',        # the objects' names only
    'answer.h': 'base',         # Pending, Answer: plain C (issue 11 §2)
    'lvssd-config.h': 'base',   # the Config struct
    'storage-hooks.h': 'session',  # StorageHooks: what the session layer asks of admin.c (issue 12 §2)
    'coordinator.h': None,      # every part header, for old branches; lvssd includes it nowhere
}

# What the compiler must not open for these files, even through another header.
BANNED_SYSTEM = {
    'snapshot.c': {'sd-bus.h': 'the snapshot set knows no bus'},
    'session-state.c': {'sd-bus.h': 'the transition table is plain C'},
    'refusal.c': {'sd-bus.h': 'a refusal is plain C: the edge makes its D-Bus error (refusal-bus.c)'},
}

# Code of these files must not name sd-bus (issue 11 §2, D-Bus stays at the edge): no sd_bus_*
# identifier outside comments and strings, whatever their headers include. The edge (server.c,
# session-bus.c, refusal-bus.c, status-bus.c) packs, unpacks and sends for them.
NO_BUS_CODE = {
    'session.c': 'the session layer builds no message: the bus edge packs (session-bus.c, refusal-bus.c)',
    'session-snapshot.c': 'the session layer builds no message: the fan-out packs the event context',
    'session-state.c': 'the transition table is plain C',
    'restore.c': 'the session layer builds no message: the bus edge packs',
    'external.c': 'the external session is driven with a Pending and a Refusal; server.c unpacks its calls',
    'snapshot.c': 'the snapshot set knows no bus',
}
BUS_IDENT = re.compile(r'\bsd_bus_\w*')


def code_only(text):
    """@text without its comments and string literals (each replaced by a space; newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
        elif text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ')
            i = j
        elif text[i] in '"\'':
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == '\\' else 1
            out.append(' ')
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return ''.join(out)


# Includes that still go against the layers, each with its reason (docs/design.md, "Known limits").
# None left: retention and room reach admin.c through Manager.storage_hooks, the status struct is
# packed by status-bus.c, the external provider's ops are in providers.c. Form:
# {'file.c': {'header.h': 'why'}}.
EXCEPTIONS = {}

RULE = 'issue 11 §2, the layers run one way: docs/design.md "The layers", the table in scripts/lint/layers.py'


def closure(layer):
    seen, todo = {layer}, [layer]
    while todo:
        for below in USES[todo.pop()]:
            if below not in seen:
                seen.add(below)
                todo.append(below)
    return seen


def fail(msg):
    print('lint: layers: ' + msg, file=sys.stderr)


def main():
    if len(sys.argv) != 2:
        print('usage: layers.py COMPILE_COMMANDS.json', file=sys.stderr)
        return 2
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
    coord = os.path.join(root, 'src', 'coordinator')
    ok = True

    layer_of = {}
    for layer, files in LAYERS.items():
        for f in files:
            layer_of[f] = layer
    if set(USES) != set(LAYERS):
        fail('LAYERS and USES name different layers')
        return 1

    sources = sorted(f for f in os.listdir(coord) if f.endswith('.c') and not f.startswith('test-'))
    for f in sources:
        if f not in layer_of:
            fail(f'src/coordinator/{f} has no layer: give it one in scripts/lint/layers.py (LAYERS) '
                 'and in docs/design.md "The layers"')
            ok = False
    for f in sorted(layer_of):
        if f not in sources:
            fail(f'scripts/lint/layers.py names src/coordinator/{f}, which is not there')
            ok = False

    header_layer = dict(HEADERS)
    for h in sorted(f for f in os.listdir(coord) if f.endswith('.h')):
        c = h[:-2] + '.c'
        if c in layer_of:
            header_layer[h] = layer_of[c]
        elif h not in HEADERS:
            fail(f'src/coordinator/{h} has no layer: give it one in scripts/lint/layers.py (HEADERS)')
            ok = False

    entries = {}
    for entry in json.load(open(sys.argv[1])):
        path = os.path.normpath(os.path.join(entry['directory'], entry['file']))
        if os.path.dirname(path) == coord and os.path.basename(path) in layer_of:
            entries.setdefault(os.path.basename(path), entry)

    reported = set()

    def check(f, h, via):
        """@f includes @h (a header of src/coordinator/), through @via (None: itself)."""
        if (f, h) in reported:
            return False
        where = f' (through {via})' if via else ''
        mine = layer_of[f]
        if h not in header_layer:
            return True  # reported above
        theirs = header_layer[h]
        if theirs is None:
            reported.add((f, h))
            fail(f'src/coordinator/{f} includes {h}{where}: no file of lvssd may ({RULE})')
            return False
        if theirs in closure(mine):
            return True
        if h in EXCEPTIONS.get(f, {}):
            return True
        reported.add((f, h))
        how = 'upward: ' if mine in closure(theirs) else ''
        fail(f'src/coordinator/{f} ({mine}) includes {h}{where}, of the {theirs} layer: {how}'
             f'the {mine} layer does not use it ({RULE})')
        return False

    for f in sorted(layer_of):
        if f not in sources:
            continue
        if f not in entries:
            fail(f'src/coordinator/{f} is not in the compile database: its includes are not checked')
            ok = False
            continue
        entry = entries[f]
        args, out, skip = shlex.split(entry['command']) if 'command' in entry else list(entry['arguments']), [], False
        for a in args:  # the same compiler and flags, listing the headers instead of compiling
            if skip:
                skip = False
            elif a in ('-o', '-MQ', '-MF', '-MT'):
                skip = True
            elif a not in ('-c', '-MD', '-MMD'):
                out.append(a)
        r = subprocess.run(out + ['-M', '-H'], cwd=entry['directory'], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f'cannot list the headers of src/coordinator/{f}:\n' + r.stderr)
            ok = False
            continue

        # The tree -H draws: "<dots> path", one dot per level. A header opened inside an excepted
        # one is let through with it.
        stack = []  # (depth, basename, excepted)
        for line in r.stderr.splitlines():
            m = re.match(r'^(\.+) (.*)$', line)
            if not m:
                continue
            depth, path = len(m.group(1)), os.path.normpath(os.path.join(entry['directory'], m.group(2)))
            while stack and stack[-1][0] >= depth:
                stack.pop()
            base = os.path.basename(path)
            excepted = any(e for _, _, e in stack)
            via = stack[0][1] if stack else None
            if base in BANNED_SYSTEM.get(f, {}) and (f, base) not in reported:
                reported.add((f, base))
                fail(f'src/coordinator/{f} includes {path}' + (f' (through {via})' if via else '') +
                     f': {BANNED_SYSTEM[f][base]} ({RULE})')
                ok = False
            if os.path.dirname(path) == coord:
                if not excepted and not check(f, base, via):
                    ok = False
                excepted = excepted or base in EXCEPTIONS.get(f, {})
            stack.append((depth, base, excepted))

        if f in NO_BUS_CODE:
            with open(os.path.join(coord, f)) as src:
                for no, line in enumerate(code_only(src.read()).splitlines(), 1):
                    m = BUS_IDENT.search(line)
                    if m:
                        fail(f'src/coordinator/{f}:{no} names {m.group(0)}: {NO_BUS_CODE[f]} ({RULE})')
                        ok = False

        # Its own #include lines (a header opened before through another is not in the tree again).
        with open(os.path.join(coord, f)) as src:
            for line in src:
                m = re.match(r'\s*#\s*include\s+"([^"/]+)"', line)
                if m and os.path.exists(os.path.join(coord, m.group(1))) and not check(f, m.group(1), None):
                    ok = False

    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The encoding of D-Bus values the fuzzers read (tests/fuzz/dbus-value.h: a
# value is its bytes in signature order; an array is a count byte, then its
# values), for the seed generators gen-*-seeds.py.

import os
import struct
import sys


def s(text):
    """A string (s, o, g, a dict key): its bytes, then NUL."""
    return text.encode() + b'\0'


def u32(v):
    return struct.pack('<I', v)


def i32(v):
    return struct.pack('<i', v)


def b(v):
    return bytes([1 if v else 0])


def array(items):
    """An array: a count byte, then the values."""
    return bytes([len(items)]) + b''.join(items)


def entry(key, sig, value):
    """One {sv} dict entry: the key, the variant's signature, its value."""
    return s(key) + s(sig) + value


def write_seeds(seeds, corpus):
    """Writes each seed of @seeds (name: bytes) into argv[1], or tests/fuzz-corpus/@corpus."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'fuzz-corpus', corpus)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)

#!/usr/bin/env bash
# make lint: clang-tidy (.clang-tidy) and cppcheck over lvss's shipped code,
# from the compile database of a build directory. Exits non-zero on any
# finding. Usage: scripts/lint.sh [BUILD-DIR]   (default: build)
#
# The code checked: every C file in the compile database under src/, tools/
# and writers/, except unit tests and fuzzers (test-*.c, fuzz-*.c); tests/ and
# bench/ are left out (they run under ASan/UBSan and valgrind in CI). The
# reasons for each disabled check and each suppression are in .clang-tidy and
# scripts/lint/cppcheck-suppressions.txt.
set -uo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
if [ ! -f "$build/compile_commands.json" ]; then
        echo "lint: no $build/compile_commands.json: run meson setup $build first" >&2
        exit 2
fi
for tool in clang-tidy cppcheck python3; do
        if ! command -v "$tool" >/dev/null; then
                echo "lint: $tool is missing (scripts/install-deps.sh installs it)" >&2
                exit 2
        fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The compile database, cut down to the checked files.
python3 - "$build/compile_commands.json" "$work/compile_commands.json" "$PWD" >"$work/files" <<'PY'
import json, os, sys
src, dst, root = sys.argv[1:4]
keep = []
for entry in json.load(open(src)):
    path = os.path.normpath(os.path.join(entry['directory'], entry['file']))
    rel = os.path.relpath(path, root)
    base = os.path.basename(rel)
    if not rel.startswith(('src/', 'tools/', 'writers/')) or base.startswith(('test-', 'fuzz-')):
        continue
    keep.append(entry)
    print(path)
json.dump(keep, open(dst, 'w'), indent=1)
PY
n=$(wc -l <"$work/files")
jobs=$(nproc 2>/dev/null || echo 2)
status=0

# issue 11 §2: the layers run one way (docs/design.md "The layers"): the snapshot set
# (src/coordinator/snapshot.c, which holds SnapshotSet) knows no session, writer, fan-out or bus.
# Its includes, followed through every header (the compiler's -M), name none of these.
echo "lint: layers (snapshot.c includes no session or bus header)"
if ! python3 - "$work/compile_commands.json" <<'PY'
import json, os, re, shlex, subprocess, sys
banned = {'session.h', 'session-bus.h', 'server.h', 'fanout.h', 'registry.h', 'external.h', 'admin.h',
          'admin-bus.h', 'restore.h', 'sd-bus.h'}
ok, seen = True, False
for entry in json.load(open(sys.argv[1])):
    if not entry['file'].endswith('src/coordinator/snapshot.c'):
        continue
    seen = True
    args = shlex.split(entry['command'])
    out, skip = [], False
    for a in args:  # the same compiler and flags, listing the headers instead of compiling
        if skip:
            skip = False
        elif a in ('-o', '-MQ', '-MF'):
            skip = True
        elif a not in ('-c', '-MD'):
            out.append(a)
    r = subprocess.run(out + ['-M'], cwd=entry['directory'], capture_output=True, text=True)
    if r.returncode != 0:
        print('lint: layers: cannot list the headers of snapshot.c:\n' + r.stderr, file=sys.stderr)
        sys.exit(1)
    for dep in sorted(set(r.stdout.replace('\\\n', ' ').split()[1:])):
        if os.path.basename(dep) in banned:
            print(f'lint: layers: src/coordinator/snapshot.c includes {dep} (issue 11 §2: the snapshot set '
                  'includes no session or bus header; docs/design.md "The layers")', file=sys.stderr)
            ok = False
if not seen:
    print('lint: layers: src/coordinator/snapshot.c is not in the compile database', file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
PY
then
        status=1
fi

echo "lint: clang-tidy on $n files ($jobs at a time)"
# one clang-tidy per file, $jobs in parallel; its output only when it found something
if ! xargs -a "$work/files" -P "$jobs" -I{} sh -c \
        'out=$(clang-tidy -p "$1" --quiet "$2" 2>&1) || { printf "%s\n" "$out" | grep -v "warnings generated"; exit 1; }' \
        sh "$work" {}; then
        echo "lint: clang-tidy found problems (above)" >&2
        status=1
fi

echo "lint: cppcheck on $n files"
if ! cppcheck --enable=warning,portability,performance --error-exitcode=1 --inline-suppr -q -j "$jobs" \
        --library=scripts/lint/cppcheck-lvss.cfg \
        --suppressions-list=scripts/lint/cppcheck-suppressions.txt \
        --project="$work/compile_commands.json"; then
        echo "lint: cppcheck found problems (above)" >&2
        status=1
fi

if [ "$status" -eq 0 ]; then
        echo "lint: clean"
fi
exit "$status"

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

# issue 11 §2: the layers run one way (docs/design.md "The layers"): every src/coordinator/*.c
# (not test-*.c) has a layer in scripts/lint/layers.py, and includes, followed through every
# header (the compiler's -M -H), only the headers of its own layer and of the layers below it
# that it uses.
echo "lint: layers (scripts/lint/layers.py: no coordinator file includes a header of a layer above)"
if ! python3 scripts/lint/layers.py "$work/compile_commands.json"; then
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

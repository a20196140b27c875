#!/usr/bin/env bash
# Checks that every C++ file of ours is formatted as .clang-format says
# (clang-format 14, Debian 12). Run by the test suite (meson test "code-format").
# To format a file: clang-format -i FILE
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is missing: apt-get install clang-format" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null)
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find src include tools tests bench fuzz \( -name '*.cpp' -o -name '*.hpp' \))
# One clang-format process for all files; it names each place that differs.
out=$(clang-format --dry-run -Werror "${files[@]}" 2>&1)
rc=$?
bad=$(printf '%s\n' "$out" | grep -oE '^[^:]+\.(cpp|hpp):' | sort -u)
[ -n "$bad" ] && printf 'not formatted (clang-format -i FILE): %s\n' $bad
echo "format: ${#files[@]} files, $(printf '%s' "$bad" | grep -c .) not formatted"
[ ${#files[@]} -gt 0 ] && [ $rc = 0 ]

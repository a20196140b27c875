#!/usr/bin/env bash
# Checks that every C++ file of ours is formatted as .clang-format says
# (clang-format 14, Debian 12). Run by the test suite (meson test "format").
# To format a file: clang-format -i FILE
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is missing: apt-get install clang-format" >&2; exit 1; }
bad=0
count=0
while IFS= read -r f; do
  count=$((count + 1))
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (clang-format -i $f)"
    bad=$((bad + 1))
  fi
done < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find src include tools tests bench fuzz -name '*.cpp' -o -name '*.hpp')
echo "format: $count files, $bad not formatted"
[ "$count" -gt 0 ] && [ "$bad" = 0 ]

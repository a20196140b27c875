#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, -Dfuzz=true) in build-fuzz
# and runs each one for a bounded time from its committed seed corpus.
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_BUILD_DIR build directory (default build-fuzz)
# Prints one line per target and ends with "fuzz: N passed, M failed".
# Crash inputs are kept in $FUZZ_BUILD_DIR/fuzz-artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
dir=${FUZZ_BUILD_DIR:-build-fuzz}

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=true -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false >"$dir.setup.log" 2>&1 || {
    cat "$dir.setup.log" >&2; echo "fuzz: 0 passed, 1 failed"; exit 1; }
fi
# Only the fuzz targets (and what they link), not the whole project.
mapfile -t targets < <(ninja -C "$dir" -t targets all 2>/dev/null |
  sed -n 's#^\(fuzz/[^/]*/fuzz_[A-Za-z0-9_]*\): .*#\1#p' | sort -u)
if [ ${#targets[@]} -eq 0 ] || ! ninja -C "$dir" "${targets[@]}" >"$dir.build.log" 2>&1; then
  tail -40 "$dir.build.log" >&2
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
passed=0
failed=0
for t in "${targets[@]}"; do
  name=$(basename "$t")
  src=$(dirname "$t")                      # fuzz/<area>
  work="$dir/fuzz-corpus/$name"            # grows; the committed seeds stay as they are
  artifacts="$dir/fuzz-artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  seeds=()
  [ -d "$src/corpus" ] && seeds+=("$src/corpus")
  if "$dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$artifacts" -print_final_stats=1 "$work" "${seeds[@]}" >"$dir/$name.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$name.log")
    echo "fuzz $name: ok (${runs:-?} runs in ${seconds}s)"
    passed=$((passed + 1))
  else
    echo "fuzz $name: FAILED (log: $dir/$name.log)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$dir/$name.log" | head -20
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]

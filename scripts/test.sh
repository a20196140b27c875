#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing packages, builds two
# configurations (release-like with -Werror, and ASan+UBSan), runs every meson
# test in both, and ends with one line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

RECVAULT_WITH_FUZZ=1 scripts/deps.sh || exit 1
modprobe fuse 2>/dev/null || true
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp

setup() {  # dir, meson options...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null || return 1
  else
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
}

passed=0
failed=0
status=0
run_config() {  # dir, meson options...
  local dir=$1; shift
  echo "== building $dir" >&2
  if ! setup "$dir" "$@" || ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    tail -50 "$dir.build.log" 2>/dev/null >&2
    echo "== $dir: build failed" >&2
    failed=$((failed + 1)); status=1
    return
  fi
  echo "== testing $dir" >&2
  meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir.test.log" 2>&1 || status=1
  grep -E '^ *[0-9]+/[0-9]+ ' "$dir.test.log" >&2
  local ok fail xfail upass tout
  ok=$(awk '/^Ok:/ {print $2}' "$dir.test.log"); ok=${ok:-0}
  xfail=$(awk '/^Expected Fail:/ {print $3}' "$dir.test.log"); xfail=${xfail:-0}
  fail=$(awk '/^Fail:/ {print $2}' "$dir.test.log"); fail=${fail:-0}
  upass=$(awk '/^Unexpected Pass:/ {print $3}' "$dir.test.log"); upass=${upass:-0}
  tout=$(awk '/^Timeout:/ {print $2}' "$dir.test.log"); tout=${tout:-0}
  if [ "$fail" != 0 ] || [ "$tout" != 0 ]; then
    sed -n '/^Summary of Failures/,$p' "$dir.test.log" >&2
    grep -B2 -A40 -E 'FAILED|ERROR|Timeout' "$dir.test.log" | head -200 >&2
  fi
  passed=$((passed + ok + xfail))
  failed=$((failed + fail + upass + tout))
}

run_config build-ci -Dbuildtype=debugoptimized -Dwerror=true
run_config build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true

# libFuzzer targets, bounded; each target counts as one test.
run_fuzz() {
  echo "== fuzzing (${FUZZ_SECONDS:-15}s per target)" >&2
  FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh >build-fuzz.log 2>&1 || status=1
  grep -E '^fuzz ' build-fuzz.log >&2
  local line ok fail
  line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' build-fuzz.log | tail -1)
  ok=$(echo "$line" | awk '{print $2}'); ok=${ok:-0}
  fail=$(echo "$line" | awk '{print $4}'); fail=${fail:-1}
  passed=$((passed + ok))
  failed=$((failed + fail))
}
run_fuzz

echo "$passed passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ]

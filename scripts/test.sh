#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing packages, builds two
# configurations, runs every meson test in both, fuzzes each libFuzzer target
# briefly, and ends with one line "N passed, M failed".
#
#   build-sanitized  clang, ASan + UBSan, -O0, -Werror, and -Dfuzz=true: the
#                    libFuzzer targets and libFuzzer's coverage instrumentation
#                    in every target (so one build serves tests and fuzzers);
#                    a unity build (753 CPU s instead of 981 on 2 cores; build-ci
#                    compiles file by file, so a missing include still fails)
#   build-ci         gcc, -O2 without debug info, -Werror (two compilers'
#                    warnings; the tests also run against optimised code)
#
# The stages run one after another. Overlapping them (the next build at idle
# CPU priority beside the previous tests) saved nothing on a 2-core machine:
# the FUSE tests took up to four times as long beside a compiler
# (reliability-fsx 20 -> 82 s), eating what the build gained.
#
#   build-ci ─ test build-ci ─ build build-sanitized ─ test build-sanitized ─ fuzz
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/narrate.sh

say "recvault test suite: packages, two builds (gcc -O2, clang ASan+UBSan), every test in both, 15 s of fuzzing per target"
say "on 2 cores this takes about 18 minutes from a clean clone (builds about 9 of them); re-runs rebuild only what changed"
say "1/6 checking the Debian packages (installs the missing ones)"
RECVAULT_WITH_FUZZ=1 scripts/deps.sh || fail_step "installing packages" \
  "run as root on Debian 12 with network access to its mirror, or install the packages named above yourself"
modprobe fuse 2>/dev/null || true
[ -e /dev/fuse ] || fail_step "no /dev/fuse: the mount tests cannot run" \
  "load the FUSE module (modprobe fuse); in a container, start it with --device /dev/fuse --cap-add SYS_ADMIN"
[ "$(id -u)" = 0 ] || fail_step "not root: the mount tests need it" "run: sudo bash scripts/test.sh"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp

# tests/meson.build says how test code itself is compiled.
sanitized_options=(-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true -Dfuzz=true -Dunity=on)
# build-ci has prefix /usr: tests/package packages what it built (debian/rules RECVAULT_PREBUILT).
ci_options=(-Doptimization=2 -Ddebug=false -Dwerror=true --prefix=/usr)

passed=0
failed=0
status=0
stamp() { say "$*"; }

build() {  # dir, meson options... ; output in dir.build.log (CC/CXX apply to a new dir)
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson configure "$dir" "$@"; else meson setup "$dir" "$@"; fi \
    >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log" >"$dir.build.log"; return 1; }
  ninja_progress "$dir" "$dir.build.log"
}

build_failed() {  # dir
  tail -50 "$1.build.log" >&2
  echo "FAILED: building $1 (log: $1.build.log)" >&2
  echo "  fix: a missing library: run scripts/deps.sh as root; a compiler error or warning (-Werror): fix the code above" >&2
  failed=$((failed + 1)); status=1
}

run_tests() {  # dir, step label
  local dir=$1 label=${2:-}
  stamp "${label}testing $dir: $(meson test -C "$dir" --list 2>/dev/null | grep -c /) tests, two at a time (each line as it ends)"
  # Each finished test's line as it ends; everything in $dir.test.log.
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 2>&1 | tee "$dir.test.log" |
    grep --line-buffered -E '^ *[0-9]+/[0-9]+ ' >&2
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  local ok fail xfail upass tout
  ok=$(awk '/^Ok:/ {print $2}' "$dir.test.log"); ok=${ok:-0}
  xfail=$(awk '/^Expected Fail:/ {print $3}' "$dir.test.log"); xfail=${xfail:-0}
  fail=$(awk '/^Fail:/ {print $2}' "$dir.test.log"); fail=${fail:-0}
  upass=$(awk '/^Unexpected Pass:/ {print $3}' "$dir.test.log"); upass=${upass:-0}
  tout=$(awk '/^Timeout:/ {print $2}' "$dir.test.log"); tout=${tout:-0}
  if [ "$fail" != 0 ] || [ "$tout" != 0 ]; then
    sed -n '/^Summary of Failures/,$p' "$dir.test.log" >&2
    grep -B2 -A40 -E 'FAILED|ERROR|Timeout' "$dir.test.log" | head -200 >&2
    # A daemon that stopped with an error: the end of its log (daemon_harness.hpp).
    sed -n '/^---- recvaultd stopped/,/^----$/p' "$dir.test.log" | head -120 >&2
  fi
  passed=$((passed + ok + xfail))
  failed=$((failed + fail + upass + tout))
}

stamp "2/6 building build-ci (gcc -O2, -Werror; about 5 minutes the first time)"
if build build-ci "${ci_options[@]}"; then run_tests build-ci "3/6 "; else build_failed build-ci; fi

stamp "4/6 building build-sanitized (clang, ASan + UBSan, libFuzzer; about 5 minutes the first time)"
if CC=clang CXX=clang++ build build-sanitized "${sanitized_options[@]}"; then
  san_ok=1
  run_tests build-sanitized "5/6 "
else
  san_ok=0; build_failed build-sanitized
fi

# libFuzzer targets, bounded; each target counts as one test.
if [ $san_ok = 1 ]; then
  stamp "6/6 fuzzing (${FUZZ_SECONDS:-15}s per target)"
  FUZZ_BUILD_DIR=build-sanitized FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh >build-fuzz.log 2>&1 || status=1
  grep -E '^fuzz ' build-fuzz.log >&2
  line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' build-fuzz.log | tail -1)
  ok=$(echo "$line" | awk '{print $2}'); ok=${ok:-0}
  fail=$(echo "$line" | awk '{print $4}'); fail=${fail:-1}
  passed=$((passed + ok))
  failed=$((failed + fail))
fi
stamp "done"

echo "$passed passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ]

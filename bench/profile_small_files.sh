#!/usr/bin/env bash
# System calls recvaultd makes per small recording: strace -c -f on the
# daemon while fsbench creates N 64 KiB recordings, then again while it reads
# them back after the page cache was dropped. The counts are deterministic
# (docs/PERFORMANCE.md "small_files: what bounds it" records them).
#
#   bench/profile_small_files.sh [N]   (default 200 files; an existing build dir,
#                                      RECVAULT_BUILD_DIR, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-200}
command -v strace >/dev/null || { echo "strace is not installed" >&2; exit 1; }
bench_build --quick
bench_workspace profile
start_recvault
"$fsbench" small_files "${dir[recvault]}" 5 >/dev/null  # the account's key derived, the dirs known
rm -rf "${dir[recvault]}/small"
profile() {  # label fsbench-workload
  strace -c -f -p "$rv_pid" -o "$W/$1.strace" 2>/dev/null &
  local st=$!
  sleep 1
  "$fsbench" "$2" "${dir[recvault]}" "$n" >/dev/null
  kill -INT "$st"
  wait "$st" 2>/dev/null || true
  echo "== $1: system calls of recvaultd per file ($n files)"
  # "% time  seconds  usecs/call  calls  [errors]  syscall"
  awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $4 / n >= 0.1 { printf "%-16s %7.2f\n", $NF, $4 / n }' "$W/$1.strace" | sort -k2 -rn
}
profile create small_files
drop_caches
profile read small_files_read

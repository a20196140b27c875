#!/usr/bin/env bash
# System calls recvaultd makes per small recording: strace -c -f on the
# daemon while fsbench creates N 64 KiB recordings, then again while it reads
# them back after the page cache was dropped. The counts are deterministic
# (docs/PERFORMANCE.md "small_files: what bounds it" records them). Then the
# disk reads per file of a cold read back, recvault's and the raw
# directory's (/proc/diskstats of the disk under the workspace; without
# strace, whose slowness would let other work on the disk count).
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
# Disk reads (requests and KiB) per file of a cold read back.
disk=$(basename "$(findmnt -no SOURCE --target "$W")")
disk_reads() { awk -v d="$disk" '$3 == d { print $4, $6 }' /proc/diskstats; }
"$fsbench" small_files "${dir[raw]}" "$n" >/dev/null
echo "== disk reads per file read back cold ($disk, $n files)"
for t in raw recvault; do
  drop_caches
  read -r r0 s0 < <(disk_reads)
  "$fsbench" small_files_read "${dir[$t]}" "$n" >/dev/null
  read -r r1 s1 < <(disk_reads)
  awk -v t="$t" -v r=$((r1 - r0)) -v s=$((s1 - s0)) -v n="$n" \
    'BEGIN { printf "%-16s %7.2f requests %7.1f KiB\n", t, r / n, s / 2 / n }'
done

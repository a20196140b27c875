#!/usr/bin/env bash
# The recorder-platform benchmark: recvault vs gocryptfs vs the raw directory,
# on the same disk, interleaved (raw, recvault, gocryptfs, raw, ...), page
# caches dropped before reads, every byte verified. Prints medians, ratios to
# raw and to gocryptfs, daemon CPU seconds per GB, and daemon RSS with 1,000
# recordings open. See docs/PERFORMANCE.md.
#
#   bench/run_fs_bench.sh            full run (3 rounds; ~10 min on 2 cores)
#   bench/run_fs_bench.sh --quick    tiny sizes, 1 round: a correctness check (used by the test suite)
#
# RECVAULT_BENCH_DIR chooses where the three targets live (default /var/tmp).
# RECVAULT_BENCH_SHARED=DIR puts the data of all three (the raw directory,
# recvault's backing dir, gocryptfs's cipher dir) in DIR instead, a network
# file system's mount (GlusterFS), with recvaultd in [storage] shared = true;
# keystore, sockets and mounts stay in RECVAULT_BENCH_DIR.
# WORKLOADS="seq_read small_files" runs a subset (names as in the table; rss
# is the 1,000-open-recordings probe); ROUNDS=n the number of rounds; SEQ_MIB
# the size of the sequential file (default 1024).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick = 1 ]; then
  build=${RECVAULT_BUILD_DIR:-build}
  rounds=1
  SEQ_MIB=16 RR_COUNT=300 REC64="8 200" REC256="16 100" SMALL=100 HOLD=50
else
  RECVAULT_WITH_BENCH=1 scripts/deps.sh
  build=build-bench
  [ -f $build/build.ninja ] || meson setup $build -Dbuildtype=release >/dev/null
  ninja -C $build src/daemon/recvaultd bench/fsbench tools/ctl/recvaultctl >/dev/null
  rounds=${ROUNDS:-3}
  SEQ_MIB=${SEQ_MIB:-1024} RR_COUNT=20000 REC64="64 2000" REC256="256 500" SMALL=5000 HOLD=1000
fi
fsbench=$build/bench/fsbench
recvaultd=$build/src/daemon/recvaultd
ctl=$build/tools/ctl/recvaultctl
have_gocryptfs=0
command -v gocryptfs >/dev/null && have_gocryptfs=1

W=$(mktemp -d "${RECVAULT_BENCH_DIR:-/var/tmp}/recvault-bench.XXXXXX")
# Where the data goes: beside the rest, or on the shared file system.
D=$W shared_line=""
if [ -n "${RECVAULT_BENCH_SHARED:-}" ]; then
  D=$(mktemp -d "$RECVAULT_BENCH_SHARED/recvault-bench.XXXXXX")
  shared_line="shared = true"
fi
rv_pid="" gc_pid=""
cleanup() {
  [ -n "$rv_pid" ] && kill -TERM "$rv_pid" 2>/dev/null && wait "$rv_pid" 2>/dev/null
  [ -n "$gc_pid" ] && { fusermount3 -u "$W/gc/plain" 2>/dev/null || umount -l "$W/gc/plain" 2>/dev/null; wait "$gc_pid" 2>/dev/null; }
  grep -qs " $W/rv/mnt " /proc/mounts && umount -l "$W/rv/mnt"
  rm -rf "$W"
  [ "$D" = "$W" ] || rm -rf "$D"
}
trap cleanup EXIT

wait_mount() {
  for _ in $(seq 200); do grep -qs " $1 fuse" /proc/mounts && return 0; sleep 0.05; done
  echo "mount at $1 did not appear" >&2; return 1
}

# --- recvault -------------------------------------------------------------------------------
mkdir -p "$D/raw" "$D/rv/backing" "$W/rv/mnt" "$W/rv/keystore"
head -c 32 /dev/urandom | xxd -p -c 64 >"$W/rv/master.key"
head -c 32 /dev/urandom | xxd -p -c 64 >"$W/rv/jwt.secret"
chmod 600 "$W/rv/master.key" "$W/rv/jwt.secret"
cat >"$W/rv/recvault.toml" <<TOML
[storage]
backing_dir = "$D/rv/backing"
mount_point = "mnt"
$shared_line
[keystore]
path = "keystore"
master_key_file = "master.key"
[control]
socket = "control.sock"
jwt_hs256_secret_file = "jwt.secret"
audit_log = "audit.log"
[log]
level = "warn"
TOML
"$recvaultd" -f -c "$W/rv/recvault.toml" 2>"$W/rv/daemon.log" &
rv_pid=$!
wait_mount "$W/rv/mnt"
token=$("$ctl" token mint --secret-file "$W/rv/jwt.secret" --sub bench --accounts '*' --scope admin)
RECVAULT_TOKEN=$token "$ctl" --socket "$W/rv/control.sock" --account bench --json config enable >/dev/null
mkdir "$W/rv/mnt/bench"
targets=(raw recvault)
declare -A dir=([raw]="$D/raw" [recvault]="$W/rv/mnt/bench")
declare -A pid=([recvault]=$rv_pid)

# --- gocryptfs (same disk) --------------------------------------------------------------------
if [ $have_gocryptfs = 1 ]; then
  mkdir -p "$D/gc/cipher" "$W/gc/plain"
  gocryptfs -init -q -extpass "echo bench-passphrase" -scryptn 10 "$D/gc/cipher" >/dev/null
  gocryptfs -fg -q -extpass "echo bench-passphrase" "$D/gc/cipher" "$W/gc/plain" &
  gc_pid=$!
  wait_mount "$W/gc/plain"
  targets+=(gocryptfs)
  dir[gocryptfs]="$W/gc/plain"
  pid[gocryptfs]=$gc_pid
else
  echo "gocryptfs not installed: comparing with the raw directory only" >&2
fi

cpu_seconds() {  # utime + stime of a pid, in seconds
  [ -n "${1:-}" ] || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

results="$W/results.tsv"
: >"$results"
run() {  # target label workload args...
  local t=$1 label=$2; shift 2
  local before after out
  before=$(cpu_seconds "${pid[$t]:-}")
  out=$("$fsbench" "$1" "${dir[$t]}" "${@:2}")
  after=$(cpu_seconds "${pid[$t]:-}")
  printf '%s\n' "$out" | python3 -c '
import json, sys
t, label, cpu = sys.argv[1], sys.argv[2], float(sys.argv[3])
for line in sys.stdin:
    r = json.loads(line)
    rate = [v for k, v in r.items() if k.endswith("_per_s")][0]
    print("\t".join(map(str, [t, label, r["MBps"], rate, cpu, r["MBps"] * r["seconds"]])))
' "$t" "$label" "$(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}')" >>"$results"
}

# --- daemon memory with many recordings open (fresh daemons, before anything else) -----------
rss_report="$W/rss.tsv"
: >"$rss_report"
for t in "${targets[@]}"; do
  { [ "$t" = raw ] || ! { [ -z "${WORKLOADS:-}" ] || [[ " $WORKLOADS " == *" rss "* ]]; }; } && continue
  rm -f "$W/hold.in" "$W/hold.out"
  mkfifo "$W/hold.in"
  "$fsbench" hold_open "${dir[$t]}" "$HOLD" <"$W/hold.in" >"$W/hold.out" &
  hold_pid=$!
  exec 9>"$W/hold.in"
  for _ in $(seq 600); do grep -qs hold_open "$W/hold.out" && break; sleep 0.1; done
  awk -v t="$t" '/VmRSS|VmHWM/ {print t "\t" $1 "\t" $2}' "/proc/${pid[$t]}/status" >>"$rss_report"
  exec 9>&-
  wait "$hold_pid"
  rm -f "${dir[$t]}"/open-*.wav
done

want() { [ -z "${WORKLOADS:-}" ] || [[ " $WORKLOADS " == *" $1 "* ]]; }
for round in $(seq "$rounds"); do
  if want seq_write || want seq_read || want random_read; then
    for t in "${targets[@]}"; do run "$t" seq_write seq_write "$SEQ_MIB"; done
    want seq_write || sed -i '/\tseq_write\t/d' "$results"
  fi
  if want seq_read; then
    for t in "${targets[@]}"; do drop_caches; run "$t" seq_read seq_read "$SEQ_MIB"; done
  fi
  if want random_read; then
    for t in "${targets[@]}"; do drop_caches; run "$t" random_read random_read "$SEQ_MIB" "$RR_COUNT"; done
  fi
  for t in "${targets[@]}"; do rm -f "${dir[$t]}/seq.bin"; done
  # shellcheck disable=SC2086
  if want recorders_64; then
    for t in "${targets[@]}"; do run "$t" recorders_64 recorders $REC64; rm -f "${dir[$t]}"/call-*.wav; done
  fi
  # shellcheck disable=SC2086
  if want recorders_256; then
    for t in "${targets[@]}"; do run "$t" recorders_256 recorders $REC256; rm -f "${dir[$t]}"/call-*.wav; done
  fi
  if want small_files || want small_files_read; then
    for t in "${targets[@]}"; do run "$t" small_files small_files "$SMALL"; done
    want small_files || sed -i '/\tsmall_files\t/d' "$results"
    if want small_files_read; then
      for t in "${targets[@]}"; do drop_caches; run "$t" small_files_read small_files_read "$SMALL"; done
    fi
    for t in "${targets[@]}"; do rm -rf "${dir[$t]}/small"; done
  fi
done

python3 "$root/bench/summarize.py" "$results" "$rss_report"
if [ $quick = 1 ]; then
  grep -q recvault "$results" && echo "quick benchmark: every workload ran and verified"
fi

#!/usr/bin/env bash
# How stale another host's view is, on shared backing storage: two recvaultd
# ("host A" and "host B", [storage] shared = true, one keystore) over two
# client mounts of one network file system volume; A writes, B polls until
# the bytes read back exact (fsbench staleness: a reader opening anew, a
# reader holding the recording open, a recording A closed), and the same
# straight on the two client mounts (the file system's own part). Reports
# p50/p99/max milliseconds. See docs/CLUSTER.md "Staleness bound" and
# docs/PERFORMANCE.md.
#
#   bench/run_staleness.sh MOUNT_A MOUNT_B           100 samples per mode
#   bench/run_staleness.sh --quick MOUNT_A MOUNT_B   5 samples (a correctness check, used by
#                                                     shared-storage-gluster)
#
# MOUNT_A and MOUNT_B: two client mounts of one volume (e.g. two
# `mount -t glusterfs` of it). SAMPLES=n overrides the count; FLUSH_MS and
# ATTR_TIMEOUT set both daemons' tail_flush_interval_ms and attr_timeout
# (default: the daemon's defaults); MODES="open held closed" a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
  bench_build --quick
else
  bench_build
fi
[ $# = 2 ] && [ -d "$1" ] && [ -d "$2" ] || { echo "usage: $0 [--quick] MOUNT_A MOUNT_B" >&2; exit 1; }
samples=${SAMPLES:-$([ $quick = 1 ] && echo 5 || echo 100)}
modes=${MODES:-open held closed}

W=$(mktemp -d "${RECVAULT_BENCH_DIR:-/var/tmp}/recvault-staleness.XXXXXX")
sub=$(basename "$W")
A="$1/$sub" B="$2/$sub"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for h in a b; do grep -qs " $W/$h/mnt " /proc/mounts && umount -l "$W/$h/mnt"; done
  rm -rf "$W" "$A"
}
trap cleanup EXIT
mkdir -p "$A/raw" "$A/backing" "$W/keystore"
head -c 32 /dev/urandom | xxd -p -c 64 >"$W/master.key"
head -c 32 /dev/urandom | xxd -p -c 64 >"$W/jwt.secret"
chmod 600 "$W/master.key" "$W/jwt.secret"
for h in a b; do
  backing=$A/backing
  [ $h = b ] && backing=$B/backing
  mkdir -p "$W/$h/mnt"
  cat >"$W/$h/recvault.toml" <<TOML
[storage]
backing_dir = "$backing"
mount_point = "mnt"
shared = true
${FLUSH_MS:+tail_flush_interval_ms = $FLUSH_MS}
[fuse]
${ATTR_TIMEOUT:+attr_timeout = $ATTR_TIMEOUT}
[keystore]
path = "$W/keystore"
master_key_file = "$W/master.key"
[control]
socket = "control.sock"
jwt_hs256_secret_file = "$W/jwt.secret"
audit_log = "audit.log"
[log]
level = "warn"
TOML
  "$recvaultd" -f -c "$W/$h/recvault.toml" >/dev/null 2>"$W/$h/daemon.log" &
  pids+=($!)
  wait_mount "$W/$h/mnt"
  if [ $h = a ]; then
    token=$("$ctl" token mint --secret-file "$W/jwt.secret" --sub bench --accounts '*' --scope admin)
    RECVAULT_TOKEN=$token "$ctl" --socket "$W/a/control.sock" --account bench --json config enable >/dev/null
    mkdir "$W/a/mnt/bench"
  fi
done
for _ in $(seq 600); do [ -d "$W/b/mnt/bench" ] && break; sleep 0.1; done

echo "staleness: $samples samples per mode, tail_flush_interval_ms=${FLUSH_MS:-default}," \
  "attr_timeout=${ATTR_TIMEOUT:-default}, $(nproc) cores, $(uptime | sed 's/.*load/load/')"
printf '%-9s %-7s %8s %9s %9s %9s\n' target mode samples "p50 ms" "p99 ms" "max ms"
for t in raw recvault; do
  for m in $modes; do
    if [ $t = raw ]; then
      line=$("$fsbench" staleness "$A/raw" "$B/raw" "$samples" "$m")
    else
      line=$("$fsbench" staleness "$W/a/mnt/bench" "$W/b/mnt/bench" "$samples" "$m")
    fi
    printf '%s\n' "$line" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("%-9s %-7s %8d %9.1f %9.1f %9.1f" % (sys.argv[1], r["mode"], r["samples"], r["p50_ms"], r["p99_ms"], r["max_ms"]))
' "$t"
  done
done
for h in a b; do
  if grep -q "EIO\|integrity\|failed" "$W/$h/daemon.log"; then
    echo "host $h's daemon logged failures:" >&2
    cat "$W/$h/daemon.log" >&2
    exit 1
  fi
done
[ $quick = 1 ] && echo "quick staleness benchmark: every sample read back exact on the other host"
exit 0

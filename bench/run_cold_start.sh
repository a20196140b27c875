#!/usr/bin/env bash
# Cold start across accounts: N accounts with one recording each, the daemon
# restarted, then 16 threads read the first 4 KiB of every recording and start
# one new recording per account. Reports the time from the restart to the
# mount, the time to the last byte, daemon CPU and peak RSS, for:
#   kept          derived keys kept in the keystore (the default)
#   derive_2      keep_derived_keys = false: every version derived again, 2 at once
#   derive_16     keep_derived_keys = false, 16 at once (what every start did
#                 before derived keys were kept: one scrypt per FUSE worker)
#   raw           the same files in a plain directory (the baseline)
# See docs/PERFORMANCE.md "Cold start".
#
#   bench/run_cold_start.sh            1,000 accounts (ACCOUNTS=n to change)
#   bench/run_cold_start.sh --quick    20 accounts, a correctness check
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
if [ "${1:-}" = "--quick" ]; then
  bench_build --quick
  accounts=${ACCOUNTS:-20}
else
  bench_build
  accounts=${ACCOUNTS:-1000}
fi
bench_workspace cold
mount_s=""
stop_daemon() {
  [ -n "$rv_pid" ] || return 0
  kill -TERM "$rv_pid" 2>/dev/null || true
  wait "$rv_pid" 2>/dev/null || true
  rv_pid=""
}

start_daemon() {  # keep_derived_keys max_parallel_derivations; sets rv_pid and mount_s (seconds to the mount)
  write_recvault_config "keep_derived_keys = $1
max_parallel_derivations = $2"
  local t0
  t0=$(date +%s.%N)
  "$recvaultd" -f -c "$W/rv/recvault.toml" >/dev/null 2>>"$W/rv/daemon.log" &
  rv_pid=$!
  for _ in $(seq 600); do grep -qs " $W/rv/mnt fuse" /proc/mounts && break; sleep 0.02; done
  grep -qs " $W/rv/mnt fuse" /proc/mounts || { echo "the mount did not appear (log: $W/rv/daemon.log)" >&2; exit 1; }
  mount_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')
}
seconds_of() { python3 -c 'import json,sys; print("%.2f" % json.loads(sys.stdin.read())["seconds"])'; }

echo "cold start: $accounts accounts, one 64 KiB recording each ($(nproc) cores; $(uptime | sed 's/.*load/load/'))"
start_daemon true 2
token=$("$ctl" token mint --secret-file "$W/rv/jwt.secret" --sub bench --accounts '*' --scope admin)
export RECVAULT_TOKEN=$token
seq 0 $((accounts - 1)) | xargs -P 4 -I{} "$ctl" --socket "$W/rv/control.sock" --account acct-{} --json config enable \
  >/dev/null
setup=$("$fsbench" accounts_write "$W/rv/mnt" "$accounts" | seconds_of)
"$fsbench" accounts_write "$W/raw" "$accounts" >/dev/null
echo "set-up: accounts enabled and written in ${setup} s (derivations in the background)"
stop_daemon

printf '%-10s %10s %16s %12s %14s %18s\n' mode "mount (s)" "last byte (s)" "CPU (s)" "peak RSS (MiB)" "derived/restored"
for mode in kept derive_2 derive_16; do
  case $mode in
    kept) keep=true parallel=2 ;;
    derive_2) keep=false parallel=2 ;;
    derive_16) keep=false parallel=16 ;;
  esac
  drop_caches
  start_daemon $keep $parallel
  read_s=$("$fsbench" accounts_first_read "$W/rv/mnt" "$accounts" | seconds_of)
  cpu=$(cpu_seconds "$rv_pid")
  hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$rv_pid/status")
  derived=$("$ctl" --socket "$W/rv/control.sock" --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)
s = s.get("status", s)
print(s["key_derivations"], s["keys_restored"])')
  if [ $mode = kept ] && [ "$derived" != "0 $accounts" ]; then
    echo "FAILED: a restart with kept derived keys derived/restored $derived, expected 0 $accounts" >&2
    exit 1
  fi
  printf '%-10s %10s %16s %12s %14s %18s\n' "$mode" "$mount_s" "$read_s" "$cpu" "$hwm" "${derived/ //}"
  rm -f "$W"/rv/mnt/acct-*/new.wav
  stop_daemon
done
drop_caches
read_s=$("$fsbench" accounts_first_read "$W/raw" "$accounts" | seconds_of)
printf '%-10s %10s %16s %12s %14s\n' raw - "$read_s" - -
[ "${1:-}" = "--quick" ] && echo "quick cold-start benchmark: every mode ran and verified"
exit 0

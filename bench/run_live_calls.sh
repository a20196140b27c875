#!/usr/bin/env bash
# Live calls in real time: N calls, each appending one 320-byte frame (20 ms
# of 8 kHz 16-bit audio) every 20 ms, start times spread over one period, for
# D seconds, on the raw directory, recvault and gocryptfs (same disk, one run).
# Reports write() latency p50/p99/p99.9/max, the writes slower than one period
# ("late": audio a real recorder would drop or delay), and the daemon's CPU
# seconds per call-hour; draws the latency distributions (gnuplot, when
# installed) into $RECVAULT_BENCH_OUT (default bench/out). See
# docs/PERFORMANCE.md "Live calls".
#
#   bench/run_live_calls.sh            N = 256 and 1,000, 20 s each (CALLS="..." SECONDS_PER_RUN=n)
#   bench/run_live_calls.sh --quick    16 calls for 2 s: a correctness check (used by the test suite)
#
# RECVAULT_BENCH_BASELINE=REV adds the daemon of git revision REV as a target
# (bench/lib.sh start_baseline): a change judged against its baseline in one
# run (RECVAULT_BENCH_BASELINE_FIRST=1: the baseline runs before recvault,
# to alternate the order between runs). RECVAULT_BENCH_GOCRYPTFS=0 leaves gocryptfs out (its 1,000 calls load
# the machine for the targets after it). Writes slower than 5 ms are listed
# per target in $out/live-TARGET-N.slow (time, call, ms).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
if [ "${1:-}" = "--quick" ]; then
  bench_build --quick
  calls=${CALLS:-16} seconds=${SECONDS_PER_RUN:-2}
else
  bench_build
  calls=${CALLS:-256 1000} seconds=${SECONDS_PER_RUN:-20}
fi
out=${RECVAULT_BENCH_OUT:-bench/out}
mkdir -p "$out"
bench_workspace live
if [ -n "${RECVAULT_BENCH_BASELINE:-}" ] && [ "${RECVAULT_BENCH_BASELINE_FIRST:-0}" = 1 ]; then
  start_baseline "$RECVAULT_BENCH_BASELINE"  # runs before recvault: alternate to cancel a drifting load
  start_recvault
else
  start_recvault
  [ -z "${RECVAULT_BENCH_BASELINE:-}" ] || start_baseline "$RECVAULT_BENCH_BASELINE"
fi
[ "${RECVAULT_BENCH_GOCRYPTFS:-1}" = 0 ] || start_gocryptfs
ulimit -n 65536 2>/dev/null || true

echo "live calls: ${seconds} s per run, $(nproc) cores, $(uptime | sed 's/.*load/load/')"
printf '%-10s %6s %9s %9s %9s %9s %9s %6s %16s\n' target calls writes "p50 ms" "p99 ms" "p99.9 ms" "max ms" late \
  "CPU s/call-hour"
for n in $calls; do
  for t in "${targets[@]}"; do
    before=$(cpu_seconds "${pid[$t]:-}")
    line=$(FSBENCH_CDF="$out/live-$t-$n.cdf" FSBENCH_SLOW="$out/live-$t-$n.slow" "$fsbench" live_calls "${dir[$t]}" "$n" "$seconds")
    after=$(cpu_seconds "${pid[$t]:-}")
    printf '%s\n' "$line" | python3 -c '
import json, sys
t, n, secs, cpu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
r = json.loads(sys.stdin.read())
per_hour = "-" if t == "raw" else "%.1f" % (cpu / (n * secs / 3600.0))
print("%-10s %6d %9d %9.3f %9.3f %9.3f %9.1f %6d %16s" % (t, n, r["writes"], r["p50_ms"], r["p99_ms"],
      r["p999_ms"], r["max_ms"], r["late"], per_hour))
' "$t" "$n" "$seconds" "$(awk -v a="$after" -v b="$before" 'BEGIN{print a-b}')"
    rm -f "${dir[$t]}"/live-*.wav
  done
done
if command -v gnuplot >/dev/null; then
  for n in $calls; do
    gnuplot -e "out='$out/live-calls-$n.svg'; dir='$out'; n='$n'; files='${targets[*]}'" bench/plot_live_calls.gp
    echo "chart: $out/live-calls-$n.svg"
  done
fi
[ "${1:-}" = "--quick" ] && echo "quick live-calls benchmark: every target ran and verified"
exit 0

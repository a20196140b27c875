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
# is the 1,000-open-recordings probe; listing lists LIST=10000 recordings);
# ROUNDS=n the number of rounds; SEQ_MIB the size of the sequential file
# (default 1024). Every workload runs on raw, recvault, recvault-names (an
# account with encrypted names), gocryptfs and securefs (each when installed).
# RECVAULT_BENCH_BASELINE=REV adds the daemon of git revision REV as one more
# target (an A/B of a change in one interleaved run; the table gets a column
# recvault/recvault@REV). The ratio table is also drawn as a chart (gnuplot,
# bench/plot_ratios.gp): it goes to $RECVAULT_BENCH_OUT/fs-ratios.svg
# (default bench/out/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

. bench/lib.sh
quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick = 1 ]; then
  bench_build --quick
  rounds=1
  SEQ_MIB=16 RR_COUNT=300 REC64="8 200" REC256="16 100" SMALL=100 HOLD=50 LIST=100
else
  bench_build
  rounds=${ROUNDS:-3}
  SEQ_MIB=${SEQ_MIB:-1024} RR_COUNT=20000 REC64="64 2000" REC256="256 500" SMALL=${SMALL:-5000} HOLD=1000 LIST=${LIST:-10000}
fi
bench_workspace bench
start_recvault
# The same daemon, an account with encrypted names (docs/FORMAT.md §12).
RECVAULT_TOKEN=$("$ctl" token mint --secret-file "$W/rv/jwt.secret" --sub bench --accounts '*' --scope admin) \
  "$ctl" --socket "$W/rv/control.sock" --account benchnames --json config set --enabled true \
  --name-encryption true >/dev/null
mkdir "$W/rv/mnt/benchnames"
targets+=(recvault-names)
dir[recvault-names]="$W/rv/mnt/benchnames"
pid[recvault-names]=$rv_pid
[ -z "${RECVAULT_BENCH_BASELINE:-}" ] || start_baseline "$RECVAULT_BENCH_BASELINE"
start_gocryptfs
[ $quick = 1 ] || start_securefs

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
  { [ "$t" = raw ] || [ "$t" = recvault-names ] || ! { [ -z "${WORKLOADS:-}" ] || [[ " $WORKLOADS " == *" rss "* ]]; }; } && continue
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
# --quick keeps the suite short: the encrypted-names account runs only the
# workloads names change (creating and listing many files).
on() { [ "$1" != recvault-names ] || [ $quick = 0 ] || [[ " small_files small_files_read listing " == *" $2 "* ]]; }
for round in $(seq "$rounds"); do
  if want seq_write || want seq_read || want random_read; then
    for t in "${targets[@]}"; do on "$t" seq_write || continue; run "$t" seq_write seq_write "$SEQ_MIB"; done
    want seq_write || sed -i '/\tseq_write\t/d' "$results"
  fi
  if want seq_read; then
    for t in "${targets[@]}"; do on "$t" seq_read || continue; drop_caches; run "$t" seq_read seq_read "$SEQ_MIB"; done
  fi
  if want random_read; then
    for t in "${targets[@]}"; do on "$t" random_read || continue; drop_caches; run "$t" random_read random_read "$SEQ_MIB" "$RR_COUNT"; done
  fi
  for t in "${targets[@]}"; do rm -f "${dir[$t]}/seq.bin"; done
  # shellcheck disable=SC2086
  if want recorders_64; then
    for t in "${targets[@]}"; do on "$t" recorders_64 || continue; run "$t" recorders_64 recorders $REC64; rm -f "${dir[$t]}"/call-*.wav; done
  fi
  # shellcheck disable=SC2086
  if want recorders_256; then
    for t in "${targets[@]}"; do on "$t" recorders_256 || continue; run "$t" recorders_256 recorders $REC256; rm -f "${dir[$t]}"/call-*.wav; done
  fi
  if want small_files || want small_files_read; then
    for t in "${targets[@]}"; do run "$t" small_files small_files "$SMALL"; done
    want small_files || sed -i '/\tsmall_files\t/d' "$results"
    if want small_files_read; then
      for t in "${targets[@]}"; do drop_caches; run "$t" small_files_read small_files_read "$SMALL"; done
    fi
    for t in "${targets[@]}"; do rm -rf "${dir[$t]}/small"; done
  fi
  if want listing; then
    for t in "${targets[@]}"; do
      drop_caches
      run "$t" listing listing "$LIST"
      rm -rf "${dir[$t]}/listing"
    done
    sed -i '/\tlisting_create\t/d' "$results"
  fi
done

python3 "$root/bench/summarize.py" "$results" "$rss_report" "$W/ratios.tsv"
if [ $quick = 0 ] && command -v gnuplot >/dev/null; then
  chart=${RECVAULT_BENCH_OUT:-bench/out}/fs-ratios.svg
  mkdir -p "$(dirname "$chart")"
  gnuplot -e "out='$chart'; data='$W/ratios.tsv'; ncol=$(head -1 "$W/ratios.tsv" | awk -F'\t' '{print NF}'); title='recvault and the others as a ratio to the raw directory ($(date -u +%F), load $(cut -d' ' -f1 /proc/loadavg))'" \
    bench/plot_ratios.gp
  echo "chart: $chart"
fi
if [ $quick = 1 ]; then
  grep -q recvault "$results" && echo "quick benchmark: every workload ran and verified"
fi

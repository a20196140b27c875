# Shared by scripts/demo.sh and scripts/test.sh: say what is happening, show
# a build's progress, and on a failed step say what failed and how to fix it.
# Everything goes to stderr, so a script's stdout stays its result.

narrate_start=$(date +%s)

# say "text": one line, with the time since the script started.
say() {
  local t=$(( $(date +%s) - narrate_start ))
  printf '== [%2d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*" >&2
}

# fail_step "what failed" "how to fix it" [log file]: the last lines of the
# log, then the two sentences, then exit 1.
fail_step() {
  local what=$1 fix=$2 log=${3:-}
  if [ -n "$log" ] && [ -s "$log" ]; then
    echo "---- last lines of $log ----" >&2
    tail -25 "$log" >&2
    echo "----" >&2
  fi
  echo "FAILED: $what" >&2
  echo "  fix: $fix" >&2
  [ -n "$log" ] && echo "  full log: $log" >&2
  exit 1
}

# ninja_progress DIR LOG [targets...]: runs ninja, writing its output to LOG
# and a progress line ("[ 120/480]  25%") to the terminal. Returns ninja's status.
ninja_progress() {
  local dir=$1 log=$2; shift 2
  local tty=0
  [ -t 2 ] && tty=1
  NINJA_STATUS='[%f/%t] ' ninja -C "$dir" "$@" 2>&1 | tee "$log" | awk -v tty="$tty" '
    match($0, /^\[[0-9]+\/[0-9]+\] /) {
      split(substr($0, 2, RLENGTH - 3), n, "/")
      pct = int(100 * n[1] / n[2])
      if (tty) {
        printf "\r   building: %d/%d files (%d%%)   ", n[1], n[2], pct > "/dev/stderr"
      } else if (pct >= last + 10 || n[1] == n[2]) {
        printf "   building: %d/%d files (%d%%)\n", n[1], n[2], pct > "/dev/stderr"
        last = pct
      }
      fflush("/dev/stderr")
    }
    END { if (tty) printf "\n" > "/dev/stderr" }'
  return "${PIPESTATUS[0]}"
}

# Shared by the bench/run_*.sh runners (sourced, not run): the build, the
# three targets (a raw directory, a recvault mount, a gocryptfs mount on the
# same disk) and the measurements taken of their daemons.
#
#   bench_build [--quick]     sets build, fsbench, recvaultd, ctl (quick: the
#                             suite's build dir, no package installs)
#   bench_workspace NAME      W=<new temp dir>, cleaned up at exit; D=W, or with
#                             RECVAULT_BENCH_SHARED=DIR a new dir in DIR (a network
#                             file system): the targets' data (raw dir, recvault's
#                             backing dir with shared = true, gocryptfs's cipher dir)
#   start_recvault [TOML]     a recvaultd on $W/rv with an enabled account
#                             "bench"; extra TOML lines go into the config;
#                             sets rv_pid, dir[recvault], pid[recvault]
#   start_baseline REV        with RECVAULT_BENCH_BASELINE=REV: another target,
#                             "recvault@REV", the daemon of git revision REV
#                             (built once into /var/tmp) on $W/rvb, so that a
#                             change is judged against its baseline in one run
#   start_gocryptfs           the same for gocryptfs when installed
#   start_securefs            the same for securefs when installed (Debian's
#                             securefs package; format 4, the default)
#   cpu_seconds PID           utime + stime in seconds (0 for no pid)
#   drop_caches               sync and drop the page cache
#
# shellcheck shell=bash
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
declare -A dir=() pid=()
targets=()
rv_pid="" gc_pid="" base_pid="" sf_pid=""

bench_build() {
  if [ "${1:-}" = "--quick" ]; then
    build=${RECVAULT_BUILD_DIR:-build}
  else
    RECVAULT_WITH_BENCH=1 "$bench_root/scripts/deps.sh"
    build=${RECVAULT_BENCH_BUILD:-build-bench}  # an existing optimised build dir may be given
    [ -f $build/build.ninja ] || meson setup $build -Dbuildtype=release >/dev/null
    ninja -C $build src/daemon/recvaultd bench/fsbench tools/ctl/recvaultctl >/dev/null
  fi
  fsbench=$build/bench/fsbench
  recvaultd=$build/src/daemon/recvaultd
  ctl=$build/tools/ctl/recvaultctl
}

bench_cleanup() {
  [ -n "$rv_pid" ] && kill -TERM "$rv_pid" 2>/dev/null && wait "$rv_pid" 2>/dev/null
  [ -n "$base_pid" ] && kill -TERM "$base_pid" 2>/dev/null && wait "$base_pid" 2>/dev/null
  grep -qs " $W/rvb/mnt " /proc/mounts && umount -l "$W/rvb/mnt"
  [ -n "$gc_pid" ] && { fusermount3 -u "$W/gc/plain" 2>/dev/null || umount -l "$W/gc/plain" 2>/dev/null; wait "$gc_pid" 2>/dev/null; }
  [ -n "$sf_pid" ] && { fusermount3 -u "$W/sf/plain" 2>/dev/null || umount -l "$W/sf/plain" 2>/dev/null; wait "$sf_pid" 2>/dev/null; }
  grep -qs " $W/rv/mnt " /proc/mounts && umount -l "$W/rv/mnt"
  rm -rf "$W"
  [ "${D:-$W}" = "$W" ] || rm -rf "$D"
}

bench_workspace() {
  W=$(mktemp -d "${RECVAULT_BENCH_DIR:-/var/tmp}/recvault-$1.XXXXXX")
  D=$W
  trap bench_cleanup EXIT
  [ -z "${RECVAULT_BENCH_SHARED:-}" ] || D=$(mktemp -d "$RECVAULT_BENCH_SHARED/recvault-$1.XXXXXX")
  mkdir -p "$D/raw"
  targets=(raw)
  dir[raw]="$D/raw"
}

wait_mount() {
  for _ in $(seq 200); do grep -qs " $1 fuse" /proc/mounts && return 0; sleep 0.05; done
  echo "mount at $1 did not appear" >&2
  return 1
}

# $W/$rv (default rv): keys and recvault.toml (extra [keystore] lines $1,
# extra TOML $2).
write_recvault_config() {
  local rv=${rv:-rv}
  mkdir -p "$D/$rv/backing" "$W/$rv/mnt" "$W/$rv/keystore"
  local shared=""
  [ "$D" = "$W" ] || shared="shared = true"
  [ -f "$W/$rv/master.key" ] || head -c 32 /dev/urandom | xxd -p -c 64 >"$W/$rv/master.key"
  [ -f "$W/$rv/jwt.secret" ] || head -c 32 /dev/urandom | xxd -p -c 64 >"$W/$rv/jwt.secret"
  chmod 600 "$W/$rv/master.key" "$W/$rv/jwt.secret"
  cat >"$W/$rv/recvault.toml" <<TOML
[storage]
backing_dir = "$D/$rv/backing"
mount_point = "mnt"
$shared
[keystore]
path = "keystore"
master_key_file = "master.key"
${1:-}
[control]
socket = "control.sock"
jwt_hs256_secret_file = "jwt.secret"
audit_log = "audit.log"
[log]
level = "warn"
${2:-}
TOML
}

start_recvault() {
  launch_recvault recvault rv "$recvaultd" "${1:-}"
  rv_pid=${pid[recvault]}
}

start_baseline() {
  local rev=$1 src
  src=/var/tmp/recvault-baseline-$(git -C "$bench_root" rev-parse --short "$rev")
  if [ ! -x "$src/build/src/daemon/recvaultd" ]; then
    echo "building the baseline daemon of $rev in $src" >&2
    rm -rf "$src" && mkdir -p "$src"
    git -C "$bench_root" archive "$rev" | tar -x -C "$src"
    meson setup "$src/build" "$src" -Dbuildtype=release >/dev/null
    ninja -C "$src/build" src/daemon/recvaultd >/dev/null
  fi
  launch_recvault "recvault@$rev" rvb "$src/build/src/daemon/recvaultd" ""
  base_pid=${pid[recvault@$rev]}
}

# launch_recvault TARGET SUBDIR DAEMON TOML: a target with an enabled
# account "bench"; sets dir[TARGET], pid[TARGET].
launch_recvault() {
  local target=$1 rv=$2 daemon=$3 token
  rv=$rv write_recvault_config "" "$4"
  "$daemon" -f -c "$W/$rv/recvault.toml" >/dev/null 2>"$W/$rv/daemon.log" &
  pid[$target]=$!
  wait_mount "$W/$rv/mnt"
  token=$("$ctl" token mint --secret-file "$W/$rv/jwt.secret" --sub bench --accounts '*' --scope admin)
  RECVAULT_TOKEN=$token "$ctl" --socket "$W/$rv/control.sock" --account bench --json config enable >/dev/null
  mkdir "$W/$rv/mnt/bench"
  targets+=("$target")
  dir[$target]="$W/$rv/mnt/bench"
}

start_gocryptfs() {
  if ! command -v gocryptfs >/dev/null; then
    echo "gocryptfs not installed: comparing with the raw directory only" >&2
    return 0
  fi
  mkdir -p "$D/gc/cipher" "$W/gc/plain"
  gocryptfs -init -q -extpass "echo bench-passphrase" -scryptn 10 "$D/gc/cipher" >/dev/null
  gocryptfs -fg -q -extpass "echo bench-passphrase" "$D/gc/cipher" "$W/gc/plain" &
  gc_pid=$!
  wait_mount "$W/gc/plain"
  targets+=(gocryptfs)
  dir[gocryptfs]="$W/gc/plain"
  pid[gocryptfs]=$gc_pid
}

start_securefs() {
  if ! command -v securefs >/dev/null; then
    echo "securefs not installed (Debian: apt-get install securefs): not compared" >&2
    return 0
  fi
  mkdir -p "$D/sf/cipher" "$W/sf/plain"
  # pbkdf2 with few rounds: the benchmark measures the file system, not the
  # password stretching at mount.
  securefs create --pbkdf pkcs5-pbkdf2-hmac-sha256 -r 1000 --pass bench-passphrase "$D/sf/cipher" >/dev/null
  securefs mount --pass bench-passphrase "$D/sf/cipher" "$W/sf/plain" >"$W/sf/log" 2>&1 &
  sf_pid=$!
  wait_mount "$W/sf/plain"
  targets+=(securefs)
  dir[securefs]="$W/sf/plain"
  pid[securefs]=$sf_pid
}

cpu_seconds() {
  [ -n "${1:-}" ] || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

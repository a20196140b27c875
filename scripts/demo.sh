#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and runs recvaultd
# on the embedded demo configuration under ./demo (backing dir, keystore,
# master key, JWT secret), with a real FUSE mount at ./demo/mnt and the control
# socket at ./demo/control.sock. Ctrl-C (or SIGTERM) seals open recordings
# and unmounts cleanly.
#
# It says what it does as it goes (stderr), shows the build's progress, and
# when a step fails, says which and how to fix it.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/narrate.sh

say "recvault demo: 1/4 checking the Debian packages recvault needs (installs the missing ones; the first time about 1-2 minutes)"
scripts/deps.sh || fail_step "installing packages" \
  "run as root on Debian 12 with network access to its mirror (apt-get update must work), or install the packages it names yourself"
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
fi
[ -e /dev/fuse ] || fail_step "no /dev/fuse" \
  "load the FUSE module (modprobe fuse); in a container, start it with --device /dev/fuse --cap-add SYS_ADMIN"

mkdir -p build-demo
if [ ! -f build-demo/build.ninja ]; then
  say "2/4 configuring the build (meson, release) in build-demo/"
  meson setup build-demo -Dbuildtype=release -Dtests=false >build-demo.setup.log 2>&1 ||
    fail_step "configuring the build" "a missing library usually: run scripts/deps.sh as root, then run this again" \
      build-demo.setup.log
  say "3/4 building recvaultd and recvaultctl (the first build takes about 4 minutes on 2 cores; later runs take seconds)"
else
  say "2/4 build configured already (build-demo/)"
  say "3/4 building what changed"
fi
ninja_progress build-demo build-demo.build.log src/daemon/recvaultd tools/ctl/recvaultctl ||
  fail_step "building" "the compiler's error is above; after changing the code, run this again" build-demo.build.log

demo="$root/demo"
mkdir -p "$demo"
say "4/4 starting recvaultd and mounting $demo/mnt"
build-demo/src/daemon/recvaultd --demo "$demo" --foreground 2>"$demo/daemon.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon' INT TERM

mounted=0
for _ in $(seq 200); do
  if grep -qs " $demo/mnt fuse" /proc/mounts && [ -S "$demo/control.sock" ]; then mounted=1; break; fi
  kill -0 $daemon 2>/dev/null || break
  sleep 0.1
done
if [ $mounted = 0 ]; then
  kill -TERM $daemon 2>/dev/null
  fail_step "recvaultd did not mount $demo/mnt" \
    "run as root (mounting needs it); if $demo/mnt is still mounted by an old demo, 'umount -l $demo/mnt'" \
    "$demo/daemon.log"
fi
# From here the daemon's own lines go to the terminal too.
tail -n +1 -f "$demo/daemon.log" --pid=$daemon >&2 &

token=$(build-demo/tools/ctl/recvaultctl token mint --secret-file "$demo/jwt.secret" \
          --sub demo-admin --accounts '*' --scope admin --ttl 86400)
printf '%s\n' "$token" >"$demo/admin.token"
chmod 600 "$demo/admin.token"

cat <<MSG

recvault demo is running (pid $daemon), ready in $(( $(date +%s) - narrate_start )) s.
  mount point     $demo/mnt
  backing dir     $demo/backing   (ciphertext)
  control socket  $demo/control.sock
  admin token     $demo/admin.token (valid 24 h)

Try, in another shell:
  TOKEN=\$(cat $demo/admin.token)
  curl -s --unix-socket $demo/control.sock -X PUT http://localhost/api/v2/config/call_recording_encryption \\
       -H "X-Account-ID: acme" -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
       -d '{"enabled": true}'
  mkdir $demo/mnt/acme && echo "hello" > $demo/mnt/acme/call-1.wav
  cat $demo/mnt/acme/call-1.wav            # plaintext through the mount
  xxd $demo/backing/acme/call-1.wav | head  # ciphertext on disk
  build-demo/tools/ctl/recvaultctl --socket $demo/control.sock --token-file $demo/admin.token status

Ctrl-C stops the daemon (open recordings are sealed, the mount is removed).
MSG
wait $daemon

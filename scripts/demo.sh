#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and runs recvaultd
# on the embedded demo configuration under ./demo (backing dir, keystore,
# master key, JWT secret), with a real FUSE mount at ./demo/mnt and the control
# socket at ./demo/control.sock. Ctrl-C (or SIGTERM) seals open recordings
# and unmounts cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh
modprobe fuse 2>/dev/null || true
if [ ! -f build-demo/build.ninja ]; then
  meson setup build-demo -Dbuildtype=release >/dev/null
fi
ninja -C build-demo src/daemon/recvaultd tools/ctl/recvaultctl >/dev/null

demo="$root/demo"
mkdir -p "$demo"
build-demo/src/daemon/recvaultd --demo "$demo" --foreground &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon' INT TERM

for _ in $(seq 100); do
  grep -qs " $demo/mnt fuse" /proc/mounts && [ -S "$demo/control.sock" ] && break
  kill -0 $daemon 2>/dev/null || { echo "recvaultd failed to start" >&2; exit 1; }
  sleep 0.1
done

token=$(build-demo/tools/ctl/recvaultctl token mint --secret-file "$demo/jwt.secret" \
          --sub demo-admin --accounts '*' --scope admin --ttl 86400)
printf '%s\n' "$token" >"$demo/admin.token"
chmod 600 "$demo/admin.token"

cat <<MSG

recvault demo is running (pid $daemon).
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

Ctrl-C stops the daemon (open recordings are sealed, the mount is removed).
MSG
wait $daemon

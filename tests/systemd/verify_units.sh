#!/usr/bin/env bash
# systemd-analyze verify of the shipped units, with ExecStart pointed at the
# freshly built recvaultd (verify insists that the binary exists).
set -euo pipefail
src=$1 daemon=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/sbin/recvaultd|$daemon|" "$src/systemd/recvault.service" >"$tmp/recvault.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/recvault.service" 2>&1) || {
  echo "$out"
  exit 1
}
# verify reports some problems only as messages: any line about our unit fails.
if printf '%s\n' "$out" | grep -i 'recvault.service' | grep -v 'Command .* is not executable'; then
  exit 1
fi
grep -q '^Type=notify' "$tmp/recvault.service"
grep -q '^ProtectSystem=strict' "$tmp/recvault.service"
grep -q '^NoNewPrivileges=yes' "$tmp/recvault.service"
grep -q '^CapabilityBoundingSet=' "$tmp/recvault.service"
echo "recvault.service verified"

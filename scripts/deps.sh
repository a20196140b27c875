#!/usr/bin/env bash
# Installs the Debian 12 packages recvault needs to build, run and test, but only
# the ones that are missing, so a second run costs a few dpkg queries.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config
  libssl-dev libfuse3-dev fuse3 liblmdb-dev lmdb-utils libgpgme-dev gnupg
  libtomlplusplus-dev catch2 nlohmann-json3-dev libmicrohttpd-dev
  libcurl4-openssl-dev libcli11-dev libsystemd-dev systemd
  attr curl xxd psmisc procps e2fsprogs python3 python3-cryptography
  rsync sox etcd-server etcd-client openssl glusterfs-server glusterfs-client
  prometheus scdoc debhelper lintian fakeroot clang-format
)
if [ "${RECVAULT_WITH_BENCH:-0}" = 1 ]; then
  packages+=(gocryptfs securefs gnuplot-nox)
fi
if [ "${RECVAULT_WITH_FUZZ:-0}" = 1 ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "recvault: ${#missing[@]} packages are missing and this is not root; install them:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "recvault: installing ${#missing[@]} Debian packages (apt-get; about a minute on a fresh system): ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq; then
    echo "recvault: apt-get update failed: check the network and /etc/apt/sources.list" >&2
    exit 1
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/recvault-apt.log 2>&1; then
    tail -15 /tmp/recvault-apt.log >&2
    echo "recvault: apt-get install failed (log: /tmp/recvault-apt.log); is this Debian 12 (bookworm)?" >&2
    exit 1
  fi
  echo "recvault: packages installed" >&2
  # Debian starts a system glusterd when glusterfs-server is installed; the
  # GlusterFS tests start their own on its port (tests/gluster_fixture.hpp).
  if [[ " ${missing[*]} " == *" glusterfs-server "* ]] && command -v systemctl >/dev/null &&
    systemctl is-active --quiet glusterd 2>/dev/null; then
    echo "recvault: stopping and disabling the glusterd that glusterfs-server started (the tests run their own)" >&2
    systemctl disable --now glusterd >/dev/null 2>&1 || true
  fi
else
  echo "recvault: all ${#packages[@]} Debian packages present" >&2
fi

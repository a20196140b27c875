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
  rsync sox
  prometheus scdoc debhelper lintian fakeroot
)
if [ "${RECVAULT_WITH_BENCH:-0}" = 1 ]; then
  packages+=(gocryptfs)
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
  echo "recvault: installing ${missing[*]}" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "recvault: missing packages and not root; install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

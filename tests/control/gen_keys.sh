#!/usr/bin/env bash
# Generates the OpenPGP test keys into OUT_DIR with real gpg in a throwaway
# GNUPGHOME (removed, with its agent, on exit):
#   rsa.asc       RSA-2048 sign+encrypt ("RSA and RSA", the seed's advice)
#   ed25519.asc   ed25519 sign-only primary + cv25519 encryption subkey
#   signonly.asc  ed25519 sign-only, no encryption subkey
#   expired.asc   ed25519 + cv25519, expired (made with a faked clock)
#   revoked.asc   ed25519 + cv25519, with its revocation certificate applied
#   secret.asc    a secret key export
#   two.asc       two public keys in one armored block
set -euo pipefail
out=${1:?usage: gen_keys.sh OUT_DIR}
mkdir -p "$out"
home=$(mktemp -d)
cleanup() { gpgconf --homedir "$home" --kill all >/dev/null 2>&1 || true; rm -rf "$home"; }
trap cleanup EXIT
g() { gpg --homedir "$home" --batch --quiet --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
# The agent started now, and waited for: gpg's own start of it gives up after
# a few seconds, which a loaded machine exceeded once (exit 2 in CI).
gpgconf --homedir "$home" --launch gpg-agent
fpr() { g --with-colons --list-keys "=$1" | awk -F: '/^fpr/ {print $10; exit}'; }

g --quick-gen-key 'RSA Test <rsa@example.com>' rsa2048 sign 1y
g --quick-add-key "$(fpr 'RSA Test <rsa@example.com>')" rsa2048 encr 1y
g --quick-gen-key 'Ed Test <ed@example.com>' ed25519 sign 1y
g --quick-add-key "$(fpr 'Ed Test <ed@example.com>')" cv25519 encr 1y
g --quick-gen-key 'Sign Only <sign@example.com>' ed25519 sign 1y
g --faked-system-time 20200101T000000 --quick-gen-key 'Expired <expired@example.com>' ed25519 sign 1d
g --faked-system-time 20200101T000000 --quick-add-key "$(fpr 'Expired <expired@example.com>')" cv25519 encr 1d
g --quick-gen-key 'Revoked <revoked@example.com>' ed25519 sign 1y
g --quick-add-key "$(fpr 'Revoked <revoked@example.com>')" cv25519 encr 1y
g --import "$home/openpgp-revocs.d/$(fpr 'Revoked <revoked@example.com>').rev" 2>/dev/null || {
  # the stored certificate is commented out by a leading ':'
  sed 's/^:-----BEGIN/-----BEGIN/' "$home/openpgp-revocs.d/$(fpr 'Revoked <revoked@example.com>').rev" | g --import
}

g --armor --export "$(fpr 'RSA Test <rsa@example.com>')" >"$out/rsa.asc"
g --armor --export "$(fpr 'Ed Test <ed@example.com>')" >"$out/ed25519.asc"
g --armor --export "$(fpr 'Sign Only <sign@example.com>')" >"$out/signonly.asc"
g --armor --export "$(fpr 'Expired <expired@example.com>')" >"$out/expired.asc"
g --armor --export "$(fpr 'Revoked <revoked@example.com>')" >"$out/revoked.asc"
g --armor --export-secret-keys "$(fpr 'Ed Test <ed@example.com>')" >"$out/secret.asc"
g --armor --export "$(fpr 'RSA Test <rsa@example.com>')" "$(fpr 'Ed Test <ed@example.com>')" >"$out/two.asc"
fpr 'RSA Test <rsa@example.com>' >"$out/rsa.fpr"
fpr 'Ed Test <ed@example.com>' >"$out/ed25519.fpr"

// Validation of client-supplied OpenPGP public keys (POST /v3/security/public-keys).
//
// GPGME lists the uploaded block without importing it (gpg --show-keys), in a
// private, freshly created GNUPGHOME that is removed afterwards: the user's
// keyring and the daemon's own GNUPGHOME are never touched.
// A later OpenPGP issue may move this to src/pgp/; the interface stays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "recvault/util/result.hpp"

namespace recvault::control {

struct KeyInfo {
  std::string fingerprint;        // primary key, upper-case hex
  std::string user_id;            // first user id, for display ("" if none)
  std::string encryption_subkey;  // fingerprint of a usable encryption (sub)key
  std::int64_t expires = 0;       // primary key expiry (0 = never)
};

// Accepts exactly one OpenPGP public key that can encrypt now: not a secret
// key, not expired, not revoked, with at least one valid encryption-capable
// (sub)key. Errc::invalid_argument with the reason otherwise; Errc::internal
// when GPGME itself is unusable. Thread-safe (one context per call).
Result<KeyInfo> validate_public_key(std::string_view armored);

}  // namespace recvault::control

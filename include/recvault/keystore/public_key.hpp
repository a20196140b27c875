// Client-supplied OpenPGP public keys (the OpenPGP issue parses and verifies
// them; the keystore only stores them).
#pragma once

#include <string>

#include "recvault/keystore/account_config.hpp"

namespace recvault::keystore {

inline constexpr std::size_t kMaxArmoredKeyBytes = 1024 * 1024;

struct PublicKeyRecord {
  std::string id;           // publicKeyId: RFC 4122 UUID v4, lowercase
  std::string account;      // the owning account
  std::string armored;      // the ASCII-armored key, byte for byte as uploaded
  std::string fingerprint;  // as computed by the caller (GPGME)
  Timestamp created_at{};
};

}  // namespace recvault::keystore

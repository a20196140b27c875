// Key derivation for the recording format.
//
//   version key  = scrypt(P = key text, S = salt text, N, r, p, 32)    (slow; cache it)
//   data key     = HKDF-SHA256(version key, salt = file id,
//                              info = "recvault/1 data " ‖ algorithm name, 32 | 64)
//   header key   = HKDF-SHA256(version key, file id, "recvault/1 header", 32)
//   key check    = HKDF-SHA256(version key, file id, "recvault/1 key check", 16)
//
// The key and salt are the exact strings the config API returns: no base64 or
// hex decoding is applied, so an auditor pastes them as saved.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "recvault/crypto/primitives.hpp"
#include "recvault/format/header.hpp"

namespace recvault::format {

// The account-level key of one key version. Immutable; share it between files
// and threads through shared_ptr<const VersionKey>.
class VersionKey {
 public:
  // Runs scrypt: ~30 MiB and tens of milliseconds with the default parameters.
  static Result<VersionKey> derive(std::string_view key, std::string_view salt, crypto::ScryptParams params = {});
  // A key derived before (the keystore keeps each version's derived key
  // sealed: docs/KEYSTORE.md "Derived keys"). Errc::invalid_argument unless
  // `bytes` has the 32 bytes derive() produces.
  static Result<VersionKey> from_derived(crypto::SecretBytes bytes, crypto::ScryptParams params);
  const crypto::SecretBytes& bytes() const noexcept { return bytes_; }
  crypto::ScryptParams params() const noexcept { return params_; }

 private:
  VersionKey(crypto::SecretBytes b, crypto::ScryptParams p) : bytes_(std::move(b)), params_(p) {}
  crypto::SecretBytes bytes_;
  crypto::ScryptParams params_;
};

using VersionKeyPtr = std::shared_ptr<const VersionKey>;

// What a new file is encrypted under: the account's current version.
struct KeySpec {
  Algorithm algorithm = Algorithm::aes256_gcm;
  std::uint32_t key_version = 0;
  std::string key_id;
  std::string salt;
  VersionKeyPtr key;
};

// Finds the version key for an existing file from its header (key_version,
// key_id, salt and KDF parameters). Errc::key_unavailable when there is none.
using KeyResolver = std::function<Result<VersionKeyPtr>(const Header&)>;

// The per-file keys, derived from a version key and a header.
struct FileKeys {
  crypto::SecretBytes data;    // 32 bytes (GCM) or 64 (CBC: AES ‖ HMAC)
  crypto::SecretBytes header;  // 32 bytes, HMAC key of the header
  std::array<std::uint8_t, 16> key_check{};
};
Result<FileKeys> derive_file_keys(const VersionKey& key, const Header& h);

}  // namespace recvault::format

// Sealer: the daemon's OpenPGP service. It owns a private GNUPGHOME (mode
// 0700) that only ever holds public keys, imported on demand from the
// keystore's armored text, and starts SealStreams.
//
// Thread safety: all members may be called concurrently.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "recvault/pgp/seal_stream.hpp"
#include "recvault/util/result.hpp"

namespace recvault::pgp {

// What the Sealer needs to know about an uploaded key.
struct PublicKey {
  std::string id;           // publicKeyId
  std::string account;      // owner
  std::string armored;      // as uploaded
  std::string fingerprint;  // primary key, as recorded at upload
};
// Errc::not_found when there is no such key.
using KeyLookup = std::function<Result<PublicKey>(std::string_view public_key_id)>;

// A key ready to seal to.
struct Recipient {
  std::string public_key_id;
  std::string fingerprint;
  UniqueKey key;
};

class Sealer {
 public:
  // Creates `gnupg_home` (0700) if absent and checks GPGME. Start-up errors
  // are returned, not thrown.
  static Result<std::unique_ptr<Sealer>> open(std::filesystem::path gnupg_home, KeyLookup lookup,
                                              SealOptions options = {});

  // Key `public_key_id` of `account`, imported if needed. Errc::not_found
  // when the key does not exist or belongs to another account;
  // Errc::invalid_argument when gpg cannot encrypt to it (expired, revoked).
  Result<Recipient> recipient(std::string_view account, std::string_view public_key_id);

  // Starts a stream into the empty file `fd`.
  Result<std::unique_ptr<SealStream>> start(int fd, Recipient recipient);

  const std::filesystem::path& home() const noexcept { return home_; }
  const SealOptions& options() const noexcept { return options_; }

 private:
  Sealer(std::filesystem::path home, KeyLookup lookup, SealOptions options);
  Result<UniqueKey> import(const PublicKey& key);

  std::filesystem::path home_;
  KeyLookup lookup_;
  SealOptions options_;
  std::mutex import_mutex_;  // one import at a time into the keyring
};

}  // namespace recvault::pgp

// Sealer: the daemon's OpenPGP service. It owns a private GNUPGHOME (mode
// 0700) that only ever holds public keys, imported on demand from the
// keystore's armored text, and starts SealStreams.
//
// One keyring per publicKeyId: <home>/keys/<publicKeyId>/ holds exactly the
// material uploaded under that id and nothing else, with the SHA-256 of that
// armored text beside it (material.sha256). A recording is sealed with the
// keyring of the id it names, so a later upload of the same fingerprint
// (a new subkey, a revoked subkey, a new expiry) under another id never
// changes what an id seals to, and an id's keyring is rebuilt whenever its
// digest does not match the keystore's text. GnuPG merges every copy of a
// fingerprint into one key in a shared keyring (or, as before, keeps the
// first one it saw): neither is "the key the account configured".
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
  std::string home;  // the GNUPGHOME holding exactly this id's key material
};

class Sealer {
 public:
  // Creates `gnupg_home` (0700) if absent and checks GPGME. Start-up errors
  // are returned, not thrown.
  static Result<std::unique_ptr<Sealer>> open(std::filesystem::path gnupg_home, KeyLookup lookup,
                                              SealOptions options = {});

  // Key `public_key_id` of `account`, imported (into its own keyring) if
  // needed. Errc::not_found when the key does not exist or belongs to
  // another account; Errc::invalid_argument when gpg cannot encrypt to it
  // (expired, revoked: the message says which).
  Result<Recipient> recipient(std::string_view account, std::string_view public_key_id);

  // Starts a stream into the empty file `fd`.
  Result<std::unique_ptr<SealStream>> start(int fd, Recipient recipient);

  const std::filesystem::path& home() const noexcept { return home_; }
  const SealOptions& options() const noexcept { return options_; }

 private:
  Sealer(std::filesystem::path home, KeyLookup lookup, SealOptions options);
  // The keyring directory of `key`, built or rebuilt when its recorded
  // digest differs from the text's. Caller holds import_mutex_.
  Result<std::filesystem::path> keyring_for(const PublicKey& key);

  std::filesystem::path home_;
  KeyLookup lookup_;
  SealOptions options_;
  std::mutex import_mutex_;                                   // guards verified_ and keyring (re)builds
  std::map<std::string, std::string, std::less<>> verified_;  // publicKeyId -> digest its keyring holds
};

}  // namespace recvault::pgp

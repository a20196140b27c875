// The master key that encrypts key material at rest in the keystore.
//
// 32 random bytes. On disk: either exactly 32 raw bytes, or 64 hex characters
// with an optional trailing newline (what create_master_key_file writes, and
// what `openssl rand -hex 32` produces). The file must be a regular file owned
// by the running user with no group/other permission bits (0600 or 0400).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recvault/crypto/secret.hpp"
#include "recvault/util/result.hpp"

namespace recvault::keystore {

class MasterKey {
 public:
  static constexpr std::size_t kSize = 32;

  // Errc::invalid_argument for a bad mode, owner, type or encoding (the message
  // says which and how to fix it); Errc::io when the file cannot be read.
  static Result<MasterKey> load_file(const std::filesystem::path& path);
  // $CREDENTIALS_DIRECTORY/<name> (systemd LoadCredential=/SetCredential=).
  // Errc::not_found when CREDENTIALS_DIRECTORY is unset.
  static Result<MasterKey> load_credential(std::string_view name);
  static Result<MasterKey> from_bytes(crypto::SecretBytes bytes);  // exactly 32 bytes
  static Result<MasterKey> generate();

  // AES-256-GCM with a random 12-byte nonce: returns nonce ‖ ciphertext ‖ tag.
  // `aad` binds the ciphertext to where it is stored.
  Result<std::vector<std::uint8_t>> seal(std::span<const std::uint8_t> plaintext, std::string_view aad) const;
  // Errc::tampered when the tag does not verify (wrong master key, swapped or
  // modified record).
  Result<crypto::SecretBytes> open(std::span<const std::uint8_t> sealed, std::string_view aad) const;

  // An explicit copy (e.g. to open a second store such as a restore staging
  // copy). Prefer moving.
  MasterKey clone() const { return MasterKey(bytes_); }

  MasterKey(MasterKey&&) noexcept = default;
  MasterKey& operator=(MasterKey&&) noexcept = default;
  MasterKey(const MasterKey&) = delete;
  MasterKey& operator=(const MasterKey&) = delete;

 private:
  explicit MasterKey(crypto::SecretBytes b) : bytes_(std::move(b)) {}
  crypto::SecretBytes bytes_;
};

// Where a program takes the master key from: a file, or a systemd
// credential ($CREDENTIALS_DIRECTORY/<name>). Every program (recvaultd,
// recvault-fsck, recvault-keystore) resolves it by one rule: a source named
// on the command line replaces the config file's as a whole (never a mix of
// the two), and exactly one of `file` and `credential` must be named.
struct MasterKeySource {
  std::filesystem::path file;
  std::string credential;

  bool named() const noexcept { return !file.empty() || !credential.empty(); }
  // This source when it names anything, else `fallback` (the config file's).
  const MasterKeySource& or_else(const MasterKeySource& fallback) const noexcept { return named() ? *this : fallback; }
  // Errc::invalid_argument when none or both are named (the message says
  // how to name one); otherwise MasterKey::load_file / load_credential.
  Result<MasterKey> load() const;
};

// Creates a new master key file: O_CREAT|O_EXCL, mode 0600, 64 hex characters
// and a newline, fsynced. Errc::conflict if the file already exists.
Status create_master_key_file(const std::filesystem::path& path);

// Loads `path`, creating it first if it does not exist (demo first start).
Result<MasterKey> load_or_create_master_key_file(const std::filesystem::path& path);

}  // namespace recvault::keystore

// Encrypted file, directory and symlink-target names (docs/FORMAT.md §12).
//
//   name key   = HKDF-SHA256(IKM = version key, salt = none,
//                            info = "recvault/1 names AES-256-SIV", L = 64)
//   backing name of `name` in a directory with directory IV `div`:
//       "~" ‖ decimal key_version ‖ "~" ‖ base64url(AES-256-SIV(name key,
//                 AD = ["recvault/1 name", div], pad16(name)))
//   backing symlink target of `target` (random 16-byte nonce n):
//       "~" ‖ decimal key_version ‖ "~" ‖ base64url(n ‖ AES-256-SIV(name key,
//                 AD = ["recvault/1 symlink", n], pad16(target)))
//   pad16(x) = x ‖ NUL bytes up to the next multiple of 16 (none when
//              |x| is one already; names and targets never hold NUL).
//   directory IV file ".recvault-diriv" = "RVDIRIV1" ‖ 16 random bytes.
//
// Names are deterministic (a lookup encrypts the name it is asked for) and
// bound to their directory; targets are randomised (nothing looks them up).
// Pure functions but read_dir_iv: the FUSE layer and the offline tools share them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "recvault/crypto/secret.hpp"
#include "recvault/format/keys.hpp"
#include "recvault/util/result.hpp"

namespace recvault::format {

// Longest plaintext name that is encrypted: its backing name fits the
// 255-byte NAME_MAX of every Linux file system (longer: ENAMETOOLONG).
inline constexpr std::size_t kMaxEncryptedName = 160;
// Longest plaintext symlink target that is encrypted (the backing target
// stays below PATH_MAX).
inline constexpr std::size_t kMaxEncryptedTarget = 3008;
// The directory IV file and its contents.
inline constexpr std::string_view kDirIvName = ".recvault-diriv";
// A recording being rewritten (re-encryption, docs/KEYSTORE.md "Re-encryption")
// is written beside it as "<prefix><16 hex>" and renamed over it once whole;
// the mount never shows or accepts such a name, and the daemon removes the
// ones a crash left behind when it starts.
inline constexpr std::string_view kRewriteTempPrefix = ".recvault-rewrite.";
// Backing entries that are not recordings: directory IV files (and their
// temporaries) and rewrite temporaries.
bool is_internal_entry(std::string_view backing) noexcept;
inline constexpr std::string_view kDirIvMagic = "RVDIRIV1";
inline constexpr std::size_t kDirIvSize = 16;
inline constexpr std::size_t kDirIvFileSize = 8 + kDirIvSize;
using DirIv = std::array<std::uint8_t, kDirIvSize>;

// The name key of one key version (64 bytes, AES-256-SIV).
class NameKey {
 public:
  static Result<NameKey> derive(const VersionKey& key, std::uint32_t key_version);
  std::uint32_t version() const noexcept { return version_; }
  const crypto::SecretBytes& bytes() const noexcept { return bytes_; }

 private:
  NameKey(crypto::SecretBytes b, std::uint32_t v) : bytes_(std::move(b)), version_(v) {}
  crypto::SecretBytes bytes_;
  std::uint32_t version_ = 0;
};

// A backing name (or symlink target) in the encrypted form: its key version
// and the decoded bytes after the second '~'. nullopt: a plaintext name.
struct EncryptedForm {
  std::uint32_t key_version = 0;
  std::string_view encoded;  // the base64url part, as in the name
};
std::optional<EncryptedForm> parse_encrypted_name(std::string_view backing);
// Whether a plaintext name may be stored as it is next to encrypted names:
// not the directory IV file, and not of the encrypted form (which would be
// read as an encrypted name).
bool is_reserved_name(std::string_view plaintext) noexcept;

// Errc::invalid_argument for "", ".", "..", a '/' or a NUL; Errc::too_large
// past kMaxEncryptedName (ENAMETOOLONG).
Result<std::string> encrypt_name(const NameKey& key, const DirIv& dir, std::string_view plaintext);
// Errc::tampered when it does not authenticate (wrong directory IV, wrong
// key, altered) or is not a valid name once decrypted. The key must be the
// one of the name's version (parse_encrypted_name).
Result<std::string> decrypt_name(const NameKey& key, const DirIv& dir, std::string_view backing);

// Errc::invalid_argument for "" or a NUL; Errc::too_large past
// kMaxEncryptedTarget.
Result<std::string> encrypt_target(const NameKey& key, std::string_view target);
Result<std::string> decrypt_target(const NameKey& key, std::string_view backing);

// A fresh directory IV file's contents, and the IV in such contents
// (Errc::tampered when malformed).
Result<std::string> new_dir_iv_file();
Result<DirIv> parse_dir_iv_file(std::string_view contents);
// The IV of directory `dir_fd` (any fd openat accepts, O_PATH included),
// read from its IV file; nullopt when it has none.
Result<std::optional<DirIv>> read_dir_iv(int dir_fd);

}  // namespace recvault::format

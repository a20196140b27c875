// One stored chunk ("record") of an encrypted backing file.
//
//   AES-256-GCM:  nonce(12) ‖ ciphertext(n) ‖ tag(16)                 n + 28 bytes
//   AES-256-CBC:  iv(16) ‖ ciphertext(16·(⌊n/16⌋+1)) ‖ HMAC-SHA256(32)  PKCS#7 padded
//
// AAD = SHA-256(header core) ‖ u64le(chunk index) ‖ u8(flags), flags = final
// (bit 0) | hole marker (bit 1, format version 2 only). Nonces and IVs are
// fresh random bytes on every write.
#pragma once

#include <cstdint>
#include <span>

#include "recvault/crypto/primitives.hpp"
#include "recvault/format/keys.hpp"

namespace recvault::format {

inline constexpr std::size_t kGcmOverhead = 12 + 16;
inline constexpr std::size_t kCbcOverhead = 16 + 32;  // plus 1..16 bytes of padding

// The flags byte of a record's AAD. Version 1 files only use none and final.
enum class RecordFlags : std::uint8_t {
  none = 0,
  final = 1,        // the last record of a sealed file
  hole_marker = 2,  // ends a run of hole chunks (docs/FORMAT.md §5.2); plaintext u64le(run start)
};
constexpr RecordFlags data_flags(bool final) noexcept { return final ? RecordFlags::final : RecordFlags::none; }

// Stored size of a record holding n plaintext bytes.
constexpr std::uint64_t record_size(Algorithm a, std::uint64_t n) noexcept {
  return a == Algorithm::aes256_gcm ? n + kGcmOverhead : kCbcOverhead + (n / 16 + 1) * 16;
}

class RecordCodec {
 public:
  // Borrows both; they must outlive the codec.
  RecordCodec(const Header& header, const FileKeys& keys) : header_(header), keys_(keys) {}
  void set_core_digest(const crypto::Digest& d) noexcept { core_digest_ = d; }

  // Encrypts `plain` as record `index`; record.size() must be record_size(n).
  Status seal(std::uint64_t index, RecordFlags flags, std::span<const std::uint8_t> plain,
              std::span<std::uint8_t> record) const;
  // Authenticates and decrypts; out.size() must be >= record.size().
  // Returns the plaintext length. Errc::tampered when it does not authenticate
  // as record `index` with these flags.
  Result<std::size_t> open(std::uint64_t index, RecordFlags flags, std::span<const std::uint8_t> record,
                           std::span<std::uint8_t> out) const;

 private:
  std::array<std::uint8_t, 41> aad(std::uint64_t index, RecordFlags flags) const noexcept;

  const Header& header_;
  const FileKeys& keys_;
  crypto::Digest core_digest_{};
};

}  // namespace recvault::format

// The authenticated header at the start of every encrypted backing file.
//
// Byte layout (little-endian; see docs/FORMAT.md for the full specification):
//
//   0   8  magic "RECVAULT"
//   8   2  header length H (total, including the MAC)
//   10  1  format version (1 or 2; new files are written as 2)
//   11  1  algorithm (1 = AES-256-GCM, 2 = AES-256-CBC + HMAC-SHA256)
//   12  1  log2(chunk size)
//   13  1  KDF id (1 = scrypt)
//   14  3  scrypt log2 N, r, p
//   17  1  reserved, 0
//   18  4  key_version
//   22 16  file id (random)
//   38  1  key_id length k
//   39  1  salt length s
//   40  k  key_id
//   .   s  salt                       <- end of the "core"
//   .   1  state (0 = open, 1 = sealed)
//   .  16  key check value
//   .  32  HMAC-SHA256 over bytes [0, H-32)
//
// The core is immutable for the life of the file and its SHA-256 is bound into
// every chunk's AAD; the state byte changes on seal/unseal and is covered by the
// header MAC only.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recvault/crypto/primitives.hpp"
#include "recvault/util/result.hpp"

namespace recvault::format {

// The version new files are written in, and the oldest one still read.
// Version 2 = version 1 + hole chunks (docs/FORMAT.md §5.2).
inline constexpr std::uint8_t kFormatVersion = 2;
inline constexpr std::uint8_t kOldestFormatVersion = 1;
inline constexpr char kMagic[8] = {'R', 'E', 'C', 'V', 'A', 'U', 'L', 'T'};
inline constexpr std::uint32_t kDefaultChunkSize = 64 * 1024;
inline constexpr std::uint8_t kMinChunkShift = 12;  // 4 KiB
inline constexpr std::uint8_t kMaxChunkShift = 20;  // 1 MiB
inline constexpr std::size_t kMaxKeyIdLength = 255;
inline constexpr std::size_t kMaxSaltLength = 255;
inline constexpr std::size_t kFixedHeaderBytes = 40;
inline constexpr std::size_t kTrailerBytes = 1 + 16 + 32;  // state, key check, MAC
inline constexpr std::size_t kMaxHeaderBytes = kFixedHeaderBytes + kMaxKeyIdLength + kMaxSaltLength + kTrailerBytes;

enum class Algorithm : std::uint8_t { aes256_gcm = 1, aes256_cbc_hmac = 2 };

// "AES-256-GCM" / "AES-256-CBC": the names the config API uses.
std::string_view algorithm_name(Algorithm a) noexcept;
std::optional<Algorithm> parse_algorithm(std::string_view name) noexcept;

using FileId = std::array<std::uint8_t, 16>;

struct Header {
  std::uint8_t format_version = kFormatVersion;
  Algorithm algorithm = Algorithm::aes256_gcm;
  std::uint8_t chunk_shift = 16;
  crypto::ScryptParams kdf{};
  std::uint32_t key_version = 0;
  FileId file_id{};
  std::string key_id;
  std::string salt;
  bool sealed = false;
  std::array<std::uint8_t, 16> key_check{};
  std::array<std::uint8_t, 32> mac{};

  std::uint32_t chunk_size() const noexcept { return std::uint32_t{1} << chunk_shift; }
  std::size_t encoded_size() const noexcept { return kFixedHeaderBytes + key_id.size() + salt.size() + kTrailerBytes; }
  // Bytes before the state byte: immutable for the file's life.
  std::size_t core_size() const noexcept { return kFixedHeaderBytes + key_id.size() + salt.size(); }
  // Whether chunks may be holes (version 2); a version 1 file never has any.
  bool allows_holes() const noexcept { return format_version >= 2; }
};

// Serialises all fields (the MAC and key check as stored in `h`).
std::vector<std::uint8_t> encode_header(const Header& h);
// Parses and range-checks the header at the start of `bytes`; does not verify
// the MAC (that needs the key). Errc::not_recvault when the magic is absent,
// Errc::unsupported for an unknown version/algorithm, Errc::tampered when
// fields are out of range.
Result<Header> decode_header(std::span<const std::uint8_t> bytes);

// True when `prefix` (the first bytes of a file) starts with the magic.
bool has_magic(std::span<const std::uint8_t> prefix) noexcept;

// Reads and decodes the header of an open backing file.
Result<Header> read_header(int fd);

}  // namespace recvault::format

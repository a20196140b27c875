// Hashes, MACs, KDFs and the CSPRNG, on OpenSSL 3 EVP.
//
// All functions are thread-safe. Outputs that are keys come back as
// SecretBytes; digests and MACs are not secret and come back as arrays.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "recvault/crypto/secret.hpp"
#include "recvault/util/result.hpp"

namespace recvault::crypto {

using Bytes = std::span<const std::uint8_t>;
using Digest = std::array<std::uint8_t, 32>;

inline Bytes as_bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// Fills `out` from the OpenSSL CSPRNG. Fails only if the RNG is unusable.
Status random_bytes(std::span<std::uint8_t> out);
Result<SecretBytes> random_secret(std::size_t n);

// SHA-256 over the concatenation of `parts`.
Digest sha256(std::initializer_list<Bytes> parts);
// HMAC-SHA256 over the concatenation of `parts`.
Digest hmac_sha256(Bytes key, std::initializer_list<Bytes> parts);

// HKDF-SHA256 (RFC 5869), extract-and-expand.
Result<SecretBytes> hkdf_sha256(Bytes ikm, Bytes salt, Bytes info, std::size_t length);

struct ScryptParams {
  std::uint8_t log2_n = 15;  // N = 32768
  std::uint8_t r = 8;
  std::uint8_t p = 1;
  friend bool operator==(const ScryptParams&, const ScryptParams&) = default;
};
// scrypt (RFC 7914). Memory use is 128 * r * N bytes (32 MiB for the defaults).
Result<SecretBytes> scrypt(Bytes password, Bytes salt, ScryptParams params, std::size_t length);

}  // namespace recvault::crypto

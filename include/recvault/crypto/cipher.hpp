// The two chunk ciphers of the recording format.
//
// A ChunkCipher owns reusable OpenSSL contexts; it is NOT thread-safe: give
// each thread its own (see thread_cipher()). Keys are passed per call so one
// cipher serves many files.
//
//   AES-256-GCM:  key 32 bytes, nonce 12, tag 16; ciphertext length == plaintext.
//   AES-256-CBC + HMAC-SHA256 (encrypt-then-MAC): key 64 bytes (32 AES ‖ 32 MAC),
//   IV 16, PKCS#7 padding, tag = HMAC(mac_key, aad ‖ iv ‖ ciphertext), 32 bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "recvault/crypto/primitives.hpp"

namespace recvault::crypto {

struct GcmSizes {
  static constexpr std::size_t key = 32, nonce = 12, tag = 16;
};
struct CbcHmacSizes {
  static constexpr std::size_t key = 64, iv = 16, block = 16, tag = 32;
  // Ciphertext length for a plaintext of n bytes (PKCS#7 always adds 1..16).
  static constexpr std::size_t ciphertext(std::size_t n) { return (n / block + 1) * block; }
};

class ChunkCipher {
 public:
  ChunkCipher();
  ~ChunkCipher();
  ChunkCipher(const ChunkCipher&) = delete;
  ChunkCipher& operator=(const ChunkCipher&) = delete;

  // out.size() must equal in.size(). tag receives 16 bytes.
  Status gcm_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, std::span<std::uint8_t> out,
                  std::span<std::uint8_t> tag);
  // Errc::tampered when the tag does not verify; `out` is then wiped.
  Status gcm_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, std::span<std::uint8_t> out);

  // out.size() must equal CbcHmacSizes::ciphertext(in.size()).
  Status cbc_seal(Bytes key, Bytes iv, Bytes aad, Bytes in, std::span<std::uint8_t> out, std::span<std::uint8_t> tag);
  // Verifies the MAC before decrypting; returns the plaintext length.
  // out.size() must be >= in.size(). Errc::tampered on any failure.
  Result<std::size_t> cbc_open(Bytes key, Bytes iv, Bytes aad, Bytes in, Bytes tag, std::span<std::uint8_t> out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The calling thread's cipher (created on first use, freed at thread exit).
ChunkCipher& thread_cipher();

}  // namespace recvault::crypto

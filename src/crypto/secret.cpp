#include "recvault/crypto/secret.hpp"

#include <openssl/crypto.h>

namespace recvault::crypto {

void secure_wipe(void* p, std::size_t n) noexcept {
  if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

bool equal_ct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool SecretBytes::equals(const SecretBytes& other) const noexcept { return equal_ct(span(), other.span()); }

}  // namespace recvault::crypto

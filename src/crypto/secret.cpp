#include "recvault/crypto/secret.hpp"

#include <openssl/crypto.h>
#include <string.h>

namespace recvault::crypto {

void secure_wipe(void* p, std::size_t n) noexcept {
  // explicit_bzero is glibc's optimised memset behind a compiler barrier:
  // the stores cannot be elided, and wiping a 1 MiB read buffer costs a
  // fraction of OPENSSL_cleanse's byte loop.
  if (p != nullptr && n != 0) ::explicit_bzero(p, n);
}

bool equal_ct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool SecretBytes::equals(const SecretBytes& other) const noexcept { return equal_ct(span(), other.span()); }

}  // namespace recvault::crypto

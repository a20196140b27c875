// Owners of OpenSSL EVP cipher handles and the checks around OpenSSL calls,
// shared by the crypto sources (internal to src/crypto).
#pragma once

#include <openssl/evp.h>

#include <climits>
#include <cstddef>
#include <memory>
#include <string>

#include "recvault/util/result.hpp"

namespace recvault::crypto {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

struct CipherFree {
  void operator()(EVP_CIPHER* c) const noexcept { EVP_CIPHER_free(c); }
};
// A fetched cipher (EVP_CIPHER_fetch), freed with it.
using FetchedCipher = std::unique_ptr<EVP_CIPHER, CipherFree>;

// Whether a length fits OpenSSL's int parameters.
inline bool fits_int(std::size_t n) { return n <= static_cast<std::size_t>(INT_MAX); }

// The error for a failed OpenSSL call: names the step, never its arguments.
inline Error openssl_failure(const char* what) {
  return make_error(Errc::internal, std::string("OpenSSL ") + what + " failed");
}

}  // namespace recvault::crypto

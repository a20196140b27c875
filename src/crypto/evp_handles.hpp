// Owners of OpenSSL EVP cipher handles, shared by the crypto sources
// (internal to src/crypto).
#pragma once

#include <openssl/evp.h>

#include <memory>

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

}  // namespace recvault::crypto

#include "recvault/crypto/siv.hpp"

#include <openssl/evp.h>

#include <climits>
#include <memory>

#include "evp_handles.hpp"

namespace recvault::crypto {
namespace {

// The SIV cipher for a key of `size` bytes (null for another size).
const EVP_CIPHER* siv_cipher(std::size_t size) {
  static const FetchedCipher c128(EVP_CIPHER_fetch(nullptr, "AES-128-SIV", nullptr));
  static const FetchedCipher c192(EVP_CIPHER_fetch(nullptr, "AES-192-SIV", nullptr));
  static const FetchedCipher c256(EVP_CIPHER_fetch(nullptr, "AES-256-SIV", nullptr));
  switch (size) {
    case 32:
      return c128.get();
    case 48:
      return c192.get();
    case 64:
      return c256.get();
    default:
      return nullptr;
  }
}

// Initialises `c` and feeds the AD vector, one component per update call
// (OpenSSL's SIV takes each AAD update as one S2V component).
Status start(EVP_CIPHER_CTX* c, Bytes key, std::initializer_list<Bytes> ad, bool encrypt) {
  const EVP_CIPHER* cipher = siv_cipher(key.size());
  if (cipher == nullptr) return make_error(Errc::invalid_argument, "AES-SIV key must be 32, 48 or 64 bytes");
  if (ad.size() > 126) return make_error(Errc::invalid_argument, "AES-SIV takes at most 126 AD components");
  if (EVP_CipherInit_ex2(c, cipher, key.data(), nullptr, encrypt ? 1 : 0, nullptr) != 1)
    return openssl_failure("SIV init");
  for (Bytes part : ad) {
    if (!fits_int(part.size())) return make_error(Errc::invalid_argument, "AES-SIV AD component too long");
    // OpenSSL skips a zero-length update, so an empty component would
    // silently vanish from the S2V input: refuse it instead.
    if (part.empty()) return make_error(Errc::invalid_argument, "AES-SIV AD component is empty");
    int len = 0;
    if (EVP_CipherUpdate(c, nullptr, &len, part.data(), static_cast<int>(part.size())) != 1)
      return openssl_failure("SIV AD");
  }
  return {};
}

}  // namespace

Result<std::vector<std::uint8_t>> siv_seal(Bytes key, std::initializer_list<Bytes> ad, Bytes plaintext) {
  // OpenSSL's SIV cannot finish without data (its final step fails).
  if (plaintext.empty() || !fits_int(plaintext.size())) {
    return make_error(Errc::invalid_argument, "AES-SIV plaintext must be 1..INT_MAX bytes");
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return openssl_failure("SIV context");
  RV_TRY(start(ctx.get(), key, ad, true));
  std::vector<std::uint8_t> out(kSivTagSize + plaintext.size());
  int len = 0;
  // SIV must see the whole plaintext in one update.
  if (EVP_CipherUpdate(ctx.get(), out.data() + kSivTagSize, &len, plaintext.data(),
                       static_cast<int>(plaintext.size())) != 1) {
    return openssl_failure("SIV encrypt");
  }
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + kSivTagSize, &len) != 1) return openssl_failure("SIV final");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kSivTagSize), out.data()) != 1) {
    return openssl_failure("SIV tag");
  }
  return out;
}

Result<SecretBytes> siv_open(Bytes key, std::initializer_list<Bytes> ad, Bytes sealed) {
  if (sealed.size() <= kSivTagSize) return make_error(Errc::tampered, "AES-SIV input no longer than its tag");
  if (!fits_int(sealed.size())) return make_error(Errc::invalid_argument, "AES-SIV input too long");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return openssl_failure("SIV context");
  RV_TRY(start(ctx.get(), key, ad, false));
  // V is the CTR IV of decryption: it is set before the data.
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kSivTagSize),
                          const_cast<std::uint8_t*>(sealed.data())) != 1) {
    return openssl_failure("SIV set tag");
  }
  const std::size_t n = sealed.size() - kSivTagSize;
  SecretBytes out(n);
  int len = 0;
  const int rc = EVP_CipherUpdate(ctx.get(), out.data(), &len, sealed.data() + kSivTagSize, static_cast<int>(n));
  int flen = 0;
  if (rc != 1 || EVP_CipherFinal_ex(ctx.get(), out.data(), &flen) != 1) {
    secure_wipe(out.data(), out.size());
    return make_error(Errc::tampered, "AES-SIV authentication failed");
  }
  return out;
}

}  // namespace recvault::crypto

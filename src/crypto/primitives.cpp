#include "recvault/crypto/primitives.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>

namespace recvault::crypto {
namespace {

struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const noexcept { EVP_KDF_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
struct MacFree {
  void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
};

// Fetched algorithm objects are immutable and shared by all threads.
EVP_MAC* hmac_algorithm() {
  static std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  return mac.get();
}

Result<SecretBytes> derive(const char* kdf_name, OSSL_PARAM* params, std::size_t length) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, kdf_name, nullptr);
  if (kdf == nullptr) return make_error(Errc::internal, std::string("KDF unavailable: ") + kdf_name);
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(kdf));
  EVP_KDF_free(kdf);
  if (!ctx) return make_error(Errc::internal, "KDF context allocation failed");
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return make_error(Errc::internal, std::string(kdf_name) + " derivation failed");
  }
  return out;
}

// OSSL_PARAM wants non-const pointers even for inputs it only reads.
void* mut(const void* p) { return const_cast<void*>(p); }

}  // namespace

Status random_bytes(std::span<std::uint8_t> out) {
  if (out.empty()) return {};
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return make_error(Errc::internal, "the random number generator failed");
  }
  return {};
}

Result<SecretBytes> random_secret(std::size_t n) {
  SecretBytes s(n);
  RV_TRY(random_bytes(s.mutable_span()));
  return s;
}

Digest sha256(std::initializer_list<Bytes> parts) {
  Digest d{};
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex2(ctx.get(), EVP_sha256(), nullptr);
  for (Bytes p : parts) EVP_DigestUpdate(ctx.get(), p.data(), p.size());
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), d.data(), &len);
  return d;
}

Digest hmac_sha256(Bytes key, std::initializer_list<Bytes> parts) {
  Digest d{};
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(hmac_algorithm()));
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  static const std::uint8_t empty_key[1] = {0};
  const std::uint8_t* k = key.empty() ? empty_key : key.data();
  EVP_MAC_init(ctx.get(), k, key.size(), params);
  for (Bytes p : parts) EVP_MAC_update(ctx.get(), p.data(), p.size());
  std::size_t len = 0;
  EVP_MAC_final(ctx.get(), d.data(), &len, d.size());
  return d;
}

Result<SecretBytes> hkdf_sha256(Bytes ikm, Bytes salt, Bytes info, std::size_t length) {
  char digest_name[] = "SHA256";
  OSSL_PARAM params[5];
  std::size_t i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, mut(ikm.data()), ikm.size());
  // OpenSSL rejects empty octet strings; an absent salt is RFC 5869's HashLen zeros,
  // an absent info is the empty string, so omitting them is equivalent.
  if (!salt.empty())
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, mut(salt.data()), salt.size());
  if (!info.empty())
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, mut(info.data()), info.size());
  params[i] = OSSL_PARAM_construct_end();
  return derive("HKDF", params, length);
}

Result<SecretBytes> scrypt(Bytes password, Bytes salt, ScryptParams sp, std::size_t length) {
  if (sp.log2_n < 1 || sp.log2_n > 22 || sp.r == 0 || sp.p == 0) {
    return make_error(Errc::invalid_argument, "scrypt parameters out of range");
  }
  std::uint64_t n = std::uint64_t{1} << sp.log2_n;
  std::uint32_t r = sp.r, p = sp.p;
  // Enough for 128*r*N plus OpenSSL's bookkeeping.
  std::uint64_t maxmem = 256 * std::uint64_t{r} * n * (p + 1) + (std::uint64_t{1} << 20);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, mut(password.data()), password.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, mut(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  return derive("SCRYPT", params, length);
}

}  // namespace recvault::crypto

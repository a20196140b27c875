#include "recvault/crypto/cipher.hpp"

#include <openssl/evp.h>

#include <array>
#include <climits>

#include "evp_handles.hpp"

namespace recvault::crypto {
namespace {

// Explicit fetches avoid the implicit per-call lookup of EVP_aes_256_gcm().
const EVP_CIPHER* gcm_cipher() {
  static std::unique_ptr<EVP_CIPHER, CipherFree> c(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  return c.get();
}
const EVP_CIPHER* cbc_cipher() {
  static std::unique_ptr<EVP_CIPHER, CipherFree> c(EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr));
  return c.get();
}

std::array<std::uint8_t, 8> le64(std::uint64_t v) {
  std::array<std::uint8_t, 8> b{};
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  return b;
}

Digest cbc_mac(Bytes mac_key, Bytes aad, Bytes iv, Bytes ciphertext) {
  auto aad_len = le64(aad.size());
  return hmac_sha256(mac_key, {aad_len, aad, iv, ciphertext});
}

}  // namespace

struct ChunkCipher::Impl {
  CipherCtx enc{EVP_CIPHER_CTX_new()};
  CipherCtx dec{EVP_CIPHER_CTX_new()};
};

ChunkCipher::ChunkCipher() : impl_(std::make_unique<Impl>()) {}
ChunkCipher::~ChunkCipher() = default;

Status ChunkCipher::gcm_seal(Bytes key, Bytes nonce, Bytes aad, Bytes in, std::span<std::uint8_t> out,
                             std::span<std::uint8_t> tag) {
  if (key.size() != GcmSizes::key || nonce.size() != GcmSizes::nonce || tag.size() != GcmSizes::tag ||
      out.size() != in.size() || !fits_int(in.size()) || !fits_int(aad.size())) {
    return make_error(Errc::invalid_argument, "gcm_seal: bad buffer sizes");
  }
  EVP_CIPHER_CTX* c = impl_->enc.get();
  int len = 0;
  if (EVP_EncryptInit_ex2(c, gcm_cipher(), key.data(), nonce.data(), nullptr) != 1) {
    return openssl_failure("GCM init");
  }
  if (!aad.empty() && EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return openssl_failure("GCM aad");
  }
  if (!in.empty() && EVP_EncryptUpdate(c, out.data(), &len, in.data(), static_cast<int>(in.size())) != 1) {
    return openssl_failure("GCM encrypt");
  }
  std::uint8_t scratch[16];
  if (EVP_EncryptFinal_ex(c, scratch, &len) != 1) return openssl_failure("GCM final");
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(GcmSizes::tag), tag.data()) != 1) {
    return openssl_failure("GCM tag");
  }
  return {};
}

Status ChunkCipher::gcm_open(Bytes key, Bytes nonce, Bytes aad, Bytes in, Bytes tag, std::span<std::uint8_t> out) {
  if (key.size() != GcmSizes::key || nonce.size() != GcmSizes::nonce || tag.size() != GcmSizes::tag ||
      out.size() != in.size() || !fits_int(in.size()) || !fits_int(aad.size())) {
    return make_error(Errc::invalid_argument, "gcm_open: bad buffer sizes");
  }
  EVP_CIPHER_CTX* c = impl_->dec.get();
  int len = 0;
  if (EVP_DecryptInit_ex2(c, gcm_cipher(), key.data(), nonce.data(), nullptr) != 1) {
    return openssl_failure("GCM init");
  }
  if (!aad.empty() && EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return openssl_failure("GCM aad");
  }
  if (!in.empty() && EVP_DecryptUpdate(c, out.data(), &len, in.data(), static_cast<int>(in.size())) != 1) {
    return openssl_failure("GCM decrypt");
  }
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(GcmSizes::tag),
                          const_cast<std::uint8_t*>(tag.data())) != 1) {
    return openssl_failure("GCM set tag");
  }
  std::uint8_t scratch[16];
  if (EVP_DecryptFinal_ex(c, scratch, &len) != 1) {
    secure_wipe(out.data(), out.size());
    return make_error(Errc::tampered, "authentication tag mismatch");
  }
  return {};
}

Status ChunkCipher::cbc_seal(Bytes key, Bytes iv, Bytes aad, Bytes in, std::span<std::uint8_t> out,
                             std::span<std::uint8_t> tag) {
  if (key.size() != CbcHmacSizes::key || iv.size() != CbcHmacSizes::iv || tag.size() != CbcHmacSizes::tag ||
      out.size() != CbcHmacSizes::ciphertext(in.size()) || !fits_int(out.size())) {
    return make_error(Errc::invalid_argument, "cbc_seal: bad buffer sizes");
  }
  EVP_CIPHER_CTX* c = impl_->enc.get();
  int len1 = 0, len2 = 0;
  if (EVP_EncryptInit_ex2(c, cbc_cipher(), key.data(), iv.data(), nullptr) != 1) {
    return openssl_failure("CBC init");
  }
  if (!in.empty() && EVP_EncryptUpdate(c, out.data(), &len1, in.data(), static_cast<int>(in.size())) != 1) {
    return openssl_failure("CBC encrypt");
  }
  if (EVP_EncryptFinal_ex(c, out.data() + len1, &len2) != 1) return openssl_failure("CBC final");
  if (static_cast<std::size_t>(len1 + len2) != out.size()) return openssl_failure("CBC length");
  Digest mac = cbc_mac(key.subspan(32), aad, iv, out);
  std::copy(mac.begin(), mac.end(), tag.begin());
  return {};
}

Result<std::size_t> ChunkCipher::cbc_open(Bytes key, Bytes iv, Bytes aad, Bytes in, Bytes tag,
                                          std::span<std::uint8_t> out) {
  if (key.size() != CbcHmacSizes::key || iv.size() != CbcHmacSizes::iv || tag.size() != CbcHmacSizes::tag ||
      out.size() < in.size() || !fits_int(in.size())) {
    return make_error(Errc::invalid_argument, "cbc_open: bad buffer sizes");
  }
  Digest mac = cbc_mac(key.subspan(32), aad, iv, in);
  if (!equal_ct(mac, tag)) return make_error(Errc::tampered, "HMAC mismatch");
  if (in.empty() || in.size() % CbcHmacSizes::block != 0) {
    return make_error(Errc::tampered, "CBC ciphertext length is not a whole number of blocks");
  }
  EVP_CIPHER_CTX* c = impl_->dec.get();
  int len1 = 0, len2 = 0;
  if (EVP_DecryptInit_ex2(c, cbc_cipher(), key.data(), iv.data(), nullptr) != 1) {
    return openssl_failure("CBC init");
  }
  if (EVP_DecryptUpdate(c, out.data(), &len1, in.data(), static_cast<int>(in.size())) != 1) {
    return openssl_failure("CBC decrypt");
  }
  if (EVP_DecryptFinal_ex(c, out.data() + len1, &len2) != 1) {
    // Cannot happen for data that passed the MAC unless the key is inconsistent.
    secure_wipe(out.data(), out.size());
    return make_error(Errc::tampered, "CBC padding invalid");
  }
  return static_cast<std::size_t>(len1 + len2);
}

ChunkCipher& thread_cipher() {
  thread_local ChunkCipher cipher;
  return cipher;
}

}  // namespace recvault::crypto

#include "recvault/format/keys.hpp"

#include <string>

namespace recvault::format {

namespace {
constexpr std::size_t kDerivedSize = 32;
}  // namespace

Result<VersionKey> VersionKey::derive(std::string_view key, std::string_view salt, crypto::ScryptParams params) {
  RV_ASSIGN(auto bytes, crypto::scrypt(crypto::as_bytes(key), crypto::as_bytes(salt), params, kDerivedSize));
  return VersionKey(std::move(bytes), params);
}

Result<VersionKey> VersionKey::from_derived(crypto::SecretBytes bytes, crypto::ScryptParams params) {
  if (bytes.size() != kDerivedSize) return make_error(Errc::invalid_argument, "a derived version key has 32 bytes");
  return VersionKey(std::move(bytes), params);
}

Result<FileKeys> derive_file_keys(const VersionKey& key, const Header& h) {
  const auto ikm = key.bytes().span();
  const crypto::Bytes file_id(h.file_id);
  std::string data_info = "recvault/1 data ";
  data_info += algorithm_name(h.algorithm);
  std::size_t data_len = h.algorithm == Algorithm::aes256_gcm ? 32 : 64;

  FileKeys keys;
  RV_ASSIGN(auto data, crypto::hkdf_sha256(ikm, file_id, crypto::as_bytes(data_info), data_len));
  keys.data = std::move(data);
  RV_ASSIGN(auto header, crypto::hkdf_sha256(ikm, file_id, crypto::as_bytes("recvault/1 header"), 32));
  keys.header = std::move(header);
  RV_ASSIGN(auto check, crypto::hkdf_sha256(ikm, file_id, crypto::as_bytes("recvault/1 key check"), 16));
  std::copy(check.data(), check.data() + 16, keys.key_check.begin());
  return keys;
}

}  // namespace recvault::format

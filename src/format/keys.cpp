#include "recvault/format/keys.hpp"

#include <string>

namespace recvault::format {

Result<VersionKey> VersionKey::derive(std::string_view key, std::string_view salt, crypto::ScryptParams params) {
  auto bytes = crypto::scrypt(crypto::as_bytes(key), crypto::as_bytes(salt), params, 32);
  if (!bytes) return std::move(bytes).error();
  return VersionKey(std::move(bytes).value(), params);
}

Result<FileKeys> derive_file_keys(const VersionKey& key, const Header& h) {
  const auto ikm = key.bytes().span();
  const crypto::Bytes file_id(h.file_id);
  std::string data_info = "recvault/1 data ";
  data_info += algorithm_name(h.algorithm);
  std::size_t data_len = h.algorithm == Algorithm::aes256_gcm ? 32 : 64;

  FileKeys keys;
  auto data = crypto::hkdf_sha256(ikm, file_id, crypto::as_bytes(data_info), data_len);
  if (!data) return std::move(data).error();
  keys.data = std::move(data).value();
  auto header = crypto::hkdf_sha256(ikm, file_id, crypto::as_bytes("recvault/1 header"), 32);
  if (!header) return std::move(header).error();
  keys.header = std::move(header).value();
  auto check = crypto::hkdf_sha256(ikm, file_id, crypto::as_bytes("recvault/1 key check"), 16);
  if (!check) return std::move(check).error();
  std::copy(check->data(), check->data() + 16, keys.key_check.begin());
  return keys;
}

}  // namespace recvault::format

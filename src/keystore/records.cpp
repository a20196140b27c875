#include "records.hpp"

#include <nlohmann/json.hpp>

#include "recvault/crypto/primitives.hpp"
#include "recvault/crypto/secret.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::keystore::records {

namespace {

using json = nlohmann::json;

Error damaged(std::string_view what) {
  return make_error(Errc::internal, "keystore record damaged: " + std::string(what));
}

std::string key_aad(std::string_view account, std::uint32_t version) {
  std::string aad("recvault-keystore/1 key");
  aad.push_back('\0');
  aad.append(account);
  aad.push_back('\0');
  aad.append(std::to_string(version));
  return aad;
}

// Binds the derived key to its record, its KDF parameters and its salt.
std::string derived_aad(std::string_view account, std::uint32_t version, crypto::ScryptParams kdf,
                        std::string_view salt) {
  std::string aad("recvault-keystore/1 derived");
  for (const std::string& part :
       {std::string(account), std::to_string(version),
        std::to_string(kdf.log2_n) + "," + std::to_string(kdf.r) + "," + std::to_string(kdf.p), std::string(salt)}) {
    aad.push_back('\0');
    aad.append(part);
  }
  return aad;
}

// The derived key of a version record, when it has one that opens. One that
// does not (a record edited by hand, a master key mix-up) is as good as
// none: the caller derives again and save_derived replaces it.
void decode_derived(const MasterKey& master, std::string_view account, const json& j, KeyVersion& v) {
  auto d = j.find("derived");
  if (d == j.end() || !d->is_object()) return;
  try {
    const auto& kdf = d->at("kdf");
    if (!kdf.is_array() || kdf.size() != 3) return;
    crypto::ScryptParams params{kdf[0].get<std::uint8_t>(), kdf[1].get<std::uint8_t>(), kdf[2].get<std::uint8_t>()};
    auto sealed = base64_decode(d->at("key").get<std::string>());
    if (!sealed) return;
    auto bytes = master.open(*sealed, derived_aad(account, v.version, params, v.salt));
    if (!bytes) return;
    v.derived = std::move(bytes).value();
    v.derived_kdf = params;
  } catch (const json::exception&) {
  }
}

Timestamp from_seconds(std::int64_t s) { return Timestamp(std::chrono::seconds(s)); }
std::int64_t to_seconds(Timestamp t) { return t.time_since_epoch().count(); }

std::optional<json> parse(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

std::string version_key(std::string_view account, std::uint32_t version) {
  std::string k = version_prefix(account);
  for (int shift = 24; shift >= 0; shift -= 8) k.push_back(static_cast<char>((version >> shift) & 0xFF));
  return k;
}

std::string version_prefix(std::string_view account) {
  std::string k(account);
  k.push_back('\0');
  return k;
}

std::uint32_t version_of(std::string_view key, std::string_view account) {
  if (key.size() != account.size() + 5) return 0;
  std::uint32_t v = 0;
  for (std::size_t i = account.size() + 1; i < key.size(); ++i) v = (v << 8) | static_cast<std::uint8_t>(key[i]);
  return v;
}

std::string encode_account(const AccountConfig& c) {
  json j = {
      {"enabled", c.enabled},
      {"algorithm", std::string(format::algorithm_name(c.algorithm))},
      {"key_version", c.key_version},
      {"key_id", c.key_id},
      {"created_at", to_seconds(c.created_at)},
      {"updated_at", to_seconds(c.updated_at)},
      {"public_key_id", c.public_key_id},
  };
  return j.dump();
}

Status decode_account(std::string_view text, AccountConfig& c) {
  auto j = parse(text);
  if (!j) return damaged("account record is not a JSON object");
  try {
    c.enabled = j->at("enabled").get<bool>();
    auto alg = format::parse_algorithm(j->at("algorithm").get<std::string>());
    if (!alg) return damaged("unknown algorithm in account record");
    c.algorithm = *alg;
    c.key_version = j->at("key_version").get<std::uint32_t>();
    c.key_id = j->at("key_id").get<std::string>();
    c.created_at = from_seconds(j->at("created_at").get<std::int64_t>());
    c.updated_at = from_seconds(j->at("updated_at").get<std::int64_t>());
    c.public_key_id = j->value("public_key_id", std::string());
  } catch (const json::exception&) {
    return damaged("account record misses a field or has a wrong type");
  }
  return {};
}

std::string master_check_text() { return "recvault keystore master key check v1"; }
std::string master_check_aad() { return "recvault-keystore/1 master-check"; }

Result<std::string> encode_version(const MasterKey& master, std::string_view account, const KeyVersion& v) {
  // The API carries the key base64-encoded (docs/API.md); we seal that encoding.
  std::string b64 = base64_encode(v.key.span());
  auto sealed = master.seal(crypto::as_bytes(b64), key_aad(account, v.version));
  crypto::secure_wipe(b64.data(), b64.size());
  RV_TRY(sealed);
  json j = {
      {"salt", base64_encode(crypto::as_bytes(v.salt))},
      {"key", base64_encode(*sealed)},
      {"activated_at", to_seconds(v.activated_at)},
  };
  return j.dump();
}

Result<KeyVersion> decode_version(const MasterKey& master, std::string_view account, std::uint32_t version,
                                  std::string_view text) {
  auto j = parse(text);
  if (!j) return damaged("key version record is not a JSON object");
  KeyVersion v;
  v.version = version;
  std::string sealed_b64, salt_b64;
  try {
    salt_b64 = j->at("salt").get<std::string>();
    sealed_b64 = j->at("key").get<std::string>();
    v.activated_at = from_seconds(j->at("activated_at").get<std::int64_t>());
  } catch (const json::exception&) {
    return damaged("key version record misses a field or has a wrong type");
  }
  auto salt = base64_decode(salt_b64);
  if (!salt) return damaged("salt is not base64");
  v.salt.assign(salt->begin(), salt->end());
  auto sealed = base64_decode(sealed_b64);
  if (!sealed) return damaged("sealed key is not base64");
  auto b64 = master.open(*sealed, key_aad(account, version));
  if (!b64)
    return make_error(Errc::tampered, "key of version " + std::to_string(version) + " of account " +
                                          std::string(account) +
                                          " does not decrypt (wrong master key or modified record)");
  auto raw = base64_decode(b64->view());
  if (!raw) return damaged("stored key is not base64");
  v.key = crypto::SecretBytes(raw->data(), raw->size());
  crypto::secure_wipe(raw->data(), raw->size());
  decode_derived(master, account, *j, v);
  return v;
}

Result<std::string> with_derived(const MasterKey& master, std::string_view account, std::uint32_t version,
                                 std::string_view text, const crypto::SecretBytes& derived, crypto::ScryptParams kdf) {
  auto j = parse(text);
  if (!j) return damaged("key version record is not a JSON object");
  auto salt_b64 = j->find("salt");
  if (salt_b64 == j->end() || !salt_b64->is_string()) return damaged("key version record has no salt");
  auto salt = base64_decode(salt_b64->get<std::string>());
  if (!salt) return damaged("salt is not base64");
  const std::string salt_text(salt->begin(), salt->end());
  RV_ASSIGN(auto sealed, master.seal(derived.span(), derived_aad(account, version, kdf, salt_text)));
  (*j)["derived"] = {{"kdf", {kdf.log2_n, kdf.r, kdf.p}}, {"key", base64_encode(sealed)}};
  return j->dump();
}

std::string encode_public_key(const PublicKeyRecord& r) {
  json j = {
      {"account", r.account},
      {"armored", base64_encode(crypto::as_bytes(r.armored))},
      {"fingerprint", r.fingerprint},
      {"created_at", to_seconds(r.created_at)},
  };
  return j.dump();
}

Result<PublicKeyRecord> decode_public_key(std::string_view id, std::string_view text) {
  auto j = parse(text);
  if (!j) return damaged("public key record is not a JSON object");
  PublicKeyRecord r;
  r.id = std::string(id);
  try {
    r.account = j->at("account").get<std::string>();
    auto armored = base64_decode(j->at("armored").get<std::string>());
    if (!armored) return damaged("public key record's armored key is not base64");
    r.armored.assign(armored->begin(), armored->end());
    r.fingerprint = j->at("fingerprint").get<std::string>();
    r.created_at = from_seconds(j->at("created_at").get<std::int64_t>());
  } catch (const json::exception&) {
    return damaged("public key record misses a field or has a wrong type");
  }
  return r;
}

}  // namespace recvault::keystore::records

// The account rules of docs/KEYSTORE.md "Rules": auto-generation, rotation,
// disable/re-enable.
#include "recvault/keystore/account_config.hpp"

#include <array>
#include <cstdint>

#include "recvault/crypto/primitives.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::keystore {

namespace {

Result<crypto::SecretBytes> generate_key_text() {
  std::array<std::uint8_t, kGeneratedKeyBytes> raw{};
  RV_TRY(crypto::random_bytes(raw));
  std::string hex = hex_encode(raw);  // lowercase
  crypto::SecretBytes text = crypto::SecretBytes::from_view(hex);
  crypto::secure_wipe(hex.data(), hex.size());
  crypto::secure_wipe(raw.data(), raw.size());
  return text;
}

Result<std::string> generate_salt() {
  std::array<std::uint8_t, kGeneratedSaltBytes> raw{};
  RV_TRY(crypto::random_bytes(raw));
  return base64_encode(raw);
}

Status validate_request(const UpdateRequest& r) {
  if (r.key) RV_TRY(validate_key(r.key->view()));
  if (r.salt) RV_TRY(validate_salt(*r.salt));
  if (r.public_key_id) RV_TRY(validate_public_key_id(*r.public_key_id));
  return {};
}

}  // namespace

std::string_view scope_name(ScheduledDestruction::Scope scope) noexcept {
  return scope == ScheduledDestruction::Scope::account ? "account" : "versions";
}

Timestamp system_now() { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); }

Result<AccountConfig> apply_update(const std::optional<AccountConfig>& current, const UpdateRequest& request,
                                   std::string_view account, const Clock& clock) {
  RV_TRY(validate_request(request));
  const Timestamp now = clock ? clock() : system_now();

  AccountConfig next;
  if (current) {
    next = *current;
  } else {
    next.created_at = now;
  }
  bool changed = !current;

  if (next.enabled != request.enabled) changed = true;
  next.enabled = request.enabled;
  if (request.algorithm && *request.algorithm != next.algorithm) {
    next.algorithm = *request.algorithm;  // no new version: each file records its algorithm
    changed = true;
  }
  if (request.public_key_id) {
    std::string id = *request.public_key_id;
    for (char& c : id) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
    if (id != next.public_key_id) changed = true;
    next.public_key_id = std::move(id);
  }
  if (request.name_encryption && *request.name_encryption != next.name_encryption) {
    next.name_encryption = *request.name_encryption;  // no new version: names record theirs
    changed = true;
  }

  if (!next.has_key_material()) {
    // First key material: on enable (generating what is missing), or when a
    // disabled account is given a key or salt explicitly.
    if (request.enabled || request.key || request.salt) {
      if (request.key) {
        next.key = *request.key;
      } else {
        auto k = generate_key_text();
        RV_TRY(k);
        next.key = std::move(k).value();
      }
      if (request.salt) {
        next.salt = *request.salt;
      } else {
        auto s = generate_salt();
        RV_TRY(s);
        next.salt = std::move(s).value();
      }
      // 1 for a new account; N+1 after every key of the account was destroyed
      // (a version number is never reused: files of the old N exist).
      if (next.key_version == UINT32_MAX) return make_error(Errc::conflict, "key version limit reached");
      next.key_version += 1;
      if (next.key_id.empty()) next.key_id = auto_key_id(account);
      next.activated_at[next.key_version] = now;
      changed = true;
    }
  } else {
    bool new_key = request.key && !request.key->equals(next.key);
    bool new_salt = request.salt && *request.salt != next.salt;
    if (new_key || new_salt) {
      // Both the old key AND the old salt go to history, whichever changed.
      const std::uint32_t old = next.key_version;
      if (old == UINT32_MAX) return make_error(Errc::conflict, "key version limit reached");
      next.historical_keys[old] = next.key;
      next.historical_salts[old] = next.salt;
      if (new_key) next.key = *request.key;
      if (new_salt) next.salt = *request.salt;
      next.key_version = old + 1;
      next.activated_at[next.key_version] = now;
      changed = true;
    }
  }
  if (request.min_decryption_version) {
    const std::uint32_t v = *request.min_decryption_version;
    if (!next.has_key_material())
      return make_error(Errc::invalid_argument, "min_decryption_version needs an account with a key");
    if (v < 1 || v > next.key_version)
      return make_error(Errc::invalid_argument, "min_decryption_version must be between 1 and key_version (" +
                                                    std::to_string(next.key_version) + ")");
    if (v <= next.destroyed_through)
      return make_error(Errc::invalid_argument, "min_decryption_version must be above the destroyed versions (1.." +
                                                    std::to_string(next.destroyed_through) + ")");
    if (next.destruction && next.destruction->scope == ScheduledDestruction::Scope::versions &&
        v <= next.destruction->through)
      return make_error(Errc::conflict, "a destruction of versions 1.." + std::to_string(next.destruction->through) +
                                            " is scheduled; cancel it before lowering min_decryption_version");
    if (v != next.min_decryption_version) changed = true;
    next.min_decryption_version = v;
  }
  if (changed) next.updated_at = now;
  return next;
}

}  // namespace recvault::keystore

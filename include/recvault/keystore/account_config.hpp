// The per-account encryption configuration and the rules of the config API
// (docs/API.md "Encryption configuration", docs/KEYSTORE.md "Rules"), as pure
// functions: no LMDB here, so every rule is unit-testable without a database.
//
// Decisions (docs/KEYSTORE.md explains each):
//   - key_version, key_id, historical_keys and historical_salts in a request are
//     read-only: accepted, ignored, never applied (listed in ignored_fields).
//   - Any other unknown field is rejected (a typo such as "salts" must not
//     silently lead to an auto-generated salt).
//   - key_id = "key_auto_" + the first 8 characters of the account id, set when
//     key material is first created, kept across rotations.
//   - A different key OR salt creates version N+1; the old key AND the old salt
//     both stay in history under N. Nothing ever removes a historical version.
//   - An algorithm change alone does not create a version (each file records its
//     algorithm in its own header).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "recvault/crypto/secret.hpp"
#include "recvault/format/header.hpp"
#include "recvault/util/result.hpp"

namespace recvault::keystore {

using Timestamp = std::chrono::sys_seconds;
using Clock = std::function<Timestamp()>;
// The wall clock, truncated to seconds.
Timestamp system_now();

inline constexpr std::size_t kMinKeyLength = 32;
inline constexpr std::size_t kMaxKeyLength = 1024;
inline constexpr std::size_t kMaxSaltLength = format::kMaxSaltLength;  // 255
inline constexpr std::size_t kGeneratedKeyBytes = 32;                  // 64 hex characters
inline constexpr std::size_t kGeneratedSaltBytes = 16;                 // 24 base64 characters
inline constexpr std::size_t kKeyIdPrefixLength = 8;

// Algorithm names ("AES-256-GCM" / "AES-256-CBC", exactly) are the format's:
// format::parse_algorithm and format::algorithm_name.

// One key version: the key text exactly as the API returns it, and its salt.
struct KeyVersion {
  std::uint32_t version = 0;
  crypto::SecretBytes key;
  std::string salt;
  Timestamp activated_at{};
  // The version key derived from key and salt with `derived_kdf`, kept so a
  // restart need not run scrypt again (Store::save_derived). Empty when the
  // store holds none (or none that opens).
  crypto::SecretBytes derived;
  crypto::ScryptParams derived_kdf{};
};

struct AccountConfig {
  bool enabled = false;
  format::Algorithm algorithm = format::Algorithm::aes256_gcm;
  // 0 only for an account that was disabled before it ever had key material:
  // key, salt and key_id are then empty.
  std::uint32_t key_version = 0;
  std::string key_id;
  std::string salt;
  crypto::SecretBytes key;                                       // the key text (plain, as the API returns it)
  std::map<std::uint32_t, crypto::SecretBytes> historical_keys;  // version < key_version
  std::map<std::uint32_t, std::string> historical_salts;         // same versions
  std::map<std::uint32_t, Timestamp> activated_at;               // every version, current included
  Timestamp created_at{};
  Timestamp updated_at{};
  std::string public_key_id;  // UUID of an OpenPGP key to seal to; empty = none

  bool has_key_material() const noexcept { return key_version > 0; }
};

struct UpdateRequest {
  bool enabled = false;
  std::optional<format::Algorithm> algorithm;
  std::optional<crypto::SecretBytes> key;  // key text
  std::optional<std::string> salt;
  // nullopt = unchanged; "" = clear; otherwise a UUID (normalised to lowercase).
  std::optional<std::string> public_key_id;
  // Read-only fields the request carried and that were ignored.
  std::vector<std::string> ignored_fields;
};

// Rules on a user-supplied key: at least 32 characters, at most 1024, no NUL,
// not a known default or an obviously weak value (see docs/KEYSTORE.md).
// The error never contains the key.
Status validate_key(std::string_view key);
// Rules on a user-supplied salt: 1..255 bytes, no NUL, not "default_salt"
// (any case).
Status validate_salt(std::string_view salt);
// "" or an RFC 4122 UUID.
Status validate_public_key_id(std::string_view id);

// "key_auto_" + the first kKeyIdPrefixLength characters of the account id.
std::string auto_key_id(std::string_view account);

// Parses a PUT body. Errc::invalid_argument with a human reason for: a body
// that is not an object, "enabled" missing or not a boolean, a field of the
// wrong type, an unknown algorithm, a key or salt breaking the rules above, an
// unknown field. JSON null for algorithm/key/salt/public_key_id means "not
// provided".
Result<UpdateRequest> parse_update_request(const nlohmann::json& body);

// Applies the rules of docs/KEYSTORE.md "Rules" to the current state (nullopt = never configured).
// Generates key (64 hex) and salt (24 base64) from the CSPRNG when enabling
// without key material. Validates the request again (callers may build an
// UpdateRequest by hand). Pure apart from the CSPRNG and `clock`.
Result<AccountConfig> apply_update(const std::optional<AccountConfig>& current, const UpdateRequest& request,
                                   std::string_view account, const Clock& clock = system_now);

// The API's response "config" object (docs/API.md): enabled, algorithm, key_version, key_id,
// salt, key, historical_keys {"1": ...}, historical_salts; plus public_key_id
// only when set. The returned JSON holds key text: do not log it.
nlohmann::json to_json(const AccountConfig& config);
// For an account never configured the API returns {} (see Store::get_config,
// which yields nullopt then).
nlohmann::json to_json(const std::optional<AccountConfig>& config);

// Timestamps too (created_at, updated_at, activated_at per version, RFC 3339):
// for operators and tools, not part of the API's response.
nlohmann::json metadata_json(const AccountConfig& config);

}  // namespace recvault::keystore

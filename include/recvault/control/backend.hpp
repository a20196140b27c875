// What the control API needs from the keystore, as an interface.
//
// The daemon hands the server a KeystoreBackend (daemon/keystore_backend.hpp), which
// adapts keystore::Store. Keeping the handlers on this interface lets them be
// fuzzed and tested without LMDB.
//
// Error contract: Errc::invalid_argument → HTTP 400 with the message (it must
// name the rule, never the rejected value); Errc::not_found → 404;
// Errc::conflict → 409; anything else → 500 with a generic message.
// Implementations must be thread-safe: handlers run on several threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "recvault/util/result.hpp"

namespace recvault::control {

struct PublicKeyRecord {
  std::string id;           // UUID
  std::string fingerprint;  // OpenPGP primary key fingerprint (hex)
  std::string armored;      // exactly as uploaded
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Rejects ids that cannot name an account (path traversal, charset, length).
  virtual Status validate_account_id(std::string_view account) const = 0;

  // The account's config as the API's JSON (docs/API.md) (`{}` if never configured).
  virtual Result<nlohmann::json> get_config(std::string_view account) = 0;
  // Applies a PUT body (docs/KEYSTORE.md "Rules") and returns the resulting config JSON.
  virtual Result<nlohmann::json> update_config(std::string_view account, const nlohmann::json& request) = 0;

  // Stores a validated public key for the account; returns its new UUID.
  virtual Result<std::string> add_public_key(std::string_view account, std::string_view armored,
                                             std::string_view fingerprint) = 0;
  virtual Result<std::vector<std::string>> list_public_keys(std::string_view account) = 0;
  virtual Result<PublicKeyRecord> get_public_key(std::string_view account, std::string_view id) = 0;
  // Errc::conflict (with the reason) when a config still uses the key.
  virtual Status delete_public_key(std::string_view account, std::string_view id) = 0;
};

}  // namespace recvault::control

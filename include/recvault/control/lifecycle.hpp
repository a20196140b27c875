// What the control API needs for the key lifecycle (docs/KEYSTORE.md "Key
// lifecycle"): the census of an account's recordings, the legal hold, and the
// scheduled destruction of keys. The daemon implements it on the keystore and
// the backing directory (daemon/lifecycle.hpp); the server works without one
// (those endpoints then answer 404).
//
// Error contract: as Backend's (backend.hpp): invalid_argument → 400,
// not_found → 404, conflict → 409, unavailable → 503, anything else → 500.
// Replies never carry key material. Implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "recvault/util/result.hpp"

namespace recvault::control {

enum class DestructionScope { versions, account };

class Lifecycle {
 public:
  virtual ~Lifecycle() = default;

  // Recordings and bytes of the account per key version and per kind
  // (encrypted, plain, openpgp, unterminated, unreadable), from the backing
  // files' own headers and xattrs (docs/API.md "Census").
  virtual Result<nlohmann::json> census(std::string_view account) = 0;
  // How many recordings of the account are encrypted under a version below
  // `version` (the check before raising min_decryption_version).
  virtual Result<std::uint64_t> recordings_below(std::string_view account, std::uint32_t version) = 0;

  // The account's lifecycle state as JSON, no key material:
  // {key_version, min_decryption_version, legal_hold, destroyed_versions,
  //  scheduled_destruction}.
  virtual Result<nlohmann::json> set_legal_hold(std::string_view account, bool hold) = 0;
  virtual Result<nlohmann::json> schedule_destruction(std::string_view account, DestructionScope scope,
                                                      std::string_view requested_by) = 0;
  virtual Result<nlohmann::json> cancel_destruction(std::string_view account) = 0;
};

}  // namespace recvault::control

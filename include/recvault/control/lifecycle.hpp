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
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "recvault/control/http.hpp"
#include "recvault/util/result.hpp"

namespace recvault::control {

enum class DestructionScope { versions, account };

struct ReencryptRequest {
  std::optional<std::uint32_t> below;  // rewrite versions below this one; default: the current version
  std::optional<double> mb_per_s;      // the job's throttle; default: the daemon's
  std::string requested_by;            // token subject
  PeerInfo peer;                       // who asked, for the job's audit records
};

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

  // Re-encryption jobs (docs/API.md "Re-encryption"), one per account.
  // Starts the account's job: every recording encrypted under a version
  // below `below` (default: the current version) is rewritten under the
  // current version, at most `mb_per_s` MB/s (default: the daemon's
  // setting). Returns the job (the JSON of jobs()). Errc::conflict while a
  // job of the account runs; Errc::unavailable when this daemon runs none.
  virtual Result<nlohmann::json> start_reencryption(std::string_view account, const ReencryptRequest& request) = 0;
  // The account's jobs: the running one, or the last one (an empty array
  // when there was none).
  virtual Result<nlohmann::json> reencryption_jobs(std::string_view account) = 0;
  // Cancels the running job (Errc::not_found when none runs); returns it.
  virtual Result<nlohmann::json> cancel_reencryption(std::string_view account, std::string_view requested_by) = 0;
};

}  // namespace recvault::control

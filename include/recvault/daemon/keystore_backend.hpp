// The control API's Backend on the real keystore (keystore::Store): the
// daemon joins the two, so the control library never depends on the keystore.
//
// Public keys are scoped to an account: a key uploaded with X-Account-ID A is
// invisible (404) to requests for account B, even if B's token could name its
// UUID.
#pragma once

#include "recvault/control/backend.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/store.hpp"

namespace recvault::daemon {

class KeystoreBackend final : public control::Backend {
 public:
  // `store` (and `keys`, when given) must outlive the backend. With `keys`,
  // a key version an update creates is derived in the background at once,
  // not by the first recording that needs it.
  explicit KeystoreBackend(keystore::Store& store, keystore::KeyCache* keys = nullptr) : store_(store), keys_(keys) {}

  Status validate_account_id(std::string_view account) const override;
  Result<nlohmann::json> get_config(std::string_view account) override;
  Result<nlohmann::json> update_config(std::string_view account, const nlohmann::json& request) override;
  Result<std::string> add_public_key(std::string_view account, std::string_view armored,
                                     std::string_view fingerprint) override;
  Result<std::vector<std::string>> list_public_keys(std::string_view account) override;
  Result<control::PublicKeyRecord> get_public_key(std::string_view account, std::string_view id) override;
  Status delete_public_key(std::string_view account, std::string_view id) override;

 private:
  keystore::Store& store_;
  keystore::KeyCache* keys_;
};

}  // namespace recvault::daemon

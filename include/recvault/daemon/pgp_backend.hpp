// The daemon's control Backend: the keystore's, plus the rules only the
// daemon can check -- a public key that a directory of the view still seals
// to (user.recvault.public_key_id) cannot be deleted (409), like one that an
// account configuration uses (the keystore checks those); and an account
// cannot be configured to seal to a key gpg can no longer encrypt to
// (revoked or expired since upload: 400 with the reason).
#pragma once

#include "recvault/daemon/keystore_backend.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/pgp/sealer.hpp"

namespace recvault::daemon {

class PgpAwareBackend final : public control::Backend {
 public:
  // Both must outlive the backend.
  // `sealer` may be null (no OpenPGP): then only the keystore's checks apply.
  PgpAwareBackend(control::Backend& inner, fuse::Filesystem& fs, pgp::Sealer* sealer = nullptr)
      : inner_(inner), fs_(fs), sealer_(sealer) {}

  Status validate_account_id(std::string_view account) const override { return inner_.validate_account_id(account); }
  Result<nlohmann::json> get_config(std::string_view account) override { return inner_.get_config(account); }
  Result<nlohmann::json> update_config(std::string_view account, const nlohmann::json& request) override;
  Result<std::string> add_public_key(std::string_view account, std::string_view armored,
                                     std::string_view fingerprint) override {
    return inner_.add_public_key(account, armored, fingerprint);
  }
  Result<std::vector<std::string>> list_public_keys(std::string_view account) override {
    return inner_.list_public_keys(account);
  }
  Result<control::PublicKeyRecord> get_public_key(std::string_view account, std::string_view id) override {
    return inner_.get_public_key(account, id);
  }
  Status delete_public_key(std::string_view account, std::string_view id) override;

 private:
  control::Backend& inner_;
  fuse::Filesystem& fs_;
  pgp::Sealer* sealer_;
};

}  // namespace recvault::daemon

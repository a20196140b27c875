// The daemon's control Backend: the keystore's, plus the rules only the
// daemon can check -- a public key that a directory of the view still seals
// to (user.recvault.public_key_id) cannot be deleted (409), like one that an
// account configuration uses (the keystore checks those); and an account
// cannot be configured to seal to a key gpg can no longer encrypt to
// (revoked or expired since upload: 400 with the reason).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "recvault/daemon/keystore_backend.hpp"
#include "recvault/fuse/placement.hpp"
#include "recvault/pgp/sealer.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::daemon {

// Directory key overrides (docs/OPENPGP.md "Directory keys"): which key a
// directory may name (the filesystem asks through fuse::DirectoryKeyPolicy
// on setxattr), and which directories name a key (a key they name cannot be
// deleted). One lock keeps the two apart.
class DirectoryKeys final : public fuse::DirectoryKeyPolicy {
 public:
  // `sealer` may be null (no OpenPGP): then only removals are allowed.
  DirectoryKeys(std::filesystem::path backing_dir, pgp::Sealer* sealer)
      : backing_dir_(std::move(backing_dir)), sealer_(sealer) {}

  Status change_directory_key(const std::string& account, std::string_view public_key_id,
                              const std::function<Status(std::string_view id)>& apply) override RV_EXCLUDES(mutex_);
  // Runs `fn` while no directory override can change.
  Status with_keys_locked(const std::function<Status()>& fn) RV_EXCLUDES(mutex_);
  // Directories of `account` (paths relative to the backing root) whose
  // override is `public_key_id`.
  Result<std::vector<std::string>> directories_using(const std::string& account, std::string_view public_key_id) const;

 private:
  const std::filesystem::path backing_dir_;
  pgp::Sealer* const sealer_;
  Mutex mutex_;  // a leaf of the daemon; see with_keys_locked
};

class PgpAwareBackend final : public control::Backend {
 public:
  // Both must outlive the backend.
  // `sealer` may be null (no OpenPGP): then only the keystore's checks apply.
  PgpAwareBackend(control::Backend& inner, DirectoryKeys& directories, pgp::Sealer* sealer = nullptr)
      : inner_(inner), directories_(directories), sealer_(sealer) {}

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
  DirectoryKeys& directories_;
  pgp::Sealer* sealer_;
};

}  // namespace recvault::daemon

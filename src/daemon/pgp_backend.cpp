#include "recvault/daemon/pgp_backend.hpp"

#include <cctype>

#include "recvault/keystore/account_config.hpp"

namespace recvault::daemon {

Result<nlohmann::json> PgpAwareBackend::update_config(std::string_view account, const nlohmann::json& request) {
  // Fail at configuration, not at the next recording's create (EIO). Only
  // "gpg cannot encrypt to it" is decided here: a malformed request or an
  // unknown id gets the keystore's answer, and a gpg failure must not block
  // configuration.
  auto parsed = keystore::parse_update_request(request);
  if (sealer_ != nullptr && parsed && parsed->public_key_id && !parsed->public_key_id->empty() &&
      inner_.validate_account_id(account)) {
    std::string id = *parsed->public_key_id;
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto usable = sealer_->recipient(account, id);
    if (!usable && usable.error().code == Errc::invalid_argument) return std::move(usable).error();
  }
  return inner_.update_config(account, request);
}

Status PgpAwareBackend::delete_public_key(std::string_view account, std::string_view id) {
  RV_TRY(inner_.validate_account_id(account));
  // Scan and delete under the directory-key lock: no override can name the
  // key between the check and the deletion.
  return fs_.with_directory_keys_locked([&]() -> Status {
    auto dirs = fs_.directories_using(std::string(account), id);
    RV_TRY(dirs);
    if (!dirs->empty()) {
      std::string names;
      for (const auto& d : *dirs) names += (names.empty() ? "" : ", ") + d;
      return make_error(Errc::conflict, "public key " + std::string(id) +
                                            " is in use by directory(ies): " + names +
                                            " (remove their user.recvault.public_key_id first)");
    }
    return inner_.delete_public_key(account, id);
  });
}

}  // namespace recvault::daemon

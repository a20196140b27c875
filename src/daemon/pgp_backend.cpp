#include "recvault/daemon/pgp_backend.hpp"

namespace recvault::daemon {

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

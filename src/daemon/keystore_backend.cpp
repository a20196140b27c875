#include "recvault/daemon/keystore_backend.hpp"

#include <algorithm>

#include "recvault/keystore/account_id.hpp"

namespace recvault::daemon {
namespace {

Error key_not_found() { return make_error(Errc::not_found, "Public key not found"); }

// Storage failures reach the client as a generic 500; validation reasons and
// an unreachable cluster keystore (503: retry later) pass.
Error from_store(Error e) {
  if (e.code == Errc::invalid_argument || e.code == Errc::conflict || e.code == Errc::not_found ||
      e.code == Errc::unavailable)
    return e;
  return make_error(Errc::internal, "keystore failure");
}

}  // namespace

Status KeystoreBackend::validate_account_id(std::string_view account) const {
  return keystore::validate_account_id(account);
}

Result<nlohmann::json> KeystoreBackend::get_config(std::string_view account) {
  auto config = store_.get_config(account);
  if (!config) return from_store(std::move(config).error());
  return keystore::to_json(*config);
}

Result<nlohmann::json> KeystoreBackend::update_config(std::string_view account, const nlohmann::json& request) {
  RV_ASSIGN(auto parsed, keystore::parse_update_request(request));
  auto config = store_.update_config(account, parsed);
  if (!config) return from_store(std::move(config).error());
  if (keys_ != nullptr && config->enabled) keys_->prefetch(account);
  return keystore::to_json(*config);
}

Result<std::string> KeystoreBackend::add_public_key(std::string_view account, std::string_view armored,
                                                    std::string_view fingerprint) {
  auto record = store_.add_public_key(account, armored, fingerprint);
  if (!record) return from_store(std::move(record).error());
  return record->id;
}

Result<std::vector<std::string>> KeystoreBackend::list_public_keys(std::string_view account) {
  auto records = store_.list_public_keys(account);
  if (!records) return from_store(std::move(records).error());
  std::vector<std::string> ids;
  ids.reserve(records->size());
  for (const auto& r : *records) ids.push_back(r.id);
  return ids;
}

Result<control::PublicKeyRecord> KeystoreBackend::get_public_key(std::string_view account, std::string_view id) {
  auto record = store_.get_public_key(id);
  if (!record) {
    if (record.error().code == Errc::not_found) return key_not_found();
    return from_store(std::move(record).error());
  }
  if (record->account != account) return key_not_found();
  return control::PublicKeyRecord{record->id, record->fingerprint, record->armored};
}

Status KeystoreBackend::delete_public_key(std::string_view account, std::string_view id) {
  RV_ASSIGN(auto record, get_public_key(account, id));
  auto st = store_.delete_public_key(id);
  if (!st) {
    if (st.error().code == Errc::not_found) return key_not_found();
    if (st.error().code == Errc::conflict)
      return make_error(Errc::conflict, "Public key is in use by an account configuration: " + st.error().message);
    return from_store(std::move(st).error());
  }
  return {};
}

}  // namespace recvault::daemon

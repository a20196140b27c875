// The public-keys half of the Store (client OpenPGP keys).
#include "records.hpp"
#include "recvault/keystore/account_id.hpp"
#include "recvault/keystore/uuid.hpp"
#include "store_impl.hpp"

namespace recvault::keystore {

using engine::Table;

namespace {

constexpr std::size_t kMaxFingerprintLength = 128;

Result<std::string> normalise_id(std::string_view id) {
  if (!is_uuid(id)) return make_error(Errc::invalid_argument, "public key id must be a UUID");
  std::string out(id);
  for (char& c : out) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

}  // namespace

Result<std::vector<std::string>> Store::Impl::accounts_using(const engine::Reader& r,
                                                             std::string_view public_key_id) const {
  std::vector<std::string> out;
  Status failed;
  RV_TRY(r.scan(Table::accounts, "", [&](std::string_view k, std::string_view v) {
    AccountConfig c;
    if (auto s = records::decode_account(v, c); !s) {
      failed = std::move(s).error();
      return false;
    }
    if (c.public_key_id == public_key_id) out.emplace_back(k);
    return true;
  }));
  RV_TRY(failed);
  return out;
}

Result<PublicKeyRecord> Store::add_public_key(std::string_view account, std::string_view armored,
                                              std::string_view fingerprint) {
  RV_TRY(validate_account_id(account));
  if (armored.empty()) return make_error(Errc::invalid_argument, "public key is empty");
  if (armored.size() > kMaxArmoredKeyBytes)
    return make_error(Errc::invalid_argument, "public key is larger than 1 MiB");
  if (fingerprint.empty() || fingerprint.size() > kMaxFingerprintLength)
    return make_error(Errc::invalid_argument, "fingerprint must be 1..128 characters");
  for (char c : fingerprint)
    if (c < 0x20 || c > 0x7E) return make_error(Errc::invalid_argument, "fingerprint must be printable ASCII");
  if (impl_->engine->read_only()) return make_error(Errc::conflict, "keystore is open read-only");

  PublicKeyRecord rec;
  rec.account = std::string(account);
  rec.armored = std::string(armored);
  rec.fingerprint = std::string(fingerprint);
  rec.created_at = impl_->options.clock ? impl_->options.clock() : system_now();
  RV_TRY(impl_->with_writer([&](engine::Writer& w) -> Result<bool> {
    for (int attempt = 0;; ++attempt) {
      auto id = generate_uuid_v4();
      RV_TRY(id);
      rec.id = std::move(id).value();
      auto existing = w.get(Table::public_keys, rec.id);
      RV_TRY(existing);
      if (!*existing) break;
      if (attempt == 3) return make_error(Errc::internal, "cannot generate a unique public key id");
    }
    RV_TRY(w.put(Table::public_keys, rec.id, records::encode_public_key(rec), true));
    return true;
  }));
  return rec;
}

Result<PublicKeyRecord> Store::get_public_key(std::string_view public_key_id) const {
  auto id = normalise_id(public_key_id);
  RV_TRY(id);
  auto r = impl_->engine->read();
  RV_TRY(r);
  auto v = (*r)->get(Table::public_keys, *id);
  RV_TRY(v);
  if (!*v) return make_error(Errc::not_found, "no public key " + *id);
  return records::decode_public_key(*id, **v);
}

Result<std::vector<PublicKeyRecord>> Store::list_public_keys(std::string_view account) const {
  RV_TRY(validate_account_id(account));
  auto r = impl_->engine->read();
  RV_TRY(r);
  std::vector<PublicKeyRecord> out;
  Status failed;
  RV_TRY((*r)->scan(Table::public_keys, "", [&](std::string_view k, std::string_view v) {
    auto rec = records::decode_public_key(k, v);
    if (!rec) {
      failed = std::move(rec).error();
      return false;
    }
    if (rec->account == account) out.push_back(std::move(rec).value());
    return true;
  }));
  RV_TRY(failed);
  return out;
}

Result<std::vector<std::string>> Store::accounts_using(std::string_view public_key_id) const {
  auto id = normalise_id(public_key_id);
  RV_TRY(id);
  auto r = impl_->engine->read();
  RV_TRY(r);
  return impl_->accounts_using(**r, *id);
}

Status Store::delete_public_key(std::string_view public_key_id, bool force) {
  auto id = normalise_id(public_key_id);
  RV_TRY(id);
  if (impl_->engine->read_only()) return make_error(Errc::conflict, "keystore is open read-only");
  return impl_->with_writer([&](engine::Writer& w) -> Result<bool> {
    auto users = impl_->accounts_using(w, *id);  // same txn: no race with an update
    RV_TRY(users);
    if (!users->empty() && !force) {
      std::string names;
      for (const auto& a : *users) names += (names.empty() ? "" : ", ") + a;
      return make_error(Errc::conflict, "public key " + *id + " is in use by account(s): " + names);
    }
    auto removed = w.del(Table::public_keys, *id);
    RV_TRY(removed);
    if (!*removed) return make_error(Errc::not_found, "no public key " + *id);
    return true;
  });
}

}  // namespace recvault::keystore

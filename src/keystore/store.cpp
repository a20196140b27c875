// Opening the keystore and the account-config half of the Store: the rules of
// account_config.hpp on the records of records.hpp, on either engine.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "records.hpp"
#include "recvault/keystore/account_id.hpp"
#include "store_impl.hpp"

namespace recvault::keystore {

using engine::Table;

Status Store::Impl::with_writer(const std::function<Result<bool>(engine::Writer&)>& attempt) {
  for (int n = 1;; ++n) {
    auto w = engine->write();
    RV_TRY(w);
    auto write = attempt(**w);
    RV_TRY(write);
    if (!*write) return {};
    auto committed = (*w)->commit();
    RV_TRY(committed);
    if (*committed) return {};
    if (n == kMaxUpdateAttempts)
      return make_error(Errc::conflict, "the keystore is being changed by another host; try again");
    // Another host won the race: back off a little, randomly, so two hosts
    // retrying in step do not collide forever.
    thread_local std::minstd_rand rng(std::random_device{}());
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (200u * static_cast<unsigned>(std::min(n, 10)))));
  }
}

Status Store::Impl::check_or_write_meta(const std::string& where) {
  std::string schema_text, check_text;
  {
    auto r = engine->read();
    RV_TRY(r);
    auto schema = (*r)->get(Table::meta, records::kSchemaKey);
    RV_TRY(schema);
    if (*schema) schema_text = **schema;
    auto check = (*r)->get(Table::meta, records::kMasterCheckKey);
    RV_TRY(check);
    if (*check) check_text = **check;
    if (!*schema && engine->read_only()) return make_error(Errc::not_recvault, where + " is not initialised");
  }
  if (schema_text.empty()) {
    auto sealed = master.seal(crypto::as_bytes(records::master_check_text()), records::master_check_aad());
    RV_TRY(sealed);
    const std::string bytes(reinterpret_cast<const char*>(sealed->data()), sealed->size());
    // Another host may initialise the same etcd prefix at the same moment:
    // the loser re-reads and checks the winner's records.
    RV_TRY(with_writer([&](engine::Writer& w) -> Result<bool> {
      auto schema = w.get(Table::meta, records::kSchemaKey);
      RV_TRY(schema);
      if (*schema) {
        schema_text = **schema;
        auto check = w.get(Table::meta, records::kMasterCheckKey);
        RV_TRY(check);
        check_text = check->value_or("");
        return false;
      }
      RV_TRY(w.put(Table::meta, records::kSchemaKey, std::to_string(kSchemaVersion), false));
      RV_TRY(w.put(Table::meta, records::kMasterCheckKey, bytes, false));
      schema_text = std::to_string(kSchemaVersion);
      check_text = bytes;
      return true;
    }));
  }
  if (schema_text != std::to_string(kSchemaVersion))
    return make_error(Errc::unsupported, where + " has schema version " + schema_text.substr(0, 16) +
                                             "; this build reads " + std::to_string(kSchemaVersion));
  if (check_text.empty()) return make_error(Errc::internal, "keystore record damaged: master key check is missing");
  auto opened = master.open({reinterpret_cast<const std::uint8_t*>(check_text.data()), check_text.size()},
                            records::master_check_aad());
  if (!opened || opened->view() != records::master_check_text())
    return make_error(Errc::wrong_key,
                      "the master key does not match " + where + " (it was created with another master key)");
  return {};
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  Impl* i = impl_.get();
  impl_->engine->start_watch([i](std::string_view account) { i->bump_generation(account); });
}
// The engine first: its watch thread reports into generations, which Impl
// would otherwise destroy before it.
Store::~Store() {
  if (impl_) impl_->engine.reset();
}
const std::filesystem::path& Store::path() const noexcept { return impl_->dir; }
StoreInfo Store::info() const { return impl_->engine->info(); }

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& dir, MasterKey master, StoreOptions options) {
  auto engine = engine::open_lmdb(dir, options);
  RV_TRY(engine);
  auto impl = std::make_unique<Impl>(std::move(engine).value(), std::move(master), std::move(options));
  impl->dir = dir;
  RV_TRY(impl->check_or_write_meta("keystore " + dir.string()));
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::unique_ptr<Store>> Store::open_etcd(const EtcdOptions& etcd, MasterKey master, StoreOptions options) {
  auto engine = engine::open_etcd(etcd, options.read_only);
  RV_TRY(engine);
  auto impl = std::make_unique<Impl>(std::move(engine).value(), std::move(master), std::move(options));
  RV_TRY(impl->check_or_write_meta("the etcd keystore under " + etcd.prefix));
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::optional<AccountConfig>> Store::Impl::load_config(const engine::Reader& r, std::string_view account) const {
  auto rec = r.get(Table::accounts, account);
  RV_TRY(rec);
  if (!*rec) return std::optional<AccountConfig>{};
  AccountConfig c;
  RV_TRY(records::decode_account(**rec, c));
  Status failed;
  std::uint32_t expected = 1;
  RV_TRY(r.scan(Table::versions, records::version_prefix(account), [&](std::string_view k, std::string_view v) {
    std::uint32_t n = records::version_of(k, account);
    if (n != expected || n > c.key_version) {
      failed = make_error(Errc::internal, "keystore record damaged: account " + std::string(account) +
                                              " has an unexpected key version " + std::to_string(n));
      return false;
    }
    auto kv = records::decode_version(master, account, n, v);
    if (!kv) {
      failed = std::move(kv).error();
      return false;
    }
    c.activated_at[n] = kv->activated_at;
    if (n == c.key_version) {
      c.key = std::move(kv->key);
      c.salt = std::move(kv->salt);
    } else {
      c.historical_keys[n] = std::move(kv->key);
      c.historical_salts[n] = std::move(kv->salt);
    }
    ++expected;
    return true;
  }));
  RV_TRY(failed);
  if (expected != c.key_version + 1)
    return make_error(Errc::internal, "keystore record damaged: account " + std::string(account) +
                                          " is missing key version " + std::to_string(expected));
  return std::optional<AccountConfig>(std::move(c));
}

void Store::Impl::bump_generation(std::string_view account) {
  std::unique_lock lock(generations_mutex);
  auto it = generations.find(account);
  if (it == generations.end()) it = generations.emplace(std::string(account), 0).first;
  ++it->second;
}

std::uint64_t Store::generation(std::string_view account) const {
  std::shared_lock lock(impl_->generations_mutex);
  auto it = impl_->generations.find(account);
  return it == impl_->generations.end() ? 0 : it->second;
}

Result<std::optional<AccountConfig>> Store::get_config(std::string_view account) const {
  RV_TRY(validate_account_id(account));
  auto r = impl_->engine->read();
  RV_TRY(r);
  return impl_->load_config(**r, account);
}

Result<AccountConfig> Store::update_config(std::string_view account, const UpdateRequest& request) {
  RV_TRY(validate_account_id(account));
  if (impl_->engine->read_only()) return make_error(Errc::conflict, "keystore is open read-only");
  std::optional<AccountConfig> result;
  // The engine reports the committed change (generation()).
  RV_TRY(impl_->with_writer([&](engine::Writer& w) -> Result<bool> {
    auto current = impl_->load_config(w, account);
    RV_TRY(current);
    auto next = apply_update(*current, request, account, impl_->options.clock);
    RV_TRY(next);
    const AccountConfig& old = current->has_value() ? **current : AccountConfig{};
    const std::string encoded = records::encode_account(*next);
    result = std::move(next).value();
    const AccountConfig& n = *result;
    if (current->has_value() && n.key_version == old.key_version && encoded == records::encode_account(old))
      return false;  // nothing changed: no write, no new version

    if (!n.public_key_id.empty() && n.public_key_id != old.public_key_id) {
      auto pk = w.get(Table::public_keys, n.public_key_id);
      RV_TRY(pk);
      if (!*pk) return make_error(Errc::invalid_argument, "public_key_id names no uploaded public key");
      auto rec = records::decode_public_key(n.public_key_id, **pk);
      RV_TRY(rec);
      if (rec->account != account)
        return make_error(Errc::invalid_argument, "public_key_id names a public key of another account");
    }
    for (std::uint32_t v = old.key_version + 1; v <= n.key_version; ++v) {
      KeyVersion kv;
      kv.version = v;
      kv.key = v == n.key_version ? n.key : n.historical_keys.at(v);
      kv.salt = v == n.key_version ? n.salt : n.historical_salts.at(v);
      kv.activated_at = n.activated_at.at(v);
      auto value = records::encode_version(impl_->master, account, kv);
      RV_TRY(value);
      // An existing key version is never replaced.
      RV_TRY(w.put(Table::versions, records::version_key(account, v), *value, true));
    }
    RV_TRY(w.put(Table::accounts, account, encoded, false));
    return true;
  }));
  return std::move(*result);
}

Result<KeyVersion> Store::get_version(std::string_view account, std::uint32_t version) const {
  RV_TRY(validate_account_id(account));
  std::optional<std::string> rec;
  {
    auto r = impl_->engine->read();
    RV_TRY(r);
    auto v = (*r)->get(Table::versions, records::version_key(account, version));
    RV_TRY(v);
    rec = std::move(v).value();
  }
  if (!rec)
    return make_error(Errc::key_unavailable,
                      "account " + std::string(account) + " has no key version " + std::to_string(version));
  return records::decode_version(impl_->master, account, version, *rec);
}

bool Store::read_only() const noexcept { return impl_->engine->read_only(); }

Status Store::save_derived(std::string_view account, std::uint32_t version, const crypto::SecretBytes& derived,
                           crypto::ScryptParams kdf) {
  RV_TRY(validate_account_id(account));
  if (impl_->engine->read_only()) return make_error(Errc::conflict, "keystore is open read-only");
  return impl_->with_writer([&](engine::Writer& w) -> Result<bool> {
    const std::string key = records::version_key(account, version);
    RV_ASSIGN(auto rec, w.get(Table::versions, key));
    if (!rec)
      return make_error(Errc::key_unavailable,
                        "account " + std::string(account) + " has no key version " + std::to_string(version));
    RV_ASSIGN(auto stored, records::decode_version(impl_->master, account, version, *rec));
    if (!stored.derived.empty() && stored.derived_kdf == kdf && stored.derived.equals(derived)) return false;
    RV_ASSIGN(auto updated, records::with_derived(impl_->master, account, version, *rec, derived, kdf));
    RV_TRY(w.put(Table::versions, key, updated, false));
    return true;
  });
}

Result<std::vector<std::string>> Store::list_accounts() const {
  auto r = impl_->engine->read();
  RV_TRY(r);
  std::vector<std::string> out;
  RV_TRY((*r)->scan(Table::accounts, "", [&](std::string_view k, std::string_view) {
    out.emplace_back(k);
    return true;
  }));
  return out;
}

}  // namespace recvault::keystore

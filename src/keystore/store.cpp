// Opening the keystore and the account-config half of the Store.
#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <mutex>
#include <system_error>

#include "records.hpp"
#include "recvault/keystore/account_id.hpp"
#include "store_impl.hpp"

namespace recvault::keystore {

Status Store::Impl::init_tables(lmdb::Txn& txn, bool create) {
  Impl& s = *this;
  const unsigned flags = create ? MDB_CREATE : 0;
  auto open = [&](const char* name, MDB_dbi& out) -> Status {
    auto dbi = txn.open_dbi(name, flags);
    if (!dbi) {
      if (create) return std::move(dbi).error();
      return make_error(Errc::not_recvault, "keystore " + s.dir.string() + " has no table \"" + name +
                                                "\": not a recvault keystore");
    }
    out = *dbi;
    return {};
  };
  RV_TRY(open("meta", s.meta));
  RV_TRY(open("accounts", s.accounts));
  RV_TRY(open("versions", s.versions));
  RV_TRY(open("public_keys", s.public_keys));
  return {};
}

// A fresh store gets its schema version and master-key check; an existing one
// must match both.
Status Store::Impl::check_or_write_meta(lmdb::Txn& txn, lmdb::WriteTxn* writer) {
  Impl& s = *this;
  auto schema = txn.get(s.meta, records::kSchemaKey);
  RV_TRY(schema);
  if (!*schema) {
    if (writer == nullptr) return make_error(Errc::not_recvault, "keystore " + s.dir.string() + " is not initialised");
    RV_TRY(writer->put(s.meta, records::kSchemaKey, std::to_string(kSchemaVersion)));
    auto sealed = s.master.seal(crypto::as_bytes(records::master_check_text()), records::master_check_aad());
    RV_TRY(sealed);
    std::string_view bytes(reinterpret_cast<const char*>(sealed->data()), sealed->size());
    RV_TRY(writer->put(s.meta, records::kMasterCheckKey, bytes));
    return {};
  }
  if (**schema != std::to_string(kSchemaVersion))
    return make_error(Errc::unsupported, "keystore " + s.dir.string() + " has schema version " +
                                             std::string(schema->value().substr(0, 16)) + "; this build reads " +
                                             std::to_string(kSchemaVersion));
  auto check = txn.get(s.meta, records::kMasterCheckKey);
  RV_TRY(check);
  if (!*check) return make_error(Errc::internal, "keystore record damaged: master key check is missing");
  std::string_view c = **check;
  auto opened = s.master.open({reinterpret_cast<const std::uint8_t*>(c.data()), c.size()}, records::master_check_aad());
  if (!opened || opened->view() != records::master_check_text())
    return make_error(Errc::wrong_key, "the master key does not match keystore " + s.dir.string() +
                                           " (it was created with another master key)");
  return {};
}

namespace {

Error open_error(int rc, const std::filesystem::path& dir) {
  Error e = lmdb::error(rc, "cannot open keystore " + dir.string());
  if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH || rc == MDB_PAGE_NOTFOUND) {
    e.code = Errc::internal;
    e.message += " (data.mdb is corrupt or not an LMDB file; restore it from a backup)";
  }
  return e;
}

}  // namespace

Result<sys::UniqueFd> lock_store_dir(const std::filesystem::path& dir, int how) {
  const auto path = dir / kLockFileName;
  sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    int err = errno;
    return sys_error("cannot open " + path.string(), err);
  }
  if (::flock(fd.get(), how | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK)
      return make_error(Errc::conflict, how == LOCK_EX ? "keystore " + dir.string() + " is open by a process"
                                                       : "keystore " + dir.string() + " is being restored");
    return sys_error("cannot lock " + path.string(), err);
  }
  return fd;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;
const std::filesystem::path& Store::path() const noexcept { return impl_->dir; }

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& dir, MasterKey master, StoreOptions options) {
  auto impl = std::make_unique<Impl>(dir, std::move(master), std::move(options));
  if (!impl->options.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return sys_error("cannot create keystore directory " + dir.string(), ec.value());
  }
  auto lock = lock_store_dir(dir, LOCK_SH);
  RV_TRY(lock);
  impl->lock_fd = std::move(lock).value();

  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != 0) return lmdb::error(rc, "cannot create LMDB environment");
  impl->env = lmdb::Env(raw);
  if ((rc = mdb_env_set_mapsize(raw, impl->options.map_size)) != 0) return lmdb::error(rc, "cannot set map size");
  if ((rc = mdb_env_set_maxdbs(raw, 8)) != 0) return lmdb::error(rc, "cannot set table count");
  // MDB_NOTLS: read transactions are not tied to threads (thread pools).
  unsigned flags = MDB_NOTLS | (impl->options.read_only ? MDB_RDONLY : 0U);
  if ((rc = mdb_env_open(raw, dir.c_str(), flags, 0600)) != 0) return open_error(rc, dir);

  if (impl->options.read_only) {
    auto txn = lmdb::ReadTxn::begin(raw);
    RV_TRY(txn);
    RV_TRY(impl->init_tables(*txn, false));
    RV_TRY(impl->check_or_write_meta(*txn, nullptr));
    RV_TRY(txn->commit());
  } else {
    auto txn = lmdb::WriteTxn::begin(raw);
    RV_TRY(txn);
    RV_TRY(impl->init_tables(*txn, true));
    RV_TRY(impl->check_or_write_meta(*txn, &*txn));
    RV_TRY(txn->commit());
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::optional<AccountConfig>> Store::Impl::load_config(const lmdb::Txn& txn, std::string_view account) const {
  auto rec = txn.get(accounts, account);
  RV_TRY(rec);
  if (!*rec) return std::optional<AccountConfig>{};
  AccountConfig c;
  RV_TRY(records::decode_account(**rec, c));
  Status failed;
  std::uint32_t expected = 1;
  RV_TRY(txn.scan(versions, records::version_prefix(account), [&](std::string_view k, std::string_view v) {
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
  auto txn = lmdb::ReadTxn::begin(impl_->env.get());
  RV_TRY(txn);
  return impl_->load_config(*txn, account);
}

Result<AccountConfig> Store::update_config(std::string_view account, const UpdateRequest& request) {
  RV_TRY(validate_account_id(account));
  if (impl_->options.read_only) return make_error(Errc::conflict, "keystore is open read-only");
  auto txn = lmdb::WriteTxn::begin(impl_->env.get());
  RV_TRY(txn);
  auto current = impl_->load_config(*txn, account);
  RV_TRY(current);
  auto next = apply_update(*current, request, account, impl_->options.clock);
  RV_TRY(next);
  const AccountConfig& old = current->has_value() ? **current : AccountConfig{};
  const std::string encoded = records::encode_account(*next);
  if (current->has_value() && next->key_version == old.key_version && encoded == records::encode_account(old))
    return std::move(next).value();  // nothing changed: no write, no new version

  if (!next->public_key_id.empty() && next->public_key_id != old.public_key_id) {
    auto pk = txn->get(impl_->public_keys, next->public_key_id);
    RV_TRY(pk);
    if (!*pk) return make_error(Errc::invalid_argument, "public_key_id names no uploaded public key");
    auto rec = records::decode_public_key(next->public_key_id, **pk);
    RV_TRY(rec);
    if (rec->account != account)
      return make_error(Errc::invalid_argument, "public_key_id names a public key of another account");
  }
  for (std::uint32_t v = old.key_version + 1; v <= next->key_version; ++v) {
    KeyVersion kv{v, v == next->key_version ? next->key : next->historical_keys.at(v),
                  v == next->key_version ? next->salt : next->historical_salts.at(v), next->activated_at.at(v)};
    auto value = records::encode_version(impl_->master, account, kv);
    RV_TRY(value);
    // MDB_NOOVERWRITE: an existing key version is never replaced.
    RV_TRY(txn->put(impl_->versions, records::version_key(account, v), *value, MDB_NOOVERWRITE));
  }
  RV_TRY(txn->put(impl_->accounts, account, encoded));
  RV_TRY(txn->commit());
  impl_->bump_generation(account);
  return std::move(next).value();
}

Result<KeyVersion> Store::get_version(std::string_view account, std::uint32_t version) const {
  RV_TRY(validate_account_id(account));
  auto txn = lmdb::ReadTxn::begin(impl_->env.get());
  RV_TRY(txn);
  auto rec = txn->get(impl_->versions, records::version_key(account, version));
  RV_TRY(rec);
  if (!*rec)
    return make_error(Errc::key_unavailable, "account " + std::string(account) + " has no key version " +
                                                 std::to_string(version));
  return records::decode_version(impl_->master, account, version, **rec);
}

Result<std::vector<std::string>> Store::list_accounts() const {
  auto txn = lmdb::ReadTxn::begin(impl_->env.get());
  RV_TRY(txn);
  std::vector<std::string> out;
  RV_TRY(txn->scan(impl_->accounts, "", [&](std::string_view k, std::string_view) {
    out.emplace_back(k);
    return true;
  }));
  return out;
}

}  // namespace recvault::keystore

// Online backup, restore and the consistency check.
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <system_error>

#include "records.hpp"
#include "recvault/keystore/account_id.hpp"
#include "recvault/keystore/uuid.hpp"
#include "store_impl.hpp"

namespace recvault::keystore {

namespace fs = std::filesystem;

Status Store::backup(const fs::path& dest) const {
  if (impl_->engine->info().engine == "lmdb") return impl_->engine->backup(dest);
  // Another engine: copy its records (sealed as stored) into a temporary LMDB
  // store beside `dest`, check the copy, then back that up as usual.
  std::error_code ec;
  if (fs::exists(dest, ec)) return make_error(Errc::conflict, "backup file " + dest.string() + " already exists");
  fs::path staging = dest;
  staging += ".staging";
  fs::remove_all(staging, ec);
  Status result = [&]() -> Status {
    StoreOptions o;
    o.clock = impl_->options.clock;
    auto copy = Store::open(staging, impl_->master.clone(), o);
    RV_TRY(copy);
    RV_TRY(copy_into(**copy));
    return (*copy)->backup(dest);
  }();
  fs::remove_all(staging, ec);
  return result;
}

Result<std::size_t> Store::copy_into(Store& dest) const {
  using engine::Table;
  {
    auto dr = dest.impl_->engine->read();
    RV_TRY(dr);
    bool empty = true;
    for (Table t : {Table::accounts, Table::versions, Table::public_keys})
      RV_TRY((*dr)->scan(t, "", [&](std::string_view, std::string_view) { return empty = false; }));
    if (!empty) return make_error(Errc::conflict, "the destination keystore is not empty; refusing to merge into it");
  }
  // One consistent read of the source.
  std::vector<std::pair<std::string, std::string>> accounts, versions, public_keys;
  {
    auto r = impl_->engine->read();
    RV_TRY(r);
    auto collect = [&](Table t, std::vector<std::pair<std::string, std::string>>& out) {
      return (*r)->scan(t, "", [&](std::string_view k, std::string_view v) {
        out.emplace_back(k, v);
        return true;
      });
    };
    RV_TRY(collect(Table::accounts, accounts));
    RV_TRY(collect(Table::versions, versions));
    RV_TRY(collect(Table::public_keys, public_keys));
  }
  auto put_all = [&](Table t, const std::vector<std::pair<std::string, std::string>>& recs) -> Status {
    // Batches: etcd limits the operations of one transaction (--max-txn-ops).
    constexpr std::size_t kBatch = 100;
    for (std::size_t i = 0; i < recs.size(); i += kBatch) {
      RV_TRY(dest.impl_->with_writer([&](engine::Writer& w) -> Result<bool> {
        for (std::size_t j = i; j < std::min(recs.size(), i + kBatch); ++j)
          RV_TRY(w.put(t, recs[j].first, recs[j].second, true));
        return true;
      }));
    }
    return {};
  };
  // Versions before the accounts that name them: a copy cut short shows no
  // account with missing versions (check() reports the orphans).
  RV_TRY(put_all(Table::public_keys, public_keys));
  RV_TRY(put_all(Table::versions, versions));
  RV_TRY(put_all(Table::accounts, accounts));

  // Verify: the destination holds exactly the records read, and every key
  // version in it opens with the master key.
  std::size_t verified = 0;
  auto r = dest.impl_->engine->read();
  RV_TRY(r);
  for (auto [t, recs] : {std::pair{Table::accounts, &accounts}, std::pair{Table::versions, &versions},
                         std::pair{Table::public_keys, &public_keys}}) {
    for (const auto& [k, v] : *recs) {
      auto got = (*r)->get(t, k);
      RV_TRY(got);
      if (!*got || **got != v) return make_error(Errc::internal, "a record differs after the copy");
      if (t != Table::versions) continue;
      const std::string name = k.substr(0, k.find('\0'));
      const std::uint32_t n = records::version_of(k, name);
      auto kv = records::decode_version(impl_->master, name, n, **got);
      RV_TRY(kv);
      if (kv->key.empty() || kv->salt.empty())
        return make_error(Errc::internal, "account " + name + ": key version " + std::to_string(n) + " is empty");
      ++verified;
    }
  }
  return verified;
}

Status restore_backup(const fs::path& backup_file, const fs::path& dest_dir, const MasterKey& master, bool force) {
  std::error_code ec;
  if (!fs::is_regular_file(backup_file, ec))
    return make_error(Errc::not_found, "backup file " + backup_file.string() + " does not exist");
  fs::create_directories(dest_dir, ec);
  if (ec) return sys_error("cannot create " + dest_dir.string(), ec.value());
  // Exclusive lock: no process has the destination store open, and none can
  // open it until we are done.
  auto lock = lock_store_dir(dest_dir, LOCK_EX);
  RV_TRY(lock);
  const fs::path data = dest_dir / "data.mdb";
  const bool exists = fs::exists(data, ec);
  if (exists && !force)
    return make_error(Errc::conflict, "a keystore already exists in " + dest_dir.string() +
                                          "; refusing to overwrite it without --force");

  // Stage a copy next to the destination and verify it completely first.
  const fs::path staging = dest_dir / ".restore-staging";
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return sys_error("cannot create " + staging.string(), ec.value());
  fs::copy_file(backup_file, staging / "data.mdb", ec);
  if (ec) return sys_error("cannot copy " + backup_file.string(), ec.value());
  {
    sys::UniqueFd f(::open((staging / "data.mdb").c_str(), O_RDWR | O_CLOEXEC));
    if (!f.valid() || ::fsync(f.get()) != 0) {
      int err = errno;
      return sys_error("cannot fsync the staged copy", err);
    }
  }
  {
    auto staged = Store::open(staging, master.clone());
    if (!staged) {
      Error e = std::move(staged).error();
      e.message = "backup " + backup_file.string() + " is not usable: " + e.message;
      return e;
    }
    auto report = (*staged)->check();
    RV_TRY(report);
    if (!report->ok())
      return make_error(Errc::internal,
                        "backup " + backup_file.string() + " fails its check: " + report->problems.front());
  }
  if (exists) {
    // Keep the replaced store: a restore must never be the way keys get lost.
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const fs::path kept = dest_dir / ("data.mdb.before-restore-" + std::to_string(secs));
    if (::link(data.c_str(), kept.c_str()) != 0) {
      int err = errno;
      return sys_error("cannot keep the replaced store as " + kept.string(), err);
    }
  }
  if (::rename((staging / "data.mdb").c_str(), data.c_str()) != 0) {
    int err = errno;
    return sys_error("cannot move the restored store into " + dest_dir.string(), err);
  }
  // Nobody has the store open (we hold the exclusive lock): the old reader
  // table is stale and LMDB recreates it.
  fs::remove(dest_dir / "lock.mdb", ec);
  fs::remove_all(staging, ec);
  return sys::fsync_directory(dest_dir);
}

Result<CheckReport> Store::check() const {
  using engine::Table;
  auto r = impl_->engine->read();
  RV_TRY(r);
  const engine::Reader& txn = **r;
  CheckReport report;
  std::vector<std::pair<std::string, std::uint32_t>> accounts;
  std::map<std::string, std::uint32_t> destroyed;
  RV_TRY(txn.scan(Table::accounts, "", [&](std::string_view k, std::string_view v) {
    ++report.accounts;
    const std::string name(k);
    if (!validate_account_id(k)) report.problems.push_back("invalid account id in the accounts table");
    AccountConfig c;
    if (auto s = records::decode_account(v, c); !s) {
      report.problems.push_back("account " + name + ": " + s.error().message);
      return true;
    }
    accounts.emplace_back(name, c.key_version);
    destroyed[name] = c.destroyed_through;
    return true;
  }));
  for (const auto& [name, key_version] : accounts) {
    // Destroyed versions (the key lifecycle) are absent on purpose.
    for (std::uint32_t n = destroyed[name] + 1; n <= key_version; ++n) {
      auto rec = txn.get(Table::versions, records::version_key(name, n));
      RV_TRY(rec);
      if (!*rec) {
        report.problems.push_back("account " + name + ": key version " + std::to_string(n) + " is missing");
        continue;
      }
      auto kv = records::decode_version(impl_->master, name, n, **rec);
      if (!kv)
        report.problems.push_back("account " + name + ": " + kv.error().message);
      else if (kv->key.empty() || kv->salt.empty())
        report.problems.push_back("account " + name + ": key version " + std::to_string(n) + " is empty");
    }
  }
  RV_TRY(txn.scan(Table::versions, "", [&](std::string_view k, std::string_view) {
    ++report.key_versions;
    auto nul = k.find('\0');
    std::string name(k.substr(0, nul));
    bool known = false;
    for (const auto& [a, v] : accounts)
      if (a == name) known = records::version_of(k, a) >= 1 && records::version_of(k, a) <= v;
    if (!known) report.problems.push_back("a key version record of account " + name + " has no account config");
    return true;
  }));
  RV_TRY(txn.scan(Table::public_keys, "", [&](std::string_view k, std::string_view v) {
    ++report.public_keys;
    auto rec = records::decode_public_key(k, v);
    if (!rec)
      report.problems.push_back("public key " + std::string(k.substr(0, 36)) + ": " + rec.error().message);
    else if (!is_uuid(k) || !validate_account_id(rec->account))
      report.problems.push_back("public key " + std::string(k.substr(0, 36)) + " has an invalid id or account");
    return true;
  }));
  return report;
}

}  // namespace recvault::keystore

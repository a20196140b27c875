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

namespace {

Status fsync_dir(const fs::path& dir) {
  sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    return sys_error("cannot open directory " + dir.string(), err);
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    return sys_error("cannot fsync directory " + dir.string(), err);
  }
  return {};
}

// Renames `from` to `to`, failing with Errc::conflict if `to` exists.
Status rename_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST) return make_error(Errc::conflict, to.string() + " already exists");
    return sys_error("cannot rename to " + to.string(), err);
  }
  return {};
}

fs::path parent_or_dot(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

}  // namespace

Status Store::backup(const fs::path& dest) const {
  std::error_code ec;
  if (fs::exists(dest, ec)) return make_error(Errc::conflict, "backup file " + dest.string() + " already exists");
  fs::path tmp = dest;
  tmp += ".partial";
  sys::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    int err = errno;
    return sys_error("cannot create " + tmp.string(), err);
  }
  Status result;
  // One read transaction inside LMDB: a consistent snapshot while writers run.
  if (int rc = mdb_env_copyfd2(impl_->env.get(), fd.get(), MDB_CP_COMPACT); rc != 0) {
    result = lmdb::error(rc, "keystore backup failed");
  } else if (::fsync(fd.get()) != 0) {
    int err = errno;
    result = sys_error("cannot fsync " + tmp.string(), err);
  }
  fd.reset();
  if (result) result = rename_noreplace(tmp, dest);
  if (!result) {
    ::unlink(tmp.c_str());
    return result;
  }
  return fsync_dir(parent_or_dot(dest));
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
      return make_error(Errc::internal, "backup " + backup_file.string() + " fails its check: " + report->problems.front());
  }
  if (exists) {
    // Keep the replaced store: a restore must never be the way keys get lost.
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
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
  return fsync_dir(dest_dir);
}

Result<CheckReport> Store::check() const {
  auto txn = lmdb::ReadTxn::begin(impl_->env.get());
  RV_TRY(txn);
  CheckReport report;
  std::vector<std::pair<std::string, std::uint32_t>> accounts;
  RV_TRY(txn->scan(impl_->accounts, "", [&](std::string_view k, std::string_view v) {
    ++report.accounts;
    const std::string name(k);
    if (!validate_account_id(k)) report.problems.push_back("invalid account id in the accounts table");
    AccountConfig c;
    if (auto s = records::decode_account(v, c); !s) {
      report.problems.push_back("account " + name + ": " + s.error().message);
      return true;
    }
    accounts.emplace_back(name, c.key_version);
    return true;
  }));
  for (const auto& [name, key_version] : accounts) {
    for (std::uint32_t n = 1; n <= key_version; ++n) {
      auto rec = txn->get(impl_->versions, records::version_key(name, n));
      RV_TRY(rec);
      if (!*rec) {
        report.problems.push_back("account " + name + ": key version " + std::to_string(n) + " is missing");
        continue;
      }
      auto kv = records::decode_version(impl_->master, name, n, **rec);
      if (!kv) report.problems.push_back("account " + name + ": " + kv.error().message);
      else if (kv->key.empty() || kv->salt.empty())
        report.problems.push_back("account " + name + ": key version " + std::to_string(n) + " is empty");
    }
  }
  RV_TRY(txn->scan(impl_->versions, "", [&](std::string_view k, std::string_view) {
    ++report.key_versions;
    auto nul = k.find('\0');
    std::string name(k.substr(0, nul));
    bool known = false;
    for (const auto& [a, v] : accounts)
      if (a == name) known = records::version_of(k, a) >= 1 && records::version_of(k, a) <= v;
    if (!known) report.problems.push_back("a key version record of account " + name + " has no account config");
    return true;
  }));
  RV_TRY(txn->scan(impl_->public_keys, "", [&](std::string_view k, std::string_view v) {
    ++report.public_keys;
    auto rec = records::decode_public_key(k, v);
    if (!rec) report.problems.push_back("public key " + std::string(k.substr(0, 36)) + ": " + rec.error().message);
    else if (!is_uuid(k) || !validate_account_id(rec->account))
      report.problems.push_back("public key " + std::string(k.substr(0, 36)) + " has an invalid id or account");
    return true;
  }));
  return report;
}

}  // namespace recvault::keystore

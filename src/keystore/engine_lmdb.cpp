// The LMDB engine: the four tables in one LMDB environment on this host.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <system_error>

#include "engine.hpp"
#include "lmdb.hpp"
#include "store_impl.hpp"

namespace recvault::keystore {

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

namespace engine {
namespace {

namespace fs = std::filesystem;

Error open_error(int rc, const fs::path& dir) {
  Error e = lmdb::error(rc, "cannot open keystore " + dir.string());
  if (rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH || rc == MDB_PAGE_NOTFOUND) {
    e.code = Errc::internal;
    e.message += " (data.mdb is corrupt or not an LMDB file; restore it from a backup)";
  }
  return e;
}

Result<std::optional<std::string>> get_in(const lmdb::Txn& txn, MDB_dbi dbi, std::string_view key) {
  auto v = txn.get(dbi, key);
  RV_TRY(v);
  if (!*v) return std::optional<std::string>{};
  return std::optional<std::string>(std::string(**v));
}

class LmdbReader final : public Reader {
 public:
  LmdbReader(const MDB_dbi* dbis, lmdb::ReadTxn t) : dbis_(dbis), txn_(std::move(t)) {}
  Result<std::optional<std::string>> get(Table table, std::string_view key) const override {
    return get_in(txn_, dbis_[static_cast<int>(table)], key);
  }
  Status scan(Table table, std::string_view prefix, const ScanFn& fn) const override {
    return txn_.scan(dbis_[static_cast<int>(table)], prefix, fn);
  }

 private:
  const MDB_dbi* dbis_;
  lmdb::ReadTxn txn_;
};

using Listener = std::function<void(std::string_view)>;

class LmdbWriter final : public Writer {
 public:
  LmdbWriter(const MDB_dbi* dbis, lmdb::WriteTxn t, const Listener& changed)
      : dbis_(dbis), txn_(std::move(t)), changed_(changed) {}
  Result<std::optional<std::string>> get(Table table, std::string_view key) const override {
    return get_in(txn_, dbis_[static_cast<int>(table)], key);
  }
  Status scan(Table table, std::string_view prefix, const ScanFn& fn) const override {
    return txn_.scan(dbis_[static_cast<int>(table)], prefix, fn);
  }
  Status put(Table table, std::string_view key, std::string_view value, bool no_overwrite) override {
    if (table == Table::accounts) accounts_.emplace_back(key);
    return txn_.put(dbis_[static_cast<int>(table)], key, value, no_overwrite ? MDB_NOOVERWRITE : 0U);
  }
  Result<bool> del(Table table, std::string_view key) override { return txn_.del(dbis_[static_cast<int>(table)], key); }
  Result<bool> commit() override {
    RV_TRY(txn_.commit());
    if (changed_)
      for (const auto& a : accounts_) changed_(a);
    return true;
  }

 private:
  const MDB_dbi* dbis_;
  lmdb::WriteTxn txn_;
  const Listener& changed_;
  std::vector<std::string> accounts_;  // whose record this txn wrote
};

class LmdbEngine final : public Engine {
 public:
  LmdbEngine(fs::path dir, StoreOptions options) : dir_(std::move(dir)), options_(std::move(options)) {}

  Status open() {
    if (!options_.read_only) {
      std::error_code ec;
      fs::create_directories(dir_, ec);
      if (ec) return sys_error("cannot create keystore directory " + dir_.string(), ec.value());
    }
    auto lock = lock_store_dir(dir_, LOCK_SH);
    RV_TRY(lock);
    lock_fd_ = std::move(lock).value();

    MDB_env* raw = nullptr;
    int rc = mdb_env_create(&raw);
    if (rc != 0) return lmdb::error(rc, "cannot create LMDB environment");
    env_ = lmdb::Env(raw);
    if ((rc = mdb_env_set_mapsize(raw, options_.map_size)) != 0) return lmdb::error(rc, "cannot set map size");
    if ((rc = mdb_env_set_maxdbs(raw, 8)) != 0) return lmdb::error(rc, "cannot set table count");
    // MDB_NOTLS: read transactions are not tied to threads (thread pools).
    unsigned flags = MDB_NOTLS | (options_.read_only ? MDB_RDONLY : 0U);
    if ((rc = mdb_env_open(raw, dir_.c_str(), flags, 0600)) != 0) return open_error(rc, dir_);

    const unsigned dbi_flags = options_.read_only ? 0 : MDB_CREATE;
    auto open_tables = [&](lmdb::Txn& txn) -> Status {
      const char* names[] = {"meta", "accounts", "versions", "public_keys"};
      for (int i = 0; i < 4; ++i) {
        auto dbi = txn.open_dbi(names[i], dbi_flags);
        if (!dbi) {
          if (!options_.read_only) return std::move(dbi).error();
          return make_error(Errc::not_recvault, "keystore " + dir_.string() + " has no table \"" + names[i] +
                                                    "\": not a recvault keystore");
        }
        dbis_[i] = *dbi;
      }
      return txn.commit();
    };
    if (options_.read_only) {
      auto txn = lmdb::ReadTxn::begin(raw);
      RV_TRY(txn);
      return open_tables(*txn);
    }
    auto txn = lmdb::WriteTxn::begin(raw);
    RV_TRY(txn);
    return open_tables(*txn);
  }

  Result<std::unique_ptr<Reader>> read() const override {
    auto txn = lmdb::ReadTxn::begin(env_.get());
    RV_TRY(txn);
    return std::unique_ptr<Reader>(new LmdbReader(dbis_, std::move(txn).value()));
  }
  Result<std::unique_ptr<Writer>> write() override {
    if (options_.read_only) return make_error(Errc::conflict, "keystore is open read-only");
    auto txn = lmdb::WriteTxn::begin(env_.get());
    RV_TRY(txn);
    return std::unique_ptr<Writer>(new LmdbWriter(dbis_, std::move(txn).value(), changed_));
  }
  bool read_only() const noexcept override { return options_.read_only; }
  StoreInfo info() const override {
    StoreInfo i;
    i.engine = "lmdb";
    i.path = dir_;
    return i;
  }
  void start_watch(std::function<void(std::string_view)> changed) override { changed_ = std::move(changed); }

  Status backup(const fs::path& dest) const override {
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
    if (int rc = mdb_env_copyfd2(env_.get(), fd.get(), MDB_CP_COMPACT); rc != 0) {
      result = lmdb::error(rc, "keystore backup failed");
    } else if (::fsync(fd.get()) != 0) {
      int err = errno;
      result = sys_error("cannot fsync " + tmp.string(), err);
    }
    fd.reset();
    if (result && ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
      int err = errno;
      result = err == EEXIST ? make_error(Errc::conflict, dest.string() + " already exists")
                             : sys_error("cannot rename to " + dest.string(), err);
    }
    if (!result) {
      ::unlink(tmp.c_str());
      return result;
    }
    return sys::fsync_directory(dest.has_parent_path() ? dest.parent_path() : fs::path("."));
  }

 private:
  fs::path dir_;
  StoreOptions options_;
  // Held shared for the engine's life; restore_backup takes it exclusively, so
  // a store cannot be replaced under a process that has it open. Declared
  // before env_ so it is released after the env is closed.
  sys::UniqueFd lock_fd_;
  lmdb::Env env_;
  MDB_dbi dbis_[4] = {0, 0, 0, 0};
  Listener changed_;
};

}  // namespace

Result<std::unique_ptr<Engine>> open_lmdb(const std::filesystem::path& dir, const StoreOptions& options) {
  auto e = std::make_unique<LmdbEngine>(dir, options);
  RV_TRY(e->open());
  return std::unique_ptr<Engine>(std::move(e));
}

}  // namespace engine
}  // namespace recvault::keystore

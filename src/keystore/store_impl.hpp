// Store internals shared by store.cpp, store_public_keys.cpp and backup.cpp.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "lmdb.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::keystore {

inline constexpr const char* kLockFileName = "recvault.lock";

struct Store::Impl {
  Impl(std::filesystem::path d, MasterKey m, StoreOptions o)
      : dir(std::move(d)), master(std::move(m)), options(std::move(o)) {}

  std::filesystem::path dir;
  MasterKey master;
  StoreOptions options;
  // Held shared for the Store's life; restore_backup takes it exclusively, so a
  // store cannot be replaced under a process that has it open. Declared before
  // env so it is released after the env is closed.
  sys::UniqueFd lock_fd;
  lmdb::Env env;
  MDB_dbi meta = 0, accounts = 0, versions = 0, public_keys = 0;

  mutable std::shared_mutex generations_mutex;
  std::map<std::string, std::uint64_t, std::less<>> generations;

  // The account's full config (nullopt if never configured), keys decrypted.
  Result<std::optional<AccountConfig>> load_config(const lmdb::Txn& txn, std::string_view account) const;
  Result<std::vector<std::string>> accounts_using(const lmdb::Txn& txn, std::string_view public_key_id) const;
  void bump_generation(std::string_view account);
  Status init_tables(lmdb::Txn& txn, bool create);
  // A fresh store gets its schema version and master-key check; an existing
  // one must match both. `writer` is null for a read-only open.
  Status check_or_write_meta(lmdb::Txn& txn, lmdb::WriteTxn* writer);
};

// Takes flock(`how` | LOCK_NB) on <dir>/recvault.lock (created 0600 if absent).
// Errc::conflict when another holder prevents it.
Result<sys::UniqueFd> lock_store_dir(const std::filesystem::path& dir, int how);

}  // namespace recvault::keystore

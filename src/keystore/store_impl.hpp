// Store internals shared by store.cpp, store_public_keys.cpp and backup.cpp.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "engine.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::keystore {

inline constexpr const char* kLockFileName = "recvault.lock";
// How often an update is read and applied again when another writer (an
// etcd host) changed the same records first.
inline constexpr int kMaxUpdateAttempts = 64;

struct Store::Impl {
  Impl(std::unique_ptr<engine::Engine> e, MasterKey m, StoreOptions o)
      : engine(std::move(e)), master(std::move(m)), options(std::move(o)) {}

  std::unique_ptr<engine::Engine> engine;
  MasterKey master;
  StoreOptions options;
  std::filesystem::path dir;  // lmdb only

  mutable std::shared_mutex generations_mutex;
  std::map<std::string, std::uint64_t, std::less<>> generations;

  // The account's full config (nullopt if never configured), keys decrypted.
  Result<std::optional<AccountConfig>> load_config(const engine::Reader& r, std::string_view account) const;
  Result<std::vector<std::string>> accounts_using(const engine::Reader& r, std::string_view public_key_id) const;
  void bump_generation(std::string_view account);
  // A fresh store gets its schema version and master-key check; an existing
  // one must match both. `where` names the store in messages.
  Status check_or_write_meta(const std::string& where);
  // Changes one account's record in one transaction (store_lifecycle.cpp):
  // `change` edits the config (keys decrypted) and lists the version records
  // to delete; it returns false to write nothing.
  using AccountChange = std::function<Result<bool>(AccountConfig&, std::vector<std::uint32_t>& remove)>;
  Result<AccountConfig> change_account(std::string_view account, const AccountChange& change);
  // Runs `attempt` with a new Writer until it commits (or fails), at most
  // kMaxUpdateAttempts times. `attempt` returns false to stop without writing.
  Status with_writer(const std::function<Result<bool>(engine::Writer&)>& attempt);
};

// Takes flock(`how` | LOCK_NB) on <dir>/recvault.lock (created 0600 if absent).
// Errc::conflict when another holder prevents it.
Result<sys::UniqueFd> lock_store_dir(const std::filesystem::path& dir, int how);

}  // namespace recvault::keystore

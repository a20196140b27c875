// The daemon's hot path: "which key do I encrypt a new file with" and "which
// key opens this existing file", answered from memory.
//
// The slow account-level derivation (format::VersionKey::derive = scrypt) runs
// at most once per (account, version) for the life of the keystore, not of
// the cache: its result is kept sealed in the version's record
// (Store::save_derived), so after a restart, on this host or any other that
// shares the keystore, the key is unsealed (microseconds) instead of derived
// (a fifth of a second of CPU and 32 MiB). Derivations that must run are
// bounded (KeyCacheOptions::max_parallel_derivations at once, so scrypt's
// memory is capped), and a version the control API just created is derived
// in the background (prefetch) before the first recording asks for it.
//
// Version keys never change (a version's key and salt are immutable), so they
// are never invalidated; the "current" answer is re-read from the store when
// Store::generation(account) moved, i.e. after an update through the same
// Store or (etcd) on another host.
//
// Thread safety: all members may be called concurrently.
// Lock order: map_mutex_ before any Slot::m; no lock is held while calling the
// store but a Slot::m while deriving or unsealing that slot's key.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "recvault/format/keys.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::keystore {

// What a new file of the account is written with.
struct CurrentKey {
  bool enabled = false;       // false: write new files unencrypted
  format::KeySpec spec;       // spec.key is null when !enabled
  std::string public_key_id;  // non-empty: seal new files to this OpenPGP key
};

struct KeyCacheOptions {
  crypto::ScryptParams kdf;  // the parameters of every derivation (the format's defaults)
  // scrypt runs at once, across all accounts; each takes 128 * r * N bytes
  // (32 MiB with the defaults) while it runs.
  unsigned max_parallel_derivations = 2;
  // Use the derived keys the keystore keeps, and keep each key derived here
  // sealed in it (Store::save_derived; not on a read-only store). false:
  // every cache derives each version again.
  bool keep_derived = true;
  // Threads that run prefetch(); 0: prefetch() does nothing.
  unsigned prefetch_threads = 1;
};

class KeyCache {
 public:
  // `store` must outlive the cache.
  explicit KeyCache(Store& store, KeyCacheOptions options = {});
  ~KeyCache();
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;

  // Loads the account's current key in the background (a version the
  // control API just created: its derivation then runs here rather than in
  // the first recording's open()). Returns at once.
  void prefetch(std::string_view account);

  // Errc::not_found when the account was never configured. When the account
  // is disabled, enabled = false and no derivation happens.
  Result<CurrentKey> current(std::string_view account);

  // The key of `version`, checked against the salt the file recorded.
  // Errc::key_unavailable when the version does not exist or its salt differs.
  Result<format::VersionKeyPtr> version_key(std::string_view account, std::uint32_t version, std::string_view salt);

  // Forget the account's "current" answer (version keys stay).
  void invalidate(std::string_view account);

  // How many derivations ran (for tests and metrics), and how many keys were
  // unsealed from the keystore instead.
  std::uint64_t derivations() const noexcept;
  std::uint64_t restored() const noexcept { return restored_.load(std::memory_order_relaxed); }
  // The most derivations that ran at once (never above max_parallel_derivations).
  unsigned peak_parallel_derivations() const noexcept { return peak_deriving_.load(std::memory_order_relaxed); }
  // Lookups (current() and version_key(), each call once) answered from
  // the cache, and those that had to read the keystore.
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }

  // Told how long each keystore call took ("get_config", "get_version",
  // "save_derived") and whether it succeeded. Set before the cache is shared between threads.
  using StoreTimer = std::function<void(std::string_view op, std::chrono::steady_clock::duration took, bool ok)>;
  void set_store_timer(StoreTimer timer) { timer_ = std::move(timer); }

 private:
  struct Slot;
  struct AccountEntry;
  std::shared_ptr<Slot> slot_for(std::string_view account, std::uint32_t version);
  // scrypt, at most options_.max_parallel_derivations at once.
  Result<format::VersionKeyPtr> derive(const KeyVersion& kv);
  void prefetch_loop();
  Result<format::VersionKeyPtr> derive_once(Slot& slot, std::string_view account, std::uint32_t version,
                                            std::string_view salt, bool counted);
  Result<format::VersionKeyPtr> lookup_version(std::string_view account, std::uint32_t version, std::string_view salt,
                                               bool counted);
  // Runs a keystore read, timed.
  template <class Fn>
  auto timed(std::string_view op, Fn&& fn) const;

  Store& store_;
  const KeyCacheOptions options_;
  mutable std::shared_mutex map_mutex_;
  std::map<std::string, std::shared_ptr<AccountEntry>, std::less<>> accounts_;
  std::atomic<std::uint64_t> derivations_{0};
  std::atomic<std::uint64_t> restored_{0};
  std::atomic<unsigned> peak_deriving_{0};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  StoreTimer timer_;

  Mutex derive_mutex_;  // a leaf lock: counts the derivations running
  CondVar derive_slot_free_;
  unsigned deriving_ RV_GUARDED_BY(derive_mutex_) = 0;

  Mutex prefetch_mutex_;  // a leaf lock
  CondVar prefetch_ready_;
  std::vector<std::string> prefetch_queue_ RV_GUARDED_BY(prefetch_mutex_);
  bool stopping_ RV_GUARDED_BY(prefetch_mutex_) = false;
  std::vector<std::thread> prefetchers_;
};

}  // namespace recvault::keystore

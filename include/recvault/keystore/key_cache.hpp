// The daemon's hot path: "which key do I encrypt a new file with" and "which
// key opens this existing file", answered from memory.
//
// The slow account-level derivation (format::VersionKey::derive = scrypt) runs
// at most once per (account, version) for the life of the cache, even when
// many threads ask at once. Version keys never change (a version's key and salt
// are immutable), so they are never invalidated, except when the key lifecycle
// destroys a version (then its slot is dropped); the "current" answer is
// re-read from the store when Store::generation(account) moved, i.e. after an
// update through the same Store.
//
// Thread safety: all members may be called concurrently.
// Lock order: map_mutex_ before any Slot::m; no lock is held while calling the
// store, and only a Slot::m while deriving.
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
#include <utility>

#include "recvault/format/keys.hpp"
#include "recvault/keystore/store.hpp"

namespace recvault::keystore {

// What a new file of the account is written with.
struct CurrentKey {
  bool enabled = false;       // false: write new files unencrypted
  format::KeySpec spec;       // spec.key is null when !enabled
  std::string public_key_id;  // non-empty: seal new files to this OpenPGP key
};

class KeyCache {
 public:
  using Deriver = std::function<Result<format::VersionKeyPtr>(std::string_view key, std::string_view salt)>;

  // format::VersionKey::derive with `params`.
  static Deriver scrypt_deriver(crypto::ScryptParams params = {});

  // `store` must outlive the cache.
  KeyCache(const Store& store, Deriver deriver);

  // Errc::not_found when the account was never configured. When the account
  // is disabled, enabled = false and no derivation happens.
  Result<CurrentKey> current(std::string_view account);

  // The key of `version`, checked against the salt the file recorded.
  // Errc::key_unavailable when the version does not exist or its salt
  // differs, and (key lifecycle) when it is below the account's
  // min_decryption_version or was destroyed: the message names the version
  // and why. A destroyed version's derived key is forgotten as soon as
  // Store::generation shows the change (on etcd, another host's change too).
  Result<format::VersionKeyPtr> version_key(std::string_view account, std::uint32_t version, std::string_view salt);

  // Forget the account's "current" answer (version keys stay).
  void invalidate(std::string_view account);

  // How many derivations ran (for tests and metrics).
  std::uint64_t derivations() const noexcept;
  // Lookups (current() and version_key(), each call once) answered from
  // the cache, and those that had to read the keystore.
  std::uint64_t hits() const noexcept { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }

  // Told how long each keystore read took ("get_config", "get_version") and
  // whether it succeeded. Set before the cache is shared between threads.
  using StoreTimer = std::function<void(std::string_view op, std::chrono::steady_clock::duration took, bool ok)>;
  void set_store_timer(StoreTimer timer) { timer_ = std::move(timer); }

 private:
  struct Slot;
  struct AccountEntry;
  Status check_lifecycle(std::string_view account, std::uint32_t version);
  std::shared_ptr<Slot> slot_for(std::string_view account, std::uint32_t version);
  Result<format::VersionKeyPtr> derive_once(Slot& slot, std::string_view account, std::uint32_t version,
                                            std::string_view salt, bool counted);
  Result<format::VersionKeyPtr> lookup_version(std::string_view account, std::uint32_t version, std::string_view salt,
                                               bool counted);
  // Runs a keystore read, timed.
  template <class Fn>
  auto timed(std::string_view op, Fn&& fn) const;

  const Store& store_;
  Deriver deriver_;
  mutable std::shared_mutex map_mutex_;
  std::map<std::string, std::shared_ptr<AccountEntry>, std::less<>> accounts_;
  std::atomic<std::uint64_t> derivations_{0};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  StoreTimer timer_;
};

}  // namespace recvault::keystore

#include "recvault/keystore/key_cache.hpp"

#include "recvault/util/log.hpp"

namespace recvault::keystore {

// One (account, version): derived at most once; Slot::m serialises the threads
// that want the same key while it is being derived, nobody else.
struct KeyCache::Slot {
  std::mutex m;
  format::VersionKeyPtr key;  // set once, then immutable
  std::string salt;           // the salt `key` was derived with
};

struct KeyCache::AccountEntry {
  std::optional<CurrentKey> current;  // valid while generation == store generation
  std::uint64_t generation = 0;
  std::map<std::uint32_t, std::shared_ptr<Slot>> slots;
};

KeyCache::KeyCache(Store& store, KeyCacheOptions options) : store_(store), options_(options) {
  for (unsigned i = 0; i < options_.prefetch_threads; ++i) prefetchers_.emplace_back([this] { prefetch_loop(); });
}

KeyCache::~KeyCache() {
  {
    MutexLock lock(prefetch_mutex_);
    stopping_ = true;
  }
  prefetch_ready_.notify_all();
  for (auto& t : prefetchers_) t.join();
}

void KeyCache::prefetch(std::string_view account) {
  if (prefetchers_.empty()) return;
  {
    MutexLock lock(prefetch_mutex_);
    for (const auto& queued : prefetch_queue_)
      if (queued == account) return;
    prefetch_queue_.emplace_back(account);
  }
  prefetch_ready_.notify_one();
}

void KeyCache::prefetch_loop() {
  for (;;) {
    std::string account;
    {
      MutexLock lock(prefetch_mutex_);
      while (!prefetch_ready_.wait_for(prefetch_mutex_, std::chrono::hours(1), [&]() RV_REQUIRES(prefetch_mutex_) {
        return stopping_ || !prefetch_queue_.empty();
      })) {
      }
      if (stopping_) return;
      account = std::move(prefetch_queue_.front());
      prefetch_queue_.erase(prefetch_queue_.begin());
    }
    // Errors (an account disabled or changed meanwhile) are the first
    // recording's to report, not ours.
    (void)current(account);
  }
}

Result<format::VersionKeyPtr> KeyCache::derive(const KeyVersion& kv) {
  {
    MutexLock lock(derive_mutex_);
    while (!derive_slot_free_.wait_for(derive_mutex_, std::chrono::hours(1), [&]() RV_REQUIRES(derive_mutex_) {
      return deriving_ < std::max(1u, options_.max_parallel_derivations);
    })) {
    }
    ++deriving_;
    if (deriving_ > peak_deriving_.load(std::memory_order_relaxed))
      peak_deriving_.store(deriving_, std::memory_order_relaxed);
  }
  auto key = format::VersionKey::derive(kv.key.view(), kv.salt, options_.kdf);
  {
    MutexLock lock(derive_mutex_);
    --deriving_;
  }
  derive_slot_free_.notify_one();
  RV_TRY(key);
  derivations_.fetch_add(1);
  return format::VersionKeyPtr(std::make_shared<const format::VersionKey>(std::move(key).value()));
}

std::uint64_t KeyCache::derivations() const noexcept { return derivations_.load(); }

template <class Fn>
auto KeyCache::timed(std::string_view op, Fn&& fn) const {
  if (!timer_) return fn();
  const auto started = std::chrono::steady_clock::now();
  auto r = fn();
  timer_(op, std::chrono::steady_clock::now() - started, r.ok());
  return r;
}

std::shared_ptr<KeyCache::Slot> KeyCache::slot_for(std::string_view account, std::uint32_t version) {
  {
    std::shared_lock lock(map_mutex_);
    auto a = accounts_.find(account);
    if (a != accounts_.end()) {
      auto s = a->second->slots.find(version);
      if (s != a->second->slots.end()) return s->second;
    }
  }
  std::unique_lock lock(map_mutex_);
  auto a = accounts_.find(account);
  if (a == accounts_.end()) a = accounts_.emplace(std::string(account), std::make_shared<AccountEntry>()).first;
  auto& slot = a->second->slots[version];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

Result<format::VersionKeyPtr> KeyCache::derive_once(Slot& slot, std::string_view account, std::uint32_t version,
                                                    std::string_view salt, bool counted) {
  std::lock_guard lock(slot.m);
  if (counted) (slot.key ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  if (slot.key) {
    if (slot.salt != salt)
      return make_error(Errc::key_unavailable, "account " + std::string(account) + " key version " +
                                                   std::to_string(version) + " has a different salt");
    return slot.key;
  }
  auto kv = timed("get_version", [&] { return store_.get_version(account, version); });
  RV_TRY(kv);
  if (kv->salt != salt)
    return make_error(Errc::key_unavailable, "account " + std::string(account) + " key version " +
                                                 std::to_string(version) + " has a different salt");
  if (options_.keep_derived && !kv->derived.empty() && kv->derived_kdf == options_.kdf) {
    auto restored = format::VersionKey::from_derived(std::move(kv->derived), kv->derived_kdf);
    if (restored) {
      restored_.fetch_add(1, std::memory_order_relaxed);
      slot.key = std::make_shared<const format::VersionKey>(std::move(restored).value());
      slot.salt = kv->salt;
      return slot.key;
    }
  }
  RV_ASSIGN(slot.key, derive(*kv));
  slot.salt = kv->salt;
  if (options_.keep_derived && !store_.read_only()) {
    auto saved =
        timed("save_derived", [&] { return store_.save_derived(account, version, slot.key->bytes(), options_.kdf); });
    // Not an error for this request: the key is in memory; the next start
    // derives it again and tries once more.
    if (!saved)
      log::warn("keystore: could not keep the derived key of account " + std::string(account) + " version " +
                std::to_string(version) + ": " + saved.error().message);
  }
  return slot.key;
}

Result<format::VersionKeyPtr> KeyCache::version_key(std::string_view account, std::uint32_t version,
                                                    std::string_view salt) {
  return lookup_version(account, version, salt, true);
}

Result<format::VersionKeyPtr> KeyCache::lookup_version(std::string_view account, std::uint32_t version,
                                                       std::string_view salt, bool counted) {
  if (version == 0) return make_error(Errc::key_unavailable, "key version 0 does not exist");
  auto slot = slot_for(account, version);
  return derive_once(*slot, account, version, salt, counted);
}

Result<CurrentKey> KeyCache::current(std::string_view account) {
  // Read the generation BEFORE the store: an update racing with us then makes
  // the entry stale rather than caching an old answer as new.
  const std::uint64_t generation = store_.generation(account);
  {
    std::shared_lock lock(map_mutex_);
    auto a = accounts_.find(account);
    if (a != accounts_.end() && a->second->current && a->second->generation == generation) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return *a->second->current;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  auto config = timed("get_config", [&] { return store_.get_config(account); });
  RV_TRY(config);
  if (!*config) return make_error(Errc::not_found, "account " + std::string(account) + " has no configuration");
  const AccountConfig& c = **config;
  CurrentKey out;
  out.enabled = c.enabled && c.has_key_material();
  out.public_key_id = c.public_key_id;
  out.spec.algorithm = c.algorithm;
  out.spec.key_version = c.key_version;
  out.spec.key_id = c.key_id;
  out.spec.salt = c.salt;
  if (out.enabled) {
    auto key = lookup_version(account, c.key_version, c.salt, false);
    RV_TRY(key);
    out.spec.key = std::move(key).value();
  }
  std::unique_lock lock(map_mutex_);
  auto a = accounts_.find(account);
  if (a == accounts_.end()) a = accounts_.emplace(std::string(account), std::make_shared<AccountEntry>()).first;
  a->second->current = out;
  a->second->generation = generation;
  return out;
}

void KeyCache::invalidate(std::string_view account) {
  std::unique_lock lock(map_mutex_);
  auto a = accounts_.find(account);
  if (a != accounts_.end()) a->second->current.reset();
}

}  // namespace recvault::keystore

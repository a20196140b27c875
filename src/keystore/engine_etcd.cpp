// The etcd engine: the four tables under one key prefix of an etcd cluster.
//
//   <prefix>meta/schema_version, <prefix>meta/master_check
//   <prefix>accounts/<account>
//   <prefix>versions/<account>/<version, 10 digits>
//   <prefix>public_keys/<uuid>
//
// Values are the LMDB records byte for byte (records.hpp): key material is
// sealed under the master key before it leaves the daemon.
//
// Reads are served from `mirror_`, a copy of every record under the prefix
// with its mod_revision, filled by a full read and kept current by a watch
// thread. A Writer remembers the mod_revision of everything it read and
// commits as one etcd txn that compares them all: if another host changed any
// of them the txn fails, the same txn returns the current records (its failure
// branch), the mirror takes them, and the Store starts over.
//
// Lock order: mirror_mutex_ alone; never held across a network call.
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "engine.hpp"
#include "etcd_client.hpp"
#include "recvault/util/log.hpp"

namespace recvault::keystore::engine {
namespace {

constexpr std::string_view kTableNames[] = {"meta/", "accounts/", "versions/", "public_keys/"};

struct Entry {
  std::string value;
  std::int64_t mod_revision = 0;
};
using Mirror = std::map<std::string, Entry, std::less<>>;

class EtcdEngine;

class EtcdReader : public Reader {
 public:
  EtcdReader(const EtcdEngine& e);
  Result<std::optional<std::string>> get(Table table, std::string_view key) const override;
  Status scan(Table table, std::string_view prefix, const ScanFn& fn) const override;

 protected:
  const EtcdEngine& engine_;
  std::shared_lock<std::shared_mutex> lock_;
};

class EtcdWriter final : public Writer {
 public:
  explicit EtcdWriter(EtcdEngine& e);
  Result<std::optional<std::string>> get(Table table, std::string_view key) const override;
  Status scan(Table table, std::string_view prefix, const ScanFn& fn) const override;
  Status put(Table table, std::string_view key, std::string_view value, bool no_overwrite) override;
  Result<bool> del(Table table, std::string_view key) override;
  Result<bool> commit() override;

 private:
  void compare_key(const std::string& key, std::int64_t mod) const;
  const Entry* find(const std::string& key) const;

  EtcdEngine& engine_;
  std::shared_lock<std::shared_mutex> lock_;
  mutable std::vector<etcd::Compare> compares_;
  mutable std::set<std::string> compared_;
  std::vector<etcd::Op> ops_;
  std::map<std::string, std::optional<std::string>> pending_;  // what this txn wrote (nullopt: deleted)
};

class EtcdEngine final : public Engine {
 public:
  EtcdEngine(const EtcdOptions& options, bool read_only)
      : client_(options), prefix_(options.prefix), read_only_(read_only), watch_(options.watch) {}

  ~EtcdEngine() override {
    {
      std::lock_guard lock(stop_mutex_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    client_.interrupt_watch();
    if (watcher_.joinable()) watcher_.join();
  }

  // Key of the record `key` of `table` in etcd.
  std::string encode(Table table, std::string_view key) const {
    std::string out = prefix_;
    out += kTableNames[static_cast<int>(table)];
    if (table != Table::versions) {
      out += key;
      return out;
    }
    auto nul = key.find('\0');
    if (nul == std::string_view::npos) {
      out += key;
      return out;
    }
    out += key.substr(0, nul);
    out += '/';
    std::string_view rest = key.substr(nul + 1);
    if (rest.size() == 4) {
      std::uint32_t v = 0;
      for (char c : rest) v = (v << 8) | static_cast<std::uint8_t>(c);
      char digits[16];
      std::snprintf(digits, sizeof digits, "%010u", v);
      out += digits;
    }
    return out;
  }

  // The record key of an etcd key of `table` (inverse of encode).
  std::string decode(Table table, std::string_view etcd_key) const {
    std::string_view k = etcd_key.substr(prefix_.size() + kTableNames[static_cast<int>(table)].size());
    if (table != Table::versions) return std::string(k);
    auto slash = k.rfind('/');
    if (slash == std::string_view::npos) return std::string(k);
    std::uint32_t v = 0;
    for (char c : k.substr(slash + 1)) v = v * 10 + static_cast<std::uint32_t>(c - '0');
    std::string out(k.substr(0, slash));
    out.push_back('\0');
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
    return out;
  }

  // The account a changed etcd key belongs to ("" for none).
  std::string account_of(std::string_view etcd_key) const {
    if (!etcd_key.starts_with(prefix_)) return {};
    std::string_view k = etcd_key.substr(prefix_.size());
    if (k.starts_with(kTableNames[1])) return std::string(k.substr(kTableNames[1].size()));
    if (k.starts_with(kTableNames[2])) {
      k.remove_prefix(kTableNames[2].size());
      return std::string(k.substr(0, k.find('/')));
    }
    return {};
  }

  // Reads the whole prefix; the mirror takes it (keeping records this process
  // committed after that revision). Reports the accounts that changed.
  Status reload() {
    auto r = client_.range(prefix_, etcd::prefix_end(prefix_));
    RV_TRY(r);
    requests_ok_ = true;
    std::set<std::string> changed;
    {
      std::unique_lock lock(mirror_mutex_);
      Mirror next;
      for (auto& kv : r->kvs) next[kv.key] = Entry{std::move(kv.value), kv.mod_revision};
      for (auto& [key, entry] : mirror_) {
        if (entry.mod_revision > r->revision) next[key] = entry;  // our own newer commit
      }
      for (const auto& [key, entry] : next) {
        auto it = mirror_.find(key);
        if (it == mirror_.end() || it->second.mod_revision != entry.mod_revision) changed.insert(account_of(key));
      }
      for (const auto& [key, entry] : mirror_)
        if (!next.contains(key)) changed.insert(account_of(key));
      mirror_ = std::move(next);
      revision_ = std::max(revision_, r->revision);
    }
    notify(changed);
    return {};
  }

  // Takes one key's state as of `revision` (nullopt: absent then).
  void take(const std::string& key, const std::optional<Entry>& entry, std::int64_t revision,
            std::set<std::string>& changed) {
    auto it = mirror_.find(key);
    if (entry) {
      if (it == mirror_.end() || it->second.mod_revision < entry->mod_revision) {
        mirror_[key] = *entry;
        changed.insert(account_of(key));
      }
    } else if (it != mirror_.end() && it->second.mod_revision <= revision) {
      mirror_.erase(it);
      changed.insert(account_of(key));
    }
  }

  // What a failed txn read instead: for each compared key or range its
  // current contents, and for each compared account record all its versions,
  // so the mirror never holds an account newer than its versions.
  std::vector<etcd::Range> refresh_for(const std::vector<etcd::Compare>& compares) const {
    std::vector<etcd::Range> out;
    for (const auto& c : compares) {
      out.push_back({c.key, c.range_end});
      const std::string accounts = prefix_ + std::string(kTableNames[1]);
      if (c.range_end.empty() && c.key.starts_with(accounts)) {
        const std::string versions = prefix_ + std::string(kTableNames[2]) + c.key.substr(accounts.size()) + "/";
        out.push_back({versions, etcd::prefix_end(versions)});
      }
    }
    return out;
  }

  void take_current(const std::vector<etcd::Range>& ranges, const etcd::TxnResult& r) {
    std::set<std::string> changed;
    {
      std::unique_lock lock(mirror_mutex_);
      for (std::size_t i = 0; i < ranges.size() && i < r.current.size(); ++i) {
        const auto& c = ranges[i];
        std::set<std::string> present;
        for (const auto& kv : r.current[i]) {
          present.insert(kv.key);
          take(kv.key, Entry{kv.value, kv.mod_revision}, r.revision, changed);
        }
        std::vector<std::string> gone;
        if (c.range_end.empty()) {
          if (!present.contains(c.key)) gone.push_back(c.key);
        } else {
          for (auto it = mirror_.lower_bound(c.key); it != mirror_.end() && it->first < c.range_end; ++it)
            if (!present.contains(it->first)) gone.push_back(it->first);
        }
        for (const auto& k : gone) take(k, std::nullopt, r.revision, changed);
      }
    }
    notify(changed);
  }

  // What a committed txn wrote, at its revision. The accounts are reported
  // here unless the watch delivered the same revision first (then it did).
  void take_committed(const std::map<std::string, std::optional<std::string>>& writes, std::int64_t revision) {
    std::set<std::string> changed;
    {
      std::unique_lock lock(mirror_mutex_);
      for (const auto& [key, value] : writes) {
        if (value)
          take(key, Entry{*value, revision}, revision, changed);
        else
          take(key, std::nullopt, revision, changed);
      }
    }
    notify(changed);
  }

  Result<std::unique_ptr<Reader>> read() const override { return std::unique_ptr<Reader>(new EtcdReader(*this)); }
  Result<std::unique_ptr<Writer>> write() override {
    if (read_only_) return make_error(Errc::conflict, "keystore is open read-only");
    return std::unique_ptr<Writer>(new EtcdWriter(*this));
  }
  bool read_only() const noexcept override { return read_only_; }
  StoreInfo info() const override {
    StoreInfo i;
    i.engine = "etcd";
    i.endpoints = client_.options().endpoints;
    i.prefix = prefix_;
    i.healthy = watch_connected_ && requests_ok_;
    return i;
  }
  Status backup(const std::filesystem::path&) const override {
    return make_error(Errc::unsupported, "the etcd engine has no file to copy");
  }

  void start_watch(std::function<void(std::string_view)> changed) override {
    changed_ = std::move(changed);
    if (!watch_) return;
    watcher_ = std::thread([this] { watch_loop(); });
  }

  etcd::Client& client() noexcept { return client_; }
  void request_result(bool ok) noexcept { requests_ok_ = ok; }

  mutable std::shared_mutex mirror_mutex_;
  Mirror mirror_;              // guarded by mirror_mutex_
  std::int64_t revision_ = 0;  // guarded by mirror_mutex_: the watch has applied everything up to it

 private:
  void notify(const std::set<std::string>& accounts) {
    if (!changed_) return;
    for (const auto& a : accounts)
      if (!a.empty()) changed_(a);
  }

  // Sleeps up to `d`; false when the engine is stopping.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(stop_mutex_);
    return !stop_cv_.wait_for(lock, d, [&] { return stop_; });
  }
  bool stopping() {
    std::lock_guard lock(stop_mutex_);
    return stop_;
  }

  void watch_loop() {
    std::chrono::milliseconds backoff{100};
    bool reported = false;
    while (!stopping()) {
      if (auto st = reload(); !st) {
        watch_connected_ = false;
        if (!reported) log::warn("keystore: " + st.error().message + "; serving the last known keys, retrying");
        reported = true;
        if (!pause(backoff)) break;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      backoff = std::chrono::milliseconds(100);
      std::int64_t from;
      {
        std::shared_lock lock(mirror_mutex_);
        from = revision_ + 1;
      }
      auto st = client_.watch(
          prefix_, etcd::prefix_end(prefix_), from,
          [&] {
            watch_connected_ = true;
            if (reported) log::info("keystore: etcd is reachable again; watching for changes");
            reported = false;
          },
          [&](std::int64_t revision, std::vector<etcd::WatchEvent>& events) {
            std::set<std::string> changed;
            {
              std::unique_lock lock(mirror_mutex_);
              // A response's header revision may be ahead of its events (the
              // next ones are in a later response); a response without
              // events (progress) says everything up to it was sent.
              std::int64_t applied = events.empty() ? revision : 0;
              for (auto& ev : events) {
                applied = std::max(applied, ev.kv.mod_revision);
                if (ev.deleted)
                  take(ev.kv.key, std::nullopt, ev.kv.mod_revision, changed);
                else
                  take(ev.kv.key, Entry{std::move(ev.kv.value), ev.kv.mod_revision}, ev.kv.mod_revision, changed);
              }
              revision_ = std::max(revision_, applied);
            }
            notify(changed);
          });
      watch_connected_ = false;
      if (stopping()) break;
      // Whatever broke it (compaction, a member gone, a reconnect), the next
      // round reads everything again before watching.
      if (!reported)
        log::warn("keystore: " + (st ? std::string("etcd watch ended") : st.error().message) +
                  "; reading the keystore again");
      reported = true;
      if (!pause(std::chrono::milliseconds(100))) break;
    }
  }

  etcd::Client client_;
  std::string prefix_;
  bool read_only_;
  bool watch_;
  std::function<void(std::string_view)> changed_;
  std::atomic<bool> watch_connected_{false};
  std::atomic<bool> requests_ok_{true};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mutex_
  std::thread watcher_;
};

// --- reader ---------------------------------------------------------------

EtcdReader::EtcdReader(const EtcdEngine& e) : engine_(e), lock_(e.mirror_mutex_) {}

Result<std::optional<std::string>> EtcdReader::get(Table table, std::string_view key) const {
  auto it = engine_.mirror_.find(engine_.encode(table, key));
  if (it == engine_.mirror_.end()) return std::optional<std::string>{};
  return std::optional<std::string>(it->second.value);
}

Status EtcdReader::scan(Table table, std::string_view prefix, const ScanFn& fn) const {
  const std::string p = engine_.encode(table, prefix);
  for (auto it = engine_.mirror_.lower_bound(p); it != engine_.mirror_.end() && it->first.starts_with(p); ++it)
    if (!fn(engine_.decode(table, it->first), it->second.value)) break;
  return {};
}

// --- writer ---------------------------------------------------------------

EtcdWriter::EtcdWriter(EtcdEngine& e) : engine_(e), lock_(e.mirror_mutex_) {}

void EtcdWriter::compare_key(const std::string& key, std::int64_t mod) const {
  if (!compared_.insert(key).second) return;
  compares_.push_back(etcd::Compare{key, {}, etcd::Compare::Result::equal, mod});
}

const Entry* EtcdWriter::find(const std::string& key) const {
  auto it = engine_.mirror_.find(key);
  return it == engine_.mirror_.end() ? nullptr : &it->second;
}

Result<std::optional<std::string>> EtcdWriter::get(Table table, std::string_view key) const {
  const std::string k = engine_.encode(table, key);
  if (auto p = pending_.find(k); p != pending_.end()) return p->second;
  const Entry* e = find(k);
  compare_key(k, e ? e->mod_revision : 0);
  if (!e) return std::optional<std::string>{};
  return std::optional<std::string>(e->value);
}

Status EtcdWriter::scan(Table table, std::string_view prefix, const ScanFn& fn) const {
  const std::string p = engine_.encode(table, prefix);
  const std::string end = etcd::prefix_end(p);
  // Nothing in the range may have changed since the mirror's revision (nor
  // since this process's own later commits there).
  std::int64_t newest = engine_.revision_;
  for (auto it = engine_.mirror_.lower_bound(p); it != engine_.mirror_.end() && it->first < end; ++it)
    newest = std::max(newest, it->second.mod_revision);
  if (compared_.insert(p + '\n' + end).second)
    compares_.push_back(etcd::Compare{p, end, etcd::Compare::Result::less, newest + 1});
  for (auto it = engine_.mirror_.lower_bound(p); it != engine_.mirror_.end() && it->first.starts_with(p); ++it)
    if (!fn(engine_.decode(table, it->first), it->second.value)) break;
  return {};
}

Status EtcdWriter::put(Table table, std::string_view key, std::string_view value, bool no_overwrite) {
  const std::string k = engine_.encode(table, key);
  if (no_overwrite) {
    const Entry* e = find(k);
    if (e != nullptr || (pending_.contains(k) && pending_[k]))
      return make_error(Errc::conflict, "keystore record exists and is never replaced");
    compare_key(k, 0);
  }
  ops_.push_back(etcd::Op{etcd::Op::Kind::put, k, std::string(value)});
  pending_[k] = std::string(value);
  return {};
}

Result<bool> EtcdWriter::del(Table table, std::string_view key) {
  auto existing = get(table, key);
  RV_TRY(existing);
  if (!*existing) return false;
  const std::string k = engine_.encode(table, key);
  ops_.push_back(etcd::Op{etcd::Op::Kind::del, k, {}});
  pending_[k] = std::nullopt;
  return true;
}

Result<bool> EtcdWriter::commit() {
  lock_.unlock();  // never across the network
  if (ops_.empty()) return true;
  const auto refresh = engine_.refresh_for(compares_);
  // A failed attempt (member gone, leader election) is sent again for one
  // more request timeout: safe, because the compares make a txn that did
  // apply the first time fail the second (the Store then reads again).
  auto r = engine_.client().txn(compares_, ops_, refresh);
  const auto deadline = std::chrono::steady_clock::now() + engine_.client().options().request_timeout;
  while (!r && r.error().code == Errc::unavailable && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = engine_.client().txn(compares_, ops_, refresh);
  }
  if (!r) {
    if (r.error().code == Errc::unavailable) engine_.request_result(false);
    Error e = std::move(r).error();
    if (e.code == Errc::unavailable)
      e.message = "the keystore (etcd) is unavailable, nothing was changed: " + e.message;
    return e;
  }
  engine_.request_result(true);
  if (!r->succeeded) {
    engine_.take_current(refresh, *r);
    return false;
  }
  engine_.take_committed(pending_, r->revision);
  return true;
}

}  // namespace

Result<std::unique_ptr<Engine>> open_etcd(const EtcdOptions& options, bool read_only) {
  if (options.endpoints.empty()) return make_error(Errc::invalid_argument, "[keystore] endpoints is empty");
  for (const auto& e : options.endpoints)
    if (!e.starts_with("http://") && !e.starts_with("https://"))
      return make_error(Errc::invalid_argument, "etcd endpoint \"" + e + "\" must start with http:// or https://");
  if (options.prefix.empty() || options.prefix.front() != '/' || options.prefix.back() != '/')
    return make_error(Errc::invalid_argument, "[keystore] prefix must start and end with '/'");
  auto e = std::make_unique<EtcdEngine>(options, read_only);
  RV_TRY(e->reload());
  return std::unique_ptr<Engine>(std::move(e));
}

}  // namespace recvault::keystore::engine

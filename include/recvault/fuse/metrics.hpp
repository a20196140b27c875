// What the file system counts (docs/OPERATIONS.md lists every series).
// The daemon owns the registry; the file system is handed this set of
// references (FsOptions::metrics) and never creates metrics itself.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "recvault/metrics/metrics.hpp"
#include "recvault/util/result.hpp"

namespace recvault::fuse {

class FsMetrics {
 public:
  explicit FsMetrics(metrics::Registry& registry);

  // Per account: a recording created through the mount, bytes the daemon
  // received in WRITEs and answered in READs. One shared-lock map lookup
  // and relaxed atomics each.
  void created(std::string_view account) { of(account).created.inc(); }
  void wrote(std::string_view account, std::uint64_t n);
  void read(std::string_view account, std::uint64_t n) { of(account).read.inc(n); }
  // Bytes written to the account since 00:00 UTC today (GET /v1/status).
  std::uint64_t written_today(std::string_view account);
  // An error a handler answered with an errno; tampering is also recorded
  // per account with its time (GET /v1/status's last tamper detection).
  void failed(std::string_view account, const Error& e);
  // One tail-flush pass of the flusher thread.
  void tail_flush_pass(std::chrono::steady_clock::duration took) noexcept;

  struct TamperEvent {
    std::string account;
    std::chrono::system_clock::time_point when;
  };
  std::optional<TamperEvent> last_tamper() const;

 private:
  struct Account {
    metrics::Counter& created;
    metrics::Counter& written;
    metrics::Counter& read;
    std::atomic<std::int64_t> day{-1};  // days since the epoch (UTC) of `today`
    std::atomic<std::uint64_t> today{0};
  };
  Account& of(std::string_view account);

  metrics::Family<metrics::Counter>& created_;
  metrics::Family<metrics::Counter>& written_;
  metrics::Family<metrics::Counter>& read_;
  metrics::Family<metrics::Counter>& errors_;
  metrics::Family<metrics::Counter>& tampered_;
  metrics::Gauge& last_tamper_time_;
  metrics::Histogram& tail_flush_;
  std::shared_mutex accounts_m_;
  std::map<std::string, std::unique_ptr<Account>, std::less<>> accounts_;  // guarded by accounts_m_
  mutable std::mutex m_;
  std::optional<TamperEvent> last_tamper_;  // guarded by m_
};

}  // namespace recvault::fuse

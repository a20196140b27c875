#include "recvault/fuse/metrics.hpp"

#include <array>

namespace recvault::fuse {

namespace {

// Tail-flush passes: from a few microseconds (nothing dirty) to seconds
// (a stalled disk).
constexpr std::array<double, 12> kFlushBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.5,    2.5};

}  // namespace

FsMetrics::FsMetrics(metrics::Registry& r)
    : created_(r.counters("recvault_recordings_created", "Recordings created through the mount.", {"account"})),
      written_(r.counters("recvault_written_bytes", "Plaintext bytes received in FUSE WRITE requests.", {"account"})),
      read_(r.counters("recvault_read_bytes", "Plaintext bytes answered to FUSE READ requests.", {"account"})),
      errors_(r.counters("recvault_fuse_errors",
                         "FUSE requests failed by a content error, by cause (tampered: authentication failed).",
                         {"cause"})),
      tampered_(r.counters("recvault_tamper_detections",
                           "Authentication failures (tampered data, header or metadata) per account.", {"account"})),
      last_tamper_time_(r.gauge("recvault_last_tamper_detection_timestamp_seconds",
                                "Unix time of the last authentication failure (0: none since start).")),
      tail_flush_(r.histogram("recvault_tail_flush_duration_seconds",
                              "Tail-flush passes (buffered tails of open recordings written out) and their duration.",
                              kFlushBuckets)) {}

namespace {

std::int64_t utc_day_now() {
  using namespace std::chrono;
  return duration_cast<days>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

FsMetrics::Account& FsMetrics::of(std::string_view account) {
  {
    std::shared_lock lock(accounts_m_);
    auto it = accounts_.find(account);
    if (it != accounts_.end()) return *it->second;
  }
  std::unique_lock lock(accounts_m_);
  auto it = accounts_.find(account);
  if (it == accounts_.end()) {
    auto a = std::unique_ptr<Account>(
        new Account{created_.with({account}), written_.with({account}), read_.with({account})});
    it = accounts_.emplace(std::string(account), std::move(a)).first;
  }
  return *it->second;
}

void FsMetrics::wrote(std::string_view account, std::uint64_t n) {
  Account& a = of(account);
  a.written.inc(n);
  // A new day restarts `today`; a write racing with the change of day may
  // land in either day (one write's bytes, once a day).
  const std::int64_t day = utc_day_now();
  std::int64_t seen = a.day.load(std::memory_order_relaxed);
  if (seen != day && a.day.compare_exchange_strong(seen, day, std::memory_order_relaxed)) {
    a.today.store(0, std::memory_order_relaxed);
  }
  a.today.fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t FsMetrics::written_today(std::string_view account) {
  {
    std::shared_lock lock(accounts_m_);
    if (!accounts_.contains(account)) return 0;
  }
  Account& a = of(account);
  return a.day.load(std::memory_order_relaxed) == utc_day_now() ? a.today.load(std::memory_order_relaxed) : 0;
}

void FsMetrics::failed(std::string_view account, const Error& e) {
  errors_.with({errc_name(e.code)}).inc();
  if (e.code != Errc::tampered) return;
  tampered_.with({account}).inc();
  const auto now = std::chrono::system_clock::now();
  last_tamper_time_.set(std::chrono::duration<double>(now.time_since_epoch()).count());
  std::lock_guard lock(m_);
  last_tamper_ = TamperEvent{std::string(account), now};
}

void FsMetrics::tail_flush_pass(std::chrono::steady_clock::duration took) noexcept {
  tail_flush_.observe(std::chrono::duration<double>(took).count());
}

std::optional<FsMetrics::TamperEvent> FsMetrics::last_tamper() const {
  std::lock_guard lock(m_);
  return last_tamper_;
}

}  // namespace recvault::fuse

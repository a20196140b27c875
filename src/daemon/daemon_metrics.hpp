// recvaultd's metrics: the registry, what each module is handed to count
// with, the values read at scrape time, and the Prometheus endpoint on TCP
// ([metrics] listen). Every series is listed in docs/OPERATIONS.md.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "recvault/control/api.hpp"
#include "recvault/control/backend.hpp"
#include "recvault/daemon/config.hpp"
#include "recvault/daemon/reencrypt.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/fuse/metrics.hpp"
#include "recvault/fuse/operation.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/metrics/exposition.hpp"
#include "recvault/metrics/metrics.hpp"

namespace recvault::daemon {

class DaemonMetrics {
 public:
  DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  metrics::Registry& registry() noexcept { return registry_; }
  fuse::FsMetrics& fs() noexcept { return fs_; }

  // Keystore calls, timed per operation (KeyCache and the control API's backend).
  void keystore_op(std::string_view op, std::chrono::steady_clock::duration took, bool ok);
  keystore::KeyCache::StoreTimer store_timer();
  // Control API requests by endpoint, method and status.
  control::RequestObserver request_observer();
  // FUSE requests: each operation's latency, from the error boundary
  // (FsOptions::on_request). An array index and a few atomics per request.
  fuse::RequestObserver fuse_observer();

  // Values read at scrape time: open recordings and OpenPGP seals per
  // account, chunks, the key cache, the process, the build.
  void watch(fuse::Filesystem& fs, const keystore::KeyCache& keys);
  // Re-encryption jobs: the progress of each account's latest job.
  void watch(Reencryptor& jobs);

  // The exposition; `caller` (the control socket's token) hides the accounts
  // it is not granted; null shows all (the TCP endpoint).
  std::string render(const control::Principal* caller) const;

 private:
  metrics::Registry registry_;
  fuse::FsMetrics fs_;
  metrics::Family<metrics::Histogram>& keystore_ops_;
  metrics::Family<metrics::Counter>& keystore_errors_;
  metrics::Family<metrics::Counter>& requests_;
  std::array<metrics::Histogram*, fuse::kOpCount> fuse_ops_{};
};

// Times the control API's keystore calls (a decorator around its backend).
class TimedBackend final : public control::Backend {
 public:
  TimedBackend(control::Backend& inner, DaemonMetrics& metrics) : inner_(inner), metrics_(metrics) {}
  Status validate_account_id(std::string_view account) const override { return inner_.validate_account_id(account); }
  Result<nlohmann::json> get_config(std::string_view account) override;
  Result<nlohmann::json> update_config(std::string_view account, const nlohmann::json& request) override;
  Result<std::string> add_public_key(std::string_view account, std::string_view armored,
                                     std::string_view fingerprint) override;
  Result<std::vector<std::string>> list_public_keys(std::string_view account) override;
  Result<control::PublicKeyRecord> get_public_key(std::string_view account, std::string_view id) override;
  Status delete_public_key(std::string_view account, std::string_view id) override;

 private:
  template <class Fn>
  auto timed(std::string_view op, Fn&& fn);
  control::Backend& inner_;
  DaemonMetrics& metrics_;
};

// GET /metrics over HTTP on a TCP address, without authentication: bind it
// to loopback (the default) or a monitoring network (docs/OPERATIONS.md).
class MetricsListener {
 public:
  MetricsListener();
  ~MetricsListener();
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  // Listens on `address` (port 0: any free port, see port()). `metrics`
  // must outlive the listener.
  Status start(const ListenAddress& address, const DaemonMetrics& metrics);
  void stop() noexcept;
  std::uint16_t port() const noexcept;

  struct Impl;  // public: the C callback reaches it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace recvault::daemon

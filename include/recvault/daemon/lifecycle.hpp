// The key lifecycle on the real keystore and backing directory
// (docs/KEYSTORE.md "Key lifecycle", docs/API.md "Key lifecycle"): the
// control API's Lifecycle, plus the executor that runs due destructions.
//
// The census reads each backing file's own metadata (format::detect, the
// header, the OpenPGP marker xattr), never a key: it works on accounts whose
// versions are retired or destroyed, and costs one small read per file.
//
// Thread safety: every member may be called from any thread. The executor is
// one thread (start_executor .. stop_executor / destructor).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "recvault/control/audit.hpp"
#include "recvault/control/lifecycle.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::daemon {

// Counts of one bucket of the census.
struct CensusCount {
  std::uint64_t recordings = 0;
  std::uint64_t bytes = 0;  // backing file sizes
};

struct Census {
  CensusCount total;
  // Encrypted recordings (sealed or not) per key version.
  std::map<std::uint32_t, CensusCount> versions;
  // "encrypted" (sealed), "unterminated" (encrypted, never sealed: being
  // written, or its writer died), "plain", "openpgp", "unreadable" (a header
  // that does not parse, an unknown marker).
  std::map<std::string, CensusCount> kinds;
};

// Walks `account_dir` (recursively; symlinks are not followed). An absent
// directory is an empty census.
Result<Census> take_census(const std::filesystem::path& account_dir);
nlohmann::json census_json(const Census& census);

struct LifecycleOptions {
  // How long a scheduled destruction waits ([keystore] destruction_delay).
  std::chrono::seconds destruction_delay{7 * 24 * 3600};
  // How often the executor looks for due destructions.
  std::chrono::milliseconds check_interval{60 * 1000};
};

// The re-encryption jobs KeyLifecycle serves (daemon/reencrypt.hpp's
// Reencryptor), as an interface so that this part of the daemon needs no
// FUSE. Errors as control::Lifecycle's.
class ReencryptionJobs {
 public:
  virtual ~ReencryptionJobs() = default;
  virtual Result<nlohmann::json> start_job(std::string_view account, const control::ReencryptRequest& request) = 0;
  virtual Result<nlohmann::json> jobs(std::string_view account) = 0;
  virtual Result<nlohmann::json> cancel(std::string_view account, std::string_view requested_by) = 0;
};

class KeyLifecycle final : public control::Lifecycle {
 public:
  // Both must outlive this object.
  KeyLifecycle(keystore::Store& store, std::filesystem::path backing_dir, LifecycleOptions options)
      : store_(store), backing_dir_(std::move(backing_dir)), options_(options) {}
  ~KeyLifecycle() override { stop_executor(); }
  KeyLifecycle(const KeyLifecycle&) = delete;
  KeyLifecycle& operator=(const KeyLifecycle&) = delete;

  Result<nlohmann::json> census(std::string_view account) override;
  Result<std::uint64_t> recordings_below(std::string_view account, std::uint32_t version) override;
  Result<nlohmann::json> set_legal_hold(std::string_view account, bool hold) override;
  Result<nlohmann::json> schedule_destruction(std::string_view account, control::DestructionScope scope,
                                              std::string_view requested_by) override;
  Result<nlohmann::json> cancel_destruction(std::string_view account) override;
  // Served by the Reencryptor given here (Errc::unavailable without one).
  void set_reencryptor(ReencryptionJobs* jobs) noexcept { reencryptor_ = jobs; }
  Result<nlohmann::json> start_reencryption(std::string_view account,
                                            const control::ReencryptRequest& request) override;
  Result<nlohmann::json> reencryption_jobs(std::string_view account) override;
  Result<nlohmann::json> cancel_reencryption(std::string_view account, std::string_view requested_by) override;

  // Runs the due destructions once; each one (and each failure) is an audit
  // record ("destruction.execute", subject "recvaultd") and a log line.
  void run_due(control::AuditLog& audit);
  // Calls run_due every check_interval on a thread of its own. `audit` must
  // outlive the executor.
  void start_executor(control::AuditLog& audit) RV_EXCLUDES(mutex_);
  void stop_executor() RV_EXCLUDES(mutex_);

 private:
  keystore::Store& store_;
  const std::filesystem::path backing_dir_;
  const LifecycleOptions options_;
  Mutex mutex_;
  CondVar wake_;
  bool stopping_ RV_GUARDED_BY(mutex_) = false;
  std::thread executor_;  // started and joined by the owner's thread only
  ReencryptionJobs* reencryptor_ = nullptr;
};

// The lifecycle fields of a config, without key material.
nlohmann::json lifecycle_json(const keystore::AccountConfig& config);

}  // namespace recvault::daemon

// Re-encryption jobs (docs/KEYSTORE.md "Re-encryption", docs/API.md
// "Re-encryption"): one background thread per account rewrites every
// recording encrypted under a key version below a bound with the account's
// current version, directly on the backing files (never through the mount:
// a daemon thread that waits on its own FUSE server cannot be stopped).
//
// One recording is rewritten so that a kill -9 at any moment leaves it
// readable exactly once: the new file is written beside it under a name the
// view never shows (format::kRewriteTempPrefix), fsynced, given the old
// file's xattrs, owner, mode and times, renamed over the old one by
// fuse::Filesystem::replace_backing (which refuses while the recording is
// open through this daemon, and makes the view's inode stand for the new
// file), and the directory is fsynced. A crash leaves at worst a temporary
// file, which the resumed job removes. Encrypted names of versions below the
// bound are renamed to the current version's form (one rename each).
//
// Jobs persist their state in `<state_dir>/<account>.json` (written whole,
// then renamed) so that a restarted daemon resumes a running job; the walk
// is idempotent (a rewritten recording is of the current version and is
// skipped), so resuming repeats no work but the file in progress.
//
// Thread safety: every public member may be called from any thread.
// Lock order: mutex_ is a leaf (never held while rewriting, walking or
// calling the keystore or the filesystem).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "recvault/control/audit.hpp"
#include "recvault/control/lifecycle.hpp"
#include "recvault/daemon/lifecycle.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::daemon {

struct ReencryptOptions {
  std::filesystem::path backing_dir;
  std::filesystem::path state_dir;  // job state files (created if absent)
  double mb_per_s = 20;             // default throttle of a job, 10^6 bytes per second of backing file rewritten
  // How long a job keeps coming back for recordings that are open (through
  // this daemon, or locked by another host) before it finishes without them.
  std::chrono::milliseconds open_retry_for{std::chrono::minutes(10)};
  std::chrono::milliseconds open_retry_interval{std::chrono::seconds(1)};
};

// What a job has done: the JSON of GET .../jobs (docs/API.md).
struct JobProgress {
  std::string id;
  std::string account;
  std::string state = "running";  // running, finished, cancelled, failed
  std::uint32_t below_version = 0;
  std::uint32_t target_version = 0;
  double mb_per_s = 0;
  std::string requested_by;
  control::PeerInfo peer;
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
  std::uint64_t files_total = 0, files_done = 0;
  std::uint64_t bytes_total = 0, bytes_done = 0;
  std::uint64_t names_done = 0;
  std::uint64_t skipped_open = 0, skipped_openpgp = 0, skipped_unterminated = 0;
  std::uint64_t errors = 0;
  std::string last_error;
  std::uint64_t resumed = 0;  // times a restarted daemon took it up again
  // Not persisted: this run's rate, for the ETA.
  std::chrono::steady_clock::time_point run_started{};
  std::uint64_t run_bytes = 0;

  nlohmann::json to_json() const;
  static JobProgress from_json(const nlohmann::json& j);
};

class Reencryptor final : public ReencryptionJobs {
 public:
  // `fs` and `keys` must outlive this object; `audit` too once start() ran.
  Reencryptor(fuse::Filesystem& fs, keystore::KeyCache& keys, ReencryptOptions options);
  ~Reencryptor() override;
  Reencryptor(const Reencryptor&) = delete;
  Reencryptor& operator=(const Reencryptor&) = delete;

  // Resumes the jobs the state files say were running; `audit` receives
  // the jobs' finish records (subject "recvaultd").
  void start(control::AuditLog& audit) RV_EXCLUDES(mutex_);
  // Stops every job between two chunks (its temporary file removed, its
  // state left "running" so the next start resumes it) and joins them.
  void stop() RV_EXCLUDES(mutex_);

  Result<nlohmann::json> start_job(std::string_view account, const control::ReencryptRequest& request) override
      RV_EXCLUDES(mutex_);
  Result<nlohmann::json> jobs(std::string_view account) override RV_EXCLUDES(mutex_);
  Result<nlohmann::json> cancel(std::string_view account, std::string_view requested_by) override RV_EXCLUDES(mutex_);
  // The latest job of every account this daemon ran or resumed (running or
  // ended), for the metrics.
  std::vector<JobProgress> latest_jobs() RV_EXCLUDES(mutex_);

 private:
  struct Job;
  class Run;
  void launch(const std::shared_ptr<Job>& job) RV_REQUIRES(mutex_);
  // The job's walks (reencrypt_walk.cpp): one that counts, then rewriting
  // ones until no open recording is left or open_retry_for ran out.
  Status run_passes(Job& job, const std::string& account, std::uint32_t below, double mb_per_s);
  Status save(const JobProgress& progress) const;

  fuse::Filesystem& fs_;
  keystore::KeyCache& keys_;
  const ReencryptOptions options_;
  control::AuditLog* audit_ = nullptr;  // set by start()
  Mutex mutex_;
  std::map<std::string, std::shared_ptr<Job>, std::less<>> jobs_ RV_GUARDED_BY(mutex_);
  bool stopping_ RV_GUARDED_BY(mutex_) = false;
};

}  // namespace recvault::daemon

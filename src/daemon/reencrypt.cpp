#include "recvault/daemon/reencrypt.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <fstream>

#include "recvault/keystore/account_id.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/log.hpp"
#include "reencrypt_job.hpp"

namespace recvault::daemon {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339_ms(std::int64_t ms) {
  if (ms <= 0) return "";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

// The job as the API shows it: without what only the state file needs.
nlohmann::json api_json(const JobProgress& progress) {
  nlohmann::json j = progress.to_json();
  j.erase("started_ms");
  j.erase("finished_ms");
  j.erase("peer_uid");
  return j;
}

}  // namespace

nlohmann::json JobProgress::to_json() const {
  nlohmann::json j = {
      {"id", id},
      {"account", account},
      {"state", state},
      {"below_version", below_version},
      {"target_version", target_version},
      {"mb_per_s", mb_per_s},
      {"requested_by", requested_by},
      {"started_at", rfc3339_ms(started_ms)},
      {"finished_at", finished_ms > 0 ? nlohmann::json(rfc3339_ms(finished_ms)) : nlohmann::json(nullptr)},
      {"files_total", files_total},
      {"files_done", files_done},
      {"bytes_total", bytes_total},
      {"bytes_done", bytes_done},
      {"names_done", names_done},
      {"skipped", {{"open", skipped_open}, {"openpgp", skipped_openpgp}, {"unterminated", skipped_unterminated}}},
      {"errors", errors},
      {"last_error", last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error)},
      {"resumed", resumed},
      {"eta_seconds", nullptr},
  };
  // The persisted form keeps what a resumed job needs.
  j["started_ms"] = started_ms;
  j["finished_ms"] = finished_ms;
  if (peer.known) j["peer_uid"] = peer.uid;
  if (state == "running" && run_bytes > 0 && bytes_total > bytes_done) {
    const double secs = std::chrono::duration<double>(Clock::now() - run_started).count();
    if (secs > 0) {
      const double rate = static_cast<double>(run_bytes) / secs;
      j["eta_seconds"] = static_cast<std::uint64_t>(static_cast<double>(bytes_total - bytes_done) / rate + 0.5);
    }
  }
  return j;
}

JobProgress JobProgress::from_json(const nlohmann::json& j) {
  JobProgress p;
  p.id = j.value("id", "");
  p.account = j.value("account", "");
  p.state = j.value("state", "failed");
  p.below_version = j.value("below_version", std::uint32_t{0});
  p.target_version = j.value("target_version", std::uint32_t{0});
  p.mb_per_s = j.value("mb_per_s", 0.0);
  p.requested_by = j.value("requested_by", "");
  p.started_ms = j.value("started_ms", std::int64_t{0});
  p.finished_ms = j.value("finished_ms", std::int64_t{0});
  p.files_total = j.value("files_total", std::uint64_t{0});
  p.files_done = j.value("files_done", std::uint64_t{0});
  p.bytes_total = j.value("bytes_total", std::uint64_t{0});
  p.bytes_done = j.value("bytes_done", std::uint64_t{0});
  p.names_done = j.value("names_done", std::uint64_t{0});
  p.errors = j.value("errors", std::uint64_t{0});
  if (j.contains("last_error") && j["last_error"].is_string()) p.last_error = j["last_error"].get<std::string>();
  p.resumed = j.value("resumed", std::uint64_t{0});
  if (j.contains("peer_uid")) {
    p.peer.known = true;
    p.peer.uid = j.value("peer_uid", uid_t{0});
  }
  if (auto s = j.find("skipped"); s != j.end() && s->is_object()) {
    p.skipped_open = s->value("open", std::uint64_t{0});
    p.skipped_openpgp = s->value("openpgp", std::uint64_t{0});
    p.skipped_unterminated = s->value("unterminated", std::uint64_t{0});
  }
  return p;
}

Reencryptor::Reencryptor(fuse::Filesystem& fs, keystore::KeyCache& keys, ReencryptOptions options)
    : fs_(fs), keys_(keys), options_(std::move(options)) {}

Reencryptor::~Reencryptor() { stop(); }

Status Reencryptor::save(const JobProgress& progress) const {
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  const auto path = options_.state_dir / (progress.account + ".json");
  const auto tmp = options_.state_dir / (progress.account + ".json.tmp");
  {
    sys::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) {
      int e = errno;
      return sys_error("save the job state " + tmp.string(), e);
    }
    const std::string text = progress.to_json().dump() + "\n";
    RV_TRY(sys::pwrite_full(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0));
    if (::fsync(fd.get()) != 0) {
      int e = errno;
      return sys_error("fsync the job state", e);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    return sys_error("save the job state " + path.string(), e);
  }
  return sys::fsync_directory(options_.state_dir);
}

void Reencryptor::start(control::AuditLog& audit) {
  MutexLock lock(mutex_);
  audit_ = &audit;
  stopping_ = false;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(options_.state_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".json") continue;
    std::ifstream in(it->path());
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      log::warn("re-encryption: ignoring the unreadable job state " + it->path().string());
      continue;
    }
    auto job = std::make_shared<Job>();
    JobProgress progress = JobProgress::from_json(j);
    if (!keystore::validate_account_id(progress.account).ok()) continue;
    const bool running = progress.state == "running";
    if (running) ++progress.resumed;
    const std::string account = progress.account;
    {
      MutexLock job_lock(job->m);
      job->progress = std::move(progress);
    }
    jobs_[account] = job;
    if (running) {
      log::info("re-encryption of " + account + ": resuming the job the daemon ran before it stopped");
      launch(job);
    }
  }
}

void Reencryptor::stop() {
  std::vector<std::shared_ptr<Job>> all;
  {
    MutexLock lock(mutex_);
    stopping_ = true;
    for (auto& [account, job] : jobs_) all.push_back(job);
  }
  for (auto& job : all) {
    {
      MutexLock lock(job->m);
      job->stop = true;
    }
    job->wake.notify_all();
  }
  for (auto& job : all)
    if (job->thread.joinable()) job->thread.join();
}

void Reencryptor::launch(const std::shared_ptr<Job>& job) {
  job->thread = std::thread([this, job] {
    std::string account;
    std::uint32_t below = 0;
    double rate = 0;
    {
      MutexLock lock(job->m);
      job->progress.run_started = Clock::now();
      job->progress.run_bytes = 0;
      account = job->progress.account;
      below = job->progress.below_version;
      if (!(job->progress.mb_per_s > 0)) job->progress.mb_per_s = options_.mb_per_s;  // a damaged state file
      rate = job->progress.mb_per_s;
    }
    Status st = run_passes(*job, account, below, rate);
    JobProgress done;
    bool shutdown = false;
    std::string cancelled_by;
    {
      MutexLock lock(job->m);
      shutdown = job->stop && !job->cancelled;
      cancelled_by = job->cancelled_by;
      if (!shutdown) {
        job->progress.state = job->cancelled ? "cancelled" : st ? "finished" : "failed";
        if (!st) job->progress.last_error = st.error().message;
        job->progress.finished_ms = now_ms();
      }
      done = job->progress;
    }
    if (auto saved = save(done); !saved) log::warn("re-encryption of " + account + ": " + saved.error().message);
    if (shutdown) return;  // resumed at the next start
    log::info("re-encryption of " + account + " " + done.state + ": " + std::to_string(done.files_done) + " of " +
              std::to_string(done.files_total) + " recordings, " + std::to_string(done.names_done) + " names, " +
              std::to_string(done.errors) + " errors, skipped " + std::to_string(done.skipped_open) + " open, " +
              std::to_string(done.skipped_openpgp) + " OpenPGP, " + std::to_string(done.skipped_unterminated) +
              " unterminated");
    control::AuditRecord record;
    record.subject = "recvaultd";
    record.peer = done.peer;
    record.account = account;
    record.action = "reencrypt.finish";
    record.resource = done.id;
    record.status = done.state == "failed" ? 500 : 200;
    record.reason = done.state == "cancelled" ? "cancelled by " + cancelled_by
                    : done.state == "failed"  ? "failed: " + done.last_error
                                              : "finished";
    for (std::uint32_t v = 1; v < done.below_version; ++v) record.versions.push_back(v);
    record.counts = {{"files_total", done.files_total},
                     {"files_done", done.files_done},
                     {"bytes_done", done.bytes_done},
                     {"names_done", done.names_done},
                     {"errors", done.errors},
                     {"skipped_open", done.skipped_open},
                     {"skipped_openpgp", done.skipped_openpgp},
                     {"skipped_unterminated", done.skipped_unterminated}};
    if (audit_ != nullptr)
      if (auto a = audit_->append(record); !a) log::error("re-encryption: audit log: " + a.error().message);
  });
}

Result<nlohmann::json> Reencryptor::start_job(std::string_view account, const control::ReencryptRequest& request) {
  RV_TRY(keystore::validate_account_id(account));
  RV_ASSIGN(auto current, keys_.current(account));
  if (!current.enabled || !current.spec.key)
    return make_error(Errc::conflict, "Encryption of this account is disabled: there is no key to re-encrypt to");
  const std::uint32_t version = current.spec.key_version;
  const std::uint32_t below = request.below.value_or(version);
  if (below > version)
    return make_error(Errc::invalid_argument,
                      "below_version must be at most the current key version (" + std::to_string(version) + ")");
  MutexLock lock(mutex_);
  if (stopping_ || audit_ == nullptr) return make_error(Errc::unavailable, "The daemon is not running jobs");
  if (auto it = jobs_.find(account); it != jobs_.end()) {
    MutexLock job_lock(it->second->m);
    if (it->second->progress.state == "running")
      return make_error(Errc::conflict, "A re-encryption job of this account is running (GET .../jobs)");
  }
  std::shared_ptr<Job> previous;
  if (auto it = jobs_.find(account); it != jobs_.end()) previous = it->second;
  if (previous && previous->thread.joinable()) previous->thread.join();  // ended: its thread is about to return
  auto job = std::make_shared<Job>();
  JobProgress p;
  p.id = std::string(account) + "-" + std::to_string(now_ms());
  p.account = std::string(account);
  p.below_version = below;
  p.target_version = version;
  p.mb_per_s = request.mb_per_s.value_or(options_.mb_per_s);
  p.requested_by = request.requested_by;
  p.peer = request.peer;
  p.started_ms = now_ms();
  RV_TRY(save(p));  // before the first temporary file exists: a crash resumes the job, which removes it
  nlohmann::json out = api_json(p);
  {
    MutexLock job_lock(job->m);
    job->progress = std::move(p);
  }
  jobs_[std::string(account)] = job;
  launch(job);
  log::info("re-encryption of " + std::string(account) + " started: versions below " + std::to_string(below) +
            " to version " + std::to_string(version));
  return out;
}

Result<nlohmann::json> Reencryptor::jobs(std::string_view account) {
  RV_TRY(keystore::validate_account_id(account));
  nlohmann::json out = nlohmann::json::array();
  MutexLock lock(mutex_);
  if (auto it = jobs_.find(account); it != jobs_.end()) {
    MutexLock job_lock(it->second->m);
    out.push_back(api_json(it->second->progress));
  }
  return out;
}

std::vector<JobProgress> Reencryptor::latest_jobs() {
  std::vector<JobProgress> out;
  MutexLock lock(mutex_);
  out.reserve(jobs_.size());
  for (const auto& [account, job] : jobs_) {
    MutexLock job_lock(job->m);
    out.push_back(job->progress);
  }
  return out;
}

Result<nlohmann::json> Reencryptor::cancel(std::string_view account, std::string_view requested_by) {
  RV_TRY(keystore::validate_account_id(account));
  std::shared_ptr<Job> job;
  {
    MutexLock lock(mutex_);
    if (auto it = jobs_.find(account); it != jobs_.end()) job = it->second;
  }
  if (job) {
    MutexLock job_lock(job->m);
    if (job->progress.state == "running" && !job->stop) {
      job->stop = true;
      job->cancelled = true;
      job->cancelled_by = std::string(requested_by);
      job->wake.notify_all();
      nlohmann::json j = api_json(job->progress);
      j["state"] = "cancelling";
      return j;
    }
  }
  return make_error(Errc::not_found, "No re-encryption job of this account is running");
}

}  // namespace recvault::daemon

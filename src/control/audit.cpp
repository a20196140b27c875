#include "recvault/control/audit.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace recvault::control {
namespace {

std::string rfc3339_utc(std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return sys_error("cannot open audit log " + path, errno);
  return std::unique_ptr<AuditLog>(new AuditLog(sys::UniqueFd(fd)));
}

std::unique_ptr<AuditLog> AuditLog::disabled() { return std::unique_ptr<AuditLog>(new AuditLog(sys::UniqueFd())); }

std::string AuditLog::format(const AuditRecord& r, std::int64_t unix_ms) {
  nlohmann::json j;
  j["time"] = rfc3339_utc(unix_ms);
  j["subject"] = r.subject;
  if (r.peer.known) {
    j["uid"] = r.peer.uid;
    j["gid"] = r.peer.gid;
    j["pid"] = r.peer.pid;
  }
  j["account"] = r.account;
  j["action"] = r.action;
  if (!r.resource.empty()) j["resource"] = r.resource;
  j["status"] = r.status;
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (!r.versions.empty()) j["versions"] = r.versions;
  if (!r.counts.empty()) {
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& [name, n] : r.counts) counts[name] = n;
    j["counts"] = std::move(counts);
  }
  // Header values come from the client: replace rather than throw on bad UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status AuditLog::append(const AuditRecord& record) {
  if (!fd_.valid()) return {};
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  std::string line = format(record, now.count());
  line.push_back('\n');
  std::lock_guard lock(mu_);
  ssize_t n = ::write(fd_.get(), line.data(), line.size());
  if (n < 0) return sys_error("audit log write failed", errno);
  if (static_cast<std::size_t>(n) != line.size()) return make_error(Errc::io, "audit log write was short");
  return {};
}

}  // namespace recvault::control

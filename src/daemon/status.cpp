#include "status.hpp"

#include <sys/statvfs.h>

#include <ctime>

#include "recvault/format/header.hpp"
#include "recvault/util/version.hpp"

namespace recvault::daemon {

namespace {

// Free bytes on the file system holding `dir` (for unprivileged writers).
std::uint64_t free_bytes(const std::filesystem::path& dir) {
  struct statvfs sv {};
  if (::statvfs(dir.c_str(), &sv) != 0) return 0;
  return static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// "enabled" (with its algorithm), "disabled", "openpgp" or "unconfigured",
// and the current key version (null when there is none).
void describe_encryption(const keystore::Store& store, const std::string& account, nlohmann::json& out) {
  auto config = store.get_config(account);
  if (!config) {
    out["encryption"] = "unknown";
    out["key_version"] = nullptr;
    out["keystore_error"] = errc_name(config.error().code);
    return;
  }
  if (!*config) {
    out["encryption"] = "unconfigured";
    out["key_version"] = nullptr;
    return;
  }
  const auto& c = **config;
  if (!c.public_key_id.empty()) {
    out["encryption"] = "openpgp";
    out["public_key_id"] = c.public_key_id;
  } else {
    out["encryption"] = c.enabled ? "enabled" : "disabled";
  }
  out["algorithm"] = std::string(format::algorithm_name(c.algorithm));
  out["key_version"] = c.has_key_material() ? nlohmann::json(c.key_version) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json daemon_status(const StatusSources& s, const control::Principal& caller) {
  const auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.started);
  const auto open = s.fs.open_per_account();
  nlohmann::json accounts = nlohmann::json::object();
  std::uint64_t open_total = 0;
  for (const auto& account : s.fs.accounts()) {
    if (!caller.may_access(account)) continue;
    auto o = open.find(account);
    const std::uint64_t files = o == open.end() ? 0 : o->second.files;
    open_total += files;
    nlohmann::json a = {{"used_bytes", s.fs.quotas().used(account)},
                        {"quota_bytes", s.config.owner_of(account).quota_bytes},
                        {"recordings_open", files},
                        {"bytes_written_today", s.metrics.fs().written_today(account)}};
    describe_encryption(s.store, account, a);
    accounts[account] = std::move(a);
  }
  nlohmann::json tamper = nullptr;
  if (auto t = s.metrics.fs().last_tamper(); t && caller.may_access(t->account)) {
    tamper = {{"account", t->account}, {"time", utc_text(t->when)}};
  }
  const keystore::StoreInfo ks = s.store.info();
  nlohmann::json keystore_json = {{"engine", ks.engine}, {"healthy", ks.healthy}};
  if (ks.engine == "etcd") {
    keystore_json["endpoints"] = ks.endpoints;
    keystore_json["prefix"] = ks.prefix;
  } else {
    keystore_json["path"] = ks.path.string();
  }
  return nlohmann::json{{"version", version()},
                        {"keystore", keystore_json},
                        {"uptime_seconds", up.count()},
                        {"mount_point", s.config.mount_point.string()},
                        {"key_derivations", s.keys.derivations()},
                        {"keys_restored", s.keys.restored()},
                        {"backing_free_bytes", free_bytes(s.config.backing_dir)},
                        {"recordings_open", open_total},
                        {"last_tamper_detection", tamper},
                        {"accounts", accounts}};
}

}  // namespace recvault::daemon

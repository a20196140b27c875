#include "recvault/daemon/lifecycle.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recvault/format/detect.hpp"
#include "recvault/format/header.hpp"
#include "recvault/format/names.hpp"
#include "recvault/keystore/account_id.hpp"
#include "recvault/pgp/xattrs.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/log.hpp"

namespace recvault::daemon {
namespace {

void add(CensusCount& c, std::uint64_t bytes) {
  ++c.recordings;
  c.bytes += bytes;
}

// One backing file: its kind and, when encrypted, its version.
void count_file(const std::filesystem::path& path, Census& census) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return;  // gone meanwhile (renamed, deleted): not a recording any more
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  const auto bytes = static_cast<std::uint64_t>(st.st_size);
  add(census.total, bytes);
  auto found = format::detect(fd.get());
  if (!found) {
    add(census.kinds["unreadable"], bytes);
    return;
  }
  switch (found->kind) {
    case format::Detected::Kind::plain:
      add(census.kinds["plain"], bytes);
      return;
    case format::Detected::Kind::marked:
      add(census.kinds[found->marker == pgp::xattr::pgp_format ? "openpgp" : "unreadable"], bytes);
      return;
    case format::Detected::Kind::encrypted:
      break;
  }
  auto header = format::read_header(fd.get());
  if (!header) {
    add(census.kinds["unreadable"], bytes);
    return;
  }
  add(census.kinds[header->sealed ? "encrypted" : "unterminated"], bytes);
  add(census.versions[header->key_version], bytes);
}

Error no_account(std::string_view account) {
  return make_error(Errc::not_found, "account " + std::string(account) + " has no configuration");
}

}  // namespace

Result<Census> take_census(const std::filesystem::path& account_dir) {
  Census census;
  std::error_code ec;
  if (!std::filesystem::exists(account_dir, ec)) return census;
  std::filesystem::recursive_directory_iterator it(account_dir, std::filesystem::directory_options::none, ec), end;
  if (ec) return sys_error("census of " + account_dir.string(), ec.value());
  for (; it != end; it.increment(ec)) {
    if (ec) return sys_error("census of " + account_dir.string(), ec.value());
    std::error_code type_ec;
    if (it->is_symlink(type_ec) || !it->is_regular_file(type_ec)) continue;
    // Directory IV files and rewrite temporaries are not recordings.
    if (format::is_internal_entry(it->path().filename().string())) continue;
    count_file(it->path(), census);
  }
  return census;
}

nlohmann::json census_json(const Census& census) {
  auto counts = [](const CensusCount& c) { return nlohmann::json{{"recordings", c.recordings}, {"bytes", c.bytes}}; };
  nlohmann::json versions = nlohmann::json::object();
  for (const auto& [v, c] : census.versions) versions[std::to_string(v)] = counts(c);
  nlohmann::json kinds = nlohmann::json::object();
  for (const char* k : {"encrypted", "unterminated", "plain", "openpgp", "unreadable"}) {
    auto it = census.kinds.find(k);
    kinds[k] = counts(it == census.kinds.end() ? CensusCount{} : it->second);
  }
  return {{"recordings", census.total.recordings},
          {"bytes", census.total.bytes},
          {"versions", std::move(versions)},
          {"kinds", std::move(kinds)}};
}

nlohmann::json lifecycle_json(const keystore::AccountConfig& c) {
  nlohmann::json out = {
      {"key_version", c.key_version},     {"min_decryption_version", c.min_decryption_version},
      {"legal_hold", c.legal_hold},       {"destroyed_versions", keystore::destroyed_json(c)},
      {"scheduled_destruction", nullptr},
  };
  if (c.destruction) out["scheduled_destruction"] = keystore::destruction_json(*c.destruction, c.destroyed_through + 1);
  return out;
}

Result<nlohmann::json> KeyLifecycle::census(std::string_view account) {
  RV_TRY(keystore::validate_account_id(account));
  RV_ASSIGN(auto config, store_.get_config(account));
  RV_ASSIGN(auto census, take_census(backing_dir_ / std::string(account)));
  nlohmann::json out = census_json(census);
  out["account"] = std::string(account);
  if (config) {
    out["key_version"] = config->key_version;
    out["min_decryption_version"] = config->min_decryption_version;
  } else {
    out["key_version"] = nullptr;
    out["min_decryption_version"] = 0;
  }
  return out;
}

Result<std::uint64_t> KeyLifecycle::recordings_below(std::string_view account, std::uint32_t version) {
  RV_TRY(keystore::validate_account_id(account));
  RV_ASSIGN(auto census, take_census(backing_dir_ / std::string(account)));
  std::uint64_t n = 0;
  for (const auto& [v, c] : census.versions)
    if (v < version) n += c.recordings;
  return n;
}

Result<nlohmann::json> KeyLifecycle::set_legal_hold(std::string_view account, bool hold) {
  RV_ASSIGN(auto config, store_.set_legal_hold(account, hold));
  log::info("key lifecycle: legal hold " + std::string(hold ? "set on" : "lifted from") + " account " +
            std::string(account));
  return lifecycle_json(config);
}

Result<nlohmann::json> KeyLifecycle::schedule_destruction(std::string_view account, control::DestructionScope scope,
                                                          std::string_view requested_by) {
  const auto s = scope == control::DestructionScope::account ? keystore::ScheduledDestruction::Scope::account
                                                             : keystore::ScheduledDestruction::Scope::versions;
  RV_ASSIGN(auto config, store_.schedule_destruction(account, s, options_.destruction_delay, requested_by));
  auto out = lifecycle_json(config);
  log::info("key lifecycle: destruction of " + std::string(keystore::scope_name(s)) + " of account " +
            std::string(account) + " scheduled for " + out["scheduled_destruction"].value("execute_at", std::string()));
  return out;
}

Result<nlohmann::json> KeyLifecycle::cancel_destruction(std::string_view account) {
  RV_ASSIGN(auto before, store_.get_config(account));
  if (!before) return no_account(account);
  RV_ASSIGN(auto config, store_.cancel_destruction(account));
  auto out = lifecycle_json(config);
  if (before->destruction)
    out["cancelled_destruction"] = keystore::destruction_json(*before->destruction, before->destroyed_through + 1);
  log::info("key lifecycle: destruction for account " + std::string(account) + " cancelled");
  return out;
}

namespace {
Error no_jobs() { return make_error(Errc::unavailable, "This daemon runs no re-encryption jobs"); }
}  // namespace

Result<nlohmann::json> KeyLifecycle::start_reencryption(std::string_view account,
                                                        const control::ReencryptRequest& request) {
  if (reencryptor_ == nullptr) return no_jobs();
  return reencryptor_->start_job(account, request);
}

Result<nlohmann::json> KeyLifecycle::reencryption_jobs(std::string_view account) {
  if (reencryptor_ == nullptr) return no_jobs();
  return reencryptor_->jobs(account);
}

Result<nlohmann::json> KeyLifecycle::cancel_reencryption(std::string_view account, std::string_view requested_by) {
  if (reencryptor_ == nullptr) return no_jobs();
  return reencryptor_->cancel(account, requested_by);
}

void KeyLifecycle::run_due(control::AuditLog& audit) {
  auto done = store_.run_due_destructions();
  control::AuditRecord record;
  record.subject = "recvaultd";
  record.action = "destruction.execute";
  if (!done) {
    record.status = 500;
    record.reason = done.error().message;
    log::error("key lifecycle: running due destructions failed: " + done.error().message);
    (void)audit.append(record);
    return;
  }
  for (const auto& d : *done) {
    record.account = d.account;
    record.resource = std::string(keystore::scope_name(d.scope));
    record.status = 200;
    record.versions.clear();
    for (std::uint32_t v = d.from; v <= d.through; ++v) record.versions.push_back(v);
    log::warn("key lifecycle: destroyed key versions " + std::to_string(d.from) + ".." + std::to_string(d.through) +
              " of account " + d.account + " (" + record.resource + "): their recordings are unreadable from now on");
    if (auto st = audit.append(record); !st) log::error("key lifecycle: audit log: " + st.error().message);
  }
}

void KeyLifecycle::start_executor(control::AuditLog& audit) {
  {
    MutexLock lock(mutex_);
    stopping_ = false;
  }
  executor_ = std::thread([this, &audit] {
    for (;;) {
      {
        MutexLock lock(mutex_);
        if (wake_.wait_for(mutex_, options_.check_interval, [this]() RV_REQUIRES(mutex_) { return stopping_; })) return;
      }
      run_due(audit);
    }
  });
}

void KeyLifecycle::stop_executor() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (executor_.joinable()) executor_.join();
}

}  // namespace recvault::daemon

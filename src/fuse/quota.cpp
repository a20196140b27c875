#include "recvault/fuse/quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "recvault/util/log.hpp"

namespace recvault::fuse {
namespace {

// Bytes allocated under the directory `dfd` (taken), depth-first, without
// following symlinks or crossing into other file systems.
std::int64_t allocated_under(int dfd, dev_t dev) {
  DIR* dp = ::fdopendir(dfd);
  if (dp == nullptr) {
    ::close(dfd);
    return 0;
  }
  std::int64_t total = 0;
  std::vector<std::string> subdirs;
  while (dirent* ent = ::readdir(dp)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(::dirfd(dp), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    total += static_cast<std::int64_t>(st.st_blocks) * 512;
    if (S_ISDIR(st.st_mode) && st.st_dev == dev) subdirs.emplace_back(ent->d_name);
  }
  for (const auto& name : subdirs) {
    int sub = ::openat(::dirfd(dp), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) total += allocated_under(sub, dev);
  }
  ::closedir(dp);
  return total;
}

}  // namespace

Quotas::Quotas(int backing_root, std::function<AccountLimits(std::string_view)> limits_of,
               std::chrono::seconds rescan_interval)
    : root_(backing_root), limits_of_(std::move(limits_of)), rescan_interval_(rescan_interval) {}

std::optional<std::int64_t> Quotas::count(const std::string& account) const {
  int dfd = ::openat(root_, account.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return std::nullopt;
  struct stat st {};
  if (::fstat(dfd, &st) != 0) {
    ::close(dfd);
    return std::nullopt;
  }
  return static_cast<std::int64_t>(st.st_blocks) * 512 + allocated_under(dfd, st.st_dev);
}

Quotas::Usage& Quotas::usage_locked(const std::string& account) {
  auto it = usage_.find(account);
  if (it != usage_.end()) return it->second;
  Usage u;
  u.bytes = count(account).value_or(0);
  u.counted = std::chrono::steady_clock::now();
  return usage_.emplace(account, u).first->second;
}

bool Quotas::admits(const std::string& account, std::uint64_t incoming) {
  const std::uint64_t limit = limits_of_(account).quota_bytes;
  if (limit == 0 || account.empty()) return true;
  MutexLock lock(mutex_);
  Usage& u = usage_locked(account);
  auto over = [&] { return static_cast<std::uint64_t>(u.bytes) + incoming > limit; };
  if (!over()) return true;
  // Files may have gone behind our back: count again, now and then.
  const auto now = std::chrono::steady_clock::now();
  if (now - u.counted >= rescan_interval_) {
    if (auto fresh = count(account)) u.bytes = *fresh;
    u.counted = now;
    if (!over()) return true;
  }
  return false;
}

void Quotas::charge(const std::string& account, std::int64_t delta) {
  if (delta == 0 || account.empty()) return;
  MutexLock lock(mutex_);
  auto it = usage_.find(account);
  if (it == usage_.end()) {
    usage_locked(account);  // the walk sees the change already
    return;
  }
  it->second.bytes = std::max<std::int64_t>(0, it->second.bytes + delta);
}

std::uint64_t Quotas::used(const std::string& account) {
  MutexLock lock(mutex_);
  return static_cast<std::uint64_t>(usage_locked(account).bytes);
}

std::map<std::string, std::uint64_t> Quotas::known() {
  std::map<std::string, std::uint64_t> out;
  MutexLock lock(mutex_);
  for (const auto& [name, u] : usage_) out.emplace(name, static_cast<std::uint64_t>(u.bytes));
  return out;
}

}  // namespace recvault::fuse

// Per-account disk quotas for the shared backing disk.
//
// Every account's recordings share one backing file system with every other
// account (and, on small hosts, with the keystore and the audit log). A quota
// bounds what one account can take: a write that would take the account past
// its limit fails with EDQUOT for that account only.
//
// Usage is what the backing files of the account really allocate
// (st_blocks), not their sizes: sparse holes cost nothing, as with a file
// system's own quotas. It is counted once per account by walking its backing
// directory (on first use), then kept up to date by the data plane: each
// write, truncate and close settles the change of its file's allocation, and
// an unlink returns what the file held. Changes made behind the daemon's back
// (files removed on the backing disk) are picked up by a new walk when an
// account reaches its limit, at most once per `rescan_interval`.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

struct AccountLimits {
  std::uint64_t quota_bytes = 0;  // 0: unlimited
  // No encryption configuration at all: refuse new recordings rather than
  // store them unencrypted (fail closed). An account an admin disabled
  // explicitly still stores plain recordings.
  bool refuse_unconfigured = false;
};

class Quotas {
 public:
  // `backing_root` is an fd of the backing root (borrowed; outlives this).
  Quotas(int backing_root, std::function<AccountLimits(std::string_view)> limits_of,
         std::chrono::seconds rescan_interval = std::chrono::seconds(5));

  // Whether `account` may grow by `incoming` more bytes.
  bool admits(const std::string& account, std::uint64_t incoming);
  // Adds (or with a negative value returns) allocated bytes.
  void charge(const std::string& account, std::int64_t delta);
  // What the account's backing files allocate now (walks on first use).
  std::uint64_t used(const std::string& account);
  AccountLimits limits_of(std::string_view account) const { return limits_of_(account); }
  // Accounts whose usage is known, with it.
  std::map<std::string, std::uint64_t> known();

 private:
  struct Usage {
    std::int64_t bytes = 0;
    std::chrono::steady_clock::time_point counted;
  };
  // Walks the account's backing directory. Returns nullopt when it cannot.
  std::optional<std::int64_t> count(const std::string& account) const;
  Usage& usage_locked(const std::string& account) RV_REQUIRES(mutex_);

  int root_;
  std::function<AccountLimits(std::string_view)> limits_of_;
  std::chrono::seconds rescan_interval_;
  Mutex mutex_;  // a leaf: no other lock is taken under it
  std::map<std::string, Usage, std::less<>> usage_ RV_GUARDED_BY(mutex_);
};

}  // namespace recvault::fuse

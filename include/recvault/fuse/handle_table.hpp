// What the kernel holds as fuse_file_info::fh: an open file (ops_file.cpp)
// or directory (ops_dir.cpp). The kernel sends no RELEASE (RELEASEDIR) for
// what is still open at unmount, so every handle given to it stays owned
// here until released or until the session is gone.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

struct OpenHandle {
  virtual ~OpenHandle() = default;
};

class HandleTable {
 public:
  HandleTable() = default;
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Takes `h`; returns the fuse_file_info::fh that stands for it.
  std::uint64_t adopt(std::unique_ptr<OpenHandle> h) RV_EXCLUDES(mutex_);
  // RELEASE / RELEASEDIR, or a reply that failed: the caller owns it again.
  // Null for an fh this table does not hold.
  std::unique_ptr<OpenHandle> release(std::uint64_t fh) RV_EXCLUDES(mutex_);
  // Frees the handles never released; returns how many. Only once no handler
  // can run any more (the FUSE session is destroyed).
  std::size_t free_outstanding() RV_EXCLUDES(mutex_);
  static OpenHandle& of(std::uint64_t fh) noexcept { return *reinterpret_cast<OpenHandle*>(fh); }

 private:
  Mutex mutex_;  // a leaf: no other lock is taken under it
  std::unordered_map<OpenHandle*, std::unique_ptr<OpenHandle>> handles_ RV_GUARDED_BY(mutex_);
};

}  // namespace recvault::fuse

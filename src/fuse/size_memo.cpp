#include "recvault/fuse/size_memo.hpp"

namespace recvault::fuse {
namespace {

bool same(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

}  // namespace

std::optional<std::uint64_t> SizeMemo::find(const struct stat& backing) const {
  MutexLock lock(m_);
  auto it = entries_.find(Key{backing.st_dev, backing.st_ino});
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  if (e.backing_size != backing.st_size || !same(e.mtime, backing.st_mtim) || !same(e.ctime, backing.st_ctim)) {
    return std::nullopt;
  }
  return e.plaintext;
}

void SizeMemo::remember(const struct stat& backing, std::uint64_t plaintext) {
  MutexLock lock(m_);
  if (entries_.size() >= kCapacity) entries_.clear();
  entries_[Key{backing.st_dev, backing.st_ino}] = Entry{backing.st_size, backing.st_mtim, backing.st_ctim, plaintext};
}

}  // namespace recvault::fuse

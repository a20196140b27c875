#include "recvault/fuse/size_memo.hpp"

namespace recvault::fuse {
namespace {

bool same(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

}  // namespace

const SizeMemo::Entry* SizeMemo::matching(const struct stat& backing) const {
  auto it = entries_.find(Key{backing.st_dev, backing.st_ino});
  if (it == entries_.end()) return nullptr;
  const Entry& e = it->second;
  if (e.backing_size != backing.st_size || !same(e.mtime, backing.st_mtim) || !same(e.ctime, backing.st_ctim)) {
    return nullptr;
  }
  return &e;
}

std::optional<std::uint64_t> SizeMemo::find(const struct stat& backing) const {
  MutexLock lock(m_);
  const Entry* e = matching(backing);
  if (e == nullptr) return std::nullopt;
  return e->plaintext;
}

bool SizeMemo::xattrs_known_good(const struct stat& backing) const {
  MutexLock lock(m_);
  const Entry* e = matching(backing);
  return e != nullptr && e->xattrs_known_good;
}

void SizeMemo::remember(const struct stat& backing, std::uint64_t plaintext, bool xattrs_known_good) {
  MutexLock lock(m_);
  if (entries_.size() >= kCapacity) entries_.clear();
  entries_[Key{backing.st_dev, backing.st_ino}] =
      Entry{backing.st_size, backing.st_mtim, backing.st_ctim, plaintext, xattrs_known_good};
}

}  // namespace recvault::fuse

#include "recvault/fuse/inode.hpp"

namespace recvault::fuse {

Inode& InodeTable::find_or_add(const struct stat& st, const std::function<void(Inode&)>& make) {
  MutexLock lock(mutex_);
  auto& slot = inodes_[{st.st_dev, st.st_ino}];
  if (!slot) {
    slot = std::make_unique<Inode>();
    slot->src_ino = st.st_ino;
    slot->src_dev = st.st_dev;
    slot->type = st.st_mode & S_IFMT;
    make(*slot);
  }
  slot->nlookup.fetch_add(1);
  return *slot;
}

void InodeTable::forget(Inode& node, std::uint64_t n) {
  if (&node == &root_) return;
  MutexLock lock(mutex_);
  if (node.nlookup.fetch_sub(n) != n) return;
  bool open = false;
  {
    MutexLock content_lock(node.m);
    open = node.opens != 0;
  }
  if (!open) inodes_.erase({node.src_dev, node.src_ino});
}

void InodeTable::for_each(const std::function<void(Inode&)>& fn) {
  MutexLock lock(mutex_);
  for (auto& [key, node] : inodes_) fn(*node);
}

bool InodeTable::is_open(dev_t dev, ino_t ino) {
  MutexLock lock(mutex_);
  auto it = inodes_.find({dev, ino});
  if (it == inodes_.end()) return false;
  MutexLock content_lock(it->second->m);
  return it->second->opens != 0;
}

Status InodeTable::replace(const struct stat& old, const std::function<Result<struct stat>(Inode*)>& swap) {
  MutexLock lock(mutex_);
  auto it = inodes_.find({old.st_dev, old.st_ino});
  Inode* node = it == inodes_.end() ? nullptr : it->second.get();
  RV_ASSIGN(struct stat now, swap(node));
  if (node == nullptr) return {};
  std::unique_ptr<Inode> owned = std::move(it->second);
  inodes_.erase(it);
  owned->src_dev = now.st_dev;
  owned->src_ino = now.st_ino;
  inodes_[{now.st_dev, now.st_ino}] = std::move(owned);
  return {};
}

}  // namespace recvault::fuse

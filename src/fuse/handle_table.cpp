#include "recvault/fuse/handle_table.hpp"

namespace recvault::fuse {

std::uint64_t HandleTable::adopt(std::unique_ptr<OpenHandle> h) {
  OpenHandle* raw = h.get();
  MutexLock lock(mutex_);
  handles_.emplace(raw, std::move(h));
  return reinterpret_cast<std::uint64_t>(raw);
}

std::unique_ptr<OpenHandle> HandleTable::release(std::uint64_t fh) {
  MutexLock lock(mutex_);
  auto it = handles_.find(reinterpret_cast<OpenHandle*>(fh));
  if (it == handles_.end()) return nullptr;
  std::unique_ptr<OpenHandle> h = std::move(it->second);
  handles_.erase(it);
  return h;
}

std::size_t HandleTable::free_outstanding() {
  std::unordered_map<OpenHandle*, std::unique_ptr<OpenHandle>> outstanding;
  {
    MutexLock lock(mutex_);
    outstanding.swap(handles_);
  }
  return outstanding.size();  // freed here, outside the lock
}

}  // namespace recvault::fuse

#include "recvault/fuse/open_files.hpp"

#include <vector>

#include "recvault/util/log.hpp"

namespace recvault::fuse {

void OpenFiles::track(const std::shared_ptr<FileContent>& c) {
  // Encrypted files have tails to flush and seal; an OpenPGP message being
  // written must be completed at shutdown.
  if (c->kind() != FileContent::Kind::encrypted && !c->sealing()) return;
  MutexLock lock(mutex_);
  open_.insert(c);
}

void OpenFiles::untrack(const std::shared_ptr<FileContent>& c) {
  MutexLock lock(mutex_);
  open_.erase(c);
}

std::vector<std::shared_ptr<FileContent>> OpenFiles::snapshot() {
  MutexLock lock(mutex_);
  return {open_.begin(), open_.end()};
}

void OpenFiles::start_flusher() {
  {
    MutexLock lock(flusher_mutex_);
    flusher_stop_ = false;
  }
  flusher_ = std::thread([this] { flusher_loop(); });
}

void OpenFiles::stop_flusher() {
  {
    MutexLock lock(flusher_mutex_);
    flusher_stop_ = true;
  }
  flusher_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

void OpenFiles::flusher_loop() {
  for (;;) {
    {
      MutexLock lock(flusher_mutex_);
      // The predicate runs with flusher_mutex_ held (CondVar::wait_for).
      if (flusher_cv_.wait_for(flusher_mutex_, interval_,
                               [this]() RV_NO_THREAD_SAFETY_ANALYSIS { return flusher_stop_; })) {
        return;
      }
    }
    const auto started = std::chrono::steady_clock::now();
    for (auto& c : snapshot()) {
      if (!c->dirty()) continue;
      if (auto st = c->flush(); !st) log::error("tail flush failed: " + st.error().message);
    }
    if (on_pass_) on_pass_(std::chrono::steady_clock::now() - started);
  }
}

std::size_t OpenFiles::seal_all() {
  std::size_t sealed = 0;
  for (auto& c : snapshot()) {
    if (auto st = c->seal(); st) {
      ++sealed;
    } else {
      log::error("sealing an open file at shutdown failed: " + st.error().message);
    }
  }
  return sealed;
}

}  // namespace recvault::fuse

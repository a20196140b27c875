// The recordings open now that the daemon must look after: encrypted files
// with a buffered tail (the tail flusher writes it every interval) and
// OpenPGP messages being written (completed at shutdown).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "recvault/fuse/file_content.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

class OpenFiles {
 public:
  // `on_pass` (may be empty) is told how long each tail-flush pass took
  // (metrics); it runs on the flusher thread.
  using PassObserver = std::function<void(std::chrono::steady_clock::duration took)>;
  explicit OpenFiles(std::chrono::milliseconds flush_interval, PassObserver on_pass = {})
      : interval_(flush_interval), on_pass_(std::move(on_pass)) {}
  ~OpenFiles() { stop_flusher(); }
  OpenFiles(const OpenFiles&) = delete;
  OpenFiles& operator=(const OpenFiles&) = delete;

  // Only content with something to flush or complete is kept.
  void track(const std::shared_ptr<FileContent>& c) RV_EXCLUDES(mutex_);
  void untrack(const std::shared_ptr<FileContent>& c) RV_EXCLUDES(mutex_);

  // The tail flusher: a thread that writes buffered tails every interval.
  void start_flusher() RV_EXCLUDES(flusher_mutex_);
  void stop_flusher() RV_EXCLUDES(flusher_mutex_);
  // Seals every tracked file (shutdown). Returns how many were sealed.
  std::size_t seal_all() RV_EXCLUDES(mutex_);

 private:
  void flusher_loop() RV_EXCLUDES(flusher_mutex_, mutex_);
  std::vector<std::shared_ptr<FileContent>> snapshot() RV_EXCLUDES(mutex_);

  const std::chrono::milliseconds interval_;
  const PassObserver on_pass_;
  Mutex mutex_;  // a leaf: held only to copy or change the set
  std::set<std::shared_ptr<FileContent>> open_ RV_GUARDED_BY(mutex_);

  Mutex flusher_mutex_;  // a leaf: held only around the wait
  CondVar flusher_cv_;
  bool flusher_stop_ RV_GUARDED_BY(flusher_mutex_) = false;
  std::thread flusher_;
};

}  // namespace recvault::fuse

// How recvaultd stops on SIGTERM, SIGINT or SIGHUP (docs/DAEMON.md,
// Lifecycle): the kernel first hands over what its writeback cache holds for
// the mount, while the FUSE loop still serves those writes; then the loop
// stops, and the caller seals every open recording and unmounts.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mount_sync.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::daemon {

// Our handlers for the stop signals. A handler only counts the signal on an
// eventfd (async-signal-safe); GracefulStop's thread does the work. SIGPIPE
// gets a handler that does nothing, as libfuse's did (unlike SIG_IGN it is
// not inherited by the gpg processes gpgme starts). The handlers are
// installed without SA_RESTART so that a signal interrupts the FUSE loop
// thread's sem_wait(). One instance at a time; the destructor restores the
// previous dispositions.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  bool ok() const noexcept { return installed_; }
  // Readable while a stop signal is pending.
  int fd() const noexcept { return events_.get(); }
  // Consumes the pending signals; returns the number of the last one (0: none).
  int take() noexcept;

 private:
  static constexpr int kSignals[3] = {SIGTERM, SIGINT, SIGHUP};
  sys::UniqueFd events_;
  bool installed_ = false;
  struct sigaction previous_[3]{};
  struct sigaction previous_pipe_ {};
  bool own_pipe_ = false;
};

struct StopPlan {
  std::filesystem::path mount_point;
  // How long the kernel may take to hand over its cached writes. A recorder
  // that keeps writing does not extend it; a second signal cuts it short.
  std::chrono::milliseconds flush_deadline{5000};
  // Paths on the mount of the recordings open now.
  std::function<std::vector<std::string>()> open_files;
};

// Built on the thread that runs fuse_session_loop_mt(se), before it starts.
// Its own thread waits for a stop signal, then hands the kernel's cached
// writes to the still-serving loop (MountSync::once, bounded by
// flush_deadline) and only then makes the loop return: fuse_session_exit(),
// and the loop thread's sem_wait() interrupted with a signal until the loop
// thread reports back through loop_returned().
//
// Destroy it after the FUSE session (see MountSync): it may still own the
// hand-over process, which is never killed while the loop serves, not even
// when it missed the deadline or a second signal came.
class GracefulStop {
 public:
  GracefulStop(fuse_session* se, StopSignals& signals, StopPlan plan);
  ~GracefulStop();
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

  // Whether the watching thread runs.
  bool ok() const noexcept { return thread_.joinable(); }
  // Called on the loop thread once fuse_session_loop_mt has returned (also
  // when it ended without a signal): ends the watching thread.
  void loop_returned();

 private:
  void run();
  void hand_over_kernel_cache(int sig);
  void stop_loop();

  fuse_session* se_;
  StopSignals& signals_;
  StopPlan plan_;
  pthread_t loop_thread_;
  sys::UniqueFd loop_done_;  // eventfd: readable once the loop has returned
  std::unique_ptr<MountSync> hand_over_;

  std::mutex mutex_;  // guards returned_
  std::condition_variable returned_cv_;
  bool returned_ = false;
  std::thread thread_;
};

}  // namespace recvault::daemon

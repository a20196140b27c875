// Making the kernel hand its writeback cache of our own mount to the daemon.
//
// Always from a child process, never from a daemon thread: a thread blocked in
// syncfs() of its own mount waits on the daemon itself, and after a SIGKILL
// the process could never finish exiting (its /dev/fuse fd stays open until
// every thread is gone, and that thread waits for an answer on it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recvault/sys/fd.hpp"

namespace recvault::daemon {

// A child process that syncs the mount. It has no fd of the daemon's (above
// all not /dev/fuse), dies with the daemon (PR_SET_PDEATHSIG) and exits on
// its own once the mount answers ENOTCONN.
//
// The destructor kills and reaps the child, which can wait for the daemon to
// answer: destroy it while the FUSE loop still serves, or once the session
// is destroyed (its /dev/fuse fd closed, so the kernel fails what the child
// waits for), never in between.
class MountSync {
 public:
  // The writeback helper: syncfs() every `period` until killed. Null (and a
  // warning logged) if the process cannot be started.
  static std::unique_ptr<MountSync> every(const std::filesystem::path& mount_point, std::chrono::milliseconds period);

  // One hand-over: syncfs(), then open and close each of `open_files` (paths
  // on the mount), then exit 0. syncfs() waits until the daemon has answered
  // every WRITE only on kernels whose FUSE writeback waits for the answer
  // (Linux 6.16 and later); before that it may return as soon as the writes
  // are queued. close(2) (FUSE flush) waits for every write queued for the
  // file, on every kernel. Exit status 1: the mount cannot be opened; 2:
  // syncfs failed.
  static std::unique_ptr<MountSync> once(const std::filesystem::path& mount_point,
                                         const std::vector<std::string>& open_files);

  ~MountSync();
  MountSync(const MountSync&) = delete;
  MountSync& operator=(const MountSync&) = delete;

  // Readable once the child has exited (a pidfd).
  int exit_fd() const noexcept { return pidfd_.get(); }
  // The child's wait status once it has exited (it is then reaped; -1 if it
  // cannot be waited for), nullopt while it runs.
  std::optional<int> try_reap();
  // SIGKILL, without waiting: the destructor reaps.
  void kill() noexcept;

 private:
  MountSync(pid_t pid, sys::UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  // The parent's side of the fork that returned `pid`.
  static std::unique_ptr<MountSync> adopt(const char* what, pid_t pid);

  pid_t pid_;
  sys::UniqueFd pidfd_;
};

}  // namespace recvault::daemon

// Making the kernel hand its writeback cache of our own mount to the daemon.
//
// Always from a child process, never from a daemon thread: a thread blocked in
// syncfs() of its own mount waits on the daemon itself, and after a SIGKILL
// the process could never finish exiting (its /dev/fuse fd stays open until
// every thread is gone, and that thread waits for an answer on it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "recvault/sys/fd.hpp"

namespace recvault::daemon {

// A child process that syncs the mount. It has no fd of the daemon's (above
// all not /dev/fuse), dies with the daemon (PR_SET_PDEATHSIG) and exits on
// its own once the mount answers ENOTCONN.
//
// The destructor kills and reaps the child, which can wait for the daemon to
// answer: destroy it once the FUSE session is destroyed (its /dev/fuse fd
// closed, so the kernel fails what the child waits for). Not while the loop
// serves either: a child killed inside a request makes the kernel send an
// INTERRUPT, and libfuse keeps one that arrives after its request was
// answered until some later request comes, which at a stop may never
// happen (memory never freed; the sanitized build fails the daemon's exit).
class MountSync {
 public:
  // The FUSE node ids (fuse_ino_t) of the regular files open for writing now,
  // sorted: what the writeback helper holds and syncs.
  using WritingFiles = std::function<std::vector<std::uint64_t>()>;

  // The writeback helper: every `period` until killed, it has the kernel
  // write back the dirty pages of every file `writing` lists, except the
  // last, incomplete page of a file that grew since the previous pass (a
  // recorder's next write() goes there, and a write() into a page under
  // writeback waits for the daemon's answer): that page is written back when
  // it fills, when the file stops growing for a pass, and at the latest at
  // the pass after it was held back kMaxTailHolds times. It reaches the files through
  // open_by_handle_at(2) (read-only; the daemon knows these opens by the
  // helper's pid: pid()) and falls back to syncfs() of the whole mount in a
  // pass where a file cannot be opened or more than kMaxTracked are open.
  // A thread of this object answers the helper's requests for the list;
  // `announce` is told the helper's pid before the first answer. Null (and a
  // warning logged) if the process cannot be started.
  static std::unique_ptr<MountSync> every(const std::filesystem::path& mount_point, std::chrono::milliseconds period,
                                          WritingFiles writing, const std::function<void(pid_t)>& announce);
  static constexpr unsigned kMaxTailHolds = 4;
  static constexpr std::size_t kMaxTracked = 1 << 16;

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
  // The child's process id (0 once reaped).
  pid_t pid() const noexcept { return pid_ > 0 ? pid_ : 0; }

 private:
  MountSync(pid_t pid, sys::UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  // The parent's side of the fork that returned `pid`.
  static std::unique_ptr<MountSync> adopt(const char* what, pid_t pid);
  // Answers the helper on `channel_` until it hangs up.
  void serve(const WritingFiles& writing);

  pid_t pid_;
  sys::UniqueFd pidfd_;
  sys::UniqueFd channel_;  // the daemon's end of the writeback helper's socket
  std::thread server_;
};

}  // namespace recvault::daemon

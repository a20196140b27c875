// Running recvaultd without --foreground: the command returns only once the
// daemon serves (mount live, control socket up), with exit status 0, or with
// the daemon's own exit code and message if it failed before that. The
// process that goes on serving is a child in its own session.
//
// Detaching forks, so it must happen before the first thread is started
// (threads do not survive a fork: a control server started earlier would be
// silently gone in the child).
#pragma once

namespace recvault::daemon {

class Background {
 public:
  // Forks. In the parent this does not return: it waits for the child to
  // report ready (exit 0) or to exit first (its exit code; its own message
  // is already on stderr). In the child it returns; stdin and stdout then
  // point to /dev/null, stderr stays where the caller sent it (the log).
  static Background detach();
  // The daemon serves: lets the waiting parent exit 0. Idempotent.
  void ready() noexcept;

  Background(Background&& other) noexcept : ready_fd_(other.ready_fd_) { other.ready_fd_ = -1; }
  Background& operator=(Background&&) = delete;
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background();

 private:
  explicit Background(int ready_fd) noexcept : ready_fd_(ready_fd) {}
  int ready_fd_ = -1;  // write end of the pipe the parent waits on
};

}  // namespace recvault::daemon

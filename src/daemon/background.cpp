#include "recvault/daemon/background.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace recvault::daemon {
namespace {

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::_Exit(1);
}

// The parent's side: one byte on the pipe means ready; end of file means
// the child exited (or closed the pipe) without getting there.
[[noreturn]] void wait_for_child(pid_t child, int read_fd) {
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(read_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) std::_Exit(0);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) die("recvaultd: waitpid");
  }
  if (WIFEXITED(status)) std::_Exit(WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
  std::fprintf(stderr, "recvaultd: the daemon died before it was ready (signal %d)\n",
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  std::_Exit(1);
}

}  // namespace

Background Background::detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) die("recvaultd: pipe");
  pid_t child = ::fork();
  if (child < 0) die("recvaultd: fork");
  if (child > 0) {
    ::close(fds[1]);
    wait_for_child(child, fds[0]);
  }
  ::close(fds[0]);
  if (::setsid() < 0) die("recvaultd: setsid");
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) die("recvaultd: /dev/null");
  ::dup2(null, STDIN_FILENO);
  ::dup2(null, STDOUT_FILENO);
  ::close(null);
  return Background(fds[1]);
}

void Background::ready() noexcept {
  if (ready_fd_ < 0) return;
  const char byte = 1;
  ssize_t ignored = ::write(ready_fd_, &byte, 1);
  (void)ignored;
  ::close(ready_fd_);
  ready_fd_ = -1;
}

Background::~Background() {
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

}  // namespace recvault::daemon

#include "mount_sync.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "recvault/util/log.hpp"

namespace recvault::daemon {
namespace {

// Everything a child runs before _exit is async-signal-safe: the daemon has
// other threads, and any of them may hold a lock (malloc's) at the fork.

void enter_child(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);
  // The daemon's stop-signal handler writes to the daemon's eventfd.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::close_range(3, ~0U, 0);  // above all the /dev/fuse fd
}

int open_mount(const char* mount_point) {
  const int fd = ::open(mount_point, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ::_exit(1);
  return fd;
}

[[noreturn]] void sync_every(const char* mount_point, std::chrono::milliseconds period, pid_t parent) {
  enter_child(parent);
  const int fd = open_mount(mount_point);
  struct timespec pause {};
  pause.tv_sec = static_cast<time_t>(period.count() / 1000);
  pause.tv_nsec = static_cast<long>(period.count() % 1000) * 1000000L;
  for (;;) {
    ::nanosleep(&pause, nullptr);
    if (::syncfs(fd) != 0 && errno == ENOTCONN) ::_exit(0);
    if (::getppid() != parent) ::_exit(0);
  }
}

[[noreturn]] void sync_once(const char* mount_point, const std::vector<std::string>& open_files, pid_t parent) {
  enter_child(parent);
  const int fd = open_mount(mount_point);
  if (::syncfs(fd) != 0) ::_exit(2);
  for (const std::string& path : open_files) {
    const int file = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (file >= 0) ::close(file);
  }
  ::_exit(0);
}

}  // namespace

std::unique_ptr<MountSync> MountSync::every(const std::filesystem::path& mount_point,
                                            std::chrono::milliseconds period) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) sync_every(mount_point.c_str(), period, parent);
  return adopt("kernel writeback helper", pid);
}

std::unique_ptr<MountSync> MountSync::once(const std::filesystem::path& mount_point,
                                           const std::vector<std::string>& open_files) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) sync_once(mount_point.c_str(), open_files, parent);
  return adopt("kernel cache hand-over", pid);
}

std::unique_ptr<MountSync> MountSync::adopt(const char* what, pid_t pid) {
  if (pid < 0) {
    int e = errno;
    log::warn(std::string("cannot start the ") + what + " process: " + std::strerror(e));
    return nullptr;
  }
  // The syscall: Debian 12's <sys/pidfd.h> lacks extern "C".
  sys::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    int e = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    log::warn(std::string("cannot watch the ") + what + " process: " + std::strerror(e));
    return nullptr;
  }
  return std::unique_ptr<MountSync>(new MountSync(pid, std::move(pidfd)));
}

MountSync::~MountSync() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::optional<int> MountSync::try_reap() {
  if (pid_ <= 0) return -1;
  int status = 0;
  const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
  if (reaped == 0 || (reaped < 0 && errno == EINTR)) return std::nullopt;
  pid_ = -1;
  return reaped > 0 ? status : -1;
}

void MountSync::kill() noexcept {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

}  // namespace recvault::daemon

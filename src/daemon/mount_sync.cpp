#include "mount_sync.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "recvault/util/log.hpp"

namespace recvault::daemon {
namespace {

// Everything a child runs before _exit is async-signal-safe: the daemon has
// other threads, and any of them may hold a lock (malloc's) at the fork.

// The writeback helper's end of its socket to the daemon, in the helper.
constexpr int kChannelFd = 3;

// `keep`: a descriptor the child keeps, as kChannelFd (-1: none).
void enter_child(pid_t parent, int keep = -1) {
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
  if (keep >= 0) {
    if (keep != kChannelFd && ::dup2(keep, kChannelFd) != kChannelFd) ::_exit(3);
    ::close_range(kChannelFd + 1, ~0U, 0);  // above all the /dev/fuse fd
  } else {
    ::close_range(3, ~0U, 0);
  }
}

int open_mount(const char* mount_point) {
  const int fd = ::open(mount_point, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ::_exit(1);
  return fd;
}

struct timespec pause_of(std::chrono::milliseconds period) {
  struct timespec pause {};
  pause.tv_sec = static_cast<time_t>(period.count() / 1000);
  pause.tv_nsec = static_cast<long>(period.count() % 1000) * 1000000L;
  return pause;
}

// A file the writeback helper holds.
struct Tracked {
  std::uint64_t node = 0;      // FUSE node id
  int fd = -1;                 // -1: not open yet (tried again next pass)
  std::uint64_t size = ~0ULL;  // at the previous pass (~0: none yet)
  std::uint64_t tail = 0;      // the page held back at the previous pass (with holds > 0)
  unsigned holds = 0;          // passes in a row that page was held back
};

bool receive_all(void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::recv(kChannelFd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// An fd of FUSE node `node` without a path: the file handle the kernel's
// FUSE exports itself (fs/fuse/inode.c, fuse_encode_fh: type
// FILEID_INO64_GEN = 0x81, the node id's high and low 32 bits, then the
// generation, which recvaultd leaves 0). The inode is in the kernel's cache
// while its writer has it open, so the kernel finds it without a LOOKUP.
int open_node(int mount_fd, std::uint64_t node) {
  const std::uint32_t raw[3] = {static_cast<std::uint32_t>(node >> 32), static_cast<std::uint32_t>(node), 0};
  alignas(struct file_handle) unsigned char storage[sizeof(struct file_handle) + sizeof raw] = {};
  auto* handle = reinterpret_cast<struct file_handle*>(storage);
  handle->handle_bytes = sizeof raw;
  handle->handle_type = 0x81;
  std::memcpy(storage + sizeof(struct file_handle), raw, sizeof raw);
  return ::open_by_handle_at(mount_fd, handle, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

void drop(Tracked& t) {
  if (t.fd >= 0) ::close(t.fd);  // no dirty page is left: its writer closed it
  t.fd = -1;
}

// One pass over a held file; false if it could not be synced.
bool sync_file(Tracked& t, std::uint64_t page) {
  struct statx sx {};
  // The kernel's own size, no request to the daemon: with the writeback
  // cache the kernel's size is the file's.
  if (::statx(t.fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_SIZE, &sx) != 0) return false;
  const std::uint64_t size = sx.stx_size;
  const std::uint64_t complete = size - size % page;
  const bool grew = t.size == ~0ULL || size > t.size;
  t.size = size;
  if (grew && complete < size) {
    // A recorder appending: its last page is where its next write() goes.
    const std::uint64_t tail = size / page;
    if (t.holds == 0 || tail != t.tail) {  // a new last page: the one held before is complete
      t.tail = tail;
      t.holds = 0;
    }
    if (t.holds < MountSync::kMaxTailHolds) {
      ++t.holds;
      if (complete == 0) return true;
      return ::sync_file_range(t.fd, 0, static_cast<off64_t>(complete), SYNC_FILE_RANGE_WRITE) == 0;
    }
  }
  t.holds = 0;
  return ::sync_file_range(t.fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0;
}

// Asks the daemon for the files open for writing and moves `held` (sorted
// by node) to that list in `next`: files no longer listed are closed, new
// ones added unopened. Returns the new count; `overflow` when the list is
// longer than kMaxTracked. Exits when the daemon hangs up.
std::size_t refresh(Tracked* held, std::size_t count, Tracked* next, bool& overflow) {
  const char ask = 'L';
  if (::send(kChannelFd, &ask, 1, MSG_NOSIGNAL) != 1) ::_exit(0);
  std::uint64_t listed = 0;
  if (!receive_all(&listed, sizeof listed)) ::_exit(0);
  std::size_t kept = 0, old = 0;
  std::uint64_t batch[512];
  while (listed > 0) {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(listed, std::size(batch)));
    if (!receive_all(batch, take * sizeof batch[0])) ::_exit(0);
    listed -= take;
    for (std::size_t i = 0; i < take; ++i) {
      while (old < count && held[old].node < batch[i]) drop(held[old++]);
      Tracked t;
      t.node = batch[i];
      if (old < count && held[old].node == batch[i]) t = held[old++];
      if (kept == MountSync::kMaxTracked) {
        drop(t);
        overflow = true;
        continue;
      }
      next[kept++] = t;
    }
  }
  while (old < count) drop(held[old++]);
  return kept;
}

[[noreturn]] void sync_every(const char* mount_point, std::chrono::milliseconds period, pid_t parent, int channel,
                             std::uint64_t page) {
  enter_child(parent, channel);
  const int fd = open_mount(mount_point);
  const struct timespec pause = pause_of(period);
  // Two tables, the current one and the next (mmap: no malloc after fork).
  const std::size_t bytes = 2 * MountSync::kMaxTracked * sizeof(Tracked);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  Tracked* held = mem == MAP_FAILED ? nullptr : static_cast<Tracked*>(mem);
  Tracked* next = held == nullptr ? nullptr : held + MountSync::kMaxTracked;
  std::size_t count = 0;
  for (;;) {
    ::nanosleep(&pause, nullptr);
    bool whole_mount = held == nullptr;
    if (held != nullptr) {
      count = refresh(held, count, next, whole_mount);
      std::swap(held, next);
      for (std::size_t i = 0; i < count; ++i) {
        Tracked& t = held[i];
        if (t.fd < 0) t.fd = open_node(fd, t.node);
        if (t.fd < 0) {
          // Closed and forgotten since the list was made: its close wrote
          // its pages back. Anything else: this pass syncs the mount.
          if (errno != ESTALE && errno != ENOENT) whole_mount = true;
          continue;
        }
        if (!sync_file(t, page)) whole_mount = true;
      }
    }
    if (whole_mount && ::syncfs(fd) != 0 && errno == ENOTCONN) ::_exit(0);
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

std::unique_ptr<MountSync> MountSync::every(const std::filesystem::path& mount_point, std::chrono::milliseconds period,
                                            WritingFiles writing, const std::function<void(pid_t)>& announce) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    int e = errno;
    log::warn(std::string("cannot start the kernel writeback helper process: socketpair: ") + std::strerror(e));
    return nullptr;
  }
  sys::UniqueFd ours(pair[0]), theirs(pair[1]);
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) sync_every(mount_point.c_str(), period, parent, theirs.get(), page);
  auto helper = adopt("kernel writeback helper", pid);
  if (!helper) return nullptr;
  if (announce) announce(pid);
  helper->channel_ = std::move(ours);
  helper->server_ = std::thread([h = helper.get(), writing = std::move(writing)] { h->serve(writing); });
  return helper;
}

void MountSync::serve(const WritingFiles& writing) {
  auto send_all = [this](const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t sent = ::send(channel_.get(), p, n, MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) return false;
      p += sent;
      n -= static_cast<std::size_t>(sent);
    }
    return true;
  };
  for (;;) {
    char ask = 0;
    const ssize_t got = ::recv(channel_.get(), &ask, 1, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return;  // the helper is gone, or the destructor shut the socket
    const std::vector<std::uint64_t> files = writing();
    const std::uint64_t count = files.size();
    if (!send_all(&count, sizeof count) || !send_all(files.data(), files.size() * sizeof files[0])) return;
  }
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
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (server_.joinable()) {
    ::shutdown(channel_.get(), SHUT_RDWR);
    server_.join();
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

}  // namespace recvault::daemon

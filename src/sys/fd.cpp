#include "recvault/sys/fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

namespace recvault::sys {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<std::size_t> pread_full(int fd, std::span<std::uint8_t> out, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      return sys_error("pread", e);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status pwrite_full(int fd, std::span<const std::uint8_t> in, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < in.size()) {
    ssize_t n = ::pwrite(fd, in.data() + done, in.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      return sys_error("pwrite", e);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::uint64_t> file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    return sys_error("fstat", e);
  }
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::optional<std::string>> get_xattr(int fd, const char* name) {
  std::string value(256, '\0');
  for (;;) {
    ssize_t n = ::fgetxattr(fd, name, value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<std::size_t>(n));
      return std::optional<std::string>(std::move(value));
    }
    int e = errno;
    if (e == ENODATA) return std::optional<std::string>();
    if (e != ERANGE) return sys_error(std::string("fgetxattr ") + name, e);
    ssize_t need = ::fgetxattr(fd, name, nullptr, 0);
    if (need < 0) {
      int e2 = errno;
      return sys_error(std::string("fgetxattr ") + name, e2);
    }
    value.assign(static_cast<std::size_t>(need) + 1, '\0');
  }
}

Status set_xattr(int fd, const char* name, std::string_view value) {
  if (::fsetxattr(fd, name, value.data(), value.size(), 0) != 0) {
    int e = errno;
    return sys_error(std::string("fsetxattr ") + name, e);
  }
  return {};
}

Result<std::vector<std::string>> list_xattrs(int fd) {
  std::string buf(1024, '\0');
  for (;;) {
    ssize_t n = ::flistxattr(fd, buf.data(), buf.size());
    if (n >= 0) {
      std::vector<std::string> names;
      for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
        const std::size_t end = buf.find('\0', at);
        if (end == std::string::npos || end >= static_cast<std::size_t>(n)) break;
        names.emplace_back(buf, at, end - at);
        at = end + 1;
      }
      return names;
    }
    int e = errno;
    if (e != ERANGE) return sys_error("flistxattr", e);
    ssize_t need = ::flistxattr(fd, nullptr, 0);
    if (need < 0) {
      int e2 = errno;
      return sys_error("flistxattr", e2);
    }
    buf.assign(static_cast<std::size_t>(need) + 1, '\0');
  }
}

Status fsync_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    return sys_error("cannot open directory " + dir.string(), err);
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    return sys_error("cannot fsync directory " + dir.string(), err);
  }
  return {};
}

namespace {

struct flock whole_file_write_lock() {
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = 0;
  lk.l_len = 0;  // to the end, however far it grows
  lk.l_pid = 0;  // must be 0 for OFD locks
  return lk;
}

}  // namespace

Result<bool> try_lock_writer(int fd) {
  struct flock lk = whole_file_write_lock();
  if (::fcntl(fd, F_OFD_SETLK, &lk) == 0) return true;
  const int e = errno;
  if (e == EAGAIN || e == EACCES) return false;
  return sys_error("lock the backing file (F_OFD_SETLK)", e);
}

Result<bool> writer_lock_held_elsewhere(int fd) {
  struct flock lk = whole_file_write_lock();
  if (::fcntl(fd, F_OFD_GETLK, &lk) != 0) {
    const int e = errno;
    return sys_error("test the backing file's lock (F_OFD_GETLK)", e);
  }
  return lk.l_type != F_UNLCK;
}

}  // namespace recvault::sys

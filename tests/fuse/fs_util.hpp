// POSIX helpers for the mount tests.
#pragma once

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "../test_util.hpp"
#include "recvault/format/header.hpp"

namespace recvault::test {

inline bool contains(const std::vector<std::uint8_t>& hay, std::string_view needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

inline std::string xattr_of(const std::string& path, const char* name) {
  char buf[512];
  ssize_t n = ::getxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

// One field of a backing file's user.recvault.meta (docs/FORMAT.md §6:
// "name=value" lines), "" when absent.
inline std::string meta_field(const std::string& path, const std::string& field) {
  char buf[2048];
  const ssize_t n = ::getxattr(path.c_str(), "user.recvault.meta", buf, sizeof buf);
  if (n < 0) return {};
  const std::string meta(buf, static_cast<std::size_t>(n)), key = field + "=";
  for (std::size_t at = 0; at < meta.size();) {
    const std::size_t nl = meta.find('\n', at);
    const std::string line = meta.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return {};
}

// Reads a file, returning errno on failure instead of throwing.
inline int try_read_all(const std::string& path, std::vector<std::uint8_t>& out) {
  out.clear();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  std::uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return 0;
}

inline int open_close(const std::string& p, int flags, mode_t mode = 0644) {
  int fd = ::open(p.c_str(), flags, mode);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

inline format::Header backing_header(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  auto h = format::read_header(fd);
  ::close(fd);
  return h.value();
}

}  // namespace recvault::test

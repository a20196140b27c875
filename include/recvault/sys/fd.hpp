// Thin, errno-returning wrappers over the file system calls recvault uses.
#pragma once

#include <filesystem>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "recvault/util/result.hpp"

namespace recvault::sys {

// Owns a file descriptor; closes it in the destructor. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Reads exactly out.size() bytes unless EOF comes first; returns bytes read.
Result<std::size_t> pread_full(int fd, std::span<std::uint8_t> out, std::uint64_t offset);
// Writes all of `in` (retrying short writes and EINTR).
Status pwrite_full(int fd, std::span<const std::uint8_t> in, std::uint64_t offset);
Result<std::uint64_t> file_size(int fd);
// Makes the entries of directory `dir` durable (after a create or rename in it).
Status fsync_directory(const std::filesystem::path& dir);

// Extended attributes on an open fd. get_xattr: nullopt when absent (ENODATA).
Result<std::optional<std::string>> get_xattr(int fd, const char* name);
Status set_xattr(int fd, const char* name, std::string_view value);
// The names of all extended attributes of the file (flistxattr): one system
// call unless the list is longer than 1 KiB.
Result<std::vector<std::string>> list_xattrs(int fd);

// The writer's lock on a whole file: an open-file-description lock
// (F_OFD_SETLK, exclusive), which network file systems that honour POSIX
// locks (GlusterFS, NFS 4, CephFS) enforce across hosts. It belongs to the
// open file description: closing its last fd, or the death of the process,
// releases it. try_lock_writer: true when taken (or already held through this
// description), false when someone else holds a conflicting lock.
Result<bool> try_lock_writer(int fd);
// Whether someone else (another description, process or host) holds a lock
// that would stop try_lock_writer (F_OFD_GETLK); works on read-only fds.
Result<bool> writer_lock_held_elsewhere(int fd);

}  // namespace recvault::sys

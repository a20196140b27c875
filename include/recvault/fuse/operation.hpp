// The FUSE operations recvault serves, by name, for logs and metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>

namespace recvault::fuse {

// The order of fuse_lowlevel_ops.
enum class Op : unsigned {
  init,
  lookup,
  forget,
  forget_multi,
  getattr,
  setattr,
  readlink,
  statfs,
  mkdir,
  mknod,
  symlink,
  link,
  unlink,
  rmdir,
  rename,
  opendir,
  readdir,
  releasedir,
  fsyncdir,
  create,
  open,
  read,
  write,
  flush,
  fsync,
  release,
  fallocate,
  setxattr,
  getxattr,
  listxattr,
  removexattr,
  count_
};
inline constexpr std::size_t kOpCount = static_cast<std::size_t>(Op::count_);

// "lookup", "write", ...
const char* op_name(Op op) noexcept;

// Told of every request once it has been answered, with the time its
// handler took (FsOptions::on_request). Runs on the FUSE worker: keep it cheap.
using RequestObserver = std::function<void(Op op, std::chrono::nanoseconds took)>;

}  // namespace recvault::fuse

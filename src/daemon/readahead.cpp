#include "recvault/daemon/readahead.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <string>

#include "recvault/sys/fd.hpp"
#include "recvault/util/log.hpp"

namespace recvault::daemon {
namespace {
constexpr decltype(statfs::f_type) kFuseSuperMagic = 0x65735546;  // linux/magic.h FUSE_SUPER_MAGIC
}  // namespace

Status set_mount_read_ahead(const std::filesystem::path& mount_point, unsigned kib) {
  // One fd for both checks: if the mount is already gone, the directory
  // under it belongs to another file system, whose readahead is not ours.
  sys::UniqueFd fd(::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct statfs fs {};
  struct stat st {};
  if (!fd.valid() || ::fstatfs(fd.get(), &fs) != 0 || ::fstat(fd.get(), &st) != 0) {
    int e = errno;
    return sys_error("stat " + mount_point.string(), e);
  }
  if (fs.f_type != kFuseSuperMagic) return make_error(Errc::not_found, mount_point.string() + " is not mounted");
  const std::string knob =
      "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
  std::ofstream out(knob);
  out << kib << '\n';
  out.flush();
  if (!out) return make_error(Errc::io, "cannot write " + knob);
  return {};
}

std::jthread tune_read_ahead_when_mounted(std::filesystem::path mount_point, unsigned kib) {
  if (kib == 0) return {};
  return std::jthread([mount_point = std::move(mount_point), kib] {
    if (auto st = set_mount_read_ahead(mount_point, kib); !st) {
      log::warn("keeping the kernel's readahead for the mount: " + st.error().message);
    }
  });
}

}  // namespace recvault::daemon

// New entries belong to the caller, with the mode the caller asked for.
//
// The daemon creates every backing entry itself (as root), so two things a
// plain directory does by itself must be done here:
//  - owner: the caller's uid, and the caller's gid unless the parent
//    directory is set-gid (then the parent's group, as the kernel gave it);
//  - mode: the kernel already applied the caller's umask to the mode it sent
//    (we do not ask for FUSE_CAP_DONT_MASK); the daemon's own umask (022 by
//    default, 0077 under the systemd unit) must not be applied a second
//    time, and chown clears set-uid/set-gid bits, so the mode is set again
//    after the owner. Set-gid on a file is dropped when the caller is not in
//    its group, as the kernel does (inode_init_owner).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "ops.hpp"

namespace recvault::fuse::ops {
namespace {

bool caller_in_group(fuse_req_t req, gid_t gid) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  if (ctx->gid == gid) return true;
  std::vector<gid_t> groups(64);
  int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
  if (n > static_cast<int>(groups.size())) {
    groups.resize(static_cast<std::size_t>(n));
    n = fuse_req_getgroups(req, n, groups.data());
  }
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<std::size_t>(i)] == gid) return true;
  }
  return false;
}

}  // namespace

int hand_to_caller(fuse_req_t req, const Inode& parent, int fd, mode_t mode) {
  struct stat dir {};
  if (::fstatat(parent.fd.get(), "", &dir, AT_EMPTY_PATH) != 0) return errno;
  struct stat st {};
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) return errno;
  const fuse_ctx* ctx = fuse_req_ctx(req);
  const bool inherit_group = (dir.st_mode & S_ISGID) != 0;
  const gid_t gid = inherit_group ? dir.st_gid : ctx->gid;
  // *at with AT_EMPTY_PATH and the /proc path work on O_PATH descriptors
  // too (FIFOs and sockets are never opened for I/O here).
  if (::fchownat(fd, "", ctx->uid, inherit_group ? static_cast<gid_t>(-1) : gid, AT_EMPTY_PATH) != 0) return errno;
  mode_t want = mode & 07777;
  if (S_ISDIR(st.st_mode)) {
    if (inherit_group) want |= S_ISGID;  // set-gid directories pass it on
  } else if ((want & S_ISGID) != 0 && !caller_in_group(req, gid)) {
    want &= ~static_cast<mode_t>(S_ISGID);
  }
  if ((st.st_mode & 07777) != want || (want & (S_ISUID | S_ISGID)) != 0) {
    if (::chmod(proc_path(fd).c_str(), want) != 0) return errno;
  }
  return 0;
}

}  // namespace recvault::fuse::ops

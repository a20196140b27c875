// OpenPGP placement: which client key a new recording is sealed to, the
// directory overrides (user.recvault.public_key_id on a directory), and the
// kernel notification once a recording is sealed. See docs/OPENPGP.md.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ops.hpp"
#include "recvault/pgp/xattrs.hpp"

namespace recvault::fuse {
namespace {

constexpr int kMaxDepth = 256;

// The override on the directory behind O_PATH `fd`, "" when absent.
Result<std::string> directory_key(int fd) {
  char buf[128];
  ssize_t n = ::getxattr(ops::proc_path(fd).c_str(), pgp::xattr::public_key_id, buf, sizeof buf);
  if (n < 0) {
    int e = errno;
    if (e == ENODATA || e == ENOTSUP) return std::string();
    return sys_error("read the directory's OpenPGP key", e);
  }
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

Result<Placement> Filesystem::placement_in(int dir_fd) {
  Placement p;
  p.sealer = options_.sealer;
  sys::UniqueFd up;
  int cur = dir_fd;
  // Nearest directory first, up to and including the account directory.
  for (int depth = 0; depth < kMaxDepth; ++depth) {
    struct stat st {};
    if (::fstatat(cur, "", &st, AT_EMPTY_PATH) != 0) {
      int e = errno;
      return sys_error("stat directory", e);
    }
    if (st.st_dev == root().src_dev && st.st_ino == root().src_ino) break;
    auto key = directory_key(cur);
    RV_TRY(key);
    if (!key->empty()) {
      p.dir_public_key_id = std::move(key).value();
      break;
    }
    int parent = ::openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (parent < 0) {
      int e = errno;
      return sys_error("open parent directory", e);
    }
    up.reset(parent);
    cur = parent;
  }
  return p;
}

Result<Placement> Filesystem::placement_in(Inode& dir) {
  // Read the generation first: a change while we walk makes the entry we
  // store stale at once, never current.
  const std::uint64_t generation = placement_generation_.load();
  {
    MutexLock lock(dir.m);
    if (dir.placement_generation == generation) return Placement{options_.sealer, dir.placement_key};
  }
  auto p = placement_in(dir.fd.get());
  if (!p) return p;
  MutexLock lock(dir.m);
  dir.placement_generation = generation;
  dir.placement_key = p->dir_public_key_id;
  return p;
}

Result<Placement> Filesystem::placement_of(const Inode& node) {
  char target[4096];
  ssize_t n = ::readlink(ops::proc_path(node.fd.get()).c_str(), target, sizeof target - 1);
  if (n <= 0) {
    int e = errno;
    return sys_error("locate the recording's directory", e);
  }
  std::filesystem::path dir = std::filesystem::path(std::string(target, static_cast<std::size_t>(n))).parent_path();
  sys::UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    int e = errno;
    return sys_error("open the recording's directory", e);
  }
  return placement_in(fd.get());
}

Status Filesystem::set_directory_key(Inode& dir, std::string_view public_key_id) {
  if (&dir == &root() || dir.type != S_IFDIR) return make_error(Errc::refused, "only account directories take a key");
  if (options_.directory_keys == nullptr) return make_error(Errc::unsupported, "OpenPGP sealing is not configured");
  const std::string path = ops::proc_path(dir.fd.get());
  // After the xattr changes (or fails to), cached placements are re-read: one
  // computed meanwhile carries the old generation and is never used.
  struct Invalidate {
    Filesystem& fs;
    ~Invalidate() { fs.ancestry_changed(); }
  } invalidate{*this};
  return options_.directory_keys->change_directory_key(dir.account, public_key_id, [&](std::string_view id) -> Status {
    if (id.empty()) {
      if (::removexattr(path.c_str(), pgp::xattr::public_key_id) != 0) {
        int e = errno;
        return sys_error("remove the directory's OpenPGP key", e);
      }
      return {};
    }
    if (::setxattr(path.c_str(), pgp::xattr::public_key_id, id.data(), id.size(), 0) != 0) {
      int e = errno;
      return sys_error("set the directory's OpenPGP key", e);
    }
    return {};
  });
}

void Filesystem::notify_sealed(fuse_ino_t ino, int fd, std::uint64_t size) {
  fuse_session* se = session_.load();
  if (se == nullptr || size == 0) return;
  // With writeback caching the kernel trusts its own i_size over getattr, and
  // it still holds the plaintext length. Storing the message's last byte moves
  // i_size to the message's end (the kernel only grows it on a non-empty
  // store; the message is never shorter: no compression), and the inode
  // invalidation then drops every cached page and attribute.
  std::uint8_t last = 0;
  if (::pread(fd, &last, 1, static_cast<off_t>(size - 1)) == 1) fill_page_cache(ino, size - 1, std::span(&last, 1));
  fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
}

}  // namespace recvault::fuse

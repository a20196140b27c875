// Extended attributes of the view ([fuse] view_xattrs = true).
//
// Only the user.* namespace is offered. user.recvault.* belongs to recvault:
// readable (tools learn a file's algorithm, key version and salt, or the
// OpenPGP key it is sealed to), never writable through the mount -- except
// user.recvault.public_key_id on a directory, which root sets to seal new
// recordings below it to a client key (docs/OPENPGP.md).
//
// With view_xattrs = false (the default) every xattr request answers ENOSYS,
// which makes the kernel stop sending them for the life of the mount: it would
// otherwise ask for security.capability before *every* write(2), a round trip
// that costs a recorder appending 320-byte frames three quarters of its speed.
// Directory overrides then need view_xattrs = true (or setfattr on the backing dir).
#include <sys/xattr.h>

#include <cstring>
#include <string_view>
#include <vector>

#include "ops.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/pgp/xattrs.hpp"

namespace recvault::fuse::ops {
namespace {

bool user_namespace(std::string_view name) { return name.rfind("user.", 0) == 0; }
bool reserved(std::string_view name) { return name.rfind(format::xattr::prefix, 0) == 0; }

// The directory override: only root may change it (the account's users record,
// they do not choose who can read their recordings).
bool is_directory_key(const Inode& node, std::string_view name) {
  return node.type == S_IFDIR && name == pgp::xattr::public_key_id;
}

void set_directory_key(fuse_req_t req, Inode& node, std::string_view value) {
  auto& fs = fs_of(req);
  if (fuse_req_ctx(req)->uid != 0) {
    reply::err(req, EPERM);
    return;
  }
  auto st = fs.set_directory_key(node, value);
  reply::err(req, st ? 0 : report(fs, node, "set directory key", st.error()));
}

// The inode an xattr request is about, or nullptr after answering ENOSYS
// when the mount offers no xattrs (view_xattrs = false).
Inode* xattr_target(fuse_req_t req, fuse_ino_t ino) {
  auto& fs = fs_of(req);
  if (!fs.options().view_xattrs) {
    reply::err(req, ENOSYS);
    return nullptr;
  }
  return &fs.inode(ino);
}

// For set/remove: the inode, or nullptr after answering EOPNOTSUPP for
// symlinks and names outside user.*.
Inode* writable_target(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Inode* node = xattr_target(req, ino);
  if (node != nullptr && (node->type == S_IFLNK || !user_namespace(name))) {
    reply::err(req, EOPNOTSUPP);
    return nullptr;
  }
  return node;
}

// Answers a size probe (size == 0) or the value itself.
void reply_sized(fuse_req_t req, ssize_t n, const std::vector<char>& buf, std::size_t size) {
  if (n < 0) {
    reply::err(req, errno);
  } else if (size == 0) {
    reply::xattr(req, static_cast<std::size_t>(n));
  } else {
    reply::buf(req, buf.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace

void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, std::size_t size, int flags) {
  Inode* target = writable_target(req, ino, name);
  if (target == nullptr) return;
  Inode& node = *target;
  if (is_directory_key(node, name)) {
    if (size == 0) {
      reply::err(req, EINVAL);  // removexattr clears it
      return;
    }
    set_directory_key(req, node, std::string_view(value, size));
    return;
  }
  if (reserved(name)) {
    reply::err(req, EPERM);
    return;
  }
  int rc = ::setxattr(proc_path(node.fd.get()).c_str(), name, value, size, flags);
  reply::err(req, rc == 0 ? 0 : errno);
}

void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, std::size_t size) {
  Inode* target = xattr_target(req, ino);
  if (target == nullptr) return;
  Inode& node = *target;
  if (node.type == S_IFLNK || !user_namespace(name)) {
    reply::err(req, node.type == S_IFLNK ? EOPNOTSUPP : ENODATA);
    return;
  }
  std::vector<char> buf(size);
  ssize_t n = ::getxattr(proc_path(node.fd.get()).c_str(), name, size ? buf.data() : nullptr, size);
  reply_sized(req, n, buf, size);
}

void listxattr(fuse_req_t req, fuse_ino_t ino, std::size_t size) {
  Inode* target = xattr_target(req, ino);
  if (target == nullptr) return;
  Inode& node = *target;
  if (node.type == S_IFLNK) {
    reply::err(req, EOPNOTSUPP);
    return;
  }
  // Filter to user.*: the backing file may carry other namespaces (security.*).
  std::string path = proc_path(node.fd.get());
  ssize_t n = ::listxattr(path.c_str(), nullptr, 0);
  if (n < 0) {
    reply::err(req, errno);
    return;
  }
  std::vector<char> all(static_cast<std::size_t>(n) + 1);
  n = ::listxattr(path.c_str(), all.data(), all.size());
  if (n < 0) {
    reply::err(req, errno);
    return;
  }
  std::vector<char> out;
  for (std::size_t i = 0; i < static_cast<std::size_t>(n);) {
    std::string_view entry(all.data() + i);
    if (user_namespace(entry)) out.insert(out.end(), entry.begin(), entry.end() + 1);
    i += entry.size() + 1;
  }
  if (size == 0) {
    reply::xattr(req, out.size());
  } else if (size < out.size()) {
    reply::err(req, ERANGE);
  } else {
    reply::buf(req, out.data(), out.size());
  }
}

void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Inode* target = writable_target(req, ino, name);
  if (target == nullptr) return;
  Inode& node = *target;
  if (is_directory_key(node, name)) {
    set_directory_key(req, node, "");
    return;
  }
  if (reserved(name)) {
    reply::err(req, EPERM);
    return;
  }
  int rc = ::removexattr(proc_path(node.fd.get()).c_str(), name);
  reply::err(req, rc == 0 ? 0 : errno);
}

}  // namespace recvault::fuse::ops

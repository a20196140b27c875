// Entries and attributes: init, lookup, forget, getattr, setattr, readlink, statfs.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ops.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse::ops {

std::string proc_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int existing_name(Filesystem& fs, Inode& parent, const char* name, std::string& backing) {
  if (&parent == &fs.root()) {
    backing = name;
    return 0;
  }
  return fs.names().find(parent, name, backing);
}

int new_name(Filesystem& fs, Inode& parent, const char* name, std::string& backing) {
  return fs.names().new_name(parent, name, backing);
}

int report(Filesystem& fs, const Inode& inode, const char* op, const Error& e) {
  if (fs.metrics()) fs.metrics()->failed(inode.account, e);
  if (is_integrity_failure(e.code)) {
    // Integrity and key problems: always logged, naming the file, never a key.
    log::error(std::string(op) + " " + fs.describe(inode) + ": " + errc_name(e.code) + ": " + e.message);
  } else {
    // A system failure or a refusal: the caller gets its errno, the log a line.
    log::warn(std::string(op) + " " + fs.describe(inode) + ": " + e.message);
  }
  return e.to_errno();
}

void init(void* userdata, fuse_conn_info* conn) {
  auto& fs = *static_cast<Filesystem*>(userdata);
  if (fs.options().writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    fs.set_writeback_active(true);
  }
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  // Shared storage: when getattr reports another size or mtime (another
  // host wrote), the kernel drops the file's cached pages.
  if (fs.options().shared && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  conn->max_write = 1u << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->time_gran = 1;
}

void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  inject_fault(name, FaultPoint::before_reply);
  auto& fs = fs_of(req);
  Inode& dir = fs.inode(parent);
  fuse_entry_param e{};
  int err = &dir == &fs.root() ? fs.lookup_entry(dir, name, e)
                               : fs.names().with_existing(dir, name, [&](const std::string& backing) {
                                   return fs.lookup_entry(dir, backing.c_str(), e);
                                 });
  if (err == ENOENT) {
    e = fuse_entry_param{};
    e.attr_timeout = 0;
    e.entry_timeout = 0;  // negative entries are not cached: files appear at once
    reply::entry(req, &e);
    inject_fault(name, FaultPoint::after_reply);
    return;
  }
  if (err != 0) {
    reply::err(req, err);
    return;
  }
  reply::entry(req, &e);
}

void forget(fuse_req_t req, fuse_ino_t ino, std::uint64_t nlookup) {
  auto& fs = fs_of(req);
  fs.forget(fs.inode(ino), nlookup);
  reply::none(req);
}

void forget_multi(fuse_req_t req, std::size_t count, fuse_forget_data* forgets) {
  auto& fs = fs_of(req);
  for (std::size_t i = 0; i < count; ++i) fs.forget(fs.inode(forgets[i].ino), forgets[i].nlookup);
  reply::none(req);
}

void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  struct stat st {};
  int err = fs.stat_inode(node, st);
  if (err != 0) {
    reply::err(req, err);
    return;
  }
  reply::attr(req, &st, fs.attr_timeout_of(node));
}

namespace {

int set_times(Inode& node, const struct stat* attr, int to_set) {
  struct timespec tv[2];
  tv[0].tv_sec = 0;
  tv[1].tv_sec = 0;
  tv[0].tv_nsec = UTIME_OMIT;
  tv[1].tv_nsec = UTIME_OMIT;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW)
    tv[0].tv_nsec = UTIME_NOW;
  else if (to_set & FUSE_SET_ATTR_ATIME)
    tv[0] = attr->st_atim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW)
    tv[1].tv_nsec = UTIME_NOW;
  else if (to_set & FUSE_SET_ATTR_MTIME)
    tv[1] = attr->st_mtim;
  if (node.type == S_IFREG) {
    std::shared_ptr<FileContent> content;
    {
      MutexLock lock(node.m);
      content = node.content;
    }
    // An open recording sets and pins them in one step, so that none of the
    // daemon's own writes (the tail flusher) falls in between.
    if (content) return content->set_times(tv);
  }
  // utimensat cannot follow an O_PATH fd with flags; go through /proc.
  if (node.type == S_IFLNK) {
    return ::utimensat(node.fd.get(), "", tv, AT_EMPTY_PATH) == 0 ? 0 : errno;
  }
  return ::utimensat(AT_FDCWD, proc_path(node.fd.get()).c_str(), tv, 0) == 0 ? 0 : errno;
}

// Truncates through the open content, or opens it for the occasion.
int set_size(Filesystem& fs, Inode& node, off_t size) {
  if (node.type != S_IFREG) return EINVAL;
  // A fill that ran after the kernel dropped the cut pages would bring them
  // (and the old size) back.
  if (!hold_off_page_fills(node)) return EBUSY;
  ExclusiveLock fills_held_off(node.page_fill, kAdoptLock);
  std::shared_ptr<FileContent> content;
  {
    MutexLock lock(node.m);
    content = node.content;
  }
  // Shared storage: a truncate is a write; the writer's lock decides
  // (an open content here may have been loaded without it).
  if (content) {
    if (int err = lock_for_writing(fs, node, *content, true, "truncate"); err != 0) return err;
    auto st = content->truncate(static_cast<std::uint64_t>(size));
    fs.settle(node, *content);
    return st ? 0 : report(fs, node, "truncate", st.error());
  }
  sys::UniqueFd fd(::open(proc_path(node.fd.get()).c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return errno;
  // Replaced by a re-encryption (Filesystem::replace_backing) under this
  // Inode: the kernel retries the truncate after looking the name up again.
  if (struct stat st{}; ::fstat(fd.get(), &st) == 0 && st.st_nlink == 0) return ESTALE;
  auto c = FileContent::open_existing(std::move(fd), node.account, fs.keys());
  if (!c) return report(fs, node, "truncate", c.error());
  if (int err = lock_for_writing(fs, node, **c, true, "truncate"); err != 0) return err;
  auto st = (*c)->truncate(static_cast<std::uint64_t>(size));
  if (st) st = (*c)->seal();
  fs.settle(node, **c);
  return st ? 0 : report(fs, node, "truncate", st.error());
}

}  // namespace

void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  int err = 0;
  if (to_set & FUSE_SET_ATTR_MODE) {
    if (node.type == S_IFLNK)
      err = EOPNOTSUPP;
    else if (::chmod(proc_path(node.fd.get()).c_str(), attr->st_mode & 07777) != 0)
      err = errno;
  }
  if (err == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
    if (::fchownat(node.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) err = errno;
  }
  if (err == 0 && (to_set & FUSE_SET_ATTR_SIZE)) err = set_size(fs, node, attr->st_size);
  if (err == 0 &&
      (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
    err = set_times(node, attr, to_set);
  }
  if (err != 0) {
    reply::err(req, err);
    return;
  }
  getattr(req, ino, nullptr);
}

void readlink(fuse_req_t req, fuse_ino_t ino) {
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlinkat(node.fd.get(), "", buf, sizeof buf);
  if (n < 0) {
    reply::err(req, errno);
    return;
  }
  if (static_cast<std::size_t>(n) >= sizeof buf) {
    reply::err(req, ENAMETOOLONG);
    return;
  }
  auto shown = fs.names().shown_target(node.account, std::string_view(buf, static_cast<std::size_t>(n)));
  if (!shown) {
    reply::err(req, report(fs, node, "readlink", shown.error()));
    return;
  }
  reply::readlink(req, shown->c_str());
}

void statfs(fuse_req_t req, fuse_ino_t) {
  auto& fs = fs_of(req);
  struct statvfs sv {};
  if (::fstatvfs(fs.root().fd.get(), &sv) != 0) {
    reply::err(req, errno);
    return;
  }
  reply::statfs(req, &sv);
}

}  // namespace recvault::fuse::ops

#include "recvault/fuse/filesystem.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "ops.hpp"
#include "recvault/keystore/account_id.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse {

Filesystem::Filesystem(FsOptions options, keystore::KeyCache& keys)
    : options_(std::move(options)),
      keys_(keys),
      waits_(options_.waits_per_account),
      open_files_(options_.tail_flush_interval, [this](std::chrono::steady_clock::duration took) {
        if (options_.metrics) options_.metrics->tail_flush_pass(took);
      }) {
  ops::fault_injection_enabled();  // says so in the log at once when on
}

Filesystem::~Filesystem() {
  open_files_.stop_flusher();
  handles_.free_outstanding();
}

Status Filesystem::open_backing() {
  int fd = ::open(options_.backing_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return sys_error("open backing dir " + options_.backing_dir.string(), e);
  }
  root().fd.reset(fd);
  struct stat st {};
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) {
    int e = errno;
    return sys_error("stat backing dir", e);
  }
  root().src_ino = st.st_ino;
  root().src_dev = st.st_dev;
  root().type = S_IFDIR;
  std::function<AccountLimits(std::string_view)> limits = options_.limits_of;
  if (!limits) limits = [](std::string_view) { return AccountLimits{}; };
  quotas_ = std::make_unique<Quotas>(root().fd.get(), std::move(limits));
  return {};
}

Status Filesystem::ensure_account_dir(const std::string& account) {
  RV_TRY(keystore::validate_account_id(account));
  const auto owner = options_.owner_of(account);
  if (::mkdirat(root().fd.get(), account.c_str(), owner.mode) != 0 && errno != EEXIST) {
    int e = errno;
    return sys_error("mkdir account " + account, e);
  }
  int dfd = ::openat(root().fd.get(), account.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    int e = errno;
    return sys_error("open account dir " + account, e);
  }
  sys::UniqueFd d(dfd);
  if (::fchown(dfd, owner.uid, owner.gid) != 0 || ::fchmod(dfd, owner.mode) != 0) {
    int e = errno;
    return sys_error("set owner of account dir " + account, e);
  }
  return {};
}

std::vector<std::string> Filesystem::accounts() const {
  std::vector<std::string> out;
  int fd = ::openat(root().fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* dp = ::fdopendir(fd);
  if (dp == nullptr) {
    ::close(fd);
    return out;
  }
  while (dirent* ent = ::readdir(dp)) {
    if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN) continue;
    if (!keystore::validate_account_id(ent->d_name).ok()) continue;
    struct stat st {};
    if (::fstatat(::dirfd(dp), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      out.emplace_back(ent->d_name);
    }
  }
  ::closedir(dp);
  std::sort(out.begin(), out.end());
  return out;
}

bool Filesystem::fill_page_cache(fuse_ino_t ino, std::uint64_t offset, std::span<const std::uint8_t> data) {
  fuse_session* se = session_.load();
  if (se == nullptr || data.empty()) return se != nullptr;
  fuse_bufvec buf{};  // not FUSE_BUFVEC_INIT: a C compound literal
  buf.count = 1;
  buf.buf[0].size = data.size();
  buf.buf[0].mem = const_cast<std::uint8_t*>(data.data());  // only read by libfuse
  buf.buf[0].fd = -1;
  return fuse_lowlevel_notify_store(se, ino, static_cast<off_t>(offset), &buf, static_cast<fuse_buf_copy_flags>(0)) ==
         0;
}

int Filesystem::lookup_entry(Inode& parent, const char* name, fuse_entry_param& e,
                             std::optional<std::uint64_t> known_size) {
  e = fuse_entry_param{};
  const bool at_root = &parent == &root();
  if (at_root && !keystore::validate_account_id(name).ok()) return ENOENT;
  int fd = ::openat(parent.fd.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  sys::UniqueFd owned(fd);
  struct stat st {};
  if (::fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
  if (at_root && !S_ISDIR(st.st_mode)) return ENOENT;  // only account dirs live at the root

  Inode* node = &inodes_.find_or_add(st, [&](Inode& fresh) {
    fresh.fd = std::move(owned);
    fresh.account = at_root ? std::string(name) : parent.account;
  });
  int err = 0;
  if (known_size && S_ISREG(st.st_mode)) {
    st.st_size = static_cast<off_t>(*known_size);
  } else {
    err = fill_plaintext_size(*node, st);
  }
  if (err != 0) {
    forget(*node, 1);
    return err;
  }
  e.ino = reinterpret_cast<fuse_ino_t>(node);
  e.attr = st;
  e.attr_timeout = options_.attr_timeout;
  e.entry_timeout = options_.attr_timeout;
  return 0;
}

int Filesystem::stat_inode(Inode& node, struct stat& st) {
  if (::fstatat(node.fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return errno;
  return fill_plaintext_size(node, st);
}

int Filesystem::fill_plaintext_size(Inode& node, struct stat& st) {
  if (S_ISLNK(st.st_mode)) {
    // A symlink's size is its target's length: the plaintext one when the
    // target is stored encrypted (FORMAT.md §12.4).
    char buf[PATH_MAX];
    const ssize_t n = ::readlinkat(node.fd.get(), "", buf, sizeof buf);
    if (n <= 0 || !format::parse_encrypted_name(std::string_view(buf, static_cast<std::size_t>(n)))) return 0;
    auto shown = names_.shown_target(node.account, std::string_view(buf, static_cast<std::size_t>(n)));
    if (shown) st.st_size = static_cast<off_t>(shown->size());
    return 0;
  }
  if (!S_ISREG(st.st_mode)) return 0;
  if (auto content = node.open_content()) {
    // Shared storage: another host may have written a file only read here.
    if (options_.shared) {
      if (auto fresh = content->refresh_if_changed(node.account, keys_); !fresh) {
        log::warn("reload of " + describe(node) + " (written by another host): " + fresh.error().message);
      }
    }
    st.st_size = static_cast<off_t>(content->size());
    return 0;
  }
  if (auto known = size_memo_.find(st)) {
    st.st_size = static_cast<off_t>(*known);
    return 0;
  }
  auto size = plaintext_size(node.fd.get(), st, node.account, keys_);
  if (size) {
    size_memo_.remember(st, *size);
    st.st_size = static_cast<off_t>(*size);
    return 0;
  }
  // A file whose header cannot say its size (damaged, unknown version, no
  // key) still answers with what the disk holds, so that ls, stat, mv and
  // rm work on it; opening it fails (EIO) and says why.
  if (size.error().code == Errc::io) return ops::report(*this, node, "getattr", size.error());
  ops::report(*this, node, "getattr", size.error());
  return 0;
}

Result<Filesystem::Replaced> Filesystem::replace_backing(int dir_fd, const std::string& name,
                                                         const std::string& tmp_name, const struct stat& old) {
  Replaced outcome = Replaced::done;
  fuse_ino_t notify = 0;
  auto rename_now = [&]() -> Result<struct stat> {
    struct stat cur {};
    if (::fstatat(dir_fd, name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) != 0) {
      int e = errno;
      if (e != ENOENT) return sys_error("stat " + name, e);
      outcome = Replaced::changed;
      return make_error(Errc::conflict, "gone");
    }
    if (!ops::same_file_state(cur, old)) {
      outcome = Replaced::changed;
      return make_error(Errc::conflict, "changed");
    }
    if (::renameat(dir_fd, tmp_name.c_str(), dir_fd, name.c_str()) != 0) {
      int e = errno;
      return sys_error("rename the re-encrypted file over " + name, e);
    }
    struct stat now {};
    if (::fstatat(dir_fd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) {
      int e = errno;
      return sys_error("stat " + name, e);
    }
    return now;
  };
  auto st = inodes_.replace(
      old, [&](Inode * node) -> Result<struct stat> {
        if (node == nullptr) return rename_now();
        if (!node->page_fill.try_lock()) {
          outcome = Replaced::busy;
          return make_error(Errc::conflict, "busy");
        }
        ExclusiveLock fills_held_off(node->page_fill, kAdoptLock);
        MutexLock lock(node->m);
        if (node->opens != 0 || node->writers != 0) {
          outcome = Replaced::busy;
          return make_error(Errc::conflict, "open");
        }
        RV_ASSIGN(struct stat now, rename_now());
        sys::UniqueFd fresh(::openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!fresh.valid() || ::dup3(fresh.get(), node->fd.get(), O_CLOEXEC) < 0) {
          // The Inode keeps the old file: an open of it is refused with ESTALE
          // (the kernel then looks the name up again and finds the new one).
          log::warn("re-encryption: the view's inode of " + name + " keeps the replaced file until looked up again");
          return old;
        }
        notify = InodeTable::ino_of(*node);
        return now;
      });
  if (!st) {
    if (outcome != Replaced::done) return outcome;
    return std::move(st).error();
  }
  if (fuse_session* se = session_.load(); se != nullptr && notify != 0)
    fuse_lowlevel_notify_inval_inode(se, notify, 0, 0);
  return Replaced::done;
}

bool Filesystem::is_open(const struct stat& st) { return inodes_.is_open(st.st_dev, st.st_ino); }

void Filesystem::remember_size(FileContent& content) {
  if (auto sealed = content.sealed_state()) size_memo_.remember(sealed->backing, sealed->plaintext, true);
}

std::string Filesystem::describe(const Inode& node) const {
  char target[4096];
  std::string proc = ops::proc_path(node.fd.get());
  ssize_t n = ::readlink(proc.c_str(), target, sizeof target - 1);
  if (n <= 0) return "inode " + std::to_string(node.src_ino);
  std::string full(target, static_cast<std::size_t>(n));
  std::string base = options_.backing_dir.string();
  if (full.compare(0, base.size(), base) == 0) full = full.substr(base.size());
  return full;
}

namespace {

// Where an fd's file is now ("" if unknown).
std::string current_path(int fd) {
  char target[PATH_MAX];
  ssize_t n = ::readlink(ops::proc_path(fd).c_str(), target, sizeof target);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof target)) return {};
  return std::string(target, static_cast<std::size_t>(n));
}

}  // namespace

std::map<std::string, Filesystem::OpenCount> Filesystem::open_per_account() {
  std::map<std::string, OpenCount> open;
  inodes_.for_each([&](Inode& node) {
    if (node.type != S_IFREG) return;
    auto content = node.open_content();
    if (!content) return;
    auto& count = open[node.account];
    ++count.files;
    if (content->sealing()) ++count.sealing;
  });
  return open;
}

std::vector<std::string> Filesystem::open_paths() {
  const std::string base = current_path(root().fd.get());
  std::vector<std::string> paths;
  inodes_.for_each([&](Inode& node) {
    if (node.type != S_IFREG || !node.open_content()) return;
    std::string path = current_path(node.fd.get());
    const bool inside = path.size() > base.size() && path.compare(0, base.size(), base) == 0;
    if (!base.empty() && inside && path[base.size()] == '/') paths.push_back(path.substr(base.size()));
  });
  return paths;
}

std::vector<std::uint64_t> Filesystem::writing_files() {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<FileContent>>> open;
  inodes_.for_each([&](Inode& node) {
    if (node.type != S_IFREG) return;
    MutexLock lock(node.m);
    if (node.writers != 0 && node.content) open.emplace_back(reinterpret_cast<std::uint64_t>(&node), node.content);
  });
  // Outside the table's lock: a seal holds the content's lock for a while.
  std::vector<std::uint64_t> files;
  files.reserve(open.size());
  for (const auto& [ino, content] : open) {
    // OpenPGP streams bypass the page cache (direct I/O): nothing to write back.
    if (!content->sealing()) files.push_back(ino);
  }
  std::sort(files.begin(), files.end());
  return files;
}

double Filesystem::attr_timeout_of(Inode& node) {
  if (node.type == S_IFREG && writeback_active() && !options_.shared) {
    MutexLock lock(node.m);
    if (node.writers > 0) return std::max(options_.attr_timeout, kWriterAttrTimeout);
  }
  return options_.attr_timeout;
}

void Filesystem::drop_cached_attributes(fuse_ino_t ino) {
  // Attributes only (offset < 0): no page is touched, so no wait on this daemon.
  if (fuse_session* se = session_.load(); se != nullptr) fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);
}

// Every handler behind the error boundary (boundary.hpp).
const fuse_lowlevel_ops& Filesystem::operations() {
  static const fuse_lowlevel_ops table = [] {
    fuse_lowlevel_ops o{};
    o.init = guarded_init;
    o.lookup = &Guarded<Op::lookup, &ops::lookup>::call;
    o.forget = &Guarded<Op::forget, &ops::forget>::call;
    o.forget_multi = &Guarded<Op::forget_multi, &ops::forget_multi>::call;
    o.getattr = &Guarded<Op::getattr, &ops::getattr>::call;
    o.setattr = &Guarded<Op::setattr, &ops::setattr>::call;
    o.readlink = &Guarded<Op::readlink, &ops::readlink>::call;
    o.statfs = &Guarded<Op::statfs, &ops::statfs>::call;
    o.mkdir = &Guarded<Op::mkdir, &ops::mkdir>::call;
    o.mknod = &Guarded<Op::mknod, &ops::mknod>::call;
    o.symlink = &Guarded<Op::symlink, &ops::symlink>::call;
    o.link = &Guarded<Op::link, &ops::link>::call;
    o.unlink = &Guarded<Op::unlink, &ops::unlink>::call;
    o.rmdir = &Guarded<Op::rmdir, &ops::rmdir>::call;
    o.rename = &Guarded<Op::rename, &ops::rename>::call;
    o.opendir = &Guarded<Op::opendir, &ops::opendir>::call;
    o.readdir = &Guarded<Op::readdir, &ops::readdir>::call;
    o.releasedir = &Guarded<Op::releasedir, &ops::releasedir>::call;
    o.fsyncdir = &Guarded<Op::fsyncdir, &ops::fsyncdir>::call;
    o.create = &Guarded<Op::create, &ops::create>::call;
    o.open = &Guarded<Op::open, &ops::open>::call;
    o.read = &Guarded<Op::read, &ops::read>::call;
    o.write = &Guarded<Op::write, &ops::write>::call;
    o.flush = &Guarded<Op::flush, &ops::flush>::call;
    o.fsync = &Guarded<Op::fsync, &ops::fsync>::call;
    o.release = &Guarded<Op::release, &ops::release>::call;
    o.fallocate = &Guarded<Op::fallocate, &ops::fallocate>::call;
    o.setxattr = &Guarded<Op::setxattr, &ops::setxattr>::call;
    o.getxattr = &Guarded<Op::getxattr, &ops::getxattr>::call;
    o.listxattr = &Guarded<Op::listxattr, &ops::listxattr>::call;
    o.removexattr = &Guarded<Op::removexattr, &ops::removexattr>::call;
    return o;
  }();
  return table;
}

}  // namespace recvault::fuse

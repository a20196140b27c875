// Namespace changes and directory listing.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "ops.hpp"
#include "recvault/keystore/account_id.hpp"

namespace recvault::fuse::ops {
namespace {

// Answers with the entry just created under `parent` (its backing name).
void reply_new_entry(fuse_req_t req, Filesystem& fs, Inode& parent, const char* name) {
  fuse_entry_param e{};
  int err = fs.lookup_entry(parent, name, e);
  if (err != 0) {
    reply::err(req, err);
    return;
  }
  reply::entry(req, &e);
}

struct DirHandle final : OpenHandle {
  DIR* dp = nullptr;
  off_t offset = 0;
  dirent* entry = nullptr;
  bool at_root = false;
  std::string account;
  std::optional<format::DirIv> iv;  // read at opendir, or at the first encrypted name
  std::string where;                // the directory, for log lines
  ~DirHandle() override {
    if (dp != nullptr) ::closedir(dp);
  }
};

DirHandle& dir_of(fuse_file_info* fi) { return static_cast<DirHandle&>(Filesystem::handle(fi->fh)); }

}  // namespace

void mkdir(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  if (&parent == &fs.root()) {
    // A new account: its name must be a valid account id; its owner and mode
    // come from the configuration, not from the caller.
    if (auto st = keystore::validate_account_id(name); !st) {
      reply::err(req, EINVAL);
      return;
    }
    if (::mkdirat(parent.fd.get(), name, 0700) != 0) {
      reply::err(req, errno);
      return;
    }
    if (auto st = fs.ensure_account_dir(name); !st) {
      reply::err(req, st.error().to_errno());
      return;
    }
    reply_new_entry(req, fs, parent, name);
    return;
  }
  std::string backing;
  if (int e = new_name(fs, parent, name, backing); e != 0) {
    reply::err(req, e);
    return;
  }
  if (::mkdirat(parent.fd.get(), backing.c_str(), 0700) != 0) {  // nobody else's until it is the caller's
    reply::err(req, errno);
    return;
  }
  sys::UniqueFd dir(::openat(parent.fd.get(), backing.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  int err = dir.valid() ? hand_to_caller(req, parent, dir.get(), mode) : errno;
  if (err != 0) {
    ::unlinkat(parent.fd.get(), backing.c_str(), AT_REMOVEDIR);
    reply::err(req, err);
    return;
  }
  reply_new_entry(req, fs, parent, backing.c_str());
}

void mknod(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode, dev_t) {
  // FIFOs and UNIX sockets carry no data on the disk: they are made as they
  // are. Recordings are regular files (create()); device nodes stay refused,
  // and the mount is nodev anyway.
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  const mode_t type = mode & S_IFMT;
  if (&parent == &fs.root() || (type != S_IFIFO && type != S_IFSOCK)) {
    reply::err(req, EPERM);
    return;
  }
  std::string backing;
  if (int e = new_name(fs, parent, name, backing); e != 0) {
    reply::err(req, e);
    return;
  }
  if (::mknodat(parent.fd.get(), backing.c_str(), type | 0600, 0) != 0) {
    reply::err(req, errno);
    return;
  }
  sys::UniqueFd node(::openat(parent.fd.get(), backing.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  int err = node.valid() ? hand_to_caller(req, parent, node.get(), mode) : errno;
  if (err != 0) {
    ::unlinkat(parent.fd.get(), backing.c_str(), 0);
    reply::err(req, err);
    return;
  }
  reply_new_entry(req, fs, parent, backing.c_str());
}

void symlink(fuse_req_t req, const char* link, fuse_ino_t parent_ino, const char* name) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  if (&parent == &fs.root()) {
    reply::err(req, EPERM);
    return;
  }
  std::string backing, target;
  if (int e = new_name(fs, parent, name, backing); e != 0) {
    reply::err(req, e);
    return;
  }
  if (int e = fs.names().stored_target(parent.account, link, target); e != 0) {
    reply::err(req, e);
    return;
  }
  if (::symlinkat(target.c_str(), parent.fd.get(), backing.c_str()) != 0) {
    reply::err(req, errno);
    return;
  }
  const fuse_ctx* ctx = fuse_req_ctx(req);
  if (::fchownat(parent.fd.get(), backing.c_str(), ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW) != 0) {
    int e = errno;
    ::unlinkat(parent.fd.get(), backing.c_str(), 0);
    reply::err(req, e);
    return;
  }
  reply_new_entry(req, fs, parent, backing.c_str());
}

void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent_ino, const char* newname) {
  // Hard links are the backing file system's own: both names are one backing
  // file, so one Inode and one FileContent (the inode table is keyed by the
  // backing inode). Keys are per account: a link across accounts is EXDEV.
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  Inode& newparent = fs.inode(newparent_ino);
  if (&newparent == &fs.root() || &node == &fs.root()) {
    reply::err(req, EPERM);
    return;
  }
  if (node.account != newparent.account) {
    reply::err(req, EXDEV);
    return;
  }
  std::string backing;
  if (int e = new_name(fs, newparent, newname, backing); e != 0) {
    reply::err(req, e);
    return;
  }
  if (::linkat(AT_FDCWD, proc_path(node.fd.get()).c_str(), newparent.fd.get(), backing.c_str(), AT_SYMLINK_FOLLOW) !=
      0) {
    reply::err(req, errno);
    return;
  }
  reply_new_entry(req, fs, newparent, backing.c_str());
}

namespace {

// What removing (or replacing) `name` in `dir` frees: its allocation when it
// is the file's last name.
std::int64_t freed_by_removing(int dir, const char* name) {
  struct stat st {};
  if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  if (S_ISDIR(st.st_mode) || st.st_nlink > 1) return 0;
  return static_cast<std::int64_t>(st.st_blocks) * 512;
}

}  // namespace

void unlink(fuse_req_t req, fuse_ino_t parent_ino, const char* name) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  std::int64_t freed = 0;
  int err = &parent == &fs.root() ? (::unlinkat(parent.fd.get(), name, 0) == 0 ? 0 : errno)
                                  : fs.names().with_existing(parent, name, [&](const std::string& backing) {
                                      freed = freed_by_removing(parent.fd.get(), backing.c_str());
                                      return ::unlinkat(parent.fd.get(), backing.c_str(), 0) == 0 ? 0 : errno;
                                    });
  if (err == 0) fs.quotas().charge(parent.account, -freed);
  reply::err(req, err);
}

void rmdir(fuse_req_t req, fuse_ino_t parent_ino, const char* name) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  if (&parent == &fs.root()) {
    reply::err(req, ::unlinkat(parent.fd.get(), name, AT_REMOVEDIR) == 0 ? 0 : errno);
    return;
  }
  reply::err(req, fs.names().with_existing(parent, name, [&](const std::string& backing) {
    return NameLayer::remove_directory(parent.fd.get(), backing);
  }));
}

void rename(fuse_req_t req, fuse_ino_t parent_ino, const char* name, fuse_ino_t newparent_ino, const char* newname,
            unsigned int flags) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  Inode& newparent = fs.inode(newparent_ino);
  if (&parent == &fs.root() || &newparent == &fs.root()) {
    // Renaming an account directory would orphan its files from their keys.
    reply::err(req, EPERM);
    return;
  }
  if (parent.account != newparent.account) {
    reply::err(req, EXDEV);  // keys are per account: mv copies and re-encrypts
    return;
  }
  std::string from, to;
  if (int e = existing_name(fs, parent, name, from); e != 0) {
    reply::err(req, e);
    return;
  }
  // An existing target keeps its backing name (the replacement stays one
  // atomic rename); a new one takes the account's current form.
  int e = existing_name(fs, newparent, newname, to);
  if (e == 0 && (flags & RENAME_NOREPLACE) != 0) e = EEXIST;
  if (e == ENOENT && (flags & RENAME_EXCHANGE) == 0) e = new_name(fs, newparent, newname, to);
  if (e != 0) {
    reply::err(req, e);
    return;
  }
  const std::int64_t freed = (flags & RENAME_EXCHANGE) != 0 ? 0 : freed_by_removing(newparent.fd.get(), to.c_str());
  // A directory replaced by a rename may hold nothing but its IV file.
  const auto move = [&] {
    return ::renameat2(parent.fd.get(), from.c_str(), newparent.fd.get(), to.c_str(), flags) == 0 ? 0 : errno;
  };
  const bool replaces = (flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)) == 0;
  const int err = replaces ? NameLayer::without_dir_iv(newparent.fd.get(), to, move) : move();
  const int rc = err == 0 ? 0 : -1;
  if (rc == 0) fs.quotas().charge(parent.account, -freed);
  // A directory that moves takes its subtree under other OpenPGP overrides.
  if (rc == 0 && &parent != &newparent) fs.ancestry_changed();
  reply::err(req, err);
}

void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  int fd = ::openat(node.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    reply::err(req, errno);
    return;
  }
  auto handle = std::make_unique<DirHandle>();
  handle->dp = ::fdopendir(fd);
  if (handle->dp == nullptr) {
    int e = errno;
    ::close(fd);
    reply::err(req, e);
    return;
  }
  handle->at_root = &node == &fs.root();
  handle->account = node.account;
  if (!handle->at_root) {
    auto iv = fs.names().dir_iv(node);
    if (iv) handle->iv = *iv;
    handle->where = fs.describe(node);
  }
  fi->fh = fs.adopt_handle(std::move(handle));
  fi->cache_readdir = 0;
  if (reply::open(req, fi) != 0) fs.release_handle(fi->fh);
}

void readdir(fuse_req_t req, fuse_ino_t, std::size_t size, off_t offset, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  DirHandle* d = &dir_of(fi);
  std::vector<char> buf(size);
  std::size_t used = 0;
  if (offset != d->offset) {
    ::seekdir(d->dp, offset);
    d->entry = nullptr;
    d->offset = offset;
  }
  const auto load_iv = [d] { return format::read_dir_iv(::dirfd(d->dp)); };
  for (;;) {
    if (d->entry == nullptr) {
      errno = 0;
      d->entry = ::readdir(d->dp);
      if (d->entry == nullptr) {
        if (errno != 0 && used == 0) {
          reply::err(req, errno);
          return;
        }
        break;
      }
    }
    const dirent* ent = d->entry;
    const bool dots = std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0;
    std::optional<std::string> shown;
    if (d->at_root) {
      if (dots || (ent->d_type == DT_DIR && keystore::validate_account_id(ent->d_name).ok())) shown = ent->d_name;
    } else if (dots) {
      shown = ent->d_name;
    } else {
      shown = fs.names().shown_name(d->account, d->iv, load_iv, ent->d_name, d->where);
    }
    if (shown) {
      struct stat st {};
      st.st_ino = ent->d_ino;
      st.st_mode = static_cast<mode_t>(ent->d_type) << 12;
      std::size_t need = fuse_add_direntry(req, buf.data() + used, size - used, shown->c_str(), &st, ent->d_off);
      if (need > size - used) break;  // keep this entry for the next call
      used += need;
    }
    d->offset = ent->d_off;
    d->entry = nullptr;
  }
  reply::buf(req, buf.data(), used);
}

void releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fs_of(req).release_handle(fi->fh);
  reply::err(req, 0);
}

void fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fd = ::dirfd(dir_of(fi).dp);
  int rc = datasync ? ::fdatasync(fd) : ::fsync(fd);
  reply::err(req, rc == 0 ? 0 : errno);
}

}  // namespace recvault::fuse::ops

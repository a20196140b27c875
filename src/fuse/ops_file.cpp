// File content: create, open, read, write, flush, fsync, release.
//
// Every open handle carries a shared_ptr to its inode's FileContent, so the
// hot path (read/write) touches no inode lock.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse::ops {
namespace {

struct Handle final : OpenHandle {
  Handle(std::shared_ptr<FileContent> c, bool a) : content(std::move(c)), append(a) {}
  std::shared_ptr<FileContent> content;
  bool append = false;  // O_APPEND, honoured here only without writeback cache
};

Handle& handle_of(fuse_file_info* fi) { return static_cast<Handle&>(Filesystem::handle(fi->fh)); }

// Registers one more opener of `node` and fills `fi`.
void attach(Filesystem& fs, Inode& node, const std::shared_ptr<FileContent>& content, fuse_file_info* fi) {
  {
    std::lock_guard lock(node.m);
    if (node.opens++ == 0) {
      node.content = content;
      fs.track_open(content);
    }
  }
  fi->fh = fs.adopt_handle(std::make_unique<Handle>(content, (fi->flags & O_APPEND) != 0));
  fi->keep_cache = 1;  // recvaultd is the only writer of the backing files
  if (content->kind() == FileContent::Kind::pgp) {
    // OpenPGP recordings bypass the page cache: the plaintext never sits in
    // it, writes reach the stream in order, and after sealing the cache can
    // hold nothing stale (docs/OPENPGP.md).
    fi->direct_io = 1;
    fi->keep_cache = 0;
  }
}

void detach(Filesystem& fs, Inode& node, fuse_file_info* fi) {
  std::unique_ptr<OpenHandle> h = fs.release_handle(fi->fh);
  std::shared_ptr<FileContent> last;
  {
    std::lock_guard lock(node.m);
    if (--node.opens == 0) {
      last = std::move(node.content);
      node.content.reset();
    }
  }
  if (last) {
    const bool pgp_stream = last->sealing();
    if (auto st = last->seal(); !st) {
      report(fs, node, "seal", st.error());
    } else if (pgp_stream) {
      fs.notify_sealed(reinterpret_cast<fuse_ino_t>(&node), last->fd(), last->size());
    }
    fs.untrack_open(last);
  }
  fs.forget(node, 0);  // frees the inode if the kernel already forgot it
}

int open_backing_rw(const Inode& node, sys::UniqueFd& out) {
  // The backing fd is always read-write: writeback cache sends reads for
  // write-only handles, and never O_APPEND (the kernel supplies offsets).
  out.reset(::open(proc_path(node.fd.get()).c_str(), O_RDWR | O_CLOEXEC));
  return out.valid() ? 0 : errno;
}

}  // namespace

void create(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  if (&parent == &fs.root()) {
    fuse_reply_err(req, EPERM);  // recordings live inside an account directory
    return;
  }
  bool created = true;
  int fd = ::openat(parent.fd.get(), name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
  if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
    created = false;  // lost a race with another creator: open theirs
    fd = ::openat(parent.fd.get(), name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  sys::UniqueFd backing(fd);
  Result<std::shared_ptr<FileContent>> content = make_error(Errc::internal, "unset");
  if (created) {
    const fuse_ctx* ctx = fuse_req_ctx(req);
    if (::fchown(fd, ctx->uid, ctx->gid) != 0) {
      int e = errno;
      ::unlinkat(parent.fd.get(), name, 0);
      fuse_reply_err(req, e);
      return;
    }
    auto where = fs.placement_in(parent);
    if (where) {
      content = FileContent::start_new(std::move(backing), parent.account, fs.keys(), fs.options().chunk_size,
                                       *where);
    } else {
      content = std::move(where).error();
    }
    if (!content) ::unlinkat(parent.fd.get(), name, 0);
  } else {
    content = FileContent::open_existing(std::move(backing), parent.account, fs.keys());
  }
  if (!content) {
    fuse_reply_err(req, report(fs, parent, "create", content.error()));
    return;
  }
  fuse_entry_param e{};
  int err = fs.lookup_entry(parent, name, e, (*content)->size());
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  Inode& node = fs.inode(e.ino);
  std::shared_ptr<FileContent> shared = std::move(content).value();
  {
    std::lock_guard lock(node.m);
    if (node.content) shared = node.content;
  }
  attach(fs, node, shared, fi);
  e.attr.st_size = static_cast<off_t>(shared->size());
  if (fuse_reply_create(req, &e, fi) != 0) detach(fs, node, fi);
}

void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  std::shared_ptr<FileContent> content;
  {
    std::lock_guard lock(node.m);
    content = node.content;
  }
  if (!content) {
    sys::UniqueFd backing;
    if (int err = open_backing_rw(node, backing); err != 0) {
      fuse_reply_err(req, err);
      return;
    }
    auto opened = FileContent::open_existing(std::move(backing), node.account, fs.keys());
    if (!opened) {
      fuse_reply_err(req, report(fs, node, "open", opened.error()));
      return;
    }
    content = std::move(opened).value();
    std::lock_guard lock(node.m);
    if (node.content) content = node.content;  // another opener won the race
  }
  if (content->sealed_pgp() && (fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EPERM);  // sealed OpenPGP recordings are immutable
    return;
  }
  if (fi->flags & O_TRUNC) {
    bool alone = false;
    {
      std::lock_guard lock(node.m);
      alone = node.opens == 0;
    }
    // Truncating to zero starts a new recording under the current key.
    Status st;
    if (alone) {
      auto where = fs.placement_of(node);
      st = where ? content->restart(node.account, fs.keys(), fs.options().chunk_size, *where)
                 : Status(std::move(where).error());
    } else {
      st = content->truncate(0);
    }
    if (!st) {
      fuse_reply_err(req, report(fs, node, "open(O_TRUNC)", st.error()));
      return;
    }
  }
  attach(fs, node, content, fi);
  if (fuse_reply_open(req, fi) != 0) detach(fs, node, fi);
}

void read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t offset, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  thread_local std::vector<std::uint8_t> buf;
  buf.resize(size);
  auto n = handle_of(fi).content->read(static_cast<std::uint64_t>(offset), buf);
  if (!n) {
    fuse_reply_err(req, report(fs, fs.inode(ino), "read", n.error()));
    return;
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  crypto::secure_wipe(buf.data(), *n);
}

void write(fuse_req_t req, fuse_ino_t ino, const char* data, std::size_t size, off_t offset, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  Handle& h = handle_of(fi);
  std::uint64_t at = static_cast<std::uint64_t>(offset);
  if (h.append && !fs.writeback_active()) at = h.content->size();
  auto st = h.content->write(at, std::span(reinterpret_cast<const std::uint8_t*>(data), size));
  if (!st) {
    fuse_reply_err(req, report(fs, fs.inode(ino), "write", st.error()));
    return;
  }
  fuse_reply_write(req, size);
}

void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // close(2) of one descriptor: the data reaches the backing file now, and if
  // this is the only opener the recording is sealed, so a crash after close()
  // returns cannot leave it unterminated.
  auto& fs = fs_of(req);
  Inode& node = fs.inode(ino);
  bool only = false;
  {
    std::lock_guard lock(node.m);
    only = node.opens == 1;
  }
  FileContent& c = *handle_of(fi).content;
  const bool pgp_stream = only && c.sealing();
  auto st = only ? c.seal() : c.flush();
  if (st && pgp_stream) fs.notify_sealed(ino, c.fd(), c.size());
  fuse_reply_err(req, st ? 0 : report(fs, node, "flush", st.error()));
}

void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  auto st = handle_of(fi).content->fsync(datasync != 0);
  fuse_reply_err(req, st ? 0 : report(fs, fs.inode(ino), "fsync", st.error()));
}

void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  detach(fs, fs.inode(ino), fi);
  fuse_reply_err(req, 0);
}

void fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) {
  fuse_reply_err(req, EOPNOTSUPP);
}

}  // namespace recvault::fuse::ops

// File content: create, open, read, write, flush, fsync, release.
//
// Every open handle carries a shared_ptr to its inode's FileContent, so the
// hot path (read/write) touches no inode lock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string_view>

#include "ops.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse::ops {
namespace {

struct Handle final : OpenHandle {
  Handle(std::shared_ptr<FileContent> c, bool a, bool w, pid_t p = 0)
      : content(std::move(c)), append(a), writer(w), opener(p) {}
  std::shared_ptr<FileContent> content;  // null for an observer
  bool append = false;                   // O_APPEND, honoured here only without writeback cache
  bool writer = false;                   // counted in Inode::writers
  pid_t opener = 0;                      // the thread that opened it (flush)
  // The writeback helper's read-only open (daemon/mount_sync.hpp): it only
  // lets the helper have the kernel write the file's pages back. It loads
  // nothing, is not an opener (a writer's close still seals) and reads nothing.
  bool observer() const noexcept { return !content; }
};

Handle& handle_of(fuse_file_info* fi) { return static_cast<Handle&>(Filesystem::handle(fi->fh)); }

// An opener that can change the content (O_RDONLY | O_TRUNC truncates too).
bool may_write(const fuse_file_info* fi) { return (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0; }

// Counts an opener that may write, once no page-cache fill of `node` is in
// progress (Inode::page_fill). False when fills did not finish in time.
bool admit_writer(Filesystem& fs, Inode& node) {
  if (!hold_off_page_fills(node)) {
    log::warn("open for writing of " + fs.describe(node) + " refused: page-cache fills did not finish in time");
    return false;
  }
  ExclusiveLock fills_held_off(node.page_fill, kAdoptLock);
  MutexLock lock(node.m);
  ++node.writers;
  return true;
}

void retire_writer(Inode& node) {
  MutexLock lock(node.m);
  --node.writers;
}

// True when the backing file behind `content` has no name any more: a
// re-encryption replaced it (Filesystem::replace_backing) after the opener
// had reached it through an Inode that still stood for it.
bool replaced_meanwhile(const FileContent& content) {
  struct stat st {};
  return ::fstat(content.fd(), &st) == 0 && st.st_nlink == 0;
}

// Registers one more opener of `node` (already admitted if `writer`) and
// fills `fi`. False (nothing registered) when the backing file was replaced
// meanwhile: the caller answers ESTALE, and the kernel looks the name up
// again (it retries an open or truncate that failed with ESTALE). `opener`
// is the thread that opened (only its close seals at FLUSH). When `first`
// is given, it says whether this is the first opener ever of `node`
// (Inode::opened_before): the kernel holds no page of it yet.
bool attach(Filesystem& fs, Inode& node, const std::shared_ptr<FileContent>& content, fuse_file_info* fi, bool writer,
            pid_t opener, bool* first = nullptr) {
  bool unchanged = true;  // another opener's content: the cached pages are its own
  bool never_opened = false;
  {
    MutexLock lock(node.m);
    if (node.opens == 0 && replaced_meanwhile(*content)) return false;
    if (node.opens++ == 0) {
      node.content = content;
      fs.track_open(content);
      never_opened = !node.opened_before;
      // Never opened: the kernel's cache of this inode is empty, there is
      // nothing stale to drop.
      unchanged = node.last_seen ? same_file_state(*node.last_seen, content->loaded_state()) : never_opened;
      node.opened_before = true;
    }
  }
  if (first != nullptr) *first = never_opened;
  if (writer) content->note_writer();
  fi->fh = fs.adopt_handle(std::make_unique<Handle>(content, (fi->flags & O_APPEND) != 0, writer, opener));
  // The kernel keeps the pages it cached of this file only when the backing
  // file is exactly as the daemon last saw it (Inode::last_seen): changed
  // behind the daemon's back, it is read again (and authenticated). On
  // shared storage another host may have written since: every open starts
  // with an empty page cache (close-to-open consistency, docs/CLUSTER.md).
  fi->keep_cache = !fs.options().shared && unchanged ? 1 : 0;
  if (content->kind() == FileContent::Kind::pgp) {
    // OpenPGP recordings bypass the page cache: the plaintext never sits in
    // it, writes reach the stream in order, and after sealing the cache can
    // hold nothing stale (docs/OPENPGP.md).
    fi->direct_io = 1;
    fi->keep_cache = 0;
  }
  return true;
}

void detach(Filesystem& fs, Inode& node, fuse_file_info* fi) {
  std::unique_ptr<OpenHandle> h = fs.release_handle(fi->fh);
  std::shared_ptr<FileContent> last;
  bool last_writer = false;
  {
    MutexLock lock(node.m);
    // The kernel wrote back this writer's dirty pages before releasing it.
    if (h != nullptr && static_cast<Handle&>(*h).writer) last_writer = --node.writers == 0;
    if (--node.opens == 0) {
      last = std::move(node.content);
      node.content.reset();
    }
  }
  if (last) {
    std::optional<struct stat> seen;
    const bool pgp_stream = last->sealing();
    if (auto st = last->seal(); !st) {
      report(fs, node, "seal", st.error());
    } else if (pgp_stream) {
      fs.notify_sealed(reinterpret_cast<fuse_ino_t>(&node), last->fd(), last->size());
    } else {
      seen = last->seen_state();
    }
    fs.settle(node, *last);
    fs.remember_size(*last);
    fs.untrack_open(last);
    MutexLock lock(node.m);
    if (node.opens == 0) node.last_seen = seen;
  }
  // Attributes cached for Filesystem::kWriterAttrTimeout: the sealed file's
  // are the daemon's again.
  if (last_writer && fs.writeback_active()) fs.drop_cached_attributes(reinterpret_cast<fuse_ino_t>(&node));
  fs.forget(node, 0);  // frees the inode if the kernel already forgot it
}

int open_backing_rw(const Inode& node, sys::UniqueFd& out) {
  // The backing fd is always read-write: writeback cache sends reads for
  // write-only handles, and never O_APPEND (the kernel supplies offsets).
  out.reset(::open(proc_path(node.fd.get()).c_str(), O_RDWR | O_CLOEXEC));
  return out.valid() ? 0 : errno;
}

// A read of part of a chunk: the daemon has to decrypt the whole chunk to
// authenticate it, so after answering it copies the rest of the chunk into
// the kernel's page cache, and reads nearby (a player seeking) need no round
// trip. Only while no opener may write (Inode::page_fill). False when that
// does not hold and nothing was answered.
bool read_filling_chunk(fuse_req_t req, Filesystem& fs, fuse_ino_t ino, FileContent& content, std::size_t size,
                        std::uint64_t offset) {
  auto chunk = content.enclosing_chunk(offset, size);
  if (!chunk) return false;
  Inode& node = fs.inode(ino);
  if (!node.page_fill.try_lock_shared()) return false;
  SharedLock fill(node.page_fill, kAdoptLock);
  {
    MutexLock lock(node.m);
    if (node.writers != 0) return false;
  }
  thread_local std::vector<std::uint8_t> whole;
  whole.resize(chunk->length);
  auto n = content.read(chunk->offset, whole);
  if (!n) {
    reply::err(req, report(fs, node, "read", n.error()));
    return true;
  }
  const std::span<const std::uint8_t> plain(whole.data(), *n);
  const std::size_t at = std::min(static_cast<std::size_t>(offset - chunk->offset), plain.size());
  const std::size_t len = std::min(size, plain.size() - at);
  reply::buf(req, reinterpret_cast<const char*>(plain.data() + at), len);
  if (fs.metrics()) fs.metrics()->read(node.account, len);
  // After the reply: until then the kernel holds the asked pages locked.
  fs.fill_page_cache(ino, chunk->offset, plain.first(at));
  fs.fill_page_cache(ino, chunk->offset + at + len, plain.subspan(at + len));
  crypto::secure_wipe(whole.data(), whole.size());
  return true;
}

// A reader's first open of a recording of one chunk (the common small
// recording, read back after the kernel forgot it): its whole plaintext is
// in memory, authenticated by the open, so it goes into the kernel's page
// cache before the OPEN reply, and the reader's read() is answered without
// a READ round trip. Only when this open keeps the cache (else the kernel
// would drop the pages at the reply), outside shared mode, and while no
// opener may write (Inode::page_fill, as read_filling_chunk).
void fill_one_chunk(Filesystem& fs, fuse_ino_t ino, FileContent& content, const fuse_file_info* fi) {
  if (!fi->keep_cache || fi->direct_io || fs.options().shared) return;
  const auto size = content.one_chunk_size();
  if (!size) return;
  Inode& node = fs.inode(ino);
  if (!node.page_fill.try_lock_shared()) return;
  SharedLock fill(node.page_fill, kAdoptLock);
  {
    MutexLock lock(node.m);
    if (node.writers != 0) return;
  }
  thread_local std::vector<std::uint8_t> plain;
  plain.resize(*size);
  auto n = content.read(0, plain);
  if (n) fs.fill_page_cache(ino, 0, std::span<const std::uint8_t>(plain).first(*n));
  crypto::secure_wipe(plain.data(), plain.size());
}

// Whether process `pid` holds a descriptor of inode number `ino` (any file
// system: a false match only delays a seal to the last close).
bool holds_descriptor(pid_t pid, ino_t ino) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* dp = ::opendir(dir.c_str());
  if (dp == nullptr) return false;
  bool found = false;
  const std::string want = "ino:\t" + std::to_string(ino) + "\n";
  char buf[512];
  while (!found) {
    dirent* ent = ::readdir(dp);
    if (ent == nullptr) break;
    if (ent->d_name[0] == '.') continue;
    int fd = ::openat(::dirfd(dp), ent->d_name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n > 0 && std::string_view(buf, static_cast<std::size_t>(n)).find(want) != std::string_view::npos) found = true;
  }
  ::closedir(dp);
  return found;
}

// Whether the opening process `opener` still holds another descriptor of
// the file (it dup()ed it and closed one copy). Asked only of the thread
// that opened the file, and only when that thread is the one closing: the
// /proc entries of a process in the middle of exec() cannot be read until
// the FLUSH its exec() sends is answered, and a child that inherited the
// descriptor closes its copy exactly then.
bool opener_holds_another(pid_t opener, ino_t ino) { return opener > 0 && holds_descriptor(opener, ino); }

}  // namespace

bool hold_off_page_fills(Inode& node) { return node.page_fill.try_lock_for(std::chrono::seconds(5)); }

int lock_for_writing(Filesystem& fs, Inode& node, FileContent& content, bool reload, const char* what) {
  if (!fs.options().shared) return 0;
  auto st = content.hold_write_lock(node.account, fs.keys(), reload);
  if (st) return 0;
  if (st.error().code == Errc::conflict) {
    log::warn(std::string(what) + " of " + fs.describe(node) + " refused (EBUSY): " + st.error().message);
    return EBUSY;
  }
  return report(fs, node, what, st.error());
}

void create(fuse_req_t req, fuse_ino_t parent_ino, const char* name, mode_t mode, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  Inode& parent = fs.inode(parent_ino);
  if (&parent == &fs.root()) {
    reply::err(req, EPERM);  // recordings live inside an account directory
    return;
  }
  // The name as it exists (in any form, names.hpp), else the form a new
  // entry takes.
  std::string backing_name;
  int found = existing_name(fs, parent, name, backing_name);
  bool created = false;
  if (found == ENOENT) {
    found = new_name(fs, parent, name, backing_name);
    created = found == 0;
    if (found == EEXIST) found = existing_name(fs, parent, name, backing_name);  // appeared meanwhile
  }
  if (found == 0 && !created && (fi->flags & O_EXCL)) found = EEXIST;
  if (found != 0) {
    reply::err(req, found);
    return;
  }
  int fd = created ? ::openat(parent.fd.get(), backing_name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                              mode & 07777)
                   : -1;
  if (!created || (fd < 0 && errno == EEXIST)) {
    if (fi->flags & O_EXCL) {
      reply::err(req, EEXIST);
      return;
    }
    created = false;  // it exists, or we lost a race with another creator: open theirs
    fd = ::openat(parent.fd.get(), backing_name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    reply::err(req, errno);
    return;
  }
  sys::UniqueFd backing(fd);
  if (fs.options().shared) {
    // Before anything is written: a new recording is locked before its
    // header exists; an existing one another host writes is refused.
    auto taken = sys::try_lock_writer(fd);
    if (!taken || !*taken) {
      if (!taken) {
        // No locks on this file system: nothing may be recorded on it.
        if (created) ::unlinkat(parent.fd.get(), name, 0);
        reply::err(req, report(fs, parent, "create (lock)", taken.error()));
      } else {
        // Another host opened the file in the instant since it was created
        // here: it is theirs now, never unlinked.
        log::warn("create of " + fs.describe(parent) + "/" + name +
                  " refused (EBUSY): another writer (another host's recvaultd, or recvault-fsck) holds the lock on "
                  "the backing file");
        reply::err(req, EBUSY);
      }
      return;
    }
  }
  Result<std::shared_ptr<FileContent>> content = make_error(Errc::internal, "unset");
  if (created) {
    if (int herr = hand_to_caller(req, parent, fd, mode); herr != 0) {
      ::unlinkat(parent.fd.get(), backing_name.c_str(), 0);
      reply::err(req, herr);
      return;
    }
    auto where = fs.placement_in(parent);
    if (where) {
      where->refuse_unconfigured = fs.limits_of(parent.account).refuse_unconfigured;
      content = FileContent::start_new(std::move(backing), parent.account, fs.keys(), fs.options().chunk_size, *where);
    } else {
      content = std::move(where).error();
    }
    if (!content) ::unlinkat(parent.fd.get(), backing_name.c_str(), 0);
  } else {
    content = FileContent::open_existing(std::move(backing), parent.account, fs.keys(), fs.known_files());
  }
  if (!content) {
    reply::err(req, report(fs, parent, "create", content.error()));
    return;
  }
  fuse_entry_param e{};
  int err = fs.lookup_entry(parent, backing_name.c_str(), e, (*content)->size());
  if (err != 0) {
    reply::err(req, err);
    return;
  }
  Inode& node = fs.inode(e.ino);
  const bool writer = may_write(fi);
  if (writer && !admit_writer(fs, node)) {
    fs.forget(node, 1);
    reply::err(req, EBUSY);
    return;
  }
  std::shared_ptr<FileContent> shared = std::move(content).value();
  bool loaded_before = false;
  {
    MutexLock lock(node.m);
    if (node.content) {
      shared = node.content;
      loaded_before = true;
    }
  }
  // The content made here was loaded (or created) under the lock taken above;
  // one already open on this host was not.
  if (int err = writer ? lock_for_writing(fs, node, *shared, loaded_before, "create") : 0; err != 0) {
    retire_writer(node);
    fs.forget(node, 1);
    reply::err(req, err);
    return;
  }
  if (!attach(fs, node, shared, fi, writer, fuse_req_ctx(req)->pid)) {
    if (writer) retire_writer(node);
    fs.forget(node, 1);
    reply::err(req, ESTALE);
    return;
  }
  fs.settle(node, *shared);
  e.attr.st_size = static_cast<off_t>(shared->size());
  e.attr_timeout = fs.attr_timeout_of(node);  // a writer's: Filesystem::kWriterAttrTimeout
  if (reply::create(req, &e, fi) != 0) {
    detach(fs, node, fi);
  } else if (created && fs.metrics()) {
    fs.metrics()->created(parent.account);
  }
}

void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  if (fs.is_writeback_helper(fuse_req_ctx(req)->pid) && !may_write(fi)) {
    fi->fh = fs.adopt_handle(std::make_unique<Handle>(nullptr, false, false));
    fi->keep_cache = 1;  // never drop the writer's dirty pages
    if (reply::open(req, fi) != 0) fs.release_handle(fi->fh);
    return;
  }
  Inode& node = fs.inode(ino);
  std::shared_ptr<FileContent> content;
  {
    MutexLock lock(node.m);
    content = node.content;
  }
  if (!content) {
    sys::UniqueFd backing;
    if (int err = open_backing_rw(node, backing); err != 0) {
      reply::err(req, err);
      return;
    }
    auto opened = FileContent::open_existing(std::move(backing), node.account, fs.keys(), fs.known_files());
    if (!opened) {
      reply::err(req, report(fs, node, "open", opened.error()));
      return;
    }
    content = std::move(opened).value();
    MutexLock lock(node.m);
    if (node.content) content = node.content;  // another opener won the race
  }
  if (content->sealed_pgp() && (fi->flags & O_ACCMODE) != O_RDONLY) {
    reply::err(req, EPERM);  // sealed OpenPGP recordings are immutable
    return;
  }
  const bool writer = may_write(fi);
  if (writer && !admit_writer(fs, node)) {
    reply::err(req, EBUSY);
    return;
  }
  // Loaded before the lock: read again under it.
  if (int err = writer ? lock_for_writing(fs, node, *content, true, "open for writing") : 0; err != 0) {
    retire_writer(node);
    reply::err(req, err);
    return;
  }
  if (fi->flags & O_TRUNC) {
    bool alone = false;
    {
      MutexLock lock(node.m);
      alone = node.opens == 0;
    }
    // Truncating to zero starts a new recording under the current key (an
    // OpenPGP stream still being written starts its message again).
    Status st;
    if (alone || content->sealing()) {
      auto where = fs.placement_of(node);
      if (where) where->refuse_unconfigured = fs.limits_of(node.account).refuse_unconfigured;
      st = where ? content->restart(node.account, fs.keys(), fs.options().chunk_size, *where)
                 : Status(std::move(where).error());
    } else {
      st = content->truncate(0);
    }
    if (!st) {
      if (writer) retire_writer(node);
      reply::err(req, report(fs, node, "open(O_TRUNC)", st.error()));
      return;
    }
  }
  bool first = false;
  if (!attach(fs, node, content, fi, writer, fuse_req_ctx(req)->pid, &first)) {
    if (writer) retire_writer(node);
    reply::err(req, ESTALE);
    return;
  }
  if (first && !writer) fill_one_chunk(fs, ino, *content, fi);
  if (reply::open(req, fi) != 0) detach(fs, node, fi);
}

void read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t offset, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  if (handle_of(fi).observer()) {
    reply::err(req, EBADF);
    return;
  }
  if (read_filling_chunk(req, fs, ino, *handle_of(fi).content, size, static_cast<std::uint64_t>(offset))) return;
  thread_local std::vector<std::uint8_t> buf;
  buf.resize(size);
  auto n = handle_of(fi).content->read(static_cast<std::uint64_t>(offset), buf);
  if (!n) {
    reply::err(req, report(fs, fs.inode(ino), "read", n.error()));
    return;
  }
  reply::buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  crypto::secure_wipe(buf.data(), *n);
  if (fs.metrics()) fs.metrics()->read(fs.inode(ino).account, *n);
}

void write(fuse_req_t req, fuse_ino_t ino, const char* data, std::size_t size, off_t offset, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  Handle& h = handle_of(fi);
  if (h.observer()) {
    reply::err(req, EBADF);
    return;
  }
  Inode& node = fs.inode(ino);
  std::uint64_t at = static_cast<std::uint64_t>(offset);
  const std::uint64_t old_size = h.content->size();
  if (h.append && !fs.writeback_active()) at = old_size;
  if (at + size > old_size && !fs.quotas().admits(node.account, at + size - old_size)) {
    log::warn("write to " + fs.describe(node) + " refused: account " + node.account + " is at its quota");
    reply::err(req, EDQUOT);
    return;
  }
  // An OpenPGP stream's write ahead of the end waits for the writes before
  // it, holding this worker: only within the account's budget.
  const bool waits = at > old_size && h.content->sealing();
  std::optional<WaitBudget::Ticket> may_wait = waits ? fs.waits().try_take(node.account) : std::nullopt;
  if (waits) {
    if (!may_wait) {
      if (log::level() == log::Level::debug) {
        log::debug("write ahead of the end of " + fs.describe(node) + " refused: account " + node.account +
                   " already holds its share of waiting workers");
      }
      reply::err(req, EINVAL);
      return;
    }
  }
  auto st = h.content->write(at, std::span(reinterpret_cast<const std::uint8_t*>(data), size),
                             fs.writeback_active() && !h.content->sealing());
  may_wait.reset();
  fs.settle(node, *h.content);
  if (!st) {
    reply::err(req, report(fs, node, "write", st.error()));
    return;
  }
  reply::write(req, size);
  if (fs.metrics()) fs.metrics()->wrote(node.account, size);
}

void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  // close(2) of one descriptor: the data reaches the backing file now, and if
  // this is the only opener the recording is sealed, so a crash after close()
  // returns cannot leave it unterminated.
  auto& fs = fs_of(req);
  if (handle_of(fi).observer()) {
    reply::err(req, 0);
    return;
  }
  Inode& node = fs.inode(ino);
  bool only = false;
  {
    MutexLock lock(node.m);
    only = node.opens == 1;
  }
  FileContent& c = *handle_of(fi).content;
  const bool pgp_stream = only && c.sealing();
  const pid_t closer = fuse_req_ctx(req)->pid;
  const bool by_opener = closer == handle_of(fi).opener;
  // A shell redirection (and dd) opens the file, dup2()s the descriptor and
  // closes the original before the first byte: that FLUSH is not the end of
  // the recording, and an OpenPGP message cannot be reopened once finished.
  // An empty stream is finished at RELEASE (the last close) instead.
  // Likewise when another process closes its copy (a subshell's commands
  // write in turn; a child's exec() or exit()), or the opener closes one of
  // its dup()s.
  if (pgp_stream && (c.size() == 0 || !by_opener || opener_holds_another(closer, node.src_ino))) {
    reply::err(req, 0);
    return;
  }
  // Every recording: a child process (fork, posix_spawn, popen, system)
  // gets a copy of its parent's descriptors, and its exit, or its exec for
  // close-on-exec ones, closes that copy: a FLUSH while the recorder writes
  // on. Sealing then would mark a live recording complete on disk (another
  // host of a shared store reads it so: docs/CLUSTER.md) until the next
  // write unsealed it. So only the opening thread's close seals; any other
  // close flushes, and the seal comes at RELEASE (the last close of every
  // copy). The closer's /proc entries cannot tell more here: a process in
  // exec holds locks that reading them needs while it waits for this FLUSH.
  const bool ends = only && (!c.may_seal() || by_opener);
  auto st = ends ? c.seal() : c.flush();
  if (st && pgp_stream) fs.notify_sealed(ino, c.fd(), c.size());
  reply::err(req, st ? 0 : report(fs, node, "flush", st.error()));
}

void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  if (handle_of(fi).observer()) {
    reply::err(req, 0);  // the helper never asks; its writer's pages are not its own
    return;
  }
  auto st = handle_of(fi).content->fsync(datasync != 0);
  fs.settle(fs.inode(ino), *handle_of(fi).content);
  reply::err(req, st ? 0 : report(fs, fs.inode(ino), "fsync", st.error()));
}

void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& fs = fs_of(req);
  if (handle_of(fi).observer()) {
    fs.release_handle(fi->fh);
    reply::err(req, 0);
    return;
  }
  detach(fs, fs.inode(ino), fi);
  reply::err(req, 0);
}

void fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) { reply::err(req, EOPNOTSUPP); }

}  // namespace recvault::fuse::ops

// The inodes the kernel knows: each Inode stands for one backing file and
// owns an O_PATH fd of it; the fuse_ino_t the kernel holds is the Inode's
// address (the root is FUSE_ROOT_ID). An Inode lives while the kernel counts
// lookups of it (forget) or it is open.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "recvault/fuse/file_content.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/mutex.hpp"
#include "recvault/util/result.hpp"

namespace recvault::fuse {

struct Inode {
  sys::UniqueFd fd;  // O_PATH | O_NOFOLLOW
  ino_t src_ino = 0;
  dev_t src_dev = 0;
  mode_t type = 0;      // S_IFMT bits
  std::string account;  // empty for the root
  std::atomic<std::uint64_t> nlookup{0};

  // Regular files: a read of part of a chunk puts the rest of the decrypted
  // chunk into the kernel's page cache (Filesystem::fill_page_cache). That
  // is only sound while nothing can dirty those pages: fills hold this
  // shared and run only when `writers` is 0; admitting a writer or changing
  // the size holds it exclusive, so it waits for fills in progress.
  // Lock order (docs/ARCHITECTURE.md "Locks"): page_fill, then m.
  SharedMutex page_fill RV_ACQUIRED_BEFORE(m);

  Mutex m;
  std::shared_ptr<FileContent> content RV_GUARDED_BY(m);  // while open
  unsigned opens RV_GUARDED_BY(m) = 0;
  unsigned writers RV_GUARDED_BY(m) = 0;  // open handles that may write (admitted under page_fill)
  // Directories: the OpenPGP override that applies inside, as of
  // Filesystem's placement generation `placement_generation` (0: unknown).
  std::uint64_t placement_generation RV_GUARDED_BY(m) = 0;
  std::string placement_key RV_GUARDED_BY(m);
  // Regular files: the backing file as the view's page cache last saw it
  // (FileContent::seen_state at the last close). An open that finds the
  // backing file exactly so (ino, size, mtime, ctime) keeps the kernel's
  // cached pages (FOPEN_KEEP_CACHE); any other open drops them.
  std::optional<struct stat> last_seen RV_GUARDED_BY(m);
  // Regular files: an opener was attached once. Until then the kernel has
  // no page of this inode (pages come only through open handles), so the
  // first open may keep its (empty) cache and fill it (ops_file.cpp).
  bool opened_before RV_GUARDED_BY(m) = false;
  // Directories: the name IV (names.hpp) once read; it never changes.
  std::optional<std::array<std::uint8_t, 16>> dir_iv RV_GUARDED_BY(m);

  // The content while open (null otherwise), taken under m.
  std::shared_ptr<FileContent> open_content() RV_EXCLUDES(m) {
    MutexLock lock(m);
    return content;
  }

  Inode() = default;
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;
};

// Every Inode but the root, by the backing file's (st_dev, st_ino): a backing
// file seen under two names (hard links) is one Inode.
class InodeTable {
 public:
  InodeTable() { root_.nlookup = 2; }  // the root is never forgotten
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  Inode& root() noexcept { return root_; }
  const Inode& root() const noexcept { return root_; }
  Inode& operator[](fuse_ino_t ino) noexcept { return ino == FUSE_ROOT_ID ? root_ : *reinterpret_cast<Inode*>(ino); }
  static fuse_ino_t ino_of(Inode& node) noexcept { return reinterpret_cast<fuse_ino_t>(&node); }

  // The Inode of the backing file `st` describes, made from `make` if there
  // is none yet (`make` gets the fresh Inode to fill); counts one lookup.
  Inode& find_or_add(const struct stat& st, const std::function<void(Inode&)>& make) RV_EXCLUDES(mutex_);
  // The kernel forgot `n` lookups (0: it may have forgotten it before it was
  // closed): the Inode goes once no lookup remains and it is not open.
  void forget(Inode& node, std::uint64_t n) RV_EXCLUDES(mutex_);
  // Runs `fn` on every Inode but the root, under the table's lock: `fn` may
  // take Inode::m (the order of docs/ARCHITECTURE.md "Locks"), nothing else.
  void for_each(const std::function<void(Inode&)>& fn) RV_EXCLUDES(mutex_);
  // Whether the Inode of backing file (dev, ino), if any, is open.
  bool is_open(dev_t dev, ino_t ino) RV_EXCLUDES(mutex_);
  // The backing file `old` (dev, ino) is being replaced by another file
  // under its name (a re-encryption, daemon/reencrypt.hpp): runs `swap` under
  // the table's lock with the Inode of `old` (null when the kernel knows
  // none), so no lookup adds or forgets it meanwhile. `swap` may take the
  // Inode's page_fill and m, nothing else; when it returns the new file's
  // stat, the Inode (if any) is keyed by the new file from then on.
  Status replace(const struct stat& old, const std::function<Result<struct stat>(Inode*)>& swap) RV_EXCLUDES(mutex_);

 private:
  Inode root_;
  // Lock order: mutex_, then Inode::m.
  Mutex mutex_;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Inode>> inodes_ RV_GUARDED_BY(mutex_);
};

}  // namespace recvault::fuse

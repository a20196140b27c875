// The FUSE filesystem: a per-account plaintext view of the backing directory.
//
//   <mount>/<account>/path  <->  <backing>/<account>/path
//
// Built on the libfuse3 low-level API. The fuse_ino_t of an inode is the
// address of its Inode (root is FUSE_ROOT_ID); each Inode owns an O_PATH fd
// of its backing file. Regular files that are open share one FileContent per
// inode, so a reader sees what a writer has written, buffered or not.
//
// Threading: handlers run on libfuse's worker threads; the tail flusher runs
// on its own thread. Lock order: InodeTable::mutex_ -> Inode::m ->
// FileContent's mutex; the handle table's mutex is taken alone. No lock is
// held across fuse_reply_*.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "recvault/fuse/file_content.hpp"
#include "recvault/fuse/metrics.hpp"
#include "recvault/fuse/operation.hpp"
#include "recvault/fuse/quota.hpp"
#include "recvault/fuse/wait_budget.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::fuse {

struct Inode {
  sys::UniqueFd fd;  // O_PATH | O_NOFOLLOW
  ino_t src_ino = 0;
  dev_t src_dev = 0;
  mode_t type = 0;      // S_IFMT bits
  std::string account;  // empty for the root
  std::atomic<std::uint64_t> nlookup{0};

  std::mutex m;  // guards the members below
  std::shared_ptr<FileContent> content;  // while open
  unsigned opens = 0;
  unsigned writers = 0;  // open handles that may write (admitted under page_fill)
  // Directories: the OpenPGP override that applies inside, as of
  // Filesystem's placement generation `placement_generation` (0: unknown).
  std::uint64_t placement_generation = 0;
  std::string placement_key;
  // Regular files not open: the plaintext size getattr computed last, valid
  // while the backing file's size, mtime and ctime are those it was
  // computed from (so a stat needs no open and no header read).
  struct SizeMemo {
    off_t backing_size = -1;
    struct timespec mtime {}, ctime {};
    std::uint64_t plaintext = 0;
  } size_memo;

  // Regular files: a read of part of a chunk puts the rest of the decrypted
  // chunk into the kernel's page cache (Filesystem::fill_page_cache). That
  // is only sound while nothing can dirty those pages: fills hold this
  // shared and run only when `writers` is 0; admitting a writer or changing
  // the size holds it exclusive, so it waits for fills in progress.
  std::shared_timed_mutex page_fill;

  Inode() = default;
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;
};

// What the kernel holds as fuse_file_info::fh: an open file (ops_file.cpp)
// or directory (ops_dir.cpp). Owned by the Filesystem (adopt_handle).
struct OpenHandle {
  virtual ~OpenHandle() = default;
};

// Who owns an account's directory in the backing root, and its mode.
struct DirectoryOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0750;
};

struct FsOptions {
  std::filesystem::path backing_dir;
  std::uint32_t chunk_size = 64 * 1024;
  std::chrono::milliseconds tail_flush_interval{1000};
  double attr_timeout = 1.0;
  bool writeback_cache = true;
  bool view_xattrs = false;  // see ops_xattr.cpp for why this is off by default
  std::function<DirectoryOwner(std::string_view)> owner_of;
  // Seals recordings to client OpenPGP keys; null: such recordings cannot be
  // created (fail closed). Not owned; must outlive the Filesystem.
  pgp::Sealer* sealer = nullptr;
  // Per-account quota and policy (quota.hpp); unset: no limits.
  std::function<AccountLimits(std::string_view)> limits_of;
  // Workers one account may hold in a wait at once (wait_budget.hpp); the
  // daemon gives a quarter of [fuse] max_threads.
  unsigned waits_per_account = 4;
  // Counts requests, bytes and errors (metrics.hpp); null: nothing counted.
  // Not owned; must outlive the Filesystem.
  FsMetrics* metrics = nullptr;
  // Told of every request once answered (operation.hpp); unset: nothing.
  RequestObserver on_request;
};

class Filesystem {
 public:
  Filesystem(FsOptions options, keystore::KeyCache& keys);
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // Opens the backing root. Must succeed before mounting.
  Status open_backing();
  // Creates <backing>/<account> with its configured owner and mode if absent.
  Status ensure_account_dir(const std::string& account);
  // The account directories of the backing root, sorted.
  std::vector<std::string> accounts() const;

  static const fuse_lowlevel_ops& operations();

  // The tail flusher: writes buffered tails of open files every interval.
  void start_flusher();
  void stop_flusher();
  // Seals every open file (shutdown). Returns how many were sealed.
  std::size_t seal_all();
  // Paths, relative to the backing root and starting with '/', of the
  // regular files open now (for the shutdown hand-over, daemon/shutdown.hpp).
  std::vector<std::string> open_paths();
  // Regular files open now, per account (metrics, GET /v1/status), and of
  // those the ones being sealed to an OpenPGP key.
  struct OpenCount {
    std::uint64_t files = 0;
    std::uint64_t sealing = 0;
  };
  std::map<std::string, OpenCount> open_per_account();
  FsMetrics* metrics() const noexcept { return options_.metrics; }

  // --- open handles -------------------------------------------------------
  // The kernel sends no RELEASE (RELEASEDIR) for what is still open at
  // unmount, so every handle given to the kernel stays owned here.
  // Takes `h`; returns the fuse_file_info::fh that stands for it.
  std::uint64_t adopt_handle(std::unique_ptr<OpenHandle> h);
  // RELEASE / RELEASEDIR, or a reply that failed: the caller owns it again.
  std::unique_ptr<OpenHandle> release_handle(std::uint64_t fh);
  // Frees the handles never released; returns how many. Only once no handler
  // can run any more: the FUSE session is destroyed (also done by ~Filesystem).
  std::size_t free_outstanding_handles();
  static OpenHandle& handle(std::uint64_t fh) noexcept { return *reinterpret_cast<OpenHandle*>(fh); }

  // --- used by the handlers ------------------------------------------------
  Inode& inode(fuse_ino_t ino) noexcept;
  Inode& root() noexcept { return root_; }
  const FsOptions& options() const noexcept { return options_; }
  // Whether the kernel accepted writeback caching (it then supplies offsets
  // for O_APPEND writes itself).
  bool writeback_active() const noexcept { return writeback_active_.load(std::memory_order_relaxed); }
  void set_writeback_active(bool on) noexcept { writeback_active_.store(on, std::memory_order_relaxed); }
  keystore::KeyCache& keys() noexcept { return keys_; }
  // Valid once open_backing() succeeded.
  Quotas& quotas() noexcept { return *quotas_; }
  AccountLimits limits_of(std::string_view account) const { return quotas_->limits_of(account); }
  WaitBudget& waits() noexcept { return waits_; }
  // Charges the account of `node` with what `content`'s backing file
  // allocated (or freed) since the last time.
  void settle(const Inode& node, FileContent& content) { quotas_->charge(node.account, content.allocation_change()); }
  // Looks `name` up under `parent` and counts a lookup. Fills `e`. A caller
  // that knows the plaintext size (a file it just created) passes it, which
  // spares reading the new file's header back.
  int lookup_entry(Inode& parent, const char* name, fuse_entry_param& e,
                   std::optional<std::uint64_t> known_size = std::nullopt);
  void forget(Inode& inode, std::uint64_t n);
  // stat of the backing inode with the plaintext size filled in.
  int stat_inode(Inode& inode, struct stat& st);
  // Replaces a regular file's backing size in `st` by its plaintext size.
  int fill_plaintext_size(Inode& inode, struct stat& st);
  // Marks open content for the flusher and the shutdown seal.
  void track_open(const std::shared_ptr<FileContent>& c);
  void untrack_open(const std::shared_ptr<FileContent>& c);
  // Path of an inode relative to the backing root, for log lines.
  std::string describe(const Inode& inode) const;

  // --- OpenPGP placement (pgp_placement.cpp, docs/OPENPGP.md) --------------
  // The session, for kernel cache notifications once a recording is sealed.
  void set_session(fuse_session* se) noexcept { session_.store(se); }
  // Copies `data` into the kernel's page cache of `ino` at `offset` (a FUSE
  // store notification). Only for content the kernel cannot hold dirty: see
  // Inode::page_fill. False when there is no session or the kernel refused.
  bool fill_page_cache(fuse_ino_t ino, std::uint64_t offset, std::span<const std::uint8_t> data);
  // Where a new recording in directory `dir_fd` (O_PATH) goes: the sealer and
  // the nearest directory override up to the account directory.
  Result<Placement> placement_in(int dir_fd);
  // The same for a directory inode, remembered until an override is set or
  // removed or a directory moves (the walk up costs ~10 system calls).
  Result<Placement> placement_in(Inode& dir);
  // An entry moved to another directory: cached placements may be stale.
  void ancestry_changed() noexcept { placement_generation_.fetch_add(1); }
  // The same for the directory holding regular file `node`.
  Result<Placement> placement_of(const Inode& node);
  // Sets (or with an empty value removes) the directory override of
  // `dir`, after checking the key belongs to its account and can encrypt.
  Status set_directory_key(Inode& dir, std::string_view public_key_id);
  // Runs `fn` while no directory override can change: deleting a key checks
  // "no directory uses it" and deletes under this lock.
  Status with_directory_keys_locked(const std::function<Status()>& fn);
  // Directories of `account` (relative paths) whose override is `public_key_id`.
  Result<std::vector<std::string>> directories_using(const std::string& account, std::string_view public_key_id);
  // A recording of `ino` was sealed into `fd`: its size is now the message's.
  void notify_sealed(fuse_ino_t ino, int fd, std::uint64_t size);

 private:
  void flusher_loop();

  FsOptions options_;
  keystore::KeyCache& keys_;
  std::atomic<bool> writeback_active_{false};
  Inode root_;
  std::unique_ptr<Quotas> quotas_;
  WaitBudget waits_;
  std::mutex mutex_;  // guards inodes_
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Inode>> inodes_;

  std::mutex handles_mutex_;  // guards handles_
  std::unordered_map<OpenHandle*, std::unique_ptr<OpenHandle>> handles_;

  std::mutex open_mutex_;  // guards open_
  std::set<std::shared_ptr<FileContent>> open_;

  std::atomic<fuse_session*> session_{nullptr};
  std::mutex directory_keys_mutex_;  // see with_directory_keys_locked
  std::atomic<std::uint64_t> placement_generation_{1};

  std::mutex flusher_mutex_;
  std::condition_variable flusher_cv_;
  bool flusher_stop_ = false;
  std::thread flusher_;
};

// The Filesystem behind a request.
inline Filesystem& fs_of(fuse_req_t req) { return *static_cast<Filesystem*>(fuse_req_userdata(req)); }

}  // namespace recvault::fuse

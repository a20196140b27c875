// The FUSE filesystem: a per-account plaintext view of the backing directory.
//
//   <mount>/<account>/path  <->  <backing>/<account>/path
//
// Built on the libfuse3 low-level API. Regular files that are open share one
// FileContent per inode, so a reader sees what a writer has written,
// buffered or not.
//
// Filesystem is the facade the handlers (src/fuse/ops_*.cpp) see; it holds
// the parts, each with its own header: the inode table (inode.hpp), the
// handle table (handle_table.hpp), the open recordings and their tail
// flusher (open_files.hpp), quotas (quota.hpp), per-account wait budgets
// (wait_budget.hpp) and placement (placement.hpp; the daemon decides
// directory keys through DirectoryKeyPolicy).
//
// Threading and lock order: docs/ARCHITECTURE.md "Threads" and "Locks";
// each mutex says there and in its declaration what is taken before it.
// No lock is held across a reply to the kernel.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "recvault/fuse/file_content.hpp"
#include "recvault/fuse/handle_table.hpp"
#include "recvault/fuse/inode.hpp"
#include "recvault/fuse/metrics.hpp"
#include "recvault/fuse/names.hpp"
#include "recvault/fuse/open_files.hpp"
#include "recvault/fuse/operation.hpp"
#include "recvault/fuse/placement.hpp"
#include "recvault/fuse/quota.hpp"
#include "recvault/fuse/size_memo.hpp"
#include "recvault/fuse/wait_budget.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::fuse {

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
  // Other hosts write the backing directory too ([storage] shared,
  // docs/CLUSTER.md "Shared backing storage"): writers lock the backing
  // file, and the kernel's page cache is dropped at every open.
  bool shared = false;
  std::function<DirectoryOwner(std::string_view)> owner_of;
  // Seals recordings to client OpenPGP keys; null: such recordings cannot be
  // created (fail closed). Not owned; must outlive the Filesystem.
  pgp::Sealer* sealer = nullptr;
  // Decides directory key overrides; null: directories take none
  // (Errc::unsupported). Not owned; must outlive the Filesystem.
  DirectoryKeyPolicy* directory_keys = nullptr;
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
  void start_flusher() { open_files_.start_flusher(); }
  void stop_flusher() { open_files_.stop_flusher(); }
  // Seals every open file (shutdown). Returns how many were sealed.
  std::size_t seal_all() { return open_files_.seal_all(); }
  // Paths, relative to the backing root and starting with '/', of the
  // regular files open now (for the shutdown hand-over, daemon/shutdown.hpp).
  std::vector<std::string> open_paths();
  // The node ids (fuse_ino_t) of the regular files open for writing through
  // the page cache now, sorted (the writeback helper, daemon/mount_sync.hpp).
  std::vector<std::uint64_t> writing_files();
  // The attribute timeout of a GETATTR answer for `node`: the configured
  // one, but kWriterAttrTimeout for a regular file open for writing through
  // the kernel's writeback cache (its size and times are the kernel's own
  // then; each expiry costs the writer's next write() a GETATTR round trip).
  // When its last writer goes, the kernel's attributes are dropped
  // (drop_cached_attributes).
  static constexpr double kWriterAttrTimeout = 30.0;
  double attr_timeout_of(Inode& node);
  void drop_cached_attributes(fuse_ino_t ino);
  // The writeback helper's process (0: none). Its opens are observers: no
  // content loaded, not counted as openers, so they never delay a seal.
  void set_writeback_helper(pid_t pid) noexcept { writeback_helper_.store(pid); }
  bool is_writeback_helper(pid_t pid) const noexcept { return pid > 0 && pid == writeback_helper_.load(); }
  // Regular files open now, per account (metrics, GET /v1/status), and of
  // those the ones being sealed to an OpenPGP key.
  struct OpenCount {
    std::uint64_t files = 0;
    std::uint64_t sealing = 0;
  };
  std::map<std::string, OpenCount> open_per_account();
  FsMetrics* metrics() const noexcept { return options_.metrics; }

  // --- re-encryption (daemon/reencrypt.hpp) --------------------------------
  enum class Replaced {
    done,     // the new file is in place
    busy,     // open through this daemon (or being admitted): try later
    changed,  // the file under `name` is not `old` as it was: read it again
  };
  // Renames `tmp_name` over `name` in backing directory `dir_fd`, where
  // `name` was `old` (the fstat the caller made before copying it): the last
  // step of rewriting a recording. Refused (busy) while the recording is
  // open through this daemon, and (changed) when the file under `name` is
  // another inode or changed size, mtime or ctime since. The Inode the
  // kernel holds then stands for the new file: its O_PATH fd is replaced in
  // place (dup3 on the same number, so a handler that read the number sees
  // the old file or the new one, never a closed fd), its size memo dropped,
  // and the kernel's cached attributes and pages dropped. An opener that
  // reached the old file just before is refused with ESTALE
  // (ops::attach), which makes the kernel look the name up again.
  // Whether the backing file `st` is open through this daemon now.
  bool is_open(const struct stat& st);
  Result<Replaced> replace_backing(int dir_fd, const std::string& name, const std::string& tmp_name,
                                   const struct stat& old);
  // --- open handles (handle_table.hpp) -------------------------------------
  std::uint64_t adopt_handle(std::unique_ptr<OpenHandle> h) { return handles_.adopt(std::move(h)); }
  std::unique_ptr<OpenHandle> release_handle(std::uint64_t fh) { return handles_.release(fh); }
  // Also done by ~Filesystem.
  std::size_t free_outstanding_handles() { return handles_.free_outstanding(); }
  static OpenHandle& handle(std::uint64_t fh) noexcept { return HandleTable::of(fh); }

  // --- used by the handlers ------------------------------------------------
  Inode& inode(fuse_ino_t ino) noexcept { return inodes_[ino]; }
  Inode& root() noexcept { return inodes_.root(); }
  const Inode& root() const noexcept { return inodes_.root(); }
  const FsOptions& options() const noexcept { return options_; }
  // Whether the kernel accepted writeback caching (it then supplies offsets
  // for O_APPEND writes itself).
  bool writeback_active() const noexcept { return writeback_active_.load(std::memory_order_relaxed); }
  void set_writeback_active(bool on) noexcept { writeback_active_.store(on, std::memory_order_relaxed); }
  keystore::KeyCache& keys() noexcept { return keys_; }
  // Plaintext names to backing names and back (names.hpp).
  NameLayer& names() noexcept { return names_; }
  // Valid once open_backing() succeeded.
  Quotas& quotas() noexcept { return *quotas_; }
  AccountLimits limits_of(std::string_view account) const { return quotas_->limits_of(account); }
  WaitBudget& waits() noexcept { return waits_; }
  // Charges the account of `node` with what `content`'s backing file
  // allocated (or freed) since the last time.
  void settle(const Inode& node, FileContent& content) { quotas_->charge(node.account, content.allocation_change()); }
  // Looks backing entry `name` up under `parent` (at the root: an account;
  // elsewhere the backing name, names.hpp) and counts a lookup. Fills `e`. A caller
  // that knows the plaintext size (a file it just created) passes it, which
  // spares reading the new file's header back.
  int lookup_entry(Inode& parent, const char* name, fuse_entry_param& e,
                   std::optional<std::uint64_t> known_size = std::nullopt);
  void forget(Inode& inode, std::uint64_t n) { inodes_.forget(inode, n); }
  // stat of the backing inode with the plaintext size filled in.
  int stat_inode(Inode& inode, struct stat& st);
  // Replaces a regular file's backing size in `st` by its plaintext size
  // (a symlink's by its plaintext target's length).
  int fill_plaintext_size(Inode& inode, struct stat& st);
  // The last opener closed `content`: if it sealed an encrypted recording,
  // the plaintext size goes into the memo, so that the next lookup, after
  // the kernel forgot the inode, reads no header (SizeMemo), and the next
  // open reads no xattr (the daemon wrote them).
  void remember_size(FileContent& content);
  // The memo for FileContent::open_existing; none in shared mode, where
  // another host's change to a file is seen only through its ctime on the
  // network file system.
  SizeMemo* known_files() noexcept { return options_.shared ? nullptr : &size_memo_; }
  // Marks open content for the flusher and the shutdown seal.
  void track_open(const std::shared_ptr<FileContent>& c) { open_files_.track(c); }
  void untrack_open(const std::shared_ptr<FileContent>& c) { open_files_.untrack(c); }
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
  // `dir`, if FsOptions::directory_keys allows it.
  Status set_directory_key(Inode& dir, std::string_view public_key_id);
  // A recording of `ino` was sealed into `fd`: its size is now the message's.
  void notify_sealed(fuse_ino_t ino, int fd, std::uint64_t size);

 private:
  FsOptions options_;
  keystore::KeyCache& keys_;
  NameLayer names_{keys_};
  std::atomic<bool> writeback_active_{false};
  std::atomic<pid_t> writeback_helper_{0};
  InodeTable inodes_;
  std::unique_ptr<Quotas> quotas_;
  WaitBudget waits_;
  HandleTable handles_;
  OpenFiles open_files_;
  SizeMemo size_memo_;
  std::atomic<fuse_session*> session_{nullptr};
  std::atomic<std::uint64_t> placement_generation_{1};
};

// The Filesystem behind a request.
inline Filesystem& fs_of(fuse_req_t req) { return *static_cast<Filesystem*>(fuse_req_userdata(req)); }

}  // namespace recvault::fuse

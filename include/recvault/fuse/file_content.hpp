// FileContent: the plaintext content of one regular file while it is open,
// shared by every handle on that inode. All members lock internally and may
// be called from any FUSE thread.
//
// One state per kind of content, each a type of its own (State below):
//
//   Plain      written while the account had encryption off: bytes as they are
//   Encrypted  format::EncryptedFile (docs/FORMAT.md)
//   Sealing    an OpenPGP message being written (docs/OPENPGP.md): an
//              append-only stream into GPGME, unreadable
//   SealedPgp  a complete OpenPGP message: read-only ciphertext
//
//   start_new, restart ──► Plain | Encrypted | Sealing   (the account's config, the directory key)
//   open_existing      ──► Plain | Encrypted | SealedPgp (an OpenPGP message is never resumed)
//   Sealing ──seal()──► SealedPgp
//   restart (O_TRUNC) from Plain, Encrypted or Sealing starts again; SealedPgp refuses it.
#pragma once

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "recvault/format/encrypted_file.hpp"
#include "recvault/fuse/placement.hpp"
#include "recvault/fuse/size_memo.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/pgp/sealer.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

class FileContent {
 public:
  enum class Kind { plain, encrypted, pgp };

  // Takes over `fd` (the backing file, O_RDWR) and detects what it holds.
  // Errc::tampered when xattrs say "encrypted" but the header is missing.
  // With `known`, xattrs it vouches for are not read again, and a sealed
  // recording whose xattrs were compared goes into it (SizeMemo).
  static Result<std::shared_ptr<FileContent>> open_existing(sys::UniqueFd fd, const std::string& account,
                                                            keystore::KeyCache& keys, SizeMemo* known = nullptr);
  // Makes `fd` (an empty backing file) a new recording under the account's
  // current configuration: encrypted with the current key version, or plain.
  static Result<std::shared_ptr<FileContent>> start_new(sys::UniqueFd fd, const std::string& account,
                                                        keystore::KeyCache& keys, std::uint32_t chunk_size,
                                                        const Placement& where = {});

  Kind kind() const noexcept { return kind_.load(std::memory_order_relaxed); }
  std::uint64_t size();
  Result<std::size_t> read(std::uint64_t offset, std::span<std::uint8_t> out);
  // The chunk that a read of [offset, offset + length) has to decrypt whole
  // anyway, when the range is smaller than it and inside it, and the chunk
  // is complete and before the tail. nullopt otherwise (also for plain and
  // OpenPGP files).
  struct Extent {
    std::uint64_t offset = 0;
    std::size_t length = 0;
  };
  std::optional<Extent> enclosing_chunk(std::uint64_t offset, std::size_t length);
  // The plaintext size of an encrypted recording of one chunk (1 byte up to
  // the chunk size), whose whole plaintext is its tail, held in memory since
  // open() authenticated it; nullopt for anything else.
  std::optional<std::size_t> one_chunk_size();
  // `kernel_keeps_times`: the write is the kernel's writeback of its page
  // cache, which owns the file's times and sends them itself (pin_times);
  // otherwise a write is the caller's and ends pinned times.
  Status write(std::uint64_t offset, std::span<const std::uint8_t> in, bool kernel_keeps_times = false);
  Status truncate(std::uint64_t size);
  // Discards the content and starts a new recording (open with O_TRUNC):
  // it gets the account's current key version, not the old one.
  Status restart(const std::string& account, keystore::KeyCache& keys, std::uint32_t chunk_size,
                 const Placement& where = {});
  // Shared backing storage (docs/CLUSTER.md "Shared backing storage"): takes
  // the writer's lock on the backing file (sys::try_lock_writer) for this
  // content, once; Errc::conflict when another host (or process) holds it.
  // A content loaded before the lock was taken (`reload`) is read again from
  // the backing file under the lock: its last writer may have been another
  // host, which has written since.
  Status hold_write_lock(const std::string& account, keystore::KeyCache& keys, bool reload);
  // Shared backing storage: a content no writer was admitted to here (a
  // reader's) loads its state again when the backing file's size or mtime
  // changed since it was loaded (another host wrote), so a reader that keeps
  // the file open sees the recording grow. One fstat; nothing for a writer's.
  Status refresh_if_changed(const std::string& account, keystore::KeyCache& keys);
  // Buffered tail to disk (no fsync). Cheap when nothing is buffered. A
  // content no writer was admitted to (see seal) is never written: not even
  // to drop a torn last record, which may be a writer's on another host.
  Status flush();
  Status fsync(bool datasync);
  // Marks the recording complete (final chunk, sealed header), but only once
  // something may have written it: a new recording, an opener that may
  // write (note_writer), a write or a truncate. A reader's close never
  // rewrites a recording, so an unterminated one stays exactly as its
  // writer left it (docs/RELIABILITY.md §3).
  Status seal();
  // What the backing file looked like right after this content last sealed
  // an encrypted recording (one fstat, under the lock that every change of
  // this content takes), and the plaintext size it then had: a pair that
  // cannot mix an older size with a newer stat (SizeMemo). Null when this
  // content never sealed anything.
  struct SealedState {
    struct stat backing;
    std::uint64_t plaintext;
  };
  std::optional<SealedState> sealed_state();
  // The backing file as the kernel's page cache of the view last saw it
  // through this content: as loaded by a content no writer was admitted to,
  // as sealed by one that was (null when that seal failed, or the recording
  // is not encrypted). Inode::last_seen, FOPEN_KEEP_CACHE.
  std::optional<struct stat> seen_state();
  // The backing file when the content was loaded (open_existing).
  struct stat loaded_state();
  // An opener that may write was admitted.
  void note_writer() noexcept { may_seal_.store(true, std::memory_order_relaxed); }
  // Whether a writer opened it on this host (seal() has work to do).
  bool may_seal() const noexcept { return may_seal_.load(std::memory_order_relaxed); }
  // Sets the backing file's times (futimens semantics, UTIME_NOW and
  // UTIME_OMIT included) and pins them: they are the recording's until the
  // next write or truncate by a caller, so the daemon's own later writes
  // (tail flush, seal, the end of an OpenPGP message) put them back. This
  // is how `cp -a`, `rsync -a` and `tar -x` keep a recording's mtime.
  // Returns an errno.
  int set_times(const struct timespec times[2]);
  bool dirty();
  int fd() const noexcept { return fd_.get(); }
  // How much more (or less) the backing file allocates than when this was
  // last asked (or when the content was opened): what to charge the
  // account's quota. One fstat.
  std::int64_t allocation_change();
  // An OpenPGP recording still being written (reads are refused).
  bool sealing();
  // A sealed OpenPGP recording (immutable ciphertext).
  bool sealed_pgp();

 private:
  // Backing files up to this size are read ahead whole when loaded: one disk
  // request instead of one each for the magic, the header and the last record.
  static constexpr off_t kReadWholeUpTo = 256 * 1024;

  explicit FileContent(sys::UniqueFd fd);
  // Detects what the backing file holds and enters that state (open_existing).
  Status load(const std::string& account, keystore::KeyCache& keys, SizeMemo* known = nullptr) RV_REQUIRES(m_);
  Status begin(const std::string& account, keystore::KeyCache& keys, std::uint32_t chunk_size, const Placement& where)
      RV_REQUIRES(m_);
  Status begin_pgp(const std::string& account, const std::string& public_key_id, const Placement& where)
      RV_REQUIRES(m_);
  // Plain files: a write that would make the file start with the format's
  // magic is refused (Errc::invalid_argument), since a file that starts
  // with it is always read as encrypted (format::detect).
  Status refuse_magic(std::uint64_t offset, std::span<const std::uint8_t> in) const;

  // Exclusive for everything that changes state; shared for the reads that
  // need none (whole chunks before the tail), so readahead requests of one
  // file decrypt in parallel.
  // Lock order (docs/ARCHITECTURE.md "Locks"): after Inode::m.
  SharedMutex m_;
  sys::UniqueFd fd_;
  struct Plain {};
  struct Encrypted {
    std::unique_ptr<format::EncryptedFile> file;
  };
  struct Sealing {
    std::shared_ptr<pgp::SealStream> stream;
  };
  struct SealedPgp {};
  using State = std::variant<Plain, Encrypted, Sealing, SealedPgp>;
  State state_ RV_GUARDED_BY(m_);
  // The kind of state_, readable without m_ (it changes only at
  // start_new/open_existing/restart; Sealing and SealedPgp are both pgp).
  std::atomic<Kind> kind_{Kind::plain};
  void enter(State next) RV_REQUIRES(m_);
  format::EncryptedFile* encrypted() RV_REQUIRES_SHARED(m_);
  std::shared_ptr<pgp::SealStream> stream() RV_REQUIRES_SHARED(m_);
  std::atomic<bool> may_seal_{false};                                       // see seal()
  bool write_locked_ RV_GUARDED_BY(m_) = false;                             // see hold_write_lock()
  struct stat loaded_ RV_GUARDED_BY(m_) {};                                 // the backing file at load()
  std::optional<SealedState> sealed_ RV_GUARDED_BY(m_);                     // see sealed_state()
  std::atomic<std::int64_t> allocated_{0};                                  // see allocation_change()
  std::optional<std::array<struct timespec, 2>> pinned_ RV_GUARDED_BY(m_);  // see set_times()
  void unpin_locked() noexcept RV_REQUIRES(m_) { pinned_.reset(); }
  void restore_pinned_locked() noexcept RV_REQUIRES(m_);
};

// Plaintext size of a backing file that is not open, from its header alone
// when the algorithm allows (GCM), else by opening it with its key.
Result<std::uint64_t> plaintext_size(int path_fd, const struct stat& backing, const std::string& account,
                                     keystore::KeyCache& keys);

// Resolves a file's version key through the account's key cache.
format::KeyResolver resolver_for(const std::string& account, keystore::KeyCache& keys);

}  // namespace recvault::fuse

// Plaintext sizes of regular files, by backing inode, valid while the
// backing file's size, mtime and ctime are those they were taken with.
//
// A LOOKUP or GETATTR of a file that is not open needs the plaintext size;
// without a memo that costs an open and a header read of the backing file.
// The memo outlives the Inode (the kernel forgets inodes under memory
// pressure, or on drop_caches, and looks them up again), and is filled when
// the daemon seals a recording, so reading back a recording the daemon wrote
// itself reads no header to answer the lookup. Any change to the backing file
// (by this daemon, another host on shared storage, or anyone else) changes
// its ctime, and the memo no longer applies.
//
// It also says whether the file's user.recvault.* xattrs are known to agree
// with its header in that state: the daemon wrote them itself (it sealed the
// file) or compared them at an open. Setting an xattr changes the ctime, so
// a known-good entry lets an open skip reading them again (for a small
// recording read back cold, the one disk read besides its content: ext4
// keeps user.recvault.meta in a block of its own).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

class SizeMemo {
 public:
  // At most this many files; when full, the memo starts again empty.
  static constexpr std::size_t kCapacity = 16384;

  // The plaintext size of the file `backing` describes, if known for
  // exactly that size, mtime and ctime.
  std::optional<std::uint64_t> find(const struct stat& backing) const RV_EXCLUDES(m_);
  // True when the file's xattrs were remembered as agreeing with its header
  // for exactly that size, mtime and ctime.
  bool xattrs_known_good(const struct stat& backing) const RV_EXCLUDES(m_);
  void remember(const struct stat& backing, std::uint64_t plaintext, bool xattrs_known_good = false) RV_EXCLUDES(m_);

 private:
  struct Key {
    dev_t dev;
    ino_t ino;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<ino_t>{}(k.ino) ^ (k.dev * 0x9e3779b97f4a7c15ull);
    }
  };
  struct Entry {
    off_t backing_size;
    struct timespec mtime, ctime;
    std::uint64_t plaintext;
    bool xattrs_known_good;
  };
  const Entry* matching(const struct stat& backing) const RV_REQUIRES(m_);
  mutable Mutex m_;
  std::unordered_map<Key, Entry, KeyHash> entries_ RV_GUARDED_BY(m_);
};

}  // namespace recvault::fuse

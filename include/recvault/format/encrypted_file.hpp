// EncryptedFile: random-access plaintext view of one encrypted backing file.
//
// A backing file is   header ‖ record 0 ‖ record 1 ‖ ... ‖ record n-1
// where record i holds plaintext chunk i (chunk_size bytes, the last may be
// shorter) as  nonce ‖ ciphertext ‖ tag  (GCM: 12 ‖ n ‖ 16;
// CBC: 16 ‖ pad16(n+1) ‖ 32). Every record's AAD is
//   SHA-256(header core) ‖ u64le(index) ‖ u8(final)
// and exactly the last record of a sealed file has final = 1.
//
// The last chunk (the "tail") is kept in memory: writes into it are buffered
// and reach the disk on flush(), when the file grows past it, on truncate, and
// on seal(). Chunks before the tail are read-modify-written in place.
//
// Thread safety: none. The daemon serialises access per file.
// Ownership: the fd is borrowed; it must outlive the EncryptedFile and be
// opened O_RDWR for writing (never O_APPEND).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "recvault/format/header.hpp"
#include "recvault/format/keys.hpp"
#include "recvault/format/record.hpp"

namespace recvault::format {

enum class FileState {
  sealed,        // closed cleanly: the last chunk is marked final
  open,          // being written, or its writer died (unterminated); readable
};

class EncryptedFile {
 public:
  ~EncryptedFile();
  EncryptedFile(const EncryptedFile&) = delete;
  EncryptedFile& operator=(const EncryptedFile&) = delete;

  // Starts a new, empty encrypted file on `fd` (which must be empty): writes
  // the header (state open) and the user.recvault.* xattrs (best effort when
  // the backing file system has no xattrs).
  static Result<std::unique_ptr<EncryptedFile>> create(int fd, const KeySpec& spec,
                                                       std::uint32_t chunk_size = kDefaultChunkSize);

  // Opens an existing file: reads the header, checks any user.recvault.*
  // xattrs against it (a disagreement is Errc::metadata_mismatch), resolves
  // the key, verifies the header MAC and the last record.
  //   Errc::not_recvault  no magic (a plain file)
  //   Errc::wrong_key     the key check does not match this key
  //   Errc::tampered      header or last record fails authentication
  //   Errc::truncated     sealed, but the last record is not marked final
  // An open (unterminated) file whose last record is torn is opened without
  // it: size() covers only the complete chunks, and torn_tail() is true.
  static Result<std::unique_ptr<EncryptedFile>> open(int fd, const KeyResolver& resolve);

  const Header& header() const noexcept { return header_; }
  FileState state() const noexcept { return header_.sealed ? FileState::sealed : FileState::open; }
  bool torn_tail() const noexcept { return torn_tail_; }
  // Plaintext size, including buffered data.
  std::uint64_t size() const noexcept { return size_; }
  // True when buffered data has not reached the backing file.
  bool dirty() const noexcept { return tail_dirty_; }

  // Reads up to out.size() bytes at `offset`; returns the count (short at EOF).
  // Every byte returned has been authenticated.
  Result<std::size_t> read(std::uint64_t offset, std::span<std::uint8_t> out);
  // A read of whole chunks before the tail touches no state of this object:
  // such reads may run concurrently with each other (the caller still keeps
  // writers out). read_whole() serves exactly those.
  bool is_whole_chunk_read(std::uint64_t offset, std::size_t length) const noexcept;
  Result<std::size_t> read_whole(std::uint64_t offset, std::span<std::uint8_t> out) const;
  // Writes all of `in` at `offset`; a gap past the end reads back as zeros.
  // Unseals a sealed file first.
  Status write(std::uint64_t offset, std::span<const std::uint8_t> in);
  Status truncate(std::uint64_t new_size);
  // Writes the buffered tail (not marked final). Does not fsync.
  Status flush();
  // flush() + marks the last chunk final and the header sealed. Idempotent.
  Status seal();

  // Backing-file length of a file with this header and plaintext size.
  static std::uint64_t backing_size(const Header& h, std::uint64_t plaintext_size, bool sealed);
  // Plaintext size from the backing length alone, where the algorithm allows
  // (GCM); nullopt for CBC (needs the key) or an inconsistent length.
  static std::optional<std::uint64_t> plaintext_size_hint(const Header& h, std::uint64_t backing_length);

 private:
  EncryptedFile(int fd, Header header, FileKeys keys);

  std::uint64_t record_offset(std::uint64_t index) const noexcept;
  Status load_last_record();
  Status load_tail();
  // Writes the tail as a non-final record if it is dirty or marked final.
  Status leave_tail();
  Status write_record(std::uint64_t index, std::span<const std::uint8_t> plain, bool final);
  // Decrypts a full, non-final chunk before the tail.
  Status read_chunk(std::uint64_t index, std::size_t expected_len, std::vector<std::uint8_t>& out);
  // Decrypts `count` full chunks before the tail, from index `first`, with
  // one pread, straight into `out` (count * chunk_size bytes).
  Status read_whole_chunks(std::uint64_t first, std::uint64_t count, std::span<std::uint8_t> out) const;
  // Writes `in` at `offset` <= size().
  Status write_at_most_size(std::uint64_t offset, std::span<const std::uint8_t> in);
  Status extend_with_zeros(std::uint64_t new_size);
  Status unseal();
  Status write_header();

  int fd_;
  Header header_;
  FileKeys keys_;
  RecordCodec codec_;  // borrows header_ and keys_
  crypto::Digest core_digest_{};
  // Invariant: tail_index_ == (size_ == 0 ? 0 : (size_ - 1) / chunk_size), and
  // when tail_loaded_, tail_ holds plaintext [tail_index_ * chunk_size, size_).
  std::uint64_t size_ = 0;
  std::uint64_t tail_index_ = 0;
  std::vector<std::uint8_t> tail_;
  bool tail_loaded_ = false;
  bool tail_dirty_ = false;       // tail_ differs from its record on disk
  bool tail_disk_final_ = false;  // the tail's record on disk carries the final mark
  bool needs_trim_ = false;       // the backing file may extend past the tail's record
  bool torn_tail_ = false;
  // The last chunk before the tail that read() decrypted, so reads smaller
  // than a chunk decrypt it once rather than once per read. Dropped on every
  // record write at its index and on truncate().
  static constexpr std::uint64_t kNoChunk = ~std::uint64_t{0};
  std::uint64_t cached_index_ = kNoChunk;
  std::vector<std::uint8_t> cached_;
  void drop_cached_chunk() noexcept;
};

// Integrity report for recvault-decrypt --verify and fsck.
struct VerifyReport {
  FileState state = FileState::open;
  std::uint64_t plaintext_size = 0;
  std::uint64_t chunks = 0;
  bool torn_tail = false;
};
// Authenticates every chunk. Errors as for open(), plus Errc::tampered naming
// the first chunk that fails.
Result<VerifyReport> verify_file(int fd, const KeyResolver& resolve);


}  // namespace recvault::format

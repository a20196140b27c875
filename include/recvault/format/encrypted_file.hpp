// EncryptedFile: random-access plaintext view of one encrypted backing file.
//
// A backing file is   header ‖ record 0 ‖ record 1 ‖ ... ‖ record n-1
// where record i holds plaintext chunk i (chunk_size bytes, the last may be
// shorter) as  nonce ‖ ciphertext ‖ tag  (GCM: 12 ‖ n ‖ 16;
// CBC: 16 ‖ pad16(n+1) ‖ 32). Every record's AAD is
//   SHA-256(header core) ‖ u64le(index) ‖ u8(flags)
// and exactly the last record of a sealed file has the final flag.
//
// Format version 2 (every new file) adds holes: a run of chunks before the
// last one that is all zero bytes on disk (a file-system hole) and ends with
// a small hole-marker record; they read as zeros. Growing a file (truncate
// up, a write past the end) makes one, so it costs O(1) disk and time
// whatever the new size (docs/FORMAT.md §5.2-5.5). Version 1 files never have
// holes and still grow by writing records of zeros.
//
// The last chunk (the "tail") is kept in memory: writes into it are buffered
// and reach the disk on flush(), when the file grows past it, on truncate, and
// on seal(). Chunks before the tail are read-modify-written in place.
//
// Thread safety: none, except as noted for read_whole(). The daemon
// serialises access per file.
// Ownership: the fd is borrowed; it must outlive the EncryptedFile and be
// opened O_RDWR for writing (never O_APPEND). Its file offset is not used
// (pread/pwrite; lseek(SEEK_DATA) may move it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "recvault/format/header.hpp"
#include "recvault/format/keys.hpp"
#include "recvault/format/record.hpp"

namespace recvault::format {

namespace detail {
class Holes;
struct HoleRun;
}  // namespace detail

enum class FileState {
  sealed,  // closed cleanly: the last chunk is marked final
  open,    // being written, or its writer died (unterminated); readable
};

// Integrity report for recvault-decrypt --verify and fsck.
struct VerifyReport {
  FileState state = FileState::open;
  std::uint64_t plaintext_size = 0;
  std::uint64_t chunks = 0;
  bool torn_tail = false;
  std::uint64_t holes = 0;        // runs of hole chunks (format version 2)
  std::uint64_t hole_chunks = 0;  // chunks in them, markers included
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
  //   Errc::unsupported  a format version this build does not know
  // An open (unterminated) file whose last record is torn is opened without
  // it: size() covers only the complete chunks, and torn_tail() is true.
  // So is a version 2 file whose writer died while growing it, after the
  // hole marker and before the new last record: it is opened as it was
  // before (size() ends where the hole begins).
  // XattrCheck::known_good skips reading the xattrs: for a caller that wrote
  // or compared them itself for exactly this state of the file (its ctime
  // unchanged since). The header and records are authenticated either way.
  enum class XattrCheck { compare, known_good };
  static Result<std::unique_ptr<EncryptedFile>> open(int fd, const KeyResolver& resolve,
                                                     XattrCheck xattrs = XattrCheck::compare);

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
  // Writes all of `in` at `offset`; a gap past the end reads back as zeros
  // (a hole in version 2 files). Unseals a sealed file first. A size whose
  // backing file would exceed what off_t holds or what the backing file
  // system allows is EFBIG (Errc::io) before anything is written.
  Status write(std::uint64_t offset, std::span<const std::uint8_t> in);
  // Growing is O(1) in version 2 files (a hole), with the same EFBIG rule.
  Status truncate(std::uint64_t new_size);
  // Writes the buffered tail (not marked final). Does not fsync.
  Status flush();
  // flush() + marks the last chunk final and the header sealed. Idempotent.
  Status seal();

  // When the chunk holding byte `offset` (< size()) is a hole, the offset
  // where its run ends (a chunk boundary after `offset`); otherwise `offset`
  // itself (always so in version 1 files). Authenticated like read(), so
  // callers can skip a hole instead of reading its zeros.
  Result<std::uint64_t> hole_end(std::uint64_t offset);
  // Authenticates every chunk: data records are decrypted (into scratch
  // memory), hole runs checked through their markers without reading their
  // zeros. Errc::tampered names the first chunk that fails.
  Result<VerifyReport> verify();

  // Backing-file length of a file with this header and plaintext size.
  static std::uint64_t backing_size(const Header& h, std::uint64_t plaintext_size, bool sealed);
  // Plaintext size from the backing length alone, where the algorithm allows
  // (GCM); nullopt for CBC (needs the key) or an inconsistent length.
  static std::optional<std::uint64_t> plaintext_size_hint(const Header& h, std::uint64_t backing_length);

 private:
  EncryptedFile(int fd, Header header, FileKeys keys);

  std::uint64_t record_offset(std::uint64_t index) const noexcept;
  Status load_last_record();
  // The file's state when its writer died growing it (version 2): a marker
  // as the last record, or a torn record right after one. False otherwise.
  Result<bool> load_interrupted_growth(std::uint64_t index, std::span<const std::uint8_t> last);
  Status load_tail();
  // Writes the tail as a non-final record if it is dirty or marked final.
  Status leave_tail();
  Status write_record(std::uint64_t index, std::span<const std::uint8_t> plain, bool final);
  // Decrypts full, non-final chunk `index` (zeros for a hole chunk before the
  // tail). When `run` is given, it receives the hole run, if any.
  Status read_chunk(std::uint64_t index, std::vector<std::uint8_t>& out, std::optional<detail::HoleRun>* run = nullptr);
  // Decrypts `count` full chunks before the tail, from index `first`, with
  // one pread, straight into `out` (count * chunk_size bytes).
  Status read_whole_chunks(std::uint64_t first, std::uint64_t count, std::span<std::uint8_t> out) const;
  // Opens the full slot `index` (its bytes `record`) into `dest` (room for
  // the decrypted record): a data record, or in version 2 a hole chunk before
  // the tail, zero-filled (true). `run` carries the hole run found by an
  // earlier slot of the same pass, so the rest of that run needs no search.
  Result<bool> open_slot(std::uint64_t index, std::span<const std::uint8_t> record, std::span<std::uint8_t> dest,
                         std::optional<detail::HoleRun>& run) const;
  // Writes `in` at `offset` <= size().
  Status write_at_most_size(std::uint64_t offset, std::span<const std::uint8_t> in);
  // EFBIG unless a file of `new_size` plaintext bytes fits in off_t and,
  // when asked (one fstat and one fallocate), in the backing file system.
  // Writes nothing.
  Status check_growth(std::uint64_t new_size, bool ask_file_system);
  // Version 1: writes records of zeros up to new_size.
  Status extend_with_zeros(std::uint64_t new_size);
  // Version 2: the old tail becomes a full chunk, the chunks after it up to
  // new_size's chunk a hole, and the new tail a record of zeros. O(1).
  Status grow(std::uint64_t new_size);
  // Writes chunk `index` of hole run `run` as a data record, splitting the
  // run around it (markers before and after it) in crash-safe order.
  Status fill_hole(std::uint64_t index, const detail::HoleRun& run, std::span<const std::uint8_t> plain);
  // The hole run of chunk `index` (< the tail) when a full write is about
  // to replace it; reads the slot only when its last bytes are zero.
  Status find_hole_before_overwrite(std::uint64_t index, std::optional<detail::HoleRun>& run);
  Status write_marker(std::uint64_t index, std::uint64_t start);
  // A write into slot `index`, which was all zeros (a hole chunk), failed
  // with `failed`: cut short (ENOSPC while the file system allocated the
  // slot's blocks), it may have left the slot's first bytes, which are
  // neither zeros nor a record, so the chunk and its whole run would no
  // longer read. Zeroes the slot again (punches it, else overwrites its
  // written bytes) and returns `failed`; if even that fails, `failed` with
  // a message that says the chunk is damaged.
  Status restore_zero_slot(std::uint64_t index, Error failed);
  // Cuts the backing file at `end` (dropping whatever lay behind the tail).
  Status trim_to(std::uint64_t end);
  Status unseal();
  Status write_header();
  // The header as it goes on disk, its MAC computed (and kept in header_).
  std::vector<std::uint8_t> encode_signed_header();
  // Sealing a file whose only record is its tail: header (sealed) and final
  // record are contiguous and go to disk in one pwrite.
  Status seal_single_record();

  int fd_;
  Header header_;
  FileKeys keys_;
  RecordCodec codec_;                     // borrows header_ and keys_
  std::unique_ptr<detail::Holes> holes_;  // borrows fd_, header_ and codec_
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

// open() + verify(): authenticates every chunk. Errors as for open(), plus Errc::tampered naming
// the first chunk that fails.
Result<VerifyReport> verify_file(int fd, const KeyResolver& resolve);

}  // namespace recvault::format

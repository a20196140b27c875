// Hole chunks of format version 2 (docs/FORMAT.md §5.2-5.4): finding the marker
// that authenticates a zero slot, and reading and writing markers.
//
// A slot is the room of one full record, bytes [H + i·R, H + (i+1)·R) for
// R = record_size(chunk size). A hole run is slots [start, marker] with
// marker < the tail's index: every slot before `marker` is all zero bytes on
// disk (a file-system hole, no blocks), and slot `marker` holds a hole marker
// (a record with the hole_marker flag at index `marker` whose plaintext is
// u64le(start)) followed by zeros. All of them read as zeros.
//
// Thread safety: const members may run concurrently with each other (reads
// under the caller's shared lock); the others need the caller's exclusive
// lock, as for EncryptedFile.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "recvault/format/header.hpp"
#include "recvault/format/record.hpp"

namespace recvault::format::detail {

// A hole run as one search found it: slots [first, marker) were all zero,
// and slot `marker` authenticated as a marker with run start `start` <=
// first. `start` is exact when written; after a crash in the middle of a
// write into a hole it may be lower than the true start (§5.4): a bound.
struct HoleRun {
  std::uint64_t first = 0;
  std::uint64_t start = 0;
  std::uint64_t marker = 0;
};

bool all_zero(std::span<const std::uint8_t> bytes) noexcept;

class Holes {
 public:
  // Borrows all three; they must outlive this object.
  Holes(int fd, const Header& header, const RecordCodec& codec) noexcept : fd_(fd), header_(header), codec_(codec) {}
  Holes(const Holes&) = delete;
  Holes& operator=(const Holes&) = delete;

  std::uint64_t slot_offset(std::uint64_t index) const noexcept;
  std::uint64_t slot_size() const noexcept { return record_size(header_.algorithm, header_.chunk_size()); }
  // Stored size of a marker record (GCM 36, CBC 64 bytes).
  std::uint64_t marker_size() const noexcept { return record_size(header_.algorithm, 8); }

  // Slot `index` (its bytes `slot`, a whole slot) did not authenticate as a
  // data record: the hole run it belongs to. A zero slot needs the next
  // slot that is not all zero to be a marker before `limit` (the tail's
  // index) whose run covers it; a non-zero slot must be a marker itself.
  // Errc::tampered otherwise.
  Result<HoleRun> resolve(std::uint64_t index, std::span<const std::uint8_t> slot, std::uint64_t limit) const;

  // The run start when `slot` (the bytes of slot `index` from its start,
  // whole or cut short by the end of the file) is a marker record followed
  // by zeros only; nullopt for anything else.
  std::optional<std::uint64_t> marker_start(std::uint64_t index, std::span<const std::uint8_t> slot) const;

  // Whether slot `index` is all zeros on disk (bytes past the end of the
  // file count as zeros).
  Result<bool> slot_is_zero(std::uint64_t index) const;

  // Writes the marker of the run [start, index] at the start of slot
  // `index`. Only the marker's bytes: callers write markers into zero slots
  // or over an older marker of the same size.
  Status write_marker(std::uint64_t index, std::uint64_t start);

  // Drops what earlier searches learnt; call after every write to the file.
  void forget() noexcept;

 private:
  // The first slot in [from, limit) that is not all zero, read into `slot`.
  // Uses lseek(SEEK_DATA) to jump over file-system holes; it is block
  // granular (it may land in an earlier zero slot) or unsupported (it then
  // returns the offset asked), so slots are still read to be sure.
  Result<std::uint64_t> next_nonzero(std::uint64_t from, std::uint64_t limit, std::vector<std::uint8_t>& slot) const;

  int fd_;
  const Header& header_;
  const RecordCodec& codec_;
  // The last run found, so that reading a hole chunk by chunk searches once
  // (a hole copied without sparseness has no SEEK_DATA shortcut).
  mutable std::mutex m_;
  mutable std::optional<HoleRun> known_;  // guarded by m_
};

}  // namespace recvault::format::detail

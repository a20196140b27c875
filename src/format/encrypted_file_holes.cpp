// EncryptedFile, the parts about holes (format version 2, docs/FORMAT.md
// §5.2-5.5): growing a file in O(1), writing into a hole, the state an
// interrupted growth leaves, and verification that skips hole runs. The
// slot-level work (finding and writing markers) is in holes.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>

#include "holes.hpp"
#include "recvault/crypto/cipher.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::format {
namespace {

Error too_large(std::uint64_t plaintext_size) {
  return make_error(Errc::too_large, "a file of " + std::to_string(plaintext_size) + " bytes: File too large");
}

}  // namespace

Status EncryptedFile::check_growth(std::uint64_t new_size, bool ask_file_system) {
  const std::uint64_t c = header_.chunk_size(), full = new_size / c, rem = new_size % c;
  std::uint64_t end = 0;
  const std::uint64_t rest = header_.encoded_size() + (rem == 0 ? 0 : record_size(header_.algorithm, rem));
  if (__builtin_mul_overflow(full, record_size(header_.algorithm, c), &end) ||
      __builtin_add_overflow(end, rest, &end) || end > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    return too_large(new_size);
  }
  if (!ask_file_system) return {};
  // The backing file system's own limit (ext4: 16 TiB), found without
  // writing: fallocate(2) checks offset + len against the maximum file size
  // before anything else (EFBIG), and punching a hole past the end of the
  // file changes nothing. Other errors (no hole punching here) say nothing
  // about the size: the writes will tell.
  RV_ASSIGN(auto length, sys::file_size(fd_));
  if (end > length &&
      ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(end - 1), 1) != 0) {
    int e = errno;
    if (e == EFBIG) return too_large(new_size);
  }
  return {};
}

// O(1) disk and time whatever new_size is. Only data writes, in file order,
// as an append makes them, so every crash state is readable (§5.4): (1) the
// old tail completed, a valid file on its own; (2) the marker, after which a
// reader sees an interrupted growth and opens the file as it was; (3) the new
// tail, written at once: it extends the file past the marker's slot, which
// the file system leaves a hole. (Extending with ftruncate instead would let
// a file system commit the new length before the marker's data, and a power
// loss leave zeros where the marker should be.)
Status EncryptedFile::grow(std::uint64_t new_size) {
  const std::uint64_t c = header_.chunk_size();
  const std::uint64_t new_tail = (new_size - 1) / c;
  RV_TRY(load_tail());
  if (new_tail == tail_index_) {  // within the tail's chunk
    tail_.resize(static_cast<std::size_t>(new_size - tail_index_ * c), 0);
    size_ = new_size;
    tail_dirty_ = true;
    return {};
  }
  const std::size_t old_len = tail_.size();
  // A failure puts the old size back: the old tail is rewritten short and the
  // file cut behind it, now if it can be, else by the next flush.
  const auto undo = [&](Error e) -> Status {
    tail_.resize(old_len);
    tail_dirty_ = true;
    needs_trim_ = true;
    (void)flush();
    return e;
  };
  std::uint64_t hole_start = 0;
  if (size_ > 0) {
    if (tail_.size() < c || tail_dirty_ || tail_disk_final_) {
      tail_.resize(static_cast<std::size_t>(c), 0);
      if (auto st = write_record(tail_index_, tail_, false); !st) return undo(std::move(st).error());
      tail_dirty_ = false;
      tail_disk_final_ = false;
    }
    hole_start = tail_index_ + 1;
  }
  // Whatever lies behind the last record (a torn record, the empty final
  // record of a reopened empty file, an interrupted growth's marker) would
  // otherwise sit inside the hole.
  if (needs_trim_ || size_ == 0) {
    if (auto st = trim_to(record_offset(hole_start)); !st) return undo(std::move(st).error());
  }
  if (new_tail > hole_start) {
    if (auto st = write_marker(new_tail - 1, hole_start); !st) return undo(std::move(st).error());
  }
  const std::vector<std::uint8_t> zeros(static_cast<std::size_t>(new_size - new_tail * c), 0);
  if (auto st = write_record(new_tail, zeros, false); !st) return undo(std::move(st).error());
  crypto::secure_wipe(tail_.data(), tail_.size());
  tail_index_ = new_tail;
  tail_ = zeros;
  tail_loaded_ = true;
  tail_dirty_ = false;
  tail_disk_final_ = false;
  size_ = new_size;
  return {};
}

// Crash-safe order (§5.4): (1) the chunks of the run before `index` get a
// marker at index-1; (2) the record; (3) the chunks after it get the marker
// at run.marker rewritten with their start. Between (2) and (3) the old
// marker's start is only a lower bound.
//
// (1) and (2) write into zero slots, which a full disk can cut short: the
// slot is zeroed again, and the file is as before that step (after (1),
// the marker at index-1 and the one at run.marker both cover slot `index`).
Status EncryptedFile::fill_hole(std::uint64_t index, const detail::HoleRun& run, std::span<const std::uint8_t> plain) {
  if (index > run.start) {
    // A start that is only a lower bound may put data at index-1: then that
    // is where the run really begins, and there is nothing before `index`.
    RV_ASSIGN(auto zero, holes_->slot_is_zero(index - 1));
    if (zero) {
      if (auto st = write_marker(index - 1, run.start); !st) return restore_zero_slot(index - 1, std::move(st).error());
    }
  }
  if (auto st = write_record(index, plain, false); !st) return restore_zero_slot(index, std::move(st).error());
  if (index < run.marker) RV_TRY(write_marker(run.marker, index + 1));
  return {};
}

Status EncryptedFile::restore_zero_slot(std::uint64_t index, Error failed) {
  if (index == cached_index_) drop_cached_chunk();
  holes_->forget();
  const std::uint64_t at = holes_->slot_offset(index), size = holes_->slot_size();
  // Punching needs no space (KEEP_SIZE: the tail's record lies behind the slot).
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(at), static_cast<off_t>(size)) ==
      0) {
    return failed;
  }
  // No hole punching here: overwrite what was written, up to the last
  // non-zero byte (blocks that already hold data need no new space).
  std::vector<std::uint8_t> slot(static_cast<std::size_t>(size));
  auto n = sys::pread_full(fd_, slot, at);
  if (n) {
    std::size_t end = *n;
    while (end > 0 && slot[end - 1] == 0) --end;
    std::fill(slot.begin(), slot.begin() + static_cast<std::ptrdiff_t>(end), std::uint8_t{0});
    if (end == 0 || sys::pwrite_full(fd_, std::span(slot).first(end), at)) return failed;
  }
  failed.message += "; chunk " + std::to_string(index) + " (in a hole) could not be zeroed again and no longer reads";
  return failed;
}

Status EncryptedFile::find_hole_before_overwrite(std::uint64_t index, std::optional<detail::HoleRun>& run) {
  run.reset();
  if (!header_.allows_holes()) return {};
  // A full data record ends with its random tag; a hole chunk, or a marker
  // at the start of its slot, ends with zeros.
  std::array<std::uint8_t, 32> end{};
  RV_ASSIGN(auto n, sys::pread_full(fd_, end, record_offset(index + 1) - end.size()));
  if (!detail::all_zero(std::span(end).first(n))) return {};
  thread_local std::vector<std::uint8_t> scratch;
  auto st = read_chunk(index, scratch, &run);
  crypto::secure_wipe(scratch.data(), scratch.size());
  return st;
}

Status EncryptedFile::write_marker(std::uint64_t index, std::uint64_t start) {
  if (index == cached_index_) drop_cached_chunk();
  auto st = holes_->write_marker(index, start);
  if (!st) needs_trim_ = true;  // a marker past the old end, cut short
  return st;
}

// The writer died while growing the file (§5.4): after the hole marker, before
// or while writing the new last record. The file is what it was before: it
// ends where the hole begins, and the next flush cuts the rest off.
Result<bool> EncryptedFile::load_interrupted_growth(std::uint64_t index, std::span<const std::uint8_t> last) {
  auto start = holes_->marker_start(index, last);
  if (!start && index > 0) {
    std::vector<std::uint8_t> before(static_cast<std::size_t>(holes_->slot_size()));
    RV_ASSIGN(auto n, sys::pread_full(fd_, before, record_offset(index - 1)));
    start = holes_->marker_start(index - 1, std::span(before).first(n));
  }
  if (!start) return false;
  torn_tail_ = true;
  needs_trim_ = true;
  size_ = *start * header_.chunk_size();
  tail_index_ = *start == 0 ? 0 : *start - 1;
  tail_.clear();
  tail_loaded_ = *start == 0;
  return true;
}

Result<std::uint64_t> EncryptedFile::hole_end(std::uint64_t offset) {
  const std::uint64_t c = header_.chunk_size();
  const std::uint64_t index = offset / c;
  if (!header_.allows_holes() || offset >= size_ || index >= tail_index_) return offset;
  thread_local std::vector<std::uint8_t> record, scratch;
  record.resize(static_cast<std::size_t>(holes_->slot_size()));
  RV_ASSIGN(auto n, sys::pread_full(fd_, record, record_offset(index)));
  if (n != record.size()) return make_error(Errc::tampered, "chunk " + std::to_string(index) + " is incomplete");
  scratch.resize(record.size());
  std::optional<detail::HoleRun> run;
  auto hole = open_slot(index, record, scratch, run);
  crypto::secure_wipe(scratch.data(), scratch.size());
  if (!hole) return std::move(hole).error();
  return *hole ? (run->marker + 1) * c : offset;
}

Result<VerifyReport> EncryptedFile::verify() {
  VerifyReport report;
  report.state = state();
  report.plaintext_size = size_;
  report.torn_tail = torn_tail_;
  const std::uint64_t c = header_.chunk_size();
  report.chunks = (size_ + c - 1) / c;
  RV_TRY(load_tail());  // authenticated by open(), unless a torn record left it unread
  const std::size_t rs = static_cast<std::size_t>(holes_->slot_size());
  const std::uint64_t batch = std::max<std::uint64_t>(1, (std::uint64_t{1} << 20) / c);
  std::vector<std::uint8_t> records, scratch(rs);
  std::optional<detail::HoleRun> run;
  Status st;
  for (std::uint64_t i = 0; i < tail_index_ && st.ok();) {
    const std::uint64_t count = std::min(batch, tail_index_ - i);
    records.resize(static_cast<std::size_t>(count) * rs);
    RV_ASSIGN(auto n, sys::pread_full(fd_, records, record_offset(i)));
    std::uint64_t next = i + count;
    for (std::uint64_t k = 0; k < count; ++k) {
      const std::uint64_t index = i + k;
      const std::size_t at = static_cast<std::size_t>(k) * rs;
      if (n < at + rs) {
        st = make_error(Errc::tampered, "chunk " + std::to_string(index) + " is incomplete");
        break;
      }
      auto hole = open_slot(index, std::span(records).subspan(at, rs), scratch, run);
      if (!hole) {
        st = std::move(hole).error();
        break;
      }
      if (*hole) {
        // The search read (or SEEK_DATA skipped) every slot up to the marker
        // and authenticated the marker: go on after it.
        ++report.holes;
        report.hole_chunks += run->marker - index + 1;
        next = run->marker + 1;
        break;
      }
    }
    i = next;
  }
  crypto::secure_wipe(scratch.data(), scratch.size());
  if (!st) return std::move(st).error();
  return report;
}

Result<VerifyReport> verify_file(int fd, const KeyResolver& resolve) {
  RV_ASSIGN(auto f, EncryptedFile::open(fd, resolve));
  return (f)->verify();
}

}  // namespace recvault::format

#include "holes.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "recvault/crypto/primitives.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::format::detail {
namespace {

Error not_covered(std::uint64_t index) {
  return make_error(Errc::tampered, "chunk " + std::to_string(index) + " is all zeros and no hole marker covers it");
}

}  // namespace

bool all_zero(std::span<const std::uint8_t> bytes) noexcept {
  // memcmp against itself shifted by one: as fast as memcmp, and it stops at
  // the first non-zero byte (a record's random nonce: at once).
  return bytes.empty() || (bytes[0] == 0 && std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0);
}

std::uint64_t Holes::slot_offset(std::uint64_t index) const noexcept {
  return header_.encoded_size() + index * slot_size();
}

std::optional<std::uint64_t> Holes::marker_start(std::uint64_t index, std::span<const std::uint8_t> slot) const {
  const std::size_t n = static_cast<std::size_t>(marker_size());
  if (slot.size() < n || !all_zero(slot.subspan(n))) return std::nullopt;
  std::array<std::uint8_t, 64> plain{};  // CBC: the padded block
  auto len = codec_.open(index, RecordFlags::hole_marker, slot.first(n), plain);
  if (!len || *len != 8) return std::nullopt;
  std::uint64_t start = 0;
  for (int i = 7; i >= 0; --i) start = start << 8 | plain[static_cast<std::size_t>(i)];
  if (start > index) return std::nullopt;
  return start;
}

Result<std::uint64_t> Holes::next_nonzero(std::uint64_t from, std::uint64_t limit,
                                          std::vector<std::uint8_t>& slot) const {
  const std::uint64_t h = header_.encoded_size(), r = slot_size();
  slot.resize(static_cast<std::size_t>(r));
  for (std::uint64_t j = from; j < limit; ++j) {
    const off_t data = ::lseek(fd_, static_cast<off_t>(slot_offset(j)), SEEK_DATA);
    if (data < 0) {
      int e = errno;
      // Nothing but holes up to the end: the tail (never a hole) is gone.
      if (e == ENXIO) return make_error(Errc::tampered, "the file holds no data after chunk " + std::to_string(j));
      if (e != EINVAL && e != EOPNOTSUPP) return sys_error("lseek SEEK_DATA", e);
    } else if (static_cast<std::uint64_t>(data) > slot_offset(j)) {
      j = std::max(j, (static_cast<std::uint64_t>(data) - h) / r);
      if (j >= limit) break;
    }
    RV_ASSIGN(auto n, sys::pread_full(fd_, slot, slot_offset(j)));
    if (n != slot.size()) return make_error(Errc::tampered, "chunk " + std::to_string(j) + " is incomplete");
    if (!all_zero(slot)) return j;
  }
  return make_error(Errc::tampered, "hole chunks up to the last chunk, with no hole marker");
}

Result<HoleRun> Holes::resolve(std::uint64_t index, std::span<const std::uint8_t> slot, std::uint64_t limit) const {
  const auto failed = [index] {
    return make_error(Errc::tampered, "chunk " + std::to_string(index) + " fails authentication");
  };
  if (index >= limit) return failed();  // the tail is always a data record
  if (!all_zero(slot)) {
    auto start = marker_start(index, slot);
    if (!start) return failed();
    return HoleRun{index, *start, index};
  }
  {
    std::lock_guard lock(m_);
    if (known_ && known_->first <= index && index < known_->marker && known_->marker < limit) {
      return HoleRun{index, known_->start, known_->marker};
    }
  }
  thread_local std::vector<std::uint8_t> next;
  auto m = next_nonzero(index + 1, limit, next);
  if (!m) {
    if (m.error().code == Errc::tampered) return not_covered(index);
    return std::move(m).error();
  }
  auto start = marker_start(*m, next);
  if (!start || *start > index) return not_covered(index);
  HoleRun run{index, *start, *m};
  std::lock_guard lock(m_);
  known_ = run;
  return run;
}

Result<bool> Holes::slot_is_zero(std::uint64_t index) const {
  thread_local std::vector<std::uint8_t> slot;
  slot.resize(static_cast<std::size_t>(slot_size()));
  RV_ASSIGN(auto n, sys::pread_full(fd_, slot, slot_offset(index)));
  return all_zero(std::span(slot).first(n));
}

Status Holes::write_marker(std::uint64_t index, std::uint64_t start) {
  forget();
  std::array<std::uint8_t, 8> plain{};
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<std::uint8_t>(start >> (8 * i));
  std::array<std::uint8_t, 64> record{};
  const auto out = std::span(record).first(static_cast<std::size_t>(marker_size()));
  RV_TRY(codec_.seal(index, RecordFlags::hole_marker, plain, out));
  return sys::pwrite_full(fd_, out, slot_offset(index));
}

void Holes::forget() noexcept {
  std::lock_guard lock(m_);
  known_.reset();
}

}  // namespace recvault::format::detail

#include "recvault/format/encrypted_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "holes.hpp"
#include "recvault/crypto/cipher.hpp"
#include "recvault/format/record.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::format {

EncryptedFile::EncryptedFile(int fd, Header header, FileKeys keys)
    : fd_(fd),
      header_(std::move(header)),
      keys_(std::move(keys)),
      codec_(header_, keys_),
      holes_(std::make_unique<detail::Holes>(fd_, header_, codec_)) {}

EncryptedFile::~EncryptedFile() {
  crypto::secure_wipe(tail_.data(), tail_.size());
  drop_cached_chunk();
}

void EncryptedFile::drop_cached_chunk() noexcept {
  crypto::secure_wipe(cached_.data(), cached_.size());
  cached_index_ = kNoChunk;
}

std::uint64_t EncryptedFile::backing_size(const Header& h, std::uint64_t plaintext_size, bool sealed) {
  const std::uint64_t c = h.chunk_size();
  const std::uint64_t full = plaintext_size / c, rem = plaintext_size % c;
  std::uint64_t len = h.encoded_size() + full * record_size(h.algorithm, c);
  if (rem != 0 || (plaintext_size == 0 && sealed)) len += record_size(h.algorithm, rem);
  return len;
}

std::optional<std::uint64_t> EncryptedFile::plaintext_size_hint(const Header& h, std::uint64_t backing_length) {
  if (h.algorithm != Algorithm::aes256_gcm || backing_length < h.encoded_size()) return std::nullopt;
  const std::uint64_t payload = backing_length - h.encoded_size();
  const std::uint64_t full_record = record_size(h.algorithm, h.chunk_size());
  const std::uint64_t full = payload / full_record, rem = payload % full_record;
  if (rem == 0) return full * h.chunk_size();
  if (rem < kGcmOverhead) return std::nullopt;
  return full * h.chunk_size() + (rem - kGcmOverhead);
}

Result<std::unique_ptr<EncryptedFile>> EncryptedFile::create(int fd, const KeySpec& spec, std::uint32_t chunk_size) {
  if (!spec.key) return make_error(Errc::key_unavailable, "no key for the new file");
  if (chunk_size == 0 || (chunk_size & (chunk_size - 1)) != 0 || chunk_size < (1u << kMinChunkShift) ||
      chunk_size > (1u << kMaxChunkShift)) {
    return make_error(Errc::invalid_argument, "chunk size must be a power of two between 4 KiB and 1 MiB");
  }
  if (spec.key_id.size() > kMaxKeyIdLength || spec.salt.size() > kMaxSaltLength) {
    return make_error(Errc::invalid_argument, "key_id and salt must be at most 255 bytes");
  }
  Header h;
  h.algorithm = spec.algorithm;
  h.chunk_shift = static_cast<std::uint8_t>(__builtin_ctz(chunk_size));
  h.kdf = spec.key->params();
  h.key_version = spec.key_version;
  h.key_id = spec.key_id;
  h.salt = spec.salt;
  RV_TRY(crypto::random_bytes(h.file_id));
  RV_ASSIGN(auto keys, derive_file_keys(*spec.key, h));
  h.key_check = keys.key_check;

  std::unique_ptr<EncryptedFile> f(new EncryptedFile(fd, std::move(h), std::move(keys)));
  const std::vector<std::uint8_t> encoded = encode_header(f->header_);
  f->core_digest_ = crypto::sha256({std::span(encoded).first(f->header_.core_size())});
  f->codec_.set_core_digest(f->core_digest_);
  f->tail_loaded_ = true;
  RV_TRY(f->write_header());
  RV_TRY(write_xattrs(fd, f->header_));
  return f;
}

Result<std::unique_ptr<EncryptedFile>> EncryptedFile::open(int fd, const KeyResolver& resolve, XattrCheck xattrs) {
  std::vector<std::uint8_t> raw(kMaxHeaderBytes);
  RV_ASSIGN(auto got, sys::pread_full(fd, raw, 0));
  raw.resize(got);
  auto hdr = decode_header(raw);
  if (!hdr) {
    // No header, but xattrs that say there should be one: the content was
    // replaced (zero-filled, overwritten), not a plain file.
    if (hdr.error().code == Errc::not_recvault) {
      auto fmt = marked_format(fd);
      if (fmt && fmt->has_value() && **fmt != xattr::plain_format) {
        return make_error(Errc::tampered, "xattrs mark an encrypted file but its header is missing");
      }
    }
    return std::move(hdr).error();
  }
  Header h = std::move(hdr).value();
  raw.resize(h.encoded_size());
  if (xattrs == XattrCheck::compare) RV_TRY(check_xattrs(fd, h));

  RV_ASSIGN(auto key, resolve(h));
  if (!key) return make_error(Errc::key_unavailable, "no key for key_version " + std::to_string(h.key_version));
  RV_ASSIGN(auto keys, derive_file_keys(*key, h));

  // Distinguish a wrong key from a tampered header: the key check value is
  // derived from the key; the MAC covers everything including the check value.
  const auto mac = crypto::hmac_sha256(keys.header.span(), {std::span(raw).first(raw.size() - 32)});
  const bool mac_ok = crypto::equal_ct(mac, h.mac);
  const bool check_ok = crypto::equal_ct(keys.key_check, h.key_check);
  if (!mac_ok && !check_ok) {
    return make_error(Errc::wrong_key, "the key (or salt) for key_version " + std::to_string(h.key_version) +
                                           " does not open this file");
  }
  if (!mac_ok || !check_ok) return make_error(Errc::tampered, "header authentication failed");

  std::unique_ptr<EncryptedFile> f(new EncryptedFile(fd, std::move(h), std::move(keys)));
  f->core_digest_ = crypto::sha256({std::span(raw).first(f->header_.core_size())});
  f->codec_.set_core_digest(f->core_digest_);
  RV_TRY(f->load_last_record());
  return f;
}

// Finds and authenticates the last record, which fixes the plaintext size and
// tells a sealed file from an unterminated one.
Status EncryptedFile::load_last_record() {
  RV_ASSIGN(auto length, sys::file_size(fd_));
  const std::uint64_t hlen = header_.encoded_size();
  if (length < hlen) return make_error(Errc::tampered, "file is shorter than its header");
  const std::uint64_t c = header_.chunk_size();
  const std::uint64_t full_record = record_size(header_.algorithm, c);
  const std::uint64_t payload = length - hlen;
  std::uint64_t full = payload / full_record, rem = payload % full_record;

  if (rem == 0 && full == 0) {  // no records at all
    if (header_.sealed) return make_error(Errc::truncated, "sealed file has no chunks: it was truncated");
    size_ = 0;
    tail_index_ = 0;
    tail_.clear();
    tail_loaded_ = true;
    return {};
  }
  std::uint64_t index = rem == 0 ? full - 1 : full;
  std::uint64_t stored = rem == 0 ? full_record : rem;

  std::vector<std::uint8_t> record(stored);
  RV_ASSIGN(auto n, sys::pread_full(fd_, record, record_offset(index)));
  record.resize(n);

  std::vector<std::uint8_t> plain(stored);
  bool final = true;
  auto len = codec_.open(index, RecordFlags::final, record, plain);
  if (!len && len.error().code == Errc::tampered) {
    final = false;
    len = codec_.open(index, RecordFlags::none, record, plain);
  }
  if (!len && len.error().code != Errc::tampered) return std::move(len).error();
  if (!len && !header_.sealed && header_.allows_holes()) {
    RV_ASSIGN(auto interrupted, load_interrupted_growth(index, record));
    if (interrupted) return {};
  }

  if (len && (*len > c || (rem == 0 && *len != c) || (*len == 0 && index != 0))) {
    return make_error(Errc::tampered, "last chunk has an impossible length");
  }
  if (header_.sealed) {
    if (!len) return make_error(Errc::tampered, "chunk " + std::to_string(index) + " fails authentication");
    if (!final) {
      return make_error(Errc::truncated, "sealed file ends at chunk " + std::to_string(index) +
                                             ", which is not its final chunk: chunks were cut off");
    }
  } else if (!len) {
    // The writer died mid-record: drop the torn record, keep what precedes it.
    torn_tail_ = true;
    needs_trim_ = true;
    size_ = index * c;
    tail_index_ = index == 0 ? 0 : index - 1;
    tail_.clear();
    tail_loaded_ = index == 0;
    return {};
  }
  plain.resize(*len);
  size_ = index * c + *len;
  tail_index_ = index;
  tail_ = std::move(plain);
  tail_loaded_ = true;
  tail_disk_final_ = final;
  return {};
}

Status EncryptedFile::load_tail() {
  if (tail_loaded_) return {};
  std::vector<std::uint8_t> buf;
  RV_TRY(read_chunk(tail_index_, buf));
  tail_ = std::move(buf);
  tail_loaded_ = true;
  return {};
}

std::uint64_t EncryptedFile::record_offset(std::uint64_t index) const noexcept {
  return header_.encoded_size() + index * record_size(header_.algorithm, header_.chunk_size());
}

Status EncryptedFile::write_record(std::uint64_t index, std::span<const std::uint8_t> plain, bool final) {
  if (index == cached_index_) drop_cached_chunk();
  holes_->forget();
  thread_local std::vector<std::uint8_t> record;
  record.resize(record_size(header_.algorithm, plain.size()));
  RV_TRY(codec_.seal(index, data_flags(final), plain, record));
  auto st = sys::pwrite_full(fd_, record, record_offset(index));
  // A record cut short (ENOSPC) may leave bytes past the tail's record: the
  // next flush or seal cuts the file back.
  if (!st) needs_trim_ = true;
  return st;
}

Status EncryptedFile::read_chunk(std::uint64_t index, std::vector<std::uint8_t>& out,
                                 std::optional<detail::HoleRun>* run) {
  const std::size_t c = header_.chunk_size();
  thread_local std::vector<std::uint8_t> record;
  record.resize(static_cast<std::size_t>(record_size(header_.algorithm, c)));
  RV_ASSIGN(auto n, sys::pread_full(fd_, record, record_offset(index)));
  if (n != record.size()) return make_error(Errc::tampered, "chunk " + std::to_string(index) + " is incomplete");
  out.resize(record.size());
  std::optional<detail::HoleRun> found;
  RV_TRY(open_slot(index, record, out, found));
  out.resize(c);
  if (run != nullptr) *run = found;
  return {};
}

Result<bool> EncryptedFile::open_slot(std::uint64_t index, std::span<const std::uint8_t> record,
                                      std::span<std::uint8_t> dest, std::optional<detail::HoleRun>& run) const {
  const std::size_t c = header_.chunk_size();
  const bool holes = header_.allows_holes() && index < tail_index_;
  // A real record is never all zeros: no decryption is wasted on a hole.
  if (holes && detail::all_zero(record)) {
    if (!run || run->first > index || index >= run->marker) {
      RV_ASSIGN(auto found, holes_->resolve(index, record, tail_index_));
      run = found;
    }
    std::memset(dest.data(), 0, c);
    return true;
  }
  auto len = codec_.open(index, RecordFlags::none, record, dest);
  if (!len) {
    Error e = std::move(len).error();
    if (e.code != Errc::tampered) return e;
    if (holes) {  // a hole marker, or the error resolve() names
      RV_ASSIGN(auto found, holes_->resolve(index, record, tail_index_));
      run = found;
      std::memset(dest.data(), 0, c);
      return true;
    }
    e.message = "chunk " + std::to_string(index) + " fails authentication";
    return e;
  }
  if (*len != c) return make_error(Errc::tampered, "chunk " + std::to_string(index) + " has a wrong length");
  return false;
}

Status EncryptedFile::read_whole_chunks(std::uint64_t first, std::uint64_t count, std::span<std::uint8_t> out) const {
  const std::size_t c = header_.chunk_size();
  // At most ~1 MiB of records per pread (a FUSE request's worth): a caller
  // reading a whole file at once must not grow the per-thread buffer to it.
  const std::uint64_t batch = std::max<std::uint64_t>(1, (std::uint64_t{1} << 20) / c);
  while (count > batch) {
    RV_TRY(read_whole_chunks(first, batch, out.first(static_cast<std::size_t>(batch) * c)));
    first += batch;
    count -= batch;
    out = out.subspan(static_cast<std::size_t>(batch) * c);
  }
  const std::size_t rs = static_cast<std::size_t>(record_size(header_.algorithm, c));
  thread_local std::vector<std::uint8_t> records;
  records.resize(static_cast<std::size_t>(count) * rs);
  RV_ASSIGN(auto n, sys::pread_full(fd_, records, record_offset(first)));
  // What open() writes: GCM the plaintext, CBC the padded plaintext.
  const std::size_t written = header_.algorithm == Algorithm::aes256_gcm ? c : rs - kCbcOverhead;
  thread_local std::vector<std::uint8_t> spill;
  std::optional<detail::HoleRun> run;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t index = first + i;
    const std::size_t at = static_cast<std::size_t>(i) * rs;
    if (n < at + rs) return make_error(Errc::tampered, "chunk " + std::to_string(index) + " is incomplete");
    const auto record = std::span<const std::uint8_t>(records).subspan(at, rs);
    // CBC writes its padding block past the plaintext: into the next chunk's
    // room, which that chunk then overwrites, or for the last one a spill buffer.
    std::span<std::uint8_t> dest = out.subspan(static_cast<std::size_t>(i) * c);
    const bool spilled = dest.size() < written;
    if (spilled) {
      spill.resize(written);
      dest = spill;
    }
    RV_TRY(open_slot(index, record, dest, run));
    if (spilled) {
      std::memcpy(out.data() + static_cast<std::size_t>(i) * c, spill.data(), c);
      crypto::secure_wipe(spill.data(), spill.size());
    }
  }
  return {};
}

bool EncryptedFile::is_whole_chunk_read(std::uint64_t offset, std::size_t length) const noexcept {
  const std::uint64_t c = header_.chunk_size();
  if (length < c || offset % c != 0 || offset >= size_) return false;
  const std::uint64_t n = std::min<std::uint64_t>(length, size_ - offset);
  return n % c == 0 && (offset + n) / c <= tail_index_;
}

Result<std::size_t> EncryptedFile::read_whole(std::uint64_t offset, std::span<std::uint8_t> out) const {
  if (!is_whole_chunk_read(offset, out.size())) return make_error(Errc::internal, "not a whole-chunk read");
  const std::uint64_t c = header_.chunk_size();
  const std::uint64_t n = std::min<std::uint64_t>(out.size(), size_ - offset);
  RV_TRY(read_whole_chunks(offset / c, n / c, out.first(static_cast<std::size_t>(n))));
  return static_cast<std::size_t>(n);
}

Result<std::size_t> EncryptedFile::read(std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= size_ || out.empty()) return std::size_t{0};
  const std::uint64_t c = header_.chunk_size();
  const std::size_t total = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset));
  std::size_t done = 0;
  while (done < total) {
    const std::uint64_t pos = offset + done;
    const std::uint64_t index = pos / c;
    const std::size_t within = static_cast<std::size_t>(pos % c);
    const std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(c) - within, total - done);
    if (within == 0 && index < tail_index_ && total - done >= c) {
      // Whole chunks (the kernel's readahead): one pread, decrypted in place.
      const std::uint64_t count = std::min<std::uint64_t>((total - done) / c, tail_index_ - index);
      const std::size_t bytes = static_cast<std::size_t>(count * c);
      RV_TRY(read_whole_chunks(index, count, out.subspan(done, bytes)));
      done += bytes;
      continue;
    }
    if (index == tail_index_) {
      RV_TRY(load_tail());
      std::memcpy(out.data() + done, tail_.data() + within, take);
    } else {
      if (index != cached_index_) {
        drop_cached_chunk();
        RV_TRY(read_chunk(index, cached_));
        cached_index_ = index;
      }
      std::memcpy(out.data() + done, cached_.data() + within, take);
    }
    done += take;
  }
  return total;
}

Status EncryptedFile::leave_tail() {
  if (tail_dirty_ || tail_disk_final_) {
    RV_TRY(write_record(tail_index_, tail_, false));
    tail_dirty_ = false;
    tail_disk_final_ = false;
  }
  return {};
}

Status EncryptedFile::write_at_most_size(std::uint64_t offset, std::span<const std::uint8_t> in) {
  const std::uint64_t c = header_.chunk_size();
  thread_local std::vector<std::uint8_t> chunk;
  std::size_t done = 0;
  while (done < in.size()) {
    const std::uint64_t pos = offset + done;
    const std::uint64_t index = pos / c;
    const std::size_t within = static_cast<std::size_t>(pos % c);
    const std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(c) - within, in.size() - done);
    const auto piece = in.subspan(done, take);
    if (index < tail_index_) {
      std::optional<detail::HoleRun> run;
      if (take == c) {
        RV_TRY(find_hole_before_overwrite(index, run));
      } else {
        RV_TRY(read_chunk(index, chunk, &run));
        std::memcpy(chunk.data() + within, piece.data(), take);
      }
      const auto plain = take == c ? piece : std::span<const std::uint8_t>(chunk);
      RV_TRY(run ? fill_hole(index, *run, plain) : write_record(index, plain, false));
    } else {
      if (index > tail_index_) {  // the tail is full: it stops being the last chunk
        RV_TRY(load_tail());
        RV_TRY(leave_tail());
        if (take == c && done + take < in.size()) {
          // A whole chunk with more to follow goes straight to disk. The tail
          // moves only once it is there: a failed write (ENOSPC) must leave
          // the invariant intact, or a later seal marks an empty chunk final.
          RV_TRY(write_record(index, piece, false));
          tail_index_ = index;
          tail_.assign(piece.begin(), piece.end());
          size_ = index * c + c;
          done += take;
          continue;
        }
        tail_index_ = index;
        tail_.clear();
      }
      RV_TRY(load_tail());
      if (tail_.size() < within + take) tail_.resize(within + take);
      std::memcpy(tail_.data() + within, piece.data(), take);
      tail_dirty_ = true;
      size_ = std::max<std::uint64_t>(size_, index * c + tail_.size());
    }
    done += take;
  }
  crypto::secure_wipe(chunk.data(), chunk.size());
  return {};
}

Status EncryptedFile::extend_with_zeros(std::uint64_t new_size) {
  static const std::vector<std::uint8_t> zeros(std::size_t{1} << kMaxChunkShift, 0);
  while (size_ < new_size) {
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), new_size - size_));
    RV_TRY(write_at_most_size(size_, std::span(zeros).first(take)));
  }
  return {};
}

Status EncryptedFile::write(std::uint64_t offset, std::span<const std::uint8_t> in) {
  if (in.empty()) return {};
  std::uint64_t end = 0;
  if (__builtin_add_overflow(offset, in.size(), &end))
    return make_error(Errc::too_large, "write past the largest file size");
  // Appends (the recording path) pay no system call for the check: the file
  // system answers their EFBIG itself, a chunk at a time.
  if (end > size_) RV_TRY(check_growth(end, offset > size_));
  if (header_.sealed) RV_TRY(unseal());
  if (offset > size_ && !header_.allows_holes()) RV_TRY(extend_with_zeros(offset));
  if (offset > size_ && header_.allows_holes()) {
    // When `offset` starts a chunk, growing one byte further makes that chunk
    // the new tail, so the chunk before it joins the hole instead of being
    // written as a record of zeros. The extra zero byte is the first one `in`
    // overwrites, in memory, before anything can fail.
    const std::uint64_t c = header_.chunk_size();
    RV_TRY(grow(offset % c == 0 ? offset + 1 : offset));
  }
  return write_at_most_size(offset, in);
}

Status EncryptedFile::truncate(std::uint64_t new_size) {
  if (new_size == size_) return {};
  if (new_size > size_) RV_TRY(check_growth(new_size, true));
  drop_cached_chunk();
  if (header_.sealed) RV_TRY(unseal());
  if (new_size > size_) return header_.allows_holes() ? grow(new_size) : extend_with_zeros(new_size);
  const std::uint64_t c = header_.chunk_size();
  const std::uint64_t index = new_size == 0 ? 0 : (new_size - 1) / c;
  const std::size_t keep = static_cast<std::size_t>(new_size - index * c);
  if (index == tail_index_) {
    RV_TRY(load_tail());
  } else {
    std::vector<std::uint8_t> chunk;
    std::optional<detail::HoleRun> run;
    RV_TRY(read_chunk(index, chunk, &run));
    // Cut inside a hole: the new tail will be a record of zeros, and the
    // chunks of the run before it need their own marker, written first.
    if (run && index > run->start) {
      RV_ASSIGN(auto zero, holes_->slot_is_zero(index - 1));
      if (zero) {
        if (auto st = write_marker(index - 1, run->start); !st) {
          return restore_zero_slot(index - 1, std::move(st).error());
        }
      }
    }
    crypto::secure_wipe(tail_.data(), tail_.size());
    tail_ = std::move(chunk);
    tail_index_ = index;
    tail_loaded_ = true;
  }
  tail_.resize(keep);
  size_ = new_size;
  tail_dirty_ = true;
  needs_trim_ = true;
  // Write the new tail before cutting the file, so a crash in between leaves
  // the old length rather than a hole.
  return flush();
}

Status EncryptedFile::flush() {
  if (tail_dirty_) {
    if (!tail_.empty()) RV_TRY(write_record(tail_index_, tail_, false));
    tail_dirty_ = false;
    tail_disk_final_ = false;
  }
  if (needs_trim_) {
    RV_TRY(trim_to(tail_.empty() ? record_offset(tail_index_)
                                 : record_offset(tail_index_) + record_size(header_.algorithm, tail_.size())));
  }
  return {};
}

Status EncryptedFile::trim_to(std::uint64_t end) {
  holes_->forget();
  if (::ftruncate(fd_, static_cast<off_t>(end)) != 0) {
    int e = errno;
    return sys_error("ftruncate", e);
  }
  needs_trim_ = false;
  torn_tail_ = false;
  return {};
}

Status EncryptedFile::seal() {
  if (header_.sealed && !tail_dirty_ && !needs_trim_) return {};
  RV_TRY(load_tail());
  if (tail_index_ == 0) return seal_single_record();
  RV_TRY(write_record(tail_index_, tail_, true));
  tail_dirty_ = false;
  tail_disk_final_ = true;
  // The file ends at the final record unless something (truncate, a torn or
  // failed record) left bytes behind it; only then does it need cutting.
  if (needs_trim_) RV_TRY(trim_to(record_offset(tail_index_) + record_size(header_.algorithm, tail_.size())));
  header_.sealed = true;
  return write_header();
}

Status EncryptedFile::unseal() {
  RV_TRY(load_tail());
  header_.sealed = false;
  RV_TRY(write_header());
  tail_dirty_ = true;  // the last record must be rewritten without the final mark
  return {};
}

std::vector<std::uint8_t> EncryptedFile::encode_signed_header() {
  header_.key_check = keys_.key_check;
  std::vector<std::uint8_t> bytes = encode_header(header_);
  header_.mac = crypto::hmac_sha256(keys_.header.span(), {std::span(bytes).first(bytes.size() - 32)});
  std::copy(header_.mac.begin(), header_.mac.end(), bytes.end() - 32);
  return bytes;
}

Status EncryptedFile::write_header() { return sys::pwrite_full(fd_, encode_signed_header(), 0); }

Status EncryptedFile::seal_single_record() {
  if (cached_index_ == 0) drop_cached_chunk();
  holes_->forget();
  header_.sealed = true;
  thread_local std::vector<std::uint8_t> bytes;
  bytes = encode_signed_header();
  const std::size_t hlen = bytes.size();
  bytes.resize(hlen + record_size(header_.algorithm, tail_.size()));
  Status st = codec_.seal(0, data_flags(true), tail_, std::span(bytes).subspan(hlen));
  if (st) st = sys::pwrite_full(fd_, bytes, 0);
  if (!st) {
    // Cut short (ENOSPC past the old end), the write may have put the
    // sealed header on disk before a record it did not finish: such a file
    // would not open (sealed, its last record torn). The header goes back
    // to "open" (an overwrite of bytes the file already has: no new space),
    // so the file reads as an unterminated one; the next flush or seal
    // rewrites the record and cuts what lies behind it.
    header_.sealed = false;
    needs_trim_ = true;
    tail_dirty_ = true;
    if (auto back = write_header(); !back) {
      Error e = std::move(st).error();
      e.message += "; the header could not be rewritten: " + back.error().message;
      return e;
    }
    return st;
  }
  tail_dirty_ = false;
  tail_disk_final_ = true;
  if (needs_trim_) RV_TRY(trim_to(hlen + record_size(header_.algorithm, tail_.size())));
  return {};
}

}  // namespace recvault::format

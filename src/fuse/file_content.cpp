#include "recvault/fuse/file_content.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "recvault/format/detect.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/pgp/xattrs.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse {

format::KeyResolver resolver_for(const std::string& account, keystore::KeyCache& keys) {
  return [&keys, account](const format::Header& h) { return keys.version_key(account, h.key_version, h.salt); };
}

namespace {

// What a backing file holds (format::detect: the magic decides before any
// xattr, so an xattr can never turn encryption off); "pgp" files are OpenPGP
// messages. Without xattrs (copied with cp or rsync without -X) an OpenPGP
// message reads as a plain file (its ciphertext, as when sealed).
Result<FileContent::Kind> detect_kind(int fd) {
  RV_ASSIGN(auto found, format::detect(fd));
  switch (found.kind) {
    case format::Detected::Kind::plain:
      return FileContent::Kind::plain;
    case format::Detected::Kind::encrypted:
      return FileContent::Kind::encrypted;
    case format::Detected::Kind::marked:
      break;
  }
  if (found.marker == pgp::xattr::pgp_format) return FileContent::Kind::pgp;
  return make_error(Errc::unsupported, "unknown user.recvault.format value on a file without a recvault header");
}

}  // namespace

namespace {

std::int64_t allocated_bytes(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<std::int64_t>(st.st_blocks) * 512 : 0;
}

}  // namespace

FileContent::FileContent(sys::UniqueFd fd) : fd_(std::move(fd)), allocated_(allocated_bytes(fd_.get())) {}

void FileContent::enter(State next) {
  state_ = std::move(next);
  const Kind k = std::holds_alternative<Plain>(state_)       ? Kind::plain
                 : std::holds_alternative<Encrypted>(state_) ? Kind::encrypted
                                                             : Kind::pgp;
  kind_.store(k, std::memory_order_relaxed);
}

format::EncryptedFile* FileContent::encrypted() {
  auto* e = std::get_if<Encrypted>(&state_);
  return e != nullptr ? e->file.get() : nullptr;
}

std::shared_ptr<pgp::SealStream> FileContent::stream() {
  auto* s = std::get_if<Sealing>(&state_);
  return s != nullptr ? s->stream : nullptr;
}

std::int64_t FileContent::allocation_change() {
  const std::int64_t now = allocated_bytes(fd_.get());
  return now - allocated_.exchange(now);
}

Status FileContent::load(const std::string& account, keystore::KeyCache& keys, SizeMemo* known) {
  if (::fstat(fd_.get(), &loaded_) != 0) {
    int e = errno;
    return sys_error("fstat", e);
  }
  const bool xattrs_good = known != nullptr && known->xattrs_known_good(loaded_);
  // Loading reads the magic, the header and the last record: three reads
  // at different offsets, which the kernel's readahead turns into three
  // disk requests for a file it does not hold. A small recording is read
  // whole anyway, so it is asked for in one (a no-op when cached), without
  // waiting; then, if they are to be compared, the xattrs are listed, which
  // waits for their block (ext4 keeps an xattr as long as
  // user.recvault.meta outside the inode) while the content is on its way:
  // two disk reads at once instead of in turn. Not without a memo (shared
  // mode): on a network file system that listing is one more round trip.
  if (S_ISREG(loaded_.st_mode) && loaded_.st_size > 0 && loaded_.st_size <= kReadWholeUpTo) {
    ::posix_fadvise(fd_.get(), 0, loaded_.st_size, POSIX_FADV_WILLNEED);
    if (known != nullptr && !xattrs_good) ::flistxattr(fd_.get(), nullptr, 0);
  }
  RV_ASSIGN(auto kind, detect_kind(fd_.get()));
  if (kind == Kind::pgp) {
    enter(SealedPgp{});
    auto partial = sys::get_xattr(fd_.get(), pgp::xattr::sealing);
    if (partial && partial->has_value()) {
      log::warn("an OpenPGP recording was left incomplete by a previous daemon (its message is truncated)");
    }
  } else if (kind == Kind::encrypted) {
    using Check = format::EncryptedFile::XattrCheck;
    RV_ASSIGN(auto f, format::EncryptedFile::open(fd_.get(), resolver_for(account, keys),
                                                  xattrs_good ? Check::known_good : Check::compare));
    if (known != nullptr && !xattrs_good && f->state() == format::FileState::sealed && !f->torn_tail()) {
      known->remember(loaded_, f->size(), true);
    }
    enter(Encrypted{std::move(f)});
  } else {
    enter(Plain{});
  }
  return {};
}

Result<std::shared_ptr<FileContent>> FileContent::open_existing(sys::UniqueFd fd, const std::string& account,
                                                                keystore::KeyCache& keys, SizeMemo* known) {
  std::shared_ptr<FileContent> c(new FileContent(std::move(fd)));
  ExclusiveLock<SharedMutex> lock(c->m_);  // not shared yet: uncontended
  RV_TRY(c->load(account, keys, known));
  return c;
}

Status FileContent::refresh_if_changed(const std::string& account, keystore::KeyCache& keys) {
  if (may_seal_.load(std::memory_order_relaxed)) return {};  // a writer's content is the truth
  struct stat now {};
  if (::fstat(fd_.get(), &now) != 0) {
    int e = errno;
    return sys_error("fstat", e);
  }
  ExclusiveLock<SharedMutex> lock(m_);
  if (now.st_size == loaded_.st_size && now.st_mtim.tv_sec == loaded_.st_mtim.tv_sec &&
      now.st_mtim.tv_nsec == loaded_.st_mtim.tv_nsec) {
    return {};
  }
  if (std::holds_alternative<Sealing>(state_)) return {};
  return load(account, keys);
}

Status FileContent::hold_write_lock(const std::string& account, keystore::KeyCache& keys, bool reload) {
  ExclusiveLock<SharedMutex> lock(m_);
  if (write_locked_) return {};
  RV_ASSIGN(bool taken, sys::try_lock_writer(fd_.get()));
  if (!taken) {
    return make_error(Errc::conflict,
                      "another writer (another host's recvaultd, or recvault-fsck) holds the lock on the backing file");
  }
  write_locked_ = true;
  if (reload && !std::holds_alternative<Sealing>(state_)) RV_TRY(load(account, keys));
  return {};
}

Status FileContent::begin_pgp(const std::string& account, const std::string& public_key_id, const Placement& where) {
  if (where.sealer == nullptr) return make_error(Errc::internal, "OpenPGP sealing is not available in this daemon");
  RV_ASSIGN(auto recipient, where.sealer->recipient(account, public_key_id));
  // The markers go on before the first ciphertext byte, so a crash leaves a
  // file that says what it is (an incomplete message), never a "plain" one.
  RV_TRY(sys::set_xattr(fd_.get(), format::xattr::format, pgp::xattr::pgp_format));
  RV_TRY(sys::set_xattr(fd_.get(), pgp::xattr::sealing, "1"));
  RV_TRY(sys::set_xattr(fd_.get(), pgp::xattr::public_key_id, recipient.public_key_id));
  RV_TRY(sys::set_xattr(fd_.get(), pgp::xattr::fingerprint, recipient.fingerprint));
  RV_ASSIGN(auto stream, where.sealer->start(fd_.get(), std::move(recipient)));
  enter(Sealing{std::move(stream)});
  return {};
}

Status FileContent::begin(const std::string& account, keystore::KeyCache& keys, std::uint32_t chunk_size,
                          const Placement& where) {
  enter(Plain{});
  auto current = keys.current(account);
  if (!current && current.error().code != Errc::not_found) return std::move(current).error();
  if (!current && where.refuse_unconfigured && where.dir_public_key_id.empty()) {
    return make_error(Errc::not_permitted, "account " + account +
                                               " has no encryption configuration, and unconfigured accounts "
                                               "may not store recordings ([accounts] unconfigured = \"refuse\")");
  }
  // Precedence: the directory's key, then the account's key, then AES, then plain.
  std::string pgp_key = where.dir_public_key_id;
  if (pgp_key.empty() && current) pgp_key = current->public_key_id;
  if (!pgp_key.empty()) return begin_pgp(account, pgp_key, where);
  if (current && current->enabled) {
    RV_ASSIGN(auto f, format::EncryptedFile::create(fd_.get(), current->spec, chunk_size));
    enter(Encrypted{std::move(f)});
    return {};
  }
  auto st = sys::set_xattr(fd_.get(), format::xattr::format, format::xattr::plain_format);
  if (!st && st.error().sys_errno != ENOTSUP) return st;
  return {};
}

Result<std::shared_ptr<FileContent>> FileContent::start_new(sys::UniqueFd fd, const std::string& account,
                                                            keystore::KeyCache& keys, std::uint32_t chunk_size,
                                                            const Placement& where) {
  std::shared_ptr<FileContent> c(new FileContent(std::move(fd)));
  {
    ExclusiveLock<SharedMutex> lock(c->m_);  // not shared yet: uncontended
    RV_TRY(c->begin(account, keys, chunk_size, where));
  }
  c->note_writer();
  return c;
}

Status FileContent::restart(const std::string& account, keystore::KeyCache& keys, std::uint32_t chunk_size,
                            const Placement& where) {
  ExclusiveLock<SharedMutex> lock(m_);
  note_writer();
  unpin_locked();
  // A sealed OpenPGP recording is immutable: it is never overwritten in place.
  if (std::holds_alternative<SealedPgp>(state_)) {
    return make_error(Errc::refused, "a sealed OpenPGP recording cannot be truncated");
  }
  enter(Plain{});  // closes the encrypted file; aborts an unfinished stream
  if (::ftruncate(fd_.get(), 0) != 0) {
    int e = errno;
    return sys_error("ftruncate", e);
  }
  for (const char* name :
       {format::xattr::meta, format::xattr::format, format::xattr::algorithm, format::xattr::key_version,
        format::xattr::key_id, format::xattr::salt, format::xattr::file_id, pgp::xattr::sealing,
        pgp::xattr::public_key_id, pgp::xattr::fingerprint}) {
    ::fremovexattr(fd_.get(), name);  // absent is fine
  }
  return begin(account, keys, chunk_size, where);
}

Status FileContent::refuse_magic(std::uint64_t offset, std::span<const std::uint8_t> in) const {
  constexpr std::size_t n = sizeof format::kMagic;
  if (offset >= n || in.empty()) return {};
  std::uint8_t first[n] = {};
  RV_ASSIGN(auto got, sys::pread_full(fd_.get(), first, 0));
  std::size_t len = got;
  for (std::size_t i = 0; i < in.size() && offset + i < n; ++i) first[offset + i] = in[i];
  len = std::max<std::size_t>(len, std::min<std::size_t>(n, offset + in.size()));
  if (!format::has_magic(std::span(first, len))) return {};
  return make_error(Errc::invalid_argument,
                    "an unencrypted recording cannot start with the bytes \"RECVAULT\": it would read as an "
                    "encrypted file (docs/FORMAT.md section 8)");
}

std::uint64_t FileContent::size() {
  SharedLock lock(m_);
  if (auto* e = encrypted()) return e->size();
  if (auto s = stream()) return s->accepted();  // while open: the writer's view
  auto s = sys::file_size(fd_.get());
  return s ? *s : 0;
}

Result<std::size_t> FileContent::read(std::uint64_t offset, std::span<std::uint8_t> out) {
  {
    SharedLock shared(m_);
    auto* e = encrypted();
    if (e != nullptr && e->is_whole_chunk_read(offset, out.size())) return e->read_whole(offset, out);
  }
  ExclusiveLock<SharedMutex> lock(m_);
  if (auto* e = encrypted()) return e->read(offset, out);
  if (std::holds_alternative<Sealing>(state_))
    return make_error(Errc::not_permitted, "an OpenPGP recording is not readable while it is written");
  return sys::pread_full(fd_.get(), out, offset);
}

std::optional<FileContent::Extent> FileContent::enclosing_chunk(std::uint64_t offset, std::size_t length) {
  SharedLock lock(m_);
  auto* e = encrypted();
  if (e == nullptr) return std::nullopt;
  const std::uint64_t c = e->header().chunk_size();
  const std::uint64_t start = offset - offset % c;
  if (length == 0 || length >= c || offset + length > start + c) return std::nullopt;
  if (!e->is_whole_chunk_read(start, static_cast<std::size_t>(c))) return std::nullopt;
  return Extent{start, static_cast<std::size_t>(c)};
}

std::optional<std::size_t> FileContent::one_chunk_size() {
  SharedLock lock(m_);
  auto* e = encrypted();
  if (e == nullptr || e->size() == 0 || e->size() > e->header().chunk_size()) return std::nullopt;
  return static_cast<std::size_t>(e->size());
}

Status FileContent::write(std::uint64_t offset, std::span<const std::uint8_t> in, bool kernel_keeps_times) {
  std::shared_ptr<pgp::SealStream> stream;
  note_writer();
  {
    ExclusiveLock<SharedMutex> lock(m_);
    if (!kernel_keeps_times) unpin_locked();
    if (auto* e = encrypted()) return e->write(offset, in);
    if (std::holds_alternative<SealedPgp>(state_)) {
      return make_error(Errc::refused, "a sealed OpenPGP recording is read-only");
    }
    stream = this->stream();
    if (!stream) {  // Plain
      RV_TRY(refuse_magic(offset, in));
      return sys::pwrite_full(fd_.get(), in, offset);
    }
  }
  // Without m_: append() may wait for gpg (backpressure) and must not stall
  // getattr or the flusher meanwhile.
  return stream->append(offset, in);
}

Status FileContent::truncate(std::uint64_t size) {
  note_writer();
  ExclusiveLock<SharedMutex> lock(m_);
  unpin_locked();
  if (auto* e = encrypted()) return e->truncate(size);
  if (kind() == Kind::pgp) {
    auto s = stream();
    if (s && s->accepted() == size) return {};  // O_TRUNC of a new, empty recording
    return make_error(Errc::refused, "OpenPGP recordings cannot be truncated");
  }
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    int e = errno;
    return sys_error("ftruncate", e);
  }
  return {};
}

int FileContent::set_times(const struct timespec times[2]) {
  ExclusiveLock<SharedMutex> lock(m_);
  if (::futimens(fd_.get(), times) != 0) return errno;
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0) pinned_ = std::array<struct timespec, 2>{st.st_atim, st.st_mtim};
  return 0;
}

void FileContent::restore_pinned_locked() noexcept {
  if (pinned_) ::futimens(fd_.get(), pinned_->data());
}

Status FileContent::flush() {
  if (!may_seal_.load(std::memory_order_relaxed)) return {};  // a reader's content
  ExclusiveLock<SharedMutex> lock(m_);
  auto* e = encrypted();
  if (e == nullptr) return {};
  const bool wrote = e->dirty();
  auto st = e->flush();
  if (wrote) restore_pinned_locked();
  return st;
}

bool FileContent::dirty() {
  SharedLock lock(m_);
  auto* e = encrypted();
  return e != nullptr && e->dirty();
}

Status FileContent::fsync(bool datasync) {
  ExclusiveLock<SharedMutex> lock(m_);
  if (auto* e = encrypted(); e != nullptr && e->dirty()) {
    RV_TRY(e->flush());
    restore_pinned_locked();
  }
  if ((datasync ? ::fdatasync(fd_.get()) : ::fsync(fd_.get())) != 0) {
    int e = errno;
    return sys_error("fsync", e);
  }
  return {};
}

Status FileContent::seal() {
  if (!may_seal_.load(std::memory_order_relaxed)) return {};
  std::shared_ptr<pgp::SealStream> stream;
  {
    ExclusiveLock<SharedMutex> lock(m_);
    stream = this->stream();
    if (!stream) {
      auto* e = encrypted();
      if (e == nullptr) return {};
      const bool writes = e->dirty() || !e->header().sealed || !sealed_;
      auto st = e->seal();
      if (writes) {
        // Only after a write: putting the pinned times back changes the
        // ctime, and sealed_ is what the next open compares with.
        restore_pinned_locked();
        sealed_.reset();
        struct stat now {};
        if (st && ::fstat(fd_.get(), &now) == 0) sealed_ = SealedState{now, e->size()};
      }
      return st;
    }
  }
  auto st = stream->finish();  // without m_: gpg writes the rest of the message
  ExclusiveLock<SharedMutex> lock(m_);
  if (this->stream() != stream) return st;  // another closer got here first
  enter(SealedPgp{});
  RV_TRY(st);
  if (::fremovexattr(fd_.get(), pgp::xattr::sealing) != 0) {
    int e = errno;
    return sys_error("mark the OpenPGP recording complete", e);
  }
  restore_pinned_locked();
  return {};
}

std::optional<FileContent::SealedState> FileContent::sealed_state() {
  SharedLock lock(m_);
  return sealed_;
}

std::optional<struct stat> FileContent::seen_state() {
  SharedLock lock(m_);
  if (!may_seal_.load(std::memory_order_relaxed)) return loaded_;
  if (sealed_) return sealed_->backing;
  return std::nullopt;
}

struct stat FileContent::loaded_state() {
  SharedLock lock(m_);
  return loaded_;
}

bool FileContent::sealing() {
  SharedLock lock(m_);
  return std::holds_alternative<Sealing>(state_);
}

bool FileContent::sealed_pgp() {
  SharedLock lock(m_);
  return std::holds_alternative<SealedPgp>(state_);
}

Result<std::uint64_t> plaintext_size(int path_fd, const struct stat& backing, const std::string& account,
                                     keystore::KeyCache& keys) {
  if (backing.st_size == 0) return std::uint64_t{0};
  std::string proc = "/proc/self/fd/" + std::to_string(path_fd);
  // O_NOATIME: a stat through the view must not change the backing file's
  // times (with relatime, reading the header would reset an atime that
  // utimensat set).
  sys::UniqueFd fd(::open(proc.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME));
  if (!fd.valid() && errno == EPERM) fd.reset(::open(proc.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int e = errno;
    return sys_error("open", e);
  }
  RV_ASSIGN(auto kind, detect_kind(fd.get()));
  if (kind != FileContent::Kind::encrypted) return static_cast<std::uint64_t>(backing.st_size);
  RV_ASSIGN(auto header, format::read_header(fd.get()));
  if (auto hint = format::EncryptedFile::plaintext_size_hint(header, static_cast<std::uint64_t>(backing.st_size))) {
    return *hint;
  }
  RV_ASSIGN(auto f, format::EncryptedFile::open(fd.get(), resolver_for(account, keys)));
  return (f)->size();
}

}  // namespace recvault::fuse

#include "recvault/fuse/file_content.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "recvault/format/xattrs.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse {

format::KeyResolver resolver_for(const std::string& account, keystore::KeyCache& keys) {
  return [&keys, account](const format::Header& h) { return keys.version_key(account, h.key_version, h.salt); };
}

namespace {

// Whether a backing file is encrypted. The format xattr decides when present
// ("plain" files may start with anything, even our magic); without xattrs
// (copied with cp or rsync without -X) the header magic decides.
Result<bool> is_encrypted(int fd) {
  auto fmt = sys::get_xattr(fd, format::xattr::format);
  if (fmt && fmt->has_value() && **fmt == format::xattr::plain_format) return false;
  std::uint8_t magic[sizeof format::kMagic] = {};
  auto n = sys::pread_full(fd, magic, 0);
  if (!n) return std::move(n).error();
  if (format::has_magic(std::span(magic, *n))) return true;
  if (fmt && fmt->has_value() && *n > 0) {
    return make_error(Errc::tampered, "xattrs mark an encrypted file but its header is missing");
  }
  return false;
}

}  // namespace

Result<std::shared_ptr<FileContent>> FileContent::open_existing(sys::UniqueFd fd, const std::string& account,
                                                                 keystore::KeyCache& keys) {
  std::shared_ptr<FileContent> c(new FileContent(std::move(fd)));
  auto enc = is_encrypted(c->fd_.get());
  if (!enc) return std::move(enc).error();
  if (*enc) {
    auto f = format::EncryptedFile::open(c->fd_.get(), resolver_for(account, keys));
    if (!f) return std::move(f).error();
    c->enc_ = std::move(f).value();
    c->kind_ = Kind::encrypted;
  }
  return c;
}

Status FileContent::begin(const std::string& account, keystore::KeyCache& keys, std::uint32_t chunk_size) {
  enc_.reset();
  kind_ = Kind::plain;
  auto current = keys.current(account);
  if (!current && current.error().code != Errc::not_found) return std::move(current).error();
  if (current && current->enabled) {
    auto f = format::EncryptedFile::create(fd_.get(), current->spec, chunk_size);
    if (!f) return std::move(f).error();
    enc_ = std::move(f).value();
    kind_ = Kind::encrypted;
    return {};
  }
  auto st = sys::set_xattr(fd_.get(), format::xattr::format, format::xattr::plain_format);
  if (!st && st.error().sys_errno != ENOTSUP) return st;
  return {};
}

Result<std::shared_ptr<FileContent>> FileContent::start_new(sys::UniqueFd fd, const std::string& account,
                                                             keystore::KeyCache& keys, std::uint32_t chunk_size) {
  std::shared_ptr<FileContent> c(new FileContent(std::move(fd)));
  RV_TRY(c->begin(account, keys, chunk_size));
  return c;
}

Status FileContent::restart(const std::string& account, keystore::KeyCache& keys, std::uint32_t chunk_size) {
  std::lock_guard lock(m_);
  enc_.reset();
  if (::ftruncate(fd_.get(), 0) != 0) {
    int e = errno;
    return sys_error("ftruncate", e);
  }
  for (const char* name : {format::xattr::format, format::xattr::algorithm, format::xattr::key_version,
                           format::xattr::key_id, format::xattr::salt, format::xattr::file_id}) {
    ::fremovexattr(fd_.get(), name);  // absent is fine
  }
  return begin(account, keys, chunk_size);
}

std::uint64_t FileContent::size() {
  std::lock_guard lock(m_);
  if (enc_) return enc_->size();
  auto s = sys::file_size(fd_.get());
  return s ? *s : 0;
}

Result<std::size_t> FileContent::read(std::uint64_t offset, std::span<std::uint8_t> out) {
  std::lock_guard lock(m_);
  if (enc_) return enc_->read(offset, out);
  return sys::pread_full(fd_.get(), out, offset);
}

Status FileContent::write(std::uint64_t offset, std::span<const std::uint8_t> in) {
  std::lock_guard lock(m_);
  if (enc_) return enc_->write(offset, in);
  return sys::pwrite_full(fd_.get(), in, offset);
}

Status FileContent::truncate(std::uint64_t size) {
  std::lock_guard lock(m_);
  if (enc_) return enc_->truncate(size);
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    int e = errno;
    return sys_error("ftruncate", e);
  }
  return {};
}

Status FileContent::flush() {
  std::lock_guard lock(m_);
  return enc_ ? enc_->flush() : Status{};
}

bool FileContent::dirty() {
  std::lock_guard lock(m_);
  return enc_ && enc_->dirty();
}

Status FileContent::fsync(bool datasync) {
  std::lock_guard lock(m_);
  if (enc_) RV_TRY(enc_->flush());
  if ((datasync ? ::fdatasync(fd_.get()) : ::fsync(fd_.get())) != 0) {
    int e = errno;
    return sys_error("fsync", e);
  }
  return {};
}

Status FileContent::seal() {
  std::lock_guard lock(m_);
  return enc_ ? enc_->seal() : Status{};
}

Result<std::uint64_t> plaintext_size(int path_fd, const struct stat& backing, const std::string& account,
                                     keystore::KeyCache& keys) {
  if (backing.st_size == 0) return std::uint64_t{0};
  std::string proc = "/proc/self/fd/" + std::to_string(path_fd);
  sys::UniqueFd fd(::open(proc.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int e = errno;
    return sys_error("open", e);
  }
  auto enc = is_encrypted(fd.get());
  if (!enc) return std::move(enc).error();
  if (!*enc) return static_cast<std::uint64_t>(backing.st_size);
  auto header = format::read_header(fd.get());
  if (!header) return std::move(header).error();
  if (auto hint = format::EncryptedFile::plaintext_size_hint(*header, static_cast<std::uint64_t>(backing.st_size))) {
    return *hint;
  }
  auto f = format::EncryptedFile::open(fd.get(), resolver_for(account, keys));
  if (!f) return std::move(f).error();
  return (*f)->size();
}

}  // namespace recvault::fuse

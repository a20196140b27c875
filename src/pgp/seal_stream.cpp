#include "recvault/pgp/seal_stream.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "recvault/crypto/secret.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::pgp {

SealStream::SealStream(int fd, const SealOptions& options)
    : fd_(fd), options_(options), ring_(std::max<std::size_t>(options.pipe_bytes, 4096)) {}

Result<std::unique_ptr<SealStream>> SealStream::start(int fd, UniqueKey key, const std::string& home,
                                                      const SealOptions& options) {
  auto ctx = new_context(home);
  RV_TRY(ctx);
  gpgme_set_armor(ctx->get(), options.armor ? 1 : 0);
  std::unique_ptr<SealStream> s(new SealStream(fd, options));
  SealStream* self = s.get();
  s->worker_ = std::thread(
      [self, c = std::move(ctx).value(), k = std::move(key)]() mutable { self->run(std::move(c), std::move(k)); });
  return s;
}

SealStream::~SealStream() {
  {
    std::lock_guard lock(m_);
    if (!done_) aborted_ = true;
  }
  cv_.notify_all();
  {
    std::lock_guard join(join_mutex_);
    if (worker_.joinable()) worker_.join();
  }
  crypto::secure_wipe(ring_.data(), ring_.size());
}

void SealStream::run(UniqueCtx ctx, UniqueKey key) {
  static gpgme_data_cbs in_cbs{&SealStream::read_cb, nullptr, nullptr, nullptr};
  static gpgme_data_cbs out_cbs{nullptr, &SealStream::write_cb, nullptr, nullptr};
  std::optional<Error> failure;
  gpgme_data_t raw_in = nullptr, raw_out = nullptr;
  if (auto err = gpgme_data_new_from_cbs(&raw_in, &in_cbs, this); err != GPG_ERR_NO_ERROR) {
    failure = gpg_error("gpgme_data_new_from_cbs", err);
  }
  UniqueData in(raw_in);
  if (!failure) {
    if (auto err = gpgme_data_new_from_cbs(&raw_out, &out_cbs, this); err != GPG_ERR_NO_ERROR)
      failure = gpg_error("gpgme_data_new_from_cbs", err);
  }
  UniqueData out(raw_out);
  if (!failure) {
    gpgme_data_set_encoding(in.get(), GPGME_DATA_ENCODING_BINARY);
    gpgme_key_t recipients[2] = {key.get(), nullptr};
    // Always-trust: the key was vetted at upload and is named by the account's
    // admin; the daemon's keyring has no web of trust. No compression: audio
    // barely compresses and the ciphertext then never shrinks below the input.
    auto flags = static_cast<gpgme_encrypt_flags_t>(GPGME_ENCRYPT_ALWAYS_TRUST | GPGME_ENCRYPT_NO_COMPRESS);
    auto err = gpgme_op_encrypt(ctx.get(), recipients, flags, in.get(), out.get());
    if (err == GPG_ERR_NO_ERROR) {
      gpgme_encrypt_result_t r = gpgme_op_encrypt_result(ctx.get());
      if (r != nullptr && r->invalid_recipients != nullptr)
        failure = make_error(Errc::invalid_argument, "gpg refused the recipient key");
    } else {
      failure = gpg_error("gpgme_op_encrypt", err);
    }
  }
  std::lock_guard lock(m_);
  if (!failure && aborted_) failure = make_error(Errc::io, "the recording was aborted");
  failure_ = std::move(failure);
  done_ = true;
  cv_.notify_all();
}

ssize_t SealStream::read_cb(void* handle, void* buffer, std::size_t size) {
  auto& s = *static_cast<SealStream*>(handle);
  std::unique_lock lock(s.m_);
  s.cv_.wait(lock, [&] { return s.used_ > 0 || s.input_closed_ || s.aborted_; });
  if (s.aborted_) {
    errno = ECANCELED;
    return -1;
  }
  if (s.used_ == 0) return 0;  // end of input
  std::size_t n = std::min({size, s.used_, s.ring_.size() - s.head_});
  std::memcpy(buffer, s.ring_.data() + s.head_, n);
  crypto::secure_wipe(s.ring_.data() + s.head_, n);
  s.head_ = (s.head_ + n) % s.ring_.size();
  s.used_ -= n;
  s.cv_.notify_all();
  return static_cast<ssize_t>(n);
}

ssize_t SealStream::write_cb(void* handle, const void* buffer, std::size_t size) {
  auto& s = *static_cast<SealStream*>(handle);
  std::uint64_t at = 0;
  {
    std::lock_guard lock(s.m_);
    at = s.written_;
  }
  // Only this worker thread writes, so `at` cannot move under us.
  auto st = sys::pwrite_full(s.fd_, std::span(static_cast<const std::uint8_t*>(buffer), size), at);
  if (!st) {
    errno = st.error().sys_errno != 0 ? st.error().sys_errno : EIO;
    return -1;
  }
  std::lock_guard lock(s.m_);
  s.written_ += size;
  return static_cast<ssize_t>(size);
}

Status SealStream::append(std::uint64_t offset, std::span<const std::uint8_t> data) {
  std::unique_lock lock(m_);
  if (offset < accepted_) return make_error(Errc::invalid_argument, "OpenPGP recordings are append-only");
  if (offset > accepted_) {
    // Several FUSE threads may carry one writer's consecutive writes; give
    // the earlier ones a moment. A real hole (a seek past the end) fails,
    // at once when it is farther than any reordering could explain.
    if (offset - accepted_ > options_.reorder_window) {
      return make_error(Errc::invalid_argument, "OpenPGP recordings are append-only (no holes)");
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.reorder_wait_ms);
    if (!cv_.wait_until(lock, until, [&] { return accepted_ >= offset || done_ || input_closed_; }) ||
        accepted_ != offset)
      return make_error(Errc::invalid_argument, "OpenPGP recordings are append-only (no holes)");
  }
  std::size_t pos = 0;
  while (pos < data.size()) {
    cv_.wait(lock, [&] { return used_ < ring_.size() || done_ || input_closed_ || aborted_; });
    if (done_ || aborted_) {
      if (failure_) return *failure_;
      return make_error(Errc::io, "the OpenPGP encryption ended early");
    }
    if (input_closed_) return make_error(Errc::refused, "the recording is already sealed");
    std::size_t tail = (head_ + used_) % ring_.size();
    std::size_t n = std::min({data.size() - pos, ring_.size() - used_, ring_.size() - tail});
    std::memcpy(ring_.data() + tail, data.data() + pos, n);
    used_ += n;
    pos += n;
    accepted_ += n;
    cv_.notify_all();
  }
  return {};
}

std::uint64_t SealStream::accepted() const {
  std::lock_guard lock(m_);
  return accepted_;
}

std::uint64_t SealStream::ciphertext_size() const {
  std::lock_guard lock(m_);
  return written_;
}

bool SealStream::finished() const {
  std::lock_guard lock(m_);
  return done_;
}

Status SealStream::finish() {
  {
    std::unique_lock lock(m_);
    input_closed_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return done_; });
  }
  {
    std::lock_guard join(join_mutex_);
    if (worker_.joinable()) worker_.join();
  }
  std::lock_guard lock(m_);
  if (failure_) return *failure_;
  return {};
}

}  // namespace recvault::pgp

#include "recvault/format/record.hpp"

#include "nonce_pool.hpp"
#include "recvault/crypto/cipher.hpp"
#include "recvault/format/stats.hpp"

#include <atomic>

namespace recvault::format {

namespace {

// Process-wide, monotonic, relaxed: the one piece of shared state of the
// format, kept because a record is sealed deep below any object that could
// carry a metrics sink (stats.hpp).
std::atomic<std::uint64_t> g_sealed{0};
std::atomic<std::uint64_t> g_opened{0};

}  // namespace

CodecCounts codec_counts() noexcept {
  return {g_sealed.load(std::memory_order_relaxed), g_opened.load(std::memory_order_relaxed)};
}

std::array<std::uint8_t, 41> RecordCodec::aad(std::uint64_t index, RecordFlags flags) const noexcept {
  std::array<std::uint8_t, 41> a{};
  std::copy(core_digest_.begin(), core_digest_.end(), a.begin());
  for (int i = 0; i < 8; ++i) a[32 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(index >> (8 * i));
  a[40] = static_cast<std::uint8_t>(flags);
  return a;
}

Status RecordCodec::seal(std::uint64_t index, RecordFlags flags, std::span<const std::uint8_t> plain,
                         std::span<std::uint8_t> record) const {
  if (record.size() != record_size(header_.algorithm, plain.size())) {
    return make_error(Errc::internal, "record buffer has the wrong size");
  }
  const auto ad = aad(index, flags);
  auto& cipher = crypto::thread_cipher();
  if (header_.algorithm == Algorithm::aes256_gcm) {
    auto nonce = record.first(12);
    RV_TRY(detail::fresh_nonce(nonce));
    RV_TRY(cipher.gcm_seal(keys_.data.span(), nonce, ad, plain, record.subspan(12, plain.size()), record.last(16)));
    g_sealed.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  auto iv = record.first(16);
  RV_TRY(detail::fresh_nonce(iv));
  RV_TRY(cipher.cbc_seal(keys_.data.span(), iv, ad, plain, record.subspan(16, record.size() - 48), record.last(32)));
  g_sealed.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Result<std::size_t> RecordCodec::open(std::uint64_t index, RecordFlags flags, std::span<const std::uint8_t> record,
                                      std::span<std::uint8_t> out) const {
  const auto ad = aad(index, flags);
  auto& cipher = crypto::thread_cipher();
  if (header_.algorithm == Algorithm::aes256_gcm) {
    if (record.size() < kGcmOverhead) return make_error(Errc::tampered, "record too short");
    const std::size_t n = record.size() - kGcmOverhead;
    if (out.size() < n) return make_error(Errc::internal, "output buffer too small");
    RV_TRY(
        cipher.gcm_open(keys_.data.span(), record.first(12), ad, record.subspan(12, n), record.last(16), out.first(n)));
    g_opened.fetch_add(1, std::memory_order_relaxed);
    return n;
  }
  if (record.size() < kCbcOverhead + 16 || (record.size() - kCbcOverhead) % 16 != 0) {
    return make_error(Errc::tampered, "record length is impossible for AES-256-CBC");
  }
  const std::size_t ct = record.size() - kCbcOverhead;
  if (out.size() < ct) return make_error(Errc::internal, "output buffer too small");
  auto n = cipher.cbc_open(keys_.data.span(), record.first(16), ad, record.subspan(16, ct), record.last(32), out);
  if (n) g_opened.fetch_add(1, std::memory_order_relaxed);
  return n;
}

}  // namespace recvault::format

#include "recvault/format/header.hpp"

#include <algorithm>
#include <cstring>

#include "recvault/sys/fd.hpp"

namespace recvault::format {
namespace {

// Writes fields in order into a buffer sized up front (GCC 12 raises false
// -Wstringop-overflow warnings for push_back sequences after reserve()).
class Writer {
 public:
  explicit Writer(std::size_t n) : buf_(n, 0) {}
  void u8(std::uint8_t v) { buf_[pos_++] = v; }
  void u16(std::uint16_t v) {
    for (int i = 0; i < 2; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void bytes(const void* p, std::size_t n) {
    if (n != 0) std::memcpy(buf_.data() + pos_, p, n);
    pos_ += n;
  }
  std::vector<std::uint8_t> take() { return std::move(buf_); }

 private:
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
};

std::uint16_t get_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }
std::uint32_t get_u32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

Error malformed(const char* what) { return make_error(Errc::tampered, std::string("malformed header: ") + what); }

}  // namespace

std::string_view algorithm_name(Algorithm a) noexcept {
  switch (a) {
    case Algorithm::aes256_gcm:
      return "AES-256-GCM";
    case Algorithm::aes256_cbc_hmac:
      return "AES-256-CBC";
  }
  return "unknown";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) noexcept {
  if (name == "AES-256-GCM") return Algorithm::aes256_gcm;
  if (name == "AES-256-CBC") return Algorithm::aes256_cbc_hmac;
  return std::nullopt;
}

bool has_magic(std::span<const std::uint8_t> prefix) noexcept {
  return prefix.size() >= sizeof kMagic && std::memcmp(prefix.data(), kMagic, sizeof kMagic) == 0;
}

std::vector<std::uint8_t> encode_header(const Header& h) {
  Writer w(h.encoded_size());
  w.bytes(kMagic, sizeof kMagic);
  w.u16(static_cast<std::uint16_t>(h.encoded_size()));
  w.u8(h.format_version);
  w.u8(static_cast<std::uint8_t>(h.algorithm));
  w.u8(h.chunk_shift);
  w.u8(1);  // KDF: scrypt
  w.u8(h.kdf.log2_n);
  w.u8(h.kdf.r);
  w.u8(h.kdf.p);
  w.u8(0);
  w.u32(h.key_version);
  w.bytes(h.file_id.data(), h.file_id.size());
  w.u8(static_cast<std::uint8_t>(h.key_id.size()));
  w.u8(static_cast<std::uint8_t>(h.salt.size()));
  w.bytes(h.key_id.data(), h.key_id.size());
  w.bytes(h.salt.data(), h.salt.size());
  w.u8(h.sealed ? 1 : 0);
  w.bytes(h.key_check.data(), h.key_check.size());
  w.bytes(h.mac.data(), h.mac.size());
  return w.take();
}

Result<Header> decode_header(std::span<const std::uint8_t> bytes) {
  if (!has_magic(bytes)) return make_error(Errc::not_recvault, "no recvault header (magic missing)");
  if (bytes.size() < kFixedHeaderBytes + kTrailerBytes) return malformed("shorter than the fixed part");
  const std::uint8_t* p = bytes.data();
  Header h;
  std::size_t declared = get_u16(p + 8);
  h.format_version = p[10];
  if (h.format_version < kOldestFormatVersion || h.format_version > kFormatVersion) {
    return make_error(Errc::unsupported,
                      "format version " + std::to_string(h.format_version) + " is not supported by this build (knows " +
                          std::to_string(kOldestFormatVersion) + " to " + std::to_string(kFormatVersion) + ")");
  }
  if (p[11] != 1 && p[11] != 2) return make_error(Errc::unsupported, "unknown algorithm id " + std::to_string(p[11]));
  h.algorithm = static_cast<Algorithm>(p[11]);
  h.chunk_shift = p[12];
  if (h.chunk_shift < kMinChunkShift || h.chunk_shift > kMaxChunkShift) return malformed("chunk size out of range");
  if (p[13] != 1) return make_error(Errc::unsupported, "unknown KDF id " + std::to_string(p[13]));
  h.kdf = crypto::ScryptParams{p[14], p[15], p[16]};
  if (h.kdf.log2_n < 1 || h.kdf.log2_n > 22 || h.kdf.r == 0 || h.kdf.r > 32 || h.kdf.p == 0 || h.kdf.p > 16) {
    return malformed("scrypt parameters out of range");
  }
  if (p[17] != 0) return malformed("reserved byte is not zero");
  h.key_version = get_u32(p + 18);
  std::copy(p + 22, p + 38, h.file_id.begin());
  std::size_t key_id_len = p[38], salt_len = p[39];
  std::size_t total = kFixedHeaderBytes + key_id_len + salt_len + kTrailerBytes;
  if (declared != total) return malformed("declared length disagrees with field lengths");
  if (bytes.size() < total) return malformed("truncated");
  const char* text = reinterpret_cast<const char*>(p + kFixedHeaderBytes);
  h.key_id.assign(text, key_id_len);
  h.salt.assign(text + key_id_len, salt_len);
  const std::uint8_t* trailer = p + kFixedHeaderBytes + key_id_len + salt_len;
  if (trailer[0] > 1) return malformed("state byte out of range");
  h.sealed = trailer[0] == 1;
  std::copy(trailer + 1, trailer + 17, h.key_check.begin());
  std::copy(trailer + 17, trailer + 49, h.mac.begin());
  return h;
}

Result<Header> read_header(int fd) {
  std::vector<std::uint8_t> buf(kMaxHeaderBytes);
  RV_ASSIGN(auto n, sys::pread_full(fd, buf, 0));
  buf.resize(n);
  return decode_header(buf);
}

}  // namespace recvault::format

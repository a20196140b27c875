#include "recvault/format/names.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "recvault/crypto/siv.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::format {
namespace {

constexpr std::string_view kNameInfo = "recvault/1 names AES-256-SIV";
constexpr std::string_view kNameDomain = "recvault/1 name";
constexpr std::string_view kTargetDomain = "recvault/1 symlink";
constexpr std::size_t kPad = 16;
constexpr std::size_t kNonce = 16;

std::string padded(std::string_view text) {
  std::string out(text);
  out.resize((text.size() + kPad - 1) / kPad * kPad, '\0');
  return out;
}

// The text of a decrypted, padded plaintext; nullopt when the padding or
// the text is malformed.
std::optional<std::string> unpadded(const crypto::SecretBytes& bytes) {
  std::string_view v = bytes.view();
  const std::size_t end = v.find('\0');
  const std::string_view text = v.substr(0, end);
  if (text.empty()) return std::nullopt;
  if (end != std::string_view::npos) {
    // Only NULs after the text, and no more than needed to reach a block.
    if (v.find_first_not_of('\0', end) != std::string_view::npos) return std::nullopt;
    if (v.size() != (text.size() + kPad - 1) / kPad * kPad) return std::nullopt;
  } else if (v.size() % kPad != 0) {
    return std::nullopt;
  }
  return std::string(text);
}

std::string with_prefix(std::uint32_t version, std::span<const std::uint8_t> bytes) {
  return "~" + std::to_string(version) + "~" + base64url_encode(bytes);
}

Status check_name(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return make_error(Errc::invalid_argument, "not a valid file name");
  }
  if (name.size() > kMaxEncryptedName) {
    return make_error(Errc::too_large,
                      "name longer than " + std::to_string(kMaxEncryptedName) + " bytes cannot be encrypted");
  }
  return {};
}

// The bytes of an encrypted form of `version`, or why not.
Result<std::vector<std::uint8_t>> payload_of(std::string_view backing, std::uint32_t version) {
  auto form = parse_encrypted_name(backing);
  if (!form) return make_error(Errc::invalid_argument, "not an encrypted name");
  if (form->key_version != version) {
    return make_error(Errc::internal, "encrypted name of key version " + std::to_string(form->key_version) +
                                          " given the key of version " + std::to_string(version));
  }
  auto bytes = base64url_decode(form->encoded);
  if (!bytes) return make_error(Errc::tampered, "encrypted name is not base64url");
  return std::move(*bytes);
}

}  // namespace

Result<NameKey> NameKey::derive(const VersionKey& key, std::uint32_t key_version) {
  auto bytes = crypto::hkdf_sha256(key.bytes().span(), {}, crypto::as_bytes(kNameInfo), 64);
  RV_TRY(bytes);
  return NameKey(std::move(bytes).value(), key_version);
}

std::optional<EncryptedForm> parse_encrypted_name(std::string_view backing) {
  if (backing.size() < 4 || backing[0] != '~') return std::nullopt;
  const std::size_t second = backing.find('~', 1);
  if (second == std::string_view::npos || second == 1 || second > 11) return std::nullopt;
  const std::string_view digits = backing.substr(1, second - 1);
  if (digits[0] == '0') return std::nullopt;  // one spelling per version
  std::uint32_t version = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  const std::string_view encoded = backing.substr(second + 1);
  // SIV tag + at least one padded block: 32 bytes, 43 characters.
  if (encoded.size() < 43) return std::nullopt;
  for (char c : encoded) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return std::nullopt;
  }
  return EncryptedForm{version, encoded};
}

bool is_reserved_name(std::string_view plaintext) noexcept {
  return plaintext == kDirIvName || plaintext.starts_with(kRewriteTempPrefix) ||
         parse_encrypted_name(plaintext).has_value();
}

bool is_internal_entry(std::string_view backing) noexcept {
  return backing.starts_with(kDirIvName) || backing.starts_with(kRewriteTempPrefix);
}

Result<std::string> encrypt_name(const NameKey& key, const DirIv& dir, std::string_view plaintext) {
  RV_TRY(check_name(plaintext));
  const std::string p = padded(plaintext);
  auto sealed = crypto::siv_seal(key.bytes().span(), {crypto::as_bytes(kNameDomain), dir}, crypto::as_bytes(p));
  RV_TRY(sealed);
  return with_prefix(key.version(), *sealed);
}

Result<std::string> decrypt_name(const NameKey& key, const DirIv& dir, std::string_view backing) {
  auto bytes = payload_of(backing, key.version());
  RV_TRY(bytes);
  auto plain = crypto::siv_open(key.bytes().span(), {crypto::as_bytes(kNameDomain), dir}, *bytes);
  if (!plain) return make_error(Errc::tampered, "encrypted name does not authenticate in this directory");
  auto text = unpadded(*plain);
  if (!text || !check_name(*text).ok()) return make_error(Errc::tampered, "encrypted name decrypts to no valid name");
  return std::move(*text);
}

Result<std::string> encrypt_target(const NameKey& key, std::string_view target) {
  if (target.empty() || target.find('\0') != std::string_view::npos) {
    return make_error(Errc::invalid_argument, "not a valid symlink target");
  }
  if (target.size() > kMaxEncryptedTarget) {
    return make_error(Errc::too_large, "symlink target longer than " + std::to_string(kMaxEncryptedTarget) +
                                           " bytes cannot be encrypted");
  }
  std::array<std::uint8_t, kNonce> nonce{};
  RV_TRY(crypto::random_bytes(nonce));
  const std::string p = padded(target);
  auto sealed = crypto::siv_seal(key.bytes().span(), {crypto::as_bytes(kTargetDomain), nonce}, crypto::as_bytes(p));
  RV_TRY(sealed);
  std::vector<std::uint8_t> all(nonce.begin(), nonce.end());
  all.insert(all.end(), sealed->begin(), sealed->end());
  return with_prefix(key.version(), all);
}

Result<std::string> decrypt_target(const NameKey& key, std::string_view backing) {
  auto bytes = payload_of(backing, key.version());
  RV_TRY(bytes);
  if (bytes->size() < kNonce + crypto::kSivTagSize + kPad) {
    return make_error(Errc::tampered, "encrypted symlink target too short");
  }
  const crypto::Bytes nonce(bytes->data(), kNonce);
  const crypto::Bytes sealed(bytes->data() + kNonce, bytes->size() - kNonce);
  auto plain = crypto::siv_open(key.bytes().span(), {crypto::as_bytes(kTargetDomain), nonce}, sealed);
  if (!plain) return make_error(Errc::tampered, "encrypted symlink target does not authenticate");
  auto text = unpadded(*plain);
  if (!text) return make_error(Errc::tampered, "encrypted symlink target is malformed");
  return std::move(*text);
}

Result<std::string> new_dir_iv_file() {
  DirIv iv{};
  RV_TRY(crypto::random_bytes(iv));
  std::string out(kDirIvMagic);
  out.append(reinterpret_cast<const char*>(iv.data()), iv.size());
  return out;
}

Result<DirIv> parse_dir_iv_file(std::string_view contents) {
  if (contents.size() != kDirIvFileSize || contents.substr(0, kDirIvMagic.size()) != kDirIvMagic) {
    return make_error(Errc::tampered, std::string(kDirIvName) + " is malformed");
  }
  DirIv iv{};
  for (std::size_t i = 0; i < kDirIvSize; ++i) iv[i] = static_cast<std::uint8_t>(contents[kDirIvMagic.size() + i]);
  return iv;
}

Result<std::optional<DirIv>> read_dir_iv(int dir_fd) {
  const std::string name(kDirIvName);
  sys::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) {
    int e = errno;
    if (e == ENOENT) return std::optional<DirIv>();
    return sys_error("open " + name, e);
  }
  char buf[kDirIvFileSize + 1];
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n < 0) {
    int e = errno;
    return sys_error("read " + name, e);
  }
  auto iv = parse_dir_iv_file(std::string_view(buf, static_cast<std::size_t>(n)));
  RV_TRY(iv);
  return std::optional<DirIv>(*iv);
}

}  // namespace recvault::format

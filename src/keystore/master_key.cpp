#include "recvault/keystore/master_key.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

#include "recvault/crypto/cipher.hpp"
#include "recvault/crypto/primitives.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/sys/private_file.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::keystore {

namespace {

constexpr std::size_t kMaxFileBytes = 128;

int hex_value(std::uint8_t c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 32 raw bytes, or 64 hex characters with an optional trailing newline.
Result<crypto::SecretBytes> decode_key_file(const crypto::SecretBytes& content) {
  if (content.size() == MasterKey::kSize) return content;
  std::size_t n = content.size();
  if (n == 2 * MasterKey::kSize + 1 && content.data()[n - 1] == '\n') --n;
  if (n != 2 * MasterKey::kSize)
    return make_error(Errc::invalid_argument, "master key file must hold 32 raw bytes or 64 hex characters (got " +
                                                  std::to_string(content.size()) + " bytes)");
  crypto::SecretBytes out(MasterKey::kSize);
  for (std::size_t i = 0; i < MasterKey::kSize; ++i) {
    int hi = hex_value(content.data()[2 * i]);
    int lo = hex_value(content.data()[2 * i + 1]);
    if (hi < 0 || lo < 0) return make_error(Errc::invalid_argument, "master key file has a non-hex character");
    out.data()[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

Result<MasterKey> MasterKey::load_file(const std::filesystem::path& path) {
  // The same rules (and messages) as the control API's HS256 secret.
  auto content = sys::read_private_file(path, "master key file", kMaxFileBytes);
  RV_TRY(content);
  auto bytes = decode_key_file(*content);
  content->clear();
  RV_TRY(bytes);
  return from_bytes(std::move(bytes).value());
}

Result<MasterKey> MasterKey::load_credential(std::string_view name) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0')
    return make_error(Errc::not_found, "CREDENTIALS_DIRECTORY is not set (no systemd credentials)");
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    return make_error(Errc::invalid_argument, "credential name must be a plain file name");
  return load_file(std::filesystem::path(dir) / std::string(name));
}

Result<MasterKey> MasterKey::from_bytes(crypto::SecretBytes bytes) {
  if (bytes.size() != kSize) return make_error(Errc::invalid_argument, "master key must be exactly 32 bytes");
  return MasterKey(std::move(bytes));
}

Result<MasterKey> MasterKey::generate() {
  auto b = crypto::random_secret(kSize);
  RV_TRY(b);
  return MasterKey(std::move(b).value());
}

Result<std::vector<std::uint8_t>> MasterKey::seal(std::span<const std::uint8_t> plaintext, std::string_view aad) const {
  using S = crypto::GcmSizes;
  std::vector<std::uint8_t> out(S::nonce + plaintext.size() + S::tag);
  std::span<std::uint8_t> all(out);
  RV_TRY(crypto::random_bytes(all.first(S::nonce)));
  RV_TRY(crypto::thread_cipher().gcm_seal(bytes_.span(), all.first(S::nonce), crypto::as_bytes(aad), plaintext,
                                          all.subspan(S::nonce, plaintext.size()), all.last(S::tag)));
  return out;
}

Result<crypto::SecretBytes> MasterKey::open(std::span<const std::uint8_t> sealed, std::string_view aad) const {
  using S = crypto::GcmSizes;
  if (sealed.size() < S::nonce + S::tag) return make_error(Errc::tampered, "sealed record is too short");
  crypto::SecretBytes out(sealed.size() - S::nonce - S::tag);
  RV_TRY(crypto::thread_cipher().gcm_open(bytes_.span(), sealed.first(S::nonce), crypto::as_bytes(aad),
                                          sealed.subspan(S::nonce, out.size()), sealed.last(S::tag),
                                          out.mutable_span()));
  return out;
}

Result<MasterKey> MasterKeySource::load() const {
  if (!named()) {
    return make_error(Errc::invalid_argument,
                      "no master key: give a master key file (--master-key FILE, [keystore] master_key_file) "
                      "or a systemd credential (--credential NAME, [keystore] master_key_credential)");
  }
  if (!file.empty() && !credential.empty()) {
    return make_error(Errc::invalid_argument, "give a master key file or a credential, not both");
  }
  return file.empty() ? MasterKey::load_credential(credential) : MasterKey::load_file(file);
}

Status create_master_key_file(const std::filesystem::path& path) {
  const std::string shown = path.string();
  auto key = crypto::random_secret(MasterKey::kSize);
  RV_TRY(key);
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    int err = errno;
    if (err == EEXIST) return make_error(Errc::conflict, "master key file " + shown + " already exists");
    return sys_error("cannot create master key file " + shown, err);
  }
  if (::fchmod(fd.get(), 0600) != 0) {  // the umask may have removed bits; never added any
    int err = errno;
    return sys_error("cannot chmod master key file " + shown, err);
  }
  std::string hex = hex_encode(key->span()) + "\n";
  crypto::SecretBytes text = crypto::SecretBytes::from_view(hex);
  crypto::secure_wipe(hex.data(), hex.size());
  Status written = sys::pwrite_full(fd.get(), text.span(), 0);
  if (written && ::fsync(fd.get()) != 0) {
    int err = errno;
    written = sys_error("cannot fsync master key file " + shown, err);
  }
  if (!written) ::unlink(path.c_str());  // never leave a half-written key behind
  return written;
}

Result<MasterKey> load_or_create_master_key_file(const std::filesystem::path& path) {
  if (auto created = create_master_key_file(path); !created && created.error().code != Errc::conflict)
    return std::move(created).error();
  return MasterKey::load_file(path);
}

}  // namespace recvault::keystore

#include "recvault/pgp/sealer.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include "recvault/crypto/primitives.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::pgp {
namespace {

constexpr const char* kDigestFile = "material.sha256";

// Why gpg cannot encrypt to `key` now, or "" when it can.
std::string unusable_reason(gpgme_key_t key) {
  if (key->revoked != 0) return "revoked";
  if (key->expired != 0) return "expired";
  if (key->disabled != 0) return "disabled";
  if (key->invalid != 0) return "invalid";
  bool any_revoked = false, any_expired = false;
  for (gpgme_subkey_t sk = key->subkeys; sk != nullptr; sk = sk->next) {
    if (sk->can_encrypt == 0) continue;
    if (sk->revoked == 0 && sk->expired == 0 && sk->disabled == 0 && sk->invalid == 0) return "";
    any_revoked = any_revoked || sk->revoked != 0;
    any_expired = any_expired || sk->expired != 0;
  }
  if (any_revoked) return "its encryption subkeys are revoked";
  if (any_expired) return "its encryption subkeys have expired";
  return "it has no encryption subkey";
}

// The key with fingerprint `fpr` from the keyring, or nullptr.
Result<UniqueKey> find_key(gpgme_ctx_t ctx, const std::string& fpr) {
  gpgme_key_t raw = nullptr;
  auto err = gpgme_get_key(ctx, fpr.c_str(), &raw, 0);
  if (gpgme_err_code(err) == GPG_ERR_EOF) return UniqueKey();
  if (err != GPG_ERR_NO_ERROR) return gpg_error("gpgme_get_key", err);
  return UniqueKey(raw);
}

// publicKeyIds name directories: only what a UUID is made of.
bool safe_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-')) return false;
  return true;
}

std::string read_small(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status make_private_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(Errc::io, "cannot create " + dir.string() + ": " + ec.message());
  // gpg refuses (warns about) a home others can read; it only holds public keys.
  if (::chmod(dir.c_str(), 0700) != 0) {
    int e = errno;
    return sys_error("chmod " + dir.string(), e);
  }
  return {};
}

// Imports `pk` into the (empty) keyring at `dir` and checks that it holds
// exactly the one public key the keystore recorded.
Status import_into(const std::filesystem::path& dir, const PublicKey& pk) {
  // Never a secret key into the daemon's keyring (the upload check refuses
  // them already; this is the second line).
  if (pk.armored.find("PRIVATE KEY BLOCK") != std::string::npos)
    return make_error(Errc::invalid_argument, "the stored key is not a public key");
  auto ctx = new_context(dir.string());
  RV_TRY(ctx);
  gpgme_data_t raw = nullptr;
  if (auto err = gpgme_data_new_from_mem(&raw, pk.armored.data(), pk.armored.size(), 0); err != GPG_ERR_NO_ERROR)
    return gpg_error("gpgme_data_new_from_mem", err);
  UniqueData data(raw);
  if (auto err = gpgme_op_import(ctx->get(), data.get()); err != GPG_ERR_NO_ERROR)
    return gpg_error("gpgme_op_import", err);
  gpgme_import_result_t r = gpgme_op_import_result(ctx->get());
  if (r == nullptr || r->secret_read != 0 || r->considered != 1)
    return make_error(Errc::invalid_argument, "the stored key is not a single public key");
  auto key = find_key(ctx->get(), pk.fingerprint);
  RV_TRY(key);
  if (!*key) return make_error(Errc::invalid_argument, "the stored key does not match its fingerprint");
  return {};
}

}  // namespace

Sealer::Sealer(std::filesystem::path home, KeyLookup lookup, SealOptions options)
    : home_(std::move(home)), lookup_(std::move(lookup)), options_(options) {}

Result<std::unique_ptr<Sealer>> Sealer::open(std::filesystem::path gnupg_home, KeyLookup lookup, SealOptions options) {
  if (auto st = make_private_dir(gnupg_home); !st)
    return make_error(st.error().code, "GNUPGHOME: " + st.error().message);
  RV_TRY(make_private_dir(gnupg_home / "keys"));
  RV_TRY(init_gpgme());
  return std::unique_ptr<Sealer>(new Sealer(std::move(gnupg_home), std::move(lookup), options));
}

Result<std::filesystem::path> Sealer::keyring_for(const PublicKey& pk) {
  if (!safe_id(pk.id)) return make_error(Errc::invalid_argument, "malformed publicKeyId");
  const std::string digest = hex_encode(crypto::sha256({crypto::as_bytes(pk.armored)}));
  const auto dir = home_ / "keys" / pk.id;
  std::error_code ec;
  if (auto it = verified_.find(pk.id);
      it != verified_.end() && it->second == digest && std::filesystem::exists(dir / kDigestFile, ec))
    return dir;
  // A keyring from an earlier run, still holding this very text.
  if (read_small(dir / kDigestFile) == digest + "\n") {
    verified_[pk.id] = digest;
    return dir;
  }
  // Build it beside, then swap it in: a crash leaves either the old keyring
  // or the new one, and the digest file is written last.
  const auto tmp = home_ / "keys" / (".new-" + pk.id);
  std::filesystem::remove_all(tmp, ec);
  RV_TRY(make_private_dir(tmp));
  auto imported = import_into(tmp, pk);
  if (imported) {
    std::ofstream out(tmp / kDigestFile, std::ios::trunc);
    out << digest << "\n";
    out.close();
    if (!out) imported = make_error(Errc::io, "cannot write " + (tmp / kDigestFile).string());
  }
  if (!imported) {
    std::filesystem::remove_all(tmp, ec);
    return std::move(imported).error();
  }
  std::filesystem::remove_all(dir, ec);
  if (ec) return make_error(Errc::io, "cannot replace " + dir.string() + ": " + ec.message());
  std::filesystem::rename(tmp, dir, ec);
  if (ec) return make_error(Errc::io, "cannot rename " + tmp.string() + ": " + ec.message());
  verified_[pk.id] = digest;
  return dir;
}

Result<Recipient> Sealer::recipient(std::string_view account, std::string_view public_key_id) {
  RV_ASSIGN(auto pk, lookup_(public_key_id));
  // Another account's key is "not found": ids are not an oracle across accounts.
  if (pk.account != account) return make_error(Errc::not_found, "no public key " + std::string(public_key_id));
  std::filesystem::path dir;
  {
    std::lock_guard lock(import_mutex_);
    auto d = keyring_for(pk);
    RV_TRY(d);
    dir = std::move(d).value();
  }
  auto ctx = new_context(dir.string());
  RV_TRY(ctx);
  auto key = find_key(ctx->get(), pk.fingerprint);
  RV_TRY(key);
  if (!*key) return make_error(Errc::internal, "public key " + pk.id + " is missing from its keyring");
  if (auto why = unusable_reason(key->get()); !why.empty())
    return make_error(Errc::invalid_argument, "public key " + pk.id + " can no longer encrypt: " + why);
  return Recipient{pk.id, pk.fingerprint, std::move(key).value(), dir.string()};
}

Result<std::unique_ptr<SealStream>> Sealer::start(int fd, Recipient recipient) {
  return SealStream::start(fd, std::move(recipient.key), recipient.home, options_);
}

}  // namespace recvault::pgp

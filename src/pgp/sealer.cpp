#include "recvault/pgp/sealer.hpp"

#include <sys/stat.h>

#include <system_error>

namespace recvault::pgp {
namespace {

bool can_encrypt_now(gpgme_key_t key) {
  if (key->revoked != 0 || key->expired != 0 || key->disabled != 0 || key->invalid != 0) return false;
  for (gpgme_subkey_t sk = key->subkeys; sk != nullptr; sk = sk->next) {
    if (sk->can_encrypt != 0 && sk->revoked == 0 && sk->expired == 0 && sk->disabled == 0 && sk->invalid == 0)
      return true;
  }
  return false;
}

// The key with fingerprint `fpr` from the keyring, or nullptr.
Result<UniqueKey> find_key(gpgme_ctx_t ctx, const std::string& fpr) {
  gpgme_key_t raw = nullptr;
  auto err = gpgme_get_key(ctx, fpr.c_str(), &raw, 0);
  if (gpgme_err_code(err) == GPG_ERR_EOF) return UniqueKey();
  if (err != GPG_ERR_NO_ERROR) return gpg_error("gpgme_get_key", err);
  return UniqueKey(raw);
}

}  // namespace

Sealer::Sealer(std::filesystem::path home, KeyLookup lookup, SealOptions options)
    : home_(std::move(home)), lookup_(std::move(lookup)), options_(options) {}

Result<std::unique_ptr<Sealer>> Sealer::open(std::filesystem::path gnupg_home, KeyLookup lookup,
                                             SealOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(gnupg_home, ec);
  if (ec) return make_error(Errc::io, "cannot create GNUPGHOME " + gnupg_home.string() + ": " + ec.message());
  // gpg refuses (warns about) a home others can read; it only holds public keys.
  if (::chmod(gnupg_home.c_str(), 0700) != 0) {
    int e = errno;
    return sys_error("chmod GNUPGHOME " + gnupg_home.string(), e);
  }
  RV_TRY(init_gpgme());
  return std::unique_ptr<Sealer>(new Sealer(std::move(gnupg_home), std::move(lookup), options));
}

Result<UniqueKey> Sealer::import(const PublicKey& pk) {
  auto ctx = new_context(home_.string());
  RV_TRY(ctx);
  std::lock_guard lock(import_mutex_);
  auto have = find_key(ctx->get(), pk.fingerprint);
  RV_TRY(have);
  if (*have) return std::move(have).value();
  // Never a secret key into the daemon's keyring (the upload check refuses
  // them already; this is the second line).
  if (pk.armored.find("PRIVATE KEY BLOCK") != std::string::npos)
    return make_error(Errc::invalid_argument, "the stored key is not a public key");
  gpgme_data_t raw = nullptr;
  if (auto err = gpgme_data_new_from_mem(&raw, pk.armored.data(), pk.armored.size(), 0); err != GPG_ERR_NO_ERROR)
    return gpg_error("gpgme_data_new_from_mem", err);
  UniqueData data(raw);
  if (auto err = gpgme_op_import(ctx->get(), data.get()); err != GPG_ERR_NO_ERROR)
    return gpg_error("gpgme_op_import", err);
  gpgme_import_result_t r = gpgme_op_import_result(ctx->get());
  if (r == nullptr || r->secret_read != 0)
    return make_error(Errc::invalid_argument, "the stored key is not a single public key");
  auto key = find_key(ctx->get(), pk.fingerprint);
  RV_TRY(key);
  if (!*key) return make_error(Errc::invalid_argument, "the stored key does not match its fingerprint");
  return std::move(key).value();
}

Result<Recipient> Sealer::recipient(std::string_view account, std::string_view public_key_id) {
  auto pk = lookup_(public_key_id);
  if (!pk) return std::move(pk).error();
  // Another account's key is "not found": ids are not an oracle across accounts.
  if (pk->account != account) return make_error(Errc::not_found, "no public key " + std::string(public_key_id));
  auto key = import(*pk);
  RV_TRY(key);
  if (!can_encrypt_now(key->get()))
    return make_error(Errc::invalid_argument, "public key " + pk->id + " can no longer encrypt (expired or revoked)");
  return Recipient{pk->id, pk->fingerprint, std::move(key).value()};
}

Result<std::unique_ptr<SealStream>> Sealer::start(int fd, Recipient recipient) {
  return SealStream::start(fd, std::move(recipient.key), home_.string(), options_);
}

}  // namespace recvault::pgp

#include "recvault/control/pgp_validate.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "recvault/pgp/gpgme.hpp"

namespace recvault::control {
namespace {

constexpr std::size_t kMaxKeys = 2;  // we only need to know "more than one"

using pgp::UniqueCtx;
using pgp::UniqueData;
using pgp::UniqueKey;

Error invalid(std::string why) { return make_error(Errc::invalid_argument, std::move(why)); }
Error gpg_failure(const char* what, gpgme_error_t err) {
  return make_error(Errc::internal, std::string(what) + ": " + gpgme_strerror(err));
}

// A private GNUPGHOME that is removed (with anything gpg put there) on scope exit.
class TempHome {
 public:
  TempHome() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/recvault-gpg-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempHome() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempHome(const TempHome&) = delete;
  TempHome& operator=(const TempHome&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status init_gpgme() {
  // GPGME must be initialised once per process; the result never changes.
  static const bool ok =
      gpgme_check_version(nullptr) != nullptr && gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP) == GPG_ERR_NO_ERROR;
  if (!ok) return make_error(Errc::internal, "GPGME/gpg is not usable");
  return {};
}

bool subkey_can_encrypt_now(gpgme_subkey_t sk) {
  return sk->can_encrypt != 0 && sk->revoked == 0 && sk->expired == 0 && sk->disabled == 0 && sk->invalid == 0;
}

}  // namespace

Result<KeyInfo> validate_public_key(std::string_view armored) {
  if (armored.empty()) return invalid("the request body is empty; send an ASCII-armored OpenPGP public key");
  if (armored.find("-----BEGIN PGP PRIVATE KEY BLOCK-----") != std::string_view::npos)
    return invalid("this is a secret key; upload only the public key (gpg --armor --export)");
  if (armored.find("-----BEGIN PGP PUBLIC KEY BLOCK-----") == std::string_view::npos)
    return invalid("not an ASCII-armored OpenPGP public key block");
  RV_TRY(init_gpgme());

  TempHome home;
  if (home.path().empty()) return sys_error("cannot create a temporary GNUPGHOME", errno);
  gpgme_ctx_t raw_ctx = nullptr;
  if (auto err = gpgme_new(&raw_ctx); err != GPG_ERR_NO_ERROR) return gpg_failure("gpgme_new", err);
  UniqueCtx ctx(raw_ctx);
  if (auto err = gpgme_ctx_set_engine_info(ctx.get(), GPGME_PROTOCOL_OpenPGP, nullptr, home.path().c_str());
      err != GPG_ERR_NO_ERROR)
    return gpg_failure("gpgme_ctx_set_engine_info", err);
  gpgme_set_armor(ctx.get(), 1);
  gpgme_set_offline(ctx.get(), 1);

  gpgme_data_t raw_data = nullptr;
  if (auto err = gpgme_data_new_from_mem(&raw_data, armored.data(), armored.size(), 1); err != GPG_ERR_NO_ERROR)
    return gpg_failure("gpgme_data_new_from_mem", err);
  UniqueData data(raw_data);

  std::vector<UniqueKey> keys;
  if (auto err = gpgme_op_keylist_from_data_start(ctx.get(), data.get(), 0); err != GPG_ERR_NO_ERROR)
    return invalid("not a valid OpenPGP public key");
  for (;;) {
    gpgme_key_t key = nullptr;
    auto err = gpgme_op_keylist_next(ctx.get(), &key);
    if (gpgme_err_code(err) == GPG_ERR_EOF) break;
    if (err != GPG_ERR_NO_ERROR) {
      gpgme_op_keylist_end(ctx.get());
      return invalid("not a valid OpenPGP public key");
    }
    keys.emplace_back(key);
    if (keys.size() >= kMaxKeys) break;
  }
  gpgme_op_keylist_end(ctx.get());

  if (keys.empty()) return invalid("no OpenPGP key found in the request body");
  if (keys.size() > 1) return invalid("the body holds more than one key; upload exactly one public key");
  gpgme_key_t key = keys.front().get();
  if (key->secret != 0) return invalid("this is a secret key; upload only the public key");
  if (key->revoked != 0) return invalid("the key has been revoked");
  if (key->expired != 0) return invalid("the key has expired");
  if (key->disabled != 0 || key->invalid != 0) return invalid("the key is not usable");
  if (key->subkeys == nullptr || key->subkeys->fpr == nullptr) return invalid("the key has no primary key");

  KeyInfo info;
  info.fingerprint = key->subkeys->fpr;
  info.expires = key->subkeys->expires;
  if (key->uids != nullptr && key->uids->uid != nullptr) info.user_id = key->uids->uid;
  bool any_encrypt = false;
  for (gpgme_subkey_t sk = key->subkeys; sk != nullptr; sk = sk->next) {
    if (sk->can_encrypt != 0) any_encrypt = true;
    if (sk->secret != 0) return invalid("this is a secret key; upload only the public key");
    if (subkey_can_encrypt_now(sk) && info.encryption_subkey.empty() && sk->fpr != nullptr)
      info.encryption_subkey = sk->fpr;
  }
  if (info.encryption_subkey.empty())
    return invalid(any_encrypt ? "the key's encryption subkeys are all expired or revoked"
                               : "the key has no encryption-capable (sub)key");
  return info;
}

}  // namespace recvault::control

#include "recvault/pgp/gpgme.hpp"

#include <mutex>

namespace recvault::pgp {

Status init_gpgme() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    ok = gpgme_check_version(nullptr) != nullptr &&
         gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP) == GPG_ERR_NO_ERROR;
  });
  if (!ok) return make_error(Errc::internal, "GPGME/gpg is not usable");
  return {};
}

Error gpg_error(const char* what, gpgme_error_t err) {
  return make_error(Errc::internal, std::string(what) + ": " + gpgme_strerror(err));
}

Result<UniqueCtx> new_context(const std::string& home) {
  RV_TRY(init_gpgme());
  gpgme_ctx_t raw = nullptr;
  if (auto err = gpgme_new(&raw); err != GPG_ERR_NO_ERROR) return gpg_error("gpgme_new", err);
  UniqueCtx ctx(raw);
  if (auto err = gpgme_ctx_set_engine_info(ctx.get(), GPGME_PROTOCOL_OpenPGP, nullptr, home.c_str());
      err != GPG_ERR_NO_ERROR)
    return gpg_error("gpgme_ctx_set_engine_info", err);
  if (auto err = gpgme_set_protocol(ctx.get(), GPGME_PROTOCOL_OpenPGP); err != GPG_ERR_NO_ERROR)
    return gpg_error("gpgme_set_protocol", err);
  gpgme_set_offline(ctx.get(), 1);
  return ctx;
}

}  // namespace recvault::pgp

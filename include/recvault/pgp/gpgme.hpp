// RAII owners for GPGME handles and the one-time library initialisation.
//
// Every gpgme_ctx_t / gpgme_data_t / gpgme_key_t is owned from the line that
// creates it. A context is used by one thread at a time (GPGME's rule).
#pragma once

#include <gpgme.h>

#include <memory>
#include <string>

#include "recvault/util/result.hpp"

namespace recvault::pgp {

struct CtxDeleter {
  void operator()(gpgme_ctx_t c) const noexcept { gpgme_release(c); }
};
struct DataDeleter {
  void operator()(gpgme_data_t d) const noexcept { gpgme_data_release(d); }
};
struct KeyDeleter {
  void operator()(gpgme_key_t k) const noexcept { gpgme_key_unref(k); }
};
using UniqueCtx = std::unique_ptr<gpgme_context, CtxDeleter>;
using UniqueData = std::unique_ptr<gpgme_data, DataDeleter>;
using UniqueKey = std::unique_ptr<_gpgme_key, KeyDeleter>;

// A new reference to `k` (GPGME keys are reference counted).
inline UniqueKey share_key(gpgme_key_t k) noexcept {
  gpgme_key_ref(k);
  return UniqueKey(k);
}

// gpgme_check_version and an OpenPGP engine check, once per process.
// Errc::internal when GPGME or gpg is unusable.
Status init_gpgme();

// Errc::internal naming the call and GPGME's reason (never key material).
Error gpg_error(const char* what, gpgme_error_t err);

// A context on the OpenPGP engine with `home` as GNUPGHOME, offline.
Result<UniqueCtx> new_context(const std::string& home);

}  // namespace recvault::pgp

// format::VersionKey::derive as keys.hpp specifies it (scrypt(key, salt)),
// defined WEAK so the real one from the format library wins once it is
// linked. Until then the keystore tests still exercise real derivations.
#include "recvault/format/keys.hpp"

namespace recvault::format {

__attribute__((weak)) Result<VersionKey> VersionKey::derive(std::string_view key, std::string_view salt,
                                                            crypto::ScryptParams params) {
  auto b = crypto::scrypt(crypto::as_bytes(key), crypto::as_bytes(salt), params, 32);
  RV_TRY(b);
  return VersionKey(std::move(b).value(), params);
}

}  // namespace recvault::format

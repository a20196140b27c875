#include "recvault/util/result.hpp"

#include <cstring>

namespace recvault {

const char* errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::io:
      return "io";
    case Errc::not_found:
      return "not_found";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::wrong_key:
      return "wrong_key";
    case Errc::tampered:
      return "tampered";
    case Errc::truncated:
      return "truncated";
    case Errc::not_recvault:
      return "not_recvault";
    case Errc::unsupported:
      return "unsupported";
    case Errc::metadata_mismatch:
      return "metadata_mismatch";
    case Errc::key_unavailable:
      return "key_unavailable";
    case Errc::conflict:
      return "conflict";
    case Errc::not_permitted:
      return "not_permitted";
    case Errc::refused:
      return "refused";
    case Errc::too_large:
      return "too_large";
    case Errc::unavailable:
      return "unavailable";
    case Errc::internal:
      return "internal";
  }
  return "unknown";
}

int Error::to_errno() const noexcept {
  switch (code) {
    case Errc::io:
      return sys_errno != 0 ? sys_errno : EIO;
    case Errc::not_found:
      return ENOENT;
    case Errc::invalid_argument:
      return EINVAL;
    case Errc::conflict:
      return EBUSY;
    case Errc::not_permitted:
      return EACCES;
    case Errc::refused:
      return EPERM;
    case Errc::too_large:
      return EFBIG;
    case Errc::unsupported:
      return EOPNOTSUPP;
    default:
      return EIO;  // integrity and key failures are EIO, never EPERM
  }
}

bool is_integrity_failure(Errc code) noexcept {
  switch (code) {
    case Errc::wrong_key:
    case Errc::tampered:
    case Errc::truncated:
    case Errc::not_recvault:
    case Errc::unsupported:
    case Errc::metadata_mismatch:
    case Errc::key_unavailable:
    case Errc::internal:
      return true;
    default:
      return false;
  }
}

Error sys_error(std::string what, int saved_errno) {
  what += ": ";
  what += std::strerror(saved_errno);
  return Error{Errc::io, saved_errno, std::move(what)};
}

}  // namespace recvault

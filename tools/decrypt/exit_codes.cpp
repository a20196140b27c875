#include "exit_codes.hpp"

namespace recvault::tools {

int exit_code_for(Errc code) noexcept {
  switch (code) {
    case Errc::wrong_key:
      return exit_wrong_key;
    case Errc::tampered:
    case Errc::metadata_mismatch:
      return exit_tampered;
    case Errc::truncated:
      return exit_truncated;
    case Errc::not_recvault:
    case Errc::unsupported:
      return exit_not_recvault;
    case Errc::key_unavailable:
      return exit_key_missing;
    case Errc::invalid_argument:
      return exit_usage;
    case Errc::io:
    case Errc::not_found:
    case Errc::conflict:
    case Errc::not_permitted:
    case Errc::refused:
    case Errc::too_large:
    case Errc::unavailable:
    case Errc::internal:
      return exit_io;
  }
  return exit_io;
}

std::string_view exit_label(int code) noexcept {
  switch (code) {
    case exit_ok:
      return "ok";
    case exit_usage:
      return "usage";
    case exit_wrong_key:
      return "wrong key";
    case exit_tampered:
      return "tampered";
    case exit_unterminated:
      return "unterminated";
    case exit_truncated:
      return "truncated";
    case exit_not_recvault:
      return "not a recvault file";
    case exit_key_missing:
      return "key version not in config";
    case exit_io:
      return "I/O error";
    default:
      return "error";
  }
}

}  // namespace recvault::tools

// Exit statuses of recvault-decrypt (documented in --help and docs/FORMAT.md).
// Scripts depend on these numbers: never renumber, only append.
#pragma once

#include <string_view>

#include "recvault/util/result.hpp"

namespace recvault::tools {

enum Exit : int {
  exit_ok = 0,
  exit_usage = 1,         // bad arguments, no key given, unreadable key/config file
  exit_wrong_key = 2,     // the key (or salt) does not open the file
  exit_tampered = 3,      // authentication failed, incl. xattr/header disagreement
  exit_unterminated = 4,  // the writer never sealed the file (only with --strict)
  exit_truncated = 5,     // a sealed file lost chunks at its end
  exit_not_recvault = 6,  // no recvault header (a plain file) or an unknown format version
  exit_key_missing = 7,   // the file's key_version is not in the --config export
  exit_io = 8,            // a system call failed (open, read, write, rename, ...)
};

int exit_code_for(Errc code) noexcept;
// A short human label for an exit code ("wrong key", "tampered", ...).
std::string_view exit_label(int code) noexcept;

}  // namespace recvault::tools

// The three things recvault-decrypt does to one backing file. Each prints its
// own one-line diagnostics on stderr (never key material) and returns the
// process exit status (exit_codes.hpp). The backing file is opened read-only
// and never modified, not even to drop a torn tail.
#pragma once

#include <optional>
#include <string>

#include "key_source.hpp"
#include "recvault/format/keys.hpp"

namespace recvault::tools {

struct RunOptions {
  std::string input;
  std::optional<std::string> out;                // nullopt: standard output
  bool strict = false;                           // an unterminated file is an error (exit 4)
  bool allow_plain = false;                      // copy plain (unencrypted) files through
  const format::KeyResolver* resolve = nullptr;  // null when no key was given
  const ResolveNotes* notes = nullptr;
};

// Header and xattr metadata; needs no key (nothing printed is authenticated).
int run_info(const RunOptions& o);
// Authenticates every chunk; prints one line on stdout.
int run_verify(const RunOptions& o);
// Verifies the whole file first, then writes the plaintext.
int run_decrypt(const RunOptions& o);

}  // namespace recvault::tools

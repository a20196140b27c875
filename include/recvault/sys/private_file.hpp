// Files that hold secrets (the keystore master key, the control API's HS256
// secret): one check, shared by every reader, so a secret readable by group
// or others refuses to load the same way everywhere.
//
// Rules: a regular file (a symlink is refused: O_NOFOLLOW), owned by the
// running user, with no group/other permission bits (0600 or 0400). The error
// message says what is wrong and how to fix it, and never contains the
// file's content.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "recvault/crypto/secret.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/result.hpp"

namespace recvault::sys {

// Opens `path` read-only and checks the rules on the open file (no race
// between the check and the read). `what` names the file in messages
// ("master key file"). Errc::invalid_argument for a broken rule, Errc::io
// (with errno) when the file cannot be opened.
Result<UniqueFd> open_private_file(const std::filesystem::path& path, std::string_view what);

// open_private_file, then reads the whole file into wiped-on-free memory.
// A file longer than `max_bytes` is Errc::invalid_argument.
Result<crypto::SecretBytes> read_private_file(const std::filesystem::path& path, std::string_view what,
                                              std::size_t max_bytes);

}  // namespace recvault::sys

// The user.recvault.* extended attributes that mirror a file's header.
//
// They let tools see a file's algorithm, key version and salt without parsing
// it. They are never trusted on their own: open() compares every one present
// with the authenticated header, and a disagreement is an error.
#pragma once

#include "recvault/format/header.hpp"
#include "recvault/util/result.hpp"

namespace recvault::format {

namespace xattr {
inline constexpr const char* format = "user.recvault.format";
inline constexpr const char* algorithm = "user.recvault.algorithm";
inline constexpr const char* key_version = "user.recvault.key_version";
inline constexpr const char* key_id = "user.recvault.key_id";
inline constexpr const char* salt = "user.recvault.salt";
inline constexpr const char* file_id = "user.recvault.file_id";
inline constexpr const char* prefix = "user.recvault.";
// The value of `format` on a file stored unencrypted (encryption disabled).
inline constexpr const char* plain_format = "plain";
}  // namespace xattr

// Writes all mirrored attributes. A file system without user xattrs
// (ENOTSUP) is not an error: the header alone is sufficient.
Status write_xattrs(int fd, const Header& h);
// Errc::metadata_mismatch naming the first attribute that disagrees.
Status check_xattrs(int fd, const Header& h);

}  // namespace recvault::format

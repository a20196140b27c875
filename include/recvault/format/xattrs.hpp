// The user.recvault.* extended attributes that mirror a file's header.
//
// They let tools see a file's algorithm, key version and salt without parsing
// it. They are never trusted on their own: open() compares every one present
// with the authenticated header, and a disagreement is an error.
//
// Files written since issue 22 carry one attribute, user.recvault.meta, with
// all mirrored fields (one system call to write, one to read); files written
// before carry one attribute per field. Both are read (docs/FORMAT.md §6).
#pragma once

#include <optional>
#include <string>

#include "recvault/format/header.hpp"
#include "recvault/util/result.hpp"

namespace recvault::format {

namespace xattr {
inline constexpr const char* meta = "user.recvault.meta";
// One attribute per field: written by versions before issue 22, still read.
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

// The value of user.recvault.meta for header `h`: one `name=value` line per
// mirrored field, in a fixed order, `%` and newlines in values escaped as
// %25 and %0A (so that equal values mean equal fields).
std::string meta_value(const Header& h);
// Writes the mirrored attributes (user.recvault.meta: one fsetxattr). A file
// system without user xattrs (ENOTSUP) is not an error: the header alone is
// sufficient.
Status write_xattrs(int fd, const Header& h);
// Compares every mirrored attribute present (user.recvault.meta and the
// per-field ones of older files) with the header: Errc::metadata_mismatch
// naming the first that disagrees. One flistxattr, then one fgetxattr per
// mirrored attribute present.
Status check_xattrs(int fd, const Header& h);
// The format the attributes say a file has: user.recvault.format, else the
// format field of user.recvault.meta; nullopt when neither is present (or
// the file system has no user xattrs).
Result<std::optional<std::string>> marked_format(int fd);

}  // namespace recvault::format

#include "recvault/format/detect.hpp"

#include <algorithm>
#include <cstdint>

#include "recvault/format/header.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::format {
namespace {

// The value EncryptedFile writes: the format version, as decimal digits.
bool names_a_format_version(const std::string& v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<Detected> detect(int fd) {
  std::uint8_t magic[sizeof kMagic] = {};
  RV_ASSIGN(auto n, sys::pread_full(fd, magic, 0));
  if (has_magic(std::span(magic, n))) return Detected{Detected::Kind::encrypted, {}};

  auto fmt = marked_format(fd);
  if (!fmt || !fmt->has_value()) return Detected{};  // no xattrs (ENOTSUP, or copied without -X)
  const std::string& value = **fmt;
  if (value == xattr::plain_format) return Detected{};
  if (!names_a_format_version(value)) return Detected{Detected::Kind::marked, value};
  // An empty file with encrypted-file xattrs: its creator died before the
  // header; nothing was ever written to it.
  if (n == 0) return Detected{};
  return make_error(Errc::tampered, "xattrs mark an encrypted file but its header is missing");
}

}  // namespace recvault::format

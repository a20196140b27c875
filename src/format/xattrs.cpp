#include "recvault/format/xattrs.hpp"

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "recvault/sys/fd.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::format {
namespace {

std::vector<std::pair<const char*, std::string>> expected(const Header& h) {
  return {
      {xattr::format, std::to_string(h.format_version)},
      {xattr::algorithm, std::string(algorithm_name(h.algorithm))},
      {xattr::key_version, std::to_string(h.key_version)},
      {xattr::key_id, h.key_id},
      {xattr::salt, h.salt},
      {xattr::file_id, hex_encode(h.file_id)},
  };
}

}  // namespace

Status write_xattrs(int fd, const Header& h) {
  for (const auto& [name, value] : expected(h)) {
    auto st = sys::set_xattr(fd, name, value);
    if (!st) {
      if (st.error().sys_errno == ENOTSUP) return {};
      return st;
    }
  }
  return {};
}

Status check_xattrs(int fd, const Header& h) {
  for (const auto& [name, value] : expected(h)) {
    auto got = sys::get_xattr(fd, name);
    if (!got) {
      if (got.error().sys_errno == ENOTSUP) return {};
      return std::move(got).error();
    }
    if (got->has_value() && **got != value) {
      return make_error(Errc::metadata_mismatch,
                        std::string("xattr ") + name + " disagrees with the authenticated header");
    }
  }
  return {};
}

}  // namespace recvault::format

#include "recvault/format/xattrs.hpp"

#include <algorithm>
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

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '%')
      out += "%25";
    else if (c == '\n')
      out += "%0A";
    else
      out += c;
  }
}

bool unsupported(const Error& e) { return e.sys_errno == ENOTSUP; }

}  // namespace

std::string meta_value(const Header& h) {
  std::string out;
  const std::string_view skip = xattr::prefix;
  for (const auto& [name, value] : expected(h)) {
    out += std::string_view(name).substr(skip.size());
    out += '=';
    append_escaped(out, value);
    out += '\n';
  }
  return out;
}

Status write_xattrs(int fd, const Header& h) {
  auto st = sys::set_xattr(fd, xattr::meta, meta_value(h));
  if (!st && unsupported(st.error())) return {};
  return st;
}

Status check_xattrs(int fd, const Header& h) {
  auto names = sys::list_xattrs(fd);
  if (!names) return unsupported(names.error()) ? Status{} : Status(std::move(names).error());
  auto present = [&](const char* name) { return std::find(names->begin(), names->end(), name) != names->end(); };
  std::vector<std::pair<const char*, std::string>> want = expected(h);
  want.emplace_back(xattr::meta, meta_value(h));
  for (const auto& [name, value] : want) {
    if (!present(name)) continue;
    auto got = sys::get_xattr(fd, name);
    if (!got) return std::move(got).error();
    if (got->has_value() && **got != value) {
      return make_error(Errc::metadata_mismatch,
                        std::string("xattr ") + name + " disagrees with the authenticated header");
    }
  }
  return {};
}

Result<std::optional<std::string>> marked_format(int fd) {
  RV_ASSIGN(auto fmt, sys::get_xattr(fd, xattr::format));
  if (fmt) return fmt;
  RV_ASSIGN(auto meta, sys::get_xattr(fd, xattr::meta));
  if (!meta) return std::optional<std::string>();
  // "format=<value>\n" is the first line; a value that does not parse is
  // returned whole, so that it never reads as "plain".
  const std::string_view v = *meta;
  const std::string_view key = "format=";
  const std::size_t end = v.find('\n');
  if (v.substr(0, key.size()) == key && end != std::string_view::npos) {
    return std::optional<std::string>(std::string(v.substr(key.size(), end - key.size())));
  }
  return std::optional<std::string>(std::string(v));
}

}  // namespace recvault::format

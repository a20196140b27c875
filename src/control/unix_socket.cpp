#include "unix_socket.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace recvault::control::detail {
namespace {

Result<sockaddr_un> make_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return make_error(Errc::invalid_argument, "control socket path is empty or too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Result<gid_t> resolve_group(const std::string& name) {
  char* end = nullptr;
  errno = 0;
  unsigned long numeric = std::strtoul(name.c_str(), &end, 10);
  if (errno == 0 && end != nullptr && *end == '\0' && !name.empty()) return static_cast<gid_t>(numeric);
  std::vector<char> buf(16384);
  struct group g {};
  struct group* found = nullptr;
  int rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0) return sys_error("cannot look up group " + name, rc);
  if (found == nullptr) return make_error(Errc::not_found, "no such group: " + name);
  return found->gr_gid;
}

// Removes a socket file nobody listens on; refuses to touch anything else.
Status clear_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sys_error("cannot stat " + path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) return make_error(Errc::conflict, path + " exists and is not a socket");
  sys::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return sys_error("socket", errno);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
    return make_error(Errc::conflict, "another server is already listening on " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove stale " + path, errno);
  return {};
}

}  // namespace

Result<ListeningSocket> listen_unix(const std::string& path, mode_t mode, const std::string& group, int backlog) {
  RV_ASSIGN(auto addr, make_address(path));
  RV_TRY(clear_stale(path, addr));
  ListeningSocket sock;
  sock.fd = sys::UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock.fd.valid()) return sys_error("socket", errno);
  // Nobody can connect before listen(), so tightening the mode after bind is race-free.
  if (::bind(sock.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return sys_error("cannot bind " + path, errno);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sys_error("cannot stat " + path, errno);
  sock.inode = st.st_ino;
  sock.device = st.st_dev;
  auto fail = [&](Error e) {
    unlink_if_ours(path, sock);
    return e;
  };
  if (!group.empty()) {
    auto gid = resolve_group(group);
    if (!gid) return fail(std::move(gid).error());
    if (::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0)
      return fail(sys_error("cannot chown " + path + " to group " + group, errno));
  }
  if (::chmod(path.c_str(), mode) != 0) return fail(sys_error("cannot chmod " + path, errno));
  if (::listen(sock.fd.get(), backlog) != 0) return fail(sys_error("cannot listen on " + path, errno));
  return sock;
}

void unlink_if_ours(const std::string& path, const ListeningSocket& sock) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == sock.inode && st.st_dev == sock.device)
    ::unlink(path.c_str());
}

}  // namespace recvault::control::detail

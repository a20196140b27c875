// Internal: the control socket's listening fd, created the way the daemon
// needs it (stale-socket replacement, mode, group) before MHD takes it over.
#pragma once

#include <sys/types.h>
#include <string>

#include "recvault/sys/fd.hpp"
#include "recvault/util/result.hpp"

namespace recvault::control::detail {

struct ListeningSocket {
  sys::UniqueFd fd;
  ino_t inode = 0;  // of the socket file, so stop() only unlinks its own file
  dev_t device = 0;
};

// Binds and listens on `path` with `mode`, chowning to `group` (name or gid)
// when non-empty. A stale socket file (nobody answers) is replaced; a live one
// or a non-socket file at `path` is an error.
Result<ListeningSocket> listen_unix(const std::string& path, mode_t mode, const std::string& group, int backlog);

// Removes `path` if it is still the socket `sock` created.
void unlink_if_ours(const std::string& path, const ListeningSocket& sock) noexcept;

}  // namespace recvault::control::detail

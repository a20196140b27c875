// Is a backing directory in use? Scans /proc/<pid>/fd: a mounted recvaultd
// holds an O_PATH fd of its backing root (and fds of open recordings).
#include <unistd.h>

#include <fstream>

#include "fsck.hpp"

namespace recvault::fsck {
namespace {

bool is_within(const std::string& inner, const std::string& outer) {
  return inner == outer || (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
                            (outer == "/" || inner[outer.size()] == '/'));
}

std::string comm_of(const std::filesystem::path& proc_dir) {
  std::ifstream in(proc_dir / "comm");
  std::string name;
  std::getline(in, name);
  return name;
}

}  // namespace

std::vector<pid_t> in_use(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string want = fs::weakly_canonical(dir, ec).string();
  std::vector<pid_t> out;
  const std::string self = std::to_string(::getpid());
  for (const auto& p : fs::directory_iterator("/proc", ec)) {
    const std::string name = p.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos || name == self) continue;
    const bool daemon = comm_of(p.path()) == "recvaultd";
    std::error_code fd_ec;
    for (const auto& fd : fs::directory_iterator(p.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      const std::string target = fs::read_symlink(fd.path(), link_ec).string();
      if (link_ec || target.empty() || target[0] != '/') continue;
      if (is_within(target, want) || (daemon && is_within(want, target) && target != "/")) {
        out.push_back(static_cast<pid_t>(std::stol(name)));
        break;
      }
    }
  }
  return out;
}

}  // namespace recvault::fsck

// Runs recvault-fsck (RECVAULT_FSCK) on a test daemon's configuration.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "../fuse/daemon_harness.hpp"

namespace recvault::test {

struct FsckRun {
  int code = -1;
  std::string out;  // stdout and stderr
};

inline FsckRun run_fsck(const Daemon& d, const std::string& args) {
  std::string cmd = env_or_fail("RECVAULT_FSCK") + " --config " + d.config_path() + " " + args + " 2>&1";
  FsckRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.out += buf;
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The status fsck --json gave `rel` (a path under the backing dir), or why not.
inline std::string fsck_status(const FsckRun& r, const std::string& rel) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return "unparsable: " + r.out;
  for (auto& f : j["files"]) {
    if (f["path"] == rel) return f["status"];
  }
  return "missing";
}

}  // namespace recvault::test

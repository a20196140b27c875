// Helpers for the OpenPGP mount tests: key upload through the control API,
// the daemon's peak RSS, recordings written in steps.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "gpg_fixture.hpp"

namespace recvault::test {

// POST the armored key; returns the publicKeyId (throws unless 201).
inline std::string upload_key(const Daemon& d, const std::string& account, const std::string& armored) {
  auto r = d.http("POST", "/v3/security/public-keys", account, armored, "application/octet-stream");
  if (r.status != 201) throw std::runtime_error("upload failed: " + std::to_string(r.status) + " " + r.body);
  return r.json()["publicKeyId"].get<std::string>();
}

// A /proc/<pid>/status field in kB (VmHWM, VmRSS).
inline long proc_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// Block `i` of a deterministic recording: a marker and a counter, repeated.
inline std::vector<std::uint8_t> block(std::size_t i, std::size_t size, const std::string& marker) {
  std::vector<std::uint8_t> b(size);
  std::string unit = marker + std::to_string(i) + "|";
  for (std::size_t k = 0; k < size; ++k) b[k] = static_cast<std::uint8_t>(unit[k % unit.size()]);
  return b;
}

}  // namespace recvault::test

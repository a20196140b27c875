// Runs the recvault tools as subprocesses, capturing exit status, stdout and
// stderr through files in a temp dir.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../test_util.hpp"

namespace recvault::test {

struct RunResult {
  int status = -1;  // exit code; -1 when killed by a signal
  std::string out;
  std::string err;
};

inline std::string tool_path(const char* env) {
  const char* p = std::getenv(env);
  if (p == nullptr) throw std::runtime_error(std::string(env) + " is not set (run through meson test)");
  return p;
}
inline std::string decrypt_tool() { return tool_path("RECVAULT_DECRYPT"); }
inline std::string encrypt_tool() { return tool_path("RECVAULT_ENCRYPT"); }

inline std::string as_string(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

// Runs `argv` with stdin from `stdin_path` (or /dev/null).
inline RunResult run(const std::vector<std::string>& argv, const std::optional<std::string>& stdin_path = {}) {
  TempDir io;
  const std::string out_path = io.file("stdout"), err_path = io.file("stderr");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open(stdin_path ? stdin_path->c_str() : "/dev/null", O_RDONLY);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0) {
  }
  RunResult r;
  r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
  r.out = as_string(read_all(out_path));
  r.err = as_string(read_all(err_path));
  return r;
}

}  // namespace recvault::test

// Shared helpers for the reliability tests: seeds, environment knobs, a
// tmpfs or a freezable ext4 mounted for the life of a test, and running as
// another user.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

namespace recvault::test {

// RECVAULT_SEED fixes the seed of every randomised test (to replay a failure);
// otherwise a fresh one. Always printed, so a failing run can be reproduced.
inline std::uint64_t test_seed(const char* what) {
  std::uint64_t seed = 0;
  if (const char* s = std::getenv("RECVAULT_SEED"); s != nullptr && *s != '\0') {
    seed = std::strtoull(s, nullptr, 0);
  } else {
    seed = std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
  }
  std::cerr << what << ": seed " << seed << " (replay with RECVAULT_SEED=" << seed << ")\n";
  return seed;
}

// An integer knob from the environment (long modes), or `fallback`.
inline std::uint64_t env_count(const char* name, std::uint64_t fallback) {
  const char* s = std::getenv(name);
  return s != nullptr && *s != '\0' ? std::strtoull(s, nullptr, 0) : fallback;
}

// A tmpfs of `size` mounted on `dir` (which must exist) until destruction;
// the unmount is lazy so it succeeds even while a daemon still holds files.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& dir, const std::string& size) : dir_(dir) {
    std::string opts = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      throw std::runtime_error("mount tmpfs on " + dir + " failed: " + std::to_string(errno));
    }
  }
  ~TmpfsMount() { ::umount2(dir_.c_str(), MNT_DETACH); }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

 private:
  std::string dir_;
};

// An ext4 file system in the image file `image` (created, `mib` MiB),
// loop-mounted on `dir` (which must exist) until destruction. freeze() makes
// every write to it wait (FIFREEZE, as fsfreeze(8) does) until thaw(): a
// backing disk that stalls. The destructor thaws and unmounts lazily.
class LoopExt4 {
 public:
  LoopExt4(const std::string& image, const std::string& dir, unsigned mib) : dir_(dir) {
    { std::ofstream create(image); }
    if (::truncate(image.c_str(), static_cast<off_t>(mib) << 20) != 0) {
      throw std::runtime_error("cannot size " + image);
    }
    const std::string cmd =
        "mkfs.ext4 -q -F -E nodiscard '" + image + "' >/dev/null 2>&1 && mount -o loop '" + image + "' '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("could not make and loop-mount an ext4 image (needs e2fsprogs and loop devices): " +
                               cmd);
    }
  }
  ~LoopExt4() {
    thaw();
    ::umount2(dir_.c_str(), MNT_DETACH);
  }
  LoopExt4(const LoopExt4&) = delete;
  LoopExt4& operator=(const LoopExt4&) = delete;

  void freeze() {
    if (frozen_ >= 0) return;
    frozen_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (frozen_ < 0 || ::ioctl(frozen_, kFreeze, 0) != 0) {
      throw std::runtime_error("FIFREEZE on " + dir_ + " failed: " + std::to_string(errno));
    }
  }
  void thaw() {
    if (frozen_ < 0) return;
    ::ioctl(frozen_, kThaw, 0);
    ::close(frozen_);
    frozen_ = -1;
  }

 private:
  // FIFREEZE and FITHAW from <linux/fs.h>, which clashes with <sys/mount.h>.
  static constexpr unsigned long kFreeze = _IOWR('X', 119, int);
  static constexpr unsigned long kThaw = _IOWR('X', 120, int);
  std::string dir_;
  int frozen_ = -1;
};

// Runs `fn` in a child as uid/gid `id` (no supplementary groups); returns
// the child's exit code (fn's result), 99 if it could not switch user.
inline int as_user(uid_t id, const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(id, id, id) != 0 || ::setresuid(id, id, id) != 0) ::_exit(99);
    ::_exit(fn());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Adds `line` to the [storage] table of a harness config (TOML cannot reopen
// a table, so the harness's `extra` cannot).
inline void set_storage_option(const std::string& config_path, const std::string& line) {
  std::ifstream in(config_path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string table = "[storage]\n";
  auto pos = text.find(table);
  if (pos == std::string::npos) throw std::runtime_error("no [storage] in " + config_path);
  text.insert(pos + table.size(), line + "\n");
  std::ofstream(config_path) << text;
}

}  // namespace recvault::test

// Everyday tools on the view: cp -a, rsync -aH, tar, mv, install and sox do
// to an encrypted account what they do to a plain directory. Each tool runs
// twice, into a plain directory and into the mount, from the same source
// tree; the two results are compared entry by entry (type, mode, owner,
// mtime, hard-link groups, symlink targets, content).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

int sh(const std::string& cmd) { return std::system(("bash -c '" + cmd + "' >/dev/null 2>&1").c_str()); }

// A tree like an archive of recordings: files of several sizes and modes,
// a hard link, a symlink, a FIFO, nested directories, old times.
void make_source(const std::string& src) {
  namespace fs = std::filesystem;
  fs::create_directories(src + "/2026/11/23");
  fs::create_directories(src + "/notes");
  write_all(src + "/2026/11/23/call-1.wav", pseudo_random(200000, 1));
  write_all(src + "/2026/11/23/call-2.wav", pseudo_random(65536, 2));
  write_all(src + "/2026/11/23/empty.wav", {});
  write_all(src + "/notes/readme.txt", bytes_of("recorded calls\n"));
  REQUIRE(::chmod((src + "/2026/11/23/call-1.wav").c_str(), 0640) == 0);
  REQUIRE(::chmod((src + "/2026/11/23/call-2.wav").c_str(), 0604) == 0);
  REQUIRE(::chmod((src + "/notes").c_str(), 0750) == 0);
  REQUIRE(::link((src + "/2026/11/23/call-1.wav").c_str(), (src + "/notes/call-1-again.wav").c_str()) == 0);
  REQUIRE(::symlink("../2026/11/23/call-2.wav", (src + "/notes/latest").c_str()) == 0);
  REQUIRE(::mkfifo((src + "/notes/control.fifo").c_str(), 0620) == 0);
  REQUIRE(::chown((src + "/2026/11/23/call-2.wav").c_str(), 1001, 1001) == 0);
  const struct timespec old[2] = {{1700000000, 0}, {1700000000, 123456789}};
  for (const char* p : {"/2026/11/23/call-1.wav", "/2026/11/23/call-2.wav", "/2026/11/23/empty.wav",
                        "/notes/readme.txt", "/notes/control.fifo", "/2026/11/23", "/notes"}) {
    REQUIRE(::utimensat(AT_FDCWD, (src + p).c_str(), old, AT_SYMLINK_NOFOLLOW) == 0);
  }
}

// Every entry under `root`, as one comparable line each.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  std::map<std::pair<dev_t, ino_t>, std::string> first_name;  // hard-link groups by first path
  std::vector<std::string> paths;
  for (auto& e : std::filesystem::recursive_directory_iterator(root)) paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    const std::string rel = p.substr(root.size());
    std::ostringstream line;
    line << std::oct << "type " << (st.st_mode & S_IFMT) << " mode " << (st.st_mode & 07777) << std::dec << " owner "
         << st.st_uid << ":" << st.st_gid << " links " << st.st_nlink;
    // Directory times change as entries come and go, and rsync does not keep
    // a symlink's time even on a plain directory: files and FIFOs only.
    if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) {
      line << " mtime " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    }
    auto [it, fresh] = first_name.emplace(std::make_pair(st.st_dev, st.st_ino), rel);
    if (!fresh) line << " same as " << it->second;
    if (S_ISLNK(st.st_mode)) {
      char target[256] = {};
      const ssize_t n = ::readlink(p.c_str(), target, sizeof target - 1);
      line << " -> " << std::string(target, static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    } else if (S_ISREG(st.st_mode)) {
      const auto bytes = read_all(p);
      line << " size " << bytes.size() << " hash " << std::hash<std::string>{}(std::string(bytes.begin(), bytes.end()));
    }
    out[rel] = line.str();
  }
  return out;
}

void compare_trees(const std::string& plain, const std::string& view) {
  const auto want = snapshot(plain), got = snapshot(view);
  CHECK(got.size() == want.size());
  for (const auto& [rel, line] : want) {
    INFO(rel);
    auto it = got.find(rel);
    REQUIRE(it != got.end());
    CHECK(it->second == line);
  }
}

}  // namespace

TEST_CASE("cp -a, rsync -aH, tar, mv and install give the same tree as on a plain directory", "[tool-compat]") {
  Daemon d;
  d.start_with_account("acme");
  const std::string src = d.dir().file("source");
  make_source(src);
  const std::string plain = d.dir().file("plain"), view = d.mnt() + "/acme";
  REQUIRE(::mkdir(plain.c_str(), 0755) == 0);

  struct Tool {
    std::string name, command;  // {src} {dst} substituted
  };
  const Tool tools[] = {
      {"cp", "cp -a {src} {dst}/cp"},
      {"rsync", "rsync -aH {src}/ {dst}/rsync/"},
      {"tar", "mkdir {dst}/tar && tar -C {src} -cf - . | tar -C {dst}/tar -xpf -"},
      {"mv", "cp -a {src} {dst}/mv-from && mkdir {dst}/mv-to && mv {dst}/mv-from/2026 {dst}/mv-to/"},
      {"install",
       "mkdir {dst}/install && install -p -m 0640 -o 1001 -g 1001 {src}/notes/readme.txt {dst}/install/r.txt"},
  };
  for (const auto& t : tools) {
    INFO(t.name);
    for (const auto& dst : {plain, view}) {
      std::string cmd = t.command;
      for (std::string::size_type at; (at = cmd.find("{src}")) != std::string::npos;) cmd.replace(at, 5, src);
      for (std::string::size_type at; (at = cmd.find("{dst}")) != std::string::npos;) cmd.replace(at, 5, dst);
      CHECK(sh(cmd) == 0);
    }
  }
  compare_trees(plain, view);
  // And after a restart, from the backing files alone.
  REQUIRE(d.stop() == 0);
  d.start();
  compare_trees(plain, view);
}

TEST_CASE("sox writes a WAV recording through the mount byte for byte", "[tool-compat]") {
  Daemon d;
  d.start_with_account("acme");
  const std::string plain = d.dir().file("tone.wav"), view = d.mnt() + "/acme/tone.wav";
  // sox writes the header, the samples, then seeks back to fill in the lengths.
  for (const auto& out : {plain, view}) {
    REQUIRE(sh("sox -R -D -n -r 8000 -c 1 -b 16 " + out + " synth 3 sine 440") == 0);
  }
  CHECK(read_all(view) == read_all(plain));
  CHECK(read_all(view).size() > 48000);
  CHECK_FALSE(contains(read_all(d.backing() + "/acme/tone.wav"), "RIFF"));
}

TEST_CASE("futimens before close keeps its time, with and without the writeback cache", "[tool-compat]") {
  for (bool writeback : {true, false}) {
    INFO("writeback cache " << writeback);
    Daemon d(std::string("[fuse]\nwriteback_cache = ") + (writeback ? "true" : "false") + "\n");
    d.start_with_account("acme");
    const struct timespec old[2] = {{1600000000, 0}, {1600000000, 500}};
    for (int i = 0; i < 30; ++i) {
      // What tar -x does: write, set the times on the descriptor, close.
      const std::string p = d.mnt() + "/acme/f" + std::to_string(i);
      int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      REQUIRE(fd >= 0);
      const auto data = pseudo_random(1000 + 7000 * static_cast<std::size_t>(i), static_cast<std::uint64_t>(i));
      REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
      REQUIRE(::futimens(fd, old) == 0);
      REQUIRE(::close(fd) == 0);
    }
    REQUIRE(d.stop() == 0);  // every release and seal has happened
    for (int i = 0; i < 30; ++i) {
      struct stat st {};
      REQUIRE(::stat((d.backing() + "/acme/f" + std::to_string(i)).c_str(), &st) == 0);
      INFO("f" << i);
      CHECK(st.st_mtim.tv_sec == 1600000000);
      CHECK(st.st_mtim.tv_nsec == 500);
    }
  }
}

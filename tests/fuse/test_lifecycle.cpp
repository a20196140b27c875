// Start-up validation, shutdown, crashes and account isolation.
#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "daemon_harness.hpp"
#include "fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

struct RunResult {
  int exit_code = -1;
  std::string output;
};

// Runs recvaultd with a config file and returns its exit code and stderr.
RunResult run_daemon_with(const std::string& config_file) {
  std::string cmd = env_or_fail("RECVAULTD") + " -f -c " + config_file + " 2>&1";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.output += buf;
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::uint8_t> frames(int caller, int count) {
  std::vector<std::uint8_t> out;
  for (int f = 0; f < count; ++f) {
    auto frame = pseudo_random(320, static_cast<std::uint64_t>(caller * 1000003 + f));
    out.insert(out.end(), frame.begin(), frame.end());
  }
  return out;
}

// Whether a child process of `daemon` (the writeback helper) holds a
// descriptor of `path`. Only the daemon's children are read: a scan of every
// process's /proc entry can block on one stuck in the kernel.
bool child_holds(pid_t daemon, const std::string& path) {
  std::error_code ec;
  const std::string want = std::filesystem::canonical(path, ec).string();
  const std::filesystem::path tasks = "/proc/" + std::to_string(daemon) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream children(task.path() / "children");
    pid_t child = 0;
    while (children >> child) {
      const std::filesystem::path fds = "/proc/" + std::to_string(child) + "/fd";
      for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
        if (std::filesystem::read_symlink(fd.path(), ec).string() == want) return true;
      }
    }
  }
  return false;
}

}  // namespace

TEST_CASE("bad configuration: one clear line and exit code 2, before mounting", "[config]") {
  Daemon d;  // provides a valid tree; each case writes its own config beside it
  const std::string base =
      "[storage]\nbacking_dir = \"backing\"\nmount_point = \"mnt\"\n"
      "[keystore]\npath = \"keystore\"\nmaster_key_file = \"master.key\"\n"
      "[control]\nsocket = \"control.sock\"\njwt_hs256_secret_file = \"jwt.secret\"\n";
  struct Case {
    const char* name;
    std::string text;
    const char* expect;
  };
  std::vector<Case> cases = {
      {"unknown key", base + "[fuse]\nallow_otters = true\n", "unknown key 'allow_otters'"},
      {"wrong type", base + "[fuse]\nallow_other = \"yes\"\n", "allow_other must be true or false"},
      {"syntax", base + "[fuse\n", "syntax error"},
      {"missing dir", std::string(base).replace(base.find("\"backing\""), 9, "\"nowhere\""), "is not a directory"},
      {"backing inside mount", std::string(base).replace(base.find("\"backing\""), 9, "\"mnt/inner\""),
       "must not contain one another"},
      {"bad chunk size", base + "[storage.x]\n", "unknown key"},
  };
  std::filesystem::create_directory(d.dir().path() / "mnt" / "inner");
  for (const auto& c : cases) {
    INFO(c.name);
    std::ofstream(d.dir().file("bad.toml")) << c.text;
    auto r = run_daemon_with(d.dir().file("bad.toml"));
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(c.expect) != std::string::npos);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    CHECK_FALSE(is_mounted(d.mnt()));
  }
  SECTION("a master key readable by others") {
    ::chmod(d.dir().file("master.key").c_str(), 0644);
    std::ofstream(d.dir().file("bad.toml")) << base;
    auto r = run_daemon_with(d.dir().file("bad.toml"));
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("readable by group or others") != std::string::npos);
  }
  SECTION("a JWT secret readable by others: refused, with the file named") {
    for (mode_t mode : {0644, 0640, 0620}) {
      INFO(std::oct << mode);
      ::chmod(d.dir().file("jwt.secret").c_str(), mode);
      std::ofstream(d.dir().file("bad.toml")) << base;
      auto r = run_daemon_with(d.dir().file("bad.toml"));
      CHECK(r.exit_code == 2);
      CHECK(r.output.find("JWT HS256 secret file") != std::string::npos);
      CHECK(r.output.find(mode == 0620 ? "writable by group or others" : "readable by group or others") !=
            std::string::npos);
      CHECK(r.output.find("chmod 600") != std::string::npos);
      CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
      CHECK_FALSE(is_mounted(d.mnt()));
    }
    ::chmod(d.dir().file("jwt.secret").c_str(), 0600);
    d.start();  // the same tree starts once the mode is right
    CHECK(d.stop() == 0);
  }
  SECTION("a corrupted keystore is reported at start") {
    std::filesystem::create_directories(d.dir().path() / "keystore");
    write_all(d.dir().file("keystore/data.mdb"), pseudo_random(64 * 1024, 9));
    std::ofstream(d.dir().file("bad.toml")) << base;
    auto r = run_daemon_with(d.dir().file("bad.toml"));
    CHECK(r.exit_code == 3);
    CHECK(r.output.find("keystore") != std::string::npos);
    CHECK_FALSE(is_mounted(d.mnt()));
  }
}

TEST_CASE("SIGTERM during recording: closed files intact, open files sealed", "[lifecycle]") {
  Daemon d;
  d.start_with_account("acme");
  // 16 closed recordings, and 8 still open (written, not closed) at SIGTERM.
  for (int c = 0; c < 16; ++c) write_all(d.mnt() + "/acme/closed-" + std::to_string(c), frames(c, 300));
  std::vector<int> open_fds;
  for (int c = 0; c < 8; ++c) {
    int fd = ::open((d.mnt() + "/acme/open-" + std::to_string(c)).c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    auto data = frames(100 + c, 250);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    REQUIRE(::fsync(fd) == 0);  // the kernel's writeback cache hands us the data
    open_fds.push_back(fd);
  }
  CHECK(d.stop() == 0);
  for (int fd : open_fds) ::close(fd);
  for (int c = 0; c < 8; ++c) {
    CHECK(backing_header(d.backing() + "/acme/open-" + std::to_string(c)).sealed);
  }
  d.start();
  for (int c = 0; c < 16; ++c) CHECK(read_all(d.mnt() + "/acme/closed-" + std::to_string(c)) == frames(c, 300));
  for (int c = 0; c < 8; ++c) CHECK(read_all(d.mnt() + "/acme/open-" + std::to_string(c)) == frames(100 + c, 250));
}

TEST_CASE("SIGTERM right after write(): nothing held by the kernel's writeback cache is lost",
          "[lifecycle][writeback]") {
  // The longest flush interval: the periodic writeback helper syncs every
  // 500 ms, so it is not what hands over the writes made just before the stop.
  Daemon d("", 1000);
  d.start_with_account("acme");
  // Each file stays open; half of them were fsynced half-way (the daemon has
  // chunks and a tail), the rest of what write() accepted is only in the
  // kernel's page cache when the signal arrives.
  constexpr int kFiles = 8;
  std::vector<int> fds;
  for (int c = 0; c < kFiles; ++c) {
    int fd = ::open((d.mnt() + "/acme/rec-" + std::to_string(c)).c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    fds.push_back(fd);
    auto data = frames(200 + c, 150 + 37 * c);
    const std::size_t first = c % 2 == 0 ? data.size() / 2 : 0;
    REQUIRE(::write(fd, data.data(), first) == static_cast<ssize_t>(first));
    if (first > 0) REQUIRE(::fsync(fd) == 0);
    REQUIRE(::write(fd, data.data() + first, data.size() - first) == static_cast<ssize_t>(data.size() - first));
  }
  CHECK(d.stop() == 0);
  for (int fd : fds) ::close(fd);
  for (int c = 0; c < kFiles; ++c) {
    INFO("file " << c);
    CHECK(backing_header(d.backing() + "/acme/rec-" + std::to_string(c)).sealed);
  }
  d.start();
  for (int c = 0; c < kFiles; ++c) {
    auto got = read_all(d.mnt() + "/acme/rec-" + std::to_string(c));
    auto want = frames(200 + c, 150 + 37 * c);
    INFO("file " << c << ": " << got.size() << " bytes, wrote " << want.size());
    const bool same = got == want;
    CHECK(same);
  }
}

TEST_CASE("SIGTERM while recorders keep writing: a bounded stop that keeps every accepted frame",
          "[lifecycle][writeback]") {
  Daemon d("", 1000);
  d.start_with_account("acme");
  constexpr int kRecorders = 4;
  std::atomic<bool> quit{false};
  std::vector<std::atomic<int>> accepted(kRecorders);
  std::vector<std::atomic<int>> open_errno(kRecorders);
  std::vector<std::thread> recorders;
  for (int r = 0; r < kRecorders; ++r) {
    recorders.emplace_back([&, r] {
      int fd = ::open((d.mnt() + "/acme/live-" + std::to_string(r)).c_str(), O_WRONLY | O_CREAT, 0644);
      if (fd < 0) {
        open_errno[r] = errno;
        return;
      }
      for (int f = 0; !quit.load(); ++f) {
        auto frame = pseudo_random(320, static_cast<std::uint64_t>((300 + r) * 1000003 + f));
        if (::write(fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) break;
        accepted[r].store(f + 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ::close(fd);
    });
  }
  // Every recorder recording (the first create derives the account's key:
  // slow on a loaded machine), then some more frames.
  const auto recording = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto all_recording = [&] {
    for (int r = 0; r < kRecorders; ++r) {
      if (accepted[r].load() == 0 && open_errno[r] == 0) return false;
    }
    return true;
  };
  while (!all_recording() && std::chrono::steady_clock::now() < recording) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<int> before(kRecorders);
  for (int r = 0; r < kRecorders; ++r) before[r] = accepted[r].load();
  const auto t0 = std::chrono::steady_clock::now();
  const int status = d.stop();  // the recorders go on writing meanwhile
  const auto took = std::chrono::steady_clock::now() - t0;
  quit = true;
  for (auto& t : recorders) t.join();
  CHECK(status == 0);
  CHECK(took < std::chrono::seconds(10));
  d.start();
  for (int r = 0; r < kRecorders; ++r) {
    INFO("recorder " << r << ": " << before[r] << " frames accepted before SIGTERM");
    REQUIRE(open_errno[r] == 0);
    CHECK(before[r] > 0);
    CHECK(backing_header(d.backing() + "/acme/live-" + std::to_string(r)).sealed);
    auto got = read_all(d.mnt() + "/acme/live-" + std::to_string(r));
    auto want = frames(300 + r, before[r]);
    INFO(got.size() << " bytes read back");
    REQUIRE(got.size() >= want.size());
    const bool kept = std::equal(want.begin(), want.end(), got.begin());
    CHECK(kept);
  }
}

TEST_CASE("the writeback helper holds a file open for writing without delaying its seal", "[lifecycle][writeback]") {
  Daemon d;  // 200 ms interval: a helper pass every 100 ms
  d.start_with_account("acme");
  const std::string path = d.mnt() + "/acme/held.wav";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  const auto data = frames(7, 20);  // 6,400 bytes: a complete page and part of one
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  // The helper opens it by file handle (docs/RELIABILITY.md 1.1).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool held = child_holds(d.pid(), path);
  while (!held && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    held = child_holds(d.pid(), path);
  }
  REQUIRE(held);
  // Its open is an observer, not an opener: the writer's close seals.
  REQUIRE(::close(fd) == 0);
  CHECK(backing_header(d.backing() + "/acme/held.wav").sealed);
  CHECK(read_all(path) == data);
}

TEST_CASE("kill -9: a slowly growing recording's last page still reaches the backing file",
          "[lifecycle][writeback][crash]") {
  // 16 bytes every 20 ms: the first page fills only after 5 s, so what this
  // recorder writes in 3 s sits in one incomplete page that the helper holds
  // back while the file grows, at most 4 passes in a row.
  Daemon d;  // 200 ms interval: the bound is 3 intervals (docs/RELIABILITY.md 1)
  d.start_with_account("acme");
  const std::string path = d.mnt() + "/acme/slow.wav";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  const auto data = pseudo_random(4000, 77);
  std::vector<std::chrono::steady_clock::time_point> accepted_at;  // per 16-byte write
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (std::size_t at = 0; at + 16 <= data.size() && std::chrono::steady_clock::now() < end; at += 16) {
    REQUIRE(::write(fd, data.data() + at, 16) == 16);
    accepted_at.push_back(std::chrono::steady_clock::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  d.kill9();
  const auto killed = std::chrono::steady_clock::now();
  ::close(fd);
  d.start();
  // 3 intervals (600 ms) and the 1 s of slack reliability-crash allows.
  std::size_t due = 0;
  while (due < accepted_at.size() && killed - accepted_at[due] >= std::chrono::milliseconds(1600)) ++due;
  std::vector<std::uint8_t> got;
  REQUIRE(try_read_all(path, got) == 0);
  INFO(got.size() << " bytes back; " << due * 16 << " due, " << accepted_at.size() * 16 << " written");
  REQUIRE(got.size() <= accepted_at.size() * 16);
  CHECK(std::equal(got.begin(), got.end(), data.begin()));
  CHECK(got.size() >= due * 16);
}

TEST_CASE("kill -9 while recording, restart on the stale mount", "[lifecycle][crash]") {
  Daemon d;
  d.start_with_account("acme");
  for (int c = 0; c < 8; ++c) write_all(d.mnt() + "/acme/closed-" + std::to_string(c), frames(c, 500));
  std::vector<int> open_fds;
  for (int c = 0; c < 8; ++c) {
    int fd = ::open((d.mnt() + "/acme/open-" + std::to_string(c)).c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    auto data = frames(100 + c, 700);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    REQUIRE(::fsync(fd) == 0);
    open_fds.push_back(fd);
  }
  d.kill9();
  for (int fd : open_fds) ::close(fd);
  d.start();  // must clear the stale mount itself
  CHECK(d.log().find("stale mount") != std::string::npos);
  for (int c = 0; c < 8; ++c) CHECK(read_all(d.mnt() + "/acme/closed-" + std::to_string(c)) == frames(c, 500));
  for (int c = 0; c < 8; ++c) {
    // fsync'd data survives the crash; the file is unterminated but readable.
    INFO("open file " << c);
    CHECK(read_all(d.mnt() + "/acme/open-" + std::to_string(c)) == frames(100 + c, 700));
  }
}

TEST_CASE("one account's recorder cannot read another's recordings", "[isolation]") {
  Daemon d(
      "[accounts.acme]\nuid = 1001\ngid = 1001\nmode = \"0700\"\n"
      "[accounts.globex]\nuid = 1002\ngid = 1002\nmode = \"0700\"\n");
  // Let other users reach the mount point (the temp dir is 0700 by default).
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  d.start();
  d.configure("acme", {{"enabled", true}});
  struct stat st {};
  REQUIRE(::stat((d.mnt() + "/acme").c_str(), &st) == 0);
  CHECK(st.st_uid == 1001);
  CHECK((st.st_mode & 0777) == 0700);

  // Runs `fn` as uid/gid in a child; returns its exit code (the errno it saw).
  auto as_user = [](uid_t uid, const std::function<int()>& fn) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0) {
        ::_exit(99);
      }
      ::_exit(fn());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string f = d.mnt() + "/acme/secret-call.wav";
  CHECK(as_user(1001, [&] {
          int fd = ::open(f.c_str(), O_WRONLY | O_CREAT, 0600);
          if (fd < 0) return errno;
          ssize_t n = ::write(fd, "acme audio", 10);
          ::close(fd);
          return n == 10 ? 0 : 98;
        }) == 0);
  CHECK(as_user(1001, [&] { return open_close(f, O_RDONLY); }) == 0);
  CHECK(as_user(1002, [&] { return open_close(f, O_RDONLY); }) == EACCES);
  CHECK(as_user(1002, [&] { return open_close(d.mnt() + "/acme/new", O_CREAT | O_WRONLY); }) == EACCES);
  REQUIRE(::stat((d.backing() + "/acme/secret-call.wav").c_str(), &st) == 0);
  CHECK(st.st_uid == 1001);
}

TEST_CASE("the mount's kernel readahead follows [fuse] read_ahead_kb", "[lifecycle][readahead]") {
  // The knob lives in the mount's own backing-device entry; the daemon sets it
  // once the kernel has applied INIT (which would otherwise cap it at 128).
  auto knob_of = [](const std::string& mnt) {
    struct stat st {};
    REQUIRE(::stat(mnt.c_str(), &st) == 0);
    return "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) +
           "/read_ahead_kb";
  };
  auto read_knob = [](const std::string& path) {
    std::ifstream in(path);
    unsigned kb = 0;
    in >> kb;
    return kb;
  };
  for (unsigned wanted : {2048u, 0u}) {
    INFO("read_ahead_kb = " << wanted);
    Daemon d("[fuse]\nread_ahead_kb = " + std::to_string(wanted) + "\n");
    d.start();
    const std::string knob = knob_of(d.mnt());
    const unsigned expect = wanted == 0 ? 128u : wanted;  // 0 keeps the kernel's FUSE default
    unsigned got = 0;
    for (int i = 0; i < 100 && (got = read_knob(knob)) != expect; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(got == expect);
    d.stop();
  }
}

TEST_CASE("without --foreground the command returns once the daemon serves, and it keeps serving",
          "[lifecycle][background]") {
  Daemon d;
  REQUIRE(d.start_detached() == 0);
  CHECK(is_mounted(d.mnt()));
  // The control API answers: its thread started after the detaching fork.
  auto cfg = d.configure("acme", {{"enabled", true}});
  CHECK(cfg["key_version"] == 1);
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const auto data = pseudo_random(200000, 21);
  write_all(d.mnt() + "/acme/call.wav", data);
  CHECK(read_all(d.mnt() + "/acme/call.wav") == data);
  CHECK(d.stop() == 0);
  CHECK_FALSE(is_mounted(d.mnt()));
  CHECK(backing_header(d.backing() + "/acme/call.wav").sealed);
}

TEST_CASE("without --foreground a daemon that cannot start fails the command with its exit code",
          "[lifecycle][background]") {
  Daemon d;
  REQUIRE(d.start_detached() == 0);
  REQUIRE(d.stop() == 0);
  // Another master key cannot open the keystore the first start created.
  std::ofstream(d.dir().file("master.key")) << std::string(64, 'a') << "\n";
  ::chmod(d.dir().file("master.key").c_str(), 0600);
  CHECK(d.start_detached() == 3);
  CHECK(d.log().find("keystore") != std::string::npos);
  CHECK_FALSE(is_mounted(d.mnt()));
}

TEST_CASE("an exception escaping a handler is an errno and a log line; the daemon goes on serving",
          "[lifecycle][boundary]") {
  // The daemon throws on lookups of rv-fault-* names (ops.hpp, inject_fault).
  ::setenv("RECVAULT_FAULT_INJECTION", "1", 1);
  Daemon d;
  d.start();
  ::unsetenv("RECVAULT_FAULT_INJECTION");
  d.configure("acme", {{"enabled", true}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  // A recording open across the faults keeps recording.
  const std::string live = d.mnt() + "/acme/live.wav";
  int fd = ::open(live.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  auto first = frames(1, 100);
  REQUIRE(::write(fd, first.data(), first.size()) == static_cast<ssize_t>(first.size()));

  struct stat st {};
  errno = 0;
  CHECK(::stat((d.mnt() + "/acme/rv-fault-bad-alloc").c_str(), &st) == -1);
  CHECK(errno == ENOMEM);
  errno = 0;
  CHECK(::stat((d.mnt() + "/acme/rv-fault-runtime").c_str(), &st) == -1);
  CHECK(errno == EIO);
  // Thrown after the handler answered: the answer stands, no second reply.
  errno = 0;
  CHECK(::stat((d.mnt() + "/acme/rv-fault-after-reply").c_str(), &st) == -1);
  CHECK(errno == ENOENT);

  auto second = frames(2, 100);
  REQUIRE(::write(fd, second.data(), second.size()) == static_cast<ssize_t>(second.size()));
  REQUIRE(::close(fd) == 0);
  auto expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  CHECK(read_all(live) == expected);
  write_all(d.mnt() + "/acme/after.wav", frames(3, 10));
  CHECK(read_all(d.mnt() + "/acme/after.wav") == frames(3, 10));
  CHECK(d.count_in_log("FUSE lookup: out of memory escaped the handler; answered") == 1);
  CHECK(d.count_in_log("FUSE lookup: injected fault (rv-fault-runtime) escaped the handler; answered") == 1);
  CHECK(d.count_in_log("FUSE lookup: injected fault (rv-fault-after-reply) escaped the handler; it had answered") == 1);
  CHECK(d.stop() == 0);
}

TEST_CASE("a restart derives no key: the keystore keeps each derived key, sealed", "[lifecycle][derived]") {
  Daemon d;
  d.start_with_account("acme");
  write_all(d.mnt() + "/acme/v1.wav", frames(1, 300));
  d.configure("acme", {{"enabled", true}, {"key", "a-brand-new-key-for-version-two-0123456789"}});
  write_all(d.mnt() + "/acme/v2.wav", frames(2, 300));
  auto status = [&] { return d.http("GET", "/v1/status").json()["status"]; };
  CHECK(status()["key_derivations"] == 2);
  REQUIRE(d.stop() == 0);

  d.start();
  CHECK(read_all(d.mnt() + "/acme/v1.wav") == frames(1, 300));
  CHECK(read_all(d.mnt() + "/acme/v2.wav") == frames(2, 300));
  write_all(d.mnt() + "/acme/after-restart.wav", frames(3, 300));
  CHECK(read_all(d.mnt() + "/acme/after-restart.wav") == frames(3, 300));
  CHECK(status()["key_derivations"] == 0);
  CHECK(status()["keys_restored"] == 2);
  REQUIRE(d.stop() == 0);

  // keep_derived_keys = false: every start derives again.
  std::string config;
  {
    std::ifstream in(d.config_path());
    std::stringstream ss;
    ss << in.rdbuf();
    config = ss.str();
  }
  const std::string anchor = "master_key_file = \"master.key\"\n";
  config.replace(config.find(anchor), anchor.size(), anchor + "keep_derived_keys = false\n");
  std::ofstream(d.config_path(), std::ios::trunc) << config;
  d.start();
  CHECK(read_all(d.mnt() + "/acme/v1.wav") == frames(1, 300));
  CHECK(status()["key_derivations"] == 1);
  CHECK(status()["keys_restored"] == 0);
}

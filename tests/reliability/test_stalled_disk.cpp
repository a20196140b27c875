// A stop while the backing disk stalls (docs/DAEMON.md, Lifecycle): the
// backing dir is an ext4 image frozen with FIFREEZE, so every write the daemon
// makes to it waits. On SIGTERM the daemon asks the kernel to hand over its
// cached writes; that cannot finish while the disk is frozen, so
//   - the hand-over gives up at its deadline (5 s) and the stop goes on, or
//   - a second SIGTERM cuts the wait short at once;
// and in both cases, once the disk is back, the daemon exits 0 having sealed
// the recording with everything it accepted: never wrong bytes, never less
// than what was fsynced before the stall.
#include <catch2/catch.hpp>

#include <csignal>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr const char* kHandOver = "handing the kernel's cached writes to the daemon";
constexpr const char* kDeadline = "did not hand over its cached writes within";
constexpr const char* kSecondSignal = "second stop signal: stopping without waiting";

// Polls the daemon's log for `needle` for up to `limit`.
bool log_shows(const Daemon& d, const std::string& needle, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (d.count_in_log(needle) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool still_running(const Daemon& d) { return ::kill(d.pid(), 0) == 0; }

enum class Stop { wait_for_deadline, second_signal };

void stop_on_a_stalled_disk(Stop how) {
  // Flush interval 1000 ms: the periodic writeback helper syncs every 500 ms.
  Daemon d("", 1000);
  LoopExt4 disk(d.dir().file("backing.img"), d.backing(), 64);
  d.start_with_account("acme");

  const std::string path = d.mnt() + "/acme/call.wav";
  const auto before = pseudo_random(200000, 1);  // three chunks and a tail
  const auto during = pseudo_random(150000, 2);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, before.data(), before.size()) == static_cast<ssize_t>(before.size()));
  REQUIRE(::fsync(fd) == 0);

  // The disk stalls; write() still succeeds into the kernel's writeback
  // cache, and handing that to the daemon now waits on the disk.
  disk.freeze();
  REQUIRE(::write(fd, during.data(), during.size()) == static_cast<ssize_t>(during.size()));
  REQUIRE(::kill(d.pid(), SIGTERM) == 0);
  REQUIRE(log_shows(d, kHandOver, std::chrono::seconds(20)));

  if (how == Stop::wait_for_deadline) {
    CHECK(log_shows(d, kDeadline, std::chrono::seconds(30)));
  } else {
    REQUIRE(::kill(d.pid(), SIGTERM) == 0);
    CHECK(log_shows(d, kSecondSignal, std::chrono::seconds(20)));
    CHECK(d.count_in_log(kDeadline) == 0);
  }
  // Sealing needs the disk: the daemon waits for it rather than giving up
  // on what it accepted.
  CHECK(still_running(d));
  disk.thaw();
  CHECK(d.wait_stopped(std::chrono::seconds(30)) == 0);
  ::close(fd);
  CHECK(backing_header(d.backing() + "/acme/call.wav").sealed);

  // Whatever part of the stalled write reached the daemon is there, in
  // order, after everything that was fsynced.
  d.start();
  std::vector<std::uint8_t> got;
  REQUIRE(try_read_all(path, got) == 0);
  auto everything = before;
  everything.insert(everything.end(), during.begin(), during.end());
  INFO("read back " << got.size() << " bytes; " << before.size() << " were fsynced, " << everything.size()
                    << " written");
  REQUIRE(got.size() >= before.size());
  REQUIRE(got.size() <= everything.size());
  const bool prefix = std::equal(got.begin(), got.end(), everything.begin());
  CHECK(prefix);
}

}  // namespace

TEST_CASE("SIGTERM on a stalled disk: the hand-over gives up at its deadline, then everything accepted is sealed",
          "[stalled-disk]") {
  stop_on_a_stalled_disk(Stop::wait_for_deadline);
}

TEST_CASE("SIGTERM twice on a stalled disk: the second cuts the hand-over short, then everything accepted is sealed",
          "[stalled-disk]") {
  stop_on_a_stalled_disk(Stop::second_signal);
}

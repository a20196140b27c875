// kill -9 during recording: 64 recorders append 320-byte frames, the daemon
// is SIGKILLed at a random moment and restarted on the same backing dir.
//
//   - every file closed before the kill reads back bit-exact;
//   - every file open at the kill reads back a prefix of what was written,
//     covering at least every frame whose write() returned more than
//     kLossBound before the kill (tail_flush_interval_ms = 200 plus slack);
//   - every file in the view is readable (no EIO).
//
// Both with and without the kernel's writeback cache.
// RECVAULT_CRASH_ROUNDS=N runs N rounds per mode (default 3); RECVAULT_SEED replays.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRecorders = 64;
constexpr std::size_t kFrame = 320;
// The test config flushes tails every 200 ms; allow a second on a loaded CI box.
constexpr auto kLossBound = std::chrono::milliseconds(200 + 1000);

struct Recording {
  std::string path;
  std::uint64_t seed = 0;
  int frames_started = 0;               // write() called (may or may not have landed)
  std::vector<Clock::time_point> done;  // when each frame's write() returned
  bool closed = false;                  // close() returned 0
};

std::vector<std::uint8_t> frame_bytes(std::uint64_t seed, int frame) {
  return pseudo_random(kFrame, seed * 1000003 + static_cast<std::uint64_t>(frame));
}

std::vector<std::uint8_t> content_of(const Recording& r, int frames) {
  std::vector<std::uint8_t> out;
  for (int f = 0; f < frames; ++f) {
    auto b = frame_bytes(r.seed, f);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// One recorder: calls of random length back to back until the mount dies.
void recorder(const std::string& dir, int id, std::uint64_t seed, std::atomic<bool>& dead, std::vector<Recording>& out,
              std::mutex& m) {
  std::mt19937_64 rng(seed);
  for (int call = 0; !dead.load(); ++call) {
    Recording r;
    r.path = dir + "/rec-" + std::to_string(id) + "-" + std::to_string(call) + ".wav";
    r.seed = rng();
    const int frames = 10 + static_cast<int>(rng() % 120);
    int fd = ::open(r.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::lock_guard lock(m);
      out.push_back(std::move(r));
      return;
    }
    bool ok = true;
    for (int f = 0; f < frames && ok; ++f) {
      auto b = frame_bytes(r.seed, f);
      r.frames_started = f + 1;
      ok = ::write(fd, b.data(), b.size()) == static_cast<ssize_t>(b.size());
      if (ok) r.done.push_back(Clock::now());
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 20));
    }
    r.closed = ok && ::close(fd) == 0;
    if (!r.closed) ::close(fd);
    std::lock_guard lock(m);
    out.push_back(std::move(r));
    if (!ok) return;
  }
}

struct RoundFigures {
  std::size_t closed = 0, open = 0, bytes_checked = 0;
};

RoundFigures run_round(Daemon& d, int round, std::mt19937_64& rng) {
  const std::string dir = d.mnt() + "/acme/round-" + std::to_string(round);
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  std::vector<Recording> recs;
  std::mutex m;
  std::atomic<bool> dead{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kRecorders; ++i) {
    threads.emplace_back(recorder, dir, i, rng(), std::ref(dead), std::ref(recs), std::ref(m));
  }
  const auto delay = std::chrono::milliseconds(1300 + rng() % 1700);
  std::this_thread::sleep_for(delay);
  const auto killed_at = Clock::now();
  d.kill9();
  dead = true;
  for (auto& t : threads) t.join();
  d.start();  // clears the stale mount itself

  RoundFigures fig;
  for (const auto& r : recs) {
    INFO("round " << round << ", " << r.path << ", killed after " << delay.count() << " ms");
    std::vector<std::uint8_t> got;
    const std::string view = d.mnt() + r.path.substr(d.mnt().size());
    int err = try_read_all(view, got);
    if (err == ENOENT && r.done.empty()) continue;  // the create itself did not land
    REQUIRE(err == 0);
    if (r.closed) {
      ++fig.closed;
      CHECK(got == content_of(r, static_cast<int>(r.done.size())));
    } else {
      ++fig.open;
      const auto attempted = content_of(r, r.frames_started);
      REQUIRE(got.size() <= attempted.size());
      CHECK(std::equal(got.begin(), got.end(), attempted.begin()));
      std::size_t must = 0;
      for (auto t : r.done) must += t + kLossBound <= killed_at ? kFrame : 0;
      CHECK(got.size() >= must);
    }
    fig.bytes_checked += got.size();
  }
  // Nothing in the view is unreadable, including files no recorder knew of.
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    std::vector<std::uint8_t> got;
    INFO(e.path());
    CHECK(try_read_all(e.path(), got) == 0);
  }
  return fig;
}

void run_rounds(bool writeback, std::uint64_t rounds, std::mt19937_64& rng) {
  Daemon d(std::string("[fuse]\nwriteback_cache = ") + (writeback ? "true" : "false") + "\n");
  d.start_with_account("acme");
  RoundFigures total;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    auto f = run_round(d, static_cast<int>(round), rng);
    total.closed += f.closed;
    total.open += f.open;
    total.bytes_checked += f.bytes_checked;
  }
  std::cerr << "kill -9 (writeback_cache = " << writeback << "): " << rounds << " rounds, " << total.closed
            << " closed and " << total.open << " open recordings checked, " << total.bytes_checked << " bytes\n";
  CHECK(total.closed > 0);
  CHECK(total.open > 0);
  CHECK(d.stop() == 0);
}

}  // namespace

// With the kernel's writeback cache (the default) the bound holds because
// recvaultd's helper syncs the mount every flush interval (daemon/runtime.cpp).
TEST_CASE("kill -9 during recording loses at most the last flush interval", "[crash]") {
  std::mt19937_64 rng(test_seed("kill -9 rounds"));
  const auto rounds = env_count("RECVAULT_CRASH_ROUNDS", 3);
  run_rounds(true, rounds, rng);
  run_rounds(false, rounds, rng);
}

// A random-operation integrity tester (in the spirit of fsx, our own code):
// random writes, appends, truncates, reads, fsyncs, closes and reopens at
// random offsets and sizes on one file in the mount, mirrored on a plain
// reference file. Every read is compared, and the whole file at intervals.
//
// Reads drop the kernel's page cache for the file first (posix_fadvise
// DONTNEED writes dirty pages back, then forgets clean ones) so they reach
// the daemon rather than the kernel's copy; close and reopen makes the
// daemon re-read the backing file.
//
// RECVAULT_FSX_OPS=N operations per run (4 runs: GCM and CBC, writeback
// cache on and off; default 25,000, 8,000 under ASan; the long mode is e.g.
// 1000000); RECVAULT_SEED replays a run.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <deque>
#include <sstream>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr std::uint64_t kMaxSize = 48 * 1024;
// Per run (4 runs): 100,000 operations in all; fewer under the sanitizers
// (gcc says so with __SANITIZE_ADDRESS__, clang with __has_feature).
#if defined(__SANITIZE_ADDRESS__)
#define RECVAULT_FSX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECVAULT_FSX_SANITIZED 1
#endif
#endif
#if defined(RECVAULT_FSX_SANITIZED)
constexpr std::uint64_t kDefaultOps = 8000;
#else
constexpr std::uint64_t kDefaultOps = 25000;
#endif  // 12 chunks of 4 KiB: many boundaries, fast

class Fsx {
 public:
  Fsx(std::string view, std::string ref, std::uint64_t seed)
      : view_(std::move(view)), ref_(std::move(ref)), rng_(seed) {
    reopen(O_CREAT | O_TRUNC);
  }
  ~Fsx() {
    if (vf_ >= 0) ::close(vf_);
    if (rf_ >= 0) ::close(rf_);
  }

  // One random operation; fails the test (with the recent history) on a mismatch.
  void step(std::uint64_t n) {
    n_ = n;
    const unsigned pick = static_cast<unsigned>(rng_() % 100);
    if (pick < 35) {
      write_op(false);
    } else if (pick < 45) {
      write_op(true);
    } else if (pick < 75) {
      read_op();
    } else if (pick < 85) {
      truncate_op();
    } else if (pick < 90) {
      note("fsync");
      expect_same("fsync", ::fsync(vf_) == 0 ? 0 : errno, 0);
    } else if (pick < 97) {
      note("close+reopen");
      reopen(0);
    } else {
      note("close+reopen O_TRUNC");
      reopen(O_TRUNC);
    }
    if (n % 500 == 499) compare_all();
  }

  void compare_all() {
    note("compare all");
    ::posix_fadvise(vf_, 0, 0, POSIX_FADV_DONTNEED);
    struct stat vs {
    }, rs{};
    REQUIRE(::fstat(vf_, &vs) == 0);
    REQUIRE(::fstat(rf_, &rs) == 0);
    expect_same("size", static_cast<std::uint64_t>(vs.st_size), static_cast<std::uint64_t>(rs.st_size));
    std::vector<std::uint8_t> a(static_cast<std::size_t>(rs.st_size) + 100), b(a.size());
    ssize_t na = ::pread(vf_, a.data(), a.size(), 0), nb = ::pread(rf_, b.data(), b.size(), 0);
    expect_same("full read length", na, nb);
    if (a != b) fail("full compare: content differs at byte " + std::to_string(first_diff(a, b)));
  }

 private:
  void write_op(bool append) {
    const std::uint64_t size = ref_size();
    std::uint64_t off = append ? size : rng_() % kMaxSize;
    std::size_t len = pick_len();
    if (off + len > kMaxSize) len = static_cast<std::size_t>(kMaxSize - std::min(off, kMaxSize));
    if (len == 0) return;
    auto data = pseudo_random(len, rng_());
    note((append ? "append " : "write ") + std::to_string(off) + "+" + std::to_string(len));
    ssize_t a = ::pwrite(vf_, data.data(), len, static_cast<off_t>(off));
    int ea = errno;
    ssize_t b = ::pwrite(rf_, data.data(), len, static_cast<off_t>(off));
    expect_same("write result", a, b);
    if (a < 0) expect_same("write errno", ea, 0);
  }

  void read_op() {
    const std::uint64_t size = ref_size();
    std::uint64_t off = rng_() % (size + 4096);
    std::size_t len = pick_len();
    note("read " + std::to_string(off) + "+" + std::to_string(len));
    if (rng_() % 2 == 0) ::posix_fadvise(vf_, 0, 0, POSIX_FADV_DONTNEED);
    std::vector<std::uint8_t> a(len), b(len);
    ssize_t na = ::pread(vf_, a.data(), len, static_cast<off_t>(off));
    int ea = errno;
    ssize_t nb = ::pread(rf_, b.data(), len, static_cast<off_t>(off));
    if (na < 0) fail("read failed with errno " + std::to_string(ea));
    expect_same("read length", na, nb);
    if (a != b) fail("read content differs at byte " + std::to_string(off + first_diff(a, b)));
  }

  void truncate_op() {
    std::uint64_t to = rng_() % 3 == 0 ? (rng_() % (kMaxSize / 4096 + 1)) * 4096 : rng_() % kMaxSize;
    note("truncate " + std::to_string(to));
    int a = ::ftruncate(vf_, static_cast<off_t>(to)) == 0 ? 0 : errno;
    int b = ::ftruncate(rf_, static_cast<off_t>(to)) == 0 ? 0 : errno;
    expect_same("truncate", a, b);
  }

  void reopen(int extra) {
    if (vf_ >= 0) expect_same("close", ::close(vf_) == 0 ? 0 : errno, 0);
    if (rf_ >= 0) ::close(rf_);
    vf_ = ::open(view_.c_str(), O_RDWR | O_CLOEXEC | extra, 0644);
    rf_ = ::open(ref_.c_str(), O_RDWR | O_CLOEXEC | extra, 0644);
    if (vf_ < 0) fail("reopen of the view failed with errno " + std::to_string(errno));
    REQUIRE(rf_ >= 0);
  }

  std::size_t pick_len() {
    switch (rng_() % 4) {
      case 0:
        return 1 + rng_() % 16;  // tiny: frames, boundaries
      case 1:
        return 4096;  // exactly a chunk
      case 2:
        return 1 + rng_() % 4096;
      default:
        return 1 + rng_() % 20000;  // spans chunks
    }
  }

  std::uint64_t ref_size() {
    struct stat st {};
    ::fstat(rf_, &st);
    return static_cast<std::uint64_t>(st.st_size);
  }

  static std::size_t first_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    return static_cast<std::size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
  }

  void note(std::string what) {
    history_.push_back("#" + std::to_string(n_) + " " + std::move(what));
    if (history_.size() > 30) history_.pop_front();
  }

  template <class T>
  void expect_same(const char* what, T got, T want) {
    if (got != want) {
      std::ostringstream s;
      s << what << ": mount " << got << ", reference " << want;
      fail(s.str());
    }
  }

  void fail(const std::string& why) {
    std::string h;
    for (const auto& line : history_) h += "  " + line + "\n";
    FAIL("operation #" << n_ << ": " << why << "\nlast operations:\n" << h);
  }

  std::string view_, ref_;
  std::mt19937_64 rng_;
  int vf_ = -1, rf_ = -1;
  std::uint64_t n_ = 0;
  std::deque<std::string> history_;
};

void run_fsx(const char* algorithm, const char* writeback) {
  const std::uint64_t seed = test_seed((std::string("fsx ") + algorithm + " writeback=" + writeback).c_str());
  const std::uint64_t ops = env_count("RECVAULT_FSX_OPS", kDefaultOps);
  Daemon d(std::string("[fuse]\nwriteback_cache = ") + writeback + "\n");
  set_storage_option(d.config_path(), "chunk_size = 4096");
  d.start();
  d.configure("acme", {{"enabled", true}, {"algorithm", algorithm}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  {
    Fsx fsx(d.mnt() + "/acme/fsx.bin", d.dir().file("fsx.ref"), seed);
    for (std::uint64_t i = 0; i < ops; ++i) fsx.step(i);
    fsx.compare_all();
  }
  // Closed: what is on disk must be the same after a restart.
  CHECK(d.stop() == 0);
  d.start();
  CHECK(read_all(d.mnt() + "/acme/fsx.bin") == read_all(d.dir().file("fsx.ref")));
  std::cerr << "fsx " << algorithm << " writeback=" << writeback << ": " << ops << " operations, 0 mismatches\n";
}

}  // namespace

TEST_CASE("random operations match a plain file: AES-256-GCM", "[fsx]") {
  run_fsx("AES-256-GCM", "true");
  run_fsx("AES-256-GCM", "false");
}

TEST_CASE("random operations match a plain file: AES-256-CBC", "[fsx]") {
  run_fsx("AES-256-CBC", "true");
  run_fsx("AES-256-CBC", "false");
}

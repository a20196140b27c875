// Full disks: the backing dir and the keystore on small tmpfs mounts.
//   - writes fail with ENOSPC (never EIO), and close() reports it;
//   - earlier recordings stay intact, the daemon keeps serving, and writing
//     works again once space is freed;
//   - a keystore that cannot grow answers 500 "Failed to update encryption
//     configuration" and keeps the old configuration.
#include <fcntl.h>

#include <catch2/catch.hpp>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

struct FillResult {
  std::uint64_t written = 0;
  std::vector<int> errors;  // every errno seen from write, fsync and close
};

// Writes `chunk`-sized pieces to `path` until something fails (or `limit`).
FillResult fill(const std::string& path, std::size_t chunk, std::uint64_t limit) {
  FillResult r;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    r.errors.push_back(errno);
    return r;
  }
  auto data = pseudo_random(chunk, 77);
  while (r.written < limit) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      r.errors.push_back(errno);
      break;
    }
    r.written += static_cast<std::uint64_t>(n);
  }
  if (::fsync(fd) != 0) r.errors.push_back(errno);
  if (::close(fd) != 0) r.errors.push_back(errno);
  return r;
}

void check_enospc(const FillResult& r) {
  INFO("written " << r.written);
  REQUIRE_FALSE(r.errors.empty());
  for (int e : r.errors) CHECK(e == ENOSPC);
}

// Reads `path` as try_read_all does, after dropping the file's pages from
// the kernel's page cache (POSIX_FADV_DONTNEED): every byte comes from the
// daemon, that is from what reached the backing file.
int try_read_uncached(const std::string& path, std::vector<std::uint8_t>& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int advised = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (advised != 0) return advised;
  return try_read_all(path, out);
}

// A partial recording of fill(path, piece, ...) reads back as what was
// written, except zeros where a write did not reach the disk (ENOSPC):
// never other bytes. Returns how many bytes are neither.
std::size_t foreign_bytes(const std::vector<std::uint8_t>& got, std::size_t piece) {
  const auto data = pseudo_random(piece, 77);
  std::size_t foreign = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != data[i % piece] && got[i] != 0) ++foreign;
  }
  return foreign;
}

void run_backing_full(const char* writeback, std::size_t piece) {
  Daemon d(std::string("[fuse]\nwriteback_cache = ") + writeback + "\n");
  TmpfsMount small(d.backing(), "3m");
  d.start_with_account("acme");
  const auto early = pseudo_random(300000, 1);
  write_all(d.mnt() + "/acme/early.wav", early);

  const FillResult filled = fill(d.mnt() + "/acme/filler.wav", piece, 64 << 20);
  check_enospc(filled);
  // A recording that starts on the full disk fails cleanly too.
  check_enospc(fill(d.mnt() + "/acme/late.wav", 320, 1 << 20));

  // Still serving; the earlier recording is intact.
  CHECK(read_all(d.mnt() + "/acme/early.wav") == early);
  // Whatever landed is readable, through the page cache and from the disk
  // (with writeback cache, writes that failed may sit in the page cache and
  // reach the disk in any order: a write processed after a failed one leaves
  // a hole, which reads as zeros).
  std::vector<std::uint8_t> partial, stored;
  const int read_err = try_read_all(d.mnt() + "/acme/filler.wav", partial);
  const int stored_err = try_read_uncached(d.mnt() + "/acme/filler.wav", stored);
  INFO(d.log());  // after the reads: their log lines, if any, are in it
  CHECK(read_err == 0);
  CHECK(stored_err == 0);
  CHECK(partial.size() <= filled.written);
  CHECK(stored.size() <= filled.written);
  CHECK(foreign_bytes(partial, piece) == 0);
  CHECK(foreign_bytes(stored, piece) == 0);

  // Space returns: writing works again.
  REQUIRE(::unlink((d.mnt() + "/acme/filler.wav").c_str()) == 0);
  REQUIRE((::unlink((d.mnt() + "/acme/late.wav").c_str()) == 0 || errno == ENOENT));  // its create may have failed
  const auto after = pseudo_random(500000, 2);
  write_all(d.mnt() + "/acme/after.wav", after);
  CHECK(read_all(d.mnt() + "/acme/after.wav") == after);
  CHECK(read_all(d.mnt() + "/acme/early.wav") == early);
  CHECK(d.stop() == 0);
  CHECK(backing_header(d.backing() + "/acme/after.wav").sealed);
}

}  // namespace

TEST_CASE("a full backing disk gives ENOSPC, keeps old recordings and recovers", "[full-disk]") {
  SECTION("writeback cache (large writes)") { run_backing_full("true", 256 * 1024); }
  SECTION("no writeback cache (320-byte frames)") { run_backing_full("false", 320); }
}

TEST_CASE("a full keystore disk: 500 and the configuration unchanged", "[full-disk]") {
  Daemon d;
  TmpfsMount small(d.dir().file("keystore"), "1m");
  d.start();
  auto v1 = d.configure("acme", {{"enabled", true}});
  {
    // Fill the keystore's file system to the last byte.
    int fd = ::open(d.dir().file("keystore/filler").c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    std::vector<std::uint8_t> buf(4096, 1);
    while (::write(fd, buf.data(), buf.size()) > 0) {
    }
    while (::write(fd, buf.data(), 1) > 0) {
    }
    ::close(fd);
  }
  // Rotations write new pages: one of them must hit the full disk.
  int failures = 0;
  nlohmann::json last_ok = v1;
  for (int i = 0; i < 20 && failures == 0; ++i) {
    nlohmann::json rotate = {{"enabled", true},
                             {"key", hex_encode(pseudo_random(32, 100 + static_cast<std::uint64_t>(i)))},
                             {"salt", hex_encode(pseudo_random(16, 200 + static_cast<std::uint64_t>(i)))}};
    auto r = d.http("PUT", "/api/v2/config/call_recording_encryption", "acme", rotate.dump());
    if (r.status == 200) {
      last_ok = r.json()["config"];
      continue;
    }
    INFO(r.body);
    CHECK(r.status == 500);
    CHECK(r.body.find("Failed to update encryption configuration") != std::string::npos);
    ++failures;
  }
  REQUIRE(failures == 1);
  auto got = d.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  REQUIRE(got.status == 200);
  CHECK(got.json()["config"]["key_version"] == last_ok["key_version"]);
  CHECK(got.json()["config"]["salt"] == last_ok["salt"]);

  // Recording still works under the unchanged configuration.
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  write_all(d.mnt() + "/acme/call.wav", pseudo_random(100000, 3));
  CHECK(read_all(d.mnt() + "/acme/call.wav") == pseudo_random(100000, 3));

  // Space returns: updates work again, and the store survives a restart.
  REQUIRE(::unlink(d.dir().file("keystore/filler").c_str()) == 0);
  auto rotated = d.configure(
      "acme",
      {{"enabled", true}, {"key", hex_encode(pseudo_random(32, 300))}, {"salt", hex_encode(pseudo_random(16, 301))}});
  CHECK(rotated["key_version"].get<int>() == last_ok["key_version"].get<int>() + 1);
  CHECK(d.stop() == 0);
  d.start();
  CHECK(read_all(d.mnt() + "/acme/call.wav") == pseudo_random(100000, 3));
  auto final = d.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  CHECK(final.json()["config"]["key_version"] == rotated["key_version"]);
}

// Small recordings at the FUSE ceiling (issue 22): what the daemon keeps
// between opens (the kernel's cached pages of a recording, its plaintext
// size) is used only while the backing file is exactly as the daemon last
// saw it. Changed behind its back, the view reads it again: the change, or
// EIO, never the old bytes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_harness.hpp"
#include "fs_util.hpp"
#include "recvault/format/record.hpp"
#include "recvault/format/xattrs.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr std::size_t kPage = 4096;

// How many pages of `path` (in the mount) the kernel's page cache holds,
// through a descriptor opened for it: the open itself decides whether the
// cache is kept (FOPEN_KEEP_CACHE) or dropped.
std::size_t cached_after_open(const std::string& path, std::size_t size) {
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  std::vector<unsigned char> vec((size + kPage - 1) / kPage);
  REQUIRE(::mincore(map, size, vec.data()) == 0);
  ::munmap(map, size);
  ::close(fd);
  std::size_t n = 0;
  for (unsigned char v : vec) n += (v & 1) != 0 ? 1 : 0;
  return n;
}

// Waits until the daemon has seen every close of acme's recordings (a
// RELEASE reaches it after close() returned).
void wait_released(Daemon& d) {
  CHECK(eventually(
      [&] { return d.http("GET", "/v1/status").json()["status"]["accounts"]["acme"]["recordings_open"] == 0; }));
}

void flip_byte(const std::string& path, off_t at) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  std::uint8_t b = 0;
  REQUIRE(::pread(fd, &b, 1, at) == 1);
  b ^= 0x40;
  REQUIRE(::pwrite(fd, &b, 1, at) == 1);
  ::close(fd);
}

}  // namespace

TEST_CASE("a recording's cached pages are kept across opens only while its backing file is unchanged",
          "[mount][small-files]") {
  Daemon d;
  d.start_with_account("acme");
  // Three chunks: an open authenticates only the last record, so what the
  // first two read as comes from the cache or from the disk.
  const auto data = pseudo_random(3 * 64 * 1024, 22);
  const std::string f = d.mnt() + "/acme/call.wav";
  const std::string backing = d.backing() + "/acme/call.wav";
  write_all(f, data);
  CHECK(read_all(f) == data);
  wait_released(d);

  // Unchanged since the daemon last saw it: the next open keeps the pages.
  CHECK(cached_after_open(f, data.size()) == data.size() / kPage);
  wait_released(d);

  SECTION("a byte of the first record changed behind the daemon's back: EIO, not the cached bytes") {
    flip_byte(backing, 200);
    std::vector<std::uint8_t> got;
    CHECK(try_read_all(f, got) == EIO);
    CHECK(d.count_in_log("tampered") >= 1);
    // Put back: the view reads the recording again.
    flip_byte(backing, 200);
    wait_released(d);
    CHECK(read_all(f) == data);
  }
  SECTION("another recording written over it in place: its bytes, not the cached ones") {
    const auto other = pseudo_random(3 * 64 * 1024, 23);
    write_all(d.mnt() + "/acme/other.wav", other);
    wait_released(d);
    const std::string other_backing = d.backing() + "/acme/other.wav";
    write_all(backing, read_all(other_backing));  // same inode, new content
    const std::string meta = xattr_of(other_backing, format::xattr::meta);
    REQUIRE(::setxattr(backing.c_str(), format::xattr::meta, meta.data(), meta.size(), 0) == 0);
    CHECK(read_all(f) == other);
  }
}

TEST_CASE("times set on a recording while it is written: the next open still keeps its cached pages",
          "[mount][small-files]") {
  // With the writeback cache the kernel sends a file's mtime while it is
  // being written (SETATTR at its inode writeback, or a recorder's own
  // futimens); the daemon then puts those times back after each of its own
  // writes to the backing file. Its last close must leave the backing file
  // exactly as the daemon then records it, or the next open sees a change
  // that is not one and drops the cached pages. (Found as a flaky check
  // above: the kernel's SETATTR comes only when its inode writeback runs
  // during the write.)
  Daemon d;
  d.start_with_account("acme");
  const auto data = pseudo_random(2 * 64 * 1024, 25);
  const std::string f = d.mnt() + "/acme/call.wav";
  int fd = ::open(f.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  const struct timespec times[2] = {{1700000000, 0}, {1700000000, 250}};
  REQUIRE(::futimens(fd, times) == 0);
  REQUIRE(::close(fd) == 0);
  wait_released(d);

  CHECK(cached_after_open(f, data.size()) == data.size() / kPage);
  wait_released(d);
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == 1700000000);
  CHECK(st.st_mtim.tv_nsec == 250);
  CHECK(read_all(f) == data);
}

TEST_CASE("a sealed recording cut short behind the daemon's back reads as EIO, not from the cache",
          "[mount][small-files]") {
  Daemon d;
  d.start_with_account("acme");
  const auto data = pseudo_random(64 * 1024 + 1000, 24);
  const std::string f = d.mnt() + "/acme/call.wav";
  const std::string backing = d.backing() + "/acme/call.wav";
  write_all(f, data);
  CHECK(read_all(f) == data);
  wait_released(d);
  CHECK(cached_after_open(f, data.size()) == (data.size() + kPage - 1) / kPage);
  wait_released(d);

  // The final record cut off: what is left is one whole record, a valid
  // file length, but a sealed recording without its final record.
  const format::Header h = backing_header(backing);
  REQUIRE(::truncate(backing.c_str(),
                     static_cast<off_t>(h.encoded_size() + format::record_size(h.algorithm, 64 * 1024))) == 0);
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(f, got) == EIO);
  CHECK(got.empty());
}

TEST_CASE("a reader's first open of a one-chunk recording puts it in the page cache, the read needs no round trip",
          "[mount][small-files]") {
  Daemon d;
  d.start_with_account("acme");
  const auto small = pseudo_random(64 * 1024 - 100, 25);  // one chunk, the last page partial
  const auto large = pseudo_random(2 * 64 * 1024, 26);    // two chunks: not filled at open
  write_all(d.mnt() + "/acme/small.wav", small);
  write_all(d.mnt() + "/acme/large.wav", large);
  // A new mount: the kernel knows none of the files (as after it forgot
  // them), and holds none of their pages.
  REQUIRE(d.stop() == 0);
  d.start();
  const std::string f = d.mnt() + "/acme/small.wav";
  CHECK(cached_after_open(f, small.size()) == (small.size() + kPage - 1) / kPage);
  CHECK(read_all(f) == small);
  CHECK(cached_after_open(d.mnt() + "/acme/large.wav", large.size()) == 0);
  CHECK(read_all(d.mnt() + "/acme/large.wav") == large);
}

TEST_CASE("an xattr changed behind the daemon's back of a recording it sealed or checked still reads as EIO",
          "[mount][small-files]") {
  // Opens skip comparing the xattrs of a file whose exact state (size,
  // mtime, ctime) the daemon sealed or compared itself (SizeMemo); setting an
  // xattr changes the ctime, so the next open compares them again.
  Daemon d;
  d.start_with_account("acme");
  const auto data = pseudo_random(64 * 1024 - 100, 27);
  const std::string f = d.mnt() + "/acme/call.wav";
  const std::string backing = d.backing() + "/acme/call.wav";
  write_all(f, data);
  wait_released(d);
  SECTION("sealed by this daemon") {}
  SECTION("compared at an open after a restart") {
    REQUIRE(d.stop() == 0);
    d.start();
  }
  CHECK(read_all(f) == data);  // the memo vouches for the xattrs from here on
  wait_released(d);
  CHECK(read_all(f) == data);
  wait_released(d);
  REQUIRE(::setxattr(backing.c_str(), "user.recvault.key_version", "7", 1, 0) == 0);
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(f, got) == EIO);
  CHECK(got.empty());
  CHECK(d.count_in_log("metadata_mismatch") >= 1);
  // Put back as it was: the recording reads again.
  REQUIRE(::removexattr(backing.c_str(), "user.recvault.key_version") == 0);
  CHECK(read_all(f) == data);
}

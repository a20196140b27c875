// One system call must not write the backing disk full: growing an encrypted
// recording (ftruncate up, a write far past its end) makes a hole in the
// backing file (format version 2), so it costs no disk and no time whatever
// the new size; the size shows at once and the hole reads as zeros. A size
// the backing file system cannot hold is EFBIG at once, with nothing
// written, as on a plain directory of the same file system.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kTiB = std::uint64_t{1} << 40;
constexpr std::uint64_t kSmall = std::uint64_t{4} << 20;  // allocated bytes a grown file may use
constexpr std::uint64_t kHuge = 999999999999999;          // past ext4's 16 TiB, within tmpfs's limit

struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

std::uint64_t allocated(const std::string& path) { return static_cast<std::uint64_t>(stat_of(path).st_blocks) * 512; }

std::vector<std::uint8_t> pread_n(int fd, std::uint64_t off, std::size_t n) {
  std::vector<std::uint8_t> b(n, 0xAA);
  const ssize_t got = ::pread(fd, b.data(), n, static_cast<off_t>(off));
  REQUIRE(got == static_cast<ssize_t>(n));
  return b;
}

bool zeros(const std::vector<std::uint8_t>& v) {
  return std::all_of(v.begin(), v.end(), [](std::uint8_t b) { return b == 0; });
}

void start_encrypted(Daemon& d) { d.start_with_account("acme"); }

}  // namespace

TEST_CASE("ftruncate to 2 GiB and a byte at 1 TiB leave the backing file small and read zeros", "[sparse]") {
  Daemon d;
  start_encrypted(d);
  const std::string path = d.mnt() + "/acme/call.wav", backing = d.backing() + "/acme/call.wav";
  const auto head = pseudo_random(100000, 1);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()));

  REQUIRE(::ftruncate(fd, static_cast<off_t>(2 * kGiB)) == 0);
  CHECK(static_cast<std::uint64_t>(stat_of(path).st_size) == 2 * kGiB);
  REQUIRE(::fsync(fd) == 0);
  CHECK(allocated(backing) < kSmall);
  CHECK(pread_n(fd, 0, head.size()) == head);
  CHECK(zeros(pread_n(fd, head.size(), 200000)));
  CHECK(zeros(pread_n(fd, kGiB + 12345, 300000)));
  CHECK(zeros(pread_n(fd, 2 * kGiB - 70000, 70000)));

  const char x = 'x';
  REQUIRE(::pwrite(fd, &x, 1, static_cast<off_t>(kTiB)) == 1);
  CHECK(static_cast<std::uint64_t>(stat_of(path).st_size) == kTiB + 1);
  REQUIRE(::fsync(fd) == 0);
  CHECK(allocated(backing) < kSmall);
  auto end = pread_n(fd, kTiB - 5, 6);
  CHECK(end == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 'x'});
  CHECK(zeros(pread_n(fd, 3 * kGiB, 131072)));
  REQUIRE(::close(fd) == 0);

  // Sealed on close, and so after a restart (no cache in the kernel or the
  // daemon): the same size, the same bytes, still small on disk.
  REQUIRE(d.stop() == 0);
  CHECK(backing_header(backing).sealed);
  CHECK(backing_header(backing).format_version == 2);
  CHECK(allocated(backing) < kSmall);
  d.start();
  CHECK(static_cast<std::uint64_t>(stat_of(path).st_size) == kTiB + 1);
  fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK(pread_n(fd, 0, head.size()) == head);
  CHECK(zeros(pread_n(fd, kGiB, 65536)));
  CHECK(pread_n(fd, kTiB, 1) == std::vector<std::uint8_t>{'x'});
  ::close(fd);
  CHECK(d.stop() == 0);
}

TEST_CASE("a size past what the backing file system holds is EFBIG at once, as on a plain directory", "[sparse]") {
  Daemon d;
  LoopExt4 disk(d.dir().file("backing.img"), d.backing(), 64);
  start_encrypted(d);
  const std::string path = d.mnt() + "/acme/call.wav", backing = d.backing() + "/acme/call.wav";
  const auto data = pseudo_random(5000, 2);
  write_all(path, data);
  REQUIRE(d.stop() == 0);  // sealed: the backing file is final
  const auto before = read_all(backing);
  const auto blocks = stat_of(backing).st_blocks;
  d.start();

  // The same call on a plain file of the same file system.
  const std::string plain = d.backing() + "/plain";
  write_all(plain, data);
  errno = 0;
  CHECK(::truncate(plain.c_str(), static_cast<off_t>(kHuge)) == -1);
  CHECK(errno == EFBIG);

  errno = 0;
  CHECK(::truncate(path.c_str(), static_cast<off_t>(kHuge)) == -1);
  CHECK(errno == EFBIG);
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  errno = 0;
  CHECK(::ftruncate(fd, static_cast<off_t>(kHuge)) == -1);
  CHECK(errno == EFBIG);
  CHECK(static_cast<std::uint64_t>(stat_of(path).st_size) == data.size());
  CHECK(pread_n(fd, 0, data.size()) == data);
  REQUIRE(::close(fd) == 0);
  REQUIRE(d.stop() == 0);
  CHECK(read_all(backing) == before);
  CHECK(stat_of(backing).st_blocks == blocks);
}

TEST_CASE("on tmpfs the same size is a sparse file, as on a plain tmpfs directory", "[sparse]") {
  Daemon d;
  TmpfsMount tmp(d.backing(), "64m");
  start_encrypted(d);
  const std::string path = d.mnt() + "/acme/call.wav", backing = d.backing() + "/acme/call.wav";
  const std::string plain = d.backing() + "/plain";
  write_all(plain, pseudo_random(100, 3));
  REQUIRE(::truncate(plain.c_str(), static_cast<off_t>(kHuge)) == 0);

  write_all(path, pseudo_random(100, 3));
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(kHuge)) == 0);
  CHECK(static_cast<std::uint64_t>(stat_of(path).st_size) == kHuge);
  CHECK(allocated(backing) < kSmall);
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK(zeros(pread_n(fd, kHuge - 4096, 4096)));
  CHECK(pread_n(fd, 0, 100) == pseudo_random(100, 3));
  ::close(fd);
  CHECK(d.stop() == 0);
}

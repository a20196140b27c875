// A read of part of a chunk fills the kernel's page cache with the rest of
// the chunk the daemon had to decrypt anyway (a player seeking), and never
// while an opener could hold unwritten data in those pages.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon_harness.hpp"
#include "fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr std::size_t kChunk = 64 * 1024;  // the daemon's default chunk size
constexpr std::size_t kPage = 4096;

// Which pages of `fd` the kernel's page cache holds (mincore on a mapping
// reports the file's cache; mapping faults nothing in).
std::vector<bool> cached_pages(int fd, std::size_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(map != MAP_FAILED);
  std::vector<unsigned char> vec((size + kPage - 1) / kPage);
  REQUIRE(::mincore(map, size, vec.data()) == 0);
  ::munmap(map, size);
  std::vector<bool> out;
  for (unsigned char v : vec) out.push_back((v & 1) != 0);
  return out;
}

std::size_t count_cached(const std::vector<bool>& pages, std::size_t first, std::size_t n) {
  std::size_t k = 0;
  for (std::size_t i = first; i < first + n; ++i) k += pages[i] ? 1 : 0;
  return k;
}

// Drops the clean cached pages of `path` in the mount.
void drop_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
  ::close(fd);
}

std::vector<std::uint8_t> pread_exact(int fd, std::size_t n, std::size_t at) {
  std::vector<std::uint8_t> out(n);
  REQUIRE(::pread(fd, out.data(), n, static_cast<off_t>(at)) == static_cast<ssize_t>(n));
  return out;
}

std::vector<std::uint8_t> slice(const std::vector<std::uint8_t>& v, std::size_t at, std::size_t n) {
  return {v.begin() + static_cast<std::ptrdiff_t>(at), v.begin() + static_cast<std::ptrdiff_t>(at + n)};
}

// Reads the page at `at` after dropping the cache, until the whole chunk
// around it is cached (the release of an earlier writer reaches the daemon
// after its close() returned); false after ~2 s.
bool read_fills_chunk(int fd, const std::string& path, const std::vector<std::uint8_t>& data, std::size_t at) {
  const std::size_t first = at / kChunk * (kChunk / kPage);
  for (int i = 0; i < 100; ++i) {
    drop_cache(path);
    CHECK(pread_exact(fd, kPage, at) == slice(data, at, kPage));
    if (count_cached(cached_pages(fd, data.size()), first, kChunk / kPage) == kChunk / kPage) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Starts `d` with encryption on for account acme and records `data` as
// acme/`name` through the mount, with nothing of it left in the page cache.
std::string recorded(Daemon& d, const std::string& name, const std::vector<std::uint8_t>& data) {
  d.start_with_account("acme");
  const std::string f = d.mnt() + "/acme/" + name;
  write_all(f, data);
  drop_cache(f);
  return f;
}

}  // namespace

TEST_CASE("a 4 KiB read puts its whole authenticated chunk in the page cache", "[mount][page-cache]") {
  Daemon d;
  const auto data = pseudo_random(16 * kChunk + 1000, 11);
  const std::string f = recorded(d, "call.wav", data);

  int fd = ::open(f.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  const std::size_t pages_per_chunk = kChunk / kPage;
  REQUIRE(count_cached(cached_pages(fd, data.size()), 0, data.size() / kPage) == 0);

  // A seek into chunk 5, page 8 of 16: the answer, then the rest of the chunk.
  CHECK(read_fills_chunk(fd, f, data, 5 * kChunk + 8 * kPage));
  auto pages = cached_pages(fd, data.size());
  CHECK(count_cached(pages, 4 * pages_per_chunk, pages_per_chunk) == 0);  // nothing before the chunk

  // A read across two chunks decrypts both whole already: no fill.
  const std::size_t across = 9 * kChunk - kPage;
  CHECK(pread_exact(fd, 2 * kPage, across) == slice(data, across, 2 * kPage));
  pages = cached_pages(fd, data.size());
  CHECK(count_cached(pages, 8 * pages_per_chunk, pages_per_chunk - 1) == 0);

  // The last, partial chunk (the tail) reads as before.
  const std::size_t tail = 16 * kChunk;
  CHECK(pread_exact(fd, 100, tail) == slice(data, tail, 100));

  // What the cache holds is the recording.
  CHECK(pread_exact(fd, kChunk, 5 * kChunk) == slice(data, 5 * kChunk, kChunk));
  ::close(fd);
  drop_cache(f);
  CHECK(read_all(f) == data);
}

TEST_CASE("no fill while a writer may hold unwritten pages of the chunk", "[mount][page-cache]") {
  Daemon d("", 1000);  // the daemon's periodic writeback (every 500 ms) stays out of the way
  auto data = pseudo_random(4 * kChunk, 12);
  const std::string f = recorded(d, "edit.wav", data);

  // The writer's page sits in the kernel's writeback cache: the daemon has
  // not seen it. A fill of chunk 1 would overwrite it with the old bytes.
  int w = ::open(f.c_str(), O_RDWR);
  REQUIRE(w >= 0);
  const auto fresh = pseudo_random(kPage, 13);
  const std::size_t written_at = kChunk + 3 * kPage;
  REQUIRE(::pwrite(w, fresh.data(), fresh.size(), static_cast<off_t>(written_at)) == static_cast<ssize_t>(kPage));
  std::copy(fresh.begin(), fresh.end(), data.begin() + static_cast<std::ptrdiff_t>(written_at));

  int r = ::open(f.c_str(), O_RDONLY);
  REQUIRE(r >= 0);
  const std::size_t other = kChunk + 9 * kPage;
  CHECK(pread_exact(r, kPage, other) == slice(data, other, kPage));
  CHECK(pread_exact(r, kPage, written_at) == fresh);

  // Once the writer is gone (its release reaches the daemon after close()
  // returns), fills resume, and serve what it wrote.
  REQUIRE(::close(w) == 0);
  CHECK(read_fills_chunk(r, f, data, kChunk + 12 * kPage));
  CHECK(pread_exact(r, kPage, written_at) == fresh);
  ::close(r);
  drop_cache(f);
  CHECK(read_all(f) == data);
}

TEST_CASE("truncating a file a reader has filled drops what was cut", "[mount][page-cache]") {
  Daemon d;
  const auto data = pseudo_random(6 * kChunk, 14);
  const std::string f = recorded(d, "cut.wav", data);

  int r = ::open(f.c_str(), O_RDONLY);
  REQUIRE(r >= 0);
  CHECK(read_fills_chunk(r, f, data, 4 * kChunk + kPage));
  REQUIRE(::truncate(f.c_str(), static_cast<off_t>(2 * kChunk + 10)) == 0);
  struct stat st {};
  REQUIRE(::fstat(r, &st) == 0);
  CHECK(st.st_size == static_cast<off_t>(2 * kChunk + 10));
  std::uint8_t byte = 0;
  CHECK(::pread(r, &byte, 1, static_cast<off_t>(4 * kChunk + 2 * kPage)) == 0);  // past the end now
  CHECK(pread_exact(r, kPage, kChunk) == slice(data, kChunk, kPage));
  ::close(r);
  drop_cache(f);
  CHECK(read_all(f) == slice(data, 0, 2 * kChunk + 10));
}

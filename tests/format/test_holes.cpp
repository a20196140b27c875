// Holes (format version 2, docs/FORMAT.md §5.2-5.5): growing a file costs no
// disk, holes read as zeros, writes into them read back, and zeroing,
// punching or swapping records is still detected, never read as zeros.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <climits>

#include "format_fixture.hpp"

using namespace recvault;
using namespace recvault::test;
using format::Algorithm;
using format::EncryptedFile;

namespace {

constexpr std::uint32_t kC = 4096;  // small chunks: many slots, small files

std::uint64_t allocated(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

std::uint64_t backing_length(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_size);
}

std::uint64_t slot_at(const std::string& path, std::uint64_t index) {
  auto h = format::read_header(open_rw(path).get()).value();
  return h.encoded_size() + index * format::record_size(h.algorithm, h.chunk_size());
}

std::uint64_t slot_size(Algorithm alg, std::uint32_t chunk = kC) { return format::record_size(alg, chunk); }

std::vector<std::uint8_t> bytes_at(const std::string& path, std::uint64_t off, std::size_t n) {
  std::vector<std::uint8_t> b(n);
  auto fd = open_rw(path);
  REQUIRE(::pread(fd.get(), b.data(), n, static_cast<off_t>(off)) == static_cast<ssize_t>(n));
  return b;
}

void put_bytes(const std::string& path, std::uint64_t off, const std::vector<std::uint8_t>& b) {
  auto fd = open_rw(path);
  REQUIRE(::pwrite(fd.get(), b.data(), b.size(), static_cast<off_t>(off)) == static_cast<ssize_t>(b.size()));
}

void zero_slot(const std::string& path, Algorithm alg, std::uint64_t index) {
  put_bytes(path, slot_at(path, index), std::vector<std::uint8_t>(slot_size(alg), 0));
}

std::vector<std::uint8_t> read_range(EncryptedFile& f, std::uint64_t off, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  auto got = f.read(off, out);
  if (!got) FAIL("read at " << off << ": " << got.error().message);
  out.resize(*got);
  return out;
}

bool zeros(const std::vector<std::uint8_t>& v) {
  return std::all_of(v.begin(), v.end(), [](std::uint8_t b) { return b == 0; });
}

// The same operations on a plain file: what the encrypted file must read as.
class Mirror {
 public:
  explicit Mirror(const std::string& path) : fd_(open_rw(path, true)) {}
  void write(std::uint64_t off, const std::vector<std::uint8_t>& d) {
    REQUIRE(::pwrite(fd_.get(), d.data(), d.size(), static_cast<off_t>(off)) == static_cast<ssize_t>(d.size()));
  }
  void truncate(std::uint64_t n) { REQUIRE(::ftruncate(fd_.get(), static_cast<off_t>(n)) == 0); }
  std::vector<std::uint8_t> contents() const {
    struct stat st {};
    REQUIRE(::fstat(fd_.get(), &st) == 0);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(st.st_size));
    REQUIRE(::pread(fd_.get(), out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
    return out;
  }

 private:
  sys::UniqueFd fd_;
};

// Every byte through the open file, through a fresh open, and verify_file.
void check_matches(EncryptedFile& f, const std::string& path, const Mirror& mirror) {
  const auto want = mirror.contents();
  REQUIRE(f.size() == want.size());
  CHECK(read_range(f, 0, want.size()) == want);
  REQUIRE(f.flush());
  auto fresh = decrypt_file(path);
  if (!fresh) FAIL("reopened: " << fresh.error().message);
  CHECK(*fresh == want);
  auto fd = open_rw(path);
  auto v = format::verify_file(fd.get(), resolver());
  if (!v) FAIL("verify: " << v.error().message);
}

// Data chunks 0-2, a hole 3..9 (marker 9), data 10-11, a hole of one chunk
// (marker 12), and the last chunk 13 (500 bytes).
std::vector<std::uint8_t> make_holey(const std::string& path, Algorithm alg, std::uint64_t seed) {
  auto fd = open_rw(path, true);
  auto f = EncryptedFile::create(fd.get(), key_spec(alg), kC).value();
  std::vector<std::uint8_t> plain(13 * kC + 500, 0);
  auto put = [&](std::uint64_t off, std::size_t n) {
    auto d = pseudo_random(n, seed++);
    REQUIRE(f->write(off, d));
    std::copy(d.begin(), d.end(), plain.begin() + static_cast<std::ptrdiff_t>(off));
  };
  put(0, 3 * kC);
  put(10 * kC, 2 * kC);
  put(13 * kC, 500);
  REQUIRE(f->seal());
  return plain;
}

}  // namespace

TEST_CASE("growing to 100 GiB and writing at 1 TiB allocate almost nothing and read zeros", "[holes]") {
  for (Algorithm alg : kAlgorithms) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    const std::string path = dir.file("big");
    const auto head = pseudo_random(3000, 1);
    constexpr std::uint64_t big = std::uint64_t{100} << 30;
    {
      auto fd = open_rw(path, true);
      auto f = EncryptedFile::create(fd.get(), key_spec(alg)).value();
      REQUIRE(f->write(0, head));
      REQUIRE(f->truncate(big));
      CHECK(f->size() == big);
      CHECK(allocated(path) < (std::uint64_t{1} << 20));
      CHECK(read_range(*f, 0, 3000) == head);
      CHECK(zeros(read_range(*f, 3000, 2 * C)));
      CHECK(zeros(read_range(*f, big / 2 - 10, 3 * C)));
      CHECK(zeros(read_range(*f, big - 100, 200)));
      REQUIRE(f->seal());
    }
    CHECK(allocated(path) < (std::uint64_t{1} << 20));
    auto hdr = format::read_header(open_rw(path).get()).value();
    CHECK(hdr.format_version == 2);
    CHECK(backing_length(path) == EncryptedFile::backing_size(hdr, big, true));
    {
      auto fd = open_rw(path);
      auto f = EncryptedFile::open(fd.get(), resolver()).value();
      CHECK(f->state() == format::FileState::sealed);
      CHECK(f->size() == big);
      CHECK(read_range(*f, 0, 3000) == head);
      CHECK(zeros(read_range(*f, big / 3, 2 * C + 1)));
      CHECK(f->hole_end(C + 5).value() == big - C);  // chunks 1 .. n-2 are one run
      CHECK(f->hole_end(10).value() == 10);          // chunk 0 holds data
      auto v = f->verify();
      REQUIRE(v);
      CHECK(v->holes == 1);
      CHECK(v->hole_chunks == big / C - 2);
      // One byte a terabyte further: still nothing allocated in between.
      constexpr std::uint64_t tera = std::uint64_t{1} << 40;
      const std::uint8_t one = 0x5a;
      REQUIRE(f->write(tera, std::span(&one, 1)));
      REQUIRE(f->seal());
      CHECK(f->size() == tera + 1);
      CHECK(allocated(path) < (std::uint64_t{1} << 20));
      CHECK(read_range(*f, tera - 5, 10) == std::vector<std::uint8_t>{0, 0, 0, 0, 0, one});
    }
    auto fd = open_rw(path);
    auto f = EncryptedFile::open(fd.get(), resolver()).value();
    CHECK(f->size() == (std::uint64_t{1} << 40) + 1);
    CHECK(read_range(*f, 0, 3000) == head);
    auto v = f->verify();
    REQUIRE(v);
    CHECK(v->holes == 2);
  }
}

TEST_CASE("writes into a hole (its first, middle and last chunk, its marker) match a plain file", "[holes]") {
  for (Algorithm alg : kAlgorithms) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    const std::string path = dir.file("f");
    Mirror mirror(dir.file("plain"));
    auto fd = open_rw(path, true);
    auto f = EncryptedFile::create(fd.get(), key_spec(alg), kC).value();
    std::uint64_t seed = 100;
    auto write = [&](std::uint64_t off, std::size_t n) {
      INFO("write " << n << " at " << off);
      auto d = pseudo_random(n, seed++);
      REQUIRE(f->write(off, d));
      mirror.write(off, d);
      check_matches(*f, path, mirror);
    };
    auto holes = [&] {
      auto v = format::verify_file(open_rw(path).get(), resolver());
      REQUIRE(v);
      return std::pair(v->holes, v->hole_chunks);
    };
    write(0, 100);
    REQUIRE(f->truncate(64 * kC + 10));  // hole 1..62, marker 63, last chunk 64
    mirror.truncate(64 * kC + 10);
    check_matches(*f, path, mirror);
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(1, 63));
    CHECK(allocated(path) < 16 * slot_size(alg));

    write(1 * kC, kC);  // the run's first chunk: the run becomes 2..63
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(1, 62));
    write(30 * kC + 7, 100);  // the middle, part of a chunk: 2..29 and 31..63
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(2, 61));
    write(63 * kC, kC);  // the marker's own chunk: 31..62
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(2, 60));
    write(62 * kC + 4000, 200);  // across the run's new last chunk (its marker) and the data after it
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(2, 59));
    write(40 * kC + 1, 3 * kC);  // several chunks at once: 31..39 and 44..61
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(3, 55));
    write(29 * kC, kC);      // a whole chunk at the end of 2..29: 2..28
    write(28 * kC + 5, 10);  // the marker of a run, part of it: 2..27
    write(27 * kC, 2 * kC + 3);
    write(2 * kC, 26 * kC);  // a whole run, marker included
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(2, 27));
    write(70 * kC + 3, 1);  // past the end: the old tail completed, 65..69 a hole
    CHECK(holes() == std::pair<std::uint64_t, std::uint64_t>(3, 32));
    REQUIRE(f->seal());
    f.reset();
    CHECK(decrypt_file(path).value() == mirror.contents());
  }
}

TEST_CASE("truncating down into a hole keeps the rest of the run a hole", "[holes]") {
  for (Algorithm alg : kAlgorithms) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    const std::string path = dir.file("f");
    Mirror mirror(dir.file("plain"));
    auto fd = open_rw(path, true);
    auto f = EncryptedFile::create(fd.get(), key_spec(alg), kC).value();
    const auto data = pseudo_random(700, 1);
    REQUIRE(f->write(0, data));
    mirror.write(0, data);
    REQUIRE(f->truncate(64 * kC + 10));  // run 1..63
    const struct Step {
      std::uint64_t size, holes, hole_chunks;
    } steps[] = {
        {30 * kC + 100, 1, 29},  // last chunk 30 in the run: 1..29 keep a marker at 29
        {20 * kC, 1, 18},        // on a chunk boundary: the last chunk 19 is whole zeros, 1..18
        {18 * kC + 1, 1, 17},    // into the marker's own chunk
        {kC + 5, 0, 0},          // the run's first chunk: no hole left
        {9 * kC, 1, 6},          // and up again: the old last chunk 1 completed, 2..7, last chunk 8
        {500, 0, 0},             // into the first chunk
    };
    for (const auto& s : steps) {
      INFO("truncate to " << s.size);
      REQUIRE(f->truncate(s.size));
      mirror.truncate(s.size);
      check_matches(*f, path, mirror);
      auto v = format::verify_file(open_rw(path).get(), resolver());
      REQUIRE(v);
      CHECK(v->holes == s.holes);
      CHECK(v->hole_chunks == s.hole_chunks);
    }
    REQUIRE(f->seal());
    f.reset();
    CHECK(decrypt_file(path).value() == mirror.contents());
  }
}

TEST_CASE("random writes far past the end, truncates and reopens match a plain file", "[holes][property]") {
  const std::uint64_t seed = Catch::rngSeed() != 0 ? Catch::rngSeed() : 20261202;
  INFO("seed " << seed << " (rerun with --rng-seed " << seed << ")");
  for (Algorithm alg : kAlgorithms) {
    TempDir dir;
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(alg));
    auto pick = [&](std::uint64_t n) { return n == 0 ? 0 : rng() % n; };
    const std::string path = dir.file("f");
    Mirror mirror(dir.file("plain"));
    auto fd = open_rw(path, true);
    auto f = EncryptedFile::create(fd.get(), key_spec(alg), kC).value();
    std::uint64_t size = 0;
    for (int step = 0; step < 400; ++step) {
      INFO(format::algorithm_name(alg) << " step " << step << " size " << size);
      switch (pick(6)) {
        case 0:
        case 1: {  // anywhere, often far past the end
          const std::uint64_t off = pick(size + 40 * kC);
          auto d = pseudo_random(pick(3 * kC) + 1, rng());
          REQUIRE(f->write(off, d));
          mirror.write(off, d);
          size = std::max<std::uint64_t>(size, off + d.size());
          break;
        }
        case 2: {
          const std::uint64_t to = pick(size + 40 * kC);
          REQUIRE(f->truncate(to));
          mirror.truncate(to);
          size = to;
          break;
        }
        case 3: {
          const std::uint64_t off = pick(size + 1);
          const std::size_t n = static_cast<std::size_t>(pick(4 * kC) + 1);
          const auto want = mirror.contents();
          const auto from = want.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(off, want.size()));
          const std::size_t expect = off >= want.size() ? 0 : std::min<std::size_t>(n, want.size() - off);
          CHECK(read_range(*f, off, n) == std::vector<std::uint8_t>(from, from + static_cast<std::ptrdiff_t>(expect)));
          break;
        }
        case 4:  // close, sealed or not, and reopen
          REQUIRE((pick(2) == 0 ? f->seal() : f->flush()));
          f.reset();
          f = EncryptedFile::open(fd.get(), resolver()).value();
          REQUIRE(f->size() == size);
          break;
        case 5:
          check_matches(*f, path, mirror);
          break;
      }
    }
    REQUIRE(f->seal());
    check_matches(*f, path, mirror);
    // Holes cost no blocks: the file holds at most its data chunks' records.
    CHECK(allocated(path) <= backing_length(path) + 64 * 1024);
  }
}

TEST_CASE("zeroed, punched or swapped records next to holes are tampered, never zeros", "[holes][detect]") {
  for (Algorithm alg : kAlgorithms) {
    TempDir dir;
    const std::string path = dir.file("f"), other = dir.file("other");
    make_holey(path, alg, 1);
    make_holey(other, alg, 50);
    const auto pristine = read_all(path);
    const std::uint64_t r = slot_size(alg);
    struct Attack {
      const char* what;
      std::uint64_t chunk;  // a chunk whose read must fail
      std::function<void()> apply;
    };
    const Attack attacks[] = {
        {"data chunk before a hole zeroed", 2, [&] { zero_slot(path, alg, 2); }},
        {"data chunk after a hole zeroed", 10, [&] { zero_slot(path, alg, 10); }},
        {"data chunk in the middle zeroed", 1, [&] { zero_slot(path, alg, 1); }},
        {"marker zeroed", 5, [&] { zero_slot(path, alg, 9); }},
        {"one-chunk hole's marker zeroed", 12, [&] { zero_slot(path, alg, 12); }},
        {"marker from another file", 5,
         [&] { put_bytes(path, slot_at(path, 9), bytes_at(other, slot_at(other, 9), r)); }},
        {"marker from another index", 5,
         [&] { put_bytes(path, slot_at(path, 9), bytes_at(path, slot_at(path, 12), r)); }},
        {"marker moved to the start of its run", 3,
         [&] {
           put_bytes(path, slot_at(path, 3), bytes_at(path, slot_at(path, 9), r));
           zero_slot(path, alg, 9);
         }},
        {"a byte after the marker in its slot", 9, [&] { put_bytes(path, slot_at(path, 9) + 100, {1}); }},
        {"everything from the hole to the last chunk zeroed", 4,
         [&] {
           put_bytes(path, slot_at(path, 3), std::vector<std::uint8_t>(slot_at(path, 13) - slot_at(path, 3), 0));
         }},
        {"a whole data record punched out", 11,
         [&] {
           auto fd = open_rw(path);
           if (::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(slot_at(path, 11)),
                           static_cast<off_t>(r)) != 0) {
             WARN("no hole punching here: zeroing instead");
             zero_slot(path, alg, 11);
           }
         }},
        {"a data record punched in part", 0,
         [&] {
           auto fd = open_rw(path);
           const auto at = static_cast<off_t>(slot_at(path, 0) + 1000);
           if (::fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, 4096) != 0) {
             put_bytes(path, slot_at(path, 0) + 1000, std::vector<std::uint8_t>(4096, 0));
           }
         }},
    };
    for (const auto& a : attacks) {
      INFO(format::algorithm_name(alg) << ": " << a.what);
      write_all(path, pristine);
      a.apply();
      auto whole = decrypt_file(path);
      REQUIRE_FALSE(whole.ok());
      CHECK(whole.error().code == Errc::tampered);
      auto v = format::verify_file(open_rw(path).get(), resolver());
      REQUIRE_FALSE(v.ok());
      CHECK(v.error().code == Errc::tampered);
      auto fd = open_rw(path);
      auto f = EncryptedFile::open(fd.get(), resolver());
      REQUIRE(f);  // the last chunk is intact: the damage shows where it is read
      std::vector<std::uint8_t> chunk(kC);
      auto one = (*f)->read(a.chunk * kC, chunk);
      REQUIRE_FALSE(one.ok());
      CHECK(one.error().code == Errc::tampered);
      auto ahead = (*f)->hole_end(a.chunk * kC);
      CHECK_FALSE(ahead.ok());
    }
    write_all(path, pristine);
    auto v = format::verify_file(open_rw(path).get(), resolver());
    REQUIRE(v);
    CHECK(v->holes == 2);
    CHECK(v->hole_chunks == 8);
  }
}

TEST_CASE("a crash while growing or filling a hole leaves a readable file", "[holes][crash]") {
  for (Algorithm alg : kAlgorithms) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    const std::string path = dir.file("f");
    const auto data = pseudo_random(5000, 3);  // chunk 0 and 904 bytes of chunk 1
    auto expect_old_size = [&] {
      // Opened as before the growth, the old last chunk completed with zeros.
      auto fd = open_rw(path);
      auto f = EncryptedFile::open(fd.get(), resolver()).value();
      CHECK(f->state() == format::FileState::open);
      CHECK(f->torn_tail());
      REQUIRE(f->size() == 2 * kC);
      auto got = read_range(*f, 0, 2 * kC);
      CHECK(std::equal(data.begin(), data.end(), got.begin()));
      CHECK(zeros(std::vector<std::uint8_t>(got.begin() + 5000, got.end())));
      REQUIRE(f->verify());
      // Writing on finishes the job.
      const auto more = pseudo_random(100, 4);
      REQUIRE(f->write(40 * kC, more));
      REQUIRE(f->seal());
      CHECK(read_range(*f, 40 * kC, 100) == more);
      CHECK(zeros(read_range(*f, 2 * kC, 38 * kC)));
    };
    // Grown to 50 chunks (chunk 1 completed, a hole 2..48 with its marker at
    // 48, the last chunk 49), then cut back to what a crash leaves.
    auto grow = [&] {
      auto fd = open_rw(path, true);
      auto f = EncryptedFile::create(fd.get(), key_spec(alg), kC).value();
      REQUIRE(f->write(0, data));
      REQUIRE(f->truncate(50 * kC));
    };
    auto cut = [&](std::uint64_t length) { REQUIRE(::truncate(path.c_str(), static_cast<off_t>(length)) == 0); };
    SECTION("the process dies after writing the marker") {
      grow();
      cut(slot_at(path, 48) + format::record_size(alg, 8));
      expect_old_size();
    }
    SECTION("the marker's slot is whole, nothing after it") {
      grow();
      cut(slot_at(path, 49));
      expect_old_size();
    }
    SECTION("the process dies while writing the new last chunk") {
      grow();
      cut(slot_at(path, 49) + 100);
      expect_old_size();
    }
    SECTION("a power loss left the new last chunk's blocks unwritten (zeros)") {
      grow();
      put_bytes(path, slot_at(path, 49), std::vector<std::uint8_t>(backing_length(path) - slot_at(path, 49), 0));
      expect_old_size();
    }
    SECTION("between the steps of a write into a hole") {
      // A = chunk 0, a hole 1..9 (marker 9), chunk 10; B = A with chunk 5
      // written: marker 4 (run 1..4), chunk 5, marker 9 rewritten (run 6..9).
      std::vector<std::uint8_t> plain(10 * kC + 10, 0);
      {
        auto fd = open_rw(path, true);
        auto f = EncryptedFile::create(fd.get(), key_spec(alg), kC).value();
        const auto a = pseudo_random(kC, 5), b = pseudo_random(10, 6);
        REQUIRE(f->write(0, a));
        REQUIRE(f->write(10 * kC, b));
        REQUIRE(f->flush());
        std::copy(a.begin(), a.end(), plain.begin());
        std::copy(b.begin(), b.end(), plain.begin() + 10 * kC);
      }
      const auto file_a = read_all(path), plain_a = plain;
      const auto five = pseudo_random(kC, 7);
      {
        auto fd = open_rw(path);
        auto f = EncryptedFile::open(fd.get(), resolver()).value();
        REQUIRE(f->write(5 * kC, five));
      }
      std::copy(five.begin(), five.end(), plain.begin() + 5 * kC);
      const auto file_b = read_all(path);
      auto state = [&](std::initializer_list<std::uint64_t> from_b) {
        auto s = file_a;
        for (auto i : from_b) {
          const auto at = static_cast<std::ptrdiff_t>(slot_at(path, i));
          const auto n = static_cast<std::ptrdiff_t>(slot_size(alg));
          std::copy(file_b.begin() + at, file_b.begin() + at + n, s.begin() + at);
        }
        write_all(path, s);
      };
      state({4});  // after the first marker
      CHECK(decrypt_file(path).value() == plain_a);
      state({4, 5});  // after the record, before the second marker
      CHECK(decrypt_file(path).value() == plain);
      // The old marker still says the run starts at 1, a bound only: in this
      // window zeroing chunk 5 is not detected (§5.4); once the write ends it is.
      zero_slot(path, alg, 5);
      CHECK(decrypt_file(path).value() == [&] {
        auto p = plain;
        std::fill_n(p.begin() + 5 * kC, kC, 0);
        return p;
      }());
      state({4, 5});
      // Writing on after such a crash must not put a marker over chunk 5,
      // which that bound says is part of the run.
      {
        auto fd = open_rw(path);
        auto f = EncryptedFile::open(fd.get(), resolver()).value();
        const auto six = pseudo_random(kC, 8);
        REQUIRE(f->write(6 * kC, six));
        std::copy(six.begin(), six.end(), plain.begin() + 6 * kC);
        REQUIRE(f->seal());
      }
      CHECK(decrypt_file(path).value() == plain);
      write_all(path, file_b);
      zero_slot(path, alg, 5);
      CHECK(decrypt_file(path).error().code == Errc::tampered);
    }
  }
}

TEST_CASE("sizes past what off_t holds are EFBIG and change nothing", "[holes][limits]") {
  for (Algorithm alg : kAlgorithms) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    const std::string path = dir.file("f");
    const auto data = pseudo_random(5000, 1);
    make_file(path, alg, data, false, kC);
    const auto before = read_all(path);
    auto fd = open_rw(path);
    auto f = EncryptedFile::open(fd.get(), resolver()).value();
    const std::uint8_t one = 1;
    const struct {
      const char* what;
      std::function<Status()> op;
    } ops[] = {
        {"truncate to the largest off_t", [&] { return f->truncate(static_cast<std::uint64_t>(LLONG_MAX)); }},
        {"truncate to 2^64-1", [&] { return f->truncate(~std::uint64_t{0}); }},
        {"write near the largest off_t",
         [&] { return f->write(static_cast<std::uint64_t>(LLONG_MAX) - 10, std::span(&one, 1)); }},
        {"write whose end overflows", [&] { return f->write(~std::uint64_t{0}, std::span(&one, 1)); }},
    };
    for (const auto& o : ops) {
      INFO(o.what);
      auto st = o.op();
      REQUIRE_FALSE(st);
      CHECK(st.error().to_errno() == EFBIG);
      CHECK(f->size() == data.size());
      CHECK(read_all(path) == before);
    }
    CHECK(read_range(*f, 0, data.size()) == data);
  }
}

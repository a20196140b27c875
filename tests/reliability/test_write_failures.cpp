// EncryptedFile when the backing file system refuses a write (ENOSPC,
// EFBIG): the error is returned, and the file stays consistent, so a later
// seal produces a file that opens and reads back what did land.
// RLIMIT_FSIZE makes a write fail at an exact offset without a full disk.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>

#include "../format/format_fixture.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

// RLIMIT_FSIZE lowered for the scope (SIGXFSZ ignored, so writes get EFBIG).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uint64_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    prev_ = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim {
      bytes, old_.rlim_max
    };
    ::setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, prev_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  struct rlimit old_ {};
  sighandler_t prev_ = nullptr;
};

}  // namespace

TEST_CASE("a multi-chunk write that fails half-way leaves a sealable file", "[write-failure]") {
  for (auto alg : {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac}) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    const std::string path = dir.file("f");
    auto fd = open_rw(path, true);
    constexpr std::uint32_t c = 4096;
    auto f = format::EncryptedFile::create(fd.get(), key_spec(alg), c).value();
    const auto first = pseudo_random(c, 1);
    REQUIRE(f->write(0, first));  // a full tail, still in memory
    const std::uint64_t limit = f->header().encoded_size() + format::record_size(alg, c);
    {
      FileSizeLimit lim(limit);  // record 0 fits, record 1 does not
      auto st = f->write(c, pseudo_random(3 * c, 2));
      REQUIRE_FALSE(st);
      CHECK(st.error().to_errno() == EFBIG);
    }
    CHECK(f->size() == c);
    std::vector<std::uint8_t> back(c);
    REQUIRE(f->read(0, back).value() == c);
    CHECK(back == first);
    REQUIRE(f->seal());
    f.reset();

    auto g = format::EncryptedFile::open(fd.get(), resolver());
    REQUIRE(g);
    CHECK((*g)->state() == format::FileState::sealed);
    CHECK((*g)->size() == c);
    REQUIRE((*g)->read(0, back).value() == c);
    CHECK(back == first);
  }
}

TEST_CASE("a failed tail flush keeps the data buffered for the next try", "[write-failure]") {
  TempDir dir;
  auto fd = open_rw(dir.file("f"), true);
  auto f = format::EncryptedFile::create(fd.get(), key_spec(format::Algorithm::aes256_gcm), 4096).value();
  const auto data = pseudo_random(1000, 3);
  REQUIRE(f->write(0, data));
  {
    FileSizeLimit lim(f->header().encoded_size() + 10);
    auto st = f->flush();
    REQUIRE_FALSE(st);
    CHECK(st.error().to_errno() == EFBIG);
    CHECK(f->dirty());
    auto sealed = f->seal();
    CHECK_FALSE(sealed);
  }
  REQUIRE(f->seal());
  f.reset();
  auto g = format::EncryptedFile::open(fd.get(), resolver()).value();
  CHECK(g->state() == format::FileState::sealed);
  std::vector<std::uint8_t> back(1000);
  REQUIRE(g->read(0, back).value() == 1000);
  CHECK(back == data);
}

TEST_CASE("a growth refused half-way (EFBIG at the hole marker) puts the old size back", "[write-failure][holes]") {
  for (auto alg : {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac}) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    auto fd = open_rw(dir.file("f"), true);
    constexpr std::uint32_t c = 4096;
    auto f = format::EncryptedFile::create(fd.get(), key_spec(alg), c).value();
    const auto data = pseudo_random(5000, 4);  // chunk 0 and a short chunk 1
    REQUIRE(f->write(0, data));
    REQUIRE(f->flush());
    const std::uint64_t length = sys::file_size(fd.get()).value();
    // Chunk 1 can be completed to a full record; the marker at chunk 98 and
    // the new last chunk cannot be written.
    const std::uint64_t limit = f->header().encoded_size() + 2 * format::record_size(alg, c);
    for (int how = 0; how < 2; ++how) {
      INFO((how == 0 ? "truncate" : "write") << " far past the end");
      {
        FileSizeLimit lim(limit);
        const std::uint8_t one = 1;
        auto st = how == 0 ? f->truncate(100 * c) : f->write(100 * c, std::span(&one, 1));
        REQUIRE_FALSE(st);
        CHECK(st.error().to_errno() == EFBIG);
      }
      CHECK(f->size() == data.size());
      CHECK(sys::file_size(fd.get()).value() == length);
      std::vector<std::uint8_t> back(data.size());
      REQUIRE(f->read(0, back).value() == data.size());
      CHECK(back == data);
    }
    REQUIRE(f->seal());
    f.reset();
    auto g = format::EncryptedFile::open(fd.get(), resolver()).value();
    CHECK(g->size() == data.size());
    std::vector<std::uint8_t> back(data.size());
    REQUIRE(g->read(0, back).value() == data.size());
    CHECK(back == data);
  }
}

TEST_CASE("a write into a hole cut short leaves the hole, which still reads as zeros", "[write-failure][holes]") {
  // The disk fills while a chunk inside a hole is written (ENOSPC as the
  // file system allocates the slot): the slot must not keep the bytes that
  // landed, which are neither zeros nor a record and would make the chunk
  // (and its run) fail authentication for every later reader.
  for (auto alg : {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac}) {
    for (int step = 0; step < 2; ++step) {
      // step 0: the record itself is cut short; step 1: the marker written
      // before it (the run's chunks before the new record get their own).
      INFO(format::algorithm_name(alg) << (step == 0 ? ", the record" : ", the marker before it"));
      TempDir dir;
      auto fd = open_rw(dir.file("f"), true);
      constexpr std::uint32_t c = 4096;
      auto f = format::EncryptedFile::create(fd.get(), key_spec(alg), c).value();
      const auto first = pseudo_random(c, 5);
      const std::uint8_t one = 7;
      REQUIRE(f->write(0, first));
      REQUIRE(f->write(10 * c, std::span(&one, 1)));  // chunks 1..9: a hole
      REQUIRE(f->flush());
      const std::uint64_t rs = format::record_size(alg, c);
      const std::uint64_t slot = f->header().encoded_size() + (step == 0 ? 3 : 2) * rs;
      {
        FileSizeLimit lim(slot + 20);  // 20 bytes of the slot land
        auto st = f->write(3 * c, pseudo_random(c, 6));
        REQUIRE_FALSE(st);
        CHECK(st.error().to_errno() == EFBIG);
      }
      CHECK(f->size() == 10 * c + 1);
      std::vector<std::uint8_t> back(10 * c + 1);
      auto n = f->read(0, back);
      INFO((n ? std::string() : n.error().message));
      REQUIRE(n);
      std::vector<std::uint8_t> want(10 * c + 1, 0);
      std::copy(first.begin(), first.end(), want.begin());
      want[10 * c] = one;
      CHECK(back == want);
      REQUIRE(f->seal());
      f.reset();
      auto g = format::EncryptedFile::open(fd.get(), resolver());
      REQUIRE(g);
      std::fill(back.begin(), back.end(), 0xff);
      REQUIRE((*g)->read(0, back).value() == back.size());
      CHECK(back == want);
      CHECK((*g)->verify());
    }
  }
}

TEST_CASE("a one-record seal cut short leaves a file that opens", "[write-failure]") {
  // A recording of one chunk is sealed with one write of header and record
  // (EncryptedFile::seal_single_record). Cut short, that write may have put
  // the sealed header on disk before a torn record: the header must go back
  // to "open", or the file would no longer open at all.
  for (auto alg : {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac}) {
    INFO(format::algorithm_name(alg));
    TempDir dir;
    auto fd = open_rw(dir.file("f"), true);
    auto f = format::EncryptedFile::create(fd.get(), key_spec(alg), 4096).value();
    const auto data = pseudo_random(3000, 8);
    REQUIRE(f->write(0, std::span(data).first(1000)));
    REQUIRE(f->flush());
    REQUIRE(f->write(1000, std::span(data).subspan(1000)));
    {
      FileSizeLimit lim(f->header().encoded_size() + format::record_size(alg, 1000) + 10);
      auto st = f->seal();
      REQUIRE_FALSE(st);
      CHECK(st.error().to_errno() == EFBIG);
    }
    {
      // What a reader (or the daemon after a crash) finds now: an
      // unterminated file, its torn last record dropped.
      auto other = open_rw(dir.file("f"));
      auto g = format::EncryptedFile::open(other.get(), resolver());
      INFO((g ? std::string() : g.error().message));
      REQUIRE(g);
      CHECK((*g)->state() == format::FileState::open);
    }
    REQUIRE(f->seal());
    f.reset();
    auto g = format::EncryptedFile::open(fd.get(), resolver()).value();
    CHECK(g->state() == format::FileState::sealed);
    std::vector<std::uint8_t> back(3000);
    REQUIRE(g->read(0, back).value() == 3000);
    CHECK(back == data);
  }
}

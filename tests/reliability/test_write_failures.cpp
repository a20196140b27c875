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

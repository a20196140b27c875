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
    struct rlimit lim {bytes, old_.rlim_max};
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

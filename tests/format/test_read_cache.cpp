// Reads smaller than a chunk are served from one cached, already
// authenticated chunk; every change to that chunk must be visible.
#include <catch2/catch.hpp>

#include "format_fixture.hpp"

using namespace recvault;
using namespace recvault::test;
using format::Algorithm;

namespace {

std::vector<std::uint8_t> read_in_pieces(format::EncryptedFile& f, std::uint64_t off, std::size_t n,
                                         std::size_t piece) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t done = 0; done < n; done += piece) {
    auto got = f.read(off + done, std::span(out).subspan(done, std::min(piece, n - done)));
    REQUIRE(got.ok());
  }
  return out;
}
}  // namespace

TEST_CASE("small reads see writes, truncation and extension of a cached chunk", "[format][cache]") {
  TempDir dir;
  for (Algorithm alg : {Algorithm::aes256_gcm, Algorithm::aes256_cbc_hmac}) {
    auto model = pseudo_random(3 * C + 100, 31);
    auto fd = open_rw(dir.file("f"), true);
    auto f = format::EncryptedFile::create(fd.get(), key_spec(alg)).value();
    REQUIRE(f->write(0, model).ok());
    REQUIRE(f->flush().ok());

    // Chunk 1 is cached by the first 16 KiB read.
    CHECK(read_in_pieces(*f, C, C, 16384) == std::vector(model.begin() + C, model.begin() + 2 * C));
    // A write into the cached chunk.
    const auto patch = pseudo_random(5000, 32);
    REQUIRE(f->write(C + 1000, patch).ok());
    std::copy(patch.begin(), patch.end(), model.begin() + C + 1000);
    CHECK(read_in_pieces(*f, C, C, 16384) == std::vector(model.begin() + C, model.begin() + 2 * C));
    // A write spanning chunks 0..1 while chunk 0 is cached.
    CHECK(read_in_pieces(*f, 0, 100, 10) == std::vector(model.begin(), model.begin() + 100));
    const auto span = pseudo_random(C, 33);
    REQUIRE(f->write(C / 2, span).ok());
    std::copy(span.begin(), span.end(), model.begin() + C / 2);
    CHECK(read_in_pieces(*f, 0, 2 * C, 4096) == std::vector(model.begin(), model.begin() + 2 * C));
    // Truncate into the cached chunk, then extend with zeros.
    CHECK(read_in_pieces(*f, C, 10, 10) == std::vector(model.begin() + C, model.begin() + C + 10));
    REQUIRE(f->truncate(C + 10).ok());
    REQUIRE(f->truncate(3 * C).ok());
    model.resize(C + 10);
    model.resize(3 * C, 0);
    CHECK(read_in_pieces(*f, 0, 3 * C, 16384) == model);
    REQUIRE(f->seal().ok());
    f.reset();
    CHECK(decrypt_file(dir.file("f")).value() == model);
  }
}

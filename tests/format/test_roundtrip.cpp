// Round trips and the random-operation property test of EncryptedFile.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "format_fixture.hpp"
#include "recvault/util/encoding.hpp"

using namespace recvault;
using namespace recvault::test;
using format::Algorithm;
using format::EncryptedFile;

TEST_CASE("round trip at the sizes around chunk boundaries", "[roundtrip]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, C - 1, C, C + 1, 2 * C, std::size_t{3 * 1024 * 1024 + 17}}) {
      INFO(format::algorithm_name(alg) << " size " << size);
      auto data = pseudo_random(size, size);
      std::string path = dir.file("rt");
      make_file(path, alg, data);
      auto back = decrypt_file(path);
      REQUIRE(back.ok());
      CHECK(*back == data);

      struct stat st {};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      auto hdr = format::read_header(open_rw(path).get()).value();
      CHECK(static_cast<std::uint64_t>(st.st_size) == EncryptedFile::backing_size(hdr, size, true));
      if (alg == Algorithm::aes256_gcm) {
        CHECK(EncryptedFile::plaintext_size_hint(hdr, static_cast<std::uint64_t>(st.st_size)) == size);
      }
      CHECK(hdr.sealed);
      // No plaintext run survives in the backing file.
      if (size >= 64) {
        auto raw = read_all(path);
        auto it = std::search(raw.begin(), raw.end(), data.begin(), data.begin() + 64);
        CHECK(it == raw.end());
      }
    }
  }
}

TEST_CASE("a large single write and a write pattern of 320-byte frames", "[roundtrip]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    auto data = pseudo_random(C * 5 + 1234, 7);
    make_file(dir.file("big"), alg, data, true, format::kDefaultChunkSize, data.size());
    CHECK(decrypt_file(dir.file("big")).value() == data);
    make_file(dir.file("frames"), alg, data, true, format::kDefaultChunkSize, 320);
    CHECK(decrypt_file(dir.file("frames")).value() == data);
  }
}

TEST_CASE("metadata is mirrored in xattrs and the header", "[roundtrip][xattr]") {
  TempDir dir;
  make_file(dir.file("f"), Algorithm::aes256_cbc_hmac, pseudo_random(100, 1), true, C, 100, 2);
  auto fd = open_rw(dir.file("f"));
  auto h = format::read_header(fd.get()).value();
  CHECK(h.key_version == 2);
  CHECK(h.salt == kSalt2);
  CHECK(h.algorithm == Algorithm::aes256_cbc_hmac);
  // One attribute holds them all (docs/FORMAT.md §6).
  CHECK(sys::get_xattr(fd.get(), format::xattr::meta).value() ==
        std::optional<std::string>("format=2\nalgorithm=AES-256-CBC\nkey_version=2\nkey_id=key_auto_testacct\nsalt=" +
                                   std::string(kSalt2) + "\nfile_id=" + hex_encode(h.file_id) + "\n"));
  CHECK(sys::list_xattrs(fd.get()).value() == std::vector<std::string>{format::xattr::meta});
  CHECK(format::marked_format(fd.get()).value() == std::optional<std::string>("2"));
}

TEST_CASE("a sealed file reopened for append stays consistent", "[roundtrip]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    for (std::size_t first : {std::size_t{0}, std::size_t{100}, C}) {
      INFO(format::algorithm_name(alg) << " first " << first);
      auto a = pseudo_random(first, 1), b = pseudo_random(C + 50, 2);
      std::string path = dir.file("append");
      make_file(path, alg, a);
      {
        auto fd = open_rw(path);
        auto f = EncryptedFile::open(fd.get(), resolver()).value();
        CHECK(f->state() == format::FileState::sealed);
        REQUIRE(f->write(f->size(), b).ok());
        REQUIRE(f->seal().ok());
      }
      auto want = a;
      want.insert(want.end(), b.begin(), b.end());
      CHECK(decrypt_file(path).value() == want);
    }
  }
}

TEST_CASE("random writes, truncates and reads match an in-memory reference", "[property]") {
  const std::uint64_t seed = Catch::rngSeed() != 0 ? Catch::rngSeed() : 20261123;
  INFO("seed " << seed << " (rerun with --rng-seed " << seed << ")");
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(alg));
    const std::uint32_t chunk = 4096;
    std::string path = dir.file("prop");
    auto fd = open_rw(path, true);
    auto file = EncryptedFile::create(fd.get(), key_spec(alg), chunk).value();
    std::vector<std::uint8_t> ref;
    auto pick = [&](std::uint64_t n) { return n == 0 ? 0 : rng() % n; };
    for (int step = 0; step < 3000; ++step) {
      INFO(format::algorithm_name(alg) << " step " << step << " size " << ref.size());
      switch (pick(10)) {
        case 0:
        case 1:
        case 2:
        case 3: {  // write, sometimes past the end
          std::uint64_t off = pick(ref.size() + 2 * chunk);
          auto data = pseudo_random(pick(3 * chunk) + 1, rng());
          REQUIRE(file->write(off, data).ok());
          if (ref.size() < off + data.size()) ref.resize(off + data.size(), 0);
          std::copy(data.begin(), data.end(), ref.begin() + static_cast<long>(off));
          break;
        }
        case 4: {  // truncate smaller or larger
          std::uint64_t to = pick(ref.size() + chunk + 1);
          REQUIRE(file->truncate(to).ok());
          ref.resize(to, 0);
          break;
        }
        case 5:
        case 6:
        case 7: {  // read a random range
          std::uint64_t off = pick(ref.size() + 10);
          std::vector<std::uint8_t> got(pick(2 * chunk) + 1);
          auto n = file->read(off, got);
          if (!n) FAIL("read at " << off << ": " << n.error().message);
          std::size_t want = off >= ref.size() ? 0 : std::min<std::size_t>(got.size(), ref.size() - off);
          REQUIRE(*n == want);
          REQUIRE(std::equal(got.begin(), got.begin() + static_cast<long>(want), ref.begin() + static_cast<long>(off)));
          break;
        }
        case 8:
          REQUIRE((pick(2) == 0 ? file->flush() : file->seal()).ok());
          break;
        case 9: {  // close and reopen, sealed or not
          if (pick(2) == 0)
            REQUIRE(file->seal().ok());
          else
            REQUIRE(file->flush().ok());
          file.reset();
          file = EncryptedFile::open(fd.get(), resolver()).value();
          REQUIRE(file->size() == ref.size());
          break;
        }
      }
      REQUIRE(file->size() == ref.size());
    }
    REQUIRE(file->seal().ok());
    file.reset();
    CHECK(decrypt_file(path).value() == ref);
  }
}

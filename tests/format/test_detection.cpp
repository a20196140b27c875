// Every way the backing file can be wrong is detected: never wrong plaintext.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>

#include <map>

#include "format_fixture.hpp"

using namespace recvault;
using namespace recvault::test;
using format::Algorithm;
using format::EncryptedFile;

namespace {

std::uint64_t header_len(const std::string& path) {
  return format::read_header(open_rw(path).get()).value().encoded_size();
}
std::uint64_t full_record(Algorithm a) { return format::record_size(a, C); }
std::uint64_t file_len(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return static_cast<std::uint64_t>(st.st_size);
}
std::string xattr_value(const std::string& path, const char* name) {
  char buf[2048];
  const ssize_t n = ::getxattr(path.c_str(), name, buf, sizeof buf);
  REQUIRE(n >= 0);
  return std::string(buf, static_cast<std::size_t>(n));
}
void truncate_file(const std::string& path, std::uint64_t len) {
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(len)) == 0);
}

std::vector<std::uint8_t> read_range(const std::string& path, std::uint64_t off, std::size_t n) {
  std::vector<std::uint8_t> b(n);
  auto fd = open_rw(path);
  REQUIRE(::pread(fd.get(), b.data(), n, static_cast<off_t>(off)) == static_cast<ssize_t>(n));
  return b;
}
void write_range(const std::string& path, std::uint64_t off, const std::vector<std::uint8_t>& b) {
  auto fd = open_rw(path);
  REQUIRE(::pwrite(fd.get(), b.data(), b.size(), static_cast<off_t>(off)) == static_cast<ssize_t>(b.size()));
}
}  // namespace

TEST_CASE("the wrong key is reported as such, without key material", "[detect]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    make_file(dir.file("f"), alg, pseudo_random(3000, 1));
    auto r = decrypt_file(dir.file("f"), resolver_always(2));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::wrong_key);
    CHECK(r.error().message.find(kKey2) == std::string::npos);
    CHECK(r.error().message.find(kKey1) == std::string::npos);
  }
}

TEST_CASE("a missing key version is key_unavailable", "[detect]") {
  TempDir dir;
  make_file(dir.file("f"), Algorithm::aes256_gcm, pseudo_random(10, 1));
  auto none = [](const format::Header&) -> Result<format::VersionKeyPtr> {
    return make_error(Errc::key_unavailable, "no key");
  };
  CHECK(decrypt_file(dir.file("f"), none).error().code == Errc::key_unavailable);
}

TEST_CASE("any flipped byte in the header is detected", "[detect][header]") {
  TempDir dir;
  std::string path = dir.file("f");
  auto data = pseudo_random(C + 10, 3);
  make_file(path, Algorithm::aes256_gcm, data);
  const auto pristine = read_all(path);
  const std::uint64_t h = header_len(path);
  for (std::uint64_t i = 0; i < h; ++i) {
    for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
      write_all(path, pristine);
      flip_byte(path, i, mask);
      INFO("header byte " << i << " mask " << int(mask));
      auto r = decrypt_file(path);
      CHECK_FALSE(r.ok());
    }
  }
}

TEST_CASE("flipped nonce, ciphertext or tag bytes in any chunk are detected", "[detect][chunk]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    std::string path = dir.file("f");
    make_file(path, alg, pseudo_random(2 * C + 500, 4));
    const auto pristine = read_all(path);
    const std::uint64_t h = header_len(path), r = full_record(alg);
    const std::uint64_t last_start = h + 2 * r, last_len = file_len(path) - last_start;
    struct Spot {
      const char* what;
      std::uint64_t off;
    };
    const Spot spots[] = {
        {"chunk 0 nonce", h + 3},
        {"chunk 0 ciphertext", h + 100},
        {"chunk 0 tag", h + r - 1},
        {"chunk 1 first byte", h + r},
        {"last chunk nonce", last_start + 1},
        {"last chunk ciphertext", last_start + 60},
        {"last chunk tag", last_start + last_len - 2},
    };
    for (const auto& s : spots) {
      write_all(path, pristine);
      flip_byte(path, s.off);
      INFO(format::algorithm_name(alg) << ": " << s.what);
      auto res = decrypt_file(path);
      REQUIRE_FALSE(res.ok());
      CHECK(res.error().code == Errc::tampered);
    }
  }
}

TEST_CASE("chunks swapped within a file are detected", "[detect][chunk]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    std::string path = dir.file("f");
    make_file(path, alg, pseudo_random(3 * C + 1, 5));
    const std::uint64_t h = header_len(path), r = full_record(alg);
    auto c0 = read_range(path, h, r), c1 = read_range(path, h + r, r);
    write_range(path, h, c1);
    write_range(path, h + r, c0);
    auto res = decrypt_file(path);
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == Errc::tampered);
  }
}

TEST_CASE("a chunk copied from another file with the same key is detected", "[detect][chunk]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    make_file(dir.file("a"), alg, pseudo_random(2 * C + 1, 6));
    make_file(dir.file("b"), alg, pseudo_random(2 * C + 1, 7));
    const std::uint64_t h = header_len(dir.file("a")), r = full_record(alg);
    REQUIRE(h == header_len(dir.file("b")));
    write_range(dir.file("a"), h + r, read_range(dir.file("b"), h + r, r));
    auto res = decrypt_file(dir.file("a"));
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().code == Errc::tampered);
  }
}

TEST_CASE("a sealed file cut at a chunk boundary is reported truncated", "[detect][truncate]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    std::string path = dir.file("f");
    make_file(path, alg, pseudo_random(3 * C, 8));
    const std::uint64_t h = header_len(path), r = full_record(alg);
    SECTION("one chunk cut") {
      truncate_file(path, h + 2 * r);
      CHECK(decrypt_file(path).error().code == Errc::truncated);
    }
    SECTION("all chunks cut") {
      truncate_file(path, h);
      CHECK(decrypt_file(path).error().code == Errc::truncated);
    }
    SECTION("cut inside a chunk") {
      truncate_file(path, h + 2 * r + 100);
      CHECK(decrypt_file(path).error().code == Errc::tampered);
    }
    SECTION("cut inside the header") {
      truncate_file(path, h - 5);
      CHECK_FALSE(decrypt_file(path).ok());
    }
  }
}

TEST_CASE("a trailing chunk appended to a sealed file is detected", "[detect]") {
  TempDir dir;
  std::string path = dir.file("f");
  make_file(path, Algorithm::aes256_gcm, pseudo_random(2 * C, 9));
  const std::uint64_t h = header_len(path), r = full_record(Algorithm::aes256_gcm);
  auto extra = read_range(path, h, r);  // a valid non-final record, replayed at the end
  write_range(path, h + 2 * r, extra);
  CHECK_FALSE(decrypt_file(path).ok());
}

TEST_CASE("xattrs: tampered is an error, missing falls back to the header", "[detect][xattr]") {
  TempDir dir;
  std::string path = dir.file("f");
  auto data = pseudo_random(500, 10);
  make_file(path, Algorithm::aes256_gcm, data);
  // New files carry the one attribute, nothing else.
  const std::string meta = xattr_value(path, format::xattr::meta);
  REQUIRE(meta.rfind("format=2\nalgorithm=AES-256-GCM\nkey_version=", 0) == 0);
  CHECK(::getxattr(path.c_str(), format::xattr::format, nullptr, 0) < 0);
  auto set = [&](const char* name, const std::string& v) {
    REQUIRE(::setxattr(path.c_str(), name, v.data(), v.size(), 0) == 0);
  };
  SECTION("tampered meta: another salt") {
    std::string bad = meta;
    bad.insert(bad.find("\nfile_id="), "x");
    set(format::xattr::meta, bad);
    CHECK(decrypt_file(path).error().code == Errc::metadata_mismatch);
  }
  SECTION("meta with a line added") {
    set(format::xattr::meta, meta + "sealed=1\n");
    CHECK(decrypt_file(path).error().code == Errc::metadata_mismatch);
  }
  SECTION("a per-field attribute added beside meta must agree too") {
    set(format::xattr::key_version, "2");
    CHECK(decrypt_file(path).error().code == Errc::metadata_mismatch);
  }
  SECTION("meta removed: the header alone suffices") {
    REQUIRE(::removexattr(path.c_str(), format::xattr::meta) == 0);
    CHECK(decrypt_file(path).value() == data);
  }
  SECTION("the per-field attributes of older files") {
    // What versions before the one attribute wrote, read from its lines.
    REQUIRE(::removexattr(path.c_str(), format::xattr::meta) == 0);
    std::map<std::string, std::string> fields;
    for (std::size_t at = 0; at < meta.size();) {
      const std::size_t eq = meta.find('=', at), nl = meta.find('\n', at);
      fields[meta.substr(at, eq - at)] = meta.substr(eq + 1, nl - eq - 1);
      at = nl + 1;
    }
    REQUIRE(fields.size() == 6);
    for (const auto& [name, value] : fields) set(("user.recvault." + name).c_str(), value);
    CHECK(decrypt_file(path).value() == data);
    SECTION("tampered key_version") {
      set(format::xattr::key_version, "2");
      CHECK(decrypt_file(path).error().code == Errc::metadata_mismatch);
    }
    SECTION("tampered salt") {
      set(format::xattr::salt, "x");
      CHECK(decrypt_file(path).error().code == Errc::metadata_mismatch);
    }
    SECTION("tampered algorithm") {
      set(format::xattr::algorithm, "AES-256-CBC");
      CHECK(decrypt_file(path).error().code == Errc::metadata_mismatch);
    }
    SECTION("zero-filled: the format attribute says a header is missing") {
      write_all(path, std::vector<std::uint8_t>(file_len(path), 0));
      CHECK(decrypt_file(path).error().code == Errc::tampered);
    }
  }
}

TEST_CASE("meta escapes percent and newline, so equal values mean equal fields", "[detect][xattr]") {
  format::Header a;
  a.key_id = "k";
  a.salt = "line1\nfile_id=00";
  format::Header b = a;
  b.salt = "line1%0Afile_id=00";
  CHECK(format::meta_value(a) != format::meta_value(b));
  CHECK(format::meta_value(a).find("salt=line1%0Afile_id=00\n") != std::string::npos);
  CHECK(format::meta_value(b).find("salt=line1%250Afile_id=00\n") != std::string::npos);
}

TEST_CASE("plain and zero-filled files are not mistaken for recordings", "[detect]") {
  TempDir dir;
  write_all(dir.file("plain"), bytes_of("RIFF....WAVEfmt just a plain wav file"));
  CHECK(decrypt_file(dir.file("plain")).error().code == Errc::not_recvault);

  std::string path = dir.file("zeroed");
  make_file(path, Algorithm::aes256_gcm, pseudo_random(C + 1, 11));
  write_all(path, std::vector<std::uint8_t>(file_len(path), 0));  // keeps the xattrs
  auto r = decrypt_file(path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::tampered);

  std::string path2 = dir.file("zeroed-records");
  make_file(path2, Algorithm::aes256_gcm, pseudo_random(2 * C + 1, 12));
  const std::uint64_t h = header_len(path2);
  write_range(path2, h, std::vector<std::uint8_t>(file_len(path2) - h, 0));
  CHECK(decrypt_file(path2).error().code == Errc::tampered);
}

TEST_CASE("an unterminated file (writer died) reads its complete chunks", "[unterminated]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    std::string path = dir.file("f");
    auto data = pseudo_random(3 * C + 700, 13);
    make_file(path, alg, data, /*seal=*/false);
    {
      auto fd = open_rw(path);
      auto f = EncryptedFile::open(fd.get(), resolver()).value();
      CHECK(f->state() == format::FileState::open);
      CHECK_FALSE(f->torn_tail());
    }
    CHECK(decrypt_file(path).value() == data);

    SECTION("a torn last record is dropped, the rest is readable, and writing resumes") {
      const std::uint64_t h = header_len(path), r = full_record(alg);
      truncate_file(path, h + 3 * r + 20);  // a record cut mid-write
      auto fd = open_rw(path);
      auto f = EncryptedFile::open(fd.get(), resolver()).value();
      CHECK(f->torn_tail());
      REQUIRE(f->size() == 3 * C);
      std::vector<std::uint8_t> got(3 * C);
      REQUIRE(f->read(0, got).value() == 3 * C);
      CHECK(std::equal(got.begin(), got.end(), data.begin()));
      auto more = pseudo_random(100, 14);
      REQUIRE(f->write(f->size(), more).ok());
      REQUIRE(f->seal().ok());
      f.reset();
      std::vector<std::uint8_t> want(3 * C + more.size());
      std::copy_n(data.begin(), 3 * C, want.begin());
      std::copy(more.begin(), more.end(), want.begin() + 3 * C);
      CHECK(decrypt_file(path).value() == want);
    }
  }
}

TEST_CASE("verify_file reports state and finds a bad middle chunk", "[verify]") {
  TempDir dir;
  std::string path = dir.file("f");
  make_file(path, Algorithm::aes256_gcm, pseudo_random(4 * C + 3, 15));
  auto fd = open_rw(path);
  auto rep = format::verify_file(fd.get(), resolver()).value();
  CHECK(rep.state == format::FileState::sealed);
  CHECK(rep.plaintext_size == 4 * C + 3);
  CHECK(rep.chunks == 5);
  flip_byte(path, header_len(path) + 2 * full_record(Algorithm::aes256_gcm) + 50);
  auto bad = format::verify_file(fd.get(), resolver());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("chunk 2") != std::string::npos);
}

TEST_CASE("reads spanning many whole chunks match, and one bad chunk fails the whole read", "[roundtrip][read]") {
  TempDir dir;
  for (Algorithm alg : kAlgorithms) {
    INFO(format::algorithm_name(alg));
    const auto data = pseudo_random(8 * C + 777, 21);
    const std::string path = dir.file("many");
    make_file(path, alg, data);
    {
      auto fd = open_rw(path);
      auto f = format::EncryptedFile::open(fd.get(), resolver()).value();
      // Every chunk-aligned start, lengths of whole chunks with and without a
      // ragged end: the batched path, the spill of its last chunk, the tail.
      for (std::size_t first = 0; first <= 8; ++first) {
        for (std::size_t len : {C, 2 * C, 3 * C + 5, 8 * C, 9 * C}) {
          std::vector<std::uint8_t> out(len, 0xAA);
          auto n = f->read(first * C, out);
          REQUIRE(n.ok());
          const std::size_t expect = std::min(len, data.size() - first * C);
          REQUIRE(*n == expect);
          CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(expect),
                           data.begin() + static_cast<std::ptrdiff_t>(first * C)));
          // The lock-free variant serves exactly whole chunks before the tail
          // (chunk 8, the tail, is never one), with the same bytes.
          const bool whole = f->is_whole_chunk_read(first * C, len);
          CHECK(whole == (len % C == 0 && first + len / C <= 8));
          if (whole) {
            std::vector<std::uint8_t> again(len, 0x55);
            REQUIRE(f->read_whole(first * C, again).value() == len);
            CHECK(std::equal(again.begin(), again.end(), out.begin()));
          }
        }
      }
      CHECK_FALSE(f->is_whole_chunk_read(C / 2, 2 * C));
      std::vector<std::uint8_t> unaligned(2 * C);
      CHECK_FALSE(f->read_whole(C / 2, unaligned).ok());
    }
    // A flipped byte in chunk 5 fails a read of chunks 2..7 (no partial data
    // is handed out as good), while chunks 0..4 still read.
    const std::uint64_t h = header_len(path), r = full_record(alg);
    flip_byte(path, h + 5 * r + 40);
    auto fd = open_rw(path);
    auto f = format::EncryptedFile::open(fd.get(), resolver()).value();
    std::vector<std::uint8_t> out(6 * C);
    auto bad = f->read(2 * C, out);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::tampered);
    CHECK(bad.error().message.find("chunk 5") != std::string::npos);
    std::vector<std::uint8_t> good(5 * C);
    REQUIRE(f->read(0, good).value() == 5 * C);
    CHECK(std::equal(good.begin(), good.end(), data.begin()));
  }
}

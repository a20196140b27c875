// recvault-decrypt end to end: every exit code, key sources, --verify, --info,
// --out atomicity, and no key text in any output.
#include <catch2/catch.hpp>

#include <sys/xattr.h>

#include "recvault/format/encrypted_file.hpp"
#include "tool_fixture.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr std::size_t kSize = 150000;  // three 64 KiB chunks

void flip(const std::string& path, std::uint64_t offset) {
  auto bytes = read_all(path);
  bytes.at(offset) ^= 0x01;
  write_all(path, bytes);
}

}  // namespace

TEST_CASE("decrypts with --key, the salt coming from the header", "[tool]") {
  TempDir d;
  for (const char* alg : {"AES-256-GCM", "AES-256-CBC"}) {
    INFO(alg);
    const auto data = pseudo_random(kSize, 1);
    const auto f = encrypt(d, std::string("f-") + alg, data, kV1, alg, {"--write-size", "320"});
    auto r = decrypt({"--key", kV1.key, f});
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    CHECK(r.out == as_string(data));
    r = decrypt({"--key", kV1.key, "--salt", kV1.salt, f});
    CHECK(r.status == 0);
    CHECK(r.out == as_string(data));
  }
}

TEST_CASE("decrypts with --key-file, from a file or standard input", "[tool]") {
  TempDir d;
  const auto data = pseudo_random(5000, 2);
  const auto f = encrypt(d, "f", data, kV2);
  const auto key_nl = write_text(d, "key-nl", kV2.key + "\n");
  auto r = decrypt({"--key-file", key_nl, f});
  CHECK(r.status == 0);
  CHECK(r.out == as_string(data));
  auto s = run({decrypt_tool(), "--key-file", "-", f}, key_nl);
  CHECK(s.status == 0);
  CHECK(s.out == as_string(data));
  // The key is used as-is: other trailing whitespace is part of it.
  r = decrypt({"--key-file", write_text(d, "key-sp", kV2.key + " "), f});
  CHECK(r.status == 2);
  // An empty or missing key file is a usage error.
  CHECK(decrypt({"--key-file", write_text(d, "empty", ""), f}).status == 1);
  CHECK(decrypt({"--key-file", d.file("absent"), f}).status == 1);
}

TEST_CASE("a wrong key or a wrong salt exits 2 and says which", "[tool][exit]") {
  TempDir d;
  const auto f = encrypt(d, "f", pseudo_random(3000, 3), kV1, "AES-256-CBC");
  auto r = decrypt({"--key", kV2.key, f});
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find("wrong key") != std::string::npos);
  r = decrypt({"--key", kV1.key, "--salt", kV2.salt, f});
  CHECK(r.status == 2);
  CHECK(r.err.find("--salt differs") != std::string::npos);
}

TEST_CASE("tampered content and tampered xattrs exit 3 with no output", "[tool][exit]") {
  TempDir d;
  const auto data = pseudo_random(kSize, 4);
  const auto f = encrypt(d, "f", data, kV1);
  const auto pristine = read_all(f);
  const std::uint64_t h = header_length(f);
  for (std::uint64_t off : {std::uint64_t{20}, h + 100, h + 70000, pristine.size() - 1}) {
    INFO("flipped byte " << off);
    write_all(f, pristine);
    flip(f, off);
    auto r = decrypt({"--key", kV1.key, f});
    CHECK(r.status == 3);
    CHECK(r.out.empty());
    CHECK(decrypt({"--key", kV1.key, "--verify", f}).status == 3);
  }
  write_all(f, pristine);
  if (::setxattr(f.c_str(), "user.recvault.key_version", "7", 1, 0) == 0) {
    auto r = decrypt({"--key", kV1.key, f});
    CHECK(r.status == 3);
    CHECK(r.err.find("user.recvault.key_version") != std::string::npos);
    CHECK(decrypt({"--info", f}).status == 3);
  } else {
    WARN("no user xattrs on this file system: xattr mismatch not exercised");
  }
}

TEST_CASE("a sealed file with chunks cut off exits 5", "[tool][exit]") {
  TempDir d;
  const auto f = encrypt(d, "f", pseudo_random(kSize, 5), kV1);
  const std::uint64_t keep = header_length(f) + 2 * (65536 + 28);
  REQUIRE(::truncate(f.c_str(), static_cast<off_t>(keep)) == 0);
  auto r = decrypt({"--key", kV1.key, f});
  CHECK(r.status == 5);
  CHECK(r.out.empty());
  CHECK(r.err.find("truncated") != std::string::npos);
}

TEST_CASE("a plain file exits 6 unless --allow-plain copies it", "[tool][exit]") {
  TempDir d;
  const auto data = pseudo_random(1000, 6);
  write_all(d.file("plain"), data);
  auto r = decrypt({"--key", kV1.key, d.file("plain")});
  CHECK(r.status == 6);
  CHECK(r.out.empty());
  r = decrypt({"--allow-plain", d.file("plain")});
  CHECK(r.status == 0);
  CHECK(r.out == as_string(data));
  CHECK(r.err.find("not encrypted") != std::string::npos);
  CHECK(decrypt({"--info", d.file("plain")}).status == 6);
  // An unknown format version is refused the same way.
  const auto f = encrypt(d, "f", data, kV1);
  auto bytes = read_all(f);
  bytes[10] = 9;
  write_all(f, bytes);
  CHECK(decrypt({"--key", kV1.key, f}).status == 6);
}

TEST_CASE("an unterminated file decrypts with a warning; --strict exits 4", "[tool][exit]") {
  TempDir d;
  const auto data = pseudo_random(100000, 7);
  const auto f = encrypt(d, "f", data, kV1, "AES-256-GCM", {"--no-seal"});
  auto r = decrypt({"--key", kV1.key, f});
  CHECK(r.status == 0);
  CHECK(r.out == as_string(data));
  CHECK(r.err.find("unterminated") != std::string::npos);
  r = decrypt({"--key", kV1.key, "--strict", f});
  CHECK(r.status == 4);
  CHECK(r.out.empty());
  r = decrypt({"--key", kV1.key, "--verify", f});
  CHECK(r.status == 0);
  CHECK(r.out.find("state=unterminated") != std::string::npos);
  CHECK(decrypt({"--key", kV1.key, "--verify", "--strict", f}).status == 4);
  CHECK(decrypt({"--key", kV1.key, "--strict", "--out", d.file("o"), f}).status == 4);
  CHECK_FALSE(std::filesystem::exists(d.file("o")));
}

TEST_CASE("--verify prints one line with state, size, chunks and key metadata", "[tool]") {
  TempDir d;
  const auto f = encrypt(d, "f", pseudo_random(kSize, 8), kV2, "AES-256-CBC");
  auto r = decrypt({"--key", kV2.key, "--verify", f});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "ok state=sealed size=150000 chunks=3 algorithm=AES-256-CBC key_version=2 "
        "key_id=key_auto_toolstest\n");
}

TEST_CASE("--info shows the header without a key", "[tool]") {
  TempDir d;
  const auto f = encrypt(d, "f", pseudo_random(70000, 9), kV2);
  auto r = decrypt({"--info", f});
  CHECK(r.status == 0);
  CHECK(r.out.find("algorithm: AES-256-GCM") != std::string::npos);
  CHECK(r.out.find("key_version: 2") != std::string::npos);
  CHECK(r.out.find("salt: " + kV2.salt) != std::string::npos);
  CHECK(r.out.find("plaintext_size: 70000") != std::string::npos);
}

TEST_CASE("--out appears only after a successful decrypt", "[tool][out]") {
  TempDir d;
  const auto data = pseudo_random(kSize, 10);
  const auto f = encrypt(d, "f", data, kV1);
  const auto before = dir_entries(d);
  const std::string out = d.file("out.wav");

  CHECK(decrypt({"--key", kV2.key, "--out", out, f}).status == 2);
  CHECK(dir_entries(d) == before);    // no output, no temporary left behind
  flip(f, header_length(f) + 70000);  // chunk 1: the first chunk still authenticates
  auto r = decrypt({"--key", kV1.key, "--out", out, f});
  CHECK(r.status == 3);
  CHECK(dir_entries(d) == before);
  flip(f, header_length(f) + 70000);

  // A failed decrypt leaves an existing output untouched.
  write_text(d, "out.wav", "previous");
  CHECK(decrypt({"--key", kV2.key, "--out", out, f}).status == 2);
  CHECK(as_string(read_all(out)) == "previous");

  r = decrypt({"--key", kV1.key, "--out", out, f});
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  CHECK(read_all(out) == data);
  struct stat st {};
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);  // plaintext is private to its owner
  CHECK(dir_entries(d).size() == before.size() + 1);
}

TEST_CASE("usage and I/O errors exit 1 and 8", "[tool][exit]") {
  TempDir d;
  const auto f = encrypt(d, "f", pseudo_random(100, 11), kV1);
  CHECK(decrypt({}).status == 1);
  CHECK(decrypt({"--bogus", f}).status == 1);
  CHECK(decrypt({"--key", kV1.key, "--config", d.file("c.json"), f}).status == 1);
  CHECK(decrypt({f}).status == 1);  // no key
  CHECK(decrypt({"--key", kV1.key, d.file("absent")}).status == 8);
  const auto before = read_all(f);
  CHECK(decrypt({"--key", kV1.key, "--out", f, f}).status == 1);  // never replaces the backing file
  CHECK(read_all(f) == before);
  auto r = decrypt({"--key", kV1.key, "--out", d.file("no-such-dir/out"), f});
  CHECK(r.status == 8);
  auto help = decrypt({"--help"});
  CHECK(help.status == 0);
  for (const char* section : {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES"}) {
    CHECK(help.out.find(section) != std::string::npos);
  }
}

TEST_CASE("recvault-encrypt rejects bad arguments and leaves no output", "[tool][encrypt]") {
  TempDir d;
  write_all(d.file("in"), pseudo_random(100, 12));
  auto r = run({encrypt_tool(), "--key", kV1.key, "--salt", "s", "--chunk-size", "1000", d.file("in"), d.file("o")});
  CHECK(r.status == 1);
  CHECK_FALSE(std::filesystem::exists(d.file("o")));
  CHECK(r.err.find(kV1.key) == std::string::npos);
  r = run({encrypt_tool(), "--key", kV1.key, "--salt", "s", "--algorithm", "ROT13", d.file("in"), d.file("o")});
  CHECK(r.status == 1);
  write_text(d, "exists", "x");
  r = run({encrypt_tool(), "--key", kV1.key, "--salt", "s", d.file("in"), d.file("exists")});
  CHECK(r.status != 0);
  CHECK(as_string(read_all(d.file("exists"))) == "x");
}

TEST_CASE("holes: --sparse makes them, --verify counts them, --out keeps them, stdout gets zeros", "[tool][holes]") {
  TempDir d;
  auto data = pseudo_random(300000, 12);
  std::fill(data.begin() + 65536, data.begin() + 4 * 65536, 0);  // chunks 1..3 are zeros
  const auto f = encrypt(d, "f", data, kV1, "AES-256-GCM", {"--sparse"});
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 < 200000);  // two data chunks and the last one
  auto r = decrypt({"--key", kV1.key, "--verify", f});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "ok state=sealed size=300000 chunks=5 algorithm=AES-256-GCM key_version=1 "
        "key_id=key_auto_toolstest holes=1 hole_chunks=3\n");
  r = decrypt({"--key", kV1.key, f});
  CHECK(r.status == 0);
  CHECK(r.out == as_string(data));

  // Grown to 4 GiB: --out writes a file of that size that holds no more
  // blocks than the encrypted one.
  constexpr std::uint64_t big = std::uint64_t{4} << 30;
  {
    auto key = std::make_shared<const format::VersionKey>(format::VersionKey::derive(kV1.key, kV1.salt).value());
    sys::UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    auto file = format::EncryptedFile::open(fd.get(), [&](const format::Header&) -> Result<format::VersionKeyPtr> {
                  return key;
                }).value();
    REQUIRE(file->truncate(big));
    REQUIRE(file->seal());
  }
  const std::string out = d.file("out.wav");
  r = decrypt({"--key", kV1.key, "--out", out, f});
  CHECK(r.status == 0);
  REQUIRE(::stat(out.c_str(), &st) == 0);
  CHECK(static_cast<std::uint64_t>(st.st_size) == big);
  CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 < (std::uint64_t{4} << 20));
  std::vector<std::uint8_t> got(data.size() + 70000, 0xAA);
  sys::UniqueFd o(::open(out.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(sys::pread_full(o.get(), got, 0).value() == got.size());
  CHECK(std::equal(data.begin(), data.end(), got.begin()));
  CHECK(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(data.size()), got.end(), [](auto b) { return b == 0; }));
  REQUIRE(sys::pread_full(o.get(), got, big - got.size()).value() == got.size());
  CHECK(std::all_of(got.begin(), got.end(), [](auto b) { return b == 0; }));
}

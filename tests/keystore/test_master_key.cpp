#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "keystore_test_util.hpp"
#include "recvault/crypto/primitives.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {
void write_file(const std::filesystem::path& p, const std::string& content, mode_t mode) {
  { std::ofstream(p, std::ios::binary) << content; }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}
}  // namespace

TEST_CASE("create_master_key_file writes 0600 hex, refuses to overwrite, and loads back", "[master_key]") {
  TempDir dir;
  auto path = dir / "master.key";
  REQUIRE(create_master_key_file(path));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_size == 65);
  auto again = create_master_key_file(path);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::conflict);
  auto a = MasterKey::load_file(path);
  REQUIRE(a);
  auto b = load_or_create_master_key_file(path);
  REQUIRE(b);
  // Same key: what one seals the other opens.
  auto sealed = a->seal(crypto::as_bytes("secret"), "aad");
  REQUIRE(sealed);
  CHECK(b->open(*sealed, "aad")->view() == "secret");
}

TEST_CASE("master key files readable by group or others are refused with a clear error", "[master_key]") {
  TempDir dir;
  auto path = dir / "master.key";
  write_file(path, std::string(64, 'a') + "\n", 0640);
  auto r = MasterKey::load_file(path);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().message.find("chmod 600") != std::string::npos);
  REQUIRE(::chmod(path.c_str(), 0604) == 0);
  CHECK_FALSE(MasterKey::load_file(path));
  REQUIRE(::chmod(path.c_str(), 0400) == 0);
  CHECK(MasterKey::load_file(path));
}

TEST_CASE("master key file encodings: raw 32 bytes or 64 hex; anything else refused", "[master_key]") {
  TempDir dir;
  auto raw = dir / "raw";
  write_file(raw, std::string(32, '\x07'), 0600);
  CHECK(MasterKey::load_file(raw));
  auto hex = dir / "hex";
  write_file(hex, std::string(64, 'F'), 0600);
  CHECK(MasterKey::load_file(hex));
  for (std::string bad :
       {std::string(31, 'x'), std::string(63, 'a'), std::string(64, 'g'), std::string(), std::string(200, 'a')}) {
    auto p = dir / "bad";
    write_file(p, bad, 0600);
    auto r = MasterKey::load_file(p);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    std::filesystem::remove(p);
  }
}

TEST_CASE("master key: symlinks and missing files are refused", "[master_key]") {
  TempDir dir;
  auto target = dir / "target";
  write_file(target, std::string(64, 'a'), 0600);
  std::filesystem::create_symlink(target, dir / "link");
  CHECK_FALSE(MasterKey::load_file(dir / "link"));
  auto missing = MasterKey::load_file(dir / "missing");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::io);
  CHECK(missing.error().sys_errno == ENOENT);
}

TEST_CASE("master key from a systemd credential directory", "[master_key]") {
  TempDir dir;
  write_file(dir / "recvault-master", std::string(64, 'b') + "\n", 0400);
  const char* old = std::getenv("CREDENTIALS_DIRECTORY");
  std::string saved = old ? old : "";
  ::unsetenv("CREDENTIALS_DIRECTORY");
  auto none = MasterKey::load_credential("recvault-master");
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::not_found);
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  CHECK(MasterKey::load_credential("recvault-master"));
  CHECK_FALSE(MasterKey::load_credential("../x"));
  if (old)
    ::setenv("CREDENTIALS_DIRECTORY", saved.c_str(), 1);
  else
    ::unsetenv("CREDENTIALS_DIRECTORY");
}

TEST_CASE("master key seal/open: AAD binds, tampering detected, nonces random", "[master_key]") {
  MasterKey k = test_master();
  auto a = k.seal(crypto::as_bytes("key text"), "acct/1");
  auto b = k.seal(crypto::as_bytes("key text"), "acct/1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK(k.open(*a, "acct/1")->view() == "key text");
  auto wrong_aad = k.open(*a, "acct/2");
  REQUIRE_FALSE(wrong_aad);
  CHECK(wrong_aad.error().code == Errc::tampered);
  auto flipped = *a;
  flipped[15] ^= 1;
  CHECK_FALSE(k.open(flipped, "acct/1"));
  CHECK_FALSE(test_master(0x10).open(*a, "acct/1"));
  CHECK_FALSE(MasterKey::from_bytes(crypto::SecretBytes(31)));
}

// pgp::Sealer and pgp::SealStream with real gpg, without a mount.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "gpg_fixture.hpp"
#include "recvault/pgp/sealer.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

struct Fixture {
  TempDir dir;
  GpgHome& client = client_home();
  std::unique_ptr<pgp::Sealer> sealer;

  static GpgHome& client_home() {
    static GpgHome home(GpgHome::Type::curve25519, "Unit Client <unit@example.com>");
    return home;
  }
  static GpgHome& sign_only_home() {
    static GpgHome home(GpgHome::Type::sign_only, "Unit Signer <signer@example.com>");
    return home;
  }

  explicit Fixture(pgp::SealOptions options = {}) {
    auto s = pgp::Sealer::open(
        dir.path() / "gnupg",
        [](std::string_view id) -> Result<pgp::PublicKey> {
          if (id == "k-acme")
            return pgp::PublicKey{"k-acme", "acme", client_home().armored(), client_home().fingerprint()};
          if (id == "k-sign")
            return pgp::PublicKey{"k-sign", "acme", sign_only_home().armored(), sign_only_home().fingerprint()};
          return make_error(Errc::not_found, "no such key");
        },
        options);
    REQUIRE(s.ok());
    sealer = std::move(s).value();
  }

  std::unique_ptr<pgp::SealStream> start(int fd) {
    auto r = sealer->recipient("acme", "k-acme");
    REQUIRE(r.ok());
    auto s = sealer->start(fd, std::move(r).value());
    REQUIRE(s.ok());
    return std::move(s).value();
  }
};

std::vector<std::uint8_t> decrypt(const GpgHome& home, const std::string& in, const TempDir& dir, int& rc) {
  const std::string out = dir.file("plain.out");
  std::filesystem::remove(out);
  rc = home.decrypt(in, out);
  return rc == 0 ? read_all(out) : std::vector<std::uint8_t>{};
}

}  // namespace

TEST_CASE("a sealed stream decrypts with the client's private key", "[pgp]") {
  pgp::SealOptions small;
  small.pipe_bytes = 4096;  // forces backpressure on every append
  Fixture f(small);
  const std::string path = f.dir.file("rec.pgp");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  auto data = pseudo_random(3 * 1024 * 1024 + 11, 7);
  {
    auto s = f.start(fd);
    for (std::size_t at = 0; at < data.size(); at += 65536) {
      auto n = std::min<std::size_t>(65536, data.size() - at);
      REQUIRE(s->append(at, std::span(data).subspan(at, n)).ok());
    }
    CHECK(s->accepted() == data.size());
    REQUIRE(s->finish().ok());
    CHECK(s->finish().ok());  // idempotent
    CHECK(s->ciphertext_size() > data.size());
  }
  ::close(fd);
  int rc = -1;
  CHECK(decrypt(f.client, path, f.dir, rc) == data);
  CHECK(rc == 0);
}

TEST_CASE("overwrites and holes are refused; concurrent appends are ordered", "[pgp]") {
  pgp::SealOptions opts;
  opts.reorder_wait_ms = 200;
  Fixture f(opts);
  const std::string path = f.dir.file("rec.pgp");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  auto s = f.start(fd);
  auto a = bytes_of("first-");
  auto b = bytes_of("second");
  // The second write arrives first and waits for the first.
  std::thread late([&] { CHECK(s->append(a.size(), b).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(s->append(0, a).ok());
  late.join();
  auto over = s->append(0, a);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().to_errno() == EINVAL);
  auto hole = s->append(1000, a);
  REQUIRE_FALSE(hole.ok());
  CHECK(hole.error().to_errno() == EINVAL);
  REQUIRE(s->finish().ok());
  auto after = s->append(s->accepted(), a);
  CHECK_FALSE(after.ok());
  ::close(fd);
  int rc = -1;
  CHECK(decrypt(f.client, path, f.dir, rc) == bytes_of("first-second"));
}

TEST_CASE("an aborted stream leaves an incomplete message that does not decrypt", "[pgp]") {
  Fixture f;
  const std::string path = f.dir.file("rec.pgp");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  {
    auto s = f.start(fd);
    auto data = pseudo_random(256 * 1024, 3);
    REQUIRE(s->append(0, data).ok());
  }  // destroyed unfinished
  ::close(fd);
  int rc = -1;
  decrypt(f.client, path, f.dir, rc);
  CHECK(rc != 0);
}

TEST_CASE("the sealer refuses foreign, unknown and sign-only keys", "[pgp]") {
  Fixture f;
  auto foreign = f.sealer->recipient("globex", "k-acme");
  REQUIRE_FALSE(foreign.ok());
  CHECK(foreign.error().code == Errc::not_found);
  CHECK(f.sealer->recipient("acme", "k-none").error().code == Errc::not_found);
  auto sign = f.sealer->recipient("acme", "k-sign");
  REQUIRE_FALSE(sign.ok());
  CHECK(sign.error().code == Errc::invalid_argument);
  // The daemon's keyrings (one per publicKeyId) hold public keys only.
  REQUIRE(f.sealer->recipient("acme", "k-acme").ok());
  REQUIRE(std::filesystem::exists(f.sealer->home() / "keys" / "k-acme" / "pubring.kbx"));
  for (const auto& e : std::filesystem::directory_iterator(f.sealer->home() / "keys"))
    CHECK(run("gpg --homedir " + e.path().string() + " --batch --list-secret-keys 2>/dev/null | grep -q sec") != 0);
}

TEST_CASE("each publicKeyId seals with exactly its own key material", "[pgp][key_update]") {
  // One client key, uploaded three times as it changes: v1 (subkey S1),
  // v2 (S1 revoked, new subkey S2), v3 (the whole key revoked).
  GpgHome client(GpgHome::Type::curve25519, "Rotating Client <rotate@example.com>");
  const std::string fpr = client.fingerprint();
  const std::string v1 = client.armored();
  const auto s1 = client.encryption_subkeys();
  REQUIRE(s1.size() == 1);
  client.add_encryption_subkey();
  client.revoke_subkey(1);
  const std::string v2 = client.export_public();
  auto subs = client.encryption_subkeys();
  REQUIRE(subs.size() == 2);
  const std::string s2 = subs[1];
  client.revoke_key();
  const std::string v3 = client.export_public();

  TempDir dir;
  auto sealer = pgp::Sealer::open(dir.path() / "gnupg", [&](std::string_view id) -> Result<pgp::PublicKey> {
    if (id == "v1") return pgp::PublicKey{"v1", "acme", v1, fpr};
    if (id == "v2") return pgp::PublicKey{"v2", "acme", v2, fpr};
    if (id == "v3") return pgp::PublicKey{"v3", "acme", v3, fpr};
    return make_error(Errc::not_found, "no such key");
  });
  REQUIRE(sealer.ok());
  auto seal = [&](const std::string& id, const std::string& name) {
    auto r = (*sealer)->recipient("acme", id);
    REQUIRE(r.ok());
    const std::string path = dir.file(name);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    {
      auto s = (*sealer)->start(fd, std::move(r).value());
      REQUIRE(s.ok());
      REQUIRE((*s)->append(0, pseudo_random(4096, 7)).ok());
      REQUIRE((*s)->finish().ok());
    }
    ::close(fd);
    return recipient_keyids(path);
  };
  CHECK(seal("v1", "one.gpg") == std::vector<std::string>{s1[0]});
  // The second upload's material: the new subkey, never the revoked one
  // (a shared keyring kept v1's copy and sealed to S1 again).
  CHECK(seal("v2", "two.gpg") == std::vector<std::string>{s2});
  // A revoked key is refused with the reason, not used.
  auto revoked = (*sealer)->recipient("acme", "v3");
  REQUIRE_FALSE(revoked.ok());
  CHECK(revoked.error().code == Errc::invalid_argument);
  CHECK(revoked.error().message == "public key v3 can no longer encrypt: revoked");
  // v2 and v1 are unaffected by v3: each id keeps its own material.
  CHECK(seal("v2", "two-again.gpg") == std::vector<std::string>{s2});
  CHECK(seal("v1", "one-again.gpg") == std::vector<std::string>{s1[0]});

  SECTION("a keyring whose material changed behind our back is rebuilt") {
    // Same id, other text: what the keystore holds wins.
    auto again = pgp::Sealer::open(dir.path() / "gnupg", [&](std::string_view id) -> Result<pgp::PublicKey> {
      if (id == "v1") return pgp::PublicKey{"v1", "acme", v2, fpr};
      return make_error(Errc::not_found, "no such key");
    });
    REQUIRE(again.ok());
    auto r = (*again)->recipient("acme", "v1");
    REQUIRE(r.ok());
    CHECK(slurp(dir.file("gnupg/keys/v1/material.sha256")).size() == 65);
    sealer = std::move(again);
    CHECK(seal("v1", "rebuilt.gpg") == std::vector<std::string>{s2});
  }
}

// pgp::Sealer and pgp::SealStream with real gpg, without a mount.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <thread>

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
    auto s = pgp::Sealer::open(dir.path() / "gnupg", [](std::string_view id) -> Result<pgp::PublicKey> {
      if (id == "k-acme") return pgp::PublicKey{"k-acme", "acme", client_home().armored(), client_home().fingerprint()};
      if (id == "k-sign")
        return pgp::PublicKey{"k-sign", "acme", sign_only_home().armored(), sign_only_home().fingerprint()};
      return make_error(Errc::not_found, "no such key");
    }, options);
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
  // The daemon's keyring holds public keys only.
  CHECK(run("gpg --homedir " + f.sealer->home().string() + " --batch --list-secret-keys 2>/dev/null | grep -q sec") != 0);
}

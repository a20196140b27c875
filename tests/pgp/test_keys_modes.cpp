// Key lifecycle and mode switches with OpenPGP sealing, end to end.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>

#include "pgp_mount_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

const std::string kModesMarker = "PGP-MODES-MARKER-7311-";

std::vector<std::uint8_t> data_for(int n) { return block(static_cast<std::size_t>(n), 70000 + n, kModesMarker); }

}  // namespace

TEST_CASE("uploads of sign-only and expired keys are refused", "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  for (const GpgHome* k : {&keys.sign_only, &keys.expired}) {
    auto r = d.http("POST", "/v3/security/public-keys", "acme", k->armored(), "application/octet-stream");
    CHECK(r.status == 400);
  }
  CHECK(d.stop() == 0);
}

TEST_CASE("a key in use by an account or a directory cannot be deleted; sealed recordings outlive it", "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  const std::string id = upload_key(d, "acme", keys.ed.armored());
  const std::string path = "/v3/security/public-keys/" + id;
  d.configure("acme", {{"enabled", true}, {"public_key_id", id}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const auto data = data_for(1);
  write_all(d.mnt() + "/acme/kept.wav", data);

  auto r = d.http("DELETE", path, "acme");
  CHECK(r.status == 409);
  CHECK(r.body.find("acme") != std::string::npos);

  d.configure("acme", {{"enabled", true}, {"public_key_id", ""}});
  const std::string dir = d.mnt() + "/acme/dir";
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  REQUIRE(::setxattr(dir.c_str(), "user.recvault.public_key_id", id.data(), id.size(), 0) == 0);
  r = d.http("DELETE", path, "acme");
  CHECK(r.status == 409);
  CHECK(r.body.find("acme/dir") != std::string::npos);

  REQUIRE(::removexattr(dir.c_str(), "user.recvault.public_key_id") == 0);
  r = d.http("DELETE", path, "acme");
  CHECK(r.status == 200);
  // Sealed before the deletion: still the same message, still decryptable.
  const std::string backing = d.backing() + "/acme/kept.wav";
  CHECK(read_all(d.mnt() + "/acme/kept.wav") == read_all(backing));
  REQUIRE(keys.ed.decrypt(backing, d.dir().file("out")) == 0);
  CHECK(read_all(d.dir().file("out")) == data);
  CHECK(d.stop() == 0);
}

TEST_CASE("switching an account between AES and OpenPGP keeps every recording readable in its own mode",
          "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  const std::string rsa = upload_key(d, "acme", keys.rsa.armored());
  const std::string ed = upload_key(d, "acme", keys.ed.armored());
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  struct Step {
    nlohmann::json config;
    const GpgHome* sealed_to;  // null: readable through the view
  };
  const std::vector<Step> steps = {
      {{{"enabled", true}}, nullptr},
      {{{"enabled", true}, {"public_key_id", rsa}}, &keys.rsa},
      {{{"enabled", true}, {"public_key_id", ""}}, nullptr},  // back to AES
      {{{"enabled", true}, {"public_key_id", ed}}, &keys.ed},
      {{{"enabled", false}, {"public_key_id", ""}}, nullptr},     // plain
      {{{"enabled", false}, {"public_key_id", rsa}}, &keys.rsa},  // a key applies even with AES disabled
  };
  auto name = [](std::size_t i) { return "/acme/rec-" + std::to_string(i) + ".wav"; };
  for (std::size_t i = 0; i < steps.size(); ++i) {
    d.configure("acme", steps[i].config);
    write_all(d.mnt() + name(i), data_for(static_cast<int>(i)));
  }
  auto verify = [&] {
    for (std::size_t i = 0; i < steps.size(); ++i) {
      INFO("recording " << i);
      const std::string backing = d.backing() + name(i);
      CHECK(contains(read_all(backing), kModesMarker) == (i == 4));  // only the plain one shows it
      if (steps[i].sealed_to == nullptr) {
        CHECK(read_all(d.mnt() + name(i)) == data_for(static_cast<int>(i)));
      } else {
        CHECK(read_all(d.mnt() + name(i)) == read_all(backing));
        REQUIRE(steps[i].sealed_to->decrypt(backing, d.dir().file("out")) == 0);
        CHECK(read_all(d.dir().file("out")) == data_for(static_cast<int>(i)));
        std::filesystem::remove(d.dir().file("out"));
      }
    }
  };
  verify();
  CHECK(d.stop() == 0);
  d.start();
  verify();
  CHECK(d.stop() == 0);
}

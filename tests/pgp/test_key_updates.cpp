// A client's key changes after upload (a new encryption subkey, the old one
// revoked, the whole key revoked, an expiry): the daemon seals with exactly
// the material of the publicKeyId configured. Real gpg, real mount.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "pgp_mount_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

const std::string kMarker = "KEY-UPDATE-PLAINTEXT-";

std::vector<std::uint8_t> recording() {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < 40; ++i) {
    auto b = block(i, 4096, kMarker);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

}  // namespace

TEST_CASE("a re-uploaded key seals to its new subkey; revoked and expired keys are refused",
          "[pgp][mount][key_update]") {
  GpgHome client(GpgHome::Type::curve25519, "Updating Client <update@example.com>");
  const auto s1 = client.encryption_subkeys();
  REQUIRE(s1.size() == 1);
  Daemon d;
  d.start();
  const std::string id1 = upload_key(d, "acme", client.armored());
  d.configure("acme", {{"enabled", true}, {"public_key_id", id1}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const auto data = recording();

  write_all(d.mnt() + "/acme/one.wav", data);
  CHECK(recipient_keyids(d.backing() + "/acme/one.wav") == s1);

  // The client adds an encryption subkey, revokes the old one and uploads
  // the new version of the same key (same fingerprint, new publicKeyId).
  client.add_encryption_subkey();
  client.revoke_subkey(1);
  const auto subs = client.encryption_subkeys();
  REQUIRE(subs.size() == 2);
  const std::string id2 = upload_key(d, "acme", client.export_public());
  CHECK(id2 != id1);
  d.configure("acme", {{"enabled", true}, {"public_key_id", id2}});
  write_all(d.mnt() + "/acme/two.wav", data);
  CHECK(recipient_keyids(d.backing() + "/acme/two.wav") == std::vector<std::string>{subs[1]});
  const std::string out = d.dir().file("two.out");
  REQUIRE(client.decrypt(d.backing() + "/acme/two.wav", out) == 0);
  CHECK(read_all(out) == data);

  // After a restart (keyrings on disk) the same.
  CHECK(d.stop() == 0);
  d.start();
  write_all(d.mnt() + "/acme/three.wav", data);
  CHECK(recipient_keyids(d.backing() + "/acme/three.wav") == std::vector<std::string>{subs[1]});

  // The whole key revoked: the upload is refused with the reason.
  client.revoke_key();
  auto r = d.http("POST", "/v3/security/public-keys", "acme", client.export_public(), "application/octet-stream");
  CHECK(r.status == 400);
  CHECK(r.body.find("revoked") != std::string::npos);

  // A key whose encryption subkey expired after upload: configuring it is
  // refused with the reason, and the configuration is unchanged.
  GpgHome expiring(GpgHome::Type::expiring, "Expiring Client <expiring@example.com>");
  const std::string id3 = upload_key(d, "acme", expiring.armored());
  std::this_thread::sleep_for(std::chrono::seconds(9));
  r = d.http("PUT", "/api/v2/config/call_recording_encryption", "acme",
             nlohmann::json{{"enabled", true}, {"public_key_id", id3}}.dump());
  CHECK(r.status == 400);
  CHECK(r.json()["message"] == "public key " + id3 + " can no longer encrypt: its encryption subkeys have expired");
  r = d.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  CHECK(r.json()["config"]["public_key_id"] == id2);
  CHECK(d.stop() == 0);
}

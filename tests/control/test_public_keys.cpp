// Client-supplied OpenPGP public keys: GPGME validation with real gpg-made
// keys, and /v3/security/public-keys over the real socket and keystore.
#include <catch2/catch.hpp>

#include <regex>

#include "recvault/control/pgp_validate.hpp"
#include "server_fixture.hpp"

using namespace recvault;
using namespace recvault::control;
using namespace recvault::control::testing;
using nlohmann::json;

namespace {
const std::string kKeys = "/v3/security/public-keys";

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Reply upload(const ServerFixture& f, const std::string& body, const std::string& acct = "acc1",
             const std::string& token = admin_token()) {
  return http(f.socket, "POST", kKeys, {bearer(token), account(acct), "Content-Type: application/octet-stream"}, body);
}
}  // namespace

TEST_CASE("validate_public_key accepts encryption-capable public keys", "[pgp]") {
  auto rsa = validate_public_key(test_key("rsa.asc"));
  REQUIRE(rsa);
  CHECK(rsa->fingerprint == trimmed(test_key("rsa.fpr")));
  CHECK(rsa->user_id == "RSA Test <rsa@example.com>");
  CHECK(!rsa->encryption_subkey.empty());
  auto ed = validate_public_key(test_key("ed25519.asc"));
  REQUIRE(ed);
  CHECK(ed->fingerprint == trimmed(test_key("ed25519.fpr")));
  CHECK(ed->encryption_subkey != ed->fingerprint);  // the cv25519 subkey
}

TEST_CASE("validate_public_key rejects unusable uploads with a reason", "[pgp]") {
  auto reason = [](const std::string& body) {
    auto r = validate_public_key(body);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    return r.error().message;
  };
  CHECK_THAT(reason(test_key("signonly.asc")), Catch::Contains("no encryption-capable"));
  CHECK_THAT(reason(test_key("expired.asc")), Catch::Contains("expired"));
  CHECK_THAT(reason(test_key("revoked.asc")), Catch::Contains("revoked"));
  CHECK_THAT(reason(test_key("secret.asc")), Catch::Contains("secret key"));
  CHECK_THAT(reason(test_key("two.asc")), Catch::Contains("more than one key"));
  CHECK_THAT(reason(""), Catch::Contains("empty"));
  CHECK_THAT(reason("hello world"), Catch::Contains("not an ASCII-armored"));
  CHECK(!reason("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n")
             .empty());
  // A truncated key.
  auto rsa = test_key("rsa.asc");
  CHECK(!reason(rsa.substr(0, rsa.size() / 2) + "\n-----END PGP PUBLIC KEY BLOCK-----\n").empty());
}

TEST_CASE("upload, list, fetch byte for byte, delete", "[pgp][server]") {
  ServerFixture f;
  const std::string armored = test_key("rsa.asc");
  auto r = upload(f, armored);
  REQUIRE(r.status == 201);
  auto id = r.json()["publicKeyId"].get<std::string>();
  CHECK(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  CHECK(r.json()["fingerprint"] == trimmed(test_key("rsa.fpr")));
  CHECK(r.headers["location"] == kKeys + "/" + id);

  auto list = f.get(kKeys, read_token());
  REQUIRE(list.status == 200);
  CHECK(list.json()["publicKeys"] == json::array({{{"href", kKeys + "/" + id}}}));

  auto got = f.get(kKeys + "/" + id, read_token());
  REQUIRE(got.status == 200);
  CHECK(got.body == armored);
  CHECK(got.headers["content-type"] == "application/pgp-keys");

  // Another account neither sees nor deletes it.
  CHECK(f.get(kKeys + "/" + id, admin_token(), "acc2").status == 404);
  CHECK(f.get(kKeys, admin_token(), "acc2").json()["publicKeys"] == json::array());
  CHECK(http(f.socket, "DELETE", kKeys + "/" + id, {bearer(admin_token()), account("acc2")}).status == 404);

  // read scope cannot upload or delete.
  CHECK(upload(f, armored, "acc1", read_token()).status == 403);
  CHECK(http(f.socket, "DELETE", kKeys + "/" + id, {bearer(read_token()), account("acc1")}).status == 403);

  auto del = http(f.socket, "DELETE", kKeys + "/" + id, {bearer(admin_token()), account("acc1")});
  CHECK(del.status == 200);
  CHECK(f.get(kKeys + "/" + id, admin_token()).status == 404);
  CHECK(http(f.socket, "DELETE", kKeys + "/" + id, {bearer(admin_token()), account("acc1")}).status == 404);
  CHECK(f.get(kKeys + "/not-a-uuid", admin_token()).status == 400);
  CHECK(f.get(kKeys + "/" + id + "/x", admin_token()).status == 404);
}

TEST_CASE("bad uploads are 400 with the reason", "[pgp][server]") {
  ServerFixture f;
  for (const char* name : {"signonly.asc", "expired.asc", "revoked.asc", "secret.asc", "two.asc"}) {
    INFO(name);
    auto r = upload(f, test_key(name));
    CHECK(r.status == 400);
    CHECK(r.json()["success"] == false);
  }
  CHECK(upload(f, "garbage").status == 400);
  CHECK(upload(f, "").status == 400);
  CHECK(f.get(kKeys, admin_token()).json()["publicKeys"] == json::array());
  // The secret key's material is not echoed.
  CHECK(read_text(f.audit_path).find("PRIVATE") == std::string::npos);
}

TEST_CASE("a key an account config uses cannot be deleted (409)", "[pgp][server]") {
  ServerFixture f;
  auto id = upload(f, test_key("ed25519.asc")).json()["publicKeyId"].get<std::string>();
  auto put = f.put_config({{"enabled", true}, {"public_key_id", id}});
  REQUIRE(put.status == 200);
  CHECK(put.json()["config"]["public_key_id"] == id);
  auto del = http(f.socket, "DELETE", kKeys + "/" + id, {bearer(admin_token()), account("acc1")});
  CHECK(del.status == 409);
  CHECK_THAT(del.json()["message"].get<std::string>(), Catch::Contains("in use"));
  CHECK(f.get(kKeys + "/" + id, admin_token()).status == 200);
  // Clearing the reference allows the delete.
  REQUIRE(f.put_config({{"enabled", true}, {"public_key_id", ""}}).status == 200);
  CHECK(http(f.socket, "DELETE", kKeys + "/" + id, {bearer(admin_token()), account("acc1")}).status == 200);
}

TEST_CASE("a config may not name another account's key or an unknown one", "[pgp][server]") {
  ServerFixture f;
  auto id = upload(f, test_key("rsa.asc"), "acc2").json()["publicKeyId"].get<std::string>();
  CHECK(f.put_config({{"enabled", true}, {"public_key_id", id}}, "acc1").status == 400);
  CHECK(f.put_config({{"enabled", true}, {"public_key_id", "00000000-0000-4000-8000-000000000000"}}).status == 400);
}

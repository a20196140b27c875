// GET/PUT /api/v2/config/call_recording_encryption over the real socket and a
// real keystore: every rule of ../shared/seeds/call-recording-encryption-config-api.txt.
#include <catch2/catch.hpp>

#include <regex>

#include "server_fixture.hpp"

using namespace recvault::control;
using namespace recvault::control::testing;
using nlohmann::json;

namespace {
const std::string kKey1 = "my_secure_encryption_key_at_least_32_characters_long";
const std::string kKey2 = "new_encryption_key_plain_text_at_least_32_characters_long";
const std::string kSalt1 = "unique_random_value_for_account_001";
const std::string kSalt2 = "bmV3X3NhbHRfZm9yX3ZlcnNpb25fMg==";

json ok_config(const Reply& r) {
  REQUIRE(r.status == 200);
  auto j = r.json();
  CHECK(j["success"] == true);
  return j["config"];
}
}  // namespace

TEST_CASE("an account never configured answers {success: true, config: {}}", "[config]") {
  ServerFixture f;
  auto r = f.get_config("fresh-account");
  REQUIRE(r.status == 200);
  CHECK(r.json() == json{{"success", true}, {"config", json::object()}});
}

TEST_CASE("enabled: true alone auto-generates key, salt, key_id and version 1", "[config]") {
  ServerFixture f;
  auto r = f.put_config({{"enabled", true}}, "b02d27af63xyz");
  REQUIRE(r.status == 200);
  auto j = r.json();
  CHECK(j["success"] == true);
  CHECK(j["message"] == "Encryption configuration updated successfully");
  auto c = j["config"];
  CHECK(c["enabled"] == true);
  CHECK(c["algorithm"] == "AES-256-GCM");
  CHECK(c["key_version"] == 1);
  CHECK(c["key_id"].get<std::string>().rfind("key_auto_b02d27af", 0) == 0);
  CHECK(std::regex_match(c["key"].get<std::string>(), std::regex("[0-9a-f]{64}")));
  CHECK(std::regex_match(c["salt"].get<std::string>(), std::regex("[A-Za-z0-9+/]{22}==")));
  CHECK(c["historical_keys"] == json::object());
  CHECK(c["historical_salts"] == json::object());
  CHECK(ok_config(f.get_config("b02d27af63xyz")) == c);
  // Another account gets different random values.
  auto other = ok_config(f.put_config({{"enabled", true}}, "acc2"));
  CHECK(other["key"] != c["key"]);
  CHECK(other["salt"] != c["salt"]);
}

TEST_CASE("user-supplied key, salt and algorithm are stored and returned", "[config]") {
  ServerFixture f;
  for (const char* alg : {"AES-256-GCM", "AES-256-CBC"}) {
    auto c = ok_config(f.put_config({{"enabled", true}, {"algorithm", alg}, {"salt", kSalt1}, {"key", kKey1}},
                                    std::string("acc-") + alg));
    CHECK(c["algorithm"] == alg);
    CHECK(c["key"] == kKey1);
    CHECK(c["salt"] == kSalt1);
    CHECK(c["key_version"] == 1);
  }
}

TEST_CASE("validation rules are 400 with a reason", "[config]") {
  ServerFixture f;
  std::vector<json> bad = {
      {{"enabled", true}, {"key", "too_short_key_31_characters_xx"}},
      {{"enabled", true}, {"key", "default"}},
      {{"enabled", true}, {"key", "test"}},
      {{"enabled", true}, {"key", "default_encrypted_key"}},
      {{"enabled", true}, {"salt", "default_salt"}},
      {{"enabled", true}, {"algorithm", "AES-128-ECB"}},
      {{"algorithm", "AES-256-GCM"}},
      {{"enabled", "true"}},
      {{"enabled", true}, {"key", 123}},
      {{"enabled", true}, {"salt", json::array()}},
      {{"enabled", true}, {"salts", "typo"}},
  };
  for (const auto& body : bad) {
    INFO(body.dump());
    auto r = f.put_config(body);
    CHECK(r.status == 400);
    auto j = r.json();
    CHECK(j["success"] == false);
    CHECK(!j["message"].get<std::string>().empty());
    if (body.contains("key") && body["key"].is_string() && body["key"].get<std::string>().size() > 20)
      CHECK(j["message"].get<std::string>().find(body["key"].get<std::string>()) == std::string::npos);
  }
  // Nothing was stored by the rejected requests.
  CHECK(ok_config(f.get_config()) == json::object());
}

TEST_CASE("key_version and key_id in a request are read-only", "[config]") {
  ServerFixture f;
  auto c = ok_config(f.put_config({{"enabled", true},
                                   {"algorithm", "AES-256-GCM"},
                                   {"key_version", 7},
                                   {"key_id", "key_production_001"},
                                   {"salt", kSalt1},
                                   {"key", kKey1}}));
  CHECK(c["key_version"] == 1);
  CHECK(c["key_id"] != "key_production_001");
}

TEST_CASE("rotation: a new key or salt bumps the version and keeps both old values", "[config]") {
  ServerFixture f;
  auto v1 = ok_config(f.put_config({{"enabled", true}, {"salt", kSalt1}, {"key", kKey1}}));
  SECTION("same key and salt: no new version") {
    auto same = ok_config(f.put_config({{"enabled", true}, {"salt", kSalt1}, {"key", kKey1}}));
    CHECK(same["key_version"] == 1);
    CHECK(same["historical_keys"] == json::object());
  }
  SECTION("new key and salt") {
    auto v2 =
        ok_config(f.put_config({{"enabled", true}, {"algorithm", "AES-256-GCM"}, {"salt", kSalt2}, {"key", kKey2}}));
    CHECK(v2["key_version"] == 2);
    CHECK(v2["key"] == kKey2);
    CHECK(v2["salt"] == kSalt2);
    CHECK(v2["historical_keys"] == json{{"1", kKey1}});
    CHECK(v2["historical_salts"] == json{{"1", kSalt1}});
    CHECK(v2["key_id"] == v1["key_id"]);
  }
  SECTION("only the key changes: the old salt is preserved too") {
    auto v2 = ok_config(f.put_config({{"enabled", true}, {"key", kKey2}}));
    CHECK(v2["key_version"] == 2);
    CHECK(v2["historical_keys"] == json{{"1", kKey1}});
    CHECK(v2["historical_salts"] == json{{"1", kSalt1}});
  }
  SECTION("only the salt changes: the old key is preserved too") {
    auto v2 = ok_config(f.put_config({{"enabled", true}, {"salt", kSalt2}}));
    CHECK(v2["key_version"] == 2);
    CHECK(v2["key"] == kKey1);
    CHECK(v2["historical_keys"] == json{{"1", kKey1}});
    CHECK(v2["historical_salts"] == json{{"1", kSalt1}});
    auto v3 = ok_config(f.put_config({{"enabled", true}, {"key", kKey2}}));
    CHECK(v3["key_version"] == 3);
    CHECK(v3["historical_keys"].size() == 2);
    CHECK(v3["historical_salts"]["2"] == kSalt2);
  }
}

TEST_CASE("disable preserves the key material; re-enable reuses it", "[config]") {
  ServerFixture f;
  auto v1 = ok_config(f.put_config({{"enabled", true}}));
  auto off = ok_config(f.put_config({{"enabled", false}}));
  CHECK(off["enabled"] == false);
  CHECK(off["key"] == v1["key"]);
  CHECK(off["salt"] == v1["salt"]);
  CHECK(off["key_id"] == v1["key_id"]);
  CHECK(off["key_version"] == 1);
  CHECK(ok_config(f.get_config())["enabled"] == false);
  auto on = ok_config(f.put_config({{"enabled", true}}));
  CHECK(on["enabled"] == true);
  CHECK(on["key"] == v1["key"]);
  CHECK(on["salt"] == v1["salt"]);
  CHECK(on["key_version"] == 1);
}

TEST_CASE("accounts are isolated", "[config]") {
  ServerFixture f;
  auto a = ok_config(f.put_config({{"enabled", true}, {"key", kKey1}}, "acc1"));
  CHECK(ok_config(f.get_config("acc2")) == json::object());
  auto b = ok_config(f.put_config({{"enabled", true}}, "acc2"));
  CHECK(b["key"] != a["key"]);
  CHECK(ok_config(f.get_config("acc1"))["key"] == kKey1);
}

TEST_CASE("a read token gets the config with every key masked; admin gets the seed's response", "[config][mask]") {
  ServerFixture f;
  ok_config(f.put_config({{"enabled", true}, {"salt", kSalt1}, {"key", kKey1}}));
  auto v2 = ok_config(f.put_config({{"enabled", true}, {"salt", kSalt2}, {"key", kKey2}}));

  // Admin: exactly the seed's shape, keys included.
  auto admin = f.get_config();
  REQUIRE(admin.status == 200);
  CHECK(admin.json() == json{{"success", true}, {"config", v2}});
  CHECK(admin.body.find(kKey2) != std::string::npos);

  // Read: same fields, keys null, salts kept, and a flag saying so.
  auto r = f.get("/api/v2/config/call_recording_encryption", read_token());
  REQUIRE(r.status == 200);
  CHECK(r.body.find(kKey1) == std::string::npos);
  CHECK(r.body.find(kKey2) == std::string::npos);
  auto body = r.json();
  CHECK(body["success"] == true);
  CHECK(body["keys_masked"] == true);
  const json& c = body["config"];
  CHECK(c["key"].is_null());
  CHECK(c["historical_keys"] == json{{"1", nullptr}});
  CHECK(c["salt"] == kSalt2);
  CHECK(c["historical_salts"] == json{{"1", kSalt1}});
  CHECK(c["key_version"] == 2);
  CHECK(c["key_id"] == v2["key_id"]);
  CHECK(c["enabled"] == true);
  CHECK(c["algorithm"] == "AES-256-GCM");
  std::vector<std::string> admin_fields, read_fields;
  for (const auto& [k, v] : v2.items()) admin_fields.push_back(k);
  for (const auto& [k, v] : c.items()) read_fields.push_back(k);
  CHECK(read_fields == admin_fields);

  // A masked config sent back as a PUT changes nothing (null = not provided).
  json round_trip = {{"enabled", c["enabled"]}, {"algorithm", c["algorithm"]}, {"salt", c["salt"]}, {"key", c["key"]}};
  CHECK(ok_config(f.put_config(round_trip))["key_version"] == 2);

  // Never configured: read tokens still see `{}`, marked as masked.
  auto empty = f.get("/api/v2/config/call_recording_encryption", read_token(), "acc9").json();
  CHECK(empty["config"] == json::object());
  CHECK(empty["keys_masked"] == true);
}

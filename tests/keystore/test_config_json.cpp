// Request parsing and the seed's response shape.
//   R4 "enabled (Required)" — "Type: Boolean (true or false)"
//   R8 "key_version and key_id are automatically managed by the backend and
//      should not be provided in the request" — yet the seed's Step 3 and
//      "Production Configuration" examples send them: accepted, ignored.
//   D2 unknown fields are rejected.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "keystore_test_util.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;
using nlohmann::json;

namespace {
Error rejected(const json& body) {
  auto r = parse_update_request(body);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK_FALSE(r.error().message.empty());
  return r.error();
}
}  // namespace

TEST_CASE("R4: enabled missing is rejected", "[json]") {
  Error e = rejected(json{{"algorithm", "AES-256-GCM"}, {"key", kKey1}});
  CHECK(e.message.find("enabled") != std::string::npos);
  CHECK(e.message.find(kKey1) == std::string::npos);
}

TEST_CASE("R4: enabled of the wrong type is rejected", "[json]") {
  for (const json& v : {json("true"), json(1), json(nullptr), json::array(), json::object()})
    rejected(json{{"enabled", v}});
}

TEST_CASE("Other fields of the wrong type are rejected", "[json]") {
  rejected(json{{"enabled", true}, {"algorithm", 5}});
  rejected(json{{"enabled", true}, {"key", 12345}});
  rejected(json{{"enabled", true}, {"salt", json::array()}});
  rejected(json{{"enabled", true}, {"public_key_id", false}});
  rejected(json::array());
  rejected(json("enabled"));
}

TEST_CASE("R3 via JSON: unknown algorithm rejected", "[json]") {
  rejected(json{{"enabled", true}, {"algorithm", "AES-128-CBC"}});
  auto ok = parse_update_request(json{{"enabled", true}, {"algorithm", "AES-256-CBC"}});
  REQUIRE(ok);
  CHECK(ok->algorithm == format::Algorithm::aes256_cbc_hmac);
}

TEST_CASE("R5/R6/R7 via JSON: short key, weak key, default salt rejected without echoing them", "[json]") {
  Error shortk = rejected(json{{"enabled", true}, {"key", "Xk29_short_but_random_31_chars!"}});
  CHECK(shortk.message.find("Xk29") == std::string::npos);
  Error weak = rejected(json{{"enabled", true}, {"key", "default_encrypted_key"}});
  CHECK(weak.message.find("default_encrypted_key") == std::string::npos);
  rejected(json{{"enabled", true}, {"key", "test"}});
  rejected(json{{"enabled", true}, {"salt", "default_salt"}});
}

TEST_CASE("R8: key_version and key_id in a request are ignored, never applied", "[json]") {
  // The seed's "Production Configuration" body, verbatim.
  json body = json::parse(R"({
    "enabled": true,
    "algorithm": "AES-256-GCM",
    "key_version": 1,
    "key_id": "key_production_account_001",
    "salt": "unique_production_salt_2024",
    "key": "production_encryption_key_value_at_least_32_characters"
  })");
  auto r = parse_update_request(body);
  REQUIRE(r);
  CHECK(r->ignored_fields == std::vector<std::string>{"key_id", "key_version"});
  AccountConfig c = apply_update(std::nullopt, *r, "acct_001", fixed_clock()).value();
  CHECK(c.key_id == "key_auto_acct_001");
  CHECK(c.key_version == 1);
  // A later request claiming another version does not move it.
  body["key_version"] = 7;
  body["key_id"] = "key_forged";
  AccountConfig again = apply_update(c, parse_update_request(body).value(), "acct_001", fixed_clock()).value();
  CHECK(again.key_version == 1);
  CHECK(again.key_id == "key_auto_acct_001");
}

TEST_CASE("R8: historical maps in a request are read-only too", "[json]") {
  auto r = parse_update_request(
      json{{"enabled", true}, {"historical_keys", {{"1", kKey1}}}, {"historical_salts", json::object()}});
  REQUIRE(r);
  CHECK(r->ignored_fields.size() == 2);
  CHECK_FALSE(r->key);
}

TEST_CASE("D2: unknown fields are rejected", "[json]") {
  Error e = rejected(json{{"enabled", true}, {"salts", "unique_salt_value"}});
  CHECK(e.message.find("salts") != std::string::npos);
}

TEST_CASE("null means not provided for optional fields", "[json]") {
  auto r = parse_update_request(json{{"enabled", true}, {"key", nullptr}, {"salt", nullptr}, {"algorithm", nullptr}});
  REQUIRE(r);
  CHECK_FALSE(r->key);
  CHECK_FALSE(r->salt);
  CHECK_FALSE(r->algorithm);
}

TEST_CASE("to_json gives exactly the seed's response shape", "[json]") {
  AccountConfig v1 = apply_update(std::nullopt,
                                  req(true, "1a2b3c4d5e6f7890abcdef1234567890abcdef1234567890abcdef1234567890",
                                      "KxY9mP2qR8vN3wT6sA7bC4dF1gH8j="),
                                  "your_account_id", fixed_clock())
                         .value();
  json j1 = to_json(v1);
  CHECK(j1 == json::parse(R"({
    "enabled": true, "algorithm": "AES-256-GCM", "key_version": 1, "key_id": "key_auto_your_acc",
    "salt": "KxY9mP2qR8vN3wT6sA7bC4dF1gH8j=",
    "key": "1a2b3c4d5e6f7890abcdef1234567890abcdef1234567890abcdef1234567890",
    "historical_keys": {}, "historical_salts": {}})"));
  // The seed's rotation example, request and result.
  auto rot = parse_update_request(json::parse(R"({
    "enabled": true, "algorithm": "AES-256-GCM", "salt": "bmV3X3NhbHRfZm9yX3ZlcnNpb25fMg==",
    "key": "new_encryption_key_plain_text_at_least_32_characters_long"})"));
  REQUIRE(rot);
  json j2 = to_json(apply_update(v1, *rot, "your_account_id", fixed_clock()).value());
  CHECK(j2 == json::parse(R"({
    "enabled": true, "algorithm": "AES-256-GCM", "key_version": 2, "key_id": "key_auto_your_acc",
    "salt": "bmV3X3NhbHRfZm9yX3ZlcnNpb25fMg==",
    "key": "new_encryption_key_plain_text_at_least_32_characters_long",
    "historical_keys": {"1": "1a2b3c4d5e6f7890abcdef1234567890abcdef1234567890abcdef1234567890"},
    "historical_salts": {"1": "KxY9mP2qR8vN3wT6sA7bC4dF1gH8j="}})"));
}

TEST_CASE("never configured gives {}; public_key_id appears only when set", "[json]") {
  CHECK(to_json(std::optional<AccountConfig>{}) == json::object());
  UpdateRequest r = req(true);
  r.public_key_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
  AccountConfig c = apply_update(std::nullopt, r, "a", fixed_clock()).value();
  CHECK(to_json(c).at("public_key_id") == "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
  CHECK_FALSE(to_json(apply_update(std::nullopt, req(true), "a", fixed_clock()).value()).contains("public_key_id"));
  json meta = metadata_json(c);
  CHECK(meta.at("created_at") == "2025-10-09T08:53:20Z");
  CHECK(meta.at("activated_at").at("1") == "2025-10-09T08:53:20Z");
}

TEST_CASE("name_encryption: a boolean, off by default, in the response only when on", "[json]") {
  rejected(json{{"enabled", true}, {"name_encryption", "yes"}});
  rejected(json{{"enabled", true}, {"name_encryption", 1}});
  auto off = apply_update(std::nullopt, req(true), "a", fixed_clock()).value();
  CHECK_FALSE(off.name_encryption);
  CHECK_FALSE(to_json(off).contains("name_encryption"));  // the seed's response, unchanged
  auto r = parse_update_request(json{{"enabled", true}, {"name_encryption", true}});
  REQUIRE(r.ok());
  REQUIRE(r->name_encryption);
  auto on = apply_update(off, *r, "a", fixed_clock()).value();
  CHECK(on.name_encryption);
  CHECK(on.key_version == off.key_version);  // no new version
  CHECK(to_json(on).at("name_encryption") == true);
  // Not sending it leaves it as it is.
  auto again = apply_update(on, req(true), "a", fixed_clock()).value();
  CHECK(again.name_encryption);
  auto r2 = parse_update_request(json{{"enabled", true}, {"name_encryption", false}});
  CHECK_FALSE(apply_update(on, *r2, "a", fixed_clock()).value().name_encryption);
}

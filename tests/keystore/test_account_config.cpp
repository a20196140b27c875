// The rules of ../shared/seeds/call-recording-encryption-config-api.txt, one
// test each (pure functions, no database). Seed quotes:
//
//  R1  "When set to true, default values will be applied for other parameters
//       if not specified" / key: "a cryptographically secure 256-bit key as a
//       readable hexadecimal string (64 hex characters)" / salt: "128-bit salt
//       (16 bytes, base64-encoded to 24 characters)" / "format:
//       key_auto_<account_prefix>" / "System automatically sets key_version: 1"
//  R2  algorithm "Default: "AES-256-GCM" (when enabled is true)"
//  R3  algorithm "Supported Values: "AES-256-GCM" ... "AES-256-CBC""
//  R4  enabled "(Required)" — "Type: Boolean (true or false)"
//  R5  key "Minimum Length: Must be at least 32 characters long"
//  R6  key "Values like "default_encrypted_key", "default", "test", or other
//       insecure defaults are rejected"
//  R7  salt "Cannot be "default_salt""
//  R8  "key_version and key_id are automatically managed by the backend and
//       should not be provided in the request" (yet Step 3 sends them)
//  R9  "Provide a new encryption key (different from current) OR a new salt
//       (different from current)" -> "Increments key_version (e.g., 1 → 2)"
//  R10 "Even if you only change key or only change salt, the system will
//       preserve BOTH the old key and old salt in historical maps"
//  R11 "The system maintains the same key_version unless you change key or salt"
//  R12 Disabling: "The system keeps your key, salt, key_id, and key_version
//       even when encryption is disabled"
//  R13 Re-enabling: "the system will keep your current key, salt, and key_id
//       ... and maintain the same version"
//  R14 "Initial Setup ... historical_keys and historical_salts maps are empty"
//  R15 "Preserves all historical keys and salts in their respective maps"
//  R16 user-provided key "plain text ... no base64 needed": returned as given
//  Decision D1: algorithm change alone keeps the version.
#include <catch2/catch.hpp>

#include <regex>

#include "keystore_test_util.hpp"
#include "recvault/util/encoding.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {
AccountConfig must(Result<AccountConfig> r) {
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return std::move(r).value();
}
AccountConfig first(const UpdateRequest& r, std::string_view account = "your_account_id") {
  return must(apply_update(std::nullopt, r, account, fixed_clock()));
}
}  // namespace

TEST_CASE("R1: first enable with no key or salt generates key, salt, key_id and version 1", "[rules]") {
  AccountConfig c = first(req(true));
  CHECK(c.enabled);
  CHECK(c.key_version == 1);
  CHECK(std::regex_match(std::string(c.key.view()), std::regex("^[0-9a-f]{64}$")));
  CHECK(c.salt.size() == 24);
  auto raw = base64_decode(c.salt);
  REQUIRE(raw);
  CHECK(raw->size() == 16);
  CHECK(c.key_id == "key_auto_your_acc");  // the seed's own example
  CHECK(c.activated_at.at(1) == fixed_clock()());
  CHECK(c.created_at == fixed_clock()());
  // Two accounts never get the same generated values.
  AccountConfig d = first(req(true), "other");
  CHECK_FALSE(d.key.equals(c.key));
  CHECK(d.salt != c.salt);
  CHECK(d.key_id == "key_auto_other");
}

TEST_CASE("R1: only the missing half is generated", "[rules]") {
  AccountConfig k = first(req(true, kKey1));
  CHECK(k.key.view() == kKey1);
  CHECK(k.salt.size() == 24);
  AccountConfig s = first(req(true, std::nullopt, "unique_salt_value"));
  CHECK(s.salt == "unique_salt_value");
  CHECK(s.key.size() == 64);
}

TEST_CASE("R2: algorithm defaults to AES-256-GCM", "[rules]") {
  CHECK(first(req(true)).algorithm == format::Algorithm::aes256_gcm);
  CHECK(format::algorithm_name(first(req(true)).algorithm) == "AES-256-GCM");
}

TEST_CASE("R3: only the two algorithm names are accepted", "[rules]") {
  CHECK(format::parse_algorithm("AES-256-GCM") == format::Algorithm::aes256_gcm);
  CHECK(format::parse_algorithm("AES-256-CBC") == format::Algorithm::aes256_cbc_hmac);
  for (const char* bad : {"aes-256-gcm", "AES-128-GCM", "ChaCha20", "", "AES-256-GCM "})
    CHECK_FALSE(format::parse_algorithm(bad));
  UpdateRequest r = req(true);
  r.algorithm = format::Algorithm::aes256_cbc_hmac;
  CHECK(first(r).algorithm == format::Algorithm::aes256_cbc_hmac);
}

TEST_CASE("R5: a key shorter than 32 characters is rejected", "[rules]") {
  auto r = apply_update(std::nullopt, req(true, "Xk29_short_but_random_31_chars!"), "a", fixed_clock());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().message.find("32") != std::string::npos);
  CHECK(validate_key(std::string(32, 'x').replace(0, 8, "Ab3$Qz9!")).ok());
}

TEST_CASE("R6: insecure default and weak keys are rejected, case-insensitively", "[rules]") {
  for (std::string weak : std::vector<std::string>{
           "default_encrypted_key", "default", "test", "DEFAULT_ENCRYPTED_KEY", "Test",
           "default_encrypted_key_padded_to_be_long_enough", "test_key_that_is_long_enough_for_the_length_rule",
           "MyPassword_is_long_enough_for_32_characters", "changeme_changeme_changeme_changeme", std::string(40, 'a'),
           std::string(64, '0'), "abababababababababababababababababab", "0123456789abcdef0123456789abcdef",
           "1234567890123456789012345678901234567890"}) {
    INFO(weak);
    auto s = validate_key(weak);
    REQUIRE_FALSE(s);
    CHECK(s.error().code == Errc::invalid_argument);
    CHECK(s.error().message.find(weak) == std::string::npos);  // never echoed
  }
  // The seed's own example keys are acceptable.
  for (const char* good : {kKey1, kKey2, kKey3, "my_secure_encryption_key_at_least_32_characters_long",
                           "1a2b3c4d5e6f7890abcdef1234567890abcdef1234567890abcdef1234567890"}) {
    INFO(good);
    CHECK(validate_key(good).ok());
  }
}

TEST_CASE("R7: salt default_salt is rejected; empty salt too", "[rules]") {
  for (const char* bad : {"default_salt", "DEFAULT_SALT", ""}) {
    auto r = apply_update(std::nullopt, req(true, std::nullopt, bad), "a", fixed_clock());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
  }
  CHECK_FALSE(validate_salt(std::string(256, 's')));
  CHECK(validate_salt("unique_salt_value"));
}

TEST_CASE("R9/R10: a new key rotates; the old key AND old salt go to history", "[rules]") {
  AccountConfig v1 = first(req(true, kKey1, "salt_one_value"));
  AccountConfig v2 = must(apply_update(v1, req(true, kKey2), "a", fixed_clock(1'800'000'000)));
  CHECK(v2.key_version == 2);
  CHECK(v2.key.view() == kKey2);
  CHECK(v2.salt == "salt_one_value");  // unchanged salt carried forward
  CHECK(v2.historical_keys.at(1).view() == kKey1);
  CHECK(v2.historical_salts.at(1) == "salt_one_value");
  CHECK(v2.activated_at.at(2) == fixed_clock(1'800'000'000)());
  CHECK(v2.key_id == v1.key_id);
}

TEST_CASE("R9/R10: a new salt alone rotates and keeps the key; both old values go to history", "[rules]") {
  AccountConfig v1 = first(req(true, kKey1, "salt_one_value"));
  AccountConfig v2 =
      must(apply_update(v1, req(true, std::nullopt, "bmV3X3NhbHRfZm9yX3ZlcnNpb25fMg=="), "a", fixed_clock()));
  CHECK(v2.key_version == 2);
  CHECK(v2.key.view() == kKey1);
  CHECK(v2.salt == "bmV3X3NhbHRfZm9yX3ZlcnNpb25fMg==");
  CHECK(v2.historical_keys.at(1).view() == kKey1);
  CHECK(v2.historical_salts.at(1) == "salt_one_value");
}

TEST_CASE("R11: sending the same key and salt again creates no version", "[rules]") {
  AccountConfig v1 = first(req(true, kKey1, "salt_one_value"));
  AccountConfig same = must(apply_update(v1, req(true, kKey1, "salt_one_value"), "a", fixed_clock(1'900'000'000)));
  CHECK(same.key_version == 1);
  CHECK(same.historical_keys.empty());
  CHECK(same.updated_at == v1.updated_at);  // nothing changed
}

TEST_CASE("R12: disabling preserves key, salt, key_id and version", "[rules]") {
  AccountConfig v1 = first(req(true, kKey1, "salt_one_value"));
  AccountConfig v2 = must(apply_update(v1, req(true, kKey2), "a", fixed_clock()));
  AccountConfig off = must(apply_update(v2, req(false), "a", fixed_clock()));
  CHECK_FALSE(off.enabled);
  CHECK(off.key_version == 2);
  CHECK(off.key.view() == kKey2);
  CHECK(off.salt == v2.salt);
  CHECK(off.key_id == v2.key_id);
  CHECK(off.historical_keys.at(1).view() == kKey1);
}

TEST_CASE("R13: re-enabling without key or salt preserves them and the version", "[rules]") {
  AccountConfig v1 = first(req(true));
  AccountConfig off = must(apply_update(v1, req(false), "a", fixed_clock()));
  AccountConfig on = must(apply_update(off, req(true), "a", fixed_clock()));
  CHECK(on.enabled);
  CHECK(on.key_version == 1);
  CHECK(on.key.equals(v1.key));
  CHECK(on.salt == v1.salt);
  CHECK(on.key_id == v1.key_id);
}

TEST_CASE("R13: re-enabling with a new key rotates", "[rules]") {
  AccountConfig v1 = first(req(true, kKey1));
  AccountConfig off = must(apply_update(v1, req(false), "a", fixed_clock()));
  AccountConfig on = must(apply_update(off, req(true, kKey2), "a", fixed_clock()));
  CHECK(on.key_version == 2);
  CHECK(on.historical_keys.at(1).view() == kKey1);
}

TEST_CASE("R14: after initial setup the historical maps are empty", "[rules]") {
  AccountConfig c = first(req(true, kKey1, "unique_salt_value"));
  CHECK(c.historical_keys.empty());
  CHECK(c.historical_salts.empty());
}

TEST_CASE("R15: many rotations keep every historical key and salt", "[rules]") {
  AccountConfig c = first(req(true, kKey1, "salt-0"));
  for (int i = 1; i <= 20; ++i)
    c = must(apply_update(c, req(true, std::string(kKey2) + "-" + std::to_string(i), "salt-" + std::to_string(i)), "a",
                          fixed_clock()));
  CHECK(c.key_version == 21);
  REQUIRE(c.historical_keys.size() == 20);
  REQUIRE(c.historical_salts.size() == 20);
  CHECK(c.historical_keys.at(1).view() == kKey1);
  CHECK(c.historical_salts.at(1) == "salt-0");
  for (std::uint32_t v = 2; v <= 20; ++v) {
    CHECK(c.historical_keys.at(v).view() == std::string(kKey2) + "-" + std::to_string(v - 1));
    CHECK(c.historical_salts.at(v) == "salt-" + std::to_string(v - 1));
  }
  CHECK(c.activated_at.size() == 21);
}

TEST_CASE("R16: a user-provided key is kept as plain text", "[rules]") {
  CHECK(first(req(true, kKey3)).key.view() == kKey3);
}

TEST_CASE("D1: an algorithm change alone does not create a version", "[rules]") {
  AccountConfig v1 = first(req(true, kKey1));
  UpdateRequest r = req(true);
  r.algorithm = format::Algorithm::aes256_cbc_hmac;
  AccountConfig c = must(apply_update(v1, r, "a", fixed_clock(1'900'000'000)));
  CHECK(c.key_version == 1);
  CHECK(c.algorithm == format::Algorithm::aes256_cbc_hmac);
  CHECK(c.updated_at == fixed_clock(1'900'000'000)());
}

TEST_CASE("Disabling a never-configured account stores no key material; enabling later generates", "[rules]") {
  AccountConfig off = first(req(false));
  CHECK_FALSE(off.enabled);
  CHECK(off.key_version == 0);
  CHECK(off.key.empty());
  CHECK(off.key_id.empty());
  AccountConfig on = must(apply_update(off, req(true), "acct", fixed_clock()));
  CHECK(on.key_version == 1);
  CHECK(on.key.size() == 64);
  CHECK(on.key_id == "key_auto_acct");
}

TEST_CASE("key_id prefix rule: key_auto_ + first 8 characters of the account id", "[rules]") {
  CHECK(auto_key_id("your_account_id") == "key_auto_your_acc");
  CHECK(auto_key_id("b02d27af63e14c55") == "key_auto_b02d27af");
  CHECK(auto_key_id("abc") == "key_auto_abc");
}

TEST_CASE("public_key_id must be a UUID or empty; it is normalised to lowercase", "[rules]") {
  UpdateRequest r = req(true);
  r.public_key_id = "not-a-uuid";
  CHECK_FALSE(apply_update(std::nullopt, r, "a", fixed_clock()));
  r.public_key_id = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";
  CHECK(first(r).public_key_id == "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
  AccountConfig c = first(r);
  r.public_key_id = "";
  CHECK(must(apply_update(c, r, "a", fixed_clock())).public_key_id.empty());
}

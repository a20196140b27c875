#include <catch2/catch.hpp>

#include <set>

#include "recvault/keystore/account_id.hpp"
#include "recvault/keystore/uuid.hpp"

using namespace recvault;
using namespace recvault::keystore;

TEST_CASE("account ids: charset, length, dots", "[account_id]") {
  for (const char* good : {"your_account_id", "a", "ACME-01.prod", "b02d27af63", "a..b", "x-"}) {
    INFO(good);
    CHECK(validate_account_id(good).ok());
  }
  CHECK(validate_account_id(std::string(64, 'a')).ok());
  for (std::string bad : {std::string(), std::string("."), std::string(".."), std::string(".hidden"),
                          std::string("../etc"), std::string("a/b"), std::string("a b"), std::string("a\0b", 3),
                          std::string("ümlaut"), std::string(65, 'a'), std::string("a%2f")}) {
    INFO(bad);
    auto s = validate_account_id(bad);
    REQUIRE_FALSE(s);
    CHECK(s.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("uuid v4: syntax, version and variant bits, uniqueness", "[uuid]") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string u = generate_uuid_v4().value();
    REQUIRE(is_uuid(u));
    CHECK(u[14] == '4');
    CHECK(std::string("89ab").find(u[19]) != std::string::npos);
    for (char c : u) CHECK_FALSE((c >= 'A' && c <= 'F'));
    seen.insert(u);
  }
  CHECK(seen.size() == 200);
  CHECK(is_uuid("3F2504E0-4F89-41D3-9A0C-0305E82C3301"));
  CHECK_FALSE(is_uuid("3f2504e0-4f89-41d3-9a0c-0305e82c330"));
  CHECK_FALSE(is_uuid("3f2504e0x4f89-41d3-9a0c-0305e82c3301"));
  CHECK_FALSE(is_uuid("3f2504e0-4f89-41d3-9a0c-0305e82c330g"));
}

#include <catch2/catch.hpp>

#include "keystore_test_util.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/keystore/uuid.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {
const std::string kArmored =
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmDMEZ\xff\x00 bytes kept exactly\n-----END PGP PUBLIC KEY "
    "BLOCK-----\n";
}

TEST_CASE("public keys: add, get, list by account, exact bytes, UUID v4", "[public_keys]") {
  TempDir dir;
  auto s = open_test_store(dir.path(), test_master()).value();
  std::string armored(kArmored.data(), kArmored.size());
  armored.push_back('\0');
  auto a = s->add_public_key("acct", armored, "0123456789ABCDEF0123456789ABCDEF01234567");
  REQUIRE(a);
  CHECK(is_uuid(a->id));
  CHECK(a->id[14] == '4');
  REQUIRE(s->add_public_key("acct", "second", "FPR2"));
  REQUIRE(s->add_public_key("other", "third", "FPR3"));
  auto got = s->get_public_key(a->id);
  REQUIRE(got);
  CHECK(got->armored == armored);
  CHECK(got->account == "acct");
  CHECK(got->fingerprint == "0123456789ABCDEF0123456789ABCDEF01234567");
  CHECK(s->list_public_keys("acct").value().size() == 2);
  CHECK(s->list_public_keys("other").value().size() == 1);
  CHECK(s->list_public_keys("nobody").value().empty());
  auto missing = s->get_public_key("3f2504e0-4f89-41d3-9a0c-0305e82c3301");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  CHECK(s->get_public_key("../../etc").error().code == Errc::invalid_argument);
  CHECK_FALSE(s->add_public_key("acct", "", "FPR"));
  CHECK_FALSE(s->add_public_key("acct", "key", ""));
  CHECK_FALSE(s->add_public_key("acct", "key", "bad\nfpr"));
  CHECK_FALSE(s->add_public_key("..", "key", "FPR"));
}

TEST_CASE("public keys: accounts_using and refusable delete", "[public_keys]") {
  TempDir dir;
  auto s = open_test_store(dir.path(), test_master()).value();
  auto k = s->add_public_key("acct", kArmored, "FPR").value();
  UpdateRequest r = req(true);
  r.public_key_id = k.id;
  auto c = s->update_config("acct", r);
  REQUIRE(c);
  CHECK(c->public_key_id == k.id);
  CHECK(s->get_config("acct").value()->public_key_id == k.id);
  CHECK(s->accounts_using(k.id).value() == std::vector<std::string>{"acct"});

  auto refused = s->delete_public_key(k.id);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::conflict);
  CHECK(refused.error().message.find("acct") != std::string::npos);
  CHECK(s->get_public_key(k.id));

  r.public_key_id = "";
  REQUIRE(s->update_config("acct", r));
  CHECK(s->accounts_using(k.id).value().empty());
  REQUIRE(s->delete_public_key(k.id));
  CHECK(s->get_public_key(k.id).error().code == Errc::not_found);
  CHECK(s->delete_public_key(k.id).error().code == Errc::not_found);
}

TEST_CASE("public keys: forced delete; config may only name an own, existing key", "[public_keys]") {
  TempDir dir;
  auto s = open_test_store(dir.path(), test_master()).value();
  auto mine = s->add_public_key("acct", kArmored, "FPR").value();
  auto theirs = s->add_public_key("other", kArmored, "FPR").value();
  UpdateRequest r = req(true);
  r.public_key_id = theirs.id;
  auto foreign = s->update_config("acct", r);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().code == Errc::invalid_argument);
  r.public_key_id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
  CHECK_FALSE(s->update_config("acct", r));
  CHECK_FALSE(s->get_config("acct").value().has_value());  // nothing written
  r.public_key_id = mine.id;
  REQUIRE(s->update_config("acct", r));
  REQUIRE(s->delete_public_key(mine.id, /*force=*/true));
  CHECK(s->get_public_key(mine.id).error().code == Errc::not_found);
}

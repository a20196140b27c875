// The LMDB store: round trips, one transaction per update, encryption at
// rest, corruption, map full, wrong master key, schema.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "keystore_test_util.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/store.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {
std::unique_ptr<Store> open_store(const std::filesystem::path& dir, StoreOptions o = {}) {
  if (!o.clock) o.clock = fixed_clock();
  auto s = open_test_store(dir, test_master(), std::move(o));
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s);
  return std::move(s).value();
}
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

TEST_CASE("store: never configured is distinguishable, update persists across reopen", "[store]") {
  TempDir dir;
  {
    auto s = open_store(dir.path());
    auto none = s->get_config("your_account_id");
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    auto c = s->update_config("your_account_id", req(true, kKey1, "salt_one_value"));
    REQUIRE(c);
    CHECK(c->key_version == 1);
    REQUIRE(s->update_config("your_account_id", req(true, kKey2)));
  }
  auto s = open_store(dir.path());
  auto c = s->get_config("your_account_id");
  REQUIRE(c);
  REQUIRE(c->has_value());
  const AccountConfig& cfg = **c;
  CHECK(cfg.enabled);
  CHECK(cfg.key_version == 2);
  CHECK(cfg.key.view() == kKey2);
  CHECK(cfg.salt == "salt_one_value");
  CHECK(cfg.key_id == "key_auto_your_acc");
  CHECK(cfg.historical_keys.at(1).view() == kKey1);
  CHECK(cfg.historical_salts.at(1) == "salt_one_value");
  CHECK(cfg.activated_at.size() == 2);
  auto v1 = s->get_version("your_account_id", 1);
  REQUIRE(v1);
  CHECK(v1->key.view() == kKey1);
  auto v3 = s->get_version("your_account_id", 3);
  REQUIRE_FALSE(v3);
  CHECK(v3.error().code == Errc::key_unavailable);
  CHECK(s->list_accounts().value() == std::vector<std::string>{"your_account_id"});
}

TEST_CASE("store: name_encryption persists, and the key cache answers it with every version's salt", "[store]") {
  TempDir dir;
  {
    auto s = open_store(dir.path());
    REQUIRE(s->update_config("acct", req(true, kKey1, "salt_one_value")));
    auto on = req(true);
    on.name_encryption = true;
    REQUIRE(s->update_config("acct", on));
    REQUIRE(s->update_config("acct", req(true, kKey2)));  // a rotation keeps it
  }
  auto s = open_store(dir.path());
  auto c = s->get_config("acct");
  REQUIRE(c);
  REQUIRE(c->has_value());
  CHECK((*c)->name_encryption);
  CHECK((*c)->key_version == 2);
  KeyCacheOptions options;
  options.kdf = {10, 8, 1};
  options.prefetch_threads = 0;
  KeyCache keys(*s, options);
  auto cur = keys.current("acct");
  REQUIRE(cur);
  CHECK(cur->name_encryption);
  CHECK(cur->salts == std::map<std::uint32_t, std::string>{{1, "salt_one_value"}, {2, "salt_one_value"}});
  // Disabled: names are no longer encrypted, whatever the setting says.
  REQUIRE(s->update_config("acct", req(false)));
  auto off = keys.current("acct");
  REQUIRE(off);
  CHECK_FALSE(off->name_encryption);
  CHECK((*s->get_config("acct"))->name_encryption);
}

TEST_CASE("store: key material is encrypted at rest (no key text or base64 of it in data.mdb)", "[store][lmdb]") {
  TempDir dir;
  {
    auto s = open_store(dir.path());
    REQUIRE(s->update_config("acct", req(true, kKey1, "visible_salt_value")));
  }
  std::string data = slurp(dir / "data.mdb");
  CHECK(data.find(kKey1) == std::string::npos);
  CHECK(data.find("eW91cl9lbmNyeXB0aW9uX2tleV9oZXJl") == std::string::npos);  // base64("your_encryption_key_here")
  CHECK(data.find("key_auto_acct") != std::string::npos);                     // the record itself is there
}

TEST_CASE("store: a wrong master key is refused at open", "[store]") {
  TempDir dir;
  { open_store(dir.path()); }
  auto s = open_test_store(dir.path(), test_master(0x01));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == Errc::wrong_key);
}

TEST_CASE("store: invalid requests and account ids change nothing", "[store]") {
  TempDir dir;
  auto s = open_store(dir.path());
  REQUIRE(s->update_config("acct", req(true, kKey1)));
  auto bad = s->update_config("acct", req(true, "default_encrypted_key"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::invalid_argument);
  auto badid = s->update_config("../etc", req(true));
  REQUIRE_FALSE(badid);
  CHECK(badid.error().code == Errc::invalid_argument);
  CHECK_FALSE(s->get_config(".."));
  CHECK(s->get_config("acct").value()->key.view() == kKey1);
  CHECK(s->list_accounts().value().size() == 1);
}

TEST_CASE("store: same values again write nothing and keep the generation", "[store]") {
  TempDir dir;
  auto s = open_store(dir.path());
  REQUIRE(s->update_config("acct", req(true, kKey1, "salt_value_1")));
  const auto g = s->generation("acct");
  CHECK(g == 1);
  REQUIRE(s->update_config("acct", req(true, kKey1, "salt_value_1")));
  CHECK(s->generation("acct") == g);
  REQUIRE(s->update_config("acct", req(false)));
  CHECK(s->generation("acct") == g + 1);
  CHECK(s->generation("other") == 0);
}

TEST_CASE("store: a corrupted data.mdb is reported at open, no crash", "[store][lmdb]") {
  TempDir dir;
  {
    auto s = open_store(dir.path());
    REQUIRE(s->update_config("acct", req(true)));
  }
  {
    std::ofstream out(dir / "data.mdb", std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 20000; ++i) out << "garbage!";
  }
  auto s = Store::open(dir.path(), test_master());
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("corrupt") != std::string::npos);
}

TEST_CASE("store: MDB_MAP_FULL is a clear error and the store is unchanged", "[store][lmdb]") {
  TempDir dir;
  StoreOptions o;
  o.map_size = 256 * 1024;
  auto s = open_store(dir.path(), o);
  REQUIRE(s->update_config("acct", req(true, kKey1)));
  std::string big(200 * 1024, 'k');
  std::optional<Error> full;
  int added = 0;
  for (int i = 0; i < 10 && !full; ++i) {
    auto r = s->add_public_key("acct", big, "FPR");
    if (r)
      ++added;
    else
      full = r.error();
  }
  REQUIRE(full);
  CHECK(full->code == Errc::io);
  CHECK(full->message.find("full") != std::string::npos);
  CHECK(s->list_public_keys("acct").value().size() == static_cast<std::size_t>(added));
  CHECK(s->get_config("acct").value()->key.view() == kKey1);
  // Still usable afterwards.
  REQUIRE(s->update_config("acct", req(true, kKey2)));
  CHECK(s->get_config("acct").value()->key_version == 2);
}

TEST_CASE("store: read-only open reads and refuses writes", "[store]") {
  TempDir dir;
  { REQUIRE(open_store(dir.path())->update_config("acct", req(true, kKey1))); }
  StoreOptions o;
  o.read_only = true;
  auto s = open_store(dir.path(), o);
  CHECK(s->get_config("acct").value()->key.view() == kKey1);
  CHECK_FALSE(s->update_config("acct", req(true, kKey2)));
  auto empty = open_test_store(dir / "nothing-here", test_master(), o);
  CHECK_FALSE(empty);
}

TEST_CASE("store: check() passes on a healthy store and counts records", "[store]") {
  TempDir dir;
  auto s = open_store(dir.path());
  REQUIRE(s->update_config("a", req(true, kKey1)));
  REQUIRE(s->update_config("a", req(true, kKey2)));
  REQUIRE(s->update_config("b", req(false)));
  REQUIRE(s->add_public_key("a", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...", "ABCD"));
  auto r = s->check();
  REQUIRE(r);
  CHECK(r->ok());
  CHECK(r->accounts == 2);
  CHECK(r->key_versions == 2);
  CHECK(r->public_keys == 1);
}

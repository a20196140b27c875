// The key lifecycle in the store and the key cache (docs/KEYSTORE.md "Key
// lifecycle"): min_decryption_version, legal hold, scheduling, cancelling
// and running a destruction, and what the cache forgets. Runs on LMDB and,
// in keystore-on-etcd, on a real etcd, where a second store on the same
// prefix plays another host.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "keystore_test_util.hpp"
#include "recvault/keystore/key_cache.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;
using Scope = ScheduledDestruction::Scope;

namespace {

// A clock the test moves.
struct TestClock {
  std::shared_ptr<std::atomic<std::int64_t>> now = std::make_shared<std::atomic<std::int64_t>>(1'760'000'000);
  Clock clock() const {
    auto n = now;
    return [n] { return Timestamp(std::chrono::seconds(n->load())); };
  }
  void advance(std::int64_t s) const { now->fetch_add(s); }
  StoreOptions options() const {
    StoreOptions o;
    o.clock = clock();
    return o;
  }
};

UpdateRequest retire(std::uint32_t version, bool enabled = true) {
  UpdateRequest r = req(enabled);
  r.min_decryption_version = version;
  return r;
}

KeyCacheOptions quick_scrypt() {
  KeyCacheOptions o;
  o.kdf = crypto::ScryptParams{10, 8, 1};
  o.prefetch_threads = 0;
  return o;
}

// Three versions: kKey1/salt_1, kKey2/salt_2, kKey3/salt_3.
void three_versions(Store& s) {
  REQUIRE(s.update_config("acct", req(true, kKey1, "salt_1")));
  REQUIRE(s.update_config("acct", req(true, kKey2, "salt_2")));
  REQUIRE(s.update_config("acct", req(true, kKey3, "salt_3")));
}

}  // namespace

TEST_CASE("lifecycle: min_decryption_version is set through an update and refuses older versions in the cache",
          "[lifecycle]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  three_versions(*store);
  KeyCache cache(*store, quick_scrypt());
  REQUIRE(cache.version_key("acct", 1, "salt_1"));

  CHECK(store->update_config("acct", retire(0)).error().code == Errc::invalid_argument);
  CHECK(store->update_config("acct", retire(4)).error().code == Errc::invalid_argument);
  auto c = store->update_config("acct", retire(2));
  REQUIRE(c);
  CHECK(c->min_decryption_version == 2);
  CHECK(c->key_version == 3);  // no rotation
  CHECK(to_json(*c)["min_decryption_version"] == 2);
  auto refused = cache.version_key("acct", 1, "salt_1");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::key_unavailable);
  CHECK(refused.error().message.find("key version 1") != std::string::npos);
  CHECK(refused.error().message.find("min_decryption_version 2") != std::string::npos);
  CHECK(cache.version_key("acct", 2, "salt_2"));
  // Lowering it makes version 1 readable again: retiring destroys nothing.
  REQUIRE(store->update_config("acct", retire(1)));
  CHECK(cache.version_key("acct", 1, "salt_1"));
  // An account that never used the lifecycle answers the seed's object exactly.
  REQUIRE(store->update_config("other", req(true, kKey1, "salt_1")));
  auto plain = to_json(*store->get_config("other").value());
  for (const char* f : {"min_decryption_version", "legal_hold", "destroyed_versions", "scheduled_destruction"})
    CHECK_FALSE(plain.contains(f));
}

TEST_CASE("lifecycle: destruction is scheduled, cancellable, blocked by a legal hold, then destroys the versions",
          "[lifecycle]") {
  TempDir dir;
  TestClock clock;
  auto store = open_test_store(dir.path(), test_master(), clock.options()).value();
  three_versions(*store);
  KeyCache cache(*store, quick_scrypt());
  REQUIRE(cache.version_key("acct", 1, "salt_1"));
  REQUIRE(cache.version_key("acct", 2, "salt_2"));

  // Nothing below min_decryption_version yet: nothing to destroy.
  CHECK(store->schedule_destruction("acct", Scope::versions, std::chrono::seconds(60), "ops").error().code ==
        Errc::conflict);
  CHECK(store->schedule_destruction("nobody", Scope::versions, std::chrono::seconds(60), "ops").error().code ==
        Errc::not_found);
  REQUIRE(store->update_config("acct", retire(3)));

  // Legal hold blocks scheduling.
  REQUIRE(store->set_legal_hold("acct", true).value().legal_hold);
  CHECK(store->schedule_destruction("acct", Scope::versions, std::chrono::seconds(60), "ops").error().code ==
        Errc::conflict);
  REQUIRE_FALSE(store->set_legal_hold("acct", false).value().legal_hold);

  // Schedule, cancel, schedule again.
  auto scheduled = store->schedule_destruction("acct", Scope::versions, std::chrono::seconds(60), "ops");
  REQUIRE(scheduled);
  REQUIRE(scheduled->destruction);
  CHECK(scheduled->destruction->through == 2);
  CHECK(scheduled->destruction->requested_by == "ops");
  auto shown = to_json(*scheduled)["scheduled_destruction"];
  CHECK(shown["versions"] == nlohmann::json::array({1, 2}));
  CHECK(shown["scope"] == "versions");
  CHECK(store->schedule_destruction("acct", Scope::versions, std::chrono::seconds(60), "ops").error().code ==
        Errc::conflict);                                                          // one at a time
  CHECK(store->update_config("acct", retire(2)).error().code == Errc::conflict);  // cancel before lowering
  REQUIRE_FALSE(store->cancel_destruction("acct").value().destruction);
  CHECK(store->cancel_destruction("acct").error().code == Errc::not_found);
  clock.advance(120);
  CHECK(store->run_due_destructions().value().empty());  // cancelled: nothing runs
  REQUIRE(store->schedule_destruction("acct", Scope::versions, std::chrono::seconds(60), "ops"));

  // Not yet due.
  clock.advance(30);
  CHECK(store->run_due_destructions().value().empty());
  // Due, but a hold placed meanwhile stops it.
  REQUIRE(store->set_legal_hold("acct", true));
  clock.advance(60);
  CHECK(store->run_due_destructions().value().empty());
  CHECK(store->get_version("acct", 1));
  REQUIRE(store->set_legal_hold("acct", false));

  const auto gen = store->generation("acct");
  auto done = store->run_due_destructions();
  REQUIRE(done);
  REQUIRE(done->size() == 1);
  CHECK(done->front().account == "acct");
  CHECK(done->front().from == 1);
  CHECK(done->front().through == 2);
  CHECK(store->generation("acct") > gen);
  CHECK(store->run_due_destructions().value().empty());  // once

  // The key material is gone from the store and from the config.
  CHECK(store->get_version("acct", 1).error().code == Errc::key_unavailable);
  CHECK(store->get_version("acct", 2).error().code == Errc::key_unavailable);
  CHECK(store->get_version("acct", 3));
  auto after = store->get_config("acct").value();
  REQUIRE(after);
  CHECK(after->historical_keys.empty());
  CHECK(after->historical_salts.empty());
  CHECK(after->destroyed_through == 2);
  CHECK_FALSE(after->destruction);
  auto j = to_json(*after);
  CHECK(j["historical_keys"] == nlohmann::json::object());
  CHECK(j["destroyed_versions"] == nlohmann::json::array({1, 2}));
  CHECK(j["key"] == kKey3);
  CHECK(store->check().value().ok());

  // The cache forgets the derived keys and says why.
  auto gone = cache.version_key("acct", 1, "salt_1");
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find("destroyed") != std::string::npos);
  CHECK(cache.version_key("acct", 3, "salt_3"));

  // Rotation goes on (version 4); min_decryption_version cannot go back
  // into destroyed versions.
  REQUIRE(store->update_config("acct", req(true, "a_fourth_encryption_key_of_at_least_32_chars", "salt_4")));
  CHECK(store->get_config("acct").value()->key_version == 4);
  CHECK(store->update_config("acct", retire(2)).error().code == Errc::invalid_argument);
}

TEST_CASE("lifecycle: destroying a whole account's keys disables it; enabling again starts a new version",
          "[lifecycle]") {
  TempDir dir;
  TestClock clock;
  auto store = open_test_store(dir.path(), test_master(), clock.options()).value();
  three_versions(*store);
  REQUIRE(store->schedule_destruction("acct", Scope::account, std::chrono::seconds(10), "ops"));
  clock.advance(10);
  auto done = store->run_due_destructions().value();
  REQUIRE(done.size() == 1);
  CHECK(done[0].from == 1);
  CHECK(done[0].through == 3);
  for (std::uint32_t v = 1; v <= 3; ++v) CHECK_FALSE(store->get_version("acct", v));
  auto c = store->get_config("acct").value().value();
  CHECK_FALSE(c.enabled);
  CHECK_FALSE(c.has_key_material());
  auto j = to_json(c);
  CHECK(j["key"].is_null());
  CHECK(j["salt"].is_null());
  CHECK(j["destroyed_versions"] == nlohmann::json::array({1, 2, 3}));
  KeyCache cache(*store, quick_scrypt());
  CHECK_FALSE(cache.current("acct").value().enabled);
  CHECK(store->check().value().ok());
  // Nothing left to destroy.
  CHECK(store->schedule_destruction("acct", Scope::account, std::chrono::seconds(10), "ops").error().code ==
        Errc::conflict);
  // Enabling again: new key material as version 4 (3 is never reused).
  auto again = store->update_config("acct", req(true));
  REQUIRE(again);
  CHECK(again->key_version == 4);
  CHECK(again->enabled);
  CHECK(again->key.size() == 64);
  CHECK(cache.current("acct").value().spec.key_version == 4);
  CHECK(store->check().value().ok());
}

TEST_CASE("lifecycle: on etcd another host's cache forgets a destroyed version through the watch", "[lifecycle]") {
  if (!testing_etcd()) return;  // two stores on one LMDB directory in one process are not allowed
  TempDir dir;
  TestClock clock;
  auto host_a = open_test_store(dir.path(), test_master(), clock.options()).value();
  auto host_b = open_test_store(dir.path(), test_master(), clock.options()).value();
  three_versions(*host_a);
  KeyCache cache_b(*host_b, quick_scrypt());
  // Host b sees the versions through its watch, derives version 1.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!cache_b.version_key("acct", 1, "salt_1") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(cache_b.version_key("acct", 1, "salt_1"));
  REQUIRE(host_a->update_config("acct", retire(3)));
  REQUIRE(host_a->schedule_destruction("acct", Scope::versions, std::chrono::seconds(5), "ops"));
  clock.advance(5);
  REQUIRE(host_a->run_due_destructions().value().size() == 1);
  // Host b's cache stops answering version 1 once its watch saw the change.
  bool forgotten = false;
  while (!forgotten && std::chrono::steady_clock::now() < deadline) {
    auto r = cache_b.version_key("acct", 1, "salt_1");
    forgotten = !r && r.error().message.find("destroyed") != std::string::npos;
    if (!forgotten) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(forgotten);
  CHECK(host_b->get_version("acct", 1).error().code == Errc::key_unavailable);
  CHECK(host_b->run_due_destructions().value().empty());  // already done by host a
}

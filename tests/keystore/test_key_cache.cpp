// KeyCache: derivation once per (account, version), invalidation through the
// store's generation, heavy concurrency.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "keystore_test_util.hpp"
#include "recvault/keystore/key_cache.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {
constexpr crypto::ScryptParams kSmallKdf{10, 8, 1};
// Real scrypt with small parameters.
KeyCacheOptions small_kdf(bool keep_derived = true, unsigned prefetch_threads = 0) {
  KeyCacheOptions o;
  o.kdf = kSmallKdf;
  o.keep_derived = keep_derived;
  o.prefetch_threads = prefetch_threads;
  return o;
}
}  // namespace

TEST_CASE("key cache: current key, derived once, reused", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  KeyCache cache(*store, small_kdf());
  auto a = cache.current("acct");
  REQUIRE(a);
  CHECK(a->enabled);
  CHECK(a->spec.key_version == 1);
  CHECK(a->spec.salt == "salt_value_1");
  CHECK(a->spec.key_id == "key_auto_acct");
  CHECK(a->spec.algorithm == format::Algorithm::aes256_gcm);
  REQUIRE(a->spec.key);
  auto expected = format::VersionKey::derive(kKey1, "salt_value_1", kSmallKdf);
  REQUIRE(expected);
  CHECK(a->spec.key->bytes().equals(expected->bytes()));
  for (int i = 0; i < 10; ++i) CHECK(cache.current("acct")->spec.key == a->spec.key);
  CHECK(cache.version_key("acct", 1, "salt_value_1").value() == a->spec.key);
  CHECK(cache.derivations() == 1);
  CHECK(cache.derivations() == 1);
}

TEST_CASE("key cache: unknown account, missing version, wrong salt", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  KeyCache cache(*store, small_kdf());
  CHECK(cache.current("nobody").error().code == Errc::not_found);
  CHECK(cache.version_key("acct", 2, "salt_value_1").error().code == Errc::key_unavailable);
  CHECK(cache.version_key("acct", 0, "salt_value_1").error().code == Errc::key_unavailable);
  CHECK(cache.version_key("acct", 1, "other_salt").error().code == Errc::key_unavailable);
  REQUIRE(cache.version_key("acct", 1, "salt_value_1"));
  CHECK(cache.version_key("acct", 1, "other_salt").error().code == Errc::key_unavailable);
  CHECK(cache.derivations() == 1);
}

TEST_CASE("key cache: an update through the store invalidates current; old versions stay cached", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  KeyCache cache(*store, small_kdf());
  auto v1 = cache.current("acct").value();
  REQUIRE(store->update_config("acct", req(true, kKey2)));
  auto v2 = cache.current("acct").value();
  CHECK(v2.spec.key_version == 2);
  CHECK(v2.spec.key != v1.spec.key);
  CHECK(cache.version_key("acct", 1, "salt_value_1").value() == v1.spec.key);
  CHECK(cache.derivations() == 2);
  REQUIRE(store->update_config("acct", req(false)));
  auto off = cache.current("acct").value();
  CHECK_FALSE(off.enabled);
  CHECK_FALSE(off.spec.key);
  CHECK(off.spec.key_version == 2);
  REQUIRE(store->update_config("acct", req(true)));
  CHECK(cache.current("acct")->spec.key == v2.spec.key);  // re-enable: same version, no derivation
  CHECK(cache.derivations() == 2);
  cache.invalidate("acct");
  CHECK(cache.current("acct")->spec.key == v2.spec.key);
  CHECK(cache.derivations() == 2);
}

TEST_CASE("key cache: heavy concurrency derives each (account, version) once", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  const std::vector<std::string> accounts = {"a1", "a2", "a3", "a4"};
  for (const auto& a : accounts) {
    REQUIRE(store->update_config(a, req(true, kKey1, "salt_" + a)));
    REQUIRE(store->update_config(a, req(true, kKey2)));
  }
  KeyCache cache(*store, small_kdf());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string& a = accounts[static_cast<std::size_t>(i + t) % accounts.size()];
        auto cur = cache.current(a);
        if (!cur || cur->spec.key_version != 2 || !cur->spec.key) failures.fetch_add(1);
        auto old = cache.version_key(a, 1, "salt_" + a);
        if (!old || !*old) failures.fetch_add(1);
        if (i % 50 == 0) cache.invalidate(a);
      }
    });
  }
  // A writer disabling and re-enabling meanwhile (no new versions).
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) {
      if (!store->update_config("a1", req(true))) failures.fetch_add(1);
    }
  });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(cache.derivations() == accounts.size() * 2);
  CHECK(cache.peak_parallel_derivations() <= 2);
}

TEST_CASE("key cache: a derived key is kept in the keystore; a restart unseals it instead of deriving", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  REQUIRE(store->update_config("acct", req(true, kKey2)));
  const auto before_v1 = store->get_version("acct", 1).value();
  CHECK(before_v1.derived.empty());
  format::VersionKeyPtr first_v1, first_v2;
  {
    KeyCache cache(*store, small_kdf());
    first_v2 = cache.current("acct").value().spec.key;
    first_v1 = cache.version_key("acct", 1, "salt_value_1").value();
    CHECK(cache.derivations() == 2);
    CHECK(cache.restored() == 0);
  }
  // The record kept its key, salt and time, and gained the derived key.
  const auto after_v1 = store->get_version("acct", 1).value();
  CHECK(after_v1.key.equals(before_v1.key));
  CHECK(after_v1.salt == before_v1.salt);
  CHECK(after_v1.activated_at == before_v1.activated_at);
  CHECK(after_v1.derived.equals(first_v1->bytes()));
  CHECK(after_v1.derived_kdf == kSmallKdf);
  CHECK(store->check().value().ok());

  // "Restart": a new cache derives nothing.
  KeyCache restarted(*store, small_kdf());
  CHECK(restarted.current("acct").value().spec.key->bytes().equals(first_v2->bytes()));
  CHECK(restarted.version_key("acct", 1, "salt_value_1").value()->bytes().equals(first_v1->bytes()));
  CHECK(restarted.derivations() == 0);
  CHECK(restarted.restored() == 2);
  // A wrong salt is still refused, from a restored key too.
  CHECK(restarted.version_key("acct", 1, "other_salt").error().code == Errc::key_unavailable);

  // A cache with other KDF parameters does not take a key derived with these.
  KeyCacheOptions other_kdf = small_kdf();
  other_kdf.kdf = crypto::ScryptParams{11, 8, 1};
  KeyCache other(*store, other_kdf);
  auto v1_other = other.version_key("acct", 1, "salt_value_1").value();
  CHECK(other.derivations() == 1);
  CHECK_FALSE(v1_other->bytes().equals(first_v1->bytes()));
}

TEST_CASE("key cache: a read-only store and keep_derived = false keep nothing", "[key_cache]") {
  TempDir dir;
  {
    auto store = open_test_store(dir.path(), test_master()).value();
    REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
    REQUIRE(store->update_config("acct", req(true, kKey2)));
    KeyCache cache(*store, small_kdf(false));
    REQUIRE(cache.current("acct"));
    CHECK(store->get_version("acct", 2).value().derived.empty());
  }
  {
    // keep_derived = false does not use kept keys either (every start derives).
    auto store = open_test_store(dir.path(), test_master()).value();
    {
      KeyCache keeper(*store, small_kdf());
      REQUIRE(keeper.current("acct"));
    }
    REQUIRE_FALSE(store->get_version("acct", 2).value().derived.empty());
    KeyCache cache(*store, small_kdf(false));
    REQUIRE(cache.current("acct"));
    CHECK(cache.derivations() == 1);
    CHECK(cache.restored() == 0);
  }
  StoreOptions ro;
  ro.read_only = true;
  auto store = open_test_store(dir.path(), test_master(), ro).value();
  KeyCache cache(*store, small_kdf());  // uses the kept key (v2); one it derives (v1) it cannot keep
  REQUIRE(cache.current("acct"));
  CHECK(cache.derivations() == 0);
  CHECK(cache.restored() == 1);
  REQUIRE(cache.version_key("acct", 1, "salt_value_1"));
  CHECK(cache.derivations() == 1);
  CHECK(store->get_version("acct", 1).value().derived.empty());
}

TEST_CASE("key cache: prefetch derives in the background; the first request finds the key", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  KeyCache cache(*store, small_kdf(true, 1));
  cache.prefetch("acct");
  cache.prefetch("nobody");  // an error in the background is nobody's: the next request reports it
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (cache.derivations() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(cache.derivations() == 1);
  REQUIRE(cache.current("acct"));
  CHECK(cache.derivations() == 1);
  CHECK(cache.current("nobody").error().code == Errc::not_found);
}

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
// Real scrypt with small parameters, counted.
KeyCache::Deriver counting(std::atomic<int>& calls) {
  auto real = KeyCache::scrypt_deriver(crypto::ScryptParams{10, 8, 1});
  return [&calls, real](std::string_view k, std::string_view s) {
    calls.fetch_add(1);
    return real(k, s);
  };
}
}  // namespace

TEST_CASE("key cache: current key, derived once, reused", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  std::atomic<int> calls{0};
  KeyCache cache(*store, counting(calls));
  auto a = cache.current("acct");
  REQUIRE(a);
  CHECK(a->enabled);
  CHECK(a->spec.key_version == 1);
  CHECK(a->spec.salt == "salt_value_1");
  CHECK(a->spec.key_id == "key_auto_acct");
  CHECK(a->spec.algorithm == format::Algorithm::aes256_gcm);
  REQUIRE(a->spec.key);
  auto expected = format::VersionKey::derive(kKey1, "salt_value_1", crypto::ScryptParams{10, 8, 1});
  REQUIRE(expected);
  CHECK(a->spec.key->bytes().equals(expected->bytes()));
  for (int i = 0; i < 10; ++i) CHECK(cache.current("acct")->spec.key == a->spec.key);
  CHECK(cache.version_key("acct", 1, "salt_value_1").value() == a->spec.key);
  CHECK(calls == 1);
  CHECK(cache.derivations() == 1);
}

TEST_CASE("key cache: unknown account, missing version, wrong salt", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  std::atomic<int> calls{0};
  KeyCache cache(*store, counting(calls));
  CHECK(cache.current("nobody").error().code == Errc::not_found);
  CHECK(cache.version_key("acct", 2, "salt_value_1").error().code == Errc::key_unavailable);
  CHECK(cache.version_key("acct", 0, "salt_value_1").error().code == Errc::key_unavailable);
  CHECK(cache.version_key("acct", 1, "other_salt").error().code == Errc::key_unavailable);
  REQUIRE(cache.version_key("acct", 1, "salt_value_1"));
  CHECK(cache.version_key("acct", 1, "other_salt").error().code == Errc::key_unavailable);
  CHECK(calls == 1);
}

TEST_CASE("key cache: an update through the store invalidates current; old versions stay cached", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_value_1")));
  std::atomic<int> calls{0};
  KeyCache cache(*store, counting(calls));
  auto v1 = cache.current("acct").value();
  REQUIRE(store->update_config("acct", req(true, kKey2)));
  auto v2 = cache.current("acct").value();
  CHECK(v2.spec.key_version == 2);
  CHECK(v2.spec.key != v1.spec.key);
  CHECK(cache.version_key("acct", 1, "salt_value_1").value() == v1.spec.key);
  CHECK(calls == 2);
  REQUIRE(store->update_config("acct", req(false)));
  auto off = cache.current("acct").value();
  CHECK_FALSE(off.enabled);
  CHECK_FALSE(off.spec.key);
  CHECK(off.spec.key_version == 2);
  REQUIRE(store->update_config("acct", req(true)));
  CHECK(cache.current("acct")->spec.key == v2.spec.key);  // re-enable: same version, no derivation
  CHECK(calls == 2);
  cache.invalidate("acct");
  CHECK(cache.current("acct")->spec.key == v2.spec.key);
  CHECK(calls == 2);
}

TEST_CASE("key cache: heavy concurrency derives each (account, version) once", "[key_cache]") {
  TempDir dir;
  auto store = open_test_store(dir.path(), test_master()).value();
  const std::vector<std::string> accounts = {"a1", "a2", "a3", "a4"};
  for (const auto& a : accounts) {
    REQUIRE(store->update_config(a, req(true, kKey1, "salt_" + a)));
    REQUIRE(store->update_config(a, req(true, kKey2)));
  }
  std::atomic<int> calls{0};
  KeyCache cache(*store, counting(calls));
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
  CHECK(calls == static_cast<int>(accounts.size() * 2));
}

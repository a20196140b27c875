// Online backup while writing, restore into a new path, refusals.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "keystore_test_util.hpp"
#include "recvault/keystore/store.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {
std::string key_for(int i) { return std::string(kKey2) + "#" + std::to_string(i); }
}  // namespace

TEST_CASE("backup while another thread writes; the restored store has every version", "[backup]") {
  TempDir dir;
  auto store = open_test_store(dir / "live", test_master()).value();
  REQUIRE(store->update_config("acct", req(true, kKey1, "salt_start")));
  std::atomic<bool> stop{false};
  std::atomic<int> committed{1};
  std::thread writer([&] {
    for (int i = 2; !stop; ++i) {
      if (!store->update_config("acct", req(true, key_for(i)))) break;
      committed = i;
    }
  });
  while (committed < 20) std::this_thread::yield();
  REQUIRE(store->backup(dir / "backup.mdb"));
  const int at_backup_end = committed;
  stop = true;
  writer.join();
  CHECK(store->backup(dir / "backup.mdb").error().code == Errc::conflict);  // never overwrites

  REQUIRE(restore_backup(dir / "backup.mdb", dir / "restored", test_master()));
  auto restored = Store::open(dir / "restored", test_master()).value();
  auto cfg = restored->get_config("acct").value();
  REQUIRE(cfg);
  CHECK(cfg->key_version >= 20);
  CHECK(static_cast<int>(cfg->key_version) <= at_backup_end);
  CHECK(cfg->historical_keys.at(1).view() == kKey1);
  CHECK(cfg->historical_salts.at(1) == "salt_start");
  for (std::uint32_t v = 2; v < cfg->key_version; ++v)
    CHECK(cfg->historical_keys.at(v).view() == key_for(static_cast<int>(v)));
  CHECK(cfg->key.view() == key_for(static_cast<int>(cfg->key_version)));
  CHECK(restored->check().value().ok());
}

TEST_CASE("restore refuses to overwrite a store, and a live store even with force", "[backup][lmdb]") {
  TempDir dir;
  {
    auto store = Store::open(dir / "a", test_master()).value();
    REQUIRE(store->update_config("acct", req(true, kKey1)));
    REQUIRE(store->backup(dir / "a.bak"));
  }
  {
    auto other = Store::open(dir / "b", test_master()).value();
    REQUIRE(other->update_config("acct", req(true, kKey3)));
    auto live = restore_backup(dir / "a.bak", dir / "b", test_master(), /*force=*/true);
    REQUIRE_FALSE(live);
    CHECK(live.error().code == Errc::conflict);
  }
  auto refused = restore_backup(dir / "a.bak", dir / "b", test_master());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::conflict);
  CHECK(Store::open(dir / "b", test_master()).value()->get_config("acct").value()->key.view() == kKey3);

  REQUIRE(restore_backup(dir / "a.bak", dir / "b", test_master(), /*force=*/true));
  CHECK(Store::open(dir / "b", test_master()).value()->get_config("acct").value()->key.view() == kKey1);
  // The replaced store was kept beside it.
  bool kept = false;
  for (const auto& e : std::filesystem::directory_iterator(dir / "b"))
    kept = kept || e.path().filename().string().starts_with("data.mdb.before-restore-");
  CHECK(kept);
}

TEST_CASE("restore verifies the backup first: wrong master key or garbage is refused", "[backup][lmdb]") {
  TempDir dir;
  {
    auto store = Store::open(dir / "a", test_master()).value();
    REQUIRE(store->update_config("acct", req(true)));
    REQUIRE(store->backup(dir / "a.bak"));
  }
  CHECK(restore_backup(dir / "a.bak", dir / "x", test_master(0x01)).error().code == Errc::wrong_key);
  { std::ofstream(dir / "junk.bak") << std::string(100000, 'j'); }
  CHECK_FALSE(restore_backup(dir / "junk.bak", dir / "y", test_master()));
  CHECK_FALSE(std::filesystem::exists(dir / "y" / "data.mdb"));
  CHECK(restore_backup(dir / "missing.bak", dir / "z", test_master()).error().code == Errc::not_found);
}

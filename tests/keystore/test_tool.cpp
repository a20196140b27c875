// recvault-keystore as a subprocess (path from $RECVAULT_KEYSTORE_TOOL).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "keystore_test_util.hpp"
#include "recvault/keystore/store.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {

struct Run {
  int status = -1;
  std::string output;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Run run(const std::string& args) {
  const char* tool = std::getenv("RECVAULT_KEYSTORE_TOOL");
  REQUIRE(tool != nullptr);
  std::string cmd = quote(tool) + " " + args + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST_CASE("recvault-keystore: init-master-key, check, backup, restore, dump-config", "[tool]") {
  TempDir dir;
  const std::string mk = (dir / "master.key").string();
  const std::string store = (dir / "store").string();
  Run init = run("init-master-key " + quote(mk));
  INFO(init.output);
  REQUIRE(init.status == 0);
  CHECK(run("init-master-key " + quote(mk)).status != 0);  // never overwrites
  {
    auto s = Store::open(store, MasterKey::load_file(mk).value()).value();
    REQUIRE(s->update_config("acct", req(true, kKey1, "salt_value_1")));
    REQUIRE(s->update_config("acct", req(true, kKey2)));
  }
  Run check = run("check --store " + quote(store) + " --master-key " + quote(mk));
  INFO(check.output);
  CHECK(check.status == 0);
  CHECK(check.output.find("1 accounts, 2 key versions, 0 public keys: OK") != std::string::npos);

  const std::string bak = (dir / "ks.bak").string();
  Run backup = run("backup --store " + quote(store) + " --master-key " + quote(mk) + " " + quote(bak));
  INFO(backup.output);
  REQUIRE(backup.status == 0);
  CHECK(run("backup --store " + quote(store) + " --master-key " + quote(mk) + " " + quote(bak)).status != 0);

  const std::string restored = (dir / "restored").string();
  Run restore = run("restore " + quote(bak) + " --store " + quote(restored) + " --master-key " + quote(mk));
  INFO(restore.output);
  REQUIRE(restore.status == 0);
  CHECK(run("restore " + quote(bak) + " --store " + quote(restored) + " --master-key " + quote(mk)).status != 0);
  CHECK(
      run("restore " + quote(bak) + " --store " + quote(restored) + " --master-key " + quote(mk) + " --force").status ==
      0);

  Run dump = run("dump-config --store " + quote(restored) + " --master-key " + quote(mk) + " acct");
  INFO(dump.output);
  REQUIRE(dump.status == 0);
  CHECK(dump.output.find(kKey1) == std::string::npos);  // no keys unless asked
  auto j = nlohmann::json::parse(dump.output);
  CHECK(j.at("key_version") == 2);
  Run keys = run("dump-config --show-keys --store " + quote(restored) + " --master-key " + quote(mk) + " acct");
  REQUIRE(keys.status == 0);
  auto k = nlohmann::json::parse(keys.output);
  CHECK(k.at("config").at("historical_keys").at("1") == kKey1);
  CHECK(k.at("config").at("key") == kKey2);
  Run none = run("dump-config --store " + quote(restored) + " --master-key " + quote(mk) + " nobody");
  CHECK(none.output == "{}\n");
}

TEST_CASE("recvault-keystore: clear errors for a bad master key file and a corrupt store", "[tool]") {
  TempDir dir;
  const std::string mk = (dir / "master.key").string();
  REQUIRE(run("init-master-key " + quote(mk)).status == 0);
  const std::string store = (dir / "store").string();
  { REQUIRE(Store::open(store, MasterKey::load_file(mk).value())); }
  std::filesystem::permissions(mk, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  Run perm = run("check --store " + quote(store) + " --master-key " + quote(mk));
  CHECK(perm.status != 0);
  CHECK(perm.output.find("chmod 600") != std::string::npos);
  std::filesystem::permissions(mk, std::filesystem::perms::group_read, std::filesystem::perm_options::remove);
  {
    std::FILE* f = std::fopen((dir / "store" / "data.mdb").c_str(), "wb");
    REQUIRE(f != nullptr);
    std::string junk(65536, 'z');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  Run corrupt = run("check --store " + quote(store) + " --master-key " + quote(mk));
  CHECK(corrupt.status == 1);
  CHECK(corrupt.output.find("corrupt") != std::string::npos);
  CHECK(run("check --store " + quote(store)).status != 0);  // no master key given
}

TEST_CASE("recvault-keystore: migrate LMDB -> etcd -> LMDB, check and backup on etcd", "[tool][etcd]") {
  TempDir dir;
  const std::string mk = (dir / "master.key").string();
  REQUIRE(run("init-master-key " + quote(mk)).status == 0);
  const std::string store = (dir / "store").string();
  {
    auto s = Store::open(store, MasterKey::load_file(mk).value()).value();
    REQUIRE(s->update_config("acct", req(true, kKey1, "salt_value_1")));
    REQUIRE(s->update_config("acct", req(true, kKey2)));
    REQUIRE(s->update_config("other", req(true, kKey3)));
    REQUIRE(s->add_public_key("acct", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...", "ABCD"));
  }
  const std::string etcd = " --etcd " + test_etcd().endpoints().front() + " --prefix /tool-" +
                           dir.path().filename().string() + "/ --master-key " + quote(mk);
  Run to_etcd = run("migrate --to etcd --store " + quote(store) + etcd);
  INFO(to_etcd.output);
  REQUIRE(to_etcd.status == 0);
  CHECK(to_etcd.output.find("migrated 2 accounts, 3 key versions (each verified), 1 public keys") != std::string::npos);
  CHECK(run("migrate --to etcd --store " + quote(store) + etcd).status != 0);  // never merges into a store

  Run check = run("check" + etcd);
  INFO(check.output);
  CHECK(check.status == 0);
  CHECK(check.output.find("2 accounts, 3 key versions, 1 public keys: OK") != std::string::npos);
  Run dump = run("dump-config --show-keys" + etcd + " acct");
  REQUIRE(dump.status == 0);
  CHECK(nlohmann::json::parse(dump.output).at("config").at("historical_keys").at("1") == kKey1);

  const std::string bak = (dir / "etcd.bak").string();
  Run backup = run("backup" + etcd + " " + quote(bak));
  INFO(backup.output);
  REQUIRE(backup.status == 0);
  const std::string restored = (dir / "restored").string();
  REQUIRE(run("restore " + quote(bak) + " --store " + quote(restored) + " --master-key " + quote(mk)).status == 0);
  CHECK(run("check --store " + quote(restored) + " --master-key " + quote(mk)).status == 0);

  const std::string back = (dir / "back").string();
  Run to_lmdb = run("migrate --to lmdb --store " + quote(back) + etcd);
  INFO(to_lmdb.output);
  REQUIRE(to_lmdb.status == 0);
  auto s = Store::open(back, MasterKey::load_file(mk).value()).value();
  CHECK(s->get_config("acct").value()->key.view() == kKey2);
  CHECK(s->get_config("other").value()->key.view() == kKey3);
  CHECK(s->list_public_keys("acct").value().size() == 1);
}

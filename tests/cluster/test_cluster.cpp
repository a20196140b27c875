// Two recorder hosts (two recvaultd, own mounts, backing dirs and sockets,
// one master key) on a three-member etcd cluster on loopback: a rotation made
// through one host's API is used by the other's next recording; etcd members
// die and come back while a recording is open.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../etcd_fixture.hpp"
#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr const char* kKeyA = "cluster_rotation_key_one_8d1f4c2a9b7e6f3d0c5a";
constexpr const char* kKeyB = "cluster_rotation_key_two_4e9a1c7f2b8d3e6a0f5c";
constexpr const char* kKeyC = "cluster_rotation_key_three_7c2e9f4a1d8b5e3c6a0f";

std::string keystore_toml(const EtcdCluster& etcd) {
  std::string list;
  for (const auto& e : etcd.endpoints()) list += (list.empty() ? "\"" : ", \"") + e + "\"";
  return "backend = \"etcd\"\nendpoints = [" + list +
         "]\nprefix = \"/recvault/\"\n"
         "dial_timeout_ms = 300\nrequest_timeout_ms = 2000\n";
}

// Creates a new recording on `host` and answers the key version it was
// written with (its backing file's xattr).
std::string new_recording_version(const Daemon& host, int& n) {
  const std::string name = "/acme/probe-" + std::to_string(n++) + ".wav";
  write_all(host.mnt() + name, bytes_of("RIFF probe frame"));
  return meta_field(host.backing() + name, "key_version");
}

}  // namespace

TEST_CASE("cluster: a rotation on host A is used by host B's next recording; etcd failures", "[cluster][etcd]") {
  EtcdCluster etcd(3);
  const std::string ks = keystore_toml(etcd);
  Daemon a("", 200, ks), b("", 200, ks);
  std::vector<std::uint8_t> master(32);
  REQUIRE(crypto::random_bytes(master).ok());
  a.set_master_key_hex(hex_encode(master));
  b.set_master_key_hex(hex_encode(master));
  a.start();
  b.start();

  REQUIRE(a.configure("acme", {{"enabled", true}, {"key", kKeyA}})["key_version"] == 1);
  for (const Daemon* d : {&a, &b}) REQUIRE(::mkdir((d->mnt() + "/acme").c_str(), 0755) == 0);
  int n = 0;
  CHECK(eventually([&] { return new_recording_version(b, n) == "1"; }));

  // Rotate through A's API: B's next recording uses version 2, B shows it.
  REQUIRE(a.configure("acme", {{"enabled", true}, {"key", kKeyB}})["key_version"] == 2);
  CHECK(eventually([&] { return new_recording_version(b, n) == "2"; }));
  auto get_a = a.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  auto get_b = b.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  REQUIRE(get_b.status == 200);
  CHECK(get_b.json()["config"] == get_a.json()["config"]);
  CHECK(get_b.json()["config"]["historical_keys"]["1"] == kKeyA);
  auto status = b.http("GET", "/v1/status").json()["status"];
  CHECK(status["keystore"]["engine"] == "etcd");
  CHECK(status["keystore"]["endpoints"].size() == 3);
  CHECK(status["keystore"]["healthy"] == true);

  // A recording on B stays open through everything below.
  const std::string open_name = b.mnt() + "/acme/long-call.wav";
  int fd = ::open(open_name.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::vector<std::uint8_t> written;
  auto frame = [&](char tag) {
    std::vector<std::uint8_t> f(320, static_cast<std::uint8_t>(tag));
    REQUIRE(::write(fd, f.data(), f.size()) == static_cast<ssize_t>(f.size()));
    written.insert(written.end(), f.begin(), f.end());
  };
  frame('a');

  // One member of three dies: nothing visible; rotations still work.
  etcd.kill(0);
  frame('b');
  REQUIRE(a.configure("acme", {{"enabled", true}, {"key", kKeyC}})["key_version"] == 3);
  CHECK(eventually([&] { return new_recording_version(b, n) == "3"; }));
  frame('c');

  // The whole cluster is gone: recordings go on, new ones start with the
  // last known version, reads work, API writes answer 503 and change nothing.
  etcd.kill_all();
  frame('d');
  CHECK(new_recording_version(b, n) == "3");
  auto refused = b.http("PUT", "/api/v2/config/call_recording_encryption", "acme",
                        R"({"enabled": true, "key": "cluster_rotation_refused_key_5b8e2d7c4a1f9e3b6d0a"})");
  CHECK(refused.status == 503);
  CHECK(refused.body.find("unavailable") != std::string::npos);
  auto still = b.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  REQUIRE(still.status == 200);
  CHECK(still.json()["config"]["key_version"] == 3);
  CHECK(eventually([&] { return b.http("GET", "/v1/status").json()["status"]["keystore"]["healthy"] == false; }));
  frame('e');
  REQUIRE(::close(fd) == 0);
  CHECK(read_all(open_name) == written);

  // Members come back: both daemons reconverge without a restart.
  etcd.restart_all();
  CHECK(eventually([&] { return b.http("GET", "/v1/status").json()["status"]["keystore"]["healthy"] == true; }));
  CHECK(eventually([&] {
    return a.http("PUT", "/api/v2/config/call_recording_encryption", "acme", R"({"enabled": false})").status == 200;
  }));
  CHECK(eventually([&] {
    const std::string name = "/acme/plain-" + std::to_string(n++) + ".wav";
    write_all(b.mnt() + name, bytes_of("RIFF plain"));
    return read_all(b.backing() + name) == bytes_of("RIFF plain");  // disabled: stored as is
  }));
  auto after = b.http("GET", "/api/v2/config/call_recording_encryption", "acme").json()["config"];
  CHECK(after["enabled"] == false);
  CHECK(after["key_version"] == 3);  // the refused PUT never happened
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

TEST_CASE("cluster: a host with another master key, or with etcd down, does not start", "[cluster][etcd]") {
  EtcdCluster etcd(1);
  const std::string ks = keystore_toml(etcd);
  {
    Daemon a("", 200, ks);
    a.start();
    REQUIRE(a.configure("acme", {{"enabled", true}})["key_version"] == 1);
  }
  Daemon other("", 200, ks);  // its own random master key
  CHECK_THROWS_WITH(other.start(), Catch::Contains("another master key"));
  etcd.kill_all();
  Daemon down("", 200, ks);
  CHECK_THROWS_WITH(down.start(), Catch::Contains("etcd is unreachable"));
}

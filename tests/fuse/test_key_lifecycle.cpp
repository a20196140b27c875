// The key lifecycle end to end (docs/KEYSTORE.md "Key lifecycle"): a real
// recvaultd on a real FUSE mount and LMDB keystore, driven over the control
// socket and with recvaultctl: census, retiring versions (409 / force / 200),
// scheduling, cancelling and running a destruction with a short test waiting
// period, legal hold, a v1 recording kept aside that is unreadable afterwards
// (through the mount and for recvault-fsck), and the audit trail of each step.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "daemon_harness.hpp"
#include "fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr const char* kConfig = "/api/v2/config/call_recording_encryption";

void write_file(const std::string& path, const std::vector<std::uint8_t>& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  out.close();
  REQUIRE(out.good());
}

struct Run {
  int code = -1;
  std::string out;
};

Run run(const std::string& cmd) {
  Run r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.out += buf;
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string ctl(const Daemon& d, const std::string& args) {
  return env_or_fail("RECVAULTCTL") + " --socket " + d.socket() + " --token " + d.token() + " -a acc1 " + args;
}

nlohmann::json config_of(const Daemon& d) {
  auto r = d.http("GET", kConfig, "acc1");
  REQUIRE(r.status == 200);
  return r.json()["config"];
}

std::vector<nlohmann::json> audit_lines(const Daemon& d) {
  std::vector<nlohmann::json> out;
  std::ifstream in(d.dir().file("audit.log"));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

bool audited(const Daemon& d, const std::string& action, int status, const nlohmann::json& versions = nullptr) {
  for (const auto& l : audit_lines(d)) {
    if (l.value("action", "") != action || l.value("status", 0) != status || l.value("account", "") != "acc1") continue;
    if (versions.is_null() || l.value("versions", nlohmann::json()) == versions) return true;
  }
  return false;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

}  // namespace

TEST_CASE("key lifecycle: census, retire, schedule/cancel/destroy with legal hold, on a live mount",
          "[key_lifecycle]") {
  Daemon d("", 200,
           "destruction_delay = 2\nallow_short_destruction_delay = true\ndestruction_check_interval_ms = 100\n");
  d.start();
  const std::string acc = d.mnt() + "/acc1";
  const std::string backing = d.backing() + "/acc1";
  std::map<std::string, std::vector<std::uint8_t>> content;
  auto record = [&](const std::string& name, std::uint64_t seed, std::size_t size = 200000) {
    content[name] = pseudo_random(size + seed * 1000, seed);
    write_file(acc + "/" + name, content[name]);
  };
  auto reads_back = [&](const std::string& name) {
    std::vector<std::uint8_t> got;
    return try_read_all(acc + "/" + name, got) == 0 && got == content[name];
  };

  // v1, a plain recording while disabled, v2, v3 (rotations with new keys).
  d.configure("acc1", {{"enabled", true}});
  REQUIRE((::mkdir(acc.c_str(), 0755) == 0 || errno == EEXIST));
  record("v1.wav", 1);
  for (int i = 0; i < 3; ++i) record("v1-big-" + std::to_string(i) + ".wav", 10 + i, 1 << 20);
  d.configure("acc1", {{"enabled", false}});
  record("plain.wav", 2);
  d.configure("acc1", {{"enabled", true}});
  d.configure("acc1", {{"enabled", true}, {"key", "second_encryption_key_value_at_least_32_chars"}});
  record("v2.wav", 3);
  for (int i = 0; i < 2; ++i) record("v2-big-" + std::to_string(i) + ".wav", 20 + i, 1 << 20);
  d.configure("acc1", {{"enabled", true}, {"key", "third_encryption_key_value_at_least_32_chars!"}});
  record("v3.wav", 4);
  REQUIRE(backing_header(backing + "/v1.wav").key_version == 1);
  REQUIRE(backing_header(backing + "/v3.wav").key_version == 3);
  // A recording still being written.
  int open_fd = ::open((acc + "/open.wav").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(open_fd >= 0);
  auto open_bytes = pseudo_random(70000, 9);
  REQUIRE(::write(open_fd, open_bytes.data(), open_bytes.size()) == static_cast<ssize_t>(open_bytes.size()));
  ::fsync(open_fd);

  {  // census
    auto r = d.http("GET", std::string(kConfig) + "/census", "acc1");
    INFO(d.log());
    REQUIRE(r.status == 200);
    auto c = r.json()["census"];
    CHECK(c["recordings"] == 10);
    CHECK(c["versions"]["1"]["recordings"] == 4);
    CHECK(c["versions"]["2"]["recordings"] == 3);
    CHECK(c["versions"]["3"]["recordings"] == 2);  // v3.wav and open.wav
    CHECK(c["kinds"]["encrypted"]["recordings"] == 8);
    CHECK(c["kinds"]["unterminated"]["recordings"] == 1);
    CHECK(c["kinds"]["plain"]["recordings"] == 1);
    CHECK(c["kinds"]["plain"]["bytes"] == content["plain.wav"].size());
    CHECK(c["versions"]["1"]["bytes"].get<std::size_t>() > content["v1.wav"].size());  // header and tags on top
    CHECK(c["key_version"] == 3);
    auto text = run(ctl(d, "census"));
    CHECK(text.code == 0);
    CHECK(text.out.find("v1") != std::string::npos);
    CHECK(text.out.find("unterminated") != std::string::npos);
    CHECK(audited(d, "census", 200, {1, 2, 3}));
    // A read token may take it too; another account's token may not.
    CHECK(d.http_with("GET", std::string(kConfig) + "/census", d.token("read"), "acc1").status == 200);
    CHECK(
        d.http_with("GET", std::string(kConfig) + "/census", d.token("read", nlohmann::json::array({"other"})), "acc1")
            .status == 403);
  }
  ::close(open_fd);

  // Retiring v1 and v2 is refused while recordings need them...
  auto put = [&](const nlohmann::json& body) { return d.http("PUT", kConfig, "acc1", body.dump()); };
  auto refused = put({{"enabled", true}, {"min_decryption_version", 3}});
  CHECK(refused.status == 409);
  CHECK(refused.body.find("re-encrypt") != std::string::npos);
  CHECK_FALSE(config_of(d).contains("min_decryption_version"));
  CHECK(audited(d, "config.update", 409, {3}));
  CHECK(run(ctl(d, "retire 3")).code == 1);
  // ... unless forced: then v1 is refused on read, with a log line naming the
  // file and version; lowering it again makes v1 readable (retiring destroys nothing).
  REQUIRE(put({{"enabled", true}, {"min_decryption_version", 2}, {"force", true}}).status == 200);
  CHECK(config_of(d)["min_decryption_version"] == 2);
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(acc + "/v1.wav", got) == EIO);
  CHECK(d.log().find("v1.wav") != std::string::npos);
  CHECK(d.log().find("key version 1 of account acc1 is retired (below min_decryption_version 2)") != std::string::npos);
  CHECK(reads_back("v2.wav"));
  CHECK(run(ctl(d, "retire 1")).code == 0);
  CHECK(reads_back("v1.wav"));

  // A copy of a v1 recording is kept aside, as a backup or a stray copy would be.
  const std::string aside = d.dir().file("v1-kept-aside.wav");
  std::filesystem::copy_file(backing + "/v1.wav", aside);

  // Re-encrypted by hand (an automatic job is not part of this change): each
  // old recording is copied through the mount, which writes the new file with
  // the current key, and renamed over the original.
  for (const auto& [name, bytes] : content) {
    if (name == "plain.wav" || backing_header(backing + "/" + name).key_version == 3) continue;
    write_file(acc + "/." + name + ".tmp", bytes);
    REQUIRE(::rename((acc + "/." + name + ".tmp").c_str(), (acc + "/" + name).c_str()) == 0);
  }
  for (const auto& [name, bytes] : content) {
    INFO(name);
    CHECK(reads_back(name));
    if (name != "plain.wav") CHECK(backing_header(backing + "/" + name).key_version == 3);
  }
  auto census = d.http("GET", std::string(kConfig) + "/census", "acc1").json()["census"];
  CHECK(census["versions"].size() == 1);
  CHECK(census["versions"].contains("3"));
  // Nothing is below 3 any more: retiring 1 and 2 is accepted.
  REQUIRE(put({{"enabled", true}, {"min_decryption_version", 3}}).status == 200);
  CHECK(audited(d, "config.update", 200, {3}));

  // Schedule, cancel, legal hold blocks scheduling, schedule again.
  auto del = [&](const std::string& sub) { return d.http("DELETE", std::string(kConfig) + "/" + sub, "acc1"); };
  auto scheduled = del("versions");
  REQUIRE(scheduled.status == 202);
  CHECK(scheduled.json()["lifecycle"]["scheduled_destruction"]["versions"] == nlohmann::json::array({1, 2}));
  CHECK(config_of(d)["scheduled_destruction"]["requested_by"] == "test-admin");
  CHECK(del("versions").status == 409);  // one at a time
  REQUIRE(del("destruction").status == 200);
  CHECK_FALSE(config_of(d).contains("scheduled_destruction"));
  CHECK(audited(d, "destruction.cancel", 200, {1, 2}));
  REQUIRE(run(ctl(d, "hold on")).code == 0);
  CHECK(config_of(d)["legal_hold"] == true);
  CHECK(del("versions").status == 409);
  CHECK(audited(d, "destruction.schedule", 409));
  REQUIRE(d.http("PUT", std::string(kConfig) + "/legal_hold", "acc1", R"({"legal_hold": false})").status == 200);
  // A read token may not schedule anything.
  CHECK(d.http_with("DELETE", std::string(kConfig) + "/versions", d.token("read"), "acc1").status == 403);
  auto again = run(ctl(d, "destroy versions"));
  REQUIRE(again.code == 0);
  CHECK(audited(d, "destruction.schedule", 202, {1, 2}));

  // A hold placed while it is scheduled stops it: past its time (2 s) and many
  // executor rounds later the keys are still there.
  REQUIRE(d.http("PUT", std::string(kConfig) + "/legal_hold", "acc1", R"({"legal_hold": true})").status == 200);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  CHECK(config_of(d)["historical_keys"].contains("1"));
  CHECK(config_of(d).contains("scheduled_destruction"));
  // Lifted: it runs.
  REQUIRE(d.http("PUT", std::string(kConfig) + "/legal_hold", "acc1", R"({"legal_hold": false})").status == 200);
  REQUIRE(wait_for([&] { return config_of(d).contains("destroyed_versions"); }));
  auto after = config_of(d);
  CHECK(after["destroyed_versions"] == nlohmann::json::array({1, 2}));
  CHECK(after["historical_keys"] == nlohmann::json::object());
  CHECK(after["historical_salts"] == nlohmann::json::object());
  CHECK_FALSE(after.contains("scheduled_destruction"));
  CHECK(after["key_version"] == 3);
  CHECK(audited(d, "destruction.execute", 200, {1, 2}));
  CHECK(audited(d, "legal_hold.set", 200));
  CHECK(audited(d, "legal_hold.lift", 200));

  // Gone from the store itself (another process reads it).
  auto dump = run(env_or_fail("RECVAULT_KEYSTORE_TOOL") + " dump-config --store " + d.dir().file("keystore") +
                  " --master-key " + d.dir().file("master.key") + " acc1 --show-keys");
  CHECK(dump.code == 0);
  CHECK(dump.out.find("second_encryption_key") == std::string::npos);
  CHECK(dump.out.find("third_encryption_key") != std::string::npos);

  // The v1 recording kept aside, put back: unreadable through the mount, and
  // recvault-fsck reports it as such.
  std::filesystem::copy_file(aside, backing + "/v1-back.wav");
  CHECK(try_read_all(acc + "/v1-back.wav", got) == EIO);
  CHECK(d.log().find("key version 1 of account acc1 was destroyed") != std::string::npos);
  auto fsck = run(env_or_fail("RECVAULT_FSCK") + " --config " + d.config_path() + " --json");
  CHECK(fsck.out.find("\"acc1/v1-back.wav\"") != std::string::npos);
  auto report = nlohmann::json::parse(fsck.out.substr(fsck.out.find('{')), nullptr, false);
  std::string status;
  if (!report.is_discarded())
    for (auto& f : report["files"])
      if (f["path"] == "acc1/v1-back.wav") status = f.value("status", "") + " " + f.value("detail", "");
  CHECK(status.find("no-key") == 0);
  CHECK(status.find("destroyed") != std::string::npos);
  // The recordings (all v3 now) are untouched.
  for (const auto& [name, bytes] : content) CHECK(reads_back(name));

  // The whole account's keys: scheduled, then destroyed; the account is
  // disabled, its recordings unreadable, and a new enable starts v4.
  REQUIRE(del("keys").status == 202);
  REQUIRE(wait_for([&] { return config_of(d)["key"].is_null(); }));
  CHECK(config_of(d)["enabled"] == false);
  CHECK(config_of(d)["destroyed_versions"] == nlohmann::json::array({1, 2, 3}));
  CHECK(audited(d, "destruction.execute", 200, {3}));
  CHECK(try_read_all(acc + "/v3.wav", got) == EIO);
  CHECK(d.configure("acc1", {{"enabled", true}})["key_version"] == 4);
  record("v4.wav", 5);
  CHECK(reads_back("v4.wav"));
  CHECK(d.stop() == 0);
}

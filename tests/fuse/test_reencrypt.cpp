// Re-encryption jobs end to end (docs/KEYSTORE.md "Re-encryption"): a real
// recvaultd on a real FUSE mount and LMDB keystore. Recordings of versions
// 1 and 2 are rewritten under version 3 while 16 recorders keep writing and
// one old recording is open for writing and one for reading (both skipped,
// then taken once closed);
// contents read back bit-exact, xattrs, mode and times are kept, encrypted
// names move to the current version, the throttle holds, the census and
// min_decryption_version agree, one job per account (409), the audit trail
// has the job. The [reencrypt-kill] case kills the daemon with SIGKILL during
// jobs and checks that the restarted daemon resumes and that every recording
// is there exactly once and exact.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <sys/xattr.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "daemon_harness.hpp"
#include "fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr const char* kConfig = "/api/v2/config/call_recording_encryption";

nlohmann::json job_of(const Daemon& d, const std::string& account) {
  auto r = d.http("GET", std::string(kConfig) + "/jobs", account);
  REQUIRE(r.status == 200);
  auto jobs = r.json()["jobs"];
  return jobs.empty() ? nlohmann::json() : jobs[0];
}

bool job_ended(const Daemon& d, const std::string& account) {
  auto j = job_of(d, account);
  return !j.is_null() && j.value("state", "") != "running";
}

nlohmann::json census_of(const Daemon& d, const std::string& account) {
  auto r = d.http("GET", std::string(kConfig) + "/census", account);
  REQUIRE(r.status == 200);
  return r.json()["census"];
}

// One sample of GET /metrics on the control socket, e.g.
// `recvault_reencrypt_job_files_done{account="acc1"}`; -1 when absent.
double metric(const Daemon& d, const std::string& series) {
  auto r = d.http("GET", "/metrics");
  REQUIRE(r.status == 200);
  std::istringstream lines(r.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Backing entries under `dir`, recursively (relative paths).
std::set<std::string> backing_entries(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    out.insert(std::filesystem::relative(e.path(), dir).string());
  return out;
}

bool has_temporaries(const std::string& dir) {
  for (const auto& e : backing_entries(dir))
    if (e.find(".recvault-rewrite.") != std::string::npos) return true;
  return false;
}

std::string run_out(const std::string& cmd, int& code) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int status = ::pclose(p);
  code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace

TEST_CASE("re-encryption: old recordings rewritten under the current key on a live mount", "[reencrypt]") {
  Daemon d("", 200, "reencrypt_mb_per_s = 4\nreencrypt_open_retry_s = 120\n");
  d.start();
  const std::string acc = d.mnt() + "/acc1";
  const std::string backing = d.backing() + "/acc1";
  std::map<std::string, std::vector<std::uint8_t>> content;
  auto record = [&](const std::string& name, std::uint64_t seed, std::size_t size) {
    content[name] = pseudo_random(size, seed);
    write_all(acc + "/" + name, content[name]);
  };

  d.configure("acc1", {{"enabled", true}});
  REQUIRE((::mkdir(acc.c_str(), 0755) == 0 || errno == EEXIST));
  REQUIRE(::mkdir((acc + "/day1").c_str(), 0750) == 0);
  for (int i = 0; i < 3; ++i) record("day1/v1-" + std::to_string(i) + ".wav", 10 + i, 300000 + i * 1000);
  record("v1-open.wav", 5, 100000);
  record("v1-attrs.wav", 6, 70000);
  REQUIRE(::setxattr((backing + "/v1-attrs.wav").c_str(), "user.call_id", "8842", 4, 0) ==
          0);  // [fuse] view_xattrs is off
  REQUIRE(::chmod((acc + "/v1-attrs.wav").c_str(), 0640) == 0);
  const struct timespec times[2] = {{1700000000, 0}, {1700000123, 456000000}};
  REQUIRE(::utimensat(AT_FDCWD, (acc + "/v1-attrs.wav").c_str(), times, 0) == 0);
  d.configure("acc1", {{"enabled", true}, {"key", "second_encryption_key_value_at_least_32_chars"}});
  record("v2.wav", 7, 200000);
  d.configure("acc1", {{"enabled", true}, {"key", "third_encryption_key_value_at_least_32_chars!"}});
  record("v3.wav", 8, 50000);
  // An account with encrypted names: its v1 names must stay readable.
  d.configure("acc2", {{"enabled", true}, {"name_encryption", true}});
  const std::string acc2 = d.mnt() + "/acc2";
  REQUIRE((::mkdir(acc2.c_str(), 0755) == 0 || errno == EEXIST));
  const auto named = pseudo_random(90000, 21);
  write_all(acc2 + "/20261202-0815-+15551234567-8842.wav", named);
  d.configure("acc2",
              {{"enabled", true}, {"name_encryption", true}, {"key", "acc2_second_key_at_least_32_characters_x"}});

  {
    auto c = census_of(d, "acc1");
    CHECK(c["versions"]["1"]["recordings"] == 5);
    CHECK(c["versions"]["2"]["recordings"] == 1);
    CHECK(c["versions"]["3"]["recordings"] == 1);
    CHECK(c["kinds"]["plain"]["recordings"] == 0);  // .recvault-diriv files are not recordings
    CHECK(census_of(d, "acc2")["kinds"]["plain"]["recordings"] == 0);
  }
  // Retiring the old versions is refused while recordings need them.
  CHECK(d.http("PUT", kConfig, "acc1", R"({"enabled": true, "min_decryption_version": 3})").status == 409);

  // One old recording is being written to; 16 recorders write new ones.
  const int open_fd = ::open((acc + "/v1-open.wav").c_str(), O_WRONLY | O_APPEND);
  REQUIRE(open_fd >= 0);
  const auto more = pseudo_random(5000, 99);
  REQUIRE(::write(open_fd, more.data(), more.size()) == static_cast<ssize_t>(more.size()));
  ::fsync(open_fd);
  content["v1-open.wav"].insert(content["v1-open.wav"].end(), more.begin(), more.end());
  // And one is being played (open for reading): not replaced under its reader either.
  const int reader_fd = ::open((acc + "/day1/v1-0.wav").c_str(), O_RDONLY);
  REQUIRE(reader_fd >= 0);
  std::atomic<bool> recording{true};
  std::vector<std::thread> recorders;
  std::vector<std::vector<std::uint8_t>> written(16);
  for (int r = 0; r < 16; ++r) {
    recorders.emplace_back([&, r] {
      const std::string path = acc + "/live-" + std::to_string(r) + ".wav";
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (fd < 0) return;
      for (std::uint64_t frame = 0; recording || frame < 20; ++frame) {
        auto bytes = pseudo_random(320, static_cast<std::uint64_t>(r) * 100000 + frame);
        if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) break;
        written[static_cast<std::size_t>(r)].insert(written[static_cast<std::size_t>(r)].end(), bytes.begin(),
                                                    bytes.end());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ::close(fd);
    });
  }

  const auto started = std::chrono::steady_clock::now();
  auto start = d.http("POST", std::string(kConfig) + "/reencrypt", "acc1", R"({"mb_per_s": 2})");
  INFO(d.log());
  REQUIRE(start.status == 202);
  CHECK(start.json()["job"]["below_version"] == 3);
  CHECK(start.json()["job"]["target_version"] == 3);
  // One job per account.
  auto again = d.http("POST", std::string(kConfig) + "/reencrypt", "acc1");
  CHECK(again.status == 409);
  CHECK(again.json()["job"]["state"] == "running");
  CHECK(d.http("POST", std::string(kConfig) + "/reencrypt", "acc1", R"({"below_version": "x"})").status == 400);
  // The open recordings wait for their writer and their reader.
  REQUIRE(eventually([&] { return job_of(d, "acc1")["skipped"]["open"] == 2; }, std::chrono::seconds(60)));
  // The job's progress is in the metrics too (docs/OPERATIONS.md).
  CHECK(metric(d, R"(recvault_reencrypt_job_running{account="acc1"})") == 1);
  CHECK(metric(d, R"(recvault_reencrypt_job_skipped{account="acc1",reason="open"})") == 2);
  CHECK(metric(d, R"(recvault_reencrypt_job_running{account="acc2"})") == -1);  // no job yet
  CHECK(backing_header(backing + "/v1-open.wav").key_version == 1);
  CHECK(backing_header(backing + "/day1/v1-0.wav").key_version == 1);
  {
    std::vector<std::uint8_t> got(content["day1/v1-0.wav"].size());
    CHECK(::pread(reader_fd, got.data(), got.size(), 0) == static_cast<ssize_t>(got.size()));
    CHECK(got == content["day1/v1-0.wav"]);
  }
  ::close(reader_fd);
  ::close(open_fd);
  REQUIRE(eventually([&] { return job_ended(d, "acc1"); }, std::chrono::seconds(90)));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  recording = false;
  for (auto& t : recorders) t.join();

  auto job = job_of(d, "acc1");
  INFO(job.dump());
  CHECK(job["state"] == "finished");
  CHECK(job["errors"] == 0);
  CHECK(job["files_done"] == 6);
  CHECK(job["files_total"] == 6);
  CHECK(job["skipped"]["open"] == 0);
  CHECK(job["bytes_done"] == job["bytes_total"]);
  CHECK(metric(d, R"(recvault_reencrypt_job_running{account="acc1"})") == 0);
  CHECK(metric(d, R"(recvault_reencrypt_job_files_done{account="acc1"})") == 6);
  CHECK(metric(d, R"(recvault_reencrypt_job_files_planned{account="acc1"})") == 6);
  CHECK(metric(d, R"(recvault_reencrypt_job_bytes_done{account="acc1"})") == job["bytes_done"].get<double>());
  CHECK(metric(d, R"(recvault_reencrypt_job_bytes_planned{account="acc1"})") == job["bytes_total"].get<double>());
  CHECK(metric(d, R"(recvault_reencrypt_job_errors{account="acc1"})") == 0);
  CHECK(metric(d, R"(recvault_reencrypt_job_skipped{account="acc1",reason="open"})") == 0);
  // The throttle: never faster than 2 MB/s (a lower bound on time only).
  CHECK(elapsed >= job["bytes_done"].get<double>() / 2e6);

  auto c = census_of(d, "acc1");
  CHECK(c["versions"].size() == 1);
  CHECK(c["versions"]["3"]["recordings"] == 7 + 16);
  for (const auto& [name, data] : content) {
    CHECK(backing_header(backing + "/" + name).key_version == 3);
    CHECK(read_all(acc + "/" + name) == data);
  }
  for (int r = 0; r < 16; ++r)
    CHECK(read_all(acc + "/live-" + std::to_string(r) + ".wav") == written[static_cast<std::size_t>(r)]);
  CHECK(xattr_of(backing + "/v1-attrs.wav", "user.call_id") == "8842");
  struct stat st {};
  REQUIRE(::stat((backing + "/v1-attrs.wav").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_mtim.tv_sec == 1700000123);
  CHECK(st.st_mtim.tv_nsec == 456000000);
  CHECK_FALSE(has_temporaries(backing));

  // Encrypted names: the content and the name move to version 2.
  auto start2 = d.http("POST", std::string(kConfig) + "/reencrypt", "acc2");
  REQUIRE(start2.status == 202);
  REQUIRE(eventually([&] { return job_ended(d, "acc2"); }, std::chrono::seconds(60)));
  CHECK(job_of(d, "acc2")["names_done"] == 1);
  for (const auto& e : backing_entries(d.backing() + "/acc2"))
    if (e.rfind(".recvault-diriv", 0) != 0) CHECK(e.rfind("~2~", 0) == 0);
  CHECK(read_all(acc2 + "/20261202-0815-+15551234567-8842.wav") == named);
  CHECK(d.http("PUT", kConfig, "acc2", R"({"enabled": true, "name_encryption": true, "min_decryption_version": 2})")
            .status == 200);
  CHECK(read_all(acc2 + "/20261202-0815-+15551234567-8842.wav") == named);

  // Nothing below version 3 remains: retiring is allowed now, and reads work.
  CHECK(d.http("PUT", kConfig, "acc1", R"({"enabled": true, "min_decryption_version": 3})").status == 200);
  for (const auto& [name, data] : content) CHECK(read_all(acc + "/" + name) == data);

  // A slow job cancelled with recvaultctl: what it did stays done, the rest as it was.
  int code = -1;
  const std::string ctl =
      env_or_fail("RECVAULTCTL") + " --socket " + d.socket() + " --token " + d.token() + " -a acc1 ";
  d.configure("acc1", {{"enabled", true}, {"key", "fourth_encryption_key_value_at_least_32_chars"}});
  REQUIRE(d.http("POST", std::string(kConfig) + "/reencrypt", "acc1", R"({"mb_per_s": 0.05})").status == 202);
  auto out = run_out(ctl + "reencrypt --cancel", code);
  CHECK(code == 0);
  REQUIRE(eventually([&] { return job_ended(d, "acc1"); }, std::chrono::seconds(60)));
  CHECK(job_of(d, "acc1")["state"] == "cancelled");
  CHECK(job_of(d, "acc1")["errors"] == 0);
  CHECK_FALSE(has_temporaries(backing));
  for (const auto& [name, data] : content) CHECK(read_all(acc + "/" + name) == data);
  CHECK(d.http("DELETE", std::string(kConfig) + "/reencrypt", "acc1").status == 404);  // none runs

  // recvaultctl reencrypt --wait follows a job to its end (plain lines off a terminal).
  out = run_out(ctl + "reencrypt --wait", code);
  CHECK(code == 0);
  CHECK(out.find("re-encryption finished") != std::string::npos);
  CHECK(census_of(d, "acc1")["versions"].size() == 1);
  CHECK(census_of(d, "acc1")["versions"].contains("4"));
  for (const auto& [name, data] : content) CHECK(read_all(acc + "/" + name) == data);
  out = run_out(ctl + "jobs", code);
  CHECK(code == 0);
  CHECK(out.find("re-encryption finished") != std::string::npos);

  // The audit trail: who started it, and how it ended.
  std::ifstream in(d.dir().file("audit.log"));
  bool started_audited = false, finished_audited = false, cancel_audited = false, cancelled_audited = false;
  for (std::string line; std::getline(in, line);) {
    auto l = nlohmann::json::parse(line);
    if (l.value("account", "") != "acc1") continue;
    if (l["action"] == "reencrypt.start" && l["status"] == 202 && l["versions"] == nlohmann::json({1, 2}))
      started_audited = l.contains("uid");
    if (l["action"] == "reencrypt.finish" && l["subject"] == "recvaultd" && l["counts"].value("files_done", 0) == 6)
      finished_audited = true;
    if (l["action"] == "reencrypt.cancel" && l["status"] == 200) cancel_audited = true;
    if (l["action"] == "reencrypt.finish" && l.value("reason", "") == "cancelled by test-admin")
      cancelled_audited = true;
  }
  CHECK(cancel_audited);
  CHECK(cancelled_audited);
  CHECK(started_audited);
  CHECK(finished_audited);
}

TEST_CASE("re-encryption: kill -9 during the job, the restarted daemon resumes, every recording once and exact",
          "[reencrypt-kill]") {
  Daemon d("", 200, "reencrypt_mb_per_s = 3\n");
  d.start();
  const std::string acc = d.mnt() + "/acc1";
  const std::string backing = d.backing() + "/acc1";
  d.configure("acc1", {{"enabled", true}});
  REQUIRE((::mkdir(acc.c_str(), 0755) == 0 || errno == EEXIST));
  std::map<std::string, std::vector<std::uint8_t>> content;
  for (int i = 0; i < 12; ++i) {
    const std::string name = "call-" + std::to_string(i) + ".wav";
    content[name] = pseudo_random(400000 + static_cast<std::size_t>(i) * 7001, 100 + static_cast<std::uint64_t>(i));
    write_all(acc + "/" + name, content[name]);
  }
  d.configure("acc1", {{"enabled", true}, {"key", "second_encryption_key_value_at_least_32_chars"}});
  const auto names_before = backing_entries(backing);
  REQUIRE(d.http("POST", std::string(kConfig) + "/reencrypt", "acc1").status == 202);

  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(150, 900);
  auto listing = [&] {
    std::set<std::string> listed;
    for (const auto& e : std::filesystem::directory_iterator(acc)) listed.insert(e.path().filename().string());
    return listed;
  };
  std::set<std::string> expected;
  for (const auto& [name, data] : content) expected.insert(name);
  int kills = 0;
  for (int kill = 0; kill < 3; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    if (job_ended(d, "acc1")) break;
    d.kill9();
    ++kills;
    d.start();
    INFO(d.log());
    // Every recording readable exactly once, whether rewritten yet or not.
    CHECK(listing() == expected);
    for (const auto& [name, data] : content) CHECK(read_all(acc + "/" + name) == data);
  }
  REQUIRE(eventually([&] { return job_ended(d, "acc1"); }, std::chrono::seconds(90)));
  auto job = job_of(d, "acc1");
  INFO(job.dump());
  CHECK(job["state"] == "finished");
  CHECK(job["errors"] == 0);
  CHECK(census_of(d, "acc1")["versions"].size() == 1);
  // The throttle makes the job take at least 5.3 MB / 3 MB/s: the first kill
  // (at most 0.9 s in) always lands during it.
  CHECK(kills >= 1);
  CHECK(job["resumed"].get<int>() >= kills);
  CHECK(backing_entries(backing) == names_before);  // no duplicates, no temporaries left
  CHECK(listing() == expected);
  for (const auto& [name, data] : content) {
    CHECK(backing_header(backing + "/" + name).key_version == 2);
    CHECK(read_all(acc + "/" + name) == data);
  }
}

// The plaintext view over the encrypted backing directory, on a real mount.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "daemon_harness.hpp"
#include "fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

TEST_CASE("a recording written through the mount is ciphertext on disk and plaintext in the view", "[mount]") {
  Daemon d;
  d.start();
  auto cfg = d.configure("acme", {{"enabled", true}});
  REQUIRE(cfg["key_version"] == 1);
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  REQUIRE(::mkdir((d.mnt() + "/acme/2026").c_str(), 0755) == 0);
  std::string marker = "PLAINTEXT-MARKER-8842-";
  std::vector<std::uint8_t> data;
  for (int i = 0; i < 5000; ++i) data.insert(data.end(), marker.begin(), marker.end());
  write_all(d.mnt() + "/acme/2026/call-8842.wav", data);

  CHECK(read_all(d.mnt() + "/acme/2026/call-8842.wav") == data);
  struct stat st {};
  REQUIRE(::stat((d.mnt() + "/acme/2026/call-8842.wav").c_str(), &st) == 0);
  CHECK(static_cast<std::size_t>(st.st_size) == data.size());

  const std::string backing = d.backing() + "/acme/2026/call-8842.wav";
  auto raw = read_all(backing);
  CHECK_FALSE(contains(raw, marker));
  CHECK(raw.size() > data.size());
  CHECK(meta_field(backing, "algorithm") == "AES-256-GCM");
  CHECK(meta_field(backing, "key_version") == "1");
  CHECK(meta_field(backing, "salt") == cfg["salt"].get<std::string>());
  CHECK(backing_header(backing).sealed);

  // The view lists accounts at the root and hides everything else.
  REQUIRE(::mkdir((d.backing() + "/not an account").c_str(), 0755) == 0);
  write_all(d.backing() + "/stray-file", bytes_of("x"));
  std::vector<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(d.mnt())) names.push_back(e.path().filename());
  CHECK(names == std::vector<std::string>{"acme"});
  CHECK(d.stop() == 0);
}

TEST_CASE("a child process closing its inherited descriptors does not seal the recording its parent writes",
          "[mount]") {
  // fork, posix_spawn, popen and system give the child a copy of the
  // recorder's descriptors; the child's exit (or its exec, for close-on-exec
  // ones) closes that copy and the daemon gets a FLUSH while the recorder
  // records on. The recording stays open on disk (on a shared store another
  // host reads its header: issue 17) and is sealed at the recorder's close.
  Daemon d;
  d.start_with_account("acme");
  for (const int cloexec : {0, O_CLOEXEC}) {
    const std::string name = cloexec != 0 ? "/acme/spawned-cloexec.wav" : "/acme/spawned.wav";
    const int fd = ::open((d.mnt() + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | cloexec, 0644);
    REQUIRE(fd >= 0);
    auto data = pseudo_random(70000, 11);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    REQUIRE(::fsync(fd) == 0);
    REQUIRE_FALSE(backing_header(d.backing() + name).sealed);

    const pid_t child = ::fork();  // exits at once: its copy closes at exit
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    char arg0[] = "true";
    char* argv[] = {arg0, nullptr};
    pid_t spawned = 0;  // as popen() does: its copy closes at exec or at exit
    REQUIRE(::posix_spawnp(&spawned, "true", nullptr, nullptr, argv, environ) == 0);
    REQUIRE(::waitpid(spawned, &status, 0) == spawned);
    CHECK_FALSE(backing_header(d.backing() + name).sealed);

    auto more = pseudo_random(1000, 12);
    REQUIRE(::write(fd, more.data(), more.size()) == static_cast<ssize_t>(more.size()));
    data.insert(data.end(), more.begin(), more.end());
    REQUIRE(::close(fd) == 0);
    CHECK(backing_header(d.backing() + name).sealed);
    CHECK(read_all(d.mnt() + name) == data);
  }
}

TEST_CASE("random-offset writes match a reference file", "[mount]") {
  Daemon d;
  d.start();
  d.configure("acme", {{"enabled", true}, {"algorithm", "AES-256-CBC"}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const std::string view = d.mnt() + "/acme/random.bin";
  const std::string ref = d.dir().file("reference.bin");
  int vf = ::open(view.c_str(), O_RDWR | O_CREAT, 0644), rf = ::open(ref.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(vf >= 0);
  REQUIRE(rf >= 0);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 300; ++i) {
    off_t off = static_cast<off_t>(rng() % (600 * 1024));
    auto buf = pseudo_random(1 + rng() % 150000, rng());
    REQUIRE(::pwrite(vf, buf.data(), buf.size(), off) == static_cast<ssize_t>(buf.size()));
    REQUIRE(::pwrite(rf, buf.data(), buf.size(), off) == static_cast<ssize_t>(buf.size()));
    if (i % 50 == 49) {
      off_t cut = static_cast<off_t>(rng() % (700 * 1024));
      REQUIRE(::ftruncate(vf, cut) == 0);
      REQUIRE(::ftruncate(rf, cut) == 0);
    }
  }
  ::close(vf);
  ::close(rf);
  CHECK(read_all(view) == read_all(ref));
  CHECK(meta_field(d.backing() + "/acme/random.bin", "algorithm") == "AES-256-CBC");
}

TEST_CASE("after a rotation old and new recordings both read back", "[mount][rotation]") {
  Daemon d;
  d.start();
  auto v1 = d.configure("acme", {{"enabled", true}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  auto old_data = pseudo_random(200000, 1);
  write_all(d.mnt() + "/acme/old.wav", old_data);

  auto v2 = d.configure("acme", {{"enabled", true}, {"key", "a-brand-new-key-for-version-two-0123456789"}});
  REQUIRE(v2["key_version"] == 2);
  REQUIRE(v2["historical_keys"]["1"] == v1["key"]);
  auto new_data = pseudo_random(150000, 2);
  write_all(d.mnt() + "/acme/new.wav", new_data);

  CHECK(backing_header(d.backing() + "/acme/old.wav").key_version == 1);
  CHECK(backing_header(d.backing() + "/acme/new.wav").key_version == 2);
  CHECK(read_all(d.mnt() + "/acme/old.wav") == old_data);
  CHECK(read_all(d.mnt() + "/acme/new.wav") == new_data);

  // And after a restart (keys come from the keystore, not from memory).
  REQUIRE(d.stop() == 0);
  d.start();
  CHECK(read_all(d.mnt() + "/acme/old.wav") == old_data);
  CHECK(read_all(d.mnt() + "/acme/new.wav") == new_data);
}

TEST_CASE("disable stores new recordings plain; old ones still decrypt", "[mount][disable]") {
  Daemon d;
  d.start_with_account("acme");
  std::string marker = "CLEAR-MARKER-0001";
  write_all(d.mnt() + "/acme/encrypted.wav", bytes_of(marker));
  d.configure("acme", {{"enabled", false}});
  write_all(d.mnt() + "/acme/plain.wav", bytes_of(marker));

  CHECK(contains(read_all(d.backing() + "/acme/plain.wav"), marker));
  CHECK(xattr_of(d.backing() + "/acme/plain.wav", "user.recvault.format") == "plain");
  CHECK_FALSE(contains(read_all(d.backing() + "/acme/encrypted.wav"), marker));
  CHECK(read_all(d.mnt() + "/acme/encrypted.wav") == bytes_of(marker));
  CHECK(read_all(d.mnt() + "/acme/plain.wav") == bytes_of(marker));

  // A file that starts with our magic is always read as encrypted, so a plain
  // recording may not start with it: the write is refused, nothing is lost
  // silently, and the file does not become an unreadable "encrypted" one.
  for (const auto& [first, second] : {std::pair<std::string, std::string>{"RECVAULT but not really", ""},
                                      std::pair<std::string, std::string>{"RECVA", "ULT split in two"}}) {
    const std::string p = d.mnt() + "/acme/tricky-" + std::to_string(first.size()) + ".bin";
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    bool refused = ::write(fd, first.data(), first.size()) < 0;
    if (!refused && !second.empty()) refused = ::write(fd, second.data(), second.size()) < 0;
    refused = (::fsync(fd) != 0) || refused;
    refused = (::close(fd) != 0) || refused;
    CHECK(refused);
    CHECK_FALSE(contains(read_all(d.backing() + "/acme/tricky-" + std::to_string(first.size()) + ".bin"), "RECVAULT"));
  }
  CHECK(d.log().find("cannot start with the bytes") != std::string::npos);
}

TEST_CASE("a flipped byte in a backing file reads as EIO and is logged", "[mount][tamper]") {
  Daemon d;
  d.start_with_account("acme");
  write_all(d.mnt() + "/acme/call.wav", pseudo_random(100000, 3));
  REQUIRE(d.stop() == 0);  // drop every cache
  {
    const std::string backing = d.backing() + "/acme/call.wav";
    int fd = ::open(backing.c_str(), O_RDWR);
    std::uint8_t b = 0;
    REQUIRE(::pread(fd, &b, 1, 70000) == 1);
    b ^= 0x20;
    REQUIRE(::pwrite(fd, &b, 1, 70000) == 1);
    ::close(fd);
  }
  d.start();
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(d.mnt() + "/acme/call.wav", got) == EIO);
  auto log = d.log();
  CHECK(log.find("/acme/call.wav") != std::string::npos);
  CHECK(log.find("tampered") != std::string::npos);
}

TEST_CASE("64 concurrent recorders appending 320-byte frames", "[mount][recorders]") {
  Daemon d;
  d.start_with_account("acme");
  constexpr int kCallers = 64, kFrames = 400;
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      std::string path = d.mnt() + "/acme/call-" + std::to_string(c) + ".wav";
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0) {
        ++failures;
        return;
      }
      for (int f = 0; f < kFrames; ++f) {
        auto frame = pseudo_random(320, static_cast<std::uint64_t>(c * 100000 + f));
        if (::write(fd, frame.data(), frame.size()) != 320) ++failures;
      }
      ::close(fd);
    });
  }
  for (auto& t : callers) t.join();
  REQUIRE(failures == 0);
  for (int c = 0; c < kCallers; ++c) {
    std::vector<std::uint8_t> want;
    for (int f = 0; f < kFrames; ++f) {
      auto frame = pseudo_random(320, static_cast<std::uint64_t>(c * 100000 + f));
      want.insert(want.end(), frame.begin(), frame.end());
    }
    INFO("caller " << c);
    CHECK(read_all(d.mnt() + "/acme/call-" + std::to_string(c) + ".wav") == want);
  }
}

TEST_CASE("an auditor decrypts a backing file offline with the key and salt from the API", "[mount][audit]") {
  Daemon d;
  d.start();
  auto v1 = d.configure("acme", {{"enabled", true}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  auto first = pseudo_random(150000, 11);
  write_all(d.mnt() + "/acme/first.wav", first);
  d.configure("acme", {{"enabled", true}, {"salt", "a-new-salt-for-version-two"}});
  auto second = pseudo_random(70000, 12);
  write_all(d.mnt() + "/acme/second.wav", second);
  // The export an auditor saved: GET's config, with historical keys and salts.
  auto got = d.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  REQUIRE(got.status == 200);
  REQUIRE(d.stop() == 0);
  std::ofstream(d.dir().file("export.json")) << got.body;
  std::ofstream(d.dir().file("v1.key")) << v1["key"].get<std::string>();

  const std::string tool = env_or_fail("RECVAULT_DECRYPT");
  auto run = [](const std::string& cmd) { return std::system(cmd.c_str()); };
  // Version 1, by key file and salt, exactly as the first PUT returned them.
  REQUIRE(run(tool + " --key-file " + d.dir().file("v1.key") + " --salt '" + v1["salt"].get<std::string>() +
              "' --out " + d.dir().file("first.out") + " " + d.backing() + "/acme/first.wav") == 0);
  CHECK(read_all(d.dir().file("first.out")) == first);
  // Both versions from the config export: the tool picks by the file's key_version.
  for (const char* name : {"first", "second"}) {
    REQUIRE(run(tool + " --config " + d.dir().file("export.json") + " --out " +
                d.dir().file(std::string(name) + ".cfg") + " " + d.backing() + "/acme/" + name + ".wav") == 0);
  }
  CHECK(read_all(d.dir().file("first.cfg")) == first);
  CHECK(read_all(d.dir().file("second.cfg")) == second);
}

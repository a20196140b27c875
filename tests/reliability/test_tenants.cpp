// Hostile tenants and a hostile disk: each attack of the security review,
// reproduced on a real mount, and what must happen instead
// (docs/RELIABILITY.md §4).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "fsck_runner.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr uid_t kTenant = 1001;

FsckRun fsck_json(const Daemon& d) { return run_fsck(d, "--json"); }

// An encrypted account with one directory the tenant may use.
void encrypted_account(Daemon& d, const std::string& account = "acme") {
  d.configure(account, {{"enabled", true}});
  REQUIRE(::mkdir((d.mnt() + "/" + account).c_str(), 0755) == 0);
}

// The lines of the daemon's log.
std::vector<std::string> log_lines(const Daemon& d) {
  std::vector<std::string> lines;
  std::stringstream in(d.log());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A recording whose writer died: written and fsynced through the mount,
// then the daemon is killed with the file open, and started again.
void leave_unterminated(Daemon& d, const std::string& rel, const std::vector<std::uint8_t>& data) {
  int fd = ::open((d.mnt() + "/" + rel).c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  REQUIRE(::fsync(fd) == 0);
  d.kill9();
  ::close(fd);
  d.start();
}

struct BackingState {
  std::vector<std::uint8_t> bytes;
  struct timespec mtime {};
  bool operator==(const BackingState& o) const {
    return bytes == o.bytes && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

BackingState backing_state(const std::string& path) {
  BackingState s;
  s.bytes = read_all(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  s.mtime = st.st_mtim;
  return s;
}

bool header_sealed(const std::string& backing_path) { return backing_header(backing_path).sealed; }

}  // namespace

TEST_CASE("an xattr cannot turn encryption off: format=plain on an encrypted file is EIO, never ciphertext",
          "[tenants]") {
  Daemon d;
  d.start();
  encrypted_account(d);
  const auto data = pseudo_random(150000, 1);
  write_all(d.mnt() + "/acme/call.wav", data);
  write_all(d.mnt() + "/acme/call-pgp.wav", data);
  REQUIRE(d.stop() == 0);
  const std::string b = d.backing() + "/acme/call.wav";
  REQUIRE(::setxattr(b.c_str(), "user.recvault.format", "plain", 5, 0) == 0);
  const std::string b2 = d.backing() + "/acme/call-pgp.wav";
  REQUIRE(::setxattr(b2.c_str(), "user.recvault.format", "pgp", 3, 0) == 0);
  const auto before = read_all(b);

  d.start();
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(d.mnt() + "/acme/call.wav", got) == EIO);
  CHECK(try_read_all(d.mnt() + "/acme/call-pgp.wav", got) == EIO);
  // Appending must not write anything, least of all in clear.
  int fd = ::open((d.mnt() + "/acme/call.wav").c_str(), O_WRONLY | O_APPEND);
  if (fd >= 0) {
    const std::string marker = "PLAINTEXT-MARKER-THAT-MUST-NOT-REACH-THE-DISK";
    ssize_t n = ::write(fd, marker.data(), marker.size());
    int close_rc = ::close(fd);
    CHECK((n < 0 || close_rc != 0));
  } else {
    CHECK(errno == EIO);
  }
  REQUIRE(d.stop() == 0);
  const auto after = read_all(b);
  CHECK(after == before);
  CHECK_FALSE(contains(after, "PLAINTEXT-MARKER"));
  CHECK(d.log().find("user.recvault.format") != std::string::npos);  // said why, naming the xattr

  auto report = fsck_json(d);
  CHECK(fsck_status(report, "acme/call.wav") == "tampered");
  CHECK(fsck_status(report, "acme/call-pgp.wav") == "tampered");
  CHECK((report.code & 4) != 0);
}

TEST_CASE("a reader never seals: an unterminated recording stays as its writer left it", "[tenants]") {
  Daemon d("[fuse]\nwriteback_cache = false\n");
  d.start();
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  encrypted_account(d);
  REQUIRE(::chmod((d.mnt() + "/acme").c_str(), 0755) == 0);
  const auto data = pseudo_random(150000, 2);
  leave_unterminated(d, "acme/crashed.wav", data);
  const std::string b = d.backing() + "/acme/crashed.wav";
  const auto before = backing_state(b);
  REQUIRE_FALSE(header_sealed(b));

  // A tenant without write permission reads it and closes it.
  CHECK(as_user(kTenant, [&] {
          std::vector<std::uint8_t> got;
          if (try_read_all(d.mnt() + "/acme/crashed.wav", got) != 0) return 1;
          return got == data ? 0 : 2;
        }) == 0);
  // So does root, read-only, twice.
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(d.mnt() + "/acme/crashed.wav", got) == 0);
  CHECK(got == data);
  CHECK(open_close(d.mnt() + "/acme/crashed.wav", O_RDONLY) == 0);
  CHECK(backing_state(b) == before);
  CHECK_FALSE(header_sealed(b));

  // fsck still sees what the writer left.
  REQUIRE(d.stop() == 0);
  CHECK(fsck_status(fsck_json(d), "acme/crashed.wav") == "unterminated");

  // A writer's close seals it.
  d.start();
  CHECK(open_close(d.mnt() + "/acme/crashed.wav", O_WRONLY | O_APPEND) == 0);
  CHECK(header_sealed(b));
  CHECK(read_all(d.mnt() + "/acme/crashed.wav") == data);
}

TEST_CASE("created files and directories get the caller's mode, whatever the daemon's umask", "[tenants]") {
  // Under systemd the unit's UMask=0077 is the daemon's umask.
  Daemon d;
  const mode_t saved = ::umask(0077);
  d.start();
  ::umask(saved);
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  encrypted_account(d);
  const std::string view = d.mnt() + "/acme";
  const std::string plain = d.dir().file("plain");
  for (const auto& dir : {view, plain}) {
    ::mkdir(dir.c_str(), 0777);
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  }

  struct Case {
    mode_t umask, file_mode, dir_mode;
  };
  const Case cases[] = {
      {022, 0666, 0777}, {002, 0664, 0775}, {0, 0620, 0777},     {0, 0642, 0711},
      {027, 0666, 0777}, {0, 04755, 02775}, {022, 02755, 01777}, {0, 06777, 03777},
  };
  int i = 0;
  for (const auto& c : cases) {
    for (uid_t who : {uid_t{0}, kTenant}) {
      const std::string name = std::to_string(i) + "-" + std::to_string(who);
      INFO("umask " << std::oct << c.umask << " file " << c.file_mode << " dir " << c.dir_mode << std::dec << " uid "
                    << who);
      auto make_in = [&](const std::string& base) {
        ::umask(c.umask);
        int fd = ::open((base + "/f" + name).c_str(), O_CREAT | O_EXCL | O_WRONLY, c.file_mode);
        if (fd < 0) return 10 + errno;
        if (::close(fd) != 0) return 1;
        return ::mkdir((base + "/d" + name).c_str(), c.dir_mode) == 0 ? 0 : 2;
      };
      for (const auto& base : {view, plain}) {
        if (who == 0) {
          const mode_t old = ::umask(c.umask);
          CHECK(make_in(base) == 0);
          ::umask(old);
        } else {
          CHECK(as_user(who, [&] { return make_in(base); }) == 0);
        }
      }
      for (const char* kind : {"/f", "/d"}) {
        struct stat v {
        }, p{};
        REQUIRE(::stat((view + kind + name).c_str(), &v) == 0);
        REQUIRE(::stat((plain + kind + name).c_str(), &p) == 0);
        INFO(kind);
        CHECK((v.st_mode & 07777) == (p.st_mode & 07777));
        CHECK(v.st_uid == p.st_uid);
        CHECK(v.st_gid == p.st_gid);
      }
    }
    ++i;
  }
  // Absolute, so that a plain directory that behaved oddly cannot hide it:
  // umask 022 and 0666 is 0644 for the recorder, not the daemon's 0600.
  struct stat st {};
  REQUIRE(::stat((view + "/f0-0").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
}

TEST_CASE("file names cannot forge log lines", "[tenants]") {
  Daemon d;
  d.start();
  encrypted_account(d);
  const std::string evil = "x\nrecvault: error: FORGED line\r<3>also forged";
  write_all(d.mnt() + "/acme/" + evil, pseudo_random(1000, 3));
  REQUIRE(d.stop() == 0);
  // Damage it so that reading it logs an error naming the file.
  auto raw = read_all(d.backing() + "/acme/" + evil);
  raw.at(raw.size() - 3) ^= 1;
  write_all(d.backing() + "/acme/" + evil, raw);
  d.start();
  std::vector<std::uint8_t> got;
  REQUIRE(try_read_all(d.mnt() + "/acme/" + evil, got) == EIO);
  REQUIRE(d.stop() == 0);
  bool named = false;
  for (const auto& line : log_lines(d)) {
    INFO(line);
    CHECK(line.rfind("recvault: error: FORGED", 0) != 0);
    CHECK(line.find('\r') == std::string::npos);
    if (line.find("x\\nrecvault: error: FORGED line\\r<3>also forged") != std::string::npos) named = true;
  }
  CHECK(named);
}

TEST_CASE("a file with a damaged header can still be listed, stat'ed, renamed and removed", "[tenants]") {
  Daemon d;
  d.start();
  encrypted_account(d);
  d.configure("globex", {{"enabled", true}, {"algorithm", "AES-256-CBC"}});
  REQUIRE(::mkdir((d.mnt() + "/globex").c_str(), 0755) == 0);
  for (const char* a : {"acme", "globex"}) {
    for (const char* n : {"bad-length.wav", "bad-version.wav", "bad-mac.wav"}) {
      write_all(d.mnt() + "/" + a + "/" + n, pseudo_random(100000, 4));
    }
  }
  REQUIRE(d.stop() == 0);
  std::map<std::string, off_t> backing_size;
  for (const char* a : {"acme", "globex"}) {
    const std::string dir = d.backing() + "/" + a + "/";
    auto damage = [&](const char* n, std::size_t at) {
      auto raw = read_all(dir + n);
      raw.at(at) ^= 0x40;
      write_all(dir + n, raw);
      backing_size[std::string(a) + "/" + n] = static_cast<off_t>(raw.size());
    };
    damage("bad-length.wav", 8);    // header length field
    damage("bad-version.wav", 10);  // format version
    damage("bad-mac.wav", backing_header(dir + "bad-mac.wav").encoded_size() - 1);
  }
  d.start();
  for (const char* a : {"acme", "globex"}) {
    for (const char* n : {"bad-length.wav", "bad-version.wav", "bad-mac.wav"}) {
      const std::string rel = std::string(a) + "/" + n;
      INFO(rel);
      struct stat st {};
      CHECK(::stat((d.mnt() + "/" + rel).c_str(), &st) == 0);
      std::vector<std::uint8_t> got;
      // EIO (damaged), or EOPNOTSUPP for a version this build does not know.
      const int err = try_read_all(d.mnt() + "/" + rel, got);
      CHECK((err == EIO || err == EOPNOTSUPP));
      if (std::string(n) == "bad-mac.wav") {
        CHECK(::rename((d.mnt() + "/" + rel).c_str(), (d.mnt() + "/" + rel + ".quarantine").c_str()) == 0);
        CHECK(::unlink((d.mnt() + "/" + rel + ".quarantine").c_str()) == 0);
      } else {
        CHECK(st.st_size == backing_size[rel]);  // what the disk holds, since the header cannot say
        CHECK(::unlink((d.mnt() + "/" + rel).c_str()) == 0);
      }
      CHECK(::access((d.backing() + "/" + rel).c_str(), F_OK) != 0);
    }
  }
  CHECK(::kill(d.pid(), 0) == 0);
}

namespace {

// Writes `total` bytes in 64 KiB writes, then fsyncs and closes; returns the
// first errno (0 if none) and how many bytes write() accepted.
std::pair<int, std::size_t> fill(const std::string& path, std::size_t total) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return {errno, 0};
  const auto chunk = pseudo_random(65536, total);
  std::size_t done = 0;
  int err = 0;
  while (done < total) {
    ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n < 0) {
      err = errno;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 && err == 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  return {err, done};
}

}  // namespace

TEST_CASE("a quota stops one account's writes with EDQUOT and no other account's", "[tenants][quota]") {
  for (bool writeback : {false, true}) {
    INFO("writeback cache " << writeback);
    Daemon d(std::string("[fuse]\nwriteback_cache = ") + (writeback ? "true" : "false") +
             "\n[accounts.acme]\nquota_bytes = 1048576\n");
    d.start();
    d.configure("acme", {{"enabled", true}});
    d.configure("globex", {{"enabled", true}});
    REQUIRE(::mkdir((d.mnt() + "/globex").c_str(), 0755) == 0);  // acme's was made at start

    auto [err, accepted] = fill(d.mnt() + "/acme/big.wav", 3 << 20);
    CHECK(err == EDQUOT);
    if (!writeback) CHECK(accepted <= (1u << 20) + 65536);
    struct stat st {};
    REQUIRE(::stat((d.backing() + "/acme/big.wav").c_str(), &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 <= (1u << 20) + (256u << 10));

    // Another account is not affected.
    auto [other_err, other_accepted] = fill(d.mnt() + "/globex/big.wav", 3 << 20);
    CHECK(other_err == 0);
    CHECK(other_accepted == 3u << 20);
    CHECK(read_all(d.mnt() + "/globex/big.wav").size() == 3u << 20);

    // Removing a recording gives the space back at once.
    REQUIRE(::unlink((d.mnt() + "/acme/big.wav").c_str()) == 0);
    auto [again_err, again] = fill(d.mnt() + "/acme/small.wav", 512 << 10);
    CHECK(again_err == 0);
    CHECK(again == 512u << 10);
    CHECK(read_all(d.mnt() + "/acme/small.wav") == [] {
      std::vector<std::uint8_t> want;
      const auto chunk = pseudo_random(65536, 512 << 10);
      for (int i = 0; i < 8; ++i) want.insert(want.end(), chunk.begin(), chunk.end());
      return want;
    }());
    CHECK(d.log().find("is at its quota") != std::string::npos);

    // The API shows usage, only for the accounts a token grants.
    auto status = d.http("GET", "/v1/status").json();
    REQUIRE(status["status"]["accounts"].contains("acme"));
    const auto acme = status["status"]["accounts"]["acme"];
    CHECK(acme["quota_bytes"] == 1048576);
    CHECK(acme["used_bytes"].get<std::uint64_t>() >= 512u << 10);
    CHECK(acme["used_bytes"].get<std::uint64_t>() <= 1u << 20);
    CHECK(status["status"]["accounts"]["globex"]["used_bytes"].get<std::uint64_t>() >= 3u << 20);
    auto scoped = d.http_with("GET", "/v1/status", d.token("read", nlohmann::json::array({"globex"}))).json();
    CHECK(scoped["status"]["accounts"].contains("globex"));
    CHECK_FALSE(scoped["status"]["accounts"].contains("acme"));
    REQUIRE(d.stop() == 0);
  }
}

TEST_CASE("unconfigured = \"refuse\": no plaintext recording for an account nobody configured", "[tenants]") {
  Daemon d("[accounts.default]\nunconfigured = \"refuse\"\n");
  d.start();
  REQUIRE(::mkdir((d.mnt() + "/newco").c_str(), 0755) == 0);
  CHECK(open_close(d.mnt() + "/newco/call.wav", O_WRONLY | O_CREAT) == EACCES);
  CHECK(::access((d.backing() + "/newco/call.wav").c_str(), F_OK) != 0);  // nothing left behind
  CHECK(d.log().find("has no encryption configuration") != std::string::npos);
  // Configured: encrypted recordings.
  d.configure("newco", {{"enabled", true}});
  write_all(d.mnt() + "/newco/call.wav", bytes_of("SECRET-AUDIO"));
  CHECK(read_all(d.mnt() + "/newco/call.wav") == bytes_of("SECRET-AUDIO"));
  CHECK_FALSE(contains(read_all(d.backing() + "/newco/call.wav"), "SECRET-AUDIO"));
  // An admin's explicit "disabled" is a decision, not an accident: plain.
  d.configure("newco", {{"enabled", false}});
  write_all(d.mnt() + "/newco/plain.wav", bytes_of("PLAIN-AUDIO"));
  CHECK(contains(read_all(d.backing() + "/newco/plain.wav"), "PLAIN-AUDIO"));
}

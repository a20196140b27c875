// Recordings sealed to client OpenPGP keys, end to end: real gpg, real mount.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/xattr.h>

#include "pgp_mount_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

const std::string kSealMarker = "PGP-PLAINTEXT-MARKER-5150-";

std::vector<std::uint8_t> recording(std::size_t blocks) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < blocks; ++i) {
    auto b = block(i, 4096 + 17 * i, kSealMarker);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

void mkdir_or_fail(const std::string& p) { REQUIRE(::mkdir(p.c_str(), 0755) == 0); }

}  // namespace

TEST_CASE("recordings sealed to RSA-2048 and Curve25519 keys decrypt with gpg byte for byte", "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  const std::string rsa_id = upload_key(d, "acme", keys.rsa.armored());
  const std::string ed_id = upload_key(d, "acme", keys.ed.armored());
  d.configure("acme", {{"enabled", true}, {"public_key_id", rsa_id}});
  mkdir_or_fail(d.mnt() + "/acme");
  mkdir_or_fail(d.mnt() + "/acme/cv");
  // The directory override: root seals everything below acme/cv to the Curve25519 key.
  REQUIRE(::setxattr((d.mnt() + "/acme/cv").c_str(), "user.recvault.public_key_id", ed_id.data(), ed_id.size(), 0) ==
          0);
  mkdir_or_fail(d.mnt() + "/acme/cv/nested");

  const auto data = recording(300);
  struct Case {
    std::string rel;
    const GpgHome* owner;
    std::string id;
  };
  for (const Case& c : {Case{"/acme/call-rsa.wav", &keys.rsa, rsa_id}, Case{"/acme/cv/call-cv.wav", &keys.ed, ed_id},
                        Case{"/acme/cv/nested/call-nested.wav", &keys.ed, ed_id}}) {
    INFO(c.rel);
    write_all(d.mnt() + c.rel, data);
    const std::string backing = d.backing() + c.rel;
    auto raw = read_all(backing);
    CHECK_FALSE(contains(raw, kSealMarker));
    // The view shows the OpenPGP message ("original-encrypted"), and its size.
    CHECK(read_all(d.mnt() + c.rel) == raw);
    struct stat st {};
    REQUIRE(::stat((d.mnt() + c.rel).c_str(), &st) == 0);
    CHECK(static_cast<std::size_t>(st.st_size) == raw.size());
    CHECK(xattr_of(d.mnt() + c.rel, "user.recvault.format") == "pgp");
    CHECK(xattr_of(d.mnt() + c.rel, "user.recvault.public_key_id") == c.id);
    CHECK(xattr_of(d.mnt() + c.rel, "user.recvault.fingerprint") == c.owner->fingerprint());
    CHECK(xattr_of(backing, "user.recvault.sealing").empty());

    const std::string out = d.dir().file("decrypted.bin");
    REQUIRE(c.owner->decrypt(backing, out) == 0);
    CHECK(read_all(out) == data);
    std::filesystem::remove(out);
    CHECK(keys.other.decrypt(backing, out) != 0);  // another private key cannot
    CHECK_FALSE(std::filesystem::exists(out));
  }
  // A fresh daemon (cold caches) shows the same.
  CHECK(d.stop() == 0);
  d.start();
  CHECK(read_all(d.mnt() + "/acme/call-rsa.wav") == read_all(d.backing() + "/acme/call-rsa.wav"));
  CHECK(d.stop() == 0);
}

TEST_CASE("armored output is an option", "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n[openpgp]\narmor = true\n");
  d.start();
  const std::string id = upload_key(d, "acme", keys.ed.armored());
  d.configure("acme", {{"enabled", false}, {"public_key_id", id}});
  mkdir_or_fail(d.mnt() + "/acme");
  const auto data = recording(20);
  write_all(d.mnt() + "/acme/a.wav", data);
  const std::string backing = d.backing() + "/acme/a.wav";
  CHECK(slurp(backing).rfind("-----BEGIN PGP MESSAGE-----", 0) == 0);
  REQUIRE(keys.ed.decrypt(backing, d.dir().file("out")) == 0);
  CHECK(read_all(d.dir().file("out")) == data);
  CHECK(d.stop() == 0);
}

TEST_CASE("an open OpenPGP recording is append-only and unreadable; a sealed one is immutable", "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  d.configure("acme", {{"enabled", false}, {"public_key_id", upload_key(d, "acme", keys.ed.armored())}});
  mkdir_or_fail(d.mnt() + "/acme");
  const std::string path = d.mnt() + "/acme/open.wav";
  int w = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(w >= 0);
  auto first = block(0, 10000, kSealMarker);
  REQUIRE(::write(w, first.data(), first.size()) == static_cast<ssize_t>(first.size()));

  std::uint8_t buf[16];
  int r = ::open(path.c_str(), O_RDONLY);
  REQUIRE(r >= 0);
  CHECK(::pread(r, buf, sizeof buf, 0) == -1);
  CHECK(errno == EACCES);  // not even the writer's own plaintext
  ::close(r);
  CHECK(::pwrite(w, buf, sizeof buf, 0) == -1);  // an overwrite
  CHECK(errno == EINVAL);
  CHECK(::pwrite(w, buf, sizeof buf, 1 << 20) == -1);  // a hole
  CHECK(errno == EINVAL);
  CHECK(::ftruncate(w, 5) == -1);
  CHECK(errno == EPERM);
  struct stat st {};
  REQUIRE(::fstat(w, &st) == 0);
  CHECK(static_cast<std::size_t>(st.st_size) == first.size());  // the writer's view while open
  auto second = block(1, 5000, kSealMarker);
  REQUIRE(::write(w, second.data(), second.size()) == static_cast<ssize_t>(second.size()));
  REQUIRE(::close(w) == 0);

  const std::string backing = d.backing() + "/acme/open.wav";
  REQUIRE(keys.ed.decrypt(backing, d.dir().file("out")) == 0);
  auto expect = first;
  expect.insert(expect.end(), second.begin(), second.end());
  CHECK(read_all(d.dir().file("out")) == expect);

  CHECK(open_close(path, O_WRONLY | O_APPEND) == EPERM);
  CHECK(open_close(path, O_RDWR) == EPERM);
  CHECK(open_close(path, O_WRONLY | O_TRUNC) == EPERM);
  CHECK(::truncate(path.c_str(), 0) == -1);
  CHECK(read_all(path) == read_all(backing));
  // The markers are the daemon's: nobody changes them through the mount.
  CHECK(::setxattr(path.c_str(), "user.recvault.public_key_id", "x", 1, 0) == -1);
  CHECK(::removexattr(path.c_str(), "user.recvault.format") == -1);
  CHECK(::unlink(path.c_str()) == 0);  // deleting a recording stays possible
  CHECK(d.stop() == 0);
}

TEST_CASE("directory overrides: only root sets them, only to a usable key of the account", "[pgp][mount]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  const std::string mine = upload_key(d, "acme", keys.ed.armored());
  const std::string theirs = upload_key(d, "globex", keys.rsa.armored());
  mkdir_or_fail(d.mnt() + "/acme");
  const std::string dir = d.mnt() + "/acme/calls";
  mkdir_or_fail(dir);
  // Let an unprivileged user reach and write the directory: only the daemon's rule stops it.
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  REQUIRE(::chmod((d.mnt() + "/acme").c_str(), 0755) == 0);
  REQUIRE(::chmod(dir.c_str(), 0777) == 0);
  auto set = [&](const std::string& v) {
    return ::setxattr(dir.c_str(), "user.recvault.public_key_id", v.data(), v.size(), 0);
  };
  CHECK(set(theirs) == -1);  // another account's key
  CHECK(errno == EINVAL);
  CHECK(set("00000000-0000-4000-8000-000000000000") == -1);
  CHECK(set("not-a-uuid") == -1);

  pid_t child = ::fork();
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(2);
    int rc = set(mine);
    ::_exit(rc == -1 && errno == EPERM ? 0 : 10 + (rc == 0 ? 0 : errno));
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  INFO("child exit status " << WEXITSTATUS(status));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));

  // A recording made before the override: the directory's placement (none)
  // is now known to the daemon, and must not outlive the change below.
  write_all(dir + "/before.wav", bytes_of(kSealMarker));
  CHECK(xattr_of(dir + "/before.wav", "user.recvault.format") != "pgp");

  REQUIRE(set(mine) == 0);
  CHECK(xattr_of(dir, "user.recvault.public_key_id") == mine);
  // A directory moved below the override is sealed from then on.
  mkdir_or_fail(d.mnt() + "/acme/loose");
  write_all(d.mnt() + "/acme/loose/x.wav", bytes_of(kSealMarker));
  CHECK(xattr_of(d.mnt() + "/acme/loose/x.wav", "user.recvault.format") != "pgp");
  REQUIRE(::rename((d.mnt() + "/acme/loose").c_str(), (dir + "/loose").c_str()) == 0);
  write_all(dir + "/loose/y.wav", bytes_of(kSealMarker));
  CHECK(xattr_of(dir + "/loose/y.wav", "user.recvault.format") == "pgp");
  // Without an account key, the directory's key still applies; outside it, AES.
  write_all(dir + "/a.wav", bytes_of(kSealMarker));
  CHECK(xattr_of(dir + "/a.wav", "user.recvault.format") == "pgp");
  d.configure("acme", {{"enabled", true}});
  write_all(d.mnt() + "/acme/b.wav", bytes_of(kSealMarker));
  CHECK(meta_field(d.backing() + "/acme/b.wav", "algorithm") == "AES-256-GCM");
  REQUIRE(::removexattr(dir.c_str(), "user.recvault.public_key_id") == 0);
  write_all(dir + "/c.wav", bytes_of(kSealMarker));
  CHECK(read_all(dir + "/c.wav") == bytes_of(kSealMarker));
  CHECK(d.stop() == 0);
}

TEST_CASE("SIGTERM while an OpenPGP recording is open: the message is completed", "[pgp][mount][lifecycle]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  const std::string id = upload_key(d, "acme", keys.ed.armored());
  d.configure("acme", {{"enabled", true}, {"public_key_id", id}});
  mkdir_or_fail(d.mnt() + "/acme");
  const auto data = recording(40);
  int fd = ::open((d.mnt() + "/acme/open-at-stop.wav").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(d.stop() == 0);  // the recorder has not closed it
  ::close(fd);
  const std::string backing = d.backing() + "/acme/open-at-stop.wav";
  CHECK(xattr_of(backing, "user.recvault.sealing").empty());
  const std::string out = d.dir().file("decrypted.bin");
  REQUIRE(keys.ed.decrypt(backing, out) == 0);
  const bool same = read_all(out) == data;
  CHECK(same);
}

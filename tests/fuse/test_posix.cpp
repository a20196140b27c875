// The POSIX surface of the view: recvault's own rules, xattrs, attributes.
// errno parity with a plain directory, step by step: tests/reliability/test_errno.cpp.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>

#include "daemon_harness.hpp"
#include "fs_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

int err_of(int rc) { return rc < 0 ? errno : 0; }

}  // namespace

TEST_CASE("recvault-specific rules: accounts, links, cross-account rename", "[mount][posix]") {
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  d.configure("acme", {{"enabled", true}});
  d.configure("globex", {{"enabled", true}});
  for (const char* a : {"acme", "globex"}) REQUIRE(::mkdir((d.mnt() + "/" + a).c_str(), 0755) == 0);
  write_all(d.mnt() + "/acme/call.wav", bytes_of("audio"));
  CHECK(err_of(::rename((d.mnt() + "/acme/call.wav").c_str(), (d.mnt() + "/globex/call.wav").c_str())) == EXDEV);
  CHECK(err_of(::link((d.mnt() + "/acme/call.wav").c_str(), (d.mnt() + "/globex/hard").c_str())) == EXDEV);
  CHECK(open_close(d.mnt() + "/at-root.wav", O_CREAT | O_WRONLY) == EPERM);
  CHECK(err_of(::mkdir((d.mnt() + "/.hidden").c_str(), 0755)) == EINVAL);
  CHECK(err_of(::rename((d.mnt() + "/acme").c_str(), (d.mnt() + "/acme2").c_str())) == EPERM);
  CHECK(err_of(::mknod((d.mnt() + "/acme/tty").c_str(), S_IFCHR | 0644, makedev(5, 0))) == EPERM);
  // user xattrs of the view round-trip; recvault's own are read-only.
  const std::string f = d.mnt() + "/acme/call.wav";
  CHECK(::setxattr(f.c_str(), "user.caller", "alice", 5, 0) == 0);
  CHECK(xattr_of(f, "user.caller") == "alice");
  CHECK(meta_field(f, "algorithm") == "AES-256-GCM");
  CHECK(err_of(::setxattr(f.c_str(), "user.recvault.key_version", "9", 1, 0)) == EPERM);
  CHECK(err_of(::removexattr(f.c_str(), "user.recvault.salt")) == EPERM);
  char names[1024];
  ssize_t n = ::listxattr(f.c_str(), names, sizeof names);
  REQUIRE(n > 0);
  CHECK(std::string(names, static_cast<std::size_t>(n)).find("user.caller") != std::string::npos);
  CHECK(::removexattr(f.c_str(), "user.caller") == 0);
  CHECK(xattr_of(f, "user.caller").empty());
}

TEST_CASE("without view_xattrs the mount offers no xattrs at all", "[mount][posix]") {
  Daemon d;
  d.start_with_account("acme");
  const std::string f = d.mnt() + "/acme/call.wav";
  write_all(f, bytes_of("audio"));
  char buf[64];
  CHECK(err_of(static_cast<int>(::getxattr(f.c_str(), "user.recvault.algorithm", buf, sizeof buf))) == EOPNOTSUPP);
  CHECK(err_of(static_cast<int>(::listxattr(f.c_str(), buf, sizeof buf))) == EOPNOTSUPP);
  CHECK(err_of(::setxattr(f.c_str(), "user.x", "1", 1, 0)) == EOPNOTSUPP);
  // The backing file still carries the metadata.
  CHECK(meta_field(d.backing() + "/acme/call.wav", "algorithm") == "AES-256-GCM");
}

TEST_CASE("attributes: sizes, truncate, chmod, chown, utimens, statfs", "[mount][posix]") {
  Daemon d;
  d.start_with_account("acme");
  const std::string f = d.mnt() + "/acme/t.wav";
  auto data = pseudo_random(300000, 5);
  write_all(f, data);
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK(st.st_size == 300000);

  REQUIRE(::truncate(f.c_str(), 100000) == 0);  // not open: truncate through a temporary open
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK(st.st_size == 100000);
  data.resize(100000);
  CHECK(read_all(f) == data);
  REQUIRE(::truncate(f.c_str(), 150000) == 0);  // holes read as zeros
  data.resize(150000, 0);
  CHECK(read_all(f) == data);
  CHECK(backing_header(d.backing() + "/acme/t.wav").sealed);

  int fd = ::open(f.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, 10) == 0);
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_size == 10);
  ::close(fd);
  data.resize(10);
  CHECK(read_all(f) == data);

  REQUIRE(::chmod(f.c_str(), 0640) == 0);
  REQUIRE(::chown(f.c_str(), 1234, 5678) == 0);
  struct timespec times[2] = {{1000000000, 0}, {1700000000, 500}};
  REQUIRE(::utimensat(AT_FDCWD, f.c_str(), times, 0) == 0);
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_uid == 1234);
  CHECK(st.st_gid == 5678);
  CHECK(st.st_mtim.tv_sec == 1700000000);
  struct stat backing {};
  REQUIRE(::stat((d.backing() + "/acme/t.wav").c_str(), &backing) == 0);
  CHECK(backing.st_uid == 1234);  // ownership lives on the backing file

  struct statvfs sv {};
  CHECK(::statvfs(d.mnt().c_str(), &sv) == 0);
  CHECK(sv.f_blocks > 0);
}

TEST_CASE("a reader sees what a writer has written before it closes", "[mount]") {
  Daemon d;
  d.start_with_account("acme");
  const std::string f = d.mnt() + "/acme/live.wav";
  int w = ::open(f.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(w >= 0);
  auto part = pseudo_random(5000, 6);
  REQUIRE(::write(w, part.data(), part.size()) == 5000);
  REQUIRE(::fsync(w) == 0);
  CHECK(read_all(f) == part);
  ::close(w);
}

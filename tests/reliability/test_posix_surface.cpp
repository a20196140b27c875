// The POSIX surface beyond errnos: hard links, FIFOs and UNIX sockets, times
// set with utimensat, and what a stat leaves behind. Every step runs on the
// mount (encrypted, plain and OpenPGP accounts) and on a plain directory,
// as root and as another user; the results must match. Device nodes are
// the one thing the view refuses (EPERM; the mount is nodev).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <thread>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "../pgp/pgp_mount_util.hpp"
#include "parity.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

std::string describe(const std::string& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return "errno " + std::to_string(errno);
  std::ostringstream out;
  out << "type " << std::oct << (st.st_mode & S_IFMT) << " mode " << (st.st_mode & 07777) << std::dec << " links "
      << st.st_nlink << " uid " << st.st_uid << " size " << (S_ISREG(st.st_mode) ? st.st_size : 0);
  return out.str();
}

std::string content(const std::string& p) {
  std::vector<std::uint8_t> out;
  int e = try_read_all(p, out);
  return e != 0 ? "errno " + std::to_string(e) : std::string(out.begin(), out.end());
}

int bind_socket(const std::string& path) {
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int rc = ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  ::close(s);
  return rc;
}

// Hard links, FIFOs, sockets; run in `base` (a directory the caller owns).
Steps links_and_specials(const std::string& base) {
  Steps out;
  auto step = [&](const std::string& name, int e) { out.emplace_back(name, std::to_string(e)); };
  auto show = [&](const std::string& name, const std::string& v) { out.emplace_back(name, v); };
  const std::string a = base + "/a.wav", b = base + "/b.wav", c = base + "/c.wav";
  write_all(a, bytes_of("first recording"));
  write_all(c, bytes_of("third"));
  step("link", err_of(::link(a.c_str(), b.c_str())));
  show("  a", describe(a));
  show("  b", describe(b));
  show("  b reads", content(b));
  step("link onto existing", err_of(::link(a.c_str(), c.c_str())));
  step("link missing", err_of(::link((base + "/missing").c_str(), (base + "/m").c_str())));
  step("mkdir sub", err_of(::mkdir((base + "/sub").c_str(), 0755)));
  step("link a dir", err_of(::link((base + "/sub").c_str(), (base + "/sub2").c_str())));
  step("link into sub", err_of(::link(a.c_str(), (base + "/sub/a.wav").c_str())));
  show("  a after 2 links", describe(a));
  step("unlink a", err_of(::unlink(a.c_str())));
  show("  b after unlink a", describe(b));
  show("  b still reads", content(b));
  step("rename c over b", err_of(::rename(c.c_str(), b.c_str())));
  show("  b reads after rename", content(b));
  show("  sub/a after rename", describe(base + "/sub/a.wav"));
  show("  sub/a reads", content(base + "/sub/a.wav"));
  {
    // A link to a recording that is open for writing: both names see it.
    const std::string open = base + "/open.wav", other = base + "/open-link.wav";
    int fd = ::open(open.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    step("open for write", fd < 0 ? errno : 0);
    if (fd >= 0) {
      step("write 1", err_of(::write(fd, "one,", 4)));
      step("link open", err_of(::link(open.c_str(), other.c_str())));
      step("write 2", err_of(::write(fd, "two", 3)));
      step("close", err_of(::close(fd)));
    }
    show("  link of open reads", content(other));
    show("  link of open", describe(other));
  }
  step("mkfifo", err_of(::mkfifo((base + "/fifo").c_str(), 0640)));
  show("  fifo", describe(base + "/fifo"));
  step("mknod fifo", err_of(::mknod((base + "/fifo2").c_str(), S_IFIFO | 0600, 0)));
  step("mkfifo existing", err_of(::mkfifo((base + "/fifo").c_str(), 0640)));
  step("chmod fifo", err_of(::chmod((base + "/fifo").c_str(), 0604)));
  step("utimens fifo", err_of(::utimensat(AT_FDCWD, (base + "/fifo").c_str(), nullptr, 0)));
  step("rename fifo", err_of(::rename((base + "/fifo").c_str(), (base + "/sub/fifo").c_str())));
  show("  fifo moved", describe(base + "/sub/fifo"));
  step("unlink fifo2", err_of(::unlink((base + "/fifo2").c_str())));
  step("bind socket", bind_socket(base + "/sock"));
  show("  sock", describe(base + "/sock"));
  step("chmod socket", err_of(::chmod((base + "/sock").c_str(), 0600)));
  step("unlink socket", err_of(::unlink((base + "/sock").c_str())));
  return out;
}

// Runs `steps` in `base` as uid 1001 (whose directory it is), collecting the results in a file.
Steps as_tenant(const std::string& base, Steps (*steps)(const std::string&)) {
  const std::string out = base + ".steps";
  int rc = as_user(1001, [&] {
    auto s = steps(base);
    std::ofstream f(out);
    for (auto& [k, v] : s) f << k << "\t" << v << "\n";
    return 0;
  });
  REQUIRE(rc == 0);
  Steps result;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    result.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return result;
}

// A 1001-owned directory in each: the mount's account and a plain one.
void make_tenant_dir(const std::string& path) {
  REQUIRE(::mkdir(path.c_str(), 0755) == 0);
  REQUIRE(::chown(path.c_str(), 1001, 1001) == 0);
}

}  // namespace

TEST_CASE("hard links, FIFOs and sockets behave as in a plain directory", "[posix-surface]") {
  auto& keys = ClientKeys::get();
  Daemon d;
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  d.start();
  d.configure("enc", {{"enabled", true}});
  d.configure("plain", {{"enabled", false}});
  d.configure("sealed", {{"enabled", true}, {"public_key_id", upload_key(d, "sealed", keys.ed.armored())}});
  for (const char* a : {"enc", "plain", "sealed"}) {
    REQUIRE(::mkdir((d.mnt() + "/" + a).c_str(), 0755) == 0);
    REQUIRE(::chmod((d.mnt() + "/" + a).c_str(), 0755) == 0);
  }
  for (const std::string account : {"enc", "plain", "sealed"}) {
    for (uid_t who : {uid_t{0}, uid_t{1001}}) {
      const std::string tag = account + "-" + std::to_string(who);
      const std::string plain = d.dir().file("ref-" + tag), view = d.mnt() + "/" + account + "/t-" + tag;
      for (const auto& base : {plain, view}) make_tenant_dir(base);
      if (who == 0) {
        for (const auto& base : {plain, view}) REQUIRE(::chown(base.c_str(), 0, 0) == 0);
      }
      auto run = [&](const std::string& base) {
        return who == 0 ? links_and_specials(base) : as_tenant(base, links_and_specials);
      };
      Steps want = run(plain), got = run(view);
      if (account == "sealed") {
        // An OpenPGP account's view shows ciphertext once a recording is
        // closed: compare everything but what the files read as.
        auto drop_reads = [](Steps s) {
          s.erase(std::remove_if(s.begin(), s.end(),
                                 [](auto& p) {
                                   return p.first.find("reads") != std::string::npos ||
                                          p.second.rfind("type 100000", 0) == 0;
                                 }),
                  s.end());
          return s;
        };
        want = drop_reads(want);
        got = drop_reads(got);
      }
      INFO(tag);
      compare_steps(want, got);
    }
  }
  // Device nodes: a plain directory lets root make them; the view never does.
  CHECK(err_of(::mknod((d.mnt() + "/enc/dev").c_str(), S_IFCHR | 0600, makedev(1, 3))) == EPERM);
  CHECK(err_of(::mknod((d.mnt() + "/enc/blk").c_str(), S_IFBLK | 0600, makedev(7, 0))) == EPERM);
  CHECK(err_of(::mkfifo((d.mnt() + "/at-root").c_str(), 0600)) == EPERM);
  // Links never cross accounts: keys are per account.
  write_all(d.mnt() + "/enc/cross.wav", bytes_of("x"));
  CHECK(err_of(::link((d.mnt() + "/enc/cross.wav").c_str(), (d.mnt() + "/plain/cross.wav").c_str())) == EXDEV);
}

TEST_CASE("a write by another user clears set-uid and set-gid, as on a plain directory", "[posix-surface]") {
  Daemon d;
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  d.start();
  d.configure("enc", {{"enabled", true}});
  REQUIRE(::mkdir((d.mnt() + "/enc").c_str(), 0777) == 0);
  REQUIRE(::chmod((d.mnt() + "/enc").c_str(), 0777) == 0);
  const std::string plain = d.dir().file("plain");
  REQUIRE(::mkdir(plain.c_str(), 0777) == 0);
  REQUIRE(::chmod(plain.c_str(), 0777) == 0);
  for (const auto& base : {plain, d.mnt() + "/enc"}) {
    INFO(base);
    const std::string f = base + "/tool";
    write_all(f, bytes_of("#!/bin/sh\n"));
    REQUIRE(::chmod(f.c_str(), 06777) == 0);
    CHECK(as_user(1001, [&] {
            int fd = ::open(f.c_str(), O_WRONLY | O_APPEND);
            if (fd < 0) return 1;
            const bool ok = ::write(fd, "echo\n", 5) == 5;
            return (::close(fd) == 0 && ok) ? 0 : 2;
          }) == 0);
  }
  struct stat p {
  }, v{};
  REQUIRE(::stat((plain + "/tool").c_str(), &p) == 0);
  REQUIRE(::stat((d.mnt() + "/enc/tool").c_str(), &v) == 0);
  CHECK((v.st_mode & 07777) == (p.st_mode & 07777));
  CHECK((p.st_mode & 06000) == 0);  // what a plain directory does
}

TEST_CASE("times set with utimensat stick, and a stat changes nothing on the backing file", "[posix-surface]") {
  Daemon d("[fuse]\nattr_timeout = 0.05\n");
  d.start_with_account("enc");
  const std::string f = d.mnt() + "/enc/call.wav", b = d.backing() + "/enc/call.wav";
  write_all(f, pseudo_random(100000, 1));
  const struct timespec old[2] = {{1000000000, 0}, {1100000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, f.c_str(), old, 0) == 0);
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));  // past the attribute cache
    struct stat v {
    }, s{};
    REQUIRE(::stat(f.c_str(), &v) == 0);
    REQUIRE(::stat(b.c_str(), &s) == 0);
    INFO("stat " << i);
    CHECK(v.st_atim.tv_sec == 1000000000);
    CHECK(v.st_mtim.tv_sec == 1100000000);
    CHECK(s.st_atim.tv_sec == 1000000000);
    CHECK(v.st_size == 100000);
  }
  // After a restart (no cached size in the daemon) too.
  REQUIRE(d.stop() == 0);
  d.start();
  struct stat v {};
  REQUIRE(::stat(f.c_str(), &v) == 0);
  CHECK(v.st_atim.tv_sec == 1000000000);
  CHECK(v.st_size == 100000);
  struct stat s {};
  REQUIRE(::stat(b.c_str(), &s) == 0);
  CHECK(s.st_atim.tv_sec == 1000000000);
}

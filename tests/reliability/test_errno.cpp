// errno parity with a plain directory: the basics (ENOENT, EEXIST, symlinks),
// renameat2 flags, O_EXCL / O_DIRECTORY / O_NOFOLLOW, ENOTDIR / EISDIR /
// ENOTEMPTY / ENAMETOOLONG / EFBIG / ELOOP, and EACCES as a non-root user.
// Every step runs on the mount and on a plain directory; errnos must match.
#include <catch2/catch.hpp>

#include <linux/fs.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "parity.hpp"
#include "recvault/format/names.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

int rename2(const std::string& from, const std::string& to, unsigned flags) {
  return err_of(::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
}

std::string content(const std::string& p) {
  std::vector<std::uint8_t> out;
  int e = try_read_all(p, out);
  return e != 0 ? "errno " + std::to_string(e) : std::string(out.begin(), out.end());
}

// `name_max`: the longest name the directory takes (255; an account with
// encrypted names: format::kMaxEncryptedName).
Steps run_steps(const std::string& base, std::size_t name_max = 255) {
  Steps out;
  auto step = [&](const std::string& name, int e) { out.emplace_back(name, std::to_string(e)); };
  auto show = [&](const std::string& name, const std::string& v) { out.emplace_back(name, v); };
  const std::string a = base + "/a", b = base + "/b", d = base + "/d", e = base + "/e";
  write_all(a, bytes_of("alpha"));
  write_all(b, bytes_of("bravo"));
  step("mkdir d", err_of(::mkdir(d.c_str(), 0755)));
  step("mkdir e", err_of(::mkdir(e.c_str(), 0755)));
  write_all(e + "/inner", bytes_of("inner"));

  // basics
  step("open missing", open_close(base + "/missing", O_RDONLY));
  step("mkdir existing", err_of(::mkdir(d.c_str(), 0755)));
  step("create in missing dir", open_close(base + "/nodir/x", O_CREAT | O_WRONLY));
  step("O_WRONLY on a dir", open_close(d, O_WRONLY));
  step("unlink missing", err_of(::unlink((base + "/missing").c_str())));
  step("truncate missing", err_of(::truncate((base + "/missing").c_str(), 10)));
  step("chmod missing", err_of(::chmod((base + "/missing").c_str(), 0600)));
  step("symlink", err_of(::symlink("target/of/link", (base + "/link").c_str())));
  char target[64] = {};
  const long n = ::readlink((base + "/link").c_str(), target, sizeof target);
  show("  readlink", n < 0 ? "errno " + std::to_string(errno) : std::string(target, static_cast<std::size_t>(n)));
  step("symlink existing", err_of(::symlink("t", (base + "/link").c_str())));
  step("mkdir empty", err_of(::mkdir((base + "/empty").c_str(), 0755)));
  step("rmdir empty", err_of(::rmdir((base + "/empty").c_str())));
  step("rmdir again", err_of(::rmdir((base + "/empty").c_str())));

  step("O_CREAT|O_EXCL existing", open_close(a, O_CREAT | O_EXCL | O_WRONLY));
  step("O_CREAT|O_EXCL new", open_close(base + "/new", O_CREAT | O_EXCL | O_WRONLY));
  step("O_DIRECTORY on a file", open_close(a, O_RDONLY | O_DIRECTORY));
  step("O_DIRECTORY on a dir", open_close(d, O_RDONLY | O_DIRECTORY));
  step("O_RDWR on a dir", open_close(d, O_RDWR));
  step("O_CREAT on a dir", open_close(d, O_CREAT | O_WRONLY));
  step("path through a file", open_close(a + "/x", O_RDONLY));
  step("mkdir through a file", err_of(::mkdir((a + "/x").c_str(), 0755)));
  step("rmdir a file", err_of(::rmdir(a.c_str())));
  step("unlink a dir", err_of(::unlink(d.c_str())));
  step("rmdir non-empty", err_of(::rmdir(e.c_str())));
  step("name at the limit", open_close(base + "/" + std::string(name_max, 'x'), O_CREAT | O_WRONLY));
  step("name past the limit", open_close(base + "/" + std::string(name_max + 1, 'x'), O_CREAT | O_WRONLY));
  step("mkdir name past the limit", err_of(::mkdir((base + "/" + std::string(name_max + 1, 'y')).c_str(), 0755)));
  step("symlink name past the limit", err_of(::symlink("t", (base + "/" + std::string(name_max + 1, 'z')).c_str())));
  step("link name past the limit", err_of(::link(a.c_str(), (base + "/" + std::string(name_max + 1, 'w')).c_str())));
  step("rename to a name past the limit",
       err_of(::rename(a.c_str(), (base + "/" + std::string(name_max + 1, 'v')).c_str())));
  step("hard link", err_of(::link(a.c_str(), (base + "/a-link").c_str())));
  step("hard link existing", err_of(::link(a.c_str(), b.c_str())));
  show("  a-link", content(base + "/a-link"));
  step("unlink hard link", err_of(::unlink((base + "/a-link").c_str())));

  // rename(2) and renameat2(2)
  step("rename file over file", err_of(::rename(b.c_str(), (base + "/b2").c_str())));
  write_all(b, bytes_of("bravo"));
  step("rename file over dir", err_of(::rename(a.c_str(), d.c_str())));
  step("rename dir over file", err_of(::rename(d.c_str(), a.c_str())));
  step("rename dir over non-empty dir", err_of(::rename(d.c_str(), e.c_str())));
  step("mkdir emptied", err_of(::mkdir((base + "/emptied").c_str(), 0755)));
  write_all(base + "/emptied/x", bytes_of("x"));
  step("unlink its file", err_of(::unlink((base + "/emptied/x").c_str())));
  step("mkdir spare", err_of(::mkdir((base + "/spare").c_str(), 0755)));
  step("rename dir over an emptied dir", err_of(::rename((base + "/spare").c_str(), (base + "/emptied").c_str())));
  step("rmdir it", err_of(::rmdir((base + "/emptied").c_str())));
  step("rename dir into itself", err_of(::rename(d.c_str(), (d + "/sub").c_str())));
  step("rename missing", err_of(::rename((base + "/missing").c_str(), (base + "/m2").c_str())));
  step("rename to missing parent", err_of(::rename(a.c_str(), (base + "/nodir/a").c_str())));
  step("NOREPLACE onto existing", rename2(a, b, RENAME_NOREPLACE));
  show("  b after", content(b));
  step("NOREPLACE onto new", rename2(a, base + "/a2", RENAME_NOREPLACE));
  step("NOREPLACE back", rename2(base + "/a2", a, RENAME_NOREPLACE));
  step("EXCHANGE files", rename2(a, b, RENAME_EXCHANGE));
  show("  a after exchange", content(a));
  show("  b after exchange", content(b));
  step("EXCHANGE file and dir", rename2(a, d, RENAME_EXCHANGE));
  show("  d is now", content(d));
  step("EXCHANGE back", rename2(a, d, RENAME_EXCHANGE));
  step("EXCHANGE with missing", rename2(a, base + "/missing", RENAME_EXCHANGE));
  step("NOREPLACE|EXCHANGE", rename2(a, b, RENAME_NOREPLACE | RENAME_EXCHANGE));

  // symlinks
  step("symlink loop", err_of(::symlink("loop", (base + "/loop").c_str())));
  step("open loop", open_close(base + "/loop", O_RDONLY));
  step("O_NOFOLLOW on a link", err_of(::symlink("a", (base + "/lnk").c_str())));
  step("  open it", open_close(base + "/lnk", O_RDONLY | O_NOFOLLOW));
  step("  follow it", open_close(base + "/lnk", O_RDONLY));
  step("mkdir over link", err_of(::mkdir((base + "/lnk").c_str(), 0755)));

  // EFBIG: a write past RLIMIT_FSIZE (SIGXFSZ ignored) fails alike.
  {
    struct rlimit old {
    }, small{100000, 100000};
    ::getrlimit(RLIMIT_FSIZE, &old);
    auto prev = ::signal(SIGXFSZ, SIG_IGN);
    ::setrlimit(RLIMIT_FSIZE, &small);
    int fd = ::open((base + "/big").c_str(), O_WRONLY | O_CREAT, 0644);
    std::vector<std::uint8_t> buf(1000, 7);
    long rc = ::pwrite(fd, buf.data(), buf.size(), 200000);
    step("write past RLIMIT_FSIZE", err_of(rc));
    step("truncate past RLIMIT_FSIZE", err_of(::ftruncate(fd, 300000)));
    ::close(fd);
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, prev);
  }
  step("truncate negative", err_of(::truncate(a.c_str(), -1)));
  step("truncate a dir", err_of(::truncate(d.c_str(), 0)));
  return out;
}

// Steps as uid 1001 in a tree root owns; the exit code carries the errno.
Steps run_as_other(const std::string& base) {
  Steps out;
  auto step = [&](const std::string& name, int e) { out.emplace_back(name, std::to_string(e)); };
  write_all(base + "/root-only", bytes_of("secret"));
  ::chmod((base + "/root-only").c_str(), 0600);
  write_all(base + "/readable", bytes_of("public"));
  ::chmod((base + "/readable").c_str(), 0644);
  ::mkdir((base + "/locked").c_str(), 0700);
  ::mkdir((base + "/ro-dir").c_str(), 0755);
  write_all(base + "/ro-dir/f", bytes_of("f"));
  ::chmod((base + "/ro-dir/f").c_str(), 0644);
  step("read 0600 file", as_user(1001, [&] { return open_close(base + "/root-only", O_RDONLY); }));
  step("read 0644 file", as_user(1001, [&] { return open_close(base + "/readable", O_RDONLY); }));
  step("write 0644 file", as_user(1001, [&] { return open_close(base + "/readable", O_WRONLY); }));
  step("truncate 0644 file", as_user(1001, [&] { return err_of(::truncate((base + "/readable").c_str(), 0)); }));
  step("list 0700 dir", as_user(1001, [&] { return open_close(base + "/locked", O_RDONLY | O_DIRECTORY); }));
  step("create in 0700 dir", as_user(1001, [&] { return open_close(base + "/locked/x", O_CREAT | O_WRONLY); }));
  step("create in 0755 dir", as_user(1001, [&] { return open_close(base + "/ro-dir/x", O_CREAT | O_WRONLY); }));
  step("unlink in 0755 dir", as_user(1001, [&] { return err_of(::unlink((base + "/ro-dir/f").c_str())); }));
  step("rename in 0755 dir",
       as_user(1001, [&] { return err_of(::rename((base + "/ro-dir/f").c_str(), (base + "/ro-dir/g").c_str())); }));
  step("chmod not owner", as_user(1001, [&] { return err_of(::chmod((base + "/readable").c_str(), 0777)); }));
  step("chown not root", as_user(1001, [&] { return err_of(::chown((base + "/readable").c_str(), 1001, 1001)); }));
  step("setxattr not owner",
       as_user(1001, [&] { return err_of(::setxattr((base + "/readable").c_str(), "user.x", "1", 1, 0)); }));
  step("utimes not owner",
       as_user(1001, [&] { return err_of(::utimensat(AT_FDCWD, (base + "/readable").c_str(), nullptr, 0)); }));
  return out;
}

}  // namespace

TEST_CASE("errno parity: renameat2, open flags, names, links, file size limits", "[errno]") {
  Daemon d;
  d.start_with_account("acme");
  const std::string plain = d.dir().file("plain");
  REQUIRE(::mkdir(plain.c_str(), 0755) == 0);
  compare_steps(run_steps(plain), run_steps(d.mnt() + "/acme"));
  // The cross-account rename is EXDEV, as between two file systems.
  d.configure("globex", {{"enabled", true}});
  REQUIRE(::mkdir((d.mnt() + "/globex").c_str(), 0755) == 0);
  CHECK(rename2(d.mnt() + "/acme/a", d.mnt() + "/globex/a", RENAME_NOREPLACE) == EXDEV);
  write_all(d.mnt() + "/globex/b", bytes_of("globex"));
  CHECK(rename2(d.mnt() + "/acme/a", d.mnt() + "/globex/b", RENAME_EXCHANGE) == EXDEV);
  CHECK(content(d.mnt() + "/globex/b") == "globex");
}

TEST_CASE("errno parity on an account with encrypted names", "[errno]") {
  Daemon d;
  d.start();
  d.configure("acme", {{"enabled", true}, {"name_encryption", true}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const std::string plain = d.dir().file("plain");
  REQUIRE(::mkdir(plain.c_str(), 0755) == 0);
  // The same errnos; the name limit is the encrypted one (docs/FORMAT.md §12).
  compare_steps(run_steps(plain), run_steps(d.mnt() + "/acme", format::kMaxEncryptedName));
  // Nothing of the steps' names reached the backing directory in clear.
  for (const auto& e : std::filesystem::recursive_directory_iterator(d.backing() + "/acme")) {
    const std::string name = e.path().filename().string();
    INFO(e.path());
    CHECK((name == format::kDirIvName || format::parse_encrypted_name(name).has_value()));
  }
}

TEST_CASE("errno parity as a non-root user: EACCES and EPERM", "[errno]") {
  Daemon d;
  // Other users must reach the mount and the plain dir (the temp dir is 0700).
  REQUIRE(::chmod(d.dir().path().c_str(), 0755) == 0);
  d.start_with_account("acme");
  REQUIRE(::chmod((d.mnt() + "/acme").c_str(), 0755) == 0);  // account dirs default to 0750
  const std::string plain = d.dir().file("plain");
  REQUIRE(::mkdir(plain.c_str(), 0755) == 0);
  compare_steps(run_as_other(plain), run_as_other(d.mnt() + "/acme"));
}

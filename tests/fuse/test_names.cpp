// Encrypted names on a real mount (docs/FORMAT.md §12, docs/ARCHITECTURE.md
// "Names"): the backing tree never shows a plaintext name, every name
// operation works, mixed directories and key rotation, and the offline
// restore of a whole tree.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "../reliability/fsck_runner.hpp"
#include "daemon_harness.hpp"
#include "fs_util.hpp"
#include "recvault/format/names.hpp"

using namespace recvault;
using namespace recvault::test;
namespace fs = std::filesystem;

namespace {

// The marker every plaintext name and target of the test contains.
constexpr const char* kMarker = "15551234567";

std::set<std::string> list(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// Every name and symlink target below `root` holding `needle`.
std::vector<std::string> leaks(const std::string& root, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (name.find(needle) != std::string::npos) out.push_back(e.path().string());
    if (e.is_symlink()) {
      const std::string target = fs::read_symlink(e.path()).string();
      if (target.find(needle) != std::string::npos) out.push_back(e.path().string() + " -> " + target);
    }
  }
  return out;
}

// path (relative) -> "dir" / "link:<target>" / file contents, of a whole tree.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = e.path().lexically_relative(root).string();  // not relative(): it follows links
    if (e.is_symlink()) {
      out[rel] = "link:" + fs::read_symlink(e.path()).string();
    } else if (e.is_directory()) {
      out[rel] = "dir";
    } else {
      auto bytes = read_all(e.path().string());
      out[rel] = std::string(bytes.begin(), bytes.end());
    }
  }
  return out;
}

int rename2(const std::string& from, const std::string& to, unsigned flags) {
  return ::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags) == 0 ? 0 : errno;
}

std::string name_with(const std::string& what) { return "20261202-0815-+" + std::string(kMarker) + "-" + what; }

}  // namespace

TEST_CASE("encrypted names: every name operation, and no plaintext name on the backing disk", "[names]") {
  Daemon d;
  d.start();
  d.configure("acme", {{"enabled", true}, {"name_encryption", true}});
  const std::string m = d.mnt() + "/acme";
  REQUIRE(::mkdir(m.c_str(), 0755) == 0);
  const std::string day = m + "/" + name_with("day");
  REQUIRE(::mkdir(day.c_str(), 0755) == 0);
  const auto audio = pseudo_random(100000, 7);
  write_all(day + "/" + name_with("8842.wav"), audio);
  write_all(m + "/" + name_with("top.wav"), bytes_of("top"));
  REQUIRE(::symlink(("../" + name_with("top.wav")).c_str(), (day + "/" + name_with("link")).c_str()) == 0);
  REQUIRE(::link((day + "/" + name_with("8842.wav")).c_str(), (m + "/" + name_with("hard.wav")).c_str()) == 0);
  REQUIRE(::mkfifo((day + "/" + name_with("fifo")).c_str(), 0644) == 0);

  // The view: listings, lookups, contents and targets in plaintext.
  CHECK(list(day) == std::set<std::string>{name_with("8842.wav"), name_with("link"), name_with("fifo")});
  CHECK(list(m) == std::set<std::string>{name_with("day"), name_with("top.wav"), name_with("hard.wav")});
  CHECK(read_all(day + "/" + name_with("8842.wav")) == audio);
  CHECK(read_all(m + "/" + name_with("hard.wav")) == audio);
  CHECK(fs::read_symlink(day + "/" + name_with("link")).string() == "../" + name_with("top.wav"));
  struct stat link_st {};
  REQUIRE(::lstat((day + "/" + name_with("link")).c_str(), &link_st) == 0);
  CHECK(link_st.st_size == static_cast<off_t>(("../" + name_with("top.wav")).size()));  // the plaintext target's
  CHECK(read_all(day + "/" + name_with("link")) == bytes_of("top"));

  // Renames: within a directory, between directories, NOREPLACE, EXCHANGE.
  REQUIRE(::rename((m + "/" + name_with("top.wav")).c_str(), (m + "/" + name_with("top2.wav")).c_str()) == 0);
  REQUIRE(::rename((m + "/" + name_with("top2.wav")).c_str(), (day + "/" + name_with("moved.wav")).c_str()) == 0);
  CHECK(read_all(day + "/" + name_with("moved.wav")) == bytes_of("top"));
  CHECK(rename2(day + "/" + name_with("moved.wav"), day + "/" + name_with("8842.wav"), RENAME_NOREPLACE) == EEXIST);
  CHECK(rename2(day + "/" + name_with("moved.wav"), m + "/" + name_with("hard.wav"), RENAME_EXCHANGE) == 0);
  CHECK(read_all(m + "/" + name_with("hard.wav")) == bytes_of("top"));
  CHECK(read_all(day + "/" + name_with("moved.wav")) == audio);
  // A rename over an existing name replaces it.
  write_all(m + "/" + name_with("victim.wav"), bytes_of("victim"));
  REQUIRE(::rename((m + "/" + name_with("hard.wav")).c_str(), (m + "/" + name_with("victim.wav")).c_str()) == 0);
  CHECK(read_all(m + "/" + name_with("victim.wav")) == bytes_of("top"));
  CHECK(list(m).count(name_with("hard.wav")) == 0);

  // Existing names, limits, removal.
  CHECK(open_close(day + "/" + name_with("8842.wav"), O_CREAT | O_EXCL | O_WRONLY) == EEXIST);
  CHECK(::mkdir(day.c_str(), 0755) == -1);
  CHECK(errno == EEXIST);
  const std::string longest(format::kMaxEncryptedName, 'x');
  CHECK(open_close(m + "/" + longest, O_CREAT | O_WRONLY) == 0);
  CHECK(open_close(m + "/" + longest + "x", O_CREAT | O_WRONLY) == ENAMETOOLONG);
  CHECK(::symlink(std::string(format::kMaxEncryptedTarget + 1, 'a').c_str(), (m + "/long-target").c_str()) == -1);
  CHECK(errno == ENAMETOOLONG);
  CHECK(::unlink((m + "/" + longest).c_str()) == 0);
  const std::string sub = day + "/" + name_with("empty");
  REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  write_all(sub + "/" + name_with("x"), bytes_of("x"));  // gives it a directory IV file
  CHECK(::rmdir(sub.c_str()) == -1);
  CHECK(errno == ENOTEMPTY);
  REQUIRE(::unlink((sub + "/" + name_with("x")).c_str()) == 0);
  CHECK(::rmdir(sub.c_str()) == 0);  // its IV file does not keep it alive
  CHECK(list(day).count(name_with("empty")) == 0);

  // The backing tree: no name and no target with the marker, names in the
  // encrypted form, one IV file per directory that has names.
  const std::string b = d.backing() + "/acme";
  CHECK(leaks(b, kMarker).empty());
  for (const auto& e : fs::recursive_directory_iterator(b)) {
    const std::string name = e.path().filename().string();
    INFO(e.path());
    CHECK((name == format::kDirIvName || format::parse_encrypted_name(name).has_value()));
  }
  CHECK(fs::exists(b + "/" + std::string(format::kDirIvName)));
  // The name of a directory is bound to it: moved by hand into another
  // directory, an entry does not authenticate there and is not shown.
  std::string backing_day;
  for (const auto& e : fs::directory_iterator(b))
    if (e.is_directory()) backing_day = e.path().filename().string();
  REQUIRE_FALSE(backing_day.empty());
  std::string moved;
  for (const auto& e : fs::directory_iterator(b + "/" + backing_day))
    if (e.is_regular_file() && e.path().filename() != format::kDirIvName) moved = e.path().filename().string();
  REQUIRE_FALSE(moved.empty());
  fs::rename(b + "/" + backing_day + "/" + moved, b + "/" + moved);
  const auto before = list(m);
  CHECK(before == std::set<std::string>{name_with("day"), name_with("victim.wav")});
  CHECK(d.count_in_log("does not authenticate in this directory") >= 1);
}

TEST_CASE("encrypted names: mixed directories, rotation and switching the setting off", "[names]") {
  Daemon d;
  d.start();
  auto v1 = d.configure("acme", {{"enabled", true}});
  const std::string m = d.mnt() + "/acme", b = d.backing() + "/acme";
  REQUIRE(::mkdir(m.c_str(), 0755) == 0);
  write_all(m + "/old-" + kMarker + ".wav", bytes_of("old"));
  CHECK(fs::exists(b + "/old-" + std::string(kMarker) + ".wav"));  // plain, from before the setting

  d.configure("acme", {{"enabled", true}, {"name_encryption", true}});
  write_all(m + "/new-v1.wav", bytes_of("new1"));
  CHECK(list(m) == std::set<std::string>{"old-" + std::string(kMarker) + ".wav", "new-v1.wav"});
  // An existing plain name is EEXIST for the encrypted form too.
  CHECK(open_close(m + "/old-" + std::string(kMarker) + ".wav", O_CREAT | O_EXCL | O_WRONLY) == EEXIST);
  CHECK(::mkdir((m + "/old-" + std::string(kMarker) + ".wav").c_str(), 0755) == -1);
  CHECK(errno == EEXIST);

  // Rotation: version 1's names stay readable; new names are version 2's.
  d.configure("acme", {{"enabled", true}, {"key", "rotated_key_for_the_names_test_0123456789"}});
  write_all(m + "/new-v2.wav", bytes_of("new2"));
  CHECK(read_all(m + "/new-v1.wav") == bytes_of("new1"));
  CHECK(read_all(m + "/new-v2.wav") == bytes_of("new2"));
  std::set<std::string> versions;
  for (const auto& name : list(b))
    if (auto f = format::parse_encrypted_name(name)) versions.insert(std::to_string(f->key_version));
  CHECK(versions == std::set<std::string>{"1", "2"});
  // A rename writes the name in the current form: the plain name goes.
  REQUIRE(::rename((m + "/old-" + std::string(kMarker) + ".wav").c_str(),
                   (m + "/renamed-" + std::string(kMarker) + ".wav").c_str()) == 0);
  CHECK(leaks(b, kMarker).empty());
  CHECK(read_all(m + "/renamed-" + std::string(kMarker) + ".wav") == bytes_of("old"));

  // Off again: everything stays readable, new names are plain.
  d.configure("acme", {{"enabled", true}, {"name_encryption", false}});
  write_all(m + "/plain-again.wav", bytes_of("plain"));
  CHECK(fs::exists(b + "/plain-again.wav"));
  CHECK(list(m) == std::set<std::string>{"new-v1.wav", "new-v2.wav", "renamed-" + std::string(kMarker) + ".wav",
                                         "plain-again.wav"});
  CHECK(read_all(m + "/new-v1.wav") == bytes_of("new1"));
  // Reserved names cannot be stored plain.
  CHECK(open_close(m + "/" + std::string(format::kDirIvName), O_CREAT | O_WRONLY) == EINVAL);
  (void)v1;
}

TEST_CASE("encrypted names: recvault-decrypt --tree restores the backing tree byte-exact", "[names]") {
  Daemon d;
  d.start();
  d.configure("acme", {{"enabled", true}, {"name_encryption", true}});
  const std::string m = d.mnt() + "/acme";
  REQUIRE(::mkdir(m.c_str(), 0755) == 0);
  REQUIRE(::mkdir((m + "/2026").c_str(), 0755) == 0);
  REQUIRE(::mkdir((m + "/2026/12-" + std::string(kMarker)).c_str(), 0755) == 0);
  write_all(m + "/2026/12-" + std::string(kMarker) + "/call-1.wav", pseudo_random(200000, 1));
  write_all(m + "/2026/call-2.wav", pseudo_random(5, 2));
  write_all(m + "/empty.wav", {});
  REQUIRE(::symlink(("2026/12-" + std::string(kMarker) + "/call-1.wav").c_str(), (m + "/latest").c_str()) == 0);
  // A key rotation in between: the tree holds names of two versions.
  d.configure("acme", {{"enabled", true}, {"key", "rotated_key_for_the_names_test_0123456789"}});
  write_all(m + "/2026/call-3-" + std::string(kMarker) + ".wav", pseudo_random(70000, 3));
  const auto want = snapshot(m);
  auto got = d.http("GET", "/api/v2/config/call_recording_encryption", "acme");
  REQUIRE(got.status == 200);
  REQUIRE(d.stop() == 0);
  std::ofstream(d.dir().file("export.json")) << got.body;

  const std::string tool = env_or_fail("RECVAULT_DECRYPT");
  const std::string out = d.dir().file("restored");
  REQUIRE(
      std::system((tool + " --config " + d.dir().file("export.json") + " --tree " + out + " " + d.backing() + "/acme")
                      .c_str()) == 0);
  CHECK(snapshot(out) == want);
  std::set<std::string> paths;
  for (const auto& [path, what] : want) paths.insert(path);
  const std::string day = "2026/12-" + std::string(kMarker);
  CHECK(paths == std::set<std::string>{"2026", day, day + "/call-1.wav", "2026/call-2.wav", "empty.wav", "latest",
                                       "2026/call-3-" + std::string(kMarker) + ".wav"});

  // recvault-fsck shows each recording's plaintext path and skips IV files.
  auto fsck = run_fsck(d, "--json");
  INFO(fsck.out);
  CHECK(fsck.code == 0);
  auto report = nlohmann::json::parse(fsck.out, nullptr, false);
  REQUIRE_FALSE(report.is_discarded());
  std::set<std::string> names;
  for (const auto& f : report["files"]) {
    CHECK(f["status"] == "sealed");
    CHECK(f["path"].get<std::string>().find(format::kDirIvName) == std::string::npos);
    names.insert(f.value("name", std::string("(none)")));
  }
  CHECK(names == std::set<std::string>{"acme/2026/12-" + std::string(kMarker) + "/call-1.wav", "acme/2026/call-2.wav",
                                       "acme/empty.wav", "acme/2026/call-3-" + std::string(kMarker) + ".wav"});
  // Without the salt, a key alone cannot read names: a clear failure.
  std::ofstream(d.dir().file("v2.key")) << "rotated_key_for_the_names_test_0123456789";
  const int rc = std::system((tool + " --key-file " + d.dir().file("v2.key") + " --tree " + d.dir().file("nosalt") +
                              " " + d.backing() + "/acme 2>/dev/null")
                                 .c_str());
  CHECK(WEXITSTATUS(rc) != 0);
}

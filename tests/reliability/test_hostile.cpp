// Hostile backing files: tampered, truncated, swapped, zero-filled files and
// corrupted xattrs read as EIO through the mount, never as wrong bytes, and
// the daemon keeps serving.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/xattr.h>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "recvault/format/record.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

constexpr std::size_t kSize = 200000;  // 4 chunks of 64 KiB, the last one short

struct Case {
  std::string name;
  std::function<void(const std::string& backing, const std::string& other)> damage;
};

std::vector<std::uint8_t> original(const std::string& name) {
  return pseudo_random(kSize, std::hash<std::string>{}(name));
}

std::uint64_t record_at(const std::string& backing, std::uint64_t index) {
  auto h = backing_header(backing);
  return h.encoded_size() + index * format::record_size(h.algorithm, h.chunk_size());
}

void flip(const std::string& path, std::uint64_t offset) {
  auto raw = read_all(path);
  raw.at(offset) ^= 0x01;
  write_all(path, raw);
}

std::vector<Case> cases() {
  return {
      {"bit flip in a middle chunk", [](auto& b, auto&) { flip(b, record_at(b, 1) + 100); }},
      {"bit flip in the last chunk", [](auto& b, auto&) { flip(b, read_all(b).size() - 5); }},
      {"bit flip in a nonce", [](auto& b, auto&) { flip(b, record_at(b, 2) + 1); }},
      {"bit flip in the header core", [](auto& b, auto&) { flip(b, 30); }},
      {"bit flip in the header MAC", [](auto& b, auto&) { flip(b, backing_header(b).encoded_size() - 1); }},
      {"sealed state byte cleared", [](auto& b, auto&) { flip(b, backing_header(b).core_size()); }},
      {"cut inside the last record",
       [](auto& b, auto&) { ::truncate(b.c_str(), static_cast<off_t>(read_all(b).size() - 10)); }},
      {"last chunk cut off", [](auto& b, auto&) { ::truncate(b.c_str(), static_cast<off_t>(record_at(b, 3))); }},
      {"two chunks swapped",
       [](auto& b, auto&) {
         auto raw = read_all(b);
         const auto r0 = record_at(b, 0), r1 = record_at(b, 1);  // full records: same length
         std::swap_ranges(raw.begin() + static_cast<long>(r0), raw.begin() + static_cast<long>(r1),
                          raw.begin() + static_cast<long>(r1));
         write_all(b, raw);
       }},
      {"chunk copied from another file",
       [](auto& b, auto& other) {
         auto raw = read_all(b), src = read_all(other);
         const auto r1 = record_at(b, 1), r2 = record_at(b, 2);
         std::copy(src.begin() + static_cast<long>(r1), src.begin() + static_cast<long>(r2),
                   raw.begin() + static_cast<long>(r1));
         write_all(b, raw);
       }},
      {"content swapped with another file (xattrs kept)", [](auto& b, auto& other) { write_all(b, read_all(other)); }},
      {"zero-filled", [](auto& b, auto&) { write_all(b, std::vector<std::uint8_t>(read_all(b).size(), 0)); }},
      {"random bytes", [](auto& b, auto&) { write_all(b, pseudo_random(read_all(b).size(), 5)); }},
      {"emptied",
       [](auto& b, auto&) {
         ::truncate(b.c_str(), 0);
         ::truncate(b.c_str(), 100);
       }},
      {"header only",
       [](auto& b, auto&) { ::truncate(b.c_str(), static_cast<off_t>(backing_header(b).encoded_size())); }},
      {"xattr key_version changed",
       [](auto& b, auto&) { ::setxattr(b.c_str(), "user.recvault.key_version", "7", 1, 0); }},
      {"xattr salt changed", [](auto& b, auto&) { ::setxattr(b.c_str(), "user.recvault.salt", "forged", 6, 0); }},
      {"xattr algorithm changed",
       [](auto& b, auto&) {
         const std::string other = meta_field(b, "algorithm") == "AES-256-CBC" ? "AES-256-GCM" : "AES-256-CBC";
         ::setxattr(b.c_str(), "user.recvault.algorithm", other.data(), other.size(), 0);
       }},
      {"xattr file_id changed", [](auto& b, auto&) { ::setxattr(b.c_str(), "user.recvault.file_id", "00", 2, 0); }},
      {"xattr format garbage", [](auto& b, auto&) { ::setxattr(b.c_str(), "user.recvault.format", "\xff\x01", 2, 0); }},
  };
}

void run(const char* algorithm) {
  Daemon d;
  d.start();
  d.configure("acme", {{"enabled", true}, {"algorithm", algorithm}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const auto all = cases();
  for (std::size_t i = 0; i < all.size(); ++i) {
    write_all(d.mnt() + "/acme/t" + std::to_string(i), original("t" + std::to_string(i)));
  }
  write_all(d.mnt() + "/acme/other", original("other"));
  write_all(d.mnt() + "/acme/good", original("good"));
  REQUIRE(d.stop() == 0);  // so no cache in the kernel or the daemon hides the damage

  for (std::size_t i = 0; i < all.size(); ++i) {
    all[i].damage(d.backing() + "/acme/t" + std::to_string(i), d.backing() + "/acme/other");
  }
  d.start();
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO(algorithm << ": " << all[i].name);
    std::vector<std::uint8_t> got;
    CHECK(try_read_all(d.mnt() + "/acme/t" + std::to_string(i), got) == EIO);
    // A second attempt (cached inode, new open) fails the same way.
    CHECK(try_read_all(d.mnt() + "/acme/t" + std::to_string(i), got) == EIO);
  }
  // Still serving, still correct for the files nobody touched.
  REQUIRE(::kill(d.pid(), 0) == 0);
  CHECK(read_all(d.mnt() + "/acme/good") == original("good"));
  CHECK(read_all(d.mnt() + "/acme/other") == original("other"));
  write_all(d.mnt() + "/acme/new", original("new"));
  CHECK(read_all(d.mnt() + "/acme/new") == original("new"));
  CHECK(d.stop() == 0);
}

}  // namespace

TEST_CASE("damaged backing files read as EIO: AES-256-GCM", "[hostile]") { run("AES-256-GCM"); }
TEST_CASE("damaged backing files read as EIO: AES-256-CBC", "[hostile]") { run("AES-256-CBC"); }

TEST_CASE("xattrs removed entirely: the authenticated header suffices", "[hostile]") {
  Daemon d;
  d.start_with_account("acme");
  write_all(d.mnt() + "/acme/copied", original("copied"));
  REQUIRE(d.stop() == 0);
  const std::string b = d.backing() + "/acme/copied";
  REQUIRE(::removexattr(b.c_str(), "user.recvault.meta") == 0);
  d.start();
  CHECK(read_all(d.mnt() + "/acme/copied") == original("copied"));
}

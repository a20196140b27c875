// recvault-fsck on files left by a real kill -9, and on damaged files.
#include <catch2/catch.hpp>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "fsck_runner.hpp"
#include "recvault/format/record.hpp"
#include "recvault/sys/fd.hpp"
#include "reliability_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

FsckRun fsck(const Daemon& d, const std::string& args) { return run_fsck(d, args); }

nlohmann::json statuses(const FsckRun& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  nlohmann::json by_path;
  if (j.is_discarded()) return by_path;
  for (auto& f : j["files"]) by_path[f["path"].get<std::string>()] = f["status"];
  return by_path;
}

}  // namespace

TEST_CASE("fsck reports files left by kill -9 as unterminated and --seal seals them", "[fsck]") {
  Daemon d("[fuse]\nwriteback_cache = false\n");
  d.start();
  d.configure("acme", {{"enabled", true}});
  d.configure("globex", {{"enabled", true}, {"algorithm", "AES-256-CBC"}});
  for (const char* a : {"acme", "globex"}) REQUIRE(::mkdir((d.mnt() + "/" + a).c_str(), 0755) == 0);
  write_all(d.mnt() + "/acme/closed.wav", pseudo_random(200000, 1));
  std::map<std::string, std::vector<std::uint8_t>> open_data;
  std::vector<int> fds;
  for (const char* a : {"acme", "globex"}) {
    for (int i = 0; i < 3; ++i) {
      std::string rel = std::string(a) + "/open-" + std::to_string(i) + ".wav";
      auto data = pseudo_random(70000 + static_cast<std::size_t>(i) * 50001, static_cast<std::uint64_t>(i + 10));
      int fd = ::open((d.mnt() + "/" + rel).c_str(), O_WRONLY | O_CREAT, 0644);
      REQUIRE(fd >= 0);
      REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
      REQUIRE(::fsync(fd) == 0);
      open_data[rel] = data;
      fds.push_back(fd);
    }
  }
  SECTION("--seal is refused while the daemon serves the backing dir") {
    auto r = fsck(d, "--seal");
    CHECK(r.code == 8);
    CHECK(r.out.find("stop the daemon") != std::string::npos);
    for (int fd : fds) ::close(fd);
    return;
  }
  d.kill9();
  for (int fd : fds) ::close(fd);
  // A half-written record after the last complete one: a torn tail.
  {
    int fd = ::open((d.backing() + "/acme/open-2.wav").c_str(), O_WRONLY | O_APPEND);
    auto junk = pseudo_random(1000, 99);
    REQUIRE(::write(fd, junk.data(), junk.size()) == 1000);
    ::close(fd);
  }

  auto before = fsck(d, "--json");
  INFO(before.out);
  CHECK(before.code == 2);
  auto st = statuses(before);
  CHECK(st["acme/closed.wav"] == "sealed");
  CHECK(st["acme/open-0.wav"] == "unterminated");
  CHECK(st["acme/open-2.wav"] == "torn-tail");
  CHECK(st["globex/open-1.wav"] == "unterminated");

  auto sealing = fsck(d, "--seal");
  INFO(sealing.out);
  CHECK(sealing.code == 1);
  CHECK(sealing.out.find("sealed (sealed now)") != std::string::npos);

  auto after = fsck(d, "--json");
  INFO(after.out);
  CHECK(after.code == 0);
  const auto after_status = statuses(after);
  CHECK(after_status.size() == 7);
  for (const auto& [path, status] : after_status.items()) CHECK(status == "sealed");
  for (const auto& [rel, data] : open_data) CHECK(backing_header(d.backing() + "/" + rel).sealed);

  d.start();
  CHECK(read_all(d.mnt() + "/acme/closed.wav") == pseudo_random(200000, 1));
  for (const auto& [rel, data] : open_data) {
    INFO(rel);
    CHECK(read_all(d.mnt() + "/" + rel) == data);  // the torn junk is dropped, the data kept
  }
}

TEST_CASE("fsck reports damage and missing keys, and one account on its own", "[fsck]") {
  Daemon d;
  d.start_with_account("acme");
  for (const char* n : {"a.wav", "b.wav", "c.wav", "d.wav"})
    write_all(d.mnt() + "/acme/" + n, pseudo_random(150000, 3));
  d.configure("acme", {{"enabled", false}});
  write_all(d.mnt() + "/acme/plain.wav", bytes_of("not encrypted"));
  REQUIRE(d.stop() == 0);

  const std::string b = d.backing() + "/acme/";
  auto raw = read_all(b + "a.wav");
  raw[raw.size() / 2] ^= 0x40;  // flip a bit in a middle chunk
  write_all(b + "a.wav", raw);
  REQUIRE(::truncate((b + "b.wav").c_str(), static_cast<off_t>(read_all(b + "b.wav").size() - 20000)) == 0);
  auto hdr = read_all(b + "c.wav");
  hdr[18] ^= 1;  // key_version in the header
  write_all(b + "c.wav", hdr);
  REQUIRE(::setxattr((b + "d.wav").c_str(), "user.recvault.salt", "forged", 6, 0) == 0);

  auto r = fsck(d, "--json");
  INFO(r.out);
  CHECK(r.code == 4);
  auto st = statuses(r);
  CHECK(st["acme/a.wav"] == "tampered");
  CHECK(st["acme/b.wav"] != "sealed");
  CHECK(st["acme/c.wav"] != "sealed");
  CHECK(st["acme/d.wav"] == "tampered");
  CHECK(st["acme/plain.wav"] == "plain");

  auto one = fsck(d, "--account acme -q " + b);
  INFO(one.out);
  CHECK(one.code == 4);
  CHECK(one.out.find("plain.wav") == std::string::npos);  // -q lists only problems
  CHECK(one.out.find("5 file(s)") != std::string::npos);

  auto wrong = fsck(d, "--account acme --keystore " + d.dir().file("nowhere") + " " + b);
  CHECK(wrong.code == 8);
}

TEST_CASE("fsck authenticates holes, and seals a growth cut short by a crash as the file was before", "[fsck][holes]") {
  Daemon d("[fuse]\nwriteback_cache = false\n");
  d.start_with_account("acme");
  const auto data = pseudo_random(100000, 21);  // chunk 0 and part of chunk 1
  for (const char* n : {"grown.wav", "zeroed.wav"}) {
    const std::string p = d.mnt() + "/acme/" + n;
    write_all(p, data);
    REQUIRE(::truncate(p.c_str(), std::int64_t{1} << 30) == 0);
  }
  int fd = ::open((d.mnt() + "/acme/cut.wav").c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  REQUIRE(::fsync(fd) == 0);
  REQUIRE(::ftruncate(fd, std::int64_t{512} << 20) == 0);
  d.kill9();
  ::close(fd);
  const std::string z = d.backing() + "/acme/zeroed.wav", c = d.backing() + "/acme/cut.wav";
  const auto h = backing_header(z);
  const std::uint64_t r = format::record_size(h.algorithm, h.chunk_size());
  // What a crash in the middle of that ftruncate leaves: the hole's marker
  // (chunks 2 .. n-2, the marker at n-2) and not the new last chunk.
  const std::uint64_t marker = (std::uint64_t{512} << 20) / h.chunk_size() - 2;
  const std::uint64_t marker_end = h.encoded_size() + marker * r + format::record_size(h.algorithm, 8);
  REQUIRE(::truncate(c.c_str(), static_cast<off_t>(marker_end)) == 0);
  // Chunk 1, completed with zeros before the hole, zeroed: next to the hole,
  // it must not pass for part of it.
  {
    sys::UniqueFd zf(::open(z.c_str(), O_WRONLY | O_CLOEXEC));
    REQUIRE(sys::pwrite_full(zf.get(), std::vector<std::uint8_t>(r, 0), h.encoded_size() + r));
  }

  auto before = fsck(d, "--json");
  INFO(before.out);
  auto j = nlohmann::json::parse(before.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  std::map<std::string, nlohmann::json> by_path;
  for (auto& f : j["files"]) by_path[f["path"].get<std::string>()] = f;
  CHECK(by_path["acme/grown.wav"]["status"] == "sealed");
  CHECK(by_path["acme/grown.wav"]["holes"] == 1);
  CHECK(by_path["acme/grown.wav"]["size"] == std::uint64_t{1} << 30);
  CHECK(by_path["acme/zeroed.wav"]["status"] == "tampered");
  // Opened as before the growth: the old last chunk completed with zeros.
  CHECK(by_path["acme/cut.wav"]["status"] == "torn-tail");
  CHECK(by_path["acme/cut.wav"]["size"] == 2 * h.chunk_size());

  auto sealing = fsck(d, "--seal");
  INFO(sealing.out);
  CHECK(backing_header(c).sealed);
  d.start();
  auto cut = read_all(d.mnt() + "/acme/cut.wav");
  REQUIRE(cut.size() == 2 * h.chunk_size());
  CHECK(std::equal(data.begin(), data.end(), cut.begin()));
  CHECK(std::all_of(cut.begin() + static_cast<std::ptrdiff_t>(data.size()), cut.end(), [](auto b) { return b == 0; }));
  std::vector<std::uint8_t> got;
  CHECK(try_read_all(d.mnt() + "/acme/zeroed.wav", got) == EIO);
}

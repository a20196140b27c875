// Long OpenPGP recordings: bounded daemon memory, and no plaintext on the
// backing disk at any moment of the write.
//
// RECVAULT_PGP_STREAM_MIB sets the recording's size (default 96 MiB for CI;
// docs/OPENPGP.md records a 1 GiB run).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "pgp_mount_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

const std::string kStreamMarker = "STREAM-PLAINTEXT-MARKER-2718-";
constexpr std::size_t kBlock = 1 << 20;

std::size_t stream_mib() {
  const char* v = std::getenv("RECVAULT_PGP_STREAM_MIB");
  return v != nullptr ? std::stoul(v) : 96;
}

// Every regular file under `dir`, whole: does any hold the marker?
bool backing_holds_marker(const std::string& dir, std::size_t& files_seen) {
  files_seen = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    ++files_seen;
    int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::vector<std::uint8_t> buf(4 << 20);
    std::string carry;
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) break;
      std::string chunk = carry + std::string(reinterpret_cast<char*>(buf.data()), static_cast<std::size_t>(n));
      if (chunk.find(kStreamMarker) != std::string::npos) {
        ::close(fd);
        return true;
      }
      carry = chunk.substr(chunk.size() > kStreamMarker.size() ? chunk.size() - kStreamMarker.size() : 0);
    }
    ::close(fd);
  }
  return false;
}

}  // namespace

TEST_CASE("a long recording streams in bounded memory and never leaves plaintext on disk", "[pgp][mount][stream]") {
  auto& keys = ClientKeys::get();
  Daemon d("[fuse]\nview_xattrs = true\n");
  d.start();
  d.configure("acme", {{"enabled", false}, {"public_key_id", upload_key(d, "acme", keys.ed.armored())}});
  REQUIRE(::mkdir((d.mnt() + "/acme").c_str(), 0755) == 0);
  const std::size_t blocks = stream_mib();
  const long hwm_before = proc_kb(d.pid(), "VmHWM");

  // The scanner reads the whole backing tree again and again while the writer runs.
  std::atomic<bool> writing{true}, leaked{false};
  std::atomic<std::size_t> scans{0}, max_files{0};
  std::thread scanner([&] {
    while (writing.load()) {
      std::size_t files = 0;
      if (backing_holds_marker(d.backing(), files)) leaked = true;
      max_files = std::max(max_files.load(), files);
      ++scans;
    }
  });

  const auto t0 = std::chrono::steady_clock::now();
  const std::string view = d.mnt() + "/acme/long.wav";
  int fd = ::open(view.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  bool write_ok = true;
  for (std::size_t i = 0; i < blocks && write_ok; ++i) {
    auto b = block(i, kBlock, kStreamMarker);
    write_ok = ::write(fd, b.data(), b.size()) == static_cast<ssize_t>(b.size());
  }
  const bool close_ok = ::close(fd) == 0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writing = false;
  scanner.join();
  REQUIRE(write_ok);
  REQUIRE(close_ok);
  const long hwm_after = proc_kb(d.pid(), "VmHWM");
  std::cout << "OpenPGP stream: " << blocks << " MiB in " << seconds << " s (" << blocks / seconds
            << " MiB/s); recvaultd VmHWM " << hwm_before / 1024 << " -> " << hwm_after / 1024 << " MiB; "
            << scans.load() << " backing scans\n";

  CHECK_FALSE(leaked.load());
  CHECK(scans.load() > 0);
  CHECK(max_files.load() == 1);  // no spool or temporary file beside the recording
  // Bounded: the daemon's peak does not grow with the recording (pipe 1 MiB,
  // FUSE buffers, gpgme's); generous slack for allocator noise.
  CHECK(hwm_after - hwm_before < 64 * 1024);

  // Decrypt as a stream and compare with the regenerated recording.
  const std::string backing = d.backing() + "/acme/long.wav";
  FILE* p = ::popen((keys.ed.gpg() + " --decrypt " + backing + " 2>/dev/null").c_str(), "r");
  REQUIRE(p != nullptr);
  std::vector<std::uint8_t> got(kBlock);
  bool same = true;
  std::size_t i = 0;
  for (; i < blocks && same; ++i) {
    std::size_t n = std::fread(got.data(), 1, got.size(), p);
    same = n == kBlock && got == block(i, kBlock, kStreamMarker);
  }
  same = same && std::fgetc(p) == EOF;
  CHECK(::pclose(p) == 0);
  CHECK(same);
  CHECK(i == blocks);
  CHECK(d.stop() == 0);
}

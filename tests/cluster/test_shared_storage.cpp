// Two recorder hosts on one GlusterFS volume ([storage] shared = true): two
// recvaultd with their own mounts, each over its own GlusterFS client mount
// of one volume (one backing directory), one LMDB keystore and master key.
// The volume is set up as docs/CLUSTER.md recommends; one brick, or two
// replicated ones (`replica 2`) with RECVAULT_GLUSTER_REPLICAS=2 (every case
// passes there too, in about twice the time: the suite keeps one brick).
// One volume serves every test case of this binary (starting GlusterFS is
// the slow part).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "../fuse/daemon_harness.hpp"
#include "../fuse/fs_util.hpp"
#include "../gluster_fixture.hpp"
#include "../reliability/fsck_runner.hpp"
#include "recvault/sys/fd.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

GlusterVolume& volume() {
  const char* replicas = std::getenv("RECVAULT_GLUSTER_REPLICAS");
  // RECVAULT_GLUSTER_CLIENT_OPTIONS: more client options, to try others
  // (docs/CLUSTER.md "Which network file systems").
  const char* client = std::getenv("RECVAULT_GLUSTER_CLIENT_OPTIONS");
  static GlusterVolume v({.mounts = 2,
                          .replicas = replicas != nullptr ? std::atoi(replicas) : 1,
                          .tuned = true,
                          .client_options = client != nullptr ? client : "",
                          .volume_options = {}});
  return v;
}

// Host A and host B: the same backing directory through two GlusterFS
// clients, one keystore, one master key; "acme" records encrypted.
struct TwoHosts {
  explicit TwoHosts(const std::string& name) {
    const std::string a_backing = volume().mount(0) + "/" + name, b_backing = volume().mount(1) + "/" + name;
    std::filesystem::create_directory(a_backing);
    REQUIRE(eventually([&] { return std::filesystem::is_directory(b_backing); }));
    std::filesystem::create_directory(keystore.path() / "ks");
    a.use_shared_storage(a_backing, keystore.file("ks"));
    b.use_shared_storage(b_backing, keystore.file("ks"));
    std::vector<std::uint8_t> master(32);
    REQUIRE(crypto::random_bytes(master).ok());
    a.set_master_key_hex(hex_encode(master));
    b.set_master_key_hex(hex_encode(master));
    a.start();
    a.configure("acme", {{"enabled", true}});
    b.start();
    REQUIRE(::mkdir((a.mnt() + "/acme").c_str(), 0755) == 0);
    REQUIRE(eventually([&] { return std::filesystem::is_directory(b.mnt() + "/acme"); }));
  }
  TempDir keystore;
  Daemon a, b;
};

void write_exact(int fd, const std::vector<std::uint8_t>& data) {
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
}

// Appends `more` to `path` (a recording on `host`'s mount) as soon as an
// open for writing is let through (the previous writer's lock may take a
// moment to go), and adds it to `expected`.
void append_when_free(const Daemon& host, const std::string& name, const std::vector<std::uint8_t>& more,
                      std::vector<std::uint8_t>& expected) {
  int fd = -1;
  REQUIRE(eventually([&] { return (fd = ::open((host.mnt() + name).c_str(), O_WRONLY | O_APPEND)) >= 0; }));
  REQUIRE(::write(fd, more.data(), more.size()) == static_cast<ssize_t>(more.size()));
  REQUIRE(::close(fd) == 0);
  expected.insert(expected.end(), more.begin(), more.end());
}

// Runs a bench/ runner (a shell command line) to its end: its output and
// whether it exited 0.
std::pair<std::string, bool> run_runner(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  return {out, ::pclose(p) == 0};
}

std::vector<std::uint8_t> read_or_empty(const std::string& path) {
  std::vector<std::uint8_t> out;
  return try_read_all(path, out) == 0 ? out : std::vector<std::uint8_t>{};
}

// A recording A keeps open (the descriptor is returned) with `data`
// written, once B reads all of it: A's tail flusher has written it.
int start_recording(TwoHosts& hosts, const std::string& name, const std::vector<std::uint8_t>& data) {
  const int fd = ::open((hosts.a.mnt() + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  write_exact(fd, data);
  REQUIRE(eventually([&] { return read_or_empty(hosts.b.mnt() + name) == data; }));
  return fd;
}

}  // namespace

TEST_CASE("GlusterFS gives recvault what it needs: user xattrs, OFD locks across clients", "[shared][gluster]") {
  const std::string a = volume().mount(0) + "/probe", b = volume().mount(1) + "/probe";
  int fa = ::open(a.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fa >= 0);
  REQUIRE(::fsetxattr(fa, "user.recvault.probe", "x", 1, 0) == 0);
  CHECK(xattr_of(b, "user.recvault.probe") == "x");
  REQUIRE(sys::try_lock_writer(fa).value());
  int fb = ::open(b.c_str(), O_RDWR);
  REQUIRE(fb >= 0);
  CHECK_FALSE(sys::try_lock_writer(fb).value());  // the other client is refused
  CHECK(sys::writer_lock_held_elsewhere(fb).value());
  REQUIRE(::close(fa) == 0);  // closing releases the lock
  CHECK(eventually([&] { return sys::try_lock_writer(fb).value(); }));
  ::close(fb);
  ::unlink(a.c_str());

  // Close-to-open for a rewrite in place: B has the file's pages in its
  // kernel's cache, A rewrites bytes without changing the size (recvault
  // does so at seal and unseal) and keeps the file open; B's next open
  // reads the new bytes at once. With GlusterFS's default
  // fopen-keep-cache B would read the old ones (for up to a second, or for
  // good with attribute-timeout=0: docs/CLUSTER.md).
  const std::string c = volume().mount(0) + "/rewrite", d = volume().mount(1) + "/rewrite";
  const auto old_bytes = pseudo_random(96000, 1), new_bytes = pseudo_random(100, 2);
  const int fc = ::open(c.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fc >= 0);
  REQUIRE(::pwrite(fc, old_bytes.data(), old_bytes.size(), 0) == static_cast<ssize_t>(old_bytes.size()));
  REQUIRE(::fsync(fc) == 0);
  REQUIRE(read_all(d) == old_bytes);
  REQUIRE(::pwrite(fc, new_bytes.data(), new_bytes.size(), 0) == static_cast<ssize_t>(new_bytes.size()));
  REQUIRE(::fsync(fc) == 0);
  auto expected = old_bytes;
  std::copy(new_bytes.begin(), new_bytes.end(), expected.begin());
  CHECK(read_all(d) == expected);
  ::close(fc);
  ::unlink(c.c_str());
}

TEST_CASE("shared storage: B reads what A has flushed while A records, exactly after close; B cannot write it",
          "[shared][gluster]") {
  TwoHosts hosts("read-while-recording");
  Daemon &a = hosts.a, &b = hosts.b;
  const std::string name = "/acme/call-1.wav";
  int fd = ::open((a.mnt() + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::vector<std::uint8_t> written;
  int seed = 1;
  auto frames = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto f = pseudo_random(320, static_cast<std::uint64_t>(seed++));
      write_exact(fd, f);
      written.insert(written.end(), f.begin(), f.end());
    }
  };
  frames(50);  // inside the first chunk: only the tail flusher writes it
  CHECK(eventually([&] { return read_or_empty(b.mnt() + name) == written; }));
  // A player on B keeps the recording open while A goes on recording.
  const int held = ::open((b.mnt() + name).c_str(), O_RDONLY);
  REQUIRE(held >= 0);
  frames(400);  // past two chunk boundaries (128,000 bytes)
  CHECK(eventually([&] { return read_or_empty(b.mnt() + name) == written; }));
  CHECK(eventually([&] {
    std::vector<std::uint8_t> seen(written.size() + 1);
    const ssize_t n = ::pread(held, seen.data(), seen.size(), 0);
    seen.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return seen == written;
  }));
  REQUIRE(::close(held) == 0);

  // The second writer, from B, is refused while A records: EBUSY, a log line.
  CHECK(open_close(b.mnt() + name, O_WRONLY | O_APPEND) == EBUSY);
  CHECK(open_close(b.mnt() + name, O_RDWR) == EBUSY);
  CHECK(::truncate((b.mnt() + name).c_str(), 10) == -1);
  CHECK(errno == EBUSY);
  CHECK(b.count_in_log("refused (EBUSY)") >= 3);
  CHECK(b.count_in_log(name) >= 1);
  frames(3);
  REQUIRE(::close(fd) == 0);
  CHECK(eventually([&] { return read_or_empty(b.mnt() + name) == written; }));
  CHECK(backing_header(b.backing() + name).sealed);

  // A's lock went with its close: B may append now; A reads B's appends.
  append_when_free(b, name, pseudo_random(1000, 99), written);
  CHECK(eventually([&] { return read_or_empty(a.mnt() + name) == written; }));
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

TEST_CASE(
    "shared storage: A killed mid-recording; B reads up to A's last flush, fsck skips it while A lives, seals it after",
    "[shared][gluster]") {
  TwoHosts hosts("takeover");
  Daemon &a = hosts.a, &b = hosts.b;
  // Closed on A before the crash: must survive whole.
  const auto closed = pseudo_random(200000, 7);
  write_all(a.mnt() + "/acme/closed.wav", closed);
  const std::string name = "/acme/open.wav";
  int fd = ::open((a.mnt() + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::vector<std::uint8_t> written;
  for (int i = 0; i < 300; ++i) {
    auto f = pseudo_random(320, static_cast<std::uint64_t>(1000 + i));
    write_exact(fd, f);
    written.insert(written.end(), f.begin(), f.end());
  }
  // A's tail flusher has written all of it once B reads it all.
  REQUIRE(eventually([&] { return read_or_empty(b.mnt() + name) == written; }));

  // fsck (B's config) while A lives: A's recording is "writing", untouched.
  const auto before = read_all(b.backing() + name);
  auto r = run_fsck(b, "--json --seal");
  CHECK(fsck_status(r, "acme/open.wav") == "writing");
  CHECK(fsck_status(r, "acme/closed.wav") == "sealed");
  CHECK(read_all(b.backing() + name) == before);
  CHECK_FALSE(backing_header(b.backing() + name).sealed);

  a.kill9();
  ::close(fd);  // on a dead mount
  // A's lock went with its process: fsck now seals what A flushed.
  CHECK(read_or_empty(b.mnt() + name) == written);
  CHECK(eventually([&] {
    auto s = run_fsck(b, "--json --seal");
    return fsck_status(s, "acme/open.wav") == "sealed";
  }));
  CHECK(backing_header(b.backing() + name).sealed);
  CHECK(read_all(b.mnt() + name) == written);
  CHECK(read_all(b.mnt() + "/acme/closed.wav") == closed);
  CHECK(b.stop() == 0);
}

TEST_CASE("shared storage: a recording A left open is sealed by B's first writer after A died", "[shared][gluster]") {
  TwoHosts hosts("takeover-by-b");
  Daemon &a = hosts.a, &b = hosts.b;
  const std::string name = "/acme/left-open.wav";
  auto part = pseudo_random(70000, 3);  // one full chunk and a tail
  const int fd = start_recording(hosts, name, part);
  a.kill9();
  ::close(fd);
  // B continues the recording where A's last flush ended and seals it.
  append_when_free(b, name, pseudo_random(5000, 4), part);
  CHECK(read_all(b.mnt() + name) == part);
  CHECK(backing_header(b.backing() + name).sealed);
  CHECK(b.stop() == 0);
}

TEST_CASE("shared storage: random writes, truncates and reopens on A; B reads every version byte-exact",
          "[shared][gluster]") {
  TwoHosts hosts("fsx");
  Daemon &a = hosts.a, &b = hosts.b;
  const std::string name = "/acme/fsx.wav";
  std::vector<std::uint8_t> model;
  std::mt19937_64 rng(17);
  for (int round = 0; round < 6; ++round) {
    int fd = ::open((a.mnt() + name).c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    for (int op = 0; op < 40; ++op) {
      const auto kind = rng() % 10;
      if (kind < 6) {  // write somewhere, often past the end (holes)
        const std::size_t at = rng() % (model.size() + 100000);
        const std::size_t len = 1 + rng() % 70000;
        auto data = pseudo_random(len, rng());
        REQUIRE(::pwrite(fd, data.data(), len, static_cast<off_t>(at)) == static_cast<ssize_t>(len));
        if (model.size() < at + len) model.resize(at + len, 0);
        std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(at));
      } else if (kind < 8) {  // append small frames
        for (int i = 0; i < 20; ++i) {
          auto f = pseudo_random(320, rng());
          REQUIRE(::pwrite(fd, f.data(), f.size(), static_cast<off_t>(model.size())) == 320);
          model.insert(model.end(), f.begin(), f.end());
        }
      } else {  // truncate, shorter or longer
        const std::size_t to = rng() % (model.size() + 50000);
        REQUIRE(::ftruncate(fd, static_cast<off_t>(to)) == 0);
        model.resize(to, 0);
      }
    }
    std::vector<std::uint8_t> back(model.size());
    REQUIRE(::pread(fd, back.data(), back.size(), 0) == static_cast<ssize_t>(back.size()));
    CHECK(back == model);  // A's own view
    REQUIRE(::close(fd) == 0);
    CHECK(eventually([&] { return read_or_empty(b.mnt() + name) == model; }));
  }
  CHECK(backing_header(b.backing() + name).sealed);
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

TEST_CASE("shared storage: the recorder benchmark (--quick) on GlusterFS, recvault vs the raw mount",
          "[shared][gluster]") {
  // Every byte of every workload is verified by fsbench; nothing about speed
  // is asserted (docs/PERFORMANCE.md has the figures of a full run, 64
  // recorders too: the test keeps the 256 that stress the tail buffers).
  const std::string root = env_or_fail("RECVAULT_SOURCE_ROOT"), build = env_or_fail("RECVAULT_BUILD_ROOT");
  auto [out, ok] = run_runner("RECVAULT_BUILD_DIR='" + build + "' RECVAULT_BENCH_SHARED='" + volume().mount(0) +
                              "' WORKLOADS='recorders_256 seq_read' bash '" + root + "/bench/run_fs_bench.sh' --quick");
  INFO(out);
  CHECK(ok);
  CHECK(out.find("every workload ran and verified") != std::string::npos);
  CHECK(out.find("recorders_256") != std::string::npos);
}

TEST_CASE("shared storage: the staleness benchmark (--quick): what A writes, B reads exact, open, held and closed",
          "[shared][gluster]") {
  // Two more daemons (the shared defaults: tail_flush_interval_ms = 500,
  // attr_timeout = 0.5) over the two client mounts, one sample per row.
  // Each sample waits until B reads A's bytes back exact, up to 60 s; how
  // long it took is printed, never asserted (docs/CLUSTER.md "Staleness
  // bound" has measured figures).
  const std::string root = env_or_fail("RECVAULT_SOURCE_ROOT"), build = env_or_fail("RECVAULT_BUILD_ROOT");
  auto [out, ok] =
      run_runner("SAMPLES=1 RECVAULT_BUILD_DIR='" + build + "' bash '" + root + "/bench/run_staleness.sh' --quick '" +
                 volume().mount(0) + "' '" + volume().mount(1) + "'");
  INFO(out);
  CHECK(ok);
  CHECK(out.find("every sample read back exact on the other host") != std::string::npos);
  for (const char* row : {"recvault  open", "recvault  held", "recvault  closed"}) {
    CHECK(out.find(row) != std::string::npos);
  }
}

TEST_CASE("shared storage: recvaultd warns when its GlusterFS client keeps pages across opens (fopen-keep-cache)",
          "[shared][gluster]") {
  const std::string keeping = volume().mount_keeping_cache();
  std::filesystem::create_directory(keeping + "/warn");
  REQUIRE(eventually([&] { return std::filesystem::is_directory(volume().mount(0) + "/warn"); }));
  TempDir keystore;
  std::filesystem::create_directory(keystore.path() / "ks");
  Daemon warned, quiet;
  warned.use_shared_storage(keeping + "/warn", keystore.file("ks"));
  quiet.use_shared_storage(volume().mount(0) + "/warn", keystore.file("ks"));
  std::vector<std::uint8_t> master(32);
  REQUIRE(crypto::random_bytes(master).ok());
  warned.set_master_key_hex(hex_encode(master));
  quiet.set_master_key_hex(hex_encode(master));
  warned.start();
  quiet.start();
  CHECK(warned.count_in_log("fopen-keep-cache is not off") == 1);
  CHECK(quiet.count_in_log("fopen-keep-cache") == 0);
  CHECK(warned.stop() == 0);
  CHECK(quiet.stop() == 0);
}

// Keep this case last: it kills the GlusterFS client of mount 0 (host A's),
// which stays dead for the rest of this binary.
TEST_CASE("shared storage: host A loses the file system mid-recording (its GlusterFS client killed); B takes over",
          "[shared][gluster]") {
  TwoHosts hosts("client-lost");
  Daemon &a = hosts.a, &b = hosts.b;
  const std::string name = "/acme/cut-off.wav";
  auto flushed = pseudo_random(70000, 5);  // one full chunk and a tail
  const int fd = start_recording(hosts, name, flushed);
  CHECK(open_close(b.mnt() + name, O_WRONLY | O_APPEND) == EBUSY);

  // Host A is cut off from the volume: what its recorder writes now cannot
  // be stored, and A says so (fsync fails, the tail flusher logs), never
  // silently.
  REQUIRE(volume().kill_client(0));
  write_exact(fd, pseudo_random(3200, 6));  // into A's tail buffer
  CHECK(::fsync(fd) != 0);
  CHECK(eventually([&] { return a.count_in_log("tail flush failed") >= 1; }));

  // The bricks dropped A's lock with its connection: B continues the
  // recording after what A had flushed, and seals it.
  append_when_free(b, name, pseudo_random(5000, 7), flushed);
  CHECK(read_all(b.mnt() + name) == flushed);
  CHECK(backing_header(b.backing() + name).sealed);
  ::close(fd);  // A's close cannot reach the volume either
  CHECK(read_all(b.mnt() + name) == flushed);
  CHECK(b.stop() == 0);
  a.stop();  // its backing directory is gone: its exit status says so, nothing to check
}

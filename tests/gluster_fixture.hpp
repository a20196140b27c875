// A real GlusterFS volume on this machine for tests: a private glusterd
// (its own working directory, CLI socket and logs under a temporary
// directory), a volume of one brick, or of two replicated bricks
// (`replica 2`), under that directory, set up as docs/CLUSTER.md recommends
// for recvault (client.strict-locks; with `tuned`, the staleness options
// too), and N FUSE mounts of it (each mount is its own
// GlusterFS client, as each recorder host would have). The destructor
// unmounts, stops and deletes the volume, kills the bricks, the self-heal
// daemon and glusterd and removes the directory, also when a test failed.
//
// Needs root and Debian's glusterfs-server and glusterfs-client
// (scripts/deps.sh). glusterd listens on its standard port 24007 (bricks and
// clients fetch their volume files there); a glusterd already running on
// this machine is refused rather than used. GlusterFS refuses bricks on
// "localhost" or "127.0.0.1": the brick is named by this machine's host name,
// which must resolve (to a loopback address is fine).
#pragma once

#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "etcd_fixture.hpp"  // port_open
#include "test_util.hpp"

namespace recvault::test {

class GlusterVolume {
 public:
  struct Setup {
    int mounts = 2;
    int replicas = 1;    // 1 or 2 bricks, on this machine
    bool tuned = false;  // docs/CLUSTER.md's options for the staleness bound
    std::string volume = "recvault-test";
    // Extra options of the client (`glusterfs --help`), after the ones
    // docs/CLUSTER.md recommends, e.g. "--attribute-timeout=0".
    std::string client_options;
    // Extra `gluster volume set` options, set last: "KEY VALUE" each.
    std::vector<std::string> volume_options;
  };
  explicit GlusterVolume(Setup setup)
      : volume_(setup.volume), tuned_(setup.tuned), client_options_(std::move(setup.client_options)) {
    if (port_open(kPort)) {
      throw std::runtime_error("a glusterd already listens on port 24007: stop it before the GlusterFS tests");
    }
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) throw std::runtime_error("gethostname failed");
    host_ = host;
    try {
      for (const char* sub : {"glusterd", "run", "logs", "bricks"}) std::filesystem::create_directory(dir_ / sub);
      start_glusterd();
      std::string bricks;
      for (int i = 0; i < setup.replicas; ++i)
        bricks += " " + host_ + ":" + (dir_ / "bricks" / ("b" + std::to_string(i))).string();
      // Both replicas on one machine: gluster wants `force` for that.
      cli("volume create " + volume_ + (setup.replicas > 1 ? " replica " + std::to_string(setup.replicas) : "") +
          bricks + " force");
      created_ = true;
      // As docs/CLUSTER.md recommends: a client that lost its connection
      // does not silently reuse descriptors whose locks the brick dropped.
      cli("volume set " + volume_ + " client.strict-locks on");
      // docs/CLUSTER.md "Replicated GlusterFS volumes": no split-brain.
      if (setup.replicas > 1) cli("volume set " + volume_ + " cluster.quorum-type auto");
      if (tuned_) {
        for (const char* option : kStalenessOptions) cli("volume set " + volume_ + " " + option);
      }
      for (const auto& option : setup.volume_options) cli("volume set " + volume_ + " " + option);
      cli("volume start " + volume_);
      started_ = true;
      for (int i = 0; i < setup.mounts; ++i) mount_client(i);
    } catch (...) {
      teardown();
      throw;
    }
  }
  ~GlusterVolume() { teardown(); }
  GlusterVolume(const GlusterVolume&) = delete;
  GlusterVolume& operator=(const GlusterVolume&) = delete;

  // The i-th client mount of the volume.
  std::string mount(int i) const { return mounts_.at(static_cast<std::size_t>(i)); }

  // SIGKILL to the i-th mount's GlusterFS client process: that host loses
  // the file system at once (its calls fail with ENOTCONN), and the bricks,
  // seeing its connections close, drop its locks. The mount stays, dead,
  // until the destructor. False when no such process was found.
  bool kill_client(int i) const {
    const std::string at = mount(i);
    bool killed = false;
    for (pid_t p : processes_with({"glusterfs", at})) killed = ::kill(p, SIGKILL) == 0 || killed;
    return killed;
  }
  // One more client mount, with GlusterFS's default fopen-keep-cache (not
  // what docs/CLUSTER.md recommends): its path.
  std::string mount_keeping_cache() {
    mount_client(static_cast<int>(mounts_.size()), true);
    return mounts_.back();
  }
  const std::string& name() const { return volume_; }
  // The i-th brick's directory: what the server stores, bypassing every client.
  std::string brick(int i) const { return (dir_ / "bricks" / ("b" + std::to_string(i))).string(); }

  // Runs a gluster CLI command against our glusterd; throws with its output
  // when it fails.
  std::string cli(const std::string& args) const {
    const std::string cmd =
        "gluster --mode=script --glusterd-sock=" + (dir_ / "run" / "cli.socket").string() + " " + args + " 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) throw std::runtime_error("popen gluster failed");
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    if (::pclose(p) != 0) throw std::runtime_error("gluster " + args + " failed: " + out + glusterd_log_tail());
    return out;
  }

 private:
  static constexpr int kPort = 24007;
  // docs/CLUSTER.md "Which network file systems": no client serves a
  // file's size or small files' content from a one-second cache of its own
  // (its kernel still caches attributes for a second; attribute-timeout=0
  // is safe only with fopen-keep-cache=off, see there).
  static constexpr const char* kStalenessOptions[] = {"performance.stat-prefetch off", "performance.quick-read off"};

  void start_glusterd() {
    const auto vol = dir_ / "glusterd.vol";
    std::ofstream out(vol);
    out << "volume management\n"
        << "    type mgmt/glusterd\n"
        << "    option working-directory " << (dir_ / "glusterd").string() << "\n"
        << "    option glusterd-sockfile " << (dir_ / "run" / "cli.socket").string() << "\n"
        << "    option transport-type socket\n"
        << "    option transport.socket.listen-port " << kPort << "\n"
        << "    option ping-timeout 0\n"
        << "    option event-threads 1\n"
        << "end-volume\n";
    out.close();
    glusterd_ = ::fork();
    if (glusterd_ < 0) throw std::runtime_error("fork failed");
    if (glusterd_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const std::string v = vol.string(), log = (dir_ / "logs" / "glusterd.log").string();
      ::execlp("glusterd", "glusterd", "-N", "-f", v.c_str(), "-l", log.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!std::filesystem::exists(dir_ / "run" / "cli.socket") || !port_open(kPort)) {
      int status = 0;
      if (::waitpid(glusterd_, &status, WNOHANG) == glusterd_) {
        glusterd_ = -1;
        throw std::runtime_error("glusterd exited at start-up (is glusterfs-server installed?)" + glusterd_log_tail());
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("glusterd did not start" + glusterd_log_tail());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  void mount_client(int i, bool keep_cache = false) {
    const auto at = dir_ / ("mnt" + std::to_string(i));
    std::filesystem::create_directory(at);
    const std::string log = (dir_ / "logs" / ("client" + std::to_string(i) + ".log")).string();
    // The client itself rather than `mount -t glusterfs`: GlusterFS 10's
    // mount helper cannot pass fopen-keep-cache=off (docs/CLUSTER.md). Off,
    // every open drops the kernel's pages of the file (close-to-open).
    const std::string cmd = "glusterfs --volfile-server=" + host_ + " --volfile-id=" + volume_ +
                            (keep_cache ? "" : " --fopen-keep-cache=off") + " --log-file=" + log + " " +
                            client_options_ + " " + at.string() + " 2>&1";
    // The brick may still be coming up right after `volume start`.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    // The client forks to the background and mounts there: it is started
    // again only when no client of this mount point is left.
    for (;;) {
      if (is_mounted(at.string())) break;
      if (processes_with({"glusterfs", at.string()}).empty()) (void)std::system(cmd.c_str());
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the GlusterFS client did not mount " + at.string() + file_tail(log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    mounts_.push_back(at.string());
  }

  static std::string file_tail(const std::string& path) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 3000) text = text.substr(text.size() - 3000);
    return text.empty() ? "" : "\n--- " + path + " ---\n" + text;
  }
  std::string glusterd_log_tail() const { return file_tail((dir_ / "logs" / "glusterd.log").string()); }

  // Processes whose command line contains every one of `needles`.
  static std::vector<pid_t> processes_with(const std::vector<std::string>& needles) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(e.path() / "cmdline");
      std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      bool all = !cmdline.empty();
      for (const auto& n : needles) all = all && cmdline.find(n) != std::string::npos;
      if (all) out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
  }

  // GlusterFS processes of ours but glusterd: the bricks (glusterfsd on our
  // brick directories) and the self-heal daemon of a replicated volume
  // (glustershd, which names our volume: it keeps its files where a
  // system glusterd's would be).
  std::vector<pid_t> server_pids() const {
    auto out = processes_with({"glusterfsd", (dir_ / "bricks").string()});
    for (pid_t p : processes_with({"glustershd", "shd/" + volume_})) out.push_back(p);
    return out;
  }

  void teardown() noexcept {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
      if (::umount2(it->c_str(), 0) != 0) ::umount2(it->c_str(), MNT_DETACH);
    }
    mounts_.clear();
    try {
      if (started_) cli("volume stop " + volume_ + " force");
      if (created_) cli("volume delete " + volume_);
    } catch (...) {
      // glusterd may be gone: the brick is killed below either way.
    }
    started_ = created_ = false;
    for (pid_t p : server_pids()) ::kill(p, SIGKILL);
    if (glusterd_ > 0) {
      ::kill(-glusterd_, SIGKILL);
      ::kill(glusterd_, SIGKILL);
      int status = 0;
      ::waitpid(glusterd_, &status, 0);
      glusterd_ = -1;
    }
  }

  std::string volume_;
  bool tuned_;
  std::string client_options_;
  std::string host_;
  TempDir dir_;
  pid_t glusterd_ = -1;
  bool created_ = false, started_ = false;
  std::vector<std::string> mounts_;
};

}  // namespace recvault::test

#include "recvault/daemon/runtime.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <vector>

#include "mount_sync.hpp"
#include "recvault/crypto/primitives.hpp"
#include "recvault/daemon/readahead.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/util/encoding.hpp"
#include "recvault/util/log.hpp"
#include "shutdown.hpp"

namespace recvault::daemon {

void harden_process() {
  ::prctl(PR_SET_DUMPABLE, 0);
  struct rlimit core {
    0, 0
  };
  ::setrlimit(RLIMIT_CORE, &core);
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
}

Result<Config> prepare_demo(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* sub : {"backing", "mnt", "keystore"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return make_error(Errc::io, "cannot create " + (dir / sub).string() + ": " + ec.message());
  }
  RV_ASSIGN(auto master, keystore::load_or_create_master_key_file(dir / "master.key"));
  const fs::path secret = dir / "jwt.secret";
  if (!fs::exists(secret)) {
    std::vector<std::uint8_t> raw(32);
    RV_TRY(crypto::random_bytes(raw));
    int fd = ::open(secret.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      int e = errno;
      return sys_error("create " + secret.string(), e);
    }
    std::string text = hex_encode(raw);
    ssize_t n = ::write(fd, text.data(), text.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) return make_error(Errc::io, "cannot write " + secret.string());
  }
  return parse_config(demo_config_text(), fs::absolute(dir));
}

namespace {

bool listed_as_recvault_mount(const std::filesystem::path& mount_point) {
  std::ifstream in("/proc/self/mounts");
  std::string dev, mnt, type, rest;
  const std::string want = std::filesystem::absolute(mount_point).lexically_normal().string();
  while (in >> dev >> mnt >> type) {
    std::getline(in, rest);
    if (mnt == want && type.rfind("fuse", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Status clear_stale_mount(const std::filesystem::path& mount_point) {
  if (!listed_as_recvault_mount(mount_point)) return {};
  // statfs always reaches the daemon (stat may be answered from the kernel's
  // attribute cache): ENOTCONN means the daemon behind the mount is gone.
  struct statfs sf {};
  if (::statfs(mount_point.c_str(), &sf) == 0) {
    return make_error(Errc::conflict, mount_point.string() + " is already mounted by a running daemon");
  }
  int e = errno;
  if (e != ENOTCONN && e != ECONNABORTED) return sys_error("statfs " + mount_point.string(), e);
  log::warn("detaching the stale mount left at " + mount_point.string() + " by a previous daemon");
  if (::umount2(mount_point.c_str(), MNT_DETACH) != 0) {
    int e2 = errno;
    return sys_error("umount " + mount_point.string(), e2);
  }
  return {};
}

namespace {

struct SessionDeleter {
  void operator()(fuse_session* s) const noexcept { fuse_session_destroy(s); }
};

// How long a stop waits for the kernel to hand over its cached writes
// (systemd's TimeoutStopSec is far above it: systemd/recvault.service).
constexpr std::chrono::milliseconds kHandOverDeadline{5000};

}  // namespace

int run_mount(const Config& config, fuse::Filesystem& fs, const MountHooks& hooks) {
  std::vector<std::string> words = {"recvaultd",       "-o", "default_permissions", "-o",
                                    "fsname=recvault", "-o", "subtype=recvault"};
  if (config.allow_other) {
    words.push_back("-o");
    words.push_back("allow_other");
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  // Our own handlers, not libfuse's (which stop the loop at once): a stop
  // first lets the kernel hand over its writeback cache (shutdown.hpp).
  StopSignals signals;
  if (!signals.ok()) {
    log::error("cannot install signal handlers");
    return 1;
  }
  // Helper processes may wait on this daemon: declared before the session so
  // that they are reaped only after it is destroyed (mount_sync.hpp).
  std::unique_ptr<MountSync> writeback;
  std::unique_ptr<GracefulStop> stopper;
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(&args, &fuse::Filesystem::operations(), sizeof(fuse_lowlevel_ops), &fs));
  fuse_opt_free_args(&args);
  if (!se) {
    log::error("cannot create the FUSE session");
    return 1;
  }
  // Absolute: fuse_daemonize changes to "/", and the helpers and the unmount
  // use this path afterwards.
  const std::filesystem::path mount_point = std::filesystem::absolute(config.mount_point);
  if (fuse_session_mount(se.get(), mount_point.c_str()) != 0) {
    log::error("cannot mount at " + config.mount_point.string());
    return 1;
  }
  // Only the change to "/": without --foreground the process detached before
  // its first thread (background.hpp); libfuse's fork here would lose them.
  fuse_daemonize(1);
  fs.set_session(se.get());
  fs.start_flusher();
  // With the writeback cache the kernel holds what write() accepted until its
  // own writeback (vm.dirty_expire_centisecs, 30 s): a kill -9 of the daemon
  // would lose those pages. The helper has them written back every half
  // flush interval (a growing file's last, incomplete page: when it fills,
  // when the file stops growing, at the latest every fifth pass) and the
  // tail flusher also runs every half interval (main.cpp): docs/RELIABILITY.md
  // §1.1 gives the bound.
  if (config.writeback_cache) {
    writeback = MountSync::every(
        mount_point, config.tail_flush_interval / 2, [&fs] { return fs.writing_files(); },
        [&fs](pid_t helper) { fs.set_writeback_helper(helper); });
  }

  StopPlan plan;
  plan.mount_point = mount_point;
  plan.flush_deadline = kHandOverDeadline;
  plan.open_files = [&fs, &mount_point] {
    std::vector<std::string> paths;
    for (const auto& relative : fs.open_paths()) paths.push_back(mount_point.string() + relative);
    return paths;
  };
  stopper = std::make_unique<GracefulStop>(se.get(), signals, std::move(plan));
  if (!stopper->ok()) {
    log::error("cannot watch for stop signals");
    fs.stop_flusher();
    fs.set_session(nullptr);
    fuse_session_unmount(se.get());
    return 1;
  }
  log::info("mounted " + config.backing_dir.string() + " at " + config.mount_point.string());
  if (hooks.on_ready) hooks.on_ready();

  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(loop, config.max_threads);
  fuse_loop_cfg_set_idle_threads(loop, config.max_threads);  // no thread churn under load
  fuse_loop_cfg_set_clone_fd(loop, 0);
  std::jthread read_ahead = tune_read_ahead_when_mounted(mount_point, config.read_ahead_kb);
  int rc = fuse_session_loop_mt(se.get(), loop);
  fuse_loop_cfg_destroy(loop);
  stopper->loop_returned();

  // No handler runs any more: what the kernel handed over is in our buffers.
  sd_notify(0, "STOPPING=1");
  fs.stop_flusher();
  fs.set_session(nullptr);
  std::size_t sealed = fs.seal_all();
  log::info("shutting down: sealed " + std::to_string(sealed) + " open recording(s)");
  fuse_session_unmount(se.get());
  // Closing /dev/fuse fails whatever a helper process still waits for.
  se.reset();
  // Handles of files and directories still open at the unmount: the kernel
  // never releases them, and no handler can run any more.
  if (std::size_t n = fs.free_outstanding_handles(); n > 0) {
    log::debug("freed " + std::to_string(n) + " handle(s) the kernel never released");
  }
  stopper.reset();
  writeback.reset();
  if (rc != 0) log::error("the FUSE loop ended with error " + std::to_string(rc));
  return rc == 0 ? 0 : 1;
}

}  // namespace recvault::daemon

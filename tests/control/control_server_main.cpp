// A test-only control server process (the daemon hosts the real one): a fresh
// keystore in --store, the socket, the HS256 secret and the audit log as
// given. Prints "ready" once serving; stops cleanly on SIGTERM/SIGINT.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

#include "recvault/control/server.hpp"
#include "recvault/daemon/keystore_backend.hpp"
#include "recvault/daemon/lifecycle.hpp"
#include "recvault/daemon/reencrypt.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/store.hpp"

using namespace recvault;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SOCKET SECRET_FILE STORE_DIR AUDIT_LOG\n", argv[0]);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts

  std::filesystem::create_directories(argv[3]);
  auto master = keystore::MasterKey::generate();
  if (!master) return 1;
  auto store = keystore::Store::open(argv[3], std::move(*master));
  if (!store) {
    std::fprintf(stderr, "store: %s\n", store.error().message.c_str());
    return 1;
  }
  daemon::KeystoreBackend backend(**store);
  // The key lifecycle on an empty backing directory beside the store (no
  // mount here: the census finds nothing; destructions never come due).
  const std::filesystem::path backing = std::filesystem::path(argv[3]) / "backing";
  std::filesystem::create_directories(backing);
  daemon::KeyLifecycle lifecycle(**store, backing, daemon::LifecycleOptions{});
  // Re-encryption jobs on that (empty, unmounted) backing directory.
  keystore::KeyCache keys(**store);
  fuse::FsOptions fs_options;
  fs_options.backing_dir = backing;
  fuse::Filesystem fs(fs_options, keys);
  if (auto st = fs.open_backing(); !st) return 1;
  daemon::ReencryptOptions jobs_options;
  jobs_options.backing_dir = backing;
  jobs_options.state_dir = std::filesystem::path(argv[3]) / "jobs";
  daemon::Reencryptor jobs(fs, keys, jobs_options);
  auto jobs_audit = control::AuditLog::disabled();
  jobs.start(*jobs_audit);
  lifecycle.set_reencryptor(&jobs);
  control::ServerOptions opts;
  opts.socket_path = argv[1];
  opts.auth.hs256_secret_file = argv[2];
  opts.audit_log_path = argv[4];
  opts.status = [](const control::Principal&) { return nlohmann::json{{"version", "test-server"}}; };
  opts.metrics = [](const control::Principal&) {
    return std::string(
        "# HELP recvault_build_info The running recvaultd's version.\n"
        "# TYPE recvault_build_info gauge\nrecvault_build_info{version=\"test-server\"} 1\n");
  };
  opts.lifecycle = &lifecycle;
  control::Server server(std::move(opts), backend);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "start: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  jobs.stop();
  return 0;
}

// recvaultd's composition root (docs/ARCHITECTURE.md "Modules"): the one
// place where the keystore, the key cache, the OpenPGP sealer, the
// filesystem and the control server are built from a Config and joined.
// main() parses the command line, loads the Config and hands it here.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "recvault/daemon/config.hpp"

namespace recvault::daemon {

// recvaultd's exit codes (docs/DAEMON.md).
inline constexpr int kExitConfig = 2;    // the configuration or the backing directory
inline constexpr int kExitKeystore = 3;  // the master key or the keystore
inline constexpr int kExitControl = 4;   // the control socket

// Why the daemon could not be built or started: the exit code and one line.
struct StartFailure {
  int exit_code = kExitConfig;
  std::string message;
};

class Daemon {
 public:
  struct Options {
    bool demo = false;  // the embedded demo: no warnings about shared disks
    std::string version = "unknown";
  };

  // Opens the keystore (with the master key the Config names), the OpenPGP
  // sealer and the backing directory (creating configured account
  // directories). Null, with `why` filled, when one of them fails.
  static std::unique_ptr<Daemon> build(Config config, Options options, StartFailure& why);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts the control server, mounts and serves until SIGTERM/SIGINT/SIGHUP
  // (daemon/runtime.hpp), then stops the server. `on_ready` runs once the
  // mount is live. Returns the exit code; `why` says what failed when the
  // daemon could not start serving.
  int run(const std::function<void()>& on_ready, StartFailure& why);

 private:
  struct Parts;
  explicit Daemon(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace recvault::daemon

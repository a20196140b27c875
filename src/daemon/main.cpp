// recvaultd: the recvault FUSE daemon and control API server. This file is
// the command line; daemon/daemon.hpp builds and runs the daemon.
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "recvault/daemon/background.hpp"
#include "recvault/daemon/config.hpp"
#include "recvault/daemon/daemon.hpp"
#include "recvault/daemon/runtime.hpp"
#include "recvault/util/log.hpp"
#include "recvault/util/version.hpp"

namespace {

using namespace recvault;
using daemon::kExitConfig;

int fail(int code, const std::string& message) {
  std::cerr << "recvaultd: " << message << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"recvaultd - encrypted call-recording filesystem daemon"};
  std::string config_path = "/etc/recvault/recvault.toml";
  std::string demo_dir, mount_point, backing_dir, log_level;
  bool foreground = false, check_only = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML)");
  app.add_option("--demo", demo_dir, "run the embedded demo configuration rooted at DIR (created if absent)");
  app.add_option("--mount-point", mount_point, "override [storage] mount_point");
  app.add_option("--backing-dir", backing_dir, "override [storage] backing_dir");
  app.add_option("--log-level", log_level, "override [log] level: debug, info, warn, error");
  app.add_flag("-f,--foreground", foreground, "stay in the foreground");
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  app.set_version_flag("--version", std::string("recvaultd ") + recvault::version());
  CLI11_PARSE(app, argc, argv);

  daemon::harden_process();
  auto loaded = demo_dir.empty() ? daemon::load_config_file(config_path) : daemon::prepare_demo(demo_dir);
  if (!loaded) return fail(kExitConfig, loaded.error().message);
  daemon::Config config = std::move(loaded).value();
  if (!mount_point.empty()) config.mount_point = mount_point;
  if (!backing_dir.empty()) config.backing_dir = backing_dir;
  if (!log_level.empty() && !log::parse_level(log_level, config.log_level)) {
    return fail(kExitConfig, "--log-level must be debug, info, warn or error");
  }
  log::set_level(config.log_level);
  if (auto st = daemon::clear_stale_mount(config.mount_point); !st) return fail(kExitConfig, st.error().message);
  if (auto st = daemon::validate_environment(config); !st) return fail(kExitConfig, st.error().message);
  if (check_only) {
    std::cout << "configuration OK\n";
    return 0;
  }
  // Without --foreground the command returns once the daemon serves. The
  // fork happens here, before any thread exists (background.hpp).
  std::optional<daemon::Background> background;
  if (!foreground) background.emplace(daemon::Background::detach());

  daemon::StartFailure why;
  auto recvaultd = daemon::Daemon::build(std::move(config), {!demo_dir.empty(), recvault::version()}, why);
  if (!recvaultd) return fail(why.exit_code, why.message);
  const int rc = recvaultd->run(
      [&] {
        sd_notify(0, "READY=1");
        if (background) background->ready();
      },
      why);
  if (!why.message.empty()) return fail(rc, why.message);
  return rc;
}

// recvaultd: the recvault FUSE daemon and control API server.
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <optional>

#include "daemon_metrics.hpp"
#include "recvault/control/keystore_backend.hpp"
#include "recvault/control/server.hpp"
#include "recvault/daemon/background.hpp"
#include "recvault/daemon/config.hpp"
#include "recvault/daemon/pgp_backend.hpp"
#include "recvault/daemon/runtime.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/pgp/sealer.hpp"
#include "recvault/util/log.hpp"
#include "recvault/util/version.hpp"
#include "status.hpp"

namespace {

using namespace recvault;

constexpr int kExitConfig = 2;
constexpr int kExitKeystore = 3;
constexpr int kExitControl = 4;

int fail(int code, const std::string& message) {
  std::cerr << "recvaultd: " << message << "\n";
  return code;
}

control::ServerOptions control_options(const daemon::Config& c) {
  control::ServerOptions o;
  o.socket_path = c.control_socket.string();
  o.socket_mode = c.control_socket_mode;
  o.socket_group = c.control_socket_group;
  o.max_body_bytes = c.max_body_bytes;
  o.audit_log_path = c.audit_log.string();
  o.auth.hs256_secret_file = c.jwt_hs256_secret_file.string();
  o.auth.max_lifetime = c.max_token_lifetime;
  o.auth.issuer = c.jwt_issuer;
  o.auth.audience = c.jwt_audience;
  if (!c.jwt_rs256_public_key.empty()) o.auth.rs256_public_keys.push_back(c.jwt_rs256_public_key.string());
  if (!c.jwt_es256_public_key.empty()) o.auth.es256_public_keys.push_back(c.jwt_es256_public_key.string());
  return o;
}

// A full backing disk must not stop key rotations or the audit trail.
void warn_if_sharing_a_disk(const daemon::Config& c) {
  struct stat backing {}, other {};
  if (::stat(c.backing_dir.c_str(), &backing) != 0) return;
  std::string sharing;
  for (const auto& [what, path] : {std::pair{"the keystore", c.keystore_dir},
                                   std::pair{"the audit log", c.audit_log.parent_path()}}) {
    if (path.empty() || ::stat(path.c_str(), &other) != 0 || other.st_dev != backing.st_dev) continue;
    sharing += sharing.empty() ? what : std::string(" and ") + what;
  }
  if (sharing.empty()) return;
  const bool both = sharing.find(" and ") != std::string::npos;
  log::warn(sharing + (both ? " are" : " is") + " on the backing directory's file system: when recordings fill "
            "it, key changes and audit records fail too (give them their own file system, or set [accounts] "
            "quota_bytes)");
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

  auto master = config.master_key_file.empty() ? keystore::MasterKey::load_credential(config.master_key_credential)
                                               : keystore::MasterKey::load_file(config.master_key_file);
  if (!master) return fail(kExitKeystore, master.error().message);
  auto store = keystore::Store::open(config.keystore_dir, std::move(master).value());
  if (!store) return fail(kExitKeystore, "keystore " + config.keystore_dir.string() + ": " + store.error().message);
  daemon::DaemonMetrics metrics;
  keystore::KeyCache keys(**store, keystore::KeyCache::scrypt_deriver());
  keys.set_store_timer(metrics.store_timer());

  // Client OpenPGP keys: public keys only, imported from the keystore on demand.
  pgp::SealOptions seal_options;
  seal_options.armor = config.pgp_armor;
  seal_options.pipe_bytes = config.pgp_pipe_bytes;
  keystore::Store& key_store = **store;
  auto sealer = pgp::Sealer::open(
      config.gnupg_home,
      [&key_store](std::string_view id) -> Result<pgp::PublicKey> {
        RV_ASSIGN(auto rec, key_store.get_public_key(id));
        return pgp::PublicKey{rec.id, rec.account, rec.armored, rec.fingerprint};
      },
      seal_options);
  if (!sealer) return fail(kExitConfig, "[openpgp] " + sealer.error().message);

  fuse::FsOptions fs_options;
  fs_options.backing_dir = config.backing_dir;
  fs_options.chunk_size = config.chunk_size;
  // With the writeback cache, data passes two stages (kernel -> daemon tail ->
  // backing file); each runs every half interval so a crash loses at most one.
  fs_options.tail_flush_interval =
      config.writeback_cache ? config.tail_flush_interval / 2 : config.tail_flush_interval;
  fs_options.attr_timeout = config.attr_timeout;
  fs_options.writeback_cache = config.writeback_cache;
  fs_options.view_xattrs = config.view_xattrs;
  fs_options.owner_of = [&config](std::string_view account) { return config.owner_of(account); };
  fs_options.limits_of = [&config](std::string_view account) {
    const auto& o = config.owner_of(account);
    return fuse::AccountLimits{o.quota_bytes, o.refuse_unconfigured};
  };
  fs_options.sealer = sealer->get();
  fs_options.waits_per_account = std::max(1u, config.max_threads / 4);
  fs_options.metrics = &metrics.fs();
  fs_options.on_request = metrics.fuse_observer();
  fuse::Filesystem fs(fs_options, keys);
  metrics.watch(fs, keys);
  if (auto st = fs.open_backing(); !st) return fail(kExitConfig, st.error().message);
  if (demo_dir.empty()) warn_if_sharing_a_disk(config);
  for (const auto& [account, owner] : config.owners) {
    if (auto st = fs.ensure_account_dir(account); !st) return fail(kExitConfig, st.error().message);
  }

  const auto started = std::chrono::steady_clock::now();
  control::ServerOptions server_options = control_options(config);
  const daemon::StatusSources status_sources{config, fs, **store, keys, metrics, started};
  server_options.status = [&status_sources](const control::Principal& caller) {
    return daemon::daemon_status(status_sources, caller);
  };
  server_options.metrics = [&metrics](const control::Principal& caller) { return metrics.render(&caller); };
  server_options.observe = metrics.request_observer();
  control::KeystoreBackend keystore_backend(**store);
  daemon::TimedBackend timed_backend(keystore_backend, metrics);
  daemon::PgpAwareBackend backend(timed_backend, fs, sealer->get());
  control::Server server(std::move(server_options), backend);
  if (auto st = server.start(); !st) return fail(kExitControl, "control socket: " + st.error().message);
  daemon::MetricsListener metrics_listener;
  if (!config.metrics_listen.empty()) {
    auto address = daemon::parse_listen_address(config.metrics_listen).value();  // checked by the config
    if (auto st = metrics_listener.start(address, metrics); !st) {
      return fail(kExitConfig, "[metrics] " + st.error().message);
    }
    log::info("metrics at http://" + (address.ipv6 ? "[" + address.host + "]" : address.host) + ":" +
              std::to_string(metrics_listener.port()) + "/metrics");
  }

  daemon::MountHooks hooks;
  hooks.on_ready = [&] {
    log::info("control socket at " + config.control_socket.string());
    sd_notify(0, "READY=1");
    if (background) background->ready();
  };
  int rc = daemon::run_mount(config, fs, hooks);
  metrics_listener.stop();
  server.stop();
  return rc;
}

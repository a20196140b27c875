#include "recvault/daemon/daemon.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_metrics.hpp"
#include "recvault/control/server.hpp"
#include "recvault/daemon/keystore_backend.hpp"
#include "recvault/daemon/lifecycle.hpp"
#include "recvault/daemon/pgp_backend.hpp"
#include "recvault/daemon/reencrypt.hpp"
#include "recvault/daemon/runtime.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/pgp/sealer.hpp"
#include "recvault/util/log.hpp"
#include "status.hpp"

namespace recvault::daemon {
namespace {

control::ServerOptions control_options(const Config& c) {
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

fuse::FsOptions filesystem_options(const Config& config, pgp::Sealer* sealer, fuse::DirectoryKeyPolicy* keys) {
  fuse::FsOptions o;
  o.backing_dir = config.backing_dir;
  o.chunk_size = config.chunk_size;
  // With the writeback cache, data passes two stages (kernel -> daemon tail ->
  // backing file); each runs every half interval so a crash loses at most one.
  o.tail_flush_interval = config.writeback_cache ? config.tail_flush_interval / 2 : config.tail_flush_interval;
  o.attr_timeout = config.attr_timeout;
  o.writeback_cache = config.writeback_cache;
  o.view_xattrs = config.view_xattrs;
  o.shared = config.shared;
  o.owner_of = [&config](std::string_view account) {
    const auto& owner = config.owner_of(account);
    return fuse::DirectoryOwner{owner.uid, owner.gid, owner.mode};
  };
  o.limits_of = [&config](std::string_view account) {
    const auto& owner = config.owner_of(account);
    return fuse::AccountLimits{owner.quota_bytes, owner.refuse_unconfigured};
  };
  o.sealer = sealer;
  o.directory_keys = keys;
  o.waits_per_account = std::max(1u, config.max_threads / 4);
  return o;
}

// A full backing disk must not stop key rotations or the audit trail.
void warn_if_sharing_a_disk(const Config& c) {
  struct stat backing {
  }, other{};
  if (::stat(c.backing_dir.c_str(), &backing) != 0) return;
  std::string sharing;
  for (const auto& [what, path] :
       {std::pair{"the keystore", c.keystore_dir}, std::pair{"the audit log", c.audit_log.parent_path()}}) {
    if (path.empty() || ::stat(path.c_str(), &other) != 0 || other.st_dev != backing.st_dev) continue;
    sharing += sharing.empty() ? what : std::string(" and ") + what;
  }
  if (sharing.empty()) return;
  const bool both = sharing.find(" and ") != std::string::npos;
  log::warn(sharing + (both ? " are" : " is") +
            " on the backing directory's file system: when recordings fill "
            "it, key changes and audit records fail too (give them their own file system, or set [accounts] "
            "quota_bytes)");
}

// docs/CLUSTER.md "Which network file systems": a GlusterFS client that
// keeps the kernel's pages of a file across opens (its default,
// fopen-keep-cache) serves bytes another host rewrote in place (seal,
// unseal, overwrites) late, and with attribute-timeout=0 possibly never.
// The FUSE mount does not show the client's options: its command line does.
void warn_if_gluster_keeps_cache(const Config& c) {
  if (!c.shared) return;
  std::error_code ec;
  const std::string backing = std::filesystem::canonical(c.backing_dir, ec).string();
  if (ec) return;
  // The mount the backing directory is on: the longest mount point above it.
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line, point, type;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, at, word;
    fields >> id >> parent >> dev >> root >> at;
    while (fields >> word && word != "-") {
    }
    std::string fstype;
    fields >> fstype;
    const bool above = backing == at || at == "/" || (backing.starts_with(at) && backing[at.size()] == '/');
    if (above && at.size() >= point.size()) {
      point = at;
      type = fstype;
    }
  }
  if (type != "fuse.glusterfs") return;
  // Its client: a process named glusterfs whose last argument is the mount
  // point (comm first: a process's cmdline can block while it is in exec).
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(e.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name != "glusterfs") continue;
    std::ifstream in(e.path() / "cmdline");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (std::size_t at = 0; at < all.size();) {
      const std::size_t end = std::min(all.find('\0', at), all.size());
      args.push_back(all.substr(at, end - at));
      at = end + 1;
    }
    if (args.empty() || args.back() != point) continue;
    bool keep_off = false, attr0 = false;
    for (const auto& a : args) {
      keep_off = keep_off || a == "--fopen-keep-cache=off" || a == "--fopen-keep-cache=no" ||
                 a == "--fopen-keep-cache=false" || a == "--fopen-keep-cache=0";
      if (a.starts_with("--attribute-timeout=")) attr0 = std::strtod(a.c_str() + 20, nullptr) == 0.0;
    }
    if (keep_off) return;
    log::warn("shared storage: the backing directory is on a GlusterFS mount (" + point +
              ") whose client keeps the kernel's pages of a file across opens (fopen-keep-cache is not off): bytes "
              "another host rewrites in place (seal, unseal, overwrites) are read here " +
              (attr0 ? std::string("possibly never (it also has attribute-timeout=0)")
                     : std::string("up to its attribute-timeout late")) +
              "; run the client with --fopen-keep-cache=off (docs/CLUSTER.md)");
    return;
  }
}

}  // namespace

// Declared in the order they are built; destroyed in reverse.
struct Daemon::Parts {
  Config config;
  Daemon::Options options;
  std::unique_ptr<DaemonMetrics> metrics = std::make_unique<DaemonMetrics>();  // outlives what it counts
  std::unique_ptr<keystore::Store> store;
  std::unique_ptr<keystore::KeyCache> keys;
  std::unique_ptr<pgp::Sealer> sealer;
  std::unique_ptr<DirectoryKeys> directory_keys;
  std::unique_ptr<fuse::Filesystem> fs;
  std::unique_ptr<KeystoreBackend> keystore_backend;
  std::unique_ptr<TimedBackend> timed_backend;
  std::unique_ptr<PgpAwareBackend> backend;
  std::unique_ptr<KeyLifecycle> lifecycle;
  std::unique_ptr<Reencryptor> reencryptor;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // GET /v1/status (docs/API.md "Daemon").
  nlohmann::json status(const control::Principal& caller) const {
    return daemon_status(StatusSources{config, *fs, *store, *keys, *metrics, started}, caller);
  }
};

Daemon::Daemon(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Daemon::~Daemon() = default;

std::unique_ptr<Daemon> Daemon::build(Config config, Options options, StartFailure& why) {
  auto p = std::make_unique<Parts>();
  p->config = std::move(config);
  p->options = std::move(options);
  const Config& c = p->config;

  auto master = keystore::MasterKeySource{c.master_key_file, c.master_key_credential}.load();
  if (!master) {
    why = {kExitKeystore, master.error().message};
    return nullptr;
  }
  // etcd down at start: the daemon does not start (it has no keys to write
  // with); systemd's Restart= tries again (docs/CLUSTER.md).
  const bool etcd = c.keystore_backend == "etcd";
  auto store = etcd ? keystore::Store::open_etcd(c.etcd, std::move(master).value())
                    : keystore::Store::open(c.keystore_dir, std::move(master).value());
  if (!store) {
    why = {kExitKeystore, (etcd ? std::string("etcd keystore") : "keystore " + c.keystore_dir.string()) + ": " +
                              store.error().message};
    return nullptr;
  }
  if (etcd) {
    std::error_code ec;
    std::filesystem::create_directories(c.keystore_dir, ec);  // local state (gnupg/)
  }
  p->store = std::move(store).value();
  keystore::KeyCacheOptions key_options;
  key_options.max_parallel_derivations = c.max_parallel_derivations;
  key_options.keep_derived = c.keep_derived_keys;
  p->keys = std::make_unique<keystore::KeyCache>(*p->store, key_options);
  p->keys->set_store_timer(p->metrics->store_timer());

  // Client OpenPGP keys: public keys only, imported from the keystore on demand.
  pgp::SealOptions seal_options;
  seal_options.armor = c.pgp_armor;
  seal_options.pipe_bytes = c.pgp_pipe_bytes;
  keystore::Store& key_store = *p->store;
  auto sealer = pgp::Sealer::open(
      c.gnupg_home,
      [&key_store](std::string_view id) -> Result<pgp::PublicKey> {
        RV_ASSIGN(auto rec, key_store.get_public_key(id));
        return pgp::PublicKey{rec.id, rec.account, rec.armored, rec.fingerprint};
      },
      seal_options);
  if (!sealer) {
    why = {kExitConfig, "[openpgp] " + sealer.error().message};
    return nullptr;
  }
  p->sealer = std::move(sealer).value();

  p->directory_keys = std::make_unique<DirectoryKeys>(c.backing_dir, p->sealer.get());
  fuse::FsOptions fs_options = filesystem_options(c, p->sealer.get(), p->directory_keys.get());
  fs_options.metrics = &p->metrics->fs();
  fs_options.on_request = p->metrics->fuse_observer();
  p->fs = std::make_unique<fuse::Filesystem>(std::move(fs_options), *p->keys);
  p->metrics->watch(*p->fs, *p->keys);
  if (auto st = p->fs->open_backing(); !st) {
    why = {kExitConfig, st.error().message};
    return nullptr;
  }
  if (!p->options.demo) warn_if_sharing_a_disk(c);
  warn_if_gluster_keeps_cache(c);
  for (const auto& [account, owner] : c.owners) {
    if (auto st = p->fs->ensure_account_dir(account); !st) {
      why = {kExitConfig, st.error().message};
      return nullptr;
    }
  }
  p->keystore_backend = std::make_unique<KeystoreBackend>(*p->store, p->keys.get());
  p->timed_backend = std::make_unique<TimedBackend>(*p->keystore_backend, *p->metrics);
  p->backend = std::make_unique<PgpAwareBackend>(*p->timed_backend, *p->directory_keys, p->sealer.get());
  p->lifecycle = std::make_unique<KeyLifecycle>(*p->store, c.backing_dir,
                                                LifecycleOptions{c.destruction_delay, c.destruction_check_interval});
  ReencryptOptions reencrypt;
  reencrypt.backing_dir = c.backing_dir;
  reencrypt.state_dir = c.keystore_dir / "jobs";
  reencrypt.mb_per_s = c.reencrypt_mb_per_s;
  reencrypt.open_retry_for = c.reencrypt_open_retry;
  p->reencryptor = std::make_unique<Reencryptor>(*p->fs, *p->keys, std::move(reencrypt));
  p->lifecycle->set_reencryptor(p->reencryptor.get());
  p->metrics->watch(*p->reencryptor);
  return std::unique_ptr<Daemon>(new Daemon(std::move(p)));
}

int Daemon::run(const std::function<void()>& on_ready, StartFailure& why) {
  Parts& p = *parts_;
  control::ServerOptions server_options = control_options(p.config);
  server_options.status = [&p](const control::Principal& caller) { return p.status(caller); };
  server_options.metrics = [&p](const control::Principal& caller) { return p.metrics->render(&caller); };
  server_options.observe = p.metrics->request_observer();
  server_options.lifecycle = p.lifecycle.get();
  control::Server server(std::move(server_options), *p.backend);
  if (auto st = server.start(); !st) {
    why = {kExitControl, "control socket: " + st.error().message};
    return why.exit_code;
  }
  MetricsListener metrics_listener;
  if (!p.config.metrics_listen.empty()) {
    auto address = parse_listen_address(p.config.metrics_listen);  // checked by the config already
    Status st = address ? metrics_listener.start(*address, *p.metrics) : Status(std::move(address).error());
    if (!st) {
      why = {kExitConfig, "[metrics] " + st.error().message};
      return why.exit_code;
    }
    log::info("metrics at http://" + (address->ipv6 ? "[" + address->host + "]" : address->host) + ":" +
              std::to_string(metrics_listener.port()) + "/metrics");
  }
  // Due key destructions run here, audited in the same log as the API
  // (O_APPEND: one line per record whichever writes it).
  std::unique_ptr<control::AuditLog> lifecycle_audit = control::AuditLog::disabled();
  if (!p.config.audit_log.empty()) {
    auto opened = control::AuditLog::open(p.config.audit_log.string());
    if (!opened) {
      why = {kExitControl, "audit log: " + opened.error().message};
      return why.exit_code;
    }
    lifecycle_audit = std::move(opened).value();
  }
  p.lifecycle->start_executor(*lifecycle_audit);
  p.reencryptor->start(*lifecycle_audit);  // resumes the jobs a stop or crash interrupted
  MountHooks hooks;
  hooks.on_ready = [&] {
    log::info("control socket at " + p.config.control_socket.string());
    if (on_ready) on_ready();
  };

  const int rc = run_mount(p.config, *p.fs, hooks);
  metrics_listener.stop();
  server.stop();
  p.reencryptor->stop();
  p.lifecycle->stop_executor();
  return rc;
}

}  // namespace recvault::daemon

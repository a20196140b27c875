// recvaultd's configuration: /etc/recvault/recvault.toml, an embedded demo
// default, and command-line overrides. See config/recvault.toml for the
// commented reference.
//
// Loading validates everything that can be checked before mounting (unknown
// keys, types, missing directories, a master key readable by others, a
// backing dir inside the mount point) and fails with one clear line.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "recvault/keystore/store.hpp"
#include "recvault/util/log.hpp"
#include "recvault/util/result.hpp"

namespace recvault::daemon {

// An account's directory owner and mode, and its limits ([accounts.<id>]).
struct AccountOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0750;
  std::uint64_t quota_bytes = 0;     // 0: unlimited
  bool refuse_unconfigured = false;  // unconfigured = "refuse"
};

// [keystore] destruction_delay bounds, in seconds (1 day .. 366 days); a
// test configuration may go below the minimum with
// allow_short_destruction_delay = true.
inline constexpr std::int64_t kMinDestructionDelay = 24 * 3600;
inline constexpr std::int64_t kMaxDestructionDelay = 366 * 24 * 3600;

// With [storage] shared = true, the defaults of tail_flush_interval_ms and
// attr_timeout (when the configuration does not set them): together they
// bound how stale another host's reader is (docs/CLUSTER.md "Staleness bound").
inline constexpr std::chrono::milliseconds kSharedTailFlushInterval{500};
inline constexpr double kSharedAttrTimeout = 0.5;

struct Config {
  // [storage]
  std::filesystem::path backing_dir;
  std::filesystem::path mount_point;
  std::uint32_t chunk_size = 64 * 1024;
  std::chrono::milliseconds tail_flush_interval{1000};
  // Other hosts' daemons use the same backing directory (a network file
  // system): no cache assumes this daemon is the only writer, and writers
  // lock the backing files (docs/CLUSTER.md "Shared backing storage").
  // Turns the writeback cache off, and halves the defaults of
  // tail_flush_interval and attr_timeout (kShared*).
  bool shared = false;
  // [fuse]
  bool allow_other = true;
  bool writeback_cache = true;
  bool view_xattrs = false;
  double attr_timeout = 1.0;
  unsigned max_threads = 16;
  // Kernel readahead of the mount, KiB (the FUSE default is 128): larger reads
  // mean fewer requests, each decrypted with one pread. 0 keeps the kernel's.
  unsigned read_ahead_kb = 1024;
  // [keystore]
  std::string keystore_backend = "lmdb";  // or "etcd" (docs/CLUSTER.md)
  keystore::EtcdOptions etcd;             // backend = "etcd"
  std::filesystem::path keystore_dir;     // lmdb: the store; etcd: local state (gnupg/)
  std::filesystem::path master_key_file;  // or:
  std::string master_key_credential;      // systemd credential name
  // Keep each version's derived key sealed in the keystore, so a restart
  // derives nothing (docs/KEYSTORE.md "Derived keys"); scrypt runs at once.
  bool keep_derived_keys = true;
  unsigned max_parallel_derivations = 2;
  std::chrono::seconds destruction_delay{7 * 24 * 3600};  // key lifecycle: waiting period before a key is destroyed
  std::chrono::milliseconds destruction_check_interval{60000};  // how often due destructions are looked for
  // Re-encryption jobs: the default throttle (10^6 bytes of backing file per
  // second) and how long a job comes back for recordings open for writing.
  double reencrypt_mb_per_s = 20;
  std::chrono::seconds reencrypt_open_retry{600};
  // [control]
  std::filesystem::path control_socket;
  mode_t control_socket_mode = 0660;
  std::string control_socket_group;
  std::filesystem::path jwt_hs256_secret_file;
  std::filesystem::path jwt_rs256_public_key;
  std::filesystem::path jwt_es256_public_key;
  std::filesystem::path audit_log;
  std::size_t max_body_bytes = 64 * 1024;
  std::chrono::seconds max_token_lifetime{24 * 3600};  // exp - iat (or exp - now) at most
  std::string jwt_issuer;                              // tokens must carry this `iss` ("" = not checked)
  std::string jwt_audience;                            // tokens' `aud` must contain this ("" = not checked)
  // [openpgp] (docs/OPENPGP.md)
  std::filesystem::path gnupg_home;          // default <keystore path>/gnupg; public keys only
  bool pgp_armor = false;                    // ASCII-armored messages instead of binary
  std::size_t pgp_pipe_bytes = 1024 * 1024;  // per open recording
  // [metrics] (docs/OPERATIONS.md): "host:port" of the Prometheus endpoint,
  // "" = none (the default). GET /metrics on the control socket is always on.
  std::string metrics_listen;
  // [log]
  log::Level log_level = log::Level::info;
  // [accounts.<id>] and [accounts.default]
  AccountOwner default_owner;
  std::map<std::string, AccountOwner, std::less<>> owners;

  const AccountOwner& owner_of(std::string_view account) const;
};

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464": a numeric address (IPv4,
// or IPv6 in brackets) and a port (0: any free one); no host names (no resolver at
// start-up, no surprise about which interface listens).
struct ListenAddress {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool ipv6 = false;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

// Parses TOML text. `base` resolves relative paths (the config file's folder).
Result<Config> parse_config(std::string_view toml_text, const std::filesystem::path& base);
Result<Config> load_config_file(const std::filesystem::path& path);

// The demo configuration, rooted at `dir` (backing/, mnt/, keystore/,
// master.key, jwt.secret, control.sock, audit.log under it).
std::string demo_config_text();

// Checks the file system against the config: directories exist, the backing
// dir is not inside the mount point (or vice versa), the master key file is
// not readable by group/others. Creates nothing.
Status validate_environment(const Config& config);

}  // namespace recvault::daemon

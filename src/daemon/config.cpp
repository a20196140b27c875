#include "recvault/daemon/config.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <toml++/toml.h>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "recvault/keystore/account_id.hpp"
#include "recvault/sys/private_file.hpp"

namespace recvault::daemon {
namespace {

Error bad(const std::string& what) { return make_error(Errc::invalid_argument, what); }

constexpr std::int64_t kMaxTokenLifetime = 366LL * 24 * 3600;

// Every table may only contain the keys listed here: a typo is an error, not a
// silently ignored setting.
Status check_keys(const toml::table& t, const std::string& where, const std::set<std::string>& allowed) {
  for (const auto& [k, v] : t) {
    if (!allowed.contains(std::string(k.str()))) {
      return bad("unknown key '" + std::string(k.str()) + "' in [" + where + "]");
    }
  }
  return {};
}

template <class T>
Status get(const toml::table& t, const std::string& where, const char* key, T& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return {};
  if constexpr (std::is_same_v<T, bool>) {
    if (!n->is_boolean()) return bad("[" + where + "] " + key + " must be true or false");
    out = n->as_boolean()->get();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!n->is_string()) return bad("[" + where + "] " + key + " must be a string");
    out = n->as_string()->get();
  } else if constexpr (std::is_same_v<T, double>) {
    if (!n->is_number()) return bad("[" + where + "] " + key + " must be a number");
    out = n->value<double>().value();
  } else {
    if (!n->is_integer()) return bad("[" + where + "] " + key + " must be an integer");
    auto v = n->as_integer()->get();
    if (v < 0) return bad("[" + where + "] " + key + " must not be negative");
    out = static_cast<T>(v);
  }
  return {};
}

Status get_path(const toml::table& t, const std::string& where, const char* key, const std::filesystem::path& base,
                std::filesystem::path& out) {
  std::string s;
  RV_TRY(get(t, where, key, s));
  if (!s.empty()) out = std::filesystem::path(s).is_absolute() ? std::filesystem::path(s) : base / s;
  return {};
}

Status get_mode(const toml::table& t, const std::string& where, const char* key, mode_t& out) {
  std::string s;
  RV_TRY(get(t, where, key, s));
  if (s.empty()) return {};
  char* end = nullptr;
  unsigned long v = std::strtoul(s.c_str(), &end, 8);
  if (*end != '\0' || v > 07777) return bad("[" + where + "] " + key + " must be an octal mode string like \"0750\"");
  out = static_cast<mode_t>(v);
  return {};
}

const toml::table* table(const toml::table& root, const char* name, Status& st) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table()) st = bad(std::string("[") + name + "] must be a table");
  return n->as_table();
}

Status parse_owner(const toml::table& t, const std::string& where, AccountOwner& o) {
  RV_TRY(check_keys(t, where, {"uid", "gid", "mode", "quota_bytes", "unconfigured"}));
  RV_TRY(get(t, where, "uid", o.uid));
  RV_TRY(get(t, where, "gid", o.gid));
  RV_TRY(get_mode(t, where, "mode", o.mode));
  RV_TRY(get(t, where, "quota_bytes", o.quota_bytes));
  std::string unconfigured = o.refuse_unconfigured ? "refuse" : "plain";
  RV_TRY(get(t, where, "unconfigured", unconfigured));
  if (unconfigured != "plain" && unconfigured != "refuse") {
    return bad("[" + where + "] unconfigured must be \"plain\" or \"refuse\"");
  }
  o.refuse_unconfigured = unconfigured == "refuse";
  return {};
}

bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.lexically_normal(), o = outer.lexically_normal();
  auto [oi, ii] = std::mismatch(o.begin(), o.end(), i.begin(), i.end());
  return oi == o.end() || (std::next(oi) == o.end() && oi->empty());
}

}  // namespace

const AccountOwner& Config::owner_of(std::string_view account) const {
  auto it = owners.find(account);
  return it == owners.end() ? default_owner : it->second;
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress out;
  std::string_view host, port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("expected [IPv6]:PORT, got '" + std::string(text) + "'");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    out.ipv6 = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("expected ADDRESS:PORT, got '" + std::string(text) + "'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned char buf[sizeof(struct in6_addr)];
  const std::string h(host);
  if (::inet_pton(out.ipv6 ? AF_INET6 : AF_INET, h.c_str(), buf) != 1)
    return bad("'" + h + "' is not a numeric " + (out.ipv6 ? "IPv6" : "IPv4") + " address");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    return bad("port must be 0..65535, got '" + std::string(port) + "'");
  out.host = h;
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

Result<Config> parse_config(std::string_view text, const std::filesystem::path& base) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "config syntax error at line " << e.source().begin.line << ": " << e.description();
    return bad(msg.str());
  }
  RV_TRY(check_keys(root, "top level",
                    {"storage", "fuse", "keystore", "control", "log", "accounts", "openpgp", "metrics"}));
  Config c;
  Status st;
  bool writeback_set = false, flush_set = false, attr_timeout_set = false;
  if (auto* t = table(root, "storage", st)) {
    RV_TRY(check_keys(*t, "storage", {"backing_dir", "mount_point", "chunk_size", "tail_flush_interval_ms", "shared"}));
    RV_TRY(get_path(*t, "storage", "backing_dir", base, c.backing_dir));
    RV_TRY(get_path(*t, "storage", "mount_point", base, c.mount_point));
    RV_TRY(get(*t, "storage", "chunk_size", c.chunk_size));
    std::uint32_t ms = static_cast<std::uint32_t>(c.tail_flush_interval.count());
    RV_TRY(get(*t, "storage", "tail_flush_interval_ms", ms));
    c.tail_flush_interval = std::chrono::milliseconds(ms);
    flush_set = t->contains("tail_flush_interval_ms");
    RV_TRY(get(*t, "storage", "shared", c.shared));
  }
  RV_TRY(st);
  if (auto* t = table(root, "fuse", st)) {
    RV_TRY(check_keys(
        *t, "fuse", {"allow_other", "writeback_cache", "view_xattrs", "attr_timeout", "max_threads", "read_ahead_kb"}));
    RV_TRY(get(*t, "fuse", "allow_other", c.allow_other));
    RV_TRY(get(*t, "fuse", "writeback_cache", c.writeback_cache));
    writeback_set = t->contains("writeback_cache");
    RV_TRY(get(*t, "fuse", "view_xattrs", c.view_xattrs));
    RV_TRY(get(*t, "fuse", "attr_timeout", c.attr_timeout));
    attr_timeout_set = t->contains("attr_timeout");
    RV_TRY(get(*t, "fuse", "max_threads", c.max_threads));
    RV_TRY(get(*t, "fuse", "read_ahead_kb", c.read_ahead_kb));
  }
  RV_TRY(st);
  if (auto* t = table(root, "keystore", st)) {
    RV_TRY(check_keys(*t, "keystore",
                      {"path", "master_key_file", "master_key_credential", "backend", "endpoints", "prefix", "ca_file",
                       "cert_file", "key_file", "dial_timeout_ms", "request_timeout_ms", "keep_derived_keys",
                       "max_parallel_derivations", "destruction_delay", "allow_short_destruction_delay",
                       "destruction_check_interval_ms", "reencrypt_mb_per_s", "reencrypt_open_retry_s"}));
    RV_TRY(get_path(*t, "keystore", "path", base, c.keystore_dir));
    RV_TRY(get(*t, "keystore", "backend", c.keystore_backend));
    if (const toml::node* n = t->get("endpoints")) {
      const toml::array* a = n->as_array();
      if (a == nullptr) return bad("[keystore] endpoints must be an array of URLs");
      for (const auto& e : *a) {
        if (!e.is_string()) return bad("[keystore] endpoints must be an array of URLs");
        c.etcd.endpoints.push_back(e.as_string()->get());
      }
    }
    RV_TRY(get(*t, "keystore", "prefix", c.etcd.prefix));
    RV_TRY(get_path(*t, "keystore", "ca_file", base, c.etcd.ca_file));
    RV_TRY(get_path(*t, "keystore", "cert_file", base, c.etcd.cert_file));
    RV_TRY(get_path(*t, "keystore", "key_file", base, c.etcd.key_file));
    std::uint32_t dial = static_cast<std::uint32_t>(c.etcd.dial_timeout.count());
    std::uint32_t request = static_cast<std::uint32_t>(c.etcd.request_timeout.count());
    RV_TRY(get(*t, "keystore", "dial_timeout_ms", dial));
    RV_TRY(get(*t, "keystore", "request_timeout_ms", request));
    if (dial < 10 || dial > 60000 || request < 10 || request > 600000)
      return bad("[keystore] dial_timeout_ms must be 10..60000 and request_timeout_ms 10..600000");
    c.etcd.dial_timeout = std::chrono::milliseconds(dial);
    c.etcd.request_timeout = std::chrono::milliseconds(request);
    RV_TRY(get_path(*t, "keystore", "master_key_file", base, c.master_key_file));
    RV_TRY(get(*t, "keystore", "master_key_credential", c.master_key_credential));
    RV_TRY(get(*t, "keystore", "keep_derived_keys", c.keep_derived_keys));
    RV_TRY(get(*t, "keystore", "max_parallel_derivations", c.max_parallel_derivations));
    if (c.max_parallel_derivations < 1 || c.max_parallel_derivations > 64)
      return bad("[keystore] max_parallel_derivations must be 1..64");
    // The key lifecycle's waiting period before a key is destroyed
    // (docs/KEYSTORE.md "Key lifecycle"): at least a day, so a mistaken or
    // malicious DELETE can still be cancelled, unless a test says otherwise.
    std::int64_t delay = c.destruction_delay.count();
    bool short_delay = false;
    std::uint32_t interval = static_cast<std::uint32_t>(c.destruction_check_interval.count());
    RV_TRY(get(*t, "keystore", "destruction_delay", delay));
    RV_TRY(get(*t, "keystore", "allow_short_destruction_delay", short_delay));
    RV_TRY(get(*t, "keystore", "destruction_check_interval_ms", interval));
    if (delay < (short_delay ? 1 : kMinDestructionDelay) || delay > kMaxDestructionDelay)
      return bad("[keystore] destruction_delay must be between " + std::to_string(kMinDestructionDelay) +
                 " (1 day) and " + std::to_string(kMaxDestructionDelay) + " seconds");
    if (interval < 100 || interval > 3600000)
      return bad("[keystore] destruction_check_interval_ms must be 100..3600000");
    c.destruction_delay = std::chrono::seconds(delay);
    c.destruction_check_interval = std::chrono::milliseconds(interval);
    // Re-encryption jobs (docs/KEYSTORE.md "Re-encryption").
    std::uint32_t retry = static_cast<std::uint32_t>(c.reencrypt_open_retry.count());
    RV_TRY(get(*t, "keystore", "reencrypt_mb_per_s", c.reencrypt_mb_per_s));
    RV_TRY(get(*t, "keystore", "reencrypt_open_retry_s", retry));
    if (!(c.reencrypt_mb_per_s > 0) || c.reencrypt_mb_per_s > 100000)
      return bad("[keystore] reencrypt_mb_per_s must be above 0 and at most 100000");
    if (retry > 7 * 24 * 3600) return bad("[keystore] reencrypt_open_retry_s must be 0..604800");
    c.reencrypt_open_retry = std::chrono::seconds(retry);
  }
  RV_TRY(st);
  if (auto* t = table(root, "control", st)) {
    RV_TRY(check_keys(
        *t, "control",
        {"socket", "socket_mode", "socket_group", "jwt_hs256_secret_file", "jwt_rs256_public_key",
         "jwt_es256_public_key", "audit_log", "max_body_bytes", "max_token_lifetime", "jwt_issuer", "jwt_audience"}));
    RV_TRY(get_path(*t, "control", "socket", base, c.control_socket));
    RV_TRY(get_mode(*t, "control", "socket_mode", c.control_socket_mode));
    RV_TRY(get(*t, "control", "socket_group", c.control_socket_group));
    RV_TRY(get_path(*t, "control", "jwt_hs256_secret_file", base, c.jwt_hs256_secret_file));
    RV_TRY(get_path(*t, "control", "jwt_rs256_public_key", base, c.jwt_rs256_public_key));
    RV_TRY(get_path(*t, "control", "jwt_es256_public_key", base, c.jwt_es256_public_key));
    RV_TRY(get_path(*t, "control", "audit_log", base, c.audit_log));
    RV_TRY(get(*t, "control", "max_body_bytes", c.max_body_bytes));
    std::int64_t lifetime = c.max_token_lifetime.count();
    RV_TRY(get(*t, "control", "max_token_lifetime", lifetime));
    if (lifetime < 60 || lifetime > kMaxTokenLifetime)
      return bad("[control] max_token_lifetime must be between 60 and " + std::to_string(kMaxTokenLifetime) +
                 " seconds (366 days)");
    c.max_token_lifetime = std::chrono::seconds(lifetime);
    RV_TRY(get(*t, "control", "jwt_issuer", c.jwt_issuer));
    RV_TRY(get(*t, "control", "jwt_audience", c.jwt_audience));
  }
  RV_TRY(st);
  if (auto* t = table(root, "openpgp", st)) {
    RV_TRY(check_keys(*t, "openpgp", {"gnupg_home", "armor", "pipe_bytes"}));
    RV_TRY(get_path(*t, "openpgp", "gnupg_home", base, c.gnupg_home));
    RV_TRY(get(*t, "openpgp", "armor", c.pgp_armor));
    RV_TRY(get(*t, "openpgp", "pipe_bytes", c.pgp_pipe_bytes));
  }
  RV_TRY(st);
  if (auto* t = table(root, "metrics", st)) {
    RV_TRY(check_keys(*t, "metrics", {"listen"}));
    RV_TRY(get(*t, "metrics", "listen", c.metrics_listen));
    if (!c.metrics_listen.empty()) {
      auto address = parse_listen_address(c.metrics_listen);
      if (!address) return bad("[metrics] listen: " + address.error().message);
    }
  }
  RV_TRY(st);
  if (auto* t = table(root, "log", st)) {
    RV_TRY(check_keys(*t, "log", {"level"}));
    std::string lvl = "info";
    RV_TRY(get(*t, "log", "level", lvl));
    if (!log::parse_level(lvl, c.log_level)) return bad("[log] level must be debug, info, warn or error");
  }
  RV_TRY(st);
  if (auto* t = table(root, "accounts", st)) {
    // [accounts.default] first: listed accounts start from it.
    if (const toml::node* d = t->get("default")) {
      if (!d->is_table()) return bad("[accounts.default] must be a table");
      RV_TRY(parse_owner(*d->as_table(), "accounts.default", c.default_owner));
    }
    for (const auto& [k, v] : *t) {
      std::string name(k.str());
      if (!v.is_table()) return bad("[accounts." + name + "] must be a table");
      if (name == "default") continue;
      if (auto valid = keystore::validate_account_id(name); !valid) {
        return bad("[accounts." + name + "]: " + valid.error().message);
      }
      AccountOwner o = c.default_owner;
      RV_TRY(parse_owner(*v.as_table(), "accounts." + name, o));
      c.owners.emplace(name, o);
    }
  }
  RV_TRY(st);

  if (c.backing_dir.empty()) return bad("[storage] backing_dir is required");
  if (c.mount_point.empty()) return bad("[storage] mount_point is required");
  if (c.keystore_dir.empty()) return bad("[keystore] path is required");
  if (c.keystore_backend != "lmdb" && c.keystore_backend != "etcd")
    return bad("[keystore] backend must be \"lmdb\" or \"etcd\"");
  if (c.keystore_backend == "etcd") {
    if (c.etcd.endpoints.empty())
      return bad("[keystore] backend = \"etcd\" needs endpoints = [\"https://host:2379\", ...]");
    for (const auto& e : c.etcd.endpoints)
      if (!e.starts_with("http://") && !e.starts_with("https://"))
        return bad("[keystore] endpoint \"" + e + "\" must start with http:// or https://");
    if (c.etcd.prefix.empty() || c.etcd.prefix.front() != '/' || c.etcd.prefix.back() != '/')
      return bad("[keystore] prefix must start and end with '/'");
    if (c.etcd.cert_file.empty() != c.etcd.key_file.empty())
      return bad("[keystore] cert_file and key_file go together");
  } else if (!c.etcd.endpoints.empty()) {
    return bad("[keystore] endpoints is set but backend is not \"etcd\"");
  }
  if (c.master_key_file.empty() == c.master_key_credential.empty()) {
    return bad("[keystore] needs exactly one of master_key_file and master_key_credential");
  }
  if (c.chunk_size < 4096 || c.chunk_size > (1u << 20) || (c.chunk_size & (c.chunk_size - 1)) != 0) {
    return bad("[storage] chunk_size must be a power of two between 4096 and 1048576");
  }
  if (c.tail_flush_interval.count() < 10 || c.tail_flush_interval.count() > 1000) {
    return bad("[storage] tail_flush_interval_ms must be between 10 and 1000");
  }
  if (c.shared) {
    // Another host's writes would never change the size the kernel holds
    // for a cached inode: with the writeback cache it trusts its own
    // (docs/CLUSTER.md "Shared backing storage").
    if (writeback_set && c.writeback_cache) {
      return bad(
          "[fuse] writeback_cache = true cannot be used with [storage] shared = true (the kernel would keep "
          "stale sizes of recordings other hosts write)");
    }
    c.writeback_cache = false;
    // What another host's reader may miss: up to one flush interval plus
    // one attribute timeout (plus the network file system's caches). Half
    // of each by default keeps it about a second (docs/CLUSTER.md
    // "Staleness bound", measured by bench/run_staleness.sh).
    if (!flush_set) c.tail_flush_interval = kSharedTailFlushInterval;
    if (!attr_timeout_set) c.attr_timeout = kSharedAttrTimeout;
  }
  if (c.gnupg_home.empty()) c.gnupg_home = c.keystore_dir / "gnupg";
  if (c.pgp_pipe_bytes < 4096 || c.pgp_pipe_bytes > (std::size_t{64} << 20)) {
    return bad("[openpgp] pipe_bytes must be between 4096 and 67108864");
  }
  if (c.max_threads < 2 || c.max_threads > 1024) return bad("[fuse] max_threads must be between 2 and 1024");
  if (c.read_ahead_kb > 65536) return bad("[fuse] read_ahead_kb must be between 0 and 65536");
  return c;
}

Result<Config> load_config_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return bad("cannot read config file " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path.parent_path());
}

std::string demo_config_text() {
  return R"(# recvault demo configuration (embedded in recvaultd; paths relative to the demo dir)
[storage]
backing_dir = "backing"
mount_point = "mnt"
tail_flush_interval_ms = 1000

[fuse]
allow_other = true

[keystore]
path = "keystore"
master_key_file = "master.key"

[control]
socket = "control.sock"
socket_mode = "0660"
jwt_hs256_secret_file = "jwt.secret"
audit_log = "audit.log"

[log]
level = "info"

[accounts.default]
uid = 0
gid = 0
mode = "0750"
)";
}

Status validate_environment(const Config& c) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(c.backing_dir, ec)) return bad("backing_dir " + c.backing_dir.string() + " is not a directory");
  if (!fs::is_directory(c.mount_point, ec)) return bad("mount_point " + c.mount_point.string() + " is not a directory");
  auto backing = fs::weakly_canonical(c.backing_dir, ec), mnt = fs::weakly_canonical(c.mount_point, ec);
  if (is_within(backing, mnt) || is_within(mnt, backing)) {
    return bad("backing_dir and mount_point must not contain one another");
  }
  // Secret files: the same check the loaders make (sys::open_private_file),
  // so --check-config reports a readable secret before anything starts. A
  // missing file is left to the loader's own message.
  for (const auto& [path, what] : {std::pair{&c.master_key_file, "master key file"},
                                   std::pair{&c.jwt_hs256_secret_file, "JWT HS256 secret file"}}) {
    if (path->empty()) continue;
    auto fd = sys::open_private_file(*path, what);
    if (!fd && !(fd.error().code == Errc::io && fd.error().sys_errno == ENOENT)) return std::move(fd).error();
  }
  return {};
}

}  // namespace recvault::daemon

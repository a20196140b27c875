// The configuration loader: the reference file, defaults and every rejection.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "recvault/daemon/config.hpp"

using namespace recvault;
using namespace recvault::daemon;

namespace {
const std::string kMinimal =
    "[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\n"
    "[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n";

// The first ```toml block of docs/CLUSTER.md after `heading` ("" = the first of all).
std::string cluster_doc_toml(const std::string& heading) {
  std::ifstream in(std::string(std::getenv("RECVAULT_SOURCE_ROOT")) + "/docs/CLUSTER.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const auto section = doc.find(heading);
  if (section == std::string::npos) return "";
  const auto start = doc.find("```toml\n", section);
  if (start == std::string::npos) return "";
  const auto end = doc.find("```", start + 8);
  return doc.substr(start + 8, end - start - 8);
}

std::string read_reference() {
  std::ifstream in(std::string(std::getenv("RECVAULT_SOURCE_ROOT")) + "/config/recvault.toml");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("the shipped reference configuration parses", "[config]") {
  auto c = parse_config(read_reference(), "/etc/recvault");
  REQUIRE(c.ok());
  CHECK(c->backing_dir == "/var/lib/recvault/backing");
  CHECK(c->mount_point == "/srv/recordings");
  CHECK(c->master_key_credential == "recvault-master-key");
  CHECK(c->control_socket == "/run/recvault/control.sock");
  CHECK(c->control_socket_mode == 0660);
  CHECK(c->tail_flush_interval.count() == 1000);
  CHECK(c->default_owner.mode == 0750);
}

TEST_CASE("defaults and relative paths", "[config]") {
  auto c = parse_config(
      "[storage]\nbacking_dir = \"b\"\nmount_point = \"m\"\n"
      "[keystore]\npath = \"k\"\nmaster_key_file = \"mk\"\n",
      "/srv/demo");
  REQUIRE(c.ok());
  CHECK(c->backing_dir == "/srv/demo/b");
  CHECK(c->chunk_size == 65536);
  CHECK(c->allow_other);
  CHECK(c->writeback_cache);
  CHECK(c->read_ahead_kb == 1024);
  CHECK(c->log_level == log::Level::info);
}

TEST_CASE("account owners: listed accounts inherit the default, then override", "[config]") {
  auto c = parse_config(kMinimal +
                            "[accounts.default]\nuid = 5\ngid = 6\nmode = \"0700\"\n"
                            "[accounts.acme]\nuid = 1001\n",
                        "/");
  REQUIRE(c.ok());
  CHECK(c->owner_of("acme").uid == 1001);
  CHECK(c->owner_of("acme").gid == 6);
  CHECK(c->owner_of("acme").mode == 0700);
  CHECK(c->owner_of("other").uid == 5);
}

TEST_CASE("every invalid configuration is rejected with a reason", "[config]") {
  struct Case {
    std::string text;
    const char* reason;
  };
  const Case cases[] = {
      {"[storage]\nmount_point = \"/m\"\n[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n",
       "backing_dir is required"},
      {kMinimal + "[storage2]\n", "unknown key 'storage2'"},
      {kMinimal + "[fuse]\nmax_threads = 1\n", "max_threads"},
      {kMinimal + "[fuse]\nread_ahead_kb = 100000\n", "read_ahead_kb"},
      {kMinimal + "[fuse]\nattr_timeout = \"1\"\n", "must be a number"},
      {kMinimal + "[log]\nlevel = \"loud\"\n", "[log] level"},
      {kMinimal + "[control]\nsocket_mode = \"0999\"\n", "octal mode"},
      {kMinimal + "[accounts.\"../etc\"]\nuid = 1\n", "accounts"},
      {kMinimal + "[accounts.acme]\nshell = \"/bin/sh\"\n", "unknown key 'shell'"},
      {kMinimal + "[accounts]\nacme = 5\n", "must be a table"},
      {kMinimal + "[keystore.x]\n", "unknown key 'x'"},
      {"[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\nchunk_size = 1000\n"
       "[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n",
       "chunk_size"},
      {"[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\ntail_flush_interval_ms = 5000\n"
       "[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n",
       "tail_flush_interval_ms"},
      {"[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\n[keystore]\npath = \"/k\"\n", "exactly one of"},
      {"[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\n[keystore]\npath = \"/k\"\n"
       "master_key_file = \"/mk\"\nmaster_key_credential = \"c\"\n",
       "exactly one of"},
      {"[storage\n", "syntax error"},
      {kMinimal + "[fuse]\nallow_other = -1\n", "true or false"},
      {kMinimal + "[control]\nmax_token_lifetime = 59\n", "max_token_lifetime must be between 60"},
      {kMinimal + "[control]\nmax_token_lifetime = 31622401\n", "max_token_lifetime must be between 60"},
      {kMinimal + "[control]\nmax_token_lifetime = \"24h\"\n", "max_token_lifetime must be an integer"},
      {kMinimal + "[control]\njwt_audience = 5\n", "jwt_audience must be a string"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = parse_config(c.text, "/");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find(c.reason) != std::string::npos);
    CHECK(r.error().message.find('\n') == std::string::npos);
  }
}

TEST_CASE("[control] token rules: defaults and values", "[config]") {
  auto d = parse_config(kMinimal, "/");
  REQUIRE(d.ok());
  CHECK(d->max_token_lifetime == std::chrono::seconds(86400));
  CHECK(d->jwt_issuer.empty());
  CHECK(d->jwt_audience.empty());
  auto c = parse_config(
      kMinimal + "[control]\nmax_token_lifetime = 3600\njwt_issuer = \"idp\"\njwt_audience = \"rv\"\n", "/");
  REQUIRE(c.ok());
  CHECK(c->max_token_lifetime == std::chrono::seconds(3600));
  CHECK(c->jwt_issuer == "idp");
  CHECK(c->jwt_audience == "rv");
}

TEST_CASE("the embedded demo configuration parses", "[config]") {
  auto c = parse_config(demo_config_text(), "/tmp/demo");
  REQUIRE(c.ok());
  CHECK(c->backing_dir == "/tmp/demo/backing");
  CHECK(c->jwt_hs256_secret_file == "/tmp/demo/jwt.secret");
}

TEST_CASE("[keystore] backend = \"etcd\": the example of docs/CLUSTER.md parses", "[config][etcd]") {
  const std::string block = cluster_doc_toml("");
  REQUIRE_FALSE(block.empty());
  auto c = parse_config(block, "/etc/recvault");
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->keystore_backend == "etcd");
  CHECK(c->etcd.endpoints.size() == 3);
  CHECK(c->etcd.prefix == "/recvault/");
  CHECK(c->etcd.ca_file == "/etc/recvault/etcd-ca.pem");
  CHECK(c->etcd.key_file == "/etc/recvault/etcd-client.key");
  CHECK(c->etcd.request_timeout.count() == 5000);
  auto lmdb = parse_config(kMinimal, "/");
  REQUIRE(lmdb.ok());
  CHECK(lmdb->keystore_backend == "lmdb");
}

TEST_CASE("[keystore] etcd settings: every mistake is a clear error", "[config][etcd]") {
  auto bad = [](const std::string& lines) {
    auto c = parse_config(
        "[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\n[keystore]\npath = \"/k\"\n"
        "master_key_file = \"/mk\"\n" +
            lines,
        "/");
    return c ? std::string() : c.error().message;
  };
  CHECK(bad("backend = \"zookeeper\"\n").find("backend must be") != std::string::npos);
  CHECK(bad("backend = \"etcd\"\n").find("needs endpoints") != std::string::npos);
  CHECK(bad("endpoints = [\"http://e:2379\"]\n").find("backend is not") != std::string::npos);
  CHECK(bad("backend = \"etcd\"\nendpoints = [\"e:2379\"]\n").find("http://") != std::string::npos);
  CHECK(bad("backend = \"etcd\"\nendpoints = \"http://e:2379\"\n").find("array") != std::string::npos);
  CHECK(bad("backend = \"etcd\"\nendpoints = [\"http://e:2379\"]\nprefix = \"recvault\"\n").find("prefix") !=
        std::string::npos);
  CHECK(bad("backend = \"etcd\"\nendpoints = [\"http://e:2379\"]\ncert_file = \"/c\"\n").find("together") !=
        std::string::npos);
  CHECK(bad("backend = \"etcd\"\nendpoints = [\"http://e:2379\"]\nrequest_timeout_ms = 1\n").find("timeout") !=
        std::string::npos);
  CHECK(bad("backend = \"etcd\"\nendpoints = [\"http://e:2379\"]\n").empty());
  CHECK(bad("max_parallel_derivations = 0\n").find("1..64") != std::string::npos);
  CHECK(bad("max_parallel_derivations = 65\n").find("1..64") != std::string::npos);
  CHECK(bad("keep_derived_keys = \"yes\"\n").find("keep_derived_keys") != std::string::npos);
  auto derived = parse_config(
      "[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\n[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n"
      "keep_derived_keys = false\nmax_parallel_derivations = 4\n",
      "/");
  REQUIRE(derived.ok());
  CHECK_FALSE(derived->keep_derived_keys);
  CHECK(derived->max_parallel_derivations == 4);
  CHECK(parse_config(kMinimal, "/")->keep_derived_keys);
  CHECK(parse_config(kMinimal, "/")->max_parallel_derivations == 2);
}

TEST_CASE("[metrics] listen: numeric addresses and ports only; off by default", "[config]") {
  CHECK(parse_config(kMinimal, "/x")->metrics_listen.empty());
  auto c = parse_config(kMinimal + "[metrics]\nlisten = \"127.0.0.1:9464\"\n", "/x");
  REQUIRE(c);
  CHECK(c->metrics_listen == "127.0.0.1:9464");
  auto v4 = parse_listen_address("0.0.0.0:9464");
  REQUIRE(v4);
  CHECK((v4->host == "0.0.0.0" && v4->port == 9464 && !v4->ipv6));
  auto v6 = parse_listen_address("[::1]:0");
  REQUIRE(v6);
  CHECK((v6->host == "::1" && v6->port == 0 && v6->ipv6));
  for (const char* bad : {"localhost:9464", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:x", "::1:9464", "[::1]9464",
                          "[127.0.0.1]:80", "1.2.3.4:-1"}) {
    INFO(bad);
    CHECK_FALSE(parse_listen_address(bad));
    CHECK_FALSE(parse_config(kMinimal + "[metrics]\nlisten = \"" + bad + "\"\n", "/x"));
  }
  CHECK_FALSE(parse_config(kMinimal + "[metrics]\nport = 9464\n", "/x"));
}

TEST_CASE(
    "[storage] shared: off by default; on, it turns the writeback cache off and halves the flush interval and "
    "attr_timeout (docs/CLUSTER.md's example parses)",
    "[config]") {
  CHECK_FALSE(parse_config(kMinimal, "/")->shared);
  const std::string block = cluster_doc_toml("# Shared backing storage");
  REQUIRE_FALSE(block.empty());
  auto c = parse_config(block + "[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n", "/etc/recvault");
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->shared);
  CHECK_FALSE(c->writeback_cache);
  // The staleness bound's defaults: half a second each, unless set.
  CHECK(c->tail_flush_interval == std::chrono::milliseconds(500));
  CHECK(c->attr_timeout == 0.5);
  CHECK(parse_config(kMinimal, "/")->tail_flush_interval == std::chrono::milliseconds(1000));
  CHECK(parse_config(kMinimal, "/")->attr_timeout == 1.0);
  auto set = parse_config(
      "[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\nshared = true\ntail_flush_interval_ms = 1000\n"
      "[fuse]\nattr_timeout = 2.0\n[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n",
      "/");
  REQUIRE(set.ok());
  CHECK(set->tail_flush_interval == std::chrono::milliseconds(1000));
  CHECK(set->attr_timeout == 2.0);
  auto explicit_off = parse_config(kMinimal + "[fuse]\nwriteback_cache = false\n", "/");
  REQUIRE(explicit_off.ok());
  auto both = parse_config(
      "[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\nshared = true\n[fuse]\nwriteback_cache = true\n"
      "[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n",
      "/");
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().message.find("cannot be used with [storage] shared = true") != std::string::npos);
  auto not_bool = parse_config(
      "[storage]\nbacking_dir = \"/b\"\nmount_point = \"/m\"\nshared = \"yes\"\n"
      "[keystore]\npath = \"/k\"\nmaster_key_file = \"/mk\"\n",
      "/");
  CHECK_FALSE(not_bool.ok());
}

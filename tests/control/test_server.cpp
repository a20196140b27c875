// The server over its real socket: routing, status codes, authentication,
// authorization, limits (413, slow clients), the socket file, the audit log.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <atomic>
#include <thread>

#include "memory_backend.hpp"
#include "server_fixture.hpp"

using namespace recvault;
using namespace recvault::control;
using namespace recvault::control::testing;
using nlohmann::json;

namespace {

const std::string kConfig = "/api/v2/config/call_recording_encryption";

int connect_raw(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::vector<json> audit_lines(const std::string& path) {
  std::vector<json> lines;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("healthz, 404 and 405", "[server]") {
  ServerFixture f;
  auto r = http(f.socket, "GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(r.json()["status"] == "ok");
  r = http(f.socket, "GET", "/nope", {bearer(admin_token())});
  CHECK(r.status == 404);
  CHECK(r.json()["success"] == false);
  r = http(f.socket, "GET", kConfig + "/", {bearer(admin_token())});
  CHECK(r.status == 404);
  r = http(f.socket, "DELETE", kConfig, {bearer(admin_token()), account("acc1")});
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "GET, PUT");
  r = http(f.socket, "POST", "/healthz");
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "GET");
  r = http(f.socket, "PUT", "/v3/security/public-keys", {bearer(admin_token())});
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "GET, POST");
}

TEST_CASE("401 for missing and invalid tokens, with WWW-Authenticate", "[server][auth]") {
  ServerFixture f;
  auto claims = json{{"sub", "alice"}, {"accounts", "*"}, {"scope", "admin"}, {"exp", now_s() + 60}};
  auto expired = claims;
  expired["exp"] = now_s() - 3600;
  auto future = claims;
  future["nbf"] = now_s() + 3600;
  auto no_exp = claims;
  no_exp.erase("exp");
  std::string none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims.dump()) + ".";
  std::vector<std::vector<std::string>> cases = {
      {account("acc1")},
      {account("acc1"), "Authorization: Basic YWxpY2U6cHc="},
      {account("acc1"), "Authorization: Bearer"},
      {account("acc1"), bearer("garbage")},
      {account("acc1"), bearer(mint(expired))},
      {account("acc1"), bearer(mint(future))},
      {account("acc1"), bearer(mint(no_exp))},
      {account("acc1"), bearer(mint(claims, "wrong-secret-wrong-secret-wrong-secret!!"))},
      {account("acc1"), bearer(none)},
  };
  for (const auto& headers : cases) {
    auto r = http(f.socket, "GET", kConfig, headers);
    CHECK(r.status == 401);
    CHECK(r.headers["www-authenticate"].rfind("Bearer", 0) == 0);
    CHECK(r.json()["success"] == false);
  }
  CHECK(http(f.socket, "GET", "/v1/status").status == 401);
}

TEST_CASE("403 for the wrong scope or account; 400 for a missing or invalid account", "[server][auth]") {
  ServerFixture f;
  auto r = f.put_config({{"enabled", true}}, "acc1", read_token());
  CHECK(r.status == 403);
  CHECK(r.json()["success"] == false);
  CHECK(f.get(kConfig, read_token()).status == 200);
  CHECK(f.get(kConfig, admin_token({"acc2"}), "acc1").status == 403);
  CHECK(f.get(kConfig, admin_token({"acc2"}), "acc2").status == 200);
  CHECK(f.put_config({{"enabled", true}}, "acc1", admin_token({"acc2"})).status == 403);

  r = http(f.socket, "GET", kConfig, {bearer(admin_token())});
  CHECK(r.status == 400);
  CHECK(r.json() == json{{"success", false}, {"message", "Could not get account ID from context"}});
  r = http(f.socket, "PUT", kConfig, {bearer(admin_token()), "Content-Type: application/json"}, R"({"enabled":true})");
  CHECK(r.status == 400);
  CHECK(r.json()["message"] == "Could not get account ID from context");

  for (std::string bad : std::vector<std::string>{"../x", "..", ".", "a/b", "acc%2F..", ".hidden", "a b",
                                                  std::string(65, 'a'), "caf\xc3\xa9"}) {
    INFO(bad);
    r = f.get(kConfig, admin_token(), bad);
    CHECK(r.status == 400);
    CHECK(r.json()["success"] == false);
  }
  r = http(f.socket, "GET", kConfig, {bearer(admin_token()), account("acc1"), account("acc2")});
  CHECK(r.status == 400);
}

TEST_CASE("GET /v1/status returns the daemon's status for read and admin tokens", "[server]") {
  ServerFixture f;
  for (const auto& token : {read_token(), admin_token()}) {
    auto r = http(f.socket, "GET", "/v1/status", {bearer(token)});
    REQUIRE(r.status == 200);
    CHECK(r.json()["status"]["version"] == "test");
  }
}

TEST_CASE("GET /v1/status is audited like every authenticated call", "[server][audit]") {
  ServerFixture f;
  REQUIRE(http(f.socket, "GET", "/v1/status", {bearer(read_token())}).status == 200);
  REQUIRE(http(f.socket, "GET", "/v1/status", {bearer(read_token() + "x")}).status == 401);
  auto lines = audit_lines(f.audit_path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["action"] == "status");
  CHECK(lines[0]["subject"] == "reader");
  CHECK(lines[0]["status"] == 200);
  CHECK(lines[0]["uid"] == ::getuid());
  CHECK(lines[1]["action"] == "auth");
  CHECK(lines[1]["status"] == 401);
}

TEST_CASE("a token that lives too long is a 401 over the socket; iss/aud when configured", "[server][auth][lifetime]") {
  const auto now = now_s();
  json claims = {
      {"sub", "alice"}, {"accounts", "*"}, {"scope", "admin"}, {"iat", now}, {"exp", now + 100LL * 365 * 24 * 3600}};
  {
    ServerFixture f;  // the default maximum lifetime: 24 h
    auto r = f.get(kConfig, mint(claims));
    CHECK(r.status == 401);
    CHECK(r.headers["www-authenticate"].rfind("Bearer", 0) == 0);
    CHECK(r.json()["message"].get<std::string>().find("token lifetime exceeds the maximum of 86400 s") !=
          std::string::npos);
    claims["exp"] = now + 3600;
    CHECK(f.get(kConfig, mint(claims)).status == 200);
    auto lines = audit_lines(f.audit_path);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["action"] == "auth");
    CHECK(lines[0]["reason"].get<std::string>().find("lifetime") != std::string::npos);
  }
  ServerFixture f([](ServerOptions& o) {
    o.auth.max_lifetime = std::chrono::seconds(600);
    o.auth.issuer = "ops-idp";
    o.auth.audience = "recvaultd";
  });
  claims["exp"] = now + 3600;
  CHECK(f.get(kConfig, mint(claims)).status == 401);  // too long for 600 s, and no iss/aud
  claims["exp"] = now + 300;
  auto r = f.get(kConfig, mint(claims));
  CHECK(r.status == 401);
  CHECK(r.json()["message"] == "Invalid token: token has no iss claim");
  claims["iss"] = "ops-idp";
  claims["aud"] = {"other", "recvaultd"};
  CHECK(f.get(kConfig, mint(claims)).status == 200);
  claims["aud"] = "other";
  CHECK(f.get(kConfig, mint(claims)).status == 401);
}

TEST_CASE("the server refuses to start with an HS256 secret others can read or write", "[server][auth][secret_file]") {
  for (auto mode : {0644, 0660, 0606}) {
    INFO(std::oct << mode);
    try {
      ServerFixture f(
          [mode](ServerOptions& o) { ::chmod(o.auth.hs256_secret_file.c_str(), static_cast<mode_t>(mode)); });
      FAIL("the server started");
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      CHECK(what.find("JWT HS256 secret file") != std::string::npos);
      CHECK(what.find("by group or others; run chmod 600 on it") != std::string::npos);
      CHECK(what.find(kTestSecret) == std::string::npos);
    }
  }
}

TEST_CASE("malformed bodies are 400, a foreign content type 415", "[server]") {
  ServerFixture f;
  auto put = [&](const std::string& body, const std::string& ct = "Content-Type: application/json") {
    return http(f.socket, "PUT", kConfig, {bearer(admin_token()), account("acc1"), ct}, body);
  };
  for (std::string body :
       std::vector<std::string>{"{", "not json", "[1,2]", "\"enabled\"", "", "{\"enabled\": \"yes\"}",
                                "{\"enabled\": true, \"key\": 12}", "{\"enabled\": true, \"algorithm\": false}"}) {
    INFO(body);
    auto r = put(body);
    CHECK(r.status == 400);
    CHECK(r.json()["success"] == false);
    CHECK(!r.json()["message"].get<std::string>().empty());
  }
  CHECK(put(R"({"enabled":true})", "Content-Type: text/plain").status == 415);
  CHECK(put(R"({"enabled":true})", "Content-Type: application/json; charset=utf-8").status == 200);
}

TEST_CASE("bodies over the limit are 413", "[server][limits]") {
  ServerFixture f([](ServerOptions& o) { o.max_body_bytes = 1024; });
  std::string big = "{\"enabled\": true, \"pad\": \"" + std::string(4096, 'x') + "\"}";
  auto r =
      http(f.socket, "PUT", kConfig, {bearer(admin_token()), account("acc1"), "Content-Type: application/json"}, big);
  CHECK(r.status == 413);
  r = http(f.socket, "POST", "/v3/security/public-keys", {bearer(admin_token()), account("acc1")},
           std::string(5000, 'k'));
  CHECK(r.status == 413);

  // Chunked: no Content-Length, the limit still holds.
  int fd = connect_raw(f.socket);
  REQUIRE(fd >= 0);
  std::string head = "PUT " + kConfig + " HTTP/1.1\r\nHost: x\r\n" + bearer(admin_token()) +
                     "\r\nX-Account-ID: acc1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  std::string chunk = std::string(2000, 'x');
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  std::string req = head + size + chunk + "\r\n" + size + chunk + "\r\n0\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  auto reply = read_all(fd);
  ::close(fd);
  CHECK(reply.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(http(f.socket, "GET", "/healthz").status == 200);
  auto lines = audit_lines(f.audit_path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["action"] == "request_too_large");
  CHECK(lines[0]["status"] == 413);
  CHECK(lines[0]["account"] == "acc1");
}

TEST_CASE("a client trickling one byte at a time is cut off; others are served", "[server][limits]") {
  ServerFixture f([](ServerOptions& o) { o.request_deadline = std::chrono::milliseconds(1000); });
  std::atomic<bool> cut{false};
  std::atomic<double> cut_after{0};
  std::thread slow([&] {
    int fd = connect_raw(f.socket);
    if (fd < 0) return;
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(200, 'p') + "\r\n\r\n";
    auto start = std::chrono::steady_clock::now();
    for (char c : req) {
      if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 250) > 0) {  // the server closed (or answered: it must not)
        char b;
        if (::recv(fd, &b, 1, MSG_DONTWAIT) <= 0) break;
      }
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(8)) break;
    }
    cut_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cut = true;
    ::close(fd);
  });
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    CHECK(http(f.socket, "GET", "/healthz").status == 200);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));  // generous for sanitizer builds
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  slow.join();
  CHECK(cut);
  CHECK(cut_after < 4.0);  // cut at the ~1 s deadline, long before the 56 s it would need
}

TEST_CASE("the socket file: mode, stale replacement, refusal of a live one, removal on stop", "[server][socket]") {
  ServerFixture f;
  struct stat st {};
  REQUIRE(::stat(f.socket.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0660);

  // A second server on the same path refuses to start.
  MemoryBackend mem;
  ServerOptions opts;
  opts.socket_path = f.socket;
  opts.auth.hs256_secret_file = f.dir.file("jwt.secret");
  Server second(opts, mem);
  auto st2 = second.start();
  REQUIRE_FALSE(st2);
  CHECK(st2.error().code == Errc::conflict);
  CHECK(http(f.socket, "GET", "/healthz").status == 200);

  f.server->stop();
  CHECK(::stat(f.socket.c_str(), &st) != 0);

  // A stale socket file (nobody listening) is replaced.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", f.socket.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
  Server third(opts, mem);
  REQUIRE(third.start());
  CHECK(http(f.socket, "GET", "/healthz").status == 200);
  third.stop();

  // A regular file in the way is never removed.
  write_text(f.socket, "precious");
  Server fourth(opts, mem);
  CHECK_FALSE(fourth.start());
  CHECK(read_text(f.socket) == "precious");
}

TEST_CASE("a store failure is a 500 with the seed's message", "[server]") {
  TempDir dir;
  write_private(dir.file("secret"), kTestSecret);
  MemoryBackend mem;
  mem.fail_updates = true;
  ServerOptions opts;
  opts.socket_path = dir.file("s.sock");
  opts.auth.hs256_secret_file = dir.file("secret");
  Server server(opts, mem);
  REQUIRE(server.start());
  auto r = http(opts.socket_path, "PUT", kConfig,
                {bearer(admin_token()), account("acc1"), "Content-Type: application/json"}, R"({"enabled": true})");
  CHECK(r.status == 500);
  CHECK(r.json() == json{{"success", false}, {"message", "Failed to update encryption configuration"}});
}

TEST_CASE("concurrent clients are all served", "[server]") {
  ServerFixture f;
  REQUIRE(f.put_config({{"enabled", true}}).status == 200);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        if (f.get_config().status == 200) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 80);
}

TEST_CASE("the audit log records who did what, never key material", "[server][audit]") {
  ServerFixture f;
  const std::string key = "audit-test-key-0123456789-abcdefghijklmnop";
  const std::string salt = "audit-test-salt-value-xyz";
  REQUIRE(f.put_config({{"enabled", true}, {"key", key}, {"salt", salt}}).status == 200);
  REQUIRE(f.get_config().status == 200);
  CHECK(f.get(kConfig, "not-a-token").status == 401);
  CHECK(f.put_config({{"enabled", true}, {"key", "short"}}).status == 400);

  const std::string text = read_text(f.audit_path);
  CHECK(text.find(key) == std::string::npos);
  CHECK(text.find(salt) == std::string::npos);
  CHECK(text.find("short") == std::string::npos);
  auto lines = audit_lines(f.audit_path);
  REQUIRE(lines.size() == 4);
  const auto& put = lines[0];
  CHECK(put["action"] == "config.update");
  CHECK(put["status"] == 200);
  CHECK(put["subject"] == "alice");
  CHECK(put["account"] == "acc1");
  CHECK(put["uid"] == ::getuid());
  CHECK(put["pid"] == ::getpid());
  CHECK(put["time"].get<std::string>().back() == 'Z');
  CHECK(put["time"].get<std::string>().size() == 24);  // 2026-11-23T22:51:50.123Z
  CHECK(lines[1]["action"] == "config.get");
  CHECK(lines[2]["action"] == "auth");
  CHECK(lines[2]["status"] == 401);
  CHECK(lines[2]["subject"] == "");
  CHECK(!lines[2]["reason"].get<std::string>().empty());
  CHECK(lines[3]["status"] == 400);

  struct stat st {};
  REQUIRE(::stat(f.audit_path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0077) == 0);
}

TEST_CASE("oversized headers are refused and the server carries on", "[server][limits]") {
  ServerFixture f([](ServerOptions& o) { o.connection_memory = 8 * 1024; });
  auto r = http(f.socket, "GET", "/healthz", {"X-Big: " + std::string(16 * 1024, 'h')});
  CHECK(r.status >= 400);
  CHECK(r.status < 500);
  CHECK(http(f.socket, "GET", "/healthz").status == 200);
}

TEST_CASE("the connection limit holds, and idle connections are evicted", "[server][limits]") {
  ServerFixture f([](ServerOptions& o) {
    o.max_connections = 2;
    o.request_deadline = std::chrono::milliseconds(800);
  });
  int a = connect_raw(f.socket);
  int b = connect_raw(f.socket);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = http(f.socket, "GET", "/healthz");
  CHECK(r.status != 200);  // both slots are taken
  // The idle connections are shut down at the deadline; then it serves again.
  auto start = std::chrono::steady_clock::now();
  bool served = false;
  while (!served && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    served = http(f.socket, "GET", "/healthz").status == 200;
  }
  CHECK(served);
  ::close(a);
  ::close(b);
}

TEST_CASE("the socket's group is set when configured; an unknown group fails start", "[server][socket]") {
  ServerFixture f([](ServerOptions& o) { o.socket_group = std::to_string(::getgid()); });
  struct stat st {};
  REQUIRE(::stat(f.socket.c_str(), &st) == 0);
  CHECK(st.st_gid == ::getgid());
  CHECK(f.server->api() != nullptr);

  MemoryBackend mem;
  ServerOptions opts;
  opts.socket_path = f.dir.file("other.sock");
  opts.socket_group = "no-such-group-recvault-test";
  opts.auth.hs256_secret_file = f.dir.file("jwt.secret");
  Server server(opts, mem);
  CHECK_FALSE(server.start());
  CHECK(::stat(opts.socket_path.c_str(), &st) != 0);  // no socket file left behind
}

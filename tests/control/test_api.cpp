// The pure request handler (no socket): the noexcept guard, routing details,
// and what reaches the audit log when things go wrong.
#include <catch2/catch.hpp>

#include "memory_backend.hpp"
#include "recvault/control/api.hpp"
#include "test_support.hpp"

using namespace recvault;
using namespace recvault::control;
using namespace recvault::control::testing;
using nlohmann::json;

namespace {

struct ThrowingBackend final : Backend {
  Status validate_account_id(std::string_view) const override { return {}; }
  Result<json> get_config(std::string_view) override { throw std::runtime_error("secret internal detail"); }
  Result<json> update_config(std::string_view, const json&) override { throw std::bad_alloc(); }
  Result<std::string> add_public_key(std::string_view, std::string_view, std::string_view) override {
    return std::string();
  }
  Result<std::vector<std::string>> list_public_keys(std::string_view) override { return std::vector<std::string>{}; }
  Result<PublicKeyRecord> get_public_key(std::string_view, std::string_view) override {
    return make_error(Errc::io, "disk says /var/lib/recvault is broken");
  }
  Status delete_public_key(std::string_view, std::string_view) override { return {}; }
};

Request req(std::string method, std::string path, std::vector<std::pair<std::string, std::string>> headers,
            std::string body = "") {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST_CASE("exceptions in handlers become a generic 500 and are audited", "[api]") {
  TempDir dir;
  ThrowingBackend backend;
  JwtVerifier verifier;
  REQUIRE(verifier.add_hs256_secret(crypto::SecretBytes::from_view(kTestSecret)));
  auto audit = AuditLog::open(dir.file("audit.log"));
  REQUIRE(audit);
  Api api(ApiContext{backend, verifier, **audit, nullptr, nullptr, nullptr, nullptr, nullptr});
  auto auth = std::pair<std::string, std::string>{"Authorization", "Bearer " + admin_token()};
  auto acct = std::pair<std::string, std::string>{"X-Account-ID", "acc1"};

  auto r = api.handle(req("GET", "/api/v2/config/call_recording_encryption", {auth, acct}));
  CHECK(r.status == 500);
  CHECK(r.body.find("secret internal detail") == std::string::npos);
  r = api.handle(req("PUT", "/api/v2/config/call_recording_encryption", {auth, acct}, R"({"enabled":true})"));
  CHECK(r.status == 500);
  // A backend I/O error: generic message, no path leaks.
  r = api.handle(req("GET", "/v3/security/public-keys/00000000-0000-4000-8000-000000000001", {auth, acct}));
  CHECK(r.status == 500);
  CHECK(r.body.find("/var/lib") == std::string::npos);
  const auto log = read_text(dir.file("audit.log"));
  CHECK(log.find("internal_error") != std::string::npos);
  CHECK(log.find("secret internal detail") == std::string::npos);
}

TEST_CASE("header names are case-insensitive; Bearer scheme too", "[api]") {
  MemoryBackend backend;
  JwtVerifier verifier;
  REQUIRE(verifier.add_hs256_secret(crypto::SecretBytes::from_view(kTestSecret)));
  auto audit = AuditLog::disabled();
  Api api(ApiContext{backend, verifier, *audit,
                     [](const Principal&) {
                       return json{{"version", "x"}};
                     },
                     nullptr, nullptr, nullptr, nullptr});
  auto r = api.handle(req("GET", "/api/v2/config/call_recording_encryption",
                          {{"authorization", "bearer " + admin_token()}, {"x-account-id", "acc1"}}));
  CHECK(r.status == 200);
  CHECK(json::parse(r.body) == json{{"success", true}, {"config", json::object()}});
  // Two Authorization headers are refused rather than guessed between.
  r = api.handle(
      req("GET", "/v1/status", {{"Authorization", "Bearer " + admin_token()}, {"Authorization", "Bearer x"}}));
  CHECK(r.status == 401);
  r = api.handle(req("GET", "/v1/status", {{"Authorization", "Bearer " + read_token()}}));
  CHECK(r.status == 200);
  CHECK(json::parse(r.body)["status"]["version"] == "x");
}

TEST_CASE("AuditLog::format is one JSON object with RFC 3339 UTC time", "[api][audit]") {
  AuditRecord rec;
  rec.subject = "alice";
  rec.peer = PeerInfo{true, 42, 1000, 1000};
  rec.account = "acc\xff";  // invalid UTF-8 from a header must not throw
  rec.action = "config.get";
  rec.status = 200;
  auto line = AuditLog::format(rec, 1795474462123);
  auto j = json::parse(line);
  CHECK(j["time"] == "2026-11-23T22:54:22.123Z");
  CHECK(j["uid"] == 1000);
  CHECK(j["pid"] == 42);
  CHECK(line.find('\n') == std::string::npos);
}

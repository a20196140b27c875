// A real control server for tests: a real LMDB keystore in a temp dir, the
// socket, secret file and audit log beside it. Stopped and removed on scope
// exit, also when a test fails.
#pragma once

#include <unistd.h>
#include <memory>

#include "recvault/control/server.hpp"
#include "recvault/daemon/keystore_backend.hpp"
#include "recvault/keystore/store.hpp"
#include "test_support.hpp"

namespace recvault::control::testing {

struct ServerFixture {
  TempDir dir;
  std::unique_ptr<keystore::Store> store;
  std::unique_ptr<daemon::KeystoreBackend> backend;
  std::unique_ptr<Server> server;
  std::string socket;
  std::string audit_path;

  explicit ServerFixture(const std::function<void(ServerOptions&)>& tweak = {}) {
    auto master = keystore::MasterKey::generate();
    if (!master) throw std::runtime_error(master.error().message);
    std::filesystem::create_directories(dir.path() / "keystore");
    auto s = keystore::Store::open(dir.path() / "keystore", std::move(*master));
    if (!s) throw std::runtime_error(s.error().message);
    store = std::move(*s);
    backend = std::make_unique<daemon::KeystoreBackend>(*store);
    write_private(dir.file("jwt.secret"), kTestSecret + "\n");
    socket = dir.file("control.sock");
    audit_path = dir.file("audit.log");
    ServerOptions opts;
    opts.socket_path = socket;
    opts.auth.hs256_secret_file = dir.file("jwt.secret");
    opts.audit_log_path = audit_path;
    opts.request_deadline = std::chrono::milliseconds(1500);
    opts.idle_timeout = std::chrono::seconds(3);
    opts.status = [](const Principal&) { return nlohmann::json{{"version", "test"}, {"uptime_seconds", 1}}; };
    if (tweak) tweak(opts);
    server = std::make_unique<Server>(std::move(opts), *backend);
    auto st = server->start();
    if (!st) throw std::runtime_error("server start: " + st.error().message);
  }
  ~ServerFixture() {
    if (server) server->stop();
  }

  Reply get(const std::string& path, const std::string& token, const std::string& acct = "acc1") const {
    return http(socket, "GET", path, {bearer(token), account(acct)});
  }
  Reply put_config(const nlohmann::json& body, const std::string& acct = "acc1",
                   const std::string& token = admin_token()) const {
    return http(socket, "PUT", "/api/v2/config/call_recording_encryption",
                {bearer(token), account(acct), "Content-Type: application/json"}, body.dump());
  }
  Reply get_config(const std::string& acct = "acc1") const {
    return get("/api/v2/config/call_recording_encryption", admin_token(), acct);
  }
};

}  // namespace recvault::control::testing

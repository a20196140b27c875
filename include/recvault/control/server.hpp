// The control API's HTTP/1.1 server on a unix socket (libmicrohttpd).
//
// Embedding (the daemon):
//
//   control::ServerOptions opts;               // from [control] in recvault.toml
//   opts.socket_path = "/run/recvault/control.sock";
//   opts.socket_group = "recvault";            // optional; chown + mode 0660
//   opts.auth.hs256_secret_file = "/etc/recvault/jwt.secret";
//   opts.audit_log_path = "/var/log/recvault/audit.log";
//   opts.status = [&] { return nlohmann::json{{"version", RECVAULT_VERSION}, ...}; };
//   daemon::KeystoreBackend backend(store);    // daemon/keystore_backend.hpp
//   control::Server server(std::move(opts), backend);
//   if (auto st = server.start(); !st) { ... }  // binds, chmods, listens, serves
//   ...
//   server.stop();                             // also done by the destructor
//
// Limits: the body size (413), the header memory (MHD answers 431), the
// number of concurrent connections, an idle timeout, and a request deadline
// (a watchdog shuts down connections whose request is not complete in time,
// so a client trickling one byte a second cannot hold a slot forever). Each
// connection has its own thread; a slow client never blocks another.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <memory>
#include <string>

#include "recvault/control/api.hpp"
#include "recvault/control/backend.hpp"
#include "recvault/control/jwt.hpp"
#include "recvault/util/result.hpp"

namespace recvault::control {

struct ServerOptions {
  std::string socket_path = "/run/recvault/control.sock";
  mode_t socket_mode = 0660;
  std::string socket_group;                   // group name or numeric gid; "" = leave
  std::size_t max_body_bytes = 64 * 1024;     // larger bodies → 413
  std::size_t connection_memory = 32 * 1024;  // per-connection buffer: bounds the headers
  unsigned max_connections = 64;
  std::chrono::seconds idle_timeout{10};              // no byte for this long → closed
  std::chrono::milliseconds request_deadline{10000};  // whole request must arrive in time
  AuthConfig auth;                                    // JWT keys (files)
  std::string audit_log_path;                         // "" = no audit log (tests only)
  mode_t audit_log_mode = 0600;
  StatusProvider status;           // GET /v1/status body
  KeyValidator validate_key;       // default: validate_public_key
  MetricsProvider metrics;         // GET /metrics body ("" = 404)
  RequestObserver observe;         // every answered request (metrics)
  Lifecycle* lifecycle = nullptr;  // the key lifecycle (census, hold, destruction); must outlive the server
};

class Server {
 public:
  // `backend` must outlive the server.
  Server(ServerOptions options, Backend& backend);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the JWT keys, opens the audit log, creates the socket (replacing a
  // stale socket file, refusing if another server answers on it) and starts
  // serving. Errors are start-up failures: the daemon should refuse to run.
  Status start();
  // Stops accepting, finishes in-flight requests, removes the socket file.
  // Idempotent.
  void stop() noexcept;
  bool running() const noexcept;

  // The pure handler the server drives; nullptr before the first start().
  const Api* api() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recvault::control

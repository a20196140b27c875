// The control API as a pure function: Request in, Response out.
//
// Api routes, authenticates (Bearer JWT), authorizes (account + scope),
// dispatches to the config and public-key handlers, and writes the audit
// trail. It knows nothing of sockets; the HTTP server (server.hpp) and the
// fuzz target drive it directly.
//
// Order of checks for an API route: 404 unknown path → 405 wrong method
// (with Allow) → 401 missing/invalid token (with WWW-Authenticate: Bearer)
// → 403 scope → 400 missing/invalid X-Account-ID → 403 account not in token
// → the handler. GET /healthz needs no token; GET /v1/status and GET /metrics
// need a token of any scope and no account.
//
// Thread safety: handle() may run concurrently; Api holds no mutable state of
// its own (the Backend and AuditLog are thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "recvault/control/audit.hpp"
#include "recvault/control/backend.hpp"
#include "recvault/control/http.hpp"
#include "recvault/control/jwt.hpp"
#include "recvault/control/lifecycle.hpp"
#include "recvault/control/pgp_validate.hpp"

namespace recvault::control {

// Daemon status for GET /v1/status (version, uptime, mounts, ... as the daemon
// sees fit), for the authenticated caller: per-account figures only for the
// accounts its token grants. Called on a server thread; must be thread-safe.
using StatusProvider = std::function<nlohmann::json(const Principal& caller)>;
// GET /metrics: the Prometheus text exposition for the authenticated caller
// (per-account series only for the accounts its token grants).
using MetricsProvider = std::function<std::string(const Principal& caller)>;
// Told of every answered request: the endpoint's name ("config",
// "public_keys", ..., "unknown" for a path that matches none), the method
// and the HTTP status. Called on a server thread; must be thread-safe.
using RequestObserver = std::function<void(std::string_view endpoint, std::string_view method, int status)>;
// Validates an uploaded OpenPGP key (validate_public_key by default).
using KeyValidator = std::function<Result<KeyInfo>(std::string_view armored)>;

struct ApiContext {
  Backend& backend;
  const JwtVerifier& verifier;
  AuditLog& audit;
  StatusProvider status;           // may be empty: /v1/status then reports only the API
  KeyValidator validate_key;       // may be empty: validate_public_key
  MetricsProvider metrics;         // may be empty: /metrics answers 404
  RequestObserver observe;         // may be empty
  Lifecycle* lifecycle = nullptr;  // may be null: the key lifecycle's endpoints answer 404
};

class Api {
 public:
  explicit Api(ApiContext ctx) : ctx_(std::move(ctx)) {}

  // Never throws: an exception escaping a handler becomes a 500 (and an
  // audit record), its text is not sent to the client.
  Response handle(const Request& request) const noexcept;

 private:
  Response dispatch(const Request& request) const;
  ApiContext ctx_;
};

}  // namespace recvault::control

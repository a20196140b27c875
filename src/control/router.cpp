// Routing, authentication, authorization and auditing for the control API.
#include <strings.h>
#include <cstdio>

#include "handlers.hpp"
#include "recvault/util/log.hpp"

namespace recvault::control {
namespace {

enum class Endpoint {
  healthz,
  status,
  metrics,
  config,
  public_keys,
  public_key,
  // The key lifecycle, under the config path (docs/API.md "Key lifecycle").
  census,
  legal_hold,
  versions,
  keys,
  destruction,
  reencrypt,
  jobs,
};

struct Match {
  Endpoint endpoint;
  std::string id;  // public_key only
};

constexpr std::string_view kConfigPath = "/api/v2/config/call_recording_encryption";
constexpr std::string_view kKeysPath = "/v3/security/public-keys";
constexpr std::size_t kMaxAuditedHeader = 128;

std::optional<Match> match(std::string_view path) {
  if (path == "/healthz") return Match{Endpoint::healthz, {}};
  if (path == "/v1/status") return Match{Endpoint::status, {}};
  if (path == "/metrics") return Match{Endpoint::metrics, {}};
  if (path == kConfigPath) return Match{Endpoint::config, {}};
  if (path.size() > kConfigPath.size() + 1 && path.starts_with(kConfigPath) && path[kConfigPath.size()] == '/') {
    auto sub = path.substr(kConfigPath.size() + 1);
    for (auto [name, e] : {std::pair{"census", Endpoint::census}, std::pair{"legal_hold", Endpoint::legal_hold},
                           std::pair{"versions", Endpoint::versions}, std::pair{"keys", Endpoint::keys},
                           std::pair{"destruction", Endpoint::destruction}, std::pair{"reencrypt", Endpoint::reencrypt},
                           std::pair{"jobs", Endpoint::jobs}})
      if (sub == name) return Match{e, {}};
    return std::nullopt;
  }
  if (path == kKeysPath) return Match{Endpoint::public_keys, {}};
  if (path.size() > kKeysPath.size() + 1 && path.starts_with(kKeysPath) && path[kKeysPath.size()] == '/') {
    auto id = path.substr(kKeysPath.size() + 1);
    if (id.find('/') == std::string_view::npos) return Match{Endpoint::public_key, std::string(id)};
  }
  return std::nullopt;
}

// The methods an endpoint allows, as the Allow header lists them.
std::string_view allowed(Endpoint e) {
  switch (e) {
    case Endpoint::healthz:
    case Endpoint::status:
    case Endpoint::metrics:
      return "GET";
    case Endpoint::config:
      return "GET, PUT";
    case Endpoint::public_keys:
      return "GET, POST";
    case Endpoint::public_key:
      return "GET, DELETE";
    case Endpoint::census:
    case Endpoint::jobs:
      return "GET";
    case Endpoint::reencrypt:
      return "POST, DELETE";
    case Endpoint::legal_hold:
      return "PUT";
    case Endpoint::versions:
    case Endpoint::keys:
    case Endpoint::destruction:
      return "DELETE";
  }
  return "";
}

bool method_allowed(Endpoint e, std::string_view method) {
  auto list = allowed(e);
  std::size_t pos = 0;
  while (pos < list.size()) {
    auto end = list.find(", ", pos);
    auto item = list.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (item == method) return true;
    if (end == std::string_view::npos) break;
    pos = end + 2;
  }
  return false;
}

// A bounded label value for request metrics.
std::string_view endpoint_name(const std::optional<Match>& m) {
  if (!m) return "unknown";
  switch (m->endpoint) {
    case Endpoint::healthz:
      return "healthz";
    case Endpoint::status:
      return "status";
    case Endpoint::metrics:
      return "metrics";
    case Endpoint::config:
      return "config";
    case Endpoint::public_keys:
      return "public_keys";
    case Endpoint::public_key:
      return "public_key";
    case Endpoint::census:
      return "census";
    case Endpoint::legal_hold:
      return "legal_hold";
    case Endpoint::versions:
      return "versions";
    case Endpoint::keys:
      return "keys";
    case Endpoint::destruction:
      return "destruction";
    case Endpoint::reencrypt:
      return "reencrypt";
    case Endpoint::jobs:
      return "jobs";
  }
  return "unknown";
}

// Methods as metric labels: the ones the API knows, "other" for the rest.
std::string_view method_name(std::string_view method) {
  for (std::string_view known : {"GET", "PUT", "POST", "DELETE", "HEAD"})
    if (method == known) return known;
  return "other";
}

bool is_write(std::string_view method) { return method != "GET"; }

std::string clip(std::string_view s) { return std::string(s.substr(0, kMaxAuditedHeader)); }

Response unauthorized(std::string_view why) {
  auto r = Response::error(401, why);
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"recvault\"");
  return r;
}

Response status_response(const ApiContext& ctx, const Principal& caller) {
  nlohmann::json body = {{"success", true}};
  nlohmann::json status = ctx.status ? ctx.status(caller) : nlohmann::json::object();
  body["status"] = status.is_object() ? status : nlohmann::json::object();
  return Response::json(200, body);
}

}  // namespace

Response Api::handle(const Request& request) const noexcept {
  try {
    Response r = dispatch(request);
    if (ctx_.observe) ctx_.observe(endpoint_name(match(request.path)), method_name(request.method), r.status);
    return r;
  } catch (...) {
    // The exception text may describe internal state; the client gets a generic reason.
    try {
      AuditRecord record;
      record.peer = request.peer;
      record.action = "internal_error";
      record.status = 500;
      (void)ctx_.audit.append(record);
      return Response::error(500, "Internal server error");
    } catch (...) {
      Response r;
      r.status = 500;
      return r;
    }
  }
}

Response Api::dispatch(const Request& request) const {
  auto m = match(request.path);
  if (!m) return Response::error(404, "No such endpoint");
  if (!method_allowed(m->endpoint, request.method)) {
    auto r = Response::error(405, "Method not allowed");
    r.headers.emplace_back("Allow", std::string(allowed(m->endpoint)));
    return r;
  }
  if (m->endpoint == Endpoint::healthz) return Response::json(200, {{"status", "ok"}});

  AuditRecord audit;
  audit.peer = request.peer;
  bool duplicate = false;
  auto account_header = request.header("X-Account-ID", &duplicate);
  if (account_header) audit.account = clip(*account_header);
  auto finish = [&](Response r) {
    audit.status = r.status;
    if (audit.action.empty()) audit.action = "request";
    if (auto st = ctx_.audit.append(audit); !st) log::error("control: audit log: " + st.error().message);
    return r;
  };

  // Authentication.
  bool dup_auth = false;
  auto auth = request.header("Authorization", &dup_auth);
  audit.action = "auth";
  if (!auth) {
    audit.reason = "missing bearer token";
    return finish(unauthorized("Missing bearer token"));
  }
  if (dup_auth || auth->size() < 7 || ::strncasecmp(auth->data(), "Bearer ", 7) != 0) {
    audit.reason = "malformed Authorization header";
    return finish(unauthorized("Authorization must be: Bearer <token>"));
  }
  auto token = auth->substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  auto principal = ctx_.verifier.verify(token);
  if (!principal) {
    audit.reason = principal.error().message;
    return finish(unauthorized("Invalid token: " + principal.error().message));
  }
  audit.subject = principal->subject;
  audit.action.clear();

  // Scope.
  if (is_write(request.method) && principal->scope != Scope::admin) {
    audit.action = "authorize";
    audit.reason = "scope does not allow changes";
    return finish(Response::error(403, "This token's scope does not allow changes (admin scope required)"));
  }
  if (m->endpoint == Endpoint::metrics) {
    audit.action = "metrics";
    if (!ctx_.metrics) return finish(Response::error(404, "Metrics are not served here"));
    Response r;
    r.status = 200;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = ctx_.metrics(*principal);
    return finish(std::move(r));
  }
  if (m->endpoint == Endpoint::status) {
    // Audited like every other authenticated call: who looked, and when.
    audit.action = "status";
    return finish(status_response(ctx_, *principal));
  }

  // Account.
  if (!account_header || account_header->empty()) {
    audit.action = "authorize";
    audit.reason = "missing account";
    return finish(Response::error(400, "Could not get account ID from context"));
  }
  if (duplicate) {
    audit.action = "authorize";
    audit.reason = "duplicate X-Account-ID";
    return finish(Response::error(400, "X-Account-ID must be given once"));
  }
  if (auto st = ctx_.backend.validate_account_id(*account_header); !st) {
    audit.action = "authorize";
    audit.reason = "invalid account id";
    return finish(Response::error(400, "Invalid account ID: " + st.error().message));
  }
  if (!principal->may_access(*account_header)) {
    audit.action = "authorize";
    audit.reason = "account not granted by token";
    return finish(Response::error(403, "This token does not grant access to this account"));
  }

  detail::Call call{request, ctx_, *principal, std::string(*account_header), m->id, audit};
  switch (m->endpoint) {
    case Endpoint::config:
      return finish(request.method == "GET" ? detail::config_get(call) : detail::config_put(call));
    case Endpoint::public_keys:
      return finish(request.method == "GET" ? detail::public_keys_list(call) : detail::public_key_upload(call));
    case Endpoint::public_key:
      return finish(request.method == "GET" ? detail::public_key_get(call) : detail::public_key_delete(call));
    case Endpoint::census:
      return finish(detail::census_get(call));
    case Endpoint::legal_hold:
      return finish(detail::legal_hold_put(call));
    case Endpoint::versions:
      return finish(detail::destruction_schedule(call, DestructionScope::versions));
    case Endpoint::keys:
      return finish(detail::destruction_schedule(call, DestructionScope::account));
    case Endpoint::destruction:
      return finish(detail::destruction_cancel(call));
    case Endpoint::reencrypt:
      return finish(request.method == "POST" ? detail::reencrypt_start(call) : detail::reencrypt_cancel(call));
    case Endpoint::jobs:
      return finish(detail::jobs_get(call));
    case Endpoint::healthz:
    case Endpoint::status:
    case Endpoint::metrics:
      break;
  }
  return finish(Response::error(500, "Internal server error"));
}

}  // namespace recvault::control

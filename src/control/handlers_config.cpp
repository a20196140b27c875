// GET/PUT /api/v2/config/call_recording_encryption (docs/API.md "Encryption configuration").
#include <strings.h>
#include <cstdint>
#include <optional>

#include "handlers.hpp"
#include "recvault/control/secure_json.hpp"

namespace recvault::control::detail {
namespace {

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  auto media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() && ::strncasecmp(media.data(), kJson.data(), kJson.size()) == 0;
}

}  // namespace

Response backend_error(const Error& error, std::string_view generic) {
  switch (error.code) {
    case Errc::invalid_argument:
      return Response::error(400, error.message);
    case Errc::not_found:
      return Response::error(404, error.message);
    case Errc::conflict:
      return Response::error(409, error.message);
    case Errc::unavailable:
      return Response::error(503, error.message);
    default:
      return Response::error(500, generic);
  }
}

static nlohmann::json mask_key_material(nlohmann::json config) {
  if (!config.is_object()) return config;
  if (auto k = config.find("key"); k != config.end()) {
    wipe_json(*k);
    *k = nullptr;
  }
  if (auto h = config.find("historical_keys"); h != config.end() && h->is_object()) {
    for (auto& [version, key] : h->items()) {
      wipe_json(key);
      key = nullptr;
    }
  }
  return config;
}

// The key lifecycle's part of a PUT (docs/API.md "Retiring versions"):
// "force" is the API's, not the config's, and is taken out of the body;
// raising min_decryption_version is refused (409) while the census still finds
// recordings below it, unless forced. Nothing to refuse: nullopt.
static std::optional<Response> check_retirement(Call& call, nlohmann::json& body) {
  bool force = false;
  if (auto f = body.find("force"); f != body.end()) {
    if (!f->is_boolean()) return Response::error(400, "field \"force\" must be a boolean");
    force = f->get<bool>();
    body.erase(f);
  }
  auto m = body.find("min_decryption_version");
  if (m == body.end() || !m->is_number_unsigned() || m->get<std::uint64_t>() > UINT32_MAX) return std::nullopt;
  const auto wanted = static_cast<std::uint32_t>(m->get<std::uint64_t>());
  call.audit.resource = "min_decryption_version";
  call.audit.versions = {wanted};
  if (force) call.audit.reason = "forced";
  if (force || call.ctx.lifecycle == nullptr) return std::nullopt;
  std::uint32_t current = 0;
  if (auto config = call.ctx.backend.get_config(call.account); config) {
    current = config->value("min_decryption_version", std::uint32_t{0});
    wipe_json(*config);
  }
  if (wanted <= current) return std::nullopt;  // lowering or unchanged: nothing becomes unreadable
  auto below = call.ctx.lifecycle->recordings_below(call.account, wanted);
  if (!below) return backend_error(below.error(), "Failed to take the census");
  if (*below == 0) return std::nullopt;
  call.audit.reason = std::to_string(*below) + " recordings below the version";
  return Response::error(409, std::to_string(*below) +
                                  " recordings of this account are encrypted under key versions below " +
                                  std::to_string(wanted) +
                                  " (GET .../census); re-encrypt them first (POST .../reencrypt), "
                                  "or send \"force\": true to make them "
                                  "unreadable");
}

Response config_get(Call& call) {
  call.audit.action = "config.get";
  auto config = call.ctx.backend.get_config(call.account);
  nlohmann::json body = {{"success", true}};
  if (!config) {
    if (config.error().code != Errc::not_found)
      return backend_error(config.error(), "Failed to get encryption configuration");
    body["config"] = nlohmann::json::object();
  } else {
    body["config"] = std::move(*config);
  }
  // Key material is for admin tokens only: a read token is for monitoring,
  // and a key is a decryption key. Salts stay visible (not secret: every
  // recording carries its salt in clear in its header and xattrs).
  if (call.principal.scope != Scope::admin) {
    body["config"] = mask_key_material(std::move(body["config"]));
    body["keys_masked"] = true;
  }
  return Response::sensitive_json(200, body);
}

Response config_put(Call& call) {
  call.audit.action = "config.update";
  if (auto ct = call.request.header("Content-Type"); ct && !is_json_content_type(*ct))
    return Response::error(415, "Content-Type must be application/json");
  if (call.request.body.empty()) return Response::error(400, "Request body is empty; send a JSON object");
  auto body = nlohmann::json::parse(call.request.body, nullptr, false);
  if (body.is_discarded()) return Response::error(400, "Invalid JSON in request body");
  if (!body.is_object()) return Response::error(400, "Request body must be a JSON object");
  if (auto refused = check_retirement(call, body)) {
    wipe_json(body);
    return std::move(*refused);
  }
  auto config = call.ctx.backend.update_config(call.account, body);
  wipe_json(body);  // it may carry a key
  if (!config) return backend_error(config.error(), "Failed to update encryption configuration");
  nlohmann::json reply = {
      {"success", true}, {"message", "Encryption configuration updated successfully"}, {"config", std::move(*config)}};
  return Response::sensitive_json(200, reply);
}

}  // namespace recvault::control::detail

// GET/PUT /api/v2/config/call_recording_encryption (docs/API.md "Encryption configuration").
#include <strings.h>

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
  auto config = call.ctx.backend.update_config(call.account, body);
  wipe_json(body);  // it may carry a key
  if (!config) return backend_error(config.error(), "Failed to update encryption configuration");
  nlohmann::json reply = {
      {"success", true}, {"message", "Encryption configuration updated successfully"}, {"config", std::move(*config)}};
  return Response::sensitive_json(200, reply);
}

}  // namespace recvault::control::detail

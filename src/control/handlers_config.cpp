// GET/PUT /api/v2/config/call_recording_encryption (the config seed).
#include <strings.h>

#include "handlers.hpp"

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
    case Errc::invalid_argument: return Response::error(400, error.message);
    case Errc::not_found: return Response::error(404, error.message);
    case Errc::conflict: return Response::error(409, error.message);
    default: return Response::error(500, generic);
  }
}

Response config_get(Call& call) {
  call.audit.action = "config.get";
  auto config = call.ctx.backend.get_config(call.account);
  if (!config) {
    if (config.error().code == Errc::not_found)
      return Response::json(200, {{"success", true}, {"config", nlohmann::json::object()}});
    return backend_error(config.error(), "Failed to get encryption configuration");
  }
  return Response::json(200, {{"success", true}, {"config", std::move(*config)}});
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
  if (!config) return backend_error(config.error(), "Failed to update encryption configuration");
  return Response::json(200, {{"success", true},
                              {"message", "Encryption configuration updated successfully"},
                              {"config", std::move(*config)}});
}

}  // namespace recvault::control::detail

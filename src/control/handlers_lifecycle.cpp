// The key lifecycle's endpoints under /api/v2/config/call_recording_encryption/
// (docs/API.md "Key lifecycle"): census, legal hold, scheduling and cancelling
// a destruction. Every call is audited with its versions; no reply carries
// key material.
#include "handlers.hpp"

namespace recvault::control::detail {
namespace {

Response not_served() { return Response::error(404, "The key lifecycle is not served here"); }

// The versions a lifecycle reply names, for the audit record.
std::vector<std::uint32_t> versions_of(const nlohmann::json& state, const char* field) {
  std::vector<std::uint32_t> out;
  auto it = state.find(field);
  if (it == state.end()) return out;
  const nlohmann::json& list = it->is_object() ? it->value("versions", nlohmann::json::array()) : *it;
  if (!list.is_array()) return out;
  for (const auto& v : list)
    if (v.is_number_unsigned()) out.push_back(v.get<std::uint32_t>());
  return out;
}

Response state_reply(int status, std::string message, nlohmann::json state) {
  return Response::json(status, {{"success", true}, {"message", std::move(message)}, {"lifecycle", std::move(state)}});
}

}  // namespace

Response census_get(Call& call) {
  call.audit.action = "census";
  if (call.ctx.lifecycle == nullptr) return not_served();
  auto census = call.ctx.lifecycle->census(call.account);
  if (!census) return backend_error(census.error(), "Failed to take the census");
  const nlohmann::json versions = census->value("versions", nlohmann::json::object());
  for (const auto& [version, counts] : versions.items())
    call.audit.versions.push_back(static_cast<std::uint32_t>(std::stoul(version)));
  return Response::json(200, {{"success", true}, {"census", std::move(*census)}});
}

Response legal_hold_put(Call& call) {
  call.audit.action = "legal_hold.set";
  if (call.ctx.lifecycle == nullptr) return not_served();
  auto body = nlohmann::json::parse(call.request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Response::error(400, "Request body must be a JSON object");
  auto hold = body.find("legal_hold");
  if (hold == body.end() || !hold->is_boolean() || body.size() != 1)
    return Response::error(400, "The body must be {\"legal_hold\": true} or {\"legal_hold\": false}");
  const bool on = hold->get<bool>();
  call.audit.action = on ? "legal_hold.set" : "legal_hold.lift";
  auto state = call.ctx.lifecycle->set_legal_hold(call.account, on);
  if (!state) return backend_error(state.error(), "Failed to change the legal hold");
  return state_reply(200, on ? "Legal hold set: no key of this account can be destroyed" : "Legal hold lifted",
                     std::move(*state));
}

Response destruction_schedule(Call& call, DestructionScope scope) {
  call.audit.action = "destruction.schedule";
  call.audit.resource = scope == DestructionScope::account ? "account" : "versions";
  if (call.ctx.lifecycle == nullptr) return not_served();
  auto state = call.ctx.lifecycle->schedule_destruction(call.account, scope, call.principal.subject);
  if (!state) return backend_error(state.error(), "Failed to schedule the destruction");
  call.audit.versions = versions_of(*state, "scheduled_destruction");
  const std::string when = state->value("scheduled_destruction", nlohmann::json::object()).value("execute_at", "");
  return state_reply(202, "Key destruction scheduled for " + when + "; cancel it with DELETE .../destruction",
                     std::move(*state));
}

Response destruction_cancel(Call& call) {
  call.audit.action = "destruction.cancel";
  if (call.ctx.lifecycle == nullptr) return not_served();
  auto state = call.ctx.lifecycle->cancel_destruction(call.account);
  if (!state) return backend_error(state.error(), "Failed to cancel the destruction");
  call.audit.versions = versions_of(*state, "cancelled_destruction");
  return state_reply(200, "Key destruction cancelled", std::move(*state));
}

}  // namespace recvault::control::detail

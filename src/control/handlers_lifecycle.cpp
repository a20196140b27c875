// The key lifecycle's endpoints under /api/v2/config/call_recording_encryption/
// (docs/API.md "Key lifecycle"): census, legal hold, scheduling and cancelling
// a destruction, re-encryption jobs. Every call is audited with its versions;
// no reply carries key material.
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

// The versions a job rewrites: those below its `below_version`, down to 1.
std::vector<std::uint32_t> job_versions(const nlohmann::json& job) {
  std::vector<std::uint32_t> out;
  const auto below = job.value("below_version", std::uint32_t{0});
  for (std::uint32_t v = 1; v < below; ++v) out.push_back(v);
  return out;
}

Response reencrypt_start(Call& call) {
  call.audit.action = "reencrypt.start";
  if (call.ctx.lifecycle == nullptr) return not_served();
  ReencryptRequest request;
  request.requested_by = call.principal.subject;
  request.peer = call.request.peer;
  if (!call.request.body.empty()) {
    auto body = nlohmann::json::parse(call.request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Response::error(400, "Request body must be a JSON object");
    for (const auto& [field, value] : body.items()) {
      if (field == "below_version" && value.is_number_unsigned() && value.get<std::uint64_t>() >= 2 &&
          value.get<std::uint64_t>() <= 0xffffffffULL) {
        request.below = static_cast<std::uint32_t>(value.get<std::uint64_t>());
      } else if (field == "mb_per_s" && value.is_number() && value.get<double>() > 0 && value.get<double>() <= 100000) {
        request.mb_per_s = value.get<double>();
      } else {
        return Response::error(400,
                               "The body may hold \"below_version\" (an integer >= 2) and \"mb_per_s\" (a number "
                               "above 0, at most 100000), nothing else");
      }
    }
  }
  auto job = call.ctx.lifecycle->start_reencryption(call.account, request);
  if (!job) {
    if (job.error().code == Errc::conflict) {
      // One job per account: the reply names the one that runs.
      auto jobs = call.ctx.lifecycle->reencryption_jobs(call.account);
      nlohmann::json body = {{"success", false}, {"message", job.error().message}};
      if (jobs && !jobs->empty()) body["job"] = (*jobs)[0];
      return Response::json(409, body);
    }
    return backend_error(job.error(), "Failed to start the re-encryption");
  }
  call.audit.versions = job_versions(*job);
  call.audit.resource = job->value("id", "");
  return Response::json(
      202,
      {{"success", true}, {"message", "Re-encryption started; follow it with GET .../jobs"}, {"job", std::move(*job)}});
}

Response reencrypt_cancel(Call& call) {
  call.audit.action = "reencrypt.cancel";
  if (call.ctx.lifecycle == nullptr) return not_served();
  auto job = call.ctx.lifecycle->cancel_reencryption(call.account, call.principal.subject);
  if (!job) return backend_error(job.error(), "Failed to cancel the re-encryption");
  call.audit.versions = job_versions(*job);
  call.audit.resource = job->value("id", "");
  return Response::json(200, {{"success", true}, {"message", "Re-encryption cancelled"}, {"job", std::move(*job)}});
}

Response jobs_get(Call& call) {
  call.audit.action = "reencrypt.jobs";
  if (call.ctx.lifecycle == nullptr) return not_served();
  auto jobs = call.ctx.lifecycle->reencryption_jobs(call.account);
  if (!jobs) return backend_error(jobs.error(), "Failed to list the jobs");
  return Response::json(200, {{"success", true}, {"jobs", std::move(*jobs)}});
}

}  // namespace recvault::control::detail

#include "recvault/control/http.hpp"

#include <strings.h>

#include "recvault/control/secure_json.hpp"

namespace recvault::control {

std::optional<std::string_view> Request::header(std::string_view name, bool* duplicate) const {
  std::optional<std::string_view> found;
  if (duplicate != nullptr) *duplicate = false;
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size() || ::strncasecmp(key.data(), name.data(), name.size()) != 0) continue;
    if (found) {
      if (duplicate != nullptr) *duplicate = true;
      continue;
    }
    found = value;
  }
  return found;
}

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

Response Response::sensitive_json(int status, nlohmann::json& body) {
  Response r;
  r.status = status;
  r.sensitive = true;
  {
    SecureString text = dump_secure(body);
    r.body.reserve(text.size() + 1);  // one allocation: no stale partial copies
    r.body.append(text.data(), text.size());
    r.body.push_back('\n');
  }
  wipe_json(body);
  return r;
}

Response Response::error(int status, std::string_view message) {
  return json(status, {{"success", false}, {"message", message}});
}

}  // namespace recvault::control

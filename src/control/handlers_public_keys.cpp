// /v3/security/public-keys (docs/API.md "Client-supplied OpenPGP public keys").
#include <algorithm>
#include <cctype>

#include "handlers.hpp"

namespace recvault::control::detail {
namespace {

constexpr std::string_view kCollection = "/v3/security/public-keys";

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : std::isxdigit(static_cast<unsigned char>(s[i])) == 0) return false;
  }
  return true;
}

}  // namespace

Response public_keys_list(Call& call) {
  call.audit.action = "public_key.list";
  auto ids = call.ctx.backend.list_public_keys(call.account);
  if (!ids) return backend_error(ids.error(), "Failed to list public keys");
  auto list = nlohmann::json::array();
  for (const auto& id : *ids) list.push_back({{"href", std::string(kCollection) + "/" + id}});
  return Response::json(200, {{"success", true}, {"publicKeys", std::move(list)}});
}

Response public_key_upload(Call& call) {
  call.audit.action = "public_key.upload";
  const auto& validate = call.ctx.validate_key ? call.ctx.validate_key : KeyValidator(validate_public_key);
  auto info = validate(call.request.body);
  if (!info) return backend_error(info.error(), "Failed to validate the public key");
  auto id = call.ctx.backend.add_public_key(call.account, call.request.body, info->fingerprint);
  if (!id) return backend_error(id.error(), "Failed to store the public key");
  call.audit.resource = *id;
  auto r = Response::json(201, {{"success", true}, {"publicKeyId", *id}, {"fingerprint", info->fingerprint}});
  r.headers.emplace_back("Location", std::string(kCollection) + "/" + *id);
  return r;
}

Response public_key_get(Call& call) {
  call.audit.action = "public_key.get";
  call.audit.resource = call.resource_id;
  if (!is_uuid(call.resource_id)) return Response::error(400, "publicKeyId must be a UUID");
  auto key = call.ctx.backend.get_public_key(call.account, call.resource_id);
  if (!key) return backend_error(key.error(), "Failed to read the public key");
  Response r;
  r.status = 200;
  r.content_type = "application/pgp-keys";
  r.body = std::move(key->armored);
  return r;
}

Response public_key_delete(Call& call) {
  call.audit.action = "public_key.delete";
  call.audit.resource = call.resource_id;
  if (!is_uuid(call.resource_id)) return Response::error(400, "publicKeyId must be a UUID");
  auto st = call.ctx.backend.delete_public_key(call.account, call.resource_id);
  if (!st) return backend_error(st.error(), "Failed to delete the public key");
  return Response::json(200, {{"success", true}, {"message", "Public key deleted"}});
}

}  // namespace recvault::control::detail

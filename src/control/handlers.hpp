// Internal: the per-endpoint handlers the router dispatches to. Each gets an
// authenticated, authorized Call and fills in the audit record's action and
// resource; the router writes the record with the final status.
#pragma once

#include <string>
#include <string_view>

#include "recvault/control/api.hpp"

namespace recvault::control::detail {

struct Call {
  const Request& request;
  const ApiContext& ctx;
  const Principal& principal;
  std::string account;
  std::string resource_id;  // {publicKeyId} for /v3/security/public-keys/{id}
  AuditRecord& audit;
};

// Maps a backend error to a response: 400/404/409 keep the reason (backend
// contract: it never names a secret), anything else is a 500 with `generic`.
Response backend_error(const Error& error, std::string_view generic);

Response config_get(Call& call);
Response config_put(Call& call);

// The key lifecycle (handlers_lifecycle.cpp); 404 without ctx.lifecycle.
Response census_get(Call& call);
Response legal_hold_put(Call& call);
Response destruction_schedule(Call& call, DestructionScope scope);
Response destruction_cancel(Call& call);
Response reencrypt_start(Call& call);
Response reencrypt_cancel(Call& call);
Response jobs_get(Call& call);

Response public_keys_list(Call& call);
Response public_key_upload(Call& call);
Response public_key_get(Call& call);
Response public_key_delete(Call& call);

}  // namespace recvault::control::detail

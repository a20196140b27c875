// The config API's JSON: request parsing and the response shape of docs/API.md.
#include <algorithm>
#include <array>
#include <ctime>

#include <nlohmann/json.hpp>

#include "recvault/keystore/account_config.hpp"

namespace recvault::keystore {

namespace {

using json = nlohmann::json;

// Returned by the API for reference only; accepted in requests, never applied.
constexpr std::array<std::string_view, 4> kReadOnlyFields = {"key_version", "key_id", "historical_keys",
                                                             "historical_salts"};
constexpr std::array<std::string_view, 7> kWritableFields = {
    "enabled", "algorithm", "key", "salt", "public_key_id", "name_encryption", "min_decryption_version"};

template <class A>
bool contains(const A& a, std::string_view s) {
  for (auto x : a)
    if (x == s) return true;
  return false;
}

Error bad(std::string message) { return make_error(Errc::invalid_argument, std::move(message)); }

std::string rfc3339(Timestamp t) {
  std::time_t tt = static_cast<std::time_t>(t.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 32> buf{};
  std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf.data(), n);
}

}  // namespace

Result<UpdateRequest> parse_update_request(const json& body) {
  if (!body.is_object()) return bad("request body must be a JSON object");
  UpdateRequest r;
  for (const auto& [name, value] : body.items()) {
    if (contains(kReadOnlyFields, name)) {
      r.ignored_fields.push_back(name);
      continue;
    }
    if (!contains(kWritableFields, name))
      return bad("unknown field \"" + name.substr(0, 64) +
                 "\" (accepted: enabled, algorithm, key, salt, public_key_id, name_encryption, "
                 "min_decryption_version)");
  }
  auto enabled = body.find("enabled");
  if (enabled == body.end()) return bad("field \"enabled\" is required");
  if (!enabled->is_boolean()) return bad("field \"enabled\" must be a boolean (true or false)");
  r.enabled = enabled->get<bool>();

  if (auto a = body.find("algorithm"); a != body.end() && !a->is_null()) {
    if (!a->is_string()) return bad("field \"algorithm\" must be a string");
    auto alg = format::parse_algorithm(a->get_ref<const std::string&>());
    if (!alg) return bad("field \"algorithm\" must be \"AES-256-GCM\" or \"AES-256-CBC\"");
    r.algorithm = *alg;
  }
  if (auto k = body.find("key"); k != body.end() && !k->is_null()) {
    if (!k->is_string()) return bad("field \"key\" must be a string");
    const std::string& text = k->get_ref<const std::string&>();
    RV_TRY(validate_key(text));
    r.key = crypto::SecretBytes::from_view(text);
  }
  if (auto s = body.find("salt"); s != body.end() && !s->is_null()) {
    if (!s->is_string()) return bad("field \"salt\" must be a string");
    const std::string& text = s->get_ref<const std::string&>();
    RV_TRY(validate_salt(text));
    r.salt = text;
  }
  if (auto p = body.find("public_key_id"); p != body.end() && !p->is_null()) {
    if (!p->is_string()) return bad("field \"public_key_id\" must be a string");
    const std::string& text = p->get_ref<const std::string&>();
    RV_TRY(validate_public_key_id(text));
    r.public_key_id = text;
  }
  if (auto n = body.find("name_encryption"); n != body.end() && !n->is_null()) {
    if (!n->is_boolean()) return bad("field \"name_encryption\" must be a boolean (true or false)");
    r.name_encryption = n->get<bool>();
  }
  if (auto m = body.find("min_decryption_version"); m != body.end() && !m->is_null()) {
    if (!m->is_number_unsigned() || m->get<std::uint64_t>() > UINT32_MAX)
      return bad("field \"min_decryption_version\" must be a positive integer");
    r.min_decryption_version = static_cast<std::uint32_t>(m->get<std::uint64_t>());
  }
  return r;
}

json to_json(const AccountConfig& c) {
  json hk = json::object();
  for (const auto& [v, k] : c.historical_keys) hk[std::to_string(v)] = std::string(k.view());
  json hs = json::object();
  for (const auto& [v, s] : c.historical_salts) hs[std::to_string(v)] = s;
  json out = {
      {"enabled", c.enabled},
      {"algorithm", std::string(format::algorithm_name(c.algorithm))},
      {"key_version", c.key_version},
      {"key_id", c.key_id},
      {"salt", c.salt},
      {"key", std::string(c.key.view())},
      {"historical_keys", std::move(hk)},
      {"historical_salts", std::move(hs)},
  };
  if (!c.public_key_id.empty()) out["public_key_id"] = c.public_key_id;
  if (c.name_encryption) out["name_encryption"] = true;
  // The key lifecycle's fields, only once used: an account that never used
  // them answers exactly the seed's object.
  if (c.min_decryption_version > 0) out["min_decryption_version"] = c.min_decryption_version;
  if (c.destroyed_through > 0) out["destroyed_versions"] = destroyed_json(c);
  if (c.legal_hold) out["legal_hold"] = true;
  if (c.destruction) out["scheduled_destruction"] = destruction_json(*c.destruction, c.destroyed_through + 1);
  if (c.key_version > 0 && !c.has_key_material()) {
    out["key"] = nullptr;  // every key of the account was destroyed
    out["salt"] = nullptr;
  }
  return out;
}

json destroyed_json(const AccountConfig& c) {
  json out = json::array();
  for (std::uint32_t v = 1; v <= c.destroyed_through; ++v) out.push_back(v);
  return out;
}

json destruction_json(const ScheduledDestruction& d, std::uint32_t from) {
  json versions = json::array();
  for (std::uint32_t v = std::max<std::uint32_t>(from, 1); v <= d.through; ++v) versions.push_back(v);
  return {{"scope", std::string(scope_name(d.scope))},
          {"versions", std::move(versions)},
          {"requested_at", rfc3339(d.requested_at)},
          {"execute_at", rfc3339(d.execute_at)},
          {"requested_by", d.requested_by}};
}

json to_json(const std::optional<AccountConfig>& config) { return config ? to_json(*config) : json::object(); }

json metadata_json(const AccountConfig& c) {
  json versions = json::object();
  for (const auto& [v, t] : c.activated_at) versions[std::to_string(v)] = rfc3339(t);
  return {
      {"created_at", rfc3339(c.created_at)},
      {"updated_at", rfc3339(c.updated_at)},
      {"activated_at", std::move(versions)},
      {"key_version", c.key_version},
      {"enabled", c.enabled},
      {"public_key_id", c.public_key_id},
      {"name_encryption", c.name_encryption},
  };
}

}  // namespace recvault::keystore

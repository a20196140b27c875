// An in-memory Backend for router tests and the fuzz target. Deliberately
// simple: it checks the router, not the keystore's rules (the server tests run
// on the real keystore for those).
#pragma once

#include <cctype>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "recvault/control/backend.hpp"

namespace recvault::control::testing {

class MemoryBackend final : public Backend {
 public:
  bool fail_updates = false;

  Status validate_account_id(std::string_view account) const override {
    if (account.empty() || account.size() > 64 || account.front() == '.')
      return make_error(Errc::invalid_argument, "bad account id");
    for (char c : account)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        return make_error(Errc::invalid_argument, "bad account id character");
    return {};
  }
  Result<nlohmann::json> get_config(std::string_view account) override {
    std::lock_guard lock(mu_);
    auto it = configs_.find(std::string(account));
    return it == configs_.end() ? nlohmann::json::object() : it->second;
  }
  Result<nlohmann::json> update_config(std::string_view account, const nlohmann::json& request) override {
    if (fail_updates) return make_error(Errc::io, "disk on fire");
    if (!request.contains("enabled") || !request["enabled"].is_boolean())
      return make_error(Errc::invalid_argument, "enabled is required and must be a boolean");
    std::lock_guard lock(mu_);
    auto& c = configs_[std::string(account)];
    c["enabled"] = request["enabled"];
    return c;
  }
  Result<std::string> add_public_key(std::string_view account, std::string_view armored,
                                     std::string_view fingerprint) override {
    std::lock_guard lock(mu_);
    char id[40];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", ++next_);
    keys_[id] = {std::string(account), PublicKeyRecord{id, std::string(fingerprint), std::string(armored)}};
    return std::string(id);
  }
  Result<std::vector<std::string>> list_public_keys(std::string_view account) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> ids;
    for (const auto& [id, entry] : keys_)
      if (entry.first == account) ids.push_back(id);
    return ids;
  }
  Result<PublicKeyRecord> get_public_key(std::string_view account, std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(id));
    if (it == keys_.end() || it->second.first != account) return make_error(Errc::not_found, "Public key not found");
    return it->second.second;
  }
  Status delete_public_key(std::string_view account, std::string_view id) override {
    std::lock_guard lock(mu_);
    auto it = keys_.find(std::string(id));
    if (it == keys_.end() || it->second.first != account) return make_error(Errc::not_found, "Public key not found");
    keys_.erase(it);
    return {};
  }

 private:
  std::mutex mu_;
  std::map<std::string, nlohmann::json> configs_;
  std::map<std::string, std::pair<std::string, PublicKeyRecord>> keys_;
  int next_ = 0;
};

}  // namespace recvault::control::testing

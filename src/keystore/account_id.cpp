#include "recvault/keystore/account_id.hpp"

#include <string>

namespace recvault::keystore {

namespace {
bool allowed(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}
}  // namespace

Status validate_account_id(std::string_view account) {
  if (account.empty()) return make_error(Errc::invalid_argument, "account id is empty");
  if (account.size() > kMaxAccountIdLength)
    return make_error(Errc::invalid_argument,
                      "account id is longer than " + std::to_string(kMaxAccountIdLength) + " characters");
  if (account.front() == '.') return make_error(Errc::invalid_argument, "account id must not start with '.'");
  for (std::size_t i = 0; i < account.size(); ++i) {
    if (!allowed(account[i]))
      return make_error(Errc::invalid_argument,
                        "account id has a character outside [A-Za-z0-9._-] at position " + std::to_string(i + 1));
  }
  return {};
}

}  // namespace recvault::keystore

// Account identifiers: the one validation shared by the keystore, the daemon
// (backing-directory names) and the control API (the X-Account-ID header).
#pragma once

#include <string_view>

#include "recvault/util/result.hpp"

namespace recvault::keystore {

inline constexpr std::size_t kMaxAccountIdLength = 64;

// Accepts 1..64 characters from [A-Za-z0-9._-], not starting with '.', so
// "." and ".." and hidden names are refused and an id is always a safe single
// path component. Errc::invalid_argument with a human reason otherwise; the
// reason never echoes more than the offending character's position.
Status validate_account_id(std::string_view account);

}  // namespace recvault::keystore

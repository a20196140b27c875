// RFC 4122 UUIDs for public key ids.
#pragma once

#include <string>
#include <string_view>

#include "recvault/util/result.hpp"

namespace recvault::keystore {

// A random (version 4, variant 10) UUID from the CSPRNG, lowercase
// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
Result<std::string> generate_uuid_v4();

// True for the 8-4-4-4-12 hex syntax (any version, either case).
bool is_uuid(std::string_view text) noexcept;

}  // namespace recvault::keystore

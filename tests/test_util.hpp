// Small helpers shared by the test binaries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "recvault/util/encoding.hpp"

namespace recvault::test {

inline std::vector<std::uint8_t> unhex(std::string_view h) { return hex_decode(h).value(); }
inline std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

}  // namespace recvault::test

// Text encodings used by the config API and the format's metadata.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace recvault {

std::string base64_encode(std::span<const std::uint8_t> data);
// nullopt when `text` is not canonical padded base64.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

// RFC 4648 §5 base64url without padding ('-' and '_' for '+' and '/'): safe
// in a file name. Decoding accepts only the canonical form (unused trailing
// bits zero, no padding), so one byte string has exactly one encoding.
std::string base64url_encode(std::span<const std::uint8_t> data);
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

std::string hex_encode(std::span<const std::uint8_t> data);
std::optional<std::vector<std::uint8_t>> hex_decode(std::string_view text);

}  // namespace recvault

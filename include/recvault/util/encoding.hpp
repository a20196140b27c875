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

std::string hex_encode(std::span<const std::uint8_t> data);
std::optional<std::vector<std::uint8_t>> hex_decode(std::string_view text);

}  // namespace recvault

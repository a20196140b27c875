// Helpers for the keystore tests: temp dirs that clean up, a fixed clock,
// quick master keys and requests.
#pragma once

#include "../test_util.hpp"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "recvault/keystore/account_config.hpp"
#include "recvault/keystore/master_key.hpp"

namespace recvault::keystore::test {

using TempDir = ::recvault::test::TempDir;  // tests/test_util.hpp

inline MasterKey test_master(std::uint8_t fill = 0x42) {
  crypto::SecretBytes b(MasterKey::kSize);
  for (std::size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<std::uint8_t>(fill + i);
  return MasterKey::from_bytes(std::move(b)).value();
}

inline Clock fixed_clock(std::int64_t seconds = 1'760'000'000) {
  return [seconds] { return Timestamp(std::chrono::seconds(seconds)); };
}

inline UpdateRequest req(bool enabled, std::optional<std::string> key = std::nullopt,
                         std::optional<std::string> salt = std::nullopt) {
  UpdateRequest r;
  r.enabled = enabled;
  if (key) r.key = crypto::SecretBytes::from_view(*key);
  r.salt = std::move(salt);
  return r;
}

inline constexpr const char* kKey1 = "your_encryption_key_here_at_least_32_characters";
inline constexpr const char* kKey2 = "new_encryption_key_plain_text_at_least_32_characters_long";
inline constexpr const char* kKey3 = "production_encryption_key_value_at_least_32_characters";

}  // namespace recvault::keystore::test

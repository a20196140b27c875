// The fixed key of the format fuzz target and its seed generator, and the
// plaintext every seed file holds: any byte the reader returns must equal
// pattern_byte(offset), or be a zero of a hole (the seeds have holes in
// chunks 4 and up only), because a mutated file cannot authenticate new
// content.
#pragma once

#include <cstdint>
#include <memory>

#include "recvault/format/keys.hpp"

namespace recvault::fuzz {

inline format::VersionKeyPtr fuzz_key() {
  static const format::VersionKeyPtr key = [] {
    crypto::ScryptParams p;
    p.log2_n = 10;  // cheap: derived once per process anyway
    return std::make_shared<const format::VersionKey>(
        format::VersionKey::derive("fuzz-key-0123456789abcdef0123456789", "fuzz-salt", p).value());
  }();
  return key;
}

inline format::KeySpec fuzz_spec(format::Algorithm alg) {
  format::KeySpec s;
  s.algorithm = alg;
  s.key_version = 1;
  s.key_id = "key_fuzz";
  s.salt = "fuzz-salt";
  s.key = fuzz_key();
  return s;
}

inline std::uint8_t pattern_byte(std::uint64_t offset) {
  return static_cast<std::uint8_t>((offset * 2654435761u) >> 13);
}

}  // namespace recvault::fuzz

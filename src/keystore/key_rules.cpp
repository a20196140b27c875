// Validation of user-supplied keys, salts and public key ids. Messages name
// the rule that failed and never contain the value (it may be key material).
#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "recvault/keystore/account_config.hpp"
#include "recvault/keystore/uuid.hpp"

namespace recvault::keystore {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Exact (case-insensitive) values known as defaults or placeholders.
constexpr std::array<std::string_view, 14> kWeakExact = {
    "default_encrypted_key",
    "default",
    "test",
    "default_key",
    "test_key",
    "testkey",
    "secret",
    "changeme",
    "password",
    "encryption_key",
    "your_encryption_key",
    "key",
    "admin",
    "0123456789abcdef0123456789abcdef",
};
// Substrings (case-insensitive) that make any key weak however long it is.
constexpr std::array<std::string_view, 5> kWeakSubstrings = {
    "default_encrypted_key", "password", "passwd", "changeme", "qwerty",
};
// Prefixes (case-insensitive): padded variants of defaults ("default....", "test....").
constexpr std::array<std::string_view, 3> kWeakPrefixes = {"default", "test", "12345678"};
// Fewer distinct characters than this is weak (catches "aaaa…", "abab…",
// "0101…"); a random 64-hex key has all 16 with overwhelming probability.
constexpr std::size_t kMinDistinctChars = 6;

bool periodic(std::string_view s, std::size_t max_period) {
  for (std::size_t p = 1; p <= max_period && p < s.size(); ++p) {
    bool all = true;
    for (std::size_t i = p; i < s.size() && all; ++i) all = s[i] == s[i - p];
    if (all) return true;
  }
  return false;
}

}  // namespace

Status validate_key(std::string_view key) {
  std::string l = lower(key);
  bool weak = std::find(kWeakExact.begin(), kWeakExact.end(), l) != kWeakExact.end();
  for (auto s : kWeakSubstrings) weak = weak || l.find(s) != std::string::npos;
  for (auto p : kWeakPrefixes) weak = weak || l.starts_with(p);
  std::array<bool, 256> seen{};
  std::size_t distinct = 0;
  for (unsigned char c : key) {
    if (!seen[c]) ++distinct;
    seen[c] = true;
  }
  weak = weak || (!key.empty() && distinct < kMinDistinctChars) || periodic(l, 16);
  crypto::secure_wipe(l.data(), l.size());
  if (weak)
    return make_error(Errc::invalid_argument,
                      "key is a known insecure value or too weak; use a random key of at least 32 characters");
  if (key.size() < kMinKeyLength) return make_error(Errc::invalid_argument, "key must be at least 32 characters long");
  if (key.size() > kMaxKeyLength) return make_error(Errc::invalid_argument, "key must be at most 1024 characters long");
  if (key.find('\0') != std::string_view::npos)
    return make_error(Errc::invalid_argument, "key must not contain NUL characters");
  return {};
}

Status validate_salt(std::string_view salt) {
  if (salt.empty()) return make_error(Errc::invalid_argument, "salt must not be empty");
  if (lower(salt) == "default_salt")
    return make_error(Errc::invalid_argument, "salt \"default_salt\" is an insecure default and is rejected");
  if (salt.size() > kMaxSaltLength) return make_error(Errc::invalid_argument, "salt must be at most 255 bytes long");
  if (salt.find('\0') != std::string_view::npos)
    return make_error(Errc::invalid_argument, "salt must not contain NUL characters");
  return {};
}

Status validate_public_key_id(std::string_view id) {
  if (id.empty() || is_uuid(id)) return {};
  return make_error(Errc::invalid_argument, "public_key_id must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
}

std::string auto_key_id(std::string_view account) {
  return "key_auto_" + std::string(account.substr(0, kKeyIdPrefixLength));
}

}  // namespace recvault::keystore

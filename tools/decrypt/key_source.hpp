// Where the tools get account keys from: --key, --key-file or a --config
// export of the account's encryption config, exactly as the config API
// returns it. Keys and salts are the API's text, used as-is (no decoding).
//
// Key text lives in SecretBytes (wiped when freed). Strings parsed out of a
// JSON export are wiped in place after copying; nlohmann's lexer may still
// leave transient copies on the heap, which is the best this can do.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "recvault/crypto/secret.hpp"
#include "recvault/format/keys.hpp"

namespace recvault::tools {

// Reads a key file ("-" = standard input). One trailing "\n" (or "\r\n") is
// removed, since editors and `echo` add it; API keys never end in a newline.
Result<crypto::SecretBytes> read_key_file(const std::string& path);

struct VersionEntry {
  crypto::SecretBytes key;
  std::optional<std::string> salt;
};

// The key and salt of every version in an account-config export:
// {"key_version":N,"key":..,"salt":..,"historical_keys":{"1":..},
//  "historical_salts":{"1":..}, ...}, optionally wrapped as
// {"success":true,"config":{...}}.
class KeyConfig {
 public:
  static Result<KeyConfig> parse(const crypto::SecretBytes& text);
  static Result<KeyConfig> load(const std::string& path);
  const VersionEntry* find(std::uint32_t version) const;
  // "1, 2" — for messages.
  std::string versions() const;

 private:
  std::map<std::uint32_t, VersionEntry> versions_;
};

// Notes a resolver leaves for error messages (never key material).
struct ResolveNotes {
  std::string hint;  // e.g. why a wrong key might be a salt mix-up
};

// Hands out one key for every file; salt = `salt` if given, else the header's.
format::KeyResolver fixed_resolver(std::shared_ptr<const crypto::SecretBytes> key, std::optional<std::string> salt,
                                   std::shared_ptr<ResolveNotes> notes);
// Picks the key and salt of the header's key_version from `config`; `salt`
// overrides the config's; a version without a salt uses the header's.
format::KeyResolver config_resolver(std::shared_ptr<const KeyConfig> config, std::optional<std::string> salt,
                                    std::shared_ptr<ResolveNotes> notes);

}  // namespace recvault::tools

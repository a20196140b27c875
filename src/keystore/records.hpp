// How the keystore's records are laid out in LMDB (internal).
//
//   table "meta":        "schema_version" -> "1"
//                        "master_check"   -> sealed known text (detects a wrong master key)
//   table "accounts":    account id -> JSON {enabled, algorithm, key_version, key_id,
//                                            created_at, updated_at, public_key_id}
//   table "versions":    account id ‖ '\0' ‖ version (4 bytes, big-endian)
//                        -> JSON {salt (base64), key, activated_at[, derived]}
//                        key = base64(MasterKey::seal(base64(key text),
//                                     aad = "recvault-keystore/1 key\0<account>\0<version>"))
//                        derived (added on first use, Store::save_derived) =
//                          {kdf: [log2 N, r, p], key: base64(MasterKey::seal(32-byte version key,
//                           aad = "recvault-keystore/1 derived\0<account>\0<version>\0<log2 N>,<r>,<p>\0<salt>"))}
//   table "public_keys": UUID -> JSON {account, armored (base64 of the exact bytes),
//                                       fingerprint, created_at}
//
// Times are Unix seconds. Account ids never contain '\0', so an account's
// versions are exactly the keys with prefix "<account>\0", in version order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "recvault/keystore/account_config.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/public_key.hpp"

namespace recvault::keystore::records {

inline constexpr std::string_view kSchemaKey = "schema_version";
inline constexpr std::string_view kMasterCheckKey = "master_check";

std::string version_key(std::string_view account, std::uint32_t version);
std::string version_prefix(std::string_view account);
// The version number of a key made by version_key (0 if malformed).
std::uint32_t version_of(std::string_view key, std::string_view account);

// The account record (everything but key material).
std::string encode_account(const AccountConfig& c);
// Fills the non-key fields of `c`.
Status decode_account(std::string_view text, AccountConfig& c);

std::string master_check_text();  // the plaintext sealed as master_check
std::string master_check_aad();

Result<std::string> encode_version(const MasterKey& master, std::string_view account, const KeyVersion& v);
Result<KeyVersion> decode_version(const MasterKey& master, std::string_view account, std::uint32_t version,
                                  std::string_view text);

// `text` (a version record) with its derived key set to `derived`.
Result<std::string> with_derived(const MasterKey& master, std::string_view account, std::uint32_t version,
                                 std::string_view text, const crypto::SecretBytes& derived, crypto::ScryptParams kdf);

std::string encode_public_key(const PublicKeyRecord& r);
Result<PublicKeyRecord> decode_public_key(std::string_view id, std::string_view text);

}  // namespace recvault::keystore::records

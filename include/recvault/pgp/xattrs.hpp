// Extended attributes of OpenPGP-sealed recordings and of directories that
// choose a key (docs/OPENPGP.md).
#pragma once

namespace recvault::pgp::xattr {

// On a file: "pgp" once sealed (user.recvault.format).
inline constexpr const char* pgp_format = "pgp";
// On a file: the publicKeyId it is sealed to. On a directory: the override
// that new recordings below it are sealed to (set by an admin).
inline constexpr const char* public_key_id = "user.recvault.public_key_id";
// On a file: the fingerprint of the primary key it is sealed to.
inline constexpr const char* fingerprint = "user.recvault.fingerprint";
// On a file: "1" while the OpenPGP message is being written; removed when it
// is complete. A file that keeps it after the daemon stopped is truncated.
inline constexpr const char* sealing = "user.recvault.sealing";

}  // namespace recvault::pgp::xattr

// Where a new recording goes (docs/OPENPGP.md "Directory keys"): encrypted
// with the account's key, or sealed to a client OpenPGP key that the account
// or the nearest directory override (user.recvault.public_key_id on a
// directory) names.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "recvault/pgp/sealer.hpp"
#include "recvault/util/result.hpp"

namespace recvault::fuse {

// Where a new recording is created: what may seal it to an OpenPGP key, and
// the key its directory chooses ("" = none; it takes precedence over the
// account's public_key_id).
struct Placement {
  pgp::Sealer* sealer = nullptr;
  std::string dir_public_key_id;
  // An account without any configuration gets no unencrypted recordings:
  // creating one fails (Errc::not_permitted) instead.
  bool refuse_unconfigured = false;
};

// Decides whether a directory may take an OpenPGP key override, and keeps
// the decision and the change together. The daemon implements it
// (daemon/pgp_backend.hpp): it also deletes public keys, and a key must not
// be deleted between "no directory uses it" and the deletion, nor named by
// a directory between the check that it may be and the setxattr.
class DirectoryKeyPolicy {
 public:
  virtual ~DirectoryKeyPolicy() = default;
  // A directory of `account` is to take `public_key_id` ("" removes the
  // override). Runs `apply` with the id to store (normalised) when allowed,
  // under whatever keeps deletions out; otherwise returns the refusal:
  // Errc::invalid_argument (not this account's key, or gpg cannot encrypt
  // to it) or Errc::unsupported (no OpenPGP sealing configured).
  virtual Status change_directory_key(const std::string& account, std::string_view public_key_id,
                                      const std::function<Status(std::string_view id)>& apply) = 0;
};

}  // namespace recvault::fuse

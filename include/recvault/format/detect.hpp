// What a backing file holds, decided the same way by the daemon and by every
// offline tool (docs/FORMAT.md §8).
//
// The bytes decide before the xattrs: a file that starts with the format's
// magic is encrypted, whatever its user.recvault.format xattr says, and any
// disagreement is then an error from EncryptedFile::open (the xattrs are
// checked against the authenticated header). So an xattr written by someone
// with access to the backing disk can never turn encryption off: it can only
// make a recording unreadable, which is reported.
#pragma once

#include <string>

#include "recvault/util/result.hpp"

namespace recvault::format {

struct Detected {
  enum class Kind {
    plain,      // no magic; the format xattr says "plain", or there is none
    encrypted,  // starts with the magic (the header is checked on open)
    marked,     // no magic; the format xattr names another layer's format
  };
  Kind kind = Kind::plain;
  std::string marker;  // the format xattr's value when kind == marked (e.g. "pgp")
};

// Reads the first bytes of `fd` and its format xattr.
//   Errc::tampered  the xattrs mark an encrypted file but the header is gone
//                   (the content was replaced or zero-filled)
Result<Detected> detect(int fd);

}  // namespace recvault::format

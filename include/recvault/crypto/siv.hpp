// AES-SIV (RFC 5297): deterministic authenticated encryption, on OpenSSL 3's
// "AES-*-SIV" ciphers. Used for file and directory names (docs/FORMAT.md
// §12), where equal plaintexts must give equal ciphertexts so that a name can
// be looked up by encrypting it.
//
//   key:  32 bytes (AES-128-SIV), 48 (AES-192-SIV) or 64 (AES-256-SIV);
//         the first half is the S2V (CMAC) key, the second the CTR key.
//   ad:   the associated-data vector S1..Sn of RFC 5297 (at most 126
//         components); a nonce, when used, is its last component.
//   out:  the synthetic IV V (16 bytes) ‖ ciphertext (as long as the plaintext).
//
// Thread-safe (a context per call).
#pragma once

#include <initializer_list>
#include <vector>

#include "recvault/crypto/primitives.hpp"

namespace recvault::crypto {

inline constexpr std::size_t kSivTagSize = 16;

// V ‖ C. Errc::invalid_argument for a key of another size.
Result<std::vector<std::uint8_t>> siv_seal(Bytes key, std::initializer_list<Bytes> ad, Bytes plaintext);
// The plaintext of V ‖ C, into secret memory. Errc::tampered when V does not
// verify (or the input is shorter than V); nothing of the plaintext is then
// returned.
Result<SecretBytes> siv_open(Bytes key, std::initializer_list<Bytes> ad, Bytes sealed);

}  // namespace recvault::crypto

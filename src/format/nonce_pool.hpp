// Fresh random nonces and IVs for record writes, without one RAND_bytes call
// per record.
//
// OpenSSL 3.0's RAND_bytes costs ~3 µs per call whatever the length (DRBG
// locking and reseed checks), about as much as encrypting 12 KiB with
// AES-GCM. Nonces and IVs are public values, so they are served from a
// per-thread buffer of CSPRNG output refilled 4 KiB at a time. Each byte is
// handed out once. Fork-safe: a child process never reuses bytes its parent
// already held (a pthread_atfork handler invalidates every buffer).
#pragma once

#include <cstdint>
#include <span>

#include "recvault/util/result.hpp"

namespace recvault::format::detail {

// Fills `out` (at most 4 KiB) with CSPRNG bytes never handed out before.
Status fresh_nonce(std::span<std::uint8_t> out);

}  // namespace recvault::format::detail

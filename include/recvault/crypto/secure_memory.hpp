// Memory for key material: pages locked in RAM (mlock: never written to
// swap) and excluded from core dumps (madvise MADV_DONTDUMP).
//
// Small blocks (up to 2 KiB) come from a pool: per size class, 16 KiB
// regions of such pages carved into blocks, recycled through a free list and
// never returned to the system (key material is small and its peak bounded:
// version keys, file keys, key texts). Larger blocks get their own mapping,
// unmapped when freed. Every block is wiped before it is reused or unmapped.
//
// If mlock fails (RLIMIT_MEMLOCK, no CAP_IPC_LOCK) the pages are still
// excluded from core dumps and still wiped; one warning is logged per process
// and secure_memory_stats() reports it. madvise failing is the same.
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstddef>

namespace recvault::crypto {

// Throws std::bad_alloc when no memory can be mapped. n == 0 gives a valid
// non-null block of the smallest class.
void* secure_allocate(std::size_t n);
// Wipes the n bytes at p, then recycles (small) or unmaps (large) the block.
// p must come from secure_allocate(n) with the same n; nullptr is ignored.
void secure_deallocate(void* p, std::size_t n) noexcept;

struct SecureMemoryStats {
  std::size_t mapped_bytes = 0;   // currently mapped for secrets
  std::size_t locked_bytes = 0;   // of which mlock()ed
  std::size_t lock_failures = 0;  // mappings mlock refused
  std::size_t dontdump_failures = 0;
};
SecureMemoryStats secure_memory_stats() noexcept;

}  // namespace recvault::crypto

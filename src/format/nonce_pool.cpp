#include "nonce_pool.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstring>

#include "recvault/crypto/primitives.hpp"

namespace recvault::format::detail {
namespace {

// Bumped in the child after fork(). The only process-wide state here: it
// must reach every thread's buffer, and fork() gives no other hook.
std::atomic<std::uint64_t> fork_generation{0};
void after_fork_in_child() noexcept { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct Pool {
  std::array<std::uint8_t, 4096> bytes{};
  std::size_t used = bytes.size();  // empty until first use
  std::uint64_t generation = 0;
};

}  // namespace

Status fresh_nonce(std::span<std::uint8_t> out) {
  static const bool registered = ::pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0;
  thread_local Pool pool;
  if (!registered || out.size() > pool.bytes.size()) return crypto::random_bytes(out);
  const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (pool.generation != generation || pool.bytes.size() - pool.used < out.size()) {
    pool.used = pool.bytes.size();
    RV_TRY(crypto::random_bytes(pool.bytes));
    pool.used = 0;
    pool.generation = generation;
  }
  std::memcpy(out.data(), pool.bytes.data() + pool.used, out.size());
  pool.used += out.size();
  return {};
}

}  // namespace recvault::format::detail

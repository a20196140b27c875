#include "recvault/crypto/secure_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "recvault/crypto/secret.hpp"
#include "recvault/util/log.hpp"

namespace recvault::crypto {
namespace {

constexpr std::size_t kMinBlock = 16;
constexpr std::size_t kMaxSmall = 2048;
constexpr std::size_t kClasses = 8;  // 16, 32, ..., 2048
constexpr std::size_t kRegionBytes = 16 * 1024;

struct FreeBlock {
  FreeBlock* next;
};

std::size_t page_size() {
  static const std::size_t size = [] {
    long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
  }();
  return size;
}

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

std::size_t class_of(std::size_t n) {
  std::size_t c = 0;
  for (std::size_t size = kMinBlock; size < n; size <<= 1) ++c;
  return c;
}

class Pool {
 public:
  void* allocate(std::size_t n) {
    if (n > kMaxSmall) return map(round_up(n, page_size()));
    const std::size_t c = class_of(n);
    std::lock_guard lock(mu_);
    if (free_[c] == nullptr) refill(c);
    FreeBlock* b = free_[c];
    free_[c] = b->next;
    b->next = nullptr;
    return b;
  }

  void deallocate(void* p, std::size_t n) noexcept {
    if (p == nullptr) return;
    if (n > kMaxSmall) {
      const std::size_t len = round_up(n, page_size());
      secure_wipe(p, len);
      unmap(p, len);
      return;
    }
    const std::size_t c = class_of(n);
    secure_wipe(p, kMinBlock << c);
    std::lock_guard lock(mu_);
    auto* b = static_cast<FreeBlock*>(p);
    b->next = free_[c];
    free_[c] = b;
  }

  SecureMemoryStats stats() noexcept {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  // Caller holds mu_ for small regions; large mappings take it only to count.
  void refill(std::size_t c) {
    auto* region = static_cast<std::uint8_t*>(map_locked_held(kRegionBytes));
    const std::size_t block = kMinBlock << c;
    for (std::size_t off = 0; off + block <= kRegionBytes; off += block) {
      auto* b = reinterpret_cast<FreeBlock*>(region + off);
      b->next = free_[c];
      free_[c] = b;
    }
  }

  void* map(std::size_t len) {
    std::lock_guard lock(mu_);
    return map_locked_held(len);
  }

  void* map_locked_held(std::size_t len) {
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    stats_.mapped_bytes += len;
    if (::madvise(p, len, MADV_DONTDUMP) != 0) {
      int err = errno;
      if (stats_.dontdump_failures++ == 0)
        log::warn("secure memory: madvise(MADV_DONTDUMP) failed (" + std::string(std::strerror(err)) +
                  "): key material may appear in core dumps");
    }
    if (::mlock(p, len) == 0) {
      stats_.locked_bytes += len;
    } else {
      int err = errno;
      if (stats_.lock_failures++ == 0)
        log::warn("secure memory: mlock failed (" + std::string(std::strerror(err)) +
                  "); key material is not locked in RAM and could be swapped out: raise RLIMIT_MEMLOCK "
                  "(systemd: LimitMEMLOCK=)");
    }
    return p;
  }

  void unmap(void* p, std::size_t len) noexcept {
    // munlock is implied by munmap; count what was locked.
    const bool locked = ::munlock(p, len) == 0;
    ::munmap(p, len);
    std::lock_guard lock(mu_);
    stats_.mapped_bytes -= len;
    if (locked && stats_.locked_bytes >= len) stats_.locked_bytes -= len;
  }

  std::mutex mu_;
  std::array<FreeBlock*, kClasses> free_{};
  SecureMemoryStats stats_;
};

Pool& pool() {
  // Never destroyed: SecretBytes in other static objects may be freed after
  // main returns.
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

void* secure_allocate(std::size_t n) { return pool().allocate(n == 0 ? 1 : n); }

void secure_deallocate(void* p, std::size_t n) noexcept { pool().deallocate(p, n == 0 ? 1 : n); }

SecureMemoryStats secure_memory_stats() noexcept { return pool().stats(); }

}  // namespace recvault::crypto

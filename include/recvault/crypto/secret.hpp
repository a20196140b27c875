// SecretBytes: a byte buffer for key material that wipes itself.
//
// Every buffer it ever allocates (including the old one on growth) comes from
// secure_memory.hpp: pages locked in RAM (no swap) and excluded from core
// dumps, wiped before they are freed or reused, so keys do not linger on the
// heap, in swap or in a core file. Copying is allowed but explicit in intent:
// prefer moving.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>
#include <vector>

#include "recvault/crypto/secure_memory.hpp"

namespace recvault::crypto {

void secure_wipe(void* p, std::size_t n) noexcept;

template <class T>
struct SecureAllocator {
  using value_type = T;
  SecureAllocator() noexcept = default;
  template <class U>
  SecureAllocator(const SecureAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(secure_allocate(n * sizeof(T)));
  }
  // Wipes, then returns the block to the locked pool.
  void deallocate(T* p, std::size_t n) noexcept { secure_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const SecureAllocator<U>&) const noexcept {
    return true;
  }
};

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t n) : bytes_(n, 0) {}
  SecretBytes(const std::uint8_t* p, std::size_t n) : bytes_(p, p + n) {}
  static SecretBytes from_view(std::string_view s) {
    return SecretBytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }

  std::uint8_t* data() noexcept { return bytes_.data(); }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  std::span<const std::uint8_t> span() const noexcept { return {bytes_.data(), bytes_.size()}; }
  std::span<std::uint8_t> mutable_span() noexcept { return {bytes_.data(), bytes_.size()}; }
  // The bytes as text (keys in the config API are text).
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }
  void resize(std::size_t n) { bytes_.resize(n, 0); }
  void append(std::span<const std::uint8_t> more) { bytes_.insert(bytes_.end(), more.begin(), more.end()); }
  // A sub-range copied into a new secret.
  SecretBytes slice(std::size_t offset, std::size_t n) const { return SecretBytes(bytes_.data() + offset, n); }
  void clear() noexcept {
    secure_wipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }
  // Constant-time comparison.
  bool equals(const SecretBytes& other) const noexcept;

 private:
  std::vector<std::uint8_t, SecureAllocator<std::uint8_t>> bytes_;
};

// Constant-time equality of two byte ranges (false when lengths differ).
bool equal_ct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

}  // namespace recvault::crypto

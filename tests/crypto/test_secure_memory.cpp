// Key material lives in locked (lo), dont-dump (dd) pages, wiped when freed;
// when mlock is not allowed the pages are still dont-dump and one warning is
// logged.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "recvault/crypto/secret.hpp"
#include "recvault/crypto/secure_memory.hpp"
#include "recvault/format/keys.hpp"

using namespace recvault;

namespace {

// The VmFlags of the mapping holding `p`, from /proc/self/smaps ("" if none).
std::string vmflags_of(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream in("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-') {
      inside = start <= addr && addr < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

// AddressSanitizer intercepts mlock() and ignores it (it says so on stderr):
// under ASan pages are never locked and mlock never fails.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

bool has_flag(const std::string& flags, const std::string& flag) {
  return flags.find(" " + flag + " ") != std::string::npos;
}

}  // namespace

TEST_CASE("SecretBytes sit in dont-dump pages, locked when mlock is allowed", "[secure_memory]") {
  auto key = crypto::SecretBytes::from_view("a-distinctive-key-text-0123456789-for-smaps");
  const bool locking = !kAsan && crypto::secure_memory_stats().lock_failures == 0;
  for (const crypto::SecretBytes* s : {&key}) {
    auto flags = vmflags_of(s->data());
    INFO(flags);
    CHECK(has_flag(flags, "dd"));
    if (locking) CHECK(has_flag(flags, "lo"));
  }
  // Large buffers get their own mapping, with the same flags.
  crypto::SecretBytes big(64 * 1024);
  auto flags = vmflags_of(big.data() + big.size() - 1);
  INFO(flags);
  CHECK(has_flag(flags, "dd"));
  if (locking) CHECK(has_flag(flags, "lo"));
  // Derived keys (the key cache's VersionKey, per-file keys) are SecretBytes too.
  auto vk =
      format::VersionKey::derive("the-key-text-of-at-least-32-characters", "salt", crypto::ScryptParams{10, 8, 1});
  REQUIRE(vk);
  flags = vmflags_of(vk->bytes().data());
  INFO(flags);
  CHECK(has_flag(flags, "dd"));
  if (locking) CHECK(has_flag(flags, "lo"));
  // We run the tests as root (CAP_IPC_LOCK): locking must have worked here.
  if (::geteuid() == 0 && !kAsan) CHECK(locking);
  auto stats = crypto::secure_memory_stats();
  CHECK(stats.mapped_bytes >= 64 * 1024);
  CHECK(stats.dontdump_failures == 0);
}

TEST_CASE("secure blocks are wiped when freed, small and large", "[secure_memory]") {
  for (std::size_t n : {std::size_t{1}, std::size_t{31}, std::size_t{100}, std::size_t{2048}}) {
    INFO(n);
    auto* p = static_cast<unsigned char*>(crypto::secure_allocate(n));
    std::memset(p, 0xA5, n);
    crypto::secure_deallocate(p, n);
    // The block stays mapped in the pool: everything past the free-list link
    // must be zero.
    const volatile unsigned char* v = p;
    std::size_t nonzero = 0;
    for (std::size_t i = sizeof(void*); i < n; ++i) nonzero += v[i] != 0 ? 1 : 0;
    CHECK(nonzero == 0);
    // The next block of the same class is that one, and reusable.
    auto* again = static_cast<unsigned char*>(crypto::secure_allocate(n));
    CHECK(again == p);
    crypto::secure_deallocate(again, n);
  }
  // A large block is unmapped: its pages leave the process.
  auto before = crypto::secure_memory_stats().mapped_bytes;
  void* big = crypto::secure_allocate(100 * 1024);
  CHECK(crypto::secure_memory_stats().mapped_bytes >= before + 100 * 1024);
  crypto::secure_deallocate(big, 100 * 1024);
  CHECK(crypto::secure_memory_stats().mapped_bytes == before);
  CHECK(vmflags_of(big).empty());
}

TEST_CASE("without mlock rights: dont-dump pages and one warning", "[secure_memory]") {
  int err[2];
  REQUIRE(::pipe(err) == 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(err[1], 2);
    // No CAP_IPC_LOCK and no locked-memory allowance.
    rlimit zero{0, 0};
    ::setrlimit(RLIMIT_MEMLOCK, &zero);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    int rc = 0;
    for (int i = 0; i < 3; ++i) {
      crypto::SecretBytes s(8192 + static_cast<std::size_t>(i));  // a new mapping each time
      s.data()[0] = 1;
      auto flags = vmflags_of(s.data());
      if (!has_flag(flags, "dd")) rc = 11;
      if (has_flag(flags, "lo")) rc = 12;
    }
    if (!kAsan && crypto::secure_memory_stats().lock_failures < 3) rc = 13;
    ::_exit(rc);
  }
  ::close(err[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  INFO(text);
  std::size_t warnings = 0;
  for (auto pos = text.find("mlock failed"); pos != std::string::npos; pos = text.find("mlock failed", pos + 1))
    ++warnings;
  if (!kAsan) {
    CHECK(warnings == 1);
    CHECK(text.find("LimitMEMLOCK") != std::string::npos);
  }
}

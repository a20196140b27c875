// The nonce pool never hands out the same bytes twice: not across refills,
// not across threads, not in a forked child.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <set>
#include <thread>

#include "../../src/format/nonce_pool.hpp"

using recvault::format::detail::fresh_nonce;
using Nonce = std::array<std::uint8_t, 12>;

namespace {
Nonce draw() {
  Nonce n{};
  REQUIRE(fresh_nonce(n).ok());
  return n;
}
}  // namespace

TEST_CASE("nonces are distinct across many pool refills", "[nonce]") {
  std::set<Nonce> seen;
  for (int i = 0; i < 20000; ++i) seen.insert(draw());  // ~60 refills of 4 KiB
  CHECK(seen.size() == 20000);
  std::array<std::uint8_t, 16> iv{};  // mixed sizes share the pool
  REQUIRE(fresh_nonce(iv).ok());
  CHECK(iv != std::array<std::uint8_t, 16>{});
}

TEST_CASE("threads draw from separate pools with distinct nonces", "[nonce]") {
  std::vector<Nonce> a(3000), b(3000);
  std::thread t([&] {
    for (auto& n : b) fresh_nonce(n).ok();
  });
  for (auto& n : a) n = draw();
  t.join();
  std::set<Nonce> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  CHECK(all.size() == 6000);
}

TEST_CASE("a forked child does not reuse the parent's buffered nonces", "[nonce]") {
  draw();  // the pool now holds unused bytes
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Nonce n{};
    bool ok = fresh_nonce(n).ok();
    ssize_t w = ::write(fds[1], n.data(), n.size());
    ::_exit(ok && w == static_cast<ssize_t>(n.size()) ? 0 : 1);
  }
  const Nonce parent = draw();
  Nonce child{};
  REQUIRE(::read(fds[0], child.data(), child.size()) == static_cast<ssize_t>(child.size()));
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(child != parent);
}

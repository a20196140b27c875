// Crash durability: a child process rotates keys as fast as it can and reports
// each committed version through a pipe; we SIGKILL it at random moments,
// reopen, and require every reported version, with its key and salt.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "keystore_test_util.hpp"
#include "recvault/keystore/store.hpp"

using namespace recvault;
using namespace recvault::keystore;
using namespace recvault::keystore::test;

namespace {

constexpr int kRotationsPerChild = 1000;
constexpr int kKills = 10;

std::string key_for(std::uint32_t v) { return "rotation_key_for_version_" + std::to_string(v) + "_XyZq_padding"; }
std::string salt_for(std::uint32_t v) { return "salt-" + std::to_string(v); }

[[noreturn]] void child(const std::filesystem::path& dir, int report_fd) {
  auto store = Store::open(dir, test_master());
  if (!store) ::_exit(2);
  for (int i = 0; i < kRotationsPerChild; ++i) {
    auto cur = (*store)->get_config("acct");
    if (!cur) ::_exit(3);
    std::uint32_t next = cur->has_value() ? (*cur)->key_version + 1 : 1;
    auto r = (*store)->update_config("acct", req(true, key_for(next), salt_for(next)));
    if (!r || r->key_version != next) ::_exit(4);
    // Reported only after the commit returned.
    if (::write(report_fd, &next, sizeof next) != sizeof next) ::_exit(5);
  }
  ::_exit(0);
}

}  // namespace

TEST_CASE("SIGKILL during 1000 rotations never loses a committed version", "[durability]") {
  TempDir dir;
  std::mt19937 rng(std::random_device{}());
  std::set<std::uint32_t> reported;
  for (int round = 0; round < kKills; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      child(dir.path(), fds[1]);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 400)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) REQUIRE(WEXITSTATUS(status) == 0);  // finished before the kill: fine
    std::uint32_t v = 0;
    while (::read(fds[0], &v, sizeof v) == sizeof v) reported.insert(v);
    ::close(fds[0]);

    auto store = Store::open(dir.path(), test_master());
    INFO((store ? std::string() : store.error().message));
    REQUIRE(store);
    auto cfg = (*store)->get_config("acct");
    REQUIRE(cfg);
    if (reported.empty()) continue;
    REQUIRE(cfg->has_value());
    const AccountConfig& c = **cfg;
    CHECK(c.key_version >= *reported.rbegin());
    for (std::uint32_t n = 1; n <= c.key_version; ++n) {
      auto kv = (*store)->get_version("acct", n);
      REQUIRE(kv);
      CHECK(kv->key.view() == key_for(n));
      CHECK(kv->salt == salt_for(n));
    }
    CHECK((*store)->check().value().ok());
  }
  INFO("versions reported: " << reported.size());
  CHECK(!reported.empty());
}

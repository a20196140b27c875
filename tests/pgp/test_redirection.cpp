// OpenPGP recordings written the way shells and everyday tools write files:
// a redirection opens, dup2()s and closes the original descriptor before the
// first byte (that FLUSH is not the end of the recording); a subshell's
// commands write one after another through inherited descriptors; dd opens
// with O_TRUNC; a writer may truncate its own recording and start again.
// Each must give a message that gpg decrypts to exactly what was written.
#include <sys/wait.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "pgp_mount_util.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

int sh(const std::string& script) { return std::system(("bash -c '" + script + "' 2>/dev/null").c_str()); }

// Starts `d` with account "clinic" sealing every recording to `client`'s key.
void start_sealing_clinic(Daemon& d, const GpgHome& client) {
  d.start();
  d.configure("clinic", {{"enabled", true}, {"public_key_id", upload_key(d, "clinic", client.armored())}});
  REQUIRE(::mkdir((d.mnt() + "/clinic").c_str(), 0755) == 0);
}

}  // namespace

TEST_CASE("shell redirection, dd and subshells write OpenPGP recordings gpg decrypts", "[pgp][mount][redirection]") {
  auto& keys = ClientKeys::get();
  Daemon d;
  start_sealing_clinic(d, keys.ed);
  const std::string audio = d.dir().file("audio.raw");
  write_all(audio, pseudo_random(300000, 11));
  std::vector<std::uint8_t> twice = read_all(audio);
  twice.insert(twice.end(), twice.begin(), twice.end());
  const std::string m = d.mnt() + "/clinic/";

  struct Case {
    std::string name, script;
    const std::vector<std::uint8_t>* want;
  };
  const auto once = read_all(audio);
  const Case cases[] = {
      {"cat.wav", "cat " + audio + " > " + m + "cat.wav", &once},
      {"dd.wav", "dd if=" + audio + " of=" + m + "dd.wav bs=4096 status=none", &once},
      {"subshell.wav", "(cat " + audio + "; cat " + audio + ") > " + m + "subshell.wav", &twice},
      {"group.wav", "{ cat " + audio + "; cat " + audio + "; } > " + m + "group.wav", &twice},
      {"exec.wav", "exec 3> " + m + "exec.wav; cat " + audio + " >&3; cat " + audio + " >&3; exec 3>&-", &twice},
      {"append.wav", "cat " + audio + " >> " + m + "append.wav", &once},
  };
  for (const auto& c : cases) {
    INFO(c.name << ": " << c.script);
    CHECK(sh(c.script) == 0);
  }
  // Releases are asynchronous: the last close of a deferred message may
  // still be on its way when the shell returns.
  CHECK(d.stop() == 0);
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string out = d.dir().file("out-" + c.name);
    REQUIRE(keys.ed.decrypt(d.backing() + "/clinic/" + c.name, out) == 0);
    CHECK(read_all(out) == *c.want);
  }
}

TEST_CASE("a writer that truncates its own OpenPGP recording starts the message again", "[pgp][mount][redirection]") {
  auto& keys = ClientKeys::get();
  Daemon d;
  start_sealing_clinic(d, keys.ed);
  const std::string p = d.mnt() + "/clinic/again.wav";
  const auto first = pseudo_random(50000, 1), second = pseudo_random(70000, 2);
  int a = ::open(p.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(a >= 0);
  REQUIRE(::write(a, first.data(), first.size()) == static_cast<ssize_t>(first.size()));
  int b = ::open(p.c_str(), O_WRONLY | O_TRUNC);  // the same writer starts over
  REQUIRE(b >= 0);
  REQUIRE(::write(b, second.data(), second.size()) == static_cast<ssize_t>(second.size()));
  ::close(b);
  ::close(a);
  CHECK(d.stop() == 0);
  const std::string out = d.dir().file("out");
  REQUIRE(keys.ed.decrypt(d.backing() + "/clinic/again.wav", out) == 0);
  CHECK(read_all(out) == second);
}

namespace {

// Waits up to `limit` for child `pid`; false if it has not ended by then (a
// child stuck in exec(), waiting for the daemon's answer to its FLUSH).
bool ended_within(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST_CASE("a recorder that starts child processes while writing keeps one OpenPGP message",
          "[pgp][mount][redirection]") {
  // A child gets a copy of every descriptor: exec() closes the close-on-exec
  // ones and exit() the rest, each a FLUSH of the recording from another
  // process while its recorder writes on. Neither may finish the message,
  // and the daemon must answer the FLUSH of a process in the middle of
  // exec() without looking into it (that process holds locks which reading
  // its /proc entries needs until the FLUSH is answered).
  auto& keys = ClientKeys::get();
  Daemon d;
  start_sealing_clinic(d, keys.ed);
  const std::string p = d.mnt() + "/clinic/children.wav";
  const auto one = pseudo_random(40000, 3), two = pseudo_random(30000, 4), three = pseudo_random(20000, 5);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, one.data(), one.size()) == static_cast<ssize_t>(one.size()));
  const pid_t execs = ::fork();
  REQUIRE(execs >= 0);
  if (execs == 0) {
    ::execl("/bin/true", "true", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const bool exec_ended = ended_within(execs, std::chrono::seconds(60));
  if (!exec_ended) d.stop();  // answers the stuck FLUSH by ending the mount
  REQUIRE(exec_ended);
  REQUIRE(::write(fd, two.data(), two.size()) == static_cast<ssize_t>(two.size()));
  const pid_t exits = ::fork();
  REQUIRE(exits >= 0);
  if (exits == 0) ::_exit(0);
  REQUIRE(ended_within(exits, std::chrono::seconds(60)));
  REQUIRE(::write(fd, three.data(), three.size()) == static_cast<ssize_t>(three.size()));
  REQUIRE(::close(fd) == 0);
  CHECK(d.stop() == 0);
  std::vector<std::uint8_t> all = one;
  all.insert(all.end(), two.begin(), two.end());
  all.insert(all.end(), three.begin(), three.end());
  const std::string out = d.dir().file("out");
  REQUIRE(keys.ed.decrypt(d.backing() + "/clinic/children.wav", out) == 0);
  CHECK(read_all(out) == all);
}

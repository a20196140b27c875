// OpenPGP recordings written the way shells and everyday tools write files:
// a redirection opens, dup2()s and closes the original descriptor before the
// first byte (that FLUSH is not the end of the recording); a subshell's
// commands write one after another through inherited descriptors; dd opens
// with O_TRUNC; a writer may truncate its own recording and start again.
// Each must give a message that gpg decrypts to exactly what was written.
#include <catch2/catch.hpp>

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

// Real gpg for the OpenPGP tests: throwaway GNUPGHOMEs holding the client's
// private keys (never the daemon's), made once per test binary and removed,
// with their agents, at exit.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../test_util.hpp"

namespace recvault::test {

// Runs a shell command; returns its exit status (-1 if it did not exit).
inline int run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One GNUPGHOME with one client key pair.
class GpgHome {
 public:
  enum class Type { rsa2048, curve25519, sign_only, expired, expiring };

  GpgHome(Type type, const std::string& uid) : uid_(uid) {
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all);
    switch (type) {
      case Type::rsa2048:
        // "RSA and RSA", the seed's advice: a signing primary, an encryption subkey.
        must(g("--quick-gen-key '" + uid + "' rsa2048 sign 1y"));
        must(g("--quick-add-key " + fingerprint() + " rsa2048 encr 1y"));
        break;
      case Type::curve25519:
        must(g("--quick-gen-key '" + uid + "' ed25519 sign 1y"));
        must(g("--quick-add-key " + fingerprint() + " cv25519 encr 1y"));
        break;
      case Type::sign_only:
        must(g("--quick-gen-key '" + uid + "' ed25519 sign 1y"));
        break;
      case Type::expiring:  // valid now, its encryption subkey expires in 8 s
        must(g("--quick-gen-key '" + uid + "' ed25519 sign 1y"));
        must(g("--quick-add-key " + fingerprint() + " cv25519 encr seconds=8"));
        break;
      case Type::expired:
        must(g("--faked-system-time 20200101T000000 --quick-gen-key '" + uid + "' ed25519 sign 1d"));
        must(g("--faked-system-time 20200101T000000 --quick-add-key " + fingerprint() + " cv25519 encr 1d"));
        break;
    }
    must(g("--armor --export " + fingerprint() + " > " + dir_.file("public.asc")));
    armored_ = slurp(dir_.file("public.asc"));
    if (armored_.find("BEGIN PGP PUBLIC KEY BLOCK") == std::string::npos) throw std::runtime_error("export failed");
  }
  ~GpgHome() { run("gpgconf --homedir " + home() + " --kill all >/dev/null 2>&1"); }
  GpgHome(const GpgHome&) = delete;
  GpgHome& operator=(const GpgHome&) = delete;

  std::string home() const { return dir_.path().string(); }
  const std::string& armored() const { return armored_; }
  std::string fingerprint() const {
    std::string out = dir_.file("fpr");
    must(g("--with-colons --list-keys '=" + uid_ + "' | awk -F: '/^fpr/ {print $10; exit}' > " + out));
    std::string f = slurp(out);
    while (!f.empty() && (f.back() == '\n' || f.back() == '\r')) f.pop_back();
    return f;
  }
  // The current public key, armored.
  std::string export_public() const {
    must(g("--armor --export " + fingerprint() + " > " + dir_.file("export.asc")));
    return slurp(dir_.file("export.asc"));
  }
  // Long key ids of the encryption subkeys, oldest first.
  std::vector<std::string> encryption_subkeys() const {
    const std::string out = dir_.file("subkeys");
    must(g("--with-colons --list-keys " + fingerprint() + " | awk -F: '$1 == \"sub\" && $12 ~ /e/ {print $5}' > " +
           out));
    std::vector<std::string> ids;
    std::istringstream in(slurp(out));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) ids.push_back(line);
    return ids;
  }
  // A new cv25519 encryption subkey (one second later than the last, so gpg
  // orders them by creation time).
  void add_encryption_subkey() {
    run("sleep 1");
    must(g("--quick-add-key " + fingerprint() + " cv25519 encr 1y"));
  }
  // Revokes subkey number `n` (1 = the first subkey) with gpg --edit-key.
  void revoke_subkey(int n) {
    must(run("printf 'key " + std::to_string(n) + "\\nrevkey\\ny\\n0\\n\\ny\\nsave\\n' | " + gpg() +
             " --command-fd 0 --edit-key " + fingerprint() + " >/dev/null 2>&1"));
  }
  // Revokes the whole key with the revocation certificate gpg made for it.
  void revoke_key() {
    const std::string cert = home() + "/openpgp-revocs.d/" + fingerprint() + ".rev";
    must(run("sed 's/^:-----BEGIN/-----BEGIN/' " + cert + " | " + gpg() + " --import >/dev/null 2>&1"));
  }
  // gpg --decrypt `in` into `out`; the exit status (0 = decrypted).
  int decrypt(const std::string& in, const std::string& out) const {
    return g("--decrypt --output " + out + " " + in + " 2>/dev/null");
  }
  // The gpg command line (for streaming through popen).
  std::string gpg() const {
    return "gpg --homedir " + home() + " --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase ''";
  }

 private:
  int g(const std::string& args) const { return run(gpg() + " " + args); }
  static void must(int rc) {
    if (rc != 0) throw std::runtime_error("gpg failed with status " + std::to_string(rc));
  }

  TempDir dir_;
  std::string uid_;
  std::string armored_;
};

// The long key ids an OpenPGP message is encrypted to (its PKESK packets),
// read with gpg --list-packets in an empty home (no key can decrypt it there).
inline std::vector<std::string> recipient_keyids(const std::string& message) {
  TempDir empty;
  std::filesystem::permissions(empty.path(), std::filesystem::perms::owner_all);
  const std::string out = empty.file("packets");
  run("gpg --homedir " + empty.path().string() + " --batch --list-packets " + message + " > " + out + " 2>/dev/null");
  std::vector<std::string> ids;
  std::istringstream in(slurp(out));
  for (std::string line; std::getline(in, line);) {
    auto pos = line.find(":pubkey enc packet:");
    auto k = line.find("keyid ");
    if (pos != std::string::npos && k != std::string::npos) ids.push_back(line.substr(k + 6, 16));
  }
  run("gpgconf --homedir " + empty.path().string() + " --kill all >/dev/null 2>&1");
  return ids;
}

// The client keys shared by every test of the binary.
struct ClientKeys {
  GpgHome rsa{GpgHome::Type::rsa2048, "RSA Client <rsa@example.com>"};
  GpgHome ed{GpgHome::Type::curve25519, "Curve Client <cv@example.com>"};
  GpgHome other{GpgHome::Type::curve25519, "Someone Else <other@example.com>"};
  GpgHome sign_only{GpgHome::Type::sign_only, "Sign Only <sign@example.com>"};
  GpgHome expired{GpgHome::Type::expired, "Expired <expired@example.com>"};

  static ClientKeys& get() {
    static ClientKeys keys;
    return keys;
  }
};

}  // namespace recvault::test

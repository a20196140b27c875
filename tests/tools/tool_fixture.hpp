// Test accounts and helpers to make backing files with recvault-encrypt.
#pragma once

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "recvault/format/header.hpp"
#include "recvault/sys/fd.hpp"
#include "tool_runner.hpp"

namespace recvault::test {

struct Account {
  std::string key, salt;
  int version;
};
inline const Account kV1{"first_test_key_with_at_least_32_characters", "c2FsdC1vbmUtMTIzNDU2Nw==", 1};
inline const Account kV2{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "second_salt_value", 2};
inline const Account kV3{"third_key_that_the_config_does_not_hold_42", "third_salt_value", 3};

inline std::string write_text(const TempDir& d, const std::string& name, const std::string& text) {
  write_all(d.file(name), std::vector<std::uint8_t>(text.begin(), text.end()));
  return d.file(name);
}

// Encrypts `data` into d/name with recvault-encrypt; returns the path.
inline std::string encrypt(const TempDir& d, const std::string& name, const std::vector<std::uint8_t>& data,
                           const Account& a, const std::string& alg = "AES-256-GCM",
                           std::vector<std::string> extra = {}) {
  const std::string plain = d.file(name + ".in"), key = d.file(name + ".key"), out = d.file(name);
  write_all(plain, data);
  write_text(d, name + ".key", a.key);
  std::vector<std::string> argv{
      encrypt_tool(), "--key-file",         key,           "--salt", a.salt, "--key-version", std::to_string(a.version),
      "--key-id",     "key_auto_toolstest", "--algorithm", alg};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(plain);
  argv.push_back(out);
  auto r = run(argv);
  if (r.status != 0) throw std::runtime_error("recvault-encrypt failed: " + r.err);
  std::filesystem::remove(plain);
  std::filesystem::remove(key);
  return out;
}

inline std::uint64_t header_length(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return format::read_header(fd.get()).value().encoded_size();
}

inline std::vector<std::string> dir_entries(const TempDir& d) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(d.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Runs recvault-decrypt; checks that no test key text reached stdout or stderr.
inline void check_no_key(const RunResult& r) {
  for (const Account* a : {&kV1, &kV2, &kV3}) {
    CHECK(r.err.find(a->key) == std::string::npos);
    CHECK(r.out.find(a->key) == std::string::npos);
  }
}
inline RunResult decrypt(std::vector<std::string> args) {
  args.insert(args.begin(), decrypt_tool());
  auto r = run(args);
  check_no_key(r);
  return r;
}

}  // namespace recvault::test

// Helpers for the keystore tests: temp dirs that clean up, a fixed clock,
// quick master keys and requests, and open_test_store(), which opens the
// store on the engine the run asks for: LMDB in the directory, or with
// RECVAULT_TEST_ENGINE=etcd a prefix named after the directory in one etcd
// that this test process starts on loopback (tests tagged [lmdb] are about
// LMDB files and are left out of that run).
#pragma once

#include "../etcd_fixture.hpp"
#include "../test_util.hpp"

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include <memory>

#include "recvault/keystore/account_config.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/store.hpp"

namespace recvault::keystore::test {

using TempDir = ::recvault::test::TempDir;  // tests/test_util.hpp

inline MasterKey test_master(std::uint8_t fill = 0x42) {
  crypto::SecretBytes b(MasterKey::kSize);
  for (std::size_t i = 0; i < b.size(); ++i) b.data()[i] = static_cast<std::uint8_t>(fill + i);
  return MasterKey::from_bytes(std::move(b)).value();
}

inline bool testing_etcd() {
  const char* e = std::getenv("RECVAULT_TEST_ENGINE");
  return e != nullptr && std::string(e) == "etcd";
}

// The process's etcd, started on first use, killed at exit.
inline ::recvault::test::EtcdCluster& test_etcd() {
  static std::unique_ptr<::recvault::test::EtcdCluster> cluster = std::make_unique<::recvault::test::EtcdCluster>(1);
  return *cluster;
}

inline EtcdOptions etcd_options_for(const std::filesystem::path& dir) {
  EtcdOptions o;
  o.endpoints = test_etcd().endpoints();
  o.prefix = "/test/" + dir.filename().string() + "/" + dir.parent_path().filename().string() + "/";
  return o;
}

// Store::open(dir, ...) or, on the etcd run, Store::open_etcd for `dir`'s prefix.
inline Result<std::unique_ptr<Store>> open_test_store(const std::filesystem::path& dir, MasterKey master,
                                                      StoreOptions options = {}) {
  if (!testing_etcd()) return Store::open(dir, std::move(master), std::move(options));
  return Store::open_etcd(etcd_options_for(dir), std::move(master), std::move(options));
}

inline Clock fixed_clock(std::int64_t seconds = 1'760'000'000) {
  return [seconds] { return Timestamp(std::chrono::seconds(seconds)); };
}

inline UpdateRequest req(bool enabled, std::optional<std::string> key = std::nullopt,
                         std::optional<std::string> salt = std::nullopt) {
  UpdateRequest r;
  r.enabled = enabled;
  if (key) r.key = crypto::SecretBytes::from_view(*key);
  r.salt = std::move(salt);
  return r;
}

inline constexpr const char* kKey1 = "your_encryption_key_here_at_least_32_characters";
inline constexpr const char* kKey2 = "new_encryption_key_plain_text_at_least_32_characters_long";
inline constexpr const char* kKey3 = "production_encryption_key_value_at_least_32_characters";

}  // namespace recvault::keystore::test
